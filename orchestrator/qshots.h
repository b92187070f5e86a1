/*
 * orchestrator/qshots.h — the quantum layer's math on a shot-based backend: expectation
 * values ⟨Z_i⟩, ⟨X_i⟩ from measurement counts, and their Jacobian with respect to every
 * circuit symbol by parameter shift or SPSA — all circuits of a whole mini-batch handed
 * to the quantum executor (orchestrator/qexec.h) as ONE batch request, so a training
 * step costs one job round trip per backend.
 *
 * Per row r of symbol values θ_r (weights and inputs of one sample):
 *   forward: the template bound to θ_r, measured in the Z basis (⟨Z_i⟩) and in the X
 *            basis (⟨X_i⟩ = ⟨Z_i⟩ after H on every qubit): 2 circuits;
 *   parameter shift: the exact shift rules of every symbolic gate parameter
 *            (backends/statevector.h hq_sv_shift_plan), each shifted circuit in both
 *            bases: 2 × (shifted circuits) more — 2 × (1 + 2·40) = 162 circuits for the
 *            HQCNN layer, and unbiased;
 *   SPSA:    one random ±1 direction Δ_r per row (counter-based stream of (seed, step,
 *            row)), circuits at θ_r ± cΔ_r in both bases: 4 more circuits, and the
 *            rank-one estimate J_r[k][s] = (f_k(θ+cΔ) − f_k(θ−cΔ)) / (2cΔ_s)
 *            (Spall 1992): cheap, biased O(c²), noisy.
 * Observables are ordered [Z_0 … Z_{n-1}, X_0 … X_{n-1}].
 */
#ifndef HQ_QSHOTS_H
#define HQ_QSHOTS_H

#include "orchestrator/qexec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hq_qgrad {
    HQ_QGRAD_NONE = 0,   /* expectations only */
    HQ_QGRAD_PARAMSHIFT, /* exact shift rules */
    HQ_QGRAD_SPSA,       /* simultaneous perturbation */
} hq_qgrad;

/* "none", "parameter-shift", "spsa"; parse accepts also "ps". */
const char *hq_qgrad_str(hq_qgrad g);
hq_status hq_qgrad_parse(const char *s, hq_qgrad *out);

typedef struct hq_qshots_opts {
    hq_qgrad grad; /* gradient method */
    double spsa_c; /* SPSA perturbation size, radians (default 0.1) */
    uint64_t seed; /* SPSA direction streams: (seed, "spsa", step, row) */
    uint64_t step; /* training step (SPSA stream coordinate) */
} hq_qshots_opts;

/*
 * Evaluate n_rows bindings of tmpl (unitary, no measurements, n qubits, S symbols).
 *   [in]  sym     (n_rows x S) symbol values
 *   [out] expect  (n_rows x 2n) [Z_0..Z_{n-1}, X_0..X_{n-1}] estimated from counts
 *   [out] jac     (n_rows x 2n x S) d expect / d symbol, or NULL (grad must then be NONE)
 * Returns the executor's errors (budget, backend failures) or HQ_ERR_INVALID_ARG.
 */
hq_status hq_qshots_eval(hq_qexec *q, const hq_circuit *tmpl, int64_t n_rows, const double *sym,
                         const hq_qshots_opts *o, double *expect, double *jac);

/* Circuits one row costs with this method for a template with S symbols whose
 * parameter-shift plan has P shifted rows (P = 2S for two-term rules): for planning. */
int64_t hq_qshots_circuits_per_row(hq_qgrad g, int64_t shift_rows);

#ifdef __cplusplus
}
#endif
#endif /* HQ_QSHOTS_H */
