/*
 * Configuration: golden error messages for every error class, defaults,
 * overrides, plugin sections against a fake schema, the example plmm.ini
 * and docs/configuration.md kept in sync with the schema tables.
 *
 * `test-config --dump-schema` prints the generated reference to paste
 * into docs/configuration.md.
 */
#include "config.h"
#include "config_ini.h"
#include "errors.h"
#include "test.h"

#include <locale.h>
#include <unistd.h>

#define SRC "t.ini"

/* Load bad text over a good configuration: the exact message, the status,
 * and the old content untouched. */
static void expect_error_status(int line, const char *text, plmm_status want_status,
                                const char *want)
{
    plmm_config *cfg;
    int64_t threads = 0;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg, "[engine]\nthreads = 7\n", SRC) == PLMM_OK);
    plmm_status s = plmm_config_load_string(cfg, text, SRC);
    CHECK_MSG(s == want_status, "line %d: status %d, want %d", line, s, want_status);
    CHECK_MSG(strcmp(plmm_last_errmsg(), want) == 0, "line %d:\n got  '%s'\n want '%s'", line,
              plmm_last_errmsg(), want);
    CHECK(plmm_config_get_int(cfg, "engine", "threads", &threads) == PLMM_OK);
    CHECK_MSG(threads == 7, "line %d: a failed load changed the configuration", line);
    plmm_config_destroy(cfg);
}

#define EXPECT_ERROR(text, want) expect_error_status(__LINE__, text, PLMM_ERR_CONFIG, want)

static void test_error_classes(void)
{
    /* unknown keys, with and without a suggestion */
    EXPECT_ERROR("[engine]\nthraeds = 4\n",
                 SRC ":2: unknown key 'thraeds' in [engine] (did you mean 'threads'?)");
    EXPECT_ERROR("[engine]\n\nThreads = 4\n",
                 SRC ":3: unknown key 'Threads' in [engine] (did you mean 'threads'?)");
    EXPECT_ERROR("[sampling]\ntemp = 0.5\n",
                 SRC ":2: unknown key 'temp' in [sampling] (did you mean 'temperature'?)");
    EXPECT_ERROR("[engine]\nfrobnicate = 1\n", SRC ":2: unknown key 'frobnicate' in [engine]");

    /* unknown sections */
    EXPECT_ERROR("[engin]\nthreads = 1\n",
                 SRC ":1: unknown section [engin] (did you mean [engine]?)");
    EXPECT_ERROR("; c\n[widgets]\n", SRC ":2: unknown section [widgets]");
    EXPECT_ERROR("[backends.cpu]\n",
                 SRC ":1: unknown section [backends.cpu] (did you mean [backend.cpu]?)");
    EXPECT_ERROR("[backend]\n", SRC ":1: section [backend] needs a plugin name: [backend.NAME]");
    EXPECT_ERROR("[backend.]\n", SRC ":1: section [backend.] needs a plugin name: [backend.NAME]");
    EXPECT_ERROR("[backend.a b]\n", SRC ":1: invalid plugin name 'a b' in [backend.a b] "
                                        "(letters, digits, '_' and '-' only)");
    EXPECT_ERROR("[engine] trailing\n", SRC ":1: unexpected text after section header [engine]");

    /* bad types */
    EXPECT_ERROR("[engine]\nthreads = four\n",
                 SRC ":2: engine.threads: expected integer, got 'four'");
    EXPECT_ERROR("[engine]\nthreads = 4.5\n",
                 SRC ":2: engine.threads: expected integer, got '4.5'");
    EXPECT_ERROR("[engine]\nthreads =\n", SRC ":2: engine.threads: expected integer, got ''");
    EXPECT_ERROR("[sampling]\ntemperature = hot\n",
                 SRC ":2: sampling.temperature: expected number, got 'hot'");
    EXPECT_ERROR("[sampling]\ntemperature = nan\n",
                 SRC ":2: sampling.temperature: expected number, got 'nan'");
    EXPECT_ERROR("[engine]\nmodel =\n",
                 SRC ":2: engine.model: expected a path, got an empty value");

    /* out of range */
    EXPECT_ERROR("[engine]\nthreads = 300\n",
                 SRC ":2: engine.threads: must be between 0 and 256, got 300");
    EXPECT_ERROR("[engine]\ncontext = 8\n",
                 SRC ":2: engine.context: must be between 16 and 1048576, got 8");
    EXPECT_ERROR("[engine]\nbatch = 99999999999999999999\n",
                 SRC ":2: engine.batch: must be between 1 and 65536, got 99999999999999999999");
    EXPECT_ERROR("[sampling]\ntop_p = 1.5\n",
                 SRC ":2: sampling.top_p: must be between 0 and 1, got 1.5");
    EXPECT_ERROR("[sampling]\nrepeat_penalty = 0\n",
                 SRC ":2: sampling.repeat_penalty: must be between 0.01 and 10, got 0");
    EXPECT_ERROR("[engine]\nseed = 123456789012345678901\n",
                 SRC ":2: engine.seed: integer out of range, got 123456789012345678901");

    /* bad enum values list the choices */
    EXPECT_ERROR("[engine]\nfallback = loose\n",
                 SRC ":2: engine.fallback: must be one of strict|observable, got 'loose'");
    EXPECT_ERROR("[chat]\ntemplate = ChatML\n",
                 SRC ":2: chat.template: must be one of "
                     "auto|chatml|llama2|llama3|zephyr|phi3|gemma|plain, got 'ChatML'");

    /* duplicates, also across a repeated section */
    EXPECT_ERROR("[engine]\nthreads = 1\n\nthreads = 2\n",
                 SRC ":4: duplicate key 'threads' in [engine] (first set on line 2)");
    EXPECT_ERROR("[engine]\nbatch = 8\n[chat]\n[engine]\nbatch = 8\n",
                 SRC ":5: duplicate key 'batch' in [engine] (first set on line 2)");
    EXPECT_ERROR("[backend.x]\na = 1\na = 2\n",
                 SRC ":3: duplicate key 'a' in [backend.x] (first set on line 2)");

    /* syntax errors, from inih's line number */
    EXPECT_ERROR("[engine]\nthreads\n", SRC ":2: syntax error: expected 'key = value'");
    EXPECT_ERROR("[engine]\nthreads = 1\n[chat\n",
                 SRC ":3: syntax error: section header lacks ']'");
    EXPECT_ERROR("[engine ; x]\n", SRC ":1: syntax error: section header lacks ']'");
    EXPECT_ERROR("[engine]\n = 3\n", SRC ":2: missing key name before '='");
    EXPECT_ERROR("threads = 1\n[engine]\n", SRC ":1: key 'threads' is outside any [section]");

    /* the first error by line wins, whichever kind it is */
    EXPECT_ERROR("[engine]\nthreads = 999\nbogus line\n",
                 SRC ":2: engine.threads: must be between 0 and 256, got 999");
    EXPECT_ERROR("[engine]\nbogus line\nthreads = 999\n",
                 SRC ":2: syntax error: expected 'key = value'");

    /* lines longer than inih's buffer */
    uint32_t max = plmm_ini_max_line();
    CHECK(max == PLMM_INI_MAX_LINE_DEBIAN - 2);
    char text[1024], want[256];
    size_t prefix = strlen("system = ");
    snprintf(text, sizeof(text), "[chat]\nsystem = %0*d\n", (int)(max - prefix), 0);
    plmm_config *cfg;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_string(cfg, text, SRC) == PLMM_OK, "%u-byte line: %s", max,
              plmm_last_errmsg());
    snprintf(text, sizeof(text), "[chat]\n  system = %0*d\r\n", (int)(max - prefix), 0);
    CHECK_MSG(plmm_config_load_string(cfg, text, SRC) == PLMM_OK, "indented CRLF line: %s",
              plmm_last_errmsg());
    plmm_config_destroy(cfg);
    snprintf(text, sizeof(text), "[chat]\nsystem = %0*d\nbogus\n", (int)(max + 1 - prefix), 0);
    snprintf(want, sizeof(want), SRC ":2: line too long (%u bytes; inih reads at most %u per line)",
             max + 1, max);
    EXPECT_ERROR(text, want);

    /* NUL bytes (only the buffer loader can see them) */
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_buffer(cfg, "[engine]\nthreads = 1\0\n", 22, SRC) == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_last_errmsg(), SRC ":2: line contains a NUL byte") == 0);
    plmm_config_destroy(cfg);
}

static void test_defaults(void)
{
    int64_t i = -1;
    double f = -1;
    const char *s = NULL;
    uint32_t e = 99;
    bool b = true;

    /* cfg NULL and an empty configuration both give the schema defaults */
    plmm_config *cfg;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg, "", NULL) == PLMM_OK);
    const plmm_config *both[] = {NULL, cfg};
    for (int k = 0; k < 2; k++) {
        const plmm_config *c = both[k];
        CHECK(plmm_config_get_int(c, "engine", "threads", &i) == PLMM_OK && i == 0);
        CHECK(plmm_config_get_int(c, "engine", "context", &i) == PLMM_OK && i == 2048);
        CHECK(plmm_config_get_int(c, "engine", "batch", &i) == PLMM_OK && i == 512);
        CHECK(plmm_config_get_string(c, "engine", "backends", &s) == PLMM_OK &&
              strcmp(s, "cpu") == 0);
        CHECK(plmm_config_get_enum(c, "engine", "fallback", &e) == PLMM_OK && e == 1);
        CHECK(plmm_config_get_string(c, "engine", "fallback", &s) == PLMM_OK &&
              strcmp(s, "observable") == 0);
        CHECK(plmm_config_get_enum(c, "engine", "kv_type", &e) == PLMM_OK && e == 0);
        CHECK(plmm_config_get_enum(c, "engine", "log_level", &e) == PLMM_OK && e == 1);
        CHECK(plmm_config_get_string(c, "engine", "model", &s) == PLMM_ERR_NOT_FOUND);
        CHECK(plmm_config_get_int(c, "engine", "seed", &i) == PLMM_ERR_NOT_FOUND);
        CHECK(plmm_config_get_string(c, "engine", "plugin_path", &s) == PLMM_ERR_NOT_FOUND);
        CHECK(plmm_config_get_float(c, "sampling", "temperature", &f) == PLMM_OK && f == 0.8);
        CHECK(plmm_config_get_int(c, "sampling", "top_k", &i) == PLMM_OK && i == 40);
        CHECK(plmm_config_get_float(c, "sampling", "top_p", &f) == PLMM_OK && f == 0.95);
        CHECK(plmm_config_get_float(c, "sampling", "min_p", &f) == PLMM_OK && f == 0.05);
        CHECK(plmm_config_get_float(c, "sampling", "repeat_penalty", &f) == PLMM_OK && f == 1.0);
        CHECK(plmm_config_get_int(c, "sampling", "repeat_last_n", &i) == PLMM_OK && i == 64);
        CHECK(plmm_config_get_float(c, "sampling", "frequency_penalty", &f) == PLMM_OK && f == 0);
        CHECK(plmm_config_get_float(c, "sampling", "presence_penalty", &f) == PLMM_OK && f == 0);
        CHECK(plmm_config_get_int(c, "sampling", "seed", &i) == PLMM_ERR_NOT_FOUND);
        CHECK(plmm_config_get_int(c, "sampling", "n_predict", &i) == PLMM_OK && i == -1);
        CHECK(plmm_config_get_enum(c, "chat", "template", &e) == PLMM_OK && e == 0);
        CHECK(plmm_config_get_string(c, "chat", "system", &s) == PLMM_ERR_NOT_FOUND);
        CHECK(!plmm_config_is_set(c, "engine", "threads"));
    }
    /* get_float reads INT keys */
    CHECK(plmm_config_get_float(cfg, "engine", "context", &f) == PLMM_OK && f == 2048.0);

    /* misuse by the caller */
    CHECK(plmm_config_get_int(cfg, "engine", "fallback", &i) == PLMM_ERR_INVALID_ARG);
    CHECK(strcmp(plmm_last_errmsg(), "engine.fallback is of type enum, not int") == 0);
    CHECK(plmm_config_get_bool(cfg, "engine", "threads", &b) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_config_get_int(cfg, "engine", "nope", &i) == PLMM_ERR_INVALID_ARG);
    CHECK(strcmp(plmm_last_errmsg(), "no configuration key engine.nope") == 0);
    CHECK(plmm_config_get_int(cfg, "backend.cpu", "threads", &i) == PLMM_ERR_INVALID_ARG);

    /* every schema default parses with its own type */
    uint32_t n;
    const plmm_config_section_def *defs = plmm_config_schema(&n);
    for (uint32_t k = 0; k < n; k++) {
        char err[256];
        CHECK(plmm_option_schema_check(defs[k].keys, defs[k].n_keys, err, sizeof(err)) == PLMM_OK);
        CHECK(plmm_config_section_lookup(defs[k].name) == &defs[k] || defs[k].keys == NULL);
    }
    plmm_config_destroy(cfg);
}

static void test_values_and_syntax(void)
{
    plmm_config *cfg;
    int64_t i;
    double f;
    const char *s;
    uint32_t e, line;
    /* BOM, CRLF, comments, indentation, inline comments, "key: value" */
    static const char text[] = "\xEF\xBB\xBF# comment\r\n"
                               "[engine] ; the engine\r\n"
                               "  threads = 4 ; inline comment\r\n"
                               "\tbackends: vulkan, cpu\r\n"
                               "fallback=strict\r\n"
                               "model = /models/a b.gguf\r\n"
                               "seed = -5\r\n"
                               "[sampling]\n"
                               "temperature = 0.25\n"
                               "top_k = 0\n"
                               "[chat]\n"
                               "system = Be brief; use \"lists\"\n"
                               "[backend.vulkan]\n"
                               "device = 1\n";
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_string(cfg, text, SRC) == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(plmm_config_get_int(cfg, "engine", "threads", &i) == PLMM_OK && i == 4);
    CHECK(plmm_config_get_string(cfg, "engine", "backends", &s) == PLMM_OK &&
          strcmp(s, "vulkan, cpu") == 0);
    CHECK(plmm_config_get_enum(cfg, "engine", "fallback", &e) == PLMM_OK && e == 0);
    CHECK(plmm_config_get_string(cfg, "engine", "model", &s) == PLMM_OK &&
          strcmp(s, "/models/a b.gguf") == 0);
    CHECK(plmm_config_get_int(cfg, "engine", "seed", &i) == PLMM_OK && i == -5);
    CHECK(plmm_config_get_float(cfg, "sampling", "temperature", &f) == PLMM_OK && f == 0.25);
    CHECK(plmm_config_get_int(cfg, "sampling", "top_k", &i) == PLMM_OK && i == 0);
    CHECK(plmm_config_get_string(cfg, "chat", "system", &s) == PLMM_OK &&
          strcmp(s, "Be brief; use \"lists\"") == 0);
    CHECK(plmm_config_is_set(cfg, "engine", "threads"));
    CHECK(!plmm_config_is_set(cfg, "engine", "batch"));
    CHECK(plmm_config_origin(cfg, "sampling", "top_k", &s, &line) && strcmp(s, SRC) == 0 &&
          line == 10);
    CHECK(plmm_config_base_dir(cfg, "engine", "model") == NULL); /* text, not a file */

    /* sections in order of appearance */
    CHECK(plmm_config_section_count(cfg) == 4);
    CHECK(strcmp(plmm_config_section_at(cfg, 0, NULL, NULL), "engine") == 0);
    CHECK(strcmp(plmm_config_section_at(cfg, 3, &s, &line), "backend.vulkan") == 0 && line == 13);
    CHECK(plmm_config_section_at(cfg, 4, NULL, NULL) == NULL);

    /* numbers do not depend on the application's locale */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        CHECK(plmm_config_load_string(cfg, "[sampling]\ntop_p = 0.5\n", SRC) == PLMM_OK);
        CHECK(plmm_config_get_float(cfg, "sampling", "top_p", &f) == PLMM_OK && f == 0.5);
        setlocale(LC_NUMERIC, "C");
    }
    plmm_config_destroy(cfg);
}

static void test_overrides(void)
{
    plmm_config *cfg;
    int64_t i;
    const char *s;
    uint32_t line;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg, "[engine]\nthreads = 2\n", SRC) == PLMM_OK);

    CHECK(plmm_config_set(cfg, " engine.threads = 8 ") == PLMM_OK);
    CHECK(plmm_config_get_int(cfg, "engine", "threads", &i) == PLMM_OK && i == 8);
    CHECK(plmm_config_origin(cfg, "engine", "threads", &s, &line) &&
          strcmp(s, "command line") == 0 && line == 0);
    CHECK(plmm_config_set(cfg, "sampling.temperature=0") == PLMM_OK);
    CHECK(plmm_config_set(cfg, "chat.system=a=b") == PLMM_OK);
    CHECK(plmm_config_get_string(cfg, "chat", "system", &s) == PLMM_OK && strcmp(s, "a=b") == 0);
    CHECK(plmm_config_set(cfg, "backend.cpu.threads=3") == PLMM_OK);

    static const struct {
        const char *arg, *want;
    } bad[] = {
        {"engine.threads=999", "command line: engine.threads: must be between 0 and 256, got 999"},
        {"engine.thread=1",
         "command line: unknown key 'thread' in [engine] (did you mean 'threads'?)"},
        {"engine.fallback=never",
         "command line: engine.fallback: must be one of strict|observable, got 'never'"},
        {"widgets.size=1", "command line: unknown section [widgets]"},
        {"threads=1", "command line: expected 'section.key=value', got 'threads=1'"},
        {"engine.threads", "command line: expected 'section.key=value', got 'engine.threads'"},
        {".threads=1", "command line: expected 'section.key=value', got '.threads=1'"},
        {"engine.=1", "command line: expected 'section.key=value', got 'engine.=1'"},
        {"backend.cpu.bad key=1", "command line: invalid key name 'bad key' in [backend.cpu]"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        CHECK(plmm_config_set(cfg, bad[k].arg) == PLMM_ERR_CONFIG);
        CHECK_MSG(strcmp(plmm_last_errmsg(), bad[k].want) == 0, "\n got  '%s'\n want '%s'",
                  plmm_last_errmsg(), bad[k].want);
    }
    CHECK(plmm_config_get_int(cfg, "engine", "threads", &i) == PLMM_OK && i == 8);

    CHECK(plmm_config_set_value(cfg, "engine", "batch", "0", "PLMM_BATCH") == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_last_errmsg(),
                 "PLMM_BATCH: engine.batch: must be between 1 and 65536, got 0") == 0);

    /* a load replaces overrides too */
    CHECK(plmm_config_load_string(cfg, "[chat]\n", SRC) == PLMM_OK);
    CHECK(plmm_config_get_int(cfg, "engine", "threads", &i) == PLMM_OK && i == 0);
    plmm_config_destroy(cfg);
}

static const plmm_option_schema fake_schema[] = {
    {"threads", PLMM_OPT_INT, 0, "1", 1, 64, NULL, "workers"},
    {"mode", PLMM_OPT_ENUM, 0, "fast", 1, 0, "fast|exact", "kernels"},
    {"verbose", PLMM_OPT_BOOL, 0, "false", 1, 0, NULL, "chatty"},
    {"scale", PLMM_OPT_FLOAT, 0, NULL, 0, 2, NULL, "factor"},
    {"label", PLMM_OPT_STRING, 0, NULL, 1, 0, NULL, "text"},
    {"cache", PLMM_OPT_PATH, 0, NULL, 1, 0, NULL, "dir"},
};
#define N_FAKE ((uint32_t)(sizeof(fake_schema) / sizeof(fake_schema[0])))

static const plmm_option_value *find_opt(const plmm_option_value *v, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

static void expect_plugin_error(int line, const char *text, const char *override, const char *want)
{
    plmm_config *cfg;
    plmm_option_value *v = (plmm_option_value *)1;
    uint32_t n = 99;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg, text, SRC) == PLMM_OK);
    if (override != NULL)
        CHECK(plmm_config_set(cfg, override) == PLMM_OK);
    CHECK(plmm_config_plugin_options(cfg, "backend.fake", fake_schema, N_FAKE, &v, &n) ==
          PLMM_ERR_CONFIG);
    CHECK_MSG(strcmp(plmm_last_errmsg(), want) == 0, "line %d:\n got  '%s'\n want '%s'", line,
              plmm_last_errmsg(), want);
    CHECK(v == NULL && n == 0);
    plmm_config_destroy(cfg);
}

static void test_plugin_sections(void)
{
    plmm_config *cfg;
    plmm_option_value *v;
    uint32_t n;
    const plmm_option_value *o;

    /* defaults only (no configuration) */
    CHECK(plmm_config_plugin_options(NULL, "backend.fake", fake_schema, N_FAKE, &v, &n) == PLMM_OK);
    CHECK(n == 3);
    CHECK((o = find_opt(v, n, "threads")) != NULL && o->type == PLMM_OPT_INT && o->v.i == 1);
    CHECK((o = find_opt(v, n, "mode")) != NULL && strcmp(o->v.s, "fast") == 0);
    CHECK((o = find_opt(v, n, "verbose")) != NULL && o->v.b == false);
    CHECK(find_opt(v, n, "label") == NULL);
    plmm_option_values_free(v);

    /* configured values win, in schema order, strings owned by the array */
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg,
                                  "[backend.fake]\nlabel = hello\nthreads = 3\nverbose = yes\n"
                                  "scale = 1.5\n[backend.other]\nanything = goes\n",
                                  SRC) == PLMM_OK);
    CHECK(plmm_config_set(cfg, "backend.fake.mode=exact") == PLMM_OK);
    CHECK(plmm_config_plugin_options(cfg, "backend.fake", fake_schema, N_FAKE, &v, &n) == PLMM_OK);
    CHECK(n == 5);
    plmm_config_destroy(cfg); /* values stay valid */
    CHECK(strcmp(v[0].key, "threads") == 0 && v[0].v.i == 3);
    CHECK(strcmp(v[1].key, "mode") == 0 && v[1].type == PLMM_OPT_ENUM &&
          strcmp(v[1].v.s, "exact") == 0);
    CHECK(strcmp(v[2].key, "verbose") == 0 && v[2].v.b == true);
    CHECK(strcmp(v[3].key, "scale") == 0 && v[3].v.f == 1.5);
    CHECK(strcmp(v[4].key, "label") == 0 && strcmp(v[4].v.s, "hello") == 0);
    plmm_option_values_free(v);
    plmm_option_values_free(NULL);

    /* errors point at the file line, or the command line */
    expect_plugin_error(__LINE__, "[backend.fake]\nthraeds = 3\n", NULL,
                        SRC
                        ":2: unknown key 'thraeds' in [backend.fake] (did you mean 'threads'?)");
    expect_plugin_error(__LINE__, "[backend.fake]\n\nzzz = 3\n", NULL,
                        SRC ":3: unknown key 'zzz' in [backend.fake]");
    expect_plugin_error(__LINE__, "[backend.fake]\nthreads = 0\n", NULL,
                        SRC ":2: backend.fake.threads: must be between 1 and 64, got 0");
    expect_plugin_error(__LINE__, "[backend.fake]\nmode = slow\n", NULL,
                        SRC ":2: backend.fake.mode: must be one of fast|exact, got 'slow'");
    expect_plugin_error(__LINE__, "[backend.fake]\nverbose = maybe\n", NULL,
                        SRC ":2: backend.fake.verbose: expected true or false, got 'maybe'");
    expect_plugin_error(__LINE__, "[engine]\n", "backend.fake.scale=x",
                        "command line: backend.fake.scale: expected number, got 'x'");

    /* a plugin's broken schema is the plugin's fault */
    static const plmm_option_schema broken[] = {
        {"threads", PLMM_OPT_INT, 0, "100", 1, 64, NULL, "workers"},
    };
    CHECK(plmm_config_plugin_options(NULL, "backend.fake", broken, 1, &v, &n) == PLMM_ERR_PLUGIN);
    CHECK(strcmp(plmm_last_errmsg(), "[backend.fake]: option 'threads' has an invalid default: "
                                     "must be between 1 and 64, got 100") == 0);
    static const plmm_option_schema twice[] = {
        {"a", PLMM_OPT_INT, 0, NULL, 1, 0, NULL, NULL},
        {"a", PLMM_OPT_INT, 0, NULL, 1, 0, NULL, NULL},
    };
    CHECK(plmm_config_plugin_options(NULL, "backend.fake", twice, 2, &v, &n) == PLMM_ERR_PLUGIN);
    CHECK(strcmp(plmm_last_errmsg(), "[backend.fake]: option 'a' is declared twice") == 0);
    CHECK(plmm_config_plugin_options(NULL, "backend.fake", NULL, 0, &v, &n) == PLMM_OK && n == 0 &&
          v == NULL);
}

/* Files: paths relative to the file, errors naming the path. */
static void test_files(void)
{
    char dir[] = "/tmp/plmm-test-config-XXXXXX";
    char path[512], cwd_rel[600], text[1024];
    plmm_config *cfg;
    const char *s;
    plmm_option_value *v;
    uint32_t n;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/plmm.ini", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("[engine]\nmodel = models/m.gguf\nplugin_path = plugins:/abs\n"
          "[backend.fake]\ncache = cache-dir\n",
          f);
    fclose(f);
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_file(cfg, path) == PLMM_OK, "%s", plmm_last_errmsg());
    snprintf(text, sizeof(text), "%s/models/m.gguf", dir);
    CHECK(plmm_config_get_string(cfg, "engine", "model", &s) == PLMM_OK && strcmp(s, text) == 0);
    CHECK(plmm_config_get_string(cfg, "engine", "plugin_path", &s) == PLMM_OK &&
          strcmp(s, "plugins:/abs") == 0);
    CHECK(plmm_config_base_dir(cfg, "engine", "plugin_path") != NULL &&
          strcmp(plmm_config_base_dir(cfg, "engine", "plugin_path"), dir) == 0);
    CHECK(plmm_config_plugin_options(cfg, "backend.fake", fake_schema, N_FAKE, &v, &n) == PLMM_OK);
    snprintf(text, sizeof(text), "%s/cache-dir", dir);
    CHECK(find_opt(v, n, "cache") != NULL && strcmp(find_opt(v, n, "cache")->v.s, text) == 0);
    plmm_option_values_free(v);

    /* an override's relative path stays relative to the working directory */
    CHECK(plmm_config_set(cfg, "engine.model=x.gguf") == PLMM_OK);
    CHECK(plmm_config_get_string(cfg, "engine", "model", &s) == PLMM_OK &&
          strcmp(s, "x.gguf") == 0);

    /* errors name the file; the old content survives */
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("[engine]\nmodel = other.gguf\ncontext = 1\n", f);
        fclose(f);
    }
    CHECK(plmm_config_load_file(cfg, path) == PLMM_ERR_CONFIG);
    snprintf(text, sizeof(text), "%s:3: engine.context: must be between 16 and 1048576, got 1",
             path);
    CHECK_MSG(strcmp(plmm_last_errmsg(), text) == 0, "got '%s'", plmm_last_errmsg());
    CHECK(plmm_config_get_string(cfg, "engine", "model", &s) == PLMM_OK &&
          strcmp(s, "x.gguf") == 0);

    /* a file name without a directory: paths stay relative to the working directory */
    CHECK(getcwd(cwd_rel, sizeof(cwd_rel)) != NULL);
    CHECK(chdir(dir) == 0);
    f = fopen("rel.ini", "w");
    if (f != NULL) {
        fputs("[engine]\nmodel = m.gguf\n", f);
        fclose(f);
    }
    CHECK(plmm_config_load_file(cfg, "rel.ini") == PLMM_OK);
    CHECK(plmm_config_get_string(cfg, "engine", "model", &s) == PLMM_OK &&
          strcmp(s, "m.gguf") == 0);
    CHECK(unlink("rel.ini") == 0);
    CHECK(chdir(cwd_rel) == 0);

    CHECK(plmm_config_load_file(cfg, "/nonexistent/plmm.ini") == PLMM_ERR_IO);
    CHECK(strcmp(plmm_last_errmsg(),
                 "cannot open '/nonexistent/plmm.ini': No such file or directory") == 0);
    CHECK(plmm_config_load_file(cfg, dir) == PLMM_ERR_IO);
    snprintf(text, sizeof(text), "cannot read '%s': Is a directory", dir);
    CHECK_MSG(strcmp(plmm_last_errmsg(), text) == 0, "got '%s'", plmm_last_errmsg());
    plmm_config_destroy(cfg);
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
}

/* The example plmm.ini at the repository root is valid and sets every key
 * of the engine's own sections (so it documents them all). */
static void test_example_file(const char *src)
{
    char path[4096];
    plmm_config *cfg;
    snprintf(path, sizeof(path), "%s/plmm.ini", src);
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_file(cfg, path) == PLMM_OK, "%s", plmm_last_errmsg());
    plmm_config_destroy(cfg);

    /* every key appears in it, commented out or not */
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    text[len] = '\0';
    fclose(f);
    uint32_t n;
    const plmm_config_section_def *defs = plmm_config_schema(&n);
    for (uint32_t s = 0; s < n; s++) {
        for (uint32_t k = 0; k < defs[s].n_keys; k++) {
            char needle[128];
            snprintf(needle, sizeof(needle), "%s = ", defs[s].keys[k].key);
            CHECK_MSG(strstr(text, needle) != NULL, "plmm.ini does not show [%s] %s", defs[s].name,
                      defs[s].keys[k].key);
        }
    }
}

#define BEGIN_MARK "<!-- BEGIN GENERATED: test-config --dump-schema -->\n"
#define END_MARK "<!-- END GENERATED -->"

/* docs/configuration.md holds the generated reference verbatim and so
 * lists every key. */
static void test_docs(const char *src)
{
    char path[4096];
    static char doc[1 << 17];
    snprintf(path, sizeof(path), "%s/docs/configuration.md", src);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (f == NULL)
        return;
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    doc[len] = '\0';
    fclose(f);

    char *ref = NULL;
    size_t ref_len = 0;
    FILE *m = open_memstream(&ref, &ref_len);
    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK(plmm_config_write_reference(m) == PLMM_OK);
    fclose(m);

    const char *b = strstr(doc, BEGIN_MARK);
    const char *e = b != NULL ? strstr(b, END_MARK) : NULL;
    CHECK_MSG(b != NULL && e != NULL,
              "docs/configuration.md lacks the generated-reference markers");
    if (b != NULL && e != NULL) {
        b += strlen(BEGIN_MARK);
        bool same = (size_t)(e - b) == ref_len && memcmp(b, ref, ref_len) == 0;
        CHECK_MSG(same, "docs/configuration.md is out of date: replace the part between the "
                        "markers with the output of `test-config --dump-schema`");
    }

    uint32_t n;
    const plmm_config_section_def *defs = plmm_config_schema(&n);
    for (uint32_t s = 0; s < n; s++) {
        char needle[160];
        snprintf(needle, sizeof(needle), "### `[%s%s]`", defs[s].name,
                 defs[s].keys != NULL ? "" : "NAME");
        const char *at = strstr(doc, needle);
        CHECK_MSG(at != NULL, "docs/configuration.md lacks section %s", needle);
        for (uint32_t k = 0; at != NULL && k < defs[s].n_keys; k++) {
            snprintf(needle, sizeof(needle), "| `%s` |", defs[s].keys[k].key);
            const char *next = strstr(at + 1, "### ");
            const char *hit = strstr(at, needle);
            CHECK_MSG(hit != NULL && (next == NULL || hit < next),
                      "docs/configuration.md does not list [%s] %s", defs[s].name,
                      defs[s].keys[k].key);
        }
    }
    free(ref);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump-schema") == 0)
        return plmm_config_write_reference(stdout) == PLMM_OK ? 0 : 1;
    test_error_classes();
    test_defaults();
    test_values_and_syntax();
    test_overrides();
    test_plugin_sections();
    test_files();
    const char *src = getenv("PLMM_SOURCE_DIR");
    if (src != NULL) {
        test_example_file(src);
        test_docs(src);
    } else {
        printf("PLMM_SOURCE_DIR not set: plmm.ini and docs checks skipped\n");
    }
    return test_summary("config");
}
