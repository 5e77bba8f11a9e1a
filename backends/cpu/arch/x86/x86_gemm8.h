/*
 * 8-row MUL_MAT kernels for Q4_0 and Q4_K shared by the AVX2 and AVX-512
 * files (each compiles them with its own flags; with AVX-512VL the same
 * code gets 32 vector registers). Needs -mavx2 -mfma -mf16c at least.
 */
#ifndef PLMM_CPU_X86_GEMM8_H
#define PLMM_CPU_X86_GEMM8_H

#include "cpu_kernels.h"

#include <immintrin.h>
#include <string.h>

/* Q4_K: 6-bit scales and mins of the 8 sub-blocks as bytes
 * (out[0..7] = scales, out[8..15] = mins). */
static inline __m128i q4k_scales_mins(const uint8_t *q)
{
    uint32_t u[3];
    memcpy(u, q, 12);
    uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
    uint32_t m_lo = u[1] & 0x3f3f3f3fu;
    uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);
    uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi);
}

/*
 * Q4_0 on 8 weight rows at once. Per block, the 8 rows' quants (0..15, the
 * +8 offset kept) are transposed so that 32-bit lane r of vector g holds
 * quants 4g..4g+3 of row r; a broadcast of the matching 4 activation bytes
 * then multiplies all 8 rows in one maddubs, sums stay in int16 over the
 * block (8 x 2 x 15 x 127 < 32768) and come out one row per lane: no
 * horizontal sums, and the transpose is shared by every activation row.
 * The offset is removed with the per-block 8 * sum(a) stored after the
 * activation blocks (cpu_q8_0_offsets_at).
 */
#define GEMM8_MAX_NC 64

/* v[r] lane g -> v[g] lane r (8 x 8 int32) */
static inline void transpose8_epi32(__m256i v[8])
{
    __m256i t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        v[g] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x20);
        v[g + 4] = _mm256_permute2x128_si256(u[g], u[g + 4], 0x31);
    }
}

static inline __m256i bcast_i32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return _mm256_set1_epi32(v);
}

/* lane r = the sum of the 8 lanes of p[r] */
static inline __m256i hsum8x8_epi32(const __m256i p[8])
{
    const __m256i a0 = _mm256_hadd_epi32(p[0], p[1]), a1 = _mm256_hadd_epi32(p[2], p[3]);
    const __m256i a2 = _mm256_hadd_epi32(p[4], p[5]), a3 = _mm256_hadd_epi32(p[6], p[7]);
    const __m256i b0 = _mm256_hadd_epi32(a0, a1), b1 = _mm256_hadd_epi32(a2, a3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20),
                            _mm256_permute2x128_si256(b0, b1, 0x31));
}

/* The 8-row Q4_0 kernel for one activation row (decode): the same integer
 * block sums and float steps as gemm8_q4_0, formed row by row and folded
 * into one lane per row, which is cheaper than the transpose when nothing
 * shares it. */
static inline void gemv8_q4_0(int64_t k, const void *w, size_t wb, const void *x, float *y)
{
    const int64_t nb = k / QK4_0;
    const int32_t *off = (const int32_t *)(const void *)((const char *)x + cpu_q8_0_offsets_at(k));
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const block_q8_0 *xq = (const block_q8_0 *)x + b;
        const __m256i xv = _mm256_loadu_si256((const __m256i *)xq->qs);
        __m256i p[8];
        uint16_t dh[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const block_q4_0 *blk = (const block_q4_0 *)((const char *)w + (size_t)r * wb) + b;
            const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
            const __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
            p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), ones);
            dh[r] = blk->d;
        }
        const __m256i i32 = _mm256_sub_epi32(hsum8x8_epi32(p), _mm256_set1_epi32(off[b]));
        const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        const __m256 sc = _mm256_mul_ps(wd, _mm256_set1_ps(_cvtsh_ss(xq->d)));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(i32), sc));
    }
    _mm256_storeu_ps(y, acc);
}

static inline void gemm8_q4_0(int64_t k, const void *w, size_t wb, const void *x, size_t xb,
                              float *y, size_t ys, int nc)
{
    if (nc == 1) {
        gemv8_q4_0(k, w, wb, x, y);
        return;
    }
    const int64_t nb = k / QK4_0;
    const size_t off_at = cpu_q8_0_offsets_at(k);
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc[GEMM8_MAX_NC];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i v[8];
        uint16_t dh[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const block_q4_0 *blk = (const block_q4_0 *)((const char *)w + (size_t)r * wb) + b;
            const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
            v[r] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), m4);
            dh[r] = blk->d;
        }
        transpose8_epi32(v);
        const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        for (int c = 0; c < nc; c++) {
            const char *xr = (const char *)x + (size_t)c * xb;
            const block_q8_0 *xq = (const block_q8_0 *)xr + b;
            __m256i s = _mm256_maddubs_epi16(v[0], bcast_i32(xq->qs));
#pragma GCC unroll 8
            for (int g = 1; g < 8; g++)
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v[g], bcast_i32(xq->qs + 4 * g)));
            int32_t off;
            memcpy(&off, xr + off_at + (size_t)b * sizeof(int32_t), sizeof(off));
            const __m256i i32 =
                _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(off));
            const __m256 sc = _mm256_mul_ps(wd, _mm256_set1_ps(_cvtsh_ss(xq->d)));
            acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(_mm256_cvtepi32_ps(i32), sc));
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(y + (size_t)c * ys, acc[c]);
}

/*
 * Q4_K on 8 weight rows at once, the Q4_0 scheme per 32-element sub-block:
 * quants transposed to one row per 32-bit lane, int16 sums over the
 * sub-block, then madd with the rows' 6-bit scales (lanes 2r, 2r+1 = scale
 * of row r) into int32 per row. The mins term uses the Q8_K block sums:
 * pairs of sub-block sums broadcast against pairs of the rows' mins.
 */
static inline void gemm8_q4_k(int64_t k, const void *w, size_t wb, const void *x, size_t xb,
                              float *y, size_t ys, int nc)
{
    const int64_t nb = k / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[GEMM8_MAX_NC];
    __m256i isum[GEMM8_MAX_NC];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const block_q4_K *blk[8];
        uint16_t dh[8], mh[8];
        __m256i sc[8], mn[8], sc16[8], mn16[4];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            blk[r] = (const block_q4_K *)((const char *)w + (size_t)r * wb) + b;
            const __m128i scm = q4k_scales_mins(blk[r]->scales);
            sc[r] = _mm256_cvtepu8_epi32(scm);
            mn[r] = _mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8));
            dh[r] = blk[r]->d;
            mh[r] = blk[r]->dmin;
        }
        transpose8_epi32(sc); /* sc[j] lane r: scale of sub-block j, row r */
        transpose8_epi32(mn);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            sc16[j] = _mm256_or_si256(sc[j], _mm256_slli_epi32(sc[j], 16));
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            mn16[j] = _mm256_or_si256(mn[2 * j], _mm256_slli_epi32(mn[2 * j + 1], 16));
        const __m256 vd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dh));
        const __m256 vm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)mh));
        for (int c = 0; c < nc; c++)
            isum[c] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++) {
            __m256i v[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(blk[r]->qs + 32 * (j / 2)));
                v[r] = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
            }
            transpose8_epi32(v);
            for (int c = 0; c < nc; c++) {
                const int8_t *q8 =
                    ((const block_q8_K *)((const char *)x + (size_t)c * xb) + b)->qs + 32 * j;
                __m256i s16 = _mm256_maddubs_epi16(v[0], bcast_i32(q8));
#pragma GCC unroll 8
                for (int g = 1; g < 8; g++)
                    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(v[g], bcast_i32(q8 + 4 * g)));
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(s16, sc16[j]));
            }
        }
        for (int c = 0; c < nc; c++) {
            const block_q8_K *xq = (const block_q8_K *)((const char *)x + (size_t)c * xb) + b;
            /* int16 sums of each 32: dwords 0, 1, 4, 5 hold sub-blocks (0,1) (2,3) (4,5) (6,7) */
            const __m256i bs = _mm256_loadu_si256((const __m256i *)xq->bsums);
            const __m256i h = _mm256_hadd_epi16(bs, bs);
            __m256i mins =
                _mm256_madd_epi16(mn16[0], _mm256_permutevar8x32_epi32(h, _mm256_set1_epi32(0)));
            mins = _mm256_add_epi32(mins, _mm256_madd_epi16(mn16[1], _mm256_permutevar8x32_epi32(
                                                                         h, _mm256_set1_epi32(1))));
            mins = _mm256_add_epi32(mins, _mm256_madd_epi16(mn16[2], _mm256_permutevar8x32_epi32(
                                                                         h, _mm256_set1_epi32(4))));
            mins = _mm256_add_epi32(mins, _mm256_madd_epi16(mn16[3], _mm256_permutevar8x32_epi32(
                                                                         h, _mm256_set1_epi32(5))));
            /* per row (lane) the reference's float steps: s += d * isum - dmin * imin */
            const __m256 xd = _mm256_set1_ps(xq->d);
            const __m256 t =
                _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(vd, xd), _mm256_cvtepi32_ps(isum[c])),
                              _mm256_mul_ps(_mm256_mul_ps(vm, xd), _mm256_cvtepi32_ps(mins)));
            acc[c] = _mm256_add_ps(acc[c], t);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(y + (size_t)c * ys, acc[c]);
}

#endif /* PLMM_CPU_X86_GEMM8_H */
