/*
 * plmm — LoRA adapters.
 *
 * A LoRA adapter is a GGUF file as llama.cpp's convert_lora_to_gguf.py
 * writes it: general.type = "adapter", adapter.type = "lora",
 * adapter.lora.alpha, and for each adapted weight "<name>.lora_a" (ne =
 * n_in x rank) and "<name>.lora_b" (ne = rank x n_out). Applied to a
 * session with scale s, every adapted matmul y = W x becomes
 *     y = W x + s * (alpha / rank) * B (A x)      (alpha 0: s * B (A x))
 * beside the base weights, on whatever backend runs the matmul. The base
 * model is never modified or reloaded: adapters are loaded, applied to
 * sessions, changed and removed at any time.
 */
#ifndef PLMM_LORA_H
#define PLMM_LORA_H

#include "plmm/plmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_lora plmm_lora;

/* Load an adapter for model, checking names, shapes and architecture
 * against it (PLMM_ERR_FORMAT / PLMM_ERR_INVALID_ARG name the tensor).
 * out: owned, free with plmm_lora_free after the sessions using it. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_lora_load(plmm_model *model, const char *path,
                                                       plmm_lora **out);
/* NULL is ignored. */
PLMM_EXPORT void plmm_lora_free(plmm_lora *lora);

/* Number of adapted weights and the adapter's alpha. */
PLMM_EXPORT uint32_t plmm_lora_n_tensors(const plmm_lora *lora);
PLMM_EXPORT float plmm_lora_alpha(const plmm_lora *lora);

/* Apply lora (borrowed; must outlive its use) with scale to the session's
 * next evaluations; lora NULL removes the adapter. The KV cache is kept:
 * call plmm_session_reset when earlier positions must be recomputed. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_set_lora(plmm_session *session,
                                                              const plmm_lora *lora, float scale);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_LORA_H */
