/*
 * Bundle manifests: creation (publisher), parsing and verification
 * (client), and plmm_sign_verify() for every kind of signed file.
 */
#include "errors.h"
#include "update_impl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- names ---- */

bool update_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool update_valid_path(const char *s)
{
    size_t n = strlen(s), comp = 0;
    if (n == 0 || n > 200 || s[0] == '/')
        return false;
    const char *start = s;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(s + i - start);
            if (len == 0 || start[0] == '.') /* also ".", ".." and hidden files */
                return false;
            if (++comp > 8)
                return false;
            start = s + i + 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

bool update_version_cmp(const char *a, const char *b, int *cmp)
{
    unsigned va[3], vb[3];
    char tail;
    if (sscanf(a, "%u.%u.%u%c", &va[0], &va[1], &va[2], &tail) != 3 ||
        sscanf(b, "%u.%u.%u%c", &vb[0], &vb[1], &vb[2], &tail) != 3)
        return false;
    *cmp = 0;
    for (int i = 0; i < 3 && *cmp == 0; i++)
        *cmp = va[i] < vb[i] ? -1 : va[i] > vb[i] ? 1 : 0;
    return true;
}

/* ---- parsing and verification ---- */

void update_manifest_free(update_manifest *m)
{
    for (uint32_t i = 0; i < m->n_files; i++)
        free(m->files[i].path);
    free(m->files);
    memset(m, 0, sizeof(*m));
}

plmm_status update_manifest_parse(const sign_envelope *env, const char *source, update_manifest *m)
{
    json_error_t jerr;
    memset(m, 0, sizeof(*m));
    if (strcmp(env->type, PLMM_PAYLOAD_MANIFEST) != 0)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' is a '%s', not a bundle manifest", source,
                        env->type);
    json_t *j =
        json_loadb((const char *)env->payload, env->payload_len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': manifest payload: %s", source, jerr.text);
    plmm_status st = PLMM_OK;
    const char *expert = json_string_value(json_object_get(j, "expert"));
    const char *expires = json_string_value(json_object_get(j, "expires"));
    const char *min_engine = json_string_value(json_object_get(j, "min_engine"));
    json_int_t version = json_integer_value(json_object_get(j, "version"));
    json_t *files = json_object_get(j, "files");
    int cmp;
    if (expert == NULL || !update_valid_name(expert) || version < 1 || expires == NULL ||
        !sign_time_parse(expires, &m->expires) || min_engine == NULL ||
        !update_version_cmp(min_engine, min_engine, &cmp) || strlen(min_engine) >= 32 ||
        !json_is_array(files) || json_array_size(files) > UPDATE_MAX_FILES) {
        st = plmm_err(PLMM_ERR_FORMAT,
                      "'%s': manifest needs expert, version >= 1, expires, min_engine, files",
                      source);
        goto out;
    }
    snprintf(m->expert, sizeof(m->expert), "%s", expert);
    snprintf(m->min_engine, sizeof(m->min_engine), "%s", min_engine);
    m->version = (uint64_t)version;
    size_t n = json_array_size(files);
    m->files = calloc(n ? n : 1, sizeof(*m->files));
    if (m->files == NULL) {
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(files, i);
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *hash = json_string_value(json_object_get(f, "sha256"));
        json_t *size = json_object_get(f, "size");
        update_file *uf = &m->files[i];
        if (path == NULL || !update_valid_path(path) || hash == NULL ||
            !sign_unhex(hash, uf->sha256, sizeof(uf->sha256)) || !json_is_integer(size) ||
            json_integer_value(size) < 0) {
            st = plmm_err(PLMM_ERR_FORMAT,
                          "'%s': file %zu needs a safe relative path, size, sha256", source, i);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->files[k].path, path) == 0) {
                st = plmm_err(PLMM_ERR_FORMAT, "'%s': file '%s' listed twice", source, path);
                goto out;
            }
        uf->size = (uint64_t)json_integer_value(size);
        if ((uf->path = strdup(path)) == NULL) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            goto out;
        }
        m->n_files++;
    }
out:
    json_decref(j);
    if (st != PLMM_OK)
        update_manifest_free(m);
    return st;
}

plmm_status update_manifest_verify(const update_manifest *m, const sign_envelope *env,
                                   const sign_root *root, const char *expert, int64_t now,
                                   const char *source)
{
    char what[600];
    snprintf(what, sizeof(what), "manifest '%s'", source);
    plmm_status st = sign_root_check(root, env, what);
    if (st != PLMM_OK)
        return st;
    if (expert != NULL && strcmp(m->expert, expert) != 0)
        return plmm_err(PLMM_ERR_AUTH, "manifest '%s' is for expert '%s', not '%s'", source,
                        m->expert, expert);
    if (now == 0)
        now = (int64_t)time(NULL);
    if (m->expires <= now) {
        char t[32];
        sign_time_format(m->expires, t);
        return plmm_err(PLMM_ERR_DENIED,
                        "manifest '%s' (version %llu) expired at %s (refusing stale metadata)",
                        source, (unsigned long long)m->version, t);
    }
    int cmp;
    if (!update_version_cmp(PLMM_VERSION, m->min_engine, &cmp) || cmp < 0)
        return plmm_err(PLMM_ERR_DENIED, "manifest '%s' needs engine %s or newer (this is %s)",
                        source, m->min_engine, PLMM_VERSION);
    return PLMM_OK;
}

/* ---- creation ---- */

static plmm_status hash_file(const char *path, uint8_t out[crypto_hash_sha256_BYTES],
                             uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return plmm_err(PLMM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint8_t buf[65536];
    size_t r;
    *size = 0;
    while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
        crypto_hash_sha256_update(&h, buf, r);
        *size += r;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad)
        return plmm_err(PLMM_ERR_IO, "cannot read '%s'", path);
    crypto_hash_sha256_final(&h, out);
    return PLMM_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add every regular file under base/rel to files (sorted per directory). */
static plmm_status scan_dir(const char *base, const char *rel, json_t *files, int depth)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s%s%s", base, rel[0] ? "/" : "", rel);
    if (depth > 8)
        return plmm_err(PLMM_ERR_FORMAT, "'%s': directories nested too deeply", dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return plmm_err(PLMM_ERR_IO, "cannot open directory '%s': %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    plmm_status st = PLMM_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(names, cap * sizeof(*p));
            if (p == NULL) {
                st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
                goto out;
            }
            names = p;
        }
        if ((names[n] = strdup(e->d_name)) == NULL) {
            st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && st == PLMM_OK; i++) {
        char child[PATH_MAX], full[PATH_MAX];
        struct stat sb;
        int a = snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        int b = snprintf(full, sizeof(full), "%s/%s", base, child);
        if (a < 0 || b < 0 || (size_t)a >= sizeof(child) || (size_t)b >= sizeof(full)) {
            st = plmm_err(PLMM_ERR_INVALID_ARG, "path too long under '%s'", base);
        } else if (lstat(full, &sb) != 0) {
            st = plmm_err(PLMM_ERR_IO, "cannot stat '%s': %s", full, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            st = scan_dir(base, child, files, depth + 1);
        } else if (!S_ISREG(sb.st_mode)) {
            st = plmm_err(PLMM_ERR_FORMAT, "'%s' is not a regular file", full);
        } else if (!update_valid_path(child)) {
            st = plmm_err(PLMM_ERR_FORMAT,
                          "'%s': file names may use only letters, digits, '.', '_' and '-'", full);
        } else {
            uint8_t h[crypto_hash_sha256_BYTES];
            char hex[2 * sizeof(h) + 1];
            uint64_t size = 0;
            if ((st = hash_file(full, h, &size)) != PLMM_OK)
                break;
            sign_hex(h, sizeof(h), hex);
            json_t *f = json_pack("{s:s, s:I, s:s}", "path", child, "size", (json_int_t)size,
                                  "sha256", hex);
            if (f == NULL || json_array_append_new(files, f) != 0)
                st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return st;
}

PLMM_EXPORT plmm_status plmm_manifest_create(const char *bundle_dir, const char *expert,
                                             uint64_t version, int64_t expires,
                                             const char *min_engine)
{
    char files_dir[PATH_MAX], out_path[PATH_MAX], t[32];
    int cmp;
    if (min_engine == NULL)
        min_engine = PLMM_VERSION;
    if (!update_valid_name(expert))
        return plmm_err(PLMM_ERR_INVALID_ARG, "expert name '%s' must be 1-64 of [a-z0-9_-]",
                        expert);
    if (version < 1)
        return plmm_err(PLMM_ERR_INVALID_ARG, "bundle version must be >= 1");
    if (!update_version_cmp(min_engine, min_engine, &cmp))
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "minimum engine version '%s' is not MAJOR.MINOR.PATCH", min_engine);
    plmm_status st = sign_init();
    if (st != PLMM_OK)
        return st;
    snprintf(files_dir, sizeof(files_dir), "%s/files", bundle_dir);
    snprintf(out_path, sizeof(out_path), "%s/manifest.json", bundle_dir);
    json_t *files = json_array();
    char *payload = NULL, *text = NULL;
    sign_envelope env;
    if (files == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if ((st = scan_dir(files_dir, "", files, 0)) != PLMM_OK)
        goto out;
    sign_time_format(expires, t);
    json_t *j =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:O}", "type", "manifest", "expert", expert, "version",
                  (json_int_t)version, "expires", t, "min_engine", min_engine, "files", files);
    if (j == NULL || (payload = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        json_decref(j);
        st = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_decref(j);
    if ((st = sign_envelope_init(&env, PLMM_PAYLOAD_MANIFEST, payload, strlen(payload))) != PLMM_OK)
        goto out;
    if ((st = sign_envelope_dump(&env, &text)) == PLMM_OK)
        st = sign_write_atomic(out_path, text, strlen(text), 0644);
    sign_envelope_free(&env);
out:
    free(text);
    free(payload);
    json_decref(files);
    return st;
}

/* ---- plmm_sign_verify ---- */

static plmm_status report_add(char **report, const char *fmt, ...) PLMM_PRINTF(2, 3);

static plmm_status report_add(char **report, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    size_t old = *report ? strlen(*report) : 0, n = strlen(line);
    char *p = realloc(*report, old + n + 2);
    if (p == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    memcpy(p + old, line, n);
    p[old + n] = '\n';
    p[old + n + 1] = '\0';
    *report = p;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_sign_verify(const char *path, const char *root_path,
                                         const char *key_path, int64_t now, char **report)
{
    sign_envelope env;
    sign_root root, next;
    char *text = NULL;
    plmm_status st;
    if (report != NULL)
        *report = NULL;
    if (root_path == NULL && key_path == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "verifying needs a root or a public key");
    if ((st = sign_init()) != PLMM_OK)
        return st;
    if ((st = sign_envelope_load(path, &env)) != PLMM_OK)
        return st;
    memset(&root, 0, sizeof(root));
    if (root_path == NULL) {
        sign_key key;
        if ((st = sign_key_load(key_path, &key)) != PLMM_OK)
            goto out_env;
        if (sign_envelope_count(&env, &key, 1) != 1)
            st = plmm_err(PLMM_ERR_AUTH, "'%s' carries no valid signature by key %s", path,
                          key.keyid);
        else
            st = report_add(&text, "%s: %s signed by key %s", path, env.type, key.keyid);
        sign_key_wipe(&key);
        goto out_env;
    }
    if ((st = sign_root_load_trusted(root_path, now, &root)) != PLMM_OK)
        goto out_env;
    if (strcmp(env.type, PLMM_PAYLOAD_ROOT) == 0) {
        if ((st = sign_root_rotate(&root, &env, path, now, &next)) != PLMM_OK)
            goto out_root;
        st = report_add(&text,
                        "%s: root version %llu follows root version %llu (threshold %u of "
                        "%u keys, signed by old and new keys)",
                        path, (unsigned long long)next.version, (unsigned long long)root.version,
                        next.threshold, next.n_keys);
        sign_root_free(&next);
    } else if (strcmp(env.type, PLMM_PAYLOAD_MANIFEST) == 0) {
        update_manifest m;
        char t[32];
        if ((st = update_manifest_parse(&env, path, &m)) != PLMM_OK)
            goto out_root;
        st = update_manifest_verify(&m, &env, &root, NULL, now, path);
        sign_time_format(m.expires, t);
        if (st == PLMM_OK)
            st = report_add(&text,
                            "%s: expert %s version %llu, %u files, expires %s, signed by "
                            "%u of %u root keys (threshold %u)",
                            path, m.expert, (unsigned long long)m.version, m.n_files, t,
                            sign_envelope_count(&env, root.keys, root.n_keys), root.n_keys,
                            root.threshold);
        update_manifest_free(&m);
    } else {
        char what[600];
        snprintf(what, sizeof(what), "'%s'", path);
        if ((st = sign_root_check(&root, &env, what)) == PLMM_OK)
            st = report_add(&text, "%s: %s signed by a threshold of root keys", path, env.type);
    }
out_root:
    sign_root_free(&root);
out_env:
    sign_envelope_free(&env);
    if (st == PLMM_OK && report != NULL)
        *report = text;
    else
        free(text);
    return st;
}
