#include "connector_sse.h"

#include "errors.h"

#include <stdlib.h>
#include <string.h>

#define SSE_DEFAULT_MAX (1u << 20)

void plmm_sse_init(plmm_sse_parser *p, size_t max_event, plmm_sse_event_fn on_event, void *user)
{
    memset(p, 0, sizeof(*p));
    p->on_event = on_event;
    p->user = user;
    p->max_event = max_event ? max_event : SSE_DEFAULT_MAX;
}

void plmm_sse_free(plmm_sse_parser *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

/* Ensure room for need bytes plus a NUL in *buf. */
static plmm_status reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max)
        return plmm_err(PLMM_ERR_RANGE, "event stream line or event larger than %zu bytes", max);
    if (need + 1 <= *cap)
        return PLMM_OK;
    size_t n = *cap ? *cap : 256;
    while (n < need + 1)
        n *= 2;
    char *b = realloc(*buf, n);
    if (b == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory reading an event stream");
    *buf = b;
    *cap = n;
    return PLMM_OK;
}

static plmm_status dispatch(plmm_sse_parser *p)
{
    bool have = p->has_data;
    const char *ev = p->event[0] ? p->event : "message";
    p->has_data = false;
    if (!have) {
        p->event[0] = '\0';
        return PLMM_OK;
    }
    /* the data buffer ends in the "\n" added after every data line: drop the last */
    size_t len = p->data_len;
    if (len > 0 && p->data[len - 1] == '\n')
        len--;
    plmm_status st = reserve(&p->data, &p->data_cap, len, p->max_event + 1);
    if (st != PLMM_OK)
        return st;
    p->data[len] = '\0';
    char evname[sizeof(p->event)];
    memcpy(evname, ev, strlen(ev) + 1);
    p->event[0] = '\0';
    p->data_len = 0;
    p->n_events++;
    return p->on_event(p->user, evname, p->data, len);
}

/* One complete line (no terminator). */
static plmm_status process_line(plmm_sse_parser *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return PLMM_OK; /* comment or keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen > 0 && val[0] == ' ') {
        val++;
        vlen--;
    }
    bool is_error = flen == 5 && memcmp(line, "error", 5) == 0;
    if ((flen == 4 && memcmp(line, "data", 4) == 0) || is_error) {
        if (is_error) {
            if (p->has_data && strcmp(p->event, "error") != 0)
                p->data_len = 0; /* an error replaces whatever data came before */
            memcpy(p->event, "error", 6);
        }
        plmm_status st = reserve(&p->data, &p->data_cap, p->data_len + vlen + 1, p->max_event + 1);
        if (st != PLMM_OK)
            return st;
        memcpy(p->data + p->data_len, val, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
        p->has_data = true;
        return PLMM_OK;
    }
    if (flen == 5 && memcmp(line, "event", 5) == 0) {
        if (strcmp(p->event, "error") == 0)
            return PLMM_OK; /* keep an error's type */
        size_t n = vlen < sizeof(p->event) - 1 ? vlen : sizeof(p->event) - 1;
        memcpy(p->event, val, n);
        p->event[n] = '\0';
        return PLMM_OK;
    }
    return PLMM_OK; /* id, retry and unknown fields */
}

plmm_status plmm_sse_feed(plmm_sse_parser *p, const char *buf, size_t n)
{
    size_t i = 0;
    if (n > 0 && p->skip_lf) {
        if (buf[0] == '\n')
            i = 1;
        p->skip_lf = false;
    }
    while (i < n) {
        /* find the next line end in this chunk */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j == n) {
            plmm_status st = reserve(&p->line, &p->line_cap, p->line_len + (n - i), p->max_event);
            if (st != PLMM_OK)
                return st;
            memcpy(p->line + p->line_len, buf + i, n - i);
            p->line_len += n - i;
            return PLMM_OK;
        }
        plmm_status st;
        if (p->line_len > 0) {
            st = reserve(&p->line, &p->line_cap, p->line_len + (j - i), p->max_event);
            if (st != PLMM_OK)
                return st;
            memcpy(p->line + p->line_len, buf + i, j - i);
            size_t len = p->line_len + (j - i);
            p->line_len = 0;
            st = process_line(p, p->line, len);
        } else {
            if (j - i > p->max_event)
                return plmm_err(PLMM_ERR_RANGE, "event stream line larger than %zu bytes",
                                p->max_event);
            st = process_line(p, buf + i, j - i);
        }
        if (st != PLMM_OK)
            return st;
        if (buf[j] == '\r') {
            if (j + 1 < n) {
                if (buf[j + 1] == '\n')
                    j++;
            } else {
                p->skip_lf = true;
            }
        }
        i = j + 1;
    }
    return PLMM_OK;
}

void plmm_sse_finish(plmm_sse_parser *p, bool *pending)
{
    if (pending != NULL)
        *pending = p->line_len > 0 || p->has_data;
    p->line_len = 0;
    p->data_len = 0;
    p->has_data = false;
    p->event[0] = '\0';
    p->skip_lf = false;
}
