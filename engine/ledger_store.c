/*
 * The ledger log on disk: a header, then one encrypted record per entry;
 * each record is sealed on its own so an append is one write and a crash
 * can only leave the last record incomplete. See ledger_impl.h.
 */
#include "errors.h"
#include "ledger_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MAC_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HEAD_TAG "plmm-ledger-head"

/* ---- amounts ---- */

bool ledger_parse_amount(const char *s, int64_t *out)
{
    int64_t whole = 0, frac = 0;
    int digits = 0;
    bool neg = false, any = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++, any = true) {
        if (whole > (INT64_MAX / 1000000 - 9) / 10)
            return false;
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, any = true) {
            if (++digits > 6)
                return false;
            frac = frac * 10 + (*s - '0');
        }
    }
    if (*s != '\0' || !any)
        return false;
    for (; digits < 6; digits++)
        frac *= 10;
    *out = (whole * 1000000 + frac) * (neg ? -1 : 1);
    return true;
}

void ledger_format_amount(int64_t v, char out[32])
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(out, 32, "%s%llu.%06llu", v < 0 ? "-" : "", (unsigned long long)(a / 1000000),
             (unsigned long long)(a % 1000000));
}

/* ---- keys ---- */

plmm_status ledger_keys(const plmm_ledger_params *params, bool create,
                        uint8_t key[PLMM_LEDGER_KEY_BYTES], sign_key *device)
{
    char pub[PATH_MAX];
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    if (params->device_key_path == NULL)
        return plmm_err(PLMM_ERR_CONFIG, "no device key file ([ledger] device_key)");
    if (snprintf(pub, sizeof(pub), "%s.pub", params->device_key_path) >= (int)sizeof(pub))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", params->device_key_path);
    st = sign_key_load(params->device_key_path, device);
    if (st == PLMM_ERR_NOT_FOUND && create) {
        if ((st = plmm_sign_keygen(params->device_key_path, pub, NULL)) == PLMM_OK)
            st = sign_key_load(params->device_key_path, device);
    }
    if (st != PLMM_OK)
        return st;
    if (params->key != NULL) {
        memcpy(key, params->key, PLMM_LEDGER_KEY_BYTES);
        return PLMM_OK;
    }
    if (params->key_path == NULL) {
        sign_key_wipe(device);
        return plmm_err(PLMM_ERR_CONFIG, "no ledger encryption key (vault key or [ledger] "
                                         "key_file)");
    }
    int fd = open(params->key_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        randombytes_buf(key, PLMM_LEDGER_KEY_BYTES);
        fd = open(params->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 &&
            (write(fd, key, PLMM_LEDGER_KEY_BYTES) != PLMM_LEDGER_KEY_BYTES || fsync(fd) != 0)) {
            st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", params->key_path, strerror(errno));
            close(fd);
            unlink(params->key_path);
            goto fail;
        }
        if (fd >= 0) {
            close(fd);
            return PLMM_OK;
        }
    }
    if (fd < 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot open key file '%s': %s", params->key_path,
                      strerror(errno));
        goto fail;
    }
    uint8_t buf[PLMM_LEDGER_KEY_BYTES + 1];
    ssize_t r = read(fd, buf, sizeof(buf));
    close(fd);
    memcpy(key, buf, PLMM_LEDGER_KEY_BYTES);
    sodium_memzero(buf, sizeof(buf));
    if (r != PLMM_LEDGER_KEY_BYTES) {
        st = plmm_err(PLMM_ERR_FORMAT, "key file '%s' must hold exactly %d bytes", params->key_path,
                      PLMM_LEDGER_KEY_BYTES);
        goto fail;
    }
    return PLMM_OK;
fail:
    sodium_memzero(key, PLMM_LEDGER_KEY_BYTES);
    sign_key_wipe(device);
    return st;
}

/* ---- records ---- */

static void make_ad(const ledger_store *s, uint64_t seq, uint8_t ad[LEDGER_HEADER_BYTES + 8])
{
    memcpy(ad, s->header, LEDGER_HEADER_BYTES);
    for (int i = 0; i < 8; i++)
        ad[LEDGER_HEADER_BYTES + i] = (uint8_t)(seq >> (8 * i));
}

plmm_status ledger_store_seal(const ledger_store *s, uint64_t seq, const uint8_t *plain, size_t len,
                              uint8_t **out, size_t *out_len)
{
    uint8_t ad[LEDGER_HEADER_BYTES + 8];
    if (len + MAC_BYTES > LEDGER_RECORD_MAX)
        return plmm_err(PLMM_ERR_RANGE, "ledger entry of %zu bytes is too large", len);
    size_t total = 4 + NONCE_BYTES + len + MAC_BYTES;
    uint8_t *rec = malloc(total);
    if (rec == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    uint32_t ct_len = (uint32_t)(len + MAC_BYTES);
    for (int i = 0; i < 4; i++)
        rec[i] = (uint8_t)(ct_len >> (8 * i));
    randombytes_buf(rec + 4, NONCE_BYTES);
    make_ad(s, seq, ad);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(rec + 4 + NONCE_BYTES, &clen, plain, len, ad,
                                               sizeof(ad), NULL, rec + 4, s->key);
    *out = rec;
    *out_len = total;
    return PLMM_OK;
}

/* Verify one decrypted record (signature | body) as entry seq. */
static plmm_status check_entry(ledger_store *s, uint64_t seq, const uint8_t *plain, size_t len)
{
    char prev[2 * LEDGER_HASH_BYTES + 1];
    if (len <= SIGN_SIG_BYTES)
        return plmm_err(PLMM_ERR_FORMAT, "entry %llu: too short", (unsigned long long)seq);
    const uint8_t *body = plain + SIGN_SIG_BYTES;
    size_t body_len = len - SIGN_SIG_BYTES;
    if (crypto_sign_verify_detached(plain, body, body_len, s->device.pk) != 0)
        return plmm_err(PLMM_ERR_AUTH,
                        "entry %llu: device signature invalid (entry forged or "
                        "altered)",
                        (unsigned long long)seq);
    json_t *j = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "entry %llu: body is not JSON", (unsigned long long)seq);
    json_int_t got = json_integer_value(json_object_get(j, "seq"));
    const char *p = json_string_value(json_object_get(j, "prev"));
    sign_hex(s->last_hash, LEDGER_HASH_BYTES, prev);
    plmm_status st = PLMM_OK;
    if ((uint64_t)got != seq)
        st = plmm_err(PLMM_ERR_AUTH,
                      "entry %llu: holds sequence number %lld (entries deleted, inserted or "
                      "reordered)",
                      (unsigned long long)seq, (long long)got);
    else if (p == NULL || strcmp(p, prev) != 0)
        st = plmm_err(PLMM_ERR_AUTH,
                      "entry %llu: previous-hash link broken (an entry before it was changed, "
                      "removed or inserted)",
                      (unsigned long long)seq);
    json_decref(j);
    if (st == PLMM_OK)
        crypto_hash_sha256(s->last_hash, body, body_len);
    return st;
}

/* ---- head ---- */

static plmm_status write_head(ledger_store *s)
{
    char hash[2 * LEDGER_HASH_BYTES + 1], msg[160], sighex[2 * SIGN_SIG_BYTES + 1], line[320];
    uint8_t sig[SIGN_SIG_BYTES];
    sign_hex(s->last_hash, LEDGER_HASH_BYTES, hash);
    int n = snprintf(msg, sizeof(msg), HEAD_TAG " %llu %s", (unsigned long long)s->n, hash);
    crypto_sign_detached(sig, NULL, (const uint8_t *)msg, (size_t)n, s->device.sk);
    sign_hex(sig, sizeof(sig), sighex);
    n = snprintf(line, sizeof(line), "%s %s\n", msg, sighex);
    return sign_write_atomic(s->head_path, line, (size_t)n, 0600);
}

/* Read the signed head: *seq and hash; 0 when there is no head file. */
static plmm_status read_head(const ledger_store *s, uint64_t *seq, uint8_t hash[LEDGER_HASH_BYTES])
{
    char *text, tag[32], hhex[80], sighex[160], msg[160];
    unsigned long long n;
    size_t len;
    uint8_t sig[SIGN_SIG_BYTES];
    *seq = 0;
    plmm_status st = sign_read_file(s->head_path, 4096, &text, &len);
    if (st == PLMM_ERR_NOT_FOUND) {
        plmm_err_clear();
        return PLMM_OK;
    }
    if (st != PLMM_OK)
        return st;
    int k = sscanf(text, "%31s %llu %79s %159s", tag, &n, hhex, sighex);
    free(text);
    if (k != 4 || strcmp(tag, HEAD_TAG) != 0 || !sign_unhex(hhex, hash, LEDGER_HASH_BYTES) ||
        !sign_unhex(sighex, sig, sizeof(sig)))
        return plmm_err(PLMM_ERR_FORMAT, "'%s' is not a ledger head", s->head_path);
    int m = snprintf(msg, sizeof(msg), HEAD_TAG " %llu %s", n, hhex);
    if (crypto_sign_verify_detached(sig, (const uint8_t *)msg, (size_t)m, s->device.pk) != 0)
        return plmm_err(PLMM_ERR_AUTH, "'%s': head signature invalid", s->head_path);
    *seq = n;
    return PLMM_OK;
}

/* ---- open ---- */

static plmm_status read_exact(int fd, off_t off, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + *got, n - *got, off + (off_t)*got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return plmm_err(PLMM_ERR_IO, "cannot read ledger: %s", strerror(errno));
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return PLMM_OK;
}

static plmm_status create_file(ledger_store *s)
{
    memcpy(s->header, LEDGER_MAGIC, 8);
    randombytes_buf(s->header + 8, 16);
    memcpy(s->header + 24, s->device.pk, SIGN_PK_BYTES);
    return sign_write_atomic(s->path, s->header, LEDGER_HEADER_BYTES, 0600);
}

void ledger_store_close(ledger_store *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->head_path);
    sodium_memzero(s->key, sizeof(s->key));
    sign_key_wipe(&s->device);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

plmm_status ledger_store_open(ledger_store *s, const char *path,
                              const uint8_t key[PLMM_LEDGER_KEY_BYTES], const sign_key *device,
                              bool writable, ledger_entry_fn fn, void *user)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->device = *device;
    memcpy(s->key, key, PLMM_LEDGER_KEY_BYTES);
    size_t plen = strlen(path);
    s->path = strdup(path);
    s->head_path = malloc(plen + 6);
    plmm_status st = PLMM_OK;
    uint8_t *rec = NULL;
    if (s->path == NULL || s->head_path == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(s->head_path, plen + 6, "%s.head", path);
    if (writable && access(path, F_OK) != 0 && errno == ENOENT && (st = create_file(s)) != PLMM_OK)
        goto fail;
    s->fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (s->fd < 0) {
        st = plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO,
                      "cannot open ledger '%s': %s", path, strerror(errno));
        goto fail;
    }
    size_t got;
    if ((st = read_exact(s->fd, 0, s->header, LEDGER_HEADER_BYTES, &got)) != PLMM_OK)
        goto fail;
    if (got != LEDGER_HEADER_BYTES || memcmp(s->header, LEDGER_MAGIC, 8) != 0) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a plmm ledger", path);
        goto fail;
    }
    if (memcmp(s->header + 24, device->pk, SIGN_PK_BYTES) != 0) {
        st = plmm_err(PLMM_ERR_AUTH, "'%s' belongs to another device key (%s is not its signer)",
                      path, device->keyid);
        goto fail;
    }
    uint64_t head_seq;
    uint8_t head_hash[LEDGER_HASH_BYTES];
    if ((st = read_head(s, &head_seq, head_hash)) != PLMM_OK)
        goto fail;
    rec = malloc(LEDGER_RECORD_MAX + NONCE_BYTES);
    uint8_t *plain = malloc(LEDGER_RECORD_MAX);
    if (rec == NULL || plain == NULL) {
        free(plain);
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    off_t off = LEDGER_HEADER_BYTES;
    for (;;) {
        uint8_t lenb[4];
        uint64_t seq = s->n + 1;
        if ((st = read_exact(s->fd, off, lenb, 4, &got)) != PLMM_OK)
            break;
        if (got == 0)
            break; /* clean end */
        uint32_t ct_len = (uint32_t)lenb[0] | (uint32_t)lenb[1] << 8 | (uint32_t)lenb[2] << 16 |
                          (uint32_t)lenb[3] << 24;
        if (got < 4) {
            s->torn_tail = true;
            break;
        }
        if (ct_len <= MAC_BYTES || ct_len > LEDGER_RECORD_MAX) {
            st = plmm_err(PLMM_ERR_FORMAT, "entry %llu: bad record length %u",
                          (unsigned long long)seq, ct_len);
            break;
        }
        if ((st = read_exact(s->fd, off + 4, rec, NONCE_BYTES + ct_len, &got)) != PLMM_OK)
            break;
        if (got < NONCE_BYTES + ct_len) {
            s->torn_tail = true; /* a crash during the last append */
            break;
        }
        uint8_t ad[LEDGER_HEADER_BYTES + 8];
        unsigned long long plain_len;
        make_ad(s, seq, ad);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL, rec + NONCE_BYTES,
                                                       ct_len, ad, sizeof(ad), rec, s->key) != 0) {
            st = plmm_err(PLMM_ERR_AUTH,
                          "entry %llu: cannot decrypt (modified, moved, inserted, or wrong key)",
                          (unsigned long long)seq);
            break;
        }
        if ((st = check_entry(s, seq, plain, (size_t)plain_len)) != PLMM_OK)
            break;
        if (seq == head_seq && sodium_memcmp(head_hash, s->last_hash, LEDGER_HASH_BYTES) != 0) {
            st = plmm_err(PLMM_ERR_AUTH, "entry %llu: differs from the signed head",
                          (unsigned long long)seq);
            break;
        }
        s->n = seq;
        off += (off_t)(4 + NONCE_BYTES + ct_len);
        if (fn != NULL) {
            plain[plain_len] = '\0';
            const char *body = (const char *)plain + SIGN_SIG_BYTES;
            if ((st = fn(user, seq, body, (size_t)plain_len - SIGN_SIG_BYTES)) != PLMM_OK)
                break;
        }
    }
    sodium_memzero(plain, LEDGER_RECORD_MAX);
    free(plain);
    if (st != PLMM_OK)
        goto fail;
    if (head_seq > s->n) {
        st = plmm_err(PLMM_ERR_AUTH,
                      "entry %llu: missing (the signed head records %llu entries; the log was cut)",
                      (unsigned long long)s->n + 1, (unsigned long long)head_seq);
        goto fail;
    }
    s->end = off;
    if (writable && s->torn_tail &&
        (flock(s->fd, LOCK_EX) != 0 || ftruncate(s->fd, off) != 0 || flock(s->fd, LOCK_UN) != 0)) {
        st = plmm_err(PLMM_ERR_IO, "cannot cut the incomplete last record of '%s': %s", path,
                      strerror(errno));
        goto fail;
    }
    if (!writable) {
        close(s->fd);
        s->fd = -1;
    }
    free(rec);
    return PLMM_OK;
fail:
    free(rec);
    ledger_store_close(s);
    return st;
}

/* ---- append ---- */

plmm_status ledger_store_append(ledger_store *s, json_t *body, char **text)
{
    char prev[2 * LEDGER_HASH_BYTES + 1];
    uint8_t *plain = NULL, *rec = NULL;
    size_t rec_len;
    if (text)
        *text = NULL;
    if (s->fd < 0 || !s->device.has_secret)
        return plmm_err(PLMM_ERR_INVALID_ARG, "ledger is not open for writing");
    sign_hex(s->last_hash, LEDGER_HASH_BYTES, prev);
    if (json_object_set_new(body, "seq", json_integer((json_int_t)(s->n + 1))) != 0 ||
        json_object_set_new(body, "prev", json_string(prev)) != 0)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    char *b = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (b == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    size_t blen = strlen(b);
    plmm_status st = PLMM_OK;
    plain = malloc(SIGN_SIG_BYTES + blen);
    if (plain == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    crypto_sign_detached(plain, NULL, (const uint8_t *)b, blen, s->device.sk);
    memcpy(plain + SIGN_SIG_BYTES, b, blen);
    if ((st = ledger_store_seal(s, s->n + 1, plain, SIGN_SIG_BYTES + blen, &rec, &rec_len)) !=
        PLMM_OK)
        goto out;
    /* Writers in other processes: one append at a time, and none may have
     * appended since this handle read the log. */
    struct stat sb;
    if (flock(s->fd, LOCK_EX) != 0 || fstat(s->fd, &sb) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot lock ledger '%s': %s", s->path, strerror(errno));
        goto out;
    }
    if (sb.st_size != s->end) {
        flock(s->fd, LOCK_UN);
        st = plmm_err(PLMM_ERR_IO,
                      "ledger '%s' was changed by another process since it was opened; open it "
                      "again",
                      s->path);
        goto out;
    }
    /* One write at the end: a crash leaves at most this record incomplete. */
    ssize_t w = pwrite(s->fd, rec, rec_len, s->end);
    if (w != (ssize_t)rec_len || fdatasync(s->fd) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot append to ledger '%s': %s", s->path,
                      w < 0 ? strerror(errno) : "short write");
        if (ftruncate(s->fd, s->end) != 0)
            st = plmm_err(PLMM_ERR_IO, "cannot append to ledger '%s' nor undo: %s", s->path,
                          strerror(errno));
        flock(s->fd, LOCK_UN);
        goto out;
    }
    s->end += (off_t)rec_len;
    s->n++;
    crypto_hash_sha256(s->last_hash, (const uint8_t *)b, blen);
    st = write_head(s);
    flock(s->fd, LOCK_UN);
    if (st == PLMM_OK && text != NULL) {
        *text = b;
        b = NULL;
    }
out:
    free(rec);
    free(plain);
    free(b);
    return st;
}
