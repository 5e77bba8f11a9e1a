/*
 * The server's life cycle: configuration ([server]), sessions, the
 * listening socket, run until stopped, graceful shutdown, close.
 * See include/plmm/server.h and docs/server.md.
 */
#include "engine_impl.h"
#include "errors.h"
#include "server_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void srv_logf(const plmm_server *s, int level, const char *fmt, ...)
{
    char buf[768];
    va_list ap;
    if (s->engine == NULL || s->engine->log == NULL || level > s->engine->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    plmm_engine_logf(s->engine, level, "server: %s", buf);
}

int64_t srv_unix_time(void)
{
    return (int64_t)time(NULL);
}

/* ---- configuration ---- */

static plmm_status read_config(plmm_server *s, const plmm_server_params *p)
{
    const plmm_config *cfg = s->engine->cfg;
    srv_config *c = &s->cfg;
    bool b;
    const char *str;
    static const char *const int_keys[] = {
        "port",
        "slots",
        "queue",
        "ctx",
        "max_tokens",
        "max_body_bytes",
        "max_connections",
        "idle_timeout",
        "shutdown_grace_ms",
        "token_delay_ms",
    };
    int64_t iv[sizeof(int_keys) / sizeof(int_keys[0])];
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
        if (plmm_config_get_int(cfg, "server", int_keys[i], &iv[i]) != PLMM_OK)
            return plmm_err(PLMM_ERR_INTERNAL, "server.%s is not in the schema", int_keys[i]);
    /* the schema's ranges bound every value */
    c->port = (uint16_t)iv[0];
    c->slots = (uint32_t)iv[1];
    c->queue = (uint32_t)iv[2];
    c->ctx = (uint32_t)iv[3];
    c->max_tokens = (uint32_t)iv[4];
    c->max_body_bytes = (uint64_t)iv[5];
    c->max_connections = (uint32_t)iv[6];
    c->idle_timeout = (uint32_t)iv[7];
    c->shutdown_grace_ms = (uint32_t)iv[8];
    c->token_delay_ms = (uint32_t)iv[9];
    if (plmm_config_get_bool(cfg, "server", "log_bodies", &b) != PLMM_OK)
        return plmm_err(PLMM_ERR_INTERNAL, "server.log_bodies is not in the schema");
    c->log_bodies = b;

    str = p != NULL && p->host != NULL ? p->host : NULL;
    if (str == NULL && plmm_config_get_string(cfg, "server", "host", &str) != PLMM_OK)
        str = "127.0.0.1";
    c->host = strdup(str);
    if (p != NULL && p->port >= 0) {
        if (p->port > 65535)
            return plmm_err(PLMM_ERR_INVALID_ARG, "port %d is out of range (0 to 65535)",
                            (int)p->port);
        c->port = (uint16_t)p->port;
    }
    static const char *const opt[] = {"api_key", "request_log", "bundles_dir"};
    char **dst[] = {&c->api_key, &c->request_log, &c->bundles_dir};
    for (size_t i = 0; i < 3; i++) {
        if (plmm_config_get_string(cfg, "server", opt[i], &str) == PLMM_OK && str[0] != '\0') {
            *dst[i] = strdup(str);
            if (*dst[i] == NULL)
                return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        }
    }
    if (c->host == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    if ((uint64_t)c->slots + c->queue >= c->max_connections)
        return plmm_err(PLMM_ERR_CONFIG,
                        "server.max_connections (%u) must exceed server.slots + server.queue "
                        "(%u), or requests could not even be refused",
                        c->max_connections, c->slots + c->queue);
    return PLMM_OK;
}

/* The model id: params, [server] model_id, else the file name without .gguf. */
static plmm_status make_model_id(plmm_server *s, const plmm_server_params *p)
{
    const char *id = p != NULL ? p->model_id : NULL;
    if (id == NULL && plmm_config_get_string(s->engine->cfg, "server", "model_id", &id) != PLMM_OK)
        id = NULL;
    if (id != NULL && id[0] != '\0') {
        s->model_id = strdup(id);
    } else {
        const char *path = plmm_gguf_name(s->model->gguf);
        const char *base = strrchr(path, '/');
        base = base != NULL ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".gguf") == 0)
            n -= 5;
        s->model_id = strndup(base, n);
    }
    return s->model_id != NULL ? PLMM_OK : plmm_err(PLMM_ERR_NOMEM, "out of memory");
}

/* ---- the listening socket ---- */

static plmm_status open_socket(plmm_server *s)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", (unsigned)s->cfg.port);
    int rc = getaddrinfo(s->cfg.host, port, &hints, &res);
    if (rc != 0)
        return plmm_err(PLMM_ERR_CONFIG, "server.host '%s': %s", s->cfg.host, gai_strerror(rc));
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
                s->cfg.port =
                    ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
            s->listen_fd = fd;
            freeaddrinfo(res);
            return PLMM_OK;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return plmm_err(PLMM_ERR_NETWORK, "cannot listen on %s port %u: %s", s->cfg.host,
                    (unsigned)s->cfg.port, strerror(err));
}

/* ---- open / close ---- */

PLMM_EXPORT plmm_status plmm_server_open(plmm_engine *engine, plmm_model *model,
                                         const plmm_server_params *params, plmm_server **out)
{
    plmm_status st;
    if (engine == NULL || model == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_server_open: NULL argument");
    *out = NULL;
    if (params != NULL &&
        params->struct_size < offsetof(plmm_server_params, receipt_user) + sizeof(void *))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_server_params.struct_size too small");
    if (model->engine != engine)
        return plmm_err(PLMM_ERR_INVALID_ARG, "the model was loaded by another engine");
    plmm_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate the server");
    s->engine = engine;
    s->model = model;
    s->listen_fd = -1;
    s->bundles_fd = -1;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->conn_mu, NULL);
    atomic_init(&s->stops, 0);
    atomic_init(&s->ran, false);
    atomic_init(&s->next_id, 1);
    s->created = srv_unix_time();
    if (params != NULL) {
        s->receipt = params->receipt;
        s->receipt_user = params->receipt_user;
    }
    if ((st = read_config(s, params)) != PLMM_OK || (st = make_model_id(s, params)) != PLMM_OK)
        goto out_close;
    s->n_ctx =
        s->cfg.ctx != 0 ? s->cfg.ctx : (uint32_t)plmm_engine_cfg_int(engine, "engine", "context");
    {
        uint64_t seed = 0;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, &seed, sizeof(seed)) != (ssize_t)sizeof(seed))
            seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
        if (fd >= 0)
            close(fd);
        s->id_base = seed;
    }
    json_object_seed(0);
    if (s->cfg.bundles_dir != NULL) {
        s->bundles_fd = open(s->cfg.bundles_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->bundles_fd < 0) {
            st = plmm_err(PLMM_ERR_CONFIG, "server.bundles_dir '%s': %s", s->cfg.bundles_dir,
                          strerror(errno));
            goto out_close;
        }
    }
    if ((st = srv_log_open(&s->log, s->cfg.request_log, s->cfg.log_bodies)) != PLMM_OK)
        goto out_close;
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        st = plmm_err(PLMM_ERR_IO, "cannot create a pipe: %s", strerror(errno));
        goto out_close;
    }
    if ((st = srv_queue_init(&s->queue, model, s->cfg.slots, s->cfg.queue, s->n_ctx,
                             s->cfg.token_delay_ms)) != PLMM_OK)
        goto out_close;
    if ((st = open_socket(s)) != PLMM_OK)
        goto out_close;
    *out = s;
    return PLMM_OK;

out_close:
    plmm_server_close(s);
    return st;
}

PLMM_EXPORT uint16_t plmm_server_port(const plmm_server *s)
{
    return s != NULL ? s->cfg.port : 0;
}

PLMM_EXPORT void plmm_server_close(plmm_server *s)
{
    if (s == NULL)
        return;
    srv_http_stop(s);
    srv_queue_free(&s->queue);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->bundles_fd >= 0)
        close(s->bundles_fd);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    srv_log_close(&s->log);
    pthread_mutex_destroy(&s->conn_mu);
    free(s->cfg.host);
    free(s->cfg.api_key);
    free(s->cfg.request_log);
    free(s->cfg.bundles_dir);
    free(s->model_id);
    free(s);
}

/* ---- run / stop ---- */

PLMM_EXPORT void plmm_server_stop(plmm_server *s)
{
    if (s == NULL)
        return;
    int saved = errno; /* async-signal-safe: atomics and write() only */
    atomic_fetch_add(&s->stops, 1);
    if (s->wake[1] >= 0) {
        ssize_t w = write(s->wake[1], "x", 1);
        (void)w; /* a full pipe already wakes the server */
    }
    errno = saved;
}

/* Wait for the wake pipe up to ms milliseconds (-1: forever), draining it. */
static void wait_wake(plmm_server *s, int ms)
{
    struct pollfd pfd = {.fd = s->wake[0], .events = POLLIN};
    if (poll(&pfd, 1, ms) > 0) {
        char buf[64];
        while (read(s->wake[0], buf, sizeof(buf)) > 0) {
        }
    }
}

static uint32_t job_conns(plmm_server *s)
{
    pthread_mutex_lock(&s->conn_mu);
    uint32_t n = s->n_job_conns;
    pthread_mutex_unlock(&s->conn_mu);
    return n;
}

PLMM_EXPORT plmm_status plmm_server_run(plmm_server *s)
{
    plmm_status st;
    if (s == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_server_run: NULL server");
    if (atomic_exchange(&s->ran, true))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_server_run: the server already ran");
    if (atomic_load(&s->stops) > 0)
        return PLMM_OK;
    if ((st = srv_queue_start(&s->queue)) != PLMM_OK) {
        srv_queue_close(&s->queue);
        srv_queue_join(&s->queue);
        return st;
    }
    if ((st = srv_http_start(s)) != PLMM_OK) {
        srv_queue_close(&s->queue);
        srv_queue_join(&s->queue);
        return st;
    }
    srv_logf(s, PLMM_LOG_INFO, "listening on http://%s:%u (model %s, %u slots, queue %u)",
             s->cfg.host, (unsigned)s->cfg.port, s->model_id, s->cfg.slots, s->cfg.queue);

    while (atomic_load(&s->stops) == 0)
        wait_wake(s, -1);

    /* shutdown: no new connections, queued requests get 503, running ones
     * get the grace period (a second stop cancels them at once) */
    srv_logf(s, PLMM_LOG_INFO, "shutting down");
    srv_http_quiesce(s);
    srv_queue_close(&s->queue);
    double deadline = plmm_now_ms() + s->cfg.shutdown_grace_ms;
    bool cancelled = false;
    while (srv_queue_running(&s->queue) > 0) {
        if (!cancelled && (plmm_now_ms() >= deadline || atomic_load(&s->stops) > 1)) {
            srv_logf(s, PLMM_LOG_INFO, "cancelling %u running requests",
                     srv_queue_running(&s->queue));
            srv_queue_cancel_running(&s->queue);
            cancelled = true;
        }
        wait_wake(s, 10);
    }
    srv_queue_join(&s->queue);
    /* let connections send what their jobs produced (bounded) */
    double flush_deadline = plmm_now_ms() + 2000;
    while (job_conns(s) > 0 && plmm_now_ms() < flush_deadline)
        wait_wake(s, 10);
    srv_http_stop(s);
    srv_logf(s, PLMM_LOG_INFO, "stopped");
    return PLMM_OK;
}
