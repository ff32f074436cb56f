// Helpers of CrashSafetyTests: a `loupe` child process, the small run's data and options, checks of run files.
//
// The tests run the built `loupe` (as CLITests do) but live here because they compare checkpoints tensor by tensor,
// which needs Transformer (CLITests links only the executable). The model is the bert_tiny_cls fixture, the data
// 48 + 16 synthetic sentences, so one run takes about a second.
import Foundation
import Testing
import Training
import Transformer

/// The `loupe` executable beside this test binary (SwiftPM builds it for CLITests), else .build/release/loupe.
let loupeExecutable: URL = {
    let here = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for dir in [here, here.deletingLastPathComponent()] {
        let candidate = dir.appendingPathComponent("loupe")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/release/loupe")
}()

/// A running `loupe` whose stdout and stderr go to files (a pipe's unread bytes would be lost at a kill).
final class LoupeProcess {
    let process = Process()
    let stdout: URL, stderr: URL

    /// Starts `loupe arguments` with one thread; with `fileSizeLimit` (bytes), through /bin/sh with SIGXFSZ
    /// ignored and `ulimit -f`, so a write past the limit fails with EFBIG as on a full disk.
    init(_ arguments: [String], in dir: URL, fileSizeLimit: Int? = nil) throws {
        let tag = UUID().uuidString.prefix(8)
        stdout = dir.appendingPathComponent("stdout-\(tag).txt")
        stderr = dir.appendingPathComponent("stderr-\(tag).txt")
        FileManager.default.createFile(atPath: stdout.path, contents: nil)
        FileManager.default.createFile(atPath: stderr.path, contents: nil)
        if let limit = fileSizeLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments =
                ["-c", "trap '' XFSZ; ulimit -f \(limit / 512) || exit 99; exec \"$0\" \"$@\"", loupeExecutable.path]
                + arguments
        } else {
            process.executableURL = loupeExecutable
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["LOUPE_THREADS"] = "1"
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
    }

    var output: String { (try? String(contentsOf: stdout, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }

    /// Waits for the exit: (status, killed by a signal).
    func wait() -> (status: Int32, signalled: Bool) {
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    func kill() { _ = Foundation.kill(process.processIdentifier, SIGKILL) }
}

/// The data and options every run of these tests uses.
struct SmallRun {
    let dir: URL
    let train: URL, dev: URL

    init(_ dir: URL) {
        self.dir = dir
        train = dir.appendingPathComponent("train.tsv")
        dev = dir.appendingPathComponent("dev.tsv")
        func tsv(_ examples: [LabeledExample]) -> String {
            "sentence\tlabel\n" + examples.map { "\($0.text)\t\($0.label)\n" }.joined()
        }
        write(tsv(randomExamples(48, seed: 1)), to: train)
        write(tsv(randomExamples(16, seed: 2)), to: dev)
    }

    /// 2 epochs of 6 steps, evaluations at steps 4, 6, 8 and 12, last.h5 after every step, dropout on.
    func newRun(_ out: URL, epochs: Int = 2) -> [String] {
        [
            "finetune", "--model", fixturesDirectory.appendingPathComponent("bert_tiny_cls.h5").path,
            "--train", train.path, "--dev", dev.path, "--out", out.path, "--epochs", String(epochs),
            "--batch-size", "8", "--lr", "2e-3", "--eval-every", "4", "--save-every", "1", "--seed", "11",
            "--max-seq-len", "16", "--log-every", "1",
        ]
    }

    func resume(_ out: URL) -> [String] {
        ["finetune", "--resume", out.path, "--train", train.path, "--dev", dev.path]
    }
}

/// metrics.jsonl as rows of (step, accuracy, f1, loss, best); records an issue for a torn or unparsable line.
func metricsRows(_ run: URL) -> [[Double]] {
    guard let data = FileManager.default.contents(atPath: run.appendingPathComponent("metrics.jsonl").path) else {
        return []
    }
    #expect(data.isEmpty || data.last == UInt8(ascii: "\n"), "metrics.jsonl ends in a torn line")
    return data.split(separator: UInt8(ascii: "\n")).compactMap { line in
        guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let step = o["step"] as? Int, let accuracy = o["accuracy"] as? Double, let f1 = o["f1"] as? Double,
            let best = o["best"] as? Bool
        else {
            Issue.record("metrics.jsonl line is not a record: \(String(decoding: line, as: UTF8.self))")
            return nil
        }
        return [Double(step), accuracy, f1, (o["loss"] as? Double) ?? .nan, best ? 1 : 0]
    }
}

/// Whether two checkpoint files hold the same tensors, bit for bit (nil) or the first difference.
func tensorDifference(_ a: URL, _ b: URL) throws -> String? {
    let x = try Checkpoint.load(a), y = try Checkpoint.load(b)
    guard Set(x.tensors.keys) == Set(y.tensors.keys) else { return "different tensor names" }
    for (k, t) in x.tensors where !sameBits(t, y.tensors[k]!) { return "\(a.lastPathComponent) \(k) differs" }
    return nil
}

/// The step of the evaluation whose weights best.h5 holds (its `/training` `metrics`).
func bestStep(_ best: URL) throws -> Int? {
    guard let json = try HDF5Reader(best).stringAttribute("metrics", of: "/training"),
        let o = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    else { return nil }
    return o["step"] as? Int
}
