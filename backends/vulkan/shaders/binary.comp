#version 450
// ADD / MUL with src1 broadcast over any dimension of size 1; one element per invocation.
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
    const float a = ld_f32(tbuf(T_SRC0), elem_off(T_SRC0, i0, i1, i2, i3));
    const float b = ld_f32(tbuf(T_SRC1), elem_off(T_SRC1, i0 % tne(T_SRC1, 0u), i1 % tne(T_SRC1, 1u),
                                                  i2 % tne(T_SRC1, 2u), i3 % tne(T_SRC1, 3u)));
#if OP_MUL
    const float r = a * b;
#else
    const float r = a + b;
#endif
    tbuf(T_DST).v[elem_off(T_DST, i0, i1, i2, i3) >> 2] = floatBitsToUint(r);
}
