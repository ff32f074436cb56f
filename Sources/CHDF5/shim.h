// Pulls in the libhdf5 C API (found through pkg-config `hdf5`).
#include <hdf5.h>
