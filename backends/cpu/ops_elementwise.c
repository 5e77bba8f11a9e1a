/*
 * Row-wise ops: GET_ROWS, RMS_NORM, ADD, MUL, ROPE, SOFTMAX, SILU, SWIGLU,
 * SCALE, CPY. Each splits its rows evenly over the threads; the numerics
 * of every row come from the kernel table.
 */
#include "cpu_ops.h"

#include <math.h>
#include <string.h>

/* Address of row r (flattened over ne[1..3]) of a tensor based at p. */
static inline char *row_ptr(const plmm_tensor *t, const char *p, int64_t r)
{
    const int64_t i1 = r % t->ne[1];
    const int64_t i2 = (r / t->ne[1]) % t->ne[2];
    const int64_t i3 = r / (t->ne[1] * t->ne[2]);
    return (char *)p + (uint64_t)i1 * t->nb[1] + (uint64_t)i2 * t->nb[2] + (uint64_t)i3 * t->nb[3];
}

static inline int64_t n_rows(const plmm_tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---- GET_ROWS ---- */

void cpu_op_get_rows(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *w = nd->src[0], *ids = nd->src[1], *d = nd->dst;
    int64_t r0, r1;
    cpu_split(ids->ne[0], e->ith, e->nth, &r0, &r1);
    for (int64_t i = r0; i < r1; i++) {
        int32_t id;
        memcpy(&id, t->src[1] + (uint64_t)i * ids->nb[0], sizeof(id));
        if (id < 0 || id >= w->ne[1]) {
            cpu_exec_fail(e, PLMM_ERR_RANGE, "row id %d at index %lld outside [0, %lld)", (int)id,
                          (long long)i, (long long)w->ne[1]);
            return;
        }
        e->k->dequant[w->dtype](t->src[0] + (uint64_t)id * w->nb[1],
                                (float *)(t->dst + (uint64_t)i * d->nb[1]), w->ne[0]);
    }
}

/* ---- RMS_NORM ---- */

void cpu_op_rms_norm(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *x = nd->src[0], *d = nd->dst;
    const float eps = nd->fp[0];
    const float *w = nd->src[1] != NULL ? (const float *)t->src[1] : NULL;
    const int64_t n = x->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(x), e->ith, e->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = (const float *)row_ptr(x, t->src[0], r);
        float *yr = (float *)row_ptr(d, t->dst, r);
        const float mean = (float)(e->k->sum_sq(xr, n) / (double)n);
        const float s = 1.0f / sqrtf(mean + eps);
        e->k->scale(yr, xr, s, w, n);
    }
}

/* ---- ADD, MUL (src1 broadcast over any dim of size 1) ---- */

void cpu_op_binary(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *a = nd->src[0], *b = nd->src[1], *d = nd->dst;
    const bool add = nd->op == PLMM_OP_ADD;
    const int64_t n = a->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(a), e->ith, e->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % a->ne[1], i2 = (r / a->ne[1]) % a->ne[2];
        const int64_t i3 = r / (a->ne[1] * a->ne[2]);
        const float *ar = (const float *)row_ptr(a, t->src[0], r);
        float *yr = (float *)row_ptr(d, t->dst, r);
        const float *br = (const float *)(t->src[1] + (uint64_t)(i1 % b->ne[1]) * b->nb[1] +
                                          (uint64_t)(i2 % b->ne[2]) * b->nb[2] +
                                          (uint64_t)(i3 % b->ne[3]) * b->nb[3]);
        if (b->ne[0] == 1) {
            const float v = br[0];
            if (add)
                for (int64_t i = 0; i < n; i++)
                    yr[i] = ar[i] + v;
            else
                for (int64_t i = 0; i < n; i++)
                    yr[i] = ar[i] * v;
        } else if (add) {
            for (int64_t i = 0; i < n; i++)
                yr[i] = ar[i] + br[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                yr[i] = ar[i] * br[i];
        }
    }
}

/* ---- SILU, SWIGLU, SCALE ---- */

void cpu_op_unary(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *x = nd->src[0], *d = nd->dst;
    const int64_t n = x->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(x), e->ith, e->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = (const float *)row_ptr(x, t->src[0], r);
        float *yr = (float *)row_ptr(d, t->dst, r);
        switch (nd->op) {
        case PLMM_OP_SILU:
            e->k->silu(yr, xr, n);
            break;
        case PLMM_OP_SWIGLU:
            e->k->swiglu(yr, xr, (const float *)row_ptr(nd->src[1], t->src[1], r), n);
            break;
        default:
            e->k->scale(yr, xr, nd->fp[0], NULL, n);
            break;
        }
    }
}

/* ---- SOFTMAX ---- */

void cpu_op_softmax(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *x = nd->src[0], *mask = nd->src[1], *d = nd->dst;
    const int64_t n = x->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(x), e->ith, e->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = (const float *)row_ptr(x, t->src[0], r);
        float *yr = (float *)row_ptr(d, t->dst, r);
        e->k->scale(yr, xr, nd->fp[0], NULL, n);
        if (mask != NULL) {
            const float *mr = (const float *)(t->src[1] + (uint64_t)(r % x->ne[1]) * mask->nb[1]);
            for (int64_t i = 0; i < n; i++)
                yr[i] += mr[i];
        }
        const float m = e->k->max(yr, n);
        const double sum = e->k->exp_sum(yr, yr, m, n);
        e->k->scale(yr, yr, (float)(1.0 / sum), NULL, n);
    }
}

/* ---- ROPE (YaRN) ---- */

typedef struct rope_params {
    int n_rot, mode;
    float freq_base, freq_scale, ext_factor, attn_factor;
    float corr[2]; /* YaRN ramp bounds, in pair indices */
} rope_params;

/* Pair index at which a rotation of n_ctx_orig / (beta * 2 pi) turns happens. */
static float yarn_corr_dim(int n_rot, int n_ctx_orig, float beta, float base)
{
    return (float)n_rot * logf((float)n_ctx_orig / (beta * 6.28318530717958647692f)) /
           (2.0f * logf(base));
}

/* 1 for pairs below corr[0] (extrapolated), 0 above corr[1] (interpolated). */
static float yarn_ramp(const float corr[2], int i0)
{
    const float y = ((float)(i0 / 2) - corr[0]) / fmaxf(0.001f, corr[1] - corr[0]);
    return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

/* cs[2i], cs[2i+1] = cos, sin of pair i at position pos (times the magnitude scale). */
static void rope_cache(const rope_params *p, float pos, const float *ff, float *cs)
{
    const float theta_scale = powf(p->freq_base, -2.0f / (float)p->n_rot);
    float theta_base = pos;
    for (int i0 = 0; i0 < p->n_rot; i0 += 2) {
        const float extrap = theta_base / (ff != NULL ? ff[i0 / 2] : 1.0f);
        const float interp = p->freq_scale * extrap;
        float theta = interp, mscale = p->attn_factor;
        if (p->ext_factor != 0.0f) {
            const float mix = yarn_ramp(p->corr, i0) * p->ext_factor;
            theta = interp * (1.0f - mix) + extrap * mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / p->freq_scale);
        }
        cs[i0] = cosf(theta) * mscale;
        cs[i0 + 1] = sinf(theta) * mscale;
        theta_base *= theta_scale;
    }
}

void cpu_op_rope(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *x = nd->src[0], *pos = nd->src[1], *d = nd->dst;
    rope_params p = {.n_rot = nd->ip[0],
                     .mode = nd->ip[1],
                     .freq_base = nd->fp[0],
                     .freq_scale = nd->fp[1],
                     .ext_factor = nd->fp[2],
                     .attn_factor = nd->fp[3]};
    if (p.ext_factor != 0.0f) {
        const int n_ctx_orig = nd->ip[2];
        float lo = floorf(yarn_corr_dim(p.n_rot, n_ctx_orig, nd->fp[4], p.freq_base));
        float hi = ceilf(yarn_corr_dim(p.n_rot, n_ctx_orig, nd->fp[5], p.freq_base));
        p.corr[0] = fmaxf(0.0f, lo);
        p.corr[1] = fminf((float)(p.n_rot - 1), hi);
    }
    const float *ff = nd->src[2] != NULL ? (const float *)t->src[2] : NULL;
    float *cs = (float *)e->scratch + (size_t)e->ith * (size_t)p.n_rot;
    const int64_t hd = x->ne[0], nh = x->ne[1];
    const int half = p.n_rot / 2;
    int64_t r0, r1;
    cpu_split(nh * x->ne[2], e->ith, e->nth, &r0, &r1);
    int64_t cached_tok = -1;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t tok = r / nh, h = r % nh;
        if (tok != cached_tok) {
            int32_t pv;
            memcpy(&pv, t->src[1] + (uint64_t)tok * pos->nb[0], sizeof(pv));
            rope_cache(&p, (float)pv, ff, cs);
            cached_tok = tok;
        }
        const float *xr =
            (const float *)(t->src[0] + (uint64_t)h * x->nb[1] + (uint64_t)tok * x->nb[2]);
        float *yr = (float *)(t->dst + (uint64_t)h * d->nb[1] + (uint64_t)tok * d->nb[2]);
        if (p.mode == 0) {
            for (int i0 = 0; i0 < p.n_rot; i0 += 2) {
                const float x0 = xr[i0], x1 = xr[i0 + 1];
                yr[i0] = x0 * cs[i0] - x1 * cs[i0 + 1];
                yr[i0 + 1] = x0 * cs[i0 + 1] + x1 * cs[i0];
            }
        } else {
            for (int i0 = 0; i0 < p.n_rot; i0 += 2) {
                const int ic = i0 / 2;
                const float x0 = xr[ic], x1 = xr[ic + half];
                yr[ic] = x0 * cs[i0] - x1 * cs[i0 + 1];
                yr[ic + half] = x0 * cs[i0 + 1] + x1 * cs[i0];
            }
        }
        if (yr != xr)
            for (int64_t i = p.n_rot; i < hd; i++)
                yr[i] = xr[i];
    }
}

size_t cpu_rope_scratch(const cpu_task *t, int nth)
{
    return (size_t)nth * (size_t)t->node->ip[0] * sizeof(float);
}

/* ---- CPY ---- */

static float load_elem(uint32_t type, const char *p)
{
    uint16_t h;
    float f;
    switch (type) {
    case PLMM_DTYPE_F16:
        memcpy(&h, p, 2);
        return cpu_f16_to_f32(h);
    case PLMM_DTYPE_BF16:
        memcpy(&h, p, 2);
        return cpu_bf16_to_f32(h);
    default:
        memcpy(&f, p, 4);
        return f;
    }
}

static void store_elem(uint32_t type, char *p, float v)
{
    uint16_t h;
    switch (type) {
    case PLMM_DTYPE_F16:
        h = cpu_f32_to_f16(v);
        memcpy(p, &h, 2);
        break;
    case PLMM_DTYPE_BF16:
        h = cpu_f32_to_bf16(v);
        memcpy(p, &h, 2);
        break;
    default:
        memcpy(p, &v, 4);
        break;
    }
}

/* One contiguous row; false when no fast path exists for the pair of types. */
static bool cpy_row_fast(const cpu_kern *k, uint32_t st, uint32_t dt, const char *s, char *d,
                         int64_t n)
{
    if (st == dt) {
        memmove(d, s, (size_t)n * plmm_dtype_block_bytes(st));
        return true;
    }
    if (st == PLMM_DTYPE_F32 && dt == PLMM_DTYPE_F16)
        k->f32_to_f16((const float *)s, (uint16_t *)d, n);
    else if (st == PLMM_DTYPE_F32 && dt == PLMM_DTYPE_BF16)
        k->f32_to_bf16((const float *)s, (uint16_t *)d, n);
    else if (st == PLMM_DTYPE_F16 && dt == PLMM_DTYPE_F32)
        k->f16_to_f32((const uint16_t *)s, (float *)d, n);
    else if (st == PLMM_DTYPE_BF16 && dt == PLMM_DTYPE_F32)
        k->bf16_to_f32((const uint16_t *)s, (float *)d, n);
    else
        return false;
    return true;
}

void cpu_op_cpy(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *s = nd->src[0], *d = nd->dst;
    const uint32_t st = s->dtype, dt = d->dtype;
    const bool contig =
        s->nb[0] == plmm_dtype_block_bytes(st) && d->nb[0] == plmm_dtype_block_bytes(dt);
    const int64_t n = s->ne[0];
    int64_t r0, r1;
    cpu_split(n_rows(s), e->ith, e->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const char *sr = row_ptr(s, t->src[0], r);
        char *dr = row_ptr(d, t->dst, r);
        if (contig && cpy_row_fast(e->k, st, dt, sr, dr, n))
            continue;
        for (int64_t i = 0; i < n; i++)
            store_elem(dt, dr + (uint64_t)i * d->nb[0], load_elem(st, sr + (uint64_t)i * s->nb[0]));
    }
}
