/*
 * Agreement with llama.cpp's golden outputs (../shared/golden): for every
 * model and weight type, every prompt of prompts.tsv:
 *  - token ids equal <id>.prompt_tokens.txt;
 *  - logits of every stored prompt row agree (normalised MSE per row
 *    <= 1e-4 for F32/F16 weights, <= 1e-2 for quantized weights);
 *  - greedy generation equals <id>.gen_tokens.txt for the first 32 tokens
 *    (asserted for F32, F16 and Q8_0; reported for Q4_0 and Q4_K_M, where
 *    quantization noise flips near-tied argmaxes);
 *  - the stored generation logits rows agree like the prompt rows.
 * The KV cache is F32 as in the golden run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plmm/plmm.h"

#include "../unit/test.h"

#define GEN_CHECK 32
#define MAX_TOK 4096

typedef struct case_ctx {
    const char *shared;
    const char *model;
    const char *type;
    char dir[1024];
} case_ctx;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static size_t read_ids(const char *path, int32_t *ids, size_t cap)
{
    char *txt = read_file(path, NULL);
    size_t n = 0;
    if (txt == NULL)
        return 0;
    for (char *p = strtok(txt, " \n\t"); p != NULL && n < cap; p = strtok(NULL, " \n\t"))
        ids[n++] = (int32_t)strtol(p, NULL, 10);
    free(txt);
    return n;
}

static double nmse(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static int32_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The unshipped F16 synth files are rebuilt by the shared generator. */
static bool model_path(const case_ctx *c, char *out, size_t size)
{
    snprintf(out, size, "%s/models/%s-%s.gguf", c->shared, c->model, c->type);
    if (file_exists(out))
        return true;
    const char *bdir = getenv("PLMM_BUILD_DIR");
    char readme[1200];
    snprintf(readme, sizeof(readme), "%s/golden/%s/README.md", c->shared, c->model);
    char *txt = read_file(readme, NULL);
    if (bdir == NULL || txt == NULL) {
        free(txt);
        return false;
    }
    /* the README holds the exact generator command; run it with paths redirected */
    char *cmd = strstr(txt, "python3 tools/make-bench-gguf.py");
    bool ok = false;
    if (cmd != NULL) {
        char *end = strstr(cmd, "```");
        if (end != NULL)
            *end = '\0';
        char line[2048] = "";
        size_t k = 0;
        for (char *p = cmd; *p && k + 1 < sizeof(line); p++) {
            if (*p == '\\' && p[1] == '\n') {
                p++;
                continue;
            }
            line[k++] = *p == '\n' ? ' ' : *p;
        }
        line[k] = '\0';
        snprintf(out, size, "%s/golden-models/%s-%s.gguf", bdir, c->model, c->type);
        if (file_exists(out)) {
            free(txt);
            return true;
        }
        char *o = strstr(line, "--out ");
        if (o != NULL) {
            char *oe = strchr(o + 6, ' ');
            char rest[2048];
            snprintf(rest, sizeof(rest), "%s", oe ? oe : "");
            *o = '\0';
            char full[8192];
            snprintf(full, sizeof(full),
                     "mkdir -p '%s/golden-models' && cd '%s' && %s --out '%s' %s >/dev/null",
                     bdir, c->shared, line, out, rest);
            printf("  regenerating %s-%s.gguf\n", c->model, c->type);
            ok = system(full) == 0 && file_exists(out);
        }
    }
    free(txt);
    return ok;
}

static void run_case(case_ctx *c, plmm_engine *e)
{
    char path[1024], f[1300];
    if (!model_path(c, path, sizeof(path))) {
        printf("  %s/%s: SKIP (model file absent and not regenerable)\n", c->model, c->type);
        return;
    }
    plmm_model *m = NULL;
    plmm_status st = plmm_model_load(e, path, &m);
    CHECK_MSG(st == PLMM_OK, "load %s: %s", path, plmm_last_errmsg());
    if (st != PLMM_OK)
        return;
    plmm_session_params sp = {.struct_size = sizeof(sp), .n_ctx = 512, .kv_type = PLMM_DTYPE_F32,
                              .n_batch = 512};
    plmm_session *s = NULL;
    st = plmm_session_create(m, &sp, &s);
    CHECK_MSG(st == PLMM_OK, "session: %s", plmm_last_errmsg());
    if (st != PLMM_OK) {
        plmm_model_free(m);
        return;
    }
    plmm_model_desc md = {.struct_size = sizeof(md)};
    CHECK(plmm_model_describe(m, &md) == PLMM_OK);
    const size_t V = md.n_vocab;
    bool quant = strcmp(c->type, "F32") != 0 && strcmp(c->type, "F16") != 0;
    bool strict_gen = !strcmp(c->type, "F32") || !strcmp(c->type, "F16") || !strcmp(c->type, "Q8_0");
    double tol = quant ? 1e-2 : 1e-4;

    snprintf(f, sizeof(f), "%s/index.tsv", c->dir);
    char *index = read_file(f, NULL);
    CHECK_MSG(index != NULL, "cannot read %s", f);
    char *save = NULL;
    for (char *line = index ? strtok_r(index, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char id[16], prompt[1024];
        int n_prompt, n_gen, n_vocab, eog, last_arg, prow, grow;
        if (sscanf(line, "%15s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t", id, &n_prompt, &n_gen, &n_vocab,
                   &eog, &last_arg, &prow, &grow) != 8)
            continue; /* header */
        const char *ptext = line;
        for (int k = 0; k < 8; k++)
            ptext = strchr(ptext, '\t') + 1;
        snprintf(prompt, sizeof(prompt), "%s", ptext);
        CHECK((size_t)n_vocab == V);

        /* tokens */
        int32_t ref_ids[MAX_TOK], ids[MAX_TOK];
        snprintf(f, sizeof(f), "%s/%s.prompt_tokens.txt", c->dir, id);
        size_t n_ref = read_ids(f, ref_ids, MAX_TOK);
        size_t n = 0;
        st = plmm_tokenize(m, prompt, strlen(prompt), PLMM_TOKENIZE_ADD_SPECIAL, ids, MAX_TOK, &n);
        CHECK_MSG(st == PLMM_OK && n == n_ref && memcmp(ids, ref_ids, n * sizeof(int32_t)) == 0,
                  "%s/%s %s: token ids differ from llama.cpp (%zu vs %zu)", c->model, c->type,
                  id, n, n_ref);
        /* prompt logits: evaluate llama.cpp's ids so logits compare even if tokens differ */
        plmm_session_reset(s);
        st = plmm_session_eval(s, ref_ids, n_ref, PLMM_EVAL_ALL_LOGITS);
        CHECK_MSG(st == PLMM_OK, "eval: %s", plmm_last_errmsg());
        if (st != PLMM_OK)
            break;
        size_t ref_len = 0;
        snprintf(f, sizeof(f), "%s/%s.prompt_logits.f32", c->dir, id);
        float *ref = (float *)read_file(f, &ref_len);
        CHECK(ref != NULL && ref_len == (size_t)prow * V * sizeof(float));
        double worst = 0;
        for (int r = 0; ref != NULL && r < prow; r++) {
            size_t row = prow == 1 ? n_ref - 1 : (size_t)r;
            const float *lg = NULL;
            CHECK(plmm_session_logits(s, row, &lg) == PLMM_OK);
            if (lg == NULL)
                break;
            double e2 = nmse(lg, ref + (size_t)r * V, V);
            if (e2 > worst)
                worst = e2;
        }
        CHECK_MSG(worst <= tol, "%s/%s %s: prompt logits NMSE %.3g > %.0e", c->model, c->type,
                  id, worst, tol);
        free(ref);

        /* greedy generation */
        int32_t gen_ref[128];
        snprintf(f, sizeof(f), "%s/%s.gen_tokens.txt", c->dir, id);
        size_t n_gen_ref = read_ids(f, gen_ref, 128);
        snprintf(f, sizeof(f), "%s/%s.gen_logits.f32", c->dir, id);
        float *gref = (float *)read_file(f, &ref_len);
        const float *lg = NULL;
        CHECK(plmm_session_logits(s, n_ref - 1, &lg) == PLMM_OK);
        int agree = 0;
        double gworst = 0;
        bool diverged = false;
        for (int j = 0; lg != NULL && j < GEN_CHECK && (size_t)j < n_gen_ref; j++) {
            int32_t tok = argmax(lg, V);
            if (tok != gen_ref[j])
                diverged = true;
            if (!diverged)
                agree++;
            int32_t feed = tok;
            if ((st = plmm_session_eval(s, &feed, 1, 0)) != PLMM_OK)
                break;
            CHECK(plmm_session_logits(s, 0, &lg) == PLMM_OK);
            if (!diverged && gref != NULL && j < grow) {
                double e2 = nmse(lg, gref + (size_t)j * V, V);
                if (e2 > gworst)
                    gworst = e2;
            }
        }
        free(gref);
        printf("  %-16s %-6s %s: tokens %s, prompt NMSE %.2e, gen NMSE %.2e, greedy %d/%d\n",
               c->model, c->type, id, n == n_ref ? "ok" : "DIFF", worst, gworst, agree, GEN_CHECK);
        if (strict_gen)
            CHECK_MSG(agree == GEN_CHECK, "%s/%s %s: greedy tokens diverge at %d", c->model,
                      c->type, id, agree);
        CHECK_MSG(gworst <= tol, "%s/%s %s: gen logits NMSE %.3g", c->model, c->type, id, gworst);
    }
    free(index);
    plmm_session_free(s);
    plmm_model_free(m);
}

int main(int argc, char **argv)
{
    const char *shared = test_shared_dir();
    if (shared == NULL)
        TEST_SKIP("PLMM_SHARED_DIR not set or has no models/: golden comparison needs ../shared");
    const char *only = argc > 1 ? argv[1] : NULL; /* optional model filter */
    /* PLMM_TEST_SET=section.key=value adds one override (e.g. to compare SIMD paths) */
    const char *extra = getenv("PLMM_TEST_SET");
    const char *overrides[] = {"engine.backends=cpu", extra};
    plmm_engine_params ep = {.struct_size = sizeof(ep), .overrides = overrides,
                             .n_overrides = extra ? 2 : 1, .log_level = -1};
    plmm_engine *e = NULL;
    plmm_status st = plmm_engine_open(&ep, &e);
    CHECK_MSG(st == PLMM_OK, "engine: %s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return test_summary("golden");
    static const char *models[] = {"stories260K", "synth-spm-15M", "synth-bpe-7M",
                                   "synth-kq-20M", "synth-qwen2-14M"};
    static const char *types[] = {"F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"};
    for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
        if (only && strcmp(only, models[i]) != 0)
            continue;
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            case_ctx c = {.shared = shared, .model = models[i], .type = types[t]};
            snprintf(c.dir, sizeof(c.dir), "%s/golden/%s/%s", shared, models[i], types[t]);
            if (!file_exists(c.dir))
                continue;
            run_case(&c, e);
        }
    }
    plmm_engine_close(e);
    return test_summary("golden");
}
