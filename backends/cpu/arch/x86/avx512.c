/*
 * AVX-512 (F, BW, VL) dot-product kernels for MUL_MAT. Built with
 * -mavx512f -mavx512bw -mavx512vl on top of the AVX2 flags; the rest of the
 * table (quantization, vector primitives) stays AVX2. The structure mirrors
 * arch/x86/avx2.c with 512-bit vectors:
 *   - Q8_0/Q4_0: two 32-element blocks per vector, per-half scales;
 *   - Q4_K: one 64-element group (two sub-blocks) per vector;
 *   - Q6_K: four 16-element sub-blocks per vector;
 *   - F32/F16/BF16: 16 lanes, masked loads for the tail.
 * Numerics equal the AVX2 kernels' up to float summation order.
 */
#include "cpu_kernels.h"
#include "x86_common.h"
#include "x86_gemm8.h"

#include <immintrin.h>

static inline float hsum512(__m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return hsum256(_mm256_add_ps(lo, hi));
}

/* Two 256-bit halves into one 512-bit vector. */
static inline __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* [a x 8 | b x 8] */
static inline __m512 two_scales(float a, float b)
{
    return _mm512_mask_mov_ps(_mm512_set1_ps(a), (__mmask16)0xff00, _mm512_set1_ps(b));
}

#define TILE_DISPATCH(TILE)                                                                        \
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

#define TILE_ARGS k, w, wb, x, xb, y, ys
#define TILE_PARAMS                                                                                \
    int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y, size_t ys

/* ---- F32 / F16 / BF16 ---- */

static inline __m512 load16_f32(const void *row, int64_t i, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, (const float *)row + i);
}

static inline __m512 load16_f16(const void *row, int64_t i, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i));
}

static inline __m512 load16_bf16(const void *row, int64_t i, __mmask16 m)
{
    __m512i u = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}

#define DEFINE_FLOAT_TILE(SUFFIX)                                                                  \
    static inline                                                                                  \
        __attribute__((always_inline)) void tile_##SUFFIX(TILE_PARAMS, const int NR, const int NC) \
    {                                                                                              \
        const char *wr[4], *xc[2];                                                                 \
        __m512 acc[4][2];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const char *)w + (size_t)r * wb;                                                      \
        _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const char *)x + (size_t)c * xb;                                                      \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();  \
        for (int64_t i = 0; i < k; i += 16) {                                                      \
            const __mmask16 m =                                                                    \
                k - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (unsigned)(k - i)) - 1u);     \
            __m512 xv[2];                                                                          \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xv[c] = load16_f32(xc[c], i, m);  \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                __m512 wv = load16_##SUFFIX(wr[r], i, m);                                          \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] =                   \
                    _mm512_fmadd_ps(wv, xv[c], acc[r][c]);                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) y[(size_t)c * ys + (size_t)r] =   \
                hsum512(acc[r][c]);                                                                \
    }                                                                                              \
    static void gemm_##SUFFIX(TILE_PARAMS, int nr, int nc)                                         \
    {                                                                                              \
        TILE_DISPATCH(TILE_##SUFFIX);                                                              \
    }

#define TILE_f32(R, C) tile_f32(TILE_ARGS, R, C)
#define TILE_f16(R, C) tile_f16(TILE_ARGS, R, C)
#define TILE_bf16(R, C) tile_bf16(TILE_ARGS, R, C)

DEFINE_FLOAT_TILE(f32)
DEFINE_FLOAT_TILE(f16)
DEFINE_FLOAT_TILE(bf16)

/* ---- Q8_0 / Q4_0 against Q8_0 activations ----
 * w * a = |w| * (a negated where w < 0): AVX-512 has no byte sign
 * instruction, so the negation is a masked subtract from zero. */

static inline __m256i q8_0_quants(const block_q8_0 *b)
{
    return _mm256_loadu_si256((const __m256i *)b->qs);
}

static inline __m256i q4_0_quants(const block_q4_0 *b)
{
    __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    v = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

/* int32 sums (8 per block) of w * a for the blocks in the vectors */
static inline __m512i dot_i8x64(__m512i wq, __m512i aq)
{
    const __mmask64 neg = _mm512_movepi8_mask(wq);
    const __m512i as = _mm512_mask_sub_epi8(aq, neg, _mm512_setzero_si512(), aq);
    const __m512i p = _mm512_maddubs_epi16(_mm512_abs_epi8(wq), as);
    return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
}

static inline __m256i dot_i8x32(__m256i wq, __m256i aq)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(aq, wq));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

#define DEFINE_Q80_TILE(SUFFIX, BLOCK)                                                             \
    static inline                                                                                  \
        __attribute__((always_inline)) void tile_##SUFFIX(TILE_PARAMS, const int NR, const int NC) \
    {                                                                                              \
        const BLOCK *wr[4];                                                                        \
        const block_q8_0 *xc[2];                                                                   \
        __m512 acc[4][2];                                                                          \
        __m256 acc1[4][2];                                                                         \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const BLOCK *)((const char *)w + (size_t)r * wb);                                     \
        _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const block_q8_0 *)((const char *)x + (size_t)c * xb);                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                                   \
        {                                                                                          \
            acc[r][c] = _mm512_setzero_ps();                                                       \
            acc1[r][c] = _mm256_setzero_ps();                                                      \
        }                                                                                          \
        const int64_t nb = k / QK8_0;                                                              \
        int64_t b = 0;                                                                             \
        for (; b + 2 <= nb; b += 2) {                                                              \
            __m512i xq[2];                                                                         \
            float xd0[2], xd1[2];                                                                  \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                                   \
            {                                                                                      \
                xq[c] = join256(_mm256_loadu_si256((const __m256i *)xc[c][b].qs),                  \
                                _mm256_loadu_si256((const __m256i *)xc[c][b + 1].qs));             \
                xd0[c] = _cvtsh_ss(xc[c][b].d);                                                    \
                xd1[c] = _cvtsh_ss(xc[c][b + 1].d);                                                \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                const __m512i wq =                                                                 \
                    join256(SUFFIX##_quants(&wr[r][b]), SUFFIX##_quants(&wr[r][b + 1]));           \
                const float wd0 = _cvtsh_ss(wr[r][b].d), wd1 = _cvtsh_ss(wr[r][b + 1].d);          \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                               \
                {                                                                                  \
                    __m512 s = _mm512_cvtepi32_ps(dot_i8x64(wq, xq[c]));                           \
                    acc[r][c] =                                                                    \
                        _mm512_fmadd_ps(two_scales(wd0 * xd0[c], wd1 * xd1[c]), s, acc[r][c]);     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        if (b < nb) {                                                                              \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                const __m256i wq = SUFFIX##_quants(&wr[r][b]);                                     \
                const float wd = _cvtsh_ss(wr[r][b].d);                                            \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                               \
                {                                                                                  \
                    __m256i xq1 = _mm256_loadu_si256((const __m256i *)xc[c][b].qs);                \
                    __m256 s = _mm256_cvtepi32_ps(dot_i8x32(wq, xq1));                             \
                    acc1[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(wd * _cvtsh_ss(xc[c][b].d)), s,    \
                                                 acc1[r][c]);                                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) y[(size_t)c * ys + (size_t)r] =   \
                hsum512(acc[r][c]) + hsum256(acc1[r][c]);                                          \
    }                                                                                              \
    static void gemm_##SUFFIX(TILE_PARAMS, int nr, int nc)                                         \
    {                                                                                              \
        TILE_DISPATCH(TILE_##SUFFIX);                                                              \
    }

#define TILE_q8_0(R, C) tile_q8_0(TILE_ARGS, R, C)
#define TILE_q4_0(R, C) tile_q4_0(TILE_ARGS, R, C)

DEFINE_Q80_TILE(q8_0, block_q8_0)

/* Q4_0 rows outside whole groups of 8: the scalar reference's steps, an
 * exact integer sum per block, then one float step per block. */
static inline __attribute__((always_inline)) void tile_q4_0(TILE_PARAMS, const int NR, const int NC)
{
    float acc[4][2] = {{0.0f}};
    const int64_t nb = k / QK4_0;
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const block_q4_0 *wb_ = (const block_q4_0 *)((const char *)w + (size_t)r * wb) + b;
            const __m256i wq = q4_0_quants(wb_);
            const float wd = _cvtsh_ss(wb_->d);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const block_q8_0 *xq = (const block_q8_0 *)((const char *)x + (size_t)c * xb) + b;
                const __m256i i32 = dot_i8x32(wq, _mm256_loadu_si256((const __m256i *)xq->qs));
                acc[r][c] += (float)hsum256_epi32(i32) * (wd * _cvtsh_ss(xq->d));
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            y[(size_t)c * ys + (size_t)r] = acc[r][c];
}

static void gemm_q4_0(TILE_PARAMS, int nr, int nc)
{
    TILE_DISPATCH(TILE_q4_0);
}

/* ---- Q4_K ---- */

/* int16 index vector [a x 16 | b x 16] for permutexvar */
static inline __m512i idx_pair16(int a, int b)
{
    return _mm512_mask_mov_epi16(_mm512_set1_epi16((short)a), (__mmask32)0xffff0000u,
                                 _mm512_set1_epi16((short)b));
}

static inline __attribute__((always_inline)) void tile_q4_k(TILE_PARAMS, const int NR, const int NC)
{
    const block_q4_K *wr[4];
    const block_q8_K *xc[2];
    float acc[4][2];
    const __m256i m4 = _mm256_set1_epi8(0x0f);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
        wr[r] = (const block_q4_K *)((const char *)w + (size_t)r * wb);
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
        xc[c] = (const block_q8_K *)((const char *)x + (size_t)c * xb);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            acc[r][c] = 0.0f;
    const int64_t nb = k / QK_K;
    for (int64_t b = 0; b < nb; b++) {
        __m256i bs[2];
        float xd[2];
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            bs[c] = _mm256_loadu_si256((const __m256i *)xc[c][b].bsums);
            xd[c] = xc[c][b].d;
        }
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const block_q4_K *wb_ = &wr[r][b];
            const __m128i scm = q4k_scales_mins(wb_->scales);
            /* int16 lanes 0..7: scales, 8..15: mins (16..31 zero) */
            const __m512i sc32 = _mm512_cvtepu8_epi16(_mm256_zextsi128_si256(scm));
            const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
            const float wd = _cvtsh_ss(wb_->d), wm = _cvtsh_ss(wb_->dmin);
            /* group j: low nibbles (sub-block 2j) | high nibbles (sub-block 2j+1) */
            __m512i q[4], sc[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(wb_->qs + 32 * j));
                q[j] =
                    join256(_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                sc[j] = _mm512_permutexvar_epi16(idx_pair16(2 * j, 2 * j + 1), sc32);
            }
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = xc[c][b].qs;
                __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m512i xv = _mm512_loadu_si512((const void *)(q8 + 64 * j));
                    __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(q[j], xv), sc[j]);
                    isum = _mm512_add_epi32(isum, p);
                }
                __m256i is = _mm256_add_epi32(_mm512_castsi512_si256(isum),
                                              _mm512_extracti64x4_epi64(isum, 1));
                const int im = hsum256_epi32(_mm256_madd_epi16(bs[c], mn16));
                /* the reference's float steps, block by block */
                const float d = wd * xd[c], dmin = wm * xd[c];
                acc[r][c] += d * (float)hsum256_epi32(is) - dmin * (float)im;
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            y[(size_t)c * ys + (size_t)r] = acc[r][c];
}

#define TILE_q4_k(R, C) tile_q4_k(TILE_ARGS, R, C)
static void gemm_q4_k(TILE_PARAMS, int nr, int nc)
{
    TILE_DISPATCH(TILE_q4_k);
}

/* ---- Q6_K ---- */

/* The 6-bit quants (0..63) of half h as two vectors of 64 elements:
 * out[0] = elements 128h + 0..63, out[1] = 128h + 64..127. */
static inline void q6k_unpack_half(const block_q6_K *b, int h, __m512i out[2])
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(0x30);
    /* shift counts per 16-bit lane: low half of the vector, high half */
    const __m512i sh_a =
        _mm512_mask_mov_epi16(_mm512_set1_epi16(4), (__mmask32)0xffff0000u, _mm512_set1_epi16(2));
    const __m512i sh_b =
        _mm512_mask_mov_epi16(_mm512_set1_epi16(0), (__mmask32)0xffff0000u, _mm512_set1_epi16(2));
    const __m512i l = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    const __m512i hh = join256(hb, hb);
    /* elements 0..31: ql[0..31] low | qh bits 0-1; 32..63: ql[32..63] low | qh bits 2-3 */
    out[0] =
        _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(hh, sh_a), m2));
    /* elements 64..95: ql[0..31] high | qh bits 4-5; 96..127: ql[32..63] high | qh bits 6-7 */
    out[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                             _mm512_and_si512(_mm512_srlv_epi16(hh, sh_b), m2));
}

/* int16 index vector: sub-block s0 + lane / 8 for each of the 32 lanes */
static inline __m512i idx_quad16(int s0)
{
    __m512i v = _mm512_set1_epi16((short)s0);
    v = _mm512_mask_mov_epi16(v, (__mmask32)0x0000ff00u, _mm512_set1_epi16((short)(s0 + 1)));
    v = _mm512_mask_mov_epi16(v, (__mmask32)0x00ff0000u, _mm512_set1_epi16((short)(s0 + 2)));
    return _mm512_mask_mov_epi16(v, (__mmask32)0xff000000u, _mm512_set1_epi16((short)(s0 + 3)));
}

static inline __attribute__((always_inline)) void tile_q6_k(TILE_PARAMS, const int NR, const int NC)
{
    const block_q6_K *wr[4];
    const block_q8_K *xc[2];
    float acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
        wr[r] = (const block_q6_K *)((const char *)w + (size_t)r * wb);
#pragma GCC unroll 2
    for (int c = 0; c < NC; c++)
        xc[c] = (const block_q8_K *)((const char *)x + (size_t)c * xb);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            acc[r][c] = 0.0f;
    const int64_t nb = k / QK_K;
    for (int64_t b = 0; b < nb; b++) {
        __m256i bs[2];
        float xd[2];
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++) {
            bs[c] = _mm256_loadu_si256((const __m256i *)xc[c][b].bsums);
            xd[c] = xc[c][b].d;
        }
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const block_q6_K *wb_ = &wr[r][b];
            __m512i q[4], sc[4];
            q6k_unpack_half(wb_, 0, q);
            q6k_unpack_half(wb_, 1, q + 2);
            const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb_->scales));
            const __m512i s32 = _mm512_castsi256_si512(s16);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                sc[j] = _mm512_permutexvar_epi16(idx_quad16(4 * j), s32);
            const float wd = _cvtsh_ss(wb_->d);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = xc[c][b].qs;
                __m512i isum = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m512i xv = _mm512_loadu_si512((const void *)(q8 + 64 * j));
                    __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(q[j], xv), sc[j]);
                    isum = _mm512_add_epi32(isum, p);
                }
                __m256i is = _mm256_add_epi32(_mm512_castsi512_si256(isum),
                                              _mm512_extracti64x4_epi64(isum, 1));
                /* remove the +32 offset: 32 * sum_j scale_j * bsum_j */
                is = _mm256_sub_epi32(is, _mm256_slli_epi32(_mm256_madd_epi16(bs[c], s16), 5));
                /* the reference's float steps, block by block */
                acc[r][c] += (wd * xd[c]) * (float)hsum256_epi32(is);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NC; c++)
            y[(size_t)c * ys + (size_t)r] = acc[r][c];
}

#define TILE_q6_k(R, C) tile_q6_k(TILE_ARGS, R, C)
static void gemm_q6_k(TILE_PARAMS, int nr, int nc)
{
    TILE_DISPATCH(TILE_q6_k);
}

/* Q4_0 / Q4_K entries: the shared 8-row kernels for full row groups with
 * several activation rows, the 512-bit tiles otherwise. */
#define DEFINE_ROWS(SUFFIX)                                                                        \
    static void gemm_##SUFFIX##_rows(TILE_PARAMS, int nr, int nc)                                  \
    {                                                                                              \
        if (nr == 8) {                                                                             \
            gemm8_##SUFFIX(k, w, wb, x, xb, y, ys, nc);                                            \
            return;                                                                                \
        }                                                                                          \
        for (int r = 0; r < nr; r += 4)                                                            \
            for (int c = 0; c < nc; c += 2)                                                        \
                gemm_##SUFFIX(k, (const char *)w + (size_t)r * wb, wb,                             \
                              (const char *)x + (size_t)c * xb, xb,                                \
                              y + (size_t)c * ys + (size_t)r, ys, nr - r < 4 ? nr - r : 4,         \
                              nc - c < 2 ? nc - c : 2);                                            \
    }

DEFINE_ROWS(q4_0)
DEFINE_ROWS(q4_k)

void cpu_kern_fill_avx512(cpu_kern *k)
{
    k->isa = CPU_ISA_AVX512;
    k->name = "avx512";
    k->gemm[PLMM_DTYPE_F32] = (cpu_gemm){gemm_f32, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_F16] = (cpu_gemm){gemm_f16, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_BF16] = (cpu_gemm){gemm_bf16, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_Q8_0] = (cpu_gemm){gemm_q8_0, 4, 2, 1, 0};
    k->gemm[PLMM_DTYPE_Q4_0] = (cpu_gemm){gemm_q4_0_rows, 8, GEMM8_MAX_NC, 8, 8};
    k->gemm[PLMM_DTYPE_Q4_K] = (cpu_gemm){gemm_q4_k_rows, 8, GEMM8_MAX_NC, 1, 8};
    k->gemm[PLMM_DTYPE_Q6_K] = (cpu_gemm){gemm_q6_k, 4, 2, 1, 0};
}
