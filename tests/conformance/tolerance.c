/*
 * Default tolerances per op and dtype, the declared-tolerance rule, and the
 * error measures. docs/conformance.md explains each bound; keep the two in
 * sync (`plmm-conformance --tolerances` prints this table).
 *
 * Inputs of the op cases are uniform in [-1, 1] (MUL_MAT activations are
 * scaled by 1/sqrt(K) so that outputs stay near 0.33 rms for every K), so
 * absolute bounds are meaningful.
 */
#include "conformance.h"
#include "plmm_sdk.h"

#include <math.h>
#include <stdio.h>

#define ANY PLMM_DTYPE_COUNT
#define QUANT (PLMM_DTYPE_COUNT + 1) /* every block-quantized dtype */

typedef struct tol_row {
    uint32_t op, dtype;
    double nmse, max_abs;
    const char *why;
} tol_row;

static const tol_row table[] = {
    {PLMM_OP_GET_ROWS, ANY, 1e-10, 1e-5,
     "dequantization is exact in f32 up to one rounding of d*q - m"},
    {PLMM_OP_MUL_MAT, PLMM_DTYPE_F32, 1e-6, 1e-4, "f32 products, only the summation order differs"},
    {PLMM_OP_MUL_MAT, PLMM_DTYPE_F16, 5e-6, 5e-3,
     "activations may be rounded to f16 (2^-11 relative, NMSE ~1e-7)"},
    {PLMM_OP_MUL_MAT, PLMM_DTYPE_BF16, 1e-4, 2e-2,
     "activations may be rounded to bf16 (2^-8 relative, NMSE ~1e-6)"},
    {PLMM_OP_MUL_MAT, QUANT, 5e-4, 5e-2,
     "activations may be quantized to 8 bits per block (NMSE ~3e-5), as ggml's bound"},
    {PLMM_OP_RMS_NORM, ANY, 1e-7, 1e-4, "one f32 reduction per row"},
    {PLMM_OP_ADD, ANY, 1e-7, 1e-5, "exact in f32"},
    {PLMM_OP_MUL, ANY, 1e-7, 1e-5, "exact in f32"},
    {PLMM_OP_SCALE, ANY, 1e-7, 1e-5, "exact in f32"},
    {PLMM_OP_SILU, ANY, 1e-7, 1e-5, "expf of another library or a fast exp"},
    {PLMM_OP_SWIGLU, ANY, 1e-7, 1e-5, "expf of another library or a fast exp"},
    {PLMM_OP_ROPE, ANY, 1e-6, 2e-3,
     "angles up to 16000 rad: theta computed in f32 is off by up to 1e-3 rad"},
    {PLMM_OP_SOFTMAX, ANY, 1e-6, 1e-5, "max-subtracted exp and a sum, as ggml's bound"},
    {PLMM_OP_ATTENTION, ANY, 1e-6, 1e-4,
     "two reductions and an exp per score; caches hold exactly the values read"},
    {PLMM_OP_CPY, PLMM_DTYPE_F32, 1e-12, 1e-6, "a copy is exact"},
    {PLMM_OP_CPY, PLMM_DTYPE_F16, 1e-9, 1e-3,
     "round to nearest even; 1e-3 admits a one-ulp tie difference near 1"},
    {PLMM_OP_CPY, PLMM_DTYPE_BF16, 1e-7, 8e-3, "round to nearest even; one bf16 ulp near 1"},
};

static bool is_quant(uint32_t dtype)
{
    return plmm_dtype_block_elems(dtype) > 1;
}

static const tol_row *find_default(uint32_t op, uint32_t dtype)
{
    const tol_row *any = NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const tol_row *t = &table[i];
        if (t->op != op)
            continue;
        if (t->dtype == dtype || (t->dtype == QUANT && is_quant(dtype)))
            return t;
        if (t->dtype == ANY)
            any = t;
    }
    return any;
}

void conf_tolerance(const plmm_backend_desc *desc, uint32_t op, uint32_t dtype, conf_tol *out)
{
    const tol_row *t = find_default(op, dtype);
    out->nmse = t != NULL ? t->nmse : 1e-7;
    out->max_abs = t != NULL ? t->max_abs : 0.0;
    out->source = TOL_DEFAULT;
    if (desc == NULL || !PLMM_ABI_HAS(plmm_backend_desc, desc, tolerances) ||
        desc->tolerances == NULL)
        return;
    /* an entry for the exact dtype wins over one for every dtype */
    const plmm_tolerance *d = NULL;
    for (uint32_t i = 0; i < desc->n_tolerances; i++) {
        const plmm_tolerance *x = &desc->tolerances[i];
        if (x->op != op)
            continue;
        if (x->dtype == dtype)
            d = x;
        else if (x->dtype == PLMM_DTYPE_COUNT && d == NULL)
            d = x;
    }
    if (d == NULL)
        return;
    bool capped = false;
    if (isfinite(d->nmse) && d->nmse > out->nmse) {
        double cap = out->nmse * CONF_TOL_CAP;
        capped = d->nmse > cap;
        out->nmse = capped ? cap : d->nmse;
    }
    /* max_abs <= 0 in a declaration keeps the default bound */
    if (isfinite(d->max_abs) && d->max_abs > out->max_abs && out->max_abs > 0) {
        double cap = out->max_abs * CONF_TOL_CAP;
        capped = capped || d->max_abs > cap;
        out->max_abs = d->max_abs > cap ? cap : d->max_abs;
    }
    out->source = capped ? TOL_CAPPED : TOL_DECLARED;
}

void conf_tolerance_print(void)
{
    printf("| op | dtype | NMSE | max abs | why |\n|----|-------|------|---------|-----|\n");
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const tol_row *t = &table[i];
        const char *dt = t->dtype == ANY     ? "any"
                         : t->dtype == QUANT ? "Q8_0, Q4_0, Q4_K, Q6_K"
                                             : plmm_dtype_name(t->dtype);
        printf("| %s | %s | %.0e | %.0e | %s |\n", plmm_op_name(t->op), dt, t->nmse, t->max_abs,
               t->why);
    }
    printf("\nA backend may declare looser bounds (plmm_tolerance) up to %.0fx the default.\n",
           CONF_TOL_CAP);
}

void conf_compare(const float *ref, const float *got, int64_t n, const conf_tol *tol,
                  conf_result *r)
{
    double se = 0, sr = 0, max_abs = 0, max_ref = 0;
    int64_t at = 0;
    r->tol_nmse = tol->nmse;
    r->tol_max_abs = tol->max_abs;
    r->tol_source = tol->source;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(ref[i])) {
            conf_set(r, CONF_FAIL, "the reference output is not finite at element %lld (%g)",
                     (long long)i, (double)ref[i]);
            return;
        }
        if (!isfinite(got[i])) {
            conf_set(r, CONF_FAIL, "output element %lld is %s (reference %g)", (long long)i,
                     isnan(got[i]) ? "NaN" : "Inf", (double)ref[i]);
            return;
        }
        double e = (double)got[i] - (double)ref[i];
        se += e * e;
        sr += (double)ref[i] * ref[i];
        if (fabs(e) > max_abs) {
            max_abs = fabs(e);
            at = i;
        }
        if (fabs(ref[i]) > max_ref)
            max_ref = fabs(ref[i]);
    }
    r->nmse = sr > 0 ? se / sr : (se > 0 ? INFINITY : 0.0);
    r->max_abs = max_abs;
    r->max_rel = max_ref > 0 ? max_abs / max_ref : (max_abs > 0 ? INFINITY : 0.0);
    if (!(r->nmse <= tol->nmse))
        conf_set(r, CONF_FAIL,
                 "NMSE %.3g exceeds the tolerance %.3g (largest error %.3g at "
                 "element %lld: %g, reference %g)",
                 r->nmse, tol->nmse, max_abs, (long long)at, (double)got[at], (double)ref[at]);
    else if (tol->max_abs > 0 && !(max_abs <= tol->max_abs))
        conf_set(r, CONF_FAIL,
                 "max abs error %.3g at element %lld exceeds the tolerance %.3g "
                 "(%g, reference %g)",
                 max_abs, (long long)at, tol->max_abs, (double)got[at], (double)ref[at]);
    else
        r->status = CONF_PASS;
}
