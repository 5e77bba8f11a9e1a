/*
 * Partition -> blob (the backend's own versioned format, npu.h) and blob
 * -> loaded executable. The blob is self-contained: tensor table, node
 * table and the requantized weights, so executing it never reads the
 * model again. It is bound to the compatibility key it was compiled under
 * and checksummed; blob_load rejects anything that does not validate with
 * PLMM_ERR_FORMAT so the engine recompiles.
 */
#include "npu.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <string.h>

/* FNV-1a over 64-bit little-endian words (then the tail bytes): a fast
 * integrity check of blobs, not a cryptographic one. */
uint64_t npu_fnv(const void *p, uint64_t n, uint64_t h)
{
    const uint8_t *b = p;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h ^= w;
        h *= UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

void npu_list_add(npu_node **head, npu_node *n)
{
    n->prev = NULL;
    n->next = *head;
    if (*head != NULL)
        (*head)->prev = n;
    *head = n;
}

void npu_list_remove(npu_node **head, npu_node *n)
{
    if (n->prev != NULL)
        n->prev->next = n->next;
    else if (*head == n)
        *head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

void *npu_alloc(plmm_backend_ctx *c, uint64_t size)
{
    if (size > (uint64_t)SIZE_MAX - NPU_ALIGN)
        return NULL;
    return c->host->alloc(c->host->host_ctx, (size_t)(size ? size : 1), NPU_ALIGN);
}

void npu_free(plmm_backend_ctx *c, void *p)
{
    c->host->free(c->host->host_ctx, p);
}

static uint64_t align_up(uint64_t v)
{
    return (v + NPU_ALIGN - 1) / NPU_ALIGN * NPU_ALIGN;
}

static bool part_ok(const plmm_partition *p)
{
    return p != NULL && p->struct_size >= sizeof(plmm_partition) && p->nodes != NULL &&
           p->n_nodes > 0 && p->n_nodes <= NPU_MAX_NODES &&
           (p->n_inputs == 0 || p->inputs != NULL) && (p->n_outputs == 0 || p->outputs != NULL);
}

/* ---- the partition's tensors, numbered by first appearance ---- */

typedef struct tensor_list {
    const plmm_tensor *v[NPU_MAX_TENSORS];
    uint32_t n;
} tensor_list;

static int32_t find(const tensor_list *l, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i] == t)
            return (int32_t)i;
    return -1;
}

static int32_t find_in(plmm_tensor *const *list, uint32_t n, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < n; i++)
        if (list[i] == t)
            return (int32_t)i;
    return -1;
}

/* false when the partition has too many tensors */
static bool collect(const plmm_partition *part, tensor_list *l)
{
    l->n = 0;
    for (uint32_t i = 0; i < part->n_nodes; i++) {
        const plmm_node *nd = &part->nodes[i];
        const plmm_tensor *ts[1 + PLMM_MAX_SRC] = {nd->dst, nd->src[0], nd->src[1], nd->src[2],
                                                   nd->src[3]};
        for (int k = 0; k < 1 + PLMM_MAX_SRC; k++) {
            if (ts[k] == NULL || find(l, ts[k]) >= 0)
                continue;
            if (l->n == NPU_MAX_TENSORS)
                return false;
            l->v[l->n++] = ts[k];
        }
    }
    return true;
}

/* ---- what the device runs (also the claim rule) ---- */

static bool is_f32_act(const plmm_tensor *t)
{
    return t != NULL && t->dtype == PLMM_DTYPE_F32;
}

static bool same_shape(const plmm_tensor *a, const plmm_tensor *b)
{
    return memcmp(a->ne, b->ne, sizeof(a->ne)) == 0;
}

static bool broadcastable(const plmm_tensor *a, const plmm_tensor *b)
{
    for (int d = 0; d < PLMM_MAX_DIMS; d++)
        if (b->ne[d] != a->ne[d] && b->ne[d] != 1)
            return false;
    return true;
}

bool npu_node_supported(const plmm_node *n)
{
    const plmm_tensor *d = n->dst, *a = n->src[0], *b = n->src[1];
    if (d == NULL || a == NULL || !is_f32_act(d))
        return false;
    for (int k = 0; k < PLMM_MAX_DIMS; k++)
        if (d->ne[k] < 1)
            return false;
    switch (n->op) {
    case PLMM_OP_MUL_MAT:
        /* weights: a constant 2D matrix with dense rows; activations: f32 rows */
        return (a->flags & PLMM_TENSOR_WEIGHT) && npu_weight_dtype_ok(a->dtype) && a->ne[2] == 1 &&
               a->ne[3] == 1 && plmm_dtype_row_bytes(a->dtype, a->ne[0]) > 0 &&
               a->nb[0] == plmm_dtype_block_bytes(a->dtype) && is_f32_act(b) &&
               b->ne[0] == a->ne[0] && b->ne[2] == 1 && b->ne[3] == 1 && d->ne[0] == a->ne[1] &&
               d->ne[1] == b->ne[1] && a->ne[0] <= 65536; /* int8 x int8 sums stay inside int32 */
    case PLMM_OP_RMS_NORM:
        return is_f32_act(a) && same_shape(a, d) &&
               (b == NULL ||
                ((b->flags & PLMM_TENSOR_WEIGHT) &&
                 (b->dtype == PLMM_DTYPE_F32 || b->dtype == PLMM_DTYPE_F16) &&
                 b->ne[0] == a->ne[0] && b->ne[1] == 1 && b->ne[2] == 1 && b->ne[3] == 1));
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        return is_f32_act(a) && same_shape(a, d) && b != NULL &&
               (is_f32_act(b) || ((b->flags & PLMM_TENSOR_WEIGHT) && b->dtype == PLMM_DTYPE_F16)) &&
               broadcastable(a, b);
    case PLMM_OP_SWIGLU:
        return is_f32_act(a) && is_f32_act(b) && same_shape(a, d) && same_shape(b, d);
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
        return is_f32_act(a) && same_shape(a, d);
    default:
        return false;
    }
}

/* Host address of a tensor's element 0 (host memory or one of our buffers). */
static const uint8_t *host_addr(const plmm_tensor *t)
{
    if (t->data != NULL)
        return t->data;
    if (t->buffer != NULL)
        return t->buffer->base + t->offset;
    return NULL;
}

/* ---- compile ---- */

plmm_status npu_compile(plmm_backend_ctx *c, const plmm_partition *part, void **blob,
                        uint64_t *blob_size)
{
    if (!part_ok(part) || blob == NULL || blob_size == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "partition or out pointer is NULL");
    *blob = NULL;
    *blob_size = 0;
    tensor_list *l = npu_alloc(c, sizeof(*l));
    npu_blob_tensor *bt = NULL;
    float *tmp = NULL;
    uint8_t *b = NULL;
    plmm_status st = PLMM_OK;
    if (l == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    if (!collect(part, l)) {
        st = plmm_sdk_error(c->host, PLMM_ERR_UNSUPPORTED, "more than %u tensors in a partition",
                            NPU_MAX_TENSORS);
        goto out;
    }
    for (uint32_t i = 0; i < part->n_nodes; i++)
        if (!npu_node_supported(&part->nodes[i])) {
            st = plmm_sdk_error(c->host, PLMM_ERR_UNSUPPORTED,
                                "node %u (%s) has a form this NPU does not run", i,
                                plmm_op_name(part->nodes[i].op));
            goto out;
        }
    bt = npu_alloc(c, (uint64_t)l->n * sizeof(*bt));
    if (bt == NULL) {
        st = plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(bt, 0, (size_t)l->n * sizeof(*bt));
    const uint64_t tables = align_up((uint64_t)l->n * sizeof(npu_blob_tensor) +
                                     (uint64_t)part->n_nodes * sizeof(npu_blob_node));
    uint64_t wbytes = 0;
    int64_t max_k = 1;
    for (uint32_t i = 0; i < l->n; i++) {
        const plmm_tensor *t = l->v[i];
        npu_blob_tensor *x = &bt[i];
        x->dtype = t->dtype;
        memcpy(x->ne, t->ne, sizeof(x->ne));
        x->index = -1;
        int32_t in = find_in(part->inputs, part->n_inputs, t);
        int32_t out = find_in(part->outputs, part->n_outputs, t);
        if (t->flags & PLMM_TENSOR_WEIGHT) {
            bool mat = false;
            for (uint32_t k = 0; k < part->n_nodes; k++)
                mat = mat || (part->nodes[k].op == PLMM_OP_MUL_MAT && part->nodes[k].src[0] == t);
            if (mat) {
                x->role = NPU_WMAT;
                x->data_size =
                    align_up((uint64_t)t->ne[0] * (uint64_t)t->ne[1]) + 8 * (uint64_t)t->ne[1];
                if (t->ne[0] > max_k)
                    max_k = t->ne[0];
            } else {
                x->role = NPU_WVEC;
                x->data_size = 2 * (uint64_t)plmm_tensor_nelements(t);
                if (!plmm_tensor_is_contiguous(t)) {
                    st = plmm_sdk_error(c->host, PLMM_ERR_UNSUPPORTED,
                                        "weight '%s' is not contiguous", t->name ? t->name : "?");
                    goto out;
                }
            }
            if (host_addr(t) == NULL) {
                st = plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                    "weight '%s' is not in host memory", t->name ? t->name : "?");
                goto out;
            }
            x->data_off = tables + wbytes;
            wbytes += align_up(x->data_size);
        } else if (in >= 0) {
            x->role = NPU_IN;
            x->index = in;
        } else if (out >= 0) {
            x->role = NPU_OUT;
            x->index = out;
        } else {
            x->role = NPU_SCRATCH;
        }
    }
    for (uint32_t i = 0; i < part->n_nodes; i++) {
        int32_t d = find(l, part->nodes[i].dst);
        if (bt[d].role == NPU_IN || bt[d].role == NPU_WMAT || bt[d].role == NPU_WVEC) {
            st = plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                "node %u writes an input or a weight", i);
            goto out;
        }
    }
    for (uint32_t i = 0; i < part->n_outputs; i++)
        if (find(l, part->outputs[i]) < 0) {
            st = plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                "output %u is not a tensor of the "
                                "partition's nodes",
                                i);
            goto out;
        }
    const uint64_t payload = tables + wbytes, total = sizeof(npu_blob_header) + payload;
    b = npu_alloc(c, total);
    tmp = npu_alloc(c, (uint64_t)max_k * sizeof(float));
    if (b == NULL || tmp == NULL) {
        st = plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory for a %llu-byte blob",
                            (unsigned long long)total);
        goto out;
    }
    memset(b, 0, (size_t)total);
    uint8_t *pl = b + sizeof(npu_blob_header);
    memcpy(pl, bt, (size_t)l->n * sizeof(*bt));
    npu_blob_node *bn = (npu_blob_node *)(void *)(pl + (size_t)l->n * sizeof(*bt));
    for (uint32_t i = 0; i < part->n_nodes; i++) {
        const plmm_node *nd = &part->nodes[i];
        npu_blob_node x = {.op = nd->op, .dst = find(l, nd->dst)};
        for (int k = 0; k < PLMM_MAX_SRC; k++)
            x.src[k] = nd->src[k] != NULL ? find(l, nd->src[k]) : -1;
        memcpy(x.ip, nd->ip, sizeof(x.ip));
        memcpy(x.fp, nd->fp, sizeof(x.fp));
        memcpy(&bn[i], &x, sizeof(x));
    }
    /* weights: requantize (matrices) or convert to fp16 (vectors) */
    for (uint32_t i = 0; i < l->n; i++) {
        const plmm_tensor *t = l->v[i];
        uint8_t *dst = pl + bt[i].data_off;
        if (bt[i].role == NPU_WMAT) {
            const int64_t K = t->ne[0], N = t->ne[1];
            int32_t *m = (int32_t *)(void *)(dst + align_up((uint64_t)K * (uint64_t)N));
            npu_quantize_matrix(t->dtype, host_addr(t), t->nb[1], K, N, (int8_t *)dst, m, m + N,
                                tmp);
        } else if (bt[i].role == NPU_WVEC) {
            const int64_t n = plmm_tensor_nelements(t);
            const uint8_t *src = host_addr(t);
            for (int64_t k = 0; k < n; k++) {
                float v;
                if (t->dtype == PLMM_DTYPE_F32) {
                    memcpy(&v, src + 4 * k, 4);
                } else {
                    uint16_t h;
                    memcpy(&h, src + 2 * k, 2);
                    v = plmm_fp16_to_fp32(h);
                }
                uint16_t h = plmm_fp32_to_fp16(v);
                memcpy(dst + 2 * k, &h, 2);
            }
        }
    }
    npu_blob_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, NPU_BLOB_MAGIC, 8);
    h.version = NPU_BLOB_VERSION;
    h.bucket = part->bucket;
    h.n_nodes = part->n_nodes;
    h.n_tensors = l->n;
    h.n_inputs = part->n_inputs;
    h.n_outputs = part->n_outputs;
    h.act_bits = c->act_bits;
    h.key_hash = c->key_hash;
    h.payload_size = payload;
    h.checksum = npu_fnv(pl, payload, UINT64_C(0xcbf29ce484222325));
    memcpy(b, &h, sizeof(h));
    *blob = b;
    *blob_size = total;
    b = NULL;
out:
    npu_free(c, b);
    npu_free(c, tmp);
    npu_free(c, bt);
    npu_free(c, l);
    return st;
}

/* ---- load ---- */

void npu_compiled_free(plmm_backend_ctx *c, plmm_compiled *cp)
{
    if (cp == NULL)
        return;
    for (uint32_t i = 0; cp->act != NULL && i < cp->h.n_tensors; i++)
        npu_free(c, cp->act[i]);
    npu_free(c, cp->act);
    npu_free(c, cp->xq);
    npu_free(c, cp->acc);
    npu_free(c, cp->payload);
    npu_free(c, cp);
}

static plmm_status bad_blob(plmm_backend_ctx *c, const char *why)
{
    return plmm_sdk_error(c->host, PLMM_ERR_FORMAT, "blob rejected: %s", why);
}

/* The structural checks of a loaded blob against the partition. */
static const char *validate(const plmm_compiled *cp, const plmm_partition *part,
                            const tensor_list *l, int64_t *max_k)
{
    const npu_blob_header *h = &cp->h;
    const uint64_t tables = (uint64_t)h->n_tensors * sizeof(npu_blob_tensor) +
                            (uint64_t)h->n_nodes * sizeof(npu_blob_node);
    *max_k = 1;
    if (l->n != h->n_tensors)
        return "compiled for a partition with other tensors";
    for (uint32_t i = 0; i < h->n_tensors; i++) {
        const npu_blob_tensor *t = &cp->bt[i];
        const plmm_tensor *pt = l->v[i];
        if (t->dtype != pt->dtype || memcmp(t->ne, pt->ne, sizeof(t->ne)) != 0)
            return "compiled for other tensor shapes or dtypes";
        for (int d = 0; d < PLMM_MAX_DIMS; d++)
            if (t->ne[d] < 1 || t->ne[d] > (INT64_C(1) << 32))
                return "tensor shape out of range";
        switch (t->role) {
        case NPU_IN:
            if (t->index < 0 || (uint32_t)t->index >= h->n_inputs || part->inputs[t->index] != pt)
                return "input binding differs";
            break;
        case NPU_OUT:
            if (t->index < 0 || (uint32_t)t->index >= h->n_outputs || part->outputs[t->index] != pt)
                return "output binding differs";
            break;
        case NPU_WMAT:
        case NPU_WVEC: {
            uint64_t need =
                t->role == NPU_WMAT
                    ? align_up((uint64_t)t->ne[0] * (uint64_t)t->ne[1]) + 8 * (uint64_t)t->ne[1]
                    : 2 * (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
            if (t->data_off < tables || t->data_off > h->payload_size ||
                t->data_size > h->payload_size - t->data_off || t->data_size < need ||
                t->data_off % NPU_ALIGN != 0)
                return "weight data out of range";
            if (t->role == NPU_WMAT && t->ne[0] > *max_k)
                *max_k = t->ne[0];
            break;
        }
        case NPU_SCRATCH:
            break;
        default:
            return "unknown tensor role";
        }
    }
    for (uint32_t i = 0; i < h->n_nodes; i++) {
        const npu_blob_node *b = &cp->bn[i];
        const plmm_node *pn = &part->nodes[i];
        if (b->op != pn->op || b->dst < 0 || (uint32_t)b->dst >= h->n_tensors ||
            l->v[b->dst] != pn->dst)
            return "compiled for other nodes";
        for (int k = 0; k < PLMM_MAX_SRC; k++) {
            if (b->src[k] < -1 || b->src[k] >= (int32_t)h->n_tensors)
                return "node source out of range";
            if ((b->src[k] < 0) != (pn->src[k] == NULL) ||
                (b->src[k] >= 0 && l->v[b->src[k]] != pn->src[k]))
                return "compiled for other node sources";
        }
        const uint32_t dr = cp->bt[b->dst].role;
        if (dr != NPU_OUT && dr != NPU_SCRATCH)
            return "a node writes an input or a weight";
        if (b->op == PLMM_OP_MUL_MAT && cp->bt[b->src[0]].role != NPU_WMAT)
            return "a matrix product without a compiled weight";
    }
    return NULL;
}

plmm_status npu_blob_load(plmm_backend_ctx *c, const plmm_partition *part, const void *blob,
                          uint64_t size, plmm_compiled **out)
{
    if (blob == NULL || out == NULL || !part_ok(part))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "blob, partition or out is NULL");
    *out = NULL;
    npu_blob_header h;
    if (size < sizeof(h))
        return bad_blob(c, "shorter than its header");
    memcpy(&h, blob, sizeof(h));
    const uint8_t *pl = (const uint8_t *)blob + sizeof(h);
    if (memcmp(h.magic, NPU_BLOB_MAGIC, 8) != 0 || h.version != NPU_BLOB_VERSION)
        return bad_blob(c, "not a blob of this NPU's format version");
    if (h.payload_size != size - sizeof(h))
        return bad_blob(c, "size does not match its header");
    if (npu_fnv(pl, h.payload_size, UINT64_C(0xcbf29ce484222325)) != h.checksum)
        return bad_blob(c, "checksum mismatch");
    if (h.key_hash != c->key_hash || h.act_bits != c->act_bits)
        return bad_blob(c, "compiled under another compatibility key (options or version)");
    if (h.bucket != part->bucket || h.n_nodes != part->n_nodes || h.n_inputs != part->n_inputs ||
        h.n_outputs != part->n_outputs || h.n_tensors == 0 || h.n_tensors > NPU_MAX_TENSORS)
        return bad_blob(c, "compiled for another partition or bucket");
    if ((uint64_t)h.n_tensors * sizeof(npu_blob_tensor) +
            (uint64_t)h.n_nodes * sizeof(npu_blob_node) >
        h.payload_size)
        return bad_blob(c, "tables exceed the payload");
    tensor_list *l = npu_alloc(c, sizeof(*l));
    plmm_compiled *cp = npu_alloc(c, sizeof(*cp));
    if (l == NULL || cp == NULL) {
        npu_free(c, l);
        npu_free(c, cp);
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    }
    memset(cp, 0, sizeof(*cp));
    cp->h = h;
    const char *bad = NULL;
    int64_t max_k = 1;
    if (!collect(part, l))
        bad = "partition has too many tensors";
    cp->payload = bad ? NULL : npu_alloc(c, h.payload_size);
    cp->act = bad ? NULL : npu_alloc(c, (uint64_t)h.n_tensors * sizeof(*cp->act));
    if (bad == NULL && (cp->payload == NULL || cp->act == NULL))
        bad = "out of memory";
    if (bad == NULL) {
        memset(cp->act, 0, (size_t)h.n_tensors * sizeof(*cp->act));
        memcpy(cp->payload, pl, (size_t)h.payload_size);
        cp->bt = (const npu_blob_tensor *)(const void *)cp->payload;
        cp->bn = (const npu_blob_node *)(const void *)(cp->payload +
                                                       h.n_tensors * sizeof(npu_blob_tensor));
        bad = validate(cp, part, l, &max_k);
    }
    for (uint32_t i = 0; bad == NULL && i < h.n_tensors; i++) {
        const npu_blob_tensor *t = &cp->bt[i];
        if (t->role == NPU_WMAT)
            continue;
        uint64_t n =
            (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        if (n > (UINT64_C(1) << 31) || (cp->act[i] = npu_alloc(c, 4 * n)) == NULL) {
            bad = "activation storage too large or out of memory";
            break;
        }
        if (t->role == NPU_WVEC) /* fp16 weights, widened once */
            for (uint64_t k = 0; k < n; k++) {
                uint16_t v;
                memcpy(&v, cp->payload + t->data_off + 2 * k, 2);
                cp->act[i][k] = plmm_fp16_to_fp32(v);
            }
    }
    if (bad == NULL) {
        cp->xq = npu_alloc(c, (uint64_t)max_k * 2); /* int8 or int16 row */
        cp->acc = npu_alloc(c, 16);
        if (cp->xq == NULL || cp->acc == NULL)
            bad = "out of memory";
    }
    npu_free(c, l);
    if (bad != NULL) {
        npu_compiled_free(c, cp);
        return strcmp(bad, "out of memory") == 0
                   ? plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory")
                   : bad_blob(c, bad);
    }
    npu_list_add(&c->compiled, &cp->link);
    *out = cp;
    return PLMM_OK;
}
