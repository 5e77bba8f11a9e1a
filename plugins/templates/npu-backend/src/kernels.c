/*
 * Host kernels of the template's default implementation: one per op the
 * device claims, following the op contracts of plmm/backend.h.
 *
 * Operands arrive as views already checked by blob_load: F32 activations
 * with rows contiguous in ne[0] (nb[0] = 4) and any row strides; MUL_MAT
 * weights as dense F32, F16 or Q8_0 rows (repacked by compile). Q8_0
 * matrices run in integer arithmetic (mul_mat_q8), the rest in f32.
 *
 * TODO(vendor): these run on the CPU only so that the template works out
 * of the box. On real silicon the compiled network runs on the NPU and
 * this file goes away (or stays as the fallback for ops your firmware
 * lacks, declared honestly in the capability table).
 */
#include "npu_template.h"
#include "plmm_sdk.h"

#include <math.h>
#include <string.h>

static float *row_of(const nt_view *v, int64_t i1, int64_t i2, int64_t i3)
{
    return (float *)(void *)(v->data + (uint64_t)i1 * v->nb[1] + (uint64_t)i2 * v->nb[2] +
                             (uint64_t)i3 * v->nb[3]);
}

/* dst = a op b, b broadcast over a (each dim of b is a's or 1). */
static void binary(const nt_view *d, const nt_view *a, const nt_view *b, uint32_t op)
{
    for (int64_t i3 = 0; i3 < d->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < d->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
                float *y = row_of(d, i1, i2, i3);
                const float *x = row_of(a, i1, i2, i3);
                const float *z = row_of(b, b->ne[1] == 1 ? 0 : i1, b->ne[2] == 1 ? 0 : i2,
                                        b->ne[3] == 1 ? 0 : i3);
                const int64_t zs = b->ne[0] == 1 ? 0 : 1;
                for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
                    y[i0] = op == PLMM_OP_ADD ? x[i0] + z[i0 * zs] : x[i0] * z[i0 * zs];
            }
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* SILU, SCALE, SWIGLU: row by row over the same shapes. */
static void unary(const nt_view *d, const nt_view *a, const nt_view *b, uint32_t op, float s)
{
    for (int64_t i3 = 0; i3 < d->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < d->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
                float *y = row_of(d, i1, i2, i3);
                const float *x = row_of(a, i1, i2, i3);
                const float *g = b != NULL ? row_of(b, i1, i2, i3) : NULL;
                for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
                    y[i0] = op == PLMM_OP_SCALE  ? x[i0] * s
                            : op == PLMM_OP_SILU ? silu(x[i0])
                                                 : silu(x[i0]) * g[i0];
            }
}

/* dst = x / sqrt(mean(x^2) + eps) * w, per row. */
static void rms_norm(const nt_view *d, const nt_view *a, const nt_view *w, float eps)
{
    const float *wr = w != NULL ? row_of(w, 0, 0, 0) : NULL;
    for (int64_t i3 = 0; i3 < d->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < d->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < d->ne[1]; i1++) {
                float *y = row_of(d, i1, i2, i3);
                const float *x = row_of(a, i1, i2, i3);
                double ss = 0.0;
                for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
                    ss += (double)x[i0] * (double)x[i0];
                const float r = (float)(1.0 / sqrt(ss / (double)d->ne[0] + (double)eps));
                for (int64_t i0 = 0; i0 < d->ne[0]; i0++)
                    y[i0] = x[i0] * r * (wr != NULL ? wr[i0] : 1.0f);
            }
}

static float dot(const float *a, const float *b, int64_t n)
{
    /* eight independent partial sums: vectorizable without -ffast-math */
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* W (K, N) F32/F16 x X (K, M) -> Y (N, M); wrow: K floats of scratch. */
static void mul_mat_float(const nt_view *y, const nt_view *w, const nt_view *x, float *wrow)
{
    const int64_t k = w->ne[0], n = w->ne[1], m = x->ne[1];
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *wr = w->data + (uint64_t)j * w->nb[1];
        const float *wf = (const float *)(const void *)wr;
        if (w->dtype == PLMM_DTYPE_F16) {
            for (int64_t i = 0; i < k; i++) {
                uint16_t hv;
                memcpy(&hv, wr + i * 2, 2);
                wrow[i] = plmm_fp16_to_fp32(hv);
            }
            wf = wrow;
        }
        for (int64_t i = 0; i < m; i++)
            row_of(y, i, 0, 0)[j] = dot(wf, row_of(x, i, 0, 0), k);
    }
}

#define QK 32 /* elements per Q8_0 block: fp16 scale + 32 int8 */

/* One activation row to int8 blocks with one scale per block: the scale is
 * amax / 127, stored (and used) at fp16 precision, as Q8_0 does. */
static void quantize_row(const float *x, int64_t k, int8_t *q, float *d)
{
    for (int64_t b = 0; b < k / QK; b++) {
        float amax = 0.0f;
        for (int i = 0; i < QK; i++)
            amax = fmaxf(amax, fabsf(x[b * QK + i]));
        const float s = amax / 127.0f, inv = s != 0.0f ? 1.0f / s : 0.0f;
        d[b] = plmm_fp16_to_fp32(plmm_fp32_to_fp16(s));
        for (int i = 0; i < QK; i++)
            q[b * QK + i] = (int8_t)roundf(x[b * QK + i] * inv);
    }
}

/*
 * W (K, N) Q8_0 x X (K, M) -> Y (N, M) the way an int8 NPU does it:
 * activations quantized per block to int8, int8 x int8 products summed in
 * int32 per block, each block sum scaled by the two fp16 scales into an
 * f32 accumulator. xq: M*K int8, xd: M*K/32 floats of scratch.
 */
static void mul_mat_q8(const nt_view *y, const nt_view *w, const nt_view *x, int8_t *xq, float *xd)
{
    const int64_t k = w->ne[0], n = w->ne[1], m = x->ne[1], nb = k / QK;
    const uint32_t bb = plmm_dtype_block_bytes(PLMM_DTYPE_Q8_0);
    for (int64_t i = 0; i < m; i++)
        quantize_row(row_of(x, i, 0, 0), k, xq + i * k, xd + i * nb);
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *wr = w->data + (uint64_t)j * w->nb[1];
        for (int64_t i = 0; i < m; i++) {
            const int8_t *q = xq + i * k;
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = wr + (uint64_t)b * bb;
                uint16_t hd;
                memcpy(&hd, blk, 2);
                int32_t sum = 0;
                for (int t = 0; t < QK; t++)
                    sum += (int32_t)(int8_t)blk[2 + t] * (int32_t)q[b * QK + t];
                acc += (float)sum * (plmm_fp16_to_fp32(hd) * xd[i * nb + b]);
            }
            row_of(y, i, 0, 0)[j] = acc;
        }
    }
}

static plmm_status mul_mat(plmm_backend_ctx *ctx, const nt_view *y, const nt_view *w,
                           const nt_view *x)
{
    const int64_t k = w->ne[0], m = x->ne[1];
    if (w->dtype == PLMM_DTYPE_Q8_0) {
        int8_t *xq = nt_alloc(ctx, (uint64_t)(m * k));
        float *xd = nt_alloc(ctx, (uint64_t)(m * (k / QK)) * sizeof(float));
        const bool ok = xq != NULL && xd != NULL;
        if (ok)
            mul_mat_q8(y, w, x, xq, xd);
        nt_free(ctx, xq);
        nt_free(ctx, xd);
        return ok ? PLMM_OK : plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory");
    }
    float *wrow = nt_alloc(ctx, (uint64_t)k * sizeof(float));
    if (wrow == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory");
    mul_mat_float(y, w, x, wrow);
    nt_free(ctx, wrow);
    return PLMM_OK;
}

plmm_status nt_run_instr(plmm_backend_ctx *ctx, const nt_blob_instr *in, nt_view *dst,
                         nt_view *const src[PLMM_MAX_SRC])
{
    switch (in->op) {
    case PLMM_OP_MUL_MAT:
        return mul_mat(ctx, dst, src[0], src[1]);
    case PLMM_OP_RMS_NORM:
        rms_norm(dst, src[0], src[1], in->fp[0]);
        return PLMM_OK;
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        binary(dst, src[0], src[1], in->op);
        return PLMM_OK;
    case PLMM_OP_SWIGLU:
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
        unary(dst, src[0], in->op == PLMM_OP_SWIGLU ? src[1] : NULL, in->op, in->fp[0]);
        return PLMM_OK;
    default:
        return plmm_sdk_error(ctx->host, PLMM_ERR_INTERNAL, "no kernel for %s",
                              plmm_op_name(in->op));
    }
}
