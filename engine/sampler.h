/*
 * Token sampler: turns one row of logits into a token id.
 *
 * Pipeline, in this order (each stage is skipped when it is off):
 *   1. penalties  over the last repeat_last_n accepted tokens; for a token
 *                 seen c > 0 times in that window (llama.cpp / OpenAI rules):
 *                   l = l <= 0 ? l * repeat_penalty : l / repeat_penalty
 *                   l = l - (c * frequency_penalty + presence_penalty)
 *                 all in float, in exactly this order (see
 *                 plmm_sampler_apply_penalties).
 *   2. greedy     temperature <= 0: the argmax of the penalized logits,
 *                 ties to the lowest id; stages 3-7 are skipped.
 *   3. top-k      keep the k largest logits (ties to the lower id).
 *   4. temperature  scale by 1 / temperature.
 *   5. softmax    over what top-k kept.
 *   6. top-p      keep the smallest set of most likely tokens whose
 *                 probability sums to >= top_p (at least one token).
 *   7. min-p      keep tokens with p >= min_p * p_max.
 *   8. draw       one token from what is left, renormalized.
 * Top-p and min-p both keep a prefix of the same ordering, so their order
 * does not change the result; min-p runs first because it needs no sort.
 * Temperature comes before top-p / min-p (as in Hugging Face transformers
 * and the OpenAI API), so those filters act on the distribution actually
 * drawn from. llama.cpp's default chain applies temperature last instead,
 * so the two do not sample the same distribution when both are used.
 *
 * Ordering is total and platform independent: larger logit first, equal
 * logits by lower id. NaN logits count as -inf; a row whose logits are all
 * -inf or NaN is an error. If some logits are +inf, the draw is uniform
 * over those.
 *
 * Reproducibility: the random stream is xoshiro256** seeded through
 * splitmix64 from a 64-bit seed; probabilities are computed in double with
 * a built-in exp() that uses only +, -, *, so the same seed, parameters and
 * logits give the same tokens on every IEEE-754 platform (the build uses
 * -std=c11, which keeps GCC from fusing multiply-adds; clang is told so by
 * a pragma).
 *
 * The draw walks the kept tokens best first when top-k or top-p ran, else
 * in id order; u = uniform [0, 1) * their total weight, and the token is
 * the first whose running weight exceeds u.
 *
 * Cost per call, V = n_vocab: O(V) to copy and scan the logits; top-k is a
 * streaming selection, O(V + k log k) on typical rows; softmax is one exp
 * per surviving token (all V when top-k is off); top-p without top-k
 * selects the best 64, 512, 4096, ... until they reach top_p, O(V + m log m)
 * per round; penalties cost O(N log N) for N history tokens. All memory is
 * allocated at create; sample() never allocates.
 *
 * A sampler is not thread-safe; use one per sequence.
 */
#ifndef PLMM_ENGINE_SAMPLER_H
#define PLMM_ENGINE_SAMPLER_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct plmm_sampler plmm_sampler;

/* Largest accepted repeat_last_n. */
#define PLMM_SAMPLER_MAX_LAST_N (1 << 20)

typedef struct plmm_sampler_params {
    float temperature;       /* <= 0: greedy; otherwise finite */
    int32_t top_k;           /* 0 = off; >= n_vocab = off; < 0 invalid */
    float top_p;             /* [0, 1]; 1 = off; 0 keeps the single best token */
    float min_p;             /* [0, 1]; 0 = off */
    float repeat_penalty;    /* > 0, finite; 1 = off */
    int32_t repeat_last_n;   /* history window for all penalties, [0, MAX_LAST_N]; 0 = off */
    float frequency_penalty; /* finite; 0 = off; subtracted once per occurrence */
    float presence_penalty;  /* finite; 0 = off; subtracted once if present */
    uint64_t seed;           /* PRNG seed; reset() returns to it */
} plmm_sampler_params;

/* llama.cpp-like defaults: temperature 0.8, top_k 40, top_p 0.95,
 * min_p 0.05, no penalties, repeat_last_n 64, seed 0. */
void plmm_sampler_params_default(plmm_sampler_params *p) PLMM_NONNULL(1);

/* Check params; PLMM_ERR_INVALID_ARG with a message naming the field. */
PLMM_NODISCARD plmm_status plmm_sampler_params_check(const plmm_sampler_params *p) PLMM_NONNULL(1);

/* Create a sampler for rows of n_vocab logits.
 * params: borrowed (copied); out: owned, free with plmm_sampler_destroy. */
PLMM_NODISCARD plmm_status plmm_sampler_create(const plmm_sampler_params *params, int32_t n_vocab,
                                               plmm_sampler **out) PLMM_NONNULL(1, 3);

/* Free a sampler; NULL is ignored. */
void plmm_sampler_destroy(plmm_sampler *s);

/* Forget the history and restart the random stream from the seed. */
void plmm_sampler_reset(plmm_sampler *s) PLMM_NONNULL(1);

/* Pick a token from logits (borrowed, n_vocab entries, not modified).
 * Does not record the token: call plmm_sampler_accept with the token the
 * caller keeps. PLMM_ERR_INVALID_ARG when every logit is -inf or NaN. */
PLMM_NODISCARD plmm_status plmm_sampler_sample(plmm_sampler *s, const float *logits,
                                               int32_t *out_token) PLMM_NONNULL(1, 2, 3);

/* Record a token in the penalty history (a ring of the last repeat_last_n).
 * PLMM_ERR_RANGE when token is not in [0, n_vocab). */
PLMM_NODISCARD plmm_status plmm_sampler_accept(plmm_sampler *s, int32_t token) PLMM_NONNULL(1);

/* Stage 1 alone: out[i] = logits[i] after penalties (NaN becomes -inf).
 * logits: borrowed, n_vocab entries; out: caller's, n_vocab entries
 * (may equal logits). */
void plmm_sampler_apply_penalties(plmm_sampler *s, const float *logits, float *out)
    PLMM_NONNULL(1, 2, 3);

/* Parameters and vocabulary size the sampler was created with. */
const plmm_sampler_params *plmm_sampler_get_params(const plmm_sampler *s) PLMM_NONNULL(1);
int32_t plmm_sampler_n_vocab(const plmm_sampler *s) PLMM_NONNULL(1);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_ENGINE_SAMPLER_H */
