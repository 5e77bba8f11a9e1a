/*
 * Integer MUL_MAT tiles for AArch64, shared by neon.c (widening multiplies)
 * and neon_dotprod.c (SDOT). The including file defines
 *     static inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b)
 * (acc plus the 16 products a[i] * b[i], folded into 4 lanes) and
 * NEON_SUFFIX, the name suffix of the generated gemm functions.
 */
#ifndef PLMM_CPU_NEON_INT8_H
#define PLMM_CPU_NEON_INT8_H

#include "cpu_kernels.h"

#include <arm_neon.h>

#define NI8_CAT2(a, b) a##b
#define NI8_CAT(a, b) NI8_CAT2(a, b)
#define NI8_NAME(base) NI8_CAT(base, NEON_SUFFIX)

#define NI8_DISPATCH(TILE)                                                                         \
    do {                                                                                           \
        if (nc == 2) {                                                                             \
            switch (nr) {                                                                          \
            case 4:                                                                                \
                TILE(4, 2);                                                                        \
                break;                                                                             \
            case 3:                                                                                \
                TILE(3, 2);                                                                        \
                break;                                                                             \
            case 2:                                                                                \
                TILE(2, 2);                                                                        \
                break;                                                                             \
            default:                                                                               \
                TILE(1, 2);                                                                        \
                break;                                                                             \
            }                                                                                      \
        } else {                                                                                   \
            switch (nr) {                                                                          \
            case 4:                                                                                \
                TILE(4, 1);                                                                        \
                break;                                                                             \
            case 3:                                                                                \
                TILE(3, 1);                                                                        \
                break;                                                                             \
            case 2:                                                                                \
                TILE(2, 1);                                                                        \
                break;                                                                             \
            default:                                                                               \
                TILE(1, 1);                                                                        \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define NI8_ARGS k, w, wb, x, xb, y, ys
#define NI8_PARAMS                                                                                 \
    int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y, size_t ys

static inline float ni8_f16(uint16_t h)
{
    return cpu_f16_to_f32(h);
}

/* ---- Q8_0 / Q4_0 x Q8_0 ---- */

static inline void ni8_q8_0_quants(const block_q8_0 *b, int8x16_t q[2])
{
    q[0] = vld1q_s8(b->qs);
    q[1] = vld1q_s8(b->qs + 16);
}

static inline void ni8_q4_0_quants(const block_q4_0 *b, int8x16_t q[2])
{
    const uint8x16_t v = vld1q_u8(b->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    q[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
    q[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
}

#define NI8_DEFINE_Q80(SUFFIX, BLOCK)                                                              \
    static inline __attribute__((always_inline)) void NI8_CAT(ni8_tile_, SUFFIX)(                  \
        NI8_PARAMS, const int NR, const int NC)                                                    \
    {                                                                                              \
        const BLOCK *wr[4];                                                                        \
        const block_q8_0 *xc[2];                                                                   \
        float32x4_t acc[4][2];                                                                     \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const BLOCK *)((const char *)w + (size_t)r * wb);                                     \
        _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const block_q8_0 *)((const char *)x + (size_t)c * xb);                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);    \
        const int64_t nb = k / QK8_0;                                                              \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            int8x16_t xq[2][2];                                                                    \
            float xd[2];                                                                           \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                                   \
            {                                                                                      \
                ni8_q8_0_quants(&xc[c][b], xq[c]);                                                 \
                xd[c] = ni8_f16(xc[c][b].d);                                                       \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                int8x16_t wq[2];                                                                   \
                NI8_CAT(ni8_, NI8_CAT(SUFFIX, _quants))(&wr[r][b], wq);                            \
                const float wd = ni8_f16(wr[r][b].d);                                              \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                               \
                {                                                                                  \
                    int32x4_t p = dot_s8(vdupq_n_s32(0), wq[0], xq[c][0]);                         \
                    p = dot_s8(p, wq[1], xq[c][1]);                                                \
                    acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(p), wd * xd[c]);              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) y[(size_t)c * ys + (size_t)r] =   \
                vaddvq_f32(acc[r][c]);                                                             \
    }                                                                                              \
    static void NI8_NAME(NI8_CAT(gemm_, SUFFIX))(NI8_PARAMS, int nr, int nc)                       \
    {                                                                                              \
        NI8_DISPATCH(NI8_CAT(NI8_TILE_, SUFFIX));                                                  \
    }

#define NI8_TILE_q8_0(R, C) ni8_tile_q8_0(NI8_ARGS, R, C)
#define NI8_TILE_q4_0(R, C) ni8_tile_q4_0(NI8_ARGS, R, C)

NI8_DEFINE_Q80(q8_0, block_q8_0)
NI8_DEFINE_Q80(q4_0, block_q4_0)

/* ---- Q4_K x Q8_K ---- */

static inline __attribute__((always_inline)) void ni8_tile_q4_k(NI8_PARAMS, const int NR,
                                                                const int NC)
{
    const block_q4_K *wr[4];
    const block_q8_K *xc[2];
    float sum[4][2] = {{0}};
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
        wr[r] = (const block_q4_K *)((const char *)w + (size_t)r * wb);
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
        xc[c] = (const block_q8_K *)((const char *)x + (size_t)c * xb);
    const int64_t nb = k / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const block_q4_K *wq = &wr[r][b];
            uint8_t sc[8], mn[8];
            for (int j = 0; j < 8; j++)
                cpu_q4k_scale_min(j, wq->scales, &sc[j], &mn[j]);
            /* quants of group j: sub-block 2j = low nibbles, 2j+1 = high nibbles */
            int8x16_t lo[4][2], hi[4][2];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                for (int h = 0; h < 2; h++) {
                    const uint8x16_t v = vld1q_u8(wq->qs + 32 * j + 16 * h);
                    lo[j][h] = vreinterpretq_s8_u8(vandq_u8(v, m4));
                    hi[j][h] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
                }
            }
            const float wd = ni8_f16(wq->d), wm = ni8_f16(wq->dmin);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const block_q8_K *xq = &xc[c][b];
                int32_t isum = 0, imin = 0;
                for (int j = 0; j < 4; j++) {
                    const int8_t *q8 = xq->qs + 64 * j;
                    int32x4_t s0 = dot_s8(vdupq_n_s32(0), lo[j][0], vld1q_s8(q8));
                    s0 = dot_s8(s0, lo[j][1], vld1q_s8(q8 + 16));
                    int32x4_t s1 = dot_s8(vdupq_n_s32(0), hi[j][0], vld1q_s8(q8 + 32));
                    s1 = dot_s8(s1, hi[j][1], vld1q_s8(q8 + 48));
                    isum += sc[2 * j] * vaddvq_s32(s0) + sc[2 * j + 1] * vaddvq_s32(s1);
                    imin += mn[2 * j] * (xq->bsums[4 * j] + xq->bsums[4 * j + 1]) +
                            mn[2 * j + 1] * (xq->bsums[4 * j + 2] + xq->bsums[4 * j + 3]);
                }
                sum[r][c] += (wd * xq->d) * (float)isum - (wm * xq->d) * (float)imin;
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            y[(size_t)c * ys + (size_t)r] = sum[r][c];
}

#define NI8_TILE_q4_k(R, C) ni8_tile_q4_k(NI8_ARGS, R, C)
static void NI8_NAME(gemm_q4_k)(NI8_PARAMS, int nr, int nc)
{
    NI8_DISPATCH(NI8_TILE_q4_k);
}

/* ---- Q6_K x Q8_K ---- */

/* The 256 quants minus 32, one 16-element sub-block per vector. */
static inline void ni8_q6k_unpack(const block_q6_K *b, int8x16_t q[16])
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    for (int h = 0; h < 2; h++) {
        for (int s = 0; s < 2; s++) {
            const uint8x16_t l0 = vld1q_u8(b->ql + 64 * h + 16 * s);
            const uint8x16_t l1 = vld1q_u8(b->ql + 64 * h + 32 + 16 * s);
            const uint8x16_t hb = vld1q_u8(b->qh + 32 * h + 16 * s);
            const uint8x16_t v1 = vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
            const uint8x16_t v2 = vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
            const uint8x16_t v3 = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m30));
            const uint8x16_t v4 = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
            /* element 128h + 32g + 16s + i lies in sub-block 8h + 2g + s */
            q[8 * h + 0 + s] = vsubq_s8(vreinterpretq_s8_u8(v1), off);
            q[8 * h + 2 + s] = vsubq_s8(vreinterpretq_s8_u8(v2), off);
            q[8 * h + 4 + s] = vsubq_s8(vreinterpretq_s8_u8(v3), off);
            q[8 * h + 6 + s] = vsubq_s8(vreinterpretq_s8_u8(v4), off);
        }
    }
}

static inline __attribute__((always_inline)) void ni8_tile_q6_k(NI8_PARAMS, const int NR,
                                                                const int NC)
{
    const block_q6_K *wr[4];
    const block_q8_K *xc[2];
    float sum[4][2] = {{0}};
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
        wr[r] = (const block_q6_K *)((const char *)w + (size_t)r * wb);
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
        xc[c] = (const block_q8_K *)((const char *)x + (size_t)c * xb);
    const int64_t nb = k / QK_K;
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const block_q6_K *wq = &wr[r][b];
            int8x16_t q[16];
            ni8_q6k_unpack(wq, q);
            const float wd = ni8_f16(wq->d);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const block_q8_K *xq = &xc[c][b];
                int32_t isum = 0;
                for (int j = 0; j < 16; j++) {
                    int32x4_t s = dot_s8(vdupq_n_s32(0), q[j], vld1q_s8(xq->qs + 16 * j));
                    isum += wq->scales[j] * vaddvq_s32(s);
                }
                sum[r][c] += (wd * xq->d) * (float)isum;
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            y[(size_t)c * ys + (size_t)r] = sum[r][c];
}

#define NI8_TILE_q6_k(R, C) ni8_tile_q6_k(NI8_ARGS, R, C)
static void NI8_NAME(gemm_q6_k)(NI8_PARAMS, int nr, int nc)
{
    NI8_DISPATCH(NI8_TILE_q6_k);
}

/* Install the integer tiles into a kernel table. */
static inline void NI8_NAME(ni8_fill)(cpu_kern *k)
{
    k->gemm[PLMM_DTYPE_Q8_0] = (cpu_gemm){NI8_NAME(gemm_q8_0), 4, 2, 1, 0};
    k->gemm[PLMM_DTYPE_Q4_0] = (cpu_gemm){NI8_NAME(gemm_q4_0), 4, 2, 1, 0};
    k->gemm[PLMM_DTYPE_Q4_K] = (cpu_gemm){NI8_NAME(gemm_q4_k), 4, 2, 1, 0};
    k->gemm[PLMM_DTYPE_Q6_K] = (cpu_gemm){NI8_NAME(gemm_q6_k), 4, 2, 1, 0};
}

#endif /* PLMM_CPU_NEON_INT8_H */
