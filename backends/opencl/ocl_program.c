/*
 * The OpenCL program: built from the embedded kernel source once per
 * device and cached as a device binary on disk, keyed by platform, device,
 * driver version, build options and a hash of the source. A cache file
 * that is missing, corrupt or refused by the driver is rebuilt from source
 * and rewritten (atomically, through a temporary file and rename).
 */
#include "ocl.h"
#include "plmm_sdk.h"

#include "opencl_kernels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "PLMMCLB1"
#define LOG_MAX 4096

static const char *const kernel_names[OK_COUNT] = {
    [OK_GET_ROWS] = "k_get_rows",       [OK_RMS_NORM] = "k_rms_norm",
    [OK_BINARY] = "k_binary",           [OK_UNARY] = "k_unary",
    [OK_SOFTMAX] = "k_softmax",         [OK_ROPE] = "k_rope",
    [OK_CPY] = "k_cpy",                 [OK_ATTENTION] = "k_attention",
    [OK_QUANT_Q8_0] = "k_quant_q8_0",   [OK_QUANT_Q8_K] = "k_quant_q8_k",
    [OK_ROUND_X] = "k_round_x",         [OK_MUL_MAT] = "k_mul_mat",
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define FNV_SEED UINT64_C(0xcbf29ce484222325)

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv1a(h, s, strlen(s) + 1); /* include the NUL as a separator */
}

static void info_str(cl_device_id d, cl_device_info what, char *out, size_t n)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, n, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[n - 1] = '\0';
}

static void platform_str(cl_platform_id p, cl_platform_info what, char *out, size_t n)
{
    out[0] = '\0';
    if (clGetPlatformInfo(p, what, n, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[n - 1] = '\0';
}

/* Build options for this device: OpenCL C 1.2 when available, correctly
 * rounded division and sqrt when the device offers them. */
static void build_options(const plmm_backend_ctx *ctx, char *out, size_t n)
{
    char cver[128];
    info_str(ctx->device, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof(cver));
    int major = 1, minor = 0;
    if (sscanf(cver, "OpenCL C %d.%d", &major, &minor) != 2) {
        major = 1;
        minor = 0;
    }
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(ctx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof(fp), &fp, NULL);
    snprintf(out, n, "%s%s", (major > 1 || (major == 1 && minor >= 2)) ? "-cl-std=CL1.2 " : "",
             (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? "-cl-fp32-correctly-rounded-divide-sqrt"
                                                        : "");
}

static uint64_t cache_key(const plmm_backend_ctx *ctx, const char *opts)
{
    char s[512];
    uint64_t h = FNV_SEED;
    platform_str(ctx->platform, CL_PLATFORM_NAME, s, sizeof(s));
    h = fnv_str(h, s);
    platform_str(ctx->platform, CL_PLATFORM_VERSION, s, sizeof(s));
    h = fnv_str(h, s);
    info_str(ctx->device, CL_DEVICE_NAME, s, sizeof(s));
    h = fnv_str(h, s);
    info_str(ctx->device, CL_DEVICE_VERSION, s, sizeof(s));
    h = fnv_str(h, s);
    info_str(ctx->device, CL_DRIVER_VERSION, s, sizeof(s));
    h = fnv_str(h, s);
    h = fnv_str(h, opts);
    for (size_t i = 0; i < OCL_KERNEL_SRC_COUNT; i++)
        h = fnv1a(h, ocl_kernel_src[i], strlen(ocl_kernel_src[i]));
    return h;
}

/* Resolve the cache directory: the option, else $XDG_CACHE_HOME/plmm, else
 * ~/.cache/plmm; "none" disables the cache (false). */
static bool cache_path(const char *opt, uint64_t key, char *out, size_t n)
{
    char dir[1024];
    if (opt != NULL && strcmp(opt, "none") == 0)
        return false;
    if (opt != NULL && opt[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s", opt);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (xdg != NULL && xdg[0] == '/')
            snprintf(dir, sizeof(dir), "%s/plmm", xdg);
        else if (home != NULL && home[0] != '\0')
            snprintf(dir, sizeof(dir), "%s/.cache/plmm", home);
        else
            return false;
    }
    int w = snprintf(out, n, "%s/opencl-%016llx.bin", dir, (unsigned long long)key);
    return w > 0 && (size_t)w < n;
}

/* mkdir -p of the directory part of path (mode 0700 for new levels). */
static bool make_parent_dirs(const char *path)
{
    char buf[1100];
    snprintf(buf, sizeof(buf), "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return true;
    *slash = '\0';
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0700) == 0 || errno == EEXIST;
}

typedef struct cache_header {
    char magic[8];
    uint64_t key;
    uint64_t size;
    uint64_t sum;
} cache_header;

/* Read a cached binary; NULL when absent or corrupt. */
static unsigned char *cache_read(const plmm_host_api *host, const char *path, uint64_t key,
                                 size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cache_header h;
    unsigned char *data = NULL;
    if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, CACHE_MAGIC, 8) != 0 || h.key != key ||
        h.size == 0 || h.size > (UINT64_C(1) << 30))
        goto bad;
    data = host->alloc(host->host_ctx, (size_t)h.size, 16);
    if (data == NULL)
        goto bad;
    if (fread(data, 1, (size_t)h.size, f) != (size_t)h.size || fgetc(f) != EOF ||
        fnv1a(FNV_SEED, data, (size_t)h.size) != h.sum)
        goto bad;
    fclose(f);
    *size = (size_t)h.size;
    return data;
bad:
    plmm_sdk_log(host, PLMM_LOG_WARN, "program cache %s is corrupt; rebuilding", path);
    host->free(host->host_ctx, data);
    fclose(f);
    return NULL;
}

static void cache_write(const plmm_host_api *host, const char *path, uint64_t key,
                        const unsigned char *data, size_t size)
{
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (!make_parent_dirs(path)) {
        plmm_sdk_log(host, PLMM_LOG_WARN, "cannot create the cache directory of %s", path);
        return;
    }
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        plmm_sdk_log(host, PLMM_LOG_WARN, "cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.key = key;
    h.size = size;
    h.sum = fnv1a(FNV_SEED, data, size);
    bool ok = fwrite(&h, sizeof(h), 1, f) == 1 && fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        plmm_sdk_log(host, PLMM_LOG_WARN, "cannot write the program cache %s", path);
        remove(tmp);
    }
}

/* The compiler log of the last build, into out. */
static void build_log(const plmm_backend_ctx *ctx, cl_program p, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    if (clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS ||
        len == 0)
        return;
    char *log = ctx->host->alloc(ctx->host->host_ctx, len + 1, 1);
    if (log == NULL)
        return;
    if (clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, len, log, NULL) == CL_SUCCESS) {
        log[len] = '\0';
        snprintf(out, n, "%s", log);
    }
    ctx->host->free(ctx->host->host_ctx, log);
}

static cl_program build_from_binary(plmm_backend_ctx *ctx, const char *opts,
                                    const unsigned char *bin, size_t size)
{
    cl_int err, status = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &size, &bin, &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (p != NULL)
            clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

static plmm_status build_from_source(plmm_backend_ctx *ctx, const char *opts, cl_program *out)
{
    cl_int err;
    cl_program p = clCreateProgramWithSource(ctx->cl, (cl_uint)OCL_KERNEL_SRC_COUNT,
                                             (const char **)ocl_kernel_src, NULL, &err);
    if (p == NULL || err != CL_SUCCESS)
        return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "clCreateProgramWithSource: %s",
                              ocl_err_name(err));
    err = clBuildProgram(p, 1, &ctx->device, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        char *log = ctx->host->alloc(ctx->host->host_ctx, LOG_MAX, 1);
        if (log != NULL)
            build_log(ctx, p, log, LOG_MAX);
        plmm_status st = plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND,
                                        "building the kernels for '%s' failed (%s): %s",
                                        ctx->dev_name, ocl_err_name(err),
                                        log != NULL && log[0] ? log : "(no compiler log)");
        ctx->host->free(ctx->host->host_ctx, log);
        clReleaseProgram(p);
        return st;
    }
    *out = p;
    return PLMM_OK;
}

static void save_binary(plmm_backend_ctx *ctx, cl_program p, const char *path, uint64_t key)
{
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = ctx->host->alloc(ctx->host->host_ctx, size, 16);
    if (bin == NULL)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(bins), bins, NULL) == CL_SUCCESS)
        cache_write(ctx->host, path, key, bin, size);
    ctx->host->free(ctx->host->host_ctx, bin);
}

static plmm_status create_kernels(plmm_backend_ctx *ctx)
{
    for (int i = 0; i < OK_COUNT; i++) {
        cl_int err;
        ctx->kernels[i] = clCreateKernel(ctx->program, kernel_names[i], &err);
        if (ctx->kernels[i] == NULL || err != CL_SUCCESS) {
            ctx->kernels[i] = NULL;
            return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "kernel %s: %s",
                                  kernel_names[i], ocl_err_name(err));
        }
    }
    return PLMM_OK;
}

plmm_status ocl_program_init(plmm_backend_ctx *ctx, const char *cache_dir)
{
    char opts[256], path[1100];
    build_options(ctx, opts, sizeof(opts));
    const uint64_t key = cache_key(ctx, opts);
    const bool use_cache = cache_path(cache_dir, key, path, sizeof(path));
    if (use_cache) {
        size_t size = 0;
        unsigned char *bin = cache_read(ctx->host, path, key, &size);
        if (bin != NULL) {
            ctx->program = build_from_binary(ctx, opts, bin, size);
            ctx->host->free(ctx->host->host_ctx, bin);
            if (ctx->program == NULL)
                plmm_sdk_log(ctx->host, PLMM_LOG_WARN,
                             "the driver refused the cached program %s; rebuilding", path);
        }
    }
    if (ctx->program == NULL) {
        plmm_status st = build_from_source(ctx, opts, &ctx->program);
        if (st != PLMM_OK)
            return st;
        if (use_cache)
            save_binary(ctx, ctx->program, path, key);
    }
    plmm_status st = create_kernels(ctx);
    if (st != PLMM_OK)
        ocl_program_release(ctx);
    return st;
}

void ocl_program_release(plmm_backend_ctx *ctx)
{
    for (int i = 0; i < OK_COUNT; i++) {
        if (ctx->kernels[i] != NULL)
            clReleaseKernel(ctx->kernels[i]);
        ctx->kernels[i] = NULL;
    }
    if (ctx->program != NULL)
        clReleaseProgram(ctx->program);
    ctx->program = NULL;
}
