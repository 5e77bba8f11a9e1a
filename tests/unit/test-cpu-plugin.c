/*
 * The CPU backend as the engine sees it: dlopen the built plugin from
 * $PLMM_PLUGIN_PATH, check the descriptor, initialise with options, use
 * buffers, run small graphs and check the error statuses of bad input.
 */
#include "cpu_detect.h"
#include "plmm/backend.h"
#include "plmm_sdk.h"
#include "test.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a minimal host ---- */

static char last_error[512];
static int n_logs;

static void h_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
    n_logs++;
}

static void h_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(last_error, sizeof(last_error), "%s", msg);
}

static void *h_alloc(void *ctx, size_t size, size_t align)
{
    void *p = NULL;
    (void)ctx;
    if (align < sizeof(void *))
        align = sizeof(void *);
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void h_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static uint64_t h_now(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static plmm_host_api host;

static void host_init(void)
{
    host = (plmm_host_api){.struct_size = sizeof(plmm_host_api),
                           .abi_version = PLMM_ABI_VERSION(1, 0),
                           .log = h_log,
                           .set_error = h_set_error,
                           .alloc = h_alloc,
                           .free = h_free,
                           .now_ns = h_now,
                           .cpu_features = cpu_detect_features(),
                           .n_cpus = cpu_detect_count()};
}

static void *open_plugin(void)
{
    const char *path = getenv("PLMM_PLUGIN_PATH");
    if (path == NULL)
        return NULL;
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", path);
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        char file[4200];
        snprintf(file, sizeof(file), "%s/plmm-cpu.so", d);
        void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
        if (h != NULL)
            return h;
    }
    return NULL;
}

static const plmm_op_caps *find_caps(const plmm_backend_desc *d, uint32_t op)
{
    for (uint32_t i = 0; i < d->n_caps; i++)
        if (d->caps[i].op == op)
            return &d->caps[i];
    return NULL;
}

static void test_descriptor(void *lib, const plmm_backend_desc *d)
{
    CHECK(d->struct_size == sizeof(plmm_backend_desc));
    CHECK(d->abi_major == PLMM_BACKEND_ABI_MAJOR && d->abi_minor == PLMM_BACKEND_ABI_MINOR);
    CHECK(d->kind == PLMM_PLUGIN_BACKEND);
    CHECK(d->device_type == PLMM_DEVICE_CPU);
    CHECK(d->name != NULL && strcmp(d->name, "cpu") == 0);
    CHECK(d->version != NULL && d->description != NULL);
    CHECK(d->contracts == PLMM_CONTRACT_GRAPH);
    CHECK(d->n_options == 2);
    CHECK(strcmp(d->options[0].key, "threads") == 0 && d->options[0].type == PLMM_OPT_INT);
    CHECK(strcmp(d->options[0].default_value, "0") == 0 && d->options[0].min == 0 &&
          d->options[0].max == 256);
    CHECK(strcmp(d->options[1].key, "simd") == 0 && d->options[1].type == PLMM_OPT_ENUM);
    CHECK(strcmp(d->options[1].default_value, "auto") == 0);
    CHECK(strcmp(d->options[1].choices, "auto|scalar|avx2|avx512|neon") == 0);
    const uint64_t weights = PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |
                             PLMM_DTYPE_BIT(PLMM_DTYPE_BF16) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0) |
                             PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_K) |
                             PLMM_DTYPE_BIT(PLMM_DTYPE_Q6_K);
    for (uint32_t op = PLMM_OP_GET_ROWS; op < PLMM_OP_COUNT; op++)
        CHECK_MSG(find_caps(d, op) != NULL, "no caps for %s", plmm_op_name(op));
    CHECK(find_caps(d, PLMM_OP_MUL_MAT)->dtypes == weights);
    CHECK(find_caps(d, PLMM_OP_GET_ROWS)->dtypes == weights);
    CHECK(find_caps(d, PLMM_OP_ATTENTION)->dtypes ==
          (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16)));
    CHECK(find_caps(d, PLMM_OP_RMS_NORM)->dtypes == PLMM_DTYPE_BIT(PLMM_DTYPE_F32));
    CHECK(d->score != NULL && d->score(&host) >= 1);
    const plmm_backend_vtbl *v = d->vtbl;
    CHECK(v != NULL && v->struct_size == sizeof(plmm_backend_vtbl));
    CHECK(PLMM_ABI_MAJOR(v->abi_version) == 1);
    CHECK(v->init && v->shutdown && v->device_count && v->device_props && v->buffer_reqs &&
          v->buffer_alloc && v->buffer_free && v->buffer_map && v->buffer_write && v->buffer_read &&
          v->synchronize && v->graph_compute);
    CHECK(plmm_backend_has(v, buffer_import_host) && plmm_backend_has(v, supports_node));
    CHECK(!plmm_backend_has(v, partition_claim) && !plmm_backend_has(v, partition_compile) &&
          !plmm_backend_has(v, blob_load) && !plmm_backend_has(v, compiled_execute));
    /* nothing but the entry point is exported */
    CHECK(dlsym(lib, "cpu_kern_init") == NULL);
    CHECK(dlsym(lib, "cpu_runner_run") == NULL);
}

static plmm_option_value opt_int(const char *key, int64_t v)
{
    plmm_option_value o = {.key = key, .type = PLMM_OPT_INT};
    o.v.i = v;
    return o;
}

static plmm_option_value opt_enum(const char *key, const char *v)
{
    plmm_option_value o = {.key = key, .type = PLMM_OPT_ENUM};
    o.v.s = v;
    return o;
}

static void test_init_errors(const plmm_backend_vtbl *v)
{
    plmm_backend_ctx *ctx = NULL;
    plmm_option_value o[2];
#if defined(__x86_64__) || defined(__i386__)
    const bool x86 = true;
#else
    const bool x86 = false;
#endif
    const bool has512 = (host.cpu_features & PLMM_CPU_AVX512F) != 0;
    /* an instruction set this CPU or this build lacks */
    o[0] = opt_enum("simd", x86 && !has512 ? "avx512" : x86 ? "neon" : "avx2");
    last_error[0] = '\0';
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_UNSUPPORTED && ctx == NULL);
    const char *e = last_error;
    CHECK_CONTAINS(e, o[0].v.s);
    /* scalar always works; unknown choice, unknown key, bad thread count fail */
    o[0] = opt_enum("simd", "sse9");
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(e, "sse9");
    o[0] = opt_int("threads", 300);
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_CONFIG);
    o[0] = opt_int("threads", -1);
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_CONFIG);
    o[0] = opt_int("fast", 1);
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(e, "fast");
    o[0] = opt_enum("threads", "two");
    CHECK(v->init(&host, o, 1, &ctx) == PLMM_ERR_CONFIG);
    CHECK(v->init(NULL, NULL, 0, &ctx) == PLMM_ERR_INVALID_ARG);
    CHECK(v->init(&host, NULL, 0, NULL) == PLMM_ERR_INVALID_ARG);
    /* defaults (no options) and scalar with 1 thread */
    CHECK(v->init(&host, NULL, 0, &ctx) == PLMM_OK && ctx != NULL);
    v->shutdown(ctx);
    o[0] = opt_enum("simd", "scalar");
    o[1] = opt_int("threads", 1);
    ctx = NULL;
    CHECK(v->init(&host, o, 2, &ctx) == PLMM_OK && ctx != NULL);
    v->shutdown(ctx);
    v->shutdown(NULL);
}

static void test_device(const plmm_backend_vtbl *v, plmm_backend_ctx *ctx)
{
    uint32_t n = 0;
    CHECK(v->device_count(ctx, &n) == PLMM_OK && n == 1);
    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    CHECK(v->device_props(ctx, 0, &p) == PLMM_OK);
    CHECK(p.type == PLMM_DEVICE_CPU && p.name[0] != '\0' && p.driver[0] != '\0');
    CHECK(p.memory_total > 0 && p.compute_units == 2);
    CHECK(p.flags & PLMM_DEVICE_UNIFIED_MEMORY);
    printf("device: %s, %s, %llu MiB\n", p.name, p.driver,
           (unsigned long long)(p.memory_total >> 20));
    CHECK(v->device_props(ctx, 1, &p) == PLMM_ERR_RANGE);
    /* an older, shorter struct: fields past its size stay untouched */
    memset(&p, 0x5a, sizeof(p));
    p.struct_size = (uint32_t)offsetof(plmm_device_props, memory_total);
    CHECK(v->device_props(ctx, 0, &p) == PLMM_OK);
    CHECK(p.type == PLMM_DEVICE_CPU && p.memory_total == 0x5a5a5a5a5a5a5a5aull);
    plmm_buffer_reqs r = {.struct_size = sizeof(r)};
    CHECK(v->buffer_reqs(ctx, PLMM_BUFFER_WEIGHTS, &r) == PLMM_OK);
    CHECK((r.flags & PLMM_BUFREQ_HOST_VISIBLE) && (r.flags & PLMM_BUFREQ_IMPORT_HOST));
    CHECK(r.alignment >= 16 && (r.alignment & (r.alignment - 1)) == 0);
}

static void test_buffers(const plmm_backend_vtbl *v, plmm_backend_ctx *ctx)
{
    plmm_buffer *b = NULL;
    CHECK(v->buffer_alloc(ctx, 0, PLMM_BUFFER_ACTIVATIONS, &b) == PLMM_ERR_INVALID_ARG);
    CHECK(v->buffer_alloc(ctx, 1000, 0x100, &b) == PLMM_ERR_INVALID_ARG);
    CHECK(v->buffer_alloc(ctx, UINT64_MAX, PLMM_BUFFER_ACTIVATIONS, &b) == PLMM_ERR_NOMEM);
    CHECK(v->buffer_alloc(ctx, 1000, PLMM_BUFFER_ACTIVATIONS, &b) == PLMM_OK && b != NULL);
    void *p = NULL;
    CHECK(v->buffer_map(ctx, b, &p) == PLMM_OK && p != NULL && (uintptr_t)p % 64 == 0);
    char src[100], dst[100];
    for (int i = 0; i < 100; i++)
        src[i] = (char)(i * 3);
    CHECK(v->buffer_write(ctx, b, 900, src, 100, 0) == PLMM_OK);
    CHECK(memcmp((char *)p + 900, src, 100) == 0);
    CHECK(v->buffer_read(ctx, b, 900, dst, 100, PLMM_COPY_ASYNC) == PLMM_OK);
    CHECK(v->synchronize(ctx) == PLMM_OK);
    CHECK(memcmp(dst, src, 100) == 0);
    CHECK(v->buffer_write(ctx, b, 901, src, 100, 0) == PLMM_ERR_RANGE);
    CHECK(v->buffer_read(ctx, b, UINT64_MAX, dst, 2, 0) == PLMM_ERR_RANGE);
    CHECK(v->buffer_read(ctx, b, 0, NULL, 2, 0) == PLMM_ERR_INVALID_ARG);
    CHECK(v->buffer_write(ctx, b, 0, src, 2, 0x80) == PLMM_ERR_INVALID_ARG);
    CHECK(v->buffer_write(ctx, b, 1000, src, 0, 0) == PLMM_OK);
    v->buffer_free(ctx, b);
    v->buffer_free(ctx, NULL);
    /* imported host memory: mapped in place, never written */
    static const float table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(v->buffer_import_host(ctx, table, sizeof(table), PLMM_BUFFER_WEIGHTS, &b) == PLMM_OK);
    CHECK(v->buffer_map(ctx, b, &p) == PLMM_OK && p == (const void *)table);
    CHECK(v->buffer_write(ctx, b, 0, src, 4, 0) == PLMM_ERR_UNSUPPORTED);
    CHECK(v->buffer_read(ctx, b, 4, dst, 4, 0) == PLMM_OK && memcmp(dst, &table[1], 4) == 0);
    CHECK(v->buffer_import_host(ctx, NULL, 8, PLMM_BUFFER_WEIGHTS, &b) == PLMM_ERR_INVALID_ARG);
    /* b stays alive: shutdown must release it */
}

static plmm_tensor tensor_in(uint32_t dtype, int64_t ne0, int64_t ne1, plmm_buffer *buf,
                             uint64_t offset, void *data)
{
    plmm_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
    plmm_tensor_set_dense_strides(&t);
    t.buffer = buf;
    t.offset = offset;
    t.data = data;
    return t;
}

static void test_graph(const plmm_backend_vtbl *v, plmm_backend_ctx *ctx)
{
    /* Y = W X + bias, then silu: W (K=64, N=5) F32 in imported host memory,
     * X (64, 3) and Y (5, 3) in a backend buffer, bias (5) plain host memory */
    enum { K = 64, N = 5, M = 3 };
    static float w[N * K];
    float x[M * K], bias[N], y[M * N], want[M * N];
    for (int i = 0; i < N * K; i++)
        w[i] = (float)((i * 37) % 11 - 5) * 0.125f;
    for (int i = 0; i < M * K; i++)
        x[i] = (float)((i * 13) % 7 - 3) * 0.25f;
    for (int i = 0; i < N; i++)
        bias[i] = (float)i - 2.0f;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias[n];
            for (int k = 0; k < K; k++)
                s += (double)w[n * K + k] * x[m * K + k];
            want[m * N + n] = (float)(s / (1.0 + exp(-s)));
        }
    plmm_buffer *wb = NULL, *ab = NULL;
    CHECK(v->buffer_import_host(ctx, w, sizeof(w), PLMM_BUFFER_WEIGHTS, &wb) == PLMM_OK);
    CHECK(v->buffer_alloc(ctx, 4096, PLMM_BUFFER_ACTIVATIONS, &ab) == PLMM_OK);
    CHECK(v->buffer_write(ctx, ab, 0, x, sizeof(x), 0) == PLMM_OK);
    plmm_tensor tw = tensor_in(PLMM_DTYPE_F32, K, N, wb, 0, NULL);
    plmm_tensor tx = tensor_in(PLMM_DTYPE_F32, K, M, ab, 0, NULL);
    plmm_tensor ty = tensor_in(PLMM_DTYPE_F32, N, M, ab, 1024, NULL);
    plmm_tensor tb = tensor_in(PLMM_DTYPE_F32, N, 1, NULL, 0, bias);
    plmm_node nodes[3] = {
        {.op = PLMM_OP_MUL_MAT, .dst = &ty, .src = {&tw, &tx}},
        {.op = PLMM_OP_ADD, .dst = &ty, .src = {&ty, &tb}},
        {.op = PLMM_OP_SILU, .dst = &ty, .src = {&ty}},
    };
    plmm_graph g = {.struct_size = sizeof(g), .n_nodes = 3, .nodes = nodes};
    last_error[0] = '\0';
    CHECK_MSG(v->graph_compute(ctx, &g) == PLMM_OK, "%s", last_error);
    CHECK(v->synchronize(ctx) == PLMM_OK);
    CHECK(v->buffer_read(ctx, ab, 1024, y, sizeof(y), 0) == PLMM_OK);
    double err = 0.0;
    for (int i = 0; i < M * N; i++)
        err = fmax(err, fabs((double)y[i] - want[i]));
    CHECK_MSG(err < 1e-4, "graph result off by %g", err);
    CHECK(v->supports_node(ctx, &nodes[0]));
    g.n_nodes = 0;
    CHECK(v->graph_compute(ctx, &g) == PLMM_OK);

    /* ---- bad nodes: status and a message naming the node ---- */
    const char *e = last_error;
    plmm_node bad = nodes[0];
    g.nodes = &bad;
    g.n_nodes = 1;
    bad.dst = NULL;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(e, "node 0 (MUL_MAT)");
    CHECK_CONTAINS(e, "dst");
    CHECK(!v->supports_node(ctx, &bad));
    bad = nodes[0];
    plmm_tensor tx_bad = tx;
    tx_bad.ne[0] = K - 1; /* mismatched inner dimension */
    bad.src[1] = &tx_bad;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(e, "ne[0]");
    bad = nodes[0];
    plmm_tensor tw_bad = tw;
    tw_bad.dtype = 99; /* unknown dtype */
    bad.src[0] = &tw_bad;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(e, "unknown dtype");
    tw_bad.dtype = PLMM_DTYPE_Q5_0; /* known, not supported */
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_UNSUPPORTED);
    bad = nodes[0];
    bad.op = 77;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_UNSUPPORTED);
    bad = nodes[1];
    plmm_tensor tb_bad = tb;
    tb_bad.ne[0] = 3; /* does not broadcast */
    bad.src[1] = &tb_bad;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    bad = nodes[0];
    plmm_tensor ty_over = ty;
    ty_over.offset = 4096 - 8; /* runs past the end of its buffer */
    bad.dst = &ty_over;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_RANGE);
    CHECK_CONTAINS(e, "overruns");
    plmm_tensor ty_ro = ty;
    ty_ro.buffer = wb; /* writing into imported (read-only) memory */
    ty_ro.offset = 0;
    bad.dst = &ty_ro;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    plmm_tensor ty_none = ty;
    ty_none.buffer = NULL; /* neither buffer nor data */
    bad.dst = &ty_none;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    /* GET_ROWS with an id past the table: a range error at run time */
    int32_t ids[2] = {1, N};
    plmm_tensor tid = tensor_in(PLMM_DTYPE_I32, 2, 1, NULL, 0, ids);
    plmm_tensor trows = tensor_in(PLMM_DTYPE_F32, K, 2, ab, 2048, NULL);
    bad = (plmm_node){.op = PLMM_OP_GET_ROWS, .dst = &trows, .src = {&tw, &tid}};
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_RANGE);
    CHECK_CONTAINS(e, "GET_ROWS");
    ids[1] = 2;
    CHECK(v->graph_compute(ctx, &g) == PLMM_OK);
    CHECK(v->graph_compute(ctx, NULL) == PLMM_ERR_INVALID_ARG);
    g.nodes = NULL;
    CHECK(v->graph_compute(ctx, &g) == PLMM_ERR_INVALID_ARG);
    v->buffer_free(ctx, wb);
    v->buffer_free(ctx, ab);
}

int main(void)
{
    host_init();
    void *lib = open_plugin();
    if (lib == NULL)
        TEST_SKIP("plmm-cpu.so not found in PLMM_PLUGIN_PATH");
    plmm_plugin_entry_fn entry =
        (plmm_plugin_entry_fn)(uintptr_t)dlsym(lib, PLMM_PLUGIN_ENTRY_SYMBOL);
    CHECK(entry != NULL);
    if (entry == NULL)
        return test_summary("cpu-plugin");
    const plmm_backend_desc *d = entry();
    test_descriptor(lib, d);
    const plmm_backend_vtbl *v = d->vtbl;
    test_init_errors(v);
    plmm_option_value o[2] = {opt_int("threads", 2), opt_enum("simd", "auto")};
    plmm_backend_ctx *ctx = NULL;
    CHECK(v->init(&host, o, 2, &ctx) == PLMM_OK && ctx != NULL);
    if (ctx != NULL) {
        CHECK(n_logs > 0);
        test_device(v, ctx);
        test_buffers(v, ctx);
        test_graph(v, ctx);
        v->shutdown(ctx);
    }
    /* the scalar reference path runs the same graph */
    o[1] = opt_enum("simd", "scalar");
    ctx = NULL;
    CHECK(v->init(&host, o, 2, &ctx) == PLMM_OK);
    if (ctx != NULL) {
        test_graph(v, ctx);
        v->shutdown(ctx);
    }
    dlclose(lib);
    return test_summary("cpu-plugin");
}
