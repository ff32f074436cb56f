// Model work off the event loop: one request computes at a time on its own thread, a bounded number wait (429 beyond).
import Dispatch
import Foundation

/// Runs closures one at a time on a dedicated serial queue (the models' kernels already use every core, and a
/// model is not meant for concurrent passes), with at most `limit` requests admitted at once; the next one is
/// refused at once with `APIError.busy` rather than queued without bound.
final class ComputeQueue: @unchecked Sendable {
    private let queue = DispatchQueue(label: "loupe.compute", qos: .userInitiated)
    private let lock = NSLock()
    private var admitted = 0
    let limit: Int

    init(limit: Int) { self.limit = max(1, limit) }

    private func admit() -> Bool {
        lock.withLock {
            guard admitted < limit else { return false }
            admitted += 1
            return true
        }
    }

    private func release() { lock.withLock { admitted -= 1 } }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard admit() else { throw APIError.busy }
        defer { release() }
        return try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
