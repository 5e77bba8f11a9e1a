/*
 * Buffers, asynchronous copies, imported host memory, two contexts at once
 * and data-dependent errors: the abi cases that move data through a
 * backend.
 */
#include "conformance.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- node builders shared by the abi cases ---- */

static bool make_add(conf_node *n, int64_t ne0, int64_t ne1)
{
    memset(n, 0, sizeof(*n));
    n->op = PLMM_OP_ADD;
    n->used[0] = n->used[1] = n->used[2] = true;
    n->bucket = (uint32_t)ne1;
    return conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, ne0, ne1, 1, 1) &&
           conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, ne0, ne1, 1, 1) &&
           conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, ne0, ne1, 1, 1);
}

static bool make_rms_norm(conf_node *n, int64_t ne0, int64_t ne1)
{
    memset(n, 0, sizeof(*n));
    n->op = PLMM_OP_RMS_NORM;
    n->fp[0] = 1e-5f;
    n->used[0] = n->used[1] = n->used[2] = true;
    n->bucket = (uint32_t)ne1;
    return conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, ne0, ne1, 1, 1) &&
           conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, ne0, ne1, 1, 1) &&
           conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_WEIGHT, ne0, 1, 1, 1);
}

static bool make_mul_mat(conf_node *n, uint32_t wdt, int64_t k, int64_t rows, int64_t m)
{
    memset(n, 0, sizeof(*n));
    n->op = PLMM_OP_MUL_MAT;
    n->used[0] = n->used[1] = n->used[2] = true;
    n->bucket = (uint32_t)m;
    return conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, rows, m, 1, 1) &&
           conf_operand_dense(&n->t[1], wdt, CT_WEIGHT, k, rows, 1, 1) &&
           conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, k, m, 1, 1);
}

/* Build a node of the first declared kind in a preference list; false if none. */
static bool make_declared(const plmm_backend_desc *d, int which, conf_node *n, uint32_t *dtype)
{
    static const uint32_t mm_dtypes[] = {PLMM_DTYPE_Q8_0, PLMM_DTYPE_F16,  PLMM_DTYPE_F32,
                                         PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K, PLMM_DTYPE_Q6_K};
    if (which == 0) {
        for (size_t i = 0; i < sizeof(mm_dtypes) / sizeof(mm_dtypes[0]); i++)
            if (conf_declares(d, PLMM_OP_MUL_MAT, mm_dtypes[i])) {
                *dtype = mm_dtypes[i];
                return make_mul_mat(n, mm_dtypes[i], 512, 48, 3);
            }
    }
    *dtype = PLMM_DTYPE_F32;
    if (conf_declares(d, PLMM_OP_RMS_NORM, PLMM_DTYPE_F32))
        return make_rms_norm(n, 300, 4);
    if (conf_declares(d, PLMM_OP_ADD, PLMM_DTYPE_F32))
        return make_add(n, 300, 4);
    return false;
}

/* ---- abi.two_contexts ---- */

typedef struct ctx_job {
    conf_be *be;
    const conf_node *node;
    const float *ref;
    int64_t n;
    conf_tol tol;
    int rounds;
    conf_result r;
} ctx_job;

static void *ctx_worker(void *arg)
{
    ctx_job *j = arg;
    char why[512];
    conf_result_init(&j->r);
    j->r.status = CONF_PASS;
    for (int i = 0; i < j->rounds; i++) {
        float *out = NULL;
        int64_t n = 0;
        plmm_status st = conf_node_run(j->be, j->node, true, &out, &n, why, sizeof(why));
        if (st != PLMM_OK) {
            conf_set(&j->r, CONF_FAIL, "%s", why);
            return NULL;
        }
        conf_compare(j->ref, out, n, &j->tol, &j->r);
        free(out);
        if (j->r.status != CONF_PASS)
            return NULL;
    }
    return NULL;
}

static plmm_status reference(const conf_env *env, const conf_node *node, float **out, int64_t *n,
                             char *why, size_t why_size)
{
    conf_be o;
    plmm_status st = conf_be_open(env->oreg, "cpu", &o, why, why_size);
    if (st != PLMM_OK)
        return st;
    st = conf_node_run(&o, node, false, out, n, why, why_size);
    conf_be_close(&o);
    return st;
}

void conf_case_two_contexts(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    conf_node na, nb;
    uint32_t dta = 0, dtb = 0;
    conf_rng g;
    char why[512];
    float *ra = NULL, *rb = NULL;
    int64_t na_n = 0, nb_n = 0;
    memset(&na, 0, sizeof(na));
    memset(&nb, 0, sizeof(nb));
    if (!make_declared(env->desc, 0, &na, &dta) || !make_declared(env->desc, 1, &nb, &dtb)) {
        conf_set(r, CONF_SKIP, "the backend declares none of MUL_MAT, RMS_NORM, ADD");
        goto out_nodes;
    }
    conf_rng_seed(&g, conf_hash("two_contexts") ^ env->opt.seed);
    conf_node_randomize(&na, &g, 1.0f);
    conf_node_randomize(&nb, &g, 1.0f);
    conf_step("reference results");
    if (reference(env, &na, &ra, &na_n, why, sizeof(why)) != PLMM_OK ||
        reference(env, &nb, &rb, &nb_n, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "reference: %s", why);
        goto out_nodes;
    }
    conf_be a, b;
    conf_step("open two contexts");
    if (conf_be_open(env->treg, env->name, &a, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "first context: %s", why);
        goto out_nodes;
    }
    if (conf_be_open(env->treg, env->name, &b, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "second context: %s", why);
        conf_be_close(&a);
        goto out_nodes;
    }
    ctx_job ja = {.be = &a, .node = &na, .ref = ra, .n = na_n, .rounds = 8};
    ctx_job jb = {.be = &b, .node = &nb, .ref = rb, .n = nb_n, .rounds = 8};
    conf_tolerance(env->desc, na.op, dta, &ja.tol);
    conf_tolerance(env->desc, nb.op, dtb, &jb.tol);
    pthread_t ta, tb;
    conf_step("compute on both contexts at once");
    bool threads = pthread_create(&ta, NULL, ctx_worker, &ja) == 0;
    if (threads && pthread_create(&tb, NULL, ctx_worker, &jb) != 0) {
        pthread_join(ta, NULL);
        threads = false;
    }
    if (!threads) {
        ctx_worker(&ja);
        ctx_worker(&jb);
    } else {
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
    }
    if (ja.r.status != CONF_PASS) {
        conf_set(r, CONF_FAIL, "context 1 (%s): %s", plmm_op_name(na.op), ja.r.reason);
    } else if (jb.r.status != CONF_PASS) {
        conf_set(r, CONF_FAIL, "context 2 (%s): %s", plmm_op_name(nb.op), jb.r.reason);
    } else {
        /* the second context keeps working after the first is shut down */
        conf_step("shut down context 1, compute on context 2");
        conf_be_close(&a);
        jb.rounds = 1;
        ctx_worker(&jb);
        if (jb.r.status != CONF_PASS)
            conf_set(r, CONF_FAIL, "context 2 after shutting down context 1: %s", jb.r.reason);
        else
            conf_set(r, CONF_PASS, "%s and %s concurrently on two contexts, 8 rounds each",
                     plmm_op_name(na.op), plmm_op_name(nb.op));
    }
    conf_be_close(&a);
    conf_be_close(&b);
out_nodes:
    free(ra);
    free(rb);
    conf_node_free(&na);
    conf_node_free(&nb);
}

/* ---- abi.buffers ---- */

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 131u + (i >> 8));
}

void conf_case_buffers(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    static const uint32_t usages[] = {PLMM_BUFFER_WEIGHTS, PLMM_BUFFER_ACTIVATIONS,
                                      PLMM_BUFFER_STATE};
    static const uint64_t sizes[] = {1, 3, 64, 4097, (1u << 20) + 7};
    conf_be be;
    char why[512];
    enum { N = 8192 };
    uint8_t *model = malloc(N), *got = malloc(N), *tmp = malloc(N);
    plmm_buffer *b = NULL, *b2 = NULL;
    uint32_t n_allocs = 0;
    if (model == NULL || got == NULL || tmp == NULL ||
        conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", model ? why : "out of memory");
        free(model);
        free(got);
        free(tmp);
        return;
    }
    const plmm_backend_vtbl *vt = be.vt;
    plmm_status st;
    for (size_t u = 0; u < sizeof(usages) / sizeof(usages[0]); u++) {
        plmm_buffer_reqs rq = {.struct_size = sizeof(rq)};
        conf_step("buffer_reqs(usage 0x%x)", usages[u]);
        if ((st = vt->buffer_reqs(be.ctx, usages[u], &rq)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "buffer_reqs(0x%x): %s", usages[u], conf_be_errmsg(&be, st));
            goto out;
        }
        if (rq.alignment == 0 || (rq.alignment & (rq.alignment - 1)) != 0) {
            conf_set(r, CONF_FAIL, "buffer_reqs(0x%x): alignment %llu is not a power of two",
                     usages[u], (unsigned long long)rq.alignment);
            goto out;
        }
        if (rq.max_size > 0 && rq.max_size < UINT64_MAX) {
            plmm_buffer *big = NULL;
            conf_step("buffer_alloc(max_size + 1)");
            if (vt->buffer_alloc(be.ctx, rq.max_size + 1, usages[u], &big) == PLMM_OK) {
                vt->buffer_free(be.ctx, big);
                conf_set(r, CONF_FAIL, "buffer_alloc accepts max_size + 1 = %llu bytes",
                         (unsigned long long)(rq.max_size + 1));
                goto out;
            }
            conf_be_clear_error(&be);
        }
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            uint32_t usage = usages[u];
            if ((rq.flags & PLMM_BUFREQ_HOST_VISIBLE) && s % 2 == 1)
                usage |= PLMM_BUFFER_HOST_VISIBLE;
            conf_step("buffer_alloc(%llu, usage 0x%x)", (unsigned long long)sizes[s], usage);
            if ((st = vt->buffer_alloc(be.ctx, sizes[s], usage, &b)) != PLMM_OK || b == NULL) {
                conf_set(r, CONF_FAIL, "buffer_alloc(%llu, 0x%x): %s", (unsigned long long)sizes[s],
                         usage, st ? conf_be_errmsg(&be, st) : "no buffer");
                b = NULL;
                goto out;
            }
            n_allocs++;
            void *p = NULL;
            st = vt->buffer_map(be.ctx, b, &p);
            if ((usage & PLMM_BUFFER_HOST_VISIBLE) && (st != PLMM_OK || p == NULL)) {
                conf_set(r, CONF_FAIL, "a HOST_VISIBLE buffer cannot be mapped: %s",
                         conf_be_errmsg(&be, st));
                goto out;
            }
            if (st == PLMM_OK && p != NULL && (uintptr_t)p % rq.alignment != 0) {
                conf_set(r, CONF_FAIL, "mapped buffer at %p is not aligned to %llu", p,
                         (unsigned long long)rq.alignment);
                goto out;
            }
            conf_be_clear_error(&be);
            size_t len = sizes[s] < N ? (size_t)sizes[s] : N;
            pattern(model, len, (unsigned)s);
            conf_step("write/read %zu bytes", len);
            if ((st = vt->buffer_write(be.ctx, b, 0, model, len, 0)) != PLMM_OK ||
                (st = vt->buffer_read(be.ctx, b, 0, got, len, 0)) != PLMM_OK) {
                conf_set(r, CONF_FAIL, "round trip of %zu bytes: %s", len, conf_be_errmsg(&be, st));
                goto out;
            }
            if (memcmp(model, got, len) != 0) {
                conf_set(r, CONF_FAIL, "round trip of %zu bytes returned other data", len);
                goto out;
            }
            if (p != NULL && memcmp(p, model, len) != 0) {
                conf_set(r, CONF_FAIL, "the mapped memory differs from what buffer_write wrote");
                goto out;
            }
            vt->buffer_free(be.ctx, b);
            b = NULL;
        }
    }
    /* writes and reads at odd offsets and sizes against a host model */
    static const struct {
        uint64_t off, len;
    } pieces[] = {{1, 1}, {3, 7}, {4095, 2}, {1000, 1}, {17, 777}, {4096, 1}, {5, 4091}};
    conf_step("buffer_alloc(4097) twice");
    if ((st = vt->buffer_alloc(be.ctx, 4097, PLMM_BUFFER_ACTIVATIONS, &b)) != PLMM_OK ||
        (st = vt->buffer_alloc(be.ctx, 4097, PLMM_BUFFER_ACTIVATIONS, &b2)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_alloc(4097): %s", conf_be_errmsg(&be, st));
        goto out;
    }
    pattern(model, 4097, 7);
    pattern(tmp, 4097, 99);
    if ((st = vt->buffer_write(be.ctx, b, 0, model, 4097, 0)) != PLMM_OK ||
        (st = vt->buffer_write(be.ctx, b2, 0, tmp, 4097, 0)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_write: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        uint8_t piece[4097];
        pattern(piece, (size_t)pieces[i].len, (unsigned)(i * 17 + 3));
        conf_step("buffer_write at offset %llu", (unsigned long long)pieces[i].off);
        if ((st = vt->buffer_write(be.ctx, b, pieces[i].off, piece, pieces[i].len, 0)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "buffer_write(offset %llu, %llu bytes): %s",
                     (unsigned long long)pieces[i].off, (unsigned long long)pieces[i].len,
                     conf_be_errmsg(&be, st));
            goto out;
        }
        memcpy(model + pieces[i].off, piece, (size_t)pieces[i].len);
        uint64_t roff = pieces[(i + 3) % (sizeof(pieces) / sizeof(pieces[0]))].off;
        uint64_t rlen = 4097 - roff < 333 ? 4097 - roff : 333;
        conf_step("buffer_read at offset %llu", (unsigned long long)roff);
        if ((st = vt->buffer_read(be.ctx, b, roff, got, rlen, 0)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "buffer_read(offset %llu): %s", (unsigned long long)roff,
                     conf_be_errmsg(&be, st));
            goto out;
        }
        if (memcmp(got, model + roff, (size_t)rlen) != 0) {
            conf_set(r, CONF_FAIL,
                     "read at offset %llu after a write at offset %llu returned "
                     "other data",
                     (unsigned long long)roff, (unsigned long long)pieces[i].off);
            goto out;
        }
    }
    if ((st = vt->buffer_read(be.ctx, b, 0, got, 4097, 0)) != PLMM_OK ||
        memcmp(got, model, 4097) != 0 ||
        (st = vt->buffer_read(be.ctx, b2, 0, got, 4097, 0)) != PLMM_OK ||
        memcmp(got, tmp, 4097) != 0) {
        conf_set(r, CONF_FAIL, "after partial writes the buffers hold other data%s",
                 st ? conf_be_errmsg(&be, st) : "");
        goto out;
    }
    conf_set(r, CONF_PASS, "%u allocations, alignment honoured, %zu odd-offset round trips",
             n_allocs, sizeof(pieces) / sizeof(pieces[0]));
out:
    if (b != NULL)
        vt->buffer_free(be.ctx, b);
    if (b2 != NULL)
        vt->buffer_free(be.ctx, b2);
    conf_be_close(&be);
    free(model);
    free(got);
    free(tmp);
}

/* ---- abi.async ---- */

void conf_case_async(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    enum { N = 1024 };
    conf_be be;
    char why[512];
    plmm_buffer *b = NULL;
    float *x = malloc(N * 3 * sizeof(float)), *y = malloc(N * sizeof(float));
    if (x == NULL || y == NULL || conf_be_open(env->treg, env->name, &be, why, sizeof(why))) {
        conf_set(r, CONF_FAIL, "init: %s", x ? why : "out of memory");
        free(x);
        free(y);
        return;
    }
    const plmm_backend_vtbl *vt = be.vt;
    plmm_status st;
    for (int i = 0; i < N; i++) {
        x[i] = (float)i * 0.5f;
        x[N + i] = 1.0f - (float)i;
    }
    uint64_t a = be.align, off_b = (N * 4 + a - 1) / a * a, off_d = (off_b + N * 4 + a - 1) / a * a;
    conf_step("buffer_alloc");
    if ((st = vt->buffer_alloc(be.ctx, off_d + N * 4, PLMM_BUFFER_ACTIVATIONS, &b)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_alloc: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    conf_step("async writes + synchronize + read");
    if ((st = vt->buffer_write(be.ctx, b, 0, x, N * 4, PLMM_COPY_ASYNC)) != PLMM_OK ||
        (st = vt->buffer_write(be.ctx, b, off_b, x + N, N * 4, PLMM_COPY_ASYNC)) != PLMM_OK ||
        (st = vt->synchronize(be.ctx)) != PLMM_OK ||
        (st = vt->buffer_read(be.ctx, b, off_b, y, N * 4, 0)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "async copy: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    if (memcmp(y, x + N, N * 4) != 0) {
        conf_set(r, CONF_FAIL, "after an async write and synchronize the buffer holds other data");
        goto out;
    }
    if (conf_declares(be.desc, PLMM_OP_ADD, PLMM_DTYPE_F32) &&
        (be.desc->contracts & PLMM_CONTRACT_GRAPH)) {
        plmm_tensor ta = {.dtype = PLMM_DTYPE_F32,
                          .ne = {N, 1, 1, 1},
                          .nb = {4, N * 4, N * 4, N * 4},
                          .buffer = b,
                          .offset = 0,
                          .name = "a"};
        plmm_tensor tb = ta, td = ta;
        tb.offset = off_b;
        tb.name = "b";
        td.offset = off_d;
        td.name = "d";
        plmm_node nd = {.op = PLMM_OP_ADD, .dst = &td, .src = {&ta, &tb}};
        plmm_graph g = {.struct_size = sizeof(g), .n_nodes = 1, .nodes = &nd};
        memset(y, 0, N * 4);
        /* queue: async upload, compute, async download; the data is there after synchronize */
        conf_step("async write, compute, async read, synchronize");
        for (int i = 0; i < N; i++)
            x[2 * N + i] = 3.0f + (float)i;
        if ((st = vt->buffer_write(be.ctx, b, 0, x + 2 * N, N * 4, PLMM_COPY_ASYNC)) != PLMM_OK ||
            (st = vt->graph_compute(be.ctx, &g)) != PLMM_OK ||
            (st = vt->buffer_read(be.ctx, b, off_d, y, N * 4, PLMM_COPY_ASYNC)) != PLMM_OK ||
            (st = vt->synchronize(be.ctx)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "async compute: %s", conf_be_errmsg(&be, st));
            goto out;
        }
        for (int i = 0; i < N; i++)
            if (y[i] != x[2 * N + i] + x[N + i]) {
                conf_set(r, CONF_FAIL,
                         "after async write + ADD + async read + synchronize, "
                         "element %d is %g, expected %g",
                         i, (double)y[i], (double)(x[2 * N + i] + x[N + i]));
                goto out;
            }
    }
    conf_set(r, CONF_PASS, "async copies and compute complete at synchronize");
out:
    if (b != NULL)
        vt->buffer_free(be.ctx, b);
    conf_be_close(&be);
    free(x);
    free(y);
}

/* ---- abi.import_host ---- */

void conf_case_import_host(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    enum { K = 256, N = 24, M = 3 };
    conf_be be;
    char why[512];
    const plmm_backend_vtbl *vt = env->desc->vtbl;
    if (!plmm_backend_has(vt, buffer_import_host)) {
        conf_set(r, CONF_SKIP, "buffer_import_host is not implemented (optional)");
        return;
    }
    if (!conf_declares(env->desc, PLMM_OP_MUL_MAT, PLMM_DTYPE_F32) ||
        !(env->desc->contracts & PLMM_CONTRACT_GRAPH)) {
        conf_set(r, CONF_SKIP, "needs MUL_MAT F32 on the graph contract");
        return;
    }
    if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        return;
    }
    conf_node nd;
    conf_rng g;
    float *ref = NULL, *got = NULL, *w = NULL, *copy = NULL;
    int64_t n_ref = 0;
    plmm_buffer *wb = NULL, *xb = NULL;
    if (!make_mul_mat(&nd, PLMM_DTYPE_F32, K, N, M))
        goto out;
    conf_rng_seed(&g, conf_hash("import_host") ^ env->opt.seed);
    conf_node_randomize(&nd, &g, 1.0f);
    if (reference(env, &nd, &ref, &n_ref, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "reference: %s", why);
        goto out;
    }
    const size_t wbytes = (size_t)K * N * 4, xbytes = (size_t)K * M * 4;
    size_t al = be.align < 64 ? 64 : (size_t)be.align;
    if (posix_memalign((void **)&w, al, wbytes) != 0) {
        w = NULL;
        goto out;
    }
    copy = malloc(wbytes);
    got = malloc((size_t)N * M * 4);
    if (copy == NULL || got == NULL)
        goto out;
    memcpy(w, nd.t[1].image, wbytes);
    memcpy(copy, w, wbytes);
    conf_step("buffer_import_host");
    plmm_status st = vt->buffer_import_host(be.ctx, w, wbytes, PLMM_BUFFER_WEIGHTS, &wb);
    if (st == PLMM_ERR_UNSUPPORTED) {
        conf_set(r, CONF_PASS, "buffer_import_host returns PLMM_ERR_UNSUPPORTED");
        goto out;
    }
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_import_host: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    uint64_t off_y = (xbytes + be.align - 1) / be.align * be.align;
    if ((st = vt->buffer_alloc(be.ctx, off_y + (uint64_t)N * M * 4, PLMM_BUFFER_ACTIVATIONS,
                               &xb)) != PLMM_OK ||
        (st = vt->buffer_write(be.ctx, xb, 0, nd.t[2].image, xbytes, 0)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_alloc/write: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    plmm_tensor tw = {.dtype = PLMM_DTYPE_F32,
                      .flags = PLMM_TENSOR_WEIGHT,
                      .ne = {K, N, 1, 1},
                      .nb = {4, K * 4, (uint64_t)K * N * 4, (uint64_t)K * N * 4},
                      .buffer = wb};
    plmm_tensor tx = {.dtype = PLMM_DTYPE_F32,
                      .ne = {K, M, 1, 1},
                      .nb = {4, K * 4, (uint64_t)K * M * 4, (uint64_t)K * M * 4},
                      .buffer = xb};
    plmm_tensor ty = {.dtype = PLMM_DTYPE_F32,
                      .ne = {N, M, 1, 1},
                      .nb = {4, N * 4, (uint64_t)N * M * 4, (uint64_t)N * M * 4},
                      .buffer = xb,
                      .offset = off_y};
    void *p = NULL;
    if (vt->buffer_map(be.ctx, wb, &p) == PLMM_OK)
        tw.data = p;
    conf_be_clear_error(&be);
    plmm_node mm = {.op = PLMM_OP_MUL_MAT, .dst = &ty, .src = {&tw, &tx}};
    plmm_graph gr = {.struct_size = sizeof(gr), .n_nodes = 1, .nodes = &mm};
    conf_step("MUL_MAT with imported weights");
    if ((st = vt->graph_compute(be.ctx, &gr)) != PLMM_OK ||
        (st = vt->synchronize(be.ctx)) != PLMM_OK ||
        (st = vt->buffer_read(be.ctx, xb, off_y, got, (uint64_t)N * M * 4, 0)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "MUL_MAT on imported weights: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    conf_tol tol;
    conf_tolerance(env->desc, PLMM_OP_MUL_MAT, PLMM_DTYPE_F32, &tol);
    conf_compare(ref, got, n_ref, &tol, r);
    if (r->status == CONF_PASS && memcmp(w, copy, wbytes) != 0)
        conf_set(r, CONF_FAIL, "the backend wrote into imported host memory");
    if (r->status == CONF_PASS)
        conf_set(r, CONF_PASS, "MUL_MAT reads imported host memory correctly");
out:
    if (wb != NULL)
        vt->buffer_free(be.ctx, wb);
    if (xb != NULL)
        vt->buffer_free(be.ctx, xb);
    conf_be_close(&be);
    conf_node_free(&nd);
    free(ref);
    free(got);
    free(w);
    free(copy);
}

/* ---- abi.get_rows_range ---- */

void conf_case_get_rows_range(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    if (!conf_declares(env->desc, PLMM_OP_GET_ROWS, PLMM_DTYPE_F32)) {
        conf_set(r, CONF_SKIP, "GET_ROWS F32 is not declared");
        return;
    }
    conf_be be;
    char why[512];
    conf_node nd;
    memset(&nd, 0, sizeof(nd));
    nd.op = PLMM_OP_GET_ROWS;
    nd.used[0] = nd.used[1] = nd.used[2] = true;
    nd.bucket = 2;
    if (!conf_operand_dense(&nd.t[0], PLMM_DTYPE_F32, CT_OUTPUT, 8, 2, 1, 1) ||
        !conf_operand_dense(&nd.t[1], PLMM_DTYPE_F32, CT_WEIGHT, 8, 4, 1, 1) ||
        !conf_operand_dense(&nd.t[2], PLMM_DTYPE_I32, CT_INPUT, 2, 1, 1, 1)) {
        conf_node_free(&nd);
        return;
    }
    int32_t ids[2] = {1, 4}; /* 4 is past the 4 rows */
    memcpy(nd.t[2].image, ids, sizeof(ids));
    if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        conf_node_free(&nd);
        return;
    }
    float *out = NULL;
    int64_t n = 0;
    conf_step("GET_ROWS with an id past the table");
    plmm_status st = conf_node_run(&be, &nd, false, &out, &n, why, sizeof(why));
    if (st == PLMM_OK)
        conf_set(r, CONF_FAIL, "GET_ROWS with id 4 on a table of 4 rows returned PLMM_OK");
    else if (st != PLMM_ERR_RANGE)
        conf_set(r, CONF_PASS, "rejected with %s; the contract says PLMM_ERR_RANGE",
                 plmm_status_str(st));
    else
        conf_set(r, CONF_PASS, "rejected with PLMM_ERR_RANGE");
    free(out);
    conf_be_close(&be);
    conf_node_free(&nd);
}
