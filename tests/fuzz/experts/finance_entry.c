/* Runs the finance expert's answer check (experts/finance/) for fuzz-experts.c. */
#include "finance.h"
#include "fuzz_experts.h"

#include <string.h>

plmm_status fuzz_finance_check(const plmm_host_api *host, const char *question, const char *answer,
                               plmm_check_result *out)
{
    struct plmm_expert_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.host = host;
    ctx.disclaimer = FINANCE_DISCLAIMER_REQUIRED;
    ctx.tolerance = 0.01;
    return finance_check(&ctx, question, answer, out);
}
