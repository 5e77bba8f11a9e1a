/*
 * Graph execution of the Vulkan backend: node validation against the op
 * contracts of backend.h, one parameter record per node (tensor device
 * addresses, shapes, strides, params) in a host-visible buffer, and one
 * command buffer with a dispatch per node, re-recorded only when the
 * sequence of pipelines and grid sizes changes (decode steps reuse it).
 */
#include "vk_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- embedded SPIR-V ---- */

static const uint32_t spv_get_rows_f32[] =
#include "get_rows_f32.spv.h"
    ;
static const uint32_t spv_get_rows_f16[] =
#include "get_rows_f16.spv.h"
    ;
static const uint32_t spv_get_rows_q4_0[] =
#include "get_rows_q4_0.spv.h"
    ;
static const uint32_t spv_get_rows_q8_0[] =
#include "get_rows_q8_0.spv.h"
    ;
static const uint32_t spv_get_rows_q4_k[] =
#include "get_rows_q4_k.spv.h"
    ;
static const uint32_t spv_get_rows_q6_k[] =
#include "get_rows_q6_k.spv.h"
    ;
static const uint32_t spv_mul_mat_f32[] =
#include "mul_mat_f32.spv.h"
    ;
static const uint32_t spv_mul_mat_f16[] =
#include "mul_mat_f16.spv.h"
    ;
static const uint32_t spv_mul_mat_q4_0[] =
#include "mul_mat_q4_0.spv.h"
    ;
static const uint32_t spv_mul_mat_q8_0[] =
#include "mul_mat_q8_0.spv.h"
    ;
static const uint32_t spv_mul_mat_q4_k[] =
#include "mul_mat_q4_k.spv.h"
    ;
static const uint32_t spv_mul_mat_q6_k[] =
#include "mul_mat_q6_k.spv.h"
    ;
static const uint32_t spv_rms_norm[] =
#include "rms_norm.spv.h"
    ;
static const uint32_t spv_add[] =
#include "add.spv.h"
    ;
static const uint32_t spv_mul[] =
#include "mul.spv.h"
    ;
static const uint32_t spv_rope[] =
#include "rope.spv.h"
    ;
static const uint32_t spv_softmax[] =
#include "softmax.spv.h"
    ;
static const uint32_t spv_attention[] =
#include "attention.spv.h"
    ;
static const uint32_t spv_silu[] =
#include "silu.spv.h"
    ;
static const uint32_t spv_swiglu[] =
#include "swiglu.spv.h"
    ;
static const uint32_t spv_scale[] =
#include "scale.spv.h"
    ;
static const uint32_t spv_cpy[] =
#include "cpy.spv.h"
    ;

#define SPV(x) {x, sizeof(x)}
static const struct {
    const uint32_t *code;
    size_t size;
} spv[VKP_COUNT] = {
    [VKP_GET_ROWS_F32] = SPV(spv_get_rows_f32), [VKP_GET_ROWS_F16] = SPV(spv_get_rows_f16),
    [VKP_GET_ROWS_Q4_0] = SPV(spv_get_rows_q4_0), [VKP_GET_ROWS_Q8_0] = SPV(spv_get_rows_q8_0),
    [VKP_GET_ROWS_Q4_K] = SPV(spv_get_rows_q4_k), [VKP_GET_ROWS_Q6_K] = SPV(spv_get_rows_q6_k),
    [VKP_MUL_MAT_F32] = SPV(spv_mul_mat_f32),     [VKP_MUL_MAT_F16] = SPV(spv_mul_mat_f16),
    [VKP_MUL_MAT_Q4_0] = SPV(spv_mul_mat_q4_0),   [VKP_MUL_MAT_Q8_0] = SPV(spv_mul_mat_q8_0),
    [VKP_MUL_MAT_Q4_K] = SPV(spv_mul_mat_q4_k),   [VKP_MUL_MAT_Q6_K] = SPV(spv_mul_mat_q6_k),
    [VKP_RMS_NORM] = SPV(spv_rms_norm),           [VKP_ADD] = SPV(spv_add),
    [VKP_MUL] = SPV(spv_mul),                     [VKP_ROPE] = SPV(spv_rope),
    [VKP_SOFTMAX] = SPV(spv_softmax),             [VKP_ATTENTION] = SPV(spv_attention),
    [VKP_SILU] = SPV(spv_silu),                   [VKP_SWIGLU] = SPV(spv_swiglu),
    [VKP_SCALE] = SPV(spv_scale),                 [VKP_CPY] = SPV(spv_cpy),
};

#define MAX_GROUPS 65535u
#define MT 8u          /* activation rows per MUL_MAT workgroup (mul_mat.comp) */
#define ATT_MAX_D 256  /* head size limit of attention.comp */
#define MAX_NE (INT64_C(1) << 31)

/* ---- pipelines (created on first use, kept until shutdown) ---- */

plmm_status vk_pipelines_create(plmm_backend_ctx *ctx)
{
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = 8};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pcr};
    return vk_check(ctx, vkCreatePipelineLayout(ctx->device, &li, NULL, &ctx->layout),
                    "vkCreatePipelineLayout");
}

void vk_pipelines_destroy(plmm_backend_ctx *ctx)
{
    for (int i = 0; i < VKP_COUNT; i++) {
        if (ctx->pipes[i] != VK_NULL_HANDLE)
            vkDestroyPipeline(ctx->device, ctx->pipes[i], NULL);
        if (ctx->modules[i] != VK_NULL_HANDLE)
            vkDestroyShaderModule(ctx->device, ctx->modules[i], NULL);
        ctx->pipes[i] = VK_NULL_HANDLE;
        ctx->modules[i] = VK_NULL_HANDLE;
    }
    if (ctx->layout != VK_NULL_HANDLE)
        vkDestroyPipelineLayout(ctx->device, ctx->layout, NULL);
    ctx->layout = VK_NULL_HANDLE;
}

static plmm_status get_pipeline(plmm_backend_ctx *ctx, uint32_t id)
{
    if (ctx->pipes[id] != VK_NULL_HANDLE)
        return PLMM_OK;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = spv[id].size,
                                   .pCode = spv[id].code};
    VkResult r;
    if (ctx->modules[id] == VK_NULL_HANDLE &&
        (r = vkCreateShaderModule(ctx->device, &mi, NULL, &ctx->modules[id])) != VK_SUCCESS) {
        ctx->modules[id] = VK_NULL_HANDLE;
        return vk_check(ctx, r, "vkCreateShaderModule");
    }
    VkComputePipelineCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = ctx->modules[id],
                  .pName = "main"},
        .layout = ctx->layout};
    r = vkCreateComputePipelines(ctx->device, VK_NULL_HANDLE, 1, &pi, NULL, &ctx->pipes[id]);
    if (r != VK_SUCCESS) {
        ctx->pipes[id] = VK_NULL_HANDLE;
        return vk_check(ctx, r, "vkCreateComputePipelines");
    }
    return PLMM_OK;
}

/* ---- node validation ---- */

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

/* Bytes spanned by t, false on overflow or when over 4 GiB (32-bit shader offsets). */
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
    return span < (UINT64_C(1) << 32);
}

static uint64_t dtype_align(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_I32:
        return 4;
    default:
        return 2; /* F16, BF16 and every block (all start with or hold 16-bit fields) */
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
    int64_t total = 1;
    for (int i = 0; i < PLMM_MAX_DIMS; i++) {
        if (t->ne[i] < 1 || t->ne[i] >= MAX_NE)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[%d]=%lld out of range", what, i,
                        (long long)t->ne[i]);
        total *= t->ne[i];
        if (total >= MAX_NE)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s has more than 2^31 elements", what);
    }
    if (t->ne[0] % be != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[0]=%lld is not a multiple of %u (%s)",
                    what, (long long)t->ne[0], be, plmm_dtype_name(t->dtype));
    if (!any_nb0 && t->nb[0] != plmm_dtype_block_bytes(t->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s nb[0]=%llu: rows must be contiguous", what,
                    (unsigned long long)t->nb[0]);
    uint64_t a = dtype_align(t->dtype);
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (t->ne[i] > 1 && t->nb[i] % a != 0)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s nb[%d] is not a multiple of %llu", what,
                        i, (unsigned long long)a);
    uint64_t span;
    if (!tensor_span(t, &span))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s spans 4 GiB or more or its strides overflow",
                    what);
    return PLMM_OK;
}

static plmm_status want(const plmm_tensor *t, const char *what, uint32_t dtype, char *msg, size_t n)
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

static bool weight_type_ok(uint32_t t)
{
    return t == PLMM_DTYPE_F32 || t == PLMM_DTYPE_F16 || t == PLMM_DTYPE_Q8_0 ||
           t == PLMM_DTYPE_Q4_0 || t == PLMM_DTYPE_Q4_K || t == PLMM_DTYPE_Q6_K;
}

static bool is_vec(const plmm_tensor *t, int64_t n0)
{
    return t->ne[0] == n0 && t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
}

static plmm_status check_node(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *d = nd->dst, *s0 = nd->src[0], *s1 = nd->src[1], *s2 = nd->src[2];
    plmm_status st;
#define TRY(x)                    \
    if ((st = (x)) != PLMM_OK)    \
    return st
    switch (nd->op) {
    case PLMM_OP_GET_ROWS:
        TRY(check_tensor(s0, "src0", false, msg, n));
        if (!weight_type_ok(s0->dtype))
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "src0 dtype %s not supported",
                        plmm_dtype_name(s0->dtype));
        TRY(check_tensor(s1, "src1", false, msg, n));
        TRY(want(s1, "src1", PLMM_DTYPE_I32, msg, n));
        TRY(f32(d, "dst", msg, n));
        if (s0->ne[2] != 1 || s0->ne[3] != 1 || !is_vec(s1, s1->ne[0]) || d->ne[0] != s0->ne[0] ||
            d->ne[1] != s1->ne[0] || d->ne[2] != 1 || d->ne[3] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "GET_ROWS shapes do not match");
        return PLMM_OK;
    case PLMM_OP_RMS_NORM:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        if (s1 != NULL) {
            TRY(f32(s1, "src1", msg, n));
            if (!is_vec(s1, s0->ne[0]))
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
        if (s1->ne[2] * s1->ne[3] > MAX_GROUPS || s0->ne[1] > 64 * (int64_t)MAX_GROUPS ||
            (s1->ne[1] + MT - 1) / MT > MAX_GROUPS)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "MUL_MAT batch too large");
        return PLMM_OK;
    case PLMM_OP_ROPE:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        TRY(check_tensor(s1, "src1", false, msg, n));
        TRY(want(s1, "src1", PLMM_DTYPE_I32, msg, n));
        if (s0->ne[3] != 1 || !is_vec(s1, s0->ne[2]))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "ROPE shapes do not match");
        if (nd->ip[0] <= 0 || nd->ip[0] % 2 != 0 || nd->ip[0] > s0->ne[0])
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "n_rot %d invalid", (int)nd->ip[0]);
        if (nd->ip[1] != 0 && nd->ip[1] != 2)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "rope mode %d", (int)nd->ip[1]);
        if (s2 != NULL) {
            TRY(f32(s2, "src2", msg, n));
            if (s2->ne[0] < nd->ip[0] / 2 || s2->ne[1] != 1 || s2->ne[2] != 1 || s2->ne[3] != 1)
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "src2 must hold n_rot/2 factors");
        }
        for (int i = 0; i < 6; i++)
            if (!isfinite(nd->fp[i]))
                return fail(msg, n, PLMM_ERR_INVALID_ARG, "fp[%d] is not finite", i);
        if (nd->fp[0] <= 0.0f || nd->fp[1] <= 0.0f)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "freq_base and freq_scale must be > 0");
        if (nd->fp[2] != 0.0f && (nd->ip[2] <= 0 || nd->fp[4] <= 0.0f || nd->fp[5] <= 0.0f))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "YaRN parameters invalid");
        return PLMM_OK;
    case PLMM_OP_SOFTMAX:
        TRY(f32(s0, "src0", msg, n));
        TRY(f32(d, "dst", msg, n));
        TRY(same(s0, d, "dst", msg, n));
        if (s1 != NULL) {
            TRY(f32(s1, "src1", msg, n));
            if (s1->ne[0] != s0->ne[0] || s1->ne[1] < s0->ne[1] || s1->ne[2] != 1 || s1->ne[3] != 1)
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
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "K/V caches must be F32 or F16");
        if (s0->ne[3] != 1 || s1->ne[0] != s0->ne[0] || s2->ne[0] != s0->ne[0] ||
            s1->ne[1] != s2->ne[1] || s1->ne[2] != s2->ne[2] || s1->ne[3] != 1 || s2->ne[3] != 1 ||
            s0->ne[1] % s1->ne[1] != 0)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "ATTENTION shapes do not match");
        if (s0->ne[0] > ATT_MAX_D)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED, "head size %lld > %d",
                        (long long)s0->ne[0], ATT_MAX_D);
        if (nd->ip[0] < 1 || nd->ip[0] > s1->ne[2])
            return fail(msg, n, PLMM_ERR_RANGE, "n_kv %d outside [1, %lld]", (int)nd->ip[0],
                        (long long)s1->ne[2]);
        if (nd->ip[1] < 0)
            return fail(msg, n, PLMM_ERR_RANGE, "pos0 %d is negative", (int)nd->ip[1]);
        if (nd->ip[2] != 0 && nd->ip[2] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "causal flag %d", (int)nd->ip[2]);
        if (!isfinite(nd->fp[0]))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "scale is not finite");
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
    case PLMM_OP_CPY:
        TRY(check_tensor(s0, "src0", true, msg, n));
        TRY(check_tensor(d, "dst", true, msg, n));
        for (int i = 0; i < 2; i++) {
            uint32_t t = i == 0 ? s0->dtype : d->dtype;
            if (t != PLMM_DTYPE_F32 && t != PLMM_DTYPE_F16 && t != PLMM_DTYPE_BF16)
                return fail(msg, n, PLMM_ERR_UNSUPPORTED, "copy %s -> %s not supported",
                            plmm_dtype_name(s0->dtype), plmm_dtype_name(d->dtype));
        }
        return same(s0, d, "dst", msg, n);
    default:
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "op %u not supported", nd->op);
    }
#undef TRY
}

plmm_status vk_node_check(const plmm_node *nd, char *msg, size_t n)
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
    return check_node(nd, msg, n);
}

bool vk_supports_node(plmm_backend_ctx *ctx, const plmm_node *node)
{
    char msg[256];
    (void)ctx;
    return vk_node_check(node, msg, sizeof(msg)) == PLMM_OK;
}

/* ---- parameter records ---- */

static uint32_t pipe_of(const plmm_node *nd)
{
    static const uint32_t by_wtype[6] = {0, 1, 2, 3, 4, 5};
    uint32_t w = 0;
    if (nd->op == PLMM_OP_GET_ROWS || nd->op == PLMM_OP_MUL_MAT) {
        switch (nd->src[0]->dtype) {
        case PLMM_DTYPE_F32: w = by_wtype[0]; break;
        case PLMM_DTYPE_F16: w = by_wtype[1]; break;
        case PLMM_DTYPE_Q4_0: w = by_wtype[2]; break;
        case PLMM_DTYPE_Q8_0: w = by_wtype[3]; break;
        case PLMM_DTYPE_Q4_K: w = by_wtype[4]; break;
        default: w = by_wtype[5]; break;
        }
    }
    switch (nd->op) {
    case PLMM_OP_GET_ROWS: return VKP_GET_ROWS_F32 + w;
    case PLMM_OP_MUL_MAT: return VKP_MUL_MAT_F32 + w;
    case PLMM_OP_RMS_NORM: return VKP_RMS_NORM;
    case PLMM_OP_ADD: return VKP_ADD;
    case PLMM_OP_MUL: return VKP_MUL;
    case PLMM_OP_ROPE: return VKP_ROPE;
    case PLMM_OP_SOFTMAX: return VKP_SOFTMAX;
    case PLMM_OP_ATTENTION: return VKP_ATTENTION;
    case PLMM_OP_SILU: return VKP_SILU;
    case PLMM_OP_SWIGLU: return VKP_SWIGLU;
    case PLMM_OP_SCALE: return VKP_SCALE;
    default: return VKP_CPY;
    }
}

static uint64_t n_rows(const plmm_tensor *t)
{
    return (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
}

static void grid_1d(uint64_t groups, vk_dispatch *d)
{
    if (groups == 0)
        groups = 1;
    d->gx = (uint32_t)(groups < MAX_GROUPS ? groups : MAX_GROUPS);
    d->gy = (uint32_t)((groups + d->gx - 1) / d->gx);
    d->gz = 1;
}

static void node_grid(const plmm_node *nd, vk_dispatch *d, uint32_t *mtiles)
{
    const plmm_tensor *s0 = nd->src[0];
    switch (nd->op) {
    case PLMM_OP_GET_ROWS:
        grid_1d((uint64_t)nd->src[1]->ne[0], d);
        break;
    case PLMM_OP_MUL_MAT: {
        const plmm_tensor *x = nd->src[1];
        const uint64_t N = (uint64_t)s0->ne[1];
        *mtiles = (uint32_t)(((uint64_t)x->ne[1] + MT - 1) / MT);
        d->gx = (uint32_t)((N + 63) / 64);
        d->gy = *mtiles;
        d->gz = (uint32_t)(x->ne[2] * x->ne[3]);
        break;
    }
    case PLMM_OP_RMS_NORM:
    case PLMM_OP_SOFTMAX:
        grid_1d(n_rows(s0), d);
        break;
    case PLMM_OP_ATTENTION:
        grid_1d((uint64_t)s0->ne[1] * (uint64_t)s0->ne[2], d);
        break;
    default: /* one invocation per element, 256 per workgroup */
        grid_1d(((uint64_t)s0->ne[0] * n_rows(s0) + 255) / 256, d);
        break;
    }
}

/* Device address (4-aligned) and byte offset of a tensor's element 0. */
typedef struct vk_ref {
    VkDeviceAddress addr;
    uint32_t bo;
} vk_ref;

static plmm_status resolve(plmm_backend_ctx *ctx, const plmm_tensor *t, bool is_dst,
                           uint64_t *upload_used, bool fill, vk_ref *out, char *msg, size_t n)
{
    const char *name = t->name != NULL ? t->name : "?";
    uint64_t span;
    if (!tensor_span(t, &span))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' has a bad shape", name);
    const uint64_t a = dtype_align(t->dtype);
    if (t->buffer == NULL) {
        if (t->data == NULL)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' has no buffer and no data", name);
        if (is_dst)
            return fail(msg, n, PLMM_ERR_UNSUPPORTED,
                        "tensor '%s' is written but lives in host memory", name);
        if ((uintptr_t)t->data % a != 0)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' is not aligned", name);
        /* host input: copied into the upload buffer, keeping its alignment mod 4 */
        const uint32_t bo = (uint32_t)((uintptr_t)t->data & 3u);
        const uint64_t at = (*upload_used + 255) / 256 * 256;
        *upload_used = at + bo + span;
        if (fill) {
            memcpy((char *)ctx->upload.map + at + bo, (const char *)t->data, (size_t)span);
            out->addr = ctx->upload.addr + at;
            out->bo = bo;
        }
        return PLMM_OK;
    }
    const plmm_buffer *b = t->buffer;
    if (!vk_our_buffer(ctx, b))
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "tensor '%s' lives in a buffer of another backend or context", name);
    if (t->offset > b->m.size || span > b->m.size - t->offset)
        return fail(msg, n, PLMM_ERR_RANGE, "tensor '%s' at offset %llu overruns its buffer", name,
                    (unsigned long long)t->offset);
    if (t->offset % a != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "tensor '%s' offset is not aligned to %llu",
                    name, (unsigned long long)a);
    out->addr = b->m.addr + (t->offset & ~(uint64_t)3);
    out->bo = (uint32_t)(t->offset & 3u);
    return PLMM_OK;
}

static void put_tensor(uint32_t *rec, uint32_t slot, const plmm_tensor *t, const vk_ref *r)
{
    uint32_t *w = rec + slot * REC_T;
    if (t == NULL)
        return;
    w[0] = (uint32_t)r->addr;
    w[1] = (uint32_t)(r->addr >> 32);
    w[2] = r->bo;
    w[3] = t->dtype;
    for (int i = 0; i < 4; i++) {
        w[4 + i] = (uint32_t)t->ne[i];
        w[8 + i] = (uint32_t)t->nb[i];
    }
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float yarn_corr_dim(int n_rot, int n_ctx_orig, float beta, float base)
{
    return (float)n_rot * logf((float)n_ctx_orig / (beta * 6.28318530717958647692f)) /
           (2.0f * logf(base));
}

static void put_extra(uint32_t *rec, const plmm_node *nd, uint32_t mtiles)
{
    uint32_t *x = rec + REC_XP;
    if (nd->op == PLMM_OP_MUL_MAT) {
        x[0] = mtiles;
    } else if (nd->op == PLMM_OP_ROPE) {
        const int n_rot = nd->ip[0];
        const float base = nd->fp[0], fscale = nd->fp[1], ext = nd->fp[2];
        float mscale = nd->fp[3], c0 = 0.0f, c1 = 0.0f;
        if (ext != 0.0f) {
            c0 = fmaxf(0.0f, floorf(yarn_corr_dim(n_rot, nd->ip[2], nd->fp[4], base)));
            c1 = fminf((float)(n_rot - 1), ceilf(yarn_corr_dim(n_rot, nd->ip[2], nd->fp[5], base)));
            mscale *= 1.0f + 0.1f * logf(1.0f / fscale);
        }
        x[0] = fbits(powf(base, -2.0f / (float)n_rot));
        x[1] = fbits(c0);
        x[2] = fbits(c1);
        x[3] = fbits(mscale);
    }
}

/* Grow a host-visible buffer to at least size bytes (no work may be pending). */
static plmm_status ensure_host_buffer(plmm_backend_ctx *ctx, vk_mem *m, uint64_t size)
{
    if (m->buf != VK_NULL_HANDLE && m->size >= size)
        return PLMM_OK;
    uint64_t want = size < 65536 ? 65536 : size + size / 2;
    vk_mem_destroy(ctx, m);
    return vk_mem_create(ctx, want, true, m);
}

static plmm_status record(plmm_backend_ctx *ctx, uint32_t n)
{
    VkResult r = vkResetCommandBuffer(ctx->cmd, 0);
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if ((r = vkBeginCommandBuffer(ctx->cmd, &bi)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkBeginCommandBuffer");
    VkMemoryBarrier in = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &in, 0, NULL, 0, NULL);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    for (uint32_t i = 0; i < n; i++) {
        const vk_dispatch *d = &ctx->rec[i];
        if (d->pipe == UINT32_MAX)
            continue;
        VkDeviceAddress a = ctx->params.addr + (VkDeviceAddress)i * REC_BYTES;
        uint32_t pc[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
        vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipes[d->pipe]);
        vkCmdPushConstants(ctx->cmd, ctx->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(pc), pc);
        vkCmdDispatch(ctx->cmd, d->gx, d->gy, d->gz);
        vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                             VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    }
    VkMemoryBarrier out = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &out, 0,
                         NULL, 0, NULL);
    if ((r = vkEndCommandBuffer(ctx->cmd)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkEndCommandBuffer");
    return PLMM_OK;
}

static const char *const slot_names[4] = {"dst", "src0", "src1", "src2"};

plmm_status vk_graph_compute(plmm_backend_ctx *ctx, const plmm_graph *graph)
{
    if (graph == NULL || graph->struct_size < sizeof(plmm_graph))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "graph is NULL or too old");
    if (graph->n_nodes == 0)
        return PLMM_OK;
    if (graph->nodes == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "graph has %u nodes but nodes is NULL", graph->n_nodes);
    const uint32_t n = graph->n_nodes;
    char msg[320];
    plmm_status st;
    /* 1. validate every node and size the host-input uploads */
    uint64_t upload_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        const plmm_node *nd = &graph->nodes[i];
        if ((st = vk_node_check(nd, msg, sizeof(msg))) != PLMM_OK)
            return plmm_sdk_error(ctx->host, st, "node %u (%s): %s", i, plmm_op_name(nd->op), msg);
        if (nd->op == PLMM_OP_NONE)
            continue;
        for (int k = 0; k < 4; k++) {
            const plmm_tensor *t = k == 0 ? nd->dst : nd->src[k - 1];
            vk_ref ref;
            if (t != NULL && (st = resolve(ctx, t, k == 0, &upload_bytes, false, &ref, msg,
                                           sizeof(msg))) != PLMM_OK)
                return plmm_sdk_error(ctx->host, st, "node %u (%s) %s: %s", i,
                                      plmm_op_name(nd->op), slot_names[k], msg);
        }
        if ((st = get_pipeline(ctx, pipe_of(nd))) != PLMM_OK)
            return st;
    }
    /* 2. the previous graph must be done before its records are rewritten */
    if ((st = vk_wait_compute(ctx)) != PLMM_OK)
        return st;
    VkDeviceAddress old_params = ctx->params.addr;
    if ((st = ensure_host_buffer(ctx, &ctx->params, (uint64_t)n * REC_BYTES)) != PLMM_OK)
        return st;
    if (upload_bytes > 0 && (st = ensure_host_buffer(ctx, &ctx->upload, upload_bytes)) != PLMM_OK)
        return st;
    if (n > ctx->cap_rec) {
        vk_dispatch *nr = vk_host_alloc(ctx, sizeof(*nr) * n);
        if (nr == NULL)
            return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate %u dispatches", n);
        if (ctx->rec != NULL)
            memcpy(nr, ctx->rec, sizeof(*nr) * ctx->n_rec);
        vk_host_free(ctx, ctx->rec);
        ctx->rec = nr;
        ctx->cap_rec = n;
    }
    /* 3. records and the dispatch list */
    bool same_recording = ctx->recorded && ctx->n_rec == n && ctx->params.addr == old_params &&
                          ctx->rec_params == ctx->params.addr;
    uint64_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const plmm_node *nd = &graph->nodes[i];
        uint32_t *rec = (uint32_t *)ctx->params.map + (size_t)i * REC_WORDS;
        vk_dispatch d = {.pipe = UINT32_MAX};
        memset(rec, 0, REC_BYTES);
        if (nd->op != PLMM_OP_NONE) {
            for (int k = 0; k < 4; k++) {
                const plmm_tensor *t = k == 0 ? nd->dst : nd->src[k - 1];
                vk_ref ref = {0, 0};
                if (t == NULL)
                    continue;
                if ((st = resolve(ctx, t, k == 0, &used, true, &ref, msg, sizeof(msg))) != PLMM_OK)
                    return plmm_sdk_error(ctx->host, st, "node %u: %s", i, msg);
                put_tensor(rec, (uint32_t)k, t, &ref);
            }
            memcpy(rec + REC_IP, nd->ip, sizeof(nd->ip));
            memcpy(rec + REC_FP, nd->fp, sizeof(nd->fp));
            uint32_t mtiles = 0;
            d.pipe = pipe_of(nd);
            node_grid(nd, &d, &mtiles);
            put_extra(rec, nd, mtiles);
            rec[REC_STATUS] = (uint32_t)ctx->status.addr;
            rec[REC_STATUS + 1] = (uint32_t)(ctx->status.addr >> 32);
        }
        if (same_recording && memcmp(&ctx->rec[i], &d, sizeof(d)) != 0)
            same_recording = false;
        ctx->rec[i] = d;
    }
    ctx->n_rec = n;
    /* 4. record (unless the previous recording fits) and submit */
    if (!same_recording) {
        ctx->recorded = false;
        if ((st = record(ctx, n)) != PLMM_OK)
            return st;
        ctx->recorded = true;
        ctx->rec_params = ctx->params.addr;
    }
    VkResult r = vkResetFences(ctx->device, 1, &ctx->fence);
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkResetFences");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &ctx->cmd};
    if ((r = vkQueueSubmit(ctx->queue, 1, &si, ctx->fence)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkQueueSubmit");
    ctx->pending = true;
    return PLMM_OK;
}
