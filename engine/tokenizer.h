/*
 * Tokenizers built from GGUF metadata (tokenizer.ggml.*):
 *   "llama" SentencePiece (score-ordered bigram merges, <0xNN> byte fallback),
 *   "gpt2"  byte-level BPE (rank-ordered merges) after a pre-tokenizer split
 *           chosen by tokenizer.ggml.pre,
 *   "bert"  WordPiece (greedy longest match).
 * Token ids agree with llama.cpp's for the same GGUF (checked with its vocab
 * test vectors). Pre-tokenizers: default, gpt-2 (and mpt, olmo, jais, phi-2,
 * jina-*, gigachat, roberta-bpe), llama3/llama-bpe (and falcon3, dbrx,
 * smaug-bpe, chatglm-bpe), qwen2 (and stablelm2, deepseek-r1-qwen, megrez),
 * starcoder (and refact, smollm, command-r, codeshell, exaone, minerva-7b),
 * falcon, deepseek-llm, deepseek-coder, bloom (and gpt3-finnish, poro-chat),
 * viking. Not supported: tekken, chameleon, deepseek-v3, and the "t5" (UGM)
 * and "rwkv" models.
 *
 * Special tokens: CONTROL and UNKNOWN tokens are matched in the input text
 * only when parse_special is set; USER_DEFINED tokens are always matched
 * (as llama.cpp and Hugging Face tokenizers do). Longer special tokens are
 * matched first.
 *
 * Invalid UTF-8 input never fails:
 *   SPM: each invalid byte is a symbol of its own and goes through <0xNN>
 *        byte fallback (the unknown token when the vocabulary has no byte
 *        tokens), so decoding gives the bytes back; llama.cpp instead groups
 *        bytes by what the lead byte announces, which can swallow the next
 *        character;
 *   BPE: each invalid byte is replaced by U+FFFD first (as llama.cpp does:
 *        same ids; some byte-level vocabularies have no token for bytes such
 *        as 0xFF), so decoding gives U+FFFD for it;
 *   WPM: invalid bytes are dropped (U+FFFD is dropped by BERT's cleaning).
 *
 * A tokenizer is read-only after creation: any number of threads may call
 * it at once. It copies what it needs; the GGUF may be closed afterwards.
 */
#ifndef PLMM_ENGINE_TOKENIZER_H
#define PLMM_ENGINE_TOKENIZER_H

#include "gguf.h"
#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_tokenizer plmm_tokenizer;

#define PLMM_TOKEN_NULL (-1)

typedef enum plmm_vocab_type {
    PLMM_VOCAB_SPM = 1, /* tokenizer.ggml.model "llama" */
    PLMM_VOCAB_BPE = 2, /* "gpt2" */
    PLMM_VOCAB_WPM = 3, /* "bert" */
} plmm_vocab_type;

/* tokenizer.ggml.token_type values (after the fix-ups llama.cpp applies:
 * EOG-looking tokens such as "<|endoftext|>" become CONTROL). */
typedef enum plmm_token_type {
    PLMM_TOKEN_TYPE_UNDEFINED = 0,
    PLMM_TOKEN_TYPE_NORMAL = 1,
    PLMM_TOKEN_TYPE_UNKNOWN = 2,
    PLMM_TOKEN_TYPE_CONTROL = 3,
    PLMM_TOKEN_TYPE_USER_DEFINED = 4,
    PLMM_TOKEN_TYPE_UNUSED = 5,
    PLMM_TOKEN_TYPE_BYTE = 6,
} plmm_token_type;

/* ---- create / destroy ---- */

/* Build the tokenizer described by g's tokenizer.* keys. Errors
 * (plmm_last_errmsg): PLMM_ERR_NOT_FOUND (no tokenizer.ggml.model / tokens /
 * merges), PLMM_ERR_UNSUPPORTED (unknown model or pre-tokenizer),
 * PLMM_ERR_FORMAT (ill-typed or inconsistent arrays), PLMM_ERR_NOMEM.
 * g: borrowed, only during the call. out: owned, free with plmm_tokenizer_destroy. */
PLMM_NODISCARD plmm_status plmm_tokenizer_create(const plmm_gguf *g, plmm_tokenizer **out);
/* Same, with tokenizer.ggml.pre replaced by pre (NULL: as in the file). */
PLMM_NODISCARD plmm_status plmm_tokenizer_create_with_pre(const plmm_gguf *g, const char *pre,
                                                          plmm_tokenizer **out);
/* NULL is ignored. */
void plmm_tokenizer_destroy(plmm_tokenizer *t);

/* ---- properties ---- */

uint32_t plmm_tokenizer_n_vocab(const plmm_tokenizer *t);
plmm_vocab_type plmm_tokenizer_type(const plmm_tokenizer *t);
/* Pre-tokenizer name in effect ("default" for SPM/WPM); static or owned by t. */
const char *plmm_tokenizer_pre(const plmm_tokenizer *t);
/* Whether encode with add_special adds BOS / EOS. */
bool plmm_tokenizer_add_bos(const plmm_tokenizer *t);
bool plmm_tokenizer_add_eos(const plmm_tokenizer *t);
/* SPM: a space is put before the text (tokenizer.ggml.add_space_prefix). */
bool plmm_tokenizer_add_space_prefix(const plmm_tokenizer *t);

/* Special ids; PLMM_TOKEN_NULL when the vocabulary has none. */
int32_t plmm_tokenizer_bos(const plmm_tokenizer *t);
int32_t plmm_tokenizer_eos(const plmm_tokenizer *t);
int32_t plmm_tokenizer_eot(const plmm_tokenizer *t); /* "<|eot_id|>", "<|im_end|>", ... */
int32_t plmm_tokenizer_unk(const plmm_tokenizer *t);
int32_t plmm_tokenizer_pad(const plmm_tokenizer *t);
int32_t plmm_tokenizer_sep(const plmm_tokenizer *t);
/* Token for "\n" (SPM <0x0A>, BPE "Ċ"), PLMM_TOKEN_NULL when absent. */
int32_t plmm_tokenizer_nl(const plmm_tokenizer *t);

/* End of generation: EOS, EOT, EOM and the tokens whose text says so
 * ("<|endoftext|>", "<|im_end|>", "<|end|>", "<end_of_turn>", ...). */
bool plmm_tokenizer_is_eog(const plmm_tokenizer *t, int32_t id);
/* Type of a token; PLMM_TOKEN_TYPE_UNDEFINED for ids out of range. */
plmm_token_type plmm_tokenizer_token_type(const plmm_tokenizer *t, int32_t id);
/* CONTROL or UNKNOWN: rendered only on request, matched only with parse_special. */
bool plmm_tokenizer_is_special(const plmm_tokenizer *t, int32_t id);
/* Vocabulary text of a token (as stored: "▁the", "Ġthe", "<0x0A>"), not
 * NUL-terminated; NULL for ids out of range. */
const char *plmm_tokenizer_token_text(const plmm_tokenizer *t, int32_t id, size_t *len);
float plmm_tokenizer_token_score(const plmm_tokenizer *t, int32_t id);
/* Id of the token whose vocabulary text is exactly text[0..len), or PLMM_TOKEN_NULL. */
int32_t plmm_tokenizer_find(const plmm_tokenizer *t, const char *text, size_t len);

/* ---- encode ---- */

/* Tokenize len bytes of text (need not be valid UTF-8 or NUL-terminated).
 * add_special: add BOS/EOS (CLS/SEP for WPM) as the vocabulary says.
 * parse_special: match CONTROL/UNKNOWN token text ("<|im_start|>") as tokens.
 * *n_out = number of tokens; when it exceeds capacity the call returns
 * PLMM_ERR_RANGE and ids holds the first capacity tokens (ids may be NULL
 * when capacity is 0, to ask for the size). text: borrowed; ids: out. */
PLMM_NODISCARD plmm_status plmm_tokenizer_encode(const plmm_tokenizer *t, const char *text,
                                                 size_t len, bool add_special, bool parse_special,
                                                 int32_t *ids, size_t capacity, size_t *n_out);

/* ---- decode ---- */

/* Bytes one token contributes to generated text, as llama.cpp renders it:
 * SPM "▁" -> " ", <0xNN> -> that byte, BPE byte-level characters -> bytes,
 * WPM text as stored; CONTROL and UNKNOWN tokens render as nothing.
 * Pieces may be partial UTF-8 (byte tokens); concatenate before display.
 * PLMM_ERR_RANGE for an id out of range, or when size is too small
 * (*n_out then says the size needed). buf may be NULL when size is 0. */
PLMM_NODISCARD plmm_status plmm_tokenizer_piece(const plmm_tokenizer *t, int32_t id, char *buf,
                                                size_t size, size_t *n_out);
/* Zero-copy form of plmm_tokenizer_piece: the bytes live as long as t.
 * render_special: CONTROL/UNKNOWN tokens give their text instead of nothing.
 * Returns NULL (and *len = 0) for ids out of range. */
const char *plmm_tokenizer_piece_ref(const plmm_tokenizer *t, int32_t id, bool render_special,
                                     size_t *len);

/* plmm_tokenizer_decode flags. */
#define PLMM_DECODE_REMOVE_SPECIAL 0x1u /* drop a leading BOS / trailing EOS the vocab adds */
#define PLMM_DECODE_RENDER_SPECIAL 0x2u /* write CONTROL/UNKNOWN tokens' text */
#define PLMM_DECODE_RAW 0x4u            /* plain concatenation: no space rules (below) */

/* Concatenate the pieces of n ids into text (not NUL-terminated).
 * Space rules unless PLMM_DECODE_RAW:
 *  - vocabularies with add_space_prefix (SPM): the first piece that has
 *    bytes loses one leading ' ', undoing the prefix encode added, so
 *    decode(encode(s)) == s for SPM (unless s holds U+2581 itself, or special
 *    token text that was matched with strip rules);
 *  - vocabularies whose pre-tokenizer cleans up spaces (gpt-2, falcon, mpt,
 *    starcoder, refact, WPM, ...; not deepseek, qwen2, smollm): " ." " ?" " !"
 *    " ," lose the space, " ' " becomes "'", and " 's" " 'm" " 're" " 've" lose
 *    the space (llama.cpp's rule).
 * ids: borrowed, n of them. text: out, size bytes (may be NULL when size is 0).
 * *n_out = bytes needed; PLMM_ERR_RANGE when that exceeds size (text then
 * holds a prefix). PLMM_ERR_RANGE also for an id out of range. */
PLMM_NODISCARD plmm_status plmm_tokenizer_decode(const plmm_tokenizer *t, const int32_t *ids,
                                                 size_t n, unsigned flags, char *text, size_t size,
                                                 size_t *n_out);

#ifdef __cplusplus
}
#endif

#endif
