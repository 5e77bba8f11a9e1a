/*
 * Expert instances: an expert plugin's context together with the engine's
 * settings of its [expert.NAME] section.
 *
 * The keys every expert has (connector, model, endpoint, share, price,
 * budget, timeouts, ...) belong to the engine, which opens the connector
 * and enforces the share policy and the budget; a plugin declares only its
 * own extra keys. Both are validated together against the section, so a
 * misspelled key gets "did you mean" from the union.
 *
 * An instance must be destroyed before the registry that loaded it.
 */
#ifndef PLMM_ENGINE_EXPERT_HOST_H
#define PLMM_ENGINE_EXPERT_HOST_H

#include "config.h"
#include "connector.h"
#include "plmm/expert.h"
#include "plmm/privacy.h"
#include "registry.h"

/* plmm_expert_settings.share (the `share` key's choices, in order): the
 * public plmm_share of plmm/privacy.h (PLMM_SHARE_NONE, _PSEUDONYMIZED,
 * _FULL), which the privacy layer enforces. */
typedef plmm_share plmm_expert_share;

/* The engine's keys of [expert.NAME] (also usable for [tmodel]). */
const plmm_option_schema *plmm_expert_common_options(uint32_t *n) PLMM_NONNULL(1);

/* The validated engine-side settings of one expert section. Strings are
 * owned (NULL when unset); PATH values are resolved against the INI file. */
typedef struct plmm_expert_settings {
    bool enabled;
    bool stream;
    uint32_t connector; /* PLMM_EXPERT_CONNECTOR_LOCAL or _OPENAI */
    uint32_t share;     /* plmm_expert_share */
    char *model;        /* local: GGUF file */
    char *lora;         /* local: LoRA adapter applied to the P-model */
    double lora_scale;
    int32_t context;   /* local: session context in tokens, 0 = [engine] context */
    char *endpoint;    /* openai: base URL including /v1 */
    char *model_name;  /* openai: model id sent in requests ("" = server default) */
    char *api_key_env; /* openai: environment variable holding the API key */
    char *api_key;     /* openai: the key written in the INI (wiped when cleared) */
    char *ca_file;     /* openai: extra CA bundle */
    double price_per_1k_tokens;
    double budget; /* most spent per engine lifetime; < 0 = unlimited */
    double timeout_s;
    double connect_timeout_s;
    double read_timeout_s; /* 0 = only timeout_s */
    int32_t max_retries;
    int32_t max_tokens;
} plmm_expert_settings;

/*
 * Read and check the engine keys of section (e.g. "expert.finance") from
 * values (as returned by plmm_config_plugin_options for a schema that
 * starts with plmm_expert_common_options). allowed: PLMM_EXPERT_CONNECTOR_*
 * bits the component accepts. Errors (PLMM_ERR_CONFIG) name the file and
 * line of the key: a missing connector, a connector kind the expert does
 * not support, local without model or lora, openai without an http(s)
 * endpoint, an invalid environment variable name.
 */
PLMM_NODISCARD plmm_status plmm_expert_settings_read(const plmm_config *cfg, const char *section,
                                                     const plmm_option_value *values,
                                                     uint32_t n_values, uint32_t allowed,
                                                     plmm_expert_settings *out) PLMM_NONNULL(2, 6);
void plmm_expert_settings_clear(plmm_expert_settings *s);

/* "none", "pseudonymized", "full" */
const char *plmm_expert_share_name(uint32_t share);
/* "local", "openai" or "unknown" for one PLMM_EXPERT_CONNECTOR_* bit */
const char *plmm_expert_connector_name(uint32_t connector);

typedef struct plmm_expert_inst plmm_expert_inst;

/*
 * Load the expert plugin name, validate [expert.NAME] of cfg (may be NULL:
 * defaults only, which fails for want of a connector) against the engine's
 * keys plus the plugin's, and call the plugin's init with its own keys.
 * Errors: those of plmm_registry_load; PLMM_ERR_INVALID_ARG when name is a
 * backend; PLMM_ERR_CONFIG for a bad section; the plugin's status with
 * "expert 'x': init failed: <the plugin's message>".
 */
PLMM_NODISCARD plmm_status plmm_expert_inst_create(plmm_registry *reg, const plmm_config *cfg,
                                                   const char *name, plmm_expert_inst **out)
    PLMM_NONNULL(1, 3, 4);
/* NULL is ignored. */
void plmm_expert_inst_destroy(plmm_expert_inst *inst);

const char *plmm_expert_inst_name(const plmm_expert_inst *inst) PLMM_NONNULL(1);
const plmm_expert_desc *plmm_expert_inst_desc(const plmm_expert_inst *inst) PLMM_NONNULL(1);
const plmm_expert_settings *plmm_expert_inst_settings(const plmm_expert_inst *inst) PLMM_NONNULL(1);

/*
 * The configuration of the expert's E-model connector, for
 * plmm_connector_open: name "expert.NAME", the connector kind and the
 * settings of [expert.NAME]. Strings are borrowed from the instance (valid
 * until it is destroyed). The API key is resolved here: the variable
 * api_key_env names when it is set and non-empty, else api_key. Errors:
 * PLMM_ERR_CONFIG when api_key_env names an unset variable and there is no
 * api_key; PLMM_ERR_NOMEM.
 */
PLMM_NODISCARD plmm_status plmm_expert_inst_connector_config(plmm_expert_inst *inst,
                                                             plmm_connector_config *out)
    PLMM_NONNULL(1, 2);

/*
 * Run the expert's answer check. An expert without one passes with an
 * empty message. A plugin error or a verdict outside plmm_check_verdict is
 * returned as an error naming the expert; the result then says FAIL.
 */
PLMM_NODISCARD plmm_status plmm_expert_inst_check(plmm_expert_inst *inst, const char *question,
                                                  const char *answer, plmm_check_result *out)
    PLMM_NONNULL(1, 2, 3, 4);

#endif
