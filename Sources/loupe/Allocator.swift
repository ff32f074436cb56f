// Process-wide malloc tuning for the `loupe` binary: keep freed activation memory instead of returning it to the kernel.
//
// Every forward and backward allocates its activations afresh (a BERT-base layer's are 0.4–1.5 MB each). glibc
// serves such blocks with mmap until its dynamic threshold has grown past them, and returns the top of the heap to
// the kernel whenever more than 128 KB–64 MB lies free there (M_TRIM_THRESHOLD, raised only with the mmap
// threshold): each pass then page-faults its activations back in, zero-filled by the kernel, and those faults
// dominate the process's page faults (Benchmarks/RESULTS.md has the counts). The cost is that the process keeps
// its peak heap until it exits, which its peak RSS already counts.
import CMalloc
import Foundation

enum Allocator {
    /// Serve every block below glibc's largest mmap threshold (32 MB on 64-bit) from the heap and never trim it.
    /// Users can still override both with glibc's MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ variables.
    static func keepFreedMemory() {
        let env = ProcessInfo.processInfo.environment
        if env["MALLOC_MMAP_THRESHOLD_"] == nil { _ = mallopt(M_MMAP_THRESHOLD, 32 << 20) }
        if env["MALLOC_TRIM_THRESHOLD_"] == nil { _ = mallopt(M_TRIM_THRESHOLD, Int32.max) }
    }
}
