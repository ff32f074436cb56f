// Crash-safe writes of run-directory files: whole-file replacement and whole-line appends, each durable on return.
//
// A process killed at any moment (or a full disk) must leave every file either as it was or as it was meant to
// be: readers never see half a file or half a line. Replacement is SQLite's and safetensors' recipe (a temporary
// file in the same directory, fsync, rename over the target, fsync the directory); an append is one write(2) of
// the whole line, cut back to the old length if the kernel took only part of it, then fsync. A kill can still
// leave a partial last line in the rare case the kernel stops a write between pages; `dropPartialLastLine`
// removes it before the file is appended to again.
import Foundation

enum DurableFile {
    /// The name of a temporary file for `target` (hidden, in the same directory, so `rename` is atomic);
    /// `RunDirectory.removeStaleTemporaries` recognises it by ".tmp-".
    static func temporary(for target: URL) -> URL {
        target.deletingLastPathComponent().appendingPathComponent(
            ".\(target.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    private static func failure(_ url: URL, _ what: String, _ code: Int32 = errno) -> TrainingError {
        .write("\(url.path): cannot write (\(what)): \(String(cString: strerror(code)))")
    }

    /// Replaces `url` with `data`: a reader, or a process killed at any moment, sees the old file or the new one.
    static func replace(_ url: URL, with data: Data) throws(TrainingError) {
        let temp = temporary(for: url)
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw failure(url, "create \(temp.lastPathComponent)") }
        var isOpen = true
        do throws(TrainingError) {
            let code = writeAll(fd, data)
            if code != 0 { throw failure(url, "write", code) }
            if fsync(fd) != 0 { throw failure(url, "fsync") }
            isOpen = false
            if close(fd) != 0 { throw failure(url, "close") }
            if rename(temp.path, url.path) != 0 { throw failure(url, "rename") }
        } catch {
            if isOpen { close(fd) }
            unlink(temp.path)
            throw error
        }
        try syncDirectory(of: url)
    }

    /// Appends `line` (which must end with "\n") with one write(2), then fsyncs. A short write (a full disk) is
    /// undone with ftruncate, so the file never ends in part of this line.
    static func appendLine(_ line: Data, to url: URL) throws(TrainingError) {
        precondition(line.last == UInt8(ascii: "\n"), "appendLine wants a whole line")
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw failure(url, "open") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw failure(url, "fstat") }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written != line.count {
            let code = written < 0 ? errno : ENOSPC  // a short write means the disk (or file size limit) is full
            ftruncate(fd, st.st_size)
            throw failure(url, "append", code)
        }
        if fsync(fd) != 0 { throw failure(url, "fsync") }
    }

    /// Cuts `url` back to its last "\n", dropping a line an interrupted append left unfinished; returns how many
    /// bytes were dropped (0 when the file ends with a whole line, is empty or does not exist).
    static func dropPartialLastLine(_ url: URL) throws(TrainingError) -> Int {
        guard let data = FileManager.default.contents(atPath: url.path), let last = data.last,
            last != UInt8(ascii: "\n")
        else { return 0 }
        let keep = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        if truncate(url.path, off_t(keep)) != 0 { throw failure(url, "truncate") }
        let fd = open(url.path, O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        return data.count - keep
    }

    /// fsync of the directory holding `url`, so a rename (or a new file) survives a power cut.
    static func syncDirectory(of url: URL) throws(TrainingError) {
        let dir = url.deletingLastPathComponent()
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw failure(dir, "open the directory") }
        defer { close(fd) }
        if fsync(fd) != 0 { throw failure(dir, "fsync the directory") }
    }

    /// write(2) until all of `data` is written; 0, or the errno of the failing call (ENOSPC for a write of 0).
    private static func writeAll(_ fd: Int32, _ data: Data) -> Int32 {
        data.withUnsafeBytes { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return ENOSPC }
                offset += n
            }
            return 0
        }
    }
}
