/* Forward-pass graph of the llama family (llama, qwen2) for one batch. */
#ifndef PLMM_ENGINE_FORWARD_H
#define PLMM_ENGINE_FORWARD_H

#include "graph.h"
#include "model.h"

typedef struct plmm_forward_io {
    uint32_t n_tokens;  /* tokens in this batch (>= 1) */
    uint32_t pos0;      /* position of the first token; cache holds pos0 tokens */
    uint32_t n_ctx;     /* KV cache capacity (positions) */
    uint32_t kv_dtype;  /* PLMM_DTYPE_F16 or PLMM_DTYPE_F32 */
    bool all_logits;    /* logits for every token (else only the last) */
    int32_t *ids;       /* host input (n_tokens), borrowed */
    int32_t *pos;       /* host input (n_tokens), borrowed */
    plmm_tensor *logits; /* out: F32 (n_vocab, all_logits ? n_tokens : 1) */
    const struct plmm_lora *lora; /* adapter added beside the matmuls, or NULL */
    float lora_scale;
} plmm_forward_io;

/* Tensors and nodes needed for a model; sizes the builder. */
void plmm_forward_capacity(const plmm_hparams *hp, uint32_t *n_tensors, uint32_t *n_nodes);

/* Build the graph. KV cache tensors are state slots 2*l (K) and 2*l+1 (V),
 * each (head_dim, n_head_kv, n_ctx) of kv_dtype. */
PLMM_NODISCARD plmm_status plmm_forward_build(plmm_graph_builder *b, const plmm_gguf *g,
                                              const plmm_hparams *hp,
                                              const plmm_model_weights *w, plmm_forward_io *io);

#endif
