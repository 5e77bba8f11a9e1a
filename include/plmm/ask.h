/*
 * plmm router: answer a question with the P-model, an expert's E-model or
 * the T-model, decided per question.
 *
 * The decision (docs/experts.md) combines the domain match of each enabled
 * expert's routing signals, the P-model's confidence on a short greedy
 * draft, each consultant's budget and its share policy. An expert or
 * T-model that is unavailable (offline, failing, over budget, not allowed
 * to receive the question) falls back to the T-model, then to the
 * P-model, and the result carries a notice saying so.
 *
 * The thresholds come from the [router] section of the configuration; the
 * experts from the [expert.NAME] sections and the T-model from [tmodel].
 *
 * Threads: a router is not thread-safe; use one per thread.
 */
#ifndef PLMM_ASK_H
#define PLMM_ASK_H

#include "plmm/plmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_router plmm_router;

/* plmm_ask_result.route and .wanted: who answers. */
typedef enum plmm_route {
    PLMM_ROUTE_LOCAL = 0,  /* the P-model, on this device */
    PLMM_ROUTE_EXPERT = 1, /* an expert's E-model (plmm_ask_result.expert) */
    PLMM_ROUTE_TMODEL = 2, /* the T-model */
} plmm_route;

#define PLMM_ASK_NAME_MAX 64
#define PLMM_ASK_REASON_MAX 256

/* What one question got. Owned strings: free with plmm_ask_result_clear. */
typedef struct plmm_ask_result {
    uint32_t struct_size;             /* set by the caller to sizeof(plmm_ask_result) */
    uint32_t route;                   /* plmm_route: who answered */
    uint32_t wanted;                  /* plmm_route the decision chose, before any fallback */
    uint32_t n_fallbacks;             /* consultants that were skipped or failed */
    char expert[PLMM_ASK_NAME_MAX];   /* the expert that answered or was chosen, or "" */
    char reason[PLMM_ASK_REASON_MAX]; /* one line: why the decision went this way */
    float domain_score;               /* combined domain score of the best expert (0 when none) */
    float domain_margin;              /* its lead over the runner-up */
    float lexical_score;              /* the best expert's lexical score */
    float embedding_score;            /* its embedding similarity (0 when the signal is off) */
    float mean_logprob;               /* P-model draft: mean log-probability of its tokens */
    float mean_entropy;               /* P-model draft: mean entropy (nats) of its distributions */
    uint32_t draft_tokens;            /* tokens in the draft (0: no draft was made) */
    uint32_t reserved;
    int64_t prompt_tokens;     /* of the answering model; -1 when unknown */
    int64_t completion_tokens; /* of the answering model; -1 when unknown */
    double cost;               /* metered cost of the answer, in the unit of the price */
    char *answer;              /* the whole answer */
    char *notices;             /* fallbacks and warnings, one per line ("" when none) */
    char *explain;             /* the decision in words: signals, scores, thresholds, notices */
} plmm_ask_result;

/* Streamed answer text as it is produced; return false to stop. */
typedef bool (*plmm_ask_piece_fn)(void *user, const char *piece, size_t len);

/*
 * Open a router over model (the P-model, borrowed; it must outlive the
 * router) of engine: reads [router], creates the configured experts (a
 * broken expert is reported, not fatal) and the T-model's settings.
 * Connectors are opened at the first consultation. Errors:
 * PLMM_ERR_CONFIG for an invalid [tmodel] section; PLMM_ERR_NOMEM.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_router_open(plmm_engine *engine, plmm_model *model,
                                                        plmm_router **out);
/* NULL is ignored. */
PLMM_EXPORT void plmm_router_close(plmm_router *router);

struct plmm_vault;

/* Teach the router's privacy layer the values the user is known by (every
 * item of vault whose category is not NONE), so they are replaced before
 * a question leaves the device, and open a ledger keyed by the vault. The
 * router opens the vault itself only when [privacy] key_file names its
 * key. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_router_use_vault(plmm_router *router,
                                                             const struct plmm_vault *vault);

/* True while the router waits for plmm_router_use_vault: its [ledger] is
 * encrypted with the vault's key ([ledger] key_source) and [privacy]
 * key_file does not let it open the vault itself. Until then every
 * metered consultation is refused and the router falls back. */
PLMM_EXPORT bool plmm_router_wants_vault(const plmm_router *router);

/* True when an expert is enabled or a T-model is configured (else every
 * question stays with the P-model). */
PLMM_EXPORT bool plmm_router_has_consultants(const plmm_router *router);

/*
 * Answer question (UTF-8): decide, consult, fall back where needed. Pieces
 * of the answer go to on_piece (may be NULL) as they arrive. result's
 * struct_size must be set; it is filled on PLMM_OK and on errors as far as
 * the decision went. Errors: PLMM_ERR_INVALID_ARG for an empty question;
 * the P-model's error when even the local answer fails; PLMM_ERR_CANCELLED
 * when on_piece returned false.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_router_ask(plmm_router *router, const char *question,
                                                       plmm_ask_piece_fn on_piece, void *user,
                                                       plmm_ask_result *result);

/*
 * Only decide: fill result as plmm_router_ask would before consulting
 * anyone (route = the route chosen, no fallbacks tried, answer NULL,
 * explain ending in "would answer: ..."). For a caller that answers local
 * questions itself, e.g. a chat that keeps its conversation with the
 * P-model and hands only the others to plmm_router_ask.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_router_decide(plmm_router *router, const char *question,
                                                          plmm_ask_result *result);

/* Free the owned strings and zero the result (struct_size kept). */
PLMM_EXPORT void plmm_ask_result_clear(plmm_ask_result *result);

/* "local P-model", "expert", "T-model". */
PLMM_EXPORT const char *plmm_route_name(uint32_t route);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_ASK_H */
