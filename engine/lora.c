/*
 * LoRA adapters in GGUF (llama.cpp's convert_lora_to_gguf.py layout):
 * loading, validation against the base model, and the lookup the forward
 * pass uses to add scale * B (A x) beside each adapted matmul. The adapter's
 * matrices are converted to F32 once at load; the graph feeds them as host
 * inputs so every backend runs them with its ordinary MUL_MAT.
 */
#include "lora.h"

#include "engine_impl.h"
#include "errors.h"
#include "gguf.h"
#include "plmm_sdk.h"

#include <stdlib.h>
#include <string.h>

struct plmm_lora {
    const plmm_model *model; /* the base it was validated against */
    float alpha;
    uint32_t n_pairs;
    plmm_lora_pair *pairs; /* (n_pairs) */
    int32_t *pair_of;      /* (base n_tensors): pair index or -1 */
    uint64_t n_base;
};

/* ---- loading ---- */

/* Base weights a linear layer multiplies with (the only ones adaptable). */
static bool adaptable(const plmm_model *m, int32_t idx)
{
    if (idx < 0)
        return false;
    if (idx == m->w.output && m->w.output != m->w.tok_embd)
        return true;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const plmm_layer_weights *L = &m->w.layers[l];
        if (idx == L->wq || idx == L->wk || idx == L->wv || idx == L->wo || idx == L->w_gate ||
            idx == L->w_up || idx == L->w_down)
            return true;
    }
    return false;
}

static plmm_status to_f32(const plmm_gguf_tensor *t, const char *path, float **out)
{
    int64_t n = t->ne[0] * t->ne[1];
    if (t->ne[2] != 1 || t->ne[3] != 1 || n <= 0)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': tensor '%s' is not a matrix", path, t->name);
    float *f = malloc((size_t)n * sizeof(*f));
    if (f == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "'%s': out of memory for '%s'", path, t->name);
    switch (t->dtype) {
    case PLMM_DTYPE_F32:
        memcpy(f, t->data, (size_t)n * sizeof(*f));
        break;
    case PLMM_DTYPE_F16:
    case PLMM_DTYPE_BF16: {
        const uint8_t *src = t->data;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            f[i] = t->dtype == PLMM_DTYPE_F16 ? plmm_fp16_to_fp32(h) : plmm_bf16_to_fp32(h);
        }
        break;
    }
    default:
        free(f);
        return plmm_err(PLMM_ERR_UNSUPPORTED,
                        "'%s': tensor '%s' has type %s; adapters must be "
                        "f32, f16 or bf16 (convert with --outtype f16)",
                        path, t->name, plmm_dtype_name(t->dtype));
    }
    *out = f;
    return PLMM_OK;
}

static plmm_status check_header(const plmm_gguf *g, const plmm_model *m, const char *path,
                                float *alpha)
{
    char buf[64];
    if (plmm_gguf_get_string(g, "general.type", buf, sizeof(buf)) != PLMM_OK ||
        strcmp(buf, "adapter") != 0)
        return plmm_err(PLMM_ERR_FORMAT,
                        "'%s' is not an adapter (general.type is not "
                        "\"adapter\")",
                        path);
    if (plmm_gguf_get_string(g, "adapter.type", buf, sizeof(buf)) != PLMM_OK ||
        strcmp(buf, "lora") != 0)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "'%s': adapter.type is not \"lora\"", path);
    if (plmm_gguf_get_string(g, "general.architecture", buf, sizeof(buf)) != PLMM_OK)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': general.architecture missing", path);
    if (strcmp(buf, m->hp.arch_name) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "'%s' adapts a '%s' model, the base model is '%s'",
                        path, buf, m->hp.arch_name);
    *alpha = 0.0f;
    if (plmm_gguf_find_key(g, "adapter.lora.alpha") >= 0 &&
        plmm_gguf_get_f32(g, "adapter.lora.alpha", alpha) != PLMM_OK)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': adapter.lora.alpha is not a float", path);
    if (!(*alpha >= 0.0f) || *alpha > 1e6f)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': adapter.lora.alpha %g out of range", path,
                        (double)*alpha);
    return PLMM_OK;
}

static bool ends_with(const char *s, const char *suf, size_t *stem)
{
    size_t n = strlen(s), k = strlen(suf);
    if (n <= k || strcmp(s + n - k, suf) != 0)
        return false;
    *stem = n - k;
    return true;
}

/* Pair up "<base>.lora_a" with "<base>.lora_b" and check both against base. */
static plmm_status load_pairs(plmm_lora *l, const plmm_gguf *g, const plmm_model *m,
                              const char *path)
{
    const uint64_t n = plmm_gguf_n_tensors(g);
    if (n == 0 || n % 2 != 0)
        return plmm_err(PLMM_ERR_FORMAT,
                        "'%s' has %llu tensors; a LoRA adapter has pairs of "
                        ".lora_a and .lora_b",
                        path, (unsigned long long)n);
    l->pairs = calloc(n / 2, sizeof(*l->pairs));
    if (l->pairs == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    const plmm_gguf_tensor *base0 = plmm_gguf_tensor_at(m->gguf, 0);
    char name[256];
    for (uint64_t i = 0; i < n; i++) {
        const plmm_gguf_tensor *ta = plmm_gguf_tensor_at(g, i);
        size_t stem;
        if (ends_with(ta->name, ".lora_b", &stem))
            continue; /* found from its .lora_a */
        if (!ends_with(ta->name, ".lora_a", &stem))
            return plmm_err(PLMM_ERR_FORMAT, "'%s': tensor '%s' is neither .lora_a nor .lora_b",
                            path, ta->name);
        if (stem >= sizeof(name) - 8)
            return plmm_err(PLMM_ERR_FORMAT, "'%s': tensor name '%s' too long", path, ta->name);
        memcpy(name, ta->name, stem);
        memcpy(name + stem, ".lora_b", 8);
        const plmm_gguf_tensor *tb = plmm_gguf_find_tensor(g, name);
        if (tb == NULL)
            return plmm_err(PLMM_ERR_FORMAT, "'%s': '%s' has no matching '%s'", path, ta->name,
                            name);
        name[stem] = '\0';
        const plmm_gguf_tensor *w = plmm_gguf_find_tensor(m->gguf, name);
        if (w == NULL)
            return plmm_err(PLMM_ERR_INVALID_ARG,
                            "'%s': adapted weight '%s' is not in the base "
                            "model",
                            path, name);
        int32_t widx = (int32_t)(w - base0);
        if (!adaptable(m, widx))
            return plmm_err(PLMM_ERR_UNSUPPORTED,
                            "'%s': weight '%s' is not a matmul weight this "
                            "engine can adapt (attention, feed-forward and output projections)",
                            path, name);
        if (l->pair_of[widx] >= 0)
            return plmm_err(PLMM_ERR_FORMAT, "'%s': weight '%s' adapted twice", path, name);
        if (ta->n_dims != 2 || tb->n_dims != 2 || ta->ne[0] != w->ne[0] || tb->ne[1] != w->ne[1])
            return plmm_err(PLMM_ERR_INVALID_ARG,
                            "'%s': shapes of '%s' A (%lld,%lld) / B "
                            "(%lld,%lld) do not fit the base weight (%lld,%lld) (A and B "
                            "transposed?)",
                            path, name, (long long)ta->ne[0], (long long)ta->ne[1],
                            (long long)tb->ne[0], (long long)tb->ne[1], (long long)w->ne[0],
                            (long long)w->ne[1]);
        if (ta->ne[1] != tb->ne[0] || ta->ne[1] < 1)
            return plmm_err(PLMM_ERR_INVALID_ARG,
                            "'%s': rank of '%s' differs between A (%lld) "
                            "and B (%lld)",
                            path, name, (long long)ta->ne[1], (long long)tb->ne[0]);
        plmm_lora_pair *p = &l->pairs[l->n_pairs];
        p->weight = widx;
        p->n_in = w->ne[0];
        p->n_out = w->ne[1];
        p->rank = ta->ne[1];
        plmm_status st = to_f32(ta, path, &p->a);
        if (st == PLMM_OK)
            st = to_f32(tb, path, &p->b);
        l->pair_of[widx] = (int32_t)l->n_pairs++;
        if (st != PLMM_OK)
            return st;
    }
    if (2 * (uint64_t)l->n_pairs != n)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': some .lora_b tensors have no .lora_a", path);
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_lora_load(plmm_model *model, const char *path, plmm_lora **out)
{
    if (model == NULL || path == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_lora_load: NULL argument");
    *out = NULL;
    plmm_gguf *g = NULL;
    plmm_status st = plmm_gguf_open(path, &g);
    if (st != PLMM_OK)
        return plmm_err_prefix(st, "cannot load LoRA adapter");
    plmm_lora *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_close;
    }
    l->model = model;
    l->n_base = plmm_gguf_n_tensors(model->gguf);
    l->pair_of = malloc((l->n_base ? l->n_base : 1) * sizeof(*l->pair_of));
    if (l->pair_of == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_free;
    }
    for (uint64_t i = 0; i < l->n_base; i++)
        l->pair_of[i] = -1;
    if ((st = check_header(g, model, path, &l->alpha)) != PLMM_OK)
        goto out_free;
    if ((st = load_pairs(l, g, model, path)) != PLMM_OK)
        goto out_free;
    plmm_gguf_close(g);
    *out = l;
    return PLMM_OK;
out_free:
    plmm_lora_free(l);
out_close:
    plmm_gguf_close(g);
    return st;
}

PLMM_EXPORT void plmm_lora_free(plmm_lora *lora)
{
    if (lora == NULL)
        return;
    for (uint32_t i = 0; i < lora->n_pairs; i++) {
        free(lora->pairs[i].a);
        free(lora->pairs[i].b);
    }
    /* a pair that failed half-way was counted: its pointers are NULL or owned */
    free(lora->pairs);
    free(lora->pair_of);
    free(lora);
}

PLMM_EXPORT uint32_t plmm_lora_n_tensors(const plmm_lora *lora)
{
    return lora ? lora->n_pairs : 0;
}

PLMM_EXPORT float plmm_lora_alpha(const plmm_lora *lora)
{
    return lora ? lora->alpha : 0.0f;
}

PLMM_EXPORT plmm_status plmm_session_set_lora(plmm_session *session, const plmm_lora *lora,
                                              float scale)
{
    if (session == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_session_set_lora: NULL session");
    if (lora != NULL && lora->model != session->model)
        return plmm_err(PLMM_ERR_INVALID_ARG, "the LoRA adapter was loaded for another model");
    if (!(scale == scale) || scale > 1e6f || scale < -1e6f)
        return plmm_err(PLMM_ERR_INVALID_ARG, "LoRA scale %g out of range", (double)scale);
    session->lora = lora;
    session->lora_scale = scale;
    return PLMM_OK;
}

/* ---- forward pass ---- */

const plmm_lora_pair *plmm_lora_find(const plmm_lora *lora, int32_t w)
{
    if (lora == NULL || w < 0 || (uint64_t)w >= lora->n_base || lora->pair_of[w] < 0)
        return NULL;
    return &lora->pairs[lora->pair_of[w]];
}

float plmm_lora_factor(const plmm_lora *lora, const plmm_lora_pair *p, float scale)
{
    return lora->alpha > 0.0f ? scale * lora->alpha / (float)p->rank : scale;
}

void plmm_lora_capacity(const plmm_hparams *hp, uint32_t *n_tensors, uint32_t *n_nodes)
{
    /* per adapted matmul: A, B, A x, scaled, B (A x), sum = 6 tensors, 4 nodes */
    uint32_t n = 7 * hp->n_layer + 1;
    *n_tensors += 6 * n;
    *n_nodes += 4 * n;
}
