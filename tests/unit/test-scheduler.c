/*
 * Scheduler: node assignment in backend order, fallback = strict |
 * observable, the printed plan, and execution across a backend whose
 * buffers the host cannot map (tensors are copied, never handed over as
 * host pointers). The second backend is a fake "GPU" that declares only
 * MUL_MAT and ADD on F32 and runs them through the real CPU plugin on
 * private buffers; results must equal a CPU-only run bit for bit.
 */
#include <stdlib.h>
#include <string.h>

#include "plmm/plmm.h"

#include "forward.h"
#include "model.h"
#include "plmm_sdk.h"
#include "registry.h"
#include "scheduler.h"
#include "test.h"

/* ---- the fake GPU backend ---- */

struct plmm_buffer { /* the fake's buffer wraps a CPU buffer */
    plmm_buffer *inner;
    uint8_t *base;
};

typedef struct fake {
    plmm_backend_inst *cpu;
    const plmm_backend_vtbl *cv;
    plmm_backend_ctx *cc;
    unsigned host_pointer_violations;
    unsigned computes;
} fake;

static fake the_fake; /* test-only: the fake ctx (a plugin would allocate it) */

static plmm_status f_alloc(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage, plmm_buffer **out)
{
    fake *f = (fake *)ctx;
    plmm_buffer *b = calloc(1, sizeof(*b));
    void *p = NULL;
    if (b == NULL)
        return PLMM_ERR_NOMEM;
    plmm_status st = f->cv->buffer_alloc(f->cc, size, usage, &b->inner);
    if (st == PLMM_OK)
        st = f->cv->buffer_map(f->cc, b->inner, &p);
    if (st != PLMM_OK) {
        free(b);
        return st;
    }
    b->base = p;
    *out = b;
    return PLMM_OK;
}

static plmm_status f_import(plmm_backend_ctx *ctx, const void *ptr, uint64_t size, uint32_t usage,
                            plmm_buffer **out)
{
    fake *f = (fake *)ctx;
    plmm_buffer *b = calloc(1, sizeof(*b));
    void *p = NULL;
    if (b == NULL)
        return PLMM_ERR_NOMEM;
    plmm_status st = f->cv->buffer_import_host(f->cc, ptr, size, usage, &b->inner);
    if (st == PLMM_OK)
        st = f->cv->buffer_map(f->cc, b->inner, &p);
    if (st != PLMM_OK) {
        free(b);
        return st;
    }
    b->base = p;
    *out = b;
    return PLMM_OK;
}

static void f_free(plmm_backend_ctx *ctx, plmm_buffer *b)
{
    fake *f = (fake *)ctx;
    if (b == NULL)
        return;
    f->cv->buffer_free(f->cc, b->inner);
    free(b);
}

static plmm_status f_map(plmm_backend_ctx *ctx, plmm_buffer *b, void **out)
{
    (void)ctx;
    (void)b;
    (void)out;
    return PLMM_ERR_UNSUPPORTED; /* device memory: not host visible */
}

static plmm_status f_write(plmm_backend_ctx *ctx, plmm_buffer *b, uint64_t off, const void *src,
                           uint64_t n, uint32_t flags)
{
    fake *f = (fake *)ctx;
    return f->cv->buffer_write(f->cc, b->inner, off, src, n, flags);
}

static plmm_status f_read(plmm_backend_ctx *ctx, plmm_buffer *b, uint64_t off, void *dst,
                          uint64_t n, uint32_t flags)
{
    fake *f = (fake *)ctx;
    return f->cv->buffer_read(f->cc, b->inner, off, dst, n, flags);
}

static plmm_status f_sync(plmm_backend_ctx *ctx)
{
    fake *f = (fake *)ctx;
    return f->cv->synchronize(f->cc);
}

static plmm_status f_count(plmm_backend_ctx *ctx, uint32_t *out)
{
    (void)ctx;
    *out = 1;
    return PLMM_OK;
}

static plmm_status f_props(plmm_backend_ctx *ctx, uint32_t i, plmm_device_props *p)
{
    (void)ctx;
    (void)i;
    p->type = PLMM_DEVICE_GPU;
    snprintf(p->name, sizeof(p->name), "fake gpu");
    return PLMM_OK;
}

static plmm_status f_reqs(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out)
{
    (void)ctx;
    (void)usage;
    out->flags = 0;
    out->alignment = 256;
    out->max_size = 0;
    return PLMM_OK;
}

/* Rewrite each tensor onto the CPU buffer behind the fake one and run it. */
static plmm_status f_compute(plmm_backend_ctx *ctx, const plmm_graph *g)
{
    fake *f = (fake *)ctx;
    plmm_node *nodes = calloc(g->n_nodes, sizeof(*nodes));
    plmm_tensor *ts = calloc((size_t)g->n_nodes * (PLMM_MAX_SRC + 1), sizeof(*ts));
    if (nodes == NULL || ts == NULL) {
        free(nodes);
        free(ts);
        return PLMM_ERR_NOMEM;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < g->n_nodes; i++) {
        nodes[i] = g->nodes[i];
        for (int s = -1; s < PLMM_MAX_SRC; s++) {
            plmm_tensor *t = s < 0 ? g->nodes[i].dst : g->nodes[i].src[s];
            if (t == NULL)
                continue;
            if (t->buffer == NULL) {
                f->host_pointer_violations++;
                continue;
            }
            ts[k] = *t;
            ts[k].buffer = t->buffer->inner;
            ts[k].data = t->buffer->base + t->offset;
            if (s < 0)
                nodes[i].dst = &ts[k];
            else
                nodes[i].src[s] = &ts[k];
            k++;
        }
    }
    plmm_graph sub = {.struct_size = sizeof(sub), .n_nodes = g->n_nodes, .nodes = nodes};
    f->computes++;
    plmm_status st = f->host_pointer_violations ? PLMM_ERR_INVALID_ARG : f->cv->graph_compute(f->cc, &sub);
    free(nodes);
    free(ts);
    return st;
}

static const plmm_backend_vtbl fake_vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(1, 0),
    .device_count = f_count,
    .device_props = f_props,
    .buffer_reqs = f_reqs,
    .buffer_alloc = f_alloc,
    .buffer_free = f_free,
    .buffer_map = f_map,
    .buffer_write = f_write,
    .buffer_read = f_read,
    .buffer_import_host = f_import,
    .synchronize = f_sync,
    .graph_compute = f_compute,
};

static const plmm_op_caps fake_caps[] = {
    {.op = PLMM_OP_MUL_MAT, .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_F32)},
    {.op = PLMM_OP_ADD, .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_F32)},
};

static const plmm_backend_desc fake_desc = {
    .struct_size = sizeof(plmm_backend_desc),
    .abi_major = 1,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_GPU,
    .name = "fakegpu",
    .version = "0",
    .contracts = PLMM_CONTRACT_GRAPH,
    .n_caps = 2,
    .caps = fake_caps,
    .vtbl = &fake_vtbl,
};

static const char *no_err(const void *inst)
{
    (void)inst;
    return "";
}

/* ---- running the model graph ---- */

typedef struct model {
    plmm_gguf *g;
    plmm_hparams hp;
    plmm_model_weights w;
} model;

/* Evaluate the prompt with the given backends; logits of the last token into out. */
static plmm_status run(const model *m, const plmm_sched_backend_ref *refs, uint32_t n,
                       int32_t fallback, bool strict, float *out, char *plan, size_t plan_size)
{
    uint32_t cap_t, cap_n;
    plmm_forward_capacity(&m->hp, &cap_t, &cap_n);
    plmm_graph_builder gb;
    plmm_sched *s = NULL;
    plmm_status st = plmm_graph_builder_init(&gb, cap_t, cap_n);
    if (st != PLMM_OK)
        return st;
    st = plmm_sched_create(refs, n, fallback, strict, m->g, cap_t, cap_n, &s);
    int32_t kvb = s ? plmm_sched_state_backend(s, PLMM_DTYPE_F32) : -1;
    const uint32_t n_ctx = 64, T = 7;
    uint64_t per = plmm_dtype_row_bytes(PLMM_DTYPE_F32, m->hp.head_dim) * m->hp.n_head_kv * n_ctx;
    plmm_buffer *kv = NULL;
    uint8_t *kvdata = NULL;
    plmm_state_slot slots[64];
    if (st == PLMM_OK && kvb >= 0)
        st = plmm_sched_alloc_state(s, (uint32_t)kvb, per * 2 * m->hp.n_layer, &kv, &kvdata);
    for (uint32_t i = 0; st == PLMM_OK && i < 2 * m->hp.n_layer && i < 64; i++)
        slots[i] = (plmm_state_slot){.backend = (uint32_t)kvb, .buffer = kv, .offset = per * i,
                                     .data = kvdata};
    int32_t ids[7] = {1, 403, 407, 261, 378, 10, 42}, pos[7] = {0, 1, 2, 3, 4, 5, 6};
    plmm_forward_io io = {.n_tokens = T, .n_ctx = n_ctx, .kv_dtype = PLMM_DTYPE_F32,
                          .ids = ids, .pos = pos};
    if (st == PLMM_OK)
        st = plmm_forward_build(&gb, m->g, &m->hp, &m->w, &io);
    if (st == PLMM_OK && plan != NULL)
        st = plmm_sched_plan(s, &gb, slots, 2 * m->hp.n_layer, plan, plan_size);
    if (st == PLMM_OK)
        st = plmm_sched_run(s, &gb, slots, 2 * m->hp.n_layer, io.logits, out, m->hp.n_vocab);
    if (kv != NULL)
        plmm_sched_free_state(s, (uint32_t)kvb, kv);
    plmm_sched_destroy(s);
    plmm_graph_builder_free(&gb);
    return st;
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (shared == NULL)
        TEST_SKIP("PLMM_SHARED_DIR not set: the scheduler test runs a real model from ../shared");
    char path[4096];
    snprintf(path, sizeof(path), "%s/models/stories260K-F32.gguf", shared);
    model m;
    CHECK(plmm_gguf_open(path, &m.g) == PLMM_OK);
    CHECK(plmm_hparams_load(m.g, &m.hp) == PLMM_OK);
    CHECK(plmm_weights_load(m.g, &m.hp, &m.w) == PLMM_OK);

    plmm_registry *reg = NULL;
    plmm_registry_opts ro = {0};
    CHECK(plmm_registry_create(&ro, &reg) == PLMM_OK);
    plmm_backend_inst *cpu = NULL;
    plmm_status st = plmm_backend_inst_create(reg, "cpu", &cpu);
    CHECK_MSG(st == PLMM_OK, "cpu backend: %s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return test_summary("scheduler");
    the_fake = (fake){.cpu = cpu, .cv = plmm_backend_inst_vtbl(cpu),
                      .cc = plmm_backend_inst_ctx(cpu)};
    plmm_sched_backend_ref cpu_ref = {.name = "cpu", .desc = plmm_backend_inst_desc(cpu),
                                      .ctx = plmm_backend_inst_ctx(cpu),
                                      .errmsg = plmm_backend_inst_errmsg_cb, .inst = cpu};
    plmm_sched_backend_ref fake_ref = {.name = "fakegpu", .desc = &fake_desc,
                                       .ctx = (plmm_backend_ctx *)&the_fake, .errmsg = no_err};
    const uint32_t V = m.hp.n_vocab;
    float *ref = calloc(V, sizeof(float)), *got = calloc(V, sizeof(float));
    char plan[16384];

    /* reference: CPU only */
    st = run(&m, &cpu_ref, 1, 0, false, ref, plan, sizeof(plan));
    CHECK_MSG(st == PLMM_OK, "cpu run: %s", plmm_last_errmsg());
    CHECK(strstr(plan, "FALLBACK") == NULL);

    /* fake first, CPU second: matmuls and adds on the fake, the rest on the CPU */
    plmm_sched_backend_ref both[2] = {fake_ref, cpu_ref};
    st = run(&m, both, 2, 1, false, got, plan, sizeof(plan));
    CHECK_MSG(st == PLMM_OK, "mixed run: %s", plmm_last_errmsg());
    CHECK(the_fake.computes > 0);
    CHECK_MSG(the_fake.host_pointer_violations == 0, "%u host pointers reached the fake device",
              the_fake.host_pointer_violations);
    CHECK_MSG(memcmp(ref, got, V * sizeof(float)) == 0, "mixed-backend logits differ from CPU");
    CHECK_CONTAINS(plan, "fakegpu");
    CHECK_CONTAINS(plan, "MUL_MAT");
    CHECK(strstr(plan, "FALLBACK") == NULL); /* the CPU is simply next in order */

    /* fake alone, observable: unsupported nodes fall back to the CPU, visibly */
    plmm_sched_backend_ref fb[2] = {fake_ref, cpu_ref};
    memset(got, 0, V * sizeof(float));
    the_fake.computes = 0;
    st = run(&m, fb, 1, -1, false, got, NULL, 0);
    CHECK(st == PLMM_ERR_UNSUPPORTED); /* no fallback backend given: an error naming a node */
    CHECK_CONTAINS(plmm_last_errmsg(), "no backend can run node");
    st = run(&m, fb, 2, 1, false, got, plan, sizeof(plan));
    CHECK(st == PLMM_OK);
    CHECK_CONTAINS(plan, "split");

    /* a fallback that actually happens: the CPU added for fallback only */
    plmm_sched_backend_ref cpu_fb = cpu_ref;
    cpu_fb.fallback_only = true;
    plmm_sched_backend_ref fb_list[2] = {fake_ref, cpu_fb};
    memset(got, 0, V * sizeof(float));
    st = run(&m, fb_list, 2, 1, false, got, plan, sizeof(plan));
    CHECK_MSG(st == PLMM_OK, "fallback run: %s", plmm_last_errmsg());
    CHECK_CONTAINS(plan, "FALLBACK");
    CHECK_CONTAINS(plan, "fallback: node");
    CHECK_MSG(memcmp(ref, got, V * sizeof(float)) == 0, "fallback logits differ from CPU");
    st = run(&m, fb_list, 2, 1, true, got, NULL, 0);
    CHECK(st == PLMM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(plmm_last_errmsg(), "fallback = strict");

    free(ref);
    free(got);
    plmm_backend_inst_destroy(cpu);
    plmm_registry_destroy(reg);
    plmm_weights_free(&m.w);
    plmm_gguf_close(m.g);
    return test_summary("scheduler");
}
