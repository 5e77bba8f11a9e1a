/*
 * Op cases: each op of the profile (and every other op or dtype the backend
 * declares) on seeded random inputs, against the CPU backend's scalar
 * kernels on one thread. Shapes cover one row, sizes that are not a
 * multiple of any vector width or block count, large K, batches past 32
 * and 64 tokens, long attention contexts, grouped-query attention, causal
 * and non-causal attention, both KV cache types, and the strided views the
 * op contracts allow (MUL_MAT activation rows, CPY into KV cache views,
 * ATTENTION over head-major caches). Inputs hold NaN outside their views,
 * so reading outside a view shows in the output.
 */
#include "conformance.h"
#include "plmm_sdk.h"
#include "scheduler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLS_WEIGHT, CLS_KV, CLS_F32 };

enum {
    V_STRIDED = 1u << 0,
    V_INPLACE = 1u << 1,
    V_NOWEIGHT = 1u << 2,
    V_NEOX = 1u << 3,
    V_FREQS = 1u << 4,
    V_YARN = 1u << 5,
    V_NONCAUSAL = 1u << 6,
    V_HEADMAJOR = 1u << 7,
    V_BCAST = 1u << 8,
    V_MASK = 1u << 9,
    V_DENSE = 1u << 10,
};

typedef struct op_spec {
    const char *label;
    uint32_t op;
    int cls;
    int64_t p[6];
    uint32_t var;
} op_spec;

/*
 * GET_ROWS  p: n_embd (rounded up to whole blocks), rows, ids
 * MUL_MAT   p: K (rounded up to whole blocks), N, M
 * RMS_NORM  p: n, rows            ADD, MUL  p: ne0, ne1, ne2
 * ROPE      p: head_dim, heads, tokens, n_rot, largest position
 * CPY       p: head_dim, kv heads, tokens, n_ctx, pos0
 * ATTENTION p: head_dim, heads, kv heads, tokens, n_ctx, n_kv
 * SWIGLU, SILU, SCALE, SOFTMAX  p: n, rows
 */
static const op_spec specs[] = {
    {"ids1", PLMM_OP_GET_ROWS, CLS_WEIGHT, {291, 100, 1}, 0},
    {"ids37", PLMM_OP_GET_ROWS, CLS_WEIGHT, {291, 1000, 37}, 0},
    {"wide", PLMM_OP_GET_ROWS, CLS_WEIGHT, {4100, 16, 5}, 0},
    {"m1", PLMM_OP_MUL_MAT, CLS_WEIGHT, {291, 67, 1}, 0},
    {"m7", PLMM_OP_MUL_MAT, CLS_WEIGHT, {291, 67, 7}, 0},
    {"n1", PLMM_OP_MUL_MAT, CLS_WEIGHT, {291, 1, 3}, 0},
    {"m70", PLMM_OP_MUL_MAT, CLS_WEIGHT, {291, 96, 70}, 0},
    {"bigk", PLMM_OP_MUL_MAT, CLS_WEIGHT, {4100, 33, 5}, 0},
    {"strided", PLMM_OP_MUL_MAT, CLS_WEIGHT, {291, 40, 9}, V_STRIDED},
    {"rows7", PLMM_OP_RMS_NORM, CLS_F32, {288, 7}, 0},
    {"wide", PLMM_OP_RMS_NORM, CLS_F32, {4100, 1}, 0},
    {"noweight", PLMM_OP_RMS_NORM, CLS_F32, {100, 3}, V_NOWEIGHT},
    {"same", PLMM_OP_ADD, CLS_F32, {291, 5, 1}, 0},
    {"bias_inplace", PLMM_OP_ADD, CLS_F32, {96, 7, 1}, V_INPLACE | V_BCAST},
    {"bcast3d", PLMM_OP_ADD, CLS_F32, {64, 5, 3}, V_BCAST},
    {"norm", PLMM_OP_ROPE, CLS_F32, {64, 4, 5, 64, 2048}, 0},
    {"neox", PLMM_OP_ROPE, CLS_F32, {64, 4, 5, 64, 2048}, V_NEOX},
    {"partial", PLMM_OP_ROPE, CLS_F32, {48, 3, 2, 32, 500}, 0},
    {"inplace", PLMM_OP_ROPE, CLS_F32, {128, 2, 3, 128, 4096}, V_INPLACE},
    {"freqs", PLMM_OP_ROPE, CLS_F32, {64, 2, 4, 64, 8000}, V_FREQS},
    {"yarn", PLMM_OP_ROPE, CLS_F32, {64, 2, 3, 64, 16000}, V_NEOX | V_YARN},
    {"kv", PLMM_OP_CPY, CLS_KV, {64, 2, 5, 32, 7}, 0},
    {"kv1", PLMM_OP_CPY, CLS_KV, {64, 2, 1, 32, 31}, 0},
    {"headmajor", PLMM_OP_CPY, CLS_KV, {48, 3, 4, 40, 9}, V_HEADMAJOR},
    {"wide", PLMM_OP_CPY, CLS_KV, {4100, 1, 3, 3, 0}, V_DENSE},
    {"decode", PLMM_OP_ATTENTION, CLS_KV, {64, 4, 4, 1, 64, 37}, 0},
    {"gqa", PLMM_OP_ATTENTION, CLS_KV, {64, 8, 2, 7, 64, 27}, 0},
    {"long", PLMM_OP_ATTENTION, CLS_KV, {64, 4, 2, 4, 1024, 1000}, 0},
    {"noncausal", PLMM_OP_ATTENTION, CLS_KV, {48, 6, 3, 5, 64, 50}, V_NONCAUSAL},
    {"headmajor", PLMM_OP_ATTENTION, CLS_KV, {64, 4, 2, 3, 128, 60}, V_HEADMAJOR},
    {"d128", PLMM_OP_ATTENTION, CLS_KV, {128, 2, 1, 2, 320, 300}, 0},
    {"rows4", PLMM_OP_SWIGLU, CLS_F32, {773, 4}, 0},
    {"wide", PLMM_OP_SWIGLU, CLS_F32, {4100, 1}, 0},
    /* beyond llm-core: tested when declared */
    {"same", PLMM_OP_MUL, CLS_F32, {291, 5, 1}, 0},
    {"bcast", PLMM_OP_MUL, CLS_F32, {96, 7, 1}, V_BCAST},
    {"rows5", PLMM_OP_SILU, CLS_F32, {291, 5}, 0},
    {"rows5", PLMM_OP_SCALE, CLS_F32, {291, 5}, 0},
    {"plain", PLMM_OP_SOFTMAX, CLS_F32, {37, 3}, 0},
    {"mask", PLMM_OP_SOFTMAX, CLS_F32, {1000, 4}, V_MASK},
};

#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

/* ---- helpers ---- */

static int64_t round_up(int64_t n, uint32_t be)
{
    return be <= 1 ? n : (n + be - 1) / be * be;
}

static void lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < n; i++)
        dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
    dst[i] = '\0';
}

static bool in_profile(const plmm_profile *p, uint32_t op, uint32_t dtype)
{
    for (uint32_t i = 0; i < p->n_items; i++)
        if (p->items[i].op == op && p->items[i].dtype == dtype)
            return true;
    return false;
}

/* Multiply the F32 elements of an operand's view by s. */
static void scale_view(conf_operand *o, float s)
{
    for (int64_t i3 = 0; i3 < o->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < o->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < o->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < o->ne[0]; i0++) {
                    uint8_t *p = o->image + o->offset + (uint64_t)i0 * o->nb[0] +
                                 (uint64_t)i1 * o->nb[1] + (uint64_t)i2 * o->nb[2] +
                                 (uint64_t)i3 * o->nb[3];
                    conf_store_float(o->dtype, p, conf_load_float(o->dtype, p) * s);
                }
}

static void set_i32(conf_operand *o, int64_t i, int32_t v)
{
    memcpy(o->image + o->offset + (uint64_t)i * 4, &v, 4);
}

/* A (D, heads, n) view into a cache storage of n_ctx positions, engine or head-major layout. */
static bool cache_view(conf_operand *o, uint32_t dt, int kind, int64_t d, int64_t heads, int64_t n,
                       int64_t n_ctx, int64_t pos0, bool head_major)
{
    const uint64_t es = plmm_dtype_block_bytes(dt);
    int64_t ne[4] = {d, heads, n, 1};
    uint64_t nb[4], off;
    if (head_major) { /* storage (D, n_ctx, heads) */
        nb[0] = es;
        nb[1] = es * (uint64_t)(d * n_ctx);
        nb[2] = es * (uint64_t)d;
        off = es * (uint64_t)(d * pos0);
    } else { /* storage (D, heads, n_ctx), as forward.c */
        nb[0] = es;
        nb[1] = es * (uint64_t)d;
        nb[2] = es * (uint64_t)(d * heads);
        off = es * (uint64_t)(d * heads * pos0);
    }
    nb[3] = es * (uint64_t)(d * heads * n_ctx);
    return conf_operand_view(o, dt, kind, ne, nb, off, nb[3]);
}

/* Overwrite cache positions [from, n_ctx) of a (D, heads, n_ctx) view with NaN. */
static void poison_positions(conf_operand *o, int64_t from)
{
    for (int64_t j = from; j < o->ne[2]; j++)
        for (int64_t h = 0; h < o->ne[1]; h++)
            memset(o->image + o->offset + (uint64_t)j * o->nb[2] + (uint64_t)h * o->nb[1], 0xFF,
                   (size_t)(o->ne[0] * (int64_t)o->nb[0]));
}

/* ---- node construction ---- */

static bool build(const op_spec *s, uint32_t dt, conf_rng *g, conf_node *n, char *shape,
                  size_t shape_size)
{
    memset(n, 0, sizeof(*n));
    n->op = s->op;
    const int64_t *p = s->p;
    bool ok = true;
    switch (s->op) {
    case PLMM_OP_GET_ROWS: {
        const int64_t e = round_up(p[0], plmm_dtype_block_elems(dt)), rows = p[1], ids = p[2];
        n->used[0] = n->used[1] = n->used[2] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, e, ids, 1, 1) &&
             conf_operand_dense(&n->t[1], dt, CT_WEIGHT, e, rows, 1, 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_I32, CT_INPUT, ids, 1, 1, 1);
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        for (int64_t i = 0; i < ids; i++)
            set_i32(&n->t[2], i,
                    i == 0   ? (int32_t)(rows - 1)
                    : i == 1 ? 0
                             : (int32_t)(conf_rng_next(g) % (uint64_t)rows));
        n->bucket = (uint32_t)ids;
        snprintf(shape, shape_size, "E%lld R%lld n%lld", (long long)e, (long long)rows,
                 (long long)ids);
        break;
    }
    case PLMM_OP_MUL_MAT: {
        const int64_t k = round_up(p[0], plmm_dtype_block_elems(dt)), rows = p[1], m = p[2];
        n->used[0] = n->used[1] = n->used[2] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, rows, m, 1, 1) &&
             conf_operand_dense(&n->t[1], dt, CT_WEIGHT, k, rows, 1, 1);
        if (ok && (s->var & V_STRIDED)) {
            /* rows of X padded by 68 bytes, starting at row 1 of the storage */
            const uint64_t rs = (uint64_t)k * 4 + 68;
            int64_t ne[4] = {k, m, 1, 1};
            uint64_t nb[4] = {4, rs, rs * (uint64_t)m, rs * (uint64_t)m};
            ok = conf_operand_view(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, ne, nb, rs,
                                   rs * (uint64_t)(m + 2));
        } else if (ok) {
            ok = conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, k, m, 1, 1);
        }
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        scale_view(&n->t[2], 1.0f / sqrtf((float)k));
        n->bucket = (uint32_t)m;
        snprintf(shape, shape_size, "K%lld N%lld M%lld%s", (long long)k, (long long)rows,
                 (long long)m, s->var & V_STRIDED ? " strided" : "");
        break;
    }
    case PLMM_OP_RMS_NORM: {
        n->used[0] = n->used[1] = true;
        n->used[2] = !(s->var & V_NOWEIGHT);
        n->fp[0] = s->var & V_NOWEIGHT ? 1e-6f : 1e-5f;
        ok =
            conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], 1, 1) &&
            conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1) &&
            (!n->used[2] || conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_WEIGHT, p[0], 1, 1, 1));
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        n->bucket = (uint32_t)p[1];
        snprintf(shape, shape_size, "(%lld, %lld)%s", (long long)p[0], (long long)p[1],
                 n->used[2] ? "" : " no weight");
        break;
    }
    case PLMM_OP_ADD:
    case PLMM_OP_MUL: {
        int64_t b0 = p[0], b1 = p[1], b2 = p[2];
        if (s->var & V_BCAST) {
            if (s->var & V_INPLACE)
                b1 = 1; /* a bias row added to every token */
            else
                b0 = 1, b2 = 1;
        }
        n->used[0] = n->used[1] = n->used[2] = true;
        n->inplace = (s->var & V_INPLACE) != 0;
        ok = conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], p[2], 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, b0, b1, b2, 1) &&
             conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], p[2], 1);
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        n->bucket = (uint32_t)p[1];
        snprintf(shape, shape_size, "(%lld,%lld,%lld)+(%lld,%lld,%lld)%s", (long long)p[0],
                 (long long)p[1], (long long)p[2], (long long)b0, (long long)b1, (long long)b2,
                 n->inplace ? " in place" : "");
        break;
    }
    case PLMM_OP_ROPE: {
        const int64_t d = p[0], h = p[1], t = p[2];
        n->used[0] = n->used[1] = n->used[2] = true;
        n->used[3] = (s->var & V_FREQS) != 0;
        n->inplace = (s->var & V_INPLACE) != 0;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, d, h, t, 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, d, h, t, 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_I32, CT_INPUT, t, 1, 1, 1) &&
             (!n->used[3] ||
              conf_operand_dense(&n->t[3], PLMM_DTYPE_F32, CT_WEIGHT, p[3] / 2, 1, 1, 1));
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        for (int64_t i = 0; i < t; i++)
            set_i32(&n->t[2], i, (int32_t)(conf_rng_next(g) % (uint64_t)p[4]));
        if (n->used[3])
            for (int64_t i = 0; i < p[3] / 2; i++)
                conf_store_float(PLMM_DTYPE_F32, n->t[3].image + i * 4,
                                 conf_rng_uniform(g, 1.0f, 8.0f));
        n->ip[0] = (int32_t)p[3];
        n->ip[1] = s->var & V_NEOX ? 2 : 0;
        n->ip[2] = 4096;
        n->fp[0] = s->var & V_NEOX ? 1e6f : 1e4f;
        n->fp[1] = s->var & V_YARN ? 0.25f : 1.0f;
        n->fp[2] = s->var & V_YARN ? 1.0f : 0.0f;
        n->fp[3] = 1.0f;
        n->fp[4] = 32.0f;
        n->fp[5] = 1.0f;
        n->bucket = (uint32_t)t;
        snprintf(shape, shape_size, "D%lld H%lld T%lld rot%lld %s%s%s%s", (long long)d,
                 (long long)h, (long long)t, (long long)p[3], s->var & V_NEOX ? "neox" : "norm",
                 s->var & V_FREQS ? " freqs" : "", s->var & V_YARN ? " yarn" : "",
                 n->inplace ? " in place" : "");
        break;
    }
    case PLMM_OP_CPY: {
        const int64_t d = p[0], h = p[1], t = p[2], n_ctx = p[3], pos0 = p[4];
        n->used[0] = n->used[1] = true;
        if (s->var & V_DENSE) {
            ok = conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, d, t, 1, 1) &&
                 conf_operand_dense(&n->t[0], dt, CT_OUTPUT, d, t, 1, 1);
            snprintf(shape, shape_size, "(%lld, %lld)", (long long)d, (long long)t);
        } else {
            ok = conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, d, h, t, 1) &&
                 cache_view(&n->t[0], dt, CT_OUTPUT, d, h, t, n_ctx, pos0,
                            (s->var & V_HEADMAJOR) != 0);
            snprintf(shape, shape_size, "D%lld H%lld T%lld @%lld/%lld%s", (long long)d,
                     (long long)h, (long long)t, (long long)pos0, (long long)n_ctx,
                     s->var & V_HEADMAJOR ? " head-major" : "");
        }
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        n->bucket = (uint32_t)t;
        break;
    }
    case PLMM_OP_ATTENTION: {
        const int64_t d = p[0], h = p[1], hkv = p[2], t = p[3], n_ctx = p[4], n_kv = p[5];
        const bool causal = !(s->var & V_NONCAUSAL), hm = (s->var & V_HEADMAJOR) != 0;
        n->used[0] = n->used[1] = n->used[2] = n->used[3] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, d, h, t, 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, d, h, t, 1) &&
             cache_view(&n->t[2], dt, CT_INPUT, d, hkv, n_ctx, n_ctx, 0, hm) &&
             cache_view(&n->t[3], dt, CT_INPUT, d, hkv, n_ctx, n_ctx, 0, hm);
        if (!ok)
            break;
        conf_node_randomize(n, g, 1.0f);
        scale_view(&n->t[1], 2.0f);
        /* positions past n_kv are stale cache: NaN, never to be read */
        poison_positions(&n->t[2], n_kv);
        poison_positions(&n->t[3], n_kv);
        n->ip[0] = (int32_t)n_kv;
        n->ip[1] = causal ? (int32_t)(n_kv - t) : 0;
        n->ip[2] = causal ? 1 : 0;
        n->fp[0] = 1.0f / sqrtf((float)d);
        n->bucket = (uint32_t)t;
        snprintf(shape, shape_size, "D%lld H%lld/%lld T%lld kv%lld/%lld%s%s", (long long)d,
                 (long long)h, (long long)hkv, (long long)t, (long long)n_kv, (long long)n_ctx,
                 causal ? "" : " noncausal", hm ? " head-major" : "");
        break;
    }
    case PLMM_OP_SWIGLU:
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
    case PLMM_OP_SOFTMAX: {
        n->used[0] = n->used[1] = true;
        n->used[2] = s->op == PLMM_OP_SWIGLU || (s->var & V_MASK);
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1) &&
             (!n->used[2] ||
              conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1));
        if (!ok)
            break;
        conf_node_randomize(n, g, s->op == PLMM_OP_SWIGLU || s->op == PLMM_OP_SILU ? 6.0f : 1.0f);
        if (s->op == PLMM_OP_SCALE)
            n->fp[0] = 0.37f;
        if (s->op == PLMM_OP_SOFTMAX) {
            n->fp[0] = 0.125f;
            scale_view(&n->t[1], 40.0f);
            if (n->used[2]) /* a causal-like mask: -inf in the upper part of each row */
                for (int64_t r = 0; r < p[1]; r++)
                    for (int64_t i = p[0] / 2 + r; i < p[0]; i++)
                        conf_store_float(PLMM_DTYPE_F32, n->t[2].image + (r * p[0] + i) * 4,
                                         -INFINITY);
        }
        n->bucket = (uint32_t)p[1];
        snprintf(shape, shape_size, "(%lld, %lld)%s", (long long)p[0], (long long)p[1],
                 s->var & V_MASK ? " mask" : "");
        break;
    }
    default:
        ok = false;
    }
    if (ok && n->inplace) {
        /* dst is src0: the same tensor, its own elements */
        free(n->t[0].image);
        n->t[0] = n->t[1];
        n->t[0].image = NULL;
        n->t[0].kind = CT_OUTPUT;
    }
    return ok;
}

/* A plmm_node over unbound tensors of the case's shapes, for capability checks. */
static void shape_node(const conf_node *cn, plmm_tensor ts[1 + PLMM_MAX_SRC], plmm_node *nd)
{
    memset(nd, 0, sizeof(*nd));
    memset(ts, 0, sizeof(plmm_tensor) * (1 + PLMM_MAX_SRC));
    for (int i = 0; i < 1 + PLMM_MAX_SRC; i++) {
        if (!cn->used[i])
            continue;
        ts[i].dtype = cn->t[i].dtype;
        memcpy(ts[i].ne, cn->t[i].ne, sizeof(ts[i].ne));
        memcpy(ts[i].nb, cn->t[i].nb, sizeof(ts[i].nb));
    }
    nd->op = cn->op;
    memcpy(nd->ip, cn->ip, sizeof(nd->ip));
    memcpy(nd->fp, cn->fp, sizeof(nd->fp));
    nd->dst = cn->inplace ? &ts[1] : &ts[0];
    for (int k = 0; k < PLMM_MAX_SRC; k++)
        nd->src[k] = cn->used[1 + k] ? &ts[1 + k] : NULL;
}

/* ---- the case ---- */

static void run_op(const conf_env *env, const conf_case *c, conf_result *r)
{
    const op_spec *s = &specs[c->index];
    const uint32_t dt = c->dtype_id;
    conf_node cn;
    conf_rng g;
    char shape[96], why[1024];
    float *ref = NULL, *got = NULL;
    int64_t n_ref = 0, n_got = 0;
    conf_be o, be;
    memset(&o, 0, sizeof(o));
    memset(&be, 0, sizeof(be));
    if (!conf_declares(env->desc, s->op, dt)) {
        conf_set(r, CONF_SKIP, "%s %s is not declared by the backend (see the profile case)",
                 plmm_op_name(s->op), plmm_dtype_name(dt));
        return;
    }
    if ((s->var & V_INPLACE) && !(conf_declared_flags(env->desc, s->op, dt) & PLMM_CAP_INPLACE)) {
        conf_set(r, CONF_SKIP, "%s %s in place is not declared (PLMM_CAP_INPLACE)",
                 plmm_op_name(s->op), plmm_dtype_name(dt));
        return;
    }
    conf_rng_seed(&g, conf_hash(c->name) ^ env->opt.seed);
    conf_step("build the inputs");
    if (!build(s, dt, &g, &cn, shape, sizeof(shape))) {
        conf_set(r, CONF_FAIL, "suite error: cannot build the case");
        conf_node_free(&cn);
        return;
    }
    plmm_tensor ts[1 + PLMM_MAX_SRC];
    plmm_node nd;
    shape_node(&cn, ts, &nd);
    if (!plmm_caps_cover(env->desc, &nd)) {
        conf_set(r, CONF_SKIP, "the shape exceeds the declared max_ne of %s %s",
                 plmm_op_name(s->op), plmm_dtype_name(dt));
        goto out;
    }
    conf_step("reference (cpu, scalar)");
    if (conf_be_open(env->oreg, "cpu", &o, why, sizeof(why)) != PLMM_OK ||
        conf_node_run(&o, &cn, false, &ref, &n_ref, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "reference failed: %s", why);
        goto out;
    }
    conf_be_close(&o);
    conf_step("init the backend");
    if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        goto out;
    }
    if (plmm_backend_has(be.vt, supports_node) && !be.vt->supports_node(be.ctx, &nd)) {
        conf_set(r, CONF_FAIL, "supports_node refuses a declared %s %s node of shape %s",
                 plmm_op_name(s->op), plmm_dtype_name(dt), shape);
        goto out;
    }
    plmm_status st = conf_node_run(&be, &cn, true, &got, &n_got, why, sizeof(why));
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        goto out;
    }
    if (n_got != n_ref) {
        conf_set(r, CONF_FAIL, "suite error: %lld outputs, reference %lld", (long long)n_got,
                 (long long)n_ref);
        goto out;
    }
    conf_tol tol;
    conf_tolerance(env->desc, s->op, dt, &tol);
    conf_compare(ref, got, n_ref, &tol, r);
out:
    conf_step("shutdown");
    conf_be_close(&be);
    conf_be_close(&o);
    free(ref);
    free(got);
    conf_node_free(&cn);
}

/* ---- the list ---- */

static void add_case(conf_case_list *l, size_t i, uint32_t dt)
{
    const op_spec *s = &specs[i];
    char name[96], opl[32], dtl[16], shape[96];
    lower(opl, sizeof(opl), plmm_op_name(s->op));
    lower(dtl, sizeof(dtl), plmm_dtype_name(dt));
    snprintf(name, sizeof(name), "op.%s.%s.%s", opl, dtl, s->label);
    conf_case *c = conf_case_add(l, "op", name, run_op);
    if (c == NULL)
        return;
    c->index = (int32_t)i;
    c->dtype_id = dt;
    snprintf(c->op, sizeof(c->op), "%s", plmm_op_name(s->op));
    snprintf(c->dtype, sizeof(c->dtype), "%s", plmm_dtype_name(dt));
    /* the shape text, from a build with a throwaway generator */
    conf_node cn;
    conf_rng g;
    conf_rng_seed(&g, 1);
    if (build(s, dt, &g, &cn, shape, sizeof(shape)))
        snprintf(c->shape, sizeof(c->shape), "%s", shape);
    conf_node_free(&cn);
}

void conf_op_cases(const conf_env *env, conf_case_list *l)
{
    const plmm_profile *p = &env->profile;
    uint32_t n_w;
    const uint32_t *wdt = plmm_profile_weight_dtypes(&n_w);
    for (size_t i = 0; i < N_SPECS; i++) {
        const op_spec *s = &specs[i];
        uint32_t cand[12], n = 0;
        if (s->cls == CLS_WEIGHT) {
            for (uint32_t k = 0; k < n_w; k++)
                cand[n++] = wdt[k];
            cand[n++] = PLMM_DTYPE_BF16;
        } else if (s->cls == CLS_KV) {
            cand[n++] = PLMM_DTYPE_F16;
            cand[n++] = PLMM_DTYPE_F32;
            if (s->op == PLMM_OP_CPY)
                cand[n++] = PLMM_DTYPE_BF16;
        } else {
            cand[n++] = PLMM_DTYPE_F32;
        }
        for (uint32_t k = 0; k < n; k++) {
            /* the profile's items always; anything else when the backend declares it */
            bool profile_family = s->cls != CLS_WEIGHT || p->weight_dtype == PLMM_DTYPE_COUNT ||
                                  cand[k] == p->weight_dtype;
            if (in_profile(p, s->op, cand[k]) ||
                (profile_family && conf_declares(env->desc, s->op, cand[k])))
                add_case(l, i, cand[k]);
        }
    }
}
