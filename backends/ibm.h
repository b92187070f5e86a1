/*
 * backends/ibm.h — IBM Quantum (Qiskit Runtime REST API, IBM Cloud channel) request bodies
 * and response parsers: IAM token exchange, Sampler V2 jobs, job status, results,
 * sessions and the backend list. Pure functions; HTTP and polling live in the backend.
 *
 *     hq_sbuf b = HQ_SBUF_INIT;
 *     hq_ibm_iam_request_body(api_key, &b);              // POST iam.cloud.ibm.com/identity/token
 *     hq_ibm_token tok;  hq_ibm_parse_iam_token(text, len, hq_time_wall(), &tok);
 *     hq_http_header hd[HQ_IBM_N_HEADERS]; char auth[4096];
 *     hq_ibm_headers(&tok, crn, NULL, hd, auth, sizeof auth);   // for every Runtime call
 *     hq_ibm_pub pub = {.qasm3 = isa_qasm, .shots = 4000};
 *     hq_ibm_job_spec js = {.backend = "ibm_fez", .pubs = &pub, .n_pubs = 1};
 *     hq_ibm_build_sampler_job(&js, &body);               // POST /api/v1/jobs
 *     hq_ibm_results res;  hq_ibm_parse_results(text, len, 1, &res);
 *     hq_counts c;  hq_ibm_pub_counts(&res.pubs[0], NULL, 0, 0, &c);
 *
 * Bit order (Qiskit): in a sample of classical register c, c[0] is bit 0 (the LSB) of the
 * hex value ("0x2" = c[0]=0, c[1]=1). hq_ibm_pub_counts joins several registers with the
 * first named register in the low bits.
 *
 * Token refresh: a token is refreshed at expiration - 300 s (hq_ibm_token_needs_refresh),
 * and once more on a 401 (F1). Tokens are registered as secrets while held.
 *
 * Device description: feed GET /backends/{name}/configuration and /properties to
 * hq_device_from_ibm_json (backends/device.h).
 */
#ifndef HQ_IBM_H
#define HQ_IBM_H

#include "backends/http.h"
#include "backends/qpu.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_IBM_API_VERSION      "2025-05-01" /* IBM-API-Version header default */
#define HQ_IBM_REFRESH_MARGIN_S 300.0        /* refresh this long before expiration */
#define HQ_IBM_N_HEADERS        5

/* ==== IAM =============================================================================== */

/* grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=<key> (form-encoded). The body
 * holds the API key: never log it. */
hq_status hq_ibm_iam_request_body(const char *api_key, hq_sbuf *out);

typedef struct hq_ibm_token {
    char *access_token; /* bearer token (owned, registered as a secret) */
    double expiration;  /* Unix seconds */
} hq_ibm_token;

/* IAM response -> token. expiration comes from "expiration", else now + "expires_in".
 * HQ_ERR_PARSE if access_token is missing or neither time is usable; an IAM error body
 * ({"errorCode":"BXNIM0415E","errorMessage":..}) gives HQ_ERR_AUTH with its message. */
hq_status hq_ibm_parse_iam_token(const char *body, size_t len, double now, hq_ibm_token *out);
/* True if the token is absent or now >= expiration - HQ_IBM_REFRESH_MARGIN_S. */
bool hq_ibm_token_needs_refresh(const hq_ibm_token *t, double now);
/* Scrubs, unregisters and frees the token. */
void hq_ibm_token_free(hq_ibm_token *t);

/* The headers of every Runtime call: Authorization (Bearer, written into auth_buf),
 * Service-CRN, IBM-API-Version (api_version or HQ_IBM_API_VERSION), Content-Type and
 * Accept (application/json). hd has HQ_IBM_N_HEADERS entries. */
hq_status hq_ibm_headers(const hq_ibm_token *t, const char *crn, const char *api_version,
                         hq_http_header hd[HQ_IBM_N_HEADERS], char *auth_buf, size_t auth_cap);

/* ==== Sampler V2 job ==================================================================== */

typedef struct hq_ibm_pub {
    const char *qasm3;              /* OpenQASM 3 ISA circuit with measurements */
    const char *const *param_names; /* (n_params) names of `input float[64]` parameters */
    int n_params;
    const double *param_values; /* (n_bindings, n_params) row-major */
    int n_bindings;             /* 0: no values ([qasm] or [qasm, null, shots]);
                                   1: {name: v}; > 1: {name: [v, ...]} */
    int64_t shots;              /* 0 = the job's default */
} hq_ibm_pub;

typedef struct hq_ibm_job_spec {
    const char *backend;    /* "ibm_fez" */
    const hq_ibm_pub *pubs; /* (n_pubs) */
    int n_pubs;
    int64_t default_shots;    /* params.shots for pubs without their own, 0 = omit */
    const char *options_json; /* params.options as a JSON object text, NULL = none */
    const char *session_id;   /* run in this session / batch, NULL = none */
    const char *client_token; /* added as tag "hqcnn-token:<token>" (F15) */
    const char *const *tags;  /* (n_tags) extra tags */
    int n_tags;
} hq_ibm_job_spec;

/* Build the POST /api/v1/jobs body (program_id "sampler", params.version 2). Returns
 * HQ_OK, HQ_ERR_INVALID_ARG (no backend/pubs, empty circuit, negative shots, NaN value,
 * options not a JSON object), HQ_ERR_NOMEM. out is unchanged on failure. */
hq_status hq_ibm_build_sampler_job(const hq_ibm_job_spec *spec, hq_sbuf *out);

/* Session bodies: create {"backend","mode","max_ttl"}; close {"accepting_jobs":false}. */
hq_status hq_ibm_build_session(const char *backend, const char *mode, int64_t max_ttl_s,
                               hq_sbuf *out);
void hq_ibm_build_session_close(hq_sbuf *out);

/* ==== responses ========================================================================= */

/* {"id":..,"backend":..} of POST /jobs or POST /sessions -> out (id, backend, PENDING). */
hq_status hq_ibm_parse_create(const char *body, size_t len, hq_qpu_job_status *out);

/* GET /jobs/{id}: state.status (else status), case-insensitive: queued, running,
 * completed, failed, cancelled/canceled; others -> pending + unknown_status. reason ->
 * failure_msg, reason_code / reasonCode -> failure_code (1305 cancelled for running too
 * long gets that explanation if no reason is given). */
hq_status hq_ibm_parse_job(const char *body, size_t len, hq_qpu_job_status *out);

/* One classical register of one PUB result. */
typedef struct hq_ibm_creg {
    char name[64];     /* register name ("c", "meas") */
    int num_bits;      /* 1..64 */
    int n_bindings;    /* parameter bindings (1 for a scalar PUB) */
    int64_t n_shots;   /* samples per binding */
    uint64_t *samples; /* (n_bindings, n_shots) register values, owned */
} hq_ibm_creg;

typedef struct hq_ibm_pub_result {
    hq_status status; /* HQ_OK, or why this PUB has no result (F9) */
    char error[256];
    int n_cregs;
    hq_ibm_creg *cregs; /* (n_cregs) in the order of the JSON object */
} hq_ibm_pub_result;

typedef struct hq_ibm_results {
    int n;                   /* = n_pubs_expected */
    hq_ibm_pub_result *pubs; /* (n) in submission order */
} hq_ibm_results;

/*
 * GET /jobs/{id}/results (Sampler V2, plain JSON form of §2.4): one entry per PUB,
 * data.<creg>.samples hex strings (a flat list, or one list per binding), num_bits.
 * n_pubs_expected: PUBs submitted; PUBs beyond the returned entries get their own error.
 * Returns HQ_OK if at least one PUB has a result; HQ_ERR_UNSUPPORTED for the Qiskit
 * "__type__" encoding; HQ_ERR_PARSE for malformed bodies (more results than PUBs, bad hex,
 * values wider than num_bits, ragged samples).
 */
hq_status hq_ibm_parse_results(const char *body, size_t len, int n_pubs_expected,
                               hq_ibm_results *out);
void hq_ibm_results_free(hq_ibm_results *r);

/* Counts of binding `binding` of a PUB result over the named registers (names NULL: all,
 * in order), the first register in the lowest bits; *out is initialised. HQ_ERR_NOT_FOUND
 * for an unknown register, HQ_ERR_INVALID_ARG for a bad binding or > 64 bits in total. */
hq_status hq_ibm_pub_counts(const hq_ibm_pub_result *p, const char *const *names, int n_names,
                            int binding, hq_counts *out);

/* GET /backends: {"devices":[{"name","status":{"name"},"qubits","queue_length"}]}. */
hq_status hq_ibm_parse_backends(const char *body, size_t len, hq_qpu_backend_info **out, int *n);

#ifdef __cplusplus
}
#endif
#endif /* HQ_IBM_H */
