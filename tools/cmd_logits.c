/*
 * plmm logits: evaluate a prompt and dump the logits of every position.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_OUTPUT = OPT_CMD_START,
};

static const cli_opt logits_opts[] = {
    {OPT_PROMPT, 'p', "prompt", "TEXT", "prompt text ('-' reads it from stdin)"},
    {OPT_FILE, 'f', "file", "FILE", "read the prompt from FILE"},
    {OPT_OUTPUT, 'o', "output", "FILE", "where to write the logits ('-' = stdout)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_logits_desc = {
    .name = "logits",
    .summary = "Evaluate a prompt and write the logits of every position.",
    .synopsis = "(-p TEXT | -f FILE) -o FILE [-m MODEL] [-c FILE.ini]",
    .details = "The prompt is tokenized with the model's BOS token and evaluated in one go.\n"
               "FILE receives float32 little-endian values, [n_tokens][n_vocab] row-major:\n"
               "row i holds the logits after token i. n_tokens and n_vocab go to stderr.",
    .opts = logits_opts,
    .needs_model = true,
};

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Write n floats as little-endian float32. */
static bool write_row_le(FILE *f, const float *row, size_t n, uint8_t *scratch)
{
    if (host_is_little_endian())
        return fwrite(row, sizeof(float), n, f) == n;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &row[i], 4);
        scratch[4 * i + 0] = (uint8_t)u;
        scratch[4 * i + 1] = (uint8_t)(u >> 8);
        scratch[4 * i + 2] = (uint8_t)(u >> 16);
        scratch[4 * i + 3] = (uint8_t)(u >> 24);
    }
    return fwrite(scratch, 4, n, f) == n;
}

static int write_logits(const plmm_session *session, const char *path, size_t n_rows,
                        size_t n_vocab)
{
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "wb");
    uint8_t *scratch = NULL;
    int code = CLI_EXIT_OK;
    plmm_status st;

    if (f == NULL)
        return cli_error("cannot create '%s': %s", path, strerror(errno));
    if (!host_is_little_endian() && (scratch = malloc(n_vocab * 4)) == NULL) {
        code = cli_error("out of memory");
        goto out_close;
    }
    for (size_t i = 0; i < n_rows; i++) {
        const float *row = NULL;
        if ((st = plmm_session_logits(session, i, &row)) != PLMM_OK) {
            code = cli_api_error(st);
            goto out_close;
        }
        if (!write_row_le(f, row, n_vocab, scratch)) {
            code = cli_error("cannot write '%s': %s", path, strerror(errno));
            goto out_close;
        }
    }
out_close:
    free(scratch);
    if (to_stdout) {
        if (fflush(stdout) != 0 && code == CLI_EXIT_OK)
            code = cli_error("cannot write to stdout: %s", strerror(errno));
    } else {
        if (fclose(f) != 0 && code == CLI_EXIT_OK)
            code = cli_error("cannot write '%s': %s", path, strerror(errno));
        if (code != CLI_EXIT_OK)
            remove(path);
    }
    return code;
}

int cmd_logits(int argc, char **argv)
{
    const cli_command *cmd = &cmd_logits_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    const char *out_path = NULL;
    cli_prompt pr;
    int r, code = CLI_EXIT_USAGE;
    plmm_model_desc desc;
    plmm_status st;

    memset(&pr, 0, sizeof(pr));
    cli_ctx_init(&x, cmd, argc, argv);
    x.prompt = &pr;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        if (o->id == OPT_OUTPUT)
            out_path = v;
    }
    if (r < 0)
        goto out;
    code = cli_prompt_args(cmd, &pr, "prompt");
    if (code != CLI_EXIT_OK)
        goto out;
    if (out_path == NULL || out_path[0] == '\0') {
        code = cli_usage_error(cmd, "an output file is required (-o FILE)");
        goto out;
    }
    code = cli_open_prompt(&x, &pr, false, PLMM_TOKENIZE_ADD_SPECIAL);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_describe_model(x.model, &desc);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_session(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    if ((st = plmm_session_eval(x.session, pr.ids, pr.n_ids, PLMM_EVAL_ALL_LOGITS)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    code = write_logits(x.session, out_path, pr.n_ids, desc.n_vocab);
    if (code == CLI_EXIT_OK)
        fprintf(stderr, "n_tokens %zu n_vocab %u\n", pr.n_ids, (unsigned)desc.n_vocab);
out:
    cli_prompt_free(&pr);
    cli_ctx_close(&x);
    return code;
}
