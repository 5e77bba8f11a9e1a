/*
 * plmm info: what a model file holds (metadata, tensors, memory needed).
 */
#include "cli.h"

#include <stdio.h>

const cli_command cmd_info_desc = {
    .name = "info",
    .summary = "Describe a model: metadata, tensor table and memory needed.",
    .synopsis = "[-m MODEL] [--ctx N] [-c FILE.ini]",
    .details = "The memory estimate is for a session of --ctx positions ([engine] context\n"
               "when not given).",
    .opts = NULL,
    .needs_model = true,
};

int cmd_info(int argc, char **argv)
{
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE;
    char *report = NULL;
    plmm_status st;

    cli_ctx_init(&x, &cmd_info_desc, argc, argv);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0)
        continue; /* info has no options of its own */
    if (r < 0)
        goto out;
    code = cli_open_model(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    if ((st = plmm_model_info(x.model, (uint32_t)x.common.ctx, &report)) != PLMM_OK) {
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
