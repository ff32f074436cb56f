// Starts `loupe` over with OPENBLAS_CORETYPE set when OpenBLAS chose its SSE3 kernels on an AVX2 / AVX-512 CPU.
//
// Why a re-exec: OpenBLAS reads the variable only while the library loads (Tensor's BLASCore.swift). execv keeps
// the process id, the open descriptors (stdin not yet read, stdout, a Spark pipe) and the arguments, so callers see
// one process; it runs before anything is read or written. The variable is then set, so this happens at most once.
import Foundation
import Tensor

enum BLASKernelChoice {
    static func reexecIfMisdetected() {
        guard let core = BLASCore.correctedCoreType(environment: ProcessInfo.processInfo.environment) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed (no /proc, say). Carry on with OpenBLAS's own choice, slower but correct,
        // and leave the environment of any child as it was.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
