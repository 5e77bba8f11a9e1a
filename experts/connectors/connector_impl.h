/* Internals shared by the connector kinds: the per-kind operations table
 * and the common handle. */
#ifndef PLMM_CONNECTOR_IMPL_H
#define PLMM_CONNECTOR_IMPL_H

#include "connector.h"

typedef struct plmm_connector_ops {
    plmm_status (*chat)(plmm_connector *c, const plmm_connector_request *req,
                        plmm_connector_result *res);
    plmm_status (*probe)(plmm_connector *c, char *model_id, size_t size);
    void (*close)(plmm_connector *c);
} plmm_connector_ops;

struct plmm_connector {
    const plmm_connector_ops *ops;
    plmm_connector_kind kind;
    char *name;  /* "expert.finance", "tmodel" */
    void *impl;  /* kind-specific state */
};

PLMM_NODISCARD plmm_status plmm_connector_openai_open(plmm_connector *c,
                                                      const plmm_connector_config *cfg);
PLMM_NODISCARD plmm_status plmm_connector_local_open(plmm_connector *c, plmm_engine *engine,
                                                     const plmm_connector_config *cfg);

/* PLMM_ERR_CONFIG unless endpoint is an http(s) URL without blanks. */
PLMM_NODISCARD plmm_status plmm_connector_openai_check_endpoint(const char *endpoint);

/* strdup that records an error on failure (NULL in: NULL out, no error). */
char *plmm_connector_strdup(const char *s);

#endif
