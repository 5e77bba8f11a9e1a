/*
 * Scheduler and executor: assigns each graph node to the first capable
 * backend in the configured order (fallback = strict | observable), plans
 * activation memory per backend with liveness, binds weights (imported
 * zero-copy where the backend can) and runs the graph split by split,
 * copying tensors between backends when one cannot read the other's memory.
 */
#ifndef PLMM_ENGINE_SCHEDULER_H
#define PLMM_ENGINE_SCHEDULER_H

#include "plmm/backend.h"

#include "gguf.h"
#include "graph.h"
#include "partition.h"

/* One backend as the scheduler sees it (borrowed from the engine). */
typedef struct plmm_sched_backend_ref {
    const char *name;
    const plmm_backend_desc *desc;
    plmm_backend_ctx *ctx;
    /* Detail of the backend's last error (its host->set_error text). */
    const char *(*errmsg)(const void *inst);
    const void *inst;
    bool fallback_only; /* not in the configured order: used only for fallback */
    const plmm_host_api *host; /* the instance's host table (frees blobs); may be NULL */
} plmm_sched_backend_ref;

typedef struct plmm_sched plmm_sched;

/* Tensor storage that lives outside the graph (KV cache): a tensor flagged
 * PLMM_TENSOR_STATE in the graph takes buffer/offset/data from its state
 * slot, and nodes touching it run on that backend. */
typedef struct plmm_state_slot {
    uint32_t backend;
    plmm_buffer *buffer;
    uint64_t offset;
    uint8_t *data; /* host address or NULL */
} plmm_state_slot;

/* backends: in priority order; fallback_backend: index used under
 * observable fallback (normally the CPU), or -1. */
PLMM_NODISCARD plmm_status plmm_sched_create(const plmm_sched_backend_ref *backends, uint32_t n,
                                             int32_t fallback_backend, bool strict,
                                             const plmm_gguf *model, uint32_t cap_tensors,
                                             uint32_t cap_nodes, plmm_sched **out);
void plmm_sched_destroy(plmm_sched *s);

/* First backend (in order) able to hold and update state of dtype kv_dtype
 * (CPY to it and ATTENTION reading it), or -1. */
int32_t plmm_sched_state_backend(const plmm_sched *s, uint32_t kv_dtype);

/* Allocate a state buffer of size bytes on backend be. */
PLMM_NODISCARD plmm_status plmm_sched_alloc_state(plmm_sched *s, uint32_t be, uint64_t size,
                                                  plmm_buffer **buf, uint8_t **data);
void plmm_sched_free_state(plmm_sched *s, uint32_t be, plmm_buffer *buf);

/* Assign nodes, plan memory, run. Afterwards copies n_floats of tensor out
 * (an F32 graph tensor) into dst. slots: state storage by slot index. */
PLMM_NODISCARD plmm_status plmm_sched_run(plmm_sched *s, plmm_graph_builder *b,
                                          const plmm_state_slot *slots, uint32_t n_slots,
                                          const plmm_tensor *out, float *dst, uint64_t n_floats);

/* Assign nodes only and write a human-readable plan (which backend runs
 * which nodes, fallbacks marked) into buf. */
PLMM_NODISCARD plmm_status plmm_sched_plan(plmm_sched *s, plmm_graph_builder *b,
                                           const plmm_state_slot *slots, uint32_t n_slots,
                                           char *buf, size_t size);

/* Partition contract: where compiled blobs are cached (a resolved
 * directory, or NULL for memory only) and where blob-cache and fallback
 * events are logged (log may be NULL). Call before the first run. */
PLMM_NODISCARD plmm_status plmm_sched_set_partition(plmm_sched *s, const char *cache_dir,
                                                    plmm_part_log_fn log, void *log_user);

/* Static shape buckets of partition backends, in tokens (prompt chunks;
 * decoding uses 1). */
#define PLMM_SCHED_N_BUCKETS 4
extern const uint32_t plmm_sched_buckets[PLMM_SCHED_N_BUCKETS];

/* Tokens per evaluation of the graphs that follow (the bucket the
 * partitions are compiled for). */
void plmm_sched_set_tokens(plmm_sched *s, uint32_t n_tokens);

/* Does a backend of the partition contract take part? */
bool plmm_sched_has_partitions(const plmm_sched *s);

/* Tokens of the next chunk of a batch of n: n itself without partition
 * backends, else the largest bucket <= n. */
uint32_t plmm_sched_chunk(const plmm_sched *s, uint32_t n);

/* Blob counters (compiles, cache loads, rejections, time). */
void plmm_sched_part_stats(const plmm_sched *s, plmm_part_stats *out);

/* Nodes that fell back to the fallback backend in the last assignment. */
uint32_t plmm_sched_fallback_count(const plmm_sched *s);

/* Does a backend's declared capability cover this node? */
bool plmm_caps_cover(const plmm_backend_desc *desc, const plmm_node *node);

#endif
