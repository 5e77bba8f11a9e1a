#version 450
// SILU (UOP 0), SWIGLU (UOP 1), SCALE (UOP 2); one element per invocation.
#include "common.glsl"

layout(local_size_x = 256) in;

void main()
{
    const uint idx = linear_id(256u);
    const uint n0 = tne(T_SRC0, 0u), n1 = tne(T_SRC0, 1u), n2 = tne(T_SRC0, 2u);
    if (idx >= n0 * n1 * n2 * tne(T_SRC0, 3u))
        return;
    const uint i0 = idx % n0, i1 = (idx / n0) % n1, i2 = (idx / (n0 * n1)) % n2,
               i3 = idx / (n0 * n1 * n2);
    const float x = ld_f32(tbuf(T_SRC0), elem_off(T_SRC0, i0, i1, i2, i3));
#if UOP == 0
    const float r = x / (1.0 + exp(-x));
#elif UOP == 1
    const float g = ld_f32(tbuf(T_SRC1), elem_off(T_SRC1, i0, i1, i2, i3));
    const float r = x / (1.0 + exp(-x)) * g;
#else
    const float r = x * PF(0u);
#endif
    tbuf(T_DST).v[elem_off(T_DST, i0, i1, i2, i3) >> 2] = floatBitsToUint(r);
}
