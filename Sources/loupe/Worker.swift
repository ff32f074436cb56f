// `--format jsonl`: the streaming worker mode of the per-example commands (one JSON line out per line in, for Spark's pipe).
import ArgumentParser
import Foundation
import Workbench

struct WorkerOptions: ParsableArguments {
    @Flag(help: "jsonl: stop at the first bad record instead of writing its error line and going on.")
    var strict = false
    @Option(help: "jsonl: I/N — keep the records whose id hashes to I of N (0 ≤ I < N).") var shard: String?
    @Option(help: "jsonl: skip the ids already in this earlier output (a restarted job goes on where it stopped).")
    var resume: String?

    func validate() throws {
        if let shard { _ = try parsedShard(shard) }
    }

    func parsedShard(_ s: String) throws -> (Int, Int) {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (0..<n).contains(i) else {
            throw ValidationError("--shard wants I/N with 0 ≤ I < N, got \(s)")
        }
        return (i, n)
    }
}

/// Any result, encoded as itself.
struct AnyEncodable: Encodable {
    let value: any Encodable
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// One output line for a record that could not be read or computed.
struct RecordError: Encodable, Error {
    struct Detail: Encodable {
        let code: String
        let message: String
        let line: Int?
    }
    let id: String
    let error: Detail
}

/// Reads records as they come, computes them `window` at a time with `run` (which forms its own batches), and writes
/// exactly one JSON line per record in input order (a result with its id, or an error line), flushing after each
/// window. A window whose computation fails is redone record by record, so one bad record fails alone. Exits 1 if
/// any record failed.
func runWorker(
    _ input: ExampleOptions, _ options: WorkerOptions, window: Int,
    _ run: ([Example]) throws(WorkbenchError) -> [any Encodable]
) throws {
    guard let path = input.input else { throw ValidationError("--format jsonl reads --input FILE (or - for stdin)") }
    let shard = try options.shard.map(options.parsedShard)
    let done = try options.resume.map { p in try dataset { () throws(DatasetError) in try Example.completedIDs(in: p) } } ?? []
    var reader = try dataset { () throws(DatasetError) in try ExampleReader(path: path, format: input.inputFormat) }
    var failed = 0
    /// The records of the current batch, in order: an example to compute or an error already known.
    var pending: [Result<Example, RecordError>] = []

    /// One line per record whatever happens: a result JSON cannot hold (a NaN) becomes the record's error line.
    func emit(_ value: some Encodable, id: String) {
        let data: Data
        do { data = try jsonData(value) } catch {
            failed += 1
            let line = failure(id, "non_finite", "\(error)")
            data = (try? jsonData(line)) ?? Data(#"{"error":{"code":"non_finite"}}"#.utf8)
        }
        FileHandle.standardOutput.write(data + Data([0x0A]))
    }
    func failure(_ id: String, _ code: String, _ message: String, line: Int? = nil) -> RecordError {
        RecordError(id: id, error: .init(code: code, message: message, line: line))
    }
    func flush() throws {
        // Results by position among the batch's examples (ids may repeat in an input; lines must not mix up).
        let examples = pending.compactMap { try? $0.get() }
        var results = [(any Encodable)?](repeating: nil, count: examples.count)
        var errors = [RecordError?](repeating: nil, count: examples.count)
        do throws(WorkbenchError) {
            let out = try run(examples)
            for k in out.indices where k < results.count { results[k] = out[k] }
        } catch {
            // Redo one by one: the bad record fails alone.
            for (k, e) in examples.enumerated() {
                do throws(WorkbenchError) { results[k] = try run([e]).first } catch {
                    if options.strict { throw CLIError("record \(e.id): \(error.message(naming: flag))") }
                    errors[k] = failure(e.id, "invalid_record", error.message(naming: { $0 }))
                }
            }
        }
        var k = 0
        for item in pending {
            switch item {
            case .success(let e):
                if let r = results[k] { emit(AnyEncodable(value: r), id: e.id) } else {
                    failed += 1
                    emit(errors[k] ?? failure(e.id, "no_result", "the operation returned no result"), id: e.id)
                }
                k += 1
            case .failure(let f):
                failed += 1
                emit(f, id: f.id)
            }
        }
        pending.removeAll()
    }

    while true {
        let item: Result<Example, RecordError>
        do throws(DatasetError) {
            guard let e = try reader.next() else { break }
            item = .success(e)
        } catch {
            if case .unreadable = error { throw CLIError(error.description) }
            if options.strict {
                try flush()  // the records before the bad one still get their lines
                throw CLIError(error.description)
            }
            let id = String(reader.lastRow)
            item = .failure(failure(id, "invalid_record", error.description, line: reader.line))
        }
        let id: String
        switch item {
        case .success(let e): id = e.id
        case .failure(let f): id = f.id
        }
        if let (i, n) = shard, !Example(id: id, text: "").inShard(i, of: n) { continue }
        if done.contains(id) { continue }
        pending.append(item)
        if pending.count >= window { try flush() }
    }
    try flush()
    if failed > 0 {
        FileHandle.standardError.write(Data("loupe: \(failed) record\(failed == 1 ? "" : "s") failed\n".utf8))
        throw ExitCode(1)
    }
}
