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

/* Scratch reused across the words of one call. */
typedef struct scratch {
    char *word; /* mapped bytes */
    size_t word_cap;
    plmm_tok_sym *s;
    size_t s_cap;
    plmm_tok_heap h;
} scratch;

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

/* A pair merges when it is a listed merge; the lower its rank, the sooner. */
static bool bpe_pair(const plmm_tokenizer *t, const char *word, const plmm_tok_sym *l,
                     const plmm_tok_sym *r, double *prio)
{
    int64_t rank = merge_rank(t, word + l->off, l->n + r->n, l->n);
    if (rank < 0)
        return false;
    *prio = -(double)rank; /* exact: ranks are uint32 */
    return true;
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
        plmm_tok_sym *s = realloc(sc->s, wlen * sizeof(*s));
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
        plmm_tok_sym *s = &sc->s[i];
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

    if ((st = plmm_tok_merge(t, sc->word, sc->s, (int32_t)wlen, bpe_pair, &sc->h)) != PLMM_OK)
        return st;

    for (int32_t i = 0; i != -1; i = sc->s[i].next) {
        const plmm_tok_sym *s = &sc->s[i];
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
    plmm_tok_heap_free(&sc.h);
    free(words.v);
    free(fixed.p);
    return st;
}
