/* Unicode helpers: UTF-8 and lookups in the generated tables. */
#include "unicode.h"

#include "unicode_data.h"

/* ---- UTF-8 ---- */

static bool is_cont(unsigned char c)
{
    return (c & 0xC0u) == 0x80u;
}

size_t plmm_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];

    if (c < 0x80u) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2u && c <= 0xDFu) {
        if (len >= 2 && is_cont(u[1])) {
            *cp = (uint32_t)(c & 0x1Fu) << 6 | (u[1] & 0x3Fu);
            return 2;
        }
    } else if (c >= 0xE0u && c <= 0xEFu) {
        if (len >= 3 && is_cont(u[1]) && is_cont(u[2])) {
            uint32_t v =
                (uint32_t)(c & 0x0Fu) << 12 | (uint32_t)(u[1] & 0x3Fu) << 6 | (u[2] & 0x3Fu);
            if (v >= 0x800u && (v < 0xD800u || v > 0xDFFFu)) {
                *cp = v;
                return 3;
            }
        }
    } else if (c >= 0xF0u && c <= 0xF4u) {
        if (len >= 4 && is_cont(u[1]) && is_cont(u[2]) && is_cont(u[3])) {
            uint32_t v = (uint32_t)(c & 0x07u) << 18 | (uint32_t)(u[1] & 0x3Fu) << 12 |
                         (uint32_t)(u[2] & 0x3Fu) << 6 | (u[3] & 0x3Fu);
            if (v >= 0x10000u && v <= 0x10FFFFu) {
                *cp = v;
                return 4;
            }
        }
    }
    *cp = PLMM_UNICODE_INVALID;
    return 1;
}

size_t plmm_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80u) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800u) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000u) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    if (cp <= 0x10FFFFu) {
        out[0] = (char)(0xF0u | (cp >> 18));
        out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
        out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[3] = (char)(0x80u | (cp & 0x3Fu));
        return 4;
    }
    return 0;
}

/* ---- table lookups ---- */

plmm_ucat plmm_unicode_category(uint32_t cp)
{
    if (cp < 256u)
        return (plmm_ucat)plmm_unicode_cat_latin1[cp];
    if (cp > 0x10FFFFu)
        return PLMM_UCAT_UNASSIGNED;
    /* last entry whose start <= cp */
    size_t lo = 0, hi = plmm_unicode_cat_ranges_len;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((plmm_unicode_cat_ranges[mid] >> 3) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (plmm_ucat)(plmm_unicode_cat_ranges[lo] & 7u);
}

bool plmm_unicode_is_space(uint32_t cp)
{
    if (cp < 0x80u)
        return cp == 0x20u || (cp >= 0x09u && cp <= 0x0Du);
    for (size_t i = 0; i < plmm_unicode_space_ranges_len; i++) {
        if (cp < plmm_unicode_space_ranges[i][0])
            return false;
        if (cp <= plmm_unicode_space_ranges[i][1])
            return true;
    }
    return false;
}

/* Binary search in a sorted {key, value} table; returns cp when absent. */
static uint32_t map_lookup(const uint32_t (*map)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (map[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < n && map[lo][0] == cp) ? map[lo][1] : cp;
}

uint32_t plmm_unicode_tolower(uint32_t cp)
{
    if (cp < 0x80u)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32u : cp;
    return map_lookup(plmm_unicode_lower_map, plmm_unicode_lower_map_len, cp);
}

uint32_t plmm_unicode_nfd_first(uint32_t cp)
{
    if (cp < 0x80u)
        return cp;
    /* Hangul syllable -> leading jamo: L = 0x1100 + index / (21 * 28). */
    if (cp >= 0xAC00u && cp <= 0xD7A3u)
        return 0x1100u + (cp - 0xAC00u) / 588u;
    return map_lookup(plmm_unicode_nfd_map, plmm_unicode_nfd_map_len, cp);
}

const char *plmm_unicode_tables_version(void)
{
    return plmm_unicode_version;
}
