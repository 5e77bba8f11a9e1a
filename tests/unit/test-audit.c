/*
 * The audit log: appends verify; a modified, deleted, reordered, inserted
 * or truncated entry is detected and the first bad entry named; a Merkle
 * root recorded earlier proves the log only grew.
 */
#include "plmm/audit.h"
#include "plmm/plmm.h"
#include "plmm/vault.h"
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

static char dir[256], log_path[300], head_path[320];

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    *n = fread(buf, 1, (size_t)sz, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Offsets of the starts of the lines of s (up to 16). */
static size_t lines(const char *s, size_t n, size_t *start)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 16; i++)
        if (i == 0 || s[i - 1] == '\n')
            start[k++] = i;
    start[k] = n;
    return k;
}

static plmm_audit_report verify(const char *root)
{
    plmm_audit_report r = {.struct_size = sizeof(r)};
    plmm_status s = plmm_audit_verify(log_path, root, &r);
    CHECK_MSG(s == PLMM_OK, "verify: %s", plmm_last_errmsg());
    return r;
}

#define EXPECT_BAD(desc, entry)                                                                    \
    do {                                                                                           \
        plmm_audit_report r_ = verify(NULL);                                                       \
        CHECK_MSG(!r_.ok && r_.first_bad == (entry), "%s: ok=%u first_bad=%llu (%s)", desc, r_.ok, \
                  (unsigned long long)r_.first_bad, r_.message);                                   \
    } while (0)

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-audit-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(log_path, sizeof(log_path), "%s/audit.log", dir);
    snprintf(head_path, sizeof(head_path), "%s.head", log_path);

    plmm_audit *a = NULL;
    CHECK(plmm_audit_open(log_path, &a) == PLMM_OK);
    plmm_audit *b = NULL;
    CHECK(plmm_audit_open(log_path, &b) == PLMM_OK); /* a second writer (another process) */
    plmm_pii_counts c = {{0}};
    c.n[PLMM_PII_EMAIL] = 2;
    char root3[65] = "";
    for (int i = 0; i < 6; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"n\":%d}", i);
        CHECK(plmm_audit_append(a, "http://127.0.0.1:8081/v1/chat/completions", &c,
                                i == 4 ? PLMM_AUDIT_REFUSED : PLMM_AUDIT_SENT, body,
                                strlen(body)) == PLMM_OK);
        if (i == 2) {
            plmm_audit_report r = verify(NULL);
            CHECK(r.ok && r.n_entries == 3);
            memcpy(root3, r.root_hex, sizeof(root3));
        }
    }
    CHECK(plmm_audit_append(a, "x", NULL, 7, "", 0) == PLMM_ERR_INVALID_ARG);
    plmm_audit_close(a);
    plmm_audit_report r = verify(NULL);
    CHECK_MSG(r.ok && r.n_entries == 6, "%s", r.message);
    /* the second handle continues the chain the first one extended */
    CHECK(plmm_audit_append(b, "local:expert.it", NULL, PLMM_AUDIT_SENT, "b", 1) == PLMM_OK);
    plmm_audit_close(b);
    r = verify(NULL);
    CHECK_MSG(r.ok && r.n_entries == 7, "%s", r.message);
    r = verify(root3);
    CHECK_MSG(r.ok, "an earlier root must be a prefix root: %s", r.message);
    CHECK(strcmp(r.root_hex, root3) != 0);
    r = verify("00000000000000000000000000000000000000000000000000000000000000ff");
    CHECK(!r.ok);
    CHECK_CONTAINS(r.message, "expected root");

    /* reopening continues the chain */
    CHECK(plmm_audit_open(log_path, &a) == PLMM_OK);
    CHECK(plmm_audit_append(a, "local:expert.it", NULL, PLMM_AUDIT_SENT, "x", 1) == PLMM_OK);
    plmm_audit_close(a);
    r = verify(NULL);
    CHECK(r.ok && r.n_entries == 8);

    size_t n = 0, hn = 0, st[17];
    char *orig = slurp(log_path, &n);
    char *head = slurp(head_path, &hn);
    size_t nl = lines(orig, n, st);
    CHECK(nl == 8);
    char *buf = malloc(n + 256);

    /* modify entry 3 (its byte count) */
    memcpy(buf, orig, n);
    char *tab = memchr(buf + st[2], '\t', st[3] - st[2]);
    tab = memchr(tab + 1, '\t', st[3] - (size_t)(tab + 1 - buf));
    tab[1] = tab[1] == 'h' ? 'H' : 'h'; /* the destination's first letter */
    spit(log_path, buf, n);
    EXPECT_BAD("modified entry 3", 3);

    /* delete entry 4 */
    memcpy(buf, orig, st[3]);
    memcpy(buf + st[3], orig + st[4], n - st[4]);
    spit(log_path, buf, n - (st[4] - st[3]));
    EXPECT_BAD("deleted entry 4", 4);

    /* swap entries 2 and 3 */
    size_t o = 0;
    memcpy(buf, orig, st[1]);
    o = st[1];
    memcpy(buf + o, orig + st[2], st[3] - st[2]);
    o += st[3] - st[2];
    memcpy(buf + o, orig + st[1], st[2] - st[1]);
    o += st[2] - st[1];
    memcpy(buf + o, orig + st[3], n - st[3]);
    spit(log_path, buf, n);
    EXPECT_BAD("reordered entries 2 and 3", 2);

    /* insert a copy of entry 5 after entry 5 */
    memcpy(buf, orig, st[5]);
    memcpy(buf + st[5], orig + st[4], st[5] - st[4]);
    memcpy(buf + st[5] + (st[5] - st[4]), orig + st[5], n - st[5]);
    spit(log_path, buf, n + (st[5] - st[4]));
    EXPECT_BAD("inserted entry", 6);

    /* the last entry removed: only the head knows */
    spit(log_path, orig, st[7]);
    r = verify(NULL);
    CHECK_MSG(!r.ok && r.first_bad == 8, "truncated: ok=%u first_bad=%llu %s", r.ok,
              (unsigned long long)r.first_bad, r.message);
    CHECK_CONTAINS(r.message, "deleted from the end");

    /* a torn last line (crash during an append) */
    spit(log_path, orig, n - 5);
    EXPECT_BAD("torn last line", 8);
    CHECK(plmm_audit_open(log_path, &a) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "incomplete");

    /* a rewritten head */
    spit(log_path, orig, n);
    spit(head_path, "plmm-audit-head 1\t8\tab\tcd\n", 26);
    r = verify(NULL);
    CHECK(!r.ok);
    CHECK_CONTAINS(r.message, "head");
    spit(head_path, head, hn);
    r = verify(NULL);
    CHECK(r.ok);

    free(buf);
    free(orig);
    free(head);

    /* four processes appending at once: one chain, every entry kept */
    unlink(log_path);
    unlink(head_path);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            plmm_audit *w = NULL;
            if (plmm_audit_open(log_path, &w) != PLMM_OK)
                _exit(2);
            for (int i = 0; i < 25; i++)
                if (plmm_audit_append(w, "local:expert.art", NULL, PLMM_AUDIT_SENT, "x", 1) !=
                    PLMM_OK)
                    _exit(3);
            plmm_audit_close(w);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++) {
        int status = 0;
        waitpid(kids[k], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", k);
    }
    r = verify(NULL);
    CHECK_MSG(r.ok && r.n_entries == 100, "concurrent writers: ok=%u n=%llu %s", r.ok,
              (unsigned long long)r.n_entries, r.message);
    unlink(log_path);
    unlink(head_path);
    rmdir(dir);
    return test_summary("test-audit");
}
