/*
 * db/schema.c — the job database schema, its version history and the migration step run
 * by hq_jobdb_open. Each version's DDL is kept here verbatim forever: a database at
 * version k is brought to HQ_JOBDB_SCHEMA_VERSION by running the scripts k+1..N in one
 * transaction. The checks run before anything is written, so a file that is not ours,
 * damaged, or from a newer hqcnn is reported and left untouched. Column meanings are
 * documented in docs/db.md. Evaluations and job_circuits name circuits by their sha256
 * digest rather than by a circuits row: `circuits` only stores texts, so a circuit can be
 * cached without keeping its text, and a cache lookup is a single index probe. JSON columns are
 * validated by the API (cJSON) rather than by CHECK (json_valid(...)): SQLite 3.40's json_valid
 * answers 0 when it runs out of memory, which would turn an allocation failure into a false
 * constraint violation.
 */
#include <string.h>

#include "db/jobdb_impl.h"

/* ==== version 1 (never edit: add a version 2 script instead) =========================== */

static const char SCHEMA_V1[] =
    "CREATE TABLE meta (\n"
    "    key   TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE schema_migrations (\n"
    "    version    INTEGER PRIMARY KEY,\n"
    "    applied_at REAL NOT NULL\n"
    ") STRICT;\n"
    "CREATE TABLE runs (\n"
    "    id           INTEGER PRIMARY KEY,\n"
    "    name         TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),\n"
    "    created_at   REAL NOT NULL,\n"
    "    updated_at   REAL NOT NULL,\n"
    "    status       TEXT NOT NULL DEFAULT 'CREATED' CHECK (status IN ('CREATED', "
    "'RUNNING', 'INTERRUPTED', 'COMPLETED', 'FAILED', 'CANCELLED')),\n"
    "    seed         INTEGER NOT NULL,\n"
    "    code_version TEXT NOT NULL,\n"
    "    backend      TEXT NOT NULL,\n"
    "    config_json  TEXT NOT NULL,\n"
    "    plan_json    TEXT,\n"
    "    cache_hits   INTEGER NOT NULL DEFAULT 0,\n"
    "    cache_misses INTEGER NOT NULL DEFAULT 0\n"
    ") STRICT;\n"
    "CREATE TABLE checkpoints (\n"
    "    id         INTEGER PRIMARY KEY,\n"
    "    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "    step       INTEGER NOT NULL CHECK (step >= 0),\n"
    "    epoch      INTEGER NOT NULL CHECK (epoch >= 0),\n"
    "    weights    BLOB NOT NULL,\n"
    "    optimizer  BLOB NOT NULL,\n"
    "    rng        BLOB NOT NULL,\n"
    "    meta_json  TEXT,\n"
    "    digest     BLOB NOT NULL CHECK (length(digest) = 32),\n"
    "    created_at REAL NOT NULL,\n"
    "    UNIQUE (run_id, step)\n"
    ") STRICT;\n"
    "CREATE TABLE circuits (\n"
    "    id   INTEGER PRIMARY KEY,\n"
    "    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
    "    text TEXT NOT NULL\n"
    ") STRICT;\n"
    "CREATE TABLE calibrations (\n"
    "    id             INTEGER PRIMARY KEY,\n"
    "    backend        TEXT NOT NULL,\n"
    "    calibration_id TEXT NOT NULL,\n"
    "    fetched_at     REAL NOT NULL,\n"
    "    json           TEXT NOT NULL,\n"
    "    UNIQUE (backend, calibration_id)\n"
    ") STRICT;\n"
    "CREATE INDEX calibrations_by_time ON calibrations (backend, fetched_at);\n"
    "CREATE TABLE jobs (\n"
    "    id             INTEGER PRIMARY KEY,\n"
    "    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "    backend        TEXT NOT NULL,\n"
    "    client_token   TEXT NOT NULL UNIQUE,\n"
    "    remote_id      TEXT,\n"
    "    state          TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', "
    "'SUBMITTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),\n"
    "    retry_of       INTEGER REFERENCES jobs(id),\n"
    "    n_circuits     INTEGER NOT NULL CHECK (n_circuits >= 1),\n"
    "    shots          INTEGER NOT NULL CHECK (shots >= 0),\n"
    "    attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),\n"
    "    last_error     TEXT,\n"
    "    request        BLOB,\n"
    "    response       BLOB,\n"
    "    calib_submit   TEXT,\n"
    "    calib_complete TEXT,\n"
    "    created_at     REAL NOT NULL,\n"
    "    attempted_at   REAL,\n"
    "    submitted_at   REAL,\n"
    "    finished_at    REAL,\n"
    "    updated_at     REAL NOT NULL,\n"
    "    CHECK (state NOT IN ('SUBMITTED', 'RUNNING') OR remote_id IS NOT NULL)\n"
    ") STRICT;\n"
    "CREATE INDEX jobs_by_run_state ON jobs (run_id, state);\n"
    "CREATE UNIQUE INDEX jobs_by_remote_id ON jobs (backend, remote_id) "
    "WHERE remote_id IS NOT NULL;\n"
    "CREATE TABLE job_circuits (\n"
    "    job_id     INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,\n"
    "    position   INTEGER NOT NULL CHECK (position >= 0),\n"
    "    circuit    BLOB NOT NULL CHECK (length(circuit) = 32),\n"
    "    basis      TEXT NOT NULL,\n"
    "    PRIMARY KEY (job_id, position)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE TABLE evaluations (\n"
    "    id          INTEGER PRIMARY KEY,\n"
    "    circuit     BLOB NOT NULL CHECK (length(circuit) = 32),\n"
    "    backend     TEXT NOT NULL,\n"
    "    shots       INTEGER NOT NULL CHECK (shots >= 0),\n"
    "    basis       TEXT NOT NULL,\n"
    "    mitigation  TEXT NOT NULL DEFAULT '',\n"
    "    calibration TEXT NOT NULL DEFAULT '',\n"
    "    counts      BLOB,\n"
    "    expect      BLOB,\n"
    "    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,\n"
    "    run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,\n"
    "    CHECK (counts IS NOT NULL OR expect IS NOT NULL)\n"
    ") STRICT;\n"
    "CREATE UNIQUE INDEX evaluations_by_key ON evaluations (circuit, backend, shots, basis, "
    "mitigation, calibration);\n";

/* Script k brings a database from version k-1 to k. */
static const char *const migrations[] = {
    [1] = SCHEMA_V1,
};
_Static_assert(sizeof migrations / sizeof *migrations == HQ_JOBDB_SCHEMA_VERSION + 1,
               "one migration script per schema version");

/* ==== checks =========================================================================== */

static hq_status pragma_int(hq_jobdb *db, const char *sql, int64_t *out, const char *what) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    hq_status s = rc == SQLITE_OK ? HQ_OK : jobdb_fail(db, rc, "hq_jobdb_open", what);
    sqlite3_finalize(st);
    return s;
}

static hq_status journal_mode(hq_jobdb *db, const char *sql, char *mode, size_t cap) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        snprintf(mode, cap, "%s", m ? m : "");
        rc = SQLITE_OK;
    }
    hq_status s = rc == SQLITE_OK ? HQ_OK : jobdb_fail(db, rc, "hq_jobdb_open", "setting WAL mode");
    sqlite3_finalize(st);
    return s;
}

static hq_status ensure_wal(hq_jobdb *db) {
    char mode[32];
    hq_status s = journal_mode(db, "PRAGMA journal_mode", mode, sizeof mode);
    if (s || !strcmp(mode, "wal") || !strcmp(mode, "memory")) return s;
    if ((s = journal_mode(db, "PRAGMA journal_mode=WAL", mode, sizeof mode))) return s;
    if (strcmp(mode, "wal") != 0)
        return hq_failf(&db->h.err, HQ_ERR_DB,
                        "hq_jobdb_open: %s: cannot switch to WAL journal mode (still '%s')"
                        "\n---> HINT: WAL needs a local file system with shared-memory support "
                        "(not NFS)",
                        db->path, mode);
    return HQ_OK;
}

static hq_status migrate(hq_jobdb *db) {
    const char *f = "hq_jobdb_open";
    hq_status s = jobdb_op_begin(db, JOBDB_WRITE | JOBDB_DURABLE, f);
    if (s) return s;
    int64_t ver = 0;
    /* re-read under the write lock: another process may have migrated meanwhile */
    if ((s = pragma_int(db, "PRAGMA user_version", &ver, "reading the schema version"))) goto out;
    if (ver > HQ_JOBDB_SCHEMA_VERSION) {
        s = hq_failf(&db->h.err, HQ_ERR_UNSUPPORTED,
                     "%s: %s was created by a newer hqcnn (schema %lld > %d): upgrade hqcnn to "
                     "open it; the file was not modified",
                     f, db->path, (long long)ver, HQ_JOBDB_SCHEMA_VERSION);
        goto out;
    }
    for (int64_t v = ver + 1; v <= HQ_JOBDB_SCHEMA_VERSION; v++) {
        int rc = sqlite3_exec(db->conn, migrations[v], NULL, NULL, NULL);
        if (rc) {
            char what[96];
            snprintf(what, sizeof what, "migrating the schema to version %lld", (long long)v);
            s = jobdb_fail(db, rc, f, what);
            goto out;
        }
        char sql[160];
        snprintf(sql, sizeof sql,
                 "INSERT INTO schema_migrations(version, applied_at) VALUES (%lld, %.6f)",
                 (long long)v, hq_time_wall());
        if ((rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL))) {
            s = jobdb_fail(db, rc, f, "recording the migration");
            goto out;
        }
    }
    if (ver < HQ_JOBDB_SCHEMA_VERSION) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', '%.6f'); "
                 "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 hq_time_wall(), HQ_JOBDB_SCHEMA_VERSION, HQ_JOBDB_APPLICATION_ID);
        int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);
        if (rc) s = jobdb_fail(db, rc, f, "setting the schema version");
    }
out:
    return jobdb_op_end(db, s, f);
}

hq_status jobdb_schema_prepare(hq_jobdb *db) {
    const char *f = "hq_jobdb_open";
    int64_t ver = 0, app = 0, n_tables = 0;
    hq_status s;
    /* the first read of the file: "file is not a database" surfaces here */
    if ((s = pragma_int(db, "PRAGMA user_version", &ver, "reading the schema version"))) return s;
    if ((s = pragma_int(db, "PRAGMA application_id", &app, "reading the application id"))) return s;
    if (ver > HQ_JOBDB_SCHEMA_VERSION && (app == HQ_JOBDB_APPLICATION_ID || app == 0))
        return hq_failf(&db->h.err, HQ_ERR_UNSUPPORTED,
                        "%s: %s was created by a newer hqcnn (schema %lld > %d): upgrade hqcnn "
                        "to open it; the file was not modified",
                        f, db->path, (long long)ver, HQ_JOBDB_SCHEMA_VERSION);
    if ((s = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &n_tables, "reading the schema")))
        return s;
    if ((app != 0 && app != HQ_JOBDB_APPLICATION_ID) || (app == 0 && n_tables > 0))
        return hq_failf(&db->h.err, HQ_ERR_UNSUPPORTED,
                        "%s: %s is an SQLite database but not an hqcnn job database "
                        "(application_id 0x%08llx, %lld schema objects); the file was not "
                        "modified\n---> HINT: pass the path of an hqcnn database, or a new file",
                        f, db->path, (unsigned long long)(uint32_t)app, (long long)n_tables);
    if ((s = jobdb_apply_settings(db))) return s;
    if (db->opt.read_only) {
        if (ver < HQ_JOBDB_SCHEMA_VERSION)
            return hq_failf(&db->h.err, HQ_ERR_UNSUPPORTED,
                            "%s: %s has schema version %lld and needs migrating to %d, which a "
                            "read-only open cannot do\n---> HINT: open it read-write once",
                            f, db->path, (long long)ver, HQ_JOBDB_SCHEMA_VERSION);
        return HQ_OK;
    }
    if (ver == 0 && n_tables == 0) {
        /* a new file: 16 KiB pages (set before WAL and the first table; fixed afterwards).
         * A batch of cache inserts at random digests then dirties far fewer pages: about
         * 40 % less CPU per circuit than 4 KiB pages at a million evaluations, with the
         * same cost for the small job-state commits (they are fsync-bound). */
        int rc = sqlite3_exec(db->conn, "PRAGMA page_size = 16384", NULL, NULL, NULL);
        if (rc) return jobdb_fail(db, rc, "hq_jobdb_open", "setting the page size");
    }
    if ((s = ensure_wal(db))) return s;
    if (ver == HQ_JOBDB_SCHEMA_VERSION) return HQ_OK;
    return migrate(db);
}
