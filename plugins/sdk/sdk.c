#include "plmm_sdk.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- half and bfloat16 ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

float plmm_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf / nan */
        return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return bits_f32(sign);
        /* subnormal: value = mant * 2^-24 */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t plmm_fp32_to_fp16(float f)
{
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (keep a quiet nan) */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0));
    if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        /* round(x * 2^24) with ties to even, done in float arithmetic */
        float a = bits_f32(abs) * 0x1p24f;
        float r = nearbyintf(a);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t mant = abs & 0x7fffffu;
    uint32_t exp = (abs >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++; /* carries into the exponent correctly */
    return (uint16_t)(sign | h);
}

float plmm_bf16_to_fp32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t plmm_fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ---- host helpers ---- */

plmm_status plmm_sdk_error(const plmm_host_api *host, plmm_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (host != NULL && host->set_error != NULL)
        host->set_error(host->host_ctx, msg);
    return status;
}

void plmm_sdk_log(const plmm_host_api *host, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (host == NULL || host->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    host->log(host->host_ctx, level, msg);
}

const plmm_option_value *plmm_sdk_option(const plmm_option_value *opts, uint32_t n,
                                         const char *key)
{
    for (uint32_t i = 0; opts != NULL && i < n; i++)
        if (opts[i].key != NULL && strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

/* ---- tensors ---- */

int64_t plmm_tensor_nelements(const plmm_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

bool plmm_tensor_set_dense_strides(plmm_tensor *t)
{
    uint64_t row = plmm_dtype_row_bytes(t->dtype, t->ne[0]);
    if (row == 0 && t->ne[0] != 0)
        return false;
    t->nb[0] = plmm_dtype_block_bytes(t->dtype);
    t->nb[1] = row;
    t->nb[2] = t->nb[1] * (uint64_t)t->ne[1];
    t->nb[3] = t->nb[2] * (uint64_t)t->ne[2];
    return true;
}

bool plmm_tensor_is_contiguous(const plmm_tensor *t)
{
    plmm_tensor d = *t;
    if (!plmm_tensor_set_dense_strides(&d))
        return false;
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (t->ne[i] > 1 && t->nb[i] != d.nb[i])
            return false;
    return t->nb[0] == d.nb[0];
}

uint64_t plmm_tensor_nbytes(const plmm_tensor *t)
{
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return 0;
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (t->ne[i] <= 0)
            return 0;
    uint64_t n = (uint64_t)(t->ne[0] / be) * t->nb[0];
    for (int i = 1; i < PLMM_MAX_DIMS; i++)
        n += (uint64_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

const char *plmm_dtype_name(uint32_t dtype)
{
    switch (dtype) {
    case PLMM_DTYPE_F32: return "F32";
    case PLMM_DTYPE_F16: return "F16";
    case PLMM_DTYPE_Q4_0: return "Q4_0";
    case PLMM_DTYPE_Q4_1: return "Q4_1";
    case PLMM_DTYPE_Q5_0: return "Q5_0";
    case PLMM_DTYPE_Q5_1: return "Q5_1";
    case PLMM_DTYPE_Q8_0: return "Q8_0";
    case PLMM_DTYPE_Q8_1: return "Q8_1";
    case PLMM_DTYPE_Q2_K: return "Q2_K";
    case PLMM_DTYPE_Q3_K: return "Q3_K";
    case PLMM_DTYPE_Q4_K: return "Q4_K";
    case PLMM_DTYPE_Q5_K: return "Q5_K";
    case PLMM_DTYPE_Q6_K: return "Q6_K";
    case PLMM_DTYPE_Q8_K: return "Q8_K";
    case PLMM_DTYPE_I8: return "I8";
    case PLMM_DTYPE_I16: return "I16";
    case PLMM_DTYPE_I32: return "I32";
    case PLMM_DTYPE_I64: return "I64";
    case PLMM_DTYPE_F64: return "F64";
    case PLMM_DTYPE_BF16: return "BF16";
    default: return "?";
    }
}

const char *plmm_op_name(uint32_t op)
{
    static const char *const names[PLMM_OP_COUNT] = {
        [PLMM_OP_NONE] = "NONE",         [PLMM_OP_GET_ROWS] = "GET_ROWS",
        [PLMM_OP_RMS_NORM] = "RMS_NORM", [PLMM_OP_ADD] = "ADD",
        [PLMM_OP_MUL] = "MUL",           [PLMM_OP_MUL_MAT] = "MUL_MAT",
        [PLMM_OP_ROPE] = "ROPE",         [PLMM_OP_SOFTMAX] = "SOFTMAX",
        [PLMM_OP_ATTENTION] = "ATTENTION", [PLMM_OP_SILU] = "SILU",
        [PLMM_OP_SWIGLU] = "SWIGLU",     [PLMM_OP_CPY] = "CPY",
        [PLMM_OP_SCALE] = "SCALE",
    };
    return op < PLMM_OP_COUNT ? names[op] : "?";
}
