/*
 * The runner: executes a list of checked nodes in order. One pool job runs
 * the whole list; every thread takes its share of each node and meets the
 * others at a barrier before the next node, so decode pays one wake-up per
 * graph rather than one per node.
 */
#include "cpu_ops.h"
#include "plmm_sdk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SCRATCH_ALIGN 64

void cpu_runner_init(cpu_runner *r, const cpu_kern *kern, cpu_pool *pool,
                     void *(*alloc)(void *, size_t, size_t), void (*free_fn)(void *, void *),
                     void *alloc_ctx)
{
    memset(r, 0, sizeof(*r));
    r->kern = *kern;
    r->pool = pool;
    r->alloc = alloc;
    r->free_fn = free_fn;
    r->alloc_ctx = alloc_ctx;
    atomic_init(&r->status, PLMM_OK);
    atomic_init(&r->chunk[0], 0);
    atomic_init(&r->chunk[1], 0);
}

void cpu_runner_release(cpu_runner *r)
{
    if (r->scratch != NULL)
        r->free_fn(r->alloc_ctx, r->scratch);
    r->scratch = NULL;
    r->scratch_size = 0;
}

void cpu_exec_fail(const cpu_exec *e, plmm_status st, const char *fmt, ...)
{
    int expected = PLMM_OK;
    if (!atomic_compare_exchange_strong(&e->r->status, &expected, (int)st))
        return;
    char detail[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(e->r->errmsg, sizeof(e->r->errmsg), "node %u (%s): %s", e->node_index,
             plmm_op_name(e->r->tasks[e->node_index].node->op), detail);
}

size_t cpu_op_scratch(const cpu_task *t, int nth)
{
    switch (t->node->op) {
    case PLMM_OP_MUL_MAT:
        return cpu_mul_mat_scratch(t);
    case PLMM_OP_ATTENTION:
        return cpu_attention_scratch(t, nth);
    case PLMM_OP_ROPE:
        return cpu_rope_scratch(t, nth);
    default:
        return 0;
    }
}

void cpu_op_run(const cpu_exec *e, const cpu_task *t)
{
    switch (t->node->op) {
    case PLMM_OP_GET_ROWS:
        cpu_op_get_rows(e, t);
        break;
    case PLMM_OP_RMS_NORM:
        cpu_op_rms_norm(e, t);
        break;
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        cpu_op_binary(e, t);
        break;
    case PLMM_OP_MUL_MAT:
        cpu_op_mul_mat(e, t);
        break;
    case PLMM_OP_ROPE:
        cpu_op_rope(e, t);
        break;
    case PLMM_OP_SOFTMAX:
        cpu_op_softmax(e, t);
        break;
    case PLMM_OP_ATTENTION:
        cpu_op_attention(e, t);
        break;
    case PLMM_OP_SILU:
    case PLMM_OP_SWIGLU:
    case PLMM_OP_SCALE:
        cpu_op_unary(e, t);
        break;
    case PLMM_OP_CPY:
        cpu_op_cpy(e, t);
        break;
    default:
        break;
    }
}

static void run_job(void *arg, int ith, int nth)
{
    cpu_runner *r = arg;
    cpu_exec e = {.r = r, .k = &r->kern, .ith = ith, .nth = nth, .scratch = r->scratch};
    uint32_t seq = 0; /* nodes run so far */
    for (uint32_t i = 0; i < r->n_tasks; i++) {
        const cpu_task *t = &r->tasks[i];
        if (t->node->op == PLMM_OP_NONE)
            continue;
        e.chunk = &r->chunk[seq & 1];
        e.node_index = i;
        /* the other counter served the previous node, which every thread has
         * left (barrier): reset it for the next one */
        if (ith == 0)
            atomic_store_explicit(&r->chunk[(seq + 1) & 1], 0, memory_order_relaxed);
        seq++;
        cpu_op_run(&e, t);
        cpu_pool_barrier(r->pool);
        if (atomic_load_explicit(&r->status, memory_order_relaxed) != PLMM_OK)
            break;
    }
}

plmm_status cpu_runner_run(cpu_runner *r, const cpu_task *tasks, uint32_t n, char *msg,
                           size_t msg_size)
{
    const int nth = cpu_pool_size(r->pool);
    size_t need = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t s = cpu_op_scratch(&tasks[i], nth);
        if (s == SIZE_MAX) {
            snprintf(msg, msg_size, "node %u: scratch size overflows", i);
            return PLMM_ERR_NOMEM;
        }
        need = s > need ? s : need;
    }
    if (need > r->scratch_size) {
        void *p = r->alloc(r->alloc_ctx, need, SCRATCH_ALIGN);
        if (p == NULL) {
            snprintf(msg, msg_size, "cannot allocate %zu bytes of scratch", need);
            return PLMM_ERR_NOMEM;
        }
        cpu_runner_release(r);
        r->scratch = p;
        r->scratch_size = need;
    }
    r->tasks = tasks;
    r->n_tasks = n;
    atomic_store(&r->status, PLMM_OK);
    atomic_store(&r->chunk[0], 0);
    atomic_store(&r->chunk[1], 0);
    if (r->pool != NULL)
        cpu_pool_run(r->pool, run_job, r);
    else
        run_job(r, 0, 1);
    plmm_status st = (plmm_status)atomic_load(&r->status);
    if (st != PLMM_OK)
        snprintf(msg, msg_size, "%s", r->errmsg);
    return st;
}
