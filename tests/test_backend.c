/*
 * tests/test_backend.c — backends/backend.c registry + wrappers and the local simulator
 * provider (sv-shots): job protocol, validation errors, determinism independent of job
 * packing, persistence of the job store across a restart and across a SIGKILL right
 * after submission.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/statevector.h"
#include "tests/hq_test.h"

static hq_circuit *bell(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_measure(c, 0, 0);
    hq_circuit_add_measure(c, 1, 1);
    return c;
}

/* RY(theta) on one qubit, measured: P(1) = sin^2(theta/2) */
static hq_circuit *ry_template(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    int t;
    hq_circuit_add_qreg(c, "q", 1, NULL);
    hq_circuit_add_creg(c, "c", 1, NULL);
    hq_circuit_add_symbol(c, "theta", HQ_SYM_INPUT, &t);
    hq_angle a = hq_angle_sym(t, 1, 0);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &a);
    hq_circuit_add_measure(c, 0, 0);
    return c;
}

HQ_TEST(backend_registry_and_errors) {
    hq_backend *b;
    HQ_CHECK_FAILS(hq_backend_create("nope", NULL, &b), HQ_ERR_NOT_FOUND, "known: sv-shots");
    HQ_CHECK_FAILS(hq_backend_create("sv-shots", "{\"colour\": 1}", &b), HQ_ERR_INVALID_ARG,
                   "unknown option 'colour'");
    HQ_CHECK_FAILS(hq_backend_create("sv-shots", "[1,", &b), HQ_ERR_PARSE, "not a JSON object");
    HQ_CHECK(hq_backend_count() >= 1);
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", "{\"max_qubits\": 1}", &b));
    HQ_CHECK_STR(hq_backend_id(b), "sv-shots");
    hq_circuit *c = bell(), *t = ry_template();
    char id[HQ_REMOTE_ID_MAX];
    hq_job_entry e = {c, 0, NULL};
    hq_job_spec job = {.entries = &e, .n_entries = 1, .shots = 100, .client_token = "tok-1"};
    HQ_CHECK_FAILS(hq_backend_submit(b, &job, id), HQ_ERR_INVALID_ARG,
                   "2 qubits, more than sv-shots's 1");
    hq_backend_free(b);
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", NULL, &b));
    job.client_token = NULL;
    HQ_CHECK_FAILS(hq_backend_submit(b, &job, id), HQ_ERR_INVALID_ARG, "no client token");
    job.client_token = "tok-1";
    job.shots = 0;
    HQ_CHECK_FAILS(hq_backend_submit(b, &job, id), HQ_ERR_INVALID_ARG, "0 shots");
    job.shots = 10;
    hq_job_entry te = {t, 0, NULL};
    job.entries = &te;
    HQ_CHECK_FAILS(hq_backend_submit(b, &job, id), HQ_ERR_INVALID_ARG, "unbound symbols");
    hq_job_state st;
    HQ_CHECK_FAILS(hq_backend_poll(b, "sim-nope", &st, NULL, 0), HQ_ERR_NOT_FOUND,
                   "no job 'sim-nope'");
    hq_job_state js;
    HQ_CHECK_FAILS(hq_job_state_parse("done", &js), HQ_ERR_INVALID_ARG, "unknown job state 'done'");
    HQ_CHECK_OK(hq_job_state_parse("cancelled", &js));
    HQ_CHECK_EQ_INT(js, HQ_JOB_CANCELLED);
    HQ_CHECK_FAILS(hq_backend_get_caps(NULL, NULL), HQ_ERR_MISUSE, "invalid handle");
    hq_backend_free(b);
    hq_circuit_free(c);
    hq_circuit_free(t);
}

/* The in-memory provider keeps unfetched jobs and, of the fetched ones, the newest
 * keep_results results (never the job just fetched); a dropped job is NOT_FOUND with a
 * message naming the option, and results do not depend on what was dropped. */
static void submit_ry(hq_backend *b, const hq_circuit *t, const double *rows, int n,
                      const char *token, char id[HQ_REMOTE_ID_MAX]) {
    hq_job_entry e = {(hq_circuit *)t, n, (double *)rows};
    hq_job_spec job = {
        .entries = &e, .n_entries = 1, .shots = 100, .client_token = token, .seed = 5};
    HQ_REQUIRE_OK(hq_backend_submit(b, &job, id));
}

static bool fetch_ok(hq_backend *b, const char *id, int n, hq_counts *out) {
    hq_counts c[3];
    memset(c, 0, sizeof c);
    hq_status s = hq_backend_fetch(b, id, n, c);
    for (int i = 0; i < n; i++) {
        if (s == HQ_OK && out) hq_counts_copy(&out[i], &c[i]);
        hq_counts_free(&c[i]);
    }
    return s == HQ_OK;
}

HQ_TEST(backend_sv_shots_keeps_a_bounded_window) {
    hq_backend *b;
    HQ_CHECK_FAILS(hq_backend_create("sv-shots", "{\"keep_results\": -1}", &b), HQ_ERR_INVALID_ARG,
                   "option 'keep_results' must be an integer >= 0");
    HQ_CHECK_FAILS(hq_backend_create("sv-shots", "{\"keep_results\": 2.5}", &b), HQ_ERR_INVALID_ARG,
                   "keep_results");
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", "{\"keep_results\": 5}", &b));
    hq_circuit *t = ry_template();
    const double rows[3] = {0.3, 1.1, 2.0};
    char a[HQ_REMOTE_ID_MAX], bb[HQ_REMOTE_ID_MAX], c[HQ_REMOTE_ID_MAX], d[HQ_REMOTE_ID_MAX];
    hq_counts first[3];
    memset(first, 0, sizeof first);
    submit_ry(b, t, rows, 3, "tok-a", a);
    HQ_CHECK(fetch_ok(b, a, 3, first));
    HQ_CHECK(fetch_ok(b, a, 3, NULL)); /* 3 <= 5: still held, fetched twice */
    submit_ry(b, t, rows, 3, "tok-b", bb);
    submit_ry(b, t, rows, 3, "tok-c", c); /* never fetched below until the end */
    HQ_CHECK(fetch_ok(b, bb, 3, NULL));   /* fetched: a + b = 6 > 5, a (oldest) goes */
    hq_counts none[3];
    memset(none, 0, sizeof none);
    HQ_CHECK_FAILS(hq_backend_fetch(b, a, 3, none), HQ_ERR_NOT_FOUND,
                   "newest 5 results (option keep_results)");
    hq_job_state js;
    HQ_CHECK_FAILS(hq_backend_poll(b, a, &js, NULL, 0), HQ_ERR_NOT_FOUND, "keep_results");
    bool found = true;
    char fid[HQ_REMOTE_ID_MAX];
    HQ_CHECK_OK(hq_backend_find_by_token(b, "tok-a", fid, &found));
    HQ_CHECK(!found);
    HQ_CHECK(fetch_ok(b, bb, 3, NULL)); /* the job just fetched stays */
    submit_ry(b, t, rows, 3, "tok-d", d);
    HQ_CHECK(fetch_ok(b, d, 3, NULL)); /* b + d = 6 > 5: b goes, d stays, c (unfetched) stays */
    HQ_CHECK(!fetch_ok(b, bb, 3, NULL));
    HQ_CHECK_OK(hq_backend_poll(b, c, &js, NULL, 0));
    HQ_CHECK_EQ_INT(js, HQ_JOB_COMPLETED);
    /* the same circuits again give the same counts as the dropped job did */
    hq_counts again[3];
    memset(again, 0, sizeof again);
    HQ_CHECK(fetch_ok(b, c, 3, again));
    for (int i = 0; i < 3; i++) {
        HQ_CHECK_EQ_INT(again[i].n, first[i].n);
        for (int64_t k = 0; k < again[i].n && k < first[i].n; k++)
            HQ_CHECK(again[i].outcome[k] == first[i].outcome[k] &&
                     again[i].count[k] == first[i].count[k]);
        hq_counts_free(&again[i]);
        hq_counts_free(&first[i]);
    }
    /* keep_results 0: only the job just fetched */
    hq_backend_free(b);
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", "{\"keep_results\": 0}", &b));
    submit_ry(b, t, rows, 2, "tok-e", a);
    submit_ry(b, t, rows, 2, "tok-f", bb);
    HQ_CHECK(fetch_ok(b, a, 2, NULL) && fetch_ok(b, a, 2, NULL));
    HQ_CHECK(fetch_ok(b, bb, 2, NULL));
    HQ_CHECK(!fetch_ok(b, a, 2, NULL) && fetch_ok(b, bb, 2, NULL));
    hq_backend_free(b);
    hq_circuit_free(t);
}

HQ_TEST(backend_sv_shots_protocol) {
    hq_backend *b;
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", NULL, &b));
    hq_backend_caps caps;
    HQ_CHECK_OK(hq_backend_get_caps(b, &caps));
    HQ_CHECK(caps.sampled && caps.find_by_token && caps.max_rows_per_entry > 0);
    HQ_CHECK(!caps.calibrated); /* its results are stored under "none" (checked below) */
    hq_circuit *c = bell(), *t = ry_template();
    double rows[3] = {0.0, M_PI, M_PI / 2};
    hq_job_entry e[2] = {{c, 0, NULL}, {t, 3, rows}};
    hq_job_spec job = {
        .entries = e, .n_entries = 2, .shots = 4000, .client_token = "tok-A", .seed = 9};
    HQ_CHECK_EQ_INT(hq_job_spec_results(&job), 4);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &job, id));
    HQ_CHECK(strncmp(id, "sim-", 4) == 0);
    hq_job_state st;
    HQ_CHECK_OK(hq_backend_poll(b, id, &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_COMPLETED);
    hq_counts counts[4];
    HQ_CHECK_FAILS(hq_backend_fetch(b, id, 3, counts), HQ_ERR_INVALID_ARG, "has 4 results");
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, 4, counts));
    /* Bell: only 00 and 11, about half each */
    HQ_CHECK_EQ_INT(counts[0].shots, 4000);
    HQ_CHECK_EQ_INT(hq_counts_get(&counts[0], 1) + hq_counts_get(&counts[0], 2), 0);
    HQ_CHECK_NEAR(hq_counts_prob(&counts[0], 0), 0.5, 0.04);
    /* RY rows: P(1) = 0, 1, 1/2 */
    HQ_CHECK_EQ_INT(hq_counts_get(&counts[1], 1), 0);
    HQ_CHECK_EQ_INT(hq_counts_get(&counts[2], 1), 4000);
    HQ_CHECK_NEAR(hq_counts_prob(&counts[3], 1), 0.5, 0.04);
    /* result 0 equals a direct run with the same (seed, stream) */
    hq_counts direct;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 4000, 9, 0, &direct));
    hq_counts_sort(&direct);
    HQ_CHECK_EQ_INT(direct.n, counts[0].n);
    for (int64_t i = 0; i < direct.n && i < counts[0].n; i++) {
        HQ_CHECK_EQ_INT(direct.outcome[i], counts[0].outcome[i]);
        HQ_CHECK_EQ_INT(direct.count[i], counts[0].count[i]);
    }
    hq_counts_free(&direct);
    /* packing independence: the RY row pi/2 alone, with its stream 3, gives the same counts */
    uint64_t streams[1] = {3};
    hq_job_entry one = {t, 1, &rows[2]};
    hq_job_spec job2 = {.entries = &one,
                        .n_entries = 1,
                        .shots = 4000,
                        .client_token = "tok-B",
                        .seed = 9,
                        .streams = streams};
    char id2[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &job2, id2));
    hq_counts c2;
    HQ_REQUIRE_OK(hq_backend_fetch(b, id2, 1, &c2));
    HQ_CHECK_EQ_INT(hq_counts_get(&c2, 1), hq_counts_get(&counts[3], 1));
    hq_counts_free(&c2);
    for (int i = 0; i < 4; i++) hq_counts_free(&counts[i]);
    bool found;
    char fid[HQ_REMOTE_ID_MAX];
    HQ_CHECK_OK(hq_backend_find_by_token(b, "tok-A", fid, &found));
    HQ_CHECK(found && !strcmp(fid, id));
    HQ_CHECK_OK(hq_backend_find_by_token(b, "tok-Z", fid, &found));
    HQ_CHECK(!found);
    int64_t n;
    HQ_CHECK_OK(hq_backend_submitted_count(b, &n));
    HQ_CHECK_EQ_INT(n, 2);
    char cal[HQ_CALIB_ID_MAX];
    HQ_CHECK_OK(hq_backend_calibration(b, cal, NULL));
    HQ_CHECK_STR(cal, "none");
    hq_backend_free(b);
    hq_circuit_free(c);
    hq_circuit_free(t);
}

HQ_TEST(backend_store_survives_restart_and_kill) {
    char opts[2048];
    snprintf(opts, sizeof opts, "{\"store\": \"%s\"}", hq_test_tmpfile("store"));
    hq_circuit *c = bell();
    hq_job_entry e = {c, 0, NULL};
    hq_job_spec job = {
        .entries = &e, .n_entries = 1, .shots = 500, .client_token = "tok-kill", .seed = 3};
    /* a child submits and is killed by the fault hook before it can record anything */
    pid_t pid = fork();
    HQ_REQUIRE(pid >= 0);
    if (pid == 0) {
        setenv("HQCNN_FAULT_KILL_AFTER_SUBMIT", "1", 1);
        hq_backend *cb;
        char id[HQ_REMOTE_ID_MAX];
        if (hq_backend_create("sv-shots", opts, &cb) == HQ_OK) hq_backend_submit(cb, &job, id);
        _exit(0); /* not reached when the hook fires */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    HQ_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* a fresh client (the resumed run) finds the job by token: nothing to resubmit */
    hq_backend *b;
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", opts, &b));
    bool found = false;
    char id[HQ_REMOTE_ID_MAX];
    HQ_CHECK_OK(hq_backend_find_by_token(b, "tok-kill", id, &found));
    HQ_REQUIRE(found);
    hq_job_state st;
    HQ_CHECK_OK(hq_backend_poll(b, id, &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_COMPLETED);
    hq_counts got;
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, 1, &got));
    hq_counts want;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 500, 3, 0, &want));
    hq_counts_sort(&want);
    HQ_CHECK_EQ_INT(hq_counts_get(&got, 0), hq_counts_get(&want, 0));
    HQ_CHECK_EQ_INT(hq_counts_get(&got, 3), hq_counts_get(&want, 3));
    hq_counts_free(&got);
    hq_counts_free(&want);
    int64_t n;
    HQ_CHECK_OK(hq_backend_submitted_count(b, &n));
    HQ_CHECK_EQ_INT(n, 1);
    /* a damaged job file is reported, not trusted */
    char path[2200];
    snprintf(path, sizeof path, "%s/%s.job", hq_test_tmpfile("store"), id);
    FILE *f = fopen(path, "w");
    HQ_REQUIRE(f != NULL);
    fputs("garbage\n", f);
    fclose(f);
    HQ_CHECK_FAILS(hq_backend_fetch(b, id, 1, &got), HQ_ERR_CORRUPT, "is damaged");
    hq_backend_free(b);
    hq_circuit_free(c);
}

HQ_TEST(backend_dm_shots_noise_and_identity) {
    char dev[8192], opts[8400];
    snprintf(dev, sizeof dev, "%s,%s", hq_test_shared("data/ibm_backends/conf_manila.json"),
             hq_test_shared("data/ibm_backends/props_manila.json"));
    hq_circuit *c = bell();
    hq_job_entry e = {c, 0, NULL};
    hq_job_spec job = {
        .entries = &e, .n_entries = 1, .shots = 20000, .client_token = "t", .seed = 4};
    char id[HQ_REMOTE_ID_MAX];
    hq_counts cnt;
    /* ideal: only 00 and 11 */
    hq_backend *b0;
    HQ_REQUIRE_OK(hq_backend_create("dm-shots", NULL, &b0));
    HQ_REQUIRE_OK(hq_backend_submit(b0, &job, id));
    HQ_REQUIRE_OK(hq_backend_fetch(b0, id, 1, &cnt));
    HQ_CHECK_EQ_INT(hq_counts_get(&cnt, 1) + hq_counts_get(&cnt, 2), 0);
    HQ_CHECK_NEAR(hq_counts_prob(&cnt, 0), 0.5, 0.02);
    hq_counts_free(&cnt);
    /* manila's noise leaks into 01 / 10, between 0.1 % and 20 % */
    snprintf(opts, sizeof opts, "{\"device\": \"%s\"}", dev);
    hq_backend *b1;
    HQ_REQUIRE_OK(hq_backend_create("dm-shots", opts, &b1));
    HQ_REQUIRE_OK(hq_backend_submit(b1, &job, id));
    HQ_REQUIRE_OK(hq_backend_fetch(b1, id, 1, &cnt));
    double leak = hq_counts_prob(&cnt, 1) + hq_counts_prob(&cnt, 2);
    HQ_CHECKF(leak > 0.001 && leak < 0.2, "leak %.4f", leak);
    hq_counts_free(&cnt);
    /* scale 0 is ideal again, and every model has its own cache identity */
    snprintf(opts, sizeof opts, "{\"device\": \"%s\", \"scale\": 0}", dev);
    hq_backend *b2;
    HQ_REQUIRE_OK(hq_backend_create("dm-shots", opts, &b2));
    HQ_REQUIRE_OK(hq_backend_submit(b2, &job, id));
    HQ_REQUIRE_OK(hq_backend_fetch(b2, id, 1, &cnt));
    HQ_CHECK_EQ_INT(hq_counts_get(&cnt, 1) + hq_counts_get(&cnt, 2), 0);
    hq_counts_free(&cnt);
    HQ_CHECK(strcmp(hq_backend_id(b1), hq_backend_id(b2)) != 0);
    HQ_CHECK(strcmp(hq_backend_id(b0), hq_backend_id(b1)) != 0);
    HQ_CHECK(strncmp(hq_backend_id(b1), "dm-shots@", 9) == 0);
    hq_backend_free(b0);
    hq_backend_free(b1);
    hq_backend_free(b2);
    hq_backend *bx;
    HQ_CHECK_FAILS(hq_backend_create("dm-shots", "{\"scale\": 2}", &bx), HQ_ERR_INVALID_ARG,
                   "needs a noise model");
    snprintf(opts, sizeof opts, "{\"device\": \"%s\", \"noise\": \"x.json\"}", dev);
    HQ_CHECK_FAILS(hq_backend_create("dm-shots", opts, &bx), HQ_ERR_INVALID_ARG, "not both");
    HQ_CHECK_FAILS(hq_backend_create("dm-shots", "{\"device\": \"only-one.json\"}", &bx),
                   HQ_ERR_INVALID_ARG, "CONF.json,PROPS.json");
    HQ_CHECK_FAILS(hq_backend_create("dm-shots", "{\"layout\": [0, -1]}", &bx), HQ_ERR_INVALID_ARG,
                   "qubit numbers");
    HQ_CHECK_FAILS(hq_backend_create("sv-shots", "{\"noise\": \"x.json\"}", &bx),
                   HQ_ERR_INVALID_ARG, "unknown option 'noise'");
    hq_circuit_free(c);
}
