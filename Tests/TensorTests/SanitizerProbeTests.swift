// Deliberate bugs that scripts/sanitize runs first to prove its build is instrumented; off unless asked for.
//
// A sanitizer run that reports nothing is worth something only if the build would have reported a bug: SwiftPM
// can drop a sanitizer flag without a word (Fuzz/README.md: of two `-sanitize=` flags the last wins). So before
// every run, scripts/sanitize runs the probe of its configuration (LOUPE_SANITIZER_PROBE=address | thread |
// exclusivity) and fails unless it is reported. Normal test runs skip these.
import Foundation
import Synchronization
import Tensor
import Testing

private let probe = ProcessInfo.processInfo.environment["LOUPE_SANITIZER_PROBE"]

/// A counter the race probe increments without synchronisation.
private final class Counter: @unchecked Sendable {
    var value = 0
}

/// Which workers have entered a part (bit 0: the caller, bit 1: a helper); relaxed, so it orders nothing.
private final class Seen: Sendable {
    let bits = Atomic<Int>(0)
}

/// Keeps the optimiser from removing a read.
@inline(never) private func keep(_ x: Float) { if x.isNaN { print("") } }

@inline(never) private func modify(_ x: inout Int, while body: () -> Void) {
    x += 1
    body()
}

@Suite struct SanitizerProbeTests {
    /// AddressSanitizer: a read of freed memory.
    @Test(.enabled(if: probe == "address")) func useAfterFree() {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 16)
        p.initialize(repeating: 1, count: 16)
        p.deallocate()
        keep(p[3])
    }

    /// ThreadSanitizer: parts of a loop on Loupe's own pool write one shared word, unsynchronised. Each part waits
    /// (up to 5 s, through a relaxed atomic that creates no ordering) until the caller and a helper thread have both
    /// entered a part, so two threads write the word however late the helper is scheduled on a loaded machine.
    @Test(.enabled(if: probe == "thread")) func raceOnThePool() {
        let counter = Counter(), seen = Seen()
        Parallel.forEach(16) { _, worker in
            seen.bits.bitwiseOr(worker == 0 ? 1 : 2, ordering: .relaxed)
            let start = DispatchTime.now().uptimeNanoseconds
            while seen.bits.load(ordering: .relaxed) != 3 && DispatchTime.now().uptimeNanoseconds - start < 5_000_000_000 {
                sched_yield()
            }
            counter.value += 1
        }
        keep(Float(counter.value))
    }

    /// Runtime exclusivity checking: a class property modified while an inout access to it is in progress.
    @Test(.enabled(if: probe == "exclusivity")) func overlappingAccess() {
        let counter = Counter()
        modify(&counter.value) { counter.value += 1 }
        keep(Float(counter.value))
    }
}
