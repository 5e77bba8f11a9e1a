/*
 * plmm — the encrypted personal store ("vault").
 *
 * The vault holds what the personal model knows about its user: profile
 * facts ("name" = "Anna Berger"), memories and conversation history. It is
 * one file, encrypted with libsodium:
 *
 *   header (plain, checksummed): magic, format version, how the key is
 *     derived (Argon2id with its limits and a per-store salt, or a key
 *     file), and a random data key wrapped (XSalsa20-Poly1305) with the
 *     key-encryption key;
 *   body: the items, serialized and cut into 64 KiB chunks of
 *     crypto_secretstream_xchacha20poly1305; the last chunk carries
 *     TAG_FINAL, so a truncated file is an error, never a shorter store.
 *
 * Every change is written to a temporary file in the same directory,
 * fsync'd, renamed over the store and the directory fsync'd: after a crash
 * the store holds the previous or the new state, never a mix. A store that
 * fails to decrypt is never overwritten. A writable vault holds an
 * exclusive lock (flock on "PATH.lock") until it is closed.
 *
 * Keys and plaintext buffers live in guarded, locked pages (sodium_malloc)
 * and are wiped when freed; item strings are wiped on close.
 * Forgetting an item rewrites the store without it under a fresh data key;
 * see docs/privacy.md for what that does and does not erase.
 *
 * Errors: every fallible call returns plmm_status; the detail is read with
 * plmm_last_errmsg(). A wrong passphrase or key file is PLMM_ERR_AUTH, a
 * damaged or truncated file PLMM_ERR_FORMAT; neither changes the file.
 * Messages never contain item values or key material.
 */
#ifndef PLMM_VAULT_H
#define PLMM_VAULT_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_vault plmm_vault;

/* What kind of personal data an item or a detected span is. The values
 * also index plmm_pii_counts (privacy.h). */
typedef enum plmm_pii {
    PLMM_PII_NONE = 0,    /* not an identifier (a preference, a memory) */
    PLMM_PII_PERSON = 1,  /* a person's name */
    PLMM_PII_PLACE = 2,   /* a city, region, country the user is tied to */
    PLMM_PII_ORG = 3,     /* employer, school, bank, ... */
    PLMM_PII_ADDRESS = 4, /* street address */
    PLMM_PII_EMAIL = 5,
    PLMM_PII_PHONE = 6,
    PLMM_PII_IBAN = 7,
    PLMM_PII_CARD = 8,    /* payment card number */
    PLMM_PII_IP = 9,      /* IPv4 or IPv6 address */
    PLMM_PII_DOB = 10,    /* date of birth */
    PLMM_PII_ID = 11,     /* national identifier (US SSN, UK NINO, ES DNI, FR NIR) */
    PLMM_PII_SECRET = 12, /* API key, bearer token, private key, password */
    PLMM_PII_OTHER = 13,  /* any other value the user marked personal */
    PLMM_PII_COUNT = 14   /* bound, not a category */
} plmm_pii;

/* Upper-case name used in placeholders ("EMAIL"), or NULL. */
PLMM_EXPORT const char *plmm_pii_name(uint32_t category);
/* Parse a category name, case-insensitive ("email", "PERSON"). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_pii_parse(const char *name, uint32_t *out);

typedef enum plmm_vault_kind {
    PLMM_VAULT_FACT = 1,    /* profile fact: unique key -> value */
    PLMM_VAULT_MEMORY = 2,  /* something the user asked to remember */
    PLMM_VAULT_HISTORY = 3, /* a past conversation turn */
} plmm_vault_kind;

/* "fact", "memory", "history", or NULL. */
PLMM_EXPORT const char *plmm_vault_kind_name(uint32_t kind);
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_kind_parse(const char *name, uint32_t *out);

/* How the key-encryption key is derived from a passphrase (Argon2id). */
typedef enum plmm_vault_kdf {
    PLMM_VAULT_KDF_MODERATE = 0,    /* default: 3 passes, 256 MiB */
    PLMM_VAULT_KDF_INTERACTIVE = 1, /* 2 passes, 64 MiB */
    PLMM_VAULT_KDF_SENSITIVE = 2,   /* 4 passes, 1 GiB */
    PLMM_VAULT_KDF_TEST = 3,        /* 1 pass, 8 KiB: only for tests, never for real data */
} plmm_vault_kdf;

/* Where the key comes from. Exactly one of passphrase and key_file. */
typedef struct plmm_vault_secret {
    uint32_t struct_size;   /* sizeof(plmm_vault_secret) */
    uint32_t kdf;           /* plmm_vault_kdf, used when a passphrase creates or re-keys a store */
    const char *passphrase; /* borrowed; passphrase_len bytes, need not be NUL-terminated */
    size_t passphrase_len;
    const char *key_file; /* borrowed path of a 32-byte key (raw, or 64 hex digits) */
} plmm_vault_secret;

/* One item. Strings are borrowed from the vault and valid until the next
 * call that changes it or plmm_vault_close. */
typedef struct plmm_vault_item {
    uint32_t struct_size; /* set by the caller */
    uint32_t kind;        /* plmm_vault_kind */
    uint32_t category;    /* plmm_pii */
    uint32_t reserved;
    int64_t updated;   /* Unix time of the last change */
    const char *key;   /* unique within the vault */
    const char *value; /* UTF-8 */
} plmm_vault_item;

#define PLMM_VAULT_WRITE 0x1u /* open for changes (takes the lock) */

/* Create a new, empty store at path (an existing file is an error, never
 * replaced). The returned vault is writable. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_create(const char *path,
                                                         const plmm_vault_secret *secret,
                                                         plmm_vault **out);
/* Open an existing store; flags PLMM_VAULT_WRITE or 0. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_open(const char *path,
                                                       const plmm_vault_secret *secret,
                                                       uint32_t flags, plmm_vault **out);
/* Wipe keys and plaintext, release the lock. NULL is ignored. */
PLMM_EXPORT void plmm_vault_close(plmm_vault *vault);

PLMM_EXPORT size_t plmm_vault_count(const plmm_vault *vault);
/* Item i (0 <= i < count), in key order. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_item_at(const plmm_vault *vault, size_t i,
                                                          plmm_vault_item *out);
/* PLMM_ERR_NOT_FOUND when no item has this key. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_get(const plmm_vault *vault, const char *key,
                                                      plmm_vault_item *out);

/* Add or replace an item and write the store. key: 1..128 printable ASCII
 * characters without spaces; value: valid UTF-8, at most 1 MiB. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_set(plmm_vault *vault, uint32_t kind,
                                                      uint32_t category, const char *key,
                                                      const char *value);
/* Add an item under a new key "<kind>.<n>" (memories, history turns) and
 * write the store. key_out (may be NULL) receives the key. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_add(plmm_vault *vault, uint32_t kind,
                                                      uint32_t category, const char *value,
                                                      char *key_out, size_t key_size);
/* Remove an item for good: the store is rewritten without it under a new
 * data key and its plaintext wiped from memory. PLMM_ERR_NOT_FOUND when
 * absent. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_forget(plmm_vault *vault, const char *key);
/* Re-encrypt the whole store under a new secret (new salt, new data key),
 * atomically: afterwards only the new secret opens it. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_rekey(plmm_vault *vault,
                                                        const plmm_vault_secret *secret);
/* ---- keys for other stores ---- */

/* Bytes of a key from plmm_vault_derive_key(). */
#define PLMM_VAULT_SUBKEY_BYTES 32
/* Context of the economic ledger's encryption key (ledger.h). */
#define PLMM_VAULT_CONTEXT_LEDGER "plmmledg"

/* Derive a PLMM_VAULT_SUBKEY_BYTES key for one purpose (libsodium
 * crypto_kdf_derive_from_key) from the vault's master secret: a random
 * secret drawn when the store is created, kept inside the encrypted store
 * and preserved by every write and by plmm_vault_rekey, so the key stays
 * the same across passphrase changes and differs per context and id.
 * context: exactly 8 printable ASCII characters, e.g.
 * PLMM_VAULT_CONTEXT_LEDGER. A store written by an older plmm (format 1)
 * gains its master secret the first time it is opened with
 * PLMM_VAULT_WRITE; until then this fails with PLMM_ERR_UNSUPPORTED. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_derive_key(const plmm_vault *vault,
                                                             const char *context,
                                                             uint64_t subkey_id, uint8_t *key,
                                                             size_t key_size);

/* The items as JSON ({"items":[{"key","kind","category","updated","value"}]}),
 * plaintext: for the user's own export. out: owned, free with plmm_free
 * (it is wiped first). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_export_json(const plmm_vault *vault, char **out);

/* Where plmm keeps the user's files by default (the vault, the audit log):
 * "${XDG_DATA_HOME:-$HOME/.local/share}/plmm/NAME". create_dir: create the
 * plmm folder (mode 0700) when absent. PLMM_ERR_NOT_FOUND when neither
 * variable is set, PLMM_ERR_RANGE when out is too small. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_data_path(const char *name, bool create_dir, char *out,
                                                      size_t size);

/* Write a new random key file (mode 0600, an existing file is an error). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_keygen(const char *path);

/* ---- personalisation ---- */

/* Indices of the items most relevant to text (lexical overlap, BM25-like,
 * computed locally), best first; profile facts that are identifiers
 * (name, place) rank above unrelated items. *n_out <= max. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_select(const plmm_vault *vault, const char *text,
                                                         size_t *indices, size_t max,
                                                         size_t *n_out);
/* A system-prompt paragraph for the personal model built from the items
 * plmm_vault_select picks (at most max_items, at most max_bytes of text).
 * "" when nothing is relevant. out: owned, free with plmm_free. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_vault_context(const plmm_vault *vault, const char *text,
                                                          size_t max_items, size_t max_bytes,
                                                          char **out);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_VAULT_H */
