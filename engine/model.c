#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* ---- hyperparameters ---- */

static plmm_status key_u32(const plmm_gguf *g, const char *arch, const char *suffix, bool required,
                           uint32_t def, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", arch, suffix);
    plmm_status s = plmm_gguf_get_u32(g, key, out);
    if (s == PLMM_ERR_NOT_FOUND && !required) {
        *out = def;
        return PLMM_OK;
    }
    if (s == PLMM_ERR_NOT_FOUND)
        return plmm_err(PLMM_ERR_FORMAT, "model lacks required metadata key '%s'", key);
    if (s != PLMM_OK)
        return plmm_err(s, "metadata key '%s' has an unusable type or value", key);
    return PLMM_OK;
}

static plmm_status key_f32(const plmm_gguf *g, const char *arch, const char *suffix, float def,
                           float *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", arch, suffix);
    plmm_status s = plmm_gguf_get_f32(g, key, out);
    if (s == PLMM_ERR_NOT_FOUND) {
        *out = def;
        return PLMM_OK;
    }
    if (s != PLMM_OK)
        return plmm_err(s, "metadata key '%s' has an unusable type", key);
    return PLMM_OK;
}

plmm_status plmm_hparams_load(const plmm_gguf *g, plmm_hparams *hp)
{
    plmm_status s;
    memset(hp, 0, sizeof(*hp));
    s = plmm_gguf_get_string(g, "general.architecture", hp->arch_name, sizeof(hp->arch_name));
    if (s == PLMM_ERR_NOT_FOUND)
        return plmm_err(PLMM_ERR_FORMAT, "model lacks 'general.architecture'");
    if (s != PLMM_OK)
        return plmm_err(s, "'general.architecture' is not a short string");
    const char *a = hp->arch_name;
    if (strcmp(a, "llama") == 0) {
        hp->arch = PLMM_ARCH_LLAMA;
        hp->rope_mode = 0;
    } else if (strcmp(a, "qwen2") == 0) {
        hp->arch = PLMM_ARCH_QWEN2;
        hp->rope_mode = 2;
    } else {
        return plmm_err(PLMM_ERR_UNSUPPORTED,
                        "unsupported architecture '%s' (supported: llama, qwen2)", a);
    }

    if ((s = key_u32(g, a, "context_length", true, 0, &hp->n_ctx_train)) != PLMM_OK ||
        (s = key_u32(g, a, "embedding_length", true, 0, &hp->n_embd)) != PLMM_OK ||
        (s = key_u32(g, a, "block_count", true, 0, &hp->n_layer)) != PLMM_OK ||
        (s = key_u32(g, a, "feed_forward_length", true, 0, &hp->n_ff)) != PLMM_OK ||
        (s = key_u32(g, a, "attention.head_count", true, 0, &hp->n_head)) != PLMM_OK)
        return s;
    if ((s = key_u32(g, a, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv)) != PLMM_OK)
        return s;
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ff == 0 || hp->n_layer > 4096 || hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22))
        return plmm_err(PLMM_ERR_FORMAT, "model hyperparameters out of range (n_embd %u, "
                        "n_layer %u, n_head %u, n_head_kv %u, n_ff %u)", hp->n_embd,
                        hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff);
    if (hp->n_head % hp->n_head_kv != 0)
        return plmm_err(PLMM_ERR_FORMAT, "head_count %u is not a multiple of head_count_kv %u",
                        hp->n_head, hp->n_head_kv);
    if ((s = key_u32(g, a, "attention.key_length", false, hp->n_embd / hp->n_head,
                     &hp->head_dim)) != PLMM_OK)
        return s;
    uint32_t vlen;
    if ((s = key_u32(g, a, "attention.value_length", false, hp->head_dim, &vlen)) != PLMM_OK)
        return s;
    if (vlen != hp->head_dim)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "value_length %u != key_length %u", vlen,
                        hp->head_dim);
    if (hp->head_dim == 0 || hp->head_dim % 2 != 0)
        return plmm_err(PLMM_ERR_FORMAT, "head size %u must be even and > 0", hp->head_dim);
    if ((s = key_u32(g, a, "rope.dimension_count", false, hp->head_dim, &hp->n_rot)) != PLMM_OK)
        return s;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return plmm_err(PLMM_ERR_FORMAT, "rope.dimension_count %u invalid for head size %u",
                        hp->n_rot, hp->head_dim);
    if ((s = key_f32(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps)) != PLMM_OK ||
        (s = key_f32(g, a, "rope.freq_base", 10000.0f, &hp->rope_freq_base)) != PLMM_OK)
        return s;

    /* RoPE scaling: rope.scaling.type none|linear|yarn, rope.scaling.factor,
     * or the older rope.scale_linear. */
    char key[128], type[32] = "";
    float factor = 0.0f;
    snprintf(key, sizeof(key), "%s.rope.scaling.type", a);
    s = plmm_gguf_get_string(g, key, type, sizeof(type));
    if (s != PLMM_OK && s != PLMM_ERR_NOT_FOUND)
        return plmm_err(s, "metadata key '%s' unusable", key);
    if ((s = key_f32(g, a, "rope.scaling.factor", 0.0f, &factor)) != PLMM_OK)
        return s;
    if (factor == 0.0f && (s = key_f32(g, a, "rope.scale_linear", 0.0f, &factor)) != PLMM_OK)
        return s;
    if (type[0] != '\0' && strcmp(type, "none") != 0 && strcmp(type, "linear") != 0 &&
        strcmp(type, "yarn") != 0)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "unsupported rope scaling type '%s'", type);
    if (strcmp(type, "none") == 0 || !(factor > 0.0f))
        factor = 1.0f;
    hp->rope_freq_scale = 1.0f / factor;
    hp->yarn_ext_factor = strcmp(type, "yarn") == 0 ? 1.0f : 0.0f;
    hp->yarn_attn_factor = 1.0f;
    hp->yarn_beta_fast = 32.0f;
    hp->yarn_beta_slow = 1.0f;
    if ((s = key_u32(g, a, "rope.scaling.original_context_length", false, hp->n_ctx_train,
                     &hp->n_ctx_orig)) != PLMM_OK)
        return s;
    if (!isfinite(hp->rms_eps) || hp->rms_eps <= 0.0f || !isfinite(hp->rope_freq_base) ||
        hp->rope_freq_base <= 0.0f)
        return plmm_err(PLMM_ERR_FORMAT, "rms epsilon or rope base out of range");

    /* vocabulary size: explicit key, else the token list */
    s = key_u32(g, a, "vocab_size", false, 0, &hp->n_vocab);
    if (s != PLMM_OK)
        return s;
    if (hp->n_vocab == 0) {
        int64_t k = plmm_gguf_find_key(g, "tokenizer.ggml.tokens");
        if (k >= 0)
            hp->n_vocab = (uint32_t)plmm_gguf_arr_len(g, (uint64_t)k);
    }
    return PLMM_OK;
}

/* ---- weights ---- */

static plmm_status find_weight(const plmm_gguf *g, const char *name, bool required, int64_t ne0,
                               int64_t ne1, int32_t *out)
{
    *out = -1;
    uint64_t n = plmm_gguf_n_tensors(g);
    for (uint64_t i = 0; i < n; i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        if (strcmp(t->name, name) != 0)
            continue;
        if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
            return plmm_err(PLMM_ERR_FORMAT,
                            "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                            name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                            (long long)t->ne[3], (long long)ne0, (long long)ne1);
        *out = (int32_t)i;
        return PLMM_OK;
    }
    if (required)
        return plmm_err(PLMM_ERR_FORMAT, "model lacks tensor '%s'", name);
    return PLMM_OK;
}

plmm_status plmm_weights_load(const plmm_gguf *g, const plmm_hparams *hp, plmm_model_weights *w)
{
    plmm_status s;
    char name[96];
    int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    int64_t QD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    bool bias = hp->arch == PLMM_ARCH_QWEN2;

    memset(w, 0, sizeof(*w));
    w->layers = calloc(hp->n_layer, sizeof(*w->layers));
    if (w->layers == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate layer table");

    if (V == 0) {
        /* no vocab size in metadata: take it from the embedding table */
        const plmm_gguf_tensor *te = plmm_gguf_find_tensor(g, "token_embd.weight");
        if (te == NULL) {
            s = plmm_err(PLMM_ERR_FORMAT, "model lacks tensor 'token_embd.weight'");
            goto out_free;
        }
        V = te->ne[1];
    }
    if ((s = find_weight(g, "token_embd.weight", true, E, V, &w->tok_embd)) != PLMM_OK ||
        (s = find_weight(g, "output_norm.weight", true, E, 1, &w->output_norm)) != PLMM_OK ||
        (s = find_weight(g, "output.weight", false, E, V, &w->output)) != PLMM_OK)
        goto out_free;
    if (w->output < 0)
        w->output = w->tok_embd; /* tied embeddings */
    w->rope_freqs = -1;
    if ((s = find_weight(g, "rope_freqs.weight", false, hp->n_rot / 2, 1, &w->rope_freqs)) != PLMM_OK)
        goto out_free;

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        plmm_layer_weights *L = &w->layers[l];
        struct {
            const char *suffix;
            int32_t *slot;
            int64_t ne0, ne1;
            bool required;
        } want[] = {
            {"attn_norm.weight", &L->attn_norm, E, 1, true},
            {"attn_q.weight", &L->wq, E, QD, true},
            {"attn_k.weight", &L->wk, E, KD, true},
            {"attn_v.weight", &L->wv, E, KD, true},
            {"attn_output.weight", &L->wo, QD, E, true},
            {"attn_q.bias", &L->bq, QD, 1, bias},
            {"attn_k.bias", &L->bk, KD, 1, bias},
            {"attn_v.bias", &L->bv, KD, 1, bias},
            {"attn_output.bias", &L->bo, E, 1, false},
            {"ffn_norm.weight", &L->ffn_norm, E, 1, true},
            {"ffn_gate.weight", &L->w_gate, E, F, true},
            {"ffn_up.weight", &L->w_up, E, F, true},
            {"ffn_down.weight", &L->w_down, F, E, true},
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            snprintf(name, sizeof(name), "blk.%u.%s", l, want[i].suffix);
            s = find_weight(g, name, want[i].required, want[i].ne0, want[i].ne1, want[i].slot);
            if (s != PLMM_OK)
                goto out_free;
        }
    }
    /* norms and biases are applied as F32 activations */
    for (uint32_t l = 0; l <= hp->n_layer; l++) {
        int32_t idx[5];
        int n = 0;
        if (l == hp->n_layer) {
            idx[n++] = w->output_norm;
        } else {
            const plmm_layer_weights *L = &w->layers[l];
            idx[n++] = L->attn_norm;
            idx[n++] = L->ffn_norm;
            idx[n++] = L->bq;
            idx[n++] = L->bk;
            idx[n++] = L->bv;
        }
        for (int i = 0; i < n; i++) {
            if (idx[i] < 0)
                continue;
            const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, (uint64_t)idx[i]);
            if (t->dtype != PLMM_DTYPE_F32) {
                s = plmm_err(PLMM_ERR_UNSUPPORTED, "tensor '%s' must be F32 (norm/bias)", t->name);
                goto out_free;
            }
        }
    }
    return PLMM_OK;

out_free:
    plmm_weights_free(w);
    return s;
}

void plmm_weights_free(plmm_model_weights *w)
{
    free(w->layers);
    w->layers = NULL;
}
