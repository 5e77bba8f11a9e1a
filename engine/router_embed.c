/*
 * The embedding signal of the router: a question's pooled P-model
 * embedding (plmm_session_embed) against those of each expert's example
 * questions; an expert's similarity is the highest cosine over its
 * examples. Off unless [router] embedding_weight > 0.
 */
#include "engine_impl.h"
#include "errors.h"
#include "router_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static plmm_status embed_text(plmm_router *r, const char *text, float *out)
{
    size_t len = strlen(text), cap = len + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof(*ids));
    if (ids == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for an embedding");
    plmm_status st = plmm_tokenize(r->model, text, len, PLMM_TOKENIZE_ADD_SPECIAL, ids, cap, &n);
    if (st == PLMM_OK)
        st = plmm_session_embed(r->session, ids, n, out, r->n_embd);
    free(ids);
    return st;
}

/* Centre on the examples' mean (pooled states of a small model share a
 * large common direction that would make every cosine close to 1) and
 * scale to unit length, so a cosine is a dot product. */
static void centre(const plmm_router *r, float *out)
{
    if (r->centroid != NULL)
        for (uint32_t e = 0; e < r->n_embd; e++)
            out[e] -= r->centroid[e];
    double norm = 0.0;
    for (uint32_t e = 0; e < r->n_embd; e++)
        norm += (double)out[e] * out[e];
    norm = sqrt(norm);
    for (uint32_t e = 0; e < r->n_embd && norm > 0.0; e++)
        out[e] = (float)(out[e] / norm);
}

plmm_status router_embed_open(plmm_router *r)
{
    if (r->p.embedding_weight <= 0.0f)
        return PLMM_OK;
    plmm_model_desc md = {.struct_size = sizeof(md)};
    plmm_status st = plmm_model_describe(r->model, &md);
    if (st != PLMM_OK)
        return st;
    r->n_embd = md.n_embd;
    uint32_t n_all = 0;
    for (uint32_t i = 0; i < r->n_experts; i++) {
        router_consultant *c = &r->experts[i];
        if (c->inst == NULL || !c->enabled)
            continue;
        const plmm_expert_desc *d = plmm_expert_inst_desc(c->inst);
        if (d->n_examples == 0)
            continue;
        c->examples = malloc((size_t)d->n_examples * r->n_embd * sizeof(float));
        if (c->examples == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for example embeddings");
        for (uint32_t k = 0; k < d->n_examples; k++) {
            st = embed_text(r, d->examples[k], c->examples + (size_t)k * r->n_embd);
            if (st != PLMM_OK)
                return plmm_err_prefix(st, "router: embedding expert %s's example %u: ", c->name,
                                       k + 1);
        }
        c->n_examples = d->n_examples;
        n_all += d->n_examples;
    }
    if (n_all == 0)
        return PLMM_OK;
    if ((r->centroid = calloc(r->n_embd, sizeof(float))) == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for example embeddings");
    for (uint32_t i = 0; i < r->n_experts; i++)
        for (size_t k = 0; k < (size_t)r->experts[i].n_examples * r->n_embd; k++)
            r->centroid[k % r->n_embd] += r->experts[i].examples[k] / (float)n_all;
    for (uint32_t i = 0; i < r->n_experts; i++)
        for (uint32_t k = 0; k < r->experts[i].n_examples; k++)
            centre(r, r->experts[i].examples + (size_t)k * r->n_embd);
    return PLMM_OK;
}

plmm_status router_embed_scores(plmm_router *r, const char *question, router_candidate *cands)
{
    if (r->p.embedding_weight <= 0.0f || r->n_embd == 0)
        return PLMM_OK;
    float *q = malloc((size_t)r->n_embd * sizeof(float));
    if (q == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for an embedding");
    plmm_status st = embed_text(r, question, q);
    if (st == PLMM_OK)
        centre(r, q);
    for (uint32_t i = 0; st == PLMM_OK && i < r->n_experts; i++) {
        const router_consultant *c = &r->experts[i];
        float best = 0.0f;
        for (uint32_t k = 0; k < c->n_examples; k++) {
            const float *x = c->examples + (size_t)k * r->n_embd;
            double dot = 0.0;
            for (uint32_t e = 0; e < r->n_embd; e++)
                dot += (double)q[e] * x[e];
            if (k == 0 || dot > best)
                best = (float)dot;
        }
        cands[i].embedding = best;
    }
    free(q);
    return st;
}
