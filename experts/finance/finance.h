/* The finance expert's context and its answer check (finance_check.c). */
#ifndef PLMM_EXPERT_FINANCE_H
#define PLMM_EXPERT_FINANCE_H

#include "plmm/expert.h"

typedef enum finance_disclaimer {
    FINANCE_DISCLAIMER_REQUIRED = 0,
    FINANCE_DISCLAIMER_WARN = 1,
    FINANCE_DISCLAIMER_OFF = 2,
} finance_disclaimer;

struct plmm_expert_ctx {
    const plmm_host_api *host;
    finance_disclaimer disclaimer;
    double tolerance; /* relative error allowed in stated calculations */
};

/*
 * Checks that the numbers of an answer agree with each other and that it
 * carries a risk disclaimer:
 *  - stated calculations "a op b [op c ...] = r" (op: + - * x × / ÷, with
 *    currency signs, thousands separators and %) hold within the
 *    tolerance, or within 2% for "≈" / "~";
 *  - "p% of X is Y" statements hold;
 *  - a list of percentages presented as an allocation, split or breakdown
 *    adds up to 100%;
 *  - a disclaimer phrase is present ("not financial advice", "past
 *    performance", "can lose value", ...).
 */
plmm_status finance_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                          plmm_check_result *out);

#endif
