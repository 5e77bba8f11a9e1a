/* Tokenizer: loading from GGUF, vocabulary lookup, special tokens, encode
 * dispatch, pieces and decode. The per-model algorithms live in
 * tokenizer_spm.c, tokenizer_bpe.c, tokenizer_wpm.c and tokenizer_pre.c. */
#include "tokenizer.h"

#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

/* Bound on tokens and merges: keeps ids in int32 and hash sizes in uint32. */
#define MAX_ENTRIES (UINT64_C(1) << 30)

/* ---- small helpers ---- */

uint32_t plmm_tok_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

plmm_status plmm_tok_vec_push(plmm_tok_vec *tv, int32_t id)
{
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 64;
        int32_t *v = realloc(tv->v, cap * sizeof(*v));
        if (v == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %zu token ids", cap);
        tv->v = v;
        tv->cap = cap;
    }
    tv->v[tv->n++] = id;
    return PLMM_OK;
}

plmm_status plmm_tok_span_push(plmm_tok_spans *sv, size_t off, size_t len)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        plmm_tok_span *v = realloc(sv->v, cap * sizeof(*v));
        if (v == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %zu word spans", cap);
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n].off = off;
    sv->v[sv->n].len = len;
    sv->n++;
    return PLMM_OK;
}

plmm_status plmm_tok_bytes_put(plmm_tok_bytes *b, const void *src, size_t len)
{
    if (len > SIZE_MAX - b->n)
        return plmm_err(PLMM_ERR_NOMEM, "text too large");
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len)
            cap = cap > SIZE_MAX / 2 ? b->n + len : cap * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %zu bytes", cap);
        b->p = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->n, src, len);
    b->n += len;
    return PLMM_OK;
}

/* ASCII isspace of the C locale: what llama.cpp strips around special tokens. */
static bool ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

bool plmm_tok_valid_id(const plmm_tokenizer *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n_vocab;
}

static const char *tok_text(const plmm_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->text_off[id + 1] - t->text_off[id];
    return t->text_arena + t->text_off[id];
}

int32_t plmm_tok_lookup(const plmm_tokenizer *t, const char *s, size_t len)
{
    uint32_t i = plmm_tok_hash(s, len) & t->vocab_hash_mask;
    for (;;) {
        int32_t id = t->vocab_hash[i];
        if (id < 0)
            return PLMM_TOKEN_NULL;
        size_t tl;
        const char *tt = tok_text(t, id, &tl);
        if (tl == len && memcmp(tt, s, len) == 0)
            return id;
        i = (i + 1) & t->vocab_hash_mask;
    }
}

/* ---- loading: GGUF access ---- */

/* Index of an array key with the given element type, and its length. */
static plmm_status find_array(const plmm_gguf *g, const char *key, plmm_gguf_type elem,
                              bool required, int64_t *idx, uint64_t *len)
{
    *idx = plmm_gguf_find_key(g, key);
    *len = 0;
    if (*idx < 0)
        return required ? plmm_err(PLMM_ERR_NOT_FOUND, "missing key '%s'", key) : PLMM_OK;
    if (plmm_gguf_kv_type(g, (uint64_t)*idx) != PLMM_GGUF_ARRAY)
        return plmm_err(PLMM_ERR_FORMAT, "key '%s' is not an array", key);
    plmm_gguf_type at = plmm_gguf_arr_type(g, (uint64_t)*idx);
    bool ok = at == elem;
    if (elem == PLMM_GGUF_INT32) /* token types: any integer width */
        ok = at == PLMM_GGUF_INT8 || at == PLMM_GGUF_UINT8 || at == PLMM_GGUF_INT16 ||
             at == PLMM_GGUF_UINT16 || at == PLMM_GGUF_INT32 || at == PLMM_GGUF_UINT32 ||
             at == PLMM_GGUF_INT64 || at == PLMM_GGUF_UINT64;
    if (!ok)
        return plmm_err(PLMM_ERR_FORMAT, "key '%s' has elements of type %s", key,
                        plmm_gguf_type_name(at));
    *len = plmm_gguf_arr_len(g, (uint64_t)*idx);
    return PLMM_OK;
}

/* Element j of an integer array as int64 (-1 for other types and for
 * uint64 values past INT64_MAX). */
static int64_t arr_int(const plmm_gguf *g, int64_t idx, uint64_t j)
{
    plmm_gguf_type at = plmm_gguf_arr_type(g, (uint64_t)idx);
    const unsigned char *p = plmm_gguf_arr_data(g, (uint64_t)idx);
    union {
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
    } v;
    size_t w = plmm_gguf_type_size(at);
    if (p == NULL || w == 0 || w > sizeof(v))
        return -1;
    memcpy(&v, p + w * j, w);
    switch (at) {
    case PLMM_GGUF_INT8:
        return v.i8;
    case PLMM_GGUF_UINT8:
        return v.u8;
    case PLMM_GGUF_INT16:
        return v.i16;
    case PLMM_GGUF_UINT16:
        return v.u16;
    case PLMM_GGUF_INT32:
        return v.i32;
    case PLMM_GGUF_UINT32:
        return v.u32;
    case PLMM_GGUF_INT64:
        return v.i64;
    case PLMM_GGUF_UINT64:
        return v.u64 > INT64_MAX ? -1 : (int64_t)v.u64;
    default:
        return -1;
    }
}

/* Optional bool key: absent keeps *v. */
static plmm_status get_bool_opt(const plmm_gguf *g, const char *key, bool *v)
{
    bool b;
    plmm_status st = plmm_gguf_get_bool(g, key, &b);
    if (st == PLMM_ERR_NOT_FOUND)
        return PLMM_OK;
    if (st != PLMM_OK)
        return plmm_err(st, "key '%s' is not a bool", key);
    *v = b;
    return PLMM_OK;
}

/* Optional token id key: absent or out of range keeps *v (llama.cpp keeps
 * the default for out-of-range ids such as 0xFFFFFFFF). */
static plmm_status get_id_opt(const plmm_tokenizer *t, const plmm_gguf *g, const char *key,
                              int32_t *v)
{
    int64_t x;
    plmm_status st = plmm_gguf_get_i64(g, key, &x);
    if (st == PLMM_ERR_NOT_FOUND)
        return PLMM_OK;
    if (st != PLMM_OK)
        return plmm_err(st, "key '%s' is not an integer", key);
    if (x >= 0 && x < (int64_t)t->n_vocab)
        *v = (int32_t)x;
    return PLMM_OK;
}

/* ---- loading: vocabulary ---- */

/* TOK_ATTR_* of each PLMM_TOKEN_TYPE_* (other types: TOK_ATTR_UNDEFINED). */
static const uint16_t type_attr[] = {
    [PLMM_TOKEN_TYPE_UNDEFINED] = TOK_ATTR_UNDEFINED,
    [PLMM_TOKEN_TYPE_NORMAL] = TOK_ATTR_NORMAL,
    [PLMM_TOKEN_TYPE_UNKNOWN] = TOK_ATTR_UNKNOWN,
    [PLMM_TOKEN_TYPE_CONTROL] = TOK_ATTR_CONTROL,
    [PLMM_TOKEN_TYPE_USER_DEFINED] = TOK_ATTR_USER_DEFINED,
    [PLMM_TOKEN_TYPE_UNUSED] = TOK_ATTR_UNUSED,
    [PLMM_TOKEN_TYPE_BYTE] = TOK_ATTR_BYTE,
};
#define N_TYPES ((int64_t)(sizeof(type_attr) / sizeof(type_attr[0])))

static plmm_status load_tokens(plmm_tokenizer *t, const plmm_gguf *g)
{
    int64_t ti, si, yi;
    uint64_t n, ns, ny;
    plmm_status st;

    if ((st = find_array(g, KEY_TOKENS, PLMM_GGUF_STRING, true, &ti, &n)) != PLMM_OK)
        return st;
    if (n == 0 || n > MAX_ENTRIES)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' has %llu entries", KEY_TOKENS,
                        (unsigned long long)n);
    if ((st = find_array(g, KEY_SCORES, PLMM_GGUF_FLOAT32, false, &si, &ns)) != PLMM_OK)
        return st;
    if ((st = find_array(g, KEY_TYPES, PLMM_GGUF_INT32, false, &yi, &ny)) != PLMM_OK)
        return st;
    if (si >= 0 && ns != n)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' has %llu entries, '%s' %llu", KEY_SCORES,
                        (unsigned long long)ns, KEY_TOKENS, (unsigned long long)n);
    if (yi >= 0 && ny != n)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' has %llu entries, '%s' %llu", KEY_TYPES,
                        (unsigned long long)ny, KEY_TOKENS, (unsigned long long)n);
    t->n_vocab = (uint32_t)n;

    /* text arena; empty tokens become "[EMPTY_<id>]" as in llama.cpp */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        plmm_gguf_str s = plmm_gguf_arr_str(g, (uint64_t)ti, i);
        total += s.len ? s.len : 24;
    }
    if (total > UINT32_MAX - 1)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' text too large", KEY_TOKENS);
    t->text_arena = malloc((size_t)total + 1);
    t->text_off = calloc((size_t)n + 1, sizeof(*t->text_off));
    t->scores = calloc((size_t)n, sizeof(*t->scores));
    t->attr = calloc((size_t)n, sizeof(*t->attr));
    if (!t->text_arena || !t->text_off || !t->scores || !t->attr)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate vocabulary of %llu tokens",
                        (unsigned long long)n);
    uint32_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        plmm_gguf_str s = plmm_gguf_arr_str(g, (uint64_t)ti, i);
        t->text_off[i] = off;
        if (s.len == 0) {
            off +=
                (uint32_t)snprintf(t->text_arena + off, 25, "[EMPTY_%llu]", (unsigned long long)i);
        } else {
            memcpy(t->text_arena + off, s.ptr, (size_t)s.len);
            off += (uint32_t)s.len;
        }
        if (off - t->text_off[i] > t->max_token_len)
            t->max_token_len = off - t->text_off[i];
    }
    t->text_off[n] = off;

    const unsigned char *sc = si >= 0 ? plmm_gguf_arr_data(g, (uint64_t)si) : NULL;
    for (uint64_t i = 0; i < n; i++) {
        if (sc != NULL)
            memcpy(&t->scores[i], sc + 4 * i, 4);
        uint16_t a = TOK_ATTR_NORMAL;
        if (yi >= 0) {
            int64_t type = arr_int(g, yi, i);
            a = type >= 0 && type < N_TYPES ? type_attr[type] : TOK_ATTR_UNDEFINED;
        }
        t->attr[i] = a;
    }

    /* text -> id; a later duplicate replaces an earlier one (llama.cpp) */
    uint32_t cap = 16;
    while (cap < 2 * t->n_vocab)
        cap *= 2;
    t->vocab_hash = malloc((size_t)cap * sizeof(*t->vocab_hash));
    if (t->vocab_hash == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate vocabulary index");
    memset(t->vocab_hash, 0xff, (size_t)cap * sizeof(*t->vocab_hash));
    t->vocab_hash_mask = cap - 1;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, (int32_t)id, &len);
        uint32_t i = plmm_tok_hash(s, len) & t->vocab_hash_mask;
        for (;;) {
            int32_t o = t->vocab_hash[i];
            if (o < 0) {
                t->vocab_hash[i] = (int32_t)id;
                break;
            }
            size_t ol;
            const char *os = tok_text(t, o, &ol);
            if (ol == len && memcmp(os, s, len) == 0) {
                t->vocab_hash[i] = (int32_t)id;
                break;
            }
            i = (i + 1) & t->vocab_hash_mask;
        }
    }
    return PLMM_OK;
}

/* BPE merges "left right" (split at the first space after byte 0); the
 * first occurrence of a pair keeps its rank. */
static plmm_status load_merges(plmm_tokenizer *t, const plmm_gguf *g)
{
    int64_t mi;
    uint64_t n;
    plmm_status st = find_array(g, KEY_MERGES, PLMM_GGUF_STRING, true, &mi, &n);
    if (st != PLMM_OK)
        return st;
    if (n > MAX_ENTRIES)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' has %llu entries", KEY_MERGES,
                        (unsigned long long)n);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += plmm_gguf_arr_str(g, (uint64_t)mi, i).len;
    if (total > UINT32_MAX - 1)
        return plmm_err(PLMM_ERR_FORMAT, "'%s' text too large", KEY_MERGES);
    uint32_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    t->merges = calloc((size_t)n + 1, sizeof(*t->merges));
    t->merge_arena = malloc((size_t)total + 1);
    t->merge_hash = malloc((size_t)cap * sizeof(*t->merge_hash));
    if (!t->merges || !t->merge_arena || !t->merge_hash)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate %llu merges", (unsigned long long)n);
    memset(t->merge_hash, 0xff, (size_t)cap * sizeof(*t->merge_hash));
    t->merge_hash_mask = cap - 1;

    uint32_t off = 0;
    for (uint64_t r = 0; r < n; r++) {
        plmm_gguf_str s = plmm_gguf_arr_str(g, (uint64_t)mi, r);
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (sp == NULL)
            continue; /* cannot match any pair */
        uint32_t left = (uint32_t)(sp - s.ptr);
        uint32_t right = (uint32_t)s.len - left - 1;
        if (left == 0 || right == 0)
            continue;
        bpe_merge *m = &t->merges[t->n_merges];
        m->off = off;
        m->len = left + right;
        m->left_len = left;
        m->rank = (uint32_t)r;
        memcpy(t->merge_arena + off, s.ptr, left);
        memcpy(t->merge_arena + off + left, sp + 1, right);

        uint32_t i = plmm_tok_hash(t->merge_arena + off, m->len) & t->merge_hash_mask;
        bool dup = false;
        for (;;) {
            int32_t o = t->merge_hash[i];
            if (o < 0)
                break;
            const bpe_merge *om = &t->merges[o];
            if (om->len == m->len && om->left_len == m->left_len &&
                memcmp(t->merge_arena + om->off, t->merge_arena + off, m->len) == 0) {
                dup = true;
                break;
            }
            i = (i + 1) & t->merge_hash_mask;
        }
        if (dup)
            continue;
        t->merge_hash[i] = (int32_t)t->n_merges++;
        off += m->len;
    }
    return PLMM_OK;
}

/* GPT-2's byte <-> character table: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes take U+0100.. in byte order. */
static void init_byte_map(plmm_tokenizer *t)
{
    uint32_t next = 256;
    for (size_t i = 0; i < sizeof(t->cp_to_byte) / sizeof(t->cp_to_byte[0]); i++)
        t->cp_to_byte[i] = -1;
    for (uint32_t b = 0; b < 256; b++) {
        bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = self ? b : next++;
        char u[4];
        size_t n = plmm_utf8_encode(cp, u);
        memcpy(t->byte_utf8[b], u, n);
        t->byte_utf8_len[b] = (uint8_t)n;
        t->cp_to_byte[cp] = (int16_t)b;
    }
}

/* ---- loading: special tokens ---- */

static void set_attr_by_text(plmm_tokenizer *t, const char *text, uint16_t bit, bool on)
{
    int32_t id = plmm_tok_lookup(t, text, strlen(text));
    if (id == PLMM_TOKEN_NULL)
        return;
    t->attr[id] = on ? (uint16_t)(t->attr[id] | bit) : (uint16_t)(t->attr[id] & ~bit);
}

/* When *field is unset: the first token (in list order) whose text is one of
 * names, made CONTROL. */
static void detect(plmm_tokenizer *t, int32_t *field, const char *const *names, size_t n)
{
    if (*field != PLMM_TOKEN_NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        int32_t id = plmm_tok_lookup(t, names[i], strlen(names[i]));
        if (id != PLMM_TOKEN_NULL) {
            t->attr[id] = TOK_ATTR_CONTROL;
            *field = id;
            return;
        }
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

static int cmp_len_desc(const void *a, const void *b)
{
    const len_id *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

static plmm_status add_eog(plmm_tokenizer *t, int32_t id)
{
    if (id == PLMM_TOKEN_NULL)
        return PLMM_OK;
    for (uint32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return PLMM_OK;
    int32_t *v = realloc(t->eog, (t->n_eog + 1) * sizeof(*v));
    if (v == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate eog list");
    t->eog = v;
    t->eog[t->n_eog++] = id;
    return PLMM_OK;
}

static plmm_status load_specials(plmm_tokenizer *t, const plmm_gguf *g)
{
    static const struct {
        const char *key;
        size_t field;
    } id_keys[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(plmm_tokenizer, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(plmm_tokenizer, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(plmm_tokenizer, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(plmm_tokenizer, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(plmm_tokenizer, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(plmm_tokenizer, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(plmm_tokenizer, pad)},
        {"tokenizer.ggml.mask_token_id", offsetof(plmm_tokenizer, mask)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(plmm_tokenizer, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(plmm_tokenizer, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(plmm_tokenizer, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(plmm_tokenizer, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(plmm_tokenizer, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(plmm_tokenizer, fim_sep)},
        /* older names */
        {"tokenizer.ggml.prefix_token_id", offsetof(plmm_tokenizer, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(plmm_tokenizer, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(plmm_tokenizer, fim_mid)},
    };
    plmm_status st;

    /* defaults beyond the vocabulary mean "none" */
    int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->eom, &t->unk, &t->sep, &t->pad, &t->mask};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        if (!plmm_tok_valid_id(t, *ids[i]))
            *ids[i] = PLMM_TOKEN_NULL;
    for (size_t i = 0; i < sizeof(id_keys) / sizeof(id_keys[0]); i++) {
        int32_t *field = (int32_t *)(void *)((char *)t + id_keys[i].field);
        if ((st = get_id_opt(t, g, id_keys[i].key, field)) != PLMM_OK)
            return st;
    }
    if (t->type == PLMM_VOCAB_WPM &&
        (st = get_id_opt(t, g, "tokenizer.ggml.cls_token_id", &t->bos)) != PLMM_OK)
        return st;
    if ((st = get_bool_opt(g, "tokenizer.ggml.add_bos_token", &t->add_bos)) != PLMM_OK ||
        (st = get_bool_opt(g, "tokenizer.ggml.add_eos_token", &t->add_eos)) != PLMM_OK)
        return st;
    if (t->bos == PLMM_TOKEN_NULL)
        t->add_bos = false;
    if (t->eos == PLMM_TOKEN_NULL)
        t->add_eos = false;

    /* tokens recognised by their text (llama.cpp makes them CONTROL) */
    static const char *const eot_names[] = {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<EOT>",
        "<｜end▁of▁sentence｜>", /* DeepSeek */
    };
    static const char *const eom_names[] = {"<|eom_id|>"};
    static const char *const fim_pre_names[] = {"<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>",
                                                "<PRE>"};
    static const char *const fim_suf_names[] = {"<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>",
                                                "<SUF>"};
    static const char *const fim_mid_names[] = {"<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>",
                                                "<MID>"};
    static const char *const fim_pad_names[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
    static const char *const fim_rep_names[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                                "<REPO>"};
    static const char *const fim_sep_names[] = {"<|file_sep|>"};
    static const char *const eog_names[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                            "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                            "<EOT>"};
    detect(t, &t->eot, eot_names, sizeof(eot_names) / sizeof(eot_names[0]));
    detect(t, &t->eom, eom_names, sizeof(eom_names) / sizeof(eom_names[0]));
    detect(t, &t->fim_pre, fim_pre_names, sizeof(fim_pre_names) / sizeof(fim_pre_names[0]));
    detect(t, &t->fim_suf, fim_suf_names, sizeof(fim_suf_names) / sizeof(fim_suf_names[0]));
    detect(t, &t->fim_mid, fim_mid_names, sizeof(fim_mid_names) / sizeof(fim_mid_names[0]));
    detect(t, &t->fim_pad, fim_pad_names, sizeof(fim_pad_names) / sizeof(fim_pad_names[0]));
    detect(t, &t->fim_rep, fim_rep_names, sizeof(fim_rep_names) / sizeof(fim_rep_names[0]));
    detect(t, &t->fim_sep, fim_sep_names, sizeof(fim_sep_names) / sizeof(fim_sep_names[0]));

    /* end of generation */
    if ((st = add_eog(t, t->fim_pad)) != PLMM_OK || (st = add_eog(t, t->fim_rep)) != PLMM_OK ||
        (st = add_eog(t, t->fim_sep)) != PLMM_OK)
        return st;
    for (size_t i = 0; i < sizeof(eog_names) / sizeof(eog_names[0]); i++) {
        int32_t id = plmm_tok_lookup(t, eog_names[i], strlen(eog_names[i]));
        if (id != PLMM_TOKEN_NULL) {
            t->attr[id] = TOK_ATTR_CONTROL;
            if ((st = add_eog(t, id)) != PLMM_OK)
                return st;
        }
    }
    if ((st = add_eog(t, t->eos)) != PLMM_OK || (st = add_eog(t, t->eot)) != PLMM_OK ||
        (st = add_eog(t, t->eom)) != PLMM_OK)
        return st;
    if (t->n_eog > 1)
        qsort(t->eog, t->n_eog, sizeof(*t->eog), cmp_i32);

    /* tokens matched in the text before tokenization, longest first */
    uint32_t n = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            n++;
    if (n > 0) {
        len_id *tmp = malloc((size_t)n * sizeof(*tmp));
        t->specials = malloc((size_t)n * sizeof(*t->specials));
        if (tmp == NULL || t->specials == NULL) {
            free(tmp);
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate special token list");
        }
        uint32_t k = 0;
        for (uint32_t id = 0; id < t->n_vocab; id++) {
            if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) {
                tmp[k].len = t->text_off[id + 1] - t->text_off[id];
                tmp[k].id = (int32_t)id;
                k++;
            }
        }
        qsort(tmp, n, sizeof(*tmp), cmp_len_desc);
        for (uint32_t i = 0; i < n; i++)
            t->specials[i] = tmp[i].id;
        t->n_specials = n;
        free(tmp);
    }

    /* per-model strip rules llama.cpp applies by name */
    char name[256] = "";
    if (plmm_gguf_get_string(g, "general.name", name, sizeof(name)) != PLMM_OK)
        name[0] = '\0';
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    if (strstr(t->pre_name, "jina-v2-de") || strstr(t->pre_name, "jina-v2-es") ||
        strstr(t->pre_name, "jina-v2-code")) {
        set_attr_by_text(t, "<mask>", TOK_ATTR_LSTRIP, true);
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (uint32_t i = 0; i < t->n_specials; i++)
            t->attr[t->specials[i]] |= TOK_ATTR_RSTRIP;
        set_attr_by_text(t, "</s>", TOK_ATTR_RSTRIP, true);
        set_attr_by_text(t, "<unk>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(t, "<s>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(t, "<|endoftext|>", TOK_ATTR_RSTRIP, false);
    }
    return PLMM_OK;
}

/* ---- create / destroy ---- */

static plmm_status create(const plmm_gguf *g, const char *pre_override, plmm_tokenizer *t)
{
    char model[64];
    plmm_status st;

    st = plmm_gguf_get_string(g, KEY_MODEL, model, sizeof(model));
    if (st == PLMM_ERR_NOT_FOUND)
        return plmm_err(st, "missing key '%s'", KEY_MODEL);
    if (st == PLMM_ERR_RANGE)
        return plmm_err(PLMM_ERR_UNSUPPORTED, "tokenizer model in '%s' is not supported",
                        KEY_MODEL);
    if (st != PLMM_OK)
        return plmm_err(st, "key '%s' is not a string", KEY_MODEL);

    t->bos = t->eos = t->eot = t->eom = t->unk = t->sep = t->pad = t->mask = PLMM_TOKEN_NULL;
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = PLMM_TOKEN_NULL;
    t->nl = PLMM_TOKEN_NULL;
    if (strcmp(model, "llama") == 0) {
        t->type = PLMM_VOCAB_SPM;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_space_prefix = true;
        t->add_bos = true;
    } else if (strcmp(model, "gpt2") == 0) {
        t->type = PLMM_VOCAB_BPE;
        t->bos = 11;
        t->eos = 11;
        t->clean_spaces = true;
    } else if (strcmp(model, "bert") == 0) {
        t->type = PLMM_VOCAB_WPM;
        t->bos = 101;
        t->unk = 100;
        t->sep = 102;
        t->pad = 0;
        t->mask = 103;
        t->clean_spaces = true;
        t->add_bos = true;
    } else {
        return plmm_err(PLMM_ERR_UNSUPPORTED, "tokenizer model '%s' is not supported", model);
    }

    /* pre-tokenizer name: the override, else the file's, else "default" */
    char pre[sizeof(t->pre_name)] = "default";
    if (pre_override != NULL) {
        if (strlen(pre_override) >= sizeof(pre))
            return plmm_err(PLMM_ERR_UNSUPPORTED, "pre-tokenizer '%s' is not supported",
                            pre_override);
        strcpy(pre, pre_override);
    } else {
        st = plmm_gguf_get_string(g, KEY_PRE, pre, sizeof(pre));
        if (st == PLMM_ERR_NOT_FOUND || (st == PLMM_OK && pre[0] == '\0'))
            strcpy(pre, "default");
        else if (st == PLMM_ERR_RANGE)
            return plmm_err(PLMM_ERR_UNSUPPORTED, "pre-tokenizer name in '%s' is too long",
                            KEY_PRE);
        else if (st != PLMM_OK)
            return plmm_err(st, "key '%s' is not a string", KEY_PRE);
    }
    if (t->type == PLMM_VOCAB_BPE) {
        if ((st = plmm_tok_pre_select(t, pre)) != PLMM_OK)
            return st;
    } else {
        t->pre = PRETOK_NONE;
        strcpy(t->pre_name, "default");
    }
    if ((st = get_bool_opt(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix)) != PLMM_OK)
        return st;

    if ((st = load_tokens(t, g)) != PLMM_OK)
        return st;
    if (t->type == PLMM_VOCAB_BPE) {
        init_byte_map(t);
        if ((st = load_merges(t, g)) != PLMM_OK)
            return st;
    }
    if ((st = load_specials(t, g)) != PLMM_OK)
        return st;

    if (t->type == PLMM_VOCAB_SPM) {
        t->nl = plmm_tok_lookup(t, "<0x0A>", 6);
        if (t->nl == PLMM_TOKEN_NULL)
            t->nl = plmm_tok_lookup(t, "\n", 1);
    } else if (t->type == PLMM_VOCAB_BPE) {
        t->nl = plmm_tok_lookup(t, "\xc4\x8a", 2);
    } else {
        t->nl = t->pad;
    }
    return plmm_tok_build_pieces(t);
}

plmm_status plmm_tokenizer_create_with_pre(const plmm_gguf *g, const char *pre,
                                           plmm_tokenizer **out)
{
    if (out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenizer_create: NULL argument");
    *out = NULL;
    if (g == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenizer_create: NULL argument");
    plmm_tokenizer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate tokenizer");
    plmm_status st = create(g, pre, t);
    if (st != PLMM_OK) {
        plmm_tokenizer_destroy(t);
        return st;
    }
    *out = t;
    return PLMM_OK;
}

plmm_status plmm_tokenizer_create(const plmm_gguf *g, plmm_tokenizer **out)
{
    return plmm_tokenizer_create_with_pre(g, NULL, out);
}

void plmm_tokenizer_destroy(plmm_tokenizer *t)
{
    if (t == NULL)
        return;
    free(t->text_arena);
    free(t->text_off);
    free(t->scores);
    free(t->attr);
    free(t->vocab_hash);
    free(t->piece_arena);
    free(t->piece_off);
    free(t->merges);
    free(t->merge_arena);
    free(t->merge_hash);
    free(t->specials);
    free(t->eog);
    free(t->ds_letters);
    free(t->ds_punct);
    free(t);
}

/* ---- properties ---- */

uint32_t plmm_tokenizer_n_vocab(const plmm_tokenizer *t)
{
    return t->n_vocab;
}

plmm_vocab_type plmm_tokenizer_type(const plmm_tokenizer *t)
{
    return t->type;
}

const char *plmm_tokenizer_pre(const plmm_tokenizer *t)
{
    return t->pre_name;
}

bool plmm_tokenizer_add_bos(const plmm_tokenizer *t)
{
    return t->add_bos;
}

bool plmm_tokenizer_add_eos(const plmm_tokenizer *t)
{
    return t->add_eos;
}

bool plmm_tokenizer_add_space_prefix(const plmm_tokenizer *t)
{
    return t->add_space_prefix;
}

int32_t plmm_tokenizer_bos(const plmm_tokenizer *t)
{
    return t->bos;
}

int32_t plmm_tokenizer_eos(const plmm_tokenizer *t)
{
    return t->eos;
}

int32_t plmm_tokenizer_eot(const plmm_tokenizer *t)
{
    return t->eot;
}

int32_t plmm_tokenizer_unk(const plmm_tokenizer *t)
{
    return t->unk;
}

int32_t plmm_tokenizer_pad(const plmm_tokenizer *t)
{
    return t->pad;
}

int32_t plmm_tokenizer_sep(const plmm_tokenizer *t)
{
    return t->sep;
}

int32_t plmm_tokenizer_nl(const plmm_tokenizer *t)
{
    return t->nl;
}

bool plmm_tokenizer_is_eog(const plmm_tokenizer *t, int32_t id)
{
    if (id == PLMM_TOKEN_NULL || t->n_eog == 0)
        return false;
    return bsearch(&id, t->eog, t->n_eog, sizeof(*t->eog), cmp_i32) != NULL;
}

plmm_token_type plmm_tokenizer_token_type(const plmm_tokenizer *t, int32_t id)
{
    if (!plmm_tok_valid_id(t, id))
        return PLMM_TOKEN_TYPE_UNDEFINED;
    uint16_t a = t->attr[id];
    if (a & TOK_ATTR_CONTROL)
        return PLMM_TOKEN_TYPE_CONTROL;
    if (a & TOK_ATTR_USER_DEFINED)
        return PLMM_TOKEN_TYPE_USER_DEFINED;
    if (a & TOK_ATTR_UNKNOWN)
        return PLMM_TOKEN_TYPE_UNKNOWN;
    if (a & TOK_ATTR_BYTE)
        return PLMM_TOKEN_TYPE_BYTE;
    if (a & TOK_ATTR_UNUSED)
        return PLMM_TOKEN_TYPE_UNUSED;
    if (a & TOK_ATTR_NORMAL)
        return PLMM_TOKEN_TYPE_NORMAL;
    return PLMM_TOKEN_TYPE_UNDEFINED;
}

bool plmm_tokenizer_is_special(const plmm_tokenizer *t, int32_t id)
{
    return plmm_tok_valid_id(t, id) && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)) != 0;
}

const char *plmm_tokenizer_token_text(const plmm_tokenizer *t, int32_t id, size_t *len)
{
    if (!plmm_tok_valid_id(t, id)) {
        *len = 0;
        return NULL;
    }
    return tok_text(t, id, len);
}

float plmm_tokenizer_token_score(const plmm_tokenizer *t, int32_t id)
{
    return plmm_tok_valid_id(t, id) ? t->scores[id] : 0.0f;
}

int32_t plmm_tokenizer_find(const plmm_tokenizer *t, const char *text, size_t len)
{
    return text == NULL ? PLMM_TOKEN_NULL : plmm_tok_lookup(t, text, len);
}

/* ---- encode ---- */

/* A piece of the input: raw text (id < 0) or an already matched token. */
typedef struct frag {
    int32_t id;
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static plmm_status frag_push(frags *f, int32_t id, size_t off, size_t len)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *v = realloc(f->v, cap * sizeof(*v));
        if (v == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate text fragments");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n].id = id;
    f->v[f->n].off = off;
    f->v[f->n].len = len;
    f->n++;
    return PLMM_OK;
}

/* Split the text at occurrences of special tokens, longest token first; each
 * token is searched left to right in what earlier tokens left as text. */
static plmm_status partition(const plmm_tokenizer *t, const char *text, size_t len,
                             bool parse_special, frags *cur, frags *tmp)
{
    plmm_status st;
    bool present[256] = {false};

    cur->n = 0;
    if (len == 0)
        return PLMM_OK;
    if ((st = frag_push(cur, -1, 0, len)) != PLMM_OK)
        return st;
    for (size_t i = 0; i < len; i++)
        present[(unsigned char)text[i]] = true;

    for (uint32_t k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        uint16_t a = t->attr[id];
        if (!parse_special && (a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        size_t sl;
        const char *s = tok_text(t, id, &sl);
        if (sl == 0 || sl > len || !present[(unsigned char)s[0]])
            continue;
        bool found = false;
        for (size_t i = 0; i < cur->n && !found; i++)
            found = cur->v[i].id < 0 && cur->v[i].len >= sl &&
                    memmem(text + cur->v[i].off, cur->v[i].len, s, sl) != NULL;
        if (!found)
            continue;

        tmp->n = 0;
        for (size_t i = 0; i < cur->n; i++) {
            frag f = cur->v[i];
            if (f.id >= 0) {
                if ((st = frag_push(tmp, f.id, f.off, f.len)) != PLMM_OK)
                    return st;
                continue;
            }
            while (f.len > 0) {
                const char *m = f.len >= sl ? memmem(text + f.off, f.len, s, sl) : NULL;
                if (m == NULL) {
                    if ((st = frag_push(tmp, -1, f.off, f.len)) != PLMM_OK)
                        return st;
                    break;
                }
                size_t mo = (size_t)(m - text);
                size_t left = mo - f.off;
                if (a & TOK_ATTR_LSTRIP)
                    while (left > 0 && ascii_space(text[f.off + left - 1]))
                        left--;
                if (left > 0 && (st = frag_push(tmp, -1, f.off, left)) != PLMM_OK)
                    return st;
                if ((st = frag_push(tmp, id, mo, sl)) != PLMM_OK)
                    return st;
                size_t end = f.off + f.len;
                f.off = mo + sl;
                f.len = end - f.off;
                if (a & TOK_ATTR_RSTRIP)
                    while (f.len > 0 && ascii_space(text[f.off])) {
                        f.off++;
                        f.len--;
                    }
            }
        }
        frags sw = *cur;
        *cur = *tmp;
        *tmp = sw;
    }
    return PLMM_OK;
}

/* SPM fragment: optional leading space, then ' ' -> U+2581. */
static plmm_status spm_fragment(const plmm_tokenizer *t, const char *s, size_t len, bool prefix,
                                plmm_tok_bytes *buf, plmm_tok_vec *out)
{
    plmm_status st;
    buf->n = 0;
    if (prefix && (st = plmm_tok_bytes_put(buf, "\xe2\x96\x81", 3)) != PLMM_OK)
        return st;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ')
            continue;
        if ((st = plmm_tok_bytes_put(buf, s + run, i - run)) != PLMM_OK ||
            (st = plmm_tok_bytes_put(buf, "\xe2\x96\x81", 3)) != PLMM_OK)
            return st;
        run = i + 1;
    }
    if ((st = plmm_tok_bytes_put(buf, s + run, len - run)) != PLMM_OK)
        return st;
    return plmm_tok_spm_encode(t, buf->p, buf->n, out);
}

static plmm_status encode(const plmm_tokenizer *t, const char *text, size_t len, bool add_special,
                          bool parse_special, plmm_tok_vec *out)
{
    frags cur = {0}, tmp = {0};
    plmm_tok_bytes buf = {0};
    plmm_status st;

    if ((st = partition(t, text, len, parse_special, &cur, &tmp)) != PLMM_OK)
        goto out_free;
    /* WPM always starts with CLS (kept in bos) */
    bool bos = t->add_bos || (t->type == PLMM_VOCAB_WPM && t->bos != PLMM_TOKEN_NULL);
    if (add_special && bos && (st = plmm_tok_vec_push(out, t->bos)) != PLMM_OK)
        goto out_free;
    bool prev_special = true; /* SPM: a space goes before the first text */
    for (size_t i = 0; i < cur.n; i++) {
        const frag *f = &cur.v[i];
        if (f->id >= 0) {
            st = plmm_tok_vec_push(out, f->id);
            prev_special = true;
        } else if (t->type == PLMM_VOCAB_SPM) {
            st = spm_fragment(t, text + f->off, f->len, t->add_space_prefix && prev_special, &buf,
                              out);
            prev_special = false;
        } else if (t->type == PLMM_VOCAB_BPE) {
            st = plmm_tok_bpe_encode(t, text + f->off, f->len, out);
        } else {
            st = plmm_tok_wpm_encode(t, text + f->off, f->len, out);
        }
        if (st != PLMM_OK)
            goto out_free;
    }
    if (add_special) {
        if (t->type == PLMM_VOCAB_WPM) {
            if (t->sep != PLMM_TOKEN_NULL)
                st = plmm_tok_vec_push(out, t->sep);
        } else if (t->add_eos) {
            st = plmm_tok_vec_push(out, t->eos);
        }
    }

out_free:
    free(cur.v);
    free(tmp.v);
    free(buf.p);
    return st;
}

plmm_status plmm_tokenizer_encode(const plmm_tokenizer *t, const char *text, size_t len,
                                  bool add_special, bool parse_special, int32_t *ids,
                                  size_t capacity, size_t *n_out)
{
    if (n_out != NULL)
        *n_out = 0;
    if (t == NULL || n_out == NULL || (text == NULL && len > 0) || (ids == NULL && capacity > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_tokenizer_encode: NULL argument");
    plmm_tok_vec out = {0};
    plmm_status st = encode(t, text, len, add_special, parse_special, &out);
    if (st == PLMM_OK) {
        *n_out = out.n;
        size_t n = out.n < capacity ? out.n : capacity;
        if (n > 0)
            memcpy(ids, out.v, n * sizeof(*ids));
        if (out.n > capacity)
            st = plmm_err(PLMM_ERR_RANGE, "token buffer too small: %zu tokens, room for %zu", out.n,
                          capacity);
    }
    free(out.v);
    return st;
}
