/*
 * HTTP server request fuzz target: the body of a completion request as a
 * client would send it, through the server's JSON parser and validator
 * (engine/server_request.c) with the shipped model, then the pieces every
 * answer is built from. The first byte picks the endpoint ('c' chat, else
 * completions); the rest is the body. Checked promises: a rejected request
 * has a 4xx/5xx status, an OpenAI error type and a message, and its error
 * body is JSON; an accepted one has a prompt that fits the context, limits
 * inside the configured ones and at most four non-empty stop strings; text
 * cleaned for JSON is valid UTF-8 (jansson accepts it).
 *
 * The model is models/stories260K-Q8_0.gguf under PLMM_SOURCE_DIR (or the
 * source tree this was built from); only its tokenizer and metadata are
 * used, so no backend plugin is needed.
 */
#include "engine_impl.h"
#include "fuzz.h"
#include "server_impl.h"

#include <stdlib.h>
#include <string.h>

#ifndef PLMM_SOURCE_ROOT
#define PLMM_SOURCE_ROOT "."
#endif

static void require(bool cond)
{
    if (!cond)
        abort();
}

/* A server with just what parsing needs: the model's GGUF, hyperparameters
 * and tokenizer, and a default configuration; no backends, sessions or
 * sockets. Kept for the whole run. */
static plmm_server *fuzz_server(void)
{
    static plmm_server *srv;
    if (srv != NULL)
        return srv;
    const char *src = getenv("PLMM_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/models/stories260K-Q8_0.gguf",
             src != NULL ? src : PLMM_SOURCE_ROOT);
    plmm_engine *engine = calloc(1, sizeof(*engine));
    plmm_model *model = calloc(1, sizeof(*model));
    srv = calloc(1, sizeof(*srv));
    require(engine != NULL && model != NULL && srv != NULL);
    if (plmm_config_create(&engine->cfg) != PLMM_OK ||
        plmm_gguf_open(path, &model->gguf) != PLMM_OK ||
        plmm_hparams_load(model->gguf, &model->hp) != PLMM_OK ||
        plmm_tokenizer_create(model->gguf, &model->tok) != PLMM_OK) {
        fprintf(stderr, "fuzz-http: cannot load '%s': %s\n", path, plmm_last_errmsg());
        abort();
    }
    model->engine = engine;
    srv->engine = engine;
    srv->model = model;
    srv->model_id = strdup("fuzz-model");
    srv->cfg.max_tokens = 64;
    srv->cfg.slots = 1;
    srv->n_ctx = 128;
    pthread_mutex_init(&srv->queue.mu, NULL);
    return srv;
}

static bool valid_json_text(const char *s)
{
    json_t *v = json_string(s); /* NULL for invalid UTF-8 */
    bool ok = v != NULL;
    json_decref(v);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plmm_server *s = fuzz_server();
    if (size == 0)
        return 0;
    srv_job_kind kind = data[0] == 'c' ? SRV_JOB_CHAT : SRV_JOB_COMPLETION;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    srv_job *job = srv_job_new();
    require(job != NULL);
    srv_error err;
    memset(&err, 0, sizeof(err));
    if (srv_parse_request(s, kind, body, len, job, &err)) {
        require(job->n_prompt >= 1 && job->n_prompt <= s->n_ctx);
        require(job->max_tokens >= 1 && (uint32_t)job->max_tokens <= s->cfg.max_tokens);
        require(job->n_stop <= SRV_MAX_STOP);
        for (size_t i = 0; i < job->n_stop; i++)
            require(job->stop[i] != NULL && job->stop[i][0] != '\0' &&
                    strlen(job->stop[i]) <= job->max_stop_len);
        /* an answer of the request's own bytes goes through the response builder */
        job->text = malloc(len + 1);
        require(job->text != NULL);
        memcpy(job->text, body, len);
        job->len = job->ready = len;
        job->finish_reason = "stop";
        char *json = srv_completion_json(s, job);
        require(json != NULL);
        json_t *back = json_loads(json, 0, NULL);
        require(back != NULL);
        json_decref(back);
        free(json);
    } else {
        require(err.status >= 400 && err.status < 600);
        require(err.type != NULL && err.message[0] != '\0');
        char *json = srv_error_json(&err);
        require(json != NULL);
        json_t *back = json_loads(json, 0, NULL);
        require(back != NULL && json_is_object(json_object_get(back, "error")));
        json_decref(back);
        free(json);
    }
    srv_job_release(&s->queue, job);

    char *clean = srv_utf8_clean(body, len);
    require(clean != NULL && valid_json_text(clean));
    free(clean);
    return 0;
}
