/*
 * Plugin host: discovery of plugin manifests, on-demand loading with ABI
 * checks, backend instances with their host-services tables, and the CPU
 * facts the host hands to plugins.
 *
 * One registry per engine; nothing here is process-global. A registry is
 * safe to use from several threads (loads and instance changes are
 * serialized by a mutex); the log callback may be called from any thread
 * a plugin logs from.
 */
#ifndef PLMM_ENGINE_REGISTRY_H
#define PLMM_ENGINE_REGISTRY_H

#include "config.h"
#include "plmm/backend.h"
#include "plmm/expert.h"

/* ---- CPU facts (cpu_features.c) ---- */

/* PLMM_CPU_* bits of this machine (cpuid + OS support on x86,
 * getauxval(AT_HWCAP) on ARM); 0 elsewhere. */
uint64_t plmm_cpu_features_detect(void);
/* Online logical CPUs (at least 1). */
uint32_t plmm_cpu_count(void);
/* This build's architecture, as meson's cpu_family names it ("x86_64",
 * "aarch64", ...); manifests use the same names in `arch`. */
const char *plmm_cpu_arch(void);
/* "avx2 fma f16c ..." into buf (always NUL-terminated); returns buf. */
const char *plmm_cpu_features_str(uint64_t features, char *buf, size_t size) PLMM_NONNULL(2);

/* ---- manifests (manifest.c) ---- */

#define PLMM_MANIFEST_FORMAT_VERSION 1

/*
 * NAME.plugin, read before any plugin code runs:
 *
 *   [plugin]
 *   file_format_version = 1
 *   kind = backend              ; backend | expert
 *   name = cpu                  ; letters, digits, '_', '-'
 *   library = plmm-cpu.so       ; relative to the manifest's directory (or absolute)
 *   abi_major = 1
 *   abi_minor = 0               ; optional, default 0
 *   device_type = cpu           ; optional: cpu | gpu | npu | accel
 *   arch = x86_64               ; optional: meson cpu_family, or "any"
 *   description = ...           ; optional
 */
typedef struct plmm_manifest {
    char *path; /* the .plugin file */
    char *name;
    char *library;      /* as written */
    char *library_path; /* resolved against the manifest's directory */
    char *arch;         /* "any" when not given */
    char *description;  /* "" when not given */
    uint32_t file_format_version;
    uint32_t kind;        /* plmm_plugin_kind */
    uint32_t device_type; /* plmm_device_type, 0 = not given */
    uint32_t abi_major;
    uint32_t abi_minor;
} plmm_manifest;

/* Read and validate a manifest. Errors (PLMM_ERR_CONFIG, PLMM_ERR_IO,
 * PLMM_ERR_NOMEM) read "PATH:LINE: message" or "PATH: message". On error
 * out is left empty. */
PLMM_NODISCARD plmm_status plmm_manifest_read(const char *path, plmm_manifest *out)
    PLMM_NONNULL(1, 2);
/* Free the strings of a manifest (the struct itself is the caller's). */
void plmm_manifest_clear(plmm_manifest *m);

/* "backend", "expert" or "unknown" */
const char *plmm_plugin_kind_name(uint32_t kind);
/* "cpu", "gpu", "npu", "accel" or "unknown" */
const char *plmm_device_type_name(uint32_t type);

/* ---- host services (host.c) ---- */

/* The engine's log sink: one line, no trailing newline. */
typedef void (*plmm_log_fn)(void *user, int level, const char *msg);

#define PLMM_HOST_ERRMSG_MAX 1024

/* What the host keeps per plugin instance; its address is the host_ctx. */
typedef struct plmm_host_slot {
    plmm_log_fn log; /* may be NULL */
    void *log_user;
    const char *name;                  /* borrowed: plugin name, prefixes log lines */
    char errmsg[PLMM_HOST_ERRMSG_MAX]; /* last host->set_error text */
} plmm_host_slot;

/* Fill a host-services table whose host_ctx is slot. */
void plmm_host_api_init(plmm_host_api *api, plmm_host_slot *slot, uint64_t cpu_features,
                        uint32_t n_cpus) PLMM_NONNULL(1, 2);

/* ---- the registry (registry.c) ---- */

typedef struct plmm_registry plmm_registry;
typedef struct plmm_backend_inst plmm_backend_inst;

typedef enum plmm_plugin_state {
    PLMM_PLUGIN_DISCOVERED = 0, /* manifest read, no code loaded */
    PLMM_PLUGIN_LOADED = 1,     /* library loaded and its descriptor accepted */
    PLMM_PLUGIN_FAILED = 2,     /* refused or broken; see reason */
} plmm_plugin_state;

/* One discovered plugin. Stays valid (and updated) until registry destroy. */
typedef struct plmm_plugin_info {
    const plmm_manifest *manifest;
    plmm_plugin_state state;
    plmm_status status;             /* of the failure, PLMM_OK otherwise */
    const char *reason;             /* why FAILED ("plugin 'x': ..."), "" otherwise */
    const plmm_backend_desc *desc;  /* LOADED backends: the accepted descriptor */
    uint32_t n_instances;           /* live backend instances */
    const plmm_expert_desc *expert; /* LOADED experts: the accepted descriptor */
} plmm_plugin_info;

/* plmm_registry_opts.flags (for tests and tools) */
#define PLMM_REGISTRY_NO_ENV 0x1u         /* ignore PLMM_PLUGIN_PATH */
#define PLMM_REGISTRY_NO_INSTALL_DIR 0x2u /* skip PLMM_PLUGIN_INSTALL_DIR */

typedef struct plmm_registry_opts {
    /* borrowed, may be NULL; must outlive the registry. Supplies
     * engine.plugin_path and the [backend.NAME] options. */
    const plmm_config *config;
    plmm_log_fn log; /* may be NULL */
    void *log_user;
    uint32_t flags; /* PLMM_REGISTRY_* */
} plmm_registry_opts;

/*
 * Create a registry and scan for manifests, in this order: the directories
 * of PLMM_PLUGIN_PATH (colon-separated; ignored in set-uid/set-gid
 * processes, getauxval(AT_SECURE)), engine.plugin_path, then
 * PLMM_PLUGIN_INSTALL_DIR. Within a directory, *.plugin files are read in
 * byte order of their names; the first manifest of a name wins. Malformed
 * manifests and later duplicates are skipped and reported as problems (and
 * logged as warnings); they do not make this call fail. Manifests for
 * another architecture are listed as FAILED. Loads no plugin code.
 * opts may be NULL.
 */
PLMM_NODISCARD plmm_status plmm_registry_create(const plmm_registry_opts *opts, plmm_registry **out)
    PLMM_NONNULL(2);
/* Shuts down instances still alive, then unloads every library. NULL is
 * ignored. */
void plmm_registry_destroy(plmm_registry *reg);

/* Discovered plugins, in discovery order. */
uint32_t plmm_registry_count(const plmm_registry *reg) PLMM_NONNULL(1);
const plmm_plugin_info *plmm_registry_at(const plmm_registry *reg, uint32_t i) PLMM_NONNULL(1);
/* NULL when no plugin has that name. */
const plmm_plugin_info *plmm_registry_find(const plmm_registry *reg, const char *name)
    PLMM_NONNULL(1, 2);

/* Directories scanned, in order (existing or not). */
uint32_t plmm_registry_dir_count(const plmm_registry *reg) PLMM_NONNULL(1);
const char *plmm_registry_dir_at(const plmm_registry *reg, uint32_t i) PLMM_NONNULL(1);

/* Problems found while scanning ("PATH:LINE: message", duplicates, unreadable
 * directories). */
uint32_t plmm_registry_problem_count(const plmm_registry *reg) PLMM_NONNULL(1);
const char *plmm_registry_problem_at(const plmm_registry *reg, uint32_t i) PLMM_NONNULL(1);

/*
 * Load a plugin's library and check its descriptor without creating an
 * instance (for `plmm backends`: manifest + descriptor + caps; for experts:
 * the domain description). On success the info is LOADED and info->desc
 * (backend) or info->expert (expert) is set; the library stays
 * loaded until registry destroy. A failure is remembered (state FAILED,
 * reason) and returned again on later calls. *info (may be NULL) is set
 * whenever the plugin exists, also on failure.
 * Errors: PLMM_ERR_NOT_FOUND, PLMM_ERR_ABI, PLMM_ERR_PLUGIN,
 * PLMM_ERR_UNSUPPORTED (score() = 0), with the reason in
 * plmm_last_errmsg().
 */
PLMM_NODISCARD plmm_status plmm_registry_load(plmm_registry *reg, const char *name,
                                              const plmm_plugin_info **info) PLMM_NONNULL(1, 2);

/* Check an expert descriptor (expert ABI v1) against its manifest: the
 * header was read already; message ("plugin 'x': ...") into why
 * (expert_desc.c). */
PLMM_NODISCARD plmm_status plmm_expert_desc_check(const plmm_manifest *m, const void *raw,
                                                  char *why, size_t n) PLMM_NONNULL(1, 2, 3);

/* Every [backend.NAME] section of the configuration must name a discovered
 * backend: else PLMM_ERR_CONFIG "FILE:LINE: [backend.x]: no backend plugin
 * named 'x' was found". */
PLMM_NODISCARD plmm_status plmm_registry_check_config(const plmm_registry *reg) PLMM_NONNULL(1);

/* ---- backend instances ---- */

/*
 * Load the plugin if needed, validate [backend.NAME] against its option
 * schema, build a host-services table for the instance and call init.
 * Errors: those of plmm_registry_load; PLMM_ERR_CONFIG for bad options
 * (the plugin stays usable); the plugin's own status when init fails, with
 * "plugin 'x': init failed: <the plugin's message>" (the plugin is then
 * FAILED unless other instances of it are alive).
 */
PLMM_NODISCARD plmm_status plmm_backend_inst_create(plmm_registry *reg, const char *name,
                                                    plmm_backend_inst **out) PLMM_NONNULL(1, 2, 3);
/* Shut the instance down (vtbl->shutdown). NULL is ignored. */
void plmm_backend_inst_destroy(plmm_backend_inst *inst);

const char *plmm_backend_inst_name(const plmm_backend_inst *inst) PLMM_NONNULL(1);
const plmm_backend_desc *plmm_backend_inst_desc(const plmm_backend_inst *inst) PLMM_NONNULL(1);
const plmm_backend_vtbl *plmm_backend_inst_vtbl(const plmm_backend_inst *inst) PLMM_NONNULL(1);
plmm_backend_ctx *plmm_backend_inst_ctx(const plmm_backend_inst *inst) PLMM_NONNULL(1);
const plmm_host_api *plmm_backend_inst_host(const plmm_backend_inst *inst) PLMM_NONNULL(1);
/* The text of the plugin's last host->set_error ("" when none). */
const char *plmm_backend_inst_errmsg(const plmm_backend_inst *inst) PLMM_NONNULL(1);
/* The same for callers that hold the instance as `const void *` (the
 * scheduler's errmsg callback), without casting function pointers. */
const char *plmm_backend_inst_errmsg_cb(const void *inst) PLMM_NONNULL(1);
/* After a vtable call returned status < 0: record "backend 'x': <plugin
 * message or status text>" in plmm_last_errmsg(), clear the plugin's
 * message and return status. */
PLMM_NODISCARD plmm_status plmm_backend_inst_fail(plmm_backend_inst *inst, plmm_status status)
    PLMM_NONNULL(1);

#endif
