/*
 * plmm-conformance: command line, preparation of the registries, the case
 * list and the verdict. Exit status: 0 = certified, 1 = not certified,
 * 2 = usage or environment error.
 */
#include "conformance.h"
#include "plmm/plmm.h"
#include "plmm_sdk.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PLMM_VERSION
#define PLMM_VERSION "0.0.0"
#endif

#define EXIT_CERTIFIED 0
#define EXIT_NOT_CERTIFIED 1
#define EXIT_USAGE 2

/* Under AddressSanitizer, let allocations too large to satisfy return NULL
 * instead of aborting: abi.invalid_args asks backends for 1 << 62 bytes and
 * expects an error status. ASAN_OPTIONS still overrides this. */
PLMM_EXPORT const char *__asan_default_options(void);
PLMM_EXPORT const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: plmm-conformance [options] BACKEND_NAME_OR_PATH.so\n"
            "\n"
            "Certifies a backend plugin against a profile: descriptor and lifecycle, every op\n"
            "of the profile against the CPU backend's scalar kernels, the partition contract\n"
            "(NPU backends) and real models end to end. Each case runs in its own process.\n"
            "\n"
            "options:\n"
            "  --profile SPEC        %s (default llm-core)\n"
            "  --plugin-path DIR     also search DIR for plugin manifests (repeatable)\n"
            "  --set KEY=VALUE       backend option, backend.NAME.key=value (repeatable)\n"
            "  --json FILE           write the report as JSON\n"
            "  --perf                measure per-op throughput beside the CPU backend\n"
            "  --timeout S           seconds per case before it counts as hung (default 30)\n"
            "  --filter SUBSTR       run only cases whose name contains SUBSTR\n"
            "  --seed N              seed of the random inputs (default 1)\n"
            "  --tolerances          print the default tolerance table and exit\n"
            "  --verbose             show the plugins' log lines\n"
            "  -h, --help            this text\n"
            "\n"
            "Models for the end-to-end cases are read from $PLMM_SHARED_DIR/models\n"
            "(default ../shared/models). Exit status: 0 certified, 1 not certified,\n"
            "2 usage error.\n",
            plmm_profile_specs());
}

/* "--name value" or "--name=value"; advances *i past what it consumed. */
static const char *arg_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "plmm-conformance: %s needs a value\n", name);
        *bad = true;
        return NULL;
    }
    return argv[++*i];
}

static int parse_args(int argc, char **argv, conf_options *o)
{
    memset(o, 0, sizeof(*o));
    o->profile_spec = "llm-core";
    o->timeout_s = 30;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool bad = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_CERTIFIED);
        } else if (strcmp(a, "--tolerances") == 0) {
            conf_tolerance_print();
            exit(EXIT_CERTIFIED);
        } else if (strcmp(a, "--perf") == 0) {
            o->perf = true;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbose = true;
        } else if ((v = arg_value(argc, argv, &i, "--profile", &bad)) != NULL) {
            o->profile_spec = v;
        } else if ((v = arg_value(argc, argv, &i, "--plugin-path", &bad)) != NULL) {
            if (o->n_plugin_dirs >= CONF_MAX_LIST)
                return fprintf(stderr, "plmm-conformance: too many --plugin-path\n"), -1;
            o->plugin_dirs[o->n_plugin_dirs++] = v;
        } else if ((v = arg_value(argc, argv, &i, "--set", &bad)) != NULL) {
            if (o->n_sets >= CONF_MAX_LIST)
                return fprintf(stderr, "plmm-conformance: too many --set\n"), -1;
            if (strncmp(v, "backend.", 8) != 0 || strchr(v, '=') == NULL) {
                fprintf(stderr, "plmm-conformance: --set '%s': expected backend.NAME.key=value\n",
                        v);
                return -1;
            }
            o->sets[o->n_sets++] = v;
        } else if ((v = arg_value(argc, argv, &i, "--json", &bad)) != NULL) {
            o->json_path = v;
        } else if ((v = arg_value(argc, argv, &i, "--filter", &bad)) != NULL) {
            o->filter = v;
        } else if ((v = arg_value(argc, argv, &i, "--timeout", &bad)) != NULL) {
            char *end = NULL;
            o->timeout_s = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->timeout_s > 0) || o->timeout_s > 86400) {
                fprintf(stderr, "plmm-conformance: --timeout '%s': expected seconds > 0\n", v);
                return -1;
            }
        } else if ((v = arg_value(argc, argv, &i, "--seed", &bad)) != NULL) {
            char *end = NULL;
            errno = 0;
            o->seed = strtoull(v, &end, 10);
            if (end == v || *end != '\0' || errno != 0) {
                fprintf(stderr, "plmm-conformance: --seed '%s': expected an integer\n", v);
                return -1;
            }
        } else if (bad) {
            return -1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "plmm-conformance: unknown option '%s'\n", a);
            return -1;
        } else if (o->target != NULL) {
            fprintf(stderr, "plmm-conformance: more than one backend given ('%s', '%s')\n",
                    o->target, a);
            return -1;
        } else {
            o->target = a;
        }
        if (bad)
            return -1;
    }
    if (o->target == NULL) {
        fprintf(stderr, "plmm-conformance: no backend given\n");
        return -1;
    }
    return 0;
}

/* ---- preparation ---- */

static void path_append(char *buf, size_t size, const char *dir)
{
    size_t len = strlen(buf);
    if (dir == NULL || dir[0] == '\0' || len + 2 >= size)
        return;
    snprintf(buf + len, size - len, "%s%s", len ? ":" : "", dir);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Path mode: find the manifest of a .so (or read the .plugin given). */
static void resolve_path(conf_env *env, const char *arg)
{
    char real[PATH_MAX], dir[PATH_MAX];
    env->path_mode = true;
    if (realpath(arg, real) == NULL) {
        snprintf(env->name, sizeof(env->name), "%s", arg);
        return;
    }
    snprintf(dir, sizeof(dir), "%s", real);
    snprintf(env->target_dir, sizeof(env->target_dir), "%s", dirname(dir));
    if (ends_with(real, ".plugin")) {
        plmm_manifest m;
        if (plmm_manifest_read(real, &m) == PLMM_OK) {
            snprintf(env->name, sizeof(env->name), "%s", m.name);
            snprintf(env->manifest_path, sizeof(env->manifest_path), "%s", real);
            plmm_manifest_clear(&m);
        }
        return;
    }
    /* a library: the manifest beside it that names it */
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s", real);
    snprintf(env->name, sizeof(env->name), "%s", basename(base));
    DIR *d = opendir(env->target_dir);
    if (d == NULL)
        return;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (!ends_with(e->d_name, ".plugin"))
            continue;
        char mp[PATH_MAX + 256], lib[PATH_MAX];
        snprintf(mp, sizeof(mp), "%s/%s", env->target_dir, e->d_name);
        plmm_manifest m;
        if (plmm_manifest_read(mp, &m) != PLMM_OK)
            continue;
        if (realpath(m.library_path, lib) != NULL && strcmp(lib, real) == 0 &&
            env->manifest_path[0] == '\0') {
            snprintf(env->name, sizeof(env->name), "%s", m.name);
            if (realpath(mp, lib) != NULL)
                snprintf(env->manifest_path, sizeof(env->manifest_path), "%s", lib);
        }
        plmm_manifest_clear(&m);
    }
    closedir(d);
}

static void log_stderr(void *user, int level, const char *msg)
{
    (void)user;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "[%s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", msg);
}

static int setup_config(plmm_config **cfg, const char *plugin_path)
{
    if (plmm_config_create(cfg) != PLMM_OK)
        return -1;
    if (plugin_path[0] != '\0' &&
        plmm_config_set_value(*cfg, "engine", "plugin_path", plugin_path, NULL) != PLMM_OK)
        return -1;
    return 0;
}

static int prepare(conf_env *env)
{
    const conf_options *o = &env->opt;
    char *plugin_dirs = env->plugin_dirs;
    plugin_dirs[0] = '\0';
    for (uint32_t i = 0; i < o->n_plugin_dirs; i++) {
        char real[PATH_MAX];
        path_append(plugin_dirs, sizeof(env->plugin_dirs),
                    realpath(o->plugin_dirs[i], real) != NULL ? real : o->plugin_dirs[i]);
    }
    bool path_like = strchr(o->target, '/') != NULL || ends_with(o->target, ".so") ||
                     ends_with(o->target, ".plugin");
    if (path_like)
        resolve_path(env, o->target);
    else
        snprintf(env->name, sizeof(env->name), "%s", o->target);

    /* the backend is searched in its own directory (path mode), then
     * --plugin-path, then PLMM_PLUGIN_PATH: the first manifest of a name wins */
    const char *orig = getenv("PLMM_PLUGIN_PATH");
    env->plugin_path[0] = '\0';
    path_append(env->plugin_path, sizeof(env->plugin_path), env->target_dir);
    path_append(env->plugin_path, sizeof(env->plugin_path), plugin_dirs);
    if (!env->path_mode)
        path_append(env->plugin_path, sizeof(env->plugin_path), orig);
    snprintf(env->env_path_target, sizeof(env->env_path_target), "%s", env->plugin_path);
    if (env->path_mode)
        path_append(env->env_path_target, sizeof(env->env_path_target), orig);
    snprintf(env->env_path_ref, sizeof(env->env_path_ref), "%s", orig != NULL ? orig : "");

    /* the backend's registry: --set options; in path mode only its directory */
    if (setup_config(&env->tcfg, env->plugin_path) != 0)
        return fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg()), -1;
    for (uint32_t i = 0; i < o->n_sets; i++)
        if (plmm_config_set(env->tcfg, o->sets[i]) != PLMM_OK)
            return fprintf(stderr, "plmm-conformance: --set %s: %s\n", o->sets[i],
                           plmm_last_errmsg()),
                   -1;
    plmm_registry_opts ro = {.config = env->tcfg,
                             .log = o->verbose ? log_stderr : NULL,
                             .flags = conf_registry_flags(env)};
    if (plmm_registry_create(&ro, &env->treg) != PLMM_OK)
        return fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg()), -1;
    const plmm_plugin_info *info = plmm_registry_find(env->treg, env->name);
    if (info != NULL) {
        env->manifest = info->manifest;
        snprintf(env->manifest_path, sizeof(env->manifest_path), "%s", info->manifest->path);
    }

    /* the reference: the CPU backend's scalar kernels on one thread */
    if (setup_config(&env->ocfg, plugin_dirs) != 0 ||
        plmm_config_set(env->ocfg, "backend.cpu.simd=scalar") != PLMM_OK ||
        plmm_config_set(env->ocfg, "backend.cpu.threads=1") != PLMM_OK)
        return fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg()), -1;
    ro.config = env->ocfg;
    ro.flags = 0;
    const plmm_plugin_info *oinfo = NULL;
    if (plmm_registry_create(&ro, &env->oreg) != PLMM_OK ||
        plmm_registry_load(env->oreg, "cpu", &oinfo) != PLMM_OK) {
        fprintf(stderr, "plmm-conformance: cannot load the reference CPU backend: %s\n",
                plmm_last_errmsg());
        return -1;
    }
    env->oracle_library = oinfo->manifest->library_path;
    if (o->perf) {
        if (setup_config(&env->pcfg, plugin_dirs) != 0)
            return -1;
        ro.config = env->pcfg;
        const plmm_plugin_info *pinfo = NULL;
        if (plmm_registry_create(&ro, &env->preg) != PLMM_OK ||
            plmm_registry_load(env->preg, "cpu", &pinfo) != PLMM_OK)
            return fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg()), -1;
    }

    const char *sd = getenv("PLMM_SHARED_DIR");
    static char shared[PATH_MAX];
    snprintf(shared, sizeof(shared), "%s", sd != NULL && sd[0] ? sd : "../shared");
    char models[PATH_MAX + 16];
    snprintf(models, sizeof(models), "%s/models", shared);
    struct stat st;
    env->shared_dir = stat(models, &st) == 0 && S_ISDIR(st.st_mode) ? shared : NULL;
    return 0;
}

uint32_t conf_registry_flags(const conf_env *env)
{
    return PLMM_REGISTRY_NO_ENV | (env->path_mode ? PLMM_REGISTRY_NO_INSTALL_DIR : 0);
}

/* ---- cases ---- */

conf_case *conf_case_add(conf_case_list *l, const char *group, const char *name, conf_case_fn run)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 64;
        conf_case *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    conf_case *c = &l->v[l->n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->group, sizeof(c->group), "%s", group);
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->run = run;
    c->timeout_mul = 1.0;
    c->needs_load = true;
    return c;
}

static bool selected(const conf_env *env, const conf_case *c)
{
    return env->opt.filter == NULL || strstr(c->name, env->opt.filter) != NULL;
}

/* Load, build the case list, run every case, report; returns the exit status. */
static int run(conf_env *env)
{
    /* 1. load the plugin in a child first: a crash in its entry point is a result */
    conf_case_list cl = {NULL, 0, 0};
    conf_result *res = NULL, *rr = NULL;
    conf_case *rc = NULL;
    bool *ran = NULL;
    int code = EXIT_USAGE;
    conf_case *load = conf_case_add(&cl, "abi", "abi.load", conf_case_load);
    if (load == NULL)
        goto out;
    load->needs_load = false;
    conf_result load_r;
    conf_run_isolated(env, load, env->opt.timeout_s, &load_r);
    if (load_r.status == CONF_PASS) {
        const plmm_plugin_info *info = NULL;
        if (plmm_registry_load(env->treg, env->name, &info) == PLMM_OK) {
            env->desc = info->desc;
            env->manifest = info->manifest;
            env->loaded = true;
            /* --set values are checked against the plugin's schema now */
            plmm_option_value *vals = NULL;
            uint32_t n_vals = 0;
            if (conf_option_values(env, &vals, &n_vals) != PLMM_OK) {
                fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg());
                goto out;
            }
            plmm_option_values_free(vals);
        } else {
            conf_set(&load_r, CONF_FAIL, "%s", plmm_last_errmsg());
        }
    }

    /* 2. the case list (built from the descriptor when it loaded) */
    conf_profile_cases(env, &cl);
    conf_abi_cases(env, &cl);
    conf_op_cases(env, &cl);
    conf_npu_cases(env, &cl);
    conf_e2e_cases(env, &cl);
    if (env->opt.perf)
        conf_perf_cases(env, &cl);

    conf_report_header(env);
    res = calloc(cl.n, sizeof(*res));
    ran = calloc(cl.n, sizeof(*ran));
    rc = calloc(cl.n, sizeof(*rc));
    rr = calloc(cl.n, sizeof(*rr));
    if (res == NULL || ran == NULL || rc == NULL || rr == NULL)
        goto out;
    res[0] = load_r;
    ran[0] = true;
    conf_report_row(&cl.v[0], &res[0]);
    for (uint32_t i = 1; i < cl.n; i++) {
        const conf_case *c = &cl.v[i];
        if (!selected(env, c))
            continue;
        ran[i] = true;
        if (c->needs_load && !env->loaded) {
            conf_result_init(&res[i]);
            conf_set(&res[i], CONF_SKIP, "the backend did not load (see abi.load)");
        } else {
            conf_run_isolated(env, c, env->opt.timeout_s * c->timeout_mul, &res[i]);
        }
        conf_report_row(c, &res[i]);
    }

    /* 3. verdict */
    uint32_t cnt[3] = {0, 0, 0}, n_run = 0;
    for (uint32_t i = 0; i < cl.n; i++) {
        if (!ran[i])
            continue;
        rc[n_run] = cl.v[i];
        rr[n_run++] = res[i];
        cnt[res[i].status]++;
    }
    bool e2e_ran = false;
    for (uint32_t i = 0; i < n_run; i++)
        e2e_ran = e2e_ran || (strcmp(rc[i].group, "e2e") == 0 && rr[i].status == CONF_PASS);
    const bool certified = cnt[CONF_FAIL] == 0 && env->opt.filter == NULL;
    char verdict[512];
    if (cnt[CONF_FAIL] > 0)
        snprintf(verdict, sizeof(verdict), "NOT CERTIFIED for %s: %u case(s) failed",
                 env->profile.name, cnt[CONF_FAIL]);
    else if (env->opt.filter != NULL)
        snprintf(verdict, sizeof(verdict),
                 "no failures among the cases matching '%s' (a filtered run certifies nothing)",
                 env->opt.filter);
    else if (!e2e_ran)
        snprintf(verdict, sizeof(verdict),
                 "CERTIFIED for %s at op level; end to end not run (see the e2e cases)",
                 env->profile.name);
    else
        snprintf(verdict, sizeof(verdict), "CERTIFIED for %s", env->profile.name);

    printf("\n%u passed, %u failed, %u skipped\n", cnt[CONF_PASS], cnt[CONF_FAIL], cnt[CONF_SKIP]);
    if (cnt[CONF_FAIL] > 0) {
        printf("failed:\n");
        for (uint32_t i = 0; i < n_run; i++)
            if (rr[i].status == CONF_FAIL)
                printf("  %s: %s\n", rc[i].name, rr[i].reason);
    }
    printf("%s\n", verdict);
    code = cnt[CONF_FAIL] == 0 ? EXIT_CERTIFIED : EXIT_NOT_CERTIFIED;
    if (env->opt.json_path != NULL && !conf_report_json(env, rc, rr, n_run, certified, verdict)) {
        fprintf(stderr, "plmm-conformance: cannot write '%s'\n", env->opt.json_path);
        code = EXIT_USAGE;
    }

out:
    free(rc);
    free(rr);
    free(res);
    free(ran);
    free(cl.v);
    return code;
}

static void cleanup(conf_env *env)
{
    plmm_registry_destroy(env->treg);
    plmm_registry_destroy(env->oreg);
    plmm_registry_destroy(env->preg);
    plmm_config_destroy(env->tcfg);
    plmm_config_destroy(env->ocfg);
    plmm_config_destroy(env->pcfg);
}

int main(int argc, char **argv)
{
    conf_env env;
    memset(&env, 0, sizeof(env));
    if (parse_args(argc, argv, &env.opt) != 0) {
        fprintf(stderr, "try 'plmm-conformance --help'\n");
        return EXIT_USAGE;
    }
    if (plmm_profile_get(env.opt.profile_spec, &env.profile) != PLMM_OK) {
        fprintf(stderr, "plmm-conformance: %s\n", plmm_last_errmsg());
        return EXIT_USAGE;
    }
    if (!conf_isolate_init()) {
        fprintf(stderr, "plmm-conformance: cannot map the shared step page\n");
        return EXIT_USAGE;
    }
    int code = prepare(&env) != 0 ? EXIT_USAGE : run(&env);
    cleanup(&env);
    return code;
}
