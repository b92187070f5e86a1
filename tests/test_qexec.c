/*
 * tests/test_qexec.c — orchestrator/qexec: binding + dedup + cache + packing + budgets +
 * dispatch through the sv-shots provider and the job database; recovery after a SIGKILL
 * right after a submission (nothing submitted twice, bit-identical results).
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "orchestrator/bgstore.h"
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

typedef struct env_cfg {
    int per_job;       /* max circuits per job, 0 = the default */
    bool store_inline; /* no storing worker */
    const char *vfs;   /* the database's SQLite VFS, NULL = default */
} env_cfg;

/* (A new) executor on e's backend and database. */
static hq_status env_executor(env *e, env_cfg c) {
    hq_qexec_options o;
    hq_qexec_options_init(&o);
    o.shots = 2000;
    o.seed = 77;
    o.max_circuits_per_job = c.per_job;
    o.store_inline = c.store_inline;
    o.poll_initial_s = 0.001;
    return hq_qexec_create(e->b, e->db, e->run, &o, &e->q);
}

static hq_status env_open_cfg(env *e, const char *name, const char *store, env_cfg c) {
    memset(e, 0, sizeof *e);
    char dbp[4096], opts[4096];
    snprintf(dbp, sizeof dbp, "%s.db", hq_test_tmpfile(name));
    snprintf(opts, sizeof opts, "{\"store\": \"%s\"}", hq_test_tmpfile(store));
    hq_jobdb_options dbo;
    hq_jobdb_options_init(&dbo);
    dbo.vfs = c.vfs;
    hq_status st = hq_jobdb_open(dbp, &dbo, &e->db);
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
    return env_executor(e, c);
}

static hq_status env_open(env *e, const char *name, const char *store, int per_job) {
    return env_open_cfg(e, name, store, (env_cfg){.per_job = per_job});
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

/* A batch larger than one in-process job (HQ_QEXEC_LOCAL_JOB_CIRCUITS): NBIG distinct
 * circuits, alternating bases. */
#define NBIG      5000
#define NBIG_JOBS 3 /* 2048 + 2048 + 904 */
static double big_rows[NBIG * 2];
static uint8_t big_basis[NBIG];
static void make_big(void) {
    for (int r = 0; r < NBIG; r++) {
        big_rows[2 * r] = 0.001 * r;
        big_rows[2 * r + 1] = 0.7;
        big_basis[r] = r % 2 ? HQ_BASIS_X : HQ_BASIS_Z;
    }
}

/* The batch's histograms from an executor that stores inline (the reference), or NULL. */
static hq_counts *big_reference(const char *name, const hq_qbatch *b) {
    env ref = {0};
    char store[64];
    snprintf(store, sizeof store, "s%s", name);
    hq_counts *want = hq_calloc(NBIG, sizeof *want);
    if (want && env_open_cfg(&ref, name, store, (env_cfg){.store_inline = true}) == HQ_OK &&
        hq_qexec_run(ref.q, b, want) == HQ_OK) {
        env_close(&ref);
        return want;
    }
    env_close(&ref);
    hq_free(want);
    return NULL;
}

/* The batch's histograms from an executor without a database (jobs packed by template,
 * not digest), or NULL; *jobs: the jobs it submitted. */
static hq_counts *run_without_database(const hq_qbatch *b, int64_t *jobs) {
    env e = {0};
    hq_counts *out = hq_calloc(NBIG, sizeof *out);
    hq_status st = out ? hq_backend_create("sv-shots", NULL, &e.b) : HQ_ERR_NOMEM;
    if (!st) st = env_executor(&e, (env_cfg){0}); /* e.db is NULL */
    if (!st) st = hq_qexec_run(e.q, b, out);
    hq_qexec_stats s = {0};
    if (!st) hq_qexec_get_stats(e.q, &s);
    *jobs = s.jobs_submitted;
    env_close(&e);
    if (st) {
        hq_free(out);
        return NULL;
    }
    return out;
}

static int64_t count_differences(const hq_counts *a, const hq_counts *b, int64_t n) {
    int64_t d = 0;
    for (int64_t r = 0; r < n; r++) d += !same_counts(&a[r], &b[r]);
    return d;
}

static void free_counts(hq_counts *c, int64_t n) {
    for (int64_t r = 0; c && r < n; r++) hq_counts_free(&c[r]);
    hq_free(c);
}

/* With an in-process backend and a database file, job k's results are stored by the
 * worker while job k + 1 simulates. Everything must be as with storing inline and as
 * without any database: the same histograms, jobs, records and cache. */
HQ_TEST(qexec_overlap_store_matches_inline) {
    make_big();
    hq_circuit *t = tmpl2();
    hq_qbatch b = {t, NBIG, big_rows, big_basis};
    env w, in;
    HQ_REQUIRE_OK(env_open_cfg(&w, "ow", "sow", (env_cfg){0}));
    HQ_REQUIRE_OK(env_open_cfg(&in, "oi", "soi", (env_cfg){.store_inline = true}));
    int64_t jobs0 = 0;
    hq_counts *cw = hq_calloc(NBIG, sizeof *cw), *ci = hq_calloc(NBIG, sizeof *ci),
              *c0 = run_without_database(&b, &jobs0), *again = hq_calloc(NBIG, sizeof *again);
    HQ_REQUIRE(cw && ci && c0 && again);
    HQ_REQUIRE_OK(hq_qexec_run(w.q, &b, cw));
    HQ_REQUIRE_OK(hq_qexec_run(in.q, &b, ci));
    HQ_CHECK_EQ_INT(count_differences(cw, ci, NBIG), 0);
    HQ_CHECK_EQ_INT(count_differences(cw, c0, NBIG), 0);
    /* statistics agree with theory: P(q0 = 1) = sin^2(theta/2) in Z */
    for (int r = 0; r < NBIG; r += 500) {
        double th = big_rows[2 * r];
        double p1 = (double)(hq_counts_get(&cw[r], 1) + hq_counts_get(&cw[r], 3)) / 2000.0;
        double want = big_basis[r] == HQ_BASIS_Z ? sin(th / 2) * sin(th / 2) : (1 - sin(th)) / 2;
        HQ_CHECKF(fabs(p1 - want) < 0.05, "row %d: P(1)=%.3f, expected %.3f", r, p1, want);
    }
    hq_qexec_stats sw, si;
    hq_qexec_get_stats(w.q, &sw);
    hq_qexec_get_stats(in.q, &si);
    HQ_CHECK_EQ_INT(sw.jobs_submitted, NBIG_JOBS);
    HQ_CHECK_EQ_INT(si.jobs_submitted, NBIG_JOBS);
    HQ_CHECK_EQ_INT(jobs0, NBIG_JOBS);
    HQ_CHECK_EQ_INT(sw.jobs_by_worker, NBIG_JOBS - 1); /* the last one: no next job */
    HQ_CHECK_EQ_INT(si.jobs_by_worker, 0);
    hq_backend_caps caps;
    hq_backend_get_caps(w.b, &caps);
    hq_qexec_estimate est;
    hq_qexec_estimate_jobs(&caps, 0, NBIG, 2000, &est);
    HQ_CHECK_EQ_INT(est.jobs, NBIG_JOBS); /* `hqcnn plan` predicts the packing */
    env *envs[2] = {&w, &in};
    for (int k = 0; k < 2; k++) {
        env *e = envs[k];
        hq_jobdb_run_stats rs;
        HQ_CHECK_OK(hq_jobdb_run_get_stats(e->db, e->run, &rs));
        HQ_CHECK_EQ_INT(rs.jobs[HQ_JOB_COMPLETED], NBIG_JOBS);
        HQ_CHECK_EQ_INT(rs.evaluations, NBIG);
        HQ_CHECK_EQ_INT(rs.shots_completed, (int64_t)NBIG * 2000);
        hq_jobdb_job *jobs;
        int64_t nj, total = 0;
        HQ_REQUIRE_OK(hq_jobdb_job_list(e->db, e->run, HQ_JOB_MASK_ALL, &jobs, &nj));
        HQ_CHECK_EQ_INT(nj, NBIG_JOBS);
        for (int64_t j = 0; j < nj; j++) {
            HQ_CHECK_EQ_INT(jobs[j].state, HQ_JOB_COMPLETED);
            HQ_CHECK_EQ_INT(jobs[j].attempts, 1);
            HQ_CHECK(jobs[j].remote_id && jobs[j].remote_id[0]);
            total += jobs[j].n_circuits;
        }
        HQ_CHECK_EQ_INT(total, NBIG);
        hq_jobdb_jobs_free(jobs, nj);
        /* replayed from the cache: everything the worker stored is what was returned */
        HQ_REQUIRE_OK(hq_qexec_run(e->q, &b, again));
        hq_qexec_stats s;
        hq_qexec_get_stats(e->q, &s);
        HQ_CHECK_EQ_INT(s.cache_hits, NBIG);
        HQ_CHECK_EQ_INT(s.jobs_submitted, NBIG_JOBS);
        HQ_CHECK_EQ_INT(count_differences(again, cw, NBIG), 0);
        for (int64_t r = 0; r < NBIG; r++) hq_counts_free(&again[r]);
    }
    free_counts(cw, NBIG);
    free_counts(ci, NBIG);
    free_counts(c0, NBIG);
    free_counts(again, 0);
    env_close(&w);
    env_close(&in);
    hq_circuit_free(t);
}

/* The worker's connection fails (disk full): the run stops with the cause named, the
 * jobs the provider accepted stay on record, and after recovery nothing is paid twice
 * and the results are those of an uninterrupted run. */
HQ_TEST(qexec_overlap_worker_failure_keeps_everything) {
    make_big();
    hq_circuit *t = tmpl2();
    hq_qbatch b = {t, NBIG, big_rows, big_basis};
    hq_counts *want = big_reference("wfref", &b), *got = hq_calloc(NBIG, sizeof *got);
    HQ_REQUIRE(want && got);
    env e;
    HQ_REQUIRE_OK(env_open_cfg(&e, "wf", "swf", (env_cfg){.vfs = "hqfault"}));
    /* every write of the worker's connection finds the disk full; this thread's do not */
    hq_jobdb_fault f = {.kind = HQ_JOBDB_FAULT_FULL,
                        .write_bytes = -1,
                        .write_calls = 1,
                        .sync_calls = -1,
                        .read_calls = -1,
                        .sticky = true,
                        .other_threads = true};
    hq_jobdb_fault_set(&f);
    HQ_CHECK_FAILS(hq_qexec_run(e.q, &b, got), HQ_ERR_IO, "storing the results of job 1");
    HQ_CHECK(strstr(hq_last_error(), "disk full"));
    hq_jobdb_fault_stats fs;
    hq_jobdb_fault_get_stats(&fs);
    hq_jobdb_fault_set(NULL);
    HQ_CHECK(fs.failures >= 1);
    hq_qexec_stats s;
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 2); /* job 2 was simulated while job 1 failed to store,
                                             job 3 never sent */
    HQ_CHECK_EQ_INT(s.jobs_by_worker, 0);
    hq_jobdb_job *jobs;
    int64_t nj;
    HQ_REQUIRE_OK(hq_jobdb_job_list(e.db, e.run, HQ_JOB_MASK_ALL, &jobs, &nj));
    HQ_CHECK_EQ_INT(nj, 2);
    if (nj == 2) {
        /* job 1: accepted, its results not stored; job 2 (fetched when the failure was
         * known) stored on this thread's connection before the call returned */
        HQ_CHECK_EQ_INT(jobs[0].state, HQ_JOB_QUEUED);
        HQ_CHECK_EQ_INT(jobs[1].state, HQ_JOB_COMPLETED);
    }
    hq_jobdb_jobs_free(jobs, nj);
    /* resume: a new executor settles job 1 from the provider's store */
    hq_qexec_free(e.q);
    HQ_REQUIRE_OK(env_executor(&e, (env_cfg){0}));
    HQ_REQUIRE_OK(hq_qexec_recover(e.q));
    HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, got));
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.jobs_recovered, 1);
    HQ_CHECK_EQ_INT(s.cache_hits, 2 * HQ_QEXEC_LOCAL_JOB_CIRCUITS);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 1);
    int64_t accepted;
    HQ_CHECK_OK(hq_backend_submitted_count(e.b, &accepted));
    HQ_CHECK_EQ_INT(accepted, NBIG_JOBS);
    HQ_CHECK_EQ_INT(count_differences(got, want, NBIG), 0);
    free_counts(want, NBIG);
    free_counts(got, NBIG);
    env_close(&e);
    hq_circuit_free(t);
}

/* SIGKILL right after each of the three submissions (the worker storing the previous job
 * at that moment, or done with it): recovery and the rerun give the uninterrupted results
 * and the provider accepts no job twice. */
HQ_TEST(qexec_overlap_kill_after_each_submission) {
    make_big();
    hq_circuit *t = tmpl2();
    hq_qbatch b = {t, NBIG, big_rows, big_basis};
    hq_counts *want = big_reference("okref", &b), *got = hq_calloc(NBIG, sizeof *got);
    HQ_REQUIRE(want && got);
    for (int kill_at = 1; kill_at <= NBIG_JOBS; kill_at++) {
        char name[32], store[32], at[16];
        snprintf(name, sizeof name, "ok%d", kill_at);
        snprintf(store, sizeof store, "sok%d", kill_at);
        snprintf(at, sizeof at, "%d", kill_at);
        pid_t pid = fork();
        HQ_REQUIRE(pid >= 0);
        if (pid == 0) {
            setenv("HQCNN_FAULT_KILL_AFTER_SUBMIT", at, 1);
            env c;
            if (env_open_cfg(&c, name, store, (env_cfg){0}) == HQ_OK) hq_qexec_run(c.q, &b, got);
            _exit(3);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        HQ_CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "kill after submission %d",
                  kill_at);
        env e;
        HQ_REQUIRE_OK(env_open_cfg(&e, name, store, (env_cfg){0}));
        HQ_REQUIRE_OK(hq_qexec_recover(e.q));
        HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, got));
        hq_qexec_stats s;
        hq_qexec_get_stats(e.q, &s);
        HQ_CHECKF(s.jobs_submitted == NBIG_JOBS - kill_at,
                  "kill at %d: %" PRId64 " jobs sent again", kill_at, s.jobs_submitted);
        int64_t accepted;
        HQ_CHECK_OK(hq_backend_submitted_count(e.b, &accepted));
        HQ_CHECKF(accepted == NBIG_JOBS, "kill at %d: %" PRId64 " jobs accepted", kill_at,
                  accepted);
        HQ_CHECKF(count_differences(got, want, NBIG) == 0, "kill at %d: results differ", kill_at);
        for (int64_t r = 0; r < NBIG; r++) hq_counts_free(&got[r]);
        env_close(&e);
    }
    free_counts(want, NBIG);
    free_counts(got, 0);
    hq_circuit_free(t);
}

/* Two processes run the same large batch into one database file at once, each with its
 * storing worker (four connections writing): both succeed, every result is stored once,
 * and the cache serves exactly what an executor without a database computes. */
HQ_TEST(qexec_overlap_two_processes_share_a_database) {
    make_big();
    hq_circuit *t = tmpl2();
    hq_qbatch b = {t, NBIG, big_rows, big_basis};
    char dbp[4096];
    snprintf(dbp, sizeof dbp, "%s", hq_test_tmpfile("two.db"));
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        pid[w] = fork();
        HQ_REQUIRE(pid[w] >= 0);
        if (pid[w] == 0) {
            env c = {0};
            char name[16];
            snprintf(name, sizeof name, "p%d", w);
            hq_jobdb_run spec = {.name = name,
                                 .seed = 5,
                                 .code_version = "t",
                                 .backend = "sv-shots",
                                 .config_json = "{}"};
            hq_counts *got = hq_calloc(NBIG, sizeof *got);
            hq_status st = got ? hq_jobdb_open(dbp, NULL, &c.db) : HQ_ERR_NOMEM;
            if (!st) st = hq_jobdb_run_create(c.db, &spec, &c.run);
            if (!st) st = hq_backend_create("sv-shots", NULL, &c.b);
            if (!st) st = env_executor(&c, (env_cfg){0});
            if (!st) st = hq_qexec_run(c.q, &b, got);
            hq_qexec_stats s = {0};
            if (!st) hq_qexec_get_stats(c.q, &s);
            if (st) fprintf(stderr, "    process %d: %s\n", w, hq_last_error());
            _exit(st ? 1 : s.jobs_by_worker == NBIG_JOBS - 1 ? 0 : 2);
        }
    }
    for (int w = 0; w < 2; w++) {
        int status;
        HQ_REQUIRE(waitpid(pid[w], &status, 0) == pid[w]);
        HQ_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d exited with %d", w,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    env e;
    HQ_REQUIRE_OK(env_open(&e, "two", "stwo", 0));
    int64_t jobs0 = 0;
    hq_counts *got = hq_calloc(NBIG, sizeof *got), *want = run_without_database(&b, &jobs0);
    HQ_REQUIRE(got && want);
    for (int w = 0; w < 2; w++) {
        hq_jobdb_run r;
        char name[16];
        snprintf(name, sizeof name, "p%d", w);
        HQ_REQUIRE_OK(hq_jobdb_run_find(e.db, name, &r));
        hq_jobdb_run_stats rs;
        HQ_CHECK_OK(hq_jobdb_run_get_stats(e.db, r.id, &rs));
        HQ_CHECK_EQ_INT(rs.jobs[HQ_JOB_COMPLETED], NBIG_JOBS);
        hq_jobdb_run_clear(&r);
    }
    HQ_REQUIRE_OK(hq_qexec_run(e.q, &b, got)); /* all from the cache */
    hq_qexec_stats s;
    hq_qexec_get_stats(e.q, &s);
    HQ_CHECK_EQ_INT(s.cache_hits, NBIG);
    HQ_CHECK_EQ_INT(s.jobs_submitted, 0);
    HQ_CHECK_EQ_INT(count_differences(got, want, NBIG), 0);
    free_counts(got, NBIG);
    free_counts(want, NBIG);
    env_close(&e);
    hq_circuit_free(t);
}

/* The storing worker on its own: a task handed over is committed on the second
 * connection; one task at a time; its failure comes back with the worker's message;
 * freeing finishes a task in progress. */
HQ_TEST(bgstore_hand_over_and_errors) {
    env e;
    HQ_REQUIRE_OK(env_open(&e, "bg", "sbg", 0));
    hq_jobdb *mem;
    hq_bgstore *bg = NULL;
    HQ_REQUIRE_OK(hq_jobdb_open(":memory:", NULL, &mem));
    HQ_CHECK_FAILS(hq_bgstore_create(mem, &bg), HQ_ERR_UNSUPPORTED, "in-memory");
    HQ_CHECK(bg == NULL);
    hq_jobdb_close(mem);
    HQ_REQUIRE_OK(hq_bgstore_create(e.db, &bg));
    HQ_CHECK_OK(hq_bgstore_wait(bg)); /* nothing handed over */
    uint8_t dig[3][2 * 32];
    int64_t job[3];
    char tok[HQ_JOBDB_TOKEN_LEN + 1];
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 64; i++) dig[k][i] = (uint8_t)(31 * k + 7 * i + 1);
        hq_jobdb_job_spec js = {.run_id = e.run,
                                .backend = "sv-shots",
                                .shots = 10,
                                .n_circuits = 2,
                                .digests = dig[k]};
        HQ_REQUIRE_OK(hq_jobdb_job_create(e.db, &js, &job[k], tok));
    }
    hq_counts c[2];
    for (int i = 0; i < 2; i++) {
        hq_counts_init(&c[i], 1);
        HQ_REQUIRE_OK(hq_counts_add(&c[i], (uint64_t)i, 10));
    }
    hq_jobdb_result res[2] = {{&c[0], NULL, 0}, {&c[1], NULL, 0}};
    HQ_REQUIRE_OK(hq_bgstore_start(bg, job[0], "none", 2, res));
    HQ_CHECK_FAILS(hq_bgstore_start(bg, job[1], "none", 2, res), HQ_ERR_MISUSE, "not collected");
    HQ_CHECK_OK(hq_bgstore_wait(bg));
    hq_jobdb_job j;
    HQ_REQUIRE_OK(hq_jobdb_job_get(e.db, job[0], &j)); /* seen on the first connection */
    HQ_CHECK_EQ_INT(j.state, HQ_JOB_COMPLETED);
    hq_jobdb_job_clear(&j);
    /* a wrong result count: the database refuses, the message comes back to this thread */
    HQ_REQUIRE_OK(hq_bgstore_start(bg, job[1], NULL, 1, res));
    HQ_CHECK_FAILS(hq_bgstore_wait(bg), HQ_ERR_INVALID_ARG, "storing the results of job 2");
    HQ_CHECK(strstr(hq_last_error(), "has 2 circuits but 1 results were given"));
    HQ_CHECK_OK(hq_bgstore_wait(bg)); /* collected once */
    HQ_REQUIRE_OK(hq_jobdb_job_get(e.db, job[1], &j));
    HQ_CHECK_EQ_INT(j.state, HQ_JOB_PENDING);
    hq_jobdb_job_clear(&j);
    /* freeing with a task in progress finishes it first */
    HQ_REQUIRE_OK(hq_bgstore_start(bg, job[2], NULL, 2, res));
    hq_bgstore_free(bg);
    HQ_REQUIRE_OK(hq_jobdb_job_get(e.db, job[2], &j));
    HQ_CHECK_EQ_INT(j.state, HQ_JOB_COMPLETED);
    hq_jobdb_job_clear(&j);
    hq_jobdb_run_stats rs;
    HQ_CHECK_OK(hq_jobdb_run_get_stats(e.db, e.run, &rs));
    HQ_CHECK_EQ_INT(rs.evaluations, 4);
    hq_bgstore_free(NULL);
    for (int i = 0; i < 2; i++) hq_counts_free(&c[i]);
    env_close(&e);
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
