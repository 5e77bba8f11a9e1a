/*
 * plmm bench: prefill and decode speed of a model, llama-bench style.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_N_PROMPT = OPT_CMD_START,
    OPT_N_DECODE,
    OPT_REPS,
    OPT_JSON,
};

static const cli_opt bench_opts[] = {
    {OPT_N_PROMPT, 'p', "n-prompt", "N", "prompt tokens evaluated as one batch (128)"},
    {OPT_N_DECODE, 'n', "n-decode", "N", "tokens evaluated one at a time (64)"},
    {OPT_REPS, 'r', "repetitions", "R", "measured repetitions after one warm-up (3)"},
    {OPT_JSON, 0, "json", NULL, "print one JSON object instead of text"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_bench_desc = {
    .name = "bench",
    .summary = "Measure prefill and decode speed.",
    .synopsis = "[-p N] [-n N] [-r R] [--json] [-m MODEL] [-t N] [--backends LIST]",
    .details = "Each repetition starts from an empty context, evaluates N prompt tokens in\n"
               "one call (prefill), then N decode tokens one by one. The tokens are the\n"
               "model's tokenization of a fixed English text, repeated (BOS first when the\n"
               "model has one). One warm-up run precedes the measured ones. Results are the\n"
               "mean and standard deviation of the per-repetition tokens per second.",
    .opts = bench_opts,
    .needs_model = true,
};

static const char bench_text[] =
    "Once upon a time, in a small town by the sea, there lived an old fisherman who told "
    "stories to the children every evening. He spoke of storms and whales, of lost ships and "
    "bright islands far away, and the children listened until the stars came out.";

/* Fill ids[0..n) with the tokens of bench_text, cycled; random valid ids
 * from a fixed seed when the text yields no tokens. */
static int make_tokens(const plmm_model *model, uint32_t n_vocab, int32_t *ids, size_t n)
{
    int32_t *text_ids = NULL;
    size_t n_text = 0, i = 0;
    int code = cli_tokenize(model, bench_text, sizeof(bench_text) - 1, 0, &text_ids, &n_text);
    if (code != CLI_EXIT_OK)
        return code;
    int32_t bos = plmm_token_bos(model);
    if (n > 0 && bos >= 0)
        ids[i++] = bos;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t k = 0; i < n; i++, k++) {
        if (n_text > 0) {
            ids[i] = text_ids[k % n_text];
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ids[i] = (int32_t)(x % n_vocab);
        }
    }
    free(text_ids);
    return CLI_EXIT_OK;
}

/* One run: reset, prefill n_prompt tokens, decode n_decode tokens. */
static int run_once(plmm_session *s, const int32_t *ids, size_t n_prompt, size_t n_decode,
                    double *prefill_ms, double *decode_ms)
{
    plmm_status st;
    plmm_session_reset(s);
    double t0 = cli_now_ms();
    if (n_prompt > 0 && (st = plmm_session_eval(s, ids, n_prompt, 0)) != PLMM_OK)
        return cli_api_error(st);
    double t1 = cli_now_ms();
    for (size_t i = 0; i < n_decode; i++)
        if ((st = plmm_session_eval(s, &ids[n_prompt + i], 1, 0)) != PLMM_OK)
            return cli_api_error(st);
    double t2 = cli_now_ms();
    *prefill_ms = t1 - t0;
    *decode_ms = t2 - t1;
    return CLI_EXIT_OK;
}

typedef struct stats {
    double mean, stddev;
} stats;

static stats compute_stats(const double *v, size_t n)
{
    stats s = {0, 0};
    if (n == 0)
        return s;
    for (size_t i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= (double)n;
    if (n > 1) {
        double ss = 0;
        for (size_t i = 0; i < n; i++)
            ss += (v[i] - s.mean) * (v[i] - s.mean);
        s.stddev = sqrt(ss / (double)(n - 1));
    }
    return s;
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void json_runs(const char *key, const double *v, size_t n)
{
    printf(", \"%s\": [", key);
    for (size_t i = 0; i < n; i++)
        printf(i > 0 ? ", %.3f" : "%.3f", v[i]);
    putchar(']');
}

typedef struct bench_result {
    const plmm_model_desc *desc;
    const char *threads, *backends;
    size_t n_prompt, n_decode, reps;
    const double *pp, *tg; /* (reps) tokens per second */
} bench_result;

static void print_json(const bench_result *b)
{
    stats pp = compute_stats(b->pp, b->reps), tg = compute_stats(b->tg, b->reps);
    printf("{\"model\": ");
    json_string(b->desc->name);
    printf(", \"arch\": ");
    json_string(b->desc->arch);
    printf(", \"n_params\": %llu, \"file_size\": %llu, \"threads\": ",
           (unsigned long long)b->desc->n_params, (unsigned long long)b->desc->file_size);
    json_string(b->threads != NULL ? b->threads : "default");
    printf(", \"backends\": ");
    json_string(b->backends != NULL ? b->backends : "default");
    printf(", \"n_prompt\": %zu, \"n_decode\": %zu, \"repetitions\": %zu", b->n_prompt, b->n_decode,
           b->reps);
    printf(", \"prefill_tok_s\": {\"mean\": %.3f, \"stddev\": %.3f}", pp.mean, pp.stddev);
    printf(", \"decode_tok_s\": {\"mean\": %.3f, \"stddev\": %.3f}", tg.mean, tg.stddev);
    json_runs("prefill_runs", b->pp, b->reps);
    json_runs("decode_runs", b->tg, b->reps);
    printf("}\n");
}

static void print_text(const bench_result *b)
{
    stats pp = compute_stats(b->pp, b->reps), tg = compute_stats(b->tg, b->reps);
    printf("model: %s (%s, %.2fM params, %.1f MiB)\n", b->desc->name, b->desc->arch,
           (double)b->desc->n_params / 1e6, (double)b->desc->file_size / 1048576.0);
    printf("threads: %s | backends: %s | repetitions: %zu\n",
           b->threads != NULL ? b->threads : "default",
           b->backends != NULL ? b->backends : "default", b->reps);
    if (b->n_prompt > 0)
        printf("prefill pp%-5zu %10.2f ± %.2f tok/s\n", b->n_prompt, pp.mean, pp.stddev);
    if (b->n_decode > 0)
        printf("decode  tg%-5zu %10.2f ± %.2f tok/s\n", b->n_decode, tg.mean, tg.stddev);
}

int cmd_bench(int argc, char **argv)
{
    const cli_command *cmd = &cmd_bench_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int64_t n_prompt = 128, n_decode = 64, reps = 3;
    bool json = false;
    int r, code = CLI_EXIT_USAGE;
    int32_t *ids = NULL;
    double *pp = NULL, *tg = NULL;
    plmm_model_desc desc;

    cli_ctx_init(&x, cmd, argc, argv);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        bool ok = true;
        switch (o->id) {
        case OPT_N_PROMPT:
            ok = cli_parse_i64(cmd, o, v, 0, 1 << 24, &n_prompt);
            break;
        case OPT_N_DECODE:
            ok = cli_parse_i64(cmd, o, v, 0, 1 << 24, &n_decode);
            break;
        case OPT_REPS:
            ok = cli_parse_i64(cmd, o, v, 1, 100000, &reps);
            break;
        case OPT_JSON:
            json = true;
            break;
        }
        if (!ok)
            goto out;
    }
    if (r < 0)
        goto out;
    if (n_prompt + n_decode == 0) {
        code = cli_usage_error(cmd, "nothing to measure: -p and -n are both 0");
        goto out;
    }
    code = cli_open_model(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_describe_model(x.model, &desc);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_session(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    size_t total = (size_t)(n_prompt + n_decode);
    if (total > plmm_session_n_ctx(x.session)) {
        code = cli_error("%zu tokens do not fit the context of %u (use --ctx)", total,
                         (unsigned)plmm_session_n_ctx(x.session));
        goto out;
    }
    ids = malloc(total * sizeof(*ids));
    pp = calloc((size_t)reps, sizeof(*pp));
    tg = calloc((size_t)reps, sizeof(*tg));
    if (ids == NULL || pp == NULL || tg == NULL) {
        code = cli_error("out of memory");
        goto out;
    }
    code = make_tokens(x.model, desc.n_vocab, ids, total);
    if (code != CLI_EXIT_OK)
        goto out;

    double ms_pp, ms_tg;
    code = run_once(x.session, ids, (size_t)n_prompt, (size_t)n_decode, &ms_pp, &ms_tg);
    for (int64_t i = 0; i < reps && code == CLI_EXIT_OK; i++) {
        code = run_once(x.session, ids, (size_t)n_prompt, (size_t)n_decode, &ms_pp, &ms_tg);
        pp[i] = ms_pp > 0 ? (double)n_prompt * 1000.0 / ms_pp : 0.0;
        tg[i] = ms_tg > 0 ? (double)n_decode * 1000.0 / ms_tg : 0.0;
    }
    if (code != CLI_EXIT_OK)
        goto out;
    if (desc.name[0] == '\0') {
        const char *path = x.common.model_path != NULL ? x.common.model_path : "?";
        const char *slash = strrchr(path, '/');
        snprintf(desc.name, sizeof(desc.name), "%s", slash != NULL ? slash + 1 : path);
    }
    const cli_common *c = &x.common;
    bench_result b = {&desc,        c->threads, c->backends, (size_t)n_prompt, (size_t)n_decode,
                      (size_t)reps, pp,         tg};
    if (json)
        print_json(&b);
    else
        print_text(&b);
    if (fflush(stdout) != 0)
        code = cli_error("cannot write to stdout");
out:
    free(tg);
    free(pp);
    free(ids);
    cli_ctx_close(&x);
    return code;
}
