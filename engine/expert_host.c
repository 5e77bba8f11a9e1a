/*
 * Expert instances: [expert.NAME] validated against the engine's keys and
 * the plugin's own, the engine-side settings (connector, share policy,
 * price, budget, timeouts) and the plugin context with its host services.
 */
#include "expert_host.h"

#include "errors.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the engine's keys ---- */

enum {
    K_ENABLED,
    K_CONNECTOR,
    K_MODEL,
    K_LORA,
    K_LORA_SCALE,
    K_CONTEXT,
    K_ENDPOINT,
    K_MODEL_NAME,
    K_API_KEY_ENV,
    K_API_KEY,
    K_CA_FILE,
    K_SHARE,
    K_PRICE,
    K_BUDGET,
    K_TIMEOUT,
    K_CONNECT_TIMEOUT,
    K_READ_TIMEOUT,
    K_MAX_RETRIES,
    K_MAX_TOKENS,
    K_STREAM,
    K_COUNT
};

/* The table is part of the configuration schema (config_schema.c), so the
 * reference documentation lists it; these are its keys by meaning. */
static const char *const key_names[K_COUNT] = {
    [K_ENABLED] = "enabled",
    [K_CONNECTOR] = "connector",
    [K_MODEL] = "model",
    [K_LORA] = "lora",
    [K_LORA_SCALE] = "lora_scale",
    [K_CONTEXT] = "context",
    [K_ENDPOINT] = "endpoint",
    [K_MODEL_NAME] = "model_name",
    [K_API_KEY_ENV] = "api_key_env",
    [K_API_KEY] = "api_key",
    [K_CA_FILE] = "ca_file",
    [K_SHARE] = "share",
    [K_PRICE] = "price_per_1k_tokens",
    [K_BUDGET] = "budget",
    [K_TIMEOUT] = "timeout",
    [K_CONNECT_TIMEOUT] = "connect_timeout",
    [K_READ_TIMEOUT] = "read_timeout",
    [K_MAX_RETRIES] = "max_retries",
    [K_MAX_TOKENS] = "max_tokens",
    [K_STREAM] = "stream",
};

const plmm_option_schema *plmm_expert_common_options(uint32_t *n)
{
    return plmm_config_family_keys("expert.", n);
}

const char *plmm_expert_share_name(uint32_t share)
{
    switch (share) {
    case PLMM_SHARE_NONE:
        return "none";
    case PLMM_SHARE_PSEUDONYMIZED:
        return "pseudonymized";
    case PLMM_SHARE_FULL:
        return "full";
    default:
        return "unknown";
    }
}

const char *plmm_expert_connector_name(uint32_t connector)
{
    switch (connector) {
    case PLMM_EXPERT_CONNECTOR_LOCAL:
        return "local";
    case PLMM_EXPERT_CONNECTOR_OPENAI:
        return "openai";
    default:
        return "unknown";
    }
}

/* ---- settings ---- */

static const plmm_option_value *value_of(const plmm_option_value *v, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

/* "FILE:LINE: [section] message" for a key, or "[section]: message". */
static plmm_status key_error(const plmm_config *cfg, const char *section, const char *key,
                             const char *fmt, ...) PLMM_PRINTF(4, 5);

static plmm_status key_error(const plmm_config *cfg, const char *section, const char *key,
                             const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *source = NULL;
    uint32_t line = 0;
    if (cfg != NULL && key != NULL && plmm_config_origin(cfg, section, key, &source, &line)) {
        if (line > 0)
            return plmm_err(PLMM_ERR_CONFIG, "%s:%u: %s.%s: %s", source, (unsigned)line, section,
                            key, msg);
        return plmm_err(PLMM_ERR_CONFIG, "%s: %s.%s: %s", source, section, key, msg);
    }
    return plmm_err(PLMM_ERR_CONFIG, "[%s]: %s", section, msg);
}

static bool dup_opt(const plmm_option_value *v, char **out)
{
    *out = NULL;
    if (v == NULL)
        return true;
    *out = strdup(v->v.s);
    return *out != NULL;
}

static bool valid_env_name(const char *s)
{
    if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (; *s != '\0'; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

void plmm_expert_settings_clear(plmm_expert_settings *s)
{
    if (s == NULL)
        return;
    free(s->model);
    free(s->lora);
    free(s->endpoint);
    free(s->model_name);
    free(s->api_key_env);
    if (s->api_key != NULL) {
        sodium_memzero(s->api_key, strlen(s->api_key));
        free(s->api_key);
    }
    free(s->ca_file);
    memset(s, 0, sizeof(*s));
}

plmm_status plmm_expert_settings_read(const plmm_config *cfg, const char *section,
                                      const plmm_option_value *values, uint32_t n_values,
                                      uint32_t allowed, plmm_expert_settings *out)
{
    const plmm_option_value *v[K_COUNT];
    memset(out, 0, sizeof(*out));
    for (int k = 0; k < K_COUNT; k++)
        v[k] = values != NULL ? value_of(values, n_values, key_names[k]) : NULL;

    if (v[K_CONNECTOR] == NULL)
        return key_error(cfg, section, NULL, "missing key 'connector' (local or openai)");
    out->connector = strcmp(v[K_CONNECTOR]->v.s, "local") == 0 ? PLMM_EXPERT_CONNECTOR_LOCAL
                                                               : PLMM_EXPERT_CONNECTOR_OPENAI;
    if ((allowed & out->connector) == 0)
        return key_error(cfg, section, "connector", "connector '%s' is not supported here",
                         v[K_CONNECTOR]->v.s);
    if (out->connector == PLMM_EXPERT_CONNECTOR_LOCAL && v[K_MODEL] == NULL && v[K_LORA] == NULL)
        return key_error(cfg, section, "connector",
                         "connector 'local' needs 'model' (a GGUF file) or 'lora' (an adapter)");
    if (out->connector == PLMM_EXPERT_CONNECTOR_LOCAL && v[K_MODEL] != NULL && v[K_LORA] != NULL)
        return key_error(cfg, section, "lora",
                         "set either 'model' (a second model) or 'lora' (an adapter), not both");
    if (out->connector == PLMM_EXPERT_CONNECTOR_OPENAI) {
        if (v[K_ENDPOINT] == NULL)
            return key_error(cfg, section, "connector",
                             "connector 'openai' needs 'endpoint' (e.g. http://127.0.0.1:8081/v1)");
        const char *e = v[K_ENDPOINT]->v.s;
        if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)
            return key_error(cfg, section, "endpoint", "'%s' is not an http:// or https:// URL", e);
    }
    if (v[K_API_KEY_ENV] != NULL && !valid_env_name(v[K_API_KEY_ENV]->v.s))
        return key_error(cfg, section, "api_key_env", "'%s' is not an environment variable name",
                         v[K_API_KEY_ENV]->v.s);

    out->enabled = v[K_ENABLED] != NULL ? v[K_ENABLED]->v.b : true;
    out->stream = v[K_STREAM] != NULL ? v[K_STREAM]->v.b : true;
    out->share = PLMM_SHARE_PSEUDONYMIZED;
    if (v[K_SHARE] != NULL)
        for (uint32_t i = PLMM_SHARE_NONE; i <= PLMM_SHARE_FULL; i++)
            if (strcmp(v[K_SHARE]->v.s, plmm_expert_share_name(i)) == 0)
                out->share = i;
    out->lora_scale = v[K_LORA_SCALE] != NULL ? v[K_LORA_SCALE]->v.f : 1.0;
    out->price_per_1k_tokens = v[K_PRICE] != NULL ? v[K_PRICE]->v.f : 0.0;
    out->budget = v[K_BUDGET] != NULL ? v[K_BUDGET]->v.f : -1.0;
    out->timeout_s = v[K_TIMEOUT] != NULL ? v[K_TIMEOUT]->v.f : 60.0;
    out->connect_timeout_s = v[K_CONNECT_TIMEOUT] != NULL ? v[K_CONNECT_TIMEOUT]->v.f : 10.0;
    out->read_timeout_s = v[K_READ_TIMEOUT] != NULL ? v[K_READ_TIMEOUT]->v.f : 0.0;
    out->context = v[K_CONTEXT] != NULL ? (int32_t)v[K_CONTEXT]->v.i : 0;
    out->max_retries = v[K_MAX_RETRIES] != NULL ? (int32_t)v[K_MAX_RETRIES]->v.i : 2;
    out->max_tokens = v[K_MAX_TOKENS] != NULL ? (int32_t)v[K_MAX_TOKENS]->v.i : 512;
    if (!dup_opt(v[K_MODEL], &out->model) || !dup_opt(v[K_LORA], &out->lora) ||
        !dup_opt(v[K_ENDPOINT], &out->endpoint) || !dup_opt(v[K_MODEL_NAME], &out->model_name) ||
        !dup_opt(v[K_API_KEY_ENV], &out->api_key_env) || !dup_opt(v[K_API_KEY], &out->api_key) ||
        !dup_opt(v[K_CA_FILE], &out->ca_file)) {
        plmm_expert_settings_clear(out);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory reading [%s]", section);
    }
    return PLMM_OK;
}

/* ---- instances ---- */

struct plmm_expert_inst {
    char section[160]; /* "expert.NAME" */
    char *api_key;     /* resolved for the connector; wiped when freed */
    const plmm_plugin_info *info;
    const plmm_expert_desc *desc;
    plmm_expert_settings settings;
    plmm_host_slot slot;
    plmm_host_api host;
    plmm_expert_ctx *ctx;
};

plmm_status plmm_expert_inst_create(plmm_registry *reg, const plmm_config *cfg, const char *name,
                                    plmm_expert_inst **out)
{
    char section[160];
    plmm_option_schema *schema = NULL;
    plmm_option_value *vals = NULL;
    uint32_t n_vals = 0, n_common = 0;
    const plmm_plugin_info *info = NULL;
    plmm_status s;

    *out = NULL;
    const plmm_plugin_info *found = plmm_registry_find(reg, name);
    if (found != NULL && found->manifest->kind != PLMM_PLUGIN_EXPERT)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plugin '%s' is not an expert", name);
    if ((s = plmm_registry_load(reg, name, &info)) != PLMM_OK)
        return s;
    const plmm_expert_desc *d = info->expert;
    const plmm_option_schema *common = plmm_expert_common_options(&n_common);
    snprintf(section, sizeof(section), "expert.%s", name);

    uint32_t n_schema = n_common + d->n_options;
    schema = calloc(n_schema, sizeof(*schema));
    plmm_expert_inst *inst = calloc(1, sizeof(*inst));
    if (schema == NULL || inst == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory creating expert '%s'", name);
        goto out_free;
    }
    memcpy(schema, common, n_common * sizeof(*schema));
    if (d->n_options > 0)
        memcpy(schema + n_common, d->options, d->n_options * sizeof(*schema));
    if ((s = plmm_config_plugin_options(cfg, section, schema, n_schema, &vals, &n_vals)) != PLMM_OK)
        goto out_free;
    if ((s = plmm_expert_settings_read(cfg, section, vals, n_vals, d->connectors,
                                       &inst->settings)) != PLMM_OK)
        goto out_free;

    /* the plugin sees only its own keys, which follow the engine's */
    uint32_t first_own = 0;
    while (first_own < n_vals && first_own < n_common) {
        bool is_common = false;
        for (uint32_t k = 0; k < n_common && !is_common; k++)
            is_common = strcmp(vals[first_own].key, common[k].key) == 0;
        if (!is_common)
            break;
        first_own++;
    }
    memcpy(inst->section, section, sizeof(inst->section));
    inst->info = info;
    inst->desc = d;
    inst->slot.name = info->manifest->name;
    plmm_host_api_init(&inst->host, &inst->slot, plmm_cpu_features_detect(), plmm_cpu_count());
    plmm_expert_ctx *ctx = NULL;
    s = d->vtbl->init(&inst->host, vals != NULL ? vals + first_own : NULL, n_vals - first_own,
                      &ctx);
    if (s != PLMM_OK || ctx == NULL) {
        const char *detail = inst->slot.errmsg[0] != '\0' ? inst->slot.errmsg
                             : s < 0                      ? plmm_status_str(s)
                                                          : "init returned no context";
        s = plmm_err(s < 0 ? s : PLMM_ERR_PLUGIN, "expert '%s': init failed: %s", name, detail);
        goto out_free;
    }
    inst->ctx = ctx;
    *out = inst;
    inst = NULL;
out_free:
    if (inst != NULL)
        plmm_expert_settings_clear(&inst->settings);
    free(inst);
    plmm_option_values_free(vals);
    free(schema);
    return s;
}

void plmm_expert_inst_destroy(plmm_expert_inst *inst)
{
    if (inst == NULL)
        return;
    inst->desc->vtbl->shutdown(inst->ctx);
    plmm_expert_settings_clear(&inst->settings);
    if (inst->api_key != NULL) {
        sodium_memzero(inst->api_key, strlen(inst->api_key));
        free(inst->api_key);
    }
    free(inst);
}

const char *plmm_expert_inst_name(const plmm_expert_inst *inst)
{
    return inst->desc->name;
}

const plmm_expert_desc *plmm_expert_inst_desc(const plmm_expert_inst *inst)
{
    return inst->desc;
}

const plmm_expert_settings *plmm_expert_inst_settings(const plmm_expert_inst *inst)
{
    return &inst->settings;
}

plmm_status plmm_expert_inst_connector_config(plmm_expert_inst *inst, plmm_connector_config *out)
{
    const plmm_expert_settings *st = &inst->settings;
    memset(out, 0, sizeof(*out));
    const char *env = st->api_key_env != NULL ? getenv(st->api_key_env) : NULL;
    const char *key = env != NULL && env[0] != '\0' ? env : st->api_key;
    if (st->connector == PLMM_EXPERT_CONNECTOR_OPENAI && st->api_key_env != NULL &&
        (env == NULL || env[0] == '\0') && key == NULL)
        return plmm_err(PLMM_ERR_CONFIG,
                        "[%s]: api_key_env names '%s', which is not set in the environment (and "
                        "no api_key)",
                        inst->section, st->api_key_env);
    if (inst->api_key != NULL) {
        sodium_memzero(inst->api_key, strlen(inst->api_key));
        free(inst->api_key);
        inst->api_key = NULL;
    }
    if (key != NULL && (inst->api_key = strdup(key)) == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory configuring [%s]", inst->section);
    out->kind =
        st->connector == PLMM_EXPERT_CONNECTOR_LOCAL ? PLMM_CONNECTOR_LOCAL : PLMM_CONNECTOR_OPENAI;
    out->name = inst->section;
    out->model_path = st->model;
    out->lora_path = st->lora;
    out->lora_scale = (float)st->lora_scale;
    out->endpoint = st->endpoint;
    out->model = st->model_name != NULL ? st->model_name : "";
    out->api_key = inst->api_key;
    out->ca_file = st->ca_file;
    out->connect_timeout_s = st->connect_timeout_s;
    out->timeout_s = st->timeout_s;
    out->read_timeout_s = st->read_timeout_s;
    out->max_retries = st->max_retries;
    out->stream = st->stream;
    out->n_ctx = st->context;
    return PLMM_OK;
}

plmm_status plmm_expert_inst_check(plmm_expert_inst *inst, const char *question, const char *answer,
                                   plmm_check_result *out)
{
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->verdict = PLMM_CHECK_PASS;
    const plmm_expert_vtbl *vt = inst->desc->vtbl;
    if (!plmm_expert_has(vt, check))
        return PLMM_OK;
    inst->slot.errmsg[0] = '\0';
    plmm_status s = vt->check(inst->ctx, question, answer, out);
    out->message[sizeof(out->message) - 1] = '\0';
    if (s != PLMM_OK || out->verdict > PLMM_CHECK_FAIL) {
        const char *detail = inst->slot.errmsg[0] != '\0' ? inst->slot.errmsg
                             : s < 0                      ? plmm_status_str(s)
                                                          : "invalid verdict";
        plmm_status ret = s < 0 ? s : PLMM_ERR_PLUGIN;
        if (s == PLMM_OK)
            (void)plmm_err(ret, "expert '%s': check returned verdict %u", inst->desc->name,
                           (unsigned)out->verdict);
        else
            (void)plmm_err(ret, "expert '%s': check failed: %s", inst->desc->name, detail);
        out->verdict = PLMM_CHECK_FAIL;
        snprintf(out->message, sizeof(out->message), "the answer check could not run");
        return ret;
    }
    return PLMM_OK;
}
