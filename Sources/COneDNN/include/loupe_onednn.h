// Loupe's C surface over oneDNN (Debian libdnnl-dev 2.x): one matmul primitive per shape, packed weights, and the
// activation quantisers that feed it. Swift calls these (Tensor/LowPrecision.swift); nothing else includes dnnl.h.
#ifndef LOUPE_ONEDNN_H
#define LOUPE_ONEDNN_H
#include <stddef.h>
#include <stdint.h>

/// The element types of a low-precision product: u8 activations × s8 weights → s32, or bf16 × bf16 → f32.
typedef enum { LOUPE_GEMM_INT8 = 0, LOUPE_GEMM_BF16 = 1 } loupe_gemm_kind;

/// One oneDNN matmul primitive for a dense C[m×n] = A[m×k] (row stride lda) · B[k×n], B packed in the
/// layout the primitive chose. Immutable after creation; executions from several threads are safe (each passes
/// its own scratchpad).
typedef struct loupe_gemm loupe_gemm;

/// oneDNN's effective CPU ISA (dnnl_cpu_isa_t) and its version, for reports and feature checks.
unsigned loupe_onednn_isa(void);
const char *loupe_onednn_version(void);

/// Creates the primitive, or returns NULL with a message in err (errlen bytes).
/// (C is dense because oneDNN's brgemm kernels take no other; a strided C falls back to its slower gemm:jit.)
loupe_gemm *loupe_gemm_create(
    loupe_gemm_kind kind, int64_t m, int64_t k, int64_t n, int64_t lda, char *err, size_t errlen);
void loupe_gemm_destroy(loupe_gemm *g);
/// The implementation oneDNN picked (e.g. "brg:avx512_core_vnni"); valid while g lives.
const char *loupe_gemm_impl(const loupe_gemm *g);
/// Bytes of the packed weights and of the scratchpad one execution needs.
size_t loupe_gemm_weights_size(const loupe_gemm *g);
size_t loupe_gemm_scratchpad_size(const loupe_gemm *g);
/// Whether two primitives read the same packed weight layout (so one packed copy serves both).
int loupe_gemm_same_weights(const loupe_gemm *a, const loupe_gemm *b);
/// Packs B (s8 for INT8, bf16 as uint16 for BF16) given in plain layout, element (i, j) at
/// plain[i * stride_k + j * stride_n], into packed (loupe_gemm_weights_size bytes). Returns 0 or -1 with err.
int loupe_gemm_pack(
    const loupe_gemm *g, const void *plain, int64_t stride_k, int64_t stride_n, void *packed, char *err, size_t errlen);
/// Re-packs weights packed for `from` into the layout of `to` (same shapes), when a shape needs another layout.
int loupe_gemm_repack(
    const loupe_gemm *to, const loupe_gemm *from, const void *packed_from, void *packed_to, char *err, size_t errlen);
/// C = A·B on the calling thread (oneDNN's OpenMP team is set to 1 thread here: Loupe's pool splits the work).
/// A: u8 or bf16 rows; C: s32 or f32 rows. Returns 0, or -1 with err.
int loupe_gemm_execute(
    const loupe_gemm *g, const void *a, const void *packed, void *c, void *scratchpad, char *err, size_t errlen);

/// Dynamic u8 asymmetric quantisation of each row of a [rows×k] block (row stride lda), as ONNX Runtime's
/// DynamicQuantizeLinear does per tensor: scale = (max(x, 0) − min(x, 0)) / 255, zero point = round(−min/scale) in
/// [0, 255], q = sat(round(x/scale) + zp), rounding half to even. Writes q [rows×k] densely and each row's scale and
/// zero point.
void loupe_quantize_u8(
    const float *x, int64_t rows, int64_t k, int64_t lda, uint8_t *q, float *scales, int32_t *zero_points);
/// Float32 → bfloat16, round to nearest even (NaN kept quiet), [rows×k] (row stride lda) densely into out.
void loupe_to_bf16(const float *x, int64_t rows, int64_t k, int64_t lda, uint16_t *out);

/// Dequantises a dense [rows×n] block of s32 accumulators of C = (qA − zpA)·qB into float32 rows of y (row stride ldy):
/// y[i, j] = a_scale[i] · b_scale[j] · (acc[i, j] − zero_point[i] · b_sum[j]), where b_sum[j] = Σₖ qB[k, j] (the
/// zero-point term folded here, as ONNX Runtime's MLAS does, instead of a per-call oneDNN attribute), + bias[j] when
/// bias is not NULL (one pass, while the block is in cache).
void loupe_dequantize(
    const int32_t *acc, int64_t rows, int64_t n, float *y, int64_t ldy, const float *a_scale,
    const int32_t *zero_point, const float *b_scale, const int32_t *b_sum, const float *bias);
/// Copies a dense [rows×n] float block into rows of y (row stride ldy), + bias[j] when bias is not NULL.
void loupe_copy_rows(const float *c, int64_t rows, int64_t n, float *y, int64_t ldy, const float *bias);

#endif
