/*
 * Expert plugins for test-expert-host, good and deliberately broken. One
 * source, one shared module per variant (-DVARIANT=...):
 *
 *   GOOD        connectors local|openai, one own option, a check that
 *               fails answers containing "WRONG" and warns on "MAYBE"
 *   NEWER       built for ABI 1.9 with a larger descriptor
 *   OLDVTBL     vtable ends after shutdown (no check); the field past it
 *               holds a function that aborts if called
 *   ABI2        descriptor says expert ABI 2.0
 *   NAME        descriptor name differs from the manifest's
 *   NOSIGNALS   no routing signals
 *   BADPHRASE   a routing signal with uppercase letters and double spaces
 *   BADWEIGHT   a routing signal of weight 0
 *   NOCONN      declares no connector kind
 *   NOINIT      vtable without init
 *   OWNKEY      declares an option named like an engine key ("share")
 *   INITFAIL    init fails with a message
 *   BADVERDICT  check returns verdict 7
 *   CHECKERR    check returns an error with a message
 *   OPENAIONLY  accepts only the openai connector
 */
#include "plmm/expert.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOOD 1
#define NEWER 2
#define OLDVTBL 3
#define ABI2 4
#define NAME 5
#define NOSIGNALS 6
#define BADPHRASE 7
#define BADWEIGHT 8
#define NOCONN 9
#define NOINIT 10
#define OWNKEY 11
#define INITFAIL 12
#define BADVERDICT 13
#define CHECKERR 14
#define OPENAIONLY 15

#ifndef VARIANT
#error "VARIANT must be set"
#endif
#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be set"
#endif

struct plmm_expert_ctx {
    const plmm_host_api *host;
    char tone[32];
};

static plmm_status t_init(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                          plmm_expert_ctx **out)
{
#if VARIANT == INITFAIL
    (void)opts;
    (void)n_opts;
    (void)out;
    return plmm_sdk_error(host, PLMM_ERR_CONFIG, "vocabulary file 'x.txt' is missing");
#else
    plmm_expert_ctx *c = host->alloc(host->host_ctx, sizeof(*c), 16);
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    /* only the plugin's own keys arrive here */
    for (uint32_t i = 0; i < n_opts; i++) {
        if (strcmp(opts[i].key, "tone") != 0) {
            host->free(host->host_ctx, c);
            return plmm_sdk_error(host, PLMM_ERR_INTERNAL, "unexpected option '%s'", opts[i].key);
        }
    }
    const plmm_option_value *v = plmm_sdk_option(opts, n_opts, "tone");
    snprintf(c->tone, sizeof(c->tone), "%s", v != NULL ? v->v.s : "-");
    *out = c;
    return PLMM_OK;
#endif
}

static void t_shutdown(plmm_expert_ctx *ctx)
{
    if (ctx != NULL)
        ctx->host->free(ctx->host->host_ctx, ctx);
}

static plmm_status t_check(plmm_expert_ctx *ctx, const char *question, const char *answer,
                           plmm_check_result *out)
{
    (void)question;
#if VARIANT == BADVERDICT
    (void)ctx;
    (void)answer;
    out->verdict = 7;
    return PLMM_OK;
#elif VARIANT == CHECKERR
    (void)answer;
    (void)out;
    return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "no memory for the number table");
#else
    if (strstr(answer, "WRONG") != NULL) {
        out->verdict = PLMM_CHECK_FAIL;
        snprintf(out->message, sizeof(out->message), "answer is wrong (tone %s)", ctx->tone);
    } else if (strstr(answer, "MAYBE") != NULL) {
        out->verdict = PLMM_CHECK_WARN;
        snprintf(out->message, sizeof(out->message), "answer is unsure");
    } else {
        out->verdict = PLMM_CHECK_PASS;
    }
    return PLMM_OK;
#endif
}

/* keeps t_init and t_check referenced in the variants that do not install them */
const uintptr_t test_expert_refs[2] = {(uintptr_t)t_init, (uintptr_t)t_check};

#if VARIANT == OLDVTBL
static plmm_status poison_check(plmm_expert_ctx *ctx, const char *q, const char *a,
                                plmm_check_result *out)
{
    (void)ctx;
    (void)q;
    (void)a;
    (void)out;
    abort(); /* the host must not read past struct_size */
}
#endif

static const plmm_expert_vtbl vtbl = {
#if VARIANT == OLDVTBL
    .struct_size = offsetof(plmm_expert_vtbl, check),
    .check = poison_check,
#elif VARIANT == NOINIT
    .struct_size = sizeof(plmm_expert_vtbl),
    .check = t_check,
#else
    .struct_size = sizeof(plmm_expert_vtbl),
    .check = t_check,
#endif
    .abi_version = PLMM_ABI_VERSION(PLMM_EXPERT_ABI_MAJOR, PLMM_EXPERT_ABI_MINOR),
#if VARIANT != NOINIT
    .init = t_init,
#else
    .init = NULL,
#endif
    .shutdown = t_shutdown,
};

static const plmm_option_schema options[] = {
#if VARIANT == OWNKEY
    {"share", PLMM_OPT_STRING, 0, NULL, 1, 0, NULL, "clashes with the engine's key"},
#else
    {"tone", PLMM_OPT_ENUM, 0, "plain", 1, 0, "plain|formal", "how answers are phrased"},
#endif
};

static const plmm_routing_signal signals[] = {
#if VARIANT == BADPHRASE
    {"Gardening  Tools", 1.0f, 0},
#elif VARIANT == BADWEIGHT
    {"compost", 0.0f, 0},
#else
    {"compost", 2.0f, 0},
    {"garden*", 1.0f, 0},
    {"raised bed", 2.5f, 0},
#endif
};

static const char *const examples[] = {"How do I start a compost heap?",
                                       "What grows well in a raised bed?"};

static const struct {
    plmm_expert_desc d;
    const void *future[2];
} desc = {
    .d =
        {
#if VARIANT == NEWER
            .struct_size = sizeof(desc),
            .abi_minor = 9,
#else
            .struct_size = sizeof(plmm_expert_desc),
            .abi_minor = PLMM_EXPERT_ABI_MINOR,
#endif
#if VARIANT == ABI2
            .abi_major = 2,
#else
            .abi_major = PLMM_EXPERT_ABI_MAJOR,
#endif
            .kind = PLMM_PLUGIN_EXPERT,
#if VARIANT == NOCONN
            .connectors = 0,
#elif VARIANT == OPENAIONLY
            .connectors = PLMM_EXPERT_CONNECTOR_OPENAI,
#else
            .connectors = PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI,
#endif
#if VARIANT == NAME
            .name = "someone-else",
#else
            .name = PLUGIN_NAME,
#endif
            .version = "0.2.0",
            .summary = "gardening: soil, compost, planting",
            .system_prompt = "You are a gardening expert.",
            .examples = examples,
            .n_examples = 2,
#if VARIANT == NOSIGNALS
            .n_signals = 0,
            .signals = NULL,
            .reserved = sizeof(signals) > 0 ? 0 : 1, /* keeps the table referenced */
#else
            .n_signals = sizeof(signals) / sizeof(signals[0]),
            .signals = signals,
#endif
            .options = options,
            .n_options = 1,
            .vtbl = &vtbl,
        },
    .future = {&desc, &desc},
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &desc.d;
}
