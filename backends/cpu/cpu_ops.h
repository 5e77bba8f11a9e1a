/*
 * Graph execution of the CPU backend, independent of the plugin ABI glue:
 * node validation, and a runner that executes resolved nodes with a kernel
 * table on a thread pool. The plugin (backend_cpu.c) and the kernel tests
 * both drive it.
 */
#ifndef PLMM_CPU_OPS_H
#define PLMM_CPU_OPS_H

#include "cpu_kernels.h"
#include "cpu_threads.h"
#include "plmm/types.h"

#include <stdatomic.h>

/* A node with the host addresses of its tensors resolved. */
typedef struct cpu_task {
    const plmm_node *node;
    char *dst;                     /* element 0 of node->dst */
    const char *src[PLMM_MAX_SRC]; /* element 0 of each source, NULL if unused */
} cpu_task;

typedef struct cpu_runner {
    cpu_kern kern;
    cpu_pool *pool; /* NULL: single thread */
    void *(*alloc)(void *ctx, size_t size, size_t align);
    void (*free_fn)(void *ctx, void *ptr);
    void *alloc_ctx;
    char *scratch; /* grows to the largest need seen; owned */
    size_t scratch_size;
    /* state of the run in progress */
    const cpu_task *tasks;
    uint32_t n_tasks;
    atomic_int status;   /* first error of the run, PLMM_OK otherwise */
    atomic_int chunk[2]; /* work counters, alternating between nodes */
    char errmsg[256];
} cpu_runner;

/* Check a node's op, dtypes, shapes, strides and params against the
 * contracts in backend.h. Writes a message on error. */
PLMM_NODISCARD plmm_status cpu_node_check(const plmm_node *node, char *msg, size_t msg_size);
/* Check that the resolved addresses suit the dtypes' alignment. */
PLMM_NODISCARD plmm_status cpu_task_check_align(const cpu_task *task, char *msg, size_t msg_size);

/* Bytes (and alignment 64) of the element span of a tensor with its strides,
 * false on overflow. */
bool cpu_tensor_span(const plmm_tensor *t, uint64_t *out);

void cpu_runner_init(cpu_runner *r, const cpu_kern *kern, cpu_pool *pool,
                     void *(*alloc)(void *, size_t, size_t), void (*free_fn)(void *, void *),
                     void *alloc_ctx);
void cpu_runner_release(cpu_runner *r);
/* Run checked tasks in order. On error msg holds the detail. */
PLMM_NODISCARD plmm_status cpu_runner_run(cpu_runner *r, const cpu_task *tasks, uint32_t n,
                                          char *msg, size_t msg_size);

/* ---- per-op executors (ops_*.c), called on every thread ---- */

typedef struct cpu_exec {
    cpu_runner *r;
    const cpu_kern *k;
    int ith, nth;
    char *scratch;       /* shared scratch for the node */
    atomic_int *chunk;   /* work counter of this node, starts at 0 */
    uint32_t node_index; /* position of the node in the run, for messages */
} cpu_exec;

size_t cpu_op_scratch(const cpu_task *t, int nth);
void cpu_op_run(const cpu_exec *e, const cpu_task *t);
/* Record a data-dependent error (first one wins); every thread stops after the node. */
void cpu_exec_fail(const cpu_exec *e, plmm_status st, const char *fmt, ...) PLMM_PRINTF(3, 4);

void cpu_op_get_rows(const cpu_exec *e, const cpu_task *t);
void cpu_op_rms_norm(const cpu_exec *e, const cpu_task *t);
void cpu_op_binary(const cpu_exec *e, const cpu_task *t);
void cpu_op_rope(const cpu_exec *e, const cpu_task *t);
size_t cpu_rope_scratch(const cpu_task *t, int nth);
void cpu_op_softmax(const cpu_exec *e, const cpu_task *t);
void cpu_op_unary(const cpu_exec *e, const cpu_task *t);
void cpu_op_cpy(const cpu_exec *e, const cpu_task *t);
void cpu_op_mul_mat(const cpu_exec *e, const cpu_task *t);
size_t cpu_mul_mat_scratch(const cpu_task *t);
void cpu_op_attention(const cpu_exec *e, const cpu_task *t);
size_t cpu_attention_scratch(const cpu_task *t, int nth);

/* Rows [*r0, *r1) of n for thread ith of nth. */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1)
{
    *r0 = n * ith / nth;
    *r1 = n * (ith + 1) / nth;
}

#endif /* PLMM_CPU_OPS_H */
