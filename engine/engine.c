/* The engine handle: configuration, plugin registry, opened backends. */
#include "engine_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chat_template.h"
#include "errors.h"
#include "plmm_sdk.h"

double plmm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

PLMM_EXPORT void plmm_free(void *ptr)
{
    free(ptr);
}

void plmm_engine_logf(const plmm_engine *e, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (e == NULL || e->log == NULL || level > e->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->log(e->log_user, level, msg);
}

/* Log sink handed to the registry and plugins: filters by the engine level. */
static void engine_log(void *user, int level, const char *msg)
{
    const plmm_engine *e = user;
    if (e->log != NULL && level <= e->log_level)
        e->log(e->log_user, level, msg);
}

/* Getters for keys the schema defines with defaults (errors are bugs). */
static int64_t cfg_int(const plmm_config *cfg, const char *sec, const char *key)
{
    int64_t v = 0;
    if (plmm_config_get_int(cfg, sec, key, &v) != PLMM_OK)
        v = 0;
    return v;
}

static double cfg_float(const plmm_config *cfg, const char *sec, const char *key)
{
    double v = 0;
    if (plmm_config_get_float(cfg, sec, key, &v) != PLMM_OK)
        v = 0;
    return v;
}

static const char *cfg_str(const plmm_config *cfg, const char *sec, const char *key)
{
    const char *v = NULL;
    if (plmm_config_get_string(cfg, sec, key, &v) != PLMM_OK)
        v = NULL;
    return v;
}

int64_t plmm_engine_cfg_int(const plmm_engine *e, const char *sec, const char *key)
{
    return cfg_int(e->cfg, sec, key);
}

const char *plmm_engine_cfg_str(const plmm_engine *e, const char *sec, const char *key)
{
    return cfg_str(e->cfg, sec, key);
}

static const char *level_name(int level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    return level >= 0 && level <= 3 ? names[level] : "?";
}

/* ---- backends ---- */

static plmm_status add_backend(plmm_engine *e, const char *name)
{
    for (uint32_t i = 0; i < e->n_backends; i++)
        if (strcmp(plmm_backend_inst_name(e->backends[i]), name) == 0)
            return PLMM_OK; /* listed twice: once is enough */
    plmm_backend_inst *inst = NULL;
    plmm_status st = plmm_backend_inst_create(e->reg, name, &inst);
    if (st != PLMM_OK)
        return st;
    e->backends[e->n_backends++] = inst;
    return PLMM_OK;
}

static plmm_status open_backends(plmm_engine *e)
{
    const char *list = cfg_str(e->cfg, "engine", "backends");
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", list ? list : "cpu");
    uint32_t n_names = 1;
    for (const char *p = buf; *p; p++)
        n_names += *p == ',';
    e->backends = calloc(n_names + 1, sizeof(*e->backends));
    if (e->backends == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate backend list");
    char *save = NULL;
    char first_err[512] = "";
    plmm_status first_st = PLMM_OK;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            tok[--n] = '\0';
        if (n == 0)
            continue;
        plmm_status st = add_backend(e, tok);
        if (st == PLMM_ERR_CONFIG || st == PLMM_ERR_NOMEM)
            return st; /* the user's configuration is wrong: say so, do not skip */
        if (st != PLMM_OK) {
            if (first_st == PLMM_OK) {
                first_st = st;
                snprintf(first_err, sizeof(first_err), "%s", plmm_last_errmsg());
            }
            plmm_engine_logf(e, PLMM_LOG_WARN, "backend '%s' skipped: %s", tok, plmm_last_errmsg());
        }
    }
    /* observable fallback runs unsupported nodes on the CPU backend */
    e->fallback = -1;
    for (uint32_t i = 0; i < e->n_backends; i++)
        if (plmm_backend_inst_desc(e->backends[i])->device_type == PLMM_DEVICE_CPU)
            e->fallback = (int32_t)i;
    if (!e->strict && e->fallback < 0) {
        plmm_status st = add_backend(e, "cpu");
        if (st == PLMM_OK) {
            e->fallback = (int32_t)e->n_backends - 1;
            e->fallback_only = true;
        }
        else
            plmm_engine_logf(e, PLMM_LOG_WARN, "no CPU fallback backend: %s", plmm_last_errmsg());
    }
    if (e->n_backends == 0)
        return plmm_err(first_st ? first_st : PLMM_ERR_NOT_FOUND,
                        "no usable backend (engine.backends = %s)%s%s", list ? list : "cpu",
                        first_err[0] ? ": " : "", first_err);
    return PLMM_OK;
}

/* ---- open / close ---- */

PLMM_EXPORT plmm_status plmm_engine_open(const plmm_engine_params *p, plmm_engine **out)
{
    plmm_status st;
    if (out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_engine_open: NULL out");
    *out = NULL;
    if (p != NULL && p->struct_size < offsetof(plmm_engine_params, log_level) + sizeof(int))
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_engine_params.struct_size too small");
    if (sodium_init() < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "libsodium failed to initialise");
    plmm_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate engine");
    e->log_level = PLMM_LOG_WARN;
    if (p != NULL) {
        e->log = p->log;
        e->log_user = p->log_user;
    }
    if ((st = plmm_config_create(&e->cfg)) != PLMM_OK)
        goto out_close;
    if (p != NULL && p->config_path != NULL &&
        (st = plmm_config_load_file(e->cfg, p->config_path)) != PLMM_OK)
        goto out_close;
    for (uint32_t i = 0; p != NULL && i < p->n_overrides; i++)
        if ((st = plmm_config_set(e->cfg, p->overrides[i])) != PLMM_OK)
            goto out_close;
    uint32_t lvl = 1;
    if (plmm_config_get_enum(e->cfg, "engine", "log_level", &lvl) == PLMM_OK)
        e->log_level = (int)lvl;
    if (p != NULL && p->log_level >= 0)
        e->log_level = p->log_level;
    uint32_t fb = 1;
    if (plmm_config_get_enum(e->cfg, "engine", "fallback", &fb) == PLMM_OK)
        e->strict = fb == 0;

    /* [engine] threads feeds the CPU backend unless [backend.cpu] says otherwise */
    int64_t threads = cfg_int(e->cfg, "engine", "threads");
    if (threads > 0 && !plmm_config_is_set(e->cfg, "backend.cpu", "threads")) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)threads);
        if ((st = plmm_config_set_value(e->cfg, "backend.cpu", "threads", v, "engine.threads")) !=
            PLMM_OK)
            goto out_close;
    }

    plmm_registry_opts ro = {.config = e->cfg, .log = engine_log, .log_user = e};
    if ((st = plmm_registry_create(&ro, &e->reg)) != PLMM_OK)
        goto out_close;
    if ((st = plmm_registry_check_config(e->reg)) != PLMM_OK)
        goto out_close;
    if ((st = open_backends(e)) != PLMM_OK)
        goto out_close;
    plmm_engine_logf(e, PLMM_LOG_DEBUG, "engine open: %u backend(s), log level %s", e->n_backends,
                     level_name(e->log_level));
    *out = e;
    return PLMM_OK;

out_close:
    plmm_engine_close(e);
    return st;
}

PLMM_EXPORT void plmm_engine_close(plmm_engine *e)
{
    if (e == NULL)
        return;
    for (uint32_t i = 0; i < e->n_backends; i++)
        plmm_backend_inst_destroy(e->backends[i]);
    free(e->backends);
    plmm_registry_destroy(e->reg);
    plmm_config_destroy(e->cfg);
    free(e);
}

plmm_sched_backend_ref plmm_backend_instance_ref(plmm_backend_inst *inst)
{
    return (plmm_sched_backend_ref){
        .name = plmm_backend_inst_name(inst),
        .desc = plmm_backend_inst_desc(inst),
        .ctx = plmm_backend_inst_ctx(inst),
        .errmsg = plmm_backend_inst_errmsg_cb,
        .inst = inst,
        .host = plmm_backend_inst_host(inst),
    };
}

/* ---- sampling defaults ---- */

PLMM_EXPORT void plmm_sampling_defaults(const plmm_engine *e, plmm_sampling *out)
{
    const plmm_config *cfg = e ? e->cfg : NULL;
    memset(out, 0, sizeof(*out));
    out->struct_size = sizeof(*out);
    out->temperature = (float)cfg_float(cfg, "sampling", "temperature");
    out->top_k = (int32_t)cfg_int(cfg, "sampling", "top_k");
    out->top_p = (float)cfg_float(cfg, "sampling", "top_p");
    out->min_p = (float)cfg_float(cfg, "sampling", "min_p");
    out->repeat_penalty = (float)cfg_float(cfg, "sampling", "repeat_penalty");
    out->repeat_last_n = (int32_t)cfg_int(cfg, "sampling", "repeat_last_n");
    out->frequency_penalty = (float)cfg_float(cfg, "sampling", "frequency_penalty");
    out->presence_penalty = (float)cfg_float(cfg, "sampling", "presence_penalty");
    out->n_predict = (int32_t)cfg_int(cfg, "sampling", "n_predict");
    out->seed = (uint64_t)cfg_int(cfg, "sampling", "seed");
}

PLMM_EXPORT plmm_status plmm_engine_config_get(const plmm_engine *e, const char *key,
                                               const char **out)
{
    if (e == NULL || key == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_engine_config_get: NULL argument");
    *out = NULL;
    const char *dot = strrchr(key, '.');
    char section[128];
    if (dot == NULL || dot == key || (size_t)(dot - key) >= sizeof(section))
        return plmm_err(PLMM_ERR_NOT_FOUND, "configuration key '%s' is not 'section.key'", key);
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = '\0';
    plmm_status st = plmm_config_get_string(e->cfg, section, dot + 1, out);
    if (st != PLMM_OK)
        return plmm_err(PLMM_ERR_NOT_FOUND, "configuration key '%s' has no value", key);
    return PLMM_OK;
}

/* ---- chat ---- */

PLMM_EXPORT plmm_status plmm_chat_format(const plmm_model *m, const char *template_name,
                                         const plmm_chat_message *msgs, size_t n_msgs,
                                         bool add_generation_prompt, char *buf, size_t capacity,
                                         size_t *needed, bool *has_bos)
{
    if (m == NULL || needed == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_chat_format: NULL argument");
    if (template_name == NULL)
        template_name = cfg_str(m->engine->cfg, "chat", "template");
    char *jinja = NULL;
    int64_t k = plmm_gguf_find_key(m->gguf, "tokenizer.chat_template");
    if (k >= 0) {
        plmm_gguf_str s = plmm_gguf_get_str(m->gguf, (uint64_t)k);
        jinja = malloc(s.len + 1);
        if (jinja == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot copy the chat template");
        memcpy(jinja, s.ptr, s.len);
        jinja[s.len] = '\0';
    }
    plmm_chat_template t;
    plmm_status st = plmm_chat_template_init(&t, template_name, jinja);
    free(jinja);
    if (st != PLMM_OK)
        return st;
    /* BOS/EOS texts from the vocabulary */
    char bos[PLMM_CHAT_TOKEN_MAX] = "", eos[PLMM_CHAT_TOKEN_MAX] = "";
    size_t len;
    int32_t b = plmm_tokenizer_bos(m->tok), e = plmm_tokenizer_eos(m->tok);
    const char *txt;
    if (b >= 0 && (txt = plmm_tokenizer_token_text(m->tok, b, &len)) != NULL && len < sizeof(bos))
        memcpy(bos, txt, len);
    if (e >= 0 && (txt = plmm_tokenizer_token_text(m->tok, e, &len)) != NULL && len < sizeof(eos))
        memcpy(eos, txt, len);
    if ((st = plmm_chat_template_set_tokens(&t, bos[0] ? bos : NULL, eos[0] ? eos : NULL)) != PLMM_OK)
        return st;
    /* a system prompt from [chat] system when the conversation has none */
    const char *sys = cfg_str(m->engine->cfg, "chat", "system");
    if (sys != NULL && sys[0] != '\0' && (n_msgs == 0 || strcmp(msgs[0].role, "system") != 0)) {
        plmm_chat_message *all = malloc((n_msgs + 1) * sizeof(*all));
        if (all == NULL)
            return plmm_err(PLMM_ERR_NOMEM, "cannot allocate messages");
        all[0] = (plmm_chat_message){.role = "system", .content = sys};
        if (n_msgs > 0)
            memcpy(all + 1, msgs, n_msgs * sizeof(*all));
        st = plmm_chat_template_format(&t, all, n_msgs + 1, add_generation_prompt, buf, capacity,
                                       needed, has_bos);
        free(all);
        return st;
    }
    return plmm_chat_template_format(&t, msgs, n_msgs, add_generation_prompt, buf, capacity,
                                     needed, has_bos);
}

/* ---- report ---- */

PLMM_EXPORT plmm_status plmm_engine_backends_report(plmm_engine *e, char **out)
{
    if (e == NULL || out == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "plmm_engine_backends_report: NULL argument");
    *out = NULL;
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "cannot allocate report");
    buf[0] = '\0';
#define EMIT(...)                                                                    \
    do {                                                                             \
        int w_ = snprintf(buf + len, cap - len, __VA_ARGS__);                        \
        if (w_ > 0 && (size_t)w_ >= cap - len) {                                     \
            size_t ncap = (cap + (size_t)w_) * 2;                                    \
            char *nb_ = realloc(buf, ncap);                                          \
            if (nb_ == NULL)                                                         \
                break;                                                               \
            buf = nb_;                                                               \
            cap = ncap;                                                              \
            w_ = snprintf(buf + len, cap - len, __VA_ARGS__);                        \
        }                                                                            \
        if (w_ > 0)                                                                  \
            len += (size_t)w_;                                                       \
    } while (0)
    char feat[256];
    EMIT("host: %s, %u cpus, features: %s\n", plmm_cpu_arch(), plmm_cpu_count(),
         plmm_cpu_features_str(plmm_cpu_features_detect(), feat, sizeof(feat)));
    EMIT("plugin directories:\n");
    for (uint32_t i = 0; i < plmm_registry_dir_count(e->reg); i++)
        EMIT("  %s\n", plmm_registry_dir_at(e->reg, i));
    EMIT("plugins:\n");
    for (uint32_t i = 0; i < plmm_registry_count(e->reg); i++) {
        const plmm_plugin_info *pi = plmm_registry_at(e->reg, i);
        if (pi->manifest->kind == PLMM_PLUGIN_BACKEND && pi->state == PLMM_PLUGIN_DISCOVERED) {
            const plmm_plugin_info *tmp = NULL;
            if (plmm_registry_load(e->reg, pi->manifest->name, &tmp) != PLMM_OK)
                plmm_err_clear();
        }
        const char *state = pi->state == PLMM_PLUGIN_LOADED   ? "loaded"
                            : pi->state == PLMM_PLUGIN_FAILED ? "FAILED"
                                                              : "discovered";
        EMIT("  %-10s %-7s abi %u.%u  %-5s %-10s %s\n", pi->manifest->name,
             plmm_plugin_kind_name(pi->manifest->kind), pi->manifest->abi_major,
             pi->manifest->abi_minor, plmm_device_type_name(pi->manifest->device_type), state,
             pi->manifest->path);
        if (pi->state == PLMM_PLUGIN_FAILED)
            EMIT("             reason: %s\n", pi->reason);
    }
    for (uint32_t i = 0; i < plmm_registry_problem_count(e->reg); i++)
        EMIT("  problem: %s\n", plmm_registry_problem_at(e->reg, i));
    EMIT("backends in use (engine.backends order, fallback = %s):\n",
         e->strict ? "strict" : "observable");
    for (uint32_t i = 0; i < e->n_backends; i++) {
        plmm_backend_inst *inst = e->backends[i];
        const plmm_backend_desc *d = plmm_backend_inst_desc(inst);
        const plmm_backend_vtbl *vt = d->vtbl;
        EMIT("  [%u] %s %s — %s%s\n", i, d->name, d->version ? d->version : "?",
             d->description ? d->description : "",
             (int32_t)i == e->fallback ? " (fallback)" : "");
        uint32_t nd = 0;
        if (plmm_backend_has(vt, device_count) &&
            vt->device_count(plmm_backend_inst_ctx(inst), &nd) == PLMM_OK) {
            for (uint32_t dv = 0; dv < nd; dv++) {
                plmm_device_props pr = {.struct_size = sizeof(pr)};
                if (!plmm_backend_has(vt, device_props) ||
                    vt->device_props(plmm_backend_inst_ctx(inst), dv, &pr) != PLMM_OK)
                    continue;
                EMIT("      device %u: %s (%s), %s, memory %.0f MiB\n", dv, pr.name,
                     plmm_device_type_name(pr.type), pr.driver,
                     (double)pr.memory_total / 1048576.0);
            }
        }
        EMIT("      ops:");
        for (uint32_t c = 0; c < d->n_caps; c++) {
            EMIT(" %s[", plmm_op_name(d->caps[c].op));
            bool first = true;
            for (uint32_t t = 0; t < PLMM_DTYPE_COUNT; t++)
                if (d->caps[c].dtypes & PLMM_DTYPE_BIT(t)) {
                    EMIT("%s%s", first ? "" : ",", plmm_dtype_name(t));
                    first = false;
                }
            EMIT("]");
        }
        EMIT("\n");
    }
#undef EMIT
    *out = buf;
    return PLMM_OK;
}
