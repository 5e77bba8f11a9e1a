/*
 * The finance expert consulted the way the router does, under the privacy
 * layer, from an INI file: [expert.finance] (openai connector to the
 * loopback expert of tests/privacy/echo_expert.py, share = pseudonymized)
 * and [privacy] (vault, audit_log). The question holds the user's name,
 * e-mail address and IBAN; the expert receives placeholders only, the user
 * sees the answer with the values back, the expert's answer check runs
 * locally on it, and the audit log verifies.
 */
#include "../unit/test.h"
#include "connector.h"
#include "engine_impl.h"
#include "expert_host.h"
#include "privacy_consult.h"

#include <dirent.h>
#include <unistd.h>

static char *slurp_dir(const char *dir)
{
    char *all = calloc(1, 1);
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "request-", 8) != 0)
            continue;
        char p[1024], buf[16384];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "rb");
        if (f == NULL)
            continue;
        size_t got = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        all = realloc(all, n + got + 1);
        memcpy(all + n, buf, got);
        n += got;
        all[n] = '\0';
    }
    if (d != NULL)
        closedir(d);
    return all;
}

int main(void)
{
    const char *url = getenv("PLMM_EXPERT_URL"), *cap = getenv("PLMM_CAPTURE_DIR");
    if (url == NULL || cap == NULL)
        TEST_SKIP("run through tests/privacy/echo_expert.py (PLMM_EXPERT_URL unset)");
    char dir[256], ini[300], vpath[300], log[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-expert-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(ini, sizeof(ini), "%s/plmm.ini", dir);
    snprintf(vpath, sizeof(vpath), "%s/vault.plmm", dir);
    snprintf(log, sizeof(log), "%s/audit.log", dir);
    FILE *f = fopen(ini, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return test_summary("test-privacy-expert");
    fprintf(f,
            "[expert.finance]\nconnector = openai\nendpoint = %s\nshare = pseudonymized\n"
            "max_tokens = 64\ntimeout = 20\nconnect_timeout = 2\nmax_retries = 0\n"
            "[privacy]\nvault = %s\naudit_log = %s\n",
            url, vpath, log);
    fclose(f);

    /* the user's vault */
    plmm_vault_secret sec = {sizeof(sec), PLMM_VAULT_KDF_TEST, "pw", 2, NULL};
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(vpath, &sec, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna Berger") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_EMAIL, "email", "anna.berger@example.org") ==
          PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_IBAN, "iban", "AT61 1904 3002 3457 3201") ==
          PLMM_OK);
    plmm_vault_close(v);
    v = NULL;

    /* engine, expert and connector from the INI; vault and audit log from [privacy] */
    plmm_engine_params ep = {.struct_size = sizeof(ep), .config_path = ini, .log_level = -1};
    plmm_engine *e = NULL;
    plmm_expert_inst *inst = NULL;
    plmm_connector *conn = NULL;
    plmm_connector_config cc;
    plmm_privacy *p = NULL;
    plmm_audit *audit = NULL;
    const char *cfg_vault = NULL, *cfg_log = NULL;
    plmm_status st = plmm_engine_open(&ep, &e);
    if (st == PLMM_OK)
        st = plmm_expert_inst_create(e->reg, e->cfg, "finance", &inst);
    if (st == PLMM_OK)
        st = plmm_expert_inst_connector_config(inst, &cc);
    if (st == PLMM_OK)
        st = plmm_connector_open(e, &cc, &conn);
    if (st == PLMM_OK)
        st = plmm_engine_config_get(e, "privacy.vault", &cfg_vault);
    if (st == PLMM_OK)
        st = plmm_engine_config_get(e, "privacy.audit_log", &cfg_log);
    if (st == PLMM_OK)
        st = plmm_vault_open(cfg_vault, &sec, 0, &v);
    if (st == PLMM_OK)
        st = plmm_privacy_create(&p);
    if (st == PLMM_OK)
        st = plmm_privacy_add_vault(p, v);
    if (st == PLMM_OK)
        st = plmm_audit_open(cfg_log, &audit);
    CHECK_MSG(st == PLMM_OK, "setup: %s", plmm_last_errmsg());
    if (st != PLMM_OK)
        return test_summary("test-privacy-expert");
    const plmm_expert_settings *set = plmm_expert_inst_settings(inst);
    CHECK(set->share == PLMM_SHARE_PSEUDONYMIZED);

    const char *question = "I am Anna Berger (anna.berger@example.org). Should I move the "
                           "savings on AT61 1904 3002 3457 3201 into an index fund?";
    const plmm_expert_desc *d = plmm_expert_inst_desc(inst);
    plmm_connector_msg msgs[2] = {{"system", d->system_prompt}, {"user", question}};
    privacy_consult pc = {conn, p, audit, set->share, false, set->max_tokens, 0.0f, NULL, NULL};
    privacy_consult_result res;
    st = privacy_consult_chat(&pc, msgs, 2, &res);
    CHECK_MSG(st == PLMM_OK, "consult: %s", plmm_last_errmsg());
    printf("expert wrote: %s\nuser sees:    %s\n", res.raw.text ? res.raw.text : "(none)",
           res.answer ? res.answer : "(none)");
    CHECK_CONTAINS(res.answer, "Anna Berger (anna.berger@example.org)");
    CHECK_CONTAINS(res.answer, "AT61 1904 3002 3457 3201");
    plmm_check_result check;
    CHECK(res.answer != NULL &&
          plmm_expert_inst_check(inst, question, res.answer, &check) == PLMM_OK);
    privacy_consult_result_clear(&res);

    char *seen = slurp_dir(cap);
    CHECK_CONTAINS(seen, "<PERSON_1>");
    const char *const personal[] = {"Anna", "Berger", "anna.berger", "AT61", "1904 3002"};
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        CHECK_MSG(strstr(seen, personal[i]) == NULL, "the expert received '%s'", personal[i]);
    free(seen);

    plmm_audit_close(audit);
    plmm_audit_report r = {.struct_size = sizeof(r)};
    CHECK(plmm_audit_verify(log, NULL, &r) == PLMM_OK && r.ok && r.n_entries == 1);

    plmm_privacy_destroy(p);
    plmm_vault_close(v);
    plmm_connector_close(conn);
    plmm_expert_inst_destroy(inst);
    plmm_engine_close(e);
    const char *const files[] = {"plmm.ini", "vault.plmm", "vault.plmm.lock", "audit.log",
                                 "audit.log.head"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_summary("test-privacy-expert");
}
