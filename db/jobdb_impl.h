/*
 * db/jobdb_impl.h — private to the db/ sources: the handle, the prepared-statement cache, the
 * transaction helpers and the SQLite-to-hq_status translation every table file uses.
 * The public API is db/jobdb.h; the schema is in db/schema.c.
 */
#ifndef HQ_JOBDB_IMPL_H
#define HQ_JOBDB_IMPL_H

#include <sqlite3.h>
#include <string.h>

#include "db/jobdb.h"

#define HQ_MAGIC_JOBDB 0x4A4F4244u /* "JOBD" */

/* Every statement the module prepares has a slot here: prepared on first use with
 * SQLITE_PREPARE_PERSISTENT, reset after each use, finalized by hq_jobdb_close. The SQL
 * text lives next to the code that runs it. */
typedef enum jobdb_stmt_id {
    ST_BEGIN_READ,
    ST_BEGIN_WRITE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_SYNC_OFF,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    /* runs */
    ST_RUN_INSERT,
    ST_RUN_BY_NAME_ID,
    ST_RUN_GET,
    ST_RUN_FIND,
    ST_RUN_LIST,
    ST_RUN_SET_STATUS,
    ST_RUN_SET_PLAN,
    ST_RUN_EXISTS,
    ST_RUN_COUNT_CACHE,
    /* checkpoints */
    ST_CK_DIGEST,
    ST_CK_INSERT,
    ST_CK_LATEST,
    ST_CK_GET,
    ST_CK_STEPS,
    ST_CK_PRUNE,
    ST_CK_DELETE,
    /* circuits */
    ST_CIRC_INSERT,
    ST_CIRC_GET,
    /* evaluations */
    ST_EVAL_LOOKUP,
    ST_EVAL_LOOKUP_ANYCAL,
    ST_EVAL_INSERT,
    ST_EVAL_SEQ,
    /* jobs */
    ST_JOB_INSERT,
    ST_JOB_CIRC_KEYS,
    ST_JOB_EXISTS,
    ST_JOB_STATE,
    ST_JOB_SET_REQUEST,
    ST_JOB_ATTEMPT,
    ST_JOB_SUBMITTED,
    ST_JOB_SET_STATE,
    ST_JOB_NOTE_ERROR,
    ST_JOB_COMPLETE,
    ST_JOB_GET,
    ST_JOB_FIND_TOKEN,
    ST_JOB_FIND_REMOTE,
    ST_JOB_LIST,
    ST_JOB_LIST_ALL,
    ST_JOB_CIRCUITS_TEXT,
    ST_JOB_TOKEN_OWNER,
    /* statistics */
    ST_STATS_JOBS,
    ST_STATS_EVALS,
    ST_STATS_CK,
    /* calibrations */
    ST_CAL_INSERT,
    ST_CAL_ID,
    ST_CAL_LATEST,
    ST_CAL_GET,
    ST_COUNT
} jobdb_stmt_id;

struct hq_jobdb {
    hq_handle h;                      /* magic HQ_MAGIC_JOBDB + error detail */
    sqlite3 *conn;                    /* the connection (SQLITE_OPEN_NOMUTEX: one thread) */
    char *path;                       /* file name as given to hq_jobdb_open */
    hq_jobdb_options opt;             /* effective options */
    sqlite3_stmt *stmt[ST_COUNT];     /* prepared statement cache, NULL until first use */
    const char *stmt_sql[ST_COUNT];   /* SQL each slot was prepared from (misuse check) */
    int depth;                        /* 0: no transaction; 1: BEGIN; > 1: savepoints inside */
    bool user_txn;                    /* the outer transaction belongs to hq_jobdb_begin */
    bool txn_lost;                    /* SQLite rolled the user transaction back (I/O error) */
    int sync_level;                   /* PRAGMA synchronous in force: 0 OFF, 1 NORMAL, 2 FULL */
    int sync_saved;                   /* level to restore after a durable commit, -1 = none */
    bool jobs_not_durable;            /* hq_jobdb_set_jobs_durable(db, false) in force */
    double busy_start;                /* hq_time_now() when the current wait began */
    uint64_t busy_rng;                /* xorshift state for backoff jitter */
    hq_sbuf scratch;                  /* reusable blob-encoding buffer */
    uint8_t *hashes;                  /* (hashes_cap x 32) digests parsed from a batch of keys */
    int64_t hashes_cap;               /* entries allocated in hashes and order */
    int64_t *order;                   /* (hashes_cap) batch positions sorted by digest */
    struct jobdb_sort_item *sort_tmp; /* (2 x hashes_cap) scratch of jobdb_sort_by_digest */
};

/* Flags of jobdb_op_begin. */
enum {
    JOBDB_READ = 0,    /* consistent snapshot (BEGIN DEFERRED) */
    JOBDB_WRITE = 1,   /* BEGIN IMMEDIATE: takes the write lock up front (waits on busy) */
    JOBDB_DURABLE = 2, /* fsync at commit even in HQ_JOBDB_SYNC_NORMAL mode */
};

/* The prepared statement for slot id (prepared from sql on first use). */
hq_status jobdb_stmt(hq_jobdb *db, jobdb_stmt_id id, const char *sql, sqlite3_stmt **out);
/* Reset a statement after use and drop its bindings (borrowed buffers). */
void jobdb_done(sqlite3_stmt *st);

/* Translate an SQLite result code into an hq_status with a message naming func, what
 * was being done, SQLite's message, the file and a hint. Returns the status. */
hq_status jobdb_fail(hq_jobdb *db, int rc, const char *func, const char *what);

/* Start an operation: a transaction (depth 0) or a savepoint (inside one). */
hq_status jobdb_op_begin(hq_jobdb *db, int flags, const char *func);
/* Finish it: commit/release if st == HQ_OK, else roll back; returns the final status
 * (a failed commit turns HQ_OK into its error). */
hq_status jobdb_op_end(hq_jobdb *db, hq_status st, const char *func);

/* Step a statement expecting SQLITE_DONE (writes). */
hq_status jobdb_step_done(hq_jobdb *db, sqlite3_stmt *st, const char *func, const char *what);

/* ---- argument checks: record HQ_ERR_INVALID_ARG naming func and the argument ---- */
hq_status jobdb_check_text(hq_jobdb *db, const char *func, const char *arg, const char *s,
                           size_t max_len);
/* The test of jobdb_check_text without the message: s is non-NULL, non-empty and at most
 * max_len bytes. For per-item loops, which call jobdb_check_text only to report a failure. */
static inline bool jobdb_text_ok(const char *s, size_t max_len) {
    return s && s[0] && strnlen(s, max_len + 1) <= max_len;
}
hq_status jobdb_check_json(hq_jobdb *db, const char *func, const char *arg, const char *s);
hq_status jobdb_check_id(hq_jobdb *db, const char *func, const char *arg, int64_t id);
/* 64 lowercase hex digits -> 32 bytes. */
hq_status jobdb_parse_hash(hq_jobdb *db, const char *func, const char *arg, const char *hex,
                           uint8_t out[32]);
void jobdb_hash_hex(const uint8_t *bytes, char out[65]);

/* Column helpers: copy a TEXT column (NULL stays NULL) / BLOB column. HQ_ERR_NOMEM. */
hq_status jobdb_col_text(hq_jobdb *db, sqlite3_stmt *st, int col, char **out);
hq_status jobdb_col_blob(hq_jobdb *db, sqlite3_stmt *st, int col, void **out, size_t *len);

/* Store a circuit's canonical text under its digest (no-op if already stored) after
 * checking sha256(text) == hash. Inside a write operation. */
hq_status jobdb_circuit_store(hq_jobdb *db, const uint8_t hash[32], const char *text,
                              const char *func);
/* qsort_r comparator over int64 positions into a (x 32) digest array passed as arg: by
 * digest, ties by position. */
int jobdb_by_digest(const void *a, const void *b, void *arg);
/* An item of the digest sort: the digest's first 8 bytes, big-endian, and its position. */
typedef struct jobdb_sort_item {
    uint64_t key;
    int64_t idx;
} jobdb_sort_item;
/* order[0 .. n) = the positions 0 .. n-1 sorted by the digests hashes[32 i .. 32 i + 32)
 * (memcmp order), equal digests by position: the order of qsort_r with jobdb_by_digest,
 * by a radix sort of the 8-byte prefixes (no comparator calls) and a fix-up of the runs
 * of equal prefixes. Needs jobdb_reserve_hashes(db, n) (it uses db->sort_tmp); order may
 * be db->order or a caller's array of n. */
void jobdb_sort_by_digest(hq_jobdb *db, int64_t n, const uint8_t *hashes, int64_t *order);
/* Room for n digests in db->hashes and n positions in db->order (HQ_ERR_NOMEM). */
hq_status jobdb_reserve_hashes(hq_jobdb *db, int64_t n, const char *func);
/* Parse the digests of n keys into db->hashes (32 bytes each), validating every key, and
 * sort the batch positions by digest into db->order (ties by position): visiting the
 * B-tree in key order keeps its pages hot, which halves the cost of a large batch. */
hq_status jobdb_parse_keys(hq_jobdb *db, const char *func, int64_t n, const hq_jobdb_eval_key *keys,
                           size_t stride);
/* Check that job_id exists (HQ_ERR_NOT_FOUND naming func otherwise). */
hq_status jobdb_job_must_exist(hq_jobdb *db, int64_t job_id, const char *func);
/* Check that run_id exists (HQ_ERR_NOT_FOUND naming func otherwise). */
hq_status jobdb_run_must_exist(hq_jobdb *db, int64_t run_id, const char *func);
/* Reserve n evaluation sequence numbers first .. first + n - 1 (inside a write operation;
 * numbers of rows not inserted are simply skipped). */
hq_status jobdb_eval_reserve_seq(hq_jobdb *db, int64_t n, int64_t *first, const char *func);
/* Insert one evaluation numbered seq (ON CONFLICT DO NOTHING); *inserted says whether it
 * was new. */
hq_status jobdb_eval_insert(hq_jobdb *db, const uint8_t hash[32], const hq_jobdb_eval_key *key,
                            const hq_counts *counts, const double *expect, int64_t n_expect,
                            int64_t job_id, int64_t run_id, int64_t seq, bool *inserted,
                            const char *func);

/* A job's circuit list (jobs.circuits; format in db/blob.c and docs/db.md): n digests
 * (n x 32 bytes) and n basis tags (bases NULL: all "Z"; each 1..200 bytes, checked by the
 * caller) encoded into out, which is reset first. HQ_ERR_NOMEM. */
hq_status jobdb_circlist_encode(int64_t n, const uint8_t *hashes, const char *const *bases,
                                hq_sbuf *out);
/* Decode a circuit list that must hold n circuits: *digests = offset of the n x 32 digest
 * bytes in blob, basis_at[i] = offset of circuit i's NUL-terminated basis tag (basis_at has
 * room for n). HQ_ERR_CORRUPT (message without a function prefix), HQ_ERR_UNSUPPORTED for
 * a newer format. */
hq_status jobdb_circlist_decode(const void *blob, size_t len, int64_t n, size_t *digests,
                                int64_t *basis_at);

/* Per-connection settings (foreign keys, cache, synchronous); run by schema_prepare once
 * the file is known to be ours and before anything is written. */
hq_status jobdb_apply_settings(hq_jobdb *db);
/* Job state <-> the text stored in jobs.state ("SUBMITTED" for HQ_JOB_QUEUED). */
const char *jobdb_state_text(hq_job_state s);
bool jobdb_state_from_text(const char *text, hq_job_state *out);

/* Schema: create or migrate to HQ_JOBDB_SCHEMA_VERSION (db/schema.c). */
hq_status jobdb_schema_prepare(hq_jobdb *db);
/* The DDL that created schema `version` from an empty file when that version was current
 * (version 1; NULL for the others). Tests build old databases from it. */
const char *jobdb_schema_script(int version);
/* Build the tables of schema `version` (1 .. HQ_JOBDB_SCHEMA_VERSION) in an empty database
 * by running the migration scripts 1..version (their data conversions are skipped: there
 * are no rows). Tests make files of older versions with it. Returns an SQLite code. */
int jobdb_schema_build(sqlite3 *conn, int version);

#endif /* HQ_JOBDB_IMPL_H */
