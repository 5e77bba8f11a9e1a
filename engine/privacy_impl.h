/* Internals of the privacy layer: privacy.c (object, placeholders, share
 * policy, egress hook), privacy_detect.c (pattern detectors),
 * privacy_known.c (values the user is known by, egress scan) and
 * privacy_restore.c (streaming restore). */
#ifndef PLMM_ENGINE_PRIVACY_IMPL_H
#define PLMM_ENGINE_PRIVACY_IMPL_H

#include "plmm/privacy.h"

#include <stdbool.h>
#include <stddef.h>

/* How a known value is compared with text. */
typedef enum match_mode {
    MATCH_TEXT = 0,    /* case-insensitive, any whitespace run matches any whitespace run */
    MATCH_ALNUM = 1,   /* letters and digits only, separators ignored (IBAN, phone, IDs) */
    MATCH_NAMEPART = 2 /* one word of a name: whole word, capitalised in the text */
} match_mode;

typedef struct known_value {
    uint32_t category;
    uint32_t mode; /* match_mode */
    char *norm;    /* owned, wiped: folded text (MATCH_TEXT) or alnum string */
    size_t len;
} known_value;

/* One placeholder of the conversation. */
typedef struct pseudo_entry {
    uint32_t category;
    uint32_t index; /* the n of <CATEGORY_n> */
    char *key;      /* owned, wiped: canonical form (same value -> same key) */
    char *original; /* owned, wiped: the text as first seen */
} pseudo_entry;

struct plmm_privacy {
    known_value *known;
    size_t n_known, cap_known;
    pseudo_entry *map;
    size_t n_map, cap_map;
    uint32_t next_index[PLMM_PII_COUNT];
};

/* A growable list of candidate spans. */
typedef struct span_list {
    plmm_pii_span *v;
    size_t n, cap;
    bool oom;
} span_list;

void span_push(span_list *l, uint32_t category, bool known, size_t start, size_t len);

/* ---- privacy_detect.c ---- */

/* Append every pattern-detector candidate in text. only_validated: just
 * the checksum-validated detectors (IBAN, cards) and secrets. */
void privacy_detect_patterns(const char *text, size_t len, bool only_validated, span_list *out);

/* Helpers shared with privacy_known.c. */
bool pii_is_alnum(unsigned char c);
/* Lower case of a code point below U+0800 (Latin-1, Latin Extended-A,
 * Greek, Cyrillic), else the code point itself. */
uint32_t pii_lower_cp(uint32_t cp);
/* Lower-case the character at p[i] (ASCII, Latin-1, Latin Extended-A,
 * Greek, Cyrillic) into out (1 or 2 bytes); returns bytes consumed. */
size_t pii_fold_char(const unsigned char *p, size_t i, size_t n, unsigned char out[2],
                     size_t *out_n);

/* ---- privacy_known.c ---- */

PLMM_NODISCARD plmm_status known_add(plmm_privacy *p, uint32_t category, const char *value);
void known_free(plmm_privacy *p);
/* Add text (folded here) as a known value with the given match mode. */
PLMM_NODISCARD plmm_status known_push_text(plmm_privacy *p, uint32_t category, uint32_t mode,
                                           const char *text, size_t n);
/* Append a span for every place a known value occurs in text. */
void known_find(const known_value *known, size_t n_known, const char *text, size_t len,
                span_list *out);
/* Canonical key of a value of a category (for "same value, same
 * placeholder"); owned by the caller (free after wiping). */
char *known_canonical(uint32_t category, const char *s, size_t n);

/* Resolve overlapping candidates into ordered, non-overlapping spans. */
void spans_resolve(span_list *l);

#endif
