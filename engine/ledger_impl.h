/*
 * The ledger inside the engine: the encrypted, hash-chained, signed log
 * (ledger_store.c), the handle with rates and budgets (ledger.c), receipts
 * (ledger_receipt.c) and settlement statements (ledger_settle.c).
 *
 * File format (all integers little-endian):
 *   header  "PLMMLDG1" | file id (16 random bytes) | device public key (32)
 *   record  ciphertext length (u32) | nonce (24) | ciphertext
 * A record decrypts (XChaCha20-Poly1305, associated data = header | seq as
 * u64) to the device's Ed25519 signature (64 bytes) over the body, then the
 * body: compact JSON with "seq" (1, 2, ...) and "prev" (hex SHA-256 of the
 * previous body; 64 zeros for the first). Beside it, PATH.head holds the
 * signed "plmm-ledger-head SEQ HASH" of the last entry written.
 */
#ifndef PLMM_ENGINE_LEDGER_IMPL_H
#define PLMM_ENGINE_LEDGER_IMPL_H

#include "plmm/ledger.h"
#include "sign.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LEDGER_MAGIC "PLMMLDG1"
#define LEDGER_HEADER_BYTES (8 + 16 + SIGN_PK_BYTES)
#define LEDGER_RECORD_MAX (1u << 20)
#define LEDGER_HASH_BYTES crypto_hash_sha256_BYTES

typedef struct ledger_store {
    int fd; /* -1 when closed */
    char *path;
    char *head_path;
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    uint8_t header[LEDGER_HEADER_BYTES];
    sign_key device; /* secret when appending, public when only verifying */
    uint64_t n;      /* valid entries */
    uint8_t last_hash[LEDGER_HASH_BYTES];
    off_t end;      /* offset after the last valid record */
    bool torn_tail; /* an incomplete last record was found */
} ledger_store;

/* Called for each valid entry in order (body NUL-terminated). */
typedef plmm_status (*ledger_entry_fn)(void *user, uint64_t seq, const char *body, size_t len);

/* Open path. writable: create when absent, cut off a torn last record,
 * and keep the file open for ledger_store_append(). device must hold the
 * secret key when writable. Every entry is verified and passed to fn (may
 * be NULL). Errors name the first bad entry. */
PLMM_NODISCARD plmm_status ledger_store_open(ledger_store *s, const char *path,
                                             const uint8_t key[PLMM_LEDGER_KEY_BYTES],
                                             const sign_key *device, bool writable,
                                             ledger_entry_fn fn, void *user);
void ledger_store_close(ledger_store *s);

/* Add "seq" and "prev" to body, sign, encrypt, append with one write,
 * update the head. *text (may be NULL): the final body (owned, free()). */
PLMM_NODISCARD plmm_status ledger_store_append(ledger_store *s, json_t *body, char **text);

/* Encrypt a record for seq (tests forge entries with it). out: owned. */
PLMM_NODISCARD plmm_status ledger_store_seal(const ledger_store *s, uint64_t seq,
                                             const uint8_t *plain, size_t len, uint8_t **out,
                                             size_t *out_len);

/* Resolve the encryption key and device key of params (creating key files
 * when create is true). */
PLMM_NODISCARD plmm_status ledger_keys(const plmm_ledger_params *params, bool create,
                                       uint8_t key[PLMM_LEDGER_KEY_BYTES], sign_key *device);

/* Micro-units <-> decimal text ("1.5" -> 1500000; 1500000 -> "1.500000"). */
bool ledger_parse_amount(const char *s, int64_t *out);
void ledger_format_amount(int64_t v, char out[32]);

/* ---- the handle (ledger.c) ---- */

typedef struct ledger_expert {
    char *name;
    char *counterparty;
    char *currency;
    plmm_ledger_rates rates; /* strings point at the two above */
    bool has_rates;
    int64_t budget; /* < 0: none */
    plmm_ledger_period period;
} ledger_expert;

struct plmm_ledger {
    ledger_store store;
    int64_t now;
    json_t *entries; /* parsed bodies, in order */
    ledger_expert *experts;
    size_t n_experts;
};

int64_t ledger_now(const plmm_ledger *l);
/* Append body and keep it in l->entries. */
PLMM_NODISCARD plmm_status ledger_append(plmm_ledger *l, json_t *body);

/* ---- receipts (ledger_receipt.c) ---- */

/* Verify a receipt; fills the signer's key id and nonce (hex) too. */
PLMM_NODISCARD plmm_status ledger_receipt_check(const char *json, const char *public_key_path,
                                                int64_t *prompt_tokens, int64_t *completion_tokens,
                                                char keyid[PLMM_KEYID_SIZE], char nonce[33],
                                                json_t **parsed);

#endif
