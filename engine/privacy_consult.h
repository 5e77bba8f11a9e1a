/*
 * One consultation of an expert or the T-model under the privacy layer:
 * what the router calls instead of plmm_connector_chat().
 *
 *   1. every message is passed through plmm_privacy_outgoing() with the
 *      destination's share policy (none: bare "<CATEGORY>" tokens,
 *      pseudonymized: "<CATEGORY_n>" placeholders, full: as typed, only
 *      with opt-in);
 *   2. the connector's before_send hook runs the egress scan on the exact
 *      request bytes and appends the audit entry (sent or refused);
 *   3. the answer is restored locally, streamed pieces too (a placeholder
 *      split across pieces is held back until complete).
 *
 * Engine-internal: it joins the connector (experts/connectors/connector.h)
 * and the public privacy API.
 */
#ifndef PLMM_ENGINE_PRIVACY_CONSULT_H
#define PLMM_ENGINE_PRIVACY_CONSULT_H

#include "connector.h"
#include "plmm/privacy.h"

typedef struct privacy_consult {
    plmm_connector *connector;        /* borrowed */
    plmm_privacy *privacy;            /* borrowed: the conversation's placeholders */
    plmm_audit *audit;                /* borrowed, may be NULL */
    uint32_t share;                   /* plmm_share of the destination */
    bool full_opt_in;                 /* the user's explicit opt-in for share = full */
    int32_t max_tokens;               /* <= 0: connector default */
    float temperature;                /* < 0: connector default */
    plmm_connector_piece_fn on_piece; /* (optional) restored pieces as they arrive */
    void *user;                       /* for on_piece */
} privacy_consult;

typedef struct privacy_consult_result {
    char *answer;              /* restored answer (malloc'd), NULL on failure */
    plmm_pii_counts counts;    /* what was replaced in the request */
    plmm_connector_result raw; /* the connector's result (text as the expert wrote it) */
} privacy_consult_result;

/* Send msgs (as the user sees them) to the destination. PLMM_ERR_DENIED
 * when the policy or the egress scan refuses (nothing was sent). On
 * success *out is filled; clear it with privacy_consult_result_clear()
 * (also after a failure). */
PLMM_NODISCARD plmm_status privacy_consult_chat(const privacy_consult *c,
                                                const plmm_connector_msg *msgs, size_t n_msgs,
                                                privacy_consult_result *out);
void privacy_consult_result_clear(privacy_consult_result *r);

#endif
