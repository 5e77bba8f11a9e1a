/*
 * plmm audit: show and verify the log of what left the device.
 */
#include "cli.h"
#include "plmm/audit.h"
#include "privacy_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_LOG = OPT_CMD_START,
    OPT_ROOT,
    OPT_LAST,
};

static const cli_opt audit_opts[] = {
    {OPT_LOG, 0, "log", "FILE",
     "the audit log ([privacy] audit_log, else ~/.local/share/plmm/audit.log)"},
    {OPT_ROOT, 0, "root", "HEX", "verify: a Merkle root printed earlier; the log must extend it"},
    {OPT_LAST, 'n', "last", "N", "show: only the last N entries"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_audit_desc = {
    .name = "audit",
    .summary = "Show or verify the audit log of every request that left the device.",
    .synopsis = "show|verify [--log FILE] [--root HEX] [-n N] [-c FILE.ini]",
    .details = "show prints one entry per line: number, time, destination, categories\n"
               "replaced, outcome, bytes sent and their SHA-256. verify recomputes the hash\n"
               "chain, the Merkle root and the head file; it names the first bad entry and\n"
               "exits 1 when the log was altered. Keep the root it prints somewhere else to\n"
               "prove later (--root) that the log only grew.",
    .opts = audit_opts,
    .needs_model = false,
};

static int show(const char *path, int64_t last)
{
    char *data = NULL;
    size_t len = 0;
    int code = cli_read_file(path, &data, &len);
    if (code != CLI_EXIT_OK)
        return code;
    size_t total = 0;
    for (size_t i = 0; i < len; i++)
        total += data[i] == '\n';
    size_t skip = last > 0 && (size_t)last < total ? total - (size_t)last : 0;
    printf("%-5s %-20s %-44s %-24s %-7s %7s %s\n", "#", "time (UTC)", "destination", "replaced",
           "outcome", "bytes", "sha256 of the bytes");
    size_t line = 0;
    for (char *p = data; p < data + len;) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t ll = nl != NULL ? (size_t)(nl - p) : (size_t)(data + len - p);
        if (line++ >= skip) {
            char *f[8] = {0};
            int nf = 0;
            char *s = p;
            p[ll] = '\0';
            while (nf < 8) {
                f[nf++] = s;
                char *t = strchr(s, '\t');
                if (t == NULL)
                    break;
                *t = '\0';
                s = t + 1;
            }
            if (nf == 8)
                printf("%-5s %-20s %-44s %-24s %-7s %7s %.16s…\n", f[0], f[1], f[2], f[3], f[4],
                       f[5], f[6]);
            else
                printf("%-5zu (malformed entry)\n", line);
        }
        p += ll + 1;
    }
    free(data);
    return CLI_EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            cli_print_help(&cmd_audit_desc);
            return CLI_EXIT_OK;
        }
        return cli_usage_error(&cmd_audit_desc, "a subcommand is required (show or verify)");
    }
    const char *sub = argv[1];
    cli_ctx x;
    const cli_opt *o;
    const char *v, *log = NULL, *root = NULL;
    int64_t last = 0;
    int r, code = CLI_EXIT_USAGE;
    cli_ctx_init(&x, &cmd_audit_desc, argc - 1, argv + 1);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        if (o->id == OPT_LOG)
            log = v;
        else if (o->id == OPT_ROOT)
            root = v;
        else if (o->id == OPT_LAST && !cli_parse_i64(&cmd_audit_desc, o, v, 1, INT32_MAX, &last)) {
            r = -1;
            code = CLI_EXIT_USAGE;
            break;
        }
    }
    if (r < 0)
        goto out;
    if (strcmp(sub, "show") != 0 && strcmp(sub, "verify") != 0) {
        code = cli_usage_error(&cmd_audit_desc, "unknown subcommand '%s'", sub);
        goto out;
    }
    if (x.common.config_path != NULL || x.common.n_overrides > 0) {
        if ((code = cli_open_engine(&x)) != CLI_EXIT_OK)
            goto out;
    }
    char path[4096];
    code = cli_privacy_path(&x, log, "privacy.audit_log", "audit.log", false, path, sizeof(path));
    if (code != CLI_EXIT_OK)
        goto out;
    if (strcmp(sub, "show") == 0) {
        code = show(path, last);
        goto out;
    }
    plmm_audit_report rep = {.struct_size = sizeof(rep)};
    plmm_status st = plmm_audit_verify(path, root, &rep);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    if (rep.ok) {
        printf("audit log '%s' verified: %llu entries, root %s\n", path,
               (unsigned long long)rep.n_entries, rep.root_hex);
        code = CLI_EXIT_OK;
    } else {
        printf("audit log '%s' ALTERED: %s\n", path, rep.message);
        if (rep.first_bad > 0)
            printf("first bad entry: %llu (entries before it verify, root %s)\n",
                   (unsigned long long)rep.first_bad, rep.root_hex);
        code = CLI_EXIT_ERROR;
    }
out:
    cli_ctx_close(&x);
    return code;
}
