/*
 * The art expert's answer check: the answer stays on the period and the
 * medium the question asks about (art.h).
 */
#include "art.h"
#include "plmm_sdk.h"
#include "plmm_sdk_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- vocabularies ---- */

#define MAX_TERMS 10

typedef struct topic {
    const char *name;             /* for messages */
    int from, to;                 /* years (periods; 0, 0 = no dates) */
    const char *terms[MAX_TERMS]; /* phrases in routing-signal syntax */
    const char *minus[3];         /* phrases whose matches are another topic's */
} topic;

static const topic periods[] = {
    {"medieval", 500, 1400, {"medieval", "middle ages", "romanesque", "gothic"}, {NULL}},
    {"byzantine", 330, 1453, {"byzantine"}, {NULL}},
    {"renaissance", 1400, 1600, {"renaissance", "quattrocento", "cinquecento"}, {NULL}},
    {"mannerism", 1520, 1600, {"manneris*"}, {NULL}},
    {"baroque", 1600, 1750, {"baroque"}, {NULL}},
    {"rococo", 1720, 1780, {"rococo"}, {NULL}},
    {"neoclassicism", 1760, 1850, {"neoclassic*"}, {NULL}},
    {"romanticism", 1780, 1850, {"romanticism", "romantic movement", "romantic painter*"}, {NULL}},
    {"realism", 1840, 1880, {"realism", "realist", "realists"}, {"magical realism"}},
    {"impressionism", 1860, 1900, {"impressionis*"}, {"post impressionis*"}},
    {"post-impressionism", 1885, 1910, {"post impressionis*"}, {NULL}},
    {"art nouveau", 1890, 1914, {"art nouveau", "jugendstil"}, {NULL}},
    {"fauvism", 1904, 1910, {"fauvis*", "fauve", "fauves"}, {NULL}},
    {"expressionism", 1905, 1935, {"expressionis*"}, {"abstract expressionis*"}},
    {"cubism", 1907, 1925, {"cubis*"}, {NULL}},
    {"futurism", 1909, 1920, {"futuris*"}, {NULL}},
    {"dada", 1915, 1925, {"dada", "dadaism", "dadaist*"}, {NULL}},
    {"surrealism", 1920, 1950, {"surrealis*"}, {NULL}},
    {"art deco", 1920, 1940, {"art deco"}, {NULL}},
    {"bauhaus", 1919, 1933, {"bauhaus"}, {NULL}},
    {"abstract expressionism", 1940, 1965, {"abstract expressionis*"}, {NULL}},
    {"pop art", 1955, 1975, {"pop art"}, {NULL}},
    {"minimalism", 1960, 1980, {"minimalis*"}, {NULL}},
    {"contemporary art", 1970, 2100, {"contemporary art", "contemporary artist*"}, {NULL}},
    {"ukiyo-e", 1600, 1900, {"ukiyo e", "edo period"}, {NULL}},
};

static const topic media[] = {
    {"painting",
     0,
     0,
     {"painting*", "painted", "painter*", "oil paint*", "oils", "canvas*", "brushwork",
      "brushstroke*", "tempera", "fresco*"},
     {NULL}},
    {"watercolor", 0, 0, {"watercolo*", "aquarelle*", "gouache"}, {NULL}},
    {"sculpture",
     0,
     0,
     {"sculpt*", "statue*", "bronze*", "marble", "carv*", "chisel*", "relief*", "bust"},
     {NULL}},
    {"drawing",
     0,
     0,
     {"drawing*", "drawn", "sketch*", "charcoal", "pencil*", "graphite", "pen and ink", "chalk"},
     {NULL}},
    {"printmaking",
     0,
     0,
     {"printmaking", "print", "prints", "etching*", "engraving*", "woodcut*", "woodblock*",
      "lithograph*", "screen print*", "intaglio"},
     {NULL}},
    {"photography",
     0,
     0,
     {"photograph*", "camera*", "darkroom", "lens*", "exposure*", "negative*"},
     {NULL}},
    {"ceramics",
     0,
     0,
     {"ceramic*", "pottery", "porcelain", "stoneware", "earthenware", "kiln*"},
     {NULL}},
    {"architecture",
     0,
     0,
     {"architect*", "cathedral*", "facade*", "façade*", "dome*", "column*"},
     {NULL}},
    {"mosaic", 0, 0, {"mosaic*", "tesserae"}, {NULL}},
    {"textile", 0, 0, {"textile*", "tapestr*", "weav*", "embroider*"}, {NULL}},
};

#define N_PERIODS (sizeof(periods) / sizeof(periods[0]))
#define N_MEDIA (sizeof(media) / sizeof(media[0]))

/* What the question asks: the medium is recognised from fewer, clearer
 * words than the answer's mentions ("print" alone in a question is too
 * vague, "etching" is not). */
static const char *const medium_asked[N_MEDIA][6] = {
    {"painting*", "painter*", "oil paint*", "paint", "fresco*", "tempera"},
    {"watercolo*", "aquarelle*", "gouache"},
    {"sculpt*", "statue*"},
    {"drawing*", "sketch*", "charcoal"},
    {"printmaking", "etching*", "engraving*", "woodcut*", "lithograph*", "woodblock print*"},
    {"photograph*"},
    {"ceramic*", "pottery", "porcelain"},
    {"architecture", "architectural"},
    {"mosaic*"},
    {"textile*", "tapestr*"},
};

static uint32_t mentions(const char *norm, const topic *t)
{
    uint32_t n = 0;
    for (int i = 0; i < MAX_TERMS && t->terms[i] != NULL; i++)
        n += plmm_sdk_phrase_count(norm, t->terms[i]);
    for (int i = 0; i < 3 && t->minus[i] != NULL; i++) {
        uint32_t m = plmm_sdk_phrase_count(norm, t->minus[i]);
        n = m > n ? 0 : n - m;
    }
    return n;
}

/* ---- centuries ---- */

/* "17th century" / "seventeenth century" / "1600s" in a normalized text:
 * the first century named, as its first year (1600), or -1. */
static int century_asked(const char *norm)
{
    static const char *const words[] = {"twelfth",    "thirteenth", "fourteenth",
                                        "fifteenth",  "sixteenth",  "seventeenth",
                                        "eighteenth", "nineteenth", "twentieth"};
    for (const char *p = norm; *p != '\0'; p++) {
        if (*p != ' ')
            continue;
        const char *w = p + 1;
        int c = atoi(w);
        if (c >= 12 && c <= 21 &&
            (strncmp(w + 2, "th century", 10) == 0 || strncmp(w + 2, "st century", 10) == 0))
            return (c - 1) * 100;
        if (c >= 1100 && c <= 2000 && c % 100 == 0 && w[4] == 's' && w[5] == ' ')
            return c;
        for (int i = 0; i < 9; i++) {
            size_t l = strlen(words[i]);
            if (strncmp(w, words[i], l) == 0 && strncmp(w + l, " century", 8) == 0)
                return (i + 11) * 100;
        }
    }
    return -1;
}

/* Years 1000-2099 written as words of four digits in a normalized text. */
static void count_years(const char *norm, int from, int to, uint32_t *in, uint32_t *off)
{
    *in = *off = 0;
    for (const char *p = norm; *p != '\0'; p++) {
        if (p[0] != ' ' || p[1] < '1' || p[1] > '2')
            continue;
        const char *w = p + 1;
        bool digits = true;
        for (int i = 0; i < 4 && digits; i++)
            digits = w[i] >= '0' && w[i] <= '9';
        if (!digits || (w[4] != ' ' && !(w[4] == 's' && w[5] == ' ')))
            continue;
        int y = atoi(w);
        if (y < 1000 || y > 2099)
            continue;
        if (y >= from && y <= to)
            (*in)++;
        else
            (*off)++;
    }
}

/* ---- the check ---- */

static char *normalize(const plmm_host_api *host, const char *text)
{
    size_t len = strlen(text), cap = 2 * len + 3;
    char *norm = host->alloc(host->host_ctx, cap, 1);
    if (norm != NULL)
        plmm_sdk_text_normalize(text, len, norm, cap);
    return norm;
}

/* The topic of a table most mentioned in the answer outside the asked
 * ones, and how often. */
static uint32_t top_other(const char *norm, const topic *table, size_t n, const bool *asked,
                          size_t *which)
{
    uint32_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (asked[i])
            continue;
        uint32_t m = mentions(norm, &table[i]);
        if (m > best) {
            best = m;
            *which = i;
        }
    }
    return best;
}

plmm_status art_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                      plmm_check_result *out)
{
    const plmm_host_api *host = ctx->host;
    char *q = normalize(host, question);
    char *a = normalize(host, answer);
    bool asked_p[N_PERIODS] = {false}, asked_m[N_MEDIA] = {false};
    uint32_t n_asked_p = 0, n_asked_m = 0, hits_p = 0, hits_m = 0;
    if (q == NULL || a == NULL) {
        host->free(host->host_ctx, q);
        host->free(host->host_ctx, a);
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory checking an answer");
    }
    plmm_sdk_check_set(out, PLMM_CHECK_PASS, "%s", "");

    for (size_t i = 0; i < N_PERIODS; i++)
        if (mentions(q, &periods[i]) > 0) {
            asked_p[i] = true;
            n_asked_p++;
        }
    for (size_t i = 0; i < N_MEDIA; i++)
        for (int k = 0; k < 6 && medium_asked[i][k] != NULL && !asked_m[i]; k++)
            if (plmm_sdk_phrase_in(q, medium_asked[i][k])) {
                asked_m[i] = true;
                n_asked_m++;
            }
    int century = century_asked(q);

    /* every asked period and medium is mentioned */
    for (size_t i = 0; i < N_PERIODS; i++) {
        if (!asked_p[i])
            continue;
        uint32_t m = mentions(a, &periods[i]);
        if (m == 0) {
            plmm_sdk_check_set(out, PLMM_CHECK_FAIL,
                               "the answer never mentions the %s period the question asks about",
                               periods[i].name);
            goto out_free;
        }
        hits_p += m;
    }
    for (size_t i = 0; i < N_MEDIA; i++) {
        if (!asked_m[i])
            continue;
        uint32_t m = mentions(a, &media[i]);
        if (m == 0) {
            plmm_sdk_check_set(out, PLMM_CHECK_FAIL,
                               "the answer never mentions %s, the medium the question asks about",
                               media[i].name);
            goto out_free;
        }
        hits_m += m;
    }

    /* dates: with exactly one period or century asked, most years given
     * must fall inside it */
    int from = 0, to = 0;
    const char *what = NULL;
    char century_name[32];
    if (n_asked_p == 1) {
        for (size_t i = 0; i < N_PERIODS; i++)
            if (asked_p[i]) {
                from = periods[i].from;
                to = periods[i].to;
                what = periods[i].name;
            }
    } else if (n_asked_p == 0 && century >= 0) {
        from = century;
        to = century + 99;
        snprintf(century_name, sizeof(century_name), "%ds", century);
        what = century_name;
    }
    if (what != NULL && to > from) {
        uint32_t in, off;
        count_years(a, from - ctx->year_slack, to + ctx->year_slack, &in, &off);
        if (off >= 2 && off > in) {
            plmm_sdk_check_set(out, PLMM_CHECK_FAIL,
                               "%u of the %u years in the answer fall outside the %s (%d-%d)",
                               (unsigned)off, (unsigned)(in + off), what, from, to);
            goto out_free;
        }
    }

    /* drift: another period or medium dominates */
    uint32_t verdict = ctx->drift_fails ? PLMM_CHECK_FAIL : PLMM_CHECK_WARN;
    size_t other = 0;
    uint32_t m;
    if (n_asked_p > 0 && (m = top_other(a, periods, N_PERIODS, asked_p, &other)) > hits_p) {
        plmm_sdk_check_set(out, verdict,
                           "the answer drifts to %s (%u mentions) from the asked period (%u)",
                           periods[other].name, (unsigned)m, (unsigned)hits_p);
        goto out_free;
    }
    if (n_asked_m > 0 && (m = top_other(a, media, N_MEDIA, asked_m, &other)) > hits_m) {
        plmm_sdk_check_set(out, verdict,
                           "the answer drifts to %s (%u mentions) from the asked medium (%u)",
                           media[other].name, (unsigned)m, (unsigned)hits_m);
        goto out_free;
    }
out_free:
    host->free(host->host_ctx, q);
    host->free(host->host_ctx, a);
    return PLMM_OK;
}
