// `LOUPE_PEAK_RSS_FILE=PATH`: at exit, `loupe` writes its own peak resident set (Linux VmHWM, kB) to PATH.
//
// The tests measure a child's memory this way. wait4's ru_maxrss cannot: glibc's posix_spawn runs the child on the
// parent's memory until exec (vfork), and Linux carries that memory's high-water mark into the child's ru_maxrss, so
// under a test process holding a few hundred MB every child reads as at least that, lean or not. VmHWM belongs to
// the memory map exec creates, so it is the child's alone.
import Foundation

enum PeakMemoryReport {
    static let variable = "LOUPE_PEAK_RSS_FILE"

    static func installIfRequested() {
        guard ProcessInfo.processInfo.environment[variable] != nil else { return }
        atexit {
            guard let path = ProcessInfo.processInfo.environment[PeakMemoryReport.variable],
                let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kB = line.split(separator: " ").dropFirst().first
            else { return }
            try? String(kB).write(toFile: path, atomically: false, encoding: .utf8)
        }
    }
}
