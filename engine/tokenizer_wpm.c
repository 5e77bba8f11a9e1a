/* WordPiece (BERT) encoding as llama.cpp does it: normalize (first code point
 * of NFD, lowercase), split at white space, punctuation, ASCII symbols and CJK
 * ideographs, then cover "▁" + word greedily with the longest vocabulary
 * tokens; a word that cannot be covered becomes the unknown token. */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* CJK ideograph blocks BERT splits into single-character words. */
static bool is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Greedy longest-match of "▁" + word (w holds it). */
static plmm_status encode_word(const plmm_tokenizer *t, const plmm_tok_bytes *w, plmm_tok_vec *out)
{
    size_t start = out->n;
    plmm_status st;
    for (size_t i = 0; i < w->n;) {
        size_t j = i + t->max_token_len < w->n ? i + t->max_token_len : w->n;
        int32_t id = PLMM_TOKEN_NULL;
        for (; j > i; j--)
            if ((id = plmm_tok_lookup(t, w->p + i, j - i)) != PLMM_TOKEN_NULL)
                break;
        if (id == PLMM_TOKEN_NULL) {
            out->n = start; /* drop the partial word */
            break;
        }
        if ((st = plmm_tok_vec_push(out, id)) != PLMM_OK)
            return st;
        i = j;
    }
    if (out->n == start && t->unk != PLMM_TOKEN_NULL)
        return plmm_tok_vec_push(out, t->unk);
    return PLMM_OK;
}

/* Finish the current word (w holds "▁" + its text) when it has text. */
static plmm_status flush(const plmm_tokenizer *t, plmm_tok_bytes *w, plmm_tok_vec *out)
{
    plmm_status st = PLMM_OK;
    if (w->n > 3)
        st = encode_word(t, w, out);
    w->n = 3;
    return st;
}

plmm_status plmm_tok_wpm_encode(const plmm_tokenizer *t, const char *text, size_t len,
                                plmm_tok_vec *out)
{
    plmm_tok_bytes w = {0};
    plmm_status st = plmm_tok_bytes_put(&w, "\xe2\x96\x81", 3);
    for (size_t off = 0; st == PLMM_OK && off < len;) {
        uint32_t cp;
        off += plmm_utf8_decode(text + off, len - off, &cp);
        if (cp == PLMM_UNICODE_INVALID)
            continue;
        cp = plmm_unicode_nfd_first(cp);
        if (plmm_unicode_is_space(cp)) {
            st = flush(t, &w, out);
            continue;
        }
        plmm_ucat cat = plmm_unicode_category(cp);
        if (cp == 0 || cp == 0xFFFD || cat == PLMM_UCAT_CONTROL)
            continue;
        char u[4];
        size_t ul = plmm_utf8_encode(plmm_unicode_tolower(cp), u);
        if (cat == PLMM_UCAT_PUNCT || (cp < 0x7F && cat == PLMM_UCAT_SYMBOL) || is_cjk(cp)) {
            if ((st = flush(t, &w, out)) != PLMM_OK ||
                (st = plmm_tok_bytes_put(&w, u, ul)) != PLMM_OK)
                break;
            st = flush(t, &w, out);
        } else {
            st = plmm_tok_bytes_put(&w, u, ul);
        }
    }
    if (st == PLMM_OK)
        st = flush(t, &w, out);
    free(w.p);
    return st;
}
