/*
 * plmm plugin SDK: text helpers for expert plugins and the router.
 *
 * Routing signals and answer checks look at words, not bytes. A text is
 * first normalized: ASCII letters lowercased, every byte that is not a
 * letter, digit, '+', '#' or part of a UTF-8 sequence becomes a word
 * separator, and the result is " w1 w2 ... wn " (one space before, between
 * and after the words). Phrases are then matched word by word; a phrase
 * word ending in '*' matches any word it starts ("invest*" matches
 * "investing"). Nothing here keeps state.
 */
#ifndef PLMM_SDK_TEXT_H
#define PLMM_SDK_TEXT_H

#include "plmm/expert.h"

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Normalize len bytes of text into out (capacity cap, always NUL-terminated
 * when cap > 0). Returns the length the full result needs (excluding the
 * NUL); text is cut at a word boundary when it does not fit. A buffer of
 * 2 * len + 3 bytes always suffices. */
size_t plmm_sdk_text_normalize(const char *text, size_t len, char *out, size_t cap);

/* Number of places a phrase (routing-signal syntax) occurs in a normalized
 * text, counting overlapping matches once per starting word. */
uint32_t plmm_sdk_phrase_count(const char *norm, const char *phrase);

/* True when the phrase occurs at least once in the normalized text. */
bool plmm_sdk_phrase_in(const char *norm, const char *phrase);

/* Set a check result: verdict and a formatted message, respecting the
 * caller's struct_size (a result too small for the message gets none). */
void plmm_sdk_check_set(plmm_check_result *out, uint32_t verdict, const char *fmt, ...)
    PLMM_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_SDK_TEXT_H */
