/*
 * db/jobs.c — jobs and their circuits: the write-ahead record of every request sent to a
 * provider, its state machine, and the completion step that turns a job's results into
 * evaluations in the same transaction.
 *
 *   PENDING --begin_attempt (attempts++)--> PENDING --submitted--> SUBMITTED --> RUNNING
 *      |                                       |                      |            |
 *      +--> FAILED / CANCELLED <---------------+----------------------+------------+
 *      +--> COMPLETED (local simulators)       SUBMITTED / RUNNING --> COMPLETED
 *
 * The commits that precede a request (create, set_request, begin_attempt) are durable
 * (fsync) even in SYNC_NORMAL mode: a provider must never hold a job the database has
 * forgotten (unless hq_jobdb_set_jobs_durable turned that off for an in-process backend).
 * docs/db.md states what resume does in each state.
 */
#include <stdlib.h>
#include <string.h>

#include "db/jobdb_impl.h"

#define MAX_TAG   200                /* backend / basis / calibration tags */
#define MAX_TOKEN HQ_JOBDB_TOKEN_LEN /* client tokens: a UUID's length */
#define MAX_ERROR 4096               /* stored error messages are truncated to this */

/* the flag of the commits that precede a request */
static int jobs_durable(const hq_jobdb *db) { return db->jobs_not_durable ? 0 : JOBDB_DURABLE; }

/* Text stored in jobs.state for each hq_job_state (backends/backend.h). */
static const char *const job_state_names[] = {
    [HQ_JOB_PENDING] = "PENDING", [HQ_JOB_QUEUED] = "SUBMITTED",
    [HQ_JOB_RUNNING] = "RUNNING", [HQ_JOB_COMPLETED] = "COMPLETED",
    [HQ_JOB_FAILED] = "FAILED",   [HQ_JOB_CANCELLED] = "CANCELLED",
};
_Static_assert(sizeof job_state_names / sizeof *job_state_names == HQ_JOB_STATE_COUNT,
               "one stored name per job state");

const char *jobdb_state_text(hq_job_state s) {
    return (unsigned)s < HQ_JOB_STATE_COUNT ? job_state_names[s] : "?";
}

bool jobdb_state_from_text(const char *text, hq_job_state *out) {
    for (int i = 0; text && i < HQ_JOB_STATE_COUNT; i++)
        if (!strcmp(text, job_state_names[i])) {
            *out = (hq_job_state)i;
            return true;
        }
    return false;
}

static bool is_terminal(hq_job_state s) { return hq_job_state_terminal(s); }

void hq_jobdb_job_clear(hq_jobdb_job *j) {
    if (!j) return;
    hq_free(j->backend);
    hq_free(j->remote_id);
    hq_free(j->last_error);
    hq_free(j->request);
    hq_free(j->response);
    hq_free(j->calib_submit);
    hq_free(j->calib_complete);
    memset(j, 0, sizeof *j);
}

void hq_jobdb_jobs_free(hq_jobdb_job *jobs, int64_t n) {
    if (!jobs) return;
    for (int64_t i = 0; i < n; i++) hq_jobdb_job_clear(&jobs[i]);
    hq_free(jobs);
}

void hq_jobdb_job_circuits_free(hq_jobdb_job_circuit *items, int64_t n) {
    if (!items) return;
    for (int64_t i = 0; i < n; i++) {
        hq_free(items[i].basis);
        hq_free(items[i].text);
    }
    hq_free(items);
}

static hq_status check_token(hq_jobdb *db, const char *func, const char *t) {
    hq_status s = jobdb_check_text(db, func, "client_token", t, MAX_TOKEN);
    if (s) return s;
    for (const char *p = t; *p; p++)
        if (*p <= ' ' || *p > '~')
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: client_token '%s' has a character outside printable ASCII", func,
                            t);
    return HQ_OK;
}

/* Bind an optional message, truncated to MAX_ERROR bytes. */
static void bind_error(sqlite3_stmt *st, int i, const char *msg) {
    if (msg) sqlite3_bind_text(st, i, msg, (int)strnlen(msg, MAX_ERROR), SQLITE_STATIC);
}

/* ==== create =========================================================================== */

static const char SQL_JOB_TOKEN_OWNER[] = "SELECT id FROM jobs WHERE client_token = ?1";
static const char SQL_JOB_EXISTS[] = "SELECT run_id FROM jobs WHERE id = ?1";
static const char SQL_JOB_INSERT[] =
    "INSERT INTO jobs(run_id, backend, client_token, retry_of, n_circuits, shots, request, "
    "calib_submit, created_at, updated_at, circuits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
    "?9, ?10)";

hq_status jobdb_job_must_exist(hq_jobdb *db, int64_t job_id, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_JOB_EXISTS, SQL_JOB_EXISTS, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    jobdb_done(st);
    if (rc == SQLITE_ROW) return HQ_OK;
    if (rc == SQLITE_DONE)
        return hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: job %lld does not exist in %s", func,
                        (long long)job_id, db->path);
    return jobdb_fail(db, rc, func, "looking up the job");
}

static hq_status check_spec(hq_jobdb *db, const hq_jobdb_job_spec *sp, const char *f) {
    hq_status s;
    if ((s = jobdb_check_id(db, f, "run_id", sp->run_id)) ||
        (s = jobdb_check_text(db, f, "backend", sp->backend, MAX_TAG)))
        return s;
    if (sp->shots < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: shots %lld must be >= 0 (0 = exact)",
                        f, (long long)sp->shots);
    if (sp->n_circuits < 1 || sp->n_circuits > (INT64_C(1) << 31))
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: n_circuits %lld out of range [1, 2^31]", f, (long long)sp->n_circuits);
    if (!sp->hashes && !sp->digests)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: the circuits are given neither as digests (32 bytes each) nor as "
                        "hashes (64 hex digits each): both are NULL",
                        f);
    if (sp->request_len && !sp->request)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: request is NULL but request_len is %zu", f, sp->request_len);
    if (sp->calibration && strlen(sp->calibration) > MAX_TAG)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: calibration longer than %d bytes", f,
                        MAX_TAG);
    if (sp->client_token && (s = check_token(db, f, sp->client_token))) return s;
    if (sp->retry_of < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: retry_of %lld must be >= 0 (0 = none)",
                        f, (long long)sp->retry_of);
    if ((s = jobdb_reserve_hashes(db, sp->n_circuits, f))) return s;
    if (sp->digests) memcpy(db->hashes, sp->digests, (size_t)sp->n_circuits * 32);
    for (int64_t i = 0; i < sp->n_circuits; i++) { /* parsed into db->hashes for the insert */
        char arg[40]; /* formatted only for a message: this runs per circuit */
        if (!sp->digests && jobdb_parse_hash(db, f, "hash", sp->hashes[i], db->hashes + 32 * i)) {
            snprintf(arg, sizeof arg, "hashes[%lld]", (long long)i);
            return jobdb_parse_hash(db, f, arg, sp->hashes[i], db->hashes + 32 * i);
        }
        if (sp->bases && !jobdb_text_ok(sp->bases[i], MAX_TAG)) {
            snprintf(arg, sizeof arg, "bases[%lld]", (long long)i);
            return jobdb_check_text(db, f, arg, sp->bases[i], MAX_TAG);
        }
    }
    return HQ_OK;
}

hq_status hq_jobdb_job_create(hq_jobdb *db, const hq_jobdb_job_spec *spec, int64_t *job_id,
                              char token[HQ_JOBDB_TOKEN_LEN + 1]) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_create";
    if (!spec || !job_id)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: spec or job_id is NULL", f);
    *job_id = 0;
    if (token) token[0] = '\0';
    hq_status s = check_spec(db, spec, f);
    if (s) return s;
    char fresh[HQ_JOBDB_TOKEN_LEN + 1];
    const char *tok = spec->client_token;
    if (!tok) {
        if ((s = hq_jobdb_new_token(fresh))) return hq_fail_prefix(&db->h.err, s, "%s", f);
        tok = fresh;
    }
    if ((s = jobdb_op_begin(db, JOBDB_WRITE | jobs_durable(db), f))) return s;
    if ((s = jobdb_run_must_exist(db, spec->run_id, f))) goto out;
    sqlite3_stmt *st;
    int rc;
    if (spec->retry_of > 0) {
        if ((s = jobdb_stmt(db, ST_JOB_EXISTS, SQL_JOB_EXISTS, &st))) goto out;
        sqlite3_bind_int64(st, 1, spec->retry_of);
        rc = sqlite3_step(st);
        int64_t run = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        jobdb_done(st);
        if (rc == SQLITE_DONE || (rc == SQLITE_ROW && run != spec->run_id)) {
            s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND,
                         "%s: retry_of: job %lld does not exist in run %lld", f,
                         (long long)spec->retry_of, (long long)spec->run_id);
            goto out;
        }
        if (rc != SQLITE_ROW) {
            s = jobdb_fail(db, rc, f, "looking up the retried job");
            goto out;
        }
    }
    if ((s = jobdb_stmt(db, ST_JOB_TOKEN_OWNER, SQL_JOB_TOKEN_OWNER, &st))) goto out;
    sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int64_t owner = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    jobdb_done(st);
    if (rc == SQLITE_ROW) {
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: client token '%s' is already used by job %lld (tokens are unique "
                     "idempotency keys)\n---> HINT: pass client_token = NULL for a fresh one",
                     f, tok, (long long)owner);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "looking up the client token");
        goto out;
    }
    /* the circuit list: one blob in the job's row (a row per circuit cost more than the
     * rest of the job's bookkeeping) */
    if ((s = jobdb_circlist_encode(spec->n_circuits, db->hashes, spec->bases, &db->scratch))) {
        s = hq_fail_prefix(&db->h.err, s, "%s", f);
        goto out;
    }
    for (int64_t i = 0; spec->texts && i < spec->n_circuits && !s; i++)
        if (spec->texts[i]) s = jobdb_circuit_store(db, db->hashes + 32 * i, spec->texts[i], f);
    if (s) goto out;
    double now = hq_time_wall();
    if ((s = jobdb_stmt(db, ST_JOB_INSERT, SQL_JOB_INSERT, &st))) goto out;
    sqlite3_bind_int64(st, 1, spec->run_id);
    sqlite3_bind_text(st, 2, spec->backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tok, -1, SQLITE_STATIC);
    if (spec->retry_of > 0) sqlite3_bind_int64(st, 4, spec->retry_of);
    sqlite3_bind_int64(st, 5, spec->n_circuits);
    sqlite3_bind_int64(st, 6, spec->shots);
    if (spec->request) sqlite3_bind_blob64(st, 7, spec->request, spec->request_len, SQLITE_STATIC);
    if (spec->calibration && *spec->calibration)
        sqlite3_bind_text(st, 8, spec->calibration, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 9, now);
    sqlite3_bind_blob64(st, 10, db->scratch.p, db->scratch.len, SQLITE_STATIC);
    s = jobdb_step_done(db, st, f, "inserting the job");
    jobdb_done(st);
    if (s == HQ_OK) *job_id = sqlite3_last_insert_rowid(db->conn);
out:
    s = jobdb_op_end(db, s, f);
    if (s) {
        *job_id = 0;
        return s;
    }
    if (token) snprintf(token, HQ_JOBDB_TOKEN_LEN + 1, "%s", tok);
    return HQ_OK;
}

/* ==== state changes ==================================================================== */

static const char SQL_JOB_STATE[] =
    "SELECT state, remote_id, n_circuits, shots, backend, calib_submit, run_id FROM jobs "
    "WHERE id = ?1";

/* What the state-changing calls need to know about a job (strings copied into fixed
 * buffers, so the statement can be reset at once). */
typedef struct job_head {
    hq_job_state state;
    bool has_remote;
    char remote[256];
    int64_t n_circuits, shots, run_id;
    char backend[MAX_TAG + 1];
    char calib_submit[MAX_TAG + 1];
    bool has_calib;
} job_head;

static hq_status read_head(hq_jobdb *db, int64_t id, job_head *h, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_JOB_STATE, SQL_JOB_STATE, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(h, 0, sizeof *h);
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (!jobdb_state_from_text(state, &h->state))
            s = hq_failf(&db->h.err, HQ_ERR_CORRUPT, "%s: job %lld has an unknown state '%s'", func,
                         (long long)id, state ? state : "(null)");
        h->has_remote = sqlite3_column_type(st, 1) != SQLITE_NULL;
        if (h->has_remote)
            snprintf(h->remote, sizeof h->remote, "%s", (const char *)sqlite3_column_text(st, 1));
        h->n_circuits = sqlite3_column_int64(st, 2);
        h->shots = sqlite3_column_int64(st, 3);
        snprintf(h->backend, sizeof h->backend, "%s", (const char *)sqlite3_column_text(st, 4));
        h->has_calib = sqlite3_column_type(st, 5) != SQLITE_NULL;
        if (h->has_calib)
            snprintf(h->calib_submit, sizeof h->calib_submit, "%s",
                     (const char *)sqlite3_column_text(st, 5));
        h->run_id = sqlite3_column_int64(st, 6);
    } else if (rc == SQLITE_DONE) {
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: job %lld does not exist in %s", func,
                     (long long)id, db->path);
    } else {
        s = jobdb_fail(db, rc, func, "reading the job");
    }
    jobdb_done(st);
    return s;
}

static hq_status bad_transition(hq_jobdb *db, const char *func, int64_t id, hq_job_state from,
                                hq_job_state to) {
    return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: job %lld is %s: it cannot become %s%s",
                    func, (long long)id, job_state_names[from], job_state_names[to],
                    is_terminal(from) ? " (terminal state; create a new job with retry_of to "
                                        "run its circuits again)"
                                      : "");
}

static const char SQL_JOB_SET_REQUEST[] =
    "UPDATE jobs SET request = ?2, updated_at = ?3 WHERE id = ?1";
static const char SQL_JOB_ATTEMPT[] =
    "UPDATE jobs SET attempts = attempts + 1, attempted_at = ?2, updated_at = ?2 WHERE id = ?1";

hq_status hq_jobdb_job_set_request(hq_jobdb *db, int64_t job_id, const void *body, size_t len) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_set_request";
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    if (!body && len)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: body is NULL but len is %zu", f, len);
    if ((s = jobdb_op_begin(db, JOBDB_WRITE | jobs_durable(db), f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    if (h.state != HQ_JOB_PENDING) {
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: job %lld is %s: its request can only change while PENDING", f,
                     (long long)job_id, job_state_names[h.state]);
        goto out;
    }
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_SET_REQUEST, SQL_JOB_SET_REQUEST, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    if (body) sqlite3_bind_blob64(st, 2, body, len, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, hq_time_wall());
    s = jobdb_step_done(db, st, f, "storing the request");
    jobdb_done(st);
out:
    return jobdb_op_end(db, s, f);
}

hq_status hq_jobdb_job_begin_attempt(hq_jobdb *db, int64_t job_id) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_begin_attempt";
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    if ((s = jobdb_op_begin(db, JOBDB_WRITE | jobs_durable(db), f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    if (h.state != HQ_JOB_PENDING) {
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: job %lld is %s: only a PENDING job is submitted (it is already at the "
                     "provider as '%s')",
                     f, (long long)job_id, job_state_names[h.state], h.has_remote ? h.remote : "?");
        goto out;
    }
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_ATTEMPT, SQL_JOB_ATTEMPT, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_double(st, 2, hq_time_wall());
    s = jobdb_step_done(db, st, f, "counting the attempt");
    jobdb_done(st);
out:
    return jobdb_op_end(db, s, f);
}

static const char SQL_JOB_SUBMITTED[] =
    "UPDATE jobs SET state = 'SUBMITTED', remote_id = ?2, calib_submit = coalesce(?3, "
    "calib_submit), submitted_at = ?4, updated_at = ?4 WHERE id = ?1";

hq_status hq_jobdb_job_submitted(hq_jobdb *db, int64_t job_id, const char *remote_id,
                                 const char *calibration) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_submitted";
    hq_status s;
    if ((s = jobdb_check_id(db, f, "job_id", job_id)) ||
        (s = jobdb_check_text(db, f, "remote_id", remote_id, 255)))
        return s;
    if (calibration && strlen(calibration) > MAX_TAG)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: calibration longer than %d bytes", f,
                        MAX_TAG);
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    if (h.state != HQ_JOB_PENDING) {
        if (h.has_remote && !strcmp(h.remote, remote_id)) goto out; /* repeated: no-op */
        if (h.has_remote)
            s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                         "%s: job %lld was already accepted as '%s', not '%s' (one client token "
                         "must map to one provider job)",
                         f, (long long)job_id, h.remote, remote_id);
        else
            s = bad_transition(db, f, job_id, h.state, HQ_JOB_QUEUED);
        goto out;
    }
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_SUBMITTED, SQL_JOB_SUBMITTED, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_text(st, 2, remote_id, -1, SQLITE_STATIC);
    if (calibration && *calibration) sqlite3_bind_text(st, 3, calibration, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, hq_time_wall());
    int rc = sqlite3_step(st);
    jobdb_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: remote id '%s' of backend %s already belongs to another job (see "
                     "hq_jobdb_job_find_remote)",
                     f, remote_id, h.backend);
    else if (rc != SQLITE_DONE)
        s = jobdb_fail(db, rc, f, "marking the job submitted");
out:
    return jobdb_op_end(db, s, f);
}

static const char SQL_JOB_SET_STATE[] =
    "UPDATE jobs SET state = ?2, last_error = coalesce(?3, last_error), finished_at = CASE "
    "WHEN ?2 IN ('FAILED', 'CANCELLED') THEN ?4 ELSE finished_at END, updated_at = ?4 "
    "WHERE id = ?1";

hq_status hq_jobdb_job_set_state(hq_jobdb *db, int64_t job_id, hq_job_state state,
                                 const char *error) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_set_state";
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    if (state != HQ_JOB_QUEUED && state != HQ_JOB_RUNNING && state != HQ_JOB_FAILED &&
        state != HQ_JOB_CANCELLED)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: state %s (%d) is not set this way: use RUNNING, FAILED or CANCELLED "
                        "(hq_jobdb_job_submitted / hq_jobdb_job_complete for the others)",
                        f, jobdb_state_text(state), (int)state);
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    if (h.state == state) goto out; /* repeated poll result: no-op */
    /* QUEUED is only ever a repeat (handled above): submitted() is how a job gets there */
    bool ok = state != HQ_JOB_QUEUED && ((h.state == HQ_JOB_PENDING && state != HQ_JOB_RUNNING) ||
                                         h.state == HQ_JOB_QUEUED || h.state == HQ_JOB_RUNNING);
    if (!ok) {
        s = bad_transition(db, f, job_id, h.state, state);
        goto out;
    }
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_SET_STATE, SQL_JOB_SET_STATE, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    sqlite3_bind_text(st, 2, job_state_names[state], -1, SQLITE_STATIC);
    bind_error(st, 3, error);
    sqlite3_bind_double(st, 4, hq_time_wall());
    s = jobdb_step_done(db, st, f, "changing the job state");
    jobdb_done(st);
out:
    return jobdb_op_end(db, s, f);
}

static const char SQL_JOB_NOTE_ERROR[] =
    "UPDATE jobs SET last_error = ?2, updated_at = ?3 WHERE id = ?1";

hq_status hq_jobdb_job_note_error(hq_jobdb *db, int64_t job_id, const char *error) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_note_error";
    hq_status s;
    if ((s = jobdb_check_id(db, f, "job_id", job_id)) ||
        (s = jobdb_check_text(db, f, "error", error, SIZE_MAX / 2)))
        return s;
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_NOTE_ERROR, SQL_JOB_NOTE_ERROR, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    bind_error(st, 2, error);
    sqlite3_bind_double(st, 3, hq_time_wall());
    s = jobdb_step_done(db, st, f, "recording the error");
    jobdb_done(st);
    if (s == HQ_OK && sqlite3_changes(db->conn) == 0)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: job %lld does not exist in %s", f,
                     (long long)job_id, db->path);
out:
    return jobdb_op_end(db, s, f);
}

/* ==== completion ======================================================================= */

static const char SQL_JOB_CIRC_KEYS[] = "SELECT circuits FROM jobs WHERE id = ?1";

/* Read job_id's circuit list (it has n circuits) into a copy *list (hq_free it): the
 * digests start at *digests, circuit i's basis tag at basis_at[i] (room for n). Inside an
 * operation. */
static hq_status read_circlist(hq_jobdb *db, int64_t job_id, int64_t n, uint8_t **list,
                               size_t *digests, int64_t *basis_at, const char *f) {
    *list = NULL;
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_JOB_CIRC_KEYS, SQL_JOB_CIRC_KEYS, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, job_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *b = sqlite3_column_blob(st, 0);
        uint8_t *copy = len ? hq_malloc(len) : NULL;
        if (len && !copy) {
            s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory (%zu bytes)", f, len);
        } else {
            if (len) memcpy(copy, b, len);
            s = jobdb_circlist_decode(copy, len, n, digests, basis_at);
            if (s) {
                s = hq_fail_prefix(&db->h.err, s, "%s: job %lld in %s", f, (long long)job_id,
                                   db->path);
                hq_free(copy);
            } else {
                *list = copy;
            }
        }
    } else if (rc == SQLITE_DONE) {
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: job %lld does not exist in %s", f,
                     (long long)job_id, db->path);
    } else {
        s = jobdb_fail(db, rc, f, "reading the job's circuits");
    }
    jobdb_done(st);
    return s;
}

static const char SQL_JOB_COMPLETE[] =
    "UPDATE jobs SET state = 'COMPLETED', response = ?2, calib_complete = ?3, finished_at = ?4, "
    "updated_at = ?4 WHERE id = ?1";

hq_status hq_jobdb_job_complete(hq_jobdb *db, int64_t job_id, const void *response,
                                size_t response_len, const char *calibration, int64_t n,
                                const hq_jobdb_result *results) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_complete";
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    if (!response && response_len)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: response is NULL but response_len is %zu", f, response_len);
    if (n < 1 || !results)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: n = %lld with results %s (need one "
                        "result per circuit of the job)",
                        f, (long long)n, results ? "given" : "NULL");
    if (calibration && strlen(calibration) > MAX_TAG)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: calibration longer than %d bytes", f,
                        MAX_TAG);
    for (int64_t i = 0; i < n; i++) {
        if (!results[i].counts && !results[i].expect)
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: results[%lld] has neither counts nor expectation values", f,
                            (long long)i);
        if (results[i].expect && (results[i].n_expect < 0 || results[i].n_expect > (1 << 24)))
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: results[%lld].n_expect %lld out of range [0, 2^24]", f,
                            (long long)i, (long long)results[i].n_expect);
    }
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    if (h.state == HQ_JOB_COMPLETED) goto out; /* a replayed fetch: results already stored */
    if (is_terminal(h.state)) {
        s = bad_transition(db, f, job_id, h.state, HQ_JOB_COMPLETED);
        goto out;
    }
    if (n != h.n_circuits) {
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: job %lld has %lld circuits but %lld results were given", f,
                     (long long)job_id, (long long)h.n_circuits, (long long)n);
        goto out;
    }
    const char *cal = calibration ? calibration : h.has_calib ? h.calib_submit : "";
    /* the job's circuits (digest + basis by position), then the inserts in digest order:
     * the key index is walked once front to back instead of at random, which keeps its
     * pages hot (the same reason jobdb_parse_keys sorts lookups) */
    if ((s = jobdb_reserve_hashes(db, n, f))) goto out;
    uint8_t *list;
    size_t dig;
    if ((s = read_circlist(db, job_id, n, &list, &dig, db->order, f))) goto out;
    const uint8_t *hashes = list + dig;
    int64_t *perm = s ? NULL : hq_malloc((size_t)n * sizeof *perm);
    if (s == HQ_OK && !perm) s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
    for (int64_t k = 0; s == HQ_OK && k < n; k++) perm[k] = k;
    if (s == HQ_OK) jobdb_sort_by_digest(db, n, hashes, perm);
    int64_t seq = 0;
    if (s == HQ_OK) s = jobdb_eval_reserve_seq(db, n, &seq, f);
    for (int64_t o = 0; s == HQ_OK && o < n; o++) {
        int64_t k = perm[o];
        hq_jobdb_eval_key key = {.backend = h.backend,
                                 .shots = h.shots,
                                 .basis = (const char *)list + db->order[k],
                                 .mitigation = "",
                                 .calibration = cal};
        bool ins;
        s = jobdb_eval_insert(db, hashes + 32 * k, &key, results[k].counts, results[k].expect,
                              results[k].n_expect, job_id, h.run_id, seq + k, &ins, f);
        if (s == HQ_ERR_INVALID_ARG || s == HQ_ERR_NOMEM)
            s = hq_fail_prefix(&db->h.err, s, "%s: results[%lld]", f, (long long)k);
    }
    hq_free(perm);
    hq_free(list);
    if (s) goto out;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_JOB_COMPLETE, SQL_JOB_COMPLETE, &st))) goto out;
    sqlite3_bind_int64(st, 1, job_id);
    if (response) sqlite3_bind_blob64(st, 2, response, response_len, SQLITE_STATIC);
    if (calibration && *calibration) sqlite3_bind_text(st, 3, calibration, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, hq_time_wall());
    s = jobdb_step_done(db, st, f, "marking the job completed");
    jobdb_done(st);
out:
    return jobdb_op_end(db, s, f);
}

/* ==== read ============================================================================= */

#define JOB_COLS_HEAD                                                                    \
    "SELECT id, run_id, retry_of, backend, client_token, remote_id, state, n_circuits, " \
    "shots, attempts, last_error, "
#define JOB_COLS_TAIL                                                                       \
    ", calib_submit, calib_complete, created_at, attempted_at, submitted_at, finished_at, " \
    "updated_at FROM jobs "
static const char SQL_JOB_GET[] = JOB_COLS_HEAD "request, response" JOB_COLS_TAIL "WHERE id = ?1";
static const char SQL_JOB_FIND_TOKEN[] =
    JOB_COLS_HEAD "request, response" JOB_COLS_TAIL "WHERE client_token = ?1";
static const char SQL_JOB_FIND_REMOTE[] =
    JOB_COLS_HEAD "request, response" JOB_COLS_TAIL "WHERE backend = ?1 AND remote_id = ?2";
static const char SQL_JOB_LIST[] =
    JOB_COLS_HEAD "NULL, NULL" JOB_COLS_TAIL "WHERE run_id = ?1 ORDER BY id";
static const char SQL_JOB_LIST_ALL[] = JOB_COLS_HEAD "NULL, NULL" JOB_COLS_TAIL "ORDER BY id";

static hq_status read_job(hq_jobdb *db, sqlite3_stmt *st, hq_jobdb_job *j) {
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(st, 0);
    j->run_id = sqlite3_column_int64(st, 1);
    j->retry_of = sqlite3_column_int64(st, 2);
    const char *tok = (const char *)sqlite3_column_text(st, 4);
    snprintf(j->token, sizeof j->token, "%s", tok ? tok : "");
    const char *state = (const char *)sqlite3_column_text(st, 6);
    if (!jobdb_state_from_text(state, &j->state))
        return hq_failf(&db->h.err, HQ_ERR_CORRUPT, "hq_jobdb: job %lld has an unknown state '%s'",
                        (long long)j->id, state ? state : "(null)");
    j->n_circuits = sqlite3_column_int64(st, 7);
    j->shots = sqlite3_column_int64(st, 8);
    j->attempts = sqlite3_column_int64(st, 9);
    j->created_at = sqlite3_column_double(st, 15);
    j->attempted_at = sqlite3_column_double(st, 16);
    j->submitted_at = sqlite3_column_double(st, 17);
    j->finished_at = sqlite3_column_double(st, 18);
    j->updated_at = sqlite3_column_double(st, 19);
    hq_status s;
    if ((s = jobdb_col_text(db, st, 3, &j->backend)) ||
        (s = jobdb_col_text(db, st, 5, &j->remote_id)) ||
        (s = jobdb_col_text(db, st, 10, &j->last_error)) ||
        (s = jobdb_col_blob(db, st, 11, &j->request, &j->request_len)) ||
        (s = jobdb_col_blob(db, st, 12, &j->response, &j->response_len)) ||
        (s = jobdb_col_text(db, st, 13, &j->calib_submit)) ||
        (s = jobdb_col_text(db, st, 14, &j->calib_complete)))
        hq_jobdb_job_clear(j);
    return s;
}

static hq_status job_get_one(hq_jobdb *db, jobdb_stmt_id id, const char *sql, int64_t job,
                             const char *a, const char *b, hq_jobdb_job *out, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, id, sql, &st);
    if (s) return s;
    if (a) {
        sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(st, 1, job);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = read_job(db, st, out);
    else if (rc == SQLITE_DONE && b)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: no job of backend %s with remote id '%s'",
                     func, a, b);
    else if (rc == SQLITE_DONE && a)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: no job with client token '%s'", func, a);
    else if (rc == SQLITE_DONE)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: job %lld does not exist in %s", func,
                     (long long)job, db->path);
    else
        s = jobdb_fail(db, rc, func, "reading the job");
    jobdb_done(st);
    return s;
}

hq_status hq_jobdb_job_get(hq_jobdb *db, int64_t job_id, hq_jobdb_job *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_get";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    return job_get_one(db, ST_JOB_GET, SQL_JOB_GET, job_id, NULL, NULL, out, f);
}

hq_status hq_jobdb_job_find_token(hq_jobdb *db, const char *token, hq_jobdb_job *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_find_token";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_text(db, f, "token", token, MAX_TOKEN);
    if (s) return s;
    return job_get_one(db, ST_JOB_FIND_TOKEN, SQL_JOB_FIND_TOKEN, 0, token, NULL, out, f);
}

hq_status hq_jobdb_job_find_remote(hq_jobdb *db, const char *backend, const char *remote_id,
                                   hq_jobdb_job *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_find_remote";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s;
    if ((s = jobdb_check_text(db, f, "backend", backend, MAX_TAG)) ||
        (s = jobdb_check_text(db, f, "remote_id", remote_id, 255)))
        return s;
    return job_get_one(db, ST_JOB_FIND_REMOTE, SQL_JOB_FIND_REMOTE, 0, backend, remote_id, out, f);
}

hq_status hq_jobdb_job_list(hq_jobdb *db, int64_t run_id, unsigned state_mask, hq_jobdb_job **jobs,
                            int64_t *n) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_list";
    if (!jobs || !n) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: jobs or n is NULL", f);
    *jobs = NULL;
    *n = 0;
    if (run_id < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: run_id %lld must be >= 0 (0 = all)", f,
                        (long long)run_id);
    if (state_mask & ~(unsigned)HQ_JOB_MASK_ALL)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: state_mask 0x%x has bits outside HQ_JOB_MASK_ALL (0x%x)", f,
                        state_mask, (unsigned)HQ_JOB_MASK_ALL);
    sqlite3_stmt *st;
    hq_status s = run_id ? jobdb_stmt(db, ST_JOB_LIST, SQL_JOB_LIST, &st)
                         : jobdb_stmt(db, ST_JOB_LIST_ALL, SQL_JOB_LIST_ALL, &st);
    if (s) return s;
    if (run_id) sqlite3_bind_int64(st, 1, run_id);
    hq_jobdb_job *arr = NULL;
    int64_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        hq_job_state js = HQ_JOB_PENDING;
        if (jobdb_state_from_text((const char *)sqlite3_column_text(st, 6), &js) &&
            !(state_mask & HQ_JOB_MASK(js)))
            continue;
        if (cnt == cap) {
            int64_t nc = cap ? cap * 2 : 16;
            hq_jobdb_job *na = hq_realloc(arr, (size_t)nc * sizeof *na);
            if (!na) {
                s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
                break;
            }
            arr = na, cap = nc;
        }
        if ((s = read_job(db, st, &arr[cnt]))) break;
        cnt++;
    }
    if (s == HQ_OK && rc != SQLITE_DONE) s = jobdb_fail(db, rc, f, "listing jobs");
    jobdb_done(st);
    if (s) {
        hq_jobdb_jobs_free(arr, cnt);
        return s;
    }
    *jobs = arr;
    *n = cnt;
    return HQ_OK;
}

static const char SQL_JOB_CIRCUITS_TEXT[] = "SELECT text FROM circuits WHERE hash = ?1";

hq_status hq_jobdb_job_circuits(hq_jobdb *db, int64_t job_id, bool with_text,
                                hq_jobdb_job_circuit **items, int64_t *n) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_job_circuits";
    if (!items || !n) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: items or n is NULL", f);
    *items = NULL;
    *n = 0;
    hq_status s = jobdb_check_id(db, f, "job_id", job_id);
    if (s) return s;
    if ((s = jobdb_op_begin(db, JOBDB_READ, f))) return s;
    job_head h;
    if ((s = read_head(db, job_id, &h, f))) goto out;
    hq_jobdb_job_circuit *arr = hq_calloc((size_t)h.n_circuits, sizeof *arr);
    int64_t *at = hq_malloc((size_t)h.n_circuits * sizeof *at);
    if (!arr || !at) {
        hq_free(arr);
        hq_free(at);
        s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory (%lld circuits)", f,
                     (long long)h.n_circuits);
        goto out;
    }
    uint8_t *list;
    size_t dig;
    if ((s = read_circlist(db, job_id, h.n_circuits, &list, &dig, at, f))) {
        hq_free(arr);
        hq_free(at);
        goto out;
    }
    int64_t cnt = 0;
    for (; cnt < h.n_circuits && !s; cnt++) {
        jobdb_hash_hex(list + dig + 32 * cnt, arr[cnt].hash);
        if (!(arr[cnt].basis = hq_strdup((const char *)list + at[cnt]))) {
            s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
            break;
        }
        if (!with_text) continue;
        sqlite3_stmt *st;
        if ((s = jobdb_stmt(db, ST_JOB_CIRCUITS_TEXT, SQL_JOB_CIRCUITS_TEXT, &st))) break;
        sqlite3_bind_blob(st, 1, list + dig + 32 * cnt, 32, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            s = jobdb_col_text(db, st, 0, &arr[cnt].text);
        else if (rc != SQLITE_DONE) /* no stored text: NULL */
            s = jobdb_fail(db, rc, f, "reading a circuit's text");
        jobdb_done(st);
    }
    hq_free(list);
    hq_free(at);
    if (s) {
        hq_jobdb_job_circuits_free(arr, h.n_circuits);
        goto out;
    }
    *items = arr;
    *n = cnt;
out:
    s = jobdb_op_end(db, s, f);
    if (s && *items) {
        hq_jobdb_job_circuits_free(*items, *n);
        *items = NULL;
        *n = 0;
    }
    return s;
}
