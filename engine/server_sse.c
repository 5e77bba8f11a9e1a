/*
 * Streamed completions as server-sent events, the format of OpenAI's API:
 *
 *   data: {chunk}\n\n        first (chat) the assistant role, then text deltas
 *   data: {chunk}\n\n        the last chunk: empty delta, finish_reason, usage
 *   data: {usage chunk}\n\n  only with stream_options.include_usage: choices []
 *   data: [DONE]\n\n
 *
 * "plmm_receipt" rides on the last chunk before [DONE]. A job that fails or
 * is cancelled while streaming ends with one "data: {"error": ...}" event and
 * no [DONE], so that clients see the answer is incomplete.
 */
#include "server_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need + 1;
}

char *srv_utf8_clean(const char *s, size_t len)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(u + i, len - i);
        if (k == 0 || (k == 1 && u[i] == 0)) {
            memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(out + o, u + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- events ---- */

static bool out_append(srv_sse *x, const char *p, size_t n)
{
    if (x->out_len + n > x->out_cap) {
        size_t cap = x->out_cap ? x->out_cap : 1024;
        while (cap < x->out_len + n)
            cap *= 2;
        char *b = realloc(x->out, cap);
        if (b == NULL)
            return false;
        x->out = b;
        x->out_cap = cap;
    }
    memcpy(x->out + x->out_len, p, n);
    x->out_len += n;
    return true;
}

/* "data: JSON\n\n"; drops the reference to obj. */
static bool emit(srv_sse *x, json_t *obj)
{
    char *s = srv_dump(obj);
    if (s == NULL)
        return false;
    bool ok = out_append(x, "data: ", 6) && out_append(x, s, strlen(s)) && out_append(x, "\n\n", 2);
    free(s);
    return ok;
}

/* A chunk with one choice; delta_or_text is the chat delta object or the
 * completion text (new reference); finish NULL = null. */
static json_t *chunk(srv_sse *x, json_t *delta_or_text, const char *finish)
{
    const srv_job *j = x->job;
    bool chat = j->kind == SRV_JOB_CHAT;
    json_t *root = json_object(), *choices = json_array(), *choice = json_object();
    if (root == NULL || choices == NULL || choice == NULL) {
        json_decref(root);
        json_decref(choices);
        json_decref(choice);
        json_decref(delta_or_text);
        return NULL;
    }
    json_object_set_new(root, "id", json_string(j->id));
    json_object_set_new(root, "object",
                        json_string(chat ? "chat.completion.chunk" : "text_completion"));
    json_object_set_new(root, "created", json_integer(j->created));
    json_object_set_new(root, "model", json_string(x->srv->model_id));
    json_object_set_new(choice, "index", json_integer(0));
    json_object_set_new(choice, chat ? "delta" : "text", delta_or_text);
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_array_append_new(choices, choice);
    json_object_set_new(root, "choices", choices);
    return root;
}

static json_t *text_piece(const srv_job *j, const char *text)
{
    if (j->kind != SRV_JOB_CHAT)
        return json_string(text);
    json_t *d = json_object();
    if (d != NULL)
        json_object_set_new(d, "content", json_string(text));
    return d;
}

static bool emit_error(srv_sse *x, int status, const char *type, const char *code, const char *msg)
{
    srv_error e;
    srv_error_set(&e, status, type, code, NULL, "%s", msg);
    char *s = srv_error_json(&e); /* ends in '\n' */
    if (s == NULL)
        return false;
    bool ok = out_append(x, "data: ", 6) && out_append(x, s, strlen(s)) && out_append(x, "\n", 1);
    free(s);
    return ok;
}

/* The closing events of a finished job. */
static bool emit_end(srv_sse *x)
{
    srv_job *j = x->job;
    bool chat = j->kind == SRV_JOB_CHAT;
    json_t *last = chunk(x, chat ? json_object() : json_string(""), j->finish_reason);
    if (last == NULL)
        return false;
    json_object_set_new(last, "usage", srv_usage_json(j));
    if (j->include_usage) {
        if (!emit(x, last))
            return false;
        last = json_object();
        if (last == NULL)
            return false;
        json_object_set_new(last, "id", json_string(j->id));
        json_object_set_new(last, "object",
                            json_string(chat ? "chat.completion.chunk" : "text_completion"));
        json_object_set_new(last, "created", json_integer(j->created));
        json_object_set_new(last, "model", json_string(x->srv->model_id));
        json_object_set_new(last, "choices", json_array());
        json_object_set_new(last, "usage", srv_usage_json(j));
    }
    srv_add_receipt(x->srv, j, last);
    return emit(x, last) && out_append(x, "data: [DONE]\n\n", 14);
}

/* Produce the next events into x->out, waiting for the job. */
static bool next_events(srv_sse *x)
{
    srv_job *j = x->job;
    srv_queue *q = &x->srv->queue;
    if (!x->started) {
        x->started = true;
        if (j->kind == SRV_JOB_CHAT) {
            json_t *d = json_object();
            if (d == NULL)
                return false;
            json_object_set_new(d, "role", json_string("assistant"));
            json_object_set_new(d, "content", json_string(""));
            return emit(x, chunk(x, d, NULL));
        }
    }
    pthread_mutex_lock(&q->mu);
    while (j->state != SRV_JOB_DONE && x->sent >= j->ready)
        pthread_cond_wait(&j->cv, &q->mu);
    if (x->sent < j->ready) {
        char *text = srv_utf8_clean(j->text + x->sent, j->ready - x->sent);
        x->sent = j->ready;
        pthread_mutex_unlock(&q->mu);
        if (text == NULL)
            return false;
        bool ok = emit(x, chunk(x, text_piece(j, text), NULL));
        free(text);
        return ok;
    }
    pthread_mutex_unlock(&q->mu);
    /* done: state and outputs no longer change */
    x->finished = true;
    if (j->http_status != 0)
        return emit_error(x, j->http_status, j->err_type, j->err_code, j->err_msg);
    return emit_end(x);
}

ssize_t srv_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    srv_sse *x = cls;
    (void)pos;
    while (x->out_pos >= x->out_len) {
        if (x->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        x->out_len = x->out_pos = 0;
        if (!next_events(x))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->out_len - x->out_pos;
    if (n > max)
        n = max;
    memcpy(buf, x->out + x->out_pos, n);
    x->out_pos += n;
    return (ssize_t)n;
}
