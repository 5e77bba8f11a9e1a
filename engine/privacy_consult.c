/*
 * A consultation under the privacy layer (privacy_consult.h).
 */
#include "privacy_consult.h"

#include "errors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The hooks' shared state: the guard first, for plmm_privacy_before_send. */
typedef struct hook_state {
    plmm_privacy_guard guard;
    plmm_restorer *restorer;
    const privacy_consult *consult;
    char *answer;
    size_t len, cap;
    bool oom, cancelled;
} hook_state;

static bool append(hook_state *h, const char *s, size_t n)
{
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap < h->len + n + 1)
            cap *= 2;
        char *p = realloc(h->answer, cap);
        if (p == NULL) {
            h->oom = true;
            return false;
        }
        h->answer = p;
        h->cap = cap;
    }
    memcpy(h->answer + h->len, s, n);
    h->len += n;
    h->answer[h->len] = '\0';
    return true;
}

/* Restore a piece and hand what is ready to the caller. */
static bool on_piece(void *user, const char *piece, size_t len)
{
    hook_state *h = user;
    const char *out;
    size_t n;
    if (plmm_restorer_feed(h->restorer, piece, len, &out, &n) != PLMM_OK || !append(h, out, n)) {
        h->oom = true;
        return false;
    }
    if (n > 0 && h->consult->on_piece != NULL && !h->consult->on_piece(h->consult->user, out, n)) {
        h->cancelled = true;
        return false;
    }
    return true;
}

void privacy_consult_result_clear(privacy_consult_result *r)
{
    if (r == NULL)
        return;
    if (r->answer != NULL) {
        sodium_memzero(r->answer, strlen(r->answer));
        free(r->answer);
    }
    plmm_connector_result_clear(&r->raw);
    memset(r, 0, sizeof(*r));
}

plmm_status privacy_consult_chat(const privacy_consult *c, const plmm_connector_msg *msgs,
                                 size_t n_msgs, privacy_consult_result *out)
{
    if (c == NULL || c->connector == NULL || c->privacy == NULL || out == NULL ||
        (msgs == NULL && n_msgs > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "privacy consult: NULL argument");
    memset(out, 0, sizeof(*out));
    plmm_connector_msg *sent = calloc(n_msgs ? n_msgs : 1, sizeof(*sent));
    char **texts = calloc(n_msgs ? n_msgs : 1, sizeof(*texts));
    hook_state h;
    memset(&h, 0, sizeof(h));
    h.consult = c;
    plmm_status s = PLMM_OK;
    if (sent == NULL || texts == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* 1. the share policy on every message */
    for (size_t i = 0; i < n_msgs && s == PLMM_OK; i++) {
        plmm_pii_counts n;
        const char *t = msgs[i].content != NULL ? msgs[i].content : "";
        s = plmm_privacy_outgoing(c->privacy, c->share, c->full_opt_in, t, strlen(t), &texts[i],
                                  &n);
        for (uint32_t k = 0; s == PLMM_OK && k < PLMM_PII_COUNT; k++)
            out->counts.n[k] += n.n[k];
        sent[i].role = msgs[i].role;
        sent[i].content = texts[i];
    }
    if (s != PLMM_OK)
        goto out;
    /* 2. send, with the egress scan and the audit entry in before_send */
    h.guard = (plmm_privacy_guard){sizeof(h.guard), c->share, c->privacy, c->audit, out->counts};
    if ((s = plmm_restorer_create(c->privacy, &h.restorer)) != PLMM_OK)
        goto out;
    plmm_connector_request req = {
        .msgs = sent,
        .n_msgs = n_msgs,
        .max_tokens = c->max_tokens,
        .temperature = c->temperature,
        .before_send = plmm_privacy_before_send,
        .on_piece = on_piece,
        .user = &h,
    };
    s = plmm_connector_chat(c->connector, &req, &out->raw);
    if (h.oom) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory restoring the answer");
        goto out;
    }
    if (s != PLMM_OK && !(h.cancelled && s == PLMM_ERR_CANCELLED))
        goto out;
    /* 3. restore: what the stream held back, or the whole text when the
     * connector did not stream */
    const char *rest;
    size_t rn;
    if (h.len == 0 && out->raw.text != NULL) {
        char *whole = NULL;
        s = plmm_privacy_restore(c->privacy, out->raw.text, strlen(out->raw.text), &whole);
        if (s == PLMM_OK && !append(&h, whole, strlen(whole)))
            s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        if (whole != NULL) {
            sodium_memzero(whole, strlen(whole));
            free(whole);
        }
        if (s == PLMM_OK && c->on_piece != NULL && h.len > 0)
            (void)c->on_piece(c->user, h.answer, h.len);
    } else if ((s = plmm_restorer_finish(h.restorer, &rest, &rn)) == PLMM_OK) {
        if (!append(&h, rest, rn))
            s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        else if (rn > 0 && c->on_piece != NULL && !h.cancelled)
            (void)c->on_piece(c->user, rest, rn);
    }
    if (s == PLMM_OK && h.answer == NULL && !append(&h, "", 0))
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if (s == PLMM_OK) {
        out->answer = h.answer; /* a cancelled answer is returned as far as it went */
        h.answer = NULL;
        if (h.cancelled)
            s = plmm_err(PLMM_ERR_CANCELLED, "answer cancelled by the caller");
    }
out:
    for (size_t i = 0; texts != NULL && i < n_msgs; i++) {
        if (texts[i] != NULL) {
            sodium_memzero(texts[i], strlen(texts[i]));
            free(texts[i]);
        }
    }
    free(texts);
    free(sent);
    plmm_restorer_destroy(h.restorer);
    if (h.answer != NULL) {
        sodium_memzero(h.answer, h.len);
        free(h.answer);
    }
    return s;
}
