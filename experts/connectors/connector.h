/*
 * E-model connectors: how the engine talks to an E-model or the T-model.
 *
 * A connector is engine-side code (linked into libplmm, not a plugin): an
 * expert plugin names the connector kind it wraps and the engine opens it
 * with the options of [expert.NAME] or [tmodel]. Keeping connectors in the
 * engine is what lets the engine enforce the share policy, the final
 * outgoing scan, the audit log and metering for every expert alike.
 *
 * Kinds:
 *   local  — a second GGUF model run by this engine, or a LoRA adapter
 *            applied to the P-model with an explicit scale;
 *   openai — any OpenAI-compatible server (/v1/chat/completions, SSE).
 *
 * Errors: functions return a plmm_status and record a message naming the
 * cause (plmm_last_errmsg()).
 */
#ifndef PLMM_CONNECTOR_H
#define PLMM_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plmm/plmm.h"

typedef enum plmm_connector_kind {
    PLMM_CONNECTOR_LOCAL = 1,
    PLMM_CONNECTOR_OPENAI = 2,
} plmm_connector_kind;

typedef struct plmm_connector plmm_connector;

typedef struct plmm_connector_config {
    plmm_connector_kind kind;
    const char *name;            /* "expert.finance", "tmodel": for messages, audit, ledger */
    /* local */
    const char *model_path;      /* GGUF run by this engine (NULL: use lora on the P-model) */
    const char *lora_path;       /* GGUF LoRA adapter applied to the P-model, or NULL */
    float lora_scale;            /* explicit adapter scale */
    /* openai */
    const char *endpoint;        /* base URL including /v1, e.g. http://127.0.0.1:8081/v1 */
    const char *model;           /* model name sent in requests ("" = server default) */
    const char *api_key;         /* resolved key (environment or INI), or NULL */
    const char *ca_file;         /* extra CA bundle, or NULL; TLS verification is always on */
    double connect_timeout_s;
    double timeout_s;            /* whole request */
    int max_retries;             /* on 429/5xx/connection errors, with backoff */
    bool stream;                 /* use SSE streaming */
    /* fields appended after the first version: zero keeps the default */
    double read_timeout_s;       /* openai: longest silence while receiving; 0 = timeout_s only */
    size_t max_response_bytes;   /* openai: largest response body or event; 0 = 8 MiB */
    plmm_model *base_model;      /* local + lora_path: the P-model to adapt (borrowed); NULL:
                                  * the connector loads [engine] model itself */
    int32_t n_ctx;               /* local: context of the connector's session; 0 = [engine] */
} plmm_connector_config;

typedef struct plmm_connector_msg {
    const char *role;            /* "system", "user", "assistant" */
    const char *content;
} plmm_connector_msg;

/* Called with the exact bytes about to leave the device (request body) and
 * the URL; a non-OK return refuses the send (the privacy layer's final scan,
 * the audit log). For the local kind it is called with the prompt text and
 * url "local:NAME" so the same policy code runs. */
typedef plmm_status (*plmm_connector_send_fn)(void *user, const char *url, const char *body,
                                              size_t len);
/* Streamed answer text as it arrives; return false to cancel. */
typedef bool (*plmm_connector_piece_fn)(void *user, const char *piece, size_t len);

typedef struct plmm_connector_request {
    const plmm_connector_msg *msgs;
    size_t n_msgs;
    int32_t max_tokens;          /* <= 0: connector default */
    float temperature;           /* < 0: connector default */
    plmm_connector_send_fn before_send; /* may be NULL */
    plmm_connector_piece_fn on_piece;   /* may be NULL */
    void *user;
} plmm_connector_request;

typedef struct plmm_connector_result {
    char *text;                  /* whole answer (malloc'd, NUL-terminated) */
    int64_t prompt_tokens;       /* -1 when unknown */
    int64_t completion_tokens;   /* -1 when unknown */
    bool usage_from_server;      /* usage object reported by the server (else counted locally) */
    char *receipt_json;          /* signed usage receipt returned by a plmm server, or NULL */
    char finish_reason[32];
    int http_status;             /* last HTTP status (0 for local) */
    int attempts;                /* requests made, retries included */
} plmm_connector_result;

/* Open a connector; engine is used by the local kind (model loading, the
 * P-model for a LoRA adapter). */
PLMM_NODISCARD plmm_status plmm_connector_open(plmm_engine *engine,
                                               const plmm_connector_config *config,
                                               plmm_connector **out);
void plmm_connector_close(plmm_connector *connector);

/* One chat completion. On success *result is filled and owned by the caller
 * (plmm_connector_result_clear). */
PLMM_NODISCARD plmm_status plmm_connector_chat(plmm_connector *connector,
                                               const plmm_connector_request *request,
                                               plmm_connector_result *result);
void plmm_connector_result_clear(plmm_connector_result *result);

/* Reachability and identity: for openai, GET /v1/models (fills the first
 * model id); for local, the model's name. */
PLMM_NODISCARD plmm_status plmm_connector_probe(plmm_connector *connector, char *model_id,
                                                size_t size);

const char *plmm_connector_kind_name(plmm_connector_kind kind);

/* ---- settings from the configuration (appended) ---- */

/* A connector's settings read from an INI section ([tmodel], [expert.NAME])
 * with the keys of docs/connectors.md: connector, model, lora, lora_scale,
 * context, endpoint, model_name, api_key_env, api_key, ca_file, timeout,
 * connect_timeout, read_timeout, max_retries, max_tokens, stream, share,
 * price_per_1k_tokens, budget, enabled. The api key is resolved: the
 * variable api_key_env names when set and non-empty, else api_key. */
typedef struct plmm_connector_settings {
    plmm_connector_config config; /* name = the section; strings owned by this struct */
    bool enabled;
    int32_t max_tokens;
    char share[16];               /* "none", "pseudonymized", "full" */
    double price_per_1k_tokens;
    double budget;                /* -1 = unlimited */
    char *owned[10];              /* strings config points to (internal) */
} plmm_connector_settings;

/* PLMM_ERR_NOT_FOUND when the section is absent; PLMM_ERR_CONFIG naming the
 * section and key for a missing or invalid value. Free with
 * plmm_connector_settings_free (also after a failure). */
PLMM_NODISCARD plmm_status plmm_connector_settings_read(const plmm_engine *engine,
                                                        const char *section,
                                                        plmm_connector_settings *out);
void plmm_connector_settings_free(plmm_connector_settings *settings);

#endif
