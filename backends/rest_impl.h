/*
 * backends/rest_impl.h — what the REST QPU backends (backend_ionq.c, backend_ibm.c,
 * backend_braket.c) share, behind the job protocol of backend.h:
 *
 *   - JSON options: one table per backend, every key checked, ranges named in messages;
 *     the common keys (timeouts, retries, prices, limits, planning estimates);
 *   - the HTTP client with the project's submission policy: a submission whose fate is
 *     unknown (timeout, dropped connection, 5xx, unreadable reply) is reported as
 *     HQ_ERR_NETWORK / HQ_ERR_TIMEOUT — "maybe accepted" — so the dispatcher looks the job
 *     up by its client token before sending it again; a malformed GET reply is fetched
 *     again; polling failures stay transient until too many follow each other;
 *   - the calibration refresh rule, a small cache of results parsed at poll time, readout
 *     relabelling (clbit k read from qubit k) for providers that measure qubits, not
 *     classical bits, run-length lists for compact job metadata;
 *   - test hooks (virtual sleep for retries).
 *
 * Internal to backends/: included only by the REST backends, their tests and bench_rest.
 */
#ifndef HQ_REST_IMPL_H
#define HQ_REST_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend_impl.h"
#include "backends/http.h"
#include "backends/transpile.h"

/* ==== options ========================================================================== */

typedef enum rest_opt_type {
    REST_OPT_STR = 0, /* char[cap] */
    REST_OPT_NUM,     /* double in [lo, hi] */
    REST_OPT_INT,     /* int64_t in [lo, hi] */
    REST_OPT_BOOL,    /* bool */
    REST_OPT_TRI,     /* int: -1 (null), 0 (false), 1 (true) */
    REST_OPT_OBJECT,  /* char * (owned JSON text of an object, hq_free) */
    REST_OPT_PRICES,  /* double[3]: {"per_job", "per_circuit", "per_shot"} USD */
} rest_opt_type;

typedef struct rest_opt {
    const char *name;   /* JSON key */
    rest_opt_type type; /* how to read it */
    void *dst;          /* destination, see rest_opt_type */
    size_t cap;         /* REST_OPT_STR: bytes of dst */
    double lo, hi;      /* REST_OPT_NUM / REST_OPT_INT range */
    bool ident;         /* changes results: hashed into the backend's identity */
    bool *seen;         /* set true when the key was given (may be NULL) */
} rest_opt;

/* Parse options JSON (NULL = none) against a table. Unknown keys, wrong types and values
 * out of range fail with HQ_ERR_PARSE / HQ_ERR_INVALID_ARG naming the key and the valid
 * range. Values of `ident` options are appended to id_extra ("key=value;"). */
hq_status rest_parse_options(const char *backend, const char *json, const rest_opt *opt, int n,
                             hq_sbuf *id_extra);

/* ==== the common part of every REST backend ============================================== */

#define REST_CACHE_N 16 /* completed jobs whose results are held between poll and fetch */
#define REST_URL_MAX 512

/* Results of one completed job, parsed and mapped to logical circuits at poll time. */
typedef struct rest_cached {
    char id[HQ_REMOTE_ID_MAX]; /* remote job id, "" = free slot */
    int64_t n;                 /* results */
    hq_counts *counts;         /* (n) owned */
    uint64_t age;              /* insertion clock, for eviction */
} rest_cached;

/* When the backend's calibration id is fetched again. */
typedef struct rest_calib {
    char id[HQ_CALIB_ID_MAX]; /* last id fetched, "" = never */
    double fetched_at;        /* monotonic seconds of that fetch */
    bool stale;               /* a job completed since: fetch again at the next request */
    double refresh_s;         /* fetch again after this long anyway (option) */
} rest_calib;

typedef struct rest_common {
    const char *provider; /* "IonQ", "IBM Quantum", "Amazon Braket" (messages) */
    const char *name;     /* registry name */
    bool emulator;        /* the local emulator flavour (loopback URL, hints) */
    /* options */
    char url[REST_URL_MAX];    /* base URL, no trailing '/' */
    double timeout_s;          /* transfer timeout of one request [60] */
    double submit_timeout_s;   /* transfer timeout of a submission [120] */
    double connect_timeout_s;  /* [10] */
    int64_t max_tries;         /* attempts of an idempotent request [5] */
    double retry_base_s;       /* first backoff [1] */
    double retry_max_s;        /* backoff cap [60] */
    double max_retry_after_s;  /* longest Retry-After waited for [120] */
    char ca_file[1024];        /* extra CA bundle, "" = system store */
    double prices[3];          /* USD per job, per circuit (task), per shot */
    int64_t max_circuits;      /* results per job */
    int64_t max_in_flight;     /* jobs open at once */
    int64_t max_shots;         /* shots per circuit */
    int64_t max_qubits;        /* widest circuit */
    double seconds_per_job;    /* planning estimate: queue + overhead per job */
    double seconds_per_shot;   /* planning estimate: execution per shot */
    int64_t poll_failures_max; /* consecutive failed polls before giving up [20] */
    /* state */
    hq_http *http;      /* created lazily by rest_http */
    int64_t accepted;   /* jobs accepted by this handle */
    long last_status;   /* HTTP status of the last request's final attempt (0 = none) */
    int next_max_tries; /* if > 0: attempts of the next request only (then reset) */
    int poll_failures;  /* consecutive failed polls */
    rest_cached cache[REST_CACHE_N];
    uint64_t cache_clock;
    rest_calib calib;
    /* client-side timing (bench_rest): seconds spent building requests (transpile,
     * serialise) and digesting replies (parse, map), and in HTTP round trips */
    double t_build, t_digest, t_http;
    int64_t n_requests;
} rest_common;

/* Fill the defaults (provider, name, default URL, limits). */
void rest_common_init(rest_common *rc, const char *provider, const char *name, const char *url);
/* Append the common option rows to tab (at most REST_COMMON_OPTS entries) and return how
 * many were added. */
#define REST_COMMON_OPTS 20
int rest_common_options(rest_common *rc, rest_opt *tab);
/* Check the URL (scheme, loopback rule) after parsing: HQ_ERR_INVALID_ARG with the reason. */
hq_status rest_common_check(rest_common *rc);
void rest_common_free(rest_common *rc);
/* The capability fields every REST backend fills the same way. */
void rest_common_caps(const rest_common *rc, hq_backend_caps *out);

/* ==== HTTP ================================================================================ */

/*
 * Perform a request with the client (created on first use). `what` names it in messages
 * ("submitting the job", "polling job X"). Failures carry the provider name; credentials
 * never appear (registered secrets are masked by the error layer). timeout_s > 0 overrides
 * the transfer timeout. On return *rs is initialised (hq_http_response_free it).
 */
hq_status rest_perform(rest_common *rc, hq_http_method m, const char *url, const hq_http_header *hd,
                       int n_hd, const void *body, size_t body_len, bool idempotent,
                       double timeout_s, hq_http_response *rs);

/* Parser of a reply body: HQ_ERR_PARSE makes rest_get_parsed fetch it again. */
typedef hq_status (*rest_parse_fn)(void *user, const char *body, size_t len);

/* GET url and hand the body to parse; a malformed body (HQ_ERR_PARSE from parse) is
 * fetched again up to twice (F5). The last parse error is returned after that. */
hq_status rest_get_parsed(rest_common *rc, const char *url, const hq_http_header *hd, int n_hd,
                          rest_parse_fn parse, void *user);

/*
 * Classify the outcome of a submission request (st from rest_perform or from parsing its
 * reply; the HTTP status is rc->last_status): a refusal the provider answered (4xx but 408/429,
 * auth) stays final; anything that leaves the job's fate unknown — transport failures, timeouts,
 * 408, 429, 5xx, a reply that cannot be read — becomes HQ_ERR_NETWORK (or HQ_ERR_TIMEOUT) with a
 * message saying the job will be looked up by its client token before it is sent again.
 */
hq_status rest_submit_outcome(rest_common *rc, hq_status st);

/*
 * Classify a failed poll: transport errors, 408/429/5xx and malformed replies stay
 * transient (HQ_ERR_NETWORK) so the dispatcher polls again later — until
 * poll_failures_max consecutive failures, which end as HQ_ERR_BACKEND ("resume later").
 * Call rest_poll_ok after every successful poll.
 */
hq_status rest_poll_outcome(rest_common *rc, hq_status st, const char *remote_id);
void rest_poll_ok(rest_common *rc);

/* Base URL + path (+ "?" query if not NULL) into out. HQ_ERR_INVALID_ARG if too long. */
hq_status rest_url(const rest_common *rc, char *out, size_t cap, const char *path,
                   const char *query);

/* ==== results and calibration ============================================================ */

/* Move n counts into the cache under remote id (evicting the oldest entry if full). */
void rest_cache_put(rest_common *rc, const char *id, int64_t n, hq_counts *counts);
/* Take a cached result: true and counts moved into out[0..n) (out entries are freed first)
 * if the cache holds `id` with n results. */
bool rest_cache_take(rest_common *rc, const char *id, int64_t n, hq_counts *out);

/* True if the calibration id must be fetched (never fetched, stale, or older than
 * refresh_s). */
bool rest_calib_due(const rest_calib *c, double now);
/* Record a fetched id (clears stale). */
void rest_calib_set(rest_calib *c, const char *id, double now);

/* ==== circuits ============================================================================ */

/*
 * Readout relabelling for providers that return outcomes per qubit (IonQ, Braket): a copy
 * of c whose qubit k is the qubit measured into classical bit k (k < n_clbits), so an
 * outcome's low n_clbits bits are the logical classical bits. Classical bits nothing is
 * measured into get a fresh idle qubit (reads 0); unmeasured qubits follow. *out is NULL
 * when c already has that form (use c itself). Fails with HQ_ERR_INVALID_ARG for a
 * circuit without measurements and HQ_ERR_UNSUPPORTED for a qubit measured twice, two
 * measurements into one bit, or classical conditions.
 */
hq_status rest_readout_relabel(const char *fn, const hq_circuit *c, hq_circuit **out,
                               int *n_clbits);

/* A copy of c with its classical registers merged into one register "c" (bit k = flattened
 * bit k); *out NULL when c has at most one register. HQ_ERR_UNSUPPORTED when c has
 * classical conditions and several registers. */
hq_status rest_flatten_cregs(const char *fn, const hq_circuit *c, hq_circuit **out);

/* Run-length list of small non-negative integers: "4" (all equal), "4*3,2" ... */
void rest_rle_encode(const int *v, int n, hq_sbuf *out);
/* Decode into v[n]; HQ_ERR_PARSE if malformed or not exactly n values. */
hq_status rest_rle_decode(const char *s, int *v, int n);

/* Jobs the local emulator has stored for a route family ("ionq", "ibm") over its state
 * directory's lifetime (GET /_emu/stats): the emulator flavours' submitted_count. */
hq_status rest_emulator_stored(rest_common *rc, const char *family, int64_t *n);

/* ==== credentials for the emulator flavours ============================================= */

/* First non-empty environment variable of names[] (NULL-terminated), or NULL. */
const char *rest_getenv_first(const char *const *names);

/* Write a bound circuit (measurements into clbit k from qubit k) as OpenQASM 3 with
 * Amazon Braket's gate names (backend_braket.c; tests check it by simulation). */
hq_status hq_braket_write_qasm(const hq_circuit *c, hq_sbuf *out);

/* ==== test hooks ========================================================================= */

/* HTTP hooks (virtual sleep, attempt observer) given to every client created afterwards;
 * NULL restores real behaviour. Tests only. */
void hq_rest_set_test_hooks(const hq_http_hooks *hooks);

/* Client-side time split of a REST backend (bench_rest): seconds building requests,
 * digesting replies, in HTTP round trips, and the number of requests. HQ_ERR_UNSUPPORTED
 * for a backend that is not a REST backend. */
typedef struct hq_rest_timing {
    double build_s, digest_s, http_s;
    int64_t requests;
} hq_rest_timing;
hq_status hq_rest_get_timing(hq_backend *b, hq_rest_timing *out);

/* The ISA OpenQASM 3 text the "ibm" / "emulator-ibm" backend b sends for circuit c (with
 * its transpile statistics), through the same device, cache and compile path as submit.
 * Needs the device (fetched from the provider on first use). bench_rest and tests. */
hq_status hq_rest_ibm_compile(hq_backend *b, const hq_circuit *c, hq_sbuf *qasm,
                              hq_transpile_stats *stats);

/* Every REST backend's context begins with its rest_common, so hq_rest_get_timing can
 * reach it through hq_backend_impl_ctx (backend_impl.h). */

#endif /* HQ_REST_IMPL_H */
