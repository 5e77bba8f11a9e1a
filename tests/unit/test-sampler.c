#include "errors.h"
#include "sampler.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <time.h>

/* ---- helpers ---- */

static plmm_sampler_params base_params(void)
{
    plmm_sampler_params p;
    plmm_sampler_params_default(&p);
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.temperature = 1.0f;
    return p;
}

static plmm_sampler *make(const plmm_sampler_params *p, int32_t n_vocab)
{
    plmm_sampler *s = NULL;
    plmm_status st = plmm_sampler_create(p, n_vocab, &s);
    CHECK_MSG(st == PLMM_OK, "create: %s", plmm_last_errmsg());
    return s;
}

static int32_t draw(plmm_sampler *s, const float *logits)
{
    int32_t tok = -1;
    plmm_status st = plmm_sampler_sample(s, logits, &tok);
    CHECK_MSG(st == PLMM_OK, "sample: %s", plmm_last_errmsg());
    return tok;
}

/* Deterministic test data (not the sampler's generator). */
static uint64_t lcg_state = 88172645463325252ull;
static double lcg_unit(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax_lowest(const float *l, int32_t n)
{
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[b])
            b = i;
    return b;
}

/* Pearson chi-square of counts against expected probabilities (cells with
 * p == 0 must have no counts: returns +inf otherwise). */
static double chi_square(const long *counts, const double *p, int n, long total)
{
    double x2 = 0.0;
    for (int i = 0; i < n; i++) {
        if (p[i] == 0.0) {
            if (counts[i] != 0)
                return INFINITY;
            continue;
        }
        double e = p[i] * (double)total;
        x2 += ((double)counts[i] - e) * ((double)counts[i] - e) / e;
    }
    return x2;
}

/* ---- invalid parameters ---- */

static void test_invalid_params(void)
{
    plmm_sampler_params p;
    plmm_sampler *s = (plmm_sampler *)&p; /* must be reset to NULL on failure */

    p = base_params();
    p.temperature = NAN;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK(s == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "temperature");

    p = base_params();
    p.temperature = INFINITY;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "temperature");

    p = base_params();
    p.top_p = -0.1f;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "top_p");

    p = base_params();
    p.top_p = 1.5f;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "top_p");

    p = base_params();
    p.top_p = NAN;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "top_p");

    p = base_params();
    p.top_k = -1;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "top_k -1");

    p = base_params();
    p.min_p = 1.01f;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "min_p");

    p = base_params();
    p.repeat_penalty = 0.0f;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "repeat_penalty");

    p = base_params();
    p.repeat_last_n = -1;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "repeat_last_n");

    p = base_params();
    p.frequency_penalty = NAN;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "frequency_penalty");

    p = base_params();
    p.presence_penalty = -INFINITY;
    CHECK(plmm_sampler_create(&p, 10, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "presence_penalty");

    p = base_params();
    CHECK(plmm_sampler_create(&p, 0, &s) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "n_vocab");

    /* boundaries that are valid */
    p = base_params();
    p.top_p = 0.0f;
    p.min_p = 1.0f;
    p.top_k = 0;
    p.temperature = -1.0f;
    p.repeat_last_n = 0;
    CHECK(plmm_sampler_params_check(&p) == PLMM_OK);

    /* accept outside the vocabulary */
    p = base_params();
    s = make(&p, 10);
    CHECK(plmm_sampler_accept(s, 10) == PLMM_ERR_RANGE);
    CHECK_CONTAINS(plmm_last_errmsg(), "10");
    CHECK(plmm_sampler_accept(s, -1) == PLMM_ERR_RANGE);
    CHECK(plmm_sampler_accept(s, 9) == PLMM_OK);
    CHECK(plmm_sampler_n_vocab(s) == 10);
    CHECK(plmm_sampler_get_params(s)->temperature == 1.0f);
    plmm_sampler_destroy(s);
    plmm_sampler_destroy(NULL);
}

/* ---- greedy ---- */

static void test_greedy(void)
{
    plmm_sampler_params p = base_params();
    p.temperature = 0.0f;
    p.top_k = 3; /* ignored by greedy */
    plmm_sampler *s = make(&p, 6);
    float l1[6] = {1.0f, 3.0f, -2.0f, 3.0f, 2.9f, 0.0f};
    CHECK(draw(s, l1) == 1); /* tie between 1 and 3 -> lowest */
    float l2[6] = {NAN, -INFINITY, -5.0f, NAN, -4.0f, -6.0f};
    CHECK(draw(s, l2) == 4); /* NaN never wins */
    float l3[6] = {5.0f, 5.0f, 5.0f, 5.0f, 5.0f, 5.0f};
    CHECK(draw(s, l3) == 0);
    float l4[6] = {0.0f, 1.0f, INFINITY, 2.0f, INFINITY, 0.0f};
    CHECK(draw(s, l4) == 2);
    float bad[6] = {-INFINITY, NAN, -INFINITY, -INFINITY, NAN, -INFINITY};
    int32_t tok = 77;
    CHECK(plmm_sampler_sample(s, bad, &tok) == PLMM_ERR_INVALID_ARG);
    CHECK_CONTAINS(plmm_last_errmsg(), "-inf");
    CHECK(tok == 77);
    plmm_sampler_destroy(s);

    /* non-greedy sampling on all -inf is the same error */
    p = base_params();
    s = make(&p, 6);
    CHECK(plmm_sampler_sample(s, bad, &tok) == PLMM_ERR_INVALID_ARG);
    plmm_sampler_destroy(s);
}

/* top-k = 1, a tiny top-p and min-p = 1 (without ties) all reduce to greedy. */
static void test_reduces_to_greedy(void)
{
    enum { V = 1000, ROWS = 50 };
    static float l[V];
    plmm_sampler_params pk = base_params(), pp = base_params(), pm = base_params();
    pk.top_k = 1;
    pk.seed = 1;
    pp.top_p = 1e-6f;
    pp.seed = 2;
    pp.temperature = 1.5f;
    pm.min_p = 1.0f;
    pm.seed = 3;
    plmm_sampler *sk = make(&pk, V), *sp = make(&pp, V), *sm = make(&pm, V);
    int bad_k = 0, bad_p = 0, bad_m = 0;
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < V; i++)
            l[i] = (float)(8.0 * lcg_unit() - 4.0);
        if (r % 2 == 0) { /* a tie at the top: lowest id must win */
            int32_t a = argmax_lowest(l, V);
            int32_t b = (a + 1 + r) % V;
            l[b] = l[a];
        }
        int32_t g = argmax_lowest(l, V);
        bad_k += draw(sk, l) != g;
        bad_p += draw(sp, l) != g;
        if (r % 2 == 1)
            bad_m += draw(sm, l) != g;
    }
    CHECK_MSG(bad_k == 0, "top_k=1 differed from greedy %d times", bad_k);
    CHECK_MSG(bad_p == 0, "top_p=1e-6 differed from greedy %d times", bad_p);
    CHECK_MSG(bad_m == 0, "min_p=1 differed from greedy %d times", bad_m);
    plmm_sampler_destroy(sk);
    plmm_sampler_destroy(sp);
    plmm_sampler_destroy(sm);

    /* top_p = 0 keeps the single best token too */
    plmm_sampler_params p0 = base_params();
    p0.top_p = 0.0f;
    plmm_sampler *s0 = make(&p0, 4);
    float l4[4] = {1.0f, 1.2f, 1.1f, 1.2f};
    for (int i = 0; i < 20; i++)
        CHECK(draw(s0, l4) == 1);
    plmm_sampler_destroy(s0);
}

/* ---- reproducibility ---- */

static void test_seeds(void)
{
    enum { V = 64, N = 200 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)(i % 7) * 0.25f;
    plmm_sampler_params p = base_params();
    p.seed = 42;
    plmm_sampler *a = make(&p, V), *b = make(&p, V);
    p.seed = 43;
    plmm_sampler *c = make(&p, V);
    int32_t sa[N];
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < N; i++) {
        sa[i] = draw(a, l);
        int32_t tb = draw(b, l), tc = draw(c, l);
        same_ab += sa[i] == tb;
        same_ac += sa[i] == tc;
    }
    CHECK(same_ab == N);
    CHECK_MSG(same_ac < N / 2, "seeds 42 and 43 agree on %d of %d draws", same_ac, N);

    /* reset restarts the stream */
    plmm_sampler_reset(a);
    int same_reset = 0;
    for (int i = 0; i < N; i++)
        same_reset += draw(a, l) == sa[i];
    CHECK(same_reset == N);
    plmm_sampler_destroy(a);
    plmm_sampler_destroy(b);
    plmm_sampler_destroy(c);
}

/*
 * The same seed must give the same tokens on every platform. These
 * sequences were computed independently (xoshiro256** seeded by splitmix64,
 * exact softmax, the draw rules of sampler.h) and are not read back from
 * this implementation.
 */
static void test_golden_sequence(void)
{
    float l[8] = {0.5f, -1.0f, 2.0f, 1.0f, 0.0f, 1.5f, -0.5f, 0.25f};
    static const int32_t want_full[20] = {5, 2, 7, 0, 2, 0, 2, 2, 2, 5,
                                          5, 2, 5, 5, 2, 5, 2, 5, 2, 2};
    static const int32_t want_nucleus[20] = {5, 2, 2, 2, 5, 5, 5, 5, 2, 5,
                                             2, 5, 2, 2, 5, 3, 2, 2, 2, 2};
    plmm_sampler_params p = base_params();
    p.temperature = 0.7f;
    p.seed = 12345;
    plmm_sampler *s = make(&p, 8);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += draw(s, l) == want_full[i];
    CHECK_MSG(ok == 20, "full distribution: %d of 20 draws match the golden sequence", ok);
    plmm_sampler_destroy(s);

    p.top_k = 5;
    p.top_p = 0.8f;
    p.seed = 0xdeadbeefcafef00dull;
    s = make(&p, 8);
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += draw(s, l) == want_nucleus[i];
    CHECK_MSG(ok == 20, "top-k + top-p: %d of 20 draws match the golden sequence", ok);
    plmm_sampler_destroy(s);
}

/* ---- distributions ---- */

/* Draw n tokens from logits log(q) with params p; chi-square against want. */
static double run_dist(plmm_sampler_params p, const double *q, const double *want, int v, long n)
{
    float l[16];
    long counts[16] = {0};
    for (int i = 0; i < v; i++)
        l[i] = (float)log(q[i]);
    plmm_sampler *s = make(&p, v);
    for (long k = 0; k < n; k++) {
        int32_t t = draw(s, l);
        if (t >= 0 && t < v)
            counts[t]++;
    }
    plmm_sampler_destroy(s);
    return chi_square(counts, want, v, n);
}

static void test_distributions(void)
{
    /* Bounds: chi-square 0.999 quantiles (df 1: 10.83, df 2: 13.82,
     * df 3: 16.27). The seeds are fixed, so the outcome is too. */
    const long N = 100000;
    const double q[4] = {0.1, 0.2, 0.3, 0.4};
    plmm_sampler_params p = base_params();
    p.seed = 7;

    double x2 = run_dist(p, q, q, 4, N);
    CHECK_MSG(x2 < 16.27, "T=1: chi2 %.2f", x2);

    /* temperature 0.5 squares the probabilities */
    p.temperature = 0.5f;
    const double sq[4] = {0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3};
    x2 = run_dist(p, q, sq, 4, N);
    CHECK_MSG(x2 < 16.27, "T=0.5: chi2 %.2f", x2);

    /* temperature 2 takes square roots */
    p.temperature = 2.0f;
    double rt[4], rs = 0;
    for (int i = 0; i < 4; i++)
        rs += rt[i] = sqrt(q[i]);
    for (int i = 0; i < 4; i++)
        rt[i] /= rs;
    x2 = run_dist(p, q, rt, 4, N);
    CHECK_MSG(x2 < 16.27, "T=2: chi2 %.2f", x2);

    /* top-k 2 keeps {0.3, 0.4} */
    p = base_params();
    p.seed = 8;
    p.top_k = 2;
    const double k2[4] = {0, 0, 3.0 / 7.0, 4.0 / 7.0};
    x2 = run_dist(p, q, k2, 4, N);
    CHECK_MSG(x2 < 10.83, "top_k=2: chi2 %.2f", x2);

    /* top-p 0.5: 0.4 alone is short of it, 0.4 + 0.3 reaches it */
    p = base_params();
    p.seed = 9;
    p.top_p = 0.5f;
    x2 = run_dist(p, q, k2, 4, N);
    CHECK_MSG(x2 < 10.83, "top_p=0.5: chi2 %.2f", x2);

    /* top-p 0.75 needs three tokens */
    p.top_p = 0.75f;
    const double p3[4] = {0, 2.0 / 9.0, 3.0 / 9.0, 4.0 / 9.0};
    x2 = run_dist(p, q, p3, 4, N);
    CHECK_MSG(x2 < 13.82, "top_p=0.75: chi2 %.2f", x2);

    /* min-p 0.45: keep p >= 0.18 */
    p = base_params();
    p.seed = 10;
    p.min_p = 0.45f;
    x2 = run_dist(p, q, p3, 4, N);
    CHECK_MSG(x2 < 13.82, "min_p=0.45: chi2 %.2f", x2);

    /* min-p 0.3: keep p >= 0.12 */
    p.min_p = 0.3f;
    x2 = run_dist(p, q, p3, 4, N);
    CHECK_MSG(x2 < 13.82, "min_p=0.3: chi2 %.2f", x2);

    /* min-p 0.7: keep p >= 0.28 */
    p.min_p = 0.7f;
    x2 = run_dist(p, q, k2, 4, N);
    CHECK_MSG(x2 < 10.83, "min_p=0.7: chi2 %.2f", x2);

    /* min-p after temperature: at T=0.5 the ratios are squared, so 0.3 is
     * 0.5625 of the top and 0.2 is 0.25: min_p 0.5 keeps two */
    p.min_p = 0.5f;
    p.temperature = 0.5f;
    const double m2[4] = {0, 0, 9.0 / 25.0, 16.0 / 25.0};
    x2 = run_dist(p, q, m2, 4, N);
    CHECK_MSG(x2 < 10.83, "min_p=0.5 T=0.5: chi2 %.2f", x2);

    /* all filters together: top-k 3 -> {.2,.3,.4}/.9; top-p 0.7 of that
     * needs .4+.3 (0.78); min-p 0.1 keeps both */
    p = base_params();
    p.seed = 11;
    p.top_k = 3;
    p.top_p = 0.7f;
    p.min_p = 0.1f;
    x2 = run_dist(p, q, k2, 4, N);
    CHECK_MSG(x2 < 10.83, "top_k+top_p+min_p: chi2 %.2f", x2);

    /* +inf logits: uniform over them */
    p = base_params();
    p.seed = 12;
    plmm_sampler *s = make(&p, 4);
    float li[4] = {0.0f, INFINITY, 50.0f, INFINITY};
    long c[4] = {0};
    for (int i = 0; i < 10000; i++) {
        int32_t t = draw(s, li);
        if (t >= 0 && t < 4)
            c[t]++;
    }
    const double half[4] = {0, 0.5, 0, 0.5};
    x2 = chi_square(c, half, 4, 10000);
    CHECK_MSG(x2 < 10.83, "+inf: chi2 %.2f (%ld %ld %ld %ld)", x2, c[0], c[1], c[2], c[3]);
    plmm_sampler_destroy(s);
}

/* ---- penalties ---- */

static void test_penalties(void)
{
    plmm_sampler_params p = base_params();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.repeat_last_n = 4;
    plmm_sampler *s = make(&p, 8);
    const float in[8] = {1.0f, 2.0f, -1.0f, 0.0f, 4.0f, 3.0f, -3.0f, NAN};
    float out[8];

    plmm_sampler_apply_penalties(s, in, out);
    for (int i = 0; i < 7; i++)
        CHECK(out[i] == in[i]); /* empty history: unchanged */
    CHECK(out[7] == -INFINITY);

    /* window 1 1 2 3: counts {1: 2, 2: 1, 3: 1} */
    CHECK(plmm_sampler_accept(s, 1) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 1) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 2) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 3) == PLMM_OK);
    plmm_sampler_apply_penalties(s, in, out);
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -0.25f); /* 2 / 2 - (2 * 0.5 + 0.25) */
    CHECK(out[2] == -2.75f); /* -1 * 2 - (0.5 + 0.25) */
    CHECK(out[3] == -0.75f); /* 0 * 2 - 0.75 */
    CHECK(out[4] == 4.0f);
    CHECK(out[5] == 3.0f);
    CHECK(out[6] == -3.0f);
    CHECK(in[1] == 2.0f); /* input untouched */

    /* 5 pushes the oldest 1 out: window 1 2 3 5 */
    CHECK(plmm_sampler_accept(s, 5) == PLMM_OK);
    plmm_sampler_apply_penalties(s, in, out);
    CHECK(out[1] == 0.25f); /* 2 / 2 - 0.75 */
    CHECK(out[5] == 0.75f); /* 3 / 2 - 0.75 */
    CHECK(out[2] == -2.75f);

    /* in place */
    float io[8];
    memcpy(io, in, sizeof(io));
    plmm_sampler_apply_penalties(s, io, io);
    CHECK(memcmp(io, out, sizeof(io)) == 0);

    /* greedy sees the penalized logits: 4 beats 5 (0.75) and 1 */
    plmm_sampler_destroy(s);
    p.temperature = 0.0f;
    s = make(&p, 8);
    float g[8] = {0.0f, 5.0f, 0.0f, 0.0f, 2.0f, 0.0f, 0.0f, 0.0f};
    CHECK(draw(s, g) == 1);
    CHECK(plmm_sampler_accept(s, 1) == PLMM_OK); /* 5 / 2 - 0.75 = 1.75 < 2 */
    CHECK(draw(s, g) == 4);
    plmm_sampler_reset(s); /* history cleared */
    CHECK(draw(s, g) == 1);
    plmm_sampler_destroy(s);

    /* each penalty alone */
    p = base_params();
    p.repeat_last_n = 3;
    p.repeat_penalty = 1.25f;
    s = make(&p, 4);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 3) == PLMM_OK);
    const float in4[4] = {5.0f, 5.0f, -4.0f, -4.0f};
    float o4[4];
    plmm_sampler_apply_penalties(s, in4, o4);
    CHECK(o4[0] == 4.0f && o4[1] == 5.0f && o4[2] == -4.0f && o4[3] == -5.0f);
    plmm_sampler_destroy(s);

    p = base_params();
    p.repeat_last_n = 3;
    p.frequency_penalty = -1.0f; /* negative: encourages */
    s = make(&p, 4);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 3) == PLMM_OK);
    plmm_sampler_apply_penalties(s, in4, o4);
    CHECK(o4[0] == 7.0f && o4[1] == 5.0f && o4[2] == -4.0f && o4[3] == -3.0f);
    plmm_sampler_destroy(s);

    p = base_params();
    p.repeat_last_n = 3;
    p.presence_penalty = 1.5f;
    s = make(&p, 4);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    CHECK(plmm_sampler_accept(s, 3) == PLMM_OK);
    plmm_sampler_apply_penalties(s, in4, o4);
    CHECK(o4[0] == 3.5f && o4[1] == 5.0f && o4[2] == -4.0f && o4[3] == -5.5f);
    plmm_sampler_destroy(s);

    /* repeat_last_n = 0: no history at all */
    p = base_params();
    p.repeat_last_n = 0;
    p.repeat_penalty = 3.0f;
    s = make(&p, 4);
    CHECK(plmm_sampler_accept(s, 0) == PLMM_OK);
    plmm_sampler_apply_penalties(s, in4, o4);
    CHECK(o4[0] == 5.0f);
    plmm_sampler_destroy(s);
}

/* ---- a real-size vocabulary ---- */

static int cmp_desc(const void *a, const void *b)
{
    const float *x = a, *y = b;
    return (*x < *y) - (*x > *y);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_large_vocab(void)
{
    enum { V = 151936, DRAWS = 200 };
    float *l = malloc(V * sizeof(*l));
    float *sorted = malloc(V * sizeof(*sorted));
    CHECK(l != NULL && sorted != NULL);
    if (l == NULL || sorted == NULL)
        goto out;
    /* roughly LLM-shaped: a broad bulk and a few strong candidates */
    for (int i = 0; i < V; i++)
        l[i] = (float)(6.0 * (lcg_unit() + lcg_unit() + lcg_unit() - 1.5));
    for (int i = 0; i < 30; i++)
        l[(i * 7919) % V] = 12.0f + (float)i * 0.1f;
    memcpy(sorted, l, V * sizeof(*l));
    qsort(sorted, V, sizeof(*sorted), cmp_desc);

    /* reference thresholds, in the logit domain at T = 1 */
    double mx = sorted[0], total = 0.0;
    for (int i = 0; i < V; i++)
        total += exp((double)sorted[i] - mx);
    double cum = 0.0;
    float nucleus_min = sorted[0];
    for (int i = 0; i < V; i++) {
        cum += exp((double)sorted[i] - mx);
        nucleus_min = sorted[i];
        if (cum >= 0.9 * total)
            break;
    }
    float top40_min = sorted[39];

    plmm_sampler_params pk = base_params(), pp = base_params(), pd;
    pk.top_k = 40;
    pp.top_p = 0.9f;
    plmm_sampler_params_default(&pd);
    pd.repeat_penalty = 1.1f;
    plmm_sampler *sk = make(&pk, V), *sp = make(&pp, V), *sd = make(&pd, V);
    int out_k = 0, out_p = 0;
    double t0 = now_s();
    for (int i = 0; i < DRAWS; i++)
        out_k += l[draw(sk, l)] < top40_min;
    double t1 = now_s();
    for (int i = 0; i < DRAWS; i++)
        out_p += l[draw(sp, l)] < nucleus_min;
    double t2 = now_s();
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = draw(sd, l);
        CHECK(plmm_sampler_accept(sd, t) == PLMM_OK);
    }
    double t3 = now_s();
    CHECK_MSG(out_k == 0, "top_k=40 drew %d tokens outside the top 40", out_k);
    CHECK_MSG(out_p == 0, "top_p=0.9 drew %d tokens outside the nucleus", out_p);
    printf("n_vocab %d: top_k=40 %.0f us, top_p=0.9 %.0f us, defaults+penalties %.0f us per "
           "sample\n",
           V, (t1 - t0) / DRAWS * 1e6, (t2 - t1) / DRAWS * 1e6, (t3 - t2) / DRAWS * 1e6);
    plmm_sampler_destroy(sk);
    plmm_sampler_destroy(sp);
    plmm_sampler_destroy(sd);
out:
    free(sorted);
    free(l);
}

int main(void)
{
    test_invalid_params();
    test_greedy();
    test_reduces_to_greedy();
    test_seeds();
    test_golden_sequence();
    test_distributions();
    test_penalties();
    test_large_vocab();
    return test_summary("sampler");
}
