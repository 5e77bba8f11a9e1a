/*
 * compiled_execute: run a loaded program on the tensors the engine binds.
 *
 * The binding is a partition with the structure the blob was compiled for;
 * its inputs and outputs point at the live tensors of this step (their
 * storage changes between steps, their dtype and shape never do). The
 * template resolves every operand to a host address and runs the
 * instructions in order with the host kernels of kernels.c, synchronously.
 *
 * TODO(vendor): bind the live input/output addresses (or dma-buf handles)
 * to your loaded network and submit it; return once it is queued and make
 * synchronize wait for it, or wait here.
 */
#include "npu_template.h"
#include "plmm_sdk.h"

#include <string.h>

/* A live bound tensor fits its table entry: same dtype and shape, rows
 * contiguous, host-addressable storage. */
static plmm_status bind_view(plmm_backend_ctx *ctx, const nt_blob_tensor *bt,
                             const plmm_tensor *live, const char *what, uint32_t index, nt_view *v)
{
    if (live == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "%s %u is NULL", what, index);
    if (live->dtype != bt->dtype || memcmp(live->ne, bt->ne, sizeof(bt->ne)) != 0 ||
        live->nb[0] != plmm_dtype_block_bytes(bt->dtype))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "%s %u ('%s') has another dtype, shape or element stride than "
                              "the compiled partition",
                              what, index, live->name != NULL ? live->name : "?");
    v->data = nt_tensor_address(live);
    if (v->data == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "%s %u has no storage this device can reach", what, index);
    memcpy(v->nb, live->nb, sizeof(v->nb));
    return PLMM_OK;
}

plmm_status nt_compiled_execute(plmm_backend_ctx *ctx, plmm_compiled *cp,
                                const plmm_partition *bind)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (cp == NULL || bind == NULL || bind->struct_size < sizeof(plmm_partition) ||
        (bind->n_inputs > 0 && bind->inputs == NULL) ||
        (bind->n_outputs > 0 && bind->outputs == NULL))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "compiled_execute: program or binding is NULL");
    const nt_blob_header *h = &cp->h;
    if (bind->bucket != h->bucket || bind->n_inputs != h->n_inputs ||
        bind->n_outputs != h->n_outputs)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "binding (bucket %u, %u inputs, %u outputs) does not match the "
                              "program (bucket %u, %u inputs, %u outputs)",
                              bind->bucket, bind->n_inputs, bind->n_outputs, h->bucket, h->n_inputs,
                              h->n_outputs);
    nt_view *views = nt_alloc(ctx, (uint64_t)h->n_tensors * sizeof(nt_view));
    if (views == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = PLMM_OK;
    for (uint32_t i = 0; i < h->n_tensors && st == PLMM_OK; i++) {
        const nt_blob_tensor *bt = &cp->tensors[i];
        nt_view *v = &views[i];
        v->dtype = bt->dtype;
        memcpy(v->ne, bt->ne, sizeof(v->ne));
        memcpy(v->nb, bt->nb, sizeof(v->nb));
        switch (bt->role) {
        case NT_ROLE_INPUT:
            st = bind_view(ctx, bt, bind->inputs[bt->index], "input", bt->index, v);
            break;
        case NT_ROLE_OUTPUT:
            st = bind_view(ctx, bt, bind->outputs[bt->index], "output", bt->index, v);
            break;
        case NT_ROLE_WEIGHT:
            v->data = cp->payload + bt->data_off;
            break;
        default:
            v->data = cp->arena + bt->data_off;
            break;
        }
    }
    for (uint32_t i = 0; i < h->n_instrs && st == PLMM_OK; i++) {
        const nt_blob_instr *in = &cp->instrs[i];
        nt_view *src[PLMM_MAX_SRC];
        for (int k = 0; k < PLMM_MAX_SRC; k++)
            src[k] = in->src[k] >= 0 ? &views[in->src[k]] : NULL;
        st = nt_run_instr(ctx, in, &views[in->dst], src);
    }
    nt_free(ctx, views);
    return st;
}
