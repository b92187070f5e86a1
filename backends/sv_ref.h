/*
 * backends/sv_ref.h — the naive reference statevector simulator.
 *
 * Deliberately simple and slow (a gather/multiply/scatter per gate through the gate's
 * full matrix): it is the yardstick the optimized simulators, the QASM round trips and
 * the transpiler are checked against, never a production path. Unitary operations only:
 * barriers are skipped; measure, reset and conditions are rejected.
 */
#ifndef HQ_SV_REF_H
#define HQ_SV_REF_H

#include "backends/circuit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Apply the k-qubit matrix m ((2^k)^2, operand j = bit j) to qubits q[0..k) of state
 * (2^n amplitudes), in place. */
void hq_ref_apply_matrix(hq_cplx *state, int n, const hq_cplx *m, const int *q, int k);

/* state := circuit applied to |0...0> (2^n amplitudes, caller-allocated). sym may be NULL
 * for circuits without symbols. Ignores measure if ignore_measure (the "unitary part"),
 * otherwise rejects it with HQ_ERR_UNSUPPORTED; always rejects reset and conditions. */
hq_status hq_ref_simulate(const hq_circuit *c, const double *sym, bool ignore_measure,
                          hq_cplx *state);

/* Full 2^n x 2^n unitary of the circuit's unitary part (row-major), for small n. */
hq_status hq_ref_unitary(const hq_circuit *c, const double *sym, hq_cplx *u);

#ifdef __cplusplus
}
#endif
#endif /* HQ_SV_REF_H */
