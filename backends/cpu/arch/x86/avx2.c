/*
 * AVX2 + FMA + F16C kernels. Built with -mavx2 -mfma -mf16c; only called
 * when the host reports those features. Numerics match the scalar
 * reference (kernels_generic.c). Bit-exact: activation quantization; Q4_K
 * and Q6_K dot products (exact integer sums per 256-element block, then
 * the reference's float steps block by block); Q4_0 (the 8-row kernels of
 * x86_gemm8.h keep one row per lane; the 4-row tiles sum each block's
 * integers exactly, then take the reference's float step);
 * attention, exp, silu and swiglu. Two runs that differ by one ulp drift
 * apart by the whole quantization noise once an f16 KV entry or an 8-bit
 * activation rounds the other way, so these paths agree with the GPU
 * backends, which follow the reference, token for token. Elsewhere dot
 * products differ only in float summation order, the one of GGUF's
 * reference runtime on x86 (its golden Q8_0 outputs are asserted): Q8_0
 * sums blocks in order into 8 float lanes per output, reduced at the end.
 *
 * MUL_MAT tiles: 4 x 3 (Q8_0, Q4_0 remainder), 4 x 2 (float types, Q4_K
 * and Q6_K remainder and decode), 8 x up to 64 (Q4_0, Q4_K prefill).
 */
#include "cpu_kernels.h"
#include "x86_common.h"
#include "x86_gemm8.h"

#include <immintrin.h>
#include <math.h>

/* ---- activation quantization (bit-exact with the reference) ---- */

/* 4 vectors of 8 int32 (each in int8 range) -> 32 int8 in element order */
static inline __m256i pack_i32x32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packs_epi32(a, b);
    __m256i cd = _mm256_packs_epi32(c, d);
    __m256i all = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(all, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void quant_q8_0(const float *x, block_q8_0 *y, int64_t k)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t b = 0; b < k / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
        }
        const float amax = hmax256(m);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], vid),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
            q[i] = _mm256_cvtps_epi32(r);
        }
        _mm256_storeu_si256((__m256i *)y[b].qs, pack_i32x32_to_i8(q[0], q[1], q[2], q[3]));
    }
}

static void quant_q8_k(const float *x, block_q8_K *y, int64_t k)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < k / QK_K; b++) {
        const float *xb = x + b * QK_K;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8)
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(xb + i), absmask));
        const float amax = hmax256(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        /* the first element of largest magnitude sets the sign of the scale */
        float max = 0.0f;
        const __m256 vamax = _mm256_set1_ps(amax);
        for (int i = 0; i < QK_K; i += 8) {
            __m256 a = _mm256_and_ps(_mm256_loadu_ps(xb + i), absmask);
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(a, vamax, _CMP_EQ_OQ));
            if (mask != 0) {
                max = xb[i + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int g = 0; g < QK_K / 32; g++) {
            __m256i q[4];
            for (int i = 0; i < 4; i++) {
                __m256 r = _mm256_mul_ps(_mm256_loadu_ps(xb + 32 * g + 8 * i), vs);
                r = _mm256_round_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
                q[i] = _mm256_cvtps_epi32(r);
            }
            __m256i q8 = pack_i32x32_to_i8(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), q8);
            /* sums of each 16: 4 int32 per 128-bit lane, folded twice */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q8), ones16);
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            y[b].bsums[2 * g] = (int16_t)_mm256_extract_epi32(s, 0);
            y[b].bsums[2 * g + 1] = (int16_t)_mm256_extract_epi32(s, 4);
        }
        y[b].d = 1.0f / iscale;
    }
}

static void round_f16(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; i++)
        y[i] = cpu_round_f16(x[i]);
}

/* f32 bits -> bf16 bits (round to nearest even, nan kept quiet), in the high half */
static inline __m256i bf16_round_bits(__m256i u)
{
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), _mm256_set1_epi32(0x7f800000));
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb);
    __m256i qnan = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
    r = _mm256_blendv_epi8(r, qnan, isnan);
    return _mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u));
}

static void round_bf16(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(bf16_round_bits(u)));
    }
    for (; i < n; i++)
        y[i] = cpu_round_bf16(x[i]);
}

/* ---- conversions ---- */

static void f16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        y[i] = cpu_f16_to_f32(x[i]);
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = cpu_f32_to_f16(x[i]);
}

static void bf16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(u, 16)));
    }
    for (; i < n; i++)
        y[i] = cpu_bf16_to_f32(x[i]);
}

static void f32_to_bf16(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a =
            _mm256_srli_epi32(bf16_round_bits(_mm256_castps_si256(_mm256_loadu_ps(x + i))), 16);
        __m256i b =
            _mm256_srli_epi32(bf16_round_bits(_mm256_castps_si256(_mm256_loadu_ps(x + i + 8))), 16);
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++)
        y[i] = cpu_f32_to_bf16(x[i]);
}

static void dequant_f16(const void *x, float *y, int64_t k)
{
    f16_to_f32(x, y, k);
}

static void dequant_bf16(const void *x, float *y, int64_t k)
{
    bf16_to_f32(x, y, k);
}

/* ---- MUL_MAT tiles ----
 * Each tile function is instantiated for constant NR x NC so the
 * accumulators live in registers; gemm_* pick the instance. */

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

/* Q8_0 / Q4_0 tiles: up to 4 x NC_MAX (the 8-row Q4_0 kernel aside) */
#define NC_MAX 3
#define TILE_DISPATCH_Q(TILE)                                                                      \
    do {                                                                                           \
        switch (nc) {                                                                              \
        case 3:                                                                                    \
            switch (nr) {                                                                          \
            case 4:                                                                                \
                TILE(4, 3);                                                                        \
                break;                                                                             \
            case 3:                                                                                \
                TILE(3, 3);                                                                        \
                break;                                                                             \
            case 2:                                                                                \
                TILE(2, 3);                                                                        \
                break;                                                                             \
            default:                                                                               \
                TILE(1, 3);                                                                        \
                break;                                                                             \
            }                                                                                      \
            break;                                                                                 \
        case 2:                                                                                    \
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
            break;                                                                                 \
        default:                                                                                   \
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
            break;                                                                                 \
        }                                                                                          \
    } while (0)
#define TILE_PARAMS                                                                                \
    int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y, size_t ys

/* F32 / F16 / BF16 weights against f32 activations: 8 lanes per FMA. */
static inline __m256 load_w_f32(const void *row, int64_t i)
{
    return _mm256_loadu_ps((const float *)row + i);
}

static inline __m256 load_w_f16(const void *row, int64_t i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
}

static inline __m256 load_w_bf16(const void *row, int64_t i)
{
    __m256i u =
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

static inline float scalar_w_f32(const void *row, int64_t i)
{
    return ((const float *)row)[i];
}

static inline float scalar_w_f16(const void *row, int64_t i)
{
    return _cvtsh_ss(((const uint16_t *)row)[i]);
}

static inline float scalar_w_bf16(const void *row, int64_t i)
{
    return cpu_bf16_to_f32(((const uint16_t *)row)[i]);
}

#define DEFINE_FLOAT_TILE(SUFFIX)                                                                  \
    static inline                                                                                  \
        __attribute__((always_inline)) void tile_##SUFFIX(TILE_PARAMS, const int NR, const int NC) \
    {                                                                                              \
        const char *wr[4], *xc[2];                                                                 \
        __m256 acc[4][2];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const char *)w + (size_t)r * wb;                                                      \
        _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const char *)x + (size_t)c * xb;                                                      \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();  \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= k; i += 8) {                                                               \
            __m256 xv[2];                                                                          \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xv[c] =                           \
                _mm256_loadu_ps((const float *)xc[c] + i);                                         \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                __m256 wv = load_w_##SUFFIX(wr[r], i);                                             \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] =                   \
                    _mm256_fmadd_ps(wv, xv[c], acc[r][c]);                                         \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                                   \
        {                                                                                          \
            float s = hsum256(acc[r][c]);                                                          \
            for (int64_t j = i; j < k; j++)                                                        \
                s += scalar_w_##SUFFIX(wr[r], j) * ((const float *)xc[c])[j];                      \
            y[(size_t)c * ys + (size_t)r] = s;                                                     \
        }                                                                                          \
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

/* Q8_0 / Q4_0 weights against Q8_0 activations. The signed weight quants
 * w and activation quants a multiply as |w| * (a * sign(w)) so that the
 * unsigned x signed byte product of maddubs applies. */
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

#define DEFINE_Q80_TILE(SUFFIX, BLOCK, EXACT)                                                      \
    static inline                                                                                  \
        __attribute__((always_inline)) void tile_##SUFFIX(TILE_PARAMS, const int NR, const int NC) \
    {                                                                                              \
        const BLOCK *wr[4];                                                                        \
        const block_q8_0 *xc[NC_MAX];                                                              \
        /* one accumulator per output, blocks in order: the summation order of the                 \
         * reference runtime's dot product, so results agree with it to the bit;                   \
         * EXACT: the scalar reference's steps instead (an exact integer sum per                   \
         * block, then one float step per block) */                                                \
        __m256 acc[4][NC_MAX];                                                                     \
        float facc[4][NC_MAX];                                                                     \
        const __m256i ones = _mm256_set1_epi16(1);                                                 \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const BLOCK *)((const char *)w + (size_t)r * wb);                                     \
        _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const block_q8_0 *)((const char *)x + (size_t)c * xb);                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)                                   \
        {                                                                                          \
            acc[r][c] = _mm256_setzero_ps();                                                       \
            facc[r][c] = 0.0f;                                                                     \
        }                                                                                          \
        const int64_t nb = k / QK8_0;                                                              \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            __m256i xq[NC_MAX];                                                                    \
            __m256 xd[NC_MAX];                                                                     \
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)                                   \
            {                                                                                      \
                xq[c] = _mm256_loadu_si256((const __m256i *)xc[c][b].qs);                          \
                xd[c] = _mm256_set1_ps(_cvtsh_ss(xc[c][b].d));                                     \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                const __m256i wq = SUFFIX##_quants(&wr[r][b]);                                     \
                const __m256i wa = _mm256_sign_epi8(wq, wq);                                       \
                const __m256 wd = _mm256_set1_ps(_cvtsh_ss(wr[r][b].d));                           \
                _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++)                               \
                {                                                                                  \
                    __m256i p = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(xq[c], wq));             \
                    const __m256i i32 = _mm256_madd_epi16(p, ones);                                \
                    if (EXACT) {                                                                   \
                        const float d = _cvtsh_ss(wr[r][b].d) * _cvtsh_ss(xc[c][b].d);             \
                        facc[r][c] += (float)hsum256_epi32(i32) * d;                               \
                    } else {                                                                       \
                        /* the same product wd * xd as a scalar, in every lane */                  \
                        acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(wd, xd[c]),                      \
                                                    _mm256_cvtepi32_ps(i32), acc[r][c]);           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 4") for (int c = 0; c < NC; c++) y[(size_t)c * ys + (size_t)r] =   \
                EXACT ? facc[r][c] : hsum256(acc[r][c]);                                           \
    }                                                                                              \
    static void gemm_##SUFFIX(TILE_PARAMS, int nr, int nc)                                         \
    {                                                                                              \
        TILE_DISPATCH_Q(TILE_##SUFFIX);                                                            \
    }

#define TILE_q8_0(R, C) tile_q8_0(TILE_ARGS, R, C)
#define TILE_q4_0(R, C) tile_q4_0(TILE_ARGS, R, C)

DEFINE_Q80_TILE(q8_0, block_q8_0, 0)
DEFINE_Q80_TILE(q4_0, block_q4_0, 1)

/* Q4_0 entry: the 8-row kernel for row groups (the driver uses them only
 * when N % 8 == 0), 4 x 2 tiles otherwise. */
static void gemm_q4_0_rows(TILE_PARAMS, int nr, int nc)
{
    if (nr == 8) {
        gemm8_q4_0(k, w, wb, x, xb, y, ys, nc);
        return;
    }
    for (int r = 0; r < nr; r += 4)
        for (int c = 0; c < nc; c += NC_MAX)
            gemm_q4_0(k, (const char *)w + (size_t)r * wb, wb, (const char *)x + (size_t)c * xb, xb,
                      y + (size_t)c * ys + (size_t)r, ys, nr - r < 4 ? nr - r : 4,
                      nc - c < NC_MAX ? nc - c : NC_MAX);
}

/* Per sub-block j, a vector with scale j in every int16 lane, from
 * sc16 = the 8 scales as int16 in both 128-bit lanes. */
static inline __m256i bcast_i16(__m256i sc16, int j)
{
    const __m256i ctrl = _mm256_set1_epi16((short)((2 * j) | ((2 * j + 1) << 8)));
    return _mm256_shuffle_epi8(sc16, ctrl);
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
            /* scales as int16 in both lanes; mins duplicated per 16-sum */
            const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(scm, scm));
            const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
            const float wd = _cvtsh_ss(wb_->d), wm = _cvtsh_ss(wb_->dmin);
            __m256i qlo[4], qhi[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(wb_->qs + 32 * j));
                qlo[j] = _mm256_and_si256(q, m4);
                qhi[j] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            }
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = xc[c][b].qs;
                __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m256i x0 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j));
                    __m256i x1 = _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32));
                    __m256i p0 =
                        _mm256_madd_epi16(_mm256_maddubs_epi16(qlo[j], x0), bcast_i16(sc16, 2 * j));
                    __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(qhi[j], x1),
                                                   bcast_i16(sc16, 2 * j + 1));
                    isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
                }
                const int is = hsum256_epi32(isum);
                const int im = hsum256_epi32(_mm256_madd_epi16(bs[c], mn16));
                /* the reference's float steps, block by block */
                const float d = wd * xd[c], dmin = wm * xd[c];
                acc[r][c] += d * (float)is - dmin * (float)im;
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

static void gemm_q4_k_rows(TILE_PARAMS, int nr, int nc)
{
    if (nr == 8) {
        gemm8_q4_k(k, w, wb, x, xb, y, ys, nc);
        return;
    }
    for (int r = 0; r < nr; r += 4)
        for (int c = 0; c < nc; c += 2)
            gemm_q4_k(k, (const char *)w + (size_t)r * wb, wb, (const char *)x + (size_t)c * xb, xb,
                      y + (size_t)c * ys + (size_t)r, ys, nr - r < 4 ? nr - r : 4,
                      nc - c < 2 ? nc - c : 2);
}

/* Q6_K: the 256 6-bit quants (0..63, offset 32 not yet removed) as 8 vectors
 * of 32 bytes in element order. */
static inline void q6k_unpack(const block_q6_K *b, __m256i q[8])
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x30);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                       _mm256_and_si256(hb, m2));
        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
    }
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
            __m256i q[8];
            q6k_unpack(wb_, q);
            /* the 16 int8 scales as int16: lane 0 holds 0..7, lane 1 8..15 */
            const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb_->scales));
            const __m256i slo = _mm256_permute2x128_si256(s16, s16, 0x00);
            const __m256i shi = _mm256_permute2x128_si256(s16, s16, 0x11);
            const float wd = _cvtsh_ss(wb_->d);
#pragma GCC unroll 2
            for (int c = 0; c < NC; c++) {
                const int8_t *q8 = xc[c][b].qs;
                __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    /* vector j covers sub-blocks 2j (low lane) and 2j+1 (high lane) */
                    const __m256i src = j < 4 ? slo : shi;
                    const int e = 2 * (j % 4);
                    const __m256i ctrl = _mm256_setr_epi8(
                        (char)(2 * e), (char)(2 * e + 1), (char)(2 * e), (char)(2 * e + 1),
                        (char)(2 * e), (char)(2 * e + 1), (char)(2 * e), (char)(2 * e + 1),
                        (char)(2 * e), (char)(2 * e + 1), (char)(2 * e), (char)(2 * e + 1),
                        (char)(2 * e), (char)(2 * e + 1), (char)(2 * e), (char)(2 * e + 1),
                        (char)(2 * e + 2), (char)(2 * e + 3), (char)(2 * e + 2), (char)(2 * e + 3),
                        (char)(2 * e + 2), (char)(2 * e + 3), (char)(2 * e + 2), (char)(2 * e + 3),
                        (char)(2 * e + 2), (char)(2 * e + 3), (char)(2 * e + 2), (char)(2 * e + 3),
                        (char)(2 * e + 2), (char)(2 * e + 3), (char)(2 * e + 2), (char)(2 * e + 3));
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(q8 + 32 * j));
                    __m256i p = _mm256_maddubs_epi16(q[j], xv);
                    isum = _mm256_add_epi32(isum,
                                            _mm256_madd_epi16(p, _mm256_shuffle_epi8(src, ctrl)));
                }
                /* remove the +32 offset: 32 * sum_j scale_j * bsum_j */
                __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(bs[c], s16), 5);
                isum = _mm256_sub_epi32(isum, off);
                /* the reference's float steps, block by block */
                acc[r][c] += (wd * xd[c]) * (float)hsum256_epi32(isum);
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

/* ---- vector primitives ---- */

static double sum_sq(const float *x, int64_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        v = _mm256_mul_ps(v, v);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double s = hsum256d(_mm256_add_pd(a0, a1));
    for (; i < n; i++)
        s += (double)(x[i] * x[i]);
    return s;
}

static void scale(float *y, const float *x, float s, const float *w, int64_t n)
{
    const __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    if (w != NULL) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                                  _mm256_loadu_ps(w + i)));
        for (; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
        for (; i < n; i++)
            y[i] = x[i] * s;
    }
}

static float vmax(const float *x, int64_t n)
{
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(_mm256_loadu_ps(x + i), m);
    float r = hmax256(m);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

/*
 * exp, silu and swiglu call the C library's expf per element, as the
 * reference does: an approximation (even within 2 ulp) flips the f16
 * rounding of a KV-cache entry or the 8-bit quantization of an activation
 * now and then, and from there two runs drift apart by the whole
 * quantization noise. The arithmetic around expf stays vectorised.
 */
static inline __m256 exp8(__m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int j = 0; j < 8; j++)
        t[j] = expf(t[j]);
    return _mm256_loadu_ps(t);
}

static double exp_sum(float *y, const float *x, float m, int64_t n)
{
    const __m256 vm = _mm256_set1_ps(m);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, e);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double s = hsum256d(_mm256_add_pd(a0, a1));
    for (; i < n; i++) {
        y[i] = expf(x[i] - m);
        s += (double)y[i];
    }
    return s;
}

static inline __m256 silu256(__m256 v)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 e = exp8(_mm256_xor_ps(v, sign));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static void silu(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, silu256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

static void swiglu(float *y, const float *x, const float *g, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_mul_ps(silu256(_mm256_loadu_ps(x + i)), _mm256_loadu_ps(g + i)));
    for (; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

/*
 * Attention dot products: float products summed in double, as the
 * reference does (it sums in order; four double lanes give the same float
 * result unless the double sum itself rounds across a float rounding
 * boundary, about once in 2^29 products).
 */
static inline __m256d add_pd8(__m256d acc, __m256 p, __m256d *hi)
{
    *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
}

static float dot_f32(const float *a, const float *b, int64_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        a0 = add_pd8(a0, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)), &a1);
    double s = hsum256d(_mm256_add_pd(a0, a1));
    for (; i < n; i++)
        s += (double)(a[i] * b[i]);
    return (float)s;
}

static float dot_f16(const float *a, const uint16_t *b, int64_t n)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        a0 = add_pd8(a0, _mm256_mul_ps(load_w_f16(b, i), _mm256_loadu_ps(a + i)), &a1);
    double s = hsum256d(_mm256_add_pd(a0, a1));
    for (; i < n; i++)
        s += (double)(_cvtsh_ss(b[i]) * a[i]);
    return (float)s;
}

/* y += a * x rounded as the reference does: the product, then the sum (no FMA) */
static void axpy_f32(float *y, float a, const float *x, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(va, load_w_f16(x, i))));
    for (; i < n; i++)
        y[i] += a * _cvtsh_ss(x[i]);
}

void cpu_kern_fill_avx2(cpu_kern *k)
{
    k->isa = CPU_ISA_AVX2;
    k->name = "avx2";
    /* decode (one activation row): several weight rows per call give the
     * float kernels independent FMA chains; the integer kernels stream
     * best one row at a time (measured) */
    k->gemm[PLMM_DTYPE_F32] = (cpu_gemm){gemm_f32, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_F16] = (cpu_gemm){gemm_f16, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_BF16] = (cpu_gemm){gemm_bf16, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_Q8_0] = (cpu_gemm){gemm_q8_0, 4, NC_MAX, 1, 0};
    k->gemm[PLMM_DTYPE_Q4_0] = (cpu_gemm){gemm_q4_0_rows, 8, GEMM8_MAX_NC, 8, 8};
    k->gemm[PLMM_DTYPE_Q4_K] = (cpu_gemm){gemm_q4_k_rows, 8, GEMM8_MAX_NC, 1, 8};
    k->gemm[PLMM_DTYPE_Q6_K] = (cpu_gemm){gemm_q6_k, 4, 2, 1, 0};
    k->quant_q8_0 = quant_q8_0;
    k->quant_q8_k = quant_q8_k;
    k->round_f16 = round_f16;
    k->round_bf16 = round_bf16;
    k->dequant[PLMM_DTYPE_F16] = dequant_f16;
    k->dequant[PLMM_DTYPE_BF16] = dequant_bf16;
    k->f16_to_f32 = f16_to_f32;
    k->f32_to_f16 = f32_to_f16;
    k->bf16_to_f32 = bf16_to_f32;
    k->f32_to_bf16 = f32_to_bf16;
    k->sum_sq = sum_sq;
    k->scale = scale;
    k->max = vmax;
    k->exp_sum = exp_sum;
    k->silu = silu;
    k->swiglu = swiglu;
    k->dot_f32 = dot_f32;
    k->dot_f16 = dot_f16;
    k->axpy_f32 = axpy_f32;
    k->axpy_f16 = axpy_f16;
}
