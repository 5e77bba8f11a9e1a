/*
 * The router's decision for one question, from signals measured elsewhere:
 * the domain match of each expert (lexical score plus weighted embedding
 * similarity), the P-model's draft confidence and whether a T-model is
 * configured. A pure function, so its thresholds are unit-tested without
 * models or servers.
 */
#include "config.h"
#include "errors.h"
#include "router_impl.h"

#include <stdio.h>

plmm_status router_params_read(const plmm_config *cfg, router_params *out)
{
    double d;
    int64_t i;
    plmm_status st;

#define GETF(key, field)                                                                           \
    if ((st = plmm_config_get_float(cfg, "router", key, &d)) != PLMM_OK)                           \
        return st;                                                                                 \
    out->field = (float)d
    GETF("min_score", min_score);
    GETF("margin", margin);
    GETF("min_logprob", min_logprob);
    GETF("max_entropy", max_entropy);
    GETF("embedding_weight", embedding_weight);
#undef GETF
    if ((st = plmm_config_get_int(cfg, "router", "draft_tokens", &i)) != PLMM_OK)
        return st;
    out->draft_tokens = (uint32_t)i;
    if ((st = plmm_config_get_int(cfg, "router", "max_tokens", &i)) != PLMM_OK)
        return st;
    out->max_tokens = (int32_t)i;
    return plmm_config_get_enum(cfg, "router", "draft_prompt", &out->draft_prompt);
}

const char *router_block_text(uint32_t block)
{
    switch (block) {
    case ROUTER_OK:
        return "available";
    case ROUTER_DISABLED:
        return "disabled";
    case ROUTER_FAILED:
        return "failed to load";
    case ROUTER_BUDGET:
        return "budget exhausted";
    case ROUTER_OFFLINE:
        return "unavailable (failed earlier)";
    default:
        return "unknown";
    }
}

void router_domain(const router_params *p, router_inputs *in, router_decision *out)
{
    int32_t best = -1;
    float second = 0.0f;
    for (uint32_t i = 0; i < in->n; i++) {
        router_candidate *c = &in->cands[i];
        c->score = c->lexical + in->embedding_weight * c->embedding;
        if (c->block == ROUTER_DISABLED || c->block == ROUTER_FAILED)
            continue; /* not a configured consultant: takes no part */
        if (best < 0 || c->score > in->cands[best].score) {
            if (best >= 0 && in->cands[best].score > second)
                second = in->cands[best].score;
            best = (int32_t)i;
        } else if (c->score > second) {
            second = c->score;
        }
    }
    out->best = best;
    out->expert = -1;
    out->score = best >= 0 ? in->cands[best].score : 0.0f;
    out->lead = best >= 0 ? out->score - second : 0.0f;
    if (best >= 0 && out->score >= p->min_score && out->lead >= p->margin)
        out->expert = best;
}

bool router_low_confidence(const router_params *p, const router_inputs *in)
{
    return in->has_draft &&
           (in->mean_logprob < p->min_logprob || in->mean_entropy > p->max_entropy);
}

void router_decide(const router_params *p, router_inputs *in, router_decision *out)
{
    router_domain(p, in, out);
    out->low_confidence = router_low_confidence(p, in);
    if (out->expert >= 0) {
        out->wanted = PLMM_ROUTE_EXPERT;
        snprintf(out->reason, sizeof(out->reason),
                 "the question matches expert %s (score %.2f >= %.2f, lead %.2f >= %.2f)",
                 in->cands[out->expert].name, (double)out->score, (double)p->min_score,
                 (double)out->lead, (double)p->margin);
        return;
    }
    char domain[128];
    if (out->best >= 0)
        snprintf(domain, sizeof(domain), "no expert matches (best %s: score %.2f, lead %.2f)",
                 in->cands[out->best].name, (double)out->score, (double)out->lead);
    else
        snprintf(domain, sizeof(domain), "no expert is configured");
    if (out->low_confidence && in->has_tmodel) {
        out->wanted = PLMM_ROUTE_TMODEL;
        snprintf(out->reason, sizeof(out->reason),
                 "%s and the P-model is unsure (mean log-prob %.2f vs %.2f, entropy %.2f vs "
                 "%.2f): escalated to the T-model",
                 domain, (double)in->mean_logprob, (double)p->min_logprob, (double)in->mean_entropy,
                 (double)p->max_entropy);
        return;
    }
    out->wanted = PLMM_ROUTE_LOCAL;
    if (!in->has_draft)
        snprintf(out->reason, sizeof(out->reason), "%s: answered locally by the P-model", domain);
    else if (out->low_confidence)
        snprintf(out->reason, sizeof(out->reason),
                 "%s; the P-model is unsure but no T-model is configured: answered locally",
                 domain);
    else
        snprintf(out->reason, sizeof(out->reason),
                 "%s and the P-model is confident (mean log-prob %.2f, entropy %.2f): answered "
                 "locally by the P-model",
                 domain, (double)in->mean_logprob, (double)in->mean_entropy);
}
