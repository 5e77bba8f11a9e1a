/*
 * Domain match: the lexical score of a question against each expert's
 * routing signals, and the rule that picks an expert from the scores.
 */
#include "expert_match.h"

#include "errors.h"
#include "plmm_sdk_text.h"

#include <stdlib.h>
#include <string.h>

void plmm_expert_match_normalized(const plmm_expert_desc *desc, const char *norm,
                                  plmm_domain_score *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < desc->n_signals; i++) {
        const plmm_routing_signal *sg = &desc->signals[i];
        if (!plmm_sdk_phrase_in(norm, sg->phrase))
            continue;
        out->score += sg->weight;
        out->n_hits++;
        /* keep the heaviest hits, in order */
        uint32_t n = out->n_hits < PLMM_MATCH_MAX_HITS ? out->n_hits : PLMM_MATCH_MAX_HITS;
        uint32_t at = n - 1;
        if (out->n_hits > PLMM_MATCH_MAX_HITS && sg->weight <= out->hits[at]->weight)
            continue;
        while (at > 0 && out->hits[at - 1]->weight < sg->weight) {
            out->hits[at] = out->hits[at - 1];
            at--;
        }
        out->hits[at] = sg;
    }
}

plmm_status plmm_expert_match(const plmm_expert_desc *desc, const char *text, size_t len,
                              plmm_domain_score *out)
{
    if (len > (SIZE_MAX - 3) / 2)
        return plmm_err(PLMM_ERR_RANGE, "text of %zu bytes is too long to route", len);
    size_t cap = 2 * len + 3;
    char *norm = malloc(cap);
    if (norm == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory routing a question");
    plmm_sdk_text_normalize(text, len, norm, cap);
    plmm_expert_match_normalized(desc, norm, out);
    free(norm);
    return PLMM_OK;
}

int plmm_match_pick(const plmm_domain_score *scores, uint32_t n, const plmm_match_rule *rule)
{
    int best = -1;
    float second = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        if (best < 0 || scores[i].score > scores[best].score) {
            if (best >= 0)
                second = scores[best].score;
            best = (int)i;
        } else if (scores[i].score > second) {
            second = scores[i].score;
        }
    }
    if (best < 0 || scores[best].score < rule->min_score ||
        scores[best].score - second < rule->margin)
        return -1;
    return best;
}
