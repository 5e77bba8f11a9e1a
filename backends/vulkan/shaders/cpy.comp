#version 450
// CPY: dst (F32, F16, BF16, any strides) = convert(src0), one element per invocation.
#include "common.glsl"

layout(local_size_x = 256) in;

float load(uint t, uint off)
{
    Words b = tbuf(t);
    uint ty = ttype(t);
    if (ty == 1u)
        return f16_to_f32(ld_u16(b, off));
    if (ty == 30u)
        return bf16_to_f32(ld_u16(b, off));
    return ld_f32(b, off);
}

void main()
{
    const uint idx = linear_id(256u);
    const uint n0 = tne(T_SRC0, 0u), n1 = tne(T_SRC0, 1u), n2 = tne(T_SRC0, 2u);
    if (idx >= n0 * n1 * n2 * tne(T_SRC0, 3u))
        return;
    const uint i0 = idx % n0, i1 = (idx / n0) % n1, i2 = (idx / (n0 * n1)) % n2,
               i3 = idx / (n0 * n1 * n2);
    const float v = load(T_SRC0, elem_off(T_SRC0, i0, i1, i2, i3));
    const uint o = elem_off(T_DST, i0, i1, i2, i3);
    Words d = tbuf(T_DST);
    const uint ty = ttype(T_DST);
    if (ty == 1u)
        st_u16(d, o, f32_to_f16(v));
    else if (ty == 30u)
        st_u16(d, o, f32_to_bf16(v));
    else
        d.v[o >> 2] = floatBitsToUint(v);
}
