/*
 * Helpers the privacy commands share (plmm vault, plmm audit, the
 * personalisation of plmm chat): where the vault and the audit log live,
 * and how the vault's secret is obtained without ever taking it from the
 * command line.
 */
#ifndef PLMM_TOOLS_PRIVACY_CLI_H
#define PLMM_TOOLS_PRIVACY_CLI_H

#include "cli.h"
#include "plmm/vault.h"

#include <stdbool.h>
#include <stddef.h>

/* Where the secret comes from, in this order: key_file (--key-file or
 * [privacy] key_file), passphrase_file (--passphrase-file, first line),
 * the environment variable env_name, the terminal (no echo). */
typedef struct cli_secret {
    const char *key_file;
    const char *passphrase_file;
    const char *env_name; /* "PLMM_VAULT_PASSPHRASE" */
    const char *prompt;   /* "vault passphrase: " */
    bool confirm;         /* ask twice on a terminal (new passphrases) */
    uint32_t kdf;         /* plmm_vault_kdf for a new store or key */
    char *passphrase;     /* owned, locked, wiped by cli_secret_clear() */
    size_t passphrase_len;
    plmm_vault_secret secret; /* points into the above after cli_secret_get() */
} cli_secret;

/* Fill s->secret. Returns an exit code (errors printed). */
int cli_secret_get(cli_secret *s);
/* Wipe and free the passphrase. */
void cli_secret_clear(cli_secret *s);

/* Keep secrets out of core dumps (RLIMIT_CORE 0, not dumpable). */
void cli_no_core_dumps(void);

/* Resolve a path option: the explicit value, else the configuration key
 * ("privacy.vault") when an engine is open, else the default file name in
 * ${XDG_DATA_HOME:-~/.local/share}/plmm (created 0700 when create_dir).
 * out receives the path. Returns an exit code. */
int cli_privacy_path(cli_ctx *x, const char *given, const char *key, const char *default_name,
                     bool create_dir, char *out, size_t size);

/* A configuration value when an engine is open, else NULL. */
const char *cli_config_value(cli_ctx *x, const char *key);

/* Open the vault for personalisation or pseudonymization with the
 * configured path and secret. Returns an exit code. */
int cli_open_vault(cli_ctx *x, const char *vault_opt, cli_secret *sec, uint32_t flags,
                   plmm_vault **out);

/* The ledger's encryption key when the configuration keys it by the vault
 * ([ledger] key_source): the vault is opened read-only (secret as for
 * cli_open_vault), the key derived into key (PLMM_LEDGER_KEY_BYTES) and
 * *from_vault set; else *from_vault is false. Returns an exit code. */
int cli_ledger_key(cli_ctx *x, uint8_t *key, bool *from_vault);

#endif
