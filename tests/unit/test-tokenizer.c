/*
 * Tokenizer tests.
 *  - hand-made GGUF vocabularies built in memory: pre-tokenizer split
 *    boundaries (gpt-2, llama3, qwen2, smollm, deepseek, ...), BPE and SPM
 *    merges, special tokens, invalid UTF-8, buffer sizes, errors;
 *  - llama.cpp's vocab test vectors: $PLMM_SHARED_DIR/models/vocab/ggml-vocab-*.gguf
 *    with .inp/.out, add_special=false, parse_special=false;
 *  - golden prompts: $PLMM_SHARED_DIR/golden/<model>/<TYPE>/<id>.prompt_tokens.txt
 *    (add_special=true), gen_tokens -> gen_text, decode round trips.
 * Skips (77) when PLMM_SHARED_DIR is absent.
 */
#include "errors.h"
#include "gguf.h"
#include "test.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"
#include "unicode.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- files ---- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap + 1);
    while (p != NULL) {
        size_t r = fread(p + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *q = realloc(p, 2 * cap + 1);
        if (q == NULL) {
            free(p);
            p = NULL;
            break;
        }
        p = q;
        cap *= 2;
    }
    fclose(f);
    if (p != NULL) {
        p[n] = '\0';
        *len = n;
    }
    return p;
}

static bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

/* Parse whitespace-separated ids; returns the count (at most cap). */
static size_t parse_ids(const char *s, size_t len, int32_t *ids, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
            i++;
        if (i >= len)
            break;
        long v = 0;
        bool neg = s[i] == '-';
        if (neg)
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (s[i++] - '0');
        while (i < len && !(s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
            i++;
        if (n < cap)
            ids[n] = (int32_t)(neg ? -v : v);
        n++;
    }
    return n;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 64; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, n > 64 ? " ...\n" : "\n");
}

static void print_text(const char *label, const char *s, size_t n)
{
    fprintf(stderr, "    %s: \"", label);
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fprintf(stderr, "\\n");
        else if (c == '\t')
            fprintf(stderr, "\\t");
        else if (c < 0x20 || c == 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fprintf(stderr, "\"\n");
}

#define MAX_IDS 8192

static int32_t ids_buf[MAX_IDS];
static int32_t want_buf[MAX_IDS];
static char text_buf[1 << 16];

/* ---- in-memory GGUF writer ---- */

typedef struct gw {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} gw;

static void gw_bytes(gw *w, const void *src, size_t len)
{
    if (w->n + len > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (cap < w->n + len)
            cap *= 2;
        w->p = realloc(w->p, cap);
        if (w->p == NULL)
            abort();
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, len);
    w->n += len;
}

static void gw_u32(gw *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    gw_bytes(w, b, 4);
}

static void gw_u64(gw *w, uint64_t v)
{
    gw_u32(w, (uint32_t)v);
    gw_u32(w, (uint32_t)(v >> 32));
}

static void gw_str(gw *w, const char *s, size_t len)
{
    gw_u64(w, len);
    gw_bytes(w, s, len);
}

static void gw_begin(gw *w)
{
    memset(w, 0, sizeof(*w));
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, 3);
    gw_u64(w, 0); /* tensors */
    gw_u64(w, 0); /* kv count, patched by gw_end */
}

static void gw_end(gw *w)
{
    uint64_t v = w->n_kv;
    for (int i = 0; i < 8; i++)
        w->p[16 + i] = (unsigned char)(v >> (8 * i));
}

static void gw_kv_str(gw *w, const char *key, const char *val)
{
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_STRING);
    gw_str(w, val, strlen(val));
    w->n_kv++;
}

static void gw_kv_u32(gw *w, const char *key, uint32_t v)
{
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_UINT32);
    gw_u32(w, v);
    w->n_kv++;
}

static void gw_kv_bool(gw *w, const char *key, bool v)
{
    unsigned char b = v;
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_BOOL);
    gw_bytes(w, &b, 1);
    w->n_kv++;
}

/* n strings of lens[i] bytes each (lens NULL: NUL-terminated). */
static void gw_kv_strs(gw *w, const char *key, const char *const *s, const size_t *lens, size_t n)
{
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_ARRAY);
    gw_u32(w, PLMM_GGUF_STRING);
    gw_u64(w, n);
    for (size_t i = 0; i < n; i++)
        gw_str(w, s[i], lens ? lens[i] : strlen(s[i]));
    w->n_kv++;
}

static void gw_kv_f32s(gw *w, const char *key, const float *v, size_t n)
{
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_ARRAY);
    gw_u32(w, PLMM_GGUF_FLOAT32);
    gw_u64(w, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        gw_u32(w, b);
    }
    w->n_kv++;
}

static void gw_kv_i32s(gw *w, const char *key, const int32_t *v, size_t n)
{
    gw_str(w, key, strlen(key));
    gw_u32(w, PLMM_GGUF_ARRAY);
    gw_u32(w, PLMM_GGUF_INT32);
    gw_u64(w, n);
    for (size_t i = 0; i < n; i++)
        gw_u32(w, (uint32_t)v[i]);
    w->n_kv++;
}

/* ---- hand-made BPE vocabulary ---- */

/* GPT-2 byte character of byte b, as UTF-8. */
static size_t byte_char(unsigned b, char out[2])
{
    static int map[256];
    static bool init;
    if (!init) {
        int next = 256;
        for (int i = 0; i < 256; i++)
            map[i] =
                ((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE) ? i : next++;
        init = true;
    }
    int cp = map[b];
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

#define BPE_EXTRA 7
/* 256 byte tokens, then "ab", "abc", "Ġa", "Ġab", "<|endoftext|>", "<|user|>", "bc". */
/* add_bos: tokenizer.ggml.add_bos_token, -1 to leave the key out. */
static plmm_tokenizer *make_bpe(const char *pre, int add_bos)
{
    static char store[256][2];
    const char *toks[256 + BPE_EXTRA];
    size_t lens[256 + BPE_EXTRA];
    int32_t types[256 + BPE_EXTRA];
    for (unsigned b = 0; b < 256; b++) {
        lens[b] = byte_char(b, store[b]);
        toks[b] = store[b];
        types[b] = PLMM_TOKEN_TYPE_NORMAL;
    }
    const char *extra[BPE_EXTRA] = {"ab", "abc", "Ġa", "Ġab", "<|endoftext|>", "<|user|>", "bc"};
    for (int i = 0; i < BPE_EXTRA; i++) {
        toks[256 + i] = extra[i];
        lens[256 + i] = strlen(extra[i]);
        types[256 + i] = PLMM_TOKEN_TYPE_NORMAL;
    }
    types[256 + 4] = PLMM_TOKEN_TYPE_CONTROL;
    types[256 + 5] = PLMM_TOKEN_TYPE_USER_DEFINED;
    const char *merges[] = {"Ġ a", "a b", "ab c", "Ġa b"};

    gw w;
    gw_begin(&w);
    gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
    if (pre != NULL)
        gw_kv_str(&w, "tokenizer.ggml.pre", pre);
    gw_kv_strs(&w, "tokenizer.ggml.tokens", toks, lens, 256 + BPE_EXTRA);
    gw_kv_i32s(&w, "tokenizer.ggml.token_type", types, 256 + BPE_EXTRA);
    gw_kv_strs(&w, "tokenizer.ggml.merges", merges, NULL, 4);
    gw_kv_u32(&w, "tokenizer.ggml.bos_token_id", 256 + 4);
    gw_kv_u32(&w, "tokenizer.ggml.eos_token_id", 256 + 4);
    if (add_bos >= 0)
        gw_kv_bool(&w, "tokenizer.ggml.add_bos_token", add_bos != 0);
    gw_end(&w);

    plmm_gguf *g = NULL;
    plmm_tokenizer *t = NULL;
    if (plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK) {
        plmm_status st = plmm_tokenizer_create(g, &t);
        if (st != PLMM_OK)
            fprintf(stderr, "make_bpe(%s): %s\n", pre ? pre : "(none)", plmm_last_errmsg());
    } else {
        fprintf(stderr, "make_bpe: gguf: %s\n", plmm_last_errmsg());
    }
    plmm_gguf_close(g);
    free(w.p);
    return t;
}

/* Check that pre-tokenizer `pre` splits text into the '|'-separated words of want. */
static void check_split(const char *pre, const char *text, const char *want)
{
    plmm_tokenizer *t = make_bpe(pre, -1);
    CHECK_MSG(t != NULL, "tokenizer for pre '%s'", pre);
    if (t == NULL)
        return;
    plmm_tok_spans sp = {0};
    CHECK(plmm_tok_pre_split(t, text, strlen(text), &sp) == PLMM_OK);
    char got[1024];
    size_t n = 0;
    for (size_t i = 0; i < sp.n && n + sp.v[i].len + 2 < sizeof(got); i++) {
        if (i > 0)
            got[n++] = '|';
        memcpy(got + n, text + sp.v[i].off, sp.v[i].len);
        n += sp.v[i].len;
    }
    got[n] = '\0';
    CHECK_MSG(strcmp(got, want) == 0, "pre '%s': split of \"%s\" is \"%s\", want \"%s\"", pre, text,
              got, want);
    free(sp.v);
    plmm_tokenizer_destroy(t);
}

static void test_splits(void)
{
    /* gpt-2 */
    check_split("gpt-2", "Hello world", "Hello| world");
    check_split("gpt-2", "I'm here, it's 12345!", "I|'m| here|,| it|'s| 12345|!");
    check_split("gpt-2", "I'M", "I|'|M");
    check_split("gpt-2", "a  b", "a| | b");
    check_split("gpt-2", "a   ", "a|   ");
    check_split("gpt-2", "x\n\n y", "x|\n\n| y");
    check_split("gpt-2", "$hello", "$|hello");
    check_split("gpt-2", " caf\xc3\xa9 \xe2\x98\x80!", " caf\xc3\xa9| \xe2\x98\x80!");
    /* llama3 / llama-bpe: case-insensitive contractions, 1-3 digits, CR/LF runs */
    check_split("llama-bpe", "Hello world", "Hello| world");
    check_split("llama-bpe", "I'M fine", "I|'M| fine");
    check_split("llama3", "12345", "123|45");
    check_split("llama3", "x1234567y", "x|123|456|7|y");
    check_split("llama3", "  hi", " | hi");
    check_split("llama3", "hi\n\nthere", "hi|\n\n|there");
    check_split("llama3", "a  \n b", "a|  \n| b");
    check_split("llama3", "x!!\n\ny", "x|!!\n\n|y");
    check_split("llama3", " ...abc", " ...|abc");
    check_split("llama3", "$hello", "$hello");
    check_split("llama3", "a\tb", "a|\tb");
    check_split("llama3", "\nb", "\n|b");
    check_split("llama3", "hello   ", "hello|   ");
    check_split("llama3", "it's 3 o'clock", "it|'s| |3| o|'clock");
    /* qwen2: single digits */
    check_split("qwen2", "12345", "1|2|3|4|5");
    check_split("qwen2", "It was 3 o'clock.", "It| was| |3| o|'clock|.");
    check_split("qwen2", "I'LL", "I|'LL");
    check_split("qwen2", "a \n\n  b", "a| \n\n| | b");
    /* smollm = starcoder: digits first, then gpt-2 */
    check_split("smollm", "abc123 456", "abc|1|2|3| |4|5|6");
    check_split("starcoder", "x = 10", "x| =| |1|0");
    /* default: punctuation runs, then gpt-2, digits, groups of three digits */
    check_split("default", "a+=b", "a|+=|b");
    check_split("default", "12345", "123|45");
    /* falcon: backtick counts as punctuation */
    check_split("falcon", "x`y", "x|`|y");
    /* deepseek-coder */
    check_split("deepseek-coder", "Hi there\n12", "Hi| there|\n|1|2");
    check_split("deepseek-coder", "\xe4\xbd\xa0\xe5\xa5\xbd ok", "\xe4\xbd\xa0\xe5\xa5\xbd| ok");
    /* deepseek-llm: trailing white space is one piece */
    check_split("deepseek-llm", "Hi there  ", "Hi| there|  ");
    check_split("deepseek-llm", "x, y!", "x|,| y|!");
    /* bloom */
    check_split("bloom", "Hello, world. ok", "Hello|,| world|.| ok");
}

static void test_bpe_small(void)
{
    plmm_tokenizer *t = make_bpe("gpt-2", -1);
    CHECK(t != NULL);
    if (t == NULL)
        return;
    size_t n = 0;
    CHECK(plmm_tokenizer_n_vocab(t) == 256 + BPE_EXTRA);
    CHECK(plmm_tokenizer_type(t) == PLMM_VOCAB_BPE);
    CHECK(plmm_tokenizer_eot(t) == 256 + 4);
    CHECK(plmm_tokenizer_is_eog(t, 256 + 4));
    CHECK(!plmm_tokenizer_is_eog(t, 'a'));
    /* "abc ab": merges a+b, then ab+c; " ab" = Ġa + b */
    CHECK(plmm_tokenizer_encode(t, "abc ab", 6, true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 2 && ids_buf[0] == 257 && ids_buf[1] == 259);
    /* capacity too small: RANGE with the needed count and a prefix */
    ids_buf[0] = -5;
    CHECK(plmm_tokenizer_encode(t, "abc ab", 6, true, false, ids_buf, 1, &n) == PLMM_ERR_RANGE);
    CHECK(n == 2 && ids_buf[0] == 257);
    CHECK(plmm_tokenizer_encode(t, "abc ab", 6, true, false, NULL, 0, &n) == PLMM_ERR_RANGE);
    CHECK(n == 2);
    /* control token: text unless parse_special; user-defined token always */
    const char *s = "x<|endoftext|><|user|>";
    CHECK(plmm_tokenizer_encode(t, s, strlen(s), false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 1 + 13 + 1 && ids_buf[n - 1] == 256 + 5);
    CHECK(plmm_tokenizer_encode(t, s, strlen(s), false, true, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 3 && ids_buf[1] == 256 + 4 && ids_buf[2] == 256 + 5);
    /* invalid UTF-8: each bad byte becomes U+FFFD */
    const char bad[] = "a\xff\xc3(\xe2\x82";
    const char fixed[] = "a\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd";
    CHECK(plmm_tokenizer_encode(t, bad, 6, false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    size_t tl = 0;
    CHECK(plmm_tokenizer_decode(t, ids_buf, n, PLMM_DECODE_RAW, text_buf, sizeof(text_buf), &tl) ==
          PLMM_OK);
    CHECK(tl == sizeof(fixed) - 1 && memcmp(text_buf, fixed, tl) == 0);
    /* pieces */
    char piece[16];
    CHECK(plmm_tokenizer_piece(t, 259, piece, sizeof(piece), &tl) == PLMM_OK);
    CHECK(tl == 3 && memcmp(piece, " ab", 3) == 0);
    CHECK(plmm_tokenizer_piece(t, 259, piece, 2, &tl) == PLMM_ERR_RANGE && tl == 3);
    CHECK(plmm_tokenizer_piece(t, 256 + 4, piece, sizeof(piece), &tl) == PLMM_OK && tl == 0);
    CHECK(plmm_tokenizer_piece(t, 9999, piece, sizeof(piece), &tl) == PLMM_ERR_RANGE);
    CHECK(plmm_tokenizer_piece(t, -1, piece, sizeof(piece), &tl) == PLMM_ERR_RANGE);
    int32_t eot = 256 + 4;
    CHECK(plmm_tokenizer_decode(t, &eot, 1, PLMM_DECODE_RENDER_SPECIAL, text_buf, sizeof(text_buf),
                                &tl) == PLMM_OK);
    CHECK(tl == 13 && memcmp(text_buf, "<|endoftext|>", 13) == 0);
    /* clean-up of spaces (gpt-2 has it) */
    const char *c = "Hello , world ! it 's";
    CHECK(plmm_tokenizer_encode(t, c, strlen(c), false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(plmm_tokenizer_decode(t, ids_buf, n, 0, text_buf, sizeof(text_buf), &tl) == PLMM_OK);
    CHECK(tl == 18 && memcmp(text_buf, "Hello, world! it's", 18) == 0);
    CHECK(plmm_tokenizer_decode(t, ids_buf, n, 0, text_buf, 3, &tl) == PLMM_ERR_RANGE && tl == 18);
    /* a word that is a token but not reachable by merges stays split */
    CHECK(plmm_tokenizer_encode(t, "bc", 2, false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 2 && ids_buf[0] == 'b' && ids_buf[1] == 'c');
    plmm_tokenizer_destroy(t);

    /* add_bos from the GGUF */
    t = make_bpe("gpt-2", 1);
    CHECK(t != NULL && plmm_tokenizer_add_bos(t));
    if (t != NULL) {
        CHECK(plmm_tokenizer_encode(t, "ab", 2, true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
        CHECK(n == 2 && ids_buf[0] == 256 + 4 && ids_buf[1] == 256);
        CHECK(plmm_tokenizer_decode(t, ids_buf, n,
                                    PLMM_DECODE_REMOVE_SPECIAL | PLMM_DECODE_RENDER_SPECIAL,
                                    text_buf, sizeof(text_buf), &tl) == PLMM_OK);
        CHECK(tl == 2 && memcmp(text_buf, "ab", 2) == 0);
    }
    plmm_tokenizer_destroy(t);

    /* llama-bpe: words that are whole tokens skip the merges */
    t = make_bpe("llama-bpe", -1);
    CHECK(t != NULL && plmm_tokenizer_add_bos(t)); /* llama3 adds BOS by default */
    if (t != NULL) {
        CHECK(plmm_tokenizer_encode(t, "bc", 2, false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
        CHECK(n == 1 && ids_buf[0] == 256 + 6);
    }
    plmm_tokenizer_destroy(t);
}

/* ---- hand-made SPM vocabulary ---- */

static plmm_tokenizer *make_spm(bool with_space_prefix_key, bool space_prefix)
{
    /* ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces */
    static char bytes_tok[256][7];
    const char *pieces[] = {"\xe2\x96\x81",
                            "\xe2\x96\x81h",
                            "\xe2\x96\x81he",
                            "ll",
                            "llo",
                            "\xe2\x96\x81hello",
                            "h",
                            "e",
                            "l",
                            "o",
                            "<|im_start|>"};
    const float pscore[] = {-1, -5, -4, -3, -2, -1, -10, -10, -10, -10, 0};
    enum { NP = sizeof(pieces) / sizeof(pieces[0]), N = 3 + 256 + NP };
    const char *toks[N];
    float scores[N];
    int32_t types[N];
    toks[0] = "<unk>";
    toks[1] = "<s>";
    toks[2] = "</s>";
    types[0] = PLMM_TOKEN_TYPE_UNKNOWN;
    types[1] = types[2] = PLMM_TOKEN_TYPE_CONTROL;
    scores[0] = scores[1] = scores[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes_tok[b], sizeof(bytes_tok[b]), "<0x%02X>", b);
        toks[3 + b] = bytes_tok[b];
        types[3 + b] = PLMM_TOKEN_TYPE_BYTE;
        scores[3 + b] = 0;
    }
    for (int i = 0; i < NP; i++) {
        toks[259 + i] = pieces[i];
        scores[259 + i] = pscore[i];
        types[259 + i] = PLMM_TOKEN_TYPE_NORMAL;
    }
    types[N - 1] = PLMM_TOKEN_TYPE_CONTROL;

    gw w;
    gw_begin(&w);
    gw_kv_str(&w, "tokenizer.ggml.model", "llama");
    gw_kv_strs(&w, "tokenizer.ggml.tokens", toks, NULL, N);
    gw_kv_f32s(&w, "tokenizer.ggml.scores", scores, N);
    gw_kv_i32s(&w, "tokenizer.ggml.token_type", types, N);
    if (with_space_prefix_key)
        gw_kv_bool(&w, "tokenizer.ggml.add_space_prefix", space_prefix);
    gw_end(&w);
    plmm_gguf *g = NULL;
    plmm_tokenizer *t = NULL;
    if (plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK && plmm_tokenizer_create(g, &t) != PLMM_OK)
        fprintf(stderr, "make_spm: %s\n", plmm_last_errmsg());
    plmm_gguf_close(g);
    free(w.p);
    return t;
}

static void test_spm_small(void)
{
    plmm_tokenizer *t = make_spm(false, false);
    CHECK(t != NULL);
    if (t == NULL)
        return;
    size_t n = 0, tl = 0;
    CHECK(plmm_tokenizer_type(t) == PLMM_VOCAB_SPM);
    CHECK(plmm_tokenizer_add_bos(t) && plmm_tokenizer_add_space_prefix(t));
    CHECK(plmm_tokenizer_bos(t) == 1 && plmm_tokenizer_eos(t) == 2 && plmm_tokenizer_unk(t) == 0);
    CHECK(plmm_tokenizer_nl(t) == 3 + 10);
    /* "▁hello": ll(-3), llo(-2), ▁h(-5), ▁he(-4), ▁hello(-1) */
    CHECK(plmm_tokenizer_encode(t, "hello", 5, true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK_MSG(n == 2 && ids_buf[0] == 1 && ids_buf[1] == 259 + 5, "n=%zu [1]=%d", n,
              n > 1 ? (int)ids_buf[1] : -1);
    /* byte fallback: 'x' and U+2600 are not pieces */
    const char *s = "x\xe2\x98\x80";
    CHECK(plmm_tokenizer_encode(t, s, strlen(s), false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 5 && ids_buf[0] == 259 && ids_buf[1] == 3 + 'x' && ids_buf[2] == 3 + 0xE2 &&
          ids_buf[3] == 3 + 0x98 && ids_buf[4] == 3 + 0x80);
    CHECK(plmm_tokenizer_decode(t, ids_buf, n, 0, text_buf, sizeof(text_buf), &tl) == PLMM_OK);
    CHECK(tl == 4 && memcmp(text_buf, s, 4) == 0);
    /* invalid UTF-8 round trip through byte tokens */
    const char bad[] = "\xff o\xc3";
    CHECK(plmm_tokenizer_encode(t, bad, 4, true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(plmm_tokenizer_decode(t, ids_buf, n, PLMM_DECODE_REMOVE_SPECIAL, text_buf,
                                sizeof(text_buf), &tl) == PLMM_OK);
    CHECK(tl == 4 && memcmp(text_buf, bad, 4) == 0);
    /* special token: text after it gets a space prefix too */
    s = "<|im_start|>hello";
    CHECK(plmm_tokenizer_encode(t, s, strlen(s), false, true, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 2 && ids_buf[0] == 269 && ids_buf[1] == 264);
    /* empty text */
    CHECK(plmm_tokenizer_encode(t, "", 0, true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 1 && ids_buf[0] == 1);
    CHECK(plmm_tokenizer_encode(t, NULL, 0, false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(n == 0);
    plmm_tokenizer_destroy(t);

    /* add_space_prefix = false */
    t = make_spm(true, false);
    CHECK(t != NULL && !plmm_tokenizer_add_space_prefix(t));
    if (t != NULL) {
        CHECK(plmm_tokenizer_encode(t, "hello", 5, false, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
        CHECK(n == 3 && ids_buf[0] == 259 + 6 && ids_buf[1] == 259 + 7 && ids_buf[2] == 259 + 4);
    }
    plmm_tokenizer_destroy(t);
}

static void test_errors(void)
{
    plmm_tokenizer *t = (plmm_tokenizer *)1;
    plmm_gguf *g = NULL;
    gw w;

    gw_begin(&w);
    gw_kv_str(&w, "general.name", "x");
    gw_end(&w);
    CHECK(plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK);
    CHECK(plmm_tokenizer_create(g, &t) == PLMM_ERR_NOT_FOUND && t == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "tokenizer.ggml.model");
    plmm_gguf_close(g);
    free(w.p);

    gw_begin(&w);
    gw_kv_str(&w, "tokenizer.ggml.model", "rwkv");
    gw_end(&w);
    CHECK(plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK);
    CHECK(plmm_tokenizer_create(g, &t) == PLMM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(plmm_last_errmsg(), "'rwkv'");
    plmm_gguf_close(g);
    free(w.p);

    const char *toks[] = {"a", "b"};
    gw_begin(&w);
    gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
    gw_kv_str(&w, "tokenizer.ggml.pre", "no-such-pre");
    gw_kv_strs(&w, "tokenizer.ggml.tokens", toks, NULL, 2);
    gw_kv_strs(&w, "tokenizer.ggml.merges", toks, NULL, 0);
    gw_end(&w);
    CHECK(plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK);
    CHECK(plmm_tokenizer_create(g, &t) == PLMM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(plmm_last_errmsg(), "'no-such-pre'");
    CHECK(plmm_tokenizer_create_with_pre(g, "gpt-2", &t) == PLMM_OK);
    plmm_tokenizer_destroy(t);
    plmm_gguf_close(g);
    free(w.p);

    gw_begin(&w);
    gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
    gw_kv_strs(&w, "tokenizer.ggml.tokens", toks, NULL, 2);
    gw_end(&w);
    CHECK(plmm_gguf_open_memory(w.p, w.n, &g) == PLMM_OK);
    CHECK(plmm_tokenizer_create(g, &t) == PLMM_ERR_NOT_FOUND);
    CHECK_CONTAINS(plmm_last_errmsg(), "tokenizer.ggml.merges");
    plmm_gguf_close(g);
    free(w.p);

    plmm_tokenizer_destroy(NULL);
}

/* ---- random round trips ---- */

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Random text from a palette of ASCII, multi-byte UTF-8, white space and
 * invalid bytes (no U+2581, which SPM cannot tell from an escaped space). */
static size_t random_text(char *buf, size_t max)
{
    static const char *const palette[] = {
        "a",
        "Z",
        "q",
        "7",
        "0",
        " ",
        "  ",
        "\n",
        "\t",
        "\r\n",
        ".",
        ",",
        "'s",
        "'LL",
        "!",
        "$",
        "`",
        "<",
        "é",
        "你",
        "🦙",
        "\xc2\xa0",
        "\xe3\x80\x80",
        "ß",
        "Ж",
        "٣",
        "\xff",
        "\xc3",
        "\x80",
        "\xe2\x82",
        "\x00",
        "hello",
        " world",
        "123456",
    };
    size_t n = 0, k = rnd() % 24;
    for (size_t i = 0; i < k; i++) {
        const char *p = palette[rnd() % (sizeof(palette) / sizeof(palette[0]))];
        size_t l = p[0] == '\0' ? 1 : strlen(p);
        if (n + l > max)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return n;
}

/* text with each byte that is not valid UTF-8 replaced by U+FFFD */
static size_t replace_invalid(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = plmm_utf8_decode(s + i, len - i, &cp);
        if (cp == PLMM_UNICODE_INVALID) {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
        } else {
            memcpy(out + n, s + i, l);
            n += l;
        }
        i += l;
    }
    return n;
}

/* encode must not fail; decode must give the text back (SPM with its space
 * rule, BPE byte for byte). WPM is lossy: only encode is checked. */
static void random_round_trips(plmm_tokenizer *t, const char *name, int count)
{
    char text[256];
    int bad = 0;
    for (int i = 0; i < count; i++) {
        size_t len = random_text(text, sizeof(text)), n = 0, tl = 0;
        bool ps = (rnd() & 1) != 0;
        plmm_status st = plmm_tokenizer_encode(t, text, len, false, ps, ids_buf, MAX_IDS, &n);
        CHECK_MSG(st == PLMM_OK, "vocab %s: random text %d: %s", name, i, plmm_last_errmsg());
        if (st != PLMM_OK || plmm_tokenizer_type(t) == PLMM_VOCAB_WPM)
            continue;
        unsigned fl = plmm_tokenizer_type(t) == PLMM_VOCAB_SPM ? 0 : PLMM_DECODE_RAW;
        fl |= PLMM_DECODE_RENDER_SPECIAL;
        char want[1024];
        size_t wl = len;
        memcpy(want, text, len);
        if (plmm_tokenizer_type(t) == PLMM_VOCAB_BPE)
            wl = replace_invalid(text, len, want);
        st = plmm_tokenizer_decode(t, ids_buf, n, fl, text_buf, sizeof(text_buf), &tl);
        bool ok = st == PLMM_OK && tl == wl && memcmp(text_buf, want, wl) == 0;
        CHECK_MSG(ok, "vocab %s: random text %d does not decode back", name, i);
        if (!ok && bad++ < 3) {
            print_text("text", text, len);
            print_text("back", text_buf, tl);
            print_ids("ids ", ids_buf, n);
        }
    }
}

/* ---- llama.cpp vocab test vectors ---- */

static const char SEP[] = "\n__ggml_vocab_test__\n";

static plmm_tokenizer *open_tok(const char *path, const char *pre)
{
    plmm_gguf *g = NULL;
    plmm_tokenizer *t = NULL;
    if (plmm_gguf_open(path, &g) != PLMM_OK) {
        fprintf(stderr, "%s: %s\n", path, plmm_last_errmsg());
        return NULL;
    }
    if (plmm_tokenizer_create_with_pre(g, pre, &t) != PLMM_OK)
        fprintf(stderr, "%s: tokenizer: %s\n", path, plmm_last_errmsg());
    plmm_gguf_close(g);
    return t;
}

typedef struct result {
    char name[64];
    int ok, total;
} result;

static result results[64];
static int n_results;

static void test_vocab_file(const char *vdir, const char *name)
{
    char path[8192], inp_path[8300], out_path[8300];
    snprintf(path, sizeof(path), "%s/ggml-vocab-%s.gguf", vdir, name);
    snprintf(inp_path, sizeof(inp_path), "%s.inp", path);
    snprintf(out_path, sizeof(out_path), "%s.out", path);
    size_t inp_len, out_len;
    char *inp = read_all(inp_path, &inp_len);
    char *out = read_all(out_path, &out_len);
    result *r = &results[n_results < 63 ? n_results++ : 63];
    snprintf(r->name, sizeof(r->name), "%.63s", name);
    plmm_tokenizer *t = open_tok(path, NULL);
    CHECK_MSG(t != NULL && inp != NULL && out != NULL, "vocab %s: cannot load", name);
    if (t == NULL || inp == NULL || out == NULL)
        goto out_free;

    double t_enc = 0;
    int shown = 0;
    size_t ip = 0, op = 0;
    while (ip <= inp_len && op < out_len) {
        const char *sep = memmem(inp + ip, inp_len - ip, SEP, sizeof(SEP) - 1);
        size_t slen = sep ? (size_t)(sep - (inp + ip)) : inp_len - ip;
        const char *nl = memchr(out + op, '\n', out_len - op);
        size_t olen = nl ? (size_t)(nl - (out + op)) : out_len - op;
        const char *s = inp + ip;

        size_t nw = parse_ids(out + op, olen, want_buf, MAX_IDS), n = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        plmm_status st = plmm_tokenizer_encode(t, s, slen, false, false, ids_buf, MAX_IDS, &n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t_enc += (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        bool same =
            st == PLMM_OK && n == nw && memcmp(ids_buf, want_buf, n * sizeof(*ids_buf)) == 0;
        r->total++;
        if (same)
            r->ok++;
        CHECK_MSG(same, "vocab %s: case %d differs", name, r->total);
        if (!same && shown++ < 3) {
            print_text("text", s, slen);
            print_ids("want", want_buf, nw);
            print_ids("got ", ids_buf, n);
        }
        /* decode round trip: SPM with its space rule, BPE byte for byte */
        if (same && plmm_tokenizer_type(t) != PLMM_VOCAB_WPM) {
            size_t tl = 0;
            unsigned fl = plmm_tokenizer_type(t) == PLMM_VOCAB_SPM ? 0 : PLMM_DECODE_RAW;
            st = plmm_tokenizer_decode(t, ids_buf, n, fl, text_buf, sizeof(text_buf), &tl);
            bool rt = st == PLMM_OK && tl == slen && memcmp(text_buf, s, slen) == 0;
            CHECK_MSG(rt, "vocab %s: case %d does not decode back", name, r->total);
            if (!rt) {
                print_text("text", s, slen);
                print_text("back", text_buf, tl);
            }
        }
        if (sep == NULL)
            break;
        ip += slen + sizeof(SEP) - 1;
        op += olen + 1;
    }
    printf("vocab %-16s %3d/%3d cases match (%.2f ms encoding)\n", name, r->ok, r->total, t_enc);
    random_round_trips(t, name, 300);

out_free:
    plmm_tokenizer_destroy(t);
    free(inp);
    free(out);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the directory entries for which keep() holds. */
static size_t list_dir(const char *dir, char **names, size_t cap, bool (*keep)(const char *))
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (e->d_name[0] == '.' || !keep(e->d_name))
            continue;
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    return n;
}

static bool is_vocab_inp(const char *name)
{
    size_t l = strlen(name);
    return strncmp(name, "ggml-vocab-", 11) == 0 && l > 20 &&
           strcmp(name + l - 9, ".gguf.inp") == 0;
}

static bool is_any(const char *name)
{
    (void)name;
    return true;
}

static void test_vocab_vectors(const char *shared)
{
    char vdir[4096];
    snprintf(vdir, sizeof(vdir), "%s/models/vocab", shared);
    char *names[64];
    size_t n = list_dir(vdir, names, 64, is_vocab_inp);
    CHECK_MSG(n > 0, "no vocab test vectors in %s", vdir);
    for (size_t i = 0; i < n; i++) {
        char vname[256];
        size_t l = strlen(names[i]) - 11 - 9;
        snprintf(vname, sizeof(vname), "%.*s", (int)l, names[i] + 11);
        test_vocab_file(vdir, vname);
        free(names[i]);
    }
}

/* ---- golden prompts ---- */

/* Tokenizer for golden/<model>/<type>: models/<model>-<type>.gguf, another
 * type of the same model, or the documented vocabulary of the model. */
static plmm_tokenizer *golden_tokenizer(const char *shared, const char *model, const char *type,
                                        char *used, size_t used_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/models/%s-%s.gguf", shared, model, type);
    if (file_exists(path)) {
        snprintf(used, used_size, "%s-%s.gguf", model, type);
        return open_tok(path, NULL);
    }
    static const char *const types[] = {"F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        snprintf(path, sizeof(path), "%s/models/%s-%s.gguf", shared, model, types[i]);
        if (file_exists(path)) {
            snprintf(used, used_size, "%s-%s.gguf", model, types[i]);
            return open_tok(path, NULL);
        }
    }
    /* golden/synth-qwen2-14M/README.md: the GPT-2 vocabulary with pre = qwen2 */
    if (strcmp(model, "synth-qwen2-14M") == 0) {
        snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-gpt-2.gguf", shared);
        snprintf(used, used_size, "ggml-vocab-gpt-2.gguf with pre qwen2");
        return open_tok(path, "qwen2");
    }
    used[0] = '\0';
    return NULL;
}

static void test_golden_dir(const char *shared, const char *model, const char *type,
                            const char *prompts, size_t prompts_len)
{
    char dir[4096], used[512];
    snprintf(dir, sizeof(dir), "%s/golden/%s/%s", shared, model, type);
    plmm_tokenizer *t = golden_tokenizer(shared, model, type, used, sizeof(used));
    if (t == NULL) {
        printf("golden %s/%s: no model file, skipped\n", model, type);
        return;
    }
    int ok = 0, total = 0, gen_ok = 0, gen_total = 0;
    size_t p = 0;
    while (p < prompts_len) {
        const char *nl = memchr(prompts + p, '\n', prompts_len - p);
        size_t ll = nl ? (size_t)(nl - (prompts + p)) : prompts_len - p;
        const char *line = prompts + p;
        p += ll + 1;
        const char *tab = memchr(line, '\t', ll);
        if (tab == NULL)
            continue;
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)(tab - line), line);
        const char *text = tab + 1;
        size_t tlen = ll - (size_t)(tab + 1 - line);

        char f[4300];
        size_t flen;
        snprintf(f, sizeof(f), "%s/%s.prompt_tokens.txt", dir, id);
        char *want = read_all(f, &flen);
        if (want == NULL)
            continue;
        size_t nw = parse_ids(want, flen, want_buf, MAX_IDS), n = 0;
        free(want);
        plmm_status st = plmm_tokenizer_encode(t, text, tlen, true, false, ids_buf, MAX_IDS, &n);
        bool same =
            st == PLMM_OK && n == nw && memcmp(ids_buf, want_buf, n * sizeof(*ids_buf)) == 0;
        total++;
        ok += same;
        CHECK_MSG(same, "golden %s/%s %s: prompt tokens differ (%s)", model, type, id, used);
        if (!same) {
            print_text("text", text, tlen);
            print_ids("want", want_buf, nw);
            print_ids("got ", ids_buf, n);
        }
        /* round trip: SPM exactly (leading-space rule), BPE byte for byte */
        size_t tl = 0;
        unsigned fl = PLMM_DECODE_REMOVE_SPECIAL;
        if (plmm_tokenizer_type(t) == PLMM_VOCAB_BPE)
            fl |= PLMM_DECODE_RAW;
        st = plmm_tokenizer_decode(t, ids_buf, n, fl, text_buf, sizeof(text_buf), &tl);
        CHECK_MSG(st == PLMM_OK && tl == tlen && memcmp(text_buf, text, tlen) == 0,
                  "golden %s/%s %s: decode(encode(text)) != text", model, type, id);

        /* generated ids -> concatenated pieces */
        snprintf(f, sizeof(f), "%s/%s.gen_tokens.txt", dir, id);
        char *gen = read_all(f, &flen);
        snprintf(f, sizeof(f), "%s/%s.gen_text.txt", dir, id);
        size_t glen;
        char *gtext = read_all(f, &glen);
        if (gen != NULL && gtext != NULL) {
            size_t ng = parse_ids(gen, flen, want_buf, MAX_IDS);
            size_t tot = 0;
            bool good = true;
            for (size_t i = 0; i < ng && good; i++) {
                size_t pl = 0;
                st = plmm_tokenizer_piece(t, want_buf[i], text_buf + tot, sizeof(text_buf) - tot,
                                          &pl);
                good = st == PLMM_OK;
                tot += pl;
            }
            good = good && tot == glen && memcmp(text_buf, gtext, glen) == 0;
            gen_total++;
            gen_ok += good;
            CHECK_MSG(good, "golden %s/%s %s: gen pieces differ from gen_text", model, type, id);
            if (!good) {
                print_text("want", gtext, glen);
                print_text("got ", text_buf, tot);
            }
        }
        free(gen);
        free(gtext);
    }
    printf("golden %-16s %-6s %d/%d prompts, %d/%d gen texts match (%s)\n", model, type, ok, total,
           gen_ok, gen_total, used);
    plmm_tokenizer_destroy(t);
}

static void test_golden(const char *shared)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/golden", shared);
    snprintf(path, sizeof(path), "%s/prompts.tsv", dir);
    size_t plen;
    char *prompts = read_all(path, &plen);
    CHECK_MSG(prompts != NULL, "cannot read %s", path);
    if (prompts == NULL)
        return;
    char *models[64];
    size_t nm = list_dir(dir, models, 64, is_any);
    for (size_t i = 0; i < nm; i++) {
        char mdir[4200];
        snprintf(mdir, sizeof(mdir), "%s/%s", dir, models[i]);
        char *types[16];
        size_t nt = list_dir(mdir, types, 16, is_any);
        for (size_t j = 0; j < nt; j++) {
            char idx[4300];
            snprintf(idx, sizeof(idx), "%s/%s/index.tsv", mdir, types[j]);
            if (file_exists(idx))
                test_golden_dir(shared, models[i], types[j], prompts, plen);
            free(types[j]);
        }
        free(models[i]);
    }
    free(prompts);
}

/* ---- speed (reported, not asserted) ---- */

static void report_speed(const char *shared)
{
    static const char *const names[] = {"llama-spm", "gpt-2", "deepseek-llm"};
    static const char para[] =
        "The quick brown fox jumps over the lazy dog. It's 12:30, and I've got 1,234.56 "
        "reasons\tto smile \xf0\x9f\x98\x81 caf\xc3\xa9  --  na\xc3\xafve r\xc3\xa9sum\xc3\xa9!\n";
    char *text = malloc(8192);
    if (text == NULL)
        return;
    size_t len = 0;
    while (len + sizeof(para) - 1 < 8192) {
        memcpy(text + len, para, sizeof(para) - 1);
        len += sizeof(para) - 1;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-%s.gguf", shared, names[i]);
        plmm_tokenizer *t = open_tok(path, NULL);
        if (t == NULL)
            continue;
        struct timespec a, b;
        size_t n = 0;
        clock_gettime(CLOCK_MONOTONIC, &a);
        plmm_status st = plmm_tokenizer_encode(t, text, len, true, false, ids_buf, MAX_IDS, &n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        CHECK(st == PLMM_OK);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        printf("speed %-14s %zu bytes -> %zu tokens in %.2f ms\n", names[i], len, n, ms);
        plmm_tokenizer_destroy(t);
    }
    free(text);
}

/* BERT: CLS/SEP around the text, lowercase, accents and punctuation split off. */
static void test_bert(const char *shared)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/models/vocab/ggml-vocab-bert-bge.gguf", shared);
    plmm_tokenizer *t = open_tok(path, NULL);
    CHECK(t != NULL);
    if (t == NULL)
        return;
    size_t n = 0, m = 0;
    int32_t ref[16];
    const char *s = "H\xc3\xa9llo, World";
    CHECK(plmm_tokenizer_type(t) == PLMM_VOCAB_WPM);
    CHECK(plmm_tokenizer_encode(t, s, strlen(s), true, false, ids_buf, MAX_IDS, &n) == PLMM_OK);
    CHECK(plmm_tokenizer_encode(t, "hello , world", 13, false, false, ref, 16, &m) == PLMM_OK);
    CHECK(n == m + 2 && ids_buf[0] == 101 && ids_buf[n - 1] == 102 &&
          memcmp(ids_buf + 1, ref, m * sizeof(*ref)) == 0);
    plmm_tokenizer_destroy(t);
}

int main(void)
{
    test_splits();
    test_bpe_small();
    test_spm_small();
    test_errors();

    const char *shared = test_shared_dir();
    if (shared == NULL) {
        test_summary("tokenizer");
        TEST_SKIP("PLMM_SHARED_DIR not set or has no models/: vocab and golden tests skipped");
    }
    test_vocab_vectors(shared);
    test_golden(shared);
    test_bert(shared);
    report_speed(shared);
    printf("summary:");
    for (int i = 0; i < n_results; i++)
        printf(" %s %s;", results[i].name, results[i].ok == results[i].total ? "PASS" : "FAIL");
    printf("\n");
    return test_summary("tokenizer");
}
