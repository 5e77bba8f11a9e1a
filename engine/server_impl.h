/*
 * The HTTP server's internals, shared by engine/server*.c:
 *
 *   server.c         life cycle: open (config, sessions, socket), run, stop, close
 *   server_http.c    libmicrohttpd plumbing: connections, bodies, responses, auth
 *   server_routes.c  the endpoints: chat/completions, completions, models, health, bundles
 *   server_request.c JSON request parsing and validation into a job
 *   server_queue.c   bounded request queue, slot workers, fair compute turns
 *   server_sse.c     server-sent events of streamed completions
 *   server_log.c     the JSON-lines request log
 *
 * Threads: libmicrohttpd runs one thread per connection (they parse, wait
 * and write); one worker thread per slot generates. Only one worker at a
 * time runs the model (a FIFO "turn"), one token each, so slots interleave
 * and the engine's handles are never used concurrently.
 */
#ifndef PLMM_ENGINE_SERVER_IMPL_H
#define PLMM_ENGINE_SERVER_IMPL_H

#include "plmm/server.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* ---- jobs: one completion request (server_queue.c) ---- */

typedef enum srv_job_kind { SRV_JOB_CHAT, SRV_JOB_COMPLETION } srv_job_kind;
typedef enum srv_job_state {
    SRV_JOB_NEW,
    SRV_JOB_QUEUED,
    SRV_JOB_RUNNING,
    SRV_JOB_DONE
} srv_job_state;

#define SRV_MAX_STOP 4

typedef struct srv_job {
    /* inputs, fixed before submission */
    srv_job_kind kind;
    bool stream, include_usage;
    int32_t *prompt; /* (n_prompt) tokens, owned */
    size_t n_prompt;
    int32_t max_tokens;
    plmm_sampling sampling;
    char *stop[SRV_MAX_STOP]; /* owned */
    size_t n_stop, max_stop_len;
    char id[48];
    int64_t created;

    /* outputs, guarded by the queue mutex */
    srv_job_state state;
    char *text; /* generated text (cut before a stop string), not NUL-terminated */
    size_t len, cap;
    size_t ready;              /* bytes of text that may be streamed (no partial stop or UTF-8) */
    size_t n_completion;       /* generated tokens */
    const char *finish_reason; /* "stop" or "length" when done without error */
    bool cancel;               /* client gone or shutdown: stop generating */
    int http_status;           /* 0 = success; else the error's status */
    const char *err_type, *err_code;
    char err_msg[256];
    pthread_cond_t cv; /* text grew or the job is done */
    int refs;          /* connection + queue */
    struct srv_job *next;
} srv_job;

/* ---- the queue and the workers (server_queue.c) ---- */

typedef struct srv_queue {
    bool inited; /* srv_queue_init ran: srv_queue_free has work */
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued or the queue is closing */
    pthread_cond_t idle; /* a job finished */
    srv_job *head, *tail;
    uint32_t n_queued, n_running, capacity; /* capacity: slots + queue */
    bool closing;
    bool cancel_all; /* stop every running job (shutdown) */
    /* the turn: workers take FIFO tickets to run the model */
    pthread_mutex_t turn_mu;
    pthread_cond_t turn_cv;
    uint64_t turn_next, turn_serving;
    /* workers */
    pthread_t *threads;
    plmm_session **sessions;
    uint32_t n_slots, n_threads;
    uint32_t token_delay_ms;
} srv_queue;

/* ---- configuration ([server]) ---- */

typedef struct srv_config {
    char *host;
    uint16_t port;
    uint32_t slots, queue, ctx, max_tokens, max_connections, idle_timeout;
    uint64_t max_body_bytes;
    uint32_t shutdown_grace_ms, token_delay_ms;
    char *api_key;
    char *request_log;
    bool log_bodies;
    char *bundles_dir;
} srv_config;

/* ---- the request log (server_log.c) ---- */

typedef struct srv_log {
    bool inited; /* srv_log_open ran */
    FILE *f;     /* NULL: no log */
    pthread_mutex_t mu;
    bool bodies;
} srv_log;

/* One line of the log. Strings may be NULL (written as null). */
typedef struct srv_log_entry {
    const char *remote, *method, *path, *model, *request_id, *finish_reason, *error;
    int status;
    bool completed; /* the response was sent in full */
    bool has_usage;
    uint64_t prompt_tokens, completion_tokens;
    double duration_ms;
    const char *body; /* (len bytes) request body, or NULL */
    size_t body_len;
} srv_log_entry;

plmm_status srv_log_open(srv_log *log, const char *path, bool bodies);
void srv_log_write(srv_log *log, const srv_log_entry *e);
void srv_log_close(srv_log *log);

/* ---- the server ---- */

struct plmm_server {
    plmm_engine *engine;
    plmm_model *model;
    srv_config cfg;
    char *model_id;
    uint32_t n_ctx; /* context of each slot */
    plmm_server_receipt_fn receipt;
    void *receipt_user;
    int listen_fd;  /* ours until the daemon takes it, -1 after */
    int bundles_fd; /* O_DIRECTORY of bundles_dir, or -1 */
    int wake[2];    /* self-pipe: plmm_server_stop() writes a byte */
    atomic_int stops;
    atomic_bool ran;
    atomic_uint_fast64_t next_id;
    uint64_t id_base;
    int64_t created;
    srv_queue queue;
    srv_log log;
    struct MHD_Daemon *daemon;
    pthread_mutex_t conn_mu; /* guards n_job_conns */
    uint32_t n_job_conns;    /* connections that hold a job (answer not yet sent) */
};

/* Log through the engine's logger. */
void srv_logf(const plmm_server *s, int level, const char *fmt, ...) PLMM_PRINTF(3, 4);

/* Seconds since the epoch (the "created" field). */
int64_t srv_unix_time(void);

/* ---- queue API ---- */

plmm_status srv_queue_init(srv_queue *q, plmm_model *model, uint32_t slots, uint32_t queue,
                           uint32_t n_ctx, uint32_t token_delay_ms);
/* Start one worker per slot. */
plmm_status srv_queue_start(srv_queue *q);
/* Refuse new jobs, fail the queued ones with 503. */
void srv_queue_close(srv_queue *q);
/* Cancel every running job. */
void srv_queue_cancel_running(srv_queue *q);
/* Jobs running now. */
uint32_t srv_queue_running(srv_queue *q);
/* Counts for /health. */
void srv_queue_counts(srv_queue *q, uint32_t *running, uint32_t *queued);
/* Join the workers (after srv_queue_close and once nothing runs). */
void srv_queue_join(srv_queue *q);
void srv_queue_free(srv_queue *q);

/* A new job with one reference (the caller's). NULL when out of memory. */
srv_job *srv_job_new(void);
/* Drop a reference; the last one frees the job. */
void srv_job_release(srv_queue *q, srv_job *job);
/* Submit: PLMM_OK (queued, the queue holds a reference), or
 * PLMM_ERR_DENIED when the queue is full or closing (*closing says which). */
plmm_status srv_job_submit(srv_queue *q, srv_job *job, bool *closing);
/* Mark the job cancelled (client gone). */
void srv_job_cancel(srv_queue *q, srv_job *job);
/* Wait until the job is done. */
void srv_job_wait(srv_queue *q, srv_job *job);

/* ---- request parsing (server_request.c) ---- */

/* An API error: HTTP status, OpenAI type and code, parameter, message. */
typedef struct srv_error {
    int status;
    const char *type; /* "invalid_request_error", "server_error", ... */
    const char *code; /* may be NULL */
    char param[96];   /* "" for none */
    char message[512];
} srv_error;

void srv_error_set(srv_error *err, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...) PLMM_PRINTF(6, 7);

/* Parse and validate a JSON body into *job (prompt tokenized, sampling and
 * limits set). false with *err filled on a bad request. */
bool srv_parse_request(plmm_server *s, srv_job_kind kind, const char *body, size_t len,
                       srv_job *job, srv_error *err);

/* ---- responses (server_routes.c, server_sse.c) ---- */

/* The completion's JSON ("chat.completion" or "text_completion"), text
 * owned (free()). NULL when out of memory. */
char *srv_completion_json(plmm_server *s, srv_job *job);
/* The usage object of a finished job (new reference, NULL when out of memory). */
json_t *srv_usage_json(const srv_job *job);
/* Add "plmm_receipt" from the receipt hook to obj (nothing without a hook,
 * or when it returns NULL or not a JSON object). */
void srv_add_receipt(plmm_server *s, const srv_job *job, json_t *obj);
/* Dump obj compactly and drop the reference (NULL when out of memory). */
char *srv_dump(json_t *obj);
/* JSON of an error body (free()), never NULL unless out of memory. */
char *srv_error_json(const srv_error *err);

/* Streaming state of one connection. */
typedef struct srv_sse {
    plmm_server *srv;
    srv_job *job;
    char *out; /* pending bytes of SSE events */
    size_t out_len, out_pos, out_cap;
    size_t sent;  /* bytes of job->text already sent */
    bool started; /* the role chunk was sent */
    bool finished;
} srv_sse;

/* MHD content reader of a streamed completion (blocks for tokens). */
ssize_t srv_sse_read(void *cls, uint64_t pos, char *buf, size_t max);

/* ---- connections (server_http.c) ---- */

typedef struct srv_conn {
    plmm_server *srv;
    struct MHD_Connection *mc;
    double t0;
    char method[16];
    char *path;
    char remote[64];
    char *body; /* (body_len) request body, NUL-terminated */
    size_t body_len, body_cap;
    bool started;   /* the first call (headers only) was handled */
    bool too_large; /* the body exceeded max_body_bytes: discarded */
    bool answered;  /* a response was queued */
    int status;     /* its status */
    char *error;    /* the message of an error response, for the log */
    srv_job *job;   /* a completion, or NULL */
    srv_sse sse;
} srv_conn;

/* Queue responses (they return MHD_YES or MHD_NO like MHD_queue_response). */
enum MHD_Result srv_send_json(srv_conn *c, int status, char *json /* owned */);
enum MHD_Result srv_send_error(srv_conn *c, const srv_error *err);
enum MHD_Result srv_send_errorf(srv_conn *c, int status, const char *type, const char *code,
                                const char *param, const char *fmt, ...) PLMM_PRINTF(6, 7);
/* A streamed completion of c->job (SSE). */
enum MHD_Result srv_send_stream(srv_conn *c);
/* A regular file (fd owned) as application/octet-stream. */
enum MHD_Result srv_send_file(srv_conn *c, int fd, uint64_t size);

/* Dispatch a complete request (server_routes.c). */
enum MHD_Result srv_route(srv_conn *c);

/* Start and stop the daemon on s->listen_fd (server_http.c). */
plmm_status srv_http_start(plmm_server *s);
void srv_http_quiesce(plmm_server *s);
void srv_http_stop(plmm_server *s);

/* Copy at most max bytes of valid UTF-8 from s (len bytes), replacing
 * invalid sequences with U+FFFD, into a new string (free()). */
char *srv_utf8_clean(const char *s, size_t len);

#endif
