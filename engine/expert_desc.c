/*
 * Expert descriptors (expert ABI v1): the checks the registry runs on an
 * expert plugin's descriptor before accepting it. Everything the router
 * later relies on is verified here once, so a broken expert is reported
 * and skipped instead of crashing a request: the vtable, the domain text,
 * the routing signals (well-formed phrases, positive finite weights), the
 * examples and the option schema (which must not redeclare the keys the
 * engine owns).
 */
#include "expert_host.h"
#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every field of ABI 1.0. */
#define DESC_MIN_SIZE (offsetof(plmm_expert_desc, vtbl) + sizeof(void *))
/* init and shutdown, which the host always calls. */
#define VTBL_MIN_SIZE (offsetof(plmm_expert_vtbl, shutdown) + sizeof(void *))

#define MAX_PHRASE 128

/* Lowercase words of [a-z0-9+#] or UTF-8 bytes, single spaces between
 * them, an optional '*' ending a word. */
static bool valid_phrase(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > MAX_PHRASE || p[0] == ' ' || p[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == ' ') {
            if (p[i + 1] == ' ')
                return false;
        } else if (c == '*') {
            if (i == 0 || p[i - 1] == ' ' || (p[i + 1] != ' ' && p[i + 1] != '\0'))
                return false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '#' ||
                     c >= 0x80)) {
            return false;
        }
    }
    return true;
}

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

plmm_status plmm_expert_desc_check(const plmm_manifest *m, const void *raw, char *why, size_t n)
{
    const char *name = m->name;
    const plmm_plugin_header *hd = raw;
    if (hd->abi_major != PLMM_EXPERT_ABI_MAJOR) {
        snprintf(why, n, "plugin '%s' is built for expert ABI %u.x, engine supports %d.x", name,
                 (unsigned)hd->abi_major, PLMM_EXPERT_ABI_MAJOR);
        return PLMM_ERR_ABI;
    }
    if (hd->struct_size < DESC_MIN_SIZE) {
        snprintf(why, n,
                 "plugin '%s': descriptor struct_size %u is smaller than expert ABI %d.0's %zu",
                 name, (unsigned)hd->struct_size, PLMM_EXPERT_ABI_MAJOR, DESC_MIN_SIZE);
        return PLMM_ERR_ABI;
    }
    const plmm_expert_desc *d = raw;
    if (d->name == NULL || strcmp(d->name, name) != 0) {
        snprintf(why, n, "plugin '%s': descriptor name '%s' does not match its manifest", name,
                 d->name != NULL ? d->name : "(null)");
        return PLMM_ERR_PLUGIN;
    }
    const plmm_expert_vtbl *vt = d->vtbl;
    if (vt == NULL) {
        snprintf(why, n, "plugin '%s': descriptor has no vtable", name);
        return PLMM_ERR_PLUGIN;
    }
    if (vt->struct_size < VTBL_MIN_SIZE) {
        snprintf(why, n, "plugin '%s': vtable struct_size %u is smaller than the minimum %zu", name,
                 (unsigned)vt->struct_size, VTBL_MIN_SIZE);
        return PLMM_ERR_ABI;
    }
    if (PLMM_ABI_MAJOR(vt->abi_version) != PLMM_EXPERT_ABI_MAJOR) {
        snprintf(why, n, "plugin '%s': vtable is built for expert ABI %u.x, engine supports %d.x",
                 name, (unsigned)PLMM_ABI_MAJOR(vt->abi_version), PLMM_EXPERT_ABI_MAJOR);
        return PLMM_ERR_ABI;
    }
    if (vt->init == NULL || vt->shutdown == NULL) {
        snprintf(why, n, "plugin '%s': vtable lacks required function '%s'", name,
                 vt->init == NULL ? "init" : "shutdown");
        return PLMM_ERR_PLUGIN;
    }
    if ((d->connectors & (PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI)) == 0 ||
        (d->connectors & ~(PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI)) != 0) {
        snprintf(why, n, "plugin '%s': descriptor connectors 0x%x name no known connector kind",
                 name, (unsigned)d->connectors);
        return PLMM_ERR_PLUGIN;
    }
    if (!nonempty(d->summary) || !nonempty(d->system_prompt)) {
        snprintf(why, n, "plugin '%s': descriptor has no %s", name,
                 !nonempty(d->summary) ? "summary" : "system prompt");
        return PLMM_ERR_PLUGIN;
    }
    if (d->n_signals == 0 || d->signals == NULL) {
        snprintf(why, n, "plugin '%s': descriptor has no routing signals", name);
        return PLMM_ERR_PLUGIN;
    }
    for (uint32_t i = 0; i < d->n_signals; i++) {
        const plmm_routing_signal *sg = &d->signals[i];
        if (sg->phrase == NULL || !valid_phrase(sg->phrase)) {
            snprintf(why, n,
                     "plugin '%s': routing signal %u '%s' is not lowercase words separated by "
                     "single spaces",
                     name, (unsigned)i, sg->phrase != NULL ? sg->phrase : "(null)");
            return PLMM_ERR_PLUGIN;
        }
        if (!(sg->weight > 0.0f) || !isfinite(sg->weight)) {
            snprintf(why, n, "plugin '%s': routing signal '%s' has weight %g (must be > 0)", name,
                     sg->phrase, (double)sg->weight);
            return PLMM_ERR_PLUGIN;
        }
    }
    if (d->n_examples > 0 && d->examples == NULL) {
        snprintf(why, n, "plugin '%s': descriptor declares %u examples but has no table", name,
                 (unsigned)d->n_examples);
        return PLMM_ERR_PLUGIN;
    }
    for (uint32_t i = 0; i < d->n_examples; i++) {
        if (!nonempty(d->examples[i])) {
            snprintf(why, n, "plugin '%s': example %u is empty", name, (unsigned)i);
            return PLMM_ERR_PLUGIN;
        }
    }
    if (d->n_options > 0 && d->options == NULL) {
        snprintf(why, n, "plugin '%s': descriptor declares %u options but has no table", name,
                 (unsigned)d->n_options);
        return PLMM_ERR_PLUGIN;
    }
    char msg[512];
    if (plmm_option_schema_check(d->options, d->n_options, msg, sizeof(msg)) != PLMM_OK) {
        snprintf(why, n, "plugin '%s': %s", name, msg);
        return PLMM_ERR_PLUGIN;
    }
    uint32_t n_common = 0;
    const plmm_option_schema *common = plmm_expert_common_options(&n_common);
    for (uint32_t i = 0; i < d->n_options; i++) {
        for (uint32_t k = 0; k < n_common; k++) {
            if (strcmp(d->options[i].key, common[k].key) == 0) {
                snprintf(why, n, "plugin '%s': option '%s' is an engine key of every expert", name,
                         common[k].key);
                return PLMM_ERR_PLUGIN;
            }
        }
    }
    return PLMM_OK;
}
