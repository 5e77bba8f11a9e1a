/*
 * plmm — signed update bundles for experts (E-model files, adapters,
 * expert INI, knowledge packs) and the signing tools publishers use.
 *
 * Trust model, in the spirit of TUF:
 *  - a **root** lists the publisher keys (Ed25519) and how many of them
 *    (threshold) must sign; it has a version and an expiry;
 *  - a bundle's **manifest** names the expert, a version that only grows,
 *    an expiry, the minimum engine version and every file with its size and
 *    SHA-256; it is valid when at least threshold distinct root keys signed it;
 *  - a new root (version N+1) is trusted only when a threshold of root N's
 *    keys and a threshold of its own keys signed it (key rotation);
 *  - the client persists the last trusted root and, per expert, the highest
 *    version it ever accepted: older versions (rollback), expired metadata
 *    (freeze) and files whose size or hash differ are refused.
 *
 * Signed files are envelopes (JSON): {"payloadType", "payload" (base64),
 * "signatures": [{"keyid", "sig"}]}; a signature covers
 * "PLMMSIG1 <len(type)> <type> <len(payload)> <payload>" (DSSE's
 * pre-authentication encoding), so the signed bytes never depend on how a
 * JSON library formats text.
 *
 * Key files are text: "plmm-ed25519-secret <hex of 64 bytes>" (mode 0600)
 * and "plmm-ed25519-public <hex of 32 bytes>". A key id is the hex of the
 * first 8 bytes of SHA-256(public key).
 *
 * A bundle is built in a directory (BUNDLE/files/PATH, BUNDLE/manifest.json)
 * and published into a flat, content-addressed source: a directory, or the
 * same names under an HTTP(S) URL (plmm serve: http://HOST:PORT/v1/bundles):
 *   SOURCE/root.json                  (optional) newer root for rotation
 *   SOURCE/NAME.manifest.json         signed manifest of expert NAME
 *   SOURCE/sha256-HEX                 each file it lists, named by its hash
 * Install layout, under the experts directory:
 *   DIR/.trust/root.json              last trusted root
 *   DIR/NAME/versions/V/...           one directory per installed version
 *   DIR/NAME/current -> versions/V    switched with one rename
 *   DIR/NAME/previous -> versions/U   kept for rollback
 *   DIR/NAME/trusted.json             highest version accepted, ever
 *
 * Errors: PLMM_ERR_AUTH (signature, threshold, hash), PLMM_ERR_DENIED
 * (rollback, expired, engine too old), PLMM_ERR_FORMAT, PLMM_ERR_IO,
 * PLMM_ERR_NETWORK; the detail names the cause (plmm_last_errmsg()).
 */
#ifndef PLMM_UPDATE_H
#define PLMM_UPDATE_H

#include "plmm/plmm.h"
#include "plmm/types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of a key id as text, NUL included (16 hex digits). */
#define PLMM_KEYID_SIZE 17

/* Payload types of the envelopes plmm signs. */
#define PLMM_PAYLOAD_ROOT "application/vnd.plmm.root+json"
#define PLMM_PAYLOAD_MANIFEST "application/vnd.plmm.manifest+json"
#define PLMM_PAYLOAD_STATEMENT "application/vnd.plmm.statement+json"

/* ---- keys and envelopes (publisher side, plmm-sign) ---- */

/* Create an Ed25519 key pair: secret_path (mode 0600, never overwritten)
 * and public_path. keyid (may be NULL) receives the key id. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_sign_keygen(const char *secret_path,
                                                        const char *public_path,
                                                        char keyid[PLMM_KEYID_SIZE])
    PLMM_NONNULL(1, 2);

/* Key id of a public or secret key file. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_sign_keyid(const char *key_path,
                                                       char keyid[PLMM_KEYID_SIZE])
    PLMM_NONNULL(1, 2);

/* Add the signature of secret_path's key to the envelope at path (the file
 * is replaced atomically; signing twice with one key is refused). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_sign_envelope(const char *path, const char *secret_path)
    PLMM_NONNULL(1, 2);

/* Write an unsigned root: version >= 1, expires (Unix seconds),
 * threshold in [1, n_keys], the public key files of its keys. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_root_create(const char *out_path, uint64_t version,
                                                        int64_t expires, uint32_t threshold,
                                                        const char *const *public_key_paths,
                                                        uint32_t n_keys) PLMM_NONNULL(1, 5);

/* Write an unsigned manifest into bundle_dir/manifest.json for every
 * regular file under bundle_dir/files (sizes and SHA-256 computed here).
 * min_engine: "MAJOR.MINOR.PATCH" (NULL: this library's version). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_manifest_create(const char *bundle_dir,
                                                            const char *expert, uint64_t version,
                                                            int64_t expires, const char *min_engine)
    PLMM_NONNULL(1, 2);

/* Publish a signed bundle into source_dir: BUNDLE/manifest.json becomes
 * SOURCE/EXPERT.manifest.json and every file it lists is copied to
 * SOURCE/sha256-HEX after its size and hash are checked. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_bundle_publish(const char *bundle_dir,
                                                           const char *source_dir)
    PLMM_NONNULL(1, 2);

/*
 * Verify a signed envelope (root, manifest or ledger statement) against the
 * root at root_path (a root checked against another root is a rotation: a
 * threshold of both is required) or, when root_path is NULL, against the
 * single public key file key_path. now: Unix time for expiry checks (0 =
 * the clock). report: (may be NULL) owned, free with plmm_free; what was
 * verified, one line per fact.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_sign_verify(const char *path, const char *root_path,
                                                        const char *key_path, int64_t now,
                                                        char **report) PLMM_NONNULL(1);

/* ---- the client ---- */

typedef struct plmm_updater plmm_updater;

typedef struct plmm_updater_params {
    uint32_t struct_size; /* sizeof(plmm_updater_params) */
    uint32_t reserved;
    const char *root_path;   /* trust anchor when DIR/.trust has no root yet ([update] root) */
    const char *install_dir; /* the experts directory ([update] experts_dir) */
    const char *ca_file;     /* extra CA bundle for HTTPS, or NULL */
    int64_t now;             /* Unix time for expiry checks; 0 = the clock */
    uint64_t max_file_size;  /* largest file accepted, bytes; 0 = 64 GiB */
} plmm_updater_params;

PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_open(const plmm_updater_params *params,
                                                         plmm_updater **out) PLMM_NONNULL(1, 2);
/* NULL is ignored. */
PLMM_EXPORT void plmm_updater_close(plmm_updater *u);

/*
 * What source offers for expert, verified like an install would verify it
 * (root rotation, signatures, expiry, engine version, rollback): the
 * manifest's version into *available and the installed version (0: none)
 * into *installed (both may be NULL). A refused manifest gives its error.
 * report: (may be NULL) one line, owned, free with plmm_free.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_check(plmm_updater *u, const char *source,
                                                          const char *expert, uint64_t *available,
                                                          uint64_t *installed, char **report)
    PLMM_NONNULL(1, 2, 3);

/* Download, verify and install expert's bundle from source; *version
 * (may be NULL) receives the installed version. On any error the installed
 * expert is unchanged and nothing is left behind. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_install(plmm_updater *u, const char *source,
                                                            const char *expert, uint64_t *version)
    PLMM_NONNULL(1, 2, 3);

/* Installed experts, versions and trust state, one line each (owned,
 * free with plmm_free). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_list(plmm_updater *u, char **report)
    PLMM_NONNULL(1, 2);

/* Switch expert back to its previous version (one rename; the version
 * rolled back from becomes the previous one). The highest trusted version
 * is unchanged: the source still cannot push anything older, and
 * plmm_updater_install() brings the newer version back. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_rollback(plmm_updater *u, const char *expert,
                                                             uint64_t *version) PLMM_NONNULL(1, 2);

/* Directory of the installed current version of expert (owned, free with
 * plmm_free). */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_updater_current_dir(plmm_updater *u, const char *expert,
                                                                char **path) PLMM_NONNULL(1, 2, 3);

/* ---- knowledge packs (distillation) ---- */

/* Answers one question (the T-model); *answer: malloc'd text (free()). */
typedef plmm_status (*plmm_pack_answer_fn)(void *user, const char *question, char **answer);

/*
 * Build a knowledge-pack bundle: each line of questions_path (UTF-8, one
 * question per line, blank lines skipped) is answered by answer() and the
 * pairs are written as JSON lines to bundle_dir/files/knowledge.jsonl;
 * then the manifest (expert, version, expires) is written and signed with
 * each of the n_keys secret key files.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_pack_build(const char *bundle_dir, const char *expert,
                                                       uint64_t version, int64_t expires,
                                                       const char *questions_path,
                                                       plmm_pack_answer_fn answer, void *user,
                                                       const char *const *secret_key_paths,
                                                       uint32_t n_keys) PLMM_NONNULL(1, 2, 5, 6);

/*
 * Distillation: plmm_pack_build() with the answers of the T-model, the
 * connector configured in [SECTION] (usually "tmodel") of engine's
 * configuration. The questions should be the ones the expert answered
 * poorly, exported from the local history with the user's consent.
 * Each line goes through the privacy layer's detectors as in
 * plmm_pack_distill_private() (without a vault's known values).
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status
plmm_pack_distill(plmm_engine *engine, const char *section, const char *bundle_dir,
                  const char *expert, uint64_t version, int64_t expires, const char *questions_path,
                  const char *const *secret_key_paths, uint32_t n_keys) PLMM_NONNULL(1, 2, 3, 4, 7);

/* ---- distillation from the local history ---- */

struct plmm_vault;
struct plmm_ledger;

/*
 * The questions an expert was weak on, from the vault's conversation
 * history (items of kind "history" that plmm chat stores with
 * [privacy] remember_history). A turn is stored as lines
 *
 *   Expert: NAME          (the expert the router chose, when one was)
 *   Confidence: low|ok    (the router's judgement when it answered)
 *   Q: the question
 *   A: the answer
 *
 * and is weak when its Confidence is low, or when ledger (may be NULL)
 * holds a rating contribution for the expert whose ref is the turn's key
 * followed by ":-1" (`plmm ledger contribute --kind rating --ref
 * history.12:-1`). *questions: owned (plmm_free), one question per line,
 * each once, in history order, as the user typed them (not yet
 * pseudonymized); *n: how many (0 gives ""). Reading history is the
 * user's decision: the caller asks for consent first.
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_distill_select(const struct plmm_vault *vault,
                                                           const struct plmm_ledger *ledger,
                                                           const char *expert, char **questions,
                                                           size_t *n) PLMM_NONNULL(1, 3, 4, 5);

/* What plmm_pack_distill_private() does. */
typedef struct plmm_distill_params {
    uint32_t struct_size; /* sizeof(plmm_distill_params) */
    uint32_t n_keys;      /* secret keys to sign with (at least one) */
    const char *section;  /* connector section of the T-model, "tmodel" */
    const char *bundle_dir;
    const char *expert;
    uint64_t version;
    int64_t expires;                     /* Unix time the manifest expires */
    const char *questions_path;          /* a questions file, or NULL: questions */
    const char *questions;               /* one per line (plmm_distill_select) */
    const char *const *secret_key_paths; /* n_keys publisher secret key files */
    const struct plmm_vault *vault; /* may be NULL: values the user is known by, pseudonymized */
    const char *audit_path;         /* may be NULL: audit log of what was sent */
} plmm_distill_params;

/*
 * Distillation under the privacy layer: each question is sent to the
 * T-model with [SECTION] share policy (default pseudonymized; "none"
 * replaces personal data by bare "<CATEGORY>" tokens; "full" sends it as
 * typed), the exact request body is scanned for any known or replaced
 * value and the send audited (the connector's before_send hook), and the
 * answer's placeholders are restored locally before it goes into the
 * knowledge pack; then the bundle is built and signed as plmm_pack_build().
 */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_pack_distill_private(plmm_engine *engine,
                                                                 const plmm_distill_params *params)
    PLMM_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif

#endif
