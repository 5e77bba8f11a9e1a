/*
 * ATTENTION: for each query token t and head h,
 *     s_j = scale * q . k_j            j < n_vis
 *     p   = softmax(s)                 (f32, max subtracted, sum in double)
 *     out = sum_j p_j v_j
 * with n_vis = min(n_kv, pos0 + t + 1) when causal, else n_kv, and kv head
 * h / (n_head / n_head_kv) (grouped-query attention). The probabilities
 * are normalised before the weighted sum, as a softmax followed by a
 * matrix product computes them.
 */
#include "cpu_ops.h"

#include <string.h>

size_t cpu_attention_scratch(const cpu_task *t, int nth)
{
    const plmm_node *nd = t->node;
    /* per thread: scores (n_kv) and the output accumulator (head_dim),
     * each rounded to 16 floats so rows stay 64-byte aligned */
    size_t per = ((size_t)nd->ip[0] + 15) / 16 * 16 + ((size_t)nd->src[0]->ne[0] + 15) / 16 * 16;
    size_t bytes;
    if (__builtin_mul_overflow(per * sizeof(float), (size_t)nth, &bytes))
        return SIZE_MAX;
    return bytes;
}

void cpu_op_attention(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *q = nd->src[0], *k = nd->src[1], *v = nd->src[2], *d = nd->dst;
    const cpu_kern *kn = e->k;
    const int64_t D = q->ne[0], H = q->ne[1], T = q->ne[2];
    const int64_t group = H / k->ne[1];
    const int64_t n_kv = nd->ip[0], pos0 = nd->ip[1];
    const bool causal = nd->ip[2] != 0;
    const float scale = nd->fp[0];
    const size_t s_len = ((size_t)n_kv + 15) / 16 * 16, a_len = ((size_t)D + 15) / 16 * 16;
    float *s = (float *)e->scratch + (size_t)e->ith * (s_len + a_len);
    float *acc = s + s_len;
    const bool k16 = k->dtype == PLMM_DTYPE_F16, v16 = v->dtype == PLMM_DTYPE_F16;

    int64_t u0, u1;
    cpu_split(T * H, e->ith, e->nth, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t tok = u / H, h = u % H, hk = h / group;
        int64_t n_vis = n_kv;
        if (causal && pos0 + tok + 1 < n_kv)
            n_vis = pos0 + tok + 1;
        const float *qr =
            (const float *)(t->src[0] + (uint64_t)h * q->nb[1] + (uint64_t)tok * q->nb[2]);
        const char *kbase = t->src[1] + (uint64_t)hk * k->nb[1];
        const char *vbase = t->src[2] + (uint64_t)hk * v->nb[1];
        for (int64_t j = 0; j < n_vis; j++) {
            const char *kr = kbase + (uint64_t)j * k->nb[2];
            const float dot = k16 ? kn->dot_f16(qr, (const uint16_t *)kr, D)
                                  : kn->dot_f32(qr, (const float *)kr, D);
            s[j] = dot * scale;
        }
        const float m = kn->max(s, n_vis);
        const double sum = kn->exp_sum(s, s, m, n_vis);
        kn->scale(s, s, (float)(1.0 / sum), NULL, n_vis);
        memset(acc, 0, (size_t)D * sizeof(float));
        for (int64_t j = 0; j < n_vis; j++) {
            const char *vr = vbase + (uint64_t)j * v->nb[2];
            if (v16)
                kn->axpy_f16(acc, s[j], (const uint16_t *)vr, D);
            else
                kn->axpy_f32(acc, s[j], (const float *)vr, D);
        }
        memcpy(t->dst + (uint64_t)h * d->nb[1] + (uint64_t)tok * d->nb[2], acc,
               (size_t)D * sizeof(float));
    }
}
