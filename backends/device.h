/*
 * backends/device.h — a QPU's description: what the transpiler targets and what the
 * noise model is built from.
 *
 * Loaded from an IBM backend `configuration` + `properties` JSON pair (the shapes of
 * IBM Quantum's /backends/{name}/configuration and /properties endpoints; real examples
 * are in ../shared/data/ibm_backends/), or built by hand (emulator profiles, IonQ
 * characterization). Values are converted to fixed units on load: times in microseconds
 * (T1, T2) or nanoseconds (gate and readout lengths), frequencies in GHz; a value the
 * source lacks is NAN.
 *
 *     hq_device *d;
 *     if (hq_device_load_ibm("conf_manila.json", "props_manila.json", &d) != HQ_OK) ...
 *     double e = hq_device_gate_error(d, HQ_GATE_CX, 0, 1);   // NAN if not calibrated
 *     hq_device_free(d);
 *
 * Ownership: the caller of hq_device_load_* / hq_device_create owns the device and frees
 * it with hq_device_free (NULL is a no-op). The struct is public (plain data) so the
 * transpiler and noise code can read it directly; do not resize its arrays by hand.
 */
#ifndef HQ_DEVICE_H
#define HQ_DEVICE_H

#include "backends/circuit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_device_qubit {
    double t1_us;             /* energy relaxation time T1, microseconds */
    double t2_us;             /* dephasing time T2, microseconds */
    double frequency_ghz;     /* qubit frequency, GHz */
    double readout_error;     /* average assignment error */
    double prob_meas0_prep1;  /* P(read 0 | prepared 1) */
    double prob_meas1_prep0;  /* P(read 1 | prepared 0) */
    double readout_length_ns; /* measurement duration, ns */
} hq_device_qubit;

typedef struct hq_device_gate {
    hq_gate gate;     /* gate kind (HQ_GATE_CX, HQ_GATE_SX, HQ_GATE_RESET ...) */
    int nq;           /* 1 or 2 */
    int q[2];         /* physical qubits, in the order the device lists them */
    double error;     /* gate_error (average gate infidelity), NAN if unknown */
    double length_ns; /* gate_length, ns, NAN if unknown */
} hq_device_gate;

typedef struct hq_device {
    char name[64];           /* "ibm_manila" (backend_name) */
    char version[32];        /* backend_version */
    char calibration_id[64]; /* properties last_update_date (changes with each calibration) */
    int n_qubits;            /* physical qubits */
    hq_gate basis[16];       /* basis gates the device accepts (unknown names skipped) */
    int n_basis;             /* entries of basis */
    int (*edges)[2];         /* (n_edges, 2) directed coupling map [control, target] */
    int n_edges;             /* entries of edges */
    hq_device_qubit *qubits; /* (n_qubits) */
    hq_device_gate *gates;   /* (n_gates) calibrated gate instances */
    int n_gates;             /* entries of gates */
    int max_shots;           /* per circuit, 0 = unknown */
    int max_experiments;     /* circuits per job, 0 = unknown */
    double dt_ns;            /* sample time, ns (NAN if unknown) */
} hq_device;

/* Parse configuration + properties JSON text (props_json may be NULL: no calibration). */
hq_status hq_device_from_ibm_json(const char *conf_json, const char *props_json, hq_device **out);
/* Same, from files. Errors name the file and the offending field. */
hq_status hq_device_load_ibm(const char *conf_path, const char *props_path, hq_device **out);
/* An empty device with n qubits (all values NAN, no edges), for building by hand. */
hq_status hq_device_create(int n_qubits, hq_device **out);
void hq_device_free(hq_device *d);

/* ---- building by hand (emulator profiles, IonQ characterization, tests) ---- */

/* Append the directed edge a->b to the coupling map (a duplicate is ignored).
 * HQ_ERR_INVALID_ARG if a or b is outside [0, n_qubits) or a == b; HQ_ERR_NOMEM. */
hq_status hq_device_add_edge(hq_device *d, int a, int b);
/* Append a calibrated gate instance (q1 = -1 for a 1-qubit gate); error / length_ns may
 * be NAN. HQ_ERR_INVALID_ARG for a non-unitary-or-reset gate, wrong arity or bad qubits. */
hq_status hq_device_add_gate(hq_device *d, hq_gate g, int q0, int q1, double error,
                             double length_ns);
/* Replace the basis gate list (n <= 16). HQ_ERR_INVALID_ARG otherwise. */
hq_status hq_device_set_basis(hq_device *d, const hq_gate *basis, int n);

/* Calibrated error / length of gate g on (q0[, q1]); q1 = -1 for 1-qubit gates. For a
 * 2-qubit gate the reverse direction is used if only it is listed. NAN if not found. */
double hq_device_gate_error(const hq_device *d, hq_gate g, int q0, int q1);
double hq_device_gate_length_ns(const hq_device *d, hq_gate g, int q0, int q1);
/* True if the directed edge a->b is in the coupling map. */
bool hq_device_has_edge(const hq_device *d, int a, int b);
/* True if g is in the basis gate list. */
bool hq_device_supports(const hq_device *d, hq_gate g);
/* The device's native two-qubit gate (first of ecr, cz, cx in basis), or HQ_GATE_COUNT. */
hq_gate hq_device_two_qubit_gate(const hq_device *d);

#ifdef __cplusplus
}
#endif
#endif /* HQ_DEVICE_H */
