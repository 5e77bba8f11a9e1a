/*
 * The public API (plmm.h) under hostile and edge-case input: every failure
 * is a status with a message naming the cause, never a crash, and leaves
 * the handles usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plmm/plmm.h"

#include "../unit/test.h"

static bool count_cb(void *user, int32_t id, const char *piece, size_t len)
{
    (void)id;
    (void)piece;
    (void)len;
    (*(int *)user)++;
    return true;
}

static bool stop_after_three(void *user, int32_t id, const char *piece, size_t len)
{
    (void)id;
    (void)piece;
    (void)len;
    return ++*(int *)user < 3;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    const char *shared = test_shared_dir();
    char path[4096], tmp[4096];
    plmm_engine *e = NULL;
    plmm_status st;

    /* ---- engine configuration errors ---- */
    snprintf(tmp, sizeof(tmp), "/tmp/plmm-test-api-%d.ini", (int)getpid());
    write_file(tmp, "[engine]\ncontext = 64\nthreads = many\n");
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = tmp, .log_level = -1};
    CHECK(plmm_engine_open(&ep, &e) == PLMM_ERR_CONFIG && e == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), ":3:");
    CHECK_CONTAINS(plmm_last_errmsg(), "threads");
    write_file(tmp, "[engine]\nbackends = nosuchbackend\nfallback = strict\n");
    CHECK(plmm_engine_open(&ep, &e) != PLMM_OK && e == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "nosuchbackend");
    unlink(tmp);
    ep.config_path = "/nonexistent/plmm.ini";
    CHECK(plmm_engine_open(&ep, &e) == PLMM_ERR_IO);
    CHECK_CONTAINS(plmm_last_errmsg(), "/nonexistent/plmm.ini");
    const char *bad_override[] = {"engine.context=0"};
    plmm_engine_params ep2 = {.struct_size = sizeof(ep2), .overrides = bad_override,
                              .n_overrides = 1, .log_level = -1};
    CHECK(plmm_engine_open(&ep2, &e) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "command line");
    plmm_engine_params small = {.struct_size = 4};
    CHECK(plmm_engine_open(&small, &e) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_engine_open(NULL, NULL) == PLMM_ERR_INVALID_ARG);

    /* a working engine */
    const char *ok_over[] = {"engine.context=64", "engine.batch=16"};
    plmm_engine_params ep3 = {.struct_size = sizeof(ep3), .overrides = ok_over,
                              .n_overrides = 2, .log_level = -1};
    st = plmm_engine_open(&ep3, &e);
    CHECK_MSG(st == PLMM_OK, "engine: %s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return test_summary("api");
    const char *v = NULL;
    CHECK(plmm_engine_config_get(e, "engine.context", &v) == PLMM_OK && strcmp(v, "64") == 0);
    CHECK(plmm_engine_config_get(e, "engine.nokey", &v) == PLMM_ERR_NOT_FOUND);

    /* ---- model load errors ---- */
    plmm_model *m = NULL;
    CHECK(plmm_model_load(e, "/nonexistent/model.gguf", &m) == PLMM_ERR_IO && m == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "/nonexistent/model.gguf");
    CHECK(plmm_model_load(e, NULL, &m) == PLMM_ERR_CONFIG); /* no [engine] model */
    snprintf(tmp, sizeof(tmp), "/tmp/plmm-test-api-%d.gguf", (int)getpid());
    write_file(tmp, "this is not a gguf file at all");
    CHECK(plmm_model_load(e, tmp, &m) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "magic");
    unlink(tmp);

    if (shared == NULL) {
        plmm_engine_close(e);
        printf("SKIP: model parts need PLMM_SHARED_DIR\n");
        test_summary("api");
        return test_failures ? 1 : 77;
    }
    /* a vocab-only GGUF is not a model: missing metadata is named */
    snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-gpt-2.gguf", shared);
    CHECK(plmm_model_load(e, path, &m) != PLMM_OK && m == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "gpt2");

    snprintf(path, sizeof(path), "%s/models/stories260K-F32.gguf", shared);
    CHECK(plmm_model_load(e, path, &m) == PLMM_OK);
    if (m == NULL) {
        plmm_engine_close(e);
        return test_summary("api");
    }
    plmm_model_desc md = {.struct_size = sizeof(md)};
    CHECK(plmm_model_describe(m, &md) == PLMM_OK && md.n_vocab == 512 && md.n_layer == 5);
    size_t tl = 0;
    const char *bos_text = plmm_token_text(m, plmm_token_bos(m), &tl);
    CHECK(bos_text != NULL && tl == 3 && memcmp(bos_text, "<s>", 3) == 0);
    CHECK(plmm_token_text(m, 100000, &tl) == NULL);

    /* ---- tokenizer edge cases ---- */
    int32_t ids[256];
    size_t n = 0;
    CHECK(plmm_tokenize(m, "", 0, PLMM_TOKENIZE_ADD_SPECIAL, ids, 256, &n) == PLMM_OK && n == 1);
    const char bad_utf8[] = "caf\xc3 \xff\xfe ok";
    CHECK(plmm_tokenize(m, bad_utf8, sizeof(bad_utf8) - 1, 0, ids, 256, &n) == PLMM_OK && n > 0);
    CHECK(plmm_tokenize(m, "Once upon a time", 16, PLMM_TOKENIZE_ADD_SPECIAL, ids, 2, &n) ==
          PLMM_ERR_RANGE);
    CHECK(n == 5); /* the size needed */
    char piece[16];
    CHECK(plmm_token_piece(m, -1, piece, sizeof(piece), &n) == PLMM_ERR_RANGE);
    CHECK(plmm_token_piece(m, 512, piece, sizeof(piece), &n) == PLMM_ERR_RANGE);

    /* ---- session edge cases ---- */
    plmm_session *s = NULL;
    plmm_session_params bad = {.struct_size = sizeof(bad), .kv_type = PLMM_DTYPE_Q4_0};
    CHECK(plmm_session_create(m, &bad, &s) == PLMM_ERR_INVALID_ARG && s == NULL);
    CHECK(plmm_session_create(m, NULL, &s) == PLMM_OK);
    CHECK(plmm_session_n_ctx(s) == 64);
    int32_t tok[80];
    for (int i = 0; i < 80; i++)
        tok[i] = 1 + i % 400;
    CHECK(plmm_session_eval(s, tok, 0, 0) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "0 tokens");
    CHECK(plmm_session_eval(s, tok, 80, 0) == PLMM_ERR_RANGE); /* longer than the context */
    CHECK_CONTAINS(plmm_last_errmsg(), "context");
    int32_t unknown[2] = {1, 9999};
    CHECK(plmm_session_eval(s, unknown, 2, 0) == PLMM_ERR_RANGE);
    CHECK_CONTAINS(plmm_last_errmsg(), "9999");
    int32_t neg[1] = {-5};
    CHECK(plmm_session_eval(s, neg, 1, 0) == PLMM_ERR_RANGE);
    CHECK(plmm_session_n_past(s) == 0); /* failed calls evaluated nothing */
    const float *lg = NULL;
    CHECK(plmm_session_logits(s, 0, &lg) == PLMM_ERR_RANGE);
    int32_t out_id;
    CHECK(plmm_session_sample(s, &out_id) == PLMM_ERR_INVALID_ARG);

    /* batches larger than [engine] batch are split: same logits as one by one */
    CHECK(plmm_session_eval(s, tok, 40, PLMM_EVAL_ALL_LOGITS) == PLMM_OK);
    CHECK(plmm_session_n_past(s) == 40);
    float last_batched[512];
    CHECK(plmm_session_logits(s, 39, &lg) == PLMM_OK);
    memcpy(last_batched, lg, sizeof(last_batched));
    CHECK(plmm_session_logits(s, 40, &lg) == PLMM_ERR_RANGE);
    CHECK(plmm_session_truncate(s, 41) == PLMM_ERR_RANGE);
    CHECK(plmm_session_truncate(s, 39) == PLMM_OK);
    CHECK(plmm_session_eval(s, tok + 39, 1, 0) == PLMM_OK); /* re-evaluate the last position */
    CHECK(plmm_session_logits(s, 0, &lg) == PLMM_OK);
    double diff = 0;
    for (int i = 0; lg && i < 512; i++)
        diff += (lg[i] - last_batched[i]) * (double)(lg[i] - last_batched[i]);
    CHECK_MSG(diff < 1e-6, "truncate + re-eval differs: %g", diff);

    /* generation: n_predict 0, stop by callback, context exhaustion */
    plmm_session_reset(s);
    int count = 0;
    size_t gen = 99;
    CHECK(plmm_session_generate(s, tok, 5, 0, count_cb, &count, &gen) == PLMM_OK);
    CHECK(count == 0 && gen == 0);
    plmm_session_reset(s);
    count = 0;
    CHECK(plmm_session_generate(s, tok, 5, 100, stop_after_three, &count, &gen) == PLMM_OK);
    CHECK(count == 3 && gen == 3);
    plmm_session_reset(s);
    count = 0;
    CHECK(plmm_session_generate(s, tok, 5, -1, count_cb, &count, &gen) == PLMM_OK);
    CHECK_MSG(plmm_session_n_past(s) <= 64, "n_past %u beyond context", plmm_session_n_past(s));
    plmm_session_reset(s);
    CHECK(plmm_session_generate(s, NULL, 0, 4, count_cb, &count, &gen) == PLMM_ERR_INVALID_ARG);

    /* invalid sampling parameters are rejected by name and change nothing */
    plmm_sampling sp;
    plmm_sampling_defaults(e, &sp);
    sp.top_p = -1.0f;
    CHECK(plmm_session_set_sampling(s, &sp) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "top_p");
    plmm_sampling_defaults(e, &sp);
    sp.temperature = 0.8f;
    sp.seed = 7;
    CHECK(plmm_session_set_sampling(s, &sp) == PLMM_OK);
    int32_t a[8], b2[8];
    for (int run = 0; run < 2; run++) {
        plmm_session_reset(s);
        CHECK(plmm_session_eval(s, tok, 5, 0) == PLMM_OK);
        for (int i = 0; i < 8; i++) {
            int32_t t = 0;
            CHECK(plmm_session_sample(s, &t) == PLMM_OK);
            (run ? b2 : a)[i] = t;
            CHECK(plmm_session_eval(s, &t, 1, 0) == PLMM_OK);
        }
    }
    CHECK_MSG(memcmp(a, b2, sizeof(a)) == 0, "same seed gave different tokens");

    plmm_timings t = {.struct_size = sizeof(t)};
    CHECK(plmm_session_timings(s, &t) == PLMM_OK && t.n_decode > 0);
    char *plan = NULL;
    CHECK(plmm_session_plan(s, 8, &plan) == PLMM_OK);
    CHECK_CONTAINS(plan, "cpu");
    plmm_free(plan);

    /* the chat formatter reports the size it needs */
    plmm_chat_message msgs[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    size_t need = 0;
    char small_buf[4];
    CHECK(plmm_chat_format(m, "chatml", msgs, 2, true, small_buf, sizeof(small_buf), &need, NULL) ==
          PLMM_ERR_RANGE);
    CHECK(need > sizeof(small_buf));
    plmm_chat_message weird[1] = {{"wizard", "x"}};
    char buf[256];
    CHECK(plmm_chat_format(m, "chatml", weird, 1, true, buf, sizeof(buf), &need, NULL) ==
          PLMM_ERR_INVALID_ARG);

    plmm_session_free(s);
    plmm_model_free(m);
    plmm_engine_close(e);
    return test_summary("api");
}
