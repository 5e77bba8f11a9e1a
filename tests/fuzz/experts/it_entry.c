/* Runs the it expert's answer check (experts/it/) for fuzz-experts.c. */
#include "fuzz_experts.h"
#include "it.h"

#include <string.h>

plmm_status fuzz_it_check(const plmm_host_api *host, const char *question, const char *answer,
                          plmm_check_result *out)
{
    struct plmm_expert_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.host = host;
    ctx.language_tag = IT_TAG_REQUIRED;
    ctx.check_brackets = true;
    return it_check(&ctx, question, answer, out);
}
