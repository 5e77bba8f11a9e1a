#include "connector.h"

#include "connector_impl.h"
#include "errors.h"

#include <stdlib.h>
#include <string.h>

const char *plmm_connector_kind_name(plmm_connector_kind kind)
{
    switch (kind) {
    case PLMM_CONNECTOR_LOCAL:
        return "local";
    case PLMM_CONNECTOR_OPENAI:
        return "openai";
    }
    return "unknown";
}

char *plmm_connector_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        (void)plmm_err(PLMM_ERR_NOMEM, "out of memory");
    return d;
}

plmm_status plmm_connector_open(plmm_engine *engine, const plmm_connector_config *config,
                                plmm_connector **out)
{
    if (out == NULL || config == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "connector open: NULL config or out");
    *out = NULL;
    const char *name = config->name && config->name[0] ? config->name : "connector";
    if (config->kind != PLMM_CONNECTOR_LOCAL && config->kind != PLMM_CONNECTOR_OPENAI)
        return plmm_err(PLMM_ERR_CONFIG, "%s: unknown connector kind %d", name, (int)config->kind);
    plmm_connector *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    c->kind = config->kind;
    c->name = plmm_connector_strdup(name);
    if (c->name == NULL) {
        free(c);
        return PLMM_ERR_NOMEM;
    }
    plmm_status st = config->kind == PLMM_CONNECTOR_OPENAI
                         ? plmm_connector_openai_open(c, config)
                         : plmm_connector_local_open(c, engine, config);
    if (st != PLMM_OK) {
        free(c->name);
        free(c);
        return plmm_err_prefix(st, "%s (%s connector)", name,
                               plmm_connector_kind_name(config->kind));
    }
    *out = c;
    return PLMM_OK;
}

void plmm_connector_close(plmm_connector *connector)
{
    if (connector == NULL)
        return;
    if (connector->ops != NULL && connector->ops->close != NULL)
        connector->ops->close(connector);
    free(connector->name);
    free(connector);
}

void plmm_connector_result_clear(plmm_connector_result *result)
{
    if (result == NULL)
        return;
    free(result->text);
    free(result->receipt_json);
    memset(result, 0, sizeof(*result));
    result->prompt_tokens = -1;
    result->completion_tokens = -1;
}

plmm_status plmm_connector_chat(plmm_connector *connector, const plmm_connector_request *request,
                                plmm_connector_result *result)
{
    if (connector == NULL || request == NULL || result == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "connector chat: NULL argument");
    memset(result, 0, sizeof(*result));
    result->prompt_tokens = -1;
    result->completion_tokens = -1;
    if (request->n_msgs == 0 || request->msgs == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "%s: chat request without messages", connector->name);
    for (size_t i = 0; i < request->n_msgs; i++) {
        const plmm_connector_msg *m = &request->msgs[i];
        if (m->role == NULL || m->content == NULL)
            return plmm_err(PLMM_ERR_INVALID_ARG, "%s: message %zu has no role or content",
                            connector->name, i);
    }
    plmm_status st = connector->ops->chat(connector, request, result);
    if (st != PLMM_OK) {
        st = plmm_err_prefix(st, "%s", connector->name);
        /* keep the diagnostics (status, attempts); drop partial text */
        free(result->text);
        free(result->receipt_json);
        result->text = NULL;
        result->receipt_json = NULL;
    }
    return st;
}

plmm_status plmm_connector_probe(plmm_connector *connector, char *model_id, size_t size)
{
    if (connector == NULL || model_id == NULL || size == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "connector probe: NULL argument or zero size");
    model_id[0] = '\0';
    plmm_status st = connector->ops->probe(connector, model_id, size);
    if (st != PLMM_OK)
        return plmm_err_prefix(st, "%s", connector->name);
    return PLMM_OK;
}
