/*
 * GGUF quantization block layouts used by the CPU backend, bit-exact with
 * the files the ecosystem writes, plus scalar half/bfloat16 helpers.
 *
 * Weights: Q8_0, Q4_0 (32 elements per block), Q4_K, Q6_K (256 per
 * super-block). Activations for the integer dot products are quantized to
 * Q8_0 (for Q8_0/Q4_0 weights) or Q8_K (for Q4_K/Q6_K weights).
 */
#ifndef PLMM_CPU_BLOCKS_H
#define PLMM_CPU_BLOCKS_H

#include "plmm/types.h"

#include <stdint.h>
#include <string.h>

#define QK8_0 32
#define QK4_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* value = d * qs[i] */
typedef struct block_q8_0 {
    uint16_t d; /* f16 scale */
    int8_t qs[QK8_0];
} block_q8_0;

/* value i (i < 16) = d * ((qs[i] & 15) - 8), value i + 16 = d * ((qs[i] >> 4) - 8) */
typedef struct block_q4_0 {
    uint16_t d; /* f16 scale */
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

/*
 * 8 sub-blocks of 32; sub-block j has a 6-bit scale sc_j and min m_j packed
 * in scales[12]; value = d * sc_j * q - dmin * m_j with q a 4-bit quant.
 * Each 32-byte group of qs holds two sub-blocks: low nibbles the first,
 * high nibbles the second.
 */
typedef struct block_q4_K {
    uint16_t d;    /* f16 super-block scale for the scales */
    uint16_t dmin; /* f16 super-block scale for the mins */
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/*
 * 16 sub-blocks of 16 with int8 scales; a 6-bit quant is 4 low bits in ql
 * and 2 high bits in qh; value = d * scales[j] * (q - 32).
 */
typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d; /* f16 super-block scale */
} block_q6_K;

/* Activation block for the K-quants: value = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15]. */
typedef struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

_Static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_K) == 2 + 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K layout");
_Static_assert(sizeof(block_q6_K) == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 4 + QK_K + 2 * QK_K / 16, "block_q8_K layout");

/* ---- scalar half / bfloat16 (round to nearest even) ---- */

static inline float cpu_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t u;
    float f;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    } else {
        u = sign | ((exp + 112) << 23) | (mant << 13);
    }
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint16_t cpu_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf, nan (stays a quiet nan) */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    if (a >= 0x477ff000u) /* rounds to 65520 or more */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* result is subnormal or zero: add 0.5 so the FPU's round to
         * nearest even does the rounding at bit 2^-24 */
        float v;
        memcpy(&v, &a, sizeof(v));
        v += 0.5f;
        uint32_t vb;
        memcpy(&vb, &v, sizeof(vb));
        return (uint16_t)(sign | (vb - 0x3f000000u));
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xfffu + mant_odd; /* round to nearest even at bit 13 */
    return (uint16_t)(sign | ((a - 0x38000000u) >> 13));
}

static inline float cpu_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint16_t cpu_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: keep it quiet */
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* Round a float through f16 / bf16 precision (the vec-dot format of F16 / BF16 weights). */
static inline float cpu_round_f16(float f)
{
    return cpu_f16_to_f32(cpu_f32_to_f16(f));
}

static inline float cpu_round_bf16(float f)
{
    return cpu_bf16_to_f32(cpu_f32_to_bf16(f));
}

/* Unpack the 6-bit scale and min of sub-block j (0..7) of a Q4_K block. */
static inline void cpu_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif /* PLMM_CPU_BLOCKS_H */
