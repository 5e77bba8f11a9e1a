/*
 * Consulting an expert's E-model or the T-model: the share policy and the
 * budget decide whether the question may go out, the connector (opened at
 * the first consultation) carries it, and the answer's tokens are charged
 * to the consultant's budget.
 */
#include "engine_impl.h"
#include "errors.h"
#include "router_state.h"

#include <stdio.h>
#include <string.h>

uint32_t router_consultant_block(const plmm_router *r, router_consultant *c, const char *question)
{
    c->block_why[0] = '\0';
    if (c->failed)
        return ROUTER_FAILED;
    if (!c->enabled)
        return ROUTER_DISABLED;
    if (c->offline)
        return ROUTER_OFFLINE;
    if (c->budget >= 0 && c->spent >= c->budget)
        return ROUTER_BUDGET;
    if (!router_ledger_allows(r, c, question, c->block_why, sizeof(c->block_why)))
        return ROUTER_BUDGET;
    return ROUTER_OK; /* the share policy is applied on the way out */
}

typedef struct piece_ctx {
    plmm_ask_piece_fn on_piece;
    void *user;
    bool *streamed;
} piece_ctx;

static bool on_piece(void *user, const char *piece, size_t len)
{
    piece_ctx *p = user;
    if (len == 0)
        return true;
    *p->streamed = true;
    return p->on_piece == NULL || p->on_piece(p->user, piece, len);
}

plmm_status router_consult(plmm_router *r, router_consultant *c, const char *system_prompt,
                           const char *question, plmm_ask_piece_fn piece_fn, void *user,
                           plmm_connector_result *res, bool *streamed)
{
    plmm_status st = PLMM_OK;
    *streamed = false;
    memset(res, 0, sizeof(*res));
    if (r->hook == NULL && c->conn == NULL) {
        if ((st = plmm_connector_open(r->engine, &c->cc, &c->conn)) != PLMM_OK) {
            c->offline = true;
            snprintf(c->offline_why, sizeof(c->offline_why), "%s", plmm_last_errmsg());
            return st;
        }
    }
    plmm_connector_msg msgs[2];
    size_t n = 0;
    if (system_prompt != NULL && system_prompt[0] != '\0')
        msgs[n++] = (plmm_connector_msg){"system", system_prompt};
    msgs[n++] = (plmm_connector_msg){"user", question};
    piece_ctx pc = {.on_piece = piece_fn, .user = user, .streamed = streamed};
    plmm_connector_request req = {
        .msgs = msgs,
        .n_msgs = n,
        .max_tokens = c->max_tokens,
        .temperature = -1.0f,
        .on_piece = on_piece,
        .user = &pc,
    };
    st = router_privacy_chat(r, c, msgs, n, &req, res);
    if (st != PLMM_OK) {
        if (st != PLMM_ERR_CANCELLED && st != PLMM_ERR_NOMEM && st != PLMM_ERR_DENIED) {
            c->offline = true;
            snprintf(c->offline_why, sizeof(c->offline_why), "%s", plmm_last_errmsg());
        }
        plmm_connector_result_clear(res);
        return st;
    }
    int64_t tokens = (res->prompt_tokens > 0 ? res->prompt_tokens : 0) +
                     (res->completion_tokens > 0 ? res->completion_tokens : 0);
    c->spent += (double)tokens / 1000.0 * c->price_per_1k;
    return PLMM_OK;
}
