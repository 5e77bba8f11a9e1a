/*
 * Expert plugins in the host: descriptor checks with their exact reasons,
 * version negotiation, [expert.NAME] validated against the engine's keys
 * plus the plugin's, the settings the engine keeps, init failures and the
 * answer-check wrapper. The plugins are variants built for this test in
 * tests/unit/plugins/experts (TEST_EXPERT_DIR).
 */
#include "errors.h"
#include "expert_host.h"
#include "expert_set.h"
#include "plmm/plmm.h"
#include "registry.h"
#include "test.h"

#ifndef TEST_EXPERT_DIR
#error "TEST_EXPERT_DIR must name the build directory of tests/unit/plugins/experts"
#endif

#define DIR_ TEST_EXPERT_DIR

static char log_text[1 << 15];

static void capture_log(void *user, int level, const char *msg)
{
    (void)user;
    (void)level;
    size_t n = strlen(log_text);
    if (n + strlen(msg) + 2 < sizeof(log_text))
        snprintf(log_text + n, sizeof(log_text) - n, "%s\n", msg);
}

static const char *logged(void)
{
    return log_text;
}

static plmm_config *config_from(const char *extra)
{
    char text[4096];
    plmm_config *cfg = NULL;
    snprintf(text, sizeof(text), "[engine]\nplugin_path = %s\n%s", DIR_, extra);
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK_MSG(plmm_config_load_string(cfg, text, "t.ini") == PLMM_OK, "%s", plmm_last_errmsg());
    return cfg;
}

static plmm_registry *open_registry(const plmm_config *cfg)
{
    plmm_registry *reg = NULL;
    plmm_registry_opts o = {.config = cfg,
                            .log = capture_log,
                            .flags = PLMM_REGISTRY_NO_ENV | PLMM_REGISTRY_NO_INSTALL_DIR};
    CHECK(plmm_registry_create(&o, &reg) == PLMM_OK);
    return reg;
}

/* ---- descriptors ---- */

static void expect_fail(plmm_registry *reg, int line, const char *name, plmm_status want_status,
                        const char *want)
{
    const plmm_plugin_info *info = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        plmm_status s = plmm_registry_load(reg, name, &info);
        CHECK_MSG(s == want_status, "line %d: %s: status %d, want %d (%s)", line, name, s,
                  want_status, plmm_last_errmsg());
        CHECK_MSG(strcmp(plmm_last_errmsg(), want) == 0, "line %d:\n got  '%s'\n want '%s'", line,
                  plmm_last_errmsg(), want);
        CHECK(info != NULL && info->state == PLMM_PLUGIN_FAILED && info->expert == NULL &&
              info->desc == NULL && strcmp(info->reason, want) == 0);
    }
}

#define EXPECT_FAIL(reg, name, status, want) expect_fail(reg, __LINE__, name, status, want)

static void test_descriptors(void)
{
    plmm_config *cfg = config_from("");
    plmm_registry *reg = open_registry(cfg);
    const plmm_plugin_info *info = NULL;
    if (reg == NULL)
        return;

    info = plmm_registry_find(reg, "good");
    CHECK(info != NULL && info->manifest->kind == PLMM_PLUGIN_EXPERT &&
          info->state == PLMM_PLUGIN_DISCOVERED);
    CHECK(plmm_registry_load(reg, "good", &info) == PLMM_OK);
    CHECK(info != NULL && info->state == PLMM_PLUGIN_LOADED && info->expert != NULL &&
          info->desc == NULL);
    if (info != NULL && info->expert != NULL) {
        const plmm_expert_desc *d = info->expert;
        CHECK(strcmp(d->name, "good") == 0 && strcmp(d->version, "0.2.0") == 0);
        CHECK(d->n_signals == 3 && strcmp(d->signals[2].phrase, "raised bed") == 0);
        CHECK(d->n_examples == 2 && d->n_options == 1);
        CHECK(d->connectors == (PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI));
    }
    CHECK_CONTAINS(logged(), "loaded plugin 'good' 0.2.0 from '" DIR_ "/test-expert-good.so'");

    CHECK(plmm_registry_load(reg, "newer", &info) == PLMM_OK);
    CHECK(info != NULL && info->expert != NULL && info->expert->abi_minor == 9);
    CHECK_CONTAINS(logged(),
                   "plugin 'newer' is built for expert ABI 1.9; this engine uses its 1.0 part");
    CHECK(plmm_registry_load(reg, "oldvtbl", &info) == PLMM_OK);

    EXPECT_FAIL(reg, "abi2", PLMM_ERR_ABI,
                "plugin 'abi2' is built for expert ABI 2.x, engine supports 1.x");
    EXPECT_FAIL(reg, "abi2-manifest", PLMM_ERR_ABI,
                "plugin 'abi2-manifest' is built for expert ABI 2.x, engine supports 1.x");
    EXPECT_FAIL(reg, "name", PLMM_ERR_PLUGIN,
                "plugin 'name': descriptor name 'someone-else' does not match its manifest");
    EXPECT_FAIL(reg, "nosignals", PLMM_ERR_PLUGIN,
                "plugin 'nosignals': descriptor has no routing signals");
    EXPECT_FAIL(reg, "badphrase", PLMM_ERR_PLUGIN,
                "plugin 'badphrase': routing signal 0 'Gardening  Tools' is not lowercase words "
                "separated by single spaces");
    EXPECT_FAIL(reg, "badweight", PLMM_ERR_PLUGIN,
                "plugin 'badweight': routing signal 'compost' has weight 0 (must be > 0)");
    EXPECT_FAIL(reg, "noconn", PLMM_ERR_PLUGIN,
                "plugin 'noconn': descriptor connectors 0x0 name no known connector kind");
    EXPECT_FAIL(reg, "noinit", PLMM_ERR_PLUGIN,
                "plugin 'noinit': vtable lacks required function 'init'");
    EXPECT_FAIL(reg, "ownkey", PLMM_ERR_PLUGIN,
                "plugin 'ownkey': option 'share' is an engine key of every expert");

    /* a manifest problem is found before any code loads */
    CHECK(plmm_registry_find(reg, "broken-device") == NULL);
    CHECK(plmm_registry_problem_count(reg) == 1);
    const char *problem = test_str_or_null(plmm_registry_problem_at(reg, 0));
    CHECK_MSG(strcmp(problem, DIR_ "/broken-device.plugin:8: device_type: an expert runs on no "
                                   "device (only backends have one)") == 0,
              "got '%s'", problem);

    /* a broken expert never stops the others */
    CHECK(plmm_registry_load(reg, "good", &info) == PLMM_OK);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

/* ---- instances and settings ---- */

static plmm_expert_inst *create(const char *ini, const char *name, plmm_status want,
                                const char *want_msg, int line)
{
    plmm_config *cfg = config_from(ini);
    plmm_registry *reg = open_registry(cfg);
    plmm_expert_inst *inst = NULL;
    if (reg == NULL)
        return NULL;
    plmm_status s = plmm_expert_inst_create(reg, cfg, name, &inst);
    CHECK_MSG(s == want, "line %d: status %d, want %d (%s)", line, s, want, plmm_last_errmsg());
    if (want_msg != NULL)
        CHECK_MSG(strcmp(plmm_last_errmsg(), want_msg) == 0, "line %d:\n got  '%s'\n want '%s'",
                  line, plmm_last_errmsg(), want_msg);
    CHECK(want == PLMM_OK ? inst != NULL : inst == NULL);
    plmm_expert_inst_destroy(inst);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
    return NULL;
}

#define EXPECT_CONFIG_ERROR(ini, name, msg) create(ini, name, PLMM_ERR_CONFIG, msg, __LINE__)

static void test_settings(void)
{
    plmm_config *cfg = config_from("[expert.good]\n"
                                   "connector = openai\n"
                                   "endpoint = http://127.0.0.1:8081/v1\n"
                                   "model_name = fin-7b\n"
                                   "api_key_env = FIN_KEY\n"
                                   "share = full\n"
                                   "price_per_1k_tokens = 0.25\n"
                                   "budget = 3\n"
                                   "timeout = 12.5\n"
                                   "tone = formal\n");
    plmm_registry *reg = open_registry(cfg);
    plmm_expert_inst *inst = NULL;
    plmm_check_result r;
    if (reg == NULL)
        return;
    CHECK_MSG(plmm_expert_inst_create(reg, cfg, "good", &inst) == PLMM_OK, "%s",
              plmm_last_errmsg());
    if (inst != NULL) {
        const plmm_expert_settings *st = plmm_expert_inst_settings(inst);
        CHECK(strcmp(plmm_expert_inst_name(inst), "good") == 0);
        CHECK(plmm_expert_inst_desc(inst)->n_signals == 3);
        CHECK(st->enabled && st->stream);
        CHECK(st->connector == PLMM_EXPERT_CONNECTOR_OPENAI);
        CHECK(strcmp(st->endpoint, "http://127.0.0.1:8081/v1") == 0);
        CHECK(strcmp(st->model_name, "fin-7b") == 0 && strcmp(st->api_key_env, "FIN_KEY") == 0);
        CHECK(st->model == NULL && st->lora == NULL && st->ca_file == NULL);
        CHECK(st->share == PLMM_SHARE_FULL);
        CHECK(st->price_per_1k_tokens == 0.25 && st->budget == 3.0 && st->timeout_s == 12.5);
        CHECK(st->connect_timeout_s == 10.0 && st->max_retries == 2 && st->max_tokens == 512);

        /* the connector configuration, with the key from the environment */
        plmm_connector_config cc;
        unsetenv("FIN_KEY");
        CHECK(plmm_expert_inst_connector_config(inst, &cc) == PLMM_ERR_CONFIG);
        CHECK(strcmp(plmm_last_errmsg(), "[expert.good]: api_key_env names 'FIN_KEY', which is "
                                         "not set in the environment (and no api_key)") == 0);
        setenv("FIN_KEY", "sk-test-123", 1);
        CHECK_MSG(plmm_expert_inst_connector_config(inst, &cc) == PLMM_OK, "%s",
                  plmm_last_errmsg());
        CHECK(cc.kind == PLMM_CONNECTOR_OPENAI && strcmp(cc.name, "expert.good") == 0);
        CHECK(strcmp(cc.endpoint, "http://127.0.0.1:8081/v1") == 0 &&
              strcmp(cc.model, "fin-7b") == 0);
        CHECK(cc.api_key != NULL && strcmp(cc.api_key, "sk-test-123") == 0);
        CHECK(cc.timeout_s == 12.5 && cc.connect_timeout_s == 10.0 && cc.max_retries == 2);
        CHECK(cc.stream && cc.model_path == NULL && cc.lora_path == NULL);
        unsetenv("FIN_KEY");

        /* the plugin's check, and its own option reached it */
        CHECK(plmm_expert_inst_check(inst, "q", "this is WRONG", &r) == PLMM_OK);
        CHECK(r.verdict == PLMM_CHECK_FAIL &&
              strcmp(r.message, "answer is wrong (tone formal)") == 0);
        CHECK(plmm_expert_inst_check(inst, "q", "MAYBE so", &r) == PLMM_OK);
        CHECK(r.verdict == PLMM_CHECK_WARN && strcmp(r.message, "answer is unsure") == 0);
        CHECK(plmm_expert_inst_check(inst, "q", "fine", &r) == PLMM_OK);
        CHECK(r.verdict == PLMM_CHECK_PASS && r.message[0] == '\0');
    }
    plmm_expert_inst_destroy(inst);
    plmm_expert_inst_destroy(NULL);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);

    /* defaults: local with a model, share pseudonymized, budget unlimited */
    cfg = config_from("[expert.good]\nconnector = local\nmodel = fin.gguf\nenabled = false\n");
    reg = open_registry(cfg);
    inst = NULL;
    CHECK_MSG(reg != NULL && plmm_expert_inst_create(reg, cfg, "good", &inst) == PLMM_OK, "%s",
              plmm_last_errmsg());
    if (inst != NULL) {
        const plmm_expert_settings *st = plmm_expert_inst_settings(inst);
        CHECK(!st->enabled && st->connector == PLMM_EXPERT_CONNECTOR_LOCAL);
        CHECK(st->model != NULL && strcmp(st->model, "fin.gguf") == 0);
        CHECK(st->share == PLMM_SHARE_PSEUDONYMIZED && st->budget < 0 && st->lora_scale == 1.0);
        plmm_connector_config cc;
        CHECK(plmm_expert_inst_connector_config(inst, &cc) == PLMM_OK);
        CHECK(cc.kind == PLMM_CONNECTOR_LOCAL && strcmp(cc.model_path, "fin.gguf") == 0);
        CHECK(cc.api_key == NULL && cc.endpoint == NULL && strcmp(cc.model, "") == 0);
    }
    plmm_expert_inst_destroy(inst);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);

    /* an expert without a check passes every answer; the poisoned field
     * past its vtable's struct_size is never called */
    cfg = config_from("[expert.oldvtbl]\nconnector = local\nlora = fin-lora.gguf\n");
    reg = open_registry(cfg);
    inst = NULL;
    CHECK_MSG(reg != NULL && plmm_expert_inst_create(reg, cfg, "oldvtbl", &inst) == PLMM_OK, "%s",
              plmm_last_errmsg());
    if (inst != NULL) {
        CHECK(plmm_expert_inst_check(inst, "q", "WRONG", &r) == PLMM_OK);
        CHECK(r.verdict == PLMM_CHECK_PASS && r.message[0] == '\0');
    }
    plmm_expert_inst_destroy(inst);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

static void test_config_errors(void)
{
    EXPECT_CONFIG_ERROR("[expert.good]\nshare = full\n", "good",
                        "[expert.good]: missing key 'connector' (local or openai)");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = local\n", "good",
                        "t.ini:4: expert.good.connector: connector 'local' needs 'model' (a GGUF "
                        "file) or 'lora' (an adapter)");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = local\nmodel = a.gguf\nlora = b.gguf\n", "good",
                        "t.ini:6: expert.good.lora: set either 'model' (a second model) or 'lora' "
                        "(an adapter), not both");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = openai\n", "good",
                        "t.ini:4: expert.good.connector: connector 'openai' needs 'endpoint' "
                        "(e.g. http://127.0.0.1:8081/v1)");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = openai\nendpoint = ftp://x/v1\n", "good",
                        "t.ini:5: expert.good.endpoint: 'ftp://x/v1' is not an http:// or "
                        "https:// URL");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = openai\nendpoint = http://x/v1\n"
                        "api_key_env = 1-KEY\n",
                        "good",
                        "t.ini:6: expert.good.api_key_env: '1-KEY' is not an environment "
                        "variable name");
    EXPECT_CONFIG_ERROR(
        "[expert.good]\nconnector = gopher\n", "good",
        "t.ini:4: expert.good.connector: must be one of local|openai, got 'gopher'");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = local\nmodel = a.gguf\nshar = full\n", "good",
                        "t.ini:6: unknown key 'shar' in [expert.good] (did you mean 'share'?)");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = local\nmodel = a.gguf\ntone = loud\n", "good",
                        "t.ini:6: expert.good.tone: must be one of plain|formal, got 'loud'");
    EXPECT_CONFIG_ERROR("[expert.good]\nconnector = local\nmodel = a.gguf\ntimeout = 0\n", "good",
                        NULL);
    EXPECT_CONFIG_ERROR("[expert.openaionly]\nconnector = local\nmodel = a.gguf\n", "openaionly",
                        "t.ini:4: expert.openaionly.connector: connector 'local' is not supported "
                        "here");
    create("[expert.initfail]\nconnector = local\nmodel = a.gguf\n", "initfail", PLMM_ERR_CONFIG,
           "expert 'initfail': init failed: vocabulary file 'x.txt' is missing", __LINE__);
    create("", "ghost", PLMM_ERR_NOT_FOUND, "no plugin named 'ghost'", __LINE__);
    create("", "abi2", PLMM_ERR_ABI,
           "plugin 'abi2' is built for expert ABI 2.x, engine supports 1.x", __LINE__);

    /* a section for an expert nobody ships */
    plmm_config *cfg = config_from("[expert.ghost]\nconnector = local\nmodel = a.gguf\n");
    plmm_registry *reg = open_registry(cfg);
    CHECK(reg != NULL && plmm_registry_check_config(reg) == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_last_errmsg(),
                 "t.ini:3: [expert.ghost]: no expert plugin named 'ghost' was found") == 0);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
    cfg = config_from("[expert.good]\nconnector = local\nmodel = a.gguf\n");
    reg = open_registry(cfg);
    CHECK(reg != NULL && plmm_registry_check_config(reg) == PLMM_OK);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

static void test_check_failures(void)
{
    static const char *const names[] = {"badverdict", "checkerr"};
    static const char *const want[] = {"expert 'badverdict': check returned verdict 7",
                                       "expert 'checkerr': check failed: no memory for the "
                                       "number table"};
    static const plmm_status want_status[] = {PLMM_ERR_PLUGIN, PLMM_ERR_NOMEM};
    for (int i = 0; i < 2; i++) {
        char ini[256];
        snprintf(ini, sizeof(ini), "[expert.%s]\nconnector = local\nmodel = a.gguf\n", names[i]);
        plmm_config *cfg = config_from(ini);
        plmm_registry *reg = open_registry(cfg);
        plmm_expert_inst *inst = NULL;
        plmm_check_result r;
        CHECK(reg != NULL && plmm_expert_inst_create(reg, cfg, names[i], &inst) == PLMM_OK);
        if (inst != NULL) {
            CHECK(plmm_expert_inst_check(inst, "q", "a", &r) == want_status[i]);
            CHECK_MSG(strcmp(plmm_last_errmsg(), want[i]) == 0, "got '%s'", plmm_last_errmsg());
            CHECK(r.verdict == PLMM_CHECK_FAIL &&
                  strcmp(r.message, "the answer check could not run") == 0);
        }
        plmm_expert_inst_destroy(inst);
        plmm_registry_destroy(reg);
        plmm_config_destroy(cfg);
    }
}

/* ---- the configured set and the report ---- */

static void test_set(void)
{
    plmm_config *cfg = config_from("[expert.good]\nconnector = openai\n"
                                   "endpoint = http://127.0.0.1:9/v1\n"
                                   "[expert.initfail]\nconnector = local\nmodel = a.gguf\n"
                                   "[expert.abi2]\nconnector = local\nmodel = a.gguf\n");
    plmm_registry *reg = open_registry(cfg);
    plmm_expert_set *set = NULL;
    if (reg == NULL)
        return;
    CHECK(plmm_expert_set_open(reg, cfg, &set) == PLMM_OK && set != NULL);
    if (set != NULL) {
        CHECK(plmm_expert_set_count(set) == 3);
        const plmm_expert_entry *g = plmm_expert_set_at(set, 0);
        CHECK(g != NULL && strcmp(g->name, "good") == 0 && g->inst != NULL &&
              g->status == PLMM_OK && g->reason[0] == '\0');
        const plmm_expert_entry *f = plmm_expert_set_find(set, "initfail");
        CHECK(f != NULL && f->inst == NULL && f->status == PLMM_ERR_CONFIG &&
              strcmp(f->reason,
                     "expert 'initfail': init failed: vocabulary file 'x.txt' is missing") == 0);
        const plmm_expert_entry *a = plmm_expert_set_at(set, 2);
        CHECK(a != NULL && a->inst == NULL && a->status == PLMM_ERR_ABI &&
              strcmp(a->reason, "plugin 'abi2' is built for expert ABI 2.x, engine supports 1.x") ==
                  0);
        CHECK(plmm_expert_set_at(set, 3) == NULL && plmm_expert_set_find(set, "newer") == NULL);
    }
    plmm_expert_set_close(set);
    plmm_expert_set_close(NULL);
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
}

static void test_report(void)
{
    const char *const ov[] = {
        "engine.plugin_path=" DIR_,
        "expert.good.connector=openai",
        "expert.good.endpoint=http://127.0.0.1:9/v1",
        "expert.good.model_name=g-7b",
        "expert.good.budget=2.5",
        "expert.initfail.connector=local",
        "expert.initfail.model=a.gguf",
    };
    plmm_engine_params p = {.struct_size = sizeof(p),
                            .overrides = ov,
                            .n_overrides = sizeof(ov) / sizeof(ov[0]),
                            .log_level = -1};
    plmm_engine *e = NULL;
    char *r = NULL;
    CHECK_MSG(plmm_engine_open(&p, &e) == PLMM_OK, "%s", plmm_last_errmsg());
    if (e == NULL)
        return;
    CHECK(plmm_engine_experts_report(e, &r) == PLMM_OK && r != NULL);
    CHECK_CONTAINS(r, "good 0.2.0 — gardening: soil, compost, planting\n"
                      "    3 routing signals, 2 examples, check: yes\n"
                      "    enabled, connector openai http://127.0.0.1:9/v1 model g-7b\n"
                      "    share pseudonymized, price 0 per 1k tokens, budget 2.5, timeout 60 s\n");
    CHECK_CONTAINS(r, "initfail 0.2.0 — gardening: soil, compost, planting\n"
                      "    3 routing signals, 2 examples, check: yes\n"
                      "    FAILED: expert 'initfail': init failed: vocabulary file 'x.txt' is "
                      "missing\n");
    CHECK_CONTAINS(r, "newer 0.2.0 — gardening: soil, compost, planting\n"
                      "    3 routing signals, 2 examples, check: yes\n"
                      "    not configured (add an [expert.newer] section)\n");
    CHECK_CONTAINS(r, "oldvtbl 0.2.0 — gardening: soil, compost, planting\n"
                      "    3 routing signals, 2 examples, check: none\n");
    CHECK_CONTAINS(r,
                   "abi2 — test expert abi2\n"
                   "    FAILED: plugin 'abi2' is built for expert ABI 2.x, engine supports 1.x\n");
    CHECK_CONTAINS(r, "problem: " DIR_ "/broken-device.plugin:8: device_type");
    plmm_free(r);
    CHECK(plmm_engine_experts_report(e, NULL) == PLMM_ERR_INVALID_ARG);
    plmm_engine_close(e);
}

int main(void)
{
    test_descriptors();
    test_settings();
    test_config_errors();
    test_check_failures();
    test_set();
    test_report();
    return test_summary("test-expert-host");
}
