// Pulls in OpenBLAS's CBLAS header (found through pkg-config `openblas`) and its threading controls.
#include <cblas.h>
#include <stddef.h>

// LAPACK routines that libopenblas exports (Fortran ABI: every argument by pointer, 32-bit integers as in
// Debian's LP64 build, and one hidden length per character argument at the end, as gfortran passes them).
// Declared here rather than through <lapack.h> so that no second package or header is needed.

// Selected eigenvalues (ascending) and eigenvectors of a real symmetric matrix, by the MRRR algorithm.
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a, const int *lda,
             const double *vl, const double *vu, const int *il, const int *iu, const double *abstol, int *m,
             double *w, double *z, const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
             const int *liwork, int *info, size_t jobz_len, size_t range_len, size_t uplo_len);

// What the CPU and the operating system support of the instruction sets OpenBLAS's x86-64 kernels need: 2 for the
// AVX-512 subsets of its SkylakeX kernels (F, DQ, BW, VL, with ZMM state enabled by the OS), 1 for AVX2 + FMA (its
// Haswell kernels), 0 otherwise or on other architectures. From CPUID leaves 1 and 7 and XCR0 (Intel SDM vol. 1,
// 13.3 and 15.2: a feature bit alone does not mean the OS saves its registers). Used to correct OpenBLAS's choice
// of kernels on CPUs its release does not know (Tensor's BLASCore.swift).
#if defined(__x86_64__)
#include <cpuid.h>
static inline int loupe_cpu_vector_level(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6) return 0;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1;
    const int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    if (avx512 && (xcr0_lo & 0xe0) == 0xe0) return 2;  // opmask, ZMM0-15 upper halves, ZMM16-31
    return (avx2 && fma) ? 1 : 0;
}
#else
static inline int loupe_cpu_vector_level(void) { return 0; }
#endif
