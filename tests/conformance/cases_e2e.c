/*
 * End to end: a real model from $PLMM_SHARED_DIR/models through the public
 * API (plmm.h), once with the backend first in [engine] backends and
 * fallback = strict, once on the CPU backend's scalar kernels. Compared:
 * the logits of every prompt position (NMSE per position) and the greedy
 * choice over 32 generated tokens, both engines fed the reference's tokens
 * (teacher forcing), so one disagreement does not cascade. The top-1
 * agreement over every position (prompt and generated) is reported.
 *
 * A partition (NPU) backend runs with the cpu backend after it for the ops
 * it does not claim, with a fresh blob cache: the case then opens a second
 * engine on the same cache and checks that it loads every blob instead of
 * compiling (compile and load times go into the report). A backend that
 * declares an end-to-end tolerance (plmm_tolerance with op = PLMM_OP_NONE:
 * lossy arithmetic such as int8) is held to that NMSE (capped) and to top-1
 * agreement on at least 90% of the positions.
 */
#include "conformance.h"
#include "engine_impl.h"
#include "gguf.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_TOKENS 32
#define MAX_PROMPT 256
#define E2E_NMSE_FLOAT 1e-3 /* F32/F16 models */
#define E2E_NMSE_QUANT 1e-2 /* quantized models, as tests/e2e against llama.cpp */
/* Greedy choices may differ where the two best tokens are closer than the
 * logits' error; between two correct backends this happens when a rounding
 * of 8-bit activation quantization flips (the CPU backend's SIMD and scalar
 * kernels disagree on about 1 step in 32 on quantized models). */
#define GEN_MIN_AGREE (GEN_TOKENS - 3)
#define TOP1_MIN_LOSSY 0.90 /* top-1 agreement over all positions, lossy backends */

static const char prompt_text[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball.";

typedef struct e2e_model {
    const char *file;
    uint32_t dtype; /* sub-profile it serves */
    bool optional;  /* listed only when present */
    bool kv_f32;
} e2e_model;

static const e2e_model models[] = {
    {"stories260K-F32.gguf", PLMM_DTYPE_F32, false, true},
    {"stories260K-F16.gguf", PLMM_DTYPE_F16, false, false},
    {"synth-spm-15M-F16.gguf", PLMM_DTYPE_F16, false, false},
    {"synth-qwen2-14M-F16.gguf", PLMM_DTYPE_F16, true, false},
    {"stories260K-Q8_0.gguf", PLMM_DTYPE_Q8_0, false, false},
    {"synth-spm-15M-Q8_0.gguf", PLMM_DTYPE_Q8_0, false, false},
    {"stories260K-Q4_0.gguf", PLMM_DTYPE_Q4_0, false, false},
    {"synth-spm-15M-Q4_0.gguf", PLMM_DTYPE_Q4_0, false, false},
    {"synth-kq-20M-Q4_K_M.gguf", PLMM_DTYPE_Q4_K, false, false},
    {"synth-kq-20M-Q4_K_M.gguf", PLMM_DTYPE_Q6_K, false, false},
};

#define N_MODELS (sizeof(models) / sizeof(models[0]))

/*
 * Weight dtypes of a model's matrices the backend does not declare. Those
 * of the selected profile are listed in `needed` (the case cannot run);
 * others (e.g. Q6_K tensors of a Q4_K_M model under llm-core:Q4_K) in
 * `outside`: they may run on the cpu backend listed after the backend.
 */
static bool undeclared_dtypes(const conf_env *env, const char *path, bool partition, char *needed,
                              char *outside, size_t n, bool *quantized)
{
    plmm_gguf *g = NULL;
    uint64_t seen = 0;
    needed[0] = outside[0] = '\0';
    *quantized = false;
    if (plmm_gguf_open(path, &g) != PLMM_OK)
        return false;
    const uint32_t want = env->profile.weight_dtype;
    for (uint64_t i = 0; i < plmm_gguf_n_tensors(g); i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        if (t->n_dims < 2 || t->dtype >= 64)
            continue;
        if (plmm_dtype_block_elems(t->dtype) > 1)
            *quantized = true;
        /* a partition backend leaves the embedding lookup to the cpu backend */
        bool ok = conf_declares(env->desc, PLMM_OP_MUL_MAT, t->dtype) &&
                  (partition || conf_declares(env->desc, PLMM_OP_GET_ROWS, t->dtype));
        if (ok || (seen & PLMM_DTYPE_BIT(t->dtype)))
            continue;
        seen |= PLMM_DTYPE_BIT(t->dtype);
        char *out = want == PLMM_DTYPE_COUNT || want == t->dtype ? needed : outside;
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s", len ? ", " : "", plmm_dtype_name(t->dtype));
    }
    plmm_gguf_close(g);
    return true;
}

/* Does the backend declare the profile's items that are not weight lookups? */
static bool declares_common(const conf_env *env, char *why, size_t n)
{
    const plmm_profile *p = &env->profile;
    for (uint32_t i = 0; i < p->n_items; i++) {
        const plmm_profile_item *it = &p->items[i];
        if (it->op == PLMM_OP_GET_ROWS || it->op == PLMM_OP_MUL_MAT)
            continue;
        if (!plmm_profile_item_covered(it, env->desc, why, n))
            return false;
    }
    return true;
}

typedef struct side {
    plmm_engine *engine;
    plmm_model *model;
    plmm_session *session;
} side;

static void side_close(side *s)
{
    plmm_session_free(s->session);
    plmm_model_free(s->model);
    plmm_engine_close(s->engine);
    memset(s, 0, sizeof(*s));
}

static plmm_status side_open(side *s, const char *env_path, const char *const *ov, uint32_t n_ov,
                             const char *model_path, char *why, size_t why_size, const char *who)
{
    memset(s, 0, sizeof(*s));
    setenv("PLMM_PLUGIN_PATH", env_path, 1);
    plmm_engine_params ep = {
        .struct_size = sizeof(ep), .n_overrides = n_ov, .overrides = ov, .log_level = -1};
    plmm_status st = plmm_engine_open(&ep, &s->engine);
    if (st == PLMM_OK)
        st = plmm_model_load(s->engine, model_path, &s->model);
    if (st == PLMM_OK) {
        plmm_session_params sp = {.struct_size = sizeof(sp), .n_ctx = 256, .kv_type = -1};
        st = plmm_session_create(s->model, &sp, &s->session);
    }
    if (st != PLMM_OK)
        snprintf(why, why_size, "%s: %s", who, plmm_last_errmsg());
    return st;
}

static double row_nmse(const float *ref, const float *got, uint32_t n, double *max_abs,
                       bool *finite)
{
    double se = 0, sr = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            *finite = false;
        double e = (double)got[i] - ref[i];
        se += e * e;
        sr += (double)ref[i] * ref[i];
        if (fabs(e) > *max_abs)
            *max_abs = fabs(e);
    }
    return sr > 0 ? se / sr : se;
}

static int32_t argmax(const float *v, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return (int32_t)best;
}

/* The backend's end-to-end logits tolerance (op = PLMM_OP_NONE), or NULL. */
static const plmm_tolerance *declared_e2e(const plmm_backend_desc *d)
{
    if (!PLMM_ABI_HAS(plmm_backend_desc, d, tolerances) || d->tolerances == NULL)
        return NULL;
    for (uint32_t i = 0; i < d->n_tolerances; i++)
        if (d->tolerances[i].op == PLMM_OP_NONE)
            return &d->tolerances[i];
    return NULL;
}

/* Remove a flat directory of cache files. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char p[PATH_MAX + 300];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void part_stats(const side *s, plmm_part_stats *out)
{
    plmm_sched_part_stats(s->session->sched, out);
}

static void run_e2e(const conf_env *env, const conf_case *c, conf_result *r)
{
    const e2e_model *m = &models[c->index];
    char path[PATH_MAX + 64], why[1024], needed[128], missing[128], list[300], kv[32];
    const char *ov_t[CONF_MAX_LIST + 8], *ov_r[8];
    char pp_t[8300], pp_r[8300];
    side t, ref;
    memset(&t, 0, sizeof(t));
    memset(&ref, 0, sizeof(ref));
    float *ref_logits = NULL;
    int32_t ids[MAX_PROMPT];
    char cache_dir[PATH_MAX], cache_set[PATH_MAX + 32];
    cache_dir[0] = '\0';
    const bool partition = !(env->desc->contracts & PLMM_CONTRACT_GRAPH) &&
                           (env->desc->contracts & PLMM_CONTRACT_PARTITION);
    const plmm_tolerance *lossy = declared_e2e(env->desc);
    if (env->shared_dir == NULL) {
        conf_set(r, CONF_SKIP, "no models: set PLMM_SHARED_DIR (../shared/models is absent)");
        return;
    }
    snprintf(path, sizeof(path), "%s/models/%s", env->shared_dir, m->file);
    struct stat stt;
    if (stat(path, &stt) != 0) {
        conf_set(r, CONF_SKIP, "model %s not found in %s/models", m->file, env->shared_dir);
        return;
    }
    bool quantized = false;
    if (!undeclared_dtypes(env, path, partition, needed, missing, sizeof(missing), &quantized)) {
        conf_set(r, CONF_FAIL, "cannot read %s: %s", path, plmm_last_errmsg());
        return;
    }
    if (needed[0]) {
        conf_set(r, CONF_SKIP, "the backend does not declare %s weights (see the profile case)",
                 needed);
        return;
    }
    if (!declares_common(env, why, sizeof(why))) {
        conf_set(r, CONF_SKIP, "%s (see the profile case)", why);
        return;
    }
    /* the backend alone; cpu after it only for weight types it does not declare */
    snprintf(list, sizeof(list), "engine.backends=%s%s", env->name,
             missing[0] || partition ? ",cpu" : "");
    snprintf(kv, sizeof(kv), "engine.kv_type=%s", m->kv_f32 ? "f32" : "f16");
    snprintf(pp_t, sizeof(pp_t), "engine.plugin_path=%s", env->plugin_path);
    snprintf(pp_r, sizeof(pp_r), "engine.plugin_path=%s", env->plugin_dirs);
    uint32_t nt = 0, nr = 0;
    ov_t[nt++] = list;
    ov_t[nt++] = "engine.fallback=strict";
    ov_t[nt++] = kv;
    ov_t[nt++] = "engine.log_level=error";
    if (env->plugin_path[0])
        ov_t[nt++] = pp_t;
    for (uint32_t i = 0; i < env->opt.n_sets; i++)
        ov_t[nt++] = env->opt.sets[i];
    if (partition) {
        const char *tmp = getenv("TMPDIR");
        snprintf(cache_dir, sizeof(cache_dir), "%s/plmm-conformance-XXXXXX",
                 tmp != NULL && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(cache_dir) == NULL) {
            conf_set(r, CONF_FAIL, "suite error: cannot create a cache directory");
            cache_dir[0] = '\0';
            goto out;
        }
        snprintf(cache_set, sizeof(cache_set), "engine.cache_dir=%s", cache_dir);
        ov_t[nt++] = cache_set;
    }
    ov_r[nr++] = "engine.backends=cpu";
    ov_r[nr++] = "engine.fallback=strict";
    ov_r[nr++] = kv;
    ov_r[nr++] = "engine.log_level=error";
    ov_r[nr++] = "backend.cpu.simd=scalar";
    ov_r[nr++] = "backend.cpu.threads=1";
    if (env->plugin_dirs[0])
        ov_r[nr++] = pp_r;

    conf_step("open the engine with the backend");
    if (side_open(&t, env->env_path_target, ov_t, nt, path, why, sizeof(why), "backend") !=
        PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        goto out;
    }
    conf_step("open the reference engine");
    if (side_open(&ref, env->env_path_ref, ov_r, nr, path, why, sizeof(why), "reference") !=
        PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", why);
        goto out;
    }
    plmm_model_desc md = {.struct_size = sizeof(md)};
    if (plmm_model_describe(ref.model, &md) != PLMM_OK)
        goto out;
    const uint32_t V = md.n_vocab;
    size_t n_prompt = 0;
    if (plmm_tokenize(ref.model, prompt_text, strlen(prompt_text), PLMM_TOKENIZE_ADD_SPECIAL, ids,
                      MAX_PROMPT, &n_prompt) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "tokenize: %s", plmm_last_errmsg());
        goto out;
    }
    ref_logits = malloc((size_t)V * n_prompt * sizeof(float));
    if (ref_logits == NULL)
        goto out;

    conf_step("reference: prompt of %zu tokens", n_prompt);
    if (plmm_session_eval(ref.session, ids, n_prompt, PLMM_EVAL_ALL_LOGITS) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "reference eval: %s", plmm_last_errmsg());
        goto out;
    }
    for (size_t i = 0; i < n_prompt; i++) {
        const float *row = NULL;
        if (plmm_session_logits(ref.session, i, &row) != PLMM_OK)
            goto out;
        memcpy(ref_logits + i * V, row, (size_t)V * sizeof(float));
    }
    conf_step("backend: prompt of %zu tokens", n_prompt);
    if (plmm_session_eval(t.session, ids, n_prompt, PLMM_EVAL_ALL_LOGITS) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "eval with fallback = strict: %s", plmm_last_errmsg());
        goto out;
    }
    double worst = 0, sum = 0, max_abs = 0, max_ref = 0;
    size_t worst_at = 0, top1 = 0;
    plmm_part_stats cold = {0};
    if (partition)
        part_stats(&t, &cold); /* the prompt: every bucket's blobs compiled */
    bool finite = true;
    for (size_t i = 0; i < n_prompt; i++) {
        const float *row = NULL;
        if (plmm_session_logits(t.session, i, &row) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "logits row %zu: %s", i, plmm_last_errmsg());
            goto out;
        }
        double e = row_nmse(ref_logits + i * V, row, V, &max_abs, &finite);
        top1 += argmax(ref_logits + i * V, V) == argmax(row, V);
        for (uint32_t k = 0; k < V; k++)
            max_ref = fmax(max_ref, fabs(ref_logits[i * V + k]));
        sum += e;
        if (e > worst || !isfinite(e)) {
            worst = e;
            worst_at = i;
        }
    }
    /* greedy over GEN_TOKENS, both fed the reference's choice */
    int agree = 0, first_bad = -1;
    double gen_worst = 0;
    for (int step = 0; step < GEN_TOKENS; step++) {
        const float *rr = NULL, *tr = NULL;
        conf_step("greedy step %d", step + 1);
        /* after the prompt its last row, then the single row of each step */
        const size_t row = step == 0 ? n_prompt - 1 : 0;
        if (plmm_session_logits(ref.session, row, &rr) != PLMM_OK ||
            plmm_session_logits(t.session, row, &tr) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "logits at step %d: %s", step + 1, plmm_last_errmsg());
            goto out;
        }
        if (step > 0) {
            double e = row_nmse(rr, tr, V, &max_abs, &finite);
            if (e > gen_worst || !isfinite(e))
                gen_worst = e;
        }
        int32_t a = argmax(rr, V), b = argmax(tr, V);
        if (a == b)
            agree++;
        else if (first_bad < 0)
            first_bad = step;
        if (step + 1 == GEN_TOKENS)
            break;
        if (plmm_session_eval(ref.session, &a, 1, 0) != PLMM_OK ||
            plmm_session_eval(t.session, &a, 1, 0) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "eval at step %d: %s", step + 1, plmm_last_errmsg());
            goto out;
        }
    }
    double bound = quantized ? E2E_NMSE_QUANT : E2E_NMSE_FLOAT;
    r->tol_source = TOL_DEFAULT;
    if (lossy != NULL && isfinite(lossy->nmse) && lossy->nmse > bound) {
        const double cap = bound * CONF_TOL_CAP;
        r->tol_source = lossy->nmse > cap ? TOL_CAPPED : TOL_DECLARED;
        bound = lossy->nmse > cap ? cap : lossy->nmse;
    }
    const size_t positions = n_prompt + GEN_TOKENS;
    const double agree_frac = (double)(top1 + (size_t)agree) / (double)positions;
    r->nmse = fmax(worst, gen_worst);
    r->max_abs = max_abs;
    r->max_rel = max_ref > 0 ? max_abs / max_ref : NAN;
    r->tol_nmse = bound;
    r->tol_max_abs = 0;
    if (!finite)
        conf_set(r, CONF_FAIL, "logits contain NaN or Inf");
    else if (!(r->nmse <= bound))
        conf_set(r, CONF_FAIL,
                 "logits NMSE %.3g (prompt position %zu of %zu; generation "
                 "%.3g) exceeds %.0e",
                 worst, worst_at, n_prompt, gen_worst, bound);
    else if (lossy != NULL && agree_frac < TOP1_MIN_LOSSY)
        conf_set(r, CONF_FAIL,
                 "top-1 tokens agree on %zu/%zu positions (%.1f%%, at least %.0f%% needed)",
                 top1 + (size_t)agree, positions, 100.0 * agree_frac, 100.0 * TOP1_MIN_LOSSY);
    else if (lossy == NULL && agree < GEN_MIN_AGREE)
        conf_set(r, CONF_FAIL,
                 "greedy tokens agree on %d/%d steps (at least %d needed; first "
                 "difference at step %d)",
                 agree, GEN_TOKENS, GEN_MIN_AGREE, first_bad + 1);
    else
        conf_set(r, CONF_PASS, "prompt %zu tokens: max NMSE %.2e, mean %.2e; greedy %d/%d agree",
                 n_prompt, worst, sum / (double)n_prompt, agree, GEN_TOKENS);
    conf_note(r, "top-1 agreement %zu/%zu positions (%.1f%%)", top1 + (size_t)agree, positions,
              100.0 * agree_frac);
    if (first_bad >= 0 && r->status == CONF_PASS)
        conf_note(r, "first greedy difference at step %d", first_bad + 1);
    if (partition && r->status == CONF_PASS) {
        /* a second start on the same cache loads every blob */
        side again;
        plmm_part_stats warm = {0};
        conf_step("second engine on the blob cache");
        side_close(&t);
        if (side_open(&again, env->env_path_target, ov_t, nt, path, why, sizeof(why),
                      "second start") != PLMM_OK) {
            conf_set(r, CONF_FAIL, "%s", why);
        } else if (plmm_session_eval(again.session, ids, n_prompt, PLMM_EVAL_ALL_LOGITS) !=
                   PLMM_OK) {
            conf_set(r, CONF_FAIL, "second start: eval: %s", plmm_last_errmsg());
        } else {
            part_stats(&again, &warm);
            if (warm.compiled != 0 || warm.cache_loaded == 0)
                conf_set(r, CONF_FAIL,
                         "second start compiled %llu blob(s) and loaded %llu from the cache "
                         "(expected: all loaded)",
                         (unsigned long long)warm.compiled, (unsigned long long)warm.cache_loaded);
            else
                conf_note(r, "blobs: first start compiled %llu in %.1f ms, second start loaded "
                          "%llu from the cache in %.1f ms",
                          (unsigned long long)cold.compiled, cold.compile_ms,
                          (unsigned long long)warm.cache_loaded, warm.load_ms);
        }
        side_close(&again);
    }
    if (missing[0])
        conf_note(r, "%s weights ran on the cpu backend (not declared)", missing);
    if (partition)
        conf_note(r, "ops it does not claim ran on the cpu backend listed after it");
out:
    conf_step("close the engines");
    free(ref_logits);
    side_close(&t);
    side_close(&ref);
    if (cache_dir[0])
        remove_dir(cache_dir);
}

void conf_e2e_cases(const conf_env *env, conf_case_list *l)
{
    const uint32_t want = env->profile.weight_dtype;
    for (size_t i = 0; i < N_MODELS; i++) {
        const e2e_model *m = &models[i];
        if (want != PLMM_DTYPE_COUNT && m->dtype != want)
            continue;
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || (strcmp(models[k].file, m->file) == 0 &&
                          (want == PLMM_DTYPE_COUNT || models[k].dtype == want));
        if (dup)
            continue;
        if (m->optional) {
            char path[PATH_MAX + 64];
            struct stat st;
            snprintf(path, sizeof(path), "%s/models/%s",
                     env->shared_dir != NULL ? env->shared_dir : ".", m->file);
            if (env->shared_dir == NULL || stat(path, &st) != 0)
                continue;
        }
        char name[96], base[80];
        snprintf(base, sizeof(base), "%s", m->file);
        char *dot = strstr(base, ".gguf");
        if (dot != NULL)
            *dot = '\0';
        snprintf(name, sizeof(name), "e2e.%s", base);
        conf_case *c = conf_case_add(l, "e2e", name, run_e2e);
        if (c == NULL)
            return;
        c->index = (int32_t)i;
        c->timeout_mul = 4.0;
        snprintf(c->dtype, sizeof(c->dtype), "%s", plmm_dtype_name(m->dtype));
        snprintf(c->shape, sizeof(c->shape), "prompt + %d greedy, kv %s", GEN_TOKENS,
                 m->kv_f32 ? "f32" : "f16");
    }
}
