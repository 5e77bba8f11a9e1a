/*
 * The audit log: an append-only, hash-chained record of every outgoing
 * request (format in include/plmm/audit.h).
 *
 * Line (tab-separated, '\n'-terminated):
 *   seq  time  destination  categories  outcome  bytes  sha256(body)  chain
 * e.g.
 *   3  2026-11-27T03:10:00Z  http://127.0.0.1:8081/v1/chat/completions
 *      EMAIL=1,IBAN=1,PERSON=1  sent  412  9f86d0...  4e07c1...
 *
 * Head file "PATH.head": "plmm-audit-head 1\t<count>\t<chain hex>\t<root hex>\n",
 * replaced atomically after every append.
 */
#include "plmm/audit.h"

#include "errors.h"
#include "plmm/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HASH 32
#define MAX_LINE 4096
#define MAX_LEVELS 64

/* ---- Merkle tree (RFC 6962), built incrementally ---- */

/* Compact range of a growing tree: the roots of the perfect subtrees
 * whose sizes are the set bits of the leaf count. */
typedef struct merkle {
    uint8_t node[MAX_LEVELS][HASH];
    uint64_t count;
} merkle;

static void hash_node(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
    crypto_hash_sha256_state st;
    const uint8_t one = 1;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &one, 1);
    crypto_hash_sha256_update(&st, l, HASH);
    crypto_hash_sha256_update(&st, r, HASH);
    crypto_hash_sha256_final(&st, out);
}

static void merkle_add(merkle *m, const uint8_t *leaf)
{
    uint8_t cur[HASH];
    memcpy(cur, leaf, HASH);
    int level = 0;
    for (uint64_t c = m->count; c & 1; c >>= 1, level++)
        hash_node(m->node[level], cur, cur);
    memcpy(m->node[level], cur, HASH);
    m->count++;
}

/* Root of the tree so far (SHA-256 of "" for an empty tree). */
static void merkle_root(const merkle *m, uint8_t *out)
{
    if (m->count == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    bool have = false;
    uint8_t acc[HASH];
    for (int level = 0; level < MAX_LEVELS; level++) {
        if (!((m->count >> level) & 1))
            continue;
        if (!have) {
            memcpy(acc, m->node[level], HASH);
            have = true;
        } else {
            hash_node(m->node[level], acc, acc);
        }
    }
    memcpy(out, acc, HASH);
}

static void leaf_hash(const char *line, size_t n, uint8_t *out)
{
    crypto_hash_sha256_state st;
    const uint8_t zero = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)line, n);
    crypto_hash_sha256_final(&st, out);
}

static void chain_next(const uint8_t *prev, const uint8_t *leaf, uint8_t *out)
{
    hash_node(prev, leaf, out);
}

static void to_hex(const uint8_t *h, char *out)
{
    sodium_bin2hex(out, 2 * HASH + 1, h, HASH);
}

/* ---- the writer ---- */

struct plmm_audit {
    char *path;
    char *head_path;
    int fd;         /* O_APPEND; flock'd only while an entry is written */
    uint64_t count; /* state of the log as of known_size bytes */
    uint8_t chain[HASH];
    merkle tree;
    uint64_t known_size;
};

/* Parse one line: the text before the last tab (hashed) and the chain
 * field. Returns false when malformed. */
static bool split_line(const char *line, size_t n, size_t *body_len, uint8_t *chain, uint64_t *seq)
{
    size_t tabs = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '\t') {
            tabs++;
            last = i;
        }
    }
    if (tabs != 7 || n - last - 1 != 2 * HASH)
        return false;
    size_t bin_len = 0;
    if (sodium_hex2bin(chain, HASH, line + last + 1, 2 * HASH, NULL, &bin_len, NULL) != 0 ||
        bin_len != HASH)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(line, &end, 10);
    if (errno != 0 || end == line || *end != '\t' || line[0] == '0')
        return false;
    *seq = v;
    *body_len = last;
    return true;
}

/* Read the whole log (bounded by the caller). */
static plmm_status read_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return plmm_err(errno == ENOENT ? PLMM_ERR_NOT_FOUND : PLMM_ERR_IO,
                        "cannot open audit log '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return plmm_err(PLMM_ERR_IO, "cannot stat '%s'", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (buf == NULL) {
        close(fd);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return PLMM_OK;
}

static plmm_status write_head(const plmm_audit *a)
{
    char line[256], chain[2 * HASH + 1], root_hex[2 * HASH + 1];
    uint8_t root[HASH];
    merkle_root(&a->tree, root);
    to_hex(a->chain, chain);
    to_hex(root, root_hex);
    int n = snprintf(line, sizeof(line), "plmm-audit-head 1\t%llu\t%s\t%s\n",
                     (unsigned long long)a->count, chain, root_hex);
    size_t tl = strlen(a->head_path) + 8;
    char *tmp = malloc(tl);
    if (tmp == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    snprintf(tmp, tl, "%s.tmp", a->head_path);
    plmm_status s = PLMM_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0)
        s = plmm_err(PLMM_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (s == PLMM_OK && rename(tmp, a->head_path) != 0)
        s = plmm_err(PLMM_ERR_IO, "cannot replace '%s': %s", a->head_path, strerror(errno));
    if (s != PLMM_OK)
        unlink(tmp);
    free(tmp);
    return s;
}

PLMM_EXPORT void plmm_audit_close(plmm_audit *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a->head_path);
    free(a);
}

/* Rebuild count, chain and tree from the log as it is now (the caller
 * holds the lock); damage is left for plmm_audit_verify to report. */
static plmm_status load_state(plmm_audit *a)
{
    char *data = NULL;
    size_t len = 0;
    plmm_status s = read_file(a->path, &data, &len);
    if (s != PLMM_OK)
        return s;
    a->count = 0;
    memset(a->chain, 0, HASH);
    memset(&a->tree, 0, sizeof(a->tree));
    if (len > 0 && data[len - 1] != '\n') {
        free(data);
        return plmm_err(PLMM_ERR_FORMAT,
                        "audit log '%s' ends in an incomplete entry; check it with 'plmm audit "
                        "verify'",
                        a->path);
    }
    for (size_t i = 0; i < len;) {
        char *nl = memchr(data + i, '\n', len - i);
        size_t ll = (size_t)(nl - (data + i)), body_len;
        uint8_t chain[HASH], leaf[HASH];
        uint64_t seq;
        if (!split_line(data + i, ll, &body_len, chain, &seq) || seq != a->count + 1) {
            s = plmm_err(PLMM_ERR_FORMAT,
                         "audit log '%s': entry %llu is malformed; check it with 'plmm audit "
                         "verify'",
                         a->path, (unsigned long long)a->count + 1);
            break;
        }
        leaf_hash(data + i, body_len, leaf);
        merkle_add(&a->tree, leaf);
        memcpy(a->chain, chain, HASH);
        a->count++;
        i += ll + 1;
    }
    free(data);
    a->known_size = len;
    return s;
}

PLMM_EXPORT plmm_status plmm_audit_open(const char *path, plmm_audit **out)
{
    if (path == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    plmm_audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    a->fd = -1;
    size_t n = strlen(path);
    a->path = malloc(n + 1);
    a->head_path = malloc(n + 6);
    plmm_status s = PLMM_OK;
    if (a->path == NULL || a->head_path == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->head_path, n + 6, "%s.head", path);
    a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        s = plmm_err(PLMM_ERR_IO, "cannot open audit log '%s': %s", path, strerror(errno));
        goto fail;
    }
    (void)flock(a->fd, LOCK_EX);
    s = load_state(a);
    (void)flock(a->fd, LOCK_UN);
    if (s != PLMM_OK)
        goto fail;
    *out = a;
    return PLMM_OK;
fail:
    plmm_audit_close(a);
    return s;
}

/* scheme://host[:port]/path of a URL: no credentials, query or fragment,
 * no tabs or newlines. */
static void reduce_url(const char *url, char *out, size_t size)
{
    const char *p = url;
    const char *scheme_end = strstr(url, "://");
    size_t o = 0;
    if (scheme_end != NULL) {
        size_t sl = (size_t)(scheme_end - url) + 3;
        if (sl < size) {
            memcpy(out, url, sl);
            o = sl;
        }
        p = scheme_end + 3;
        const char *auth_end = p + strcspn(p, "/?#");
        const char *at = memchr(p, '@', (size_t)(auth_end - p));
        if (at != NULL)
            p = at + 1;
    }
    for (; *p != '\0' && *p != '?' && *p != '#' && o + 1 < size; p++)
        out[o++] = (*p == '\t' || *p == '\n' || *p == '\r' || (unsigned char)*p < 0x20) ? '_' : *p;
    out[o] = '\0';
    if (o == 0)
        snprintf(out, size, "-");
}

static plmm_status append_locked(plmm_audit *a, char *line, size_t size, const char *tbuf,
                                 const char *dest, const char *cats, uint32_t outcome, size_t len,
                                 const char *body_hex);

PLMM_EXPORT plmm_status plmm_audit_append(plmm_audit *a, const char *destination,
                                          const plmm_pii_counts *counts, uint32_t outcome,
                                          const void *body, size_t len)
{
    if (a == NULL || destination == NULL || (body == NULL && len > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (outcome != PLMM_AUDIT_SENT && outcome != PLMM_AUDIT_REFUSED)
        return plmm_err(PLMM_ERR_INVALID_ARG, "unknown audit outcome %u", (unsigned)outcome);
    char line[MAX_LINE], dest[1024], cats[512] = "", tbuf[32], body_hex[2 * HASH + 1];
    uint8_t h[HASH];
    reduce_url(destination, dest, sizeof(dest));
    size_t co = 0;
    for (uint32_t c = 1; counts != NULL && c < PLMM_PII_COUNT; c++) {
        if (counts->n[c] == 0)
            continue;
        co += (size_t)snprintf(cats + co, sizeof(cats) - co, "%s%s=%u", co ? "," : "",
                               plmm_pii_name(c), (unsigned)counts->n[c]);
    }
    if (co == 0)
        snprintf(cats, sizeof(cats), "-");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    crypto_hash_sha256(h, body, len);
    to_hex(h, body_hex);
    /* Several processes may append: one at a time, each continuing the
     * chain as it is on disk. */
    if (flock(a->fd, LOCK_EX) != 0)
        return plmm_err(PLMM_ERR_IO, "cannot lock audit log '%s': %s", a->path, strerror(errno));
    plmm_status s = append_locked(a, line, sizeof(line), tbuf, dest, cats, outcome, len, body_hex);
    (void)flock(a->fd, LOCK_UN);
    return s;
}

/* The part of plmm_audit_append that runs under the lock. */
static plmm_status append_locked(plmm_audit *a, char *line, size_t size, const char *tbuf,
                                 const char *dest, const char *cats, uint32_t outcome, size_t len,
                                 const char *body_hex)
{
    uint8_t leaf[HASH], chain[HASH];
    char chain_hex[2 * HASH + 1];
    struct stat st;
    if (fstat(a->fd, &st) != 0)
        return plmm_err(PLMM_ERR_IO, "cannot stat audit log '%s'", a->path);
    if ((uint64_t)st.st_size != a->known_size) {
        plmm_status s = load_state(a); /* another process appended */
        if (s != PLMM_OK)
            return s;
    }
    int n =
        snprintf(line, size, "%llu\t%s\t%s\t%s\t%s\t%zu\t%s", (unsigned long long)a->count + 1,
                 tbuf, dest, cats, outcome == PLMM_AUDIT_SENT ? "sent" : "refused", len, body_hex);
    if (n < 0 || (size_t)n + 2 * HASH + 3 > size)
        return plmm_err(PLMM_ERR_RANGE, "audit entry too long");
    leaf_hash(line, (size_t)n, leaf);
    chain_next(a->chain, leaf, chain);
    to_hex(chain, chain_hex);
    n += snprintf(line + n, size - (size_t)n, "\t%s\n", chain_hex);
    ssize_t w = write(a->fd, line, (size_t)n);
    if (w != n || fsync(a->fd) != 0) {
        a->known_size = UINT64_MAX; /* re-read before the next entry */
        return plmm_err(PLMM_ERR_IO, "cannot append to audit log '%s': %s", a->path,
                        w < 0 ? strerror(errno) : "short write");
    }
    memcpy(a->chain, chain, HASH);
    merkle_add(&a->tree, leaf);
    a->count++;
    a->known_size += (uint64_t)n;
    return write_head(a);
}

/* ---- verification ---- */

static void report_bad(plmm_audit_report *r, uint64_t entry, const char *what)
{
    r->ok = 0;
    r->first_bad = entry;
    snprintf(r->message, sizeof(r->message), "entry %llu: %s", (unsigned long long)entry, what);
}

PLMM_EXPORT plmm_status plmm_audit_verify(const char *path, const char *expected_root,
                                          plmm_audit_report *r)
{
    if (path == NULL || r == NULL || r->struct_size < sizeof(*r))
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument or struct_size too small");
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    uint32_t size = r->struct_size;
    memset(r, 0, sizeof(*r));
    r->struct_size = size;
    r->ok = 1;
    char *data = NULL;
    size_t len = 0;
    plmm_status s = read_file(path, &data, &len);
    if (s != PLMM_OK)
        return s;
    merkle tree;
    memset(&tree, 0, sizeof(tree));
    uint8_t chain[HASH] = {0}, root[HASH];
    bool root_seen = expected_root == NULL;
    uint8_t want_root[HASH];
    if (expected_root != NULL) {
        size_t bl = 0;
        if (strlen(expected_root) != 2 * HASH ||
            sodium_hex2bin(want_root, HASH, expected_root, 2 * HASH, NULL, &bl, NULL) != 0) {
            free(data);
            return plmm_err(PLMM_ERR_INVALID_ARG, "expected root must be 64 hex digits");
        }
        merkle_root(&tree, root);
        root_seen = memcmp(root, want_root, HASH) == 0;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < len && r->ok;) {
        char *nl = memchr(data + i, '\n', len - i);
        uint64_t entry = n + 1;
        if (nl == NULL) {
            report_bad(r, entry, "incomplete last line (no newline)");
            break;
        }
        size_t ll = (size_t)(nl - (data + i)), body_len;
        uint8_t rec_chain[HASH], leaf[HASH], want[HASH];
        uint64_t seq;
        if (!split_line(data + i, ll, &body_len, rec_chain, &seq)) {
            report_bad(r, entry, "malformed line");
            break;
        }
        if (seq != entry) {
            char what[96];
            snprintf(what, sizeof(what),
                     "sequence number %llu where %llu was expected "
                     "(entries deleted, inserted or reordered)",
                     (unsigned long long)seq, (unsigned long long)entry);
            report_bad(r, entry, what);
            break;
        }
        leaf_hash(data + i, body_len, leaf);
        chain_next(chain, leaf, want);
        if (sodium_memcmp(want, rec_chain, HASH) != 0) {
            report_bad(r, entry, "hash chain broken (the entry or one before it was modified)");
            break;
        }
        memcpy(chain, want, HASH);
        merkle_add(&tree, leaf);
        n++;
        if (!root_seen) {
            merkle_root(&tree, root);
            root_seen = memcmp(root, want_root, HASH) == 0;
        }
        i += ll + 1;
    }
    r->n_entries = n;
    merkle_root(&tree, root);
    to_hex(root, r->root_hex);
    free(data);
    if (!r->ok)
        return PLMM_OK;
    /* The head file: catches entries cut off the end. */
    size_t hl = strlen(path) + 6;
    char *head_path = malloc(hl);
    if (head_path == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    snprintf(head_path, hl, "%s.head", path);
    char *head = NULL;
    size_t head_len = 0;
    s = read_file(head_path, &head, &head_len);
    free(head_path);
    if (s == PLMM_ERR_NOT_FOUND && n == 0) {
        s = PLMM_OK;
    } else if (s == PLMM_ERR_NOT_FOUND) {
        s = PLMM_OK;
        r->ok = 0;
        snprintf(r->message, sizeof(r->message), "head file '%s.head' is missing", path);
    } else if (s == PLMM_OK) {
        unsigned long long count = 0;
        char chain_hex[80] = "", root_hex[80] = "", want_chain[2 * HASH + 1];
        if (sscanf(head, "plmm-audit-head 1\t%llu\t%79s\t%79s", &count, chain_hex, root_hex) != 3) {
            r->ok = 0;
            snprintf(r->message, sizeof(r->message), "head file is malformed");
        } else {
            to_hex(chain, want_chain);
            if (count != n) {
                r->ok = 0;
                r->first_bad = count > n ? n + 1 : 0;
                snprintf(r->message, sizeof(r->message),
                         "the head records %llu entries but the log holds %llu%s", count,
                         (unsigned long long)n, count > n ? " (entries deleted from the end)" : "");
            } else if (strcmp(chain_hex, want_chain) != 0 || strcmp(root_hex, r->root_hex) != 0) {
                r->ok = 0;
                snprintf(r->message, sizeof(r->message),
                         "the head's hashes do not match the log (log rewritten)");
            }
        }
        free(head);
    }
    if (r->ok && !root_seen) {
        r->ok = 0;
        snprintf(r->message, sizeof(r->message),
                 "no prefix of the log has the expected root (history rewritten)");
    }
    return s;
}
