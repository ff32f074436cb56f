// The run directory's lock: one trainer per directory, released by the kernel however the holder ends.
import Foundation

/// An exclusive `flock` on `RUN_DIR/.loupe.lock`, held from the check of a new run's directory (or the read of
/// a resumed run's last.h5) until training returns. flock locks belong to the open file, so a killed holder
/// (even `kill -9`) releases it with its file descriptors, and there is no stale lock to remove by hand. The file
/// holds the holder's pid, for the message another trainer gets; it is never deleted (deleting it would let a
/// third process lock a new file while the second still holds the old one).
public final class RunLock: @unchecked Sendable {
    /// The lock file's name in the run directory.
    public static let fileName = ".loupe.lock"
    public let directory: URL
    private var fd: Int32
    private let mutex = NSLock()

    /// Takes the lock of `directory` (which must exist) without waiting: a directory another trainer holds is an
    /// error that names it and the holder's pid.
    public init(_ directory: URL) throws(TrainingError) {
        self.directory = directory
        let path = directory.appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw .runDirectory(
                path: directory.path,
                detail: "cannot write in the run directory (creating \(Self.fileName)): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = Self.holder(fd)
            close(fd)
            guard code == EWOULDBLOCK else {
                throw .runDirectory(
                    path: directory.path, detail: "cannot lock \(Self.fileName): \(String(cString: strerror(code)))")
            }
            throw .runDirectory(
                path: directory.path,
                detail: FieldText(
                    "another training process (\(holder.map { "pid \($0)" } ?? "pid unknown")) is using this run "
                        + "directory; wait for it to finish or choose another directory"))
        }
        let pid = Array("\(getpid())\n".utf8)
        ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    /// The pid the holder wrote into the lock file (nil if it has not written it yet).
    private static func holder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Gives the lock up (idempotent); the lock file stays.
    public func release() {
        mutex.lock()
        defer { mutex.unlock() }
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
