// Loupe's one thread pool: fork–join loops for GEMM splits, attention heads and element-wise passes.
//
// Everything parallel in Loupe runs here, and OpenBLAS runs single-threaded inside it. Two pools on two
// cores fight: OpenBLAS's helper threads spin (calling sched_yield) for a while after every threaded
// call, so a second pool's threads (GCD's) wait for the kernel to switch them in, and a forward pass
// spends a large share of its time in the scheduler. One pool of `Threads.count − 1` helpers
// plus the calling thread avoids that and costs ~1 µs per loop while the helpers spin; they spin for
// 100 µs after each loop (the gap between two loops of a forward pass is shorter) and then sleep on a
// semaphore, so an idle process uses no CPU.
//
// Work is split into parts claimed through one atomic word (generation | parts | next part), so a helper
// that wakes late takes nothing from a later loop, and the caller runs parts itself instead of waiting
// for sleeping helpers. A loop started while the pool is busy (a nested loop, or another thread's) runs
// inline on its own thread: always correct, and the outer loop already uses every core.
import CBLAS
import Dispatch
import Foundation
import Synchronization

public enum Parallel {
    /// Regions currently holding OpenBLAS at one thread, behind an NSLock (a pthread mutex, which ThreadSanitizer
    /// sees) rather than a Mutex, whose contended hand-off it cannot see (Tests/Sanitizers/README.md, finding 1).
    private final class Regions: @unchecked Sendable {
        var count = 0
        let lock = NSLock()
    }
    private static let singleThreadedRegions = Regions()

    /// Runs `body` with OpenBLAS calls single-threaded (from any thread), then restores `Threads.count`.
    /// Another thread's BLAS call made meanwhile also runs on one thread: slower, never wrong. The switch
    /// (openblas_set_num_threads) is negligible next to any product worth running on the pool.
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        let threads = Threads.count
        guard threads > 1 else { return try body() }
        let regions = singleThreadedRegions
        regions.lock.withLock {
            if regions.count == 0 { openblas_set_num_threads(1) }
            regions.count += 1
        }
        defer {
            regions.lock.withLock {
                regions.count -= 1
                if regions.count == 0 { openblas_set_num_threads(Int32(threads)) }
            }
        }
        return try body()
    }

    /// A bound on `forEach(count, serial:)`'s `worker` argument (size per-thread scratch with it).
    public static func workers(_ count: Int, serial: Bool = false) -> Int {
        serial || count <= 1 ? 1 : Threads.count
    }

    /// Calls `body(i, worker)` for every i in 0..<count on up to `workers(count, serial:)` threads; parts are
    /// claimed dynamically, and `worker` (below `workers(count)`) identifies the thread, for per-thread
    /// scratch. Runs inline when `serial`, when only one thread is available, or when the pool is busy.
    /// `body` must write disjoint memory per i (plus its worker's scratch).
    /// (Escaping only so that helper threads may hold it while they finish a part; it is not kept.)
    public static func forEach(
        _ count: Int, serial: Bool = false, _ body: @escaping (_ index: Int, _ worker: Int) -> Void
    ) {
        guard count > 0 else { return }
        if serial || count == 1 || Threads.count == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        WorkerPool.shared.run(parts: count, UncheckedSendable(body))
    }

    /// Calls `body(rows)` on contiguous row ranges covering 0..<rows, one per thread, when `rows · cost`
    /// (the work in element operations) repays starting a loop (~1 µs); inline otherwise.
    public static func forRows(_ rows: Int, cost: Int, _ body: @escaping (Range<Int>) -> Void) {
        let threads = Threads.count
        guard threads > 1, rows > 1, rows * cost >= 1 << 14 else {
            body(0..<rows)
            return
        }
        let parts = Swift.min(threads, rows)
        let chunk = (rows + parts - 1) / parts
        forEach(parts) { t, _ in
            let lo = t * chunk, hi = Swift.min(lo + chunk, rows)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// The fork–join pool behind `Parallel`: `threads − 1` helper threads plus the calling thread.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(threads: Threads.count)

    typealias Body = UncheckedSendable<(Int, Int) -> Void>
    private final class Job {
        let body: Body
        init(_ body: Body) { self.body = body }
    }

    let threads: Int
    /// generation (24 bits) | parts (20 bits) | next unclaimed part (20 bits), published with release.
    private let state = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Written by the caller before publishing a generation, read by helpers only after claiming a part.
    private var job: Job?
    private var generation: UInt64 = 0
    private let parked: UnsafeMutablePointer<Atomic<Bool>>
    private let wakeups: [DispatchSemaphore]
    private static let spinNanoseconds: UInt64 = 100_000

    private init(threads: Int) {
        self.threads = Swift.max(threads, 1)
        let helpers = self.threads - 1
        parked = .allocate(capacity: Swift.max(helpers, 1))
        for i in 0..<Swift.max(helpers, 1) { (parked + i).initialize(to: Atomic(false)) }
        wakeups = (0..<helpers).map { _ in DispatchSemaphore(value: 0) }
        for i in 0..<helpers {
            let thread = Thread { [unowned self] in self.helperLoop(i) }
            thread.name = "loupe-worker-\(i + 1)"
            thread.start()
        }
    }

    private static func unpack(_ s: UInt64) -> (generation: UInt64, parts: Int, next: Int) {
        (s >> 40, Int((s >> 20) & 0xFFFFF), Int(s & 0xFFFFF))
    }

    /// Runs body(part, worker) for every part in 0..<parts; returns when all are done.
    func run(parts: Int, _ body: Body) {
        guard threads > 1, parts > 1, parts < 1 << 20,
            busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for i in 0..<parts { body.value(i, 0) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        job = Job(body)
        finished.store(0, ordering: .relaxed)
        generation = (generation + 1) & 0xFF_FFFF
        let g = generation
        state.store(g << 40 | UInt64(parts) << 20, ordering: .sequentiallyConsistent)
        for i in 0..<(threads - 1) where parked[i].exchange(false, ordering: .sequentiallyConsistent) {
            wakeups[i].signal()
        }
        work(generation: g, worker: 0)
        // The helpers' last parts; yield now and then in case a helper waits for this core (a loaded machine).
        var spins = 0
        while finished.load(ordering: .acquiring) < parts {
            spins &+= 1
            if spins & 4095 == 0 { sched_yield() }
        }
        job = nil
    }

    /// Claims and runs parts of generation g until none is left.
    private func work(generation g: UInt64, worker: Int) {
        while true {
            let s = state.load(ordering: .acquiring)
            let (gen, parts, next) = Self.unpack(s)
            guard gen == g, next < parts else { return }
            guard state.compareExchange(expected: s, desired: s + 1, ordering: .acquiringAndReleasing).exchanged else {
                continue
            }
            job!.body.value(next, worker)
            finished.add(1, ordering: .releasing)
        }
    }

    private func helperLoop(_ i: Int) {
        // Generation 0 is never published, so a helper that starts after the first loop began still joins it
        // (from the current generation it would wait for the next loop, and the first ran on the caller alone).
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var spinStart: UInt64 = 0
            while Self.unpack(state.load(ordering: .acquiring)).generation == seen {
                spins &+= 1
                guard spins & 1023 == 0 else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                if spinStart == 0 {
                    spinStart = now
                } else if now - spinStart > Self.spinNanoseconds {
                    // Park; the caller clears the flag and signals after publishing a generation. Both sides use
                    // sequentially consistent operations, so either it sees our flag or we see its generation.
                    parked[i].store(true, ordering: .sequentiallyConsistent)
                    if Self.unpack(state.load(ordering: .sequentiallyConsistent)).generation == seen {
                        wakeups[i].wait()
                    }
                    parked[i].store(false, ordering: .sequentiallyConsistent)
                    spinStart = 0
                }
            }
            seen = Self.unpack(state.load(ordering: .acquiring)).generation
            work(generation: seen, worker: i + 1)
        }
    }
}
