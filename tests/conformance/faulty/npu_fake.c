/*
 * A fake NPU backend that implements the partition contract correctly, so
 * the conformance suite's NPU cases have something to certify. It claims
 * every node the CPU plugin accepts; partition_compile serializes the
 * partition (tensor table, nodes, weights) into a checksummed blob bound
 * to the compatibility key; blob_load validates it; compiled_execute binds
 * the live inputs and outputs and runs the nodes on the wrapped CPU plugin
 * (CPU_PLUGIN_PATH). Buffers are the CPU plugin's.
 *
 * Limitation: intermediates of a partition get their own storage, so
 * views that alias another intermediate are not supported.
 *
 * Built only for tests; never installed.
 */
#include "plmm/backend.h"
#include "plmm_sdk.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#ifndef CPU_PLUGIN_PATH
#error "CPU_PLUGIN_PATH must be defined"
#endif

#define BLOB_MAGIC "PLMMFNPU"
#define BLOB_VERSION 1u
#define DATA_ALIGN 64
#define MAX_TENSORS 256

enum { ROLE_INPUT = 1, ROLE_OUTPUT = 2, ROLE_WEIGHT = 3, ROLE_INTERNAL = 4 };

typedef struct blob_header {
    char magic[8];
    uint32_t version;
    uint32_t bucket;
    uint32_t n_nodes;
    uint32_t n_tensors;
    uint32_t n_inputs;
    uint32_t n_outputs;
    uint64_t key_hash;
    uint64_t payload_size;
    uint64_t checksum; /* FNV-1a of the payload */
} blob_header;

typedef struct blob_tensor {
    uint32_t dtype;
    uint32_t role;
    int32_t index; /* input or output index */
    uint32_t reserved;
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t nb[PLMM_MAX_DIMS];
    uint64_t data_off; /* weights: offset inside the payload */
    uint64_t data_size;
} blob_tensor;

typedef struct blob_node {
    uint32_t op;
    int32_t dst;
    int32_t src[PLMM_MAX_SRC];
    int32_t ip[PLMM_MAX_PARAMS];
    float fp[PLMM_MAX_PARAMS];
} blob_node;

struct plmm_backend_ctx {
    const plmm_host_api *host;
    void *dl;
    const plmm_backend_vtbl *cpu;
    plmm_backend_ctx *inner;
    int64_t opt_level;
    char key[128];
};

struct plmm_compiled {
    uint32_t bucket, n_nodes, n_tensors, n_inputs, n_outputs;
    uint8_t *payload;      /* copy, DATA_ALIGN-aligned */
    const blob_tensor *bt; /* into payload */
    const blob_node *bn;   /* into payload */
    void **internal;       /* per tensor: storage of intermediates */
    plmm_tensor *tensors;  /* scratch for execute */
    plmm_node *nodes;      /* scratch for execute */
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

static uint64_t fnv(const void *p, uint64_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void *halloc(plmm_backend_ctx *c, uint64_t size)
{
    return c->host->alloc(c->host->host_ctx, (size_t)(size ? size : 1), DATA_ALIGN);
}

static void hfree(plmm_backend_ctx *c, void *p)
{
    c->host->free(c->host->host_ctx, p);
}

/* ---- lifecycle ---- */

static plmm_status n_init(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                          plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL || host->alloc == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (n_opts > 0 && opts == NULL)
        return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "options are NULL");
    int64_t level = 1;
    for (uint32_t i = 0; i < n_opts; i++) {
        if (opts[i].key == NULL || strcmp(opts[i].key, "opt_level") != 0)
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "unknown option '%s'",
                                  opts[i].key ? opts[i].key : "(null)");
        if (opts[i].type != PLMM_OPT_INT || opts[i].v.i < 0 || opts[i].v.i > 3)
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "opt_level must be an integer 0..3");
        level = opts[i].v.i;
    }
    plmm_backend_ctx *c = host->alloc(host->host_ctx, sizeof(*c), _Alignof(plmm_backend_ctx));
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->opt_level = level;
    snprintf(c->key, sizeof(c->key), "npu-fake 0.1.0 blob %u opt_level %lld", BLOB_VERSION,
             (long long)level);
    c->dl = dlopen(CPU_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    void *sym = c->dl != NULL ? dlsym(c->dl, PLMM_PLUGIN_ENTRY_SYMBOL) : NULL;
    plmm_plugin_entry_fn entry = NULL;
    if (sym != NULL)
        memcpy(&entry, &sym, sizeof(entry));
    const plmm_backend_desc *d = entry != NULL ? entry() : NULL;
    plmm_status st = PLMM_ERR_PLUGIN;
    if (d != NULL) {
        c->cpu = d->vtbl;
        plmm_option_value one = {.key = "threads", .type = PLMM_OPT_INT};
        one.v.i = 1;
        st = c->cpu->init(host, &one, 1, &c->inner);
    }
    if (st != PLMM_OK) {
        if (c->dl != NULL)
            dlclose(c->dl);
        host->free(host->host_ctx, c);
        return st == PLMM_ERR_PLUGIN
                   ? plmm_sdk_error(host, st, "cannot load the cpu plugin %s", CPU_PLUGIN_PATH)
                   : st;
    }
    *out = c;
    return PLMM_OK;
}

static void n_shutdown(plmm_backend_ctx *c)
{
    if (c == NULL)
        return;
    c->cpu->shutdown(c->inner);
    dlclose(c->dl);
    c->host->free(c->host->host_ctx, c);
}

static plmm_status n_device_count(plmm_backend_ctx *c, uint32_t *out)
{
    if (c == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    *out = 1;
    return PLMM_OK;
}

static plmm_status n_device_props(plmm_backend_ctx *c, uint32_t index, plmm_device_props *out)
{
    if (c == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (index != 0)
        return plmm_sdk_error(c->host, PLMM_ERR_RANGE, "device %u: one device", index);
    if (out->struct_size < offsetof(plmm_device_props, name))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "struct_size too small");
    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = out->struct_size;
    p.type = PLMM_DEVICE_NPU;
    snprintf(p.name, sizeof(p.name), "fake NPU (cpu plugin)");
    snprintf(p.driver, sizeof(p.driver), "npu-fake 0.1.0");
    p.flags = PLMM_DEVICE_UNIFIED_MEMORY | PLMM_DEVICE_SOFTWARE;
    p.compute_units = 1;
    memcpy(out, &p, out->struct_size < sizeof(p) ? out->struct_size : sizeof(p));
    return PLMM_OK;
}

/* ---- buffers: the CPU plugin's ---- */

static plmm_status n_buffer_reqs(plmm_backend_ctx *c, uint32_t u, plmm_buffer_reqs *out)
{
    return c != NULL ? c->cpu->buffer_reqs(c->inner, u, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_buffer_alloc(plmm_backend_ctx *c, uint64_t size, uint32_t u, plmm_buffer **out)
{
    return c != NULL ? c->cpu->buffer_alloc(c->inner, size, u, out) : PLMM_ERR_INVALID_ARG;
}

static void n_buffer_free(plmm_backend_ctx *c, plmm_buffer *b)
{
    if (c != NULL)
        c->cpu->buffer_free(c->inner, b);
}

static plmm_status n_buffer_map(plmm_backend_ctx *c, plmm_buffer *b, void **out)
{
    return c != NULL ? c->cpu->buffer_map(c->inner, b, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_buffer_write(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off,
                                  const void *src, uint64_t size, uint32_t flags)
{
    return c != NULL ? c->cpu->buffer_write(c->inner, b, off, src, size, flags)
                     : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_buffer_read(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off, void *dst,
                                 uint64_t size, uint32_t flags)
{
    return c != NULL ? c->cpu->buffer_read(c->inner, b, off, dst, size, flags)
                     : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_synchronize(plmm_backend_ctx *c)
{
    return c != NULL ? c->cpu->synchronize(c->inner) : PLMM_ERR_INVALID_ARG;
}

/* ---- partition contract ---- */

static plmm_status n_claim(plmm_backend_ctx *c, const plmm_graph *g, uint8_t *claim)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (g == NULL || claim == NULL || (g->n_nodes > 0 && g->nodes == NULL))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "graph or claim is NULL");
    for (uint32_t i = 0; i < g->n_nodes; i++)
        claim[i] = c->cpu->supports_node(c->inner, &g->nodes[i]) ? 1 : 0;
    return PLMM_OK;
}

static plmm_status n_compat_key(plmm_backend_ctx *c, char *buf, size_t size)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (buf == NULL || size == 0)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "key buffer is NULL or empty");
    snprintf(buf, size, "%s", c->key);
    return PLMM_OK;
}

static bool part_ok(const plmm_partition *p)
{
    return p != NULL && p->struct_size >= sizeof(plmm_partition) && p->nodes != NULL &&
           p->n_nodes > 0 && (p->n_inputs == 0 || p->inputs != NULL) &&
           (p->n_outputs == 0 || p->outputs != NULL);
}

static int32_t find_tensor(const plmm_tensor *const *list, uint32_t n, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < n; i++)
        if (list[i] == t)
            return (int32_t)i;
    return -1;
}

static int32_t find_bound(plmm_tensor *const *list, uint32_t n, const plmm_tensor *t)
{
    for (uint32_t i = 0; i < n; i++)
        if (list[i] == t)
            return (int32_t)i;
    return -1;
}

static uint64_t align_up(uint64_t v)
{
    return (v + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
}

static plmm_status n_compile(plmm_backend_ctx *c, const plmm_partition *part, void **blob,
                             uint64_t *blob_size)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!part_ok(part) || blob == NULL || blob_size == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "partition or out pointer is NULL");
    const plmm_tensor *uniq[MAX_TENSORS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < part->n_nodes; i++) {
        const plmm_node *nd = &part->nodes[i];
        const plmm_tensor *ts[1 + PLMM_MAX_SRC] = {nd->dst, nd->src[0], nd->src[1], nd->src[2],
                                                   nd->src[3]};
        if (nd->dst == NULL)
            return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "node %u has no dst", i);
        for (int k = 0; k < 1 + PLMM_MAX_SRC; k++) {
            if (ts[k] == NULL || find_tensor(uniq, n, ts[k]) >= 0)
                continue;
            if (n == MAX_TENSORS)
                return plmm_sdk_error(c->host, PLMM_ERR_UNSUPPORTED, "too many tensors");
            uniq[n++] = ts[k];
        }
    }
    /* sizes: header, tensor table, node table, weights */
    const uint64_t tab =
        align_up((uint64_t)n * sizeof(blob_tensor) + (uint64_t)part->n_nodes * sizeof(blob_node));
    uint64_t wbytes = 0;
    blob_tensor *bt = halloc(c, (uint64_t)n * sizeof(blob_tensor));
    if (bt == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    memset(bt, 0, (size_t)n * sizeof(blob_tensor));
    plmm_status st = PLMM_OK;
    for (uint32_t i = 0; i < n && st == PLMM_OK; i++) {
        const plmm_tensor *t = uniq[i];
        bt[i].dtype = t->dtype;
        memcpy(bt[i].ne, t->ne, sizeof(t->ne));
        memcpy(bt[i].nb, t->nb, sizeof(t->nb));
        int32_t in = find_bound(part->inputs, part->n_inputs, t);
        int32_t out = find_bound(part->outputs, part->n_outputs, t);
        if (in >= 0) {
            bt[i].role = ROLE_INPUT;
            bt[i].index = in;
        } else if (out >= 0) {
            bt[i].role = ROLE_OUTPUT;
            bt[i].index = out;
        } else if ((t->flags & PLMM_TENSOR_WEIGHT) || (t->buffer == NULL && t->data != NULL)) {
            bt[i].role = ROLE_WEIGHT;
            bt[i].data_size = plmm_tensor_nbytes(t);
            bt[i].data_off = tab + wbytes;
            wbytes += align_up(bt[i].data_size);
            if (t->data == NULL && t->buffer == NULL)
                st = plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "weight '%s' has no data",
                                    t->name ? t->name : "?");
        } else {
            bt[i].role = ROLE_INTERNAL;
            bt[i].data_size = plmm_tensor_nbytes(t);
        }
    }
    const uint64_t payload = tab + wbytes, total = sizeof(blob_header) + payload;
    uint8_t *b = st == PLMM_OK ? halloc(c, total) : NULL;
    if (st == PLMM_OK && b == NULL)
        st = plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory for a %llu-byte blob",
                            (unsigned long long)total);
    if (st != PLMM_OK) {
        hfree(c, bt);
        return st;
    }
    memset(b, 0, (size_t)total);
    uint8_t *pl = b + sizeof(blob_header);
    memcpy(pl, bt, (size_t)n * sizeof(blob_tensor));
    blob_node *bn = (blob_node *)(void *)(pl + (size_t)n * sizeof(blob_tensor));
    for (uint32_t i = 0; i < part->n_nodes; i++) {
        const plmm_node *nd = &part->nodes[i];
        blob_node x = {.op = nd->op, .dst = find_tensor(uniq, n, nd->dst)};
        for (int k = 0; k < PLMM_MAX_SRC; k++)
            x.src[k] = nd->src[k] != NULL ? find_tensor(uniq, n, nd->src[k]) : -1;
        memcpy(x.ip, nd->ip, sizeof(x.ip));
        memcpy(x.fp, nd->fp, sizeof(x.fp));
        memcpy(&bn[i], &x, sizeof(x));
    }
    for (uint32_t i = 0; i < n && st == PLMM_OK; i++) {
        if (bt[i].role != ROLE_WEIGHT)
            continue;
        const plmm_tensor *t = uniq[i];
        const void *src = t->data;
        void *mapped = NULL;
        if (t->buffer != NULL && c->cpu->buffer_map(c->inner, t->buffer, &mapped) == PLMM_OK)
            src = (const uint8_t *)mapped + t->offset;
        if (src == NULL)
            st = plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "weight is not host visible");
        else
            memcpy(pl + bt[i].data_off, src, (size_t)bt[i].data_size);
    }
    hfree(c, bt);
    if (st != PLMM_OK) {
        hfree(c, b);
        return st;
    }
    blob_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, BLOB_MAGIC, 8);
    h.version = BLOB_VERSION;
    h.bucket = part->bucket;
    h.n_nodes = part->n_nodes;
    h.n_tensors = n;
    h.n_inputs = part->n_inputs;
    h.n_outputs = part->n_outputs;
    h.key_hash = fnv(c->key, strlen(c->key), UINT64_C(0xcbf29ce484222325));
    h.payload_size = payload;
    h.checksum = fnv(pl, payload, UINT64_C(0xcbf29ce484222325));
    memcpy(b, &h, sizeof(h));
    *blob = b;
    *blob_size = total;
    return PLMM_OK;
}

static void n_compiled_free(plmm_backend_ctx *c, plmm_compiled *cp)
{
    if (c == NULL || cp == NULL)
        return;
    for (uint32_t i = 0; cp->internal != NULL && i < cp->n_tensors; i++)
        hfree(c, cp->internal[i]);
    hfree(c, cp->internal);
    hfree(c, cp->tensors);
    hfree(c, cp->nodes);
    hfree(c, cp->payload);
    hfree(c, cp);
}

static plmm_status bad_blob(plmm_backend_ctx *c, const char *why)
{
    return plmm_sdk_error(c->host, PLMM_ERR_FORMAT, "blob rejected: %s", why);
}

static plmm_status n_blob_load(plmm_backend_ctx *c, const plmm_partition *part, const void *blob,
                               uint64_t size, plmm_compiled **out)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (blob == NULL || out == NULL || !part_ok(part))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "blob, partition or out is NULL");
    blob_header h;
    if (size < sizeof(h))
        return bad_blob(c, "shorter than its header");
    memcpy(&h, blob, sizeof(h));
    const uint8_t *pl = (const uint8_t *)blob + sizeof(h);
    if (memcmp(h.magic, BLOB_MAGIC, 8) != 0 || h.version != BLOB_VERSION)
        return bad_blob(c, "not an npu-fake blob of this version");
    if (h.payload_size != size - sizeof(h))
        return bad_blob(c, "size does not match its header");
    if (fnv(pl, h.payload_size, UINT64_C(0xcbf29ce484222325)) != h.checksum)
        return bad_blob(c, "checksum mismatch");
    if (h.key_hash != fnv(c->key, strlen(c->key), UINT64_C(0xcbf29ce484222325)))
        return bad_blob(c, "compiled under another compatibility key");
    if (h.bucket != part->bucket || h.n_nodes != part->n_nodes || h.n_inputs != part->n_inputs ||
        h.n_outputs != part->n_outputs || h.n_tensors == 0 || h.n_tensors > MAX_TENSORS)
        return bad_blob(c, "compiled for another partition or bucket");
    const uint64_t tables =
        (uint64_t)h.n_tensors * sizeof(blob_tensor) + (uint64_t)h.n_nodes * sizeof(blob_node);
    if (tables > h.payload_size)
        return bad_blob(c, "tables exceed the payload");
    plmm_compiled *cp = halloc(c, sizeof(*cp));
    if (cp == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    memset(cp, 0, sizeof(*cp));
    cp->bucket = h.bucket;
    cp->n_nodes = h.n_nodes;
    cp->n_tensors = h.n_tensors;
    cp->n_inputs = h.n_inputs;
    cp->n_outputs = h.n_outputs;
    cp->payload = halloc(c, h.payload_size);
    cp->internal = halloc(c, (uint64_t)h.n_tensors * sizeof(void *));
    cp->tensors = halloc(c, (uint64_t)h.n_tensors * sizeof(plmm_tensor));
    cp->nodes = halloc(c, (uint64_t)h.n_nodes * sizeof(plmm_node));
    if (cp->payload == NULL || cp->internal == NULL || cp->tensors == NULL || cp->nodes == NULL) {
        n_compiled_free(c, cp);
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    }
    memset(cp->internal, 0, (size_t)h.n_tensors * sizeof(void *));
    memcpy(cp->payload, pl, (size_t)h.payload_size);
    cp->bt = (const blob_tensor *)(const void *)cp->payload;
    cp->bn = (const blob_node *)(const void *)(cp->payload + h.n_tensors * sizeof(blob_tensor));
    const char *bad = NULL;
    for (uint32_t i = 0; i < h.n_tensors && bad == NULL; i++) {
        const blob_tensor *t = &cp->bt[i];
        plmm_tensor x = {.dtype = t->dtype};
        memcpy(x.ne, t->ne, sizeof(x.ne));
        memcpy(x.nb, t->nb, sizeof(x.nb));
        uint64_t span = plmm_tensor_nbytes(&x);
        if (plmm_dtype_block_elems(t->dtype) == 0)
            bad = "unknown dtype";
        else if (t->role == ROLE_INPUT && (t->index < 0 || (uint32_t)t->index >= h.n_inputs))
            bad = "input index out of range";
        else if (t->role == ROLE_OUTPUT && (t->index < 0 || (uint32_t)t->index >= h.n_outputs))
            bad = "output index out of range";
        else if (t->role == ROLE_WEIGHT &&
                 (t->data_off < tables || t->data_off > h.payload_size ||
                  t->data_size > h.payload_size - t->data_off || t->data_size < span))
            bad = "weight data out of range";
        else if (t->role == ROLE_INTERNAL) {
            if (span > (UINT64_C(1) << 32))
                bad = "intermediate too large";
            else if ((cp->internal[i] = halloc(c, span)) == NULL)
                bad = "out of memory";
        } else if (t->role < ROLE_INPUT || t->role > ROLE_INTERNAL)
            bad = "unknown tensor role";
    }
    for (uint32_t i = 0; i < h.n_nodes && bad == NULL; i++) {
        const blob_node *b = &cp->bn[i];
        if (b->op != part->nodes[i].op)
            bad = "compiled for other ops";
        else if (b->dst < 0 || (uint32_t)b->dst >= h.n_tensors)
            bad = "node dst out of range";
        for (int k = 0; k < PLMM_MAX_SRC && bad == NULL; k++)
            if (b->src[k] < -1 || b->src[k] >= (int32_t)h.n_tensors)
                bad = "node source out of range";
    }
    if (bad != NULL) {
        n_compiled_free(c, cp);
        return bad_blob(c, bad);
    }
    *out = cp;
    return PLMM_OK;
}

static plmm_status n_execute(plmm_backend_ctx *c, plmm_compiled *cp, const plmm_partition *bind)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (cp == NULL || !part_ok(bind))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "compiled or binding is NULL");
    if (bind->bucket != cp->bucket || bind->n_inputs != cp->n_inputs ||
        bind->n_outputs != cp->n_outputs)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                              "binding does not match the compiled partition (bucket %u, %u "
                              "inputs, %u outputs)",
                              cp->bucket, cp->n_inputs, cp->n_outputs);
    for (uint32_t i = 0; i < cp->n_tensors; i++) {
        const blob_tensor *t = &cp->bt[i];
        plmm_tensor *x = &cp->tensors[i];
        const plmm_tensor *live = t->role == ROLE_INPUT    ? bind->inputs[t->index]
                                  : t->role == ROLE_OUTPUT ? bind->outputs[t->index]
                                                           : NULL;
        if (live != NULL) {
            if (live->dtype != t->dtype || memcmp(live->ne, t->ne, sizeof(t->ne)) != 0)
                return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                      "bound tensor %u has another dtype or shape", i);
            *x = *live;
            continue;
        }
        memset(x, 0, sizeof(*x));
        x->dtype = t->dtype;
        memcpy(x->ne, t->ne, sizeof(x->ne));
        memcpy(x->nb, t->nb, sizeof(x->nb));
        x->id = i;
        x->data = t->role == ROLE_WEIGHT ? cp->payload + t->data_off : cp->internal[i];
    }
    for (uint32_t i = 0; i < cp->n_nodes; i++) {
        const blob_node *b = &cp->bn[i];
        plmm_node *nd = &cp->nodes[i];
        memset(nd, 0, sizeof(*nd));
        nd->op = b->op;
        nd->dst = &cp->tensors[b->dst];
        for (int k = 0; k < PLMM_MAX_SRC; k++)
            nd->src[k] = b->src[k] >= 0 ? &cp->tensors[b->src[k]] : NULL;
        memcpy(nd->ip, b->ip, sizeof(nd->ip));
        memcpy(nd->fp, b->fp, sizeof(nd->fp));
    }
    plmm_graph g = {.struct_size = sizeof(g), .n_nodes = cp->n_nodes, .nodes = cp->nodes};
    return c->cpu->graph_compute(c->inner, &g);
}

/* ---- descriptor ---- */

static const plmm_option_schema options[] = {
    {.key = "opt_level",
     .type = PLMM_OPT_INT,
     .default_value = "1",
     .min = 0,
     .max = 3,
     .help = "compiler optimisation level (part of the compatibility key)"},
};

#define WEIGHTS                                                                                    \
    (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |                             \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_0) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_K) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q6_K))
#define F32 PLMM_DTYPE_BIT(PLMM_DTYPE_F32)
#define KV (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16))
#define ALL (PLMM_CAP_NONCONTIG | PLMM_CAP_INPLACE)

static const plmm_op_caps caps[] = {
    {.op = PLMM_OP_GET_ROWS, .flags = PLMM_CAP_NONCONTIG, .dtypes = WEIGHTS},
    {.op = PLMM_OP_MUL_MAT, .flags = PLMM_CAP_NONCONTIG, .dtypes = WEIGHTS},
    {.op = PLMM_OP_RMS_NORM, .flags = ALL, .dtypes = F32},
    {.op = PLMM_OP_ADD, .flags = ALL, .dtypes = F32},
    {.op = PLMM_OP_ROPE, .flags = ALL, .dtypes = F32},
    {.op = PLMM_OP_ATTENTION, .flags = PLMM_CAP_NONCONTIG, .dtypes = KV},
    {.op = PLMM_OP_SWIGLU, .flags = ALL, .dtypes = F32},
    {.op = PLMM_OP_CPY, .flags = PLMM_CAP_NONCONTIG, .dtypes = KV},
};

static const plmm_tolerance tolerances[] = {
    {.op = PLMM_OP_MUL_MAT, .dtype = PLMM_DTYPE_COUNT, .nmse = 5e-4, .max_abs = 0.0},
};

static const plmm_backend_vtbl vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = n_init,
    .shutdown = n_shutdown,
    .device_count = n_device_count,
    .device_props = n_device_props,
    .buffer_reqs = n_buffer_reqs,
    .buffer_alloc = n_buffer_alloc,
    .buffer_free = n_buffer_free,
    .buffer_map = n_buffer_map,
    .buffer_write = n_buffer_write,
    .buffer_read = n_buffer_read,
    .synchronize = n_synchronize,
    .partition_claim = n_claim,
    .compat_key = n_compat_key,
    .partition_compile = n_compile,
    .blob_load = n_blob_load,
    .compiled_execute = n_execute,
    .compiled_free = n_compiled_free,
};

static const plmm_backend_desc desc = {
    .struct_size = sizeof(plmm_backend_desc),
    .abi_major = PLMM_BACKEND_ABI_MAJOR,
    .abi_minor = PLMM_BACKEND_ABI_MINOR,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_NPU,
    .name = "npu-fake",
    .version = "0.1.0",
    .description = "fake NPU for the conformance suite: compiles partitions to blobs, runs "
                   "them on the cpu plugin",
    .contracts = PLMM_CONTRACT_PARTITION,
    .n_options = sizeof(options) / sizeof(options[0]),
    .options = options,
    .n_caps = sizeof(caps) / sizeof(caps[0]),
    .caps = caps,
    .n_tolerances = sizeof(tolerances) / sizeof(tolerances[0]),
    .tolerances = tolerances,
    .vtbl = &vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &desc;
}
