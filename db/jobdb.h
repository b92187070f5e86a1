/*
 * db/jobdb.h — the job database: every run, checkpoint, circuit, job, evaluation and
 * calibration of hqcnn, in one SQLite file (WAL mode), so that a run killed at any moment
 * resumes with bit-identical results and never submits (or pays for) a job twice.
 *
 * A worked example (a shot-based training step as the orchestrator drives it):
 *
 *     hq_jobdb *db;
 *     if (hq_jobdb_open("runs/hqcnn.db", NULL, &db) != HQ_OK)      // creates / migrates
 *         die(hq_last_error());
 *     hq_jobdb_run spec = {.name = "breast-ibm-1", .seed = 42, .code_version = "0.1.0",
 *                          .backend = "ibm_brisbane", .config_json = cfg_text};
 *     int64_t run;
 *     hq_jobdb_run_create(db, &spec, &run);
 *
 *     // 1. serve what the cache already holds (one transaction for the whole batch)
 *     hq_jobdb_eval_lookup(db, run, n, keys, vals, found, &n_found);
 *     // 2. record the job for the misses BEFORE any request leaves the machine
 *     int64_t job; char token[HQ_JOBDB_TOKEN_LEN + 1];
 *     hq_jobdb_job_create(db, &job_spec, &job, token);           // PENDING, durable
 *     hq_jobdb_job_set_request(db, job, body, body_len);         // body carries token
 *     hq_jobdb_job_begin_attempt(db, job);                       // attempts++, durable
 *     ... HTTP POST ...
 *     hq_jobdb_job_submitted(db, job, remote_id, calib_id);      // SUBMITTED
 *     ... poll ...
 *     hq_jobdb_job_complete(db, job, raw, raw_len, calib_id, n, results); // COMPLETED +
 *                                                                // one evaluation each
 *     // 3. checkpoint (weights + optimizer + RNG counters, one transaction)
 *     hq_jobdb_checkpoint_put(db, &ck, NULL);
 *     hq_jobdb_close(db);
 *
 * The resume contract (docs/db.md has the whole of it): a PENDING job with attempts == 0
 * never left the machine and may be sent as is; a PENDING job with attempts > 0 may have
 * reached the provider, so the dispatcher must look it up there by its client token
 * before sending it again; SUBMITTED/RUNNING jobs are polled; results of COMPLETED jobs
 * are in `evaluations` and are served by hq_jobdb_eval_lookup.
 *
 * Conventions:
 *   - Every function validates its arguments and returns an hq_status; the detail is in
 *     hq_errmsg(db) (and hq_last_error()). SQLite errors become HQ_ERR_DB with SQLite's
 *     message, except: locked beyond the busy timeout -> HQ_ERR_BUSY; damaged file ->
 *     HQ_ERR_CORRUPT; disk full / I/O error -> HQ_ERR_IO; out of memory -> HQ_ERR_NOMEM;
 *     newer schema -> HQ_ERR_UNSUPPORTED; unknown id/name -> HQ_ERR_NOT_FOUND. A failed
 *     call changes nothing: each call is one transaction (or one savepoint inside
 *     hq_jobdb_begin/commit).
 *   - Ownership: hq_jobdb_open's caller owns the handle and calls hq_jobdb_close (NULL is
 *     a no-op); open/close rather than create/free because the handle is a file session.
 *     Structs filled by *_get / *_find / *_list own their strings and blobs; release them
 *     with the matching *_clear / *_free. Pointers in structs passed *into* the database
 *     are borrowed for the duration of the call.
 *   - A handle is used by one thread at a time. Several handles (threads or processes) on
 *     one file are fine: writers queue on the busy timeout.
 *   - Hashes cross the API as 64 lowercase hex digits (sha256 of the circuit's canonical
 *     text, backends/circuit.h); the file stores the 32 raw bytes.
 *   - Times are Unix seconds (double); 0 means "not yet".
 */
#ifndef HQ_JOBDB_H
#define HQ_JOBDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/counts.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Schema version this build creates and reads (PRAGMA user_version). */
#define HQ_JOBDB_SCHEMA_VERSION 3
/* PRAGMA application_id of an hqcnn job database ("HQDB"). */
#define HQ_JOBDB_APPLICATION_ID 0x48514442
/* Generated client tokens are UUID v4 strings of 36 characters; a caller's own token may
 * not be longer. */
#define HQ_JOBDB_TOKEN_LEN 36

typedef struct hq_jobdb hq_jobdb;

/* ==== open / close ===================================================================== */

typedef enum hq_jobdb_sync {
    /* WAL + synchronous=NORMAL, and synchronous=FULL for the commits that precede a
     * request to a provider (job create / set_request / begin_attempt). A process crash
     * loses nothing; a power loss may roll back the last few commits, never one that a
     * provider could have seen. The default. */
    HQ_JOBDB_SYNC_NORMAL = 0,
    /* synchronous=FULL for every commit: also the last commits survive power loss. */
    HQ_JOBDB_SYNC_FULL,
    /* synchronous=OFF: no fsync at all (scratch databases, benchmarks). A power loss
     * can corrupt the file. Never for a paid run. */
    HQ_JOBDB_SYNC_OFF,
} hq_jobdb_sync;

typedef struct hq_jobdb_options {
    int busy_timeout_ms;       /* how long a writer waits for another one; default 5000;
                                  0 = fail at once with HQ_ERR_BUSY */
    hq_jobdb_sync sync;        /* durability; default HQ_JOBDB_SYNC_NORMAL */
    bool read_only;            /* open without writing (no create, no migration) */
    bool no_create;            /* fail with HQ_ERR_NOT_FOUND if the file does not exist */
    int64_t cache_kib;         /* SQLite page cache, KiB; default 65536 */
    int checkpoint_keep_last;  /* after each checkpoint_put keep the newest K
                                  checkpoints of the run... (0 = keep all) */
    int checkpoint_keep_every; /* ...plus those whose step is a multiple of N (0 = none) */
    const char *vfs;           /* SQLite VFS name; NULL = default (tests: "hqfault") */
} hq_jobdb_options;

/* Fill *o with the defaults above. */
void hq_jobdb_options_init(hq_jobdb_options *o);

/*
 * Open (creating if needed) the job database at path, migrate an older schema in one
 * transaction, switch to WAL, enable foreign keys. ":memory:" gives a private in-memory
 * database (tests). opts may be NULL (defaults).
 *   [in]  path  file name (borrowed)
 *   [out] out   new handle; the caller closes it with hq_jobdb_close
 * Returns HQ_OK; HQ_ERR_INVALID_ARG (NULL/empty path, bad option); HQ_ERR_NOT_FOUND
 * (no_create and no file); HQ_ERR_CORRUPT (not a database / malformed: names the file,
 * suggests restore and PRAGMA integrity_check); HQ_ERR_UNSUPPORTED (written by a newer
 * hqcnn, or not an hqcnn database: the file is left untouched); HQ_ERR_BUSY (locked
 * beyond the busy timeout); HQ_ERR_IO (cannot open / disk full); HQ_ERR_NOMEM; HQ_ERR_DB.
 */
hq_status hq_jobdb_open(const char *path, const hq_jobdb_options *opts, hq_jobdb **out);

/*
 * A second connection to db's file with db's options (busy timeout, sync, cache, VFS), for
 * another thread: a handle is used by one thread at a time, two handles on one file may
 * be used at once (SQLite's WAL locking orders their writes). The file must exist.
 * Returns HQ_OK; HQ_ERR_UNSUPPORTED for ":memory:" (a private database has no second
 * connection) and for a read-only handle; otherwise as hq_jobdb_open.
 */
hq_status hq_jobdb_open_again(const hq_jobdb *db, hq_jobdb **out);

/* Close the handle (rolls back an unfinished hq_jobdb_begin). NULL is a no-op. */
void hq_jobdb_close(hq_jobdb *db);

/* File name the handle was opened with (borrowed; valid until close). */
const char *hq_jobdb_path(const hq_jobdb *db);

/*
 * Group several calls into one atomic write transaction: hq_jobdb_begin, calls, then
 * hq_jobdb_commit (or hq_jobdb_rollback). Inside, each call runs in a savepoint, so a
 * failed call leaves the others in place and the caller decides. durable forces an fsync
 * at commit (except in HQ_JOBDB_SYNC_OFF mode); a call that needs one (job create,
 * set_request, begin_attempt) fails with HQ_ERR_MISUSE inside a non-durable group. Returns
 * HQ_ERR_MISUSE if already inside one (begin) or not inside one (commit/rollback), HQ_ERR_BUSY,
 * HQ_ERR_IO, HQ_ERR_DB. If SQLite had to abandon the transaction (disk full, I/O error) commit
 * returns that error and nothing of the group is stored.
 */
hq_status hq_jobdb_begin(hq_jobdb *db, bool durable);

/*
 * Whether the commits that precede a request (job_create, job_set_request,
 * job_begin_attempt) fsync in HQ_JOBDB_SYNC_NORMAL mode (true, the default on open).
 * Their point is that a provider never holds a job the database has forgotten. A caller
 * whose backend runs inside this process (hq_backend_caps.local) may turn it off: the
 * commits still survive a crash of the process (the operating system has them), only a
 * power loss may lose the newest, and a local job run again after that costs nothing and
 * reaches no one. Returns the previous setting.
 */
bool hq_jobdb_set_jobs_durable(hq_jobdb *db, bool durable);
hq_status hq_jobdb_commit(hq_jobdb *db);
hq_status hq_jobdb_rollback(hq_jobdb *db);

/*
 * Full consistency check: PRAGMA integrity_check and foreign_key_check. *ok is false and
 * report (if not NULL) gets the first problems (owned; hq_free) when the file is damaged.
 * Time is linear in the file size (seconds for gigabytes). Returns HQ_OK when the check
 * ran, whatever its verdict (damage bad enough to stop the check is a verdict too:
 * *ok false); HQ_ERR_IO / HQ_ERR_NOMEM / HQ_ERR_DB if it could not run.
 */
hq_status hq_jobdb_check_integrity(hq_jobdb *db, bool *ok, char **report);

/* Generate a fresh client token (UUID v4 from OpenSSL RAND_bytes) into out. Returns
 * HQ_ERR_INTERNAL if the system RNG fails. */
hq_status hq_jobdb_new_token(char out[HQ_JOBDB_TOKEN_LEN + 1]);

/* ==== runs ============================================================================= */

typedef enum hq_run_status {
    HQ_RUN_CREATED = 0, /* recorded, nothing executed yet */
    HQ_RUN_RUNNING,     /* a process is (or was, if it crashed) working on it */
    HQ_RUN_INTERRUPTED, /* stopped cleanly by a signal or an error that resume can fix */
    HQ_RUN_COMPLETED,   /* finished */
    HQ_RUN_FAILED,      /* gave up; see the log */
    HQ_RUN_CANCELLED,   /* stopped by the user */
    HQ_RUN_STATUS_COUNT
} hq_run_status;

/* "RUNNING" etc. (the text stored in the database); "?" for an invalid value. */
const char *hq_run_status_name(hq_run_status s);
/* Parse a status name (case-sensitive). HQ_ERR_INVALID_ARG lists the valid names. */
hq_status hq_run_status_parse(const char *name, hq_run_status *out);

typedef struct hq_jobdb_run {
    int64_t id;           /* row id (output) */
    char *name;           /* unique, 1..200 bytes */
    double created_at;    /* Unix seconds (output) */
    double updated_at;    /* Unix seconds of the last change (output) */
    hq_run_status status; /* lifecycle (output of get; create starts at CREATED) */
    uint64_t seed;        /* master seed of every counter-based RNG stream */
    char *code_version;   /* hqcnn version that created the run, e.g. "0.1.0" */
    char *backend;        /* backend name, e.g. "sv", "ibm_brisbane" */
    char *config_json;    /* full resolved config (valid JSON) */
    char *plan_json;      /* planner output (valid JSON) or NULL */
    int64_t cache_hits;   /* evaluation lookups served from the database (output) */
    int64_t cache_misses; /* evaluation lookups that were not (output) */
} hq_jobdb_run;

/* Release the strings of r (r itself is not freed); NULL-safe. */
void hq_jobdb_run_clear(hq_jobdb_run *r);

/*
 * Record a new run. spec: name, seed, code_version, backend, config_json required,
 * plan_json optional; the other fields are ignored.
 *   [out] run_id  the new run's id
 * Returns HQ_ERR_INVALID_ARG (missing field, invalid JSON, name already used — the
 * message gives the existing run's id).
 */
hq_status hq_jobdb_run_create(hq_jobdb *db, const hq_jobdb_run *spec, int64_t *run_id);
/* Fill *out with run `id` / the run called `name`. HQ_ERR_NOT_FOUND if absent. */
hq_status hq_jobdb_run_get(hq_jobdb *db, int64_t id, hq_jobdb_run *out);
hq_status hq_jobdb_run_find(hq_jobdb *db, const char *name, hq_jobdb_run *out);
/* All runs, oldest first, without config_json / plan_json (NULL). *runs is owned: free
 * with hq_jobdb_runs_free(*runs, *n). */
hq_status hq_jobdb_run_list(hq_jobdb *db, hq_jobdb_run **runs, int64_t *n);
void hq_jobdb_runs_free(hq_jobdb_run *runs, int64_t n);
/* Change a run's status / plan. HQ_ERR_NOT_FOUND, HQ_ERR_INVALID_ARG (bad status/JSON). */
hq_status hq_jobdb_run_set_status(hq_jobdb *db, int64_t id, hq_run_status status);
hq_status hq_jobdb_run_set_plan(hq_jobdb *db, int64_t id, const char *plan_json);

/* ==== checkpoints ====================================================================== */

typedef struct hq_jobdb_checkpoint {
    int64_t id;            /* row id (output) */
    int64_t run_id;        /* owning run */
    int64_t step;          /* optimizer steps taken when the state was saved, >= 0 */
    int64_t epoch;         /* epoch the step belongs to, >= 0 */
    const void *weights;   /* (weights_len) serialized parameters (format owned by nn/) */
    size_t weights_len;    /* bytes of weights */
    const void *optimizer; /* (optimizer_len) serialized optimizer state */
    size_t optimizer_len;  /* bytes of optimizer */
    const void *rng;       /* (rng_len) RNG counters / positions (opaque to the database) */
    size_t rng_len;        /* bytes of rng */
    const char *meta_json; /* optional JSON (loss, lr, metrics), NULL if none */
    double created_at;     /* Unix seconds (output) */
} hq_jobdb_checkpoint;

/* Release the blobs and strings of a checkpoint filled by a get; NULL-safe. */
void hq_jobdb_checkpoint_clear(hq_jobdb_checkpoint *ck);

/*
 * Store a checkpoint in one transaction, with a sha256 digest of its blobs, then prune
 * per the options (checkpoint_keep_last / _every) in the same transaction. Storing the
 * same (run, step) again with identical content is a no-op (a replayed step); with
 * different content it is HQ_ERR_INVALID_ARG (determinism broken: the message says how
 * to proceed). Blobs may be empty (len 0, pointer may be NULL).
 *   [out] id  row id (may be NULL)
 * Returns HQ_ERR_NOT_FOUND (unknown run), HQ_ERR_INVALID_ARG, HQ_ERR_IO (disk full: the
 * previous checkpoints are intact), HQ_ERR_BUSY, HQ_ERR_DB.
 */
hq_status hq_jobdb_checkpoint_put(hq_jobdb *db, const hq_jobdb_checkpoint *ck, int64_t *id);
/* The checkpoint with the largest step of run_id / the one at `step`; blobs verified
 * against the stored digest (HQ_ERR_CORRUPT on mismatch). HQ_ERR_NOT_FOUND if none. The
 * caller releases *out with hq_jobdb_checkpoint_clear. */
hq_status hq_jobdb_checkpoint_latest(hq_jobdb *db, int64_t run_id, hq_jobdb_checkpoint *out);
hq_status hq_jobdb_checkpoint_get(hq_jobdb *db, int64_t run_id, int64_t step,
                                  hq_jobdb_checkpoint *out);
/* Steps of the run's checkpoints, ascending; *steps owned (hq_free). */
hq_status hq_jobdb_checkpoint_steps(hq_jobdb *db, int64_t run_id, int64_t **steps, int64_t *n);
/* Delete all checkpoints of the run except the newest keep_last (>= 1) and those whose
 * step is a multiple of keep_every (0 = none). *deleted (may be NULL) gets the count. */
hq_status hq_jobdb_checkpoint_prune(hq_jobdb *db, int64_t run_id, int keep_last, int keep_every,
                                    int64_t *deleted);
/* Delete one checkpoint. HQ_ERR_NOT_FOUND if absent. */
hq_status hq_jobdb_checkpoint_delete(hq_jobdb *db, int64_t run_id, int64_t step);

/* ==== circuits ========================================================================= */

/*
 * Store canonical circuit texts (backends/circuit.h hq_circuit_canonical) keyed by their
 * sha256, in one transaction; a text already stored is left alone. Storing texts is
 * optional: evaluations and jobs name circuits by digest.
 *   [in]  texts   (n) NUL-terminated canonical texts
 *   [out] hashes  (n) their sha256 as 64 hex digits + NUL (may be NULL)
 */
hq_status hq_jobdb_circuit_put(hq_jobdb *db, int64_t n, const char *const *texts,
                               char (*hashes)[65]);
/* The text of circuit `hash` (*text owned, hq_free). HQ_ERR_NOT_FOUND if its text was
 * never stored. */
hq_status hq_jobdb_circuit_get(hq_jobdb *db, const char *hash, char **text);

/* ==== evaluations (the cache) ========================================================== */

/* Identifies one evaluation; the database stores at most one per key. */
typedef struct hq_jobdb_eval_key {
    const char *hash;        /* circuit sha256, 64 lowercase hex digits */
    const char *backend;     /* backend that produced it: "sv", "ibm_brisbane", ... */
    int64_t shots;           /* shots per circuit; 0 = exact (no sampling) */
    const char *basis;       /* measurement basis / observable tag: "Z", "X", "Z0Z1"... */
    const char *mitigation;  /* post-processing tag; NULL or "" = raw */
    const char *calibration; /* calibration id the result belongs to; "" = none (local
                                simulators). In a lookup, NULL matches any calibration
                                (newest first): what a resumed run uses so a result paid
                                for under an older calibration is not bought again. In a
                                put, NULL is the same as "". */
    const uint8_t *digest;   /* the circuit's sha256 as 32 raw bytes, or NULL. When given
                                it is used and hash is ignored (may be NULL): callers that
                                hold digests as bytes skip formatting and parsing hex. */
} hq_jobdb_eval_key;

/* One stored result: a histogram, an expectation vector, or both. */
typedef struct hq_jobdb_eval {
    bool has_counts;  /* counts is valid */
    hq_counts counts; /* measurement histogram (sorted, merged, no zero entries) */
    double *expect;   /* (n_expect) expectation values, NULL if none */
    int64_t n_expect; /* entries of expect */
    int64_t job_id;   /* job that produced it; 0 if none (local simulator) */
    int64_t eval_id;  /* unique number, increasing with the order rows were stored */
} hq_jobdb_eval;

/* Release what a lookup put into e (e itself is not freed); NULL-safe. */
void hq_jobdb_eval_clear(hq_jobdb_eval *e);

/*
 * Look up n keys in one read transaction (one prepared statement, reused).
 *   [in]  run_id   run whose hit/miss counters to advance (0 = none)
 *   [in]  keys     (n)
 *   [out] out      (n) filled for every found key, zeroed otherwise; clear each with
 *                  hq_jobdb_eval_clear
 *   [out] found    (n) whether keys[i] was found (may be NULL)
 *   [out] n_found  number found (may be NULL)
 * The run's counters are advanced in a separate short write (a lost update only
 * affects statistics). Returns HQ_ERR_INVALID_ARG (bad hash / key; names the index),
 * HQ_ERR_CORRUPT (a stored blob is damaged), HQ_ERR_NOMEM, HQ_ERR_DB.
 */
hq_status hq_jobdb_eval_lookup(hq_jobdb *db, int64_t run_id, int64_t n,
                               const hq_jobdb_eval_key *keys, hq_jobdb_eval *out, bool *found,
                               int64_t *n_found);

/* One result to store. */
typedef struct hq_jobdb_eval_item {
    hq_jobdb_eval_key key;    /* where to store it */
    const char *circuit_text; /* canonical text to store too, or NULL (the evaluation is
                                 keyed by digest either way); if given, its sha256 must
                                 equal the key's digest */
    const hq_counts *counts;  /* histogram or NULL */
    const double *expect;     /* (n_expect) expectation values or NULL */
    int64_t n_expect;
    int64_t job_id; /* job that produced it, 0 = none */
} hq_jobdb_eval_item;

/*
 * Store n results in one transaction (with the circuit texts given). A key already
 * stored keeps its first result (evaluations are immutable: a replayed step cannot
 * change what was paid for); *n_inserted (may be NULL) counts the new rows. run_id
 * (0 = none) records which run produced them. At least one of counts / expect per item.
 */
hq_status hq_jobdb_eval_put(hq_jobdb *db, int64_t run_id, int64_t n,
                            const hq_jobdb_eval_item *items, int64_t *n_inserted);

/* ==== jobs ============================================================================= */

/* Job states are backends/backend.h's hq_job_state, shared with the backends' poll(). The
 * database stores them as text: PENDING, SUBMITTED (= HQ_JOB_QUEUED: accepted by the
 * provider, remote id known), RUNNING, COMPLETED, FAILED, CANCELLED. */
/* Bit for a state in a state mask (hq_jobdb_job_list). */
#define HQ_JOB_MASK(s)  (1u << (s))
#define HQ_JOB_MASK_ALL ((1u << HQ_JOB_STATE_COUNT) - 1)
#define HQ_JOB_MASK_ACTIVE \
    (HQ_JOB_MASK(HQ_JOB_PENDING) | HQ_JOB_MASK(HQ_JOB_QUEUED) | HQ_JOB_MASK(HQ_JOB_RUNNING))

/* What to record for a new job. */
typedef struct hq_jobdb_job_spec {
    int64_t run_id;            /* owning run */
    const char *backend;       /* backend name */
    int64_t shots;             /* shots per circuit (0 = exact) */
    int64_t n_circuits;        /* circuits in the job, >= 1 */
    const char *const *hashes; /* (n_circuits) circuit hashes, in job order (64 hex digits
                                  each); ignored, and may be NULL, when digests is given */
    const uint8_t *digests;    /* (n_circuits x 32) the same as raw sha256 bytes, or NULL */
    const char *const *texts;  /* (n_circuits) canonical texts to store, or NULL */
    const char *const *bases;  /* (n_circuits) basis tag per circuit; NULL = all "Z" */
    const char *calibration;   /* calibration id at submit time, NULL if unknown */
    const void *request;       /* request body if already built, else NULL */
    size_t request_len;        /* bytes of request */
    const char *client_token;  /* token to use, printable ASCII, at most HQ_JOBDB_TOKEN_LEN
                                  bytes (NULL = generate a fresh one) */
    int64_t retry_of;          /* job this one replaces (0 = none) */
} hq_jobdb_job_spec;

typedef struct hq_jobdb_job {
    int64_t id;                         /* row id */
    int64_t run_id;                     /* owning run */
    int64_t retry_of;                   /* replaced job, 0 if none */
    char *backend;                      /* backend name */
    char token[HQ_JOBDB_TOKEN_LEN + 1]; /* client token (idempotency key) */
    char *remote_id;                    /* provider's job id, NULL until accepted */
    hq_job_state state;                 /* lifecycle state */
    int64_t n_circuits;                 /* circuits in the job */
    int64_t shots;                      /* shots per circuit */
    int64_t attempts;                   /* submission requests sent so far */
    char *last_error;                   /* last failure (transient or final), or NULL */
    void *request;                      /* (request_len) body sent, or NULL */
    size_t request_len;                 /* bytes of request */
    void *response;                     /* (response_len) raw result, or NULL */
    size_t response_len;                /* bytes of response */
    char *calib_submit;                 /* calibration id at submit, or NULL */
    char *calib_complete;               /* calibration id at completion, or NULL */
    double created_at;                  /* row written */
    double attempted_at;                /* last submission attempt started, 0 = never */
    double submitted_at;                /* accepted by the provider, 0 = not yet */
    double finished_at;                 /* reached a terminal state, 0 = not yet */
    double updated_at;                  /* last change */
} hq_jobdb_job;

/* Release the strings and blobs of j; NULL-safe. */
void hq_jobdb_job_clear(hq_jobdb_job *j);
/* Free an array from hq_jobdb_job_list. */
void hq_jobdb_jobs_free(hq_jobdb_job *jobs, int64_t n);

/*
 * Record a job (state PENDING, attempts 0) with its circuits in order, durably, before
 * anything is sent (with the circuit texts, if given).
 *   [out] job_id  new row id
 *   [out] token   its client token (may be NULL)
 * Returns HQ_ERR_NOT_FOUND (run / retry_of unknown), HQ_ERR_INVALID_ARG (bad hash, token
 * already used, text not matching its hash...), HQ_ERR_BUSY, HQ_ERR_IO, HQ_ERR_DB.
 */
hq_status hq_jobdb_job_create(hq_jobdb *db, const hq_jobdb_job_spec *spec, int64_t *job_id,
                              char token[HQ_JOBDB_TOKEN_LEN + 1]);
/* Store the request body (PENDING jobs only; durable). */
hq_status hq_jobdb_job_set_request(hq_jobdb *db, int64_t job_id, const void *body, size_t len);
/* Call right before sending a submission request: attempts += 1 (durable). PENDING only.
 * From then on resume must look the job up by token before sending it again. */
hq_status hq_jobdb_job_begin_attempt(hq_jobdb *db, int64_t job_id);
/* The provider accepted the job: PENDING -> SUBMITTED (HQ_JOB_QUEUED) with its remote id. Repeating
 * it with the same remote id is a no-op; another remote id is HQ_ERR_INVALID_ARG. */
hq_status hq_jobdb_job_submitted(hq_jobdb *db, int64_t job_id, const char *remote_id,
                                 const char *calibration);
/* Move to RUNNING, FAILED or CANCELLED (error: message to record, may be NULL). Allowed:
 * PENDING -> FAILED|CANCELLED, SUBMITTED -> RUNNING|FAILED|CANCELLED, RUNNING ->
 * FAILED|CANCELLED (HQ_JOB_QUEUED may be passed too: a no-op once SUBMITTED); the same state again
 * is a no-op. Anything else (e.g. leaving a terminal state) is HQ_ERR_INVALID_ARG naming both
 * states. */
hq_status hq_jobdb_job_set_state(hq_jobdb *db, int64_t job_id, hq_job_state state,
                                 const char *error);
/* Record a transient failure (network, 5xx) without changing the state. */
hq_status hq_jobdb_job_note_error(hq_jobdb *db, int64_t job_id, const char *error);

/* One circuit's result inside a completed job (position i of the job). */
typedef struct hq_jobdb_result {
    const hq_counts *counts; /* histogram or NULL */
    const double *expect;    /* (n_expect) expectation values or NULL */
    int64_t n_expect;
} hq_jobdb_result;

/*
 * The job finished: in one transaction, state -> COMPLETED, raw response stored, and one
 * evaluation per circuit (key: the job's backend, shots, the circuit's basis, mitigation
 * "", calibration = `calibration` if not NULL else the one at submit, else "").
 * n must equal the job's n_circuits; results[i] belongs to position i. Allowed from
 * PENDING (local simulators), SUBMITTED and RUNNING; completing a COMPLETED job again is
 * a no-op (a replayed fetch).
 */
hq_status hq_jobdb_job_complete(hq_jobdb *db, int64_t job_id, const void *response,
                                size_t response_len, const char *calibration, int64_t n,
                                const hq_jobdb_result *results);

/* Fill *out with job id / the job with this client token / (backend, remote id).
 * HQ_ERR_NOT_FOUND if absent. */
hq_status hq_jobdb_job_get(hq_jobdb *db, int64_t job_id, hq_jobdb_job *out);
hq_status hq_jobdb_job_find_token(hq_jobdb *db, const char *token, hq_jobdb_job *out);
hq_status hq_jobdb_job_find_remote(hq_jobdb *db, const char *backend, const char *remote_id,
                                   hq_jobdb_job *out);
/* Jobs of a run (run_id 0 = all runs) whose state is in state_mask (HQ_JOB_MASK bits),
 * oldest first, without request/response bodies (NULL). Free with hq_jobdb_jobs_free. */
hq_status hq_jobdb_job_list(hq_jobdb *db, int64_t run_id, unsigned state_mask, hq_jobdb_job **jobs,
                            int64_t *n);

/* One circuit of a job, in job order. */
typedef struct hq_jobdb_job_circuit {
    char hash[65]; /* sha256 hex */
    char *basis;   /* basis tag */
    char *text;    /* canonical text, NULL if never stored or not requested */
} hq_jobdb_job_circuit;

/* Circuits of a job by position. with_text also loads the texts. Free with
 * hq_jobdb_job_circuits_free(*items, *n). HQ_ERR_NOT_FOUND if the job does not exist. */
hq_status hq_jobdb_job_circuits(hq_jobdb *db, int64_t job_id, bool with_text,
                                hq_jobdb_job_circuit **items, int64_t *n);
void hq_jobdb_job_circuits_free(hq_jobdb_job_circuit *items, int64_t n);

/* ==== statistics ======================================================================= */

typedef struct hq_jobdb_run_stats {
    int64_t jobs[HQ_JOB_STATE_COUNT]; /* jobs per state */
    int64_t shots_submitted;          /* shots of jobs the provider accepted (remote id
                                         known): what the run has been charged for */
    int64_t shots_uncertain;          /* shots of PENDING jobs with attempts > 0: maybe */
    int64_t shots_completed;          /* shots of COMPLETED jobs */
    int64_t evaluations;              /* evaluations this run stored */
    int64_t cache_hits;               /* lookups served from the database */
    int64_t cache_misses;             /* lookups that were not */
    int64_t checkpoints;              /* checkpoints kept */
    int64_t last_step;                /* largest checkpoint step, -1 if none */
} hq_jobdb_run_stats;

/* Counters of one run (one read transaction). HQ_ERR_NOT_FOUND if no such run. */
hq_status hq_jobdb_run_get_stats(hq_jobdb *db, int64_t run_id, hq_jobdb_run_stats *out);

/* ==== calibrations ===================================================================== */

typedef struct hq_jobdb_calibration {
    int64_t id;           /* row id */
    char *backend;        /* backend name */
    char *calibration_id; /* provider's identifier (e.g. IBM properties last_update_date) */
    double fetched_at;    /* when hqcnn fetched it, Unix seconds */
    char *json;           /* the provider's document (valid JSON) */
} hq_jobdb_calibration;

void hq_jobdb_calibration_clear(hq_jobdb_calibration *c);

/* Store a calibration document (fetched_at <= 0 = now). The same (backend,
 * calibration_id) again is a no-op: *inserted (may be NULL) tells which; *id (may be
 * NULL) is the row either way. */
hq_status hq_jobdb_calibration_put(hq_jobdb *db, const char *backend, const char *calibration_id,
                                   double fetched_at, const char *json, int64_t *id,
                                   bool *inserted);
/* The most recently fetched calibration of backend / a given one. HQ_ERR_NOT_FOUND. */
hq_status hq_jobdb_calibration_latest(hq_jobdb *db, const char *backend, hq_jobdb_calibration *out);
hq_status hq_jobdb_calibration_get(hq_jobdb *db, const char *backend, const char *calibration_id,
                                   hq_jobdb_calibration *out);

/* ==== result blobs ===================================================================== */

/*
 * Compact, versioned, checksummed encodings of results (docs/db.md has the byte layout):
 *   counts:  0x01 0x01 n_bits varint(n) varint(shots) n x (varint(outcome gap) varint(count))
 *            crc32 — outcomes ascending, duplicates merged, zero counts dropped;
 *   expect:  0x02 0x01 varint(n) n x float64 little-endian crc32.
 * Encoders append to out. Decoders reject anything malformed with HQ_ERR_CORRUPT and a
 * newer format version with HQ_ERR_UNSUPPORTED; *out is left zeroed on failure.
 */
hq_status hq_jobdb_counts_encode(const hq_counts *c, hq_sbuf *out);
hq_status hq_jobdb_counts_decode(const void *blob, size_t len, hq_counts *out);
hq_status hq_jobdb_expect_encode(const double *v, int64_t n, hq_sbuf *out);
/* *v owned (hq_free); NULL when n is 0. */
hq_status hq_jobdb_expect_decode(const void *blob, size_t len, double **v, int64_t *n);

/* ==== fault injection (tests, fault drills) ============================================ */

/*
 * A SQLite VFS named "hqfault" that wraps the default VFS and can fail writes, syncs or
 * reads on command, to test disk-full and I/O-error handling. Open a database through it
 * with options.vfs = "hqfault". Process-wide state; not for production use.
 */
typedef enum hq_jobdb_fault_kind {
    HQ_JOBDB_FAULT_FULL = 0, /* the failing write returns SQLITE_FULL (disk full) */
    HQ_JOBDB_FAULT_IOERR,    /* the failing call returns an SQLITE_IOERR_* code */
} hq_jobdb_fault_kind;

typedef struct hq_jobdb_fault {
    hq_jobdb_fault_kind kind; /* what the failing call returns */
    int64_t write_bytes;      /* fail the write that would exceed this many bytes written
                                 from now, -1 = off */
    int64_t write_calls;      /* fail the n-th write call from now (1 = next), -1 = off */
    int64_t sync_calls;       /* fail the n-th sync call from now, -1 = off */
    int64_t read_calls;       /* fail the n-th read call from now, -1 = off */
    bool sticky;              /* after the first failure, fail every later call of the
                                 same kind (a full disk stays full) */
    bool other_threads;       /* fail only calls made by threads other than the one that
                                 armed the fault (a worker's connection); the arming
                                 thread's calls go through (and are counted) */
} hq_jobdb_fault;

/* Register the "hqfault" VFS (idempotent, thread-safe). HQ_ERR_DB if SQLite refuses. */
hq_status hq_jobdb_fault_register(void);
/* Arm (f) or disarm (NULL) the fault; resets the counters below. */
void hq_jobdb_fault_set(const hq_jobdb_fault *f);
/* Activity through the VFS since the last hq_jobdb_fault_set, and failures injected. */
typedef struct hq_jobdb_fault_stats {
    int64_t bytes_written, writes, syncs, reads, failures;
} hq_jobdb_fault_stats;
void hq_jobdb_fault_get_stats(hq_jobdb_fault_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_JOBDB_H */
