/*
 * backends/statevector.h — exact statevector simulator: amplitudes, sampling,
 * expectation values, adjoint and parameter-shift gradients, and the batched path that
 * training runs on.
 *
 *     hq_sv *sv;
 *     hq_sv_create(2, &sv);                              // |00>
 *     hq_sv_apply_gate(sv, HQ_GATE_H, (int[]){0}, NULL);
 *     hq_sv_apply_gate(sv, HQ_GATE_CX, (int[]){0, 1}, NULL);
 *     double zz;
 *     hq_pauli p;
 *     hq_pauli_parse("Z0 Z1", 2, &p);
 *     hq_sv_expect_pauli(sv, &p, &zz);                   // 1.0
 *     hq_sv_free(sv);
 *
 *     hq_counts counts;                                  // a whole circuit, sampled
 *     hq_sv_run(circuit, symbol_values, 1000, seed, stream, &counts);
 *     ...
 *     hq_counts_free(&counts);
 *
 * Conventions (the same as backends/circuit.h):
 *   - amplitude index bit k is qubit k (little-endian, Qiskit order);
 *   - gate matrices: operand j of a gate is bit j of the matrix row/column index;
 *   - amplitudes are complex128 (hq_cplx), in place, in one 64-byte aligned block;
 *   - global phase is not tracked beyond what the gate matrices define.
 *
 * Memory: a state of n qubits takes 16 * 2^n bytes. Creating one larger than the
 * memory limit (physical memory by default, see hq_sv_set_memory_limit) fails with
 * HQ_ERR_NOMEM and a message naming the bytes needed and available, before anything is
 * allocated.
 *
 * Errors: every function validates its arguments and returns HQ_ERR_INVALID_ARG (bad
 * value: the message names the function, the value and the valid range), HQ_ERR_MISUSE
 * (NULL, freed or foreign handle), HQ_ERR_NOMEM or HQ_ERR_UNSUPPORTED. Messages are in
 * hq_errmsg(handle) when there is a handle, and always in hq_last_error().
 *
 * Ownership: hq_sv_create's caller owns the state and frees it with hq_sv_free (NULL is
 * a no-op). hq_counts filled by this module are initialised here and freed by the caller
 * with hq_counts_free (also after a failure: they are then empty).
 *
 * Threads: functions on distinct handles may run concurrently; one handle is not safe
 * to use from two threads at once.
 */
#ifndef HQ_STATEVECTOR_H
#define HQ_STATEVECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/circuit.h"
#include "backends/counts.h"
#include "core/core.h"
#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest qubit count a state can have at all (indices are int64_t); the memory limit
 * usually stops much earlier. */
#define HQ_SV_MAX_QUBITS 62
/* Largest operand count of hq_sv_apply_matrix. */
#define HQ_SV_MAX_MATRIX_QUBITS 6

/* An observable: a real linear combination of Pauli strings (each hq_pauli carries its
 * own coefficient). The expectation of the sum is the sum of the expectations. */
typedef struct hq_pauli_sum {
    const hq_pauli *terms; /* (n_terms) borrowed */
    int n_terms;           /* >= 1 */
} hq_pauli_sum;

typedef struct hq_sv hq_sv;

/* ==== memory ========================================================================== */

/*
 * Bytes a state of n qubits needs (16 * 2^n), in *bytes; SIZE_MAX if it does not fit a
 * size_t. HQ_ERR_INVALID_ARG if n is outside [1, HQ_SV_MAX_QUBITS].
 */
hq_status hq_sv_bytes(int n_qubits, size_t *bytes);
/* The memory limit states are checked against: the value set by hq_sv_set_memory_limit,
 * else the machine's physical memory (sysconf pages x page size). */
size_t hq_sv_memory_limit(void);
/* Set a process-wide memory limit in bytes for new states (0 = physical memory). */
void hq_sv_set_memory_limit(size_t bytes);

/* ==== create, access ================================================================== */

/*
 * Create a state of n_qubits (1..HQ_SV_MAX_QUBITS) in |0...0>.
 * [out] *out: the new state (owned by the caller), NULL on failure.
 * Returns HQ_ERR_INVALID_ARG (n out of range, out NULL), HQ_ERR_NOMEM (more than the
 * memory limit — checked before allocating — or the allocation failed).
 */
hq_status hq_sv_create(int n_qubits, hq_sv **out);
/* Free a state; NULL is a no-op. */
void hq_sv_free(hq_sv *sv);
/* Deep copy of src into a new state. */
hq_status hq_sv_clone(const hq_sv *src, hq_sv **out);

/* Number of qubits (0 for an invalid handle). */
int hq_sv_n_qubits(const hq_sv *sv);
/* 2^n (0 for an invalid handle). */
int64_t hq_sv_dim(const hq_sv *sv);
/* The amplitudes (2^n, index bit k = qubit k); borrowed, writable, valid until
 * hq_sv_free. NULL for an invalid handle. */
hq_cplx *hq_sv_amps(hq_sv *sv);

/* Set the state to the basis state |index> (0 <= index < 2^n). */
hq_status hq_sv_init_basis(hq_sv *sv, int64_t index);
/* Copy n amplitudes (n must equal 2^n_qubits) into the state; not renormalised. */
hq_status hq_sv_set_amps(hq_sv *sv, const hq_cplx *amps, int64_t n);

/* ==== apply =========================================================================== */

/*
 * Apply a unitary gate of the table (backends/circuit.h) on the given qubits (gate's nq
 * operands, distinct, in [0, n)) with its np parameters (params may be NULL when np=0).
 * Returns HQ_ERR_INVALID_ARG for a non-unitary gate, bad qubits or non-finite params.
 */
hq_status hq_sv_apply_gate(hq_sv *sv, hq_gate g, const int *qubits, const double *params);
/*
 * Apply an arbitrary k-qubit matrix m ((2^k)^2 entries, row-major, operand j = bit j) to
 * qubits q[0..k), 1 <= k <= HQ_SV_MAX_MATRIX_QUBITS. The matrix is not checked for
 * unitarity (any linear map is applied as given).
 */
hq_status hq_sv_apply_matrix(hq_sv *sv, const hq_cplx *m, const int *qubits, int k);
/*
 * Apply the 2x2 matrix m to `target` on the subspace where all n_controls `controls`
 * are 1 (0 <= n_controls < n; distinct qubits).
 */
hq_status hq_sv_apply_controlled(hq_sv *sv, const hq_cplx *m, const int *controls, int n_controls,
                                 int target);
/*
 * Apply the unitary part of circuit c (which must have n qubits equal to the state's)
 * bound to the symbol values sym (hq_circuit_n_symbols values, finite; NULL if none).
 * Barriers are skipped and measurements are ignored (the result is the state before
 * the final measurements). Dynamic circuits (reset, classical condition, a gate after a
 * measurement; see hq_circuit_is_dynamic) are rejected with HQ_ERR_UNSUPPORTED: sample
 * them with hq_sv_run.
 */
hq_status hq_sv_apply_circuit(hq_sv *sv, const hq_circuit *c, const double *sym);
/*
 * The "unitary part" of c: every unitary operation in order, with ALL measurements
 * dropped (also mid-circuit ones) and barriers skipped — the convention of the reference
 * probability files and of hq_ref_simulate(..., ignore_measure = true). Reset and
 * classically conditioned operations have no unitary part: HQ_ERR_UNSUPPORTED.
 */
hq_status hq_sv_apply_unitary_part(hq_sv *sv, const hq_circuit *c, const double *sym);
/* Create a state for c and apply its unitary part: hq_sv_create + hq_sv_apply_circuit. */
hq_status hq_sv_simulate(const hq_circuit *c, const double *sym, hq_sv **out);

/* ==== measure ========================================================================= */

/* Squared norm sum |a_i|^2 into *out. */
hq_status hq_sv_norm2(const hq_sv *sv, double *out);
/* probs[i] = |a_i|^2 for all 2^n basis states (caller-allocated, 2^n doubles). */
hq_status hq_sv_probabilities(const hq_sv *sv, double *probs);
/* Marginal distribution of k qubits q[0..k) (distinct; 1 <= k <= min(n, 30)):
 * probs[j] for j < 2^k, bit i of j = qubit q[i]. */
hq_status hq_sv_marginal(const hq_sv *sv, const int *qubits, int k, double *probs);
/* <psi|P|psi> of one Pauli string (coefficient included) into *out. Qubits the string
 * acts on must be < n. */
hq_status hq_sv_expect_pauli(const hq_sv *sv, const hq_pauli *p, double *out);
/* Expectations of n_obs observables (sums of Pauli strings) into out[0..n_obs). */
hq_status hq_sv_expect(const hq_sv *sv, const hq_pauli_sum *obs, int n_obs, double *out);

/*
 * Sample `shots` (1..2^40) measurements of all qubits from the current state (not
 * collapsed) into *out (initialised here; outcome = basis index, bit k = qubit k;
 * n <= 64). Reproducible: the same (seed, stream) and state give the same counts. The
 * draws are sorted uniforms made from exponential spacings, merged with one pass over
 * the cumulative distribution: O(2^n + shots) time, O(1) extra memory.
 */
hq_status hq_sv_sample(const hq_sv *sv, int64_t shots, uint64_t seed, uint64_t stream,
                       hq_counts *out);
/* Measure one qubit: draw the outcome from rng, collapse and renormalise the state.
 * [out] *outcome 0 or 1. */
hq_status hq_sv_measure(hq_sv *sv, int qubit, hq_rng *rng, int *outcome);
/* Reset one qubit to |0>: measure it (drawing from rng) and flip it if it was 1. */
hq_status hq_sv_reset_qubit(hq_sv *sv, int qubit, hq_rng *rng);

/*
 * Run circuit c bound to sym for `shots` shots and histogram its classical register
 * into *out (initialised here; caller frees with hq_counts_free).
 *   - Outcome bit k = classical bit k. A circuit without any measurement is measured
 *     on all qubits instead (outcome bit k = qubit k, n_bits = n).
 *   - Static circuits (hq_circuit_is_dynamic false) are simulated once and the final
 *     distribution is sampled (hq_sv_sample with the same seed and stream).
 *   - Dynamic circuits (mid-circuit measurement, reset, if(creg==k)) run one trajectory
 *     per shot: the unitary prefix before the first non-unitary operation is simulated
 *     once, then each shot continues from a copy, drawing its measurements from the
 *     counter-based stream (seed, stream) at counter shot * 2^32, so results do not
 *     depend on anything but (seed, stream).
 * Returns HQ_ERR_UNSUPPORTED for more than 64 classical bits, HQ_ERR_INVALID_ARG for bad
 * symbols or shots outside [1, 2^40], HQ_ERR_NOMEM beyond the memory limit.
 */
hq_status hq_sv_run(const hq_circuit *c, const double *sym, int64_t shots, uint64_t seed,
                    uint64_t stream, hq_counts *out);

/* ==== gradients ======================================================================= */

/*
 * Gradients of expectation values with respect to every circuit symbol, by the adjoint
 * method (Jones & Gacon 2020, arXiv:2009.02823): one forward pass, then one backward
 * sweep that un-computes the state and an adjoint state gate by gate, using the exact
 * gate derivatives of hq_gate_matrix_deriv. Angles are affine in symbols, so
 * d/d symbol_s = sum over the angle entries using s of coef * d/d angle.
 *
 * The circuit must be static (measurements are ignored as in hq_sv_apply_circuit);
 * dynamic circuits return HQ_ERR_UNSUPPORTED.
 *
 * hq_sv_adjoint_jacobian: jac[k * n_symbols + s] = d<O_k>/d sym_s for the n_obs
 * observables (one adjoint state per observable, sharing the un-computation: memory
 * (n_obs + 1) states). expect (n_obs, may be NULL) receives the expectations.
 */
hq_status hq_sv_adjoint_jacobian(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                                 int n_obs, double *expect, double *jac);
/*
 * Vector-Jacobian product: dsym[s] = sum_k dexpect[k] * d<O_k>/d sym_s, with ONE adjoint
 * sweep for all observables (the adjoint state starts as sum_k dexpect[k] O_k |psi>):
 * memory 2 states. dexpect (n_obs) is dL/d<O_k>; expect (n_obs, may be NULL) receives
 * the expectations; dsym (n_symbols) is overwritten.
 */
hq_status hq_sv_adjoint_vjp(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                            int n_obs, const double *dexpect, double *expect, double *dsym);

/* ==== parameter-shift rules =========================================================== */

/*
 * An exact parameter-shift rule for one gate parameter x:
 *     d f / d x = sum_t coef[t] * f(x + shift[t])
 * where f is any expectation value of a circuit containing the gate, and only this one
 * parameter of this one gate is shifted. Shifts are in the parameter's unit (radians;
 * turns for gpi, gpi2, ms). The rules, per gate (d1 = (sqrt2+1)/(4 sqrt2),
 * d2 = (sqrt2-1)/(4 sqrt2); c1 = 1/(8 sin^2(pi/8)), c2 = 1/(8 sin^2(3pi/8))):
 *
 *   rx ry rz p u1 rxx ryy rzz cp cu1,     two-term: the generator has two eigenvalues
 *   u2 (phi, lambda), u3 / u (theta,      one apart (rotations: +-1/2; phases: 0, 1), so
 *   phi, lambda), cu3 (phi, lambda),      f is a + b cos x + c sin x:
 *   cu (phi, lambda, gamma)                 f' = [f(x + pi/2) - f(x - pi/2)] / 2
 *                                         (u3 = P(phi) RY(theta) P(lambda) exactly, and
 *                                         the phases of cu3/cu are controlled phases:
 *                                         generators |1><1| x |1><1| or |1><1|, spectrum
 *                                         {0, 1}.)
 *   crx cry crz, cu3 (theta),             four-term: generator |1><1| x P/2 has
 *   cu (theta)                            eigenvalues {0, +-1/2}, frequencies {1/2, 1}:
 *                                           f' = d1 [f(x + pi/2) - f(x - pi/2)]
 *                                              - d2 [f(x + 3pi/2) - f(x - 3pi/2)]
 *   gpi (phi, turns)                      the phase enters twice, as e^{-i2pi phi} and
 *                                         e^{+i2pi phi} in the two off-diagonal entries:
 *                                         gpi = RZ(4 pi phi) X, one frequency 4 pi:
 *                                           f' = 2pi [f(phi + 1/8) - f(phi - 1/8)]
 *   gpi2 (phi), ms (phi0), ms (phi1)      the phase enters twice as a conjugation
 *   (turns)                               RZ(a) V RZ(-a), a = 2 pi phi: frequencies
 *                                         {1, 2} in a (Wierichs et al. 2022 equidistant
 *                                         rule, R = 2), in turns:
 *                                           f' = 2pi c1 [f(phi + 1/8) - f(phi - 1/8)]
 *                                              - 2pi c2 [f(phi + 3/8) - f(phi - 3/8)]
 *   ms (theta, turns)                     exp(-i pi theta S), S^2 = 1: one frequency 2pi:
 *                                           f' = pi [f(theta + 1/4) - f(theta - 1/4)]
 *
 * Returns HQ_ERR_INVALID_ARG for a gate without parameters or k outside [0, np).
 */
typedef struct hq_shift_rule {
    int n_terms;     /* 2 or 4 */
    double shift[4]; /* offsets added to the parameter */
    double coef[4];  /* weights of the shifted evaluations */
} hq_shift_rule;

hq_status hq_sv_shift_rule(hq_gate g, int k, hq_shift_rule *out);

/* One weighted evaluation of a shift plan: gradient[sym] += coef * f(rows[row]). */
typedef struct hq_shift_term {
    int64_t row; /* row of hq_shift_plan.rows */
    int32_t sym; /* symbol of the ORIGINAL circuit whose derivative this feeds */
    double coef; /* weight */
} hq_shift_term;

/*
 * The parameter-shift gradient of a template at given symbol values, as a batch of
 * shifted circuits for a QPU: bind plan.circuit to each row of plan.rows, evaluate the
 * expectation f(row) of the observable(s), and
 *     d f / d sym_s = sum over terms with .sym == s of coef * f(row).
 * Each symbolic parameter use (one parameter of one operation) is shifted on its own,
 * with its gate's rule (hq_sv_shift_rule), and chained through the affine coefficients.
 * When every such use has a symbol of its own (a symbol appearing in no other use, as in
 * the HQCNN template), the shift is expressed on that symbol and plan.circuit is the
 * template itself (borrowed). Otherwise (a symbol shared by several gates) plan.circuit
 * is an owned copy with one extra symbol per use, named "__shift_<op>_<param>", added to
 * that use's angle; rows then have the original values followed by the shifts.
 */
typedef struct hq_shift_plan {
    const hq_circuit *circuit; /* template to bind: c itself, or an owned expanded copy */
    int n_symbols;             /* columns of rows: symbols of `circuit` */
    int n_grad;                /* gradient entries: symbols of the original circuit */
    int64_t n_rows;            /* shifted circuits */
    double *rows;              /* (n_rows x n_symbols) symbol values, owned */
    int64_t n_terms;
    hq_shift_term *terms; /* (n_terms) owned */
    hq_circuit *owned;    /* the expanded copy when there is one (freed with the plan) */
} hq_shift_plan;

/* Build the shift plan of c at sym. *plan is overwritten (free with hq_sv_shift_plan_free,
 * also after a failure). Dynamic circuits are allowed (the plan only shifts angles). */
hq_status hq_sv_shift_plan(const hq_circuit *c, const double *sym, hq_shift_plan *plan);
/* Free the plan's arrays and expanded copy; a zeroed plan is a no-op. */
void hq_sv_shift_plan_free(hq_shift_plan *plan);
/* The Jacobian jac[k * n_symbols + s] of n_obs observables by parameter shift, evaluating
 * the plan exactly with this simulator (a check of the adjoint method, and of the plans
 * the job layer sends to hardware). Static circuits only. */
hq_status hq_sv_shift_jacobian(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                               int n_obs, double *jac);

/* ==== batched path (training) ========================================================= */

/*
 * One small template bound to many parameter rows: the hot loop of training (the
 * quantum layer over a mini-batch). The template is compiled once into a flat plan:
 *
 *   segment A  the leading single-qubit operations (before the first multi-qubit gate):
 *              a product state, built per row from 2-vectors;
 *   segment B  operations that depend on per-row values: applied to 2^n amplitudes of
 *              8 rows at a time, rows in SIMD lanes (one instruction stream for all
 *              rows, whatever the target qubit); permutation gates (x, cx, ccx, swap,
 *              cswap) cost nothing: they relabel amplitude slots at compile time;
 *   segment C  (shared-weight calls) the suffix that depends only on shared weights:
 *              one fixed unitary W per call, so per row only a dense mat-vec W psi
 *              remains, and the weight gradient is one adjoint pass over the columns of
 *              a 2^n x 2^n matrix per call, B = sum_rows psi lambda^dagger, not per row.
 *              Used when n <= 6 and the dense product is cheaper than the gates.
 *
 * Gradients are vector-Jacobian products by the adjoint method (the adjoint state of a
 * row starts as sum_k dexpect[row][k] O_k |phi>). Templates wider than
 * HQ_SV_BATCH_MAX_QUBITS fall back to the general simulator row by row (correct, slow).
 *
 * Symbols: rows of the general calls hold all hq_circuit_n_symbols values in symbol
 * order. In the shared calls, "weights" are the HQ_SYM_WEIGHT symbols and "inputs" the
 * HQ_SYM_INPUT symbols, each in increasing symbol order (hq_sv_batch_weight_symbol /
 * hq_sv_batch_input_symbol map them back).
 *
 * Threads: n_threads (default 1) splits the rows over POSIX threads inside each call.
 * One handle must not be used from two threads at once (it owns its scratch memory).
 */
#define HQ_SV_BATCH_MAX_QUBITS 10

typedef struct hq_sv_batch hq_sv_batch;

/*
 * Compile template c (static: measurements ignored; copied, so c may be freed after)
 * with n_obs observables (copied). Returns HQ_ERR_UNSUPPORTED for dynamic circuits,
 * HQ_ERR_INVALID_ARG for bad observables, HQ_ERR_NOMEM.
 */
hq_status hq_sv_batch_create(const hq_circuit *c, const hq_pauli_sum *obs, int n_obs,
                             hq_sv_batch **out);
void hq_sv_batch_free(hq_sv_batch *b);
/* Rows are split over n_threads threads (1..64) inside each call. */
hq_status hq_sv_batch_set_threads(hq_sv_batch *b, int n_threads);

int hq_sv_batch_n_symbols(const hq_sv_batch *b);
int hq_sv_batch_n_weights(const hq_sv_batch *b);
int hq_sv_batch_n_inputs(const hq_sv_batch *b);
int hq_sv_batch_n_obs(const hq_sv_batch *b);
/* Symbol index of weight k / input k (-1 if out of range). */
int hq_sv_batch_weight_symbol(const hq_sv_batch *b, int k);
int hq_sv_batch_input_symbol(const hq_sv_batch *b, int k);

/* How a plan was compiled (for tests, benchmarks and logs). */
typedef struct hq_sv_batch_info {
    int n_qubits;
    int64_t prefix_ops; /* segment A: single-qubit ops of the product prefix */
    int64_t row_ops;    /* segment B: ops applied per row (permutations included) */
    int64_t perm_ops;   /* of which permutations, compiled away */
    int64_t shared_ops; /* segment C: ops folded into the dense unitary W */
    bool dense_w;       /* segment C is used */
    bool fallback;      /* n > HQ_SV_BATCH_MAX_QUBITS: per-row general simulator */
} hq_sv_batch_info;
/* Plan of the general calls (shared = false) or of the shared-weight calls. */
hq_status hq_sv_batch_info_get(const hq_sv_batch *b, bool shared, hq_sv_batch_info *out);

/*
 * (a) General: every row independent.
 * [in]  sym     (rows x n_symbols) symbol values, finite
 * [out] expect  (rows x n_obs) expectation values
 */
hq_status hq_sv_batch_forward(hq_sv_batch *b, int64_t rows, const double *sym, double *expect);
/*
 * [in]  dexpect (rows x n_obs) dL/d expect
 * [out] expect  (rows x n_obs) the forward values (may be NULL)
 * [out] dsym    (rows x n_symbols) dL/d sym, overwritten
 */
hq_status hq_sv_batch_backward(hq_sv_batch *b, int64_t rows, const double *sym,
                               const double *dexpect, double *expect, double *dsym);

/*
 * (b) Shared weights: one weight vector for all rows, one input row per row.
 * [in]  weights (n_weights), inputs (rows x n_inputs; may be NULL if n_inputs == 0)
 * [out] expect  (rows x n_obs)
 */
hq_status hq_sv_batch_forward_shared(hq_sv_batch *b, int64_t rows, const double *weights,
                                     const double *inputs, double *expect);
/*
 * [in]  dexpect  (rows x n_obs) dL/d expect
 * [out] expect   (rows x n_obs) forward values (may be NULL)
 * [out] dinputs  (rows x n_inputs) dL/d inputs, overwritten (may be NULL if not wanted)
 * [out] dweights (n_weights) dL/d weights summed over rows, overwritten
 */
hq_status hq_sv_batch_backward_shared(hq_sv_batch *b, int64_t rows, const double *weights,
                                      const double *inputs, const double *dexpect, double *expect,
                                      double *dinputs, double *dweights);

#ifdef __cplusplus
}
#endif
#endif /* HQ_STATEVECTOR_H */
