/*
 * --perf: per-op throughput of the backend beside the CPU backend (its
 * default options: best SIMD kernels, every CPU). Informational: a perf
 * case fails only when the op cannot run.
 */
#include "conformance.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_SECONDS 0.3
#define MAX_ITERS 200

typedef struct perf_spec {
    const char *label;
    uint32_t op;
    int64_t p[6];
    bool gbps; /* report memory throughput, else arithmetic */
} perf_spec;

static const perf_spec specs[] = {
    {"decode", PLMM_OP_MUL_MAT, {4096, 4096, 1}, true},
    {"prompt", PLMM_OP_MUL_MAT, {4096, 1024, 64}, false},
    {"n2048", PLMM_OP_ATTENTION, {128, 32, 8, 1, 2048}, true},
    {"t64", PLMM_OP_RMS_NORM, {4096, 64}, true},
    {"t64", PLMM_OP_ROPE, {128, 32, 64}, true},
    {"t16", PLMM_OP_SWIGLU, {11008, 16}, true},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Build the node; *work is FLOPs or bytes per run. */
static bool build(const perf_spec *s, uint32_t dt, conf_node *n, double *work)
{
    const int64_t *p = s->p;
    conf_rng g;
    conf_rng_seed(&g, 5);
    memset(n, 0, sizeof(*n));
    n->op = s->op;
    n->used[0] = n->used[1] = true;
    bool ok = true;
    switch (s->op) {
    case PLMM_OP_MUL_MAT:
        n->used[2] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[1], p[2], 1, 1) &&
             conf_operand_dense(&n->t[1], dt, CT_WEIGHT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, p[0], p[2], 1, 1);
        *work = s->gbps ? (double)n->t[1].storage : 2.0 * (double)(p[0] * p[1] * p[2]);
        break;
    case PLMM_OP_ATTENTION: {
        n->used[2] = n->used[3] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], p[3], 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], p[3], 1) &&
             conf_operand_dense(&n->t[2], dt, CT_INPUT, p[0], p[2], p[4], 1) &&
             conf_operand_dense(&n->t[3], dt, CT_INPUT, p[0], p[2], p[4], 1);
        n->ip[0] = (int32_t)p[4];
        n->ip[1] = (int32_t)(p[4] - p[3]);
        n->ip[2] = 1;
        n->fp[0] = 1.0f / sqrtf((float)p[0]);
        *work = 2.0 * (double)n->t[2].storage;
        break;
    }
    case PLMM_OP_RMS_NORM:
        n->used[2] = true;
        n->fp[0] = 1e-5f;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_WEIGHT, p[0], 1, 1, 1);
        *work = 2.0 * (double)n->t[1].storage;
        break;
    case PLMM_OP_ROPE:
        n->used[2] = true;
        n->inplace = true;
        ok = conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], p[2], 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_I32, CT_INPUT, p[2], 1, 1, 1);
        n->ip[0] = (int32_t)p[0];
        n->ip[2] = 4096;
        n->fp[0] = 1e4f;
        n->fp[1] = n->fp[3] = 1.0f;
        *work = 2.0 * (double)n->t[1].storage;
        break;
    case PLMM_OP_SWIGLU:
        n->used[2] = true;
        ok = conf_operand_dense(&n->t[0], PLMM_DTYPE_F32, CT_OUTPUT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[1], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1) &&
             conf_operand_dense(&n->t[2], PLMM_DTYPE_F32, CT_INPUT, p[0], p[1], 1, 1);
        *work = 3.0 * (double)n->t[1].storage;
        break;
    default:
        return false;
    }
    if (!ok)
        return false;
    conf_node_randomize(n, &g, 1.0f);
    if (s->op == PLMM_OP_ROPE) {
        n->t[0] = n->t[1];
        n->t[0].image = NULL;
        for (int64_t i = 0; i < p[2]; i++) {
            int32_t pos = (int32_t)i;
            memcpy(n->t[2].image + i * 4, &pos, 4);
        }
    }
    return true;
}

/* Runs per second of a prepared node on a backend; 0 on error (why set). */
static double rate(plmm_registry *reg, const char *name, const conf_node *n, char *why,
                   size_t why_size)
{
    conf_be be;
    conf_prepared p;
    double r = 0;
    if (conf_be_open(reg, name, &be, why, why_size) != PLMM_OK)
        return 0;
    if (be.use_partition) {
        snprintf(why, why_size, "perf runs on the graph contract");
        conf_be_close(&be);
        return 0;
    }
    if (conf_node_prepare(&be, n, &p, why, why_size) == PLMM_OK) {
        if (conf_prepared_compute(&be, &p, why, why_size) == PLMM_OK) {
            int iters = 0;
            double t0 = now_s(), t = 0;
            while (iters < MAX_ITERS && (t = now_s() - t0) < MIN_SECONDS) {
                if (conf_prepared_compute(&be, &p, why, why_size) != PLMM_OK)
                    break;
                iters++;
            }
            t = now_s() - t0;
            if (iters > 0 && t > 0)
                r = iters / t;
        }
        conf_prepared_free(&be, &p);
    }
    conf_be_close(&be);
    return r;
}

static void run_perf(const conf_env *env, const conf_case *c, conf_result *r)
{
    const perf_spec *s = &specs[c->index];
    conf_node n;
    double work = 0;
    char why[600];
    const uint32_t cap_dt =
        s->op == PLMM_OP_MUL_MAT || s->op == PLMM_OP_ATTENTION ? c->dtype_id : PLMM_DTYPE_F32;
    if (!conf_declares(env->desc, s->op, cap_dt)) {
        conf_set(r, CONF_SKIP, "%s %s is not declared", plmm_op_name(s->op),
                 plmm_dtype_name(cap_dt));
        return;
    }
    if (!build(s, c->dtype_id, &n, &work)) {
        conf_set(r, CONF_FAIL, "suite error: cannot build the case");
        conf_node_free(&n);
        return;
    }
    double rt = rate(env->treg, env->name, &n, why, sizeof(why));
    if (rt == 0) {
        conf_set(r, env->desc->contracts & PLMM_CONTRACT_GRAPH ? CONF_FAIL : CONF_SKIP, "%s", why);
        conf_node_free(&n);
        return;
    }
    double rc = rate(env->preg, "cpu", &n, why, sizeof(why));
    const double scale = 1e-9;
    r->perf = rt * work * scale;
    r->perf_ref = rc * work * scale;
    snprintf(r->perf_unit, sizeof(r->perf_unit), "%s", s->gbps ? "GB/s" : "GFLOP/s");
    conf_set(r, CONF_PASS, "%.3g runs/s", rt);
    conf_node_free(&n);
}

void conf_perf_cases(const conf_env *env, conf_case_list *l)
{
    uint32_t n_w;
    const uint32_t *wdt = plmm_profile_weight_dtypes(&n_w);
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        const perf_spec *s = &specs[i];
        uint32_t dts[8], n = 0;
        if (s->op == PLMM_OP_MUL_MAT) {
            for (uint32_t k = 0; k < n_w; k++)
                if (env->profile.weight_dtype == PLMM_DTYPE_COUNT ||
                    env->profile.weight_dtype == wdt[k])
                    dts[n++] = wdt[k];
        } else {
            dts[n++] = s->op == PLMM_OP_ATTENTION ? PLMM_DTYPE_F16 : PLMM_DTYPE_F32;
        }
        for (uint32_t k = 0; k < n; k++) {
            char name[96], opl[32], dtl[16];
            size_t j;
            const char *on = plmm_op_name(s->op), *dn = plmm_dtype_name(dts[k]);
            for (j = 0; on[j] && j + 1 < sizeof(opl); j++)
                opl[j] = (char)(on[j] >= 'A' && on[j] <= 'Z' ? on[j] + 32 : on[j]);
            opl[j] = '\0';
            for (j = 0; dn[j] && j + 1 < sizeof(dtl); j++)
                dtl[j] = (char)(dn[j] >= 'A' && dn[j] <= 'Z' ? dn[j] + 32 : dn[j]);
            dtl[j] = '\0';
            snprintf(name, sizeof(name), "perf.%s.%s.%s", opl, dtl, s->label);
            conf_case *c = conf_case_add(l, "perf", name, run_perf);
            if (c == NULL)
                return;
            c->index = (int32_t)i;
            c->dtype_id = dts[k];
            c->timeout_mul = 2.0;
            snprintf(c->op, sizeof(c->op), "%s", on);
            snprintf(c->dtype, sizeof(c->dtype), "%s", dn);
            snprintf(c->shape, sizeof(c->shape), "%lld %lld %lld %lld", (long long)s->p[0],
                     (long long)s->p[1], (long long)s->p[2], (long long)s->p[3]);
        }
    }
}
