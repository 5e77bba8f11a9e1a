/* Sessions: KV cache, batched evaluation, logits, sampling, generation. */
#include "engine_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blobcache.h"
#include "errors.h"
#include "lora.h"
#include "plmm_sdk.h"

/* ---- create / free ---- */

static plmm_status alloc_kv(plmm_session *s)
{
    const plmm_hparams *hp = &s->model->hp;
    uint64_t per = plmm_dtype_row_bytes(s->kv_dtype, hp->head_dim) * hp->n_head_kv * s->n_ctx;
    uint64_t total = per * 2 * hp->n_layer;
    int32_t be = plmm_sched_state_backend(s->sched, s->kv_dtype);
    if (be < 0)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "no backend can hold a %s KV cache (CPY and "
                        "ATTENTION on %s are run by no graph backend of engine.backends%s)",
                        plmm_dtype_name(s->kv_dtype), plmm_dtype_name(s->kv_dtype),
                        s->model->engine->strict ? " and fallback = strict" : "");
    uint8_t *data = NULL;
    plmm_status st = plmm_sched_alloc_state(s->sched, (uint32_t)be, total, &s->kv_buf, &data);
    if (st != PLMM_OK)
        return st;
    s->kv_backend = be;
    s->slots = calloc(2 * (size_t)hp->n_layer, sizeof(*s->slots));
    if (s->slots == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate KV slots");
    for (uint32_t i = 0; i < 2 * hp->n_layer; i++)
        s->slots[i] = (plmm_state_slot){.backend = (uint32_t)be, .buffer = s->kv_buf,
                                        .offset = per * i, .data = data};
    return PLMM_OK;
}

static void sched_log(void *user, int level, const char *msg)
{
    plmm_engine_logf(user, level, "%s", msg);
}

/* Blob cache of partition backends: engine.cache_dir, else the user's
 * cache directory; without one, blobs are compiled at every start. */
static plmm_status setup_partitions(plmm_session *s)
{
    plmm_engine *e = s->model->engine;
    char dir[4096];
    const char *cfg = plmm_engine_cfg_str(e, "engine", "cache_dir");
    const char *use = dir;
    if (plmm_blobcache_dir(cfg, dir, sizeof(dir)) != PLMM_OK) {
        if (plmm_sched_has_partitions(s->sched))
            plmm_engine_logf(e, PLMM_LOG_WARN, "blob cache disabled: %s", plmm_last_errmsg());
        use = NULL;
    }
    return plmm_sched_set_partition(s->sched, use, sched_log, e);
}

static plmm_status make_sampler(plmm_session *s, const plmm_sampling *p)
{
    plmm_sampler_params sp = {
        .temperature = p->temperature,
        .top_k = p->top_k,
        .top_p = p->top_p,
        .min_p = p->min_p,
        .repeat_penalty = p->repeat_penalty,
        .repeat_last_n = p->repeat_last_n,
        .frequency_penalty = p->frequency_penalty,
        .presence_penalty = p->presence_penalty,
        .seed = p->seed,
    };
    plmm_sampler *ns = NULL;
    plmm_status st = plmm_sampler_create(&sp, (int32_t)s->model->hp.n_vocab, &ns);
    if (st != PLMM_OK)
        return st;
    plmm_sampler_destroy(s->sampler);
    s->sampler = ns;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_session_create(plmm_model *model, const plmm_session_params *params,
                                            plmm_session **out)
{
    plmm_status st;
    if (model == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_create: NULL argument");
    *out = NULL;
    plmm_engine *e = model->engine;
    plmm_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate session");
    s->model = model;
    s->n_ctx = (uint32_t)plmm_engine_cfg_int(e, "engine", "context");
    s->n_batch = (uint32_t)plmm_engine_cfg_int(e, "engine", "batch");
    const char *kv = plmm_engine_cfg_str(e, "engine", "kv_type");
    s->kv_dtype = kv != NULL && strcmp(kv, "f32") == 0 ? PLMM_DTYPE_F32 : PLMM_DTYPE_F16;
    if (params != NULL) {
        if (params->struct_size < offsetof(plmm_session_params, n_batch) + sizeof(uint32_t)) {
            st = plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_params.struct_size too small");
            goto out_free;
        }
        if (params->n_ctx)
            s->n_ctx = params->n_ctx;
        if (params->kv_type >= 0)
            s->kv_dtype = (uint32_t)params->kv_type;
        if (params->n_batch)
            s->n_batch = params->n_batch;
    }
    if (s->kv_dtype != PLMM_DTYPE_F16 && s->kv_dtype != PLMM_DTYPE_F32) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "kv_type must be F16 or F32");
        goto out_free;
    }
    if (s->n_ctx < 1 || s->n_ctx > (1u << 24) || s->n_batch < 1) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "context %u or batch %u out of range", s->n_ctx,
                      s->n_batch);
        goto out_free;
    }
    if (s->n_batch > s->n_ctx)
        s->n_batch = s->n_ctx;

    uint32_t cap_t, cap_n;
    plmm_forward_capacity(&model->hp, &cap_t, &cap_n);
    plmm_lora_capacity(&model->hp, &cap_t, &cap_n); /* room for an adapter set later */
    if ((st = plmm_graph_builder_init(&s->gb, cap_t, cap_n)) != PLMM_OK)
        goto out_free;

    plmm_sched_backend_ref *refs = calloc(e->n_backends, sizeof(*refs));
    if (refs == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "cannot allocate backend list");
        goto out_free;
    }
    for (uint32_t i = 0; i < e->n_backends; i++)
        refs[i] = plmm_backend_instance_ref(e->backends[i]);
    if (e->fallback >= 0)
        refs[e->fallback].fallback_only = e->fallback_only;
    st = plmm_sched_create(refs, e->n_backends, e->fallback, e->strict, model->gguf, cap_t, cap_n,
                           &s->sched);
    free(refs);
    if (st != PLMM_OK)
        goto out_free;
    if ((st = setup_partitions(s)) != PLMM_OK)
        goto out_free;
    if ((st = alloc_kv(s)) != PLMM_OK)
        goto out_free;

    s->cap_rows = 1;
    s->logits = calloc(model->hp.n_vocab, sizeof(float));
    s->ids = calloc(s->n_batch, sizeof(int32_t));
    s->pos = calloc(s->n_batch, sizeof(int32_t));
    if (s->logits == NULL || s->ids == NULL || s->pos == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "cannot allocate session buffers");
        goto out_free;
    }
    plmm_sampling sp;
    plmm_sampling_defaults(e, &sp);
    if ((st = make_sampler(s, &sp)) != PLMM_OK)
        goto out_free;
    s->t.struct_size = sizeof(s->t);
    s->t.load_ms = model->load_ms;
    model->n_sessions++;
    *out = s;
    return PLMM_OK;

out_free:
    plmm_session_free(s);
    return st;
}

PLMM_EXPORT void plmm_session_free(plmm_session *s)
{
    if (s == NULL)
        return;
    if (s->sched != NULL) {
        if (s->kv_buf != NULL)
            plmm_sched_free_state(s->sched, (uint32_t)s->kv_backend, s->kv_buf);
        plmm_sched_destroy(s->sched);
    }
    if (s->sampler != NULL) {
        s->model->n_sessions--;
        plmm_sampler_destroy(s->sampler);
    }
    plmm_graph_builder_free(&s->gb);
    free(s->slots);
    free(s->logits);
    free(s->ids);
    free(s->pos);
    free(s);
}

PLMM_EXPORT void plmm_session_reset(plmm_session *s)
{
    if (s == NULL)
        return;
    s->n_past = 0;
    s->n_rows = 0;
    plmm_sampler_reset(s->sampler);
}

PLMM_EXPORT uint32_t plmm_session_n_past(const plmm_session *s)
{
    return s ? s->n_past : 0;
}

PLMM_EXPORT plmm_status plmm_session_truncate(plmm_session *s, uint32_t n_past)
{
    if (s == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_truncate: NULL session");
    if (n_past > s->n_past)
        return plmm_err(PLMM_ERR_RANGE, "cannot truncate to %u positions: only %u are held",
                        n_past, s->n_past);
    s->n_past = n_past; /* later evaluations overwrite the cache beyond n_past */
    s->n_rows = 0;
    return PLMM_OK;
}

PLMM_EXPORT uint32_t plmm_session_n_ctx(const plmm_session *s)
{
    return s ? s->n_ctx : 0;
}

/* ---- evaluation ---- */

static plmm_status eval_batch(plmm_session *s, const int32_t *ids, uint32_t n, bool all_logits,
                              float *dst)
{
    plmm_model *m = s->model;
    for (uint32_t i = 0; i < n; i++) {
        s->ids[i] = ids[i];
        s->pos[i] = (int32_t)(s->n_past + i);
    }
    plmm_forward_io io = {
        .n_tokens = n,
        .pos0 = s->n_past,
        .n_ctx = s->n_ctx,
        .kv_dtype = s->kv_dtype,
        .all_logits = all_logits,
        .ids = s->ids,
        .pos = s->pos,
        .lora = s->lora,
        .lora_scale = s->lora_scale,
    };
    plmm_status st = plmm_forward_build(&s->gb, m->gguf, &m->hp, &m->w, &io);
    if (st != PLMM_OK)
        return st;
    plmm_sched_set_tokens(s->sched, n);
    uint64_t rows = all_logits ? n : 1;
    st = plmm_sched_run(s->sched, &s->gb, s->slots, 2 * m->hp.n_layer, io.logits, dst,
                        rows * m->hp.n_vocab);
    if (st != PLMM_OK)
        return st;
    s->n_past += n;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_session_eval(plmm_session *s, const int32_t *ids, size_t n,
                                          uint32_t flags)
{
    if (s == NULL || (ids == NULL && n > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_eval: NULL argument");
    if (n == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "nothing to evaluate (0 tokens)");
    const uint32_t V = s->model->hp.n_vocab;
    if (n > s->n_ctx - s->n_past)
        return plmm_err(PLMM_ERR_RANGE,
                        "%zu tokens do not fit the context: %u of %u positions are used", n,
                        s->n_past, s->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= V)
            return plmm_err(PLMM_ERR_RANGE, "token id %d at index %zu is outside the vocabulary "
                            "of %u", ids[i], i, V);
    bool all = (flags & PLMM_EVAL_ALL_LOGITS) != 0;
    uint32_t rows = all ? (uint32_t)n : 1;
    if (rows > s->cap_rows) {
        float *nl = realloc(s->logits, (size_t)rows * V * sizeof(float));
        if (nl == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate logits for %u rows", rows);
        s->logits = nl;
        s->cap_rows = rows;
    }
    double t0 = plmm_now_ms();
    s->n_rows = 0;
    uint32_t start_past = s->n_past;
    for (size_t done = 0; done < n;) {
        uint32_t nb = (uint32_t)(n - done < s->n_batch ? n - done : s->n_batch);
        nb = plmm_sched_chunk(s->sched, nb); /* partition backends: a shape bucket */
        bool last = done + nb == n;
        float *dst = all ? s->logits + done * V : (last ? s->logits : NULL);
        plmm_status st = eval_batch(s, ids + done, nb, all, dst);
        if (st != PLMM_OK) {
            s->n_past = start_past; /* the cache beyond n_past is simply overwritten later */
            return st;
        }
        done += nb;
    }
    s->n_rows = rows;
    double dt = plmm_now_ms() - t0;
    if (n > 1) {
        s->t.n_prompt += n;
        s->t.prompt_ms += dt;
    } else {
        s->t.n_decode += n;
        s->t.decode_ms += dt;
    }
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_session_logits(const plmm_session *s, size_t row, const float **out)
{
    if (s == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_logits: NULL argument");
    if (row >= s->n_rows)
        return plmm_err(PLMM_ERR_RANGE, "logits row %zu not available (%u rows)", row, s->n_rows);
    *out = s->logits + row * s->model->hp.n_vocab;
    return PLMM_OK;
}

/* ---- sampling and generation ---- */

PLMM_EXPORT plmm_status plmm_session_set_sampling(plmm_session *s, const plmm_sampling *p)
{
    if (s == NULL || p == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_set_sampling: NULL argument");
    if (p->struct_size < sizeof(*p))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_sampling.struct_size too small");
    return make_sampler(s, p);
}

PLMM_EXPORT plmm_status plmm_session_sample(plmm_session *s, int32_t *out)
{
    if (s == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_sample: NULL argument");
    if (s->n_rows == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "no logits to sample from: evaluate tokens first");
    double t0 = plmm_now_ms();
    const float *row = s->logits + (size_t)(s->n_rows - 1) * s->model->hp.n_vocab;
    plmm_status st = plmm_sampler_sample(s->sampler, row, out);
    if (st == PLMM_OK)
        st = plmm_sampler_accept(s->sampler, *out);
    s->t.sample_ms += plmm_now_ms() - t0;
    return st;
}

PLMM_EXPORT plmm_status plmm_session_generate(plmm_session *s, const int32_t *prompt,
                                              size_t n_prompt, int32_t n_predict,
                                              plmm_token_cb cb, void *user, size_t *n_generated)
{
    plmm_status st;
    char piece[256];
    size_t produced = 0;
    if (n_generated != NULL)
        *n_generated = 0;
    if (s == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_generate: NULL session");
    if (n_prompt == 0 && s->n_rows == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "empty prompt and nothing evaluated before");
    if (n_prompt > 0) {
        for (size_t i = 0; i < n_prompt; i++)
            if ((st = plmm_sampler_accept(s->sampler, prompt[i])) != PLMM_OK)
                return st;
        if ((st = plmm_session_eval(s, prompt, n_prompt, 0)) != PLMM_OK)
            return st;
    }
    while (n_predict < 0 || produced < (size_t)n_predict) {
        int32_t id;
        if ((st = plmm_session_sample(s, &id)) != PLMM_OK)
            return st;
        if (plmm_token_is_eog(s->model, id))
            break;
        produced++;
        if (n_generated != NULL)
            *n_generated = produced;
        size_t len = 0;
        st = plmm_token_piece(s->model, id, piece, sizeof(piece), &len);
        if (st != PLMM_OK)
            return st;
        if (cb != NULL && !cb(user, id, piece, len))
            break;
        if (n_predict >= 0 && produced >= (size_t)n_predict)
            break;
        if (s->n_past >= s->n_ctx)
            break; /* context full: stop cleanly */
        if ((st = plmm_session_eval(s, &id, 1, 0)) != PLMM_OK)
            return st;
    }
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_session_timings(const plmm_session *s, plmm_timings *out)
{
    if (s == NULL || out == NULL || out->struct_size < sizeof(*out))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_timings: bad argument");
    *out = s->t;
    out->struct_size = sizeof(*out);
    return PLMM_OK;
}

PLMM_EXPORT void plmm_session_timings_reset(plmm_session *s)
{
    if (s == NULL)
        return;
    double load = s->t.load_ms;
    memset(&s->t, 0, sizeof(s->t));
    s->t.struct_size = sizeof(s->t);
    s->t.load_ms = load;
}

PLMM_EXPORT plmm_status plmm_session_plan(plmm_session *s, uint32_t n_tokens, char **out)
{
    if (s == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_plan: NULL argument");
    *out = NULL;
    if (n_tokens == 0 || n_tokens > s->n_batch)
        n_tokens = n_tokens == 0 ? 1 : s->n_batch;
    n_tokens = plmm_sched_chunk(s->sched, n_tokens);
    plmm_forward_io io = {.n_tokens = n_tokens, .pos0 = 0, .n_ctx = s->n_ctx,
                          .kv_dtype = s->kv_dtype, .ids = s->ids, .pos = s->pos,
                          .lora = s->lora, .lora_scale = s->lora_scale};
    plmm_status st = plmm_forward_build(&s->gb, s->model->gguf, &s->model->hp, &s->model->w, &io);
    if (st != PLMM_OK)
        return st;
    size_t size = 64 + (size_t)s->gb.n_nodes * 160;
    char *buf = malloc(size);
    if (buf == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate plan text");
    plmm_sched_set_tokens(s->sched, n_tokens);
    st = plmm_sched_plan(s->sched, &s->gb, s->slots, 2 * s->model->hp.n_layer, buf, size);
    if (st != PLMM_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return PLMM_OK;
}
