/*
 * plmm ask: one question, answered by whoever the router picks (the
 * P-model, an expert's E-model or the T-model), streamed, then a line
 * naming who answered; --explain prints the decision and its scores.
 */
#include "cli.h"
#include "plmm/ask.h"
#include "privacy_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_EXPLAIN = OPT_CMD_START,
};

static const cli_opt ask_opts[] = {
    {OPT_EXPLAIN, 0, "explain", NULL,
     "after the answer, print the decision: expert scores and signals, the P-model's "
     "confidence, thresholds, fallbacks"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_ask_desc = {
    .name = "ask",
    .summary = "Answer a question with the P-model, an expert or the T-model, as routed.",
    .synopsis = "[--explain] [-c FILE.ini] [-m MODEL] QUESTION...",
    .details = "The words of QUESTION are joined with spaces (\"-\" reads it from stdin).\n"
               "Experts come from [expert.NAME] sections, the T-model from [tmodel], the\n"
               "thresholds from [router] (docs/experts.md). The answer is streamed to stdout,\n"
               "then a line 'answered by: local P-model | expert NAME | T-model'; notices\n"
               "(fallbacks, failed answer checks) go to stderr.",
    .opts = ask_opts,
    .needs_model = true,
};

static bool on_piece(void *user, const char *piece, size_t len)
{
    (void)user;
    return fwrite(piece, 1, len, stdout) == len && fflush(stdout) == 0;
}

/* The question: the positional words joined with spaces, or stdin for "-". */
static int read_question(const char **words, int n, char **out)
{
    if (n == 1 && strcmp(words[0], "-") == 0) {
        size_t len = 0;
        int code = cli_read_file("-", out, &len);
        while (code == CLI_EXIT_OK && len > 0 &&
               ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
            (*out)[--len] = '\0'; /* the line end of the last line is not part of it */
        return code;
    }
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    char *q = malloc(len);
    if (q == NULL)
        return cli_error("out of memory");
    q[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i > 0)
            strcat(q, " ");
        strcat(q, words[i]);
    }
    *out = q;
    return CLI_EXIT_OK;
}

int cmd_ask(int argc, char **argv)
{
    const cli_command *cmd = &cmd_ask_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    const char *words[256];
    int n_words = 0;
    bool explain = false;
    int r, code;
    char *question = NULL;
    plmm_router *router = NULL;
    plmm_ask_result res = {.struct_size = sizeof(res)};

    code = cli_take_positional(cmd, &argc, argv, words, 256, &n_words);
    cli_ctx_init(&x, cmd, argc, argv);
    if (code != CLI_EXIT_OK)
        goto out;
    code = CLI_EXIT_USAGE;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        if (o->id == OPT_EXPLAIN)
            explain = true;
    }
    if (r < 0)
        goto out;
    if (n_words == 0) {
        code = cli_usage_error(cmd, "no question given");
        goto out;
    }
    if ((code = read_question(words, n_words, &question)) != CLI_EXIT_OK)
        goto out;
    if (question[strspn(question, " \t\r\n")] == '\0') {
        code = cli_usage_error(cmd, "the question is empty");
        goto out;
    }
    if ((code = cli_open_model(&x)) != CLI_EXIT_OK)
        goto out;
    plmm_status st = plmm_router_open(x.engine, x.model, &router);
    if (st == PLMM_OK && plmm_router_wants_vault(router)) {
        /* the ledger is keyed by the vault: open it with the passphrase */
        cli_secret sec = {.env_name = "PLMM_VAULT_PASSPHRASE", .prompt = "vault passphrase: "};
        plmm_vault *vlt = NULL;
        cli_no_core_dumps();
        if ((code = cli_open_vault(&x, NULL, &sec, 0, &vlt)) != CLI_EXIT_OK)
            goto out;
        st = plmm_router_use_vault(router, vlt);
        plmm_vault_close(vlt);
    }
    if (st == PLMM_OK)
        st = plmm_router_ask(router, question, on_piece, NULL, &res);
    if (res.answer != NULL)
        printf("\n");
    if (st != PLMM_OK) {
        if (res.notices != NULL)
            fputs(res.notices, stderr);
        code = cli_api_error(st);
        goto out;
    }
    if (explain) {
        printf("\n%s", res.explain);
    } else {
        fputs(res.notices, stderr);
        if (res.route == PLMM_ROUTE_EXPERT)
            printf("answered by: expert %s\n", res.expert);
        else
            printf("answered by: %s\n", plmm_route_name(res.route));
    }
    code = CLI_EXIT_OK;
    if (fflush(stdout) != 0 || ferror(stdout))
        code = cli_error("cannot write to stdout");
out:
    plmm_ask_result_clear(&res);
    plmm_router_close(router);
    free(question);
    cli_ctx_close(&x);
    return code;
}
