/*
 * Unicode helpers for the tokenizers: UTF-8 decoding/encoding, major general
 * category, White_Space, simple lowercase and first NFD code point. Tables
 * come from engine/unicode_data.c (tools/gen-unicode-tables.py).
 */
#ifndef PLMM_ENGINE_UNICODE_H
#define PLMM_ENGINE_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Major general category of a code point. */
typedef enum plmm_ucat {
    PLMM_UCAT_UNASSIGNED = 0, /* Cn, and anything above U+10FFFF */
    PLMM_UCAT_LETTER = 1,     /* L* */
    PLMM_UCAT_MARK = 2,       /* M* */
    PLMM_UCAT_NUMBER = 3,     /* N* */
    PLMM_UCAT_PUNCT = 4,      /* P* */
    PLMM_UCAT_SYMBOL = 5,     /* S* */
    PLMM_UCAT_SEPARATOR = 6,  /* Z* */
    PLMM_UCAT_CONTROL = 7,    /* Cc, Cf, Co, Cs */
} plmm_ucat;

/* Returned by plmm_utf8_decode for a byte that does not start a valid sequence. */
#define PLMM_UNICODE_INVALID UINT32_C(0xFFFFFFFF)

/* Decode one code point from s[0..len) (len >= 1). Returns the bytes used
 * (1..4) and stores the code point, or returns 1 and stores
 * PLMM_UNICODE_INVALID when s[0] does not start a well-formed sequence
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
size_t plmm_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Encode cp (<= U+10FFFF) into out; returns 1..4 bytes, 0 if cp is too large. */
size_t plmm_utf8_encode(uint32_t cp, char out[4]);

plmm_ucat plmm_unicode_category(uint32_t cp);
/* White_Space property. */
bool plmm_unicode_is_space(uint32_t cp);
/* First code point of the lowercase form; cp itself when unchanged. */
uint32_t plmm_unicode_tolower(uint32_t cp);
/* First code point of the canonical decomposition; cp itself when none. */
uint32_t plmm_unicode_nfd_first(uint32_t cp);
/* Unicode version the tables were generated from ("14.0.0"). */
const char *plmm_unicode_tables_version(void);

#ifdef __cplusplus
}
#endif

#endif
