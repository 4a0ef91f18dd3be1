/* oneDNN batch normalisation and pooling kernels for Striate's CPU path, loaded from Python with
 * ctypes. They compute what the reference ops in striate/functional/normalization.py and
 * pooling.py compute; this file is compiled into the same library as _dnnl_conv.c and shares its
 * engine, stream, scratchpad and lock (_dnnl_common.h).
 *
 * Batch normalisation, per channel c over its m = N * (spatial size) values of x:
 *
 *   sbnorm_forward, training    mu = (1/m) sum x,  var = (1/m) sum (x - mu)^2  (biased),
 *                               x_hat = (x - mu) / sigma,  sigma = sqrt(var + eps),
 *                               y = gamma * x_hat + beta;           outputs y, mu, var
 *   sbnorm_forward, inference   the same y from the given mu and var (SBN_GLOBAL_STATS)
 *   sbnorm_backward             g_gamma = sum gy * x_hat,  g_beta = sum gy,
 *                               gx = (gamma / sigma) * (gy - (g_beta + x_hat * g_gamma) / m)
 *                               (with global statistics mu and var are constants: gx = gamma /
 *                               sigma * gy)
 *
 * gamma and beta are oneDNN's separate scale and shift arrays (SBN_SCALE and SBN_SHIFT, Striate's
 * own bits, mapped onto the loaded version's dnnl_use_scale and dnnl_use_shift), each optional:
 * absent, they are 1 and 0 (and have no gradient).
 *
 * Pooling, per channel plane and spatial axis, with kernel K, stride S, dilation D (PyTorch's:
 * 1 = dense) and padding p_l before, p_r after the input:
 *
 *   spool_forward   max   y[o] = max over the in-bounds k of x[o*S + k*D - p_l]
 *                   avg   y[o] = (1/q) sum_k x[o*S + k*D - p_l]   (x = 0 outside the input),
 *                         q = K (include padding) or the number of in-bounds k (exclude padding)
 *   spool_backward  max   gx[i] = sum of gy[o] over the windows o whose maximum (the first in
 *                         scan order) sits at i, read from the workspace the training forward
 *                         wrote (oneDNN records each window's winning offset there)
 *                   avg   gx[i] = sum of gy[o] / q[o] over the windows o that contain i
 *
 * Uneven padding (p_r != p_l) lets the caller express PyTorch's ceil_mode: the extra windows at the
 * end get the right padding they need.
 *
 * Data is (N, C, *S) with 0 to 3 spatial axes (pooling: 1 to 3) stored channels-last (nc / nwc /
 * nhwc / ndhwc) or channels-first (ncw / nchw / ncdhw); statistics and parameters are (C,) arrays.
 * float32 only. As in _dnnl_conv.c, a primitive is created once per configuration and thread count
 * and cached; every call holds the shared lock.
 */
#include "_dnnl_common.h"

#include <stdint.h>

/* One batch normalisation, as Python describes it (no padding bytes: compared with memcmp). */
typedef struct {
    int64_t nsp;           /* spatial dimensions: 0 to 3 */
    int64_t n, c;          /* batch, channels */
    int64_t sp[3];         /* spatial sizes (first nsp used, the rest 0) */
    int64_t channels_last; /* 1: nc / nwc / nhwc / ndhwc, 0: ncw / nchw / ncdhw */
    int64_t flags;         /* SBN_GLOBAL_STATS | SBN_SCALE | SBN_SHIFT (_dnnl_common.h) */
    double eps;
} sbnorm_cfg;

/* One pooling. alg: 0 max, 1 average including padding, 2 average excluding padding. */
typedef struct {
    int64_t nsp;           /* spatial dimensions: 1 to 3 */
    int64_t n, c;
    int64_t in[3], out[3];
    int64_t channels_last;
    int64_t alg;
    int64_t ker[3], stride[3], dilation[3], pad_l[3], pad_r[3];
} spool_cfg;

enum { BN_FWD = 0, BN_BWD = 1, POOL_FWD_TRAIN = 2, POOL_FWD_INFER = 3, POOL_BWD = 4 };
#define MAX_ARGS 10

/* The arguments of each kind, in the order the entry points pass their pointers. */
static const int bn_fwd_args[] = {DNNL_ARG_SRC, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE,
                                  DNNL_ARG_SHIFT, DNNL_ARG_DST, DNNL_ARG_WORKSPACE};
static const int bn_bwd_args[] = {DNNL_ARG_SRC, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
                                  DNNL_ARG_DIFF_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
                                  DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT,
                                  DNNL_ARG_WORKSPACE};
static const int pool_fwd_args[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE};
static const int pool_bwd_args[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WORKSPACE, DNNL_ARG_DIFF_SRC};

/* A cached primitive with the memory objects it runs on (mem[i] NULL where this configuration
 * does not use argument i, e.g. the scale without gamma or the workspace of average pooling). */
typedef struct {
    SDNNL_ENTRY_HEAD       /* kind, nthreads, prim, scratchpad, impl (_dnnl_common.h) */
    union {                /* the configuration, by kind (the cache compares the kind's bytes) */
        sbnorm_cfg bn;     /* of a BN_* kind */
        spool_cfg pool;    /* of a POOL_* kind */
    };
    int nargs;
    const int *arg_ids;
    dnnl_memory_t mem[MAX_ARGS];
    size_t workspace_bytes;
} op_entry_t;

/* (N, C, *S) data: channels last or first. */
static dnnl_status_t data_md(sdnnl_md *md, int64_t nsp, int64_t n, int64_t c, const int64_t *sp,
                             int64_t channels_last) {
    static const dnnl_format_tag_t last[4] = {dnnl_nc, dnnl_nwc, dnnl_nhwc, dnnl_ndhwc};
    static const dnnl_format_tag_t first[4] = {dnnl_nc, dnnl_ncw, dnnl_nchw, dnnl_ncdhw};
    dnnl_dims_t dims = {n, c};
    for (int i = 0; i < nsp; i++) dims[2 + i] = sp[i];
    return sdnnl_md_tag(md, 2 + (int)nsp, dims, (channels_last ? last : first)[nsp]);
}

/* Batch normalisation of prop kind prop: a forward, or (with hint) a backward. attr: 3.x's
 * attributes (2.x: NULL, sdnnl_primitive_desc makes them). */
static dnnl_status_t bnorm_pd(dnnl_primitive_desc_t *pd, dnnl_prop_kind_t prop,
                              const sbnorm_cfg *c, sdnnl_md data,
                              const_dnnl_primitive_desc_t hint,
                              const_dnnl_primitive_attr_t attr) {
    dnnl_status_t st;
    unsigned flags = sdnnl_bn_flags(c->flags);
    int backward = prop == dnnl_backward || prop == dnnl_backward_data;
    float eps = (float)c->eps;
#if DNNL_VERSION_MAJOR >= 3
    if (backward)
        TRY(dnnl_batch_normalization_backward_primitive_desc_create(
            pd, g_engine, prop, data, data, data, eps, flags, hint, attr));
    else
        TRY(dnnl_batch_normalization_forward_primitive_desc_create(pd, g_engine, prop, data,
                                                                   data, eps, flags, attr));
#else
    (void)attr;
    dnnl_batch_normalization_desc_t d;
    if (backward)
        TRY(dnnl_batch_normalization_backward_desc_init(&d, prop, data, data, eps, flags));
    else
        TRY(dnnl_batch_normalization_forward_desc_init(&d, prop, data, eps, flags));
    TRY(sdnnl_primitive_desc(pd, &d, hint, NULL, NULL));
#endif
done:
    return st;
}

/* Pooling: the forward of kind POOL_FWD_TRAIN or POOL_FWD_INFER, or (with hint) POOL_BWD. */
static dnnl_status_t pool_pd(dnnl_primitive_desc_t *pd, int kind, const spool_cfg *c,
                             sdnnl_md src, sdnnl_md dst, const_dnnl_primitive_desc_t hint,
                             const_dnnl_primitive_attr_t attr) {
    static const dnnl_alg_kind_t algs[3] = {dnnl_pooling_max, dnnl_pooling_avg_include_padding,
                                            dnnl_pooling_avg_exclude_padding};
    dnnl_status_t st;
    dnnl_dims_t strides, kernel, dilation, pad_l, pad_r;
    for (int i = 0; i < c->nsp; i++) {
        strides[i] = c->stride[i];
        kernel[i] = c->ker[i];
        dilation[i] = c->dilation[i] - 1; /* oneDNN counts the gaps: 0 = dense */
        pad_l[i] = c->pad_l[i];
        pad_r[i] = c->pad_r[i];
    }
    dnnl_prop_kind_t prop = kind == POOL_FWD_INFER ? dnnl_forward_inference
                                                   : dnnl_forward_training;
#if DNNL_VERSION_MAJOR >= 3
    if (kind == POOL_BWD)
        TRY(dnnl_pooling_backward_primitive_desc_create(pd, g_engine, algs[c->alg], src, dst,
                                                        strides, kernel, dilation, pad_l,
                                                        pad_r, hint, attr));
    else
        TRY(dnnl_pooling_forward_primitive_desc_create(pd, g_engine, prop, algs[c->alg], src,
                                                       dst, strides, kernel, dilation, pad_l,
                                                       pad_r, attr));
#else
    (void)attr;
    dnnl_pooling_v2_desc_t d;
    if (kind == POOL_BWD)
        TRY(dnnl_pooling_v2_backward_desc_init(&d, algs[c->alg], src, dst, strides, kernel,
                                               dilation, pad_l, pad_r));
    else
        TRY(dnnl_pooling_v2_forward_desc_init(&d, prop, algs[c->alg], src, dst, strides, kernel,
                                              dilation, pad_l, pad_r));
    TRY(sdnnl_primitive_desc(pd, &d, hint, NULL, NULL));
#endif
done:
    return st;
}

/* The descriptor of one kind; backward kinds need the training forward as a hint (it fixes the
 * workspace layout max pooling's backward reads). */
static dnnl_status_t make_primitive_desc(dnnl_primitive_desc_t *pd, const op_entry_t *e) {
    dnnl_status_t st;
    sdnnl_md src = NULL, dst = NULL;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int backward = e->kind == BN_BWD || e->kind == POOL_BWD;
#if DNNL_VERSION_MAJOR >= 3
    TRY(sdnnl_attr(&attr, NULL));
#endif
    if (e->kind == BN_FWD || e->kind == BN_BWD) {
        const sbnorm_cfg *c = &e->bn;
        int global = (c->flags & SBN_GLOBAL_STATS) != 0;
        int affine = (c->flags & (SBN_SCALE | SBN_SHIFT)) != 0;
        TRY(data_md(&src, c->nsp, c->n, c->c, c->sp, c->channels_last));
        if (backward) {
            /* dnnl_backward also computes g_gamma and g_beta; without either, gx alone */
            TRY(bnorm_pd(&hint, dnnl_forward_training, c, src, NULL, NULL));
            TRY(bnorm_pd(pd, affine ? dnnl_backward : dnnl_backward_data, c, src, hint, attr));
        } else {
            TRY(bnorm_pd(pd, global ? dnnl_forward_inference : dnnl_forward_training, c, src,
                         NULL, attr));
        }
    } else {
        const spool_cfg *c = &e->pool;
        TRY(data_md(&src, c->nsp, c->n, c->c, c->in, c->channels_last));
        TRY(data_md(&dst, c->nsp, c->n, c->c, c->out, c->channels_last));
        if (backward) TRY(pool_pd(&hint, POOL_FWD_TRAIN, c, src, dst, NULL, NULL));
        TRY(pool_pd(pd, e->kind, c, src, dst, hint, attr));
    }
done:
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (hint) dnnl_primitive_desc_destroy(hint);
    sdnnl_md_free(src);
    sdnnl_md_free(dst);
    return st;
}

/* Whether this entry's configuration uses argument id (the memory descriptors oneDNN reports for
 * unused arguments are not reliably empty, so this follows the flags). */
static int uses(const op_entry_t *e, int id, const_dnnl_primitive_desc_t pd) {
    switch (id) {
    case DNNL_ARG_SCALE: case DNNL_ARG_DIFF_SCALE: return (e->bn.flags & SBN_SCALE) != 0;
    case DNNL_ARG_SHIFT:
        /* 2.x's backward reads the shift (no gradient depends on it); 3.x's refuses it */
        if (DNNL_VERSION_MAJOR >= 3 && e->kind == BN_BWD) return 0;
        return (e->bn.flags & SBN_SHIFT) != 0;
    case DNNL_ARG_DIFF_SHIFT: return (e->bn.flags & SBN_SHIFT) != 0;
    case DNNL_ARG_WORKSPACE:
        return dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(
                   pd, dnnl_query_workspace_md, 0)) > 0;
    default: return 1;
    }
}

static dnnl_status_t build_entry(sdnnl_entry *entry) {
    op_entry_t *e = (op_entry_t *)entry;
    switch (e->kind) {
    case BN_FWD: e->arg_ids = bn_fwd_args, e->nargs = 7; break;
    case BN_BWD: e->arg_ids = bn_bwd_args, e->nargs = 10; break;
    case POOL_BWD: e->arg_ids = pool_bwd_args, e->nargs = 3; break;
    default: e->arg_ids = pool_fwd_args, e->nargs = 3; break;
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = make_primitive_desc(&pd, e);
    if (st != dnnl_success) return st;

    for (int i = 0; i < e->nargs && st == dnnl_success; i++)
        if (uses(e, e->arg_ids[i], pd))
            st = dnnl_memory_create(&e->mem[i],
                                    dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md,
                                                                 e->arg_ids[i]),
                                    g_engine, DNNL_MEMORY_NONE);
    e->workspace_bytes = dnnl_memory_desc_get_size(
        dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0));
    return sdnnl_create_primitive(entry, pd, st, "primitive");
}

/* What build_entry made besides the primitive and the scratchpad memory. */
static void release_entry(sdnnl_entry *entry) {
    op_entry_t *e = (op_entry_t *)entry;
    for (int i = 0; i < e->nargs; i++)
        if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
}

static sdnnl_cache g_ops = SDNNL_CACHE(op_entry_t, bn, build_entry, release_entry);

/* The cached entry for (kind, configuration, thread count), built on a miss. Lock held. */
static dnnl_status_t lookup(op_entry_t **out, int kind, const void *cfg) {
    g_err[0] = 0;
    if (kind < BN_FWD || kind > POOL_BWD) {
        snprintf(g_err, sizeof g_err, "unknown kind %d", kind);
        return dnnl_invalid_arguments;
    }
    if (kind < POOL_FWD_TRAIN ? ((const sbnorm_cfg *)cfg)->nsp < 0 ||
                                    ((const sbnorm_cfg *)cfg)->nsp > 3
                              : ((const spool_cfg *)cfg)->nsp < 1 ||
                                    ((const spool_cfg *)cfg)->nsp > 3 ||
                                    ((const spool_cfg *)cfg)->alg < 0 ||
                                    ((const spool_cfg *)cfg)->alg > 2) {
        snprintf(g_err, sizeof g_err, "expected 0 to 3 (pooling: 1 to 3) spatial axes and a "
                                      "pooling algorithm 0 to 2");
        return dnnl_invalid_arguments;
    }
    CHECK(sdnnl_engine());
    sdnnl_entry *e;
    dnnl_status_t st = sdnnl_cache_lookup(
        &g_ops, &e, kind, sdnnl_threads(), cfg,
        kind < POOL_FWD_TRAIN ? sizeof(sbnorm_cfg) : sizeof(spool_cfg));
    *out = (op_entry_t *)e;
    return st;
}

static dnnl_status_t execute(op_entry_t *e, void *const *ptrs) {
    dnnl_exec_arg_t args[MAX_ARGS + 1];
    int n = 0;
    for (int i = 0; i < e->nargs; i++) {
        if (!e->mem[i]) continue;
        if (!ptrs[i]) {
            snprintf(g_err, sizeof g_err, "argument %d (oneDNN id %d) is needed but NULL", i,
                     e->arg_ids[i]);
            return dnnl_invalid_arguments;
        }
        CHECK(dnnl_memory_set_data_handle(e->mem[i], ptrs[i]));
        args[n].arg = e->arg_ids[i];
        args[n++].memory = e->mem[i];
    }
    RETURN_IF_FAILED(sdnnl_execute((sdnnl_entry *)e, args, n));
    CHECK(dnnl_stream_wait(g_stream));
    return dnnl_success;
}

static int run(int kind, const void *cfg, void *const *ptrs) {
    op_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, kind, cfg);
    if (st == dnnl_success) st = execute(e, ptrs);
    pthread_mutex_unlock(&g_lock);
    return (int)st;
}

/* ---- the entry points (return a dnnl_status_t; 0 = success, else see sconv_last_error) ---- */

/* Training (no SBN_GLOBAL_STATS in c->flags): writes y, mean and var. Inference: reads mean
 * and var, writes y. scale, shift: NULL unless SBN_SCALE / SBN_SHIFT. With SBN_FUSE_RELU, y is
 * relu(batch norm), and a training forward writes ws (see sbnorm_workspace_bytes), which the
 * backward reads. */
int sbnorm_forward(const sbnorm_cfg *c, const void *x, void *mean, void *var, const void *scale,
                   const void *shift, void *y, void *ws) {
    void *ptrs[MAX_ARGS] = {(void *)x, mean, var, (void *)scale, (void *)shift, y, ws};
    return run(BN_FWD, c, ptrs);
}

/* gx, and g_scale / g_shift with SBN_SCALE / SBN_SHIFT, from the forward's x, mean and
 * var (the batch's when training, the fixed ones with SBN_GLOBAL_STATS). oneDNN 2.6 takes
 * the shift as an input of the backward pass with dnnl_use_shift, though no gradient depends on
 * its values; 3.x does not (shift is then ignored). With SBN_FUSE_RELU, gy is the gradient of
 * relu(batch norm) and ws the forward's workspace. */
int sbnorm_backward(const sbnorm_cfg *c, const void *x, const void *mean, const void *var,
                    const void *gy, const void *scale, const void *shift, void *gx,
                    void *gscale, void *gshift, const void *ws) {
    void *ptrs[MAX_ARGS] = {(void *)x, (void *)mean, (void *)var, (void *)gy, (void *)scale,
                            (void *)shift, gx, gscale, gshift, (void *)ws};
    return run(BN_BWD, c, ptrs);
}

/* The bytes of workspace a training forward of this batch norm writes (0 without
 * SBN_FUSE_RELU). */
int sbnorm_workspace_bytes(const sbnorm_cfg *c, int64_t *bytes) {
    op_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, BN_FWD, c);
    pthread_mutex_unlock(&g_lock);
    *bytes = st == dnnl_success ? (int64_t)e->workspace_bytes : 0;
    return (int)st;
}

/* y from x; training max pooling also writes the workspace backward needs (see
 * spool_workspace_bytes; ws is ignored otherwise). */
int spool_forward(const spool_cfg *c, int training, const void *x, void *y, void *ws) {
    void *ptrs[MAX_ARGS] = {(void *)x, y, ws};
    return run(training ? POOL_FWD_TRAIN : POOL_FWD_INFER, c, ptrs);
}

/* gx from gy (and, for max pooling, the training forward's workspace). */
int spool_backward(const spool_cfg *c, const void *gy, const void *ws, void *gx) {
    void *ptrs[MAX_ARGS] = {(void *)gy, (void *)ws, gx};
    return run(POOL_BWD, c, ptrs);
}

/* The bytes of workspace a training forward of this pooling writes (0 for average pooling). */
int spool_workspace_bytes(const spool_cfg *c, int64_t *bytes) {
    op_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, POOL_FWD_TRAIN, c);
    pthread_mutex_unlock(&g_lock);
    *bytes = st == dnnl_success ? (int64_t)e->workspace_bytes : 0;
    return (int)st;
}

/* The name of the implementation oneDNN chose for this kind (BN_FWD .. POOL_BWD) and
 * configuration (an sbnorm_cfg or an spool_cfg), building it if needed; NULL on error. */
const char *sops_impl_name(int kind, const void *cfg) {
    op_entry_t *e;
    pthread_mutex_lock(&g_lock);
    dnnl_status_t st = lookup(&e, kind, cfg);
    pthread_mutex_unlock(&g_lock);
    return st == dnnl_success ? e->impl : NULL;
}

/* Cache statistics: entries, hits, misses. */
void sops_cache_info(long *entries, long *hits, long *misses) {
    sdnnl_cache_info(&g_ops, entries, hits, misses);
}

void sops_cache_clear(void) {
    pthread_mutex_lock(&g_lock);
    sdnnl_cache_clear(&g_ops);
    pthread_mutex_unlock(&g_lock);
}
