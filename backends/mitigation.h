/*
 * backends/mitigation.h — error mitigation for shot-based and noisy backends: tensored
 * readout-error mitigation and zero-noise extrapolation (unitary folding + Richardson /
 * linear extrapolation). Every piece works on plain circuits, counts and probability
 * vectors, so it runs on any backend (simulators, the emulator, QPUs).
 *
 * Readout mitigation (formulas in docs/study.md):
 *
 *     hq_circuit *cal[2];
 *     hq_readout_calibration_circuits(n_qubits, measured, k, cal);   // all-|0>, all-|1>
 *     ... run cal[0], cal[1] on the backend -> counts0, counts1 ...
 *     hq_readout_cal rc;
 *     hq_readout_fit(&counts0, &counts1, &rc);          // per-bit 2x2 confusion matrices
 *     double probs[1 << k];
 *     hq_counts_to_probs(&counts, probs, k);            // backends/distance.h
 *     hq_readout_apply_lsq(&rc, probs, k);               // mitigated probability vector
 *     double z, se;
 *     hq_readout_expect_z(&rc, &counts, 0x1, &z, &se);  // mitigated <Z_0> from counts
 *
 * Zero-noise extrapolation:
 *
 *     static const int scales[] = {1, 3, 5};
 *     hq_circuit *folded[3];
 *     hq_zne_fold_scales(c, scales, 3, HQ_FOLD_GLOBAL, 0, folded);   // U (U^dag U)^k M
 *     ... run each, get <O>(scale) ...
 *     double e0, s0;
 *     hq_zne_extrapolate(HQ_ZNE_RICHARDSON, (double[]){1, 3, 5}, vals, sig, 3, &e0, &s0);
 *
 * Bit convention: readout calibrations describe classical bits 0..n_bits-1, in the order
 * the circuit measures them (bit j of an outcome = classical bit j, as in counts.h).
 * Confusion of bit j: p01[j] = P(read 0 | prepared 1), p10[j] = P(read 1 | prepared 0)
 * (the same names as backends/noise.h and hq_readout_apply in densitymatrix.h).
 *
 * Errors: functions return HQ_ERR_INVALID_ARG (bad value; the message names the function,
 * the value and the valid range), HQ_ERR_UNSUPPORTED (a valid request this module cannot
 * do, e.g. global folding of a circuit with mid-circuit measurement) or HQ_ERR_NOMEM, with
 * the detail in hq_last_error(). Outputs are untouched on failure unless said otherwise.
 *
 * Ownership: circuits returned through out-parameters are owned by the caller (free with
 * hq_circuit_free). No global state; every function is thread-safe.
 */
#ifndef HQ_MITIGATION_H
#define HQ_MITIGATION_H

#include <stdint.h>

#include "backends/circuit.h"
#include "backends/counts.h"
#include "backends/noise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== readout-error mitigation (tensored) ============================================ */

#define HQ_READOUT_MAX_BITS       64 /* bits a calibration describes */
#define HQ_READOUT_MAX_DENSE_BITS 24 /* bits of a dense probability vector (2^24 doubles) */
/* A confusion matrix with |det| = |1 - p01 - p10| below this is treated as singular. */
#define HQ_READOUT_MIN_DET 1e-6

/* Per-bit confusion matrices A_j = [[1 - p10, p01], [p10, 1 - p01]] (column = prepared,
 * row = read). The full confusion is their tensor product (uncorrelated readout). A value
 * type: copy it freely. */
typedef struct hq_readout_cal {
    int n_bits;                      /* bits described, 1..HQ_READOUT_MAX_BITS */
    double p01[HQ_READOUT_MAX_BITS]; /* P(read 0 | prepared 1) of bit j, in [0, 1] */
    double p10[HQ_READOUT_MAX_BITS]; /* P(read 1 | prepared 0) of bit j, in [0, 1] */
    int64_t shots0;                  /* shots of the all-|0> calibration (0: not measured) */
    int64_t shots1;                  /* shots of the all-|1> calibration (0: not measured) */
} hq_readout_cal;

/*
 * The two tensored calibration circuits on n_qubits qubits: out[0] prepares |0...0>,
 * out[1] applies X to every measured qubit; both then measure qubits[j] into classical
 * bit j (j < k), in one creg "c" of k bits. qubits are distinct, in [0, n_qubits);
 * 1 <= k <= HQ_READOUT_MAX_BITS. Pass the physical qubits a transpiled circuit measures
 * (its clbit order) so the calibration sees the same readout chain.
 * [out] out[0], out[1] owned by the caller (both NULL on failure).
 */
hq_status hq_readout_calibration_circuits(int n_qubits, const int *qubits, int k,
                                          hq_circuit *out[2]);

/*
 * Fit the per-bit confusion from the counts of the two calibration circuits (same width
 * k = n_bits of both, 1..64, shots > 0): p10[j] = fraction of all-|0> shots that read
 * bit j as 1, p01[j] = fraction of all-|1> shots that read bit j as 0.
 * Counts need not be sorted. [out] *out. HQ_ERR_INVALID_ARG on mismatched widths or
 * empty counts.
 */
hq_status hq_readout_fit(const hq_counts *all0, const hq_counts *all1, hq_readout_cal *out);
/* Same from exact (or estimated) outcome distributions of the two circuits: probs0,
 * probs1 have 2^k entries, k <= HQ_READOUT_MAX_DENSE_BITS, each summing to 1 within 1e-6. */
hq_status hq_readout_fit_probs(const double *probs0, const double *probs1, int k,
                               hq_readout_cal *out);
/* A calibration from known values (p01, p10: n_bits entries each in [0, 1]). */
hq_status hq_readout_cal_set(hq_readout_cal *out, int n_bits, const double *p01, const double *p10);
/* The exact (scaled) confusion a noise model gives bit j read from physical qubit
 * phys[j] (j < k; phys NULL = identity). */
hq_status hq_readout_cal_from_noise(const hq_noise_model *m, const int *phys, int k,
                                    hq_readout_cal *out);

/*
 * Mitigate a dense outcome distribution in place (probs: 2^k entries, k = cal->n_bits <=
 * HQ_READOUT_MAX_DENSE_BITS, finite; normally summing to 1). Each fails with
 * HQ_ERR_INVALID_ARG if k differs from cal->n_bits or a bit's confusion is singular
 * (|1 - p01 - p10| < HQ_READOUT_MIN_DET), naming the bit.
 *
 *   inverse  x = A^-1 p with A = A_{k-1} (x) ... (x) A_0, applied bit by bit (O(k 2^k)).
 *            Exact when p is exact; the result sums to sum(p) but may have negative
 *            entries (a quasi-probability vector).
 *   nearest  the inverse, then the Euclidean projection onto the probability simplex
 *            (x >= 0, sum 1): the closest probability vector to A^-1 p in 2-norm (the
 *            "nearest probability" of Smolin, Gambetta and Smith, PRL 108, 070502).
 *   lsq      constrained least squares: argmin ||A x - p||_2 over the simplex, by
 *            accelerated projected gradient (FISTA) started from `nearest`, until the
 *            projected-gradient step changes x by < 1e-13 (max 20000 iterations); the
 *            result is a probability vector. Equals `inverse` when that is already one.
 */
hq_status hq_readout_apply_inverse(const hq_readout_cal *cal, double *probs, int k);
hq_status hq_readout_apply_nearest(const hq_readout_cal *cal, double *probs, int k);
hq_status hq_readout_apply_lsq(const hq_readout_cal *cal, double *probs, int k);
/* Apply the confusion itself (p -> A p), e.g. to model readout error on exact probs. */
hq_status hq_readout_apply_confusion(const hq_readout_cal *cal, double *probs, int k);

/*
 * Mitigated <Z_S> = <prod_{j in S} Z_j> for the bits S = mask (bit j of mask = classical
 * bit j, mask != 0, within n_bits) straight from counts, without a dense vector: the
 * unbiased per-shot estimator sum_r p(r) prod_{j in S} w_j(r_j) with
 * w_j(0) = (1 - p01 + p10)/det_j, w_j(1) = -(1 + p01 - p10)/det_j, which equals
 * <Z_S> of A^-1 p. [out] *value; *stderr_out (may be NULL) its standard error
 * sqrt(Var_shot / shots) (0 for a single shot). counts width must equal cal->n_bits.
 */
hq_status hq_readout_expect_z(const hq_readout_cal *cal, const hq_counts *counts, uint64_t mask,
                              double *value, double *stderr_out);
/* Direct correction of a measured single-bit <Z_j>: (z_meas - (p01 - p10)) / (1 - p01 - p10).
 * z_meas in [-1, 1]; the result may leave [-1, 1] by statistical noise (not clipped). */
hq_status hq_readout_correct_z(const hq_readout_cal *cal, int bit, double z_meas, double *z);

/* ==== gate inverses ==================================================================== */

/* Inverses written with ISA gates (see hq_gate_inverse). */
#define HQ_INV_ISA 1u

#define HQ_GATE_INV_MAX 3 /* gates an inverse takes at most */

/* The inverse of one gate as a short gate sequence on the original operands. */
typedef struct hq_gate_inv {
    int n; /* gates in the sequence, 1..HQ_GATE_INV_MAX, applied in order */
    struct {
        hq_gate gate;                       /* a unitary gate of the table */
        int8_t operand[HQ_GATE_MAX_QUBITS]; /* operand k acts on the original op's
                                               operand[k] (index 0..nq-1) */
        hq_angle param[HQ_GATE_MAX_PARAMS]; /* its parameters (affine, like the input) */
    } op[HQ_GATE_INV_MAX];
} hq_gate_inv;

/*
 * The inverse U^dag of gate g with (affine) parameters params (np entries; NULL if none),
 * exact including global phase unless HQ_INV_ISA is set:
 *   self-inverse (x y z h id cx cy cz ch swap ecr ccx cswap gpi), s<->sdg, t<->tdg,
 *   sx<->sxdg; rotations and phases negate their angle (rx ry rz p u1 cp cu1 crx cry crz
 *   rxx ryy rzz); u3/u/cu3 (t, f, l) -> (-t, -l, -f); u2 (f, l) -> u3(-pi/2, -l, -f);
 *   cu (t, f, l, g) -> (-t, -l, -f, -g); gpi2(f) -> gpi2(f + 1/2); ms(f0, f1, t) ->
 *   ms(f0 + 1/2, f1, t) (theta keeps its sign, as IonQ requires); csx -> cu(-pi/2, -pi/2,
 *   pi/2, -pi/4); iswap -> z, z, iswap (iswap^dag = iswap (Z x Z)).
 *   HQ_INV_ISA keeps IBM ISA circuits in the ISA: sx -> rz(pi), sx, rz(pi) (equal up to a
 *   global phase) instead of sxdg.
 * HQ_ERR_INVALID_ARG for non-unitary kinds (measure, reset, barrier) and out-of-range g.
 */
hq_status hq_gate_inverse(hq_gate g, const hq_angle *params, unsigned flags, hq_gate_inv *out);

/* ==== zero-noise extrapolation ========================================================= */

typedef enum hq_fold_method {
    HQ_FOLD_GLOBAL = 0, /* U -> U (U^dag U)^k, then the measurements */
    HQ_FOLD_LOCAL,      /* every gate G -> G (G^dag G)^k, in place */
} hq_fold_method;

/* Fold flags. */
#define HQ_FOLD_BARRIERS 1u /* a barrier between folded blocks, so no optimiser undoes them */
#define HQ_FOLD_ISA      2u /* inverses with HQ_INV_ISA */

#define HQ_ZNE_MAX_SCALE 101 /* largest scale factor hq_zne_fold accepts */

/*
 * Fold circuit c to noise scale `scale` (odd, 1..HQ_ZNE_MAX_SCALE; k = (scale-1)/2).
 * Global: c must be a unitary followed by terminal measurements (no reset, no classical
 * condition, no gate after a measurement on the same qubit: HQ_ERR_UNSUPPORTED otherwise);
 * its unitary part U (gates and barriers, in order) becomes U (U^dag U)^k followed by the
 * measurements. Local: each unitary gate G (conditional ones keep their condition on every
 * copy) becomes G (G^dag G)^k; measurements, resets and barriers stay once. Registers,
 * symbols and angles (affine in symbols) are kept, so a template folds once.
 * Scale 1 returns a copy. [out] *out owned by the caller.
 */
hq_status hq_zne_fold(const hq_circuit *c, int scale, hq_fold_method method, unsigned flags,
                      hq_circuit **out);
/* Fold at n scale factors (odd, strictly increasing); out[i] for scales[i]. On failure
 * every out[i] is NULL. */
hq_status hq_zne_fold_scales(const hq_circuit *c, const int *scales, int n, hq_fold_method method,
                             unsigned flags, hq_circuit **out);

typedef enum hq_zne_method {
    HQ_ZNE_RICHARDSON = 0, /* the polynomial of degree n-1 through all n points, at 0 */
    HQ_ZNE_LINEAR,         /* least-squares line a + b*s through the points, a */
} hq_zne_method;

/*
 * Extrapolate expectation values measured at noise scales (n >= 2 points, strictly
 * increasing, finite, > 0) to scale 0. Both methods are linear in the values:
 * E(0) = sum_i g_i values[i] (Richardson: g_i = prod_{j != i} s_j / (s_j - s_i)), so with
 * per-point standard errors sigmas (may be NULL; >= 0) the result's standard error is
 * sqrt(sum g_i^2 sigma_i^2). [out] *value, *sigma (may be NULL; 0 when sigmas is NULL).
 * Optional [out] gamma (may be NULL): the n coefficients g_i.
 */
hq_status hq_zne_extrapolate(hq_zne_method method, const double *scales, const double *values,
                             const double *sigmas, int n, double *value, double *sigma,
                             double *gamma);

#ifdef __cplusplus
}
#endif
#endif /* HQ_MITIGATION_H */
