/*
 * Ed25519 key files, signed envelopes and the small file helpers that the
 * update client, the ledger and plmm-sign share (sign.c, sign_envelope.c).
 */
#ifndef PLMM_ENGINE_SIGN_H
#define PLMM_ENGINE_SIGN_H

#include "plmm/update.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_PK_BYTES crypto_sign_PUBLICKEYBYTES /* 32 */
#define SIGN_SK_BYTES crypto_sign_SECRETKEYBYTES /* 64 */
#define SIGN_SIG_BYTES crypto_sign_BYTES         /* 64 */

typedef struct sign_key {
    uint8_t pk[SIGN_PK_BYTES];
    uint8_t sk[SIGN_SK_BYTES]; /* zero for a public key */
    bool has_secret;
    char keyid[PLMM_KEYID_SIZE];
} sign_key;

/* ---- sign.c: keys, encodings, files ---- */

/* sodium_init() once per call site; PLMM_ERR_INTERNAL when it fails. */
PLMM_NODISCARD plmm_status sign_init(void);

void sign_keyid_of(const uint8_t pk[SIGN_PK_BYTES], char keyid[PLMM_KEYID_SIZE]);
/* Read a key file (secret or public). */
PLMM_NODISCARD plmm_status sign_key_load(const char *path, sign_key *key);
/* Write a secret key file (0600, exclusive create) and its public file. */
PLMM_NODISCARD plmm_status sign_key_save(const sign_key *key, const char *secret_path,
                                         const char *public_path);
void sign_key_wipe(sign_key *key);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void sign_hex(const uint8_t *in, size_t n, char *out);
/* Exactly n bytes from 2n hex digits. */
bool sign_unhex(const char *hex, uint8_t *out, size_t n);

/* Whole file into a malloc'd NUL-terminated buffer (at most max bytes). */
PLMM_NODISCARD plmm_status sign_read_file(const char *path, size_t max, char **out, size_t *len);
/* Write a file atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. */
PLMM_NODISCARD plmm_status sign_write_atomic(const char *path, const void *data, size_t len,
                                             unsigned mode);
/* fsync a directory. */
PLMM_NODISCARD plmm_status sign_fsync_dir(const char *dir);

/* "2026-11-27T02:00:00Z" <-> Unix seconds. */
void sign_time_format(int64_t t, char out[32]);
bool sign_time_parse(const char *s, int64_t *out);

/* ---- sign_envelope.c ---- */

/* A parsed envelope: payload bytes and its signatures. */
typedef struct sign_envelope {
    char *type;
    uint8_t *payload; /* NUL-terminated */
    size_t payload_len;
    json_t *sigs; /* array of {"keyid","sig"} */
} sign_envelope;

void sign_envelope_free(sign_envelope *env);
PLMM_NODISCARD plmm_status sign_envelope_parse(const char *text, size_t len, const char *source,
                                               sign_envelope *env);
PLMM_NODISCARD plmm_status sign_envelope_load(const char *path, sign_envelope *env);
/* Serialize (owned text, free()). */
PLMM_NODISCARD plmm_status sign_envelope_dump(const sign_envelope *env, char **out);
/* A new unsigned envelope around payload. */
PLMM_NODISCARD plmm_status sign_envelope_init(sign_envelope *env, const char *type,
                                              const char *payload, size_t len);
PLMM_NODISCARD plmm_status sign_envelope_add(sign_envelope *env, const sign_key *key);
/* Number of distinct keys among keys[n] whose valid signature env carries. */
uint32_t sign_envelope_count(const sign_envelope *env, const sign_key *keys, uint32_t n);

/* ---- roots ---- */

typedef struct sign_root {
    uint64_t version;
    int64_t expires;
    uint32_t threshold;
    uint32_t n_keys;
    sign_key *keys; /* public */
} sign_root;

void sign_root_free(sign_root *root);
/* Parse a root payload (not its signatures). */
PLMM_NODISCARD plmm_status sign_root_parse(const sign_envelope *env, const char *source,
                                           sign_root *root);
/* Check env carries root's threshold of signatures ("what" names env in
 * the message). */
PLMM_NODISCARD plmm_status sign_root_check(const sign_root *root, const sign_envelope *env,
                                           const char *what);
/* PLMM_ERR_DENIED naming what when expires <= now (0 = the clock). */
PLMM_NODISCARD plmm_status sign_check_expiry(int64_t expires, int64_t now, const char *what);
/* Load a trust anchor and check it carries its own threshold and (when
 * now >= 0; 0 = the clock) has not expired at now. */
PLMM_NODISCARD plmm_status sign_root_load_trusted(const char *path, int64_t now, sign_root *root);
/* Verify candidate as the successor of trusted: version higher, a threshold
 * of trusted's keys and of its own, not expired. Fills *next. */
PLMM_NODISCARD plmm_status sign_root_rotate(const sign_root *trusted,
                                            const sign_envelope *candidate, const char *source,
                                            int64_t now, sign_root *next);

#endif
