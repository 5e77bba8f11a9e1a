/* LoRA adapters and the local connector.
 *
 * usage: test-lora DIR   (DIR written by make-lora.py from stories260K-F32)
 *
 * Logits of the base model with DIR/lora-f32.gguf at scale 0.75 must match
 * the model with the adapter merged into its weights (DIR/merged.gguf);
 * scale 0 and removing the adapter give the base logits exactly; the F16
 * adapter gives the F32 one's; malformed adapters fail naming the cause.
 * Then the local connector runs a second model and an adapter on a shared
 * P-model. */
#include "../unit/test.h"
#include "connector.h"
#include "plmm/lora.h"
#include "plmm/plmm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCALE 0.75f
#define N_TOK 12

static const char *dir;
static char base_path[4096];

static char *path_in(const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

/* All-token logits of a fixed prompt: out (N_TOK * n_vocab). */
static bool logits_of(plmm_session *s, uint32_t n_vocab, float *out)
{
    static const int32_t ids[N_TOK] = {1, 400, 21, 99, 250, 7, 311, 42, 128, 64, 500, 3};
    plmm_session_reset(s);
    plmm_status st = plmm_session_eval(s, ids, N_TOK, PLMM_EVAL_ALL_LOGITS);
    if (st != PLMM_OK) {
        fprintf(stderr, "eval: %s\n", plmm_last_errmsg());
        return false;
    }
    for (size_t r = 0; r < N_TOK; r++) {
        const float *row = NULL;
        if (plmm_session_logits(s, r, &row) != PLMM_OK)
            return false;
        memcpy(out + r * n_vocab, row, n_vocab * sizeof(float));
    }
    return true;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

static void expect_bad(plmm_model *m, const char *file, plmm_status want, const char *msg)
{
    plmm_lora *l = NULL;
    plmm_status st = plmm_lora_load(m, path_in(file), &l);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d", file, st, plmm_last_errmsg(), want);
    CHECK(l == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), msg);
}

static void test_numerics(plmm_engine *e)
{
    plmm_model *base = NULL, *merged = NULL;
    plmm_session *sb = NULL, *sm = NULL;
    plmm_lora *lora = NULL, *lora16 = NULL;
    CHECK(plmm_model_load(e, base_path, &base) == PLMM_OK);
    CHECK(plmm_model_load(e, path_in("merged.gguf"), &merged) == PLMM_OK);
    if (base == NULL || merged == NULL)
        goto out;
    plmm_model_desc d = {.struct_size = sizeof(d)};
    CHECK(plmm_model_describe(base, &d) == PLMM_OK);
    size_t n = (size_t)N_TOK * d.n_vocab;
    float *lb = malloc(n * sizeof(float)), *lm = malloc(n * sizeof(float));
    float *la = malloc(n * sizeof(float)), *lx = malloc(n * sizeof(float));
    plmm_session_params sp = {.struct_size = sizeof(sp), .n_ctx = 64, .kv_type = 0, .n_batch = 16};
    CHECK(plmm_session_create(base, &sp, &sb) == PLMM_OK);
    CHECK(plmm_session_create(merged, &sp, &sm) == PLMM_OK);
    if (sb == NULL || sm == NULL || !lb || !lm || !la || !lx)
        goto out_free;
    CHECK(logits_of(sb, d.n_vocab, lb));
    CHECK(logits_of(sm, d.n_vocab, lm));
    double base_vs_merged = max_diff(lb, lm, n);
    CHECK_MSG(base_vs_merged > 0.05, "the adapter barely changes the logits (%g)", base_vs_merged);

    CHECK(plmm_lora_load(base, path_in("lora-f32.gguf"), &lora) == PLMM_OK);
    CHECK(plmm_lora_load(base, path_in("lora-f16.gguf"), &lora16) == PLMM_OK);
    if (lora == NULL || lora16 == NULL)
        goto out_free;
    CHECK(plmm_lora_n_tensors(lora) == 35 && plmm_lora_alpha(lora) == 8.0f);

    /* adapter at SCALE == merged weights */
    CHECK(plmm_session_set_lora(sb, lora, SCALE) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, la));
    double dm = max_diff(la, lm, n);
    printf("lora: max |logit diff| adapter vs merged %.3g (base vs merged %.3g)\n", dm,
           base_vs_merged);
    CHECK_MSG(dm < 2e-3, "adapter vs merged differ by %g", dm);

    /* the F16 file holds the same values */
    CHECK(plmm_session_set_lora(sb, lora16, SCALE) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, lx));
    CHECK_MSG(max_diff(la, lx, n) < 1e-5, "f16 vs f32 adapter differ by %g", max_diff(la, lx, n));

    /* scale 0 and removal give the base logits exactly */
    CHECK(plmm_session_set_lora(sb, lora, 0.0f) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, lx));
    CHECK(max_diff(lb, lx, n) == 0.0);
    /* a different scale moves the logits the other way */
    CHECK(plmm_session_set_lora(sb, lora, -SCALE) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, lx));
    CHECK(max_diff(lb, lx, n) > 0.05 && max_diff(la, lx, n) > 0.05);
    CHECK(plmm_session_set_lora(sb, NULL, 0.0f) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, lx));
    CHECK(max_diff(lb, lx, n) == 0.0);

    /* set again after removal (no reload of the base), then free the adapter */
    CHECK(plmm_session_set_lora(sb, lora, SCALE) == PLMM_OK);
    CHECK(logits_of(sb, d.n_vocab, lx));
    CHECK(max_diff(la, lx, n) == 0.0);
    CHECK(plmm_session_set_lora(sb, NULL, 1.0f) == PLMM_OK);

    /* an adapter belongs to the model it was checked against */
    CHECK(plmm_session_set_lora(sm, lora, SCALE) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "another model");
    CHECK(plmm_session_set_lora(sb, lora, NAN) == PLMM_ERR_INVALID_ARG);

    /* malformed adapters */
    expect_bad(base, "bad-shape.gguf", PLMM_ERR_INVALID_ARG, "transposed");
    expect_bad(base, "bad-name.gguf", PLMM_ERR_INVALID_ARG, "blk.99.attn_q.weight");
    expect_bad(base, "bad-arch.gguf", PLMM_ERR_INVALID_ARG, "'qwen2'");
    expect_bad(base, "bad-norm.gguf", PLMM_ERR_UNSUPPORTED, "attn_norm");
    expect_bad(base, "bad-odd.gguf", PLMM_ERR_FORMAT, "tensors");
    expect_bad(base, "merged.gguf", PLMM_ERR_FORMAT, "not an adapter");
    expect_bad(base, "nonexistent.gguf", PLMM_ERR_IO, "nonexistent.gguf");

out_free:
    free(lb);
    free(lm);
    free(la);
    free(lx);
out:
    plmm_session_free(sb);
    plmm_session_free(sm);
    plmm_lora_free(lora);
    plmm_lora_free(lora16);
    plmm_model_free(base);
    plmm_model_free(merged);
}

typedef struct seen {
    char url[128];
    size_t prompt_len;
    bool prompt_has_question;
    int pieces;
    char text[2048];
    size_t len;
} seen;

static plmm_status see_send(void *user, const char *url, const char *body, size_t len)
{
    seen *s = user;
    snprintf(s->url, sizeof(s->url), "%s", url);
    s->prompt_len = len;
    s->prompt_has_question = strstr(body, "Once upon a time") != NULL;
    return PLMM_OK;
}

static plmm_status deny_send(void *user, const char *url, const char *body, size_t len)
{
    (void)user, (void)url, (void)body, (void)len;
    return PLMM_ERR_DENIED;
}

static bool see_piece(void *user, const char *piece, size_t len)
{
    seen *s = user;
    s->pieces++;
    if (s->len + len < sizeof(s->text)) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return true;
}

static void run_local(plmm_connector *c, seen *s, plmm_connector_result *r)
{
    const plmm_connector_msg msgs[] = {{"user", "Once upon a time"}};
    plmm_connector_request req = {.msgs = msgs,
                                  .n_msgs = 1,
                                  .max_tokens = 12,
                                  .temperature = 0.0f,
                                  .before_send = see_send,
                                  .on_piece = see_piece,
                                  .user = s};
    plmm_status st = plmm_connector_chat(c, &req, r);
    CHECK_MSG(st == PLMM_OK, "local chat: %s", plmm_last_errmsg());
}

static void test_local_connector(plmm_engine *e)
{
    /* a second GGUF model */
    plmm_connector_config cfg = {.kind = PLMM_CONNECTOR_LOCAL,
                                 .name = "expert.story",
                                 .model_path = base_path,
                                 .n_ctx = 128};
    plmm_connector *c = NULL;
    CHECK_MSG(plmm_connector_open(e, &cfg, &c) == PLMM_OK, "%s", plmm_last_errmsg());
    if (c == NULL)
        return;
    seen s = {0};
    plmm_connector_result r;
    run_local(c, &s, &r);
    CHECK(strcmp(s.url, "local:expert.story") == 0);
    CHECK(s.prompt_has_question && s.prompt_len > 0);
    CHECK(r.text != NULL && strlen(r.text) > 0 && strcmp(r.text, s.text) == 0);
    CHECK(r.prompt_tokens > 3 && r.completion_tokens > 0 && r.completion_tokens <= 12);
    CHECK(!r.usage_from_server && r.http_status == 0 && r.attempts == 1);
    CHECK(strcmp(r.finish_reason, "length") == 0 || strcmp(r.finish_reason, "stop") == 0);
    char base_answer[2048];
    snprintf(base_answer, sizeof(base_answer), "%s", r.text ? r.text : "");
    plmm_connector_result_clear(&r);
    char id[128];
    CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_OK && id[0] != '\0');
    /* before_send refuses: nothing is generated */
    const plmm_connector_msg msgs[] = {{"user", "hello"}};
    plmm_connector_request deny = {.msgs = msgs, .n_msgs = 1, .before_send = deny_send};
    CHECK(plmm_connector_chat(c, &deny, &r) == PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "expert.story");
    plmm_connector_close(c);

    /* an adapter on a P-model the caller owns, at a large scale: the answer changes */
    plmm_model *p = NULL;
    CHECK(plmm_model_load(e, base_path, &p) == PLMM_OK);
    if (p == NULL)
        return;
    cfg = (plmm_connector_config){.kind = PLMM_CONNECTOR_LOCAL,
                                  .name = "expert.lora",
                                  .lora_path = path_in("lora-f32.gguf"),
                                  .lora_scale = 4.0f,
                                  .base_model = p,
                                  .n_ctx = 128};
    CHECK_MSG(plmm_connector_open(e, &cfg, &c) == PLMM_OK, "%s", plmm_last_errmsg());
    if (c != NULL) {
        seen s2 = {0};
        run_local(c, &s2, &r);
        CHECK(r.text != NULL && strcmp(r.text, base_answer) != 0);
        CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_OK && strstr(id, "+lora"));
        plmm_connector_result_clear(&r);
        plmm_connector_close(c);
    }
    /* the P-model itself is untouched: a plain session still answers as before */
    cfg = (plmm_connector_config){.kind = PLMM_CONNECTOR_LOCAL,
                                  .name = "expert.bad",
                                  .lora_path = path_in("bad-shape.gguf"),
                                  .lora_scale = 1.0f,
                                  .base_model = p};
    CHECK(plmm_connector_open(e, &cfg, &c) == PLMM_ERR_INVALID_ARG && c == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "expert.bad (local connector)");
    cfg = (plmm_connector_config){.kind = PLMM_CONNECTOR_LOCAL, .name = "expert.none"};
    CHECK(plmm_connector_open(e, &cfg, &c) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "neither model nor lora");
    plmm_model_free(p);
}

int main(int argc, char **argv)
{
    const char *shared = test_shared_dir();
    if (argc < 2 || shared == NULL) {
        printf("SKIP: needs the make-lora.py output directory and PLMM_SHARED_DIR\n");
        return 77;
    }
    dir = argv[1];
    snprintf(base_path, sizeof(base_path), "%s/models/stories260K-F32.gguf", shared);
    /* PLMM_TEST_BACKENDS: run the same checks on other backends ("vulkan") */
    char backends[256];
    const char *want = getenv("PLMM_TEST_BACKENDS");
    snprintf(backends, sizeof(backends), "engine.backends=%s", want && want[0] ? want : "cpu");
    const char *over[] = {"engine.context=128", "engine.batch=16", backends,
                          "engine.fallback=strict"};
    plmm_engine_params ep = {
        .struct_size = sizeof(ep), .overrides = over, .n_overrides = 4, .log_level = -1};
    plmm_engine *e = NULL;
    if (plmm_engine_open(&ep, &e) != PLMM_OK) {
        if (want != NULL && want[0]) {
            printf("SKIP: backend '%s' unavailable: %s\n", want, plmm_last_errmsg());
            return 77;
        }
        fprintf(stderr, "engine: %s\n", plmm_last_errmsg());
        return 1;
    }
    test_numerics(e);
    test_local_connector(e);
    plmm_engine_close(e);
    return test_summary("lora");
}
