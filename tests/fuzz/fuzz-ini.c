/*
 * Configuration loader fuzz target: load the input as INI text (with the
 * buffer loader, which also sees NUL bytes, and with the string loader)
 * over a known configuration, then check the loader's promises: a failed
 * load changes nothing and names its source, a successful one yields values
 * that every getter accepts within the schema's ranges, and plugin sections
 * validate against a schema without crashing. The first line is also tried
 * as a command-line override.
 */
#include "config.h"
#include "errors.h"
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Report a broken promise as a crash libFuzzer records. */
static void require(bool cond)
{
    if (!cond)
        abort();
}

static const plmm_option_schema plugin_schema[] = {
    {"threads", PLMM_OPT_INT, 0, "1", 1, 64, NULL, "workers"},
    {"mode", PLMM_OPT_ENUM, 0, "fast", 1, 0, "fast|exact", "kernels"},
    {"verbose", PLMM_OPT_BOOL, 0, "false", 1, 0, NULL, "chatty"},
    {"scale", PLMM_OPT_FLOAT, 0, NULL, 0, 2, NULL, "factor"},
    {"cache", PLMM_OPT_PATH, 0, NULL, 1, 0, NULL, "dir"},
};

/* Every key of the schema reads back as its type, inside its range. */
static void check_getters(const plmm_config *cfg)
{
    uint32_t n;
    const plmm_config_section_def *defs = plmm_config_schema(&n);
    for (uint32_t s = 0; s < n; s++) {
        for (uint32_t k = 0; k < defs[s].n_keys; k++) {
            const plmm_option_schema *o = &defs[s].keys[k];
            const char *text;
            plmm_status st = plmm_config_get_string(cfg, defs[s].name, o->key, &text);
            require(st == PLMM_OK || (st == PLMM_ERR_NOT_FOUND && o->default_value == NULL));
            if (st != PLMM_OK)
                continue;
            int64_t i;
            double f;
            bool b;
            uint32_t e;
            switch (o->type) {
            case PLMM_OPT_INT:
                require(plmm_config_get_int(cfg, defs[s].name, o->key, &i) == PLMM_OK);
                require(o->min > o->max || ((double)i >= o->min && (double)i <= o->max));
                break;
            case PLMM_OPT_FLOAT:
                require(plmm_config_get_float(cfg, defs[s].name, o->key, &f) == PLMM_OK);
                require(o->min > o->max || (f >= o->min && f <= o->max));
                break;
            case PLMM_OPT_BOOL:
                require(plmm_config_get_bool(cfg, defs[s].name, o->key, &b) == PLMM_OK);
                break;
            case PLMM_OPT_ENUM:
                require(plmm_config_get_enum(cfg, defs[s].name, o->key, &e) == PLMM_OK);
                break;
            default:
                require(strlen(text) < (1u << 20));
                break;
            }
        }
    }
    for (uint32_t i = 0; i < plmm_config_section_count(cfg); i++) {
        const char *sec = plmm_config_section_at(cfg, i, NULL, NULL);
        require(sec != NULL && plmm_config_section_lookup(sec) != NULL);
        if (strncmp(sec, "backend.", 8) != 0)
            continue;
        plmm_option_value *v = NULL;
        uint32_t nv = 0;
        plmm_status st = plmm_config_plugin_options(cfg, sec, plugin_schema, 5, &v, &nv);
        require((st == PLMM_OK && nv >= 3 && nv <= 5) || (st == PLMM_ERR_CONFIG && v == NULL));
        for (uint32_t j = 0; j < nv; j++)
            require(v[j].key != NULL);
        plmm_option_values_free(v);
    }
}

static void load_over_baseline(plmm_config *cfg, const char *data, size_t size, bool as_string)
{
    int64_t threads = 0;
    require(plmm_config_load_string(cfg, "[engine]\nthreads = 7\n", "base") == PLMM_OK);
    plmm_status s = as_string ? plmm_config_load_string(cfg, data, "fuzz")
                              : plmm_config_load_buffer(cfg, data, size, "fuzz");
    if (s == PLMM_OK) {
        check_getters(cfg);
        return;
    }
    require(s == PLMM_ERR_CONFIG || s == PLMM_ERR_NOMEM);
    require(strncmp(plmm_last_errmsg(), "fuzz:", 5) == 0);
    require(plmm_config_get_int(cfg, "engine", "threads", &threads) == PLMM_OK && threads == 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plmm_config *cfg;
    if (size > (1u << 20) || plmm_config_create(&cfg) != PLMM_OK)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL) {
        plmm_config_destroy(cfg);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    load_over_baseline(cfg, (const char *)data, size, false);
    load_over_baseline(cfg, text, size, true);

    /* the first line as an override */
    text[strcspn(text, "\n")] = '\0';
    int64_t threads = 0;
    require(plmm_config_load_string(cfg, "[engine]\nthreads = 7\n", "base") == PLMM_OK);
    plmm_status s = plmm_config_set(cfg, text);
    if (s == PLMM_OK)
        check_getters(cfg);
    else
        require(strncmp(plmm_last_errmsg(), "command line: ", 14) == 0 ||
                strncmp(plmm_last_errmsg(), "out of memory", 13) == 0);
    if (s != PLMM_OK)
        require(plmm_config_get_int(cfg, "engine", "threads", &threads) == PLMM_OK && threads == 7);

    free(text);
    plmm_config_destroy(cfg);
    return 0;
}
