/*
 * plmm run: generate a continuation of one prompt, streamed to stdout,
 * with a timings line on stderr.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_PROMPT = OPT_COMMON_END,
    OPT_FILE,
    OPT_N_PREDICT,
    OPT_TEMP,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_REPEAT_PENALTY,
    OPT_SEED,
    OPT_IDS,
};

static const cli_opt run_opts[] = {
    {OPT_PROMPT, 'p', "prompt", "TEXT", "prompt text ('-' reads it from stdin)"},
    {OPT_FILE, 'f', "file", "FILE", "read the prompt from FILE"},
    {OPT_N_PREDICT, 'n', "n-predict", "N", "tokens to generate, -1 = until the end (128)"},
    {OPT_TEMP, 0, "temp", "T", "temperature, 0 = greedy ([sampling] temperature)"},
    {OPT_TOP_K, 0, "top-k", "K", "top-k, 0 = off"},
    {OPT_TOP_P, 0, "top-p", "P", "top-p, 1 = off"},
    {OPT_MIN_P, 0, "min-p", "P", "min-p, 0 = off"},
    {OPT_REPEAT_PENALTY, 0, "repeat-penalty", "R", "repetition penalty, 1 = off"},
    {OPT_SEED, 0, "seed", "S", "sampling seed"},
    {OPT_IDS, 0, "ids", NULL, "print the generated token ids instead of text"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_run_desc = {
    .name = "run",
    .summary = "Generate text that continues a prompt.",
    .synopsis = "(-p PROMPT | -f FILE) [-n N] [sampling options] [-m MODEL] [-c FILE.ini]",
    .details = "The prompt is tokenized with the model's BOS token, evaluated, and the\n"
               "continuation is streamed to stdout token by token (not the prompt itself).\n"
               "Generation stops after N tokens, at an end-of-generation token or when the\n"
               "context is full. A timings line goes to stderr. Unset sampling options come\n"
               "from the configuration's [sampling] section. An empty prompt or one that is\n"
               "not valid UTF-8 is an error; -n 0 evaluates the prompt and generates nothing.",
    .opts = run_opts,
    .needs_model = true,
};

typedef struct stream_state {
    bool ids;
    bool write_failed;
    size_t count;
} stream_state;

static bool on_token(void *user, int32_t id, const char *piece, size_t len)
{
    stream_state *s = user;
    int ok;
    if (s->ids)
        ok = printf(s->count > 0 ? " %d" : "%d", (int)id) > 0;
    else
        ok = len == 0 || fwrite(piece, 1, len, stdout) == len;
    s->count++;
    if (!ok || fflush(stdout) != 0) {
        s->write_failed = true;
        return false;
    }
    return true;
}

static double rate(uint64_t n, double ms)
{
    return ms > 0 ? (double)n * 1000.0 / ms : 0.0;
}

/* Sampling options given on the command line (others keep the defaults). */
typedef struct sampling_flags {
    plmm_sampling s;
    bool temp, top_k, top_p, min_p, repeat_penalty, seed;
} sampling_flags;

int cmd_run(int argc, char **argv)
{
    const cli_command *cmd = &cmd_run_desc;
    cli_common c;
    cli_parser p;
    const cli_opt *o;
    const char *v;
    const char *prompt_arg = NULL, *file_arg = NULL;
    int64_t n_predict = 128, n;
    sampling_flags sf;
    bool print_ids = false;
    int r, code = CLI_EXIT_USAGE;
    const char *text = NULL;
    size_t text_len = 0, n_ids = 0, n_gen = 0;
    char *owned_text = NULL;
    int32_t *ids = NULL;
    plmm_engine *engine = NULL;
    plmm_model *model = NULL;
    plmm_session *session = NULL;
    plmm_status st;

    memset(&sf, 0, sizeof(sf));
    cli_common_init(&c);
    cli_parser_init(&p, cmd, argc, argv);
    while ((r = cli_next(&p, &o, &v)) > 0) {
        int h = cli_common_opt(&c, cmd, o, v, &code);
        if (h < 0)
            goto out;
        if (h > 0)
            continue;
        bool ok = true;
        switch (o->id) {
        case OPT_PROMPT:
            prompt_arg = v;
            break;
        case OPT_FILE:
            file_arg = v;
            break;
        case OPT_N_PREDICT:
            ok = cli_parse_i64(cmd, o, v, -1, INT32_MAX, &n_predict);
            break;
        case OPT_TEMP:
            ok = sf.temp = cli_parse_float(cmd, o, v, &sf.s.temperature);
            break;
        case OPT_TOP_K:
            ok = sf.top_k = cli_parse_i64(cmd, o, v, 0, INT32_MAX, &n);
            sf.s.top_k = (int32_t)n;
            break;
        case OPT_TOP_P:
            ok = sf.top_p = cli_parse_float(cmd, o, v, &sf.s.top_p);
            break;
        case OPT_MIN_P:
            ok = sf.min_p = cli_parse_float(cmd, o, v, &sf.s.min_p);
            break;
        case OPT_REPEAT_PENALTY:
            ok = sf.repeat_penalty = cli_parse_float(cmd, o, v, &sf.s.repeat_penalty);
            break;
        case OPT_SEED:
            ok = sf.seed = cli_parse_u64(cmd, o, v, &sf.s.seed);
            break;
        case OPT_IDS:
            print_ids = true;
            break;
        }
        if (!ok)
            goto out;
    }
    if (r < 0)
        goto out;
    if ((prompt_arg == NULL) == (file_arg == NULL)) {
        code = cli_usage_error(cmd, prompt_arg == NULL ? "a prompt is required (-p or -f)"
                                                       : "give either -p or -f, not both");
        goto out;
    }

    code = cli_prompt_text(prompt_arg, file_arg, false, &text, &text_len, &owned_text);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_model(&c, &engine, &model);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_tokenize(model, text, text_len, PLMM_TOKENIZE_ADD_SPECIAL, &ids, &n_ids);
    if (code != CLI_EXIT_OK)
        goto out;
    if (n_ids == 0) {
        code = cli_error("the prompt has no tokens");
        goto out;
    }
    if ((st = plmm_session_create(model, NULL, &session)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }

    plmm_sampling smp;
    plmm_sampling_defaults(engine, &smp);
    smp.struct_size = sizeof(smp);
    if (sf.temp)
        smp.temperature = sf.s.temperature;
    if (sf.top_k)
        smp.top_k = sf.s.top_k;
    if (sf.top_p)
        smp.top_p = sf.s.top_p;
    if (sf.min_p)
        smp.min_p = sf.s.min_p;
    if (sf.repeat_penalty)
        smp.repeat_penalty = sf.s.repeat_penalty;
    if (sf.seed)
        smp.seed = sf.s.seed;
    if ((st = plmm_session_set_sampling(session, &smp)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }

    stream_state ss = {.ids = print_ids};
    st = plmm_session_generate(session, ids, n_ids, (int32_t)n_predict, on_token, &ss, &n_gen);
    if (ss.count > 0 || print_ids)
        fputc('\n', stdout);
    if (ss.write_failed || fflush(stdout) != 0) {
        code = cli_error("cannot write to stdout");
        goto out;
    }
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }

    plmm_timings t;
    memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(t);
    if ((st = plmm_session_timings(session, &t)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    fprintf(stderr, "load %.1f ms | prompt %llu tok, %.1f tok/s | decode %llu tok, %.1f tok/s\n",
            t.load_ms, (unsigned long long)t.n_prompt, rate(t.n_prompt, t.prompt_ms),
            (unsigned long long)t.n_decode, rate(t.n_decode, t.decode_ms));
    code = CLI_EXIT_OK;
out:
    plmm_session_free(session);
    plmm_model_free(model);
    plmm_engine_close(engine);
    free(ids);
    free(owned_text);
    cli_common_free(&c);
    return code;
}
