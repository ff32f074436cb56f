// Which OpenBLAS kernels run, and the correction when OpenBLAS falls back to SSE3 kernels on a CPU it does not know.
//
// OpenBLAS picks its kernels once, in a constructor that runs when the library is loaded, from the CPU's family and
// model numbers (driver/others/dynamic.c, `get_coretype`). A model newer than the release falls back to "Prescott",
// its SSE3 kernels: Debian 12's OpenBLAS 0.3.21 does that on Intel Emerald Rapids (family 6, model 207), where its
// SkylakeX kernels run `loupe predict` on BERT-tiny 3.3× faster (Benchmarks/RESULTS.md, "OpenBLAS kernels").
// OpenBLAS's documented override, the OPENBLAS_CORETYPE environment variable, is read in that same constructor, so
// only a new process can take it: the `loupe` binary re-executes itself once with the variable set
// (`BLASCore.correctedCoreType`). A variable the user set is always left alone.
import CBLAS

public enum BLASCore {
    /// The kernels OpenBLAS uses in this process ("SkylakeX", "Haswell", "Zen", "Prescott", ...).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The OPENBLAS_CORETYPE value a new process should run with, or nil when OpenBLAS's choice stands: only when
    /// it fell back to Prescott (its x86-64 default for an unknown model) although the CPU and the OS support AVX2
    /// and FMA (then "Haswell") or AVX-512 F/DQ/BW/VL (then "SkylakeX"), and the variable is not set already.
    public static func correctedCoreType(environment: [String: String]) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, name.lowercased() == "prescott" else { return nil }
        switch loupe_cpu_vector_level() {
        case 2: return "SkylakeX"
        case 1: return "Haswell"
        default: return nil
        }
    }
}
