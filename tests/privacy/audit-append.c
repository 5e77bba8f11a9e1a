/*
 * audit-append LOG DESTINATION BODY [N]: append N (default 1) entries for
 * BODY to an audit log through the public API (test helper for the
 * plmm audit command).
 */
#include "plmm/audit.h"
#include "plmm/plmm.h"
#include "plmm/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: audit-append LOG DESTINATION BODY [N]\n");
        return 2;
    }
    int n = argc > 4 ? atoi(argv[4]) : 1;
    plmm_audit *a = NULL;
    plmm_status st = plmm_audit_open(argv[1], &a);
    plmm_pii_counts c;
    memset(&c, 0, sizeof(c));
    c.n[PLMM_PII_EMAIL] = 1;
    for (int i = 0; st == PLMM_OK && i < n; i++)
        st = plmm_audit_append(a, argv[2], &c, PLMM_AUDIT_SENT, argv[3], strlen(argv[3]));
    plmm_audit_close(a);
    if (st != PLMM_OK) {
        fprintf(stderr, "audit-append: %s: %s\n", plmm_status_str(st), plmm_last_errmsg());
        return 1;
    }
    return 0;
}
