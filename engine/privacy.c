/*
 * The privacy layer of one conversation: detection, stable placeholders,
 * restoring answers, the share policy and the egress hook.
 */
#include "errors.h"
#include "privacy_impl.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

PLMM_STATIC_ASSERT(PLMM_PII_COUNT <= sizeof(((plmm_pii_counts *)0)->n) / sizeof(uint32_t),
                   "plmm_pii_counts holds every category");

/* ---- object ---- */

PLMM_EXPORT plmm_status plmm_privacy_create(plmm_privacy **out)
{
    if (out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    plmm_privacy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    *out = p;
    return PLMM_OK;
}

static void wipe(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

PLMM_EXPORT void plmm_privacy_reset(plmm_privacy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_map; i++) {
        wipe(p->map[i].key);
        wipe(p->map[i].original);
    }
    free(p->map);
    p->map = NULL;
    p->n_map = p->cap_map = 0;
    memset(p->next_index, 0, sizeof(p->next_index));
}

PLMM_EXPORT void plmm_privacy_destroy(plmm_privacy *p)
{
    if (p == NULL)
        return;
    plmm_privacy_reset(p);
    known_free(p);
    free(p);
}

PLMM_EXPORT plmm_status plmm_privacy_add_known(plmm_privacy *p, uint32_t category,
                                               const char *value)
{
    if (p == NULL || value == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (category == PLMM_PII_NONE || category >= PLMM_PII_COUNT)
        return plmm_err(PLMM_ERR_INVALID_ARG, "category %u cannot be a known value",
                        (unsigned)category);
    return known_add(p, category, value);
}

PLMM_EXPORT plmm_status plmm_privacy_add_vault(plmm_privacy *p, const plmm_vault *vault)
{
    if (p == NULL || vault == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    size_t n = plmm_vault_count(vault);
    for (size_t i = 0; i < n; i++) {
        plmm_vault_item it = {.struct_size = sizeof(it)};
        plmm_status s = plmm_vault_item_at(vault, i, &it);
        if (s == PLMM_OK && it.category != PLMM_PII_NONE)
            s = known_add(p, it.category, it.value);
        if (s != PLMM_OK)
            return s;
    }
    return PLMM_OK;
}

/* ---- detection ---- */

/* Detect into l; text need not be NUL-terminated. */
static plmm_status detect(const plmm_privacy *p, const char *text, size_t len, span_list *l)
{
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    privacy_detect_patterns(copy, len, false, l);
    known_find(p->known, p->n_known, copy, len, l);
    sodium_memzero(copy, len);
    free(copy);
    if (l->oom) {
        free(l->v);
        l->v = NULL;
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    spans_resolve(l);
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_privacy_detect(const plmm_privacy *p, const char *text, size_t len,
                                            plmm_pii_span **spans, size_t *n)
{
    if (p == NULL || (text == NULL && len > 0) || spans == NULL || n == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    span_list l = {0};
    plmm_status s = detect(p, text != NULL ? text : "", len, &l);
    if (s != PLMM_OK)
        return s;
    if (l.n == 0) {
        free(l.v);
        l.v = NULL;
    }
    *spans = l.v;
    *n = l.n;
    return PLMM_OK;
}

/* ---- placeholders ---- */

static const pseudo_entry *find_entry(const plmm_privacy *p, uint32_t category, const char *key)
{
    for (size_t i = 0; i < p->n_map; i++)
        if (p->map[i].category == category && strcmp(p->map[i].key, key) == 0)
            return &p->map[i];
    return NULL;
}

/* The entry for a value, created when new. */
static plmm_status entry_for(plmm_privacy *p, uint32_t category, const char *s, size_t n,
                             const pseudo_entry **out)
{
    char *key = known_canonical(category, s, n);
    if (key == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    const pseudo_entry *e = find_entry(p, category, key);
    if (e != NULL) {
        wipe(key);
        *out = e;
        return PLMM_OK;
    }
    if (p->n_map == p->cap_map) {
        size_t cap = p->cap_map ? p->cap_map * 2 : 16;
        pseudo_entry *v = realloc(p->map, cap * sizeof(*v));
        if (v == NULL) {
            wipe(key);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
        p->map = v;
        p->cap_map = cap;
    }
    char *orig = malloc(n + 1);
    if (orig == NULL) {
        wipe(key);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    memcpy(orig, s, n);
    orig[n] = '\0';
    pseudo_entry *ne = &p->map[p->n_map++];
    ne->category = category;
    ne->index = ++p->next_index[category];
    ne->key = key;
    ne->original = orig;
    *out = ne;
    return PLMM_OK;
}

typedef struct obuf {
    char *p;
    size_t n, cap;
    bool oom;
} obuf;

static void ob_put(obuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = malloc(cap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        if (b->p != NULL) {
            memcpy(q, b->p, b->n);
            sodium_memzero(b->p, b->cap);
            free(b->p);
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static plmm_status ob_finish(obuf *b, char **out)
{
    if (!b->oom)
        ob_put(b, "", 0);
    if (b->oom) {
        if (b->p != NULL)
            sodium_memzero(b->p, b->cap);
        free(b->p);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    *out = b->p;
    return PLMM_OK;
}

/* Replace the spans: indexed placeholders (restorable) or bare category
 * tokens. */
static plmm_status replace(plmm_privacy *p, const char *text, size_t len, bool indexed, char **out,
                           plmm_pii_counts *counts)
{
    if (p == NULL || (text == NULL && len > 0) || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (text == NULL)
        text = "";
    span_list l = {0};
    plmm_status s = detect(p, text, len, &l);
    if (s != PLMM_OK)
        return s;
    if (counts != NULL)
        memset(counts, 0, sizeof(*counts));
    obuf b = {0};
    size_t at = 0;
    for (size_t i = 0; i < l.n && s == PLMM_OK; i++) {
        const plmm_pii_span *sp = &l.v[i];
        ob_put(&b, text + at, sp->start - at);
        char ph[48];
        if (indexed) {
            const pseudo_entry *e = NULL;
            s = entry_for(p, sp->category, text + sp->start, sp->len, &e);
            if (s != PLMM_OK)
                break;
            snprintf(ph, sizeof(ph), "<%s_%u>", plmm_pii_name(sp->category), (unsigned)e->index);
        } else {
            snprintf(ph, sizeof(ph), "<%s>", plmm_pii_name(sp->category));
        }
        ob_put(&b, ph, strlen(ph));
        if (counts != NULL)
            counts->n[sp->category]++;
        at = sp->start + sp->len;
    }
    free(l.v);
    ob_put(&b, text + at, len - at);
    if (s != PLMM_OK) {
        b.oom = true;
        (void)ob_finish(&b, out);
        return s;
    }
    return ob_finish(&b, out);
}

PLMM_EXPORT plmm_status plmm_privacy_pseudonymize(plmm_privacy *p, const char *text, size_t len,
                                                  char **out, plmm_pii_counts *counts)
{
    return replace(p, text, len, true, out, counts);
}

/* A placeholder at t (starting with '<'): its entry and length, or NULL. */
static const pseudo_entry *placeholder_at(const plmm_privacy *p, const char *t, size_t n,
                                          size_t *plen)
{
    size_t i = 1;
    while (i < n && t[i] == ' ')
        i++;
    size_t c0 = i;
    while (i < n && ((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z')))
        i++;
    size_t cl = i - c0;
    if (cl == 0 || cl > 16 || i >= n || t[i] != '_')
        return NULL;
    i++;
    unsigned idx = 0;
    size_t d0 = i;
    while (i < n && t[i] >= '0' && t[i] <= '9' && i - d0 < 9)
        idx = idx * 10 + (unsigned)(t[i++] - '0');
    if (i == d0)
        return NULL;
    while (i < n && t[i] == ' ')
        i++;
    if (i >= n || t[i] != '>')
        return NULL;
    for (size_t k = 0; k < p->n_map; k++) {
        const pseudo_entry *e = &p->map[k];
        const char *name = plmm_pii_name(e->category);
        if (e->index == idx && strlen(name) == cl && strncasecmp(name, t + c0, cl) == 0) {
            *plen = i + 1;
            return e;
        }
    }
    return NULL;
}

PLMM_EXPORT plmm_status plmm_privacy_restore(const plmm_privacy *p, const char *text, size_t len,
                                             char **out)
{
    if (p == NULL || (text == NULL && len > 0) || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    obuf b = {0};
    size_t at = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '<')
            continue;
        size_t pl;
        const pseudo_entry *e = placeholder_at(p, text + i, len - i, &pl);
        if (e == NULL)
            continue;
        ob_put(&b, text + at, i - at);
        ob_put(&b, e->original, strlen(e->original));
        i += pl - 1;
        at = i + 1;
    }
    ob_put(&b, text + at, len - at);
    return ob_finish(&b, out);
}

/* ---- share policy ---- */

static const char *const share_names[] = {"none", "pseudonymized", "full"};

PLMM_EXPORT const char *plmm_share_name(uint32_t share)
{
    return share <= PLMM_SHARE_FULL ? share_names[share] : NULL;
}

PLMM_EXPORT plmm_status plmm_share_parse(const char *name, uint32_t *out)
{
    if (name == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    for (uint32_t i = 0; i <= PLMM_SHARE_FULL; i++) {
        if (strcmp(name, share_names[i]) == 0) {
            *out = i;
            return PLMM_OK;
        }
    }
    return plmm_err(PLMM_ERR_CONFIG, "share must be none, pseudonymized or full, not '%s'", name);
}

PLMM_EXPORT plmm_status plmm_privacy_outgoing(plmm_privacy *p, uint32_t share, bool full_opt_in,
                                              const char *text, size_t len, char **out,
                                              plmm_pii_counts *counts)
{
    switch (share) {
    case PLMM_SHARE_NONE:
        return replace(p, text, len, false, out, counts);
    case PLMM_SHARE_PSEUDONYMIZED:
        return replace(p, text, len, true, out, counts);
    case PLMM_SHARE_FULL:
        if (!full_opt_in)
            return plmm_err(PLMM_ERR_DENIED,
                            "share = full needs an explicit opt-in for this destination");
        if (out == NULL || (text == NULL && len > 0))
            return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
        if (counts != NULL)
            memset(counts, 0, sizeof(*counts));
        {
            obuf b = {0};
            ob_put(&b, text != NULL ? text : "", len);
            return ob_finish(&b, out);
        }
    default:
        return plmm_err(PLMM_ERR_INVALID_ARG, "unknown share policy %u", (unsigned)share);
    }
}

/* ---- egress ---- */

PLMM_EXPORT plmm_status plmm_privacy_before_send(void *user, const char *url, const char *body,
                                                 size_t len)
{
    plmm_privacy_guard *g = user;
    if (g == NULL || g->struct_size < sizeof(*g) || g->privacy == NULL || (body == NULL && len > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "privacy guard missing or incomplete");
    plmm_status verdict = PLMM_OK;
    char msg[256] = "";
    if (g->share != PLMM_SHARE_FULL) {
        plmm_pii_span hit;
        verdict = plmm_privacy_scan(g->privacy, body != NULL ? body : "", len, &hit);
        snprintf(msg, sizeof(msg), "%s", plmm_last_errmsg());
    }
    if (g->audit != NULL) {
        plmm_status s =
            plmm_audit_append(g->audit, url != NULL ? url : "", &g->counts,
                              verdict == PLMM_OK ? PLMM_AUDIT_SENT : PLMM_AUDIT_REFUSED, body, len);
        if (s != PLMM_OK)
            return plmm_err_prefix(s, "request not sent: cannot record it in the audit log");
    }
    if (verdict != PLMM_OK)
        return plmm_err(verdict, "%s", msg);
    return PLMM_OK;
}
