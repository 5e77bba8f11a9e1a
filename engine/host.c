/*
 * Host services handed to each plugin instance (plmm_host_api): logging
 * into the engine's log sink, a per-instance error message, aligned
 * allocation, a monotonic clock and the CPU facts. host_ctx is the
 * instance's plmm_host_slot, so nothing here is shared between instances.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void host_log(void *host_ctx, int level, const char *msg)
{
    plmm_host_slot *slot = host_ctx;
    char line[PLMM_HOST_ERRMSG_MAX + 64];
    if (slot == NULL || slot->log == NULL)
        return;
    if (level < PLMM_LOG_ERROR)
        level = PLMM_LOG_ERROR;
    if (level > PLMM_LOG_DEBUG)
        level = PLMM_LOG_DEBUG;
    snprintf(line, sizeof(line), "%s: %s", slot->name != NULL ? slot->name : "plugin",
             msg != NULL ? msg : "");
    slot->log(slot->log_user, level, line);
}

static void host_set_error(void *host_ctx, const char *msg)
{
    plmm_host_slot *slot = host_ctx;
    if (slot != NULL)
        snprintf(slot->errmsg, sizeof(slot->errmsg), "%s", msg != NULL ? msg : "");
}

static void *host_alloc(void *host_ctx, size_t size, size_t align)
{
    void *p = NULL;
    (void)host_ctx;
    if (align == 0 || (align & (align - 1)) != 0)
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, size != 0 ? size : 1) != 0)
        return NULL;
    return p;
}

static void host_free(void *host_ctx, void *ptr)
{
    (void)host_ctx;
    free(ptr);
}

static uint64_t host_now_ns(void *host_ctx)
{
    struct timespec ts;
    (void)host_ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void plmm_host_api_init(plmm_host_api *api, plmm_host_slot *slot, uint64_t cpu_features,
                        uint32_t n_cpus)
{
    *api = (plmm_host_api){
        .struct_size = sizeof(plmm_host_api),
        .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
        .host_ctx = slot,
        .log = host_log,
        .set_error = host_set_error,
        .alloc = host_alloc,
        .free = host_free,
        .now_ns = host_now_ns,
        .cpu_features = cpu_features,
        .n_cpus = n_cpus,
    };
}
