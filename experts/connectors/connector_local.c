/*
 * local connector: an E-model run by this engine through the public API.
 *
 *   model_path set:   a second GGUF model, loaded once when the connector opens;
 *   lora_path set:    a GGUF LoRA adapter applied with an explicit scale to the
 *                     P-model (config base_model, else [engine] model loaded here)
 *                     in the connector's own session, so the P-model's other
 *                     sessions are unaffected and the base weights are never
 *                     reloaded. Both may be set: the adapter then adapts model_path.
 *
 * Each chat is stateless: the session is reset, the conversation formatted with
 * the model's chat template, and the answer streamed through on_piece. Usage is
 * counted locally (prompt and generated tokens).
 */
#include "connector_impl.h"
#include "errors.h"
#include "plmm/lora.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct local {
    plmm_engine *engine;
    plmm_model *model; /* the model the session runs */
    bool own_model;    /* loaded here: freed on close */
    plmm_lora *lora;   /* or NULL */
    float lora_scale;
    plmm_session *session;
    char *url; /* "local:NAME" for before_send */
} local;

typedef struct gen {
    const plmm_connector_request *req;
    char *text;
    size_t len, cap;
    bool cancelled;
    bool nomem;
    bool leading; /* still skipping the template's leading whitespace */
} gen;

static bool on_token(void *user, int32_t id, const char *piece, size_t n)
{
    gen *g = user;
    (void)id;
    if (g->leading) {
        /* the space a SentencePiece vocab puts on the first word is not content */
        while (n > 0 && isspace((unsigned char)*piece)) {
            piece++;
            n--;
        }
        if (n == 0)
            return true;
        g->leading = false;
    }
    if (g->len + n + 1 > g->cap) {
        size_t c = g->cap ? g->cap * 2 : 1024;
        while (c < g->len + n + 1)
            c *= 2;
        char *t = realloc(g->text, c);
        if (t == NULL) {
            g->nomem = true;
            return false;
        }
        g->text = t;
        g->cap = c;
    }
    memcpy(g->text + g->len, piece, n);
    g->len += n;
    g->text[g->len] = '\0';
    if (g->req->on_piece != NULL && !g->req->on_piece(g->req->user, piece, n)) {
        g->cancelled = true;
        return false;
    }
    return true;
}

/* Format msgs with the model's chat template. *out: malloc'd. */
static plmm_status format_prompt(local *l, const plmm_connector_request *req, char **out,
                                 bool *has_bos)
{
    plmm_chat_message *cm = calloc(req->n_msgs, sizeof(*cm));
    if (cm == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < req->n_msgs; i++) {
        cm[i].role = req->msgs[i].role;
        cm[i].content = req->msgs[i].content;
    }
    size_t cap = 4096, needed = 0;
    char *buf = NULL;
    plmm_status st;
    for (int pass = 0; pass < 2; pass++) {
        char *b = realloc(buf, cap);
        if (b == NULL) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            break;
        }
        buf = b;
        st = plmm_chat_format(l->model, NULL, cm, req->n_msgs, true, buf, cap, &needed, has_bos);
        if (st != PLMM_ERR_RANGE)
            break;
        cap = needed;
    }
    free(cm);
    if (st != PLMM_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return PLMM_OK;
}

static plmm_status tokenize(local *l, const char *text, bool has_bos, int32_t **ids, size_t *n)
{
    uint32_t flags = PLMM_TOKENIZE_PARSE_SPECIAL | (has_bos ? 0 : PLMM_TOKENIZE_ADD_SPECIAL);
    size_t len = strlen(text), cap = len + 8;
    int32_t *v = malloc(cap * sizeof(*v));
    if (v == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = plmm_tokenize(l->model, text, len, flags, v, cap, n);
    if (st == PLMM_ERR_RANGE && *n > cap) {
        cap = *n;
        int32_t *t = realloc(v, cap * sizeof(*v));
        if (t == NULL) {
            free(v);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
        v = t;
        st = plmm_tokenize(l->model, text, len, flags, v, cap, n);
    }
    if (st != PLMM_OK) {
        free(v);
        return st;
    }
    *ids = v;
    return PLMM_OK;
}

static plmm_status local_chat(plmm_connector *c, const plmm_connector_request *req,
                              plmm_connector_result *res)
{
    local *l = c->impl;
    char *prompt = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, n_gen = 0;
    bool has_bos = false;
    gen g = {.req = req, .leading = true};
    res->attempts = 1;
    plmm_status st = format_prompt(l, req, &prompt, &has_bos);
    if (st != PLMM_OK)
        return plmm_err_prefix(st, "cannot format the conversation");
    if (req->before_send != NULL) {
        st = req->before_send(req->user, l->url, prompt, strlen(prompt));
        if (st != PLMM_OK) {
            const char *why = plmm_last_errmsg();
            st = plmm_err(st, "prompt for '%s' refused%s%s", l->url, why[0] ? ": " : "", why);
            goto out_prompt;
        }
    }
    if ((st = tokenize(l, prompt, has_bos, &ids, &n_ids)) != PLMM_OK)
        goto out_prompt;
    if (n_ids >= plmm_session_n_ctx(l->session)) {
        st = plmm_err(PLMM_ERR_RANGE, "prompt of %zu tokens does not fit the context of %u", n_ids,
                      plmm_session_n_ctx(l->session));
        goto out_ids;
    }
    plmm_sampling sp = {.struct_size = sizeof(sp)};
    plmm_sampling_defaults(l->engine, &sp);
    if (req->temperature >= 0)
        sp.temperature = req->temperature;
    int32_t n_predict = req->max_tokens > 0 ? req->max_tokens : sp.n_predict;
    plmm_session_reset(l->session);
    if ((st = plmm_session_set_sampling(l->session, &sp)) != PLMM_OK)
        goto out_ids;
    st = plmm_session_generate(l->session, ids, n_ids, n_predict, on_token, &g, &n_gen);
    if (st == PLMM_OK && g.nomem)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory collecting the answer");
    if (st == PLMM_OK && g.cancelled)
        st = plmm_err(PLMM_ERR_CANCELLED, "answer cancelled by the caller");
    if (st != PLMM_OK)
        goto out_ids;
    res->prompt_tokens = (int64_t)n_ids;
    res->completion_tokens = (int64_t)n_gen;
    res->usage_from_server = false;
    bool full = n_ids + n_gen >= plmm_session_n_ctx(l->session);
    snprintf(res->finish_reason, sizeof(res->finish_reason), "%s",
             (n_predict > 0 && n_gen >= (size_t)n_predict) || full ? "length" : "stop");
    if (g.text == NULL && (g.text = calloc(1, 1)) == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_ids;
    }
    res->text = g.text;
    g.text = NULL;
out_ids:
    free(ids);
out_prompt:
    free(prompt);
    free(g.text);
    return st;
}

static plmm_status local_probe(plmm_connector *c, char *model_id, size_t size)
{
    local *l = c->impl;
    plmm_model_desc d = {.struct_size = sizeof(d)};
    plmm_status st = plmm_model_describe(l->model, &d);
    if (st != PLMM_OK)
        return st;
    snprintf(model_id, size, "%s%s", d.name[0] ? d.name : d.arch, l->lora ? "+lora" : "");
    return PLMM_OK;
}

static void local_close(plmm_connector *c)
{
    local *l = c->impl;
    if (l == NULL)
        return;
    plmm_session_free(l->session);
    plmm_lora_free(l->lora);
    if (l->own_model)
        plmm_model_free(l->model);
    free(l->url);
    free(l);
    c->impl = NULL;
}

static const plmm_connector_ops local_ops = {
    .chat = local_chat,
    .probe = local_probe,
    .close = local_close,
};

plmm_status plmm_connector_local_open(plmm_connector *c, plmm_engine *engine,
                                      const plmm_connector_config *cfg)
{
    bool has_model = cfg->model_path != NULL && cfg->model_path[0];
    bool has_lora = cfg->lora_path != NULL && cfg->lora_path[0];
    if (engine == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "the local connector needs an engine");
    if (!has_model && !has_lora)
        return plmm_err(PLMM_ERR_CONFIG, "neither model nor lora is configured");
    if (has_lora && !(cfg->lora_scale == cfg->lora_scale)) /* NaN */
        return plmm_err(PLMM_ERR_CONFIG, "lora_scale is not a number");
    if (cfg->n_ctx < 0)
        return plmm_err(PLMM_ERR_CONFIG, "negative context size %d", (int)cfg->n_ctx);
    local *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    c->impl = l;
    c->ops = &local_ops;
    l->engine = engine;
    plmm_status st;
    size_t ulen = strlen(c->name) + sizeof("local:");
    l->url = malloc(ulen);
    if (l->url == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(l->url, ulen, "local:%s", c->name);
    if (has_model || cfg->base_model == NULL) {
        /* a second model, or the P-model this connector adapts ([engine] model) */
        st = plmm_model_load(engine, has_model ? cfg->model_path : NULL, &l->model);
        if (st != PLMM_OK)
            goto fail;
        l->own_model = true;
    } else {
        l->model = cfg->base_model;
    }
    if (has_lora) {
        if ((st = plmm_lora_load(l->model, cfg->lora_path, &l->lora)) != PLMM_OK)
            goto fail;
        l->lora_scale = cfg->lora_scale;
    }
    plmm_session_params sp = {
        .struct_size = sizeof(sp), .n_ctx = (uint32_t)cfg->n_ctx, .kv_type = -1};
    if ((st = plmm_session_create(l->model, &sp, &l->session)) != PLMM_OK)
        goto fail;
    if (l->lora != NULL &&
        (st = plmm_session_set_lora(l->session, l->lora, l->lora_scale)) != PLMM_OK)
        goto fail;
    return PLMM_OK;
fail:
    local_close(c);
    c->ops = NULL;
    return st;
}
