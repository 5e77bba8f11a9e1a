/*
 * The router: per question, decide who answers (the P-model, an expert's
 * E-model, the T-model), consult, fall back with a notice when a
 * consultant is unavailable, and explain the decision.
 */
#include "config.h"
#include "engine_impl.h"
#include "errors.h"
#include "plmm/expert.h"
#include "router_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *plmm_route_name(uint32_t route)
{
    switch (route) {
    case PLMM_ROUTE_LOCAL:
        return "local P-model";
    case PLMM_ROUTE_EXPERT:
        return "expert";
    case PLMM_ROUTE_TMODEL:
        return "T-model";
    default:
        return "unknown";
    }
}

static plmm_status open_experts(plmm_router *r)
{
    plmm_status st = plmm_expert_set_open(r->engine->reg, r->engine->cfg, &r->set);
    if (st != PLMM_OK)
        return st;
    r->n_experts = plmm_expert_set_count(r->set);
    if (r->n_experts == 0)
        return PLMM_OK;
    if ((r->experts = calloc(r->n_experts, sizeof(*r->experts))) == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory");
    for (uint32_t i = 0; i < r->n_experts; i++) {
        const plmm_expert_entry *e = plmm_expert_set_at(r->set, i);
        router_consultant *c = &r->experts[i];
        c->name = e->name;
        snprintf(c->label, sizeof(c->label), "expert %s", e->name);
        c->inst = e->inst;
        if (e->inst == NULL) {
            c->failed = true;
            snprintf(c->offline_why, sizeof(c->offline_why), "%s", e->reason);
            continue;
        }
        const plmm_expert_settings *s = plmm_expert_inst_settings(e->inst);
        c->enabled = s->enabled;
        c->share = s->share;
        c->max_tokens = s->max_tokens;
        c->price_per_1k = s->price_per_1k_tokens;
        c->budget = s->budget;
        if (c->enabled && (st = plmm_expert_inst_connector_config(e->inst, &c->cc)) != PLMM_OK) {
            /* e.g. api_key_env names an unset variable: this expert only */
            c->failed = true;
            snprintf(c->offline_why, sizeof(c->offline_why), "%s", plmm_last_errmsg());
            continue;
        }
        if (c->cc.kind == PLMM_CONNECTOR_LOCAL && c->cc.model_path == NULL)
            c->cc.base_model = r->model;
    }
    return PLMM_OK;
}

static plmm_status open_tmodel(plmm_router *r)
{
    plmm_status st = plmm_connector_settings_read(r->engine, "tmodel", &r->tm_settings);
    if (st == PLMM_ERR_NOT_FOUND) {
        plmm_err_clear();
        return PLMM_OK;
    }
    if (st != PLMM_OK)
        return st;
    router_consultant *c = &r->tmodel;
    r->has_tmodel = true;
    c->name = "tmodel";
    snprintf(c->label, sizeof(c->label), "T-model");
    c->cc = r->tm_settings.config;
    if (c->cc.kind == PLMM_CONNECTOR_LOCAL && c->cc.model_path == NULL)
        c->cc.base_model = r->model;
    c->enabled = r->tm_settings.enabled;
    c->max_tokens = r->tm_settings.max_tokens;
    c->price_per_1k = r->tm_settings.price_per_1k_tokens;
    c->budget = r->tm_settings.budget;
    c->share = PLMM_SHARE_PSEUDONYMIZED;
    for (uint32_t i = 0; i <= PLMM_SHARE_FULL; i++)
        if (strcmp(r->tm_settings.share, plmm_expert_share_name(i)) == 0)
            c->share = i;
    return PLMM_OK;
}

plmm_status plmm_router_open(plmm_engine *engine, plmm_model *model, plmm_router **out)
{
    if (engine == NULL || model == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_router_open: NULL argument");
    *out = NULL;
    plmm_router *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory");
    r->engine = engine;
    r->model = model;
    plmm_status st = router_params_read(engine->cfg, &r->p);
    if (st == PLMM_OK)
        st = open_experts(r);
    if (st == PLMM_OK)
        st = open_tmodel(r);
    if (st == PLMM_OK)
        st = router_ledger_open(r);
    if (st == PLMM_OK)
        st = router_privacy_open(r);
    if (st == PLMM_OK)
        st = plmm_session_create(model, NULL, &r->session);
    if (st == PLMM_OK)
        st = router_embed_open(r);
    if (st != PLMM_OK) {
        plmm_router_close(r);
        return st;
    }
    *out = r;
    return PLMM_OK;
}

void plmm_router_close(plmm_router *r)
{
    if (r == NULL)
        return;
    for (uint32_t i = 0; i < r->n_experts; i++) {
        plmm_connector_close(r->experts[i].conn);
        free(r->experts[i].examples);
    }
    plmm_connector_close(r->tmodel.conn);
    router_ledger_close(r);
    router_privacy_close(r);
    plmm_connector_settings_free(&r->tm_settings);
    free(r->experts);
    free(r->centroid);
    plmm_expert_set_close(r->set);
    plmm_session_free(r->session);
    free(r);
}

bool plmm_router_has_consultants(const plmm_router *r)
{
    if (r == NULL)
        return false;
    if (r->has_tmodel && r->tmodel.enabled)
        return true;
    for (uint32_t i = 0; i < r->n_experts; i++)
        if (r->experts[i].enabled)
            return true;
    return false;
}

void router_set_consult_hook(plmm_router *r, router_consult_fn fn, void *user)
{
    r->hook = fn;
    r->hook_user = user;
}

void router_charge(plmm_router *r, const char *name, double spent)
{
    if (name == NULL) {
        r->tmodel.spent += spent;
        return;
    }
    for (uint32_t i = 0; i < r->n_experts; i++)
        if (strcmp(r->experts[i].name, name) == 0)
            r->experts[i].spent += spent;
}

void plmm_ask_result_clear(plmm_ask_result *res)
{
    if (res == NULL)
        return;
    uint32_t size = res->struct_size;
    free(res->answer);
    free(res->notices);
    free(res->explain);
    memset(res, 0, sizeof(*res));
    res->struct_size = size;
}

/* ---- one question ---- */

typedef struct ask_state {
    plmm_router *r;
    const char *question;
    plmm_ask_piece_fn on_piece;
    void *user;
    plmm_ask_result *res;
    router_candidate *cands;
    plmm_domain_score *lex;
    router_inputs in;
    router_decision dec;
    router_draft draft;
    bool drafted;
    bool decide_only; /* plmm_router_decide: no consultation, no answer */
    router_text notices;
} ask_state;

static void notice(ask_state *s, const router_consultant *c, const char *why, const char *next)
{
    s->res->n_fallbacks++;
    router_text_add(&s->notices, "notice: %s unavailable (%s); falling back to the %s\n", c->label,
                    why, next);
}

static plmm_status measure(ask_state *s)
{
    plmm_router *r = s->r;
    size_t len = strlen(s->question);
    if (r->n_experts > 0) {
        s->cands = calloc(r->n_experts, sizeof(*s->cands));
        s->lex = calloc(r->n_experts, sizeof(*s->lex));
        if (s->cands == NULL || s->lex == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "router: out of memory");
    }
    for (uint32_t i = 0; i < r->n_experts; i++) {
        router_consultant *c = &r->experts[i];
        s->cands[i].name = c->name;
        s->cands[i].block = router_consultant_block(r, c, s->question);
        if (c->inst == NULL)
            continue;
        plmm_status st =
            plmm_expert_match(plmm_expert_inst_desc(c->inst), s->question, len, &s->lex[i]);
        if (st != PLMM_OK)
            return st;
        s->cands[i].lexical = s->lex[i].score;
    }
    plmm_status est = router_embed_scores(r, s->question, s->cands);
    if (est != PLMM_OK)
        return est;
    s->in.cands = s->cands;
    s->in.n = r->n_experts;
    s->in.embedding_weight = r->p.embedding_weight;
    s->in.has_tmodel = r->has_tmodel && r->tmodel.enabled;
    s->in.tmodel_block = r->has_tmodel ? router_consultant_block(r, &r->tmodel, s->question)
                                       : (uint32_t)ROUTER_DISABLED;
    router_domain(&r->p, &s->in, &s->dec);
    if (s->dec.expert < 0 && r->p.draft_tokens > 0) {
        plmm_status st =
            router_draft_make(r->session, s->question, r->p.draft_tokens,
                              router_draft_raw(r->model, r->p.draft_prompt), &s->draft);
        if (st != PLMM_OK)
            return st;
        s->drafted = true;
        s->in.has_draft = s->draft.n_tokens > 0;
        s->in.mean_logprob = s->draft.mean_logprob;
        s->in.mean_entropy = s->draft.mean_entropy;
    }
    router_decide(&r->p, &s->in, &s->dec);
    return PLMM_OK;
}

/* Consult c; PLMM_OK with the answer in res, or an error after which the
 * caller falls back (*fatal: the caller must stop instead). */
static plmm_status try_consult(ask_state *s, router_consultant *c, const char *next, bool *fatal)
{
    plmm_router *r = s->r;
    *fatal = false;
    uint32_t block = router_consultant_block(r, c, s->question);
    if (block != ROUTER_OK) {
        const char *why = block == ROUTER_OFFLINE || block == ROUTER_FAILED ? c->offline_why
                          : c->block_why[0] != '\0'                         ? c->block_why
                                                    : router_block_text(block);
        notice(s, c, why, next);
        return PLMM_ERR_DENIED;
    }
    const char *system = c->inst != NULL ? plmm_expert_inst_desc(c->inst)->system_prompt : NULL;
    /* An expert that checks its answers is heard out before anything is
     * shown: a failed check is then a clean fallback. */
    bool checks = c->inst != NULL && plmm_expert_has(plmm_expert_inst_desc(c->inst)->vtbl, check);
    plmm_connector_result cr;
    bool streamed = false;
    plmm_status st = router_consult(r, c, system, s->question, checks ? NULL : s->on_piece, s->user,
                                    &cr, &streamed);
    if (st != PLMM_OK) {
        if (st == PLMM_ERR_CANCELLED || st == PLMM_ERR_NOMEM || streamed) {
            /* part of an answer is out already: no silent second answer */
            *fatal = true;
            return st;
        }
        notice(s, c, plmm_last_errmsg(), next);
        return st;
    }
    plmm_ask_result *res = s->res;
    int64_t tokens = (cr.prompt_tokens > 0 ? cr.prompt_tokens : 0) +
                     (cr.completion_tokens > 0 ? cr.completion_tokens : 0);
    double cost = (double)tokens / 1000.0 * c->price_per_1k;
    if (router_ledger_record(r, c, &cr, &cost) != PLMM_OK)
        router_text_add(&s->notices, "notice: %s: usage not recorded in the ledger (%s)\n",
                        c->label, plmm_last_errmsg());
    if (checks) {
        plmm_check_result chk = {.struct_size = sizeof(chk)};
        st = plmm_expert_inst_check(c->inst, s->question, cr.text, &chk);
        if (st != PLMM_OK) {
            router_text_add(&s->notices, "notice: %s: the answer check did not run (%s)\n",
                            c->label, plmm_last_errmsg());
        } else if (chk.verdict == PLMM_CHECK_FAIL) {
            char why[PLMM_CHECK_MESSAGE_MAX + 32];
            snprintf(why, sizeof(why), "answer check failed: %s", chk.message);
            plmm_connector_result_clear(&cr);
            notice(s, c, why, next);
            return plmm_err(PLMM_ERR_DENIED, "%s: %s", c->label, why);
        } else if (chk.verdict == PLMM_CHECK_WARN) {
            router_text_add(&s->notices, "notice: %s: answer check warns: %s\n", c->label,
                            chk.message);
        }
    }
    res->answer = cr.text;
    cr.text = NULL;
    res->prompt_tokens = cr.prompt_tokens;
    res->completion_tokens = cr.completion_tokens;
    res->cost = cost;
    plmm_connector_result_clear(&cr);
    st = PLMM_OK;
    if (!streamed && s->on_piece != NULL && res->answer[0] != '\0' &&
        !s->on_piece(s->user, res->answer, strlen(res->answer)))
        st = plmm_err(PLMM_ERR_CANCELLED, "router: the answer was stopped by the caller");
    if (st != PLMM_OK) {
        *fatal = true;
        return st;
    }
    return PLMM_OK;
}

static plmm_status answer_locally(ask_state *s)
{
    plmm_router *r = s->r;
    plmm_status st;
    if (!s->drafted || s->draft.n_tokens == 0) {
        router_draft_clear(&s->draft);
        uint32_t n = r->p.draft_tokens > 0 ? r->p.draft_tokens : 1;
        if ((st = router_draft_make(r->session, s->question, n,
                                    router_draft_raw(r->model, r->p.draft_prompt), &s->draft)) !=
            PLMM_OK)
            return st;
        s->drafted = true;
    }
    int64_t n_gen = 0;
    st = router_draft_continue(r->session, &s->draft, r->p.max_tokens, s->on_piece, s->user,
                               &s->res->answer, &n_gen);
    if (st != PLMM_OK)
        return st;
    s->res->prompt_tokens = s->draft.n_prompt;
    s->res->completion_tokens = n_gen;
    return PLMM_OK;
}

static void explain_expert(router_text *t, const ask_state *s, uint32_t i)
{
    const router_consultant *c = &s->r->experts[i];
    const router_candidate *k = &s->cands[i];
    router_text_add(t, "  %-10s score %5.2f  lexical %.2f", c->name, (double)k->score,
                    (double)k->lexical);
    if (s->r->n_embd > 0)
        router_text_add(t, "  embedding %.3f", (double)k->embedding);
    const plmm_domain_score *l = &s->lex[i];
    for (uint32_t h = 0; h < l->n_hits && h < PLMM_MATCH_MAX_HITS; h++)
        router_text_add(t, "%s%s %.1f", h == 0 ? " [" : ", ", l->hits[h]->phrase,
                        (double)l->hits[h]->weight);
    router_text_add(t, "%s", l->n_hits > 0 ? "]" : "");
    if (c->failed)
        router_text_add(t, "  failed: %s\n", c->offline_why);
    else
        router_text_add(t, "  %s, share %s, %s\n",
                        plmm_expert_connector_name(plmm_expert_inst_settings(c->inst)->connector),
                        plmm_expert_share_name(c->share), router_block_text(k->block));
}

static char *build_explain(ask_state *s)
{
    plmm_router *r = s->r;
    const router_params *p = &r->p;
    router_text t = {0};
    router_text_add(&t, "decision: %s\n", s->dec.reason);
    router_text_add(&t, "experts (need score >= %.2f and a lead >= %.2f; score = lexical",
                    (double)p->min_score, (double)p->margin);
    if (r->n_embd > 0)
        router_text_add(&t, " + %.2f x embedding", (double)p->embedding_weight);
    router_text_add(&t, "):\n");
    if (r->n_experts == 0)
        router_text_add(&t, "  none configured\n");
    for (uint32_t i = 0; i < r->n_experts; i++)
        explain_expert(&t, s, i);
    if (r->has_tmodel)
        router_text_add(
            &t, "T-model: %s, share %s, %s\n", plmm_connector_kind_name(r->tmodel.cc.kind),
            plmm_expert_share_name(r->tmodel.share),
            router_block_text(r->has_tmodel && !r->tmodel.enabled ? (uint32_t)ROUTER_DISABLED
                                                                  : s->in.tmodel_block));
    else
        router_text_add(&t, "T-model: not configured\n");
    if (s->in.has_draft)
        router_text_add(&t,
                        "P-model draft: %u tokens, mean log-prob %.2f (min %.2f), mean entropy "
                        "%.2f (max %.2f): %s\n",
                        s->draft.n_tokens, (double)s->in.mean_logprob, (double)p->min_logprob,
                        (double)s->in.mean_entropy, (double)p->max_entropy,
                        s->dec.low_confidence ? "unsure" : "confident");
    else
        router_text_add(&t, "P-model draft: none (%s)\n",
                        s->dec.expert >= 0 ? "an expert matched" : "draft_tokens = 0");
    if (s->notices.len > 0)
        router_text_addn(&t, s->notices.s, s->notices.len);
    const plmm_ask_result *res = s->res;
    if (s->decide_only)
        router_text_add(
            &t, "would answer: %s%s\n", res->route == PLMM_ROUTE_EXPERT ? "expert " : "",
            res->route == PLMM_ROUTE_EXPERT ? res->expert : plmm_route_name(res->route));
    else if (res->route == PLMM_ROUTE_EXPERT)
        router_text_add(&t, "answered by: expert %s\n", res->expert);
    else
        router_text_add(&t, "answered by: %s\n", plmm_route_name(res->route));
    return router_text_take(&t);
}

static plmm_status run(ask_state *s)
{
    plmm_router *r = s->r;
    plmm_ask_result *res = s->res;
    plmm_status st = measure(s);
    if (st != PLMM_OK)
        return st;
    res->wanted = s->dec.wanted;
    snprintf(res->reason, sizeof(res->reason), "%s", s->dec.reason);
    res->domain_score = s->dec.score;
    res->domain_margin = s->dec.lead;
    if (s->dec.best >= 0) {
        res->lexical_score = s->cands[s->dec.best].lexical;
        res->embedding_score = s->cands[s->dec.best].embedding;
    }
    res->mean_logprob = s->in.mean_logprob;
    res->mean_entropy = s->in.mean_entropy;
    res->draft_tokens = s->in.has_draft ? s->draft.n_tokens : 0;
    if (s->decide_only) {
        res->route = s->dec.wanted;
        if (s->dec.expert >= 0)
            snprintf(res->expert, sizeof(res->expert), "%s", r->experts[s->dec.expert].name);
        return PLMM_OK;
    }

    bool fatal = false;
    bool tm_usable = r->has_tmodel && r->tmodel.enabled;
    if (s->dec.wanted == PLMM_ROUTE_EXPERT) {
        router_consultant *c = &r->experts[s->dec.expert];
        snprintf(res->expert, sizeof(res->expert), "%s", c->name);
        st = try_consult(s, c, tm_usable ? "T-model" : "local P-model", &fatal);
        if (st == PLMM_OK) {
            res->route = PLMM_ROUTE_EXPERT;
            return PLMM_OK;
        }
        if (fatal)
            return st;
        if (tm_usable) {
            st = try_consult(s, &r->tmodel, "local P-model", &fatal);
            if (st == PLMM_OK) {
                res->route = PLMM_ROUTE_TMODEL;
                return PLMM_OK;
            }
            if (fatal)
                return st;
        }
    } else if (s->dec.wanted == PLMM_ROUTE_TMODEL) {
        st = try_consult(s, &r->tmodel, "local P-model", &fatal);
        if (st == PLMM_OK) {
            res->route = PLMM_ROUTE_TMODEL;
            return PLMM_OK;
        }
        if (fatal)
            return st;
    }
    plmm_err_clear();
    res->route = PLMM_ROUTE_LOCAL;
    return answer_locally(s);
}

static plmm_status ask(plmm_router *r, const char *question, plmm_ask_piece_fn on_piece, void *user,
                       plmm_ask_result *res, bool decide_only)
{
    if (r == NULL || question == NULL || res == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_router_ask: NULL argument");
    if (res->struct_size != sizeof(*res))
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "plmm_router_ask: result struct_size %u, expected %zu", res->struct_size,
                        sizeof(*res));
    plmm_ask_result_clear(res);
    res->prompt_tokens = -1;
    res->completion_tokens = -1;
    size_t n = strspn(question, " \t\r\n");
    if (question[n] == '\0')
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_router_ask: the question is empty");
    ask_state s = {.r = r,
                   .question = question,
                   .on_piece = on_piece,
                   .user = user,
                   .res = res,
                   .decide_only = decide_only};
    plmm_status st = run(&s);
    char errmsg[512] = "";
    if (st != PLMM_OK)
        snprintf(errmsg, sizeof(errmsg), "%s", plmm_last_errmsg());
    res->explain = build_explain(&s);
    res->notices = router_text_take(&s.notices);
    if (res->answer == NULL && st == PLMM_OK && !decide_only)
        st = plmm_err(PLMM_ERR_INTERNAL, "router: no answer");
    if (st == PLMM_OK && (res->explain == NULL || res->notices == NULL))
        st = plmm_err(PLMM_ERR_NOMEM, "router: out of memory for the explanation");
    router_draft_clear(&s.draft);
    router_text_free(&s.notices);
    free(s.cands);
    free(s.lex);
    if (st != PLMM_OK && errmsg[0] != '\0' && strcmp(plmm_last_errmsg(), errmsg) != 0)
        (void)plmm_err(st, "%s", errmsg);
    return st;
}

plmm_status plmm_router_ask(plmm_router *r, const char *question, plmm_ask_piece_fn on_piece,
                            void *user, plmm_ask_result *res)
{
    return ask(r, question, on_piece, user, res, false);
}

plmm_status plmm_router_decide(plmm_router *r, const char *question, plmm_ask_result *res)
{
    return ask(r, question, NULL, NULL, res, true);
}
