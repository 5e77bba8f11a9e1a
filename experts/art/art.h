/* The art expert's context and its answer check (art_check.c). */
#ifndef PLMM_EXPERT_ART_H
#define PLMM_EXPERT_ART_H

#include "plmm/expert.h"

struct plmm_expert_ctx {
    const plmm_host_api *host;
    bool drift_fails; /* drift to another period/medium fails instead of warning */
    int year_slack;   /* years beyond a period's dates still inside it */
};

/*
 * Checks that an answer stays on the period(s) and medium(s) its question
 * asks about. Periods are art-historical movements and eras (Renaissance,
 * Baroque, Impressionism, ...) and centuries ("17th century", "1600s");
 * media are families of terms (painting, sculpture, printmaking, drawing,
 * photography, ceramics, architecture, mosaic, textile). For each one the
 * question names:
 *  - the answer must mention it (else FAIL);
 *  - a period: when the answer gives two or more years and most fall
 *    outside the period's dates (with slack), FAIL;
 *  - when another period or medium is mentioned more often than the asked
 *    ones together, the answer drifted: WARN (or FAIL with drift = fail).
 * A question naming no period or medium passes.
 */
plmm_status art_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                      plmm_check_result *out);

#endif
