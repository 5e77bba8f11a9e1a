/*
 * plmm-sign: the publisher's tool for signed update bundles (and a
 * verifier for anything plmm signs, ledger statements included).
 * Uses only the public API (plmm/update.h).
 */
#include "plmm/ledger.h"
#include "plmm/plmm.h"
#include "plmm/update.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_USAGE 2
#define MAX_KEYS 64

static int usage(FILE *out)
{
    fprintf(out,
            "usage: plmm-sign COMMAND ...\n\n"
            "  keygen SECRET PUBLIC        create an Ed25519 key pair (SECRET is mode 0600)\n"
            "  keyid KEY                   print the key id of a public or secret key file\n"
            "  root OUT --version N --threshold T [--expires-days D] PUBLIC...\n"
            "                              write an unsigned root listing the public keys\n"
            "  manifest DIR --expert NAME --version N [--expires-days D] [--min-engine V]\n"
            "                              write DIR/manifest.json for the files in DIR/files\n"
            "  sign FILE SECRET...         add signatures to a root or manifest\n"
            "  publish DIR SOURCE          copy a signed bundle into a source directory\n"
            "                              (SOURCE/NAME.manifest.json, SOURCE/sha256-HEX)\n"
            "  receipt SECRET --server NAME --tokens-in N --tokens-out N [--request ID]\n"
            "          [--model M]         print a signed usage receipt (what plmm serve adds)\n"
            "  verify FILE --root ROOT     check a manifest, or a new root (rotation)\n"
            "  verify FILE --key PUBLIC    check a file signed by one key (ledger statements)\n\n"
            "A new root (key rotation) must be signed by a threshold of the old root's keys\n"
            "and a threshold of its own. Expiry defaults to 30 days for manifests and 365 for\n"
            "roots. See docs/updates.md.\n");
    return out == stdout ? 0 : EXIT_USAGE;
}

static int fail(plmm_status st)
{
    fprintf(stderr, "plmm-sign: error: %s: %s\n", plmm_status_str(st), plmm_last_errmsg());
    return 1;
}

static int bad(const char *fmt, ...) PLMM_PRINTF(1, 2);

static int bad(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "plmm-sign: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'plmm-sign --help')\n");
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && *out <= max;
}

typedef struct opts {
    const char *expert, *min_engine, *root, *key, *server, *request, *model;
    unsigned long long version, threshold, days, tokens_in, tokens_out;
    const char *rest[MAX_KEYS];
    int n_rest;
} opts;

/* Options and positional arguments after argv[first]. */
static int parse(int argc, char **argv, int first, opts *o, unsigned long long default_days)
{
    memset(o, 0, sizeof(*o));
    o->days = default_days;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool num = false;
        unsigned long long *dst = NULL, max = 0;
        if (strcmp(a, "--expert") == 0) {
            o->expert = v;
        } else if (strcmp(a, "--min-engine") == 0) {
            o->min_engine = v;
        } else if (strcmp(a, "--root") == 0) {
            o->root = v;
        } else if (strcmp(a, "--key") == 0) {
            o->key = v;
        } else if (strcmp(a, "--server") == 0) {
            o->server = v;
        } else if (strcmp(a, "--request") == 0) {
            o->request = v;
        } else if (strcmp(a, "--model") == 0) {
            o->model = v;
        } else if (strcmp(a, "--tokens-in") == 0) {
            num = true, dst = &o->tokens_in, max = (unsigned long long)INT32_MAX;
        } else if (strcmp(a, "--tokens-out") == 0) {
            num = true, dst = &o->tokens_out, max = (unsigned long long)INT32_MAX;
        } else if (strcmp(a, "--version") == 0) {
            num = true, dst = &o->version, max = (unsigned long long)INT64_MAX;
        } else if (strcmp(a, "--threshold") == 0) {
            num = true, dst = &o->threshold, max = MAX_KEYS;
        } else if (strcmp(a, "--expires-days") == 0) {
            num = true, dst = &o->days, max = 36500;
        } else if (a[0] == '-' && a[1] != '\0') {
            return bad("unknown option '%s'", a);
        } else {
            if (o->n_rest == MAX_KEYS)
                return bad("too many arguments at '%s'", a);
            o->rest[o->n_rest++] = a;
            continue;
        }
        if (v == NULL)
            return bad("option '%s' needs a value", a);
        if (num && !parse_u64(v, max, dst))
            return bad("bad number '%s'", v);
        i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int code;
    plmm_status st;
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout);
    if (strcmp(cmd, "--version") == 0) {
        printf("plmm-sign %s\n", plmm_version());
        return 0;
    }
    int64_t now = (int64_t)time(NULL);
    if (strcmp(cmd, "keygen") == 0) {
        char id[PLMM_KEYID_SIZE];
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest != 2)
            return bad("%s needs SECRET and PUBLIC file names", cmd);
        if ((st = plmm_sign_keygen(o.rest[0], o.rest[1], id)) != PLMM_OK)
            return fail(st);
        printf("key %s: secret %s, public %s\n", id, o.rest[0], o.rest[1]);
        return 0;
    }
    if (strcmp(cmd, "keyid") == 0) {
        char id[PLMM_KEYID_SIZE];
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest != 1)
            return bad("%s needs one key file", cmd);
        if ((st = plmm_sign_keyid(o.rest[0], id)) != PLMM_OK)
            return fail(st);
        printf("%s\n", id);
        return 0;
    }
    if (strcmp(cmd, "root") == 0) {
        if ((code = parse(argc, argv, 2, &o, 365)) != 0)
            return code;
        if (o.n_rest < 2 || o.version == 0 || o.threshold == 0)
            return bad("%s needs OUT, --version N, --threshold T and public keys", cmd);
        st = plmm_root_create(o.rest[0], o.version, now + (int64_t)o.days * 86400,
                              (uint32_t)o.threshold, o.rest + 1, (uint32_t)(o.n_rest - 1));
        if (st != PLMM_OK)
            return fail(st);
        printf("wrote unsigned root %s (version %llu, threshold %llu of %d keys); sign it with "
               "'plmm-sign sign'\n",
               o.rest[0], o.version, o.threshold, o.n_rest - 1);
        return 0;
    }
    if (strcmp(cmd, "manifest") == 0) {
        if ((code = parse(argc, argv, 2, &o, 30)) != 0)
            return code;
        if (o.n_rest != 1 || o.expert == NULL || o.version == 0)
            return bad("%s needs DIR, --expert NAME and --version N", cmd);
        st = plmm_manifest_create(o.rest[0], o.expert, o.version, now + (int64_t)o.days * 86400,
                                  o.min_engine);
        if (st != PLMM_OK)
            return fail(st);
        printf("wrote unsigned %s/manifest.json (expert %s, version %llu)\n", o.rest[0], o.expert,
               o.version);
        return 0;
    }
    if (strcmp(cmd, "sign") == 0) {
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest < 2)
            return bad("%s needs FILE and at least one secret key", cmd);
        for (int i = 1; i < o.n_rest; i++) {
            char id[PLMM_KEYID_SIZE];
            if ((st = plmm_sign_envelope(o.rest[0], o.rest[i])) != PLMM_OK ||
                (st = plmm_sign_keyid(o.rest[i], id)) != PLMM_OK)
                return fail(st);
            printf("signed %s with key %s\n", o.rest[0], id);
        }
        return 0;
    }
    if (strcmp(cmd, "publish") == 0) {
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest != 2)
            return bad("%s needs the bundle DIR and the SOURCE directory", cmd);
        if ((st = plmm_bundle_publish(o.rest[0], o.rest[1])) != PLMM_OK)
            return fail(st);
        printf("published %s into %s\n", o.rest[0], o.rest[1]);
        return 0;
    }
    if (strcmp(cmd, "receipt") == 0) {
        plmm_receipt_signer *signer = NULL;
        char *json = NULL;
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest != 1 || o.server == NULL)
            return bad("%s needs the SECRET key and --server NAME", cmd);
        if ((st = plmm_receipt_signer_open(o.rest[0], o.server, &signer)) != PLMM_OK)
            return fail(st);
        st = plmm_receipt_sign(signer, o.request, o.model, (int64_t)o.tokens_in,
                               (int64_t)o.tokens_out, &json);
        plmm_receipt_signer_close(signer);
        if (st != PLMM_OK)
            return fail(st);
        printf("%s\n", json);
        plmm_free(json);
        return 0;
    }
    if (strcmp(cmd, "verify") == 0) {
        char *report = NULL;
        if ((code = parse(argc, argv, 2, &o, 0)) != 0)
            return code;
        if (o.n_rest != 1 || (o.root == NULL) == (o.key == NULL))
            return bad("%s needs FILE and either --root ROOT or --key PUBLIC", cmd);
        if ((st = plmm_sign_verify(o.rest[0], o.root, o.key, 0, &report)) != PLMM_OK)
            return fail(st);
        fputs(report, stdout);
        plmm_free(report);
        return 0;
    }
    fprintf(stderr, "plmm-sign: unknown command '%s' (see 'plmm-sign --help')\n", cmd);
    return EXIT_USAGE;
}
