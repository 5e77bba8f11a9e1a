/*
 * The configured experts (expert_set.h) and the experts report of the
 * public API (plmm_engine_experts_report).
 */
#include "expert_set.h"

#include "engine_impl.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "expert."

struct plmm_expert_set {
    plmm_expert_entry *v;
    uint32_t n;
};

plmm_status plmm_expert_set_open(plmm_registry *reg, const plmm_config *cfg, plmm_expert_set **out)
{
    *out = NULL;
    plmm_expert_set *set = calloc(1, sizeof(*set));
    uint32_t n_sec = plmm_config_section_count(cfg);
    if (set == NULL || (n_sec > 0 && (set->v = calloc(n_sec, sizeof(*set->v))) == NULL)) {
        free(set);
        return plmm_err(PLMM_ERR_NOMEM, "out of memory opening the experts");
    }
    for (uint32_t i = 0; i < n_sec; i++) {
        const char *sec = plmm_config_section_at(cfg, i, NULL, NULL);
        if (sec == NULL || strncmp(sec, PREFIX, sizeof(PREFIX) - 1) != 0)
            continue;
        const char *name = sec + sizeof(PREFIX) - 1;
        if (plmm_expert_set_find(set, name) != NULL)
            continue; /* a section may appear twice in the file */
        plmm_expert_entry *e = &set->v[set->n];
        e->name = strdup(name);
        if (e->name == NULL) {
            plmm_expert_set_close(set);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory opening the experts");
        }
        set->n++;
        e->status = plmm_expert_inst_create(reg, cfg, name, &e->inst);
        e->reason = e->status == PLMM_OK ? "" : strdup(plmm_last_errmsg());
        if (e->reason == NULL) {
            plmm_expert_set_close(set);
            return plmm_err(PLMM_ERR_NOMEM, "out of memory opening the experts");
        }
    }
    *out = set;
    return PLMM_OK;
}

void plmm_expert_set_close(plmm_expert_set *set)
{
    if (set == NULL)
        return;
    for (uint32_t i = 0; i < set->n; i++) {
        plmm_expert_inst_destroy(set->v[i].inst);
        free((char *)set->v[i].name);
        if (set->v[i].reason != NULL && set->v[i].reason[0] != '\0')
            free((char *)set->v[i].reason);
    }
    free(set->v);
    free(set);
}

uint32_t plmm_expert_set_count(const plmm_expert_set *set)
{
    return set->n;
}

const plmm_expert_entry *plmm_expert_set_at(const plmm_expert_set *set, uint32_t i)
{
    return i < set->n ? &set->v[i] : NULL;
}

const plmm_expert_entry *plmm_expert_set_find(const plmm_expert_set *set, const char *name)
{
    for (uint32_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i].name, name) == 0)
            return &set->v[i];
    return NULL;
}

/* ---- the report ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool oom;
} text;

static void emit(text *t, const char *fmt, ...) PLMM_PRINTF(2, 3);

static void emit(text *t, const char *fmt, ...)
{
    va_list ap;
    if (t->oom)
        return;
    va_start(ap, fmt);
    int w = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    if ((size_t)w >= t->cap - t->len) {
        size_t cap = (t->cap + (size_t)w) * 2;
        char *b = realloc(t->buf, cap);
        if (b == NULL) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
        va_start(ap, fmt);
        w = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)w;
}

static void emit_settings(text *t, const plmm_expert_settings *s)
{
    emit(t, "    %s, connector %s", s->enabled ? "enabled" : "disabled",
         plmm_expert_connector_name(s->connector));
    if (s->connector == PLMM_EXPERT_CONNECTOR_OPENAI)
        emit(t, " %s%s%s", s->endpoint, s->model_name != NULL && s->model_name[0] ? " model " : "",
             s->model_name != NULL ? s->model_name : "");
    else if (s->model != NULL)
        emit(t, " model %s", s->model);
    else
        emit(t, " lora %s (scale %g)", s->lora, s->lora_scale);
    emit(t, "\n    share %s, price %g per 1k tokens, budget ", plmm_expert_share_name(s->share),
         s->price_per_1k_tokens);
    if (s->budget < 0)
        emit(t, "unlimited");
    else
        emit(t, "%g", s->budget);
    emit(t, ", timeout %g s\n", s->timeout_s);
}

PLMM_EXPORT plmm_status plmm_engine_experts_report(plmm_engine *e, char **out)
{
    if (e == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_engine_experts_report: NULL argument");
    *out = NULL;
    plmm_expert_set *set = NULL;
    text t = {.cap = 4096};
    if ((t.buf = malloc(t.cap)) == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate the experts report");
    t.buf[0] = '\0';
    plmm_status s = plmm_expert_set_open(e->reg, e->cfg, &set);
    if (s != PLMM_OK) {
        free(t.buf);
        return s;
    }
    uint32_t n_plugins = 0;
    for (uint32_t i = 0; i < plmm_registry_count(e->reg); i++) {
        const plmm_plugin_info *pi = plmm_registry_at(e->reg, i);
        if (pi->manifest->kind != PLMM_PLUGIN_EXPERT)
            continue;
        n_plugins++;
        const plmm_plugin_info *loaded = NULL;
        if (pi->state == PLMM_PLUGIN_DISCOVERED &&
            plmm_registry_load(e->reg, pi->manifest->name, &loaded) != PLMM_OK)
            plmm_err_clear();
        const plmm_expert_entry *en = plmm_expert_set_find(set, pi->manifest->name);
        const plmm_expert_desc *d = pi->expert;
        if (d != NULL)
            emit(&t, "%s %s — %s\n", pi->manifest->name, d->version, d->summary);
        else
            emit(&t, "%s — %s\n", pi->manifest->name, pi->manifest->description);
        if (pi->state == PLMM_PLUGIN_FAILED) {
            emit(&t, "    FAILED: %s\n", pi->reason);
            continue;
        }
        if (d != NULL)
            emit(&t, "    %u routing signals, %u examples, check: %s\n", d->n_signals,
                 d->n_examples, plmm_expert_has(d->vtbl, check) ? "yes" : "none");
        if (en == NULL)
            emit(&t, "    not configured (add an [expert.%s] section)\n", pi->manifest->name);
        else if (en->inst == NULL)
            emit(&t, "    FAILED: %s\n", en->reason);
        else
            emit_settings(&t, plmm_expert_inst_settings(en->inst));
    }
    if (n_plugins == 0)
        emit(&t, "no expert plugins found\n");
    for (uint32_t i = 0; i < plmm_registry_problem_count(e->reg); i++)
        emit(&t, "problem: %s\n", plmm_registry_problem_at(e->reg, i));
    plmm_expert_set_close(set);
    if (t.oom) {
        free(t.buf);
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate the experts report");
    }
    *out = t.buf;
    return PLMM_OK;
}
