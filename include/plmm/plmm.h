/*
 * plmm — application API.
 *
 * An engine is opened from an INI file (plus "section.key=value" overrides);
 * it discovers backend plugins and opens the ones `[engine] backends` names.
 * A model is a GGUF file mapped read-only; a session is one conversation
 * state (KV cache, sampler) over a model.
 *
 * Errors: every fallible call returns plmm_status (PLMM_OK = 0, errors < 0).
 * plmm_status_str() gives static text for a code; the detail of the last
 * failure on the calling thread is read with plmm_last_errmsg().
 *
 * Threads: handles are not thread-safe; use one session per thread. Distinct
 * engines are independent.
 */
#ifndef PLMM_PLMM_H
#define PLMM_PLMM_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_engine plmm_engine;
typedef struct plmm_model plmm_model;
typedef struct plmm_session plmm_session;

/* ---- errors and versions ---- */

/* Static, lowercase description of a status code ("out of memory"). */
PLMM_EXPORT const char *plmm_status_str(plmm_status status);

/* Detail of the most recent error on the calling thread ("" when none).
 * Valid until the next plmm call on this thread. */
PLMM_EXPORT const char *plmm_last_errmsg(void);

/* Library version string, "MAJOR.MINOR.PATCH". */
PLMM_EXPORT const char *plmm_version(void);

/* Free memory that the API handed out as "owned: free with plmm_free". */
PLMM_EXPORT void plmm_free(void *ptr);

/* ---- engine ---- */

/* Log callback: one line without trailing newline. */
typedef void (*plmm_log_fn)(void *user, int level, const char *msg);

typedef struct plmm_engine_params {
    uint32_t struct_size;           /* sizeof(plmm_engine_params) */
    uint32_t n_overrides;
    const char *config_path;        /* INI file, or NULL for built-in defaults */
    const char *const *overrides;   /* n_overrides "section.key=value" (CLI flags win) */
    plmm_log_fn log;                /* NULL: no logging */
    void *log_user;
    int log_level;                  /* plmm_log_level; overrides [engine] log_level if >= 0 */
} plmm_engine_params;

/* Open an engine: parse and validate the configuration, discover plugins,
 * open the configured backends. out: owned, close with plmm_engine_close. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_engine_open(const plmm_engine_params *params,
                                                         plmm_engine **out);
/* NULL is ignored. Closes backends and unloads plugins. */
PLMM_EXPORT void plmm_engine_close(plmm_engine *engine);

/* Value of a configuration key "section.key" as written in the INI or an
 * override, else its schema default. *out is borrowed from the engine
 * (valid until plmm_engine_close). PLMM_ERR_NOT_FOUND for unknown keys or
 * keys without value. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_engine_config_get(const plmm_engine *engine,
                                                               const char *key, const char **out);

/* Human-readable report of discovered plugins (state, reason when skipped),
 * opened backends, their devices and capabilities.
 * out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_engine_backends_report(plmm_engine *engine, char **out);

/* Human-readable report of the expert plugins: each one found (version,
 * summary, routing signals, whether it checks answers), and for those with
 * an [expert.NAME] section whether they are enabled, their connector,
 * share policy, price, budget and timeout — or why the expert failed to
 * load or initialise. out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_engine_experts_report(plmm_engine *engine, char **out);

/* ---- model ---- */

/* Load a GGUF model (path NULL: [engine] model). The file is mmapped and
 * its weights used in place where the backend can. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_model_load(plmm_engine *engine, const char *path,
                                                        plmm_model **out);
/* NULL is ignored. Sessions of the model must be freed first. */
PLMM_EXPORT void plmm_model_free(plmm_model *model);

typedef struct plmm_model_desc {
    uint32_t struct_size; /* set by the caller */
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t n_ff;
    uint64_t n_params;
    uint64_t file_size;
    char arch[32];
    char name[128];
} plmm_model_desc;

PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_model_describe(const plmm_model *model,
                                                            plmm_model_desc *out);

/* Text report: metadata (long arrays summarised), tensor table and the
 * memory a session of n_ctx positions needs. out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_model_info(const plmm_model *model, uint32_t n_ctx,
                                                        char **out);

/* ---- tokens ---- */

#define PLMM_TOKENIZE_ADD_SPECIAL 0x1u   /* add BOS/EOS as the model says */
#define PLMM_TOKENIZE_PARSE_SPECIAL 0x2u /* match special-token text like <|im_start|> */

/* Tokenize len bytes of UTF-8 text. *n_out receives the token count; when it
 * exceeds capacity the call returns PLMM_ERR_RANGE (ids holds a prefix). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_tokenize(const plmm_model *model, const char *text,
                                                      size_t len, uint32_t flags, int32_t *ids,
                                                      size_t capacity, size_t *n_out);
/* Bytes a token renders as (not NUL-terminated). PLMM_ERR_RANGE for an
 * unknown id or a too small buffer (*n_out then says the size needed). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_token_piece(const plmm_model *model, int32_t id,
                                                         char *buf, size_t capacity, size_t *n_out);
/* The vocabulary text of a token, also for control tokens ("<s>",
 * "<|im_end|>") that plmm_token_piece renders as nothing. Borrowed from the
 * model; NULL for an unknown id. *len receives its length. */
PLMM_EXPORT const char *plmm_token_text(const plmm_model *model, int32_t id, size_t *len);
PLMM_EXPORT int32_t plmm_token_bos(const plmm_model *model); /* -1 if none */
PLMM_EXPORT int32_t plmm_token_eos(const plmm_model *model); /* -1 if none */
/* End of generation (EOS, EOT and the like). */
PLMM_EXPORT bool plmm_token_is_eog(const plmm_model *model, int32_t id);

/* ---- chat ---- */

typedef struct plmm_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8 */
} plmm_chat_message;

/* Format a conversation with the model's chat template ([chat] template:
 * auto detects it from the GGUF; name overrides when not NULL). When the
 * conversation has no system message and [chat] system is set, that text
 * is the system message. Writes a
 * NUL-terminated prompt; PLMM_ERR_RANGE when capacity is too small
 * (*needed then holds the size including the NUL). *has_bos (may be NULL)
 * tells whether the text already starts with the BOS token text. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_chat_format(const plmm_model *model,
                                                         const char *template_name,
                                                         const plmm_chat_message *messages,
                                                         size_t n_messages,
                                                         bool add_generation_prompt, char *buf,
                                                         size_t capacity, size_t *needed,
                                                         bool *has_bos);

/* ---- sessions ---- */

typedef struct plmm_session_params {
    uint32_t struct_size; /* sizeof(plmm_session_params) */
    uint32_t n_ctx;       /* KV positions; 0 = [engine] context */
    int32_t kv_type;      /* PLMM_DTYPE_F16 / PLMM_DTYPE_F32; -1 = [engine] kv_type */
    uint32_t n_batch;     /* tokens per evaluation step; 0 = [engine] batch */
} plmm_session_params;

/* params NULL: everything from the configuration. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_create(plmm_model *model,
                                                            const plmm_session_params *params,
                                                            plmm_session **out);
/* NULL is ignored. */
PLMM_EXPORT void plmm_session_free(plmm_session *session);

/* Forget all positions (and the sampler's history). */
PLMM_EXPORT void plmm_session_reset(plmm_session *session);
/* Positions currently held in the KV cache. */
PLMM_EXPORT uint32_t plmm_session_n_past(const plmm_session *session);
/* Keep only the first n_past positions (n_past <= current), e.g. to reuse
 * a shared prefix of a conversation. PLMM_ERR_RANGE if n_past is larger. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_truncate(plmm_session *session,
                                                              uint32_t n_past);
/* Capacity of the KV cache. */
PLMM_EXPORT uint32_t plmm_session_n_ctx(const plmm_session *session);

#define PLMM_EVAL_ALL_LOGITS 0x1u /* keep logits for every evaluated token */

/* Evaluate n tokens after the current position (split in batches of
 * n_batch). Afterwards plmm_session_logits() reads the logits rows.
 * PLMM_ERR_RANGE when the tokens do not fit the context or an id is not in
 * the vocabulary (nothing is evaluated then). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_eval(plmm_session *session, const int32_t *ids,
                                                          size_t n, uint32_t flags);
/* Logits row (n_vocab floats, borrowed until the next eval). Rows count
 * the tokens of the last eval when PLMM_EVAL_ALL_LOGITS was given, else
 * only row 0 (the last token) exists. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_logits(const plmm_session *session, size_t row,
                                                            const float **out);

typedef struct plmm_sampling {
    uint32_t struct_size;    /* sizeof(plmm_sampling) */
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off */
    int32_t repeat_last_n;   /* history window of the penalties */
    float frequency_penalty; /* 0 = off */
    float presence_penalty;  /* 0 = off */
    int32_t n_predict;       /* tokens to generate by default, < 0 = until the context is full */
    uint64_t seed;
} plmm_sampling;

/* Sampling settings of the configuration ([sampling] section). */
PLMM_EXPORT void plmm_sampling_defaults(const plmm_engine *engine, plmm_sampling *out);
/* Replace the session's sampler (validated: PLMM_ERR_INVALID_ARG names the field). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_set_sampling(plmm_session *session,
                                                                  const plmm_sampling *params);
/* Draw a token from the last logits row and record it in the history. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_sample(plmm_session *session, int32_t *out);

/* Streaming callback: called once per generated token with its text
 * piece; return false to stop generation. */
typedef bool (*plmm_token_cb)(void *user, int32_t id, const char *piece, size_t len);

/* Evaluate prompt ids, then sample up to n_predict tokens (< 0: until the
 * context is full), stopping at an end-of-generation token (not passed to
 * cb). Every generated token except the last one (or the one cb refused)
 * is evaluated, so plmm_session_n_past() counts prompt + generated - 1
 * positions; pass the last token as the next call's prompt to continue.
 * *n_generated (may be NULL) receives the count. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_generate(plmm_session *session,
                                                              const int32_t *prompt,
                                                              size_t n_prompt, int32_t n_predict,
                                                              plmm_token_cb cb, void *user,
                                                              size_t *n_generated);

typedef struct plmm_timings {
    uint32_t struct_size; /* set by the caller */
    uint32_t reserved;
    double load_ms;       /* model load */
    uint64_t n_prompt;    /* tokens evaluated in batches of more than one */
    double prompt_ms;
    uint64_t n_decode;    /* tokens evaluated one at a time */
    double decode_ms;
    double sample_ms;
} plmm_timings;

PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_timings(const plmm_session *session,
                                                             plmm_timings *out);
PLMM_EXPORT void plmm_session_timings_reset(plmm_session *session);

/* The scheduling plan (which backend runs which nodes, fallbacks) for a
 * batch of n_tokens. out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_session_plan(plmm_session *session, uint32_t n_tokens,
                                                          char **out);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_PLMM_H */
