/*
 * GGUF weight rows to f32, for compile-time repacking. The block layouts
 * are GGUF's (ggml's) exactly; plmm_dtype_block_bytes() gives their sizes.
 *
 * TODO(vendor): an int8 NPU would requantize these rows to its own format
 * here (e.g. per-output-channel int8 with a fixed-point scale) instead of
 * keeping f32/f16 values.
 */
#include "npu_template.h"
#include "plmm_sdk.h"

#include <string.h>

static float half(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return plmm_fp16_to_fp32(h);
}

/* Q8_0, 32 elements: fp16 d, int8 q[32]; x = d * q. */
static void q8_0(const uint8_t *b, float *y)
{
    const float d = half(b);
    for (int i = 0; i < 32; i++)
        y[i] = d * (float)(int8_t)b[2 + i];
}

/* Q4_0, 32 elements: fp16 d, 16 bytes of nibbles (low nibbles are elements
 * 0..15, high nibbles 16..31); x = d * (nibble - 8). */
static void q4_0(const uint8_t *b, float *y)
{
    const float d = half(b);
    for (int i = 0; i < 16; i++) {
        y[i] = d * (float)((b[2 + i] & 0x0F) - 8);
        y[i + 16] = d * (float)((b[2 + i] >> 4) - 8);
    }
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K block. */
static void k4_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q4_K, 256 elements: fp16 d, fp16 dmin, 12 bytes of packed 6-bit scales
 * and mins, 128 bytes of nibbles; 8 sub-blocks of 32, x = d*sc*q - dmin*m.
 * Each 32 bytes of nibbles hold two sub-blocks (low, then high nibbles). */
static void q4_k(const uint8_t *b, float *y)
{
    const float d = half(b), dmin = half(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
        uint8_t sc0, m0, sc1, m1;
        k4_scale_min(scales, j, &sc0, &m0);
        k4_scale_min(scales, j + 1, &sc1, &m1);
        const float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
        for (int l = 0; l < 32; l++) {
            y[l] = d0 * (float)(q[l] & 0x0F) - o0;
            y[l + 32] = d1 * (float)(q[l] >> 4) - o1;
        }
    }
}

/* Q6_K, 256 elements: 128 bytes of low nibbles, 64 bytes of high 2-bit
 * pairs, 16 int8 scales, fp16 d; x = d * scale * (q6 - 32), in two halves
 * of 128 elements, each four runs of 32. */
static void q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(const void *)(b + 192);
    const float d = half(b + 208);
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, y += 128)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

bool nt_dequant_row(uint32_t dtype, const uint8_t *row, int64_t n, float *out)
{
    const uint32_t be = plmm_dtype_block_elems(dtype), bb = plmm_dtype_block_bytes(dtype);
    if (be == 0 || n % be != 0)
        return false;
    switch (dtype) {
    case PLMM_DTYPE_F32:
        memcpy(out, row, (size_t)n * sizeof(float));
        return true;
    case PLMM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = half(row + i * 2);
        return true;
    case PLMM_DTYPE_Q8_0:
    case PLMM_DTYPE_Q4_0:
    case PLMM_DTYPE_Q4_K:
    case PLMM_DTYPE_Q6_K:
        for (int64_t k = 0; k < n / be; k++) {
            const uint8_t *b = row + (uint64_t)k * bb;
            float *y = out + k * be;
            if (dtype == PLMM_DTYPE_Q8_0)
                q8_0(b, y);
            else if (dtype == PLMM_DTYPE_Q4_0)
                q4_0(b, y);
            else if (dtype == PLMM_DTYPE_Q4_K)
                q4_k(b, y);
            else
                q6_k(b, y);
        }
        return true;
    default:
        return false;
    }
}
