/*
 * Execution of a loaded blob: the arithmetic of the modelled NPU.
 *
 * MUL_MAT: each activation row (one token) is quantized symmetrically to
 * int8 (or int16) with scale sx = max|x| / qmax; products with the int8
 * weights accumulate in int32 (int16 activations: int32 partial sums over
 * 128 products, drained into a 64-bit total); the accumulator is
 * requantized by the weight's fixed-point multiplier to a Q16 fixed-point
 * value (saturating), scaled by sx and stored as fp16.
 * Vector ops compute in fp32. Tensors that stay inside the partition are
 * stored as fp16; the partition's inputs and outputs are f32.
 */
#include "npu.h"
#include "plmm_sdk.h"

#include <math.h>
#include <string.h>

/* Fractional bits of the requantized accumulator (an int32): with int8
 * activations acc * scale_w is about 127 * |y| / max|x|, with int16 about
 * 32767 * |y| / max|x|, so int16 keeps fewer fractional bits to stay in
 * range for outputs up to ~250x the largest input. */
#define Q_FRAC8 16
#define Q_FRAC16 8

static float ld(const float *p, int64_t i)
{
    return p[i];
}

/* Store into tensor storage; internal tensors hold fp16 values. */
static void st(float *p, int64_t i, float v, bool half)
{
    p[i] = half ? plmm_fp16_to_fp32(plmm_fp32_to_fp16(v)) : v;
}

static int64_t nel(const int64_t ne[PLMM_MAX_DIMS])
{
    return ne[0] * ne[1] * ne[2] * ne[3];
}

static uint8_t *host_addr(plmm_tensor *t)
{
    if (t->data != NULL)
        return t->data;
    if (t->buffer != NULL)
        return t->buffer->base + t->offset;
    return NULL;
}

/* Byte offset of element (i0..i3) of a tensor view. */
static uint64_t elem_off(const plmm_tensor *t, int64_t i)
{
    const int64_t i0 = i % t->ne[0], r = i / t->ne[0];
    const int64_t i1 = r % t->ne[1], r2 = r / t->ne[1];
    const int64_t i2 = r2 % t->ne[2], i3 = r2 / t->ne[2];
    return (uint64_t)i0 * t->nb[0] + (uint64_t)i1 * t->nb[1] + (uint64_t)i2 * t->nb[2] +
           (uint64_t)i3 * t->nb[3];
}

/* round(v * 2^-s) for s >= 0, v * 2^-s for s < 0; saturating to int32 */
static int32_t requant(int64_t acc, int32_t m, int32_t sh, int32_t frac)
{
    /* acc * m fits in int64 when |acc| < 2^32 */
    const int64_t p = acc * (int64_t)m;
    const int32_t s = sh - frac;
    int64_t v;
    if (s > 62)
        v = 0;
    else if (s > 0)
        v = (p + (INT64_C(1) << (s - 1))) >> s;
    else
        v = s < -30 ? (p > 0 ? INT64_MAX : p < 0 ? INT64_MIN : 0) : p * (INT64_C(1) << -s);
    return (int32_t)(v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : v);
}

static void mul_mat(plmm_compiled *cp, const npu_blob_tensor *wt, const float *x, float *y,
                    int64_t M, bool half)
{
    const int64_t K = wt->ne[0], N = wt->ne[1];
    const int8_t *w = (const int8_t *)(cp->payload + wt->data_off);
    const int32_t *mult =
        (const int32_t *)(const void *)(cp->payload + wt->data_off +
                                        ((uint64_t)K * (uint64_t)N + NPU_ALIGN - 1) / NPU_ALIGN *
                                            NPU_ALIGN);
    const int32_t *shift = mult + N;
    const bool wide = cp->h.act_bits == 16;
    const float qmax = wide ? 32767.0f : 127.0f;
    int8_t *x8 = cp->xq;
    int16_t *x16 = (int16_t *)(void *)cp->xq;
    for (int64_t m = 0; m < M; m++) {
        const float *xr = x + m * K;
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf(ld(xr, k)));
        const float sx = amax > 0 ? amax / qmax : 0.0f, inv = amax > 0 ? qmax / amax : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            long q = lrintf(ld(xr, k) * inv);
            q = q > (long)qmax ? (long)qmax : q < -(long)qmax ? -(long)qmax : q;
            if (wide)
                x16[k] = (int16_t)q;
            else
                x8[k] = (int8_t)q;
        }
        for (int64_t n = 0; n < N; n++) {
            const int8_t *wr = w + n * K;
            int64_t total = 0;
            if (wide) {
                for (int64_t k0 = 0; k0 < K; k0 += 128) {
                    const int64_t k1 = k0 + 128 < K ? k0 + 128 : K;
                    int32_t acc = 0;
                    for (int64_t k = k0; k < k1; k++)
                        acc += (int32_t)wr[k] * (int32_t)x16[k];
                    total += acc;
                }
            } else {
                int32_t acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (int32_t)wr[k] * (int32_t)x8[k];
                total = acc;
            }
            /* int16 totals can exceed 2^32: requantize in two steps then */
            const int32_t frac = wide ? Q_FRAC16 : Q_FRAC8;
            int32_t q;
            if (total > INT32_MAX || total < -INT32_MAX)
                q = requant(total / 65536, mult[n], shift[n] - 16, frac);
            else
                q = requant(total, mult[n], shift[n], frac);
            st(y, m * N + n, (float)q * (1.0f / (float)(1 << frac)) * sx, half);
        }
    }
}

static plmm_status run_node(plmm_compiled *cp, const npu_blob_node *nd)
{
    const npu_blob_tensor *dt = &cp->bt[nd->dst];
    float *y = cp->act[nd->dst];
    const bool half = dt->role == NPU_SCRATCH;
    const int64_t n = nel(dt->ne), ne0 = dt->ne[0];
    const npu_blob_tensor *at = &cp->bt[nd->src[0]];
    const float *a = cp->act[nd->src[0]];
    const float *b = NULL;
    const npu_blob_tensor *btn = nd->src[1] >= 0 ? &cp->bt[nd->src[1]] : NULL;
    if (btn != NULL && btn->role != NPU_WMAT)
        b = cp->act[nd->src[1]];
    switch (nd->op) {
    case PLMM_OP_MUL_MAT:
        mul_mat(cp, at, cp->act[nd->src[1]], y, dt->ne[1], half);
        return PLMM_OK;
    case PLMM_OP_RMS_NORM:
        for (int64_t r = 0; r < n / ne0; r++) {
            float ss = 0.0f;
            for (int64_t i = 0; i < ne0; i++) {
                float v = ld(a, r * ne0 + i);
                ss += v * v;
            }
            const float sc = 1.0f / sqrtf(ss / (float)ne0 + nd->fp[0]);
            for (int64_t i = 0; i < ne0; i++)
                st(y, r * ne0 + i, ld(a, r * ne0 + i) * sc * (b ? ld(b, i) : 1.0f), half);
        }
        return PLMM_OK;
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        for (int64_t i = 0; i < n; i++) {
            int64_t i0 = i % ne0, r = i / ne0;
            int64_t i1 = r % dt->ne[1], r2 = r / dt->ne[1];
            int64_t i2 = r2 % dt->ne[2], i3 = r2 / dt->ne[2];
            const int64_t *bn = btn->ne;
            int64_t j = (i0 % bn[0]) +
                        bn[0] * ((i1 % bn[1]) + bn[1] * ((i2 % bn[2]) + bn[2] * (i3 % bn[3])));
            float va = ld(a, i), vb = ld(b, j);
            st(y, i, nd->op == PLMM_OP_ADD ? va + vb : va * vb, half);
        }
        return PLMM_OK;
    case PLMM_OP_SCALE:
        for (int64_t i = 0; i < n; i++)
            st(y, i, ld(a, i) * nd->fp[0], half);
        return PLMM_OK;
    case PLMM_OP_SILU:
    case PLMM_OP_SWIGLU:
        for (int64_t i = 0; i < n; i++) {
            float g = ld(a, i);
            float v = g / (1.0f + expf(-g));
            st(y, i, nd->op == PLMM_OP_SWIGLU ? v * ld(b, i) : v, half);
        }
        return PLMM_OK;
    default:
        return PLMM_ERR_UNSUPPORTED;
    }
}

plmm_status npu_execute(plmm_backend_ctx *c, plmm_compiled *cp, const plmm_partition *bind)
{
    if (cp == NULL || bind == NULL || bind->struct_size < sizeof(plmm_partition) ||
        (bind->n_inputs > 0 && bind->inputs == NULL) ||
        (bind->n_outputs > 0 && bind->outputs == NULL))
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG, "compiled or binding is NULL");
    if (bind->bucket != cp->h.bucket || bind->n_inputs != cp->h.n_inputs ||
        bind->n_outputs != cp->h.n_outputs || bind->n_nodes != cp->h.n_nodes)
        return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                              "binding does not match the compiled partition (bucket %u, %u "
                              "inputs, %u outputs)",
                              cp->h.bucket, cp->h.n_inputs, cp->h.n_outputs);
    /* inputs: f32 (any strides) -> fp16 storage */
    for (uint32_t i = 0; i < cp->h.n_tensors; i++) {
        const npu_blob_tensor *t = &cp->bt[i];
        if (t->role != NPU_IN)
            continue;
        plmm_tensor *live = bind->inputs[t->index];
        const uint8_t *src = live != NULL ? host_addr(live) : NULL;
        if (src == NULL || live->dtype != t->dtype || memcmp(live->ne, t->ne, sizeof(t->ne)) != 0)
            return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                  "input %d is not host memory of the compiled dtype and shape",
                                  t->index);
        const int64_t n = nel(t->ne);
        for (int64_t k = 0; k < n; k++) {
            float v;
            memcpy(&v, src + elem_off(live, k), 4);
            cp->act[i][k] = v;
        }
    }
    for (uint32_t i = 0; i < cp->h.n_tensors; i++) {
        const npu_blob_tensor *t = &cp->bt[i];
        plmm_tensor *live = t->role == NPU_OUT ? bind->outputs[t->index] : NULL;
        if (t->role == NPU_OUT &&
            (live == NULL || host_addr(live) == NULL || live->dtype != t->dtype ||
             memcmp(live->ne, t->ne, sizeof(t->ne)) != 0))
            return plmm_sdk_error(c->host, PLMM_ERR_INVALID_ARG,
                                  "output %d is not host memory of the compiled dtype and shape",
                                  t->index);
    }
    for (uint32_t i = 0; i < cp->h.n_nodes; i++) {
        plmm_status st = run_node(cp, &cp->bn[i]);
        if (st != PLMM_OK)
            return plmm_sdk_error(c->host, st, "node %u: op %s cannot run", i,
                                  plmm_op_name(cp->bn[i].op));
    }
    /* outputs: fp16 storage -> f32 (any strides) */
    for (uint32_t i = 0; i < cp->h.n_tensors; i++) {
        const npu_blob_tensor *t = &cp->bt[i];
        if (t->role != NPU_OUT)
            continue;
        plmm_tensor *live = bind->outputs[t->index];
        uint8_t *dst = host_addr(live);
        const int64_t n = nel(t->ne);
        for (int64_t k = 0; k < n; k++) {
            float v = ld(cp->act[i], k);
            memcpy(dst + elem_off(live, k), &v, 4);
        }
    }
    return PLMM_OK;
}
