/* Engine side of LoRA adapters (include/plmm/lora.h): the adapted weights
 * the forward pass looks up, and graph headroom for their extra nodes. */
#ifndef PLMM_ENGINE_LORA_H
#define PLMM_ENGINE_LORA_H

#include "model.h"
#include "plmm/lora.h"

typedef struct plmm_lora_pair {
    int32_t weight;   /* base weight index in the model's GGUF */
    int64_t n_in;     /* W ne[0] */
    int64_t n_out;    /* W ne[1] */
    int64_t rank;
    float *a;         /* (n_in, rank) F32: ne[0] = n_in */
    float *b;         /* (rank, n_out) F32: ne[0] = rank */
} plmm_lora_pair;

/* The pair adapting base weight index w, or NULL. */
const plmm_lora_pair *plmm_lora_find(const plmm_lora *lora, int32_t w);
/* Effective factor for a pair: scale * alpha / rank (alpha 0: scale). */
float plmm_lora_factor(const plmm_lora *lora, const plmm_lora_pair *p, float scale);
/* Add graph capacity for adapting every matmul of a model. */
void plmm_lora_capacity(const plmm_hparams *hp, uint32_t *n_tensors, uint32_t *n_nodes);

#endif
