/*
 * backends/qpu.h — what the REST clients (ionq.h, ibm.h, braket.h) share: the job state
 * every provider's status strings map to, a parsed job status, per-circuit results, and
 * the probability-to-counts conversion.
 *
 *     hq_qpu_job_status js;
 *     hq_ionq_parse_job(body, len, &js);            // any provider's *_parse_job
 *     if (hq_qpu_state_terminal(js.state)) ...
 *     hq_qpu_job_status_free(&js);
 *
 * Conventions:
 *   - A status string a parser does not know is mapped to HQ_QPU_PENDING (never to a
 *     terminal state) and flagged with unknown_status, so polling goes on (F13).
 *   - Results are per circuit, in submission order; a circuit the provider returned no
 *     result for carries its own status and message instead of shifting the others (F9).
 *   - Counts outcomes are little-endian: bit k of an outcome is qubit k (IonQ), classical
 *     bit k (IBM), or measured column k (Braket); see each provider's header.
 *
 * Ownership: *_free releases what a parser filled (NULL / zeroed structs are fine).
 */
#ifndef HQ_QPU_H
#define HQ_QPU_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/counts.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hq_qpu_state {
    HQ_QPU_PENDING = 0, /* accepted, not yet queued, or an unknown non-terminal status */
    HQ_QPU_QUEUED,      /* waiting for the device */
    HQ_QPU_RUNNING,     /* executing */
    HQ_QPU_CANCELLING,  /* cancel requested, not final yet (Braket) */
    HQ_QPU_COMPLETED,   /* terminal: results available */
    HQ_QPU_FAILED,      /* terminal: failure_code / failure_msg say why */
    HQ_QPU_CANCELLED,   /* terminal: cancelled by the user or the provider */
    HQ_QPU_STATE_COUNT
} hq_qpu_state;

/* "pending", "queued", ... ("?" out of range). */
const char *hq_qpu_state_name(hq_qpu_state s);
/* True for COMPLETED, FAILED, CANCELLED. */
bool hq_qpu_state_terminal(hq_qpu_state s);
/* The backend job state (backend.h) a provider state corresponds to: everything the
 * provider has accepted but not finished is QUEUED or RUNNING (CANCELLING: RUNNING). */
hq_job_state hq_qpu_state_to_job(hq_qpu_state s);

typedef struct hq_qpu_job_status {
    hq_qpu_state state;
    bool unknown_status;    /* raw_status was not recognised (mapped to PENDING) */
    char id[160];           /* job id / task ARN */
    char raw_status[48];    /* the provider's status string as received */
    char failure_code[64];  /* IonQ failure.code, IBM state.reason_code, "" if none */
    char failure_msg[512];  /* IonQ failure.error, IBM state.reason, Braket failureReason */
    char backend[96];       /* target / backend / device ARN (truncated) */
    char results_url[256];  /* IonQ v0.4 results.probabilities.url, "" if none */
    char session_id[96];    /* IBM / IonQ v0.4 session, "" if none */
    char s3_bucket[96];     /* Braket outputS3Bucket */
    char s3_directory[512]; /* Braket outputS3Directory */
    int64_t shots;          /* shots the provider reports, -1 if absent */
    int n_children;         /* IonQ multi-circuit child job ids, in circuit order */
    char **children;        /* (n_children) owned strings */
} hq_qpu_job_status;

void hq_qpu_job_status_free(hq_qpu_job_status *s);

/* One circuit's result. */
typedef struct hq_qpu_circuit_result {
    hq_status status;       /* HQ_OK, or why this circuit has no result (missing, malformed) */
    char error[256];        /* message when status != HQ_OK */
    char id[160];           /* child job id (IonQ multi-circuit), "" otherwise */
    hq_counts counts;       /* histogram (see the provider header for the bit order) */
    int64_t n_prob;         /* IonQ: probabilities as received (0 otherwise) */
    uint64_t *prob_outcome; /* (n_prob) outcomes */
    double *prob;           /* (n_prob) probabilities, normalised to sum 1 */
} hq_qpu_circuit_result;

typedef struct hq_qpu_results {
    int n;                    /* circuits (= the number submitted, when known) */
    hq_qpu_circuit_result *r; /* (n) in submission order */
} hq_qpu_results;

void hq_qpu_results_free(hq_qpu_results *r);
/* Number of circuits whose status is HQ_OK. */
int hq_qpu_results_n_ok(const hq_qpu_results *r);

/* One entry of a provider's backend / device list. */
typedef struct hq_qpu_backend_info {
    char name[96];        /* "qpu.aria-1", "ibm_fez" */
    char status[48];      /* provider's status string ("available", "online") */
    bool available;       /* status says it accepts jobs */
    bool degraded;        /* IonQ "degraded" flag */
    int qubits;           /* 0 if not reported */
    double queue_time_s;  /* IonQ average_queue_time (ms in the API) in seconds; NAN if absent */
    int64_t queue_length; /* IBM queue_length, -1 if absent */
} hq_qpu_backend_info;

/*
 * Probabilities -> integer counts summing to exactly `shots` (F14). Each p must be finite
 * and >= -1e-9 (tiny negatives are clamped to 0); the sum must be within 1e-3 of 1 and
 * is normalised away. counts_i = round-half-even(p_i * shots), then the difference to
 * `shots` is settled by the largest-remainder rule (ties: smaller outcome first), so
 * every count is floor or ceil of p_i * shots. Outcomes must be distinct and < 2^n_bits.
 * *out is initialised here (n_bits wide); zero counts are not stored.
 * Returns HQ_OK, HQ_ERR_PARSE (NaN/negative/bad sum/duplicate/out-of-range, with the
 * offending outcome), HQ_ERR_INVALID_ARG (shots <= 0, n_bits outside 1..64), HQ_ERR_NOMEM.
 */
hq_status hq_qpu_probs_to_counts(const uint64_t *outcome, const double *p, int64_t n, int64_t shots,
                                 int n_bits, hq_counts *out);

/*
 * Re-index outcome bits: bit j of each output outcome = bit src[j] of the input outcome
 * (src[j] < 0: bit j is 0). Turns IonQ's qubit-indexed outcomes into classical-bit order
 * given the qubit measured into each classical bit. *out is initialised (n_dst bits).
 */
hq_status hq_qpu_counts_remap(const hq_counts *in, const int *src, int n_dst, hq_counts *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_QPU_H */
