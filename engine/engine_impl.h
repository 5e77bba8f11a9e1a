/* Bodies of the public handles (plmm.h). Engine-internal. */
#ifndef PLMM_ENGINE_IMPL_H
#define PLMM_ENGINE_IMPL_H

#include "plmm/backend.h"
#include "plmm/plmm.h"

#include "config.h"
#include "forward.h"
#include "model.h"
#include "registry.h"
#include "sampler.h"
#include "scheduler.h"
#include "tokenizer.h"

struct plmm_engine {
    plmm_config *cfg;
    plmm_registry *reg;
    plmm_backend_inst **backends; /* opened, in [engine] backends order */
    uint32_t n_backends;
    int32_t fallback; /* index of the CPU backend for observable fallback, -1 if none */
    bool fallback_only; /* that backend was added for fallback, not configured */
    bool strict;
    plmm_log_fn log;
    void *log_user;
    int log_level;
};

struct plmm_model {
    plmm_engine *engine;
    plmm_gguf *gguf;
    plmm_hparams hp;
    plmm_model_weights w;
    plmm_tokenizer *tok;
    double load_ms;
    uint32_t n_sessions;
};

struct plmm_session {
    plmm_model *model;
    plmm_sched *sched;
    plmm_graph_builder gb;
    uint32_t n_ctx;
    uint32_t n_batch;
    uint32_t kv_dtype;
    int32_t kv_backend;
    plmm_buffer *kv_buf;
    plmm_state_slot *slots; /* (2 * n_layer) */
    uint32_t n_past;
    float *logits;          /* (cap_rows * n_vocab) */
    uint32_t n_rows, cap_rows;
    int32_t *ids, *pos;     /* (n_batch) host inputs */
    plmm_sampler *sampler;
    plmm_timings t;
    const struct plmm_lora *lora; /* plmm_session_set_lora, or NULL */
    float lora_scale;
};

/* Engine log helper (formats, filters by level). */
void plmm_engine_logf(const plmm_engine *e, int level, const char *fmt, ...) PLMM_PRINTF(3, 4);

/* Integer / string keys of the engine's own sections (schema defaults apply). */
int64_t plmm_engine_cfg_int(const plmm_engine *e, const char *section, const char *key);
const char *plmm_engine_cfg_str(const plmm_engine *e, const char *section, const char *key);

/* The scheduler's view of an opened backend. */
plmm_sched_backend_ref plmm_backend_instance_ref(plmm_backend_inst *inst);

/* Monotonic milliseconds. */
double plmm_now_ms(void);

#endif
