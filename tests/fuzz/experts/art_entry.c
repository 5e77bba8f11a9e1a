/* Runs the art expert's answer check (experts/art/) for fuzz-experts.c. */
#include "art.h"
#include "fuzz_experts.h"

#include <string.h>

plmm_status fuzz_art_check(const plmm_host_api *host, const char *question, const char *answer,
                           plmm_check_result *out)
{
    struct plmm_expert_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.host = host;
    ctx.drift_fails = false;
    ctx.year_slack = 50;
    return art_check(&ctx, question, answer, out);
}
