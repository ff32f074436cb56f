// A value behind an NSLock, with Synchronization.Mutex's `withLock` shape, for state shared by threads.
//
// Not Mutex itself: ThreadSanitizer sees pthread_mutex_lock/unlock, but not the hand-off of a contended Mutex,
// whose futex path runs in the uninstrumented libswiftSynchronization, so every contended use of a Mutex showed as a
// data race (Tests/Sanitizers/README.md, findings 1, 3, 6 and 8) and would hide a real one.
import Foundation

public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value  // only under `lock`

    public init(_ value: Value) { self.value = value }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
