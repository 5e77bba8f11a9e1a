/*
 * Parsing and validation of completion requests (JSON bodies of
 * /v1/chat/completions and /v1/completions) into a job: the prompt
 * (chat-templated and tokenized), sampling settings, limits and stop
 * strings. Every rejection names the offending field in "param" and in the
 * message. Fields plmm cannot honour (n > 1, logprobs, tools, ...) are
 * rejected when they ask for something; unknown fields are ignored, as
 * OpenAI clients send many optional ones.
 */
#include "errors.h"
#include "server_impl.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void srv_error_set(srv_error *err, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    err->type = type;
    err->code = code;
    snprintf(err->param, sizeof(err->param), "%s", param != NULL ? param : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

#define BAD(err, param, ...)                                                                       \
    srv_error_set(err, 400, "invalid_request_error", "invalid_value", param, __VA_ARGS__)

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

static bool wrong_type(srv_error *err, const char *field, const char *want, const json_t *v)
{
    srv_error_set(err, 400, "invalid_request_error", "invalid_type", field,
                  "'%s' must be %s, not %s", field, want, json_type_name(v));
    return false;
}

/* Optional number in [lo, hi] into *out (unchanged when absent or null). */
static bool get_number(const json_t *root, const char *field, double lo, double hi, float *out,
                       srv_error *err)
{
    const json_t *v = json_object_get(root, field);
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_number(v))
        return wrong_type(err, field, "a number", v);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) {
        BAD(err, field, "'%s' must be between %g and %g, got %g", field, lo, hi, x);
        return false;
    }
    *out = (float)x;
    return true;
}

/* Optional integer in [lo, hi]; *present says whether it was given. */
static bool get_int(const json_t *root, const char *field, json_int_t lo, json_int_t hi,
                    json_int_t *out, bool *present, srv_error *err)
{
    const json_t *v = json_object_get(root, field);
    *present = false;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e15) {
        *out = (json_int_t)json_real_value(v); /* 16.0 is a whole number too */
    } else if (json_is_integer(v)) {
        *out = json_integer_value(v);
    } else {
        return wrong_type(err, field, "an integer", v);
    }
    if (*out < lo || *out > hi) {
        BAD(err, field, "'%s' must be between %lld and %lld, got %lld", field, (long long)lo,
            (long long)hi, (long long)*out);
        return false;
    }
    *present = true;
    return true;
}

static bool get_bool(const json_t *root, const char *field, bool *out, srv_error *err)
{
    const json_t *v = json_object_get(root, field);
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_boolean(v))
        return wrong_type(err, field, "a boolean", v);
    *out = json_is_true(v);
    return true;
}

/* Fields that ask for something plmm does not do. */
static bool check_unsupported(const json_t *root, srv_job_kind kind, srv_error *err)
{
    const json_t *v;
    json_int_t n;
    bool present;
    if (!get_int(root, "n", 1, 1000, &n, &present, err))
        return false;
    if (present && n != 1) {
        srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "n",
                      "'n' must be 1: plmm generates one choice per request, got %lld",
                      (long long)n);
        return false;
    }
    if (kind == SRV_JOB_COMPLETION) {
        if (!get_int(root, "best_of", 1, 1000, &n, &present, err))
            return false;
        if (present && n != 1) {
            srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "best_of",
                          "'best_of' must be 1, got %lld", (long long)n);
            return false;
        }
        bool echo = false;
        if (!get_bool(root, "echo", &echo, err))
            return false;
        if (echo) {
            srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "echo",
                          "'echo' is not supported");
            return false;
        }
        v = json_object_get(root, "suffix");
        if (v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
            srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "suffix",
                          "'suffix' (insertion) is not supported");
            return false;
        }
    }
    v = json_object_get(root, "logprobs");
    if (v != NULL && !json_is_null(v) && !json_is_false(v) &&
        !(json_is_integer(v) && json_integer_value(v) == 0)) {
        srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "logprobs",
                      "'logprobs' is not supported");
        return false;
    }
    v = json_object_get(root, "top_logprobs");
    if (v != NULL && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0)) {
        srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "top_logprobs",
                      "'top_logprobs' is not supported");
        return false;
    }
    static const char *const lists[] = {"tools", "functions"};
    for (size_t i = 0; i < 2; i++) {
        v = json_object_get(root, lists[i]);
        if (v != NULL && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
            srv_error_set(err, 400, "invalid_request_error", "unsupported_value", lists[i],
                          "'%s' (function calling) is not supported", lists[i]);
            return false;
        }
    }
    v = json_object_get(root, "logit_bias");
    if (v != NULL && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0)) {
        srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "logit_bias",
                      "'logit_bias' is not supported");
        return false;
    }
    v = json_object_get(root, "response_format");
    if (v != NULL && !json_is_null(v)) {
        const json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
        if (t == NULL || !json_is_string(t) || strcmp(json_string_value(t), "text") != 0) {
            srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "response_format",
                          "'response_format' must be {\"type\": \"text\"}: other formats are "
                          "not supported");
            return false;
        }
    }
    return true;
}

static bool parse_stop(const json_t *root, srv_job *job, srv_error *err)
{
    const json_t *v = json_object_get(root, "stop");
    const json_t *items[SRV_MAX_STOP];
    size_t n = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        items[n++] = v;
    } else if (json_is_array(v)) {
        if (json_array_size(v) > SRV_MAX_STOP) {
            BAD(err, "stop", "'stop' may hold at most %d strings, got %zu", SRV_MAX_STOP,
                json_array_size(v));
            return false;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *s = json_array_get(v, i);
            if (!json_is_string(s)) {
                char f[32];
                snprintf(f, sizeof(f), "stop[%zu]", i);
                return wrong_type(err, f, "a string", s);
            }
            items[n++] = s;
        }
    } else {
        return wrong_type(err, "stop", "a string or an array of strings", v);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = json_string_length(items[i]);
        if (len == 0 || memchr(json_string_value(items[i]), '\0', len) != NULL) {
            BAD(err, "stop", "stop strings must be non-empty and free of NUL characters");
            return false;
        }
        job->stop[job->n_stop] = strdup(json_string_value(items[i]));
        if (job->stop[job->n_stop] == NULL) {
            srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
        job->n_stop++;
        if (len > job->max_stop_len)
            job->max_stop_len = len;
    }
    return true;
}

static bool parse_sampling(plmm_server *s, const json_t *root, srv_job *job, srv_error *err)
{
    plmm_sampling *sp = &job->sampling;
    plmm_sampling_defaults(s->engine, sp);
    if (!get_number(root, "temperature", 0, 2, &sp->temperature, err) ||
        !get_number(root, "top_p", 0, 1, &sp->top_p, err) ||
        !get_number(root, "min_p", 0, 1, &sp->min_p, err) ||
        !get_number(root, "presence_penalty", -2, 2, &sp->presence_penalty, err) ||
        !get_number(root, "frequency_penalty", -2, 2, &sp->frequency_penalty, err) ||
        !get_number(root, "repeat_penalty", 0.01, 10, &sp->repeat_penalty, err))
        return false;
    json_int_t v;
    bool present;
    if (!get_int(root, "top_k", 0, INT32_MAX, &v, &present, err))
        return false;
    if (present)
        sp->top_k = (int32_t)v;
    /* OpenAI seeds are 64-bit signed: keep the bits */
    if (!get_int(root, "seed", INT64_MIN, INT64_MAX, &v, &present, err))
        return false;
    if (present)
        sp->seed = (uint64_t)v;

    job->max_tokens = (int32_t)s->cfg.max_tokens;
    const char *mt = json_object_get(root, "max_completion_tokens") != NULL &&
                             !json_is_null(json_object_get(root, "max_completion_tokens"))
                         ? "max_completion_tokens"
                         : "max_tokens";
    const json_t *mv = json_object_get(root, mt);
    if (mv != NULL && json_is_integer(mv) &&
        json_integer_value(mv) > (json_int_t)s->cfg.max_tokens) {
        srv_error_set(err, 400, "invalid_request_error", "max_tokens_exceeded", mt,
                      "'%s' is %lld but this server generates at most %u tokens per request "
                      "([server] max_tokens)",
                      mt, (long long)json_integer_value(mv), s->cfg.max_tokens);
        return false;
    }
    if (!get_int(root, mt, 1, s->cfg.max_tokens, &v, &present, err))
        return false;
    if (present)
        job->max_tokens = (int32_t)v;
    return true;
}

/* ---- prompts ---- */

static bool tokenize(plmm_server *s, const char *text, size_t len, uint32_t flags, srv_job *job,
                     const char *field, srv_error *err)
{
    size_t cap = len + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof(*ids));
    if (ids == NULL) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    plmm_status st = plmm_tokenize(s->model, text, len, flags, ids, cap, &n);
    if (st == PLMM_ERR_RANGE && n > cap) {
        int32_t *more = realloc(ids, n * sizeof(*ids));
        if (more == NULL) {
            free(ids);
            srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
            return false;
        }
        ids = more;
        cap = n;
        st = plmm_tokenize(s->model, text, len, flags, ids, cap, &n);
    }
    if (st != PLMM_OK) {
        free(ids);
        BAD(err, field, "cannot tokenize '%s': %s", field, plmm_last_errmsg());
        return false;
    }
    job->prompt = ids;
    job->n_prompt = n;
    return true;
}

/* The text of a message's content: a string or an array of text parts. */
static bool message_text(const json_t *content, size_t i, char **out, srv_error *err)
{
    char field[64];
    snprintf(field, sizeof(field), "messages[%zu].content", i);
    *out = NULL;
    if (content == NULL || json_is_null(content)) {
        *out = strdup("");
    } else if (json_is_string(content)) {
        if (memchr(json_string_value(content), '\0', json_string_length(content)) != NULL) {
            BAD(err, field, "'%s' contains a NUL character", field);
            return false;
        }
        *out = strdup(json_string_value(content));
    } else if (json_is_array(content)) {
        size_t total = 1;
        for (size_t k = 0; k < json_array_size(content); k++) {
            const json_t *part = json_array_get(content, k);
            const json_t *type = json_is_object(part) ? json_object_get(part, "type") : NULL;
            const json_t *text = json_is_object(part) ? json_object_get(part, "text") : NULL;
            if (type == NULL || !json_is_string(type) ||
                strcmp(json_string_value(type), "text") != 0) {
                srv_error_set(err, 400, "invalid_request_error", "unsupported_value", field,
                              "'%s[%zu]': only parts of type 'text' are supported", field, k);
                return false;
            }
            if (text == NULL || !json_is_string(text)) {
                char f[128];
                snprintf(f, sizeof(f), "%s[%zu].text", field, k);
                return text == NULL ? (BAD(err, f, "'%s' is required", f), false)
                                    : wrong_type(err, f, "a string", text);
            }
            total += json_string_length(text);
        }
        char *buf = malloc(total);
        if (buf != NULL) {
            size_t at = 0;
            for (size_t k = 0; k < json_array_size(content); k++) {
                const json_t *text = json_object_get(json_array_get(content, k), "text");
                memcpy(buf + at, json_string_value(text), json_string_length(text));
                at += json_string_length(text);
            }
            buf[at] = '\0';
            if (strlen(buf) != at) {
                free(buf);
                BAD(err, field, "'%s' contains a NUL character", field);
                return false;
            }
        }
        *out = buf;
    } else {
        return wrong_type(err, field, "a string or an array of content parts", content);
    }
    if (*out == NULL) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    return true;
}

static bool chat_prompt(plmm_server *s, const json_t *root, srv_job *job, srv_error *err)
{
    const json_t *msgs = json_object_get(root, "messages");
    bool ok = false;
    if (msgs == NULL) {
        srv_error_set(err, 400, "invalid_request_error", "missing_field", "messages",
                      "'messages' is required");
        return false;
    }
    if (!json_is_array(msgs))
        return wrong_type(err, "messages", "an array of messages", msgs);
    size_t n = json_array_size(msgs);
    if (n == 0) {
        BAD(err, "messages", "'messages' must not be empty");
        return false;
    }
    plmm_chat_message *cm = calloc(n, sizeof(*cm));
    char **texts = calloc(n, sizeof(*texts));
    char *fmt = NULL;
    if (cm == NULL || texts == NULL) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(msgs, i);
        char field[64];
        snprintf(field, sizeof(field), "messages[%zu]", i);
        if (!json_is_object(m)) {
            wrong_type(err, field, "an object", m);
            goto out;
        }
        const json_t *role = json_object_get(m, "role");
        snprintf(field, sizeof(field), "messages[%zu].role", i);
        if (role == NULL) {
            srv_error_set(err, 400, "invalid_request_error", "missing_field", field,
                          "'%s' is required", field);
            goto out;
        }
        if (!json_is_string(role)) {
            wrong_type(err, field, "a string", role);
            goto out;
        }
        const char *r = json_string_value(role);
        if (strcmp(r, "developer") == 0)
            r = "system";
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0) {
            BAD(err, field, "'%s' must be system, developer, user or assistant, not '%s'", field,
                r);
            goto out;
        }
        if (!message_text(json_object_get(m, "content"), i, &texts[i], err))
            goto out;
        cm[i].role = r;
        cm[i].content = texts[i];
    }
    size_t cap = 4096, needed = 0;
    bool has_bos = false;
    for (int tries = 0; tries < 2; tries++) {
        char *nb = realloc(fmt, cap);
        if (nb == NULL) {
            srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
            goto out;
        }
        fmt = nb;
        plmm_status st = plmm_chat_format(s->model, NULL, cm, n, true, fmt, cap, &needed, &has_bos);
        if (st == PLMM_OK)
            break;
        if (st != PLMM_ERR_RANGE || tries == 1) {
            BAD(err, "messages", "cannot format the conversation: %s", plmm_last_errmsg());
            goto out;
        }
        cap = needed;
    }
    uint32_t flags = PLMM_TOKENIZE_PARSE_SPECIAL | (has_bos ? 0 : PLMM_TOKENIZE_ADD_SPECIAL);
    ok = tokenize(s, fmt, strlen(fmt), flags, job, "messages", err);
out:
    if (texts != NULL)
        for (size_t i = 0; i < n; i++)
            free(texts[i]);
    free(texts);
    free(cm);
    free(fmt);
    return ok;
}

static bool completion_prompt(plmm_server *s, const json_t *root, srv_job *job, srv_error *err)
{
    const json_t *p = json_object_get(root, "prompt");
    if (p == NULL) {
        srv_error_set(err, 400, "invalid_request_error", "missing_field", "prompt",
                      "'prompt' is required");
        return false;
    }
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        if (memchr(json_string_value(p), '\0', json_string_length(p)) != NULL) {
            BAD(err, "prompt", "'prompt' contains a NUL character");
            return false;
        }
        return tokenize(s, json_string_value(p), json_string_length(p), PLMM_TOKENIZE_ADD_SPECIAL,
                        job, "prompt", err);
    }
    if (!json_is_array(p))
        return wrong_type(err, "prompt", "a string or an array of token ids", p);
    size_t n = json_array_size(p);
    if (n > 0 && (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0)))) {
        srv_error_set(err, 400, "invalid_request_error", "unsupported_value", "prompt",
                      "'prompt' must be one prompt: batches of %zu prompts are not supported", n);
        return false;
    }
    plmm_model_desc d = {.struct_size = sizeof(d)};
    if (plmm_model_describe(s->model, &d) != PLMM_OK) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "cannot describe the model");
        return false;
    }
    job->prompt = malloc((n ? n : 1) * sizeof(*job->prompt));
    if (job->prompt == NULL) {
        srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(p, i);
        char field[48];
        snprintf(field, sizeof(field), "prompt[%zu]", i);
        if (!json_is_integer(t))
            return wrong_type(err, field, "a token id", t);
        if (json_integer_value(t) < 0 || json_integer_value(t) >= (json_int_t)d.n_vocab) {
            BAD(err, field, "'%s' is %lld, outside the vocabulary of %u tokens", field,
                (long long)json_integer_value(t), d.n_vocab);
            return false;
        }
        job->prompt[i] = (int32_t)json_integer_value(t);
    }
    job->n_prompt = n;
    return true;
}

/* ---- the request ---- */

bool srv_parse_request(plmm_server *s, srv_job_kind kind, const char *body, size_t len,
                       srv_job *job, srv_error *err)
{
    json_error_t je;
    bool ok = false;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        srv_error_set(err, 400, "invalid_request_error", "invalid_json", NULL,
                      "the request body is not valid JSON: %s (line %d, column %d)", je.text,
                      je.line, je.column);
        return false;
    }
    if (!json_is_object(root)) {
        srv_error_set(err, 400, "invalid_request_error", "invalid_json", NULL,
                      "the request body must be a JSON object, not %s", json_type_name(root));
        goto out;
    }
    job->kind = kind;
    const json_t *model = json_object_get(root, "model");
    if (model != NULL && !json_is_null(model) && !json_is_string(model)) {
        wrong_type(err, "model", "a string", model);
        goto out;
    }
    if (!get_bool(root, "stream", &job->stream, err) || !check_unsupported(root, kind, err) ||
        !parse_sampling(s, root, job, err) || !parse_stop(root, job, err))
        goto out;
    const json_t *so = json_object_get(root, "stream_options");
    if (so != NULL && !json_is_null(so)) {
        if (!json_is_object(so)) {
            wrong_type(err, "stream_options", "an object", so);
            goto out;
        }
        const json_t *iu = json_object_get(so, "include_usage");
        if (iu != NULL && !json_is_null(iu) && !json_is_boolean(iu)) {
            wrong_type(err, "stream_options.include_usage", "a boolean", iu);
            goto out;
        }
        job->include_usage = iu != NULL && json_is_true(iu);
    }
    if (!(kind == SRV_JOB_CHAT ? chat_prompt(s, root, job, err)
                               : completion_prompt(s, root, job, err)))
        goto out;
    const char *pfield = kind == SRV_JOB_CHAT ? "messages" : "prompt";
    if (job->n_prompt == 0) {
        BAD(err, pfield, "the prompt has no tokens");
        goto out;
    }
    if (job->n_prompt > s->n_ctx) {
        srv_error_set(err, 400, "invalid_request_error", "context_length_exceeded", pfield,
                      "the prompt has %zu tokens but the context of this server holds %u "
                      "([server] ctx)",
                      job->n_prompt, s->n_ctx);
        goto out;
    }
    ok = true;
out:
    json_decref(root);
    return ok;
}
