/*
 * plmm logits: evaluate a prompt and dump the logits of every position.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_PROMPT = OPT_COMMON_END,
    OPT_FILE,
    OPT_OUTPUT,
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
    cli_common c;
    cli_parser p;
    const cli_opt *o;
    const char *v;
    const char *prompt_arg = NULL, *file_arg = NULL, *out_path = NULL;
    int r, code = CLI_EXIT_USAGE;
    const char *text = NULL;
    size_t text_len = 0, n_ids = 0;
    char *owned_text = NULL;
    int32_t *ids = NULL;
    plmm_engine *engine = NULL;
    plmm_model *model = NULL;
    plmm_session *session = NULL;
    plmm_model_desc desc;
    plmm_status st;

    cli_common_init(&c);
    cli_parser_init(&p, cmd, argc, argv);
    while ((r = cli_next(&p, &o, &v)) > 0) {
        int h = cli_common_opt(&c, cmd, o, v, &code);
        if (h < 0)
            goto out;
        if (h > 0)
            continue;
        switch (o->id) {
        case OPT_PROMPT:
            prompt_arg = v;
            break;
        case OPT_FILE:
            file_arg = v;
            break;
        case OPT_OUTPUT:
            out_path = v;
            break;
        }
    }
    if (r < 0)
        goto out;
    if ((prompt_arg == NULL) == (file_arg == NULL)) {
        code = cli_usage_error(cmd, prompt_arg == NULL ? "a prompt is required (-p or -f)"
                                                       : "give either -p or -f, not both");
        goto out;
    }
    if (out_path == NULL || out_path[0] == '\0') {
        code = cli_usage_error(cmd, "an output file is required (-o FILE)");
        goto out;
    }
    code = cli_prompt_text(prompt_arg, file_arg, false, &text, &text_len, &owned_text);
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_model(&c, &engine, &model);
    if (code != CLI_EXIT_OK)
        goto out;
    memset(&desc, 0, sizeof(desc));
    desc.struct_size = sizeof(desc);
    if ((st = plmm_model_describe(model, &desc)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    code = cli_tokenize(model, text, text_len, PLMM_TOKENIZE_ADD_SPECIAL, &ids, &n_ids);
    if (code != CLI_EXIT_OK)
        goto out;
    if (n_ids == 0) {
        code = cli_error("the prompt has no tokens");
        goto out;
    }
    if ((st = plmm_session_create(model, NULL, &session)) != PLMM_OK ||
        (st = plmm_session_eval(session, ids, n_ids, PLMM_EVAL_ALL_LOGITS)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    code = write_logits(session, out_path, n_ids, desc.n_vocab);
    if (code == CLI_EXIT_OK)
        fprintf(stderr, "n_tokens %zu n_vocab %u\n", n_ids, (unsigned)desc.n_vocab);
out:
    plmm_session_free(session);
    plmm_model_free(model);
    plmm_engine_close(engine);
    free(ids);
    free(owned_text);
    cli_common_free(&c);
    return code;
}
