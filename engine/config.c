/*
 * The configuration object: validated key/value pairs with their origin,
 * typed getters, overrides and plugin-section validation. Parsing the INI
 * syntax is config_ini.c's job; the schema tables live in config_schema.c.
 */
#include "config.h"

#include "config_ini.h"
#include "errors.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 512

typedef struct entry {
    char *section;
    char *key;
    char *value;    /* as written */
    char *resolved; /* PATH made relative to the file's directory, or NULL */
    char *source;   /* file name or "command line" */
    char *dir;      /* directory of the file (NULL for overrides and strings) */
    uint32_t line;  /* 0 for overrides */
} entry;

typedef struct section_rec {
    char *name;
    char *source;
    uint32_t line;
} section_rec;

struct plmm_config {
    entry *entries;
    uint32_t n_entries, cap_entries;
    section_rec *sections;
    uint32_t n_sections, cap_sections;
};

/* ---- small helpers ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void format_number(char *buf, size_t size, double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(buf, size, "%.0f", x);
    else
        snprintf(buf, size, "%g", x);
}

static bool has_range(const plmm_option_schema *opt)
{
    return opt->min <= opt->max;
}

static int range_error(const plmm_option_schema *opt, const char *text, char *err, size_t err_size)
{
    char lo[32], hi[32];
    format_number(lo, sizeof(lo), opt->min);
    format_number(hi, sizeof(hi), opt->max);
    snprintf(err, err_size, "must be between %s and %s, got %s", lo, hi, text);
    return PLMM_ERR_CONFIG;
}

/* strtod in the "C" locale, whatever the application's locale is. */
static double parse_double(const char *text, char **end)
{
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c == (locale_t)0)
        return strtod(text, end);
    double v = strtod_l(text, end, c);
    freelocale(c);
    return v;
}

/* Is text one of the '|'-separated choices? Sets *index. */
static bool enum_index(const char *choices, const char *text, uint32_t *index)
{
    size_t len = strlen(text);
    uint32_t i = 0;
    for (const char *c = choices; *c != '\0'; i++) {
        size_t n = strcspn(c, "|");
        if (n == len && memcmp(c, text, n) == 0) {
            *index = i;
            return true;
        }
        c += n;
        if (*c == '|')
            c++;
    }
    return false;
}

bool plmm_option_valid_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

/* ---- typed values ---- */

const char *plmm_option_type_name(uint32_t type)
{
    switch (type) {
    case PLMM_OPT_BOOL:
        return "bool";
    case PLMM_OPT_INT:
        return "int";
    case PLMM_OPT_FLOAT:
        return "float";
    case PLMM_OPT_STRING:
        return "string";
    case PLMM_OPT_ENUM:
        return "enum";
    case PLMM_OPT_PATH:
        return "path";
    default:
        return "?";
    }
}

static bool parse_bool(const char *t, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(t, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(t, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

plmm_status plmm_option_parse(const plmm_option_schema *opt, const char *text,
                              plmm_option_value *out, char *err, size_t err_size)
{
    char *end;
    memset(out, 0, sizeof(*out));
    out->key = opt->key;
    out->type = opt->type;
    switch (opt->type) {
    case PLMM_OPT_BOOL:
        if (!parse_bool(text, &out->v.b)) {
            snprintf(err, err_size, "expected true or false, got '%s'", text);
            return PLMM_ERR_CONFIG;
        }
        return PLMM_OK;
    case PLMM_OPT_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0])) {
            snprintf(err, err_size, "expected integer, got '%s'", text);
            return PLMM_ERR_CONFIG;
        }
        if (errno == ERANGE) {
            if (has_range(opt))
                return range_error(opt, text, err, err_size);
            snprintf(err, err_size, "integer out of range, got %s", text);
            return PLMM_ERR_CONFIG;
        }
        if (has_range(opt) && ((double)v < opt->min || (double)v > opt->max))
            return range_error(opt, text, err, err_size);
        out->v.i = v;
        return PLMM_OK;
    }
    case PLMM_OPT_FLOAT: {
        double v = parse_double(text, &end);
        if (end == text || *end != '\0' || isspace((unsigned char)text[0]) || !isfinite(v)) {
            snprintf(err, err_size, "expected number, got '%s'", text);
            return PLMM_ERR_CONFIG;
        }
        if (has_range(opt) && (v < opt->min || v > opt->max))
            return range_error(opt, text, err, err_size);
        out->v.f = v;
        return PLMM_OK;
    }
    case PLMM_OPT_ENUM: {
        uint32_t index;
        if (opt->choices == NULL || !enum_index(opt->choices, text, &index)) {
            snprintf(err, err_size, "must be one of %s, got '%s'",
                     opt->choices != NULL ? opt->choices : "(none)", text);
            return PLMM_ERR_CONFIG;
        }
        out->v.s = text;
        return PLMM_OK;
    }
    case PLMM_OPT_PATH:
        if (text[0] == '\0') {
            snprintf(err, err_size, "expected a path, got an empty value");
            return PLMM_ERR_CONFIG;
        }
        out->v.s = text;
        return PLMM_OK;
    case PLMM_OPT_STRING:
        out->v.s = text;
        return PLMM_OK;
    default:
        snprintf(err, err_size, "unknown option type %u", (unsigned)opt->type);
        return PLMM_ERR_INVALID_ARG;
    }
}

plmm_status plmm_option_schema_check(const plmm_option_schema *opts, uint32_t n, char *err,
                                     size_t err_size)
{
    char msg[MSG_MAX];
    if (n > 0 && opts == NULL) {
        snprintf(err, err_size, "schema declares %u options but has no table", (unsigned)n);
        return PLMM_ERR_PLUGIN;
    }
    for (uint32_t i = 0; i < n; i++) {
        const plmm_option_schema *o = &opts[i];
        if (o->key == NULL || !plmm_option_valid_name(o->key)) {
            snprintf(err, err_size, "option %u has an invalid key '%s'", (unsigned)i,
                     o->key != NULL ? o->key : "(null)");
            return PLMM_ERR_PLUGIN;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(opts[j].key, o->key) == 0) {
                snprintf(err, err_size, "option '%s' is declared twice", o->key);
                return PLMM_ERR_PLUGIN;
            }
        }
        if (o->type < PLMM_OPT_BOOL || o->type > PLMM_OPT_PATH) {
            snprintf(err, err_size, "option '%s' has unknown type %u", o->key, (unsigned)o->type);
            return PLMM_ERR_PLUGIN;
        }
        if (o->type == PLMM_OPT_ENUM && (o->choices == NULL || o->choices[0] == '\0')) {
            snprintf(err, err_size, "option '%s' is an enum without choices", o->key);
            return PLMM_ERR_PLUGIN;
        }
        plmm_option_value v;
        if (o->default_value != NULL &&
            plmm_option_parse(o, o->default_value, &v, msg, sizeof(msg)) != PLMM_OK) {
            snprintf(err, err_size, "option '%s' has an invalid default: %s", o->key, msg);
            return PLMM_ERR_PLUGIN;
        }
    }
    return PLMM_OK;
}

/* ---- suggestions ---- */

#define SUGGEST_MAX 64

/* Case-insensitive edit distance (insert, delete, substitute, swap). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = (size_t)d[i - 1][j - 1] + (ca != cb);
            if ((size_t)d[i - 1][j] + 1 < best)
                best = (size_t)d[i - 1][j] + 1;
            if ((size_t)d[i][j - 1] + 1 < best)
                best = (size_t)d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && (size_t)d[i - 2][j - 2] + 1 < best)
                best = (size_t)d[i - 2][j - 2] + 1;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

/* How good a suggestion cand is for word; lower is better, SIZE_MAX = none. */
static size_t suggestion_score(const char *word, const char *cand)
{
    size_t lw = strlen(word), lc = strlen(cand);
    size_t d = edit_distance(word, cand);
    size_t limit = lc < 4 ? 1 : 2;
    if (d <= limit && d < lc)
        return d;
    /* a prefix such as "temp" for "temperature" */
    if (lw >= 3 && lw < lc && strncasecmp(word, cand, lw) == 0)
        return 3;
    return SIZE_MAX;
}

const char *plmm_option_suggest(const char *word, const plmm_option_schema *opts, uint32_t n)
{
    const char *best = NULL;
    size_t best_score = SIZE_MAX;
    for (uint32_t i = 0; opts != NULL && i < n; i++) {
        size_t s = suggestion_score(word, opts[i].key);
        if (s < best_score) {
            best_score = s;
            best = opts[i].key;
        }
    }
    return best;
}

/* Message for an unknown section, with the closest known one. */
static void unknown_section(const char *name, char *err, size_t err_size)
{
    uint32_t n;
    const plmm_config_section_def *defs = plmm_config_schema(&n);
    const char *dot = strchr(name, '.');
    char best[128] = "";
    size_t best_score = SIZE_MAX;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(defs[i].name);
        char cand[128];
        if (defs[i].name[len - 1] == '.') {
            /* compare the family stem, keep the user's plugin name */
            if (dot == NULL || len - 1 >= sizeof(cand))
                continue;
            size_t stem = (size_t)(dot - name);
            if (stem >= sizeof(cand))
                continue;
            memcpy(cand, name, stem);
            cand[stem] = '\0';
            char fam[128];
            memcpy(fam, defs[i].name, len - 1);
            fam[len - 1] = '\0';
            size_t s = suggestion_score(cand, fam);
            if (s < best_score) {
                best_score = s;
                snprintf(best, sizeof(best), "%s%.*s", defs[i].name, 80, dot + 1);
            }
        } else {
            size_t s = suggestion_score(name, defs[i].name);
            if (s < best_score) {
                best_score = s;
                snprintf(best, sizeof(best), "%s", defs[i].name);
            }
        }
    }
    if (best[0] != '\0')
        snprintf(err, err_size, "unknown section [%s] (did you mean [%s]?)", name, best);
    else
        snprintf(err, err_size, "unknown section [%s]", name);
}

/* Check a section name against the schema. */
static plmm_status check_section(const char *name, const plmm_config_section_def **def, char *err,
                                 size_t err_size)
{
    *def = plmm_config_section_lookup(name);
    if (*def == NULL) {
        /* [backend] without a plugin name */
        uint32_t n;
        const plmm_config_section_def *defs = plmm_config_schema(&n);
        for (uint32_t i = 0; i < n; i++) {
            size_t len = strlen(defs[i].name);
            if (defs[i].name[len - 1] == '.' && strncmp(name, defs[i].name, len - 1) == 0 &&
                name[len - 1] == '\0') {
                snprintf(err, err_size, "section [%s] needs a plugin name: [%sNAME]", name,
                         defs[i].name);
                return PLMM_ERR_CONFIG;
            }
        }
        unknown_section(name, err, err_size);
        return PLMM_ERR_CONFIG;
    }
    if ((*def)->keys == NULL) {
        const char *plugin = name + strlen((*def)->name);
        if (*plugin == '\0') {
            snprintf(err, err_size, "section [%s] needs a plugin name: [%sNAME]", name,
                     (*def)->name);
            return PLMM_ERR_CONFIG;
        }
        if (!plmm_option_valid_name(plugin)) {
            snprintf(err, err_size,
                     "invalid plugin name '%s' in [%s] (letters, digits, '_' and '-' only)", plugin,
                     name);
            return PLMM_ERR_CONFIG;
        }
    }
    return PLMM_OK;
}

static const plmm_option_schema *find_key(const plmm_config_section_def *def, const char *key)
{
    for (uint32_t i = 0; def->keys != NULL && i < def->n_keys; i++)
        if (strcmp(def->keys[i].key, key) == 0)
            return &def->keys[i];
    return NULL;
}

/* Validate one key/value of a section. */
static plmm_status check_key(const plmm_config_section_def *def, const char *section,
                             const char *key, const char *value, char *err, size_t err_size)
{
    char msg[MSG_MAX];
    if (def->keys == NULL) {
        if (!plmm_option_valid_name(key)) {
            snprintf(err, err_size, "invalid key name '%s' in [%s]", key, section);
            return PLMM_ERR_CONFIG;
        }
        return PLMM_OK; /* checked against the plugin's schema later */
    }
    const plmm_option_schema *opt = find_key(def, key);
    if (opt == NULL) {
        const char *s = plmm_option_suggest(key, def->keys, def->n_keys);
        if (s != NULL)
            snprintf(err, err_size, "unknown key '%s' in [%s] (did you mean '%s'?)", key, section,
                     s);
        else
            snprintf(err, err_size, "unknown key '%s' in [%s]", key, section);
        return PLMM_ERR_CONFIG;
    }
    plmm_option_value v;
    if (plmm_option_parse(opt, value, &v, msg, sizeof(msg)) != PLMM_OK) {
        snprintf(err, err_size, "%s.%s: %s", section, key, msg);
        return PLMM_ERR_CONFIG;
    }
    return PLMM_OK;
}

/* ---- the object ---- */

static void entry_clear(entry *e)
{
    free(e->section);
    free(e->key);
    free(e->value);
    free(e->resolved);
    free(e->source);
    free(e->dir);
}

static void config_clear(plmm_config *cfg)
{
    for (uint32_t i = 0; i < cfg->n_entries; i++)
        entry_clear(&cfg->entries[i]);
    for (uint32_t i = 0; i < cfg->n_sections; i++) {
        free(cfg->sections[i].name);
        free(cfg->sections[i].source);
    }
    free(cfg->entries);
    free(cfg->sections);
    memset(cfg, 0, sizeof(*cfg));
}

plmm_status plmm_config_create(plmm_config **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory creating a configuration");
    return PLMM_OK;
}

void plmm_config_destroy(plmm_config *cfg)
{
    if (cfg == NULL)
        return;
    config_clear(cfg);
    free(cfg);
}

static entry *find_entry(const plmm_config *cfg, const char *section, const char *key)
{
    for (uint32_t i = 0; cfg != NULL && i < cfg->n_entries; i++)
        if (strcmp(cfg->entries[i].section, section) == 0 && strcmp(cfg->entries[i].key, key) == 0)
            return &cfg->entries[i];
    return NULL;
}

static bool grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return true;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (p == NULL)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static plmm_status add_section(plmm_config *cfg, const char *name, const char *source,
                               uint32_t line)
{
    for (uint32_t i = 0; i < cfg->n_sections; i++)
        if (strcmp(cfg->sections[i].name, name) == 0)
            return PLMM_OK;
    if (!grow((void **)&cfg->sections, &cfg->cap_sections, cfg->n_sections, sizeof(*cfg->sections)))
        return PLMM_ERR_NOMEM;
    section_rec *s = &cfg->sections[cfg->n_sections];
    s->name = dup_str(name);
    s->source = dup_str(source);
    s->line = line;
    if (s->name == NULL || s->source == NULL) {
        free(s->name);
        free(s->source);
        return PLMM_ERR_NOMEM;
    }
    cfg->n_sections++;
    return PLMM_OK;
}

/* dir/rel, or NULL when rel is absolute or there is no dir. *nomem on failure. */
static char *resolve_path(const char *dir, const char *rel, bool *nomem)
{
    if (dir == NULL || rel[0] == '/' || rel[0] == '\0')
        return NULL;
    size_t a = strlen(dir), b = strlen(rel);
    if (a > 0 && dir[a - 1] == '/')
        a--;
    char *p = malloc(a + 1 + b + 1);
    if (p == NULL) {
        *nomem = true;
        return NULL;
    }
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, rel, b + 1);
    return p;
}

/* Add or replace a validated value. */
static plmm_status put_entry(plmm_config *cfg, const char *section, const char *key,
                             const char *value, const char *source, const char *dir, uint32_t line)
{
    const plmm_config_section_def *def = plmm_config_section_lookup(section);
    const plmm_option_schema *opt = def != NULL ? find_key(def, key) : NULL;
    bool nomem = false;
    entry e = {
        .section = dup_str(section),
        .key = dup_str(key),
        .value = dup_str(value),
        .source = dup_str(source),
        .dir = dir != NULL ? dup_str(dir) : NULL,
        .line = line,
    };
    /* Plugin-section PATH values are resolved when the schema is known. */
    if (opt != NULL && opt->type == PLMM_OPT_PATH)
        e.resolved = resolve_path(dir, value, &nomem);
    if (e.section == NULL || e.key == NULL || e.value == NULL || e.source == NULL ||
        (dir != NULL && e.dir == NULL) || nomem)
        goto out_nomem;
    if (add_section(cfg, section, source, line) != PLMM_OK)
        goto out_nomem;
    entry *old = find_entry(cfg, section, key);
    if (old != NULL) {
        entry_clear(old);
        *old = e;
        return PLMM_OK;
    }
    if (!grow((void **)&cfg->entries, &cfg->cap_entries, cfg->n_entries, sizeof(*cfg->entries)))
        goto out_nomem;
    cfg->entries[cfg->n_entries++] = e;
    return PLMM_OK;
out_nomem:
    entry_clear(&e);
    return PLMM_ERR_NOMEM;
}

/* ---- loading ---- */

typedef struct load_ctx {
    plmm_config *cfg;
    const char *source;
    char *dir; /* of the file, or NULL */
} load_ctx;

static plmm_status on_section(void *user, const char *name, uint32_t line, char *err,
                              size_t err_size)
{
    load_ctx *lc = user;
    const plmm_config_section_def *def;
    plmm_status s = check_section(name, &def, err, err_size);
    if (s != PLMM_OK)
        return s;
    if (add_section(lc->cfg, name, lc->source, line) != PLMM_OK) {
        snprintf(err, err_size, "out of memory");
        return PLMM_ERR_NOMEM;
    }
    return PLMM_OK;
}

static plmm_status on_key(void *user, const char *section, const char *key, const char *value,
                          uint32_t line, char *err, size_t err_size)
{
    load_ctx *lc = user;
    const plmm_config_section_def *def = plmm_config_section_lookup(section);
    if (def == NULL) /* on_section refused it already */
        return PLMM_OK;
    plmm_status s = check_key(def, section, key, value, err, err_size);
    if (s != PLMM_OK)
        return s;
    const entry *dup = find_entry(lc->cfg, section, key);
    if (dup != NULL) {
        snprintf(err, err_size, "duplicate key '%s' in [%s] (first set on line %u)", key, section,
                 (unsigned)dup->line);
        return PLMM_ERR_CONFIG;
    }
    if (put_entry(lc->cfg, section, key, value, lc->source, lc->dir, line) != PLMM_OK) {
        snprintf(err, err_size, "out of memory");
        return PLMM_ERR_NOMEM;
    }
    return PLMM_OK;
}

/* Parse into a fresh object and swap it in only on success. */
static plmm_status load(plmm_config *cfg, const char *data, size_t len, const char *path,
                        const char *source)
{
    plmm_config fresh = {0};
    load_ctx lc = {.cfg = &fresh, .source = source};
    plmm_ini_handlers h = {.section = on_section, .key = on_key, .user = &lc};
    plmm_status s;
    if (path != NULL) {
        /* "a/b.ini" -> "a", "/b.ini" -> "/", "b.ini" -> none (working directory) */
        const char *slash = strrchr(path, '/');
        if (slash != NULL) {
            lc.dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
            if (lc.dir == NULL)
                return plmm_err(PLMM_ERR_NOMEM, "out of memory loading '%s'", path);
        }
        s = plmm_ini_parse_file(path, &h);
    } else {
        s = plmm_ini_parse_buffer(data, len, source, &h);
    }
    free(lc.dir);
    if (s != PLMM_OK) {
        config_clear(&fresh);
        return s;
    }
    config_clear(cfg);
    *cfg = fresh;
    return PLMM_OK;
}

plmm_status plmm_config_load_file(plmm_config *cfg, const char *path)
{
    return load(cfg, NULL, 0, path, path);
}

plmm_status plmm_config_load_buffer(plmm_config *cfg, const char *data, size_t len,
                                    const char *source)
{
    return load(cfg, data, len, NULL, source != NULL ? source : "<string>");
}

plmm_status plmm_config_load_string(plmm_config *cfg, const char *text, const char *source)
{
    return plmm_config_load_buffer(cfg, text, strlen(text), source);
}

/* ---- overrides ---- */

plmm_status plmm_config_set_value(plmm_config *cfg, const char *section, const char *key,
                                  const char *value, const char *source)
{
    char err[MSG_MAX];
    const plmm_config_section_def *def;
    if (source == NULL)
        source = PLMM_CONFIG_CMDLINE;
    if (check_section(section, &def, err, sizeof(err)) != PLMM_OK ||
        check_key(def, section, key, value, err, sizeof(err)) != PLMM_OK)
        return plmm_err(PLMM_ERR_CONFIG, "%s: %s", source, err);
    if (put_entry(cfg, section, key, value, source, NULL, 0) != PLMM_OK)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory setting %s.%s", section, key);
    return PLMM_OK;
}

static void trim(char **s)
{
    char *p = *s;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        p[--n] = '\0';
    *s = p;
}

plmm_status plmm_config_set(plmm_config *cfg, const char *assignment)
{
    plmm_status s;
    char *copy = dup_str(assignment);
    if (copy == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    char *eq = strchr(copy, '=');
    char *dot = NULL;
    if (eq != NULL) {
        *eq = '\0';
        dot = strrchr(copy, '.');
    }
    if (eq == NULL || dot == NULL || dot == copy) {
        s = plmm_err(PLMM_ERR_CONFIG, "%s: expected 'section.key=value', got '%s'",
                     PLMM_CONFIG_CMDLINE, assignment);
        goto out;
    }
    *dot = '\0';
    char *section = copy, *key = dot + 1, *value = eq + 1;
    trim(&section);
    trim(&key);
    trim(&value);
    if (section[0] == '\0' || key[0] == '\0') {
        s = plmm_err(PLMM_ERR_CONFIG, "%s: expected 'section.key=value', got '%s'",
                     PLMM_CONFIG_CMDLINE, assignment);
        goto out;
    }
    s = plmm_config_set_value(cfg, section, key, value, PLMM_CONFIG_CMDLINE);
out:
    free(copy);
    return s;
}

/* ---- getters ---- */

static plmm_status lookup(const plmm_config *cfg, const char *section, const char *key,
                          uint32_t want, const plmm_option_schema **opt, const char **text)
{
    const plmm_config_section_def *def = plmm_config_section_lookup(section);
    *opt = def != NULL ? find_key(def, key) : NULL;
    if (*opt == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "no configuration key %s.%s", section, key);
    if (want != 0 && (*opt)->type != want &&
        !(want == PLMM_OPT_FLOAT && (*opt)->type == PLMM_OPT_INT))
        return plmm_err(PLMM_ERR_INVALID_ARG, "%s.%s is of type %s, not %s", section, key,
                        plmm_option_type_name((*opt)->type), plmm_option_type_name(want));
    const entry *e = find_entry(cfg, section, key);
    if (e != NULL)
        *text = e->resolved != NULL ? e->resolved : e->value;
    else
        *text = (*opt)->default_value;
    if (*text == NULL)
        return PLMM_ERR_NOT_FOUND;
    return PLMM_OK;
}

/* Parse a stored (already validated) value. */
static plmm_status typed(const plmm_option_schema *opt, const char *text, plmm_option_value *v)
{
    char msg[MSG_MAX];
    if (plmm_option_parse(opt, text, v, msg, sizeof(msg)) != PLMM_OK)
        return plmm_err(PLMM_ERR_INTERNAL, "stored value of %s is invalid: %s", opt->key, msg);
    return PLMM_OK;
}

plmm_status plmm_config_get_bool(const plmm_config *cfg, const char *section, const char *key,
                                 bool *out)
{
    const plmm_option_schema *opt;
    const char *text;
    plmm_option_value v;
    plmm_status s = lookup(cfg, section, key, PLMM_OPT_BOOL, &opt, &text);
    if (s == PLMM_OK && (s = typed(opt, text, &v)) == PLMM_OK)
        *out = v.v.b;
    return s;
}

plmm_status plmm_config_get_int(const plmm_config *cfg, const char *section, const char *key,
                                int64_t *out)
{
    const plmm_option_schema *opt;
    const char *text;
    plmm_option_value v;
    plmm_status s = lookup(cfg, section, key, PLMM_OPT_INT, &opt, &text);
    if (s == PLMM_OK && (s = typed(opt, text, &v)) == PLMM_OK)
        *out = v.v.i;
    return s;
}

plmm_status plmm_config_get_float(const plmm_config *cfg, const char *section, const char *key,
                                  double *out)
{
    const plmm_option_schema *opt;
    const char *text;
    plmm_option_value v;
    plmm_status s = lookup(cfg, section, key, PLMM_OPT_FLOAT, &opt, &text);
    if (s == PLMM_OK && (s = typed(opt, text, &v)) == PLMM_OK)
        *out = opt->type == PLMM_OPT_INT ? (double)v.v.i : v.v.f;
    return s;
}

plmm_status plmm_config_get_string(const plmm_config *cfg, const char *section, const char *key,
                                   const char **out)
{
    const plmm_option_schema *opt;
    const char *text;
    plmm_status s = lookup(cfg, section, key, 0, &opt, &text);
    if (s == PLMM_OK)
        *out = text;
    return s;
}

plmm_status plmm_config_get_enum(const plmm_config *cfg, const char *section, const char *key,
                                 uint32_t *out)
{
    const plmm_option_schema *opt;
    const char *text;
    plmm_status s = lookup(cfg, section, key, PLMM_OPT_ENUM, &opt, &text);
    if (s == PLMM_OK && !enum_index(opt->choices, text, out))
        s = plmm_err(PLMM_ERR_INTERNAL, "stored value of %s.%s is not a choice", section, key);
    return s;
}

bool plmm_config_is_set(const plmm_config *cfg, const char *section, const char *key)
{
    return find_entry(cfg, section, key) != NULL;
}

bool plmm_config_origin(const plmm_config *cfg, const char *section, const char *key,
                        const char **source, uint32_t *line)
{
    const entry *e = find_entry(cfg, section, key);
    if (e == NULL)
        return false;
    if (source != NULL)
        *source = e->source;
    if (line != NULL)
        *line = e->line;
    return true;
}

const char *plmm_config_base_dir(const plmm_config *cfg, const char *section, const char *key)
{
    const entry *e = find_entry(cfg, section, key);
    return e != NULL ? e->dir : NULL;
}

uint32_t plmm_config_section_count(const plmm_config *cfg)
{
    return cfg != NULL ? cfg->n_sections : 0;
}

const char *plmm_config_section_at(const plmm_config *cfg, uint32_t i, const char **source,
                                   uint32_t *line)
{
    if (i >= cfg->n_sections)
        return NULL;
    if (source != NULL)
        *source = cfg->sections[i].source;
    if (line != NULL)
        *line = cfg->sections[i].line;
    return cfg->sections[i].name;
}

/* ---- plugin sections ---- */

static plmm_status entry_error(const entry *e, const char *fmt, ...) PLMM_PRINTF(2, 3);

static plmm_status entry_error(const entry *e, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (e->line > 0)
        return plmm_err(PLMM_ERR_CONFIG, "%s:%u: %s", e->source, (unsigned)e->line, msg);
    return plmm_err(PLMM_ERR_CONFIG, "%s: %s", e->source, msg);
}

plmm_status plmm_config_plugin_options(const plmm_config *cfg, const char *section,
                                       const plmm_option_schema *schema, uint32_t n_schema,
                                       plmm_option_value **out, uint32_t *n_out)
{
    char msg[MSG_MAX];
    plmm_status s;
    *out = NULL;
    *n_out = 0;
    if (plmm_option_schema_check(schema, n_schema, msg, sizeof(msg)) != PLMM_OK)
        return plmm_err(PLMM_ERR_PLUGIN, "[%s]: %s", section, msg);

    /* Every key of the section must be declared and valid. */
    for (uint32_t i = 0; cfg != NULL && i < cfg->n_entries; i++) {
        const entry *e = &cfg->entries[i];
        if (strcmp(e->section, section) != 0)
            continue;
        const plmm_option_schema *opt = NULL;
        for (uint32_t k = 0; k < n_schema && opt == NULL; k++)
            if (strcmp(schema[k].key, e->key) == 0)
                opt = &schema[k];
        if (opt == NULL) {
            const char *sug = plmm_option_suggest(e->key, schema, n_schema);
            if (sug != NULL)
                return entry_error(e, "unknown key '%s' in [%s] (did you mean '%s'?)", e->key,
                                   section, sug);
            return entry_error(e, "unknown key '%s' in [%s]", e->key, section);
        }
        plmm_option_value v;
        if (plmm_option_parse(opt, e->value, &v, msg, sizeof(msg)) != PLMM_OK)
            return entry_error(e, "%s.%s: %s", section, e->key, msg);
    }

    /* Texts of the chosen values (resolved paths are made here). */
    const char **texts = calloc(n_schema ? n_schema : 1, sizeof(*texts));
    char **owned = calloc(n_schema ? n_schema : 1, sizeof(*owned));
    if (texts == NULL || owned == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_free;
    }
    size_t bytes = 0;
    uint32_t n = 0;
    for (uint32_t k = 0; k < n_schema; k++) {
        const entry *e = find_entry(cfg, section, schema[k].key);
        texts[k] = e != NULL ? e->value : schema[k].default_value;
        if (texts[k] == NULL)
            continue;
        if (e != NULL && schema[k].type == PLMM_OPT_PATH) {
            bool nomem = false;
            owned[k] = resolve_path(e->dir, e->value, &nomem);
            if (nomem) {
                s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
                goto out_free;
            }
            if (owned[k] != NULL)
                texts[k] = owned[k];
        }
        n++;
        bytes += strlen(schema[k].key) + 1 + strlen(texts[k]) + 1;
    }
    if (n == 0) {
        s = PLMM_OK;
        goto out_free;
    }

    /* One block: the array, then the strings it points to. */
    plmm_option_value *vals = malloc(n * sizeof(*vals) + bytes);
    if (vals == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto out_free;
    }
    char *pool = (char *)(vals + n);
    uint32_t j = 0;
    for (uint32_t k = 0; k < n_schema; k++) {
        if (texts[k] == NULL)
            continue;
        size_t kl = strlen(schema[k].key) + 1, tl = strlen(texts[k]) + 1;
        char *key = pool, *text = pool + kl;
        memcpy(key, schema[k].key, kl);
        memcpy(text, texts[k], tl);
        pool += kl + tl;
        s = plmm_option_parse(&schema[k], text, &vals[j], msg, sizeof(msg));
        if (s != PLMM_OK) { /* checked above; cannot happen */
            free(vals);
            s = plmm_err(PLMM_ERR_INTERNAL, "[%s] %s: %s", section, schema[k].key, msg);
            goto out_free;
        }
        vals[j].key = key;
        j++;
    }
    *out = vals;
    *n_out = n;
    s = PLMM_OK;
out_free:
    for (uint32_t k = 0; owned != NULL && k < n_schema; k++)
        free(owned[k]);
    free(owned);
    free(texts);
    return s;
}

void plmm_option_values_free(plmm_option_value *values)
{
    free(values);
}
