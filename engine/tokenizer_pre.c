/*
 * BPE pre-tokenizers: the regex splits of tokenizer.ggml.pre, written by hand.
 *
 * A pre-tokenizer is a list of regexes applied in order. Each one cuts every
 * piece left by the previous ones into its matches and the unmatched text
 * between them (both kept), searching leftmost-first with the usual
 * backtracking semantics; a piece's ends are the text's ends for ^, $ and
 * lookahead. \s is Unicode White_Space; \p{L}, \p{N}, \p{P} are the major
 * general categories. Matching works on code points; a byte that is not valid
 * UTF-8 counts as one symbol code point.
 */
#include "errors.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

/* ---- the regexes ---- */

typedef enum pass {
    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
    P_GPT2,
    /* (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
     * \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    P_LLAMA3,
    /* the same with \p{N} instead of \p{N}{1,3} */
    P_QWEN2,
    P_PUNCT_DEFAULT, /* [\p{P}\$\+<=>\^~\|]+ */
    P_PUNCT_FALCON,  /* [\p{P}\$\+<=>\^~\|`]+ */
    P_NUM_RUN,       /* \p{N}+ */
    P_NUM_ONE,       /* \p{N} */
    P_DIGIT3,        /* [0-9][0-9][0-9] */
    P_CRLF,          /* [\r\n] */
    P_WS_LETTERS,    /* \s?\p{L}+ */
    P_WS_PUNCT,      /* \s?\p{P}+ */
    P_CJK,           /* [一-龥ࠀ-一가-퟿]+ */
    P_DS_LETTERS,    /* \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (DS_LLM_LETTERS) */
    P_DS_PUNCT,      /* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
    P_WS_END,        /* \s+$ */
    P_BLOOM,         /*  ?[^(\s|.,!?…。，、।۔،)]+ */
} pass;

/* Letter class of deepseek-llm's second regex, as written there. */
/* clang-format off */
static const char DS_LLM_LETTERS[] =
    "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷ"
    "ͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽ"
    "ᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅ"
    "ὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ί"
    "ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹ"
    "ℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯ"
    "ꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻"
    "𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃";
/* clang-format on */
/* Punctuation class of its third regex. */
static const char DS_LLM_PUNCT[] = "!-/:-~！-／：-～‘-‟　-。";
/* Characters BLOOM's regex excludes besides \s. */
static const char BLOOM_STOP[] = "(|.,!?…。，、।۔،)";

static const pass PASSES_DEFAULT[] = {P_PUNCT_DEFAULT, P_GPT2, P_NUM_RUN, P_DIGIT3};
static const pass PASSES_GPT2[] = {P_GPT2};
static const pass PASSES_LLAMA3[] = {P_LLAMA3};
static const pass PASSES_QWEN2[] = {P_QWEN2};
static const pass PASSES_STARCODER[] = {P_NUM_ONE, P_GPT2};
static const pass PASSES_FALCON[] = {P_PUNCT_FALCON, P_GPT2, P_DIGIT3};
static const pass PASSES_DS_LLM[] = {P_CRLF, P_DS_LETTERS, P_DS_PUNCT, P_WS_END, P_CJK, P_NUM_RUN};
static const pass PASSES_DS_CODER[] = {P_CRLF, P_WS_LETTERS, P_WS_PUNCT, P_CJK, P_NUM_ONE};
static const pass PASSES_BLOOM[] = {P_BLOOM};
static const pass PASSES_VIKING[] = {P_BLOOM, P_NUM_ONE};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const pass *v;
    size_t n;
} PASSES[] = {
    [PRETOK_NONE] = {NULL, 0},
    [PRETOK_DEFAULT] = {PASSES_DEFAULT, N_OF(PASSES_DEFAULT)},
    [PRETOK_GPT2] = {PASSES_GPT2, N_OF(PASSES_GPT2)},
    [PRETOK_LLAMA3] = {PASSES_LLAMA3, N_OF(PASSES_LLAMA3)},
    [PRETOK_QWEN2] = {PASSES_QWEN2, N_OF(PASSES_QWEN2)},
    [PRETOK_STARCODER] = {PASSES_STARCODER, N_OF(PASSES_STARCODER)},
    [PRETOK_FALCON] = {PASSES_FALCON, N_OF(PASSES_FALCON)},
    [PRETOK_DEEPSEEK_LLM] = {PASSES_DS_LLM, N_OF(PASSES_DS_LLM)},
    [PRETOK_DEEPSEEK_CODER] = {PASSES_DS_CODER, N_OF(PASSES_DS_CODER)},
    [PRETOK_BLOOM] = {PASSES_BLOOM, N_OF(PASSES_BLOOM)},
    [PRETOK_VIKING] = {PASSES_VIKING, N_OF(PASSES_VIKING)},
};

/* ---- names ---- */

#define F_NO_CLEAN 0x1u      /* decode keeps tokenization spaces */
#define F_IGNORE_MERGES 0x2u /* a word that is a whole token is taken as is */
#define F_ADD_BOS 0x4u       /* BOS is added unless the GGUF says otherwise */
#define F_NO_BOS 0x8u        /* no default BOS id */

static const struct {
    const char *name;
    pretok_kind kind;
    unsigned flags;
} NAMES[] = {
    {"default", PRETOK_DEFAULT, 0},
    {"llama3", PRETOK_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", PRETOK_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", PRETOK_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", PRETOK_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"dbrx", PRETOK_LLAMA3, 0},
    {"smaug-bpe", PRETOK_LLAMA3, 0},
    {"chatglm-bpe", PRETOK_LLAMA3, F_NO_BOS},
    {"deepseek-llm", PRETOK_DEEPSEEK_LLM, F_NO_CLEAN},
    {"deepseek-coder", PRETOK_DEEPSEEK_CODER, F_NO_CLEAN},
    {"falcon", PRETOK_FALCON, 0},
    {"gpt-2", PRETOK_GPT2, 0},
    {"mpt", PRETOK_GPT2, 0},
    {"olmo", PRETOK_GPT2, 0},
    {"jais", PRETOK_GPT2, 0},
    {"phi-2", PRETOK_GPT2, 0},
    {"jina-es", PRETOK_GPT2, 0},
    {"jina-de", PRETOK_GPT2, 0},
    {"gigachat", PRETOK_GPT2, 0},
    {"jina-v1-en", PRETOK_GPT2, 0},
    {"jina-v2-es", PRETOK_GPT2, 0},
    {"jina-v2-de", PRETOK_GPT2, 0},
    {"jina-v2-code", PRETOK_GPT2, 0},
    {"roberta-bpe", PRETOK_GPT2, 0},
    {"starcoder", PRETOK_STARCODER, 0},
    {"refact", PRETOK_STARCODER, 0},
    {"codeshell", PRETOK_STARCODER, 0},
    {"exaone", PRETOK_STARCODER, 0},
    {"minerva-7b", PRETOK_STARCODER, 0},
    {"command-r", PRETOK_STARCODER, F_NO_CLEAN},
    {"smollm", PRETOK_STARCODER, F_NO_CLEAN},
    {"qwen2", PRETOK_QWEN2, F_NO_CLEAN},
    {"deepseek-r1-qwen", PRETOK_QWEN2, F_NO_CLEAN},
    {"stablelm2", PRETOK_QWEN2, 0},
    {"megrez", PRETOK_QWEN2, 0},
    {"bloom", PRETOK_BLOOM, 0},
    {"gpt3-finnish", PRETOK_BLOOM, 0},
    {"poro-chat", PRETOK_BLOOM, F_NO_CLEAN},
    {"viking", PRETOK_VIKING, F_NO_CLEAN},
};

static int cmp_range(const void *a, const void *b)
{
    const cp_range *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* Parse a regex character class body ("a-zé") into ranges; n_out ranges. */
static plmm_status parse_class(const char *s, cp_range **out, uint32_t *n_out)
{
    size_t len = strlen(s);
    cp_range *r = malloc(len * sizeof(*r)); /* at most one range per byte */
    if (r == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate character class");
    uint32_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t a, b;
        i += plmm_utf8_decode(s + i, len - i, &a);
        b = a;
        if (i + 1 < len && s[i] == '-') {
            i++;
            i += plmm_utf8_decode(s + i, len - i, &b);
        }
        r[n].first = a;
        r[n].last = b;
        n++;
    }
    /* sort by first and merge overlaps, for binary search */
    qsort(r, n, sizeof(*r), cmp_range);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (m > 0 && r[i].first <= r[m - 1].last + 1) {
            if (r[i].last > r[m - 1].last)
                r[m - 1].last = r[i].last;
        } else {
            r[m++] = r[i];
        }
    }
    *out = r;
    *n_out = m;
    return PLMM_OK;
}

plmm_status plmm_tok_pre_select(plmm_tokenizer *t, const char *name)
{
    for (size_t i = 0; i < N_OF(NAMES); i++) {
        if (strcmp(name, NAMES[i].name) != 0)
            continue;
        unsigned f = NAMES[i].flags;
        t->pre = NAMES[i].kind;
        strcpy(t->pre_name, NAMES[i].name);
        t->clean_spaces = !(f & F_NO_CLEAN);
        t->ignore_merges = (f & F_IGNORE_MERGES) != 0;
        if (f & F_ADD_BOS)
            t->add_bos = true;
        if (f & F_NO_BOS)
            t->bos = PLMM_TOKEN_NULL;
        if (t->pre == PRETOK_DEEPSEEK_LLM) {
            plmm_status st = parse_class(DS_LLM_LETTERS, &t->ds_letters, &t->n_ds_letters);
            if (st == PLMM_OK)
                st = parse_class(DS_LLM_PUNCT, &t->ds_punct, &t->n_ds_punct);
            return st;
        }
        return PLMM_OK;
    }
    return plmm_err(PLMM_ERR_UNSUPPORTED, "pre-tokenizer '%s' is not supported", name);
}

/* ---- matching ---- */

#define C_L 0x01u  /* \p{L} */
#define C_N 0x02u  /* \p{N} */
#define C_P 0x04u  /* \p{P} */
#define C_WS 0x08u /* \s */

typedef struct ctx {
    const plmm_tokenizer *t;
    uint32_t *cp;  /* (n) code points; PLMM_UNICODE_INVALID for a stray byte */
    uint8_t *cls;  /* (n) C_* bits */
    size_t *boff;  /* (n + 1) byte offset of each code point */
    size_t *wsend; /* (n) end of the whitespace run starting here (i if none) */
    size_t n;
} ctx;

static bool has(const ctx *c, size_t i, size_t end, unsigned bits)
{
    return i < end && (c->cls[i] & bits) != 0;
}

/* [^\s\p{L}\p{N}] */
static bool other(const ctx *c, size_t i, size_t end)
{
    return i < end && (c->cls[i] & (C_WS | C_L | C_N)) == 0;
}

static size_t run_of(const ctx *c, size_t i, size_t end, unsigned bits)
{
    size_t j = i;
    while (has(c, j, end, bits))
        j++;
    return j - i;
}

static size_t run_other(const ctx *c, size_t i, size_t end)
{
    size_t j = i;
    while (other(c, j, end))
        j++;
    return j - i;
}

static size_t ws_run(const ctx *c, size_t i, size_t end)
{
    size_t e = c->wsend[i] < end ? c->wsend[i] : end;
    return e - i;
}

static uint32_t lower_ascii(uint32_t ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII case-insensitive. */
static size_t contraction(const ctx *c, size_t p, size_t end, bool icase)
{
    if (c->cp[p] != '\'' || p + 1 >= end)
        return 0;
    uint32_t a = icase ? lower_ascii(c->cp[p + 1]) : c->cp[p + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (p + 2 >= end)
        return 0;
    uint32_t b = icase ? lower_ascii(c->cp[p + 2]) : c->cp[p + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S) and, when plain, a following \s+ alternative. */
static size_t ws_tail(const ctx *c, size_t p, size_t end, bool plain)
{
    size_t k = ws_run(c, p, end);
    if (k == 0)
        return 0;
    if (p + k == end)
        return k;
    if (k > 1)
        return k - 1;
    return plain ? k : 0;
}

static size_t m_gpt2(const ctx *c, size_t p, size_t end)
{
    size_t k = contraction(c, p, end, false);
    if (k)
        return k;
    size_t s = p + (c->cp[p] == ' '); /* " ?" */
    if (has(c, s, end, C_L))
        return s - p + run_of(c, s, end, C_L);
    if (has(c, s, end, C_N))
        return s - p + run_of(c, s, end, C_N);
    if (other(c, s, end))
        return s - p + run_other(c, s, end);
    return ws_tail(c, p, end, false);
}

static size_t m_llama3(const ctx *c, size_t p, size_t end, size_t max_digits)
{
    size_t k = contraction(c, p, end, true);
    if (k)
        return k;
    uint32_t ch = c->cp[p];
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (has(c, p, end, C_L))
        return run_of(c, p, end, C_L);
    if (ch != '\r' && ch != '\n' && !has(c, p, end, C_N) && has(c, p + 1, end, C_L))
        return 1 + run_of(c, p + 1, end, C_L);
    /* \p{N}{1,max} */
    if (has(c, p, end, C_N)) {
        size_t lim = end - p < max_digits ? end : p + max_digits;
        return run_of(c, p, lim, C_N);
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t s = p + (ch == ' ');
    if (other(c, s, end)) {
        size_t e = s + run_other(c, s, end);
        while (e < end && (c->cp[e] == '\r' || c->cp[e] == '\n'))
            e++;
        return e - p;
    }
    /* \s*[\r\n]+ : up to the last CR/LF of the whitespace run */
    k = ws_run(c, p, end);
    for (size_t j = p + k; j > p; j--)
        if (c->cp[j - 1] == '\r' || c->cp[j - 1] == '\n')
            return j - p;
    /* \s+(?!\S)|\s+ */
    return ws_tail(c, p, end, true);
}

/* r: sorted by first, not overlapping */
static bool in_ranges(const cp_range *r, uint32_t n, uint32_t cp)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first)
            hi = mid;
        else if (cp > r[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Membership in a literal class: non-ASCII white space never matches one
 * (llama.cpp maps it to \v before such regexes run). */
static bool in_class(const ctx *c, size_t i, size_t end, const cp_range *r, uint32_t n)
{
    if (i >= end || c->cp[i] == PLMM_UNICODE_INVALID)
        return false;
    if (c->cp[i] >= 0x80 && (c->cls[i] & C_WS))
        return false;
    return in_ranges(r, n, c->cp[i]);
}

/* \s?[class]+ */
static size_t ws_opt_class(const ctx *c, size_t p, size_t end, const cp_range *r, uint32_t n)
{
    size_t s = p;
    if (has(c, p, end, C_WS) && in_class(c, p + 1, end, r, n))
        s = p + 1;
    size_t j = s;
    while (in_class(c, j, end, r, n))
        j++;
    return j > s ? j - p : 0;
}

/* \s?[bits]+ */
static size_t ws_opt_run(const ctx *c, size_t p, size_t end, unsigned bits)
{
    if (has(c, p, end, C_WS) && has(c, p + 1, end, bits))
        return 1 + run_of(c, p + 1, end, bits);
    return run_of(c, p, end, bits);
}

static bool punct_default(const ctx *c, size_t i, size_t end, bool backtick)
{
    if (i >= end)
        return false;
    uint32_t ch = c->cp[i];
    return (c->cls[i] & C_P) || ch == '$' || ch == '+' || ch == '<' || ch == '=' || ch == '>' ||
           ch == '^' || ch == '~' || ch == '|' || (backtick && ch == '`');
}

static bool cjk(const ctx *c, size_t i, size_t end)
{
    /* 一-龥 ࠀ-一 가-퟿, merged and sorted */
    static const cp_range r[] = {{0x0800, 0x9FA5}, {0xAC00, 0xD7FF}};
    return in_class(c, i, end, r, N_OF(r));
}

static bool bloom_word(const ctx *c, size_t i, size_t end)
{
    if (i >= end || (c->cls[i] & C_WS))
        return false;
    size_t len = sizeof(BLOOM_STOP) - 1;
    for (size_t k = 0; k < len;) {
        uint32_t x;
        k += plmm_utf8_decode(BLOOM_STOP + k, len - k, &x);
        if (x == c->cp[i])
            return false;
    }
    return true;
}

/* Length in code points of the match of regex k at p (0: no match). */
static size_t match(const ctx *c, pass re, size_t p, size_t end)
{
    const plmm_tokenizer *t = c->t;
    size_t j = p, k;
    switch (re) {
    case P_GPT2:
        return m_gpt2(c, p, end);
    case P_LLAMA3:
        return m_llama3(c, p, end, 3);
    case P_QWEN2:
        return m_llama3(c, p, end, 1);
    case P_PUNCT_DEFAULT:
    case P_PUNCT_FALCON:
        while (punct_default(c, j, end, re == P_PUNCT_FALCON))
            j++;
        return j - p;
    case P_NUM_RUN:
        return run_of(c, p, end, C_N);
    case P_NUM_ONE:
        return has(c, p, end, C_N) ? 1 : 0;
    case P_DIGIT3:
        for (; j < p + 3; j++)
            if (j >= end || c->cp[j] < '0' || c->cp[j] > '9')
                return 0;
        return 3;
    case P_CRLF:
        return c->cp[p] == '\r' || c->cp[p] == '\n' ? 1 : 0;
    case P_WS_LETTERS:
        return ws_opt_run(c, p, end, C_L);
    case P_WS_PUNCT:
        return ws_opt_run(c, p, end, C_P);
    case P_CJK:
        while (cjk(c, j, end))
            j++;
        return j - p;
    case P_DS_LETTERS:
        return ws_opt_class(c, p, end, t->ds_letters, t->n_ds_letters);
    case P_DS_PUNCT:
        return ws_opt_class(c, p, end, t->ds_punct, t->n_ds_punct);
    case P_WS_END:
        return has(c, p, end, C_WS) && c->wsend[p] >= end ? end - p : 0;
    case P_BLOOM:
        j = p + (c->cp[p] == ' '); /* " ?" */
        k = j;
        while (bloom_word(c, k, end))
            k++;
        return k > j ? k - p : 0;
    }
    return 0;
}

/* ---- driver ---- */

typedef struct lens {
    size_t *v;
    size_t n, cap;
} lens;

static plmm_status lens_push(lens *l, size_t x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate pre-tokenizer pieces");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return PLMM_OK;
}

/* Cut each piece of in (code point lengths) by regex k into out. */
static plmm_status run_pass(const ctx *c, pass k, const lens *in, lens *out)
{
    plmm_status st;
    size_t start = 0;
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        size_t end = start + in->v[i];
        size_t gap = start;
        for (size_t p = start; p < end;) {
            size_t m = match(c, k, p, end);
            if (m == 0) {
                p++;
                continue;
            }
            if (p > gap && (st = lens_push(out, p - gap)) != PLMM_OK)
                return st;
            if ((st = lens_push(out, m)) != PLMM_OK)
                return st;
            p += m;
            gap = p;
        }
        if (end > gap && (st = lens_push(out, end - gap)) != PLMM_OK)
            return st;
        start = end;
    }
    return PLMM_OK;
}

plmm_status plmm_tok_pre_split(const plmm_tokenizer *t, const char *text, size_t len,
                               plmm_tok_spans *out)
{
    ctx c = {.t = t};
    lens a = {0}, b = {0};
    plmm_status st = PLMM_OK;

    if (len == 0)
        return PLMM_OK;
    if (t->pre == PRETOK_NONE)
        return plmm_tok_span_push(out, 0, len);

    c.cp = malloc(len * sizeof(*c.cp));
    c.cls = malloc(len);
    c.boff = malloc((len + 1) * sizeof(*c.boff));
    c.wsend = malloc(len * sizeof(*c.wsend));
    if (!c.cp || !c.cls || !c.boff || !c.wsend) {
        st = plmm_err(PLMM_ERR_NOMEM, "cannot allocate pre-tokenizer state");
        goto out_free;
    }
    for (size_t off = 0; off < len; c.n++) {
        uint32_t cp;
        size_t l = plmm_utf8_decode(text + off, len - off, &cp);
        uint8_t cls = 0;
        if (cp != PLMM_UNICODE_INVALID) {
            if (plmm_unicode_is_space(cp)) {
                cls = C_WS;
            } else {
                switch (plmm_unicode_category(cp)) {
                case PLMM_UCAT_LETTER:
                    cls = C_L;
                    break;
                case PLMM_UCAT_NUMBER:
                    cls = C_N;
                    break;
                case PLMM_UCAT_PUNCT:
                    cls = C_P;
                    break;
                default:
                    break;
                }
            }
        }
        c.cp[c.n] = cp;
        c.cls[c.n] = cls;
        c.boff[c.n] = off;
        off += l;
    }
    c.boff[c.n] = len;
    for (size_t i = c.n; i-- > 0;) {
        if (!(c.cls[i] & C_WS))
            c.wsend[i] = i;
        else
            c.wsend[i] = i + 1 < c.n && (c.cls[i + 1] & C_WS) ? c.wsend[i + 1] : i + 1;
    }

    if ((st = lens_push(&a, c.n)) != PLMM_OK)
        goto out_free;
    for (size_t i = 0; i < PASSES[t->pre].n; i++) {
        if ((st = run_pass(&c, PASSES[t->pre].v[i], &a, &b)) != PLMM_OK)
            goto out_free;
        lens sw = a;
        a = b;
        b = sw;
    }
    size_t at = 0;
    for (size_t i = 0; i < a.n; i++) {
        size_t e = at + a.v[i];
        if ((st = plmm_tok_span_push(out, c.boff[at], c.boff[e] - c.boff[at])) != PLMM_OK)
            goto out_free;
        at = e;
    }

out_free:
    free(a.v);
    free(b.v);
    free(c.cp);
    free(c.cls);
    free(c.boff);
    free(c.wsend);
    return st;
}
