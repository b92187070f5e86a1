/*
 * backends/ionq.h — IonQ Quantum Cloud request bodies and response parsers (API v0.3 and
 * v0.4). Pure functions: circuit -> JSON text, JSON text -> structs; the HTTP calls and
 * polling live in the backend built on top.
 *
 *     hq_ionq_job_spec sp = {.api = HQ_IONQ_V03, .target = "simulator", .shots = 1000,
 *                            .client_token = token};
 *     hq_sbuf body = HQ_SBUF_INIT;
 *     hq_ionq_build_job(&sp, (const hq_circuit *[]){c}, 1, &body);   // POST /v0.3/jobs
 *     ...
 *     hq_qpu_job_status js;   hq_ionq_parse_job(text, len, &js);     // GET /jobs/{id}
 *     hq_qpu_results res;     hq_ionq_parse_results(text, len, &js, 1, 4, 1000, &res);
 *
 * Gates. QIS gateset (radians, "rotation"): x y z h s si t ti v vi rx ry rz, cnot
 * ("control"/"target"), controlled forms with "control" / "controls", swap / xx / yy / zz
 * with "targets". Mapped: sdg->si, tdg->ti, sx->v, sxdg->vi, p/u1->rz, u2/u3/u->rz ry rz,
 * cx->cnot, cy/cz/ch/csx/crx/cry/crz -> controlled y/z/h/v/rx/ry/rz, cp/cu1 -> controlled
 * rz + rz on the control, cu3/cu -> controlled rz ry rz + rz on the control, rxx/ryy/rzz ->
 * xx/yy/zz, iswap -> xx(-pi/2) yy(-pi/2), ccx -> x with two controls, cswap -> cnot,
 * Toffoli, cnot. All equal the original up to global phase (tests compare unitaries).
 * Native gateset (turns): gpi, gpi2 ("phase"), ms ("phases", "angle"), rzz -> zz
 * ("angle" = theta / 2pi). id and barrier are dropped. Anything else, ecr, reset,
 * classical conditions, mid-circuit measurement and unbound symbols give
 * HQ_ERR_UNSUPPORTED / HQ_ERR_INVALID_ARG naming the gate or the problem.
 *
 * Measurement: IonQ measures every qubit once at the end and returns outcomes with bit i
 * = qubit i. hq_ionq_clbit_map gives the qubit measured into each classical bit, to
 * remap counts with hq_qpu_counts_remap.
 *
 * Results (F14): probabilities are turned into counts summing exactly to the job's shots
 * (hq_qpu_probs_to_counts); the probabilities are kept too. Multi-circuit results are
 * matched to circuits through the parent job's child id list, never by position (F9).
 */
#ifndef HQ_IONQ_H
#define HQ_IONQ_H

#include <math.h>

#include "backends/circuit.h"
#include "backends/qpu.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hq_ionq_api { HQ_IONQ_V03 = 0, HQ_IONQ_V04 } hq_ionq_api;
/* Also declared by backends/transpile.h (same definition, same guard), so both headers can
 * be included together. */
#ifndef HQ_IONQ_GATESET_DEFINED
#define HQ_IONQ_GATESET_DEFINED
typedef enum hq_ionq_gateset { HQ_IONQ_QIS = 0, HQ_IONQ_NATIVE } hq_ionq_gateset;
#endif

typedef struct hq_ionq_meta {
    const char *key;   /* <= 40 characters */
    const char *value; /* <= 400 characters */
} hq_ionq_meta;

/* Metadata key carrying our client token (idempotency, F15). */
#define HQ_IONQ_TOKEN_KEY "hqcnn_token"

typedef struct hq_ionq_job_spec {
    hq_ionq_api api;              /* v0.3 ("target") or v0.4 ("backend", "type") */
    const char *target;           /* "simulator", "qpu.aria-1", "qpu.forte-1" */
    hq_ionq_gateset gateset;      /* qis or native */
    int64_t shots;                /* > 0 */
    const char *name;             /* job name; NULL = "hqcnn-<client_token>" */
    const char *client_token;     /* stored in metadata[HQ_IONQ_TOKEN_KEY]; may be NULL */
    const hq_ionq_meta *metadata; /* extra metadata (at most 9 with a token, 10 without) */
    int n_metadata;
    const char *noise_model;          /* simulator only: "aria-1", "forte-1", ...; NULL or
                                         "ideal" = no noise */
    int64_t noise_seed;               /* noise seed if >= 0 (with noise_model) */
    int debiasing;                    /* -1 provider default, 0 off, 1 on */
    const char *session_id;           /* v0.4 only, NULL = none */
    const char *const *circuit_names; /* multi-circuit names (NULL = "circuit-0", ...) */
} hq_ionq_job_spec;

/*
 * Build the POST /jobs body for n_circuits circuits (1: "circuit", more: "circuits", all
 * in one job). Circuits must be concrete (no symbols) and have at most 64 qubits; the
 * job's "qubits" is the largest qubit count. Appends to out.
 * Returns HQ_OK, HQ_ERR_UNSUPPORTED (a gate or feature IonQ cannot express, named),
 * HQ_ERR_INVALID_ARG (bad spec: shots, metadata limits, noise on a QPU, symbols),
 * HQ_ERR_NOMEM. On failure out is left as it was.
 */
hq_status hq_ionq_build_job(const hq_ionq_job_spec *spec, const hq_circuit *const *circuits,
                            int n_circuits, hq_sbuf *out);

/* Just the gate list ("[{...},...]") of one circuit. Same errors as above. */
hq_status hq_ionq_circuit_json(const hq_circuit *c, hq_ionq_gateset gs, hq_sbuf *out);

/* qubit_of_clbit[k] = qubit measured into classical bit k (-1 if none), for k <
 * n_clbits; a circuit without measurements maps bit k to qubit k over all qubits.
 * *n receives the number of entries (<= cap). HQ_ERR_INVALID_ARG if cap is too small. */
hq_status hq_ionq_clbit_map(const hq_circuit *c, int *qubit_of_clbit, int cap, int *n);

/* Create response {"id":..,"status":..} -> out (id, state). HQ_ERR_PARSE without an id. */
hq_status hq_ionq_parse_create(const char *body, size_t len, hq_qpu_job_status *out);

/*
 * Job (GET /jobs/{id}, v0.3 or v0.4) -> out: id, state (submitted -> pending, ready ->
 * queued, running/started -> running, completed, failed, canceled/cancelled; anything
 * else -> pending + unknown_status), failure {code, error}, children / child_job_ids,
 * shots, target / backend, v0.4 results.probabilities.url, session_id.
 * HQ_ERR_PARSE for malformed JSON or a missing/non-string id or status.
 */
hq_status hq_ionq_parse_job(const char *body, size_t len, hq_qpu_job_status *out);

/*
 * Results (GET /jobs/{id}/results, or v0.4 .../results/probabilities) -> one result per
 * circuit. Accepted shapes: {"<decimal outcome>": p, ...} (single circuit; v0.3 and
 * ionq.result.probabilities.json.v1), {"probabilities":{"registers":{"<reg>":{"<bits>":
 * p}}}} (v2, MSB-first bitstrings, UNCONFIRMED), and {"<child id>": {dist}, ...}
 * (multi-circuit, matched through job->children). n_circuits: circuits submitted;
 * n_qubits bounds the outcomes (1..64); shots > 0 for the counts.
 * Returns HQ_OK if at least one circuit has a result (others carry their own status:
 * F9), the first circuit's error if none has, HQ_ERR_PARSE for an unreadable body.
 */
hq_status hq_ionq_parse_results(const char *body, size_t len, const hq_qpu_job_status *job,
                                int n_circuits, int n_qubits, int64_t shots, hq_qpu_results *out);

/* Calibration summary of a characterization. Times as reported (seconds in the v0.3
 * example; UNCONFIRMED), NAN if absent. */
typedef struct hq_ionq_calibration {
    char id[96];          /* characterization id */
    char date[48];        /* ISO date / epoch as text: changes with each calibration */
    char backend[64];     /* "qpu.aria-1" */
    int qubits;           /* 0 if absent */
    double spam_fidelity; /* fidelity.spam.median */
    double fidelity_1q;   /* fidelity["1q"].median */
    double fidelity_2q;   /* fidelity["2q"].median */
    double t1, t2;        /* timing.t1, timing.t2 */
    double t_1q, t_2q;    /* gate durations timing["1q"], timing["2q"] */
    double t_readout;     /* timing.readout */
    double t_reset;       /* timing.reset */
    int n_edges;          /* connectivity pairs */
    int (*edges)[2];      /* (n_edges, 2) owned */
} hq_ionq_calibration;

/* v0.3 characterization object, or v0.4 {"characterizations":[..]} (the first entry is
 * the latest; HQ_ERR_NOT_FOUND if the list is empty or null). */
hq_status hq_ionq_parse_characterization(const char *body, size_t len, hq_ionq_calibration *out);
void hq_ionq_calibration_free(hq_ionq_calibration *c);

/* Backends list ([{"backend","status","qubits","average_queue_time","degraded"}, ...]). */
hq_status hq_ionq_parse_backends(const char *body, size_t len, hq_qpu_backend_info **out, int *n);

#ifdef __cplusplus
}
#endif
#endif /* HQ_IONQ_H */
