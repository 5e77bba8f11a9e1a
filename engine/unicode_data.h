/* Generated Unicode tables (engine/unicode_data.c, written by
 * tools/gen-unicode-tables.py). Use them through engine/unicode.h. */
#ifndef PLMM_ENGINE_UNICODE_DATA_H
#define PLMM_ENGINE_UNICODE_DATA_H

#include <stddef.h>
#include <stdint.h>

extern const char plmm_unicode_version[];
/* Major category (plmm_ucat) of U+0000..U+00FF. */
extern const uint8_t plmm_unicode_cat_latin1[256];
/* start << 3 | plmm_ucat, sorted by start; each holds until the next start. */
extern const uint32_t plmm_unicode_cat_ranges[];
extern const size_t plmm_unicode_cat_ranges_len;
/* White_Space: inclusive {first, last} ranges, sorted. */
extern const uint32_t plmm_unicode_space_ranges[][2];
extern const size_t plmm_unicode_space_ranges_len;
/* {code point, mapped code point}, sorted by code point. */
extern const uint32_t plmm_unicode_lower_map[][2];
extern const size_t plmm_unicode_lower_map_len;
extern const uint32_t plmm_unicode_nfd_map[][2];
extern const size_t plmm_unicode_nfd_map_len;

#endif
