/*
 * The router's decision logic: thresholds of the domain match and of the
 * P-model's confidence (router_decide, no models), and the consultation
 * chain with fake connectors (a consult hook): the expert answers, an
 * offline expert falls back to the T-model and then to the P-model with
 * notices, a spent budget and share = none skip a consultant without
 * sending anything.
 */
#include "config.h"
#include "errors.h"
#include "plmm/ledger.h"
#include "plmm/vault.h"
#include "router_state.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static router_params defaults(void)
{
    router_params p;
    plmm_status st = router_params_read(NULL, &p);
    CHECK(st == PLMM_OK);
    return p;
}

static void test_decide(void)
{
    router_params p = defaults();
    CHECK(p.min_score == 2.0f && p.margin == 0.5f && p.draft_tokens == 8);
    router_candidate c[3] = {{.name = "finance"}, {.name = "it"}, {.name = "art"}};
    router_inputs in = {.cands = c, .n = 3, .has_tmodel = true};
    router_decision d;

    /* nothing matches, no draft: local */
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && d.expert == -1);

    /* a clear match */
    c[0].lexical = 5.0f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_EXPERT && d.expert == 0 && d.lead == 5.0f);
    CHECK_CONTAINS(d.reason, "finance");

    /* below min_score */
    c[0].lexical = 1.9f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && d.best == 0);

    /* a tie within the margin */
    c[0].lexical = 3.0f;
    c[1].lexical = 2.7f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && d.best == 0);
    CHECK(d.lead > 0.29f && d.lead < 0.31f);

    /* a disabled runner-up takes no part: the lead is over the third */
    c[1].block = ROUTER_DISABLED;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_EXPERT && d.expert == 0 && d.lead == 3.0f);

    /* the embedding similarity adds with its weight */
    c[1].block = ROUTER_OK;
    c[1].embedding = 0.5f;
    in.embedding_weight = 2.0f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_EXPERT && d.expert == 1 && d.score == 3.7f);
    in.embedding_weight = 0.0f;
    c[1].embedding = 0.0f;

    /* an over-budget expert still owns its question (the caller falls
     * back with a notice) */
    c[0].block = ROUTER_BUDGET;
    c[1].lexical = 0.0f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_EXPERT && d.expert == 0);
    c[0].block = ROUTER_OK;
    c[0].lexical = 0.0f;

    /* confidence */
    in.has_draft = true;
    in.mean_logprob = -0.5f;
    in.mean_entropy = 1.0f;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && !d.low_confidence);
    CHECK_CONTAINS(d.reason, "confident");
    in.mean_logprob = -3.0f; /* below min_logprob -2.5 */
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_TMODEL && d.low_confidence);
    CHECK_CONTAINS(d.reason, "T-model");
    in.mean_logprob = -0.5f;
    in.mean_entropy = 3.5f; /* above max_entropy 3.0 */
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_TMODEL);
    in.has_tmodel = false;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && d.low_confidence);
    CHECK_CONTAINS(d.reason, "no T-model");
    /* draft_tokens = 0: no confidence, stays local */
    in.has_tmodel = true;
    in.has_draft = false;
    router_decide(&p, &in, &d);
    CHECK(d.wanted == PLMM_ROUTE_LOCAL && !d.low_confidence);
}

/* [router] values are read, and bad ones are named */
static void test_params(void)
{
    plmm_config *cfg = NULL;
    router_params p;
    CHECK(plmm_config_create(&cfg) == PLMM_OK);
    CHECK(plmm_config_load_string(cfg,
                                  "[router]\nmin_score = 3.5\nmargin = 1\ndraft_tokens = 16\n"
                                  "min_logprob = -1.5\nmax_entropy = 2\nmax_tokens = 64\n"
                                  "draft_prompt = raw\nembedding_weight = 0.5\n",
                                  "r.ini") == PLMM_OK);
    CHECK(router_params_read(cfg, &p) == PLMM_OK);
    CHECK(p.min_score == 3.5f && p.margin == 1.0f && p.draft_tokens == 16);
    CHECK(p.min_logprob == -1.5f && p.max_entropy == 2.0f && p.max_tokens == 64);
    CHECK(p.draft_prompt == ROUTER_PROMPT_RAW && p.embedding_weight == 0.5f);
    plmm_config_destroy(cfg);

    const char *bad[] = {"[router]\nmin_logprob = 5\n", "[router]\ndraft_tokens = 1000\n",
                         "[router]\ndraft_prompt = chatty\n", "[router]\nmin_scor = 1\n"};
    const char *key[] = {"min_logprob", "draft_tokens", "draft_prompt", "min_score"};
    for (int i = 0; i < 4; i++) {
        cfg = NULL;
        CHECK(plmm_config_create(&cfg) == PLMM_OK);
        plmm_status st = plmm_config_load_string(cfg, bad[i], "bad.ini");
        CHECK_MSG(st == PLMM_ERR_CONFIG, "%s: %d", bad[i], st);
        CHECK_CONTAINS(plmm_last_errmsg(), key[i]);
        plmm_config_destroy(cfg);
    }
}

/* ---- the chain with fake connectors ---- */

typedef struct fake {
    bool finance_down, tmodel_down;
    bool no_disclaimer; /* finance answers without mentioning risk */
    int finance_calls, tmodel_calls;
    char last_system[64];
    char last_user[256];
} fake;

static plmm_status fake_consult(void *user, const char *who, plmm_connector *conn,
                                const plmm_connector_request *req, plmm_connector_result *res)
{
    fake *f = user;
    (void)conn;
    bool fin = strcmp(who, "finance") == 0;
    if (fin)
        f->finance_calls++;
    else
        f->tmodel_calls++;
    snprintf(f->last_system, sizeof(f->last_system), "%s",
             req->n_msgs == 2 ? req->msgs[0].content : "");
    snprintf(f->last_user, sizeof(f->last_user), "%s", req->msgs[req->n_msgs - 1].content);
    if (fin ? f->finance_down : f->tmodel_down)
        return plmm_err(PLMM_ERR_NETWORK, "%s: cannot reach the server", who);
    const char *a = fin ? "Pay the mortgage. Investing involves risk." : "Taxes and bread.";
    if (fin && f->no_disclaimer)
        a = "Put everything into one stock, it always goes up.";
    if (strstr(f->last_user, "<EMAIL_1>") != NULL)
        a = "I will write to <EMAIL_1> about the index fund. Investing involves risk.";
    if (req->on_piece != NULL)
        req->on_piece(req->user, a, 10), req->on_piece(req->user, a + 10, strlen(a) - 10);
    res->text = strdup(a);
    res->prompt_tokens = 100;
    res->completion_tokens = 400;
    return res->text != NULL ? PLMM_OK : PLMM_ERR_NOMEM;
}

typedef struct sink {
    char text[4096];
    size_t len;
    int stop_after; /* pieces; 0 = never */
    int pieces;
} sink;

static bool collect(void *user, const char *piece, size_t len)
{
    sink *s = user;
    if (s->len + len < sizeof(s->text)) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return s->stop_after == 0 || ++s->pieces < s->stop_after;
}

static const char *FIN_Q = "Should I pay off my mortgage early or invest in an index fund?";
static const char *GEN_Q = "Explain the causes of the French Revolution.";

typedef struct rig {
    char path[256];
    plmm_engine *e;
    plmm_model *m;
    plmm_router *r;
    fake f;
} rig;

static bool rig_open(rig *g, const char *finance, const char *tmodel)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->path, sizeof(g->path), "/tmp/plmm-test-router-%ld.ini", (long)getpid());
    FILE *fp = fopen(g->path, "w");
    if (fp == NULL)
        return false;
    fprintf(fp,
            "[engine]\nmodel = %s\nthreads = 1\n"
            "[router]\nmax_tokens = 6\ndraft_tokens = 4\n"
            "[expert.finance]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\n"
            "price_per_1k_tokens = 2\nbudget = 1.5\n%s"
            "[tmodel]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\n%s",
            ROUTER_MODEL, finance, tmodel);
    fclose(fp);
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = g->path, .log_level = -1};
    plmm_status st = plmm_engine_open(&ep, &g->e);
    if (st == PLMM_OK)
        st = plmm_model_load(g->e, NULL, &g->m);
    if (st == PLMM_OK)
        st = plmm_router_open(g->e, g->m, &g->r);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return false;
    router_set_consult_hook(g->r, fake_consult, &g->f);
    return true;
}

static void rig_close(rig *g)
{
    plmm_router_close(g->r);
    plmm_model_free(g->m);
    plmm_engine_close(g->e);
    remove(g->path);
}

static void test_chain(void)
{
    rig g;
    if (!rig_open(&g, "share = full\n", "share = full\n"))
        return;
    CHECK(plmm_router_has_consultants(g.r));
    plmm_ask_result res = {.struct_size = sizeof(res)};
    sink s = {0};

    /* the expert answers; pieces are streamed; cost charged 500 tokens * 2/1k */
    plmm_status st = plmm_router_ask(g.r, FIN_Q, collect, &s, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_EXPERT && res.wanted == PLMM_ROUTE_EXPERT);
    CHECK(strcmp(res.expert, "finance") == 0);
    CHECK(g.f.finance_calls == 1 && g.f.tmodel_calls == 0);
    CHECK(strncmp(g.f.last_system, "You are a careful personal-finance", 34) == 0);
    CHECK(strcmp(g.f.last_user, FIN_Q) == 0);
    CHECK(strcmp(s.text, res.answer) == 0 && strcmp(res.answer, "Pay the mortgage. Investing "
                                                                "involves risk.") == 0);
    CHECK(res.cost > 0.99 && res.cost < 1.01 && res.prompt_tokens == 100);
    CHECK(res.n_fallbacks == 0 && strcmp(res.notices, "") == 0);
    CHECK(res.lexical_score >= 2.0f && res.draft_tokens == 0);
    CHECK_CONTAINS(res.explain, "answered by: expert finance");
    CHECK_CONTAINS(res.explain, "mortgage");

    /* the second one spends the rest of its 1.5 budget (1.0 + 1.0 >= 1.5) */
    st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_EXPERT && g.f.finance_calls == 2);
    /* the third: budget exhausted, the T-model answers, nothing sent to finance */
    st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_TMODEL && res.wanted == PLMM_ROUTE_EXPERT);
    CHECK(g.f.finance_calls == 2 && g.f.tmodel_calls == 1);
    CHECK(strcmp(g.f.last_system, "") == 0 && strcmp(g.f.last_user, FIN_Q) == 0);
    CHECK(res.n_fallbacks == 1);
    CHECK_CONTAINS(res.notices, "expert finance unavailable (budget exhausted)");
    CHECK_CONTAINS(res.notices, "falling back to the T-model");
    CHECK_CONTAINS(res.explain, "answered by: T-model");

    /* the T-model goes offline: the P-model answers with a notice */
    g.f.tmodel_down = true;
    memset(&s, 0, sizeof(s));
    st = plmm_router_ask(g.r, FIN_Q, collect, &s, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_LOCAL && res.n_fallbacks == 2 && g.f.tmodel_calls == 2);
    CHECK(strlen(res.answer) > 0 && strcmp(s.text, res.answer) == 0);
    CHECK(res.completion_tokens > 0 && res.completion_tokens <= 6);
    CHECK_CONTAINS(res.notices, "T-model unavailable (tmodel: cannot reach the server)");
    CHECK_CONTAINS(res.notices, "falling back to the local P-model");
    /* and stays offline for this router: not tried again */
    st = plmm_router_ask(g.r, GEN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && g.f.tmodel_calls == 2);

    /* the caller stops the stream */
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    st = plmm_router_ask(g.r, GEN_Q, collect, &s, &res);
    CHECK(st == PLMM_ERR_CANCELLED);

    /* bad input */
    CHECK(plmm_router_ask(g.r, "  \n", NULL, NULL, &res) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "empty");
    plmm_ask_result bad = {.struct_size = 8};
    CHECK(plmm_router_ask(g.r, GEN_Q, NULL, NULL, &bad) == PLMM_ERR_INVALID_ARG);
    plmm_ask_result_clear(&res);
    rig_close(&g);
}

static void test_offline_expert(void)
{
    rig g;
    if (!rig_open(&g, "share = full\n", "share = full\n"))
        return;
    plmm_ask_result res = {.struct_size = sizeof(res)};
    /* the finance check fails the answer: nothing of it is shown, the
     * T-model answers */
    g.f.no_disclaimer = true;
    sink s = {0};
    plmm_status st = plmm_router_ask(g.r, FIN_Q, collect, &s, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_TMODEL && g.f.finance_calls == 1 && g.f.tmodel_calls == 1);
    CHECK_CONTAINS(res.notices, "expert finance unavailable (answer check failed: ");
    CHECK(strcmp(s.text, "Taxes and bread.") == 0 && strcmp(res.answer, s.text) == 0);
    g.f.no_disclaimer = false;

    g.f.finance_down = true;
    st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_TMODEL && g.f.finance_calls == 2 && g.f.tmodel_calls == 2);
    CHECK_CONTAINS(res.notices, "expert finance unavailable (finance: cannot reach the server)");
    plmm_ask_result_clear(&res);
    rig_close(&g);
}

static const char *MAIL_Q =
    "Should I invest in an index fund? Send the answer to anna.berger@example.org";

/* share = none: personal data leaves only as bare "<CATEGORY>" tokens */
static void test_share_none(void)
{
    rig g;
    if (!rig_open(&g, "share = none\n", "share = none\n"))
        return;
    plmm_ask_result res = {.struct_size = sizeof(res)};
    plmm_status st = plmm_router_ask(g.r, MAIL_Q, NULL, NULL, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_EXPERT && g.f.finance_calls == 1);
    CHECK_MSG(strstr(g.f.last_user, "anna") == NULL && strstr(g.f.last_user, "<EMAIL>") != NULL,
              "sent: %s", g.f.last_user);
    CHECK_CONTAINS(res.explain, "share none");
    plmm_ask_result_clear(&res);
    rig_close(&g);
}

/* share = pseudonymized: a placeholder goes out, the answer is restored */
static void test_share_pseudonymized(void)
{
    rig g;
    if (!rig_open(&g, "share = pseudonymized\n", "share = full\n"))
        return;
    plmm_ask_result res = {.struct_size = sizeof(res)};
    sink s = {0};
    plmm_status st = plmm_router_ask(g.r, MAIL_Q, collect, &s, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_EXPERT && g.f.finance_calls == 1);
    CHECK_MSG(strstr(g.f.last_user, "anna") == NULL && strstr(g.f.last_user, "<EMAIL_1>") != NULL,
              "sent: %s", g.f.last_user);
    CHECK_CONTAINS(res.answer, "anna.berger@example.org");
    CHECK(strstr(res.answer, "<EMAIL_1>") == NULL);
    CHECK_CONTAINS(s.text, "anna.berger@example.org");
    plmm_ask_result_clear(&res);
    rig_close(&g);
}

static void test_no_consultants(void)
{
    rig g;
    if (!rig_open(&g, "enabled = false\n", "enabled = false\n"))
        return;
    CHECK(!plmm_router_has_consultants(g.r));
    plmm_ask_result res = {.struct_size = sizeof(res)};
    plmm_status st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_LOCAL && res.wanted == PLMM_ROUTE_LOCAL);
    CHECK(g.f.finance_calls == 0 && g.f.tmodel_calls == 0 && res.n_fallbacks == 0);
    CHECK_CONTAINS(res.explain, "disabled");
    plmm_ask_result_clear(&res);
    rig_close(&g);
}

/* With a [ledger] section: the ledger's budget refuses a consultation
 * that would exceed it (estimate: prompt + the whole answer allowance) and
 * every consultation is recorded. */
static void test_ledger(void)
{
    rig g;
    char dir[128], tm[1024];
    snprintf(dir, sizeof(dir), "/tmp/plmm-test-router-ledger-%ld", (long)getpid());
    snprintf(tm, sizeof(tm),
             "share = full\n[ledger]\npath = %s/usage.ledger\ndevice_key = %s/device.key\n"
             "key_file = %s/ledger.key\nbudgets = finance=1.5\nbudget_period = total\n",
             dir, dir, dir);
    if (!rig_open(&g, "share = full\nmax_tokens = 400\n", tm))
        return;
    plmm_ask_result res = {.struct_size = sizeof(res)};
    plmm_status st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_EXPERT && res.cost > 0.99 && res.cost < 1.01);
    CHECK_MSG(strcmp(res.notices, "") == 0, "%s", res.notices);
    /* 1.0 spent + about (20 + 400) tokens * 2/1k > 1.5: refused by the ledger */
    st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_TMODEL && g.f.finance_calls == 1);
    CHECK_CONTAINS(res.notices, "expert finance unavailable (");
    CHECK_CONTAINS(res.notices, "budget");
    plmm_ask_result_clear(&res);
    rig_close(&g);

    char path[256], dkey[256], kfile[256];
    snprintf(path, sizeof(path), "%s/usage.ledger", dir);
    snprintf(dkey, sizeof(dkey), "%s/device.key", dir);
    snprintf(kfile, sizeof(kfile), "%s/ledger.key", dir);
    uint64_t n = 0;
    plmm_ledger_params lp = {
        .struct_size = sizeof(lp), .path = path, .device_key_path = dkey, .key_path = kfile};
    st = plmm_ledger_verify(&lp, &n);
    CHECK_MSG(st == PLMM_OK && n == 2, "%s: %llu entries", plmm_last_errmsg(),
              (unsigned long long)n);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* A [ledger] keyed by the vault ([ledger] key_source = auto with a
 * [privacy] vault): without the vault's key file the router cannot open
 * it, refuses every metered consultation and falls back visibly; once the
 * vault is handed over the ledger opens with the vault-derived key and
 * meters. With [privacy] key_file the router opens it itself. */
static void test_ledger_vault(void)
{
    rig g;
    char dir[128], tm[2048], vpath[256], kpath[256], lpath[256], dkey[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-test-router-lv-%ld", tmp ? tmp : "/tmp", (long)getpid());
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(vpath, sizeof(vpath), "%s/vault.plmm", dir);
    snprintf(kpath, sizeof(kpath), "%s/vault.key", dir);
    snprintf(lpath, sizeof(lpath), "%s/usage.ledger", dir);
    snprintf(dkey, sizeof(dkey), "%s/device.key", dir);
    CHECK(plmm_vault_keygen(kpath) == PLMM_OK);
    plmm_vault_secret sec = {.struct_size = sizeof(sec), .key_file = kpath};
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(vpath, &sec, &v) == PLMM_OK);
    snprintf(tm, sizeof(tm),
             "share = full\n[privacy]\nvault = %s\naudit_log = %s/audit.log\n[ledger]\n"
             "path = %s\ndevice_key = %s\n",
             vpath, dir, lpath, dkey);
    if (v == NULL || !rig_open(&g, "share = full\nmax_tokens = 400\n", tm)) {
        plmm_vault_close(v);
        return;
    }
    CHECK(plmm_router_wants_vault(g.r));
    plmm_ask_result res = {.struct_size = sizeof(res)};
    plmm_status st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
    CHECK(res.route == PLMM_ROUTE_LOCAL && g.f.finance_calls == 0 && g.f.tmodel_calls == 0);
    CHECK_CONTAINS(res.notices, "the ledger is encrypted with the vault's key");
    plmm_ask_result_clear(&res);
    CHECK(plmm_router_use_vault(g.r, v) == PLMM_OK);
    CHECK(!plmm_router_wants_vault(g.r));
    st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
    CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_EXPERT && res.cost > 0.99);
    plmm_ask_result_clear(&res);
    rig_close(&g);
    uint8_t key[PLMM_LEDGER_KEY_BYTES];
    CHECK(plmm_ledger_vault_key(v, key) == PLMM_OK);
    plmm_vault_close(v);
    plmm_ledger_params lp = {
        .struct_size = sizeof(lp), .path = lpath, .device_key_path = dkey, .key = key};
    uint64_t n = 0;
    st = plmm_ledger_verify(&lp, &n);
    CHECK_MSG(st == PLMM_OK && n == 1, "%s: %llu entries", plmm_last_errmsg(),
              (unsigned long long)n);

    /* [privacy] key_file: the router opens the vault and the ledger itself */
    snprintf(tm, sizeof(tm),
             "share = full\n[privacy]\nvault = %s\nkey_file = %s\naudit_log = %s/audit.log\n"
             "[ledger]\npath = %s\ndevice_key = %s\n",
             vpath, kpath, dir, lpath, dkey);
    if (rig_open(&g, "share = full\nmax_tokens = 400\n", tm)) {
        CHECK(!plmm_router_wants_vault(g.r));
        st = plmm_router_ask(g.r, FIN_Q, NULL, NULL, &res);
        CHECK(st == PLMM_OK && res.route == PLMM_ROUTE_EXPERT && res.cost > 0.99);
        plmm_ask_result_clear(&res);
        rig_close(&g);
        CHECK(plmm_ledger_verify(&lp, &n) == PLMM_OK && n == 2);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* plmm_session_embed: deterministic, text-dependent, and bad input named;
 * with embedding_weight the router fills and explains the similarity. */
static void test_embed(void)
{
    rig g;
    if (!rig_open(&g, "share = full\n", "share = full\n[router]\nembedding_weight = 1\n"))
        return;
    plmm_ask_result res = {.struct_size = sizeof(res)};
    CHECK(plmm_router_decide(g.r, FIN_Q, &res) == PLMM_OK);
    CHECK(res.route == PLMM_ROUTE_EXPERT && res.answer == NULL && g.f.finance_calls == 0);
    CHECK(res.embedding_score > 0.0f && res.embedding_score <= 1.0f);
    CHECK(res.domain_score > res.lexical_score);
    CHECK_CONTAINS(res.explain, "+ 1.00 x embedding");
    CHECK_CONTAINS(res.explain, "would answer: expert finance");
    plmm_ask_result_clear(&res);
    plmm_model_desc md = {.struct_size = sizeof(md)};
    CHECK(plmm_model_describe(g.m, &md) == PLMM_OK);
    plmm_session *s = NULL;
    CHECK(plmm_session_create(g.m, NULL, &s) == PLMM_OK);
    int32_t a[64], b[64];
    size_t na = 0, nb = 0;
    const char *ta = "Once upon a time there was a cat.", *tb = "The index fund lost money.";
    CHECK(plmm_tokenize(g.m, ta, strlen(ta), PLMM_TOKENIZE_ADD_SPECIAL, a, 64, &na) == PLMM_OK);
    CHECK(plmm_tokenize(g.m, tb, strlen(tb), PLMM_TOKENIZE_ADD_SPECIAL, b, 64, &nb) == PLMM_OK);
    float *e1 = calloc(md.n_embd, sizeof(float)), *e2 = calloc(md.n_embd, sizeof(float)),
          *e3 = calloc(md.n_embd, sizeof(float));
    if (s != NULL && e1 != NULL && e2 != NULL && e3 != NULL) {
        CHECK(plmm_session_embed(s, a, na, e1, md.n_embd) == PLMM_OK);
        CHECK(plmm_session_embed(s, a, na, e2, md.n_embd) == PLMM_OK);
        CHECK(plmm_session_embed(s, b, nb, e3, md.n_embd) == PLMM_OK);
        CHECK(memcmp(e1, e2, md.n_embd * sizeof(float)) == 0);
        CHECK(memcmp(e1, e3, md.n_embd * sizeof(float)) != 0);
        CHECK(plmm_session_n_past(s) == 0);
        bool finite = true;
        for (uint32_t i = 0; i < md.n_embd; i++)
            finite = finite && e1[i] == e1[i] && e1[i] < 1e30f && e1[i] > -1e30f;
        CHECK(finite);
        CHECK(plmm_session_embed(s, a, na, e1, md.n_embd - 1) == PLMM_ERR_INVALID_ARG);
        CHECK_CONTAINS(plmm_last_errmsg(), "embedding has");
        CHECK(plmm_session_embed(s, a, 0, e1, md.n_embd) == PLMM_ERR_INVALID_ARG);
        int32_t bad = (int32_t)md.n_vocab;
        CHECK(plmm_session_embed(s, &bad, 1, e1, md.n_embd) == PLMM_ERR_RANGE);
        CHECK_CONTAINS(plmm_last_errmsg(), "outside the vocabulary");
    }
    free(e1);
    free(e2);
    free(e3);
    plmm_session_free(s);
    rig_close(&g);
}

int main(void)
{
    test_decide();
    test_params();
    test_chain();
    test_offline_expert();
    test_share_none();
    test_share_pseudonymized();
    test_no_consultants();
    test_ledger();
    test_ledger_vault();
    test_embed();
    return test_summary("test-router");
}
