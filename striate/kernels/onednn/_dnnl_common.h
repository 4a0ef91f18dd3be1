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
#include <stdio.h>

#if DNNL_VERSION_MAJOR != 2
/* All files use oneDNN 2.x's op-descriptor API (dnnl_*_desc_init + dnnl_primitive_desc_create),
 * replaced in 3.0 by dnnl_*_primitive_desc_create. Without the extension Striate still installs
 * and runs on its reference kernels. */
#error "striate: the oneDNN kernels are written for oneDNN 2.x (op-descriptor API)"
#endif

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
/* Destroy every entry and reset the counters. */
SDNNL_HIDDEN void sdnnl_cache_clear(sdnnl_cache *cache);
/* A primitive descriptor with the scratchpad in user mode (hint: NULL or the forward's). */
SDNNL_HIDDEN dnnl_status_t sdnnl_primitive_desc(dnnl_primitive_desc_t *pd,
                                                const_dnnl_op_desc_t desc,
                                                const_dnnl_primitive_desc_t hint);
/* The same with post-ops (NULL: none) in the attributes. */
SDNNL_HIDDEN dnnl_status_t sdnnl_primitive_desc_post_ops(dnnl_primitive_desc_t *pd,
                                                         const_dnnl_op_desc_t desc,
                                                         const_dnnl_primitive_desc_t hint,
                                                         const_dnnl_post_ops_t post_ops);
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

#endif
