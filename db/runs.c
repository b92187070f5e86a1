/*
 * db/runs.c — the runs table (one row per training / evaluation run: its config, seed,
 * code version, backend, plan and status) and the per-run statistics query.
 */
#include <string.h>

#include "db/jobdb_impl.h"

static const char *const run_status_names[] = {
    [HQ_RUN_CREATED] = "CREATED",         [HQ_RUN_RUNNING] = "RUNNING",
    [HQ_RUN_INTERRUPTED] = "INTERRUPTED", [HQ_RUN_COMPLETED] = "COMPLETED",
    [HQ_RUN_FAILED] = "FAILED",           [HQ_RUN_CANCELLED] = "CANCELLED",
};
_Static_assert(sizeof run_status_names / sizeof *run_status_names == HQ_RUN_STATUS_COUNT,
               "one name per run status");

const char *hq_run_status_name(hq_run_status s) {
    return (unsigned)s < HQ_RUN_STATUS_COUNT ? run_status_names[s] : "?";
}

hq_status hq_run_status_parse(const char *name, hq_run_status *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_run_status_parse: out is NULL");
    for (int i = 0; name && i < HQ_RUN_STATUS_COUNT; i++)
        if (!strcmp(name, run_status_names[i])) {
            *out = (hq_run_status)i;
            return HQ_OK;
        }
    return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                    "hq_run_status_parse: unknown run status '%s' (valid: CREATED, RUNNING, "
                    "INTERRUPTED, COMPLETED, FAILED, CANCELLED)",
                    name ? name : "(null)");
}

void hq_jobdb_run_clear(hq_jobdb_run *r) {
    if (!r) return;
    hq_free(r->name);
    hq_free(r->code_version);
    hq_free(r->backend);
    hq_free(r->config_json);
    hq_free(r->plan_json);
    memset(r, 0, sizeof *r);
}

void hq_jobdb_runs_free(hq_jobdb_run *runs, int64_t n) {
    if (!runs) return;
    for (int64_t i = 0; i < n; i++) hq_jobdb_run_clear(&runs[i]);
    hq_free(runs);
}

/* ==== create / update ================================================================== */

static const char SQL_RUN_BY_NAME_ID[] = "SELECT id FROM runs WHERE name = ?1";
static const char SQL_RUN_INSERT[] =
    "INSERT INTO runs(name, created_at, updated_at, seed, code_version, backend, config_json, "
    "plan_json) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_RUN_EXISTS[] = "SELECT 1 FROM runs WHERE id = ?1";

hq_status jobdb_run_must_exist(hq_jobdb *db, int64_t run_id, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_RUN_EXISTS, SQL_RUN_EXISTS, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    jobdb_done(st);
    if (rc == SQLITE_ROW) return HQ_OK;
    if (rc == SQLITE_DONE)
        return hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: run %lld does not exist in %s", func,
                        (long long)run_id, db->path);
    return jobdb_fail(db, rc, func, "looking up the run");
}

hq_status hq_jobdb_run_create(hq_jobdb *db, const hq_jobdb_run *spec, int64_t *run_id) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_create";
    hq_status s;
    if (!spec || !run_id)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: spec or run_id is NULL", f);
    *run_id = 0;
    if ((s = jobdb_check_text(db, f, "name", spec->name, 200)) ||
        (s = jobdb_check_text(db, f, "code_version", spec->code_version, 200)) ||
        (s = jobdb_check_text(db, f, "backend", spec->backend, 200)) ||
        (s = jobdb_check_json(db, f, "config_json", spec->config_json)) ||
        (spec->plan_json && (s = jobdb_check_json(db, f, "plan_json", spec->plan_json))))
        return s;
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_RUN_BY_NAME_ID, SQL_RUN_BY_NAME_ID, &st))) goto out;
    sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t other = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    jobdb_done(st);
    if (rc == SQLITE_ROW) {
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: a run named '%s' already exists (run %lld)\n---> HINT: choose another "
                     "name, or continue that run with `hqcnn resume %s`",
                     f, spec->name, (long long)other, spec->name);
        goto out;
    }
    if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "looking up the run name");
        goto out;
    }
    if ((s = jobdb_stmt(db, ST_RUN_INSERT, SQL_RUN_INSERT, &st))) goto out;
    sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, hq_time_wall());
    sqlite3_bind_int64(st, 3, (int64_t)spec->seed); /* stored two's complement */
    sqlite3_bind_text(st, 4, spec->code_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, spec->backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, spec->config_json, -1, SQLITE_STATIC);
    if (spec->plan_json) sqlite3_bind_text(st, 7, spec->plan_json, -1, SQLITE_STATIC);
    s = jobdb_step_done(db, st, f, "inserting the run");
    jobdb_done(st);
    if (s == HQ_OK) *run_id = sqlite3_last_insert_rowid(db->conn);
out:
    s = jobdb_op_end(db, s, f);
    if (s) *run_id = 0;
    return s;
}

static const char SQL_RUN_SET_STATUS[] =
    "UPDATE runs SET status = ?2, updated_at = ?3 WHERE id = ?1";
static const char SQL_RUN_SET_PLAN[] =
    "UPDATE runs SET plan_json = ?2, updated_at = ?3 WHERE id = ?1";

static hq_status run_update(hq_jobdb *db, jobdb_stmt_id id, const char *sql, int64_t run,
                            const char *value, const char *func) {
    hq_status s = jobdb_op_begin(db, JOBDB_WRITE, func);
    if (s) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, id, sql, &st))) goto out;
    sqlite3_bind_int64(st, 1, run);
    if (value) sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, hq_time_wall());
    s = jobdb_step_done(db, st, func, "updating the run");
    jobdb_done(st);
    if (s == HQ_OK && sqlite3_changes(db->conn) == 0)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: run %lld does not exist in %s", func,
                     (long long)run, db->path);
out:
    return jobdb_op_end(db, s, func);
}

hq_status hq_jobdb_run_set_status(hq_jobdb *db, int64_t id, hq_run_status status) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_set_status";
    hq_status s = jobdb_check_id(db, f, "run id", id);
    if (s) return s;
    if ((unsigned)status >= HQ_RUN_STATUS_COUNT)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: status %d out of range [0, %d)", f,
                        (int)status, HQ_RUN_STATUS_COUNT);
    return run_update(db, ST_RUN_SET_STATUS, SQL_RUN_SET_STATUS, id, run_status_names[status], f);
}

hq_status hq_jobdb_run_set_plan(hq_jobdb *db, int64_t id, const char *plan_json) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_set_plan";
    hq_status s;
    if ((s = jobdb_check_id(db, f, "run id", id)) ||
        (s = jobdb_check_json(db, f, "plan_json", plan_json)))
        return s;
    return run_update(db, ST_RUN_SET_PLAN, SQL_RUN_SET_PLAN, id, plan_json, f);
}

/* ==== read ============================================================================= */

#define RUN_COLS                                                                           \
    "id, name, created_at, updated_at, status, seed, code_version, backend, config_json, " \
    "plan_json, cache_hits, cache_misses"
static const char SQL_RUN_GET[] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1";
static const char SQL_RUN_FIND[] = "SELECT " RUN_COLS " FROM runs WHERE name = ?1";
static const char SQL_RUN_LIST[] =
    "SELECT id, name, created_at, updated_at, status, seed, code_version, backend, NULL, NULL, "
    "cache_hits, cache_misses FROM runs ORDER BY id";

static hq_status read_run(hq_jobdb *db, sqlite3_stmt *st, hq_jobdb_run *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->created_at = sqlite3_column_double(st, 2);
    r->updated_at = sqlite3_column_double(st, 3);
    const char *status = (const char *)sqlite3_column_text(st, 4);
    r->status = HQ_RUN_CREATED;
    for (int i = 0; status && i < HQ_RUN_STATUS_COUNT; i++)
        if (!strcmp(status, run_status_names[i])) r->status = (hq_run_status)i;
    r->seed = (uint64_t)sqlite3_column_int64(st, 5);
    r->cache_hits = sqlite3_column_int64(st, 10);
    r->cache_misses = sqlite3_column_int64(st, 11);
    hq_status s;
    if ((s = jobdb_col_text(db, st, 1, &r->name)) ||
        (s = jobdb_col_text(db, st, 6, &r->code_version)) ||
        (s = jobdb_col_text(db, st, 7, &r->backend)) ||
        (s = jobdb_col_text(db, st, 8, &r->config_json)) ||
        (s = jobdb_col_text(db, st, 9, &r->plan_json)))
        hq_jobdb_run_clear(r);
    return s;
}

static hq_status run_get_one(hq_jobdb *db, jobdb_stmt_id id, const char *sql, int64_t run,
                             const char *name, hq_jobdb_run *out, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, id, sql, &st);
    if (s) return s;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, run);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = read_run(db, st, out);
    else if (rc == SQLITE_DONE && name)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND,
                     "%s: no run named '%s' in %s\n---> HINT: `hqcnn runs` lists the runs", func,
                     name, db->path);
    else if (rc == SQLITE_DONE)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: run %lld does not exist in %s", func,
                     (long long)run, db->path);
    else
        s = jobdb_fail(db, rc, func, "reading the run");
    jobdb_done(st);
    return s;
}

hq_status hq_jobdb_run_get(hq_jobdb *db, int64_t id, hq_jobdb_run *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_get";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_id(db, f, "run id", id);
    if (s) return s;
    return run_get_one(db, ST_RUN_GET, SQL_RUN_GET, id, NULL, out, f);
}

hq_status hq_jobdb_run_find(hq_jobdb *db, const char *name, hq_jobdb_run *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_find";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_text(db, f, "name", name, 200);
    if (s) return s;
    return run_get_one(db, ST_RUN_FIND, SQL_RUN_FIND, 0, name, out, f);
}

hq_status hq_jobdb_run_list(hq_jobdb *db, hq_jobdb_run **runs, int64_t *n) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_list";
    if (!runs || !n) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: runs or n is NULL", f);
    *runs = NULL;
    *n = 0;
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_RUN_LIST, SQL_RUN_LIST, &st);
    if (s) return s;
    hq_jobdb_run *arr = NULL;
    int64_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            int64_t nc = cap ? cap * 2 : 16;
            hq_jobdb_run *na = hq_realloc(arr, (size_t)nc * sizeof *na);
            if (!na) {
                s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
                break;
            }
            arr = na;
            cap = nc;
        }
        if ((s = read_run(db, st, &arr[cnt]))) break;
        cnt++;
    }
    if (s == HQ_OK && rc != SQLITE_DONE) s = jobdb_fail(db, rc, f, "listing runs");
    jobdb_done(st);
    if (s) {
        hq_jobdb_runs_free(arr, cnt);
        return s;
    }
    *runs = arr;
    *n = cnt;
    return HQ_OK;
}

/* ==== statistics ======================================================================= */

static const char SQL_STATS_JOBS[] =
    "SELECT state, count(*), "
    "total(CASE WHEN remote_id IS NOT NULL THEN n_circuits * shots END), "
    "total(CASE WHEN state = 'PENDING' AND attempts > 0 THEN n_circuits * shots END), "
    "total(CASE WHEN state = 'COMPLETED' THEN n_circuits * shots END) "
    "FROM jobs WHERE run_id = ?1 GROUP BY state";
static const char SQL_STATS_EVALS[] = "SELECT count(*) FROM evaluations WHERE run_id = ?1";
static const char SQL_STATS_CK[] =
    "SELECT count(*), coalesce(max(step), -1) FROM checkpoints WHERE run_id = ?1";

hq_status hq_jobdb_run_get_stats(hq_jobdb *db, int64_t run_id, hq_jobdb_run_stats *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_run_get_stats";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_id(db, f, "run id", run_id);
    if (s) return s;
    if ((s = jobdb_op_begin(db, JOBDB_READ, f))) return s;
    hq_jobdb_run r;
    if ((s = run_get_one(db, ST_RUN_GET, SQL_RUN_GET, run_id, NULL, &r, f))) goto out;
    out->cache_hits = r.cache_hits;
    out->cache_misses = r.cache_misses;
    hq_jobdb_run_clear(&r);
    sqlite3_stmt *st;
    int rc;
    if ((s = jobdb_stmt(db, ST_STATS_JOBS, SQL_STATS_JOBS, &st))) goto out;
    sqlite3_bind_int64(st, 1, run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        hq_job_state js = HQ_JOB_PENDING;
        if (jobdb_state_from_text((const char *)sqlite3_column_text(st, 0), &js))
            out->jobs[js] = sqlite3_column_int64(st, 1);
        out->shots_submitted += (int64_t)sqlite3_column_double(st, 2);
        out->shots_uncertain += (int64_t)sqlite3_column_double(st, 3);
        out->shots_completed += (int64_t)sqlite3_column_double(st, 4);
    }
    jobdb_done(st);
    if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "counting jobs");
        goto out;
    }
    if ((s = jobdb_stmt(db, ST_STATS_EVALS, SQL_STATS_EVALS, &st))) goto out;
    sqlite3_bind_int64(st, 1, run_id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) out->evaluations = sqlite3_column_int64(st, 0);
    jobdb_done(st);
    if (rc != SQLITE_ROW) {
        s = jobdb_fail(db, rc, f, "counting evaluations");
        goto out;
    }
    if ((s = jobdb_stmt(db, ST_STATS_CK, SQL_STATS_CK, &st))) goto out;
    sqlite3_bind_int64(st, 1, run_id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->checkpoints = sqlite3_column_int64(st, 0);
        out->last_step = sqlite3_column_int64(st, 1);
    }
    jobdb_done(st);
    if (rc != SQLITE_ROW) s = jobdb_fail(db, rc, f, "counting checkpoints");
out:
    s = jobdb_op_end(db, s, f);
    if (s) memset(out, 0, sizeof *out);
    return s;
}
