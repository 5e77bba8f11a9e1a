/*
 * plmm vault: the encrypted personal store from the command line.
 */
#include "cli.h"
#include "plmm/privacy.h"
#include "privacy_cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_VAULT = OPT_CMD_START,
    OPT_KEY_FILE,
    OPT_PASS_FILE,
    OPT_KDF,
    OPT_KIND,
    OPT_CATEGORY,
    OPT_NEW_KEY_FILE,
    OPT_NEW_PASS_FILE,
    OPT_VALUES,
    OPT_ITEMS,
};

static const cli_opt vault_opts[] = {
    {OPT_VAULT, 0, "vault", "FILE",
     "the store ([privacy] vault, else ~/.local/share/plmm/vault.plmm)"},
    {OPT_KEY_FILE, 0, "key-file", "FILE", "unlock with a key file ([privacy] key_file)"},
    {OPT_PASS_FILE, 0, "passphrase-file", "FILE",
     "read the passphrase from the first line of FILE"},
    {OPT_KDF, 0, "kdf", "NAME",
     "init/passwd: moderate (default), interactive, sensitive ('test': tests only)"},
    {OPT_KIND, 0, "kind", "KIND",
     "set/add: fact (default for set), memory (default for add), history"},
    {OPT_CATEGORY, 0, "category", "CAT",
     "set/add: person, place, org, address, email, phone, iban, card, dob, id, secret, other, none "
     "(guessed from the key)"},
    {OPT_NEW_KEY_FILE, 0, "new-key-file", "FILE",
     "passwd: switch to this key file (created when absent)"},
    {OPT_NEW_PASS_FILE, 0, "new-passphrase-file", "FILE",
     "passwd: read the new passphrase from FILE"},
    {OPT_VALUES, 0, "values", NULL, "list: show the values too"},
    {OPT_ITEMS, 'n', "items", "N", "context: most items to use (8)"},
    {OPT_PROMPT, 'p', "prompt", "TEXT", "context/pseudonymize: the text ('-' = stdin)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_vault_desc = {
    .name = "vault",
    .summary = "The encrypted personal store: init, set, add, get, list, forget, export, passwd.",
    .synopsis = "init|set KEY VALUE|add VALUE|get KEY|list|forget KEY|export|passwd|"
                "context -p TEXT|pseudonymize -p TEXT [options]",
    .details =
        "The passphrase is never taken from the command line: it comes from --key-file,\n"
        "--passphrase-file, the environment variable PLMM_VAULT_PASSPHRASE, or a prompt\n"
        "on the terminal (no echo). passwd reads the new one from --new-passphrase-file,\n"
        "PLMM_VAULT_NEW_PASSPHRASE or the terminal, and re-encrypts the store atomically.\n"
        "VALUE '-' reads the value from stdin. forget removes an item for good: the store is\n"
        "rewritten without it under a new data key. export prints every item as JSON\n"
        "(plaintext!). context shows what personalisation would tell the personal model;\n"
        "pseudonymize shows what would leave the device for a pseudonymized expert.",
    .opts = vault_opts,
    .needs_model = false,
};

typedef struct vault_args {
    const char *sub;
    const char *pos[3];
    int n_pos;
    const char *vault, *key_file, *pass_file, *kdf, *kind, *category, *new_key_file, *new_pass_file;
    bool values;
    int64_t items;
} vault_args;

/* ---- category from the key ---- */

static uint32_t guess_category(const char *key)
{
    static const struct {
        const char *word;
        uint32_t cat;
    } table[] = {
        {"email", PLMM_PII_EMAIL},    {"mail", PLMM_PII_EMAIL},     {"phone", PLMM_PII_PHONE},
        {"mobile", PLMM_PII_PHONE},   {"iban", PLMM_PII_IBAN},      {"card", PLMM_PII_CARD},
        {"birth", PLMM_PII_DOB},      {"dob", PLMM_PII_DOB},        {"ssn", PLMM_PII_ID},
        {"passport", PLMM_PII_ID},    {"national_id", PLMM_PII_ID}, {"password", PLMM_PII_SECRET},
        {"token", PLMM_PII_SECRET},   {"api_key", PLMM_PII_SECRET}, {"address", PLMM_PII_ADDRESS},
        {"street", PLMM_PII_ADDRESS}, {"name", PLMM_PII_PERSON},    {"spouse", PLMM_PII_PERSON},
        {"partner", PLMM_PII_PERSON}, {"child", PLMM_PII_PERSON},   {"doctor", PLMM_PII_PERSON},
        {"city", PLMM_PII_PLACE},     {"town", PLMM_PII_PLACE},     {"country", PLMM_PII_PLACE},
        {"home", PLMM_PII_PLACE},     {"employer", PLMM_PII_ORG},   {"company", PLMM_PII_ORG},
        {"school", PLMM_PII_ORG},     {"university", PLMM_PII_ORG}, {"bank", PLMM_PII_ORG},
        {"org", PLMM_PII_ORG},
    };
    char low[160];
    size_t n = 0;
    for (; key[n] != '\0' && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)key[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strstr(low, table[i].word) != NULL)
            return table[i].cat;
    return PLMM_PII_NONE;
}

/* ---- subcommands ---- */

static int read_value(const char *arg, char **owned, const char **value)
{
    *owned = NULL;
    if (strcmp(arg, "-") != 0) {
        *value = arg;
        return CLI_EXIT_OK;
    }
    size_t len = 0;
    int code = cli_read_file("-", owned, &len);
    if (code != CLI_EXIT_OK)
        return code;
    while (len > 0 && ((*owned)[len - 1] == '\n' || (*owned)[len - 1] == '\r'))
        (*owned)[--len] = '\0';
    *value = *owned;
    return CLI_EXIT_OK;
}

static int do_init(cli_ctx *x, vault_args *a, cli_secret *sec)
{
    char path[4096];
    int code =
        cli_privacy_path(x, a->vault, "privacy.vault", "vault.plmm", true, path, sizeof(path));
    if (code != CLI_EXIT_OK)
        return code;
    if (sec->key_file != NULL && access(sec->key_file, F_OK) != 0) {
        plmm_status st = plmm_vault_keygen(sec->key_file);
        if (st != PLMM_OK)
            return cli_api_error(st);
        fprintf(stderr, "plmm: created key file '%s' (keep a copy: without it the vault is lost)\n",
                sec->key_file);
    }
    sec->confirm = true;
    if ((code = cli_secret_get(sec)) != CLI_EXIT_OK)
        return code;
    plmm_vault *v = NULL;
    plmm_status st = plmm_vault_create(path, &sec->secret, &v);
    cli_secret_clear(sec);
    if (st != PLMM_OK)
        return cli_api_error(st);
    plmm_vault_close(v);
    printf("created vault '%s'\n", path);
    return CLI_EXIT_OK;
}

static int item_args(const vault_args *a, bool is_add, uint32_t *kind, uint32_t *cat,
                     const char *key)
{
    plmm_status st;
    *kind = is_add ? PLMM_VAULT_MEMORY : PLMM_VAULT_FACT;
    if (a->kind != NULL && (st = plmm_vault_kind_parse(a->kind, kind)) != PLMM_OK)
        return cli_api_error(st);
    *cat = key != NULL && *kind == PLMM_VAULT_FACT ? guess_category(key) : PLMM_PII_NONE;
    if (a->category != NULL && (st = plmm_pii_parse(a->category, cat)) != PLMM_OK)
        return cli_api_error(st);
    return CLI_EXIT_OK;
}

static int do_passwd(cli_ctx *x, vault_args *a, plmm_vault *v)
{
    cli_secret ns = {.key_file = a->new_key_file,
                     .passphrase_file = a->new_pass_file,
                     .env_name = "PLMM_VAULT_NEW_PASSPHRASE",
                     .prompt = "new vault passphrase: ",
                     .confirm = true,
                     .kdf = PLMM_VAULT_KDF_MODERATE};
    (void)x;
    if (a->kdf != NULL) {
        static const char *const names[] = {"moderate", "interactive", "sensitive", "test"};
        for (uint32_t i = 0; i < 4; i++)
            if (strcmp(a->kdf, names[i]) == 0)
                ns.kdf = i;
    }
    if (ns.key_file != NULL && access(ns.key_file, F_OK) != 0) {
        plmm_status st = plmm_vault_keygen(ns.key_file);
        if (st != PLMM_OK)
            return cli_api_error(st);
    }
    int code = cli_secret_get(&ns);
    if (code != CLI_EXIT_OK) {
        cli_secret_clear(&ns);
        return code;
    }
    plmm_status st = plmm_vault_rekey(v, &ns.secret);
    cli_secret_clear(&ns);
    if (st != PLMM_OK)
        return cli_api_error(st);
    printf("vault re-encrypted under the new %s\n",
           ns.key_file != NULL ? "key file" : "passphrase");
    return CLI_EXIT_OK;
}

static int do_text(cli_ctx *x, vault_args *a, plmm_vault *v, bool pseudo)
{
    const char *text = x->prompt != NULL ? x->prompt->p_arg : NULL;
    if (text == NULL)
        return cli_usage_error(&cmd_vault_desc, "'%s' needs the text (-p TEXT)", a->sub);
    char *owned = NULL;
    int code = read_value(text, &owned, &text);
    if (code != CLI_EXIT_OK)
        return code;
    char *out = NULL;
    plmm_status st;
    if (!pseudo) {
        st = plmm_vault_context(v, text, (size_t)a->items, 4096, &out);
    } else {
        plmm_privacy *p = NULL;
        plmm_pii_counts c;
        st = plmm_privacy_create(&p);
        if (st == PLMM_OK)
            st = plmm_privacy_add_vault(p, v);
        if (st == PLMM_OK)
            st = plmm_privacy_pseudonymize(p, text, strlen(text), &out, &c);
        if (st == PLMM_OK) {
            for (uint32_t k = 1; k < PLMM_PII_COUNT; k++)
                if (c.n[k] > 0)
                    fprintf(stderr, "replaced %s: %u\n", plmm_pii_name(k), (unsigned)c.n[k]);
        }
        plmm_privacy_destroy(p);
    }
    free(owned);
    if (st != PLMM_OK)
        return cli_api_error(st);
    printf("%s%s", out, pseudo ? "\n" : "");
    plmm_free(out);
    return CLI_EXIT_OK;
}

static int run_sub(cli_ctx *x, vault_args *a)
{
    static const struct {
        const char *name;
        int n_pos;
        bool write;
    } subs[] = {
        {"init", 0, true},          {"set", 2, true},    {"add", 1, true},
        {"get", 1, false},          {"list", 0, false},  {"forget", 1, true},
        {"export", 0, false},       {"passwd", 0, true}, {"context", 0, false},
        {"pseudonymize", 0, false},
    };
    int idx = -1;
    for (int i = 0; i < (int)(sizeof(subs) / sizeof(subs[0])); i++)
        if (strcmp(a->sub, subs[i].name) == 0)
            idx = i;
    if (idx < 0)
        return cli_usage_error(&cmd_vault_desc, "unknown subcommand '%s'", a->sub);
    if (a->n_pos != subs[idx].n_pos)
        return cli_usage_error(&cmd_vault_desc, "'%s' takes %d argument%s, got %d", a->sub,
                               subs[idx].n_pos, subs[idx].n_pos == 1 ? "" : "s", a->n_pos);
    cli_no_core_dumps();
    cli_secret sec = {.key_file = a->key_file,
                      .passphrase_file = a->pass_file,
                      .env_name = "PLMM_VAULT_PASSPHRASE",
                      .prompt = "vault passphrase: ",
                      .kdf = PLMM_VAULT_KDF_MODERATE};
    if (a->kdf != NULL) {
        static const char *const names[] = {"moderate", "interactive", "sensitive", "test"};
        bool ok = false;
        for (uint32_t i = 0; i < 4; i++)
            if (strcmp(a->kdf, names[i]) == 0) {
                sec.kdf = i;
                ok = true;
            }
        if (!ok)
            return cli_usage_error(&cmd_vault_desc,
                                   "option '--kdf' must be moderate, interactive, sensitive or "
                                   "test, not '%s'",
                                   a->kdf);
    } else {
        const char *k = cli_config_value(x, "privacy.kdf");
        if (k != NULL && strcmp(k, "interactive") == 0)
            sec.kdf = PLMM_VAULT_KDF_INTERACTIVE;
        else if (k != NULL && strcmp(k, "sensitive") == 0)
            sec.kdf = PLMM_VAULT_KDF_SENSITIVE;
    }
    if (sec.key_file == NULL)
        sec.key_file = cli_config_value(x, "privacy.key_file");
    if (idx == 0) {
        int code = do_init(x, a, &sec);
        cli_secret_clear(&sec);
        return code;
    }
    plmm_vault *v = NULL;
    int code = cli_open_vault(x, a->vault, &sec, subs[idx].write ? PLMM_VAULT_WRITE : 0, &v);
    if (code != CLI_EXIT_OK)
        return code;
    plmm_status st = PLMM_OK;
    plmm_vault_item it = {.struct_size = sizeof(it)};
    uint32_t kind, cat;
    char *owned = NULL;
    const char *value;
    switch (idx) {
    case 1: /* set */
    case 2: /* add */
        code = item_args(a, idx == 2, &kind, &cat, idx == 1 ? a->pos[0] : NULL);
        if (code == CLI_EXIT_OK)
            code = read_value(a->pos[idx == 1 ? 1 : 0], &owned, &value);
        if (code != CLI_EXIT_OK)
            break;
        if (idx == 1) {
            st = plmm_vault_set(v, kind, cat, a->pos[0], value);
        } else {
            char key[64];
            st = plmm_vault_add(v, kind, cat, value, key, sizeof(key));
            if (st == PLMM_OK)
                printf("%s\n", key);
        }
        break;
    case 3: /* get */
        st = plmm_vault_get(v, a->pos[0], &it);
        if (st == PLMM_OK)
            printf("%s\n", it.value);
        break;
    case 4: /* list */
        for (size_t i = 0; i < plmm_vault_count(v) && st == PLMM_OK; i++) {
            st = plmm_vault_item_at(v, i, &it);
            if (st != PLMM_OK)
                break;
            const char *cn = it.category == PLMM_PII_NONE ? "-" : plmm_pii_name(it.category);
            if (a->values)
                printf("%s\t%s\t%s\t%s\n", it.key, plmm_vault_kind_name(it.kind), cn, it.value);
            else
                printf("%s\t%s\t%s\n", it.key, plmm_vault_kind_name(it.kind), cn);
        }
        break;
    case 5: /* forget */
        st = plmm_vault_forget(v, a->pos[0]);
        if (st == PLMM_OK)
            printf("forgot '%s'\n", a->pos[0]);
        break;
    case 6: { /* export */
        char *json = NULL;
        st = plmm_vault_export_json(v, &json);
        if (st == PLMM_OK) {
            fputs(json, stdout);
            explicit_bzero(json, strlen(json));
        }
        plmm_free(json);
        break;
    }
    case 7:
        code = do_passwd(x, a, v);
        break;
    case 8:
    case 9:
        code = do_text(x, a, v, idx == 9);
        break;
    default:
        break;
    }
    if (owned != NULL) {
        explicit_bzero(owned, strlen(owned));
        free(owned);
    }
    plmm_vault_close(v);
    if (st != PLMM_OK)
        return cli_api_error(st);
    if (code == CLI_EXIT_OK && (fflush(stdout) != 0 || ferror(stdout)))
        code = cli_error("cannot write to stdout");
    return code;
}

int cmd_vault(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            cli_print_help(&cmd_vault_desc);
            return CLI_EXIT_OK;
        }
        return cli_usage_error(&cmd_vault_desc, "a subcommand is required");
    }
    vault_args a = {.sub = argv[1], .items = 8};
    int i = 2;
    while (i < argc && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
        if (a.n_pos == 3)
            return cli_usage_error(&cmd_vault_desc, "unexpected argument '%s'", argv[i]);
        a.pos[a.n_pos++] = argv[i++];
    }
    /* Options: parse argv[i..] as if they followed the command name. */
    char **rest = argv + i - 1;
    int n_rest = argc - i + 1;
    char *saved = rest[0];
    rest[0] = argv[0];
    cli_ctx x;
    cli_prompt prompt;
    memset(&prompt, 0, sizeof(prompt));
    cli_ctx_init(&x, &cmd_vault_desc, n_rest, rest);
    x.prompt = &prompt;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE;
    int64_t n = 8;
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        switch (o->id) {
        case OPT_VAULT:
            a.vault = v;
            break;
        case OPT_KEY_FILE:
            a.key_file = v;
            break;
        case OPT_PASS_FILE:
            a.pass_file = v;
            break;
        case OPT_KDF:
            a.kdf = v;
            break;
        case OPT_KIND:
            a.kind = v;
            break;
        case OPT_CATEGORY:
            a.category = v;
            break;
        case OPT_NEW_KEY_FILE:
            a.new_key_file = v;
            break;
        case OPT_NEW_PASS_FILE:
            a.new_pass_file = v;
            break;
        case OPT_VALUES:
            a.values = true;
            break;
        case OPT_ITEMS:
            if (!cli_parse_i64(&cmd_vault_desc, o, v, 1, 256, &n)) {
                r = -1;
                code = CLI_EXIT_USAGE;
            }
            a.items = n;
            break;
        default:
            break;
        }
        if (r < 0)
            break;
    }
    if (r < 0)
        goto out;
    /* A configuration is read only when one is given. */
    if (x.common.config_path != NULL || x.common.n_overrides > 0) {
        code = cli_open_engine(&x);
        if (code != CLI_EXIT_OK)
            goto out;
    }
    code = run_sub(&x, &a);
out:
    rest[0] = saved;
    cli_prompt_free(&prompt);
    cli_ctx_close(&x);
    return code;
}
