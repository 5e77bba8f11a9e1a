/*
 * plmm — OpenAI-compatible HTTP server.
 *
 * A server answers /v1/chat/completions, /v1/completions, /v1/models,
 * /health and (when [server] bundles_dir is set) /v1/bundles/NAME with one
 * loaded model, so that any HTTP client of the OpenAI API — or another
 * plmm — can use it. Limits, slots, the request queue, authentication and
 * the request log come from the engine's [server] section
 * (docs/server.md).
 *
 * Life cycle:
 *   plmm_server_open()   binds the listening socket (nothing is served yet);
 *   plmm_server_run()    serves until plmm_server_stop(), then shuts down:
 *                        queued requests get 503, running ones may finish
 *                        for [server] shutdown_grace_ms and are then
 *                        cancelled, connections are closed, threads joined;
 *   plmm_server_stop()   may be called from any thread or a signal handler;
 *   plmm_server_close()  frees everything.
 *
 * The engine and the model must outlive the server; the server creates its
 * own sessions (one per slot) and is the only user of the model while it
 * runs.
 */
#ifndef PLMM_SERVER_H
#define PLMM_SERVER_H

#include "plmm/plmm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_server plmm_server;

/*
 * Usage receipt hook: called once per finished completion (for streams
 * before the last chunk is sent), possibly from several threads at once,
 * with the response id ("chatcmpl-..." or "cmpl-..."), the model id and the
 * token counts of the usage object. Returns NULL for no receipt, or a
 * NUL-terminated JSON object text allocated with malloc(): the server frees
 * it and adds the object to the response as "plmm_receipt" (for streams in
 * the last chunk before "data: [DONE]"). Text that is not a JSON object is
 * dropped and logged as an error.
 */
typedef char *(*plmm_server_receipt_fn)(void *user, const char *request_id, const char *model,
                                        uint64_t prompt_tokens, uint64_t completion_tokens);

typedef struct plmm_server_params {
    uint32_t struct_size;           /* sizeof(plmm_server_params) */
    int32_t port;                   /* -1: [server] port; 0: any free port (see plmm_server_port) */
    const char *host;               /* (optional) address to listen on; NULL: [server] host */
    const char *model_id;           /* (optional) model name in responses; NULL: [server] model_id,
                                       else the model file's name without ".gguf" */
    plmm_server_receipt_fn receipt; /* (optional) usage receipt hook */
    void *receipt_user;             /* passed to receipt */
} plmm_server_params;

/* Validate the [server] configuration, create one session per slot and
 * bind the listening socket. params NULL: everything from the
 * configuration. out: owned, close with plmm_server_close. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_server_open(plmm_engine *engine, plmm_model *model,
                                                        const plmm_server_params *params,
                                                        plmm_server **out);

/* The TCP port the server listens on (the chosen one when 0 was asked). */
PLMM_EXPORT uint16_t plmm_server_port(const plmm_server *server);

/* Serve requests until plmm_server_stop() is called, then shut down (see
 * above) and return PLMM_OK. Call it once, from one thread; signals the
 * application handles itself should be blocked in that thread, since the
 * server's threads inherit its signal mask. */
PLMM_EXPORT PLMM_NODISCARD plmm_status plmm_server_run(plmm_server *server);

/* Ask plmm_server_run() to return. Async-signal-safe and callable from any
 * thread, also before run. A second call cancels running requests at once
 * instead of waiting for the grace period. NULL is ignored. */
PLMM_EXPORT void plmm_server_stop(plmm_server *server);

/* NULL is ignored. Must not be called while plmm_server_run() runs. */
PLMM_EXPORT void plmm_server_close(plmm_server *server);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_SERVER_H */
