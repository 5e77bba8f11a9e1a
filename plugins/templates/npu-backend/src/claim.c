/*
 * partition_claim: which nodes of a graph the device runs.
 *
 * The engine offers a whole graph; the backend marks the nodes it runs and
 * the engine cuts maximal runs of claimed nodes into partitions. Claim
 * only what compile and execute handle for every shape the node can take
 * in this graph: a node claimed here and refused by compile turns into an
 * error (fallback = strict) or a CPU fallback the plan reports.
 *
 * The template's device runs F32 activations with rows contiguous in
 * ne[0] (strided rows are fine), weights of MUL_MAT in F32, F16, Q8_0,
 * Q4_0, Q4_K or Q6_K (the weight dtypes of the llm-npu profile),
 * and never writes into a view or in place.
 * TODO(vendor): encode your compiler's rules here (op set, dtypes, shape
 * and alignment limits, fusion patterns). Keep the capability table in
 * backend.c in step with it.
 */
#include "npu_template.h"
#include "plmm_sdk.h"

static bool is_f32_rows(const plmm_tensor *t)
{
    return t != NULL && t->dtype == PLMM_DTYPE_F32 && t->nb[0] == sizeof(float) && t->ne[0] > 0 &&
           t->ne[0] <= NT_MAX_ROW && t->ne[1] > 0 && t->ne[2] > 0 && t->ne[3] > 0;
}

static bool same_shape(const plmm_tensor *a, const plmm_tensor *b)
{
    for (int d = 0; d < PLMM_MAX_DIMS; d++)
        if (a->ne[d] != b->ne[d])
            return false;
    return true;
}

/* b broadcasts over a: each dim of b is a's or 1. */
static bool broadcasts(const plmm_tensor *a, const plmm_tensor *b)
{
    for (int d = 0; d < PLMM_MAX_DIMS; d++)
        if (b->ne[d] != a->ne[d] && b->ne[d] != 1)
            return false;
    return true;
}

static bool weight_ok(const plmm_tensor *w)
{
    if (w == NULL || !(w->flags & PLMM_TENSOR_WEIGHT))
        return false; /* compile bakes weights into the blob: they must be constants */
    switch (w->dtype) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0:
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q6_K:
        break;
    default:
        return false;
    }
    const uint64_t row = plmm_dtype_row_bytes(w->dtype, w->ne[0]);
    return row > 0 && w->ne[0] <= NT_MAX_ROW && w->ne[1] > 0 && w->ne[2] == 1 && w->ne[3] == 1 &&
           w->nb[0] == plmm_dtype_block_bytes(w->dtype) && w->nb[1] >= row;
}

bool nt_node_supported(const plmm_node *n)
{
    const plmm_tensor *d = n->dst, *a = n->src[0], *b = n->src[1];
    if (!is_f32_rows(d) || (d->flags & PLMM_TENSOR_VIEW))
        return false;
    for (int k = 0; k < PLMM_MAX_SRC; k++)
        if (n->src[k] == d)
            return false; /* in place: not declared (PLMM_CAP_INPLACE) */
    switch (n->op) {
    case PLMM_OP_MUL_MAT:
        /* W (K, N) x X (K, M) -> Y (N, M) */
        return weight_ok(a) && is_f32_rows(b) && b->ne[0] == a->ne[0] && b->ne[2] == 1 &&
               b->ne[3] == 1 && d->ne[0] == a->ne[1] && d->ne[1] == b->ne[1] && d->ne[2] == 1 &&
               d->ne[3] == 1 && n->src[2] == NULL;
    case PLMM_OP_RMS_NORM:
        return is_f32_rows(a) && same_shape(a, d) &&
               (b == NULL || (is_f32_rows(b) && b->ne[0] == a->ne[0] && b->ne[1] == 1 &&
                              b->ne[2] == 1 && b->ne[3] == 1)) &&
               n->fp[0] >= 0.0f;
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        return is_f32_rows(a) && is_f32_rows(b) && same_shape(a, d) && broadcasts(a, b);
    case PLMM_OP_SWIGLU:
        return is_f32_rows(a) && is_f32_rows(b) && same_shape(a, d) && same_shape(a, b);
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
        return is_f32_rows(a) && same_shape(a, d) && b == NULL;
    default:
        return false;
    }
}

plmm_status nt_partition_claim(plmm_backend_ctx *ctx, const plmm_graph *graph, uint8_t *claim)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (graph == NULL || claim == NULL || (graph->n_nodes > 0 && graph->nodes == NULL))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "partition_claim: graph or claim is NULL");
    for (uint32_t i = 0; i < graph->n_nodes; i++)
        claim[i] = graph->nodes[i].dst != NULL && nt_node_supported(&graph->nodes[i]) ? 1 : 0;
    return PLMM_OK;
}
