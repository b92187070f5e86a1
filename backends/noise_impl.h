/*
 * backends/noise_impl.h — the noise model's struct, shared by noise.c (model, lookup,
 * channels), noise_json.c (load/save) and noise_device.c (device conversion), and the
 * handle magic the density-matrix simulator validates. Not a public header.
 */
#ifndef HQ_NOISE_IMPL_H
#define HQ_NOISE_IMPL_H

#include "backends/noise.h"

#define HQ_MAGIC_NOISE 0x4e4f4953u /* "NOIS" */

struct hq_noise_model {
    hq_handle h;               /* magic HQ_MAGIC_NOISE + error detail */
    char name[128];            /* free-form description, NUL-terminated */
    int n_qubits;              /* physical qubits described; 0 = generic model */
    double scale;              /* global strength factor, >= 0 */
    hq_noise_qubit def_qubit;  /* default qubit; NAN fields = unset */
    hq_noise_qubit *qubits;    /* (n_qubits) per physical qubit; NAN fields = unset */
    bool has_def_gate[3];      /* default for arity nq = index + 1 is set */
    hq_noise_gate def_gate[3]; /* defaults by arity (gate = ANY, nq = 0) */
    hq_noise_gate *gates;      /* (n_gates) entries, in insertion order */
    int n_gates;               /* entries used */
    int cap_gates;             /* entries allocated */
};

/* Validate-and-set with a caller context for messages: who ("hq_noise_set_gate" or
 * "noise model JSON") and a field prefix ("" or "gates[3]."). The model is unchanged on
 * error. */
hq_status noise_set_gate_ctx(hq_noise_model *m, const hq_noise_gate *e, const char *who,
                             const char *prefix);
hq_status noise_set_qubit_ctx(hq_noise_model *m, int q, const hq_noise_qubit *v, const char *who,
                              const char *prefix);
hq_status noise_set_default_qubit_ctx(hq_noise_model *m, const hq_noise_qubit *v, const char *who,
                                      const char *prefix);
hq_status noise_set_default_gate_ctx(hq_noise_model *m, int nq, double error, double duration_ns,
                                     const char *who, const char *prefix);

/* Largest allowed average gate infidelity of a k-qubit gate: d/(d+1), d = 2^k. */
static inline double noise_max_error(int k) {
    double d = (double)(1 << k);
    return d / (d + 1);
}

#endif /* HQ_NOISE_IMPL_H */
