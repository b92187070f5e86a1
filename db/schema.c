/*
 * db/schema.c — the job database schema, its version history and the migration step run
 * by hq_jobdb_open. Each version's DDL is kept here verbatim forever: a database at
 * version k is brought to HQ_JOBDB_SCHEMA_VERSION by running the scripts k+1..N in one
 * transaction. The checks run before anything is written, so a file that is not ours,
 * damaged, or from a newer hqcnn is reported and left untouched. Column meanings are
 * documented in docs/db.md. Evaluations and job circuit lists name circuits by their sha256
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

/* ==== version 2: a job's circuit list is one blob in its row ============================= */

/* Two changes that halve the database's per-circuit cost (docs/db.md, "The executor over
 * the database"):
 *  - A job_circuits row per circuit cost more than all the rest of a job's bookkeeping (an
 *    insert per circuit at creation, a range scan at completion) and ~50 bytes per circuit.
 *    The list is now one blob, jobs.circuits (format "circuit list v1", db/blob.c): the
 *    script adds the column, migrate_v2_data converts every job's rows, then the table goes.
 *  - evaluations stored its key twice (the rowid table and the unique key index) and every
 *    insert updated both B-trees. It is now a WITHOUT ROWID table whose primary key is the
 *    key: one B-tree, one insert. Insertion order, which "newest of any calibration" needs,
 *    is the column seq drawn from sequences('evaluations') (old rows keep their ids). */
static const char SCHEMA_V2[] =
    "ALTER TABLE jobs ADD COLUMN circuits BLOB;\n"
    "CREATE TABLE sequences (\n"
    "    name  TEXT PRIMARY KEY,\n"
    "    value INTEGER NOT NULL CHECK (value >= 0)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "INSERT INTO sequences(name, value) VALUES ('evaluations', (SELECT coalesce(max(id), 0) "
    "FROM evaluations));\n"
    "ALTER TABLE evaluations RENAME TO evaluations_v1;\n"
    "CREATE TABLE evaluations (\n"
    "    circuit     BLOB NOT NULL CHECK (length(circuit) = 32),\n"
    "    backend     TEXT NOT NULL,\n"
    "    shots       INTEGER NOT NULL CHECK (shots >= 0),\n"
    "    basis       TEXT NOT NULL,\n"
    "    mitigation  TEXT NOT NULL DEFAULT '',\n"
    "    calibration TEXT NOT NULL DEFAULT '',\n"
    "    seq         INTEGER NOT NULL CHECK (seq >= 1),\n"
    "    counts      BLOB,\n"
    "    expect      BLOB,\n"
    "    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,\n"
    "    run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,\n"
    "    CHECK (counts IS NOT NULL OR expect IS NOT NULL),\n"
    "    PRIMARY KEY (circuit, backend, shots, basis, mitigation, calibration)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "INSERT INTO evaluations(circuit, backend, shots, basis, mitigation, calibration, seq, "
    "counts, expect, job_id, run_id) SELECT circuit, backend, shots, basis, mitigation, "
    "calibration, id, counts, expect, job_id, run_id FROM evaluations_v1;\n"
    "DROP TABLE evaluations_v1;\n";
static const char SCHEMA_V2_POST[] = "DROP TABLE job_circuits;\n";

static hq_status migrate_v2_data(hq_jobdb *db) {
    const char *f = "hq_jobdb_open";
    sqlite3_stmt *jobs = NULL, *rows = NULL, *upd = NULL;
    hq_status s = HQ_OK;
    hq_sbuf list = HQ_SBUF_INIT;
    uint8_t *hashes = NULL;
    char **bases = NULL;
    int64_t cap = 0;
    int rc = sqlite3_prepare_v2(db->conn, "SELECT id, n_circuits FROM jobs ORDER BY id", -1, &jobs,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db->conn,
                                "SELECT position, circuit, basis FROM job_circuits WHERE job_id = "
                                "?1 ORDER BY position",
                                -1, &rows, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db->conn, "UPDATE jobs SET circuits = ?2 WHERE id = ?1", -1, &upd,
                                NULL);
    while (rc == SQLITE_OK && s == HQ_OK && (rc = sqlite3_step(jobs)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(jobs, 0), n = sqlite3_column_int64(jobs, 1), i = 0;
        if (n > cap) {
            uint8_t *h = hq_realloc(hashes, (size_t)n * 32);
            if (h) hashes = h;
            char **b = h ? hq_realloc(bases, (size_t)n * sizeof *b) : NULL;
            if (b) bases = b;
            if (!h || !b) {
                s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory migrating job %lld", f,
                             (long long)id);
                break;
            }
            for (int64_t k = cap; k < n; k++) bases[k] = NULL;
            cap = n;
        }
        sqlite3_bind_int64(rows, 1, id);
        while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
            const char *b = (const char *)sqlite3_column_text(rows, 2);
            size_t bl = b ? strlen(b) : 0;
            if (i >= n || sqlite3_column_int64(rows, 0) != i ||
                sqlite3_column_bytes(rows, 1) != 32 || bl < 1 || bl > 200) {
                i = -1;
                break;
            }
            memcpy(hashes + 32 * i, sqlite3_column_blob(rows, 1), 32);
            hq_free(bases[i]);
            if (!(bases[i] = hq_strdup(b))) {
                s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
                break;
            }
            i++;
        }
        sqlite3_reset(rows);
        if (s) break;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) break;
        rc = SQLITE_OK;
        if (i != n) {
            s = hq_failf(&db->h.err, HQ_ERR_CORRUPT,
                         "%s: %s: job %lld's circuit rows do not match its n_circuits %lld, so "
                         "the schema cannot be migrated to version 2; the file was not modified"
                         "\n---> HINT: sqlite3 FILE 'SELECT * FROM job_circuits WHERE job_id = "
                         "%lld' shows them",
                         f, db->path, (long long)id, (long long)n, (long long)id);
            break;
        }
        if ((s = jobdb_circlist_encode(n, hashes, (const char *const *)bases, &list))) {
            s = hq_fail_prefix(&db->h.err, s, "%s", f);
            break;
        }
        sqlite3_bind_int64(upd, 1, id);
        sqlite3_bind_blob64(upd, 2, list.p, list.len, SQLITE_STATIC);
        rc = sqlite3_step(upd);
        sqlite3_reset(upd);
        if (rc != SQLITE_DONE) break;
        rc = SQLITE_OK;
    }
    if (s == HQ_OK && rc != SQLITE_OK && rc != SQLITE_DONE)
        s = jobdb_fail(db, rc, f, "migrating job circuit lists to schema version 2");
    sqlite3_finalize(jobs);
    sqlite3_finalize(rows);
    sqlite3_finalize(upd);
    for (int64_t k = 0; k < cap; k++) hq_free(bases[k]);
    hq_free(bases);
    hq_free(hashes);
    hq_sbuf_free(&list);
    return s;
}

/* Step k brings a database from version k-1 to k: the script, then (optionally) a data
 * conversion in C, then a closing script. All of it inside the migration's transaction. */
typedef struct migration {
    const char *sql;                 /* DDL (and SQL data changes) */
    hq_status (*data)(hq_jobdb *db); /* conversion SQL alone cannot do, or NULL */
    const char *post;                /* run after data, or NULL */
} migration;

/* ==== version 3: evaluations without foreign keys ======================================= */

/* evaluations.job_id and run_id are provenance: which job produced a result and which run
 * paid for it. Their REFERENCES clauses made every insert probe jobs and runs (two B-tree
 * lookups beside the insert itself) for ids the writers have just checked or read from the
 * job row. The table is rebuilt without them (SQLite cannot drop a constraint in place);
 * the rows, their seq numbers and the key order are copied unchanged. ON DELETE SET NULL,
 * which no hqcnn code relies on (nothing deletes runs or jobs) but a user may with the
 * sqlite3 shell, is kept by two triggers. */
static const char SCHEMA_V3[] =
    "ALTER TABLE evaluations RENAME TO evaluations_v2;\n"
    "CREATE TABLE evaluations (\n"
    "    circuit     BLOB NOT NULL CHECK (length(circuit) = 32),\n"
    "    backend     TEXT NOT NULL,\n"
    "    shots       INTEGER NOT NULL CHECK (shots >= 0),\n"
    "    basis       TEXT NOT NULL,\n"
    "    mitigation  TEXT NOT NULL DEFAULT '',\n"
    "    calibration TEXT NOT NULL DEFAULT '',\n"
    "    seq         INTEGER NOT NULL CHECK (seq >= 1),\n"
    "    counts      BLOB,\n"
    "    expect      BLOB,\n"
    "    job_id      INTEGER,\n"
    "    run_id      INTEGER,\n"
    "    CHECK (counts IS NOT NULL OR expect IS NOT NULL),\n"
    "    PRIMARY KEY (circuit, backend, shots, basis, mitigation, calibration)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "INSERT INTO evaluations(circuit, backend, shots, basis, mitigation, calibration, seq, "
    "counts, expect, job_id, run_id) SELECT circuit, backend, shots, basis, mitigation, "
    "calibration, seq, counts, expect, job_id, run_id FROM evaluations_v2;\n"
    "DROP TABLE evaluations_v2;\n"
    "CREATE TRIGGER evaluations_job_deleted AFTER DELETE ON jobs BEGIN\n"
    "    UPDATE evaluations SET job_id = NULL WHERE job_id = OLD.id;\n"
    "END;\n"
    "CREATE TRIGGER evaluations_run_deleted AFTER DELETE ON runs BEGIN\n"
    "    UPDATE evaluations SET run_id = NULL WHERE run_id = OLD.id;\n"
    "END;\n";

static const migration migrations[] = {
    [1] = {SCHEMA_V1, NULL, NULL},
    [2] = {SCHEMA_V2, migrate_v2_data, SCHEMA_V2_POST},
    [3] = {SCHEMA_V3, NULL, NULL},
};
_Static_assert(sizeof migrations / sizeof *migrations == HQ_JOBDB_SCHEMA_VERSION + 1,
               "one migration step per schema version");

const char *jobdb_schema_script(int version) { return version == 1 ? SCHEMA_V1 : NULL; }

int jobdb_schema_build(sqlite3 *conn, int version) {
    if (version < 1 || version > HQ_JOBDB_SCHEMA_VERSION) return SQLITE_MISUSE;
    for (int v = 1; v <= version; v++) {
        int rc = sqlite3_exec(conn, migrations[v].sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK && migrations[v].post)
            rc = sqlite3_exec(conn, migrations[v].post, NULL, NULL, NULL);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

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

/* Read or set the journal mode. Switching to WAL needs the file to itself, and SQLite
 * answers SQLITE_BUSY at once, without calling the busy handler, while another connection
 * holds a lock or is itself switching (two processes creating the same new database): such
 * answers are retried here with a growing sleep (1 .. 20 ms) until the busy timeout. */
static hq_status journal_mode(hq_jobdb *db, const char *sql, char *mode, size_t cap) {
    double t0 = hq_time_now();
    long sleep_ms = 1;
    for (;;) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            snprintf(mode, cap, "%s", m ? m : "");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        if (busy && (hq_time_now() - t0) * 1e3 < db->opt.busy_timeout_ms) {
            hq_sleep_ms(sleep_ms);
            sleep_ms = sleep_ms < 20 ? sleep_ms * 2 : 20;
            continue;
        }
        return rc == SQLITE_OK ? HQ_OK : jobdb_fail(db, rc, "hq_jobdb_open", "setting WAL mode");
    }
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
        const migration *m = &migrations[v];
        char what[96];
        snprintf(what, sizeof what, "migrating the schema to version %lld", (long long)v);
        int rc = sqlite3_exec(db->conn, m->sql, NULL, NULL, NULL);
        if (rc) {
            s = jobdb_fail(db, rc, f, what);
            goto out;
        }
        if (m->data && (s = m->data(db))) goto out;
        if (m->post && (rc = sqlite3_exec(db->conn, m->post, NULL, NULL, NULL))) {
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
