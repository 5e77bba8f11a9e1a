/*
 * The ledger keyed by the vault: keys derived from the vault's master
 * secret (stable across passphrase changes, different per purpose and per
 * vault), a ledger that stays readable after `plmm vault passwd`, a wrong
 * passphrase or another vault's key refused with the ledger untouched, and
 * [ledger] key_source as the configuration resolves it; a format-1 vault
 * upgraded; the weak questions
 * of an expert chosen from the vault's history and the ledger's ratings.
 */
#include "plmm/ledger.h"
#include "plmm/update.h"
#include "plmm/vault.h"
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[512];
static char vault_path[PATH_MAX], other_vault[PATH_MAX], ledger_path[PATH_MAX],
    device_path[PATH_MAX], key_path[PATH_MAX];

static void path_of(char *out, const char *rel)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", base, rel);
    if (n < 0 || n >= PATH_MAX)
        abort();
}

static plmm_vault_secret pass(const char *p)
{
    plmm_vault_secret s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    s.kdf = PLMM_VAULT_KDF_TEST;
    s.passphrase = p;
    s.passphrase_len = strlen(p);
    return s;
}

static plmm_vault *open_vault(const char *path, const char *p, uint32_t flags)
{
    plmm_vault_secret s = pass(p);
    plmm_vault *v = NULL;
    plmm_status st = plmm_vault_open(path, &s, flags, &v);
    CHECK_MSG(st == PLMM_OK, "open vault: %s", plmm_last_errmsg());
    return v;
}

static plmm_status open_ledger(const uint8_t *key, plmm_ledger **out)
{
    plmm_ledger_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.path = ledger_path;
    p.device_key_path = device_path;
    p.key = key;
    *out = NULL;
    return plmm_ledger_open(&p, out);
}

static void record(plmm_ledger *l, int64_t tokens)
{
    plmm_ledger_rates r = {.struct_size = sizeof(r),
                           .counterparty = "finance-dev",
                           .currency = "EUR",
                           .in_per_1k = 1000,
                           .out_per_1k = 2000,
                           .rating = 100};
    CHECK(plmm_ledger_set_rates(l, "finance", &r) == PLMM_OK);
    plmm_ledger_usage u = {.struct_size = sizeof(u),
                           .expert = "finance",
                           .connector = "openai",
                           .tokens_in = tokens,
                           .tokens_out = tokens};
    plmm_status st = plmm_ledger_record_usage(l, &u, NULL);
    CHECK_MSG(st == PLMM_OK, "record: %s", plmm_last_errmsg());
}

/* The whole file, for "untouched" checks (malloc'd; *n its size). */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void test_derive(void)
{
    plmm_vault_secret s = pass("correct horse");
    plmm_vault *v = NULL, *w = NULL;
    CHECK(plmm_vault_create(vault_path, &s, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna Berger") == PLMM_OK);
    uint8_t a[32], b[32], c[32], d[32], e[32];
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, a, sizeof(a)) == PLMM_OK);
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, b, sizeof(b)) == PLMM_OK);
    CHECK(memcmp(a, b, 32) == 0);
    /* another purpose, another id: other keys */
    CHECK(plmm_vault_derive_key(v, "plmmtest", 1, c, sizeof(c)) == PLMM_OK);
    CHECK(memcmp(a, c, 32) != 0);
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 2, d, sizeof(d)) == PLMM_OK);
    CHECK(memcmp(a, d, 32) != 0);
    CHECK(plmm_ledger_vault_key(v, e) == PLMM_OK);
    CHECK(memcmp(a, e, 32) == 0);
    /* bad arguments named */
    CHECK(plmm_vault_derive_key(v, "short", 1, b, sizeof(b)) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "exactly 8 characters");
    CHECK(plmm_vault_derive_key(v, "plmm ldg", 1, b, sizeof(b)) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, b, 16) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "key_size");
    /* a write draws a new data key but keeps the master secret */
    CHECK(plmm_vault_add(v, PLMM_VAULT_MEMORY, PLMM_PII_NONE, "likes tea", NULL, 0) == PLMM_OK);
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, b, sizeof(b)) == PLMM_OK);
    CHECK(memcmp(a, b, 32) == 0);
    plmm_vault_close(v);
    /* another vault: another key */
    s = pass("correct horse");
    CHECK(plmm_vault_create(other_vault, &s, &w) == PLMM_OK);
    CHECK(plmm_vault_derive_key(w, PLMM_VAULT_CONTEXT_LEDGER, 1, b, sizeof(b)) == PLMM_OK);
    CHECK(memcmp(a, b, 32) != 0);
    plmm_vault_close(w);
    /* read back from the file, read-only */
    v = open_vault(vault_path, "correct horse", 0);
    if (v != NULL) {
        CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, b, sizeof(b)) == PLMM_OK);
        CHECK(memcmp(a, b, 32) == 0);
    }
    plmm_vault_close(v);
}

static void test_passphrase_change(void)
{
    uint8_t key[PLMM_LEDGER_KEY_BYTES], key2[PLMM_LEDGER_KEY_BYTES];
    plmm_vault *v = open_vault(vault_path, "correct horse", 0);
    if (v == NULL)
        return;
    CHECK(plmm_ledger_vault_key(v, key) == PLMM_OK);
    plmm_vault_close(v);
    plmm_ledger *l = NULL;
    plmm_status st = open_ledger(key, &l);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    if (l == NULL)
        return;
    record(l, 1000);
    record(l, 2000);
    plmm_ledger_close(l);

    /* plmm vault passwd */
    v = open_vault(vault_path, "correct horse", PLMM_VAULT_WRITE);
    plmm_vault_secret ns = pass("battery staple");
    CHECK(v != NULL && plmm_vault_rekey(v, &ns) == PLMM_OK);
    plmm_vault_close(v);

    /* the old passphrase no longer opens the vault; the ledger is untouched */
    size_t n_before = 0, n_after = 0;
    char *before = slurp(ledger_path, &n_before);
    plmm_vault_secret old = pass("correct horse");
    v = NULL;
    CHECK(plmm_vault_open(vault_path, &old, 0, &v) == PLMM_ERR_AUTH);
    CHECK_CONTAINS(plmm_last_errmsg(), "wrong passphrase");
    CHECK(v == NULL);
    char *after = slurp(ledger_path, &n_after);
    CHECK(before != NULL && after != NULL && n_before == n_after &&
          memcmp(before, after, n_before) == 0);
    free(after);

    /* the new passphrase gives the same key: the ledger opens and grows */
    v = open_vault(vault_path, "battery staple", 0);
    if (v == NULL) {
        free(before);
        return;
    }
    CHECK(plmm_ledger_vault_key(v, key2) == PLMM_OK);
    plmm_vault_close(v);
    CHECK(memcmp(key, key2, sizeof(key)) == 0);
    st = open_ledger(key2, &l);
    CHECK_MSG(st == PLMM_OK, "after passwd: %s", plmm_last_errmsg());
    if (l != NULL) {
        CHECK(plmm_ledger_count(l) == 2);
        record(l, 3000);
        CHECK(plmm_ledger_count(l) == 3);
        plmm_ledger_close(l);
    }
    plmm_ledger_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.path = ledger_path;
    p.device_key_path = device_path;
    p.key = key2;
    uint64_t n = 0;
    CHECK(plmm_ledger_verify(&p, &n) == PLMM_OK && n == 3);

    /* another vault's key: refused, naming entry 1, ledger unchanged */
    free(before);
    before = slurp(ledger_path, &n_before);
    v = open_vault(other_vault, "correct horse", 0);
    if (v != NULL) {
        CHECK(plmm_ledger_vault_key(v, key2) == PLMM_OK);
        plmm_vault_close(v);
        l = NULL;
        CHECK(open_ledger(key2, &l) == PLMM_ERR_AUTH);
        CHECK_CONTAINS(plmm_last_errmsg(), "entry 1");
        CHECK(l == NULL);
        after = slurp(ledger_path, &n_after);
        CHECK(after != NULL && n_before == n_after && memcmp(before, after, n_before) == 0);
        free(after);
    }
    free(before);
    memset(key, 0, sizeof(key));
}

/* [ledger] key_source as the configuration resolves it. */
static uint32_t source_of(const char *ini)
{
    char cfg[PATH_MAX];
    path_of(cfg, "plmm.ini");
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return 99;
    fputs(ini, f);
    fclose(f);
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = cfg, .log_level = -1};
    plmm_engine *e = NULL;
    plmm_status st = plmm_engine_open(&ep, &e);
    CHECK_MSG(st == PLMM_OK, "engine: %s", plmm_last_errmsg());
    uint32_t src = 99;
    if (e != NULL) {
        st = plmm_ledger_config_key_source(e, &src);
        if (st != PLMM_OK)
            src = 98;
    }
    plmm_engine_close(e);
    return src;
}

static void test_key_source(void)
{
    char ini[4 * PATH_MAX], missing[PATH_MAX];
    path_of(missing, "no-such-vault.plmm");
    snprintf(ini, sizeof(ini), "[ledger]\npath = %s\n", ledger_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_FILE);
    snprintf(ini, sizeof(ini), "[privacy]\nvault = %s\n[ledger]\npath = %s\n", vault_path,
             ledger_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_VAULT);
    /* auto: an explicit key file keeps file mode; no vault yet: file mode */
    snprintf(ini, sizeof(ini), "[privacy]\nvault = %s\n[ledger]\npath = %s\nkey_file = %s\n",
             vault_path, ledger_path, key_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_FILE);
    snprintf(ini, sizeof(ini), "[privacy]\nvault = %s\n[ledger]\npath = %s\n", missing,
             ledger_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_FILE);
    /* explicit choices */
    snprintf(ini, sizeof(ini), "[privacy]\nvault = %s\n[ledger]\nkey_source = file\n", vault_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_FILE);
    snprintf(ini, sizeof(ini), "[ledger]\nkey_source = vault\nkey_file = %s\n", key_path);
    CHECK(source_of(ini) == PLMM_LEDGER_KEY_VAULT);
}

static void test_select(void)
{
    plmm_vault *v = open_vault(vault_path, "battery staple", PLMM_VAULT_WRITE);
    if (v == NULL)
        return;
    char k[5][64];
    const char *turns[5] = {
        "Expert: finance\nRoute: expert\nConfidence: low\nQ: Is gold a hedge?\nA: Sometimes.",
        "Expert: finance\nConfidence: ok\nQ: What is a bond\nladder?\nA: Rungs.",
        "Expert: finance\nConfidence: ok\nQ: What is an ETF?\nA: A fund.",
        "Expert: it\nConfidence: low\nQ: Reset my router?\nA: Unplug it.",
        "Expert: finance\nConfidence: low\nQ: Is gold a hedge?\nA: Asked again.",
    };
    for (int i = 0; i < 5; i++)
        CHECK(plmm_vault_add(v, PLMM_VAULT_HISTORY, PLMM_PII_NONE, turns[i], k[i], 64) == PLMM_OK);
    /* no ledger: the low-confidence turns only, each question once */
    char *q = NULL;
    size_t n = 0;
    CHECK(plmm_distill_select(v, NULL, "finance", &q, &n) == PLMM_OK);
    CHECK(n == 1 && q != NULL && strcmp(q, "Is gold a hedge?\n") == 0);
    plmm_free(q);
    /* ratings: ":-1" makes a turn weak, ":+1" and other experts' do not */
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    CHECK(plmm_ledger_vault_key(v, key) == PLMM_OK);
    plmm_ledger *l = NULL;
    CHECK(open_ledger(key, &l) == PLMM_OK);
    if (l != NULL) {
        char ref[80];
        plmm_ledger_rates r = {
            .struct_size = sizeof(r), .counterparty = "dev", .currency = "EUR", .rating = 100};
        CHECK(plmm_ledger_set_rates(l, "finance", &r) == PLMM_OK);
        CHECK(plmm_ledger_set_rates(l, "it", &r) == PLMM_OK);
        snprintf(ref, sizeof(ref), "%s:-1", k[1]);
        CHECK(plmm_ledger_record_contribution(l, "finance", "rating", ref, NULL) == PLMM_OK);
        snprintf(ref, sizeof(ref), "%s:+1", k[2]);
        CHECK(plmm_ledger_record_contribution(l, "finance", "rating", ref, NULL) == PLMM_OK);
        snprintf(ref, sizeof(ref), "%s:-1", k[2]);
        CHECK(plmm_ledger_record_contribution(l, "it", "rating", ref, NULL) == PLMM_OK);
        CHECK(plmm_distill_select(v, l, "finance", &q, &n) == PLMM_OK);
        CHECK_MSG(n == 2 && q != NULL &&
                      strcmp(q, "Is gold a hedge?\nWhat is a bond ladder?\n") == 0,
                  "got %zu: %s", n, q ? q : "(null)");
        plmm_free(q);
        CHECK(plmm_distill_select(v, l, "it", &q, &n) == PLMM_OK);
        CHECK(n == 1 && q != NULL && strcmp(q, "Reset my router?\n") == 0);
        plmm_free(q);
        plmm_ledger_close(l);
    }
    /* nothing weak: an empty list; a bad name: refused */
    CHECK(plmm_distill_select(v, NULL, "art", &q, &n) == PLMM_OK);
    CHECK(n == 0 && q != NULL && q[0] == '\0');
    plmm_free(q);
    CHECK(plmm_distill_select(v, NULL, "Bad Name", &q, &n) == PLMM_ERR_INVALID_ARG);
    plmm_vault_close(v);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A store as plmm wrote it before the master secret (format 1, see
 * engine/vault_file.c): one fact "name" = "Anna Berger". */
static void write_v1(const char *path, const char *pw)
{
    uint8_t img[176 + 64 + crypto_secretstream_xchacha20poly1305_ABYTES];
    uint8_t kek[32], dkey[32], plain[64];
    memset(img, 0, sizeof(img));
    memcpy(img, "PLMMVLT1", 8);
    le32(img + 8, 1);
    le32(img + 12, 1);
    le64(img + 16, crypto_pwhash_OPSLIMIT_MIN);
    le64(img + 24, crypto_pwhash_MEMLIMIT_MIN);
    randombytes_buf(img + 32, 16);
    CHECK(crypto_pwhash(kek, 32, pw, strlen(pw), img + 32, crypto_pwhash_OPSLIMIT_MIN,
                        crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) == 0);
    randombytes_buf(img + 48, 24);
    crypto_secretstream_xchacha20poly1305_keygen(dkey);
    crypto_secretbox_easy(img + 72, dkey, 32, img + 48, kek);
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_secretstream_xchacha20poly1305_init_push(&st, img + 120, dkey);
    crypto_generichash(img + 144, 32, img, 144, NULL, 0);
    size_t n = 0;
    le32(plain, 1);     /* items */
    le64(plain + 4, 1); /* next sequence */
    n = 12;
    plain[n] = PLMM_VAULT_FACT;
    plain[n + 1] = PLMM_PII_PERSON;
    plain[n + 2] = plain[n + 3] = 0;
    le64(plain + n + 4, 1700000000);
    le32(plain + n + 12, 4);
    memcpy(plain + n + 16, "name", 4);
    le32(plain + n + 20, 11);
    memcpy(plain + n + 24, "Anna Berger", 11);
    n += 35;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&st, img + 176, &clen, plain, n, img, 176,
                                               crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(fwrite(img, 1, 176 + (size_t)clen, f) == 176 + (size_t)clen);
        fclose(f);
    }
}

/* A format-1 store is read; it gains its master secret at the first
 * writable open, and keys derived afterwards stay the same. */
static void test_format1(void)
{
    char path[PATH_MAX];
    path_of(path, "v1.plmm");
    write_v1(path, "old store");
    uint8_t a[32], b[32];
    plmm_vault *v = open_vault(path, "old store", 0);
    if (v == NULL)
        return;
    plmm_vault_item it = {.struct_size = sizeof(it)};
    CHECK(plmm_vault_get(v, "name", &it) == PLMM_OK && strcmp(it.value, "Anna Berger") == 0);
    CHECK(plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, a, 32) == PLMM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(plmm_last_errmsg(), "open it for writing once");
    plmm_vault_close(v);
    v = open_vault(path, "old store", PLMM_VAULT_WRITE);
    CHECK(v != NULL && plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, a, 32) == PLMM_OK);
    plmm_vault_close(v);
    size_t n = 0;
    char *img = slurp(path, &n);
    CHECK(img != NULL && n > 12 && img[8] == 2); /* rewritten as format 2 */
    free(img);
    v = open_vault(path, "old store", 0);
    CHECK(v != NULL && plmm_vault_derive_key(v, PLMM_VAULT_CONTEXT_LEDGER, 1, b, 32) == PLMM_OK);
    CHECK(memcmp(a, b, 32) == 0);
    CHECK(v != NULL && plmm_vault_get(v, "name", &it) == PLMM_OK &&
          strcmp(it.value, "Anna Berger") == 0);
    plmm_vault_close(v);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/plmm-test-ledger-vault-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    path_of(vault_path, "vault.plmm");
    path_of(other_vault, "other.plmm");
    path_of(ledger_path, "usage.ledger");
    path_of(device_path, "device.key");
    path_of(key_path, "ledger.key");
    test_derive();
    test_passphrase_change();
    test_key_source();
    test_select();
    test_format1();
    if (test_failures == 0)
        nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "test files kept in %s\n", base);
    return test_summary("test-ledger-vault");
}
