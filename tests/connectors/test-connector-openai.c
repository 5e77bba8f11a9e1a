/* The openai connector against tests/connectors/mock_openai.py, which runs
 * this program with PLMM_MOCK_URL (a live mock) and PLMM_MOCK_DEAD_URL (a
 * port nothing listens on). Each scenario is a path prefix of the mock. */
#include "../unit/test.h"
#include "connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *mock_url;

typedef struct sink {
    char text[4096];
    size_t len;
    int pieces;
    int cancel_after; /* > 0: refuse the piece after this many */
    char sent_url[512];
    char *sent_body; /* copy of what before_send saw */
    size_t sent_len;
    int sends;
    plmm_status refuse; /* returned by before_send */
} sink;

static bool on_piece(void *user, const char *piece, size_t len)
{
    sink *s = user;
    s->pieces++;
    if (s->len + len < sizeof(s->text)) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return !(s->cancel_after > 0 && s->pieces >= s->cancel_after);
}

static plmm_status before_send(void *user, const char *url, const char *body, size_t len)
{
    sink *s = user;
    s->sends++;
    snprintf(s->sent_url, sizeof(s->sent_url), "%s", url);
    free(s->sent_body);
    s->sent_body = malloc(len + 1);
    if (s->sent_body != NULL) {
        memcpy(s->sent_body, body, len);
        s->sent_body[len] = '\0';
        s->sent_len = len;
    }
    return s->refuse;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static plmm_connector_config config(const char *scenario, bool stream)
{
    static char endpoint[64][256];
    static int slot;
    char *ep = endpoint[slot++ % 64];
    snprintf(ep, 256, "%s/%s/v1/", mock_url, scenario);
    plmm_connector_config c = {
        .kind = PLMM_CONNECTOR_OPENAI,
        .name = "expert.test",
        .endpoint = ep,
        .model = "mock-b",
        .connect_timeout_s = 2,
        .timeout_s = 10,
        .max_retries = 2,
        .stream = stream,
    };
    return c;
}

/* Run one chat; returns its status, result in *res (caller clears). */
static plmm_status chat(const plmm_connector_config *cfg, sink *s, plmm_connector_result *res)
{
    plmm_connector *c = NULL;
    plmm_status st = plmm_connector_open(NULL, cfg, &c);
    if (st != PLMM_OK) {
        fprintf(stderr, "open failed: %s\n", plmm_last_errmsg());
        return st;
    }
    const plmm_connector_msg msgs[] = {
        {"system", "You are terse."},
        {"user", "Say \"hi\" — in UTF-8: é ü"},
    };
    plmm_connector_request req = {
        .msgs = msgs,
        .n_msgs = 2,
        .max_tokens = 16,
        .temperature = 0.0f,
        .before_send = before_send,
        .on_piece = on_piece,
        .user = s,
    };
    st = plmm_connector_chat(c, &req, res);
    if (st != PLMM_OK)
        fprintf(stderr, "  (%s: %s)\n", cfg->endpoint, plmm_last_errmsg());
    plmm_connector_close(c);
    return st;
}

static void test_nonstream(void)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("ok", false);
    CHECK(chat(&cfg, &s, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "Hello from mock") == 0);
    CHECK(strcmp(s.text, "Hello from mock") == 0 && s.pieces == 1);
    CHECK(r.prompt_tokens == 5 && r.completion_tokens == 3 && r.usage_from_server);
    CHECK(strcmp(r.finish_reason, "stop") == 0);
    CHECK(r.http_status == 200 && r.attempts == 1);
    CHECK(r.receipt_json != NULL && strstr(r.receipt_json, "\"sig\":\"abc\"") != NULL);
    CHECK(s.sends == 1);
    CHECK_CONTAINS(s.sent_url, "/ok/v1/chat/completions");
    CHECK(strstr(s.sent_url, "v1//") == NULL); /* trailing '/' of the endpoint dropped */
    plmm_connector_result_clear(&r);
    CHECK(r.text == NULL && r.prompt_tokens == -1);
    free(s.sent_body);
}

static void test_stream(const char *scenario)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config(scenario, true);
    CHECK(chat(&cfg, &s, &r) == PLMM_OK);
    CHECK_MSG(r.text != NULL && strcmp(r.text, "Hello world") == 0, "%s: '%s'", scenario,
              r.text ? r.text : "(null)");
    CHECK(strcmp(s.text, "Hello world") == 0 && s.pieces == 3);
    CHECK(r.prompt_tokens == 7 && r.completion_tokens == 3 && r.usage_from_server);
    CHECK(strcmp(r.finish_reason, "stop") == 0);
    CHECK(r.receipt_json != NULL && strcmp(r.receipt_json, "{\"completion_tokens\":3}") == 0);
    /* streaming requests ask for usage in the final chunk */
    CHECK_CONTAINS(s.sent_body, "\"stream\":true");
    CHECK_CONTAINS(s.sent_body, "\"include_usage\":true");
    plmm_connector_result_clear(&r);
    free(s.sent_body);
}

static void test_stream_variants(void)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("stream_multiline", true);
    CHECK(chat(&cfg, &s, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "multi") == 0);
    CHECK(r.prompt_tokens == -1 && !r.usage_from_server);
    plmm_connector_result_clear(&r);

    sink s2 = {0};
    cfg = config("stream_json", true);
    CHECK(chat(&cfg, &s2, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "whole answer") == 0);
    CHECK(strcmp(s2.text, "whole answer") == 0);
    plmm_connector_result_clear(&r);
    free(s.sent_body);
    free(s2.sent_body);
}

static void expect_error(const char *scenario, bool stream, int retries, plmm_status want,
                         const char *msg1, const char *msg2, int attempts)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config(scenario, stream);
    cfg.max_retries = retries;
    plmm_status st = chat(&cfg, &s, &r);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d", scenario, st, plmm_status_str(st), want);
    CHECK_CONTAINS(plmm_last_errmsg(), msg1);
    if (msg2 != NULL)
        CHECK_CONTAINS(plmm_last_errmsg(), msg2);
    CHECK_CONTAINS(plmm_last_errmsg(), "expert.test");
    CHECK(r.text == NULL);
    if (attempts > 0)
        CHECK_MSG(r.attempts == attempts, "%s: %d attempts, want %d", scenario, r.attempts,
                  attempts);
    plmm_connector_result_clear(&r);
    free(s.sent_body);
}

static void test_errors(void)
{
    expect_error("err500", false, 2, PLMM_ERR_NETWORK, "HTTP 500", "model overloaded", 3);
    expect_error("err500", false, 2, PLMM_ERR_NETWORK, "after 3 attempts", NULL, 3);
    expect_error("html502", false, 0, PLMM_ERR_NETWORK, "HTTP 502", "502 Bad Gateway nginx", 1);
    expect_error("html502", false, 0, PLMM_ERR_NETWORK, "non-JSON body", NULL, 1);
    expect_error("unauthorized", false, 3, PLMM_ERR_AUTH, "HTTP 401", "Incorrect API key provided",
                 1);
    expect_error("ollama400", false, 3, PLMM_ERR_INVALID_ARG, "HTTP 400", "try pulling it", 1);
    expect_error("badjson", false, 2, PLMM_ERR_NETWORK, "malformed JSON", NULL, 1);
    expect_error("nochoices", false, 0, PLMM_ERR_NETWORK, "no choices", NULL, 1);
    expect_error("stream_error", true, 2, PLMM_ERR_NETWORK, "mid-stream", "context length exceeded",
                 1);
    expect_error("stream_error_field", true, 2, PLMM_ERR_NETWORK, "mid-stream", "kv cache full", 1);
    expect_error("stream_trunc", true, 2, PLMM_ERR_NETWORK, "ended before [DONE]",
                 "last event cut off", 1);
    expect_error("stream_abort", true, 2, PLMM_ERR_NETWORK, "broke in the middle",
                 "4 answer bytes", 1);
    expect_error("stream_badjson", true, 2, PLMM_ERR_NETWORK, "malformed JSON in stream event",
                 NULL, 1);
    expect_error("nosuch", false, 2, PLMM_ERR_NOT_FOUND, "HTTP 404", "unknown scenario", 1);
}

static void test_retry_after(void)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("retry429", false);
    double t0 = now_s();
    CHECK(chat(&cfg, &s, &r) == PLMM_OK);
    double dt = now_s() - t0;
    CHECK(r.text != NULL && strcmp(r.text, "after retry") == 0);
    CHECK(r.attempts == 2);
    CHECK_MSG(dt >= 0.95 && dt < 5.0, "Retry-After: 1 waited %.2f s", dt);
    CHECK(s.sends == 1); /* the approved bytes are resent, not re-approved */
    plmm_connector_result_clear(&r);
    free(s.sent_body);
}

static void test_timeouts(void)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("slow", false);
    cfg.timeout_s = 1.0;
    double t0 = now_s();
    CHECK(chat(&cfg, &s, &r) == PLMM_ERR_TIMEOUT);
    double dt = now_s() - t0;
    CHECK_CONTAINS(plmm_last_errmsg(), "within");
    CHECK_MSG(dt < 2.5, "timeout of 1 s took %.2f s", dt);
    plmm_connector_result_clear(&r);

    sink s2 = {0};
    cfg = config("stream_stall", true);
    cfg.read_timeout_s = 1.0;
    t0 = now_s();
    CHECK(chat(&cfg, &s2, &r) == PLMM_ERR_TIMEOUT);
    dt = now_s() - t0;
    CHECK_CONTAINS(plmm_last_errmsg(), "read timeout");
    CHECK(strcmp(s2.text, "first") == 0); /* the piece before the stall was passed on */
    CHECK_MSG(dt < 3.5, "read timeout of 1 s took %.2f s", dt);
    plmm_connector_result_clear(&r);
    free(s.sent_body);
    free(s2.sent_body);
}

static void test_refused(void)
{
    const char *dead = getenv("PLMM_MOCK_DEAD_URL");
    char ep[256];
    snprintf(ep, sizeof(ep), "%s/v1", dead);
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("ok", false);
    cfg.endpoint = ep;
    cfg.max_retries = 1;
    CHECK(chat(&cfg, &s, &r) == PLMM_ERR_NETWORK);
    CHECK_CONTAINS(plmm_last_errmsg(), "cannot reach");
    CHECK_CONTAINS(plmm_last_errmsg(), "after 2 attempts");
    CHECK(r.attempts == 2);
    plmm_connector_result_clear(&r);
    free(s.sent_body);
}

static void test_auth_and_body(void)
{
    sink s = {0};
    plmm_connector_result r;
    plmm_connector_config cfg = config("auth", false);
    cfg.api_key = "sk-test-123";
    CHECK(chat(&cfg, &s, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "Bearer sk-test-123") == 0);
    CHECK(strstr(s.sent_body, "sk-test") == NULL); /* the key is a header, not in the body */
    plmm_connector_result_clear(&r);
    free(s.sent_body);

    sink s2 = {0};
    cfg = config("auth", false);
    CHECK(chat(&cfg, &s2, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "<none>") == 0);
    plmm_connector_result_clear(&r);
    free(s2.sent_body);

    /* the server received exactly the bytes before_send saw */
    sink s3 = {0};
    cfg = config("echo", false);
    CHECK(chat(&cfg, &s3, &r) == PLMM_OK);
    CHECK(r.text != NULL && s3.sent_body != NULL && strcmp(r.text, s3.sent_body) == 0);
    CHECK(s3.sent_len == strlen(s3.sent_body));
    CHECK_CONTAINS(s3.sent_body, "\"model\":\"mock-b\"");
    CHECK_CONTAINS(s3.sent_body, "\"max_tokens\":16");
    CHECK_CONTAINS(s3.sent_body, "\"role\":\"system\"");
    CHECK_CONTAINS(s3.sent_body, "Say \\\"hi\\\"");
    CHECK(strstr(s3.sent_body, "stream_options") == NULL);
    plmm_connector_result_clear(&r);
    free(s3.sent_body);
}

static void test_refuse_and_cancel(void)
{
    sink s = {.refuse = PLMM_ERR_DENIED};
    plmm_connector_result r;
    plmm_connector_config cfg = config("refuse", false);
    CHECK(chat(&cfg, &s, &r) == PLMM_ERR_DENIED);
    CHECK_CONTAINS(plmm_last_errmsg(), "refused before sending");
    CHECK(s.sends == 1);
    plmm_connector_result_clear(&r);
    free(s.sent_body);
    /* nothing reached the server: its model list reports the hit count */
    plmm_connector *c = NULL;
    cfg = config("refuse", false);
    cfg.model = "hits-0";
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_OK);
    char id[64];
    CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_OK);
    CHECK_MSG(strcmp(id, "hits-0") == 0, "server saw requests: %s", id);
    plmm_connector_close(c);

    sink s2 = {.cancel_after = 2};
    cfg = config("stream_ok", true);
    CHECK(chat(&cfg, &s2, &r) == PLMM_ERR_CANCELLED);
    CHECK(s2.pieces == 2 && strcmp(s2.text, "Hello") == 0);
    plmm_connector_result_clear(&r);
    free(s2.sent_body);
}

static void test_probe_and_limits(void)
{
    plmm_connector *c = NULL;
    plmm_connector_config cfg = config("ok", false);
    char id[64];
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_OK);
    CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_OK && strcmp(id, "mock-b") == 0);
    plmm_connector_close(c);
    cfg.model = "";
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_OK);
    CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_OK && strcmp(id, "mock-a") == 0);
    plmm_connector_close(c);
    cfg = config("models500", false);
    cfg.max_retries = 0;
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_OK);
    CHECK(plmm_connector_probe(c, id, sizeof(id)) == PLMM_ERR_NETWORK);
    CHECK_CONTAINS(plmm_last_errmsg(), "backend down");
    plmm_connector_close(c);

    sink s = {0};
    plmm_connector_result r;
    cfg = config("big", false);
    cfg.max_response_bytes = 65536;
    CHECK(chat(&cfg, &s, &r) == PLMM_ERR_RANGE);
    CHECK_CONTAINS(plmm_last_errmsg(), "larger than 65536");
    plmm_connector_result_clear(&r);
    free(s.sent_body);
}

static void test_config_errors(void)
{
    plmm_connector *c = NULL;
    plmm_connector_config cfg = config("ok", false);
    cfg.endpoint = "ftp://example.com/v1";
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_ERR_CONFIG && c == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "http:// or https://");
    CHECK_CONTAINS(plmm_last_errmsg(), "expert.test (openai connector)");
    cfg.endpoint = NULL;
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "no endpoint");
    cfg = config("ok", false);
    cfg.api_key = "bad\nkey";
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "control character");
    cfg = config("ok", false);
    cfg.max_retries = -1;
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_ERR_CONFIG);
    cfg = config("ok", false);
    cfg.kind = (plmm_connector_kind)7;
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_ERR_CONFIG);
    CHECK(strcmp(plmm_connector_kind_name(PLMM_CONNECTOR_OPENAI), "openai") == 0);
    CHECK(strcmp(plmm_connector_kind_name(PLMM_CONNECTOR_LOCAL), "local") == 0);
    /* TLS verification failure is reported as such (self-signed host not needed:
     * an https URL on the plain-HTTP mock fails the handshake) */
    char ep[256];
    snprintf(ep, sizeof(ep), "https%s/ok/v1", mock_url + 4);
    cfg = config("ok", false);
    cfg.endpoint = ep;
    cfg.max_retries = 0;
    sink s = {0};
    plmm_connector_result r;
    CHECK(chat(&cfg, &s, &r) != PLMM_OK);
    CHECK_CONTAINS(plmm_last_errmsg(), "TLS");
    plmm_connector_result_clear(&r);
    free(s.sent_body);
    /* empty conversation */
    cfg = config("ok", false);
    CHECK(plmm_connector_open(NULL, &cfg, &c) == PLMM_OK);
    plmm_connector_request req = {0};
    CHECK(plmm_connector_chat(c, &req, &r) == PLMM_ERR_INVALID_ARG);
    plmm_connector_close(c);
}

/* [tmodel] from the configuration: key names, the key from the environment */
static void test_settings(void)
{
    char ep_over[300];
    snprintf(ep_over, sizeof(ep_over), "tmodel.endpoint=%s/auth/v1", mock_url);
    const char *over[] = {"tmodel.connector=openai",  ep_over,
                          "tmodel.model_name=mock-b", "tmodel.api_key_env=PLMM_TEST_TMODEL_KEY",
                          "tmodel.api_key=from-ini",  "tmodel.max_retries=1",
                          "tmodel.stream=false",      "tmodel.budget=2.5"};
    plmm_engine_params ep = {
        .struct_size = sizeof(ep), .overrides = over, .n_overrides = 8, .log_level = -1};
    plmm_engine *e = NULL;
    plmm_status st = plmm_engine_open(&ep, &e);
    CHECK_MSG(st == PLMM_OK, "engine: %s", plmm_last_errmsg());
    if (e == NULL)
        return;
    plmm_connector_settings set;
    setenv("PLMM_TEST_TMODEL_KEY", "sk-env-456", 1);
    CHECK(plmm_connector_settings_read(e, "tmodel", &set) == PLMM_OK);
    CHECK(set.config.kind == PLMM_CONNECTOR_OPENAI && set.config.max_retries == 1);
    CHECK(!set.config.stream && set.budget == 2.5 && set.enabled);
    CHECK(strcmp(set.share, "pseudonymized") == 0 && set.max_tokens == 512);
    CHECK(set.config.timeout_s == 60 && set.config.connect_timeout_s == 10);
    plmm_connector *c = NULL;
    CHECK(plmm_connector_open(e, &set.config, &c) == PLMM_OK);
    sink s = {0};
    plmm_connector_result r;
    const plmm_connector_msg msgs[] = {{"user", "hi"}};
    plmm_connector_request req = {
        .msgs = msgs, .n_msgs = 1, .before_send = before_send, .user = &s, .temperature = -1};
    CHECK(plmm_connector_chat(c, &req, &r) == PLMM_OK);
    CHECK(r.text != NULL && strcmp(r.text, "Bearer sk-env-456") == 0);
    CHECK(strstr(s.sent_body, "temperature") == NULL && strstr(s.sent_body, "max_tokens") == NULL);
    plmm_connector_result_clear(&r);
    plmm_connector_close(c);
    plmm_connector_settings_free(&set);
    free(s.sent_body);
    /* the environment variable empty: the INI key */
    setenv("PLMM_TEST_TMODEL_KEY", "", 1);
    CHECK(plmm_connector_settings_read(e, "tmodel", &set) == PLMM_OK);
    CHECK(set.config.api_key != NULL && strcmp(set.config.api_key, "from-ini") == 0);
    plmm_connector_settings_free(&set);
    CHECK(plmm_connector_settings_read(e, "chat", &set) == PLMM_ERR_NOT_FOUND);
    plmm_connector_settings_free(&set);
    plmm_engine_close(e);

    /* no [tmodel] section; local without a model */
    ep.n_overrides = 0;
    CHECK(plmm_engine_open(&ep, &e) == PLMM_OK);
    CHECK(plmm_connector_settings_read(e, "tmodel", &set) == PLMM_ERR_NOT_FOUND);
    plmm_connector_settings_free(&set);
    plmm_engine_close(e);
    const char *local_over[] = {"tmodel.connector=local"};
    ep.overrides = local_over;
    ep.n_overrides = 1;
    CHECK(plmm_engine_open(&ep, &e) == PLMM_OK);
    CHECK(plmm_connector_settings_read(e, "tmodel", &set) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "needs 'model'");
    plmm_connector_settings_free(&set);
    plmm_engine_close(e);
    const char *nokind_over[] = {"tmodel.model_name=x"};
    ep.overrides = nokind_over;
    CHECK(plmm_engine_open(&ep, &e) == PLMM_OK);
    CHECK(plmm_connector_settings_read(e, "tmodel", &set) == PLMM_ERR_CONFIG);
    CHECK_CONTAINS(plmm_last_errmsg(), "missing key 'connector'");
    plmm_connector_settings_free(&set);
    plmm_engine_close(e);
}

int main(void)
{
    mock_url = getenv("PLMM_MOCK_URL");
    if (mock_url == NULL || getenv("PLMM_MOCK_DEAD_URL") == NULL) {
        fprintf(stderr, "test-connector-openai: run through mock_openai.py -- (no mock URL)\n");
        return 77;
    }
    test_nonstream();
    test_stream("stream_ok");
    test_stream("stream_crlf");
    test_stream_variants();
    test_errors();
    test_retry_after();
    test_timeouts();
    test_refused();
    test_auth_and_body();
    test_refuse_and_cancel();
    test_probe_and_limits();
    test_config_errors();
    test_settings();
    return test_summary("connector-openai");
}
