#version 450
// GET_ROWS: dst[:, i] = dequant(src0[:, ids[i]]); one workgroup per id.
#include "common.glsl"
#include "dequant.glsl"

layout(local_size_x = 64) in;

void main()
{
    uint i = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (i >= tne(T_SRC1, 0u))
        return;
    Words ids = tbuf(T_SRC1);
    int id = int(ids.v[(tbo(T_SRC1) + i * tnb(T_SRC1, 0u)) >> 2]);
    Words w = tbuf(T_SRC0), d = tbuf(T_DST);
    uint K = tne(T_SRC0, 0u);
    uint drow = tbo(T_DST) + i * tnb(T_DST, 1u);
    if (id < 0 || uint(id) >= tne(T_SRC0, 1u)) {
        if (gl_LocalInvocationID.x == 0u)
            set_status(1u);
        return;
    }
    uint row = tbo(T_SRC0) + uint(id) * tnb(T_SRC0, 1u);
    float v[32];
    for (uint u = gl_LocalInvocationID.x; u < units_of(K); u += 64u) {
        deq32(w, row, u, K, v);
        for (uint l = 0u; l < 32u && 32u * u + l < K; l++)
            d.v[(drow + 4u * (32u * u + l)) >> 2] = floatBitsToUint(v[l]);
    }
}
