/*
 * plmm command-line program: option parsing and the helpers every command
 * shares (engine/model/session setup, error reporting, reading prompts).
 *
 * Exit codes: 0 success, 1 an API or I/O error ("plmm: error: ..."), 2 a
 * usage error ("plmm CMD: ...; see 'plmm CMD --help'").
 */
#ifndef PLMM_TOOLS_CLI_H
#define PLMM_TOOLS_CLI_H

#include "plmm/plmm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/* ---- option tables ---- */

/* One option of a command. Tables end with an entry whose id is 0. */
typedef struct cli_opt {
    int id;           /* > 0, unique within a command (common and shared ids are < 200) */
    char short_name;  /* 'p' for -p, 0 for none */
    const char *name; /* "temp" for --temp, NULL for none */
    const char *arg;  /* metavariable ("N", "FILE"), NULL for a flag */
    const char *help;
} cli_opt;

/* A command: its name, a one-line summary, the synopsis and its own options. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    const char *synopsis; /* after "plmm NAME " */
    const char *details;  /* extra paragraph for --help, may be NULL */
    const cli_opt *opts;  /* command-specific options (common ones are added) */
    bool needs_model;     /* -m/-c are meaningful (all engine options are accepted anyway) */
} cli_command;

/* Options every command accepts. */
enum {
    OPT_HELP = 1,
    OPT_CONFIG,
    OPT_MODEL,
    OPT_THREADS,
    OPT_BACKENDS,
    OPT_CTX,
    OPT_KV_TYPE,
    OPT_SET,
    OPT_VERBOSE,
    OPT_COMMON_END = 100
};

/* Options some commands share: they list them in their own tables and
 * cli_ctx_next() handles them. */
enum {
    OPT_PROMPT = OPT_COMMON_END, /* into cli_ctx.prompt */
    OPT_FILE,
    OPT_TEMP, /* into cli_ctx.sampling */
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_REPEAT_PENALTY,
    OPT_SEED,
    OPT_CMD_START = 200 /* command ids start here */
};

/* Iterates over argv[1..argc-1] (argv[0] is the command name). */
typedef struct cli_parser {
    const cli_command *cmd;
    int argc;
    char **argv;
    int i;
} cli_parser;

void cli_parser_init(cli_parser *p, const cli_command *cmd, int argc, char **argv);

/* Next option: 1 with *opt and *val (NULL for flags) set, 0 at the end of
 * the arguments, -1 after printing a usage error (unknown option, missing
 * value, unexpected argument). */
int cli_next(cli_parser *p, const cli_opt **opt, const char **val);

/* Print "plmm CMD: MESSAGE" and a hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) PLMM_PRINTF(2, 3);

/* Print the help of a command to stdout. */
void cli_print_help(const cli_command *cmd);

/* Spelling of an option as the user may have written it ("-n/--n-predict"). */
const char *cli_opt_label(const cli_opt *o, char *buf, size_t size);

/* Parse numbers; on failure print a usage error naming the option and
 * return false. Integers must be whole decimal numbers in [min, max]. */
bool cli_parse_i64(const cli_command *cmd, const cli_opt *o, const char *s, int64_t min,
                   int64_t max, int64_t *out);
bool cli_parse_u64(const cli_command *cmd, const cli_opt *o, const char *s, uint64_t *out);
bool cli_parse_float(const cli_command *cmd, const cli_opt *o, const char *s, float *out);

/* ---- common options and engine setup ---- */

typedef struct cli_common {
    const char *config_path;
    const char *model_path; /* -m, also passed as the engine.model override */
    char **overrides;       /* owned "section.key=value" strings */
    size_t n_overrides;
    size_t cap_overrides;
    int verbose;
    int ctx;              /* --ctx value, 0 when not given */
    const char *threads;  /* -t or --set engine.threads value, NULL when not given */
    const char *backends; /* --backends or --set engine.backends value, or NULL */
    bool help;
} cli_common;

void cli_common_init(cli_common *c);
void cli_common_free(cli_common *c);

/* Handle a common option: 1 if handled, 0 if o is not a common option,
 * -1 after a usage error (or out of memory, with exit code 1 in *code). */
int cli_common_opt(cli_common *c, const cli_command *cmd, const cli_opt *o, const char *val,
                   int *code);

/* ---- command context ---- */

typedef struct cli_prompt cli_prompt;
typedef struct cli_sampling cli_sampling;

/* What a command holds from start to end: its arguments, the common options
 * and the handles it opens (owned, closed by cli_ctx_close()). */
typedef struct cli_ctx {
    cli_parser parser;
    cli_common common;
    cli_prompt *prompt;     /* (optional, borrowed) receives -p and -f */
    cli_sampling *sampling; /* (optional, borrowed) receives the sampling options */
    plmm_engine *engine;
    plmm_model *model;
    plmm_session *session;
} cli_ctx;

void cli_ctx_init(cli_ctx *x, const cli_command *cmd, int argc, char **argv);

/* Next command-specific option: cli_next() with the common options handled
 * by cli_common_opt() and the shared ones stored in x->prompt and
 * x->sampling. 1 with *opt and *val set, 0 at the end of the arguments, -1
 * when the command must stop (usage error, --help, out of memory) with its
 * exit code in *code. */
int cli_ctx_next(cli_ctx *x, const cli_opt **opt, const char **val, int *code);

/* Close the session, model and engine and free the common options. */
void cli_ctx_close(cli_ctx *x);

/* The functions below return an exit code (errors printed). */

/* Open x->engine with the common options (logging to stderr). */
int cli_open_engine(cli_ctx *x);

/* Open x->engine and load x->model (-m, else [engine] model). */
int cli_open_model(cli_ctx *x);

/* Create x->session for x->model with the configuration's settings. */
int cli_open_session(cli_ctx *x);

/* Describe the model into *desc. */
int cli_describe_model(const plmm_model *model, plmm_model_desc *desc);

/* Sampling options given on the command line; the flags say which fields of
 * s were given (the others keep the configuration's [sampling] values). */
struct cli_sampling {
    plmm_sampling s;
    bool temp, top_k, top_p, min_p, repeat_penalty, seed;
};

/* Give x->session the configuration's sampling settings with the options in
 * *opts applied. */
int cli_set_sampling(cli_ctx *x, const cli_sampling *opts);

/* Print "plmm: error: <status>: <detail>" and return CLI_EXIT_ERROR. */
int cli_api_error(plmm_status st);

/* Print "plmm: error: MESSAGE" and return CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) PLMM_PRINTF(1, 2);

/* Move the arguments that are not options or option values (and all after
 * "--") of argv[1..*argc-1] into pos (at most max_pos, *n_pos of them),
 * leaving the options in argv for cli_ctx_init (*argc updated). Returns an
 * exit code (a usage error for more than max_pos). */
int cli_take_positional(const cli_command *cmd, int *argc, char **argv, const char **pos,
                        int max_pos, int *n_pos);

/* ---- text helpers ---- */

/* Read a whole file ("-" = stdin). *out is NUL-terminated, free with free().
 * Returns an exit code (errors printed). */
int cli_read_file(const char *path, char **out, size_t *len);

/* A prompt given as -p TEXT (TEXT "-" = stdin) or -f FILE, and its tokens.
 * Zero it and point cli_ctx.prompt at it (or set p_arg and f_arg); free with
 * cli_prompt_free(). */
struct cli_prompt {
    const char *p_arg, *f_arg; /* the options as given, NULL when absent */
    const char *text;          /* len bytes of valid UTF-8, into argv or owned */
    size_t len;
    char *owned;  /* text read from a file or stdin (free()), or NULL */
    int32_t *ids; /* (n_ids) tokens (free()) */
    size_t n_ids;
};

void cli_prompt_free(cli_prompt *pr);

/* Check that exactly one of -p and -f was given; else print a usage error
 * ("a NOUN is required (-p or -f)", "give either -p or -f, not both").
 * Returns an exit code. */
int cli_prompt_args(const cli_command *cmd, const cli_prompt *pr, const char *noun);

/* Read the prompt text, open x's engine and model (cli_open_model()) and
 * tokenize the text with flags. Unless allow_empty, an empty text and a text
 * with no tokens are errors. Returns an exit code. */
int cli_open_prompt(cli_ctx *x, cli_prompt *pr, bool allow_empty, uint32_t flags);

/* Offset of the first byte that is not part of valid UTF-8, or len. */
size_t cli_utf8_invalid_at(const char *s, size_t len);

/* Tokenize text into a malloc'd array (free()). Returns an exit code. */
int cli_tokenize(const plmm_model *m, const char *text, size_t len, uint32_t flags, int32_t **ids,
                 size_t *n);

/* Monotonic time in milliseconds. */
double cli_now_ms(void);

/* ---- commands ---- */

extern const cli_command cmd_run_desc, cmd_chat_desc, cmd_tokenize_desc, cmd_logits_desc,
    cmd_info_desc, cmd_backends_desc, cmd_bench_desc;
extern const cli_command cmd_vault_desc, cmd_audit_desc;
extern const cli_command cmd_serve_desc;
extern const cli_command cmd_ask_desc, cmd_experts_desc;
extern const cli_command cmd_update_desc, cmd_ledger_desc;

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_backends(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_vault(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_experts(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_ledger(int argc, char **argv);

#endif
