/*
 * tests/test_study.c — orchestrator/study: a study of a small trained model on the exact,
 * the noisy (transpiled for manila) and the shot-based simulators writes a report whose
 * numbers satisfy the invariants: the exact statevector has zero expectation error and
 * distance; noise scale 0 reproduces the ideal simulator exactly; readout mitigation and
 * ZNE move expectations closer to the exact ones on a noisy backend; a repeated study
 * submits nothing new (everything is served from the job database); a study killed right
 * after a submission and resumed submits nothing twice and gives the uninterrupted
 * study's numbers; readout mitigation through the IBM emulator (which lays circuits out
 * itself) is calibrated on the qubits the circuits are read from, so it agrees with the
 * exact density-matrix simulation of the same device.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/emulator/emulator.h"
#include "orchestrator/study.h"
#include "orchestrator/train.h"
#include "tests/hq_test.h"

#define MANILA       "data/ibm_backends/conf_manila.json"
#define MANILA_PROPS "data/ibm_backends/props_manila.json"

static int64_t jobs_in(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        n += l > 4 && !strcmp(e->d_name + l - 4, ".job");
    }
    closedir(d);
    return n;
}

static const cJSON *find_result(const cJSON *results, const char *backend, const char *mit,
                                int64_t shots) {
    for (const cJSON *r = results ? results->child : NULL; r; r = r->next)
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(r, "backend")->valuestring, backend) &&
            !strcmp(cJSON_GetObjectItemCaseSensitive(r, "mitigation")->valuestring, mit) &&
            (int64_t)cJSON_GetObjectItemCaseSensitive(r, "shots")->valuedouble == shots)
            return r;
    return NULL;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return v && cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A small trained model (2 epochs on 64 images) as run `name` of database db, its run
 * directory `dir`; tta: the run's train.tta. */
/* extra: more train keys, each followed by a comma ("" for none) */
static hq_status train_small_extra(const char *db, const char *name, const char *dir,
                                   const char *tta, const char *extra) {
    char *model = NULL;
    size_t len;
    hq_status st = hq_file_read("configs/hqcnn-default.json", 0, &model, &len);
    if (st) return st;
    hq_sbuf cj = HQ_SBUF_INIT;
    hq_sbuf_printf(
        &cj,
        "{\"dataset\":\"breastmnist\",\"data_dir\":\"data\",\"model\":%s,\"train\":{\"epochs\":2,"
        "\"batch_size\":16,\"threads\":1,%s\"tta\":\"%s\",\"subset\":{\"train\":64,\"val\":16,"
        "\"test\":16}}}",
        model, extra, tta);
    hq_free(model);
    hq_train_config cfg;
    st = hq_train_config_parse(cj.p, ".", &cfg);
    hq_sbuf_free(&cj);
    if (st) return st;
    hq_train_opts to = {.db_path = db, .out_dir = dir, .run_name = name, .quiet = true};
    hq_train_result tr;
    st = hq_train_new(&cfg, &to, &tr);
    hq_train_config_free(&cfg);
    return st;
}

static hq_status train_small_tta(const char *db, const char *name, const char *dir,
                                 const char *tta) {
    return train_small_extra(db, name, dir, tta, "");
}

static hq_status train_small(const char *db, const char *name, const char *dir) {
    return train_small_tta(db, name, dir, "none");
}

/* A small model trained into the test's "train.db" and "run": db, dir and the path of its
 * best weights filled in. */
static hq_status trained_weights(char db[4096], char dir[4096], char weights[4200]) {
    snprintf(db, 4096, "%s", hq_test_tmpfile("train.db"));
    snprintf(dir, 4096, "%s", hq_test_tmpfile("run"));
    hq_status st = train_small(db, "m", dir);
    snprintf(weights, 4200, "%s/best.hqw", dir);
    return st;
}

/* The test's IBM credentials in the environment (no CRN, no emulator URL override) and
 * emulator options of the IBM profile accepting them. */
static hq_emulator_options emulator_ibm_with_test_key(void) {
    setenv("IBM_QUANTUM_API_KEY", "study-test-key-0123", 1);
    unsetenv("IBM_QUANTUM_CRN");
    unsetenv("HQCNN_EMULATOR_URL");
    hq_emulator_options eo = hq_emulator_default_options(HQ_EMU_PROFILE_IBM);
    eo.ibm_api_key = eo.ionq_api_key = "study-test-key-0123";
    return eo;
}

static cJSON *read_study(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/study.json", dir);
    return hq_test_read_json(path);
}

static double err_mean(const cJSON *r) {
    return num(cJSON_GetObjectItemCaseSensitive(r, "expect_error"), "mean");
}

HQ_TEST(study_report_invariants_and_cache) {
    char db[4096], store[4096], opts[8192];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("s.db"));
    snprintf(store, sizeof store, "%s", hq_test_tmpfile("store"));
    HQ_REQUIRE_OK(train_small(db, "m", hq_test_tmpfile("run")));
    snprintf(opts, sizeof opts,
             "{\"store\":\"%s\",\"device\":\"data/ibm_backends/conf_manila.json,data/ibm_backends/"
             "props_manila.json\"}",
             store);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = "m";
    o.db_path = db;
    o.data_dir = "data";
    o.out_dir = hq_test_tmpfile("study");
    o.backends[0] = "sv";
    o.backends[1] = "dm:manila";
    o.backends[2] = "dm-shots";
    o.backend_options[2] = opts;
    o.n_backends = 3;
    o.shots[0] = 0;
    o.shots[1] = 4000;
    o.n_shots = 2;
    o.mitigation[0] = "none";
    o.mitigation[1] = "readout";
    o.mitigation[2] = "zne";
    o.n_mitigation = 3;
    o.scales[0] = 0;
    o.scales[1] = 1;
    o.n_scales = 2;
    o.subset = 24;
    o.threads = 1;
    o.quiet = true;
    char report[4096];
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    HQ_CHECK(hq_file_exists(report));
    int64_t jobs_first = jobs_in(store);
    HQ_CHECK(jobs_first > 0);
    cJSON *doc = read_study(o.out_dir);
    HQ_REQUIRE(doc);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results");
    const cJSON *sv = find_result(res, "sv", "none", 0);
    HQ_REQUIRE(sv);
    HQ_CHECK_NEAR(num(cJSON_GetObjectItemCaseSensitive(sv, "expect_error"), "mean"), 0, 1e-12);
    HQ_CHECK_NEAR(num(sv, "tvd"), 0, 1e-12);
    HQ_CHECK_NEAR(num(sv, "hellinger_fidelity"), 1, 1e-12);
    /* every row lists the error of every expectation value (24 images x 8 observables),
     * and its mean |error| is the row's mean */
    for (const cJSON *r = res->child; r; r = r->next) {
        const cJSON *ee = cJSON_GetObjectItemCaseSensitive(r, "expect_error");
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(ee, "per_circuit");
        HQ_CHECK_EQ_INT(cJSON_GetArraySize(pc), 24 * 8);
        HQ_CHECK_EQ_INT((int64_t)num(ee, "n"), 24 * 8);
        double sum = 0;
        for (const cJSON *x = pc ? pc->child : NULL; x; x = x->next) sum += fabs(x->valuedouble);
        HQ_CHECK_NEAR(sum / (24 * 8), num(ee, "mean"), 1e-12);
    }
    /* noise scale 0 of the noisy simulator = the ideal simulator, exactly */
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(doc, "noise_sweep");
    int seen0 = 0;
    for (const cJSON *e = sw ? sw->child : NULL; e; e = e->next) {
        if (num(e, "scale") != 0) continue;
        seen0++;
        HQ_CHECK_NEAR(num(e, "acc"), num(sv, "acc"), 0);
        HQ_CHECK_NEAR(num(e, "auc"), num(sv, "auc"), 0);
    }
    HQ_CHECK_EQ_INT(seen0, 1);
    /* on the noisy simulator mitigation moves the expectation values closer to exact */
    const cJSON *dn = find_result(res, "dm:manila", "none", 0),
                *dr = find_result(res, "dm:manila", "readout", 0),
                *dz = find_result(res, "dm:manila", "zne", 0);
    HQ_REQUIRE(dn && dr && dz);
    double en = num(cJSON_GetObjectItemCaseSensitive(dn, "expect_error"), "mean");
    double er = num(cJSON_GetObjectItemCaseSensitive(dr, "expect_error"), "mean");
    double ez = num(cJSON_GetObjectItemCaseSensitive(dz, "expect_error"), "mean");
    HQ_CHECKF(en > 0.01, "noise should be visible: mean error %.4f", en);
    HQ_CHECKF(er < en, "readout mitigation: %.4f -> %.4f", en, er);
    HQ_CHECKF(ez < en, "ZNE: %.4f -> %.4f", en, ez);
    const cJSON *dsh = find_result(res, "dm-shots", "none", 4000),
                *dsr = find_result(res, "dm-shots", "readout", 4000);
    HQ_REQUIRE(dsh && dsr);
    HQ_CHECK(num(cJSON_GetObjectItemCaseSensitive(dsr, "expect_error"), "mean") <
             num(cJSON_GetObjectItemCaseSensitive(dsh, "expect_error"), "mean"));
    HQ_CHECK(num(dsh, "jobs") >= 1);
    cJSON_Delete(doc);
    /* the same study again: every remote evaluation comes from the database */
    o.out_dir = hq_test_tmpfile("study2");
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    HQ_CHECK_EQ_INT(jobs_in(store), jobs_first);
    /* bad input */
    o.mitigation[0] = "magic";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_INVALID_ARG,
                   "unknown mitigation 'magic'");
    o.mitigation[0] = "none";
    o.backends[1] = "dm:nowhere";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_NOT_FOUND,
                   "unknown device 'nowhere'");
}

/* `hqcnn ARGS...` in a child with $HQCNN_FAULT_KILL_AFTER_SUBMIT = kill_after, stderr
 * discarded (hq_test_run_child). */
static int run_cli(char *const argv[], const char *kill_after) {
    return hq_test_run_child(argv, -1, kill_after, NULL, NULL, NULL);
}

HQ_TEST(study_resume_after_kill_submits_nothing_twice) {
    const char *bin = getenv("HQCNN_BIN");
    if (!bin || !hq_file_exists(bin)) {
        HQ_CHECKF(false, "HQCNN_BIN is not set to the hqcnn binary (make test sets it)");
        return;
    }
    char db[4096], dir[4096], weights[4200];
    HQ_REQUIRE_OK(trained_weights(db, dir, weights));
    /* the same study twice, each with its own database and job store: uninterrupted, and
     * killed right after its 2nd accepted submission (before recording it), then resumed */
    char dbs[2][4096], stores[2][4096], outs[2][4096], opts[2][8300];
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.db", k);
        snprintf(dbs[k], sizeof dbs[k], "%s", hq_test_tmpfile(name));
        snprintf(name, sizeof name, "store%d", k);
        snprintf(stores[k], sizeof stores[k], "%s", hq_test_tmpfile(name));
        snprintf(name, sizeof name, "out%d", k);
        snprintf(outs[k], sizeof outs[k], "%s", hq_test_tmpfile(name));
        snprintf(opts[k], sizeof opts[k],
                 "dm-shots={\"store\":\"%s\",\"max_circuits\":8,"
                 "\"device\":\"" MANILA "," MANILA_PROPS "\"}",
                 stores[k]);
    }
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = weights;
    o.dataset = "breastmnist";
    o.data_dir = "data";
    o.backends[0] = "dm-shots";
    o.backend_options[0] = strchr(opts[0], '=') + 1;
    o.n_backends = 1;
    o.shots[0] = 2000;
    o.n_shots = 1;
    o.mitigation[0] = "none";
    o.mitigation[1] = "readout";
    o.mitigation[2] = "zne";
    o.n_mitigation = 3;
    o.subset = 12;
    o.threads = 1;
    o.quiet = true;
    o.db_path = dbs[0];
    o.out_dir = outs[0];
    char report[4300];
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    int64_t jobs_ref = jobs_in(stores[0]);
    HQ_CHECKF(jobs_ref >= 4, "the study should take several jobs, took %lld", (long long)jobs_ref);
    char *argv[] = {(char *)bin, "study",        weights,
                    "--dataset", "breastmnist",  "--data-dir",
                    "data",      "--backends",   "dm-shots",
                    "--options", opts[1],        "--shots",
                    "2000",      "--mitigation", "none,readout,zne",
                    "--subset",  "12",           "--threads",
                    "1",         "--db",         dbs[1],
                    "--out",     outs[1],        "--quiet",
                    NULL};
    HQ_CHECK_EQ_INT(run_cli(argv, "2"), 128 + SIGKILL);
    HQ_CHECK_EQ_INT(jobs_in(stores[1]), 2); /* both accepted, the 2nd never recorded */
    HQ_CHECK(!hq_file_exists(outs[1]));
    /* resume: the same study in this process */
    o.db_path = dbs[1];
    o.out_dir = outs[1];
    o.backend_options[0] = strchr(opts[1], '=') + 1;
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    HQ_CHECK_EQ_INT(jobs_in(stores[1]), jobs_ref);
    /* and the numbers are the uninterrupted study's (sampling seeds follow the circuits) */
    cJSON *a = read_study(outs[0]), *b = read_study(outs[1]);
    HQ_REQUIRE(a && b);
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(a, "results"),
                *rb = cJSON_GetObjectItemCaseSensitive(b, "results");
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(ra), 3);
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(rb), 3);
    for (int i = 0; i < cJSON_GetArraySize(ra); i++) {
        const cJSON *x = cJSON_GetArrayItem(ra, i), *y = cJSON_GetArrayItem(rb, i);
        HQ_CHECK_NEAR(num(x, "acc"), num(y, "acc"), 0);
        HQ_CHECK_NEAR(num(x, "auc"), num(y, "auc"), 0);
        HQ_CHECK_NEAR(err_mean(x), err_mean(y), 0);
        HQ_CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(x, "mitigation")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(y, "mitigation")->valuestring));
        double tx = num(x, "tvd"), ty = num(y, "tvd"); /* null (NaN) for ZNE rows */
        HQ_CHECK(isnan(tx) ? isnan(ty) : tx == ty);
    }
    /* the resumed process submitted only what the killed one had not */
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(b, "meta");
    HQ_CHECK_EQ_INT((int64_t)num(meta, "jobs_submitted"), jobs_ref - 2);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* The IBM emulator lays every circuit out itself, and ZNE folds and measurement bases land
 * on different permutations of the device's qubits; readout mitigation must pair each bit
 * with the confusion of the qubit it was read from. Reference: the exact density-matrix
 * simulation of the same device and calibration (dm:manila), where the study knows the
 * layout. Per observable, the mean signed error over the images must agree within shot
 * noise, with and without readout mitigation. */
HQ_TEST(study_emulator_readout_calibration_matches_device_simulation) {
    char db[4096], dir[4096], weights[4200];
    HQ_REQUIRE_OK(trained_weights(db, dir, weights));
    hq_emulator_options eo = emulator_ibm_with_test_key();
    eo.queue_delay_ms = eo.run_delay_ms = 0;
    eo.device_conf = MANILA;
    eo.device_props = MANILA_PROPS;
    eo.seed = 5;
    hq_emulator *e = NULL;
    HQ_REQUIRE_OK(hq_emulator_start(&eo, &e));
    char opts[256];
    snprintf(opts, sizeof opts, "{\"port\":%d,\"backend\":\"ibmq_manila\"}", hq_emulator_port(e));
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = weights;
    o.dataset = "breastmnist";
    o.data_dir = "data";
    o.db_path = hq_test_tmpfile("s.db");
    o.out_dir = hq_test_tmpfile("out");
    o.backends[0] = "dm:manila";
    o.backends[1] = "emulator-ibm";
    o.backend_options[1] = opts;
    o.n_backends = 2;
    o.shots[0] = 0;
    o.shots[1] = 20000;
    o.n_shots = 2;
    o.mitigation[0] = "none";
    o.mitigation[1] = "readout";
    o.n_mitigation = 2;
    o.subset = 16;
    o.threads = 1;
    o.quiet = true;
    char report[4300];
    hq_status st = hq_study_run(&o, report, sizeof report);
    hq_emulator_stop(e);
    HQ_REQUIRE_OK(st);
    cJSON *doc = read_study(o.out_dir);
    HQ_REQUIRE(doc);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results");
    const char *mits[2] = {"none", "readout"};
    for (int mi = 0; mi < 2; mi++) {
        const cJSON *ref = find_result(res, "dm:manila", mits[mi], 0),
                    *emu = find_result(res, "emulator-ibm", mits[mi], 20000);
        HQ_REQUIRE(ref && emu);
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ref, "expect_error"), "per_circuit");
        const cJSON *pe = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(emu, "expect_error"), "per_circuit");
        int K = 8, n = 16;
        HQ_REQUIRE(cJSON_GetArraySize(pr) == n * K && cJSON_GetArraySize(pe) == n * K);
        for (int k = 0; k < K; k++) {
            double d = 0;
            for (int r = 0; r < n; r++)
                d += cJSON_GetArrayItem(pe, r * K + k)->valuedouble -
                     cJSON_GetArrayItem(pr, r * K + k)->valuedouble;
            d /= n;
            /* shot noise of a mean of 16 <Z> estimates at 20000 shots (readout-amplified):
             * sd < 1.3 / sqrt(16 * 20000) = 0.0023 */
            HQ_CHECKF(fabs(d) < 0.012, "%s: observable %d: emulator - exact = %.4f", mits[mi], k,
                      d);
        }
    }
    cJSON_Delete(doc);
}

/* manila's calibration with readout error only: every gate error, gate length and readout
 * length zeroed (no depolarizing, no relaxation); written to path. */
static hq_status readout_only_props(const char *path) {
    cJSON *j = hq_test_read_json(MANILA_PROPS);
    if (!j) return HQ_ERR_PARSE;
    const cJSON *gates = cJSON_GetObjectItemCaseSensitive(j, "gates"),
                *qubits = cJSON_GetObjectItemCaseSensitive(j, "qubits");
    const cJSON *g, *q, *p;
    cJSON_ArrayForEach(g, gates) {
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(g, "parameters")) {
            const char *nm = cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring;
            if (!strcmp(nm, "gate_error") || !strcmp(nm, "gate_length"))
                cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "value"), 0);
        }
    }
    cJSON_ArrayForEach(q, qubits) {
        cJSON_ArrayForEach(p, q) {
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring, "readout_length"))
                cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "value"), 0);
        }
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!out) return HQ_ERR_NOMEM;
    hq_status st = hq_file_write_atomic(path, out, strlen(out));
    cJSON_free(out);
    return st;
}

/* With readout error the only noise, readout mitigation of exact distributions recovers the
 * ideal expectations exactly — for every ZNE fold and both measurement bases, whose
 * layouts put the bits on different physical qubits (each needs its own calibration). */
HQ_TEST(study_readout_only_noise_is_mitigated_exactly) {
    char db[4096], dir[4096], weights[4200], props[4096], spec[8300];
    HQ_REQUIRE_OK(trained_weights(db, dir, weights));
    snprintf(props, sizeof props, "%s", hq_test_tmpfile("props_ro.json"));
    HQ_REQUIRE_OK(readout_only_props(props));
    snprintf(spec, sizeof spec, "dm:" MANILA "+%s", props);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = weights;
    o.dataset = "breastmnist";
    o.data_dir = "data";
    o.db_path = hq_test_tmpfile("s.db");
    o.out_dir = hq_test_tmpfile("out");
    o.backends[0] = spec;
    o.n_backends = 1;
    o.shots[0] = 0;
    o.n_shots = 1;
    o.mitigation[0] = "none";
    o.mitigation[1] = "readout";
    o.mitigation[2] = "readout+zne";
    o.n_mitigation = 3;
    o.subset = 12;
    o.threads = 1;
    o.quiet = true;
    char report[4300];
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    cJSON *doc = read_study(o.out_dir);
    HQ_REQUIRE(doc);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results");
    const cJSON *rn = find_result(res, spec, "none", 0), *rr = find_result(res, spec, "readout", 0),
                *rz = find_result(res, spec, "readout+zne", 0);
    HQ_REQUIRE(rn && rr && rz);
    HQ_CHECKF(err_mean(rn) > 0.01, "readout error should be visible: %.4f", err_mean(rn));
    HQ_CHECK_NEAR(err_mean(rr), 0, 1e-9);
    HQ_CHECK_NEAR(err_mean(rz), 0, 1e-9);
    HQ_CHECK_NEAR(num(rr, "tvd"), 0, 1e-9);
    cJSON_Delete(doc);
}

/* The exact row of a study evaluates the model as training did: with the run's test-time
 * augmentation (mirror images, scores averaged) it reproduces the run's own test metrics
 * (metrics.json), computed by the whole model's forward pass. */
HQ_TEST(study_exact_reproduces_run_test_metrics) {
    char db[4096], dir[4096], path[4200];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("s.db"));
    snprintf(dir, sizeof dir, "%s", hq_test_tmpfile("run"));
    HQ_REQUIRE_OK(train_small_tta(db, "t", dir, "hflip"));
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    cJSON *metrics = hq_test_read_json(path);
    HQ_REQUIRE(metrics);
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(metrics, "test");
    HQ_REQUIRE(num(test, "n") == 16);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = "t";
    o.db_path = db;
    o.data_dir = "data";
    o.out_dir = hq_test_tmpfile("out");
    o.backends[0] = "sv";
    o.n_backends = 1;
    o.n_shots = 1;
    o.mitigation[0] = "none";
    o.n_mitigation = 1;
    o.subset = 16;
    o.threads = 1;
    o.quiet = true;
    char report[4300];
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: the run's tta (hflip); pass 1: --tta none must differ in circuits */
        o.tta = pass ? "none" : NULL;
        HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
        cJSON *doc = read_study(o.out_dir);
        HQ_REQUIRE(doc);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "meta");
        const cJSON *sv =
            find_result(cJSON_GetObjectItemCaseSensitive(doc, "results"), "sv", "none", 0);
        HQ_REQUIRE(sv);
        HQ_CHECK_EQ_INT((int64_t)num(meta, "circuit_rows"), pass ? 16 : 32);
        HQ_CHECK_EQ_INT((int64_t)num(meta, "images"), 16);
        if (pass == 0) {
            HQ_CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(meta, "tta")->valuestring, "hflip"));
            HQ_CHECK_NEAR(num(sv, "acc"), num(test, "acc"), 1e-12);
            HQ_CHECK_NEAR(num(sv, "auc"), num(test, "auc"), 1e-12);
            HQ_CHECK_NEAR(num(sv, "f1"), num(test, "f1"), 1e-12);
        }
        cJSON_Delete(doc);
    }
    o.tta = "vflip";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_INVALID_ARG,
                   "unknown tta 'vflip'");
    cJSON_Delete(metrics);
    /* a run scored with the prior correction (its strong class weights undone, which
     * moves many predictions): the study's exact row scores the same way */
    snprintf(dir, sizeof dir, "%s", hq_test_tmpfile("run-prior"));
    HQ_REQUIRE_OK(train_small_extra(db, "tp", dir, "hflip",
                                    "\"class_weights\":[8,0.125],\"prior_correction\":true,"));
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    metrics = hq_test_read_json(path);
    HQ_REQUIRE(metrics);
    test = cJSON_GetObjectItemCaseSensitive(metrics, "test");
    o.what = "tp";
    o.tta = NULL;
    HQ_REQUIRE_OK(hq_study_run(&o, report, sizeof report));
    cJSON *doc = read_study(o.out_dir);
    HQ_REQUIRE(doc);
    const cJSON *sv =
        find_result(cJSON_GetObjectItemCaseSensitive(doc, "results"), "sv", "none", 0);
    HQ_REQUIRE(sv);
    HQ_CHECK_NEAR(num(sv, "acc"), num(test, "acc"), 1e-12);
    HQ_CHECK_NEAR(num(sv, "auc"), num(test, "auc"), 1e-12);
    HQ_CHECK_NEAR(num(sv, "f1"), num(test, "f1"), 1e-12);
    cJSON_Delete(doc);
    cJSON_Delete(metrics);
}

/* manila's calibration of another day: every gate error tripled, last_update_date
 * 2024-06-01; written to path. */
static hq_status recalibrated_props(const char *path) {
    cJSON *j = hq_test_read_json(MANILA_PROPS);
    if (!j) return HQ_ERR_PARSE;
    const cJSON *g, *p;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(j, "gates")) {
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(g, "parameters")) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "value");
            if (!strcmp(cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring, "gate_error"))
                cJSON_SetNumberValue(v, 3 * v->valuedouble);
        }
    }
    cJSON_ReplaceItemInObjectCaseSensitive(j, "last_update_date",
                                           cJSON_CreateString("2024-06-01T00:00:00Z"));
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!out) return HQ_ERR_NOMEM;
    hq_status st = hq_file_write_atomic(path, out, strlen(out));
    cJSON_free(out);
    return st;
}

/* A study of the weights with backends ref (a dm:DEVICE spec from files) and
 * dm:@emulator-ibm against an emulator serving manila's configuration with properties
 * props; exact, with readout mitigation and a noise sweep. The document, or NULL. */
static cJSON *study_remote_calibration(const char *weights, const char *ref, const char *props,
                                       const char *tag) {
    hq_emulator_options eo = emulator_ibm_with_test_key();
    eo.queue_delay_ms = eo.run_delay_ms = 0;
    eo.device_conf = MANILA;
    eo.device_props = props;
    hq_emulator *e = NULL;
    if (hq_emulator_start(&eo, &e) != HQ_OK) return NULL;
    char opts[256], db[4200], out[4200];
    snprintf(opts, sizeof opts, "{\"port\":%d,\"backend\":\"ibmq_manila\"}", hq_emulator_port(e));
    snprintf(db, sizeof db, "%s", hq_test_tmpfile(tag));
    snprintf(out, sizeof out, "%s.out", db);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = weights;
    o.dataset = "breastmnist";
    o.data_dir = "data";
    o.db_path = db;
    o.out_dir = out;
    o.backends[0] = ref;
    o.backends[1] = "dm:@emulator-ibm";
    o.backend_options[1] = opts;
    o.n_backends = 2;
    o.n_shots = 1; /* exact */
    o.mitigation[0] = "none";
    o.mitigation[1] = "readout";
    o.n_mitigation = 2;
    o.scales[0] = 2;
    o.n_scales = 1;
    o.subset = 8;
    o.threads = 1;
    o.quiet = true;
    char report[4300];
    hq_status st = hq_study_run(&o, report, sizeof report);
    hq_emulator_stop(e);
    if (st) {
        fprintf(stderr, "study: %s\n", hq_last_error());
        return NULL;
    }
    return read_study(out);
}

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Largest |difference| of the per-circuit expectation errors (= of the expectations) of two
 * result rows; INFINITY if their shapes differ. */
static double max_expect_diff(const cJSON *a, const cJSON *b) {
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(a, "expect_error"), "per_circuit"),
                *pb = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(b, "expect_error"), "per_circuit");
    int n = cJSON_GetArraySize(pa);
    if (n == 0 || n != cJSON_GetArraySize(pb)) return INFINITY;
    double m = 0;
    for (int i = 0; i < n; i++) {
        double d =
            fabs(cJSON_GetArrayItem(pa, i)->valuedouble - cJSON_GetArrayItem(pb, i)->valuedouble);
        if (d > m) m = d;
    }
    return m;
}

/* dm:@emulator-ibm builds its noise model from the calibration the backend reports over
 * REST. Against an emulator serving manila's calibration files it must reproduce dm:manila
 * (built from the same files) exactly — every expectation value, metric and noise-sweep
 * point, and the calibration id recorded per row; against an emulator serving another
 * calibration of manila (gate errors tripled, another date) it must differ from dm:manila
 * and reproduce dm:CONF+PROPS of that calibration's files instead. */
HQ_TEST(study_dm_noise_from_reported_calibration_matches_files) {
    char db[4096], dir[4096], weights[4200], props[4096], spec[8300];
    HQ_REQUIRE_OK(trained_weights(db, dir, weights));
    snprintf(props, sizeof props, "%s", hq_test_tmpfile("props_day2.json"));
    HQ_REQUIRE_OK(recalibrated_props(props));
    snprintf(spec, sizeof spec, "dm:" MANILA "+%s", props);
    cJSON *same = study_remote_calibration(weights, "dm:manila", MANILA_PROPS, "same.db");
    cJSON *other = study_remote_calibration(weights, spec, props, "other.db");
    HQ_REQUIRE(same && other);
    const char *mits[2] = {"none", "readout"};
    for (int mi = 0; mi < 2; mi++) {
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(same, "results"),
                    *ro = cJSON_GetObjectItemCaseSensitive(other, "results");
        const cJSON *file = find_result(rs, "dm:manila", mits[mi], 0),
                    *emu = find_result(rs, "dm:@emulator-ibm", mits[mi], 0),
                    *file2 = find_result(ro, spec, mits[mi], 0),
                    *emu2 = find_result(ro, "dm:@emulator-ibm", mits[mi], 0);
        HQ_REQUIRE(file && emu && file2 && emu2);
        /* same calibration -> same model -> identical numbers */
        HQ_CHECK_STR(str_of(file, "calibration"), "2024-05-27T15:27:23-03:00");
        HQ_CHECK_STR(str_of(emu, "calibration"), "2024-05-27T15:27:23-03:00");
        HQ_CHECKF(max_expect_diff(file, emu) == 0, "%s: emulator calibration vs files: %g",
                  mits[mi], max_expect_diff(file, emu));
        HQ_CHECK(num(file, "acc") == num(emu, "acc") && num(file, "auc") == num(emu, "auc"));
        HQ_CHECK(num(file, "tvd") == num(emu, "tvd"));
        HQ_CHECKF(err_mean(emu) > 0.01, "%s: noise should be visible: %.4f", mits[mi],
                  err_mean(emu));
        /* another calibration: the other files' numbers, not manila's */
        HQ_CHECK_STR(str_of(emu2, "calibration"), "2024-06-01T00:00:00Z");
        HQ_CHECK_STR(str_of(file2, "calibration"), "2024-06-01T00:00:00Z");
        HQ_CHECKF(max_expect_diff(file2, emu2) == 0, "%s: recalibrated emulator vs files: %g",
                  mits[mi], max_expect_diff(file2, emu2));
        HQ_CHECKF(max_expect_diff(emu, emu2) > 1e-3, "%s: tripled gate errors changed nothing",
                  mits[mi]);
        HQ_CHECK(num(emu2, "tvd") > num(emu, "tvd"));
    }
    /* the noise sweep point (scale 2) of both backends */
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(same, "noise_sweep");
    HQ_REQUIRE(cJSON_GetArraySize(sw) == 2);
    const cJSON *s0 = cJSON_GetArrayItem(sw, 0), *s1 = cJSON_GetArrayItem(sw, 1);
    HQ_CHECK_STR(str_of(s1, "backend"), "dm:@emulator-ibm");
    HQ_CHECK_STR(str_of(s1, "calibration"), "2024-05-27T15:27:23-03:00");
    HQ_CHECK(num(s0, "acc") == num(s1, "acc") && num(s0, "auc") == num(s1, "auc"));
    cJSON_Delete(same);
    cJSON_Delete(other);
}

/* dm:@ without a backend, an unknown backend, a backend that reports no device, and an
 * emulator that is not running: each fails with a message naming the fix. */
HQ_TEST(study_dm_remote_calibration_errors) {
    char db[4096], dir[4096], weights[4200];
    HQ_REQUIRE_OK(trained_weights(db, dir, weights));
    /* a port nothing listens on: an emulator started and stopped */
    hq_emulator_options eo = emulator_ibm_with_test_key();
    hq_emulator *e = NULL;
    HQ_REQUIRE_OK(hq_emulator_start(&eo, &e));
    int port = hq_emulator_port(e);
    hq_emulator_stop(e);
    char opts[256];
    snprintf(opts, sizeof opts, "{\"port\":%d,\"max_tries\":1,\"connect_timeout_s\":2}", port);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = weights;
    o.dataset = "breastmnist";
    o.data_dir = "data";
    o.db_path = hq_test_tmpfile("s.db");
    o.out_dir = hq_test_tmpfile("out");
    o.n_backends = 1;
    o.n_shots = 1;
    o.mitigation[0] = "none";
    o.n_mitigation = 1;
    o.subset = 4;
    o.threads = 1;
    o.quiet = true;
    char report[4300];
    o.backends[0] = "dm:@";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_INVALID_ARG,
                   "write dm:@emulator-ibm or dm:@ibm");
    o.backends[0] = "dm:@no-such-backend";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_NOT_FOUND,
                   "backend dm:@no-such-backend: creating backend 'no-such-backend'");
    o.backends[0] = "dm:@sv-shots";
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_BACKEND,
                   "only IBM-like backends (ibm, emulator-ibm) report a device");
    o.backends[0] = "dm:@emulator-ibm";
    o.backend_options[0] = opts;
    HQ_CHECK_FAILS(hq_study_run(&o, report, sizeof report), HQ_ERR_BACKEND,
                   "backend dm:@emulator-ibm: emulator-ibm reported no device calibration");
    HQ_CHECK(strstr(hq_last_error(), "start the emulator (`hqcnn emulator`)") != NULL);
    HQ_CHECK(strstr(hq_last_error(), "--options 'dm:@emulator-ibm={\"port\"") != NULL);
}
