/*
 * plmm tokenize: show how the model's tokenizer splits a text.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_IDS = OPT_CMD_START,
    OPT_NO_SPECIAL,
    OPT_PARSE_SPECIAL,
};

static const cli_opt tokenize_opts[] = {
    {OPT_PROMPT, 'p', "prompt", "TEXT", "text to tokenize ('-' reads it from stdin)"},
    {OPT_FILE, 'f', "file", "FILE", "read the text from FILE"},
    {OPT_IDS, 0, "ids", NULL, "print only the ids, as a list: [1, 2, 3]"},
    {OPT_NO_SPECIAL, 0, "no-special", NULL, "do not add BOS/EOS tokens"},
    {OPT_PARSE_SPECIAL, 0, "parse-special", NULL, "match special-token text like <|im_start|>"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_tokenize_desc = {
    .name = "tokenize",
    .summary = "Split a text into the model's tokens.",
    .synopsis = "(-p TEXT | -f FILE) [--ids] [--no-special] [--parse-special] [-m MODEL]",
    .details = "Prints one 'ID -> 'PIECE'' line per token, or with --ids the ids as a\n"
               "list. BOS/EOS are added as the model says unless --no-special is given.\n"
               "An empty text is allowed; text that is not valid UTF-8 is an error.",
    .opts = tokenize_opts,
    .needs_model = true,
};

/* Print "    ID -> 'PIECE'" (the piece's bytes as they are). */
static int print_piece_line(const plmm_model *model, int32_t id, char **buf, size_t *cap)
{
    size_t need = 0;
    plmm_status st = plmm_token_piece(model, id, *buf, *cap, &need);
    if (st == PLMM_ERR_RANGE && need > *cap) {
        char *nb = realloc(*buf, need);
        if (nb == NULL)
            return cli_error("out of memory");
        *buf = nb;
        *cap = need;
        st = plmm_token_piece(model, id, *buf, *cap, &need);
    }
    if (st != PLMM_OK)
        return cli_api_error(st);
    printf("%6d -> '", (int)id);
    fwrite(*buf, 1, need, stdout);
    fputs("'\n", stdout);
    return CLI_EXIT_OK;
}

int cmd_tokenize(int argc, char **argv)
{
    const cli_command *cmd = &cmd_tokenize_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    cli_prompt pr;
    bool only_ids = false;
    uint32_t flags = PLMM_TOKENIZE_ADD_SPECIAL;
    int r, code = CLI_EXIT_USAGE;
    char *piece = NULL;
    size_t piece_cap = 64;

    memset(&pr, 0, sizeof(pr));
    cli_ctx_init(&x, cmd, argc, argv);
    x.prompt = &pr;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        switch (o->id) {
        case OPT_IDS:
            only_ids = true;
            break;
        case OPT_NO_SPECIAL:
            flags &= ~PLMM_TOKENIZE_ADD_SPECIAL;
            break;
        case OPT_PARSE_SPECIAL:
            flags |= PLMM_TOKENIZE_PARSE_SPECIAL;
            break;
        }
    }
    if (r < 0)
        goto out;
    code = cli_prompt_args(cmd, &pr, "text");
    if (code != CLI_EXIT_OK)
        goto out;
    code = cli_open_prompt(&x, &pr, true, flags);
    if (code != CLI_EXIT_OK)
        goto out;

    if (only_ids) {
        putchar('[');
        for (size_t i = 0; i < pr.n_ids; i++)
            printf(i > 0 ? ", %d" : "%d", (int)pr.ids[i]);
        puts("]");
    } else {
        piece = malloc(piece_cap);
        if (piece == NULL) {
            code = cli_error("out of memory");
            goto out;
        }
        for (size_t i = 0; i < pr.n_ids && code == CLI_EXIT_OK; i++)
            code = print_piece_line(x.model, pr.ids[i], &piece, &piece_cap);
        if (code != CLI_EXIT_OK)
            goto out;
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        code = cli_error("cannot write to stdout");
out:
    free(piece);
    cli_prompt_free(&pr);
    cli_ctx_close(&x);
    return code;
}
