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
