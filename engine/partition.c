#include "partition.h"

#include "blobcache.h"
#include "errors.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_MAX 2048

typedef struct entry {
    uint8_t sig[32];
    const plmm_backend_desc *desc; /* identifies the backend */
    plmm_backend_ctx *ctx;
    plmm_compiled *compiled;
} entry;

struct plmm_part_cache {
    char *dir; /* NULL: memory only */
    const plmm_gguf *model;
    char model_hash[65]; /* "" until computed */
    plmm_part_log_fn log;
    void *log_user;
    entry *v;
    uint32_t n, cap;
    plmm_part_stats stats;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void logf_(const plmm_part_cache *c, int level, const char *fmt, ...) PLMM_PRINTF(3, 4);
static void logf_(const plmm_part_cache *c, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->log(c->log_user, level, msg);
}

static const char *be_err(const plmm_part_backend *b)
{
    const char *m = b->errmsg ? b->errmsg(b->inst) : NULL;
    return m && m[0] ? m : "no detail";
}

plmm_status plmm_part_cache_create(const char *cache_dir, const plmm_gguf *model,
                                   plmm_part_log_fn log, void *log_user, plmm_part_cache **out)
{
    *out = NULL;
    plmm_part_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate the blob table");
    if (cache_dir != NULL && (c->dir = strdup(cache_dir)) == NULL) {
        free(c);
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate the blob table");
    }
    c->model = model;
    c->log = log;
    c->log_user = log_user;
    *out = c;
    return PLMM_OK;
}

void plmm_part_cache_destroy(plmm_part_cache *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        const plmm_backend_vtbl *vt = c->v[i].desc->vtbl;
        if (plmm_backend_has(vt, compiled_free))
            vt->compiled_free(c->v[i].ctx, c->v[i].compiled);
    }
    free(c->v);
    free(c->dir);
    free(c);
}

void plmm_part_cache_stats(const plmm_part_cache *c, plmm_part_stats *out)
{
    *out = c->stats;
}

/* BLAKE2b-256 of the model file, hex; computed once. */
static const char *model_hash(plmm_part_cache *c)
{
    if (c->model_hash[0] == '\0') {
        uint8_t d[32];
        const void *p = c->model ? plmm_gguf_file_data(c->model) : NULL;
        uint64_t n = c->model ? plmm_gguf_file_size(c->model) : 0;
        crypto_generichash(d, sizeof(d), p, p ? n : 0, NULL, 0);
        sodium_bin2hex(c->model_hash, sizeof(c->model_hash), d, sizeof(d));
    }
    return c->model_hash;
}

/* The full compatibility key; false when the backend has no compat_key
 * (its blobs are then never cached on disk). */
static plmm_status make_key(plmm_part_cache *c, const plmm_part_backend *be,
                            const plmm_partition *part, const uint8_t sig[32], char *key,
                            size_t size, bool *cacheable)
{
    const plmm_backend_vtbl *vt = be->desc->vtbl;
    char bkey[1024], sighex[65];
    *cacheable = false;
    if (!plmm_backend_has(vt, compat_key))
        return PLMM_OK;
    memset(bkey, 0, sizeof(bkey));
    plmm_status st = vt->compat_key(be->ctx, bkey, sizeof(bkey));
    if (st != PLMM_OK)
        return plmm_err(st, "backend '%s': compat_key failed: %s", be->name, be_err(be));
    if (memchr(bkey, 0, sizeof(bkey)) == NULL)
        return plmm_err(PLMM_ERR_BACKEND, "backend '%s': compat_key is not NUL-terminated",
                        be->name);
    sodium_bin2hex(sighex, sizeof(sighex), sig, 32);
    int n = snprintf(key, size,
                     "plmm-partition 1; model %s; backend %s %s; compat %s; bucket %u; "
                     "partition %s",
                     model_hash(c), be->desc->name, be->desc->version ? be->desc->version : "?",
                     bkey, part->bucket, sighex);
    if (n < 0 || (size_t)n >= size)
        return plmm_err(PLMM_ERR_BACKEND, "backend '%s': compat_key is too long", be->name);
    *cacheable = c->dir != NULL;
    return PLMM_OK;
}

static plmm_status load_blob(const plmm_part_backend *be, const plmm_partition *part,
                             const void *blob, uint64_t size, plmm_compiled **out)
{
    *out = NULL;
    plmm_status st = be->desc->vtbl->blob_load(be->ctx, part, blob, size, out);
    if (st == PLMM_OK && *out == NULL)
        st = PLMM_ERR_BACKEND;
    return st;
}

/* Load or compile the blob of a partition not yet in memory. */
static plmm_status obtain(plmm_part_cache *c, const plmm_part_backend *be,
                          const plmm_partition *part, const uint8_t sig[32], plmm_compiled **out)
{
    const plmm_backend_vtbl *vt = be->desc->vtbl;
    char key[KEY_MAX];
    bool cacheable = false;
    plmm_status st = make_key(c, be, part, sig, key, sizeof(key), &cacheable);
    if (st != PLMM_OK)
        return st;
    if (cacheable) {
        void *blob = NULL;
        uint64_t size = 0;
        double t0 = now_ms();
        st = plmm_blobcache_read(c->dir, key, &blob, &size);
        if (st == PLMM_OK) {
            st = load_blob(be, part, blob, size, out);
            free(blob);
            c->stats.load_ms += now_ms() - t0;
            if (st == PLMM_OK) {
                c->stats.cache_loaded++;
                logf_(c, PLMM_LOG_DEBUG,
                      "blob cache: loaded a %llu-byte blob for backend '%s' "
                      "(bucket %u, %u nodes) in %.1f ms",
                      (unsigned long long)size, be->name, part->bucket, part->n_nodes,
                      now_ms() - t0);
                return PLMM_OK;
            }
            c->stats.cache_rejected++;
            logf_(c, PLMM_LOG_INFO,
                  "blob cache: backend '%s' refused a cached blob (%s: %s); "
                  "recompiling",
                  be->name, plmm_status_str(st), be_err(be));
        } else if (st == PLMM_ERR_FORMAT) {
            c->stats.cache_rejected++;
            logf_(c, PLMM_LOG_INFO, "blob cache: %s; recompiling", plmm_last_errmsg());
        } else if (st != PLMM_ERR_NOT_FOUND) {
            logf_(c, PLMM_LOG_WARN, "blob cache: %s; recompiling", plmm_last_errmsg());
        }
    }
    void *blob = NULL;
    uint64_t size = 0;
    double t0 = now_ms();
    st = vt->partition_compile(be->ctx, part, &blob, &size);
    double dt = now_ms() - t0;
    if (st != PLMM_OK)
        return plmm_err(st, "backend '%s': partition_compile (bucket %u, %u nodes) failed: %s",
                        be->name, part->bucket, part->n_nodes, be_err(be));
    if (blob == NULL || size == 0)
        return plmm_err(PLMM_ERR_BACKEND, "backend '%s': partition_compile returned no blob",
                        be->name);
    c->stats.compiled++;
    c->stats.compile_ms += dt;
    logf_(c, PLMM_LOG_DEBUG,
          "blob cache: backend '%s' compiled a %llu-byte blob (bucket %u, %u "
          "nodes) in %.1f ms",
          be->name, (unsigned long long)size, part->bucket, part->n_nodes, dt);
    if (cacheable) {
        if (plmm_blobcache_write(c->dir, key, blob, size) == PLMM_OK)
            c->stats.cache_written++;
        else
            logf_(c, PLMM_LOG_WARN, "blob cache: %s (the blob stays in memory)",
                  plmm_last_errmsg());
    }
    t0 = now_ms();
    st = load_blob(be, part, blob, size, out);
    c->stats.load_ms += now_ms() - t0;
    /* the plugin allocated the blob with host->alloc */
    if (be->host != NULL)
        be->host->free(be->host->host_ctx, blob);
    else
        free(blob);
    if (st != PLMM_OK)
        return plmm_err(st, "backend '%s': blob_load of a fresh blob failed: %s", be->name,
                        be_err(be));
    return PLMM_OK;
}

plmm_status plmm_part_run(plmm_part_cache *c, const plmm_part_backend *be,
                          const plmm_partition *part, const uint8_t sig[32])
{
    const plmm_backend_vtbl *vt = be->desc->vtbl;
    entry *e = NULL;
    for (uint32_t i = 0; i < c->n && e == NULL; i++)
        if (c->v[i].desc == be->desc && c->v[i].ctx == be->ctx && memcmp(c->v[i].sig, sig, 32) == 0)
            e = &c->v[i];
    if (e == NULL) {
        if (c->n == c->cap) {
            uint32_t cap = c->cap ? c->cap * 2 : 32;
            entry *nv = realloc(c->v, cap * sizeof(*nv));
            if (nv == NULL)
                return plmm_err(PLMM_ERR_NOMEM, "cannot grow the blob table");
            c->v = nv;
            c->cap = cap;
        }
        plmm_compiled *cp = NULL;
        plmm_status st = obtain(c, be, part, sig, &cp);
        if (st != PLMM_OK)
            return st;
        e = &c->v[c->n++];
        memcpy(e->sig, sig, 32);
        e->desc = be->desc;
        e->ctx = be->ctx;
        e->compiled = cp;
    }
    plmm_status st = vt->compiled_execute(be->ctx, e->compiled, part);
    if (st != PLMM_OK)
        return plmm_err(st, "backend '%s': compiled_execute (bucket %u, %u nodes) failed: %s",
                        be->name, part->bucket, part->n_nodes, be_err(be));
    c->stats.executed++;
    return PLMM_OK;
}
