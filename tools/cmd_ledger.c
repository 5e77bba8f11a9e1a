/*
 * plmm ledger: show, verify, export and settle the economic ledger; record
 * usage and contributions by hand; verify a statement from the other side.
 */
#include "cli.h"
#include "plmm/ledger.h"
#include "plmm/update.h"
#include "privacy_cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    OPT_CSV = OPT_CMD_START,
    OPT_COUNTERPARTY,
    OPT_FROM,
    OPT_TO,
    OPT_OUT,
    OPT_KEY,
    OPT_EXPERT,
    OPT_RATES,
    OPT_IN,
    OPT_OUTTOK,
    OPT_RECEIPT,
    OPT_RECEIPT_KEY,
    OPT_CONNECTOR,
    OPT_MODEL_NAME,
    OPT_KIND,
    OPT_REF,
};

static const cli_opt ledger_opts[] = {
    {OPT_CSV, 0, "csv", NULL, "export: CSV (the only format)"},
    {OPT_COUNTERPARTY, 0, "with", "NAME", "settle: the counterparty (e.g. finance-dev)"},
    {OPT_FROM, 0, "from", "TIME", "settle: period start, YYYY-MM-DDTHH:MM:SSZ (default: epoch)"},
    {OPT_TO, 0, "to", "TIME", "settle: period end, exclusive (default: now)"},
    {OPT_OUT, 'o', "out", "FILE", "settle: statement file to write; export: CSV file"},
    {OPT_KEY, 'k', "key", "FILE", "verify-statement: the signer's public key"},
    {OPT_EXPERT, 0, "expert", "NAME", "record/contribute: the expert"},
    {OPT_RATES, 0, "rates", "FILE", "record/contribute: the expert's INI with [pricing]"},
    {OPT_IN, 0, "tokens-in", "N", "record: prompt tokens"},
    {OPT_OUTTOK, 0, "tokens-out", "N", "record: completion tokens"},
    {OPT_RECEIPT, 0, "receipt", "FILE", "record: signed receipt (JSON) from a plmm server"},
    {OPT_RECEIPT_KEY, 0, "receipt-key", "FILE", "record: public key that must sign the receipt"},
    {OPT_CONNECTOR, 0, "connector", "KIND", "record: connector kind (default openai)"},
    {OPT_MODEL_NAME, 0, "model-name", "NAME", "record: the model that answered"},
    {OPT_KIND, 0, "kind", "KIND", "contribute: rating, correction or example"},
    {OPT_REF, 0, "ref", "ID", "contribute: what was contributed (an answer id, a hash)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_ledger_desc = {
    .name = "ledger",
    .summary = "Show, verify, export and settle the economic ledger.",
    .synopsis = "show | verify | export --csv [-o FILE] | settle --with NAME [--from T] [--to T] "
                "-o FILE | verify-statement FILE -k KEY | record ... | contribute ...",
    .details = "Entries are hash-chained, signed by the device key and encrypted ([ledger]),\n"
               "with a key derived from the vault ([ledger] key_source; the vault's secret\n"
               "comes from [privacy] key_file, PLMM_VAULT_PASSPHRASE or the terminal) or\n"
               "with [ledger] key_file.\n"
               "'verify' names the first damaged entry. 'settle' writes the net balance with\n"
               "one counterparty as a statement signed by the device key, which the other\n"
               "side checks with 'plmm ledger verify-statement' or 'plmm-sign verify'.\n"
               "'record' and 'contribute' append usage and contributions by hand (the\n"
               "router does it for consultations). See docs/ledger.md.",
    .opts = ledger_opts,
    .needs_model = false,
};

typedef struct ledger_args {
    const char *sub, *arg, *counterparty, *out, *key, *expert, *rates, *receipt, *receipt_key,
        *connector, *model, *kind, *ref, *from_s, *to_s;
    int64_t tokens_in, tokens_out;
    bool csv;
} ledger_args;

/* The ledger files of the configuration (owned). */
typedef struct ledger_paths {
    char *path, *device, *key;
    uint8_t vault_key[PLMM_LEDGER_KEY_BYTES]; /* when keyed by the vault */
} ledger_paths;

static void paths_free(ledger_paths *lp)
{
    plmm_free(lp->path);
    plmm_free(lp->device);
    plmm_free(lp->key);
    explicit_bzero(lp->vault_key, sizeof(lp->vault_key));
}

static int resolve_paths(cli_ctx *x, ledger_paths *lp, plmm_ledger_params *p)
{
    plmm_status st = plmm_ledger_config_paths(x->engine, &lp->path, &lp->device, &lp->key);
    if (st != PLMM_OK)
        return cli_api_error(st);
    memset(p, 0, sizeof(*p));
    p->struct_size = sizeof(*p);
    p->path = lp->path;
    p->device_key_path = lp->device;
    p->key_path = lp->key;
    bool from_vault = false;
    int code = cli_ledger_key(x, lp->vault_key, &from_vault);
    if (code != CLI_EXIT_OK)
        return code;
    if (from_vault) {
        p->key = lp->vault_key;
        p->key_path = NULL;
    }
    return CLI_EXIT_OK;
}

static bool parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0') {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%d", &tm);
        if (end == NULL || *end != '\0')
            return false;
    }
    *out = (int64_t)timegm(&tm);
    return true;
}

static int write_out(const char *path, const char *text)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        fputs(text, stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : cli_error("cannot write to stdout");
    }
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return cli_error("cannot create '%s'", path);
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? CLI_EXIT_OK : cli_error("cannot write '%s'", path);
}

static int run_open(cli_ctx *x, const ledger_args *a, plmm_ledger *l)
{
    char *text = NULL;
    plmm_status st = PLMM_OK;
    int code = CLI_EXIT_OK;
    if (strcmp(a->sub, "show") == 0) {
        if ((st = plmm_ledger_show(l, &text)) == PLMM_OK)
            code = write_out(NULL, text);
    } else if (strcmp(a->sub, "export") == 0) {
        if (!a->csv)
            return cli_usage_error(&cmd_ledger_desc, "export needs --csv");
        if ((st = plmm_ledger_export_csv(l, &text)) == PLMM_OK)
            code = write_out(a->out, text);
    } else if (strcmp(a->sub, "settle") == 0) {
        int64_t from = 0, to = (int64_t)time(NULL) + 1;
        if (a->counterparty == NULL || a->out == NULL)
            return cli_usage_error(&cmd_ledger_desc, "settle needs --with NAME and -o FILE");
        if ((a->from_s && !parse_time(a->from_s, &from)) || (a->to_s && !parse_time(a->to_s, &to)))
            return cli_usage_error(&cmd_ledger_desc, "times are YYYY-MM-DD or "
                                                     "YYYY-MM-DDTHH:MM:SSZ (UTC)");
        if ((st = plmm_ledger_settle(l, a->counterparty, from, to, a->out, &text)) == PLMM_OK)
            code = write_out(NULL, text);
    } else {
        /* record, contribute */
        if (a->expert == NULL || a->rates == NULL)
            return cli_usage_error(&cmd_ledger_desc, "%s needs --expert and --rates", a->sub);
        if ((st = plmm_ledger_load_rates(l, a->expert, a->rates)) != PLMM_OK)
            return cli_api_error(st);
        if ((st = plmm_ledger_config_budgets(l, x->engine)) != PLMM_OK)
            return cli_api_error(st);
        int64_t amount = 0;
        char buf[64];
        if (strcmp(a->sub, "contribute") == 0) {
            if (a->kind == NULL)
                return cli_usage_error(&cmd_ledger_desc, "contribute needs --kind");
            st = plmm_ledger_record_contribution(l, a->expert, a->kind, a->ref, &amount);
            snprintf(buf, sizeof(buf), "credited");
        } else {
            char *receipt = NULL;
            size_t len;
            if (a->receipt != NULL && (code = cli_read_file(a->receipt, &receipt, &len)) != 0)
                return code;
            int64_t estimate = 0;
            if ((st = plmm_ledger_price(l, a->expert, a->tokens_in, a->tokens_out, &estimate)) ==
                    PLMM_OK &&
                (st = plmm_ledger_budget_check(l, a->expert, receipt ? 0 : estimate, NULL)) ==
                    PLMM_OK) {
                plmm_ledger_usage u;
                memset(&u, 0, sizeof(u));
                u.struct_size = sizeof(u);
                u.expert = a->expert;
                u.connector = a->connector ? a->connector : "openai";
                u.model = a->model;
                u.tokens_in = a->tokens_in;
                u.tokens_out = a->tokens_out;
                u.receipt_json = receipt;
                u.receipt_key_path = a->receipt_key;
                st = plmm_ledger_record_usage(l, &u, &amount);
            }
            free(receipt);
            snprintf(buf, sizeof(buf), "charged");
        }
        if (st == PLMM_OK)
            printf("entry %llu: %s %lld.%06lld\n", (unsigned long long)plmm_ledger_count(l), buf,
                   (long long)(amount / 1000000), (long long)(amount % 1000000));
    }
    plmm_free(text);
    return st == PLMM_OK ? code : cli_api_error(st);
}

static int run(cli_ctx *x, const ledger_args *a)
{
    ledger_paths lp;
    memset(&lp, 0, sizeof(lp));
    plmm_ledger_params p;
    char *report = NULL;
    plmm_status st;
    if (strcmp(a->sub, "verify-statement") == 0) {
        if (a->arg == NULL || a->key == NULL)
            return cli_usage_error(&cmd_ledger_desc, "verify-statement needs FILE and -k KEY");
        if ((st = plmm_ledger_statement_verify(a->arg, a->key, &report)) != PLMM_OK)
            return cli_api_error(st);
        fputs(report, stdout);
        plmm_free(report);
        return CLI_EXIT_OK;
    }
    int code = cli_open_engine(x);
    if (code != CLI_EXIT_OK)
        return code;
    if ((code = resolve_paths(x, &lp, &p)) != CLI_EXIT_OK) {
        paths_free(&lp);
        return code;
    }
    if (strcmp(a->sub, "verify") == 0) {
        uint64_t n = 0;
        if ((st = plmm_ledger_verify(&p, &n)) != PLMM_OK)
            code = cli_api_error(st);
        else
            printf("%s: %llu entries, chain and signatures valid\n", lp.path,
                   (unsigned long long)n);
        paths_free(&lp);
        return code;
    }
    plmm_ledger *l = NULL;
    if ((st = plmm_ledger_open(&p, &l)) != PLMM_OK)
        code = cli_api_error(st);
    else
        code = run_open(x, a, l);
    plmm_ledger_close(l);
    paths_free(&lp);
    return code;
}

int cmd_ledger(int argc, char **argv)
{
    ledger_args a;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE, skip = 0;
    memset(&a, 0, sizeof(a));
    if (argc >= 2 && argv[1][0] != '-') {
        a.sub = argv[1];
        skip = 1;
        if (argc >= 3 && argv[2][0] != '-') {
            a.arg = argv[2];
            skip = 2;
        }
    }
    cli_ctx_init(&x, &cmd_ledger_desc, argc - skip, argv + skip);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        switch (o->id) {
        case OPT_CSV:
            a.csv = true;
            break;
        case OPT_COUNTERPARTY:
            a.counterparty = v;
            break;
        case OPT_FROM:
            a.from_s = v;
            break;
        case OPT_TO:
            a.to_s = v;
            break;
        case OPT_OUT:
            a.out = v;
            break;
        case OPT_KEY:
            a.key = v;
            break;
        case OPT_EXPERT:
            a.expert = v;
            break;
        case OPT_RATES:
            a.rates = v;
            break;
        case OPT_IN:
            if (!cli_parse_i64(&cmd_ledger_desc, o, v, 0, INT32_MAX, &a.tokens_in))
                goto out;
            break;
        case OPT_OUTTOK:
            if (!cli_parse_i64(&cmd_ledger_desc, o, v, 0, INT32_MAX, &a.tokens_out))
                goto out;
            break;
        case OPT_RECEIPT:
            a.receipt = v;
            break;
        case OPT_RECEIPT_KEY:
            a.receipt_key = v;
            break;
        case OPT_CONNECTOR:
            a.connector = v;
            break;
        case OPT_MODEL_NAME:
            a.model = v;
            break;
        case OPT_KIND:
            a.kind = v;
            break;
        case OPT_REF:
            a.ref = v;
            break;
        }
    }
    if (r < 0)
        goto out;
    static const char *const subs[] = {"show",   "verify",     "export",          "settle",
                                       "record", "contribute", "verify-statement"};
    bool known = false;
    for (size_t i = 0; a.sub != NULL && i < sizeof(subs) / sizeof(subs[0]); i++)
        known = known || strcmp(a.sub, subs[i]) == 0;
    if (!known) {
        code = cli_usage_error(&cmd_ledger_desc,
                               "expected show, verify, export, settle, record, contribute or "
                               "verify-statement");
        goto out;
    }
    if (a.arg != NULL && strcmp(a.sub, "verify-statement") != 0) {
        code = cli_usage_error(&cmd_ledger_desc, "unexpected argument '%s'", a.arg);
        goto out;
    }
    code = run(&x, &a);
out:
    cli_ctx_close(&x);
    return code;
}
