/* oneDNN convolution kernels for Striate's CPU path, loaded from Python with ctypes.
 *
 * Three entry points compute what the reference convolution in striate/functional/conv.py
 * computes, on channels-last activations and PyTorch-layout weights:
 *
 *   sconv_forward           y  = conv(x, w) + b          x (N, *IN, C)   -> y  (N, *OUT, K)
 *                           then y += z when asked (z shaped as y: a residual), as oneDNN's
 *                           binary add post-op, in the same pass over y
 *   sconv_backward_data     gx = conv^T(gy, w)          gy (N, *OUT, K) -> gx (N, *IN, C)
 *   sconv_backward_weights  gw = corr(x, gy), gb = sum gy              -> gw (K, C/G, *KER)
 *
 * (*IN, *OUT, *KER are 1, 2 or 3 spatial sizes; weights are (K, C/G, *KER), i.e. oneDNN's oiw /
 * oihw / oidhw, seen as goiw / goihw / goidhw when G > 1: the same bytes.) oneDNN runs on its own
 * blocked weights layout, reordered from / to the caller's at each call (see
 * make_weights_reorder); gb is summed apart (see bias_gradient).
 *
 * A primitive is created once per configuration and thread count and kept in a small cache (an
 * sdnnl_cache, _dnnl_common.c, as the other files keep theirs); one engine, one stream and one
 * scratchpad serve them all, and the batch normalisation and pooling primitives of _dnnl_ops.c
 * too (_dnnl_common.h). A mutex serialises the calls (oneDNN
 * already spreads each one over all its OpenMP threads), and Python's ctypes releases the GIL
 * around each call. No Python header is needed: this is a plain shared library.
 *
 * float32 only: oneDNN has no float64 convolution on the CPU (float64 stays on the reference
 * kernels). Builds against oneDNN 2.x and 3.x: make_primitive_desc() has a branch for each API
 * (_dnnl_common.h says how they differ).
 */
#include "_dnnl_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One convolution, as Python describes it (all int64 so the struct has no padding and can be
 * compared with memcmp). Dilation is PyTorch's: 1 = dense. */
typedef struct {
    int64_t nsp;                   /* spatial dimensions: 1, 2 or 3 */
    int64_t n, c, k, groups;       /* batch, input channels, output channels, groups */
    int64_t in[3], ker[3], out[3]; /* spatial sizes (first nsp used, the rest 0) */
    int64_t stride[3], dilation[3], pad_l[3], pad_r[3];
    int64_t with_bias;             /* forward: add b; backward-weights: also compute gb */
    int64_t post_add;              /* forward only: then y += z */
    char impl[56];                 /* the implementation to run, by name (empty: oneDNN's
                                      choice); NUL-padded, compared with the rest */
} sconv_cfg;

enum { KIND_FWD = 0, KIND_BWD_DATA = 1, KIND_BWD_WEIGHTS = 2 };
#define MAX_ARGS 5
#define ARG_ADDEND (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1) /* z of y += z */

/* A cached primitive with the memory objects it runs on. The user's pointers are attached with
 * dnnl_memory_set_data_handle at each call. */
typedef struct {
    SDNNL_ENTRY_HEAD               /* kind, nthreads, prim, scratchpad, impl (_dnnl_common.h) */
    sconv_cfg cfg;
    int nargs, weights_slot;       /* weights_slot: index of the weights argument */
    int arg_ids[MAX_ARGS];
    dnnl_memory_t mem[MAX_ARGS];
    /* when oneDNN's weights layout is not the user's: the reorder between them, the user's
     * memory (mem[weights_slot] is then the internal one, in wbuf) */
    dnnl_primitive_t wreorder;
    dnnl_memory_t wuser;
    void *wbuf;
} entry_t;

pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
dnnl_engine_t g_engine;
dnnl_stream_t g_stream;
static void *g_scratch;
static size_t g_scratch_bytes;
static int g_nthreads;             /* 0: the OpenMP default */
static int g_default_threads;      /* the OpenMP default, read at the first call */
__thread char g_err[512];

const char *sconv_last_error(void) { return g_err; }

/* Activations (N, C, *S) stored channels-last: nwc / nhwc / ndhwc. */
static dnnl_status_t activation_md(sdnnl_md *md, const sconv_cfg *c, int64_t ch,
                                   const int64_t *sp) {
    static const dnnl_format_tag_t tags[4] = {0, dnnl_nwc, dnnl_nhwc, dnnl_ndhwc};
    dnnl_dims_t dims = {c->n, ch};
    for (int i = 0; i < c->nsp; i++) dims[2 + i] = sp[i];
    return sdnnl_md_tag(md, 2 + (int)c->nsp, dims, tags[c->nsp]);
}

/* Weights (K, C/G, *KER) as PyTorch stores them; with groups the same bytes are
 * (G, K/G, C/G, *KER). any: let the primitive choose. */
static dnnl_status_t weights_md(sdnnl_md *md, const sconv_cfg *c, int any) {
    static const dnnl_format_tag_t plain[4] = {0, dnnl_oiw, dnnl_oihw, dnnl_oidhw};
    static const dnnl_format_tag_t grouped[4] = {0, dnnl_goiw, dnnl_goihw, dnnl_goidhw};
    dnnl_dims_t dims;
    int nd = 0;
    if (c->groups > 1) dims[nd++] = c->groups;
    dims[nd++] = c->k / c->groups;
    dims[nd++] = c->c / c->groups;
    for (int i = 0; i < c->nsp; i++) dims[nd++] = c->ker[i];
    dnnl_format_tag_t tag = any ? dnnl_format_tag_any
                                : (c->groups > 1 ? grouped : plain)[c->nsp];
    return sdnnl_md_tag(md, nd, dims, tag);
}

static dnnl_status_t bias_md(sdnnl_md *md, const sconv_cfg *c) {
    dnnl_dims_t dims = {c->k};
    return sdnnl_md_tag(md, 1, dims, dnnl_a);
}

/* The descriptor of one kind of convolution; backward kinds need the forward one as a hint. */
/* pick: which implementation (NULL: c->impl, or oneDNN's first choice when that is empty). */
static dnnl_status_t make_primitive_desc(dnnl_primitive_desc_t *pd, int kind, const sconv_cfg *c,
                                         const sdnnl_pick *pick) {
    dnnl_status_t st;
    char name[sizeof c->impl + 1];
    memcpy(name, c->impl, sizeof c->impl);
    name[sizeof c->impl] = 0;
    sdnnl_pick by_name = {name, 0};
    if (!pick) pick = &by_name;
    *pd = NULL;
    sdnnl_md src = NULL, dst = NULL, wei = NULL, bia = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_primitive_attr_t attr = NULL;  /* 3.x: scratchpad mode and post-ops (2.x: inside) */
    dnnl_dims_t strides, dilates, pad_l, pad_r;
    for (int i = 0; i < c->nsp; i++) {
        strides[i] = c->stride[i];
        dilates[i] = c->dilation[i] - 1; /* oneDNN counts the gaps: 0 = dense */
        pad_l[i] = c->pad_l[i];
        pad_r[i] = c->pad_r[i];
    }
    TRY(activation_md(&src, c, c->c, c->in));
    TRY(activation_md(&dst, c, c->k, c->out));
    TRY(weights_md(&wei, c, 1));
    if (c->with_bias) TRY(bias_md(&bia, c));
    if (kind == KIND_FWD && c->post_add) {
        TRY(dnnl_post_ops_create(&po));
        TRY(dnnl_post_ops_append_binary(po, dnnl_binary_add, dst));
    }
#if DNNL_VERSION_MAJOR >= 3
    TRY(sdnnl_attr(&attr, po));
    if (kind == KIND_FWD) {
        TRY(dnnl_convolution_forward_primitive_desc_create(
            pd, g_engine, dnnl_forward_training, dnnl_convolution_direct, src, wei, bia, dst,
            strides, dilates, pad_l, pad_r, attr));
        TRY(sdnnl_pick_impl(*pd, pick));
    } else {
        TRY(dnnl_convolution_forward_primitive_desc_create(
            &hint, g_engine, dnnl_forward_training, dnnl_convolution_direct, src, wei, bia, dst,
            strides, dilates, pad_l, pad_r, NULL));
        if (kind == KIND_BWD_DATA)
            TRY(dnnl_convolution_backward_data_primitive_desc_create(
                pd, g_engine, dnnl_convolution_direct, src, wei, dst, strides, dilates, pad_l,
                pad_r, hint, attr));
        else  /* gb: bias_gradient() */
            TRY(dnnl_convolution_backward_weights_primitive_desc_create(
                pd, g_engine, dnnl_convolution_direct, src, wei, NULL, dst, strides, dilates,
                pad_l, pad_r, hint, attr));
        TRY(sdnnl_pick_impl(*pd, pick));
    }
#else
    dnnl_convolution_desc_t fwd_d, bwd_d;
    TRY(dnnl_dilated_convolution_forward_desc_init(
        &fwd_d, dnnl_forward_training, dnnl_convolution_direct, src, wei, bia, dst, strides,
        dilates, pad_l, pad_r));
    if (kind == KIND_FWD) {
        TRY(sdnnl_primitive_desc(pd, &fwd_d, NULL, po, pick));
    } else {
        TRY(dnnl_primitive_desc_create(&hint, &fwd_d, NULL, g_engine, NULL));
        if (kind == KIND_BWD_DATA)
            TRY(dnnl_dilated_convolution_backward_data_desc_init(
                &bwd_d, dnnl_convolution_direct, src, wei, dst, strides, dilates, pad_l, pad_r));
        else  /* gb: bias_gradient() */
            TRY(dnnl_dilated_convolution_backward_weights_desc_init(
                &bwd_d, dnnl_convolution_direct, src, wei, NULL, dst, strides, dilates, pad_l,
                pad_r));
        TRY(sdnnl_primitive_desc(pd, &bwd_d, hint, NULL, pick));
    }
#endif
done:
    if (st != dnnl_success && *pd) {  /* 3.x: made, then no implementation number c->impl */
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (hint) dnnl_primitive_desc_destroy(hint);
    if (po) dnnl_post_ops_destroy(po);
    sdnnl_md_free(src);
    sdnnl_md_free(dst);
    sdnnl_md_free(wei);
    sdnnl_md_free(bia);
    return st;
}

/* The arguments of each kind, in the order the entry points pass their pointers. */
static void argument_list(entry_t *e) {
    const sconv_cfg *c = &e->cfg;
    int n = 0;
    if (e->kind == KIND_FWD) {
        e->arg_ids[n++] = DNNL_ARG_SRC;
        e->weights_slot = n;
        e->arg_ids[n++] = DNNL_ARG_WEIGHTS;
        if (c->with_bias) e->arg_ids[n++] = DNNL_ARG_BIAS;
        e->arg_ids[n++] = DNNL_ARG_DST;
        if (c->post_add) e->arg_ids[n++] = ARG_ADDEND;
    } else if (e->kind == KIND_BWD_DATA) {
        e->arg_ids[n++] = DNNL_ARG_DIFF_DST;
        e->weights_slot = n;
        e->arg_ids[n++] = DNNL_ARG_WEIGHTS;
        e->arg_ids[n++] = DNNL_ARG_DIFF_SRC;
    } else {
        e->arg_ids[n++] = DNNL_ARG_SRC;
        e->arg_ids[n++] = DNNL_ARG_DIFF_DST;
        e->weights_slot = n;
        e->arg_ids[n++] = DNNL_ARG_DIFF_WEIGHTS;
    }
    e->nargs = n;
}

/* oneDNN's fast implementations want blocked weights (e.g. OIhw16i16o): with the plain layout
 * only its reference code runs. So the primitive picks its layout, and when that is not the user's
 * (K, C/G, *KER) array, a reorder converts the (small) weights at each call, in the direction
 * this kind needs, through a buffer owned by the entry. */
static dnnl_status_t make_weights_reorder(entry_t *e, const_dnnl_primitive_desc_t pd) {
    dnnl_status_t st;
    dnnl_primitive_desc_t rpd = NULL;
    sdnnl_md user = NULL;
    sdnnl_cmd internal = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md,
                                                      e->arg_ids[e->weights_slot]);
    TRY(weights_md(&user, &e->cfg, 0));
    if (dnnl_memory_desc_equal(user, internal)) goto done;
    TRY(dnnl_memory_create(&e->wuser, user, g_engine, DNNL_MEMORY_NONE));
    if (posix_memalign(&e->wbuf, 64, dnnl_memory_desc_get_size(internal) + 64) != 0) {
        e->wbuf = NULL;
        TRY(dnnl_out_of_memory);
    }
    TRY(dnnl_memory_set_data_handle(e->mem[e->weights_slot], e->wbuf));
    int to_user = e->kind == KIND_BWD_WEIGHTS;
    TRY(dnnl_reorder_primitive_desc_create(&rpd, to_user ? internal : user, g_engine,
                                           to_user ? user : internal, g_engine, NULL));
    TRY(dnnl_primitive_create(&e->wreorder, rpd));
done:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    sdnnl_md_free(user);
    return st;
}

static dnnl_status_t build_entry(sdnnl_entry *entry) {
    entry_t *e = (entry_t *)entry;
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = make_primitive_desc(&pd, e->kind, &e->cfg, NULL);
    if (st != dnnl_success) return st;

    argument_list(e);
    for (int i = 0; i < e->nargs && st == dnnl_success; i++)
        st = dnnl_memory_create(&e->mem[i],
                                dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md,
                                                             e->arg_ids[i]),
                                g_engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = make_weights_reorder(e, pd);
    return sdnnl_create_primitive(entry, pd, st, "primitive");
}

/* What build_entry made besides the primitive and the scratchpad memory. */
static void release_entry(sdnnl_entry *entry) {
    entry_t *e = (entry_t *)entry;
    if (e->wreorder) dnnl_primitive_destroy(e->wreorder);
    if (e->wuser) dnnl_memory_destroy(e->wuser);
    for (int i = 0; i < e->nargs; i++)
        if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
    free(e->wbuf);
}

static sdnnl_cache g_cache = SDNNL_CACHE(entry_t, cfg, build_entry, release_entry);

int sdnnl_threads(void) {
#if SCONV_HAVE_OMP
    /* OpenMP keeps the thread count per calling thread: set it for whichever thread calls. */
    if (!g_default_threads) g_default_threads = omp_get_max_threads();
    omp_set_num_threads(g_nthreads > 0 ? g_nthreads : g_default_threads);
    return omp_get_max_threads();
#else
    return 0;
#endif
}

dnnl_status_t sdnnl_engine(void) {
    if (!g_engine) {
        CHECK(dnnl_engine_create(&g_engine, dnnl_cpu, 0));
        CHECK(dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags));
    }
    return dnnl_success;
}

/* The cached entry for (kind, configuration, thread count), built on a miss. Lock held. */
/* The configuration a kind's primitive is made and cached for. */
static sconv_cfg cache_key(int kind, const sconv_cfg *config) {
    sconv_cfg key = *config;
    if (kind == KIND_BWD_WEIGHTS) key.with_bias = 0; /* gb is computed apart: one primitive */
    if (kind != KIND_FWD) key.post_add = 0; /* the post-op is the forward's */
    return key;
}

/* What every entry point checks first (g_err cleared, then set on failure). Lock held. */
static dnnl_status_t check_cfg(int kind, const sconv_cfg *c) {
    g_err[0] = 0;
    if (kind < KIND_FWD || kind > KIND_BWD_WEIGHTS || c->nsp < 1 || c->nsp > 3 ||
        c->groups < 1) {
        snprintf(g_err, sizeof g_err, "expected a pass 0 to 2, 1 to 3 spatial axes and groups "
                 ">= 1");
        return dnnl_invalid_arguments;
    }
    return sdnnl_engine();
}

static dnnl_status_t lookup(entry_t **out, int kind, const sconv_cfg *config) {
    sconv_cfg key = cache_key(kind, config);
    const sconv_cfg *c = &key;
    RETURN_IF_FAILED(check_cfg(kind, c));
    sdnnl_entry *e;
    dnnl_status_t st = sdnnl_cache_lookup(&g_cache, &e, kind, sdnnl_threads(), c, sizeof *c);
    *out = (entry_t *)e;
    return st;
}

/* One shared scratchpad, grown to the largest any primitive asked for. Lock held. */
dnnl_status_t sdnnl_scratchpad(dnnl_memory_t scratch_mem, size_t bytes) {
    if (bytes > g_scratch_bytes) {
        free(g_scratch);
        g_scratch = NULL;
        g_scratch_bytes = 0;
        if (posix_memalign(&g_scratch, 64, bytes) != 0) {
            snprintf(g_err, sizeof g_err, "scratchpad of %zu bytes: out of memory", bytes);
            return dnnl_out_of_memory;
        }
        g_scratch_bytes = bytes;
    }
    return dnnl_memory_set_data_handle(scratch_mem, g_scratch);
}

static dnnl_status_t execute(entry_t *e, void *const *ptrs) {
    dnnl_exec_arg_t args[MAX_ARGS + 1];
    for (int i = 0; i < e->nargs; i++) {
        int user_weights = e->wreorder && i == e->weights_slot;
        if (!user_weights) CHECK(dnnl_memory_set_data_handle(e->mem[i], ptrs[i]));
        args[i].arg = e->arg_ids[i];
        args[i].memory = e->mem[i];
    }

    dnnl_exec_arg_t wargs[2] = {{DNNL_ARG_FROM, NULL}, {DNNL_ARG_TO, NULL}};
    if (e->wreorder) {
        int to_user = e->kind == KIND_BWD_WEIGHTS;
        CHECK(dnnl_memory_set_data_handle(e->wuser, ptrs[e->weights_slot]));
        wargs[0].memory = to_user ? e->mem[e->weights_slot] : e->wuser;
        wargs[1].memory = to_user ? e->wuser : e->mem[e->weights_slot];
        if (!to_user) CHECK(dnnl_primitive_execute(e->wreorder, g_stream, 2, wargs));
    }
    RETURN_IF_FAILED(sdnnl_execute((sdnnl_entry *)e, args, e->nargs));
    if (e->wreorder && e->kind == KIND_BWD_WEIGHTS)
        CHECK(dnnl_primitive_execute(e->wreorder, g_stream, 2, wargs));
    CHECK(dnnl_stream_wait(g_stream));
    return dnnl_success;
}

/* gb[j] = sum of column j of gy, a (rows, k) row-major array. oneDNN 2.6 can compute it inside
 * backward-weights, but this separate pass measured faster on most layers (0.14 vs 0.3 ms at
 * 32 channels 14x14, 1.2 vs 2.7 ms for 3->64 at 32x32, batch 128; 0.25 vs 0.16 ms at 16 channels
 * 28x28). Each OpenMP thread sums its share of the rows, m rows at a time (m*k >= 64 values, so
 * the inner loop vectorises even for a few channels), in float over <= 64 blocks, then in double.
 * Lock held. */
static dnnl_status_t bias_gradient(const float *gy, float *gb, int64_t rows, int64_t k) {
    int64_t m = k >= 64 ? 1 : (64 + k - 1) / k, width = m * k;
#if SCONV_HAVE_OMP
    int nthreads = omp_get_max_threads();
#else
    int nthreads = 1;
#endif
    double *partial = calloc((size_t)nthreads * width, sizeof(double));
    float *chunks = malloc((size_t)nthreads * width * sizeof(float));
    if (!partial || !chunks) {
        free(partial);
        free(chunks);
        snprintf(g_err, sizeof g_err, "bias gradient: out of memory");
        return dnnl_out_of_memory;
    }
#pragma omp parallel num_threads(nthreads)
    {
#if SCONV_HAVE_OMP
        int t = omp_get_thread_num();
#else
        int t = 0;
#endif
        int64_t blocks = rows / m, lo = blocks * t / nthreads, hi = blocks * (t + 1) / nthreads;
        double *acc = partial + (size_t)t * width;
        float *chunk = chunks + (size_t)t * width;
        for (int64_t r0 = lo; r0 < hi; r0 += 64) {  /* float sums of <= 64 blocks, then double */
            int64_t r1 = r0 + 64 < hi ? r0 + 64 : hi;
            for (int64_t j = 0; j < width; j++) chunk[j] = 0;
            for (int64_t r = r0; r < r1; r++) {
                const float *block = gy + r * width;
                for (int64_t j = 0; j < width; j++) chunk[j] += block[j];
            }
            for (int64_t j = 0; j < width; j++) acc[j] += chunk[j];
        }
        if (t == nthreads - 1)
            for (int64_t r = blocks * m; r < rows; r++)
                for (int64_t j = 0; j < k; j++) acc[j] += gy[r * k + j];
    }
    for (int64_t j = 0; j < k; j++) {
        double sum = 0;
        for (int64_t i = 0; i < (int64_t)nthreads * m; i++) sum += partial[i * k + j];
        gb[j] = (float)sum;
    }
    free(partial);
    free(chunks);
    return dnnl_success;
}

static int run(int kind, const sconv_cfg *c, void *const *ptrs) {
    entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, kind, c);
    if (st == dnnl_success) st = execute(e, ptrs);
    pthread_mutex_unlock(&g_lock);
    return (int)st;
}

/* ---- the entry points (return a dnnl_status_t; 0 = success, else see sconv_last_error) ---- */

/* z: the addend of the post_add post-op (stored as y), else ignored. */
int sconv_forward(const sconv_cfg *c, const void *x, const void *w, const void *b, void *y,
                  const void *z) {
    void *ptrs[MAX_ARGS] = {(void *)x, (void *)w};
    int n = 2;
    if (c->with_bias) ptrs[n++] = (void *)b;
    ptrs[n++] = y;
    if (c->post_add) ptrs[n] = (void *)z;
    return run(KIND_FWD, c, ptrs);
}

int sconv_backward_data(const sconv_cfg *c, const void *gy, const void *w, void *gx) {
    void *ptrs[MAX_ARGS] = {(void *)gy, (void *)w, gx};
    return run(KIND_BWD_DATA, c, ptrs);
}

int sconv_backward_weights(const sconv_cfg *c, const void *x, const void *gy, void *gw, void *gb) {
    void *ptrs[MAX_ARGS] = {(void *)x, (void *)gy, gw};
    int st = run(KIND_BWD_WEIGHTS, c, ptrs);
    if (st != dnnl_success || !c->with_bias) return st;
    int64_t rows = c->n;
    for (int i = 0; i < c->nsp; i++) rows *= c->out[i];
    pthread_mutex_lock(&g_lock);
    sdnnl_threads();
    st = bias_gradient(gy, gb, rows, c->k);
    pthread_mutex_unlock(&g_lock);
    return st;
}

/* The name of the implementation oneDNN chose for this kind and configuration (building and
 * caching the primitive if needed), or NULL on error. */
const char *sconv_impl_name(int kind, const sconv_cfg *c) {
    entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, kind, c);
    pthread_mutex_unlock(&g_lock);
    return st == dnnl_success ? e->impl : NULL;
}

/* ---- choosing among oneDNN's implementations (striate/kernels/onednn/tuning.py) ---- */

/* Whether buf (lines, each ended by '\n') has the line name. */
static int has_line(const char *buf, const char *name, size_t len) {
    for (const char *line = buf; *line; line = strchr(line, '\n') + 1)
        if (!strncmp(line, name, len) && line[len] == '\n') return 1;
    return 0;
}

/* The names of the implementations oneDNN has for this kind and configuration (c->impl is
 * ignored), in its order of preference, each once, each followed by '\n', into buf (cap bytes,
 * NUL-ended; names that do not fit are left out). Returns how many it wrote, or -1 on error. */
int sconv_candidates(int kind, const sconv_cfg *config, char *buf, int64_t cap) {
    sconv_cfg key = cache_key(kind, config);  /* what lookup() would build */
    const sconv_cfg *c = &key;
    int count = 0;
    size_t used = 0;
    buf[0] = 0;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = check_cfg(kind, c);
    for (sdnnl_pick pick = {"", 0}; st == dnnl_success; pick.index++) {
        dnnl_primitive_desc_t pd;
        st = make_primitive_desc(&pd, kind, c, &pick);
        if (st != dnnl_success) break;
        const char *name = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
        size_t len = name ? strlen(name) : 0;
        /* each once, and only names that fit the configuration's field */
        if (len > 0 && len < sizeof c->impl && !has_line(buf, name, len) &&
            used + len + 2 <= (size_t)cap) {
            memcpy(buf + used, name, len);
            buf[used + len] = '\n';
            buf[used + len + 1] = 0;
            used += len + 1;
            count++;
        }
        dnnl_primitive_desc_destroy(pd);
    }
    if (count > 0) g_err[0] = 0;  /* the walk ends with "no implementation number ..." */
    pthread_mutex_unlock(&g_lock);
    return count > 0 ? count : -1;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Time this kind and configuration (with its c->impl) on zero-filled buffers of its own: one
 * untimed call, then the fastest of reps calls, in milliseconds, into *best_ms. The primitive
 * is built and cached as by a real call. */
int sconv_time(int kind, const sconv_cfg *c, int reps, double *best_ms) {
    entry_t *e;
    void *bufs[MAX_ARGS] = {NULL};
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, kind, c);
    for (int i = 0; st == dnnl_success && i < e->nargs; i++) {
        int user_weights = e->wreorder && i == e->weights_slot;
        sdnnl_cmd md;
        st = dnnl_memory_get_memory_desc(user_weights ? e->wuser : e->mem[i], &md);
        if (st != dnnl_success) break;
        size_t bytes = dnnl_memory_desc_get_size(md);
        if (posix_memalign(&bufs[i], 64, bytes + 64) != 0) {
            bufs[i] = NULL;
            st = dnnl_out_of_memory;
            break;
        }
        memset(bufs[i], 0, bytes + 64);
    }
    double best = 1e30;
    for (int r = 0; st == dnnl_success && r <= reps; r++) {
        double t0 = seconds();
        st = execute(e, bufs);
        double t = seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    for (int i = 0; i < MAX_ARGS; i++) free(bufs[i]);
    pthread_mutex_unlock(&g_lock);
    *best_ms = best * 1e3;
    return (int)st;
}

/* Forget the cached primitive of this kind and configuration, if any (tuning drops the
 * implementations it did not choose). Returns 1 if one was dropped. */
int sconv_cache_drop(int kind, const sconv_cfg *config) {
    sconv_cfg key = cache_key(kind, config);
    pthread_mutex_lock(&g_lock);
    int dropped = sdnnl_cache_drop(&g_cache, kind, sdnnl_threads(), &key, sizeof key);
    pthread_mutex_unlock(&g_lock);
    return dropped;
}

/* Cache statistics: entries, hits, misses. */
void sconv_cache_info(long *entries, long *hits, long *misses) {
    sdnnl_cache_info(&g_cache, entries, hits, misses);
}

void sconv_cache_clear(void) {
    pthread_mutex_lock(&g_lock);
    sdnnl_cache_clear(&g_cache);
    free(g_scratch);
    g_scratch = NULL;
    g_scratch_bytes = 0;
    pthread_mutex_unlock(&g_lock);
}

/* OpenMP threads for later calls (n <= 0: back to the default); returns -1 when oneDNN was not
 * built on OpenMP. Primitives are cached per thread count, since oneDNN plans its work split
 * when it creates one. */
int sconv_set_num_threads(int n) {
    pthread_mutex_lock(&g_lock);
    g_nthreads = n > 0 ? n : 0;
    pthread_mutex_unlock(&g_lock);
    return SCONV_HAVE_OMP ? 0 : -1;
}

int sconv_get_num_threads(void) {
    pthread_mutex_lock(&g_lock);
    int n = sdnnl_threads();
    pthread_mutex_unlock(&g_lock);
    return n;
}

void sconv_version(int *major, int *minor, int *patch) {
    const dnnl_version_t *v = dnnl_version();
    *major = v->major;
    *minor = v->minor;
    *patch = v->patch;
}
