/*
 * Personalisation: pick the vault items relevant to a question, locally,
 * and turn them into context for the personal model's system prompt.
 *
 * Relevance is lexical (BM25 with k1 = 1.2, b = 0.75 over the words of each
 * item's key and value, ASCII case-folded, stop words dropped): no text
 * leaves the device and no model is needed to choose. Profile facts naming
 * the user (PERSON, PLACE) get a small prior so the model knows whom it
 * talks to even when the question shares no word with the store.
 */
#include "errors.h"
#include "vault_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 64
#define TERM_LEN 32

typedef struct terms {
    char t[MAX_TERMS][TERM_LEN];
    size_t n;
} terms;

static const char *const stop_words[] = {
    "a",    "an",  "the", "and",    "or",   "of",  "to",  "in",   "on",   "at",   "for",
    "is",   "are", "was", "be",     "my",   "me",  "i",   "you",  "your", "what", "which",
    "who",  "how", "do",  "does",   "did",  "can", "it",  "this", "that", "with", "about",
    "from", "by",  "as",  "please", "tell", "der", "die", "das",  "und",  "ist",  "ich",
    "le",   "la",  "les", "de",     "et",   "un",  "une", "el",   "los",  "y",
};

static bool is_stop(const char *w)
{
    for (size_t i = 0; i < sizeof(stop_words) / sizeof(stop_words[0]); i++)
        if (strcmp(w, stop_words[i]) == 0)
            return true;
    return false;
}

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Words of s (plus the '.'/'_'-separated parts of a key). unique: keep
 * each word once. */
static void split_words(const char *s, terms *out, bool unique)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0' && out->n < MAX_TERMS) {
        while (*p != '\0' && !word_byte(*p))
            p++;
        char w[TERM_LEN];
        size_t n = 0;
        while (*p != '\0' && word_byte(*p)) {
            if (n + 1 < sizeof(w))
                w[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            p++;
        }
        w[n] = '\0';
        if (n < 2 || is_stop(w))
            continue;
        bool dup = false;
        for (size_t i = 0; unique && i < out->n && !dup; i++)
            dup = strcmp(out->t[i], w) == 0;
        if (!dup)
            memcpy(out->t[out->n++], w, n + 1);
    }
}

static void item_terms(const vault_entry *e, terms *t)
{
    t->n = 0;
    split_words(e->key, t, false);
    split_words(e->value, t, false);
}

static size_t count_term(const terms *t, const char *w)
{
    size_t c = 0;
    for (size_t i = 0; i < t->n; i++)
        c += strcmp(t->t[i], w) == 0;
    return c;
}

PLMM_EXPORT plmm_status plmm_vault_select(const plmm_vault *v, const char *text, size_t *indices,
                                          size_t max, size_t *n_out)
{
    if (v == NULL || text == NULL || n_out == NULL || (indices == NULL && max > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    *n_out = 0;
    if (v->n_items == 0 || max == 0)
        return PLMM_OK;
    terms *q = calloc(1, sizeof(*q));
    terms *it = calloc(1, sizeof(*it));
    double *score = calloc(v->n_items, sizeof(*score));
    size_t *df = calloc(MAX_TERMS, sizeof(*df));
    double *len = calloc(v->n_items, sizeof(*len));
    plmm_status s = PLMM_OK;
    if (q == NULL || it == NULL || score == NULL || df == NULL || len == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    split_words(text, q, true);
    double avg = 0;
    for (size_t i = 0; i < v->n_items; i++) {
        item_terms(&v->items[i], it);
        len[i] = (double)it->n;
        avg += len[i];
        for (size_t k = 0; k < q->n; k++)
            df[k] += count_term(it, q->t[k]) > 0;
    }
    avg = avg / (double)v->n_items + 1e-9;
    const double k1 = 1.2, b = 0.75, N = (double)v->n_items;
    for (size_t i = 0; i < v->n_items; i++) {
        const vault_entry *e = &v->items[i];
        item_terms(e, it);
        double sc = 0;
        for (size_t k = 0; k < q->n; k++) {
            double tf = (double)count_term(it, q->t[k]);
            if (tf == 0)
                continue;
            double idf = log(1.0 + (N - (double)df[k] + 0.5) / ((double)df[k] + 0.5));
            sc += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len[i] / avg));
        }
        if (e->kind == PLMM_VAULT_FACT &&
            (e->category == PLMM_PII_PERSON || e->category == PLMM_PII_PLACE))
            sc += 0.01;
        score[i] = sc;
    }
    /* Selection of the best max items (max is small). */
    size_t n = 0;
    while (n < max) {
        size_t best = v->n_items;
        for (size_t i = 0; i < v->n_items; i++)
            if (score[i] > 0 && (best == v->n_items || score[i] > score[best]))
                best = i;
        if (best == v->n_items)
            break;
        indices[n++] = best;
        score[best] = -1;
    }
    *n_out = n;
out:
    free(q);
    free(it);
    free(score);
    free(df);
    free(len);
    return s;
}

PLMM_EXPORT plmm_status plmm_vault_context(const plmm_vault *v, const char *text, size_t max_items,
                                           size_t max_bytes, char **out)
{
    if (v == NULL || text == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (max_items > 256)
        max_items = 256;
    size_t idx[256], n = 0;
    plmm_status s = plmm_vault_select(v, text, idx, max_items, &n);
    if (s != PLMM_OK)
        return s;
    static const char head[] = "What you know about the user (private, from their device; use "
                               "it to personalise the answer):\n";
    size_t cap = sizeof(head) + 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(v->items[idx[i]].key) + strlen(v->items[idx[i]].value) + 8;
    char *buf = malloc(cap);
    if (buf == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const vault_entry *e = &v->items[idx[i]];
        const char *label = e->kind == PLMM_VAULT_FACT     ? e->key
                            : e->kind == PLMM_VAULT_MEMORY ? "memory"
                                                           : "earlier";
        size_t need = strlen(label) + strlen(e->value) + 5;
        if (used == 0)
            need += sizeof(head) - 1;
        if (max_bytes > 0 && used + need > max_bytes)
            continue; /* a shorter, less relevant item may still fit */
        if (used == 0)
            used += (size_t)snprintf(buf, cap, "%s", head);
        used += (size_t)snprintf(buf + used, cap - used, "- %s: %s\n", label, e->value);
    }
    *out = buf;
    return PLMM_OK;
}
