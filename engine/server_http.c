/*
 * The server's HTTP plumbing on libmicrohttpd: one thread per connection,
 * request bodies collected up to [server] max_body_bytes (larger ones get
 * 413 and are discarded), JSON and SSE responses, the completion hook that
 * cancels abandoned jobs and writes the request log.
 */
#include "engine_impl.h"
#include "errors.h"
#include "server_impl.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- connections ---- */

static srv_conn *conn_new(plmm_server *s, struct MHD_Connection *mc, const char *url,
                          const char *method)
{
    srv_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->srv = s;
    c->mc = mc;
    c->t0 = plmm_now_ms();
    snprintf(c->method, sizeof(c->method), "%s", method);
    c->path = strdup(url);
    if (c->path == NULL) {
        free(c);
        return NULL;
    }
    snprintf(c->remote, sizeof(c->remote), "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci != NULL && ci->client_addr != NULL) {
        char host[48], serv[8]; /* numeric: an IPv6 address and a port fit */
        socklen_t alen = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, alen, host, sizeof(host), serv, sizeof(serv),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(c->remote, sizeof(c->remote), "%s:%s", host, serv);
    }
    return c;
}

static void conn_free(srv_conn *c)
{
    free(c->sse.out);
    free(c->body);
    free(c->error);
    free(c->path);
    free(c);
}

static bool body_append(srv_conn *c, const char *data, size_t n)
{
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n + 1)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (b == NULL)
            return false;
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return true;
}

/* ---- responses ---- */

static enum MHD_Result queue(srv_conn *c, int status, struct MHD_Response *r)
{
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Server", "plmm/" PLMM_VERSION);
    enum MHD_Result res = MHD_queue_response(c->mc, (unsigned)status, r);
    MHD_destroy_response(r);
    c->answered = true;
    c->status = status;
    return res;
}

enum MHD_Result srv_send_json(srv_conn *c, int status, char *json)
{
    if (json == NULL)
        return MHD_NO;
    size_t len = strlen(json);
    if (len < 1 || json[len - 1] != '\n') {
        char *nj = realloc(json, len + 2);
        if (nj == NULL) {
            free(json);
            return MHD_NO;
        }
        json = nj;
        json[len++] = '\n';
        json[len] = '\0';
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return queue(c, status, r);
}

enum MHD_Result srv_send_error(srv_conn *c, const srv_error *err)
{
    free(c->error);
    c->error = strdup(err->message);
    srv_logf(c->srv, PLMM_LOG_INFO, "%s %s -> %d: %s", c->method, c->path, err->status,
             err->message);
    char *json = srv_error_json(err);
    if (json == NULL)
        return MHD_NO;
    size_t len = strlen(json);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (err->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (err->status == 503 || err->status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    if (err->status == 405)
        MHD_add_response_header(r, "Allow", err->param);
    return queue(c, err->status, r);
}

enum MHD_Result srv_send_errorf(srv_conn *c, int status, const char *type, const char *code,
                                const char *param, const char *fmt, ...)
{
    srv_error e;
    va_list ap;
    e.status = status;
    e.type = type;
    e.code = code;
    snprintf(e.param, sizeof(e.param), "%s", param != NULL ? param : "");
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    return srv_send_error(c, &e);
}

static void sse_free_cb(void *cls)
{
    (void)cls; /* the state lives in the connection, freed when it completes */
}

enum MHD_Result srv_send_stream(srv_conn *c)
{
    c->sse.srv = c->srv;
    c->sse.job = c->job;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, srv_sse_read,
                                                               &c->sse, sse_free_cb);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return queue(c, 200, r);
}

enum MHD_Result srv_send_file(srv_conn *c, int fd, uint64_t size)
{
    struct MHD_Response *r = MHD_create_response_from_fd64(size, fd);
    if (r == NULL) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/octet-stream");
    return queue(c, 200, r);
}

/* ---- the access handler ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    plmm_server *s = cls;
    srv_conn *c = *con_cls;
    (void)version;
    if (c == NULL) {
        c = conn_new(s, mc, url, method);
        if (c == NULL)
            return MHD_NO;
        *con_cls = c;
        const char *cl =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes) {
            c->too_large = true;
            return srv_send_errorf(c, 413, "invalid_request_error", "request_too_large", NULL,
                                   "the request body of %s bytes is larger than the %llu bytes "
                                   "this server accepts ([server] max_body_bytes)",
                                   cl, (unsigned long long)s->cfg.max_body_bytes);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_large || c->answered)
            return MHD_YES; /* discarded */
        if (c->body_len + n > s->cfg.max_body_bytes) {
            c->too_large = true;
            free(c->body);
            c->body = NULL;
            c->body_len = c->body_cap = 0;
            return MHD_YES;
        }
        return body_append(c, upload_data, n) ? MHD_YES : MHD_NO;
    }
    if (c->answered)
        return MHD_YES;
    if (c->too_large)
        return srv_send_errorf(c, 413, "invalid_request_error", "request_too_large", NULL,
                               "the request body is larger than the %llu bytes this server "
                               "accepts ([server] max_body_bytes)",
                               (unsigned long long)s->cfg.max_body_bytes);
    if (c->body == NULL && !body_append(c, "", 0))
        return MHD_NO;
    return srv_route(c);
}

/* ---- completion: cancel, log, free ---- */

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    plmm_server *s = cls;
    srv_conn *c = *con_cls;
    (void)mc;
    if (c == NULL)
        return;
    *con_cls = NULL;
    srv_log_entry e = {
        .remote = c->remote,
        .method = c->method,
        .path = c->path,
        .status = c->answered ? c->status : 0,
        .completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK,
        .duration_ms = plmm_now_ms() - c->t0,
        .error = c->error,
        .body = c->body_len > 0 ? c->body : NULL,
        .body_len = c->body_len,
    };
    if (strcmp(c->path, "/v1/chat/completions") == 0 || strcmp(c->path, "/v1/completions") == 0)
        e.model = s->model_id;
    srv_job *j = c->job;
    if (j != NULL) {
        srv_queue *q = &s->queue;
        pthread_mutex_lock(&q->mu);
        if (j->state != SRV_JOB_DONE) {
            j->cancel = true;
            pthread_cond_broadcast(&q->work);
        }
        e.request_id = j->id;
        e.prompt_tokens = j->n_prompt;
        e.completion_tokens = j->n_completion;
        e.has_usage = true;
        e.finish_reason = j->state == SRV_JOB_DONE && j->http_status == 0 ? j->finish_reason : NULL;
        if (j->state == SRV_JOB_DONE && j->http_status != 0 && e.error == NULL)
            e.error = j->err_msg;
        if (!e.completed && e.error == NULL)
            e.error = "the client closed the connection before the answer was complete";
        pthread_mutex_unlock(&q->mu);
        srv_log_write(&s->log, &e);
        srv_job_release(q, j);
        pthread_mutex_lock(&s->conn_mu);
        s->n_job_conns--;
        pthread_mutex_unlock(&s->conn_mu);
    } else {
        srv_log_write(&s->log, &e);
    }
    conn_free(c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) PLMM_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    srv_logf(cls, PLMM_LOG_WARN, "http: %s", buf);
}

plmm_status srv_http_start(plmm_server *s)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* the logger goes first so that MHD never prints to stderr itself */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.idle_timeout, MHD_OPTION_END);
    if (s->daemon == NULL)
        return plmm_err(PLMM_ERR_NETWORK, "cannot start the HTTP server on %s:%u", s->cfg.host,
                        (unsigned)s->cfg.port);
    s->listen_fd = -1; /* the daemon owns it now */
    return PLMM_OK;
}

void srv_http_quiesce(plmm_server *s)
{
    if (s->daemon == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void srv_http_stop(plmm_server *s)
{
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
