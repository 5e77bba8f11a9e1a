/*
 * Reports: one table row per case on stdout as the cases finish, and a
 * JSON file (--json) with one case object per line.
 */
#include "conformance.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef PLMM_VERSION
#define PLMM_VERSION "0.0.0"
#endif

static const char *status_name(int s)
{
    return s == CONF_PASS ? "PASS" : s == CONF_SKIP ? "SKIP" : "FAIL";
}

static const char *tol_source_name(int s)
{
    switch (s) {
    case TOL_DEFAULT:
        return "default";
    case TOL_DECLARED:
        return "declared";
    case TOL_CAPPED:
        return "declared, capped";
    default:
        return "none";
    }
}

static void num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.2e", v);
}

void conf_report_header(const conf_env *env)
{
    const plmm_backend_desc *d = env->desc;
    printf("plmm-conformance %s: backend '%s'", PLMM_VERSION, env->name);
    if (d != NULL)
        printf(" %s (%s device)", d->version != NULL ? d->version : "?",
               plmm_device_type_name(d->device_type));
    printf(", profile %s\n", env->profile.name);
    if (env->manifest_path[0])
        printf("manifest: %s\n", env->manifest_path);
    printf("reference: cpu backend, simd = scalar, threads = 1 (%s)\n",
           env->oracle_library != NULL ? env->oracle_library : "?");
    for (uint32_t i = 0; i < env->opt.n_sets; i++)
        printf("option: %s\n", env->opt.sets[i]);
    printf("tolerance column: NMSE/max-abs bound; D = declared by the backend, C = declared "
           "but capped at %.0fx the default\n\n",
           CONF_TOL_CAP);
    printf("%-36s %-9s %-5s %-22s %-8s %-8s %-8s %-15s %6s %s\n", "CASE", "OP", "DTYPE", "SHAPE",
           "NMSE", "MAX_ABS", "MAX_REL", "TOLERANCE", "TIME", "RESULT");
    fflush(stdout);
}

void conf_report_row(const conf_case *c, const conf_result *r)
{
    char e1[16], e2[16], e3[16], tol[40] = "-";
    num(e1, sizeof(e1), r->nmse);
    num(e2, sizeof(e2), r->max_abs);
    num(e3, sizeof(e3), r->max_rel);
    if (r->tol_source != TOL_NONE) {
        char ma[16] = "-";
        if (r->tol_max_abs > 0)
            snprintf(ma, sizeof(ma), "%.0e", r->tol_max_abs);
        snprintf(tol, sizeof(tol), "%.0e/%s%s", r->tol_nmse, ma,
                 r->tol_source == TOL_DECLARED ? " D"
                 : r->tol_source == TOL_CAPPED ? " C"
                                               : "");
    }
    printf("%-36s %-9s %-5s %-22s %-8s %-8s %-8s %-15s %5.1fs %s", c->name, c->op[0] ? c->op : "-",
           c->dtype[0] ? c->dtype : "-", c->shape[0] ? c->shape : "-", e1, e2, e3, tol, r->seconds,
           status_name(r->status));
    if (!isnan(r->perf))
        printf("  %.3g %s (cpu backend: %.3g)", r->perf, r->perf_unit, r->perf_ref);
    if (r->reason[0])
        printf("  %s %s", r->status == CONF_PASS ? "note:" : "--", r->reason);
    printf("\n");
    fflush(stdout);
}

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s != NULL && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

bool conf_report_json(const conf_env *env, const conf_case *cases, const conf_result *results,
                      uint32_t n, bool certified, const char *verdict)
{
    FILE *f = fopen(env->opt.json_path, "w");
    if (f == NULL)
        return false;
    uint32_t cnt[3] = {0, 0, 0};
    for (uint32_t i = 0; i < n; i++)
        cnt[results[i].status]++;
    const plmm_backend_desc *d = env->desc;
    fputs("{\n\"suite\": \"plmm-conformance\",\n\"suite_version\": ", f);
    jstr(f, PLMM_VERSION);
    fputs(",\n\"backend\": {\"name\": ", f);
    jstr(f, env->name);
    fputs(", \"version\": ", f);
    jstr(f, d != NULL ? d->version : NULL);
    fputs(", \"device_type\": ", f);
    jstr(f, d != NULL ? plmm_device_type_name(d->device_type) : NULL);
    fputs(", \"manifest\": ", f);
    jstr(f, env->manifest_path);
    fputs(", \"library\": ", f);
    jstr(f, env->manifest != NULL ? env->manifest->library_path : NULL);
    fputs("},\n\"profile\": ", f);
    jstr(f, env->profile.name);
    fputs(",\n\"reference\": {\"backend\": \"cpu\", \"simd\": \"scalar\", \"threads\": 1, "
          "\"library\": ",
          f);
    jstr(f, env->oracle_library);
    fputs("},\n\"options\": {\"set\": [", f);
    for (uint32_t i = 0; i < env->opt.n_sets; i++) {
        if (i)
            fputs(", ", f);
        jstr(f, env->opt.sets[i]);
    }
    fputs("], \"filter\": ", f);
    jstr(f, env->opt.filter);
    fprintf(f, ", \"timeout_s\": %g, \"seed\": %llu, \"perf\": %s},\n", env->opt.timeout_s,
            (unsigned long long)env->opt.seed, env->opt.perf ? "true" : "false");
    fprintf(f, "\"certified\": %s,\n\"verdict\": ", certified ? "true" : "false");
    jstr(f, verdict);
    fprintf(f, ",\n\"counts\": {\"pass\": %u, \"fail\": %u, \"skip\": %u},\n\"cases\": [\n",
            cnt[CONF_PASS], cnt[CONF_FAIL], cnt[CONF_SKIP]);
    for (uint32_t i = 0; i < n; i++) {
        const conf_case *c = &cases[i];
        const conf_result *r = &results[i];
        fputs("{\"name\": ", f);
        jstr(f, c->name);
        fputs(", \"group\": ", f);
        jstr(f, c->group);
        fputs(", \"op\": ", f);
        jstr(f, c->op);
        fputs(", \"dtype\": ", f);
        jstr(f, c->dtype);
        fputs(", \"shape\": ", f);
        jstr(f, c->shape);
        fputs(", \"status\": ", f);
        jstr(f, status_name(r->status));
        fputs(", \"nmse\": ", f);
        jnum(f, r->nmse);
        fputs(", \"max_abs\": ", f);
        jnum(f, r->max_abs);
        fputs(", \"max_rel\": ", f);
        jnum(f, r->max_rel);
        if (r->tol_source != TOL_NONE) {
            fputs(", \"tolerance\": {\"nmse\": ", f);
            jnum(f, r->tol_nmse);
            fputs(", \"max_abs\": ", f);
            jnum(f, r->tol_max_abs);
            fputs(", \"source\": ", f);
            jstr(f, tol_source_name(r->tol_source));
            fputs("}", f);
        }
        if (!isnan(r->perf)) {
            fputs(", \"perf\": {\"backend\": ", f);
            jnum(f, r->perf);
            fputs(", \"cpu\": ", f);
            jnum(f, r->perf_ref);
            fputs(", \"unit\": ", f);
            jstr(f, r->perf_unit);
            fputs("}", f);
        }
        fprintf(f, ", \"seconds\": %.3f, \"reason\": ", r->seconds);
        jstr(f, r->reason);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fputs("]\n}\n", f);
    bool ok = !ferror(f);
    if (fclose(f) != 0)
        ok = false;
    return ok;
}
