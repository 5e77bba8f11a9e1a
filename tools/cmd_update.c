/*
 * plmm update: check for, install, list and roll back signed expert
 * bundles; distill a knowledge pack from the T-model.
 */
#include "cli.h"
#include "plmm/ledger.h"
#include "plmm/update.h"
#include "plmm/vault.h"
#include "privacy_cli.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    OPT_SOURCE = OPT_CMD_START,
    OPT_EXPERT,
    OPT_QUESTIONS,
    OPT_KEY,
    OPT_OUT,
    OPT_VERSION,
    OPT_EXPIRES,
    OPT_TMODEL,
    OPT_CONSENT,
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
    {OPT_CONSENT, 0, "consent", NULL,
     "distill without --questions: consent to reading the vault's history (or [update] "
     "distill_consent = true)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_update_desc = {
    .name = "update",
    .summary = "Install and roll back signed expert bundles; distill knowledge packs.",
    .synopsis = "check [EXPERT] [-s SRC] | install|rollback EXPERT [-s SRC] | list | "
                "distill --expert NAME [--questions FILE | --consent] -k KEY -o DIR --version N",
    .details = "Bundles are verified against the trusted root ([update] root): a threshold of\n"
               "signatures, an unexpired manifest, a version not older than any installed\n"
               "before, and every file's size and SHA-256. Versions are installed beside each\n"
               "other under [update] experts_dir and switched with one rename; 'rollback'\n"
               "switches back to the previous one. 'distill' asks the T-model ([tmodel]) the\n"
               "questions of a file, or without --questions the ones the expert was weak on\n"
               "in the vault's history (low confidence or a ':-1' rating in the ledger), with\n"
               "the user's consent; questions are pseudonymized as [tmodel] share says and\n"
               "the answers restored locally. See docs/updates.md.",
    .opts = update_opts,
    .needs_model = false,
};

#define MAX_KEYS 8

typedef struct update_args {
    const char *sub, *expert, *source, *questions, *out, *tmodel;
    const char *keys[MAX_KEYS];
    uint32_t n_keys;
    int64_t version, expires_days;
    bool consent;
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

static bool truthy(const char *v)
{
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 ||
                         strcmp(v, "1") == 0);
}

/* The weak questions of the expert from the vault's history (owned in
 * *questions), negative ratings taken from the ledger. */
static int history_questions(cli_ctx *x, const update_args *a, plmm_vault *vault, char **questions,
                             size_t *n)
{
    plmm_ledger *l = NULL;
    char *path = NULL, *device = NULL, *key_file = NULL;
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    uint32_t source = PLMM_LEDGER_KEY_FILE;
    plmm_status st = plmm_ledger_config_paths(x->engine, &path, &device, &key_file);
    if (st == PLMM_OK)
        st = plmm_ledger_config_key_source(x->engine, &source);
    if (st == PLMM_OK && source == PLMM_LEDGER_KEY_VAULT)
        st = plmm_ledger_vault_key(vault, key);
    if (st == PLMM_OK && access(path, F_OK) == 0) {
        plmm_ledger_params lp = {.struct_size = sizeof(lp),
                                 .path = path,
                                 .device_key_path = device,
                                 .key = source == PLMM_LEDGER_KEY_VAULT ? key : NULL,
                                 .key_path = source == PLMM_LEDGER_KEY_VAULT ? NULL : key_file};
        st = plmm_ledger_open(&lp, &l);
    }
    explicit_bzero(key, sizeof(key));
    if (st == PLMM_OK)
        st = plmm_distill_select(vault, l, a->expert, questions, n);
    plmm_ledger_close(l);
    plmm_free(path);
    plmm_free(device);
    plmm_free(key_file);
    return st == PLMM_OK ? CLI_EXIT_OK : cli_api_error(st);
}

static int run_distill(cli_ctx *x, const update_args *a)
{
    if (a->expert == NULL || a->out == NULL || a->n_keys == 0 || a->version <= 0)
        return cli_usage_error(&cmd_update_desc, "distill needs --expert, --questions FILE or "
                                                 "--consent, -k KEY, -o DIR and --version N");
    int64_t expires = (int64_t)time(NULL) + a->expires_days * 86400;
    plmm_distill_params p = {
        .struct_size = sizeof(p),
        .n_keys = a->n_keys,
        .section = a->tmodel ? a->tmodel : "tmodel",
        .bundle_dir = a->out,
        .expert = a->expert,
        .version = (uint64_t)a->version,
        .expires = expires,
        .questions_path = a->questions,
        .secret_key_paths = a->keys,
    };
    plmm_vault *vault = NULL;
    char *questions = NULL, audit[4096];
    size_t n = 0;
    int code = CLI_EXIT_OK;
    bool history = a->questions == NULL;
    if (history && !a->consent && !truthy(cfg(x, "update.distill_consent")))
        return cli_error("distill from the history needs your consent: the questions the expert "
                         "was weak on are read from the vault and sent (pseudonymized) to the "
                         "T-model; give --consent or set [update] distill_consent = true "
                         "(or give --questions FILE)");
    /* the vault: the values to pseudonymize, and the history */
    cli_secret sec = {.env_name = "PLMM_VAULT_PASSPHRASE", .prompt = "vault passphrase: "};
    char vpath[4096];
    cli_no_core_dumps();
    if (history || (cli_privacy_path(x, NULL, "privacy.vault", "vault.plmm", false, vpath,
                                     sizeof(vpath)) == CLI_EXIT_OK &&
                    access(vpath, F_OK) == 0 && cfg(x, "privacy.key_file") != NULL)) {
        if ((code = cli_open_vault(x, NULL, &sec, 0, &vault)) != CLI_EXIT_OK)
            return code;
        p.vault = vault;
    }
    /* audited as the router's consultations are when personal data is involved */
    if ((vault != NULL || cfg(x, "privacy.audit_log") != NULL) &&
        (code = cli_privacy_path(x, NULL, "privacy.audit_log", "audit.log", true, audit,
                                 sizeof(audit))) != CLI_EXIT_OK)
        goto out;
    if (vault != NULL || cfg(x, "privacy.audit_log") != NULL)
        p.audit_path = audit;
    if (history) {
        if ((code = history_questions(x, a, vault, &questions, &n)) != CLI_EXIT_OK)
            goto out;
        if (n == 0) {
            code = cli_error("no weak questions for expert '%s' in the vault's history "
                             "(turns with low confidence or a ':-1' rating; chat with "
                             "[privacy] remember_history = true stores them)",
                             a->expert);
            goto out;
        }
        p.questions = questions;
        fprintf(stderr, "plmm: %zu weak question%s of expert %s from the history\n", n,
                n == 1 ? "" : "s", a->expert);
    }
    plmm_status st = plmm_pack_distill_private(x->engine, &p);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    printf("wrote knowledge pack %s/files/knowledge.jsonl and signed manifest %s/manifest.json "
           "(expert %s, version %lld)\n",
           a->out, a->out, a->expert, (long long)a->version);
out:
    if (questions != NULL)
        explicit_bzero(questions, strlen(questions));
    plmm_free(questions);
    plmm_vault_close(vault);
    return code;
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
        case OPT_CONSENT:
            a.consent = true;
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
