/*
 * AArch64 Advanced SIMD kernels (baseline ARMv8-A). The int8 dot products
 * use widening multiplies here; neon_dotprod.c replaces them with SDOT on
 * CPUs that have it. Quantization is bit-exact with the scalar reference.
 */
#include "cpu_kernels.h"

#include <arm_neon.h>
#include <math.h>

/* acc + the 16 products a[i] * b[i] (each fits int16), pairwise into 4 lanes */
static inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#define NEON_SUFFIX _mull
#include "neon_int8.h"

/* ---- helpers ---- */

/* expf for 4 lanes: same reduction and polynomial as the x86 kernels. */
static inline float32x4_t exp_f32x4(float32x4_t x)
{
    const float32x4_t xc = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(xc, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    float32x4_t e = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1);
    const int32x4_t n2 = vsubq_s32(ni, n1);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    e = vmulq_f32(vmulq_f32(e, s1), s2);
    /* below -104: 0; NaN stays NaN */
    e = vbslq_f32(vcltq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(0.0f), e);
    return vbslq_f32(vceqq_f32(x, x), e, x);
}

static inline float32x4_t load_f16x4(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static inline float32x4_t load_bf16x4(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* ---- activation quantization ---- */

static void quant_q8_0(const float *x, block_q8_0 *y, int64_t k)
{
    for (int64_t b = 0; b < k / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(xb + 4 * i);
            m = vmaxnmq_f32(m, vabsq_f32(v[i]));
        }
        const float amax = vmaxnmvq_f32(m);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = cpu_f32_to_f16(d);
        const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
        for (int i = 0; i < 8; i += 2) {
            /* nearest even, as the reference; the clamp maps NaN like fmaxf */
            float32x4_t r0 = vrndnq_f32(vmulq_n_f32(v[i], id));
            float32x4_t r1 = vrndnq_f32(vmulq_n_f32(v[i + 1], id));
            r0 = vminnmq_f32(vmaxnmq_f32(r0, lo), hi);
            r1 = vminnmq_f32(vmaxnmq_f32(r1, lo), hi);
            const int16x8_t q16 =
                vcombine_s16(vmovn_s32(vcvtq_s32_f32(r0)), vmovn_s32(vcvtq_s32_f32(r1)));
            vst1_s8(y[b].qs + 4 * i, vmovn_s16(q16));
        }
    }
}

static void quant_q8_k(const float *x, block_q8_K *y, int64_t k)
{
    for (int64_t b = 0; b < k / QK_K; b++) {
        const float *xb = x + b * QK_K;
        float amax = 0.0f, max = 0.0f;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < QK_K; i += 4)
            m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(xb + i)));
        amax = vmaxnmvq_f32(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        /* the first element of largest magnitude sets the sign */
        for (int i = 0; i < QK_K; i++) {
            if (fabsf(xb[i]) == amax) {
                max = xb[i];
                break;
            }
        }
        const float iscale = -127.0f / max;
        for (int i = 0; i < QK_K; i += 8) {
            float32x4_t r0 = vrndnq_f32(vmulq_n_f32(vld1q_f32(xb + i), iscale));
            float32x4_t r1 = vrndnq_f32(vmulq_n_f32(vld1q_f32(xb + i + 4), iscale));
            r0 = vminnmq_f32(vmaxnmq_f32(r0, vdupq_n_f32(-128.0f)), vdupq_n_f32(127.0f));
            r1 = vminnmq_f32(vmaxnmq_f32(r1, vdupq_n_f32(-128.0f)), vdupq_n_f32(127.0f));
            const int16x8_t q16 =
                vcombine_s16(vmovn_s32(vcvtq_s32_f32(r0)), vmovn_s32(vcvtq_s32_f32(r1)));
            vst1_s8(y[b].qs + i, vmovn_s16(q16));
        }
        for (int j = 0; j < QK_K / 16; j++)
            y[b].bsums[j] = (int16_t)vaddlvq_s8(vld1q_s8(y[b].qs + 16 * j));
        y[b].d = 1.0f / iscale;
    }
}

static void round_f16(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        y[i] = cpu_round_f16(x[i]);
}

/* f32 bits -> bf16 bits in the high half (nearest even; NaN stays quiet) */
static inline uint32x4_t bf16_round_bits(uint32x4_t u)
{
    const uint32x4_t isnan =
        vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u));
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    uint32x4_t r = vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7fff)), lsb);
    r = vbslq_u32(isnan, vorrq_u32(u, vdupq_n_u32(0x400000u)), r);
    return vandq_u32(r, vdupq_n_u32(0xffff0000u));
}

static void round_bf16(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i,
                  vreinterpretq_f32_u32(bf16_round_bits(vreinterpretq_u32_f32(vld1q_f32(x + i)))));
    for (; i < n; i++)
        y[i] = cpu_round_bf16(x[i]);
}

/* ---- conversions ---- */

static void f16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, load_f16x4(x + i));
    for (; i < n; i++)
        y[i] = cpu_f16_to_f32(x[i]);
}

static void f32_to_f16(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        y[i] = cpu_f32_to_f16(x[i]);
}

static void bf16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, load_bf16x4(x + i));
    for (; i < n; i++)
        y[i] = cpu_bf16_to_f32(x[i]);
}

static void f32_to_bf16(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32x4_t r = bf16_round_bits(vreinterpretq_u32_f32(vld1q_f32(x + i)));
        vst1_u16(y + i, vshrn_n_u32(r, 16));
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

/* ---- float MUL_MAT tiles ---- */

#define TILE_PARAMS                                                                                \
    int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y, size_t ys
#define TILE_ARGS k, w, wb, x, xb, y, ys

static inline float32x4_t load_w_f32(const void *row, int64_t i)
{
    return vld1q_f32((const float *)row + i);
}

static inline float32x4_t load_w_f16(const void *row, int64_t i)
{
    return load_f16x4((const uint16_t *)row + i);
}

static inline float32x4_t load_w_bf16(const void *row, int64_t i)
{
    return load_bf16x4((const uint16_t *)row + i);
}

static inline float scalar_w_f32(const void *row, int64_t i)
{
    return ((const float *)row)[i];
}

static inline float scalar_w_f16(const void *row, int64_t i)
{
    return cpu_f16_to_f32(((const uint16_t *)row)[i]);
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
        float32x4_t acc[4][2];                                                                     \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) wr[r] =                               \
            (const char *)w + (size_t)r * wb;                                                      \
        _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xc[c] =                               \
            (const char *)x + (size_t)c * xb;                                                      \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);    \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= k; i += 4) {                                                               \
            float32x4_t xv[2];                                                                     \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) xv[c] =                           \
                vld1q_f32((const float *)xc[c] + i);                                               \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                   \
            {                                                                                      \
                const float32x4_t wv = load_w_##SUFFIX(wr[r], i);                                  \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++) acc[r][c] =                   \
                    vfmaq_f32(acc[r][c], wv, xv[c]);                                               \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                                   \
        {                                                                                          \
            float s = vaddvq_f32(acc[r][c]);                                                       \
            for (int64_t j = i; j < k; j++)                                                        \
                s += scalar_w_##SUFFIX(wr[r], j) * ((const float *)xc[c])[j];                      \
            y[(size_t)c * ys + (size_t)r] = s;                                                     \
        }                                                                                          \
    }                                                                                              \
    static void gemm_##SUFFIX(TILE_PARAMS, int nr, int nc)                                         \
    {                                                                                              \
        NI8_DISPATCH(TILE_##SUFFIX);                                                               \
    }

#define TILE_f32(R, C) tile_f32(TILE_ARGS, R, C)
#define TILE_f16(R, C) tile_f16(TILE_ARGS, R, C)
#define TILE_bf16(R, C) tile_bf16(TILE_ARGS, R, C)

DEFINE_FLOAT_TILE(f32)
DEFINE_FLOAT_TILE(f16)
DEFINE_FLOAT_TILE(bf16)

/* ---- vector primitives ---- */

static double sum_sq(const float *x, int64_t n)
{
    float64x2_t a0 = vdupq_n_f64(0.0), a1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t sq = vmulq_f32(v, v);
        a0 = vaddq_f64(a0, vcvt_f64_f32(vget_low_f32(sq)));
        a1 = vaddq_f64(a1, vcvt_high_f64_f32(sq));
    }
    double s = vaddvq_f64(vaddq_f64(a0, a1));
    for (; i < n; i++)
        s += (double)(x[i] * x[i]);
    return s;
}

static void scale(float *y, const float *x, float s, const float *w, int64_t n)
{
    int64_t i = 0;
    if (w != NULL) {
        for (; i + 4 <= n; i += 4)
            vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), s), vld1q_f32(w + i)));
        for (; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    } else {
        for (; i + 4 <= n; i += 4)
            vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(x + i), s));
        for (; i < n; i++)
            y[i] = x[i] * s;
    }
}

static float vmax(const float *x, int64_t n)
{
    float32x4_t m = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        m = vmaxq_f32(m, vld1q_f32(x + i));
    float r = vmaxvq_f32(m);
    for (; i < n; i++)
        r = x[i] > r ? x[i] : r;
    return r;
}

static double exp_sum(float *y, const float *x, float m, int64_t n)
{
    float64x2_t a0 = vdupq_n_f64(0.0), a1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp_f32x4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(m)));
        vst1q_f32(y + i, e);
        a0 = vaddq_f64(a0, vcvt_f64_f32(vget_low_f32(e)));
        a1 = vaddq_f64(a1, vcvt_high_f64_f32(e));
    }
    double s = vaddvq_f64(vaddq_f64(a0, a1));
    for (; i < n; i++) {
        y[i] = expf(x[i] - m);
        s += (double)y[i];
    }
    return s;
}

static inline float32x4_t silu_f32x4(float32x4_t v)
{
    const float32x4_t e = exp_f32x4(vnegq_f32(v));
    return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), e));
}

static void silu(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, silu_f32x4(vld1q_f32(x + i)));
    for (; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

static void swiglu(float *y, const float *x, const float *g, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(silu_f32x4(vld1q_f32(x + i)), vld1q_f32(g + i)));
    for (; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

static float dot_f32(const float *a, const float *b, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float dot_f16(const float *a, const uint16_t *b, int64_t n)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), load_f16x4(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), load_f16x4(b + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), load_f16x4(b + i));
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++)
        s += a[i] * cpu_f16_to_f32(b[i]);
    return s;
}

static void axpy_f32(float *y, float a, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] += a * x[i];
}

static void axpy_f16(float *y, float a, const uint16_t *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load_f16x4(x + i), a));
    for (; i < n; i++)
        y[i] += a * cpu_f16_to_f32(x[i]);
}

void cpu_kern_fill_neon(cpu_kern *k)
{
    k->isa = CPU_ISA_NEON;
    k->name = "neon";
    k->gemm[PLMM_DTYPE_F32] = (cpu_gemm){gemm_f32, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_F16] = (cpu_gemm){gemm_f16, 4, 2, 4, 0};
    k->gemm[PLMM_DTYPE_BF16] = (cpu_gemm){gemm_bf16, 4, 2, 4, 0};
    ni8_fill_mull(k);
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
