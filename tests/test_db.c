/*
 * tests/test_db.c — db/jobdb: every table's API round trip, the error path of every public
 * function (status + message), uniqueness and foreign-key violations, the job state
 * machine, the evaluation cache, user transactions and allocation failures. Expected
 * values come from the inputs or from independent computations in the test (sha256 of the
 * text, the pruning policy evaluated by hand, shot totals summed here), never from the
 * module's own earlier output. Fault, crash and concurrency tests are in test_db_fault.c,
 * the blob formats in test_db_blob.c.
 */
#include <string.h>

#include "core/rng.h"
#include "core/sha256.h"
#include "db/jobdb_impl.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================== */

/* sha256 of schema version 1 as SQLite stores it (see db_schema_v1_frozen) */
#define V1_SCHEMA_SHA256 "0cdae9c408d8e6fc2b45e211c44b305ffdd50321be8d18b383b5b9bff60ca7ce"
/* ... and of version 2 (db_schema_v2_frozen) */
#define V2_SCHEMA_SHA256 "f38a23d7c124396b9c785516201b65ca1f435dd252e45d613c63f5d0f89ebd5d"
/* sha256 of the current schema (3): the v3 script drops evaluations' foreign keys */
#define V3_SCHEMA_SHA256 "66961f69f68eb62765b9bd5b7e409790128400757e483e7ba809cd745ff76888"

static hq_jobdb *open_mem(void) {
    hq_jobdb *db = NULL;
    hq_status s = hq_jobdb_open(":memory:", NULL, &db);
    if (s) hq_test_fail(__FILE__, __LINE__, "open :memory: failed: %s", hq_last_error());
    return db;
}

/* One integer from raw SQL on the handle's connection (test-only inspection). */
static int64_t sql_int(hq_jobdb *db, const char *sql) {
    sqlite3_stmt *st;
    int64_t v = -999;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t make_run(hq_jobdb *db, const char *name) {
    hq_jobdb_run spec = {.name = (char *)name,
                         .seed = 42,
                         .code_version = "0.1.0",
                         .backend = "sv",
                         .config_json = "{\"dataset\": \"breastmnist\"}"};
    int64_t id = 0;
    hq_status s = hq_jobdb_run_create(db, &spec, &id);
    if (s) hq_test_fail(__FILE__, __LINE__, "run_create: %s", hq_last_error());
    return id;
}

/* A small distinct canonical-looking circuit text and its sha256 (computed here). */
static void circuit_text(int k, char *text, size_t cap, char hash[65]) {
    snprintf(text, cap, "hqcnn-circuit 1\nqubits 4\nclbits 4\nry(%d.25) 0\nmeasure 0 -> 0\n", k);
    hq_sha256_hex(text, strlen(text), hash);
}

static void counts_of(hq_counts *c, int n_bits, const uint64_t *o, const int64_t *k, int n) {
    hq_counts_init(c, n_bits);
    for (int i = 0; i < n; i++) hq_counts_add(c, o[i], k[i]);
}

/* ==== open / schema ==================================================================== */

HQ_TEST(db_open_creates_schema) {
    const char *path = hq_test_tmpfile("a.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_STR(hq_jobdb_path(db), path);
    HQ_CHECK_EQ_INT(sql_int(db, "PRAGMA user_version"), HQ_JOBDB_SCHEMA_VERSION);
    HQ_CHECK_EQ_INT(sql_int(db, "PRAGMA application_id"), HQ_JOBDB_APPLICATION_ID);
    HQ_CHECK_EQ_INT(sql_int(db, "PRAGMA foreign_keys"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    HQ_CHECK_EQ_INT(sql_int(db, "PRAGMA page_size"), 16384);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    /* the tables docs/db.md documents, and no others */
    static const char *const tables[] = {
        "calibrations", "checkpoints", "circuits",          "evaluations", "jobs",
        "meta",         "runs",        "schema_migrations", "sequences"};
    sqlite3_stmt *st;
    HQ_REQUIRE(sqlite3_prepare_v2(db->conn,
                                  "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY "
                                  "name",
                                  -1, &st, NULL) == SQLITE_OK);
    size_t k = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        HQ_CHECKF(k < HQ_ARRAY_LEN(tables) && !strcmp(name, tables[k]), "table %zu is %s", k, name);
        k++;
    }
    sqlite3_finalize(st);
    HQ_CHECK_EQ_INT(k, HQ_ARRAY_LEN(tables));
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM schema_migrations WHERE version = 1"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM schema_migrations WHERE version = 2"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM schema_migrations WHERE version = 3"), 1);
    bool ok = false;
    char *rep = NULL;
    HQ_CHECK_OK(hq_jobdb_check_integrity(db, &ok, &rep));
    HQ_CHECK(ok && rep == NULL);
    hq_jobdb_close(db);
    /* reopening an up-to-date database changes nothing */
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    hq_jobdb_close(db);
    hq_jobdb_close(NULL); /* no-op */
}

/* Schema version 1 is frozen: the DDL kept for it must build exactly the schema files
 * created by the first release have, or migrations from v1 would be wrong. If this fails,
 * the v1 DDL in db/schema.c was edited: restore it and change the schema in a new version. */
/* sqlite_schema of a connection as one text, hashed */
static void schema_hash(sqlite3 *c, char hex[65], char **text) {
    sqlite3_stmt *st;
    hex[0] = 0;
    *text = NULL;
    if (sqlite3_prepare_v2(c,
                           "SELECT group_concat(type || ' ' || name || ': ' || sql, char(10)) FROM "
                           "(SELECT * FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name)",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *all = (const char *)sqlite3_column_text(st, 0);
        hq_sha256_hex(all, strlen(all), hex);
        *text = hq_strdup(all);
    }
    sqlite3_finalize(st);
}

HQ_TEST(db_schema_v1_frozen) {
    sqlite3 *c;
    HQ_REQUIRE(sqlite3_open(":memory:", &c) == SQLITE_OK);
    HQ_REQUIRE(jobdb_schema_script(1) != NULL);
    HQ_REQUIRE(sqlite3_exec(c, jobdb_schema_script(1), NULL, NULL, NULL) == SQLITE_OK);
    char hex[65], *all;
    schema_hash(c, hex, &all);
    HQ_CHECKF(!strcmp(hex, V1_SCHEMA_SHA256), "schema v1 changed: sha256 %s\n%s", hex, all);
    hq_free(all);
    sqlite3_close(c);
    HQ_CHECK(jobdb_schema_script(0) == NULL && jobdb_schema_script(2) == NULL);
}

/* Schema 2 (v1 + the v2 migration) is frozen the same way: a release shipped it, so files
 * of it must migrate to any later version and its text must not drift. */
HQ_TEST(db_schema_v2_frozen) {
    sqlite3 *c;
    HQ_REQUIRE(sqlite3_open(":memory:", &c) == SQLITE_OK);
    HQ_REQUIRE(jobdb_schema_build(c, 2) == SQLITE_OK);
    char hex[65], *all;
    schema_hash(c, hex, &all);
    HQ_CHECKF(!strcmp(hex, V2_SCHEMA_SHA256), "schema v2 changed: sha256 %s\n%s", hex, all);
    HQ_CHECK(all && strstr(all, "circuits BLOB") && !strstr(all, "job_circuits"));
    hq_free(all);
    sqlite3_close(c);
    HQ_CHECK(jobdb_schema_build(c, 0) == SQLITE_MISUSE);
    HQ_CHECK(jobdb_schema_build(c, HQ_JOBDB_SCHEMA_VERSION + 1) == SQLITE_MISUSE);
}

/* The current schema (v2 + the v3 migration) is what a new file gets, frozen too. */
HQ_TEST(db_schema_v3_frozen) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    char hex[65], *all;
    schema_hash(db->conn, hex, &all);
    HQ_CHECKF(!strcmp(hex, V3_SCHEMA_SHA256), "schema v3 changed: sha256 %s\n%s", hex, all);
    /* evaluations keeps its provenance columns without foreign keys */
    HQ_CHECK(all && strstr(all, "job_id      INTEGER,") && strstr(all, "evaluations_job_deleted"));
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM pragma_foreign_key_list('evaluations')"), 0);
    hq_free(all);
    /* a v2 file built from the scripts and migrated is the same schema */
    sqlite3 *c;
    HQ_REQUIRE(sqlite3_open(":memory:", &c) == SQLITE_OK);
    HQ_REQUIRE(jobdb_schema_build(c, 3) == SQLITE_OK);
    char hex3[65], *all3;
    schema_hash(c, hex3, &all3);
    HQ_CHECK_STR(hex3, V3_SCHEMA_SHA256);
    hq_free(all3);
    sqlite3_close(c);
    hq_jobdb_close(db);
}

HQ_TEST(db_open_errors) {
    hq_jobdb *db = (hq_jobdb *)1;
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", NULL, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_jobdb_open(NULL, NULL, &db), HQ_ERR_INVALID_ARG, "path is NULL or empty");
    HQ_CHECK(db == NULL);
    HQ_CHECK_FAILS(hq_jobdb_open("", NULL, &db), HQ_ERR_INVALID_ARG, "path is NULL or empty");
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.busy_timeout_ms = -1;
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", &o, &db), HQ_ERR_INVALID_ARG,
                   "busy_timeout_ms -1 out of range");
    hq_jobdb_options_init(&o);
    o.sync = (hq_jobdb_sync)7;
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", &o, &db), HQ_ERR_INVALID_ARG, "sync mode 7");
    hq_jobdb_options_init(&o);
    o.cache_kib = -5;
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", &o, &db), HQ_ERR_INVALID_ARG, "cache_kib -5");
    hq_jobdb_options_init(&o);
    o.checkpoint_keep_last = -1;
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", &o, &db), HQ_ERR_INVALID_ARG, "checkpoint_keep_last");
    hq_jobdb_options_init(&o);
    o.vfs = "no-such-vfs";
    HQ_CHECK_FAILS(hq_jobdb_open(":memory:", &o, &db), HQ_ERR_INVALID_ARG,
                   "unknown SQLite VFS 'no-such-vfs'");
    hq_jobdb_options_init(&o);
    o.no_create = true;
    const char *missing = hq_test_tmpfile("missing.db");
    HQ_CHECK_FAILS(hq_jobdb_open(missing, &o, &db), HQ_ERR_NOT_FOUND, "missing.db does not exist");
    HQ_CHECK(!hq_file_exists(missing));
    hq_jobdb_options_init(&o);
    o.read_only = true;
    HQ_CHECK_FAILS(hq_jobdb_open(missing, &o, &db), HQ_ERR_NOT_FOUND, "does not exist");
    /* a directory that does not exist */
    HQ_CHECK_FAILS(hq_jobdb_open(hq_test_tmpfile("no/such/dir/x.db"), NULL, &db), HQ_ERR_IO,
                   "cannot open");
    HQ_CHECK(db == NULL);
}

HQ_TEST(db_open_read_only) {
    const char *path = hq_test_tmpfile("ro.db");
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t run = make_run(db, "r");
    hq_jobdb_close(db);
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.read_only = true;
    HQ_REQUIRE_OK(hq_jobdb_open(path, &o, &db));
    hq_jobdb_run r;
    HQ_CHECK_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK_STR(r.name, "r");
    hq_jobdb_run_clear(&r);
    HQ_CHECK_FAILS(hq_jobdb_run_set_status(db, run, HQ_RUN_RUNNING), HQ_ERR_IO,
                   "cannot be written");
    HQ_CHECK_FAILS(hq_jobdb_begin(db, false), HQ_ERR_MISUSE, "read-only");
    hq_jobdb_close(db);
}

/* A second connection to the same file: both see each other's commits; none for a
 * private in-memory database or a read-only handle. */
HQ_TEST(db_open_again) {
    const char *path = hq_test_tmpfile("again.db");
    hq_jobdb *db, *db2;
    HQ_REQUIRE_OK(hq_jobdb_open(path, NULL, &db));
    int64_t run = make_run(db, "first");
    HQ_REQUIRE_OK(hq_jobdb_open_again(db, &db2));
    HQ_CHECK_STR(hq_jobdb_path(db2), path);
    hq_jobdb_run r;
    HQ_CHECK_OK(hq_jobdb_run_get(db2, run, &r));
    HQ_CHECK_STR(r.name, "first");
    hq_jobdb_run_clear(&r);
    int64_t run2 = make_run(db2, "second");
    HQ_CHECK_OK(hq_jobdb_run_get(db, run2, &r));
    HQ_CHECK_STR(r.name, "second");
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db2);
    hq_jobdb_close(db);
    HQ_REQUIRE_OK(hq_jobdb_open(":memory:", NULL, &db));
    HQ_CHECK_FAILS(hq_jobdb_open_again(db, &db2), HQ_ERR_UNSUPPORTED, "in-memory");
    HQ_CHECK(db2 == NULL);
    hq_jobdb_close(db);
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.read_only = true;
    HQ_REQUIRE_OK(hq_jobdb_open(path, &o, &db));
    HQ_CHECK_FAILS(hq_jobdb_open_again(db, &db2), HQ_ERR_UNSUPPORTED, "read-only");
    hq_jobdb_close(db);
    HQ_CHECK_FAILS(hq_jobdb_open_again(NULL, &db2), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_jobdb_open_again(NULL, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
}

HQ_TEST(db_handle_misuse) {
    HQ_CHECK_FAILS(hq_jobdb_run_create(NULL, NULL, NULL), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(NULL, 0, 0, NULL, NULL, NULL, NULL), HQ_ERR_MISUSE,
                   "hq_jobdb_eval_lookup: invalid handle");
    struct hq_jobdb dead = {.h.magic = HQ_MAGIC_DEAD};
    HQ_CHECK_FAILS(hq_jobdb_begin(&dead, false), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_STR(hq_errmsg(&dead), "handle was freed");
    HQ_CHECK(hq_jobdb_path(NULL) == NULL);
    HQ_CHECK(hq_jobdb_path(&dead) == NULL);
    hq_jobdb_close(&dead); /* not ours: ignored */
}

/* ==== runs ============================================================================= */

HQ_TEST(db_runs_round_trip) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    hq_jobdb_run spec = {.name = "breast-ibm",
                         .seed = UINT64_MAX - 6, /* survives the signed INTEGER column */
                         .code_version = "0.1.0",
                         .backend = "ibm_brisbane",
                         .config_json = "{\"epochs\": 10, \"lr\": 0.001}",
                         .plan_json = "{\"jobs\": 3}"};
    int64_t id = 0, id2 = 0;
    double t0 = hq_time_wall();
    HQ_REQUIRE_OK(hq_jobdb_run_create(db, &spec, &id));
    HQ_CHECK(id > 0);
    hq_jobdb_run r;
    HQ_REQUIRE_OK(hq_jobdb_run_get(db, id, &r));
    HQ_CHECK_EQ_INT(r.id, id);
    HQ_CHECK_STR(r.name, "breast-ibm");
    HQ_CHECK(r.seed == UINT64_MAX - 6);
    HQ_CHECK_STR(r.code_version, "0.1.0");
    HQ_CHECK_STR(r.backend, "ibm_brisbane");
    HQ_CHECK_STR(r.config_json, spec.config_json);
    HQ_CHECK_STR(r.plan_json, spec.plan_json);
    HQ_CHECK(r.status == HQ_RUN_CREATED);
    HQ_CHECK(r.created_at >= t0 - 1 && r.created_at <= hq_time_wall() + 1);
    HQ_CHECK_EQ_INT(r.cache_hits, 0);
    hq_jobdb_run_clear(&r);
    HQ_CHECK(r.name == NULL);

    spec.name = "second";
    spec.plan_json = NULL;
    HQ_REQUIRE_OK(hq_jobdb_run_create(db, &spec, &id2));
    HQ_REQUIRE_OK(hq_jobdb_run_find(db, "second", &r));
    HQ_CHECK_EQ_INT(r.id, id2);
    HQ_CHECK(r.plan_json == NULL);
    hq_jobdb_run_clear(&r);

    HQ_CHECK_OK(hq_jobdb_run_set_status(db, id2, HQ_RUN_INTERRUPTED));
    HQ_CHECK_OK(hq_jobdb_run_set_plan(db, id2, "[1, 2]"));
    HQ_REQUIRE_OK(hq_jobdb_run_get(db, id2, &r));
    HQ_CHECK(r.status == HQ_RUN_INTERRUPTED);
    HQ_CHECK_STR(r.plan_json, "[1, 2]");
    hq_jobdb_run_clear(&r);

    hq_jobdb_run *list;
    int64_t n;
    HQ_REQUIRE_OK(hq_jobdb_run_list(db, &list, &n));
    HQ_REQUIRE(n == 2);
    HQ_CHECK_STR(list[0].name, "breast-ibm");
    HQ_CHECK_STR(list[1].name, "second");
    HQ_CHECK(list[0].config_json == NULL && list[1].status == HQ_RUN_INTERRUPTED);
    hq_jobdb_runs_free(list, n);
    hq_jobdb_runs_free(NULL, 0);

    for (int s = 0; s < HQ_RUN_STATUS_COUNT; s++) {
        hq_run_status back;
        HQ_CHECK_OK(hq_run_status_parse(hq_run_status_name((hq_run_status)s), &back));
        HQ_CHECK_EQ_INT(back, s);
    }
    HQ_CHECK_STR(hq_run_status_name((hq_run_status)99), "?");
    hq_jobdb_close(db);
}

HQ_TEST(db_runs_errors) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t id;
    hq_run_status rs;
    hq_jobdb_run spec = {
        .name = "a", .seed = 1, .code_version = "v", .backend = "sv", .config_json = "{}"};
    HQ_REQUIRE_OK(hq_jobdb_run_create(db, &spec, &id));
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG,
                   "a run named 'a' already exists (run 1)");
    HQ_CHECK(id == 0);
    HQ_CHECK_STR(hq_errmsg(db), hq_last_error()); /* the handle has the detail too */
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, NULL, &id), HQ_ERR_INVALID_ARG,
                   "spec or run_id is NULL");
    spec.name = "b";
    spec.config_json = "{\"x\": }";
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG,
                   "config_json is not valid JSON (error near byte 6");
    spec.config_json = "{}";
    spec.plan_json = "[1,";
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG,
                   "plan_json is not valid JSON");
    spec.plan_json = NULL;
    spec.backend = "";
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG, "backend is empty");
    spec.backend = "sv";
    spec.code_version = NULL;
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG, "code_version is NULL");
    spec.code_version = "v";
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    spec.name = longname;
    HQ_CHECK_FAILS(hq_jobdb_run_create(db, &spec, &id), HQ_ERR_INVALID_ARG,
                   "name is longer than 200 bytes");
    hq_jobdb_run r;
    HQ_CHECK_FAILS(hq_jobdb_run_get(db, 77, &r), HQ_ERR_NOT_FOUND, "run 77 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_run_get(db, 0, &r), HQ_ERR_INVALID_ARG, "run id 0 out of range");
    HQ_CHECK_FAILS(hq_jobdb_run_get(db, 1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_jobdb_run_find(db, "nope", &r), HQ_ERR_NOT_FOUND, "no run named 'nope'");
    HQ_CHECK_FAILS(hq_jobdb_run_find(db, NULL, &r), HQ_ERR_INVALID_ARG, "name is NULL");
    HQ_CHECK_FAILS(hq_jobdb_run_set_status(db, 9, HQ_RUN_FAILED), HQ_ERR_NOT_FOUND,
                   "run 9 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_run_set_status(db, 1, (hq_run_status)17), HQ_ERR_INVALID_ARG,
                   "status 17 out of range [0, 6)");
    HQ_CHECK_FAILS(hq_jobdb_run_set_plan(db, 1, "nope"), HQ_ERR_INVALID_ARG, "not valid JSON");
    HQ_CHECK_FAILS(hq_jobdb_run_set_plan(db, 5, "{}"), HQ_ERR_NOT_FOUND, "run 5 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_run_list(db, NULL, NULL), HQ_ERR_INVALID_ARG, "runs or n is NULL");
    HQ_CHECK_FAILS(hq_run_status_parse("DONE", &rs), HQ_ERR_INVALID_ARG,
                   "unknown run status 'DONE' (valid: CREATED");
    hq_jobdb_run_stats stats;
    HQ_CHECK_FAILS(hq_jobdb_run_get_stats(db, 3, &stats), HQ_ERR_NOT_FOUND, "run 3 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_run_get_stats(db, 1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    /* the database itself also refuses what the API would have caught */
    HQ_CHECK(sqlite3_exec(db->conn, "UPDATE runs SET status = 'DONE'", NULL, NULL, NULL) ==
             SQLITE_CONSTRAINT_CHECK);
    hq_jobdb_close(db);
}

/* ==== checkpoints ====================================================================== */

/* Deterministic blob content for step s (so a test can re-derive what was stored). */
static void fill_blob(uint8_t *p, size_t n, int64_t s, int salt) {
    uint64_t x = (uint64_t)s * 0x9E3779B97F4A7C15ull + (uint64_t)salt;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static hq_status put_ck(hq_jobdb *db, int64_t run, int64_t step, size_t nw, int salt) {
    static uint8_t w[300000], o[600000];
    uint8_t rng[16];
    fill_blob(w, nw, step, salt);
    fill_blob(o, 2 * nw, step, salt + 1);
    fill_blob(rng, sizeof rng, step, salt + 2);
    hq_jobdb_checkpoint ck = {.run_id = run,
                              .step = step,
                              .epoch = step / 10,
                              .weights = w,
                              .weights_len = nw,
                              .optimizer = o,
                              .optimizer_len = 2 * nw,
                              .rng = rng,
                              .rng_len = sizeof rng,
                              .meta_json = "{\"loss\": 0.5}"};
    return hq_jobdb_checkpoint_put(db, &ck, NULL);
}

static bool ck_matches(const hq_jobdb_checkpoint *ck, int64_t step, size_t nw, int salt) {
    static uint8_t w[300000], o[600000];
    uint8_t rng[16];
    fill_blob(w, nw, step, salt);
    fill_blob(o, 2 * nw, step, salt + 1);
    fill_blob(rng, sizeof rng, step, salt + 2);
    return ck->step == step && ck->epoch == step / 10 && ck->weights_len == nw &&
           !memcmp(ck->weights, w, nw) && ck->optimizer_len == 2 * nw &&
           !memcmp(ck->optimizer, o, 2 * nw) && ck->rng_len == 16 && !memcmp(ck->rng, rng, 16);
}

HQ_TEST(db_checkpoints_round_trip) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r"), other = make_run(db, "o");
    const size_t nw = 64600 * 4; /* a 64.6k-parameter float32 model */
    for (int64_t s = 0; s < 5; s++) HQ_REQUIRE_OK(put_ck(db, run, s * 10, nw, 1));
    HQ_REQUIRE_OK(put_ck(db, other, 3, 100, 9));
    hq_jobdb_checkpoint ck;
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK(ck_matches(&ck, 40, nw, 1));
    HQ_CHECK_STR(ck.meta_json, "{\"loss\": 0.5}");
    HQ_CHECK_EQ_INT(ck.run_id, run);
    hq_jobdb_checkpoint_clear(&ck);
    HQ_CHECK(ck.weights == NULL);
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_get(db, run, 20, &ck));
    HQ_CHECK(ck_matches(&ck, 20, nw, 1));
    hq_jobdb_checkpoint_clear(&ck);
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, other, &ck));
    HQ_CHECK(ck_matches(&ck, 3, 100, 9));
    hq_jobdb_checkpoint_clear(&ck);

    /* replaying a step with the same state is a no-op; a different state is refused */
    HQ_CHECK_OK(put_ck(db, run, 20, nw, 1));
    HQ_CHECK_FAILS(put_ck(db, run, 20, nw, 2), HQ_ERR_INVALID_ARG,
                   "run 1 already has a different checkpoint at step 20");
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM checkpoints"), 6);

    /* empty blobs are stored as empty, not NULL */
    hq_jobdb_checkpoint e = {.run_id = other, .step = 4};
    HQ_CHECK_OK(hq_jobdb_checkpoint_put(db, &e, NULL));
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, other, &ck));
    HQ_CHECK(ck.step == 4 && ck.weights_len == 0 && ck.optimizer_len == 0 && ck.meta_json == NULL);
    hq_jobdb_checkpoint_clear(&ck);

    int64_t *steps, n;
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_steps(db, run, &steps, &n));
    HQ_REQUIRE(n == 5);
    for (int i = 0; i < 5; i++) HQ_CHECK_EQ_INT(steps[i], 10 * i);
    hq_free(steps);

    HQ_CHECK_OK(hq_jobdb_checkpoint_delete(db, run, 40));
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK_EQ_INT(ck.step, 30);
    hq_jobdb_checkpoint_clear(&ck);
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_delete(db, run, 40), HQ_ERR_NOT_FOUND,
                   "run 1 has no checkpoint at step 40");

    /* a damaged blob is caught by the digest */
    HQ_REQUIRE(sqlite3_exec(db->conn,
                            "UPDATE checkpoints SET weights = zeroblob(length(weights)) WHERE "
                            "step = 10",
                            NULL, NULL, NULL) == SQLITE_OK);
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_get(db, run, 10, &ck), HQ_ERR_CORRUPT,
                   "checkpoint of run 1 at step 10 in :memory: fails its sha256 check");
    HQ_CHECK(ck.weights == NULL);
    hq_jobdb_close(db);
}

HQ_TEST(db_checkpoints_errors) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    hq_jobdb_checkpoint ck = {.run_id = run, .step = 1};
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "checkpoint is NULL");
    ck.run_id = 0;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, &ck, NULL), HQ_ERR_INVALID_ARG,
                   "run_id 0 out of range");
    ck.run_id = 99;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, &ck, NULL), HQ_ERR_NOT_FOUND,
                   "run 99 does not exist");
    ck.run_id = run;
    ck.step = -1;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, &ck, NULL), HQ_ERR_INVALID_ARG, "step -1");
    ck.step = 1;
    ck.weights_len = 10;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, &ck, NULL), HQ_ERR_INVALID_ARG,
                   "weights is NULL but weights_len is 10");
    ck.weights_len = 0;
    ck.meta_json = "{";
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_put(db, &ck, NULL), HQ_ERR_INVALID_ARG,
                   "meta_json is not valid JSON");
    hq_jobdb_checkpoint out;
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_latest(db, run, &out), HQ_ERR_NOT_FOUND,
                   "run 1 has no checkpoint");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_get(db, run, 5, &out), HQ_ERR_NOT_FOUND,
                   "no checkpoint at step 5");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_latest(db, run, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_prune(db, run, 0, 0, NULL), HQ_ERR_INVALID_ARG,
                   "keep_last 0 must be >= 1");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_prune(db, 42, 1, 0, NULL), HQ_ERR_NOT_FOUND,
                   "run 42 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_steps(db, run, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "steps or n is NULL");
    HQ_CHECK_FAILS(hq_jobdb_checkpoint_delete(db, -3, 0), HQ_ERR_INVALID_ARG, "run_id -3");
    hq_jobdb_close(db);
}

/* Keep-last-K-plus-every-Nth, evaluated here by hand for steps 0..29. */
static bool policy_keeps(int64_t step, int64_t max_step, int k, int every) {
    return step > max_step - k || (every > 0 && step % every == 0);
}

HQ_TEST(db_checkpoints_prune) {
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.checkpoint_keep_last = 3;
    o.checkpoint_keep_every = 7;
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(":memory:", &o, &db));
    int64_t run = make_run(db, "r"), other = make_run(db, "o");
    for (int64_t s = 0; s < 30; s++) {
        HQ_REQUIRE_OK(put_ck(db, run, s, 64, 1));
        HQ_REQUIRE_OK(put_ck(db, other, s, 64, 1));
        int64_t *steps, n, want = 0;
        HQ_REQUIRE_OK(hq_jobdb_checkpoint_steps(db, run, &steps, &n));
        for (int64_t t = 0; t <= s; t++) want += policy_keeps(t, s, 3, 7);
        HQ_CHECK_EQ_INT(n, want);
        for (int64_t i = 0; i < n; i++) HQ_CHECK(policy_keeps(steps[i], s, 3, 7));
        hq_free(steps);
    }
    /* explicit prune with another policy, other run untouched */
    int64_t deleted = -1, before = sql_int(db, "SELECT count(*) FROM checkpoints WHERE run_id = 1");
    HQ_CHECK_OK(hq_jobdb_checkpoint_prune(db, run, 1, 0, &deleted));
    HQ_CHECK_EQ_INT(deleted, before - 1);
    hq_jobdb_checkpoint ck;
    HQ_REQUIRE_OK(hq_jobdb_checkpoint_latest(db, run, &ck));
    HQ_CHECK(ck_matches(&ck, 29, 64, 1));
    hq_jobdb_checkpoint_clear(&ck);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM checkpoints WHERE run_id = 2"), before);
    hq_jobdb_close(db);
}

/* ==== circuits ========================================================================= */

HQ_TEST(db_circuits_round_trip) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    char t0[200], t1[200], h0[65], h1[65], got[2][65];
    circuit_text(0, t0, sizeof t0, h0);
    circuit_text(1, t1, sizeof t1, h1);
    const char *texts[2] = {t0, t1};
    HQ_REQUIRE_OK(hq_jobdb_circuit_put(db, 2, texts, got));
    HQ_CHECK_STR(got[0], h0);
    HQ_CHECK_STR(got[1], h1);
    HQ_REQUIRE_OK(hq_jobdb_circuit_put(db, 2, texts, NULL)); /* again: no duplicates */
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM circuits"), 2);
    char *text;
    HQ_REQUIRE_OK(hq_jobdb_circuit_get(db, h1, &text));
    HQ_CHECK_STR(text, t1);
    hq_free(text);
    HQ_CHECK_OK(hq_jobdb_circuit_put(db, 0, NULL, NULL));

    /* cached by digest only (an evaluation without text), text stored later */
    char t2[200], h2[65];
    circuit_text(2, t2, sizeof t2, h2);
    hq_counts c;
    counts_of(&c, 1, (uint64_t[]){0, 1}, (int64_t[]){3, 4}, 2);
    hq_jobdb_eval_item it = {.key = {.hash = h2, .backend = "sv", .shots = 7, .basis = "Z"},
                             .counts = &c};
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, 0, 1, &it, NULL));
    HQ_CHECK_FAILS(hq_jobdb_circuit_get(db, h2, &text), HQ_ERR_NOT_FOUND, "cached by digest only");
    HQ_CHECK(text == NULL);
    const char *t2p = t2;
    HQ_REQUIRE_OK(hq_jobdb_circuit_put(db, 1, &t2p, NULL));
    HQ_REQUIRE_OK(hq_jobdb_circuit_get(db, h2, &text));
    HQ_CHECK_STR(text, t2);
    hq_free(text);
    hq_counts_free(&c);

    HQ_CHECK_FAILS(hq_jobdb_circuit_get(db, "abc", &text), HQ_ERR_INVALID_ARG,
                   "hash \"abc\" is not a sha256 digest (64 lowercase hex digits)");
    char upper[65];
    for (int i = 0; i < 65; i++) upper[i] = (char)(h0[i] >= 'a' ? h0[i] - 32 : h0[i]);
    HQ_CHECK_FAILS(hq_jobdb_circuit_get(db, upper, &text), HQ_ERR_INVALID_ARG,
                   "not a sha256 digest");
    char zero[65];
    memset(zero, '0', 64);
    zero[64] = 0;
    HQ_CHECK_FAILS(hq_jobdb_circuit_get(db, zero, &text), HQ_ERR_NOT_FOUND,
                   "no text of circuit 0000");
    HQ_CHECK_FAILS(hq_jobdb_circuit_get(db, h0, NULL), HQ_ERR_INVALID_ARG, "text is NULL");
    const char *bad[2] = {t0, NULL};
    HQ_CHECK_FAILS(hq_jobdb_circuit_put(db, 2, bad, NULL), HQ_ERR_INVALID_ARG, "texts[1] is NULL");
    HQ_CHECK_FAILS(hq_jobdb_circuit_put(db, -1, texts, NULL), HQ_ERR_INVALID_ARG, "n = -1");
    hq_jobdb_close(db);
}

/* ==== evaluations ====================================================================== */

HQ_TEST(db_evals_round_trip) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    enum { N = 40 };
    char texts[N][200], hashes[N][65];
    hq_counts counts[N];
    double ex[N][8];
    hq_jobdb_eval_item items[N];
    for (int i = 0; i < N; i++) {
        circuit_text(i, texts[i], sizeof texts[i], hashes[i]);
        hq_counts_init(&counts[i], 4);
        int64_t total = 0;
        for (int o = 0; o < 16; o++) {
            int64_t k = (o * 7 + i) % 5 == 0 ? 0 : (o * 31 + i * 17) % 97;
            if (k) hq_counts_add(&counts[i], (uint64_t)o, k), total += k;
        }
        for (int q = 0; q < 8; q++) ex[i][q] = (i - q) / 8.0 + 1e-17 * i;
        items[i] = (hq_jobdb_eval_item){.key = {.hash = hashes[i],
                                                .backend = "emulator-ibm",
                                                .shots = total,
                                                .basis = i % 2 ? "X" : "Z",
                                                .calibration = "cal-1"},
                                        .circuit_text = i % 3 ? texts[i] : NULL,
                                        .counts = &counts[i],
                                        .expect = i % 4 == 0 ? ex[i] : NULL,
                                        .n_expect = 8};
    }
    int64_t ins = -1;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, N, items, &ins));
    HQ_CHECK_EQ_INT(ins, N);
    /* the same again: nothing new, first results kept */
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, N, items, &ins));
    HQ_CHECK_EQ_INT(ins, 0);

    /* look up the even ones, plus misses: other shots, other basis, other calibration */
    hq_jobdb_eval_key keys[N + 3];
    for (int i = 0; i < N; i++) keys[i] = items[i].key;
    keys[N] = items[0].key, keys[N].shots += 1;
    keys[N + 1] = items[0].key, keys[N + 1].basis = "Y";
    keys[N + 2] = items[0].key, keys[N + 2].calibration = "cal-2";
    hq_jobdb_eval out[N + 3];
    bool found[N + 3];
    int64_t nf = -1;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, run, N + 3, keys, out, found, &nf));
    HQ_CHECK_EQ_INT(nf, N);
    for (int i = 0; i < N; i++) {
        HQ_CHECK(found[i] && out[i].has_counts);
        hq_counts want;
        hq_counts_copy(&want, &counts[i]);
        hq_counts_sort(&want);
        HQ_CHECK_EQ_INT(out[i].counts.n, want.n);
        HQ_CHECK_EQ_INT(out[i].counts.shots, want.shots);
        HQ_CHECK_EQ_INT(out[i].counts.n_bits, 4);
        for (int64_t k = 0; k < want.n && k < out[i].counts.n; k++) {
            HQ_CHECK(out[i].counts.outcome[k] == want.outcome[k]);
            HQ_CHECK_EQ_INT(out[i].counts.count[k], want.count[k]);
        }
        hq_counts_free(&want);
        if (i % 4 == 0) {
            HQ_REQUIRE(out[i].n_expect == 8);
            HQ_CHECK(!memcmp(out[i].expect, ex[i], sizeof ex[i])); /* bit-exact */
        } else {
            HQ_CHECK(out[i].expect == NULL && out[i].n_expect == 0);
        }
        HQ_CHECK_EQ_INT(out[i].job_id, 0);
        HQ_CHECK(out[i].eval_id > 0);
    }
    for (int i = N; i < N + 3; i++)
        HQ_CHECK(!found[i] && !out[i].has_counts && out[i].eval_id == 0);
    for (int i = 0; i < N + 3; i++) hq_jobdb_eval_clear(&out[i]);

    /* NULL calibration matches any, newest first */
    hq_counts c2;
    counts_of(&c2, 4, (uint64_t[]){9}, (int64_t[]){items[0].key.shots}, 1);
    hq_jobdb_eval_item later = items[0];
    later.key.calibration = "cal-2";
    later.counts = &c2;
    later.expect = NULL;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, 1, &later, &ins));
    HQ_CHECK_EQ_INT(ins, 1);
    hq_jobdb_eval_key any = items[0].key;
    any.calibration = NULL;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, run, 1, &any, out, NULL, &nf));
    HQ_CHECK(nf == 1 && out[0].counts.n == 1 && out[0].counts.outcome[0] == 9);
    hq_jobdb_eval_clear(&out[0]);
    /* newest by storage order, not by the calibration's name ("cal-0" sorts first) */
    hq_counts c3;
    counts_of(&c3, 4, (uint64_t[]){5}, (int64_t[]){items[0].key.shots}, 1);
    hq_jobdb_eval_item latest = later;
    latest.key.calibration = "cal-0";
    latest.counts = &c3;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, 1, &latest, &ins));
    HQ_CHECK_EQ_INT(ins, 1);
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 1, &any, out, NULL, &nf)); /* not counted */
    HQ_CHECK(nf == 1 && out[0].counts.n == 1 && out[0].counts.outcome[0] == 5);
    hq_jobdb_eval_clear(&out[0]);
    hq_counts_free(&c3);
    /* "" is "no calibration", not "any" */
    any.calibration = "";
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, run, 1, &any, out, NULL, &nf));
    HQ_CHECK_EQ_INT(nf, 0);

    /* hit/miss counters of the run: 40 hits + 3 misses, 1 hit, 1 miss */
    hq_jobdb_run_stats st;
    HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, run, &st));
    HQ_CHECK_EQ_INT(st.cache_hits, 41);
    HQ_CHECK_EQ_INT(st.cache_misses, 4);
    HQ_CHECK_EQ_INT(st.evaluations, N + 2);
    /* a lookup without a run leaves the counters alone */
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 1, &any, out, NULL, NULL));
    HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, run, &st));
    HQ_CHECK_EQ_INT(st.cache_misses, 4);
    HQ_CHECK_OK(hq_jobdb_eval_lookup(db, run, 0, NULL, NULL, NULL, NULL));

    /* texts were stored for the items that gave one */
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM circuits WHERE text IS NOT NULL"),
                    N - (N + 2) / 3);
    for (int i = 0; i < N; i++) hq_counts_free(&counts[i]);
    hq_counts_free(&c2);
    hq_jobdb_close(db);
}

HQ_TEST(db_evals_errors) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    char t[200], h[65], t1[200], h1[65];
    circuit_text(0, t, sizeof t, h);
    circuit_text(1, t1, sizeof t1, h1);
    hq_counts c;
    counts_of(&c, 2, (uint64_t[]){0, 3}, (int64_t[]){5, 5}, 2);
    hq_jobdb_eval_item it[2] = {
        {.key = {.hash = h, .backend = "sv", .shots = 10, .basis = "Z"}, .counts = &c},
        {.key = {.hash = h1, .backend = "sv", .shots = 10, .basis = "Z"}, .counts = &c}};
    int64_t ins = 5;
    it[1].key.hash = "xyz";
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "keys[1].hash \"xyz\" is not a sha256 digest");
    HQ_CHECK_EQ_INT(ins, 0);
    it[1].key.hash = h1;
    it[1].key.backend = NULL;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "keys[1].backend is NULL");
    it[1].key.backend = "sv";
    it[1].key.basis = "";
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "keys[1].basis is empty");
    it[1].key.basis = "Z";
    it[1].key.shots = -1;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG, "keys[1].shots -1");
    it[1].key.shots = 10;
    it[1].counts = NULL;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "items[1] has neither counts nor expectation values");
    it[1].counts = &c;
    it[1].circuit_text = t; /* text of circuit 0 under the hash of circuit 1 */
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG, "hashes to");
    it[1].circuit_text = NULL;
    it[1].job_id = 77;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_NOT_FOUND,
                   "job 77 does not exist");
    it[1].job_id = -2;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "items[1].job_id -2");
    it[1].job_id = 0;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, 99, 2, it, &ins), HQ_ERR_NOT_FOUND,
                   "run 99 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, -1, 2, it, &ins), HQ_ERR_INVALID_ARG, "run_id -1");
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 3, NULL, &ins), HQ_ERR_INVALID_ARG, "items NULL");
    hq_counts badc;
    counts_of(&badc, 2, (uint64_t[]){7}, (int64_t[]){1}, 1); /* 7 needs 3 bits */
    it[1].counts = &badc;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 2, it, &ins), HQ_ERR_INVALID_ARG,
                   "items[1]: hq_jobdb_counts_encode: outcome[0] = 7 does not fit in 2 bits");
    /* nothing of the failed batches was stored */
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM evaluations"), 0);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM circuits"), 0);

    hq_jobdb_eval out[1];
    hq_jobdb_eval_key k = it[0].key;
    k.mitigation = "0123456789012345678901234567890123456789012345678901234567890123456789"
                   "0123456789012345678901234567890123456789012345678901234567890123456789"
                   "0123456789012345678901234567890123456789012345678901234567890123456789";
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(db, run, 1, &k, out, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "keys[0] mitigation / calibration tag longer than 200 bytes");
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(db, 12, 1, &it[0].key, out, NULL, NULL), HQ_ERR_NOT_FOUND,
                   "run 12 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(db, run, 1, NULL, out, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "keys/out NULL");
    /* a damaged stored blob is reported, not returned */
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, 1, it, &ins));
    HQ_REQUIRE(sqlite3_exec(db->conn, "UPDATE evaluations SET counts = x'0101020101020101020304'",
                            NULL, NULL, NULL) == SQLITE_OK);
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(db, run, 1, &it[0].key, out, NULL, NULL), HQ_ERR_CORRUPT,
                   "fails its CRC-32 check");
    HQ_CHECK(!out[0].has_counts);
    hq_counts_free(&c);
    hq_counts_free(&badc);
    hq_jobdb_close(db);
}

/* ==== jobs ============================================================================= */

static bool is_uuid4(const char *t) {
    if (strlen(t) != 36) return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? t[i] != '-' : !strchr("0123456789abcdef", t[i])) return false;
    }
    return t[14] == '4' && strchr("89ab", t[19]);
}

HQ_TEST(db_jobs_lifecycle) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    enum { N = 5 };
    char texts[N][200], hashes[N][65];
    const char *hp[N], *tp[N], *bases[N] = {"Z", "X", "Z", "X", "ZZ"};
    for (int i = 0; i < N; i++) {
        circuit_text(100 + i, texts[i], sizeof texts[i], hashes[i]);
        hp[i] = hashes[i];
        tp[i] = texts[i];
    }
    hq_jobdb_job_spec spec = {.run_id = run,
                              .backend = "ibm_brisbane",
                              .shots = 1000,
                              .n_circuits = N,
                              .hashes = hp,
                              .texts = tp,
                              .bases = bases,
                              .calibration = "2024-05-01T00:00:00Z"};
    int64_t job = 0;
    char token[HQ_JOBDB_TOKEN_LEN + 1];
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job, token));
    HQ_CHECK(is_uuid4(token));
    hq_jobdb_job j;
    HQ_REQUIRE_OK(hq_jobdb_job_find_token(db, token, &j));
    HQ_CHECK_EQ_INT(j.id, job);
    HQ_CHECK(j.state == HQ_JOB_PENDING && j.attempts == 0 && j.remote_id == NULL);
    HQ_CHECK(j.n_circuits == N && j.shots == 1000 && j.request == NULL);
    HQ_CHECK_STR(j.backend, "ibm_brisbane");
    HQ_CHECK_STR(j.calib_submit, "2024-05-01T00:00:00Z");
    HQ_CHECK(j.created_at > 0 && j.submitted_at == 0 && j.finished_at == 0);
    hq_jobdb_job_clear(&j);

    /* request body (it carries the token), then the attempt, then acceptance */
    char body[128];
    snprintf(body, sizeof body, "{\"client_token\": \"%s\"}", token);
    HQ_CHECK_OK(hq_jobdb_job_set_request(db, job, body, strlen(body)));
    HQ_CHECK_OK(hq_jobdb_job_begin_attempt(db, job));
    HQ_CHECK_OK(hq_jobdb_job_note_error(db, job, "HTTP 503: try later"));
    HQ_CHECK_OK(hq_jobdb_job_begin_attempt(db, job));
    HQ_REQUIRE_OK(hq_jobdb_job_get(db, job, &j));
    HQ_CHECK(j.attempts == 2 && j.attempted_at > 0);
    HQ_CHECK(j.request_len == strlen(body) && !memcmp(j.request, body, j.request_len));
    HQ_CHECK_STR(j.last_error, "HTTP 503: try later");
    hq_jobdb_job_clear(&j);
    hq_jobdb_run_stats st;
    HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, run, &st));
    HQ_CHECK_EQ_INT(st.shots_uncertain, N * 1000);
    HQ_CHECK_EQ_INT(st.shots_submitted, 0);

    HQ_CHECK_OK(hq_jobdb_job_submitted(db, job, "cq-123", NULL));
    HQ_CHECK_OK(hq_jobdb_job_submitted(db, job, "cq-123", NULL)); /* repeated: no-op */
    HQ_CHECK_FAILS(hq_jobdb_job_submitted(db, job, "cq-999", NULL), HQ_ERR_INVALID_ARG,
                   "was already accepted as 'cq-123', not 'cq-999'");
    HQ_CHECK_FAILS(hq_jobdb_job_set_request(db, job, "x", 1), HQ_ERR_INVALID_ARG,
                   "job 1 is SUBMITTED: its request can only change while PENDING");
    HQ_CHECK_FAILS(hq_jobdb_job_begin_attempt(db, job), HQ_ERR_INVALID_ARG,
                   "only a PENDING job is submitted (it is already at the provider as 'cq-123')");
    HQ_CHECK_OK(hq_jobdb_job_set_state(db, job, HQ_JOB_QUEUED, NULL)); /* poll: still queued */
    HQ_CHECK_OK(hq_jobdb_job_set_state(db, job, HQ_JOB_RUNNING, NULL));
    HQ_CHECK_OK(hq_jobdb_job_set_state(db, job, HQ_JOB_RUNNING, NULL));
    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, job, HQ_JOB_QUEUED, NULL), HQ_ERR_INVALID_ARG,
                   "job 1 is RUNNING: it cannot become SUBMITTED");
    HQ_REQUIRE_OK(hq_jobdb_job_find_remote(db, "ibm_brisbane", "cq-123", &j));
    HQ_CHECK(j.id == job && j.state == HQ_JOB_RUNNING && j.submitted_at > 0);
    HQ_CHECK_STR(j.remote_id, "cq-123");
    hq_jobdb_job_clear(&j);

    /* circuits of the job, in order */
    hq_jobdb_job_circuit *jc;
    int64_t n;
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(db, job, true, &jc, &n));
    HQ_REQUIRE(n == N);
    for (int i = 0; i < N; i++) {
        HQ_CHECK_STR(jc[i].hash, hashes[i]);
        HQ_CHECK_STR(jc[i].basis, bases[i]);
        HQ_CHECK_STR(jc[i].text, texts[i]);
    }
    hq_jobdb_job_circuits_free(jc, n);
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(db, job, false, &jc, &n));
    HQ_CHECK(n == N && jc[2].text == NULL);
    hq_jobdb_job_circuits_free(jc, n);

    /* completion stores one evaluation per circuit under the job's key */
    hq_counts c[N];
    hq_jobdb_result res[N];
    for (int i = 0; i < N; i++) {
        counts_of(&c[i], 4, (uint64_t[]){(uint64_t)i, 15}, (int64_t[]){400 + i, 600 - i}, 2);
        res[i] = (hq_jobdb_result){.counts = &c[i]};
    }
    const char raw[] = "{\"results\": []}";
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, job, raw, sizeof raw - 1, "cal-B", N - 1, res),
                   HQ_ERR_INVALID_ARG, "job 1 has 5 circuits but 4 results were given");
    HQ_REQUIRE_OK(hq_jobdb_job_complete(db, job, raw, sizeof raw - 1, "cal-B", N, res));
    HQ_CHECK_OK(hq_jobdb_job_complete(db, job, raw, sizeof raw - 1, "cal-B", N, res)); /* replay */
    HQ_REQUIRE_OK(hq_jobdb_job_get(db, job, &j));
    HQ_CHECK(j.state == HQ_JOB_COMPLETED && j.finished_at >= j.submitted_at);
    HQ_CHECK(j.response_len == sizeof raw - 1 && !memcmp(j.response, raw, j.response_len));
    HQ_CHECK_STR(j.calib_complete, "cal-B");
    hq_jobdb_job_clear(&j);
    hq_jobdb_eval_key keys[N];
    hq_jobdb_eval out[N];
    for (int i = 0; i < N; i++)
        keys[i] = (hq_jobdb_eval_key){.hash = hashes[i],
                                      .backend = "ibm_brisbane",
                                      .shots = 1000,
                                      .basis = bases[i],
                                      .calibration = "cal-B"};
    int64_t nf;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, run, N, keys, out, NULL, &nf));
    HQ_CHECK_EQ_INT(nf, N);
    for (int i = 0; i < N; i++) {
        HQ_CHECK_EQ_INT(out[i].job_id, job);
        HQ_CHECK(out[i].counts.n == 2 && out[i].counts.outcome[0] == (uint64_t)i &&
                 out[i].counts.count[0] == 400 + i && out[i].counts.shots == 1000);
        hq_jobdb_eval_clear(&out[i]);
    }
    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, job, HQ_JOB_RUNNING, NULL), HQ_ERR_INVALID_ARG,
                   "job 1 is COMPLETED: it cannot become RUNNING (terminal state");

    /* a second, local job: PENDING -> COMPLETED directly, expectation values only */
    double ev[2] = {0.25, -1};
    hq_jobdb_result er = {.expect = ev, .n_expect = 2};
    spec.backend = "sv";
    spec.shots = 0;
    spec.n_circuits = 1;
    spec.texts = NULL;
    spec.bases = NULL;
    spec.calibration = NULL;
    spec.client_token = "my-token-1";
    int64_t job2;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job2, NULL));
    HQ_REQUIRE_OK(hq_jobdb_job_complete(db, job2, NULL, 0, NULL, 1, &er));
    hq_jobdb_eval_key k2 = {
        .hash = hashes[0], .backend = "sv", .shots = 0, .basis = "Z", .calibration = ""};
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(db, 0, 1, &k2, out, NULL, &nf));
    HQ_CHECK(nf == 1 && out[0].n_expect == 2 && out[0].expect[0] == 0.25 && out[0].job_id == job2);
    hq_jobdb_eval_clear(&out[0]);

    /* a third that fails, and its retry */
    spec.client_token = NULL;
    int64_t job3, job4;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job3, NULL));
    HQ_CHECK_OK(hq_jobdb_job_set_state(db, job3, HQ_JOB_FAILED, "HTTP 400: bad circuit"));
    spec.retry_of = job3;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job4, NULL));
    HQ_REQUIRE_OK(hq_jobdb_job_get(db, job4, &j));
    HQ_CHECK_EQ_INT(j.retry_of, job3);
    hq_jobdb_job_clear(&j);
    HQ_REQUIRE_OK(hq_jobdb_job_get(db, job3, &j));
    HQ_CHECK(j.state == HQ_JOB_FAILED && j.finished_at > 0);
    HQ_CHECK_STR(j.last_error, "HTTP 400: bad circuit");
    hq_jobdb_job_clear(&j);

    /* listing by state */
    hq_jobdb_job *jobs;
    HQ_REQUIRE_OK(hq_jobdb_job_list(db, run, HQ_JOB_MASK_ACTIVE, &jobs, &n));
    HQ_CHECK(n == 1 && jobs[0].id == job4 && jobs[0].request == NULL);
    hq_jobdb_jobs_free(jobs, n);
    HQ_REQUIRE_OK(hq_jobdb_job_list(db, run, HQ_JOB_MASK(HQ_JOB_COMPLETED), &jobs, &n));
    HQ_CHECK(n == 2 && jobs[0].id == job && jobs[1].id == job2);
    HQ_CHECK_STR(jobs[1].token, "my-token-1");
    hq_jobdb_jobs_free(jobs, n);
    HQ_REQUIRE_OK(hq_jobdb_job_list(db, 0, HQ_JOB_MASK_ALL, &jobs, &n));
    HQ_CHECK_EQ_INT(n, 4);
    hq_jobdb_jobs_free(jobs, n);

    /* statistics, summed here from what the test did */
    HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, run, &st));
    HQ_CHECK_EQ_INT(st.jobs[HQ_JOB_COMPLETED], 2);
    HQ_CHECK_EQ_INT(st.jobs[HQ_JOB_FAILED], 1);
    HQ_CHECK_EQ_INT(st.jobs[HQ_JOB_PENDING], 1);
    HQ_CHECK_EQ_INT(st.shots_submitted, N * 1000); /* only job 1 reached a provider */
    HQ_CHECK_EQ_INT(st.shots_completed, N * 1000);
    HQ_CHECK_EQ_INT(st.shots_uncertain, 0);
    HQ_CHECK_EQ_INT(st.evaluations, N + 1);
    HQ_CHECK_EQ_INT(st.last_step, -1);
    for (int i = 0; i < N; i++) hq_counts_free(&c[i]);
    for (int s = 0; s < HQ_JOB_STATE_COUNT; s++) {
        hq_job_state back = HQ_JOB_STATE_COUNT;
        HQ_CHECK(jobdb_state_from_text(jobdb_state_text((hq_job_state)s), &back));
        HQ_CHECK_EQ_INT(back, s);
    }
    HQ_CHECK_STR(jobdb_state_text(HQ_JOB_QUEUED), "SUBMITTED"); /* the stored name */
    hq_jobdb_close(db);
}

HQ_TEST(db_jobs_errors) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r"), job, job2;
    char t[200], h[65];
    circuit_text(0, t, sizeof t, h);
    const char *hp[2] = {h, h}, *bad_hp[2] = {h, "12"};
    hq_jobdb_job_spec spec = {
        .run_id = run, .backend = "ionq", .shots = 100, .n_circuits = 2, .hashes = hp};
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, NULL, &job, NULL), HQ_ERR_INVALID_ARG,
                   "spec or job_id is NULL");
    spec.hashes = bad_hp;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "hashes[1] \"12\" is not a sha256 digest");
    spec.hashes = hp;
    spec.n_circuits = 0;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "n_circuits 0 out of range [1, 2^31]");
    spec.n_circuits = 2;
    spec.shots = -5;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG, "shots -5");
    spec.shots = 100;
    spec.run_id = 8;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_NOT_FOUND,
                   "run 8 does not exist");
    spec.run_id = run;
    spec.client_token = "0123456789012345678901234567890123456"; /* 37 bytes */
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "client_token is longer than 36 bytes");
    spec.client_token = "has space";
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "client_token 'has space' has a character outside printable ASCII");
    spec.client_token = "tok-A";
    const char *bases[2] = {"Z", ""};
    spec.bases = bases;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "bases[1] is empty");
    spec.bases = NULL;
    spec.request_len = 3;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_INVALID_ARG,
                   "request is NULL but request_len is 3");
    spec.request_len = 0;
    spec.retry_of = 50;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_NOT_FOUND,
                   "retry_of: job 50 does not exist in run 1");
    spec.retry_of = 0;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job2, NULL), HQ_ERR_INVALID_ARG,
                   "client token 'tok-A' is already used by job 1");
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM jobs"), 1);
    /* the same circuit twice in one job is fine (two positions) */
    hq_jobdb_job_circuit *twice;
    int64_t n_twice = 0;
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(db, job, false, &twice, &n_twice));
    HQ_CHECK_EQ_INT(n_twice, 2);
    if (n_twice == 2) HQ_CHECK_STR(twice[0].hash, twice[1].hash);
    hq_jobdb_job_circuits_free(twice, n_twice);

    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, job, HQ_JOB_RUNNING, NULL), HQ_ERR_INVALID_ARG,
                   "job 1 is PENDING: it cannot become RUNNING");
    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, job, HQ_JOB_COMPLETED, NULL), HQ_ERR_INVALID_ARG,
                   "use RUNNING, FAILED or CANCELLED");
    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, 31, HQ_JOB_FAILED, NULL), HQ_ERR_NOT_FOUND,
                   "job 31 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_job_submitted(db, job, "", NULL), HQ_ERR_INVALID_ARG,
                   "remote_id is empty");
    HQ_CHECK_FAILS(hq_jobdb_job_note_error(db, 31, "x"), HQ_ERR_NOT_FOUND, "job 31 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_job_note_error(db, job, NULL), HQ_ERR_INVALID_ARG, "error is NULL");
    HQ_CHECK_FAILS(hq_jobdb_job_begin_attempt(db, 0), HQ_ERR_INVALID_ARG, "job_id 0 out of range");
    HQ_CHECK_FAILS(hq_jobdb_job_set_request(db, job, NULL, 4), HQ_ERR_INVALID_ARG,
                   "body is NULL but len is 4");
    hq_counts c;
    counts_of(&c, 1, (uint64_t[]){1}, (int64_t[]){100}, 1);
    hq_jobdb_result res[2] = {{.counts = &c}, {.counts = NULL}};
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, job, NULL, 0, NULL, 2, res), HQ_ERR_INVALID_ARG,
                   "results[1] has neither counts nor expectation values");
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, job, NULL, 0, NULL, 0, res), HQ_ERR_INVALID_ARG,
                   "n = 0");
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, 40, NULL, 0, NULL, 1, res), HQ_ERR_NOT_FOUND,
                   "job 40 does not exist");
    /* another job's remote id */
    spec.client_token = NULL;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job2, NULL));
    HQ_REQUIRE_OK(hq_jobdb_job_submitted(db, job, "r-1", NULL));
    HQ_CHECK_FAILS(hq_jobdb_job_submitted(db, job2, "r-1", NULL), HQ_ERR_INVALID_ARG,
                   "remote id 'r-1' of backend ionq already belongs to another job");
    HQ_CHECK_OK(hq_jobdb_job_set_state(db, job, HQ_JOB_CANCELLED, "user"));
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, job, NULL, 0, NULL, 2,
                                         (hq_jobdb_result[]){{.counts = &c}, {.counts = &c}}),
                   HQ_ERR_INVALID_ARG, "job 1 is CANCELLED: it cannot become COMPLETED");
    hq_jobdb_job j;
    HQ_CHECK_FAILS(hq_jobdb_job_get(db, 99, &j), HQ_ERR_NOT_FOUND, "job 99 does not exist");
    HQ_CHECK_FAILS(hq_jobdb_job_find_token(db, "nope", &j), HQ_ERR_NOT_FOUND,
                   "no job with client token 'nope'");
    HQ_CHECK_FAILS(hq_jobdb_job_find_remote(db, "ionq", "zz", &j), HQ_ERR_NOT_FOUND,
                   "no job of backend ionq with remote id 'zz'");
    hq_jobdb_job *jobs;
    int64_t n;
    HQ_CHECK_FAILS(hq_jobdb_job_list(db, run, 1u << 9, &jobs, &n), HQ_ERR_INVALID_ARG,
                   "state_mask 0x200 has bits outside");
    hq_jobdb_job_circuit *jc;
    HQ_CHECK_FAILS(hq_jobdb_job_circuits(db, 77, false, &jc, &n), HQ_ERR_NOT_FOUND,
                   "job 77 does not exist");
    hq_job_state js;
    HQ_CHECK(!jobdb_state_from_text("DONE", &js) && !jobdb_state_from_text(NULL, &js));
    HQ_CHECK_STR(jobdb_state_text((hq_job_state)-1), "?");
    HQ_CHECK_FAILS(hq_jobdb_job_set_state(db, job2, HQ_JOB_QUEUED, NULL), HQ_ERR_INVALID_ARG,
                   "job 2 is PENDING: it cannot become SUBMITTED");
    /* the schema refuses a SUBMITTED job without remote id */
    HQ_CHECK(sqlite3_exec(db->conn, "UPDATE jobs SET state = 'SUBMITTED', remote_id = NULL", NULL,
                          NULL, NULL) == SQLITE_CONSTRAINT_CHECK);
    hq_counts_free(&c);
    hq_jobdb_close(db);
}

/* A damaged circuit list (jobs.circuits) is reported, never used to store results under
 * the wrong keys. */
HQ_TEST(db_jobs_circuit_list_damaged) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    char text[2][128], hex[2][65];
    const char *hashes[2], *bases[2] = {"Z", "X0X1"};
    for (int i = 0; i < 2; i++) {
        circuit_text(i, text[i], sizeof text[i], hex[i]);
        hashes[i] = hex[i];
    }
    hq_jobdb_job_spec spec = {.run_id = run,
                              .backend = "sv",
                              .shots = 10,
                              .n_circuits = 2,
                              .hashes = hashes,
                              .bases = bases};
    int64_t job;
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    hq_jobdb_job_circuit *items;
    int64_t n;
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(db, job, false, &items, &n));
    HQ_CHECK(n == 2 && !strcmp(items[0].hash, hex[0]) && !strcmp(items[1].hash, hex[1]));
    HQ_CHECK(n == 2 && !strcmp(items[0].basis, "Z") && !strcmp(items[1].basis, "X0X1"));
    hq_jobdb_job_circuits_free(items, n);
    /* the layout docs/db.md gives: 03 01 | n | digests | "Z\0X0X1\0" | crc32 */
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT length(circuits) FROM jobs"), 2 + 1 + 64 + 7 + 4);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT hex(substr(circuits, 1, 3)) = '030102' FROM jobs"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT hex(substr(circuits, 68, 7)) = '5A005830583100' FROM jobs"),
                    1);
    /* one flipped bit (in the first digest): the CRC catches it */
    sqlite3_stmt *st;
    uint8_t blob[2 + 1 + 64 + 7 + 4];
    HQ_REQUIRE(sqlite3_prepare_v2(db->conn, "SELECT circuits FROM jobs", -1, &st, NULL) ==
               SQLITE_OK);
    HQ_REQUIRE(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof blob);
    memcpy(blob, sqlite3_column_blob(st, 0), sizeof blob);
    sqlite3_finalize(st);
    blob[10] ^= 0x10;
    HQ_REQUIRE(sqlite3_prepare_v2(db->conn, "UPDATE jobs SET circuits = ?1", -1, &st, NULL) ==
               SQLITE_OK);
    sqlite3_bind_blob(st, 1, blob, (int)sizeof blob, SQLITE_STATIC);
    HQ_REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    HQ_CHECK_FAILS(hq_jobdb_job_circuits(db, job, false, &items, &n), HQ_ERR_CORRUPT,
                   "fails its CRC-32 check");
    hq_counts c[2];
    hq_jobdb_result res[2];
    for (int i = 0; i < 2; i++) {
        counts_of(&c[i], 4, (uint64_t[]){1}, (int64_t[]){10}, 1);
        res[i] = (hq_jobdb_result){.counts = &c[i]};
    }
    HQ_CHECK_FAILS(hq_jobdb_job_complete(db, job, NULL, 0, NULL, 2, res), HQ_ERR_CORRUPT,
                   "hq_jobdb_job_complete: job 1 in :memory:");
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM evaluations"), 0);
    /* missing altogether */
    HQ_REQUIRE(sqlite3_exec(db->conn, "UPDATE jobs SET circuits = NULL", NULL, NULL, NULL) ==
               SQLITE_OK);
    HQ_CHECK_FAILS(hq_jobdb_job_circuits(db, job, false, &items, &n), HQ_ERR_CORRUPT,
                   "circuit list blob of 0 bytes is too short");
    for (int i = 0; i < 2; i++) hq_counts_free(&c[i]);
    hq_jobdb_close(db);
}

HQ_TEST(db_tokens_unique) {
    char a[HQ_JOBDB_TOKEN_LEN + 1], b[HQ_JOBDB_TOKEN_LEN + 1];
    HQ_CHECK_OK(hq_jobdb_new_token(a));
    HQ_CHECK_OK(hq_jobdb_new_token(b));
    HQ_CHECK(is_uuid4(a) && is_uuid4(b) && strcmp(a, b) != 0);
    HQ_CHECK_FAILS(hq_jobdb_new_token(NULL), HQ_ERR_INVALID_ARG, "out is NULL");
}

/* ==== calibrations ===================================================================== */

HQ_TEST(db_calibrations) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t id1, id2, id3;
    bool ins;
    HQ_REQUIRE_OK(
        hq_jobdb_calibration_put(db, "ibm_manila", "2024-01-01", 1000.0, "{\"q\": 1}", &id1, &ins));
    HQ_CHECK(ins && id1 > 0);
    HQ_REQUIRE_OK(
        hq_jobdb_calibration_put(db, "ibm_manila", "2024-01-02", 2000.0, "{\"q\": 2}", &id2, &ins));
    HQ_REQUIRE_OK(
        hq_jobdb_calibration_put(db, "ibm_manila", "2024-01-01", 3000.0, "{\"q\": 9}", &id3, &ins));
    HQ_CHECK(!ins && id3 == id1); /* same id again: the first document stays */
    HQ_REQUIRE_OK(hq_jobdb_calibration_put(db, "ionq_aria", "c1", 0, "{}", NULL, NULL));
    hq_jobdb_calibration c;
    HQ_REQUIRE_OK(hq_jobdb_calibration_latest(db, "ibm_manila", &c));
    HQ_CHECK(c.id == id2 && c.fetched_at == 2000.0);
    HQ_CHECK_STR(c.calibration_id, "2024-01-02");
    HQ_CHECK_STR(c.json, "{\"q\": 2}");
    HQ_CHECK_STR(c.backend, "ibm_manila");
    hq_jobdb_calibration_clear(&c);
    HQ_REQUIRE_OK(hq_jobdb_calibration_get(db, "ibm_manila", "2024-01-01", &c));
    HQ_CHECK_STR(c.json, "{\"q\": 1}");
    hq_jobdb_calibration_clear(&c);
    HQ_REQUIRE_OK(hq_jobdb_calibration_latest(db, "ionq_aria", &c));
    HQ_CHECK(c.fetched_at > 1.6e9); /* "now" */
    hq_jobdb_calibration_clear(&c);
    HQ_CHECK_FAILS(hq_jobdb_calibration_latest(db, "ibm_kyiv", &c), HQ_ERR_NOT_FOUND,
                   "no calibration of backend ibm_kyiv stored");
    HQ_CHECK_FAILS(hq_jobdb_calibration_get(db, "ibm_manila", "x", &c), HQ_ERR_NOT_FOUND,
                   "no calibration 'x' of backend ibm_manila");
    HQ_CHECK_FAILS(hq_jobdb_calibration_put(db, "b", "c", 0, "{oops", NULL, NULL),
                   HQ_ERR_INVALID_ARG, "json is not valid JSON");
    HQ_CHECK_FAILS(hq_jobdb_calibration_put(db, "", "c", 0, "{}", NULL, NULL), HQ_ERR_INVALID_ARG,
                   "backend is empty");
    HQ_CHECK_FAILS(hq_jobdb_calibration_put(db, "b", "c", 1e15, "{}", NULL, NULL),
                   HQ_ERR_INVALID_ARG, "is not a Unix time in seconds");
    HQ_CHECK_FAILS(hq_jobdb_calibration_get(db, "b", NULL, &c), HQ_ERR_INVALID_ARG,
                   "calibration_id is NULL");
    hq_jobdb_close(db);
}

/* ==== user transactions ================================================================ */

HQ_TEST(db_user_transactions) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r");
    HQ_CHECK_FAILS(hq_jobdb_commit(db), HQ_ERR_MISUSE, "no transaction is open");
    HQ_CHECK_FAILS(hq_jobdb_rollback(db), HQ_ERR_MISUSE, "no transaction is open");

    /* grouped: all or nothing */
    HQ_REQUIRE_OK(hq_jobdb_begin(db, false));
    HQ_CHECK_FAILS(hq_jobdb_begin(db, false), HQ_ERR_MISUSE, "already open");
    HQ_CHECK_OK(put_ck(db, run, 1, 32, 1));
    HQ_CHECK_OK(hq_jobdb_run_set_status(db, run, HQ_RUN_RUNNING));
    /* a failing call inside keeps the rest */
    HQ_CHECK_FAILS(hq_jobdb_run_set_status(db, 99, HQ_RUN_RUNNING), HQ_ERR_NOT_FOUND, "run 99");
    /* a durable call needs a durable transaction */
    char t[200], h[65];
    circuit_text(0, t, sizeof t, h);
    const char *hp[1] = {h};
    hq_jobdb_job_spec spec = {
        .run_id = run, .backend = "ionq", .shots = 100, .n_circuits = 1, .hashes = hp};
    int64_t job;
    HQ_CHECK_FAILS(hq_jobdb_job_create(db, &spec, &job, NULL), HQ_ERR_MISUSE,
                   "hq_jobdb_begin(db, true)");
    HQ_CHECK_OK(hq_jobdb_rollback(db));
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM checkpoints"), 0);
    hq_jobdb_run r;
    HQ_REQUIRE_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK(r.status == HQ_RUN_CREATED);
    hq_jobdb_run_clear(&r);

    HQ_REQUIRE_OK(hq_jobdb_begin(db, true));
    HQ_CHECK_OK(put_ck(db, run, 1, 32, 1));
    HQ_CHECK_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    HQ_CHECK_FAILS(put_ck(db, run, 1, 32, 5), HQ_ERR_INVALID_ARG, "different checkpoint");
    HQ_CHECK_OK(hq_jobdb_run_set_status(db, run, HQ_RUN_RUNNING));
    HQ_CHECK_OK(hq_jobdb_commit(db));
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM checkpoints"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM jobs"), 1);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM jobs WHERE circuits IS NOT NULL"), 1);
    HQ_REQUIRE_OK(hq_jobdb_run_get(db, run, &r));
    HQ_CHECK(r.status == HQ_RUN_RUNNING);
    hq_jobdb_run_clear(&r);
    /* closing with an open transaction rolls it back */
    HQ_REQUIRE_OK(hq_jobdb_begin(db, false));
    HQ_CHECK_OK(hq_jobdb_run_set_status(db, run, HQ_RUN_FAILED));
    hq_jobdb_close(db);
}

/* ==== allocation failures ============================================================== */

/* Every allocation, ours and SQLite's, fails in turn; each call must return HQ_OK or
 * HQ_ERR_NOMEM (never crash, never leak: ASan checks), and what is stored must stay
 * consistent. SQLite's allocator is redirected to hq_malloc for this forked test only. */
static void *sq_malloc(int n) { return hq_malloc((size_t)n); }
static void sq_free(void *p) { hq_free(p); }
static void *sq_realloc(void *p, int n) { return hq_realloc(p, (size_t)n); }
static int sq_size(void *p);
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *a) {
    (void)a;
    return 0;
}
static void sq_shutdown(void *a) { (void)a; }

/* malloc_usable_size is glibc-specific but exact, which SQLite's xSize needs */
#include <malloc.h>
static int sq_size(void *p) { return p ? (int)malloc_usable_size(p) : 0; }

static hq_status oom_workload(void) {
    hq_jobdb *db;
    hq_status s = hq_jobdb_open(":memory:", NULL, &db);
    if (s) return s;
    char t[2][200], h[2][65];
    for (int i = 0; i < 2; i++) circuit_text(i, t[i], sizeof t[i], h[i]);
    hq_counts c;
    hq_counts_init(&c, 2);
    hq_counts_add(&c, 1, 5);
    hq_counts_add(&c, 2, 5);
    hq_jobdb_run spec = {
        .name = "r", .seed = 1, .code_version = "v", .backend = "sv", .config_json = "{}"};
    int64_t run = 0, job = 0, nf;
    const char *hp[2] = {h[0], h[1]}, *tp[2] = {t[0], t[1]};
    hq_jobdb_job_spec js = {
        .run_id = 1, .backend = "ionq", .shots = 10, .n_circuits = 2, .hashes = hp, .texts = tp};
    hq_jobdb_result res[2] = {{.counts = &c}, {.counts = &c}};
    hq_jobdb_eval_key keys[2] = {{.hash = h[0], .backend = "ionq", .shots = 10, .basis = "Z"},
                                 {.hash = h[1], .backend = "ionq", .shots = 10, .basis = "Z"}};
    hq_jobdb_eval out[2];
    hq_jobdb_checkpoint ck = {.run_id = 1, .step = 3, .weights = "abc", .weights_len = 3};
    if (!(s = hq_jobdb_run_create(db, &spec, &run)) &&
        !(s = hq_jobdb_job_create(db, &js, &job, NULL)) &&
        !(s = hq_jobdb_job_complete(db, job, "{}", 2, NULL, 2, res)) &&
        !(s = hq_jobdb_eval_lookup(db, run, 2, keys, out, NULL, &nf))) {
        hq_jobdb_eval_clear(&out[0]);
        hq_jobdb_eval_clear(&out[1]);
        hq_jobdb_checkpoint got;
        if (nf != 2) s = HQ_ERR_INTERNAL;
        if (!s && !(s = hq_jobdb_checkpoint_put(db, &ck, NULL)) &&
            !(s = hq_jobdb_checkpoint_latest(db, 1, &got)))
            hq_jobdb_checkpoint_clear(&got);
    }
    /* whatever failed, what is stored must be consistent */
    bool ok = true;
    if (s == HQ_OK || s == HQ_ERR_NOMEM) {
        hq_alloc_fail_after(0);
        if (hq_jobdb_check_integrity(db, &ok, NULL) == HQ_OK && !ok) s = HQ_ERR_CORRUPT;
    }
    hq_counts_free(&c);
    hq_jobdb_close(db);
    return s;
}

HQ_TEST(db_oom) {
    static const sqlite3_mem_methods mm = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};
    sqlite3_shutdown();
    HQ_REQUIRE(sqlite3_config(SQLITE_CONFIG_MALLOC, &mm) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_initialize() == SQLITE_OK);
    hq_log_set_level(HQ_LOG_ERROR); /* lost hit/miss counts are logged as warnings */
    /* SQLite now allocates through hq_malloc too, so hq_alloc_fail_after reaches both */
    long before = hq_alloc_count();
    HQ_REQUIRE_OK(oom_workload());
    long total = hq_alloc_count() - before;
    HQ_CHECK(total > 100);
    long stride = total / 400 + 1, fired = 0;
    for (long n = 1; n <= total; n += (n < 300 ? 1 : stride)) {
        hq_alloc_fail_after(n);
        hq_status s = oom_workload();
        fired += hq_alloc_injected();
        hq_alloc_fail_after(0);
        HQ_CHECKF(s == HQ_OK || s == HQ_ERR_NOMEM, "allocation #%ld of %ld: %s (%s)", n, total,
                  hq_status_name(s), hq_last_error());
    }
    HQ_CHECK(fired > 400);
    HQ_CHECK_OK(oom_workload());
}

/* ==== digests as bytes ================================================================= */

/* Keys given as 32 raw bytes store and find exactly what the same keys given as hex do; a
 * digest wins over a hash (which may then be NULL or anything); jobs take digests too. */
HQ_TEST(db_digest_bytes_api) {
    hq_jobdb *a = open_mem(), *b = open_mem();
    HQ_REQUIRE(a && b);
    int64_t ra = make_run(a, "r"), rb = make_run(b, "r");
    enum { N = 6 };
    char texts[N][200], hex[N][65];
    uint8_t dig[N][32];
    hq_counts c[N];
    hq_jobdb_eval_item ia[N], ib[N];
    for (int i = 0; i < N; i++) {
        circuit_text(300 + i, texts[i], sizeof texts[i], hex[i]);
        HQ_REQUIRE_OK(hq_sha256(texts[i], strlen(texts[i]), dig[i])); /* independent of hex */
        counts_of(&c[i], 2, (uint64_t[]){0, 1 + (uint64_t)(i % 3)}, (int64_t[]){3, 7 + i},
                  i ? 2 : 1);
        ia[i] = (hq_jobdb_eval_item){
            .key = {.hash = hex[i], .backend = "sv", .shots = 10, .basis = i & 1 ? "X" : "Z"},
            .counts = &c[i],
            .circuit_text = i == 2 ? texts[i] : NULL};
        ib[i] = ia[i];
        ib[i].key.hash = i & 1 ? NULL : "not hex at all"; /* ignored: the digest is used */
        ib[i].key.digest = dig[i];
    }
    int64_t ins_a = 0, ins_b = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(a, ra, N, ia, &ins_a));
    HQ_REQUIRE_OK(hq_jobdb_eval_put(b, rb, N, ib, &ins_b));
    HQ_CHECK_EQ_INT(ins_a, N);
    HQ_CHECK_EQ_INT(ins_b, N);
    const char *dump = "SELECT group_concat(hex(circuit) || basis || seq || hex(counts), ',') FROM "
                       "(SELECT * FROM evaluations ORDER BY circuit)";
    sqlite3_stmt *sa, *sb;
    HQ_REQUIRE(sqlite3_prepare_v2(a->conn, dump, -1, &sa, NULL) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_prepare_v2(b->conn, dump, -1, &sb, NULL) == SQLITE_OK);
    HQ_REQUIRE(sqlite3_step(sa) == SQLITE_ROW && sqlite3_step(sb) == SQLITE_ROW);
    HQ_CHECK_STR((const char *)sqlite3_column_text(sb, 0),
                 (const char *)sqlite3_column_text(sa, 0));
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    HQ_CHECK_EQ_INT(sql_int(b, "SELECT count(*) FROM circuits"), 1);
    /* lookups by bytes find what hex stored, and the other way round */
    hq_jobdb_eval_key kb[N], ka[N];
    for (int i = 0; i < N; i++) {
        ka[i] = ia[i].key;
        kb[i] = ib[i].key;
    }
    hq_jobdb_eval ev[N];
    bool found[N];
    int64_t hits = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(a, ra, N, kb, ev, found, &hits));
    HQ_CHECK_EQ_INT(hits, N);
    for (int i = 0; i < N; i++) {
        HQ_CHECK(found[i] && ev[i].has_counts && ev[i].counts.n == c[i].n &&
                 ev[i].counts.shots == c[i].shots);
        hq_jobdb_eval_clear(&ev[i]);
    }
    HQ_REQUIRE_OK(hq_jobdb_eval_lookup(b, rb, N, ka, ev, found, &hits));
    HQ_CHECK_EQ_INT(hits, N);
    for (int i = 0; i < N; i++) hq_jobdb_eval_clear(&ev[i]);
    /* errors: neither form; a text that does not hash to the digest */
    ib[3].key.digest = kb[3].digest = NULL;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(b, rb, N, ib, &ins_b), HQ_ERR_INVALID_ARG,
                   "keys[3] has neither a digest (32 bytes) nor a hash (64 hex digits)");
    HQ_CHECK_FAILS(hq_jobdb_eval_lookup(b, rb, N, kb, ev, found, &hits), HQ_ERR_INVALID_ARG,
                   "keys[3] has neither a digest");
    kb[3].digest = dig[3];
    ib[3].key.digest = dig[3];
    ib[3].circuit_text = texts[4];
    HQ_CHECK_FAILS(hq_jobdb_eval_put(b, rb, N, ib, &ins_b), HQ_ERR_INVALID_ARG, "hashes to");

    /* jobs: a circuit list given as digests reads back as the hex of the same digests */
    const char *hp[N], *bases[N];
    for (int i = 0; i < N; i++) {
        hp[i] = hex[N - 1 - i];
        bases[i] = i & 1 ? "X" : "Z";
    }
    uint8_t rev[N][32];
    for (int i = 0; i < N; i++) memcpy(rev[i], dig[N - 1 - i], 32);
    hq_jobdb_job_spec sa_spec = {.run_id = ra,
                                 .backend = "sv-shots",
                                 .shots = 10,
                                 .n_circuits = N,
                                 .hashes = hp,
                                 .bases = bases};
    hq_jobdb_job_spec sb_spec = sa_spec;
    sb_spec.run_id = rb;
    sb_spec.hashes = NULL;
    sb_spec.digests = &rev[0][0];
    int64_t ja = 0, jb = 0;
    HQ_REQUIRE_OK(hq_jobdb_job_create(a, &sa_spec, &ja, NULL));
    HQ_REQUIRE_OK(hq_jobdb_job_create(b, &sb_spec, &jb, NULL));
    hq_jobdb_job_circuit *ca, *cb;
    int64_t na = 0, nb = 0;
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(a, ja, false, &ca, &na));
    HQ_REQUIRE_OK(hq_jobdb_job_circuits(b, jb, false, &cb, &nb));
    HQ_CHECK_EQ_INT(na, N);
    HQ_CHECK_EQ_INT(nb, N);
    for (int64_t i = 0; i < N && i < na && i < nb; i++) {
        HQ_CHECK_STR(cb[i].hash, hex[N - 1 - i]);
        HQ_CHECK_STR(cb[i].hash, ca[i].hash);
        HQ_CHECK_STR(cb[i].basis, ca[i].basis);
    }
    hq_jobdb_job_circuits_free(ca, na);
    hq_jobdb_job_circuits_free(cb, nb);
    /* a digest list wins over a hash list; neither is an error */
    const char *junk[N] = {"x", "x", "x", "x", "x", "x"};
    sb_spec.hashes = junk;
    HQ_CHECK_OK(hq_jobdb_job_create(b, &sb_spec, &jb, NULL));
    sb_spec.hashes = NULL;
    sb_spec.digests = NULL;
    HQ_CHECK_FAILS(hq_jobdb_job_create(b, &sb_spec, &jb, NULL), HQ_ERR_INVALID_ARG,
                   "the circuits are given neither as digests (32 bytes each) nor as hashes");
    sb_spec.hashes = junk;
    HQ_CHECK_FAILS(hq_jobdb_job_create(b, &sb_spec, &jb, NULL), HQ_ERR_INVALID_ARG,
                   "hashes[0] \"x\" is not a sha256 digest");
    for (int i = 0; i < N; i++) hq_counts_free(&c[i]);
    hq_jobdb_close(a);
    hq_jobdb_close(b);
}

/* eval_put checks job ids itself (schema 3 has no foreign key on them): a missing job
 * after an existing one, and after a run of items naming the same job, is found. */
HQ_TEST(db_evals_job_ids_checked) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    int64_t run = make_run(db, "r"), job = 0;
    char t[4][200], h[4][65];
    const char *hp[1];
    hq_counts c;
    counts_of(&c, 2, (uint64_t[]){1}, (int64_t[]){4}, 1);
    hq_jobdb_eval_item it[4];
    for (int i = 0; i < 4; i++) {
        circuit_text(400 + i, t[i], sizeof t[i], h[i]);
        it[i] = (hq_jobdb_eval_item){
            .key = {.hash = h[i], .backend = "sv", .shots = 4, .basis = "Z"}, .counts = &c};
    }
    hp[0] = h[0];
    hq_jobdb_job_spec spec = {
        .run_id = run, .backend = "sv", .shots = 4, .n_circuits = 1, .hashes = hp};
    HQ_REQUIRE_OK(hq_jobdb_job_create(db, &spec, &job, NULL));
    it[0].job_id = it[1].job_id = it[2].job_id = job;
    it[3].job_id = job + 5;
    int64_t ins = 9;
    HQ_CHECK_FAILS(hq_jobdb_eval_put(db, run, 4, it, &ins), HQ_ERR_NOT_FOUND,
                   "hq_jobdb_eval_put: job 6 does not exist");
    HQ_CHECK_EQ_INT(ins, 0);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM evaluations"), 0);
    it[3].job_id = 0;
    HQ_REQUIRE_OK(hq_jobdb_eval_put(db, run, 4, it, &ins));
    HQ_CHECK_EQ_INT(ins, 4);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM evaluations WHERE job_id = 1"), 3);
    HQ_CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM evaluations WHERE job_id IS NULL"), 1);
    hq_counts_free(&c);
    hq_jobdb_close(db);
}

/* ==== the digest sort ================================================================== */

/* Reference: insertion sort by (memcmp of the full digest, position). */
static void sort_reference(int64_t n, const uint8_t *h, int64_t *order) {
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 && memcmp(h + 32 * order[j - 1], h + 32 * i, 32) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* jobdb_sort_by_digest against the reference on digests built to hit every branch: random
 * ones, equal 8-byte prefixes in short and long runs (insertion / qsort_r fix-up), exact
 * duplicates (ties by position), a byte every digest shares (skipped radix passes), and
 * sizes 1, 2 and a few thousand. */
HQ_TEST(db_sort_by_digest_order) {
    hq_jobdb *db = open_mem();
    HQ_REQUIRE(db);
    hq_rng rng;
    hq_rng_init(&rng, 11, 0, 0);
    static const int64_t sizes[] = {1, 2, 3, 17, 100, 3000};
    for (size_t si = 0; si < HQ_ARRAY_LEN(sizes); si++) {
        for (int mode = 0; mode < 5; mode++) {
            int64_t n = sizes[si];
            uint8_t *h = hq_malloc((size_t)n * 32);
            int64_t *got = hq_malloc((size_t)n * sizeof *got);
            int64_t *want = hq_malloc((size_t)n * sizeof *want);
            HQ_REQUIRE(h && got && want);
            for (int64_t i = 0; i < n; i++) {
                for (int k = 0; k < 32; k++) h[32 * i + k] = (uint8_t)(hq_rng_u64(&rng) >> 56);
                switch (mode) {
                case 1: /* prefixes from 3 values: long runs of equal prefixes */
                    memset(h + 32 * i, 0, 8);
                    h[32 * i + 7] = (uint8_t)(hq_rng_u64(&rng) % 3);
                    break;
                case 2: /* short runs: 1..4 digests per prefix */
                    memset(h + 32 * i, (int)(i / 4) & 0xff, 8);
                    h[32 * i] = (uint8_t)(i / 1024);
                    break;
                case 3: /* exact duplicates of a few digests, some later bytes differ */
                    memset(h + 32 * i, 0x5a, 32);
                    h[32 * i + 31] = (uint8_t)(hq_rng_u64(&rng) % 4);
                    h[32 * i + 3] = (uint8_t)(hq_rng_u64(&rng) % 2);
                    break;
                case 4: /* every digest shares bytes 0 and 5: those passes are skipped */
                    h[32 * i] = 0xee;
                    h[32 * i + 5] = 0x01;
                    break;
                default: break;
                }
            }
            HQ_REQUIRE_OK(jobdb_reserve_hashes(db, n, "test"));
            jobdb_sort_by_digest(db, n, h, got);
            sort_reference(n, h, want);
            int64_t bad = -1;
            for (int64_t i = 0; i < n && bad < 0; i++)
                if (got[i] != want[i]) bad = i;
            HQ_CHECKF(bad < 0, "n %lld mode %d: position %lld holds %lld, want %lld", (long long)n,
                      mode, (long long)bad, (long long)(bad >= 0 ? got[bad] : 0),
                      (long long)(bad >= 0 ? want[bad] : 0));
            hq_free(h);
            hq_free(got);
            hq_free(want);
        }
    }
    jobdb_sort_by_digest(db, 0, NULL, NULL); /* nothing to do */
    hq_jobdb_close(db);
}
