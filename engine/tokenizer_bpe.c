/* Byte-level BPE encoding (GPT-2 style): the pre-tokenizer splits the text
 * into words; each word's bytes are written as GPT-2 byte characters and then
 * merged pairwise, always taking the adjacent pair with the lowest merge rank
 * (leftmost on ties), until no listed pair is left. Bytes that are not valid
 * UTF-8 are first replaced by U+FFFD, as llama.cpp does. */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t prev, next; /* neighbours in the live chain, -1 at the ends */
    uint32_t off, n;    /* bytes of the mapped word; n == 0 once merged away */
} sym;

typedef struct bigram {
    uint32_t rank;
    int32_t left, right;
    uint32_t size; /* bytes of the pair when it was queued */
} bigram;

/* Min-heap on rank, then smallest left index. */
typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

/* Scratch reused across the words of one call. */
typedef struct scratch {
    char *word; /* mapped bytes */
    size_t word_cap;
    sym *s;
    size_t s_cap;
    heap h;
} scratch;

static bool before(const bigram *a, const bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static plmm_status heap_push(heap *h, bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram *v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate merge queue");
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return PLMM_OK;
}

static bigram heap_pop(heap *h)
{
    bigram top = h->v[0];
    bigram last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

/* Rank of merging left part s[0..left_len) with the rest of s[0..len), or -1. */
static int64_t merge_rank(const plmm_tokenizer *t, const char *s, uint32_t len, uint32_t left_len)
{
    uint32_t i = plmm_tok_hash(s, len) & t->merge_hash_mask;
    for (;;) {
        int32_t k = t->merge_hash[i];
        if (k < 0)
            return -1;
        const bpe_merge *m = &t->merges[k];
        if (m->len == len && m->left_len == left_len &&
            memcmp(t->merge_arena + m->off, s, len) == 0)
            return m->rank;
        i = (i + 1) & t->merge_hash_mask;
    }
}

static plmm_status try_bigram(const plmm_tokenizer *t, scratch *sc, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return PLMM_OK;
    const sym *l = &sc->s[left], *r = &sc->s[right];
    int64_t rank = merge_rank(t, sc->word + l->off, l->n + r->n, l->n);
    if (rank < 0)
        return PLMM_OK;
    bigram b = {(uint32_t)rank, left, right, l->n + r->n};
    return heap_push(&sc->h, b);
}

/* Room for a word of wlen bytes: 2 mapped bytes and one symbol per byte. */
static plmm_status reserve(scratch *sc, size_t wlen)
{
    if (2 * wlen > sc->word_cap) {
        char *w = realloc(sc->word, 2 * wlen);
        if (w == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate word of %zu bytes", wlen);
        sc->word = w;
        sc->word_cap = 2 * wlen;
    }
    if (wlen > sc->s_cap) {
        sym *s = realloc(sc->s, wlen * sizeof(*s));
        if (s == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %zu symbols", wlen);
        sc->s = s;
        sc->s_cap = wlen;
    }
    return PLMM_OK;
}

static plmm_status encode_word(const plmm_tokenizer *t, scratch *sc, const unsigned char *w,
                               size_t wlen, plmm_tok_vec *out)
{
    plmm_status st;
    if (wlen > INT32_MAX / 2)
        return plmm_err(PLMM_ERR_RANGE, "word too long (%zu bytes)", wlen);
    if ((st = reserve(sc, wlen)) != PLMM_OK)
        return st;

    /* one symbol per input byte: its byte character */
    uint32_t off = 0;
    for (size_t i = 0; i < wlen; i++) {
        sym *s = &sc->s[i];
        s->off = off;
        s->n = t->byte_utf8_len[w[i]];
        s->prev = (int32_t)i - 1;
        s->next = i + 1 == wlen ? -1 : (int32_t)i + 1;
        memcpy(sc->word + off, t->byte_utf8[w[i]], s->n);
        off += s->n;
    }
    if (t->ignore_merges) {
        int32_t id = plmm_tok_lookup(t, sc->word, off);
        if (id != PLMM_TOKEN_NULL)
            return plmm_tok_vec_push(out, id);
    }

    sc->h.n = 0;
    for (size_t i = 1; i < wlen; i++)
        if ((st = try_bigram(t, sc, (int32_t)i - 1, (int32_t)i)) != PLMM_OK)
            return st;
    while (sc->h.n > 0) {
        bigram b = heap_pop(&sc->h);
        sym *l = &sc->s[b.left], *r = &sc->s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: a side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sc->s[r->next].prev = b.left;
        if ((st = try_bigram(t, sc, l->prev, b.left)) != PLMM_OK ||
            (st = try_bigram(t, sc, b.left, l->next)) != PLMM_OK)
            return st;
    }

    for (int32_t i = 0; i != -1; i = sc->s[i].next) {
        const sym *s = &sc->s[i];
        int32_t id = plmm_tok_lookup(t, sc->word + s->off, s->n);
        if (id != PLMM_TOKEN_NULL) {
            if ((st = plmm_tok_vec_push(out, id)) != PLMM_OK)
                return st;
            continue;
        }
        /* not a token: single bytes of it that are tokens (llama.cpp) */
        for (uint32_t j = 0; j < s->n; j++) {
            id = plmm_tok_lookup(t, sc->word + s->off + j, 1);
            if (id != PLMM_TOKEN_NULL && (st = plmm_tok_vec_push(out, id)) != PLMM_OK)
                return st;
        }
    }
    return PLMM_OK;
}

/* Copy of text with every byte that is not valid UTF-8 replaced by U+FFFD;
 * NULL in *out when text is valid (nothing to copy). */
static plmm_status replace_invalid(const char *text, size_t len, plmm_tok_bytes *out)
{
    size_t done = 0;
    plmm_status st = PLMM_OK;
    for (size_t i = 0; i < len && st == PLMM_OK;) {
        uint32_t cp;
        size_t n = plmm_utf8_decode(text + i, len - i, &cp);
        if (cp == PLMM_UNICODE_INVALID) {
            st = plmm_tok_bytes_put(out, text + done, i - done);
            if (st == PLMM_OK)
                st = plmm_tok_bytes_put(out, "\xef\xbf\xbd", 3);
            done = i + 1;
        }
        i += n;
    }
    if (st == PLMM_OK && out->p != NULL)
        st = plmm_tok_bytes_put(out, text + done, len - done);
    return st;
}

plmm_status plmm_tok_bpe_encode(const plmm_tokenizer *t, const char *text, size_t len,
                                plmm_tok_vec *out)
{
    plmm_tok_spans words = {0};
    plmm_tok_bytes fixed = {0};
    scratch sc = {0};
    plmm_status st = replace_invalid(text, len, &fixed);
    if (st == PLMM_OK && fixed.p != NULL) {
        text = fixed.p;
        len = fixed.n;
    }
    if (st == PLMM_OK)
        st = plmm_tok_pre_split(t, text, len, &words);
    for (size_t i = 0; st == PLMM_OK && i < words.n; i++)
        st = encode_word(t, &sc, (const unsigned char *)text + words.v[i].off, words.v[i].len, out);
    free(sc.word);
    free(sc.s);
    free(sc.h.v);
    free(words.v);
    free(fixed.p);
    return st;
}
