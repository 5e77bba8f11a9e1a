/*
 * The update client: trusted root (with rotation), per-expert rollback
 * protection, streamed and hashed downloads into a temporary directory,
 * and the switch to the new version by renaming one symlink.
 */
#include "errors.h"
#include "update_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_FILE (64ull << 30)

struct plmm_updater {
    char *install_dir;
    char *ca_file;
    char *anchor_path; /* root from the INI file, until .trust holds one */
    int64_t now;
    uint64_t max_file_size;
    sign_root root;
};

/* ---- small file helpers ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static plmm_status mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return plmm_err(PLMM_ERR_IO, "cannot create directory '%s': %s", buf,
                                strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return PLMM_OK;
}

static int path_fmt(char *buf, size_t size, const char *fmt, ...) PLMM_PRINTF(3, 4);

static int path_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* Version a "current"/"previous" link points at (versions/V), or 0. */
static uint64_t link_version(const char *link)
{
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    char *end;
    unsigned long long v = strtoull(slash ? slash + 1 : target, &end, 10);
    return *end == '\0' ? (uint64_t)v : 0;
}

/* Point link at versions/V with one rename (temp link beside it). */
static plmm_status switch_link(const char *dir, const char *name, uint64_t version)
{
    char link[PATH_MAX], tmp[PATH_MAX], target[64];
    snprintf(target, sizeof(target), "versions/%llu", (unsigned long long)version);
    if (path_fmt(link, sizeof(link), "%s/%s", dir, name) != 0 ||
        path_fmt(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", dir);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return plmm_err(PLMM_ERR_IO, "cannot create link '%s': %s", tmp, strerror(errno));
    if (rename(tmp, link) != 0) {
        int e = errno;
        unlink(tmp);
        return plmm_err(PLMM_ERR_IO, "cannot switch '%s': %s", link, strerror(e));
    }
    return sign_fsync_dir(dir);
}

/* ---- per-expert trust state: the highest version ever accepted ---- */

static uint64_t trusted_version(const char *expert_dir)
{
    char path[PATH_MAX], *text;
    size_t len;
    if (path_fmt(path, sizeof(path), "%s/trusted.json", expert_dir) != 0)
        return 0;
    if (sign_read_file(path, 4096, &text, &len) != PLMM_OK)
        return 0;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    uint64_t v = (uint64_t)json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    return v;
}

static plmm_status save_trusted(const char *expert_dir, uint64_t version, const char *sha)
{
    char path[PATH_MAX], text[256];
    if (path_fmt(path, sizeof(path), "%s/trusted.json", expert_dir) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", expert_dir);
    int n = snprintf(text, sizeof(text), "{\"version\": %llu, \"manifest_sha256\": \"%s\"}\n",
                     (unsigned long long)version, sha);
    return sign_write_atomic(path, text, (size_t)n, 0644);
}

/* ---- open / close ---- */

PLMM_EXPORT plmm_status plmm_updater_open(const plmm_updater_params *params, plmm_updater **out)
{
    char trust[PATH_MAX];
    *out = NULL;
    if (params->struct_size < sizeof(*params))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_updater_params.struct_size is %u, need %zu",
                        params->struct_size, sizeof(*params));
    if (params->install_dir == NULL || params->install_dir[0] == '\0')
        return plmm_err(PLMM_ERR_CONFIG, "no experts directory ([update] experts_dir)");
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    plmm_updater *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    u->install_dir = strdup(params->install_dir);
    u->ca_file = params->ca_file ? strdup(params->ca_file) : NULL;
    u->now = params->now;
    u->max_file_size = params->max_file_size ? params->max_file_size : DEFAULT_MAX_FILE;
    if (u->install_dir == NULL || (params->ca_file != NULL && u->ca_file == NULL)) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (path_fmt(trust, sizeof(trust), "%s/.trust/root.json", u->install_dir) != 0) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
        goto fail;
    }
    /* An expired trusted root still verifies its successor (rotation);
     * fetch_manifest() refuses to use it for anything else. */
    if (access(trust, F_OK) == 0) {
        st = sign_root_load_trusted(trust, -1, &u->root);
    } else if (params->root_path != NULL && params->root_path[0] != '\0') {
        st = sign_root_load_trusted(params->root_path, -1, &u->root);
        if (st == PLMM_OK && (u->anchor_path = strdup(params->root_path)) == NULL)
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    } else {
        st = plmm_err(PLMM_ERR_CONFIG, "no trusted root: set [update] root to the publisher's "
                                       "root.json");
    }
    if (st != PLMM_OK)
        goto fail;
    *out = u;
    return PLMM_OK;
fail:
    plmm_updater_close(u);
    return st;
}

PLMM_EXPORT void plmm_updater_close(plmm_updater *u)
{
    if (u == NULL)
        return;
    sign_root_free(&u->root);
    free(u->install_dir);
    free(u->ca_file);
    free(u->anchor_path);
    free(u);
}

/* ---- root rotation ---- */

/* SOURCE/root.json, when present and newer than the trusted root, must be
 * its valid successor; it is then persisted and used. */
static plmm_status refresh_root(plmm_updater *u, const char *source)
{
    char *text, trust_dir[PATH_MAX], trust[PATH_MAX], where[PATH_MAX + 16];
    size_t len;
    sign_envelope env;
    sign_root next, peek;
    plmm_status st =
        update_fetch_mem(source, "root.json", u->ca_file, UPDATE_MANIFEST_MAX, &text, &len);
    if (st == PLMM_ERR_NOT_FOUND) {
        plmm_err_clear();
        return PLMM_OK;
    }
    if (st != PLMM_OK)
        return st;
    snprintf(where, sizeof(where), "%s/root.json", source);
    st = sign_envelope_parse(text, len, where, &env);
    if (st != PLMM_OK)
        goto out_text;
    if ((st = sign_root_parse(&env, where, &peek)) != PLMM_OK)
        goto out_env;
    uint64_t v = peek.version;
    sign_root_free(&peek);
    if (v <= u->root.version)
        goto out_env; /* same or older: nothing to rotate to */
    if ((st = sign_root_rotate(&u->root, &env, where, u->now, &next)) != PLMM_OK)
        goto out_env;
    if (path_fmt(trust_dir, sizeof(trust_dir), "%s/.trust", u->install_dir) != 0 ||
        path_fmt(trust, sizeof(trust), "%s/root.json", trust_dir) != 0) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
        sign_root_free(&next);
        goto out_env;
    }
    if ((st = mkdir_p(trust_dir, 0755)) == PLMM_OK)
        st = sign_write_atomic(trust, text, len, 0644);
    if (st == PLMM_OK) {
        sign_root_free(&u->root);
        u->root = next;
        free(u->anchor_path);
        u->anchor_path = NULL;
    } else {
        sign_root_free(&next);
    }
out_env:
    sign_envelope_free(&env);
out_text:
    free(text);
    return st;
}

/* Persist the trust anchor the first time anything is installed, so later
 * rotations have a base that an edited INI file cannot silently replace. */
static plmm_status pin_root_if_needed(plmm_updater *u)
{
    char trust_dir[PATH_MAX], trust[PATH_MAX], *text;
    size_t len;
    if (path_fmt(trust_dir, sizeof(trust_dir), "%s/.trust", u->install_dir) != 0 ||
        path_fmt(trust, sizeof(trust), "%s/root.json", trust_dir) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
    if (access(trust, F_OK) == 0 || u->anchor_path == NULL)
        return PLMM_OK;
    plmm_status st = sign_read_file(u->anchor_path, UPDATE_MANIFEST_MAX, &text, &len);
    if (st != PLMM_OK)
        return st;
    if ((st = mkdir_p(trust_dir, 0755)) == PLMM_OK)
        st = sign_write_atomic(trust, text, len, 0644);
    free(text);
    return st;
}

/* ---- fetching the manifest ---- */

typedef struct fetched_manifest {
    update_manifest m;
    char *text;
    size_t len;
    char sha[2 * crypto_hash_sha256_BYTES + 1];
} fetched_manifest;

static void fetched_free(fetched_manifest *f)
{
    update_manifest_free(&f->m);
    free(f->text);
    memset(f, 0, sizeof(*f));
}

static plmm_status fetch_manifest(plmm_updater *u, const char *source, const char *expert,
                                  fetched_manifest *f)
{
    char rel[128], where[PATH_MAX + 160], what[PATH_MAX + 200];
    sign_envelope env;
    uint8_t h[crypto_hash_sha256_BYTES];
    memset(f, 0, sizeof(*f));
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    plmm_status st = refresh_root(u, source);
    if (st != PLMM_OK)
        return st;
    snprintf(what, sizeof(what), "trusted root version %llu (and the source offers no newer one)",
             (unsigned long long)u->root.version);
    if ((st = sign_check_expiry(u->root.expires, u->now, what)) != PLMM_OK)
        return st;
    snprintf(rel, sizeof(rel), "%s.manifest.json", expert);
    snprintf(where, sizeof(where), "%s/%s", source, rel);
    if ((st = update_fetch_mem(source, rel, u->ca_file, UPDATE_MANIFEST_MAX, &f->text, &f->len)) !=
        PLMM_OK)
        return st;
    if ((st = sign_envelope_parse(f->text, f->len, where, &env)) != PLMM_OK)
        goto fail;
    /* Signatures first: nothing in an unverified payload is believed. */
    snprintf(what, sizeof(what), "manifest '%s'", where);
    if (strcmp(env.type, PLMM_PAYLOAD_MANIFEST) != 0)
        st = plmm_err(PLMM_ERR_FORMAT, "'%s' is a '%s', not a bundle manifest", where, env.type);
    else if ((st = sign_root_check(&u->root, &env, what)) == PLMM_OK &&
             (st = update_manifest_parse(&env, where, &f->m)) == PLMM_OK)
        st = update_manifest_verify(&f->m, &env, &u->root, expert, u->now, where);
    sign_envelope_free(&env);
    if (st != PLMM_OK)
        goto fail;
    crypto_hash_sha256(h, (const uint8_t *)f->text, f->len);
    sign_hex(h, sizeof(h), f->sha);
    return PLMM_OK;
fail:
    fetched_free(f);
    return st;
}

/* ---- check ---- */

PLMM_EXPORT plmm_status plmm_updater_check(plmm_updater *u, const char *source, const char *expert,
                                           uint64_t *available, uint64_t *installed, char **report)
{
    fetched_manifest f;
    char dir[PATH_MAX], cur[PATH_MAX], line[512], t[32];
    if (available)
        *available = 0;
    if (installed)
        *installed = 0;
    if (report)
        *report = NULL;
    plmm_status st = fetch_manifest(u, source, expert, &f);
    if (st != PLMM_OK)
        return st;
    if (path_fmt(dir, sizeof(dir), "%s/%s", u->install_dir, expert) != 0 ||
        path_fmt(cur, sizeof(cur), "%s/current", dir) != 0) {
        fetched_free(&f);
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
    }
    uint64_t inst = link_version(cur), trusted = trusted_version(dir);
    sign_time_format(f.m.expires, t);
    if (f.m.version < trusted)
        st = plmm_err(PLMM_ERR_DENIED,
                      "expert '%s': source offers version %llu, older than trusted version %llu "
                      "(rollback refused)",
                      expert, (unsigned long long)f.m.version, (unsigned long long)trusted);
    snprintf(line, sizeof(line), "%s: available %llu (expires %s, %u files), installed %llu%s\n",
             expert, (unsigned long long)f.m.version, t, f.m.n_files, (unsigned long long)inst,
             f.m.version > inst ? ", update available" : ", up to date");
    if (available)
        *available = f.m.version;
    if (installed)
        *installed = inst;
    if (st == PLMM_OK && report != NULL && (*report = strdup(line)) == NULL)
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
    fetched_free(&f);
    return st;
}

/* ---- install ---- */

typedef struct file_sink {
    int fd;
    const char *path;
    crypto_hash_sha256_state h;
    uint64_t got;
} file_sink;

static plmm_status file_write(void *user, const uint8_t *data, size_t len)
{
    file_sink *s = user;
    crypto_hash_sha256_update(&s->h, data, len);
    s->got += len;
    while (len > 0) {
        ssize_t w = write(s->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", s->path,
                            w < 0 ? strerror(errno) : "no space left");
        data += w;
        len -= (size_t)w;
    }
    return PLMM_OK;
}

/* Try the same path in the installed version (local_dir): when it has the
 * signed size and hash, the file is copied instead of downloaded again. On
 * a mismatch the sink is reset for the download. */
static bool reuse_local(const char *local_dir, const update_file *uf, file_sink *s)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state copy;
    if (local_dir == NULL)
        return false;
    plmm_status st = update_fetch(local_dir, uf->path, NULL, uf->size, file_write, s);
    if (st == PLMM_OK && s->got == uf->size) {
        copy = s->h;
        crypto_hash_sha256_final(&copy, h);
        if (sodium_memcmp(h, uf->sha256, sizeof(h)) == 0)
            return true;
    }
    plmm_err_clear();
    if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
        return false;
    crypto_hash_sha256_init(&s->h);
    s->got = 0;
    return false;
}

static plmm_status install_file(plmm_updater *u, const char *source, const char *local_dir,
                                const char *tmp_dir, const update_file *uf)
{
    char dst[PATH_MAX], rel[128], hex[2 * crypto_hash_sha256_BYTES + 1], parent[PATH_MAX];
    if (uf->size > u->max_file_size)
        return plmm_err(PLMM_ERR_DENIED, "'%s' is %llu bytes, more than the %llu allowed", uf->path,
                        (unsigned long long)uf->size, (unsigned long long)u->max_file_size);
    sign_hex(uf->sha256, sizeof(uf->sha256), hex);
    snprintf(rel, sizeof(rel), "sha256-%s", hex); /* content-addressed, flat */
    if (path_fmt(dst, sizeof(dst), "%s/%s", tmp_dir, uf->path) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", uf->path);
    snprintf(parent, sizeof(parent), "%s", dst);
    *strrchr(parent, '/') = '\0';
    plmm_status st = mkdir_p(parent, 0755);
    if (st != PLMM_OK)
        return st;
    file_sink s;
    memset(&s, 0, sizeof(s));
    s.fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    s.path = dst;
    if (s.fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", dst, strerror(errno));
    crypto_hash_sha256_init(&s.h);
    if (!reuse_local(local_dir, uf, &s)) {
        st = update_fetch(source, rel, u->ca_file, uf->size, file_write, &s);
        if (st != PLMM_OK)
            plmm_err_prefix(st, "'%s'", uf->path);
    }
    if (st == PLMM_OK && s.got != uf->size)
        st = plmm_err(PLMM_ERR_AUTH, "'%s': truncated download, %llu of %llu bytes", uf->path,
                      (unsigned long long)s.got, (unsigned long long)uf->size);
    if (st == PLMM_OK) {
        uint8_t h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&s.h, h);
        if (sodium_memcmp(h, uf->sha256, sizeof(h)) != 0)
            st = plmm_err(PLMM_ERR_AUTH,
                          "'%s': SHA-256 differs from the signed manifest "
                          "(tampered or corrupted file)",
                          uf->path);
    }
    if (st == PLMM_OK && fsync(s.fd) != 0)
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", dst, strerror(errno));
    if (close(s.fd) != 0 && st == PLMM_OK)
        st = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", dst, strerror(errno));
    return st;
}

/* Remove versions other than current and previous. */
static void prune_versions(const char *dir, uint64_t keep_a, uint64_t keep_b)
{
    char vdir[PATH_MAX], path[PATH_MAX];
    if (path_fmt(vdir, sizeof(vdir), "%s/versions", dir) != 0)
        return;
    DIR *d = opendir(vdir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* ., .., crashed installs of other processes */
            continue;
        char *end;
        unsigned long long v = strtoull(e->d_name, &end, 10);
        if (*end != '\0' || v == keep_a || v == keep_b)
            continue;
        if (path_fmt(path, sizeof(path), "%s/%s", vdir, e->d_name) == 0)
            remove_tree(path);
    }
    closedir(d);
}

PLMM_EXPORT plmm_status plmm_updater_install(plmm_updater *u, const char *source,
                                             const char *expert, uint64_t *version)
{
    fetched_manifest f;
    char dir[PATH_MAX], vdir[PATH_MAX], tmp[PATH_MAX], final[PATH_MAX], cur[PATH_MAX],
        lock[PATH_MAX], mpath[PATH_MAX];
    if (version)
        *version = 0;
    plmm_status st = fetch_manifest(u, source, expert, &f);
    if (st != PLMM_OK)
        return st;
    if (path_fmt(dir, sizeof(dir), "%s/%s", u->install_dir, expert) != 0 ||
        path_fmt(vdir, sizeof(vdir), "%s/versions", dir) != 0 ||
        path_fmt(tmp, sizeof(tmp), "%s/.tmp-%llu-%ld", vdir, (unsigned long long)f.m.version,
                 (long)getpid()) != 0 ||
        path_fmt(final, sizeof(final), "%s/%llu", vdir, (unsigned long long)f.m.version) != 0 ||
        path_fmt(cur, sizeof(cur), "%s/current", dir) != 0 ||
        path_fmt(lock, sizeof(lock), "%s/.lock", dir) != 0 ||
        path_fmt(mpath, sizeof(mpath), "%s/.manifest.json", tmp) != 0) {
        st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
        goto out_manifest;
    }
    if ((st = mkdir_p(vdir, 0755)) != PLMM_OK)
        goto out_manifest;
    char *cur_real = NULL;
    int lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot lock '%s': %s", lock, strerror(errno));
        goto out_lock;
    }
    uint64_t inst = link_version(cur), trusted = trusted_version(dir);
    uint64_t prev = inst;
    if (f.m.version < trusted) {
        st = plmm_err(PLMM_ERR_DENIED,
                      "expert '%s': source offers version %llu, older than trusted version %llu "
                      "(rollback refused)",
                      expert, (unsigned long long)f.m.version, (unsigned long long)trusted);
        goto out_lock;
    }
    if (f.m.version == inst) {
        if (version)
            *version = inst; /* already current */
        goto out_lock;
    }
    /* Files unchanged since the installed version are copied from it. */
    cur_real = inst != 0 ? realpath(cur, NULL) : NULL;
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
        goto out_lock;
    }
    for (uint32_t i = 0; i < f.m.n_files && st == PLMM_OK; i++)
        st = install_file(u, source, cur_real, tmp, &f.m.files[i]);
    if (st == PLMM_OK)
        st = sign_write_atomic(mpath, f.text, f.len, 0644);
    if (st == PLMM_OK) {
        remove_tree(final); /* a same-numbered leftover that is not current */
        if (rename(tmp, final) != 0)
            st = plmm_err(PLMM_ERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
    }
    if (st != PLMM_OK) {
        remove_tree(tmp);
        goto out_lock;
    }
    if ((st = sign_fsync_dir(vdir)) != PLMM_OK ||
        (st = save_trusted(dir, f.m.version > trusted ? f.m.version : trusted, f.sha)) != PLMM_OK)
        goto out_lock;
    if ((st = pin_root_if_needed(u)) != PLMM_OK)
        goto out_lock;
    if (prev != 0 && (st = switch_link(dir, "previous", prev)) != PLMM_OK)
        goto out_lock;
    if ((st = switch_link(dir, "current", f.m.version)) != PLMM_OK)
        goto out_lock;
    prune_versions(dir, f.m.version, prev);
    if (version)
        *version = f.m.version;
out_lock:
    free(cur_real);
    if (lock_fd >= 0)
        close(lock_fd);
out_manifest:
    fetched_free(&f);
    return st;
}

/* ---- rollback, list ---- */

PLMM_EXPORT plmm_status plmm_updater_rollback(plmm_updater *u, const char *expert,
                                              uint64_t *version)
{
    char dir[PATH_MAX], cur[PATH_MAX], prev[PATH_MAX], vpath[PATH_MAX];
    if (version)
        *version = 0;
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    if (path_fmt(dir, sizeof(dir), "%s/%s", u->install_dir, expert) != 0 ||
        path_fmt(cur, sizeof(cur), "%s/current", dir) != 0 ||
        path_fmt(prev, sizeof(prev), "%s/previous", dir) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
    uint64_t c = link_version(cur), p = link_version(prev);
    if (c == 0)
        return plmm_err(PLMM_ERR_NOT_FOUND, "expert '%s' is not installed in '%s'", expert,
                        u->install_dir);
    if (p == 0 || p == c ||
        path_fmt(vpath, sizeof(vpath), "%s/versions/%llu", dir, (unsigned long long)p) != 0 ||
        access(vpath, F_OK) != 0)
        return plmm_err(PLMM_ERR_NOT_FOUND, "expert '%s' has no previous version to roll back to",
                        expert);
    plmm_status st = switch_link(dir, "previous", c);
    if (st == PLMM_OK)
        st = switch_link(dir, "current", p);
    if (st == PLMM_OK && version)
        *version = p;
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

PLMM_EXPORT plmm_status plmm_updater_list(plmm_updater *u, char **report)
{
    char *names[1024];
    size_t n = 0, cap = 4096, len = 0;
    char *out = malloc(cap);
    *report = NULL;
    if (out == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    len = (size_t)snprintf(out, cap, "trusted root: version %llu, threshold %u of %u keys\n",
                           (unsigned long long)u->root.version, u->root.threshold, u->root.n_keys);
    DIR *d = opendir(u->install_dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < 1024)
            if (e->d_name[0] != '.' && update_valid_name(e->d_name) &&
                (names[n] = strdup(e->d_name)) != NULL)
                n++;
        closedir(d);
    }
    qsort(names, n, sizeof(*names), cmp_str);
    plmm_status st = PLMM_OK;
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX], cur[PATH_MAX], prev[PATH_MAX], line[512];
        if (path_fmt(dir, sizeof(dir), "%s/%s", u->install_dir, names[i]) != 0 ||
            path_fmt(cur, sizeof(cur), "%s/current", dir) != 0 ||
            path_fmt(prev, sizeof(prev), "%s/previous", dir) != 0)
            continue;
        uint64_t c = link_version(cur);
        if (c == 0)
            continue;
        int k = snprintf(line, sizeof(line), "%-16s current %llu  previous %llu  trusted %llu\n",
                         names[i], (unsigned long long)c, (unsigned long long)link_version(prev),
                         (unsigned long long)trusted_version(dir));
        if (len + (size_t)k + 1 > cap) {
            cap = (len + (size_t)k + 1) * 2;
            char *p = realloc(out, cap);
            if (p == NULL) {
                st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
                break;
            }
            out = p;
        }
        memcpy(out + len, line, (size_t)k + 1);
        len += (size_t)k;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    if (st != PLMM_OK) {
        free(out);
        return st;
    }
    *report = out;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_updater_current_dir(plmm_updater *u, const char *expert, char **path)
{
    char cur[PATH_MAX];
    *path = NULL;
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    if (path_fmt(cur, sizeof(cur), "%s/%s/current", u->install_dir, expert) != 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "path too long: '%s'", u->install_dir);
    char *real = realpath(cur, NULL);
    if (real == NULL)
        return plmm_err(PLMM_ERR_NOT_FOUND, "expert '%s' is not installed in '%s'", expert,
                        u->install_dir);
    *path = real;
    return PLMM_OK;
}
