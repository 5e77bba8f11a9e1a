/*
 * Validation of graph nodes against the op contracts of backend.h: dtypes,
 * shapes, strides and params. Everything a kernel relies on is checked
 * here, so kernels never see a shape they cannot handle.
 */
#include "cpu_ops.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* Bound on each dimension: keeps every element count and byte offset
 * computed from ne/nb far from int64 overflow. */
#define MAX_NE (INT64_C(1) << 40)

static plmm_status fail(char *msg, size_t n, plmm_status st, const char *fmt, ...)
    PLMM_PRINTF(4, 5);

static plmm_status fail(char *msg, size_t n, plmm_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return st;
}

bool cpu_tensor_span(const plmm_tensor *t, uint64_t *out)
{
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return false;
    uint64_t span = plmm_dtype_block_bytes(t->dtype);
    for (int i = 0; i < PLMM_MAX_DIMS; i++) {
        if (t->ne[i] < 1)
            return false;
        uint64_t count = (uint64_t)(i == 0 ? t->ne[0] / be : t->ne[i]) - 1;
        uint64_t part;
        if (__builtin_mul_overflow(count, t->nb[i], &part) ||
            __builtin_add_overflow(span, part, &span))
            return false;
    }
    *out = span;
    return true;
}

/* A tensor a kernel may index: known dtype, positive dims, whole blocks,
 * innermost stride equal to the element (block) size unless any_nb0. */
static plmm_status check_tensor(const plmm_tensor *t, const char *what, bool any_nb0, char *msg,
                                size_t n)
{
    if (t == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s is NULL", what);
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s has unknown dtype %u", what, t->dtype);
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (t->ne[i] < 1 || t->ne[i] > MAX_NE)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[%d]=%lld out of range", what, i,
                        (long long)t->ne[i]);
    if (t->ne[0] % be != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[0]=%lld is not a multiple of %u (%s)",
                    what, (long long)t->ne[0], be, plmm_dtype_name(t->dtype));
    if (!any_nb0 && t->nb[0] != plmm_dtype_block_bytes(t->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s nb[0]=%llu: rows must be contiguous", what,
                    (unsigned long long)t->nb[0]);
    uint64_t span;
    if (!cpu_tensor_span(t, &span))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s strides overflow", what);
    return PLMM_OK;
}

static plmm_status want_dtype(const plmm_tensor *t, const char *what, uint32_t dtype, char *msg,
                              size_t n)
{
    if (t->dtype != dtype)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "%s dtype %s, expected %s", what,
                    plmm_dtype_name(t->dtype), plmm_dtype_name(dtype));
    return PLMM_OK;
}

static plmm_status same_shape(const plmm_tensor *a, const plmm_tensor *b, const char *what,
                              char *msg, size_t n)
{
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i])
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s ne[%d]=%lld, expected %lld", what, i,
                        (long long)b->ne[i], (long long)a->ne[i]);
    return PLMM_OK;
}

/* Check a tensor that must be a contiguous-row F32 tensor. */
static plmm_status check_f32(const plmm_tensor *t, const char *what, char *msg, size_t n)
{
    plmm_status st = check_tensor(t, what, false, msg, n);
    if (st != PLMM_OK)
        return st;
    return want_dtype(t, what, PLMM_DTYPE_F32, msg, n);
}

static bool float_ok(float v)
{
    return isfinite(v);
}

/* ---- per-op checks ---- */

static plmm_status check_get_rows(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *w = nd->src[0], *ids = nd->src[1], *d = nd->dst;
    plmm_status st = check_tensor(w, "src0", false, msg, n);
    if (st != PLMM_OK)
        return st;
    if (!cpu_weight_type_ok(w->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "src0 dtype %s not supported",
                    plmm_dtype_name(w->dtype));
    if ((st = check_tensor(ids, "src1", false, msg, n)) != PLMM_OK ||
        (st = want_dtype(ids, "src1", PLMM_DTYPE_I32, msg, n)) != PLMM_OK ||
        (st = check_f32(d, "dst", msg, n)) != PLMM_OK)
        return st;
    if (w->ne[2] != 1 || w->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src0 must be 2-D");
    if (ids->ne[1] != 1 || ids->ne[2] != 1 || ids->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 must be 1-D");
    if (d->ne[0] != w->ne[0] || d->ne[1] != ids->ne[0] || d->ne[2] != 1 || d->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "dst shape (%lld,%lld,%lld,%lld), expected (%lld,%lld,1,1)",
                    (long long)d->ne[0], (long long)d->ne[1], (long long)d->ne[2],
                    (long long)d->ne[3], (long long)w->ne[0], (long long)ids->ne[0]);
    return PLMM_OK;
}

static plmm_status check_rms_norm(const plmm_node *nd, char *msg, size_t n)
{
    plmm_status st;
    if ((st = check_f32(nd->src[0], "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(nd->src[0], nd->dst, "dst", msg, n)) != PLMM_OK)
        return st;
    const plmm_tensor *wt = nd->src[1];
    if (wt != NULL) {
        if ((st = check_f32(wt, "src1", msg, n)) != PLMM_OK)
            return st;
        if (wt->ne[0] != nd->src[0]->ne[0] || wt->ne[1] != 1 || wt->ne[2] != 1 || wt->ne[3] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 must be a vector of %lld",
                        (long long)nd->src[0]->ne[0]);
    }
    if (!float_ok(nd->fp[0]) || nd->fp[0] < 0.0f)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "eps %g must be finite and >= 0",
                    (double)nd->fp[0]);
    return PLMM_OK;
}

static plmm_status check_binary(const plmm_node *nd, char *msg, size_t n)
{
    plmm_status st;
    if ((st = check_f32(nd->src[0], "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->src[1], "src1", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(nd->src[0], nd->dst, "dst", msg, n)) != PLMM_OK)
        return st;
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        if (nd->src[1]->ne[i] != 1 && nd->src[1]->ne[i] != nd->src[0]->ne[i])
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 ne[%d]=%lld does not broadcast to %lld",
                        i, (long long)nd->src[1]->ne[i], (long long)nd->src[0]->ne[i]);
    return PLMM_OK;
}

static plmm_status check_mul_mat(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *w = nd->src[0], *x = nd->src[1], *d = nd->dst;
    plmm_status st = check_tensor(w, "src0", false, msg, n);
    if (st != PLMM_OK)
        return st;
    if (!cpu_weight_type_ok(w->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "src0 dtype %s not supported",
                    plmm_dtype_name(w->dtype));
    if ((st = check_f32(x, "src1", msg, n)) != PLMM_OK ||
        (st = check_f32(d, "dst", msg, n)) != PLMM_OK)
        return st;
    if (x->ne[0] != w->ne[0])
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 ne[0]=%lld != src0 ne[0]=%lld",
                    (long long)x->ne[0], (long long)w->ne[0]);
    if (d->ne[0] != w->ne[1] || d->ne[1] != x->ne[1] || d->ne[2] != x->ne[2] ||
        d->ne[3] != x->ne[3])
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "dst shape (%lld,%lld,%lld,%lld), expected (%lld,%lld,%lld,%lld)",
                    (long long)d->ne[0], (long long)d->ne[1], (long long)d->ne[2],
                    (long long)d->ne[3], (long long)w->ne[1], (long long)x->ne[1],
                    (long long)x->ne[2], (long long)x->ne[3]);
    if (x->ne[2] % w->ne[2] != 0 || x->ne[3] % w->ne[3] != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "src0 batch (%lld,%lld) does not divide (%lld,%lld)", (long long)w->ne[2],
                    (long long)w->ne[3], (long long)x->ne[2], (long long)x->ne[3]);
    return PLMM_OK;
}

static plmm_status check_rope(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *x = nd->src[0], *pos = nd->src[1], *ff = nd->src[2];
    plmm_status st;
    if ((st = check_f32(x, "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(x, nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = check_tensor(pos, "src1", false, msg, n)) != PLMM_OK ||
        (st = want_dtype(pos, "src1", PLMM_DTYPE_I32, msg, n)) != PLMM_OK)
        return st;
    if (x->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src0 must be 3-D (head_dim, n_heads, n_tokens)");
    if (pos->ne[0] != x->ne[2] || pos->ne[1] != 1 || pos->ne[2] != 1 || pos->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src1 must hold %lld positions",
                    (long long)x->ne[2]);
    const int32_t n_rot = nd->ip[0], mode = nd->ip[1];
    if (n_rot <= 0 || n_rot % 2 != 0 || n_rot > x->ne[0])
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "n_rot %d must be even, > 0 and <= %lld",
                    (int)n_rot, (long long)x->ne[0]);
    if (mode != 0 && mode != 2)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "rope mode %d (0 or 2 expected)", (int)mode);
    if (ff != NULL) {
        if ((st = check_f32(ff, "src2", msg, n)) != PLMM_OK)
            return st;
        if (ff->ne[0] < n_rot / 2 || ff->ne[1] != 1 || ff->ne[2] != 1 || ff->ne[3] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "src2 must hold n_rot/2 = %d factors",
                        (int)(n_rot / 2));
    }
    for (int i = 0; i < 6; i++)
        if (!float_ok(nd->fp[i]))
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "fp[%d] is not finite", i);
    if (nd->fp[0] <= 0.0f || nd->fp[1] <= 0.0f)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "freq_base %g and freq_scale %g must be > 0",
                    (double)nd->fp[0], (double)nd->fp[1]);
    if (nd->fp[2] != 0.0f && (nd->ip[2] <= 0 || nd->fp[4] <= 0.0f || nd->fp[5] <= 0.0f))
        return fail(msg, n, PLMM_ERR_INVALID_ARG,
                    "ext_factor needs n_ctx_orig > 0, beta_fast > 0 and beta_slow > 0");
    return PLMM_OK;
}

static plmm_status check_softmax(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *x = nd->src[0], *mask = nd->src[1];
    plmm_status st;
    if ((st = check_f32(x, "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(x, nd->dst, "dst", msg, n)) != PLMM_OK)
        return st;
    if (mask != NULL) {
        if ((st = check_f32(mask, "src1", msg, n)) != PLMM_OK)
            return st;
        if (mask->ne[0] != x->ne[0] || mask->ne[1] < x->ne[1] || mask->ne[2] != 1 ||
            mask->ne[3] != 1)
            return fail(msg, n, PLMM_ERR_INVALID_ARG, "mask must be (%lld, >= %lld)",
                        (long long)x->ne[0], (long long)x->ne[1]);
    }
    if (!float_ok(nd->fp[0]))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "scale is not finite");
    return PLMM_OK;
}

static plmm_status check_attention(const plmm_node *nd, char *msg, size_t n)
{
    const plmm_tensor *q = nd->src[0], *k = nd->src[1], *v = nd->src[2], *d = nd->dst;
    plmm_status st;
    if ((st = check_f32(q, "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(d, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(q, d, "dst", msg, n)) != PLMM_OK ||
        (st = check_tensor(k, "src1", false, msg, n)) != PLMM_OK ||
        (st = check_tensor(v, "src2", false, msg, n)) != PLMM_OK)
        return st;
    if (k->dtype != PLMM_DTYPE_F32 && k->dtype != PLMM_DTYPE_F16)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "K cache dtype %s (F32 or F16 expected)",
                    plmm_dtype_name(k->dtype));
    if (v->dtype != PLMM_DTYPE_F32 && v->dtype != PLMM_DTYPE_F16)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "V cache dtype %s (F32 or F16 expected)",
                    plmm_dtype_name(v->dtype));
    const int64_t hd = q->ne[0], nh = q->ne[1];
    if (q->ne[3] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "src0 must be 3-D (head_dim, n_head, n_tokens)");
    if (k->ne[0] != hd || v->ne[0] != hd || k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] ||
        k->ne[3] != 1 || v->ne[3] != 1)
        return fail(
            msg, n, PLMM_ERR_INVALID_ARG,
            "K (%lld,%lld,%lld) and V (%lld,%lld,%lld) must be (head_dim=%lld, n_head_kv, n_ctx)",
            (long long)k->ne[0], (long long)k->ne[1], (long long)k->ne[2], (long long)v->ne[0],
            (long long)v->ne[1], (long long)v->ne[2], (long long)hd);
    if (nh % k->ne[1] != 0)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "n_head %lld is not a multiple of n_head_kv %lld",
                    (long long)nh, (long long)k->ne[1]);
    if (nd->ip[0] < 1 || nd->ip[0] > k->ne[2])
        return fail(msg, n, PLMM_ERR_RANGE, "n_kv %d outside [1, %lld]", (int)nd->ip[0],
                    (long long)k->ne[2]);
    if (nd->ip[1] < 0)
        return fail(msg, n, PLMM_ERR_RANGE, "pos0 %d is negative", (int)nd->ip[1]);
    if (nd->ip[2] != 0 && nd->ip[2] != 1)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "causal flag %d (0 or 1 expected)",
                    (int)nd->ip[2]);
    if (!float_ok(nd->fp[0]))
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "scale is not finite");
    return PLMM_OK;
}

static plmm_status check_unary(const plmm_node *nd, bool two_src, char *msg, size_t n)
{
    plmm_status st;
    if ((st = check_f32(nd->src[0], "src0", msg, n)) != PLMM_OK ||
        (st = check_f32(nd->dst, "dst", msg, n)) != PLMM_OK ||
        (st = same_shape(nd->src[0], nd->dst, "dst", msg, n)) != PLMM_OK)
        return st;
    if (two_src && ((st = check_f32(nd->src[1], "src1", msg, n)) != PLMM_OK ||
                    (st = same_shape(nd->src[0], nd->src[1], "src1", msg, n)) != PLMM_OK))
        return st;
    return PLMM_OK;
}

static bool cpy_type_ok(uint32_t t)
{
    return t == PLMM_DTYPE_F32 || t == PLMM_DTYPE_F16 || t == PLMM_DTYPE_BF16;
}

static plmm_status check_cpy(const plmm_node *nd, char *msg, size_t n)
{
    plmm_status st;
    if ((st = check_tensor(nd->src[0], "src0", true, msg, n)) != PLMM_OK ||
        (st = check_tensor(nd->dst, "dst", true, msg, n)) != PLMM_OK)
        return st;
    if (!cpy_type_ok(nd->src[0]->dtype) || !cpy_type_ok(nd->dst->dtype))
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "copy %s -> %s not supported",
                    plmm_dtype_name(nd->src[0]->dtype), plmm_dtype_name(nd->dst->dtype));
    return same_shape(nd->src[0], nd->dst, "dst", msg, n);
}

plmm_status cpu_node_check(const plmm_node *nd, char *msg, size_t n)
{
    if (nd == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "node is NULL");
    if (nd->op >= PLMM_OP_COUNT)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "unknown op %u", nd->op);
    if (nd->op == PLMM_OP_NONE)
        return PLMM_OK;
    if (nd->flags != 0)
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "node flags 0x%x not supported", nd->flags);
    if (nd->dst == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "dst is NULL");
    switch (nd->op) {
    case PLMM_OP_GET_ROWS:
        return check_get_rows(nd, msg, n);
    case PLMM_OP_RMS_NORM:
        return check_rms_norm(nd, msg, n);
    case PLMM_OP_ADD:
    case PLMM_OP_MUL:
        return check_binary(nd, msg, n);
    case PLMM_OP_MUL_MAT:
        return check_mul_mat(nd, msg, n);
    case PLMM_OP_ROPE:
        return check_rope(nd, msg, n);
    case PLMM_OP_SOFTMAX:
        return check_softmax(nd, msg, n);
    case PLMM_OP_ATTENTION:
        return check_attention(nd, msg, n);
    case PLMM_OP_SILU:
    case PLMM_OP_SCALE:
        return check_unary(nd, false, msg, n);
    case PLMM_OP_SWIGLU:
        return check_unary(nd, true, msg, n);
    case PLMM_OP_CPY:
        return check_cpy(nd, msg, n);
    default:
        return fail(msg, n, PLMM_ERR_UNSUPPORTED, "op %u not supported", nd->op);
    }
}

/* ---- alignment of resolved addresses ---- */

/* Alignment the kernels need for a dtype: the C alignment of its element or block. */
static uint64_t dtype_align(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32:
    case PLMM_DTYPE_I32:
        return 4;
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_BF16:
        return 2;
    case PLMM_DTYPE_Q8_0:
        return _Alignof(block_q8_0);
    case PLMM_DTYPE_Q4_0:
        return _Alignof(block_q4_0);
    case PLMM_DTYPE_Q4_K:
        return _Alignof(block_q4_K);
    case PLMM_DTYPE_Q6_K:
        return _Alignof(block_q6_K);
    default:
        return 1;
    }
}

static plmm_status check_align(const plmm_tensor *t, const void *p, const char *what, char *msg,
                               size_t n)
{
    if (t == NULL)
        return PLMM_OK;
    if (p == NULL)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s has no storage (no buffer and data NULL)",
                    what);
    uint64_t a = dtype_align(t->dtype);
    bool ok = (uintptr_t)p % a == 0;
    for (int i = 0; i < PLMM_MAX_DIMS; i++)
        ok = ok && (t->ne[i] == 1 || t->nb[i] % a == 0);
    if (!ok)
        return fail(msg, n, PLMM_ERR_INVALID_ARG, "%s address or strides not aligned to %llu bytes",
                    what, (unsigned long long)a);
    return PLMM_OK;
}

plmm_status cpu_task_check_align(const cpu_task *t, char *msg, size_t n)
{
    static const char *const names[PLMM_MAX_SRC] = {"src0", "src1", "src2", "src3"};
    const plmm_node *nd = t->node;
    if (nd->op == PLMM_OP_NONE)
        return PLMM_OK;
    plmm_status st = check_align(nd->dst, t->dst, "dst", msg, n);
    for (int i = 0; st == PLMM_OK && i < PLMM_MAX_SRC; i++)
        st = check_align(nd->src[i], t->src[i], names[i], msg, n);
    return st;
}
