/*
 * Signed update bundles: every attack the client must refuse (tampered
 * file, wrong key, too few signatures, rollback, expired metadata,
 * truncated or overlong download, disk full, unsafe paths, bad rotation),
 * each leaving the installed expert untouched; install, rollback and key
 * rotation when everything is right.
 */
#include "plmm/update.h"
#include "sign.h"
#include "test.h"
#include "update_impl.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[PATH_MAX];
static int64_t now;
static uint64_t content_version; /* model file content as of this version; 0 = the bundle's */

static const char *p(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    int n = snprintf(buf[i], sizeof(buf[i]), "%s/%s", base, rel);
    if (n < 0 || (size_t)n >= sizeof(buf[i]))
        abort();
    return buf[i];
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Build expert "finance" version v in build/finance, signed by keys
 * k[0..n) (names of secret keys under base). big: size of the model file. */
static void build(uint64_t v, int64_t expires, const char *const *keys, int n, size_t big)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", p("build/finance"));
    rm_rf(dir);
    mkdir(p("build"), 0755);
    mkdir(dir, 0755);
    mkdir(p("build/finance/files"), 0755);
    mkdir(p("build/finance/files/model"), 0755);
    char ini[128];
    int len = snprintf(ini, sizeof(ini), "[pricing]\nversion = %llu\n", (unsigned long long)v);
    write_file(p("build/finance/files/finance.ini"), ini, (size_t)len);
    uint8_t *blob = malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (uint8_t)(i * 31 + (content_version ? content_version : v));
    write_file(p("build/finance/files/model/e.bin"), blob, big);
    free(blob);
    CHECK(plmm_manifest_create(dir, "finance", v, expires, NULL) == PLMM_OK);
    for (int i = 0; i < n; i++)
        CHECK_MSG(plmm_sign_envelope(p("build/finance/manifest.json"), p(keys[i])) == PLMM_OK, "%s",
                  plmm_last_errmsg());
}

/* Publish build/finance into src. */
static void publish_built(void)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", p("build/finance"));
    CHECK_MSG(plmm_bundle_publish(dir, p("src")) == PLMM_OK, "%s", plmm_last_errmsg());
}

static void publish(uint64_t v, int64_t expires, const char *const *keys, int n, size_t big)
{
    build(v, expires, keys, n, big);
    publish_built();
}

/* The published copy of a file of build/finance/files. */
static const char *blob(const char *rel)
{
    static char out[PATH_MAX];
    char path[PATH_MAX], name[80], rel2[128];
    uint8_t h[crypto_hash_sha256_BYTES];
    snprintf(rel2, sizeof(rel2), "build/finance/files/%s", rel);
    snprintf(path, sizeof(path), "%s", p(rel2));
    FILE *f = fopen(path, "rb");
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    uint8_t buf[4096];
    size_t r;
    while (f != NULL && (r = fread(buf, 1, sizeof(buf), f)) > 0)
        crypto_hash_sha256_update(&st, buf, r);
    if (f != NULL)
        fclose(f);
    crypto_hash_sha256_final(&st, h);
    memcpy(name, "src/sha256-", 11);
    sign_hex(h, sizeof(h), name + 11);
    snprintf(out, sizeof(out), "%s", p(name));
    return out;
}

static void write_manifest(const char *text)
{
    write_file(p("src/finance.manifest.json"), text, strlen(text));
}

static plmm_updater *open_updater(void)
{
    char root[PATH_MAX], experts[PATH_MAX];
    snprintf(root, sizeof(root), "%s", p("root.json"));
    snprintf(experts, sizeof(experts), "%s", p("experts"));
    plmm_updater_params params;
    memset(&params, 0, sizeof(params));
    params.struct_size = sizeof(params);
    params.root_path = root;
    params.install_dir = experts;
    params.now = now;
    plmm_updater *u = NULL;
    plmm_status st = plmm_updater_open(&params, &u);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    return u;
}

static uint64_t current_version(void)
{
    char target[PATH_MAX];
    ssize_t n = readlink(p("experts/finance/current"), target, sizeof(target) - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strtoull(strrchr(target, '/') + 1, NULL, 10);
}

/* No temporary directory left behind in versions/. */
static bool no_leftovers(void)
{
    DIR *d = opendir(p("experts/finance/versions"));
    if (d == NULL)
        return true;
    struct dirent *e;
    bool clean = true;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".tmp", 4) == 0)
            clean = false;
    closedir(d);
    return clean;
}

/* An attack: install must fail with want, mention needle and leave
 * version `keep` installed, with no leftovers. */
static void refused(plmm_updater *u, plmm_status want, const char *needle, uint64_t keep)
{
    uint64_t v = 99;
    plmm_status st = plmm_updater_install(u, p("src"), "finance", &v);
    CHECK_MSG(st == want, "status %d (%s), want %d", st, plmm_last_errmsg(), want);
    CHECK_CONTAINS(plmm_last_errmsg(), needle);
    CHECK(current_version() == keep);
    CHECK(no_leftovers());
}

static void test_keys_and_root(void)
{
    char id1[PLMM_KEYID_SIZE], id2[PLMM_KEYID_SIZE];
    const char *names[] = {"k1", "k2", "k3", "kx", "k4"};
    for (int i = 0; i < 5; i++) {
        char sec[64], pub[64];
        snprintf(sec, sizeof(sec), "%s.key", names[i]);
        snprintf(pub, sizeof(pub), "%s.pub", names[i]);
        char sp[PATH_MAX], pp[PATH_MAX];
        snprintf(sp, sizeof(sp), "%s", p(sec));
        snprintf(pp, sizeof(pp), "%s", p(pub));
        CHECK_MSG(plmm_sign_keygen(sp, pp, i == 0 ? id1 : NULL) == PLMM_OK, "%s",
                  plmm_last_errmsg());
    }
    CHECK(plmm_sign_keyid(p("k1.pub"), id2) == PLMM_OK);
    CHECK(strcmp(id1, id2) == 0 && strlen(id1) == 16);
    /* never overwrite a secret key */
    CHECK(plmm_sign_keygen(p("k1.key"), p("k1b.pub"), NULL) == PLMM_ERR_IO);
    struct stat sb;
    CHECK(stat(p("k1.key"), &sb) == 0 && (sb.st_mode & 0777) == 0600);

    const char *pubs[] = {p("k1.pub"), p("k2.pub"), p("k3.pub")};
    char copies[3][PATH_MAX];
    for (int i = 0; i < 3; i++)
        snprintf(copies[i], sizeof(copies[i]), "%s", pubs[i]);
    const char *const cp[] = {copies[0], copies[1], copies[2]};
    CHECK(plmm_root_create(p("root.json"), 1, now + 86400 * 30, 2, cp, 3) == PLMM_OK);
    CHECK(plmm_root_create(p("bad-root.json"), 1, now, 4, cp, 3) == PLMM_ERR_INVALID_ARG);
    /* unsigned root: not trusted */
    char root[PATH_MAX], experts[PATH_MAX];
    snprintf(root, sizeof(root), "%s", p("root.json"));
    snprintf(experts, sizeof(experts), "%s", p("experts"));
    plmm_updater_params params;
    memset(&params, 0, sizeof(params));
    params.struct_size = sizeof(params);
    params.root_path = root;
    params.install_dir = experts;
    params.now = now;
    plmm_updater *u = NULL;
    CHECK(plmm_updater_open(&params, &u) == PLMM_ERR_AUTH);
    CHECK_CONTAINS(plmm_last_errmsg(), "0 valid signatures");
    CHECK(plmm_sign_envelope(p("root.json"), p("k1.key")) == PLMM_OK);
    CHECK(plmm_sign_envelope(p("root.json"), p("k1.key")) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_sign_envelope(p("root.json"), p("k1.pub")) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_updater_open(&params, &u) == PLMM_ERR_AUTH); /* 1 of 2 */
    CHECK(plmm_sign_envelope(p("root.json"), p("k2.key")) == PLMM_OK);
    CHECK(plmm_updater_open(&params, &u) == PLMM_OK);
    plmm_updater_close(u);
    /* an expired root verifies nothing (but may still be rotated away) */
    params.now = now + 86400 * 31;
    CHECK(plmm_updater_open(&params, &u) == PLMM_OK);
    const char *k12[] = {"k1.key", "k2.key"};
    publish(1, now + 86400 * 60, k12, 2, 1000);
    CHECK(plmm_updater_install(u, p("src"), "finance", NULL) == PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(),
                   "trusted root version 1 (and the source offers no newer one) "
                   "expired");
    CHECK(current_version() == 0);
    plmm_updater_close(u);
}

static void test_install_and_attacks(void)
{
    const char *k12[] = {"k1.key", "k2.key"};
    const char *k1[] = {"k1.key"};
    const char *k1x[] = {"k1.key", "kx.key"};
    plmm_updater *u = open_updater();
    if (u == NULL)
        return;
    uint64_t v = 0, avail = 0, inst = 9;
    char *report = NULL;

    publish(1, now + 86400, k12, 2, 100000);
    CHECK(plmm_updater_check(u, p("src"), "finance", &avail, &inst, &report) == PLMM_OK);
    CHECK(avail == 1 && inst == 0);
    CHECK_CONTAINS(report, "update available");
    plmm_free(report);
    CHECK_MSG(plmm_updater_install(u, p("src"), "finance", &v) == PLMM_OK, "%s",
              plmm_last_errmsg());
    CHECK(v == 1 && current_version() == 1);
    CHECK(access(p("experts/finance/current/model/e.bin"), R_OK) == 0);
    CHECK(access(p("experts/.trust/root.json"), R_OK) == 0);

    publish(2, now + 86400, k12, 2, 150000);
    CHECK(plmm_updater_install(u, p("src"), "finance", &v) == PLMM_OK && v == 2);
    CHECK(current_version() == 2);
    char *dir = NULL;
    CHECK(plmm_updater_current_dir(u, "finance", &dir) == PLMM_OK);
    CHECK_CONTAINS(dir, "versions/2");
    plmm_free(dir);

    /* tampered file: same size, one byte changed after signing */
    publish(3, now + 86400, k12, 2, 100000);
    FILE *f = fopen(blob("model/e.bin"), "r+b");
    CHECK(f != NULL);
    if (f != NULL) {
        fseek(f, 5000, SEEK_SET);
        fputc(0x5a ^ fgetc(f), f);
        fclose(f);
    }
    refused(u, PLMM_ERR_AUTH, "SHA-256 differs", 2);

    /* wrong key: one root key and one stranger, threshold 2 */
    publish(3, now + 86400, k1x, 2, 1000);
    refused(u, PLMM_ERR_AUTH, "1 valid signature by keys of root version 1, 2 required", 2);
    /* below threshold */
    publish(3, now + 86400, k1, 1, 1000);
    refused(u, PLMM_ERR_AUTH, "2 required", 2);
    /* signed, then the payload edited (version bumped by hand) */
    publish(3, now + 86400, k12, 2, 1000);
    {
        sign_envelope env;
        CHECK(sign_envelope_load(p("src/finance.manifest.json"), &env) == PLMM_OK);
        char *pos = strstr((char *)env.payload, "\"version\": 3");
        CHECK(pos != NULL);
        if (pos != NULL)
            pos[11] = '4';
        char *text = NULL;
        CHECK(sign_envelope_dump(&env, &text) == PLMM_OK);
        write_manifest(text);
        free(text);
        sign_envelope_free(&env);
    }
    refused(u, PLMM_ERR_AUTH, "0 valid signatures", 2);
    /* rollback to an older, validly signed version */
    publish(1, now + 86400, k12, 2, 1000);
    refused(u, PLMM_ERR_DENIED, "rollback refused", 2);
    CHECK(plmm_updater_check(u, p("src"), "finance", &avail, &inst, NULL) == PLMM_ERR_DENIED);
    /* expired metadata (freeze attack) */
    publish(3, now - 10, k12, 2, 1000);
    refused(u, PLMM_ERR_DENIED, "expired", 2);
    /* truncated download: file shorter than the manifest says */
    publish(3, now + 86400, k12, 2, 100000);
    CHECK(truncate(blob("model/e.bin"), 60000) == 0);
    refused(u, PLMM_ERR_AUTH, "truncated download, 60000 of 100000 bytes", 2);
    /* overlong: more bytes than declared, stopped early */
    publish(3, now + 86400, k12, 2, 1000);
    f = fopen(blob("model/e.bin"), "ab");
    CHECK(f != NULL);
    if (f != NULL) {
        for (int i = 0; i < 100000; i++)
            fputc('x', f);
        fclose(f);
    }
    refused(u, PLMM_ERR_AUTH, "more data than the 1000 bytes declared", 2);
    /* missing file */
    publish(3, now + 86400, k12, 2, 1000);
    unlink(blob("finance.ini"));
    refused(u, PLMM_ERR_NOT_FOUND, "finance.ini", 2);
    /* engine too old */
    {
        char path[PATH_MAX];
        build(3, now + 86400, k12, 0, 1000);
        snprintf(path, sizeof(path), "%s", p("build/finance"));
        CHECK(plmm_manifest_create(path, "finance", 3, now + 86400, "99.0.0") == PLMM_OK);
        CHECK(plmm_sign_envelope(p("build/finance/manifest.json"), p("k1.key")) == PLMM_OK);
        CHECK(plmm_sign_envelope(p("build/finance/manifest.json"), p("k2.key")) == PLMM_OK);
        publish_built();
        refused(u, PLMM_ERR_DENIED, "needs engine 99.0.0", 2);
    }
    /* unsafe path in a validly signed manifest */
    {
        const char *payload = "{\"type\":\"manifest\",\"expert\":\"finance\",\"version\":5,"
                              "\"expires\":\"2099-01-01T00:00:00Z\",\"min_engine\":\"0.1.0\","
                              "\"files\":[{\"path\":\"../../evil\",\"size\":1,\"sha256\":"
                              "\"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
                              "\"}]}";
        sign_envelope env;
        sign_key k;
        char *text = NULL;
        CHECK(sign_envelope_init(&env, PLMM_PAYLOAD_MANIFEST, payload, strlen(payload)) == PLMM_OK);
        CHECK(sign_key_load(p("k1.key"), &k) == PLMM_OK);
        CHECK(sign_envelope_add(&env, &k) == PLMM_OK);
        CHECK(sign_key_load(p("k2.key"), &k) == PLMM_OK);
        CHECK(sign_envelope_add(&env, &k) == PLMM_OK);
        sign_key_wipe(&k);
        CHECK(sign_envelope_dump(&env, &text) == PLMM_OK);
        write_manifest(text);
        free(text);
        sign_envelope_free(&env);
        refused(u, PLMM_ERR_FORMAT, "safe relative path", 2);
    }
    /* wrong expert's manifest served under finance/ */
    {
        char path[PATH_MAX];
        build(3, now + 86400, k12, 0, 1000);
        snprintf(path, sizeof(path), "%s", p("build/finance"));
        CHECK(plmm_manifest_create(path, "it", 3, now + 86400, NULL) == PLMM_OK);
        CHECK(plmm_sign_envelope(p("build/finance/manifest.json"), p("k1.key")) == PLMM_OK);
        CHECK(plmm_sign_envelope(p("build/finance/manifest.json"), p("k2.key")) == PLMM_OK);
        char *text = NULL;
        size_t len = 0;
        CHECK(sign_read_file(p("build/finance/manifest.json"), 1 << 20, &text, &len) == PLMM_OK);
        if (text != NULL)
            write_manifest(text);
        free(text);
        refused(u, PLMM_ERR_AUTH, "for expert 'it'", 2);
    }

    /* publishing refuses unsigned manifests and files changed after signing */
    {
        char bdir[PATH_MAX];
        build(3, now + 86400, k12, 0, 1000);
        snprintf(bdir, sizeof(bdir), "%s", p("build/finance"));
        CHECK(plmm_bundle_publish(bdir, p("src")) == PLMM_ERR_AUTH);
        CHECK_CONTAINS(plmm_last_errmsg(), "not signed");
        build(3, now + 86400, k12, 2, 1000);
        write_file(p("build/finance/files/finance.ini"), "changed", 7);
        CHECK(plmm_bundle_publish(bdir, p("src")) == PLMM_ERR_AUTH);
        CHECK_CONTAINS(plmm_last_errmsg(), "changed since the manifest was made");
    }

    /* disk full during install: a child limited to 64 KiB per file */
    publish(3, now + 86400, k12, 2, 200000);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {65536, 65536};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        plmm_status st = plmm_updater_install(u, p("src"), "finance", NULL);
        bool named = strstr(plmm_last_errmsg(), "cannot write") != NULL;
        _exit(st == PLMM_ERR_IO && named ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(current_version() == 2 && no_leftovers());
    CHECK(access(p("experts/finance/current/model/e.bin"), R_OK) == 0);

    /* the same bundle installs when there is room */
    CHECK_MSG(plmm_updater_install(u, p("src"), "finance", &v) == PLMM_OK, "%s",
              plmm_last_errmsg());
    CHECK(v == 3 && current_version() == 3);

    /* rollback to the previous version, and back */
    CHECK(plmm_updater_rollback(u, "finance", &v) == PLMM_OK && v == 2);
    CHECK(current_version() == 2);
    CHECK(plmm_updater_list(u, &report) == PLMM_OK);
    CHECK_CONTAINS(report, "current 2  previous 3  trusted 3");
    plmm_free(report);
    CHECK(plmm_updater_rollback(u, "finance", &v) == PLMM_OK && v == 3);
    CHECK(plmm_updater_rollback(u, "nobody", &v) == PLMM_ERR_NOT_FOUND);
    plmm_updater_close(u);
}

static void test_rotation(void)
{
    const char *k4[] = {"k4.key"};
    char pub4[PATH_MAX];
    snprintf(pub4, sizeof(pub4), "%s", p("k4.pub"));
    const char *const keys[] = {pub4};
    plmm_updater *u = open_updater();
    if (u == NULL)
        return;
    /* root 2 (key k4 only) signed by the new key alone: refused */
    publish(4, now + 86400, k4, 1, 1000);
    CHECK(plmm_root_create(p("src/root.json"), 2, now + 86400 * 60, 1, keys, 1) == PLMM_OK);
    CHECK(plmm_sign_envelope(p("src/root.json"), p("k4.key")) == PLMM_OK);
    refused(u, PLMM_ERR_AUTH, "(old keys)", 3);
    /* signed by the old threshold but not by the new key: refused */
    CHECK(plmm_root_create(p("src/root.json"), 2, now + 86400 * 60, 1, keys, 1) == PLMM_OK);
    CHECK(plmm_sign_envelope(p("src/root.json"), p("k1.key")) == PLMM_OK);
    CHECK(plmm_sign_envelope(p("src/root.json"), p("k2.key")) == PLMM_OK);
    refused(u, PLMM_ERR_AUTH, "(its own keys)", 3);
    /* both: rotated, and the bundle signed by k4 installs */
    CHECK(plmm_sign_envelope(p("src/root.json"), p("k4.key")) == PLMM_OK);
    char *report = NULL;
    CHECK(plmm_sign_verify(p("src/root.json"), p("root.json"), NULL, now, &report) == PLMM_OK);
    CHECK_CONTAINS(report, "root version 2 follows root version 1");
    plmm_free(report);
    uint64_t v = 0;
    CHECK_MSG(plmm_updater_install(u, p("src"), "finance", &v) == PLMM_OK, "%s",
              plmm_last_errmsg());
    CHECK(v == 4);
    plmm_updater_close(u);
    /* the rotation persisted: the old keys alone no longer suffice */
    unlink(p("src/root.json"));
    const char *k12[] = {"k1.key", "k2.key"};
    publish(5, now + 86400, k12, 2, 1000);
    u = open_updater();
    if (u != NULL) {
        refused(u, PLMM_ERR_AUTH, "root version 2", 4);
        plmm_updater_close(u);
    }

    /* files unchanged since the installed version are reused, after their
     * hash is checked, instead of downloaded again */
    content_version = 4;
    publish(6, now + 86400, k4, 1, 1000);
    content_version = 0;
    unlink(blob("model/e.bin")); /* the source no longer serves it */
    u = open_updater();
    if (u == NULL)
        return;
    FILE *f = fopen(p("experts/finance/current/model/e.bin"), "r+b");
    CHECK(f != NULL);
    int c = f ? fgetc(f) : 0;
    if (f != NULL) {
        fseek(f, 0, SEEK_SET);
        fputc(c ^ 1, f); /* a damaged local copy is not reused */
        fclose(f);
    }
    refused(u, PLMM_ERR_NOT_FOUND, "model/e.bin", 4);
    f = fopen(p("experts/finance/current/model/e.bin"), "r+b");
    if (f != NULL) {
        fputc(c, f);
        fclose(f);
    }
    CHECK_MSG(plmm_updater_install(u, p("src"), "finance", &v) == PLMM_OK, "%s",
              plmm_last_errmsg());
    CHECK(v == 6 && current_version() == 6);
    CHECK(access(p("experts/finance/versions/6/model/e.bin"), R_OK) == 0);
    plmm_updater_close(u);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/plmm-test-update-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    now = (int64_t)time(NULL);
    test_keys_and_root();
    test_install_and_attacks();
    test_rotation();
    if (test_failures == 0)
        rm_rf(base);
    else
        fprintf(stderr, "test files kept in %s\n", base);
    return test_summary("test-update");
}
