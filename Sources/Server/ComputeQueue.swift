// Model work off the event loop: one request computes at a time on its own thread, a bounded number wait (429 beyond).
import Dispatch
import Foundation

/// Runs closures one at a time on a dedicated serial queue (the models' kernels already use every core, and a
/// model is not meant for concurrent passes), with at most `limit` requests admitted at once; the next one is
/// refused at once with `APIError.busy` rather than queued without bound. A request whose client has gone by its
/// turn is skipped (logged on stderr as `cancelled`), so that abandoned requests do not hold up the ones behind them.
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

    func run<T: Sendable>(
        cancelledBy gone: ClientGone? = nil, route: String = "", _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        guard admit() else { throw APIError.busy }
        defer { release() }
        let result = Handoff<Result<T, any Error>>()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                result.put(
                    Result {
                        if gone?.isSet == true { throw ClientGone.cancelled(route, detail: "before it started") }
                        return try body()
                    })
                continuation.resume()
            }
        }
        return try result.take().get()
    }
}

/// A value handed from the compute thread to the awaiting task under an NSLock. The continuation alone orders the
/// two, but on Linux that order passes through libdispatch, which ThreadSanitizer does not see
/// (swift-corelibs-libdispatch#655): the whole-suite TSan run reported every result read by the route's encoder as a
/// race with its construction on the compute thread. The lock's unlock/lock pair is an edge TSan sees.
private final class Handoff<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?
    func put(_ v: Value) { lock.withLock { value = v } }
    func take() -> Value { lock.withLock { value! } }
}

extension ClientGone {
    /// The error that ends a request whose client has gone (nobody reads it); logged so that skipped work shows.
    static func cancelled(_ route: String, detail: String) -> APIError {
        FileHandle.standardError.write(Data("loupe serve: \(route) cancelled \(detail): the client closed the connection\n".utf8))
        return APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "cancelled", "the client closed the connection")
    }
}
