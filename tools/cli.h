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
    int id;           /* > 0, unique within a command (common ids are < 100) */
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
    OPT_COMMON_END = 100 /* command ids start here */
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

/* Open the engine with the common options (logging to stderr). Returns an
 * exit code; on success *out is set. */
int cli_open_engine(const cli_common *c, plmm_engine **out);

/* Open the engine and load the model (-m, else [engine] model). */
int cli_open_model(const cli_common *c, plmm_engine **engine, plmm_model **model);

/* Print "plmm: error: <status>: <detail>" and return CLI_EXIT_ERROR. */
int cli_api_error(plmm_status st);

/* Print "plmm: error: MESSAGE" and return CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) PLMM_PRINTF(1, 2);

/* ---- text helpers ---- */

/* Read a whole file ("-" = stdin). *out is NUL-terminated, free with free().
 * Returns an exit code (errors printed). */
int cli_read_file(const char *path, char **out, size_t *len);

/* Get the prompt text from -p TEXT (TEXT "-" = stdin) or -f FILE. Checks
 * that it is valid UTF-8 and, unless allow_empty, not empty. *owned
 * receives memory to free() (NULL when *text points into argv). Returns an
 * exit code. */
int cli_prompt_text(const char *p_arg, const char *f_arg, bool allow_empty, const char **text,
                    size_t *len, char **owned);

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

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_backends(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
