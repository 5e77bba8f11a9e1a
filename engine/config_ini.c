/*
 * The only file that talks to inih. inih is driven through
 * ini_parse_stream() with a reader that hands it one line at a time, which
 * lets this file
 *  - count lines itself (Debian's build has INI_HANDLER_LINENO = 0),
 *  - catch lines longer than inih's fixed buffer (INI_MAX_LINE = 200 in
 *    Debian's build) that inih would otherwise split silently,
 *  - strip leading whitespace, so inih's multi-line continuation never
 *    triggers and indented keys stay keys,
 *  - track section names in full (inih truncates them to 49 bytes),
 *  - reject NUL bytes,
 * without changing any of inih's process-wide settings.
 *
 * inih's conventions are mapped here: its handler returns nonzero for
 * success (this file always returns 1 and keeps its own first error), and
 * ini_parse_stream() returns the line of its first syntax error, which is
 * compared with the first error the callbacks reported.
 */
#include "config_ini.h"

#include "errors.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parse_state {
    const char *data; /* whole text */
    const char *p;    /* next unread byte */
    const char *end;
    const char *source;
    const plmm_ini_handlers *h;
    uint32_t line;    /* lines handed to inih so far */
    char *section;    /* current section (owned), NULL when its header was bad */
    bool seen_header; /* a `[...]` line came before */
    bool section_ok;  /* the current header was accepted */
    bool oom;
    int buf_size;      /* inih's line buffer size, as passed to the reader */
    uint32_t err_line; /* line of the first error, 0 = none */
    plmm_status err_status;
    char err[512];
} parse_state;

static void record_error(parse_state *st, uint32_t line, plmm_status status, const char *fmt, ...)
    PLMM_PRINTF(4, 5);

static void record_error(parse_state *st, uint32_t line, plmm_status status, const char *fmt, ...)
{
    va_list ap;
    if (st->err_line != 0)
        return;
    st->err_line = line;
    st->err_status = status;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
}

static bool is_space(char c)
{
    return isspace((unsigned char)c) != 0;
}

/* Offset of the ']' closing a header that starts at text[0] == '[', found
 * the way inih finds it (an inline comment ends the search), or 0. */
static size_t header_close(const char *text, size_t len)
{
    bool was_space = false;
    for (size_t i = 1; i < len; i++) {
        if (text[i] == ']')
            return i;
        if (text[i] == ';' && was_space)
            return 0;
        was_space = is_space(text[i]);
    }
    return 0;
}

static void section_header(parse_state *st, const char *text, size_t len)
{
    size_t close = header_close(text, len);
    st->seen_header = true;
    free(st->section);
    st->section = NULL;
    st->section_ok = false;
    if (close == 0)
        return; /* inih reports the syntax error */
    size_t n = close - 1;
    st->section = malloc(n + 1);
    if (st->section == NULL) {
        st->oom = true;
        return;
    }
    memcpy(st->section, text + 1, n);
    st->section[n] = '\0';

    size_t i = close + 1;
    while (i < len && is_space(text[i]))
        i++;
    if (i < len && text[i] != ';' && text[i] != '#') {
        record_error(st, st->line, PLMM_ERR_CONFIG, "unexpected text after section header [%s]",
                     st->section);
        return;
    }
    if (st->h->section != NULL) {
        char msg[sizeof(st->err)] = "";
        plmm_status s = st->h->section(st->h->user, st->section, st->line, msg, sizeof(msg));
        if (s != PLMM_OK) {
            record_error(st, st->line, s, "%s", msg);
            return;
        }
    }
    st->section_ok = true;
}

/* fgets-like: one line into buf (num bytes), NULL at the end. */
static char *reader(char *buf, int num, void *stream)
{
    parse_state *st = stream;
    st->buf_size = num;
    if (st->p >= st->end || num < 3)
        return NULL;

    const char *start = st->p;
    const char *nl = memchr(start, '\n', (size_t)(st->end - start));
    size_t len = (size_t)((nl != NULL ? nl : st->end) - start);
    st->p = nl != NULL ? nl + 1 : st->end;
    st->line++;

    if (len > 0 && start[len - 1] == '\r')
        len--;
    if (st->line == 1 && len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        len -= 3;
    }
    while (len > 0 && is_space(*start)) {
        start++;
        len--;
    }

    /* A line inih must not see becomes an empty line. */
    buf[0] = '\n';
    buf[1] = '\0';
    if (memchr(start, '\0', len) != NULL) {
        record_error(st, st->line, PLMM_ERR_CONFIG, "line contains a NUL byte");
        return buf;
    }
    if (len > (size_t)num - 2) {
        record_error(st, st->line, PLMM_ERR_CONFIG,
                     "line too long (%zu bytes; inih reads at most %d per line)", len, num - 2);
        return buf;
    }
    memcpy(buf, start, len);
    buf[len] = '\n';
    buf[len + 1] = '\0';
    if (len > 0 && start[0] == '[')
        section_header(st, start, len);
    return buf;
}

/* inih's handler: nonzero = keep going. Errors are kept in the state. */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    (void)section; /* inih's copy may be truncated; st->section is exact */
    if (!st->seen_header) {
        record_error(st, st->line, PLMM_ERR_CONFIG, "key '%s' is outside any [section]", name);
        return 1;
    }
    if (!st->section_ok || st->section == NULL)
        return 1;
    if (name[0] == '\0') {
        record_error(st, st->line, PLMM_ERR_CONFIG, "missing key name before '='");
        return 1;
    }
    char msg[sizeof(st->err)] = "";
    plmm_status s = st->h->key(st->h->user, st->section, name, value, st->line, msg, sizeof(msg));
    if (s != PLMM_OK)
        record_error(st, st->line, s, "%s", msg);
    return 1;
}

/* The text of line n (1-based) with leading whitespace removed. */
static const char *line_text(const char *data, const char *end, uint32_t n, size_t *len)
{
    const char *p = data;
    for (uint32_t i = 1; i < n && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl != NULL ? nl + 1 : end;
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl != NULL ? nl : end;
    while (p < stop && is_space(*p))
        p++;
    *len = (size_t)(stop - p);
    return p;
}

plmm_status plmm_ini_parse_buffer(const char *data, size_t len, const char *source,
                                  const plmm_ini_handlers *h)
{
    if (data == NULL && len > 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "%s: no text", source);
    parse_state st = {
        .data = data,
        .p = data,
        .end = data != NULL ? data + len : NULL,
        .source = source,
        .h = h,
    };
    int r = ini_parse_stream(reader, &st, on_pair, &st);
    free(st.section);
    if (st.oom || r == -2)
        return plmm_err(PLMM_ERR_NOMEM, "%s: out of memory", source);
    if (r > 0 && (st.err_line == 0 || (uint32_t)r < st.err_line)) {
        size_t n;
        const char *text = line_text(data, st.end, (uint32_t)r, &n);
        const char *what =
            n > 0 && text[0] == '[' ? "section header lacks ']'" : "expected 'key = value'";
        return plmm_err(PLMM_ERR_CONFIG, "%s:%d: syntax error: %s", source, r, what);
    }
    if (r < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "%s: inih failed (%d)", source, r);
    if (st.err_line != 0)
        return plmm_err(st.err_status, "%s:%u: %s", source, st.err_line, st.err);
    return PLMM_OK;
}

plmm_status plmm_ini_parse_file(const char *path, const plmm_ini_handlers *h)
{
    plmm_status s;
    size_t cap = 16384, n = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return plmm_err(PLMM_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = malloc(cap);
    if (buf == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory reading '%s'", path);
        goto out_close;
    }
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) {
            s = plmm_err(PLMM_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            goto out_free;
        }
        if (n > PLMM_INI_MAX_FILE) {
            s = plmm_err(PLMM_ERR_CONFIG, "'%s' is too large (more than %u bytes)", path,
                         PLMM_INI_MAX_FILE);
            goto out_free;
        }
        if (n < cap)
            break;
        char *grown = realloc(buf, cap * 2);
        if (grown == NULL) {
            s = plmm_err(PLMM_ERR_NOMEM, "out of memory reading '%s'", path);
            goto out_free;
        }
        buf = grown;
        cap *= 2;
    }
    s = plmm_ini_parse_buffer(buf, n, path, h);
out_free:
    free(buf);
out_close:
    fclose(f);
    return s;
}

static char *probe_reader(char *buf, int num, void *stream)
{
    (void)buf;
    *(int *)stream = num;
    return NULL;
}

static int probe_handler(void *user, const char *section, const char *name, const char *value)
{
    (void)user;
    (void)section;
    (void)name;
    (void)value;
    return 1;
}

uint32_t plmm_ini_max_line(void)
{
    int num = 0;
    if (ini_parse_stream(probe_reader, &num, probe_handler, NULL) != 0 || num < 3)
        return PLMM_INI_MAX_LINE_DEBIAN - 2;
    return (uint32_t)num - 2;
}
