/*
 * nn/mixup.h — mixup for training batches (Zhang et al., ICLR 2018): a batch is replaced
 * by convex combinations of its samples, x'_i = lambda x_i + (1 - lambda) x_perm(i), and
 * trained with lambda L(y_i) + (1 - lambda) L(y_perm(i)) (nn/loss.h, hq_ce_opts), with
 * lambda ~ Beta(alpha, alpha) and perm a random permutation of the batch, both drawn per
 * step.
 *
 * Every draw comes from the counter-based RNG: step s of epoch e uses the Philox stream
 * (seed, "mixup", e, s) from counter 0 — lambda first, then the permutation — so a run is
 * reproducible bit for bit whatever the thread count, and a replayed (resumed) step mixes
 * exactly as the first time.
 */
#ifndef HQ_NN_MIXUP_H
#define HQ_NN_MIXUP_H

#include <stdint.h>

#include "core/core.h"
#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One draw from Beta(a, b), a, b > 0, as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)
 * (Marsaglia-Tsang; for shape < 1 the boost Gamma(s) = Gamma(s + 1) U^(1/s)), evaluated
 * in log space so small shapes (draws piled up near 0 and 1) neither underflow nor give
 * 0/0. Result in [0, 1].
 */
double hq_mixup_beta(hq_rng *r, double a, double b);

/*
 * The draws of one step: [out] lambda ~ Beta(alpha, alpha); [out] perm (n): a uniformly
 * random permutation of 0..n-1. [in] alpha > 0, n >= 1. Returns HQ_ERR_INVALID_ARG.
 */
hq_status hq_mixup_draw(uint64_t seed, uint64_t epoch, uint64_t step, double alpha, int n,
                        double *lambda, int32_t *perm);

/*
 * out[i] = lambda in[i] + (1 - lambda) in[perm[i]] for the n samples of sample_len floats
 * each (sample i at in + i * sample_len); out must not overlap in. Returns
 * HQ_ERR_INVALID_ARG (NULL, lambda outside [0, 1], perm entry out of range).
 */
hq_status hq_mixup_apply(float *out, const float *in, const int32_t *perm, double lambda, int n,
                         int64_t sample_len);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NN_MIXUP_H */
