#version 450
// ATTENTION for one (head, token) per workgroup:
//   s_j = scale * q . k_j (j < n_vis), p = softmax(s), out = sum_j p_j v_j
// Scores live in shared memory (SC positions); past SC they are recomputed.
// K and V are F32 or F16 caches with any row strides (kv head h / group).
#include "common.glsl"

layout(local_size_x = 64) in;

#define SC 4096u
#define MAXD 256u
shared float sc[SC];
shared float qs[MAXD];
shared float red[64];

float reduce_max(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1) {
        if (lid < k)
            red[lid] = max(red[lid], red[lid + k]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduce_sum(float v)
{
    const uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1) {
        if (lid < k)
            red[lid] += red[lid + k];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float load_kv(uint t, Words b, uint off, bool f16)
{
    return f16 ? f16_to_f32(ld_u16(b, off)) : ld_f32(b, off);
}

float score(uint j, uint D, uint kb, Words K, bool k16, float scale)
{
    const uint ko = kb + j * tnb(T_SRC1, 2u), ks = tnb(T_SRC1, 0u);
    float s = 0.0;
    for (uint d = 0u; d < D; d++)
        s += qs[d] * load_kv(T_SRC1, K, ko + d * ks, k16);
    return s * scale;
}

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint H = tne(T_SRC0, 1u), T = tne(T_SRC0, 2u), D = tne(T_SRC0, 0u);
    const uint u = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (u >= H * T)
        return;
    const uint h = u % H, tok = u / H;
    const uint group = H / tne(T_SRC1, 1u), hk = h / group;
    const uint n_kv = uint(PI(0)), pos0 = uint(PI(1));
    uint n_vis = n_kv;
    if (PI(2) != 0 && pos0 + tok + 1u < n_kv)
        n_vis = pos0 + tok + 1u;
    const float scale = PF(0u);
    Words Q = tbuf(T_SRC0), K = tbuf(T_SRC1), V = tbuf(T_SRC2), O = tbuf(T_DST);
    const bool k16 = ttype(T_SRC1) == 1u, v16 = ttype(T_SRC2) == 1u;
    const uint qo = tbo(T_SRC0) + h * tnb(T_SRC0, 1u) + tok * tnb(T_SRC0, 2u);
    for (uint d = lid; d < D; d += 64u)
        qs[d] = ld_f32(Q, qo + d * tnb(T_SRC0, 0u));
    barrier();
    const uint kb = tbo(T_SRC1) + hk * tnb(T_SRC1, 1u);
    const uint vb = tbo(T_SRC2) + hk * tnb(T_SRC2, 1u);

    float m = -1.0 / 0.0;
    for (uint j = lid; j < n_vis; j += 64u) {
        float s = score(j, D, kb, K, k16, scale);
        if (j < SC)
            sc[j] = s;
        m = max(m, s);
    }
    m = reduce_max(m);
    float sum = 0.0;
    for (uint j = lid; j < n_vis; j += 64u) {
        float e = exp((j < SC ? sc[j] : score(j, D, kb, K, k16, scale)) - m);
        if (j < SC)
            sc[j] = e;
        sum += e;
    }
    const float inv = 1.0 / reduce_sum(sum); // reduce_sum's barrier publishes sc[]
    const uint vs = tnb(T_SRC2, 0u), v2 = tnb(T_SRC2, 2u);
    for (uint d = lid; d < D; d += 64u) {
        float acc = 0.0;
        for (uint j = 0u; j < n_vis; j++) {
            float p = j < SC ? sc[j] : exp(score(j, D, kb, K, k16, scale) - m);
            acc += (p * inv) * load_kv(T_SRC2, V, vb + j * v2 + d * vs, v16);
        }
        O.v[(tbo(T_DST) + h * tnb(T_DST, 1u) + tok * tnb(T_DST, 2u) + d * tnb(T_DST, 0u)) >> 2] =
            floatBitsToUint(acc);
    }
}
