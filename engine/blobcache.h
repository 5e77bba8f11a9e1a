/*
 * On-disk cache of compiled partition blobs (partition contract, backend.h).
 *
 * One file per compatibility key, named by a BLAKE2b digest of the key:
 *
 *     magic "PLMMBLOB" | u32 format version | u32 key length |
 *     u64 payload size | 32-byte BLAKE2b of the payload | key | payload
 *
 * (little-endian host order; the key is stored in full so a digest
 * collision or a renamed file is detected). Files are written to a
 * temporary name and renamed into place, so a reader sees a whole file or
 * none. A file whose header, key, size or checksum does not match is
 * reported as PLMM_ERR_FORMAT and the caller rebuilds it.
 */
#ifndef PLMM_ENGINE_BLOBCACHE_H
#define PLMM_ENGINE_BLOBCACHE_H

#include "plmm/types.h"

#define PLMM_BLOBCACHE_MAGIC "PLMMBLOB"
#define PLMM_BLOBCACHE_VERSION 1u
#define PLMM_BLOBCACHE_MAX_KEY 4096u

/* The cache directory: dir when non-empty, else $XDG_CACHE_HOME/plmm, else
 * $HOME/.cache/plmm. PLMM_ERR_CONFIG when none can be derived or it does
 * not fit. */
PLMM_NODISCARD plmm_status plmm_blobcache_dir(const char *dir, char *out, size_t size);

/* Path of the file holding key inside dir. */
PLMM_NODISCARD plmm_status plmm_blobcache_path(const char *dir, const char *key, char *out,
                                               size_t size);

/* Read the blob stored under key. PLMM_ERR_NOT_FOUND: no file;
 * PLMM_ERR_FORMAT: the file is corrupt, truncated or holds another key
 * (detail in the error message). out: malloc'ed, caller frees. */
PLMM_NODISCARD plmm_status plmm_blobcache_read(const char *dir, const char *key, void **out,
                                               uint64_t *size);

/* Store blob under key (creates dir, writes atomically). */
PLMM_NODISCARD plmm_status plmm_blobcache_write(const char *dir, const char *key, const void *blob,
                                                uint64_t size);

#endif
