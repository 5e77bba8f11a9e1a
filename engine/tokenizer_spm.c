/* SentencePiece (BPE model) encoding: start from single UTF-8 characters and
 * repeatedly merge the adjacent pair whose concatenation is the vocabulary
 * token with the highest score (leftmost on ties); leftovers that are not
 * tokens are emitted as <0xNN> byte tokens. */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

typedef struct sym {
    int32_t prev, next; /* neighbours in the live chain, -1 at the ends */
    uint32_t off, n;    /* bytes in the text; n == 0 once merged away */
} sym;

typedef struct bigram {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of the pair when it was queued */
} bigram;

/* Max-heap on score, then smallest left index. */
typedef struct heap {
    bigram *v;
    size_t n, cap;
} heap;

static bool before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
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

static plmm_status try_bigram(const plmm_tokenizer *t, const char *text, const sym *s, int32_t left,
                              int32_t right, heap *h)
{
    if (left < 0 || right < 0)
        return PLMM_OK;
    uint32_t size = s[left].n + s[right].n;
    int32_t id = plmm_tok_lookup(t, text + s[left].off, size);
    if (id == PLMM_TOKEN_NULL)
        return PLMM_OK;
    bigram b = {t->scores[id], left, right, size};
    return heap_push(h, b);
}

/* Byte fallback: <0xNN>, else the byte itself as a token, else unknown. */
static plmm_status emit_byte(const plmm_tokenizer *t, unsigned char c, plmm_tok_vec *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char name[6] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>'};
    int32_t id = plmm_tok_lookup(t, name, sizeof(name));
    if (id == PLMM_TOKEN_NULL)
        id = plmm_tok_lookup(t, (const char *)&c, 1);
    if (id == PLMM_TOKEN_NULL)
        id = t->unk;
    return id == PLMM_TOKEN_NULL ? PLMM_OK : plmm_tok_vec_push(out, id);
}

plmm_status plmm_tok_spm_encode(const plmm_tokenizer *t, const char *text, size_t len,
                                plmm_tok_vec *out)
{
    sym *s = NULL;
    heap h = {0};
    plmm_status st = PLMM_OK;

    if (len == 0)
        return PLMM_OK;
    if (len > INT32_MAX)
        return plmm_err(PLMM_ERR_RANGE, "text fragment too long (%zu bytes)", len);
    s = malloc(len * sizeof(*s));
    if (s == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %zu symbols", len);

    /* one symbol per UTF-8 character; a byte that does not start a valid
     * sequence is a symbol of its own */
    int32_t n = 0;
    for (size_t off = 0; off < len; n++) {
        uint32_t cp;
        size_t cl = plmm_utf8_decode(text + off, len - off, &cp);
        s[n].off = (uint32_t)off;
        s[n].n = (uint32_t)cl;
        s[n].prev = n - 1;
        off += cl;
        s[n].next = off == len ? -1 : n + 1;
    }
    for (int32_t i = 1; i < n; i++)
        if ((st = try_bigram(t, text, s, i - 1, i, &h)) != PLMM_OK)
            goto out_free;

    while (h.n > 0) {
        bigram b = heap_pop(&h);
        sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: a side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = b.left;
        if ((st = try_bigram(t, text, s, l->prev, b.left, &h)) != PLMM_OK ||
            (st = try_bigram(t, text, s, b.left, l->next, &h)) != PLMM_OK)
            goto out_free;
    }

    for (int32_t i = 0; i != -1; i = s[i].next) {
        int32_t id = plmm_tok_lookup(t, text + s[i].off, s[i].n);
        if (id != PLMM_TOKEN_NULL) {
            st = plmm_tok_vec_push(out, id);
        } else {
            for (uint32_t j = 0; j < s[i].n && st == PLMM_OK; j++)
                st = emit_byte(t, (unsigned char)text[s[i].off + j], out);
        }
        if (st != PLMM_OK)
            goto out_free;
    }

out_free:
    free(h.v);
    free(s);
    return st;
}
