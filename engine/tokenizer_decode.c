/* Token pieces (the bytes a token renders as) and decoding of id sequences. */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- loading: pieces ---- */

/* Append the rendered piece of id (CONTROL/UNKNOWN as their text). */
static plmm_status render_piece(const plmm_tokenizer *t, int32_t id, plmm_tok_bytes *out)
{
    size_t len;
    const char *s = t->text_arena + t->text_off[id];
    len = t->text_off[id + 1] - t->text_off[id];
    uint16_t a = t->attr[id];

    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
        return plmm_tok_bytes_put(out, s, len);
    if (t->type == PLMM_VOCAB_BPE) {
        if (!(a & TOK_ATTR_NORMAL))
            return PLMM_OK;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            size_t n = plmm_utf8_decode(s + i, len - i, &cp);
            plmm_status st;
            if (cp < sizeof(t->cp_to_byte) / sizeof(t->cp_to_byte[0]) && t->cp_to_byte[cp] >= 0) {
                char b = (char)t->cp_to_byte[cp];
                st = plmm_tok_bytes_put(out, &b, 1);
            } else {
                st = plmm_tok_bytes_put(out, s + i, n); /* not a byte character: keep it */
            }
            if (st != PLMM_OK)
                return st;
            i += n;
        }
        return PLMM_OK;
    }
    /* SPM, WPM */
    if (a & TOK_ATTR_NORMAL) {
        for (size_t i = 0; i < len;) {
            plmm_status st;
            if (len - i >= 3 && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                st = plmm_tok_bytes_put(out, " ", 1);
                i += 3;
            } else {
                st = plmm_tok_bytes_put(out, s + i, 1);
                i++;
            }
            if (st != PLMM_OK)
                return st;
        }
        return PLMM_OK;
    }
    if (a & TOK_ATTR_BYTE) {
        /* "<0xNN>" */
        unsigned v = 0;
        for (size_t i = 3; i < 5 && i < len; i++) {
            char c = s[i];
            v = v * 16 + (unsigned)(c >= '0' && c <= '9'   ? c - '0'
                                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                           : 0);
        }
        char b = (char)v;
        return plmm_tok_bytes_put(out, &b, 1);
    }
    return PLMM_OK;
}

plmm_status plmm_tok_build_pieces(plmm_tokenizer *t)
{
    plmm_tok_bytes b = {0};
    plmm_status st = PLMM_OK;
    t->piece_off = calloc((size_t)t->n_vocab + 1, sizeof(*t->piece_off));
    if (t->piece_off == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate token pieces");
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        t->piece_off[id] = (uint32_t)b.n;
        if ((st = render_piece(t, (int32_t)id, &b)) != PLMM_OK)
            goto out_free;
        if (b.n > UINT32_MAX - 1) {
            st = plmm_err(PLMM_ERR_FORMAT, "token pieces too large");
            goto out_free;
        }
    }
    t->piece_off[t->n_vocab] = (uint32_t)b.n;
    if ((st = plmm_tok_bytes_put(&b, "", 1)) != PLMM_OK) /* never a zero-size arena */
        goto out_free;
    t->piece_arena = b.p;
    return PLMM_OK;

out_free:
    free(b.p);
    return st;
}

/* ---- decode ---- */

const char *plmm_tokenizer_piece_ref(const plmm_tokenizer *t, int32_t id, bool render_special,
                                     size_t *len)
{
    if (!plmm_tok_valid_id(t, id)) {
        *len = 0;
        return NULL;
    }
    if (!render_special && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) {
        *len = 0;
        return t->piece_arena + t->piece_off[id];
    }
    *len = t->piece_off[id + 1] - t->piece_off[id];
    return t->piece_arena + t->piece_off[id];
}

plmm_status plmm_tokenizer_piece(const plmm_tokenizer *t, int32_t id, char *buf, size_t size,
                                 size_t *n_out)
{
    if (n_out != NULL)
        *n_out = 0;
    if (t == NULL || n_out == NULL || (buf == NULL && size > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenizer_piece: NULL argument");
    if (!plmm_tok_valid_id(t, id))
        return plmm_err(PLMM_ERR_RANGE, "token id %d out of range (vocabulary of %u)", (int)id,
                        t->n_vocab);
    size_t len;
    const char *p = plmm_tokenizer_piece_ref(t, id, false, &len);
    *n_out = len;
    if (len > size)
        return plmm_err(PLMM_ERR_RANGE, "piece buffer too small: %zu bytes, room for %zu", len,
                        size);
    if (len > 0)
        memcpy(buf, p, len);
    return PLMM_OK;
}

/* llama.cpp's clean-up of tokenization spaces, in place; returns the new length. */
static size_t clean_spaces(char *s, size_t n)
{
    size_t w, i;
    /* " ?" " !" " ." " ," lose the space */
    for (w = 0, i = 0; i < n; i++) {
        char c = s[i];
        if (i > 0 && s[i - 1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',') && w > 0 &&
            s[w - 1] == ' ')
            w--;
        s[w++] = c;
    }
    n = w;
    /* " ' " -> "'" */
    for (w = 0, i = 0; i < n; i++) {
        if (s[i] == '\'' && i > 0 && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ' && w > 0 &&
            s[w - 1] == ' ') {
            w--;
            s[w++] = '\'';
            i++; /* the space after */
            continue;
        }
        s[w++] = s[i];
    }
    n = w;
    /* " 's" " 'm" " 're" " 've" lose the space */
    for (w = 0, i = 0; i < n; i++) {
        if (s[i] == '\'' && i > 0 && s[i - 1] == ' ' && i + 1 < n && w > 0 && s[w - 1] == ' ') {
            char a = s[i + 1];
            char b = i + 2 < n ? s[i + 2] : '\0';
            if (a == 's' || a == 'm' || ((a == 'r' || a == 'v') && b == 'e'))
                w--;
        }
        s[w++] = s[i];
    }
    return w;
}

plmm_status plmm_tokenizer_decode(const plmm_tokenizer *t, const int32_t *ids, size_t n,
                                  unsigned flags, char *text, size_t size, size_t *n_out)
{
    if (n_out != NULL)
        *n_out = 0;
    if (t == NULL || n_out == NULL || (ids == NULL && n > 0) || (text == NULL && size > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenizer_decode: NULL argument");
    size_t b = 0, e = n;
    if (flags & PLMM_DECODE_REMOVE_SPECIAL) {
        if (t->add_bos && e > b && ids[b] == t->bos)
            b++;
        if (t->add_eos && e > b && ids[e - 1] == t->eos)
            e--;
    }
    bool raw = (flags & PLMM_DECODE_RAW) != 0;
    bool render = (flags & PLMM_DECODE_RENDER_SPECIAL) != 0;
    bool strip = !raw && t->add_space_prefix; /* until the first non-empty piece */
    plmm_tok_bytes out = {0};
    plmm_status st = PLMM_OK;
    for (size_t i = b; i < e; i++) {
        if (!plmm_tok_valid_id(t, ids[i])) {
            st = plmm_err(PLMM_ERR_RANGE, "token id %d out of range (vocabulary of %u)",
                          (int)ids[i], t->n_vocab);
            goto out_free;
        }
        size_t len;
        const char *p = plmm_tokenizer_piece_ref(t, ids[i], render, &len);
        if (strip && len > 0) {
            strip = false;
            if (p[0] == ' ') {
                p++;
                len--;
            }
        }
        if ((st = plmm_tok_bytes_put(&out, p, len)) != PLMM_OK)
            goto out_free;
    }
    if (!raw && t->clean_spaces && out.n > 0)
        out.n = clean_spaces(out.p, out.n);
    *n_out = out.n;
    if (out.n > 0)
        memcpy(text, out.p, out.n < size ? out.n : size);
    if (out.n > size)
        st =
            plmm_err(PLMM_ERR_RANGE, "text buffer too small: %zu bytes, room for %zu", out.n, size);

out_free:
    free(out.p);
    return st;
}
