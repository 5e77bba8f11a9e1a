/*
 * Backend plugins for test-registry, good and deliberately broken. One
 * source, one shared module per variant (-DVARIANT=...):
 *
 *   GOOD       minimal vtable (init, shutdown, device_count, device_props),
 *              an option schema, uses every host service
 *   SMALL      descriptor of exactly ABI 1.0's size and a vtable whose
 *              struct_size ends after device_props; the fields past it hold
 *              functions that abort, so reading them would crash
 *   NEWER      built for ABI 1.9 with a larger descriptor
 *   ABI2       descriptor says ABI 2.0
 *   NOSYM      exports a misspelled entry symbol
 *   NULLENTRY  entry returns NULL
 *   INITFAIL   init fails with a message
 *   NODEVICE   init succeeds, device_count reports 0
 *   KIND       descriptor kind is expert
 *   TINY       descriptor struct_size smaller than ABI 1.0's
 *   NAME       descriptor name differs from the manifest's
 *   CONTRACT   declares the graph contract without its functions
 *   BADSCHEMA  option default outside its range
 */
#include "plmm/backend.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD 1
#define SMALL 2
#define NEWER 3
#define ABI2 4
#define NOSYM 5
#define NULLENTRY 6
#define INITFAIL 7
#define NODEVICE 8
#define KIND 9
#define TINY 10
#define NAME 11
#define CONTRACT 12
#define BADSCHEMA 13

#ifndef VARIANT
#error "VARIANT must be set"
#endif
#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be set"
#endif

struct plmm_backend_ctx {
    const plmm_host_api *host;
    int64_t threads;
    char mode[16];
    char label[64];
    uint64_t created_ns;
};

static plmm_status t_init(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                          plmm_backend_ctx **out)
{
    if (host == NULL || host->struct_size < sizeof(plmm_host_api) || host->alloc == NULL)
        return PLMM_ERR_INVALID_ARG;
#if VARIANT == INITFAIL
    (void)opts;
    (void)n_opts;
    (void)out;
    return plmm_sdk_error(host, PLMM_ERR_BACKEND, "device 'fake0' is not responding");
#else
    plmm_backend_ctx *c = host->alloc(host->host_ctx, sizeof(*c), 64);
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    if (((uintptr_t)c & 63u) != 0) {
        host->free(host->host_ctx, c);
        return plmm_sdk_error(host, PLMM_ERR_INTERNAL, "host alloc ignored the alignment");
    }
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->created_ns = host->now_ns(host->host_ctx);
    const plmm_option_value *v = plmm_sdk_option(opts, n_opts, "threads");
    c->threads = v != NULL ? v->v.i : -1;
    v = plmm_sdk_option(opts, n_opts, "mode");
    snprintf(c->mode, sizeof(c->mode), "%s", v != NULL ? v->v.s : "-");
    v = plmm_sdk_option(opts, n_opts, "label");
    snprintf(c->label, sizeof(c->label), "%s", v != NULL ? v->v.s : "-");
    plmm_sdk_log(host, PLMM_LOG_INFO, "init with %u options", (unsigned)n_opts);
    *out = c;
    return PLMM_OK;
#endif
}

static void t_shutdown(plmm_backend_ctx *ctx)
{
    if (ctx != NULL) {
        plmm_sdk_log(ctx->host, PLMM_LOG_DEBUG, "shutdown");
        ctx->host->free(ctx->host->host_ctx, ctx);
    }
}

static plmm_status t_device_count(plmm_backend_ctx *ctx, uint32_t *out)
{
    (void)ctx;
#if VARIANT == NODEVICE
    *out = 0;
#else
    *out = 1;
#endif
    return PLMM_OK;
}

static plmm_status t_device_props(plmm_backend_ctx *ctx, uint32_t index, plmm_device_props *out)
{
    if (index != 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE, "no device %u", (unsigned)index);
    out->type = PLMM_DEVICE_CPU;
    snprintf(out->name, sizeof(out->name), "threads=%lld mode=%s label=%s", (long long)ctx->threads,
             ctx->mode, ctx->label);
    snprintf(out->driver, sizeof(out->driver), "n_cpus=%u", (unsigned)ctx->host->n_cpus);
    return PLMM_OK;
}

#if VARIANT == SMALL
static plmm_status poison_reqs(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out)
{
    (void)ctx;
    (void)usage;
    (void)out;
    abort(); /* the host must not read past struct_size */
}

static plmm_status poison_graph(plmm_backend_ctx *ctx, const plmm_graph *graph)
{
    (void)ctx;
    (void)graph;
    abort();
}
#endif

static const plmm_backend_vtbl vtbl = {
#if VARIANT == SMALL
    .struct_size = offsetof(plmm_backend_vtbl, buffer_reqs),
    .buffer_reqs = poison_reqs,
    .graph_compute = poison_graph,
#else
    .struct_size = sizeof(plmm_backend_vtbl),
#endif
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = t_init,
    .shutdown = t_shutdown,
    .device_count = t_device_count,
    .device_props = t_device_props,
};

static const plmm_option_schema options[] = {
    {"threads", PLMM_OPT_INT, 0, "1", 1, 64, NULL, "worker threads"},
#if VARIANT == BADSCHEMA
    {"mode", PLMM_OPT_ENUM, 0, "turbo", 1, 0, "fast|exact", "kernel choice"},
#else
    {"mode", PLMM_OPT_ENUM, 0, "fast", 1, 0, "fast|exact", "kernel choice"},
#endif
    {"label", PLMM_OPT_STRING, 0, NULL, 1, 0, NULL, "free text"},
    {"data", PLMM_OPT_PATH, 0, NULL, 1, 0, NULL, "a file"},
};

static const plmm_op_caps caps[] = {
    {PLMM_OP_ADD, 0, PLMM_DTYPE_BIT(PLMM_DTYPE_F32), {0, 0, 0, 0}},
};

/* A descriptor followed by fields of a later minor version. */
static const struct {
    plmm_backend_desc d;
    const void *future[2];
} desc = {
    .d =
        {
#if VARIANT == NEWER
            .struct_size = sizeof(desc),
            .abi_minor = 9,
#elif VARIANT == TINY
            .struct_size = 64,
#else
            .struct_size = sizeof(plmm_backend_desc),
            .abi_minor = PLMM_BACKEND_ABI_MINOR,
#endif
#if VARIANT == ABI2
            .abi_major = 2,
#else
            .abi_major = PLMM_BACKEND_ABI_MAJOR,
#endif
#if VARIANT == KIND
            .kind = PLMM_PLUGIN_EXPERT,
#else
            .kind = PLMM_PLUGIN_BACKEND,
#endif
            .device_type = PLMM_DEVICE_CPU,
#if VARIANT == NAME
            .name = "someone-else",
#else
            .name = PLUGIN_NAME,
#endif
            .version = "0.1.0",
            .description = "test plugin",
#if VARIANT == CONTRACT
            .contracts = PLMM_CONTRACT_GRAPH,
#endif
            .n_options = sizeof(options) / sizeof(options[0]),
            .options = options,
            .n_caps = 1,
            .caps = caps,
            .vtbl = &vtbl,
        },
    .future = {&desc, &desc},
};

#if VARIANT == NOSYM
PLMM_EXPORT const void *plmm_plugin_entri(void);

PLMM_EXPORT const void *plmm_plugin_entri(void)
#else
PLMM_EXPORT const void *plmm_plugin_entry(void);

PLMM_EXPORT const void *plmm_plugin_entry(void)
#endif
{
#if VARIANT == NULLENTRY
    return NULL;
#else
    return &desc.d;
#endif
}
