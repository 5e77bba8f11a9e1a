#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERRMSG_MAX 1024

static _Thread_local char errmsg[ERRMSG_MAX];

PLMM_EXPORT const char *plmm_status_str(plmm_status status)
{
    switch (status) {
    case PLMM_OK: return "ok";
    case PLMM_ERR_INVALID_ARG: return "invalid argument";
    case PLMM_ERR_NOMEM: return "out of memory";
    case PLMM_ERR_IO: return "i/o error";
    case PLMM_ERR_FORMAT: return "malformed data";
    case PLMM_ERR_UNSUPPORTED: return "not supported";
    case PLMM_ERR_ABI: return "plugin abi mismatch";
    case PLMM_ERR_NOT_FOUND: return "not found";
    case PLMM_ERR_CONFIG: return "invalid configuration";
    case PLMM_ERR_BACKEND: return "backend failure";
    case PLMM_ERR_RANGE: return "value out of range";
    case PLMM_ERR_PLUGIN: return "plugin failure";
    case PLMM_ERR_INTERNAL: return "internal error";
    case PLMM_ERR_TIMEOUT: return "timed out";
    case PLMM_ERR_CANCELLED: return "cancelled";
    case PLMM_ERR_AUTH: return "authentication failed";
    case PLMM_ERR_NETWORK: return "network error";
    case PLMM_ERR_DENIED: return "denied by policy";
    }
    return "unknown status";
}

PLMM_EXPORT const char *plmm_last_errmsg(void)
{
    return errmsg;
}

PLMM_EXPORT const char *plmm_version(void)
{
    return PLMM_VERSION;
}

plmm_status plmm_err(plmm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
    va_end(ap);
    return status;
}

plmm_status plmm_err_prefix(plmm_status status, const char *fmt, ...)
{
    char prefix[256], old[ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof(old));
    size_t n = strlen(prefix);
    memcpy(errmsg, prefix, n + 1);
    if (old[0] != '\0' && n + 2 < sizeof(errmsg)) {
        memcpy(errmsg + n, ": ", 2);
        size_t room = sizeof(errmsg) - n - 3;
        size_t m = strlen(old);
        if (m > room)
            m = room;
        memcpy(errmsg + n + 2, old, m);
        errmsg[n + 2 + m] = '\0';
    }
    return status;
}

void plmm_err_clear(void)
{
    errmsg[0] = '\0';
}
