/* The vault's in-memory state, shared by vault.c (items), vault_file.c
 * (encrypted file format, atomic writes) and vault_select.c
 * (personalisation). */
#ifndef PLMM_ENGINE_VAULT_IMPL_H
#define PLMM_ENGINE_VAULT_IMPL_H

#include "plmm/vault.h"

#include <sodium.h>

#define VAULT_KEY_BYTES 32u
#define VAULT_SALT_BYTES 16u
#define VAULT_MAX_VALUE (1u << 20)
#define VAULT_MAX_KEY 128u
#define VAULT_MAX_FILE (512u << 20)

typedef struct vault_entry {
    uint32_t kind, category;
    int64_t updated;
    char *key;   /* owned, wiped on free */
    char *value; /* owned, wiped on free */
} vault_entry;

/* How the key-encryption key (KEK) was made. */
typedef struct vault_kdf_params {
    uint32_t method;   /* VAULT_METHOD_* */
    uint64_t opslimit; /* Argon2id */
    uint64_t memlimit;
    uint8_t salt[VAULT_SALT_BYTES];
} vault_kdf_params;

#define VAULT_METHOD_ARGON2ID 1u
#define VAULT_METHOD_KEYFILE 2u

struct plmm_vault {
    char *path;
    char *lock_path;
    int lock_fd; /* -1 when read-only */
    bool writable;
    vault_kdf_params kdf;
    uint8_t *kek;       /* VAULT_KEY_BYTES, locked memory */
    vault_entry *items; /* sorted by key */
    size_t n_items, cap_items;
    uint64_t next_seq; /* for plmm_vault_add keys */
    uint8_t *master;   /* VAULT_KEY_BYTES stable secret for subkeys, locked memory */
    bool master_saved; /* false for a format-1 store until its next write */
};

/* ---- vault_file.c ---- */

/* Derive the KEK for secret into kek (VAULT_KEY_BYTES); params: fresh
 * salt and limits when create is true, else the store's. */
PLMM_NODISCARD plmm_status vault_derive_kek(const plmm_vault_secret *secret, bool create,
                                            vault_kdf_params *params, uint8_t *kek);
/* Read and decrypt the store at v->path with v->kek / v->kdf (when
 * derive is true the KEK is derived first from secret and the header's
 * parameters). Fills v->items and v->next_seq. */
PLMM_NODISCARD plmm_status vault_file_load(plmm_vault *v, const plmm_vault_secret *secret);
/* Encrypt v's items under a fresh data key and replace the store
 * atomically. exclusive: fail if the store exists (creation). */
PLMM_NODISCARD plmm_status vault_file_save(plmm_vault *v, bool exclusive);
/* Remove temporaries a killed writer left beside the store. */
void vault_file_clean_temps(const char *path);

/* ---- vault.c ---- */

void vault_entry_wipe(vault_entry *e);
/* Allocate n bytes in locked memory (best effort) / wipe and free them. */
void *vault_secure_alloc(size_t n);
void vault_secure_free(void *p, size_t n);

#endif
