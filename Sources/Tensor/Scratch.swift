// Reusable raw Float buffers for inference workspaces, so that forwards do not page-fault fresh memory each time.
//
// A forward pass needs a few megabytes of intermediate rows (projections, attention context, the
// feed-forward activation). Allocating them per pass would map and zero new pages every time once
// glibc's heap trims them, a cost per page that is large next to a small model's whole pass.
// `Scratch.with` hands out a buffer from a small pool and takes it back.

import Foundation

public enum Scratch {
    /// A free buffer; it moves between threads only through the pool's lock.
    private struct Buffer: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
    }
    /// Free buffers (at most `keep` are retained), behind an NSLock (`Locked`: finding 1 of Tests/Sanitizers).
    private static let pool = Locked<[Buffer]>([])
    private static let keep = 4

    /// Calls `body` with an uninitialised buffer of at least `count` floats, valid only during the call.
    /// Thread-safe; concurrent callers get different buffers.
    public static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let n = Swift.max(count, 1)
        let taken: Buffer? = pool.withLock { free in
            // The smallest buffer that fits.
            var best: Int?
            for (i, b) in free.enumerated() where b.capacity >= n {
                if best == nil || b.capacity < free[best!].capacity { best = i }
            }
            return best.map { free.remove(at: $0) }
        }
        let buffer = taken ?? Buffer(pointer: .allocate(capacity: n), capacity: n)
        defer {
            let evicted: Buffer? = pool.withLock { free in
                free.append(buffer)
                guard free.count > keep else { return nil }
                return free.remove(at: free.indices.min { free[$0].capacity < free[$1].capacity }!)
            }
            evicted?.pointer.deallocate()
        }
        return try body(buffer.pointer)
    }
}
