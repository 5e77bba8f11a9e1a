/*
 * plmm OpenCL backend kernels (OpenCL C 1.2).
 *
 * The numerics follow the CPU backend's scalar reference kernels
 * (backends/cpu/kernels_generic.c): the same per-row summation order, f32
 * products summed in double where the reference does (when the device has
 * cl_khr_fp64), activations quantized to Q8_0 / Q8_K blocks for the
 * integer dot products of quantized weights, and no contraction into FMA.
 *
 * Every tensor is passed as (global byte pointer, byte offset) plus its
 * byte strides, so views anywhere inside a buffer work without sub-buffers.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

/* dtype ids (GGUF's) */
#define DT_F32 0
#define DT_F16 1
#define DT_Q4_0 2
#define DT_Q8_0 8
#define DT_Q4_K 12
#define DT_Q6_K 14
#define DT_BF16 30

typedef global const uchar gcu;
typedef global uchar gu;

/* ---- half / bfloat16, bit-exact with the CPU helpers ---- */

float f16_to_f32(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint ex = (h >> 10) & 0x1fu;
    uint mant = h & 0x3ffu;
    if (ex == 0x1fu)
        return as_float(sign | 0x7f800000u | (mant << 13));
    if (ex == 0u) {
        float f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    return as_float(sign | ((ex + 112u) << 23) | (mant << 13));
}

uint f32_to_f16(float f)
{
    uint u = as_uint(f);
    uint sign = (u >> 16) & 0x8000u;
    uint a = u & 0x7fffffffu;
    if (a >= 0x7f800000u)
        return sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u);
    if (a >= 0x477ff000u)
        return sign | 0x7c00u;
    if (a < 0x38800000u) {
        float v = as_float(a) + 0.5f;
        return sign | (as_uint(v) - 0x3f000000u);
    }
    uint mant_odd = (a >> 13) & 1u;
    a += 0xfffu + mant_odd;
    return sign | ((a - 0x38000000u) >> 13);
}

float bf16_to_f32(uint h)
{
    return as_float(h << 16);
}

uint f32_to_bf16(float f)
{
    uint u = as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return ((u >> 16) | 0x40u) & 0xffffu;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

float round_f16(float f)
{
    return f16_to_f32(f32_to_f16(f));
}

float round_bf16(float f)
{
    return bf16_to_f32(f32_to_bf16(f));
}

uint ld_u16(gcu *p)
{
    return (uint)p[0] | ((uint)p[1] << 8);
}

float ld_f32(gcu *p)
{
    return *(global const float *)p;
}

/* ---- dequantization of one element ---- */

void q4k_scale_min(int j, gcu *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Quant i (0..255) of a Q6_K block, minus 32. */
int q6k_quant(gcu *b, int i)
{
    const int hf = i / 128, l = i % 128;
    gcu *ql = b + 64 * hf;
    gcu *qh = b + 128 + 32 * hf;
    const int group = l / 32, pos = l % 32;
    int lo, hi;
    if (group == 0) {
        lo = ql[pos] & 0xf;
        hi = qh[pos] & 3;
    } else if (group == 1) {
        lo = ql[pos + 32] & 0xf;
        hi = (qh[pos] >> 2) & 3;
    } else if (group == 2) {
        lo = ql[pos] >> 4;
        hi = (qh[pos] >> 4) & 3;
    } else {
        lo = ql[pos + 32] >> 4;
        hi = (qh[pos] >> 6) & 3;
    }
    return (lo | (hi << 4)) - 32;
}

/* Element i of a row of weights of type dt starting at row. */
float dequant(int dt, gcu *row, long i)
{
    switch (dt) {
    case DT_F32:
        return ld_f32(row + 4 * i);
    case DT_F16:
        return f16_to_f32(ld_u16(row + 2 * i));
    case DT_BF16:
        return bf16_to_f32(ld_u16(row + 2 * i));
    case DT_Q8_0: {
        gcu *b = row + (i / 32) * 34;
        return f16_to_f32(ld_u16(b)) * (float)(char)b[2 + i % 32];
    }
    case DT_Q4_0: {
        gcu *b = row + (i / 32) * 18;
        const int j = (int)(i % 32);
        const int q = j < 16 ? (b[2 + j] & 0xf) : (b[2 + j - 16] >> 4);
        return f16_to_f32(ld_u16(b)) * (float)(q - 8);
    }
    case DT_Q4_K: {
        gcu *b = row + (i / 256) * 144;
        const int e = (int)(i % 256);
        const int j = e / 64, l = e % 64;
        const float d = f16_to_f32(ld_u16(b)), dmin = f16_to_f32(ld_u16(b + 2));
        int sc, m;
        q4k_scale_min(2 * j + (l >= 32), b + 4, &sc, &m);
        const uchar q = b[16 + 32 * j + l % 32];
        const int v = l < 32 ? (q & 0xf) : (q >> 4);
        const float dd = d * (float)sc, dm = dmin * (float)m;
        return dd * (float)v - dm;
    }
    case DT_Q6_K: {
        gcu *b = row + (i / 256) * 210;
        const int e = (int)(i % 256);
        const float d = f16_to_f32(ld_u16(b + 208));
        return d * (float)(char)b[192 + e / 16] * (float)q6k_quant(b, e);
    }
    default:
        return 0.0f;
    }
}

/* Byte offset of row r flattened over dims 1..3. */
ulong row_off(long r, long4 ne, ulong4 nb)
{
    const long i1 = r % ne.s1;
    const long i2 = (r / ne.s1) % ne.s2;
    const long i3 = r / (ne.s1 * ne.s2);
    return (ulong)i1 * nb.s1 + (ulong)i2 * nb.s2 + (ulong)i3 * nb.s3;
}

/* ---- GET_ROWS: global (ne0, n_ids) ---- */
kernel void k_get_rows(gcu *w, ulong w_off, ulong w_nb1, int dt, long n_rows, gcu *ids,
                       ulong ids_off, ulong ids_nb0, gu *d, ulong d_off, ulong d_nb1,
                       global int *err)
{
    const long i0 = get_global_id(0), i = get_global_id(1);
    const int id = *(global const int *)(ids + ids_off + (ulong)i * ids_nb0);
    if (id < 0 || id >= n_rows) {
        err[0] = 1;
        return;
    }
    *(global float *)(d + d_off + (ulong)i * d_nb1 + 4 * (ulong)i0) =
        dequant(dt, w + w_off + (ulong)id * w_nb1, i0);
}

/* ---- RMS_NORM: one work-item per row ---- */
kernel void k_rms_norm(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, gcu *w, ulong w_off,
                       int has_w, gu *d, ulong d_off, ulong4 d_nb, float eps)
{
    const long r = get_global_id(0);
    const long n = ne.s0;
    global const float *xr = (global const float *)(x + x_off + row_off(r, ne, x_nb));
    global float *yr = (global float *)(d + d_off + row_off(r, ne, d_nb));
    global const float *wr = (global const float *)(w + w_off);
    acc_t s = 0;
    for (long i = 0; i < n; i++)
        s += (acc_t)(xr[i] * xr[i]);
    const float mean = (float)(s / (acc_t)n);
    const float sc = 1.0f / sqrt(mean + eps);
    if (has_w) {
        for (long i = 0; i < n; i++)
            yr[i] = (xr[i] * sc) * wr[i];
    } else {
        for (long i = 0; i < n; i++)
            yr[i] = xr[i] * sc;
    }
}

/* ---- ADD (op 0), MUL (op 1): global (ne0, rows) ---- */
kernel void k_binary(gcu *a, ulong a_off, long4 ne, ulong4 a_nb, gcu *b, ulong b_off,
                     long4 b_ne, ulong4 b_nb, gu *d, ulong d_off, ulong4 d_nb, int op)
{
    const long i0 = get_global_id(0), r = get_global_id(1);
    const long i1 = r % ne.s1, i2 = (r / ne.s1) % ne.s2, i3 = r / (ne.s1 * ne.s2);
    const float av = ld_f32(a + a_off + row_off(r, ne, a_nb) + (ulong)i0 * a_nb.s0);
    const ulong bo = b_off + (ulong)(i0 % b_ne.s0) * b_nb.s0 + (ulong)(i1 % b_ne.s1) * b_nb.s1 +
                     (ulong)(i2 % b_ne.s2) * b_nb.s2 + (ulong)(i3 % b_ne.s3) * b_nb.s3;
    const float bv = ld_f32(b + bo);
    *(global float *)(d + d_off + row_off(r, ne, d_nb) + (ulong)i0 * d_nb.s0) =
        op == 0 ? av + bv : av * bv;
}

/* ---- SILU (op 0), SCALE (op 1), SWIGLU (op 2): global (ne0, rows) ---- */
kernel void k_unary(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, gcu *g, ulong g_off,
                    ulong4 g_nb, gu *d, ulong d_off, ulong4 d_nb, int op, float scale)
{
    const long i0 = get_global_id(0), r = get_global_id(1);
    const float v = ld_f32(x + x_off + row_off(r, ne, x_nb) + (ulong)i0 * x_nb.s0);
    float y;
    if (op == 1) {
        y = v * scale;
    } else {
        y = v / (1.0f + exp(-v));
        if (op == 2)
            y = y * ld_f32(g + g_off + row_off(r, ne, g_nb) + (ulong)i0 * g_nb.s0);
    }
    *(global float *)(d + d_off + row_off(r, ne, d_nb) + (ulong)i0 * d_nb.s0) = y;
}

/* ---- SOFTMAX: one work-item per row ---- */
kernel void k_softmax(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, gcu *mask, ulong m_off,
                      ulong m_nb1, int has_mask, gu *d, ulong d_off, ulong4 d_nb, float scale)
{
    const long r = get_global_id(0);
    const long n = ne.s0;
    global const float *xr = (global const float *)(x + x_off + row_off(r, ne, x_nb));
    global float *yr = (global float *)(d + d_off + row_off(r, ne, d_nb));
    global const float *mr = (global const float *)(mask + m_off + (ulong)(r % ne.s1) * m_nb1);
    float mx = -INFINITY;
    for (long i = 0; i < n; i++) {
        float v = xr[i] * scale;
        if (has_mask)
            v += mr[i];
        yr[i] = v;
        mx = v > mx ? v : mx;
    }
    acc_t s = 0;
    for (long i = 0; i < n; i++) {
        const float e = exp(yr[i] - mx);
        yr[i] = e;
        s += (acc_t)e;
    }
    const float inv = (float)((acc_t)1 / s);
    for (long i = 0; i < n; i++)
        yr[i] = yr[i] * inv;
}

/* ---- ROPE: global (n_heads, n_tokens) ---- */
kernel void k_rope(gcu *x, ulong x_off, ulong x_nb1, ulong x_nb2, gcu *pos, ulong p_off,
                   ulong p_nb0, gcu *ff, ulong ff_off, int has_ff, gu *d, ulong d_off,
                   ulong d_nb1, ulong d_nb2, int hd, int n_rot, int mode, float theta_scale,
                   float freq_scale, float ext_factor, float attn_factor, float mscale_ext,
                   float corr0, float corr1)
{
    const long h = get_global_id(0), t = get_global_id(1);
    const int pv = *(global const int *)(pos + p_off + (ulong)t * p_nb0);
    global const float *xr = (global const float *)(x + x_off + (ulong)h * x_nb1 + (ulong)t * x_nb2);
    global float *yr = (global float *)(d + d_off + (ulong)h * d_nb1 + (ulong)t * d_nb2);
    global const float *fr = (global const float *)(ff + ff_off);
    const int hr = n_rot / 2;
    float theta_base = (float)pv;
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float extrap = theta_base / (has_ff ? fr[i0 / 2] : 1.0f);
        const float interp = freq_scale * extrap;
        float theta = interp, ms = attn_factor;
        if (ext_factor != 0.0f) {
            const float y = ((float)(i0 / 2) - corr0) / fmax(0.001f, corr1 - corr0);
            const float ramp = 1.0f - fmin(1.0f, fmax(0.0f, y));
            const float mix = ramp * ext_factor;
            theta = interp * (1.0f - mix) + extrap * mix;
            ms = mscale_ext;
        }
        const float c = cos(theta) * ms, s = sin(theta) * ms;
        if (mode == 0) {
            const float x0 = xr[i0], x1 = xr[i0 + 1];
            yr[i0] = x0 * c - x1 * s;
            yr[i0 + 1] = x0 * s + x1 * c;
        } else {
            const int ic = i0 / 2;
            const float x0 = xr[ic], x1 = xr[ic + hr];
            yr[ic] = x0 * c - x1 * s;
            yr[ic + hr] = x0 * s + x1 * c;
        }
        theta_base *= theta_scale;
    }
    for (int i = n_rot; i < hd; i++)
        yr[i] = xr[i];
}

/* ---- CPY between F32 / F16 / BF16, any strides: global (ne0, rows) ---- */
kernel void k_cpy(gcu *s, ulong s_off, long4 ne, ulong4 s_nb, int st, gu *d, ulong d_off,
                  ulong4 d_nb, int dt)
{
    const long i0 = get_global_id(0), r = get_global_id(1);
    gcu *sp = s + s_off + row_off(r, ne, s_nb) + (ulong)i0 * s_nb.s0;
    gu *dp = d + d_off + row_off(r, ne, d_nb) + (ulong)i0 * d_nb.s0;
    float v;
    if (st == DT_F16)
        v = f16_to_f32(ld_u16(sp));
    else if (st == DT_BF16)
        v = bf16_to_f32(ld_u16(sp));
    else
        v = ld_f32(sp);
    if (dt == DT_F32) {
        *(global float *)dp = v;
    } else {
        const uint h = dt == DT_F16 ? f32_to_f16(v) : f32_to_bf16(v);
        dp[0] = (uchar)(h & 0xffu);
        dp[1] = (uchar)(h >> 8);
    }
}

/* ---- ATTENTION: global (n_head, n_tokens in this launch) ---- */
kernel void k_attention(gcu *q, ulong q_off, ulong q_nb1, ulong q_nb2, gcu *k, ulong k_off,
                        ulong k_nb1, ulong k_nb2, int k_f16, gcu *v, ulong v_off, ulong v_nb1,
                        ulong v_nb2, int v_f16, gu *d, ulong d_off, ulong d_nb1, ulong d_nb2,
                        global float *scores, int D, int H, int group, int n_kv, int pos0,
                        int causal, float scale, int t0)
{
    const int h = (int)get_global_id(0), tl = (int)get_global_id(1);
    const int tok = t0 + tl, hk = h / group;
    int n_vis = n_kv;
    if (causal && pos0 + tok + 1 < n_kv)
        n_vis = pos0 + tok + 1;
    global const float *qr = (global const float *)(q + q_off + (ulong)h * q_nb1 + (ulong)tok * q_nb2);
    gcu *kb = k + k_off + (ulong)hk * k_nb1;
    gcu *vb = v + v_off + (ulong)hk * v_nb1;
    global float *s = scores + ((ulong)tl * (ulong)H + (ulong)h) * (ulong)n_kv;
    float mx = -INFINITY;
    for (int j = 0; j < n_vis; j++) {
        gcu *kr = kb + (ulong)j * k_nb2;
        acc_t dot = 0;
        if (k_f16) {
            global const half *kh = (global const half *)kr;
            for (int i = 0; i < D; i++)
                dot += (acc_t)(vload_half((size_t)i, kh) * qr[i]);
        } else {
            global const float *kf = (global const float *)kr;
            for (int i = 0; i < D; i++)
                dot += (acc_t)(kf[i] * qr[i]);
        }
        const float sv = (float)dot * scale;
        s[j] = sv;
        mx = sv > mx ? sv : mx;
    }
    acc_t sum = 0;
    for (int j = 0; j < n_vis; j++) {
        const float e = exp(s[j] - mx);
        s[j] = e;
        sum += (acc_t)e;
    }
    const float inv = (float)((acc_t)1 / sum);
    for (int j = 0; j < n_vis; j++)
        s[j] = s[j] * inv;
    global float *yr = (global float *)(d + d_off + (ulong)h * d_nb1 + (ulong)tok * d_nb2);
    for (int i = 0; i < D; i++) {
        float acc = 0.0f;
        for (int j = 0; j < n_vis; j++) {
            gcu *vr = vb + (ulong)j * v_nb2;
            const float vv = v_f16 ? vload_half((size_t)i, (global const half *)vr)
                                   : ((global const float *)vr)[i];
            acc += s[j] * vv;
        }
        yr[i] = acc;
    }
}

/* ---- activation quantization for MUL_MAT ---- */

/* Q8_0: global (K / 32, rows); qs row-major (rows, K), ds (rows, K / 32) */
kernel void k_quant_q8_0(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, global char *qs,
                         global float *ds)
{
    const long b = get_global_id(0), r = get_global_id(1);
    const long K = ne.s0;
    global const float *xb = (global const float *)(x + x_off + row_off(r, ne, x_nb)) + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = fmax(amax, fabs(xb[j]));
    const float dd = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    ds[r * (K / 32) + b] = round_f16(dd);
    global char *q = qs + r * K + 32 * b;
    for (int j = 0; j < 32; j++) {
        float v = rint(xb[j] * id);
        v = fmax(v, -127.0f);
        v = fmin(v, 127.0f);
        q[j] = (char)(int)v;
    }
}

/* Q8_K: global (K / 256, rows); qs (rows, K), ds (rows, K / 256) */
kernel void k_quant_q8_k(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, global char *qs,
                         global float *ds)
{
    const long b = get_global_id(0), r = get_global_id(1);
    const long K = ne.s0;
    global const float *xb = (global const float *)(x + x_off + row_off(r, ne, x_nb)) + 256 * b;
    global char *q = qs + r * K + 256 * b;
    float amax = 0.0f, mx = 0.0f;
    for (int j = 0; j < 256; j++) {
        const float ax = fabs(xb[j]);
        if (ax > amax) {
            amax = ax;
            mx = xb[j];
        }
    }
    if (amax == 0.0f) {
        for (int j = 0; j < 256; j++)
            q[j] = 0;
        ds[r * (K / 256) + b] = 0.0f;
        return;
    }
    const float iscale = -127.0f / mx;
    for (int j = 0; j < 256; j++) {
        float v = rint(iscale * xb[j]);
        v = fmax(v, -128.0f);
        v = fmin(v, 127.0f);
        q[j] = (char)(int)v;
    }
    ds[r * (K / 256) + b] = 1.0f / iscale;
}

/* F16 / BF16 weights: activations rounded once to the weight's precision.
 * global (K, rows); xs (rows, K) */
kernel void k_round_x(gcu *x, ulong x_off, long4 ne, ulong4 x_nb, global float *xs, int bf16)
{
    const long i = get_global_id(0), r = get_global_id(1);
    const float v = ld_f32(x + x_off + row_off(r, ne, x_nb) + 4 * (ulong)i);
    xs[r * ne.s0 + i] = bf16 ? round_bf16(v) : round_f16(v);
}

/* ---- MUL_MAT: global (N, rows of X over dims 1..3) ---- */
kernel void k_mul_mat(gcu *w, ulong w_off, ulong4 w_nb, int dt, long rw2, long rw3, gcu *x,
                      ulong x_off, long4 x_ne, ulong4 x_nb, global const char *qs,
                      global const float *ds, gu *d, ulong d_off, ulong4 d_nb)
{
    const long n = get_global_id(0), r = get_global_id(1);
    const long K = x_ne.s0;
    const long m = r % x_ne.s1, b2 = (r / x_ne.s1) % x_ne.s2, b3 = r / (x_ne.s1 * x_ne.s2);
    gcu *wr = w + w_off + (ulong)n * w_nb.s1 + (ulong)(b2 / rw2) * w_nb.s2 +
              (ulong)(b3 / rw3) * w_nb.s3;
    float out;
    if (dt == DT_F32 || dt == DT_F16 || dt == DT_BF16) {
        global const float *xr =
            (global const float *)(x + x_off + (ulong)m * x_nb.s1 + (ulong)b2 * x_nb.s2 +
                                   (ulong)b3 * x_nb.s3);
        acc_t s = 0;
        if (dt == DT_F32) {
            global const float *wf = (global const float *)wr;
            for (long i = 0; i < K; i++)
                s += (acc_t)(wf[i] * xr[i]);
        } else if (dt == DT_F16) {
            global const float *xq = ds + r * K;
            global const half *wh = (global const half *)wr; /* vload_half: exact, core 1.2 */
            for (long i = 0; i < K; i++)
                s += (acc_t)(vload_half((size_t)i, wh) * xq[i]);
        } else {
            global const float *xq = ds + r * K;
            for (long i = 0; i < K; i++)
                s += (acc_t)(bf16_to_f32(ld_u16(wr + 2 * i)) * xq[i]);
        }
        out = (float)s;
    } else if (dt == DT_Q8_0 || dt == DT_Q4_0) {
        const long nb = K / 32;
        global const char *q8 = qs + r * K;
        global const float *dx = ds + r * nb;
        float s = 0.0f;
        for (long b = 0; b < nb; b++) {
            int isum = 0;
            float dw;
            if (dt == DT_Q8_0) {
                gcu *blk = wr + b * 34;
                dw = f16_to_f32(ld_u16(blk));
                for (int j = 0; j < 32; j++)
                    isum += (int)(char)blk[2 + j] * (int)q8[32 * b + j];
            } else {
                gcu *blk = wr + b * 18;
                dw = f16_to_f32(ld_u16(blk));
                for (int j = 0; j < 16; j++) {
                    isum += ((int)(blk[2 + j] & 0xf) - 8) * (int)q8[32 * b + j];
                    isum += ((int)(blk[2 + j] >> 4) - 8) * (int)q8[32 * b + j + 16];
                }
            }
            s += (float)isum * (dw * dx[b]);
        }
        out = s;
    } else {
        const long nb = K / 256;
        float s = 0.0f;
        for (long b = 0; b < nb; b++) {
            global const char *q8 = qs + r * K + 256 * b;
            const float dx = ds[r * nb + b];
            if (dt == DT_Q4_K) {
                gcu *blk = wr + b * 144;
                gcu *q = blk + 16;
                int isum = 0, imin = 0;
                for (int j = 0; j < 4; j++) {
                    int sc0, m0, sc1, m1;
                    q4k_scale_min(2 * j, blk + 4, &sc0, &m0);
                    q4k_scale_min(2 * j + 1, blk + 4, &sc1, &m1);
                    int s0 = 0, s1 = 0, bs0 = 0, bs1 = 0;
                    for (int l = 0; l < 32; l++) {
                        s0 += (int)(q[l] & 0xf) * (int)q8[l];
                        s1 += (int)(q[l] >> 4) * (int)q8[l + 32];
                        bs0 += q8[l];
                        bs1 += q8[l + 32];
                    }
                    isum += sc0 * s0 + sc1 * s1;
                    imin += m0 * bs0 + m1 * bs1;
                    q += 32;
                    q8 += 64;
                }
                const float dd = f16_to_f32(ld_u16(blk)) * dx;
                const float dm = f16_to_f32(ld_u16(blk + 2)) * dx;
                s += dd * (float)isum - dm * (float)imin;
            } else {
                gcu *blk = wr + b * 210;
                int isum = 0;
                for (int j = 0; j < 16; j++) {
                    int sj = 0;
                    for (int i = 0; i < 16; i++)
                        sj += q6k_quant(blk, 16 * j + i) * (int)q8[16 * j + i];
                    isum += (int)(char)blk[192 + j] * sj;
                }
                s += (f16_to_f32(ld_u16(blk + 208)) * dx) * (float)isum;
            }
        }
        out = s;
    }
    *(global float *)(d + d_off + (ulong)m * d_nb.s1 + (ulong)b2 * d_nb.s2 + (ulong)b3 * d_nb.s3 +
                      4 * (ulong)n) = out;
}
