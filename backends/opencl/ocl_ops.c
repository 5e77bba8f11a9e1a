/*
 * Graph execution of the OpenCL backend: node validation against the op
 * contracts of backend.h, resolution of tensors to (cl_mem, offset), and
 * one kernel launch (or a few) per node, all queued in order on the
 * context's queue. Nothing here waits for the device.
 */
#include "ocl.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_NE (INT64_C(1) << 40)
#define ATT_SCRATCH_MAX ((size_t)64 << 20) /* bytes of attention scores per launch */

static plmm_status fail(char *msg, size_t n, plmm_status st, const char *fmt, ...)
    PLMM_PRINTF(4, 5);
static plmm_status fail(char *msg, size_t n, plmm_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return st;
}

const char *ocl_err_name(cl_int e)
{
    switch (e) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "CL error";
    }
}

/* ---- validation ---- */

static bool weight_type_ok(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32: case PLMM_DTYPE_F16: case PLMM_DTYPE_BF16: case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0: case PLMM_DTYPE_Q4_K: case PLMM_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static bool tensor_span(const plmm_tensor *t, uint64_t *out)
{
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return false;
    uint64_t span = plmm_dtype_block_bytes(t->dtype);
    for (int i = 0; i < PLMM_MAX_DIMS; i++) {
        if (t->ne[i] < 1)
            return false;
        uint64_t count = (uint64_t)(i == 0 ? t->ne[0] / be : t->ne[i]) - 1, part;
        if (__builtin_mul_overflow(count, t->nb[i], &part) ||
            __builtin_add_overflow(span, part, &span))
            return false;
    }
    *out = span;
    return true;
}

/* Alignment a kernel needs for a dtype's elements or blocks. */
static uint64_t dtype_align(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32: case PLMM_DTYPE_I32: return 4;
    case PLMM_DTYPE_F16: case PLMM_DTYPE_BF16: case PLMM_DTYPE_Q8_0: case PLMM_DTYPE_Q4_0:
    case PLMM_DTYPE_Q4_K: case PLMM_DTYPE_Q6_K: return 2;
    default: return 1;
    }
}

static plmm_status check_tensor(const plmm_tensor *t, const char *what, bool any_nb0, char *msg,
                                size_t n)
{
    if (t == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s is NULL", what);
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s has unknown dtype %u", what, t->dtype);
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (t->ne[i] < 1 || t->ne[i] > MAX_NE)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[%d]=%lld out of range", what, i,
                        (long long)t->ne[i]);
    if (t->ne[0] % be != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[0]=%lld is not a multiple of %u", what,
                    (long long)t->ne[0], be);
    if (!any_nb0 && t->nb[0] != plmm_dtype_block_bytes(t->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s nb[0]=%llu: rows must be contiguous", what,
                    (unsigned long long)t->nb[0]);
    uint64_t span, a = dtype_align(t->dtype);
    if (!tensor_span(t, &span))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s strides overflow", what);
    bool ok = t->offset % a == 0;
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        ok = ok && (t->ne[i] == 1 || t->nb[i] % a == 0);
    if (!ok)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s offset or strides not aligned to %llu bytes",
                    what, (unsigned long long)a);
    return PLMM_OK;
}

static plmm_status want(const plmm_tensor *t, const char *what, uint32_t dtype, char *msg,
                        size_t n)
{
    if (t->dtype != dtype)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s dtype %s, expected %s", what,
                    plmm_dtype_name(t->dtype), plmm_dtype_name(dtype));
    return PLMM_OK;
}

static plmm_status f32(const plmm_tensor *t, const char *what, char *msg, size_t n)
{
    plmm_status st = check_tensor(t, what, false, msg, n);
    return st != PLMM_OK ? st : want(t, what, PLMM_DTYPE_F32, msg, n);
}

static plmm_status same(const plmm_tensor *a, const plmm_tensor *b, const char *what, char *msg,
                        size_t n)
{
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i])
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[%d]=%lld, expected %lld", what, i,
                        (long long)b->ne[i], (long long)a->ne[i]);
    return PLMM_OK;
}

static bool one_d(const plmm_tensor *t)
{
    return t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        plmm_status st_ = (x);                                                                     \
        if (st_ != PLMM_OK)                                                                        \
            return st_;                                                                            \
    } while (0)

static plmm_status check_op(const plmm_backend_ctx *ctx, const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *s0 = nd->src[0], *s1 = nd->src[1], *s2 = nd->src[2], *d = nd->dst;
    switch (nd->op) {
    case PLMM_OP_GET_ROWS:
        TRY(check_tensor(s0, "src0", false, msg, n));
        if (!weight_type_ok(s0->dtype))
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "src0 dtype %s not supported",
                        plmm_dtype_name(s0->dtype));
        TRY(check_tensor(s1, "src1", false, msg, n));
        TRY(want(s1, "src1", PLMM_DTYPE_I32, msg, n));
        TRY(f32(d, "dst", msg, n));
        if (s0->ne[2] != 1 || s0->ne[3] != 1 || !one_d(s1) || d->ne[0] != s0->ne[0] ||
            d->ne[1] != s1->ne[0] || d->ne[2] != 1 || d->ne[3] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "GET_ROWS shapes do not match");
        return PLMM_OK;
    case PLMM_OP_RMS_NORM:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        if (s1 != NULL) {
            TRY(f32(s1, "src1", msg, n));
            if (s1->ne[0] != s0->ne[0] || !one_d(s1))
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 must be a vector of %lld",
                            (long long)s0->ne[0]);
        }
        if (!isfinite(nd->fp[0]) || nd->fp[0] < 0.0f)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "eps must be finite and >= 0");
        return PLMM_OK;
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(s1, "src1", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        for (int i = 0; i < PLMM_MAX_DIMS; i++)
            if (s1->ne[i] != 1 && s1->ne[i] != s0->ne[i])
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 ne[%d] does not broadcast", i);
        return PLMM_OK;
    case PLMM_OP_MUL_MAT:
        TRY(check_tensor(s0, "src0", false, msg, n));
        if (!weight_type_ok(s0->dtype))
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "src0 dtype %s not supported",
                        plmm_dtype_name(s0->dtype));
        TRY(f32(s1, "src1", msg, n));
        TRY(f32(d, "dst", msg, n));
        if (s1->ne[0] != s0->ne[0] || d->ne[0] != s0->ne[1] || d->ne[1] != s1->ne[1] ||
            d->ne[2] != s1->ne[2] || d->ne[3] != s1->ne[3] || s1->ne[2] % s0->ne[2] != 0 ||
            s1->ne[3] % s0->ne[3] != 0)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "MUL_MAT shapes do not match");
        if (ctx != NULL && s0->dtype != PLMM_DTYPE_F32) {
            uint64_t rows = (uint64_t)(s1->ne[1] * s1->ne[2] * s1->ne[3]);
            if (rows > ctx->max_alloc / 4 / (uint64_t)s1->ne[0])
                return fail(msg, n, PLMM_ERR_UNSUPPORTED, "quantized activations exceed the "
                                                          "device's largest allocation");
        }
        return PLMM_OK;
    case PLMM_OP_ROPE:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        TRY(check_tensor(s1, "src1", false, msg, n));
        TRY(want(s1, "src1", PLMM_DTYPE_I32, msg, n));
        if (s0->ne[3] != 1 || s1->ne[0] != s0->ne[2] || !one_d(s1))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "ROPE shapes do not match");
        if (nd->ip[0] <= 0 || nd->ip[0] % 2 != 0 || nd->ip[0] > s0->ne[0])
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "n_rot %d must be even, > 0, <= head_dim",
                        (int)nd->ip[0]);
        if (nd->ip[1] != 0 && nd->ip[1] != 2)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "rope mode %d (0 or 2)", (int)nd->ip[1]);
        if (s2 != NULL) {
            TRY(f32(s2, "src2", msg, n));
            if (s2->ne[0] < nd->ip[0] / 2 || !one_d(s2))
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "src2 must hold n_rot/2 factors");
        }
        for (int i = 0; i < 6; i++)
            if (!isfinite(nd->fp[i]))
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "fp[%d] is not finite", i);
        if (nd->fp[0] <= 0.0f || nd->fp[1] <= 0.0f)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "freq_base and freq_scale must be > 0");
        if (nd->fp[2] != 0.0f && (nd->ip[2] <= 0 || nd->fp[4] <= 0.0f || nd->fp[5] <= 0.0f))
            return fail(msg, n, PLMM_ERR_INVALID_ARG,
                        "ext_factor needs n_ctx_orig, beta_fast and beta_slow > 0");
        return PLMM_OK;
    case PLMM_OP_SOFTMAX:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        if (s1 != NULL) {
            TRY(f32(s1, "src1", msg, n));
            if (s1->ne[0] != s0->ne[0] || s1->ne[1] < s0->ne[1] || s1->ne[2] != 1 ||
                s1->ne[3] != 1)
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "mask shape does not match");
        }
        if (!isfinite(nd->fp[0]))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "scale is not finite");
        return PLMM_OK;
    case PLMM_OP_ATTENTION:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        TRY(check_tensor(s1, "src1", false, msg, n));
        TRY(check_tensor(s2, "src2", false, msg, n));
        if ((s1->dtype != PLMM_DTYPE_F32 && s1->dtype != PLMM_DTYPE_F16) ||
            (s2->dtype != PLMM_DTYPE_F32 && s2->dtype != PLMM_DTYPE_F16))
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "K/V cache dtype must be F32 or F16");
        if (s0->ne[3] != 1 || s1->ne[0] != s0->ne[0] || s2->ne[0] != s0->ne[0] ||
            s1->ne[1] != s2->ne[1] || s1->ne[2] != s2->ne[2] || s1->ne[3] != 1 ||
            s2->ne[3] != 1 || s0->ne[1] % s1->ne[1] != 0)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "ATTENTION shapes do not match");
        if (nd->ip[0] < 1 || nd->ip[0] > s1->ne[2])
            return fail(msg, n, PLMM_ERR_RANGE, "n_kv %d outside [1, %lld]", (int)nd->ip[0],
                        (long long)s1->ne[2]);
        if (nd->ip[1] < 0)
            return fail(msg, n, PLMM_ERR_RANGE, "pos0 %d is negative", (int)nd->ip[1]);
        if (nd->ip[2] != 0 && nd->ip[2] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "causal flag must be 0 or 1");
        if (!isfinite(nd->fp[0]))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "scale is not finite");
        if (s0->ne[0] > INT32_MAX || s0->ne[1] > INT32_MAX || s0->ne[2] > INT32_MAX)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "ATTENTION dimensions too large");
        return PLMM_OK;
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
    case PLMM_OP_SWIGLU:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        if (nd->op == PLMM_OP_SWIGLU) {
            TRY(f32(s1, "src1", msg, n));
            TRY(same(s0, s1, "src1", msg, n));
        }
        return PLMM_OK;
    case PLMM_OP_CPY: {
        TRY(check_tensor(s0, "src0", true, msg, n));
        TRY(check_tensor(d, "dst", true, msg, n));
        const uint32_t a = s0->dtype, b = d->dtype;
        if ((a != PLMM_DTYPE_F32 && a != PLMM_DTYPE_F16 && a != PLMM_DTYPE_BF16) ||
            (b != PLMM_DTYPE_F32 && b != PLMM_DTYPE_F16 && b != PLMM_DTYPE_BF16))
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "copy %s -> %s not supported",
                        plmm_dtype_name(a), plmm_dtype_name(b));
        return same(s0, d, "dst", msg, n);
    }
    default:
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "op %u not supported", nd->op);
    }
}

plmm_status ocl_node_check(const plmm_backend_ctx *ctx, const plmm_node *nd, char *msg, size_t n)
{
    if (nd == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "node is NULL");
    if (nd->op >= PLMM_OP_COUNT)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "unknown op %u", nd->op);
    if (nd->op == PLMM_OP_NONE)
        return PLMM_OK;
    if (nd->flags != 0)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "node flags 0x%x not supported", nd->flags);
    if (nd->dst == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "dst is NULL");
    return check_op(ctx, nd, msg, n);
}

/* ---- resolution ---- */

typedef struct ocl_ref {
    cl_mem mem;
    cl_ulong off;
} ocl_ref;

static bool our_buffer(const plmm_backend_ctx *ctx, const plmm_buffer *b)
{
    return b != NULL && b->magic == 0x504c4f43u && b->ctx == ctx;
}

static plmm_status add_temp(plmm_backend_ctx *ctx, cl_mem m)
{
    if (ctx->n_temps == ctx->cap_temps) {
        uint32_t cap = ctx->cap_temps ? 2 * ctx->cap_temps : 16;
        cl_mem *t = ctx->host->alloc(ctx->host->host_ctx, cap * sizeof(*t), _Alignof(cl_mem));
        if (t == NULL)
            return PLMM_ERR_NOMEM;
        if (ctx->n_temps > 0)
            memcpy(t, ctx->temps, ctx->n_temps * sizeof(*t));
        ctx->host->free(ctx->host->host_ctx, ctx->temps);
        ctx->temps = t;
        ctx->cap_temps = cap;
    }
    ctx->temps[ctx->n_temps++] = m;
    return PLMM_OK;
}

static plmm_status resolve(plmm_backend_ctx *ctx, const plmm_tensor *t, bool write, ocl_ref *out,
                           char *msg, size_t n)
{
    out->mem = NULL;
    out->off = 0;
    if (t == NULL)
        return PLMM_OK;
    const char *name = t->name != NULL ? t->name : "?";
    uint64_t span;
    if (!tensor_span(t, &span))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' has a bad shape", name);
    if (t->buffer == NULL) {
        if (t->data == NULL)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' has no buffer and no data",
                        name);
        if (write)
            return fail(msg, n, PLMM_ERR_INVALID_ARG,
                        "tensor '%s' is written but lives in host memory", name);
        /* a host input: upload it for this graph; released once queued work is done */
        cl_int err;
        cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, span,
                                  t->data, &err);
        if (m == NULL || err != CL_SUCCESS)
            return fail(msg, n, PLMM_ERR_NOMEM, "uploading host tensor '%s' (%llu bytes): %s",
                        name, (unsigned long long)span, ocl_err_name(err));
        if (add_temp(ctx, m) != PLMM_OK) {
            clReleaseMemObject(m);
            return fail(msg, n, PLMM_ERR_NOMEM, "out of host memory");
        }
        out->mem = m;
        return PLMM_OK;
    }
    const plmm_buffer *b = t->buffer;
    if (!our_buffer(ctx, b))
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "tensor '%s' lives in a buffer of another backend or context", name);
    if (write && b->imported)
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "tensor '%s' is written but lives in read-only imported weights", name);
    if (t->offset > b->size || span > b->size - t->offset)
        return fail(msg, n, PLMM_ERR_RANGE, "tensor '%s' at offset %llu overruns its buffer",
                    name, (unsigned long long)t->offset);
    out->mem = b->mem;
    out->off = t->offset;
    return PLMM_OK;
}

/* ---- kernel launch helpers ---- */

typedef struct args {
    cl_kernel k;
    cl_uint i;
    cl_int err;
} args;

static void arg(args *a, size_t size, const void *v)
{
    if (a->err == CL_SUCCESS)
        a->err = clSetKernelArg(a->k, a->i, size, v);
    a->i++;
}

static void a_mem(args *a, const ocl_ref *r)
{
    arg(a, sizeof(cl_mem), &r->mem);
    arg(a, sizeof(cl_ulong), &r->off);
}

static void a_u64(args *a, uint64_t v)
{
    cl_ulong x = v;
    arg(a, sizeof(x), &x);
}

static void a_i64(args *a, int64_t v)
{
    cl_long x = v;
    arg(a, sizeof(x), &x);
}

static void a_int(args *a, int v)
{
    cl_int x = v;
    arg(a, sizeof(x), &x);
}

static void a_f(args *a, float v)
{
    cl_float x = v;
    arg(a, sizeof(x), &x);
}

static void a_ne(args *a, const plmm_tensor *t)
{
    cl_long4 x;
    for (int i = 0; i < 4; i++)
        x.s[i] = t->ne[i];
    arg(a, sizeof(x), &x);
}

static void a_nb(args *a, const plmm_tensor *t)
{
    cl_ulong4 x;
    for (int i = 0; i < 4; i++)
        x.s[i] = t->nb[i];
    arg(a, sizeof(x), &x);
}

static plmm_status launch(plmm_backend_ctx *ctx, args *a, cl_uint dims, size_t g0, size_t g1,
                          char *msg, size_t n)
{
    if (a->err != CL_SUCCESS)
        return fail(msg, n, PLMM_ERR_BACKEND, "clSetKernelArg #%u: %s", a->i, ocl_err_name(a->err));
    if (g0 == 0 || g1 == 0)
        return PLMM_OK;
    const size_t g[2] = {g0, g1};
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, a->k, dims, NULL, g, NULL, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return fail(msg, n, err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                                    err == CL_OUT_OF_HOST_MEMORY
                                ? PLMM_ERR_NOMEM
                                : PLMM_ERR_BACKEND,
                    "clEnqueueNDRangeKernel: %s", ocl_err_name(err));
    return PLMM_OK;
}

static plmm_status ensure_scratch(plmm_backend_ctx *ctx, ocl_scratch *s, size_t need, char *msg,
                                  size_t n)
{
    if (need == 0)
        need = 4;
    if (s->mem != NULL && s->size >= need)
        return PLMM_OK;
    ocl_scratch_release(s); /* queued kernels keep the old one alive until they finish */
    size_t size = need + need / 4;
    if (size > ctx->max_alloc)
        size = need;
    cl_int err;
    s->mem = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, size, NULL, &err);
    if (s->mem == NULL || err != CL_SUCCESS) {
        s->mem = NULL;
        return fail(msg, n, PLMM_ERR_NOMEM, "cannot allocate %zu bytes of scratch: %s", size,
                    ocl_err_name(err));
    }
    s->size = size;
    return PLMM_OK;
}

void ocl_scratch_release(ocl_scratch *s)
{
    if (s->mem != NULL)
        clReleaseMemObject(s->mem);
    s->mem = NULL;
    s->size = 0;
}

static int64_t rows_of(const plmm_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---- ops ---- */

static plmm_status run_node(plmm_backend_ctx *ctx, const plmm_node *nd, char *msg, size_t n)
{
    ocl_ref r[PLMM_MAX_SRC], rd;
    TRY(resolve(ctx, nd->dst, true, &rd, msg, n));
    for (int i = 0; i < PLMM_MAX_SRC; i++)
        TRY(resolve(ctx, nd->src[i], false, &r[i], msg, n));
    const plmm_tensor *s0 = nd->src[0], *s1 = nd->src[1], *s2 = nd->src[2], *d = nd->dst;
    args a = {.err = CL_SUCCESS};
    switch (nd->op) {
    case PLMM_OP_GET_ROWS: {
        a.k = ctx->kernels[OK_GET_ROWS];
        a_mem(&a, &r[0]);
        a_u64(&a, s0->nb[1]);
        a_int(&a, (int)s0->dtype);
        a_i64(&a, s0->ne[1]);
        a_mem(&a, &r[1]);
        a_u64(&a, s1->nb[0]);
        a_mem(&a, &rd);
        a_u64(&a, d->nb[1]);
        arg(&a, sizeof(cl_mem), &ctx->err);
        ctx->check_err = true;
        return launch(ctx, &a, 2, (size_t)s0->ne[0], (size_t)s1->ne[0], msg, n);
    }
    case PLMM_OP_RMS_NORM: {
        a.k = ctx->kernels[OK_RMS_NORM];
        a_mem(&a, &r[0]);
        a_ne(&a, s0);
        a_nb(&a, s0);
        const ocl_ref w = s1 != NULL ? r[1] : r[0];
        a_mem(&a, &w);
        a_int(&a, s1 != NULL);
        a_mem(&a, &rd);
        a_nb(&a, d);
        a_f(&a, nd->fp[0]);
        return launch(ctx, &a, 1, (size_t)rows_of(s0), 1, msg, n);
    }
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        a.k = ctx->kernels[OK_BINARY];
        a_mem(&a, &r[0]);
        a_ne(&a, s0);
        a_nb(&a, s0);
        a_mem(&a, &r[1]);
        a_ne(&a, s1);
        a_nb(&a, s1);
        a_mem(&a, &rd);
        a_nb(&a, d);
        a_int(&a, nd->op == PLMM_OP_ADD ? 0 : 1);
        return launch(ctx, &a, 2, (size_t)s0->ne[0], (size_t)rows_of(s0), msg, n);
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
    case PLMM_OP_SWIGLU: {
        a.k = ctx->kernels[OK_UNARY];
        a_mem(&a, &r[0]);
        a_ne(&a, s0);
        a_nb(&a, s0);
        const bool glu = nd->op == PLMM_OP_SWIGLU;
        a_mem(&a, glu ? &r[1] : &r[0]);
        a_nb(&a, glu ? s1 : s0);
        a_mem(&a, &rd);
        a_nb(&a, d);
        a_int(&a, nd->op == PLMM_OP_SILU ? 0 : nd->op == PLMM_OP_SCALE ? 1 : 2);
        a_f(&a, nd->fp[0]);
        return launch(ctx, &a, 2, (size_t)s0->ne[0], (size_t)rows_of(s0), msg, n);
    }
    case PLMM_OP_SOFTMAX: {
        a.k = ctx->kernels[OK_SOFTMAX];
        a_mem(&a, &r[0]);
        a_ne(&a, s0);
        a_nb(&a, s0);
        a_mem(&a, s1 != NULL ? &r[1] : &r[0]);
        a_u64(&a, s1 != NULL ? s1->nb[1] : 0);
        a_int(&a, s1 != NULL);
        a_mem(&a, &rd);
        a_nb(&a, d);
        a_f(&a, nd->fp[0]);
        return launch(ctx, &a, 1, (size_t)rows_of(s0), 1, msg, n);
    }
    case PLMM_OP_ROPE: {
        const int n_rot = nd->ip[0];
        const float freq_base = nd->fp[0], freq_scale = nd->fp[1], ext = nd->fp[2];
        float corr0 = 0.0f, corr1 = 0.0f;
        if (ext != 0.0f) {
            /* the YaRN ramp bounds, computed as the CPU reference does */
            const int n_ctx_orig = nd->ip[2];
            const float lo = floorf((float)n_rot *
                                    logf((float)n_ctx_orig / (nd->fp[4] * 6.28318530717958647692f)) /
                                    (2.0f * logf(freq_base)));
            const float hi = ceilf((float)n_rot *
                                   logf((float)n_ctx_orig / (nd->fp[5] * 6.28318530717958647692f)) /
                                   (2.0f * logf(freq_base)));
            corr0 = fmaxf(0.0f, lo);
            corr1 = fminf((float)(n_rot - 1), hi);
        }
        a.k = ctx->kernels[OK_ROPE];
        a_mem(&a, &r[0]);
        a_u64(&a, s0->nb[1]);
        a_u64(&a, s0->nb[2]);
        a_mem(&a, &r[1]);
        a_u64(&a, s1->nb[0]);
        a_mem(&a, s2 != NULL ? &r[2] : &r[0]);
        a_int(&a, s2 != NULL);
        a_mem(&a, &rd);
        a_u64(&a, d->nb[1]);
        a_u64(&a, d->nb[2]);
        a_int(&a, (int)s0->ne[0]);
        a_int(&a, n_rot);
        a_int(&a, nd->ip[1]);
        a_f(&a, powf(freq_base, -2.0f / (float)n_rot));
        a_f(&a, freq_scale);
        a_f(&a, ext);
        a_f(&a, nd->fp[3]);
        a_f(&a, nd->fp[3] * (1.0f + 0.1f * logf(1.0f / freq_scale)));
        a_f(&a, corr0);
        a_f(&a, corr1);
        return launch(ctx, &a, 2, (size_t)s0->ne[1], (size_t)s0->ne[2], msg, n);
    }
    case PLMM_OP_CPY:
        a.k = ctx->kernels[OK_CPY];
        a_mem(&a, &r[0]);
        a_ne(&a, s0);
        a_nb(&a, s0);
        a_int(&a, (int)s0->dtype);
        a_mem(&a, &rd);
        a_nb(&a, d);
        a_int(&a, (int)d->dtype);
        return launch(ctx, &a, 2, (size_t)s0->ne[0], (size_t)rows_of(s0), msg, n);
    case PLMM_OP_ATTENTION: {
        const int D = (int)s0->ne[0], H = (int)s0->ne[1], T = (int)s0->ne[2];
        const int n_kv = nd->ip[0];
        const size_t per_tok = (size_t)H * (size_t)n_kv * sizeof(float);
        size_t chunk = ATT_SCRATCH_MAX / per_tok;
        if (chunk < 1)
            chunk = 1;
        if (chunk > (size_t)T)
            chunk = (size_t)T;
        TRY(ensure_scratch(ctx, &ctx->sc_att, chunk * per_tok, msg, n));
        a.k = ctx->kernels[OK_ATTENTION];
        for (int t0 = 0; t0 < T; t0 += (int)chunk) {
            const size_t nt = (size_t)(T - t0) < chunk ? (size_t)(T - t0) : chunk;
            a.i = 0;
            a_mem(&a, &r[0]);
            a_u64(&a, s0->nb[1]);
            a_u64(&a, s0->nb[2]);
            a_mem(&a, &r[1]);
            a_u64(&a, s1->nb[1]);
            a_u64(&a, s1->nb[2]);
            a_int(&a, s1->dtype == PLMM_DTYPE_F16);
            a_mem(&a, &r[2]);
            a_u64(&a, s2->nb[1]);
            a_u64(&a, s2->nb[2]);
            a_int(&a, s2->dtype == PLMM_DTYPE_F16);
            a_mem(&a, &rd);
            a_u64(&a, d->nb[1]);
            a_u64(&a, d->nb[2]);
            arg(&a, sizeof(cl_mem), &ctx->sc_att.mem);
            a_int(&a, D);
            a_int(&a, H);
            a_int(&a, (int)(s0->ne[1] / s1->ne[1]));
            a_int(&a, n_kv);
            a_int(&a, nd->ip[1]);
            a_int(&a, nd->ip[2]);
            a_f(&a, nd->fp[0]);
            a_int(&a, t0);
            TRY(launch(ctx, &a, 2, (size_t)H, nt, msg, n));
        }
        return PLMM_OK;
    }
    case PLMM_OP_MUL_MAT: {
        const uint32_t dt = s0->dtype;
        const int64_t K = s1->ne[0], rows = rows_of(s1);
        const bool q8_0 = dt == PLMM_DTYPE_Q8_0 || dt == PLMM_DTYPE_Q4_0;
        const bool q8_k = dt == PLMM_DTYPE_Q4_K || dt == PLMM_DTYPE_Q6_K;
        if (q8_0 || q8_k) {
            const int64_t qk = q8_0 ? 32 : 256;
            TRY(ensure_scratch(ctx, &ctx->sc_qs, (size_t)(rows * K), msg, n));
            TRY(ensure_scratch(ctx, &ctx->sc_ds, (size_t)(rows * (K / qk)) * sizeof(float), msg,
                               n));
            a.k = ctx->kernels[q8_0 ? OK_QUANT_Q8_0 : OK_QUANT_Q8_K];
            a_mem(&a, &r[1]);
            a_ne(&a, s1);
            a_nb(&a, s1);
            arg(&a, sizeof(cl_mem), &ctx->sc_qs.mem);
            arg(&a, sizeof(cl_mem), &ctx->sc_ds.mem);
            TRY(launch(ctx, &a, 2, (size_t)(K / qk), (size_t)rows, msg, n));
        } else if (dt == PLMM_DTYPE_F16 || dt == PLMM_DTYPE_BF16) {
            /* activations rounded once to the weights' precision, as the CPU does */
            TRY(ensure_scratch(ctx, &ctx->sc_qs, 4, msg, n));
            TRY(ensure_scratch(ctx, &ctx->sc_ds, (size_t)(rows * K) * sizeof(float), msg, n));
            a.k = ctx->kernels[OK_ROUND_X];
            a_mem(&a, &r[1]);
            a_ne(&a, s1);
            a_nb(&a, s1);
            arg(&a, sizeof(cl_mem), &ctx->sc_ds.mem);
            a_int(&a, dt == PLMM_DTYPE_BF16);
            TRY(launch(ctx, &a, 2, (size_t)K, (size_t)rows, msg, n));
        } else {
            /* kernel arguments must be valid buffers even where unused */
            TRY(ensure_scratch(ctx, &ctx->sc_qs, 4, msg, n));
            TRY(ensure_scratch(ctx, &ctx->sc_ds, 4, msg, n));
        }
        args m = {.k = ctx->kernels[OK_MUL_MAT], .err = CL_SUCCESS};
        a_mem(&m, &r[0]);
        a_nb(&m, s0);
        a_int(&m, (int)dt);
        a_i64(&m, s1->ne[2] / s0->ne[2]);
        a_i64(&m, s1->ne[3] / s0->ne[3]);
        a_mem(&m, &r[1]);
        a_ne(&m, s1);
        a_nb(&m, s1);
        arg(&m, sizeof(cl_mem), &ctx->sc_qs.mem);
        arg(&m, sizeof(cl_mem), &ctx->sc_ds.mem);
        a_mem(&m, &rd);
        a_nb(&m, d);
        return launch(ctx, &m, 2, (size_t)s0->ne[1], (size_t)rows, msg, n);
    }
    default:
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "op %u not supported", nd->op);
    }
}

plmm_status ocl_graph_run(plmm_backend_ctx *ctx, const plmm_graph *g, char *msg, size_t n)
{
    char m[320];
    plmm_status st = PLMM_OK;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        const plmm_node *nd = &g->nodes[i];
        st = ocl_node_check(ctx, nd, m, sizeof(m));
        if (st == PLMM_OK && nd->op != PLMM_OP_NONE)
            st = run_node(ctx, nd, m, sizeof(m));
        if (st != PLMM_OK) {
            snprintf(msg, n, "node %u (%s): %s", i, plmm_op_name(nd->op), m);
            break;
        }
    }
    /* host inputs uploaded for this graph: OpenCL frees them once the queued kernels are done */
    for (uint32_t i = 0; i < ctx->n_temps; i++)
        clReleaseMemObject(ctx->temps[i]);
    ctx->n_temps = 0;
    return st;
}
