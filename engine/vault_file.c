/*
 * The vault's file format and its atomic replacement.
 *
 *   offset size
 *        0    8  magic "PLMMVLT1"
 *        8    4  format version (2; 1 is still read), little-endian
 *       12    4  key method: 1 = Argon2id passphrase, 2 = key file
 *       16    8  Argon2id opslimit (0 for a key file)
 *       24    8  Argon2id memlimit in bytes (0 for a key file)
 *       32   16  salt (zero for a key file)
 *       48   24  nonce of the wrapped data key
 *       72   48  data key wrapped with the KEK (crypto_secretbox_easy)
 *      120   24  crypto_secretstream_xchacha20poly1305 header
 *      144   32  BLAKE2b-256 of bytes 0..143 (tells damage from a wrong key)
 *      176    …  body: chunks of at most 64 KiB plaintext + 17 bytes; every
 *                chunk but the last has TAG_MESSAGE, the last TAG_FINAL; the
 *                first chunk takes the 176 header bytes as associated data.
 *
 * Plaintext (the concatenated chunks): (format 2) the 32-byte master
 * secret subkeys are derived from (plmm_vault_derive_key), then u32 item
 * count, u64 next sequence number, then per item: u8 kind, u8 category, u16 0, i64 updated,
 * u32 key length, key, u32 value length, value. Integers little-endian.
 *
 * A fresh data key is drawn for every write, so a forgotten item's
 * ciphertext in an old copy of the file is under a key the current file
 * does not hold. The master secret, by contrast, is drawn once when the
 * store is created (or a format-1 store is first rewritten) and kept by
 * every write and re-key, so keys derived from it stay valid across
 * passphrase changes.
 */
#include "errors.h"
#include "vault_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "PLMMVLT1"
#define FORMAT_VERSION 2u
#define FORMAT_V1 1u
#define HDR_CHECKED 144u
#define HDR_BYTES 176u
#define CHUNK (64u * 1024u)
#define SS_A crypto_secretstream_xchacha20poly1305_ABYTES

_Static_assert(crypto_secretbox_NONCEBYTES == 24, "wrap nonce size");
_Static_assert(crypto_secretbox_MACBYTES + VAULT_KEY_BYTES == 48, "wrapped key size");
_Static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24, "stream header size");
_Static_assert(crypto_pwhash_SALTBYTES == VAULT_SALT_BYTES, "salt size");

/* ---- little-endian helpers ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- key derivation ---- */

static void kdf_limits(uint32_t kdf, uint64_t *ops, uint64_t *mem)
{
    switch (kdf) {
    case PLMM_VAULT_KDF_INTERACTIVE:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        break;
    case PLMM_VAULT_KDF_SENSITIVE:
        *ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
        *mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
        break;
    case PLMM_VAULT_KDF_TEST:
        *ops = crypto_pwhash_OPSLIMIT_MIN;
        *mem = crypto_pwhash_MEMLIMIT_MIN;
        break;
    default:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A key file holds 32 raw bytes or 64 hex digits (trailing newline allowed). */
static plmm_status read_key_file(const char *path, uint8_t *key)
{
    uint8_t buf[160];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO,
                        "cannot open key file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return plmm_err(PLMM_ERR_IO, "key file '%s' is not a regular file", path);
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return plmm_err(PLMM_ERR_DENIED,
                        "key file '%s' is readable by other users (mode %03o); chmod 600 it", path,
                        (unsigned)(st.st_mode & 0777));
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    plmm_status s = PLMM_OK;
    if (n < 0) {
        s = plmm_err(PLMM_ERR_IO, "cannot read key file '%s': %s", path, strerror(errno));
    } else if (n == VAULT_KEY_BYTES) {
        memcpy(key, buf, VAULT_KEY_BYTES);
    } else {
        size_t len = (size_t)n;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
            len--;
        if (len != 2 * VAULT_KEY_BYTES) {
            s = plmm_err(PLMM_ERR_FORMAT, "key file '%s' must hold 32 bytes or 64 hex digits",
                         path);
        } else {
            for (size_t i = 0; i < VAULT_KEY_BYTES && s == PLMM_OK; i++) {
                int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
                if (hi < 0 || lo < 0)
                    s = plmm_err(PLMM_ERR_FORMAT, "key file '%s' has a non-hex character", path);
                else
                    key[i] = (uint8_t)(hi << 4 | lo);
            }
        }
    }
    sodium_memzero(buf, sizeof(buf));
    if (s != PLMM_OK)
        sodium_memzero(key, VAULT_KEY_BYTES);
    return s;
}

plmm_status vault_derive_kek(const plmm_vault_secret *secret, bool create, vault_kdf_params *params,
                             uint8_t *kek)
{
    if (secret == NULL || secret->struct_size < sizeof(plmm_vault_secret))
        return plmm_err(PLMM_ERR_INVALID_ARG, "vault secret missing or struct_size too small");
    bool has_pass = secret->passphrase != NULL;
    bool has_file = secret->key_file != NULL;
    if (has_pass == has_file)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "give the vault either a passphrase or a key file, not %s",
                        has_pass ? "both" : "neither");
    if (create) {
        memset(params, 0, sizeof(*params));
        if (has_file) {
            params->method = VAULT_METHOD_KEYFILE;
        } else {
            if (secret->kdf > PLMM_VAULT_KDF_TEST)
                return plmm_err(PLMM_ERR_INVALID_ARG, "unknown key derivation setting %u",
                                (unsigned)secret->kdf);
            params->method = VAULT_METHOD_ARGON2ID;
            kdf_limits(secret->kdf, &params->opslimit, &params->memlimit);
            randombytes_buf(params->salt, sizeof(params->salt));
        }
    } else if (has_file != (params->method == VAULT_METHOD_KEYFILE)) {
        return plmm_err(PLMM_ERR_AUTH, "this vault is locked with %s, not %s",
                        params->method == VAULT_METHOD_KEYFILE ? "a key file" : "a passphrase",
                        has_file ? "a key file" : "a passphrase");
    }
    if (has_file)
        return read_key_file(secret->key_file, kek);
    if (secret->passphrase_len == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "empty passphrase");
    if (crypto_pwhash(kek, VAULT_KEY_BYTES, secret->passphrase, secret->passphrase_len,
                      params->salt, params->opslimit, (size_t)params->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return plmm_err(PLMM_ERR_NOMEM, "key derivation (Argon2id, %llu MiB) failed: out of memory",
                        (unsigned long long)(params->memlimit >> 20));
    return PLMM_OK;
}

/* ---- reading ---- */

static plmm_status read_all(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO,
                        "cannot open vault '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return plmm_err(PLMM_ERR_IO, "vault '%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > VAULT_MAX_FILE) {
        close(fd);
        return plmm_err(PLMM_ERR_FORMAT, "vault '%s' is larger than %u MiB", path,
                        VAULT_MAX_FILE >> 20);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        close(fd);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory reading vault '%s'", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return plmm_err(PLMM_ERR_IO, "cannot read vault '%s'", path);
    }
    *data = buf;
    *len = n;
    return PLMM_OK;
}

/* Parse the decrypted plaintext into v->items. */
static plmm_status parse_items(plmm_vault *v, const uint8_t *p, size_t n)
{
    if (n < 12)
        return plmm_err(PLMM_ERR_FORMAT, "vault '%s': item table too short", v->path);
    uint32_t count = get_u32(p);
    uint64_t seq = get_u64(p + 4);
    size_t off = 12;
    if (count > n / 20)
        return plmm_err(PLMM_ERR_FORMAT, "vault '%s': item count %u impossible", v->path,
                        (unsigned)count);
    vault_entry *items = calloc(count ? count : 1, sizeof(*items));
    if (items == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    plmm_status s = PLMM_OK;
    uint32_t i;
    for (i = 0; i < count; i++) {
        vault_entry *e = &items[i];
        if (n - off < 20) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': item %u cut short", v->path, i);
            break;
        }
        e->kind = p[off];
        e->category = p[off + 1];
        e->updated = (int64_t)get_u64(p + off + 4);
        uint32_t kl = get_u32(p + off + 12);
        off += 16;
        if (kl == 0 || kl > VAULT_MAX_KEY || n - off < (size_t)kl + 4) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': item %u has a bad key length", v->path, i);
            break;
        }
        uint32_t vl = get_u32(p + off + kl);
        if (vl > VAULT_MAX_VALUE || n - off - kl - 4 < vl) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': item %u has a bad value length", v->path, i);
            break;
        }
        e->key = malloc((size_t)kl + 1);
        e->value = malloc((size_t)vl + 1);
        if (e->key == NULL || e->value == NULL) {
            s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(e->key, p + off, kl);
        e->key[kl] = '\0';
        memcpy(e->value, p + off + kl + 4, vl);
        e->value[vl] = '\0';
        off += (size_t)kl + 4 + vl;
        if (e->kind < PLMM_VAULT_FACT || e->kind > PLMM_VAULT_HISTORY ||
            e->category >= PLMM_PII_COUNT || (i > 0 && strcmp(items[i - 1].key, e->key) >= 0)) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': item %u is malformed", v->path, i);
            break;
        }
    }
    if (s == PLMM_OK && off != n)
        s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': trailing bytes after the items", v->path);
    if (s != PLMM_OK) {
        for (uint32_t k = 0; k < count; k++)
            vault_entry_wipe(&items[k]);
        free(items);
        return s;
    }
    v->items = items;
    v->n_items = count;
    v->cap_items = count ? count : 1;
    v->next_seq = seq;
    return PLMM_OK;
}

plmm_status vault_file_load(plmm_vault *v, const plmm_vault_secret *secret)
{
    uint8_t *data = NULL, *plain = NULL, dkey[VAULT_KEY_BYTES];
    size_t len = 0, plain_len = 0;
    crypto_secretstream_xchacha20poly1305_state st;
    plmm_status s = read_all(v->path, &data, &len);
    if (s != PLMM_OK)
        return s;
    if (len < HDR_BYTES || memcmp(data, MAGIC, 8) != 0) {
        s = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a plmm vault%s", v->path,
                     len < HDR_BYTES ? " (file too short: truncated?)" : " (bad magic)");
        goto out_free_data;
    }
    uint8_t sum[32];
    crypto_generichash(sum, sizeof(sum), data, HDR_CHECKED, NULL, 0);
    if (sodium_memcmp(sum, data + HDR_CHECKED, sizeof(sum)) != 0) {
        s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': header is damaged (checksum mismatch)", v->path);
        goto out_free_data;
    }
    uint32_t version = get_u32(data + 8);
    if (version != FORMAT_VERSION && version != FORMAT_V1) {
        s = plmm_err(PLMM_ERR_UNSUPPORTED, "vault '%s': format version %u not supported", v->path,
                     (unsigned)get_u32(data + 8));
        goto out_free_data;
    }
    vault_kdf_params kp;
    kp.method = get_u32(data + 12);
    kp.opslimit = get_u64(data + 16);
    kp.memlimit = get_u64(data + 24);
    memcpy(kp.salt, data + 32, VAULT_SALT_BYTES);
    if (kp.method == VAULT_METHOD_ARGON2ID) {
        if (kp.opslimit < crypto_pwhash_OPSLIMIT_MIN || kp.opslimit > 64 ||
            kp.memlimit < crypto_pwhash_MEMLIMIT_MIN || kp.memlimit > (UINT64_C(4) << 30)) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': key derivation limits out of range",
                         v->path);
            goto out_free_data;
        }
    } else if (kp.method != VAULT_METHOD_KEYFILE) {
        s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': unknown key method %u", v->path,
                     (unsigned)kp.method);
        goto out_free_data;
    }
    if (secret != NULL) {
        s = vault_derive_kek(secret, false, &kp, v->kek);
        if (s != PLMM_OK)
            goto out_free_data;
        v->kdf = kp;
    } else if (memcmp(&kp, &v->kdf, sizeof(kp)) != 0) {
        s = plmm_err(PLMM_ERR_AUTH, "vault '%s' was re-keyed by another program; reopen it",
                     v->path);
        goto out_free_data;
    }
    if (crypto_secretbox_open_easy(dkey, data + 72, 48, data + 48, v->kek) != 0) {
        s = plmm_err(PLMM_ERR_AUTH, "wrong %s for vault '%s'",
                     kp.method == VAULT_METHOD_KEYFILE ? "key file" : "passphrase", v->path);
        goto out_wipe_key;
    }
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, data + 120, dkey) != 0) {
        s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': bad stream header", v->path);
        goto out_wipe_key;
    }
    size_t body = len - HDR_BYTES;
    /* Plaintext is at most the body minus one MAC per chunk. */
    plain = vault_secure_alloc(body ? body : 1);
    if (plain == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_wipe_key;
    }
    size_t off = HDR_BYTES;
    bool final = false;
    for (unsigned chunk = 0; !final; chunk++) {
        size_t left = len - off;
        size_t clen = left > CHUNK + SS_A ? CHUNK + SS_A : left;
        if (clen < SS_A) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s' is truncated (no final chunk after chunk %u)",
                         v->path, chunk);
            goto out_free_plain;
        }
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, plain + plain_len, &mlen, &tag,
                                                       data + off, clen, chunk == 0 ? data : NULL,
                                                       chunk == 0 ? HDR_BYTES : 0) != 0) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s' is %s: chunk %u fails authentication",
                         v->path, off + clen == len ? "truncated or damaged" : "damaged", chunk);
            goto out_free_plain;
        }
        off += clen;
        plain_len += (size_t)mlen;
        final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        if (!final && off == len) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s' is truncated (final chunk missing)", v->path);
            goto out_free_plain;
        }
        if (final && off != len) {
            s = plmm_err(PLMM_ERR_FORMAT, "vault '%s' has data after its final chunk", v->path);
            goto out_free_plain;
        }
    }
    if (version == FORMAT_V1) {
        /* no master secret yet: one is drawn now and stored by the next write */
        randombytes_buf(v->master, VAULT_KEY_BYTES);
        v->master_saved = false;
        s = parse_items(v, plain, plain_len);
    } else if (plain_len < VAULT_KEY_BYTES) {
        s = plmm_err(PLMM_ERR_FORMAT, "vault '%s': master secret missing", v->path);
    } else {
        memcpy(v->master, plain, VAULT_KEY_BYTES);
        v->master_saved = true;
        s = parse_items(v, plain + VAULT_KEY_BYTES, plain_len - VAULT_KEY_BYTES);
    }
out_free_plain:
    vault_secure_free(plain, body ? body : 1);
out_wipe_key:
    sodium_memzero(dkey, sizeof(dkey));
    sodium_memzero(&st, sizeof(st));
out_free_data:
    free(data);
    return s;
}

/* ---- writing ---- */

static size_t plain_size(const plmm_vault *v)
{
    size_t n = VAULT_KEY_BYTES + 12;
    for (size_t i = 0; i < v->n_items; i++)
        n += 20 + strlen(v->items[i].key) + strlen(v->items[i].value);
    return n;
}

static void serialize(const plmm_vault *v, uint8_t *p)
{
    memcpy(p, v->master, VAULT_KEY_BYTES);
    p += VAULT_KEY_BYTES;
    put_u32(p, (uint32_t)v->n_items);
    put_u64(p + 4, v->next_seq);
    size_t off = 12;
    for (size_t i = 0; i < v->n_items; i++) {
        const vault_entry *e = &v->items[i];
        size_t kl = strlen(e->key), vl = strlen(e->value);
        p[off] = (uint8_t)e->kind;
        p[off + 1] = (uint8_t)e->category;
        p[off + 2] = p[off + 3] = 0;
        put_u64(p + off + 4, (uint64_t)e->updated);
        put_u32(p + off + 12, (uint32_t)kl);
        off += 16;
        memcpy(p + off, e->key, kl);
        put_u32(p + off + kl, (uint32_t)vl);
        memcpy(p + off + kl + 4, e->value, vl);
        off += kl + 4 + vl;
    }
}

static plmm_status write_full(int fd, const uint8_t *p, size_t n, const char *path)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", path,
                            w < 0 ? strerror(errno) : "short write");
        p += w;
        n -= (size_t)w;
    }
    return PLMM_OK;
}

/* Encrypt the items into a malloc'd file image. */
static plmm_status build_image(const plmm_vault *v, uint8_t **out, size_t *out_len)
{
    uint8_t dkey[VAULT_KEY_BYTES];
    crypto_secretstream_xchacha20poly1305_state st;
    size_t plen = plain_size(v);
    size_t n_chunks = plen / CHUNK + 1;
    size_t total = HDR_BYTES + plen + n_chunks * SS_A;
    if (total > VAULT_MAX_FILE)
        return plmm_err(PLMM_ERR_RANGE, "vault '%s' would exceed %u MiB", v->path,
                        VAULT_MAX_FILE >> 20);
    uint8_t *plain = vault_secure_alloc(plen);
    uint8_t *img = malloc(total);
    if (plain == NULL || img == NULL) {
        vault_secure_free(plain, plen);
        free(img);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    serialize(v, plain);
    memset(img, 0, HDR_BYTES);
    memcpy(img, MAGIC, 8);
    put_u32(img + 8, FORMAT_VERSION);
    put_u32(img + 12, v->kdf.method);
    put_u64(img + 16, v->kdf.opslimit);
    put_u64(img + 24, v->kdf.memlimit);
    memcpy(img + 32, v->kdf.salt, VAULT_SALT_BYTES);
    randombytes_buf(img + 48, crypto_secretbox_NONCEBYTES);
    crypto_secretstream_xchacha20poly1305_keygen(dkey);
    crypto_secretbox_easy(img + 72, dkey, VAULT_KEY_BYTES, img + 48, v->kek);
    crypto_secretstream_xchacha20poly1305_init_push(&st, img + 120, dkey);
    crypto_generichash(img + HDR_CHECKED, 32, img, HDR_CHECKED, NULL, 0);
    size_t off = HDR_BYTES, poff = 0;
    for (size_t c = 0; c < n_chunks; c++) {
        size_t m = plen - poff > CHUNK ? CHUNK : plen - poff;
        bool last = c + 1 == n_chunks;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(
            &st, img + off, &clen, plain + poff, m, c == 0 ? img : NULL, c == 0 ? HDR_BYTES : 0,
            last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                 : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
        off += (size_t)clen;
        poff += m;
    }
    sodium_memzero(dkey, sizeof(dkey));
    sodium_memzero(&st, sizeof(st));
    vault_secure_free(plain, plen);
    *out = img;
    *out_len = off;
    return PLMM_OK;
}

/* Directory of path (for the temporary file and the directory fsync). */
static void dir_of(const char *path, char *dir, size_t size)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(dir, size, "%s", dirname(tmp));
}

static plmm_status fsync_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof(dir));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        return plmm_err(PLMM_ERR_IO, "cannot fsync directory '%s': %s", dir, strerror(e));
    return PLMM_OK;
}

plmm_status vault_file_save(plmm_vault *v, bool exclusive)
{
    uint8_t *img = NULL;
    size_t len = 0;
    plmm_status s = build_image(v, &img, &len);
    if (s != PLMM_OK)
        return s;
    size_t tl = strlen(v->path) + 16;
    char *tmp = malloc(tl);
    if (tmp == NULL) {
        free(img);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, tl, "%s.tmp.XXXXXX", v->path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        s = plmm_err(PLMM_ERR_IO, "cannot create a temporary file beside '%s': %s", v->path,
                     strerror(errno));
        goto out_free;
    }
    s = write_full(fd, img, len, tmp);
    if (s == PLMM_OK && fsync(fd) != 0)
        s = plmm_err(PLMM_ERR_IO, "cannot fsync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == PLMM_OK)
        s = plmm_err(PLMM_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    if (s != PLMM_OK)
        goto out_unlink;
    if (exclusive) {
        /* link() refuses to replace an existing store. */
        if (link(tmp, v->path) != 0) {
            s = plmm_err(errno == EEXIST ? PLMM_ERR_INVALID_ARG : PLMM_ERR_IO,
                         "cannot create vault '%s': %s", v->path,
                         errno == EEXIST ? "a file of that name exists" : strerror(errno));
            goto out_unlink;
        }
        unlink(tmp);
    } else if (rename(tmp, v->path) != 0) {
        s = plmm_err(PLMM_ERR_IO, "cannot replace vault '%s': %s", v->path, strerror(errno));
        goto out_unlink;
    }
    s = fsync_dir(v->path);
    if (s == PLMM_OK)
        v->master_saved = true;
    goto out_free;
out_unlink:
    unlink(tmp);
out_free:
    free(tmp);
    free(img);
    return s;
}

void vault_file_clean_temps(const char *path)
{
    char dir[PATH_MAX], base[PATH_MAX], prefix[PATH_MAX + 8];
    char tmp[PATH_MAX];
    dir_of(path, dir, sizeof(dir));
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(base, sizeof(base), "%s", basename(tmp));
    snprintf(prefix, sizeof(prefix), "%s.tmp.", base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    size_t pl = strlen(prefix);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, pl) == 0 && strlen(de->d_name) == pl + 6)
            (void)unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}
