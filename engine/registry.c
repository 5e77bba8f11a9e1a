/*
 * Plugin registry: finds manifests, loads backend and expert libraries on
 * demand, checks their descriptors against backend ABI v1 or expert ABI v1
 * (expert_desc.c) and creates backend instances.
 *
 * Version negotiation (STYLE rule 11): a descriptor of another ABI major is
 * refused; any minor is accepted, and only fields inside the plugin's
 * struct_size are read (PLMM_ABI_HAS), so a plugin built for a newer minor
 * works with the fields this engine knows and one built for an older minor
 * works with the fields it has. Every failure is kept as the plugin's
 * reason, logged, and never takes the engine down.
 */
#include "registry.h"

#include "errors.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <threads.h>

#ifndef PLMM_PLUGIN_INSTALL_DIR
#define PLMM_PLUGIN_INSTALL_DIR "/usr/local/lib/plmm-1/plugins"
#endif

#define MSG_MAX 1024

/* The smallest descriptor accepted: every field of ABI 1.0. */
#define DESC_MIN_SIZE (offsetof(plmm_backend_desc, vtbl) + sizeof(void *))
/* The smallest vtable accepted: lifecycle and device queries, which the
 * host itself calls. Everything after them is reached through
 * plmm_backend_has(), which respects the vtable's struct_size. */
#define VTBL_MIN_SIZE (offsetof(plmm_backend_vtbl, device_props) + sizeof(void *))

_Static_assert(sizeof(plmm_plugin_entry_fn) == sizeof(void *), "dlsym result fits the entry");

typedef struct plugin {
    plmm_plugin_info info;
    plmm_manifest manifest;
    char *reason; /* owned; info.reason points here or to "" */
    void *dl;     /* dlopen handle while loaded */
} plugin;

struct plmm_backend_inst {
    plmm_registry *reg;
    plugin *p;
    plmm_backend_inst *next;
    plmm_host_slot slot;
    plmm_host_api host;
    plmm_backend_ctx *ctx;
};

typedef struct strlist {
    char **v;
    uint32_t n, cap;
} strlist;

struct plmm_registry {
    mtx_t lock; /* serializes loads and instance changes */
    const plmm_config *config;
    plmm_log_fn log;
    void *log_user;
    uint64_t cpu_features;
    uint32_t n_cpus;
    plugin **plugins;
    uint32_t n_plugins, cap_plugins;
    strlist dirs;      /* scanned directories */
    strlist dirs_real; /* their canonical paths, for duplicates */
    strlist problems;
    plmm_backend_inst *instances;
};

/* ---- helpers ---- */

static bool strlist_push(strlist *l, char *s)
{
    if (s == NULL)
        return false;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            free(s);
            return false;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return true;
}

static void strlist_free(strlist *l)
{
    for (uint32_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static void reg_log(const plmm_registry *reg, int level, const char *fmt, ...) PLMM_PRINTF(3, 4);

static void reg_log(const plmm_registry *reg, int level, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    if (reg->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reg->log(reg->log_user, level, msg);
}

static void problem(plmm_registry *reg, const char *fmt, ...) PLMM_PRINTF(2, 3);

static void problem(plmm_registry *reg, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    strlist_push(&reg->problems, strdup(msg));
    reg_log(reg, PLMM_LOG_WARN, "%s", msg);
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = malloc(a + 1 + b + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static plugin *find_plugin(const plmm_registry *reg, const char *name)
{
    for (uint32_t i = 0; i < reg->n_plugins; i++)
        if (strcmp(reg->plugins[i]->manifest.name, name) == 0)
            return reg->plugins[i];
    return NULL;
}

/* Mark a plugin FAILED with a reason, unload it if nothing uses it, log and
 * record the message for the caller. */
static plmm_status fail(plmm_registry *reg, plugin *p, plmm_status status, const char *fmt, ...)
    PLMM_PRINTF(4, 5);

static plmm_status fail(plmm_registry *reg, plugin *p, plmm_status status, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(p->reason);
    p->reason = strdup(msg);
    p->info.state = PLMM_PLUGIN_FAILED;
    p->info.status = status;
    p->info.reason = p->reason != NULL ? p->reason : "out of memory";
    p->info.desc = NULL;
    p->info.expert = NULL;
    if (p->dl != NULL && p->info.n_instances == 0) {
        dlclose(p->dl);
        p->dl = NULL;
    }
    reg_log(reg, PLMM_LOG_WARN, "%s", msg);
    return plmm_err(status, "%s", msg);
}

/* ---- discovery ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_manifest_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 7 && strcmp(name + n - 7, ".plugin") == 0;
}

static void add_manifest(plmm_registry *reg, const char *path)
{
    plmm_manifest m;
    if (plmm_manifest_read(path, &m) != PLMM_OK) {
        problem(reg, "%s", plmm_last_errmsg());
        return;
    }
    const plugin *first = find_plugin(reg, m.name);
    if (first != NULL) {
        problem(reg, "%s: plugin '%s' ignored: already found in '%s'", path, m.name,
                first->manifest.path);
        plmm_manifest_clear(&m);
        return;
    }
    if (reg->n_plugins == reg->cap_plugins) {
        uint32_t cap = reg->cap_plugins ? reg->cap_plugins * 2 : 8;
        plugin **v = realloc(reg->plugins, cap * sizeof(*v));
        if (v == NULL)
            goto out_nomem;
        reg->plugins = v;
        reg->cap_plugins = cap;
    }
    plugin *p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto out_nomem;
    p->manifest = m;
    p->info.manifest = &p->manifest;
    p->info.state = PLMM_PLUGIN_DISCOVERED;
    p->info.reason = "";
    reg->plugins[reg->n_plugins++] = p;
    if (strcmp(m.arch, "any") != 0 && strcmp(m.arch, plmm_cpu_arch()) != 0)
        (void)fail(reg, p, PLMM_ERR_UNSUPPORTED,
                   "plugin '%s' is built for arch '%s', this machine is '%s'", m.name, m.arch,
                   plmm_cpu_arch());
    else
        reg_log(reg, PLMM_LOG_DEBUG, "found plugin '%s' (%s) in '%s'", m.name,
                plmm_plugin_kind_name(m.kind), path);
    return;
out_nomem:
    problem(reg, "%s: out of memory", path);
    plmm_manifest_clear(&m);
}

static void scan_dir(plmm_registry *reg, const char *dir)
{
    strlist names = {0};
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            reg_log(reg, PLMM_LOG_DEBUG, "plugin directory '%s' does not exist", dir);
        else
            problem(reg, "cannot read plugin directory '%s': %s", dir, strerror(errno));
        return;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (is_manifest_name(de->d_name) && !strlist_push(&names, strdup(de->d_name)))
            problem(reg, "%s: out of memory", dir);
    closedir(d);
    if (names.n > 0)
        qsort(names.v, names.n, sizeof(*names.v), cmp_names);
    for (uint32_t i = 0; i < names.n; i++) {
        char *path = path_join(dir, names.v[i]);
        struct stat st;
        if (path == NULL)
            problem(reg, "%s: out of memory", dir);
        else if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            add_manifest(reg, path);
        free(path);
    }
    strlist_free(&names);
}

/* Add a directory to scan unless it is already listed. */
static void add_dir(plmm_registry *reg, const char *dir, const char *base)
{
    char *path = (base != NULL && dir[0] != '/') ? path_join(base, dir) : strdup(dir);
    if (path == NULL)
        return;
    char real[PATH_MAX];
    const char *canon = realpath(path, real) != NULL ? real : path;
    for (uint32_t i = 0; i < reg->dirs.n; i++) {
        if (strcmp(reg->dirs_real.v[i], canon) == 0) {
            free(path);
            return;
        }
    }
    char *c = strdup(canon);
    if (c == NULL) {
        free(path);
        return;
    }
    if (!strlist_push(&reg->dirs, path)) {
        free(c);
        return;
    }
    if (!strlist_push(&reg->dirs_real, c))
        free(reg->dirs.v[--reg->dirs.n]);
}

static void add_dir_list(plmm_registry *reg, const char *list, const char *base)
{
    while (list != NULL && *list != '\0') {
        size_t n = strcspn(list, ":");
        if (n > 0) {
            char *dir = strndup(list, n);
            if (dir != NULL)
                add_dir(reg, dir, base);
            free(dir);
        }
        list += n;
        if (*list == ':')
            list++;
    }
}

#ifdef PLMM_BUILD_ROOT
/* Any object of this library: dladdr() on it names the file we run from. */
static const char build_anchor = 0;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* When this library runs from its own build tree (not installed), the
 * plugins built beside it are found without any configuration: every
 * directory under BUILD_ROOT/backends, then under BUILD_ROOT/experts, in
 * name order. */
static void add_build_subdirs(plmm_registry *reg, const char *root, const char *sub)
{
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof(dir), "%s/%s", root, sub);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char *names[64];
    size_t count = 0;
    for (struct dirent *e = readdir(d); e != NULL && count < 64; e = readdir(d))
        if (e->d_name[0] != '.' && (names[count] = strdup(e->d_name)) != NULL)
            count++;
    closedir(d);
    qsort(names, count, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < count; i++) {
        snprintf(dir, sizeof(dir), "%s/%s/%s", root, sub, names[i]);
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            add_dir(reg, dir, NULL);
        free(names[i]);
    }
}

static void add_build_dirs(plmm_registry *reg)
{
    Dl_info info;
    char self[PATH_MAX], root[PATH_MAX];
    if (dladdr(&build_anchor, &info) == 0 || info.dli_fname == NULL ||
        realpath(info.dli_fname, self) == NULL || realpath(PLMM_BUILD_ROOT, root) == NULL)
        return;
    size_t n = strlen(root);
    if (strncmp(self, root, n) != 0 || self[n] != '/')
        return;
    add_build_subdirs(reg, root, "backends");
    add_build_subdirs(reg, root, "experts");
}
#endif

static void scan(plmm_registry *reg, uint32_t flags)
{
    if (!(flags & PLMM_REGISTRY_NO_ENV)) {
        const char *env = getenv("PLMM_PLUGIN_PATH");
        if (env != NULL && getauxval(AT_SECURE) != 0)
            reg_log(reg, PLMM_LOG_WARN, "PLMM_PLUGIN_PATH ignored in a set-user-ID program");
        else
            add_dir_list(reg, env, NULL);
    }
    const char *cfg_path = NULL;
    if (reg->config != NULL &&
        plmm_config_get_string(reg->config, "engine", "plugin_path", &cfg_path) == PLMM_OK)
        add_dir_list(reg, cfg_path, plmm_config_base_dir(reg->config, "engine", "plugin_path"));
#ifdef PLMM_BUILD_ROOT
    if (!(flags & PLMM_REGISTRY_NO_INSTALL_DIR))
        add_build_dirs(reg);
#endif
    if (!(flags & PLMM_REGISTRY_NO_INSTALL_DIR))
        add_dir(reg, PLMM_PLUGIN_INSTALL_DIR, NULL);
    for (uint32_t i = 0; i < reg->dirs.n; i++)
        scan_dir(reg, reg->dirs.v[i]);
}

/* ---- the registry ---- */

plmm_status plmm_registry_create(const plmm_registry_opts *opts, plmm_registry **out)
{
    plmm_registry *reg = calloc(1, sizeof(*reg));
    *out = NULL;
    if (reg == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "out of memory creating the plugin registry");
    if (mtx_init(&reg->lock, mtx_plain) != thrd_success) {
        free(reg);
        return plmm_err(PLMM_ERR_INTERNAL, "cannot create the plugin registry's mutex");
    }
    if (opts != NULL) {
        reg->config = opts->config;
        reg->log = opts->log;
        reg->log_user = opts->log_user;
    }
    reg->cpu_features = plmm_cpu_features_detect();
    reg->n_cpus = plmm_cpu_count();
    scan(reg, opts != NULL ? opts->flags : 0);
    *out = reg;
    return PLMM_OK;
}

void plmm_registry_destroy(plmm_registry *reg)
{
    if (reg == NULL)
        return;
    while (reg->instances != NULL) {
        plmm_backend_inst *inst = reg->instances;
        reg_log(reg, PLMM_LOG_WARN, "backend '%s' still in use at shutdown; shutting it down",
                inst->p->manifest.name);
        plmm_backend_inst_destroy(inst);
    }
    for (uint32_t i = 0; i < reg->n_plugins; i++) {
        plugin *p = reg->plugins[i];
        if (p->dl != NULL)
            dlclose(p->dl);
        plmm_manifest_clear(&p->manifest);
        free(p->reason);
        free(p);
    }
    free(reg->plugins);
    strlist_free(&reg->dirs);
    strlist_free(&reg->dirs_real);
    strlist_free(&reg->problems);
    mtx_destroy(&reg->lock);
    free(reg);
}

uint32_t plmm_registry_count(const plmm_registry *reg)
{
    return reg->n_plugins;
}

const plmm_plugin_info *plmm_registry_at(const plmm_registry *reg, uint32_t i)
{
    return i < reg->n_plugins ? &reg->plugins[i]->info : NULL;
}

const plmm_plugin_info *plmm_registry_find(const plmm_registry *reg, const char *name)
{
    const plugin *p = find_plugin(reg, name);
    return p != NULL ? &p->info : NULL;
}

uint32_t plmm_registry_dir_count(const plmm_registry *reg)
{
    return reg->dirs.n;
}

const char *plmm_registry_dir_at(const plmm_registry *reg, uint32_t i)
{
    return i < reg->dirs.n ? reg->dirs.v[i] : NULL;
}

uint32_t plmm_registry_problem_count(const plmm_registry *reg)
{
    return reg->problems.n;
}

const char *plmm_registry_problem_at(const plmm_registry *reg, uint32_t i)
{
    return i < reg->problems.n ? reg->problems.v[i] : NULL;
}

/* ---- descriptor checks ---- */

/* Is every function the declared contracts need present? */
static const char *missing_contract_fn(const plmm_backend_desc *d)
{
    const plmm_backend_vtbl *vt = d->vtbl;
    if (d->contracts & (PLMM_CONTRACT_GRAPH | PLMM_CONTRACT_PARTITION)) {
        if (!plmm_backend_has(vt, buffer_reqs))
            return "buffer_reqs";
        if (!plmm_backend_has(vt, buffer_alloc))
            return "buffer_alloc";
        if (!plmm_backend_has(vt, buffer_free))
            return "buffer_free";
        if (!plmm_backend_has(vt, buffer_map))
            return "buffer_map";
        if (!plmm_backend_has(vt, buffer_write))
            return "buffer_write";
        if (!plmm_backend_has(vt, buffer_read))
            return "buffer_read";
        if (!plmm_backend_has(vt, synchronize))
            return "synchronize";
    }
    if ((d->contracts & PLMM_CONTRACT_GRAPH) && !plmm_backend_has(vt, graph_compute))
        return "graph_compute";
    if (d->contracts & PLMM_CONTRACT_PARTITION) {
        if (!plmm_backend_has(vt, partition_claim))
            return "partition_claim";
        if (!plmm_backend_has(vt, partition_compile))
            return "partition_compile";
        if (!plmm_backend_has(vt, blob_load))
            return "blob_load";
        if (!plmm_backend_has(vt, compiled_execute))
            return "compiled_execute";
        if (!plmm_backend_has(vt, compiled_free))
            return "compiled_free";
    }
    return NULL;
}

/* Check a descriptor against its manifest (experts: expert_desc.c);
 * message in why. */
static plmm_status check_desc(const plmm_manifest *m, const void *raw, char *why, size_t n)
{
    const char *name = m->name;
    const plmm_plugin_header *hd = raw;
    if (hd->struct_size < sizeof(plmm_plugin_header)) {
        snprintf(why, n, "plugin '%s': descriptor struct_size %u is too small", name,
                 (unsigned)hd->struct_size);
        return PLMM_ERR_ABI;
    }
    if (hd->kind != m->kind) {
        snprintf(why, n, "plugin '%s': descriptor kind is '%s', its manifest says '%s'", name,
                 plmm_plugin_kind_name(hd->kind), plmm_plugin_kind_name(m->kind));
        return PLMM_ERR_PLUGIN;
    }
    if (hd->kind == PLMM_PLUGIN_EXPERT)
        return plmm_expert_desc_check(m, raw, why, n);
    if (hd->abi_major != PLMM_BACKEND_ABI_MAJOR) {
        snprintf(why, n, "plugin '%s' is built for backend ABI %u.x, engine supports %d.x", name,
                 (unsigned)hd->abi_major, PLMM_BACKEND_ABI_MAJOR);
        return PLMM_ERR_ABI;
    }
    if (hd->struct_size < DESC_MIN_SIZE) {
        snprintf(why, n,
                 "plugin '%s': descriptor struct_size %u is smaller than backend ABI %d.0's %zu",
                 name, (unsigned)hd->struct_size, PLMM_BACKEND_ABI_MAJOR, DESC_MIN_SIZE);
        return PLMM_ERR_ABI;
    }
    const plmm_backend_desc *d = raw;
    if (d->name == NULL || strcmp(d->name, name) != 0) {
        snprintf(why, n, "plugin '%s': descriptor name '%s' does not match its manifest", name,
                 d->name != NULL ? d->name : "(null)");
        return PLMM_ERR_PLUGIN;
    }
    if (m->device_type != 0 && d->device_type != m->device_type) {
        snprintf(why, n, "plugin '%s': descriptor device type '%s', its manifest says '%s'", name,
                 plmm_device_type_name(d->device_type), plmm_device_type_name(m->device_type));
        return PLMM_ERR_PLUGIN;
    }
    const plmm_backend_vtbl *vt = d->vtbl;
    if (vt == NULL) {
        snprintf(why, n, "plugin '%s': descriptor has no vtable", name);
        return PLMM_ERR_PLUGIN;
    }
    if (vt->struct_size < VTBL_MIN_SIZE) {
        snprintf(why, n, "plugin '%s': vtable struct_size %u is smaller than the minimum %zu", name,
                 (unsigned)vt->struct_size, VTBL_MIN_SIZE);
        return PLMM_ERR_ABI;
    }
    if (PLMM_ABI_MAJOR(vt->abi_version) != PLMM_BACKEND_ABI_MAJOR) {
        snprintf(why, n, "plugin '%s': vtable is built for backend ABI %u.x, engine supports %d.x",
                 name, (unsigned)PLMM_ABI_MAJOR(vt->abi_version), PLMM_BACKEND_ABI_MAJOR);
        return PLMM_ERR_ABI;
    }
    const char *missing = vt->init == NULL           ? "init"
                          : vt->shutdown == NULL     ? "shutdown"
                          : vt->device_count == NULL ? "device_count"
                          : vt->device_props == NULL ? "device_props"
                                                     : NULL;
    if (missing != NULL) {
        snprintf(why, n, "plugin '%s': vtable lacks required function '%s'", name, missing);
        return PLMM_ERR_PLUGIN;
    }
    if ((missing = missing_contract_fn(d)) != NULL) {
        snprintf(why, n, "plugin '%s': declares the %s contract but its vtable lacks '%s'", name,
                 (d->contracts & PLMM_CONTRACT_GRAPH) ? "graph" : "partition", missing);
        return PLMM_ERR_PLUGIN;
    }
    if ((d->n_caps > 0 && d->caps == NULL) || (d->n_tolerances > 0 && d->tolerances == NULL)) {
        snprintf(why, n, "plugin '%s': descriptor declares %s but has no table", name,
                 d->caps == NULL && d->n_caps > 0 ? "caps" : "tolerances");
        return PLMM_ERR_PLUGIN;
    }
    char msg[MSG_MAX / 2];
    if (plmm_option_schema_check(d->options, d->n_options, msg, sizeof(msg)) != PLMM_OK) {
        snprintf(why, n, "plugin '%s': %s", name, msg);
        return PLMM_ERR_PLUGIN;
    }
    return PLMM_OK;
}

/* ---- loading ---- */

static plmm_status load_locked(plmm_registry *reg, plugin *p)
{
    const plmm_manifest *m = &p->manifest;
    char why[MSG_MAX];
    struct stat st;

    if (p->info.state == PLMM_PLUGIN_LOADED)
        return PLMM_OK;
    if (p->info.state == PLMM_PLUGIN_FAILED)
        return plmm_err(p->info.status, "%s", p->info.reason);
    bool expert = m->kind == PLMM_PLUGIN_EXPERT;
    int engine_major = expert ? PLMM_EXPERT_ABI_MAJOR : PLMM_BACKEND_ABI_MAJOR;
    if (m->abi_major != (uint32_t)engine_major)
        return fail(reg, p, PLMM_ERR_ABI,
                    "plugin '%s' is built for %s ABI %u.x, engine supports %d.x", m->name,
                    plmm_plugin_kind_name(m->kind), (unsigned)m->abi_major, engine_major);
    if (stat(m->library_path, &st) != 0) {
        if (errno == ENOENT)
            return fail(reg, p, PLMM_ERR_NOT_FOUND, "plugin '%s': library '%s' not found", m->name,
                        m->library_path);
        return fail(reg, p, PLMM_ERR_IO, "plugin '%s': cannot access library '%s': %s", m->name,
                    m->library_path, strerror(errno));
    }

    dlerror();
    p->dl = dlopen(m->library_path, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL) {
        const char *e = dlerror();
        return fail(reg, p, PLMM_ERR_PLUGIN, "plugin '%s': dlopen failed: %s", m->name,
                    e != NULL ? e : "unknown error");
    }
    void *sym = dlsym(p->dl, PLMM_PLUGIN_ENTRY_SYMBOL);
    if (sym == NULL)
        return fail(reg, p, PLMM_ERR_PLUGIN, "plugin '%s': '%s' does not export %s()", m->name,
                    m->library_path, PLMM_PLUGIN_ENTRY_SYMBOL);
    plmm_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* object to function pointer, as POSIX allows */
    const void *raw = entry();
    if (raw == NULL)
        return fail(reg, p, PLMM_ERR_PLUGIN, "plugin '%s': %s() returned NULL", m->name,
                    PLMM_PLUGIN_ENTRY_SYMBOL);
    plmm_status s = check_desc(m, raw, why, sizeof(why));
    if (s != PLMM_OK)
        return fail(reg, p, s, "%s", why);

    if (expert) {
        const plmm_expert_desc *x = raw;
        if (x->abi_minor > PLMM_EXPERT_ABI_MINOR)
            reg_log(reg, PLMM_LOG_INFO,
                    "plugin '%s' is built for expert ABI %u.%u; this engine uses its %d.%d part",
                    m->name, (unsigned)x->abi_major, (unsigned)x->abi_minor, PLMM_EXPERT_ABI_MAJOR,
                    PLMM_EXPERT_ABI_MINOR);
        p->info.state = PLMM_PLUGIN_LOADED;
        p->info.expert = x;
        reg_log(reg, PLMM_LOG_INFO, "loaded plugin '%s' %s from '%s'", m->name,
                x->version != NULL ? x->version : "", m->library_path);
        return PLMM_OK;
    }
    const plmm_backend_desc *d = raw;
    if (d->abi_minor > PLMM_BACKEND_ABI_MINOR)
        reg_log(reg, PLMM_LOG_INFO,
                "plugin '%s' is built for backend ABI %u.%u; this engine uses its %d.%d part",
                m->name, (unsigned)d->abi_major, (unsigned)d->abi_minor, PLMM_BACKEND_ABI_MAJOR,
                PLMM_BACKEND_ABI_MINOR);
    if (d->score != NULL) {
        plmm_host_slot slot = {.log = reg->log, .log_user = reg->log_user, .name = m->name};
        plmm_host_api host;
        plmm_host_api_init(&host, &slot, reg->cpu_features, reg->n_cpus);
        int score = d->score(&host);
        if (score <= 0)
            return fail(reg, p, PLMM_ERR_UNSUPPORTED,
                        "plugin '%s' cannot run on this machine (score %d)", m->name, score);
    }
    p->info.state = PLMM_PLUGIN_LOADED;
    p->info.desc = d;
    reg_log(reg, PLMM_LOG_INFO, "loaded plugin '%s' %s from '%s'", m->name,
            d->version != NULL ? d->version : "", m->library_path);
    return PLMM_OK;
}

plmm_status plmm_registry_load(plmm_registry *reg, const char *name, const plmm_plugin_info **info)
{
    if (info != NULL)
        *info = NULL;
    mtx_lock(&reg->lock);
    plugin *p = find_plugin(reg, name);
    plmm_status s;
    if (p == NULL) {
        s = plmm_err(PLMM_ERR_NOT_FOUND, "no plugin named '%s'", name);
    } else {
        s = load_locked(reg, p);
        if (info != NULL)
            *info = &p->info;
    }
    mtx_unlock(&reg->lock);
    return s;
}

plmm_status plmm_registry_check_config(const plmm_registry *reg)
{
    static const struct {
        const char *prefix;
        uint32_t kind;
    } families[] = {{"backend.", PLMM_PLUGIN_BACKEND}, {"expert.", PLMM_PLUGIN_EXPERT}};
    uint32_t n = plmm_config_section_count(reg->config);
    for (uint32_t i = 0; i < n; i++) {
        const char *source;
        uint32_t line;
        const char *sec = plmm_config_section_at(reg->config, i, &source, &line);
        for (size_t f = 0; sec != NULL && f < sizeof(families) / sizeof(families[0]); f++) {
            size_t len = strlen(families[f].prefix);
            if (strncmp(sec, families[f].prefix, len) != 0)
                continue;
            const char *name = sec + len;
            const plugin *p = find_plugin(reg, name);
            if (p != NULL && p->manifest.kind == families[f].kind)
                continue;
            const char *kind = plmm_plugin_kind_name(families[f].kind);
            if (line > 0)
                return plmm_err(PLMM_ERR_CONFIG, "%s:%u: [%s]: no %s plugin named '%s' was found",
                                source, (unsigned)line, sec, kind, name);
            return plmm_err(PLMM_ERR_CONFIG, "%s: [%s]: no %s plugin named '%s' was found", source,
                            sec, kind, name);
        }
    }
    return PLMM_OK;
}

/* ---- backend instances ---- */

/* init (or the first device query) failed: report with the plugin's text. */
static plmm_status init_failed(plmm_registry *reg, plugin *p, plmm_backend_inst *inst,
                               plmm_status status, const char *what)
{
    const char *detail = inst->slot.errmsg[0] != '\0' ? inst->slot.errmsg
                         : status < 0                 ? plmm_status_str(status)
                                                      : "invalid status";
    plmm_status ret = status < 0 ? status : PLMM_ERR_PLUGIN;
    if (p->info.n_instances == 0)
        return fail(reg, p, ret, "plugin '%s': %s: %s", p->manifest.name, what, detail);
    return plmm_err(ret, "plugin '%s': %s: %s", p->manifest.name, what, detail);
}

plmm_status plmm_backend_inst_create(plmm_registry *reg, const char *name, plmm_backend_inst **out)
{
    char section[256];
    plmm_option_value *vals = NULL;
    uint32_t n_vals = 0;
    plmm_status s;

    *out = NULL;
    mtx_lock(&reg->lock);
    plugin *p = find_plugin(reg, name);
    if (p == NULL) {
        s = plmm_err(PLMM_ERR_NOT_FOUND, "no plugin named '%s'", name);
        goto out_unlock;
    }
    if (p->manifest.kind != PLMM_PLUGIN_BACKEND) {
        s = plmm_err(PLMM_ERR_INVALID_ARG, "plugin '%s' is not a backend", name);
        goto out_unlock;
    }
    if ((s = load_locked(reg, p)) != PLMM_OK)
        goto out_unlock;
    const plmm_backend_desc *d = p->info.desc;
    snprintf(section, sizeof(section), "backend.%s", name);
    s = plmm_config_plugin_options(reg->config, section, d->options, d->n_options, &vals, &n_vals);
    if (s != PLMM_OK)
        goto out_unlock;

    plmm_backend_inst *inst = calloc(1, sizeof(*inst));
    if (inst == NULL) {
        s = plmm_err(PLMM_ERR_NOMEM, "out of memory creating backend '%s'", name);
        goto out_free_vals;
    }
    inst->reg = reg;
    inst->p = p;
    inst->slot.log = reg->log;
    inst->slot.log_user = reg->log_user;
    inst->slot.name = p->manifest.name;
    plmm_host_api_init(&inst->host, &inst->slot, reg->cpu_features, reg->n_cpus);

    plmm_backend_ctx *ctx = NULL;
    s = d->vtbl->init(&inst->host, vals, n_vals, &ctx);
    if (s != PLMM_OK) {
        s = init_failed(reg, p, inst, s, "init failed");
        goto out_free_inst;
    }
    uint32_t n_dev = 0;
    s = d->vtbl->device_count(ctx, &n_dev);
    if (s != PLMM_OK || n_dev == 0) {
        if (s == PLMM_OK)
            snprintf(inst->slot.errmsg, sizeof(inst->slot.errmsg), "no device");
        d->vtbl->shutdown(ctx);
        s = init_failed(reg, p, inst, s != PLMM_OK ? s : PLMM_ERR_BACKEND, "device_count");
        goto out_free_inst;
    }
    inst->ctx = ctx;
    inst->next = reg->instances;
    reg->instances = inst;
    p->info.n_instances++;
    *out = inst;
    reg_log(reg, PLMM_LOG_DEBUG, "backend '%s' ready with %u device(s)", name, (unsigned)n_dev);
    goto out_free_vals;

out_free_inst:
    free(inst);
out_free_vals:
    plmm_option_values_free(vals);
out_unlock:
    mtx_unlock(&reg->lock);
    return s;
}

void plmm_backend_inst_destroy(plmm_backend_inst *inst)
{
    if (inst == NULL)
        return;
    plmm_registry *reg = inst->reg;
    mtx_lock(&reg->lock);
    inst->p->info.desc->vtbl->shutdown(inst->ctx);
    for (plmm_backend_inst **pp = &reg->instances; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == inst) {
            *pp = inst->next;
            break;
        }
    }
    inst->p->info.n_instances--;
    mtx_unlock(&reg->lock);
    free(inst);
}

const char *plmm_backend_inst_name(const plmm_backend_inst *inst)
{
    return inst->p->manifest.name;
}

const plmm_backend_desc *plmm_backend_inst_desc(const plmm_backend_inst *inst)
{
    return inst->p->info.desc;
}

const plmm_backend_vtbl *plmm_backend_inst_vtbl(const plmm_backend_inst *inst)
{
    return inst->p->info.desc->vtbl;
}

plmm_backend_ctx *plmm_backend_inst_ctx(const plmm_backend_inst *inst)
{
    return inst->ctx;
}

const plmm_host_api *plmm_backend_inst_host(const plmm_backend_inst *inst)
{
    return &inst->host;
}

const char *plmm_backend_inst_errmsg(const plmm_backend_inst *inst)
{
    return inst->slot.errmsg;
}

const char *plmm_backend_inst_errmsg_cb(const void *inst)
{
    return plmm_backend_inst_errmsg(inst);
}

plmm_status plmm_backend_inst_fail(plmm_backend_inst *inst, plmm_status status)
{
    const char *detail = inst->slot.errmsg[0] != '\0' ? inst->slot.errmsg : plmm_status_str(status);
    plmm_err(status, "backend '%s': %s", inst->p->manifest.name, detail);
    inst->slot.errmsg[0] = '\0';
    return status;
}
