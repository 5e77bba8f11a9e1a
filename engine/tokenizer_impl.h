/* Body of plmm_tokenizer and the helpers shared by engine/tokenizer*.c. */
#ifndef PLMM_ENGINE_TOKENIZER_IMPL_H
#define PLMM_ENGINE_TOKENIZER_IMPL_H

#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* Token attributes (llama.cpp's llama_token_attr bits, plus strip flags). */
#define TOK_ATTR_UNDEFINED 0u
#define TOK_ATTR_UNKNOWN (1u << 0)
#define TOK_ATTR_UNUSED (1u << 1)
#define TOK_ATTR_NORMAL (1u << 2)
#define TOK_ATTR_CONTROL (1u << 3)
#define TOK_ATTR_USER_DEFINED (1u << 4)
#define TOK_ATTR_BYTE (1u << 5)
#define TOK_ATTR_LSTRIP (1u << 7) /* eat ASCII spaces before a matched special token */
#define TOK_ATTR_RSTRIP (1u << 8) /* eat ASCII spaces after it */

/* Pre-tokenizer families: which regex splits run, in order. */
typedef enum pretok_kind {
    PRETOK_NONE = 0,       /* SPM, WPM: no regex split */
    PRETOK_DEFAULT,        /* BPE without a known name */
    PRETOK_GPT2,           /* gpt-2, mpt, olmo, jais, phi-2, ... */
    PRETOK_LLAMA3,         /* llama3, llama-bpe, dbrx, smaug-bpe, chatglm-bpe */
    PRETOK_QWEN2,          /* qwen2, stablelm2, deepseek-r1-qwen, megrez */
    PRETOK_STARCODER,      /* starcoder, refact, smollm, command-r, codeshell, ... */
    PRETOK_FALCON,         /* falcon */
    PRETOK_DEEPSEEK_LLM,   /* deepseek-llm */
    PRETOK_DEEPSEEK_CODER, /* deepseek-coder */
    PRETOK_BLOOM,          /* bloom, poro-chat, gpt3-finnish */
    PRETOK_VIKING,         /* viking */
} pretok_kind;

/* Inclusive code point range. */
typedef struct cp_range {
    uint32_t first, last;
} cp_range;

/* One BPE merge: the pair's bytes (left then right, no space) live in
 * merge_arena at off; left_len of them belong to the left part. */
typedef struct bpe_merge {
    uint32_t off;
    uint32_t len;
    uint32_t left_len;
    uint32_t rank;
} bpe_merge;

struct plmm_tokenizer {
    plmm_vocab_type type;
    pretok_kind pre;
    char pre_name[64];
    uint32_t n_vocab;

    /* vocabulary: text of id i is text_arena[text_off[i] .. text_off[i + 1]) */
    char *text_arena;
    uint32_t *text_off;  /* (n_vocab + 1) */
    float *scores;       /* (n_vocab) */
    uint16_t *attr;      /* (n_vocab) TOK_ATTR_* */
    int32_t *vocab_hash; /* open addressing, -1 = empty, (vocab_hash_mask + 1) slots */
    uint32_t vocab_hash_mask;
    uint32_t max_token_len;

    /* rendered pieces (CONTROL/UNKNOWN rendered as their text), like text */
    char *piece_arena;
    uint32_t *piece_off; /* (n_vocab + 1) */

    /* BPE merges: hash of slots indexing merges[], -1 = empty */
    bpe_merge *merges;
    uint32_t n_merges;
    char *merge_arena;
    int32_t *merge_hash;
    uint32_t merge_hash_mask;

    /* tokens matched before tokenization (CONTROL, UNKNOWN, USER_DEFINED),
     * longest text first */
    int32_t *specials;
    uint32_t n_specials;
    /* end-of-generation ids, sorted */
    int32_t *eog;
    uint32_t n_eog;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;

    /* deepseek-llm character classes */
    cp_range *ds_letters;
    uint32_t n_ds_letters;
    cp_range *ds_punct;
    uint32_t n_ds_punct;

    /* BPE byte-level mapping: byte -> UTF-8 of its character, and back */
    char byte_utf8[256][2];
    uint8_t byte_utf8_len[256];
    int16_t cp_to_byte[324]; /* code points < 0x144; -1 = not a byte character */
};

/* ---- growable arrays used while encoding ---- */

typedef struct plmm_tok_vec {
    int32_t *v;
    size_t n, cap;
} plmm_tok_vec;

/* Append id; PLMM_ERR_NOMEM on allocation failure (detail recorded). */
PLMM_NODISCARD plmm_status plmm_tok_vec_push(plmm_tok_vec *tv, int32_t id);

/* Byte span of one pre-tokenized word. */
typedef struct plmm_tok_span {
    size_t off, len;
} plmm_tok_span;

typedef struct plmm_tok_spans {
    plmm_tok_span *v;
    size_t n, cap;
} plmm_tok_spans;

PLMM_NODISCARD plmm_status plmm_tok_span_push(plmm_tok_spans *sv, size_t off, size_t len);

/* Growable byte buffer. */
typedef struct plmm_tok_bytes {
    char *p;
    size_t n, cap;
} plmm_tok_bytes;

PLMM_NODISCARD plmm_status plmm_tok_bytes_put(plmm_tok_bytes *b, const void *src, size_t len);

/* ---- pairwise merging (tokenizer_merge.c), used by SPM and BPE ---- */

/* One symbol of a word being merged: a run of bytes of the word. */
typedef struct plmm_tok_sym {
    int32_t prev, next; /* neighbours in the live chain, -1 at the ends */
    uint32_t off, n;    /* bytes of the word; n == 0 once merged away */
} plmm_tok_sym;

/* Whether symbols l and r (neighbours in bytes) merge; if so *prio says
 * how soon: the highest merges first, the leftmost on ties. */
typedef bool (*plmm_tok_pair_fn)(const plmm_tokenizer *t, const char *bytes, const plmm_tok_sym *l,
                                 const plmm_tok_sym *r, double *prio);

/* Queue of the pairs that may merge. Zero it before first use; it can be
 * reused across words; release with plmm_tok_heap_free(). */
typedef struct plmm_tok_heap {
    struct plmm_tok_bigram *v;
    size_t n, cap;
} plmm_tok_heap;

void plmm_tok_heap_free(plmm_tok_heap *h);

/* Merge the chain s[0..n) (linked in order, over bytes) pair by pair, as
 * pair decides, until no pair merges. The symbols left are those with
 * n > 0, in chain order from s[0]. */
PLMM_NODISCARD plmm_status plmm_tok_merge(const plmm_tokenizer *t, const char *bytes,
                                          plmm_tok_sym *s, int32_t n, plmm_tok_pair_fn pair,
                                          plmm_tok_heap *h);

/* ---- shared lookups (tokenizer.c) ---- */

/* 0 <= id < n_vocab */
bool plmm_tok_valid_id(const plmm_tokenizer *t, int32_t id);

/* Id of the token with exactly this text, or PLMM_TOKEN_NULL. */
int32_t plmm_tok_lookup(const plmm_tokenizer *t, const char *s, size_t len);
/* 32-bit FNV-1a. */
uint32_t plmm_tok_hash(const char *s, size_t len);

/* ---- per-model algorithms on one text fragment (no special tokens inside) ---- */

/* SentencePiece: text is already space-escaped (U+2581). */
PLMM_NODISCARD plmm_status plmm_tok_spm_encode(const plmm_tokenizer *t, const char *text,
                                               size_t len, plmm_tok_vec *out);
/* Byte-level BPE: pre-tokenize, map bytes, merge. */
PLMM_NODISCARD plmm_status plmm_tok_bpe_encode(const plmm_tokenizer *t, const char *text,
                                               size_t len, plmm_tok_vec *out);
/* WordPiece: normalize, split, greedy longest match. */
PLMM_NODISCARD plmm_status plmm_tok_wpm_encode(const plmm_tokenizer *t, const char *text,
                                               size_t len, plmm_tok_vec *out);

/* ---- pieces (tokenizer_decode.c) ---- */

/* Render every token's piece into t->piece_arena / t->piece_off. */
PLMM_NODISCARD plmm_status plmm_tok_build_pieces(plmm_tokenizer *t);

/* ---- pre-tokenizer (tokenizer_pre.c) ---- */

/* Map a tokenizer.ggml.pre name to its family and set the flags that go with
 * it (clean_spaces, ignore_merges, add_bos default, ...). PLMM_ERR_UNSUPPORTED
 * for names this implementation does not know. */
PLMM_NODISCARD plmm_status plmm_tok_pre_select(plmm_tokenizer *t, const char *name);
/* Split text[0..len) into words with t's pre-tokenizer; appends byte spans. */
PLMM_NODISCARD plmm_status plmm_tok_pre_split(const plmm_tokenizer *t, const char *text, size_t len,
                                              plmm_tok_spans *out);

#endif
