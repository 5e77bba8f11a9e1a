/*
 * Compile-time weight conversion: GGUF rows (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; layouts as GGUF defines them) are
 * dequantized to f32 and requantized to symmetric int8 with one scale per
 * output channel, stored as a fixed-point multiplier.
 */
#include "npu.h"
#include "plmm_sdk.h"

#include <math.h>
#include <string.h>

bool npu_weight_dtype_ok(uint32_t dtype)
{
    switch (dtype) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_BF16:
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0:
    case PLMM_DTYPE_Q4_1:
    case PLMM_DTYPE_Q5_0:
    case PLMM_DTYPE_Q5_1:
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q5_K:
    case PLMM_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

static float h2f(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return plmm_fp16_to_fp32(h);
}

/* 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block */
static void k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K (5 = false) and Q5_K (5 = true): d, dmin, scales[12], [qh[32]], qs[128] */
static void dequant_k45(const uint8_t *b, float *y, bool five)
{
    const float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *qs = five ? b + 48 : b + 16;
    for (int c = 0; c < 4; c++) {
        uint8_t s1, m1, s2, m2;
        k_scale_min(2 * c, scales, &s1, &m1);
        k_scale_min(2 * c + 1, scales, &s2, &m2);
        const float d1 = d * s1, o1 = dmin * m1, d2 = d * s2, o2 = dmin * m2;
        for (int l = 0; l < 32; l++) {
            int lo = qs[32 * c + l] & 0xF, hi = qs[32 * c + l] >> 4;
            if (five) {
                lo += (qh[l] >> (2 * c)) & 1 ? 16 : 0;
                hi += (qh[l] >> (2 * c + 1)) & 1 ? 16 : 0;
            }
            y[64 * c + l] = d1 * (float)lo - o1;
            y[64 * c + 32 + l] = d2 * (float)hi - o2;
        }
    }
}

/* Q6_K: ql[128], qh[64], scales[16] (int8), d */
static void dequant_q6k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = h2f(b + 208);
    for (int half = 0; half < 2; half++) {
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * (float)q1;
            y[l + 32] = d * sc[is + 2] * (float)q2;
            y[l + 64] = d * sc[is + 4] * (float)q3;
            y[l + 96] = d * sc[is + 6] * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

void npu_dequant_row(uint32_t dtype, const void *src, float *y, int64_t n)
{
    const uint8_t *p = src;
    const uint32_t bb = plmm_dtype_block_bytes(dtype), be = plmm_dtype_block_elems(dtype);
    for (int64_t blk = 0; blk < n / be; blk++, p += bb, y += be) {
        switch (dtype) {
        case PLMM_DTYPE_F32:
            memcpy(y, p, 4);
            break;
        case PLMM_DTYPE_F16:
            y[0] = h2f(p);
            break;
        case PLMM_DTYPE_BF16: {
            uint16_t h;
            memcpy(&h, p, 2);
            y[0] = plmm_bf16_to_fp32(h);
            break;
        }
        case PLMM_DTYPE_Q8_0: {
            const float d = h2f(p);
            for (int j = 0; j < 32; j++)
                y[j] = d * (float)(int8_t)p[2 + j];
            break;
        }
        case PLMM_DTYPE_Q4_0:
        case PLMM_DTYPE_Q4_1: {
            const bool one = dtype == PLMM_DTYPE_Q4_1;
            const float d = h2f(p), m = one ? h2f(p + 2) : 0.0f;
            const uint8_t *qs = p + (one ? 4 : 2);
            const int off = one ? 0 : 8;
            for (int j = 0; j < 16; j++) {
                y[j] = (float)((qs[j] & 0xF) - off) * d + m;
                y[j + 16] = (float)((qs[j] >> 4) - off) * d + m;
            }
            break;
        }
        case PLMM_DTYPE_Q5_0:
        case PLMM_DTYPE_Q5_1: {
            const bool one = dtype == PLMM_DTYPE_Q5_1;
            const float d = h2f(p), m = one ? h2f(p + 2) : 0.0f;
            uint32_t qh;
            memcpy(&qh, p + (one ? 4 : 2), 4);
            const uint8_t *qs = p + (one ? 8 : 6);
            const int off = one ? 0 : 16;
            for (int j = 0; j < 16; j++) {
                const int h0 = (int)((qh >> j) << 4) & 0x10;
                const int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (float)(((qs[j] & 0xF) | h0) - off) * d + m;
                y[j + 16] = (float)(((qs[j] >> 4) | h1) - off) * d + m;
            }
            break;
        }
        case PLMM_DTYPE_Q4_K:
            dequant_k45(p, y, false);
            break;
        case PLMM_DTYPE_Q5_K:
            dequant_k45(p, y, true);
            break;
        case PLMM_DTYPE_Q6_K:
            dequant_q6k(p, y);
            break;
        default:
            memset(y, 0, be * sizeof(float));
            break;
        }
    }
}

/* scale = m * 2^-sh with m in [2^30, 2^31) */
static void fixed_point(double scale, int32_t *m, int32_t *sh)
{
    if (!(scale > 0) || !isfinite(scale)) {
        *m = 0;
        *sh = 0;
        return;
    }
    int e = 0;
    double f = frexp(scale, &e); /* scale = f * 2^e, f in [0.5, 1) */
    int64_t q = llround(f * 2147483648.0);
    if (q == INT64_C(2147483648)) {
        q /= 2;
        e++;
    }
    *m = (int32_t)q;
    *sh = 31 - e;
}

void npu_quantize_matrix(uint32_t dtype, const uint8_t *w, uint64_t row_bytes, int64_t K, int64_t N,
                         int8_t *q, int32_t *m, int32_t *sh, float *tmp)
{
    for (int64_t n = 0; n < N; n++) {
        npu_dequant_row(dtype, w + (uint64_t)n * row_bytes, tmp, K);
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf(tmp[k]));
        const float scale = amax / 127.0f;
        const float inv = amax > 0 ? 127.0f / amax : 0.0f;
        int8_t *row = q + n * K;
        for (int64_t k = 0; k < K; k++) {
            long v = lrintf(tmp[k] * inv);
            row[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        fixed_point(scale, &m[n], &sh[n]);
    }
}
