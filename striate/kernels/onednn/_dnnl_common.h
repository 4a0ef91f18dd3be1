/* What the C files of Striate's oneDNN extension share (_dnnl_conv.c defines the globals, the
 * engine, the thread count and the scratchpad; _dnnl_common.c the primitive cache and helpers).
 *
 * One engine, one stream, one scratchpad and one mutex serve every primitive: the convolutions
 * of _dnnl_conv.c, the batch normalisation and pooling of _dnnl_ops.c and the matrix products of
 * _dnnl_matmul.c. Every call takes the lock (oneDNN already spreads each primitive over all its
 * OpenMP threads), so the globals below are only touched with it held. They are hidden: shared
 * between the files, not exported
 * from the library (Python sees only the entry points).
 */
#ifndef STRIATE_DNNL_COMMON_H
#define STRIATE_DNNL_COMMON_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* oneDNN 2.x and 3.x both build. Their C APIs differ in two ways, bridged here and in each file's
 * make_primitive_desc():
 *   - a memory descriptor is a struct in 2.x (initialised in place, passed by pointer) and a
 *     handle in 3.x (created, destroyed): sdnnl_md below is a pointer to one in either, made by
 *     sdnnl_md_tag / sdnnl_md_strides and freed by sdnnl_md_free;
 *   - 2.x describes an op in a struct (dnnl_*_desc_init) and makes its primitive descriptor with
 *     dnnl_primitive_desc_create; 3.x makes it in one call (dnnl_*_primitive_desc_create), with
 *     the attributes among the arguments.
 * Everything else Striate calls is the same in both. */
#if DNNL_VERSION_MAJOR != 2 && DNNL_VERSION_MAJOR != 3
#error "striate: the oneDNN kernels are written for oneDNN 2.x and 3.x"
#endif

#if DNNL_VERSION_MAJOR >= 3
typedef dnnl_memory_desc_t sdnnl_md;         /* a handle */
typedef const_dnnl_memory_desc_t sdnnl_cmd;  /* what queries return (owned by the primitive desc) */
#else
typedef dnnl_memory_desc_t *sdnnl_md;        /* a malloc'ed struct */
typedef const dnnl_memory_desc_t *sdnnl_cmd;
#endif

/* Batch normalisation flags as Python passes them (the same bits for every oneDNN version);
 * sdnnl_bn_flags turns them into the loaded version's dnnl_normalization_flags_t. */
enum { SBN_GLOBAL_STATS = 0x1, SBN_SCALE = 0x2, SBN_SHIFT = 0x4, SBN_FUSE_RELU = 0x8 };
static inline unsigned sdnnl_bn_flags(int64_t f) {
    return ((f & SBN_GLOBAL_STATS) ? dnnl_use_global_stats : 0) |
           ((f & SBN_SCALE) ? dnnl_use_scale : 0) | ((f & SBN_SHIFT) ? dnnl_use_shift : 0) |
           ((f & SBN_FUSE_RELU) ? dnnl_fuse_norm_relu : 0);
}

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#define SCONV_HAVE_OMP 1
#else
#define SCONV_HAVE_OMP 0
#endif

#define SDNNL_HIDDEN __attribute__((visibility("hidden")))

extern SDNNL_HIDDEN pthread_mutex_t g_lock;
extern SDNNL_HIDDEN dnnl_engine_t g_engine;   /* NULL until sdnnl_engine() */
extern SDNNL_HIDDEN dnnl_stream_t g_stream;
extern SDNNL_HIDDEN __thread char g_err[512]; /* the calling thread's last error message */

/* Lock held, for all three: */
SDNNL_HIDDEN dnnl_status_t sdnnl_engine(void);  /* create the engine and stream on first use */
SDNNL_HIDDEN int sdnnl_threads(void);  /* set the OpenMP thread count for this call, return it */
/* Point scratch_mem at the shared scratchpad, grown to at least bytes. */
SDNNL_HIDDEN dnnl_status_t sdnnl_scratchpad(dnnl_memory_t scratch_mem, size_t bytes);

/* ---- the primitive caches (_dnnl_common.c) ----
 *
 * Each file keeps its primitives in a cache of its own, one entry per (kind, configuration,
 * thread count): the configuration is the struct Python passes (int64s and doubles, no padding
 * bytes), compared with memcmp. A file's entry type begins with SDNNL_ENTRY_HEAD (as CPython's
 * objects begin with PyObject_HEAD), so the cache sees any entry as an sdnnl_entry; the file's own
 * fields follow, among them its configuration at cfg_offset. */
#define SDNNL_ENTRY_HEAD                                                                 \
    int kind, nthreads;                                                                  \
    dnnl_primitive_t prim;                                                               \
    dnnl_memory_t scratch_mem;  /* pointed at the shared scratchpad at each call */      \
    size_t scratch_bytes;                                                                \
    const char *impl;           /* implementation name, owned by prim */

typedef struct {
    SDNNL_ENTRY_HEAD
} sdnnl_entry;

typedef struct {
    size_t entry_size;          /* sizeof the file's entry type */
    size_t cfg_offset;          /* offsetof its configuration */
    /* The file's part of building a new entry (kind, nthreads and the configuration set, every
     * other field zero): its memory objects, then sdnnl_create_primitive. */
    dnnl_status_t (*build)(sdnnl_entry *e);
    /* Free the file's own fields of an entry built wholly, partly or not at all. */
    void (*release)(sdnnl_entry *e);
    sdnnl_entry **entries;
    int count, capacity;
    long hits, misses;
} sdnnl_cache;

/* A file's cache, for its entry type and the field holding the configuration. */
#define SDNNL_CACHE(type, cfg_field, build, release) \
    {sizeof(type), offsetof(type, cfg_field), (build), (release), NULL, 0, 0, 0, 0}

/* Lock held, unless said otherwise: */
/* The cached entry for (kind, configuration, thread count), built on a miss. */
SDNNL_HIDDEN dnnl_status_t sdnnl_cache_lookup(sdnnl_cache *cache, sdnnl_entry **out, int kind,
                                              int nthreads, const void *cfg, size_t cfg_size);
/* Destroy one entry, built wholly, partly or not at all (release, then the head's objects). */
SDNNL_HIDDEN void sdnnl_free_entry(const sdnnl_cache *cache, sdnnl_entry *e);
/* Entries, hits and misses (takes the lock). */
SDNNL_HIDDEN void sdnnl_cache_info(const sdnnl_cache *cache, long *entries, long *hits,
                                   long *misses);
/* Destroy the entry for (kind, configuration, thread count), if cached; 1 if there was one. */
SDNNL_HIDDEN int sdnnl_cache_drop(sdnnl_cache *cache, int kind, int nthreads, const void *cfg,
                                  size_t cfg_size);
/* Destroy every entry and reset the counters. */
SDNNL_HIDDEN void sdnnl_cache_clear(sdnnl_cache *cache);
/* Memory descriptors (NULL until made; sdnnl_md_free(NULL) does nothing): plain f32 data of nd
 * dims in a format tag, or with explicit strides. */
SDNNL_HIDDEN dnnl_status_t sdnnl_md_tag(sdnnl_md *md, int nd, const dnnl_dims_t dims,
                                        dnnl_format_tag_t tag);
SDNNL_HIDDEN dnnl_status_t sdnnl_md_strides(sdnnl_md *md, int nd, const dnnl_dims_t dims,
                                            const dnnl_dims_t strides);
SDNNL_HIDDEN void sdnnl_md_free(sdnnl_md md);
/* Primitive attributes with the scratchpad in user mode (each call attaches the shared one, see
 * sdnnl_execute) and the given post-ops (NULL: none); the caller destroys them. */
SDNNL_HIDDEN dnnl_status_t sdnnl_attr(dnnl_primitive_attr_t *attr, const_dnnl_post_ops_t post_ops);
/* Which of oneDNN's implementations a primitive descriptor is for: the first named name (when
 * name[0] != 0), else the index-th of oneDNN's list (0: the one it prefers). oneDNN 2.6 can list
 * one implementation twice (its iterator starts from a cached descriptor once a primitive of that
 * kind exists), so what is run is chosen by name; the index only walks the list. */
typedef struct {
    const char *name;
    int64_t index;
} sdnnl_pick;

#if DNNL_VERSION_MAJOR < 3
/* oneDNN 2.x: a primitive descriptor for an op descriptor, with sdnnl_attr's attributes (hint:
 * NULL, or the training forward's for a backward pass), for the implementation pick says
 * (NULL: oneDNN's first choice). */
SDNNL_HIDDEN dnnl_status_t sdnnl_primitive_desc(dnnl_primitive_desc_t *pd,
                                                const_dnnl_op_desc_t desc,
                                                const_dnnl_primitive_desc_t hint,
                                                const_dnnl_post_ops_t post_ops,
                                                const sdnnl_pick *pick);
#else
/* oneDNN 3.x: move pd (made for oneDNN's preferred implementation) on to the one pick says. */
SDNNL_HIDDEN dnnl_status_t sdnnl_pick_impl(dnnl_primitive_desc_t pd, const sdnnl_pick *pick);
#endif
/* The status a primitive descriptor fails with when oneDNN has no such implementation (an error
 * in g_err says so). */
#define SDNNL_NO_SUCH_IMPL dnnl_unimplemented
/* The end of a build, once the entry's memory objects are made (st: how that went): the
 * scratchpad memory, the primitive and its name, or an error about creating `what`; destroys pd. */
SDNNL_HIDDEN dnnl_status_t sdnnl_create_primitive(sdnnl_entry *e, dnnl_primitive_desc_t pd,
                                                  dnnl_status_t st, const char *what);
/* Execute e's primitive on args[0..nargs) and the shared scratchpad, appended as args[nargs]. */
SDNNL_HIDDEN dnnl_status_t sdnnl_execute(sdnnl_entry *e, dnnl_exec_arg_t *args, int nargs);

/* Return the failing status from the enclosing function, the call and its error in g_err. */
#define CHECK(call)                                                                   \
    do {                                                                              \
        dnnl_status_t st_ = (call);                                                   \
        if (st_ != dnnl_success) {                                                    \
            snprintf(g_err, sizeof g_err, "%s failed: %s", #call, dnnl_status2str(st_)); \
            return st_;                                                               \
        }                                                                             \
    } while (0)

/* Return the failing status of a call that has already put its error in g_err (which CHECK would
 * overwrite with its own). */
#define RETURN_IF_FAILED(call)                                                        \
    do {                                                                              \
        dnnl_status_t st_ = (call);                                                   \
        if (st_ != dnnl_success) return st_;                                          \
    } while (0)

/* The same inside a function with a cleanup label `done` and a dnnl_status_t st: set st and go
 * there (keeping an error a callee already put in g_err; each lookup clears it first). */
#define TRY(call)                                                                     \
    do {                                                                              \
        st = (call);                                                                  \
        if (st != dnnl_success) {                                                     \
            if (!g_err[0])                                                            \
                snprintf(g_err, sizeof g_err, "%s failed: %s", #call, dnnl_status2str(st)); \
            goto done;                                                                \
        }                                                                             \
    } while (0)

#endif
