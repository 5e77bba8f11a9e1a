/*
 * The router's privacy layer (docs/privacy.md): every consultation goes
 * through privacy_consult_chat, which applies the destination's share
 * policy to each message (none: bare "<CATEGORY>" tokens, pseudonymized:
 * restorable "<CATEGORY_n>" placeholders, full: as typed — the INI's
 * `share = full` is the explicit opt-in), runs the final outgoing scan and
 * appends the audit entry in the connector's before_send hook, and
 * restores the answer locally, streamed pieces included.
 *
 * Personal data is found by the privacy layer's detectors, and by the
 * user's known values when a vault is given (plmm_router_use_vault, or
 * [privacy] key_file naming the vault's key). The audit log is kept when
 * the configuration has a [privacy] section.
 */
#include "config.h"
#include "engine_impl.h"
#include "errors.h"
#include "privacy_consult.h"
#include "router_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has_section(const plmm_config *cfg, const char *name)
{
    for (uint32_t i = 0; i < plmm_config_section_count(cfg); i++)
        if (strcmp(plmm_config_section_at(cfg, i, NULL, NULL), name) == 0)
            return true;
    return false;
}

static plmm_status open_vault(plmm_router *r)
{
    const char *key_file = NULL, *vault = NULL;
    char def[4096];
    if (plmm_config_get_string(r->engine->cfg, "privacy", "key_file", &key_file) != PLMM_OK) {
        plmm_err_clear();
        return PLMM_OK; /* no key file: the caller may hand a vault over */
    }
    if (plmm_config_get_string(r->engine->cfg, "privacy", "vault", &vault) != PLMM_OK) {
        plmm_err_clear();
        plmm_status st = plmm_data_path("vault.plmm", false, def, sizeof(def));
        if (st != PLMM_OK)
            return st;
        vault = def;
    }
    if (access(vault, F_OK) != 0)
        return PLMM_OK; /* no vault yet: the detectors alone */
    plmm_vault_secret sec = {.struct_size = sizeof(sec), .key_file = key_file};
    plmm_vault *v = NULL;
    plmm_status st = plmm_vault_open(vault, &sec, 0, &v);
    if (st == PLMM_OK)
        st = plmm_privacy_add_vault(r->privacy, v);
    if (st == PLMM_OK)
        st = router_ledger_use_vault(r, v);
    plmm_vault_close(v);
    return st;
}

plmm_status router_privacy_open(plmm_router *r)
{
    plmm_status st = plmm_privacy_create(&r->privacy);
    if (st != PLMM_OK || !has_section(r->engine->cfg, "privacy"))
        return st;
    if ((st = open_vault(r)) != PLMM_OK)
        return plmm_err_prefix(st, "router: the vault: ");
    const char *log = NULL;
    char def[4096];
    if (plmm_config_get_string(r->engine->cfg, "privacy", "audit_log", &log) != PLMM_OK) {
        plmm_err_clear();
        if ((st = plmm_data_path("audit.log", true, def, sizeof(def))) != PLMM_OK)
            return st;
        log = def;
    }
    if ((st = plmm_audit_open(log, &r->audit)) != PLMM_OK)
        return plmm_err_prefix(st, "router: the audit log: ");
    return PLMM_OK;
}

void router_privacy_close(plmm_router *r)
{
    plmm_audit_close(r->audit);
    plmm_privacy_destroy(r->privacy);
    r->audit = NULL;
    r->privacy = NULL;
}

plmm_status plmm_router_use_vault(plmm_router *r, const plmm_vault *vault)
{
    if (r == NULL || vault == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_router_use_vault: NULL argument");
    plmm_status st = plmm_privacy_add_vault(r->privacy, vault);
    if (st == PLMM_OK)
        st = router_ledger_use_vault(r, vault);
    return st;
}

/* A test's fake connector under the same policy: the messages transformed
 * as privacy_consult_chat would, the answer restored. */
static plmm_status hooked(plmm_router *r, router_consultant *c, const plmm_connector_msg *msgs,
                          size_t n, plmm_connector_request *req, plmm_connector_result *res)
{
    plmm_connector_msg sent[2];
    char *texts[2] = {NULL, NULL};
    plmm_status st = PLMM_OK;
    for (size_t i = 0; i < n && i < 2 && st == PLMM_OK; i++) {
        st = plmm_privacy_outgoing(r->privacy, c->share, true, msgs[i].content,
                                   strlen(msgs[i].content), &texts[i], NULL);
        sent[i] = (plmm_connector_msg){msgs[i].role, texts[i]};
    }
    if (st == PLMM_OK) {
        req->msgs = sent;
        req->n_msgs = n;
        req->on_piece = NULL; /* the restored answer is streamed whole afterwards */
        st = r->hook(r->hook_user, c->name, c->conn, req, res);
    }
    char *restored = NULL;
    if (st == PLMM_OK && (st = plmm_privacy_restore(r->privacy, res->text, strlen(res->text),
                                                    &restored)) == PLMM_OK) {
        free(res->text);
        res->text = strdup(restored);
        if (res->text == NULL)
            st = plmm_err(PLMM_ERR_NOMEM, "router: out of memory");
    }
    plmm_free(restored);
    plmm_free(texts[0]);
    plmm_free(texts[1]);
    return st;
}

plmm_status router_privacy_chat(plmm_router *r, router_consultant *c,
                                const plmm_connector_msg *msgs, size_t n,
                                plmm_connector_request *req, plmm_connector_result *res)
{
    if (r->hook != NULL)
        return hooked(r, c, msgs, n, req, res);
    privacy_consult pc = {
        .connector = c->conn,
        .privacy = r->privacy,
        .audit = r->audit,
        .share = c->share,
        .full_opt_in = true,
        .max_tokens = req->max_tokens,
        .temperature = req->temperature,
        .on_piece = req->on_piece,
        .user = req->user,
    };
    privacy_consult_result pr;
    plmm_status st = privacy_consult_chat(&pc, msgs, n, &pr);
    if (st == PLMM_OK) {
        *res = pr.raw;
        memset(&pr.raw, 0, sizeof(pr.raw));
        free(res->text); /* the text as the E-model wrote it: placeholders */
        res->text = pr.answer;
        pr.answer = NULL;
    }
    privacy_consult_result_clear(&pr);
    return st;
}
