/*
 * plmm update: check for, install, list and roll back signed expert
 * bundles; distill a knowledge pack from the T-model.
 */
#include "cli.h"
#include "plmm/update.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
    OPT_SOURCE = OPT_CMD_START,
    OPT_EXPERT,
    OPT_QUESTIONS,
    OPT_KEY,
    OPT_OUT,
    OPT_VERSION,
    OPT_EXPIRES,
    OPT_TMODEL,
};

static const cli_opt update_opts[] = {
    {OPT_SOURCE, 's', "source", "SRC",
     "bundle source: a directory or http(s)://HOST:PORT/v1/bundles (default [update] source)"},
    {OPT_EXPERT, 0, "expert", "NAME", "distill: the expert the knowledge pack is for"},
    {OPT_QUESTIONS, 0, "questions", "FILE", "distill: questions, one per line"},
    {OPT_KEY, 'k', "key", "FILE", "distill: publisher secret key to sign with (repeatable)"},
    {OPT_OUT, 'o', "out", "DIR",
     "distill: bundle directory to write (publish it with plmm-sign publish)"},
    {OPT_VERSION, 0, "version", "N", "distill: bundle version (higher than any before)"},
    {OPT_EXPIRES, 0, "expires-days", "N", "distill: days until the manifest expires (default 30)"},
    {OPT_TMODEL, 0, "tmodel", "SECTION", "distill: connector section to ask (default tmodel)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_update_desc = {
    .name = "update",
    .summary = "Install and roll back signed expert bundles; distill knowledge packs.",
    .synopsis = "check [EXPERT] [-s SRC] | install|rollback EXPERT [-s SRC] | list | "
                "distill --expert NAME --questions FILE -k KEY -o DIR --version N",
    .details = "Bundles are verified against the trusted root ([update] root): a threshold of\n"
               "signatures, an unexpired manifest, a version not older than any installed\n"
               "before, and every file's size and SHA-256. Versions are installed beside each\n"
               "other under [update] experts_dir and switched with one rename; 'rollback'\n"
               "switches back to the previous one. See docs/updates.md.",
    .opts = update_opts,
    .needs_model = false,
};

#define MAX_KEYS 8

typedef struct update_args {
    const char *sub, *expert, *source, *questions, *out, *tmodel;
    const char *keys[MAX_KEYS];
    uint32_t n_keys;
    int64_t version, expires_days;
} update_args;

/* Default directory under $XDG_DATA_HOME/plmm (or ~/.local/share/plmm). */
static int data_dir(char *out, size_t size, const char *leaf)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "%s/plmm/%s", xdg, leaf);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, size, "%s/.local/share/plmm/%s", home, leaf);
    else
        return cli_error("set [update] experts_dir (no $HOME or $XDG_DATA_HOME)");
    return n > 0 && (size_t)n < size ? CLI_EXIT_OK : cli_error("path too long");
}

static const char *cfg(cli_ctx *x, const char *key)
{
    const char *v = NULL;
    if (plmm_engine_config_get(x->engine, key, &v) != PLMM_OK || v == NULL || v[0] == '\0')
        return NULL;
    return v;
}

/* dir (PATH_MAX bytes) receives the experts directory. */
static int open_updater(cli_ctx *x, plmm_updater **u, char *dir)
{
    plmm_updater_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.root_path = cfg(x, "update.root");
    p.install_dir = cfg(x, "update.experts_dir");
    p.ca_file = cfg(x, "update.ca_file");
    if (p.install_dir == NULL) {
        int code = data_dir(dir, PATH_MAX, "experts");
        if (code != CLI_EXIT_OK)
            return code;
        p.install_dir = dir;
    } else {
        snprintf(dir, PATH_MAX, "%s", p.install_dir);
    }
    plmm_status st = plmm_updater_open(&p, u);
    return st == PLMM_OK ? CLI_EXIT_OK : cli_api_error(st);
}

/* check without an EXPERT: every expert installed in dir. */
static int check_all(plmm_updater *u, const char *source, const char *dir)
{
    DIR *d = opendir(dir);
    int code = CLI_EXIT_OK, n = 0;
    if (d == NULL) {
        printf("no experts installed in %s\n", dir);
        return CLI_EXIT_OK;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char cur[PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.' ||
            snprintf(cur, sizeof(cur), "%s/%s/current", dir, e->d_name) >= (int)sizeof(cur) ||
            lstat(cur, &sb) != 0)
            continue;
        char *report = NULL;
        uint64_t avail = 0, inst = 0;
        plmm_status st = plmm_updater_check(u, source, e->d_name, &avail, &inst, &report);
        if (st == PLMM_OK)
            fputs(report, stdout);
        else
            code = cli_api_error(st); /* reported; the others are still checked */
        plmm_free(report);
        n++;
    }
    closedir(d);
    if (n == 0)
        printf("no experts installed in %s\n", dir);
    return code;
}

static int run_distill(cli_ctx *x, const update_args *a)
{
    if (a->expert == NULL || a->questions == NULL || a->out == NULL || a->n_keys == 0 ||
        a->version <= 0)
        return cli_usage_error(&cmd_update_desc, "distill needs --expert, --questions, -k KEY, "
                                                 "-o DIR and --version N");
    int64_t expires = (int64_t)time(NULL) + a->expires_days * 86400;
    plmm_status st =
        plmm_pack_distill(x->engine, a->tmodel ? a->tmodel : "tmodel", a->out, a->expert,
                          (uint64_t)a->version, expires, a->questions, a->keys, a->n_keys);
    if (st != PLMM_OK)
        return cli_api_error(st);
    printf("wrote knowledge pack %s/files/knowledge.jsonl and signed manifest %s/manifest.json "
           "(expert %s, version %lld)\n",
           a->out, a->out, a->expert, (long long)a->version);
    return CLI_EXIT_OK;
}

static int run(cli_ctx *x, const update_args *a)
{
    plmm_updater *u = NULL;
    char *report = NULL;
    uint64_t v = 0, avail = 0, inst = 0;
    plmm_status st = PLMM_OK;
    int code = cli_open_engine(x);
    if (code != CLI_EXIT_OK)
        return code;
    if (strcmp(a->sub, "distill") == 0)
        return run_distill(x, a);
    bool needs_expert = strcmp(a->sub, "list") != 0 && strcmp(a->sub, "check") != 0;
    if (needs_expert && a->expert == NULL)
        return cli_usage_error(&cmd_update_desc, "'update %s' needs an EXPERT", a->sub);
    const char *source = a->source ? a->source : cfg(x, "update.source");
    if ((strcmp(a->sub, "check") == 0 || strcmp(a->sub, "install") == 0) && source == NULL)
        return cli_usage_error(&cmd_update_desc, "no bundle source: give -s SRC or set [update] "
                                                 "source");
    char dir[PATH_MAX];
    if ((code = open_updater(x, &u, dir)) != CLI_EXIT_OK)
        return code;
    if (strcmp(a->sub, "check") == 0 && a->expert == NULL) {
        code = check_all(u, source, dir);
        plmm_updater_close(u);
        return code;
    }
    if (strcmp(a->sub, "check") == 0) {
        st = plmm_updater_check(u, source, a->expert, &avail, &inst, &report);
        if (st == PLMM_OK)
            fputs(report, stdout);
    } else if (strcmp(a->sub, "install") == 0) {
        st = plmm_updater_install(u, source, a->expert, &v);
        if (st == PLMM_OK)
            printf("%s: version %llu installed and current\n", a->expert, (unsigned long long)v);
    } else if (strcmp(a->sub, "rollback") == 0) {
        st = plmm_updater_rollback(u, a->expert, &v);
        if (st == PLMM_OK)
            printf("%s: rolled back to version %llu\n", a->expert, (unsigned long long)v);
    } else {
        st = plmm_updater_list(u, &report);
        if (st == PLMM_OK)
            fputs(report, stdout);
    }
    plmm_free(report);
    plmm_updater_close(u);
    return st == PLMM_OK ? CLI_EXIT_OK : cli_api_error(st);
}

int cmd_update(int argc, char **argv)
{
    update_args a;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE, skip = 0;
    memset(&a, 0, sizeof(a));
    a.expires_days = 30;
    /* update SUB [EXPERT] [options] */
    if (argc >= 2 && argv[1][0] != '-') {
        a.sub = argv[1];
        skip = 1;
        if (argc >= 3 && argv[2][0] != '-') {
            a.expert = argv[2];
            skip = 2;
        }
    }
    cli_ctx_init(&x, &cmd_update_desc, argc - skip, argv + skip);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        switch (o->id) {
        case OPT_SOURCE:
            a.source = v;
            break;
        case OPT_EXPERT:
            a.expert = v;
            break;
        case OPT_QUESTIONS:
            a.questions = v;
            break;
        case OPT_KEY:
            if (a.n_keys == MAX_KEYS) {
                code = cli_usage_error(&cmd_update_desc, "at most %d keys", MAX_KEYS);
                goto out;
            }
            a.keys[a.n_keys++] = v;
            break;
        case OPT_OUT:
            a.out = v;
            break;
        case OPT_VERSION:
            if (!cli_parse_i64(&cmd_update_desc, o, v, 1, INT64_MAX, &a.version))
                goto out;
            break;
        case OPT_EXPIRES:
            if (!cli_parse_i64(&cmd_update_desc, o, v, 1, 36500, &a.expires_days))
                goto out;
            break;
        case OPT_TMODEL:
            a.tmodel = v;
            break;
        }
    }
    if (r < 0)
        goto out;
    if (a.sub == NULL || (strcmp(a.sub, "check") != 0 && strcmp(a.sub, "install") != 0 &&
                          strcmp(a.sub, "list") != 0 && strcmp(a.sub, "rollback") != 0 &&
                          strcmp(a.sub, "distill") != 0)) {
        code = cli_usage_error(&cmd_update_desc,
                               "expected check, install, list, rollback or distill%s%s%s",
                               a.sub ? ", not '" : "", a.sub ? a.sub : "", a.sub ? "'" : "");
        goto out;
    }
    code = run(&x, &a);
out:
    cli_ctx_close(&x);
    return code;
}
