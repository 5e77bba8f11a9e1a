/*
 * Reference NPU backend plugin: the partition contract end to end
 * (backend.h). It claims the matrix products and the vector ops around
 * them (RMS_NORM, ADD, MUL, SCALE, SILU, SWIGLU), compiles each partition
 * into a self-contained blob with int8 weights (npu_compile.c) and runs it
 * with integer arithmetic (npu_exec.c). Everything else (embedding
 * lookup, RoPE, attention, the KV cache) stays on the graph backends.
 * Memory is host memory; the device is emulated on the CPU.
 */
#include "npu.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <string.h>

PLMM_EXPORT const void *plmm_plugin_entry(void);

/* ---- lifecycle ---- */

static plmm_status n_init(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                          plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL || host->alloc == NULL || host->free == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (n_opts > 0 && opts == NULL)
        return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "options are NULL");
    uint32_t bits = 16;
    bool device_memory = false;
    for (uint32_t i = 0; i < n_opts; i++) {
        const char *v = opts[i].v.s;
        if (opts[i].key != NULL && strcmp(opts[i].key, "memory") == 0) {
            if (opts[i].type != PLMM_OPT_ENUM || v == NULL ||
                (strcmp(v, "unified") != 0 && strcmp(v, "device") != 0))
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "memory must be unified or device");
            device_memory = strcmp(v, "device") == 0;
            continue;
        }
        if (opts[i].key == NULL || strcmp(opts[i].key, "activations") != 0)
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "unknown option '%s'",
                                  opts[i].key ? opts[i].key : "(null)");
        if (opts[i].type != PLMM_OPT_ENUM || v == NULL ||
            (strcmp(v, "int8") != 0 && strcmp(v, "int16") != 0))
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "activations must be int8 or int16");
        bits = strcmp(v, "int16") == 0 ? 16 : 8;
    }
    plmm_backend_ctx *c = host->alloc(host->host_ctx, sizeof(*c), _Alignof(plmm_backend_ctx));
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->act_bits = bits;
    c->device_memory = device_memory;
    snprintf(c->key, sizeof(c->key), "npu %s blob %u w8 a%u %s", NPU_VERSION, NPU_BLOB_VERSION,
             bits, device_memory ? "device" : "unified");
    c->key_hash = npu_fnv(c->key, strlen(c->key), UINT64_C(0xcbf29ce484222325));
    *out = c;
    return PLMM_OK;
}

static void buffer_release(plmm_backend_ctx *c, plmm_buffer *b)
{
    npu_list_remove(&c->buffers, &b->link);
    if (b->owned)
        npu_free(c, b->base);
    npu_free(c, b);
}

static void n_shutdown(plmm_backend_ctx *c)
{
    if (c == NULL)
        return;
    while (c->compiled != NULL) {
        plmm_compiled *cp = (plmm_compiled *)(void *)c->compiled;
        npu_list_remove(&c->compiled, &cp->link);
        npu_compiled_free(c, cp);
    }
    while (c->buffers != NULL)
        buffer_release(c, (plmm_buffer *)(void *)c->buffers);
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
        return plmm_sdk_error(c->host, PLMM_ERR_RANGE, "device %u: there is one device", index);
    if (out->struct_size < offsetof(plmm_device_props, name))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "struct_size too small");
    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = out->struct_size;
    p.type = PLMM_DEVICE_NPU;
    snprintf(p.name, sizeof(p.name), "reference NPU (w8a%u, emulated)", c->act_bits);
    snprintf(p.driver, sizeof(p.driver), "plmm-npu %s", NPU_VERSION);
    p.flags = (c->device_memory ? 0 : PLMM_DEVICE_UNIFIED_MEMORY) | PLMM_DEVICE_INT8 |
              PLMM_DEVICE_FP16 | PLMM_DEVICE_SOFTWARE;
    p.compute_units = 1;
    memcpy(out, &p, out->struct_size < sizeof(p) ? out->struct_size : sizeof(p));
    return PLMM_OK;
}

/* ---- buffers: host memory ---- */

static plmm_status n_buffer_reqs(plmm_backend_ctx *c, uint32_t usage, plmm_buffer_reqs *out)
{
    if (c == NULL || out == NULL || out->struct_size < sizeof(*out))
        return PLMM_ERR_INVALID_ARG;
    (void)usage;
    out->flags = c->device_memory ? 0 : PLMM_BUFREQ_HOST_VISIBLE | PLMM_BUFREQ_IMPORT_HOST;
    out->alignment = NPU_ALIGN;
    out->max_size = 0;
    return PLMM_OK;
}

static plmm_status n_buffer_alloc(plmm_backend_ctx *c, uint64_t size, uint32_t usage,
                                  plmm_buffer **out)
{
    (void)usage;
    if (c == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (size == 0)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "buffer of 0 bytes");
    plmm_buffer *b = npu_alloc(c, sizeof(*b));
    uint8_t *p = npu_alloc(c, size);
    if (b == NULL || p == NULL) {
        npu_free(c, b);
        npu_free(c, p);
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "cannot allocate %llu bytes",
                              (unsigned long long)size);
    }
    *b = (plmm_buffer){.base = p, .size = size, .owned = true};
    npu_list_add(&c->buffers, &b->link);
    *out = b;
    return PLMM_OK;
}

static plmm_status n_buffer_import(plmm_backend_ctx *c, const void *ptr, uint64_t size,
                                   uint32_t usage, plmm_buffer **out)
{
    (void)usage;
    if (c == NULL || out == NULL || ptr == NULL || size == 0)
        return PLMM_ERR_INVALID_ARG;
    plmm_buffer *b = npu_alloc(c, sizeof(*b));
    if (b == NULL)
        return plmm_sdk_error(c->host, PLMM_ERR_NOMEM, "out of memory");
    *b = (plmm_buffer){.base = (uint8_t *)(uintptr_t)ptr, .size = size, .owned = false};
    npu_list_add(&c->buffers, &b->link);
    *out = b;
    return PLMM_OK;
}

static void n_buffer_free(plmm_backend_ctx *c, plmm_buffer *b)
{
    if (c != NULL && b != NULL)
        buffer_release(c, b);
}

static plmm_status n_buffer_map(plmm_backend_ctx *c, plmm_buffer *b, void **out)
{
    if (c == NULL || b == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (c->device_memory)
        return plmm_sdk_error(c->host, PLMM_ERR_UNSUPPORTED,
                              "memory = device: buffers are not host visible");
    *out = b->base;
    return PLMM_OK;
}

static plmm_status range_ok(plmm_backend_ctx *c, const plmm_buffer *b, uint64_t off, uint64_t n)
{
    if (off > b->size || n > b->size - off)
        return plmm_sdk_error(c->host, PLMM_ERR_RANGE,
                              "%llu bytes at %llu exceed a %llu-byte "
                              "buffer",
                              (unsigned long long)n, (unsigned long long)off,
                              (unsigned long long)b->size);
    return PLMM_OK;
}

static plmm_status n_buffer_write(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off,
                                  const void *src, uint64_t size, uint32_t flags)
{
    (void)flags;
    if (c == NULL || b == NULL || (src == NULL && size > 0))
        return PLMM_ERR_INVALID_ARG;
    if (!b->owned)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "imported buffers are read-only");
    plmm_status st = range_ok(c, b, off, size);
    if (st == PLMM_OK && size > 0)
        memcpy(b->base + off, src, (size_t)size);
    return st;
}

static plmm_status n_buffer_read(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off, void *dst,
                                 uint64_t size, uint32_t flags)
{
    (void)flags;
    if (c == NULL || b == NULL || (dst == NULL && size > 0))
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = range_ok(c, b, off, size);
    if (st == PLMM_OK && size > 0)
        memcpy(dst, b->base + off, (size_t)size);
    return st;
}

static plmm_status n_synchronize(plmm_backend_ctx *c)
{
    return c != NULL ? PLMM_OK : PLMM_ERR_INVALID_ARG; /* execution is synchronous */
}

/* ---- partition contract ---- */

static plmm_status n_claim(plmm_backend_ctx *c, const plmm_graph *g, uint8_t *claim)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (g == NULL || claim == NULL || (g->n_nodes > 0 && g->nodes == NULL))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "graph or claim is NULL");
    for (uint32_t i = 0; i < g->n_nodes; i++)
        claim[i] = npu_node_supported(&g->nodes[i]) ? 1 : 0;
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

static plmm_status n_compile(plmm_backend_ctx *c, const plmm_partition *part, void **blob,
                             uint64_t *blob_size)
{
    return c != NULL ? npu_compile(c, part, blob, blob_size) : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_blob_load(plmm_backend_ctx *c, const plmm_partition *part, const void *blob,
                               uint64_t size, plmm_compiled **out)
{
    return c != NULL ? npu_blob_load(c, part, blob, size, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status n_execute(plmm_backend_ctx *c, plmm_compiled *cp, const plmm_partition *bind)
{
    return c != NULL ? npu_execute(c, cp, bind) : PLMM_ERR_INVALID_ARG;
}

static void n_compiled_free(plmm_backend_ctx *c, plmm_compiled *cp)
{
    if (c == NULL || cp == NULL)
        return;
    npu_list_remove(&c->compiled, &cp->link);
    npu_compiled_free(c, cp);
}

/* ---- descriptor ---- */

static const plmm_option_schema options[] = {
    {.key = "activations",
     .type = PLMM_OPT_ENUM,
     .default_value = "int16",
     .min = 1,
     .max = 0,
     .choices = "int8|int16",
     .help = "precision of activations entering matrix products (part of the blob "
             "compatibility key)"},
    {.key = "memory",
     .type = PLMM_OPT_ENUM,
     .default_value = "unified",
     .min = 1,
     .max = 0,
     .choices = "unified|device",
     .help = "unified: buffers are host memory shared with the engine; device: emulate "
             "memory the host cannot map (tensors are copied in and out)"},
};

#define WEIGHTS                                                                                    \
    (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |                             \
     PLMM_DTYPE_BIT(PLMM_DTYPE_BF16) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_1) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q5_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q5_1) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_K) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q5_K) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q6_K))
#define F32 PLMM_DTYPE_BIT(PLMM_DTYPE_F32)

/* K <= 65536 keeps int8 sums inside int32 */
static const plmm_op_caps caps[] = {
    {.op = PLMM_OP_MUL_MAT,
     .flags = PLMM_CAP_NONCONTIG,
     .dtypes = WEIGHTS,
     .max_ne = {65536, 0, 1, 1}},
    {.op = PLMM_OP_RMS_NORM, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
    {.op = PLMM_OP_ADD, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
    {.op = PLMM_OP_MUL, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
    {.op = PLMM_OP_SCALE, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
    {.op = PLMM_OP_SILU, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
    {.op = PLMM_OP_SWIGLU, .flags = PLMM_CAP_NONCONTIG, .dtypes = F32},
};

/*
 * What the arithmetic costs, measured by plmm-conformance against the CPU
 * backend's scalar kernels (docs/writing-an-npu-backend.md):
 * MUL_MAT: int8 weights (per-channel) and int8 activations (per token),
 * NMSE ~3e-5 on uniform data; vector ops: fp16 storage (2^-11 relative).
 * End to end (op = NONE): the logits of real models against the CPU.
 */
static const plmm_tolerance tolerances[] = {
    {.op = PLMM_OP_MUL_MAT, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-3, .max_abs = 0.5},
    {.op = PLMM_OP_RMS_NORM, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 5e-3},
    {.op = PLMM_OP_ADD, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 1e-3},
    {.op = PLMM_OP_MUL, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 1e-3},
    {.op = PLMM_OP_SCALE, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 1e-3},
    {.op = PLMM_OP_SILU, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 1e-3},
    {.op = PLMM_OP_SWIGLU, .dtype = PLMM_DTYPE_COUNT, .nmse = 1e-5, .max_abs = 1e-3},
    {.op = PLMM_OP_NONE, .dtype = PLMM_DTYPE_COUNT, .nmse = 5e-2, .max_abs = 0.0},
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
    .buffer_import_host = n_buffer_import,
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
    .name = "npu",
    .version = NPU_VERSION,
    .description = "reference NPU: compiles partitions to int8 blobs (per-channel weights, "
                   "per-token activations, int32 accumulation, fp16 vector ops)",
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
