/*
 * plmm serve: the OpenAI-compatible HTTP server (plmm/server.h) on one
 * model, until SIGINT or SIGTERM.
 *
 * Signals are blocked in every thread and received by one thread with
 * sigwait(), which asks the server to stop; a second signal cancels the
 * requests still running.
 */
#include "cli.h"
#include "plmm/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_HOST = OPT_CMD_START,
    OPT_PORT,
    OPT_SLOTS,
    OPT_API_KEY,
    OPT_LOG,
};

static const cli_opt serve_opts[] = {
    {OPT_HOST, 0, "host", "ADDR", "address to listen on ([server] host, 127.0.0.1)"},
    {OPT_PORT, 0, "port", "N", "TCP port, 0 = any free port ([server] port, 8080)"},
    {OPT_SLOTS, 0, "slots", "N", "requests generated in parallel ([server] slots)"},
    {OPT_API_KEY, 0, "api-key", "KEY", "require 'Authorization: Bearer KEY' ([server] api_key)"},
    {OPT_LOG, 0, "request-log", "FILE", "append a JSON line per request ([server] request_log)"},
    {0, 0, NULL, NULL, NULL},
};

const cli_command cmd_serve_desc = {
    .name = "serve",
    .summary = "Serve the model over an OpenAI-compatible HTTP API.",
    .synopsis = "[-m MODEL] [--host ADDR] [--port N] [--slots N] [-c FILE.ini]",
    .details = "Endpoints: POST /v1/chat/completions and /v1/completions (with \"stream\": true\n"
               "as server-sent events), GET /v1/models, GET /health, and GET /v1/bundles/NAME\n"
               "when [server] bundles_dir is set. Prints 'listening on http://HOST:PORT' on\n"
               "stdout once requests are accepted. SIGINT or SIGTERM stops it: queued requests\n"
               "get 503, running ones may finish for [server] shutdown_grace_ms (a second\n"
               "signal cancels them). Limits, the queue and the request log are [server] keys\n"
               "(see docs/server.md); --set server.KEY=VALUE sets any of them.",
    .opts = serve_opts,
    .needs_model = true,
};

typedef struct signal_thread {
    pthread_t thread;
    sigset_t set;
    plmm_server *server;
    atomic_bool quit;
} signal_thread;

static void *signal_main(void *arg)
{
    signal_thread *st = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&st->set, &sig) != 0)
            continue;
        if (atomic_load(&st->quit))
            return NULL;
        fprintf(stderr, "plmm serve: %s received, stopping\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        plmm_server_stop(st->server);
    }
}

int cmd_serve(int argc, char **argv)
{
    const cli_command *cmd = &cmd_serve_desc;
    cli_ctx x;
    const cli_opt *o;
    const char *v;
    int r, code = CLI_EXIT_USAGE;
    int64_t port = -1, n;
    const char *host = NULL;
    plmm_server *server = NULL;
    signal_thread sig;
    bool sig_started = false;
    char *set = NULL;

    memset(&sig, 0, sizeof(sig));
    cli_ctx_init(&x, cmd, argc, argv);
    while ((r = cli_ctx_next(&x, &o, &v, &code)) > 0) {
        const char *key = NULL;
        switch (o->id) {
        case OPT_HOST:
            if (v[0] == '\0') {
                code = cli_usage_error(cmd, "option '--host' needs an address");
                goto out;
            }
            host = v;
            break;
        case OPT_PORT:
            if (!cli_parse_i64(cmd, o, v, 0, 65535, &port))
                goto out;
            break;
        case OPT_SLOTS:
            if (!cli_parse_i64(cmd, o, v, 1, 64, &n))
                goto out;
            key = "server.slots";
            break;
        case OPT_API_KEY:
            key = "server.api_key";
            break;
        case OPT_LOG:
            key = "server.request_log";
            break;
        }
        if (key != NULL) {
            /* the same path as --set: validated by the configuration */
            size_t len = strlen(key) + strlen(v) + 2;
            free(set);
            set = malloc(len);
            if (set == NULL) {
                code = cli_error("out of memory");
                goto out;
            }
            snprintf(set, len, "%s=%s", key, v);
            const cli_opt set_opt = {OPT_SET, 0, "set", "SEC.KEY=VAL", ""};
            int c2;
            if (cli_common_opt(&x.common, cmd, &set_opt, set, &c2) < 0) {
                code = c2;
                goto out;
            }
        }
    }
    if (r < 0)
        goto out;

    /* block the stop signals before any thread exists, so that they all
     * inherit the mask and only the signal thread receives them */
    sigemptyset(&sig.set);
    sigaddset(&sig.set, SIGINT);
    sigaddset(&sig.set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &sig.set, NULL) != 0) {
        code = cli_error("cannot block signals");
        goto out;
    }
    code = cli_open_model(&x);
    if (code != CLI_EXIT_OK)
        goto out;
    plmm_server_params params;
    memset(&params, 0, sizeof(params));
    params.struct_size = sizeof(params);
    params.port = (int32_t)port;
    params.host = host;
    plmm_status st = plmm_server_open(x.engine, x.model, &params, &server);
    if (st != PLMM_OK) {
        code = cli_api_error(st);
        goto out;
    }
    sig.server = server;
    atomic_init(&sig.quit, false);
    if (pthread_create(&sig.thread, NULL, signal_main, &sig) != 0) {
        code = cli_error("cannot start the signal thread");
        goto out;
    }
    sig_started = true;
    const char *h = host;
    if (h == NULL && plmm_engine_config_get(x.engine, "server.host", &h) != PLMM_OK)
        h = "127.0.0.1";
    bool v6 = strchr(h, ':') != NULL;
    printf("listening on http://%s%s%s:%u\n", v6 ? "[" : "", h, v6 ? "]" : "",
           (unsigned)plmm_server_port(server));
    fflush(stdout);
    st = plmm_server_run(server);
    code = st == PLMM_OK ? CLI_EXIT_OK : cli_api_error(st);
out:
    if (sig_started) {
        atomic_store(&sig.quit, true);
        pthread_kill(sig.thread, SIGTERM);
        pthread_join(sig.thread, NULL);
    }
    plmm_server_close(server);
    free(set);
    cli_ctx_close(&x);
    return code;
}
