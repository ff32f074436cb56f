// Dataset reading (`ExampleReader`: plain text, GLUE TSV with a header, JSON Lines; the format given or guessed from
// the first line) on arbitrary bytes written to a scratch file, plus the other line readers of Workbench and
// Training: `Example.completedIDs` (a worker's restart scan of its JSON Lines output), `GLUEData.read`
// (fine-tuning's strict TSV reader), and with bit 3 of byte 0 the same bytes as a workspace directory's
// `added-examples.jsonl` and `predictions.jsonl` (`Workspace(directory:)`, the server's state) and a run
// directory's `metrics.jsonl` (`Workbench.trainingRun`, the server's /api/runs).
//
// Input: byte 0 picks the format (bits 0-1: guess, text, tsv, jsonl; bit 2: name the file .jsonl, which makes the
// guess JSON Lines); the rest is the file. The reader goes on after a refused line, as a streaming worker does.
// Checks: no crash; one-line errors; a line number that only grows; ids that are the row number unless given.
import FuzzSupport
import Foundation
import Training
import Workbench

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let mode = input.first else { return 0 }
    let formats: [DatasetFormat?] = [nil, .text, .tsv, .jsonl]
    let name = mode & 4 != 0 ? "data.jsonl" : "data.txt"
    Scratch.remove(mode & 4 != 0 ? "data.txt" : "data.jsonl")
    let path = Scratch.write(input.dropFirst(), to: name)
    do {
        var reader = try ExampleReader(path: path, format: formats[Int(mode & 3)])
        var lastLine = 0
        var failures = 0
        while failures < 1000 {
            do {
                guard let e = try reader.next() else { break }
                if reader.format == .text {
                    fuzzCheck(e.id == String(reader.lastRow), "example id \(e.id) on row \(reader.lastRow)")
                }
            } catch {
                checkMessage(error)
                failures += 1
            }
            fuzzCheck(reader.line >= lastLine, "line went back from \(lastLine) to \(reader.line)")
            lastLine = reader.line
        }
    } catch {
        checkMessage(error)
    }
    do { _ = try Example.completedIDs(in: path) } catch { checkMessage(error) }
    do { _ = try GLUEData.read(path, classes: 2 + Int(mode >> 4)) } catch { checkMessage(error) }
    if mode & 8 != 0 {
        let directory = Scratch.path("workspace")
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["added-examples.jsonl", "predictions.jsonl", "metrics.jsonl"] {
            Scratch.write(input.dropFirst(), to: "workspace/" + name)
        }
        do { _ = try Workbench.trainingRun(name: "run", directory: directory) } catch { checkMessage(error) }
        do {
            let ws = try Workspace(models: [:], datasets: ["sst2": []], directory: URL(fileURLWithPath: directory))
            _ = try ws.examples("sst2")
        } catch {
            checkMessage(error)
        }
    }
    return 0
}
