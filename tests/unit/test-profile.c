/*
 * The llm-core profile against the forward graph: for every model in
 * $PLMM_SHARED_DIR/models, the graph of a one-token and of a multi-token
 * batch (F16 and F32 KV cache) must use only (op, dtype) pairs of the
 * profile, within its shape ranges, and in place or on strided views only
 * where the profile's flags say so. Also the spec parser and the coverage
 * check on hand-made descriptors.
 */
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"
#include "profile.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- spec parsing ---- */

static void test_specs(void)
{
    plmm_profile p;
    uint32_t n_w;
    plmm_profile_weight_dtypes(&n_w);
    CHECK(n_w == 6);
    CHECK(plmm_profile_get("llm-core", &p) == PLMM_OK);
    CHECK(strcmp(p.name, "llm-core") == 0 && p.weight_dtype == PLMM_DTYPE_COUNT);
    CHECK(p.n_items == 2 * n_w + 8);
    CHECK(plmm_profile_get("llm-core:q4_k", &p) == PLMM_OK);
    CHECK(strcmp(p.name, "llm-core:Q4_K") == 0 && p.weight_dtype == PLMM_DTYPE_Q4_K);
    CHECK(p.n_items == 2 + 8);
    uint32_t n_q4k = 0;
    for (uint32_t i = 0; i < p.n_items; i++)
        n_q4k += p.items[i].dtype == PLMM_DTYPE_Q4_K;
    CHECK(n_q4k == 2);
    CHECK(plmm_profile_get("llm-core:Q6_K", &p) == PLMM_OK && p.weight_dtype == PLMM_DTYPE_Q6_K);
    CHECK(plmm_profile_get("llm-core:F32", &p) == PLMM_OK && p.weight_dtype == PLMM_DTYPE_F32);
    CHECK(plmm_profile_get("llm-core:Q5_0", &p) == PLMM_ERR_NOT_FOUND);
    CHECK_CONTAINS(plmm_last_errmsg(), "llm-core:Q4_K");
    CHECK(plmm_profile_get("llm-core:", &p) == PLMM_ERR_NOT_FOUND);
    CHECK(plmm_profile_get("llm-corex", &p) == PLMM_ERR_NOT_FOUND);
    CHECK(plmm_profile_get("vision", &p) == PLMM_ERR_NOT_FOUND);
    /* llm-npu: the matrix products and vector ops, nothing of the KV cache */
    CHECK(plmm_profile_get("llm-npu", &p) == PLMM_OK && p.weight_dtype == PLMM_DTYPE_COUNT);
    for (uint32_t i = 0; i < p.n_items; i++)
        CHECK(p.items[i].op == PLMM_OP_MUL_MAT || p.items[i].op == PLMM_OP_RMS_NORM ||
              p.items[i].op == PLMM_OP_ADD || p.items[i].op == PLMM_OP_SWIGLU);
    CHECK(p.n_items == n_w + 3);
    CHECK(plmm_profile_get("llm-npu:Q4_K", &p) == PLMM_OK && p.n_items == 4 &&
          strcmp(p.name, "llm-npu:Q4_K") == 0);
    CHECK(plmm_profile_get("llm-npux", &p) == PLMM_ERR_NOT_FOUND);
}

/* ---- coverage on hand-made descriptors ---- */

static void test_covered(void)
{
    plmm_profile p;
    char why[200];
    const char *whyp = why;
    CHECK(plmm_profile_get("llm-core:Q8_0", &p) == PLMM_OK);
    plmm_backend_desc d = {.struct_size = sizeof(d), .abi_major = 1};
    for (uint32_t i = 0; i < p.n_items; i++) {
        CHECK(!plmm_profile_item_covered(&p.items[i], &d, why, sizeof(why)));
        CHECK_CONTAINS(whyp, "not declared");
    }
    const plmm_op_caps caps[] = {
        {.op = PLMM_OP_MUL_MAT, .flags = 0, .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0)},
        {.op = PLMM_OP_GET_ROWS, .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0), .max_ne = {4096, 0}},
        {.op = PLMM_OP_ADD, .flags = PLMM_CAP_INPLACE, .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_F32)},
    };
    d.caps = caps;
    d.n_caps = 3;
    for (uint32_t i = 0; i < p.n_items; i++) {
        const plmm_profile_item *it = &p.items[i];
        bool ok = plmm_profile_item_covered(it, &d, why, sizeof(why));
        if (it->op == PLMM_OP_MUL_MAT) {
            CHECK(!ok);
            CHECK_CONTAINS(whyp, "PLMM_CAP_NONCONTIG");
        } else if (it->op == PLMM_OP_GET_ROWS) {
            CHECK(!ok);
            CHECK_CONTAINS(whyp, "max_ne[0] = 4096");
        } else if (it->op == PLMM_OP_ADD) {
            CHECK(ok);
        } else {
            CHECK(!ok);
        }
    }
}

/* ---- the forward graph of real models ---- */

typedef struct coverage {
    bool used[PLMM_PROFILE_MAX_ITEMS];
} coverage;

/* Do two graph tensors share storage (the same tensor or views of one root)? */
static bool aliases(const plmm_graph_builder *b, const plmm_tensor *x, const plmm_tensor *y)
{
    if (x == NULL || y == NULL)
        return false;
    return x == y || plmm_graph_root(b, plmm_graph_tensor_index(b, x)) ==
                         plmm_graph_root(b, plmm_graph_tensor_index(b, y));
}

static void check_graph(const char *model, const plmm_profile *p, const plmm_graph_builder *b,
                        coverage *cov)
{
    for (uint32_t i = 0; i < b->n_nodes; i++) {
        const plmm_node *n = &b->nodes[i];
        const plmm_profile_item *it = plmm_profile_match(p, n);
        CHECK_MSG(it != NULL, "%s: node %u %s %s is not in %s", model, i, plmm_op_name(n->op),
                  plmm_dtype_name(plmm_node_cap_dtype(n)), p->name);
        if (it == NULL)
            continue;
        cov->used[it - p->items] = true;
        const plmm_tensor *shape = n->src[0] != NULL ? n->src[0] : n->dst;
        for (int d = 0; d < PLMM_MAX_DIMS; d++)
            CHECK_MSG(it->max_ne[d] == 0 || shape->ne[d] <= it->max_ne[d],
                      "%s: node %u %s ne[%d] = %lld exceeds the profile's %lld", model, i,
                      plmm_op_name(n->op), d, (long long)shape->ne[d], (long long)it->max_ne[d]);
        if (aliases(b, n->dst, n->src[0]))
            CHECK_MSG(it->flags & PLMM_CAP_INPLACE, "%s: node %u %s runs in place", model, i,
                      plmm_op_name(n->op));
        const plmm_tensor *ts[1 + PLMM_MAX_SRC] = {n->dst, n->src[0], n->src[1], n->src[2],
                                                   n->src[3]};
        for (int k = 0; k < 1 + PLMM_MAX_SRC; k++)
            if (ts[k] != NULL && !plmm_tensor_is_contiguous(ts[k]))
                CHECK_MSG(it->flags & PLMM_CAP_NONCONTIG, "%s: node %u %s has a strided tensor",
                          model, i, plmm_op_name(n->op));
    }
}

static int check_model(const char *path, const char *name, const plmm_profile *p, coverage *cov)
{
    plmm_gguf *g = NULL;
    plmm_hparams hp;
    plmm_model_weights w;
    memset(&w, 0, sizeof(w));
    if (plmm_gguf_open(path, &g) != PLMM_OK) {
        CHECK_MSG(0, "%s: %s", name, plmm_last_errmsg());
        return 0;
    }
    if (plmm_hparams_load(g, &hp) != PLMM_OK || plmm_weights_load(g, &hp, &w) != PLMM_OK) {
        CHECK_MSG(0, "%s: %s", name, plmm_last_errmsg());
        plmm_weights_free(&w);
        plmm_gguf_close(g);
        return 0;
    }
    uint32_t cap_t, cap_n;
    plmm_forward_capacity(&hp, &cap_t, &cap_n);
    plmm_graph_builder b;
    CHECK(plmm_graph_builder_init(&b, cap_t, cap_n) == PLMM_OK);
    int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, pos[9];
    static const struct {
        uint32_t n_tokens, pos0, kv;
        bool all;
    } runs[] = {
        {1, 5, PLMM_DTYPE_F16, false}, {9, 0, PLMM_DTYPE_F16, true}, {9, 3, PLMM_DTYPE_F16, false},
        {1, 0, PLMM_DTYPE_F32, false}, {9, 2, PLMM_DTYPE_F32, true},
    };
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        for (uint32_t i = 0; i < runs[r].n_tokens; i++)
            pos[i] = (int32_t)(runs[r].pos0 + i);
        plmm_forward_io io = {.n_tokens = runs[r].n_tokens,
                              .pos0 = runs[r].pos0,
                              .n_ctx = 64,
                              .kv_dtype = runs[r].kv,
                              .all_logits = runs[r].all,
                              .ids = ids,
                              .pos = pos};
        plmm_status st = plmm_forward_build(&b, g, &hp, &w, &io);
        CHECK_MSG(st == PLMM_OK, "%s: %s", name, plmm_last_errmsg());
        if (st == PLMM_OK)
            check_graph(name, p, &b, cov);
    }
    plmm_graph_builder_free(&b);
    plmm_weights_free(&w);
    plmm_gguf_close(g);
    return 1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int test_models(void)
{
    const char *shared = test_shared_dir();
    if (shared == NULL)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/models", shared);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char *names[256];
    size_t n = 0;
    for (struct dirent *e = readdir(d); e != NULL && n < 256; e = readdir(d)) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_name);
    plmm_profile p;
    CHECK(plmm_profile_get("llm-core", &p) == PLMM_OK);
    coverage cov;
    memset(&cov, 0, sizeof(cov));
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        checked += check_model(path, names[i], &p, &cov);
        free(names[i]);
    }
    printf("%d models checked against %s\n", checked, p.name);
    for (uint32_t i = 0; i < p.n_items; i++)
        if (!cov.used[i])
            printf("  not used by these models: %s %s (%s)\n", plmm_op_name(p.items[i].op),
                   plmm_dtype_name(p.items[i].dtype), p.items[i].what);
    return checked;
}

int main(void)
{
    test_specs();
    test_covered();
    if (test_models() == 0)
        printf("SKIP: model checks: no models in $PLMM_SHARED_DIR/models\n");
    return test_summary("test-profile");
}
