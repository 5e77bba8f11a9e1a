/*
 * Server-sent events parser fuzz target (experts/connectors/connector_sse.c).
 * The input is parsed three times: in one chunk, one byte at a time, and in
 * chunks whose sizes come from the input itself. Whatever the chunking, the
 * parser must deliver the same events (type and data) and the same
 * end-of-stream verdict, every data buffer must be NUL-terminated, and the
 * size limit must hold.
 */
#include "connector_sse.h"
#include "errors.h"
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENT 4096

static void require(bool cond)
{
    if (!cond)
        abort();
}

/* Events of one run, concatenated as "type\0data\0" records (bounded). */
typedef struct trace {
    char buf[1 << 16];
    size_t len;
    size_t n_events;
    bool overflow;
} trace;

static plmm_status on_event(void *user, const char *event, const char *data, size_t len)
{
    trace *t = user;
    require(data[len] == '\0');
    require(len <= MAX_EVENT);
    require(event[0] != '\0');
    t->n_events++;
    size_t el = strlen(event);
    if (t->len + el + len + 2 > sizeof(t->buf)) {
        t->overflow = true;
        return PLMM_OK;
    }
    memcpy(t->buf + t->len, event, el + 1);
    t->len += el + 1;
    memcpy(t->buf + t->len, data, len);
    t->len += len;
    t->buf[t->len++] = '\0';
    return PLMM_OK;
}

/* Feed data in chunks; sizes from sz (cycled), or n when sz_len is 0. */
static plmm_status run(const uint8_t *data, size_t n, const uint8_t *sz, size_t sz_len,
                       size_t fixed, trace *t, bool *pending)
{
    plmm_sse_parser p;
    plmm_sse_init(&p, MAX_EVENT, on_event, t);
    plmm_status st = PLMM_OK;
    size_t i = 0, k = 0;
    while (i < n && st == PLMM_OK) {
        size_t c = fixed ? fixed : (sz_len ? (size_t)sz[k++ % sz_len] % 17 + 1 : n);
        if (c > n - i)
            c = n - i;
        st = plmm_sse_feed(&p, (const char *)data + i, c);
        i += c;
    }
    plmm_sse_finish(&p, pending);
    plmm_sse_free(&p);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static trace a, b, c; /* large: kept off the stack */
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    bool pa = false, pb = false, pc = false;
    plmm_status sa = run(data, size, NULL, 0, 0, &a, &pa);
    plmm_status sb = run(data, size, NULL, 0, 1, &b, &pb);
    plmm_status sc = run(data, size, data, size < 8 ? size : 8, 0, &c, &pc);
    require(sa == PLMM_OK || sa == PLMM_ERR_RANGE);
    require(sa == sb && sa == sc);
    if (sa == PLMM_OK) {
        require(a.n_events == b.n_events && a.n_events == c.n_events);
        require(pa == pb && pa == pc);
        if (!a.overflow && !b.overflow && !c.overflow) {
            require(a.len == b.len && a.len == c.len);
            require(memcmp(a.buf, b.buf, a.len) == 0 && memcmp(a.buf, c.buf, a.len) == 0);
        }
    }
    plmm_err_clear();
    return 0;
}
