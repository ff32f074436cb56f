// One core's matrix-product rates at BERT-base's shapes: OpenBLAS sgemm against oneDNN matmul in fp32, bf16, int8.
//
// Build and run (Debian: libopenblas-dev, libdnnl-dev; RESULTS.md, "Reduced precision", cites its output):
//   cc -O2 -o /tmp/gemm_rates Benchmarks/probes/gemm_rates.c -lopenblas -ldnnl -lgomp
//   OPENBLAS_CORETYPE=SkylakeX /tmp/gemm_rates      # the kernels `loupe` picks on an AVX-512 CPU OpenBLAS misnames
// C[M×N] = A[M×K]·Wᵀ with W [N×K] as a Linear's weight; oneDNN's weights are packed once (format_tag any), as
// Loupe's int8/bf16 path does. Best of 3 × reps calls each, one thread (Loupe's pool gives each core its own call).
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void omp_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { \
    fprintf(stderr, "%s failed: %d\n", #x, (int)s_); exit(1); } } while (0)

// Seconds of the best call of a oneDNN matmul of type (at, bt → ct), or 0 when oneDNN has no kernel for it.
static double onednn(dnnl_engine_t eng, dnnl_stream_t st, int m, int k, int n, dnnl_data_type_t at,
                     dnnl_data_type_t bt, dnnl_data_type_t ct, int reps, const char **impl) {
    size_t ea = at == dnnl_f32 ? 4 : at == dnnl_bf16 ? 2 : 1, eb = bt == dnnl_f32 ? 4 : bt == dnnl_bf16 ? 2 : 1;
    uint8_t *a = malloc(ea * m * k), *b = malloc(eb * (size_t)k * n), *c = malloc(4 * (size_t)m * n);
    // Small values valid in every type: bf16/f32 bit patterns of ±0.25…, int8 values in −8…7.
    for (size_t i = 0; i < ea * m * k; i++) a[i] = ea == 1 ? rand() % 16 : (i % ea == ea - 1 ? 0x3e : rand() % 256);
    for (size_t i = 0; i < eb * (size_t)k * n; i++) b[i] = eb == 1 ? rand() % 16 - 8 : (i % eb == eb - 1 ? 0x3e : rand() % 256);
    dnnl_memory_desc_t amd, bplain, bany, cmd;
    dnnl_dims_t ad = {m, k}, as = {k, 1}, bd = {k, n}, bs = {1, k}, cd = {m, n}, cs = {n, 1};
    CHECK(dnnl_memory_desc_init_by_strides(&amd, 2, ad, at, as));
    CHECK(dnnl_memory_desc_init_by_strides(&bplain, 2, bd, bt, bs));
    CHECK(dnnl_memory_desc_init_by_tag(&bany, 2, bd, bt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_strides(&cmd, 2, cd, ct, cs));
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &amd, &bany, NULL, &cmd));
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) != dnnl_success) return 0;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, (void *)impl);
    const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    void *packed = malloc(dnnl_memory_desc_get_size(bmd));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t reorder, p;
    dnnl_memory_t from, to, am, bm, cm;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &bplain, eng, bmd, eng, NULL));
    CHECK(dnnl_primitive_create(&reorder, rpd));
    CHECK(dnnl_memory_create(&from, &bplain, eng, b));
    CHECK(dnnl_memory_create(&to, bmd, eng, packed));
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    CHECK(dnnl_primitive_execute(reorder, st, 2, ra));
    CHECK(dnnl_stream_wait(st));
    CHECK(dnnl_primitive_create(&p, pd));
    CHECK(dnnl_memory_create(&am, &amd, eng, a));
    CHECK(dnnl_memory_create(&bm, bmd, eng, packed));
    CHECK(dnnl_memory_create(&cm, &cmd, eng, c));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    double best = 1e9;
    for (int r = 0; r < 3 * reps; r++) {
        double t0 = now();
        CHECK(dnnl_primitive_execute(p, st, 3, args));
        CHECK(dnnl_stream_wait(st));
        double d = now() - t0;
        if (d < best) best = d;
    }
    return best;  // the primitives and buffers live until the process exits
}

int main(void) {
    const int shapes[][3] = {{128, 768, 2304}, {128, 768, 768}, {128, 768, 3072}, {128, 3072, 768},
                             {1024, 768, 768}, {1024, 768, 3072}, {1024, 3072, 768}};
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    printf("OpenBLAS %s; oneDNN ISA %d; GFLOP/s (GOP/s for int8), one thread\n", openblas_get_corename(),
           (int)dnnl_get_effective_cpu_isa());
    printf("%5s %5s %5s  %8s  %8s %-24s  %8s %-24s  %8s %-24s\n", "M", "K", "N", "sgemm", "f32", "(oneDNN kernel)",
           "bf16", "", "int8", "");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2], reps = m > 500 ? 5 : 30;
        float *a = malloc(4L * m * k), *w = malloc(4L * n * k), *c = malloc(4L * m * n);
        for (long i = 0; i < (long)m * k; i++) a[i] = (rand() % 1000) / 1000.0f - 0.5f;
        for (long i = 0; i < (long)n * k; i++) w[i] = (rand() % 1000) / 1000.0f - 0.5f;
        double blas = 1e9;
        for (int r = 0; r < 3 * reps; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, w, k, 0, c, n);
            double d = now() - t0;
            if (d < blas) blas = d;
        }
        const char *i32 = "-", *i16 = "-", *i8 = "-";
        double f = onednn(eng, st, m, k, n, dnnl_f32, dnnl_f32, dnnl_f32, reps, &i32);
        double h = onednn(eng, st, m, k, n, dnnl_bf16, dnnl_bf16, dnnl_f32, reps, &i16);
        double q = onednn(eng, st, m, k, n, dnnl_u8, dnnl_s8, dnnl_s32, reps, &i8);
        double g = 2.0 * m * n * k / 1e9;
        printf("%5d %5d %5d  %8.0f  %8.0f %-24s  %8.0f %-24s  %8.0f %-24s\n", m, k, n, g / blas, f ? g / f : 0, i32,
               h ? g / h : 0, i16, q ? g / q : 0, i8);
        free(a); free(w); free(c);
    }
    return 0;
}
