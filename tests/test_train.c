/*
 * tests/test_train.c — orchestrator/config + train + plan: config validation errors, a
 * training smoke test (loss goes down, weights deterministic for a seed), plans that
 * predict exactly what a simulator-backed run submits, resume after a clean stop and
 * after kill -9 at random moments (also between a submission and its bookkeeping) with
 * final weights bit-identical to an uninterrupted run and no job accepted twice.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/rng.h"
#include "db/jobdb.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "orchestrator/plan.h"
#include "orchestrator/train.h"
#include "tests/hq_test.h"

/* A small config: the default HQCNN model inline, a subset of BreastMNIST. */
static char *small_config(const char *backend, const char *store, int epochs, int batch,
                          int checkpoint_every, int per_job) {
    char *model = NULL;
    size_t len;
    if (hq_file_read("configs/hqcnn-default.json", 0, &model, &len)) return NULL;
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b,
                   "{\"name\":\"t\",\"dataset\":\"breastmnist\",\"data_dir\":\"data\",\"model\":%s,"
                   "\"train\":{\"epochs\":%d,\"batch_size\":%d,\"seed\":7,\"threads\":1,"
                   "\"optimizer\":{\"type\":\"adam\",\"lr\":0.003},\"checkpoint_every\":%d,\"ema\":"
                   "0.9,\"tta\":\"hflip\","
                   "\"subset\":{\"train\":48,\"val\":16,\"test\":16}},"
                   "\"quantum\":{\"backend\":\"%s\",\"shots\":64,\"max_circuits_per_job\":%d,"
                   "\"poll_initial_s\":0.001",
                   model, epochs, batch, checkpoint_every, backend, per_job);
    if (store) hq_sbuf_printf(&b, ",\"options\":{\"store\":\"%s\"}", store);
    hq_sbuf_puts(&b, "}}");
    hq_free(model);
    return hq_sbuf_take(&b);
}

static int64_t count_jobs_in(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) !=
           NULL) { /* "<id>.job"; a killed writer may leave "<id>.job.tmp.<pid>" */
        size_t l = strlen(e->d_name);
        n += l > 4 && !strcmp(e->d_name + l - 4, ".job");
    }
    closedir(d);
    return n;
}

HQ_TEST(train_config_errors) {
    hq_train_config c;
    HQ_CHECK_FAILS(hq_train_config_parse("{\"dataset\":\"breastmnist\",\n\"train\":{", ".", &c),
                   HQ_ERR_PARSE, "not valid JSON (near line 2)");
    HQ_CHECK_FAILS(
        hq_train_config_parse("{\"dataset\":\"breastmnist\",\"model\":{},\"colour\":1}", ".", &c),
        HQ_ERR_INVALID_ARG, "unknown key 'colour'");
    HQ_CHECK_FAILS(hq_train_config_parse("{\"model\":{}}", ".", &c), HQ_ERR_INVALID_ARG,
                   "'dataset' is missing");
    HQ_CHECK_FAILS(hq_train_config_parse("{\"dataset\":\"breastmnist\"}", ".", &c),
                   HQ_ERR_INVALID_ARG, "'model' is missing");
    HQ_CHECK_FAILS(hq_train_config_parse(
                       "{\"dataset\":\"b\",\"model\":{},\"train\":{\"batch_size\":0}}", ".", &c),
                   HQ_ERR_INVALID_ARG, "train.batch_size: 0 is outside [1, 4096]");
    HQ_CHECK_FAILS(hq_train_config_parse(
                       "{\"dataset\":\"b\",\"model\":{},\"train\":{\"epochs\":2.5}}", ".", &c),
                   HQ_ERR_INVALID_ARG, "train.epochs");
    HQ_CHECK_FAILS(
        hq_train_config_parse(
            "{\"dataset\":\"b\",\"model\":{},\"train\":{\"class_weights\":[1,-2]}}", ".", &c),
        HQ_ERR_INVALID_ARG, "positive numbers");
    HQ_CHECK_FAILS(hq_train_config_parse(
                       "{\"dataset\":\"b\",\"model\":{},\"train\":{\"select\":\"best\"}}", ".", &c),
                   HQ_ERR_INVALID_ARG, "train.select");
    HQ_CHECK_FAILS(
        hq_train_config_parse(
            "{\"dataset\":\"b\",\"model\":{},\"quantum\":{\"gradient\":\"adjoint\"}}", ".", &c),
        HQ_ERR_INVALID_ARG, "unknown gradient method 'adjoint'");
    HQ_CHECK_FAILS(
        hq_train_config_parse(
            "{\"dataset\":\"b\",\"model\":{},\"train\":{\"augment\":{\"hflip\":2}}}", ".", &c),
        HQ_ERR_INVALID_ARG, "train.augment");
    HQ_CHECK_FAILS(hq_train_config_parse("{\"dataset\":\"b\",\"model\":\"nope.json\"}", ".", &c),
                   HQ_ERR_NOT_FOUND, "config: model");
    HQ_CHECK_FAILS(hq_train_config_load(hq_test_tmpfile("missing.json"), &c), HQ_ERR_NOT_FOUND,
                   "missing.json");
    /* every shipped config parses, and its model builds for its dataset (channels, classes) */
    DIR *d = opendir("configs");
    HQ_REQUIRE(d != NULL);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 8 || strcmp(e->d_name + l - 8, "-sv.json") != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "configs/%s", e->d_name);
        hq_train_config cfg;
        HQ_CHECKF(hq_train_config_load(path, &cfg) == HQ_OK, "%s: %s", path, hq_last_error());
        hq_plan p;
        HQ_CHECKF(hq_plan_run(&cfg, &p) == HQ_OK, "%s: %s", path, hq_last_error());
        HQ_CHECKF(p.quantum && p.exact, "%s: the -sv config should have an exact quantum layer",
                  path);
        hq_train_config_free(&cfg);
        n++;
    }
    closedir(d);
    HQ_CHECK_EQ_INT(n, 12);
}

HQ_TEST(train_smoke_loss_down_and_deterministic) {
    char *json = small_config("sv", NULL, 4, 16, 1000, 0);
    HQ_REQUIRE(json);
    hq_train_config c;
    HQ_REQUIRE_OK(hq_train_config_parse(json, ".", &c));
    hq_free(json);
    char db[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("smoke.db"));
    hq_train_opts o = {
        .db_path = db, .out_dir = hq_test_tmpfile("a"), .run_name = "a", .quiet = true};
    hq_train_result r1, r2, r3;
    HQ_REQUIRE_OK(hq_train_new(&c, &o, &r1));
    HQ_CHECK(r1.finished);
    HQ_CHECK(r1.test.n == 16 && r1.test.acc >= 0 && r1.test.acc <= 1);
    o.out_dir = hq_test_tmpfile("b");
    o.run_name = "b";
    HQ_REQUIRE_OK(hq_train_new(&c, &o, &r2));
    HQ_CHECK_STR(r1.weights_sha256, r2.weights_sha256);
    c.seed = 8;
    o.out_dir = hq_test_tmpfile("c");
    o.run_name = "c";
    HQ_REQUIRE_OK(hq_train_new(&c, &o, &r3));
    HQ_CHECK(strcmp(r1.weights_sha256, r3.weights_sha256) != 0);
    /* the per-epoch training loss went down */
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/metrics.json", hq_test_tmpfile("a"));
    cJSON *m = hq_test_read_json(mp);
    HQ_REQUIRE(m);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(m, "history");
    HQ_REQUIRE(cJSON_GetArraySize(h) == 4);
    double l0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(h, 0), "loss")->valuedouble;
    double l3 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(h, 3), "loss")->valuedouble;
    HQ_CHECKF(l3 < l0, "training loss %.4f -> %.4f did not go down", l0, l3);
    HQ_CHECK_STR(cJSON_GetObjectItemCaseSensitive(m, "weights_sha256")->valuestring,
                 r1.weights_sha256);
    cJSON_Delete(m);
    /* the stored run and hq_eval_run agree with the final test metrics */
    hq_eval_opts eo = {.db_path = db, .data_dir = "data", .threads = 1};
    hq_metrics em;
    int64_t cm[4], n_cm;
    char ds[64];
    HQ_REQUIRE_OK(hq_eval_run("a", HQ_SPLIT_TEST, &eo, &em, cm, &n_cm, ds, sizeof ds));
    HQ_CHECK_STR(ds, "breastmnist");
    HQ_CHECK_EQ_INT(em.n, 156); /* eval uses the whole split */
    hq_train_config_free(&c);
}

HQ_TEST(train_plan_predicts_submissions_and_resume_is_bit_identical) {
    char store_a[4096], store_b[4096];
    snprintf(store_a, sizeof store_a, "%s", hq_test_tmpfile("store-a"));
    snprintf(store_b, sizeof store_b, "%s", hq_test_tmpfile("store-b"));
    char *ja = small_config("sv-shots", store_a, 2, 16, 2, 700);
    char *jb = small_config("sv-shots", store_b, 2, 16, 2, 700);
    HQ_REQUIRE(ja && jb);
    hq_train_config ca, cb;
    HQ_REQUIRE_OK(hq_train_config_parse(ja, ".", &ca));
    HQ_REQUIRE_OK(hq_train_config_parse(jb, ".", &cb));
    hq_free(ja);
    hq_free(jb);
    hq_plan plan;
    HQ_REQUIRE_OK(hq_plan_run(&ca, &plan));
    /* uninterrupted */
    char dba[4096], dbb[4096];
    snprintf(dba, sizeof dba, "%s", hq_test_tmpfile("a.db"));
    snprintf(dbb, sizeof dbb, "%s", hq_test_tmpfile("b.db"));
    hq_train_opts oa = {
        .db_path = dba, .out_dir = hq_test_tmpfile("ra"), .run_name = "ra", .quiet = true};
    hq_train_result ra, rb;
    HQ_REQUIRE_OK(hq_train_new(&ca, &oa, &ra));
    HQ_REQUIRE(ra.finished);
    /* the plan predicted exactly what was submitted */
    hq_jobdb *db;
    HQ_REQUIRE_OK(hq_jobdb_open(dba, NULL, &db));
    hq_jobdb_run_stats s;
    HQ_REQUIRE_OK(hq_jobdb_run_get_stats(db, ra.run_id, &s));
    hq_jobdb_close(db);
    HQ_CHECK_EQ_INT(s.jobs[HQ_JOB_COMPLETED], plan.total.jobs);
    HQ_CHECK_EQ_INT(s.shots_submitted, plan.total.shots);
    HQ_CHECK_EQ_INT(count_jobs_in(store_a), plan.total.jobs);
    /* stopped twice, resumed: same weights, same number of accepted jobs */
    hq_train_opts ob = {.db_path = dbb,
                        .out_dir = hq_test_tmpfile("rb"),
                        .run_name = "rb",
                        .quiet = true,
                        .stop_after_step = 1};
    HQ_REQUIRE_OK(hq_train_new(&cb, &ob, &rb));
    HQ_CHECK(!rb.finished);
    ob.stop_after_step = 4;
    HQ_REQUIRE_OK(hq_train_resume("rb", &ob, &rb));
    HQ_CHECK(!rb.finished && rb.steps == 4);
    ob.stop_after_step = 0;
    HQ_REQUIRE_OK(hq_train_resume("rb", &ob, &rb));
    HQ_CHECK(rb.finished);
    HQ_CHECK_STR(rb.weights_sha256, ra.weights_sha256);
    HQ_CHECK_EQ_INT(count_jobs_in(store_b), count_jobs_in(store_a));
    HQ_CHECK_NEAR(rb.test.acc, ra.test.acc, 0);
    HQ_CHECK_FAILS(hq_train_resume("nope", &ob, &rb), HQ_ERR_NOT_FOUND, "no run 'nope'");
    hq_train_config_free(&ca);
    hq_train_config_free(&cb);
}

/* `hqcnn args...` in a child, stderr discarded (hq_test_run_child). */
static int run_cli(char *const argv[], long kill_ms, const char *env_kill, const char *out_path) {
    return hq_test_run_child(argv, kill_ms, env_kill, out_path, NULL, NULL);
}

HQ_TEST(train_crash_kill9_resume_bit_identical) {
    const char *bin = getenv("HQCNN_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        HQ_CHECKF(false, "HQCNN_BIN is not set to the hqcnn binary (make test sets it)");
        return;
    }
    char store_ref[4096], store_crash[4096], cfg_ref[4096], cfg_crash[4096];
    snprintf(store_ref, sizeof store_ref, "%s", hq_test_tmpfile("s-ref"));
    snprintf(store_crash, sizeof store_crash, "%s", hq_test_tmpfile("s-crash"));
    char *j1 = small_config("sv-shots", store_ref, 2, 16, 2, 700);
    char *j2 = small_config("sv-shots", store_crash, 2, 16, 2, 700);
    HQ_REQUIRE(j1 && j2);
    snprintf(cfg_ref, sizeof cfg_ref, "%s", hq_test_write_file("ref.json", j1, strlen(j1)));
    snprintf(cfg_crash, sizeof cfg_crash, "%s", hq_test_write_file("crash.json", j2, strlen(j2)));
    hq_free(j1);
    hq_free(j2);
    char db_ref[4096], db_crash[4096], out_ref[4096], out_crash[4096], js[4096];
    snprintf(db_ref, sizeof db_ref, "%s", hq_test_tmpfile("ref.db"));
    snprintf(db_crash, sizeof db_crash, "%s", hq_test_tmpfile("crash.db"));
    snprintf(out_ref, sizeof out_ref, "%s", hq_test_tmpfile("out-ref"));
    snprintf(out_crash, sizeof out_crash, "%s", hq_test_tmpfile("out-crash"));
    snprintf(js, sizeof js, "%s", hq_test_tmpfile("result.json"));
    char *ref[] = {(char *)bin, "train", "--config", cfg_ref, "--db",   db_ref,
                   "--out",     out_ref, "--name",   "crash", "--json", NULL};
    HQ_REQUIRE(run_cli(ref, -1, NULL, js) == 0);
    char want[65], got[65];
    HQ_REQUIRE(hq_test_read_run_sha(js, want));
    int64_t ref_jobs = count_jobs_in(store_ref);
    double t_ref = 0;
    {
        /* time one uninterrupted run to spread the kills over its length */
        double t0 = hq_time_now();
        char db2[4096], o2[4096];
        snprintf(db2, sizeof db2, "%s", hq_test_tmpfile("time.db"));
        snprintf(o2, sizeof o2, "%s", hq_test_tmpfile("out-time"));
        char *again[] = {(char *)bin, "train", "--config", cfg_ref, "--db",   db2,
                         "--out",     o2,      "--name",   "t",     "--json", NULL};
        run_cli(again, -1, NULL, "/dev/null");
        t_ref = hq_time_now() - t0;
    }
    /* the crashing run: kill -9 at random moments, and right after submissions */
    char *train[] = {(char *)bin, "train",   "--config", cfg_crash, "--db",   db_crash,
                     "--out",     out_crash, "--name",   "crash",   "--json", NULL};
    char *resume[] = {(char *)bin, "resume", "crash", "--db", db_crash, "--json", NULL};
    hq_rng rng;
    hq_rng_init(&rng, 2026, 0, 0);
    bool started = false, done = false;
    int kills = 0, rounds = 0;
    for (rounds = 0; rounds < 40 && !done; rounds++) {
        const char *env = NULL;
        long kill_ms = -1;
        if (rounds < 8) {
            if (rounds % 3 == 1)
                env = rounds == 1 ? "1" : "2"; /* between submission and bookkeeping */
            else
                kill_ms = (long)(1000 * t_ref * (0.05 + 0.3 * hq_rng_uniform(&rng)));
        }
        int rc = run_cli(started ? resume : train, kill_ms, env, js);
        if (rc == 137) {
            kills++;
        } else if (rc == 0) {
            done = hq_test_read_run_sha(js, got);
        } else if (!started) {
            HQ_CHECKF(false, "train exited with %d", rc);
            break;
        }
        /* once the run row exists, continue with resume */
        hq_jobdb *db;
        hq_jobdb_options dbo;
        hq_jobdb_options_init(&dbo);
        dbo.no_create = true;
        if (!started && hq_jobdb_open(db_crash, &dbo, &db) == HQ_OK) {
            hq_jobdb_run r;
            memset(&r, 0, sizeof r);
            started = hq_jobdb_run_find(db, "crash", &r) == HQ_OK;
            hq_jobdb_run_clear(&r);
            hq_jobdb_close(db);
        }
        hq_clear_error();
    }
    HQ_CHECKF(done, "the run did not finish after %d rounds", rounds);
    HQ_CHECKF(kills >= 5, "only %d kills happened", kills);
    HQ_CHECK_STR(got, want);
    HQ_CHECK_EQ_INT(count_jobs_in(store_crash), ref_jobs);
}

HQ_TEST(train_config_label_smoothing_and_mixup) {
    hq_train_config c;
    HQ_REQUIRE_OK(hq_train_config_parse(
        "{\"dataset\":\"b\",\"model\":{},\"train\":{\"label_smoothing\":0.1,\"mixup\":0.2}}", ".",
        &c));
    HQ_CHECK(c.label_smoothing == 0.1 && c.mixup == 0.2);
    /* the stored config carries them, and parses back to the same values */
    hq_sbuf j = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_train_config_to_json(&c, &j));
    hq_train_config_free(&c);
    HQ_REQUIRE_OK(hq_train_config_parse(j.p, ".", &c));
    HQ_CHECK(c.label_smoothing == 0.1 && c.mixup == 0.2);
    hq_train_config_free(&c);
    hq_sbuf_free(&j);
    /* off by default, and then absent from the stored config (runs stored before them
     * keep the same config text) */
    HQ_REQUIRE_OK(hq_train_config_parse("{\"dataset\":\"b\",\"model\":{}}", ".", &c));
    HQ_CHECK(c.label_smoothing == 0 && c.mixup == 0);
    HQ_REQUIRE_OK(hq_train_config_to_json(&c, &j));
    HQ_CHECK(!strstr(j.p, "label_smoothing") && !strstr(j.p, "mixup"));
    hq_sbuf_free(&j);
    hq_train_config_free(&c);
    static const struct {
        const char *train, *msg;
    } bad[] = {
        {"\"label_smoothing\":1", "train.label_smoothing: 1 is out of range: must be in [0, 1)"},
        {"\"label_smoothing\":-0.1", "train.label_smoothing: -0.1 is outside [0, 1]"},
        {"\"label_smoothing\":\"0.1\"", "train.label_smoothing: must be a number"},
        {"\"mixup\":-1", "train.mixup: -1 is outside [0, 100]"},
        {"\"mixup\":1000", "train.mixup: 1000 is outside [0, 100]"},
        {"\"mixup\":true", "train.mixup: must be a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"dataset\":\"b\",\"model\":{},\"train\":{%s}}",
                 bad[i].train);
        HQ_CHECK_FAILS(hq_train_config_parse(json, ".", &c), HQ_ERR_INVALID_ARG, bad[i].msg);
    }
}

/* A short training run of small_config with `extra` train keys, into the test's "ls.db". */
static bool train_extra(const char *extra, const char *name, hq_train_result *r) {
    char *json = small_config("sv", NULL, 2, 16, 1000, 0);
    if (!json) return false;
    hq_sbuf b = HQ_SBUF_INIT;
    const char *at = strstr(json, "\"tta\":\"hflip\",");
    if (!at) {
        hq_free(json);
        return false;
    }
    hq_sbuf_append(&b, json, (size_t)(at - json));
    hq_sbuf_printf(&b, "%s%s", extra, at);
    hq_free(json);
    hq_train_config c;
    bool ok = hq_train_config_parse(b.p, ".", &c) == HQ_OK;
    hq_sbuf_free(&b);
    if (!ok) return false;
    char db[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("ls.db"));
    hq_train_opts o = {
        .db_path = db, .out_dir = hq_test_tmpfile(name), .run_name = name, .quiet = true};
    ok = hq_train_new(&c, &o, r) == HQ_OK && r->finished;
    hq_train_config_free(&c);
    return ok;
}

/* weights digest of train_extra */
static bool train_sha(const char *extra, const char *name, char sha[65]) {
    hq_train_result r;
    bool ok = train_extra(extra, name, &r);
    memcpy(sha, r.weights_sha256, 65);
    return ok;
}

HQ_TEST(train_label_smoothing_mixup_deterministic) {
    char plain[65], ls[65], mx[65], both[65], both2[65];
    HQ_REQUIRE(train_sha("", "plain", plain));
    HQ_REQUIRE(train_sha("\"label_smoothing\":0.1,", "ls", ls));
    HQ_REQUIRE(train_sha("\"mixup\":0.2,", "mx", mx));
    HQ_REQUIRE(train_sha("\"label_smoothing\":0.1,\"mixup\":0.2,", "both", both));
    HQ_REQUIRE(train_sha("\"label_smoothing\":0.1,\"mixup\":0.2,", "both2", both2));
    HQ_CHECK_STR(both, both2); /* same seed, same weights */
    /* each option changes training */
    HQ_CHECK(strcmp(plain, ls) != 0 && strcmp(plain, mx) != 0 && strcmp(ls, both) != 0 &&
             strcmp(mx, both) != 0);
    /* explicit zeros are the plain run, bit for bit */
    char zero[65];
    HQ_REQUIRE(train_sha("\"label_smoothing\":0,\"mixup\":0,", "zero", zero));
    HQ_CHECK_STR(zero, plain);
}

HQ_TEST(train_config_prior_correction) {
    hq_train_config c;
    HQ_REQUIRE_OK(hq_train_config_parse(
        "{\"dataset\":\"b\",\"model\":{},\"train\":{\"prior_correction\":true}}", ".", &c));
    HQ_CHECK(c.prior_correction);
    hq_sbuf j = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_train_config_to_json(&c, &j));
    hq_train_config_free(&c);
    HQ_REQUIRE_OK(hq_train_config_parse(j.p, ".", &c));
    HQ_CHECK(c.prior_correction);
    hq_train_config_free(&c);
    hq_sbuf_free(&j);
    /* off by default and then absent from the stored config */
    HQ_REQUIRE_OK(hq_train_config_parse("{\"dataset\":\"b\",\"model\":{}}", ".", &c));
    HQ_CHECK(!c.prior_correction);
    HQ_REQUIRE_OK(hq_train_config_to_json(&c, &j));
    HQ_CHECK(!strstr(j.p, "prior_correction"));
    hq_sbuf_free(&j);
    hq_train_config_free(&c);
    HQ_CHECK_FAILS(
        hq_train_config_parse("{\"dataset\":\"b\",\"model\":{},\"train\":{\"prior_correction\":1}}",
                              ".", &c),
        HQ_ERR_INVALID_ARG, "train.prior_correction: must be true or false");
}

static hq_status eval_opts(const char *what, const char *prior, const char *dataset, hq_metrics *m,
                           int64_t cm[4]) {
    char db[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("ls.db"));
    hq_eval_opts eo = {.db_path = db,
                       .data_dir = "data",
                       .threads = 1,
                       .prior = prior,
                       .dataset = dataset,
                       .tta = dataset ? "none" : NULL};
    int64_t n_cm;
    char ds[64];
    return hq_eval_run(what, HQ_SPLIT_TEST, &eo, m, cm, &n_cm, ds, sizeof ds);
}

/* A copy of weight file src for the eval error paths: with config NULL a bare file
 * hq_test_tmpfile(name); else best.hqw in directory hq_test_tmpfile(name), with config
 * (JSON text, damaged or not) as its run's config.json. The copy's path goes to out. */
static bool copy_weights(const char *src, const char *name, const char *config, char *out,
                         size_t cap) {
    char dir[4096], cfg[4200];
    snprintf(dir, sizeof dir, "%s", hq_test_tmpfile(name));
    snprintf(out, cap, config ? "%s/best.hqw" : "%s", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    char *blob = NULL;
    size_t len = 0;
    bool ok = (!config || hq_mkdir_p(dir, 0755) == HQ_OK) &&
              hq_file_read(src, 0, &blob, &len) == HQ_OK &&
              hq_file_write_atomic(out, blob, len) == HQ_OK &&
              (!config || hq_file_write_atomic(cfg, config, strlen(config)) == HQ_OK);
    hq_free(blob);
    return ok;
}

static bool same_metrics(const hq_metrics *a, const int64_t *ca, const hq_metrics *b,
                         const int64_t *cb) {
    return a->n == b->n && a->acc == b->acc && a->auc == b->auc && a->f1 == b->f1 &&
           !memcmp(ca, cb, 4 * sizeof *ca);
}

HQ_TEST(train_prior_correction_eval) {
    /* A: balanced class weights; B: the same + the prior correction. The correction leaves
     * the binary AUC, the selection score, unchanged, so training and the kept epoch are
     * identical and only the test ACC/F1 may move. */
    hq_train_result a, b, n;
    HQ_REQUIRE(train_extra("\"class_weights\":\"balanced\",", "pa", &a));
    HQ_REQUIRE(train_extra("\"class_weights\":\"balanced\",\"prior_correction\":true,", "pb", &b));
    HQ_CHECK_STR(a.weights_sha256, b.weights_sha256);
    HQ_CHECK_EQ_INT(a.best_epoch, b.best_epoch);
    HQ_CHECK(a.test.auc == b.test.auc);
    /* hqcnn eval scores as each run did; --prior-correction switches it either way */
    hq_metrics ea, eb, ea_on, eb_off, ef;
    int64_t ca[4], cb[4], ca_on[4], cb_off[4], cf[4];
    HQ_REQUIRE_OK(eval_opts("pa", NULL, NULL, &ea, ca));
    HQ_REQUIRE_OK(eval_opts("pb", NULL, NULL, &eb, cb));
    HQ_REQUIRE_OK(eval_opts("pa", "on", NULL, &ea_on, ca_on));
    HQ_REQUIRE_OK(eval_opts("pb", "off", NULL, &eb_off, cb_off));
    HQ_CHECK_EQ_INT(eb.n, 156);
    HQ_CHECK(same_metrics(&eb, cb, &ea_on, ca_on));
    HQ_CHECK(same_metrics(&ea, ca, &eb_off, cb_off));
    HQ_CHECK(ea.auc == eb.auc);
    /* BreastMNIST's positive class (1) is the common one, w1 < w0: undoing the weights
     * raises every positive score, so no prediction moves from positive to negative
     * (confusion [[tn fp] [fn tp]]). This briefly trained model scores every image near
     * the balanced prior, so the correction moves many of them. */
    HQ_CHECK(cb[1] + cb[3] > ca[1] + ca[3]);
    HQ_CHECK(cb[1] >= ca[1] && cb[3] >= ca[3]);
    /* the run directory's weight file follows its config.json (dataset, scoring) */
    char path[4200];
    snprintf(path, sizeof path, "%s/best.hqw", b.out_dir);
    HQ_REQUIRE_OK(eval_opts(path, NULL, NULL, &ef, cf));
    HQ_CHECK(same_metrics(&eb, cb, &ef, cf));
    /* errors: a bad switch; no class weights to undo; a bare weight file */
    HQ_CHECK_FAILS(eval_opts("pb", "yes", NULL, &ef, cf), HQ_ERR_INVALID_ARG,
                   "prior correction 'yes' must be on or off");
    HQ_REQUIRE(train_extra("", "pn", &n));
    HQ_CHECK_FAILS(eval_opts("pn", "on", NULL, &ef, cf), HQ_ERR_INVALID_ARG,
                   "this run trained without them (train.class_weights \"none\")");
    char bare[4200];
    HQ_REQUIRE(copy_weights(path, "bare.hqw", NULL, bare, sizeof bare));
    HQ_CHECK_FAILS(eval_opts(bare, "on", "breastmnist", &ef, cf), HQ_ERR_INVALID_ARG,
                   "has no run config.json beside it");
    /* a damaged config.json beside a weight file is named, not silently ignored */
    char bad_w[4300];
    HQ_REQUIRE(copy_weights(path, "badcfg", "{\"dataset\":", bad_w, sizeof bad_w));
    HQ_CHECK_FAILS(eval_opts(bad_w, NULL, "breastmnist", &ef, cf), HQ_ERR_PARSE,
                   "config.json is not a JSON object: fix it or move it away");
    /* plain scores (no tta, no correction): the run's own ones with both switched off */
    hq_metrics ep;
    int64_t cp[4];
    HQ_REQUIRE_OK(eval_opts(bare, NULL, "breastmnist", &ef, cf));
    HQ_REQUIRE_OK(eval_opts(path, "off", "breastmnist", &ep, cp));
    HQ_CHECK(same_metrics(&ef, cf, &ep, cp));
    HQ_CHECK(ef.auc != eb.auc || ef.acc != eb.acc); /* tta is off: other scores */
}

static hq_status eval_members(const char *const *what, int n, const char *tta, hq_metrics *m,
                              int64_t cm[4]) {
    char db[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("ls.db"));
    hq_eval_opts eo = {.db_path = db, .data_dir = "data", .threads = 1, .tta = tta};
    int64_t n_cm;
    char ds[64];
    return hq_eval_ensemble(what, n, HQ_SPLIT_TEST, &eo, m, cm, &n_cm, ds, sizeof ds);
}

/* the mean of the plain softmax scores of weight files w[0..n) on BreastMNIST's test split,
 * computed here, apart from hq_eval_ensemble: a second implementation */
static bool mean_scores_by_hand(const char *const *w, int n, hq_metrics *m) {
    hq_medmnist_opts mo = {.data_dir = "data", .size = 28};
    hq_dataset *d = NULL;
    if (hq_medmnist_load("breastmnist", HQ_SPLIT_TEST, &mo, &d)) return false;
    size_t len = (size_t)d->n * 2;
    float *sum = hq_calloc(len, sizeof *sum), *p = hq_malloc(len * sizeof *p);
    bool ok = sum && p;
    for (int i = 0; ok && i < n; i++) {
        hq_model *mod = NULL;
        hq_model_opts o = {.max_batch = (int)d->n, .threads = 1};
        hq_tensor x = hq_tensor_view(d->images, hq_shape4(d->n, d->c, d->h, d->w)), logits;
        hq_pass pass = {.train = false};
        ok = hq_model_create_from_weights(w[i], &o, &mod) == HQ_OK &&
             hq_model_forward(mod, &x, &pass, &logits) == HQ_OK;
        if (ok) hq_softmax_rows(p, logits.data, (int)d->n, 2);
        for (size_t k = 0; ok && k < len; k++) sum[k] += p[k];
        hq_model_free(mod);
    }
    for (size_t k = 0; ok && k < len; k++) sum[k] *= 1.0f / (float)n;
    ok = ok && hq_metrics_evaluate(d->task, d->labels, sum, d->n, 2, m) == HQ_OK;
    hq_free(sum);
    hq_free(p);
    hq_dataset_free(d);
    return ok;
}

HQ_TEST(train_eval_ensemble) {
    hq_train_result a, b, c;
    HQ_REQUIRE(train_extra("", "ea", &a));
    HQ_REQUIRE(train_extra("\"mixup\":0.2,", "eb", &b));
    HQ_REQUIRE(train_extra("\"label_smoothing\":0.1,", "ec", &c));
    /* an ensemble of one run with itself is that run, scored as it scores (tta hflip) */
    hq_metrics m1, m2, m3, hand;
    int64_t c1[4], c2[4], c3[4];
    const char *aa[] = {"ea", "ea"}, *abc[] = {"ea", "eb", "ec"};
    HQ_REQUIRE_OK(eval_members(aa, 1, NULL, &m1, c1));
    HQ_REQUIRE_OK(eval_members(aa, 2, NULL, &m2, c2));
    HQ_CHECK(same_metrics(&m1, c1, &m2, c2));
    /* three runs: the metrics of the mean of their scores, computed apart */
    HQ_REQUIRE_OK(eval_members(abc, 3, "none", &m3, c3));
    char wa[4200], wb[4200], wc[4200];
    snprintf(wa, sizeof wa, "%s/best.hqw", a.out_dir);
    snprintf(wb, sizeof wb, "%s/best.hqw", b.out_dir);
    snprintf(wc, sizeof wc, "%s/best.hqw", c.out_dir);
    const char *w[] = {wa, wb, wc};
    HQ_REQUIRE(mean_scores_by_hand(w, 3, &hand));
    HQ_CHECK_EQ_INT(m3.n, 156);
    HQ_CHECKF(m3.acc == hand.acc && m3.auc == hand.auc && m3.f1 == hand.f1,
              "ensemble ACC %.6f AUC %.6f, by hand %.6f %.6f", m3.acc, m3.auc, hand.acc, hand.auc);
    HQ_CHECK(c3[0] + c3[1] + c3[2] + c3[3] == 156);
    /* and not any one member's */
    for (int i = 0; i < 3; i++) {
        hq_metrics one;
        HQ_REQUIRE(mean_scores_by_hand(w + i, 1, &one));
        HQ_CHECKF(one.auc != hand.auc, "member %d has the ensemble's AUC %.6f", i, hand.auc);
    }
    /* errors: members for other datasets, a missing member, too many */
    char wr[4300];
    HQ_REQUIRE(copy_weights(wa, "retina-labelled", "{\"dataset\":\"retinamnist\",\"model\":{}}", wr,
                            sizeof wr));
    const char *mixed[] = {"ea", wr};
    HQ_CHECK_FAILS(eval_members(mixed, 2, NULL, &m3, c3), HQ_ERR_INVALID_ARG,
                   "an ensemble's members must be for one dataset: ea is for breastmnist");
    const char *missing[] = {"ea", "no-such-run"};
    HQ_CHECK_FAILS(eval_members(missing, 2, NULL, &m3, c3), HQ_ERR_NOT_FOUND, "no-such-run");
    const char *many[HQ_EVAL_MAX_MEMBERS + 1];
    for (int i = 0; i <= HQ_EVAL_MAX_MEMBERS; i++) many[i] = "ea";
    HQ_CHECK_FAILS(eval_members(many, HQ_EVAL_MAX_MEMBERS + 1, NULL, &m3, c3), HQ_ERR_INVALID_ARG,
                   "an evaluation takes 1 to 16 weight files or runs, not 17");
    HQ_REQUIRE_OK(eval_members(many, HQ_EVAL_MAX_MEMBERS, NULL, &m2, c2));
    HQ_CHECK(same_metrics(&m1, c1, &m2, c2));
    /* --dataset with another class count */
    char shared[4096];
    snprintf(shared, sizeof shared, "%s", hq_test_shared("data/medmnist"));
    hq_eval_opts eo = {.db_path = hq_test_tmpfile("ls.db"),
                       .data_dir = shared,
                       .threads = 1,
                       .dataset = "retinamnist"};
    char ds[64];
    HQ_CHECK_FAILS(hq_eval_ensemble(abc, 3, HQ_SPLIT_VAL, &eo, &m3, NULL, NULL, ds, sizeof ds),
                   HQ_ERR_INVALID_ARG,
                   "ensemble member ea: the weights have 2 output classes, retinamnist has 5");
    /* hqcnn eval A B C --json: the ensemble's metrics; 17 members: a usage error */
    const char *bin = getenv("HQCNN_BIN");
    HQ_REQUIRE(bin);
    char db[4096], js[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("ls.db"));
    snprintf(js, sizeof js, "%s", hq_test_tmpfile("ens.json"));
    char *args[] = {(char *)bin, "eval",       "ea",   "eb",        "ec", "--tta",  "none", "--db",
                    db,          "--data-dir", "data", "--threads", "1",  "--json", NULL};
    HQ_REQUIRE(run_cli(args, -1, NULL, js) == 0);
    cJSON *j = hq_test_read_json(js);
    HQ_REQUIRE(j);
    HQ_CHECK_STR(cJSON_GetObjectItemCaseSensitive(j, "what")->valuestring, "ea + eb + ec");
    HQ_CHECK(cJSON_GetObjectItemCaseSensitive(j, "members")->valueint == 3);
    HQ_CHECK(fabs(cJSON_GetObjectItemCaseSensitive(j, "acc")->valuedouble - hand.acc) < 1e-6);
    HQ_CHECK(fabs(cJSON_GetObjectItemCaseSensitive(j, "auc")->valuedouble - hand.auc) < 1e-6);
    cJSON_Delete(j);
    char *argm[HQ_EVAL_MAX_MEMBERS + 8] = {(char *)bin, "eval"};
    for (int i = 0; i <= HQ_EVAL_MAX_MEMBERS; i++) argm[2 + i] = "ea";
    HQ_CHECK_EQ_INT(run_cli(argm, -1, NULL, "/dev/null"), 2);
}

/* jobs stored for run `name` of the test database (-1 on error) */
static int64_t run_jobs(const char *db_path, const char *name) {
    hq_jobdb *db = NULL;
    hq_jobdb_run r;
    hq_jobdb_job *jobs = NULL;
    int64_t n = -1;
    if (hq_jobdb_open(db_path, NULL, &db) == HQ_OK && hq_jobdb_run_find(db, name, &r) == HQ_OK) {
        if (hq_jobdb_job_list(db, r.id, HQ_JOB_MASK_ALL, &jobs, &n) != HQ_OK) n = -1;
        hq_jobdb_jobs_free(jobs, n > 0 ? n : 0);
        hq_jobdb_run_clear(&r);
    }
    hq_jobdb_close(db);
    return n;
}

HQ_TEST(train_eval_ensemble_shot_backend) {
    /* an ensemble on a shot-based backend: each member's circuits run as jobs of its own
     * run and are cached there, so a member evaluated again submits nothing */
    hq_train_result a, b;
    HQ_REQUIRE(train_extra("", "sa", &a));
    HQ_REQUIRE(train_extra("\"mixup\":0.2,", "sb", &b));
    char db[4096];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("ls.db"));
    HQ_CHECK_EQ_INT(run_jobs(db, "sa"), 0);
    hq_eval_opts o = {.db_path = db,
                      .data_dir = "data",
                      .threads = 1,
                      .tta = "none",
                      .backend = "sv-shots",
                      .shots = 100000};
    hq_metrics ms, mss, mab, exact;
    int64_t cs[4], css[4], cab[4], cx[4], n_cm;
    char ds[64];
    const char *sa = "sa", *sasa[] = {"sa", "sa"}, *sab[] = {"sa", "sb"};
    HQ_REQUIRE_OK(hq_eval_ensemble(&sa, 1, HQ_SPLIT_TEST, &o, &ms, cs, &n_cm, ds, sizeof ds));
    int64_t ja = run_jobs(db, "sa");
    HQ_CHECKF(ja > 0, "%lld jobs stored for sa", (long long)ja);
    HQ_REQUIRE_OK(hq_eval_ensemble(sasa, 2, HQ_SPLIT_TEST, &o, &mss, css, &n_cm, ds, sizeof ds));
    HQ_CHECK(same_metrics(&ms, cs, &mss, css));
    HQ_CHECK_EQ_INT(run_jobs(db, "sa"), ja); /* both members from sa's cache */
    HQ_CHECK_EQ_INT(run_jobs(db, "sb"), 0);
    HQ_REQUIRE_OK(hq_eval_ensemble(sab, 2, HQ_SPLIT_TEST, &o, &mab, cab, &n_cm, ds, sizeof ds));
    HQ_CHECK(run_jobs(db, "sb") > 0);
    HQ_CHECK_EQ_INT(run_jobs(db, "sa"), ja);
    /* 10^5 shots per circuit: close to the exact ensemble */
    o.backend = NULL;
    HQ_REQUIRE_OK(hq_eval_ensemble(sab, 2, HQ_SPLIT_TEST, &o, &exact, cx, &n_cm, ds, sizeof ds));
    HQ_CHECKF(fabs(mab.auc - exact.auc) < 0.02, "AUC %.4f with shots, %.4f exact", mab.auc,
              exact.auc);
}
