/*
 * Partition scheduling and the blob cache, through the engine with the
 * reference NPU backend (backends/npu) and the model shipped in models/:
 * a second start loads every blob from the cache and compiles none; a
 * changed backend option or a changed model compiles again (another key);
 * a corrupt or truncated cache file is detected, reported and rebuilt;
 * fallback = strict fails naming the op, fallback = observable runs it on
 * the CPU and says so; the plan shows the partitions; an unusable cache
 * directory only costs the caching; a backend whose memory the host
 * cannot map gets its tensors copied and computes the same. Also the cache file format on its own
 * (plmm_blobcache_*), and compile vs load times.
 */
#include "blobcache.h"
#include "engine_impl.h"
#include "plmm/plmm.h"
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROMPT_TOKENS 21 /* a 16-token bucket and five 1-token ones */

static char model_path[4096];
static char cache_dir[1024];
static char logbuf[16384];

static void log_sink(void *user, int level, const char *msg)
{
    (void)user;
    (void)level;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

/* ---- helpers ---- */

static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[8300];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static int count_files(const char *dir, char *first, size_t size)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n++ == 0 && first != NULL)
            snprintf(first, size, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

/* One engine start: open, load, evaluate the prompt, report blob counters.
 * extra: one more override or NULL. */
static plmm_status start(const char *model, const char *backends, const char *fallback,
                         const char *extra, plmm_part_stats *stats, float *logit0, char **plan)
{
    char o_backends[128], o_fallback[64], o_cache[4200];
    snprintf(o_backends, sizeof(o_backends), "engine.backends=%s", backends);
    snprintf(o_fallback, sizeof(o_fallback), "engine.fallback=%s", fallback);
    snprintf(o_cache, sizeof(o_cache), "engine.cache_dir=%s", cache_dir);
    const char *ov[5] = {o_backends, o_fallback, o_cache, "engine.log_level=debug", extra};
    plmm_engine_params ep = {.struct_size = sizeof(ep),
                             .n_overrides = extra ? 5 : 4,
                             .overrides = ov,
                             .log = log_sink,
                             .log_level = -1};
    plmm_engine *e = NULL;
    plmm_model *m = NULL;
    plmm_session *s = NULL;
    logbuf[0] = '\0';
    memset(stats, 0, sizeof(*stats));
    plmm_status st = plmm_engine_open(&ep, &e);
    if (st == PLMM_OK)
        st = plmm_model_load(e, model, &m);
    plmm_session_params sp = {.struct_size = sizeof(sp), .n_ctx = 64, .kv_type = -1};
    if (st == PLMM_OK)
        st = plmm_session_create(m, &sp, &s);
    int32_t ids[PROMPT_TOKENS];
    for (int i = 0; i < PROMPT_TOKENS; i++)
        ids[i] = 1 + (i * 7) % 200;
    if (st == PLMM_OK)
        st = plmm_session_eval(s, ids, PROMPT_TOKENS, 0);
    if (st == PLMM_OK) {
        const float *row = NULL;
        plmm_sched_part_stats(s->sched, stats);
        if (logit0 != NULL && plmm_session_logits(s, 0, &row) == PLMM_OK)
            *logit0 = row[0];
        if (plan != NULL)
            st = plmm_session_plan(s, 1, plan);
    }
    plmm_session_free(s);
    plmm_model_free(m);
    plmm_engine_close(e);
    return st;
}

/* ---- cases ---- */

static void test_cache_format(void)
{
    const char key[] = "test key 1";
    const uint8_t blob[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    void *got = NULL;
    uint64_t size = 0;
    char path[4300];
    clear_dir(cache_dir);
    CHECK(plmm_blobcache_read(cache_dir, key, &got, &size) == PLMM_ERR_NOT_FOUND);
    CHECK(plmm_blobcache_write(cache_dir, key, blob, sizeof(blob)) == PLMM_OK);
    CHECK(plmm_blobcache_read(cache_dir, key, &got, &size) == PLMM_OK && size == sizeof(blob) &&
          memcmp(got, blob, sizeof(blob)) == 0);
    free(got);
    got = NULL;
    CHECK(count_files(cache_dir, NULL, 0) == 1); /* no temporary file left behind */
    CHECK(plmm_blobcache_path(cache_dir, key, path, sizeof(path)) == PLMM_OK);
    /* truncated */
    CHECK(truncate(path, 60) == 0);
    CHECK(plmm_blobcache_read(cache_dir, key, &got, &size) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "truncated");
    /* a flipped payload byte */
    CHECK(plmm_blobcache_write(cache_dir, key, blob, sizeof(blob)) == PLMM_OK);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    struct stat sb;
    CHECK(fstat(fd, &sb) == 0);
    uint8_t b = 0;
    CHECK(pread(fd, &b, 1, sb.st_size - 1) == 1);
    b ^= 0x40;
    CHECK(pwrite(fd, &b, 1, sb.st_size - 1) == 1);
    close(fd);
    CHECK(plmm_blobcache_read(cache_dir, key, &got, &size) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "checksum");
    /* the file of one key renamed to another's name: the stored key differs */
    char other[4300];
    CHECK(plmm_blobcache_write(cache_dir, key, blob, sizeof(blob)) == PLMM_OK);
    CHECK(plmm_blobcache_path(cache_dir, "test key 2", other, sizeof(other)) == PLMM_OK);
    CHECK(rename(path, other) == 0);
    CHECK(plmm_blobcache_read(cache_dir, "test key 2", &got, &size) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "another compatibility key");
    /* a file that is not a cache file */
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("this is not a blob cache file at all, but long enough for a header", f);
        fclose(f);
    }
    CHECK(plmm_blobcache_read(cache_dir, key, &got, &size) == PLMM_ERR_FORMAT);
    CHECK(got == NULL);
    /* directory resolution */
    char dir[4096];
    CHECK(plmm_blobcache_dir("/x/y", dir, sizeof(dir)) == PLMM_OK && strcmp(dir, "/x/y") == 0);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK(plmm_blobcache_dir(NULL, dir, sizeof(dir)) == PLMM_OK && strcmp(dir, "/xdg/plmm") == 0);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK(plmm_blobcache_dir("", dir, sizeof(dir)) == PLMM_OK &&
          strcmp(dir, "/home/u/.cache/plmm") == 0);
    clear_dir(cache_dir);
}

static void test_reuse(void)
{
    plmm_part_stats cold, warm;
    float l_cold = 0, l_warm = 1, l_cpu = 2;
    clear_dir(cache_dir);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &cold, &l_cold, NULL) == PLMM_OK);
    CHECK_MSG(cold.compiled > 0 && cold.cache_loaded == 0 && cold.cache_written == cold.compiled,
              "first start: %llu compiled, %llu loaded, %llu written",
              (unsigned long long)cold.compiled, (unsigned long long)cold.cache_loaded,
              (unsigned long long)cold.cache_written);
    CHECK_CONTAINS(logbuf, "compiled a");
    CHECK(count_files(cache_dir, NULL, 0) == (int)cold.compiled);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &warm, &l_warm, NULL) == PLMM_OK);
    CHECK_MSG(warm.compiled == 0 && warm.cache_loaded == cold.compiled,
              "second start: %llu compiled, %llu loaded", (unsigned long long)warm.compiled,
              (unsigned long long)warm.cache_loaded);
    CHECK_CONTAINS(logbuf, "loaded a");
    CHECK(l_cold == l_warm); /* the cached blob computes exactly what the fresh one did */
    /* device memory the host cannot map: the engine copies in and out, same results */
    plmm_part_stats dev;
    float l_dev = 3;
    CHECK(start(model_path, "npu,cpu", "strict", "backend.npu.memory=device", &dev, &l_dev,
                NULL) == PLMM_OK);
    CHECK(dev.compiled == cold.compiled && dev.executed == cold.executed);
    CHECK_MSG(l_dev == l_cold, "device memory: %g, unified: %g", (double)l_dev, (double)l_cold);
    printf("blobs: %llu compiled in %.2f ms (first start); loaded from the cache in %.2f ms "
           "(second start)\n",
           (unsigned long long)cold.compiled, cold.compile_ms, warm.load_ms);
    /* the NPU's int arithmetic is close to the CPU's, not equal */
    plmm_part_stats none;
    CHECK(start(model_path, "cpu", "strict", NULL, &none, &l_cpu, NULL) == PLMM_OK);
    CHECK(none.compiled == 0 && none.executed == 0);
    CHECK(l_cpu != l_cold);
    CHECK(l_cpu - l_cold < 0.5f && l_cold - l_cpu < 0.5f);
}

static void test_invalidation(void)
{
    plmm_part_stats st;
    clear_dir(cache_dir);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    const uint64_t n = st.compiled;
    /* another option value: another key, everything compiles again */
    CHECK(start(model_path, "npu,cpu", "strict", "backend.npu.activations=int8", &st, NULL, NULL) ==
          PLMM_OK);
    CHECK_MSG(st.compiled == n && st.cache_loaded == 0, "option change: %llu compiled, %llu loaded",
              (unsigned long long)st.compiled, (unsigned long long)st.cache_loaded);
    CHECK(count_files(cache_dir, NULL, 0) == (int)(2 * n));
    /* the same options again: loaded */
    CHECK(start(model_path, "npu,cpu", "strict", "backend.npu.activations=int8", &st, NULL, NULL) ==
          PLMM_OK);
    CHECK(st.compiled == 0 && st.cache_loaded == n);
    /* a changed model (one byte of its last tensor): another model hash */
    char copy[1100];
    snprintf(copy, sizeof(copy), "%s/model-copy.gguf", cache_dir);
    FILE *in = fopen(model_path, "rb"), *out = fopen(copy, "wb");
    CHECK(in != NULL && out != NULL);
    if (in != NULL && out != NULL) {
        char buf[65536];
        size_t k;
        while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
            CHECK(fwrite(buf, 1, k, out) == k);
    }
    if (in != NULL)
        fclose(in);
    if (out != NULL) {
        fseek(out, -3, SEEK_END);
        fputc(0x11, out);
        fclose(out);
    }
    CHECK(start(copy, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK_MSG(st.compiled == n && st.cache_loaded == 0, "model change: %llu compiled, %llu loaded",
              (unsigned long long)st.compiled, (unsigned long long)st.cache_loaded);
    unlink(copy);
}

static void test_corrupt(void)
{
    plmm_part_stats st;
    char victim[8300];
    clear_dir(cache_dir);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    const uint64_t n = st.compiled;
    CHECK(count_files(cache_dir, victim, sizeof(victim)) == (int)n && n > 0);
    /* flip a byte in the middle of one file */
    int fd = open(victim, O_RDWR);
    struct stat sb;
    CHECK(fd >= 0 && fstat(fd, &sb) == 0);
    uint8_t b = 0;
    CHECK(pread(fd, &b, 1, sb.st_size / 2) == 1);
    b ^= 0x01;
    CHECK(pwrite(fd, &b, 1, sb.st_size / 2) == 1);
    close(fd);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK_MSG(st.cache_rejected == 1 && st.compiled == 1 && st.cache_loaded == n - 1,
              "corrupt file: %llu rejected, %llu compiled, %llu loaded",
              (unsigned long long)st.cache_rejected, (unsigned long long)st.compiled,
              (unsigned long long)st.cache_loaded);
    CHECK_CONTAINS(logbuf, "checksum mismatch");
    CHECK_CONTAINS(logbuf, "recompiling");
    /* rebuilt: the next start loads everything */
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK(st.compiled == 0 && st.cache_rejected == 0 && st.cache_loaded == n);
    /* truncated to half */
    CHECK(truncate(victim, sb.st_size / 2) == 0);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK(st.cache_rejected == 1 && st.compiled == 1);
    CHECK_CONTAINS(logbuf, "truncated");
    /* an empty file */
    CHECK(truncate(victim, 0) == 0);
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK(st.cache_rejected == 1 && st.compiled == 1);
}

/* A cache directory that cannot be created: blobs stay in memory, with a warning. */
static void test_unwritable(void)
{
    plmm_part_stats st;
    char saved[1024], file[1100];
    snprintf(saved, sizeof(saved), "%s", cache_dir);
    snprintf(file, sizeof(file), "%s/not-a-dir", saved);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f != NULL)
        fclose(f);
    if (snprintf(cache_dir, sizeof(cache_dir), "%.1000s/sub", file) >= (int)sizeof(cache_dir))
        return;
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, NULL) == PLMM_OK);
    CHECK(st.compiled > 0 && st.cache_written == 0 && st.executed > 0);
    CHECK_CONTAINS(logbuf, "cannot create cache directory");
    CHECK_CONTAINS(logbuf, "the blob stays in memory");
    snprintf(cache_dir, sizeof(cache_dir), "%s", saved);
    unlink(file);
}

static void test_fallback(void)
{
    plmm_part_stats st;
    char *plan = NULL;
    clear_dir(cache_dir);
    /* the NPU alone cannot run the embedding lookup, RoPE or attention */
    CHECK(start(model_path, "npu", "strict", NULL, &st, NULL, NULL) != PLMM_OK);
    CHECK_CONTAINS(plmm_last_errmsg(), "ATTENTION");
    CHECK_CONTAINS(plmm_last_errmsg(), "fallback = strict");
    /* observable: they run on the CPU, and the log says which */
    CHECK(start(model_path, "npu", "observable", NULL, &st, NULL, &plan) == PLMM_OK);
    CHECK(st.compiled > 0 && st.executed > 0);
    CHECK_CONTAINS(logbuf, "fallback = observable");
    CHECK_CONTAINS(logbuf, "GET_ROWS");
    CHECK_CONTAINS(logbuf, "ROPE");
    CHECK_CONTAINS(plan, "[partition, bucket 1]");
    CHECK_CONTAINS(plan, "FALLBACK");
    CHECK_CONTAINS(plan, "fallback: node 0 GET_ROWS");
    plmm_free(plan);
    plan = NULL;
    /* in the configured order the CPU is no fallback; the plan shows the split */
    CHECK(start(model_path, "npu,cpu", "strict", NULL, &st, NULL, &plan) == PLMM_OK);
    CHECK(strstr(test_str_or_null(plan), "FALLBACK") == NULL);
    CHECK_CONTAINS(plan, "npu ");
    CHECK_CONTAINS(plan, "partitions: ");
    plmm_free(plan);
}

int main(void)
{
    const char *src = getenv("PLMM_SOURCE_DIR");
    snprintf(model_path, sizeof(model_path), "%s/models/stories260K-Q8_0.gguf",
             src != NULL ? src : ".");
    if (access(model_path, R_OK) != 0) {
        printf("SKIP: %s is missing (set PLMM_SOURCE_DIR)\n", model_path);
        return 77;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(cache_dir, sizeof(cache_dir), "%s/plmm-test-partition-XXXXXX",
             tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(cache_dir) == NULL) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    test_cache_format();
    test_reuse();
    test_invalidation();
    test_corrupt();
    test_unwritable();
    test_fallback();
    clear_dir(cache_dir);
    rmdir(cache_dir);
    return test_summary("test-partition");
}
