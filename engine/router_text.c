/*
 * A growable text for the router's explanations and notices. An allocation
 * failure is remembered (router_text.failed) instead of reported at each
 * append; the owner checks it once at the end.
 */
#include "router_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(router_text *t, size_t extra)
{
    if (t->failed)
        return false;
    if (t->len + extra + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *s = realloc(t->s, cap);
    if (s == NULL) {
        t->failed = true;
        return false;
    }
    t->s = s;
    t->cap = cap;
    return true;
}

void router_text_addn(router_text *t, const char *s, size_t n)
{
    if (!reserve(t, n))
        return;
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

void router_text_add(router_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

char *router_text_take(router_text *t)
{
    if (t->failed || !reserve(t, 0)) {
        router_text_free(t);
        return NULL;
    }
    t->s[t->len] = '\0';
    char *s = t->s;
    *t = (router_text){0};
    return s;
}

void router_text_free(router_text *t)
{
    free(t->s);
    *t = (router_text){0};
}
