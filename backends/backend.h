/*
 * backends/backend.h — the public face of every quantum backend: a registry of backends
 * found by name, their capabilities, and the job protocol the orchestrator drives.
 *
 *     hq_backend *b;
 *     hq_backend_create("sv-shots", "{\"store\": \"runs/simjobs\"}", &b);
 *     hq_backend_caps caps;
 *     hq_backend_get_caps(b, &caps);                    // limits the planner packs to
 *     hq_job_entry e = {circuit, 0, NULL};               // one concrete circuit
 *     hq_job_spec job = {.entries = &e, .n_entries = 1, .shots = 1000,
 *                        .client_token = "7f3c...", .seed = 42};
 *     char id[HQ_REMOTE_ID_MAX];
 *     hq_backend_submit(b, &job, id);                    // accepted: remote job id
 *     hq_job_state st;
 *     do hq_backend_poll(b, id, &st, NULL, 0); while (!hq_job_state_terminal(st));
 *     hq_counts counts[1];
 *     hq_backend_fetch(b, id, 1, counts);                // one histogram per circuit
 *     hq_backend_free(b);
 *
 * The protocol (what the dispatcher relies on; the orchestrator records every step in
 * the job database):
 *   - submit() either accepts the job and returns the provider's id, or fails; a failure
 *     of kind HQ_ERR_NETWORK / HQ_ERR_TIMEOUT means "maybe accepted": the caller must
 *     ask find_by_token() before submitting again, so no job is ever paid twice.
 *   - poll() reports the job's state; fetch() is valid once it is COMPLETED and returns
 *     one hq_counts per circuit (per parameter row for templated entries), in order.
 *   - Circuits are LOGICAL: measurements define the classical register, outcome bit k =
 *     classical bit k. A backend that needs a native gate set or a coupling map
 *     transpiles internally and maps results back, so results from every backend compare.
 *   - Local simulators complete at submit.
 *
 * Identity: hq_backend_id() is the backend name plus a hash of every option that changes
 * results (e.g. "dm-shots@1f2e3d4c" for a noise model). The evaluation cache is keyed on
 * it, so results of a different noise model or device are never served by mistake.
 *
 * Ownership: hq_backend_create's caller owns the handle (hq_backend_free; NULL no-op).
 * Counts filled by fetch are initialised by the backend and freed by the caller.
 */
#ifndef HQ_BACKEND_H
#define HQ_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/circuit.h"
#include "backends/counts.h"
#include "backends/device.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_REMOTE_ID_MAX  128    /* bytes for a provider job id, NUL included */
#define HQ_BACKEND_ID_MAX 96     /* bytes for hq_backend_id() */
#define HQ_CALIB_ID_MAX   64     /* bytes for a calibration id */
#define HQ_CALIB_NONE     "none" /* the calibration id of backends without calibrations */

/* Append-only (stored in the job database as integers). */
typedef enum hq_job_state {
    HQ_JOB_PENDING = 0, /* recorded locally, not (known to be) accepted by the provider */
    HQ_JOB_QUEUED,      /* accepted, waiting */
    HQ_JOB_RUNNING,     /* executing */
    HQ_JOB_COMPLETED,   /* results available */
    HQ_JOB_FAILED,      /* terminal failure (reason given) */
    HQ_JOB_CANCELLED,   /* terminal: cancelled by the user or the provider */
    HQ_JOB_STATE_COUNT
} hq_job_state;

/* "pending", "queued", ... ; never NULL. */
const char *hq_job_state_str(hq_job_state s);
/* Parse the names above; HQ_ERR_INVALID_ARG if unknown. */
hq_status hq_job_state_parse(const char *s, hq_job_state *out);
static inline bool hq_job_state_terminal(hq_job_state s) {
    return s == HQ_JOB_COMPLETED || s == HQ_JOB_FAILED || s == HQ_JOB_CANCELLED;
}

/* What the planner needs to know to pack and price work. */
typedef struct hq_backend_caps {
    const char *name;           /* registry name ("sv-shots") */
    int max_qubits;             /* widest circuit accepted */
    bool sampled;               /* results are shot histograms (false: exact simulator) */
    int max_circuits_per_job;   /* circuits (or parameter rows) per job */
    int64_t max_shots;          /* shots per circuit */
    int64_t max_rows_per_entry; /* parameter rows per templated entry (0: no binding) */
    bool find_by_token;         /* can find a job by client token (safe resubmission) */
    bool local;                 /* runs inside this process: a job run twice costs nothing
                                   and reaches no provider (the local simulators) */
    int max_jobs_in_flight;     /* jobs the dispatcher may keep open at once */
    bool calibrated;            /* results depend on a calibration that changes over time
                                   (hq_backend_calibration); false: the id is always
                                   HQ_CALIB_NONE */
    double price_per_job;       /* USD, from the config's price table */
    double price_per_circuit;   /* USD per circuit (per task on Braket) */
    double price_per_shot;      /* USD per shot */
    double seconds_per_job;     /* planning estimate: queue + overhead per job */
    double seconds_per_shot;    /* planning estimate: execution time per shot */
    const hq_device *device;    /* native gates + coupling map (NULL: any gate, all-to-all);
                                   borrowed, valid while the backend lives */
} hq_backend_caps;

/* One unit of a job: a concrete circuit, or a template with parameter rows (only for
 * backends with max_rows_per_entry > 0; each row yields one result). */
typedef struct hq_job_entry {
    const hq_circuit *circuit; /* with measurements; borrowed for the call */
    int64_t n_rows;            /* 0: concrete circuit; else rows of symbol values */
    const double *rows;        /* (n_rows x n_symbols) */
} hq_job_entry;

typedef struct hq_job_spec {
    const hq_job_entry *entries; /* (n_entries) */
    int n_entries;
    int64_t shots;            /* per circuit / row */
    const char *client_token; /* unique idempotency key of this job (required) */
    uint64_t seed;            /* sampling seed for simulators (ignored by hardware) */
    const uint64_t *streams;  /* per-result sampling streams for simulators, or NULL
                                 (then stream = result index); lets results not depend
                                 on how circuits were packed into jobs */
    const char *tag;          /* free text for the provider's job name / tags, or NULL */
} hq_job_spec;

typedef struct hq_backend hq_backend;

/* ==== registry ======================================================================== */

/* Create the backend registered as `name` ("sv", "sv-shots", "dm", "dm-shots", "ionq",
 * "ibm", "braket", "emulator-ionq", "emulator-ibm"...) with JSON options (NULL or "" for
 * defaults; the keys each backend takes are listed by `hqcnn backends` and in the README).
 * HQ_ERR_NOT_FOUND for an unknown name (the message lists the known ones),
 * HQ_ERR_PARSE / HQ_ERR_INVALID_ARG for bad options. */
hq_status hq_backend_create(const char *name, const char *options_json, hq_backend **out);
void hq_backend_free(hq_backend *b);
/* Number of registered backends and their names / one-line descriptions. */
int hq_backend_count(void);
const char *hq_backend_name_at(int i);
const char *hq_backend_description_at(int i);

/* ==== use ============================================================================= */

hq_status hq_backend_get_caps(hq_backend *b, hq_backend_caps *out);
/* Identity for caching (see above); borrowed, valid while b lives. */
const char *hq_backend_id(const hq_backend *b);
const char *hq_backend_name(const hq_backend *b);

/* Submit a job; on success remote_id receives the provider's job id. Validates the spec
 * against the capabilities (qubits, shots, circuits per job, rows) first. */
hq_status hq_backend_submit(hq_backend *b, const hq_job_spec *job,
                            char remote_id[HQ_REMOTE_ID_MAX]);
/* Look a job up by client token: *found false if the provider has none. Backends without
 * the capability return HQ_ERR_UNSUPPORTED. */
hq_status hq_backend_find_by_token(hq_backend *b, const char *client_token,
                                   char remote_id[HQ_REMOTE_ID_MAX], bool *found);
/* State of a job; reason (may be NULL) receives the provider's message for failed or
 * cancelled jobs. */
hq_status hq_backend_poll(hq_backend *b, const char *remote_id, hq_job_state *state, char *reason,
                          size_t reason_cap);
/* Results of a COMPLETED job: n_results must equal the job's result count; counts
 * (n_results) are initialised here. */
hq_status hq_backend_fetch(hq_backend *b, const char *remote_id, int64_t n_results,
                           hq_counts *counts);
/* Cancel a job (no-op if it already ended). */
hq_status hq_backend_cancel(hq_backend *b, const char *remote_id);
/* Current calibration: id (e.g. properties last_update_date, noise-model hash, "ideal";
 * HQ_CALIB_NONE for a backend without calibrations, caps.calibrated false) and, if json is
 * not NULL, the calibration document (owned, hq_free). */
hq_status hq_backend_calibration(hq_backend *b, char calib_id[HQ_CALIB_ID_MAX], char **json);
/* Jobs this backend has accepted since it was created (for simulators with a store: over
 * the store's lifetime). Tests use it to prove nothing was submitted twice. */
hq_status hq_backend_submitted_count(hq_backend *b, int64_t *n);

/* Total results (circuits + parameter rows) of a job spec. */
int64_t hq_job_spec_results(const hq_job_spec *job);

#ifdef __cplusplus
}
#endif
#endif /* HQ_BACKEND_H */
