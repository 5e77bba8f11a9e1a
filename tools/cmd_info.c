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
    const cli_command *cmd = &cmd_info_desc;
    cli_common c;
    cli_parser p;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE;
    plmm_engine *engine = NULL;
    plmm_model *model = NULL;
    char *report = NULL;
    plmm_status st;

    cli_common_init(&c);
    cli_parser_init(&p, cmd, argc, argv);
    while ((r = cli_next(&p, &o, &v)) > 0) {
        if (cli_common_opt(&c, cmd, o, v, &code) < 0)
            goto out;
    }
    if (r < 0)
        goto out;
    code = cli_open_model(&c, &engine, &model);
    if (code != CLI_EXIT_OK)
        goto out;
    if ((st = plmm_model_info(model, (uint32_t)c.ctx, &report)) != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    fputs(report, stdout);
    if (fflush(stdout) != 0 || ferror(stdout))
        code = cli_error("cannot write to stdout");
out:
    plmm_free(report);
    plmm_model_free(model);
    plmm_engine_close(engine);
    cli_common_free(&c);
    return code;
}
