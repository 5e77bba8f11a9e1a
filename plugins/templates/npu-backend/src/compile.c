/*
 * partition_compile: one partition, for one static shape bucket, into a
 * self-contained blob.
 *
 * The template's "compiler" does what every NPU compiler does, in the
 * simplest form that is still correct:
 *  1. checks every node again (claim saw the graph; compile sees the exact
 *     partition and bucket, and may still refuse with PLMM_ERR_UNSUPPORTED);
 *  2. gives every tensor a role: bound input, bound output, constant weight
 *     (baked into the blob) or internal (a slot of a static arena);
 *  3. repacks weights into the device's layout (here: dense rows, 64-byte
 *     aligned; Q8_0 stays int8 with its block scales, other matrices are
 *     dequantized (dequant.c) to F32 or F16 as weight_format says);
 *  4. plans the arena of intermediates statically;
 *  5. writes header + tensor table + instruction table + weights, with a
 *     checksum and the hash of the compatibility key.
 * The engine stores the blob in its on-disk cache and calls blob_load on
 * it, now or at the next start.
 *
 * TODO(vendor): replace steps 3-5 by your toolchain: lower the partition
 * to your compiler's IR (the instruction table is a convenient starting
 * point), quantize weights to your formats, and store the compiled network
 * after the header. Keep the header: blob_load needs it to reject blobs of
 * another key, bucket or partition with PLMM_ERR_FORMAT.
 */
#include "npu_template.h"
#include "plmm_sdk.h"

#include <string.h>

/* Compile-time bookkeeping of one distinct tensor. */
typedef struct ctensor {
    const plmm_tensor *t;
    nt_blob_tensor bt;
    int32_t produced_at; /* instruction writing it, -1 when none */
    bool matrix_only;    /* read only as src0 of MUL_MAT */
} ctensor;

typedef struct cstate {
    plmm_backend_ctx *ctx;
    const plmm_partition *part;
    ctensor *ts;
    uint32_t n;
} cstate;

static const char *tname(const plmm_tensor *t)
{
    return t->name != NULL ? t->name : "(unnamed)";
}

static int32_t find_ptr(plmm_tensor *const *list, uint32_t n, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < n; i++)
        if (list[i] == t)
            return (int32_t)i;
    return -1;
}

static int32_t slot_of(const cstate *s, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->ts[i].t == t)
            return (int32_t)i;
    return -1;
}

/* The slot of t, adding it on first sight. */
static plmm_status add_tensor(cstate *s, const plmm_tensor *t, int32_t *out)
{
    int32_t k = slot_of(s, t);
    if (k < 0) {
        if (s->n == NT_MAX_TENSORS)
            return plmm_sdk_error(s->ctx->host, PLMM_ERR_UNSUPPORTED,
                                  "partition has more than %u tensors", NT_MAX_TENSORS);
        k = (int32_t)s->n++;
        memset(&s->ts[k], 0, sizeof(s->ts[k]));
        s->ts[k].t = t;
        s->ts[k].produced_at = -1;
        s->ts[k].matrix_only = true;
    }
    *out = k;
    return PLMM_OK;
}

static void dense_strides(nt_blob_tensor *bt)
{
    plmm_tensor x;
    memset(&x, 0, sizeof(x));
    x.dtype = bt->dtype;
    memcpy(x.ne, bt->ne, sizeof(x.ne));
    plmm_tensor_set_dense_strides(&x);
    memcpy(bt->nb, x.nb, sizeof(bt->nb));
    bt->data_size = plmm_tensor_nbytes(&x);
}

/* Steps 1 and 2: instructions over slots, roles of every slot. */
static plmm_status build_tables(cstate *s, nt_blob_instr *ins)
{
    const plmm_partition *p = s->part;
    plmm_host_api const *host = s->ctx->host;
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        const plmm_node *nd = &p->nodes[i];
        if (nd->dst == NULL || !nt_node_supported(nd))
            return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED,
                                  "node %u (%s) is not one this device runs", i,
                                  plmm_op_name(nd->op));
        nt_blob_instr *in = &ins[i];
        memset(in, 0, sizeof(*in));
        in->op = nd->op;
        memcpy(in->ip, nd->ip, sizeof(in->ip));
        memcpy(in->fp, nd->fp, sizeof(in->fp));
        plmm_status st;
        for (int k = 0; k < PLMM_MAX_SRC; k++) {
            in->src[k] = -1;
            if (nd->src[k] == NULL)
                continue;
            if ((st = add_tensor(s, nd->src[k], &in->src[k])) != PLMM_OK)
                return st;
            ctensor *c = &s->ts[in->src[k]];
            if (!(nd->op == PLMM_OP_MUL_MAT && k == 0))
                c->matrix_only = false;
            /* read before anything in the partition wrote it: it must flow in */
            if (c->produced_at < 0 && find_ptr(p->inputs, p->n_inputs, c->t) < 0 &&
                !(c->t->flags & PLMM_TENSOR_WEIGHT))
                return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG,
                                      "node %u reads '%s', which is neither an input, a weight "
                                      "nor produced earlier in the partition",
                                      i, tname(c->t));
        }
        if ((st = add_tensor(s, nd->dst, &in->dst)) != PLMM_OK)
            return st;
        ctensor *d = &s->ts[in->dst];
        d->matrix_only = false;
        if (d->produced_at >= 0 || find_ptr(p->inputs, p->n_inputs, d->t) >= 0 ||
            (d->t->flags & PLMM_TENSOR_WEIGHT))
            return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG,
                                  "node %u writes '%s', which is an input, a weight or written "
                                  "twice",
                                  i, tname(d->t));
        d->produced_at = (int32_t)i;
    }
    for (uint32_t i = 0; i < p->n_outputs; i++) {
        int32_t k = slot_of(s, p->outputs[i]);
        if (k < 0 || s->ts[k].produced_at < 0)
            return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG,
                                  "output %u is not produced by the partition", i);
    }
    for (uint32_t i = 0; i < p->n_inputs; i++)
        if (p->inputs[i] == NULL || p->inputs[i]->dtype != PLMM_DTYPE_F32)
            return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED, "input %u is not an F32 tensor", i);

    /* roles */
    for (uint32_t i = 0; i < s->n; i++) {
        ctensor *c = &s->ts[i];
        nt_blob_tensor *bt = &c->bt;
        const int32_t in = find_ptr(p->inputs, p->n_inputs, c->t);
        const int32_t out = find_ptr(p->outputs, p->n_outputs, c->t);
        bt->dtype = c->t->dtype;
        memcpy(bt->ne, c->t->ne, sizeof(bt->ne));
        memcpy(bt->nb, c->t->nb, sizeof(bt->nb));
        if (out >= 0) {
            bt->role = NT_ROLE_OUTPUT;
            bt->index = (uint32_t)out;
        } else if (in >= 0) {
            bt->role = NT_ROLE_INPUT;
            bt->index = (uint32_t)in;
        } else if (c->t->flags & PLMM_TENSOR_WEIGHT) {
            bt->role = NT_ROLE_WEIGHT;
            /* the device layout: Q8_0 matrices stay int8 with their block
             * scales, other matrices follow weight_format, the rest (norm
             * weights, biases) stay F32 */
            if (c->matrix_only && c->t->dtype == PLMM_DTYPE_Q8_0)
                bt->dtype = PLMM_DTYPE_Q8_0;
            else if (c->matrix_only && s->ctx->weight_format == NT_WEIGHTS_F16)
                bt->dtype = PLMM_DTYPE_F16;
            else
                bt->dtype = PLMM_DTYPE_F32;
            dense_strides(bt);
        } else {
            bt->role = NT_ROLE_INTERNAL;
            dense_strides(bt);
        }
    }
    return PLMM_OK;
}

/* ---- step 3: weights in the device layout ---- */

static plmm_status repack_weight(cstate *s, const ctensor *c, uint8_t *dst)
{
    const plmm_tensor *t = c->t;
    const nt_blob_tensor *bt = &c->bt;
    const uint8_t *base = nt_tensor_address(t);
    if (base == NULL)
        return plmm_sdk_error(s->ctx->host, PLMM_ERR_INVALID_ARG,
                              "weight '%s' is not host visible at compile time", tname(t));
    float *row_f32 = nt_alloc(s->ctx, (uint64_t)t->ne[0] * sizeof(float));
    if (row_f32 == NULL)
        return plmm_sdk_error(s->ctx->host, PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = PLMM_OK;
    for (int64_t i3 = 0; i3 < t->ne[3] && st == PLMM_OK; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2] && st == PLMM_OK; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1] && st == PLMM_OK; i1++) {
                const uint8_t *row = base + (uint64_t)i1 * t->nb[1] + (uint64_t)i2 * t->nb[2] +
                                     (uint64_t)i3 * t->nb[3];
                uint8_t *out = dst + (uint64_t)i1 * bt->nb[1] + (uint64_t)i2 * bt->nb[2] +
                               (uint64_t)i3 * bt->nb[3];
                if (bt->dtype == PLMM_DTYPE_Q8_0) {
                    /* TODO(vendor): your int8 layout (separate scale plane,
                     * per-channel scales, tiling for the MAC array) */
                    memcpy(out, row, (size_t)plmm_dtype_row_bytes(t->dtype, t->ne[0]));
                    continue;
                }
                if (!nt_dequant_row(t->dtype, row, t->ne[0], row_f32)) {
                    st = plmm_sdk_error(s->ctx->host, PLMM_ERR_UNSUPPORTED,
                                        "weight '%s': cannot convert %s rows", tname(t),
                                        plmm_dtype_name(t->dtype));
                    break;
                }
                for (int64_t i0 = 0; i0 < t->ne[0]; i0++) {
                    if (bt->dtype == PLMM_DTYPE_F16) {
                        const uint16_t h = plmm_fp32_to_fp16(row_f32[i0]);
                        memcpy(out + i0 * 2, &h, 2);
                    } else {
                        memcpy(out + i0 * 4, &row_f32[i0], 4);
                    }
                }
            }
    nt_free(s->ctx, row_f32);
    return st;
}

/* ---- steps 4 and 5 ---- */

plmm_status nt_partition_compile(plmm_backend_ctx *ctx, const plmm_partition *part, void **blob,
                                 uint64_t *blob_size)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (part == NULL || blob == NULL || blob_size == NULL ||
        part->struct_size < sizeof(plmm_partition) || part->nodes == NULL || part->n_nodes == 0 ||
        (part->n_inputs > 0 && part->inputs == NULL) ||
        (part->n_outputs > 0 && part->outputs == NULL))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "partition_compile: partition or out pointers are NULL or empty");
    if (part->n_nodes > NT_MAX_NODES)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "partition of %u nodes exceeds the device's %u", part->n_nodes,
                              NT_MAX_NODES);
    if (part->n_outputs == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "partition has no outputs");
    *blob = NULL;
    *blob_size = 0;
    uint8_t *b = NULL;
    cstate s = {.ctx = ctx, .part = part, .n = 0};
    /* a partition has at most 1 + PLMM_MAX_SRC tensors per node */
    const uint64_t cap = (uint64_t)part->n_nodes * (1 + PLMM_MAX_SRC);
    s.ts = nt_alloc(ctx, (cap < NT_MAX_TENSORS ? cap : NT_MAX_TENSORS) * sizeof(ctensor));
    nt_blob_instr *ins = nt_alloc(ctx, (uint64_t)part->n_nodes * sizeof(nt_blob_instr));
    plmm_status st = PLMM_OK;
    if (s.ts == NULL || ins == NULL) {
        st = plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory");
        goto out_free;
    }
    if ((st = build_tables(&s, ins)) != PLMM_OK)
        goto out_free;

    /* layout: [tensor table][instructions] | weights... ; arena separately */
    const uint64_t tables = nt_align_up((uint64_t)s.n * sizeof(nt_blob_tensor) +
                                        (uint64_t)part->n_nodes * sizeof(nt_blob_instr));
    uint64_t wbytes = 0, arena = 0;
    for (uint32_t i = 0; i < s.n; i++) {
        nt_blob_tensor *bt = &s.ts[i].bt;
        /* TODO(vendor): plan the arena with lifetimes (reuse a slot once its
         * last reader ran); the template gives every intermediate its own. */
        if (bt->role == NT_ROLE_INTERNAL) {
            bt->data_off = arena;
            arena += nt_align_up(bt->data_size);
        } else if (bt->role == NT_ROLE_WEIGHT) {
            bt->data_off = tables + wbytes;
            wbytes += nt_align_up(bt->data_size);
        }
    }
    const uint64_t payload = tables + wbytes;
    const uint64_t total = sizeof(nt_blob_header) + payload;
    b = nt_alloc(ctx, total);
    if (b == NULL) {
        st = plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory for a %llu-byte blob",
                            (unsigned long long)total);
        goto out_free;
    }
    memset(b, 0, (size_t)total);
    uint8_t *pl = b + sizeof(nt_blob_header);
    for (uint32_t i = 0; i < s.n; i++)
        memcpy(pl + (size_t)i * sizeof(nt_blob_tensor), &s.ts[i].bt, sizeof(nt_blob_tensor));
    memcpy(pl + (size_t)s.n * sizeof(nt_blob_tensor), ins,
           (size_t)part->n_nodes * sizeof(nt_blob_instr));
    for (uint32_t i = 0; i < s.n && st == PLMM_OK; i++)
        if (s.ts[i].bt.role == NT_ROLE_WEIGHT)
            st = repack_weight(&s, &s.ts[i], pl + s.ts[i].bt.data_off);
    if (st != PLMM_OK)
        goto out_free;

    nt_blob_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, NT_BLOB_MAGIC, sizeof(h.magic));
    h.format = NT_BLOB_FORMAT;
    h.bucket = part->bucket;
    h.n_tensors = s.n;
    h.n_instrs = part->n_nodes;
    h.n_inputs = part->n_inputs;
    h.n_outputs = part->n_outputs;
    h.key_hash = nt_checksum(ctx->key, strlen(ctx->key));
    h.arena_size = arena;
    h.payload_size = payload;
    h.checksum = nt_checksum(pl, payload);
    memcpy(b, &h, sizeof(h));
    *blob = b;
    *blob_size = total;
    b = NULL;

out_free:
    nt_free(ctx, b);
    nt_free(ctx, ins);
    nt_free(ctx, s.ts);
    return st;
}
