// Shared declarations of the plmm Vulkan compute shaders.
//
// Every dispatch reads one parameter record (see vk_graph.c, REC_*) through
// a buffer device address passed as a push constant. Tensors are reached by
// their device address (4-byte aligned) plus a byte offset; all data is read
// and written as 32-bit words, so quantized blocks are decoded from the raw
// bytes of the GGUF layouts.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference_uvec2 : require

layout(buffer_reference, std430, buffer_reference_align = 4) buffer Words { uint v[]; };

layout(push_constant) uniform PC { uvec2 rec; } pc;

// record layout (uint words)
#define T_DST 0u
#define T_SRC0 1u
#define T_SRC1 2u
#define T_SRC2 3u
#define REC_T 12u     // words per tensor: addr lo, addr hi, byte offset, dtype, ne[4], nb[4]
#define REC_IP 48u    // node ip[8]
#define REC_FP 56u    // node fp[8]
#define REC_XP 64u    // extra host-computed params [12]
#define REC_STATUS 76u // device address of the status word (lo, hi)

uint P(uint i) { return Words(pc.rec).v[i]; }
int PI(uint i) { return int(P(REC_IP + i)); }
float PF(uint i) { return uintBitsToFloat(P(REC_FP + i)); }
float PX(uint i) { return uintBitsToFloat(P(REC_XP + i)); }
uint PXU(uint i) { return P(REC_XP + i); }

Words tbuf(uint t) { return Words(uvec2(P(t * REC_T), P(t * REC_T + 1u))); }
uint tbo(uint t) { return P(t * REC_T + 2u); }
uint ttype(uint t) { return P(t * REC_T + 3u); }
uint tne(uint t, uint d) { return P(t * REC_T + 4u + d); }
uint tnb(uint t, uint d) { return P(t * REC_T + 8u + d); }
bool tpresent(uint t) { return P(t * REC_T) != 0u || P(t * REC_T + 1u) != 0u; }

void set_status(uint code)
{
    Words s = Words(uvec2(P(REC_STATUS), P(REC_STATUS + 1u)));
    atomicOr(s.v[0], code);
}

// raw loads at a byte offset of a word buffer
uint ld_u8(Words b, uint off) { return (b.v[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }
int ld_i8(Words b, uint off) { return int(ld_u8(b, off) << 24) >> 24; }
uint ld_u16(Words b, uint off) // off even
{
    return (b.v[off >> 2] >> ((off & 2u) * 8u)) & 0xffffu;
}
float ld_f32(Words b, uint off) { return uintBitsToFloat(b.v[off >> 2]); } // off % 4 == 0

// IEEE half -> float, exact (no reliance on the driver's denormal handling)
float f16_to_f32(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x3ffu;
    if (e == 0x1fu)
        return uintBitsToFloat(sign | 0x7f800000u | (m << 13));
    if (e == 0u) {
        float f = float(m) * (1.0 / 16777216.0);
        return sign != 0u ? -f : f;
    }
    return uintBitsToFloat(sign | ((e + 112u) << 23) | (m << 13));
}

// float -> IEEE half, round to nearest even (bit-exact with the CPU reference)
uint f32_to_f16(float f)
{
    uint u = floatBitsToUint(f);
    uint sign = (u >> 16) & 0x8000u;
    uint a = u & 0x7fffffffu;
    if (a >= 0x7f800000u)
        return sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u);
    if (a >= 0x477ff000u)
        return sign | 0x7c00u;
    if (a < 0x38800000u) {
        // subnormal or zero: the result is round(|f| * 2^24) ulps of 2^-24
        float v = uintBitsToFloat(a) * 16777216.0;
        return sign | uint(roundEven(v));
    }
    uint odd = (a >> 13) & 1u;
    a += 0xfffu + odd;
    return sign | ((a - 0x38000000u) >> 13);
}

float bf16_to_f32(uint h) { return uintBitsToFloat(h << 16); }

uint f32_to_bf16(float f)
{
    uint u = floatBitsToUint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return ((u >> 16) | 0x40u) & 0xffffu;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

// store 16 bits at an even byte offset without touching the other half-word
void st_u16(Words b, uint off, uint h)
{
    uint sh = (off & 2u) * 8u;
    atomicAnd(b.v[off >> 2], ~(0xffffu << sh));
    atomicOr(b.v[off >> 2], (h & 0xffffu) << sh);
}

// Linear invocation index over a 2-D grid of 1-D workgroups.
uint linear_id(uint wg)
{
    return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * wg;
}

// Byte offset of element (i0, i1, i2, i3) of tensor t (bo included).
uint elem_off(uint t, uint i0, uint i1, uint i2, uint i3)
{
    return tbo(t) + i0 * tnb(t, 0u) + i1 * tnb(t, 1u) + i2 * tnb(t, 2u) + i3 * tnb(t, 3u);
}

// Byte offset of the start of flattened row r (over ne[1..3]) of tensor t.
uint row_off(uint t, uint r)
{
    uint n1 = tne(t, 1u), n2 = tne(t, 2u);
    uint i1 = r % n1, i2 = (r / n1) % n2, i3 = r / (n1 * n2);
    return tbo(t) + i1 * tnb(t, 1u) + i2 * tnb(t, 2u) + i3 * tnb(t, 3u);
}
