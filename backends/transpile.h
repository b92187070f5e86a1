/*
 * backends/transpile.h — compile any hq_circuit for a real device: IBM ISA circuits on
 * physical qubits (rz, sx, x + the device's ecr / cz / cx on coupling-map edges) and IonQ
 * circuits in native (gpi, gpi2, ms) or QIS gates.
 *
 *     hq_device *dev;
 *     hq_device_load_ibm("conf_fez.json", "props_fez.json", &dev);
 *     hq_transpile_result r;
 *     if (hq_transpile_ibm(circ, dev, NULL, &r) != HQ_OK)           // NULL: default options
 *         fprintf(stderr, "%s\n", hq_last_error());
 *     // r.circuit: dev->n_qubits qubits, the input's classical registers and symbols;
 *     // logical qubit i starts on physical r.initial_layout[i], ends on r.final_layout[i]
 *     hq_transpile_result_free(&r);
 *
 * Pipeline (IBM): lower every gate to 1-qubit unitaries + CX (exact decompositions; global
 * phase dropped; the CCZ core of ccx / cswap stays whole) → peephole optimisation →
 * calibration-aware layout (branch and bound over connected placements, cost = expected
 * errors; the 8 best are routed with 4 seeds each and the cheapest result kept; see
 * docs/transpile.md) → SWAP routing (lookahead heuristic; a CCZ needs its qubits on a path,
 * then becomes 8 CX along it) → CX to the native 2-qubit gate in an allowed direction →
 * optimisation again → each single-qubit run re-synthesised as rz·sx·rz·sx·rz with 0, 1 or
 * 2 sx (or one x). Input SWAP gates are absorbed into the layout (no gates) unless
 * conditional or keep_swaps. Angles stay affine in the circuit's symbols, so a template
 * transpiles once and is bound per sample; only runs of constant single-qubit gates are
 * merged into one matrix (a symbolic rz splits them).
 *
 * Bit order: results are read back through the classical bits, which keep the input's
 * registers and indices (measure of logical q into clbit c becomes measure of its current
 * physical qubit into the same c). Final measurements (after them only barriers and other
 * final measurements touch the qubit or the bit, and no condition reads the register) are
 * taken after routing, on final_layout[q]: no SWAP moves a measured state, no physical
 * qubit is measured for two logical qubits at the end, and a static circuit stays static.
 * Mid-circuit measurements are taken in place, on the qubit holding q at that point.
 * final_layout also says where each logical qubit's state ends (circuits without
 * measurements).
 *
 * IonQ native: all-to-all, no routing; Z rotations are virtual (folded into the phases of
 * later gpi / gpi2 / ms), so the emitted circuit equals the input followed by
 * rz(ionq_frame[q]) on each qubit q — invisible to the final Z-basis measurement IonQ does.
 *
 * Ownership: hq_transpile_* fill a caller-provided result; free its contents with
 * hq_transpile_result_free (safe on a zeroed or already-freed result).
 */
#ifndef HQ_TRANSPILE_H
#define HQ_TRANSPILE_H

#include "backends/circuit.h"
#include "backends/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_transpile_options {
    const int *initial_layout; /* (n logical) forced logical->physical map, or NULL = choose */
    int optimization_level;    /* 0: decompose + route only; 1 (default): peephole passes */
    bool keep_swaps;           /* true: input SWAP gates are real gates, not layout moves */
    bool drop_barriers;        /* true: barriers are removed (they block optimisation) */
    uint64_t seed;             /* tie-breaking in routing (deterministic for a seed) */
    int64_t layout_budget;     /* max search nodes of the layout search (0 = 2e6) */
} hq_transpile_options;

/* Default options (what a NULL options pointer means). */
hq_transpile_options hq_transpile_default_options(void);

typedef struct hq_transpile_stats {
    int64_t ops_in;       /* operations of the input (barriers excluded) */
    int64_t ops_out;      /* operations of the output (barriers excluded) */
    int64_t twoq_in;      /* 2-qubit gates after lowering to CX, before routing */
    int64_t twoq_out;     /* native 2-qubit gates in the output */
    int64_t oneq_out;     /* 1-qubit gates in the output (rz included) */
    int64_t depth_in;     /* hq_circuit_depth of the input */
    int64_t depth_out;    /* hq_circuit_depth of the output */
    int64_t swaps;        /* SWAPs inserted by routing */
    double layout_cost;   /* expected-error cost of the chosen layout (model, see docs) */
    double est_fidelity;  /* product of (1 - error) over the output's calibrated ops */
    int64_t layout_nodes; /* nodes visited by the layout search */
    bool layout_exact;    /* the layout search finished (optimal for its cost model) */
    double seconds;       /* wall time of the whole transpile */
} hq_transpile_stats;

typedef struct hq_transpile_result {
    hq_circuit *circuit;  /* owned: the compiled circuit (IBM: device->n_qubits qubits) */
    int n_logical;        /* qubits of the input */
    int n_physical;       /* qubits of circuit */
    int *initial_layout;  /* (n_logical) physical qubit of logical i at the start */
    int *final_layout;    /* (n_logical) physical qubit holding logical i at the end */
    int n_clbits;         /* classical bits (same as the input) */
    int *clbit_physical;  /* (n_clbits) physical qubit last measured into clbit j, -1 if none
                             (final_layout[q] when that is a final measurement of q) */
    hq_angle *ionq_frame; /* IonQ native only: (n_logical) residual Z rotation (radians) per
                             qubit: input = output followed by rz(ionq_frame[q]) on q */
    hq_gate twoq_gate;    /* the 2-qubit gate used (ecr / cz / cx / ms; QIS: cx) */
    hq_transpile_stats stats;
} hq_transpile_result;

/*
 * Compile circuit c for the IBM device d (basis must include rz, sx, x and one of ecr, cz,
 * cx; a coupling map is required when c has 2-qubit gates).
 * [in] c, d (borrowed); opt may be NULL. [out] *out, filled on HQ_OK, zeroed otherwise.
 * Returns HQ_ERR_INVALID_ARG (NULL arguments, more logical than usable physical qubits, a
 * bad forced layout), HQ_ERR_UNSUPPORTED (device basis lacks what is needed, coupling map
 * disconnected for the circuit, a symbolic angle combination exceeding
 * HQ_ANGLE_MAX_TERMS), HQ_ERR_NOMEM.
 */
hq_status hq_transpile_ibm(const hq_circuit *c, const hq_device *d, const hq_transpile_options *opt,
                           hq_transpile_result *out);

/* Shared with backends/ionq.h (same definition under the same guard), so a file can include
 * both headers. */
#ifndef HQ_IONQ_GATESET_DEFINED
#define HQ_IONQ_GATESET_DEFINED
typedef enum hq_ionq_gateset {
    HQ_IONQ_QIS = 0, /* x y z h s sdg t tdg sx sxdg rx ry rz p, cx cy cz ch crx cry crz cp
                        swap rxx ryy rzz ccx (the names the IonQ QIS JSON accepts, after
                        the usual aliases sdg->si, tdg->ti, sx->v, rxx->xx ...) */
    HQ_IONQ_NATIVE,  /* gpi, gpi2, ms (phases in turns), virtual Z */
} hq_ionq_gateset;
#endif

/*
 * Compile c for IonQ (all-to-all, qubit i stays qubit i). Measurements must be terminal
 * (IonQ measures every qubit at the end); reset and classical conditions are rejected
 * with HQ_ERR_UNSUPPORTED. max_qubits > 0 rejects wider circuits (HQ_ERR_INVALID_ARG).
 */
hq_status hq_transpile_ionq(const hq_circuit *c, hq_ionq_gateset gs, int max_qubits,
                            const hq_transpile_options *opt, hq_transpile_result *out);

/* Free the contents of r and zero it. */
void hq_transpile_result_free(hq_transpile_result *r);

/*
 * Check that c is valid ISA for d: every unitary gate in {rz, sx, x, id} ∩ basis or the
 * device's 2-qubit gate, every 2-qubit gate on a directed coupling-map edge, qubits within
 * d->n_qubits. HQ_OK or HQ_ERR_INVALID_ARG naming the first offending operation.
 */
hq_status hq_transpile_check_isa(const hq_circuit *c, const hq_device *d);

#ifdef __cplusplus
}
#endif
#endif /* HQ_TRANSPILE_H */
