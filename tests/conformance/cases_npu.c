/*
 * Partition contract (NPU backends): claim, compile to a blob, load, execute
 * against the reference; blob reuse and rejection of corrupted or foreign
 * blobs; the compatibility key; static shape buckets. The graph is a
 * llama feed-forward block: out = x + W3 swiglu(W1 h, W2 h), h = rms_norm(x).
 */
#include "conformance.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_X, T_WN, T_W1, T_W2, T_W3, T_H, T_A, T_B, T_S, T_Y, T_OUT, T_COUNT };
#define N_NODES 6
#define E 64
#define F 96

typedef struct ffn {
    uint32_t wdt;
    int64_t tokens;
    plmm_tensor t[T_COUNT];
    plmm_node nodes[N_NODES];
    uint8_t *host[T_COUNT]; /* host storage (all tensors for the reference, weights otherwise) */
    conf_buf xb, ob;        /* backend buffers of x and out */
} ffn;

static void tensor(plmm_tensor *t, uint32_t dt, int64_t ne0, int64_t ne1, uint32_t flags,
                   const char *name)
{
    memset(t, 0, sizeof(*t));
    t->dtype = dt;
    t->flags = flags;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->name = name;
    plmm_tensor_set_dense_strides(t);
}

/* The block for `tokens` tokens; weights from a fixed seed so every bucket
 * uses the same model, x from `seed`. host_all: every tensor in host memory. */
static bool ffn_build(ffn *f, uint32_t wdt, int64_t tokens, uint64_t seed, bool host_all)
{
    memset(f, 0, sizeof(*f));
    f->wdt = wdt;
    f->tokens = tokens;
    tensor(&f->t[T_X], PLMM_DTYPE_F32, E, tokens, PLMM_TENSOR_INPUT, "x");
    tensor(&f->t[T_WN], PLMM_DTYPE_F32, E, 1, PLMM_TENSOR_WEIGHT, "ffn_norm");
    tensor(&f->t[T_W1], wdt, E, F, PLMM_TENSOR_WEIGHT, "ffn_gate");
    tensor(&f->t[T_W2], wdt, E, F, PLMM_TENSOR_WEIGHT, "ffn_up");
    tensor(&f->t[T_W3], wdt, F, E, PLMM_TENSOR_WEIGHT, "ffn_down");
    tensor(&f->t[T_H], PLMM_DTYPE_F32, E, tokens, 0, "h");
    tensor(&f->t[T_A], PLMM_DTYPE_F32, F, tokens, 0, "gate");
    tensor(&f->t[T_B], PLMM_DTYPE_F32, F, tokens, 0, "up");
    tensor(&f->t[T_S], PLMM_DTYPE_F32, F, tokens, 0, "act");
    tensor(&f->t[T_Y], PLMM_DTYPE_F32, E, tokens, 0, "down");
    tensor(&f->t[T_OUT], PLMM_DTYPE_F32, E, tokens, PLMM_TENSOR_OUTPUT, "out");
    conf_rng wg, xg;
    conf_rng_seed(&wg, UINT64_C(0x5eed) ^ wdt);
    conf_rng_seed(&xg, seed);
    for (int i = 0; i < T_COUNT; i++) {
        bool weight = (f->t[i].flags & PLMM_TENSOR_WEIGHT) != 0;
        if (!weight && !host_all)
            continue;
        uint64_t bytes = plmm_tensor_nbytes(&f->t[i]);
        if (posix_memalign((void **)&f->host[i], 64, (size_t)bytes) != 0) {
            f->host[i] = NULL;
            return false;
        }
        memset(f->host[i], 0, (size_t)bytes);
        if (weight)
            conf_fill(&wg, f->t[i].dtype, f->host[i], plmm_tensor_nelements(&f->t[i]),
                      i == T_WN ? 1.0f : 0.5f);
        else if (i == T_X)
            conf_fill(&xg, PLMM_DTYPE_F32, f->host[i], E * tokens, 1.0f);
        f->t[i].data = f->host[i];
    }
    plmm_node *n = f->nodes;
    plmm_tensor *t = f->t;
    n[0] = (plmm_node){.op = PLMM_OP_RMS_NORM, .dst = &t[T_H], .src = {&t[T_X], &t[T_WN]}};
    n[0].fp[0] = 1e-5f;
    n[1] = (plmm_node){.op = PLMM_OP_MUL_MAT, .dst = &t[T_A], .src = {&t[T_W1], &t[T_H]}};
    n[2] = (plmm_node){.op = PLMM_OP_MUL_MAT, .dst = &t[T_B], .src = {&t[T_W2], &t[T_H]}};
    n[3] = (plmm_node){.op = PLMM_OP_SWIGLU, .dst = &t[T_S], .src = {&t[T_A], &t[T_B]}};
    n[4] = (plmm_node){.op = PLMM_OP_MUL_MAT, .dst = &t[T_Y], .src = {&t[T_W3], &t[T_S]}};
    n[5] = (plmm_node){.op = PLMM_OP_ADD, .dst = &t[T_OUT], .src = {&t[T_X], &t[T_Y]}};
    return true;
}

static void ffn_free(ffn *f, conf_be *be)
{
    for (int i = 0; i < T_COUNT; i++)
        free(f->host[i]);
    if (be != NULL) {
        conf_buf_free(be, &f->xb);
        conf_buf_free(be, &f->ob);
    }
    memset(f, 0, sizeof(*f));
}

/* Reference output on the scalar CPU backend, all tensors in host memory. */
static plmm_status ffn_reference(const conf_env *env, uint32_t wdt, int64_t tokens, uint64_t seed,
                                 float **out, char *why, size_t why_size)
{
    ffn f;
    conf_be o;
    *out = NULL;
    if (!ffn_build(&f, wdt, tokens, seed, true)) {
        ffn_free(&f, NULL);
        snprintf(why, why_size, "out of memory");
        return PLMM_ERR_NOMEM;
    }
    plmm_status st = conf_be_open(env->oreg, "cpu", &o, why, why_size);
    if (st == PLMM_OK) {
        plmm_graph g = {.struct_size = sizeof(g), .n_nodes = N_NODES, .nodes = f.nodes};
        st = o.vt->graph_compute(o.ctx, &g);
        if (st == PLMM_OK)
            st = o.vt->synchronize(o.ctx);
        if (st != PLMM_OK)
            snprintf(why, why_size, "reference: %s", conf_be_errmsg(&o, st));
        conf_be_close(&o);
    }
    if (st == PLMM_OK && (*out = malloc((size_t)(E * tokens) * sizeof(float))) != NULL)
        memcpy(*out, f.host[T_OUT], (size_t)(E * tokens) * sizeof(float));
    ffn_free(&f, NULL);
    return st == PLMM_OK && *out == NULL ? PLMM_ERR_NOMEM : st;
}

/* Buffers of the backend for x and out. */
static plmm_status ffn_bind(ffn *f, conf_be *be, char *why, size_t why_size)
{
    const uint64_t bytes = (uint64_t)E * (uint64_t)f->tokens * 4;
    plmm_status st = conf_buf_alloc(be, bytes, PLMM_BUFFER_ACTIVATIONS, &f->xb, why, why_size);
    if (st == PLMM_OK)
        st = conf_buf_alloc(be, bytes, PLMM_BUFFER_ACTIVATIONS, &f->ob, why, why_size);
    return st;
}

/* Upload x from seed and prefill out; point the tensors at the buffers. */
static plmm_status upload_x(ffn *f, conf_be *be, uint64_t seed, char *why, size_t why_size)
{
    const uint64_t bytes = (uint64_t)E * (uint64_t)f->tokens * 4;
    uint8_t *img = malloc((size_t)bytes), *fill = malloc((size_t)bytes);
    plmm_status st = PLMM_ERR_NOMEM;
    if (img != NULL && fill != NULL) {
        conf_rng g;
        conf_rng_seed(&g, seed);
        conf_fill(&g, PLMM_DTYPE_F32, img, E * f->tokens, 1.0f);
        memset(fill, 0x5A, (size_t)bytes);
        st = conf_buf_upload(be, &f->xb, img, why, why_size);
        if (st == PLMM_OK)
            st = conf_buf_upload(be, &f->ob, fill, why, why_size);
    }
    free(img);
    free(fill);
    for (int k = 0; k < 2 && st == PLMM_OK; k++) {
        conf_buf *b = k ? &f->ob : &f->xb;
        plmm_tensor *t = &f->t[k ? T_OUT : T_X];
        t->buffer = b->buf;
        t->offset = b->base;
        t->data = b->map != NULL ? (uint8_t *)b->map + b->base : NULL;
    }
    return st;
}

/* Read out back; guards around it must be intact. */
static plmm_status read_out(ffn *f, conf_be *be, float **out, char *why, size_t why_size)
{
    uint8_t *all = malloc((size_t)f->ob.size);
    *out = NULL;
    if (all == NULL)
        return PLMM_ERR_NOMEM;
    plmm_status st = conf_buf_download(be, &f->ob, all, why, why_size);
    for (uint64_t i = 0; st == PLMM_OK && i < f->ob.base; i++)
        if (all[i] != conf_guard_byte(i) ||
            all[f->ob.base + f->ob.storage + i] != conf_guard_byte(i + 1000)) {
            snprintf(why, why_size, "wrote outside the output (guard byte %llu changed)",
                     (unsigned long long)i);
            st = PLMM_ERR_INTERNAL;
        }
    if (st == PLMM_OK && (*out = malloc((size_t)f->ob.storage)) != NULL)
        memcpy(*out, all + f->ob.base, (size_t)f->ob.storage);
    free(all);
    return st == PLMM_OK && *out == NULL ? PLMM_ERR_NOMEM : st;
}

typedef struct npu_run {
    conf_be be;
    ffn f;
    plmm_tensor *ins[1], *outs[1];
    plmm_partition part;
    void *blob;
    uint64_t blob_size;
} npu_run;

static uint32_t pick_dtype(const conf_env *env)
{
    static const uint32_t pref[] = {PLMM_DTYPE_Q8_0, PLMM_DTYPE_F16,  PLMM_DTYPE_F32,
                                    PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K, PLMM_DTYPE_Q6_K};
    const plmm_backend_desc *d = env->desc;
    for (size_t k = 0; k < sizeof(pref) / sizeof(pref[0]); k++) {
        if (env->profile.weight_dtype != PLMM_DTYPE_COUNT && pref[k] != env->profile.weight_dtype)
            continue;
        if (plmm_dtype_block_elems(pref[k]) > 32)
            continue; /* E = 64 is not a whole K-quant super-block */
        for (uint32_t i = 0; i < d->n_caps; i++)
            if (d->caps[i].op == PLMM_OP_MUL_MAT && (d->caps[i].dtypes & PLMM_DTYPE_BIT(pref[k])))
                return pref[k];
    }
    return PLMM_DTYPE_F32;
}

/* Open, build for `tokens`, claim (all nodes) and compile. */
static bool npu_prepare(const conf_env *env, npu_run *n, int64_t tokens, conf_result *r)
{
    char why[600];
    memset(n, 0, sizeof(*n));
    const uint32_t wdt = pick_dtype(env);
    if (conf_be_open(env->treg, env->name, &n->be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        return false;
    }
    if (!ffn_build(&n->f, wdt, tokens, 0, false)) {
        conf_set(r, CONF_FAIL, "suite error: out of memory");
        return false;
    }
    const plmm_backend_vtbl *vt = n->be.vt;
    plmm_graph g = {.struct_size = sizeof(g), .n_nodes = N_NODES, .nodes = n->f.nodes};
    uint8_t claim[N_NODES] = {0};
    conf_step("partition_claim");
    plmm_status st = vt->partition_claim(n->be.ctx, &g, claim);
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "partition_claim: %s", conf_be_errmsg(&n->be, st));
        return false;
    }
    for (int i = 0; i < N_NODES; i++)
        if (!claim[i]) {
            conf_set(r, CONF_FAIL,
                     "partition_claim left node %d (%s %s) of a feed-forward "
                     "block unclaimed",
                     i, plmm_op_name(n->f.nodes[i].op),
                     plmm_dtype_name(n->f.nodes[i].src[0]->dtype));
            return false;
        }
    n->ins[0] = &n->f.t[T_X];
    n->outs[0] = &n->f.t[T_OUT];
    n->part = (plmm_partition){.struct_size = sizeof(plmm_partition),
                               .bucket = (uint32_t)tokens,
                               .n_nodes = N_NODES,
                               .n_inputs = 1,
                               .n_outputs = 1,
                               .nodes = n->f.nodes,
                               .inputs = n->ins,
                               .outputs = n->outs};
    if ((st = ffn_bind(&n->f, &n->be, why, sizeof(why))) != PLMM_OK ||
        (st = upload_x(&n->f, &n->be, 7, why, sizeof(why))) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffers: %s", why);
        return false;
    }
    conf_step("partition_compile (bucket %lld)", (long long)tokens);
    st = vt->partition_compile(n->be.ctx, &n->part, &n->blob, &n->blob_size);
    if (st != PLMM_OK || n->blob == NULL || n->blob_size == 0) {
        conf_set(r, CONF_FAIL, "partition_compile: %s",
                 st != PLMM_OK ? conf_be_errmsg(&n->be, st) : "empty blob");
        return false;
    }
    return true;
}

static void npu_finish(npu_run *n)
{
    if (n->blob != NULL)
        n->be.host->free(n->be.host->host_ctx, n->blob);
    ffn_free(&n->f, &n->be);
    conf_be_close(&n->be);
}

/* Load blob, execute on x (seed), compare with the reference. */
static bool load_execute(const conf_env *env, npu_run *n, const void *blob, uint64_t size,
                         uint64_t seed, float **out, conf_result *r)
{
    char why[600];
    plmm_compiled *cp = NULL;
    const plmm_backend_vtbl *vt = n->be.vt;
    *out = NULL;
    conf_step("blob_load");
    plmm_status st = vt->blob_load(n->be.ctx, &n->part, blob, size, &cp);
    if (st != PLMM_OK || cp == NULL) {
        conf_set(r, CONF_FAIL, "blob_load of its own blob: %s",
                 st ? conf_be_errmsg(&n->be, st) : "no handle");
        return false;
    }
    /* execute binds fresh inputs: new data in the same buffers */
    if ((st = upload_x(&n->f, &n->be, seed, why, sizeof(why))) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "upload: %s", why);
        vt->compiled_free(n->be.ctx, cp);
        return false;
    }
    conf_step("compiled_execute");
    st = vt->compiled_execute(n->be.ctx, cp, &n->part);
    if (st == PLMM_OK)
        st = vt->synchronize(n->be.ctx);
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "compiled_execute: %s", conf_be_errmsg(&n->be, st));
        vt->compiled_free(n->be.ctx, cp);
        return false;
    }
    vt->compiled_free(n->be.ctx, cp);
    if ((st = read_out(&n->f, &n->be, out, why, sizeof(why))) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        return false;
    }
    float *ref = NULL;
    if (ffn_reference(env, n->f.wdt, n->f.tokens, seed, &ref, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        return false;
    }
    conf_tol tol;
    conf_tolerance(env->desc, PLMM_OP_MUL_MAT, n->f.wdt, &tol);
    conf_compare(ref, *out, E * n->f.tokens, &tol, r);
    free(ref);
    return r->status == CONF_PASS;
}

/* ---- cases ---- */

static void case_execute(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    npu_run n;
    float *out = NULL;
    if (npu_prepare(env, &n, 4, r) && load_execute(env, &n, n.blob, n.blob_size, 11, &out, r))
        conf_note(r, "6-node block claimed, compiled to %llu bytes, executed",
                  (unsigned long long)n.blob_size);
    free(out);
    npu_finish(&n);
}

static bool must_reject(npu_run *n, const void *blob, uint64_t size, const char *what,
                        conf_result *r)
{
    plmm_compiled *cp = NULL;
    conf_step("blob_load of a %s blob", what);
    plmm_status st = n->be.vt->blob_load(n->be.ctx, &n->part, blob, size, &cp);
    if (st == PLMM_OK) {
        n->be.vt->compiled_free(n->be.ctx, cp);
        conf_set(r, CONF_FAIL, "blob_load accepted a %s blob", what);
        return false;
    }
    if (st != PLMM_ERR_FORMAT) {
        conf_set(r, CONF_FAIL, "blob_load of a %s blob returned %s, expected PLMM_ERR_FORMAT", what,
                 plmm_status_str(st));
        return false;
    }
    conf_be_clear_error(&n->be);
    return true;
}

static void case_blob(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    npu_run n;
    float *o1 = NULL, *o2 = NULL;
    uint8_t *bad = NULL;
    if (!npu_prepare(env, &n, 4, r))
        goto out;
    /* the same blob loaded twice gives the same results */
    if (!load_execute(env, &n, n.blob, n.blob_size, 21, &o1, r) ||
        !load_execute(env, &n, n.blob, n.blob_size, 21, &o2, r))
        goto out;
    conf_tol tol;
    conf_tolerance(env->desc, PLMM_OP_MUL_MAT, n.f.wdt, &tol);
    conf_compare(o1, o2, E * n.f.tokens, &tol, r);
    if (r->status != CONF_PASS) {
        conf_note(r, "second load of the same blob differs from the first");
        goto out;
    }
    if ((bad = malloc((size_t)n.blob_size)) == NULL)
        goto out;
    const uint64_t sz = n.blob_size;
    memcpy(bad, n.blob, (size_t)sz);
    for (uint64_t i = 0; i < 16 && i < sz; i++)
        bad[i] ^= 0x5A;
    if (!must_reject(&n, bad, sz, "header-corrupted", r))
        goto out;
    memcpy(bad, n.blob, (size_t)sz);
    bad[sz / 2] ^= 0x10;
    bad[sz - 1] ^= 0x01;
    if (!must_reject(&n, bad, sz, "bit-flipped", r))
        goto out;
    memcpy(bad, n.blob, (size_t)sz);
    if (!must_reject(&n, bad, sz / 2, "truncated", r))
        goto out;
    conf_rng g;
    conf_rng_seed(&g, 99);
    for (uint64_t i = 0; i < sz; i++)
        bad[i] = (uint8_t)(conf_rng_next(&g) >> 56);
    if (!must_reject(&n, bad, sz, "foreign (random bytes)", r))
        goto out;
    conf_set(r, CONF_PASS,
             "blob reused twice; corrupted, truncated and foreign blobs rejected "
             "with PLMM_ERR_FORMAT");
out:
    free(bad);
    free(o1);
    free(o2);
    npu_finish(&n);
}

/* Another valid value for an option, as INI text; NULL when there is none. */
static const char *other_value(const plmm_option_schema *s, char *buf, size_t n)
{
    const char *def = s->default_value != NULL ? s->default_value : "";
    switch (s->type) {
    case PLMM_OPT_BOOL:
        return strcmp(def, "true") == 0 || strcmp(def, "1") == 0 ? "false" : "true";
    case PLMM_OPT_INT: {
        long long v = atoll(def);
        long long w = (s->min <= s->max && (double)(v + 1) > s->max) ? v - 1 : v + 1;
        snprintf(buf, n, "%lld", w);
        return buf;
    }
    case PLMM_OPT_FLOAT:
        snprintf(buf, n, "%g", atof(def) * 0.5 + 0.25);
        return buf;
    case PLMM_OPT_ENUM:
        for (const char *p = s->choices; p != NULL && *p;) {
            size_t len = strcspn(p, "|");
            if (len != strlen(def) || strncmp(p, def, len) != 0) {
                snprintf(buf, n, "%.*s", (int)len, p);
                return buf;
            }
            p += len + (p[len] == '|');
        }
        return NULL;
    default:
        return NULL;
    }
}

static plmm_status key_of(const conf_env *env, const char *assignment, char *key, size_t size,
                          char *why, size_t why_size)
{
    plmm_config *cfg = NULL;
    plmm_registry *reg = NULL;
    conf_be be;
    plmm_status st = plmm_config_create(&cfg);
    if (st == PLMM_OK && env->plugin_path[0])
        st = plmm_config_set_value(cfg, "engine", "plugin_path", env->plugin_path, NULL);
    for (uint32_t i = 0; st == PLMM_OK && i < env->opt.n_sets; i++)
        st = plmm_config_set(cfg, env->opt.sets[i]);
    if (st == PLMM_OK && assignment != NULL)
        st = plmm_config_set(cfg, assignment);
    plmm_registry_opts ro = {.config = cfg, .flags = conf_registry_flags(env)};
    if (st == PLMM_OK)
        st = plmm_registry_create(&ro, &reg);
    if (st != PLMM_OK) {
        snprintf(why, why_size, "%s", plmm_last_errmsg());
    } else if ((st = conf_be_open(reg, env->name, &be, why, why_size)) == PLMM_OK) {
        memset(key, 0, size);
        st = be.vt->compat_key(be.ctx, key, size);
        if (st != PLMM_OK)
            snprintf(why, why_size, "compat_key: %s", conf_be_errmsg(&be, st));
        else if (memchr(key, 0, size) == NULL) {
            snprintf(why, why_size, "compat_key wrote no NUL terminator");
            st = PLMM_ERR_INTERNAL;
        }
        conf_be_close(&be);
    }
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
    return st;
}

static void case_compat_key(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    char k1[512], k2[512], k3[512], why[600], assign[300], buf[64];
    if (!plmm_backend_has(env->desc->vtbl, compat_key)) {
        conf_set(r, CONF_SKIP,
                 "compat_key is not implemented (optional): the engine cannot "
                 "cache this backend's blobs");
        return;
    }
    conf_step("compat_key of two contexts with the same options");
    if (key_of(env, NULL, k1, sizeof(k1), why, sizeof(why)) != PLMM_OK ||
        key_of(env, NULL, k2, sizeof(k2), why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        return;
    }
    if (k1[0] == '\0' || strcmp(k1, k2) != 0) {
        conf_set(r, CONF_FAIL,
                 "compat_key is empty or differs between two contexts with the "
                 "same options ('%s', '%s')",
                 k1, k2);
        return;
    }
    /* a small buffer: an error, or a NUL-terminated prefix */
    {
        conf_be be;
        char small[8];
        memset(small, 'x', sizeof(small));
        if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) == PLMM_OK) {
            conf_step("compat_key into 8 bytes");
            plmm_status st = be.vt->compat_key(be.ctx, small, sizeof(small));
            conf_be_close(&be);
            if (st == PLMM_OK && memchr(small, 0, sizeof(small)) == NULL) {
                conf_set(r, CONF_FAIL,
                         "compat_key overflowed or did not terminate an 8-byte "
                         "buffer");
                return;
            }
        }
    }
    uint32_t changed = 0;
    for (uint32_t i = 0; i < env->desc->n_options; i++) {
        /* another value than the one in effect (the default or --set) */
        plmm_option_schema s_now = env->desc->options[i];
        const plmm_option_schema *s = &s_now;
        char prefix[200];
        snprintf(prefix, sizeof(prefix), "backend.%s.%s=", env->name, s->key);
        for (uint32_t k = 0; k < env->opt.n_sets; k++)
            if (strncmp(env->opt.sets[k], prefix, strlen(prefix)) == 0)
                s_now.default_value = env->opt.sets[k] + strlen(prefix);
        const char *v = other_value(s, buf, sizeof(buf));
        if (v == NULL)
            continue;
        snprintf(assign, sizeof(assign), "backend.%s.%s=%s", env->name, s->key, v);
        conf_step("compat_key with %s", assign);
        if (key_of(env, assign, k3, sizeof(k3), why, sizeof(why)) != PLMM_OK)
            continue; /* a value this machine cannot use */
        changed++;
        if (strcmp(k1, k3) == 0) {
            conf_set(r, CONF_FAIL, "compat_key '%s' does not change with %s", k1, assign);
            return;
        }
    }
    conf_set(r, CONF_PASS, "key '%s'; changes with %u option change(s)", k1, changed);
}

static void case_buckets(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    npu_run n1, n8;
    float *o1 = NULL, *o8 = NULL;
    bool ok1 =
        npu_prepare(env, &n1, 1, r) && load_execute(env, &n1, n1.blob, n1.blob_size, 31, &o1, r);
    if (!ok1) {
        conf_note(r, "bucket 1");
        npu_finish(&n1);
        free(o1);
        return;
    }
    bool ok8 =
        npu_prepare(env, &n8, 8, r) && load_execute(env, &n8, n8.blob, n8.blob_size, 31, &o8, r);
    if (!ok8) {
        conf_note(r, "bucket 8");
    } else {
        /* the bucket-8 blob does not fit the bucket-1 partition */
        plmm_compiled *cp = NULL;
        conf_step("blob_load of a bucket-8 blob for bucket 1");
        plmm_status st = n1.be.vt->blob_load(n1.be.ctx, &n1.part, n8.blob, n8.blob_size, &cp);
        if (st == PLMM_OK) {
            n1.be.vt->compiled_free(n1.be.ctx, cp);
            conf_set(r, CONF_FAIL, "blob_load accepted a bucket-8 blob for a bucket-1 partition");
        } else {
            conf_set(r, CONF_PASS,
                     "buckets 1 and 8 compiled and executed; a blob of another "
                     "bucket is refused (%s)",
                     plmm_status_str(st));
        }
    }
    free(o1);
    free(o8);
    npu_finish(&n1);
    npu_finish(&n8);
}

static void case_not_npu(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)env;
    (void)c;
    conf_set(r, CONF_SKIP, "the backend does not declare PLMM_CONTRACT_PARTITION");
}

void conf_npu_cases(const conf_env *env, conf_case_list *l)
{
    if (env->desc == NULL || !(env->desc->contracts & PLMM_CONTRACT_PARTITION)) {
        conf_case_add(l, "npu", "npu.partition", case_not_npu);
        return;
    }
    static const struct {
        const char *name;
        conf_case_fn fn;
    } cases[] = {
        {"npu.execute", case_execute},
        {"npu.blob", case_blob},
        {"npu.compat_key", case_compat_key},
        {"npu.buckets", case_buckets},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        conf_case *c = conf_case_add(l, "npu", cases[i].name, cases[i].fn);
        if (c != NULL)
            snprintf(c->shape, sizeof(c->shape), "ffn E%d F%d", E, F);
    }
}
