/* Pairwise merging shared by the SentencePiece and byte-level BPE encoders:
 * a word is a chain of symbols, the pairs of neighbours that may merge wait
 * in a priority queue, and the best one is merged (its new neighbours
 * queued) until none is left. The encoder says which pairs merge and with
 * which priority. */
#include "errors.h"
#include "tokenizer_impl.h"

#include <stdlib.h>

/* A pair that may merge. */
typedef struct plmm_tok_bigram {
    double prio; /* higher first */
    int32_t left, right;
    uint32_t size; /* bytes of the pair when it was queued */
} bigram;

/* The heap is a max-heap on prio, then smallest left index. */
static bool before(const bigram *a, const bigram *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static plmm_status heap_push(plmm_tok_heap *h, bigram b)
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

static bigram heap_pop(plmm_tok_heap *h)
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

void plmm_tok_heap_free(plmm_tok_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* Queue the pair (left, right) if both exist and they merge. */
static plmm_status try_pair(const plmm_tokenizer *t, const char *bytes, const plmm_tok_sym *s,
                            int32_t left, int32_t right, plmm_tok_pair_fn pair, plmm_tok_heap *h)
{
    double prio;
    if (left < 0 || right < 0 || !pair(t, bytes, &s[left], &s[right], &prio))
        return PLMM_OK;
    bigram b = {prio, left, right, s[left].n + s[right].n};
    return heap_push(h, b);
}

plmm_status plmm_tok_merge(const plmm_tokenizer *t, const char *bytes, plmm_tok_sym *s, int32_t n,
                           plmm_tok_pair_fn pair, plmm_tok_heap *h)
{
    plmm_status st;
    h->n = 0;
    for (int32_t i = 1; i < n; i++)
        if ((st = try_pair(t, bytes, s, i - 1, i, pair, h)) != PLMM_OK)
            return st;
    while (h->n > 0) {
        bigram b = heap_pop(h);
        plmm_tok_sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: a side was merged since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = b.left;
        if ((st = try_pair(t, bytes, s, l->prev, b.left, pair, h)) != PLMM_OK ||
            (st = try_pair(t, bytes, s, b.left, l->next, pair, h)) != PLMM_OK)
            return st;
    }
    return PLMM_OK;
}
