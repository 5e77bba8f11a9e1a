/*
 * The finance expert's answer check: stated calculations, percentage
 * statements and allocations must be consistent, and a risk disclaimer
 * must be present (finance.h).
 */
#include "finance.h"
#include "plmm_sdk.h"
#include "plmm_sdk_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ---- */

typedef enum tok_kind { T_NUM, T_OP, T_EQ, T_APPROX, T_WORD, T_OTHER, T_NL } tok_kind;

typedef struct tok {
    tok_kind kind;
    char op;         /* T_OP: + - * / */
    double v;        /* T_NUM */
    int decimals;    /* T_NUM: digits after the point */
    bool pct;        /* T_NUM followed by % */
    const char *src; /* where the token starts */
    size_t len;
} tok;

typedef struct toks {
    tok *v;
    size_t n, cap;
} toks;

static bool push(toks *t, tok x)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tok *v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return false;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = x;
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Skip a currency sign at p; returns its length (0 if none). */
static size_t currency_len(const char *p)
{
    if (*p == '$')
        return 1;
    if (strncmp(p, "\xe2\x82\xac", 3) == 0) /* € */
        return 3;
    if (strncmp(p, "\xc2\xa3", 2) == 0) /* £ */
        return 2;
    return 0;
}

/* A number at p: digits with optional thousands commas (1,234,567) and a
 * decimal part after a point, or after a comma followed by one or two
 * digits (1,5). Returns its length, 0 if p does not start a number. */
static size_t parse_number(const char *p, double *v, int *decimals)
{
    char buf[64];
    size_t n = 0, i = 0;
    *decimals = 0;
    if (!is_digit(p[0]))
        return 0;
    while (is_digit(p[i]) || (p[i] == ',' && is_digit(p[i + 1]) && is_digit(p[i + 2]) &&
                              is_digit(p[i + 3]) && !is_digit(p[i + 4]))) {
        if (p[i] != ',' && n + 1 < sizeof(buf))
            buf[n++] = p[i];
        i++;
    }
    /* a decimal comma ("1,5" or "12,75": one or two digits after it) */
    bool decimal_comma = p[i] == ',' && is_digit(p[i + 1]) &&
                         (!is_digit(p[i + 2]) || (is_digit(p[i + 2]) && !is_digit(p[i + 3])));
    if ((p[i] == '.' || decimal_comma) && is_digit(p[i + 1])) {
        if (n + 1 < sizeof(buf))
            buf[n++] = '.';
        i++;
        while (is_digit(p[i])) {
            if (n + 1 < sizeof(buf))
                buf[n++] = p[i];
            (*decimals)++;
            i++;
        }
    }
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    return i;
}

static bool tokenize(const char *s, toks *t)
{
    const char *p = s;
    while (*p != '\0') {
        tok x = {.kind = T_OTHER, .src = p, .len = 1};
        size_t cl = currency_len(p);
        int dec = 0;
        double v = 0;
        size_t nl;
        if (*p == '\n') {
            x.kind = T_NL;
        } else if (*p == ' ' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        } else if ((nl = parse_number(p + cl, &v, &dec)) > 0 && !(p > s && is_alpha(p[-1]))) {
            const char *e = p + cl + nl;
            x.kind = T_NUM;
            x.v = v;
            x.decimals = dec;
            /* magnitude words and % */
            if (e[0] == ' ' && e[1] == '%')
                e++;
            if (*e == '%') {
                x.pct = true;
                e++;
            } else if ((*e == 'k' || *e == 'K') && !is_alpha(e[1])) {
                x.v *= 1e3;
                e++;
            }
            x.len = (size_t)(e - p);
        } else if (*p == '+' || *p == '*' || *p == '/') {
            x.kind = T_OP;
            x.op = *p;
        } else if (*p == '-' && p[1] != '-') {
            x.kind = T_OP;
            x.op = '-';
        } else if (strncmp(p, "\xc3\x97", 2) == 0) { /* × */
            x.kind = T_OP;
            x.op = '*';
            x.len = 2;
        } else if (strncmp(p, "\xc3\xb7", 2) == 0) { /* ÷ */
            x.kind = T_OP;
            x.op = '/';
            x.len = 2;
        } else if (strncmp(p, "\xe2\x88\x92", 3) == 0) { /* − */
            x.kind = T_OP;
            x.op = '-';
            x.len = 3;
        } else if (*p == '=') {
            x.kind = T_EQ;
        } else if (strncmp(p, "\xe2\x89\x88", 3) == 0 || *p == '~') { /* ≈ */
            x.kind = T_APPROX;
            x.len = *p == '~' ? 1 : 3;
        } else if (is_alpha(*p)) {
            const char *e = p;
            while (is_alpha(*e))
                e++;
            x.kind = T_WORD;
            x.len = (size_t)(e - p);
            if (x.len == 1 && (*p == 'x' || *p == 'X')) {
                x.kind = T_OP;
                x.op = '*';
            }
        } else {
            /* a UTF-8 sequence or punctuation */
            unsigned char c = (unsigned char)*p;
            x.len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            for (size_t k = 1; k < x.len; k++)
                if (p[k] == '\0')
                    x.len = k;
        }
        if (!push(t, x))
            return false;
        p += x.len;
    }
    return true;
}

/* ---- calculations ---- */

/* Evaluate tokens [a, b) that alternate NUM OP NUM ... with * and / before
 * + and -. Percentages count as fractions (5% x 200 = 10) unless pct_as_is
 * (60% + 40% = 100%). false when the tokens do not form such an
 * expression. */
static bool evaluate(const tok *t, size_t a, size_t b, bool pct_as_is, double *out)
{
    if (b <= a || (b - a) % 2 == 0 || t[a].kind != T_NUM)
        return false;
    double sum = 0, term = t[a].pct && !pct_as_is ? t[a].v / 100.0 : t[a].v;
    char pending = '+';
    for (size_t i = a + 1; i < b; i += 2) {
        if (t[i].kind != T_OP || t[i + 1].kind != T_NUM)
            return false;
        double x = t[i + 1].pct && !pct_as_is ? t[i + 1].v / 100.0 : t[i + 1].v;
        if (t[i].op == '*' || t[i].op == '/') {
            if (t[i].op == '/' && x == 0)
                return false;
            term = t[i].op == '*' ? term * x : term / x;
        } else {
            sum = pending == '+' ? sum + term : sum - term;
            pending = t[i].op;
            term = x;
        }
    }
    *out = pending == '+' ? sum + term : sum - term;
    return true;
}

static bool close_enough(double got, double want, int decimals, double rel)
{
    double tol = fabs(want) * rel + 0.5 * pow(10.0, -decimals) + 1e-9;
    return fabs(got - want) <= tol;
}

/* Copy a token range's source text for messages. */
static void quote(const tok *t, size_t a, size_t b, char *buf, size_t size)
{
    const char *s = t[a].src;
    const char *e = t[b - 1].src + t[b - 1].len;
    size_t n = (size_t)(e - s);
    if (n > 60)
        n = 60;
    snprintf(buf, size, "%.*s", (int)n, s);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
}

/* "a op b ... = r": returns false and a message for the first wrong one. */
static bool check_equations(const toks *tk, double rel, char *msg, size_t size)
{
    const tok *t = tk->v;
    for (size_t i = 0; i < tk->n; i++) {
        if (t[i].kind != T_EQ && t[i].kind != T_APPROX)
            continue;
        if (i + 1 >= tk->n || t[i + 1].kind != T_NUM)
            continue;
        /* the longest NUM (OP NUM)* run ending right before '=' */
        size_t a = i;
        while (a >= 2 && t[a - 1].kind == T_NUM && t[a - 2].kind == T_OP)
            a -= 2;
        if (a >= 1 && t[a - 1].kind == T_NUM)
            a -= 1;
        else
            continue;
        if (i - a < 3) /* need at least one operator */
            continue;
        const tok *r = &t[i + 1];
        double got;
        if (!evaluate(t, a, i, r->pct, &got))
            continue;
        double tol = t[i].kind == T_APPROX ? 0.02 : rel;
        if (!close_enough(got, r->v, r->decimals, tol)) {
            char q[80];
            quote(t, a, i + 2, q, sizeof(q));
            snprintf(msg, size, "calculation '%s' is wrong: it gives %.*f", q,
                     r->decimals > 4 ? 4 : r->decimals, got);
            return false;
        }
    }
    return true;
}

static bool word_is(const tok *x, const char *w)
{
    size_t n = strlen(w);
    if (x->kind != T_WORD || x->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = x->src[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != w[i])
            return false;
    }
    return true;
}

/* "p% of X is|equals|=|gives Y" */
static bool check_percent_of(const toks *tk, double rel, char *msg, size_t size)
{
    const tok *t = tk->v;
    for (size_t i = 0; i + 4 < tk->n; i++) {
        if (t[i].kind != T_NUM || !t[i].pct || !word_is(&t[i + 1], "of") ||
            t[i + 2].kind != T_NUM || t[i + 2].pct)
            continue;
        const tok *link = &t[i + 3];
        bool approx = link->kind == T_APPROX || word_is(link, "about") || word_is(link, "roughly");
        if (!(link->kind == T_EQ || approx || word_is(link, "is") || word_is(link, "equals") ||
              word_is(link, "gives")))
            continue;
        size_t ri = i + 4;
        if (word_is(link, "is") && ri + 1 < tk->n &&
            (word_is(&t[ri], "about") || word_is(&t[ri], "roughly") || word_is(&t[ri], "around"))) {
            approx = true;
            ri++;
        }
        if (t[ri].kind != T_NUM || t[ri].pct)
            continue;
        double want = t[i].v / 100.0 * t[i + 2].v;
        if (!close_enough(want, t[ri].v, t[ri].decimals, approx ? 0.02 : rel)) {
            char q[80];
            quote(t, i, ri + 1, q, sizeof(q));
            snprintf(msg, size, "'%s' is wrong: it is %.2f", q, want);
            return false;
        }
    }
    return true;
}

/* ---- allocations ---- */

/* Is the line at p a list item ("- ", "* ", "• ", "1. ", "2) ")? */
static bool list_item(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if ((*p == '-' || *p == '*' || *p == '+') && p[1] == ' ')
        return true;
    if (strncmp(p, "\xe2\x80\xa2", 3) == 0)
        return true;
    if (is_digit(*p)) {
        while (is_digit(*p))
            p++;
        return (*p == '.' || *p == ')') && p[1] == ' ';
    }
    return false;
}

/* The first percentage on the line [p, e), or -1. */
static double first_percent(const char *p, const char *e)
{
    for (const char *q = p; q < e; q++) {
        if (!is_digit(*q) ||
            (q > p && (is_digit(q[-1]) || is_alpha(q[-1]) || q[-1] == '.' || q[-1] == ',')))
            continue;
        double v;
        int dec;
        size_t n = parse_number(q, &v, &dec);
        const char *r = q + n;
        if (*r == ' ')
            r++;
        if (*r == '%')
            return v;
        q += n - 1;
    }
    return -1;
}

/* Each run of two or more list items that all carry a percentage must add
 * up to 100 when the answer talks about an allocation. Runs far from 100
 * (below 50 or above 150) are rates or returns listed side by side, not
 * shares of a whole, and are left alone. */
static bool check_allocations(const char *answer, const char *norm, char *msg, size_t size)
{
    static const char *const cues[] = {"allocat*",  "portfolio*", "split",
                                       "breakdown", "divide*",    "mix"};
    bool cue = false;
    for (size_t i = 0; i < sizeof(cues) / sizeof(cues[0]) && !cue; i++)
        cue = plmm_sdk_phrase_in(norm, cues[i]);
    if (!cue)
        return true;
    const char *p = answer;
    double sum = 0;
    int items = 0;
    for (;;) {
        const char *e = strchr(p, '\n');
        if (e == NULL)
            e = p + strlen(p);
        double pct = list_item(p) ? first_percent(p, e) : -1;
        if (pct >= 0) {
            sum += pct;
            items++;
        }
        if (pct < 0 || *e == '\0') {
            if (items >= 2 && sum >= 50 && sum <= 150 && fabs(sum - 100.0) > 0.5 * items) {
                snprintf(msg, size, "the allocation of %d items adds up to %g%%, not 100%%", items,
                         sum);
                return false;
            }
            sum = 0;
            items = 0;
        }
        if (*e == '\0')
            break;
        p = e + 1;
    }
    return true;
}

/* ---- disclaimer ---- */

static const char *const disclaimers[] = {
    "not financial advice",
    "not investment advice",
    "not a financial advisor",
    "not personalized advice",
    "general information",
    "past performance",
    "financial advisor",
    "financial adviser",
    "financial planner",
    "tax advisor",
    "tax professional",
    "can lose value",
    "may lose value",
    "could lose",
    "can lose",
    "may lose",
    "risk of loss",
    "involves risk",
    "carries risk",
    "no guarantee*",
    "not guaranteed",
    "do your own research",
};

static bool has_disclaimer(const char *norm)
{
    for (size_t i = 0; i < sizeof(disclaimers) / sizeof(disclaimers[0]); i++)
        if (plmm_sdk_phrase_in(norm, disclaimers[i]))
            return true;
    return false;
}

plmm_status finance_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                          plmm_check_result *out)
{
    (void)question;
    char msg[PLMM_CHECK_MESSAGE_MAX];
    toks tk = {0};
    size_t len = strlen(answer);
    size_t cap = 2 * len + 3;
    char *norm = ctx->host->alloc(ctx->host->host_ctx, cap, 1);
    if (norm == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory checking an answer");
    plmm_sdk_text_normalize(answer, len, norm, cap);
    if (!tokenize(answer, &tk)) {
        free(tk.v);
        ctx->host->free(ctx->host->host_ctx, norm);
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "out of memory checking an answer");
    }
    plmm_sdk_check_set(out, PLMM_CHECK_PASS, "%s", "");
    if (!check_equations(&tk, ctx->tolerance, msg, sizeof(msg)) ||
        !check_percent_of(&tk, ctx->tolerance, msg, sizeof(msg)) ||
        !check_allocations(answer, norm, msg, sizeof(msg))) {
        plmm_sdk_check_set(out, PLMM_CHECK_FAIL, "%s", msg);
    } else if (ctx->disclaimer != FINANCE_DISCLAIMER_OFF && !has_disclaimer(norm)) {
        plmm_sdk_check_set(
            out, ctx->disclaimer == FINANCE_DISCLAIMER_REQUIRED ? PLMM_CHECK_FAIL : PLMM_CHECK_WARN,
            "no risk disclaimer (say it is not financial advice and that "
            "investments can lose value)");
    }
    free(tk.v);
    ctx->host->free(ctx->host->host_ctx, norm);
    return PLMM_OK;
}
