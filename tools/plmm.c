/*
 * plmm — command-line program: command dispatch, the options every command
 * shares and engine/model setup. Uses only the public API (plmm/plmm.h).
 */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- commands ---- */

typedef struct command_entry {
    const cli_command *desc;
    int (*fn)(int argc, char **argv);
} command_entry;

static const command_entry commands[] = {
    {&cmd_run_desc, cmd_run},       {&cmd_chat_desc, cmd_chat}, {&cmd_tokenize_desc, cmd_tokenize},
    {&cmd_logits_desc, cmd_logits}, {&cmd_info_desc, cmd_info}, {&cmd_backends_desc, cmd_backends},
    {&cmd_bench_desc, cmd_bench},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *out)
{
    fprintf(out, "usage: plmm COMMAND [OPTIONS]\n\n"
                 "plmm runs a personal language model (GGUF) on pluggable backends.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].desc->name, commands[i].desc->summary);
    fprintf(out, "\n'plmm COMMAND --help' describes a command and its options.\n"
                 "'plmm --version' prints the version.\n");
}

static const command_entry *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].desc->name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("plmm %s\n", plmm_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            print_usage(stdout);
            return CLI_EXIT_OK;
        }
        const command_entry *c = find_command(argv[2]);
        if (c == NULL) {
            fprintf(stderr, "plmm: unknown command '%s' (see 'plmm --help')\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        cli_print_help(c->desc);
        return CLI_EXIT_OK;
    }
    const command_entry *c = find_command(name);
    if (c == NULL) {
        fprintf(stderr, "plmm: unknown command '%s' (see 'plmm --help')\n", name);
        return CLI_EXIT_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}

/* ---- common options ---- */

void cli_common_init(cli_common *c)
{
    memset(c, 0, sizeof(*c));
}

void cli_common_free(cli_common *c)
{
    for (size_t i = 0; i < c->n_overrides; i++)
        free(c->overrides[i]);
    free(c->overrides);
    memset(c, 0, sizeof(*c));
}

/* Append "key=value" (value NULL: key holds the whole override). */
static bool add_override(cli_common *c, const char *key, const char *value)
{
    if (c->n_overrides == c->cap_overrides) {
        size_t cap = c->cap_overrides ? c->cap_overrides * 2 : 8;
        char **p = realloc(c->overrides, cap * sizeof(*p));
        if (p == NULL)
            return false;
        c->overrides = p;
        c->cap_overrides = cap;
    }
    size_t n = strlen(key) + (value != NULL ? strlen(value) + 2 : 1);
    char *s = malloc(n);
    if (s == NULL)
        return false;
    if (value != NULL)
        snprintf(s, n, "%s=%s", key, value);
    else
        memcpy(s, key, n);
    c->overrides[c->n_overrides++] = s;
    return true;
}

/* The model override as an absolute path: relative paths in the
 * configuration are resolved against the INI file's folder, while a path
 * on the command line is relative to the working directory. */
static bool add_model_override(cli_common *c, const char *path)
{
    if (path[0] == '/')
        return add_override(c, "engine.model", path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return add_override(c, "engine.model", path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *abs = malloc(n);
    if (abs == NULL)
        return false;
    snprintf(abs, n, "%s/%s", cwd, path);
    bool ok = add_override(c, "engine.model", abs);
    free(abs);
    return ok;
}

int cli_common_opt(cli_common *c, const cli_command *cmd, const cli_opt *o, const char *val,
                   int *code)
{
    int64_t n;
    bool ok = true;
    *code = CLI_EXIT_USAGE;
    switch (o->id) {
    case OPT_HELP:
        cli_print_help(cmd);
        c->help = true;
        *code = CLI_EXIT_OK;
        return -1;
    case OPT_CONFIG:
        c->config_path = val;
        return 1;
    case OPT_MODEL:
        if (val[0] == '\0') {
            cli_usage_error(cmd, "option '-m/--model' needs a file name");
            return -1;
        }
        c->model_path = val;
        ok = add_model_override(c, val);
        break;
    case OPT_THREADS:
        if (!cli_parse_i64(cmd, o, val, 0, INT32_MAX, &n))
            return -1;
        c->threads = val;
        ok = add_override(c, "engine.threads", val);
        break;
    case OPT_BACKENDS:
        c->backends = val;
        ok = add_override(c, "engine.backends", val);
        break;
    case OPT_CTX:
        if (!cli_parse_i64(cmd, o, val, 1, INT32_MAX, &n))
            return -1;
        c->ctx = (int)n;
        ok = add_override(c, "engine.context", val);
        break;
    case OPT_KV_TYPE:
        if (strcmp(val, "f16") != 0 && strcmp(val, "f32") != 0) {
            cli_usage_error(cmd, "option '--kv-type' must be f16 or f32, not '%s'", val);
            return -1;
        }
        ok = add_override(c, "engine.kv_type", val);
        break;
    case OPT_SET: {
        const char *eq = strchr(val, '=');
        const char *dot = strchr(val, '.');
        if (eq == NULL || dot == NULL || dot > eq || dot == val || dot + 1 == eq) {
            cli_usage_error(cmd, "option '--set' needs SECTION.KEY=VALUE, not '%s'", val);
            return -1;
        }
        if (strncmp(val, "engine.threads=", 15) == 0)
            c->threads = val + 15;
        else if (strncmp(val, "engine.backends=", 16) == 0)
            c->backends = val + 16;
        ok = add_override(c, val, NULL);
        break;
    }
    case OPT_VERBOSE:
        c->verbose++;
        return 1;
    default:
        return 0;
    }
    if (!ok) {
        *code = cli_error("out of memory");
        return -1;
    }
    return 1;
}

/* ---- engine setup ---- */

static void log_to_stderr(void *user, int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)user;
    const char *name = level >= 0 && level <= PLMM_LOG_DEBUG ? names[level] : "log";
    fprintf(stderr, "plmm: %s: %s\n", name, msg);
}

int cli_open_engine(const cli_common *c, plmm_engine **out)
{
    plmm_engine_params params;
    memset(&params, 0, sizeof(params));
    params.struct_size = sizeof(params);
    params.config_path = c->config_path;
    params.overrides = (const char *const *)c->overrides;
    params.n_overrides = (uint32_t)c->n_overrides;
    params.log = log_to_stderr;
    params.log_user = NULL;
    /* -v: debug; otherwise [engine] log_level decides (default warn). */
    params.log_level = c->verbose > 0 ? PLMM_LOG_DEBUG : -1;
    *out = NULL;
    plmm_status st = plmm_engine_open(&params, out);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_open_model(const cli_common *c, plmm_engine **engine, plmm_model **model)
{
    *model = NULL;
    int code = cli_open_engine(c, engine);
    if (code != CLI_EXIT_OK)
        return code;
    plmm_status st = plmm_model_load(*engine, c->model_path, model);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        plmm_engine_close(*engine);
        *engine = NULL;
        return code;
    }
    return CLI_EXIT_OK;
}
