// Pulls in OpenBLAS's CBLAS header (found through pkg-config `openblas`) and its threading controls.
#include <cblas.h>
