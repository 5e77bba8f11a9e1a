/*
 * End to end: a question holding the user's name, e-mail address and IBAN
 * goes through the privacy layer (privacy_consult_chat, what the router
 * calls) and the openai connector to a loopback expert (tests/privacy/echo_expert.py, which records
 * every request body and quotes the question back in 3-character SSE pieces).
 *
 * Checked: the bytes the server received hold none of the personal values
 * (only placeholders); the streamed answer shown to the user has them
 * restored; a request that still holds a personal value is refused before
 * anything is sent; share = none sends no restorable placeholder; the
 * audit log records every attempt and verifies.
 */
#include "../unit/test.h"
#include "connector.h"
#include "plmm/audit.h"
#include "plmm/privacy.h"
#include "plmm/vault.h"
#include "privacy_consult.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

static const char *const personal[] = {
    "Anna", "Berger", "anna.berger@example.org", "AT61", "1904 3002", "19043002",
};

typedef struct answer {
    char text[4096];
    size_t len;
    int pieces;
    bool failed;
} answer;

/* The restored pieces, as a chat front end would print them. */
static bool shown(void *user, const char *piece, size_t len)
{
    answer *a = user;
    a->pieces++;
    if (a->len + len >= sizeof(a->text)) {
        a->failed = true;
        return false;
    }
    memcpy(a->text + a->len, piece, len);
    a->len += len;
    a->text[a->len] = '\0';
    return true;
}

/* All captured request bodies, concatenated; *count receives how many.
 * The capture is a directory of request-N.json files (echo_expert.py) or
 * the JSON-lines request log of plmm serve (one line per request). */
static char *captured(const char *where, int *count)
{
    char *all = calloc(1, 1);
    size_t n = 0;
    *count = 0;
    FILE *lf = fopen(where, "r");
    DIR *d = opendir(where);
    if (lf != NULL && d == NULL) {
        char line[16384];
        while (fgets(line, sizeof(line), lf) != NULL) {
            if (strstr(line, "chat/completions") == NULL)
                continue;
            size_t got = strlen(line);
            all = realloc(all, n + got + 1);
            memcpy(all + n, line, got + 1);
            n += got;
            (*count)++;
        }
        fclose(lf);
        return all;
    }
    if (lf != NULL)
        fclose(lf);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "request-", 8) != 0)
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", where, de->d_name);
        FILE *f = fopen(p, "rb");
        if (f == NULL)
            continue;
        char buf[8192];
        size_t got = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        all = realloc(all, n + got + 1);
        memcpy(all + n, buf, got);
        n += got;
        all[n] = '\0';
        (*count)++;
    }
    if (d != NULL)
        closedir(d);
    return all;
}

/* captured(), waiting up to 3 s for at least `want` requests: a server
 * may write its log line just after the answer went out. */
static char *captured_wait(const char *where, int want, int *count)
{
    for (int i = 0;; i++) {
        char *all = captured(where, count);
        if (*count >= want || i == 60)
            return all;
        free(all);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int main(void)
{
    const char *url = getenv("PLMM_EXPERT_URL"), *cap = getenv("PLMM_CAPTURE_DIR");
    /* echo: the loopback expert quotes the question back, so the restored
     * answer must show the values; a real model (plmm serve) answers freely */
    bool echo = getenv("PLMM_EXPERT_IS_MODEL") == NULL;
    if (url == NULL || cap == NULL)
        TEST_SKIP("run through tests/privacy/echo_expert.py or run-with-serve.sh "
                  "(PLMM_EXPERT_URL unset)");
    char dir[256], vpath[300], log[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/plmm-e2e-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(vpath, sizeof(vpath), "%s/vault.plmm", dir);
    snprintf(log, sizeof(log), "%s/audit.log", dir);

    /* the user's vault */
    plmm_vault_secret sec = {sizeof(sec), PLMM_VAULT_KDF_TEST, "pw", 2, NULL};
    plmm_vault *v = NULL;
    CHECK(plmm_vault_create(vpath, &sec, &v) == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_PERSON, "name", "Anna Berger") == PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_EMAIL, "email", "anna.berger@example.org") ==
          PLMM_OK);
    CHECK(plmm_vault_set(v, PLMM_VAULT_FACT, PLMM_PII_IBAN, "iban", "AT61 1904 3002 3457 3201") ==
          PLMM_OK);

    plmm_privacy *p = NULL;
    plmm_audit *audit = NULL;
    plmm_connector *conn = NULL;
    CHECK(plmm_privacy_create(&p) == PLMM_OK);
    CHECK(plmm_privacy_add_vault(p, v) == PLMM_OK);
    CHECK(plmm_audit_open(log, &audit) == PLMM_OK);
    plmm_connector_config cfg = {
        .kind = PLMM_CONNECTOR_OPENAI,
        .name = "expert.finance",
        .endpoint = url,
        .model = "echo",
        .connect_timeout_s = 5,
        .timeout_s = 30,
        .max_retries = 0,
        .stream = true,
    };
    CHECK_MSG(plmm_connector_open(NULL, &cfg, &conn) == PLMM_OK, "%s", plmm_last_errmsg());
    if (conn == NULL)
        return test_summary("test-privacy-e2e");

    /* 1. the question to the expert through the privacy layer; the answer
     * streamed back and restored */
    const char *question = "Hi, I am Anna Berger (anna.berger@example.org). Is my account "
                           "AT61 1904 3002 3457 3201 eligible for the new savings plan?";
    static answer a; /* what the user is shown, piece by piece */
    privacy_consult pc = {conn, p, audit, PLMM_SHARE_PSEUDONYMIZED, false, 64, -1, shown, &a};
    plmm_connector_msg msgs[2] = {{"system", "You are a finance expert."}, {"user", question}};
    privacy_consult_result res;
    plmm_status st = privacy_consult_chat(&pc, msgs, 2, &res);
    CHECK_MSG(st == PLMM_OK, "consult: %s", plmm_last_errmsg());
    plmm_pii_counts counts = res.counts;
    CHECK(counts.n[PLMM_PII_PERSON] == 1 && counts.n[PLMM_PII_EMAIL] == 1 &&
          counts.n[PLMM_PII_IBAN] == 1);
    CHECK(!a.failed && a.pieces > (echo ? 10 : 0));
    printf("expert wrote: %s\nuser sees:    %s\n", res.raw.text != NULL ? res.raw.text : "(none)",
           a.text);
    CHECK(res.answer != NULL && strcmp(res.answer, a.text) == 0);
    if (echo) {
        CHECK_CONTAINS(a.text, "Anna Berger");
        CHECK_CONTAINS(a.text, "anna.berger@example.org");
        CHECK_CONTAINS(a.text, "AT61 1904 3002 3457 3201");
        CHECK(strstr(a.text, "<PERSON_1>") == NULL && strstr(a.text, "<IBAN_1>") == NULL);
        CHECK_CONTAINS(res.raw.text, "<PERSON_1>");
    }
    privacy_consult_result_clear(&res);

    int n_req = 0;
    char *seen = captured_wait(cap, 1, &n_req);
    CHECK_MSG(n_req == 1, "%d requests captured", n_req);
    CHECK_CONTAINS(seen, "PERSON_1");
    CHECK_CONTAINS(seen, "EMAIL_1");
    CHECK_CONTAINS(seen, "IBAN_1");
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        CHECK_MSG(strstr(seen, personal[i]) == NULL, "the expert received '%s'", personal[i]);
    free(seen);

    /* 2. a request that still holds personal data is refused before sending */
    plmm_privacy_guard guard = {sizeof(guard), PLMM_SHARE_PSEUDONYMIZED, p, audit, counts};
    plmm_connector_msg leak[1] = {{"user", "Tell B\\u0065rger's bank: ANNA BERGER"}};
    plmm_connector_request req2 = {leak, 1, 16, -1, plmm_privacy_before_send, NULL, &guard};
    plmm_connector_result raw;
    memset(&raw, 0, sizeof(raw));
    st = plmm_connector_chat(conn, &req2, &raw);
    CHECK_MSG(st == PLMM_ERR_DENIED, "a leaking request was not refused: %d", st);
    CHECK(strstr(plmm_last_errmsg(), "ANNA") == NULL);
    plmm_connector_result_clear(&raw);
    seen = captured(cap, &n_req);
    CHECK_MSG(n_req == 1, "the refused request reached the server");
    free(seen);

    /* the same without streaming: the whole answer is restored at once */
    plmm_connector *plain = NULL;
    cfg.stream = false;
    CHECK(plmm_connector_open(NULL, &cfg, &plain) == PLMM_OK);
    privacy_consult pc2 = pc;
    pc2.connector = plain;
    pc2.on_piece = NULL;
    if (plain != NULL) {
        CHECK(privacy_consult_chat(&pc2, msgs, 2, &res) == PLMM_OK);
        CHECK(res.answer != NULL &&
              (!echo || strstr(res.answer, "Anna Berger (anna.berger@example.org)")));
        privacy_consult_result_clear(&res);
        plmm_connector_close(plain);
    }

    /* 3. share = none: only bare category tokens leave */
    pc.share = PLMM_SHARE_NONE;
    pc.on_piece = NULL;
    CHECK(privacy_consult_chat(&pc, msgs, 2, &res) == PLMM_OK);
    CHECK(res.counts.n[PLMM_PII_PERSON] == 1);
    privacy_consult_result_clear(&res);
    /* share = full without the opt-in: refused, nothing sent */
    pc.share = PLMM_SHARE_FULL;
    CHECK(privacy_consult_chat(&pc, msgs, 2, &res) == PLMM_ERR_DENIED);
    privacy_consult_result_clear(&res);
    seen = captured_wait(cap, 3, &n_req);
    CHECK(n_req == 3);
    CHECK_CONTAINS(seen, "PERSON>");
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        CHECK_MSG(strstr(seen, personal[i]) == NULL, "the expert received '%s'", personal[i]);
    free(seen);

    /* 4. the audit log: four attempts (sent, refused, sent, sent), verified */
    plmm_connector_close(conn);
    plmm_audit_close(audit);
    plmm_audit_report r = {.struct_size = sizeof(r)};
    CHECK(plmm_audit_verify(log, NULL, &r) == PLMM_OK);
    CHECK_MSG(r.ok && r.n_entries == 4, "audit: ok=%u n=%llu %s", r.ok,
              (unsigned long long)r.n_entries, r.message);
    FILE *f = fopen(log, "r");
    char buf[4096] = "";
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = '\0';
    if (f != NULL)
        fclose(f);
    CHECK_CONTAINS(buf, "PERSON=1,EMAIL=1,IBAN=1\tsent");
    CHECK_CONTAINS(buf, "\trefused\t");
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        CHECK_MSG(strstr(buf, personal[i]) == NULL, "the audit log holds '%s'", personal[i]);

    plmm_privacy_destroy(p);
    plmm_vault_close(v);
    char path[400];
    const char *const files[] = {"vault.plmm", "vault.plmm.lock", "audit.log", "audit.log.head"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_summary("test-privacy-e2e");
}
