// Wall-clock timing and process figures shared by the benchmarks.
import Foundation

/// Wall time of one call of `body`, in seconds.
func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// Median wall time in seconds of `body` over `runs` runs, after `warmup` unmeasured runs.
func medianSeconds(warmup: Int = 2, runs: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup { body() }
    return median((0..<runs).map { _ in seconds(body) })
}

/// Median wall times in seconds of `a` and `b` run alternately `runs` times each, after `warmup` runs of each,
/// so that both see the same machine load.
func pairedMedianSeconds(warmup: Int = 2, runs: Int, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
    for _ in 0..<warmup {
        a()
        b()
    }
    var ta: [Double] = [], tb: [Double] = []
    for _ in 0..<runs {
        ta.append(seconds(a))
        tb.append(seconds(b))
    }
    return (median(ta), median(tb))
}

/// Median wall times in seconds of `a` (Loupe) and `b` (a raw OpenBLAS call), timed in alternating blocks, each
/// block of `a` after `settle` seconds of sleep. Why the sleep: after a threaded `cblas_sgemm`, OpenBLAS's own
/// worker threads spin in sched_yield before they park (its THREAD_TIMEOUT) and take the second core from
/// Loupe's pool, so `a` run right after `b` runs on one core; a short pause does not outlast that spinning, 1 s
/// does. Loupe itself never wakes those threads (each product runs on its pool with OpenBLAS single-threaded),
/// so `a` is timed as it runs in use, and `b` right after it with its threads as warm as a caller of OpenBLAS
/// gets them. The first call of every block is not timed: it wakes the parked threads (Loupe's pool or
/// OpenBLAS's), and that wake-up would otherwise be charged to the first timed call.
func blockedMedianSeconds(
    warmup: Int = 2, runs: Int, blocks: Int = 4, settle: Double = 1, _ a: () -> Void, _ b: () -> Void
) -> (a: Double, b: Double, minA: Double) {
    // Warm-up: at least `warmup` runs of each and 0.2 s of `a` (a fresh process's pool thread and clock ramp).
    let start = DispatchTime.now().uptimeNanoseconds
    var warmed = 0
    while warmed < warmup || DispatchTime.now().uptimeNanoseconds - start < 200_000_000 {
        a()
        warmed += 1
    }
    for _ in 0..<warmup { b() }
    var ta: [Double] = [], tb: [Double] = []
    let perBlock = Swift.max(1, (runs + blocks - 1) / blocks)
    while ta.count < runs {
        Thread.sleep(forTimeInterval: settle)
        a()  // untimed: wakes Loupe's parked pool thread
        for _ in 0..<Swift.min(perBlock, runs - ta.count) { ta.append(seconds(a)) }
        b()  // untimed: wakes OpenBLAS's parked worker threads
        for _ in 0..<perBlock { tb.append(seconds(b)) }
    }
    return (median(ta), median(tb), ta.min()!)
}

/// The 1-minute load average (Linux), or nil.
func loadAverage() -> Double? {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
}

/// The process's peak resident set (Linux `VmHWM`, else getrusage's ru_maxrss) in MB.
func peakRSSMegabytes() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    {
        return kb / 1024
    }
    var usage = rusage()
    #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)  // kilobytes
        return Double(usage.ru_maxrss) / 1024
    #else
        getrusage(RUSAGE_SELF, &usage)  // bytes on Darwin
        return Double(usage.ru_maxrss) / 1_048_576
    #endif
}
