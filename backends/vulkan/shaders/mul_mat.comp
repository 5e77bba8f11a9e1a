#version 450
// MUL_MAT: Y[m][n] = sum_k W[n][k] X[m][k]. One invocation per weight row n
// and tile of MT activation rows (grid: x = rows / 64, y = tiles, z = batch):
// no shared memory and no barriers, which suits CPU-like devices (lavapipe).
//
// Numerics follow the CPU reference (GGUF's scheme): activations are
// converted per block to the weight's vec-dot format before the dot
// products: rounded to f16 for F16 weights, Q8_0 blocks (32) for Q8_0 and
// Q4_0, Q8_K blocks (256) for Q4_K and Q6_K, with integer dot products
// scaled by the block scales.
#include "common.glsl"
#include "dequant.glsl"

#define MT 8u
layout(local_size_x = 64) in;


#if WTYPE == DT_Q4_K || WTYPE == DT_Q6_K
#define UNIT 256u
#else
#define UNIT 32u
#endif

#if WTYPE == DT_Q8_0 || WTYPE == DT_Q4_0
// weight block u: integer quants and scale
void wblock(Words b, uint row, uint u, out int q[32], out float d)
{
#if WTYPE == DT_Q8_0
    uint bb = row + 34u * u;
    d = f16_to_f32(ld_u16(b, bb));
    for (uint l = 0u; l < 32u; l++)
        q[l] = ld_i8(b, bb + 2u + l);
#else
    uint bb = row + 18u * u;
    d = f16_to_f32(ld_u16(b, bb));
    for (uint l = 0u; l < 16u; l++) {
        uint v = ld_u8(b, bb + 2u + l);
        q[l] = int(v & 0xfu) - 8;
        q[l + 16u] = int(v >> 4) - 8;
    }
#endif
}
#endif

void main()
{
    const uint n = gl_GlobalInvocationID.x;
    const uint m0 = gl_WorkGroupID.y * MT;
    if (n >= tne(T_SRC0, 1u))
        return;
    const uint b = gl_WorkGroupID.z;
    const uint K = tne(T_SRC1, 0u), M = tne(T_SRC1, 1u);
    const uint x2 = tne(T_SRC1, 2u);
    const uint b2 = b % x2, b3 = b / x2;
    const uint rw2 = x2 / tne(T_SRC0, 2u), rw3 = tne(T_SRC1, 3u) / tne(T_SRC0, 3u);
    Words W = tbuf(T_SRC0), X = tbuf(T_SRC1), Y = tbuf(T_DST);
    const uint wrow = tbo(T_SRC0) + n * tnb(T_SRC0, 1u) + (b2 / rw2) * tnb(T_SRC0, 2u) +
                      (b3 / rw3) * tnb(T_SRC0, 3u);
    const uint xbase = tbo(T_SRC1) + b2 * tnb(T_SRC1, 2u) + b3 * tnb(T_SRC1, 3u);
    const uint xs = tnb(T_SRC1, 1u);
    const uint mt = min(MT, M - m0);
    const uint nu = (K + UNIT - 1u) / UNIT;

    float acc[MT];
    for (uint c = 0u; c < MT; c++)
        acc[c] = 0.0;

#if WTYPE == DT_F32 || WTYPE == DT_F16
    float w[32];
    for (uint u = 0u; u < nu; u++) {
        deq32(W, wrow, u, K, w);
        const uint kn = min(32u, K - 32u * u);
        for (uint c = 0u; c < MT; c++) {
            if (c >= mt)
                break;
            uint xo = xbase + (m0 + c) * xs + 128u * u;
            float s = 0.0;
            for (uint l = 0u; l < 32u; l++) {
                if (l >= kn)
                    break;
#if WTYPE == DT_F16
                s += w[l] * f16_to_f32(f32_to_f16(ld_f32(X, xo + 4u * l)));
#else
                s += w[l] * ld_f32(X, xo + 4u * l);
#endif
            }
            acc[c] += s;
        }
    }
#elif WTYPE == DT_Q8_0 || WTYPE == DT_Q4_0
    int wq[32];
    float xv[32];
    float dw;
    for (uint u = 0u; u < nu; u++) {
        wblock(W, wrow, u, wq, dw);
        for (uint c = 0u; c < MT; c++) {
            if (c >= mt)
                break;
            uint xo = xbase + (m0 + c) * xs + 128u * u;
            float amax = 0.0;
            for (uint l = 0u; l < 32u; l++) {
                xv[l] = ld_f32(X, xo + 4u * l);
                amax = max(amax, abs(xv[l]));
            }
            const float dx = f16_to_f32(f32_to_f16(amax / 127.0));
            const float id = amax != 0.0 ? 127.0 / amax : 0.0;
            int isum = 0;
            for (uint l = 0u; l < 32u; l++)
                isum += wq[l] * int(clamp(roundEven(xv[l] * id), -127.0, 127.0));
            acc[c] += float(isum) * (dw * dx);
        }
    }
#else
    for (uint u = 0u; u < nu; u++) {
        for (uint c = 0u; c < MT; c++) {
            if (c >= mt)
                break;
            const uint xo = xbase + (m0 + c) * xs + 1024u * u;
            // Q8_K of this super-block: the element of largest magnitude maps to -127
            float amax = 0.0, vmax = 0.0;
            for (uint l = 0u; l < 256u; l++) {
                float v = ld_f32(X, xo + 4u * l);
                if (abs(v) > amax) {
                    amax = abs(v);
                    vmax = v;
                }
            }
            if (amax == 0.0)
                continue;
            const float iscale = -127.0 / vmax;
            const float dx = 1.0 / iscale;
#if WTYPE == DT_Q4_K
            const uint bb = wrow + 144u * u;
            const float d = f16_to_f32(ld_u16(W, bb)) * dx;
            const float dmin = f16_to_f32(ld_u16(W, bb + 2u)) * dx;
            int isum = 0, imin = 0;
            for (uint j = 0u; j < 8u; j++) {
                float scf, mf;
                q4k_scale_min(W, bb + 4u, j, scf, mf);
                const uint qs = bb + 16u + 32u * (j >> 1), sh = (j & 1u) * 4u;
                int s = 0, qsum = 0;
                for (uint l = 0u; l < 32u; l++) {
                    int q8 = int(clamp(roundEven(iscale * ld_f32(X, xo + 4u * (32u * j + l))), -128.0, 127.0));
                    s += int((ld_u8(W, qs + l) >> sh) & 0xfu) * q8;
                    qsum += q8;
                }
                isum += int(scf) * s;
                imin += int(mf) * qsum;
            }
            acc[c] += d * float(isum) - dmin * float(imin);
#else
            const uint bb = wrow + 210u * u;
            const float d = f16_to_f32(ld_u16(W, bb + 208u)) * dx;
            int isum = 0;
            for (uint j = 0u; j < 8u; j++) {
                const uint half_ = j >> 2, group = j & 3u;
                const uint ql = bb + 64u * half_ + ((group & 1u) != 0u ? 32u : 0u);
                const uint qh = bb + 128u + 32u * half_;
                const uint lsh = group >= 2u ? 4u : 0u, hsh = 2u * group;
                for (uint g = 0u; g < 2u; g++) {
                    int s = 0;
                    for (uint l = 16u * g; l < 16u * g + 16u; l++) {
                        int lo = int((ld_u8(W, ql + l) >> lsh) & 0xfu);
                        int hi = int((ld_u8(W, qh + l) >> hsh) & 3u);
                        int q8 = int(clamp(roundEven(iscale * ld_f32(X, xo + 4u * (32u * j + l))), -128.0, 127.0));
                        s += ((lo | (hi << 4)) - 32) * q8;
                    }
                    isum += ld_i8(W, bb + 192u + 2u * j + g) * s;
                }
            }
            acc[c] += d * float(isum);
#endif
        }
    }
#endif

    for (uint c = 0u; c < MT; c++) {
        if (c >= mt)
            break;
        uint yo = tbo(T_DST) + n * 4u + (m0 + c) * tnb(T_DST, 1u) + b2 * tnb(T_DST, 2u) +
                  b3 * tnb(T_DST, 3u);
        Y.v[yo >> 2] = floatBitsToUint(acc[c]);
    }
}
