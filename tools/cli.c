/*
 * plmm command-line program: option parsing, number parsing, help output
 * and text helpers shared by the commands.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- option tables ---- */

static const cli_opt common_opts[] = {
    {OPT_CONFIG, 'c', "config", "FILE", "configuration file (INI)"},
    {OPT_MODEL, 'm', "model", "FILE", "GGUF model (overrides [engine] model)"},
    {OPT_THREADS, 't', "threads", "N", "CPU threads, 0 = one per CPU ([engine] threads)"},
    {OPT_BACKENDS, 0, "backends", "LIST", "backends in order of preference, e.g. cpu"},
    {OPT_CTX, 0, "ctx", "N", "context length in tokens ([engine] context)"},
    {OPT_KV_TYPE, 0, "kv-type", "f16|f32", "KV cache element type ([engine] kv_type)"},
    {OPT_SET, 0, "set", "SEC.KEY=VAL", "override any configuration key (repeatable)"},
    {OPT_VERBOSE, 'v', "verbose", NULL, "log debug messages to stderr"},
    {OPT_HELP, 'h', "help", NULL, "show this help and exit"},
    {0, 0, NULL, NULL, NULL},
};

static const cli_opt *find_opt(const cli_opt *table, char short_name, const char *name,
                               size_t name_len)
{
    for (const cli_opt *o = table; o->id != 0; o++) {
        if (short_name != 0 && o->short_name == short_name)
            return o;
        if (name != NULL && o->name != NULL && strlen(o->name) == name_len &&
            memcmp(o->name, name, name_len) == 0)
            return o;
    }
    return NULL;
}

static const cli_opt *lookup(const cli_command *cmd, char short_name, const char *name,
                             size_t name_len)
{
    const cli_opt *o = cmd->opts != NULL ? find_opt(cmd->opts, short_name, name, name_len) : NULL;
    return o != NULL ? o : find_opt(common_opts, short_name, name, name_len);
}

const char *cli_opt_label(const cli_opt *o, char *buf, size_t size)
{
    if (o->short_name != 0 && o->name != NULL)
        snprintf(buf, size, "-%c/--%s", o->short_name, o->name);
    else if (o->short_name != 0)
        snprintf(buf, size, "-%c", o->short_name);
    else
        snprintf(buf, size, "--%s", o->name != NULL ? o->name : "?");
    return buf;
}

/* ---- usage and help ---- */

static void usage_v(const cli_command *cmd, const char *fmt, va_list ap) PLMM_PRINTF(2, 0);

static void usage_v(const cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "plmm %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: plmm %s %s\n(see 'plmm %s --help')\n", cmd->name, cmd->synopsis,
            cmd->name);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_v(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* A usage error inside cli_next: print it and return -1. */
static int parse_fail(const cli_parser *p, const char *fmt, ...) PLMM_PRINTF(2, 3);

static int parse_fail(const cli_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_v(p->cmd, fmt, ap);
    va_end(ap);
    return -1;
}

static void print_opts(const cli_opt *table)
{
    for (const cli_opt *o = table; o->id != 0; o++) {
        char left[64];
        int n;
        if (o->short_name != 0 && o->name != NULL)
            n = snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
        else if (o->short_name != 0)
            n = snprintf(left, sizeof(left), "-%c", o->short_name);
        else
            n = snprintf(left, sizeof(left), "    --%s", o->name);
        if (o->arg != NULL && n > 0 && (size_t)n < sizeof(left))
            snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->arg);
        printf("  %-26s %s\n", left, o->help);
    }
}

void cli_print_help(const cli_command *cmd)
{
    printf("usage: plmm %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->details != NULL)
        printf("\n%s\n", cmd->details);
    if (cmd->opts != NULL && cmd->opts[0].id != 0) {
        printf("\noptions:\n");
        print_opts(cmd->opts);
    }
    printf("\ncommon options:\n");
    print_opts(common_opts);
}

/* ---- argument iteration ---- */

void cli_parser_init(cli_parser *p, const cli_command *cmd, int argc, char **argv)
{
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->i = 1;
}

int cli_next(cli_parser *p, const cli_opt **opt, const char **val)
{
    char label[64];
    *opt = NULL;
    *val = NULL;
    if (p->i >= p->argc)
        return 0;
    const char *a = p->argv[p->i++];
    const cli_opt *o;
    const char *inline_val = NULL;

    if (strcmp(a, "--") == 0) {
        if (p->i < p->argc)
            return parse_fail(p, "unexpected argument '%s'", p->argv[p->i]);
        return 0;
    }
    if (a[0] != '-' || a[1] == '\0')
        return parse_fail(p, "unexpected argument '%s'", a);
    if (a[1] == '-') {
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        o = lookup(p->cmd, 0, name, len);
        if (o == NULL)
            return parse_fail(p, "unknown option '--%.*s'", (int)len, name);
        if (eq != NULL)
            inline_val = eq + 1;
    } else {
        o = lookup(p->cmd, a[1], NULL, 0);
        if (o == NULL)
            return parse_fail(p, "unknown option '-%c'", a[1]);
        if (a[2] != '\0') {
            if (o->arg == NULL)
                return parse_fail(p, "option '-%c' takes no value (in '%s')", a[1], a);
            inline_val = a + 2;
        }
    }
    if (o->arg == NULL) {
        if (inline_val != NULL)
            return parse_fail(p, "option '%s' takes no value",
                              cli_opt_label(o, label, sizeof(label)));
    } else if (inline_val != NULL) {
        *val = inline_val;
    } else if (p->i < p->argc) {
        *val = p->argv[p->i++];
    } else {
        return parse_fail(p, "option '%s' requires a value (%s)",
                          cli_opt_label(o, label, sizeof(label)), o->arg);
    }
    *opt = o;
    return 1;
}

/* ---- numbers ---- */

/* Usage error "option 'LABEL' needs WHAT, not 'S'"; returns false. */
static bool not_a_number(const cli_command *cmd, const cli_opt *o, const char *what, const char *s)
{
    char label[64];
    cli_usage_error(cmd, "option '%s' needs %s, not '%s'", cli_opt_label(o, label, sizeof(label)),
                    what, s);
    return false;
}

bool cli_parse_i64(const cli_command *cmd, const cli_opt *o, const char *s, int64_t min,
                   int64_t max, int64_t *out)
{
    char label[64];
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool starts_ok = (s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9');
    if (!starts_ok || end == NULL || *end != '\0' || errno == ERANGE)
        return not_a_number(cmd, o, "a whole number", s);
    if (v < min || v > max) {
        cli_usage_error(cmd, "option '%s' must be between %lld and %lld, not %s",
                        cli_opt_label(o, label, sizeof(label)), (long long)min, (long long)max, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const cli_command *cmd, const cli_opt *o, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno == ERANGE)
        return not_a_number(cmd, o, "a non-negative whole number", s);
    *out = v;
    return true;
}

bool cli_parse_float(const cli_command *cmd, const cli_opt *o, const char *s, float *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    bool starts_ok = (s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.';
    if (!starts_ok || *end != '\0' || errno == ERANGE || !isfinite(v) || fabs(v) > 3.0e38)
        return not_a_number(cmd, o, "a finite number", s);
    *out = (float)v;
    return true;
}

/* ---- errors ---- */

int cli_api_error(plmm_status st)
{
    const char *detail = plmm_last_errmsg();
    if (detail != NULL && detail[0] != '\0')
        fprintf(stderr, "plmm: error: %s: %s\n", plmm_status_str(st), detail);
    else
        fprintf(stderr, "plmm: error: %s\n", plmm_status_str(st));
    return CLI_EXIT_ERROR;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("plmm: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

/* ---- text ---- */

int cli_read_file(const char *path, char **out, size_t *len)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    const char *name = is_stdin ? "<stdin>" : path;
    size_t cap = 4096, n = 0;
    char *buf;
    int code = CLI_EXIT_OK;

    *out = NULL;
    *len = 0;
    if (f == NULL)
        return cli_error("cannot open '%s': %s", path, strerror(errno));
    buf = malloc(cap);
    if (buf == NULL) {
        code = cli_error("out of memory reading '%s'", name);
        goto out_close;
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2) {
                code = cli_error("'%s' is too large", name);
                goto out_free;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                code = cli_error("out of memory reading '%s'", name);
                goto out_free;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        code = cli_error("cannot read '%s': %s", name, strerror(errno));
        goto out_free;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out_free:
    free(buf);
out_close:
    if (!is_stdin)
        fclose(f);
    return code;
}

size_t cli_utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (u[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and values past U+10FFFF */
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += need + 1;
    }
    return len;
}

int cli_tokenize(const plmm_model *m, const char *text, size_t len, uint32_t flags, int32_t **ids,
                 size_t *n)
{
    size_t cap = len + 16, got = 0;
    int32_t *buf = malloc(cap * sizeof(*buf));
    *ids = NULL;
    *n = 0;
    if (buf == NULL)
        return cli_error("out of memory tokenizing %zu bytes", len);
    plmm_status st = plmm_tokenize(m, text, len, flags, buf, cap, &got);
    if (st == PLMM_ERR_RANGE && got > cap) {
        int32_t *nb = realloc(buf, got * sizeof(*buf));
        if (nb == NULL) {
            free(buf);
            return cli_error("out of memory tokenizing %zu bytes", len);
        }
        buf = nb;
        cap = got;
        st = plmm_tokenize(m, text, len, flags, buf, cap, &got);
    }
    if (st != PLMM_OK) {
        free(buf);
        return cli_api_error(st);
    }
    *ids = buf;
    *n = got;
    return CLI_EXIT_OK;
}

/* ---- prompts ---- */

void cli_prompt_free(cli_prompt *pr)
{
    free(pr->ids);
    free(pr->owned);
    pr->ids = NULL;
    pr->owned = NULL;
}

int cli_prompt_args(const cli_command *cmd, const cli_prompt *pr, const char *noun)
{
    if (pr->p_arg == NULL && pr->f_arg == NULL)
        return cli_usage_error(cmd, "a %s is required (-p or -f)", noun);
    if (pr->p_arg != NULL && pr->f_arg != NULL)
        return cli_usage_error(cmd, "give either -p or -f, not both");
    return CLI_EXIT_OK;
}

/* The text of -p or -f: checked to be valid UTF-8 and, unless allow_empty,
 * not empty. */
static int read_prompt_text(cli_prompt *pr, bool allow_empty)
{
    pr->owned = NULL;
    if (pr->f_arg != NULL || strcmp(pr->p_arg, "-") == 0) {
        int code = cli_read_file(pr->f_arg != NULL ? pr->f_arg : "-", &pr->owned, &pr->len);
        if (code != CLI_EXIT_OK)
            return code;
        pr->text = pr->owned;
    } else {
        pr->text = pr->p_arg;
        pr->len = strlen(pr->p_arg);
    }
    if (pr->len == 0 && !allow_empty)
        return cli_error("empty prompt");
    size_t bad = cli_utf8_invalid_at(pr->text, pr->len);
    if (bad < pr->len)
        return cli_error("prompt is not valid UTF-8 (byte 0x%02x at offset %zu)",
                         (unsigned)(unsigned char)pr->text[bad], bad);
    return CLI_EXIT_OK;
}

int cli_open_prompt(cli_ctx *x, cli_prompt *pr, bool allow_empty, uint32_t flags)
{
    int code = read_prompt_text(pr, allow_empty);
    if (code != CLI_EXIT_OK)
        return code;
    code = cli_open_model(x);
    if (code != CLI_EXIT_OK)
        return code;
    code = cli_tokenize(x->model, pr->text, pr->len, flags, &pr->ids, &pr->n_ids);
    if (code == CLI_EXIT_OK && pr->n_ids == 0 && !allow_empty)
        code = cli_error("the prompt has no tokens");
    return code;
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- positional arguments ---- */

int cli_take_positional(const cli_command *cmd, int *argc, char **argv, const char **pos,
                        int max_pos, int *n_pos)
{
    int out = 1;
    bool rest = false;
    *n_pos = 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        bool positional = rest || a[0] != '-' || a[1] == '\0';
        if (!rest && strcmp(a, "--") == 0) {
            rest = true;
            continue;
        }
        if (positional) {
            if (*n_pos >= max_pos)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[(*n_pos)++] = a;
            continue;
        }
        argv[out++] = argv[i];
        /* an option whose value is the next argument keeps it */
        const cli_opt *o = NULL;
        if (a[1] == '-' && strchr(a, '=') == NULL)
            o = lookup(cmd, 0, a + 2, strlen(a + 2));
        else if (a[1] != '-' && a[2] == '\0')
            o = lookup(cmd, a[1], NULL, 0);
        if (o != NULL && o->arg != NULL && i + 1 < *argc)
            argv[out++] = argv[++i];
    }
    *argc = out;
    return CLI_EXIT_OK;
}
