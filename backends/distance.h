/*
 * backends/distance.h — how far apart two outcome distributions, or a set of estimated
 * and exact expectation values, are: total-variation distance, Hellinger distance and
 * fidelity (Qiskit's definitions), and summary statistics of expectation-value errors.
 *
 *     double p[16], q[16], tvd, fid;
 *     hq_counts_to_probs(&counts, p, 4);          // dense, normalised
 *     hq_sv_probabilities(sv, q);                 // exact
 *     hq_tvd(p, q, 16, &tvd);
 *     hq_hellinger_fidelity(p, q, 16, &fid);
 *     hq_counts_hellinger_fidelity(&counts_a, &counts_b, &fid);   // sparse, any width
 *
 * Definitions (docs/study.md):
 *   TVD(p, q)          = 1/2 sum_i |p_i - q_i|                      in [0, 1]
 *   Hellinger distance = sqrt(1 - sum_i sqrt(p_i q_i))              in [0, 1]
 *   Hellinger fidelity = (sum_i sqrt(p_i q_i))^2 = (1 - H^2)^2      in [0, 1]
 * Inputs are normalised by their sums first (as Qiskit does with counts), so counts or
 * unnormalised weights work too. TVD accepts negative entries (quasi-probabilities from
 * readout inversion: then it is 1/2 ||p - q||_1 of the normalised vectors); the Hellinger
 * quantities need p, q >= 0.
 *
 * Errors: HQ_ERR_INVALID_ARG (NULL, n < 1, non-finite entries, a non-positive sum,
 * negative entries for Hellinger, unsorted or mismatched counts), with the detail in
 * hq_last_error(). Thread-safe, no allocation except where noted.
 */
#ifndef HQ_DISTANCE_H
#define HQ_DISTANCE_H

#include <stdint.h>

#include "backends/counts.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dense distributions over n outcomes. [out] *out. */
hq_status hq_tvd(const double *p, const double *q, int64_t n, double *out);
hq_status hq_hellinger_distance(const double *p, const double *q, int64_t n, double *out);
hq_status hq_hellinger_fidelity(const double *p, const double *q, int64_t n, double *out);

/* Counts as a dense normalised distribution: probs[x] = count(x) / shots for the 2^k
 * outcomes x (k in [1, 30]; every stored outcome must be < 2^k; shots > 0). */
hq_status hq_counts_to_probs(const hq_counts *c, double *probs, int k);

/* The same metrics between two sets of counts of any width (1..64 bits, equal widths),
 * merged sparsely; both must be sorted (hq_counts_sort) and have shots > 0. */
hq_status hq_counts_tvd(const hq_counts *a, const hq_counts *b, double *out);
hq_status hq_counts_hellinger_fidelity(const hq_counts *a, const hq_counts *b, double *out);

/* Summary of per-circuit expectation-value errors e_i = est_i - exact_i, i < n. */
typedef struct hq_error_stats {
    int64_t n;       /* values compared */
    double mean_abs; /* mean |e_i| */
    double sem_abs;  /* standard error of mean_abs: sd(|e_i|) / sqrt(n) (0 for n = 1) */
    double rmse;     /* sqrt(mean e_i^2) */
    double max_abs;  /* max |e_i| */
    double bias;     /* mean e_i */
} hq_error_stats;

/* [in] est, exact (n >= 1 finite values each). [out] *out. */
hq_status hq_expect_error_stats(const double *est, const double *exact, int64_t n,
                                hq_error_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_DISTANCE_H */
