/*
 * Streaming restore: answers arrive in pieces, and a placeholder such as
 * "<EMAIL_1>" may be split across them ("<EM", "AIL_", "1>"). The restorer
 * holds back the shortest tail that could still become a placeholder and
 * restores everything before it.
 */
#include "errors.h"
#include "privacy_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Longest text a placeholder can take: "<" + spaces + 16 letters + "_" + 9 digits + spaces + ">".
 */
#define MAX_HOLD 48

struct plmm_restorer {
    const plmm_privacy *privacy;
    char *pending; /* text not yet restored */
    size_t n, cap;
    char *out; /* last result */
};

PLMM_EXPORT plmm_status plmm_restorer_create(const plmm_privacy *privacy, plmm_restorer **out)
{
    if (privacy == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    plmm_restorer *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory");
    r->privacy = privacy;
    *out = r;
    return PLMM_OK;
}

static void wipe_out(plmm_restorer *r)
{
    if (r->out != NULL) {
        sodium_memzero(r->out, strlen(r->out));
        free(r->out);
        r->out = NULL;
    }
}

PLMM_EXPORT void plmm_restorer_destroy(plmm_restorer *r)
{
    if (r == NULL)
        return;
    wipe_out(r);
    if (r->pending != NULL)
        sodium_memzero(r->pending, r->cap);
    free(r->pending);
    free(r);
}

/* Could t[0..n) (starting with '<') grow into a placeholder? */
static bool could_be_placeholder(const char *t, size_t n)
{
    if (n > MAX_HOLD)
        return false;
    size_t i = 1;
    while (i < n && t[i] == ' ')
        i++;
    size_t letters = 0;
    while (i < n && ((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) {
        i++;
        letters++;
    }
    if (i == n)
        return letters <= 16;
    if (t[i] != '_' || letters == 0)
        return false;
    i++;
    while (i < n && t[i] >= '0' && t[i] <= '9')
        i++;
    while (i < n && t[i] == ' ')
        i++;
    return i == n;
}

/* Restore pending[0..upto) into r->out and keep the rest. */
static plmm_status emit(plmm_restorer *r, size_t upto, const char **out, size_t *out_len)
{
    wipe_out(r);
    plmm_status s =
        plmm_privacy_restore(r->privacy, r->pending != NULL ? r->pending : "", upto, &r->out);
    if (s != PLMM_OK)
        return s;
    memmove(r->pending, r->pending + upto, r->n - upto);
    sodium_memzero(r->pending + (r->n - upto), upto);
    r->n -= upto;
    *out = r->out;
    *out_len = strlen(r->out);
    return PLMM_OK;
}

PLMM_EXPORT plmm_status plmm_restorer_feed(plmm_restorer *r, const char *piece, size_t len,
                                           const char **out, size_t *out_len)
{
    if (r == NULL || (piece == NULL && len > 0) || out == NULL || out_len == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (r->n + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->n + len + 1)
            cap *= 2;
        char *p = malloc(cap);
        if (p == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "out of memory");
        if (r->pending != NULL) {
            memcpy(p, r->pending, r->n);
            sodium_memzero(r->pending, r->cap);
            free(r->pending);
        }
        r->pending = p;
        r->cap = cap;
    }
    if (len > 0)
        memcpy(r->pending + r->n, piece, len);
    r->n += len;
    /* Hold back from the last '<' that may start an unfinished placeholder. */
    size_t cut = r->n;
    size_t from = r->n > MAX_HOLD ? r->n - MAX_HOLD : 0;
    for (size_t i = r->n; i > from; i--) {
        if (r->pending[i - 1] == '<') {
            if (could_be_placeholder(r->pending + i - 1, r->n - (i - 1)))
                cut = i - 1;
            break;
        }
    }
    return emit(r, cut, out, out_len);
}

PLMM_EXPORT plmm_status plmm_restorer_finish(plmm_restorer *r, const char **out, size_t *out_len)
{
    if (r == NULL || out == NULL || out_len == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "NULL argument");
    if (r->pending == NULL) {
        *out = "";
        *out_len = 0;
        return PLMM_OK;
    }
    return emit(r, r->n, out, out_len);
}
