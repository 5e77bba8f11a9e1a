/*
 * The CPU backend plugin: descriptor, options, buffers and the graph
 * contract of backend.h. Numerics live in the kernel tables
 * (kernels_generic.c, arch/), execution in ops_*.c; this file is the ABI
 * glue and exports the one symbol, plmm_plugin_entry.
 */
#include "cpu_kernels.h"
#include "cpu_ops.h"
#include "cpu_threads.h"
#include "plmm/backend.h"
#include "plmm_sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef PLMM_VERSION
#define PLMM_VERSION "0.0.0"
#endif

#define MAX_THREADS 256
#define BUFFER_ALIGN 64
#define BUFFER_MAGIC 0x504c4d43u /* "PLMC" */

typedef struct plmm_buffer plmm_buffer;

struct plmm_buffer {
    uint32_t magic;
    uint32_t usage;
    plmm_backend_ctx *ctx;
    char *base;
    uint64_t size;
    bool imported; /* base is host memory we do not own (read-only) */
    plmm_buffer *prev, *next;
};

struct plmm_backend_ctx {
    const plmm_host_api *host; /* borrowed until shutdown */
    int n_threads;
    cpu_isa isa;
    cpu_pool *pool;
    cpu_runner runner;
    pthread_mutex_t lock; /* one graph_compute at a time */
    cpu_task *tasks;      /* owned, tasks_cap entries */
    uint32_t tasks_cap;
    plmm_buffer *buffers; /* live buffers, freed at shutdown */
    char cpu_name[128];
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

/* ---- host helpers ---- */

static void *host_alloc(const plmm_host_api *h, size_t size, size_t align)
{
    return h->alloc(h->host_ctx, size, align);
}

static void host_free(const plmm_host_api *h, void *p)
{
    h->free(h->host_ctx, p);
}

/* ---- init / shutdown ---- */

static void read_cpu_name(char *out, size_t n)
{
#if defined(__x86_64__)
    snprintf(out, n, "x86_64 CPU");
#elif defined(__aarch64__)
    snprintf(out, n, "aarch64 CPU");
#else
    snprintf(out, n, "CPU");
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    static const char *const keys[] = {"model name", "Hardware", "cpu model", "Processor"};
    while (fgets(line, sizeof(line), f) != NULL) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t kl = strlen(keys[i]);
            const char *colon = strchr(line, ':');
            if (strncmp(line, keys[i], kl) != 0 || colon == NULL)
                continue;
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t len = strcspn(v, "\n");
            if (len == 0)
                continue;
            snprintf(out, n, "%.*s", (int)len, v);
            fclose(f);
            return;
        }
    }
    fclose(f);
}

/* Names of the feature bits an ISA needs and the CPU lacks, into buf. */
static void missing_features(uint64_t need, uint64_t have, char *buf, size_t n)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } names[] = {
        {PLMM_CPU_AVX, "avx"},           {PLMM_CPU_AVX2, "avx2"},
        {PLMM_CPU_FMA, "fma"},           {PLMM_CPU_F16C, "f16c"},
        {PLMM_CPU_AVX512F, "avx512f"},   {PLMM_CPU_AVX512BW, "avx512bw"},
        {PLMM_CPU_AVX512VL, "avx512vl"}, {PLMM_CPU_NEON, "neon"},
        {PLMM_CPU_DOTPROD, "dotprod"},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((need & names[i].bit) && !(have & names[i].bit) && used < n) {
            int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", names[i].name);
            used += w > 0 ? (size_t)w : 0;
        }
    }
}

static plmm_status pick_isa(const plmm_host_api *host, const char *simd, cpu_isa *out)
{
    const uint64_t have = host->cpu_features;
    cpu_isa isa;
    if (strcmp(simd, "auto") == 0) {
        *out = cpu_isa_best(have);
        return PLMM_OK;
    }
    if (strcmp(simd, "scalar") == 0)
        isa = CPU_ISA_SCALAR;
    else if (strcmp(simd, "avx2") == 0)
        isa = CPU_ISA_AVX2;
    else if (strcmp(simd, "avx512") == 0)
        isa = CPU_ISA_AVX512;
    else if (strcmp(simd, "neon") == 0)
        isa = (have & PLMM_CPU_DOTPROD) ? CPU_ISA_NEON_DOTPROD : CPU_ISA_NEON;
    else
        return plmm_sdk_error(host, PLMM_ERR_CONFIG,
                              "simd '%s' unknown (auto, scalar, avx2, avx512 or neon)", simd);
    if (!cpu_isa_compiled(isa))
        return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED,
                              "simd '%s' is not available in this build of the cpu backend", simd);
    const uint64_t need = cpu_isa_required(isa);
    if ((have & need) != need) {
        char miss[128];
        missing_features(need, have, miss, sizeof(miss));
        return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED, "simd '%s' needs a CPU with %s", simd,
                              miss);
    }
    *out = isa;
    return PLMM_OK;
}

static plmm_status parse_options(const plmm_host_api *host, const plmm_option_value *opts,
                                 uint32_t n_opts, int64_t *threads, const char **simd)
{
    *threads = 0;
    *simd = "auto";
    if (n_opts > 0 && opts == NULL)
        return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "options are NULL");
    for (uint32_t i = 0; i < n_opts; i++) {
        const plmm_option_value *o = &opts[i];
        if (o->key == NULL)
            return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "option %u has no key", i);
        if (strcmp(o->key, "threads") == 0) {
            if (o->type != PLMM_OPT_INT)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "option 'threads' must be an integer");
            if (o->v.i < 0 || o->v.i > MAX_THREADS)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "threads %lld outside [0, %d]",
                                      (long long)o->v.i, MAX_THREADS);
            *threads = o->v.i;
        } else if (strcmp(o->key, "simd") == 0) {
            if ((o->type != PLMM_OPT_ENUM && o->type != PLMM_OPT_STRING) || o->v.s == NULL)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "option 'simd' must be a string");
            *simd = o->v.s;
        } else {
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "unknown option '%s'", o->key);
        }
    }
    return PLMM_OK;
}

static plmm_status cpu_init(const plmm_host_api *host, const plmm_option_value *opts,
                            uint32_t n_opts, plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!PLMM_ABI_HAS(plmm_host_api, host, n_cpus) || host->alloc == NULL || host->free == NULL)
        return plmm_sdk_error(host, PLMM_ERR_ABI, "host services table too old or incomplete");
    int64_t threads;
    const char *simd;
    cpu_isa isa = CPU_ISA_SCALAR;
    plmm_status st = parse_options(host, opts, n_opts, &threads, &simd);
    if (st != PLMM_OK)
        return st;
    if ((st = pick_isa(host, simd, &isa)) != PLMM_OK)
        return st;
    if (threads == 0) {
        long n = host->n_cpus > 0 ? (long)host->n_cpus : sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
    }

    plmm_backend_ctx *ctx = host_alloc(host, sizeof(*ctx), _Alignof(plmm_backend_ctx));
    if (ctx == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "cannot allocate the cpu backend context");
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = host;
    ctx->n_threads = (int)threads;
    ctx->isa = isa;
    read_cpu_name(ctx->cpu_name, sizeof(ctx->cpu_name));
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        st = plmm_sdk_error(host, PLMM_ERR_BACKEND, "cannot create a mutex");
        goto out_free;
    }
    st = cpu_pool_create(ctx->n_threads, host->alloc, host->free, host->host_ctx, &ctx->pool);
    if (st != PLMM_OK) {
        st = plmm_sdk_error(host, st, "cannot start %d threads", ctx->n_threads);
        goto out_mutex;
    }
    cpu_kern kern;
    if (!cpu_kern_init(&kern, isa)) {
        st = plmm_sdk_error(host, PLMM_ERR_INTERNAL, "no kernels for '%s'", cpu_isa_name(isa));
        goto out_pool;
    }
    cpu_runner_init(&ctx->runner, &kern, ctx->pool, host->alloc, host->free, host->host_ctx);
    plmm_sdk_log(host, PLMM_LOG_INFO, "cpu backend: %s, %d threads, %s kernels", ctx->cpu_name,
                 ctx->n_threads, cpu_isa_name(isa));
    *out = ctx;
    return PLMM_OK;

out_pool:
    cpu_pool_destroy(ctx->pool);
out_mutex:
    pthread_mutex_destroy(&ctx->lock);
out_free:
    host_free(host, ctx);
    return st;
}

static void release_buffer(plmm_backend_ctx *ctx, plmm_buffer *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        ctx->buffers = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    if (!b->imported)
        host_free(ctx->host, b->base);
    b->magic = 0;
    host_free(ctx->host, b);
}

static void cpu_shutdown(plmm_backend_ctx *ctx)
{
    if (ctx == NULL)
        return;
    const plmm_host_api *host = ctx->host;
    cpu_pool_destroy(ctx->pool);
    cpu_runner_release(&ctx->runner);
    while (ctx->buffers != NULL)
        release_buffer(ctx, ctx->buffers);
    host_free(host, ctx->tasks);
    pthread_mutex_destroy(&ctx->lock);
    host_free(host, ctx);
}

/* ---- devices ---- */

static plmm_status cpu_device_count(plmm_backend_ctx *ctx, uint32_t *out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    *out = 1;
    return PLMM_OK;
}

static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kb = 0;
    char line[256];
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL)
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                break;
        fclose(f);
    }
    if (kb > 0)
        return (uint64_t)kb * 1024;
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

static uint32_t simd_lanes(cpu_isa isa)
{
    switch (isa) {
    case CPU_ISA_AVX2:
        return 8;
    case CPU_ISA_AVX512:
        return 16;
    case CPU_ISA_NEON:
    case CPU_ISA_NEON_DOTPROD:
        return 4;
    default:
        return 1;
    }
}

static plmm_status cpu_device_props(plmm_backend_ctx *ctx, uint32_t index, plmm_device_props *out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (index != 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE,
                              "device %u: the cpu backend has one device", index);
    if (out->struct_size < offsetof(plmm_device_props, name))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "device props struct_size %u too small", out->struct_size);
    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = out->struct_size;
    p.type = PLMM_DEVICE_CPU;
    snprintf(p.name, sizeof(p.name), "%s", ctx->cpu_name);
    snprintf(p.driver, sizeof(p.driver), "plmm-cpu %s (%s)", PLMM_VERSION, cpu_isa_name(ctx->isa));
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    p.memory_total = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    p.memory_free = mem_available();
    p.flags = PLMM_DEVICE_UNIFIED_MEMORY;
    if (ctx->host->cpu_features & PLMM_CPU_FP16)
        p.flags |= PLMM_DEVICE_FP16;
    if (ctx->isa != CPU_ISA_SCALAR && ctx->isa != CPU_ISA_NEON)
        p.flags |= PLMM_DEVICE_INT8;
    p.subgroup_size = simd_lanes(ctx->isa);
    p.compute_units = (uint32_t)ctx->n_threads;
    size_t n = out->struct_size < sizeof(p) ? out->struct_size : sizeof(p);
    memcpy(out, &p, n);
    return PLMM_OK;
}

/* ---- buffers ---- */

static plmm_status cpu_buffer_reqs(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out)
{
    (void)usage;
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out->struct_size < offsetof(plmm_buffer_reqs, alignment))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer reqs struct_size %u too small", out->struct_size);
    plmm_buffer_reqs r = {.struct_size = out->struct_size,
                          .flags = PLMM_BUFREQ_HOST_VISIBLE | PLMM_BUFREQ_IMPORT_HOST,
                          .alignment = BUFFER_ALIGN,
                          .max_size = 0};
    size_t n = out->struct_size < sizeof(r) ? out->struct_size : sizeof(r);
    memcpy(out, &r, n);
    return PLMM_OK;
}

static const uint32_t known_usage =
    PLMM_BUFFER_WEIGHTS | PLMM_BUFFER_ACTIVATIONS | PLMM_BUFFER_STATE | PLMM_BUFFER_HOST_VISIBLE;

static plmm_status new_buffer(plmm_backend_ctx *ctx, char *base, uint64_t size, uint32_t usage,
                              bool imported, plmm_buffer **out)
{
    plmm_buffer *b = host_alloc(ctx->host, sizeof(*b), _Alignof(plmm_buffer));
    if (b == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate a buffer handle");
    *b = (plmm_buffer){.magic = BUFFER_MAGIC,
                       .usage = usage,
                       .ctx = ctx,
                       .base = base,
                       .size = size,
                       .imported = imported,
                       .next = ctx->buffers};
    if (ctx->buffers != NULL)
        ctx->buffers->prev = b;
    ctx->buffers = b;
    *out = b;
    return PLMM_OK;
}

static plmm_status cpu_buffer_alloc(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                                    plmm_buffer **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "buffer size is 0");
    if (usage & ~known_usage)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown buffer usage 0x%x", usage);
    if (size > SIZE_MAX - BUFFER_ALIGN)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "buffer of %llu bytes too large",
                              (unsigned long long)size);
    char *base = host_alloc(ctx->host, (size_t)size, BUFFER_ALIGN);
    if (base == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate %llu bytes",
                              (unsigned long long)size);
    plmm_status st = new_buffer(ctx, base, size, usage, false, out);
    if (st != PLMM_OK)
        host_free(ctx->host, base);
    return st;
}

static bool our_buffer(const plmm_backend_ctx *ctx, const plmm_buffer *b)
{
    return b != NULL && b->magic == BUFFER_MAGIC && b->ctx == ctx;
}

static void cpu_buffer_free(plmm_backend_ctx *ctx, plmm_buffer *buf)
{
    if (ctx == NULL || buf == NULL || !our_buffer(ctx, buf))
        return;
    release_buffer(ctx, buf);
}

static plmm_status cpu_buffer_map(plmm_backend_ctx *ctx, plmm_buffer *buf, void **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!our_buffer(ctx, buf))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer does not belong to this context");
    *out = buf->base;
    return PLMM_OK;
}

/* offset + size within the buffer, without overflow */
static plmm_status check_range(plmm_backend_ctx *ctx, const plmm_buffer *b, uint64_t offset,
                               uint64_t size, const void *host_ptr, uint32_t flags)
{
    if (!our_buffer(ctx, b))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer does not belong to this context");
    if (flags & ~PLMM_COPY_ASYNC)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown copy flags 0x%x", flags);
    if (size > 0 && host_ptr == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "host pointer is NULL");
    if (offset > b->size || size > b->size - offset)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE,
                              "copy of %llu bytes at offset %llu exceeds the buffer (%llu bytes)",
                              (unsigned long long)size, (unsigned long long)offset,
                              (unsigned long long)b->size);
    return PLMM_OK;
}

static plmm_status cpu_buffer_write(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                    const void *src, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = check_range(ctx, buf, offset, size, src, flags);
    if (st != PLMM_OK)
        return st;
    if (buf->imported)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "buffer wraps read-only host memory and cannot be written");
    if (size > 0)
        memmove(buf->base + offset, src, (size_t)size);
    return PLMM_OK;
}

static plmm_status cpu_buffer_read(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                   void *dst, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = check_range(ctx, buf, offset, size, dst, flags);
    if (st != PLMM_OK)
        return st;
    if (size > 0)
        memmove(dst, buf->base + offset, (size_t)size);
    return PLMM_OK;
}

static plmm_status cpu_buffer_import_host(plmm_backend_ctx *ctx, const void *ptr, uint64_t size,
                                          uint32_t usage, plmm_buffer **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (ptr == NULL || size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "import of NULL or empty host memory");
    if (usage & ~known_usage)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown buffer usage 0x%x", usage);
    /* zero-copy: kernels read the host memory in place; it is never written */
    return new_buffer(ctx, (char *)(uintptr_t)ptr, size, usage, true, out);
}

static plmm_status cpu_synchronize(plmm_backend_ctx *ctx)
{
    /* graph_compute and the copies complete before they return */
    return ctx != NULL ? PLMM_OK : PLMM_ERR_INVALID_ARG;
}

/* ---- graph contract ---- */

static bool cpu_supports_node(plmm_backend_ctx *ctx, const plmm_node *node)
{
    char msg[256];
    (void)ctx;
    return cpu_node_check(node, msg, sizeof(msg)) == PLMM_OK;
}

/* Host address of a tensor's element 0; for_write rejects imported memory. */
static plmm_status resolve(plmm_backend_ctx *ctx, const plmm_tensor *t, bool for_write, char **out,
                           char *msg, size_t n)
{
    *out = NULL;
    if (t == NULL)
        return PLMM_OK;
    const char *name = t->name != NULL ? t->name : "?";
    if (t->buffer == NULL) {
        if (t->data == NULL) {
            snprintf(msg, n, "tensor '%s' has no buffer and no data", name);
            return PLMM_ERR_INVALID_ARG;
        }
        *out = t->data;
        return PLMM_OK;
    }
    const plmm_buffer *b = t->buffer;
    if (!our_buffer(ctx, b)) {
        snprintf(msg, n, "tensor '%s' lives in a buffer of another backend or context", name);
        return PLMM_ERR_INVALID_ARG;
    }
    if (for_write && b->imported) {
        snprintf(msg, n, "tensor '%s' is written but lives in read-only imported memory", name);
        return PLMM_ERR_INVALID_ARG;
    }
    uint64_t span;
    if (!cpu_tensor_span(t, &span) || t->offset > b->size || span > b->size - t->offset) {
        snprintf(msg, n, "tensor '%s' at offset %llu overruns its buffer (%llu bytes)", name,
                 (unsigned long long)t->offset, (unsigned long long)b->size);
        return PLMM_ERR_RANGE;
    }
    *out = b->base + t->offset;
    return PLMM_OK;
}

static plmm_status prepare_task(plmm_backend_ctx *ctx, const plmm_node *nd, cpu_task *task,
                                char *msg, size_t n)
{
    plmm_status st = cpu_node_check(nd, msg, n);
    if (st != PLMM_OK)
        return st;
    memset(task, 0, sizeof(*task));
    task->node = nd;
    if (nd->op == PLMM_OP_NONE)
        return PLMM_OK;
    if ((st = resolve(ctx, nd->dst, true, &task->dst, msg, n)) != PLMM_OK)
        return st;
    for (int i = 0; i < PLMM_MAX_SRC; i++) {
        char *p;
        if ((st = resolve(ctx, nd->src[i], false, &p, msg, n)) != PLMM_OK)
            return st;
        task->src[i] = p;
    }
    return cpu_task_check_align(task, msg, n);
}

static plmm_status grow_tasks(plmm_backend_ctx *ctx, uint32_t n)
{
    if (n <= ctx->tasks_cap)
        return PLMM_OK;
    cpu_task *t = host_alloc(ctx->host, sizeof(*t) * (size_t)n, _Alignof(cpu_task));
    if (t == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate %u graph tasks", n);
    host_free(ctx->host, ctx->tasks);
    ctx->tasks = t;
    ctx->tasks_cap = n;
    return PLMM_OK;
}

static plmm_status cpu_graph_compute(plmm_backend_ctx *ctx, const plmm_graph *graph)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (graph == NULL || graph->struct_size < sizeof(plmm_graph))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "graph is NULL or too old");
    if (graph->n_nodes == 0)
        return PLMM_OK;
    if (graph->nodes == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "graph has %u nodes but nodes is NULL", graph->n_nodes);
    char msg[320];
    plmm_status st;
    pthread_mutex_lock(&ctx->lock);
    if ((st = grow_tasks(ctx, graph->n_nodes)) != PLMM_OK)
        goto out_unlock;
    for (uint32_t i = 0; i < graph->n_nodes; i++) {
        const plmm_node *nd = &graph->nodes[i];
        st = prepare_task(ctx, nd, &ctx->tasks[i], msg, sizeof(msg));
        if (st != PLMM_OK) {
            plmm_sdk_error(ctx->host, st, "node %u (%s): %s", i, plmm_op_name(nd->op), msg);
            goto out_unlock;
        }
    }
    st = cpu_runner_run(&ctx->runner, ctx->tasks, graph->n_nodes, msg, sizeof(msg));
    if (st != PLMM_OK)
        plmm_sdk_error(ctx->host, st, "%s", msg);
out_unlock:
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

/* ---- descriptor ---- */

static int cpu_score(const plmm_host_api *host)
{
    /* always usable; better kernels score higher */
    switch (cpu_isa_best(host != NULL ? host->cpu_features : 0)) {
    case CPU_ISA_AVX512:
        return 4;
    case CPU_ISA_AVX2:
    case CPU_ISA_NEON_DOTPROD:
        return 3;
    case CPU_ISA_NEON:
        return 2;
    default:
        return 1;
    }
}

static const plmm_option_schema cpu_options[] = {
    {.key = "threads",
     .type = PLMM_OPT_INT,
     .default_value = "0",
     .min = 0,
     .max = MAX_THREADS,
     .help = "worker threads including the caller; 0 = all online CPUs"},
    {.key = "simd",
     .type = PLMM_OPT_ENUM,
     .default_value = "auto",
     .min = 1,
     .max = 0,
     .choices = "auto|scalar|avx2|avx512|neon",
     .help =
         "kernel instruction set; auto = the best the CPU supports, scalar = reference kernels"},
};

static const plmm_op_caps cpu_caps[] = {PLMM_SDK_CAPS_ALL_OPS(PLMM_SDK_WEIGHT_DTYPES)};

/*
 * MUL_MAT quantizes activations (to Q8_0 / Q8_K, or rounds them to f16 /
 * bf16) before the dot products, as GGUF's reference runtime does, so it
 * differs from an all-float product by the activation rounding: NMSE up to
 * about 1e-4 for 8-bit activations.
 */
static const plmm_tolerance cpu_tolerances[] = {
    {.op = PLMM_OP_MUL_MAT, .dtype = PLMM_DTYPE_COUNT, .nmse = 5e-4, .max_abs = 0.0},
};

static const plmm_backend_vtbl cpu_vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .device_count = cpu_device_count,
    .device_props = cpu_device_props,
    .buffer_reqs = cpu_buffer_reqs,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_map = cpu_buffer_map,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .buffer_import_host = cpu_buffer_import_host,
    .synchronize = cpu_synchronize,
    .supports_node = cpu_supports_node,
    .graph_compute = cpu_graph_compute,
    .partition_claim = NULL,
    .compat_key = NULL,
    .partition_compile = NULL,
    .blob_load = NULL,
    .compiled_execute = NULL,
    .compiled_free = NULL,
};

static const plmm_backend_desc cpu_desc = {
    .struct_size = sizeof(plmm_backend_desc),
    .abi_major = PLMM_BACKEND_ABI_MAJOR,
    .abi_minor = PLMM_BACKEND_ABI_MINOR,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_CPU,
    .name = "cpu",
    .version = PLMM_VERSION,
    .description = "CPU: scalar reference kernels, AVX2/AVX-512/NEON kernels, thread pool",
    .contracts = PLMM_CONTRACT_GRAPH,
    .n_options = sizeof(cpu_options) / sizeof(cpu_options[0]),
    .options = cpu_options,
    .n_caps = sizeof(cpu_caps) / sizeof(cpu_caps[0]),
    .n_tolerances = sizeof(cpu_tolerances) / sizeof(cpu_tolerances[0]),
    .caps = cpu_caps,
    .tolerances = cpu_tolerances,
    .score = cpu_score,
    .vtbl = &cpu_vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &cpu_desc;
}
