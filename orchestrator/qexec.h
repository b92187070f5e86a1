/*
 * orchestrator/qexec.h — the quantum executor: planner + dispatcher between a quantum
 * layer that needs circuit evaluations and a shot-based backend.
 *
 * A caller (the shot-based quantum layer, an evaluation pass, a noise study) hands over
 * one batch request — a circuit template, a matrix of symbol values (one row per
 * concrete circuit) and the measurement basis of each row — and gets one histogram per
 * row back. In between, the executor
 *   1. binds and hashes every circuit (sha256 of a canonical binding: the measured
 *      template's hash + the row's values, exact to the bit),
 *   2. deduplicates the batch and serves what the job database already holds,
 *   3. packs the rest into as few jobs as the backend's limits allow (circuits per job,
 *      parameter binding),
 *   4. checks the run's budgets (shots, cost) before anything is sent,
 *   5. records each job (PENDING + client token) BEFORE submitting it, submits, polls
 *      with a growing interval, fetches, and stores every result as an evaluation in one
 *      transaction — several jobs in flight at once, up to the backend's limit.
 * One training step is therefore one job round trip per backend, not one per circuit.
 *   With an in-process backend (caps.local) and a database file, jobs hold at most
 *   HQ_QEXEC_LOCAL_JOB_CIRCUITS circuits and go one at a time, and job k's results are
 *   stored on a second connection by a worker thread (orchestrator/bgstore.h) while the
 *   backend simulates job k + 1: the database work then runs on the otherwise idle second
 *   core instead of after the simulation. The protocol does not change — each job is still
 *   recorded before it is sent, and the calling thread writes only while the worker is
 *   idle — so a crash leaves the same states as with storing inline.
 *
 * Sampling seeds of simulator backends come from (run seed, circuit hash), so a result
 * does not depend on how circuits were packed into jobs: a resumed run that re-plans a
 * step gets bit-identical counts.
 *
 * Resume: hq_qexec_recover() must be called once before replaying a run: every job the
 * crashed process left open is settled — a job that may have reached the provider is
 * looked up there by its client token (never submitted twice), accepted jobs are polled
 * and their results stored, jobs that never left the machine are retired. The replayed
 * steps then find every paid-for result in the cache.
 *
 * Errors: transient failures (network, 5xx, 429) are retried by the HTTP layer and once
 * more here; a job the provider fails or cancels, a 4xx, an exceeded budget stop the call
 * with a clear message (HQ_ERR_BACKEND / HQ_ERR_HTTP / HQ_ERR_BUDGET) and leave the job
 * database consistent, so `hqcnn resume` continues after the cause is fixed.
 *
 * Ownership: the executor borrows the backend and the database (both must outlive it);
 * the caller frees it with hq_qexec_free. Histograms returned are owned by the caller.
 */
#ifndef HQ_QEXEC_H
#define HQ_QEXEC_H

#include <stdint.h>

#include "backends/backend.h"
#include "backends/circuit.h"
#include "backends/counts.h"
#include "db/jobdb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Measurement basis of a row: every qubit is measured in it (X: H before measure; Y:
 * S^dagger then H). */
typedef enum hq_basis { HQ_BASIS_Z = 0, HQ_BASIS_X, HQ_BASIS_Y, HQ_BASIS_COUNT } hq_basis;
/* "Z", "X", "Y". */
const char *hq_basis_str(hq_basis b);

typedef struct hq_qbatch {
    const hq_circuit *tmpl; /* unitary template without measurements; borrowed */
    int64_t n_rows;         /* concrete circuits requested */
    const double *rows;     /* (n_rows x n_symbols) symbol values; NULL if no symbols */
    const uint8_t *basis;   /* (n_rows) hq_basis per row; NULL = all Z */
} hq_qbatch;

typedef struct hq_qexec_options {
    int64_t shots;            /* shots per circuit (required, >= 1) */
    uint64_t seed;            /* run seed: simulator sampling streams derive from it */
    int64_t budget_shots;     /* stop before the run's submitted shots exceed this (0 = off) */
    double budget_cost;       /* stop before the run's estimated cost exceeds this, USD (0 = off) */
    int max_in_flight;        /* jobs open at once (0 = the backend's limit) */
    int max_circuits_per_job; /* cap below the backend's limit (0 = the backend's) */
    double poll_initial_s;    /* shortest poll interval (default 0.5 s) */
    double poll_max_s;        /* poll interval cap (default 30 s); see hq_qexec_poll_interval */
    double job_timeout_s;     /* give up waiting for one job after this (0 = never) */
    int submit_retries;       /* extra submission attempts after a transient failure (default 3) */
    double retry_base_s;      /* first retry delay, doubled each time (default 1 s) */
    double price_job;         /* USD per job; > 0 overrides the backend's price table */
    double price_circuit;     /* USD per circuit; > 0 overrides */
    double price_shot;        /* USD per shot; > 0 overrides */
    bool store_inline;        /* store results on the calling thread, never in the worker
                                 (the overlap above off: benchmarks, comparisons) */
} hq_qexec_options;

/* Circuits per job for in-process backends (below the backend's own limit): small enough
 * that the results of one job are stored while the next simulates, large enough that a
 * job's four bookkeeping commits cost next to nothing per circuit. */
#define HQ_QEXEC_LOCAL_JOB_CIRCUITS 2048

void hq_qexec_options_init(hq_qexec_options *o);

typedef struct hq_qexec_stats {
    int64_t requested;       /* rows asked for */
    int64_t unique;          /* distinct circuits among them */
    int64_t cache_hits;      /* distinct circuits served from the database */
    int64_t circuits_run;    /* distinct circuits sent to the backend */
    int64_t jobs_submitted;  /* jobs accepted by the backend in this process */
    int64_t jobs_recovered;  /* open jobs settled by hq_qexec_recover */
    int64_t jobs_by_worker;  /* jobs whose results the storing worker committed */
    int64_t shots_submitted; /* shots of accepted jobs (this process) */
    double cost;             /* estimated cost of accepted jobs, USD (this process) */
    double seconds_backend;  /* wall time in the backend's calls (submit, find by token,
                              * poll, fetch) and in waits for it (poll intervals, retry
                              * back-off); the executor's own time is the difference */
    double seconds_total;    /* wall time in hq_qexec_run */
} hq_qexec_stats;

typedef struct hq_qexec hq_qexec;

/* Share of a job's age the executor waits between two polls of it. */
#define HQ_QEXEC_POLL_AGE_FRACTION 0.2

/*
 * The wait before the next poll of a job submitted age_s seconds ago that is not finished:
 * HQ_QEXEC_POLL_AGE_FRACTION x age_s, at least initial_s, at most max_s. A job is polled
 * at once after submission, then every initial_s while it is young, then at intervals
 * growing with its age (x1.2 per poll), so a finished job is noticed at most
 * max(initial_s, 20 % of its run time) late (never more than max_s), with a number of
 * polls logarithmic in the run time until the cap.
 */
double hq_qexec_poll_interval(double age_s, double initial_s, double max_s);

/* db may be NULL (no cache, no records: direct use, benchmarks); run_id is then 0. */
hq_status hq_qexec_create(hq_backend *b, hq_jobdb *db, int64_t run_id, const hq_qexec_options *o,
                          hq_qexec **out);
void hq_qexec_free(hq_qexec *q);

/* Settle every open job of the run (see the header comment). */
hq_status hq_qexec_recover(hq_qexec *q);

/* Evaluate a batch: out (n_rows histograms, initialised here) receives row i's counts.
 * On failure every out[i] is left empty (freeing them is still fine). */
hq_status hq_qexec_run(hq_qexec *q, const hq_qbatch *batch, hq_counts *out);

void hq_qexec_get_stats(const hq_qexec *q, hq_qexec_stats *out);

/* Planning arithmetic shared with `hqcnn plan`: jobs, cost and time for `circuits`
 * distinct circuits of `shots` each on a backend with these capabilities (max circuits
 * per job capped by max_per_job if > 0, and by HQ_QEXEC_LOCAL_JOB_CIRCUITS for an
 * in-process backend) — exactly the packing hq_qexec_run uses. */
typedef struct hq_qexec_estimate {
    int64_t circuits, jobs, shots;
    double cost_usd, seconds;
} hq_qexec_estimate;
void hq_qexec_estimate_jobs(const hq_backend_caps *caps, int max_per_job, int64_t circuits,
                            int64_t shots, hq_qexec_estimate *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_QEXEC_H */
