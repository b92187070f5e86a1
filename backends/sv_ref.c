/*
 * backends/sv_ref.c — naive reference statevector simulator (see sv_ref.h).
 */
#include <string.h>

#include "backends/sv_ref.h"

void hq_ref_apply_matrix(hq_cplx *state, int n, const hq_cplx *m, const int *q, int k) {
    int64_t dim = (int64_t)1 << n;
    int sub = 1 << k;
    int64_t mask = 0;
    for (int j = 0; j < k; j++) mask |= (int64_t)1 << q[j];
    hq_cplx in[8], out[8];
    int64_t idx[8];
    for (int64_t base = 0; base < dim; base++) {
        if (base & mask) continue; /* visit each group once, from its all-zero member */
        for (int s = 0; s < sub; s++) {
            int64_t i = base;
            for (int j = 0; j < k; j++)
                if (s >> j & 1) i |= (int64_t)1 << q[j];
            idx[s] = i;
            in[s] = state[i];
        }
        for (int r = 0; r < sub; r++) {
            hq_cplx acc = 0;
            for (int s = 0; s < sub; s++) acc += m[r * sub + s] * in[s];
            out[r] = acc;
        }
        for (int s = 0; s < sub; s++) state[idx[s]] = out[s];
    }
}

static hq_status run_ops(const hq_circuit *c, const double *angles, bool ignore_measure,
                         hq_cplx *state) {
    int n = hq_circuit_n_qubits(c);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++) {
        const hq_op *op = &ops[k];
        if (op->cond_creg >= 0)
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "reference simulator: classical conditions are not supported");
        if (op->gate == HQ_GATE_BARRIER) continue;
        if (op->gate == HQ_GATE_MEASURE) {
            if (ignore_measure) continue;
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "reference simulator: measurement is not supported");
        }
        if (op->gate == HQ_GATE_RESET)
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "reference simulator: reset is not supported");
        double p[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < op->np; i++) p[i] = angles[op->p[i]];
        hq_cplx m[64];
        hq_status st = hq_gate_matrix((hq_gate)op->gate, p, m);
        if (st) return st;
        int q[3] = {op->q[0], op->q[1], op->q[2]};
        hq_ref_apply_matrix(state, n, m, q, op->nq);
    }
    return HQ_OK;
}

static hq_status eval(const hq_circuit *c, const double *sym, double **angles) {
    int64_t na = hq_circuit_n_angles(c);
    *angles = hq_malloc((size_t)(na ? na : 1) * sizeof **angles);
    if (!*angles) return hq_failf(NULL, HQ_ERR_NOMEM, "reference simulator: out of memory");
    if (hq_circuit_n_symbols(c) && !sym) {
        HQ_FREE(*angles);
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "reference simulator: symbol values missing");
    }
    hq_circuit_eval_angles(c, sym, *angles);
    return HQ_OK;
}

hq_status hq_ref_simulate(const hq_circuit *c, const double *sym, bool ignore_measure,
                          hq_cplx *state) {
    int n = hq_circuit_n_qubits(c);
    if (n > 30)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "reference simulator: %d qubits is too many (max 30)", n);
    double *angles;
    hq_status st = eval(c, sym, &angles);
    if (st) return st;
    int64_t dim = (int64_t)1 << n;
    memset(state, 0, (size_t)dim * sizeof *state);
    state[0] = 1;
    st = run_ops(c, angles, ignore_measure, state);
    hq_free(angles);
    return st;
}

hq_status hq_ref_unitary(const hq_circuit *c, const double *sym, hq_cplx *u) {
    int n = hq_circuit_n_qubits(c);
    if (n > 12)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "reference unitary: %d qubits is too many (max 12)", n);
    int64_t dim = (int64_t)1 << n;
    double *angles;
    hq_status st = eval(c, sym, &angles);
    if (st) return st;
    hq_cplx *col = hq_malloc((size_t)dim * sizeof *col);
    if (!col) {
        hq_free(angles);
        return hq_failf(NULL, HQ_ERR_NOMEM, "reference unitary: out of memory");
    }
    for (int64_t j = 0; j < dim && st == HQ_OK; j++) {
        memset(col, 0, (size_t)dim * sizeof *col);
        col[j] = 1;
        st = run_ops(c, angles, true, col);
        for (int64_t i = 0; i < dim; i++) u[i * dim + j] = col[i];
    }
    hq_free(col);
    hq_free(angles);
    return st;
}
