/*
 * The ledger as the configuration describes it ([ledger] path, device_key,
 * key_file, budgets, budget_period), for the router, the server and the
 * command-line program alike.
 */
#include "config.h"
#include "engine_impl.h"
#include "errors.h"
#include "ledger_impl.h"
#include "plmm/vault.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *cfg(const plmm_engine *engine, const char *key)
{
    const char *v = NULL;
    if (plmm_engine_config_get(engine, key, &v) != PLMM_OK || v == NULL || v[0] == '\0')
        return NULL;
    return v;
}

/* mkdir -p of the directory part of file (0700: the ledger is private). */
static plmm_status make_parent(const char *file)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", file) >= (int)sizeof(buf))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", file);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return plmm_err(PLMM_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    return PLMM_OK;
}

static char *dup_fmt(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

PLMM_EXPORT plmm_status plmm_ledger_config_paths(const plmm_engine *engine, char **path,
                                                 char **device_key, char **key_file)
{
    *path = *device_key = *key_file = NULL;
    const char *p = cfg(engine, "ledger.path"), *d = cfg(engine, "ledger.device_key"),
               *k = cfg(engine, "ledger.key_file");
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char *lp;
    if (p != NULL)
        lp = strdup(p);
    else if (xdg != NULL && xdg[0] == '/')
        lp = dup_fmt(xdg, "/plmm/ledger/usage.ledger");
    else if (home != NULL && home[0] != '\0')
        lp = dup_fmt(home, "/.local/share/plmm/ledger/usage.ledger");
    else
        return plmm_err(PLMM_ERR_CONFIG, "set [ledger] path (no $HOME or $XDG_DATA_HOME)");
    if (lp == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", lp);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    char *dk = d ? strdup(d) : dup_fmt(dir, "/device.key");
    char *kf = k ? strdup(k) : dup_fmt(dir, "/ledger.key");
    plmm_status st = PLMM_OK;
    if (dk == NULL || kf == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if (st == PLMM_OK)
        st = make_parent(lp);
    if (st == PLMM_OK)
        st = make_parent(dk);
    if (st == PLMM_OK)
        st = make_parent(kf);
    if (st != PLMM_OK) {
        free(lp);
        free(dk);
        free(kf);
        return st;
    }
    *path = lp;
    *device_key = dk;
    *key_file = kf;
    return PLMM_OK;
}

static bool has_section(const plmm_engine *engine, const char *name)
{
    for (uint32_t i = 0; i < plmm_config_section_count(engine->cfg); i++)
        if (strcmp(plmm_config_section_at(engine->cfg, i, NULL, NULL), name) == 0)
            return true;
    return false;
}

/* Whether the vault the configuration names ([privacy] vault, or the
 * default file) exists. */
static bool vault_exists(const plmm_engine *engine)
{
    const char *v = cfg(engine, "privacy.vault");
    char def[PATH_MAX];
    if (v == NULL) {
        if (plmm_data_path("vault.plmm", false, def, sizeof(def)) != PLMM_OK) {
            plmm_err_clear();
            return false;
        }
        v = def;
    }
    return access(v, F_OK) == 0;
}

PLMM_EXPORT plmm_status plmm_ledger_config_key_source(const plmm_engine *engine, uint32_t *source)
{
    const char *ks = cfg(engine, "ledger.key_source");
    if (ks != NULL && strcmp(ks, "vault") == 0)
        *source = PLMM_LEDGER_KEY_VAULT;
    else if (ks != NULL && strcmp(ks, "file") == 0)
        *source = PLMM_LEDGER_KEY_FILE;
    else if (ks != NULL && strcmp(ks, "auto") != 0)
        return plmm_err(PLMM_ERR_CONFIG,
                        "ledger.key_source: expected auto, vault or file, got '%s'", ks);
    else
        *source = cfg(engine, "ledger.key_file") == NULL && has_section(engine, "privacy") &&
                          vault_exists(engine)
                      ? PLMM_LEDGER_KEY_VAULT
                      : PLMM_LEDGER_KEY_FILE;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_ledger_vault_key(const struct plmm_vault *vault, uint8_t *key)
{
    plmm_status st =
        plmm_vault_derive_key(vault, PLMM_VAULT_CONTEXT_LEDGER, 1, key, PLMM_LEDGER_KEY_BYTES);
    if (st != PLMM_OK)
        return plmm_err_prefix(st, "the ledger's key from the vault: ");
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_ledger_config_budgets(plmm_ledger *ledger, const plmm_engine *engine)
{
    const char *b = cfg(engine, "ledger.budgets"), *per = cfg(engine, "ledger.budget_period");
    plmm_ledger_period period = PLMM_LEDGER_PERIOD_MONTH;
    if (per != NULL && strcmp(per, "total") == 0)
        period = PLMM_LEDGER_PERIOD_TOTAL;
    else if (per != NULL && strcmp(per, "day") == 0)
        period = PLMM_LEDGER_PERIOD_DAY;
    if (b == NULL)
        return PLMM_OK;
    char *copy = strdup(b), *save = NULL;
    if (copy == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    plmm_status st = PLMM_OK;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && st == PLMM_OK;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            st =
                plmm_err(PLMM_ERR_CONFIG, "ledger.budgets: expected EXPERT=AMOUNT, got '%s'", item);
            break;
        }
        char *name_end = eq;
        while (name_end > item && name_end[-1] == ' ')
            name_end--;
        *name_end = '\0';
        char *amount = eq + 1;
        while (*amount == ' ')
            amount++;
        size_t n = strlen(amount);
        while (n > 0 && amount[n - 1] == ' ')
            amount[--n] = '\0';
        int64_t limit;
        if (item[0] == '\0' || !ledger_parse_amount(amount, &limit) || limit < 0) {
            st = plmm_err(PLMM_ERR_CONFIG,
                          "ledger.budgets: '%s' needs an amount like 5.00 (up to 6 decimals), "
                          "got '%s'",
                          item[0] ? item : "?", amount);
            break;
        }
        st = plmm_ledger_set_budget(ledger, item, limit, period);
    }
    free(copy);
    return st;
}
