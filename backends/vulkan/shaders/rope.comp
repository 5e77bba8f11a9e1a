#version 450
// ROPE (modes 0 and NeoX, frequency factors, YaRN), one element per invocation:
// the first element of each rotated pair rotates the pair, dims past n_rot
// are copied. theta follows the CPU reference exactly: pos * theta_scale^i
// by repeated f32 multiplication, theta_scale from the host.
// XP: 0 = theta_scale, 1 = corr0, 2 = corr1, 3 = mscale (attn_factor, YaRN-adjusted)
#include "common.glsl"

layout(local_size_x = 256) in;

void main()
{
    const uint idx = linear_id(256u);
    const uint hd = tne(T_SRC0, 0u), nh = tne(T_SRC0, 1u), nt = tne(T_SRC0, 2u);
    if (idx >= hd * nh * nt)
        return;
    const uint j = idx % hd, h = (idx / hd) % nh, t = idx / (hd * nh);
    const uint n_rot = uint(PI(0)), mode = uint(PI(1)), half_ = n_rot / 2u;
    Words x = tbuf(T_SRC0), y = tbuf(T_DST);
    const uint xo = tbo(T_SRC0) + h * tnb(T_SRC0, 1u) + t * tnb(T_SRC0, 2u);
    const uint yo = tbo(T_DST) + h * tnb(T_DST, 1u) + t * tnb(T_DST, 2u);
    const uint xs = tnb(T_SRC0, 0u), ys = tnb(T_DST, 0u);
    if (j >= n_rot) {
        y.v[(yo + j * ys) >> 2] = x.v[(xo + j * xs) >> 2];
        return;
    }
    uint i, a, b; // pair index, element indices
    if (mode == 0u) {
        if ((j & 1u) != 0u)
            return;
        i = j / 2u;
        a = j;
        b = j + 1u;
    } else {
        if (j >= half_)
            return;
        i = j;
        a = j;
        b = j + half_;
    }
    const int pos = int(tbuf(T_SRC1).v[(tbo(T_SRC1) + t * tnb(T_SRC1, 0u)) >> 2]);
    const float ts = PX(0u);
    precise float theta_base = float(pos);
    for (uint k = 0u; k < i; k++)
        theta_base = theta_base * ts;
    float ff = 1.0;
    if (tpresent(T_SRC2))
        ff = ld_f32(tbuf(T_SRC2), tbo(T_SRC2) + i * tnb(T_SRC2, 0u));
    precise float extrap = theta_base / ff;
    precise float theta = PF(1u) * extrap;
    const float ext = PF(2u);
    if (ext != 0.0) {
        const float c0 = PX(1u), c1 = PX(2u);
        const float yv = (float(i) - c0) / max(0.001, c1 - c0);
        const float mix = (1.0 - min(1.0, max(0.0, yv))) * ext;
        theta = theta * (1.0 - mix) + extrap * mix;
    }
    // reduce theta to [-pi, pi] with a three-part 2*pi (Cody-Waite) before cos/sin
    precise float kq = roundEven(theta * 0.15915494309189535);
    precise float r = theta - kq * 6.28125;
    r = r - kq * 0.0019353032112121582;
    r = r - kq * 1.7484555314695172e-07;
    const float ms = PX(3u);
    const float c = cos(r) * ms, s = sin(r) * ms;
    const float x0 = ld_f32(x, xo + a * xs), x1 = ld_f32(x, xo + b * xs);
    y.v[(yo + a * ys) >> 2] = floatBitsToUint(x0 * c - x1 * s);
    y.v[(yo + b * ys) >> 2] = floatBitsToUint(x0 * s + x1 * c);
}
