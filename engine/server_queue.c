/*
 * The server's request queue and slot workers.
 *
 * At most slots + queue jobs are admitted at once (running or waiting);
 * more are refused with 503 by the caller. Each slot has a worker thread
 * and a session. Workers take FIFO tickets for "the turn": whoever holds
 * it runs the model (a prompt evaluation or one token), then hands it on,
 * so slots interleave token by token and the engine's handles (backends,
 * thread pool) are never used by two threads at once. Generation itself is
 * plmm_session_generate(), the same loop as `plmm run`.
 */
#include "errors.h"
#include "server_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the turn ---- */

static void turn_take(srv_queue *q)
{
    pthread_mutex_lock(&q->turn_mu);
    uint64_t me = q->turn_next++;
    while (q->turn_serving != me)
        pthread_cond_wait(&q->turn_cv, &q->turn_mu);
    pthread_mutex_unlock(&q->turn_mu);
}

static void turn_give(srv_queue *q)
{
    pthread_mutex_lock(&q->turn_mu);
    q->turn_serving++;
    pthread_cond_broadcast(&q->turn_cv);
    pthread_mutex_unlock(&q->turn_mu);
}

/* ---- jobs ---- */

srv_job *srv_job_new(void)
{
    srv_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    if (pthread_cond_init(&j->cv, NULL) != 0) {
        free(j);
        return NULL;
    }
    j->refs = 1;
    j->state = SRV_JOB_NEW;
    return j;
}

static void job_free(srv_job *j)
{
    free(j->prompt);
    for (size_t i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    free(j->text);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void srv_job_release(srv_queue *q, srv_job *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&q->mu);
    if (last)
        job_free(j);
}

/* Finish a job with an error (queue mutex held). */
static void job_fail(srv_job *j, int status, const char *type, const char *code, const char *msg)
{
    j->http_status = status;
    j->err_type = type;
    j->err_code = code;
    snprintf(j->err_msg, sizeof(j->err_msg), "%s", msg);
    j->state = SRV_JOB_DONE;
    pthread_cond_broadcast(&j->cv);
}

plmm_status srv_job_submit(srv_queue *q, srv_job *j, bool *closing)
{
    pthread_mutex_lock(&q->mu);
    *closing = q->closing;
    if (q->closing || q->n_queued + q->n_running >= q->capacity) {
        pthread_mutex_unlock(&q->mu);
        return PLMM_ERR_DENIED;
    }
    j->state = SRV_JOB_QUEUED;
    j->refs++;
    j->next = NULL;
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n_queued++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return PLMM_OK;
}

void srv_job_cancel(srv_queue *q, srv_job *j)
{
    pthread_mutex_lock(&q->mu);
    j->cancel = true;
    pthread_cond_broadcast(&j->cv);
    pthread_cond_broadcast(&q->work); /* wakes a worker sleeping in a token delay */
    pthread_mutex_unlock(&q->mu);
}

void srv_job_wait(srv_queue *q, srv_job *j)
{
    pthread_mutex_lock(&q->mu);
    while (j->state != SRV_JOB_DONE)
        pthread_cond_wait(&j->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

/* ---- text bookkeeping (queue mutex held) ---- */

static bool text_append(srv_job *j, const char *p, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *t = realloc(j->text, cap);
        if (t == NULL)
            return false;
        j->text = t;
        j->cap = cap;
    }
    memcpy(j->text + j->len, p, n);
    j->len += n;
    j->text[j->len] = '\0';
    return true;
}

/* Cut the text before the first stop string that ends in the new bytes
 * (those after old_len). True when one was found. */
static bool find_stop(srv_job *j, size_t old_len)
{
    if (j->n_stop == 0)
        return false;
    size_t from = old_len >= j->max_stop_len ? old_len - j->max_stop_len + 1 : 0;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < j->n_stop; i++) {
        const char *hit = strstr(j->text + from, j->stop[i]);
        if (hit != NULL && (size_t)(hit - j->text) < best)
            best = (size_t)(hit - j->text);
    }
    if (best == SIZE_MAX)
        return false;
    j->len = best;
    j->text[best] = '\0';
    return true;
}

/* Bytes at the end that may become a stop string or are an incomplete
 * UTF-8 sequence: they wait for the next token before being streamed. */
static size_t held_back(const srv_job *j)
{
    size_t hold = 0;
    for (size_t i = 0; i < j->n_stop; i++) {
        size_t sl = strlen(j->stop[i]);
        for (size_t k = sl - 1; k > hold; k--)
            if (k <= j->len && memcmp(j->text + j->len - k, j->stop[i], k) == 0) {
                hold = k;
                break;
            }
    }
    /* an incomplete UTF-8 sequence at the end */
    size_t end = j->len - hold;
    for (size_t back = 1; back <= 3 && back <= end; back++) {
        unsigned char c = (unsigned char)j->text[end - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back)
            hold += back;
        break;
    }
    return hold;
}

/* ---- generation ---- */

typedef struct gen_ctx {
    srv_queue *q;
    srv_job *job;
    plmm_session *session;
    bool stopped;  /* a stop string ended the answer */
    bool ctx_full; /* the context was full after the last token */
    bool no_memory;
} gen_ctx;

/* Sleep ms, or less when the job is cancelled (queue mutex held). */
static void delay_locked(srv_queue *q, srv_job *j, uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!j->cancel && !q->cancel_all)
        if (pthread_cond_timedwait(&q->work, &q->mu, &ts) == ETIMEDOUT)
            break;
}

static bool on_token(void *user, int32_t id, const char *piece, size_t len)
{
    gen_ctx *g = user;
    srv_queue *q = g->q;
    srv_job *j = g->job;
    (void)id;
    g->ctx_full = plmm_session_n_past(g->session) >= plmm_session_n_ctx(g->session);
    pthread_mutex_lock(&q->mu);
    j->n_completion++;
    size_t old = j->len;
    bool go = true;
    if (!text_append(j, piece, len)) {
        g->no_memory = true;
        go = false;
    } else if (find_stop(j, old)) {
        g->stopped = true;
        go = false;
    }
    j->ready = j->len - held_back(j);
    pthread_cond_broadcast(&j->cv);
    if (j->cancel || q->cancel_all)
        go = false;
    pthread_mutex_unlock(&q->mu);
    if (!go)
        return false;
    /* let the other slots run one step */
    turn_give(q);
    if (q->token_delay_ms > 0) {
        pthread_mutex_lock(&q->mu);
        delay_locked(q, j, q->token_delay_ms);
        pthread_mutex_unlock(&q->mu);
    }
    turn_take(q);
    pthread_mutex_lock(&q->mu);
    go = !j->cancel && !q->cancel_all;
    pthread_mutex_unlock(&q->mu);
    return go;
}

static void run_job(srv_queue *q, plmm_session *session, srv_job *j)
{
    gen_ctx g = {.q = q, .job = j, .session = session};
    size_t n_gen = 0;
    char msg[256];

    turn_take(q);
    plmm_session_reset(session);
    plmm_status st = plmm_session_set_sampling(session, &j->sampling);
    if (st == PLMM_OK)
        st = plmm_session_generate(session, j->prompt, j->n_prompt, j->max_tokens, on_token, &g,
                                   &n_gen);
    if (st != PLMM_OK)
        snprintf(msg, sizeof(msg), "generation failed: %s: %s", plmm_status_str(st),
                 plmm_last_errmsg());
    turn_give(q);

    pthread_mutex_lock(&q->mu);
    if (st != PLMM_OK) {
        job_fail(j, 500, "server_error", "generation_failed", msg);
    } else if (g.no_memory) {
        job_fail(j, 500, "server_error", "out_of_memory", "out of memory while generating");
    } else if (j->cancel || q->cancel_all) {
        job_fail(j, 503, "server_error", "cancelled",
                 "the request was cancelled: the server is shutting down or the client left");
    } else {
        if (g.stopped)
            j->finish_reason = "stop";
        else if (j->n_completion >= (size_t)j->max_tokens || g.ctx_full)
            j->finish_reason = "length";
        else
            j->finish_reason = "stop";
        j->ready = j->len;
        j->state = SRV_JOB_DONE;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&q->mu);
}

typedef struct worker_arg {
    srv_queue *q;
    uint32_t slot;
} worker_arg;

static void *worker_main(void *arg)
{
    srv_queue *q = ((worker_arg *)arg)->q;
    plmm_session *session = q->sessions[((worker_arg *)arg)->slot];
    free(arg);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->head == NULL && !q->closing)
            pthread_cond_wait(&q->work, &q->mu);
        if (q->head == NULL)
            break; /* closing and nothing left */
        srv_job *j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->n_queued--;
        q->n_running++;
        j->state = SRV_JOB_RUNNING;
        pthread_mutex_unlock(&q->mu);

        run_job(q, session, j);

        pthread_mutex_lock(&q->mu);
        q->n_running--;
        pthread_cond_broadcast(&q->idle);
        bool last = --j->refs == 0;
        if (last) {
            pthread_mutex_unlock(&q->mu);
            job_free(j);
            pthread_mutex_lock(&q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---- queue ---- */

plmm_status srv_queue_init(srv_queue *q, plmm_model *model, uint32_t slots, uint32_t queue,
                           uint32_t n_ctx, uint32_t token_delay_ms)
{
    memset(q, 0, sizeof(*q));
    q->inited = true;
    q->capacity = slots + queue;
    q->n_slots = slots;
    q->token_delay_ms = token_delay_ms;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->idle, NULL);
    pthread_mutex_init(&q->turn_mu, NULL);
    pthread_cond_init(&q->turn_cv, NULL);
    q->sessions = calloc(slots, sizeof(*q->sessions));
    q->threads = calloc(slots, sizeof(*q->threads));
    if (q->sessions == NULL || q->threads == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %u server slots", slots);
    plmm_session_params sp = {.struct_size = sizeof(sp), .n_ctx = n_ctx, .kv_type = -1};
    for (uint32_t i = 0; i < slots; i++) {
        plmm_status st = plmm_session_create(model, &sp, &q->sessions[i]);
        if (st != PLMM_OK)
            return plmm_err_prefix(st, "server slot %u", i);
    }
    return PLMM_OK;
}

plmm_status srv_queue_start(srv_queue *q)
{
    for (uint32_t i = 0; i < q->n_slots; i++) {
        worker_arg *a = malloc(sizeof(*a));
        if (a == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot start server workers");
        a->q = q;
        a->slot = i;
        int rc = pthread_create(&q->threads[i], NULL, worker_main, a);
        if (rc != 0) {
            free(a);
            return plmm_err(PLMM_ERR_NOMEM, "cannot start a server worker: %s", strerror(rc));
        }
        q->n_threads++;
    }
    return PLMM_OK;
}

void srv_queue_close(srv_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    while (q->head != NULL) {
        srv_job *j = q->head;
        q->head = j->next;
        q->n_queued--;
        job_fail(j, 503, "server_error", "shutting_down",
                 "the server is shutting down: the request was not started");
        if (--j->refs == 0) {
            pthread_mutex_unlock(&q->mu);
            job_free(j);
            pthread_mutex_lock(&q->mu);
        }
    }
    q->tail = NULL;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

/* Running jobs are not in a list: the workers check this flag after every
 * token. */
void srv_queue_cancel_running(srv_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->cancel_all = true;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

uint32_t srv_queue_running(srv_queue *q)
{
    pthread_mutex_lock(&q->mu);
    uint32_t n = q->n_running;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void srv_queue_counts(srv_queue *q, uint32_t *running, uint32_t *queued)
{
    pthread_mutex_lock(&q->mu);
    *running = q->n_running;
    *queued = q->n_queued;
    pthread_mutex_unlock(&q->mu);
}

void srv_queue_join(srv_queue *q)
{
    for (uint32_t i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    q->n_threads = 0;
}

void srv_queue_free(srv_queue *q)
{
    if (!q->inited)
        return;
    if (q->sessions != NULL)
        for (uint32_t i = 0; i < q->n_slots; i++)
            plmm_session_free(q->sessions[i]);
    free(q->sessions);
    free(q->threads);
    pthread_cond_destroy(&q->turn_cv);
    pthread_mutex_destroy(&q->turn_mu);
    pthread_cond_destroy(&q->idle);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof(*q));
}
