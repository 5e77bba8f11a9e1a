/*
 * The router's internals: its [router] settings, the per-question decision
 * (a pure function of the signals, unit-tested on its own), the P-model
 * draft and the consultation of an E-model or the T-model through a
 * connector (replaceable by tests).
 */
#ifndef PLMM_ENGINE_ROUTER_IMPL_H
#define PLMM_ENGINE_ROUTER_IMPL_H

#include "connector.h"
#include "expert_match.h"
#include "expert_set.h"
#include "plmm/ask.h"

/* [router] */
typedef struct router_params {
    float min_score;        /* domain score the best expert needs */
    float margin;           /* its lead over the runner-up */
    uint32_t draft_tokens;  /* P-model draft length; 0 = no confidence check */
    float min_logprob;      /* below: the P-model is not confident */
    float max_entropy;      /* above: the P-model is not confident */
    int32_t max_tokens;     /* longest local answer */
    uint32_t draft_prompt;  /* router_prompt_mode */
    float embedding_weight; /* weight of the embedding similarity; 0 = off */
} router_params;

/* [router] draft_prompt */
typedef enum router_prompt_mode {
    ROUTER_PROMPT_AUTO = 0, /* chat when the model has a template (or [chat] names one), else raw */
    ROUTER_PROMPT_CHAT = 1, /* the question as a user turn of the chat template */
    ROUTER_PROMPT_RAW = 2,  /* the question as plain text the model continues */
} router_prompt_mode;

/* Read [router] of cfg (NULL: defaults). */
PLMM_NODISCARD plmm_status router_params_read(const plmm_config *cfg, router_params *out)
    PLMM_NONNULL(2);

/* Why a consultant cannot be asked (router_candidate.block, ..). */
typedef enum router_block {
    ROUTER_OK = 0,
    ROUTER_DISABLED, /* enabled = false */
    ROUTER_FAILED,   /* the expert plugin did not load/initialise */
    ROUTER_BUDGET,   /* its budget is spent */
    ROUTER_SHARE,    /* the share policy forbids sending this question */
    ROUTER_OFFLINE,  /* its connector failed before (this router's lifetime) */
} router_block;

const char *router_block_text(uint32_t block);

/* One expert's signals for one question. */
typedef struct router_candidate {
    const char *name;
    float lexical;
    float embedding; /* similarity in [-1, 1]; 0 when off */
    float score;     /* combined, filled by router_decide */
    uint32_t block;  /* router_block */
} router_candidate;

typedef struct router_inputs {
    router_candidate *cands; /* n entries (enabled or not) */
    uint32_t n;
    float embedding_weight;
    bool has_tmodel;       /* configured and enabled */
    uint32_t tmodel_block; /* router_block of the T-model */
    bool has_draft;        /* the confidence values below were measured */
    float mean_logprob;
    float mean_entropy;
} router_inputs;

typedef struct router_decision {
    uint32_t wanted; /* plmm_route */
    int32_t expert;  /* index into cands for PLMM_ROUTE_EXPERT, else -1 */
    int32_t best;    /* best scoring usable-or-not expert, -1 when none */
    float score;     /* combined score of best */
    float lead;      /* its lead over the runner-up */
    bool low_confidence;
    char reason[PLMM_ASK_REASON_MAX];
} router_decision;

/* The domain part: which expert the question belongs to (-1: none). Fills
 * cands[].score, out->best, score, lead. Blocked experts take part in the
 * match (the question still belongs to them) and are skipped later. */
void router_domain(const router_params *p, router_inputs *in, router_decision *out)
    PLMM_NONNULL(1, 2, 3);

/* True when the draft says the P-model is unsure. */
bool router_low_confidence(const router_params *p, const router_inputs *in) PLMM_NONNULL(1, 2);

/* The whole decision: an expert when the domain match picks one, else the
 * T-model when the P-model is unsure and a T-model is configured, else the
 * P-model. Does not look at blocks: fallbacks are the caller's. */
void router_decide(const router_params *p, router_inputs *in, router_decision *out)
    PLMM_NONNULL(1, 2, 3);

/* ---- the P-model's draft ---- */

typedef struct router_draft {
    int32_t *tokens; /* generated greedily (owned) */
    uint32_t n_tokens;
    uint32_t n_prompt;
    bool ended; /* an end-of-generation token stopped it */
    float mean_logprob;
    float mean_entropy;
} router_draft;

/* Whether the draft continues the raw question (router_prompt_mode). */
bool router_draft_raw(const plmm_model *model, uint32_t mode) PLMM_NONNULL(1);

/* Format question with the model's chat template (raw: as plain text),
 * evaluate it in session (reset first) and draft up to n tokens greedily,
 * measuring confidence. The last draft token is not evaluated
 * (router_draft_continue passes it on). */
PLMM_NODISCARD plmm_status router_draft_make(plmm_session *session, const char *question,
                                             uint32_t n, bool raw, router_draft *out)
    PLMM_NONNULL(1, 2, 5);
/* Stream the draft's text, then continue the answer to at most max_tokens
 * in all with the session's sampler. *answer: owned. */
PLMM_NODISCARD plmm_status router_draft_continue(plmm_session *session, const router_draft *d,
                                                 int32_t max_tokens, plmm_ask_piece_fn on_piece,
                                                 void *user, char **answer, int64_t *n_generated)
    PLMM_NONNULL(1, 2, 6, 7);
void router_draft_clear(router_draft *d);

/* ---- consultations ---- */

/* A consultation: the connector (opened by the router) or a test's fake
 * answers req. Same contract as plmm_connector_chat. */
typedef plmm_status (*router_consult_fn)(void *hook_user, const char *who,
                                         plmm_connector *connector,
                                         const plmm_connector_request *req,
                                         plmm_connector_result *res);

/* Tests: answer every consultation with fn instead of a connector (no
 * connector is opened then). */
void router_set_consult_hook(plmm_router *router, router_consult_fn fn, void *user) PLMM_NONNULL(1);

/* Tests: charge spent to expert name's budget (or the T-model's with NULL). */
void router_charge(plmm_router *router, const char *name, double spent) PLMM_NONNULL(1);

/* ---- a growable text ---- */

typedef struct router_text {
    char *s;
    size_t len, cap;
    bool failed; /* an allocation failed; s keeps what fit */
} router_text;

void router_text_add(router_text *t, const char *fmt, ...) PLMM_PRINTF(2, 3);
void router_text_addn(router_text *t, const char *s, size_t n);
/* The text (owned by the caller; "" when empty), or NULL after a failure. */
char *router_text_take(router_text *t);
void router_text_free(router_text *t);

#endif
