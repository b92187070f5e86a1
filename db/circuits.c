/*
 * db/circuits.c — the circuits table: sha256 of a circuit's canonical text -> the text.
 * It is a text store only: evaluations and jobs name circuits by digest, so storing the
 * text is optional (large simulator sweeps skip it). Every text is checked against its
 * digest before it is stored, so the table can never map a digest to the wrong circuit.
 */
#include <string.h>

#include "core/sha256.h"
#include "db/jobdb_impl.h"

static const char SQL_CIRC_INSERT[] =
    "INSERT INTO circuits(hash, text) VALUES (?1, ?2) ON CONFLICT(hash) DO NOTHING";
static const char SQL_CIRC_GET[] = "SELECT text FROM circuits WHERE hash = ?1";

hq_status jobdb_circuit_store(hq_jobdb *db, const uint8_t hash[32], const char *text,
                              const char *func) {
    uint8_t h[HQ_SHA256_LEN];
    hq_status s = hq_sha256(text, strlen(text), h);
    if (s) return hq_fail_prefix(&db->h.err, s, "%s", func);
    if (memcmp(h, hash, 32) != 0) {
        char want[65], got[65];
        jobdb_hash_hex(hash, want);
        jobdb_hash_hex(h, got);
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG,
                        "%s: the text given for circuit %s hashes to %s (sha256 of the "
                        "canonical text must equal the key)",
                        func, want, got);
    }
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CIRC_INSERT, SQL_CIRC_INSERT, &st))) return s;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    s = jobdb_step_done(db, st, func, "storing a circuit");
    jobdb_done(st);
    return s;
}

hq_status hq_jobdb_circuit_put(hq_jobdb *db, int64_t n, const char *const *texts,
                               char (*hashes)[65]) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_circuit_put";
    if (n < 0 || (n > 0 && !texts))
        return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: n = %lld with texts %s", f,
                        (long long)n, texts ? "given" : "NULL");
    for (int64_t i = 0; i < n; i++)
        if (!texts[i])
            return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: texts[%lld] is NULL", f,
                            (long long)i);
    if (n == 0) return HQ_OK;
    hq_status s = jobdb_op_begin(db, JOBDB_WRITE, f);
    if (s) return s;
    for (int64_t i = 0; i < n && !s; i++) {
        uint8_t h[HQ_SHA256_LEN];
        if ((s = hq_sha256(texts[i], strlen(texts[i]), h))) {
            s = hq_fail_prefix(&db->h.err, s, "%s", f);
            break;
        }
        s = jobdb_circuit_store(db, h, texts[i], f);
        if (s == HQ_OK && hashes) jobdb_hash_hex(h, hashes[i]);
    }
    return jobdb_op_end(db, s, f);
}

hq_status hq_jobdb_circuit_get(hq_jobdb *db, const char *hash, char **text) {
    HQ_CHECK_HANDLE(db, HQ_MAGIC_JOBDB);
    const char *f = "hq_jobdb_circuit_get";
    if (!text) return hq_failf(&db->h.err, HQ_ERR_INVALID_ARG, "%s: text is NULL", f);
    *text = NULL;
    uint8_t h[32];
    hq_status s = jobdb_parse_hash(db, f, "hash", hash, h);
    if (s) return s;
    sqlite3_stmt *st;
    if ((s = jobdb_stmt(db, ST_CIRC_GET, SQL_CIRC_GET, &st))) return s;
    sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = jobdb_col_text(db, st, 0, text);
    else if (rc == SQLITE_DONE)
        s = hq_failf(&db->h.err, HQ_ERR_NOT_FOUND,
                     "%s: no text of circuit %s in %s (never stored, or cached by digest only)", f,
                     hash, db->path);
    else
        s = jobdb_fail(db, rc, f, "reading a circuit");
    jobdb_done(st);
    return s;
}
