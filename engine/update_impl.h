/*
 * Update bundles inside the engine: manifests (update_manifest.c), fetching
 * files from a directory or an HTTP(S) URL while hashing them
 * (update_fetch.c) and the installing client (update_install.c).
 */
#ifndef PLMM_ENGINE_UPDATE_IMPL_H
#define PLMM_ENGINE_UPDATE_IMPL_H

#include "sign.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define UPDATE_MANIFEST_MAX (4u << 20)
#define UPDATE_MAX_FILES 4096

typedef struct update_file {
    char *path; /* relative, validated */
    uint64_t size;
    uint8_t sha256[crypto_hash_sha256_BYTES];
} update_file;

typedef struct update_manifest {
    char expert[65];
    uint64_t version;
    int64_t expires;
    char min_engine[32];
    update_file *files;
    uint32_t n_files;
} update_manifest;

void update_manifest_free(update_manifest *m);
/* Parse a manifest payload (not its signatures). */
PLMM_NODISCARD plmm_status update_manifest_parse(const sign_envelope *env, const char *source,
                                                 update_manifest *m);
/* Signatures (root threshold), expiry at now, engine version; for the
 * expert the caller asked for. */
PLMM_NODISCARD plmm_status update_manifest_verify(const update_manifest *m,
                                                  const sign_envelope *env, const sign_root *root,
                                                  const char *expert, int64_t now,
                                                  const char *source);

/* An expert name: 1-64 of [a-z0-9_-]. */
bool update_valid_name(const char *s);
/* A relative file path: components of [A-Za-z0-9._-], none starting with
 * '.' (so no "..", no hidden files). */
bool update_valid_path(const char *s);
/* Compare "MAJOR.MINOR.PATCH" versions: <0, 0, >0; false if malformed. */
bool update_version_cmp(const char *a, const char *b, int *cmp);

/* ---- fetching (update_fetch.c) ---- */

/* Receives the bytes of a fetched resource as they arrive. */
typedef plmm_status (*update_sink_fn)(void *user, const uint8_t *data, size_t len);

/* Fetch SOURCE/rel (a directory or an http(s):// URL) into sink.
 * PLMM_ERR_NOT_FOUND when absent (ENOENT, HTTP 404). max: bytes after which
 * the transfer is stopped with PLMM_ERR_AUTH (longer than declared). */
PLMM_NODISCARD plmm_status update_fetch(const char *source, const char *rel, const char *ca_file,
                                        uint64_t max, update_sink_fn sink, void *user);
/* Fetch a small resource into memory (owned, NUL-terminated). */
PLMM_NODISCARD plmm_status update_fetch_mem(const char *source, const char *rel,
                                            const char *ca_file, size_t max, char **out,
                                            size_t *len);

/* plmm_pack_build() over questions already in memory (text, one per line,
 * cut up in place); label names them in errors. */
PLMM_NODISCARD plmm_status update_pack_build_text(const char *bundle_dir, const char *expert,
                                                  uint64_t version, int64_t expires, char *text,
                                                  const char *label, plmm_pack_answer_fn answer,
                                                  void *user, const char *const *secret_key_paths,
                                                  uint32_t n_keys);

#endif
