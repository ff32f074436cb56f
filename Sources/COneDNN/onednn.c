// Loupe's oneDNN matmul primitives (one per shape, weights packed once) and the activation quantisers that feed them.
#include "loupe_onednn.h"

#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int);  // libgomp, oneDNN's CPU runtime on Debian (linked through libdnnl)

struct loupe_gemm {
    loupe_gemm_kind kind;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_desc_t a_md, b_md, c_md, scratch_md;
    const char *impl;
};

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_status_t engine_status;
static void make_engine(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }

// A stream per thread: CPU streams run synchronously on the calling thread, so each pool thread keeps its own.
static __thread dnnl_stream_t thread_stream;

static int fail(char *err, size_t errlen, const char *what, dnnl_status_t s) {
    if (err && errlen) snprintf(err, errlen, "oneDNN %s failed (status %d)", what, (int)s);
    return -1;
}

unsigned loupe_onednn_isa(void) { return (unsigned)dnnl_get_effective_cpu_isa(); }

const char *loupe_onednn_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

loupe_gemm *loupe_gemm_create(
    loupe_gemm_kind kind, int64_t m, int64_t k, int64_t n, int64_t lda, char *err, size_t errlen) {
    pthread_once(&engine_once, make_engine);
    if (engine_status != dnnl_success) { fail(err, errlen, "engine creation", engine_status); return NULL; }
    loupe_gemm *g = calloc(1, sizeof *g);
    if (!g) { snprintf(err, errlen, "out of memory"); return NULL; }
    g->kind = kind;
    dnnl_data_type_t at = kind == LOUPE_GEMM_INT8 ? dnnl_u8 : dnnl_bf16;
    dnnl_data_type_t bt = kind == LOUPE_GEMM_INT8 ? dnnl_s8 : dnnl_bf16;
    dnnl_data_type_t ct = kind == LOUPE_GEMM_INT8 ? dnnl_s32 : dnnl_f32;
    dnnl_dims_t a_dims = {m, k}, a_strides = {lda, 1};
    dnnl_dims_t b_dims = {k, n};
    dnnl_dims_t c_dims = {m, n}, c_strides = {n, 1};
    dnnl_memory_desc_t b_any;
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&g->a_md, 2, a_dims, at, a_strides)) != dnnl_success
        || (s = dnnl_memory_desc_init_by_tag(&b_any, 2, b_dims, bt, dnnl_format_tag_any)) != dnnl_success
        || (s = dnnl_memory_desc_init_by_strides(&g->c_md, 2, c_dims, ct, c_strides)) != dnnl_success) {
        fail(err, errlen, "memory descriptor", s); free(g); return NULL;
    }
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &g->a_md, &b_any, NULL, &g->c_md)) != dnnl_success) {
        fail(err, errlen, "matmul descriptor", s); free(g); return NULL;
    }
    // A user scratchpad makes concurrent executions of one primitive safe (the library's own is shared).
    dnnl_primitive_attr_t attr;
    dnnl_primitive_attr_create(&attr);
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    s = dnnl_primitive_desc_create(&g->pd, &desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) { fail(err, errlen, "matmul primitive descriptor", s); free(g); return NULL; }
    g->b_md = *dnnl_primitive_desc_query_md(g->pd, dnnl_query_weights_md, 0);
    g->scratch_md = *dnnl_primitive_desc_query_md(g->pd, dnnl_query_scratchpad_md, 0);
    dnnl_primitive_desc_query(g->pd, dnnl_query_impl_info_str, 0, (void *)&g->impl);
    if ((s = dnnl_primitive_create(&g->primitive, g->pd)) != dnnl_success) {
        fail(err, errlen, "matmul primitive", s); dnnl_primitive_desc_destroy(g->pd); free(g); return NULL;
    }
    return g;
}

void loupe_gemm_destroy(loupe_gemm *g) {
    if (!g) return;
    dnnl_primitive_destroy(g->primitive);
    dnnl_primitive_desc_destroy(g->pd);
    free(g);
}

const char *loupe_gemm_impl(const loupe_gemm *g) { return g->impl ? g->impl : "unknown"; }
size_t loupe_gemm_weights_size(const loupe_gemm *g) { return dnnl_memory_desc_get_size(&g->b_md); }
size_t loupe_gemm_scratchpad_size(const loupe_gemm *g) { return dnnl_memory_desc_get_size(&g->scratch_md); }
int loupe_gemm_same_weights(const loupe_gemm *a, const loupe_gemm *b) {
    return a->kind == b->kind && dnnl_memory_desc_equal(&a->b_md, &b->b_md);
}

static dnnl_stream_t stream_here(void) {
    if (!thread_stream) dnnl_stream_create(&thread_stream, engine, dnnl_stream_default_flags);
    return thread_stream;
}

/// Reorders weights from (src_md, src) into (g's packed layout, dst).
static int reorder_weights(
    const loupe_gemm *g, const dnnl_memory_desc_t *src_md, const void *src, void *dst, char *err, size_t errlen) {
    dnnl_primitive_desc_t rpd;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, src_md, engine, &g->b_md, engine, NULL);
    if (s != dnnl_success) return fail(err, errlen, "weight reorder descriptor", s);
    dnnl_primitive_t reorder;
    s = dnnl_primitive_create(&reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (s != dnnl_success) return fail(err, errlen, "weight reorder", s);
    dnnl_memory_t from, to;
    dnnl_memory_create(&from, src_md, engine, (void *)src);
    dnnl_memory_create(&to, &g->b_md, engine, dst);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    omp_set_num_threads(1);
    dnnl_stream_t stream = stream_here();
    s = dnnl_primitive_execute(reorder, stream, 2, args);
    if (s == dnnl_success) s = dnnl_stream_wait(stream);
    dnnl_memory_destroy(from);
    dnnl_memory_destroy(to);
    dnnl_primitive_destroy(reorder);
    return s == dnnl_success ? 0 : fail(err, errlen, "weight packing", s);
}

int loupe_gemm_pack(
    const loupe_gemm *g, const void *plain, int64_t stride_k, int64_t stride_n, void *packed, char *err,
    size_t errlen) {
    dnnl_memory_desc_t src_md;
    dnnl_dims_t strides = {stride_k, stride_n};
    dnnl_status_t s = dnnl_memory_desc_init_by_strides(&src_md, 2, g->b_md.dims, g->b_md.data_type, strides);
    if (s != dnnl_success) return fail(err, errlen, "weight descriptor", s);
    return reorder_weights(g, &src_md, plain, packed, err, errlen);
}

int loupe_gemm_repack(
    const loupe_gemm *to, const loupe_gemm *from, const void *packed_from, void *packed_to, char *err, size_t errlen) {
    return reorder_weights(to, &from->b_md, packed_from, packed_to, err, errlen);
}

int loupe_gemm_execute(
    const loupe_gemm *g, const void *a, const void *packed, void *c, void *scratchpad, char *err, size_t errlen) {
    dnnl_memory_t am, bm, cm, sm = NULL;
    dnnl_memory_create(&am, &g->a_md, engine, (void *)a);
    dnnl_memory_create(&bm, &g->b_md, engine, (void *)packed);
    dnnl_memory_create(&cm, &g->c_md, engine, c);
    int nargs = 3;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (dnnl_memory_desc_get_size(&g->scratch_md) > 0) {
        dnnl_memory_create(&sm, &g->scratch_md, engine, scratchpad);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, sm};
    }
    omp_set_num_threads(1);  // this thread's OpenMP team: Loupe's pool already runs one product per core
    dnnl_stream_t stream = stream_here();
    dnnl_status_t s = dnnl_primitive_execute(g->primitive, stream, nargs, args);
    if (s == dnnl_success) s = dnnl_stream_wait(stream);
    dnnl_memory_destroy(am);
    dnnl_memory_destroy(bm);
    dnnl_memory_destroy(cm);
    if (sm) dnnl_memory_destroy(sm);
    return s == dnnl_success ? 0 : fail(err, errlen, "matmul", s);
}

// min(row, 0) and max(row, 0) over k floats, 16 lanes at a time (a scalar min/max chain does not vectorise without
// -ffast-math, and was 2.7 % of a BERT-base int8 forward's samples against 13 % for all its GEMMs). Returns 0 when
// the row holds a NaN or an infinity: x·0 is NaN exactly for those, and a NaN survives the lane sums.
static int row_range(const float *row, int64_t k, float *lo_out, float *hi_out) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 lo0 = zero, lo1 = zero, hi0 = zero, hi1 = zero, bad0 = zero, bad1 = zero;
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) {
        __m256 a = _mm256_loadu_ps(row + j), b = _mm256_loadu_ps(row + j + 8);
        lo0 = _mm256_min_ps(lo0, a);
        lo1 = _mm256_min_ps(lo1, b);
        hi0 = _mm256_max_ps(hi0, a);
        hi1 = _mm256_max_ps(hi1, b);
        bad0 = _mm256_fmadd_ps(a, zero, bad0);
        bad1 = _mm256_fmadd_ps(b, zero, bad1);
    }
    float lanes[8], lo = 0, hi = 0, poison = 0;
    _mm256_storeu_ps(lanes, _mm256_min_ps(lo0, lo1));
    for (int i = 0; i < 8; i++) lo = lanes[i] < lo ? lanes[i] : lo;
    _mm256_storeu_ps(lanes, _mm256_max_ps(hi0, hi1));
    for (int i = 0; i < 8; i++) hi = lanes[i] > hi ? lanes[i] : hi;
    _mm256_storeu_ps(lanes, _mm256_add_ps(bad0, bad1));
    for (int i = 0; i < 8; i++) poison += lanes[i];
    for (; j < k; j++) {
        lo = row[j] < lo ? row[j] : lo;
        hi = row[j] > hi ? row[j] : hi;
        poison += row[j] * 0.0f;
    }
    *lo_out = lo;
    *hi_out = hi;
    return poison == 0;
}

void loupe_quantize_u8(
    const float *x, int64_t rows, int64_t k, int64_t lda, uint8_t *q, float *scales, int32_t *zero_points) {
    // packus leaves each 128-bit lane's bytes as [i0 0–3, i1 0–3, i2 0–3, i3 0–3 | i0 4–7, …]: this puts them in order.
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * lda;
        float lo, hi;  // the range always includes 0, so 0 is exact (ONNX DynamicQuantizeLinear)
        uint8_t *out = q + r * k;
        if (!row_range(row, k, &lo, &hi)) {
            // A non-finite input row gives NaN outputs, as float32 arithmetic would, not finite nonsense.
            memset(out, 0, (size_t)k);
            scales[r] = NAN;
            zero_points[r] = 0;
            continue;
        }
        float s = (hi - lo) / 255.0f;
        if (!(s > 0)) s = 1;  // all zeros
        float zp = nearbyintf(-lo / s);  // the default rounding mode rounds half to even
        zp = zp < 0 ? 0 : (zp > 255 ? 255 : zp);
        float inv = 1 / s;
        // round(x·inv) + zp saturated to [0, 255]: cvtps rounds half to even like nearbyintf; |x·inv| ≤ 255, so the
        // 16-bit pack cannot saturate and the unsigned 8-bit pack is the clamp.
        const __m256 vinv = _mm256_set1_ps(inv);
        const __m256i vzp = _mm256_set1_epi32((int)zp);
        int64_t j = 0;
        for (; j + 32 <= k; j += 32) {
            __m256i i0 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + j), vinv)), vzp);
            __m256i i1 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + j + 8), vinv)), vzp);
            __m256i i2 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + j + 16), vinv)), vzp);
            __m256i i3 = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row + j + 24), vinv)), vzp);
            __m256i u = _mm256_packus_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            _mm256_storeu_si256((__m256i *)(out + j), _mm256_permutevar8x32_epi32(u, order));
        }
        for (; j < k; j++) {
            float v = nearbyintf(row[j] * inv) + zp;
            out[j] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
        scales[r] = s;
        zero_points[r] = (int32_t)zp;
    }
}

void loupe_to_bf16(const float *x, int64_t rows, int64_t k, int64_t lda, uint16_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const uint32_t *row = (const uint32_t *)(x + r * lda);
        uint16_t *o = out + r * k;
        for (int64_t j = 0; j < k; j++) {
            uint32_t u = row[j];
            uint32_t rounded = u + 0x7fff + ((u >> 16) & 1);  // round to nearest, ties to even
            o[j] = (u & 0x7fffffff) > 0x7f800000 ? (uint16_t)((u >> 16) | 0x40) : (uint16_t)(rounded >> 16);
        }
    }
}

void loupe_dequantize(
    const int32_t *acc, int64_t rows, int64_t n, float *y, int64_t ldy, const float *a_scale,
    const int32_t *zero_point, const float *b_scale, const int32_t *b_sum, const float *bias) {
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *in = acc + r * n;
        float *out = y + r * ldy;
        const int32_t zp = zero_point[r];
        const float as = a_scale[r];
        if (bias) {
            for (int64_t j = 0; j < n; j++) {
                int32_t v = in[j] - zp * b_sum[j];  // |zp·Σq| ≤ 255·127·k: no overflow below k = 66,000
                out[j] = (float)v * (as * b_scale[j]) + bias[j];
            }
        } else {
            for (int64_t j = 0; j < n; j++) out[j] = (float)(in[j] - zp * b_sum[j]) * (as * b_scale[j]);
        }
    }
}

void loupe_copy_rows(const float *c, int64_t rows, int64_t n, float *y, int64_t ldy, const float *bias) {
    for (int64_t r = 0; r < rows; r++) {
        if (!bias) {
            memcpy(y + r * ldy, c + r * n, (size_t)n * sizeof(float));
            continue;
        }
        for (int64_t j = 0; j < n; j++) y[r * ldy + j] = c[r * n + j] + bias[j];
    }
}
