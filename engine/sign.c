/*
 * Ed25519 key files, hex, time stamps and atomic file writes shared by the
 * update client, the ledger and plmm-sign.
 */
#include "sign.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SECRET_TAG "plmm-ed25519-secret"
#define PUBLIC_TAG "plmm-ed25519-public"

plmm_status sign_init(void)
{
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    return PLMM_OK;
}

void sign_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool sign_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void sign_keyid_of(const uint8_t pk[SIGN_PK_BYTES], char keyid[PLMM_KEYID_SIZE])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, pk, SIGN_PK_BYTES);
    sign_hex(h, 8, keyid);
}

void sign_key_wipe(sign_key *key)
{
    sodium_memzero(key, sizeof(*key));
}

plmm_status sign_read_file(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO, "cannot open '%s': %s",
                        path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    plmm_status st = PLMM_OK;
    if (buf == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory reading '%s'", path);
        goto out_close;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                st = plmm_err(PLMM_ERR_FORMAT, "'%s' is larger than %zu bytes", path, max);
                goto out_close;
            }
            cap = cap * 2 > max ? max : cap * 2;
            char *p = realloc(buf, cap + 1);
            if (p == NULL) {
                st = plmm_err(PLMM_ERR_NOMEM, "out of memory reading '%s'", path);
                goto out_close;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                st = plmm_err(PLMM_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
    }
out_close:
    fclose(f);
    if (st != PLMM_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return PLMM_OK;
}

plmm_status sign_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        return plmm_err(PLMM_ERR_IO, "cannot sync directory '%s': %s", dir, strerror(e));
    return PLMM_OK;
}

static void dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, size, ".");
    } else if (slash == path) {
        snprintf(dir, size, "/");
    } else {
        size_t n = (size_t)(slash - path);
        snprintf(dir, size, "%.*s", (int)(n < size ? n : size - 1), path);
    }
}

plmm_status sign_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return plmm_err(PLMM_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    dir_of(path, dir, sizeof(dir));
    return sign_fsync_dir(dir);
}

/* ---- key files ---- */

plmm_status sign_key_load(const char *path, sign_key *key)
{
    char *text;
    size_t len;
    memset(key, 0, sizeof(*key));
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    if ((st = sign_read_file(path, 4096, &text, &len)) != PLMM_OK)
        return st;
    char tag[32], hex[2 * SIGN_SK_BYTES + 2];
    st = PLMM_OK;
    if (sscanf(text, "%31s %129s", tag, hex) != 2) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a plmm key file", path);
    } else if (strcmp(tag, SECRET_TAG) == 0) {
        if (!sign_unhex(hex, key->sk, SIGN_SK_BYTES)) {
            st = plmm_err(PLMM_ERR_FORMAT, "'%s': secret key is not 128 hex digits", path);
        } else {
            crypto_sign_ed25519_sk_to_pk(key->pk, key->sk);
            key->has_secret = true;
        }
    } else if (strcmp(tag, PUBLIC_TAG) == 0) {
        if (!sign_unhex(hex, key->pk, SIGN_PK_BYTES))
            st = plmm_err(PLMM_ERR_FORMAT, "'%s': public key is not 64 hex digits", path);
    } else {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a plmm key file (starts with '%s')", path, tag);
    }
    sodium_memzero(hex, sizeof(hex));
    sodium_memzero(text, len);
    free(text);
    if (st == PLMM_OK)
        sign_keyid_of(key->pk, key->keyid);
    else
        sign_key_wipe(key);
    return st;
}

plmm_status sign_key_save(const sign_key *key, const char *secret_path, const char *public_path)
{
    char line[sizeof(SECRET_TAG) + 2 * SIGN_SK_BYTES + 4];
    char hex[2 * SIGN_SK_BYTES + 1];
    plmm_status st = PLMM_OK;
    int fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", secret_path, strerror(errno));
    sign_hex(key->sk, SIGN_SK_BYTES, hex);
    int n = snprintf(line, sizeof(line), "%s %s\n", SECRET_TAG, hex);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", secret_path, strerror(errno));
        close(fd);
        unlink(secret_path);
        goto out;
    }
    close(fd);
    sign_hex(key->pk, SIGN_PK_BYTES, hex);
    n = snprintf(line, sizeof(line), "%s %s\n", PUBLIC_TAG, hex);
    if ((st = sign_write_atomic(public_path, line, (size_t)n, 0644)) != PLMM_OK)
        unlink(secret_path);
out:
    sodium_memzero(line, sizeof(line));
    sodium_memzero(hex, sizeof(hex));
    return st;
}

PLMM_EXPORT plmm_status plmm_sign_keygen(const char *secret_path, const char *public_path,
                                         char keyid[PLMM_KEYID_SIZE])
{
    sign_key key;
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    memset(&key, 0, sizeof(key));
    crypto_sign_keypair(key.pk, key.sk);
    key.has_secret = true;
    sign_keyid_of(key.pk, key.keyid);
    st = sign_key_save(&key, secret_path, public_path);
    if (st == PLMM_OK && keyid != NULL)
        memcpy(keyid, key.keyid, PLMM_KEYID_SIZE);
    sign_key_wipe(&key);
    return st;
}

PLMM_EXPORT plmm_status plmm_sign_keyid(const char *key_path, char keyid[PLMM_KEYID_SIZE])
{
    sign_key key;
    plmm_status st = sign_key_load(key_path, &key);
    if (st == PLMM_OK)
        memcpy(keyid, key.keyid, PLMM_KEYID_SIZE);
    sign_key_wipe(&key);
    return st;
}

/* ---- time ---- */

void sign_time_format(int64_t t, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%lld", (long long)t);
}

bool sign_time_parse(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}
