/*
 * Domain match: how strongly a question points at each expert, from the
 * routing signals the experts declare (lexical part of the router's
 * decision), and the lexical routing rule the router and the routing
 * evaluation (tests/router) share.
 */
#ifndef PLMM_ENGINE_EXPERT_MATCH_H
#define PLMM_ENGINE_EXPERT_MATCH_H

#include "plmm/expert.h"

#define PLMM_MATCH_MAX_HITS 8

/* The lexical score of one text against one expert. */
typedef struct plmm_domain_score {
    float score;     /* sum of the weights of the distinct signals found */
    uint32_t n_hits; /* signals found (all of them, also beyond hits[]) */
    /* the heaviest signals found, heaviest first; borrowed from the
     * descriptor */
    const plmm_routing_signal *hits[PLMM_MATCH_MAX_HITS];
} plmm_domain_score;

/* Score text (UTF-8, len bytes) against an expert's signals. Normalizes the
 * text once per call (plmm_sdk_text_normalize); PLMM_ERR_NOMEM only. */
PLMM_NODISCARD plmm_status plmm_expert_match(const plmm_expert_desc *desc, const char *text,
                                             size_t len, plmm_domain_score *out)
    PLMM_NONNULL(1, 2, 4);

/* The same on text normalized already (several experts, one question). */
void plmm_expert_match_normalized(const plmm_expert_desc *desc, const char *norm,
                                  plmm_domain_score *out) PLMM_NONNULL(1, 2, 3);

/* Thresholds of the lexical rule. */
typedef struct plmm_match_rule {
    float min_score; /* the best expert needs at least this score */
    float margin;    /* and must lead the runner-up by at least this much */
} plmm_match_rule;

/* Defaults measured on tests/router/questions.tsv (docs/experts.md). */
#define PLMM_MATCH_MIN_SCORE 2.0f
#define PLMM_MATCH_MARGIN 0.5f

/* Index of the expert the rule picks among n scores, or -1 for none (the
 * question stays with the P-model or goes to the T-model). */
int plmm_match_pick(const plmm_domain_score *scores, uint32_t n, const plmm_match_rule *rule)
    PLMM_NONNULL(1, 3);

#endif
