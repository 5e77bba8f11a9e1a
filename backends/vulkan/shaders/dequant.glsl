// Dequantization of weight rows stored in GGUF layouts (WTYPE = plmm dtype id).
// deq32(b, row, u, K, w): elements 32u .. 32u + 31 of the row at byte offset
// row (elements past K are 0; only F32 and F16 rows may end mid-unit).
#define DT_F32 0
#define DT_F16 1
#define DT_Q4_0 2
#define DT_Q8_0 8
#define DT_Q4_K 12
#define DT_Q6_K 14

#if WTYPE == DT_Q4_K
// 6-bit scale and min of sub-block j (0..7); sc at byte offset s of the block
void q4k_scale_min(Words b, uint s, uint j, out float sc, out float m)
{
    if (j < 4u) {
        sc = float(ld_u8(b, s + j) & 63u);
        m = float(ld_u8(b, s + j + 4u) & 63u);
    } else {
        uint a = ld_u8(b, s + j + 4u), lo = ld_u8(b, s + j - 4u), hi = ld_u8(b, s + j);
        sc = float((a & 0xfu) | ((lo >> 6) << 4));
        m = float((a >> 4) | ((hi >> 6) << 4));
    }
}
#endif

void deq32(Words b, uint row, uint u, uint K, out float w[32])
{
#if WTYPE == DT_F32
    for (uint l = 0u; l < 32u; l++) {
        uint k = 32u * u + l;
        w[l] = k < K ? ld_f32(b, row + 4u * k) : 0.0;
    }
#elif WTYPE == DT_F16
    for (uint l = 0u; l < 32u; l++) {
        uint k = 32u * u + l;
        w[l] = k < K ? f16_to_f32(ld_u16(b, row + 2u * k)) : 0.0;
    }
#elif WTYPE == DT_Q8_0
    uint bb = row + 34u * u;
    float d = f16_to_f32(ld_u16(b, bb));
    for (uint l = 0u; l < 32u; l++)
        w[l] = d * float(ld_i8(b, bb + 2u + l));
#elif WTYPE == DT_Q4_0
    uint bb = row + 18u * u;
    float d = f16_to_f32(ld_u16(b, bb));
    for (uint l = 0u; l < 16u; l++) {
        uint q = ld_u8(b, bb + 2u + l);
        w[l] = d * float(int(q & 0xfu) - 8);
        w[l + 16u] = d * float(int(q >> 4) - 8);
    }
#elif WTYPE == DT_Q4_K
    // unit u = sub-block u % 8 of super-block u / 8 (144 bytes)
    uint bb = row + 144u * (u >> 3), j = u & 7u;
    float d = f16_to_f32(ld_u16(b, bb)), dmin = f16_to_f32(ld_u16(b, bb + 2u));
    float sc, m;
    q4k_scale_min(b, bb + 4u, j, sc, m);
    float d1 = d * sc, m1 = dmin * m;
    uint qs = bb + 16u + 32u * (j >> 1);
    uint sh = (j & 1u) * 4u;
    for (uint l = 0u; l < 32u; l++)
        w[l] = d1 * float((ld_u8(b, qs + l) >> sh) & 0xfu) - m1;
#elif WTYPE == DT_Q6_K
    // unit u = elements 32(u % 8) .. of super-block u / 8 (210 bytes)
    uint bb = row + 210u * (u >> 3), j = u & 7u;
    float d = f16_to_f32(ld_u16(b, bb + 208u));
    uint half_ = j >> 2, group = j & 3u;
    uint ql = bb + 64u * half_ + ((group & 1u) != 0u ? 32u : 0u);
    uint qh = bb + 128u + 32u * half_;
    uint lsh = group >= 2u ? 4u : 0u, hsh = 2u * group;
    for (uint l = 0u; l < 32u; l++) {
        int lo = int((ld_u8(b, ql + l) >> lsh) & 0xfu);
        int hi = int((ld_u8(b, qh + l) >> hsh) & 3u);
        float s = float(ld_i8(b, bb + 192u + 2u * j + (l >> 4)));
        w[l] = d * s * float((lo | (hi << 4)) - 32);
    }
#else
#error unknown WTYPE
#endif
}

// elements of a row in units of 32
uint units_of(uint K) { return (K + 31u) / 32u; }
