/*
 * plmm expert plugin ABI, version 1.
 *
 * An expert describes one domain (finance, IT, art, ...): what it covers,
 * the signals the router matches questions against, the system prompt its
 * E-model gets, and optional checks of the answers it returns. The E-model
 * itself is reached through a connector that the engine opens from the
 * expert's INI section ([expert.NAME] connector = local|openai, ...), so the
 * share policy, the outgoing-data scan, the audit log and metering are
 * enforced by the engine for every expert alike; a plugin never talks to
 * the network or loads a model itself.
 *
 * Like a backend, an expert ships a manifest (NAME.plugin, INI, with
 * `kind = expert`) beside its shared object and exports exactly one symbol:
 *
 *     PLMM_EXPORT const void *plmm_plugin_entry(void);
 *
 * returning a static const plmm_expert_desc and doing nothing else. The
 * engine reads struct_size, abi_major and abi_minor first, refuses another
 * major, accepts an older minor and reads only the fields inside
 * struct_size (PLMM_ABI_HAS). Work starts in vtbl->init and ends in
 * vtbl->shutdown.
 *
 * Options: the engine owns the keys every expert has (enabled, connector,
 * model, endpoint, share, price_per_1k_tokens, budget, timeout, ...; see
 * docs/configuration.md); desc->options declares the plugin's own extra
 * keys of [expert.NAME]. init receives the validated values of those extra
 * keys only.
 *
 * Errors: every call returns plmm_status; before returning an error the
 * plugin describes it with host->set_error(host->host_ctx, "message"). An
 * expert never aborts, exits or writes to stderr.
 *
 * Layouts are frozen below and recorded in tests/unit/test-abi-layout.c;
 * change them only by appending fields.
 */
#ifndef PLMM_EXPERT_H
#define PLMM_EXPERT_H

#include "plmm/backend.h" /* plmm_plugin_header, PLMM_PLUGIN_EXPERT, PLMM_ABI_HAS */
#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLMM_EXPERT_ABI_MAJOR 1
#define PLMM_EXPERT_ABI_MINOR 0

/* plmm_expert_desc.connectors: the connector kinds an expert accepts. */
#define PLMM_EXPERT_CONNECTOR_LOCAL 0x1u  /* GGUF model or LoRA adapter run by this engine */
#define PLMM_EXPERT_CONNECTOR_OPENAI 0x2u /* OpenAI-compatible HTTP server */

typedef struct plmm_expert_ctx plmm_expert_ctx;

/*
 * One routing signal: a keyword or phrase and how strongly it points at the
 * domain. phrase is lowercase words separated by single spaces; a word
 * ending in '*' matches any word it starts ("invest*" matches "investing",
 * "investment"). Questions are matched word by word after lowercasing and
 * splitting at anything but letters, digits, '+' and '#'. A signal counts
 * once per question. Weights are > 0: about 1 for a word the domain shares
 * with others, 2 to 3 for a term that alone identifies the domain.
 */
typedef struct plmm_routing_signal {
    const char *phrase;
    float weight;
    uint32_t reserved; /* 0 */
} plmm_routing_signal;

/* plmm_check_result.verdict */
typedef enum plmm_check_verdict {
    PLMM_CHECK_PASS = 0, /* nothing to report */
    PLMM_CHECK_WARN = 1, /* answer kept, message shown with it */
    PLMM_CHECK_FAIL = 2, /* answer rejected; the router may fall back */
} plmm_check_verdict;

#define PLMM_CHECK_MESSAGE_MAX 256

/* The outcome of one answer check. */
typedef struct plmm_check_result {
    uint32_t struct_size; /* set by the caller to sizeof(plmm_check_result) */
    uint32_t verdict;     /* plmm_check_verdict */
    /* NUL-terminated, lowercase, no trailing period; names what is wrong
     * ("no risk disclaimer", "code block 2 has no language tag"); may be
     * "" for a pass. */
    char message[PLMM_CHECK_MESSAGE_MAX];
} plmm_check_result;

/*
 * The vtable. Functions marked (optional) may be NULL; the engine calls
 * through plmm_expert_has() first.
 */
typedef struct plmm_expert_vtbl {
    uint32_t struct_size; /* sizeof(plmm_expert_vtbl) as the plugin was built */
    uint32_t abi_version; /* PLMM_ABI_VERSION(1, minor) */

    /* Create an instance. host: borrowed, valid until shutdown. opts:
     * validated values of the keys in desc->options (borrowed, only for
     * this call); keys absent from the INI carry their schema default.
     * out: set to the new context on success. */
    plmm_status (*init)(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                        plmm_expert_ctx **out);
    /* Release everything the context owns. NULL is ignored. */
    void (*shutdown)(plmm_expert_ctx *ctx);
    /* (optional) Check an answer of this expert's E-model to question
     * (both UTF-8, NUL-terminated, borrowed for the call). Fills out
     * (whose struct_size the caller set) with a verdict and a message.
     * Returns an error only when the check itself could not run (out of
     * memory); a bad answer is PLMM_OK with verdict FAIL. */
    plmm_status (*check)(plmm_expert_ctx *ctx, const char *question, const char *answer,
                         plmm_check_result *out);
    /* fields above: ABI 1.0 */
} plmm_expert_vtbl;

/* The descriptor returned by plmm_plugin_entry() of an expert plugin. */
typedef struct plmm_expert_desc {
    uint32_t struct_size; /* sizeof(plmm_expert_desc) as the plugin was built */
    uint16_t abi_major;   /* PLMM_EXPERT_ABI_MAJOR */
    uint16_t abi_minor;   /* PLMM_EXPERT_ABI_MINOR */
    uint32_t kind;        /* PLMM_PLUGIN_EXPERT */
    uint32_t connectors;  /* PLMM_EXPERT_CONNECTOR_* bits, at least one */
    const char *name;     /* equals the manifest's name */
    const char *version;  /* plugin version, "MAJOR.MINOR.PATCH" */
    const char *summary;  /* one line: what the domain covers */
    /* System prompt sent first to the E-model with every question. */
    const char *system_prompt;
    /* Typical questions of the domain (routing by similarity, docs). */
    const char *const *examples;
    uint32_t n_examples;
    uint32_t n_signals;
    const plmm_routing_signal *signals; /* n_signals entries, at least one */
    const plmm_option_schema *options;  /* the plugin's own keys of [expert.NAME] */
    uint32_t n_options;
    uint32_t reserved; /* 0 */
    const plmm_expert_vtbl *vtbl;
    /* fields above: ABI 1.0 */
} plmm_expert_desc;

/* True when the expert vtable holds a non-NULL function f. */
#define plmm_expert_has(vt, f) (PLMM_ABI_HAS(plmm_expert_vtbl, vt, f) && (vt)->f != NULL)

/* ---- ABI freeze (LP64) ---- */
#if UINTPTR_MAX == 0xffffffffffffffffu
PLMM_STATIC_ASSERT(sizeof(plmm_routing_signal) == 16, "ABI: plmm_routing_signal");
PLMM_STATIC_ASSERT(sizeof(plmm_check_result) == 8 + PLMM_CHECK_MESSAGE_MAX,
                   "ABI: plmm_check_result");
PLMM_STATIC_ASSERT(offsetof(plmm_expert_vtbl, check) == 8 + 2 * sizeof(void *),
                   "ABI: expert vtbl.check");
PLMM_STATIC_ASSERT(sizeof(plmm_expert_vtbl) == 8 + 3 * sizeof(void *), "ABI: plmm_expert_vtbl");
PLMM_STATIC_ASSERT(offsetof(plmm_expert_desc, name) == 16, "ABI: plmm_expert_desc.name");
PLMM_STATIC_ASSERT(offsetof(plmm_expert_desc, signals) == 64, "ABI: plmm_expert_desc.signals");
PLMM_STATIC_ASSERT(offsetof(plmm_expert_desc, vtbl) == 88, "ABI: plmm_expert_desc.vtbl");
PLMM_STATIC_ASSERT(sizeof(plmm_expert_desc) == 96, "ABI: plmm_expert_desc");
#endif

#ifdef __cplusplus
}
#endif

#endif /* PLMM_EXPERT_H */
