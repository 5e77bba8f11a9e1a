/*
 * Plugin manifests (NAME.plugin): INI files describing a plugin, read and
 * validated without loading its library, so plugins can be listed and
 * filtered (kind, ABI, architecture) before any plugin code runs.
 */
#include "config_ini.h"
#include "errors.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    K_FORMAT,
    K_KIND,
    K_NAME,
    K_LIBRARY,
    K_ABI_MAJOR,
    K_ABI_MINOR,
    K_DEVICE_TYPE,
    K_ARCH,
    K_DESCRIPTION,
    K_COUNT
};

#define NO_RANGE 1, 0

static const plmm_option_schema manifest_keys[K_COUNT] = {
    [K_FORMAT] = {"file_format_version", PLMM_OPT_INT, 0, NULL, NO_RANGE, NULL,
                  "manifest format, 1"},
    [K_KIND] = {"kind", PLMM_OPT_ENUM, 0, NULL, NO_RANGE, "backend|expert", "plugin kind"},
    [K_NAME] = {"name", PLMM_OPT_STRING, 0, NULL, NO_RANGE, NULL, "plugin name"},
    [K_LIBRARY] = {"library", PLMM_OPT_PATH, 0, NULL, NO_RANGE, NULL,
                   "shared object, relative to the manifest"},
    [K_ABI_MAJOR] = {"abi_major", PLMM_OPT_INT, 0, NULL, 0, 65535, NULL, "ABI major"},
    [K_ABI_MINOR] = {"abi_minor", PLMM_OPT_INT, 0, "0", 0, 65535, NULL, "ABI minor"},
    [K_DEVICE_TYPE] = {"device_type", PLMM_OPT_ENUM, 0, NULL, NO_RANGE, "cpu|gpu|npu|accel",
                       "device type"},
    [K_ARCH] = {"arch", PLMM_OPT_STRING, 0, "any", NO_RANGE, NULL, "CPU architecture"},
    [K_DESCRIPTION] = {"description", PLMM_OPT_STRING, 0, "", NO_RANGE, NULL, "one line"},
};

static const int required[] = {K_FORMAT, K_KIND, K_NAME, K_LIBRARY, K_ABI_MAJOR};

typedef struct manifest_parse {
    char *value[K_COUNT];
    uint32_t line[K_COUNT];
    plmm_option_value parsed[K_COUNT];
    bool oom;
} manifest_parse;

const char *plmm_plugin_kind_name(uint32_t kind)
{
    switch (kind) {
    case PLMM_PLUGIN_BACKEND:
        return "backend";
    case PLMM_PLUGIN_EXPERT:
        return "expert";
    default:
        return "unknown";
    }
}

const char *plmm_device_type_name(uint32_t type)
{
    switch (type) {
    case PLMM_DEVICE_CPU:
        return "cpu";
    case PLMM_DEVICE_GPU:
        return "gpu";
    case PLMM_DEVICE_NPU:
        return "npu";
    case PLMM_DEVICE_ACCEL:
        return "accel";
    default:
        return "unknown";
    }
}

static plmm_status on_section(void *user, const char *name, uint32_t line, char *err,
                              size_t err_size)
{
    (void)user;
    (void)line;
    if (strcmp(name, "plugin") != 0) {
        snprintf(err, err_size, "unknown section [%s] (a manifest has only [plugin])", name);
        return PLMM_ERR_CONFIG;
    }
    return PLMM_OK;
}

static plmm_status on_key(void *user, const char *section, const char *key, const char *value,
                          uint32_t line, char *err, size_t err_size)
{
    manifest_parse *mp = user;
    char msg[256];
    (void)section;
    int k = 0;
    while (k < K_COUNT && strcmp(manifest_keys[k].key, key) != 0)
        k++;
    if (k == K_COUNT) {
        const char *s = plmm_option_suggest(key, manifest_keys, K_COUNT);
        if (s != NULL)
            snprintf(err, err_size, "unknown key '%s' in [plugin] (did you mean '%s'?)", key, s);
        else
            snprintf(err, err_size, "unknown key '%s' in [plugin]", key);
        return PLMM_ERR_CONFIG;
    }
    if (mp->value[k] != NULL) {
        snprintf(err, err_size, "duplicate key '%s' in [plugin] (first set on line %u)", key,
                 (unsigned)mp->line[k]);
        return PLMM_ERR_CONFIG;
    }
    plmm_option_value v;
    if (plmm_option_parse(&manifest_keys[k], value, &v, msg, sizeof(msg)) != PLMM_OK) {
        snprintf(err, err_size, "%s: %s", key, msg);
        return PLMM_ERR_CONFIG;
    }
    if (k == K_FORMAT && v.v.i != PLMM_MANIFEST_FORMAT_VERSION) {
        snprintf(err, err_size,
                 "file_format_version: unsupported version %s (this engine reads %d)", value,
                 PLMM_MANIFEST_FORMAT_VERSION);
        return PLMM_ERR_CONFIG;
    }
    if (k == K_NAME && !plmm_option_valid_name(value)) {
        snprintf(err, err_size, "name: invalid plugin name '%s' (letters, digits, '_' and '-')",
                 value);
        return PLMM_ERR_CONFIG;
    }
    mp->value[k] = strdup(value);
    if (mp->value[k] == NULL) {
        mp->oom = true;
        snprintf(err, err_size, "out of memory");
        return PLMM_ERR_NOMEM;
    }
    mp->line[k] = line;
    return PLMM_OK;
}

void plmm_manifest_clear(plmm_manifest *m)
{
    if (m == NULL)
        return;
    free(m->path);
    free(m->name);
    free(m->library);
    free(m->library_path);
    free(m->arch);
    free(m->description);
    memset(m, 0, sizeof(*m));
}

/* Directory part of path joined with rel (rel returned as is when absolute). */
static char *join_dir(const char *path, const char *rel)
{
    if (rel[0] == '/')
        return strdup(rel);
    const char *slash = strrchr(path, '/');
    size_t dl = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    size_t rl = strlen(rel);
    char *p = malloc(dl + rl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, path, dl);
    memcpy(p + dl, rel, rl + 1);
    return p;
}

static char *take(manifest_parse *mp, int k)
{
    char *v = mp->value[k];
    mp->value[k] = NULL;
    if (v == NULL && manifest_keys[k].default_value != NULL) {
        v = strdup(manifest_keys[k].default_value);
        if (v == NULL)
            mp->oom = true;
    }
    return v;
}

plmm_status plmm_manifest_read(const char *path, plmm_manifest *out)
{
    manifest_parse mp = {0};
    plmm_ini_handlers h = {.section = on_section, .key = on_key, .user = &mp};
    char msg[64];
    memset(out, 0, sizeof(*out));
    plmm_status s = plmm_ini_parse_file(path, &h);
    if (s != PLMM_OK)
        goto out_free;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (mp.value[required[i]] == NULL) {
            s = plmm_err(PLMM_ERR_CONFIG, "%s: missing key '%s' in [plugin]", path,
                         manifest_keys[required[i]].key);
            goto out_free;
        }
    }
    for (int k = 0; k < K_COUNT; k++) {
        const char *text = mp.value[k] != NULL ? mp.value[k] : manifest_keys[k].default_value;
        if (text != NULL &&
            plmm_option_parse(&manifest_keys[k], text, &mp.parsed[k], msg, sizeof(msg)) != 0) {
            s = plmm_err(PLMM_ERR_INTERNAL, "%s: %s: %s", path, manifest_keys[k].key, msg);
            goto out_free;
        }
    }
    if (strcmp(mp.value[K_KIND], "expert") == 0 && mp.value[K_DEVICE_TYPE] != NULL) {
        s = plmm_err(PLMM_ERR_CONFIG,
                     "%s:%u: device_type: an expert runs on no device (only backends have one)",
                     path, (unsigned)mp.line[K_DEVICE_TYPE]);
        goto out_free;
    }
    out->file_format_version = (uint32_t)mp.parsed[K_FORMAT].v.i;
    out->kind = strcmp(mp.value[K_KIND], "backend") == 0 ? PLMM_PLUGIN_BACKEND : PLMM_PLUGIN_EXPERT;
    out->abi_major = (uint32_t)mp.parsed[K_ABI_MAJOR].v.i;
    out->abi_minor = (uint32_t)mp.parsed[K_ABI_MINOR].v.i;
    if (mp.value[K_DEVICE_TYPE] != NULL) {
        static const char *const types[] = {"cpu", "gpu", "npu", "accel"};
        for (uint32_t t = 0; t < 4; t++)
            if (strcmp(mp.value[K_DEVICE_TYPE], types[t]) == 0)
                out->device_type = PLMM_DEVICE_CPU + t;
    }
    out->path = strdup(path);
    out->library_path = join_dir(path, mp.value[K_LIBRARY]);
    out->name = take(&mp, K_NAME);
    out->library = take(&mp, K_LIBRARY);
    out->arch = take(&mp, K_ARCH);
    out->description = take(&mp, K_DESCRIPTION);
    if (mp.oom || out->path == NULL || out->library_path == NULL || out->name == NULL ||
        out->library == NULL || out->arch == NULL || out->description == NULL) {
        plmm_manifest_clear(out);
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory reading '%s'", path);
    }
out_free:
    for (int k = 0; k < K_COUNT; k++)
        free(mp.value[k]);
    return s;
}
