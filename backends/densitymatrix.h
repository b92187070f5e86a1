/*
 * backends/densitymatrix.h — the noisy density-matrix simulator.
 *
 * A density matrix ρ of n qubits is one 64-byte aligned block of 4^n complex128 entries,
 * row-major: ρ[r * 2^n + c], with bit k of a row / column index being qubit k (the
 * project's little-endian order). Operations:
 *   - gates:     ρ → U ρ U† (any gate of the circuit table, or a caller's unitary);
 *   - channels:  depolarizing (1 and 2 qubits), Pauli channel, amplitude damping, phase
 *                damping, thermal relaxation, reset, non-selective measurement, any
 *                trace-preserving Kraus list;
 *   - calc:      probabilities, marginals, Pauli-string expectations, purity, trace;
 *   - sampling:  seeded shots (core/rng.h Philox streams) with readout error;
 *   - circuits:  hq_dm_run / hq_dm_run_probs execute a whole circuit, optionally with a
 *                noise model (backends/noise.h), including mid-circuit measurement,
 *                reset and classical `if`, exactly (see "Circuit execution" below).
 *
 *     hq_dm *dm;
 *     hq_dm_create(2, &dm);                                  // |00><00|
 *     hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){0}, NULL);
 *     hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){0, 1}, NULL);
 *     hq_dm_apply_depolarizing(dm, 0, 0.1);
 *     double purity, zz;
 *     hq_dm_calc_purity(dm, &purity);                        // 0.813333...
 *     hq_pauli p;
 *     hq_pauli_parse("Z0 Z1", 2, &p);
 *     hq_dm_calc_expectation(dm, &p, &zz);
 *     hq_dm_free(dm);
 *
 * Kernels. A k-qubit operation (k <= 3) touches ρ in 2^k x 2^k blocks B (rows and columns
 * that differ only in the operand bits). Each block goes once through a short pipeline of
 * stages — U B U†, a monomial (permutation x phase) fast path for CX/SWAP/RZ/CZ-like
 * gates, depolarizing, relaxation-type channels, Pauli channels, a dense superoperator —
 * so a noisy gate (gate + its channels) is a single pass over memory. Only blocks on or
 * above the block diagonal are computed; the mirror block is written as the conjugate
 * transpose, which halves the work and keeps ρ exactly Hermitian off the diagonal blocks.
 *
 * Conventions:
 *   - depolarizing p (1 qubit):  ρ → (1−p)ρ + p/3 (XρX + YρY + ZρZ),  p ∈ [0, 1];
 *     p = 3/4 gives I/2 for every input. 2 qubits: (1−p)ρ + p/15 Σ_{P≠II} PρP, p ∈ [0, 1];
 *     p = 15/16 gives the maximally mixed state. (Qiskit's depolarizing_error(λ) has
 *     λ = p·4/3, resp. p·16/15.)
 *   - amplitude damping γ:  K0 = [[1,0],[0,√(1−γ)]], K1 = [[0,√γ],[0,0]].
 *   - phase damping λ:      K0 = [[1,0],[0,√(1−λ)]], K1 = [[0,0],[0,√λ]] (coherences × √(1−λ)).
 *   - thermal relaxation (T1, T2, t, p_e): populations relax towards (1−p_e, p_e) with
 *     factor exp(−t/T1), coherences decay with exp(−t/T2); needs T2 ≤ 2·T1. T1 = T2 = ∞
 *     is allowed (no decay in that part).
 *   - readout error of qubit q: P(read 0 | prepared 1) = prob_meas0_prep1,
 *     P(read 1 | prepared 0) = prob_meas1_prep0; applied to outcome probabilities as the
 *     tensor product of the per-qubit 2x2 confusion matrices.
 *
 * Errors: every function validates its arguments and returns HQ_ERR_INVALID_ARG (bad
 * value, message names it and the valid range), HQ_ERR_MISUSE (bad handle),
 * HQ_ERR_NOMEM, or HQ_ERR_UNSUPPORTED (a valid request this simulator cannot do), with
 * the detail in hq_errmsg(dm) / hq_last_error(). A failed call leaves ρ unchanged.
 *
 * Ownership and threads: hq_dm_create/copy's caller owns the handle and frees it with
 * hq_dm_free (NULL is a no-op). No global state: distinct handles may be used from
 * distinct threads concurrently; one handle must not be used by two threads at once.
 */
#ifndef HQ_DENSITYMATRIX_H
#define HQ_DENSITYMATRIX_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/circuit.h"
#include "backends/counts.h"
#include "backends/noise.h"
#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard upper bound on qubits (4^15 x 16 bytes = 16 GiB); the physical memory of the
 * machine is checked as well, before anything is allocated. */
#define HQ_DM_MAX_QUBITS 15

typedef struct hq_dm hq_dm;

/* ==== create, init ==================================================================== */

/* A new n-qubit density matrix in |0..0><0..0|, 1 <= n <= HQ_DM_MAX_QUBITS.
 * [out] *out owned by the caller. HQ_ERR_INVALID_ARG if n is out of range or 16·4^n
 * bytes exceed the machine's physical memory; HQ_ERR_NOMEM. */
hq_status hq_dm_create(int n_qubits, hq_dm **out);
void hq_dm_free(hq_dm *dm);
/* Deep copy. [out] *out owned by the caller. */
hq_status hq_dm_copy(const hq_dm *src, hq_dm **out);

/* ρ := |0..0><0..0|. */
hq_status hq_dm_init_zero(hq_dm *dm);
/* ρ := |ψ><ψ| for psi (2^n amplitudes, borrowed) with norm 1 within 1e-10. */
hq_status hq_dm_init_pure(hq_dm *dm, const hq_cplx *psi);
/* ρ := rho (4^n entries, row-major, borrowed): must be Hermitian and have trace 1 within
 * 1e-10 (positivity is the caller's promise; hq_dm_calc_* do not check it). */
hq_status hq_dm_init_matrix(hq_dm *dm, const hq_cplx *rho);
/* ρ := I / 2^n. */
hq_status hq_dm_init_mixed(hq_dm *dm);

int hq_dm_n_qubits(const hq_dm *dm);
/* ρ itself: (2^n, 2^n) row-major. Borrowed; valid until dm is freed. Read-only: writing
 * through a cast breaks the invariants the kernels rely on (Hermitian, trace 1). */
const hq_cplx *hq_dm_data(const hq_dm *dm);

/* ==== gates =========================================================================== */

/* ρ → U ρ U† for gate g (a unitary gate of the circuit table) on qubits (its arity,
 * distinct, in [0, n)) with params (its parameter count; NULL if none). */
hq_status hq_dm_apply_gate(hq_dm *dm, hq_gate g, const int *qubits, const double *params);
/* ρ → U ρ U† for a k-qubit unitary u ((2^k)^2 entries, row-major, operand j = bit j of
 * the matrix index, as in circuit.h), 1 <= k <= 3. u must be unitary within 1e-10 (use
 * hq_dm_apply_kraus for anything else). */
hq_status hq_dm_apply_matrix(hq_dm *dm, const hq_cplx *u, const int *qubits, int k);

/* ==== channels ======================================================================== */

/* 1-qubit depolarizing, p ∈ [0, 1] (convention above). */
hq_status hq_dm_apply_depolarizing(hq_dm *dm, int q, double p);
/* 2-qubit depolarizing on (q0, q1), p ∈ [0, 1] (convention above). */
hq_status hq_dm_apply_depolarizing2(hq_dm *dm, int q0, int q1, double p);
/* Pauli channel (1−px−py−pz)ρ + px XρX + py YρY + pz ZρZ; each p ≥ 0, sum ≤ 1. */
hq_status hq_dm_apply_pauli_channel(hq_dm *dm, int q, double px, double py, double pz);
/* Amplitude damping, γ ∈ [0, 1]. */
hq_status hq_dm_apply_amplitude_damping(hq_dm *dm, int q, double gamma);
/* Phase damping, λ ∈ [0, 1]. */
hq_status hq_dm_apply_phase_damping(hq_dm *dm, int q, double lambda);
/* Thermal relaxation for a duration t (same time unit as t1, t2): t1, t2 > 0 (INFINITY
 * allowed), t2 <= 2·t1, t >= 0 finite, excited_population ∈ [0, 1] (0 = relax to |0>). */
hq_status hq_dm_apply_thermal_relaxation(hq_dm *dm, int q, double t1, double t2, double t,
                                         double excited_population);
/* Reset channel: ρ → |0><0| ⊗ Tr_q(ρ) on qubit q. */
hq_status hq_dm_apply_reset(hq_dm *dm, int q);
/* Non-selective Z measurement of q (the record is discarded): coherences of q vanish. */
hq_status hq_dm_apply_dephasing_measurement(hq_dm *dm, int q);
/* Generic channel ρ → Σ_i K_i ρ K_i† with m Kraus operators of k qubits (1 <= k <= 3,
 * m >= 1): kraus holds m matrices of (2^k)^2 entries each, back to
 * back, row-major, operand j = bit j. Σ K_i† K_i must equal I within 1e-10. */
hq_status hq_dm_apply_kraus(hq_dm *dm, const hq_cplx *kraus, int m, const int *qubits, int k);

/* ==== measurement ===================================================================== */

/* Selective Z measurement of q: draws the outcome with probability Tr(Π ρ) from rng,
 * collapses and renormalises ρ. [out] *outcome 0/1, *prob (may be NULL) its probability. */
hq_status hq_dm_measure(hq_dm *dm, int q, hq_rng *rng, int *outcome, double *prob);

/* ==== calc ============================================================================ */

/* probs[i] = ρ[i,i] (2^n values, caller-allocated). */
hq_status hq_dm_calc_probs(const hq_dm *dm, double *probs);
/* Marginal over qubits[0..k) (distinct): probs has 2^k entries, bit j = qubits[j]. */
hq_status hq_dm_calc_marginal(const hq_dm *dm, const int *qubits, int k, double *probs);
/* Tr(P ρ) for a Pauli string on qubits < n. */
hq_status hq_dm_calc_expectation(const hq_dm *dm, const hq_pauli *p, double *out);
/* Tr(ρ²) ∈ [2^-n, 1]. */
hq_status hq_dm_calc_purity(const hq_dm *dm, double *out);
/* Tr(ρ) (1 up to rounding). */
hq_status hq_dm_calc_trace(const hq_dm *dm, double *out);
/* <ψ|ρ|ψ> for psi (2^n amplitudes). */
hq_status hq_dm_calc_fidelity_pure(const hq_dm *dm, const hq_cplx *psi, double *out);

/* ==== readout and sampling ============================================================ */

/* Apply readout error in place to a distribution over k bits (probs: 2^k entries, bit j
 * read from a qubit with confusion (p01[j], p10[j])): p01[j] = P(read 0 | prep 1),
 * p10[j] = P(read 1 | prep 0), each in [0, 1]. 1 <= k <= 30. */
hq_status hq_readout_apply(double *probs, int k, const double *p01, const double *p10);

/* Sample `shots` measurements of every qubit (outcome bit q = qubit q) from ρ, with the
 * readout error of noise (NULL: none) for physical qubit layout[q] (layout NULL: q).
 * Seeded: the same (seed, stream) gives the same counts. [out] *out is initialised here,
 * also on failure (caller frees with hq_counts_free), sorted. shots >= 0. */
hq_status hq_dm_sample(const hq_dm *dm, const hq_noise_model *noise, const int *layout,
                       int64_t shots, uint64_t seed, uint64_t stream, hq_counts *out);

/* ==== circuit execution =============================================================== */

/*
 * Circuit execution semantics (hq_dm_run, hq_dm_run_probs):
 *   - starts from |0..0>; barriers are no-ops; angles are bound from sym (the circuit's
 *     symbol values; NULL only if it has none);
 *   - noise (NULL = ideal): after every gate and reset, the channel of
 *     hq_noise_gate_channel for the op's physical qubits; every recorded measurement bit
 *     passes through the qubit's readout error. Circuit qubit i is physical qubit
 *     layout[i] (layout NULL = identity; entries distinct, and < the model's n_qubits
 *     when it describes qubits);
 *   - measurements that nothing acts on afterwards (no later op on the qubit, no later
 *     write of the bit, no later condition reading it) are taken at the end from the
 *     final ρ; any other measurement splits the run into branches, one per classical
 *     register value, each carrying its unnormalised ρ; `if (creg == v)` ops act on the
 *     branches whose register matches. This is exact (no per-shot trajectories), limited
 *     only by memory: at most (physical memory / 2) / (16·4^n) branches at a time, else
 *     HQ_ERR_UNSUPPORTED. Branches of probability below 1e-14 are dropped;
 *   - a circuit without any measure op measures every qubit q into bit q at the end
 *     (outcome width n_qubits); otherwise outcomes are the classical register (width
 *     n_clbits, at most 64), unmeasured bits 0.
 */

/* An exact outcome distribution, sorted by outcome, zero-probability outcomes omitted. */
typedef struct hq_dm_dist {
    int n_bits;        /* outcome width, bit k = classical bit k */
    int64_t n;         /* outcomes stored */
    uint64_t *outcome; /* (n) ascending */
    double *prob;      /* (n) probabilities, summing to 1 */
} hq_dm_dist;

void hq_dm_dist_free(hq_dm_dist *d);
/* Probability of an outcome (0 if absent); binary search. */
double hq_dm_dist_prob(const hq_dm_dist *d, uint64_t outcome);

/* Exact outcome distribution of circuit c (semantics above). [out] *out initialised
 * here; free with hq_dm_dist_free. */
hq_status hq_dm_run_probs(const hq_circuit *c, const double *sym, const hq_noise_model *noise,
                          const int *layout, hq_dm_dist *out);
/* Sample `shots` outcomes of circuit c (semantics above) with the Philox stream (seed,
 * stream): deterministic for equal inputs. [out] *out initialised here, also on failure
 * (free with hq_counts_free), sorted ascending. */
hq_status hq_dm_run(const hq_circuit *c, const double *sym, const hq_noise_model *noise,
                    const int *layout, int64_t shots, uint64_t seed, uint64_t stream,
                    hq_counts *out);
/* Apply circuit c's gates and resets (with noise as above) to dm, which must have the
 * circuit's qubit count. Measurements are skipped if ignore_measure (the "unitary part"),
 * else rejected; classical conditions are always rejected (use hq_dm_run). */
hq_status hq_dm_apply_circuit(hq_dm *dm, const hq_circuit *c, const double *sym,
                              const hq_noise_model *noise, const int *layout, bool ignore_measure);

#ifdef __cplusplus
}
#endif
#endif /* HQ_DENSITYMATRIX_H */
