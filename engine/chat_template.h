/*
 * Chat templates: turn a conversation into the prompt text a chat model was
 * trained on.
 *
 * plmm does not run Jinja. It recognises the template family from the
 * GGUF `tokenizer.chat_template` string (or takes an explicit name) and
 * renders that family's official format in C. Each family below is shown
 * for a system turn S, user turns U1 U2, an assistant turn A1 and the
 * generation prompt [G]; <bos>/<eos> are the texts in plmm_chat_template.
 *
 *   chatml   "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
 *            "<|im_start|>assistant\nA1<|im_end|>\n" ... [G "<|im_start|>assistant\n"]
 *            When the conversation has no system turn and the template
 *            inserts a fixed one (Qwen2: "You are a helpful assistant."),
 *            that text is read from the template into default_system and
 *            rendered as the first turn.
 *   llama2   "<bos>[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 <eos><bos>[INST] U2 [/INST]"
 *            (Llama-2-chat). User and assistant contents are stripped of
 *            surrounding whitespace; there is no generation prompt: the
 *            text after a user turn already ends in " [/INST]".
 *   mistral  "<bos>[INST] U1 [/INST]A1<eos>[INST] U2 [/INST]" (Mistral-7B-Instruct
 *            v0.1/v0.2). Its template rejects system turns; plmm folds S into
 *            the first user turn as "S\n\nU1" (as later Mistral templates
 *            do). No generation prompt, as for llama2.
 *   llama3   "<bos><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
 *            "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>" ...
 *            [G "<|start_header_id|>assistant<|end_header_id|>\n\n"]
 *            (Llama-3-Instruct; contents trimmed; the 3.1 "Cutting Knowledge
 *            Date" system preamble is not generated).
 *   zephyr   "<|system|>\nS<eos>\n<|user|>\nU1<eos>\n<|assistant|>\nA1<eos>\n"
 *            [G "<|assistant|>\n"]   (zephyr-7b-beta)
 *   phi3     "<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n"
 *            then [G "<|assistant|>\n"] or, without G, "<eos>" (Phi-3 /
 *            Phi-3.5-mini-instruct; an empty S is left out). The first
 *            Phi-3-mini template (bos_token first, system turns dropped,
 *            "<|assistant|>\n" after every user turn) renders the same for
 *            conversations without a system turn that end with a user turn
 *            and ask for the generation prompt.
 *   gemma    "<bos><start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\n"
 *            "A1<end_of_turn>\n" ... [G "<start_of_turn>model\n"]
 *            Gemma has no system role: S is folded into the first user turn
 *            (Gemma 3); user/assistant contents are trimmed.
 *   plain    "System: S\nUser: U1\nAssistant: A1\n" ... [G "Assistant:"]
 *            for models without a chat template, or with one that none of
 *            the markers above identifies.
 *
 * Role rules. Roles are "system", "user", "assistant"; anything else is
 * PLMM_ERR_INVALID_ARG. llama2, mistral and gemma accept a system turn only
 * as the first message and then need user/assistant to alternate starting
 * with user, as their templates do (they raise otherwise).
 *
 * BOS. A tokenizer with add_bos would put BOS in front of the prompt a
 * second time when the template text already starts with it. The
 * formatter therefore reports has_bos: true when the formatted text
 * starts with the BOS text, and then the caller must tokenize it without
 * adding BOS (and with special tokens parsed). llama2, mistral, llama3 and
 * gemma write BOS as their templates do; the others write it only when the
 * detected template starts by emitting bos_token (bos_prefix).
 */
#ifndef PLMM_ENGINE_CHAT_TEMPLATE_H
#define PLMM_ENGINE_CHAT_TEMPLATE_H

#include "plmm/plmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum plmm_chat_family {
    PLMM_CHAT_AUTO = 0, /* only as a request: detect from the Jinja text */
    PLMM_CHAT_PLAIN = 1,
    PLMM_CHAT_CHATML = 2,
    PLMM_CHAT_LLAMA2 = 3,
    PLMM_CHAT_MISTRAL = 4,
    PLMM_CHAT_LLAMA3 = 5,
    PLMM_CHAT_ZEPHYR = 6,
    PLMM_CHAT_PHI3 = 7,
    PLMM_CHAT_GEMMA = 8,
} plmm_chat_family;

#define PLMM_CHAT_TOKEN_MAX 64
#define PLMM_CHAT_SYSTEM_MAX 1024

/* A resolved template: a plain value, no resources. */
typedef struct plmm_chat_template {
    plmm_chat_family family;                   /* never AUTO once initialised */
    bool bos_prefix;                           /* write bos before the first turn (see above) */
    char bos[PLMM_CHAT_TOKEN_MAX];             /* BOS text ("<s>", "<|begin_of_text|>", "<bos>") */
    char eos[PLMM_CHAT_TOKEN_MAX];             /* EOS text ("</s>", "<|endoftext|>") */
    char default_system[PLMM_CHAT_SYSTEM_MAX]; /* chatml: implicit system turn, "" = none */
} plmm_chat_template;

/* Family for a Jinja chat template by its distinctive markers; PLMM_CHAT_PLAIN
 * when jinja is NULL, empty or unrecognised. Checked in this order:
 * "<|im_start|>" chatml; "<|start_header_id|>" llama3; "<start_of_turn>"
 * gemma; "[INST]" with "<<SYS>>" llama2, without it mistral; "<|user|>"
 * with "<|end|>" phi3, without it zephyr. */
plmm_chat_family plmm_chat_template_detect(const char *jinja);

/* Family by name: auto|plain|chatml|llama2|mistral|llama3|zephyr|phi3|gemma.
 * PLMM_ERR_INVALID_ARG for any other name. */
PLMM_NODISCARD plmm_status plmm_chat_family_from_name(const char *name, plmm_chat_family *out)
    PLMM_NONNULL(1, 2);

/* Static lowercase name of a family ("chatml"), "unknown" for bad values. */
const char *plmm_chat_family_name(plmm_chat_family family);

/*
 * Resolve a template. name: NULL or "auto" detects from jinja; any other
 * family name is used as is with that family's defaults. jinja: borrowed,
 * may be NULL; with auto it also supplies bos_prefix and default_system.
 * The BOS/EOS texts are the family's usual ones; a caller that knows the
 * vocabulary's real ones sets them with plmm_chat_template_set_tokens.
 */
PLMM_NODISCARD plmm_status plmm_chat_template_init(plmm_chat_template *t, const char *name,
                                                   const char *jinja) PLMM_NONNULL(1);

/* Override the BOS/EOS texts (NULL keeps the current one).
 * PLMM_ERR_RANGE when a text has PLMM_CHAT_TOKEN_MAX bytes or more. */
PLMM_NODISCARD plmm_status plmm_chat_template_set_tokens(plmm_chat_template *t, const char *bos,
                                                         const char *eos) PLMM_NONNULL(1);

/*
 * Render msgs[0..n_msgs) (borrowed; plmm_chat_message from plmm.h, both
 * strings NUL-terminated) into buf (caller's, capacity bytes) as a
 * NUL-terminated string. *needed receives the bytes the full text takes
 * including the NUL, on success and on PLMM_ERR_RANGE (capacity too small;
 * buf then holds "" if capacity > 0). buf may be NULL when capacity is 0,
 * to ask for the size. has_bos (may be NULL): whether the text starts with
 * t->bos, i.e. the caller must tokenize without adding BOS.
 */
PLMM_NODISCARD plmm_status plmm_chat_template_format(const plmm_chat_template *t,
                                                     const plmm_chat_message *msgs, size_t n_msgs,
                                                     bool add_generation_prompt, char *buf,
                                                     size_t capacity, size_t *needed, bool *has_bos)
    PLMM_NONNULL(1, 7);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_ENGINE_CHAT_TEMPLATE_H */
