/*
 * The P-model's side of a question: a short greedy draft whose token
 * probabilities say how confident the model is (mean log-probability of
 * the tokens it picks, mean entropy of its distributions), and, when the
 * question stays local, the answer continued from that draft.
 */
#include "config.h"
#include "engine_impl.h"
#include "errors.h"
#include "gguf.h"
#include "router_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static plmm_status format_prompt(const plmm_model *model, const char *question, char **out,
                                 bool *has_bos)
{
    plmm_chat_message m = {"user", question};
    size_t needed = 0;
    char probe[1];
    plmm_status st =
        plmm_chat_format(model, NULL, &m, 1, true, probe, sizeof(probe), &needed, has_bos);
    if (st != PLMM_OK && st != PLMM_ERR_RANGE)
        return st;
    char *buf = malloc(needed > 0 ? needed : 1);
    if (buf == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory formatting the prompt");
    st = plmm_chat_format(model, NULL, &m, 1, true, buf, needed, &needed, has_bos);
    if (st != PLMM_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return PLMM_OK;
}

static plmm_status tokenize_all(const plmm_model *model, const char *text, uint32_t flags,
                                int32_t **ids, size_t *n)
{
    size_t len = strlen(text), cap = len + 8;
    int32_t *buf = malloc(cap * sizeof(*buf));
    if (buf == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory tokenizing the prompt");
    plmm_status st = plmm_tokenize(model, text, len, flags, buf, cap, n);
    if (st != PLMM_OK) {
        free(buf);
        return st;
    }
    *ids = buf;
    return PLMM_OK;
}

/* Log-probability of the most likely token and the entropy of the row. */
static int32_t greedy_stats(const float *logits, uint32_t n_vocab, float *logprob, float *entropy)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best])
            best = (int32_t)i;
    double mx = logits[best], sum = 0.0, wsum = 0.0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        double z = (double)logits[i] - mx;
        double e = exp(z);
        sum += e;
        wsum += e * z;
    }
    double lse = log(sum); /* log-sum-exp relative to mx */
    *logprob = (float)(-lse);
    *entropy = (float)(lse - wsum / sum);
    return best;
}

bool router_draft_raw(const plmm_model *model, uint32_t mode)
{
    if (mode != ROUTER_PROMPT_AUTO)
        return mode == ROUTER_PROMPT_RAW;
    return plmm_gguf_find_key(model->gguf, "tokenizer.chat_template") < 0 &&
           !plmm_config_is_set(model->engine->cfg, "chat", "template");
}

plmm_status router_draft_make(plmm_session *session, const char *question, uint32_t n, bool raw,
                              router_draft *out)
{
    *out = (router_draft){0};
    plmm_model *model = session->model;
    char *prompt = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    bool has_bos = false;
    plmm_model_desc md = {.struct_size = sizeof(md)};
    plmm_status st = plmm_model_describe(model, &md);
    if (st == PLMM_OK && raw && (prompt = strdup(question)) == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "router: out of memory for the prompt");
    else if (st == PLMM_OK && !raw)
        st = format_prompt(model, question, &prompt, &has_bos);
    if (st == PLMM_OK)
        st = tokenize_all(model, prompt,
                          PLMM_TOKENIZE_PARSE_SPECIAL | (has_bos ? 0u : PLMM_TOKENIZE_ADD_SPECIAL),
                          &ids, &n_ids);
    free(prompt);
    if (st != PLMM_OK)
        return st;
    plmm_session_reset(session);
    if ((out->tokens = malloc((n > 0 ? n : 1) * sizeof(int32_t))) == NULL) {
        free(ids);
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for the draft");
    }
    out->n_prompt = (uint32_t)n_ids;
    st = plmm_session_eval(session, ids, n_ids, 0);
    free(ids);
    double lp_sum = 0.0, h_sum = 0.0;
    for (uint32_t i = 0; st == PLMM_OK && i < n; i++) {
        const float *logits;
        if ((st = plmm_session_logits(session, 0, &logits)) != PLMM_OK)
            break;
        float lp, h;
        int32_t t = greedy_stats(logits, md.n_vocab, &lp, &h);
        lp_sum += lp;
        h_sum += h;
        out->tokens[out->n_tokens++] = t;
        if (plmm_token_is_eog(model, t)) {
            out->ended = true;
            break;
        }
        if (i + 1 < n)
            st = plmm_session_eval(session, &t, 1, 0);
    }
    if (st != PLMM_OK) {
        router_draft_clear(out);
        return st;
    }
    if (out->n_tokens > 0) {
        out->mean_logprob = (float)(lp_sum / out->n_tokens);
        out->mean_entropy = (float)(h_sum / out->n_tokens);
    }
    return PLMM_OK;
}

typedef struct stream_ctx {
    plmm_ask_piece_fn on_piece;
    void *user;
    router_text text;
    bool cancelled;
} stream_ctx;

static bool emit(stream_ctx *c, const char *piece, size_t len)
{
    router_text_addn(&c->text, piece, len);
    if (c->on_piece != NULL && len > 0 && !c->on_piece(c->user, piece, len)) {
        c->cancelled = true;
        return false;
    }
    return true;
}

static bool on_token(void *user, int32_t id, const char *piece, size_t len)
{
    (void)id;
    return emit(user, piece, len);
}

plmm_status router_draft_continue(plmm_session *session, const router_draft *d, int32_t max_tokens,
                                  plmm_ask_piece_fn on_piece, void *user, char **answer,
                                  int64_t *n_generated)
{
    plmm_model *model = session->model;
    stream_ctx c = {.on_piece = on_piece, .user = user};
    uint32_t n_text = d->ended ? d->n_tokens - 1 : d->n_tokens;
    plmm_status st = PLMM_OK;
    *n_generated = d->n_tokens;
    /* all draft tokens but the last were evaluated; the last one starts
     * the continuation */
    uint32_t shown = n_text > 0 && !d->ended ? n_text - 1 : n_text;
    for (uint32_t i = 0; i < shown && !c.cancelled; i++) {
        char piece[256];
        size_t len = 0;
        if ((st = plmm_token_piece(model, d->tokens[i], piece, sizeof(piece), &len)) != PLMM_OK)
            break;
        emit(&c, piece, len);
    }
    if (st == PLMM_OK && !c.cancelled && !d->ended && d->n_tokens > 0) {
        /* the last draft token was sampled but not evaluated: show it and
         * let generate evaluate it and go on */
        char piece[256];
        size_t len = 0;
        int32_t last = d->tokens[d->n_tokens - 1];
        st = plmm_token_piece(model, last, piece, sizeof(piece), &len);
        if (st == PLMM_OK && emit(&c, piece, len)) {
            int32_t left = max_tokens - (int32_t)d->n_tokens;
            size_t n_gen = 0;
            if (left > 0)
                st = plmm_session_generate(session, &last, 1, left, on_token, &c, &n_gen);
            *n_generated += (int64_t)n_gen;
        }
    }
    if (st == PLMM_OK && c.cancelled)
        st = plmm_err(PLMM_ERR_CANCELLED, "router: the answer was stopped by the caller");
    if (st != PLMM_OK) {
        router_text_free(&c.text);
        return st;
    }
    if ((*answer = router_text_take(&c.text)) == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "router: out of memory for the answer");
    return PLMM_OK;
}

void router_draft_clear(router_draft *d)
{
    free(d->tokens);
    *d = (router_draft){0};
}
