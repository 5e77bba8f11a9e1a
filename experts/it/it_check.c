/*
 * The IT expert's answer check: fenced code blocks are closed, tagged with
 * a language, not empty, and their brackets balance (it.h).
 */
#include "it.h"
#include "plmm_sdk.h"
#include "plmm_sdk_text.h"

#include <stdio.h>
#include <string.h>

/* ---- bracket balance ---- */

typedef enum syntax { SYN_NONE, SYN_C, SYN_JS, SYN_RUST, SYN_PYTHON, SYN_JSON, SYN_SQL } syntax;

static const struct {
    const char *tag;
    syntax syn;
} languages[] = {
    {"c", SYN_C},           {"h", SYN_C},           {"cpp", SYN_C},
    {"c++", SYN_C},         {"cc", SYN_C},          {"hpp", SYN_C},
    {"java", SYN_C},        {"csharp", SYN_C},      {"cs", SYN_C},
    {"c#", SYN_C},          {"go", SYN_C},          {"golang", SYN_C},
    {"kotlin", SYN_C},      {"swift", SYN_C},       {"scala", SYN_C},
    {"php", SYN_C},         {"javascript", SYN_JS}, {"js", SYN_JS},
    {"typescript", SYN_JS}, {"ts", SYN_JS},         {"jsx", SYN_JS},
    {"tsx", SYN_JS},        {"rust", SYN_RUST},     {"rs", SYN_RUST},
    {"python", SYN_PYTHON}, {"py", SYN_PYTHON},     {"python3", SYN_PYTHON},
    {"json", SYN_JSON},     {"sql", SYN_SQL},       {"postgresql", SYN_SQL},
    {"mysql", SYN_SQL},     {"sqlite", SYN_SQL},
};

static syntax syntax_of(const char *tag, size_t len)
{
    char low[32];
    if (len == 0 || len >= sizeof(low))
        return SYN_NONE;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)((tag[i] >= 'A' && tag[i] <= 'Z') ? tag[i] - 'A' + 'a' : tag[i]);
    low[len] = '\0';
    for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
        if (strcmp(languages[i].tag, low) == 0)
            return languages[i].syn;
    return SYN_NONE;
}

/* Check brackets in code [s, e) of a syntax; on failure a message saying
 * which bracket and on which line (first_line = line of the block's first
 * code line). */
static bool brackets_balance(const char *s, const char *e, syntax syn, int first_line, char *msg,
                             size_t size)
{
    char stack[256];
    int lines[256];
    size_t depth = 0;
    int line = first_line;
    for (const char *p = s; p < e; p++) {
        char c = *p;
        if (c == '\n') {
            line++;
            continue;
        }
        /* comments */
        bool slash = syn == SYN_C || syn == SYN_JS || syn == SYN_RUST;
        if ((slash && c == '/' && p + 1 < e && p[1] == '/') || (syn == SYN_PYTHON && c == '#') ||
            (syn == SYN_SQL && c == '-' && p + 1 < e && p[1] == '-')) {
            while (p + 1 < e && p[1] != '\n')
                p++;
            continue;
        }
        if (slash && c == '/' && p + 1 < e && p[1] == '*') {
            for (p += 2; p + 1 < e && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    line++;
            p++;
            continue;
        }
        /* strings */
        bool quote = c == '"' || (c == '\'' && syn != SYN_RUST && syn != SYN_JSON) ||
                     (c == '`' && syn == SYN_JS);
        if (quote) {
            if (syn == SYN_PYTHON && p + 2 < e && p[1] == c && p[2] == c) { /* triple quote */
                for (p += 3; p + 2 < e && !(p[0] == c && p[1] == c && p[2] == c); p++)
                    if (*p == '\n')
                        line++;
                p += 2;
                continue;
            }
            for (p++; p < e && *p != c; p++) {
                if (*p == '\\' && p + 1 < e && syn != SYN_SQL)
                    p++;
                else if (*p == '\n' && c != '`')
                    break; /* strings do not span lines (except template literals) */
                if (*p == '\n')
                    line++;
            }
            if (p < e && *p == '\n')
                line++;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') {
            if (depth == sizeof(stack))
                return true; /* too deep to judge */
            stack[depth] = c;
            lines[depth] = line;
            depth++;
        } else if (c == ')' || c == ']' || c == '}') {
            char want = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (depth == 0) {
                snprintf(msg, size, "unmatched '%c' on line %d", c, line);
                return false;
            }
            if (stack[depth - 1] != want) {
                snprintf(msg, size, "'%c' on line %d closes '%c' opened on line %d", c, line,
                         stack[depth - 1], lines[depth - 1]);
                return false;
            }
            depth--;
        }
    }
    if (depth > 0) {
        snprintf(msg, size, "'%c' opened on line %d is never closed", stack[depth - 1],
                 lines[depth - 1]);
        return false;
    }
    return true;
}

/* ---- fences ---- */

typedef struct fence {
    char ch;  /* '`' or '~' */
    size_t n; /* fence length */
    const char *info;
    size_t info_len;
} fence;

/* Is the line [p, e) a fence? (3+ of ` or ~). CommonMark allows three
 * spaces of indentation outside lists; answers nest blocks in list items
 * with more, so up to MAX_FENCE_INDENT spaces are accepted. */
#define MAX_FENCE_INDENT 8

static bool parse_fence(const char *p, const char *e, fence *f)
{
    int indent = 0;
    while (p < e && *p == ' ' && indent <= MAX_FENCE_INDENT) {
        p++;
        indent++;
    }
    if (indent > MAX_FENCE_INDENT || p >= e || (*p != '`' && *p != '~'))
        return false;
    f->ch = *p;
    f->n = 0;
    while (p < e && *p == f->ch) {
        p++;
        f->n++;
    }
    if (f->n < 3)
        return false;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    const char *end = e;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    f->info = p;
    f->info_len = (size_t)(end - p);
    /* a backtick fence's info string may not contain backticks */
    if (f->ch == '`' && memchr(f->info, '`', f->info_len) != NULL)
        return false;
    return true;
}

static bool valid_tag_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '#' || c == '.' || c == '_' || c == '-';
}

plmm_status it_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                     plmm_check_result *out)
{
    (void)question;
    char why[160];
    const char *p = answer;
    int line = 1, block = 0, open_line = 0;
    bool open = false;
    fence cur = {0};
    const char *code_start = NULL;
    uint32_t warn = PLMM_CHECK_PASS;
    char warn_msg[PLMM_CHECK_MESSAGE_MAX] = "";

    plmm_sdk_check_set(out, PLMM_CHECK_PASS, "%s", "");
    for (;;) {
        const char *e = strchr(p, '\n');
        if (e == NULL)
            e = p + strlen(p);
        fence f;
        if (parse_fence(p, e, &f)) {
            if (!open) {
                open = true;
                cur = f;
                open_line = line;
                block++;
                code_start = *e == '\n' ? e + 1 : e;
                size_t tl = 0;
                while (tl < f.info_len && f.info[tl] != ' ' && f.info[tl] != '\t' &&
                       f.info[tl] != '{')
                    tl++;
                if (tl == 0 && ctx->language_tag != IT_TAG_OFF) {
                    if (ctx->language_tag == IT_TAG_REQUIRED) {
                        plmm_sdk_check_set(out, PLMM_CHECK_FAIL,
                                           "code block %d (line %d) has no language tag", block,
                                           line);
                        return PLMM_OK;
                    }
                    if (warn == PLMM_CHECK_PASS) {
                        warn = PLMM_CHECK_WARN;
                        snprintf(warn_msg, sizeof(warn_msg),
                                 "code block %d (line %d) has no language tag", block, line);
                    }
                }
                for (size_t i = 0; i < tl; i++) {
                    if (!valid_tag_char(f.info[i])) {
                        plmm_sdk_check_set(out, PLMM_CHECK_FAIL,
                                           "code block %d (line %d) has an invalid language tag "
                                           "'%.*s'",
                                           block, line, (int)(tl > 40 ? 40 : tl), f.info);
                        return PLMM_OK;
                    }
                }
            } else if (f.ch == cur.ch && f.n >= cur.n && f.info_len == 0) {
                open = false;
                const char *code_end = p;
                bool blank = true;
                for (const char *q = code_start; q < code_end && blank; q++)
                    blank = *q == ' ' || *q == '\t' || *q == '\n' || *q == '\r';
                size_t tl = 0;
                while (tl < cur.info_len && valid_tag_char(cur.info[tl]))
                    tl++;
                syntax syn = syntax_of(cur.info, tl);
                if (blank && warn == PLMM_CHECK_PASS) {
                    warn = PLMM_CHECK_WARN;
                    snprintf(warn_msg, sizeof(warn_msg), "code block %d (line %d) is empty", block,
                             open_line);
                } else if (!blank && ctx->check_brackets && syn != SYN_NONE &&
                           !brackets_balance(code_start, code_end, syn, open_line + 1, why,
                                             sizeof(why))) {
                    plmm_sdk_check_set(out, PLMM_CHECK_FAIL, "code block %d (%.*s): %s", block,
                                       (int)tl, cur.info, why);
                    return PLMM_OK;
                }
            }
        }
        if (*e == '\0')
            break;
        p = e + 1;
        line++;
    }
    if (open) {
        plmm_sdk_check_set(out, PLMM_CHECK_FAIL, "code block %d (line %d) is not closed", block,
                           open_line);
        return PLMM_OK;
    }
    if (warn != PLMM_CHECK_PASS)
        plmm_sdk_check_set(out, warn, "%s", warn_msg);
    return PLMM_OK;
}
