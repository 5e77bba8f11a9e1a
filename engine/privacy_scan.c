/*
 * The egress firewall: the last look at the exact bytes of a request body
 * before they leave the device.
 *
 * The body is first normalised so that a personal value cannot slip
 * through in disguise: JSON string escapes are decoded (\u00fc, surrogate
 * pairs, \n, \"), zero-width characters and soft hyphens are dropped,
 * fullwidth ASCII and Cyrillic/Greek look-alike letters become their Latin
 * twins (non-ASCII letters lowered first), and Unicode spaces become ' '. The normalised text is
 * searched for every known value (vault) and every value replaced in this conversation, and with
 * the checksum-validated detectors (IBAN, cards) and the secret detectors, which almost never fire
 * on innocent text.
 */
#include "errors.h"
#include "privacy_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int hex4(const char *s, size_t n, size_t i, uint32_t *cp)
{
    if (i + 4 > n)
        return 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; k++) {
        char c = s[i + k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint32_t)d;
    }
    *cp = v;
    return 1;
}

/* Decode one code point at s[i] (JSON escape or UTF-8); returns bytes used. */
static size_t next_cp(const char *s, size_t n, size_t i, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[i] == '\\' && i + 1 < n) {
        char e = s[i + 1];
        uint32_t hi, lo;
        if (e == 'u' && hex4(s, n, i + 2, &hi)) {
            if (hi >= 0xd800 && hi < 0xdc00 && i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u' &&
                hex4(s, n, i + 8, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                return 12;
            }
            *cp = hi;
            return 6;
        }
        switch (e) {
        case 'n':
            *cp = '\n';
            return 2;
        case 't':
            *cp = '\t';
            return 2;
        case 'r':
            *cp = '\r';
            return 2;
        case 'b':
        case 'f':
            *cp = ' ';
            return 2;
        case '"':
        case '\\':
        case '/':
            *cp = (uint32_t)e;
            return 2;
        default:
            break;
        }
    }
    unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n) {
        *cp = c;
        return 1;
    }
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
        if ((p[i + k] & 0xc0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = v << 6 | (p[i + k] & 0x3f);
    }
    *cp = v;
    return len;
}

/* Look-alikes and spacing; 0 = drop the character. */
static uint32_t fold_cp(uint32_t cp)
{
    static const struct {
        uint16_t from;
        char to;
    } confusables[] = {
        {0x0430, 'a'}, {0x0435, 'e'}, {0x043e, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0445, 'x'},
        {0x0443, 'y'}, {0x0456, 'i'}, {0x0455, 's'}, {0x0458, 'j'}, {0x04bb, 'h'}, {0x0501, 'd'},
        {0x0410, 'A'}, {0x0412, 'B'}, {0x0415, 'E'}, {0x041a, 'K'}, {0x041c, 'M'}, {0x041d, 'H'},
        {0x041e, 'O'}, {0x0420, 'P'}, {0x0421, 'C'}, {0x0422, 'T'}, {0x0425, 'X'}, {0x0405, 'S'},
        {0x0406, 'I'}, {0x0408, 'J'}, {0x03bf, 'o'}, {0x03b1, 'a'}, {0x039f, 'O'}, {0x0391, 'A'},
        {0x0392, 'B'}, {0x0395, 'E'}, {0x0397, 'H'}, {0x0399, 'I'}, {0x039a, 'K'}, {0x039c, 'M'},
        {0x039d, 'N'}, {0x03a1, 'P'}, {0x03a4, 'T'}, {0x03a7, 'X'}, {0x03a5, 'Y'}, {0x0396, 'Z'},
        {0x2010, '-'}, {0x2011, '-'}, {0x2012, '-'}, {0x2013, '-'}, {0x2212, '-'}, {0xff20, '@'},
        {0x2024, '.'}, {0xfe6b, '@'},
    };
    if (cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0x2060 || cp == 0xfeff ||
        cp == 0x00ad)
        return 0;
    if (cp == 0x00a0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x3000)
        return ' ';
    if (cp >= 0xff01 && cp <= 0xff5e)
        return cp - 0xff01 + 0x21;
    /* Non-ASCII letters are lowered first, so that a look-alike maps the same
     * way in either case (ASCII keeps its case: name parts must be
     * capitalised). */
    if (cp >= 0x80)
        cp = pii_lower_cp(cp);
    for (size_t i = 0; i < sizeof(confusables) / sizeof(confusables[0]); i++)
        if (confusables[i].from == cp)
            return (uint32_t)(unsigned char)confusables[i].to;
    return cp;
}

static size_t put_utf8(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decode escapes and fold look-alikes of in[0..len) into out (room for 4 *
 * len + 1 bytes, NUL-terminated); from (may be NULL) maps every output
 * byte to the input offset it came from. Returns the output length. */
static size_t normalize(const char *in, size_t len, unsigned char *out, size_t *from)
{
    size_t m = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t used = next_cp(in, len, i, &cp);
        cp = fold_cp(cp);
        if (cp != 0) {
            unsigned char u[4];
            size_t k = put_utf8(cp, u);
            for (size_t j = 0; j < k; j++) {
                out[m] = u[j];
                if (from != NULL)
                    from[m] = i;
                m++;
            }
        }
        i += used;
    }
    out[m] = '\0';
    if (from != NULL)
        from[m] = len;
    return m;
}

PLMM_EXPORT plmm_status plmm_privacy_scan(const plmm_privacy *p, const char *body, size_t len,
                                          plmm_pii_span *hit)
{
    if (p == NULL || (body == NULL && len > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (len > SIZE_MAX / 4 - 8)
        return plmm_err(PLMM_ERR_RANGE, "request body too large to scan");
    unsigned char *norm = malloc(4 * len + 1);
    size_t *from = malloc((4 * len + 1) * sizeof(*from));
    plmm_privacy *seen = NULL;
    span_list l = {0};
    plmm_status s = PLMM_OK;
    if (norm == NULL || from == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    size_t m = normalize(body, len, norm, from);
    /* The values replaced in this conversation, spelled every way known_add knows. */
    s = plmm_privacy_create(&seen);
    for (size_t i = 0; i < p->n_map && s == PLMM_OK; i++)
        s = known_add(seen, p->map[i].category, p->map[i].original);
    /* Known values in a script with look-alikes (Cyrillic, Greek) are
     * compared in the same folded form as the body. */
    for (size_t i = 0; i < p->n_known && s == PLMM_OK; i++) {
        const known_value *k = &p->known[i];
        if (k->mode == MATCH_ALNUM)
            continue;
        unsigned char *f = malloc(4 * k->len + 1);
        if (f == NULL) {
            s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
            break;
        }
        size_t fl = normalize(k->norm, k->len, f, NULL);
        /* a name part whose first letter became ASCII lost its capital */
        uint32_t mode = k->mode == MATCH_NAMEPART && fl > 0 && f[0] < 0x80 ? MATCH_TEXT : k->mode;
        if (fl != k->len || memcmp(f, k->norm, fl) != 0)
            s = known_push_text(seen, k->category, mode, (const char *)f, fl);
        sodium_memzero(f, 4 * k->len + 1);
        free(f);
    }
    if (s != PLMM_OK)
        goto out;
    known_find(p->known, p->n_known, (const char *)norm, m, &l);
    known_find(seen->known, seen->n_known, (const char *)norm, m, &l);
    privacy_detect_patterns((const char *)norm, m, true, &l);
    if (l.oom) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (l.n > 0) {
        spans_resolve(&l);
        const plmm_pii_span *h = &l.v[0];
        size_t start = from[h->start], end = from[h->start + h->len];
        if (hit != NULL)
            *hit = (plmm_pii_span){h->category, h->known, start, end - start};
        s = plmm_err(PLMM_ERR_DENIED,
                     "request refused: the body still holds %s personal data (%s) at byte %zu",
                     h->known ? "known" : "detected", plmm_pii_name(h->category), start);
    }
out:
    if (norm != NULL)
        sodium_memzero(norm, 4 * len + 1);
    free(norm);
    free(from);
    free(l.v);
    plmm_privacy_destroy(seen);
    return s;
}
