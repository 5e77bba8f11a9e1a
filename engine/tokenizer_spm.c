/* SentencePiece (BPE model) encoding: start from single UTF-8 characters and
 * repeatedly merge the adjacent pair whose concatenation is the vocabulary
 * token with the highest score (leftmost on ties); leftovers that are not
 * tokens are emitted as <0xNN> byte tokens. */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* A pair merges when its text is a token; the higher its score, the sooner. */
static bool spm_pair(const plmm_tokenizer *t, const char *text, const plmm_tok_sym *l,
                     const plmm_tok_sym *r, double *prio)
{
    int32_t id = plmm_tok_lookup(t, text + l->off, l->n + r->n);
    if (id == PLMM_TOKEN_NULL)
        return false;
    *prio = t->scores[id];
    return true;
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
    plmm_tok_sym *s = NULL;
    plmm_tok_heap h = {0};
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
    if ((st = plmm_tok_merge(t, text, s, n, spm_pair, &h)) != PLMM_OK)
        goto out_free;

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
    plmm_tok_heap_free(&h);
    free(s);
    return st;
}
