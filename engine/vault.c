/*
 * The encrypted personal store: opening, locking and changing items. The
 * file format and atomic writes are in vault_file.c, personalisation in
 * vault_select.c.
 */
#include "errors.h"
#include "vault_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- names ---- */

static const char *const pii_names[PLMM_PII_COUNT] = {
    "NONE", "PERSON", "PLACE", "ORG", "ADDRESS", "EMAIL",  "PHONE",
    "IBAN", "CARD",   "IP",    "DOB", "ID",      "SECRET", "OTHER",
};

PLMM_EXPORT const char *plmm_pii_name(uint32_t category)
{
    return category < PLMM_PII_COUNT ? pii_names[category] : NULL;
}

PLMM_EXPORT plmm_status plmm_pii_parse(const char *name, uint32_t *out)
{
    if (name == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    for (uint32_t i = 0; i < PLMM_PII_COUNT; i++) {
        if (strcasecmp(name, pii_names[i]) == 0) {
            *out = i;
            return PLMM_OK;
        }
    }
    return plmm_err(PLMM_ERR_INVALID_ARG,
                    "unknown category '%s' (person, place, org, address, email, phone, iban, "
                    "card, ip, dob, id, secret, other, none)",
                    name);
}

static const char *const kind_names[] = {NULL, "fact", "memory", "history"};

PLMM_EXPORT const char *plmm_vault_kind_name(uint32_t kind)
{
    return kind >= PLMM_VAULT_FACT && kind <= PLMM_VAULT_HISTORY ? kind_names[kind] : NULL;
}

PLMM_EXPORT plmm_status plmm_vault_kind_parse(const char *name, uint32_t *out)
{
    if (name == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    for (uint32_t i = PLMM_VAULT_FACT; i <= PLMM_VAULT_HISTORY; i++) {
        if (strcasecmp(name, kind_names[i]) == 0) {
            *out = i;
            return PLMM_OK;
        }
    }
    return plmm_err(PLMM_ERR_INVALID_ARG, "unknown item kind '%s' (fact, memory, history)", name);
}

/* ---- memory ---- */

/* Guarded, locked pages (sodium_malloc): mlock is page-granular, so a small
 * key sharing a page with other data would be unlocked with it by munlock;
 * sodium_malloc gives every secret pages of its own (locking is best
 * effort: RLIMIT_MEMLOCK may be small). sodium_free wipes. */
void *vault_secure_alloc(size_t n)
{
    return sodium_malloc(n ? n : 1);
}

void vault_secure_free(void *p, size_t n)
{
    (void)n;
    sodium_free(p);
}

static void wipe_string(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void vault_entry_wipe(vault_entry *e)
{
    wipe_string(e->key);
    wipe_string(e->value);
    memset(e, 0, sizeof(*e));
}

static void clear_items(plmm_vault *v)
{
    for (size_t i = 0; i < v->n_items; i++)
        vault_entry_wipe(&v->items[i]);
    free(v->items);
    v->items = NULL;
    v->n_items = v->cap_items = 0;
}

/* ---- open and close ---- */

static plmm_status vault_new(const char *path, plmm_vault **out)
{
    if (path == NULL || path[0] == '\0' || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "vault path missing");
    plmm_vault *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    v->lock_fd = -1;
    size_t n = strlen(path);
    v->path = malloc(n + 1);
    v->lock_path = malloc(n + 6);
    v->kek = vault_secure_alloc(VAULT_KEY_BYTES);
    v->master = vault_secure_alloc(VAULT_KEY_BYTES);
    if (v->path == NULL || v->lock_path == NULL || v->kek == NULL || v->master == NULL) {
        plmm_vault_close(v);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    memcpy(v->path, path, n + 1);
    snprintf(v->lock_path, n + 6, "%s.lock", path);
    *out = v;
    return PLMM_OK;
}

static plmm_status take_lock(plmm_vault *v)
{
    v->lock_fd = open(v->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (v->lock_fd < 0)
        return plmm_err(PLMM_ERR_IO, "cannot create lock file '%s': %s", v->lock_path,
                        strerror(errno));
    if (flock(v->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return plmm_err(errno == EWOULDBLOCK ? PLMM_ERR_DENIED : PLMM_ERR_IO,
                        "vault '%s' is in use by another process", v->path);
    v->writable = true;
    return PLMM_OK;
}

PLMM_EXPORT void plmm_vault_close(plmm_vault *v)
{
    if (v == NULL)
        return;
    clear_items(v);
    vault_secure_free(v->kek, VAULT_KEY_BYTES);
    vault_secure_free(v->master, VAULT_KEY_BYTES);
    if (v->lock_fd >= 0)
        close(v->lock_fd); /* releases the flock */
    free(v->path);
    free(v->lock_path);
    sodium_memzero(v, sizeof(*v));
    free(v);
}

PLMM_EXPORT plmm_status plmm_vault_create(const char *path, const plmm_vault_secret *secret,
                                          plmm_vault **out)
{
    plmm_vault *v = NULL;
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    plmm_status s = vault_new(path, &v);
    if (s != PLMM_OK)
        return s;
    if ((s = take_lock(v)) != PLMM_OK)
        goto fail;
    if (access(path, F_OK) == 0) {
        s = plmm_err(PLMM_ERR_INVALID_ARG, "cannot create vault '%s': a file of that name exists",
                     path);
        goto fail;
    }
    if ((s = vault_derive_kek(secret, true, &v->kdf, v->kek)) != PLMM_OK)
        goto fail;
    v->next_seq = 1;
    randombytes_buf(v->master, VAULT_KEY_BYTES);
    if ((s = vault_file_save(v, true)) != PLMM_OK)
        goto fail;
    *out = v;
    return PLMM_OK;
fail:
    plmm_vault_close(v);
    return s;
}

PLMM_EXPORT plmm_status plmm_vault_open(const char *path, const plmm_vault_secret *secret,
                                        uint32_t flags, plmm_vault **out)
{
    plmm_vault *v = NULL;
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    if (secret == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "vault secret missing");
    plmm_status s = vault_new(path, &v);
    if (s != PLMM_OK)
        return s;
    if ((flags & PLMM_VAULT_WRITE) != 0 && (s = take_lock(v)) != PLMM_OK)
        goto fail;
    if ((s = vault_file_load(v, secret)) != PLMM_OK)
        goto fail;
    if (v->writable)
        vault_file_clean_temps(path);
    /* a format-1 store gains its master secret at the first writable open */
    if (v->writable && !v->master_saved && (s = vault_file_save(v, false)) != PLMM_OK)
        goto fail;
    *out = v;
    return PLMM_OK;
fail:
    plmm_vault_close(v);
    return s;
}

/* ---- reading ---- */

PLMM_EXPORT size_t plmm_vault_count(const plmm_vault *v)
{
    return v != NULL ? v->n_items : 0;
}

static plmm_status fill_item(const vault_entry *e, plmm_vault_item *out)
{
    if (out->struct_size < sizeof(*out))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_vault_item.struct_size too small");
    out->kind = e->kind;
    out->category = e->category;
    out->reserved = 0;
    out->updated = e->updated;
    out->key = e->key;
    out->value = e->value;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_vault_item_at(const plmm_vault *v, size_t i, plmm_vault_item *out)
{
    if (v == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (i >= v->n_items)
        return plmm_err(PLMM_ERR_RANGE, "item %zu out of range (%zu items)", i, v->n_items);
    return fill_item(&v->items[i], out);
}

/* Index of key, or where it would be inserted (*found false). */
static size_t find_key(const plmm_vault *v, const char *key, bool *found)
{
    size_t lo = 0, hi = v->n_items;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->items[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

PLMM_EXPORT plmm_status plmm_vault_get(const plmm_vault *v, const char *key, plmm_vault_item *out)
{
    if (v == NULL || key == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    bool found;
    size_t i = find_key(v, key, &found);
    if (!found)
        return plmm_err(PLMM_ERR_NOT_FOUND, "no item '%s' in the vault", key);
    return fill_item(&v->items[i], out);
}

/* ---- changing ---- */

static plmm_status check_key(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > VAULT_MAX_KEY)
        return plmm_err(PLMM_ERR_INVALID_ARG, "item key must have 1 to %u characters",
                        VAULT_MAX_KEY);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c <= ' ' || c >= 0x7f)
            return plmm_err(PLMM_ERR_INVALID_ARG,
                            "item key '%s' may hold printable ASCII without spaces only", key);
    }
    return PLMM_OK;
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static plmm_status check_write(const plmm_vault *v)
{
    if (v == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL vault");
    if (!v->writable)
        return plmm_err(PLMM_ERR_DENIED, "vault '%s' was opened read-only", v->path);
    return PLMM_OK;
}

/* Save; on failure put the previous entry back (restore != NULL) so memory
 * matches the file. */
static plmm_status set_entry(plmm_vault *v, uint32_t kind, uint32_t category, const char *key,
                             const char *value)
{
    bool found;
    size_t i = find_key(v, key, &found);
    size_t kl = strlen(key), vl = strlen(value);
    vault_entry e = {kind, category, (int64_t)time(NULL), malloc(kl + 1), malloc(vl + 1)};
    if (e.key == NULL || e.value == NULL) {
        vault_entry_wipe(&e);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    memcpy(e.key, key, kl + 1);
    memcpy(e.value, value, vl + 1);
    if (!found && v->n_items == v->cap_items) {
        size_t cap = v->cap_items ? v->cap_items * 2 : 16;
        vault_entry *p = realloc(v->items, cap * sizeof(*p));
        if (p == NULL) {
            vault_entry_wipe(&e);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
        v->items = p;
        v->cap_items = cap;
    }
    vault_entry old;
    if (found) {
        old = v->items[i];
        v->items[i] = e;
    } else {
        memmove(&v->items[i + 1], &v->items[i], (v->n_items - i) * sizeof(*v->items));
        v->items[i] = e;
        v->n_items++;
    }
    plmm_status s = vault_file_save(v, false);
    if (s != PLMM_OK) {
        vault_entry_wipe(&v->items[i]);
        if (found) {
            v->items[i] = old;
        } else {
            memmove(&v->items[i], &v->items[i + 1], (v->n_items - i - 1) * sizeof(*v->items));
            v->n_items--;
        }
        return s;
    }
    if (found)
        vault_entry_wipe(&old);
    return PLMM_OK;
}

static plmm_status check_item(uint32_t kind, uint32_t category, const char *value)
{
    if (kind < PLMM_VAULT_FACT || kind > PLMM_VAULT_HISTORY)
        return plmm_err(PLMM_ERR_INVALID_ARG, "unknown item kind %u", (unsigned)kind);
    if (category >= PLMM_PII_COUNT)
        return plmm_err(PLMM_ERR_INVALID_ARG, "unknown category %u", (unsigned)category);
    if (value == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "item value missing");
    size_t n = strlen(value);
    if (n > VAULT_MAX_VALUE)
        return plmm_err(PLMM_ERR_RANGE, "item value longer than %u bytes", VAULT_MAX_VALUE);
    if (!valid_utf8(value, n))
        return plmm_err(PLMM_ERR_INVALID_ARG, "item value is not valid UTF-8");
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_vault_set(plmm_vault *v, uint32_t kind, uint32_t category,
                                       const char *key, const char *value)
{
    plmm_status s = check_write(v);
    if (s == PLMM_OK && key == NULL)
        s = plmm_err(PLMM_ERR_INVALID_ARG, "item key missing");
    if (s == PLMM_OK)
        s = check_key(key);
    if (s == PLMM_OK)
        s = check_item(kind, category, value);
    if (s != PLMM_OK)
        return s;
    return set_entry(v, kind, category, key, value);
}

PLMM_EXPORT plmm_status plmm_vault_add(plmm_vault *v, uint32_t kind, uint32_t category,
                                       const char *value, char *key_out, size_t key_size)
{
    plmm_status s = check_write(v);
    if (s == PLMM_OK)
        s = check_item(kind, category, value);
    if (s != PLMM_OK)
        return s;
    char key[64];
    bool found;
    do {
        snprintf(key, sizeof(key), "%s.%llu", kind_names[kind], (unsigned long long)v->next_seq++);
        (void)find_key(v, key, &found);
    } while (found);
    s = set_entry(v, kind, category, key, value);
    if (s == PLMM_OK && key_out != NULL && key_size > 0)
        snprintf(key_out, key_size, "%s", key);
    return s;
}

PLMM_EXPORT plmm_status plmm_vault_forget(plmm_vault *v, const char *key)
{
    plmm_status s = check_write(v);
    if (s != PLMM_OK)
        return s;
    if (key == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "item key missing");
    bool found;
    size_t i = find_key(v, key, &found);
    if (!found)
        return plmm_err(PLMM_ERR_NOT_FOUND, "no item '%s' in the vault", key);
    vault_entry old = v->items[i];
    memmove(&v->items[i], &v->items[i + 1], (v->n_items - i - 1) * sizeof(*v->items));
    v->n_items--;
    s = vault_file_save(v, false);
    if (s != PLMM_OK) {
        memmove(&v->items[i + 1], &v->items[i], (v->n_items - i) * sizeof(*v->items));
        v->items[i] = old;
        v->n_items++;
        return s;
    }
    vault_entry_wipe(&old);
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_vault_derive_key(const plmm_vault *v, const char *context,
                                              uint64_t subkey_id, uint8_t *key, size_t key_size)
{
    if (v == NULL || context == NULL || key == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_vault_derive_key: NULL argument");
    if (key_size != PLMM_VAULT_SUBKEY_BYTES)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_vault_derive_key: key_size must be %d, not %zu",
                        PLMM_VAULT_SUBKEY_BYTES, key_size);
    if (strlen(context) != crypto_kdf_CONTEXTBYTES)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "plmm_vault_derive_key: context '%s' must be exactly %d characters",
                        context, crypto_kdf_CONTEXTBYTES);
    for (const char *c = context; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return plmm_err(PLMM_ERR_INVALID_ARG,
                            "plmm_vault_derive_key: context must be printable ASCII");
    if (!v->master_saved)
        return plmm_err(PLMM_ERR_UNSUPPORTED,
                        "vault '%s' was written by an older plmm and has no master secret for "
                        "derived keys yet; open it for writing once (e.g. plmm vault passwd) "
                        "to add one",
                        v->path);
    if (crypto_kdf_derive_from_key(key, key_size, subkey_id, context, v->master) != 0)
        return plmm_err(PLMM_ERR_INTERNAL, "key derivation failed");
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_vault_rekey(plmm_vault *v, const plmm_vault_secret *secret)
{
    plmm_status s = check_write(v);
    if (s != PLMM_OK)
        return s;
    vault_kdf_params old_kdf = v->kdf, kdf;
    uint8_t *kek = vault_secure_alloc(VAULT_KEY_BYTES);
    if (kek == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    s = vault_derive_kek(secret, true, &kdf, kek);
    if (s == PLMM_OK) {
        uint8_t *old_kek = v->kek;
        v->kek = kek;
        v->kdf = kdf;
        s = vault_file_save(v, false);
        if (s != PLMM_OK) {
            v->kek = old_kek;
            v->kdf = old_kdf;
            old_kek = kek;
        }
        vault_secure_free(old_kek, VAULT_KEY_BYTES);
        return s;
    }
    vault_secure_free(kek, VAULT_KEY_BYTES);
    return s;
}

/* ---- export ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = vault_secure_alloc(cap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        if (b->p != NULL)
            memcpy(q, b->p, b->n);
        vault_secure_free(b->p, b->cap);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

PLMM_EXPORT plmm_status plmm_vault_export_json(const plmm_vault *v, char **out)
{
    if (v == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    sbuf b = {0};
    sb_str(&b, "{\"items\":[");
    for (size_t i = 0; i < v->n_items; i++) {
        const vault_entry *e = &v->items[i];
        char num[32];
        sb_str(&b, i ? ",\n  {\"key\":" : "\n  {\"key\":");
        sb_json(&b, e->key);
        sb_str(&b, ",\"kind\":");
        sb_json(&b, kind_names[e->kind]);
        sb_str(&b, ",\"category\":");
        sb_json(&b, e->category == PLMM_PII_NONE ? "none" : pii_names[e->category]);
        snprintf(num, sizeof(num), ",\"updated\":%lld", (long long)e->updated);
        sb_str(&b, num);
        sb_str(&b, ",\"value\":");
        sb_json(&b, e->value);
        sb_str(&b, "}");
    }
    sb_str(&b, "\n]}\n");
    if (b.oom) {
        vault_secure_free(b.p, b.cap);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    /* Hand out plain malloc memory (plmm_free is free()). */
    char *r = malloc(b.n + 1);
    if (r != NULL)
        memcpy(r, b.p, b.n + 1);
    vault_secure_free(b.p, b.cap);
    if (r == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    *out = r;
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_data_path(const char *name, bool create_dir, char *out, size_t size)
{
    if (name == NULL || out == NULL || size == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char base[4096];
    if (xdg != NULL && xdg[0] == '/')
        snprintf(base, sizeof(base), "%s/plmm", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(base, sizeof(base), "%s/.local/share/plmm", home);
    else
        return plmm_err(PLMM_ERR_NOT_FOUND,
                        "no place for '%s': neither XDG_DATA_HOME nor HOME "
                        "is set",
                        name);
    if (create_dir) {
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s", base);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent) {
            *slash = '\0';
            (void)mkdir(parent, 0755); /* ~/.local/share may be missing */
        }
        if (mkdir(base, 0700) != 0 && errno != EEXIST)
            return plmm_err(PLMM_ERR_IO, "cannot create '%s': %s", base, strerror(errno));
    }
    int n = snprintf(out, size, "%s/%s", base, name);
    if (n < 0 || (size_t)n >= size)
        return plmm_err(PLMM_ERR_RANGE, "path of '%s' too long", name);
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_vault_keygen(const char *path)
{
    if (path == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "key file path missing");
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return plmm_err(errno == EEXIST ? PLMM_ERR_INVALID_ARG : PLMM_ERR_IO,
                        "cannot create key file '%s': %s", path, strerror(errno));
    uint8_t key[VAULT_KEY_BYTES];
    char hex[2 * VAULT_KEY_BYTES + 2];
    randombytes_buf(key, sizeof(key));
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    size_t n = strlen(hex);
    hex[n] = '\n';
    ssize_t w = write(fd, hex, n + 1);
    int ok = w == (ssize_t)(n + 1) && fsync(fd) == 0;
    sodium_memzero(key, sizeof(key));
    sodium_memzero(hex, sizeof(hex));
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        unlink(path);
        return plmm_err(PLMM_ERR_IO, "cannot write key file '%s'", path);
    }
    return PLMM_OK;
}
