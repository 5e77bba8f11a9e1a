/*
 * CPU backend kernels and ops.
 *
 * 1. Reference (scalar) kernels against hand-built blocks and naive float
 *    math: dequantizers, half/bfloat16 rounding, activation quantizers,
 *    every weight dtype's dot product.
 * 2. Every SIMD path this machine supports against the scalar reference,
 *    for every op and dtype, through the same runner the plugin uses, with
 *    seeded random inputs and sizes that are not multiples of the block or
 *    vector width. Paths the CPU lacks are reported as skipped.
 *
 * PLMM_CPU_TEST_FEATURES=<hex PLMM_CPU_* mask> overrides the detected
 * features (to run emulated paths, e.g. under an instruction emulator).
 */
#include "cpu_detect.h"
#include "cpu_kernels.h"
#include "cpu_ops.h"
#include "plmm_sdk.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tolerances ---- */

/* SIMD vs scalar where the ISA does not promise the reference's bits: the
 * same arithmetic in another float summation order (and, on NEON, a
 * vector expf within 2 ulp of the C library): relative errors of order
 * 1e-6 at worst, NMSE far below this bound. */
#define TOL_SIMD_NMSE 1e-9
/* max |simd - scalar| relative to max |scalar| of the output */
#define TOL_SIMD_MAXREL 1e-4
/* Scalar dot products vs double-precision math on the same dequantized
 * activations: the integer sums are exact, only the float products of the
 * block scales and the float accumulation round. */
#define TOL_SAME_ACT_NMSE 1e-10
/* Scalar dot products vs math on the unquantized activations: 8-bit
 * activations carry a rounding error of about amax / (127 sqrt 12) per
 * element, NMSE around 5e-5; f16 rounding (2^-11 relative) about 1e-7;
 * bf16 (2^-8) about 2e-6. Bounds with headroom for small sizes: */
#define TOL_Q8_ACT_NMSE 5e-4
#define TOL_F16_ACT_NMSE 1e-5
#define TOL_BF16_ACT_NMSE 1e-4
/* Ops vs naive double math: float rounding only. */
#define TOL_OP_NMSE 1e-10
/* ROPE angles come from an iterated float product (as in the reference
 * runtime), off by a few ulp per step: absolute error ~1e-4 at position 64. */
#define TOL_ROPE_MAXABS 2e-3

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [-1, 1) */
static float rnd_f(void)
{
    return (float)((double)(rnd_u64() >> 11) * 0x1p-53 * 2.0 - 1.0);
}

static void fill_f(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rnd_f() * scale;
}

static void *talloc(void *ctx, size_t size, size_t align)
{
    void *p = NULL;
    (void)ctx;
    if (align < sizeof(void *))
        align = sizeof(void *);
    return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static void tfree(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static void *xmalloc(size_t n)
{
    void *p = talloc(NULL, n, 64);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(p, 0, n);
    return p;
}

/* normalised mean squared error of a against reference b */
static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0.0 ? num / den : num;
}

static double nmse_d(const float *a, const double *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0.0 ? num / den : num;
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) != isnan(b[i]))
            return INFINITY;
        m = d > m ? d : m;
        mb = fabs((double)b[i]) > mb ? fabs((double)b[i]) : mb;
    }
    return mb > 0.0 ? m / mb : m;
}

static plmm_tensor tensor(uint32_t dtype, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                          void *data)
{
    plmm_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = ne3;
    if (!plmm_tensor_set_dense_strides(&t))
        fprintf(stderr, "bad tensor shape\n");
    t.data = data;
    return t;
}

/* ---- runners: one per instruction set, with and without threads ---- */

typedef struct runner {
    cpu_runner r;
    cpu_pool *pool;
} runner;

static void runner_open(runner *rn, cpu_isa isa, int nth)
{
    cpu_kern k;
    if (!cpu_kern_init(&k, isa)) {
        fprintf(stderr, "no kernels for %s\n", cpu_isa_name(isa));
        exit(2);
    }
    rn->pool = NULL;
    if (nth > 1 && cpu_pool_create(nth, talloc, tfree, NULL, &rn->pool) != PLMM_OK) {
        fprintf(stderr, "cannot start threads\n");
        exit(2);
    }
    cpu_runner_init(&rn->r, &k, rn->pool, talloc, tfree, NULL);
}

static void runner_close(runner *rn)
{
    cpu_runner_release(&rn->r);
    cpu_pool_destroy(rn->pool);
}

/* Check and run one node whose tensors carry host data pointers. */
static plmm_status run_node(runner *rn, const plmm_node *nd, char *msg, size_t n)
{
    cpu_task t;
    memset(&t, 0, sizeof(t));
    t.node = nd;
    plmm_status st = cpu_node_check(nd, msg, n);
    if (st != PLMM_OK)
        return st;
    t.dst = nd->dst->data;
    for (int i = 0; i < PLMM_MAX_SRC; i++)
        t.src[i] = nd->src[i] != NULL ? nd->src[i]->data : NULL;
    if ((st = cpu_task_check_align(&t, msg, n)) != PLMM_OK)
        return st;
    return cpu_runner_run(&rn->r, &t, 1, msg, n);
}

static void run_ok(runner *rn, const plmm_node *nd, const char *what)
{
    char msg[256] = "";
    plmm_status st = run_node(rn, nd, msg, sizeof(msg));
    CHECK_MSG(st == PLMM_OK, "%s: status %d: %s", what, (int)st, msg);
}

/* ---- random weights of every dtype (any byte pattern is a valid block) ---- */

static uint16_t rnd_scale_f16(void)
{
    return cpu_f32_to_f16(0.001f + 0.02f * fabsf(rnd_f()));
}

/* rows x k weights of dtype t; returns the row size in bytes */
static void *rnd_weights(uint32_t t, int64_t rows, int64_t k, size_t *row_bytes)
{
    size_t rb = (size_t)plmm_dtype_row_bytes(t, k);
    uint8_t *p = xmalloc(rb * (size_t)rows);
    *row_bytes = rb;
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *row = p + (size_t)r * rb;
        switch (t) {
        case PLMM_DTYPE_F32:
            fill_f((float *)(void *)row, (size_t)k, 1.0f);
            break;
        case PLMM_DTYPE_F16:
            for (int64_t i = 0; i < k; i++)
                ((uint16_t *)(void *)row)[i] = cpu_f32_to_f16(rnd_f());
            break;
        case PLMM_DTYPE_BF16:
            for (int64_t i = 0; i < k; i++)
                ((uint16_t *)(void *)row)[i] = cpu_f32_to_bf16(rnd_f());
            break;
        case PLMM_DTYPE_Q8_0:
            for (int64_t b = 0; b < k / 32; b++) {
                block_q8_0 *blk = (block_q8_0 *)(void *)(row + (size_t)b * sizeof(block_q8_0));
                blk->d = rnd_scale_f16();
                for (int j = 0; j < 32; j++) /* includes -128, which quantizers never write */
                    blk->qs[j] = (int8_t)(rnd_u64() & 0xff);
            }
            break;
        case PLMM_DTYPE_Q4_0:
            for (int64_t b = 0; b < k / 32; b++) {
                block_q4_0 *blk = (block_q4_0 *)(void *)(row + (size_t)b * sizeof(block_q4_0));
                blk->d = rnd_scale_f16();
                for (int j = 0; j < 16; j++)
                    blk->qs[j] = (uint8_t)rnd_u64();
            }
            break;
        case PLMM_DTYPE_Q4_K:
            for (int64_t b = 0; b < k / 256; b++) {
                block_q4_K *blk = (block_q4_K *)(void *)(row + (size_t)b * sizeof(block_q4_K));
                blk->d = cpu_f32_to_f16(0.0005f + 0.001f * fabsf(rnd_f()));
                blk->dmin = cpu_f32_to_f16(0.0005f + 0.001f * fabsf(rnd_f()));
                for (int j = 0; j < 12; j++)
                    blk->scales[j] = (uint8_t)rnd_u64();
                for (int j = 0; j < 128; j++)
                    blk->qs[j] = (uint8_t)rnd_u64();
            }
            break;
        case PLMM_DTYPE_Q6_K:
            for (int64_t b = 0; b < k / 256; b++) {
                block_q6_K *blk = (block_q6_K *)(void *)(row + (size_t)b * sizeof(block_q6_K));
                blk->d = cpu_f32_to_f16(0.0001f + 0.0005f * fabsf(rnd_f()));
                for (int j = 0; j < 128; j++)
                    blk->ql[j] = (uint8_t)rnd_u64();
                for (int j = 0; j < 64; j++)
                    blk->qh[j] = (uint8_t)rnd_u64();
                for (int j = 0; j < 16; j++)
                    blk->scales[j] = (int8_t)(rnd_u64() & 0xff);
            }
            break;
        default:
            break;
        }
    }
    return p;
}

static const uint32_t weight_types[] = {PLMM_DTYPE_F32,  PLMM_DTYPE_F16,  PLMM_DTYPE_BF16,
                                        PLMM_DTYPE_Q8_0, PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K,
                                        PLMM_DTYPE_Q6_K};
#define N_WEIGHT_TYPES (sizeof(weight_types) / sizeof(weight_types[0]))

/* ================= part 1: the reference kernels ================= */

static void test_half_conversions(void)
{
    /* every half value round-trips, and agrees with the SDK's converter */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cpu_f16_to_f32((uint16_t)h);
        float g = plmm_fp16_to_fp32((uint16_t)h);
        if (isnan(f)) {
            bad += !isnan(g);
            continue;
        }
        bad += memcmp(&f, &g, 4) != 0;
        bad += cpu_f32_to_f16(f) != (uint16_t)h;
    }
    CHECK_MSG(bad == 0, "%d half values do not round-trip", bad);
    /* rounding to nearest even at ties, overflow, subnormals */
    CHECK(cpu_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);     /* tie -> even */
    CHECK(cpu_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02); /* tie -> even (up) */
    CHECK(cpu_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(cpu_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(cpu_f32_to_f16(65520.0f) == 0x7c00);            /* rounds to inf */
    CHECK(cpu_f32_to_f16(-0x1p-25f) == 0x8000);           /* tie -> even (0) */
    CHECK(cpu_f32_to_f16(3 * 0x1p-25f) == 0x0002);        /* tie -> even */
    CHECK(cpu_f32_to_f16(0x1p-14f - 0x1p-25f) == 0x0400); /* rounds up to normal */
    CHECK(cpu_f32_to_f16(INFINITY) == 0x7c00);
    CHECK((cpu_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (cpu_f32_to_f16(NAN) & 0x3ff) != 0);
    int diff = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)rnd_u64();
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f))
            continue;
        diff += cpu_f32_to_f16(f) != plmm_fp32_to_fp16(f);
        diff += cpu_f32_to_bf16(f) != plmm_fp32_to_bf16(f);
    }
    CHECK_MSG(diff == 0, "%d conversions differ from the SDK's", diff);
    CHECK(cpu_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(cpu_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);     /* tie -> even */
    CHECK(cpu_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82); /* tie -> even (up) */
    CHECK(cpu_bf16_to_f32(0xc000) == -2.0f);
}

static void test_dequant_known(void)
{
    float y[256];
    /* Q8_0: d = 0.5, q = j - 16 */
    block_q8_0 q8 = {.d = 0x3800};
    for (int j = 0; j < 32; j++)
        q8.qs[j] = (int8_t)(j - 16);
    cpu_ref_dequant_q8_0(&q8, y, 32);
    for (int j = 0; j < 32; j++)
        CHECK_MSG(y[j] == 0.5f * (float)(j - 16), "q8_0[%d] = %g", j, (double)y[j]);

    /* Q4_0: d = 2, low nibble j, high nibble 15 - j */
    block_q4_0 q4 = {.d = 0x4000};
    for (int j = 0; j < 16; j++)
        q4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    cpu_ref_dequant_q4_0(&q4, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK_MSG(y[j] == 2.0f * (float)(j - 8), "q4_0[%d] = %g", j, (double)y[j]);
        CHECK_MSG(y[j + 16] == 2.0f * (float)(7 - j), "q4_0[%d] = %g", j + 16, (double)y[j + 16]);
    }

    /* Q4_K: d = 1, dmin = 0.5, 6-bit scales and mins packed by hand */
    static const uint8_t sc[8] = {1, 7, 33, 63, 17, 48, 5, 62};
    static const uint8_t mn[8] = {0, 9, 40, 63, 31, 2, 50, 16};
    block_q4_K qk = {.d = 0x3c00, .dmin = 0x3800};
    for (int j = 0; j < 4; j++) {
        qk.scales[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        qk.scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        qk.scales[j + 8] = (uint8_t)((sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4));
    }
    for (int j = 0; j < 128; j++)
        qk.qs[j] = (uint8_t)(j * 7 + 3);
    cpu_ref_dequant_q4_k(&qk, y, 256);
    int bad = 0;
    for (int i = 0; i < 256; i++) {
        int g = i / 64, hi = (i % 64) >= 32, sub = 2 * g + hi;
        uint8_t byte = qk.qs[32 * g + i % 32];
        int q = hi ? byte >> 4 : byte & 0xf;
        float want = 1.0f * (float)sc[sub] * (float)q - 0.5f * (float)mn[sub];
        bad += y[i] != want;
    }
    CHECK_MSG(bad == 0, "q4_K: %d values differ", bad);

    /* Q6_K: d = 0.25, quant i = (5 i + 3) mod 64, signed scales */
    block_q6_K q6;
    memset(&q6, 0, sizeof(q6));
    q6.d = 0x3400;
    int qv[256];
    for (int i = 0; i < 256; i++) {
        qv[i] = (5 * i + 3) % 64;
        int h = i / 128, l = i % 128, g = l / 32, pos = l % 32;
        uint8_t *ql = &q6.ql[64 * h + (g % 2 ? 32 : 0) + pos];
        *ql |= (uint8_t)(g < 2 ? (qv[i] & 0xf) : (qv[i] & 0xf) << 4);
        q6.qh[32 * h + pos] |= (uint8_t)((qv[i] >> 4) << (2 * g));
    }
    for (int j = 0; j < 16; j++)
        q6.scales[j] = (int8_t)((j * 13) % 37 - 18);
    cpu_ref_dequant_q6_k(&q6, y, 256);
    bad = 0;
    for (int i = 0; i < 256; i++)
        bad += y[i] != 0.25f * (float)q6.scales[i / 16] * (float)(qv[i] - 32);
    CHECK_MSG(bad == 0, "q6_K: %d values differ", bad);

    /* F16 / BF16 rows */
    const uint16_t h[5] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400};
    const float hf[5] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, -0x1p-14f};
    cpu_ref_dequant_f16(h, y, 5);
    for (int i = 0; i < 5; i++)
        CHECK(y[i] == hf[i]);
    const uint16_t b[3] = {0x3f80, 0xc040, 0x0000};
    cpu_ref_dequant_bf16(b, y, 3);
    CHECK(y[0] == 1.0f && y[1] == -3.0f && y[2] == 0.0f);
}

static void test_quantizers_known(void)
{
    /* Q8_0: amax 127 gives d = 1 and q = x * (127 / 127) rounded to
     * nearest even */
    float x[256];
    block_q8_0 q8[2];
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    x[0] = 127.0f;
    x[1] = 0.5f;
    x[2] = -0.5f;
    x[3] = 1.5f;
    x[4] = 2.5f;
    x[5] = -2.5f;
    x[6] = 3.49f;
    x[7] = -126.6f;
    cpu_ref_quant_q8_0(x, q8, 32);
    CHECK(q8[0].d == 0x3c00);
    CHECK(q8[0].qs[0] == 127 && q8[0].qs[1] == 0 && q8[0].qs[2] == 0 && q8[0].qs[3] == 2);
    CHECK(q8[0].qs[4] == 2 && q8[0].qs[5] == -2 && q8[0].qs[6] == 3 && q8[0].qs[7] == -127);
    CHECK(q8[0].qs[8] == 0);
    /* the scale is 127 / amax, not 1 / (amax / 127): for amax = 2.59 the two
     * differ in the last bit, enough to move x = 0.0305905528 from 1 to 2 */
    memset(x, 0, 32 * sizeof(float));
    x[0] = 2.59000015f;
    x[1] = 0.0305905528f;
    cpu_ref_quant_q8_0(x, q8, 32);
    CHECK(q8[0].qs[0] == 127 && q8[0].qs[1] == 1);
    /* all-zero block: d = 0, q = 0 */
    memset(x, 0, 32 * sizeof(float));
    cpu_ref_quant_q8_0(x, q8, 32);
    CHECK(q8[0].d == 0 && q8[0].qs[5] == 0);

    /* Q8_K: the element of largest magnitude (-254) maps to -127 (scale
     * -127 / -254 = 0.5), quants round to nearest even, d = 1 / 0.5 */
    block_q8_K qk;
    for (int j = 0; j < 256; j++)
        x[j] = (float)(j % 7);
    x[0] = -254.0f;
    x[1] = 3.0f;   /* 1.5 -> 2 */
    x[2] = 5.0f;   /* 2.5 -> 2 */
    x[3] = 254.0f; /* same magnitude later: the first one sets the sign */
    cpu_ref_quant_q8_k(x, &qk, 256);
    CHECK(qk.d == 2.0f);
    CHECK(qk.qs[0] == -127 && qk.qs[1] == 2 && qk.qs[2] == 2 && qk.qs[3] == 127);
    int bad = 0;
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++)
            s += qk.qs[16 * g + i];
        bad += qk.bsums[g] != s;
    }
    CHECK(bad == 0);
    memset(x, 0, sizeof(x));
    cpu_ref_quant_q8_k(x, &qk, 256);
    CHECK(qk.d == 0.0f && qk.qs[100] == 0 && qk.bsums[3] == 0);
}

/* The scalar dot of every dtype against double math: on the dequantized
 * activations (tight: integer sums are exact) and on the original ones
 * (loose: activation quantization). */
static void test_ref_dots(void)
{
    const int64_t ks[] = {256, 768};
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const uint32_t t = weight_types[ti];
        for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
            const int64_t k = ks[ki], rows = 24;
            size_t rb;
            void *w = rnd_weights(t, rows, k, &rb);
            float *x = xmalloc((size_t)k * sizeof(float));
            float *xd = xmalloc((size_t)k * sizeof(float));
            float *wd = xmalloc((size_t)k * sizeof(float));
            void *xq = xmalloc(cpu_vec_dot_row_bytes(t, k));
            fill_f(x, (size_t)k, 1.0f);
            x[5] = 4.0f; /* an outlier, as activations have */
            cpu_kern kern;
            cpu_kern_init(&kern, CPU_ISA_SCALAR);
            cpu_vec_dot_convert(&kern, t, x, xq, k);
            /* the activations as the dot product sees them */
            switch (cpu_vec_dot_type(t)) {
            case PLMM_DTYPE_Q8_0:
                cpu_ref_dequant_q8_0(xq, xd, k);
                break;
            case PLMM_DTYPE_Q8_K:
                cpu_ref_dequant_q8_k(xq, xd, k);
                break;
            default:
                memcpy(xd, xq, (size_t)k * sizeof(float));
                break;
            }
            float got[24];
            double same[24], orig[24];
            for (int64_t r = 0; r < rows; r++) {
                const char *wr = (const char *)w + (size_t)r * rb;
                kern.dequant[t](wr, wd, k);
                double s1 = 0.0, s2 = 0.0;
                for (int64_t i = 0; i < k; i++) {
                    s1 += (double)wd[i] * (double)xd[i];
                    s2 += (double)wd[i] * (double)x[i];
                }
                same[r] = s1;
                orig[r] = s2;
                got[r] = cpu_ref_vec_dot(t, k, wr, xq);
            }
            double e1 = nmse_d(got, same, (size_t)rows), e2 = nmse_d(got, orig, (size_t)rows);
            double tol2 = t == PLMM_DTYPE_F32    ? TOL_SAME_ACT_NMSE
                          : t == PLMM_DTYPE_F16  ? TOL_F16_ACT_NMSE
                          : t == PLMM_DTYPE_BF16 ? TOL_BF16_ACT_NMSE
                                                 : TOL_Q8_ACT_NMSE;
            CHECK_MSG(e1 < TOL_SAME_ACT_NMSE, "ref dot %s k=%lld vs same activations: nmse %g",
                      plmm_dtype_name(t), (long long)k, e1);
            CHECK_MSG(e2 < tol2, "ref dot %s k=%lld vs float activations: nmse %g (bound %g)",
                      plmm_dtype_name(t), (long long)k, e2, tol2);
            free(w);
            free(x);
            free(xd);
            free(wd);
            free(xq);
        }
    }
}

/* ================= part 2: each op, SIMD (or threads) vs scalar ================= */

/* Compare out against ref; bitwise when exact. */
static void compare(const char *isa, const char *what, const float *out, const float *ref, size_t n,
                    bool exact)
{
    if (exact) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            bad +=
                memcmp(&out[i], &ref[i], sizeof(float)) != 0 && !(isnan(out[i]) && isnan(ref[i]));
        CHECK_MSG(bad == 0, "%s %s: %zu of %zu values differ", isa, what, bad, n);
        return;
    }
    double e = nmse(out, ref, n), m = max_rel(out, ref, n);
    CHECK_MSG(e < TOL_SIMD_NMSE && m < TOL_SIMD_MAXREL, "%s %s: nmse %g, max rel %g", isa, what, e,
              m);
}

typedef struct ctx {
    runner ref;   /* scalar, 1 thread */
    runner test;  /* the ISA under test, 1 thread */
    runner test3; /* the ISA under test, 3 threads */
    const char *isa;
    bool is_scalar;
    /* the ISA promises the reference's bits for Q4_0/Q4_K/Q6_K MUL_MAT, SILU,
     * SWIGLU, SOFTMAX and ATTENTION (x86: AVX2, AVX-512), so backends that
     * follow the reference agree with it token for token */
    bool exact;
} ctx;

/* Run nd on the reference runner and on both test runners; dst->data is
 * overwritten each time. in_place: the node's dst aliases src0, whose
 * original contents (n_in floats) are restored before each run. */
static void run3(ctx *c, plmm_node *nd, size_t n_out, const char *what, bool exact_simd)
{
    float *saved = NULL;
    size_t n_in = 0;
    const bool in_place = nd->src[0] != NULL && nd->dst->data == nd->src[0]->data;
    if (in_place) {
        n_in = n_out;
        saved = xmalloc(n_in * sizeof(float));
        memcpy(saved, nd->dst->data, n_in * sizeof(float));
    }
    float *ref = xmalloc(n_out * sizeof(float));
    float *out = xmalloc(n_out * sizeof(float));
    char buf[160];
    run_ok(&c->ref, nd, what);
    memcpy(ref, nd->dst->data, n_out * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        if (in_place)
            memcpy(nd->dst->data, saved, n_in * sizeof(float));
        else
            memset(nd->dst->data, 0xff, n_out * sizeof(float)); /* NaN: unwritten outputs show */
        run_ok(pass == 0 ? &c->test : &c->test3, nd, what);
        memcpy(out, nd->dst->data, n_out * sizeof(float));
        snprintf(buf, sizeof(buf), "%s%s", what, pass ? " (3 threads)" : "");
        compare(c->isa, buf, out, ref, n_out, exact_simd || c->is_scalar);
    }
    if (in_place)
        memcpy(nd->dst->data, saved, n_in * sizeof(float));
    free(saved);
    free(ref);
    free(out);
}

static void test_mul_mat_case(ctx *c, uint32_t t, int64_t k, int64_t n, int64_t m, int64_t b2,
                              int64_t wb2, bool strided_x)
{
    size_t rb;
    void *w = rnd_weights(t, n * wb2, k, &rb);
    const int64_t xpad = strided_x ? 8 : 0; /* floats between activation rows */
    float *x = xmalloc((size_t)(k + xpad) * (size_t)m * (size_t)b2 * sizeof(float));
    fill_f(x, (size_t)(k + xpad) * (size_t)m * (size_t)b2, 1.0f);
    float *y = xmalloc((size_t)n * (size_t)m * (size_t)b2 * sizeof(float));
    plmm_tensor tw = tensor(t, k, n, wb2, 1, w);
    plmm_tensor tx = tensor(PLMM_DTYPE_F32, k, m, b2, 1, x);
    tx.nb[1] = (uint64_t)(k + xpad) * sizeof(float);
    tx.nb[2] = tx.nb[1] * (uint64_t)m;
    tx.nb[3] = tx.nb[2] * (uint64_t)b2;
    plmm_tensor ty = tensor(PLMM_DTYPE_F32, n, m, b2, 1, y);
    plmm_node nd = {.op = PLMM_OP_MUL_MAT, .dst = &ty, .src = {&tw, &tx}};
    char what[96];
    snprintf(what, sizeof(what), "MUL_MAT %s K=%lld N=%lld M=%lld B=%lld/%lld%s",
             plmm_dtype_name(t), (long long)k, (long long)n, (long long)m, (long long)b2,
             (long long)wb2, strided_x ? " strided" : "");
    run3(c, &nd, (size_t)(n * m * b2), what,
         c->exact && (t == PLMM_DTYPE_Q4_K || t == PLMM_DTYPE_Q6_K || t == PLMM_DTYPE_Q4_0));

    /* the scalar runner's tiling equals one reference dot per output */
    if (c->is_scalar) {
        run_ok(&c->ref, &nd, what);
        cpu_kern kern;
        cpu_kern_init(&kern, CPU_ISA_SCALAR);
        void *xq = xmalloc(cpu_vec_dot_row_bytes(t, k));
        size_t bad = 0;
        for (int64_t bb = 0; bb < b2; bb++)
            for (int64_t mm = 0; mm < m; mm++) {
                cpu_vec_dot_convert(&kern, t, x + (size_t)((bb * m + mm) * (k + xpad)), xq, k);
                for (int64_t nn = 0; nn < n; nn++) {
                    const char *wr = (const char *)w + (size_t)((bb / (b2 / wb2)) * n + nn) * rb;
                    float want = cpu_ref_vec_dot(t, k, wr, xq);
                    bad += y[(bb * m + mm) * n + nn] != want;
                }
            }
        CHECK_MSG(bad == 0, "%s: %zu outputs differ from single reference dots", what, bad);
        free(xq);
    }
    free(w);
    free(x);
    free(y);
}

static void test_mul_mat(ctx *c)
{
    /* N = 16: whole 8-row groups (the 8-row kernels), others: plain tiles */
    static const int64_t ns[] = {1, 3, 16, 17}, ms[] = {1, 5, 33};
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const uint32_t t = weight_types[ti];
        const uint32_t be = plmm_dtype_block_elems(t);
        int64_t ks[3];
        size_t nk;
        if (be == 256) {
            ks[0] = 256;
            ks[1] = 256 * 3;
            nk = 2;
        } else if (be == 32) {
            ks[0] = 32;
            ks[1] = 32 * 7;
            nk = 2;
        } else {
            ks[0] = 17;
            ks[1] = 32 * 7;
            ks[2] = 1;
            nk = 3;
        }
        for (size_t ki = 0; ki < nk; ki++)
            for (size_t ni = 0; ni < 4; ni++)
                for (size_t mi = 0; mi < 3; mi++)
                    test_mul_mat_case(c, t, ks[ki], ns[ni], ms[mi], 1, 1, (ni + mi) % 2 == 1);
        /* several chunks in both directions, batches with a broadcast weight */
        test_mul_mat_case(c, t, be == 256 ? 512 : 160, 130, 70, 1, 1, false);
        test_mul_mat_case(c, t, be == 256 ? 512 : 160, 136, 70, 1, 1, true);
        test_mul_mat_case(c, t, be == 256 ? 256 : 64, 136, 1, 1, 1, false);
        test_mul_mat_case(c, t, be == 256 ? 256 : 64, 9, 4, 3, 1, true);
        test_mul_mat_case(c, t, be == 256 ? 256 : 64, 9, 4, 2, 2, false);
    }
}

static void test_get_rows(ctx *c)
{
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const uint32_t t = weight_types[ti];
        const int64_t k = plmm_dtype_block_elems(t) == 256 ? 512 : 96, rows = 11, n = 5;
        size_t rb;
        void *w = rnd_weights(t, rows, k, &rb);
        int32_t ids[5] = {3, 0, 10, 3, 7};
        float *y = xmalloc((size_t)(k * n) * sizeof(float));
        plmm_tensor tw = tensor(t, k, rows, 1, 1, w);
        plmm_tensor ti32 = tensor(PLMM_DTYPE_I32, n, 1, 1, 1, ids);
        plmm_tensor ty = tensor(PLMM_DTYPE_F32, k, n, 1, 1, y);
        plmm_node nd = {.op = PLMM_OP_GET_ROWS, .dst = &ty, .src = {&tw, &ti32}};
        char what[64];
        snprintf(what, sizeof(what), "GET_ROWS %s", plmm_dtype_name(t));
        run3(c, &nd, (size_t)(k * n), what, true);
        if (c->is_scalar) {
            float *row = xmalloc((size_t)k * sizeof(float));
            size_t bad = 0;
            for (int64_t i = 0; i < n; i++) {
                c->ref.r.kern.dequant[t]((const char *)w + (size_t)ids[i] * rb, row, k);
                bad += memcmp(row, y + i * k, (size_t)k * sizeof(float)) != 0;
            }
            CHECK_MSG(bad == 0, "%s: rows differ from the dequantizer", what);
            /* an id outside the table is a range error, not a crash */
            ids[2] = (int32_t)rows;
            char msg[256] = "";
            CHECK(run_node(&c->ref, &nd, msg, sizeof(msg)) == PLMM_ERR_RANGE);
            const char *m = msg;
            CHECK_CONTAINS(m, "outside");
            ids[2] = -1;
            CHECK(run_node(&c->test3, &nd, msg, sizeof(msg)) == PLMM_ERR_RANGE);
            free(row);
        }
        free(w);
        free(y);
    }
}

static void test_rms_norm(ctx *c)
{
    static const int64_t ns[] = {1, 7, 256, 333};
    for (size_t i = 0; i < 4; i++) {
        const int64_t n = ns[i], rows = 5;
        float *x = xmalloc((size_t)(n * rows) * sizeof(float));
        float *wt = xmalloc((size_t)n * sizeof(float));
        float *y = xmalloc((size_t)(n * rows) * sizeof(float));
        fill_f(x, (size_t)(n * rows), 3.0f);
        fill_f(wt, (size_t)n, 1.0f);
        plmm_tensor tx = tensor(PLMM_DTYPE_F32, n, rows, 1, 1, x);
        plmm_tensor tw = tensor(PLMM_DTYPE_F32, n, 1, 1, 1, wt);
        plmm_tensor ty = tensor(PLMM_DTYPE_F32, n, rows, 1, 1, y);
        plmm_node nd = {.op = PLMM_OP_RMS_NORM, .dst = &ty, .src = {&tx, &tw}, .fp = {1e-5f}};
        char what[64];
        snprintf(what, sizeof(what), "RMS_NORM n=%lld", (long long)n);
        run3(c, &nd, (size_t)(n * rows), what, false);
        if (c->is_scalar) {
            run_ok(&c->ref, &nd, what);
            double *want = xmalloc((size_t)(n * rows) * sizeof(double));
            for (int64_t r = 0; r < rows; r++) {
                double ss = 0.0;
                for (int64_t j = 0; j < n; j++)
                    ss += (double)x[r * n + j] * x[r * n + j];
                double s = 1.0 / sqrt(ss / (double)n + 1e-5);
                for (int64_t j = 0; j < n; j++)
                    want[r * n + j] = x[r * n + j] * s * wt[j];
            }
            double e = nmse_d(y, want, (size_t)(n * rows));
            CHECK_MSG(e < TOL_OP_NMSE, "%s vs double math: nmse %g", what, e);
            free(want);
        }
        nd.src[1] = NULL; /* no weight, in place */
        nd.dst = &tx;
        snprintf(what, sizeof(what), "RMS_NORM n=%lld in place", (long long)n);
        run3(c, &nd, (size_t)(n * rows), what, false);
        free(x);
        free(wt);
        free(y);
    }
}

static void test_binary(ctx *c)
{
    /* src1 shapes: full, row vector, column, scalar, broadcast over dims 2/3 */
    static const int64_t b_shapes[][4] = {{19, 3, 2, 2}, {19, 1, 1, 1}, {1, 3, 2, 2},
                                          {1, 1, 1, 1},  {19, 3, 1, 2}, {19, 1, 2, 1}};
    for (int op = PLMM_OP_ADD; op <= PLMM_OP_MUL; op++) {
        for (size_t s = 0; s < sizeof(b_shapes) / sizeof(b_shapes[0]); s++) {
            const int64_t *bs = b_shapes[s];
            const size_t na = 19 * 3 * 2 * 2, nb = (size_t)(bs[0] * bs[1] * bs[2] * bs[3]);
            float *a = xmalloc(na * sizeof(float)), *b = xmalloc(nb * sizeof(float));
            float *y = xmalloc(na * sizeof(float));
            fill_f(a, na, 2.0f);
            fill_f(b, nb, 2.0f);
            plmm_tensor ta = tensor(PLMM_DTYPE_F32, 19, 3, 2, 2, a);
            plmm_tensor tb = tensor(PLMM_DTYPE_F32, bs[0], bs[1], bs[2], bs[3], b);
            plmm_tensor ty = tensor(PLMM_DTYPE_F32, 19, 3, 2, 2, y);
            plmm_node nd = {.op = (uint32_t)op, .dst = &ty, .src = {&ta, &tb}};
            char what[64];
            snprintf(what, sizeof(what), "%s src1 (%lld,%lld,%lld,%lld)",
                     plmm_op_name((uint32_t)op), (long long)bs[0], (long long)bs[1],
                     (long long)bs[2], (long long)bs[3]);
            run3(c, &nd, na, what, true);
            if (c->is_scalar) {
                run_ok(&c->ref, &nd, what);
                size_t bad = 0;
                for (int64_t i3 = 0; i3 < 2; i3++)
                    for (int64_t i2 = 0; i2 < 2; i2++)
                        for (int64_t i1 = 0; i1 < 3; i1++)
                            for (int64_t i0 = 0; i0 < 19; i0++) {
                                size_t ia = (size_t)(((i3 * 2 + i2) * 3 + i1) * 19 + i0);
                                size_t ib = (size_t)((((i3 % bs[3]) * bs[2] + i2 % bs[2]) * bs[1] +
                                                      i1 % bs[1]) *
                                                         bs[0] +
                                                     i0 % bs[0]);
                                float want = op == PLMM_OP_ADD ? a[ia] + b[ib] : a[ia] * b[ib];
                                bad += y[ia] != want;
                            }
                CHECK_MSG(bad == 0, "%s: %zu values wrong", what, bad);
            }
            nd.dst = &ta; /* in place */
            run3(c, &nd, na, what, true);
            free(a);
            free(b);
            free(y);
        }
    }
}

static void test_unary(ctx *c)
{
    static const int64_t ns[] = {1, 7, 64, 1001};
    for (size_t i = 0; i < 4; i++) {
        const int64_t n = ns[i];
        float *x = xmalloc((size_t)(2 * n) * sizeof(float)),
              *g = xmalloc((size_t)(2 * n) * sizeof(float));
        float *y = xmalloc((size_t)(2 * n) * sizeof(float));
        fill_f(x, (size_t)(2 * n), 12.0f);
        fill_f(g, (size_t)(2 * n), 2.0f);
        x[0] = -120.0f; /* exp overflow / underflow regions */
        if (n > 3) {
            x[1] = 95.0f;
            x[2] = -0.0f;
        }
        plmm_tensor tx = tensor(PLMM_DTYPE_F32, n, 2, 1, 1, x);
        plmm_tensor tg = tensor(PLMM_DTYPE_F32, n, 2, 1, 1, g);
        plmm_tensor ty = tensor(PLMM_DTYPE_F32, n, 2, 1, 1, y);
        char what[64];
        plmm_node silu = {.op = PLMM_OP_SILU, .dst = &ty, .src = {&tx}};
        snprintf(what, sizeof(what), "SILU n=%lld", (long long)n);
        run3(c, &silu, (size_t)(2 * n), what, c->exact);
        if (c->is_scalar) {
            run_ok(&c->ref, &silu, what);
            double *want = xmalloc((size_t)(2 * n) * sizeof(double));
            for (int64_t j = 0; j < 2 * n; j++)
                want[j] = (double)x[j] / (1.0 + exp(-(double)x[j]));
            double e = nmse_d(y, want, (size_t)(2 * n));
            CHECK_MSG(e < TOL_OP_NMSE, "%s vs double math: nmse %g", what, e);
            free(want);
        }
        plmm_node sw = {.op = PLMM_OP_SWIGLU, .dst = &ty, .src = {&tx, &tg}};
        snprintf(what, sizeof(what), "SWIGLU n=%lld", (long long)n);
        run3(c, &sw, (size_t)(2 * n), what, c->exact);
        plmm_node sc = {.op = PLMM_OP_SCALE, .dst = &ty, .src = {&tx}, .fp = {0.37f}};
        snprintf(what, sizeof(what), "SCALE n=%lld", (long long)n);
        run3(c, &sc, (size_t)(2 * n), what, true);
        sw.dst = &tx; /* in place */
        snprintf(what, sizeof(what), "SWIGLU n=%lld in place", (long long)n);
        run3(c, &sw, (size_t)(2 * n), what, c->exact);
        free(x);
        free(g);
        free(y);
    }
}

static void test_softmax(ctx *c)
{
    static const int64_t ns[] = {1, 5, 32, 300};
    for (size_t i = 0; i < 4; i++) {
        const int64_t n = ns[i], rows = 6, heads = 2;
        const size_t total = (size_t)(n * rows * heads);
        float *x = xmalloc(total * sizeof(float)),
              *mask = xmalloc((size_t)(n * (rows + 1)) * sizeof(float));
        float *y = xmalloc(total * sizeof(float));
        fill_f(x, total, 8.0f);
        /* causal-style mask: -inf above the diagonal (never the whole row), small biases elsewhere
         */
        for (int64_t r = 0; r < rows + 1; r++)
            for (int64_t j = 0; j < n; j++)
                mask[r * n + j] = j > 0 && j > r + n - rows ? -INFINITY : 0.1f * rnd_f();
        plmm_tensor tx = tensor(PLMM_DTYPE_F32, n, rows, heads, 1, x);
        plmm_tensor tm = tensor(PLMM_DTYPE_F32, n, rows + 1, 1, 1, mask);
        plmm_tensor ty = tensor(PLMM_DTYPE_F32, n, rows, heads, 1, y);
        plmm_node nd = {.op = PLMM_OP_SOFTMAX, .dst = &ty, .src = {&tx, &tm}, .fp = {0.125f}};
        char what[64];
        snprintf(what, sizeof(what), "SOFTMAX n=%lld", (long long)n);
        run3(c, &nd, total, what, c->exact);
        if (c->is_scalar) {
            run_ok(&c->ref, &nd, what);
            double *want = xmalloc(total * sizeof(double));
            for (size_t r = 0; r < (size_t)(rows * heads); r++) {
                const float *mr = mask + (r % (size_t)rows) * (size_t)n;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < n; j++)
                    mx = fmax(mx, (double)x[r * (size_t)n + (size_t)j] * 0.125 + mr[j]);
                for (int64_t j = 0; j < n; j++)
                    sum += exp((double)x[r * (size_t)n + (size_t)j] * 0.125 + mr[j] - mx);
                for (int64_t j = 0; j < n; j++)
                    want[r * (size_t)n + (size_t)j] =
                        exp((double)x[r * (size_t)n + (size_t)j] * 0.125 + mr[j] - mx) / sum;
            }
            double e = nmse_d(y, want, total);
            CHECK_MSG(e < TOL_OP_NMSE, "%s vs double math: nmse %g", what, e);
            free(want);
        }
        nd.src[1] = NULL;
        snprintf(what, sizeof(what), "SOFTMAX n=%lld no mask", (long long)n);
        run3(c, &nd, total, what, c->exact);
        free(x);
        free(mask);
        free(y);
    }
}

static void test_rope(ctx *c)
{
    static const struct {
        int64_t hd;
        int n_rot, mode;
        float ext;
        bool ff;
    } cases[] = {{64, 64, 0, 0.0f, false}, {64, 64, 2, 0.0f, false}, {80, 32, 0, 0.0f, false},
                 {80, 48, 2, 0.0f, true},  {64, 64, 0, 1.0f, false}, {64, 64, 2, 0.5f, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const int64_t hd = cases[i].hd, nh = 3, nt = 5;
        const size_t total = (size_t)(hd * nh * nt);
        float *x = xmalloc(total * sizeof(float)), *y = xmalloc(total * sizeof(float));
        float ff[64];
        int32_t pos[5] = {0, 1, 17, 40, 63};
        fill_f(x, total, 1.0f);
        for (int j = 0; j < 64; j++)
            ff[j] = 1.0f + 0.25f * (float)j;
        plmm_tensor tx = tensor(PLMM_DTYPE_F32, hd, nh, nt, 1, x);
        plmm_tensor tp = tensor(PLMM_DTYPE_I32, nt, 1, 1, 1, pos);
        plmm_tensor tf = tensor(PLMM_DTYPE_F32, cases[i].n_rot / 2, 1, 1, 1, ff);
        plmm_tensor ty = tensor(PLMM_DTYPE_F32, hd, nh, nt, 1, y);
        plmm_node nd = {.op = PLMM_OP_ROPE,
                        .dst = &ty,
                        .src = {&tx, &tp, cases[i].ff ? &tf : NULL},
                        .ip = {cases[i].n_rot, cases[i].mode, 4096},
                        .fp = {10000.0f, 0.5f, cases[i].ext, 1.0f, 32.0f, 1.0f}};
        char what[96];
        snprintf(what, sizeof(what), "ROPE hd=%lld n_rot=%d mode=%d ext=%g%s", (long long)hd,
                 cases[i].n_rot, cases[i].mode, (double)cases[i].ext, cases[i].ff ? " ff" : "");
        run3(c, &nd, total, what, true);
        if (c->is_scalar && cases[i].ext == 0.0f) {
            run_ok(&c->ref, &nd, what);
            double worst = 0.0;
            const int n_rot = cases[i].n_rot, half = n_rot / 2;
            for (int64_t t = 0; t < nt; t++)
                for (int64_t h = 0; h < nh; h++) {
                    const float *xr = x + (t * nh + h) * hd;
                    const float *yr = y + (t * nh + h) * hd;
                    for (int p = 0; p < half; p++) {
                        double theta = pos[t] * pow(10000.0, -2.0 * p / n_rot) * 0.5;
                        if (cases[i].ff)
                            theta /= ff[p];
                        int i0 = cases[i].mode == 0 ? 2 * p : p;
                        int i1 = cases[i].mode == 0 ? 2 * p + 1 : p + half;
                        double a = xr[i0] * cos(theta) - xr[i1] * sin(theta);
                        double b = xr[i0] * sin(theta) + xr[i1] * cos(theta);
                        worst = fmax(worst, fmax(fabs(a - yr[i0]), fabs(b - yr[i1])));
                    }
                    for (int64_t j = n_rot; j < hd; j++)
                        worst = fmax(worst, fabs((double)xr[j] - yr[j]));
                }
            CHECK_MSG(worst < TOL_ROPE_MAXABS, "%s vs double math: max abs %g", what, worst);
        }
        nd.dst = &tx; /* in place */
        run3(c, &nd, total, what, true);
        free(x);
        free(y);
    }
}

static void test_cpy(ctx *c)
{
    static const uint32_t types[] = {PLMM_DTYPE_F32, PLMM_DTYPE_F16, PLMM_DTYPE_BF16};
    const int64_t n0 = 37, n1 = 4, n2 = 3;
    const size_t total = (size_t)(n0 * n1 * n2);
    float *src32 = xmalloc(total * sizeof(float));
    fill_f(src32, total, 100.0f);
    src32[0] = 65519.0f;
    src32[1] = 1.0f + 0x1p-11f;
    src32[2] = INFINITY;
    for (size_t si = 0; si < 3; si++) {
        for (size_t di = 0; di < 3; di++) {
            const uint32_t st = types[si], dt = types[di];
            const size_t ses = plmm_dtype_block_bytes(st), des = plmm_dtype_block_bytes(dt);
            /* src dense; dst a strided view (rows padded, dims swapped in memory) */
            char *src = xmalloc(total * ses);
            for (size_t i = 0; i < total; i++) {
                if (st == PLMM_DTYPE_F32)
                    memcpy(src + i * 4, &src32[i], 4);
                else {
                    uint16_t h =
                        st == PLMM_DTYPE_F16 ? cpu_f32_to_f16(src32[i]) : cpu_f32_to_bf16(src32[i]);
                    memcpy(src + i * 2, &h, 2);
                }
            }
            for (int strided = 0; strided < 2; strided++) {
                const size_t row = (size_t)(n0 + 5) * des;
                char *dst = xmalloc(row * (size_t)(n1 * n2) * 2 + 64);
                plmm_tensor ts = tensor(st, n0, n1, n2, 1, src);
                plmm_tensor td = tensor(dt, n0, n1, n2, 1, dst);
                if (strided) {
                    td.nb[0] = 2 * des; /* every other element */
                    td.nb[1] = row * 2;
                    td.nb[2] = td.nb[1] * (uint64_t)n1;
                    td.nb[3] = td.nb[2] * (uint64_t)n2;
                }
                plmm_node nd = {.op = PLMM_OP_CPY, .dst = &td, .src = {&ts}};
                char msg[256] = "";
                float *outs[2];
                runner *rs[2] = {&c->ref, &c->test3};
                for (int pass = 0; pass < 2; pass++) {
                    memset(dst, 0, row * (size_t)(n1 * n2) * 2 + 64);
                    plmm_status rc = run_node(rs[pass], &nd, msg, sizeof(msg));
                    CHECK_MSG(rc == PLMM_OK, "CPY: %s", msg);
                    outs[pass] = xmalloc(total * sizeof(float));
                    for (int64_t i2 = 0; i2 < n2; i2++)
                        for (int64_t i1 = 0; i1 < n1; i1++)
                            for (int64_t i0 = 0; i0 < n0; i0++) {
                                const char *p = dst + (uint64_t)i0 * td.nb[0] +
                                                (uint64_t)i1 * td.nb[1] + (uint64_t)i2 * td.nb[2];
                                float v;
                                uint16_t h;
                                if (dt == PLMM_DTYPE_F32)
                                    memcpy(&v, p, 4);
                                else {
                                    memcpy(&h, p, 2);
                                    v = dt == PLMM_DTYPE_F16 ? cpu_f16_to_f32(h)
                                                             : cpu_bf16_to_f32(h);
                                }
                                outs[pass][(i2 * n1 + i1) * n0 + i0] = v;
                            }
                }
                char what[64];
                snprintf(what, sizeof(what), "CPY %s->%s%s", plmm_dtype_name(st),
                         plmm_dtype_name(dt), strided ? " strided" : "");
                compare(c->isa, what, outs[1], outs[0], total, true);
                if (c->is_scalar) {
                    size_t bad = 0;
                    for (size_t i = 0; i < total; i++) {
                        float v = src32[i];
                        v = st == PLMM_DTYPE_F16    ? cpu_round_f16(v)
                            : st == PLMM_DTYPE_BF16 ? cpu_round_bf16(v)
                                                    : v;
                        v = dt == PLMM_DTYPE_F16    ? cpu_round_f16(v)
                            : dt == PLMM_DTYPE_BF16 ? cpu_round_bf16(v)
                                                    : v;
                        bad += memcmp(&v, &outs[0][i], 4) != 0;
                    }
                    CHECK_MSG(bad == 0, "%s: %zu values wrong", what, bad);
                }
                free(outs[0]);
                free(outs[1]);
                free(dst);
            }
            free(src);
        }
    }
    free(src32);
}

/* naive attention in double for one (token, head) */
static void attention_naive(const float *q, const float *kc, const float *vc, int64_t d,
                            int64_t n_vis, size_t kstride, size_t vstride, double scale,
                            double *out)
{
    double *s = malloc((size_t)n_vis * sizeof(double));
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < n_vis; j++) {
        double dot = 0.0;
        for (int64_t i = 0; i < d; i++)
            dot += (double)q[i] * kc[(size_t)j * kstride + (size_t)i];
        s[j] = dot * scale;
        mx = fmax(mx, s[j]);
    }
    for (int64_t j = 0; j < n_vis; j++)
        sum += (s[j] = exp(s[j] - mx));
    for (int64_t i = 0; i < d; i++) {
        double a = 0.0;
        for (int64_t j = 0; j < n_vis; j++)
            a += s[j] / sum * vc[(size_t)j * vstride + (size_t)i];
        out[i] = a;
    }
    free(s);
}

static void test_attention(ctx *c)
{
    static const struct {
        int64_t d, h, hkv, t;
        int n_kv, pos0, causal;
    } cases[] = {{64, 4, 4, 1, 1, 0, 1},     {64, 4, 2, 1, 300, 299, 1}, {64, 8, 2, 7, 37, 30, 1},
                 {20, 4, 1, 7, 300, 0, 1},   {64, 4, 4, 3, 100, 0, 0},   {48, 6, 3, 5, 300, 295, 1},
                 {128, 2, 1, 2, 257, 255, 1}};
    const int64_t n_ctx = 320, pad = 8;
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        for (int kv16 = 0; kv16 < 2; kv16++) {
            const int64_t d = cases[ci].d, h = cases[ci].h, hkv = cases[ci].hkv, t = cases[ci].t;
            const uint32_t ct = kv16 ? PLMM_DTYPE_F16 : PLMM_DTYPE_F32;
            const size_t es = kv16 ? 2 : 4;
            /* caches as strided views: rows of d padded to d + pad elements */
            const size_t row = (size_t)(d + pad);
            const size_t ncache = row * (size_t)(hkv * n_ctx);
            float *kf = xmalloc(ncache * sizeof(float)), *vf = xmalloc(ncache * sizeof(float));
            fill_f(kf, ncache, 1.0f);
            fill_f(vf, ncache, 1.0f);
            char *kc = xmalloc(ncache * es), *vc = xmalloc(ncache * es);
            for (size_t i = 0; i < ncache; i++) {
                if (kv16) {
                    uint16_t a = cpu_f32_to_f16(kf[i]), b = cpu_f32_to_f16(vf[i]);
                    kf[i] = cpu_f16_to_f32(a);
                    vf[i] = cpu_f16_to_f32(b);
                    memcpy(kc + 2 * i, &a, 2);
                    memcpy(vc + 2 * i, &b, 2);
                } else {
                    memcpy(kc + 4 * i, &kf[i], 4);
                    memcpy(vc + 4 * i, &vf[i], 4);
                }
            }
            const size_t nq = (size_t)(d * h * t);
            float *q = xmalloc(nq * sizeof(float)), *y = xmalloc(nq * sizeof(float));
            fill_f(q, nq, 2.0f);
            plmm_tensor tq = tensor(PLMM_DTYPE_F32, d, h, t, 1, q);
            plmm_tensor tk = tensor(ct, d, hkv, n_ctx, 1, kc);
            plmm_tensor tv = tensor(ct, d, hkv, n_ctx, 1, vc);
            tk.nb[1] = tv.nb[1] = row * es;
            tk.nb[2] = tv.nb[2] = row * es * (size_t)hkv;
            tk.nb[3] = tv.nb[3] = tk.nb[2] * (uint64_t)n_ctx;
            plmm_tensor ty = tensor(PLMM_DTYPE_F32, d, h, t, 1, y);
            const float scale = 1.0f / sqrtf((float)d);
            plmm_node nd = {.op = PLMM_OP_ATTENTION,
                            .dst = &ty,
                            .src = {&tq, &tk, &tv},
                            .ip = {cases[ci].n_kv, cases[ci].pos0, cases[ci].causal},
                            .fp = {scale}};
            char what[128];
            snprintf(what, sizeof(what), "ATTENTION %s d=%lld h=%lld/%lld t=%lld n_kv=%d pos0=%d%s",
                     plmm_dtype_name(ct), (long long)d, (long long)h, (long long)hkv, (long long)t,
                     cases[ci].n_kv, cases[ci].pos0, cases[ci].causal ? " causal" : "");
            run3(c, &nd, nq, what, c->exact);
            if (c->is_scalar) {
                run_ok(&c->ref, &nd, what);
                double *want = xmalloc(nq * sizeof(double));
                for (int64_t tt = 0; tt < t; tt++)
                    for (int64_t hh = 0; hh < h; hh++) {
                        int64_t n_vis = cases[ci].n_kv;
                        if (cases[ci].causal && cases[ci].pos0 + tt + 1 < n_vis)
                            n_vis = cases[ci].pos0 + tt + 1;
                        const int64_t kh = hh / (h / hkv);
                        attention_naive(q + (tt * h + hh) * d, kf + (size_t)kh * row,
                                        vf + (size_t)kh * row, d, n_vis, row * (size_t)hkv,
                                        row * (size_t)hkv, scale, want + (tt * h + hh) * d);
                    }
                double e = nmse_d(y, want, nq);
                CHECK_MSG(e < TOL_OP_NMSE, "%s vs double math: nmse %g", what, e);
                free(want);
            }
            free(kf);
            free(vf);
            free(kc);
            free(vc);
            free(q);
            free(y);
        }
    }
}

/* Kernel-level checks of one table against the scalar one. */
static void test_kernels_direct(const cpu_kern *ref, const cpu_kern *k, const char *isa)
{
    static const int64_t ks[] = {32, 32 * 7, 256, 256 * 3};
    for (size_t i = 0; i < 4; i++) {
        const int64_t n = ks[i];
        float *x = xmalloc((size_t)n * sizeof(float));
        fill_f(x, (size_t)n, 3.0f);
        x[n / 2] = -7.5f;            /* a unique extreme, negative */
        x[n - 1] = 7.5f;             /* same magnitude later: must not change the sign */
        x[1] = 127.0f / 7.5f * 0.5f; /* lands close to a rounding tie */
        if (n >= 64)
            memset(x + 32, 0, 32 * sizeof(float)); /* an all-zero Q8_0 block */
        block_q8_0 *a = xmalloc((size_t)(n / 32) * sizeof(block_q8_0));
        block_q8_0 *b = xmalloc((size_t)(n / 32) * sizeof(block_q8_0));
        ref->quant_q8_0(x, a, n);
        k->quant_q8_0(x, b, n);
        CHECK_MSG(memcmp(a, b, (size_t)(n / 32) * sizeof(block_q8_0)) == 0, "%s quant_q8_0 k=%lld",
                  isa, (long long)n);
        if (n % 256 == 0) {
            block_q8_K *qa = xmalloc((size_t)(n / 256) * sizeof(block_q8_K));
            block_q8_K *qb = xmalloc((size_t)(n / 256) * sizeof(block_q8_K));
            ref->quant_q8_k(x, qa, n);
            k->quant_q8_k(x, qb, n);
            CHECK_MSG(memcmp(qa, qb, (size_t)(n / 256) * sizeof(block_q8_K)) == 0,
                      "%s quant_q8_k k=%lld", isa, (long long)n);
            free(qa);
            free(qb);
        }
        free(a);
        free(b);
        free(x);
    }
    /* conversions: bit-exact on awkward lengths and special values */
    const int64_t n = 1003;
    float *x = xmalloc((size_t)n * sizeof(float)), *y1 = xmalloc((size_t)n * sizeof(float));
    float *y2 = xmalloc((size_t)n * sizeof(float));
    uint16_t *h1 = xmalloc((size_t)n * 2), *h2 = xmalloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)rnd_u64();
        memcpy(&x[i], &u, 4);
        if (i % 3 == 0)
            x[i] = rnd_f() * 70000.0f;
    }
    x[0] = INFINITY;
    x[1] = -0.0f;
    x[2] = 65520.0f;
    x[3] = 0x1p-25f;
    x[4] = NAN;
    ref->f32_to_f16(x, h1, n);
    k->f32_to_f16(x, h2, n);
    size_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += h1[i] != h2[i] && !(isnan(cpu_f16_to_f32(h1[i])) && isnan(cpu_f16_to_f32(h2[i])));
    CHECK_MSG(bad == 0, "%s f32_to_f16: %zu differ", isa, bad);
    ref->f16_to_f32(h1, y1, n);
    k->f16_to_f32(h1, y2, n);
    compare(isa, "f16_to_f32", y2, y1, (size_t)n, true);
    ref->f32_to_bf16(x, h1, n);
    k->f32_to_bf16(x, h2, n);
    CHECK_MSG(memcmp(h1, h2, (size_t)n * 2) == 0, "%s f32_to_bf16", isa);
    ref->bf16_to_f32(h1, y1, n);
    k->bf16_to_f32(h1, y2, n);
    compare(isa, "bf16_to_f32", y2, y1, (size_t)n, true);
    ref->round_f16(x, y1, n);
    k->round_f16(x, y2, n);
    compare(isa, "round_f16", y2, y1, (size_t)n, true);
    ref->round_bf16(x, y1, n);
    k->round_bf16(x, y2, n);
    compare(isa, "round_bf16", y2, y1, (size_t)n, true);
    /* dequantizers */
    for (size_t ti = 0; ti < N_WEIGHT_TYPES; ti++) {
        const uint32_t t = weight_types[ti];
        size_t rb;
        void *w = rnd_weights(t, 1, 512, &rb);
        float *d1 = xmalloc(512 * sizeof(float)), *d2 = xmalloc(512 * sizeof(float));
        ref->dequant[t](w, d1, 512);
        k->dequant[t](w, d2, 512);
        char what[48];
        snprintf(what, sizeof(what), "dequant %s", plmm_dtype_name(t));
        compare(isa, what, d2, d1, 512, true);
        free(w);
        free(d1);
        free(d2);
    }
    /* expf over the whole useful range, incl. underflow, overflow, -inf, NaN */
    for (int64_t i = 0; i < n; i++)
        x[i] = -110.0f + 200.0f * (float)i / (float)n;
    x[5] = -INFINITY;
    x[6] = NAN;
    x[7] = 88.7f;
    double s1 = ref->exp_sum(y1, x, 0.0f, n);
    double s2 = k->exp_sum(y2, x, 0.0f, n);
    (void)s1;
    (void)s2;
    bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(y1[i]) || isinf(y1[i])) {
            bad += !(isnan(y1[i]) ? isnan(y2[i]) : y2[i] == y1[i]);
            continue;
        }
        const double tol = fmax(fabs((double)y1[i]) * 4e-7, 1e-37); /* 2 ulp, or below FLT_MIN */
        bad += fabs((double)y2[i] - (double)y1[i]) > tol;
    }
    CHECK_MSG(bad == 0, "%s expf: %zu values off by more than 2 ulp", isa, bad);
    free(x);
    free(y1);
    free(y2);
    free(h1);
    free(h2);
}

static void test_isa(cpu_isa isa)
{
    ctx c;
    memset(&c, 0, sizeof(c));
    c.isa = cpu_isa_name(isa);
    c.is_scalar = isa == CPU_ISA_SCALAR;
    c.exact = isa == CPU_ISA_AVX2 || isa == CPU_ISA_AVX512;
    runner_open(&c.ref, CPU_ISA_SCALAR, 1);
    runner_open(&c.test, isa, 1);
    runner_open(&c.test3, isa, 3);
    const int before = test_failures;
    if (!c.is_scalar)
        test_kernels_direct(&c.ref.r.kern, &c.test.r.kern, c.isa);
    test_mul_mat(&c);
    test_get_rows(&c);
    test_rms_norm(&c);
    test_binary(&c);
    test_unary(&c);
    test_softmax(&c);
    test_rope(&c);
    test_cpy(&c);
    test_attention(&c);
    printf("%s: %s\n", c.isa, test_failures == before ? "ok" : "FAILED");
    runner_close(&c.ref);
    runner_close(&c.test);
    runner_close(&c.test3);
}

static uint64_t features(void)
{
    const char *o = getenv("PLMM_CPU_TEST_FEATURES");
    if (o != NULL && *o != '\0')
        return strtoull(o, NULL, 16);
    return cpu_detect_features();
}

int main(void)
{
    test_half_conversions();
    test_dequant_known();
    test_quantizers_known();
    test_ref_dots();
    printf("reference kernels: %s\n", test_failures == 0 ? "ok" : "FAILED");

    const uint64_t have = features();
    test_isa(CPU_ISA_SCALAR); /* threads and tiling of the reference itself */
    for (int i = CPU_ISA_SCALAR + 1; i < CPU_ISA_COUNT; i++) {
        const cpu_isa isa = (cpu_isa)i;
        const uint64_t need = cpu_isa_required(isa);
        if (!cpu_isa_compiled(isa)) {
            printf("%s: skipped (not built for this architecture)\n", cpu_isa_name(isa));
            continue;
        }
        if ((have & need) != need) {
            static const struct {
                uint64_t bit;
                const char *name;
            } names[] = {{PLMM_CPU_AVX, "avx"},           {PLMM_CPU_AVX2, "avx2"},
                         {PLMM_CPU_FMA, "fma"},           {PLMM_CPU_F16C, "f16c"},
                         {PLMM_CPU_AVX512F, "avx512f"},   {PLMM_CPU_AVX512BW, "avx512bw"},
                         {PLMM_CPU_AVX512VL, "avx512vl"}, {PLMM_CPU_NEON, "neon"},
                         {PLMM_CPU_DOTPROD, "dotprod"}};
            printf("%s: skipped (CPU lacks", cpu_isa_name(isa));
            const char *sep = " ";
            for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++)
                if ((need & names[j].bit) && !(have & names[j].bit)) {
                    printf("%s%s", sep, names[j].name);
                    sep = ", ";
                }
            printf(")\n");
            continue;
        }
        test_isa(isa);
    }
    return test_summary("cpu-kernels");
}
