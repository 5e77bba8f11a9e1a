#include "sampler.h"

#include "errors.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reproducible arithmetic: no fused multiply-add (GCC already keeps them
 * apart under -std=c11 and does not know this pragma). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* One surviving token: its (penalized) logit and, after the softmax, its
 * unnormalized probability e = exp((logit - max) / temperature). */
typedef struct cand {
    float logit;
    int32_t id;
    double e;
} cand;

struct plmm_sampler {
    plmm_sampler_params params;
    size_t n_vocab;
    bool penalize;   /* any penalty is on and the window is not empty */
    uint64_t rng[4]; /* xoshiro256** state */
    float *work;     /* (n_vocab,) penalized logits */
    cand *cand;      /* (n_vocab,) candidates */
    cand *top;       /* (n_vocab,) selected candidates, best first */
    int32_t *hist;   /* (repeat_last_n,) ring of accepted tokens */
    int32_t *sorted; /* (repeat_last_n,) scratch for counting the ring */
    size_t hist_cap, hist_n, hist_pos;
};

/* ---- random numbers: splitmix64 seeding, xoshiro256** stream ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(uint64_t st[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        st[i] = splitmix64(&seed);
}

static uint64_t rng_next(uint64_t st[4])
{
    uint64_t result = rotl64(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl64(st[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_unit(uint64_t st[4])
{
    return (double)(rng_next(st) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- arithmetic ---- */

/*
 * exp(x) for x <= 0 using only IEEE-exact operations, so every platform
 * gets the same bits: x = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of
 * ln2), a degree-11 Taylor polynomial for e^r evaluated in Estrin's scheme
 * (truncation < 1e-15 relative), then scaling by 2^k. exp_neg(0) == 1
 * exactly; below -708 it returns 0 (those weights are < 1e-307 of the
 * maximum).
 */
static double exp_neg(double x)
{
    static const double log2e = 1.4426950408889634074;
    static const double ln2_hi = 6.93147180369123816490e-01; /* low 32 bits zero */
    static const double ln2_lo = 1.90821492927058770002e-10;
    if (!(x >= -708.0)) /* keeps 2^k normal */
        return 0.0;
    double k = floor(x * log2e + 0.5);
    double r = x - k * ln2_hi; /* exact: k has <= 10 bits, ln2_hi 21 */
    r = r - k * ln2_lo;
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double p01 = 1.0 + r;
    double p23 = 0.5 + r * (1.0 / 6.0);
    double p45 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double pab = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double q0 = p01 + r2 * p23;
    double q1 = p45 + r2 * p67;
    double q2 = p89 + r2 * pab;
    double p = (q0 + r4 * q1) + r8 * q2;
    /* 2^k for k in [-1022, 0], built from its bits */
    uint64_t bits = (uint64_t)((int64_t)k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

/* The total order used everywhere: larger logit first, then lower id. */
static bool better(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* ---- selection: a binary min-heap (worst at the root) ---- */

static void sift_down(cand *h, size_t n, size_t i)
{
    cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&h[c], &h[c + 1]))
            c++;
        if (!better(&x, &h[c]))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heapify(cand *h, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(h, n, i);
}

/* Turn the heap h[0..n) into descending order, best first. */
static void heap_sort_desc(cand *h, size_t n)
{
    for (size_t k = n; k > 1; k--) {
        cand t = h[0];
        h[0] = h[k - 1];
        h[k - 1] = t;
        sift_down(h, k - 1, 0);
    }
}

/* dst[0..m) = the m best of src[0..n) (m <= n), best first. One comparison
 * per element for most of src: O(n + m log m) on typical rows. */
static void select_top(const cand *src, size_t n, size_t m, cand *dst)
{
    memcpy(dst, src, m * sizeof(*dst));
    heapify(dst, m);
    for (size_t i = m; i < n; i++) {
        if (better(&src[i], &dst[0])) {
            dst[0] = src[i];
            sift_down(dst, m, 0);
        }
    }
    heap_sort_desc(dst, m);
}

/* ---- parameters ---- */

void plmm_sampler_params_default(plmm_sampler_params *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->frequency_penalty = 0.0f;
    p->presence_penalty = 0.0f;
    p->seed = 0;
}

plmm_status plmm_sampler_params_check(const plmm_sampler_params *p)
{
    if (!isfinite(p->temperature))
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler temperature %g: must be finite",
                        (double)p->temperature);
    if (p->top_k < 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler top_k %d: must be >= 0",
                        (int)p->top_k);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler top_p %g: must be in [0, 1]",
                        (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler min_p %g: must be in [0, 1]",
                        (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "invalid sampler repeat_penalty %g: must be finite and > 0",
                        (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > PLMM_SAMPLER_MAX_LAST_N)
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "invalid sampler repeat_last_n %d: must be in [0, %d]",
                        (int)p->repeat_last_n, PLMM_SAMPLER_MAX_LAST_N);
    if (!isfinite(p->frequency_penalty))
        return plmm_err(PLMM_ERR_INVALID_ARG,
                        "invalid sampler frequency_penalty %g: must be finite",
                        (double)p->frequency_penalty);
    if (!isfinite(p->presence_penalty))
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler presence_penalty %g: must be finite",
                        (double)p->presence_penalty);
    return PLMM_OK;
}

/* ---- lifetime ---- */

plmm_status plmm_sampler_create(const plmm_sampler_params *params, int32_t n_vocab,
                                plmm_sampler **out)
{
    *out = NULL;
    plmm_status st = plmm_sampler_params_check(params);
    if (st != PLMM_OK)
        return st;
    if (n_vocab <= 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "invalid sampler n_vocab %d: must be > 0",
                        (int)n_vocab);
    size_t v = (size_t)n_vocab;
    if (v > SIZE_MAX / sizeof(cand))
        return plmm_err(PLMM_ERR_NOMEM, "sampler n_vocab %d too large", (int)n_vocab);

    plmm_sampler *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out_nomem;
    s->params = *params;
    s->n_vocab = v;
    s->hist_cap = (size_t)params->repeat_last_n;
    s->penalize =
        s->hist_cap > 0 && (params->repeat_penalty != 1.0f || params->frequency_penalty != 0.0f ||
                            params->presence_penalty != 0.0f);
    s->work = calloc(v, sizeof(*s->work));
    s->cand = calloc(v, sizeof(*s->cand));
    s->top = calloc(v, sizeof(*s->top));
    if (s->work == NULL || s->cand == NULL || s->top == NULL)
        goto out_free;
    if (s->hist_cap > 0) {
        s->hist = calloc(s->hist_cap, sizeof(*s->hist));
        s->sorted = calloc(s->hist_cap, sizeof(*s->sorted));
        if (s->hist == NULL || s->sorted == NULL)
            goto out_free;
    }
    rng_seed(s->rng, params->seed);
    *out = s;
    return PLMM_OK;

out_free:
    plmm_sampler_destroy(s);
out_nomem:
    return plmm_err(PLMM_ERR_NOMEM, "cannot allocate sampler for %d tokens", (int)n_vocab);
}

void plmm_sampler_destroy(plmm_sampler *s)
{
    if (s == NULL)
        return;
    free(s->sorted);
    free(s->hist);
    free(s->top);
    free(s->cand);
    free(s->work);
    free(s);
}

void plmm_sampler_reset(plmm_sampler *s)
{
    s->hist_n = 0;
    s->hist_pos = 0;
    rng_seed(s->rng, s->params.seed);
}

const plmm_sampler_params *plmm_sampler_get_params(const plmm_sampler *s)
{
    return &s->params;
}

int32_t plmm_sampler_n_vocab(const plmm_sampler *s)
{
    return (int32_t)s->n_vocab;
}

plmm_status plmm_sampler_accept(plmm_sampler *s, int32_t token)
{
    if (token < 0 || (size_t)token >= s->n_vocab)
        return plmm_err(PLMM_ERR_RANGE, "token id %d out of range [0, %zu)", (int)token,
                        s->n_vocab);
    if (s->hist_cap == 0)
        return PLMM_OK;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_n < s->hist_cap)
        s->hist_n++;
    return PLMM_OK;
}

/* ---- stage 1: penalties ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static float penalize(float l, size_t count, const plmm_sampler_params *p)
{
    if (p->repeat_penalty != 1.0f)
        l = l <= 0.0f ? l * p->repeat_penalty : l / p->repeat_penalty;
    return l - ((float)count * p->frequency_penalty + p->presence_penalty);
}

void plmm_sampler_apply_penalties(plmm_sampler *s, const float *logits, float *out)
{
    for (size_t i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        out[i] = isnan(l) ? -INFINITY : l;
    }
    if (!s->penalize || s->hist_n == 0)
        return;
    /* Count occurrences by sorting a copy of the window: O(N log N) with
     * N = repeat_last_n, independent of n_vocab. */
    memcpy(s->sorted, s->hist, s->hist_n * sizeof(*s->sorted));
    qsort(s->sorted, s->hist_n, sizeof(*s->sorted), cmp_i32);
    for (size_t i = 0; i < s->hist_n;) {
        size_t j = i + 1;
        while (j < s->hist_n && s->sorted[j] == s->sorted[i])
            j++;
        size_t t = (size_t)s->sorted[i];
        out[t] = penalize(out[t], j - i, &s->params);
        i = j;
    }
}

/* ---- sampling ---- */

plmm_status plmm_sampler_sample(plmm_sampler *s, const float *logits, int32_t *out_token)
{
    const plmm_sampler_params *p = &s->params;
    float *w = s->work;
    size_t v = s->n_vocab;

    plmm_sampler_apply_penalties(s, logits, w);

    /* greedy: first maximum, so ties go to the lowest id */
    if (p->temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < v; i++)
            if (w[i] > w[best])
                best = i;
        if (w[best] == -INFINITY)
            return plmm_err(PLMM_ERR_INVALID_ARG, "cannot sample: every logit is -inf or nan");
        *out_token = (int32_t)best;
        return PLMM_OK;
    }

    /* candidates: the finite-or-+inf logits, or straight away the top k */
    cand *c;
    size_t n = 0;
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < v) {
        size_t k = (size_t)p->top_k;
        c = s->top;
        for (size_t i = 0; i < v; i++) {
            float x = w[i];
            if (x == -INFINITY)
                continue;
            if (n < k) {
                c[n].logit = x;
                c[n].id = (int32_t)i;
                if (++n == k)
                    heapify(c, k);
            } else if (x > c[0].logit) { /* ids grow, so a tie never wins */
                c[0].logit = x;
                c[0].id = (int32_t)i;
                sift_down(c, k, 0);
            }
        }
        if (n < k)
            heapify(c, n);
        heap_sort_desc(c, n);
        sorted = true;
    } else {
        c = s->cand;
        for (size_t i = 0; i < v; i++) {
            if (w[i] != -INFINITY) {
                c[n].logit = w[i];
                c[n].id = (int32_t)i;
                n++;
            }
        }
    }
    if (n == 0)
        return plmm_err(PLMM_ERR_INVALID_ARG, "cannot sample: every logit is -inf or nan");

    /* temperature + softmax numerators, relative to the maximum */
    float maxl = c[0].logit;
    if (!sorted)
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > maxl)
                maxl = c[i].logit;
    double inv_temp = 1.0 / (double)p->temperature;
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (maxl == INFINITY)
            c[i].e = c[i].logit == INFINITY ? 1.0 : 0.0;
        else
            c[i].e = exp_neg(((double)c[i].logit - (double)maxl) * inv_temp);
        total += c[i].e;
    }

    /* min-p: e_max is 1, so keep e >= min_p; a stable compaction, so a
     * sorted prefix stays sorted */
    if (p->min_p > 0.0f) {
        double thr = (double)p->min_p;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].e >= thr)
                c[m++] = c[i];
        n = m;
    }
    assert(n > 0);

    /* top-p against the post-top-k total, summing in the total order.
     * Unsorted candidates: select the best m, widen m until the prefix
     * reaches the target (most rows stop at the first m). */
    if (p->top_p < 1.0f) {
        double target = (double)p->top_p * total;
        size_t m = sorted ? n : (n < 64 ? n : 64);
        for (;;) {
            if (!sorted)
                select_top(c, n, m, s->top);
            cand *t = sorted ? c : s->top;
            double cum = 0.0;
            size_t keep = 0;
            while (keep < m) {
                cum += t[keep++].e;
                if (cum >= target)
                    break;
            }
            if (cum >= target || m == n) {
                c = t;
                n = keep;
                break;
            }
            m = m > n / 8 ? n : m * 8;
        }
    }

    /* draw */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += c[i].e;
    double u = rng_unit(s->rng) * sum;
    double acc = 0.0;
    int32_t pick = -1;
    for (size_t i = 0; i < n; i++) {
        if (!(c[i].e > 0.0))
            continue;
        acc += c[i].e;
        pick = c[i].id;
        if (acc > u)
            break;
    }
    if (pick < 0)
        return plmm_err(PLMM_ERR_INTERNAL, "sampler kept no token with nonzero probability");
    *out_token = pick;
    return PLMM_OK;
}
