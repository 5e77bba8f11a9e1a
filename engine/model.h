/*
 * A loaded model: the mmapped GGUF, hyperparameters read from its metadata
 * only, and the weight table the graph builder references.
 */
#ifndef PLMM_ENGINE_MODEL_H
#define PLMM_ENGINE_MODEL_H

#include "gguf.h"

typedef enum plmm_arch {
    PLMM_ARCH_LLAMA = 0, /* LLaMA 1/2/3, TinyLlama, SmolLM, Mistral (no sliding window) */
    PLMM_ARCH_QWEN2 = 1, /* llama + q/k/v biases, NeoX RoPE */
} plmm_arch;

typedef struct plmm_hparams {
    plmm_arch arch;
    char arch_name[32];
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* per-head size of q and k (and v) */
    uint32_t n_rot;    /* rotated dims per head */
    uint32_t rope_mode; /* 0 normal, 2 NeoX */
    uint32_t n_ctx_orig;
    float rms_eps;
    float rope_freq_base;
    float rope_freq_scale;
    float yarn_ext_factor;
    float yarn_attn_factor;
    float yarn_beta_fast;
    float yarn_beta_slow;
} plmm_hparams;

/* Weight indices into the GGUF tensor table; -1 = absent. */
typedef struct plmm_layer_weights {
    int32_t attn_norm, wq, wk, wv, wo;
    int32_t bq, bk, bv, bo;
    int32_t ffn_norm, w_gate, w_up, w_down;
} plmm_layer_weights;

typedef struct plmm_model_weights {
    int32_t tok_embd;
    int32_t output_norm;
    int32_t output; /* == tok_embd when tied */
    int32_t rope_freqs;
    plmm_layer_weights *layers; /* (n_layer) */
} plmm_model_weights;

/* Read hparams from GGUF metadata. Missing required keys and unsupported
 * architectures are PLMM_ERR_UNSUPPORTED / PLMM_ERR_FORMAT naming the key. */
PLMM_NODISCARD plmm_status plmm_hparams_load(const plmm_gguf *g, plmm_hparams *hp);

/* Resolve and shape-check every weight the architecture needs. */
PLMM_NODISCARD plmm_status plmm_weights_load(const plmm_gguf *g, const plmm_hparams *hp,
                                             plmm_model_weights *w);
void plmm_weights_free(plmm_model_weights *w);

#endif
