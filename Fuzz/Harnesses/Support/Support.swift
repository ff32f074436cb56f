// What every harness shares: invariant checks that stop the run, a per-process scratch directory for parsers that
// read files, and the repository's fixtures.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Stops the process with a message on stderr: libFuzzer records the input as a crash (`abort` is a deadly
/// signal it catches), and `run.sh` fails.
public func fuzzFail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    FileHandle.standardError.write(Data("==FUZZ== invariant broken at \(file):\(line): \(message)\n".utf8))
    abort()
}

/// `fuzzFail` unless `condition` holds.
@inline(__always)
public func fuzzCheck(
    _ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
) {
    if !condition { fuzzFail(message(), file: file, line: line) }
}

/// Loupe promises one-line error messages (`file:line: what`): a message with a line break is a finding.
public func checkMessage(_ error: some Error & CustomStringConvertible, file: StaticString = #fileID, line: UInt = #line) {
    let text = error.description
    fuzzCheck(!text.isEmpty, "empty error message for \(error)", file: file, line: line)
    fuzzCheck(!text.contains(where: \.isNewline), "error message spans lines: \(String(reflecting: text))", file: file, line: line)
}

/// The input as bytes.
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Splits `bytes` at NUL bytes into at most `parts` parts (the last one keeps any further NULs): how the harnesses
/// that need several files take them from one input.
public func sections(_ bytes: ArraySlice<UInt8>, parts: Int) -> [ArraySlice<UInt8>] {
    var out: [ArraySlice<UInt8>] = []
    var rest = bytes
    while out.count < parts - 1, let nul = rest.firstIndex(of: 0) {
        out.append(rest[..<nul])
        rest = rest[(nul + 1)...]
    }
    out.append(rest)
    return out
}

/// A directory of this process's own under the system temporary directory, removed at exit.
public enum Scratch {
    public static let directory: String = {
        var template = Array((NSTemporaryDirectory() + "/loupe-fuzz-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { fuzzFail("mkdtemp: \(String(cString: strerror(errno)))") }
        let path = String(cString: p)
        scratchPath = path
        atexit { if let p = scratchPath { try? FileManager.default.removeItem(atPath: p) } }
        return path
    }()

    /// The path of `name` in the scratch directory.
    public static func path(_ name: String) -> String { directory + "/" + name }

    /// Writes `bytes` to `name` in the scratch directory (replacing it) and returns its path.
    @discardableResult
    public static func write<C: Collection<UInt8>>(_ bytes: C, to name: String) -> String {
        let path = self.path(name)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { fuzzFail("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let array = Array(bytes)
        var done = 0
        while done < array.count {
            let n = array.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, array.count - done) }
            guard n > 0 else { fuzzFail("write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
        return path
    }

    /// Removes `name` from the scratch directory if it is there.
    public static func remove(_ name: String) { unlink(path(name)) }
}

nonisolated(unsafe) private var scratchPath: String?

/// The repository this harness was built from (this file is <repo>/Fuzz/Harnesses/Support/Support.swift).
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    public static func fixture(_ relative: String) -> URL {
        root.appendingPathComponent("Tests/Fixtures").appendingPathComponent(relative)
    }
}
