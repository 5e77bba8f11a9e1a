/*
 * The router's use of the economic ledger (docs/ledger.md), when the
 * configuration has a [ledger] section: every consultation's budget is
 * checked before the question goes out ([ledger] budgets, per period) and
 * its usage is recorded afterwards, with the server's signed receipt when
 * it sent one. An expert's rates are its price_per_1k_tokens (prompt and
 * completion tokens alike), in micro-units.
 */
#include "config.h"
#include "engine_impl.h"
#include "errors.h"
#include "plmm/ledger.h"
#include "plmm/vault.h"
#include "router_state.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static bool has_section(const plmm_config *cfg, const char *name)
{
    for (uint32_t i = 0; i < plmm_config_section_count(cfg); i++)
        if (strcmp(plmm_config_section_at(cfg, i, NULL, NULL), name) == 0)
            return true;
    return false;
}

static plmm_status set_rates(plmm_router *r, const router_consultant *c)
{
    int64_t per_1k = (int64_t)llround(c->price_per_1k * 1e6);
    plmm_ledger_rates rates = {
        .struct_size = sizeof(rates),
        .counterparty = c->name,
        .currency = "units",
        .in_per_1k = per_1k,
        .out_per_1k = per_1k,
    };
    return plmm_ledger_set_rates(r->ledger, c->name, &rates);
}

/* key: the vault-derived key, or NULL for the key file. */
static plmm_status open_with(plmm_router *r, const uint8_t *key)
{
    char *path = NULL, *device_key = NULL, *key_file = NULL;
    plmm_status st = plmm_ledger_config_paths(r->engine, &path, &device_key, &key_file);
    if (st == PLMM_OK) {
        plmm_ledger_params lp = {.struct_size = sizeof(lp),
                                 .path = path,
                                 .device_key_path = device_key,
                                 .key = key,
                                 .key_path = key == NULL ? key_file : NULL};
        st = plmm_ledger_open(&lp, &r->ledger);
    }
    plmm_free(path);
    plmm_free(device_key);
    plmm_free(key_file);
    for (uint32_t i = 0; st == PLMM_OK && i < r->n_experts; i++)
        if (r->experts[i].enabled && !r->experts[i].failed)
            st = set_rates(r, &r->experts[i]);
    if (st == PLMM_OK && r->has_tmodel)
        st = set_rates(r, &r->tmodel);
    if (st == PLMM_OK)
        st = plmm_ledger_config_budgets(r->ledger, r->engine);
    if (st != PLMM_OK) {
        plmm_ledger_close(r->ledger);
        r->ledger = NULL;
        return plmm_err_prefix(st, "router: the ledger: ");
    }
    return PLMM_OK;
}

plmm_status router_ledger_open(plmm_router *r)
{
    if (!has_section(r->engine->cfg, "ledger"))
        return PLMM_OK;
    uint32_t source = PLMM_LEDGER_KEY_FILE;
    plmm_status st = plmm_ledger_config_key_source(r->engine, &source);
    if (st != PLMM_OK)
        return plmm_err_prefix(st, "router: the ledger: ");
    if (source == PLMM_LEDGER_KEY_VAULT) {
        r->ledger_wants_vault = true; /* opened when the vault is (router_ledger_use_vault) */
        return PLMM_OK;
    }
    return open_with(r, NULL);
}

plmm_status router_ledger_use_vault(plmm_router *r, const struct plmm_vault *vault)
{
    if (!r->ledger_wants_vault || r->ledger != NULL)
        return PLMM_OK;
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    plmm_status st = plmm_ledger_vault_key(vault, key);
    if (st == PLMM_OK)
        st = open_with(r, key);
    else
        st = plmm_err_prefix(st, "router: the ledger: ");
    sodium_memzero(key, sizeof(key));
    return st;
}

void router_ledger_close(plmm_router *r)
{
    plmm_ledger_close(r->ledger);
    r->ledger = NULL;
}

bool router_ledger_allows(const plmm_router *r, const router_consultant *c, const char *question,
                          char *why, size_t size)
{
    if (r->ledger == NULL && r->ledger_wants_vault) {
        snprintf(why, size,
                 "the ledger is encrypted with the vault's key and the vault is not open "
                 "(set [privacy] key_file, or PLMM_VAULT_PASSPHRASE for plmm ask/chat)");
        return false;
    }
    if (r->ledger == NULL)
        return true;
    /* estimate: about 4 bytes a token for the question and system prompt,
     * and the whole answer allowance */
    size_t bytes = strlen(question);
    if (c->inst != NULL)
        bytes += strlen(plmm_expert_inst_desc(c->inst)->system_prompt);
    int64_t estimate = 0;
    plmm_status st = plmm_ledger_price(r->ledger, c->name, (int64_t)(bytes / 4 + 1),
                                       c->max_tokens > 0 ? c->max_tokens : 0, &estimate);
    if (st == PLMM_OK)
        st = plmm_ledger_budget_check(r->ledger, c->name, estimate, NULL);
    if (st == PLMM_OK)
        return true;
    snprintf(why, size, "%s", plmm_last_errmsg());
    return false;
}

plmm_status router_ledger_record(plmm_router *r, const router_consultant *c,
                                 const plmm_connector_result *res, double *cost)
{
    if (r->ledger == NULL)
        return PLMM_OK;
    plmm_ledger_usage u = {
        .struct_size = sizeof(u),
        .expert = c->name,
        .connector = plmm_connector_kind_name(c->cc.kind),
        .model = c->cc.model != NULL && c->cc.model[0] != '\0' ? c->cc.model : NULL,
        .tokens_in = res->prompt_tokens > 0 ? res->prompt_tokens : 0,
        .tokens_out = res->completion_tokens > 0 ? res->completion_tokens : 0,
        .receipt_json = res->receipt_json,
    };
    int64_t amount = 0;
    plmm_status st = plmm_ledger_record_usage(r->ledger, &u, &amount);
    if (st == PLMM_OK)
        *cost = (double)amount / 1e6;
    return st;
}

PLMM_EXPORT bool plmm_router_wants_vault(const plmm_router *r)
{
    return r != NULL && r->ledger_wants_vault && r->ledger == NULL;
}
