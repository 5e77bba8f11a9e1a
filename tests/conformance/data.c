/*
 * Seeded random test data: a splitmix64 generator, floats in F32/F16/BF16
 * and random but valid quantized blocks in GGUF's exact layouts (the
 * quantized weights are random blocks, not quantized floats: the reference
 * dequantizes whatever the blocks hold).
 */
#include "conformance.h"
#include "plmm_sdk.h"

#include <string.h>

void conf_rng_seed(conf_rng *g, uint64_t seed)
{
    g->s = seed ^ UINT64_C(0x9e3779b97f4a7c15);
}

uint64_t conf_rng_next(conf_rng *g)
{
    uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

float conf_rng_uniform(conf_rng *g, float lo, float hi)
{
    /* 24 random bits: exact floats in [0, 1) */
    float u = (float)(conf_rng_next(g) >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
}

uint64_t conf_hash(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = plmm_fp32_to_fp16(v);
    memcpy(p, &h, sizeof(h));
}

static void random_bytes(conf_rng *g, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(conf_rng_next(g) >> 56);
}

void conf_store_float(uint32_t dtype, void *p, float v)
{
    uint16_t h;
    switch (dtype) {
    case PLMM_DTYPE_F16:
        h = plmm_fp32_to_fp16(v);
        memcpy(p, &h, sizeof(h));
        break;
    case PLMM_DTYPE_BF16:
        h = plmm_fp32_to_bf16(v);
        memcpy(p, &h, sizeof(h));
        break;
    default:
        memcpy(p, &v, sizeof(v));
        break;
    }
}

float conf_load_float(uint32_t dtype, const void *p)
{
    uint16_t h;
    float f;
    switch (dtype) {
    case PLMM_DTYPE_F16:
        memcpy(&h, p, sizeof(h));
        return plmm_fp16_to_fp32(h);
    case PLMM_DTYPE_BF16:
        memcpy(&h, p, sizeof(h));
        return plmm_bf16_to_fp32(h);
    default:
        memcpy(&f, p, sizeof(f));
        return f;
    }
}

/* Blocks whose dequantized values lie roughly in [-scale, scale]. */
static void fill_block(conf_rng *g, uint32_t dtype, uint8_t *b, float scale)
{
    switch (dtype) {
    case PLMM_DTYPE_Q8_0: /* d, qs[32]: w = d * q */
        put_f16(b, scale * conf_rng_uniform(g, 0.5f, 1.0f) / 127.0f);
        random_bytes(g, b + 2, 32);
        break;
    case PLMM_DTYPE_Q4_0: /* d, qs[16]: w = d * (q - 8) */
        put_f16(b, scale * conf_rng_uniform(g, 0.5f, 1.0f) / 8.0f);
        random_bytes(g, b + 2, 16);
        break;
    case PLMM_DTYPE_Q4_K: /* d, dmin, scales[12], qs[128]: w = d*sc*q - dmin*m */
        put_f16(b, scale * conf_rng_uniform(g, 0.5f, 1.0f) / 512.0f);
        put_f16(b + 2, scale * conf_rng_uniform(g, 0.5f, 1.0f) / 64.0f);
        random_bytes(g, b + 4, 12 + 128);
        break;
    case PLMM_DTYPE_Q6_K: /* ql[128], qh[64], scales[16] (int8), d: w = d*sc*(q-32) */
        random_bytes(g, b, 128 + 64 + 16);
        put_f16(b + 208, scale * conf_rng_uniform(g, 0.5f, 1.0f) / 4096.0f);
        break;
    default:
        random_bytes(g, b, plmm_dtype_block_bytes(dtype));
        break;
    }
}

void conf_fill(conf_rng *g, uint32_t dtype, void *dst, int64_t n, float scale)
{
    uint8_t *p = dst;
    switch (dtype) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_BF16: {
        const size_t es = plmm_dtype_block_bytes(dtype);
        for (int64_t i = 0; i < n; i++)
            conf_store_float(dtype, p + (size_t)i * es, conf_rng_uniform(g, -scale, scale));
        break;
    }
    case PLMM_DTYPE_I32: {
        for (int64_t i = 0; i < n; i++) {
            int32_t v = (int32_t)(conf_rng_next(g) % 1024);
            memcpy(p + (size_t)i * 4, &v, 4);
        }
        break;
    }
    default: {
        const uint32_t be = plmm_dtype_block_elems(dtype), bb = plmm_dtype_block_bytes(dtype);
        if (be == 0)
            return;
        for (int64_t i = 0; i < n / be; i++)
            fill_block(g, dtype, p + (size_t)i * bb, scale);
        break;
    }
    }
}
