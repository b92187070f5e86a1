/*
 * db/checkpoints.c — training checkpoints: weights, optimizer state and RNG counters of a
 * run at a step, written in one transaction with a sha256 digest that every read checks,
 * and pruned by a keep-last-K-plus-every-Nth policy in the same transaction.
 * The blob formats belong to nn/ and the orchestrator; this file stores bytes.
 */
#include <string.h>

#include "core/sha256.h"
#include "db/jobdb_impl.h"

void hq_jobdb_checkpoint_clear(hq_jobdb_checkpoint *ck) {
    if (!ck) return;
    hq_free((void *)ck->weights);
    hq_free((void *)ck->optimizer);
    hq_free((void *)ck->rng);
    hq_free((void *)ck->meta_json);
    memset(ck, 0, sizeof *ck);
}

/* sha256 over (u64le len, bytes) of weights, optimizer and rng, in that order. */
static hq_status digest(const hq_jobdb_checkpoint *ck, uint8_t out[HQ_SHA256_LEN]) {
    const void *part[3] = {ck->weights, ck->optimizer, ck->rng};
    size_t len[3] = {ck->weights_len, ck->optimizer_len, ck->rng_len};
    hq_sha256_ctx *c;
    hq_status s = hq_sha256_begin(&c);
    if (s) return s;
    for (int i = 0; i < 3; i++) {
        uint8_t le[8];
        for (int k = 0; k < 8; k++) le[k] = (uint8_t)((uint64_t)len[i] >> (8 * k));
        if ((s = hq_sha256_update(c, le, 8)) ||
            (len[i] && (s = hq_sha256_update(c, part[i], len[i])))) {
            hq_sha256_abort(c);
            return s;
        }
    }
    return hq_sha256_end(c, out);
}

static void bind_bytes(sqlite3_stmt *st, int i, const void *p, size_t n) {
    if (n)
        sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(st, i, 0); /* empty, not NULL */
}

/* ==== write ============================================================================ */

static const char SQL_CK_DIGEST[] =
    "SELECT id, digest FROM checkpoints WHERE run_id = ?1 AND step = ?2";
static const char SQL_CK_INSERT[] =
    "INSERT INTO checkpoints(run_id, step, epoch, weights, optimizer, rng, meta_json, digest, "
    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_CK_PRUNE[] =
    "DELETE FROM checkpoints WHERE run_id = ?1 AND step NOT IN (SELECT step FROM checkpoints "
    "WHERE run_id = ?1 ORDER BY step DESC LIMIT ?2) AND (?3 = 0 OR step % ?3 != 0)";

static hq_status prune(hq_jobdb *db, int64_t run, int keep_last, int keep_every, int64_t *deleted,
                       const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_CK_PRUNE, SQL_CK_PRUNE, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int(st, 2, keep_last);
    sqlite3_bind_int(st, 3, keep_every);
    s = jobdb_step_done(db, st, func, "pruning old checkpoints");
    jobdb_done(st);
    if (s == HQ_OK && deleted) *deleted = sqlite3_changes(db->conn);
    return s;
}

hq_status hq_jobdb_checkpoint_put(hq_jobdb *db, const hq_jobdb_checkpoint *ck, int64_t *id) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_put";
    if (id) *id = 0;
    if (!ck) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: checkpoint is NULL", f);
    hq_status s = jobdb_check_id(db, f, "run_id", ck->run_id);
    if (s) return s;
    if (ck->step < 0 || ck->epoch < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: step %lld / epoch %lld must be >= 0",
                        f, (long long)ck->step, (long long)ck->epoch);
    const char *names[3] = {"weights", "optimizer", "rng"};
    const void *ptr[3] = {ck->weights, ck->optimizer, ck->rng};
    size_t len[3] = {ck->weights_len, ck->optimizer_len, ck->rng_len};
    size_t limit = (size_t)sqlite3_limit(db->conn, SQLITE_LIMIT_LENGTH, -1);
    for (int i = 0; i < 3; i++) {
        if (!ptr[i] && len[i])
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL but %s_len is %zu", f,
                            names[i], names[i], len[i]);
        if (len[i] > limit)
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: %s of %zu bytes exceeds SQLite's blob limit of %zu bytes", f,
                            names[i], len[i], limit);
    }
    if (ck->meta_json && (s = jobdb_check_json(db, f, "meta_json", ck->meta_json))) return s;
    uint8_t dg[HQ_SHA256_LEN];
    if ((s = digest(ck, dg))) return hq_fail_prefix(&db->h.err, s, "%s", f);

    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    if ((s = jobdb_run_must_exist(db, ck->run_id, f))) goto out;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CK_DIGEST, SQL_CK_DIGEST, &st))) goto out;
    sqlite3_bind_int64(st, 1, ck->run_id);
    sqlite3_bind_int64(st, 2, ck->step);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same = sqlite3_column_bytes(st, 1) == HQ_SHA256_LEN &&
                    memcmp(sqlite3_column_blob(st, 1), dg, HQ_SHA256_LEN) == 0;
        int64_t old = sqlite3_column_int64(st, 0);
        jobdb_done(st);
        if (same) { /* a replayed step wrote the same state again */
            if (id) *id = old;
            goto out;
        }
        s = hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                     "%s: run %lld already has a different checkpoint at step %lld (the replayed "
                     "step did not reproduce the stored state: determinism is broken)\n---> "
                     "HINT: resume from the stored checkpoint, or delete it with "
                     "hq_jobdb_checkpoint_delete if the change is intended",
                     f, (long long)ck->run_id, (long long)ck->step);
        goto out;
    }
    jobdb_done(st);
    if (rc != SQLITE_DONE) {
        s = jobdb_fail(db, rc, f, "looking up the checkpoint");
        goto out;
    }
    if ((s = jobdb_stmt(db, ST_CK_INSERT, SQL_CK_INSERT, &st))) goto out;
    sqlite3_bind_int64(st, 1, ck->run_id);
    sqlite3_bind_int64(st, 2, ck->step);
    sqlite3_bind_int64(st, 3, ck->epoch);
    for (int i = 0; i < 3; i++) bind_bytes(st, 4 + i, ptr[i], len[i]);
    if (ck->meta_json) sqlite3_bind_text(st, 7, ck->meta_json, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, dg, HQ_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_double(st, 9, hq_time_wall());
    s = jobdb_step_done(db, st, f, "writing the checkpoint");
    jobdb_done(st);
    if (s) goto out;
    if (id) *id = sqlite3_last_insert_rowid(db->conn);
    if (db->opt.checkpoint_keep_last > 0)
        s = prune(db, ck->run_id, db->opt.checkpoint_keep_last, db->opt.checkpoint_keep_every, NULL,
                  f);
out:
    s = jobdb_op_end(db, s, f);
    if (s && id) *id = 0;
    return s;
}

hq_status hq_jobdb_checkpoint_prune(hq_jobdb *db, int64_t run_id, int keep_last, int keep_every,
                                    int64_t *deleted) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_prune";
    if (deleted) *deleted = 0;
    hq_status s = jobdb_check_id(db, f, "run_id", run_id);
    if (s) return s;
    if (keep_last < 1 || keep_every < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: keep_last %d must be >= 1 and keep_every %d >= 0 (0 = none)", f,
                        keep_last, keep_every);
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    if ((s = jobdb_run_must_exist(db, run_id, f)) == HQ_OK)
        s = prune(db, run_id, keep_last, keep_every, deleted, f);
    s = jobdb_op_end(db, s, f);
    if (s && deleted) *deleted = 0;
    return s;
}

static const char SQL_CK_DELETE[] = "DELETE FROM checkpoints WHERE run_id = ?1 AND step = ?2";

hq_status hq_jobdb_checkpoint_delete(hq_jobdb *db, int64_t run_id, int64_t step) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_delete";
    hq_status s = jobdb_check_id(db, f, "run_id", run_id);
    if (s) return s;
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CK_DELETE, SQL_CK_DELETE, &st))) goto out;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, step);
    s = jobdb_step_done(db, st, f, "deleting the checkpoint");
    jobdb_done(st);
    if (s == HQ_OK && sqlite3_changes(db->conn) == 0)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: run %lld has no checkpoint at step %lld", f,
                     (long long)run_id, (long long)step);
out:
    return jobdb_op_end(db, s, f);
}

/* ==== read ============================================================================= */

#define CK_COLS "id, run_id, step, epoch, weights, optimizer, rng, meta_json, digest, created_at"
static const char SQL_CK_LATEST[] =
    "SELECT " CK_COLS " FROM checkpoints WHERE run_id = ?1 ORDER BY step DESC LIMIT 1";
static const char SQL_CK_GET[] =
    "SELECT " CK_COLS " FROM checkpoints WHERE run_id = ?1 AND step = ?2";

static hq_status read_checkpoint(hq_jobdb *db, sqlite3_stmt *st, hq_jobdb_checkpoint *ck,
                                 const char *func) {
    memset(ck, 0, sizeof *ck);
    ck->id = sqlite3_column_int64(st, 0);
    ck->run_id = sqlite3_column_int64(st, 1);
    ck->step = sqlite3_column_int64(st, 2);
    ck->epoch = sqlite3_column_int64(st, 3);
    ck->created_at = sqlite3_column_double(st, 9);
    void *w = NULL, *o = NULL, *r = NULL;
    char *meta = NULL;
    hq_status s;
    if ((s = jobdb_col_blob(db, st, 4, &w, &ck->weights_len)) ||
        (s = jobdb_col_blob(db, st, 5, &o, &ck->optimizer_len)) ||
        (s = jobdb_col_blob(db, st, 6, &r, &ck->rng_len)) ||
        (s = jobdb_col_text(db, st, 7, &meta))) {
        hq_free(w), hq_free(o), hq_free(r), hq_free(meta);
        memset(ck, 0, sizeof *ck);
        return s;
    }
    ck->weights = w, ck->optimizer = o, ck->rng = r, ck->meta_json = meta;
    uint8_t dg[HQ_SHA256_LEN];
    if ((s = digest(ck, dg))) {
        hq_jobdb_checkpoint_clear(ck);
        return hq_fail_prefix(&db->h.err, s, "%s", func);
    }
    if (sqlite3_column_bytes(st, 8) != HQ_SHA256_LEN ||
        memcmp(sqlite3_column_blob(st, 8), dg, HQ_SHA256_LEN) != 0) {
        int64_t run = ck->run_id, step = ck->step;
        hq_jobdb_checkpoint_clear(ck);
        return hq_failf(&db->h.err, HQ_ERR_CORRUPT,
                        "%s: checkpoint of run %lld at step %lld in %s fails its sha256 check: "
                        "the stored state is damaged\n---> HINT: resume from an earlier "
                        "checkpoint (hq_jobdb_checkpoint_steps lists them) or restore the file "
                        "from a backup",
                        func, (long long)run, (long long)step, db->path);
    }
    return HQ_OK;
}

static hq_status ck_get(hq_jobdb *db, jobdb_stmt_id id, const char *sql, int64_t run, int64_t step,
                        hq_jobdb_checkpoint *out, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, id, sql, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, run);
    if (id == ST_CK_GET) sqlite3_bind_int64(st, 2, step);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = read_checkpoint(db, st, out, func);
    else if (rc == SQLITE_DONE && id == ST_CK_GET)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND, "%s: run %lld has no checkpoint at step %lld",
                     func, (long long)run, (long long)step);
    else if (rc == SQLITE_DONE)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND,
                     "%s: run %lld has no checkpoint (or does not exist)", func, (long long)run);
    else
        s = jobdb_fail(db, rc, func, "reading the checkpoint");
    jobdb_done(st);
    return s;
}

hq_status hq_jobdb_checkpoint_latest(hq_jobdb *db, int64_t run_id, hq_jobdb_checkpoint *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_latest";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_id(db, f, "run_id", run_id);
    if (s) return s;
    return ck_get(db, ST_CK_LATEST, SQL_CK_LATEST, run_id, 0, out, f);
}

hq_status hq_jobdb_checkpoint_get(hq_jobdb *db, int64_t run_id, int64_t step,
                                  hq_jobdb_checkpoint *out) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_get";
    if (!out) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: out is NULL", f);
    memset(out, 0, sizeof *out);
    hq_status s = jobdb_check_id(db, f, "run_id", run_id);
    if (s) return s;
    return ck_get(db, ST_CK_GET, SQL_CK_GET, run_id, step, out, f);
}

static const char SQL_CK_STEPS[] = "SELECT step FROM checkpoints WHERE run_id = ?1 ORDER BY step";

hq_status hq_jobdb_checkpoint_steps(hq_jobdb *db, int64_t run_id, int64_t **steps, int64_t *n) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_checkpoint_steps";
    if (!steps || !n) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: steps or n is NULL", f);
    *steps = NULL;
    *n = 0;
    hq_status s = jobdb_check_id(db, f, "run_id", run_id);
    if (s) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CK_STEPS, SQL_CK_STEPS, &st))) return s;
    sqlite3_bind_int64(st, 1, run_id);
    int64_t *arr = NULL, cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            int64_t nc = cap ? cap * 2 : 16;
            int64_t *na = hq_realloc(arr, (size_t)nc * sizeof *na);
            if (!na) {
                s = hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory", f);
                break;
            }
            arr = na, cap = nc;
        }
        arr[cnt++] = sqlite3_column_int64(st, 0);
    }
    if (s == HQ_OK && rc != SQLITE_DONE) s = jobdb_fail(db, rc, f, "listing checkpoints");
    jobdb_done(st);
    if (s) {
        hq_free(arr);
        return s;
    }
    *steps = arr;
    *n = cnt;
    return HQ_OK;
}
