/*
 * Plugin host: discovery order, malformed and duplicate manifests, every
 * load failure with its exact reason, instances with options and host
 * services, and the CPU facts. The plugins are built for this test in
 * tests/unit/plugins (TEST_PLUGIN_DIR), outside the normal plugin dirs.
 */
#include "errors.h"
#include "registry.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the build directory of tests/unit/plugins"
#endif

#define DIR_ TEST_PLUGIN_DIR

/* ---- log capture ---- */

static char log_text[1 << 16];

static void capture_log(void *user, int level, const char *msg)
{
    (void)user;
    size_t n = strlen(log_text);
    if (level >= PLMM_LOG_ERROR && level <= PLMM_LOG_DEBUG &&
        n + strlen(msg) + 2 < sizeof(log_text))
        snprintf(log_text + n, sizeof(log_text) - n, "%s\n", msg);
}

/* (a function, so CHECK_CONTAINS's NULL test is not on an array) */
static const char *logged(void)
{
    return log_text;
}

static plmm_registry *open_registry(const plmm_config *cfg, uint32_t flags)
{
    plmm_registry *reg = NULL;
    plmm_registry_opts o = {.config = cfg, .log = capture_log, .flags = flags};
    CHECK(plmm_registry_create(&o, &reg) == PLMM_OK);
    return reg;
}

static plmm_config *config_from(const char *text)
{
    plmm_config *cfg = NULL;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_string(cfg, text, "t.ini") == PLMM_OK, "%s", plmm_last_errmsg());
    return cfg;
}

static plmm_config *test_config(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text), "[engine]\nplugin_path = %s\n%s", DIR_, extra);
    return config_from(text);
}

/* ---- discovery ---- */

static const char *const expected_order[] = {
    "abi2-manifest", "abi2",    "an-expert",   "badschema",  "contract", "good",
    "initfail",      "kind",    "missing-lib", "name",       "newer",    "nodevice",
    "nosym",         "not-elf", "nullentry",   "other-arch", "small",    "tiny",
};
#define N_EXPECTED (sizeof(expected_order) / sizeof(expected_order[0]))

static void test_discovery(void)
{
    plmm_config *cfg = test_config("");
    plmm_registry *reg = open_registry(cfg, PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR);
    if (reg == NULL)
        return;

    CHECK(plmm_registry_dir_count(reg) == 1);
    CHECK(strcmp(plmm_registry_dir_at(reg, 0), DIR_) == 0);
    CHECK_MSG(plmm_registry_count(reg) == N_EXPECTED, "%u plugins", plmm_registry_count(reg));
    for (uint32_t i = 0; i < N_EXPECTED && i < plmm_registry_count(reg); i++) {
        const plmm_plugin_info *info = plmm_registry_at(reg, i);
        CHECK_MSG(strcmp(info->manifest->name, expected_order[i]) == 0, "#%u is %s, want %s", i,
                  info->manifest->name, expected_order[i]);
        bool arch = strcmp(info->manifest->name, "other-arch") == 0;
        CHECK(info->state == (arch ? PLMM_PLUGIN_FAILED : PLMM_PLUGIN_DISCOVERED));
        CHECK(info->desc == NULL && info->n_instances == 0);
    }
    CHECK(plmm_registry_at(reg, N_EXPECTED) == NULL);

    /* manifest fields, read without loading anything */
    const plmm_plugin_info *good = plmm_registry_find(reg, "good");
    CHECK(good != NULL);
    if (good != NULL) {
        CHECK(strcmp(good->manifest->path, DIR_ "/good.plugin") == 0);
        CHECK(strcmp(good->manifest->library, "test-good.so") == 0);
        CHECK(strcmp(good->manifest->library_path, DIR_ "/test-good.so") == 0);
        CHECK(good->manifest->kind == PLMM_PLUGIN_BACKEND);
        CHECK(good->manifest->device_type == PLMM_DEVICE_CPU);
        CHECK(good->manifest->abi_major == 1 && good->manifest->abi_minor == 0);
        CHECK(strcmp(good->manifest->arch, plmm_cpu_arch()) == 0);
        CHECK(strcmp(good->manifest->description, "test plugin good") == 0);
        CHECK(good->reason[0] == '\0');
    }
    CHECK(plmm_registry_find(reg, "nope") == NULL);
    const plmm_plugin_info *newer = plmm_registry_find(reg, "newer");
    CHECK(newer != NULL && newer->manifest->abi_minor == 9);

    const plmm_plugin_info *arch = plmm_registry_find(reg, "other-arch");
    char want[512];
    snprintf(want, sizeof(want),
             "plugin 'other-arch' is built for arch 'sparc64', this machine is '%s'",
             plmm_cpu_arch());
    CHECK(arch != NULL && arch->status == PLMM_ERR_UNSUPPORTED && strcmp(arch->reason, want) == 0);

    /* malformed manifests are skipped and reported as PATH:LINE: message */
    static const char *const problems[] = {
        DIR_ "/broken-key.plugin:5: unknown key 'libary' in [plugin] (did you mean 'library'?)",
        DIR_ "/broken-kind.plugin:3: kind: must be one of backend|expert, got 'gadget'",
        DIR_ "/broken-missing.plugin: missing key 'library' in [plugin]",
        DIR_ "/broken-syntax.plugin:4: syntax error: expected 'key = value'",
    };
    CHECK(plmm_registry_problem_count(reg) == 4);
    for (uint32_t i = 0; i < 4 && i < plmm_registry_problem_count(reg); i++) {
        CHECK_MSG(strcmp(plmm_registry_problem_at(reg, i), problems[i]) == 0,
                  "\n got  '%s'\n want '%s'", plmm_registry_problem_at(reg, i), problems[i]);
        CHECK_CONTAINS(logged(), problems[i]);
    }
    CHECK(plmm_registry_problem_at(reg, 4) == NULL);

    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

/* ---- loading ---- */

static void expect_load_failure(plmm_registry *reg, int line, const char *name,
                                plmm_status want_status, const char *want)
{
    const plmm_plugin_info *info = NULL;
    for (int attempt = 0; attempt < 2; attempt++) { /* the second answer comes from memory */
        plmm_status s = plmm_registry_load(reg, name, &info);
        CHECK_MSG(s == want_status, "line %d: %s: status %d, want %d (%s)", line, name, s,
                  want_status, plmm_last_errmsg());
        CHECK_MSG(strcmp(plmm_last_errmsg(), want) == 0, "line %d:\n got  '%s'\n want '%s'", line,
                  plmm_last_errmsg(), want);
        CHECK(info != NULL && info->state == PLMM_PLUGIN_FAILED && info->status == want_status &&
              strcmp(info->reason, want) == 0 && info->desc == NULL);
    }
}

#define EXPECT_FAIL(reg, name, status, want) expect_load_failure(reg, __LINE__, name, status, want)

static void test_loading(void)
{
    plmm_config *cfg = test_config("");
    plmm_registry *reg = open_registry(cfg, PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR);
    const plmm_plugin_info *info = NULL;
    char want[1024];
    if (reg == NULL)
        return;

    /* the good one, and the descriptor for `plmm backends` */
    CHECK(plmm_registry_load(reg, "good", &info) == PLMM_OK);
    CHECK(info != NULL && info->state == PLMM_PLUGIN_LOADED && info->desc != NULL);
    if (info != NULL && info->desc != NULL) {
        CHECK(strcmp(info->desc->name, "good") == 0 && strcmp(info->desc->version, "0.1.0") == 0);
        CHECK(info->desc->n_caps == 1 && info->desc->caps[0].op == PLMM_OP_ADD);
        CHECK(info->desc->n_options == 4 && strcmp(info->desc->options[0].key, "threads") == 0);
    }
    CHECK(plmm_registry_load(reg, "good", NULL) == PLMM_OK); /* idempotent */
    CHECK_CONTAINS(logged(), "loaded plugin 'good' 0.1.0 from '" DIR_ "/test-good.so'");

    /* older layout: vtable ends after device_props; the functions past its
     * struct_size abort if anything calls them */
    CHECK(plmm_registry_load(reg, "small", &info) == PLMM_OK);
    if (info != NULL && info->desc != NULL) {
        const plmm_backend_vtbl *vt = info->desc->vtbl;
        CHECK(vt->struct_size == offsetof(plmm_backend_vtbl, buffer_reqs));
        CHECK(vt->buffer_reqs != NULL && !plmm_backend_has(vt, buffer_reqs));
        CHECK(vt->graph_compute != NULL && !plmm_backend_has(vt, graph_compute));
        CHECK(plmm_backend_has(vt, device_props));
    }

    /* newer minor: accepted, only the known part is used */
    CHECK(plmm_registry_load(reg, "newer", &info) == PLMM_OK);
    CHECK(info != NULL && info->desc != NULL && info->desc->abi_minor == 9 &&
          info->desc->struct_size > sizeof(plmm_backend_desc));
    CHECK_CONTAINS(logged(),
                   "plugin 'newer' is built for backend ABI 1.9; this engine uses its 1.0 part");

    EXPECT_FAIL(reg, "abi2", PLMM_ERR_ABI,
                "plugin 'abi2' is built for backend ABI 2.x, engine supports 1.x");
    EXPECT_FAIL(reg, "abi2-manifest", PLMM_ERR_ABI,
                "plugin 'abi2-manifest' is built for backend ABI 2.x, engine supports 1.x");
    EXPECT_FAIL(reg, "nosym", PLMM_ERR_PLUGIN,
                "plugin 'nosym': '" DIR_ "/test-nosym.so' does not export plmm_plugin_entry()");
    EXPECT_FAIL(reg, "nullentry", PLMM_ERR_PLUGIN,
                "plugin 'nullentry': plmm_plugin_entry() returned NULL");
    EXPECT_FAIL(reg, "kind", PLMM_ERR_PLUGIN,
                "plugin 'kind': descriptor kind is 'expert', its manifest says 'backend'");
    snprintf(want, sizeof(want),
             "plugin 'tiny': descriptor struct_size 64 is smaller than backend ABI 1.0's %zu",
             sizeof(plmm_backend_desc));
    EXPECT_FAIL(reg, "tiny", PLMM_ERR_ABI, want);
    EXPECT_FAIL(reg, "name", PLMM_ERR_PLUGIN,
                "plugin 'name': descriptor name 'someone-else' does not match its manifest");
    EXPECT_FAIL(
        reg, "contract", PLMM_ERR_PLUGIN,
        "plugin 'contract': declares the graph contract but its vtable lacks 'buffer_reqs'");
    EXPECT_FAIL(reg, "badschema", PLMM_ERR_PLUGIN,
                "plugin 'badschema': option 'mode' has an invalid default: must be one of "
                "fast|exact, got 'turbo'");
    EXPECT_FAIL(reg, "missing-lib", PLMM_ERR_NOT_FOUND,
                "plugin 'missing-lib': library '" DIR_ "/test-missing.so' not found");
    snprintf(want, sizeof(want),
             "plugin 'other-arch' is built for arch 'sparc64', this machine is '%s'",
             plmm_cpu_arch());
    EXPECT_FAIL(reg, "other-arch", PLMM_ERR_UNSUPPORTED, want);

    /* dlopen's own words follow the prefix */
    CHECK(plmm_registry_load(reg, "not-elf", &info) == PLMM_ERR_PLUGIN);
    CHECK(strncmp(plmm_last_errmsg(), "plugin 'not-elf': dlopen failed: ", 33) == 0);
    CHECK_CONTAINS(plmm_last_errmsg(), "not-a-library.so");
    CHECK(info != NULL && info->state == PLMM_PLUGIN_FAILED);

    /* a manifest that says expert over a backend library (experts proper
     * are tested in test-expert-host) */
    EXPECT_FAIL(reg, "an-expert", PLMM_ERR_PLUGIN,
                "plugin 'an-expert': descriptor kind is 'backend', its manifest says 'expert'");

    CHECK(plmm_registry_load(reg, "nope", &info) == PLMM_ERR_NOT_FOUND && info == NULL);
    CHECK(strcmp(plmm_last_errmsg(), "no plugin named 'nope'") == 0);

    /* failures were logged as warnings */
    CHECK_CONTAINS(logged(), "plugin 'abi2' is built for backend ABI 2.x, engine supports 1.x");
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

/* ---- instances ---- */

static void test_instances(void)
{
    plmm_config *cfg = test_config("[backend.good]\nthreads = 3\nlabel = hi there\n"
                                   "[backend.small]\nmode = exact\n");
    plmm_registry *reg = open_registry(cfg, PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR);
    plmm_backend_inst *a = NULL, *b = NULL, *c = NULL, *x = NULL;
    plmm_device_props props;
    uint32_t n = 0;
    if (reg == NULL)
        return;
    CHECK(plmm_registry_check_config(reg) == PLMM_OK);

    log_text[0] = '\0';
    CHECK_MSG(plmm_backend_inst_create(reg, "good", &a) == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK_MSG(plmm_backend_inst_create(reg, "good", &b) == PLMM_OK, "%s", plmm_last_errmsg());
    if (a == NULL || b == NULL)
        goto out;
    CHECK(plmm_registry_find(reg, "good")->n_instances == 2);
    CHECK(strcmp(plmm_backend_inst_name(a), "good") == 0);
    CHECK(plmm_backend_inst_desc(a) == plmm_registry_find(reg, "good")->desc);
    const plmm_backend_vtbl *vt = plmm_backend_inst_vtbl(a);
    CHECK(vt->device_count(plmm_backend_inst_ctx(a), &n) == PLMM_OK && n == 1);
    memset(&props, 0, sizeof(props));
    props.struct_size = sizeof(props);
    CHECK(vt->device_props(plmm_backend_inst_ctx(a), 0, &props) == PLMM_OK);
    CHECK_MSG(strcmp(props.name, "threads=3 mode=fast label=hi there") == 0, "'%s'", props.name);

    /* the host table the plugin got */
    const plmm_host_api *host = plmm_backend_inst_host(a);
    CHECK(host->struct_size == sizeof(plmm_host_api));
    CHECK(host->abi_version == PLMM_ABI_VERSION(1, 0));
    CHECK(host->n_cpus == plmm_cpu_count() && host->cpu_features == plmm_cpu_features_detect());
    CHECK(host != plmm_backend_inst_host(b) &&
          host->host_ctx != plmm_backend_inst_host(b)->host_ctx);
    char driver[64];
    snprintf(driver, sizeof(driver), "n_cpus=%u", plmm_cpu_count());
    CHECK(strcmp(props.driver, driver) == 0);
    /* plugin log lines carry the plugin's name: threads, mode, label */
    CHECK_CONTAINS(logged(), "good: init with 3 options");

    /* a failed call's message, per instance */
    CHECK(plmm_backend_inst_errmsg(a)[0] == '\0');
    CHECK(vt->device_props(plmm_backend_inst_ctx(a), 5, &props) == PLMM_ERR_RANGE);
    CHECK(strcmp(plmm_backend_inst_errmsg(a), "no device 5") == 0);
    CHECK(plmm_backend_inst_errmsg_cb(a) == plmm_backend_inst_errmsg(a));
    CHECK(plmm_backend_inst_errmsg(b)[0] == '\0');
    CHECK(plmm_backend_inst_fail(a, PLMM_ERR_RANGE) == PLMM_ERR_RANGE);
    CHECK(strcmp(plmm_last_errmsg(), "backend 'good': no device 5") == 0);
    CHECK(plmm_backend_inst_errmsg(a)[0] == '\0');
    CHECK(plmm_backend_inst_fail(a, PLMM_ERR_BACKEND) == PLMM_ERR_BACKEND);
    CHECK(strcmp(plmm_last_errmsg(), "backend 'good': backend failure") == 0);

    plmm_backend_inst_destroy(b);
    b = NULL;
    CHECK(plmm_registry_find(reg, "good")->n_instances == 1);
    CHECK_CONTAINS(logged(), "good: shutdown");

    /* the older-layout plugin runs with its options */
    CHECK_MSG(plmm_backend_inst_create(reg, "small", &c) == PLMM_OK, "%s", plmm_last_errmsg());
    if (c != NULL) {
        CHECK(plmm_backend_inst_vtbl(c)->device_props(plmm_backend_inst_ctx(c), 0, &props) ==
              PLMM_OK);
        CHECK(strcmp(props.name, "threads=1 mode=exact label=-") == 0);
    }

    /* init failure: the plugin's message, the plugin's status, FAILED */
    CHECK(plmm_backend_inst_create(reg, "initfail", &x) == PLMM_ERR_BACKEND && x == NULL);
    CHECK(strcmp(plmm_last_errmsg(),
                 "plugin 'initfail': init failed: device 'fake0' is not responding") == 0);
    const plmm_plugin_info *info = plmm_registry_find(reg, "initfail");
    CHECK(info->state == PLMM_PLUGIN_FAILED && info->status == PLMM_ERR_BACKEND &&
          strcmp(info->reason,
                 "plugin 'initfail': init failed: device 'fake0' is not responding") == 0);
    CHECK(plmm_backend_inst_create(reg, "initfail", &x) == PLMM_ERR_BACKEND);

    CHECK(plmm_backend_inst_create(reg, "nodevice", &x) == PLMM_ERR_BACKEND && x == NULL);
    CHECK(strcmp(plmm_last_errmsg(), "plugin 'nodevice': device_count: no device") == 0);

    CHECK(plmm_backend_inst_create(reg, "abi2", &x) == PLMM_ERR_ABI && x == NULL);
    CHECK(plmm_backend_inst_create(reg, "an-expert", &x) == PLMM_ERR_INVALID_ARG);
    CHECK(strcmp(plmm_last_errmsg(), "plugin 'an-expert' is not a backend") == 0);
    CHECK(plmm_backend_inst_create(reg, "ghost", &x) == PLMM_ERR_NOT_FOUND);

out:
    plmm_backend_inst_destroy(b);
    plmm_backend_inst_destroy(NULL);
    /* a and c stay alive: destroying the registry shuts them down */
    plmm_registry_destroy(reg);
    CHECK_CONTAINS(logged(), "backend 'good' still in use at shutdown; shutting it down");
    plmm_registry_destroy(NULL);
    plmm_config_destroy(cfg);
}

/* Options errors point at the configuration; the plugin stays usable. */
static void test_bad_options(void)
{
    plmm_config *cfg = test_config("[backend.good]\nthreads = 100\n[backend.ghost]\n");
    plmm_registry *reg = open_registry(cfg, PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR);
    plmm_backend_inst *x = NULL;
    if (reg == NULL)
        return;
    CHECK(plmm_backend_inst_create(reg, "good", &x) == PLMM_ERR_CONFIG && x == NULL);
    CHECK_MSG(strcmp(plmm_last_errmsg(),
                     "t.ini:4: backend.good.threads: must be between 1 and 64, got 100") == 0,
              "got '%s'", plmm_last_errmsg());
    CHECK(plmm_registry_find(reg, "good")->state == PLMM_PLUGIN_LOADED);

    CHECK(plmm_config_set(cfg, "backend.good.thread=2") == PLMM_OK);
    CHECK(plmm_backend_inst_create(reg, "good", &x) == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_last_errmsg(),
                 "t.ini:4: backend.good.threads: must be between 1 and 64, got 100") == 0);
    CHECK(plmm_config_set(cfg, "backend.good.threads=2") == PLMM_OK);
    CHECK(plmm_backend_inst_create(reg, "good", &x) == PLMM_ERR_CONFIG);
    CHECK(
        strcmp(plmm_last_errmsg(),
               "command line: unknown key 'thread' in [backend.good] (did you mean 'threads'?)") ==
        0);

    CHECK(plmm_registry_check_config(reg) == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_last_errmsg(),
                 "t.ini:5: [backend.ghost]: no backend plugin named 'ghost' was found") == 0);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

/* ---- search order ---- */

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return false;
    fputs(text, f);
    return fclose(f) == 0;
}

static void test_search_order(void)
{
    char dir[] = "/tmp/plmm-test-registry-XXXXXX";
    char path[1024], sub[512], text[2048], env[1200], want[1200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    CHECK(mkdir(sub, 0755) == 0);

    /* env dir: a "good" that shadows the real one, and a plugin of its own */
    snprintf(path, sizeof(path), "%s/good.plugin", dir);
    CHECK(write_file(path, "[plugin]\nfile_format_version = 1\nkind = backend\nname = good\n"
                           "library = /nonexistent/test-good.so\nabi_major = 1\n"));
    snprintf(path, sizeof(path), "%s/zeta.plugin", dir);
    CHECK(write_file(path, "[plugin]\nfile_format_version = 1\nkind = backend\nname = zeta\n"
                           "library = " DIR_ "/test-good.so\nabi_major = 1\n"));
    snprintf(path, sizeof(path), "%s/.hidden.plugin", dir);
    CHECK(write_file(path, "garbage"));
    snprintf(path, sizeof(path), "%s/readme.txt", dir);
    CHECK(write_file(path, "not a manifest"));
    /* config-relative dir: a plugin whose library path is relative */
    snprintf(path, sizeof(path), "%s/alpha.plugin", sub);
    CHECK(write_file(path, "[plugin]\nfile_format_version = 1\nkind = backend\nname = alpha\n"
                           "library = ../nowhere.so\nabi_major = 1\n"));
    snprintf(path, sizeof(path), "%s/plmm.ini", dir);
    snprintf(text, sizeof(text), "[engine]\nplugin_path = sub:%s:%s\n", DIR_, dir);
    CHECK(write_file(path, text));

    plmm_config *cfg = NULL;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_file(cfg, path) == PLMM_OK, "%s", plmm_last_errmsg());
    snprintf(env, sizeof(env), "%s::/nonexistent/plmm-plugins", dir);
    CHECK(setenv("PLMM_PLUGIN_PATH", env, 1) == 0);

    plmm_registry *reg = open_registry(cfg, PLMM_REGISTRY_NO_INSTALL_DIR);
    if (reg != NULL) {
        /* env dirs, then config dirs (the env dir again is not rescanned) */
        CHECK(plmm_registry_dir_count(reg) == 4);
        CHECK(strcmp(plmm_registry_dir_at(reg, 0), dir) == 0);
        CHECK(strcmp(plmm_registry_dir_at(reg, 1), "/nonexistent/plmm-plugins") == 0);
        CHECK(strcmp(plmm_registry_dir_at(reg, 2), sub) == 0);
        CHECK(strcmp(plmm_registry_dir_at(reg, 3), DIR_) == 0);

        CHECK(strcmp(plmm_registry_at(reg, 0)->manifest->name, "good") == 0);
        CHECK(strcmp(plmm_registry_at(reg, 1)->manifest->name, "zeta") == 0);
        CHECK(strcmp(plmm_registry_at(reg, 2)->manifest->name, "alpha") == 0);
        CHECK(plmm_registry_count(reg) == N_EXPECTED + 2);

        snprintf(want, sizeof(want),
                 "%s/good.plugin: plugin 'good' ignored: already found in '%s/good.plugin'", DIR_,
                 dir);
        bool found = false;
        for (uint32_t i = 0; i < plmm_registry_problem_count(reg); i++)
            found |= strcmp(plmm_registry_problem_at(reg, i), want) == 0;
        CHECK_MSG(found, "no problem '%s'", want);

        /* the first "good" wins, even though it is broken */
        CHECK(plmm_registry_load(reg, "good", NULL) == PLMM_ERR_NOT_FOUND);
        CHECK(strcmp(plmm_last_errmsg(),
                     "plugin 'good': library '/nonexistent/test-good.so' not found") == 0);
        CHECK(plmm_registry_load(reg, "zeta", NULL) == PLMM_ERR_PLUGIN);
        CHECK(strcmp(plmm_last_errmsg(),
                     "plugin 'zeta': descriptor name 'good' does not match its manifest") == 0);
        snprintf(want, sizeof(want), "plugin 'alpha': library '%s/sub/../nowhere.so' not found",
                 dir);
        CHECK(plmm_registry_load(reg, "alpha", NULL) == PLMM_ERR_NOT_FOUND);
        CHECK(strcmp(plmm_last_errmsg(), want) == 0);
        plmm_registry_destroy(reg);
    }

    /* NO_ENV ignores the variable */
    reg = open_registry(cfg, PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR);
    if (reg != NULL) {
        CHECK(plmm_registry_dir_count(reg) == 3);
        CHECK(strcmp(plmm_registry_at(reg, 0)->manifest->name, "alpha") == 0);
        plmm_registry_destroy(reg);
    }
    /* the build tree's plugin dirs (this test runs from it), then the install dir last */
    reg = open_registry(NULL, PLMM_REGISTRY_NO_ENV);
    if (reg != NULL) {
        uint32_t nd = plmm_registry_dir_count(reg);
        CHECK(nd >= 2);
        CHECK(nd >= 1 && strcmp(plmm_registry_dir_at(reg, nd - 1), PLMM_PLUGIN_INSTALL_DIR) == 0);
        bool has_cpu = false;
        for (uint32_t i = 0; i + 1 < nd; i++) {
            const char *d = plmm_registry_dir_at(reg, i);
            size_t n = strlen(d);
            has_cpu = has_cpu || (n >= 13 && strcmp(d + n - 13, "/backends/cpu") == 0);
        }
        CHECK_MSG(has_cpu, "build-tree plugin dir backends/cpu not scanned");
        plmm_registry_destroy(reg);
    }
    CHECK(unsetenv("PLMM_PLUGIN_PATH") == 0);
    plmm_config_destroy(cfg);

    static const char *const files[] = {"good.plugin", "zeta.plugin", ".hidden.plugin",
                                        "readme.txt",  "plmm.ini",    "sub/alpha.plugin"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        CHECK(unlink(path) == 0);
    }
    CHECK(rmdir(sub) == 0 && rmdir(dir) == 0);
}

/* ---- host services and CPU facts ---- */

static void test_host_and_cpu(void)
{
    plmm_host_slot slot = {.name = "x"};
    plmm_host_api api;
    plmm_host_api_init(&api, &slot, 5, 3);
    CHECK(api.cpu_features == 5 && api.n_cpus == 3 && api.host_ctx == &slot);
    void *p = api.alloc(api.host_ctx, 100, 256);
    CHECK(p != NULL && ((uintptr_t)p & 255u) == 0);
    api.free(api.host_ctx, p);
    api.free(api.host_ctx, NULL);
    CHECK(api.alloc(api.host_ctx, 16, 24) == NULL); /* not a power of two */
    p = api.alloc(api.host_ctx, 0, 1);
    CHECK(p != NULL);
    api.free(api.host_ctx, p);
    api.set_error(api.host_ctx, "boom");
    CHECK(strcmp(slot.errmsg, "boom") == 0);
    api.set_error(api.host_ctx, NULL);
    CHECK(slot.errmsg[0] == '\0');
    api.log(api.host_ctx, PLMM_LOG_INFO, "no sink is fine");
    uint64_t t0 = api.now_ns(api.host_ctx), t1 = api.now_ns(api.host_ctx);
    CHECK(t1 >= t0 && t0 > 0);

    uint64_t f = plmm_cpu_features_detect();
    char buf[256];
    printf("cpu: %s, %u cpus, features: %s\n", plmm_cpu_arch(), plmm_cpu_count(),
           plmm_cpu_features_str(f, buf, sizeof(buf)));
    CHECK(plmm_cpu_count() >= 1);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* the compiler's own detection (which also checks OS support) agrees */
    __builtin_cpu_init();
    CHECK(((f & PLMM_CPU_AVX2) != 0) == (__builtin_cpu_supports("avx2") != 0));
    CHECK(((f & PLMM_CPU_FMA) != 0) == (__builtin_cpu_supports("fma") != 0));
    CHECK(((f & PLMM_CPU_AVX512F) != 0) == (__builtin_cpu_supports("avx512f") != 0));
    CHECK(((f & PLMM_CPU_SSE42) != 0) == (__builtin_cpu_supports("sse4.2") != 0));
    CHECK(strcmp(plmm_cpu_arch(), "x86_64") == 0);
#endif
    CHECK(strcmp(plmm_cpu_features_str(PLMM_CPU_AVX2 | PLMM_CPU_FMA, buf, sizeof(buf)),
                 "avx2 fma") == 0);
    CHECK(strcmp(plmm_cpu_features_str(PLMM_CPU_AVX2 | PLMM_CPU_FMA, buf, 7), "avx2") == 0);
    CHECK(strcmp(plmm_cpu_features_str(0, buf, sizeof(buf)), "") == 0);
}

int main(void)
{
    test_discovery();
    test_loading();
    test_instances();
    test_bad_options();
    test_search_order();
    test_host_and_cpu();
    return test_summary("registry");
}
