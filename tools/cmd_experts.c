/*
 * plmm experts: the expert plugins found and the configured experts:
 * enabled or not, connector kind, share policy, price, budget, and why an
 * expert failed to load; then the T-model.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

const cli_command cmd_experts_desc = {
    .name = "experts",
    .summary = "List expert plugins and the configured experts with their status.",
    .synopsis = "[-c FILE.ini]",
    .details = "Configured experts are the [expert.NAME] sections of the configuration\n"
               "(docs/experts.md). No model is loaded and no E-model is contacted.",
    .opts = NULL,
    .needs_model = false,
};

/* The T-model's line: the router's last resort before the P-model. */
static void print_tmodel(const plmm_engine *engine)
{
    const char *kind = NULL, *enabled = "true", *share = "pseudonymized", *where = NULL;
    if (plmm_engine_config_get(engine, "tmodel.connector", &kind) != PLMM_OK) {
        printf("T-model: not configured (add a [tmodel] section)\n");
        return;
    }
    /* both have schema defaults, so they are always found */
    if (plmm_engine_config_get(engine, "tmodel.enabled", &enabled) != PLMM_OK)
        enabled = "true";
    if (plmm_engine_config_get(engine, "tmodel.share", &share) != PLMM_OK)
        share = "pseudonymized";
    if (plmm_engine_config_get(engine,
                               strcmp(kind, "openai") == 0 ? "tmodel.endpoint" : "tmodel.model",
                               &where) != PLMM_OK &&
        plmm_engine_config_get(engine, "tmodel.lora", &where) != PLMM_OK)
        where = "";
    printf("T-model: %s, connector %s %s, share %s\n",
           strcmp(enabled, "true") == 0 ? "enabled" : "disabled", kind, where, share);
}

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
    print_tmodel(x.engine);
    if (fflush(stdout) != 0 || ferror(stdout))
        code = cli_error("cannot write to stdout");
out:
    plmm_free(report);
    cli_ctx_close(&x);
    return code;
}
