/*
 * The router object itself (engine/router*.c only).
 */
#ifndef PLMM_ENGINE_ROUTER_STATE_H
#define PLMM_ENGINE_ROUTER_STATE_H

#include "plmm/privacy.h"
#include "router_impl.h"

/* An expert's E-model or the T-model, as the router consults it. */
typedef struct router_consultant {
    const char *name;                   /* expert name, or "tmodel" */
    char label[PLMM_ASK_NAME_MAX + 16]; /* "expert finance", "T-model" */
    plmm_expert_inst *inst;             /* NULL for the T-model */
    plmm_connector_config cc;           /* borrowed from inst or the T-model's settings */
    plmm_connector *conn;               /* opened at the first consultation */
    bool enabled;
    bool failed;  /* the expert did not load; why in offline_why */
    bool offline; /* its connector failed; why in offline_why */
    char offline_why[256];
    char block_why[256]; /* the ledger's refusal (ROUTER_BUDGET) */
    uint32_t share;      /* plmm_expert_share */
    int32_t max_tokens;
    double price_per_1k;
    double budget; /* < 0: unlimited */
    double spent;
    float *examples; /* n_examples unit embeddings of its examples (embedding signal) */
    uint32_t n_examples;
} router_consultant;

struct plmm_router {
    plmm_engine *engine;
    plmm_model *model;
    plmm_session *session;
    router_params p;
    plmm_expert_set *set;
    router_consultant *experts; /* one per entry of set */
    uint32_t n_experts;
    bool has_tmodel;
    plmm_connector_settings tm_settings;
    router_consultant tmodel;
    struct plmm_ledger *ledger; /* NULL without a [ledger] section */
    bool ledger_wants_vault;    /* [ledger] keyed by the vault, not opened until it is given */
    plmm_privacy *privacy;      /* the conversation's placeholders */
    plmm_audit *audit;          /* NULL without a [privacy] section */
    uint32_t n_embd;            /* the P-model's embedding size, 0 = signal off */
    float *centroid;            /* mean embedding of all examples (n_embd), or NULL */
    router_consult_fn hook;
    void *hook_user;
};

/* The embedding signal (engine/router_embed.c), with [router]
 * embedding_weight > 0: embed every enabled expert's examples at open, and
 * per question fill cands[].embedding with the best cosine. */
PLMM_NODISCARD plmm_status router_embed_open(plmm_router *r) PLMM_NONNULL(1);
PLMM_NODISCARD plmm_status router_embed_scores(plmm_router *r, const char *question,
                                               router_candidate *cands) PLMM_NONNULL(1, 2);

/* The privacy layer (engine/router_privacy.c). */
PLMM_NODISCARD plmm_status router_privacy_open(plmm_router *r) PLMM_NONNULL(1);
void router_privacy_close(plmm_router *r) PLMM_NONNULL(1);
/* Send msgs (as the user wrote them) through c's connector (or the test
 * hook) under c's share policy; req carries max_tokens, temperature and
 * the piece callback. res->text is the restored answer. */
PLMM_NODISCARD plmm_status router_privacy_chat(plmm_router *r, router_consultant *c,
                                               const plmm_connector_msg *msgs, size_t n,
                                               plmm_connector_request *req,
                                               plmm_connector_result *res)
    PLMM_NONNULL(1, 2, 3, 5, 6);

/* The ledger (engine/router_ledger.c): opened when the configuration has a
 * [ledger] section, with each consultant's rates and [ledger] budgets. */
PLMM_NODISCARD plmm_status router_ledger_open(plmm_router *r) PLMM_NONNULL(1);
void router_ledger_close(plmm_router *r) PLMM_NONNULL(1);
/* Open a ledger keyed by the vault (ledger_wants_vault) with vault's key;
 * PLMM_OK when there is nothing to do. */
PLMM_NODISCARD plmm_status router_ledger_use_vault(plmm_router *r, const struct plmm_vault *vault)
    PLMM_NONNULL(1, 2);
/* Whether the ledger's budget allows consulting c (true without a ledger);
 * why receives the ledger's refusal. */
bool router_ledger_allows(const plmm_router *r, const router_consultant *c, const char *question,
                          char *why, size_t size) PLMM_NONNULL(1, 2, 3, 4);
/* Record a consultation's usage (receipt included); *cost: the amount
 * charged in units of the price. PLMM_OK without a ledger. */
PLMM_NODISCARD plmm_status router_ledger_record(plmm_router *r, const router_consultant *c,
                                                const plmm_connector_result *res, double *cost)
    PLMM_NONNULL(1, 2, 3, 4);

/* Why c cannot be asked question now (ROUTER_OK when it can). */
uint32_t router_consultant_block(const plmm_router *r, router_consultant *c, const char *question)
    PLMM_NONNULL(1, 2, 3);

/* Ask c: open its connector when needed, send (system prompt when not NULL
 * and) question, stream the answer, charge its budget. A connection or
 * server failure marks c offline. Metering in the ledger is the caller's
 * (router_ledger_record). */
PLMM_NODISCARD plmm_status router_consult(plmm_router *r, router_consultant *c,
                                          const char *system_prompt, const char *question,
                                          plmm_ask_piece_fn on_piece, void *user,
                                          plmm_connector_result *res, bool *streamed)
    PLMM_NONNULL(1, 2, 4, 7, 8);

#endif
