/*
 * blob_load / compiled_free: turn a blob into an executable program.
 *
 * Blobs come from the engine's on-disk cache, so blob_load treats them as
 * untrusted input: any blob that is truncated, corrupted, compiled under
 * another compatibility key, for another bucket or for another partition
 * structure returns PLMM_ERR_FORMAT (the engine then recompiles and
 * replaces the cached file). Nothing in a blob is used before it has been
 * checked: sizes, offsets, indices and the shapes every instruction sees.
 *
 * TODO(vendor): after these checks, hand the network after the header to
 * your runtime's load call and keep its handle in struct plmm_compiled.
 */
#include "npu_template.h"
#include "plmm_sdk.h"

#include <string.h>

static plmm_status reject(plmm_backend_ctx *ctx, const char *why)
{
    return plmm_sdk_error(ctx->host, PLMM_ERR_FORMAT, "blob rejected: %s", why);
}

/* A plmm_tensor carrying a table entry's dtype, shape and strides. */
static void as_tensor(const nt_blob_tensor *bt, plmm_tensor *t)
{
    memset(t, 0, sizeof(*t));
    t->dtype = bt->dtype;
    memcpy(t->ne, bt->ne, sizeof(t->ne));
    memcpy(t->nb, bt->nb, sizeof(t->nb));
    if (bt->role == NT_ROLE_WEIGHT)
        t->flags = PLMM_TENSOR_WEIGHT;
}

/* Shapes and storage of one table entry; NULL when fine, else why not. */
static const char *check_tensor(const nt_blob_tensor *bt, const nt_blob_header *h, uint64_t tables)
{
    const bool weight_dtype = bt->dtype == PLMM_DTYPE_F16 || bt->dtype == PLMM_DTYPE_Q8_0;
    if (bt->dtype != PLMM_DTYPE_F32 && !(bt->role == NT_ROLE_WEIGHT && weight_dtype))
        return "a tensor has a dtype the device does not use";
    uint64_t elems = 1;
    for (int d = 0; d < PLMM_MAX_DIMS; d++) {
        if (bt->ne[d] < 1 || bt->ne[d] > (INT64_C(1) << 32))
            return "a tensor has an impossible shape";
        elems *= (uint64_t)bt->ne[d];
        if (elems > (UINT64_C(1) << 40))
            return "a tensor has an impossible shape";
    }
    plmm_tensor t;
    as_tensor(bt, &t);
    const uint64_t span = plmm_tensor_nbytes(&t);
    if (bt->role == NT_ROLE_WEIGHT || bt->role == NT_ROLE_INTERNAL) {
        /* compile lays these out densely: any other stride is corruption */
        plmm_tensor dense = t;
        if (!plmm_tensor_set_dense_strides(&dense) || memcmp(dense.nb, t.nb, sizeof(t.nb)) != 0)
            return "a weight or intermediate is not dense";
    }
    switch (bt->role) {
    case NT_ROLE_INPUT:
        return bt->index < h->n_inputs ? NULL : "input index out of range";
    case NT_ROLE_OUTPUT:
        return bt->index < h->n_outputs ? NULL : "output index out of range";
    case NT_ROLE_WEIGHT:
        if (bt->data_off < tables || bt->data_off > h->payload_size ||
            bt->data_size > h->payload_size - bt->data_off || span > bt->data_size ||
            bt->data_off % NT_ALIGN != 0)
            return "weight data lies outside the blob";
        return NULL;
    case NT_ROLE_INTERNAL:
        if (bt->data_off > h->arena_size || bt->data_size > h->arena_size - bt->data_off ||
            span > bt->data_size || bt->data_off % NT_ALIGN != 0)
            return "an intermediate lies outside the arena";
        return NULL;
    default:
        return "unknown tensor role";
    }
}

/* The instruction is the partition's node and its operands make sense. */
static const char *check_instr(const nt_blob_instr *in, const plmm_node *node,
                               const nt_blob_tensor *tab, uint32_t n_tensors)
{
    if (in->op != node->op)
        return "compiled for another partition (ops differ)";
    if (in->dst < 0 || (uint32_t)in->dst >= n_tensors)
        return "instruction destination out of range";
    const nt_blob_tensor *d = &tab[in->dst];
    if (d->role != NT_ROLE_OUTPUT && d->role != NT_ROLE_INTERNAL)
        return "instruction writes an input or a weight";
    plmm_tensor ts[1 + PLMM_MAX_SRC];
    plmm_node n;
    memset(&n, 0, sizeof(n));
    n.op = in->op;
    memcpy(n.ip, in->ip, sizeof(n.ip));
    memcpy(n.fp, in->fp, sizeof(n.fp));
    as_tensor(d, &ts[0]);
    n.dst = &ts[0];
    for (int k = 0; k < PLMM_MAX_SRC; k++) {
        if (in->src[k] == -1)
            continue;
        if (in->src[k] < 0 || (uint32_t)in->src[k] >= n_tensors || in->src[k] == in->dst)
            return "instruction source out of range";
        as_tensor(&tab[in->src[k]], &ts[1 + k]);
        n.src[k] = &ts[1 + k];
    }
    /* the same rule claim applied: the kernels rely on it */
    return nt_node_supported(&n) ? NULL : "an instruction's operands do not fit its op";
}

void nt_compiled_free(plmm_backend_ctx *ctx, plmm_compiled *cp)
{
    if (ctx == NULL || cp == NULL)
        return;
    nt_unlink_program(ctx, cp);
    /* TODO(vendor): unload the network from the device. */
    nt_free(ctx, cp->arena);
    nt_free(ctx, cp->payload);
    nt_free(ctx, cp);
}

plmm_status nt_blob_load(plmm_backend_ctx *ctx, const plmm_partition *part, const void *blob,
                         uint64_t blob_size, plmm_compiled **out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (part == NULL || blob == NULL || out == NULL || part->struct_size < sizeof(plmm_partition) ||
        part->nodes == NULL || part->n_nodes == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "blob_load: partition, blob or out is NULL");
    nt_blob_header h;
    if (blob_size < sizeof(h))
        return reject(ctx, "shorter than its header");
    memcpy(&h, blob, sizeof(h));
    if (memcmp(h.magic, NT_BLOB_MAGIC, sizeof(h.magic)) != 0)
        return reject(ctx, "not a " NT_NAME " blob");
    if (h.format != NT_BLOB_FORMAT)
        return reject(ctx, "blob format of another version");
    if (h.payload_size != blob_size - sizeof(h))
        return reject(ctx, "size does not match its header (truncated?)");
    const uint8_t *pl = (const uint8_t *)blob + sizeof(h);
    if (nt_checksum(pl, h.payload_size) != h.checksum)
        return reject(ctx, "checksum mismatch (corrupted)");
    if (h.key_hash != nt_checksum(ctx->key, strlen(ctx->key)))
        return reject(ctx, "compiled under another compatibility key");
    if (h.bucket != part->bucket)
        return reject(ctx, "compiled for another shape bucket");
    if (h.n_instrs != part->n_nodes || h.n_inputs != part->n_inputs ||
        h.n_outputs != part->n_outputs)
        return reject(ctx, "compiled for another partition");
    if (h.n_tensors == 0 || h.n_tensors > NT_MAX_TENSORS || h.n_instrs > NT_MAX_NODES)
        return reject(ctx, "table sizes out of range");
    const uint64_t tables = (uint64_t)h.n_tensors * sizeof(nt_blob_tensor) +
                            (uint64_t)h.n_instrs * sizeof(nt_blob_instr);
    if (tables > h.payload_size)
        return reject(ctx, "tables exceed the payload");
    if (h.arena_size > (UINT64_C(1) << 40))
        return reject(ctx, "arena size out of range");

    plmm_compiled *cp = nt_alloc(ctx, sizeof(*cp));
    if (cp == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory");
    memset(cp, 0, sizeof(*cp));
    cp->h = h;
    /* a copy: the engine may free or unmap the blob after blob_load, and the
     * copy gives the weights the alignment compile planned */
    cp->payload = nt_alloc(ctx, h.payload_size);
    if (cp->payload == NULL) {
        nt_compiled_free(ctx, cp);
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory for a %llu-byte program",
                              (unsigned long long)h.payload_size);
    }
    memcpy(cp->payload, pl, (size_t)h.payload_size);
    cp->tensors = (const nt_blob_tensor *)(const void *)cp->payload;
    cp->instrs =
        (const nt_blob_instr *)(const void *)(cp->payload + h.n_tensors * sizeof(nt_blob_tensor));
    const char *bad = NULL;
    const uint64_t tables_end = nt_align_up(tables);
    for (uint32_t i = 0; i < h.n_tensors && bad == NULL; i++)
        bad = check_tensor(&cp->tensors[i], &h, tables_end);
    for (uint32_t i = 0; i < h.n_instrs && bad == NULL; i++)
        bad = check_instr(&cp->instrs[i], &part->nodes[i], cp->tensors, h.n_tensors);
    if (bad != NULL) {
        nt_compiled_free(ctx, cp);
        return reject(ctx, bad);
    }
    cp->arena = nt_alloc(ctx, h.arena_size);
    if (cp->arena == NULL) {
        nt_compiled_free(ctx, cp);
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory for a %llu-byte arena",
                              (unsigned long long)h.arena_size);
    }
    nt_link_program(ctx, cp);
    *out = cp;
    return PLMM_OK;
}
