/*
 * tests/test_qexec.c — orchestrator/qexec: binding + dedup + cache + packing + budgets +
 * dispatch through the sv-shots provider and the job database; recovery after a SIGKILL
 * right after a submission (nothing submitted twice, bit-identical results).
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "orchestrator/qexec.h"
#include "tests/hq_test.h"

/* RY(theta) on q0 and RY(phi) on q1: P(q0=1) = sin^2(theta/2); <X0> = sin(theta) */
static hq_circuit *tmpl2(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    int a, b;
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_symbol(c, "theta", HQ_SYM_INPUT, &a);
    hq_circuit_add_symbol(c, "phi", HQ_SYM_WEIGHT, &b);
    hq_angle x = hq_angle_sym(a, 1, 0), y = hq_angle_sym(b, 1, 0);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &x);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){1}, &y);
    return c;
}

typedef struct env {
    hq_jobdb *db;
    hq_backend *b;
    hq_qexec *q;
    int64_t run;
} env;

static hq_status env_open(env *e, const char *name, const char *store, int per_job) {
    memset(e, 0, sizeof *e);
    char dbp[4096], opts[4096];
    snprintf(dbp, sizeof dbp, "%s.db", hq_test_tmpfile(name));
    snprintf(opts, sizeof opts, "{\"store\": \"%s\"}", hq_test_tmpfile(store));
    hq_status st = hq_jobdb_open(dbp, NULL, &e->db);
    if (st) return st;
    hq_jobdb_run spec = {
        .name = "r", .seed = 5, .code_version = "t", .backend = "sv-shots", .config_json = "{}"};
    hq_jobdb_run existing = {0};
    if (hq_jobdb_run_find(e->db, "r", &existing) == HQ_OK) {
        e->run = existing.id;
        hq_jobdb_run_clear(&existing);
    } else if ((st = hq_jobdb_run_create(e->db, &spec, &e->run)) != HQ_OK) {
        return st;
    }
    if ((st = hq_backend_create("sv-shots", opts, &e->b)) != HQ_OK) return st;
    hq_qexec_options o;
    hq_qexec_options_init(&o);
    o.shots = 2000;
    o.seed = 77;
    o.max_circuits_per_job = per_job;
    o.poll_initial_s = 0.001;
    return hq_qexec_create(e->b, e->db, e->run, &o, &e->q);
}

static void env_close(env *e) {
    hq_qexec_free(e->q);
    hq_backend_free(e->b);
    hq_jobdb_close(e->db);
}

#define NR 12
static double rows[NR * 2];
static uint8_t basis[NR];
static void make_rows(void) {
    for (int r = 0; r < NR; r++) {
        rows[2 * r] = 0.3 * (r % 6); /* rows r and r+6 repeat: duplicates */
        rows[2 * r + 1] = 1.1;
        basis[r] = r % 2 ? HQ_BASIS_X : HQ_BASIS_Z;
    }
}

static bool same_counts(const hq_counts *a, const hq_counts *b) {
    if (a->n != b->n || a->shots != b->shots) return false;
    for (int64_t i = 0; i < a->n; i++)
        if (a->outcome[i] != b->outcome[i] || a->count[i] != b->count[i]) return false;
    return true;
}

HQ_TEST(qexec_cache_dedup_and_statistics) {
    make_rows();
    hq_circuit *t = tmpl2();
    env e;
    HQ_REQUIRE_OK(env_open(&e, "a", "sa", 0));
    hq_qbatch b = {t, NR, rows, basis};
    hq_counts out[NR], again[NR];
    HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, out));
    hq_qexec_stats s;
    hq_qexec_get_stats(e.q, &s);
    /* rows r and r+6 have the same values but r%2 == (r+6)%2, so the same basis too */
    HQ_CHECK_EQ_INT(s.requested, NR);
    HQ_CHECK_EQ_INT(s.unique, 6);
    HQ_CHECK_EQ_INT(s.cache_hits, 0);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 1);
    for (int r = 0; r < NR; r++) {
        HQ_CHECK_EQ_INT(out[r].shots, 2000);
        double th = rows[2 * r];
        /* qubit 0 = outcome bit 0 */
        double p1 = (double)(hq_counts_get(&out[r], 1) + hq_counts_get(&out[r], 3)) / 2000.0;
        double want = basis[r] == HQ_BASIS_Z ? sin(th / 2) * sin(th / 2) : (1 - sin(th)) / 2;
        HQ_CHECKF(fabs(p1 - want) < 0.05, "row %d: P(1)=%.3f, expected %.3f", r, p1, want);
    }
    for (int r = 0; r < 6; r++) HQ_CHECK(same_counts(&out[r], &out[r + 6]));
    /* the executor dropped the fsyncs for the in-process simulator only while submitting:
     * the handle's own setting is back */
    HQ_CHECK(hq_jobdb_set_jobs_durable(e.db, true) == true);
    /* time in the backend's calls is part of the run's time */
    HQ_CHECK(s.seconds_backend > 0 && s.seconds_backend <= s.seconds_total);
    double backend_s = s.seconds_backend, total_s = s.seconds_total;
    /* the same batch again: all from the cache, nothing submitted, no backend time */
    HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, again));
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.cache_hits, 6);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 1);
    HQ_CHECK(s.seconds_backend == backend_s && s.seconds_total > total_s);
    for (int r = 0; r < NR; r++) HQ_CHECK(same_counts(&out[r], &again[r]));
    int64_t accepted;
    HQ_CHECK_OK(hq_backend_submitted_count(e.b, &accepted));
    HQ_CHECK_EQ_INT(accepted, 1);
    hq_jobdb_run_stats rs;
    HQ_CHECK_OK(hq_jobdb_run_get_stats(e.db, e.run, &rs));
    HQ_CHECK_EQ_INT(rs.jobs[HQ_JOB_COMPLETED], 1);
    HQ_CHECK_EQ_INT(rs.evaluations, 6);
    HQ_CHECK_EQ_INT(rs.shots_completed, 6 * 2000);
    for (int r = 0; r < NR; r++) hq_counts_free(&out[r]), hq_counts_free(&again[r]);
    env_close(&e);
    hq_circuit_free(t);
}

HQ_TEST(qexec_packing_does_not_change_results) {
    make_rows();
    hq_circuit *t = tmpl2();
    env e1, e2;
    HQ_REQUIRE_OK(env_open(&e1, "p1", "s1", 0));
    HQ_REQUIRE_OK(env_open(&e2, "p2", "s2", 2));
    hq_qbatch b = {t, NR, rows, basis};
    hq_counts o1[NR], o2[NR];
    HQ_REQUIRE_OK(hq_qexec_run(e1.q, &b, o1));
    HQ_REQUIRE_OK(hq_qexec_run(e2.q, &b, o2));
    hq_qexec_stats s;
    hq_qexec_get_stats(e2.q, &s);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 3); /* 6 distinct circuits, 2 per job */
    for (int r = 0; r < NR; r++) HQ_CHECK(same_counts(&o1[r], &o2[r]));
    hq_qexec_estimate est;
    hq_backend_caps caps;
    hq_backend_get_caps(e2.b, &caps);
    hq_qexec_estimate_jobs(&caps, 2, 6, 2000, &est);
    HQ_CHECK_EQ_INT(est.jobs, 3);
    HQ_CHECK_EQ_INT(est.shots, 12000);
    for (int r = 0; r < NR; r++) hq_counts_free(&o1[r]), hq_counts_free(&o2[r]);
    env_close(&e1);
    env_close(&e2);
    hq_circuit_free(t);
}

HQ_TEST(qexec_budget_and_bad_input) {
    make_rows();
    hq_circuit *t = tmpl2();
    env e;
    HQ_REQUIRE_OK(env_open(&e, "b", "sb", 0));
    hq_qexec_free(e.q);
    hq_qexec_options o;
    hq_qexec_options_init(&o);
    o.shots = 2000;
    o.budget_shots = 5 * 2000; /* 6 distinct circuits needed */
    HQ_REQUIRE_OK(hq_qexec_create(e.b, e.db, e.run, &o, &e.q));
    hq_qbatch b = {t, NR, rows, basis};
    hq_counts out[NR];
    HQ_CHECK_FAILS(hq_qexec_run(e.q, &b, out), HQ_ERR_BUDGET, "raise budget.max_shots");
    int64_t accepted;
    HQ_CHECK_OK(hq_backend_submitted_count(e.b, &accepted));
    HQ_CHECK_EQ_INT(accepted, 0);
    double bad[2] = {NAN, 0};
    hq_qbatch bb = {t, 1, bad, NULL};
    HQ_CHECK_FAILS(hq_qexec_run(e.q, &bb, out), HQ_ERR_INVALID_ARG, "not finite");
    hq_circuit *m;
    HQ_REQUIRE_OK(hq_circuit_copy(t, &m));
    hq_circuit_add_creg(m, "c", 1, NULL);
    hq_circuit_add_measure(m, 0, 0);
    hq_qbatch bm = {m, 1, rows, NULL};
    HQ_CHECK_FAILS(hq_qexec_run(e.q, &bm, out), HQ_ERR_INVALID_ARG,
                   "no classical bits or measurements");
    hq_circuit_free(m);
    o.shots = 0;
    hq_qexec *q2;
    HQ_CHECK_FAILS(hq_qexec_create(e.b, e.db, e.run, &o, &q2), HQ_ERR_INVALID_ARG, "must be >= 1");
    env_close(&e);
    hq_circuit_free(t);
}

HQ_TEST(qexec_recover_after_kill_between_submit_and_bookkeeping) {
    make_rows();
    hq_circuit *t = tmpl2();
    hq_qbatch b = {t, NR, rows, basis};
    /* reference: an uninterrupted run */
    env ref;
    HQ_REQUIRE_OK(env_open(&ref, "ref", "sref", 4));
    hq_counts want[NR];
    HQ_REQUIRE_OK(hq_qexec_run(ref.q, &b, want));
    int64_t ref_accepted;
    HQ_CHECK_OK(hq_backend_submitted_count(ref.b, &ref_accepted));
    HQ_CHECK_EQ_INT(ref_accepted, 2);
    env_close(&ref);
    /* the child is killed right after the provider accepts its first job */
    pid_t pid = fork();
    HQ_REQUIRE(pid >= 0);
    if (pid == 0) {
        setenv("HQCNN_FAULT_KILL_AFTER_SUBMIT", "1", 1);
        env c;
        hq_counts o[NR];
        if (env_open(&c, "k", "sk", 4) == HQ_OK) hq_qexec_run(c.q, &b, o);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    HQ_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    env e;
    HQ_REQUIRE_OK(env_open(&e, "k", "sk", 4));
    hq_jobdb_job *jobs;
    int64_t nj;
    HQ_REQUIRE_OK(hq_jobdb_job_list(e.db, e.run, HQ_JOB_MASK_ALL, &jobs, &nj));
    HQ_CHECK_EQ_INT(nj, 1);
    if (nj == 1) {
        HQ_CHECK_EQ_INT(jobs[0].state, HQ_JOB_PENDING);
        HQ_CHECK_EQ_INT(jobs[0].attempts, 1);
    }
    hq_jobdb_jobs_free(jobs, nj);
    HQ_REQUIRE_OK(hq_qexec_recover(e.q));
    hq_qexec_stats s;
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.jobs_recovered, 1);
    hq_counts got[NR];
    HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, got));
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.cache_hits, 4);     /* the recovered job's circuits */
    HQ_CHECK_EQ_INT(s.jobs_submitted, 1); /* only the job that never left */
    int64_t accepted;
    HQ_CHECK_OK(hq_backend_submitted_count(e.b, &accepted));
    HQ_CHECK_EQ_INT(accepted, ref_accepted);
    for (int r = 0; r < NR; r++)
        HQ_CHECKF(same_counts(&got[r], &want[r]), "row %d differs from the uninterrupted run", r);
    for (int r = 0; r < NR; r++) hq_counts_free(&got[r]), hq_counts_free(&want[r]);
    env_close(&e);
    hq_circuit_free(t);
}

/* The poll schedule: flat at the initial interval while the job is young, then a fixed
 * share of its age (so a finished job is noticed at most 20 % of its run time late), capped;
 * and the number of polls over a long wait stays logarithmic. */
HQ_TEST(qexec_poll_interval_schedule) {
    HQ_CHECK_NEAR(hq_qexec_poll_interval(0, 0.5, 30), 0.5, 0);
    HQ_CHECK_NEAR(hq_qexec_poll_interval(-1, 0.5, 30), 0.5, 0);
    HQ_CHECK_NEAR(hq_qexec_poll_interval(2.0, 0.5, 30), 0.5, 0);
    HQ_CHECK_NEAR(hq_qexec_poll_interval(10.0, 0.5, 30), 10.0 * HQ_QEXEC_POLL_AGE_FRACTION, 1e-12);
    HQ_CHECK_NEAR(hq_qexec_poll_interval(1e6, 0.5, 30), 30, 0);
    HQ_CHECK_NEAR(hq_qexec_poll_interval(1e6, 40, 30), 30, 0); /* the cap wins */
    /* simulate: a job finishing at T is seen at the first poll at or after T */
    const double T[] = {0.3, 2.4, 5.7, 60, 3600, 86400};
    for (size_t k = 0; k < HQ_ARRAY_LEN(T); k++) {
        double t = 0;
        int polls = 1;
        while (t < T[k]) {
            t += hq_qexec_poll_interval(t, 0.5, 30);
            polls++;
        }
        double late = t - T[k];
        HQ_CHECK(late <= fmax(0.5, HQ_QEXEC_POLL_AGE_FRACTION * T[k]) + 1e-9);
        HQ_CHECK(late <= 30 + 1e-9);
        /* young phase (<= 5 polls to 2.5 s) + x1.2 growth to the cap (~26 polls to 300 s)
         * + one poll per 30 s after that */
        double bound = 6 + 27 + (T[k] > 300 ? (T[k] - 300) / 30 : 0) + 1;
        HQ_CHECK(polls <= bound);
    }
}
