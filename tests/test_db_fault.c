/*
 * tests/test_db_fault.c — db/jobdb under hostile conditions: a file that is not a
 * database or is damaged, a database from a newer hqcnn or from another program (left
 * byte-for-byte untouched), a database locked by another process, a full disk and I/O
 * errors at every write position (through the "hqfault" VFS), kill -9 at random moments
 * while writing, and two processes writing to one file at once. Expected states are
 * derived from what the test itself committed (reported through a pipe by the writer).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/sha256.h"
#include "db/jobdb_impl.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================== */

static void file_hash(const char *path, char hex[65]) {
    char *data = NULL;
    size_t len = 0;
    if (hq_file_read(path, 0, &data, &len) != HQ_OK) {
        hex[0] = 0;
        return;
    }
    hq_sha256_hex(data, len, hex);
    hq_free(data);
}

static int raw_exec(const char *path, const char *sql) {
    sqlite3 *c;
    int rc = sqlite3_open(path, &c);
    if (rc == SQLITE_OK) rc = sqlite3_exec(c, sql, NULL, NULL, NULL);
    sqlite3_close(c);
    return rc;
}

static int64_t raw_int(const char *path, const char *sql) {
    sqlite3 *c;
    sqlite3_stmt *st;
    int64_t v = -999;
    if (sqlite3_open(path, &c) == SQLITE_OK &&
        sqlite3_prepare_v2(c, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    return v;
}

static int64_t new_run(hq_jobdb *db, const char *name) {
    hq_jobdb_run spec = {.name = (char *)name,
                         .seed = 7,
                         .code_version = "0.1.0",
                         .backend = "emulator-ibm",
                         .config_json = "{}"};
    int64_t id = 0;
    if (hq_jobdb_run_create(db, &spec, &id))
        hq_test_fail(__FILE__, __LINE__, "run_create: %s", hq_last_error());
    return id;
}

static void fill_blob(uint8_t *p, size_t n, int64_t s, int salt) {
    uint64_t x = hq_mix64((uint64_t)s * 1000003u + (uint64_t)salt) | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

enum { CK_MAX = 300000 };
static uint8_t ck_w[CK_MAX], ck_o[2 * CK_MAX];

static hq_status put_ck(hq_jobdb *db, int64_t run, int64_t step, size_t nw) {
    fill_blob(ck_w, nw, step, 1);
    fill_blob(ck_o, 2 * nw, step, 2);
    uint64_t rng[2] = {(uint64_t)step, 7};
    hq_jobdb_checkpoint ck = {.run_id = run,
                              .step = step,
                              .epoch = step / 100,
                              .weights = ck_w,
                              .weights_len = nw,
                              .optimizer = ck_o,
                              .optimizer_len = 2 * nw,
                              .rng = rng,
                              .rng_len = sizeof rng};
    return hq_jobdb_checkpoint_put(db, &ck, NULL);
}

static bool ck_ok(const hq_jobdb_checkpoint *ck, int64_t step, size_t nw) {
    fill_blob(ck_w, nw, step, 1);
    fill_blob(ck_o, 2 * nw, step, 2);
    return ck->step == step && ck->weights_len == nw && !memcmp(ck->weights, ck_w, nw) &&
           ck->optimizer_len == 2 * nw && !memcmp(ck->optimizer, ck_o, 2 * nw) &&
           ck->rng_len == 16 && ((const uint64_t *)ck->rng)[0] == (uint64_t)step;
}

static void circuit(const char *tag, int64_t k, char *text, size_t cap, char hash[65]) {
    snprintf(text, cap, "hqcnn-circuit 1\nqubits 2\nclbits 2\n# %s\nrx(%lld) 0\n", tag,
             (long long)k);
    hq_sha256_hex(text, strlen(text), hash);
}

static void counts_for(hq_counts *c, int64_t k) {
    hq_counts_init(c, 2);
    hq_counts_add(c, (uint64_t)(k & 3), 100 + k % 50);
    hq_counts_add(c, 3 - (uint64_t)(k & 3), 900 - k % 50);
}

/* Same histogram, whatever the order of the entries. */
static bool counts_same(const hq_counts *a, const hq_counts *b) {
    if (a->n_bits != b->n_bits || a->shots != b->shots || a->n != b->n) return false;
    for (int64_t i = 0; i < a->n; i++) {
        bool hit = false;
        for (int64_t j = 0; j < b->n && !hit; j++)
            hit = a->outcome[i] == b->outcome[j] && a->count[i] == b->count[j];
        if (!hit) return false;
    }
    return true;
}

static bool integrity_ok(hq_jobdb *db) {
    bool ok = false;
    char *rep = NULL;
    if (hq_jobdb_check_integrity(db, &ok, &rep) != HQ_OK) return false;
    if (!ok) fprintf(stderr, "    integrity: %s\n", rep ? rep : "?");
    hq_free(rep);
    return ok;
}

/* ==== damaged, foreign and newer files ================================================= */

HQ_TEST(db_fault_not_a_database) {
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = "not a database, just text\n"[i % 26];
    const char *path = hq_test_write_file("junk.db", junk, sizeof junk);
    char before[65], after[65];
    file_hash(path, before);
    hq_jobdb *db = NULL;
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_CORRUPT,
                   "junk.db is damaged or not a database");
    HQ_CHECK(strstr(hq_last_error(), "file is not a database") != NULL);
    HQ_CHECK(strstr(hq_last_error(), "PRAGMA integrity_check") != NULL);
    HQ_CHECK(strstr(hq_last_error(), "restore it from a backup") != NULL);
    HQ_CHECK(db == NULL);
    file_hash(path, after);
    HQ_CHECK_STR(after, before);
    /* a short one too */
    path = hq_test_write_file("short.db", "hello", 5);
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_CORRUPT, "short.db is damaged");
}

HQ_TEST(db_fault_malformed) {
    const char *path = hq_test_tmpfile("m.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t run = new_run(db, "r");
    char text[200], hash[65];
    circuit("m", 1, text, sizeof text, hash);
    hq_counts c;
    counts_for(&c, 1);
    hq_jobdb_eval_item it = {.key = {.hash = hash, .backend = "sv", .shots = 1000, .basis = "Z"},
                             .circuit_text = text,
                             .counts = &c};
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, 1, &it, NULL));
    hq_jobdb_close(db); /* last connection: WAL checkpointed into the file and removed */
    int64_t root = raw_int(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'evaluations'");
    int64_t page = raw_int(path, "PRAGMA page_size");
    HQ_REQUIRE(root > 1 && page >= 512 && page <= 65536);
    /* overwrite the evaluations table's page with garbage */
    int fd = open(path, O_WRONLY);
    HQ_REQUIRE(fd >= 0);
    static uint8_t junk[65536];
    fill_blob(junk, sizeof junk, 5, 5);
    HQ_REQUIRE(pwrite(fd, junk, (size_t)page, (off_t)((root - 1) * page)) == (ssize_t)page);
    close(fd);
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db)); /* the schema page is intact */
    hq_jobdb_eval out;
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(db, 0, 1, &it.key, &out, NULL, NULL), HQ_ERR_CORRUPT,
                   "m.db is damaged or not a database (database disk image is malformed)");
    HQ_CHECK(strstr(hq_errmsg(db), "PRAGMA integrity_check") != NULL);
    bool ok = true;
    char *rep = NULL;
    HQ_CHECK_OK(hq_jobdb_check_integrity(db, &ok, &rep));
    HQ_CHECK(!ok && rep && *rep);
    hq_free(rep);
    /* the undamaged tables still work */
    hq_jobdb_run r;
    HQ_CHECK_OK(hq_jobdb_run_get(db, run, &r));
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db);
    /* damage the schema page itself: reported at open */
    fd = open(path, O_WRONLY);
    HQ_REQUIRE(fd >= 0);
    HQ_REQUIRE(pwrite(fd, junk, (size_t)page - 100, 100) == (ssize_t)page - 100);
    close(fd);
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_CORRUPT,
                   "m.db is damaged or not a database");
    hq_counts_free(&c);
}

HQ_TEST(db_fault_newer_schema) {
    const char *path = hq_test_tmpfile("new.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    new_run(db, "r");
    hq_jobdb_close(db);
    HQ_REQUIRE(raw_exec(path, "PRAGMA user_version = 7") == SQLITE_OK);
    char before[65], after[65];
    file_hash(path, before);
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_UNSUPPORTED,
                   "new.db was created by a newer hqcnn (schema 7 > 3): upgrade hqcnn to open it; "
                   "the file was not modified");
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.read_only = true;
    HQ_CHECK_FAILS(hq_jobdb_open(path, &o, &db), HQ_ERR_UNSUPPORTED, "schema 7 > 3");
    file_hash(path, after);
    HQ_CHECK_STR(after, before);
    HQ_CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), 7);
}

/* ==== migrations ====================================================================== */

/* A version 1 file as the first release wrote it, built from the v1 DDL kept in
 * db/schema.c: a run, a COMPLETED job of 3 circuits (bases Z, X, Z; the first with its
 * text) whose evaluations are stored, and a PENDING job of 2 circuits with a request and
 * one attempt. Circuit k is circuit("v1", k); job 1 holds 0, 1, 2, job 2 holds 3, 3. If
 * drop_row, job 1 lacks its position-1 row (a damaged file). */
static void make_v1_file(const char *path, bool drop_row) {
    sqlite3 *c;
    HQ_REQUIRE(sqlite3_open(path, &c) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_exec(c, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL", NULL, NULL,
                            NULL) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_exec(c, jobdb_schema_script(1), NULL, NULL, NULL) == SQLITE_OK);
    HQ_REQUIRE(
        sqlite3_exec(c,
                     "INSERT INTO schema_migrations VALUES (1, 1.5);"
                     "INSERT INTO meta VALUES ('created_at', '1.5');"
                     "INSERT INTO runs(id, name, created_at, updated_at, status, seed, "
                     "code_version, backend, config_json) VALUES (1, 'old', 1, 2, "
                     "'RUNNING', 7, '0.1.0', 'emulator-ibm', '{}');"
                     "INSERT INTO jobs(id, run_id, backend, client_token, remote_id, state, "
                     "n_circuits, shots, attempts, request, response, calib_submit, "
                     "calib_complete, created_at, attempted_at, submitted_at, finished_at, "
                     "updated_at) VALUES (1, 1, 'emulator-ibm', 'tok-v1-a', 'rem-1', "
                     "'COMPLETED', 3, 1000, 1, x'7b7d', x'5b5d', 'cal-1', 'cal-1', 1, 2, "
                     "3, 4, 4);"
                     "INSERT INTO jobs(id, run_id, backend, client_token, n_circuits, shots, "
                     "attempts, request, created_at, attempted_at, updated_at) VALUES (2, "
                     "1, 'emulator-ibm', 'tok-v1-b', 2, 1000, 1, x'7b2231227d', 5, 6, 6);"
                     "PRAGMA user_version = 1; PRAGMA application_id = 1213285442;",
                     NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *jc, *ev, *ct;
    HQ_REQUIRE(sqlite3_prepare_v2(c, "INSERT INTO job_circuits VALUES (?1, ?2, ?3, ?4)", -1, &jc,
                                  NULL) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_prepare_v2(c,
                                  "INSERT INTO evaluations(circuit, backend, shots, basis, "
                                  "calibration, counts, job_id, run_id) VALUES (?1, "
                                  "'emulator-ibm', 1000, ?2, 'cal-1', ?3, 1, 1)",
                                  -1, &ev, NULL) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_prepare_v2(c, "INSERT INTO circuits(hash, text) VALUES (?1, ?2)", -1, &ct,
                                  NULL) == SQLITE_OK);
    static const int job_of[5] = {1, 1, 1, 2, 2}, pos_of[5] = {0, 1, 2, 0, 1},
                     circ_of[5] = {0, 1, 2, 3, 3};
    static const char *const basis_of[5] = {"Z", "X", "Z", "Z", "X"};
    for (int r = 0; r < 5; r++) {
        char text[128], hex[65];
        uint8_t h[32];
        circuit("v1", circ_of[r], text, sizeof text, hex);
        HQ_REQUIRE_OK(hq_sha256(text, strlen(text), h));
        if (!(drop_row && r == 1)) {
            sqlite3_bind_int(jc, 1, job_of[r]);
            sqlite3_bind_int(jc, 2, pos_of[r]);
            sqlite3_bind_blob(jc, 3, h, 32, SQLITE_TRANSIENT);
            sqlite3_bind_text(jc, 4, basis_of[r], -1, SQLITE_STATIC);
            HQ_REQUIRE(sqlite3_step(jc) == SQLITE_DONE);
            sqlite3_reset(jc);
        }
        if (job_of[r] == 1) {
            hq_counts cnt;
            counts_for(&cnt, r);
            hq_sbuf b = HQ_SBUF_INIT;
            HQ_REQUIRE_OK(hq_jobdb_counts_encode(&cnt, &b));
            sqlite3_bind_blob(ev, 1, h, 32, SQLITE_TRANSIENT);
            sqlite3_bind_text(ev, 2, basis_of[r], -1, SQLITE_STATIC);
            sqlite3_bind_blob(ev, 3, b.p, (int)b.len, SQLITE_TRANSIENT);
            HQ_REQUIRE(sqlite3_step(ev) == SQLITE_DONE);
            sqlite3_reset(ev);
            hq_sbuf_free(&b);
            hq_counts_free(&cnt);
        }
        if (r == 0) {
            sqlite3_bind_blob(ct, 1, h, 32, SQLITE_TRANSIENT);
            sqlite3_bind_text(ct, 2, text, -1, SQLITE_TRANSIENT);
            HQ_REQUIRE(sqlite3_step(ct) == SQLITE_DONE);
        }
    }
    sqlite3_finalize(jc);
    sqlite3_finalize(ev);
    sqlite3_finalize(ct);
    HQ_REQUIRE(sqlite3_close(c) == SQLITE_OK);
}

HQ_TEST(db_fault_migrate_v1) {
    const char *path = hq_test_tmpfile("v1.db");
    make_v1_file(path, false);
    HQ_REQUIRE(raw_int(path, "PRAGMA user_version") == 1);
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), HQ_JOBDB_SCHEMA_VERSION);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), 3);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'job_circuits'"),
                    0);
    HQ_CHECK(integrity_ok(db));
    /* the migrated schema is exactly the one a new file gets */
    const char *sql = "SELECT group_concat(type || name || sql, ';') FROM (SELECT * FROM "
                      "sqlite_schema WHERE sql IS NOT NULL ORDER BY name)";
    sqlite3_stmt *st;
    char *migrated = NULL;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        migrated = hq_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    hq_jobdb *fresh;
    HQ_REQUIRE_OK(hq_jobdb_open(":memory:", NULL, &fresh));
    if (sqlite3_prepare_v2(fresh->conn, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        HQ_CHECK_STR(migrated ? migrated : "", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    hq_jobdb_close(fresh);
    hq_free(migrated);

    /* the jobs, their circuit lists (digests, bases, the stored text) */
    hq_jobdb_job j;
    HQ_REQUIRE_OK(hq_jobdb_job_find_token(db, "tok-v1-a", &j));
    HQ_CHECK(j.id == 1 && j.state == HQ_JOB_COMPLETED && j.n_circuits == 3 && j.attempts == 1);
    HQ_CHECK_STR(j.remote_id ? j.remote_id : "", "rem-1");
    hq_jobdb_job_clear(&j);
    HQ_REQUIRE_OK(hq_jobdb_job_find_token(db, "tok-v1-b", &j));
    HQ_CHECK(j.id == 2 && j.state == HQ_JOB_PENDING && j.attempts == 1 && j.request_len == 5);
    hq_jobdb_job_clear(&j);
    static const char *const want_basis[2][3] = {{"Z", "X", "Z"}, {"Z", "X", NULL}};
    static const int want_circ[2][3] = {{0, 1, 2}, {3, 3, -1}};
    for (int job = 1; job <= 2; job++) {
        hq_jobdb_job_circuit *items;
        int64_t n = 0;
        HQ_REQUIRE_OK(hq_jobdb_job_circuits(db, job, true, &items, &n));
        HQ_CHECK_EQ_INT(n, job == 1 ? 3 : 2);
        for (int64_t i = 0; i < n && i < 3; i++) {
            char text[128], hex[65];
            circuit("v1", want_circ[job - 1][i], text, sizeof text, hex);
            HQ_CHECK_STR(items[i].hash, hex);
            HQ_CHECK_STR(items[i].basis, want_basis[job - 1][i]);
            if (job == 1 && i == 0)
                HQ_CHECK_STR(items[i].text ? items[i].text : "(none)", text);
            else
                HQ_CHECK(items[i].text == NULL);
        }
        hq_jobdb_job_circuits_free(items, n);
    }
    /* the evaluations, served as before */
    char hexes[3][65];
    hq_jobdb_eval_key keys[3];
    for (int k = 0; k < 3; k++) {
        char text[128];
        circuit("v1", k, text, sizeof text, hexes[k]);
        keys[k] = (hq_jobdb_eval_key){.hash = hexes[k],
                                      .backend = "emulator-ibm",
                                      .shots = 1000,
                                      .basis = want_basis[0][k],
                                      .calibration = NULL};
    }
    hq_jobdb_eval ev[3];
    bool found[3];
    int64_t hits = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 1, 3, keys, ev, found, &hits));
    HQ_CHECK_EQ_INT(hits, 3);
    for (int k = 0; k < 3; k++) {
        hq_counts want;
        counts_for(&want, k);
        HQ_CHECK(found[k] && ev[k].has_counts && ev[k].job_id == 1);
        HQ_CHECK_EQ_INT(ev[k].eval_id, k + 1); /* the v1 row ids, kept */
        HQ_CHECK(ev[k].has_counts && counts_same(&ev[k].counts, &want));
        hq_counts_free(&want);
        hq_jobdb_eval_clear(&ev[k]);
    }
    /* the pending job resumes: completing it stores its results under the migrated bases */
    hq_counts c3[2];
    hq_jobdb_result res[2];
    for (int i = 0; i < 2; i++) {
        counts_for(&c3[i], 10 + i);
        res[i] = (hq_jobdb_result){.counts = &c3[i]};
    }
    HQ_CHECK_OK(hq_jobdb_job_complete(db, 2, NULL, 0, "cal-2", 2, res));
    char text3[128], hex3[65];
    circuit("v1", 3, text3, sizeof text3, hex3);
    hq_jobdb_eval_key k3[2] = {{.hash = hex3,
                                .backend = "emulator-ibm",
                                .shots = 1000,
                                .basis = "Z",
                                .calibration = "cal-2"},
                               {.hash = hex3,
                                .backend = "emulator-ibm",
                                .shots = 1000,
                                .basis = "X",
                                .calibration = "cal-2"}};
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 2, k3, ev, found, &hits));
    HQ_CHECK_EQ_INT(hits, 2);
    for (int i = 0; i < 2; i++) {
        HQ_CHECK(ev[i].has_counts && ev[i].job_id == 2 && counts_same(&ev[i].counts, &c3[i]));
        HQ_CHECK(ev[i].eval_id > 3); /* numbered after the migrated rows */
        hq_jobdb_eval_clear(&ev[i]);
        hq_counts_free(&c3[i]);
    }
    HQ_CHECK(integrity_ok(db));
    hq_jobdb_close(db);
    /* reopening migrates nothing more */
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), 3);
    hq_jobdb_close(db);
}

HQ_TEST(db_fault_migrate_v1_damaged) {
    const char *path = hq_test_tmpfile("v1bad.db");
    make_v1_file(path, true);
    char before[65], after[65];
    file_hash(path, before);
    hq_jobdb *db;
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_CORRUPT,
                   "job 1's circuit rows do not match its n_circuits 3, so the schema cannot be "
                   "migrated to version 2; the file was not modified");
    file_hash(path, after);
    HQ_CHECK_STR(after, before);
    HQ_CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), 1);
    /* a read-only open does not migrate */
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.read_only = true;
    HQ_CHECK_FAILS(hq_jobdb_open(path, &o, &db), HQ_ERR_UNSUPPORTED,
                   "has schema version 1 and needs migrating to 3");
}

/* A version 2 file as releases with schema 2 wrote it, built from the kept scripts: runs 1
 * and 2; job 1 (run 1, COMPLETED, circuits 0, 1, 2 in bases Z, X, Z) whose results are
 * stored (seq 1..3), an evaluation of circuit 3 stored by run 2 without a job (seq 4, with
 * expectation values too, mitigation "zne"), the sequence at 4. */
static void make_v2_file(const char *path) {
    sqlite3 *c;
    HQ_REQUIRE(sqlite3_open(path, &c) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_exec(c, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL", NULL, NULL,
                            NULL) == SQLITE_OK);
    HQ_REQUIRE(jobdb_schema_build(c, 2) == SQLITE_OK);
    HQ_REQUIRE(
        sqlite3_exec(c,
                     "INSERT INTO schema_migrations VALUES (1, 1.5), (2, 1.5);"
                     "INSERT INTO meta VALUES ('created_at', '1.5');"
                     "INSERT INTO runs(id, name, created_at, updated_at, status, seed, "
                     "code_version, backend, config_json) VALUES (1, 'old', 1, 2, 'RUNNING', 7, "
                     "'0.2.0', 'emulator-ibm', '{}'), (2, 'other', 1, 2, 'COMPLETED', 8, "
                     "'0.2.0', 'emulator-ibm', '{}');"
                     "UPDATE sequences SET value = 4 WHERE name = 'evaluations';"
                     "PRAGMA user_version = 2; PRAGMA application_id = 1213285442;",
                     NULL, NULL, NULL) == SQLITE_OK);
    uint8_t h[4][32];
    for (int k = 0; k < 4; k++) {
        char text[128], hex[65];
        circuit("v2", k, text, sizeof text, hex);
        HQ_REQUIRE_OK(hq_sha256(text, strlen(text), h[k]));
    }
    static const char *const basis_of[4] = {"Z", "X", "Z", "Y"};
    hq_sbuf list = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(jobdb_circlist_encode(3, &h[0][0], basis_of, &list));
    sqlite3_stmt *job, *ev;
    HQ_REQUIRE(sqlite3_prepare_v2(c,
                                  "INSERT INTO jobs(id, run_id, backend, client_token, remote_id, "
                                  "state, n_circuits, shots, attempts, calib_submit, "
                                  "calib_complete, created_at, attempted_at, submitted_at, "
                                  "finished_at, updated_at, circuits) VALUES (1, 1, "
                                  "'emulator-ibm', 'tok-v2', 'rem-1', 'COMPLETED', 3, 1000, 1, "
                                  "'cal-1', 'cal-1', 1, 2, 3, 4, 4, ?1)",
                                  -1, &job, NULL) == SQLITE_OK);
    sqlite3_bind_blob(job, 1, list.p, (int)list.len, SQLITE_TRANSIENT);
    HQ_REQUIRE(sqlite3_step(job) == SQLITE_DONE);
    sqlite3_finalize(job);
    hq_sbuf_free(&list);
    HQ_REQUIRE(sqlite3_prepare_v2(c,
                                  "INSERT INTO evaluations(circuit, backend, shots, basis, "
                                  "mitigation, calibration, seq, counts, expect, job_id, run_id) "
                                  "VALUES (?1, 'emulator-ibm', 1000, ?2, ?3, 'cal-1', ?4, ?5, ?6, "
                                  "?7, ?8)",
                                  -1, &ev, NULL) == SQLITE_OK);
    for (int k = 0; k < 4; k++) {
        hq_counts cnt;
        counts_for(&cnt, k);
        hq_sbuf b = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_jobdb_counts_encode(&cnt, &b));
        size_t nc = b.len;
        const double ex[2] = {0.25, -0.5};
        if (k == 3) HQ_REQUIRE_OK(hq_jobdb_expect_encode(ex, 2, &b));
        sqlite3_bind_blob(ev, 1, h[k], 32, SQLITE_TRANSIENT);
        sqlite3_bind_text(ev, 2, basis_of[k], -1, SQLITE_STATIC);
        sqlite3_bind_text(ev, 3, k == 3 ? "zne" : "", -1, SQLITE_STATIC);
        sqlite3_bind_int(ev, 4, k + 1);
        sqlite3_bind_blob(ev, 5, b.p, (int)nc, SQLITE_TRANSIENT);
        if (k == 3) sqlite3_bind_blob(ev, 6, b.p + nc, (int)(b.len - nc), SQLITE_TRANSIENT);
        if (k < 3) sqlite3_bind_int(ev, 7, 1);
        sqlite3_bind_int(ev, 8, k < 3 ? 1 : 2);
        HQ_REQUIRE(sqlite3_step(ev) == SQLITE_DONE);
        sqlite3_reset(ev);
        sqlite3_clear_bindings(ev);
        hq_sbuf_free(&b);
        hq_counts_free(&cnt);
    }
    sqlite3_finalize(ev);
    HQ_REQUIRE(sqlite3_close(c) == SQLITE_OK);
}

/* Every column of every evaluation, in key order, as one text. */
static char *eval_dump(const char *path) {
    sqlite3 *c;
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_open(path, &c) == SQLITE_OK &&
        sqlite3_prepare_v2(c,
                           "SELECT group_concat(hex(circuit) || '|' || backend || '|' || shots || "
                           "'|' || basis || '|' || mitigation || '|' || calibration || '|' || seq "
                           "|| '|' || quote(counts) || '|' || quote(expect) || '|' || "
                           "quote(job_id) || '|' || quote(run_id), ';') FROM (SELECT * FROM "
                           "evaluations ORDER BY circuit, backend, shots, basis, mitigation, "
                           "calibration)",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = hq_strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    return out;
}

HQ_TEST(db_fault_migrate_v2) {
    const char *path = hq_test_tmpfile("v2.db");
    make_v2_file(path);
    HQ_REQUIRE(raw_int(path, "PRAGMA user_version") == 2);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('evaluations')"),
                    2);
    char *before = eval_dump(path);
    HQ_REQUIRE(before != NULL);
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), 3);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), 3);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_list('evaluations')"),
                    0);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%_v2'"), 0);
    HQ_CHECK(integrity_ok(db));
    /* every row, column for column, as it was */
    char *after = eval_dump(path);
    HQ_CHECK_STR(after ? after : "(none)", before);
    hq_free(after);
    /* served through the API: counts, expectation values, job, insertion order */
    static const char *const basis_of[4] = {"Z", "X", "Z", "Y"};
    char hexes[4][65];
    hq_jobdb_eval_key keys[4];
    for (int k = 0; k < 4; k++) {
        char text[128];
        circuit("v2", k, text, sizeof text, hexes[k]);
        keys[k] = (hq_jobdb_eval_key){.hash = hexes[k],
                                      .backend = "emulator-ibm",
                                      .shots = 1000,
                                      .basis = basis_of[k],
                                      .mitigation = k == 3 ? "zne" : NULL,
                                      .calibration = "cal-1"};
    }
    hq_jobdb_eval ev[4];
    bool found[4];
    int64_t hits = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 1, 4, keys, ev, found, &hits));
    HQ_CHECK_EQ_INT(hits, 4);
    for (int k = 0; k < 4; k++) {
        hq_counts want;
        counts_for(&want, k);
        HQ_CHECK(found[k] && ev[k].has_counts && counts_same(&ev[k].counts, &want));
        HQ_CHECK_EQ_INT(ev[k].eval_id, k + 1);
        HQ_CHECK_EQ_INT(ev[k].job_id, k < 3 ? 1 : 0);
        HQ_CHECK_EQ_INT(ev[k].n_expect, k == 3 ? 2 : 0);
        if (k == 3 && ev[k].expect) HQ_CHECK(ev[k].expect[0] == 0.25 && ev[k].expect[1] == -0.5);
        hq_counts_free(&want);
        hq_jobdb_eval_clear(&ev[k]);
    }
    /* new rows are numbered after the migrated ones */
    char text4[128], hex4[65];
    circuit("v2", 4, text4, sizeof text4, hex4);
    hq_counts c4;
    counts_for(&c4, 4);
    hq_jobdb_eval_item it = {
        .key = {.hash = hex4, .backend = "emulator-ibm", .shots = 1000, .basis = "Z"},
        .counts = &c4,
        .job_id = 1};
    int64_t ins = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, 1, 1, &it, &ins));
    HQ_CHECK_EQ_INT(ins, 1);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT seq FROM evaluations WHERE job_id = 1 ORDER BY seq DESC "
                                  "LIMIT 1"),
                    5);
    hq_counts_free(&c4);
    hq_jobdb_close(db);
    /* ON DELETE SET NULL, kept by triggers: deleting a run (its jobs cascade) clears both
     * provenance columns of its rows and keeps the results */
    HQ_REQUIRE(raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM runs WHERE id = 1") ==
               SQLITE_OK);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM jobs"), 0);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM evaluations"), 5);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM evaluations WHERE job_id IS NOT NULL OR "
                                  "run_id IS NOT NULL"),
                    1);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT run_id FROM evaluations WHERE run_id IS NOT NULL"), 2);
    /* reopening migrates nothing more */
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"), 3);
    hq_jobdb_close(db);
    hq_free(before);
}

/* A version 2 file whose evaluations B-tree is damaged: the migration's copy reads it and
 * fails; the file is left as it was (still version 2). */
HQ_TEST(db_fault_migrate_v2_damaged) {
    const char *path = hq_test_tmpfile("v2bad.db");
    make_v2_file(path);
    int64_t root = raw_int(path, "SELECT rootpage FROM sqlite_schema WHERE name = 'evaluations'");
    HQ_REQUIRE(root > 1);
    HQ_REQUIRE(!hq_file_exists(hq_test_tmpfile("v2bad.db-wal"))); /* all in the main file */
    int fd = open(path, O_WRONLY);
    HQ_REQUIRE(fd >= 0);
    const uint8_t bad = 0x00; /* not a B-tree page type */
    HQ_REQUIRE(pwrite(fd, &bad, 1, (off_t)(root - 1) * 16384) == 1);
    close(fd);
    char before[65], after[65];
    file_hash(path, before);
    hq_jobdb *db;
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_CORRUPT,
                   "migrating the schema to version 3");
    file_hash(path, after);
    HQ_CHECK_STR(after, before);
    HQ_CHECK_EQ_INT(raw_int(path, "PRAGMA user_version"), 2);
}

HQ_TEST(db_fault_foreign_database) {
    const char *path = hq_test_tmpfile("other.db");
    HQ_REQUIRE(raw_exec(path, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT)") ==
               SQLITE_OK);
    char before[65], after[65];
    file_hash(path, before);
    hq_jobdb *db;
    HQ_CHECK_FAILS(hq_jobdb_open(path, NULL, &db), HQ_ERR_UNSUPPORTED,
                   "other.db is an SQLite database but not an hqcnn job database");
    file_hash(path, after);
    HQ_CHECK_STR(after, before);
    const char *p2 = hq_test_tmpfile("app.db");
    HQ_REQUIRE(raw_exec(p2, "PRAGMA application_id = 1234") == SQLITE_OK);
    HQ_CHECK_FAILS(hq_jobdb_open(p2, NULL, &db), HQ_ERR_UNSUPPORTED, "application_id 0x000004d2");
    /* an empty file and an empty SQLite database are fine: a new job database */
    const char *p3 = hq_test_write_file("empty.db", "", 0);
    HQ_REQUIRE_OK(hq_jobdb_open(p3, NULL, &db));
    hq_jobdb_close(db);
    const char *p4 = hq_test_tmpfile("blank.db");
    HQ_REQUIRE(raw_exec(p4, "PRAGMA user_version = 0; VACUUM") == SQLITE_OK);
    HQ_REQUIRE_OK(hq_jobdb_open(p4, NULL, &db));
    hq_jobdb_close(db);
    HQ_CHECK_EQ_INT(raw_int(p4, "PRAGMA user_version"), HQ_JOBDB_SCHEMA_VERSION);
}

/* ==== locked by another process ======================================================== */

/* Child: open, take the write lock, tell the parent, hold it until told (or hold_ms), then
 * commit a change. */
static void lock_holder(const char *path, int ready_fd, int release_fd, int hold_ms) {
    hq_jobdb *db;
    if (hq_jobdb_open(path, NULL, &db) || hq_jobdb_begin(db, false) ||
        hq_jobdb_run_set_status(db, 1, HQ_RUN_RUNNING))
        _exit(2);
    if (write(ready_fd, "x", 1) != 1) _exit(3);
    if (hold_ms > 0) {
        hq_sleep_ms(hold_ms);
    } else {
        char c;
        while (read(release_fd, &c, 1) < 0 && errno == EINTR) {
        }
    }
    _exit(hq_jobdb_commit(db) == HQ_OK ? 0 : 4);
}

HQ_TEST(db_fault_locked) {
    const char *path = hq_test_tmpfile("lock.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t run = new_run(db, "r");
    hq_jobdb_close(db); /* never carry a connection across fork */
    int ready[2], release[2];
    HQ_REQUIRE(pipe(ready) == 0 && pipe(release) == 0);
    pid_t pid = fork();
    HQ_REQUIRE(pid >= 0);
    if (pid == 0) lock_holder(path, ready[1], release[0], 0);
    char c;
    HQ_REQUIRE(read(ready[0], &c, 1) == 1);
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.busy_timeout_ms = 200;
    HQ_REQUIRE_OK(hq_jobdb_open(path, &o, &db));
    double t0 = hq_time_now();
    HQ_CHECK_FAILS(hq_jobdb_run_set_plan(db, run, "{}"), HQ_ERR_BUSY,
                   "lock.db is locked by another connection");
    double waited = hq_time_now() - t0;
    HQ_CHECKF(waited >= 0.15 && waited < 5, "waited %.3f s", waited);
    HQ_CHECK(strstr(hq_last_error(), "waited 200 ms") != NULL);
    HQ_CHECK(strstr(hq_last_error(), "raise the busy timeout") != NULL);
    /* readers are not blocked by a writer in WAL mode, and see the committed state */
    hq_jobdb_run r;
    HQ_CHECK_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK(r.status == HQ_RUN_CREATED);
    hq_jobdb_run_clear(&r);
    HQ_CHECK(write(release[1], "x", 1) == 1);
    int st;
    HQ_REQUIRE(waitpid(pid, &st, 0) == pid);
    HQ_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    HQ_CHECK_OK(hq_jobdb_run_set_plan(db, run, "{}")); /* free again */
    HQ_CHECK_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK(r.status == HQ_RUN_RUNNING); /* the other process's commit */
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db);

    /* a lock released within the timeout is waited for, not reported */
    pid = fork();
    HQ_REQUIRE(pid >= 0);
    if (pid == 0) lock_holder(path, ready[1], release[0], 300);
    HQ_REQUIRE(read(ready[0], &c, 1) == 1);
    o.busy_timeout_ms = 5000;
    HQ_REQUIRE_OK(hq_jobdb_open(path, &o, &db));
    t0 = hq_time_now();
    HQ_CHECK_OK(hq_jobdb_run_set_status(db, run, HQ_RUN_COMPLETED));
    HQ_CHECK(hq_time_now() - t0 > 0.1);
    HQ_REQUIRE(waitpid(pid, &st, 0) == pid);
    HQ_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    HQ_CHECK_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK(r.status == HQ_RUN_COMPLETED);
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db);
    /* busy_timeout_ms = 0: fail at once */
    pid = fork();
    HQ_REQUIRE(pid >= 0);
    if (pid == 0) lock_holder(path, ready[1], release[0], 0);
    HQ_REQUIRE(read(ready[0], &c, 1) == 1);
    o.busy_timeout_ms = 0;
    HQ_REQUIRE_OK(hq_jobdb_open(path, &o, &db));
    t0 = hq_time_now();
    HQ_CHECK_FAILS(hq_jobdb_run_set_plan(db, run, "{}"), HQ_ERR_BUSY, "waited 0 ms");
    HQ_CHECK(hq_time_now() - t0 < 0.1);
    HQ_CHECK(write(release[1], "x", 1) == 1);
    HQ_REQUIRE(waitpid(pid, &st, 0) == pid);
    hq_jobdb_close(db);
    close(ready[0]), close(ready[1]), close(release[0]), close(release[1]);
}

/* ==== disk full and I/O errors ========================================================= */

static hq_jobdb *open_fault(const char *path) {
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.vfs = "hqfault";
    hq_jobdb *db = NULL;
    if (hq_jobdb_open(path, &o, &db))
        hq_test_fail(__FILE__, __LINE__, "open through hqfault: %s", hq_last_error());
    return db;
}

/* The commits before a request fsync by default; hq_jobdb_set_jobs_durable(db, false)
 * (used for in-process simulators) leaves them to the operating system. Counted by the
 * fault VFS's sync calls; the WAL is far from its checkpoint size, so nothing else syncs. */
HQ_TEST(db_fault_jobs_durable_switch) {
    hq_jobdb *db = open_fault(hq_test_tmpfile("durable.db"));
    HQ_REQUIRE(db);
    int64_t run = new_run(db, "r");
    char text[200], hash[65];
    circuit("d", 0, text, sizeof text, hash);
    const char *hp[1] = {hash};
    hq_jobdb_job_spec spec = {
        .run_id = run, .backend = "sv-shots", .shots = 100, .n_circuits = 1, .hashes = hp};
    hq_jobdb_fault_stats fs;
    int64_t job;
    for (int durable = 1; durable >= 0; durable--) {
        HQ_CHECK(hq_jobdb_set_jobs_durable(db, durable) == true); /* previous: the default */
        hq_jobdb_fault_set(NULL);                                 /* counters to zero */
        HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
        HQ_REQUIRE_OK(hq_jobdb_job_begin_attempt(db, job));
        hq_jobdb_fault_get_stats(&fs);
        HQ_CHECKF(durable ? fs.syncs >= 2 : fs.syncs == 0, "durable %d: %lld syncs", durable,
                  (long long)fs.syncs);
        /* a later non-durable write syncs nothing either way */
        hq_jobdb_fault_set(NULL);
        HQ_REQUIRE_OK(hq_jobdb_job_submitted(db, job, durable ? "j1" : "j2", NULL));
        hq_jobdb_fault_get_stats(&fs);
        HQ_CHECK_EQ_INT(fs.syncs, 0);
    }
    HQ_CHECK(hq_jobdb_set_jobs_durable(db, true) == false);
    /* inside a non-durable group a job may now be created (no durable commit needed) */
    HQ_CHECK(hq_jobdb_set_jobs_durable(db, false) == true);
    HQ_REQUIRE_OK(hq_jobdb_begin(db, false));
    HQ_CHECK_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    HQ_CHECK_OK(hq_jobdb_commit(db));
    hq_jobdb_set_jobs_durable(db, true);
    HQ_REQUIRE_OK(hq_jobdb_begin(db, false));
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_MISUSE,
                   "must be committed durably");
    HQ_CHECK_OK(hq_jobdb_rollback(db));
    HQ_CHECK(hq_jobdb_set_jobs_durable(NULL, false) == false); /* a bad handle: no effect */
    hq_jobdb_fault_set(NULL);
    hq_jobdb_close(db);
}

HQ_TEST(db_fault_disk_full) {
    const char *path = hq_test_tmpfile("full.db");
    hq_jobdb *db = open_fault(path);
    HQ_REQUIRE(db);
    int64_t run = new_run(db, "r");
    const size_t nw = 64600 * 4;
    HQ_REQUIRE_OK(put_ck(db, run, 0, nw));
    /* the disk fills up 100 kB into the next checkpoint (about 780 kB) and stays full */
    hq_jobdb_fault f = {.kind = HQ_JOBDB_FAULT_FULL,
                        .write_bytes = 100000,
                        .write_calls = -1,
                        .sync_calls = -1,
                        .read_calls = -1,
                        .sticky = true};
    hq_jobdb_fault_set(&f);
    HQ_CHECK_FAILS(put_ck(db, run, 1, nw), HQ_ERR_IO, "disk full while writing");
    HQ_CHECK(strstr(hq_last_error(), "full.db") &&
             strstr(hq_last_error(), "the last committed state is intact"));
    HQ_CHECK(strstr(hq_last_error(), "free disk space"));
    hq_jobdb_fault_stats fs;
    hq_jobdb_fault_get_stats(&fs);
    HQ_CHECK(fs.failures >= 1 && fs.bytes_written <= 100000);
    /* reads still work and see the previous state, intact */
    hq_jobdb_checkpoint ck;
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK(ck_ok(&ck, 0, nw));
    hq_jobdb_checkpoint_clear(&ck);
    /* small writes fail too while the disk is full */
    HQ_CHECK_FAILS(hq_jobdb_run_set_status(db, run, HQ_RUN_RUNNING), HQ_ERR_IO, "disk full");
    /* space freed: the same handle carries on */
    hq_jobdb_fault_set(NULL);
    HQ_CHECK_OK(put_ck(db, run, 1, nw));
    HQ_CHECK_OK(hq_jobdb_run_set_status(db, run, HQ_RUN_RUNNING));
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK(ck_ok(&ck, 1, nw));
    hq_jobdb_checkpoint_clear(&ck);
    hq_jobdb_close(db);
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK(integrity_ok(db));
    int64_t *steps, n;
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_steps(db, run, &steps, &n));
    HQ_CHECK(n == 2 && steps[0] == 0 && steps[1] == 1);
    hq_free(steps);
    hq_jobdb_close(db);
}

/* Fail the k-th write (k = 1, 2, ...) of a checkpoint write, then of a durable job
 * insert, until one goes through untouched: after every failure the last committed
 * state must be intact and complete, and the handle usable. */
HQ_TEST(db_fault_io_error_every_write) {
    const char *path = hq_test_tmpfile("io.db");
    hq_jobdb *db = open_fault(path);
    HQ_REQUIRE(db);
    int64_t run = new_run(db, "r");
    const size_t nw = 30000;
    int64_t committed = -1, failures = 0;
    for (int64_t k = 1; k < 400; k++) {
        int64_t step = committed + 1;
        hq_jobdb_fault f = {.kind = k % 2 ? HQ_JOBDB_FAULT_IOERR : HQ_JOBDB_FAULT_FULL,
                            .write_bytes = -1,
                            .write_calls = k,
                            .sync_calls = -1,
                            .read_calls = -1};
        hq_jobdb_fault_set(&f);
        hq_status s = put_ck(db, run, step, nw);
        hq_jobdb_fault_stats fs;
        hq_jobdb_fault_get_stats(&fs);
        hq_jobdb_fault_set(NULL);
        HQ_CHECKF(s == HQ_OK || s == HQ_ERR_IO, "write %lld: %s", (long long)k, hq_last_error());
        if (s == HQ_OK) committed = step;
        failures += s != HQ_OK;
        hq_jobdb_checkpoint ck;
        hq_status g = hq_jobdb_checkpoint_latest(db, run, &ck);
        if (committed < 0) {
            HQ_CHECK(g == HQ_ERR_NOT_FOUND);
        } else {
            HQ_CHECKF(g == HQ_OK && ck_ok(&ck, committed, nw), "after write %lld: %s", (long long)k,
                      hq_last_error());
            hq_jobdb_checkpoint_clear(&ck);
        }
        if (fs.failures == 0) break; /* the whole put needed fewer than k writes */
    }
    HQ_CHECK(failures >= 5);
    HQ_CHECK(integrity_ok(db));
    /* an fsync failure on a durable commit is reported, and the job is not there */
    char text[200], hash[65];
    circuit("io", 0, text, sizeof text, hash);
    const char *hp[1] = {hash};
    hq_jobdb_job_spec spec = {
        .run_id = run, .backend = "ionq", .shots = 100, .n_circuits = 1, .hashes = hp};
    hq_jobdb_fault f = {.kind = HQ_JOBDB_FAULT_IOERR,
                        .write_bytes = -1,
                        .write_calls = -1,
                        .sync_calls = 1,
                        .read_calls = -1};
    hq_jobdb_fault_set(&f);
    int64_t job;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_IO, "I/O error on");
    hq_jobdb_fault_set(NULL);
    hq_jobdb_job *jobs;
    int64_t n;
    HQ_REQUIRE_OK(hq_jobdb_job_list(db, run, HQ_JOB_MASK_ALL, &jobs, &n));
    HQ_CHECK_EQ_INT(n, 0);
    hq_jobdb_jobs_free(jobs, n);
    HQ_CHECK_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    /* a failing read is reported as an I/O error too */
    hq_jobdb_close(db);
    db = open_fault(path);
    HQ_REQUIRE(db);
    f = (hq_jobdb_fault){.kind = HQ_JOBDB_FAULT_IOERR,
                         .write_bytes = -1,
                         .write_calls = -1,
                         .sync_calls = -1,
                         .read_calls = 1,
                         .sticky = true};
    hq_jobdb_fault_set(&f);
    hq_jobdb_checkpoint ck;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_latest(db, run, &ck), HQ_ERR_IO, "I/O error");
    hq_jobdb_fault_set(NULL);
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK(ck_ok(&ck, committed, nw));
    hq_jobdb_checkpoint_clear(&ck);
    hq_jobdb_close(db);
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK(integrity_ok(db));
    hq_jobdb_close(db);
}

/* ==== kill -9 at random moments ======================================================== */

enum { CRASH_NW = 20000 };

/* One training step as the orchestrator would record it: a job for the step's circuit
 * (create, attempt, accepted, completed with results), then the checkpoint. */
static hq_status crash_step(hq_jobdb *db, int64_t run, int64_t step) {
    char text[200], hash[65], remote[32];
    circuit("crash", step, text, sizeof text, hash);
    const char *hp[1] = {hash}, *tp[1] = {text};
    hq_jobdb_job_spec spec = {.run_id = run,
                              .backend = "emulator-ibm",
                              .shots = 1000,
                              .n_circuits = 1,
                              .hashes = hp,
                              .texts = tp};
    int64_t job;
    hq_counts c;
    counts_for(&c, step);
    hq_jobdb_result res = {.counts = &c};
    snprintf(remote, sizeof remote, "r-%lld", (long long)step);
    /* a replayed step finds its result in the cache and submits nothing */
    hq_jobdb_eval_key key = {.hash = hash, .backend = "emulator-ibm", .shots = 1000, .basis = "Z"};
    hq_jobdb_eval e;
    int64_t nf = 0;
    hq_status s = hq_jobdb_eval_lookup(db, run, 1, &key, &e, NULL, &nf);
    hq_jobdb_eval_clear(&e);
    if (s == HQ_OK && nf == 1) {
        hq_counts_free(&c);
        return put_ck(db, run, step, CRASH_NW);
    }
    if (!s && !(s = hq_jobdb_job_create(db, &spec, &job, NULL)) &&
        !(s = hq_jobdb_job_begin_attempt(db, job)) &&
        !(s = hq_jobdb_job_submitted(db, job, remote, "cal")) &&
        !(s = hq_jobdb_job_complete(db, job, "{}", 2, NULL, 1, &res)))
        s = put_ck(db, run, step, CRASH_NW);
    hq_counts_free(&c);
    return s;
}

/* Resume: finish the jobs a crash left behind, as the dispatcher would. */
static hq_status crash_resume(hq_jobdb *db, int64_t run) {
    hq_jobdb_job *jobs;
    int64_t n;
    hq_status s = hq_jobdb_job_list(db, run, HQ_JOB_MASK_ACTIVE, &jobs, &n);
    for (int64_t i = 0; i < n && !s; i++) {
        hq_jobdb_job_circuit *jc;
        int64_t nc;
        if ((s = hq_jobdb_job_circuits(db, jobs[i].id, true, &jc, &nc))) break;
        int64_t step = -1;
        sscanf(jc[0].text, "hqcnn-circuit 1\nqubits 2\nclbits 2\n# crash\nrx(%" SCNd64 ") 0",
               &step);
        hq_jobdb_job_circuits_free(jc, nc);
        hq_counts c;
        counts_for(&c, step);
        hq_jobdb_result res = {.counts = &c};
        s = hq_jobdb_job_complete(db, jobs[i].id, "{}", 2, NULL, 1, &res);
        hq_counts_free(&c);
    }
    hq_jobdb_jobs_free(jobs, n);
    return s;
}

static void crash_writer(const char *path, int report_fd) {
    hq_jobdb *db;
    hq_jobdb_run r;
    if (hq_jobdb_open(path, NULL, &db) || hq_jobdb_run_find(db, "crash", &r)) _exit(2);
    int64_t run = r.id, step = 0;
    hq_jobdb_run_clear(&r);
    if (crash_resume(db, run)) _exit(3);
    hq_jobdb_checkpoint ck;
    if (hq_jobdb_checkpoint_latest(db, run, &ck) == HQ_OK) step = ck.step + 1;
    hq_jobdb_checkpoint_clear(&ck);
    for (;; step++) {
        if (crash_step(db, run, step)) {
            fprintf(stderr, "writer: %s\n", hq_last_error());
            _exit(4);
        }
        if (write(report_fd, &step, sizeof step) != sizeof step) _exit(5);
    }
}

HQ_TEST(db_fault_kill9) {
    const char *path = hq_test_tmpfile("crash.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t run = new_run(db, "crash");
    hq_jobdb_close(db);
    hq_rng rng;
    hq_rng_init(&rng, (uint64_t)getpid(), 0, 0);
    int64_t reported = -1;
    for (int round = 0; round < 6; round++) {
        int p[2];
        HQ_REQUIRE(pipe(p) == 0);
        pid_t pid = fork();
        HQ_REQUIRE(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_writer(path, p[1]);
        }
        close(p[1]);
        hq_sleep_ms(30 + (long)hq_rng_below(&rng, 150));
        kill(pid, SIGKILL);
        int st;
        HQ_REQUIRE(waitpid(pid, &st, 0) == pid);
        HQ_CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "writer exited early (status %d)",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        int64_t s;
        ssize_t got;
        while ((got = read(p[0], &s, sizeof s)) == sizeof s) reported = s;
        close(p[0]);

        HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
        HQ_CHECK(integrity_ok(db));
        hq_jobdb_checkpoint ck;
        int64_t latest = -1;
        if (hq_jobdb_checkpoint_latest(db, run, &ck) == HQ_OK) {
            latest = ck.step;
            HQ_CHECK(ck_ok(&ck, ck.step, CRASH_NW)); /* never a partial checkpoint */
            hq_jobdb_checkpoint_clear(&ck);
        }
        /* every reported step is there; at most one committed but unreported after it */
        HQ_CHECKF(latest == reported || latest == reported + 1,
                  "round %d: latest %lld, reported %lld", round, (long long)latest,
                  (long long)reported);
        for (int64_t k = 0; k <= latest; k++) {
            HQ_REQUIRE_OK(hq_jobdb_checkpoint_get(db, run, k, &ck));
            HQ_CHECK(ck_ok(&ck, k, CRASH_NW));
            hq_jobdb_checkpoint_clear(&ck);
            char text[200], hash[65];
            circuit("crash", k, text, sizeof text, hash);
            hq_jobdb_eval_key key = {
                .hash = hash, .backend = "emulator-ibm", .shots = 1000, .basis = "Z"};
            hq_jobdb_eval e;
            int64_t nf;
            HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 1, &key, &e, NULL, &nf));
            hq_counts want;
            counts_for(&want, k);
            HQ_CHECK(nf == 1 && e.counts.shots == 1000 && e.job_id > 0 &&
                     hq_counts_get(&e.counts, (uint64_t)(k & 3)) == want.count[0]);
            hq_counts_free(&want);
            hq_jobdb_job j;
            HQ_REQUIRE_OK(hq_jobdb_job_get(db, e.job_id, &j));
            HQ_CHECK(j.state == HQ_JOB_COMPLETED);
            hq_jobdb_job_clear(&j);
            hq_jobdb_eval_clear(&e);
        }
        /* a job of the interrupted step may exist in any state; a completed one has its
         * result (job and evaluations commit together) */
        hq_jobdb_job *jobs;
        int64_t n;
        HQ_REQUIRE_OK(hq_jobdb_job_list(db, run, HQ_JOB_MASK_ALL, &jobs, &n));
        HQ_CHECKF(n == latest + 1 || n == latest + 2, "%lld jobs for %lld steps", (long long)n,
                  (long long)latest + 1);
        hq_jobdb_jobs_free(jobs, n);
        hq_jobdb_run_stats rs;
        HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, run, &rs));
        HQ_CHECK_EQ_INT(rs.evaluations, rs.jobs[HQ_JOB_COMPLETED]);
        hq_jobdb_close(db);
        reported = latest;
    }
    HQ_CHECK(reported > 5); /* the writer got real work done between kills */
}

/* ==== two processes, one file ========================================================== */

enum { CONC_ITERS = 120, CONC_SHARED = 16 };

static hq_status conc_iter(hq_jobdb *db, int64_t run, int who, int it) {
    char st[200], sh[65], ot[200], oh[65], remote[32], tag[16];
    circuit("shared", it % CONC_SHARED, st, sizeof st, sh);
    snprintf(tag, sizeof tag, "own%d", who);
    circuit(tag, it, ot, sizeof ot, oh);
    hq_counts cs, co;
    counts_for(&cs, it % CONC_SHARED);
    counts_for(&co, 1000 * who + it);
    /* both processes store the same shared results (first wins) and their own ones */
    hq_jobdb_eval_item items[2] = {
        {.key = {.hash = sh, .backend = "sv-shots", .shots = 1000, .basis = "Z"},
         .circuit_text = st,
         .counts = &cs},
        {.key = {.hash = oh, .backend = "sv-shots", .shots = 1000, .basis = "Z"},
         .circuit_text = ot,
         .counts = &co}};
    const char *hp[2] = {sh, oh}, *tp[2] = {st, ot};
    hq_jobdb_job_spec spec = {.run_id = run,
                              .backend = "emulator-ionq",
                              .shots = 1000,
                              .n_circuits = 2,
                              .hashes = hp,
                              .texts = tp};
    hq_jobdb_result res[2] = {{.counts = &cs}, {.counts = &co}};
    hq_jobdb_eval_key keys[2] = {items[0].key, items[1].key};
    hq_jobdb_eval out[2];
    int64_t job, nf;
    snprintf(remote, sizeof remote, "p%d-%d", who, it);
    hq_status s;
    if (!(s = hq_jobdb_eval_put(db, run, 2, items, NULL)) &&
        !(s = hq_jobdb_job_create(db, &spec, &job, NULL)) &&
        !(s = hq_jobdb_job_begin_attempt(db, job)) &&
        !(s = hq_jobdb_job_submitted(db, job, remote, NULL)) &&
        !(s = hq_jobdb_job_set_state(db, job, HQ_JOB_RUNNING, NULL)) &&
        !(s = hq_jobdb_job_complete(db, job, "{}", 2, NULL, 2, res)) &&
        !(s = hq_jobdb_eval_lookup(db, run, 2, keys, out, NULL, &nf))) {
        if (nf != 2) s = HQ_ERR_INTERNAL;
        hq_jobdb_eval_clear(&out[0]);
        hq_jobdb_eval_clear(&out[1]);
        if (!s && it % 10 == 9) s = put_ck(db, run, it, 4000);
    }
    hq_counts_free(&cs);
    hq_counts_free(&co);
    return s;
}

HQ_TEST(db_fault_two_processes) {
    const char *path = hq_test_tmpfile("two.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t runs[2] = {new_run(db, "p0"), new_run(db, "p1")};
    hq_jobdb_close(db);
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        pid[w] = fork();
        HQ_REQUIRE(pid[w] >= 0);
        if (pid[w] == 0) {
            if (hq_jobdb_open(path, NULL, &db)) _exit(2);
            for (int it = 0; it < CONC_ITERS; it++)
                if (conc_iter(db, runs[w], w, it)) {
                    fprintf(stderr, "    process %d, iteration %d: %s\n", w, it, hq_last_error());
                    _exit(1);
                }
            hq_jobdb_close(db);
            _exit(0);
        }
    }
    for (int w = 0; w < 2; w++) {
        int st;
        HQ_REQUIRE(waitpid(pid[w], &st, 0) == pid[w]);
        HQ_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d failed", w);
    }
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK(integrity_ok(db));
    for (int w = 0; w < 2; w++) {
        hq_jobdb_run_stats rs;
        HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, runs[w], &rs));
        HQ_CHECK_EQ_INT(rs.jobs[HQ_JOB_COMPLETED], CONC_ITERS);
        HQ_CHECK_EQ_INT(rs.shots_completed, CONC_ITERS * 2 * 1000);
        HQ_CHECK_EQ_INT(rs.checkpoints, CONC_ITERS / 10);
        HQ_CHECK_EQ_INT(rs.cache_hits, 2 * CONC_ITERS);
        for (int it = 0; it < CONC_ITERS; it++) {
            char remote[32];
            snprintf(remote, sizeof remote, "p%d-%d", w, it);
            hq_jobdb_job j;
            HQ_CHECK_OK(hq_jobdb_job_find_remote(db, "emulator-ionq", remote, &j));
            HQ_CHECK(j.run_id == runs[w] && j.state == HQ_JOB_COMPLETED);
            hq_jobdb_job_clear(&j);
        }
    }
    /* every key stored exactly once: shared (16, sv-shots) + own (2 x 120, sv-shots), and
     * the job results (emulator-ionq): 16 shared + 240 own */
    sqlite3_stmt *st;
    HQ_REQUIRE(
        sqlite3_prepare_v2(db->conn,
                           "SELECT backend, count(*) FROM evaluations GROUP BY backend ORDER "
                           "BY backend",
                           -1, &st, NULL) == SQLITE_OK);
    int64_t per[2] = {-1, -1};
    for (int i = 0; i < 2 && sqlite3_step(st) == SQLITE_ROW; i++)
        per[i] = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    HQ_CHECK_EQ_INT(per[0], CONC_SHARED + 2 * CONC_ITERS); /* emulator-ionq */
    HQ_CHECK_EQ_INT(per[1], CONC_SHARED + 2 * CONC_ITERS); /* sv-shots */
    /* the shared results are the same whichever process stored them first */
    for (int k = 0; k < CONC_SHARED; k++) {
        char t[200], h[65];
        circuit("shared", k, t, sizeof t, h);
        hq_jobdb_eval_key key = {.hash = h, .backend = "sv-shots", .shots = 1000, .basis = "Z"};
        hq_jobdb_eval e;
        int64_t nf;
        HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 1, &key, &e, NULL, &nf));
        hq_counts want;
        counts_for(&want, k);
        HQ_CHECK(nf == 1 && hq_counts_get(&e.counts, (uint64_t)(k & 3)) == want.count[0]);
        hq_counts_free(&want);
        hq_jobdb_eval_clear(&e);
    }
    hq_jobdb_close(db);
}

/* ==== schema creation ================================================================== */

/* Two processes create the same new database at the same moment: the schema is created
 * once (the version is re-read under the write lock) and both carry on. */
HQ_TEST(db_fault_concurrent_create) {
    const char *path = hq_test_tmpfile("fresh.db");
    int gate[2];
    HQ_REQUIRE(pipe(gate) == 0);
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        pid[w] = fork();
        HQ_REQUIRE(pid[w] >= 0);
        if (pid[w] == 0) {
            close(gate[1]);
            char c;
            while (read(gate[0], &c, 1) < 0 && errno == EINTR) {
            }
            hq_jobdb *db;
            char name[16];
            snprintf(name, sizeof name, "w%d", w);
            if (hq_jobdb_open(path, NULL, &db)) {
                fprintf(stderr, "    process %d: %s\n", w, hq_last_error());
                _exit(1);
            }
            hq_jobdb_run spec = {
                .name = name, .seed = 1, .code_version = "v", .backend = "sv", .config_json = "{}"};
            int64_t id;
            _exit(hq_jobdb_run_create(db, &spec, &id) == HQ_OK ? 0 : 2);
        }
    }
    close(gate[0]);
    close(gate[1]); /* EOF releases both at once */
    for (int w = 0; w < 2; w++) {
        int st;
        HQ_REQUIRE(waitpid(pid[w], &st, 0) == pid[w]);
        HQ_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d failed", w);
    }
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM schema_migrations"),
                    HQ_JOBDB_SCHEMA_VERSION);
    HQ_CHECK_EQ_INT(raw_int(path, "SELECT count(*) FROM runs"), 2);
}
