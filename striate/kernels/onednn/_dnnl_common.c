/* The primitive cache and the primitive helpers that _dnnl_conv.c, _dnnl_ops.c and _dnnl_matmul.c
 * share (declared in _dnnl_common.h; the engine, stream, scratchpad and lock they use are defined
 * in _dnnl_conv.c). Everything here runs with g_lock held, unless it says otherwise.
 */
#include "_dnnl_common.h"

#include <stdlib.h>
#include <string.h>

/* The cached entry for (kind, configuration, thread count), built on a miss. */
dnnl_status_t sdnnl_cache_lookup(sdnnl_cache *cache, sdnnl_entry **out, int kind, int nthreads,
                                 const void *cfg, size_t cfg_size) {
    for (int i = 0; i < cache->count; i++) {
        sdnnl_entry *e = cache->entries[i];
        if (e->kind == kind && e->nthreads == nthreads &&
            !memcmp((const char *)e + cache->cfg_offset, cfg, cfg_size)) {
            cache->hits++;
            *out = e;
            return dnnl_success;
        }
    }
    cache->misses++;
    sdnnl_entry *e = calloc(1, cache->entry_size);
    if (!e) return dnnl_out_of_memory;
    e->kind = kind;
    e->nthreads = nthreads;
    memcpy((char *)e + cache->cfg_offset, cfg, cfg_size);
    dnnl_status_t st = cache->build(e);
    if (st == dnnl_success && cache->count == cache->capacity) {
        int cap = cache->capacity ? 2 * cache->capacity : 32;
        sdnnl_entry **grown = realloc(cache->entries, cap * sizeof *grown);
        if (!grown) st = dnnl_out_of_memory;
        else cache->entries = grown, cache->capacity = cap;
    }
    if (st != dnnl_success) {
        sdnnl_free_entry(cache, e);
        return st;
    }
    cache->entries[cache->count++] = e;
    *out = e;
    return dnnl_success;
}

/* Destroy an entry built wholly, partly or not at all (its file's fields first). */
void sdnnl_free_entry(const sdnnl_cache *cache, sdnnl_entry *e) {
    cache->release(e);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->scratch_mem) dnnl_memory_destroy(e->scratch_mem);
    free(e);
}

/* Cache statistics: entries, hits, misses. Takes the lock. */
void sdnnl_cache_info(const sdnnl_cache *cache, long *entries, long *hits, long *misses) {
    pthread_mutex_lock(&g_lock);
    *entries = cache->count;
    *hits = cache->hits;
    *misses = cache->misses;
    pthread_mutex_unlock(&g_lock);
}

int sdnnl_cache_drop(sdnnl_cache *cache, int kind, int nthreads, const void *cfg,
                     size_t cfg_size) {
    for (int i = 0; i < cache->count; i++) {
        sdnnl_entry *e = cache->entries[i];
        if (e->kind == kind && e->nthreads == nthreads &&
            !memcmp((const char *)e + cache->cfg_offset, cfg, cfg_size)) {
            sdnnl_free_entry(cache, e);
            cache->entries[i] = cache->entries[--cache->count];
            return 1;
        }
    }
    return 0;
}

/* Destroy every entry and reset the counters (the array of entries is kept for reuse). */
void sdnnl_cache_clear(sdnnl_cache *cache) {
    for (int i = 0; i < cache->count; i++) sdnnl_free_entry(cache, cache->entries[i]);
    cache->count = 0;
    cache->hits = cache->misses = 0;
}

dnnl_status_t sdnnl_md_tag(sdnnl_md *md, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
#if DNNL_VERSION_MAJOR >= 3
    return dnnl_memory_desc_create_with_tag(md, nd, dims, dnnl_f32, tag);
#else
    if (!(*md = malloc(sizeof **md))) return dnnl_out_of_memory;
    return dnnl_memory_desc_init_by_tag(*md, nd, dims, dnnl_f32, tag);
#endif
}

dnnl_status_t sdnnl_md_strides(sdnnl_md *md, int nd, const dnnl_dims_t dims,
                               const dnnl_dims_t strides) {
#if DNNL_VERSION_MAJOR >= 3
    return dnnl_memory_desc_create_with_strides(md, nd, dims, dnnl_f32, strides);
#else
    if (!(*md = malloc(sizeof **md))) return dnnl_out_of_memory;
    return dnnl_memory_desc_init_by_strides(*md, nd, dims, dnnl_f32, strides);
#endif
}

void sdnnl_md_free(sdnnl_md md) {
#if DNNL_VERSION_MAJOR >= 3
    if (md) dnnl_memory_desc_destroy(md);
#else
    free(md);
#endif
}

dnnl_status_t sdnnl_attr(dnnl_primitive_attr_t *attr, const_dnnl_post_ops_t post_ops) {
    CHECK(dnnl_primitive_attr_create(attr));
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && post_ops) st = dnnl_primitive_attr_set_post_ops(*attr, post_ops);
    if (st != dnnl_success) {
        snprintf(g_err, sizeof g_err, "primitive attributes: %s", dnnl_status2str(st));
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

static dnnl_status_t no_such_impl(const sdnnl_pick *pick) {
    if (pick->name && pick->name[0])
        snprintf(g_err, sizeof g_err, "oneDNN has no implementation %s for this primitive",
                 pick->name);
    else
        snprintf(g_err, sizeof g_err, "oneDNN has no implementation number %lld for this "
                 "primitive", (long long)pick->index);
    return SDNNL_NO_SUCH_IMPL;
}

/* Whether the implementation at position i, named name, is the one pick asks for. */
static int picked(const sdnnl_pick *pick, int64_t i, const_dnnl_primitive_desc_t pd) {
    if (!pick->name || !pick->name[0]) return i == pick->index;
    const char *name = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    return name && !strcmp(name, pick->name);
}

static int is_default(const sdnnl_pick *pick) {
    return !pick || ((!pick->name || !pick->name[0]) && pick->index == 0);
}

#if DNNL_VERSION_MAJOR < 3
dnnl_status_t sdnnl_primitive_desc(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                                   const_dnnl_primitive_desc_t hint,
                                   const_dnnl_post_ops_t post_ops, const sdnnl_pick *pick) {
    dnnl_primitive_attr_t attr;
    RETURN_IF_FAILED(sdnnl_attr(&attr, post_ops));
    dnnl_status_t st;
    if (is_default(pick)) {
        st = dnnl_primitive_desc_create(pd, desc, attr, g_engine, hint);
    } else {  /* walk oneDNN's list of implementations, in its order of preference */
        dnnl_primitive_desc_iterator_t it = NULL;
        *pd = NULL;
        st = dnnl_primitive_desc_iterator_create(&it, desc, attr, g_engine, hint);
        for (int64_t i = 0; st == dnnl_success; i++) {
            dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
            if (!cand) {
                st = dnnl_out_of_memory;
                break;
            }
            if (picked(pick, i, cand)) {
                *pd = cand;
                break;
            }
            dnnl_primitive_desc_destroy(cand);
            if (dnnl_primitive_desc_iterator_next(it) != dnnl_success) st = no_such_impl(pick);
        }
        if (it) dnnl_primitive_desc_iterator_destroy(it);
    }
    dnnl_primitive_attr_destroy(attr);
    return st;
}
#else
dnnl_status_t sdnnl_pick_impl(dnnl_primitive_desc_t pd, const sdnnl_pick *pick) {
    if (is_default(pick)) return dnnl_success;
    for (int64_t i = 0; !picked(pick, i, pd); i++)
        if (dnnl_primitive_desc_next_impl(pd) != dnnl_success) return no_such_impl(pick);
    return dnnl_success;
}
#endif

/* The end of every build: st is how creating the entry's own memory objects went; if it went
 * well, create the scratchpad's memory object, the primitive, and read its implementation name.
 * On failure, unless an error is already set, say so naming what (e.g. "primitive"). Destroys
 * pd; returns the status. */
dnnl_status_t sdnnl_create_primitive(sdnnl_entry *e, dnnl_primitive_desc_t pd, dnnl_status_t st,
                                     const char *what) {
    sdnnl_cmd smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->scratch_bytes = dnnl_memory_desc_get_size(smd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&e->scratch_mem, smd, g_engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_primitive_create(&e->prim, pd);
    if (st == dnnl_success) {
        const_dnnl_primitive_desc_t ppd;
        dnnl_primitive_get_primitive_desc(e->prim, &ppd);
        dnnl_primitive_desc_query(ppd, dnnl_query_impl_info_str, 0, &e->impl);
    } else if (g_err[0] == 0) {
        snprintf(g_err, sizeof g_err, "creating the %s: %s", what, dnnl_status2str(st));
    }
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Run e's primitive on its nargs arguments plus the shared scratchpad, which is appended to args
 * (room for nargs + 1). The caller waits for the stream. */
dnnl_status_t sdnnl_execute(sdnnl_entry *e, dnnl_exec_arg_t *args, int nargs) {
    CHECK(sdnnl_scratchpad(e->scratch_mem, e->scratch_bytes));
    args[nargs].arg = DNNL_ARG_SCRATCHPAD;
    args[nargs].memory = e->scratch_mem;
    CHECK(dnnl_primitive_execute(e->prim, g_stream, nargs + 1, args));
    return dnnl_success;
}
