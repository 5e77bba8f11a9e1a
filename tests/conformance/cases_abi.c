/*
 * Loading, profile coverage, descriptor, lifecycle and negative cases:
 * everything about the plugin's ABI that is not numerics.
 */
#include "conformance.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIFECYCLE_ROUNDS 100

/* ---- a host-services table that counts allocations ---- */

typedef struct count_host {
    plmm_host_api api;
    atomic_long allocs, frees;
    char err[512];
} count_host;

static void ch_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static void ch_set_error(void *ctx, const char *msg)
{
    count_host *h = ctx;
    snprintf(h->err, sizeof(h->err), "%s", msg != NULL ? msg : "");
}

static void *ch_alloc(void *ctx, size_t size, size_t align)
{
    count_host *h = ctx;
    void *p = NULL;
    if (align == 0 || (align & (align - 1)) != 0)
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        return NULL;
    atomic_fetch_add(&h->allocs, 1);
    return p;
}

static void ch_free(void *ctx, void *p)
{
    count_host *h = ctx;
    if (p == NULL)
        return;
    atomic_fetch_add(&h->frees, 1);
    free(p);
}

static uint64_t ch_now(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void count_host_init(count_host *h)
{
    memset(h, 0, sizeof(*h));
    atomic_init(&h->allocs, 0);
    atomic_init(&h->frees, 0);
    h->api = (plmm_host_api){.struct_size = sizeof(plmm_host_api),
                             .abi_version =
                                 PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
                             .host_ctx = h,
                             .log = ch_log,
                             .set_error = ch_set_error,
                             .alloc = ch_alloc,
                             .free = ch_free,
                             .now_ns = ch_now,
                             .cpu_features = plmm_cpu_features_detect(),
                             .n_cpus = plmm_cpu_count()};
}

static long outstanding(count_host *h)
{
    return atomic_load(&h->allocs) - atomic_load(&h->frees);
}

/* The option values the registry would hand to init (defaults and --set). */
plmm_status conf_option_values(const conf_env *env, plmm_option_value **vals, uint32_t *n)
{
    char section[200];
    snprintf(section, sizeof(section), "backend.%s", env->name);
    return plmm_config_plugin_options(env->tcfg, section, env->desc->options, env->desc->n_options,
                                      vals, n);
}

/* ---- abi.load ---- */

void conf_case_load(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    const plmm_plugin_info *info = NULL;
    if (env->path_mode && env->manifest_path[0] == '\0') {
        conf_set(r, CONF_FAIL,
                 "no manifest names '%s': a backend ships NAME.plugin beside its library "
                 "(see docs/conformance.md)",
                 env->opt.target);
        return;
    }
    conf_step("plmm_registry_load('%s')", env->name);
    plmm_status st = plmm_registry_load(env->treg, env->name, &info);
    if (st == PLMM_ERR_NOT_FOUND && info == NULL) {
        char names[600] = "";
        for (uint32_t i = 0; i < plmm_registry_count(env->treg); i++) {
            const plmm_plugin_info *p = plmm_registry_at(env->treg, i);
            size_t len = strlen(names);
            snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "", p->manifest->name);
        }
        conf_set(r, CONF_FAIL, "no backend plugin named '%s' was found (found: %s)", env->name,
                 names[0] ? names : "none");
        return;
    }
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "%s", plmm_last_errmsg());
        return;
    }
    conf_set(r, CONF_PASS, "%s", info->manifest->library_path);
}

/* ---- profile ---- */

static void case_profile(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    const plmm_profile *p = &env->profile;
    char why[200];
    uint32_t missing = 0;
    r->reason[0] = '\0';
    for (uint32_t i = 0; i < p->n_items; i++) {
        if (plmm_profile_item_covered(&p->items[i], env->desc, why, sizeof(why)))
            continue;
        if (missing++ == 0)
            conf_set(r, CONF_FAIL, "%s", why);
        else
            conf_note(r, "%s", why);
    }
    if (missing == 0) {
        conf_set(r, CONF_PASS, "%u items declared", p->n_items);
        return;
    }
    char head[96];
    snprintf(head, sizeof(head), "%u of %u items not covered: ", missing, p->n_items);
    if (env->desc->n_caps == 0)
        snprintf(head, sizeof(head),
                 "the backend declares no capabilities; %u of %u items "
                 "missing: ",
                 missing, p->n_items);
    size_t hl = strlen(head), rl = strlen(r->reason);
    if (hl + rl + 1 < sizeof(r->reason)) {
        memmove(r->reason + hl, r->reason, rl + 1);
        memcpy(r->reason, head, hl);
    }
    r->status = CONF_FAIL;
}

void conf_profile_cases(const conf_env *env, conf_case_list *l)
{
    char name[96];
    snprintf(name, sizeof(name), "profile.%s", env->profile.name);
    conf_case *c = conf_case_add(l, "profile", name, case_profile);
    if (c != NULL)
        snprintf(c->shape, sizeof(c->shape), "%u items", env->profile.n_items);
}

/* ---- abi.descriptor ---- */

static bool version_ok(const char *v)
{
    unsigned a, b, c;
    char tail;
    return v != NULL &&
           (sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail) == 3 ||
            (sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail) == 4 && (tail == '-' || tail == '+')));
}

static void problem(conf_result *r, uint32_t *n, const char *fmt, ...) PLMM_PRINTF(3, 4);

/* Record one problem of the descriptor (the first sets FAIL). */
static void problem(conf_result *r, uint32_t *n, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if ((*n)++ == 0)
        conf_set(r, CONF_FAIL, "%s", msg);
    else
        conf_note(r, "%s", msg);
}

static void case_descriptor(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    const plmm_backend_desc *d = env->desc;
    const plmm_manifest *m = env->manifest;
    uint32_t n = 0;
    conf_step("read the descriptor");
    if (d->struct_size < sizeof(plmm_backend_desc))
        problem(r, &n, "descriptor struct_size %lld is smaller than ABI 1.0's",
                (long long)d->struct_size);
    if (d->kind != PLMM_PLUGIN_BACKEND)
        problem(r, &n, "descriptor kind %lld is not backend", (long long)d->kind);
    if (m == NULL) {
        problem(r, &n, "no manifest");
    } else {
        if (d->name == NULL || strcmp(d->name, m->name) != 0)
            problem(r, &n, "descriptor name '%s' differs from the manifest's",
                    d->name ? d->name : "(null)");
        if (m->abi_major != d->abi_major)
            problem(r, &n, "manifest abi_major differs from the descriptor's %lld",
                    (long long)d->abi_major);
        if (m->abi_minor != d->abi_minor)
            problem(r, &n, "manifest abi_minor differs from the descriptor's %lld",
                    (long long)d->abi_minor);
        if (m->device_type == 0)
            problem(r, &n, "the manifest does not state device_type (descriptor: %s)",
                    plmm_device_type_name(d->device_type));
        else if (m->device_type != d->device_type)
            problem(r, &n, "manifest device_type differs from the descriptor's %s",
                    plmm_device_type_name(d->device_type));
        if (m->kind != PLMM_PLUGIN_BACKEND)
            problem(r, &n, "manifest kind is '%s'", plmm_plugin_kind_name(m->kind));
    }
    if (d->abi_major != PLMM_BACKEND_ABI_MAJOR)
        problem(r, &n, "descriptor abi_major %lld", (long long)d->abi_major);
    if (d->device_type < PLMM_DEVICE_CPU || d->device_type > PLMM_DEVICE_ACCEL)
        problem(r, &n, "unknown device_type %lld", (long long)d->device_type);
    if (!version_ok(d->version))
        problem(r, &n, "version '%s' is not MAJOR.MINOR.PATCH", d->version ? d->version : "(null)");
    if (d->description == NULL || d->description[0] == '\0')
        problem(r, &n, "empty description");
    if (d->contracts == 0 || (d->contracts & ~(PLMM_CONTRACT_GRAPH | PLMM_CONTRACT_PARTITION)))
        problem(r, &n, "contracts 0x%x: none or unknown bits", (unsigned)d->contracts);
    const plmm_backend_vtbl *vt = d->vtbl;
    if (vt->struct_size < sizeof(plmm_backend_vtbl))
        problem(r, &n, "vtable struct_size %lld is smaller than ABI 1.0's",
                (long long)vt->struct_size);
    if (PLMM_ABI_MAJOR(vt->abi_version) != PLMM_BACKEND_ABI_MAJOR)
        problem(r, &n, "vtable abi major %lld", (long long)PLMM_ABI_MAJOR(vt->abi_version));
    uint64_t known = 0;
    for (uint32_t t = 0; t < 64 && t < PLMM_DTYPE_COUNT; t++)
        if (plmm_dtype_block_elems(t) != 0)
            known |= PLMM_DTYPE_BIT(t);
    for (uint32_t i = 0; i < d->n_caps; i++) {
        const plmm_op_caps *cp = &d->caps[i];
        if (cp->op == PLMM_OP_NONE || cp->op >= PLMM_OP_COUNT)
            problem(r, &n, "caps[%lld]: unknown op", (long long)i);
        if (cp->dtypes == 0 || (cp->dtypes & ~known))
            problem(r, &n, "caps[%lld]: no dtypes or unknown dtype bits", (long long)i);
        if (cp->flags & ~(PLMM_CAP_NONCONTIG | PLMM_CAP_INPLACE))
            problem(r, &n, "caps[%lld]: unknown flags", (long long)i);
        for (int k = 0; k < PLMM_MAX_DIMS; k++)
            if (cp->max_ne[k] < 0)
                problem(r, &n, "caps[%lld]: negative max_ne", (long long)i);
    }
    for (uint32_t i = 0; i < d->n_tolerances; i++) {
        const plmm_tolerance *t = &d->tolerances[i];
        if (t->op >= PLMM_OP_COUNT) /* PLMM_OP_NONE: end-to-end logits */
            problem(r, &n, "tolerances[%lld]: unknown op", (long long)i);
        if (t->dtype != PLMM_DTYPE_COUNT && plmm_dtype_block_elems(t->dtype) == 0)
            problem(r, &n, "tolerances[%lld]: unknown dtype", (long long)i);
        if (!isfinite(t->nmse) || t->nmse <= 0)
            problem(r, &n, "tolerances[%lld]: nmse must be finite and > 0", (long long)i);
    }
    if (n == 0)
        conf_set(r, CONF_PASS, "%u caps, %u tolerances, %u options", d->n_caps, d->n_tolerances,
                 d->n_options);
}

/* ---- abi.device ---- */

static void case_device(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    conf_be be;
    char why[512];
    conf_step("init");
    if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        return;
    }
    uint32_t count = 0;
    conf_step("device_count");
    plmm_status st = be.vt->device_count(be.ctx, &count);
    if (st != PLMM_OK || count == 0) {
        conf_set(r, CONF_FAIL, "device_count: %s", st ? conf_be_errmsg(&be, st) : "0 devices");
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        plmm_device_props p;
        memset(&p, 0xCD, sizeof(p));
        p.struct_size = sizeof(p);
        conf_step("device_props(%u)", i);
        if ((st = be.vt->device_props(be.ctx, i, &p)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "device_props(%u): %s", i, conf_be_errmsg(&be, st));
            goto out;
        }
        if (p.type != be.desc->device_type) {
            conf_set(r, CONF_FAIL, "device %u: type %s, the descriptor says %s", i,
                     plmm_device_type_name(p.type), plmm_device_type_name(be.desc->device_type));
            goto out;
        }
        if (memchr(p.name, 0, sizeof(p.name)) == NULL || p.name[0] == '\0' ||
            memchr(p.driver, 0, sizeof(p.driver)) == NULL) {
            conf_set(r, CONF_FAIL, "device %u: name or driver empty or not NUL-terminated", i);
            goto out;
        }
        /* an older caller's smaller struct: nothing past struct_size is written */
        unsigned char buf[sizeof(plmm_device_props) + 16];
        memset(buf, 0xCD, sizeof(buf));
        plmm_device_props *small = (plmm_device_props *)(void *)buf;
        const uint32_t cut = (uint32_t)offsetof(plmm_device_props, memory_total);
        small->struct_size = cut;
        conf_step("device_props(%u) with struct_size %u", i, cut);
        st = be.vt->device_props(be.ctx, i, small);
        for (size_t k = cut; st == PLMM_OK && k < sizeof(buf); k++)
            if (buf[k] != 0xCD) {
                conf_set(r, CONF_FAIL, "device_props with struct_size %u wrote byte %zu past it",
                         cut, k);
                goto out;
            }
        if (i == 0 && st == PLMM_OK)
            conf_note(r, "device 0: %s (%s)", p.name, p.driver);
    }
    plmm_device_props q = {.struct_size = sizeof(q)};
    conf_step("device_props(%u), one past the last", count);
    if (be.vt->device_props(be.ctx, count, &q) == PLMM_OK) {
        conf_set(r, CONF_FAIL, "device_props accepts index %u of %u devices", count, count);
        goto out;
    }
    unsigned char rb[sizeof(plmm_buffer_reqs) + 16];
    memset(rb, 0xCD, sizeof(rb));
    plmm_buffer_reqs *rq = (plmm_buffer_reqs *)(void *)rb;
    const uint32_t rcut = (uint32_t)offsetof(plmm_buffer_reqs, max_size);
    rq->struct_size = rcut;
    conf_step("buffer_reqs with struct_size %u", rcut);
    if (be.vt->buffer_reqs(be.ctx, PLMM_BUFFER_ACTIVATIONS, rq) == PLMM_OK)
        for (size_t k = rcut; k < sizeof(rb); k++)
            if (rb[k] != 0xCD) {
                conf_set(r, CONF_FAIL, "buffer_reqs with struct_size %u wrote past it", rcut);
                goto out;
            }
    r->status = CONF_PASS;
    conf_note(r, "%u device(s)", count);
out:
    conf_step("shutdown");
    conf_be_close(&be);
}

/* ---- abi.lifecycle ---- */

static plmm_status small_compute(const plmm_backend_vtbl *vt, plmm_backend_ctx *ctx,
                                 bool free_buffer)
{
    plmm_buffer *b = NULL;
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i;
    plmm_status st = vt->buffer_alloc(ctx, 4096, PLMM_BUFFER_ACTIVATIONS, &b);
    if (st != PLMM_OK)
        return st;
    if ((st = vt->buffer_write(ctx, b, 0, x, sizeof(x), 0)) != PLMM_OK)
        return st;
    if ((st = vt->buffer_read(ctx, b, 0, x, sizeof(x), 0)) != PLMM_OK)
        return st;
    if (free_buffer)
        vt->buffer_free(ctx, b);
    return PLMM_OK;
}

static void case_lifecycle(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    const plmm_backend_vtbl *vt = env->desc->vtbl;
    plmm_option_value *vals = NULL;
    uint32_t n_vals = 0;
    if (conf_option_values(env, &vals, &n_vals) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "options: %s", plmm_last_errmsg());
        return;
    }
    count_host h;
    count_host_init(&h);
    for (int round = 0; round < LIFECYCLE_ROUNDS; round++) {
        plmm_backend_ctx *ctx = NULL;
        conf_step("init #%d", round + 1);
        plmm_status st = vt->init(&h.api, vals, n_vals, &ctx);
        if (st != PLMM_OK || ctx == NULL) {
            conf_set(r, CONF_FAIL, "init #%d: %s", round + 1, st ? h.err : "no context");
            goto out;
        }
        /* use it; every other round leave a buffer for shutdown to release */
        conf_step("buffer round trip #%d", round + 1);
        st = small_compute(vt, ctx, round % 2 == 0);
        if (st != PLMM_OK) {
            conf_set(r, CONF_FAIL, "round %d: buffer use failed: %s", round + 1, h.err);
            vt->shutdown(ctx);
            goto out;
        }
        conf_step("shutdown #%d", round + 1);
        vt->shutdown(ctx);
        long left = outstanding(&h);
        if (left != 0) {
            conf_set(r, CONF_FAIL,
                     "after init/shutdown #%d, %ld allocation(s) made through "
                     "host->alloc were not freed",
                     round + 1, left);
            goto out;
        }
    }
    for (int round = 0; round < 10; round++) {
        conf_be be;
        char why[512];
        conf_step("registry instance #%d", round + 1);
        if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "instance #%d: %s", round + 1, why);
            goto out;
        }
        conf_be_close(&be);
    }
    conf_set(r, CONF_PASS, "%d init/shutdown rounds with %ld host allocations, all freed",
             LIFECYCLE_ROUNDS, (long)atomic_load(&h.allocs));
out:
    plmm_option_values_free(vals);
}

/* ---- abi.options ---- */

/* Text of the wrong type for an option; NULL when any text is valid. */
static const char *bad_text(const plmm_option_schema *s)
{
    switch (s->type) {
    case PLMM_OPT_INT:
        return "not-a-number";
    case PLMM_OPT_FLOAT:
        return "x1.5";
    case PLMM_OPT_BOOL:
        return "maybe";
    case PLMM_OPT_ENUM:
        return "conformance-bogus";
    default:
        return NULL; /* any text is a valid string or path */
    }
}

static plmm_status registry_with(const conf_env *env, const char *assignment, char *why,
                                 size_t why_size)
{
    plmm_config *cfg = NULL;
    plmm_registry *reg = NULL;
    plmm_status st = plmm_config_create(&cfg);
    if (st == PLMM_OK && env->plugin_path[0])
        st = plmm_config_set_value(cfg, "engine", "plugin_path", env->plugin_path, NULL);
    for (uint32_t i = 0; st == PLMM_OK && i < env->opt.n_sets; i++)
        st = plmm_config_set(cfg, env->opt.sets[i]);
    if (st == PLMM_OK)
        st = plmm_config_set(cfg, assignment);
    if (st != PLMM_OK) {
        /* rejected while parsing: as good as rejected by the registry */
        snprintf(why, why_size, "%s", plmm_last_errmsg());
        plmm_config_destroy(cfg);
        return st;
    }
    plmm_registry_opts ro = {.config = cfg, .flags = conf_registry_flags(env)};
    if ((st = plmm_registry_create(&ro, &reg)) == PLMM_OK) {
        plmm_backend_inst *inst = NULL;
        st = plmm_backend_inst_create(reg, env->name, &inst);
        snprintf(why, why_size, "%s", st != PLMM_OK ? plmm_last_errmsg() : "");
        plmm_backend_inst_destroy(inst);
    }
    plmm_registry_destroy(reg);
    plmm_config_destroy(cfg);
    return st;
}

/* init called directly with vals; must fail. Returns false (and a message) if it did not. */
static bool init_must_fail(const conf_env *env, count_host *h, const plmm_option_value *vals,
                           uint32_t n, const char *what, conf_result *r)
{
    plmm_backend_ctx *ctx = NULL;
    conf_step("init with %s", what);
    plmm_status st = env->desc->vtbl->init(&h->api, vals, n, &ctx);
    if (st == PLMM_OK) {
        if (ctx != NULL)
            env->desc->vtbl->shutdown(ctx);
        conf_set(r, CONF_FAIL, "init accepted %s", what);
        return false;
    }
    if (outstanding(h) != 0) {
        conf_set(r, CONF_FAIL, "init failed on %s but left %ld allocation(s)", what,
                 outstanding(h));
        return false;
    }
    return true;
}

static void case_options(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    const plmm_backend_desc *d = env->desc;
    char why[600], assign[300], buf[64];
    uint32_t checks = 0;
    /* 1. through the configuration, as the engine validates it */
    snprintf(assign, sizeof(assign), "backend.%s.conformance_bogus_key=1", env->name);
    conf_step("registry with an unknown key");
    plmm_status st = registry_with(env, assign, why, sizeof(why));
    if (st != PLMM_ERR_CONFIG) {
        conf_set(r, CONF_FAIL, "unknown key accepted through the configuration (%s)",
                 st == PLMM_OK ? "instance created" : why);
        return;
    }
    checks++;
    for (uint32_t i = 0; i < d->n_options; i++) {
        const plmm_option_schema *s = &d->options[i];
        const char *bad = bad_text(s);
        for (int k = 0; k < 2; k++) {
            if (k == 1) {
                if (s->type != PLMM_OPT_INT || !(s->min <= s->max))
                    continue;
                snprintf(buf, sizeof(buf), "%.0f", s->max + 1);
                bad = buf;
            }
            if (bad == NULL)
                continue;
            snprintf(assign, sizeof(assign), "backend.%s.%s=%s", env->name, s->key, bad);
            conf_step("registry with %s", assign);
            st = registry_with(env, assign, why, sizeof(why));
            if (st != PLMM_ERR_CONFIG) {
                conf_set(r, CONF_FAIL, "'%s' accepted through the configuration", assign);
                return;
            }
            checks++;
        }
    }
    /* 2. init called directly with bogus values: the plugin checks too */
    plmm_option_value *vals = NULL;
    uint32_t n_vals = 0;
    if (conf_option_values(env, &vals, &n_vals) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "options: %s", plmm_last_errmsg());
        return;
    }
    plmm_option_value *v = calloc((size_t)n_vals + 1, sizeof(*v));
    count_host h;
    count_host_init(&h);
    if (v == NULL)
        goto out;
    memcpy(v, vals, n_vals * sizeof(*v));
    v[n_vals] = (plmm_option_value){.key = "conformance_bogus_key", .type = PLMM_OPT_INT};
    v[n_vals].v.i = 1;
    if (!init_must_fail(env, &h, v, n_vals + 1, "an unknown key", r))
        goto out;
    checks++;
    for (uint32_t i = 0; i < n_vals; i++) {
        const plmm_option_schema *s = NULL;
        for (uint32_t k = 0; k < d->n_options; k++)
            if (strcmp(d->options[k].key, vals[i].key) == 0)
                s = &d->options[k];
        memcpy(v, vals, n_vals * sizeof(*v));
        char what[200];
        /* wrong type: strings where numbers are expected and the reverse */
        if (vals[i].type == PLMM_OPT_STRING || vals[i].type == PLMM_OPT_ENUM ||
            vals[i].type == PLMM_OPT_PATH) {
            v[i].type = PLMM_OPT_INT;
            v[i].v.i = 3;
        } else {
            v[i].type = PLMM_OPT_STRING;
            v[i].v.s = "conformance-bogus";
        }
        snprintf(what, sizeof(what), "option '%s' of the wrong type", vals[i].key);
        if (!init_must_fail(env, &h, v, n_vals, what, r))
            goto out;
        checks++;
        memcpy(v, vals, n_vals * sizeof(*v));
        if (vals[i].type == PLMM_OPT_ENUM) {
            v[i].v.s = "conformance-bogus";
            snprintf(what, sizeof(what), "option '%s' = 'conformance-bogus'", vals[i].key);
        } else if (vals[i].type == PLMM_OPT_INT && s != NULL && s->min <= s->max) {
            v[i].v.i = (int64_t)s->max + 1;
            snprintf(what, sizeof(what), "option '%s' = %lld, above its maximum", vals[i].key,
                     (long long)v[i].v.i);
        } else {
            continue;
        }
        if (!init_must_fail(env, &h, v, n_vals, what, r))
            goto out;
        checks++;
    }
    conf_set(r, CONF_PASS, "%u bad option settings rejected", checks);
out:
    free(v);
    plmm_option_values_free(vals);
}

/* ---- abi.invalid_args ---- */

typedef struct neg {
    const char *what;
    conf_be *be;
    conf_result *r;
    uint32_t n_checks, n_silent;
    char silent[300];
} neg;

/* A call that must fail: returns false after recording a failure. */
static bool must_fail(neg *t, plmm_status st)
{
    const char *what = t->what;
    t->n_checks++;
    if (st == PLMM_OK) {
        conf_set(t->r, CONF_FAIL, "%s returned PLMM_OK", what);
        return false;
    }
    if (st > 0 || st < PLMM_ERR_DENIED) {
        conf_set(t->r, CONF_FAIL, "%s returned %d, not a plmm_status", what, (int)st);
        return false;
    }
    const char *m = plmm_backend_inst_errmsg(t->be->inst);
    if (m[0] == '\0' && t->n_silent++ < 4) {
        size_t len = strlen(t->silent);
        snprintf(t->silent + len, sizeof(t->silent) - len, "%s%s", len ? ", " : "", what);
    }
    conf_be_clear_error(t->be);
    return true;
}

/* Name the call about to be made (for must_fail and crash reports); always true. */
static bool announce(neg *t, const char *what)
{
    conf_step("%s", what);
    t->what = what;
    return true;
}

static void case_invalid_args(const conf_env *env, const conf_case *c, conf_result *r)
{
    (void)c;
    conf_be be;
    char why[512];
    plmm_buffer *buf = NULL, *tmp = NULL;
    uint8_t host[64];
    memset(host, 0, sizeof(host));
    if (conf_be_open(env->treg, env->name, &be, why, sizeof(why)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "init: %s", why);
        return;
    }
    const plmm_backend_vtbl *vt = be.vt;
    plmm_backend_ctx *ctx = be.ctx;
    neg t = {.be = &be, .r = r};
    uint32_t count = 0;
    plmm_device_props props = {.struct_size = sizeof(props)};
    plmm_status st = vt->device_count(ctx, &count);
    if (st != PLMM_OK) {
        conf_set(r, CONF_FAIL, "device_count: %s", conf_be_errmsg(&be, st));
        goto out;
    }
    if (announce(&t, "device_count(out = NULL)") && !must_fail(&t, vt->device_count(ctx, NULL)))
        goto out;
    if (announce(&t, "device_props(out = NULL)") && !must_fail(&t, vt->device_props(ctx, 0, NULL)))
        goto out;
    if (announce(&t, "device_props(index = count)") &&
        !must_fail(&t, vt->device_props(ctx, count, &props)))
        goto out;
    if (announce(&t, "buffer_reqs(out = NULL)") &&
        !must_fail(&t, vt->buffer_reqs(ctx, PLMM_BUFFER_ACTIVATIONS, NULL)))
        goto out;
    if (announce(&t, "buffer_alloc(out = NULL)") &&
        !must_fail(&t, vt->buffer_alloc(ctx, 64, PLMM_BUFFER_ACTIVATIONS, NULL)))
        goto out;
    if (announce(&t, "buffer_alloc(size = 0)") &&
        !must_fail(&t, vt->buffer_alloc(ctx, 0, PLMM_BUFFER_ACTIVATIONS, &tmp)))
        goto out;
    tmp = NULL;
    if (announce(&t, "buffer_alloc(size = 1 << 62)") &&
        !must_fail(&t, vt->buffer_alloc(ctx, UINT64_C(1) << 62, PLMM_BUFFER_ACTIVATIONS, &tmp)))
        goto out;
    tmp = NULL;
    if (announce(&t, "buffer_alloc(size = UINT64_MAX)") &&
        !must_fail(&t, vt->buffer_alloc(ctx, UINT64_MAX, PLMM_BUFFER_ACTIVATIONS, &tmp)))
        goto out;
    tmp = NULL;
    conf_step("buffer_alloc(256)");
    if ((st = vt->buffer_alloc(ctx, 256, PLMM_BUFFER_ACTIVATIONS, &buf)) != PLMM_OK) {
        conf_set(r, CONF_FAIL, "buffer_alloc(256): %s", conf_be_errmsg(&be, st));
        goto out;
    }
    if (announce(&t, "buffer_write past the end") &&
        !must_fail(&t, vt->buffer_write(ctx, buf, 252, host, 8, 0)))
        goto out;
    if (announce(&t, "buffer_read past the end") &&
        !must_fail(&t, vt->buffer_read(ctx, buf, 252, host, 8, 0)))
        goto out;
    if (announce(&t, "buffer_read at offset past the end") &&
        !must_fail(&t, vt->buffer_read(ctx, buf, 257, host, 0, 0)))
        goto out;
    if (announce(&t, "buffer_read(offset overflows)") &&
        !must_fail(&t, vt->buffer_read(ctx, buf, UINT64_MAX - 2, host, 4, 0)))
        goto out;
    if (announce(&t, "buffer_write(size overflows)") &&
        !must_fail(&t, vt->buffer_write(ctx, buf, 8, host, UINT64_MAX - 4, 0)))
        goto out;
    if (announce(&t, "buffer_write(src = NULL)") &&
        !must_fail(&t, vt->buffer_write(ctx, buf, 0, NULL, 16, 0)))
        goto out;
    if (announce(&t, "buffer_read(dst = NULL)") &&
        !must_fail(&t, vt->buffer_read(ctx, buf, 0, NULL, 16, 0)))
        goto out;
    if (announce(&t, "buffer_map(out = NULL)") && !must_fail(&t, vt->buffer_map(ctx, buf, NULL)))
        goto out;
    conf_step("buffer_free(NULL)");
    vt->buffer_free(ctx, NULL);
    {
        plmm_backend_ctx *nctx = NULL;
        plmm_option_value *vals = NULL;
        uint32_t n_vals = 0;
        if (conf_option_values(env, &vals, &n_vals) == PLMM_OK) {
            bool ok = true;
            if (n_vals > 0 && announce(&t, "init(opts = NULL, n_opts > 0)") &&
                !must_fail(&t, vt->init(be.host, NULL, n_vals, &nctx)))
                ok = false;
            if (ok && announce(&t, "init(out = NULL)") &&
                !must_fail(&t, vt->init(be.host, vals, n_vals, NULL)))
                ok = false;
            plmm_option_values_free(vals);
            if (!ok)
                goto out;
        }
    }
    conf_step("shutdown(NULL)");
    vt->shutdown(NULL);
    if (be.desc->contracts & PLMM_CONTRACT_GRAPH) {
        float a[4] = {1, 2, 3, 4};
        plmm_tensor ta = {
            .dtype = PLMM_DTYPE_F32, .ne = {4, 1, 1, 1}, .nb = {4, 16, 16, 16}, .data = a};
        plmm_node nd = {.op = PLMM_OP_ADD, .dst = NULL, .src = {&ta, &ta}};
        plmm_graph g = {.struct_size = sizeof(g), .n_nodes = 1, .nodes = &nd};
        if (announce(&t, "graph_compute(graph = NULL)") &&
            !must_fail(&t, vt->graph_compute(ctx, NULL)))
            goto out;
        plmm_graph gn = {.struct_size = sizeof(g), .n_nodes = 1, .nodes = NULL};
        if (announce(&t, "graph_compute(nodes = NULL)") &&
            !must_fail(&t, vt->graph_compute(ctx, &gn)))
            goto out;
        if (announce(&t, "graph_compute(a node with dst = NULL)") &&
            !must_fail(&t, vt->graph_compute(ctx, &g)))
            goto out;
        nd.dst = &ta;
        nd.src[1] = NULL;
        if (announce(&t, "graph_compute(ADD with src1 = NULL)") &&
            !must_fail(&t, vt->graph_compute(ctx, &g)))
            goto out;
        nd.src[1] = &ta;
        nd.op = PLMM_OP_COUNT + 7;
        if (announce(&t, "graph_compute(unknown op)") && !must_fail(&t, vt->graph_compute(ctx, &g)))
            goto out;
        conf_step("synchronize after rejected graphs");
        if ((st = vt->synchronize(ctx)) != PLMM_OK) {
            conf_set(r, CONF_FAIL, "synchronize after rejected graphs: %s",
                     conf_be_errmsg(&be, st));
            goto out;
        }
    }
    if (be.desc->contracts & PLMM_CONTRACT_PARTITION) {
        uint8_t claim[1] = {0};
        void *blob = NULL;
        uint64_t blob_size = 0;
        plmm_compiled *cp = NULL;
        if (announce(&t, "partition_claim(graph = NULL)") &&
            !must_fail(&t, vt->partition_claim(ctx, NULL, claim)))
            goto out;
        if (announce(&t, "partition_compile(NULL)") &&
            !must_fail(&t, vt->partition_compile(ctx, NULL, &blob, &blob_size)))
            goto out;
        if (announce(&t, "blob_load(NULL blob)") &&
            !must_fail(&t, vt->blob_load(ctx, NULL, NULL, 0, &cp)))
            goto out;
        if (announce(&t, "compiled_execute(NULL)") &&
            !must_fail(&t, vt->compiled_execute(ctx, NULL, NULL)))
            goto out;
        conf_step("compiled_free(NULL)");
        vt->compiled_free(ctx, NULL);
        if (plmm_backend_has(vt, compat_key)) {
            char key[4];
            if (announce(&t, "compat_key(buf = NULL)") &&
                !must_fail(&t, vt->compat_key(ctx, NULL, 16)))
                goto out;
            if (announce(&t, "compat_key(size = 0)") && !must_fail(&t, vt->compat_key(ctx, key, 0)))
                goto out;
        }
    }
    conf_set(r, CONF_PASS, "%u invalid calls rejected", t.n_checks);
    if (t.n_silent > 0)
        conf_note(r, "%u error(s) came without a message through host->set_error (e.g. %s)",
                  t.n_silent, t.silent);
out:
    if (buf != NULL)
        vt->buffer_free(ctx, buf);
    conf_be_close(&be);
}

/* ---- the list ---- */

void conf_abi_cases(const conf_env *env, conf_case_list *l)
{
    (void)env;
    static const struct {
        const char *name;
        conf_case_fn fn;
    } cases[] = {
        {"abi.descriptor", case_descriptor},
        {"abi.device", case_device},
        {"abi.lifecycle", case_lifecycle},
        {"abi.two_contexts", conf_case_two_contexts},
        {"abi.options", case_options},
        {"abi.invalid_args", case_invalid_args},
        {"abi.buffers", conf_case_buffers},
        {"abi.async", conf_case_async},
        {"abi.import_host", conf_case_import_host},
        {"abi.get_rows_range", conf_case_get_rows_range},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        conf_case *c = conf_case_add(l, "abi", cases[i].name, cases[i].fn);
        if (c != NULL && cases[i].fn == case_lifecycle)
            c->timeout_mul = 2.0;
    }
}
