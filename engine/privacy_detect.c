/*
 * Pattern detectors for personal data. Each one scans the text for its
 * shape and validates what it can (IBAN mod-97, Luhn plus issuer prefix,
 * octet ranges, SSN/NINO/DNI/NIR rules, dates); candidates overlap freely
 * here and are resolved later (spans_resolve).
 *
 * Context words decide the ambiguous shapes: a date is a date of birth only
 * after a birth word ("born", "DOB", "geboren", "née", ...); a run of
 * digits after "order", "invoice", "ISBN", "tracking", ... is not a phone
 * number; a dotted quad after "version" or "v" is not an IP address.
 */
#include "privacy_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- characters ---- */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || is_upper(c);
}

bool pii_is_alnum(unsigned char c)
{
    return is_digit(c) || is_alpha(c);
}

/* Letters of any script count as word characters for boundaries. */
static bool is_word(unsigned char c)
{
    return pii_is_alnum(c) || c >= 0x80 || c == '_';
}

/* Lower case of a code point below U+0800 (Latin-1, Latin Extended-A,
 * Greek, Cyrillic), else the code point itself. */
uint32_t pii_lower_cp(uint32_t cp)
{
    if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) ||
        (cp >= 0x410 && cp <= 0x42f))
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177)) && cp % 2 == 0)
        return cp + 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) && cp % 2 == 1)
        return cp + 1;
    if (cp == 0x178)
        return 0xff;
    return cp;
}

size_t pii_fold_char(const unsigned char *p, size_t i, size_t n, unsigned char out[2],
                     size_t *out_n)
{
    unsigned char c = p[i];
    if (c < 0x80) {
        out[0] = (unsigned char)tolower(c);
        *out_n = 1;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
        uint32_t cp = pii_lower_cp((uint32_t)(c & 0x1f) << 6 | (p[i + 1] & 0x3f));
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        *out_n = 2;
        return 2;
    }
    out[0] = c;
    *out_n = 1;
    return 1;
}

/* Does one of the words occur (case-insensitive) in the window of up to
 * width bytes before pos? */
static bool context_before(const char *t, size_t pos, size_t width, const char *const *words)
{
    size_t from = pos > width ? pos - width : 0;
    for (const char *const *w = words; *w != NULL; w++) {
        size_t wl = strlen(*w);
        for (size_t i = from; i + wl <= pos; i++)
            if (strncasecmp(t + i, *w, wl) == 0)
                return true;
    }
    return false;
}

static const char *const not_phone_words[] = {
    "order",   "invoice", "isbn",   "tracking", "ticket",   "serial",   "sku",
    "part no", "ref",     "case",   "bestell",  "rechnung", "commande", "facture",
    "pedido",  "factura", "ordine", "fattura",  "account",  "konto",    "item",
    "build",   "version", "no.",    "nr.",      "#",        NULL,
};

static const char *const phone_words[] = {
    "phone",     "tel",      "call",     "mobile",     "cell",      "fax",       "handy",    "ruf",
    "téléphone", "portable", "teléfono", "móvil",      "telefono",  "cellulare", "whatsapp", "sms",
    "text me",   "dial",     "reach me", "erreichbar", "joignable", NULL,
};

static const char *const card_words[] = {
    "card", "karte",  "carte",  "tarjeta", "carta",   "visa", "mastercard",
    "amex", "kredit", "credit", "crédito", "credito", "cc",   NULL,
};

static const char *const birth_words[] = {
    "born",       "birth",    "dob",      "d.o.b",     "geboren",    "geburt",       "geb.",
    "né le",      "née le",   "née",      "naissance", "nacido",     "nacida",       "nacimiento",
    "cumpleaños", "nato il",  "nata il",  "nascita",   "compleanno", "anniversaire", "nací",
    "urodzon",    "geboorte", "jahrgang", NULL,
};

/* ---- e-mail ---- */

static bool email_local(unsigned char c)
{
    return pii_is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static void detect_email(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t at = 1; at + 1 < n; at++) {
        if (p[at] != '@')
            continue;
        size_t l = at;
        while (l > 0 && email_local(p[l - 1]))
            l--;
        while (l < at && p[l] == '.')
            l++;
        if (l == at)
            continue;
        size_t r = at + 1, last_dot = 0;
        while (r < n && (pii_is_alnum(p[r]) || p[r] == '-' || p[r] == '.')) {
            if (p[r] == '.')
                last_dot = r;
            r++;
        }
        while (r > at + 1 && (p[r - 1] == '.' || p[r - 1] == '-'))
            r--;
        last_dot = 0;
        for (size_t k = at + 1; k < r; k++)
            if (p[k] == '.')
                last_dot = k;
        if (last_dot == 0 || last_dot == at + 1 || r - last_dot - 1 < 2)
            continue;
        bool tld_alpha = true;
        for (size_t k = last_dot + 1; k < r; k++)
            tld_alpha = tld_alpha && is_alpha(p[k]);
        if (tld_alpha)
            span_push(out, PLMM_PII_EMAIL, false, l, r - l);
    }
}

/* ---- phone numbers ---- */

static bool phone_sep(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '/';
}

static void detect_phone(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        unsigned char c = p[s];
        if (!(c == '+' || c == '(' || is_digit(c)))
            continue;
        if (s > 0 && (is_word(p[s - 1]) || p[s - 1] == '.' || p[s - 1] == '-' || p[s - 1] == '/' ||
                      p[s - 1] == '+' || p[s - 1] == ':' || p[s - 1] == ','))
            continue;
        if (s > 1 && p[s - 1] == ' ' && pii_is_alnum(p[s - 2]) && is_digit(p[s - 2]))
            continue; /* inside a longer run of digit groups (an IBAN, a card) */
        /* Consume digit groups joined by one separator, with parentheses. */
        size_t i = s, digits = 0, groups = 0, seps = 0, end = s;
        size_t first_group = 0;
        bool plus = c == '+', open_paren = false;
        if (plus)
            i++;
        for (;;) {
            if (i < n && p[i] == '(' && !open_paren) {
                open_paren = true;
                i++;
            }
            size_t g = 0;
            while (i < n && is_digit(p[i])) {
                i++;
                g++;
            }
            if (g == 0)
                break;
            if (groups == 0)
                first_group = g;
            digits += g;
            groups++;
            end = i;
            if (open_paren && i < n && p[i] == ')') {
                open_paren = false;
                i++;
                end = i;
                if (i < n && p[i] == ' ')
                    i++;
                seps++;
                continue;
            }
            if (i + 1 < n && phone_sep(p[i]) && (is_digit(p[i + 1]) || p[i + 1] == '(')) {
                /* "030 / 123456": a spaced slash */
                i++;
                seps++;
            } else if (i + 3 < n && p[i] == ' ' && p[i + 1] == '/' && p[i + 2] == ' ' &&
                       is_digit(p[i + 3])) {
                i += 3;
                seps++;
            } else {
                break;
            }
        }
        if (digits == 0)
            continue;
        /* Not a phone if it runs on into letters or more numbers. */
        if (end < n && (is_word(p[end]) || (p[end] == '.' && end + 1 < n && is_digit(p[end + 1]))))
            continue;
        size_t d0 = plus ? s + 1 : (c == '(' ? s + 1 : s);
        bool ok = false;
        if (digits < 7)
            continue;
        bool ctx_phone = context_before(t, s, 28, phone_words);
        bool ctx_not = context_before(t, s, 24, not_phone_words);
        if (plus) {
            ok = digits >= 8 && digits <= 15;
        } else if (p[d0] == '0' && d0 + 1 < n && p[d0 + 1] == '0') {
            ok = digits >= 10 && digits <= 15 && seps > 0; /* 0049 30 ... */
        } else if (p[d0] == '0') {
            ok = digits >= 9 && digits <= 12 && (seps > 0 || ctx_phone);
        } else if (digits == 10 && groups >= 3 && first_group == 3 && p[d0] >= '2') {
            ok = true; /* North American (NXX) NXX-XXXX */
        } else if (digits == 11 && p[d0] == '1' && first_group == 1 && groups >= 4) {
            ok = true; /* 1-800-555-0199 */
        } else if (ctx_phone) {
            ok = digits >= 7 && digits <= 13 && !(groups == 3 && first_group == 4);
        }
        if (ok && ctx_not && !ctx_phone)
            ok = false;
        if (ok && !plus && groups == 3 && first_group == 3 && digits == 9)
            ok = false; /* ddd-dd-dddd is the shape of a US SSN */
        if (ok) {
            span_push(out, PLMM_PII_PHONE, false, s, end - s);
            s = end;
        }
    }
}

/* ---- IBAN ---- */

typedef struct iban_len {
    char cc[3];
    unsigned char len;
} iban_len;

static const iban_len iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18},
    {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
    {"IL", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21},
    {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27},
    {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25},
    {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
    {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VG", 24}, {"XK", 20},
};

static int iban_country_len(const char *cc)
{
    for (size_t i = 0; i < sizeof(iban_lengths) / sizeof(iban_lengths[0]); i++)
        if (iban_lengths[i].cc[0] == cc[0] && iban_lengths[i].cc[1] == cc[1])
            return iban_lengths[i].len;
    return 0;
}

/* mod-97 of the rearranged IBAN (first 4 characters moved to the end,
 * letters as 10..35); s holds n upper-case letters and digits. */
static bool iban_valid(const char *s, size_t n)
{
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n];
        if (is_digit(c)) {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (is_upper(c)) {
            unsigned v = (unsigned)(c - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        } else {
            return false;
        }
    }
    return rem == 1;
}

static void detect_iban(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s + 4 < n; s++) {
        if (!is_alpha(p[s]) || !is_alpha(p[s + 1]) || !is_digit(p[s + 2]) || !is_digit(p[s + 3]))
            continue;
        if (s > 0 && is_word(p[s - 1]))
            continue;
        char buf[40], cc[2] = {(char)toupper(p[s]), (char)toupper(p[s + 1])};
        size_t ends[40];
        size_t m = 0, i = s;
        while (i < n && m < 34) {
            if (pii_is_alnum(p[i])) {
                buf[m] = (char)toupper(p[i]);
                ends[m] = i + 1;
                m++;
                i++;
            } else if ((p[i] == ' ' || p[i] == '-') && i + 1 < n && pii_is_alnum(p[i + 1]) &&
                       m >= 4) {
                i++;
            } else {
                break;
            }
        }
        int want = iban_country_len(cc);
        for (size_t len = m; len >= 15; len--) {
            if (want != 0 && len != (size_t)want)
                continue;
            size_t e = ends[len - 1];
            if (e < n && pii_is_alnum(p[e]))
                continue; /* must end at a group boundary */
            if (iban_valid(buf, len)) {
                span_push(out, PLMM_PII_IBAN, false, s, e - s);
                break;
            }
        }
    }
}

/* ---- payment cards ---- */

static bool luhn_valid(const char *d, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = (unsigned)(d[n - 1 - k] - '0');
        if (k % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* Issuer prefixes (IIN ranges) of the major networks. */
static bool card_prefix(const char *d, size_t n)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p3 = p2 * 10 + (d[2] - '0');
    int p4 = p3 * 10 + (d[3] - '0');
    int p6 = p4 * 100 + (d[4] - '0') * 10 + (d[5] - '0');
    if (d[0] == '4')
        return n == 13 || n == 16 || n == 19; /* Visa */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16; /* Mastercard */
    if (p2 == 34 || p2 == 37)
        return n == 15; /* Amex */
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
        return n >= 16 && n <= 19; /* Discover */
    if (p4 >= 3528 && p4 <= 3589)
        return n >= 16 && n <= 19; /* JCB */
    if (p2 == 36 || p2 == 38 || p2 == 39 || (p3 >= 300 && p3 <= 305))
        return n >= 14 && n <= 19; /* Diners */
    if (p2 == 62)
        return n >= 16 && n <= 19; /* UnionPay */
    if (p2 == 50 || (p2 >= 56 && p2 <= 69))
        return n >= 12 && n <= 19; /* Maestro */
    return false;
}

static void detect_card(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        if (!is_digit(p[s]) ||
            (s > 0 && (is_word(p[s - 1]) || p[s - 1] == '-' || p[s - 1] == '.' || p[s - 1] == '/')))
            continue;
        char d[20];
        size_t ends[20], m = 0, i = s;
        unsigned char sep = 0;
        while (i < n && m < 19) {
            if (is_digit(p[i])) {
                d[m] = (char)p[i];
                ends[m++] = ++i;
            } else if ((p[i] == ' ' || p[i] == '-') && i + 1 < n && is_digit(p[i + 1]) &&
                       (sep == 0 || sep == p[i])) {
                sep = p[i];
                i++;
            } else {
                break;
            }
        }
        for (size_t len = m; len >= 13; len--) {
            size_t e = ends[len - 1];
            if (e < n && (is_word(p[e]) || is_digit(p[e])))
                continue;
            if (card_prefix(d, len) && luhn_valid(d, len)) {
                if (context_before(t, s, 24, not_phone_words) &&
                    !context_before(t, s, 24, card_words))
                    break; /* "order 4011-...", "serial no. 6789 ..." */
                span_push(out, PLMM_PII_CARD, false, s, e - s);
                break;
            }
        }
    }
}

/* ---- IP addresses ---- */

static const char *const version_words[] = {
    "version", "ver.",    "release",   "build",   "firmware", "versión", "versione",
    "section", "chapter", "abschnitt", "kapitel", "§",        NULL};

static void detect_ipv4(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        if (!is_digit(p[s]) || (s > 0 && (is_word(p[s - 1]) || p[s - 1] == '.')))
            continue;
        size_t i = s;
        int oct;
        bool ok = true;
        for (oct = 0; oct < 4 && ok; oct++) {
            size_t g = 0;
            unsigned v = 0;
            size_t g0 = i;
            while (i < n && is_digit(p[i]) && g < 4) {
                v = v * 10 + (unsigned)(p[i] - '0');
                i++;
                g++;
            }
            if (g == 0 || g > 3 || v > 255 || (g > 1 && p[g0] == '0'))
                ok = false;
            else if (oct < 3) {
                if (i < n && p[i] == '.')
                    i++;
                else
                    ok = false;
            }
        }
        if (!ok || (i < n && (is_word(p[i]) || (p[i] == '.' && i + 1 < n && is_digit(p[i + 1])))))
            continue;
        if (i + 1 < n && p[i] == '/' && is_digit(p[i + 1]))
            continue; /* a network (CIDR), not one host */
        /* "v1.2.3.4", "version 10.0.0.1" */
        if ((s > 0 && (p[s - 1] == 'v' || p[s - 1] == 'V')) ||
            context_before(t, s, 12, version_words))
            continue;
        span_push(out, PLMM_PII_IP, false, s, i - s);
        s = i;
    }
}

static bool ipv6_char(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

static void detect_ipv6(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        if (!ipv6_char(p[s]) || p[s] == '.' || (s > 0 && (is_word(p[s - 1]) || p[s - 1] == ':')))
            continue;
        size_t e = s, colons = 0, hex = 0;
        while (e < n && ipv6_char(p[e]) && e - s < 45) {
            colons += p[e] == ':';
            hex += p[e] != ':' && p[e] != '.';
            e++;
        }
        if (colons < 2 || hex < 1 || (e < n && is_word(p[e]))) {
            continue;
        }
        /* Trim sentence punctuation, then let inet_pton decide. */
        while (e > s && (p[e - 1] == '.' || (p[e - 1] == ':' && !(e - s >= 2 && p[e - 2] == ':'))))
            e--;
        char buf[64];
        struct in6_addr a;
        memcpy(buf, t + s, e - s);
        buf[e - s] = '\0';
        if (inet_pton(AF_INET6, buf, &a) == 1) {
            span_push(out, PLMM_PII_IP, false, s, e - s);
            s = e;
        }
    }
}

/* ---- dates of birth ---- */

static const char *const month_names[] = {
    /* en */ "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    /* de */ "januar",
    "februar",
    "märz",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "dezember",
    /* fr */ "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    /* es */ "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    /* it */ "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
    /* abbreviations */ "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
};

/* Length of a month name at p (whole word, optional '.'), or 0. */
static size_t month_at(const unsigned char *p, size_t n)
{
    size_t best = 0;
    for (size_t k = 0; k < sizeof(month_names) / sizeof(month_names[0]); k++) {
        size_t l = strlen(month_names[k]);
        if (l <= n && strncasecmp((const char *)p, month_names[k], l) == 0 &&
            (l == n || !is_word(p[l])) && l > best)
            best = l;
    }
    if (best > 0 && best < n && p[best] == '.')
        best++;
    return best;
}

static size_t digits_at(const unsigned char *p, size_t n, size_t i, unsigned *v)
{
    size_t g = 0;
    *v = 0;
    while (i + g < n && is_digit(p[i + g]) && g < 5) {
        *v = *v * 10 + (unsigned)(p[i + g] - '0');
        g++;
    }
    return g;
}

/* Length of a date starting at s, or 0. */
static size_t date_at(const unsigned char *p, size_t n, size_t s)
{
    unsigned a, b, c;
    size_t g1 = digits_at(p, n, s, &a);
    if (g1 == 4 && s + 4 < n && (p[s + 4] == '-' || p[s + 4] == '/' || p[s + 4] == '.')) {
        unsigned char sep = p[s + 4];
        size_t g2 = digits_at(p, n, s + 5, &b);
        if (g2 >= 1 && g2 <= 2 && s + 5 + g2 < n && p[s + 5 + g2] == sep) {
            size_t g3 = digits_at(p, n, s + 6 + g2, &c);
            if (g3 >= 1 && g3 <= 2 && a >= 1900 && a <= 2030 && b >= 1 && b <= 12 && c >= 1 &&
                c <= 31)
                return 6 + g2 + g3;
        }
        return 0;
    }
    if (g1 >= 1 && g1 <= 2 && s + g1 < n) {
        unsigned char sep = p[s + g1];
        if (sep == '.' || sep == '/' || sep == '-') {
            size_t g2 = digits_at(p, n, s + g1 + 1, &b);
            if (g2 >= 1 && g2 <= 2 && s + g1 + 1 + g2 < n && p[s + g1 + 1 + g2] == sep) {
                size_t g3 = digits_at(p, n, s + g1 + 2 + g2, &c);
                bool dm = a >= 1 && a <= 31 && b >= 1 && b <= 12;
                bool md = a >= 1 && a <= 12 && b >= 1 && b <= 31;
                if ((g3 == 4 && c >= 1900 && c <= 2030) || g3 == 2)
                    if (dm || md)
                        return g1 + 2 + g2 + g3;
            }
        }
        /* "12 March 1985", "12. März 1985", "3 de mayo de 1990" */
        size_t i = s + g1;
        if (i < n && p[i] == '.')
            i++;
        if (i < n && p[i] == ' ')
            i++;
        if (i + 3 < n && strncasecmp((const char *)p + i, "de ", 3) == 0)
            i += 3;
        size_t ml = month_at(p + i, n - i);
        if (ml > 0 && a >= 1 && a <= 31) {
            i += ml;
            if (i < n && p[i] == ' ')
                i++;
            if (i + 3 < n && strncasecmp((const char *)p + i, "de ", 3) == 0)
                i += 3;
            if (digits_at(p, n, i, &c) == 4 && c >= 1900 && c <= 2030)
                return i + 4 - s;
        }
        return 0;
    }
    /* "March 12, 1985" */
    if (g1 == 0) {
        size_t ml = month_at(p + s, n - s);
        if (ml == 0)
            return 0;
        size_t i = s + ml;
        if (i < n && p[i] == ' ')
            i++;
        size_t g = digits_at(p, n, i, &a);
        if (g < 1 || g > 2 || a < 1 || a > 31)
            return 0;
        i += g;
        if (i + 1 < n && (p[i] == 's' || p[i] == 'n' || p[i] == 'r' || p[i] == 't') &&
            is_alpha(p[i + 1]))
            i += 2; /* 1st, 2nd, 3rd, 4th */
        if (i < n && p[i] == ',')
            i++;
        if (i < n && p[i] == ' ')
            i++;
        if (digits_at(p, n, i, &c) == 4 && c >= 1900 && c <= 2030)
            return i + 4 - s;
    }
    return 0;
}

static void detect_dob(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        if (s > 0 && is_word(p[s - 1]))
            continue;
        if (!is_digit(p[s]) && !is_alpha(p[s]))
            continue;
        size_t l = date_at(p, n, s);
        if (l == 0 || (s + l < n && (is_word(p[s + l]) && !(p[s + l] >= 0x80))))
            continue;
        if (s + l < n && is_digit(p[s + l]))
            continue;
        if (context_before(t, s, 48, birth_words)) {
            span_push(out, PLMM_PII_DOB, false, s, l);
            s += l;
        }
    }
}

/* ---- national identifiers ---- */

static void detect_ssn(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s + 11 <= n; s++) {
        if (s > 0 && (is_word(p[s - 1]) || p[s - 1] == '-'))
            continue;
        unsigned a, g, r;
        if (digits_at(p, n, s, &a) != 3)
            continue;
        unsigned char sep = p[s + 3];
        if ((sep != '-' && sep != ' ') || digits_at(p, n, s + 4, &g) != 2 || p[s + 6] != sep ||
            digits_at(p, n, s + 7, &r) != 4)
            continue;
        if (s + 11 < n && (is_word(p[s + 11]) || p[s + 11] == '-'))
            continue;
        if (a == 0 || a == 666 || a >= 900 || g == 0 || r == 0)
            continue;
        if (sep == ' ' &&
            !context_before(t, s, 32, (const char *const[]){"ssn", "social security", NULL}))
            continue;
        span_push(out, PLMM_PII_ID, false, s, 11);
    }
}

/* UK National Insurance number: AB 12 34 56 C. */
static void detect_nino(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    static const char bad_first[] = "DFIQUV", bad_second[] = "DFIQUVO";
    static const char *const bad_pairs[] = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"};
    for (size_t s = 0; s + 9 <= n; s++) {
        if (!is_upper(p[s]) || !is_upper(p[s + 1]) || (s > 0 && is_word(p[s - 1])))
            continue;
        if (strchr(bad_first, p[s]) || strchr(bad_second, p[s + 1]))
            continue;
        bool bad = false;
        for (size_t k = 0; k < 7; k++)
            bad = bad || (p[s] == bad_pairs[k][0] && p[s + 1] == bad_pairs[k][1]);
        if (bad)
            continue;
        size_t i = s + 2, d = 0;
        while (i < n && d < 6) {
            if (is_digit(p[i])) {
                d++;
                i++;
            } else if (p[i] == ' ' && d % 2 == 0 && i + 1 < n && is_digit(p[i + 1])) {
                i++;
            } else {
                break;
            }
        }
        if (d != 6)
            continue;
        if (i < n && p[i] == ' ')
            i++;
        if (i >= n || p[i] < 'A' || p[i] > 'D' || (i + 1 < n && is_word(p[i + 1])))
            continue;
        span_push(out, PLMM_PII_ID, false, s, i + 1 - s);
    }
}

/* Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter). */
static void detect_dni(const char *t, size_t n, span_list *out)
{
    static const char letters[] = "TRWAGMYFPDXBNJZSQVHLCKE";
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s + 9 <= n; s++) {
        if (s > 0 && is_word(p[s - 1]))
            continue;
        unsigned long v = 0;
        size_t i = s;
        if (p[s] == 'X' || p[s] == 'Y' || p[s] == 'Z') {
            v = (unsigned long)(p[s] - 'X');
            i++;
        } else if (!is_digit(p[s])) {
            continue;
        }
        size_t d0 = i;
        while (i < n && is_digit(p[i]) && i - d0 < 9) {
            v = v * 10 + (unsigned long)(p[i] - '0');
            i++;
        }
        if (i - s != 8)
            continue;
        size_t li = i;
        if (li < n && p[li] == '-')
            li++;
        if (li >= n || !is_upper(p[li]) || (li + 1 < n && is_word(p[li + 1])))
            continue;
        if (p[li] == letters[v % 23])
            span_push(out, PLMM_PII_ID, false, s, li + 1 - s);
    }
}

/* French social security number (NIR): 15 digits, key = 97 - (first 13 mod 97). */
static void detect_nir(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    for (size_t s = 0; s < n; s++) {
        if ((p[s] != '1' && p[s] != '2') || (s > 0 && (is_word(p[s - 1]) || p[s - 1] == '-')))
            continue;
        char d[16];
        size_t m = 0, i = s;
        while (i < n && m < 15) {
            if (is_digit(p[i])) {
                d[m++] = (char)p[i++];
            } else if (p[i] == ' ' && i + 1 < n && is_digit(p[i + 1])) {
                i++;
            } else {
                break;
            }
        }
        if (m != 15 || (i < n && (is_word(p[i]))))
            continue;
        unsigned long long body = 0;
        for (size_t k = 0; k < 13; k++)
            body = body * 10 + (unsigned)(d[k] - '0');
        unsigned key = (unsigned)((d[13] - '0') * 10 + (d[14] - '0'));
        if (key == 97 - body % 97)
            span_push(out, PLMM_PII_ID, false, s, i - s);
    }
}

/* ---- secrets ---- */

static bool token_char(unsigned char c)
{
    return pii_is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '+' ||
           c == '/' || c == '=';
}

static size_t run_of(const unsigned char *p, size_t n, size_t i, bool (*cls)(unsigned char))
{
    size_t e = i;
    while (e < n && cls(p[e]))
        e++;
    return e - i;
}

static bool key_char(unsigned char c)
{
    return pii_is_alnum(c) || c == '-' || c == '_';
}

typedef struct key_prefix {
    const char *prefix;
    size_t min_rest;
} key_prefix;

static const key_prefix key_prefixes[] = {
    {"sk-proj-", 20}, {"sk-ant-", 20},     {"sk-", 20},    {"sk_live_", 16}, {"sk_test_", 16},
    {"rk_live_", 16}, {"ghp_", 30},        {"gho_", 30},   {"ghu_", 30},     {"ghs_", 30},
    {"ghr_", 30},     {"github_pat_", 22}, {"xoxb-", 10},  {"xoxp-", 10},    {"xoxa-", 10},
    {"xoxr-", 10},    {"xoxs-", 10},       {"glpat-", 20}, {"hf_", 30},      {"npm_", 30},
    {"AKIA", 16},     {"ASIA", 16},        {"AIza", 35},   {"pypi-", 40},
};

static const char *const secret_keys[] = {
    "password",      "passwd",      "pwd",     "passwort",   "kennwort",
    "mot de passe",  "contraseña",  "secret",  "token",      "api_key",
    "api-key",       "apikey",      "api key", "access_key", "access key",
    "client_secret", "private_key", "pin",     NULL,
};

static void detect_secret(const char *t, size_t n, span_list *out)
{
    const unsigned char *p = (const unsigned char *)t;
    /* PEM private keys, through the END line (or the end of the text). */
    for (const char *b = t; (b = strstr(b, "-----BEGIN ")) != NULL && (size_t)(b - t) < n; b++) {
        const char *hdr_end = strstr(b + 11, "-----");
        if (hdr_end == NULL || (size_t)(hdr_end - t) >= n)
            break;
        if (hdr_end - b < 22 || strncmp(hdr_end - 11, "PRIVATE KEY", 11) != 0)
            continue;
        const char *end = strstr(hdr_end + 5, "-----END ");
        size_t e = n;
        if (end != NULL && (size_t)(end - t) < n) {
            const char *close = strstr(end + 9, "-----");
            e = close != NULL && (size_t)(close - t) + 5 <= n ? (size_t)(close - t) + 5 : n;
        }
        span_push(out, PLMM_PII_SECRET, false, (size_t)(b - t), e - (size_t)(b - t));
    }
    for (size_t s = 0; s < n; s++) {
        if (s > 0 && (key_char(p[s - 1])))
            continue;
        /* Bearer tokens */
        if (n - s > 7 && strncasecmp(t + s, "bearer ", 7) == 0) {
            size_t l = run_of(p, n, s + 7, token_char);
            if (l >= 16)
                span_push(out, PLMM_PII_SECRET, false, s + 7, l);
            continue;
        }
        /* JWT: three base64url parts */
        if (n - s > 20 && strncmp(t + s, "eyJ", 3) == 0) {
            size_t l = run_of(p, n, s, token_char);
            size_t dots = 0;
            for (size_t k = s; k < s + l; k++)
                dots += p[k] == '.';
            while (l > 0 && p[s + l - 1] == '.')
                l--, dots--;
            if (dots == 2 && l >= 30) {
                span_push(out, PLMM_PII_SECRET, false, s, l);
                continue;
            }
        }
        for (size_t k = 0; k < sizeof(key_prefixes) / sizeof(key_prefixes[0]); k++) {
            size_t pl = strlen(key_prefixes[k].prefix);
            if (n - s > pl && strncmp(t + s, key_prefixes[k].prefix, pl) == 0) {
                size_t l = run_of(p, n, s + pl, key_char);
                if (l >= key_prefixes[k].min_rest) {
                    span_push(out, PLMM_PII_SECRET, false, s, pl + l);
                    break;
                }
            }
        }
        /* password = value, "api_key": "value" */
        for (const char *const *w = secret_keys; *w != NULL; w++) {
            size_t wl = strlen(*w);
            if (n - s <= wl || strncasecmp(t + s, *w, wl) != 0 || is_word(p[s + wl]))
                continue;
            size_t i = s + wl;
            if (i < n && (p[i] == '"' || p[i] == '\''))
                i++;
            while (i < n && p[i] == ' ')
                i++;
            if (i >= n || (p[i] != ':' && p[i] != '='))
                continue;
            i++;
            while (i < n && p[i] == ' ')
                i++;
            if (i < n && (p[i] == '"' || p[i] == '\''))
                i++;
            size_t e = i;
            while (e < n && p[e] > ' ' && p[e] != '"' && p[e] != '\'' && p[e] != ',' && p[e] != ';')
                e++;
            while (e > i && (p[e - 1] == '.' || p[e - 1] == ')'))
                e--;
            if (e - i >= 4)
                span_push(out, PLMM_PII_SECRET, false, i, e - i);
            break;
        }
    }
}

/* ---- all detectors ---- */

void privacy_detect_patterns(const char *text, size_t len, bool only_validated, span_list *out)
{
    detect_iban(text, len, out);
    detect_card(text, len, out);
    detect_secret(text, len, out);
    if (only_validated)
        return;
    detect_email(text, len, out);
    detect_phone(text, len, out);
    detect_ipv4(text, len, out);
    detect_ipv6(text, len, out);
    detect_dob(text, len, out);
    detect_ssn(text, len, out);
    detect_nino(text, len, out);
    detect_dni(text, len, out);
    detect_nir(text, len, out);
}
