/* Text helpers for expert plugins and the router (plmm_sdk_text.h). */
#include "plmm_sdk_text.h"

#include <stdio.h>
#include <string.h>

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '#' || c >= 0x80;
}

size_t plmm_sdk_text_normalize(const char *text, size_t len, char *out, size_t cap)
{
    size_t n = 0;    /* bytes the full result needs */
    size_t kept = 0; /* length of the written prefix that ends at a separator */
    bool in_word = false;
    if (cap == 0)
        out = NULL;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)text[i] : ' ';
        char put;
        if (i == 0 || (!word_byte(c) && in_word)) {
            put = ' ';
            in_word = false;
        } else if (word_byte(c)) {
            put = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
            in_word = true;
        } else {
            continue;
        }
        if (out != NULL && n + 1 < cap) {
            out[n] = put;
            if (put == ' ')
                kept = n + 1;
        }
        n++;
        if (i == 0 && i < len && word_byte(c)) { /* the first byte is a word byte */
            if (out != NULL && n + 1 < cap)
                out[n] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
            n++;
            in_word = true;
        }
    }
    if (out != NULL)
        out[n < cap ? n : kept] = '\0';
    return n;
}

/* Does phrase match the words starting at p (p points at a word)? */
static bool match_at(const char *p, const char *phrase)
{
    const char *q = phrase;
    for (;;) {
        size_t wl = strcspn(q, " ");
        bool stem = wl > 0 && q[wl - 1] == '*';
        size_t cmp = stem ? wl - 1 : wl;
        size_t pl = strcspn(p, " ");
        if (pl < cmp || memcmp(p, q, cmp) != 0 || (!stem && pl != cmp))
            return false;
        p += pl;
        q += wl;
        if (*q == '\0')
            return true;
        q++; /* the space between phrase words */
        if (*p != ' ' || p[1] == '\0')
            return false;
        p++;
    }
}

uint32_t plmm_sdk_phrase_count(const char *norm, const char *phrase)
{
    uint32_t count = 0;
    if (phrase[0] == '\0')
        return 0;
    for (const char *p = norm; *p != '\0'; p++) {
        if (*p == ' ' && p[1] != '\0' && p[1] != ' ' && match_at(p + 1, phrase))
            count++;
    }
    return count;
}

bool plmm_sdk_phrase_in(const char *norm, const char *phrase)
{
    if (phrase[0] == '\0')
        return false;
    for (const char *p = norm; *p != '\0'; p++)
        if (*p == ' ' && p[1] != '\0' && p[1] != ' ' && match_at(p + 1, phrase))
            return true;
    return false;
}

void plmm_sdk_check_set(plmm_check_result *out, uint32_t verdict, const char *fmt, ...)
{
    if (out == NULL || out->struct_size < offsetof(plmm_check_result, message))
        return;
    out->verdict = verdict;
    if (out->struct_size < sizeof(*out))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}
