/*
 * tests/test_study.c — orchestrator/study: a study of a small trained model on the exact,
 * the noisy (transpiled for manila) and the shot-based simulators writes a report whose
 * numbers satisfy the invariants: the exact statevector has zero expectation error and
 * distance; noise scale 0 reproduces the ideal simulator exactly; readout mitigation and
 * ZNE move expectations closer to the exact ones on a noisy backend; a repeated study
 * submits nothing new (everything is served from the job database).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "orchestrator/study.h"
#include "orchestrator/train.h"
#include "tests/hq_test.h"

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

HQ_TEST(study_report_invariants_and_cache) {
    /* a small trained model */
    char *model = NULL;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read("configs/hqcnn-default.json", 0, &model, &len));
    hq_sbuf cj = HQ_SBUF_INIT;
    hq_sbuf_printf(
        &cj,
        "{\"dataset\":\"breastmnist\",\"data_dir\":\"data\",\"model\":%s,\"train\":{\"epochs\":2,"
        "\"batch_size\":16,\"threads\":1,\"subset\":{\"train\":64,\"val\":16,\"test\":16}}}",
        model);
    hq_free(model);
    hq_train_config cfg;
    HQ_REQUIRE_OK(hq_train_config_parse(cj.p, ".", &cfg));
    hq_sbuf_free(&cj);
    char db[4096], store[4096], opts[8192];
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("s.db"));
    snprintf(store, sizeof store, "%s", hq_test_tmpfile("store"));
    hq_train_opts to = {
        .db_path = db, .out_dir = hq_test_tmpfile("run"), .run_name = "m", .quiet = true};
    hq_train_result tr;
    HQ_REQUIRE_OK(hq_train_new(&cfg, &to, &tr));
    hq_train_config_free(&cfg);
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
    char path[4200];
    snprintf(path, sizeof path, "%s/study.json", o.out_dir);
    char *text;
    HQ_REQUIRE_OK(hq_file_read(path, 0, &text, &len));
    cJSON *doc = cJSON_Parse(text);
    hq_free(text);
    HQ_REQUIRE(doc);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "results");
    const cJSON *sv = find_result(res, "sv", "none", 0);
    HQ_REQUIRE(sv);
    HQ_CHECK_NEAR(num(cJSON_GetObjectItemCaseSensitive(sv, "expect_error"), "mean"), 0, 1e-12);
    HQ_CHECK_NEAR(num(sv, "tvd"), 0, 1e-12);
    HQ_CHECK_NEAR(num(sv, "hellinger_fidelity"), 1, 1e-12);
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
