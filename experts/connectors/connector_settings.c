/* Connector settings from a configuration section with its own schema table
 * ([tmodel]); [expert.NAME] sections are read by the expert host with the
 * same key names and mapped onto plmm_connector_config the same way. */
#include "config.h"
#include "connector.h"
#include "connector_impl.h"
#include "engine_impl.h"
#include "errors.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_NAME, S_MODEL, S_LORA, S_ENDPOINT, S_MODEL_NAME, S_KEY, S_CA, S_COUNT };

typedef struct reader {
    const plmm_config *cfg;
    const char *section;
    plmm_connector_settings *out;
} reader;

/* Value as configured or its schema default; NULL when neither. */
static const char *get(const reader *r, const char *key)
{
    const char *v = NULL;
    if (plmm_config_get_string(r->cfg, r->section, key, &v) != PLMM_OK)
        return NULL;
    return v;
}

static plmm_status keep(reader *r, int slot, const char *v, const char **dst)
{
    if (v == NULL || v[0] == '\0') {
        *dst = NULL;
        return PLMM_OK;
    }
    r->out->owned[slot] = plmm_connector_strdup(v);
    if (r->out->owned[slot] == NULL)
        return PLMM_ERR_NOMEM;
    *dst = r->out->owned[slot];
    return PLMM_OK;
}

static double num(const reader *r, const char *key, double dflt)
{
    double v;
    return plmm_config_get_float(r->cfg, r->section, key, &v) == PLMM_OK ? v : dflt;
}

static bool flag(const reader *r, const char *key, bool dflt)
{
    bool v;
    return plmm_config_get_bool(r->cfg, r->section, key, &v) == PLMM_OK ? v : dflt;
}

plmm_status plmm_connector_settings_read(const plmm_engine *engine, const char *section,
                                         plmm_connector_settings *out)
{
    if (engine == NULL || section == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_connector_settings_read: NULL argument");
    memset(out, 0, sizeof(*out));
    const plmm_config_section_def *def = plmm_config_section_lookup(section);
    if (def == NULL || def->keys == NULL)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "[%s] has no connector keys of its own", section);
    reader r = {.cfg = engine->cfg, .section = section, .out = out};
    bool present = false;
    for (uint32_t i = 0; i < plmm_config_section_count(engine->cfg); i++)
        present |= strcmp(plmm_config_section_at(engine->cfg, i, NULL, NULL), section) == 0;
    if (!present)
        return plmm_err(PLMM_ERR_NOT_FOUND, "no [%s] section in the configuration", section);

    plmm_connector_config *c = &out->config;
    const char *kind = get(&r, "connector");
    if (kind == NULL)
        return plmm_err(PLMM_ERR_CONFIG, "[%s]: missing key 'connector' (local or openai)",
                        section);
    c->kind = strcmp(kind, "local") == 0 ? PLMM_CONNECTOR_LOCAL : PLMM_CONNECTOR_OPENAI;
    plmm_status st = keep(&r, S_NAME, section, &c->name);
    if (st == PLMM_OK)
        st = keep(&r, S_MODEL, get(&r, "model"), &c->model_path);
    if (st == PLMM_OK)
        st = keep(&r, S_LORA, get(&r, "lora"), &c->lora_path);
    if (st == PLMM_OK)
        st = keep(&r, S_ENDPOINT, get(&r, "endpoint"), &c->endpoint);
    if (st == PLMM_OK)
        st = keep(&r, S_MODEL_NAME, get(&r, "model_name"), &c->model);
    if (st == PLMM_OK)
        st = keep(&r, S_CA, get(&r, "ca_file"), &c->ca_file);
    if (st != PLMM_OK)
        return st;
    /* the key: the environment variable named, else the INI value */
    const char *env = get(&r, "api_key_env");
    const char *key = env != NULL && env[0] ? getenv(env) : NULL;
    if (key == NULL || key[0] == '\0')
        key = get(&r, "api_key");
    if ((st = keep(&r, S_KEY, key, &c->api_key)) != PLMM_OK)
        return st;

    c->lora_scale = (float)num(&r, "lora_scale", 1.0);
    c->n_ctx = (int32_t)num(&r, "context", 0);
    c->timeout_s = num(&r, "timeout", 60);
    c->connect_timeout_s = num(&r, "connect_timeout", 10);
    c->read_timeout_s = num(&r, "read_timeout", 0);
    c->max_retries = (int)num(&r, "max_retries", 2);
    c->stream = flag(&r, "stream", true);
    out->enabled = flag(&r, "enabled", true);
    out->max_tokens = (int32_t)num(&r, "max_tokens", 512);
    out->price_per_1k_tokens = num(&r, "price_per_1k_tokens", 0);
    out->budget = num(&r, "budget", -1);
    const char *share = get(&r, "share");
    snprintf(out->share, sizeof(out->share), "%s", share ? share : "pseudonymized");

    if (c->kind == PLMM_CONNECTOR_LOCAL && c->model_path == NULL && c->lora_path == NULL)
        return plmm_err(PLMM_ERR_CONFIG,
                        "[%s]: connector 'local' needs 'model' (a GGUF file) "
                        "or 'lora' (an adapter)",
                        section);
    if (c->kind == PLMM_CONNECTOR_OPENAI) {
        if ((st = plmm_connector_openai_check_endpoint(c->endpoint)) != PLMM_OK)
            return plmm_err_prefix(PLMM_ERR_CONFIG, "[%s] endpoint", section);
        if (env != NULL && env[0] && c->api_key == NULL)
            return plmm_err(PLMM_ERR_CONFIG,
                            "[%s]: api_key_env names '%s', which is not set "
                            "in the environment (and no api_key)",
                            section, env);
    }
    return PLMM_OK;
}

void plmm_connector_settings_free(plmm_connector_settings *settings)
{
    if (settings == NULL)
        return;
    for (size_t i = 0; i < sizeof(settings->owned) / sizeof(settings->owned[0]); i++) {
        if (settings->owned[i] != NULL) {
            /* the api key among them: wipe before freeing */
            sodium_memzero(settings->owned[i], strlen(settings->owned[i]));
            free(settings->owned[i]);
        }
    }
    memset(settings, 0, sizeof(*settings));
}
