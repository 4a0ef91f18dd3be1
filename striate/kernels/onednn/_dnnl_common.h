/* What the C files of Striate's oneDNN extension share (_dnnl_conv.c defines it all).
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

/* Return the failing status from the enclosing function, the call and its error in g_err. */
#define CHECK(call)                                                                   \
    do {                                                                              \
        dnnl_status_t st_ = (call);                                                   \
        if (st_ != dnnl_success) {                                                    \
            snprintf(g_err, sizeof g_err, "%s failed: %s", #call, dnnl_status2str(st_)); \
            return st_;                                                               \
        }                                                                             \
    } while (0)

#endif
