/*
 * db/jobdb.c — the job database handle: open/close, connection settings, busy waiting,
 * the prepared-statement cache, transactions and savepoints, SQLite error translation,
 * integrity checks, client tokens and the argument checks shared by the table files.
 * Schema and migrations are in schema.c; each table has its own file (runs.c,
 * checkpoints.c, circuits.c, evaluations.c, jobs.c, calibrations.c); result blobs are in
 * blob.c and the fault-injection VFS in faultvfs.c.
 */
#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "db/jobdb_impl.h"

/* ==== options ========================================================================== */

void hq_jobdb_options_init(hq_jobdb_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->busy_timeout_ms = 5000;
    o->sync = HQ_JOBDB_SYNC_NORMAL;
    o->cache_kib = 65536;
}

static hq_status check_options(const hq_jobdb_options *o) {
    const char *f = "hq_jobdb_open";
    if (o->busy_timeout_ms < 0 || o->busy_timeout_ms > 86400000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: busy_timeout_ms %d out of range [0, 86400000] (0 = fail at once)", f,
                        o->busy_timeout_ms);
    if ((unsigned)o->sync > HQ_JOBDB_SYNC_OFF)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: sync mode %d out of range [0, 2] (NORMAL, FULL, OFF)", f,
                        (int)o->sync);
    if (o->cache_kib < 0 || o->cache_kib > (INT64_C(1) << 30))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: cache_kib %lld out of range [0, 2^30]", f,
                        (long long)o->cache_kib);
    if (o->checkpoint_keep_last < 0 || o->checkpoint_keep_every < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: checkpoint_keep_last %d / checkpoint_keep_every %d must be >= 0 "
                        "(0 = keep all / none)",
                        f, o->checkpoint_keep_last, o->checkpoint_keep_every);
    return HQ_OK;
}

/* ==== errors =========================================================================== */

hq_status jobdb_fail(hq_jobdb *db, int rc, const char *func, const char *what) {
    hq_err *e = db ? &db->h.err : NULL;
    const char *file = db && db->path ? db->path : "(unknown)";
    const char *msg = db && db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return hq_failf(e, HQ_ERR_BUSY,
                        "%s: %s: database %s is locked by another connection (%s; waited %d ms)"
                        "\n---> HINT: another hqcnn process is probably writing to it; retry "
                        "later or raise the busy timeout",
                        func, what, file, msg, db ? db->opt.busy_timeout_ms : 0);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return hq_failf(e, HQ_ERR_CORRUPT,
                        "%s: %s: %s is damaged or not a database (%s)\n---> HINT: restore it "
                        "from a backup; `sqlite3 %s 'PRAGMA integrity_check'` lists the damage",
                        func, what, file, msg, file);
    case SQLITE_FULL:
        return hq_failf(e, HQ_ERR_IO,
                        "%s: %s: disk full while writing %s (%s); this change was not stored "
                        "and the last committed state is intact\n---> HINT: free disk space "
                        "and retry",
                        func, what, file, msg);
    case SQLITE_IOERR:
        return hq_failf(e, HQ_ERR_IO,
                        "%s: %s: I/O error on %s (%s, SQLite code %d); this change was not "
                        "stored and the last committed state is intact\n---> HINT: check the "
                        "disk and the file system, then retry",
                        func, what, file, msg, rc);
    case SQLITE_CANTOPEN:
        return hq_failf(e, HQ_ERR_IO,
                        "%s: %s: cannot open %s (%s)\n---> HINT: check that the directory "
                        "exists and is writable",
                        func, what, file, msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return hq_failf(e, HQ_ERR_IO,
                        "%s: %s: %s cannot be written (%s)\n---> HINT: check the file's "
                        "permissions, or open it read-write",
                        func, what, file, msg);
    case SQLITE_NOMEM: return hq_failf(e, HQ_ERR_NOMEM, "%s: %s: out of memory", func, what);
    case SQLITE_CONSTRAINT: return hq_failf(e, HQ_ERR_INVALID_ARG, "%s: %s: %s", func, what, msg);
    default:
        return hq_failf(e, HQ_ERR_DB, "%s: %s: %s (SQLite code %d, file %s)", func, what, msg, rc,
                        file);
    }
}

/* ==== statements ======================================================================= */

hq_status jobdb_stmt(hq_jobdb *db, jobdb_stmt_id id, const char *sql, sqlite3_stmt **out) {
    HQ_ASSERT((unsigned)id < ST_COUNT);
    if (db->stmt[id]) {
#ifdef HQ_DEBUG
        HQ_ASSERT(strcmp(db->stmt_sql[id], sql) == 0); /* one slot, one statement */
#endif
        *out = db->stmt[id];
        return HQ_OK;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        *out = NULL;
        char what[96];
        snprintf(what, sizeof what, "preparing \"%.60s...\"", sql);
        return jobdb_fail(db, rc, "hq_jobdb", what);
    }
    db->stmt[id] = st;
    db->stmt_sql[id] = sql;
    *out = st;
    return HQ_OK;
}

void jobdb_done(sqlite3_stmt *st) {
    if (!st) return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

hq_status jobdb_step_done(hq_jobdb *db, sqlite3_stmt *st, const char *func, const char *what) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return HQ_OK;
    hq_status s = jobdb_fail(db, rc, func, what);
    sqlite3_reset(st);
    return s;
}

static hq_status exec_stmt(hq_jobdb *db, jobdb_stmt_id id, const char *sql, const char *func,
                           const char *what) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, id, sql, &st);
    if (s) return s;
    s = jobdb_step_done(db, st, func, what);
    jobdb_done(st);
    return s;
}

/* ==== busy waiting ===================================================================== */

/* Called by SQLite while another connection holds a lock: sleep with jittered exponential
 * backoff (50 us .. 10 ms) until busy_timeout_ms has passed since the first call. */
static int busy_cb(void *arg, int n) {
    hq_jobdb *db = arg;
    double now = hq_time_now();
    if (n == 0) db->busy_start = now;
    double left_us = db->opt.busy_timeout_ms * 1e3 - (now - db->busy_start) * 1e6;
    if (left_us <= 0) return 0;
    double us = 50.0 * (double)(1u << (n < 8 ? n : 8));
    if (us > 10000.0) us = 10000.0;
    uint64_t x = db->busy_rng;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    db->busy_rng = x;
    us *= 0.5 + (double)(x >> 11) * 0x1.0p-53; /* x [0.5, 1.5) */
    if (us > left_us) us = left_us;
    struct timespec ts = {(time_t)(us / 1e6),
                          (long)((us - (double)(time_t)(us / 1e6) * 1e6) * 1e3)};
    nanosleep(&ts, NULL);
    return 1;
}

/* ==== transactions ===================================================================== */

static const char SQL_BEGIN_READ[] = "BEGIN";
static const char SQL_BEGIN_WRITE[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT hq_op";
static const char SQL_RELEASE[] = "RELEASE hq_op";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO hq_op";

static hq_status set_sync(hq_jobdb *db, int level, const char *func) {
    static const char *const sql[3] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                       "PRAGMA synchronous=FULL"};
    static const jobdb_stmt_id ids[3] = {ST_SYNC_OFF, ST_SYNC_NORMAL, ST_SYNC_FULL};
    if (db->sync_level == level) return HQ_OK;
    hq_status s = exec_stmt(db, ids[level], sql[level], func, "setting PRAGMA synchronous");
    if (s == HQ_OK) db->sync_level = level;
    return s;
}

static int base_sync_level(const hq_jobdb *db) {
    return db->opt.sync == HQ_JOBDB_SYNC_OFF ? 0 : db->opt.sync == HQ_JOBDB_SYNC_FULL ? 2 : 1;
}

hq_status jobdb_op_begin(hq_jobdb *db, int flags, const char *func) {
    hq_status s;
    if (db->depth > 0) {
        if (db->txn_lost)
            return hq_failf(&db->h.err, HQ_ERR_MISUSE,
                            "%s: the transaction opened by hq_jobdb_begin was abandoned after an "
                            "earlier error; call hq_jobdb_rollback first",
                            func);
        if ((flags & JOBDB_DURABLE) && db->sync_level == 1)
            return hq_failf(&db->h.err, HQ_ERR_MISUSE,
                            "%s: must be committed durably (a provider may see its effect): "
                            "open the transaction with hq_jobdb_begin(db, true)",
                            func);
        if ((s = exec_stmt(db, ST_SAVEPOINT, SQL_SAVEPOINT, func, "opening a savepoint"))) return s;
        db->depth++;
        return HQ_OK;
    }
    db->sync_saved = -1;
    if ((flags & JOBDB_DURABLE) && db->sync_level == 1) {
        if ((s = set_sync(db, 2, func))) return s;
        db->sync_saved = 1;
    }
    if (flags & JOBDB_WRITE)
        s = exec_stmt(db, ST_BEGIN_WRITE, SQL_BEGIN_WRITE, func, "starting a write transaction");
    else
        s = exec_stmt(db, ST_BEGIN_READ, SQL_BEGIN_READ, func, "starting a transaction");
    if (s) {
        if (db->sync_saved >= 0) set_sync(db, db->sync_saved, func);
        db->sync_saved = -1;
        return s;
    }
    db->depth = 1;
    return HQ_OK;
}

hq_status jobdb_op_end(hq_jobdb *db, hq_status st, const char *func) {
    if (db->depth <= 0) return st; /* HQ_NEVER: begin failed, caller still calls end */
    if (db->depth > 1) {
        db->depth--;
        if (sqlite3_get_autocommit(db->conn)) { /* SQLite abandoned the whole transaction */
            db->txn_lost = true;
            return st ? st
                      : hq_failf(&db->h.err, HQ_ERR_DB,
                                 "%s: the enclosing transaction was rolled back by SQLite", func);
        }
        if (st == HQ_OK) {
            st = exec_stmt(db, ST_RELEASE, SQL_RELEASE, func, "releasing a savepoint");
            if (st == HQ_OK) return HQ_OK;
        }
        /* undo this operation only; keep the caller's transaction */
        sqlite3_stmt *rb;
        if (jobdb_stmt(db, ST_ROLLBACK_TO, SQL_ROLLBACK_TO, &rb) == HQ_OK) {
            sqlite3_step(rb);
            sqlite3_reset(rb);
        }
        if (jobdb_stmt(db, ST_RELEASE, SQL_RELEASE, &rb) == HQ_OK) {
            sqlite3_step(rb);
            sqlite3_reset(rb);
        }
        if (sqlite3_get_autocommit(db->conn)) db->txn_lost = true;
        return st;
    }
    if (st == HQ_OK) st = exec_stmt(db, ST_COMMIT, SQL_COMMIT, func, "committing");
    if (st != HQ_OK && !sqlite3_get_autocommit(db->conn)) {
        sqlite3_stmt *rb;
        if (jobdb_stmt(db, ST_ROLLBACK, SQL_ROLLBACK, &rb) == HQ_OK) {
            sqlite3_step(rb); /* keeps the first error as the reported one */
            sqlite3_reset(rb);
        }
    }
    db->depth = 0;
    db->user_txn = false;
    if (db->sync_saved >= 0) {
        hq_err keep = db->h.err; /* a failure to restore must not hide the real error */
        if (set_sync(db, db->sync_saved, func) != HQ_OK && st != HQ_OK) db->h.err = keep;
        db->sync_saved = -1;
    }
    return st;
}

bool hq_jobdb_set_jobs_durable(hq_jobdb *db, bool durable) {
    if (!hq_handle_ok(db, HQ_MAGIC_JOBDB)) return false;
    bool was = !db->jobs_not_durable;
    db->jobs_not_durable = !durable;
    return was;
}

hq_status hq_jobdb_begin(hq_jobdb *db, bool durable) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    if (db->depth > 0)
        return hq_failf(&db->h.err, HQ_ERR_MISUSE,
                        "hq_jobdb_begin: a transaction is already open (nested begin); commit "
                        "or roll it back first");
    if (db->opt.read_only)
        return hq_failf(&db->h.err, HQ_ERR_MISUSE, "hq_jobdb_begin: %s was opened read-only",
                        db->path);
    hq_status s = jobdb_op_begin(db, JOBDB_WRITE | (durable ? JOBDB_DURABLE : 0), __func__);
    if (s) return s;
    db->user_txn = true;
    db->txn_lost = false;
    return HQ_OK;
}

hq_status hq_jobdb_commit(hq_jobdb *db) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    if (!db->user_txn)
        return hq_failf(&db->h.err, HQ_ERR_MISUSE,
                        "hq_jobdb_commit: no transaction is open (call hq_jobdb_begin first)");
    if (db->txn_lost) {
        jobdb_op_end(db, HQ_ERR_IO, __func__);
        db->txn_lost = false;
        return hq_failf(&db->h.err, HQ_ERR_IO,
                        "hq_jobdb_commit: the transaction was abandoned after an I/O error, "
                        "disk full or out-of-memory condition inside it; nothing of it was "
                        "stored and the last committed state is intact");
    }
    return jobdb_op_end(db, HQ_OK, __func__);
}

hq_status hq_jobdb_rollback(hq_jobdb *db) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    if (!db->user_txn)
        return hq_failf(&db->h.err, HQ_ERR_MISUSE,
                        "hq_jobdb_rollback: no transaction is open (call hq_jobdb_begin first)");
    db->txn_lost = false;
    jobdb_op_end(db, HQ_ERR_CANCELLED, __func__);
    return HQ_OK;
}

/* ==== open / close ===================================================================== */

hq_status jobdb_apply_settings(hq_jobdb *db) {
    const char *f = "hq_jobdb_open";
    char sql[128];
    int rc = sqlite3_exec(db->conn, "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY", NULL, NULL,
                          NULL);
    if (rc) return jobdb_fail(db, rc, f, "enabling foreign keys");
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%lld",
             (long long)(db->opt.cache_kib ? db->opt.cache_kib : 65536));
    if ((rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL)))
        return jobdb_fail(db, rc, f, "setting the cache size");
    /* keep the WAL file from staying at its high-water mark after checkpoints */
    if ((rc = sqlite3_exec(db->conn, "PRAGMA journal_size_limit=67108864", NULL, NULL, NULL)))
        return jobdb_fail(db, rc, f, "setting the journal size limit");
    db->sync_level = -1;
    return set_sync(db, base_sync_level(db), f);
}

hq_status hq_jobdb_open(const char *path, const hq_jobdb_options *opts, hq_jobdb **out) {
    const char *f = "hq_jobdb_open";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    *out = NULL;
    if (!path || !*path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: path is NULL or empty", f);
    hq_jobdb_options o;
    if (opts)
        o = *opts;
    else
        hq_jobdb_options_init(&o);
    hq_status s = check_options(&o);
    if (s) return s;
    bool mem = strcmp(path, ":memory:") == 0;
    if (!mem && (o.no_create || o.read_only) && !hq_file_exists(path))
        return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                        "%s: %s does not exist\n---> HINT: check the database path (--db)", f,
                        path);
    if (o.vfs) {
        if (!strcmp(o.vfs, "hqfault") && (s = hq_jobdb_fault_register())) return s;
        if (!sqlite3_vfs_find(o.vfs))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: unknown SQLite VFS '%s'", f, o.vfs);
    }
    hq_jobdb *db = hq_calloc(1, sizeof *db);
    if (!db) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
    db->h.magic = HQ_MAGIC_JOBDB;
    db->opt = o;
    db->sync_saved = -1;
    db->busy_rng = hq_mix64((uint64_t)(uintptr_t)db ^ (uint64_t)(hq_time_now() * 1e9)) | 1;
    db->path = hq_strdup(path);
    if (!db->path) {
        s = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", f);
        goto fail;
    }
    int flags = (o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(path, &db->conn, flags, o.vfs);
    if (rc != SQLITE_OK) {
        s = db->conn ? jobdb_fail(db, rc, f, "opening the database")
                     : hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory opening %s", f, path);
        goto fail;
    }
    sqlite3_extended_result_codes(db->conn, 1);
    sqlite3_busy_handler(db->conn, busy_cb, db);
    if ((s = jobdb_schema_prepare(db))) goto fail; /* reads the header first, writes last */
    *out = db;
    return HQ_OK;
fail:
    hq_jobdb_close(db);
    return s;
}

hq_status hq_jobdb_open_again(const hq_jobdb *db, hq_jobdb **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_jobdb_open_again: out is NULL");
    *out = NULL;
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    if (!strcmp(db->path, ":memory:") || db->opt.read_only)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_jobdb_open_again: %s has no second writing connection",
                        db->opt.read_only ? "a read-only handle" : "an in-memory database");
    hq_jobdb_options o = db->opt;
    o.no_create = true;
    return hq_jobdb_open(db->path, &o, out);
}

void hq_jobdb_close(hq_jobdb *db) {
    if (!db || db->h.magic != HQ_MAGIC_JOBDB) return;
    if (db->conn && !sqlite3_get_autocommit(db->conn))
        sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(db->stmt[i]);
    if (db->conn) sqlite3_close_v2(db->conn);
    hq_sbuf_free(&db->scratch);
    hq_free(db->hashes);
    hq_free(db->order);
    hq_free(db->sort_tmp);
    hq_free(db->path);
    db->h.magic = HQ_MAGIC_DEAD;
    hq_free(db);
}

const char *hq_jobdb_path(const hq_jobdb *db) {
    return hq_handle_ok(db, HQ_MAGIC_JOBDB) ? db->path : NULL;
}

/* ==== integrity ======================================================================== */

hq_status hq_jobdb_check_integrity(hq_jobdb *db, bool *ok, char **report) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_check_integrity";
    if (!ok) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: ok is NULL", f);
    *ok = false;
    if (report) *report = NULL;
    hq_sbuf rep = HQ_SBUF_INIT;
    int problems = 0;
    hq_status s = HQ_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, "PRAGMA integrity_check(20)", -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") != 0) {
            hq_sbuf_printf(&rep, "%s\n", line);
            problems++;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
        /* damage bad enough to stop the check is a verdict, not a failure to check */
        hq_sbuf_printf(&rep, "%s\n", sqlite3_errmsg(db->conn));
        problems++;
    } else if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "running PRAGMA integrity_check");
        goto out;
    }
    rc = sqlite3_prepare_v2(db->conn, "PRAGMA foreign_key_check", -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        if (problems < 40)
            hq_sbuf_printf(&rep, "foreign key: %s row %lld references a missing row of %s\n",
                           (const char *)sqlite3_column_text(st, 0),
                           (long long)sqlite3_column_int64(st, 1),
                           (const char *)sqlite3_column_text(st, 2));
        problems++;
    }
    sqlite3_finalize(st);
    if (problems && rc != SQLITE_DONE) {
        hq_sbuf_printf(&rep, "foreign_key_check: %s\n", sqlite3_errmsg(db->conn));
    } else if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "running PRAGMA foreign_key_check");
        goto out;
    }
    if ((s = hq_sbuf_status(&rep))) {
        hq_failf(&db->h.err, s, "%s: out of memory", f);
        goto out;
    }
    *ok = problems == 0;
    if (report && problems) *report = hq_sbuf_take(&rep);
out:
    hq_sbuf_free(&rep);
    return s;
}

/* ==== tokens =========================================================================== */

hq_status hq_jobdb_new_token(char out[HQ_JOBDB_TOKEN_LEN + 1]) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_jobdb_new_token: out is NULL");
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        out[0] = '\0';
        return hq_failf(NULL, HQ_ERR_INTERNAL,
                        "hq_jobdb_new_token: the system random generator failed (%s)", e);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hx[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hx[b[i] >> 4];
        out[k++] = hx[b[i] & 15];
    }
    out[k] = '\0';
    return HQ_OK;
}

/* ==== shared argument checks and column helpers ======================================== */

hq_status jobdb_check_text(hq_jobdb *db, const char *func, const char *arg, const char *s,
                           size_t max_len) {
    if (!s) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", func, arg);
    size_t n = strnlen(s, max_len + 1);
    if (n == 0) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is empty", func, arg);
    if (n > max_len)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is longer than %zu bytes", func,
                        arg, max_len);
    return HQ_OK;
}

hq_status jobdb_check_json(hq_jobdb *db, const char *func, const char *arg, const char *s) {
    if (!s) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", func, arg);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &end, 1);
    if (!j) {
        size_t off = end && end >= s ? (size_t)(end - s) : 0;
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: %s is not valid JSON (error near byte %zu: \"%.24s\")", func, arg, off,
                        s + off);
    }
    cJSON_Delete(j);
    return HQ_OK;
}

hq_status jobdb_check_id(hq_jobdb *db, const char *func, const char *arg, int64_t id) {
    if (id <= 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s %lld out of range [1, 2^63)", func,
                        arg, (long long)id);
    return HQ_OK;
}

static inline int hexval(char c) {
    unsigned d = (unsigned)(unsigned char)c - '0', a = (unsigned)(unsigned char)c - 'a';
    return d < 10 ? (int)d : a < 6 ? (int)a + 10 : -1;
}

hq_status jobdb_parse_hash(hq_jobdb *db, const char *func, const char *arg, const char *hex,
                           uint8_t out[32]) {
    if (!hex) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", func, arg);
    int bad = 0;
    for (int i = 0; i < 32; i++) {
        if (!hex[2 * i] || !hex[2 * i + 1]) { /* short: stop before reading past the NUL */
            bad = -1;
            break;
        }
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        bad |= hi | lo; /* negative if either is not a lowercase hex digit */
        out[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
    }
    if (bad >= 0 && hex[64] == '\0') return HQ_OK;
    return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                    "%s: %s \"%.70s\" is not a sha256 digest (64 lowercase hex digits)", func, arg,
                    hex);
}

void jobdb_hash_hex(const uint8_t *bytes, char out[65]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[bytes[i] >> 4];
        out[2 * i + 1] = hx[bytes[i] & 15];
    }
    out[64] = '\0';
}

hq_status jobdb_col_text(hq_jobdb *db, sqlite3_stmt *st, int col, char **out) {
    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return HQ_OK;
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!t) return hq_failf(&db->h.err, HQ_ERR_NOMEM, "hq_jobdb: out of memory reading a row");
    *out = hq_strndup((const char *)t, (size_t)n);
    if (!*out) return hq_failf(&db->h.err, HQ_ERR_NOMEM, "hq_jobdb: out of memory reading a row");
    return HQ_OK;
}

hq_status jobdb_col_blob(hq_jobdb *db, sqlite3_stmt *st, int col, void **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return HQ_OK;
    const void *b = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!b && n > 0)
        return hq_failf(&db->h.err, HQ_ERR_NOMEM, "hq_jobdb: out of memory reading a row");
    *out = hq_malloc((size_t)n + 1); /* +1: a NUL after text-like bodies */
    if (!*out) return hq_failf(&db->h.err, HQ_ERR_NOMEM, "hq_jobdb: out of memory reading a row");
    if (n) memcpy(*out, b, (size_t)n);
    ((char *)*out)[n] = '\0';
    *len = (size_t)n;
    return HQ_OK;
}
