/*
 * backends/noise.h — noise models for the density-matrix simulator: what happens after each
 * gate, how long relaxation acts, how measurements misread. Built by hand, loaded from
 * JSON, or converted from a device's calibration data (backends/device.h).
 *
 *     hq_noise_model *m;
 *     hq_noise_load_json("configs/noise/ibm_manila.json", &m);   // or hq_noise_from_device
 *     hq_noise_set_scale(m, 0.5);                                 // half the noise
 *     hq_dm_run(circuit, sym, m, NULL, 1000, seed, stream, &counts);
 *     hq_noise_free(m);
 *
 * The model (formulas in docs/noise.md):
 *   - qubits are PHYSICAL qubits 0..n_qubits-1 (n_qubits = 0: a generic model that
 *     describes no qubit individually and applies its defaults to any qubit). Each has
 *     T1, T2 (µs), an excited-state population p_e (default 0) and readout errors
 *     prob_meas0_prep1 = P(read 0 | prepared 1), prob_meas1_prep0 = P(read 1 | prepared 0).
 *     A field left unset (NAN) takes the model's default qubit; unset there too: T1 = ∞
 *     (no relaxation), T2 = 2·T1 (only T1-limited), p_e = 0, no readout error.
 *   - gate entries: (gate, physical qubits) → error and duration_ns. `error` is the
 *     AVERAGE GATE INFIDELITY r = 1 − F_avg of the whole noisy gate — the quantity IBM
 *     calibrates as gate_error — NOT a depolarizing probability. After the gate each
 *     operand relaxes thermally for duration_ns (T1, T2, p_e of that qubit), then a
 *     depolarizing channel on all operands whose λ is chosen so that the composed channel
 *     has average gate infidelity r:  λ = d (r − r_R) / (d F_R − 1), F_R = 1 − r_R the
 *     average gate fidelity of the relaxation part, d = 2^nq; λ is clipped to
 *     [0, d²/(d²−1)] (r below the relaxation's own infidelity gives λ = 0).
 *   - lookup for an op (g, q): the entry (g, q) — for 2 qubits also (g, reversed q) —, else
 *     the entry (g, any qubits), else the entry (ANY_GATE, q) [reversed], else the model's
 *     default for the arity, else no gate noise (relaxation included). Reset uses only
 *     reset entries; measurements carry no gate noise (their error is the readout).
 *   - scale s >= 0 sweeps the strength: relaxation acts for s·duration, λ becomes s·λ and
 *     each readout probability s·p; for s > 1 these are capped at max(value at s = 1,
 *     full strength) (λ: 1 = fully depolarizing; readout: 1/2). Every channel strength is
 *     non-decreasing in s, and s = 0 turns every channel off exactly (the simulator then
 *     runs the ideal code path).
 *
 * Errors: functions validate their inputs, return HQ_ERR_INVALID_ARG / HQ_ERR_PARSE /
 * HQ_ERR_IO / HQ_ERR_NOMEM / HQ_ERR_MISUSE and name the bad field or value (for JSON: its
 * path, e.g. "gates[3].error") and the valid range in hq_errmsg(m) / hq_last_error().
 *
 * Ownership and threads: the caller of hq_noise_create / copy / from_* / load_* owns the
 * model and frees it with hq_noise_free (NULL is a no-op). A model is plain data: const
 * functions (queries, channels) may run concurrently on one model from many threads;
 * setters need exclusive access.
 */
#ifndef HQ_NOISE_H
#define HQ_NOISE_H

#include <stdbool.h>

#include "backends/circuit.h"
#include "backends/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Gate kind of an entry that covers every gate of its arity on its qubits ("*" in JSON). */
#define HQ_NOISE_ANY_GATE ((hq_gate)HQ_GATE_COUNT)
/* Upper bound on n_qubits of a model (the largest IBM devices have a few hundred). */
#define HQ_NOISE_MAX_QUBITS 100000

typedef struct hq_noise_model hq_noise_model;

/* Per physical qubit. NAN = unset (take the default). */
typedef struct hq_noise_qubit {
    double t1_us;              /* T1 in µs, > 0; INFINITY = no amplitude damping */
    double t2_us;              /* T2 in µs, > 0, <= 2·T1; INFINITY = no dephasing */
    double excited_population; /* p_e ∈ [0, 1]: thermal population relaxation tends to */
    double prob_meas0_prep1;   /* P(read 0 | prepared 1) ∈ [0, 1] */
    double prob_meas1_prep0;   /* P(read 1 | prepared 0) ∈ [0, 1] */
} hq_noise_qubit;

/* An all-unset qubit (every field NAN). */
hq_noise_qubit hq_noise_qubit_unset(void);

/* One gate entry. */
typedef struct hq_noise_gate {
    hq_gate gate;       /* gate kind (unitary gates, HQ_GATE_RESET) or HQ_NOISE_ANY_GATE */
    int nq;             /* 0: every instance of `gate` (not allowed with ANY_GATE); else the
                           gate's arity (ANY_GATE: 1..3), with the qubits in q */
    int q[3];           /* physical qubits in operand order (2-qubit entries also match the
                           reversed pair) */
    double error;       /* average gate infidelity of the noisy gate, [0, d/(d+1)], d = 2^arity */
    double duration_ns; /* gate duration in ns (relaxation time), >= 0 */
} hq_noise_gate;

/* The noise after one op, resolved for physical qubits and scaled. */
typedef struct hq_noise_channel {
    int nq;       /* operands (the op's arity, 1..3) */
    double depol; /* λ of ρ → (1−λ)ρ + λ (I/2^nq) ⊗ Tr_ops(ρ) on all operands; 0 = none;
                     in [0, 4^nq/(4^nq−1)] */
    double time_ns; /* relaxation duration (scaled), ns; 0 = none */
    double e1[3];   /* per operand exp(−time/T1) (1 = no amplitude damping) */
    double e2[3];   /* per operand exp(−time/T2) (1 = no dephasing) */
    double pe[3];   /* per operand excited-state population */
} hq_noise_channel;
/* Order of application (as Qiskit Aer's device model): gate, then depolarizing (λ), then
 * thermal relaxation of each operand. The average gate fidelity does not depend on it. */

/* ==== create, free ==================================================================== */

/* An empty model for n_qubits physical qubits (0..HQ_NOISE_MAX_QUBITS; 0 = generic):
 * no noise at all until something is set. Scale 1. */
hq_status hq_noise_create(int n_qubits, hq_noise_model **out);
void hq_noise_free(hq_noise_model *m);
hq_status hq_noise_copy(const hq_noise_model *m, hq_noise_model **out);

int hq_noise_n_qubits(const hq_noise_model *m);
/* Free-form description ("ibm_manila 2024-05-27T15:27:23-03:00"), at most 127 bytes. */
hq_status hq_noise_set_name(hq_noise_model *m, const char *name);
const char *hq_noise_name(const hq_noise_model *m); /* borrowed; "" if none */

/* Global strength factor s ∈ [0, 1e6] (see the header comment). */
hq_status hq_noise_set_scale(hq_noise_model *m, double s);
double hq_noise_scale(const hq_noise_model *m);

/* ==== qubits ========================================================================== */

/* Set physical qubit q (0 <= q < n_qubits) or the default qubit. Unset fields (NAN) fall
 * back to the default. Validates ranges and the effective T2 <= 2·T1 of every affected
 * qubit (the model is unchanged on error). */
hq_status hq_noise_set_qubit(hq_noise_model *m, int q, const hq_noise_qubit *v);
hq_status hq_noise_set_default_qubit(hq_noise_model *m, const hq_noise_qubit *v);
/* Effective (defaults resolved, unscaled, no NAN) parameters of physical qubit q: any
 * q >= 0 when n_qubits = 0, else 0 <= q < n_qubits. */
hq_status hq_noise_get_qubit(const hq_noise_model *m, int q, hq_noise_qubit *out);

/* ==== gates =========================================================================== */

/* Add an entry, replacing one with the same (gate, nq, q). */
hq_status hq_noise_set_gate(hq_noise_model *m, const hq_noise_gate *e);
/* Default for gates of arity nq (1..3) with no entry. error ∈ [0, d/(d+1)], duration >= 0. */
hq_status hq_noise_set_default_gate(hq_noise_model *m, int nq, double error, double duration_ns);
int hq_noise_n_gates(const hq_noise_model *m);
/* Entry i (0 <= i < n_gates), NULL if out of range. Borrowed; valid until the model is
 * next modified or freed. */
const hq_noise_gate *hq_noise_gate_at(const hq_noise_model *m, int i);

/* ==== channels (what the simulator applies) =========================================== */

/* The channel after gate g (a unitary gate or HQ_GATE_RESET) on physical qubits phys
 * (the gate's arity). Resolved by the lookup order above and scaled. An op without
 * noise gets depol = 0, time_ns = 0, e1 = e2 = 1. */
hq_status hq_noise_gate_channel(const hq_noise_model *m, hq_gate g, const int *phys,
                                hq_noise_channel *out);
/* Scaled readout error of physical qubit q. */
hq_status hq_noise_readout(const hq_noise_model *m, int q, double *prob_meas0_prep1,
                           double *prob_meas1_prep0);
/* The depolarizing λ that gives a k-qubit gate (1 <= k <= 3) the average gate infidelity
 * `error` after thermal relaxation with per-operand factors e1[j] = exp(-t/T1_j),
 * e2[j] = exp(-t/T2_j): λ = d (r − r_R)/(d F_R − 1), clipped to [0, d²/(d²−1)];
 * error is clipped to [0, d/(d+1)] first. */
double hq_noise_depol_for_error(double error, int k, const double *e1, const double *e2);

/* ==== JSON ============================================================================= */

/*
 * Format (docs/noise.md has the full schema and an example):
 *   { "format": "hqcnn-noise-model", "version": 1, "name": "...", "n_qubits": 5,
 *     "scale": 1.0,
 *     "defaults": { "qubit": {QUBIT}, "gate_1q": {GATE}, "gate_2q": {GATE},
 *                   "gate_3q": {GATE} },
 *     "qubits": [ {QUBIT}, ... ]            (index = physical qubit, <= n_qubits entries),
 *     "gates": [ {"gate": "cx", "qubits": [0, 1], "error": 0.007, "duration_ns": 300},
 *                {"gate": "rz", "error": 0, "duration_ns": 0},      (any qubits)
 *                {"gate": "*", "qubits": [3], "error": 3e-4, "duration_ns": 36}, ... ] }
 *   QUBIT = {"t1_us", "t2_us", "excited_population", "prob_meas0_prep1",
 *            "prob_meas1_prep0"} (each optional; t1_us / t2_us may be null = infinite)
 *   GATE  = {"error", "duration_ns"} (both required)
 * Only "format" is required at top level ("version" defaults to 1, "n_qubits" to 0).
 * Unknown fields are errors (they are usually typos).
 */
hq_status hq_noise_from_json(const char *json, hq_noise_model **out);
/* Load from a file (at most 64 MiB); errors name the file and the field. */
hq_status hq_noise_load_json(const char *path, hq_noise_model **out);
/* Append the model as JSON (round-trips exactly through hq_noise_from_json). */
hq_status hq_noise_to_json(const hq_noise_model *m, hq_sbuf *out);
/* Write to a file atomically. */
hq_status hq_noise_save_json(const hq_noise_model *m, const char *path);

/* ==== from a device ==================================================================== */

/*
 * The standard device noise model (as Qiskit Aer's basic device model, temperature 0):
 *   - qubit q: T1, T2 from the device (missing → ∞; T2 > 2·T1 is clipped to 2·T1),
 *     p_e = 0, readout from prob_meas0_prep1 / prob_meas1_prep0 (missing: the symmetric
 *     readout_error; missing too: 0);
 *   - every calibrated gate instance (unitary gates and reset) becomes an entry with its
 *     gate_error (missing → 0, above d/(d+1) → clipped: IBM marks broken couplers with 1)
 *     and gate_length (missing → 0). rz has error 0 and length 0 on IBM devices (a
 *     virtual frame change): no noise. id is an idle of one sx length and gets its own
 *     calibration (relaxation + depolarizing), as in Aer;
 *   - virtual gates the device does not list (z, s, sdg, t, tdg, p, u1 — IBM runs them as
 *     rz) get gate-wide entries with error 0, duration 0;
 *   - other gates fall back to ANY_GATE entries: 1-qubit gates on q take q's sx
 *     calibration (else x), 2-qubit gates on a coupled pair take that pair's native
 *     2-qubit gate calibration (ecr, cz or cx); defaults for anything else: the median
 *     sx and native 2-qubit calibration, and for 3-qubit gates (ccx, cswap, untranspiled)
 *     the Toffoli decomposition estimate r3 = 1 − (1−r2)^6 (1−r1)^2 over 6·t2 + 2·t1.
 * Transpile circuits to the device first for a faithful model.
 */
hq_status hq_noise_from_device(const hq_device *d, hq_noise_model **out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_NOISE_H */
