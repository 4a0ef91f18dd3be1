/* oneDNN matrix products for Striate's CPU path, loaded from Python with ctypes: the three passes
 * of the fully connected layer in striate/functional/linear.py on float32 2-D arrays,
 *
 *   forward    y  = x W^T + b     (M, in) x (in, out)  -> (M, out)
 *   gx         gx = gy W          (M, out) x (out, in) -> (M, in)
 *   gW         gW = gy^T x        (out, M) x (M, in)   -> (out, in)
 *
 * all one entry point, smatmul: C = op(A) op(B) (+ bias), A (M, K) and B (K, N) after their
 * optional transposition, C (M, N) row-major, bias (1, N). A transposed operand is the caller's
 * row-major bytes described with swapped strides (W^T: W's bytes with dims (in, out) and strides
 * (1, in)), so nothing is copied: oneDNN's matmul reads either order.
 *
 * Why here and not NumPy's BLAS: OpenBLAS threads spin after each product and fight oneDNN's
 * OpenMP threads over the cores (a LeNet-5 step 24 ms instead of 6.5 ms when OPENBLAS_THREAD_TIMEOUT
 * is not set in time); on oneDNN every heavy op of a training step shares one OpenMP runtime.
 *
 * This file is compiled into the same library as _dnnl_conv.c and _dnnl_ops.c and shares their
 * engine, stream, scratchpad and lock (_dnnl_common.h), with its own small primitive cache, one
 * entry per (M, K, N, transposes, bias, thread count); small products run on one thread
 * (SMALL_PRODUCT). float32 only.
 */
#include "_dnnl_common.h"

#include <stdint.h>

/* One product, as Python describes it (all int64: no padding, compared with memcmp). */
typedef struct {
    int64_t m, k, n;
    int64_t trans_a;       /* 1: A is given as its (K, M) row-major transpose */
    int64_t trans_b;       /* 1: B is given as its (N, K) row-major transpose */
    int64_t with_bias;     /* add a (N,) bias to every row of C */
} smatmul_cfg;

enum { ARG_A = 0, ARG_B = 1, ARG_BIAS = 2, ARG_C = 3, MM_MAX_ARGS = 4 };
static const int mm_arg_ids[MM_MAX_ARGS] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS,
                                            DNNL_ARG_DST};

/* A cached primitive with the memory objects it runs on (mem[ARG_BIAS] NULL without bias). */
typedef struct {
    SDNNL_ENTRY_HEAD       /* kind (always 0), nthreads, prim, scratchpad, impl (_dnnl_common.h) */
    smatmul_cfg cfg;
    dnnl_memory_t mem[MM_MAX_ARGS];
} mm_entry_t;

/* Products of at most this many multiply-adds (M * K * N) run on one thread: they take a few
 * microseconds on one core, so splitting them saves less than waking a second thread costs, and
 * when another process holds the other core, every fork/join waits for it (measured on the 2-core
 * machine with a busy neighbour, gx + gW + forward of LeNet's 84 -> 10 layer at batch 128:
 * 47 us on 2 threads, 26 us on 1; of (128, 256) -> 10: 1.6 ms, 62 us). OpenBLAS has the same
 * rule (GEMM_MULTITHREAD_THRESHOLD: 4 * 65536 = 2^18). */
#define SMALL_PRODUCT ((int64_t)1 << 19)

/* A (rows, cols) matrix stored row-major, or (trans) its transpose stored row-major: the same
 * (rows, cols) dims with strides (1, rows). */
static dnnl_status_t matrix_md(sdnnl_md *md, int64_t rows, int64_t cols, int64_t trans) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : cols, trans ? rows : 1};
    return sdnnl_md_strides(md, 2, dims, strides);
}

static dnnl_status_t build_entry(sdnnl_entry *entry) {
    mm_entry_t *e = (mm_entry_t *)entry;
    const smatmul_cfg *c = &e->cfg;
    dnnl_status_t st;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    sdnnl_md mds[MM_MAX_ARGS] = {NULL, NULL, NULL, NULL};  /* a, b, bias, dst */
    TRY(matrix_md(&mds[ARG_A], c->m, c->k, c->trans_a));
    TRY(matrix_md(&mds[ARG_B], c->k, c->n, c->trans_b));
    TRY(matrix_md(&mds[ARG_C], c->m, c->n, 0));
    if (c->with_bias) TRY(matrix_md(&mds[ARG_BIAS], 1, c->n, 0));
#if DNNL_VERSION_MAJOR >= 3
    TRY(sdnnl_attr(&attr, NULL));
    TRY(dnnl_matmul_primitive_desc_create(&pd, g_engine, mds[ARG_A], mds[ARG_B], mds[ARG_BIAS],
                                          mds[ARG_C], attr));
#else
    dnnl_matmul_desc_t desc;
    TRY(dnnl_matmul_desc_init(&desc, mds[ARG_A], mds[ARG_B], mds[ARG_BIAS], mds[ARG_C]));
    TRY(sdnnl_primitive_desc(&pd, &desc, NULL, NULL, NULL));
#endif
    /* plain descriptors in, the same out: the caller's bytes need no reorder */
    for (int i = 0; i < MM_MAX_ARGS; i++)
        if (mds[i]) TRY(dnnl_memory_create(&e->mem[i], mds[i], g_engine, DNNL_MEMORY_NONE));
done:
    if (attr) dnnl_primitive_attr_destroy(attr);
    for (int i = 0; i < MM_MAX_ARGS; i++) sdnnl_md_free(mds[i]);
    if (!pd) return st;
    return sdnnl_create_primitive(entry, pd, st, "matmul primitive");
}

/* What build_entry made besides the primitive and the scratchpad memory. */
static void release_entry(sdnnl_entry *entry) {
    mm_entry_t *e = (mm_entry_t *)entry;
    for (int i = 0; i < MM_MAX_ARGS; i++)
        if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
}

static sdnnl_cache g_mm = SDNNL_CACHE(mm_entry_t, cfg, build_entry, release_entry);

/* The cached entry for (configuration, thread count), built on a miss. Lock held. */
static dnnl_status_t lookup(mm_entry_t **out, const smatmul_cfg *cfg) {
    g_err[0] = 0;
    if (cfg->m < 1 || cfg->k < 1 || cfg->n < 1) {
        snprintf(g_err, sizeof g_err, "expected M, K, N >= 1, got %lld, %lld, %lld",
                 (long long)cfg->m, (long long)cfg->k, (long long)cfg->n);
        return dnnl_invalid_arguments;
    }
    smatmul_cfg key = *cfg;  /* flags as 0 / 1, so equal products compare equal */
    key.trans_a = key.trans_a != 0;
    key.trans_b = key.trans_b != 0;
    key.with_bias = key.with_bias != 0;
    CHECK(sdnnl_engine());
    int nthreads = sdnnl_threads();
#if SCONV_HAVE_OMP
    if (nthreads > 1 && key.m * key.k * key.n <= SMALL_PRODUCT) {
        omp_set_num_threads(1);  /* for this call only: the entry points set it back */
        nthreads = 1;
    }
#endif
    sdnnl_entry *e;
    dnnl_status_t st = sdnnl_cache_lookup(&g_mm, &e, 0, nthreads, &key, sizeof key);
    *out = (mm_entry_t *)e;
    return st;
}

static dnnl_status_t execute(mm_entry_t *e, void *const *ptrs) {
    dnnl_exec_arg_t args[MM_MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < MM_MAX_ARGS; i++) {
        if (!e->mem[i]) continue;
        if (!ptrs[i]) {
            snprintf(g_err, sizeof g_err, "matmul argument %d is needed but NULL", i);
            return dnnl_invalid_arguments;
        }
        CHECK(dnnl_memory_set_data_handle(e->mem[i], ptrs[i]));
        args[n].arg = mm_arg_ids[i];
        args[n++].memory = e->mem[i];
    }
    RETURN_IF_FAILED(sdnnl_execute((sdnnl_entry *)e, args, n));
    CHECK(dnnl_stream_wait(g_stream));
    return dnnl_success;
}

/* ---- the entry points (return a dnnl_status_t; 0 = success, else see sconv_last_error) ---- */

/* c = op(a) op(b) + bias: a (M, K) or, with trans_a, its (K, M) transpose; b (K, N) or, with
 * trans_b, its (N, K) transpose; bias (N,) (NULL unless with_bias); c (M, N). All row-major
 * float32; c must not overlap the inputs. */
int smatmul(const smatmul_cfg *c, const void *a, const void *b, const void *bias, void *out) {
    void *ptrs[MM_MAX_ARGS] = {(void *)a, (void *)b, (void *)bias, out};
    mm_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, c);
    if (st == dnnl_success) st = execute(e, ptrs);
    sdnnl_threads();  /* the configured count again, were it lowered for a small product */
    pthread_mutex_unlock(&g_lock);
    return (int)st;
}

/* The name of the implementation oneDNN chose for this product (building and caching the
 * primitive if needed), e.g. "brg:avx512_core" or "gemm:jit"; NULL on error. */
const char *smatmul_impl_name(const smatmul_cfg *c) {
    mm_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, c);
    sdnnl_threads();
    pthread_mutex_unlock(&g_lock);
    return st == dnnl_success ? e->impl : NULL;
}

/* Cache statistics: entries, hits, misses. */
void smatmul_cache_info(long *entries, long *hits, long *misses) {
    sdnnl_cache_info(&g_mm, entries, hits, misses);
}

void smatmul_cache_clear(void) {
    pthread_mutex_lock(&g_lock);
    sdnnl_cache_clear(&g_mm);
    pthread_mutex_unlock(&g_lock);
}
