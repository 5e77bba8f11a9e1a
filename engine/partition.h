/*
 * Partition execution for backends of the partition contract (backend.h):
 * the compiled blobs of one scheduler, looked up by partition signature in
 * memory, then in the on-disk blob cache (blobcache.h) under the full
 * compatibility key, then compiled; loaded once and executed on the live
 * tensors of each run. The scheduler decides what a partition is; this
 * file knows nothing about particular backends.
 */
#ifndef PLMM_ENGINE_PARTITION_H
#define PLMM_ENGINE_PARTITION_H

#include "gguf.h"
#include "plmm/backend.h"

/* Counters of one scheduler's blob handling (since it was created). */
typedef struct plmm_part_stats {
    uint64_t compiled;       /* partition_compile calls */
    uint64_t cache_loaded;   /* blobs loaded from the disk cache */
    uint64_t cache_rejected; /* cache files found corrupt or refused by blob_load (rebuilt) */
    uint64_t cache_written;  /* blobs stored in the disk cache */
    uint64_t executed;       /* compiled_execute calls */
    double compile_ms;       /* time spent in partition_compile */
    double load_ms;          /* time spent reading cache files and in blob_load */
} plmm_part_stats;

/* The backend a partition runs on, as the scheduler knows it. */
typedef struct plmm_part_backend {
    const char *name;
    const plmm_backend_desc *desc;
    plmm_backend_ctx *ctx;
    const char *(*errmsg)(const void *inst);
    const void *inst;
    const plmm_host_api *host; /* frees compiled blobs (host->free); NULL: free() */
} plmm_part_backend;

typedef void (*plmm_part_log_fn)(void *user, int level, const char *msg);

typedef struct plmm_part_cache plmm_part_cache;

/* cache_dir: resolved directory, or NULL to keep blobs in memory only.
 * model: borrowed; its file bytes are hashed (once, on first use) into
 * the compatibility key. log may be NULL. */
PLMM_NODISCARD plmm_status plmm_part_cache_create(const char *cache_dir, const plmm_gguf *model,
                                                  plmm_part_log_fn log, void *log_user,
                                                  plmm_part_cache **out);
/* Frees every loaded blob through its backend. NULL is ignored. */
void plmm_part_cache_destroy(plmm_part_cache *c);

/* Run partition part (bucket, nodes, live inputs/outputs) on be. sig: the
 * partition's 32-byte signature (structure, shapes, weights used). The
 * first run of a signature loads the cached blob or compiles one. */
PLMM_NODISCARD plmm_status plmm_part_run(plmm_part_cache *c, const plmm_part_backend *be,
                                         const plmm_partition *part, const uint8_t sig[32]);

void plmm_part_cache_stats(const plmm_part_cache *c, plmm_part_stats *out);

#endif
