/*
 * openai connector: any OpenAI-compatible server over HTTP(S) with libcurl.
 *
 *   POST {endpoint}/chat/completions   non-streaming JSON, or SSE when stream
 *   GET  {endpoint}/models             probe
 *
 * One curl easy handle per connector so keep-alive connections are reused.
 * TLS peer and host verification are always on. Redirects are not followed
 * (the Authorization header must not travel to another host). The whole
 * request, retries and waits included, is bounded by timeout_s; 429, 5xx and
 * connection failures are retried up to max_retries times with exponential
 * backoff and jitter, or after the server's Retry-After, but never once an
 * answer piece has been passed on.
 */
#include "connector_impl.h"
#include "connector_sse.h"
#include "errors.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_RESPONSE (8u << 20)
#define BACKOFF_BASE_MS 250.0
#define BACKOFF_MAX_MS 8000.0

typedef struct openai {
    CURL *curl;
    char *base; /* endpoint without trailing '/' */
    char *model;
    char *auth; /* "Authorization: Bearer KEY" or NULL; wiped on close */
    char *ca_file;
    double connect_timeout_s, timeout_s, read_timeout_s;
    int max_retries;
    bool stream;
    size_t max_response;
} openai;

/* One HTTP exchange (one attempt). */
typedef struct xfer {
    openai *o;
    plmm_connector *c;
    const plmm_connector_request *req; /* NULL for probe */
    plmm_connector_result *res;        /* NULL for probe */
    long http;                         /* status once the first body byte arrived */
    bool sse;                          /* the 200 body is an event stream */
    bool started;
    char *body; /* non-SSE body (bounded) */
    size_t body_len, body_cap;
    plmm_sse_parser parser;
    char *text; /* answer assembled from deltas */
    size_t text_len, text_cap;
    bool delivered;     /* a piece went to on_piece: no retry */
    bool done;          /* saw [DONE] */
    plmm_status failed; /* error raised inside a callback (detail recorded) */
    double last_rx;     /* monotonic time of the last byte (or the start) */
    bool stalled;       /* aborted by the read timeout */
} xfer;

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static plmm_status append(char **buf, size_t *len, size_t *cap, const char *src, size_t n,
                          size_t max, const char *what)
{
    if (*len + n > max)
        return plmm_err(PLMM_ERR_RANGE, "%s larger than %zu bytes", what, max);
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (b == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return PLMM_OK;
}

/* Printable one-line excerpt of a non-JSON body: tags dropped, whitespace
 * collapsed, at most cap-1 bytes. */
static void excerpt(const char *body, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool in_tag = false, space = true;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)body[i];
        if (ch == '<') {
            in_tag = true;
            continue;
        }
        if (in_tag) {
            if (ch == '>') {
                in_tag = false;
                if (!space && o + 1 < cap) {
                    out[o++] = ' ';
                    space = true;
                }
            }
            continue;
        }
        if (isspace(ch)) {
            if (!space)
                out[o++] = ' ';
            space = true;
            continue;
        }
        out[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        space = false;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    if (o + 4 >= cap && len > 0) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The message an OpenAI-style error body carries: {"error":{"message":..}},
 * {"error":"..."} (ollama), {"message":..} (vLLM), {"detail":..} (FastAPI). */
static bool error_message(json_t *root, char *out, size_t cap)
{
    if (!json_is_object(root))
        return false;
    json_t *e = json_object_get(root, "error");
    json_t *m = NULL;
    if (json_is_object(e)) {
        m = json_object_get(e, "message");
        if (!json_is_string(m))
            m = json_object_get(e, "msg");
    } else if (json_is_string(e)) {
        m = e;
    }
    if (m == NULL)
        m = json_object_get(root, "message");
    if (m == NULL)
        m = json_object_get(root, "detail");
    if (json_is_string(m)) {
        snprintf(out, cap, "%s", json_string_value(m));
        return true;
    }
    if (m != NULL || e != NULL) {
        char *d = json_dumps(m ? m : e, JSON_COMPACT);
        if (d != NULL) {
            snprintf(out, cap, "%.300s", d);
            free(d);
            return true;
        }
    }
    return false;
}

/* Describe a non-2xx response body. */
static void describe_body(const xfer *x, char *out, size_t cap)
{
    if (x->body_len == 0) {
        snprintf(out, cap, "empty body");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(x->body, x->body_len, 0, &jerr);
    bool ok = root != NULL && error_message(root, out, cap);
    json_decref(root);
    if (ok)
        return;
    char ex[200];
    excerpt(x->body, x->body_len, ex, sizeof(ex));
    snprintf(out, cap, "non-JSON body: \"%s\"", ex);
}

/* ---- answer assembly ---- */

static plmm_status add_piece(xfer *x, const char *s, size_t n)
{
    if (n == 0)
        return PLMM_OK;
    plmm_status st =
        append(&x->text, &x->text_len, &x->text_cap, s, n, x->o->max_response, "answer");
    if (st != PLMM_OK)
        return st;
    if (x->req->on_piece != NULL) {
        x->delivered = true;
        if (!x->req->on_piece(x->req->user, s, n))
            return plmm_err(PLMM_ERR_CANCELLED, "answer cancelled by the caller");
    }
    return PLMM_OK;
}

static void take_usage(xfer *x, json_t *root)
{
    json_t *u = json_object_get(root, "usage");
    if (!json_is_object(u))
        return;
    json_t *p = json_object_get(u, "prompt_tokens");
    json_t *c = json_object_get(u, "completion_tokens");
    if (json_is_integer(p) && json_integer_value(p) >= 0)
        x->res->prompt_tokens = json_integer_value(p);
    if (json_is_integer(c) && json_integer_value(c) >= 0)
        x->res->completion_tokens = json_integer_value(c);
    if (json_is_integer(p) || json_is_integer(c))
        x->res->usage_from_server = true;
}

static plmm_status take_receipt(xfer *x, json_t *root)
{
    json_t *r = json_object_get(root, "plmm_receipt");
    if (r == NULL || json_is_null(r))
        return PLMM_OK;
    free(x->res->receipt_json);
    x->res->receipt_json = json_dumps(r, JSON_COMPACT);
    if (x->res->receipt_json == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    return PLMM_OK;
}

static void take_finish(xfer *x, json_t *choice)
{
    json_t *f = json_object_get(choice, "finish_reason");
    if (json_is_string(f))
        snprintf(x->res->finish_reason, sizeof(x->res->finish_reason), "%s", json_string_value(f));
}

/* A whole (non-streamed) chat completion object. */
static plmm_status parse_completion(xfer *x)
{
    json_error_t jerr;
    json_t *root = json_loadb(x->body, x->body_len, 0, &jerr);
    if (root == NULL) {
        char ex[120];
        excerpt(x->body, x->body_len, ex, sizeof(ex));
        return plmm_err(PLMM_ERR_NETWORK, "malformed JSON in the response (%s at byte %d): \"%s\"",
                        jerr.text, jerr.position, ex);
    }
    plmm_status st = PLMM_OK;
    char msg[512];
    json_t *choices = json_object_get(root, "choices");
    json_t *ch = json_array_get(choices, 0);
    json_t *content = json_object_get(json_object_get(ch, "message"), "content");
    if (json_object_get(root, "error") != NULL && error_message(root, msg, sizeof(msg))) {
        st = plmm_err(PLMM_ERR_NETWORK, "server reported an error: %s", msg);
    } else if (!json_is_object(ch)) {
        st = plmm_err(PLMM_ERR_NETWORK, "response has no choices[0]");
    } else if (!json_is_string(content) && !json_is_null(content)) {
        st = plmm_err(PLMM_ERR_NETWORK, "response choices[0].message.content is not a string");
    } else {
        take_usage(x, root);
        take_finish(x, ch);
        st = take_receipt(x, root);
        if (st == PLMM_OK && json_is_string(content))
            st = add_piece(x, json_string_value(content), json_string_length(content));
    }
    json_decref(root);
    return st;
}

/* One SSE event of a streamed completion. */
static plmm_status on_event(void *user, const char *event, const char *data, size_t len)
{
    xfer *x = user;
    char msg[512];
    if (x->done)
        return PLMM_OK; /* nothing counts after [DONE] */
    if (strcmp(event, "error") != 0 && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        x->done = true;
        return PLMM_OK;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (strcmp(event, "error") == 0) {
        if (root == NULL || !error_message(root, msg, sizeof(msg)))
            excerpt(data, len, msg, 200);
        json_decref(root);
        return plmm_err(PLMM_ERR_NETWORK, "server reported an error mid-stream: %s", msg);
    }
    if (root == NULL) {
        char ex[120];
        excerpt(data, len, ex, sizeof(ex));
        return plmm_err(PLMM_ERR_NETWORK, "malformed JSON in stream event %zu (%s): \"%s\"",
                        x->parser.n_events, jerr.text, ex);
    }
    plmm_status st = PLMM_OK;
    if (json_object_get(root, "error") != NULL && error_message(root, msg, sizeof(msg))) {
        st = plmm_err(PLMM_ERR_NETWORK, "server reported an error mid-stream: %s", msg);
        goto out;
    }
    take_usage(x, root);
    if ((st = take_receipt(x, root)) != PLMM_OK)
        goto out;
    json_t *ch = json_array_get(json_object_get(root, "choices"), 0);
    if (json_is_object(ch)) {
        take_finish(x, ch);
        json_t *content = json_object_get(json_object_get(ch, "delta"), "content");
        if (json_is_string(content))
            st = add_piece(x, json_string_value(content), json_string_length(content));
    }
out:
    json_decref(root);
    return st;
}

/* ---- curl callbacks ---- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    xfer *x = user;
    size_t n = size * nmemb;
    x->last_rx = now_s();
    if (!x->started) {
        x->started = true;
        curl_easy_getinfo(x->o->curl, CURLINFO_RESPONSE_CODE, &x->http);
        const char *ct = NULL;
        curl_easy_getinfo(x->o->curl, CURLINFO_CONTENT_TYPE, &ct);
        x->sse = x->req != NULL && x->http >= 200 && x->http < 300 && ct != NULL &&
                 strstr(ct, "text/event-stream") != NULL;
    }
    plmm_status st;
    if (x->sse)
        st = plmm_sse_feed(&x->parser, ptr, n);
    else
        st = append(&x->body, &x->body_len, &x->body_cap, ptr, n, x->o->max_response,
                    "response body");
    if (st != PLMM_OK) {
        x->failed = st;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Called about once a second even while nothing arrives: the read timeout. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xfer *x = user;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (x->o->read_timeout_s > 0 && now_s() - x->last_rx > x->o->read_timeout_s) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

static void xfer_reset(xfer *x)
{
    x->last_rx = now_s();
    x->stalled = false;
    x->http = 0;
    x->sse = x->started = x->done = false;
    x->body_len = 0;
    x->text_len = 0;
    x->failed = PLMM_OK;
    plmm_sse_finish(&x->parser, NULL);
    x->parser.n_events = 0;
    if (x->res != NULL) {
        x->res->prompt_tokens = x->res->completion_tokens = -1;
        x->res->usage_from_server = false;
        x->res->finish_reason[0] = '\0';
    }
}

static bool retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static bool retryable_http(long code)
{
    return code == 429 || code == 500 || code == 502 || code == 503 || code == 504 ||
           (code > 504 && code < 600);
}

static plmm_status http_status_error(long code)
{
    if (code == 401 || code == 403)
        return PLMM_ERR_AUTH;
    if (code == 404)
        return PLMM_ERR_NOT_FOUND;
    if (code == 400 || code == 413 || code == 422)
        return PLMM_ERR_INVALID_ARG;
    return PLMM_ERR_NETWORK;
}

/* Options for one attempt; deadline bounds the attempt's total time. */
static plmm_status setup(openai *o, xfer *x, const char *url, const char *body, size_t len,
                         struct curl_slist *hdrs, double remaining_s, char *errbuf)
{
    CURL *h = o->curl;
    curl_easy_reset(h);
    long total_ms = (long)(remaining_s * 1000.0);
    if (total_ms < 1)
        total_ms = 1;
    long conn_ms = (long)(o->connect_timeout_s * 1000.0);
    if (conn_ms <= 0 || conn_ms > total_ms)
        conn_ms = total_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(h, opt, val)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->ca_file != NULL)
        SET(CURLOPT_CAINFO, o->ca_file);
    SET(CURLOPT_CONNECTTIMEOUT_MS, conn_ms);
    SET(CURLOPT_TIMEOUT_MS, total_ms);
    if (o->read_timeout_s > 0) {
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, x);
    }
    SET(CURLOPT_USERAGENT, "plmm/" PLMM_VERSION);
    SET(CURLOPT_HTTPHEADER, hdrs);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    if (body != NULL) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    if (rc != CURLE_OK)
        return plmm_err(PLMM_ERR_INTERNAL, "curl setup failed: %s", curl_easy_strerror(rc));
    return PLMM_OK;
}

/* Backoff before retry number attempt (1-based): base * 2^(attempt-1),
 * capped, with "equal jitter" (half fixed, half random). */
static double backoff_s(int attempt)
{
    double d = BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    double jitter = (double)randombytes_uniform(1001) / 1000.0;
    return (d / 2 + d / 2 * jitter) / 1000.0;
}

/* Run a request with retries. On success the last attempt's xfer holds a
 * 2xx response (body or parsed stream). */
static plmm_status perform(openai *o, xfer *x, const char *url, const char *body, size_t len,
                           int *attempts, long *http)
{
    struct curl_slist *hdrs = NULL, *t;
    const char *lines[] = {
        "Content-Type: application/json",
        x->req != NULL && o->stream ? "Accept: text/event-stream, application/json"
                                    : "Accept: application/json",
        "Expect:", /* no 100-continue round trip for large bodies */
        o->auth,
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i] == NULL || (body == NULL && i == 0))
            continue;
        t = curl_slist_append(hdrs, lines[i]);
        if (t == NULL) {
            curl_slist_free_all(hdrs);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
        hdrs = t;
    }
    const double start = now_s();
    const double total = o->timeout_s > 0 ? o->timeout_s : 600.0;
    plmm_status st = PLMM_OK;
    char errbuf[CURL_ERROR_SIZE];
    char why[600];
    for (int attempt = 0;; attempt++) {
        xfer_reset(x);
        errbuf[0] = '\0';
        double remaining = total - (now_s() - start);
        if ((st = setup(o, x, url, body, len, hdrs, remaining, errbuf)) != PLMM_OK)
            break;
        *attempts = attempt + 1;
        CURLcode rc = curl_easy_perform(o->curl);
        long code = 0;
        curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &code);
        *http = code;
        bool retry = false;
        if (x->failed != PLMM_OK) {
            st = x->failed; /* detail recorded by the callback */
            break;
        }
        if (rc != CURLE_OK) {
            const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
            if (x->stalled) {
                st = plmm_err(PLMM_ERR_TIMEOUT, "'%s' sent nothing for %.1f s (read timeout)", url,
                              o->read_timeout_s);
                break;
            }
            if (rc == CURLE_OPERATION_TIMEDOUT) {
                st = plmm_err(PLMM_ERR_TIMEOUT,
                              "no complete answer from '%s' within %.1f s "
                              "(curl: %s)",
                              url, now_s() - start, detail);
                break;
            }
            if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                rc == CURLE_SSL_CONNECT_ERROR) {
                st = plmm_err(PLMM_ERR_NETWORK,
                              "TLS failure with '%s' (certificate checks are "
                              "always on; set ca_file for a private CA): %s",
                              url, detail);
                break;
            }
            if (x->started)
                snprintf(why, sizeof(why), "connection to '%s' broke in the middle of the "
                         "response (%zu answer bytes received): %s", url, x->text_len, detail);
            else
                snprintf(why, sizeof(why), "cannot reach '%s': %s", url, detail);
            st = PLMM_ERR_NETWORK;
            retry = retryable_curl(rc);
        } else if (code < 200 || code >= 300) {
            char msg[512];
            describe_body(x, msg, sizeof(msg));
            snprintf(why, sizeof(why), "HTTP %ld from '%s': %s", code, url, msg);
            st = http_status_error(code);
            retry = retryable_http(code);
        } else {
            st = PLMM_OK;
            break;
        }
        if (!retry || x->delivered || attempt >= o->max_retries) {
            if (attempt > 0)
                st = plmm_err(st, "%s (after %d attempts)", why, attempt + 1);
            else
                st = plmm_err(st, "%s", why);
            break;
        }
        curl_off_t ra = -1;
        double wait = backoff_s(attempt + 1);
        if (curl_easy_getinfo(o->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            wait = (double)ra;
        if (now_s() - start + wait >= total) {
            st = plmm_err(st,
                          "%s (giving up after %d attempts: the next try, in %.1f s, would "
                          "pass the %.1f s timeout)",
                          why, attempt + 1, wait, total);
            break;
        }
        sleep_s(wait);
    }
    curl_slist_free_all(hdrs);
    return st;
}

/* ---- request body ---- */

static plmm_status build_body(const openai *o, const plmm_connector_request *req, char **out)
{
    json_t *root = json_object(), *msgs = json_array();
    int bad = root == NULL || msgs == NULL;
    if (!bad && o->model != NULL && o->model[0])
        bad |= json_object_set_new(root, "model", json_string(o->model));
    for (size_t i = 0; !bad && i < req->n_msgs; i++) {
        json_t *m = json_object();
        bad |= m == NULL;
        if (!bad) {
            bad |= json_object_set_new(m, "role", json_string(req->msgs[i].role));
            bad |= json_object_set_new(m, "content", json_string(req->msgs[i].content));
            bad |= json_array_append_new(msgs, m);
        }
    }
    if (bad) {
        json_decref(root);
        json_decref(msgs);
        return plmm_err(PLMM_ERR_INVALID_ARG, "cannot build the request (a message is not "
                                              "valid UTF-8, or out of memory)");
    }
    bad |= json_object_set_new(root, "messages", msgs);
    bad |= json_object_set_new(root, "stream", json_boolean(o->stream));
    if (o->stream) {
        /* usage arrives in the final chunk only when asked for */
        json_t *so = json_pack("{s:b}", "include_usage", 1);
        bad |= json_object_set_new(root, "stream_options", so);
    }
    if (req->max_tokens > 0)
        bad |= json_object_set_new(root, "max_tokens", json_integer(req->max_tokens));
    if (req->temperature >= 0)
        bad |= json_object_set_new(root, "temperature", json_real(req->temperature));
    *out = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (*out == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory building the request");
    return PLMM_OK;
}

/* ---- connector operations ---- */

static plmm_status openai_chat(plmm_connector *c, const plmm_connector_request *req,
                               plmm_connector_result *res)
{
    openai *o = c->impl;
    char *body = NULL, *url = NULL;
    plmm_status st = build_body(o, req, &body);
    if (st != PLMM_OK)
        return st;
    size_t len = strlen(body);
    size_t ulen = strlen(o->base) + sizeof("/chat/completions");
    url = malloc(ulen);
    if (url == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_body;
    }
    snprintf(url, ulen, "%s/chat/completions", o->base);
    if (req->before_send != NULL) {
        st = req->before_send(req->user, url, body, len);
        if (st != PLMM_OK) {
            const char *why = plmm_last_errmsg();
            st = plmm_err(st, "request to '%s' refused before sending%s%s", url, why[0] ? ": " : "",
                          why);
            goto out_url;
        }
    }
    xfer x = {.o = o, .c = c, .req = req, .res = res};
    plmm_sse_init(&x.parser, o->max_response, on_event, &x);
    long http = 0;
    st = perform(o, &x, url, body, len, &res->attempts, &http);
    res->http_status = (int)http;
    if (st == PLMM_OK) {
        if (x.sse) {
            bool pending = false;
            plmm_sse_finish(&x.parser, &pending);
            if (!x.done)
                st =
                    plmm_err(PLMM_ERR_NETWORK,
                             "stream from '%s' ended before [DONE] (%s; "
                             "%zu bytes of answer received)",
                             url, pending ? "last event cut off" : "connection closed", x.text_len);
        } else {
            st = parse_completion(&x); /* also when a server ignored "stream" */
        }
    }
    if (st == PLMM_OK) {
        if (x.text == NULL)
            st = append(&x.text, &x.text_len, &x.text_cap, "", 0, 1, "answer");
        res->text = x.text;
        x.text = NULL;
    }
    free(x.text);
    free(x.body);
    plmm_sse_free(&x.parser);
out_url:
    free(url);
out_body:
    free(body);
    return st;
}

static plmm_status openai_probe(plmm_connector *c, char *model_id, size_t size)
{
    openai *o = c->impl;
    size_t ulen = strlen(o->base) + sizeof("/models");
    char *url = malloc(ulen);
    if (url == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    snprintf(url, ulen, "%s/models", o->base);
    xfer x = {.o = o, .c = c};
    plmm_sse_init(&x.parser, o->max_response, on_event, &x);
    int attempts = 0;
    long http = 0;
    plmm_status st = perform(o, &x, url, NULL, 0, &attempts, &http);
    json_t *root = NULL;
    if (st == PLMM_OK) {
        json_error_t jerr;
        root = json_loadb(x.body ? x.body : "", x.body_len, 0, &jerr);
        json_t *data = json_object_get(root, "data");
        if (root == NULL)
            st = plmm_err(PLMM_ERR_NETWORK, "malformed JSON from '%s': %s", url, jerr.text);
        else if (!json_is_array(data))
            st = plmm_err(PLMM_ERR_NETWORK, "'%s' returned no \"data\" list", url);
        else if (json_array_size(data) == 0)
            st = plmm_err(PLMM_ERR_NOT_FOUND, "'%s' lists no models", url);
        else {
            const char *pick = NULL;
            size_t i;
            json_t *m;
            json_array_foreach(data, i, m)
            {
                const char *id = json_string_value(json_object_get(m, "id"));
                if (id != NULL && pick == NULL)
                    pick = id;
                if (id != NULL && o->model != NULL && strcmp(id, o->model) == 0) {
                    pick = id;
                    break;
                }
            }
            if (pick == NULL)
                st = plmm_err(PLMM_ERR_NETWORK, "'%s' lists models without an \"id\"", url);
            else
                snprintf(model_id, size, "%s", pick);
        }
    }
    json_decref(root);
    free(x.body);
    plmm_sse_free(&x.parser);
    free(url);
    return st;
}

static void openai_close(plmm_connector *c)
{
    openai *o = c->impl;
    if (o == NULL)
        return;
    if (o->curl != NULL)
        curl_easy_cleanup(o->curl);
    if (o->auth != NULL) {
        sodium_memzero(o->auth, strlen(o->auth));
        free(o->auth);
    }
    free(o->base);
    free(o->model);
    free(o->ca_file);
    free(o);
    c->impl = NULL;
}

static const plmm_connector_ops openai_ops = {
    .chat = openai_chat,
    .probe = openai_probe,
    .close = openai_close,
};

plmm_status plmm_connector_openai_check_endpoint(const char *endpoint)
{
    if (endpoint == NULL || endpoint[0] == '\0')
        return plmm_err(PLMM_ERR_CONFIG, "no endpoint configured (e.g. http://127.0.0.1:8080/v1)");
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)
        return plmm_err(PLMM_ERR_CONFIG, "endpoint '%s' must start with http:// or https://",
                        endpoint);
    for (const char *p = endpoint; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return plmm_err(PLMM_ERR_CONFIG,
                            "endpoint '%s' contains a space or control "
                            "character",
                            endpoint);
    return PLMM_OK;
}

plmm_status plmm_connector_openai_open(plmm_connector *c, const plmm_connector_config *cfg)
{
    plmm_status st = plmm_connector_openai_check_endpoint(cfg->endpoint);
    if (st != PLMM_OK)
        return st;
    if (cfg->max_retries < 0 || cfg->max_retries > 20)
        return plmm_err(PLMM_ERR_CONFIG, "retries %d out of range 0..20", cfg->max_retries);
    if (cfg->timeout_s < 0 || cfg->connect_timeout_s < 0 || cfg->read_timeout_s < 0)
        return plmm_err(PLMM_ERR_CONFIG, "negative timeout");
    if (cfg->api_key != NULL)
        for (const char *p = cfg->api_key; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return plmm_err(PLMM_ERR_CONFIG, "api key contains a control character");
    openai *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    c->impl = o;
    c->ops = &openai_ops;
    o->base = plmm_connector_strdup(cfg->endpoint);
    o->model = plmm_connector_strdup(cfg->model ? cfg->model : "");
    o->ca_file = plmm_connector_strdup(cfg->ca_file && cfg->ca_file[0] ? cfg->ca_file : NULL);
    if (o->base == NULL || o->model == NULL ||
        (cfg->ca_file && cfg->ca_file[0] && o->ca_file == NULL)) {
        st = PLMM_ERR_NOMEM;
        goto fail;
    }
    size_t bl = strlen(o->base);
    while (bl > 0 && o->base[bl - 1] == '/')
        o->base[--bl] = '\0';
    if (cfg->api_key != NULL && cfg->api_key[0]) {
        size_t n = strlen(cfg->api_key) + sizeof("Authorization: Bearer ");
        o->auth = malloc(n);
        if (o->auth == NULL) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            goto fail;
        }
        snprintf(o->auth, n, "Authorization: Bearer %s", cfg->api_key);
    }
    o->connect_timeout_s = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10.0;
    o->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 120.0;
    o->read_timeout_s = cfg->read_timeout_s;
    o->max_retries = cfg->max_retries;
    o->stream = cfg->stream;
    o->max_response = cfg->max_response_bytes ? cfg->max_response_bytes : DEFAULT_MAX_RESPONSE;
    o->curl = curl_easy_init();
    if (o->curl == NULL) {
        st = plmm_err(PLMM_ERR_NETWORK, "cannot initialise libcurl");
        goto fail;
    }
    return PLMM_OK;
fail:
    openai_close(c);
    c->ops = NULL;
    return st;
}
