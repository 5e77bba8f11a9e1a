#include "blobcache.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_header {
    char magic[8];
    uint32_t version;
    uint32_t key_len;
    uint64_t payload_size;
    uint8_t checksum[32];
} file_header;

PLMM_STATIC_ASSERT(sizeof(file_header) == 56, "blob cache header layout");

plmm_status plmm_blobcache_dir(const char *dir, char *out, size_t size)
{
    int n;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (dir != NULL && dir[0] != '\0')
        n = snprintf(out, size, "%s", dir);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "%s/plmm", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, size, "%s/.cache/plmm", home);
    else
        return plmm_err(PLMM_ERR_CONFIG, "no cache directory: set engine.cache_dir "
                                         "(XDG_CACHE_HOME and HOME are unset)");
    if (n < 0 || (size_t)n >= size)
        return plmm_err(PLMM_ERR_CONFIG, "cache directory path is too long");
    return PLMM_OK;
}

plmm_status plmm_blobcache_path(const char *dir, const char *key, char *out, size_t size)
{
    uint8_t d[16];
    char hex[33];
    crypto_generichash(d, sizeof(d), (const unsigned char *)key, strlen(key), NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
    int n = snprintf(out, size, "%s/%s.blob", dir, hex);
    if (n < 0 || (size_t)n >= size)
        return plmm_err(PLMM_ERR_CONFIG, "cache path under '%s' is too long", dir);
    return PLMM_OK;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static plmm_status make_dirs(const char *dir)
{
    char p[4096];
    int n = snprintf(p, sizeof(p), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(p))
        return plmm_err(PLMM_ERR_CONFIG, "cache directory path is too long");
    for (char *c = p + 1;; c++) {
        bool end = *c == '\0';
        if (*c != '/' && !end)
            continue;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return plmm_err(PLMM_ERR_IO, "cannot create cache directory '%s': %s", p,
                            strerror(errno));
        if (end)
            break;
        *c = '/';
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return plmm_err(PLMM_ERR_IO, "cache directory '%s' is not a directory", dir);
    return PLMM_OK;
}

static bool read_all(int fd, void *dst, size_t n)
{
    uint8_t *p = dst;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static bool write_all(int fd, const void *src, size_t n)
{
    const uint8_t *p = src;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

plmm_status plmm_blobcache_read(const char *dir, const char *key, void **out, uint64_t *size)
{
    char path[4200];
    plmm_status st;
    *out = NULL;
    *size = 0;
    if ((st = plmm_blobcache_path(dir, key, path, sizeof(path))) != PLMM_OK)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? plmm_err(PLMM_ERR_NOT_FOUND, "no cached blob '%s'", path)
                   : plmm_err(PLMM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    file_header h;
    const size_t key_len = strlen(key);
    char *stored = NULL;
    uint8_t *payload = NULL;
    if (fstat(fd, &sb) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto out_close;
    }
    if ((uint64_t)sb.st_size < sizeof(h) || !read_all(fd, &h, sizeof(h))) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is truncated (%lld bytes, shorter than its header)",
                      path, (long long)sb.st_size);
        goto out_close;
    }
    if (memcmp(h.magic, PLMM_BLOBCACHE_MAGIC, 8) != 0 || h.version != PLMM_BLOBCACHE_VERSION) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a blob cache file of format %u", path,
                      PLMM_BLOBCACHE_VERSION);
        goto out_close;
    }
    if (h.key_len != key_len || h.key_len > PLMM_BLOBCACHE_MAX_KEY ||
        h.payload_size > (uint64_t)sb.st_size ||
        (uint64_t)sb.st_size != sizeof(h) + h.key_len + h.payload_size) {
        st = plmm_err(PLMM_ERR_FORMAT,
                      "'%s': size %lld does not match its header (truncated "
                      "or another key)",
                      path, (long long)sb.st_size);
        goto out_close;
    }
    stored = malloc(key_len + 1);
    payload = malloc(h.payload_size ? (size_t)h.payload_size : 1);
    if (stored == NULL || payload == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "cannot allocate %llu bytes for '%s'",
                      (unsigned long long)h.payload_size, path);
        goto out_free;
    }
    if (!read_all(fd, stored, key_len) || !read_all(fd, payload, (size_t)h.payload_size)) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is truncated", path);
        goto out_free;
    }
    if (memcmp(stored, key, key_len) != 0) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' holds another compatibility key", path);
        goto out_free;
    }
    uint8_t sum[32];
    crypto_generichash(sum, sizeof(sum), payload, h.payload_size, NULL, 0);
    if (sodium_memcmp(sum, h.checksum, sizeof(sum)) != 0) {
        st = plmm_err(PLMM_ERR_FORMAT, "'%s': payload checksum mismatch (corrupt file)", path);
        goto out_free;
    }
    free(stored);
    close(fd);
    *out = payload;
    *size = h.payload_size;
    return PLMM_OK;

out_free:
    free(stored);
    free(payload);
out_close:
    close(fd);
    return st;
}

plmm_status plmm_blobcache_write(const char *dir, const char *key, const void *blob, uint64_t size)
{
    char path[4200], tmp[4300];
    plmm_status st;
    const size_t key_len = strlen(key);
    if (key_len == 0 || key_len > PLMM_BLOBCACHE_MAX_KEY)
        return plmm_err(PLMM_ERR_INVALID_ARG, "compatibility key of %zu bytes (1..%u allowed)",
                        key_len, PLMM_BLOBCACHE_MAX_KEY);
    if ((st = make_dirs(dir)) != PLMM_OK ||
        (st = plmm_blobcache_path(dir, key, path, sizeof(path))) != PLMM_OK)
        return st;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%08x", path, (long)getpid(), randombytes_random());
    file_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, PLMM_BLOBCACHE_MAGIC, 8);
    h.version = PLMM_BLOBCACHE_VERSION;
    h.key_len = (uint32_t)key_len;
    h.payload_size = size;
    crypto_generichash(h.checksum, sizeof(h.checksum), blob, size, NULL, 0);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    bool ok = write_all(fd, &h, sizeof(h)) && write_all(fd, key, key_len) &&
              write_all(fd, blob, (size_t)size) && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        unlink(tmp);
        return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", path, strerror(err));
    }
    return PLMM_OK;
}
