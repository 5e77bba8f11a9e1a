#version 450
// RMS_NORM: dst = src0 / sqrt(mean(src0^2) + eps) * src1, one workgroup per row.
#include "common.glsl"

layout(local_size_x = 64) in;
shared float red[64];

void main()
{
    const uint lid = gl_LocalInvocationID.x;
    const uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n = tne(T_SRC0, 0u);
    if (r >= tne(T_SRC0, 1u) * tne(T_SRC0, 2u) * tne(T_SRC0, 3u))
        return;
    Words x = tbuf(T_SRC0), y = tbuf(T_DST);
    const uint xo = row_off(T_SRC0, r), yo = row_off(T_DST, r);
    const uint xs = tnb(T_SRC0, 0u), ys = tnb(T_DST, 0u);
    float s = 0.0;
    for (uint i = lid; i < n; i += 64u) {
        float v = ld_f32(x, xo + i * xs);
        s += v * v;
    }
    red[lid] = s;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1) {
        if (lid < k)
            red[lid] += red[lid + k];
        barrier();
    }
    const float mean = red[0] / float(n);
    const float sc = 1.0 / sqrt(mean + PF(0u));
    const bool has_w = tpresent(T_SRC1);
    Words w = tbuf(T_SRC1);
    for (uint i = lid; i < n; i += 64u) {
        float v = ld_f32(x, xo + i * xs) * sc;
        if (has_w)
            v *= ld_f32(w, tbo(T_SRC1) + i * tnb(T_SRC1, 0u));
        y.v[(yo + i * ys) >> 2] = floatBitsToUint(v);
    }
}
