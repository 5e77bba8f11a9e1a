/*
 * Distillation: a knowledge pack answered by the T-model (any connector
 * section of the configuration, usually [tmodel]).
 */
#include "connector.h"
#include "errors.h"
#include "update_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct distill_ctx {
    plmm_connector *conn;
    int32_t max_tokens;
    const char *expert;
    char system[256];
} distill_ctx;

static plmm_status ask(void *user, const char *question, char **answer)
{
    distill_ctx *d = user;
    plmm_connector_msg msgs[2] = {{"system", d->system}, {"user", question}};
    plmm_connector_request req;
    plmm_connector_result res;
    memset(&req, 0, sizeof(req));
    memset(&res, 0, sizeof(res));
    req.msgs = msgs;
    req.n_msgs = 2;
    req.max_tokens = d->max_tokens;
    req.temperature = 0.0f; /* the pack should not depend on luck */
    plmm_status st = plmm_connector_chat(d->conn, &req, &res);
    if (st != PLMM_OK)
        return st;
    *answer = res.text;
    res.text = NULL;
    plmm_connector_result_clear(&res);
    if (*answer == NULL || (*answer)[0] == '\0') {
        free(*answer);
        *answer = NULL;
        return plmm_err(PLMM_ERR_NETWORK, "the T-model gave an empty answer");
    }
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_pack_distill(plmm_engine *engine, const char *section,
                                          const char *bundle_dir, const char *expert,
                                          uint64_t version, int64_t expires,
                                          const char *questions_path,
                                          const char *const *secret_key_paths, uint32_t n_keys)
{
    plmm_connector_settings set;
    distill_ctx d;
    memset(&d, 0, sizeof(d));
    if (n_keys == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "a knowledge pack must be signed: give a key");
    plmm_status st = plmm_connector_settings_read(engine, section, &set);
    if (st != PLMM_OK) {
        plmm_connector_settings_free(&set);
        return plmm_err_prefix(st, "distill: [%s]", section);
    }
    if (!set.enabled) {
        plmm_connector_settings_free(&set);
        return plmm_err(PLMM_ERR_DENIED, "distill: [%s] is disabled (enabled = false)", section);
    }
    if ((st = plmm_connector_open(engine, &set.config, &d.conn)) != PLMM_OK)
        goto out;
    d.max_tokens = set.max_tokens;
    d.expert = expert;
    snprintf(d.system, sizeof(d.system),
             "You write reference answers for the '%s' expert of an on-device assistant. "
             "Answer accurately and concisely.",
             expert);
    st = plmm_pack_build(bundle_dir, expert, version, expires, questions_path, ask, &d,
                         secret_key_paths, n_keys);
    plmm_connector_close(d.conn);
out:
    plmm_connector_settings_free(&set);
    return st;
}
