/*
 * db/calibrations.c — device calibration documents (IBM backend properties, IonQ
 * characterizations) keyed by (backend, provider calibration id), so a noise study or a
 * resumed run can rebuild the exact noise model a result was taken under.
 */
#include <string.h>

#include "db/jobdb_impl.h"

#define MAX_TAG 200

void hq_jobdb_calibration_clear(hq_jobdb_calibration *c) {
    if (!c) return;
    hq_free(c->backend);
    hq_free(c->calibration_id);
    hq_free(c->json);
    memset(c, 0, sizeof *c);
}

static const char SQL_CAL_INSERT[] =
    "INSERT INTO calibrations(backend, calibration_id, fetched_at, json) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(backend, calibration_id) DO NOTHING";
static const char SQL_CAL_ID[] =
    "SELECT id FROM calibrations WHERE backend = ?1 AND calibration_id = ?2";

hq_status hq_jobdb_calibration_put(hq_jobdb *db, const char *backend, const char *calibration_id,
                                   double fetched_at, const char *json, int64_t *id,
                                   bool *inserted) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_calibration_put";
    if (id) *id = 0;
    if (inserted) *inserted = false;
    hq_status s;
    if ((s = jobdb_check_text(db, f, "backend", backend, MAX_TAG)) ||
        (s = jobdb_check_text(db, f, "calibration_id", calibration_id, MAX_TAG)) ||
        (s = jobdb_check_json(db, f, "json", json)))
        return s;
    if (!(fetched_at == fetched_at) || fetched_at > 1e11)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: fetched_at %g is not a Unix time in seconds (<= 0 = now)", f,
                        fetched_at);
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CAL_INSERT, SQL_CAL_INSERT, &st))) goto out;
    sqlite3_bind_text(st, 1, backend, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, calibration_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, fetched_at > 0 ? fetched_at : hq_time_wall());
    sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
    s = jobdb_step_done(db, st, f, "storing the calibration");
    jobdb_done(st);
    if (s) goto out;
    bool ins = sqlite3_changes(db->conn) == 1;
    int64_t row = ins ? sqlite3_last_insert_rowid(db->conn) : 0;
    if (!ins) {
        if ((s = jobdb_stmt(db, ST_CAL_ID, SQL_CAL_ID, &st))) goto out;
        sqlite3_bind_text(st, 1, backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, calibration_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) row = sqlite3_column_int64(st, 0);
        jobdb_done(st);
        if (rc != SQLITE_ROW) s = jobdb_fail(db, rc, f, "looking up the calibration");
    }
    if (s == HQ_OK) {
        if (id) *id = row;
        if (inserted) *inserted = ins;
    }
out:
    s = jobdb_op_end(db, s, f);
    if (s) {
        if (id) *id = 0;
        if (inserted) *inserted = false;
    }
    return s;
}

#define CAL_COLS "SELECT id, backend, calibration_id, fetched_at, json FROM calibrations "
static const char SQL_CAL_LATEST[] =
    CAL_COLS "WHERE backend = ?1 ORDER BY fetched_at DESC, id DESC LIMIT 1";
static const char SQL_CAL_GET[] = CAL_COLS "WHERE backend = ?1 AND calibration_id = ?2";

static hq_status cal_get(hq_jobdb *db, jobdb_stmt_id id, const char *sql, const char *backend,
                         const char *cal, hq_jobdb_calibration *out, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, id, sql, &st);
    if (s) return s;
    sqlite3_bind_text(st, 1, backend, -1, SQLITE_STATIC);
    if (cal) sqlite3_bind_text(st, 2, cal, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->fetched_at = sqlite3_column_double(st, 3);
        if ((s = jobdb_col_text(db, st, 1, &out->backend)) ||
            (s = jobdb_col_text(db, st, 2, &out->calibration_id)) ||
            (s = jobdb_col_text(db, st, 4, &out->json)))
            hq_jobdb_calibration_clear(out);
    } else if (rc == SQLITE_DONE) {
        s = cal ? hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: no calibration '%s' of backend %s",
                           func, cal, backend)
                : hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: no calibration of backend %s stored",
                           func, backend);
    } else {
        s = jobdb_fail(db, rc, func, "reading the calibration");
    }
    jobdb_done(st);
    return s;
}

hq_status hq_jobdb_calibration_latest(hq_jobdb *db, const char *backend,
                                      hq_jobdb_calibration *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_calibration_latest";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_text(db, f, "backend", backend, MAX_TAG);
    if (s) return s;
    return cal_get(db, ST_CAL_LATEST, SQL_CAL_LATEST, backend, NULL, out, f);
}

hq_status hq_jobdb_calibration_get(hq_jobdb *db, const char *backend, const char *calibration_id,
                                   hq_jobdb_calibration *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_calibration_get";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s;
    if ((s = jobdb_check_text(db, f, "backend", backend, MAX_TAG)) ||
        (s = jobdb_check_text(db, f, "calibration_id", calibration_id, MAX_TAG)))
        return s;
    return cal_get(db, ST_CAL_GET, SQL_CAL_GET, backend, calibration_id, out, f);
}
