/*
 * plmm experts: the expert plugins found and the configured experts:
 * enabled or not, connector kind, share policy, price, budget, and why an
 * expert failed to load.
 */
#include "cli.h"

#include <stdio.h>

const cli_command cmd_experts_desc = {
    .name = "experts",
    .summary = "List expert plugins and the configured experts with their status.",
    .synopsis = "[-c FILE.ini]",
    .details = "Configured experts are the [expert.NAME] sections of the configuration\n"
               "(docs/experts.md). No model is loaded and no E-model is contacted.",
    .opts = NULL,
    .needs_model = false,
};

int cmd_experts(int argc, char **argv)
{
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE;
    char *report = NULL;

    cli_ctx_init(&x, &cmd_experts_desc, argc, argv);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0)
        continue; /* no options of its own */
    if (r < 0)
        goto out;
    if ((code = cli_open_engine(&x)) != CLI_EXIT_OK)
        goto out;
    plmm_status st = plmm_engine_experts_report(x.engine, &report);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    fputs(report, stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        code = cli_error("cannot write to stdout");
out:
    plmm_free(report);
    cli_ctx_close(&x);
    return code;
}
