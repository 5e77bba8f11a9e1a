/*
 * The OpenCL backend plugin: descriptor, options, device selection,
 * buffers (device memory; weights uploaded once by buffer_import_host) and
 * the graph contract of backend.h. Kernels live in kernels.cl (embedded at
 * build time), the program cache in ocl_program.c, the ops in ocl_ops.c.
 * Exports the one symbol, plmm_plugin_entry.
 */
#include "ocl.h"
#include "plmm_sdk.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#ifndef PLMM_VERSION
#define PLMM_VERSION "0.0.0"
#endif

#define BUFFER_MAGIC 0x504c4f43u /* "PLOC" */
#define MAX_INDEX 63

PLMM_EXPORT const void *plmm_plugin_entry(void);

/* ---- options ---- */

typedef struct ocl_opts {
    int64_t platform, device;
    const char *cache_dir;
} ocl_opts;

static plmm_status parse_options(const plmm_host_api *host, const plmm_option_value *opts,
                                 uint32_t n_opts, ocl_opts *o)
{
    *o = (ocl_opts){.platform = -1, .device = -1, .cache_dir = ""};
    if (n_opts > 0 && opts == NULL)
        return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "options are NULL");
    for (uint32_t i = 0; i < n_opts; i++) {
        const plmm_option_value *v = &opts[i];
        if (v->key == NULL)
            return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "option %u has no key", i);
        if (strcmp(v->key, "platform") == 0 || strcmp(v->key, "device") == 0) {
            if (v->type != PLMM_OPT_INT)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "option '%s' must be an integer",
                                      v->key);
            if (v->v.i < -1 || v->v.i > MAX_INDEX)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "%s %lld outside [-1, %d]", v->key,
                                      (long long)v->v.i, MAX_INDEX);
            if (v->key[0] == 'p')
                o->platform = v->v.i;
            else
                o->device = v->v.i;
        } else if (strcmp(v->key, "cache_dir") == 0) {
            if ((v->type != PLMM_OPT_STRING && v->type != PLMM_OPT_PATH) || v->v.s == NULL)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "option 'cache_dir' must be a string");
            o->cache_dir = v->v.s;
        } else {
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "unknown option '%s'", v->key);
        }
    }
    return PLMM_OK;
}

/* ---- init / shutdown ---- */

/*
 * Keep the OpenCL ICD loader loaded for the life of the process once a
 * platform has been found. Unloading this plugin would otherwise unload
 * libOpenCL, whose platform list then stays allocated but unreferenced
 * (LeakSanitizer reports it from an unmapped module), and the next init
 * would search the vendor libraries again. The vendor libraries stay
 * loaded through the loader's own handles.
 */
static int pin_icd_loader(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name;
    if (name != NULL && strstr(name, "/libOpenCL.so") != NULL)
        (void)dlopen(name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE); /* never closed */
    return 0;
}

static plmm_status pick_device(plmm_backend_ctx *ctx, const ocl_opts *o)
{
    const plmm_host_api *host = ctx->host;
    cl_platform_id plats[MAX_INDEX + 1];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_INDEX + 1, plats, &np);
    dl_iterate_phdr(pin_icd_loader, NULL);
    if (err != CL_SUCCESS || np == 0)
        return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED,
                              "no OpenCL platform found (%s); install an ICD such as "
                              "pocl-opencl-icd",
                              err != CL_SUCCESS ? ocl_err_name(err) : "0 platforms");
    if (np > MAX_INDEX + 1)
        np = MAX_INDEX + 1;
    if (o->platform >= (int64_t)np)
        return plmm_sdk_error(host, PLMM_ERR_CONFIG, "platform %lld requested, %u present",
                              (long long)o->platform, np);
    /* -1: every platform (device -1: every device), the first of the most
     * preferred type wins: GPU or accelerator before a CPU device (PoCL) */
    int best = 1 << 30;
    const cl_uint p0 = o->platform < 0 ? 0 : (cl_uint)o->platform;
    const cl_uint p1 = o->platform < 0 ? np : p0 + 1;
    for (cl_uint p = p0; p < p1; p++) {
        cl_device_id devs[MAX_INDEX + 1];
        cl_uint nd = 0;
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_INDEX + 1, devs, &nd);
        if (err != CL_SUCCESS || nd == 0) {
            if (o->platform >= 0)
                return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED, "platform %u has no devices", p);
            continue;
        }
        if (nd > MAX_INDEX + 1)
            nd = MAX_INDEX + 1;
        if (o->device >= (int64_t)nd) {
            if (o->platform >= 0)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG,
                                      "device %lld requested, platform %u has %u",
                                      (long long)o->device, p, nd);
            continue;
        }
        const cl_uint d0 = o->device < 0 ? 0 : (cl_uint)o->device;
        const cl_uint d1 = o->device < 0 ? nd : d0 + 1;
        for (cl_uint d = d0; d < d1; d++) {
            cl_device_type t = 0;
            cl_bool avail = CL_FALSE;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof(t), &t, NULL);
            clGetDeviceInfo(devs[d], CL_DEVICE_AVAILABLE, sizeof(avail), &avail, NULL);
            const int rank = ((t & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) ? 0
                              : (t & CL_DEVICE_TYPE_CPU)                              ? 2
                                                                                      : 1) +
                             (avail ? 0 : 4);
            if (rank < best) {
                best = rank;
                ctx->platform = plats[p];
                ctx->device = devs[d];
            }
        }
    }
    if (ctx->device == NULL && o->device >= 0)
        return plmm_sdk_error(host, PLMM_ERR_CONFIG, "device %lld requested, no platform has it",
                              (long long)o->device);
    if (ctx->device == NULL)
        return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED, "no OpenCL device found");

    char ext[4096] = "";
    cl_device_type type = 0;
    cl_ulong mem = 0, max_alloc = 0;
    cl_uint cu = 0;
    cl_bool avail = CL_FALSE, compiler = CL_FALSE;
    clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof(ctx->dev_name), ctx->dev_name, NULL);
    ctx->dev_name[sizeof(ctx->dev_name) - 1] = '\0';
    char ver[64] = "";
    clGetDeviceInfo(ctx->device, CL_DRIVER_VERSION, sizeof(ver), ver, NULL);
    ver[sizeof(ver) - 1] = '\0';
    snprintf(ctx->driver, sizeof(ctx->driver), "OpenCL %.50s", ver);
    clGetDeviceInfo(ctx->device, CL_DEVICE_EXTENSIONS, sizeof(ext), ext, NULL);
    ext[sizeof(ext) - 1] = '\0';
    clGetDeviceInfo(ctx->device, CL_DEVICE_TYPE, sizeof(type), &type, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(mem), &mem, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(max_alloc), &max_alloc, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cu), &cu, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_AVAILABLE, sizeof(avail), &avail, NULL);
    clGetDeviceInfo(ctx->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof(compiler), &compiler, NULL);
    if (!avail || !compiler)
        return plmm_sdk_error(host, PLMM_ERR_UNSUPPORTED, "device '%s' is %s", ctx->dev_name,
                              !avail ? "not available" : "without an OpenCL C compiler");
    ctx->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    ctx->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    ctx->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    ctx->mem_total = mem;
    ctx->max_alloc = max_alloc > 0 ? max_alloc : mem;
    ctx->compute_units = cu;
    return PLMM_OK;
}

static void release_buffer(plmm_backend_ctx *ctx, plmm_buffer *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        ctx->buffers = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    if (b->mem != NULL)
        clReleaseMemObject(b->mem);
    b->magic = 0;
    ctx->host->free(ctx->host->host_ctx, b);
}

static void release_ctx(plmm_backend_ctx *ctx)
{
    if (ctx->queue != NULL)
        clFinish(ctx->queue);
    while (ctx->buffers != NULL)
        release_buffer(ctx, ctx->buffers);
    ocl_scratch_release(&ctx->sc_qs);
    ocl_scratch_release(&ctx->sc_ds);
    ocl_scratch_release(&ctx->sc_att);
    if (ctx->err != NULL)
        clReleaseMemObject(ctx->err);
    ocl_program_release(ctx);
    if (ctx->queue != NULL)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl != NULL)
        clReleaseContext(ctx->cl);
    ctx->host->free(ctx->host->host_ctx, ctx->temps);
}

static plmm_status ocl_init(const plmm_host_api *host, const plmm_option_value *opts,
                            uint32_t n_opts, plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!PLMM_ABI_HAS(plmm_host_api, host, n_cpus) || host->alloc == NULL || host->free == NULL)
        return plmm_sdk_error(host, PLMM_ERR_ABI, "host services table too old or incomplete");
    ocl_opts o;
    plmm_status st = parse_options(host, opts, n_opts, &o);
    if (st != PLMM_OK)
        return st;
    plmm_backend_ctx *ctx = host->alloc(host->host_ctx, sizeof(*ctx), _Alignof(plmm_backend_ctx));
    if (ctx == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "cannot allocate the opencl backend context");
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = host;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        host->free(host->host_ctx, ctx);
        return plmm_sdk_error(host, PLMM_ERR_BACKEND, "cannot create a mutex");
    }
    if ((st = pick_device(ctx, &o)) != PLMM_OK)
        goto fail;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->cl = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if (ctx->cl == NULL || err != CL_SUCCESS) {
        ctx->cl = NULL;
        st = plmm_sdk_error(host, PLMM_ERR_BACKEND, "clCreateContext: %s", ocl_err_name(err));
        goto fail;
    }
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, 0, &err);
    if (ctx->queue == NULL || err != CL_SUCCESS) {
        ctx->queue = NULL;
        st = plmm_sdk_error(host, PLMM_ERR_BACKEND, "clCreateCommandQueue: %s", ocl_err_name(err));
        goto fail;
    }
    cl_int zero = 0;
    ctx->err = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof(zero),
                              &zero, &err);
    if (ctx->err == NULL || err != CL_SUCCESS) {
        ctx->err = NULL;
        st = plmm_sdk_error(host, PLMM_ERR_NOMEM, "cannot allocate the error flag: %s",
                            ocl_err_name(err));
        goto fail;
    }
    if ((st = ocl_program_init(ctx, o.cache_dir)) != PLMM_OK)
        goto fail;
    plmm_sdk_log(host, PLMM_LOG_INFO, "opencl backend: %s (%s)%s", ctx->dev_name, ctx->driver,
                 ctx->fp64 ? ", fp64 accumulation" : "");
    *out = ctx;
    return PLMM_OK;
fail:
    release_ctx(ctx);
    pthread_mutex_destroy(&ctx->lock);
    host->free(host->host_ctx, ctx);
    return st;
}

static void ocl_shutdown(plmm_backend_ctx *ctx)
{
    if (ctx == NULL)
        return;
    const plmm_host_api *host = ctx->host;
    release_ctx(ctx);
    pthread_mutex_destroy(&ctx->lock);
    host->free(host->host_ctx, ctx);
}

/* ---- devices ---- */

static plmm_status ocl_device_count(plmm_backend_ctx *ctx, uint32_t *out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    *out = 1;
    return PLMM_OK;
}

static plmm_status ocl_device_props(plmm_backend_ctx *ctx, uint32_t index, plmm_device_props *out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    if (index != 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE,
                              "device %u: a context uses one device (choose it with 'device')",
                              index);
    if (out->struct_size < offsetof(plmm_device_props, name))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "device props struct_size %u too small", out->struct_size);
    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = out->struct_size;
    p.type = PLMM_DEVICE_GPU;
    snprintf(p.name, sizeof(p.name), "%s", ctx->dev_name);
    snprintf(p.driver, sizeof(p.driver), "%s", ctx->driver);
    p.memory_total = ctx->mem_total;
    p.memory_free = 0;
    p.flags = (ctx->is_cpu ? PLMM_DEVICE_SOFTWARE : 0u) | (ctx->fp16 ? PLMM_DEVICE_FP16 : 0u);
    p.subgroup_size = 0;
    p.compute_units = ctx->compute_units;
    size_t n = out->struct_size < sizeof(p) ? out->struct_size : sizeof(p);
    memcpy(out, &p, n);
    return PLMM_OK;
}

/* ---- buffers ---- */

static plmm_status ocl_buffer_reqs(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out)
{
    (void)usage;
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    if (out->struct_size < offsetof(plmm_buffer_reqs, alignment))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer reqs struct_size %u too small", out->struct_size);
    plmm_buffer_reqs r = {
        .struct_size = out->struct_size, .flags = 0, .alignment = 64, .max_size = ctx->max_alloc};
    size_t n = out->struct_size < sizeof(r) ? out->struct_size : sizeof(r);
    memcpy(out, &r, n);
    return PLMM_OK;
}

static const uint32_t known_usage =
    PLMM_BUFFER_WEIGHTS | PLMM_BUFFER_ACTIVATIONS | PLMM_BUFFER_STATE | PLMM_BUFFER_HOST_VISIBLE;

static plmm_status new_buffer(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                              const void *init, plmm_buffer **out)
{
    if (usage & ~known_usage)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown buffer usage 0x%x", usage);
    if (usage & PLMM_BUFFER_HOST_VISIBLE)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "opencl buffers are device memory and cannot be mapped");
    if (size > ctx->max_alloc)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM,
                              "buffer of %llu bytes exceeds the device's largest allocation "
                              "(%llu bytes)",
                              (unsigned long long)size, (unsigned long long)ctx->max_alloc);
    plmm_buffer *b = ctx->host->alloc(ctx->host->host_ctx, sizeof(*b), _Alignof(plmm_buffer));
    if (b == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate a buffer handle");
    cl_int err;
    cl_mem_flags fl = init != NULL ? (CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR) : CL_MEM_READ_WRITE;
    cl_mem m = clCreateBuffer(ctx->cl, fl, (size_t)size, (void *)(uintptr_t)init, &err);
    if (m == NULL || err != CL_SUCCESS) {
        ctx->host->free(ctx->host->host_ctx, b);
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM,
                              "cannot allocate %llu bytes of device memory: %s",
                              (unsigned long long)size, ocl_err_name(err));
    }
    *b = (plmm_buffer){.magic = BUFFER_MAGIC,
                       .usage = usage,
                       .ctx = ctx,
                       .mem = m,
                       .size = size,
                       .imported = init != NULL,
                       .next = ctx->buffers};
    pthread_mutex_lock(&ctx->lock);
    if (ctx->buffers != NULL)
        ctx->buffers->prev = b;
    ctx->buffers = b;
    pthread_mutex_unlock(&ctx->lock);
    *out = b;
    return PLMM_OK;
}

static plmm_status ocl_buffer_alloc(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                                    plmm_buffer **out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    if (size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "buffer size is 0");
    return new_buffer(ctx, size, usage, NULL, out);
}

static bool our_buffer(const plmm_backend_ctx *ctx, const plmm_buffer *b)
{
    return b != NULL && b->magic == BUFFER_MAGIC && b->ctx == ctx;
}

static void ocl_buffer_free(plmm_backend_ctx *ctx, plmm_buffer *buf)
{
    if (ctx == NULL || !our_buffer(ctx, buf))
        return;
    pthread_mutex_lock(&ctx->lock);
    release_buffer(ctx, buf); /* OpenCL keeps the memory until queued work on it is done */
    pthread_mutex_unlock(&ctx->lock);
}

static plmm_status ocl_buffer_map(plmm_backend_ctx *ctx, plmm_buffer *buf, void **out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    if (!our_buffer(ctx, buf))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer does not belong to this context");
    return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                          "opencl buffers are device memory and cannot be mapped");
}

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

static plmm_status ocl_buffer_write(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                    const void *src, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = check_range(ctx, buf, offset, size, src, flags);
    if (st != PLMM_OK)
        return st;
    if (buf->imported)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "buffer holds imported weights and cannot be written");
    if (size == 0)
        return PLMM_OK;
    cl_int err =
        clEnqueueWriteBuffer(ctx->queue, buf->mem, (flags & PLMM_COPY_ASYNC) ? CL_FALSE : CL_TRUE,
                             (size_t)offset, (size_t)size, src, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "clEnqueueWriteBuffer: %s",
                              ocl_err_name(err));
    return PLMM_OK;
}

static plmm_status ocl_buffer_read(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                   void *dst, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    plmm_status st = check_range(ctx, buf, offset, size, dst, flags);
    if (st != PLMM_OK)
        return st;
    if (size == 0)
        return PLMM_OK;
    cl_int err =
        clEnqueueReadBuffer(ctx->queue, buf->mem, (flags & PLMM_COPY_ASYNC) ? CL_FALSE : CL_TRUE,
                            (size_t)offset, (size_t)size, dst, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "clEnqueueReadBuffer: %s",
                              ocl_err_name(err));
    return PLMM_OK;
}

static plmm_status ocl_buffer_import_host(plmm_backend_ctx *ctx, const void *ptr, uint64_t size,
                                          uint32_t usage, plmm_buffer **out)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "out pointer is NULL");
    if (ptr == NULL || size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "import of NULL or empty host memory");
    /* one upload into device memory; the host copy is never read again */
    return new_buffer(ctx, size, usage, ptr, out);
}

static plmm_status ocl_synchronize(plmm_backend_ctx *ctx)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = PLMM_OK;
    cl_int flag = 0, err;
    if (ctx->check_err) {
        /* the blocking read waits for everything queued before it */
        err = clEnqueueReadBuffer(ctx->queue, ctx->err, CL_TRUE, 0, sizeof(flag), &flag, 0, NULL,
                                  NULL);
        ctx->check_err = false;
        if (err == CL_SUCCESS && flag != 0) {
            const cl_int zero = 0;
            err = clEnqueueWriteBuffer(ctx->queue, ctx->err, CL_TRUE, 0, sizeof(zero), &zero, 0,
                                       NULL, NULL);
            st = plmm_sdk_error(ctx->host, PLMM_ERR_RANGE,
                                "GET_ROWS: a row id was outside the table");
        }
    } else {
        err = clFinish(ctx->queue);
    }
    if (st == PLMM_OK && err != CL_SUCCESS)
        st = plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "waiting for the device: %s",
                            ocl_err_name(err));
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

/* ---- graph contract ---- */

static bool ocl_supports_node(plmm_backend_ctx *ctx, const plmm_node *node)
{
    char msg[256];
    return ocl_node_check(ctx, node, msg, sizeof(msg)) == PLMM_OK;
}

static plmm_status ocl_graph_compute(plmm_backend_ctx *ctx, const plmm_graph *graph)
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
    char msg[400];
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = ocl_graph_run(ctx, graph, msg, sizeof(msg));
    if (st == PLMM_OK) {
        cl_int err = clFlush(ctx->queue);
        if (err != CL_SUCCESS)
            st = plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "clFlush: %s", ocl_err_name(err));
    } else {
        plmm_sdk_error(ctx->host, st, "%s", msg);
    }
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

/* ---- descriptor ---- */

static int ocl_score(const plmm_host_api *host)
{
    /* usable wherever an ICD loader finds a platform (checked at init);
     * below the CPU backend's SIMD kernels so `auto` never prefers an
     * emulated device */
    (void)host;
    return 1;
}

static const plmm_option_schema ocl_options[] = {
    {.key = "platform",
     .type = PLMM_OPT_INT,
     .default_value = "-1",
     .min = -1,
     .max = MAX_INDEX,
     .help = "OpenCL platform index (as clinfo lists them); -1 = search every platform"},
    {.key = "device",
     .type = PLMM_OPT_INT,
     .default_value = "-1",
     .min = -1,
     .max = MAX_INDEX,
     .help = "device index within the platform; -1 = the first GPU or accelerator, "
             "else the first other device, CPU devices (PoCL) last"},
    {.key = "cache_dir",
     .type = PLMM_OPT_STRING,
     .default_value = "",
     .min = 1,
     .max = 0,
     .help = "directory of compiled program binaries; empty = $XDG_CACHE_HOME/plmm or "
             "~/.cache/plmm, 'none' = no cache"},
};

static const plmm_op_caps ocl_caps[] = {PLMM_SDK_CAPS_ALL_OPS(PLMM_SDK_WEIGHT_DTYPES)};

static const plmm_backend_vtbl ocl_vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = ocl_init,
    .shutdown = ocl_shutdown,
    .device_count = ocl_device_count,
    .device_props = ocl_device_props,
    .buffer_reqs = ocl_buffer_reqs,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .buffer_map = ocl_buffer_map,
    .buffer_write = ocl_buffer_write,
    .buffer_read = ocl_buffer_read,
    .buffer_import_host = ocl_buffer_import_host,
    .synchronize = ocl_synchronize,
    .supports_node = ocl_supports_node,
    .graph_compute = ocl_graph_compute,
    .partition_claim = NULL,
    .compat_key = NULL,
    .partition_compile = NULL,
    .blob_load = NULL,
    .compiled_execute = NULL,
    .compiled_free = NULL,
};

static const plmm_backend_desc ocl_desc = {
    .struct_size = sizeof(plmm_backend_desc),
    .abi_major = PLMM_BACKEND_ABI_MAJOR,
    .abi_minor = PLMM_BACKEND_ABI_MINOR,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_GPU,
    .name = "opencl",
    .version = PLMM_VERSION,
    .description = "OpenCL 1.2+: embedded OpenCL C kernels, cached program binaries, "
                   "weights resident on the device",
    .contracts = PLMM_CONTRACT_GRAPH,
    .n_options = sizeof(ocl_options) / sizeof(ocl_options[0]),
    .options = ocl_options,
    .n_caps = sizeof(ocl_caps) / sizeof(ocl_caps[0]),
    .n_tolerances = 0,
    .caps = ocl_caps,
    .tolerances = NULL,
    .score = ocl_score,
    .vtbl = &ocl_vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &ocl_desc;
}
