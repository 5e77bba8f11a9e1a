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
    {&cmd_vault_desc, cmd_vault},
    {&cmd_audit_desc, cmd_audit},
    {&cmd_serve_desc, cmd_serve},
    {&cmd_ask_desc, cmd_ask},
    {&cmd_experts_desc, cmd_experts},
    {&cmd_update_desc, cmd_update},
    {&cmd_ledger_desc, cmd_ledger},
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

/* ---- command context ---- */

void cli_ctx_init(cli_ctx *x, const cli_command *cmd, int argc, char **argv)
{
    memset(x, 0, sizeof(*x));
    cli_parser_init(&x->parser, cmd, argc, argv);
    cli_common_init(&x->common);
}

/* A sampling option into *sf: 1 if handled, 0 if o is not one, -1 after a
 * usage error. */
static int sampling_opt(cli_sampling *sf, const cli_command *cmd, const cli_opt *o, const char *val)
{
    int64_t n;
    bool ok;
    switch (o->id) {
    case OPT_TEMP:
        ok = sf->temp = cli_parse_float(cmd, o, val, &sf->s.temperature);
        break;
    case OPT_TOP_K:
        ok = sf->top_k = cli_parse_i64(cmd, o, val, 0, INT32_MAX, &n);
        if (ok)
            sf->s.top_k = (int32_t)n;
        break;
    case OPT_TOP_P:
        ok = sf->top_p = cli_parse_float(cmd, o, val, &sf->s.top_p);
        break;
    case OPT_MIN_P:
        ok = sf->min_p = cli_parse_float(cmd, o, val, &sf->s.min_p);
        break;
    case OPT_REPEAT_PENALTY:
        ok = sf->repeat_penalty = cli_parse_float(cmd, o, val, &sf->s.repeat_penalty);
        break;
    case OPT_SEED:
        ok = sf->seed = cli_parse_u64(cmd, o, val, &sf->s.seed);
        break;
    default:
        return 0;
    }
    return ok ? 1 : -1;
}

/* A shared option into x->prompt or x->sampling: like sampling_opt(). */
static int shared_opt(cli_ctx *x, const cli_opt *o, const char *val)
{
    if (x->prompt != NULL && o->id == OPT_PROMPT) {
        x->prompt->p_arg = val;
        return 1;
    }
    if (x->prompt != NULL && o->id == OPT_FILE) {
        x->prompt->f_arg = val;
        return 1;
    }
    return x->sampling != NULL ? sampling_opt(x->sampling, x->parser.cmd, o, val) : 0;
}

int cli_ctx_next(cli_ctx *x, const cli_opt **opt, const char **val, int *code)
{
    int r;
    while ((r = cli_next(&x->parser, opt, val)) > 0) {
        int h = cli_common_opt(&x->common, x->parser.cmd, *opt, *val, code);
        if (h == 0)
            h = shared_opt(x, *opt, *val);
        if (h < 0)
            return -1;
        if (h == 0)
            return 1;
    }
    if (r < 0)
        *code = CLI_EXIT_USAGE;
    return r;
}

void cli_ctx_close(cli_ctx *x)
{
    plmm_session_free(x->session);
    plmm_model_free(x->model);
    plmm_engine_close(x->engine);
    cli_common_free(&x->common);
    x->session = NULL;
    x->model = NULL;
    x->engine = NULL;
}

/* ---- engine setup ---- */

static void log_to_stderr(void *user, int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)user;
    const char *name = level >= 0 && level <= PLMM_LOG_DEBUG ? names[level] : "log";
    fprintf(stderr, "plmm: %s: %s\n", name, msg);
}

int cli_open_engine(cli_ctx *x)
{
    const cli_common *c = &x->common;
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
    x->engine = NULL;
    plmm_status st = plmm_engine_open(&params, &x->engine);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_open_model(cli_ctx *x)
{
    x->model = NULL;
    int code = cli_open_engine(x);
    if (code != CLI_EXIT_OK)
        return code;
    plmm_status st = plmm_model_load(x->engine, x->common.model_path, &x->model);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        plmm_engine_close(x->engine);
        x->engine = NULL;
        return code;
    }
    return CLI_EXIT_OK;
}

int cli_describe_model(const plmm_model *model, plmm_model_desc *desc)
{
    memset(desc, 0, sizeof(*desc));
    desc->struct_size = sizeof(*desc);
    plmm_status st = plmm_model_describe(model, desc);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_open_session(cli_ctx *x)
{
    plmm_status st = plmm_session_create(x->model, NULL, &x->session);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

int cli_set_sampling(cli_ctx *x, const cli_sampling *opts)
{
    plmm_sampling smp;
    plmm_sampling_defaults(x->engine, &smp);
    smp.struct_size = sizeof(smp);
    if (opts->temp)
        smp.temperature = opts->s.temperature;
    if (opts->top_k)
        smp.top_k = opts->s.top_k;
    if (opts->top_p)
        smp.top_p = opts->s.top_p;
    if (opts->min_p)
        smp.min_p = opts->s.min_p;
    if (opts->repeat_penalty)
        smp.repeat_penalty = opts->s.repeat_penalty;
    if (opts->seed)
        smp.seed = opts->s.seed;
    plmm_status st = plmm_session_set_sampling(x->session, &smp);
    if (st != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}
