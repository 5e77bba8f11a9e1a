/*
 * Backend instances, guarded buffers and single-node execution for the
 * cases. Every buffer is allocated through the backend under test
 * (buffer_alloc, buffer_write, buffer_read), so device memory is tested
 * for real; a node runs through graph_compute or, for backends with only
 * the partition contract, as a one-node partition (claim, compile,
 * blob_load, execute).
 */
#include "conformance.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- instances ---- */

plmm_status conf_be_open(plmm_registry *reg, const char *name, conf_be *out, char *why,
                         size_t why_size)
{
    memset(out, 0, sizeof(*out));
    plmm_status st = plmm_backend_inst_create(reg, name, &out->inst);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "%s", plmm_last_errmsg());
        return st;
    }
    out->desc = plmm_backend_inst_desc(out->inst);
    out->vt = plmm_backend_inst_vtbl(out->inst);
    out->ctx = plmm_backend_inst_ctx(out->inst);
    out->host = plmm_backend_inst_host(out->inst);
    out->use_partition = !(out->desc->contracts & PLMM_CONTRACT_GRAPH) &&
                         (out->desc->contracts & PLMM_CONTRACT_PARTITION);
    plmm_buffer_reqs rq;
    memset(&rq, 0, sizeof(rq));
    rq.struct_size = sizeof(rq);
    out->align = 1;
    if (plmm_backend_has(out->vt, buffer_reqs)) {
        st = out->vt->buffer_reqs(out->ctx, PLMM_BUFFER_ACTIVATIONS, &rq);
        if (st != PLMM_OK) {
            snprintf(why, why_size, "buffer_reqs: %s", conf_be_errmsg(out, st));
            conf_be_close(out);
            return st;
        }
        if (rq.alignment > 1 && (rq.alignment & (rq.alignment - 1)) == 0)
            out->align = rq.alignment;
    }
    return PLMM_OK;
}

void conf_be_close(conf_be *b)
{
    if (b->inst != NULL)
        plmm_backend_inst_destroy(b->inst);
    memset(b, 0, sizeof(*b));
}

bool conf_declares(const plmm_backend_desc *d, uint32_t op, uint32_t dtype)
{
    if (d == NULL || d->caps == NULL || dtype >= 64)
        return false;
    for (uint32_t i = 0; i < d->n_caps; i++)
        if (d->caps[i].op == op && (d->caps[i].dtypes & PLMM_DTYPE_BIT(dtype)))
            return true;
    return false;
}

uint32_t conf_declared_flags(const plmm_backend_desc *d, uint32_t op, uint32_t dtype)
{
    uint32_t flags = 0;
    if (d == NULL || d->caps == NULL || dtype >= 64)
        return 0;
    for (uint32_t i = 0; i < d->n_caps; i++)
        if (d->caps[i].op == op && (d->caps[i].dtypes & PLMM_DTYPE_BIT(dtype)))
            flags |= d->caps[i].flags;
    return flags;
}

void conf_be_clear_error(conf_be *b)
{
    if (b->inst != NULL) {
        plmm_status ignored = plmm_backend_inst_fail(b->inst, PLMM_ERR_UNSUPPORTED);
        (void)ignored;
    }
}

const char *conf_be_errmsg(const conf_be *b, plmm_status st)
{
    const char *m = b->inst != NULL ? plmm_backend_inst_errmsg(b->inst) : "";
    return m[0] != '\0' ? m : plmm_status_str(st);
}

/* ---- guarded buffers ---- */

uint8_t conf_guard_byte(uint64_t i)
{
    return (uint8_t)(0xA7u ^ (uint8_t)(i * 29u));
}

static uint64_t guard_size(const conf_be *be)
{
    uint64_t g = CONF_GUARD_MIN;
    if (be->align > g)
        g = be->align;
    return (g + be->align - 1) / be->align * be->align;
}

plmm_status conf_buf_alloc(conf_be *be, uint64_t storage, uint32_t usage, conf_buf *out, char *why,
                           size_t why_size)
{
    memset(out, 0, sizeof(*out));
    out->base = guard_size(be);
    out->storage = storage;
    out->size = out->base + storage + out->base;
    plmm_status st = be->vt->buffer_alloc(be->ctx, out->size, usage, &out->buf);
    if (st != PLMM_OK || out->buf == NULL) {
        snprintf(why, why_size, "buffer_alloc of %llu bytes: %s", (unsigned long long)out->size,
                 st != PLMM_OK ? conf_be_errmsg(be, st) : "returned no buffer");
        out->buf = NULL;
        return st != PLMM_OK ? st : PLMM_ERR_BACKEND;
    }
    void *p = NULL;
    if (plmm_backend_has(be->vt, buffer_map) &&
        be->vt->buffer_map(be->ctx, out->buf, &p) == PLMM_OK)
        out->map = p;
    /* a failed map is normal for device memory; forget its message */
    if (out->map == NULL)
        conf_be_clear_error(be);
    return PLMM_OK;
}

void conf_buf_free(conf_be *be, conf_buf *b)
{
    if (b->buf != NULL)
        be->vt->buffer_free(be->ctx, b->buf);
    memset(b, 0, sizeof(*b));
}

plmm_status conf_buf_upload(conf_be *be, conf_buf *b, const uint8_t *image, char *why,
                            size_t why_size)
{
    uint8_t *all = malloc((size_t)b->size);
    if (all == NULL) {
        snprintf(why, why_size, "out of host memory");
        return PLMM_ERR_NOMEM;
    }
    for (uint64_t i = 0; i < b->base; i++) {
        all[i] = conf_guard_byte(i);
        all[b->base + b->storage + i] = conf_guard_byte(i + 1000);
    }
    if (b->storage > 0)
        memcpy(all + b->base, image, (size_t)b->storage);
    plmm_status st = be->vt->buffer_write(be->ctx, b->buf, 0, all, b->size, 0);
    if (st != PLMM_OK)
        snprintf(why, why_size, "buffer_write of %llu bytes: %s", (unsigned long long)b->size,
                 conf_be_errmsg(be, st));
    free(all);
    return st;
}

plmm_status conf_buf_download(conf_be *be, conf_buf *b, uint8_t *dst, char *why, size_t why_size)
{
    plmm_status st = be->vt->buffer_read(be->ctx, b->buf, 0, dst, b->size, 0);
    if (st != PLMM_OK)
        snprintf(why, why_size, "buffer_read of %llu bytes: %s", (unsigned long long)b->size,
                 conf_be_errmsg(be, st));
    return st;
}

/* ---- operands ---- */

int64_t conf_operand_nelements(const conf_operand *o)
{
    return o->ne[0] * o->ne[1] * o->ne[2] * o->ne[3];
}

bool conf_operand_dense(conf_operand *o, uint32_t dtype, int kind, int64_t ne0, int64_t ne1,
                        int64_t ne2, int64_t ne3)
{
    plmm_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = ne3;
    if (!plmm_tensor_set_dense_strides(&t))
        return false;
    return conf_operand_view(o, dtype, kind, t.ne, t.nb, 0, plmm_tensor_nbytes(&t));
}

bool conf_operand_view(conf_operand *o, uint32_t dtype, int kind, const int64_t ne[4],
                       const uint64_t nb[4], uint64_t offset, uint64_t storage)
{
    memset(o, 0, sizeof(*o));
    o->dtype = dtype;
    o->kind = kind;
    memcpy(o->ne, ne, sizeof(o->ne));
    memcpy(o->nb, nb, sizeof(o->nb));
    o->offset = offset;
    o->storage = storage;
    o->image = calloc(1, (size_t)storage + 1);
    return o->image != NULL;
}

void conf_node_free(conf_node *n)
{
    for (int i = 0; i < 1 + PLMM_MAX_SRC; i++) {
        free(n->t[i].image);
        n->t[i].image = NULL;
    }
}

/* Byte offset of each block-row element i (ne order, whole blocks along ne[0]). */
static void for_each_element(const conf_operand *o, void (*fn)(void *u, int64_t i, uint64_t off),
                             void *u)
{
    const uint32_t be = plmm_dtype_block_elems(o->dtype);
    const int64_t n0 = o->ne[0] / (be ? be : 1);
    int64_t i = 0;
    for (int64_t i3 = 0; i3 < o->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < o->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < o->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < n0; i0++)
                    fn(u, i++,
                       o->offset + (uint64_t)i0 * o->nb[0] + (uint64_t)i1 * o->nb[1] +
                           (uint64_t)i2 * o->nb[2] + (uint64_t)i3 * o->nb[3]);
}

typedef struct fill_ctx {
    conf_rng *g;
    const conf_operand *o;
    float scale;
} fill_ctx;

static void fill_one(void *u, int64_t i, uint64_t off)
{
    fill_ctx *f = u;
    (void)i;
    conf_fill(f->g, f->o->dtype, f->o->image + off, plmm_dtype_block_elems(f->o->dtype), f->scale);
}

void conf_node_randomize(conf_node *cn, conf_rng *g, float scale)
{
    for (int i = 1; i < 1 + PLMM_MAX_SRC; i++) {
        conf_operand *o = &cn->t[i];
        if (!cn->used[i] || o->kind == CT_OUTPUT)
            continue;
        /* NaN between and around the view's elements (all-ones bytes are NaN in
         * F32, F16 and BF16): a backend that reads outside the view fails */
        memset(o->image, 0xFF, (size_t)o->storage);
        fill_ctx f = {g, o, scale};
        for_each_element(o, fill_one, &f);
    }
    conf_operand *d = &cn->t[0];
    if (!cn->inplace && cn->used[0])
        for (uint64_t i = 0; i < d->storage; i++)
            d->image[i] = (uint8_t)(0x3Cu + 13u * (uint8_t)i);
}

/* ---- checks after a run ---- */

typedef struct mark_ctx {
    uint8_t *mask;
    uint64_t es;
} mark_ctx;

static void mark_one(void *u, int64_t i, uint64_t off)
{
    mark_ctx *m = u;
    (void)i;
    memset(m->mask + off, 1, (size_t)m->es);
}

/* Did the backend write anything but dst's elements? all = the buffer. */
static bool check_untouched(const conf_operand *o, const conf_buf *b, const uint8_t *all, char *why,
                            size_t why_size)
{
    uint64_t before = 0, after = 0, gaps = 0, first = UINT64_MAX;
    const char *where = "";
    for (uint64_t i = 0; i < b->base; i++) {
        if (all[i] != conf_guard_byte(i)) {
            if (before++ == 0) {
                first = i;
                where = "in the guard region before";
            }
        }
        if (all[b->base + b->storage + i] != conf_guard_byte(i + 1000)) {
            if (after++ == 0 && before == 0) {
                first = b->base + b->storage + i;
                where = "in the guard region after";
            }
        }
    }
    uint8_t *mask = calloc(1, (size_t)o->storage + 1);
    if (mask == NULL)
        return true;
    mark_ctx m = {mask, plmm_dtype_block_bytes(o->dtype)};
    for_each_element(o, mark_one, &m);
    for (uint64_t i = 0; i < o->storage; i++) {
        if (!mask[i] && all[b->base + i] != o->image[i]) {
            if (gaps++ == 0 && before == 0 && after == 0) {
                first = b->base + i;
                where = "in storage outside the output view";
            }
        }
    }
    free(mask);
    if (before + after + gaps == 0)
        return true;
    snprintf(why, why_size,
             "wrote outside the output: %llu byte(s) changed %s (first at buffer offset %llu; "
             "guard before: %llu, guard after: %llu, outside the view: %llu)",
             (unsigned long long)(before + after + gaps), where, (unsigned long long)first,
             (unsigned long long)before, (unsigned long long)after, (unsigned long long)gaps);
    return false;
}

typedef struct extract_ctx {
    const uint8_t *base;
    uint32_t dtype;
    float *out;
} extract_ctx;

static void extract_one(void *u, int64_t i, uint64_t off)
{
    extract_ctx *x = u;
    x->out[i] = conf_load_float(x->dtype, x->base + off);
}

/* ---- execution ---- */

static plmm_status run_partition(conf_be *be, plmm_node *node, plmm_tensor *const *ins,
                                 uint32_t n_in, plmm_tensor *const *outs, uint32_t n_out,
                                 uint32_t bucket, char *why, size_t why_size);

plmm_status conf_node_prepare(conf_be *be, const conf_node *cn, conf_prepared *p, char *why,
                              size_t why_size)
{
    conf_buf *bufs = p->bufs;
    plmm_tensor *ts = p->ts;
    plmm_status st = PLMM_OK;
    memset(p, 0, sizeof(*p));
    conf_step("allocate and upload the operands of %s", plmm_op_name(cn->op));
    for (int i = 0; i < 1 + PLMM_MAX_SRC; i++) {
        const conf_operand *o = &cn->t[i];
        if (!cn->used[i] || (i == 0 && cn->inplace))
            continue;
        plmm_tensor *t = &ts[i];
        t->dtype = o->dtype;
        memcpy(t->ne, o->ne, sizeof(t->ne));
        memcpy(t->nb, o->nb, sizeof(t->nb));
        t->id = (uint32_t)i;
        t->name = i == 0 ? "dst" : i == 1 ? "src0" : i == 2 ? "src1" : i == 3 ? "src2" : "src3";
        t->flags = o->kind == CT_WEIGHT   ? PLMM_TENSOR_WEIGHT
                   : o->kind == CT_OUTPUT ? PLMM_TENSOR_OUTPUT
                                          : PLMM_TENSOR_INPUT;
        if (i == 1 && cn->inplace)
            t->flags |= PLMM_TENSOR_OUTPUT;
        if (o->offset != 0 || !plmm_tensor_is_contiguous(t))
            t->flags |= PLMM_TENSOR_VIEW;
        if (be->use_partition && o->kind == CT_WEIGHT) {
            /* the partition contract reads weights from host memory at compile time */
            t->data = o->image + o->offset;
            continue;
        }
        uint32_t usage = o->kind == CT_WEIGHT ? PLMM_BUFFER_WEIGHTS : PLMM_BUFFER_ACTIVATIONS;
        if ((st = conf_buf_alloc(be, o->storage, usage, &bufs[i], why, why_size)) != PLMM_OK)
            break;
        if ((st = conf_buf_upload(be, &bufs[i], o->image, why, why_size)) != PLMM_OK)
            break;
        t->buffer = bufs[i].buf;
        t->offset = bufs[i].base + o->offset;
        t->data = bufs[i].map != NULL ? (uint8_t *)bufs[i].map + t->offset : NULL;
    }
    if (st != PLMM_OK) {
        conf_prepared_free(be, p);
        return st;
    }
    plmm_node *node = &p->node;
    node->op = cn->op;
    memcpy(node->ip, cn->ip, sizeof(node->ip));
    memcpy(node->fp, cn->fp, sizeof(node->fp));
    node->dst = cn->inplace ? &ts[1] : &ts[0];
    for (int k = 0; k < PLMM_MAX_SRC; k++)
        node->src[k] = cn->used[1 + k] ? &ts[1 + k] : NULL;
    return PLMM_OK;
}

plmm_status conf_prepared_compute(conf_be *be, conf_prepared *p, char *why, size_t why_size)
{
    plmm_graph g = {.struct_size = sizeof(plmm_graph), .n_nodes = 1, .nodes = &p->node};
    conf_step("graph_compute %s", plmm_op_name(p->node.op));
    plmm_status st = be->vt->graph_compute(be->ctx, &g);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "graph_compute: %s", conf_be_errmsg(be, st));
        return st;
    }
    conf_step("synchronize after %s", plmm_op_name(p->node.op));
    st = be->vt->synchronize(be->ctx);
    if (st != PLMM_OK)
        snprintf(why, why_size, "synchronize: %s", conf_be_errmsg(be, st));
    return st;
}

void conf_prepared_free(conf_be *be, conf_prepared *p)
{
    for (int i = 0; i < 1 + PLMM_MAX_SRC; i++)
        conf_buf_free(be, &p->bufs[i]);
}

plmm_status conf_node_run(conf_be *be, const conf_node *cn, bool checks, float **out, int64_t *n,
                          char *why, size_t why_size)
{
    conf_prepared prep;
    conf_buf *bufs = prep.bufs;
    plmm_tensor *ts = prep.ts;
    uint8_t *all = NULL;
    *out = NULL;
    *n = 0;
    plmm_status st = conf_node_prepare(be, cn, &prep, why, why_size);
    if (st != PLMM_OK)
        return st;
    plmm_node node = prep.node;

    if (be->use_partition) {
        plmm_tensor *ins[PLMM_MAX_SRC], *outs[1] = {node.dst};
        uint32_t n_in = 0;
        for (int k = 0; k < PLMM_MAX_SRC; k++)
            if (cn->used[1 + k] && cn->t[1 + k].kind == CT_INPUT)
                ins[n_in++] = &ts[1 + k];
        st = run_partition(be, &node, ins, n_in, outs, 1, cn->bucket, why, why_size);
    } else {
        st = conf_prepared_compute(be, &prep, why, why_size);
    }
    if (st != PLMM_OK)
        goto out_free;

    conf_step("read back the output of %s", plmm_op_name(cn->op));
    const int di = cn->inplace ? 1 : 0;
    const conf_operand *d = &cn->t[0];
    const conf_operand *dstore = &cn->t[di];
    all = malloc((size_t)bufs[di].size);
    if (all == NULL) {
        st = PLMM_ERR_NOMEM;
        snprintf(why, why_size, "out of host memory");
        goto out_free;
    }
    if ((st = conf_buf_download(be, &bufs[di], all, why, why_size)) != PLMM_OK)
        goto out_free;
    if (checks) {
        /* dst's view over its storage, with the storage's original image */
        conf_operand view = *d;
        view.image = dstore->image;
        view.storage = dstore->storage;
        if (!check_untouched(&view, &bufs[di], all, why, why_size)) {
            st = PLMM_ERR_INTERNAL;
            goto out_free;
        }
    }
    *n = conf_operand_nelements(d);
    *out = malloc((size_t)*n * sizeof(float));
    if (*out == NULL) {
        st = PLMM_ERR_NOMEM;
        snprintf(why, why_size, "out of host memory");
        goto out_free;
    }
    extract_ctx x = {all + bufs[di].base, d->dtype, *out};
    for_each_element(d, extract_one, &x);

    for (int i = 1; checks && i < 1 + PLMM_MAX_SRC; i++) {
        if (!cn->used[i] || bufs[i].buf == NULL || (i == 1 && cn->inplace))
            continue;
        uint8_t *in = malloc((size_t)bufs[i].size);
        if (in == NULL)
            continue;
        conf_step("read back input src%d", i - 1);
        st = conf_buf_download(be, &bufs[i], in, why, why_size);
        bool same = st == PLMM_OK &&
                    memcmp(in + bufs[i].base, cn->t[i].image, (size_t)bufs[i].storage) == 0;
        for (uint64_t k = 0; same && k < bufs[i].base; k++)
            same = in[k] == conf_guard_byte(k) &&
                   in[bufs[i].base + bufs[i].storage + k] == conf_guard_byte(k + 1000);
        free(in);
        if (st != PLMM_OK)
            goto out_free;
        if (!same) {
            st = PLMM_ERR_INTERNAL;
            snprintf(why, why_size, "the backend modified its input src%d (or its guards)", i - 1);
            goto out_free;
        }
    }

out_free:
    free(all);
    if (st != PLMM_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    conf_prepared_free(be, &prep);
    return st;
}

static plmm_status run_partition(conf_be *be, plmm_node *node, plmm_tensor *const *ins,
                                 uint32_t n_in, plmm_tensor *const *outs, uint32_t n_out,
                                 uint32_t bucket, char *why, size_t why_size)
{
    const plmm_backend_vtbl *vt = be->vt;
    plmm_graph g = {.struct_size = sizeof(plmm_graph), .n_nodes = 1, .nodes = node};
    uint8_t claim = 0;
    conf_step("partition_claim %s", plmm_op_name(node->op));
    plmm_status st = vt->partition_claim(be->ctx, &g, &claim);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "partition_claim: %s", conf_be_errmsg(be, st));
        return st;
    }
    if (!claim) {
        snprintf(why, why_size, "partition_claim did not claim the %s node",
                 plmm_op_name(node->op));
        return PLMM_ERR_UNSUPPORTED;
    }
    plmm_partition part = {.struct_size = sizeof(plmm_partition),
                           .bucket = bucket,
                           .n_nodes = 1,
                           .n_inputs = n_in,
                           .n_outputs = n_out,
                           .nodes = node,
                           .inputs = ins,
                           .outputs = outs};
    void *blob = NULL;
    uint64_t blob_size = 0;
    plmm_compiled *cp = NULL;
    conf_step("partition_compile %s", plmm_op_name(node->op));
    st = vt->partition_compile(be->ctx, &part, &blob, &blob_size);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "partition_compile: %s", conf_be_errmsg(be, st));
        return st;
    }
    conf_step("blob_load %s", plmm_op_name(node->op));
    st = vt->blob_load(be->ctx, &part, blob, blob_size, &cp);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "blob_load: %s", conf_be_errmsg(be, st));
        goto out_blob;
    }
    conf_step("compiled_execute %s", plmm_op_name(node->op));
    st = vt->compiled_execute(be->ctx, cp, &part);
    if (st == PLMM_OK)
        st = vt->synchronize(be->ctx);
    if (st != PLMM_OK)
        snprintf(why, why_size, "compiled_execute: %s", conf_be_errmsg(be, st));
    vt->compiled_free(be->ctx, cp);
out_blob:
    be->host->free(be->host->host_ctx, blob);
    return st;
}
