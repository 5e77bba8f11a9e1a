/*
 * plmm backends: the plugins found, the backends opened and, with --plan,
 * which backend runs which part of a model.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

enum {
    OPT_PLAN = OPT_CMD_START,
    OPT_PLAN_TOKENS,
};

static const cli_opt backends_opts[] = {
    {OPT_PLAN, 0, "plan", NULL, "also load the model and print the scheduling plans"},
    {OPT_PLAN_TOKENS, 0, "plan-tokens", "N", "batch size of the second plan (32)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_backends_desc = {
    .name = "backends",
    .summary = "List backend plugins, opened backends and (--plan) the schedule.",
    .synopsis = "[--plan [--plan-tokens N] [-m MODEL]] [--backends LIST] [-c FILE.ini]",
    .details = "Without --plan no model is loaded. With --plan the model is loaded and the\n"
               "plan (backend per graph node, fallbacks) is printed for a batch of 1 token\n"
               "and for a batch of N tokens.",
    .opts = backends_opts,
    .needs_model = false,
};

static int print_plan(plmm_session *session, uint32_t n_tokens)
{
    char *plan = NULL;
    plmm_status st = plmm_session_plan(session, n_tokens, &plan);
    if (st != PLMM_OK)
        return cli_api_error(st);
    printf("\nplan for a batch of %u token%s:\n%s", (unsigned)n_tokens, n_tokens == 1 ? "" : "s",
           plan);
    plmm_free(plan);
    return CLI_EXIT_OK;
}

int cmd_backends(int argc, char **argv)
{
    const cli_command *cmd = &cmd_backends_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    bool plan = false;
    int64_t plan_tokens = 32;
    int r, code = CLI_EXIT_USAGE;
    char *report = NULL;
    plmm_status st;

    cli_ctx_init(&x, cmd, argc, argv);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        switch (o->id) {
        case OPT_PLAN:
            plan = true;
            break;
        case OPT_PLAN_TOKENS:
            if (!cli_parse_i64(cmd, o, v, 1, UINT32_MAX, &plan_tokens))
                goto out;
            break;
        }
    }
    if (r < 0)
        goto out;
    code = plan ? cli_open_model(&x) : cli_open_engine(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    if ((st = plmm_engine_backends_report(x.engine, &report)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    fputs(report, stdout);
    if (plan) {
        code = cli_open_session(&x);
        if (code == CLI_EXIT_OK)
            code = print_plan(x.session, 1);
        if (code == CLI_EXIT_OK)
            code = print_plan(x.session, (uint32_t)plan_tokens);
    }
    if (fflush(stdout) != 0 && code == CLI_EXIT_OK)
        code = cli_error("cannot write to stdout");
out:
    plmm_free(report);
    cli_ctx_close(&x);
    return code;
}
