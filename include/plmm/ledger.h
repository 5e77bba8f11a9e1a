/*
 * plmm — the economic ledger: every consultation metered, every user
 * contribution credited, per-expert budgets, settlement statements.
 *
 * Entries are append-only and hash-chained (each names the SHA-256 of the
 * previous one), signed by the device key (Ed25519) and stored encrypted
 * one by one (XChaCha20-Poly1305, the entry's position as associated data),
 * so an append costs one write and a kill -9 loses at most the entry being
 * written. A signed head file beside the log records the last entry, so
 * cutting entries off the end is detected too.
 *
 * Amounts are integers in micro-units of the expert's currency (1.50 EUR =
 * 1500000). A positive amount is owed by the user to the counterparty (the
 * expert's developer); a negative one is credited to the user.
 *
 * Receipts: a plmm server that did the work signs a receipt of its usage
 * (plmm_receipt_sign(), or plmm_receipt_server_hook() as the server's
 * receipt callback; the server adds it to its answer as "plmm_receipt").
 * The ledger verifies it and records the signed token counts; usage
 * reported by other servers is recorded unsigned and marked so.
 */
#ifndef PLMM_LEDGER_H
#define PLMM_LEDGER_H

#include "plmm/plmm.h"
#include "plmm/types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of the ledger encryption key. */
#define PLMM_LEDGER_KEY_BYTES 32

typedef struct plmm_ledger plmm_ledger;

typedef struct plmm_ledger_params {
    uint32_t struct_size; /* sizeof(plmm_ledger_params) */
    uint32_t reserved;
    const char *path;            /* the ledger file ([ledger] path); created when absent */
    const char *device_key_path; /* Ed25519 secret key file ([ledger] device_key); created
                                    with PATH.pub when absent */
    const uint8_t *key;          /* PLMM_LEDGER_KEY_BYTES encryption key (the vault key), or NULL */
    const char *key_path;        /* when key is NULL: a key file ([ledger] key_file), created
                                    (0600) when absent */
    int64_t now;                 /* Unix time stamped on entries; 0 = the clock */
} plmm_ledger_params;

/* Rates an expert publishes (micro-units). */
typedef struct plmm_ledger_rates {
    uint32_t struct_size; /* sizeof(plmm_ledger_rates) */
    uint32_t reserved;
    const char *counterparty; /* who is paid and who credits, e.g. "finance-dev" */
    const char *currency;     /* e.g. "EUR" */
    int64_t in_per_1k;        /* per 1000 prompt tokens */
    int64_t out_per_1k;       /* per 1000 completion tokens */
    int64_t rating;           /* credited per rating */
    int64_t correction;       /* credited per correction */
    int64_t example;          /* credited per consented example */
} plmm_ledger_rates;

/* Budget periods. */
typedef enum plmm_ledger_period {
    PLMM_LEDGER_PERIOD_TOTAL = 0,
    PLMM_LEDGER_PERIOD_DAY = 1,  /* UTC calendar day */
    PLMM_LEDGER_PERIOD_MONTH = 2 /* UTC calendar month */
} plmm_ledger_period;

/* One metered consultation. */
typedef struct plmm_ledger_usage {
    uint32_t struct_size; /* sizeof(plmm_ledger_usage) */
    uint32_t reserved;
    const char *expert;    /* expert whose rates apply */
    const char *connector; /* "openai", "local", ... */
    const char *model;     /* model that answered, or NULL */
    int64_t tokens_in;     /* as counted or reported (ignored when a receipt is given) */
    int64_t tokens_out;
    const char *receipt_json;     /* signed receipt of a plmm server, or NULL */
    const char *receipt_key_path; /* public key that must have signed it (NULL: the key
                                     named in the receipt, recorded) */
} plmm_ledger_usage;

/* Open (or create) a ledger. The whole log is decrypted and verified; a
 * torn last record (crash during append) is cut off; any other damage
 * fails with PLMM_ERR_AUTH naming the first bad entry. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_open(const plmm_ledger_params *params,
                                                        plmm_ledger **out) PLMM_NONNULL(1, 2);
/* NULL is ignored. */
PLMM_EXPORT void plmm_ledger_close(plmm_ledger *ledger);

/* The ledger files the engine's configuration names ([ledger] path,
 * device_key, key_file; unset: usage.ledger, device.key and ledger.key in
 * $XDG_DATA_HOME/plmm/ledger), their directories created (0700). Each out:
 * owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_config_paths(const plmm_engine *engine,
                                                                char **path, char **device_key,
                                                                char **key_file)
    PLMM_NONNULL(1, 2, 3, 4);

/* Where the ledger's encryption key comes from. */
typedef enum plmm_ledger_key_source {
    PLMM_LEDGER_KEY_FILE = 0,  /* a key file ([ledger] key_file or ledger.key) */
    PLMM_LEDGER_KEY_VAULT = 1, /* derived from the vault (plmm_ledger_vault_key) */
} plmm_ledger_key_source;

/* The key source the configuration asks for ([ledger] key_source: vault,
 * file, or auto = vault when the configuration has a [privacy] section,
 * the vault it names exists and [ledger] key_file is unset; else file). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_config_key_source(const plmm_engine *engine,
                                                                     uint32_t *source)
    PLMM_NONNULL(1, 2);

struct plmm_vault;
/* The ledger's encryption key derived from the vault's master secret
 * (plmm_vault_derive_key with PLMM_VAULT_CONTEXT_LEDGER): the same across
 * passphrase changes of the vault. key: PLMM_LEDGER_KEY_BYTES. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_vault_key(const struct plmm_vault *vault,
                                                             uint8_t *key) PLMM_NONNULL(1, 2);

/* Apply [ledger] budgets ("finance=5.00,it=1.50") and budget_period. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_config_budgets(plmm_ledger *ledger,
                                                                  const plmm_engine *engine)
    PLMM_NONNULL(1, 2);

/* Verify a ledger file without changing it, stored receipts included
 * (signature, and the tokens charged); *entries (may be NULL) gets the
 * number of valid entries. On damage: PLMM_ERR_AUTH (or FORMAT) with
 * "entry N: ..." naming the first bad entry. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_verify(const plmm_ledger_params *params,
                                                          uint64_t *entries) PLMM_NONNULL(1);

/* Set an expert's rates (copied). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_set_rates(plmm_ledger *ledger,
                                                             const char *expert,
                                                             const plmm_ledger_rates *rates)
    PLMM_NONNULL(1, 2, 3);
/* Read an expert's rates from the [pricing] section of its INI file (keys
 * counterparty, currency, in_per_1k, out_per_1k, rating, correction,
 * example; amounts as decimals, "0.002"). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_load_rates(plmm_ledger *ledger,
                                                              const char *expert,
                                                              const char *ini_path)
    PLMM_NONNULL(1, 2, 3);

/* Limit what an expert may cost per period (limit < 0: no limit). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_set_budget(plmm_ledger *ledger,
                                                              const char *expert, int64_t limit,
                                                              plmm_ledger_period period)
    PLMM_NONNULL(1, 2);
/* Before a consultation: PLMM_OK when spent + estimate stays within the
 * budget, else PLMM_ERR_DENIED ("budget of expert 'x' spent: ..."), so the
 * router falls back. *remaining (may be NULL): what is left (INT64_MAX
 * without a budget). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_budget_check(plmm_ledger *ledger,
                                                                const char *expert,
                                                                int64_t estimate,
                                                                int64_t *remaining)
    PLMM_NONNULL(1, 2);

/* What tokens_in/tokens_out would cost at the expert's rates (an estimate
 * to pass to plmm_ledger_budget_check()). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_price(plmm_ledger *ledger, const char *expert,
                                                         int64_t tokens_in, int64_t tokens_out,
                                                         int64_t *amount) PLMM_NONNULL(1, 2, 5);

/* After a consultation: price it at the expert's rates and append an
 * entry. A receipt is verified first (PLMM_ERR_AUTH when forged, replayed
 * or signed by another key than receipt_key_path: nothing is recorded).
 * *cost (may be NULL) receives the amount charged. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_record_usage(plmm_ledger *ledger,
                                                                const plmm_ledger_usage *usage,
                                                                int64_t *cost) PLMM_NONNULL(1, 2);

/* Credit a user contribution: kind "rating", "correction" or "example";
 * ref (may be NULL) identifies it (an answer id, a hash). *credit (may be
 * NULL) receives the amount credited. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_record_contribution(
    plmm_ledger *ledger, const char *expert, const char *kind, const char *ref, int64_t *credit)
    PLMM_NONNULL(1, 2, 3);

/* Number of entries. */
PLMM_EXPORT uint64_t plmm_ledger_count(const plmm_ledger *ledger) PLMM_NONNULL(1);

/* Human-readable table of the entries (owned, free with plmm_free). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_show(const plmm_ledger *ledger, char **out)
    PLMM_NONNULL(1, 2);
/* CSV (RFC 4180) of the entries with a header line (owned). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_export_csv(const plmm_ledger *ledger, char **out)
    PLMM_NONNULL(1, 2);

/*
 * Settle with a counterparty over [from, to) (Unix seconds): totals owed
 * and credited and the net balance, written to out_path as a statement
 * signed by the device key (verify with plmm_ledger_statement_verify() or
 * plmm_sign_verify() and the device's public key). A settlement entry
 * naming the statement's hash is appended. report (may be NULL): owned
 * summary text.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_settle(plmm_ledger *ledger,
                                                          const char *counterparty, int64_t from,
                                                          int64_t to, const char *out_path,
                                                          char **report) PLMM_NONNULL(1, 2, 5);

/* Verify a statement with the signer's public key file; report (may be
 * NULL): owned summary (counterparty, period, totals). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_ledger_statement_verify(const char *path,
                                                                    const char *public_key_path,
                                                                    char **report)
    PLMM_NONNULL(1, 2);

/* ---- receipts (the side that did the work) ---- */

typedef struct plmm_receipt_signer plmm_receipt_signer;

/* A signer with a secret key file; server names the signing party. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_receipt_signer_open(const char *secret_key_path,
                                                                const char *server,
                                                                plmm_receipt_signer **out)
    PLMM_NONNULL(1, 2, 3);
/* NULL is ignored. */
PLMM_EXPORT void plmm_receipt_signer_close(plmm_receipt_signer *signer);

/* A signed receipt as a JSON object (owned, free with plmm_free). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_receipt_sign(plmm_receipt_signer *signer,
                                                         const char *request_id, const char *model,
                                                         int64_t prompt_tokens,
                                                         int64_t completion_tokens, char **json)
    PLMM_NONNULL(1, 6);

/* The HTTP server's receipt hook (plmm_server_params.receipt, with
 * receipt_user = a plmm_receipt_signer): a signed receipt as malloc'd JSON
 * text, or NULL when signing fails. */
PLMM_EXPORT char *plmm_receipt_server_hook(void *user, const char *request_id, const char *model,
                                           uint64_t prompt_tokens, uint64_t completion_tokens);

/* Verify a receipt (public_key_path NULL: the key it names) and read its
 * token counts (may be NULL). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_receipt_verify(const char *json,
                                                           const char *public_key_path,
                                                           int64_t *prompt_tokens,
                                                           int64_t *completion_tokens)
    PLMM_NONNULL(1);

#ifdef __cplusplus
}
#endif

#endif
