/*
 * The encrypted personal store: round trips, wrong secrets, damaged and
 * truncated files, crashes during writes (a forked writer killed with
 * SIGKILL at random points), forgetting, re-keying, locking, and that no
 * plaintext ever reaches the disk.
 */
#include "plmm/plmm.h"
#include "plmm/vault.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static plmm_vault_secret pass(const char *p)
{
    plmm_vault_secret s = {sizeof(s), PLMM_VAULT_KDF_TEST, p, strlen(p), NULL};
    return s;
}

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz + 1);
    *n = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* No file in the test directory holds any of the strings. */
static void check_no_plaintext(const char *const *words, const char *when)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[512];
        path_in(p, sizeof(p), de->d_name);
        size_t n = 0;
        unsigned char *data = slurp(p, &n);
        for (const char *const *w = words; data != NULL && *w != NULL; w++)
            CHECK_MSG(!contains(data, n, *w), "%s: '%s' holds plaintext '%s'", when, de->d_name,
                      *w);
        free(data);
    }
    closedir(d);
}

static const char *get(plmm_vault *v, const char *key)
{
    plmm_vault_item it = {.struct_size = sizeof(it)};
    return plmm_vault_get(v, key, &it) == PLMM_OK ? it.value : NULL;
}

static void test_round_trip(void)
{
    char p[512];
    path_in(p, sizeof(p), "a.vault");
    plmm_vault_secret s = pass("correct horse");
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna Berger") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_EMAIL, "email", "anna.berger@example.org") ==
          PLMM_OK);
    char key[64];
    CHECK(plmm_vault_add(v, PLMM_VAULT_MEMORY, PLMM_PII_NONE, "Allergic to penicillin", key,
                         sizeof(key)) == PLMM_OK);
    CHECK(strcmp(key, "memory.1") == 0);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna M. Berger") == PLMM_OK);
    /* bad input */
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, 0, "has space", "x") == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, 0, "k", "\xff\xfe") == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_vault_set(v, 9, 0, "k", "x") == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, 99, "k", "x") == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_vault_forget(v, "nope") == PLMM_ERR_NOT_FOUND);
    /* a second writer is refused while the first holds the lock */
    plmm_vault *w = NULL;
    CHECK(plmm_vault_open(p, &s, PLMM_VAULT_WRITE, &w) == PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "in use");
    plmm_vault_close(v);

    CHECK(plmm_vault_open(p, &s, 0, &v) == PLMM_OK);
    CHECK(plmm_vault_count(v) == 3);
    CHECK(get(v, "name") != NULL && strcmp(get(v, "name"), "Anna M. Berger") == 0);
    CHECK(get(v, "memory.1") != NULL && strcmp(get(v, "memory.1"), "Allergic to penicillin") == 0);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, 0, "x", "y") == PLMM_ERR_DENIED); /* read-only */
    char *json = NULL;
    CHECK(plmm_vault_export_json(v, &json) == PLMM_OK);
    CHECK_CONTAINS(json, "\"key\":\"email\"");
    CHECK_CONTAINS(json, "anna.berger@example.org");
    plmm_free(json);
    plmm_vault_close(v);

    /* create never replaces */
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(p, &n0);
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "exists");
    unsigned char *after = slurp(p, &n1);
    CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    const char *const words[] = {"Anna", "Berger", "penicillin", "correct horse", NULL};
    check_no_plaintext(words, "round trip");
}

static void test_wrong_secret(void)
{
    char p[512], kf[512];
    path_in(p, sizeof(p), "a.vault");
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(p, &n0);
    plmm_vault_secret bad = pass("wrong horse");
    plmm_vault *v = NULL;
    CHECK(plmm_vault_open(p, &bad, PLMM_VAULT_WRITE, &v) == PLMM_ERR_AUTH);
    CHECK_CONTAINS(plmm_last_errmsg(), "wrong passphrase");
    CHECK(strstr(plmm_last_errmsg(), "wrong horse") == NULL);
    CHECK(v == NULL);
    unsigned char *after = slurp(p, &n1);
    CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);

    /* key files */
    path_in(kf, sizeof(kf), "k.key");
    CHECK(plmm_vault_keygen(kf) == PLMM_OK);
    CHECK(plmm_vault_keygen(kf) == PLMM_ERR_INVALID_ARG); /* never overwritten */
    plmm_vault_secret ks = {sizeof(ks), 0, NULL, 0, kf};
    CHECK(plmm_vault_open(p, &ks, 0, &v) == PLMM_ERR_AUTH);
    CHECK_CONTAINS(plmm_last_errmsg(), "passphrase");
    char kp[512];
    path_in(kp, sizeof(kp), "k.vault");
    CHECK(plmm_vault_create(kp, &ks, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PLACE, "city", "Graz") == PLMM_OK);
    plmm_vault_close(v);
    CHECK(plmm_vault_open(kp, &ks, 0, &v) == PLMM_OK);
    CHECK(get(v, "city") != NULL);
    plmm_vault_close(v);
    chmod(kf, 0644);
    CHECK(plmm_vault_open(kp, &ks, 0, &v) == PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "readable by other users");
    chmod(kf, 0600);
    plmm_vault_secret both = {sizeof(both), 0, "x", 1, kf};
    CHECK(plmm_vault_open(kp, &both, 0, &v) == PLMM_ERR_INVALID_ARG);
}

/* A store larger than one chunk (64 KiB) so truncation at a chunk boundary is tested. */
static void make_big(const char *p, plmm_vault_secret *s)
{
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, s, &v) == PLMM_OK);
    char *big = malloc(100001);
    memset(big, 'q', 100000);
    big[100000] = '\0';
    CHECK(plmm_vault_set(v, PLMM_VAULT_MEMORY, 0, "big", big) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Zoe Quint") == PLMM_OK);
    free(big);
    plmm_vault_close(v);
}

static void test_damage(void)
{
    char p[512], good[512];
    path_in(p, sizeof(p), "big.vault");
    path_in(good, sizeof(good), "big.good");
    plmm_vault_secret s = pass("pw");
    make_big(p, &s);
    size_t n = 0;
    unsigned char *orig = slurp(p, &n);
    CHECK(n > 65536 + 176 + 17);
    /* truncation: in the header, mid-chunk, exactly after the first chunk, one byte short */
    const size_t cuts[] = {0, 100, 176, 176 + 10, 176 + 65536 + 17, n - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        spit(p, orig, cuts[i]);
        plmm_vault *v = NULL;
        plmm_status st = plmm_vault_open(p, &s, PLMM_VAULT_WRITE, &v);
        CHECK_MSG(st == PLMM_ERR_FORMAT, "cut at %zu: status %d", cuts[i], st);
        CHECK_MSG(cuts[i] < 176 || strstr(plmm_last_errmsg(), "truncated") != NULL ||
                      strstr(plmm_last_errmsg(), "authentication") != NULL,
                  "cut at %zu: '%s'", cuts[i], plmm_last_errmsg());
        size_t m = 0;
        unsigned char *now = slurp(p, &m);
        CHECK(m == cuts[i]); /* a damaged store is never rewritten */
        free(now);
    }
    /* one flipped bit anywhere is detected */
    const size_t flips[] = {3, 20, 40, 60, 100, 130, 150, 176, 5000, 70000, n - 1};
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        unsigned char *copy = malloc(n);
        memcpy(copy, orig, n);
        copy[flips[i]] ^= 0x10;
        spit(p, copy, n);
        free(copy);
        plmm_vault *v = NULL;
        plmm_status st = plmm_vault_open(p, &s, 0, &v);
        CHECK_MSG(st == PLMM_ERR_FORMAT, "flip at %zu: status %d (%s)", flips[i], st,
                  plmm_last_errmsg());
        plmm_vault_close(v);
    }
    /* the good copy still opens: nothing of the last good state is lost */
    spit(p, orig, n);
    plmm_vault *v = NULL;
    CHECK(plmm_vault_open(p, &s, 0, &v) == PLMM_OK);
    CHECK(get(v, "name") != NULL && strcmp(get(v, "name"), "Zoe Quint") == 0);
    plmm_vault_close(v);
    free(orig);
}

static void fill_blob(char *blob, long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%ld", n);
    size_t l = strlen(num), o = 0;
    while (o + l < 79000) {
        memcpy(blob + o, num, l);
        o += l;
    }
    blob[o] = '\0';
}

static char *expected_blob(long n)
{
    char *b = malloc(80000);
    fill_blob(b, n);
    return b;
}

/* The writer: every state it saves is self-consistent ("n" = N and
 * "blob" = N repeated), so a torn write would show. */
static void writer(const char *p, plmm_vault_secret *s)
{
    plmm_vault *v = NULL;
    if (plmm_vault_open(p, s, PLMM_VAULT_WRITE, &v) != PLMM_OK)
        _exit(3);
    plmm_vault_item it = {.struct_size = sizeof(it)};
    long n = plmm_vault_get(v, "n", &it) == PLMM_OK ? atol(it.value) : 0;
    char num[32], *blob = malloc(80000);
    for (;;) {
        n++;
        snprintf(num, sizeof(num), "%ld", n);
        fill_blob(blob, n);
        /* two writes per state: the first changes blob, the second n */
        if (plmm_vault_set(v, PLMM_VAULT_MEMORY, 0, "blob", blob) != PLMM_OK ||
            plmm_vault_set(v, PLMM_VAULT_FACT, 0, "n", num) != PLMM_OK)
            _exit(4);
    }
}

static void test_kill9(void)
{
    char p[512];
    path_in(p, sizeof(p), "crash.vault");
    plmm_vault_secret s = pass("pw");
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, 0, "n", "0") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_OTHER, "marker", "Zebra-Plaintext-Marker") ==
          PLMM_OK);
    plmm_vault_close(v);
    long last = 0;
    unsigned seed = (unsigned)time(NULL);
    int rounds = 40, progressed = 0, scale = 1, temps_seen = 0;
    for (int r = 0; r < rounds; r++) {
        pid_t pid = fork();
        if (pid == 0)
            writer(p, &s);
        /* kill at a random point; wait longer while the writer makes no progress
         * (a slow disk), so the test also works on loaded machines */
        long us = 2000 + (long)(rand_r(&seed) % (unsigned)(40000 * scale));
        struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status), "round %d: writer exited on its own (%d)", r,
                  WEXITSTATUS(status));
        /* what the killed writer left: never plaintext */
        const char *const words[] = {"Zebra-Plaintext-Marker", NULL};
        check_no_plaintext(words, "after kill -9");
        DIR *d0 = opendir(dir);
        struct dirent *e0;
        while ((e0 = readdir(d0)) != NULL)
            temps_seen += strstr(e0->d_name, "crash.vault.tmp.") != NULL;
        closedir(d0);
        v = NULL;
        plmm_status st = plmm_vault_open(p, &s, 0, &v);
        CHECK_MSG(st == PLMM_OK, "round %d: store unreadable after kill -9: %s", r,
                  plmm_last_errmsg());
        if (st != PLMM_OK)
            break;
        const char *n = get(v, "n"), *blob = get(v, "blob");
        long cur = n != NULL ? atol(n) : -1;
        CHECK_MSG(cur >= last, "round %d: state went back from %ld to %ld", r, last, cur);
        if (cur > 0) {
            /* blob is written first: it holds N or N+1 */
            char *a = expected_blob(cur), *b = expected_blob(cur + 1);
            CHECK_MSG(blob != NULL && (strcmp(blob, a) == 0 || strcmp(blob, b) == 0),
                      "round %d: inconsistent state n=%ld", r, cur);
            free(a);
            free(b);
        }
        progressed += cur > last;
        if (cur == last && scale < 16)
            scale *= 2;
        else if (cur > last && scale > 1)
            scale /= 2;
        last = cur;
        plmm_vault_close(v);
    }
    CHECK_MSG(progressed > 0, "the writer never completed a write in %d rounds", rounds);
    printf("kill -9: %d rounds, %ld states written, every reopen consistent\n", rounds, last);
    /* temporaries killed writers left held ciphertext only (checked each
     * round) and are removed by the next writer */
    printf("kill -9: %d temporary file(s) left by killed writers, none with plaintext\n",
           temps_seen);
    CHECK(plmm_vault_open(p, &s, PLMM_VAULT_WRITE, &v) == PLMM_OK);
    plmm_vault_close(v);
    DIR *d = opendir(dir);
    struct dirent *de;
    int temps = 0;
    while ((de = readdir(d)) != NULL)
        temps += strstr(de->d_name, "crash.vault.tmp.") != NULL;
    closedir(d);
    CHECK_MSG(temps == 0, "%d temporary files left after a writable open", temps);
}

static void test_forget_rekey(void)
{
    char p[512];
    path_in(p, sizeof(p), "f.vault");
    plmm_vault_secret s = pass("old pass");
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_OTHER, "secret", "Quetzalcoatl") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PLACE, "city", "Lyon") == PLMM_OK);
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(p, &n0);
    CHECK(plmm_vault_forget(v, "secret") == PLMM_OK);
    CHECK(get(v, "secret") == NULL);
    unsigned char *after = slurp(p, &n1);
    /* a new data key: the wrapped key differs */
    CHECK(n0 > 120 && n1 > 120 && memcmp(before + 72, after + 72, 48) != 0);
    free(before);
    free(after);
    plmm_vault_secret s2 = pass("new pass");
    CHECK(plmm_vault_rekey(v, &s2) == PLMM_OK);
    plmm_vault_close(v);
    CHECK(plmm_vault_open(p, &s, 0, &v) == PLMM_ERR_AUTH);
    CHECK(plmm_vault_open(p, &s2, 0, &v) == PLMM_OK);
    CHECK(plmm_vault_count(v) == 1 && get(v, "city") != NULL && get(v, "secret") == NULL);
    plmm_vault_close(v);
    const char *const words[] = {"Quetzalcoatl", "Lyon", "old pass", "new pass", NULL};
    check_no_plaintext(words, "forget/rekey");
}

static void test_select(void)
{
    char p[512];
    path_in(p, sizeof(p), "s.vault");
    plmm_vault_secret s = pass("pw");
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna Berger") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_NONE, "diet", "vegetarian, no nuts") ==
          PLMM_OK);
    CHECK(plmm_vault_add(v, PLMM_VAULT_MEMORY, 0, "Dentist appointment on Friday at 9", NULL, 0) ==
          PLMM_OK);
    CHECK(plmm_vault_add(v, PLMM_VAULT_MEMORY, 0, "Car insurance renews in March", NULL, 0) ==
          PLMM_OK);
    size_t idx[4], n = 0;
    CHECK(plmm_vault_select(v, "When is my dentist appointment?", idx, 4, &n) == PLMM_OK);
    CHECK(n >= 1);
    plmm_vault_item it = {.struct_size = sizeof(it)};
    CHECK(n >= 1 && plmm_vault_item_at(v, idx[0], &it) == PLMM_OK &&
          strstr(it.value, "Dentist") != NULL);
    char *ctx = NULL;
    CHECK(plmm_vault_context(v, "Suggest a dinner recipe without nuts", 3, 0, &ctx) == PLMM_OK);
    CHECK_CONTAINS(ctx, "vegetarian");
    CHECK_CONTAINS(ctx, "Anna Berger"); /* the name has a prior */
    CHECK(strstr(ctx, "insurance") == NULL);
    plmm_free(ctx);
    CHECK(plmm_vault_context(v, "dentist", 3, 10, &ctx) == PLMM_OK); /* nothing fits 10 bytes */
    CHECK(ctx != NULL && ctx[0] == '\0');
    plmm_free(ctx);
    plmm_vault_close(v);
}

/* The default key derivation (Argon2id MODERATE) works end to end. */
static void test_moderate(void)
{
    char p[512];
    path_in(p, sizeof(p), "m.vault");
    plmm_vault_secret s = {sizeof(s), PLMM_VAULT_KDF_MODERATE, "pw", 2, NULL};
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(p, &s, &v) == PLMM_OK);
    plmm_vault_close(v);
    size_t n = 0;
    unsigned char *data = slurp(p, &n);
    CHECK(n >= 32);
    uint64_t ops = 0, mem = 0;
    for (int i = 7; i >= 0 && n >= 32; i--) {
        ops = ops << 8 | data[16 + i];
        mem = mem << 8 | data[24 + i];
    }
    CHECK(ops == crypto_pwhash_OPSLIMIT_MODERATE && mem == crypto_pwhash_MEMLIMIT_MODERATE);
    free(data);
    CHECK(plmm_vault_open(p, &s, 0, &v) == PLMM_OK);
    plmm_vault_close(v);
}

static void test_data_path(void)
{
    char p[512], want[512];
    setenv("XDG_DATA_HOME", dir, 1);
    CHECK(plmm_data_path("vault.plmm", true, p, sizeof(p)) == PLMM_OK);
    snprintf(want, sizeof(want), "%s/plmm/vault.plmm", dir);
    CHECK(strcmp(p, want) == 0);
    struct stat st;
    snprintf(want, sizeof(want), "%s/plmm", dir);
    CHECK(stat(want, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    CHECK(plmm_data_path("vault.plmm", false, p, 8) == PLMM_ERR_RANGE);
    rmdir(want);
    unsetenv("XDG_DATA_HOME");
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[512];
        path_in(p, sizeof(p), de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-vault-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_wrong_secret();
    test_damage();
    test_kill9();
    test_forget_rekey();
    test_select();
    test_moderate();
    test_data_path();
    cleanup();
    return test_summary("test-vault");
}
