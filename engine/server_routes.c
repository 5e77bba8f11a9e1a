/*
 * The server's endpoints:
 *
 *   POST /v1/chat/completions   chat, streamed (SSE) or not
 *   POST /v1/completions        plain text continuation, streamed or not
 *   GET  /v1/models             the one model served
 *   GET  /v1/models/ID
 *   GET  /v1/bundles            update bundles in [server] bundles_dir
 *   GET  /v1/bundles/NAME       one bundle, read-only
 *   GET  /health                liveness and load (no authentication)
 *
 * Unknown paths get 404, known paths with another method 405, requests
 * without the configured API key 401.
 */
#include "errors.h"
#include "server_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- JSON helpers ---- */

char *srv_dump(json_t *obj)
{
    if (obj == NULL)
        return NULL;
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    return s;
}

char *srv_error_json(const srv_error *err)
{
    json_t *e = json_object();
    json_t *root = json_object();
    if (e == NULL || root == NULL) {
        json_decref(e);
        json_decref(root);
        return NULL;
    }
    json_object_set_new(e, "message", json_string(err->message));
    json_object_set_new(e, "type", json_string(err->type));
    json_object_set_new(e, "param",
                        err->param[0] != '\0' && err->status != 405 ? json_string(err->param)
                                                                    : json_null());
    json_object_set_new(e, "code", err->code != NULL ? json_string(err->code) : json_null());
    json_object_set_new(root, "error", e);
    char *s = srv_dump(root);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (t == NULL) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

json_t *srv_usage_json(const srv_job *job)
{
    json_t *u = json_object();
    if (u == NULL)
        return NULL;
    json_object_set_new(u, "prompt_tokens", json_integer((json_int_t)job->n_prompt));
    json_object_set_new(u, "completion_tokens", json_integer((json_int_t)job->n_completion));
    json_object_set_new(u, "total_tokens",
                        json_integer((json_int_t)(job->n_prompt + job->n_completion)));
    return u;
}

void srv_add_receipt(plmm_server *s, const srv_job *job, json_t *obj)
{
    if (s->receipt == NULL)
        return;
    char *text =
        s->receipt(s->receipt_user, job->id, s->model_id, job->n_prompt, job->n_completion);
    if (text == NULL)
        return;
    json_error_t je;
    json_t *r = json_loads(text, 0, &je);
    if (r == NULL || !json_is_object(r)) {
        srv_logf(s, PLMM_LOG_ERROR, "receipt hook returned %s for %s: dropped",
                 r == NULL ? "invalid JSON" : "JSON that is not an object", job->id);
        json_decref(r);
    } else {
        json_object_set_new(obj, "plmm_receipt", r);
    }
    free(text);
}

char *srv_completion_json(plmm_server *s, srv_job *job)
{
    char *text = srv_utf8_clean(job->text != NULL ? job->text : "", job->len);
    json_t *root = json_object(), *choices = json_array(), *choice = json_object();
    if (text == NULL || root == NULL || choices == NULL || choice == NULL) {
        free(text);
        json_decref(root);
        json_decref(choices);
        json_decref(choice);
        return NULL;
    }
    bool chat = job->kind == SRV_JOB_CHAT;
    json_object_set_new(root, "id", json_string(job->id));
    json_object_set_new(root, "object", json_string(chat ? "chat.completion" : "text_completion"));
    json_object_set_new(root, "created", json_integer(job->created));
    json_object_set_new(root, "model", json_string(s->model_id));
    json_object_set_new(choice, "index", json_integer(0));
    if (chat) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", json_string(text));
        json_object_set_new(choice, "message", msg);
    } else {
        json_object_set_new(choice, "text", json_string(text));
    }
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", json_string(job->finish_reason));
    json_array_append_new(choices, choice);
    json_object_set_new(root, "choices", choices);
    json_object_set_new(root, "usage", srv_usage_json(job));
    srv_add_receipt(s, job, root);
    free(text);
    return srv_dump(root);
}

/* ---- completions ---- */

static enum MHD_Result completion(srv_conn *c, srv_job_kind kind)
{
    plmm_server *s = c->srv;
    srv_error err;
    srv_job *job = srv_job_new();
    if (job == NULL)
        return srv_send_errorf(c, 500, "server_error", NULL, NULL, "out of memory");
    if (!srv_parse_request(s, kind, c->body, c->body_len, job, &err)) {
        srv_job_release(&s->queue, job);
        return srv_send_error(c, &err);
    }
    uint64_t n = atomic_fetch_add(&s->next_id, 1);
    snprintf(job->id, sizeof(job->id), "%s-%016llx%06llx",
             kind == SRV_JOB_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)s->id_base,
             (unsigned long long)(n & 0xffffff));
    job->created = srv_unix_time();

    bool closing = false;
    if (srv_job_submit(&s->queue, job, &closing) != PLMM_OK) {
        srv_job_release(&s->queue, job);
        if (closing)
            return srv_send_errorf(c, 503, "server_error", "shutting_down", NULL,
                                   "the server is shutting down");
        return srv_send_errorf(c, 503, "server_error", "queue_full", NULL,
                               "the server is busy: all %u slots are generating and the "
                               "queue of %u waiting requests is full; retry later",
                               s->cfg.slots, s->cfg.queue);
    }
    c->job = job;
    pthread_mutex_lock(&s->conn_mu);
    s->n_job_conns++;
    pthread_mutex_unlock(&s->conn_mu);

    if (job->stream)
        return srv_send_stream(c);
    srv_job_wait(&s->queue, job);
    if (job->http_status != 0) {
        srv_error e;
        srv_error_set(&e, job->http_status, job->err_type, job->err_code, NULL, "%s", job->err_msg);
        return srv_send_error(c, &e);
    }
    char *json = srv_completion_json(s, job);
    if (json == NULL)
        return srv_send_errorf(c, 500, "server_error", NULL, NULL, "out of memory");
    return srv_send_json(c, 200, json);
}

/* ---- models, health ---- */

static json_t *model_object(plmm_server *s)
{
    json_t *m = json_object();
    if (m == NULL)
        return NULL;
    json_object_set_new(m, "id", json_string(s->model_id));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(s->created));
    json_object_set_new(m, "owned_by", json_string("plmm"));
    json_object_set_new(m, "context_length", json_integer(s->n_ctx));
    return m;
}

static enum MHD_Result models(srv_conn *c)
{
    json_t *root = json_object(), *data = json_array();
    if (root == NULL || data == NULL) {
        json_decref(root);
        json_decref(data);
        return MHD_NO;
    }
    json_array_append_new(data, model_object(c->srv));
    json_object_set_new(root, "object", json_string("list"));
    json_object_set_new(root, "data", data);
    return srv_send_json(c, 200, srv_dump(root));
}

static enum MHD_Result model_by_id(srv_conn *c, const char *id)
{
    if (strcmp(id, c->srv->model_id) != 0)
        return srv_send_errorf(c, 404, "invalid_request_error", "model_not_found", "model",
                               "the model '%s' does not exist: this server serves '%s'", id,
                               c->srv->model_id);
    return srv_send_json(c, 200, srv_dump(model_object(c->srv)));
}

static enum MHD_Result health(srv_conn *c)
{
    plmm_server *s = c->srv;
    uint32_t running, queued;
    srv_queue_counts(&s->queue, &running, &queued);
    bool stopping = atomic_load(&s->stops) > 0;
    json_t *root = json_object();
    if (root == NULL)
        return MHD_NO;
    json_object_set_new(root, "status", json_string(stopping ? "shutting_down" : "ok"));
    json_object_set_new(root, "model", json_string(s->model_id));
    json_object_set_new(root, "slots", json_integer(s->cfg.slots));
    json_object_set_new(root, "slots_busy", json_integer(running));
    json_object_set_new(root, "queued", json_integer(queued));
    json_object_set_new(root, "queue_capacity", json_integer(s->cfg.queue));
    return srv_send_json(c, stopping ? 503 : 200, srv_dump(root));
}

/* ---- bundles ---- */

/* Letters, digits, '.', '_' and '-', not starting with '.', at most 255
 * bytes: no '/', no "..", no hidden files. */
static bool bundle_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                  json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static enum MHD_Result bundle_list(srv_conn *c)
{
    plmm_server *s = c->srv;
    int fd = dup(s->bundles_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return srv_send_errorf(c, 500, "server_error", NULL, NULL,
                               "cannot read the bundles directory: %s", strerror(errno));
    }
    rewinddir(d);
    json_t *items[1024];
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL && n < 1024;) {
        struct stat st;
        if (!bundle_name_ok(de->d_name) ||
            fstatat(s->bundles_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        json_t *o = json_object();
        if (o == NULL)
            break;
        json_object_set_new(o, "name", json_string(de->d_name));
        json_object_set_new(o, "size", json_integer((json_int_t)st.st_size));
        items[n++] = o;
    }
    closedir(d);
    qsort(items, n, sizeof(items[0]), cmp_str);
    json_t *root = json_object(), *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, items[i]);
    json_object_set_new(root, "object", json_string("list"));
    json_object_set_new(root, "data", data);
    return srv_send_json(c, 200, srv_dump(root));
}

static enum MHD_Result bundle_get(srv_conn *c, const char *name)
{
    plmm_server *s = c->srv;
    if (!bundle_name_ok(name))
        return srv_send_errorf(c, 400, "invalid_request_error", "invalid_bundle_name", "name",
                               "bundle name '%.80s' is not allowed: use letters, digits, '.', "
                               "'_' and '-', not starting with '.'",
                               name);
    int fd = openat(s->bundles_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return srv_send_errorf(c, 404, "invalid_request_error", "bundle_not_found", "name",
                               "no bundle named '%s'", name);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return srv_send_errorf(c, 404, "invalid_request_error", "bundle_not_found", "name",
                               "no bundle named '%s'", name);
    }
    return srv_send_file(c, fd, (uint64_t)st.st_size);
}

/* ---- dispatch ---- */

static bool key_ok(const char *given, const char *key)
{
    size_t lg = strlen(given), lk = strlen(key);
    unsigned diff = lg != lk;
    for (size_t i = 0; i < lk; i++)
        diff |= (unsigned)((unsigned char)(i < lg ? given[i] : 0) ^ (unsigned char)key[i]);
    return diff == 0;
}

static enum MHD_Result method_not_allowed(srv_conn *c, const char *allow)
{
    return srv_send_errorf(c, 405, "invalid_request_error", "method_not_allowed", allow,
                           "method %s is not allowed on %s: use %s", c->method, c->path, allow);
}

enum MHD_Result srv_route(srv_conn *c)
{
    plmm_server *s = c->srv;
    const char *p = c->path;
    bool get = strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0;
    bool post = strcmp(c->method, "POST") == 0;

    if (strcmp(p, "/health") == 0)
        return get ? health(c) : method_not_allowed(c, "GET");

    if (s->cfg.api_key != NULL) {
        const char *h =
            MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (h == NULL)
            return srv_send_errorf(c, 401, "invalid_request_error", "missing_api_key", NULL,
                                   "this server needs an API key: send 'Authorization: Bearer "
                                   "KEY'");
        if (strncmp(h, "Bearer ", 7) != 0 || !key_ok(h + 7, s->cfg.api_key))
            return srv_send_errorf(c, 401, "invalid_request_error", "invalid_api_key", NULL,
                                   "the API key is not valid");
    }

    if (strcmp(p, "/v1/chat/completions") == 0)
        return post ? completion(c, SRV_JOB_CHAT) : method_not_allowed(c, "POST");
    if (strcmp(p, "/v1/completions") == 0)
        return post ? completion(c, SRV_JOB_COMPLETION) : method_not_allowed(c, "POST");
    if (strcmp(p, "/v1/models") == 0)
        return get ? models(c) : method_not_allowed(c, "GET");
    if (strncmp(p, "/v1/models/", 11) == 0)
        return get ? model_by_id(c, p + 11) : method_not_allowed(c, "GET");
    if (strcmp(p, "/v1/bundles") == 0 || strncmp(p, "/v1/bundles/", 12) == 0) {
        if (s->bundles_fd < 0)
            return srv_send_errorf(c, 404, "invalid_request_error", "not_found", NULL,
                                   "this server serves no bundles ([server] bundles_dir is "
                                   "not set)");
        if (!get)
            return method_not_allowed(c, "GET");
        return p[11] == '\0' ? bundle_list(c) : bundle_get(c, p + 12);
    }
    return srv_send_errorf(c, 404, "invalid_request_error", "not_found", NULL,
                           "unknown path %s %s: this server has /v1/chat/completions, "
                           "/v1/completions, /v1/models and /health",
                           c->method, p);
}
