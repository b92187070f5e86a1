/*
 * db/evaluations.c — the evaluation cache: one row per (circuit, backend, shots, basis,
 * mitigation, calibration) holding the measured histogram and/or expectation values and
 * the job that produced it. Lookups and inserts are batched: one transaction and one
 * reused prepared statement per call, a few microseconds per circuit. Rows are immutable:
 * the first result stored for a key is the one every later lookup returns. A key names
 * its circuit by sha256 digest, and the key is the table's primary key (WITHOUT ROWID):
 * a hit is one probe, an insert one B-tree insert. seq numbers the rows in insertion
 * order (sequences('evaluations'), reserved once per batch).
 */
#include <stdlib.h>
#include <string.h>

#include "db/jobdb_impl.h"

#define MAX_TAG 200 /* longest backend / basis / mitigation / calibration tag */

void hq_jobdb_eval_clear(hq_jobdb_eval *e) {
    if (!e) return;
    if (e->has_counts) hq_counts_free(&e->counts);
    hq_free(e->expect);
    memset(e, 0, sizeof *e);
}

/* Validate one key; idx names it in messages. */
static hq_status check_key(hq_jobdb *db, const char *func, int64_t idx, const hq_jobdb_eval_key *k,
                           uint8_t hash[32]) {
    if (k->digest) {
        memcpy(hash, k->digest, 32);
    } else if (!k->hash) {
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: keys[%lld] has neither a digest (32 bytes) nor a hash (64 hex digits)",
                        func, (long long)idx);
    } else if (jobdb_parse_hash(db, func, "hash", k->hash, hash)) {
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: keys[%lld].hash \"%.70s\" is not a sha256 digest "
                        "(64 lowercase hex digits)",
                        func, (long long)idx, k->hash);
    }
    char arg[48]; /* argument names are formatted only for a message: this runs per key */
    if (!jobdb_text_ok(k->backend, MAX_TAG)) {
        snprintf(arg, sizeof arg, "keys[%lld].backend", (long long)idx);
        return jobdb_check_text(db, func, arg, k->backend, MAX_TAG);
    }
    if (!jobdb_text_ok(k->basis, MAX_TAG)) {
        snprintf(arg, sizeof arg, "keys[%lld].basis", (long long)idx);
        return jobdb_check_text(db, func, arg, k->basis, MAX_TAG);
    }
    if (k->shots < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: keys[%lld].shots %lld must be >= 0 (0 = exact)", func, (long long)idx,
                        (long long)k->shots);
    if ((k->mitigation && strnlen(k->mitigation, MAX_TAG + 1) > MAX_TAG) ||
        (k->calibration && strnlen(k->calibration, MAX_TAG + 1) > MAX_TAG))
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: keys[%lld] mitigation / calibration tag longer than %d bytes", func,
                        (long long)idx, MAX_TAG);
    return HQ_OK;
}

/* positions by digest, then by position (first in the batch first) */
int jobdb_by_digest(const void *a, const void *b, void *arg) {
    const uint8_t *h = arg;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = memcmp(h + 32 * i, h + 32 * j, 32);
    return c ? c : (i > j) - (i < j);
}

hq_status jobdb_reserve_hashes(hq_jobdb *db, int64_t n, const char *func) {
    if (n > db->hashes_cap) {
        uint8_t *h = hq_malloc((size_t)n * 32);
        int64_t *o = hq_malloc((size_t)n * sizeof *o);
        jobdb_sort_item *t = hq_malloc((size_t)n * 2 * sizeof *t);
        if (!h || !o || !t) {
            hq_free(h);
            hq_free(o);
            hq_free(t);
            return hq_failf(&db->h.err, HQ_ERR_NOMEM, "%s: out of memory (%lld keys)", func,
                            (long long)n);
        }
        hq_free(db->hashes);
        hq_free(db->order);
        hq_free(db->sort_tmp);
        db->hashes = h;
        db->order = o;
        db->sort_tmp = t;
        db->hashes_cap = n;
    }
    return HQ_OK;
}

/* Big-endian load: comparing these compares the first 8 bytes as memcmp does. */
static uint64_t prefix64(const uint8_t *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | p[k];
    return v;
}

/* Runs shorter than this are put in order by insertion sort, longer ones by qsort_r. */
#define TIE_RUN_INSERTION 16

void jobdb_sort_by_digest(hq_jobdb *db, int64_t n, const uint8_t *hashes, int64_t *order) {
    if (n <= 0) return;
    jobdb_sort_item *a = db->sort_tmp, *b = db->sort_tmp + n;
    for (int64_t i = 0; i < n; i++) a[i] = (jobdb_sort_item){prefix64(hashes + 32 * i), i};
    /* LSD radix sort on the 64-bit prefix, a byte per pass; stable, so equal prefixes stay
     * in position order. A pass whose byte is the same for every item is skipped. */
    for (int shift = 0; shift < 64; shift += 8) {
        int64_t cnt[256] = {0};
        for (int64_t i = 0; i < n; i++) cnt[(a[i].key >> shift) & 0xff]++;
        if (cnt[(a[0].key >> shift) & 0xff] == n) continue;
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) {
            int64_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) b[cnt[(a[i].key >> shift) & 0xff]++] = a[i];
        jobdb_sort_item *t = a;
        a = b;
        b = t;
    }
    for (int64_t i = 0; i < n; i++) order[i] = a[i].idx;
    /* digests that share their first 8 bytes (rare for sha256, common in hand-made keys):
     * order each such run by the full digest, ties by position */
    for (int64_t lo = 0; lo < n;) {
        int64_t hi = lo + 1;
        while (hi < n && a[hi].key == a[lo].key) hi++;
        if (hi - lo > TIE_RUN_INSERTION) {
            qsort_r(order + lo, (size_t)(hi - lo), sizeof *order, jobdb_by_digest, (void *)hashes);
        } else {
            for (int64_t i = lo + 1; i < hi; i++) { /* stable: positions ascend already */
                int64_t x = order[i], j = i;
                while (j > lo && memcmp(hashes + 32 * order[j - 1], hashes + 32 * x, 32) > 0) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = x;
            }
        }
        lo = hi;
    }
}

hq_status jobdb_parse_keys(hq_jobdb *db, const char *func, int64_t n, const hq_jobdb_eval_key *keys,
                           size_t stride) {
    hq_status s = jobdb_reserve_hashes(db, n, func);
    if (s) return s;
    for (int64_t i = 0; i < n; i++) {
        const hq_jobdb_eval_key *k =
            (const hq_jobdb_eval_key *)(const void *)((const char *)keys + (size_t)i * stride);
        s = check_key(db, func, i, k, db->hashes + 32 * i);
        if (s) return s;
    }
    jobdb_sort_by_digest(db, n, db->hashes, db->order);
    return HQ_OK;
}

/* ==== lookup =========================================================================== */

#define EVAL_KEY_PREFIX \
    "circuit = ?1 AND backend = ?2 AND shots = ?3 AND basis = ?4 AND mitigation = ?5"
static const char SQL_EVAL_LOOKUP[] =
    "SELECT seq, counts, expect, job_id FROM evaluations WHERE " EVAL_KEY_PREFIX
    " AND calibration = ?6";
/* The newest row of any calibration: a scan of the primary key's range for the key prefix
 * (one row per calibration), the other columns taken from the row of max(seq). No match
 * gives one row of NULLs. "ORDER BY seq DESC LIMIT 1" would sort the range in a temporary
 * B-tree built for every lookup, several times the cost of the probe itself. */
static const char SQL_EVAL_LOOKUP_ANYCAL[] =
    "SELECT max(seq), counts, expect, job_id FROM evaluations WHERE " EVAL_KEY_PREFIX;
static const char SQL_RUN_COUNT_CACHE[] =
    "UPDATE runs SET cache_hits = cache_hits + ?2, cache_misses = cache_misses + ?3 WHERE id = ?1";

static hq_status read_eval(hq_jobdb *db, sqlite3_stmt *st, hq_jobdb_eval *e, int64_t idx,
                           const char *func) {
    memset(e, 0, sizeof *e);
    e->eval_id = sqlite3_column_int64(st, 0);
    e->job_id = sqlite3_column_int64(st, 3); /* NULL reads as 0 */
    hq_status s = HQ_OK;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
        const void *b = sqlite3_column_blob(st, 1);
        s = hq_jobdb_counts_decode(b, (size_t)sqlite3_column_bytes(st, 1), &e->counts);
        e->has_counts = s == HQ_OK;
    }
    if (s == HQ_OK && sqlite3_column_type(st, 2) != SQLITE_NULL) {
        const void *b = sqlite3_column_blob(st, 2);
        s = hq_jobdb_expect_decode(b, (size_t)sqlite3_column_bytes(st, 2), &e->expect,
                                   &e->n_expect);
    }
    if (s) {
        int64_t id = e->eval_id;
        hq_jobdb_eval_clear(e);
        return hq_fail_prefix(&db->h.err, s, "%s: evaluation %lld (keys[%lld]) in %s", func,
                              (long long)id, (long long)idx, db->path);
    }
    return HQ_OK;
}

hq_status hq_jobdb_eval_lookup(hq_jobdb *db, int64_t run_id, int64_t n,
                               const hq_jobdb_eval_key *keys, hq_jobdb_eval *out, bool *found,
                               int64_t *n_found) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_eval_lookup";
    if (n_found) *n_found = 0;
    if (n < 0 || (n > 0 && (!keys || !out)))
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: n = %lld with keys/out %s", f,
                        (long long)n, keys && out ? "given" : "NULL");
    if (run_id < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: run_id %lld must be >= 0", f,
                        (long long)run_id);
    if (n > 0) memset(out, 0, (size_t)n * sizeof *out);
    if (found && n > 0) memset(found, 0, (size_t)n * sizeof *found);
    hq_status s;
    int64_t hits = 0;
    if (n == 0) return HQ_OK;
    if ((s = jobdb_parse_keys(db, f, n, keys, sizeof *keys))) return s;

    if ((s = jobdb_op_begin(db, JOBDB_READ, f))) return s;
    if (run_id > 0 && (s = jobdb_run_must_exist(db, run_id, f))) goto out;
    sqlite3_stmt *exact, *anycal;
    if ((s = jobdb_stmt(db, ST_EVAL_LOOKUP, SQL_EVAL_LOOKUP, &exact)) ||
        (s = jobdb_stmt(db, ST_EVAL_LOOKUP_ANYCAL, SQL_EVAL_LOOKUP_ANYCAL, &anycal)))
        goto out;
    for (int64_t o = 0; o < n && !s; o++) {
        int64_t i = db->order[o];
        const hq_jobdb_eval_key *k = &keys[i];
        sqlite3_stmt *st = k->calibration ? exact : anycal;
        sqlite3_bind_blob(st, 1, db->hashes + 32 * i, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, k->backend, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, k->shots);
        sqlite3_bind_text(st, 4, k->basis, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, k->mitigation ? k->mitigation : "", -1, SQLITE_STATIC);
        if (k->calibration) sqlite3_bind_text(st, 6, k->calibration, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL) rc = SQLITE_DONE;
        if (rc == SQLITE_ROW) {
            if ((s = read_eval(db, st, &out[i], i, f)) == HQ_OK) {
                hits++;
                if (found) found[i] = true;
            }
        } else if (rc != SQLITE_DONE) {
            s = jobdb_fail(db, rc, f, "looking up evaluations");
        }
        sqlite3_reset(st);
    }
    jobdb_done(exact);
    jobdb_done(anycal);
    if (s == HQ_OK && n_found) *n_found = hits;
out:
    s = jobdb_op_end(db, s, f);
    if (s) {
        for (int64_t i = 0; i < n; i++) hq_jobdb_eval_clear(&out[i]);
        if (found) memset(found, 0, (size_t)n * sizeof *found);
        if (n_found) *n_found = 0;
        return s;
    }
    if (run_id > 0 && !db->opt.read_only) { /* statistics: a separate short write */
        hq_status s2 = jobdb_op_begin(db, JOBDB_WRITE, f);
        if (s2 == HQ_OK) {
            sqlite3_stmt *st;
            if ((s2 = jobdb_stmt(db, ST_RUN_COUNT_CACHE, SQL_RUN_COUNT_CACHE, &st)) == HQ_OK) {
                sqlite3_bind_int64(st, 1, run_id);
                sqlite3_bind_int64(st, 2, hits);
                sqlite3_bind_int64(st, 3, n - hits);
                s2 = jobdb_step_done(db, st, f, "counting cache hits");
                jobdb_done(st);
            }
            s2 = jobdb_op_end(db, s2, f);
        }
        if (s2) HQ_LOGW("%s", hq_errmsg(db)); /* the lookup itself succeeded */
    }
    return HQ_OK;
}

/* ==== insert =========================================================================== */

static const char SQL_EVAL_INSERT[] =
    "INSERT INTO evaluations(circuit, backend, shots, basis, mitigation, calibration, counts, "
    "expect, job_id, run_id, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT DO NOTHING";
static const char SQL_EVAL_SEQ[] =
    "UPDATE sequences SET value = value + ?1 WHERE name = 'evaluations' RETURNING value";

hq_status jobdb_eval_reserve_seq(hq_jobdb *db, int64_t n, int64_t *first, const char *func) {
    sqlite3_stmt *st;
    hq_status s = jobdb_stmt(db, ST_EVAL_SEQ, SQL_EVAL_SEQ, &st);
    if (s) return s;
    sqlite3_bind_int64(st, 1, n);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *first = sqlite3_column_int64(st, 0) - n + 1;
        rc = sqlite3_step(st); /* runs the statement to completion */
    } else if (rc == SQLITE_DONE) {
        s = hq_failf(&db->h.err, HQ_ERR_CORRUPT,
                     "%s: %s has no 'evaluations' row in its sequences table (damaged schema)",
                     func, db->path);
    }
    if (s == HQ_OK && rc != SQLITE_DONE) s = jobdb_fail(db, rc, func, "numbering evaluations");
    jobdb_done(st);
    return s;
}

hq_status jobdb_eval_insert(hq_jobdb *db, const uint8_t hash[32], const hq_jobdb_eval_key *key,
                            const hq_counts *counts, const double *expect, int64_t n_expect,
                            int64_t job_id, int64_t run_id, int64_t seq, bool *inserted,
                            const char *func) {
    hq_status s;
    *inserted = false;
    hq_sbuf *b = &db->scratch;
    hq_sbuf_reset(b);
    if (counts && (s = hq_jobdb_counts_encode(counts, b))) return s;
    size_t n_counts = b->len;
    if (expect && (s = hq_jobdb_expect_encode(expect, n_expect, b))) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_EVAL_INSERT, SQL_EVAL_INSERT, &st))) return s;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key->backend, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, key->shots);
    sqlite3_bind_text(st, 4, key->basis, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, key->mitigation ? key->mitigation : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, key->calibration ? key->calibration : "", -1, SQLITE_STATIC);
    if (counts) sqlite3_bind_blob(st, 7, b->p, (int)n_counts, SQLITE_STATIC);
    if (expect) sqlite3_bind_blob(st, 8, b->p + n_counts, (int)(b->len - n_counts), SQLITE_STATIC);
    if (job_id > 0) sqlite3_bind_int64(st, 9, job_id);
    if (run_id > 0) sqlite3_bind_int64(st, 10, run_id);
    sqlite3_bind_int64(st, 11, seq);
    int rc = sqlite3_step(st);
    jobdb_done(st);
    if (rc == SQLITE_DONE) {
        *inserted = sqlite3_changes(db->conn) == 1;
        return HQ_OK;
    }
    return jobdb_fail(db, rc, func, "storing an evaluation");
}

hq_status hq_jobdb_eval_put(hq_jobdb *db, int64_t run_id, int64_t n,
                            const hq_jobdb_eval_item *items, int64_t *n_inserted) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_eval_put";
    if (n_inserted) *n_inserted = 0;
    if (n < 0 || (n > 0 && !items))
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: n = %lld with items %s", f,
                        (long long)n, items ? "given" : "NULL");
    if (run_id < 0)
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: run_id %lld must be >= 0", f,
                        (long long)run_id);
    hq_status s;
    for (int64_t i = 0; i < n; i++) {
        const hq_jobdb_eval_item *it = &items[i];
        if (!it->counts && !it->expect)
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: items[%lld] has neither counts nor expectation values", f,
                            (long long)i);
        if (it->expect && (it->n_expect < 0 || it->n_expect > (INT64_C(1) << 24)))
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: items[%lld].n_expect %lld out of range [0, 2^24]", f, (long long)i,
                            (long long)it->n_expect);
        if (it->job_id < 0)
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                            "%s: items[%lld].job_id %lld must be >= 0 (0 = none)", f, (long long)i,
                            (long long)it->job_id);
    }
    if (n == 0) return HQ_OK;
    if ((s = jobdb_parse_keys(db, f, n, &items[0].key, sizeof *items))) return s;
    if ((s = jobdb_op_begin(db, JOBDB_WRITE, f))) return s;
    if (run_id > 0 && (s = jobdb_run_must_exist(db, run_id, f))) goto out;
    int64_t added = 0, seq = 0;
    /* job_id is provenance without a foreign key (schema 3): checked here, once per run of
     * items naming the same job */
    for (int64_t i = 0, last = 0; i < n && !s; i++)
        if (items[i].job_id > 0 && items[i].job_id != last) {
            s = jobdb_job_must_exist(db, items[i].job_id, f);
            last = items[i].job_id;
        }
    if (s) goto out;
    if ((s = jobdb_eval_reserve_seq(db, n, &seq, f))) goto out;
    for (int64_t o = 0; o < n && !s; o++) {
        int64_t i = db->order[o];
        const hq_jobdb_eval_item *it = &items[i];
        const uint8_t *h = db->hashes + 32 * i;
        bool ins;
        if (it->circuit_text && (s = jobdb_circuit_store(db, h, it->circuit_text, f))) break;
        s = jobdb_eval_insert(db, h, &it->key, it->counts, it->expect, it->n_expect, it->job_id,
                              run_id, seq + i, &ins, f);
        if (s == HQ_ERR_INVALID_ARG || s == HQ_ERR_NOMEM)
            s = hq_fail_prefix(&db->h.err, s, "%s: items[%lld]", f, (long long)i);
        added += ins;
    }
    if (s == HQ_OK && n_inserted) *n_inserted = added;
out:
    s = jobdb_op_end(db, s, f);
    if (s && n_inserted) *n_inserted = 0;
    return s;
}
