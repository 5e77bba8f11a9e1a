/*
 * Budgets end to end with a loopback expert server: an OpenAI-compatible
 * server on 127.0.0.1 (libmicrohttpd) that signs a usage receipt for each
 * answer, as plmm serve does with plmm_receipt_server_hook(); the openai
 * connector consults it while the ledger's budget allows, and the ledger
 * records the receipts' signed token counts. A server that reports more
 * tokens in "usage" than it signed is charged what it signed.
 */
#include "connector.h"
#include "plmm/ledger.h"
#include "plmm/update.h"
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct expert_server {
    plmm_receipt_signer *signer;
    int requests;
} expert_server;

typedef struct upload {
    size_t len;
} upload;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    expert_server *srv = cls;
    (void)version;
    (void)data;
    if (*con_cls == NULL) {
        upload *u = calloc(1, sizeof(*u));
        if (u == NULL)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    upload *u = *con_cls;
    if (*data_size > 0) {
        u->len += *data_size;
        *data_size = 0;
        return MHD_YES;
    }
    free(u);
    *con_cls = NULL;
    char body[4096], id[32];
    int status = 200;
    if (strcmp(method, "POST") != 0 || strstr(url, "/chat/completions") == NULL) {
        snprintf(body, sizeof(body), "{\"error\":{\"message\":\"no such route\"}}");
        status = 404;
    } else {
        snprintf(id, sizeof(id), "chatcmpl-%d", ++srv->requests);
        /* signs 20 + 10 tokens, reports 500 + 500 in "usage" */
        char *receipt = plmm_receipt_server_hook(srv->signer, id, "fin-e-1", 20, 10);
        snprintf(body, sizeof(body),
                 "{\"id\":\"%s\",\"object\":\"chat.completion\",\"model\":\"fin-e-1\","
                 "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                 "\"Diversify.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":500,"
                 "\"completion_tokens\":500,\"total_tokens\":1000},\"plmm_receipt\":%s}",
                 id, receipt ? receipt : "null");
        free(receipt);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
    char base[512], skey[PATH_MAX], spub[PATH_MAX], ledger[PATH_MAX], dev[PATH_MAX], lkey[PATH_MAX],
        endpoint[128];
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/plmm-test-budget-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(base) == NULL)
        return 1;
    snprintf(skey, sizeof(skey), "%s/server.key", base);
    snprintf(spub, sizeof(spub), "%s/server.pub", base);
    snprintf(ledger, sizeof(ledger), "%s/usage.ledger", base);
    snprintf(dev, sizeof(dev), "%s/device.key", base);
    snprintf(lkey, sizeof(lkey), "%s/ledger.key", base);

    expert_server srv = {NULL, 0};
    CHECK(plmm_sign_keygen(skey, spub, NULL) == PLMM_OK);
    CHECK(plmm_receipt_signer_open(skey, "fin-server", &srv.signer) == PLMM_OK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, &srv,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    CHECK(d != NULL);
    if (d == NULL)
        return test_summary("test-budget-loopback");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u/v1", (unsigned)info->port);

    plmm_connector_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.kind = PLMM_CONNECTOR_OPENAI;
    cc.name = "expert.finance";
    cc.endpoint = endpoint;
    cc.model = "";
    cc.connect_timeout_s = 5;
    cc.timeout_s = 20;
    plmm_connector *conn = NULL;
    CHECK_MSG(plmm_connector_open(NULL, &cc, &conn) == PLMM_OK, "%s", plmm_last_errmsg());

    plmm_ledger_params lp;
    memset(&lp, 0, sizeof(lp));
    lp.struct_size = sizeof(lp);
    lp.path = ledger;
    lp.device_key_path = dev;
    lp.key_path = lkey;
    plmm_ledger *l = NULL;
    CHECK(plmm_ledger_open(&lp, &l) == PLMM_OK);
    plmm_ledger_rates rates;
    memset(&rates, 0, sizeof(rates));
    rates.struct_size = sizeof(rates);
    rates.counterparty = "finance-dev";
    rates.currency = "EUR";
    rates.in_per_1k = 100000;  /* 0.10 */
    rates.out_per_1k = 200000; /* 0.20 */
    if (l != NULL && conn != NULL) {
        CHECK(plmm_ledger_set_rates(l, "finance", &rates) == PLMM_OK);
        /* each answer costs 20 * 0.0001 + 10 * 0.0002 = 0.004 (signed counts) */
        CHECK(plmm_ledger_set_budget(l, "finance", 10000, PLMM_LEDGER_PERIOD_MONTH) == PLMM_OK);
        int consulted = 0, fell_back = 0;
        for (int i = 0; i < 6; i++) {
            int64_t estimate = 0;
            CHECK(plmm_ledger_price(l, "finance", 20, 10, &estimate) == PLMM_OK);
            if (plmm_ledger_budget_check(l, "finance", estimate, NULL) != PLMM_OK) {
                CHECK_CONTAINS(plmm_last_errmsg(), "budget of expert 'finance'");
                fell_back++; /* the router answers with the P-model instead */
                continue;
            }
            plmm_connector_msg msg = {"user", "How should I invest 1000 EUR?"};
            plmm_connector_request req;
            plmm_connector_result res;
            memset(&req, 0, sizeof(req));
            memset(&res, 0, sizeof(res));
            req.msgs = &msg;
            req.n_msgs = 1;
            req.temperature = -1;
            plmm_status st = plmm_connector_chat(conn, &req, &res);
            CHECK_MSG(st == PLMM_OK, "%s", plmm_last_errmsg());
            if (st != PLMM_OK)
                break;
            CHECK(res.receipt_json != NULL);
            plmm_ledger_usage u;
            memset(&u, 0, sizeof(u));
            u.struct_size = sizeof(u);
            u.expert = "finance";
            u.connector = "openai";
            u.tokens_in = res.prompt_tokens;
            u.tokens_out = res.completion_tokens;
            u.receipt_json = res.receipt_json;
            u.receipt_key_path = spub;
            int64_t cost = 0;
            CHECK_MSG(plmm_ledger_record_usage(l, &u, &cost) == PLMM_OK, "%s", plmm_last_errmsg());
            CHECK(cost == 4000); /* the signed 20 + 10, not the reported 500 + 500 */
            plmm_connector_result_clear(&res);
            consulted++;
        }
        /* 0.004 + 0.004 = 0.008; a third would reach 0.012 > 0.01 */
        CHECK_MSG(consulted == 2 && fell_back == 4, "consulted %d, fell back %d", consulted,
                  fell_back);
        CHECK(srv.requests == 2);
        char *text = NULL;
        CHECK(plmm_ledger_show(l, &text) == PLMM_OK);
        CHECK_CONTAINS(text, "20 in / 10 out via openai fin-e-1, receipt signed");
        plmm_free(text);
    }
    plmm_ledger_close(l);
    plmm_connector_close(conn);
    MHD_stop_daemon(d);
    plmm_receipt_signer_close(srv.signer);
    if (test_failures == 0)
        nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary("test-budget-loopback");
}
