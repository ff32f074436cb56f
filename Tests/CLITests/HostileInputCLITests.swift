// Hostile inputs through the built `loupe`: each gets a one-line error naming the file, field or limit, in bounded memory.
//
// The inputs are made at run time in a temporary directory (a 100 MB line, a FIFO, a model with a NaN weight). Peak
// memory is the child's own VmHWM, written by `loupe` itself at exit (LOUPE_PEAK_RSS_FILE, Sources/loupe/PeakMemory.swift),
// never this test process's; no test asserts a time (a hang guard kills a child that runs for minutes, so a
// regression fails instead of stalling the suite).
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a child run of `loupe` left: exit status, output, and its peak resident set in MiB (nil: it reported none,
/// being killed or having crashed).
struct ChildRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var peakMiB: Int?
}

/// Runs `loupe arguments` (paths absolute) with one thread, output to files, and reads the peak RSS it reports at
/// exit. A child still running after `guardSeconds` is killed
/// (status then reports the signal).
func runMeasured(_ arguments: [String], in dir: URL, guardSeconds: Int = 300) throws -> ChildRun {
    let out = dir.appendingPathComponent("stdout-\(UUID().uuidString)"), err = dir.appendingPathComponent("stderr")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, err.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = ([loupe.path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let peak = dir.appendingPathComponent("peak-\(UUID().uuidString)")
    var env = ProcessInfo.processInfo.environment
    env["LOUPE_THREADS"] = "1"
    env["LOUPE_PEAK_RSS_FILE"] = peak.path
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, loupe.path, &actions, nil, argv, envp)
    guard rc == 0 else { throw CocoaError(.executableLoad) }
    var status: Int32 = 0
    var waited = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if waited >= guardSeconds * 10 {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            break
        }
        usleep(100_000)
        waited += 1
    }
    let exited = (status & 0x7f) == 0
    return ChildRun(
        status: exited ? (status >> 8) & 0xff : -(status & 0x7f),
        stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
        peakMiB: (try? String(contentsOf: peak, encoding: .utf8)).flatMap { Int($0) }.map { $0 / 1024 })  // kB
}

/// Under AddressSanitizer (scripts/sanitize sets LOUPE_SANITIZER) a process's peak memory is ASan's: its quarantine
/// keeps up to 256 MB of freed blocks (a 100 MB line read in 64 KB blocks peaked at 384 MiB), so the peak-memory
/// bounds are not checked there; every other expectation is.
private let checksPeakMemory = ProcessInfo.processInfo.environment["LOUPE_SANITIZER"] != "address"

@Suite(.serialized) struct HostileInputCLITests {
    let model = root.appendingPathComponent("Tests/Fixtures/bert_tiny_cls.h5").path

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Sizes from the command line or an input file are checked before anything is sized by them: a 100 MB line,
    /// `--steps` and `--samples` of 10⁹ each give one line naming the limit, and the run stays near the memory of
    /// loading the model (measured: the plain prediction's peak plus a margin far below what the sizes would take).
    @Test func untrustedSizesAreRefusedInBoundedMemory() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let baseline = try runMeasured(["predict", "--model", model, "--text", "a fine film"], in: dir)
        #expect(baseline.status == 0, "\(baseline.stderr)")
        let bound = try #require(baseline.peakMiB, "the plain run reported no peak memory") + 64

        // A 100 MB file that is one line, written 1 MB at a time (this process's own memory stays small).
        let big = dir.appendingPathComponent("one-line.txt")
        #expect(FileManager.default.createFile(atPath: big.path, contents: nil))
        let handle = try FileHandle(forWritingTo: big)
        let block = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<100 { try handle.write(contentsOf: block) }
        try handle.close()
        let line = try runMeasured(["predict", "--model", model, "--input", big.path], in: dir)
        #expect(line.status != 0)
        #expect(line.stderr == "Error: \(big.path):1: the line is longer than the limit of 1048576 bytes\n")
        #expect(
            !checksPeakMemory || (line.peakMiB ?? .max) < bound,
            "a 100 MB line: peak \(line.peakMiB ?? -1) MiB, bound \(bound) MiB")

        for (flag, method) in [("--steps", "ig"), ("--samples", "lime"), ("--samples", "kernel-shap")] {
            let r = try runMeasured(
                ["explain", "--model", model, "--method", method, flag, "1000000000", "--text", "a fine film"], in: dir)
            #expect(r.status != 0)
            #expect(r.stderr.hasPrefix("Error: \(flag) is 1000000000, over the limit of "), "\(method): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
            #expect(!checksPeakMemory || (r.peakMiB ?? .max) < bound, "\(method) \(flag) 1e9: peak \(r.peakMiB ?? -1) MiB")
        }
    }

    /// A FIFO where a file is expected is refused by `stat` before any `open` (which would wait for a writer
    /// forever): as the model and as an input file nobody writes to (read as empty, never blocking).
    @Test func fifoIsNeverOpenedAsAModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("model.h5")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let r = try runMeasured(["predict", "--model", fifo.path, "--text", "a"], in: dir, guardSeconds: 60)
        #expect(r.status == 1, "killed by the hang guard? \(r.status)")
        #expect(r.stderr == "Error: \(fifo.path): a FIFO (named pipe), not a regular file\n")

        let input = dir.appendingPathComponent("input.txt")
        #expect(mkfifo(input.path, 0o600) == 0)
        let i = try runMeasured(["predict", "--model", model, "--input", input.path], in: dir, guardSeconds: 60)
        #expect(i.status == 1, "killed by the hang guard? \(i.status)")
        #expect(i.stderr == "Error: \(input.path): the file is empty\n")
    }

    /// JSON has no NaN: a model whose classifier bias is NaN gets an error naming the output field under
    /// `--format json`, and an error line (code non_finite) in the worker mode, never a crash or a dropped line.
    @Test func nonFiniteResultsAreErrorsNamingTheField() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let hf = dir.appendingPathComponent("nan_model")
        try FileManager.default.copyItem(at: root.appendingPathComponent("Tests/Fixtures/bert_micro_hf"), to: hf)
        let weights = hf.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: weights))
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let bias = header["classifier.bias"] as! [String: Any]
        let begin = 8 + n + ((bias["data_offsets"] as! [Int])[0])
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { for k in 0..<4 { bytes[begin + k] = $0[k] } }
        try Data(bytes).write(to: weights)

        let json = try runMeasured(["predict", "--model", hf.path, "--text", "a fine film", "--format", "json"], in: dir)
        #expect(json.status == 1)
        #expect(json.stdout.isEmpty)
        #expect(json.stderr.hasPrefix("Error: the result has nan in `"), "\(json.stderr)")
        #expect(json.stderr.contains("which JSON cannot hold"))
        #expect(json.stderr.split(separator: "\n").count == 1)

        let records = dir.appendingPathComponent("records.jsonl")
        try Data("{\"id\": \"x\", \"text\": \"a fine film\"}\n".utf8).write(to: records)
        let worker = try runMeasured(
            ["predict", "--model", hf.path, "--input", records.path, "--format", "jsonl"], in: dir)
        #expect(worker.status == 1)
        let line = try JSONSerialization.jsonObject(with: Data(worker.stdout.utf8)) as? [String: Any]
        #expect(line?["id"] as? String == "x")
        #expect((line?["error"] as? [String: Any])?["code"] as? String == "non_finite")
    }
}
