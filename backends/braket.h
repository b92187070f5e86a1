/*
 * backends/braket.h — Amazon Braket (service "braket", API 2019-09-01, REST-JSON) request
 * bodies, paths and response parsers, and the location + parser of a task's S3 results.
 * Requests are signed with backends/sigv4.h (service "braket"; S3 GETs with service "s3").
 *
 *     hq_braket_task_spec ts = {.device_arn = arn, .qasm3 = src, .shots = 1000,
 *                               .client_token = token, .s3_bucket = bucket,
 *                               .s3_prefix = "tasks"};
 *     hq_braket_build_create_task(&ts, &body);           // POST /quantum-task
 *     hq_braket_task_path(task_arn, NULL, &path);        // GET /quantum-task/{arn, encoded}
 *     hq_braket_parse_task(text, len, &js);              // status, failureReason, S3 location
 *     hq_braket_results_location(&js, region, host, sizeof host, &key_path);  // S3 GET
 *     hq_braket_parse_results(text, len, 1000, &res, mq, 64, &n_mq);
 *
 * URIs and statuses follow botocore's braket/2019-09-01/service-2.json: CreateQuantumTask
 * POST /quantum-task (201), GetQuantumTask GET /quantum-task/{quantumTaskArn},
 * CancelQuantumTask PUT /quantum-task/{quantumTaskArn}/cancel; status CREATED, QUEUED,
 * RUNNING, COMPLETED, FAILED, CANCELLING, CANCELLED; clientToken at most 64 characters.
 * The ARN label is percent-encoded once in the path (':' and '/' included) and once more
 * by SigV4's canonical URI.
 *
 * Bit order: measurement column k is outcome bit k; measured_qubits[k] says which qubit
 * that column is. Bitstrings of measurementProbabilities are read the same way (character
 * k = column k, i.e. the leftmost character is bit 0).
 */
#ifndef HQ_BRAKET_H
#define HQ_BRAKET_H

#include "backends/qpu.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_braket_task_spec {
    const char *device_arn;             /* "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1" */
    const char *qasm3;                  /* OpenQASM 3 program (measurements included) */
    int64_t shots;                      /* >= 0 (0 only for exact simulators) */
    const char *client_token;           /* idempotency token, 1..64 characters (required) */
    const char *s3_bucket;              /* "amazon-braket-<account>-<region>" */
    const char *s3_prefix;              /* key prefix, e.g. "tasks" */
    const char *device_parameters_json; /* JSON object text sent as a string, NULL = none */
} hq_braket_task_spec;

/* CreateQuantumTask body; `action` is the OpenQASM program wrapped in
 * {"braketSchemaHeader":{"name":"braket.ir.openqasm.program","version":"1"},"source":..,
 * "inputs":{}} and sent as a JSON string (double-encoded). HQ_ERR_INVALID_ARG for a
 * missing field, a token longer than 64, negative shots, device parameters that are not a
 * JSON object. out is unchanged on failure. */
hq_status hq_braket_build_create_task(const hq_braket_task_spec *spec, hq_sbuf *out);
/* CancelQuantumTask body {"clientToken":..}. */
hq_status hq_braket_build_cancel(const char *client_token, hq_sbuf *out);

/* "/quantum-task/<arn percent-encoded>" + suffix ("/cancel" or NULL), appended to out. */
hq_status hq_braket_task_path(const char *task_arn, const char *suffix, hq_sbuf *out);
/* "braket.<region>.amazonaws.com" into host. */
hq_status hq_braket_endpoint(const char *region, char *host, size_t cap);

/* {"quantumTaskArn":..} -> out (id = ARN, state pending). */
hq_status hq_braket_parse_create(const char *body, size_t len, hq_qpu_job_status *out);
/* GetQuantumTask -> out: id, state, failureReason, deviceArn (backend), shots,
 * outputS3Bucket / outputS3Directory. Unknown status -> pending + unknown_status. */
hq_status hq_braket_parse_task(const char *body, size_t len, hq_qpu_job_status *out);

/* Virtual-hosted S3 location of results.json: host "<bucket>.s3.<region>.amazonaws.com",
 * path "/<outputS3Directory>/results.json" (segments percent-encoded once, S3 style).
 * HQ_ERR_INVALID_ARG if the status has no bucket or directory. */
hq_status hq_braket_results_location(const hq_qpu_job_status *task, const char *region, char *host,
                                     size_t host_cap, hq_sbuf *path);

/*
 * results.json (braket.task_result.gate_model_task_result) -> one result (out->n = 1):
 * counts from "measurements" (one 0/1 row per shot) or, if absent, from
 * "measurementProbabilities" (rounded to `shots` with hq_qpu_probs_to_counts).
 * measured_qubits (cap entries) receives "measuredQubits"; *n_measured its length.
 * shots_expected > 0 checks the number of rows (0 = any).
 * HQ_ERR_PARSE for malformed bodies (ragged rows, values other than 0/1, wrong header,
 * measuredQubits length mismatch, more than 64 columns).
 */
hq_status hq_braket_parse_results(const char *body, size_t len, int64_t shots_expected,
                                  hq_qpu_results *out, int *measured_qubits, int cap,
                                  int *n_measured);

#ifdef __cplusplus
}
#endif
#endif /* HQ_BRAKET_H */
