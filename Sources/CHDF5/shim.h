// Pulls in the libhdf5 C API (found through pkg-config `hdf5`), plus accessors for the macros Swift cannot import.
#include <hdf5.h>

// HDF5's predefined type / property-class ids are macros over mutable C globals (`(H5OPEN H5T_NATIVE_FLOAT_g)`):
// Swift imports neither the macros nor, in Swift 6 mode, the globals. These wrappers expand the macros in C, so
// each one also runs H5open() first, exactly as C code using the macro would.
static inline hid_t loupe_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t loupe_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t loupe_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t loupe_H5T_C_S1(void) { return H5T_C_S1; }
static inline hid_t loupe_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline unsigned loupe_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline size_t loupe_H5T_VARIABLE(void) { return H5T_VARIABLE; }

// Writing (Transformer/Weights/LoupeFileWriter.swift): file types, the truncate flag and property-list classes.
static inline hid_t loupe_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t loupe_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t loupe_H5T_STD_I8LE(void) { return H5T_STD_I8LE; }
static inline unsigned loupe_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned loupe_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline hid_t loupe_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t loupe_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t loupe_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
