/*
 * Scalar reference kernels of the CPU backend. These define the numerics
 * every SIMD table must reproduce (up to float summation order) and are the
 * oracle of the conformance suite.
 *
 * MUL_MAT follows the scheme of GGUF's reference runtime so logits agree
 * with its outputs: activations are converted per row to the weight's
 * vec-dot format (Q8_0 blocks for Q8_0/Q4_0, Q8_K blocks for Q4_K/Q6_K,
 * f16 or bf16 precision for F16/BF16 weights, f32 for F32), then integer
 * (or float) dot products are scaled by the block scales.
 */
#include "cpu_kernels.h"

#include <math.h>
#include <string.h>

/* ---- activation quantization ---- */

/* x (k) -> Q8_0 blocks: d = amax / 127 (stored as f16), q = x * (127 / amax)
 * rounded to nearest even: the formula of the x86 SIMD quantizer of GGUF's
 * reference runtime, which produced the golden logits (its scalar
 * fallback, x / d rounded half away from zero, differs in rare ties and
 * last-bit cases). The clamp also maps NaN to -127. */
void cpu_ref_quant_q8_0(const float *x, block_q8_0 *y, int64_t k)
{
    for (int64_t b = 0; b < k / QK8_0; b++) {
        const float *xb = x + b * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = cpu_f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) {
            float v = nearbyintf(xb[j] * id);
            v = fmaxf(v, -127.0f);
            v = fminf(v, 127.0f);
            y[b].qs[j] = (int8_t)v;
        }
    }
}

/*
 * x (k) -> Q8_K blocks. The element of largest magnitude maps to -127
 * (scale = -127 / max), quants are rounded to nearest even and capped at
 * 127; d = 1 / scale. bsums hold the sums of each 16 quants.
 */
void cpu_ref_quant_q8_k(const float *x, block_q8_K *y, int64_t k)
{
    for (int64_t b = 0; b < k / QK_K; b++) {
        const float *xb = x + b * QK_K;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            float v = nearbyintf(iscale * xb[j]);
            v = fmaxf(v, -128.0f);
            v = fminf(v, 127.0f);
            y[b].qs[j] = (int8_t)v;
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int i = 0; i < 16; i++)
                s += y[b].qs[16 * j + i];
            y[b].bsums[j] = (int16_t)s;
        }
        y[b].d = 1.0f / iscale;
    }
}

static void ref_round_f16(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_round_f16(x[i]);
}

static void ref_round_bf16(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_round_bf16(x[i]);
}

/* ---- dequantization: one row of k elements -> f32 ---- */

void cpu_ref_dequant_f32(const void *x, float *y, int64_t k)
{
    memcpy(y, x, (size_t)k * sizeof(float));
}

void cpu_ref_dequant_f16(const void *x, float *y, int64_t k)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < k; i++)
        y[i] = cpu_f16_to_f32(h[i]);
}

void cpu_ref_dequant_bf16(const void *x, float *y, int64_t k)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < k; i++)
        y[i] = cpu_bf16_to_f32(h[i]);
}

void cpu_ref_dequant_q8_0(const void *x, float *y, int64_t k)
{
    const block_q8_0 *b = x;
    for (int64_t i = 0; i < k / QK8_0; i++) {
        const float d = cpu_f16_to_f32(b[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[i * QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

void cpu_ref_dequant_q4_0(const void *x, float *y, int64_t k)
{
    const block_q4_0 *b = x;
    for (int64_t i = 0; i < k / QK4_0; i++) {
        const float d = cpu_f16_to_f32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[i * QK4_0 + j] = d * (float)((b[i].qs[j] & 0xf) - 8);
            y[i * QK4_0 + j + QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

void cpu_ref_dequant_q4_k(const void *x, float *y, int64_t k)
{
    const block_q4_K *b = x;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = cpu_f16_to_f32(b[i].d);
        const float dmin = cpu_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        float *yb = y + i * QK_K;
        for (int j = 0; j < QK_K / 64; j++) {
            uint8_t sc0, m0, sc1, m1;
            cpu_q4k_scale_min(2 * j, b[i].scales, &sc0, &m0);
            cpu_q4k_scale_min(2 * j + 1, b[i].scales, &sc1, &m1);
            const float d0 = d * sc0, dm0 = dmin * m0;
            const float d1 = d * sc1, dm1 = dmin * m1;
            for (int l = 0; l < 32; l++) {
                yb[64 * j + l] = d0 * (float)(q[l] & 0xf) - dm0;
                yb[64 * j + 32 + l] = d1 * (float)(q[l] >> 4) - dm1;
            }
            q += 32;
        }
    }
}

/* The 6-bit quant i (0..255) of a Q6_K block, minus 32. */
static int q6k_quant(const block_q6_K *b, int i)
{
    const int half = i / 128, l = i % 128;
    const uint8_t *ql = b->ql + 64 * half;
    const uint8_t *qh = b->qh + 32 * half;
    const int group = l / 32, pos = l % 32;
    int lo, hi;
    switch (group) {
    case 0:
        lo = ql[pos] & 0xf;
        hi = (qh[pos] >> 0) & 3;
        break;
    case 1:
        lo = ql[pos + 32] & 0xf;
        hi = (qh[pos] >> 2) & 3;
        break;
    case 2:
        lo = ql[pos] >> 4;
        hi = (qh[pos] >> 4) & 3;
        break;
    default:
        lo = ql[pos + 32] >> 4;
        hi = (qh[pos] >> 6) & 3;
        break;
    }
    return (lo | (hi << 4)) - 32;
}

void cpu_ref_dequant_q6_k(const void *x, float *y, int64_t k)
{
    const block_q6_K *b = x;
    for (int64_t i = 0; i < k / QK_K; i++) {
        const float d = cpu_f16_to_f32(b[i].d);
        for (int j = 0; j < QK_K; j++)
            y[i * QK_K + j] = d * (float)b[i].scales[j / 16] * (float)q6k_quant(&b[i], j);
    }
}

void cpu_ref_dequant_q8_k(const void *x, float *y, int64_t k)
{
    const block_q8_K *b = x;
    for (int64_t i = 0; i < k / QK_K; i++)
        for (int j = 0; j < QK_K; j++)
            y[i * QK_K + j] = b[i].d * (float)b[i].qs[j];
}

/* ---- dot products: weight row (k) . activation row in vec-dot format ---- */

static float dot_f32(int64_t k, const float *w, const float *x)
{
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)(w[i] * x[i]);
    return (float)s;
}

static float dot_f16(int64_t k, const uint16_t *w, const float *x)
{
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)(cpu_f16_to_f32(w[i]) * x[i]);
    return (float)s;
}

static float dot_bf16(int64_t k, const uint16_t *w, const float *x)
{
    double s = 0.0;
    for (int64_t i = 0; i < k; i++)
        s += (double)(cpu_bf16_to_f32(w[i]) * x[i]);
    return (float)s;
}

static float dot_q8_0(int64_t k, const block_q8_0 *w, const block_q8_0 *x)
{
    float s = 0.0f;
    for (int64_t b = 0; b < k / QK8_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++)
            isum += w[b].qs[j] * x[b].qs[j];
        s += (float)isum * (cpu_f16_to_f32(w[b].d) * cpu_f16_to_f32(x[b].d));
    }
    return s;
}

static float dot_q4_0(int64_t k, const block_q4_0 *w, const block_q8_0 *x)
{
    float s = 0.0f;
    for (int64_t b = 0; b < k / QK4_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((w[b].qs[j] & 0xf) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        s += (float)isum * (cpu_f16_to_f32(w[b].d) * cpu_f16_to_f32(x[b].d));
    }
    return s;
}

static float dot_q4_k(int64_t k, const block_q4_K *w, const block_q8_K *x)
{
    float s = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        const uint8_t *q = w[b].qs;
        const int8_t *q8 = x[b].qs;
        int isum = 0, imin = 0;
        for (int j = 0; j < QK_K / 64; j++) {
            uint8_t sc0, m0, sc1, m1;
            cpu_q4k_scale_min(2 * j, w[b].scales, &sc0, &m0);
            cpu_q4k_scale_min(2 * j + 1, w[b].scales, &sc1, &m1);
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xf) * q8[l];
                s1 += (q[l] >> 4) * q8[l + 32];
            }
            isum += sc0 * s0 + sc1 * s1;
            imin += m0 * (x[b].bsums[4 * j] + x[b].bsums[4 * j + 1]);
            imin += m1 * (x[b].bsums[4 * j + 2] + x[b].bsums[4 * j + 3]);
            q += 32;
            q8 += 64;
        }
        const float d = cpu_f16_to_f32(w[b].d) * x[b].d;
        const float dmin = cpu_f16_to_f32(w[b].dmin) * x[b].d;
        s += d * (float)isum - dmin * (float)imin;
    }
    return s;
}

static float dot_q6_k(int64_t k, const block_q6_K *w, const block_q8_K *x)
{
    float s = 0.0f;
    for (int64_t b = 0; b < k / QK_K; b++) {
        int isum = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int sj = 0;
            for (int i = 0; i < 16; i++)
                sj += q6k_quant(&w[b], 16 * j + i) * x[b].qs[16 * j + i];
            isum += w[b].scales[j] * sj;
        }
        s += (cpu_f16_to_f32(w[b].d) * x[b].d) * (float)isum;
    }
    return s;
}

float cpu_ref_vec_dot(uint32_t wtype, int64_t k, const void *w, const void *x)
{
    switch (wtype) {
    case PLMM_DTYPE_F32:
        return dot_f32(k, w, x);
    case PLMM_DTYPE_F16:
        return dot_f16(k, w, x);
    case PLMM_DTYPE_BF16:
        return dot_bf16(k, w, x);
    case PLMM_DTYPE_Q8_0:
        return dot_q8_0(k, w, x);
    case PLMM_DTYPE_Q4_0:
        return dot_q4_0(k, w, x);
    case PLMM_DTYPE_Q4_K:
        return dot_q4_k(k, w, x);
    case PLMM_DTYPE_Q6_K:
        return dot_q6_k(k, w, x);
    default:
        return 0.0f;
    }
}

/* Every (r, c) of the tile as one reference dot product. */
#define DEFINE_REF_GEMM(NAME, WTYPE)                                                               \
    static void NAME(int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y,      \
                     size_t ys, int nr, int nc)                                                    \
    {                                                                                              \
        for (int c = 0; c < nc; c++)                                                               \
            for (int r = 0; r < nr; r++)                                                           \
                y[(size_t)c * ys + (size_t)r] = cpu_ref_vec_dot(                                   \
                    WTYPE, k, (const char *)w + (size_t)r * wb, (const char *)x + (size_t)c * xb); \
    }

DEFINE_REF_GEMM(gemm_f32, PLMM_DTYPE_F32)
DEFINE_REF_GEMM(gemm_f16, PLMM_DTYPE_F16)
DEFINE_REF_GEMM(gemm_bf16, PLMM_DTYPE_BF16)
DEFINE_REF_GEMM(gemm_q8_0, PLMM_DTYPE_Q8_0)
DEFINE_REF_GEMM(gemm_q4_0, PLMM_DTYPE_Q4_0)
DEFINE_REF_GEMM(gemm_q4_k, PLMM_DTYPE_Q4_K)
DEFINE_REF_GEMM(gemm_q6_k, PLMM_DTYPE_Q6_K)

/* ---- conversions ---- */

static void ref_f16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_f16_to_f32(x[i]);
}

static void ref_f32_to_f16(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_f32_to_f16(x[i]);
}

static void ref_bf16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_bf16_to_f32(x[i]);
}

static void ref_f32_to_bf16(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = cpu_f32_to_bf16(x[i]);
}

/* ---- vector primitives ---- */

float cpu_ref_expf(float x)
{
    return expf(x);
}

static double ref_sum_sq(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(x[i] * x[i]);
    return s;
}

static void ref_scale(float *y, const float *x, float s, const float *w, int64_t n)
{
    if (w != NULL) {
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] * s) * w[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * s;
    }
}

static float ref_max(const float *x, int64_t n)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

static double ref_exp_sum(float *y, const float *x, float m, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - m);
        s += (double)y[i];
    }
    return s;
}

static void ref_silu(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

static void ref_swiglu(float *y, const float *x, const float *g, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

static float ref_dot_f32(const float *a, const float *b, int64_t n)
{
    return dot_f32(n, b, a);
}

static float ref_dot_f16(const float *a, const uint16_t *b, int64_t n)
{
    return dot_f16(n, b, a);
}

static void ref_axpy_f32(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void ref_axpy_f16(float *y, float a, const uint16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * cpu_f16_to_f32(x[i]);
}

/* ---- vec-dot formats ---- */

uint32_t cpu_vec_dot_type(uint32_t wtype)
{
    switch (wtype) {
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0:
        return PLMM_DTYPE_Q8_0;
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q6_K:
        return PLMM_DTYPE_Q8_K;
    default:
        return wtype;
    }
}

bool cpu_weight_type_ok(uint32_t wtype)
{
    switch (wtype) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_BF16:
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0:
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

size_t cpu_q8_0_offsets_at(int64_t k)
{
    return ((size_t)(k / QK8_0) * sizeof(block_q8_0) + 3) / 4 * 4;
}

size_t cpu_vec_dot_row_bytes(uint32_t wtype, int64_t k)
{
    switch (cpu_vec_dot_type(wtype)) {
    case PLMM_DTYPE_Q8_0:
        return cpu_q8_0_offsets_at(k) + (size_t)(k / QK8_0) * 2 * sizeof(int32_t);
    case PLMM_DTYPE_Q8_K:
        return (size_t)(k / QK_K) * sizeof(block_q8_K);
    default:
        return (size_t)k * sizeof(float); /* f32 values (f16/bf16-rounded) */
    }
}

void cpu_vec_dot_convert(const cpu_kern *kern, uint32_t wtype, const float *x, void *y, int64_t k)
{
    switch (wtype) {
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0: {
        block_q8_0 *blk = y;
        const int64_t nb = k / QK8_0;
        int32_t *off = (int32_t *)(void *)((char *)y + cpu_q8_0_offsets_at(k));
        float *dx = (float *)(void *)(off + nb);
        kern->quant_q8_0(x, blk, k);
        for (int64_t b = 0; b < nb; b++) {
            int32_t s = 0;
            for (int j = 0; j < QK8_0; j++)
                s += blk[b].qs[j];
            off[b] = 8 * s;
            dx[b] = cpu_f16_to_f32(blk[b].d);
        }
        break;
    }
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q6_K:
        kern->quant_q8_k(x, y, k);
        break;
    case PLMM_DTYPE_F16:
        kern->round_f16(x, y, k);
        break;
    case PLMM_DTYPE_BF16:
        kern->round_bf16(x, y, k);
        break;
    default:
        memmove(y, x, (size_t)k * sizeof(float));
        break;
    }
}

/* ---- the scalar table ---- */

void cpu_kern_fill_generic(cpu_kern *k)
{
    memset(k, 0, sizeof(*k));
    k->isa = CPU_ISA_SCALAR;
    k->name = "scalar";
    k->gemm[PLMM_DTYPE_F32] = (cpu_gemm){gemm_f32, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_F16] = (cpu_gemm){gemm_f16, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_BF16] = (cpu_gemm){gemm_bf16, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_Q8_0] = (cpu_gemm){gemm_q8_0, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_Q4_0] = (cpu_gemm){gemm_q4_0, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_Q4_K] = (cpu_gemm){gemm_q4_k, 4, 4, 4, 0};
    k->gemm[PLMM_DTYPE_Q6_K] = (cpu_gemm){gemm_q6_k, 4, 4, 4, 0};
    k->quant_q8_0 = cpu_ref_quant_q8_0;
    k->quant_q8_k = cpu_ref_quant_q8_k;
    k->round_f16 = ref_round_f16;
    k->round_bf16 = ref_round_bf16;
    k->dequant[PLMM_DTYPE_F32] = cpu_ref_dequant_f32;
    k->dequant[PLMM_DTYPE_F16] = cpu_ref_dequant_f16;
    k->dequant[PLMM_DTYPE_BF16] = cpu_ref_dequant_bf16;
    k->dequant[PLMM_DTYPE_Q8_0] = cpu_ref_dequant_q8_0;
    k->dequant[PLMM_DTYPE_Q4_0] = cpu_ref_dequant_q4_0;
    k->dequant[PLMM_DTYPE_Q4_K] = cpu_ref_dequant_q4_k;
    k->dequant[PLMM_DTYPE_Q6_K] = cpu_ref_dequant_q6_k;
    k->f16_to_f32 = ref_f16_to_f32;
    k->f32_to_f16 = ref_f32_to_f16;
    k->bf16_to_f32 = ref_bf16_to_f32;
    k->f32_to_bf16 = ref_f32_to_bf16;
    k->sum_sq = ref_sum_sq;
    k->scale = ref_scale;
    k->max = ref_max;
    k->exp_sum = ref_exp_sum;
    k->silu = ref_silu;
    k->swiglu = ref_swiglu;
    k->dot_f32 = ref_dot_f32;
    k->dot_f16 = ref_dot_f16;
    k->axpy_f32 = ref_axpy_f32;
    k->axpy_f16 = ref_axpy_f16;
}
