/*
 * plmm run: generate a continuation of one prompt, streamed to stdout,
 * with a timings line on stderr.
 */
#include "cli.h"

#include "plmm/lora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_N_PREDICT = OPT_CMD_START,
    OPT_IDS,
    OPT_LORA,
    OPT_LORA_SCALE,
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
    {OPT_LORA, 0, "lora", "FILE", "apply a GGUF LoRA adapter to the model"},
    {OPT_LORA_SCALE, 0, "lora-scale", "S", "scale of the adapter (1)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_run_desc = {
    .name = "run",
    .summary = "Generate text that continues a prompt.",
    .synopsis = "(-p PROMPT | -f FILE) [-n N] [sampling options] [--lora FILE [--lora-scale S]]\n"
                "  [-m MODEL] [-c FILE.ini]",
    .details = "The prompt is tokenized with the model's BOS token, evaluated, and the\n"
               "continuation is streamed to stdout token by token (not the prompt itself).\n"
               "Generation stops after N tokens, at an end-of-generation token or when the\n"
               "context is full. A timings line goes to stderr. Unset sampling options come\n"
               "from the configuration's [sampling] section. An empty prompt or one that is\n"
               "not valid UTF-8 is an error; -n 0 evaluates the prompt and generates nothing.\n"
               "--lora adds a LoRA adapter (llama.cpp's convert_lora_to_gguf.py format) to\n"
               "every adapted matmul, scaled by S times its alpha / rank.",
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

int cmd_run(int argc, char **argv)
{
    const cli_command *cmd = &cmd_run_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    cli_prompt pr;
    int64_t n_predict = 128;
    cli_sampling sf;
    bool print_ids = false;
    const char *lora_path = NULL;
    float lora_scale = 1.0f;
    plmm_lora *lora = NULL;
    int r, code = CLI_EXIT_USAGE;
    size_t n_gen = 0;
    plmm_status st;

    memset(&pr, 0, sizeof(pr));
    memset(&sf, 0, sizeof(sf));
    cli_ctx_init(&x, cmd, argc, argv);
    x.prompt = &pr;
    x.sampling = &sf;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        bool ok = true;
        switch (o->id) {
        case OPT_N_PREDICT:
            ok = cli_parse_i64(cmd, o, v, -1, INT32_MAX, &n_predict);
            break;
        case OPT_IDS:
            print_ids = true;
            break;
        case OPT_LORA:
            lora_path = v;
            break;
        case OPT_LORA_SCALE:
            ok = cli_parse_float(cmd, o, v, &lora_scale);
            break;
        }
        if (!ok)
            goto out;
    }
    if (r < 0)
        goto out;
    code = cli_prompt_args(cmd, &pr, "prompt");
    if (code != CLI_EXIT_OK)
        goto out;

    code = cli_open_prompt(&x, &pr, false, PLMM_TOKENIZE_ADD_SPECIAL);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_session(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_set_sampling(&x, &sf);
    if (code != CLI_EXIT_OK)
        goto out;
    if (lora_path != NULL) {
        if ((st = plmm_lora_load(x.model, lora_path, &lora)) != PLMM_OK ||
            (st = plmm_session_set_lora(x.session, lora, lora_scale)) != PLMM_OK) {
            code = cli_api_error(st);
            goto out;
        }
    }

    stream_state ss = {.ids = print_ids};
    st = plmm_session_generate(x.session, pr.ids, pr.n_ids, (int32_t)n_predict, on_token, &ss,
                               &n_gen);
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
    if ((st = plmm_session_timings(x.session, &t)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    fprintf(stderr, "load %.1f ms | prompt %llu tok, %.1f tok/s | decode %llu tok, %.1f tok/s\n",
            t.load_ms, (unsigned long long)t.n_prompt, rate(t.n_prompt, t.prompt_ms),
            (unsigned long long)t.n_decode, rate(t.n_decode, t.decode_ms));
    code = CLI_EXIT_OK;
out:
    cli_prompt_free(&pr);
    cli_ctx_close(&x);
    plmm_lora_free(lora); /* after the session that used it */
    return code;
}
