/*
 * Values the user is known by (from the vault or added by the caller) and
 * how they are found in text: names, places and organisations case-folded
 * with any whitespace, identifiers by their letters and digits alone (so
 * "DE89 3704 ..." and "DE8937040..." are the same IBAN), the parts of a
 * person's name as capitalised whole words, and the comma-separated parts
 * of a street address.
 */
#include "errors.h"
#include "privacy_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- spans ---- */

void span_push(span_list *l, uint32_t category, bool known, size_t start, size_t len)
{
    if (l->oom || len == 0)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        plmm_pii_span *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (plmm_pii_span){category, known ? 1u : 0u, start, len};
}

static int by_preference(const void *a, const void *b)
{
    const plmm_pii_span *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->known != y->known)
        return x->known > y->known ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->category < y->category ? -1 : x->category > y->category;
}

static int by_start(const void *a, const void *b)
{
    const plmm_pii_span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Longest candidate first (a known value before a pattern of the same
 * extent); every candidate overlapping an accepted one is dropped. */
void spans_resolve(span_list *l)
{
    if (l->n < 2)
        return;
    qsort(l->v, l->n, sizeof(*l->v), by_preference);
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++) {
        const plmm_pii_span *c = &l->v[i];
        bool overlap = false;
        for (size_t k = 0; k < kept && !overlap; k++) {
            const plmm_pii_span *a = &l->v[k];
            overlap = c->start < a->start + a->len && a->start < c->start + c->len;
        }
        if (!overlap)
            l->v[kept++] = *c;
    }
    l->n = kept;
    qsort(l->v, l->n, sizeof(*l->v), by_start);
}

/* ---- normal forms ---- */

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_word(unsigned char c)
{
    return pii_is_alnum(c) || c >= 0x80 || c == '_';
}

static bool alnum_category(uint32_t c)
{
    return c == PLMM_PII_PHONE || c == PLMM_PII_IBAN || c == PLMM_PII_CARD || c == PLMM_PII_ID ||
           c == PLMM_PII_DOB;
}

/* Case-folded text with whitespace runs as one space, trimmed. */
static char *fold_text(const char *s, size_t n, size_t *out_len)
{
    char *o = malloc(2 * n + 1);
    if (o == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t m = 0, i = 0;
    bool space = false;
    while (i < n) {
        if (is_space(p[i])) {
            space = m > 0;
            i++;
            continue;
        }
        if (space)
            o[m++] = ' ';
        space = false;
        unsigned char f[2];
        size_t fn;
        i += pii_fold_char(p, i, n, f, &fn);
        for (size_t k = 0; k < fn; k++)
            o[m++] = (char)f[k];
    }
    o[m] = '\0';
    *out_len = m;
    return o;
}

static char *fold_alnum(const char *s, size_t n, size_t *out_len)
{
    char *o = malloc(n + 1);
    if (o == NULL)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (pii_is_alnum(c))
            o[m++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    o[m] = '\0';
    *out_len = m;
    return o;
}

char *known_canonical(uint32_t category, const char *s, size_t n)
{
    size_t len;
    if (alnum_category(category) || category == PLMM_PII_IP)
        return category == PLMM_PII_IP ? fold_text(s, n, &len) : fold_alnum(s, n, &len);
    return fold_text(s, n, &len);
}

/* ---- the known list ---- */

static plmm_status push_known(plmm_privacy *p, uint32_t category, uint32_t mode, char *norm,
                              size_t len)
{
    if (norm == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    size_t min = mode == MATCH_ALNUM ? 5 : mode == MATCH_NAMEPART ? 3 : 2;
    bool dup = len < min;
    for (size_t i = 0; i < p->n_known && !dup; i++) {
        const known_value *k = &p->known[i];
        dup = k->mode == mode && k->len == len && memcmp(k->norm, norm, len) == 0;
    }
    if (dup) {
        sodium_memzero(norm, len);
        free(norm);
        return PLMM_OK;
    }
    if (p->n_known == p->cap_known) {
        size_t cap = p->cap_known ? p->cap_known * 2 : 32;
        known_value *v = realloc(p->known, cap * sizeof(*v));
        if (v == NULL) {
            sodium_memzero(norm, len);
            free(norm);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
        p->known = v;
        p->cap_known = cap;
    }
    p->known[p->n_known++] = (known_value){category, mode, norm, len};
    return PLMM_OK;
}

static plmm_status add_alnum(plmm_privacy *p, uint32_t category, const char *s, size_t n)
{
    size_t len = 0;
    char *norm = fold_alnum(s, n, &len);
    return push_known(p, category, MATCH_ALNUM, norm, len);
}

static plmm_status add_text(plmm_privacy *p, uint32_t category, uint32_t mode, const char *s,
                            size_t n)
{
    size_t len = 0;
    char *norm = fold_text(s, n, &len);
    return push_known(p, category, mode, norm, len);
}

/* Other spellings of a phone number and a date of birth. */
static plmm_status add_variants(plmm_privacy *p, uint32_t category, const char *value)
{
    char d[40];
    size_t m = 0;
    for (const char *c = value; *c != '\0' && m + 1 < sizeof(d); c++)
        if (*c >= '0' && *c <= '9')
            d[m++] = *c;
    d[m] = '\0';
    plmm_status s = PLMM_OK;
    char v[48];
    if (category == PLMM_PII_PHONE && value[0] == '+' && m >= 8) {
        for (size_t cc = 1; cc <= 3 && s == PLMM_OK; cc++) {
            snprintf(v, sizeof(v), "0%s", d + cc); /* national trunk form */
            s = add_alnum(p, category, v, strlen(v));
        }
        snprintf(v, sizeof(v), "00%s", d);
        if (s == PLMM_OK)
            s = add_alnum(p, category, v, strlen(v));
    }
    if (category == PLMM_PII_DOB && m == 8 && (value[4] == '-' || value[4] == '/')) {
        /* YYYY-MM-DD -> DDMMYYYY, MMDDYYYY */
        snprintf(v, sizeof(v), "%.2s%.2s%.4s", d + 6, d + 4, d);
        s = add_alnum(p, category, v, 8);
        snprintf(v, sizeof(v), "%.2s%.2s%.4s", d + 4, d + 6, d);
        if (s == PLMM_OK)
            s = add_alnum(p, category, v, 8);
    }
    sodium_memzero(d, sizeof(d));
    sodium_memzero(v, sizeof(v));
    return s;
}

plmm_status known_add(plmm_privacy *p, uint32_t category, const char *value)
{
    size_t n = strlen(value);
    plmm_status s;
    if (alnum_category(category)) {
        s = add_alnum(p, category, value, n);
        if (s == PLMM_OK)
            s = add_text(p, category, MATCH_TEXT, value, n);
        if (s == PLMM_OK)
            s = add_variants(p, category, value);
        return s;
    }
    s = add_text(p, category, MATCH_TEXT, value, n);
    if (s != PLMM_OK)
        return s;
    if (category == PLMM_PII_PERSON) {
        for (size_t i = 0; i < n && s == PLMM_OK;) {
            while (i < n && (value[i] == ' ' || value[i] == '-'))
                i++;
            size_t j = i;
            while (j < n && value[j] != ' ' && value[j] != '-')
                j++;
            if (j > i && !(j - i <= 3 && value[j - 1] == '.')) /* skip initials and "Dr." */
                s = add_text(p, category, MATCH_NAMEPART, value + i, j - i);
            i = j;
        }
    }
    if (category == PLMM_PII_ADDRESS) {
        for (size_t i = 0; i < n && s == PLMM_OK;) {
            while (i < n && (value[i] == ',' || value[i] == ' ' || value[i] == '\n'))
                i++;
            size_t j = i;
            while (j < n && value[j] != ',' && value[j] != '\n')
                j++;
            bool letter = false;
            for (size_t k = i; k < j; k++)
                letter = letter || ((value[k] | 32) >= 'a' && (value[k] | 32) <= 'z');
            /* "Hauptstraße 12" yes; a bare city name stays a PLACE item's job */
            bool digit = false;
            for (size_t k = i; k < j; k++)
                digit = digit || (value[k] >= '0' && value[k] <= '9');
            if (j - i >= 6 && letter && digit)
                s = add_text(p, category, MATCH_TEXT, value + i, j - i);
            i = j;
        }
    }
    return s;
}

plmm_status known_push_text(plmm_privacy *p, uint32_t category, uint32_t mode, const char *text,
                            size_t n)
{
    return add_text(p, category, mode, text, n);
}

void known_free(plmm_privacy *p)
{
    for (size_t i = 0; i < p->n_known; i++) {
        sodium_memzero(p->known[i].norm, p->known[i].len);
        free(p->known[i].norm);
    }
    free(p->known);
    p->known = NULL;
    p->n_known = p->cap_known = 0;
}

/* ---- matching ---- */

static bool id_sep(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')';
}

/* End of a match of k at t[s], or 0. */
static size_t match_at(const known_value *k, const unsigned char *t, size_t n, size_t s)
{
    const unsigned char *q = (const unsigned char *)k->norm;
    size_t i = s, j = 0;
    if (k->mode == MATCH_ALNUM) {
        while (j < k->len) {
            if (i >= n)
                return 0;
            unsigned char c = t[i];
            if (c >= 'A' && c <= 'Z')
                c += 32;
            if (c == q[j]) {
                i++;
                j++;
            } else if (j > 0 && id_sep(t[i])) {
                i++;
            } else {
                return 0;
            }
        }
        return i < n && pii_is_alnum(t[i]) ? 0 : i;
    }
    if (k->mode == MATCH_NAMEPART && !((t[s] >= 'A' && t[s] <= 'Z') || t[s] >= 0xc0))
        return 0;
    while (j < k->len) {
        if (i >= n)
            return 0;
        if (q[j] == ' ') {
            if (!is_space(t[i]))
                return 0;
            while (i < n && is_space(t[i]))
                i++;
            j++;
            continue;
        }
        unsigned char f[2];
        size_t fn;
        size_t used = pii_fold_char(t, i, n, f, &fn);
        if (j + fn > k->len || memcmp(f, q + j, fn) != 0)
            return 0;
        i += used;
        j += fn;
    }
    if (is_word(q[k->len - 1]) && i < n && is_word(t[i]))
        return 0;
    return i;
}

void known_find(const known_value *known, size_t n_known, const char *text, size_t len,
                span_list *out)
{
    const unsigned char *t = (const unsigned char *)text;
    if (n_known == 0 || len == 0)
        return;
    /* Bucket the values by their first (folded) byte so each position of
     * the text is tried only against values that can start there. */
    size_t first[257] = {0};
    size_t *order = malloc(n_known * sizeof(*order));
    size_t *next = calloc(n_known, sizeof(*next)); /* no overlapping matches of one value */
    if (order == NULL || next == NULL) {
        free(order);
        free(next);
        out->oom = true;
        return;
    }
    for (size_t k = 0; k < n_known; k++)
        first[(unsigned char)known[k].norm[0] + 1]++;
    for (size_t b = 1; b <= 256; b++)
        first[b] += first[b - 1];
    size_t fill[256];
    memcpy(fill, first, sizeof(fill));
    for (size_t k = 0; k < n_known; k++)
        order[fill[(unsigned char)known[k].norm[0]]++] = k;
    for (size_t s = 0; s < len; s++) {
        unsigned char b = t[s] >= 'A' && t[s] <= 'Z' ? (unsigned char)(t[s] + 32) : t[s];
        for (size_t o = first[b]; o < first[b + 1]; o++) {
            size_t k = order[o];
            const known_value *kv = &known[k];
            if (s < next[k])
                continue;
            if (is_word((unsigned char)kv->norm[0]) && s > 0 && is_word(t[s - 1]))
                continue;
            if (kv->mode == MATCH_ALNUM && s > 0 && pii_is_alnum(t[s - 1]))
                continue;
            size_t e = match_at(kv, t, len, s);
            if (e > s) {
                span_push(out, kv->category, true, s, e - s);
                next[k] = e;
            }
        }
    }
    free(order);
    free(next);
}
