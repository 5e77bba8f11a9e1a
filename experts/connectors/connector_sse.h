/*
 * Incremental parser for a text/event-stream body (the WHATWG "server-sent
 * events" format that OpenAI-compatible servers stream completions in).
 *
 * Bytes arrive in arbitrary network chunks; a line, even a CRLF pair, may
 * be split between two of them. The parser keeps the unfinished line and
 * the data of the event being assembled, and calls the event callback when
 * a blank line ends an event:
 *   "data: x"        appends x (one leading space removed) plus "\n" between lines
 *   "event: name"    sets the event type (default "message")
 *   ": anything"     comment / keep-alive, ignored
 *   "error: {...}"   non-standard field some servers send for a failure
 *                    mid-stream; delivered as an event of type "error"
 *   "id:", "retry:"  and unknown fields are ignored
 * Line ends are LF, CRLF or a lone CR. At end of stream an unterminated
 * event is discarded, as the format says (plmm_sse_finish reports whether
 * one was pending so a truncated stream can be told apart).
 */
#ifndef PLMM_CONNECTOR_SSE_H
#define PLMM_CONNECTOR_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "plmm/types.h"

/* One complete event. data is NUL-terminated (len excludes the NUL) and
 * borrowed until the callback returns. A non-OK return stops parsing and is
 * returned by plmm_sse_feed. */
typedef plmm_status (*plmm_sse_event_fn)(void *user, const char *event, const char *data,
                                         size_t len);

typedef struct plmm_sse_parser {
    plmm_sse_event_fn on_event;
    void *user;
    size_t max_event;  /* bytes of one line or one event's data before PLMM_ERR_RANGE */
    char *line;        /* unfinished line (no terminator) */
    size_t line_len, line_cap;
    char *data;        /* data of the event being assembled */
    size_t data_len, data_cap;
    bool has_data;     /* a data field was seen for this event */
    bool skip_lf;      /* the previous chunk ended in CR: drop a leading LF */
    char event[64];    /* event type of the event being assembled, "" = message */
    size_t n_events;   /* events delivered */
} plmm_sse_parser;

/* max_event 0: 1 MiB. */
void plmm_sse_init(plmm_sse_parser *p, size_t max_event, plmm_sse_event_fn on_event, void *user);
void plmm_sse_free(plmm_sse_parser *p);

/* Parse n more bytes. PLMM_ERR_RANGE when a line or an event's data is
 * larger than max_event, PLMM_ERR_NOMEM, or the callback's status. */
PLMM_NODISCARD plmm_status plmm_sse_feed(plmm_sse_parser *p, const char *buf, size_t n);

/* End of stream: *pending (may be NULL) tells whether an unterminated line
 * or event was left over (and discarded). */
void plmm_sse_finish(plmm_sse_parser *p, bool *pending);

#endif
