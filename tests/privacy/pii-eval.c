/*
 * pii-eval: precision and recall of the pseudonymization detectors on a
 * labelled corpus.
 *
 *   pii-eval [--check] [--verbose] CORPUS KNOWN
 *
 * CORPUS has one sentence per line with personal data marked
 * [[CATEGORY:value]] ('#' lines are comments, a literal "\n" is a newline).
 * KNOWN lists CATEGORY<TAB>value lines: what the user's vault knows.
 *
 * A labelled value counts as found (recall) when detected spans of its
 * category cover every letter and digit of it: a partial hit would leak
 * the rest. A detected span counts as correct (precision) when it overlaps
 * a labelled value of its category. The Markdown table goes to stdout;
 * --verbose names the misses and false alarms (line and category, never
 * the value unless --show-values). --check exits 1 unless recall is 100%
 * on IBAN, CARD and the vault-known categories (PERSON, PLACE, ORG,
 * ADDRESS) and at least 0.98 overall.
 */
#include "plmm/plmm.h"
#include "plmm/privacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gold {
    uint32_t cat;
    size_t start, len;
} gold;

typedef struct tally {
    unsigned gold, found, pred, correct;
} tally;

static bool alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}

/* Turn a marked line into text + gold spans. Returns false on bad markup. */
static bool parse_line(const char *line, char *text, gold *g, size_t *n_gold, size_t max_gold)
{
    size_t o = 0, n = 0;
    for (const char *p = line; *p != '\0';) {
        if (p[0] == '\\' && p[1] == 'n') {
            text[o++] = '\n';
            p += 2;
            continue;
        }
        if (p[0] == '[' && p[1] == '[') {
            const char *colon = strchr(p + 2, ':');
            const char *end = strstr(p + 2, "]]");
            if (colon == NULL || end == NULL || colon > end || n == max_gold)
                return false;
            char name[32];
            size_t nl = (size_t)(colon - (p + 2));
            if (nl >= sizeof(name))
                return false;
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            uint32_t cat;
            if (plmm_pii_parse(name, &cat) != PLMM_OK || cat == PLMM_PII_NONE)
                return false;
            g[n].cat = cat;
            g[n].start = o;
            for (const char *q = colon + 1; q < end;) {
                if (q[0] == '\\' && q[1] == 'n') {
                    text[o++] = '\n';
                    q += 2;
                } else {
                    text[o++] = *q++;
                }
            }
            g[n].len = o - g[n].start;
            n++;
            p = end + 2;
            continue;
        }
        text[o++] = *p++;
    }
    text[o] = '\0';
    *n_gold = n;
    return true;
}

static int load_known(plmm_privacy *p, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "pii-eval: cannot open '%s'\n", path);
        return 1;
    }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *tab = strchr(line, '\t');
        uint32_t cat;
        if (tab == NULL) {
            fprintf(stderr, "%s:%d: expected CATEGORY<TAB>value\n", path, lineno);
            fclose(f);
            return 1;
        }
        *tab = '\0';
        if (plmm_pii_parse(line, &cat) != PLMM_OK ||
            plmm_privacy_add_known(p, cat, tab + 1) != PLMM_OK) {
            fprintf(stderr, "%s:%d: %s\n", path, lineno, plmm_last_errmsg());
            fclose(f);
            return 1;
        }
    }
    fclose(f);
    return 0;
}

static bool vault_known(uint32_t c)
{
    return c == PLMM_PII_PERSON || c == PLMM_PII_PLACE || c == PLMM_PII_ORG ||
           c == PLMM_PII_ADDRESS;
}

int main(int argc, char **argv)
{
    bool check = false, verbose = false, show = false;
    const char *corpus = NULL, *known = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            check = true;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (strcmp(argv[i], "--show-values") == 0)
            verbose = show = true;
        else if (corpus == NULL)
            corpus = argv[i];
        else if (known == NULL)
            known = argv[i];
        else
            corpus = NULL, i = argc;
    }
    if (corpus == NULL || known == NULL) {
        fprintf(stderr, "usage: pii-eval [--check] [--verbose] [--show-values] CORPUS KNOWN\n");
        return 2;
    }
    plmm_privacy *p = NULL;
    if (plmm_privacy_create(&p) != PLMM_OK || load_known(p, known) != 0)
        return 1;
    FILE *f = fopen(corpus, "r");
    if (f == NULL) {
        fprintf(stderr, "pii-eval: cannot open '%s'\n", corpus);
        return 1;
    }
    tally t[PLMM_PII_COUNT];
    memset(t, 0, sizeof(t));
    char line[4096], text[4096];
    gold g[32];
    int lineno = 0, sentences = 0, with_pii = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        size_t ng = 0;
        if (!parse_line(line, text, g, &ng, 32)) {
            fprintf(stderr, "%s:%d: bad markup\n", corpus, lineno);
            return 1;
        }
        sentences++;
        with_pii += ng > 0;
        plmm_pii_span *sp = NULL;
        size_t ns = 0;
        if (plmm_privacy_detect(p, text, strlen(text), &sp, &ns) != PLMM_OK) {
            fprintf(stderr, "%s:%d: %s\n", corpus, lineno, plmm_last_errmsg());
            return 1;
        }
        for (size_t k = 0; k < ng; k++) {
            t[g[k].cat].gold++;
            bool covered = true;
            for (size_t b = g[k].start; b < g[k].start + g[k].len && covered; b++) {
                if (!alnum((unsigned char)text[b]))
                    continue;
                bool in = false;
                for (size_t s = 0; s < ns && !in; s++)
                    in = sp[s].category == g[k].cat && b >= sp[s].start &&
                         b < sp[s].start + sp[s].len;
                covered = in;
            }
            t[g[k].cat].found += covered;
            if (!covered && verbose)
                printf("miss: %s:%d %s%s%.*s%s\n", corpus, lineno, plmm_pii_name(g[k].cat),
                       show ? " '" : "", show ? (int)g[k].len : 0, text + g[k].start,
                       show ? "'" : "");
        }
        for (size_t s = 0; s < ns; s++) {
            t[sp[s].category].pred++;
            bool ok = false;
            for (size_t k = 0; k < ng && !ok; k++)
                ok = g[k].cat == sp[s].category && sp[s].start < g[k].start + g[k].len &&
                     g[k].start < sp[s].start + sp[s].len;
            t[sp[s].category].correct += ok;
            if (!ok && verbose)
                printf("false alarm: %s:%d %s%s%.*s%s\n", corpus, lineno,
                       plmm_pii_name(sp[s].category), show ? " '" : "", show ? (int)sp[s].len : 0,
                       text + sp[s].start, show ? "'" : "");
        }
        plmm_free(sp);
    }
    fclose(f);
    plmm_privacy_destroy(p);

    printf("%d sentences, %d with personal data\n\n", sentences, with_pii);
    printf("| category | labelled | found | recall | detected | correct | precision |\n");
    printf("|----------|---------:|------:|-------:|---------:|--------:|----------:|\n");
    tally all = {0}, vk = {0};
    bool ok = true;
    for (uint32_t c = 1; c < PLMM_PII_COUNT; c++) {
        if (t[c].gold == 0 && t[c].pred == 0)
            continue;
        double r = t[c].gold ? (double)t[c].found / t[c].gold : 1.0;
        double pr = t[c].pred ? (double)t[c].correct / t[c].pred : 1.0;
        printf("| %s | %u | %u | %.3f | %u | %u | %.3f |\n", plmm_pii_name(c), t[c].gold,
               t[c].found, r, t[c].pred, t[c].correct, pr);
        all.gold += t[c].gold;
        all.found += t[c].found;
        all.pred += t[c].pred;
        all.correct += t[c].correct;
        if (vault_known(c)) {
            vk.gold += t[c].gold;
            vk.found += t[c].found;
        }
        if ((c == PLMM_PII_IBAN || c == PLMM_PII_CARD || vault_known(c)) && t[c].found != t[c].gold)
            ok = false;
    }
    double rall = all.gold ? (double)all.found / all.gold : 1.0;
    double pall = all.pred ? (double)all.correct / all.pred : 1.0;
    printf("| **all** | %u | %u | **%.3f** | %u | %u | **%.3f** |\n", all.gold, all.found, rall,
           all.pred, all.correct, pall);
    printf("\nvault-known entities (PERSON, PLACE, ORG, ADDRESS): recall %.3f (%u of %u)\n",
           vk.gold ? (double)vk.found / vk.gold : 1.0, vk.found, vk.gold);
    if (rall < 0.98)
        ok = false;
    if (check) {
        printf("check (IBAN, CARD, vault-known recall = 1; overall recall >= 0.98): %s\n",
               ok ? "pass" : "FAIL");
        return ok ? 0 : 1;
    }
    return 0;
}
