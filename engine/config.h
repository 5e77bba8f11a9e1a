/*
 * Configuration: an INI file (plmm.ini) validated against schema tables,
 * plus command-line overrides.
 *
 * Every key of the engine's own sections is declared in config_schema.c
 * (type, default, range or choices, one line of help); docs/configuration.md
 * is generated from those tables. Sections named after a plugin
 * ([backend.NAME]) are kept as raw text with their file and line until the
 * plugin's own schema is known; plmm_config_plugin_options() validates them
 * then.
 *
 * Errors name where the bad text came from, "FILE:LINE: message" (or
 * "command line: message" for overrides), through plmm_last_errmsg(). A
 * load or override that fails leaves the configuration unchanged.
 */
#ifndef PLMM_ENGINE_CONFIG_H
#define PLMM_ENGINE_CONFIG_H

#include "plmm/types.h"

#include <stdio.h>

typedef struct plmm_config plmm_config;

/* Source name of overrides in messages. */
#define PLMM_CONFIG_CMDLINE "command line"

/* ---- schema (config_schema.c) ---- */

/* One section of the configuration file. */
typedef struct plmm_config_section_def {
    /* "engine"; or a family of plugin sections when it ends in '.'
     * ("backend." covers [backend.cpu], [backend.vulkan], ...) */
    const char *name;
    const char *help;               /* one paragraph for the docs */
    const plmm_option_schema *keys; /* NULL for plugin families */
    uint32_t n_keys;
} plmm_config_section_def;

/* All sections, in documentation order. */
const plmm_config_section_def *plmm_config_schema(uint32_t *n) PLMM_NONNULL(1);

/* The definition covering a section name, or NULL. */
const plmm_config_section_def *plmm_config_section_lookup(const char *section) PLMM_NONNULL(1);

/* Keys the engine defines for every section of a plugin family ("expert."
 * -> [expert.NAME]'s connector, share, ...), validated together with the
 * plugin's own keys when it loads; NULL (and *n = 0) when it has none. */
const plmm_option_schema *plmm_config_family_keys(const char *family, uint32_t *n)
    PLMM_NONNULL(1, 2);

/* Write the Markdown reference of every section and key (the generated part
 * of docs/configuration.md). */
PLMM_NODISCARD plmm_status plmm_config_write_reference(FILE *out) PLMM_NONNULL(1);

/* ---- typed values ---- */

/* "bool", "int", "float", "string", "enum", "path" or "?" */
const char *plmm_option_type_name(uint32_t type);

/*
 * Parse text as a value of opt. On success out->v.s (STRING, ENUM, PATH)
 * points into text and out->key is opt->key. On failure writes a message
 * such as "expected integer, got 'x'", "must be between 0 and 256, got 300"
 * or "must be one of a|b, got 'c'" into err and returns PLMM_ERR_CONFIG.
 */
PLMM_NODISCARD plmm_status plmm_option_parse(const plmm_option_schema *opt, const char *text,
                                             plmm_option_value *out, char *err, size_t err_size)
    PLMM_NONNULL(1, 2, 3, 4);

/* Check a schema declared by a plugin: keys present, unique and well formed,
 * known types, ENUM choices, defaults valid. Message into err on failure
 * (PLMM_ERR_PLUGIN). */
PLMM_NODISCARD plmm_status plmm_option_schema_check(const plmm_option_schema *opts, uint32_t n,
                                                    char *err, size_t err_size) PLMM_NONNULL(3);

/* A plugin, key or section-suffix name: letters, digits, '_' and '-'. */
bool plmm_option_valid_name(const char *s) PLMM_NONNULL(1);

/* The closest of n schema keys to a misspelled key, or NULL. */
const char *plmm_option_suggest(const char *word, const plmm_option_schema *opts, uint32_t n)
    PLMM_NONNULL(1);

/* ---- the configuration object ---- */

/* An empty configuration: every getter returns the schema default. */
PLMM_NODISCARD plmm_status plmm_config_create(plmm_config **out) PLMM_NONNULL(1);
/* NULL is ignored. */
void plmm_config_destroy(plmm_config *cfg);

/*
 * Replace the whole configuration with a file's content (overrides set
 * earlier are dropped: apply them after loading). On any error cfg keeps
 * its previous content. Relative PATH values are taken relative to the
 * file's directory.
 */
PLMM_NODISCARD plmm_status plmm_config_load_file(plmm_config *cfg, const char *path)
    PLMM_NONNULL(1, 2);
/* Same for text in memory; source names it in messages ("<string>" when
 * NULL). Relative paths stay relative to the working directory. */
PLMM_NODISCARD plmm_status plmm_config_load_string(plmm_config *cfg, const char *text,
                                                   const char *source) PLMM_NONNULL(1, 2);
/* Same for len bytes that need not be NUL-terminated. */
PLMM_NODISCARD plmm_status plmm_config_load_buffer(plmm_config *cfg, const char *data, size_t len,
                                                   const char *source) PLMM_NONNULL(1);

/*
 * Override one key from "section.key=value" (e.g. "engine.threads=4",
 * "backend.cpu.threads=2"), validated like the file; the source in messages
 * is "command line". Replaces a value from the file.
 */
PLMM_NODISCARD plmm_status plmm_config_set(plmm_config *cfg, const char *assignment)
    PLMM_NONNULL(1, 2);
/* Same with the parts split; source names the origin in messages (NULL:
 * "command line"). */
PLMM_NODISCARD plmm_status plmm_config_set_value(plmm_config *cfg, const char *section,
                                                 const char *key, const char *value,
                                                 const char *source) PLMM_NONNULL(1, 2, 3, 4);

/* ---- getters ----
 * For keys of the engine's own sections. cfg may be NULL (defaults only).
 * PLMM_OK: *out is the configured value or else the schema default.
 * PLMM_ERR_NOT_FOUND: not configured and no default (e.g. engine.model).
 * PLMM_ERR_INVALID_ARG: the key is not in the schema or has another type
 * (a bug in the caller). get_float also reads INT keys; get_string reads
 * any key as written (PATH: resolved against the file's directory). */

PLMM_NODISCARD plmm_status plmm_config_get_bool(const plmm_config *cfg, const char *section,
                                                const char *key, bool *out) PLMM_NONNULL(2, 3, 4);
PLMM_NODISCARD plmm_status plmm_config_get_int(const plmm_config *cfg, const char *section,
                                               const char *key, int64_t *out) PLMM_NONNULL(2, 3, 4);
PLMM_NODISCARD plmm_status plmm_config_get_float(const plmm_config *cfg, const char *section,
                                                 const char *key, double *out)
    PLMM_NONNULL(2, 3, 4);
/* *out is borrowed from cfg (valid until the next load/set/destroy) or the
 * schema. */
PLMM_NODISCARD plmm_status plmm_config_get_string(const plmm_config *cfg, const char *section,
                                                  const char *key, const char **out)
    PLMM_NONNULL(2, 3, 4);
/* ENUM keys: index of the value among the choices ("f16|f32": f32 -> 1). */
PLMM_NODISCARD plmm_status plmm_config_get_enum(const plmm_config *cfg, const char *section,
                                                const char *key, uint32_t *out)
    PLMM_NONNULL(2, 3, 4);

/* True when the key was set by the file or an override (not a default). */
bool plmm_config_is_set(const plmm_config *cfg, const char *section, const char *key)
    PLMM_NONNULL(2, 3);

/* Where a set key came from: source (file path or "command line") and line
 * (0 for overrides). False when the key is not set. */
bool plmm_config_origin(const plmm_config *cfg, const char *section, const char *key,
                        const char **source, uint32_t *line) PLMM_NONNULL(2, 3);

/* Directory of the file that set the key, against which relative paths in
 * its value are resolved; NULL for overrides, strings and unset keys. */
const char *plmm_config_base_dir(const plmm_config *cfg, const char *section, const char *key)
    PLMM_NONNULL(2, 3);

/* Sections present in the loaded text or created by overrides, in order of
 * first appearance (cfg may be NULL: 0). */
uint32_t plmm_config_section_count(const plmm_config *cfg);
/* Name of section i; source and line (may be NULL) tell where it appeared. */
const char *plmm_config_section_at(const plmm_config *cfg, uint32_t i, const char **source,
                                   uint32_t *line) PLMM_NONNULL(1);

/*
 * Validate a plugin's section ("backend.cpu") against the plugin's schema
 * and return one value per schema key that is set or has a default, in
 * schema order (keys and strings are copies inside the same allocation).
 * cfg may be NULL (defaults only). Errors: PLMM_ERR_CONFIG with
 * "FILE:LINE: unknown key 'x' in [backend.cpu] (did you mean 'y'?)" or
 * "FILE:LINE: backend.cpu.threads: must be between 1 and 64, got 0";
 * PLMM_ERR_PLUGIN when a default of the schema itself is invalid.
 * out: owned, free with plmm_option_values_free (NULL when *n_out is 0).
 */
PLMM_NODISCARD plmm_status plmm_config_plugin_options(const plmm_config *cfg, const char *section,
                                                      const plmm_option_schema *schema,
                                                      uint32_t n_schema, plmm_option_value **out,
                                                      uint32_t *n_out) PLMM_NONNULL(2, 5, 6);
/* NULL is ignored. */
void plmm_option_values_free(plmm_option_value *values);

#endif
