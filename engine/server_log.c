/*
 * The server's request log ([server] request_log): one JSON object per
 * line and request, appended and flushed as each request completes:
 *
 *   {"time":"2026-01-02T03:04:05.678Z","remote":"127.0.0.1:51234",
 *    "method":"POST","path":"/v1/chat/completions","status":200,
 *    "completed":true,"duration_ms":12.3,"model":"stories260K-Q8_0",
 *    "id":"chatcmpl-...","prompt_tokens":21,"completion_tokens":16,
 *    "finish_reason":"length","error":null,"body":{...}}
 *
 * "body" (with [server] log_bodies) is the request body as JSON when it
 * parses, else as a string; the token fields appear for completions only.
 */
#include "errors.h"
#include "server_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

plmm_status srv_log_open(srv_log *log, const char *path, bool bodies)
{
    memset(log, 0, sizeof(*log));
    log->bodies = bodies;
    log->inited = true;
    pthread_mutex_init(&log->mu, NULL);
    if (path == NULL)
        return PLMM_OK;
    log->f = fopen(path, "ae");
    if (log->f == NULL)
        return plmm_err(PLMM_ERR_IO, "cannot open the request log '%s': %s", path, strerror(errno));
    return PLMM_OK;
}

static json_t *str_or_null(const char *s)
{
    if (s == NULL)
        return json_null();
    char *clean = srv_utf8_clean(s, strlen(s));
    json_t *v = clean != NULL ? json_string(clean) : json_null();
    free(clean);
    return v;
}

void srv_log_write(srv_log *log, const srv_log_entry *e)
{
    if (log->f == NULL)
        return;
    struct timeval tv;
    struct tm tm;
    char when[96];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    json_t *o = json_object();
    if (o == NULL)
        return;
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "remote", str_or_null(e->remote));
    json_object_set_new(o, "method", str_or_null(e->method));
    json_object_set_new(o, "path", str_or_null(e->path));
    json_object_set_new(o, "status", json_integer(e->status));
    json_object_set_new(o, "completed", json_boolean(e->completed));
    json_object_set_new(o, "duration_ms",
                        json_real((double)(int64_t)(e->duration_ms * 1000) / 1000));
    json_object_set_new(o, "model", str_or_null(e->model));
    if (e->has_usage) {
        json_object_set_new(o, "id", str_or_null(e->request_id));
        json_object_set_new(o, "prompt_tokens", json_integer((json_int_t)e->prompt_tokens));
        json_object_set_new(o, "completion_tokens", json_integer((json_int_t)e->completion_tokens));
        json_object_set_new(o, "finish_reason", str_or_null(e->finish_reason));
    }
    json_object_set_new(o, "error", str_or_null(e->error));
    if (log->bodies && e->body != NULL) {
        json_t *b = json_loadb(e->body, e->body_len, 0, NULL);
        if (b == NULL) {
            char *clean = srv_utf8_clean(e->body, e->body_len);
            b = clean != NULL ? json_stringn(clean, strlen(clean)) : NULL;
            free(clean);
        }
        json_object_set_new(o, "body", b != NULL ? b : json_null());
    }
    char *line = srv_dump(o);
    if (line == NULL)
        return;
    pthread_mutex_lock(&log->mu);
    fputs(line, log->f);
    fputc('\n', log->f);
    fflush(log->f);
    pthread_mutex_unlock(&log->mu);
    free(line);
}

void srv_log_close(srv_log *log)
{
    if (!log->inited)
        return;
    if (log->f != NULL)
        fclose(log->f);
    log->f = NULL;
    pthread_mutex_destroy(&log->mu);
    log->inited = false;
}
