#version 450
// SOFTMAX: dst = softmax(src0 * scale + mask), one workgroup per row.
#include "common.glsl"

layout(local_size_x = 64) in;
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

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n = tne(T_SRC0, 0u);
    if (r >= tne(T_SRC0, 1u) * tne(T_SRC0, 2u) * tne(T_SRC0, 3u))
        return;
    Words x = tbuf(T_SRC0), y = tbuf(T_DST), mk = tbuf(T_SRC1);
    const uint xo = row_off(T_SRC0, r), yo = row_off(T_DST, r);
    const uint xs = tnb(T_SRC0, 0u), ys = tnb(T_DST, 0u);
    const bool has_mask = tpresent(T_SRC1);
    const uint mo = tbo(T_SRC1) + (r % tne(T_SRC0, 1u)) * tnb(T_SRC1, 1u);
    const float scale = PF(0u);
    float m = -1.0 / 0.0;
    for (uint i = lid; i < n; i += 64u) {
        float v = ld_f32(x, xo + i * xs) * scale;
        if (has_mask)
            v += ld_f32(mk, mo + i * tnb(T_SRC1, 0u));
        y.v[(yo + i * ys) >> 2] = floatBitsToUint(v);
        m = max(m, v);
    }
    m = reduce_max(m);
    float s = 0.0;
    for (uint i = lid; i < n; i += 64u) {
        float e = exp(ld_f32(y, yo + i * ys) - m);
        y.v[(yo + i * ys) >> 2] = floatBitsToUint(e);
        s += e;
    }
    const float inv = 1.0 / reduce_sum(s);
    for (uint i = lid; i < n; i += 64u)
        y.v[(yo + i * ys) >> 2] = floatBitsToUint(ld_f32(y, yo + i * ys) * inv);
}
