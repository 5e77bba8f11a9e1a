/*
 * Deliberately faulty backends for the conformance suite's own tests, one
 * shared module per VARIANT. Each loads the real CPU plugin (CPU_PLUGIN_PATH,
 * from the build tree) and forwards every call to it, then breaks one thing:
 *
 *   WRONG    MUL_MAT results scaled by 1.05
 *   OOB      4 bytes written just past every node's output
 *   NAN      element 0 of every node's output set to NaN
 *   CRASH    SIGSEGV in graph_compute on a MUL_MAT node
 *   HANG     graph_compute never returns on a MUL_MAT node
 *   NOTHING  declares no capabilities (otherwise a working CPU backend)
 *   ABI      descriptor built for backend ABI 2
 *
 * Built only for tests; never installed.
 */
#include "plmm/backend.h"
#include "plmm_sdk.h"

#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WRONG 1
#define OOB 2
#define NAN_OUT 3
#define CRASH 4
#define HANG 5
#define NOTHING 6
#define ABI 7

#ifndef VARIANT
#error "VARIANT must be defined"
#endif
#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif
#ifndef CPU_PLUGIN_PATH
#error "CPU_PLUGIN_PATH must be defined"
#endif

#define MAX_BUFFERS 4096

struct plmm_backend_ctx {
    const plmm_host_api *host;
    void *dl;
    const plmm_backend_vtbl *cpu; /* the real CPU backend's vtable */
    plmm_backend_ctx *inner;
    struct {
        plmm_buffer *buf;
        uint64_t size;
    } bufs[MAX_BUFFERS]; /* sizes, for writing just past an output inside its buffer */
    uint32_t n_bufs;
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

/* ---- lifecycle ---- */

static plmm_status f_init(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                          plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL || host->alloc == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_backend_ctx *c = host->alloc(host->host_ctx, sizeof(*c), _Alignof(plmm_backend_ctx));
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->dl = dlopen(CPU_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (c->dl == NULL) {
        host->free(host->host_ctx, c);
        return plmm_sdk_error(host, PLMM_ERR_PLUGIN, "cannot load %s", CPU_PLUGIN_PATH);
    }
    void *sym = dlsym(c->dl, PLMM_PLUGIN_ENTRY_SYMBOL);
    plmm_plugin_entry_fn entry = NULL;
    if (sym != NULL)
        memcpy(&entry, &sym, sizeof(entry));
    const plmm_backend_desc *d = entry != NULL ? entry() : NULL;
    plmm_status st = PLMM_ERR_PLUGIN;
    if (d != NULL) {
        c->cpu = d->vtbl;
        st = c->cpu->init(host, opts, n_opts, &c->inner);
    }
    if (st != PLMM_OK) {
        dlclose(c->dl);
        host->free(host->host_ctx, c);
        return st;
    }
    *out = c;
    return PLMM_OK;
}

static void f_shutdown(plmm_backend_ctx *c)
{
    if (c == NULL)
        return;
    c->cpu->shutdown(c->inner);
    dlclose(c->dl);
    c->host->free(c->host->host_ctx, c);
}

/* ---- forwarding ---- */

static plmm_status f_device_count(plmm_backend_ctx *c, uint32_t *out)
{
    return c != NULL ? c->cpu->device_count(c->inner, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_device_props(plmm_backend_ctx *c, uint32_t i, plmm_device_props *out)
{
    return c != NULL ? c->cpu->device_props(c->inner, i, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_buffer_reqs(plmm_backend_ctx *c, uint32_t usage, plmm_buffer_reqs *out)
{
    return c != NULL ? c->cpu->buffer_reqs(c->inner, usage, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_buffer_alloc(plmm_backend_ctx *c, uint64_t size, uint32_t usage,
                                  plmm_buffer **out)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = c->cpu->buffer_alloc(c->inner, size, usage, out);
    if (st == PLMM_OK && c->n_bufs < MAX_BUFFERS) {
        c->bufs[c->n_bufs].buf = *out;
        c->bufs[c->n_bufs].size = size;
        c->n_bufs++;
    }
    return st;
}

static void f_buffer_free(plmm_backend_ctx *c, plmm_buffer *b)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; b != NULL && i < c->n_bufs; i++)
        if (c->bufs[i].buf == b) {
            c->bufs[i] = c->bufs[--c->n_bufs];
            break;
        }
    c->cpu->buffer_free(c->inner, b);
}

static plmm_status f_buffer_map(plmm_backend_ctx *c, plmm_buffer *b, void **out)
{
    return c != NULL ? c->cpu->buffer_map(c->inner, b, out) : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_buffer_write(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off,
                                  const void *src, uint64_t size, uint32_t flags)
{
    return c != NULL ? c->cpu->buffer_write(c->inner, b, off, src, size, flags)
                     : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_buffer_read(plmm_backend_ctx *c, plmm_buffer *b, uint64_t off, void *dst,
                                 uint64_t size, uint32_t flags)
{
    return c != NULL ? c->cpu->buffer_read(c->inner, b, off, dst, size, flags)
                     : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_buffer_import_host(plmm_backend_ctx *c, const void *p, uint64_t size,
                                        uint32_t usage, plmm_buffer **out)
{
    return c != NULL ? c->cpu->buffer_import_host(c->inner, p, size, usage, out)
                     : PLMM_ERR_INVALID_ARG;
}

static plmm_status f_synchronize(plmm_backend_ctx *c)
{
    return c != NULL ? c->cpu->synchronize(c->inner) : PLMM_ERR_INVALID_ARG;
}

static bool f_supports_node(plmm_backend_ctx *c, const plmm_node *n)
{
    return c != NULL && c->cpu->supports_node(c->inner, n);
}

/* ---- the faults ---- */

/* Host address of a tensor's element 0 and the bytes left in its buffer after it. */
static char *host_addr(plmm_backend_ctx *c, const plmm_tensor *t, uint64_t *room)
{
    *room = 0;
    if (t->buffer == NULL)
        return t->data;
    void *p = NULL;
    if (c->cpu->buffer_map(c->inner, t->buffer, &p) != PLMM_OK)
        return NULL;
    for (uint32_t i = 0; i < c->n_bufs; i++)
        if (c->bufs[i].buf == t->buffer && c->bufs[i].size > t->offset)
            *room = c->bufs[i].size - t->offset;
    return (char *)p + t->offset;
}

static void corrupt(plmm_backend_ctx *c, const plmm_node *n)
{
    const plmm_tensor *d = n->dst;
    uint64_t room = 0;
    char *p = d != NULL ? host_addr(c, d, &room) : NULL;
    if (p == NULL)
        return;
#if VARIANT == WRONG
    if (n->op != PLMM_OP_MUL_MAT || d->dtype != PLMM_DTYPE_F32)
        return;
    for (int64_t i1 = 0; i1 < d->ne[1]; i1++)
        for (int64_t i0 = 0; i0 < d->ne[0]; i0++) {
            float *v = (float *)(void *)(p + (uint64_t)i0 * d->nb[0] + (uint64_t)i1 * d->nb[1]);
            *v *= 1.05f;
        }
#elif VARIANT == OOB
    uint64_t end = plmm_tensor_nbytes(d);
    if (end + 4 <= room)
        memset(p + end, 0x7F, 4);
#elif VARIANT == NAN_OUT
    if (d->dtype == PLMM_DTYPE_F32) {
        float v = NAN;
        memcpy(p, &v, sizeof(v));
    } else {
        uint16_t h = 0x7E00;
        memcpy(p, &h, sizeof(h));
    }
#else
    (void)room;
#endif
}

static plmm_status f_graph_compute(plmm_backend_ctx *c, const plmm_graph *g)
{
    if (c == NULL)
        return PLMM_ERR_INVALID_ARG;
#if VARIANT == CRASH || VARIANT == HANG
    for (uint32_t i = 0; g != NULL && g->nodes != NULL && i < g->n_nodes; i++) {
        if (g->nodes[i].op != PLMM_OP_MUL_MAT)
            continue;
#if VARIANT == CRASH
        raise(SIGSEGV);
#else
        for (;;) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
#endif
    }
#endif
    plmm_status st = c->cpu->graph_compute(c->inner, g);
    if (st == PLMM_OK)
        st = c->cpu->synchronize(c->inner);
    if (st != PLMM_OK)
        return st;
    for (uint32_t i = 0; i < g->n_nodes; i++)
        corrupt(c, &g->nodes[i]);
    return PLMM_OK;
}

/* ---- descriptor ---- */

static const plmm_option_schema options[] = {
    {.key = "threads",
     .type = PLMM_OPT_INT,
     .default_value = "0",
     .min = 0,
     .max = 256,
     .help = "worker threads of the wrapped CPU backend"},
    {.key = "simd",
     .type = PLMM_OPT_ENUM,
     .default_value = "auto",
     .min = 1,
     .max = 0,
     .choices = "auto|scalar|avx2|avx512|neon",
     .help = "kernels of the wrapped CPU backend"},
};

#define WEIGHTS                                                                                    \
    (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |                             \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_0) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_K) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q6_K))
#define F32 PLMM_DTYPE_BIT(PLMM_DTYPE_F32)
#define KV (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16))
#define ALL (PLMM_CAP_NONCONTIG | PLMM_CAP_INPLACE)

#if VARIANT != NOTHING
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
#endif

static const plmm_tolerance tolerances[] = {
    {.op = PLMM_OP_MUL_MAT, .dtype = PLMM_DTYPE_COUNT, .nmse = 5e-4, .max_abs = 0.0},
};

static const plmm_backend_vtbl vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = f_init,
    .shutdown = f_shutdown,
    .device_count = f_device_count,
    .device_props = f_device_props,
    .buffer_reqs = f_buffer_reqs,
    .buffer_alloc = f_buffer_alloc,
    .buffer_free = f_buffer_free,
    .buffer_map = f_buffer_map,
    .buffer_write = f_buffer_write,
    .buffer_read = f_buffer_read,
    .buffer_import_host = f_buffer_import_host,
    .synchronize = f_synchronize,
    .supports_node = f_supports_node,
    .graph_compute = f_graph_compute,
};

static const plmm_backend_desc desc = {
    .struct_size = sizeof(plmm_backend_desc),
#if VARIANT == ABI
    .abi_major = PLMM_BACKEND_ABI_MAJOR + 1,
#else
    .abi_major = PLMM_BACKEND_ABI_MAJOR,
#endif
    .abi_minor = PLMM_BACKEND_ABI_MINOR,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_CPU,
    .name = PLUGIN_NAME,
    .version = "0.0.1",
    .description = "deliberately faulty test backend (" PLUGIN_NAME ")",
    .contracts = PLMM_CONTRACT_GRAPH,
    .n_options = sizeof(options) / sizeof(options[0]),
    .options = options,
#if VARIANT == NOTHING
    .n_caps = 0,
    .caps = NULL,
#else
    .n_caps = sizeof(caps) / sizeof(caps[0]),
    .caps = caps,
#endif
    .n_tolerances = 1,
    .tolerances = tolerances,
    .vtbl = &vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &desc;
}
