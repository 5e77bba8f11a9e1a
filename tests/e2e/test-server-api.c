/*
 * The server's C API (plmm/server.h) as an application uses it: open on
 * port 0, run in a thread, stop from another thread, close; the usage
 * receipt hook (arguments, "plmm_receipt" in responses and in the last
 * stream chunk, invalid receipts dropped); argument checks. Uses the
 * shipped model (PLMM_SOURCE_DIR/models/stories260K-Q8_0.gguf).
 */
#include "plmm/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

/* ---- the receipt hook ---- */

typedef struct hook_state {
    atomic_int calls;
    bool invalid; /* return text that is not a JSON object */
    char last_id[64];
    char last_model[64];
    uint64_t prompt_tokens, completion_tokens;
} hook_state;

static char *receipt(void *user, const char *request_id, const char *model, uint64_t prompt_tokens,
                     uint64_t completion_tokens)
{
    hook_state *h = user;
    atomic_fetch_add(&h->calls, 1);
    snprintf(h->last_id, sizeof(h->last_id), "%s", request_id);
    snprintf(h->last_model, sizeof(h->last_model), "%s", model);
    h->prompt_tokens = prompt_tokens;
    h->completion_tokens = completion_tokens;
    char *s = malloc(160);
    if (s == NULL)
        return NULL;
    if (h->invalid)
        snprintf(s, 160, "[\"not an object\"]");
    else
        snprintf(s, 160, "{\"signed\":\"sig-%s\",\"tokens\":%llu}", request_id,
                 (unsigned long long)(prompt_tokens + completion_tokens));
    return s;
}

/* ---- a tiny HTTP/1.0 client ---- */

/* POST body to path; the whole response (headers and body) into a new
 * string, or NULL. */
static char *post(uint16_t port, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, strlen(body));
    if (write(fd, head, (size_t)n) != n || write(fd, body, strlen(body)) != (ssize_t)strlen(body)) {
        close(fd);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    for (ssize_t got; out != NULL && (got = read(fd, out + len, cap - len - 1)) > 0;) {
        len += (size_t)got;
        if (cap - len < 2) {
            char *more = realloc(out, cap * 2);
            if (more == NULL) {
                free(out);
                out = NULL;
                break;
            }
            out = more;
            cap *= 2;
        }
    }
    close(fd);
    if (out != NULL)
        out[len] = '\0';
    return out;
}

static void *run_thread(void *arg)
{
    plmm_status *st = malloc(sizeof(*st));
    if (st != NULL)
        *st = plmm_server_run(arg);
    return st;
}

int main(void)
{
    const char *src = getenv("PLMM_SOURCE_DIR");
    char model_path[4096];
    snprintf(model_path, sizeof(model_path), "%s/models/stories260K-Q8_0.gguf",
             src != NULL ? src : ".");
    const char *overrides[] = {"engine.threads=1", "server.slots=2"};
    plmm_engine_params ep = {
        .struct_size = sizeof(ep), .n_overrides = 2, .overrides = overrides, .log_level = -1};
    plmm_engine *engine = NULL;
    plmm_model *model = NULL;
    plmm_server *server = NULL;
    hook_state hook;
    memset(&hook, 0, sizeof(hook));

    if (plmm_engine_open(&ep, &engine) != PLMM_OK ||
        plmm_model_load(engine, model_path, &model) != PLMM_OK) {
        fprintf(stderr, "cannot load %s: %s\n", model_path, plmm_last_errmsg());
        plmm_engine_close(engine);
        return 1;
    }

    /* argument checks */
    CHECK(plmm_server_open(NULL, model, NULL, &server) == PLMM_ERR_INVALID_ARG, "NULL engine");
    plmm_server_params small = {.struct_size = 4};
    CHECK(plmm_server_open(engine, model, &small, &server) == PLMM_ERR_INVALID_ARG,
          "short struct_size");
    CHECK(strstr(plmm_last_errmsg(), "struct_size") != NULL, "%s", plmm_last_errmsg());
    plmm_server_params big_port = {.struct_size = sizeof(big_port), .port = 70000};
    CHECK(plmm_server_open(engine, model, &big_port, &server) == PLMM_ERR_INVALID_ARG,
          "port 70000");
    plmm_server_stop(NULL);
    plmm_server_close(NULL);
    CHECK(plmm_server_port(NULL) == 0, "port of NULL");

    /* stop before run: run returns at once */
    plmm_server_params p = {.struct_size = sizeof(p), .port = 0, .model_id = "tiny-story"};
    CHECK(plmm_server_open(engine, model, &p, &server) == PLMM_OK, "%s", plmm_last_errmsg());
    if (server != NULL) {
        CHECK(plmm_server_port(server) != 0, "a port was chosen");
        plmm_server_stop(server);
        CHECK(plmm_server_run(server) == PLMM_OK, "run after stop");
        CHECK(plmm_server_run(server) == PLMM_ERR_INVALID_ARG, "second run");
        plmm_server_close(server);
        server = NULL;
    }

    /* the receipt hook */
    p.receipt = receipt;
    p.receipt_user = &hook;
    CHECK(plmm_server_open(engine, model, &p, &server) == PLMM_OK, "%s", plmm_last_errmsg());
    if (server == NULL)
        goto out;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, run_thread, server) == 0, "thread");
    uint16_t port = plmm_server_port(server);

    char *r = post(port, "/v1/completions",
                   "{\"prompt\":\"Once upon a time\",\"max_tokens\":7,\"temperature\":0}");
    CHECK(r != NULL && strstr(r, " 200 ") != NULL, "%s", r ? r : "no response");
    CHECK(r != NULL && strstr(r, "\"model\":\"tiny-story\"") != NULL, "model id: %s", r);
    CHECK(atomic_load(&hook.calls) == 1, "hook calls %d", atomic_load(&hook.calls));
    CHECK(hook.prompt_tokens == 5 && hook.completion_tokens == 7, "hook tokens %llu %llu",
          (unsigned long long)hook.prompt_tokens, (unsigned long long)hook.completion_tokens);
    CHECK(strcmp(hook.last_model, "tiny-story") == 0, "hook model %s", hook.last_model);
    CHECK(strncmp(hook.last_id, "cmpl-", 5) == 0, "hook id %s", hook.last_id);
    char want[200];
    snprintf(want, sizeof(want), "\"plmm_receipt\":{\"signed\":\"sig-%s\",\"tokens\":12}",
             hook.last_id);
    CHECK(r != NULL && strstr(r, want) != NULL, "receipt %s in %s", want, r);
    snprintf(want, sizeof(want), "\"id\":\"%s\"", hook.last_id);
    CHECK(r != NULL && strstr(r, want) != NULL, "hook id is the response id: %s", r);
    free(r);

    /* streamed: the receipt rides on the last chunk before [DONE] */
    r = post(port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":4,"
             "\"stream\":true}");
    CHECK(atomic_load(&hook.calls) == 2, "hook calls %d", atomic_load(&hook.calls));
    const char *rec = r != NULL ? strstr(r, "\"plmm_receipt\"") : NULL;
    const char *done = r != NULL ? strstr(r, "data: [DONE]") : NULL;
    CHECK(rec != NULL && done != NULL && rec < done && strstr(rec + 14, "plmm_receipt") == NULL,
          "one receipt before [DONE]: %s", r);
    CHECK(rec != NULL && strstr(rec, "\"finish_reason\":\"length\"") == NULL,
          "the receipt is in the last chunk: %s", rec ? rec : "");
    CHECK(strncmp(hook.last_id, "chatcmpl-", 9) == 0 && hook.completion_tokens == 4,
          "chat hook %s %llu", hook.last_id, (unsigned long long)hook.completion_tokens);
    free(r);

    /* a receipt that is not a JSON object is dropped, the answer still sent */
    hook.invalid = true;
    r = post(port, "/v1/completions", "{\"prompt\":\"Lily\",\"max_tokens\":2}");
    CHECK(r != NULL && strstr(r, " 200 ") != NULL && strstr(r, "plmm_receipt") == NULL,
          "invalid receipt dropped: %s", r ? r : "");
    free(r);

    plmm_server_stop(server);
    void *ret = NULL;
    pthread_join(th, &ret);
    CHECK(ret != NULL && *(plmm_status *)ret == PLMM_OK, "run returned OK");
    free(ret);
    plmm_server_close(server);
out:
    plmm_model_free(model);
    plmm_engine_close(engine);
    printf("server-api: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
