/*
 * bench/bench_orchestrator.c — what the quantum executor (planner + dispatcher + job
 * database) costs over calling a backend directly, for a BreastMNIST training epoch on a
 * shot-based backend with 1000 shots: per step, 64 samples x 2 bases x (1 + 80)
 * parameter-shift circuits of the HQCNN layer = 10 368 circuits.
 *
 *   direct        hq_backend_submit + fetch of the same circuits (templated entries)
 *   orchestrated  hq_qexec_run with a fresh job database: hashing, dedup, cache lookup,
 *                 record-then-submit, storing every evaluation
 *   replay        the same step again: everything served from the database
 * The orchestrated call runs twice per step, each with its own database: with the storing
 * worker (the default: job k stored while job k + 1 simulates) and with every result
 * stored on the calling thread (hq_qexec_options.store_inline); one JSON line each
 * ("store": "worker" / "inline"), both against the same direct calls.
 * The overhead is reported two ways. "overhead_pct_cpu" / "_wall" compare the totals of
 * the direct and the orchestrated calls; on a 2-core VM the backend's own time scatters by
 * +-10 % from step to step, as much as the overhead itself, so these differences of two
 * large numbers are noisy. "overhead_pct_paired" takes both parts from the same
 * orchestrated calls (hq_qexec_stats: the wall time inside the backend's calls and the
 * executor's own rest), so the backend's scatter cancels.
 * Also: database bytes per million evaluations. JSON lines on stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/statevector.h"
#include "core/rng.h"
#include "db/jobdb.h"
#include "nn/model.h"
#include "orchestrator/qexec.h"

#define BATCH 64
#ifndef STEPS
#define STEPS 9
#endif /* one BreastMNIST epoch: 546 images / 64 */
#define SHOTS 1000

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The rows of one step: per sample its forward point and its shift plan rows, each in
 * the Z and X bases (the executor's job in the shot-based quantum layer). */
static int64_t step_rows(const hq_circuit *t, hq_rng *rng, double **rows, uint8_t **basis) {
    int S = hq_circuit_n_symbols(t);
    int64_t cap = (int64_t)BATCH * 2 * 200, n = 0;
    *rows = malloc((size_t)(cap * S) * sizeof **rows); /* lint: allow-malloc (benchmark) */
    *basis = malloc((size_t)cap);                      /* lint: allow-malloc */
    double *sym = malloc((size_t)S * sizeof *sym);     /* lint: allow-malloc */
    for (int r = 0; r < BATCH; r++) {
        for (int s = 0; s < S; s++) sym[s] = (hq_rng_uniform(rng) * 2 - 1) * 3.0;
        hq_shift_plan plan;
        hq_sv_shift_plan(t, sym, &plan);
        for (int64_t k = -1; k < plan.n_rows; k++) {
            const double *src = k < 0 ? sym : plan.rows + k * plan.n_symbols;
            for (int b = 0; b < 2; b++, n++) {
                memcpy(*rows + n * S, src, (size_t)S * sizeof **rows);
                (*basis)[n] = (uint8_t)b;
            }
        }
        hq_sv_shift_plan_free(&plan);
    }
    free(sym); /* lint: allow-malloc */
    return n;
}

int main(void) {
    hq_model *m;
    hq_model_opts mo = {.max_batch = BATCH, .threads = 1};
    if (hq_model_create_file("configs/hqcnn-default.json", &mo, &m) != HQ_OK) {
        fprintf(stderr, "bench_orchestrator: %s\n", hq_last_error());
        return 1;
    }
    const hq_circuit *t = hq_model_quantum_circuit(m);
    char dir[] = "/tmp/hq_bench_orch_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hq_backend *b;
    if (hq_backend_create("sv-shots", NULL, &b) != HQ_OK) return 1;
    enum { MODES = 2 };
    static const char *const mode_name[MODES] = {"worker", "inline"};
    char dbp[MODES][256];
    hq_jobdb *db[MODES];
    hq_qexec *q[MODES];
    for (int md = 0; md < MODES; md++) {
        snprintf(dbp[md], sizeof dbp[md], "%s/bench-%s.db", dir, mode_name[md]);
        hq_jobdb_run spec = {.name = "bench",
                             .seed = 1,
                             .code_version = "bench",
                             .backend = "sv-shots",
                             .config_json = "{}"};
        int64_t run;
        hq_qexec_options o;
        hq_qexec_options_init(&o);
        o.shots = SHOTS;
        o.seed = 1;
        o.store_inline = md == 1;
        if (hq_jobdb_open(dbp[md], NULL, &db[md]) || hq_jobdb_run_create(db[md], &spec, &run) ||
            hq_qexec_create(b, db[md], run, &o, &q[md])) {
            fprintf(stderr, "bench_orchestrator: %s\n", hq_last_error());
            return 1;
        }
    }
    hq_rng rng;
    hq_rng_init(&rng, 5, 0, 0);
    double t_direct = 0, c_direct = 0;
    double t_orch[MODES] = {0}, t_replay[MODES] = {0}, c_orch[MODES] = {0};
    /* inside hq_qexec_run: its own time, the backend's */
    double t_own[MODES] = {0}, t_inner_backend[MODES] = {0};
    int64_t circuits = 0;
    for (int step = 0; step < STEPS; step++) {
        double *rows;
        uint8_t *basis;
        int64_t n = step_rows(t, &rng, &rows, &basis);
        circuits += n;
        hq_counts *cnt = calloc((size_t)n, sizeof *cnt); /* lint: allow-malloc */
        /* direct: the backend alone (entries by basis, rows bound by the backend) */
        {
            int S = hq_circuit_n_symbols(t);
            hq_circuit *mt[2];
            for (int k = 0; k < 2; k++) {
                hq_circuit_copy(t, &mt[k]);
                hq_circuit_add_creg(mt[k], "meas", 4, NULL);
                for (int i = 0; i < 4 && k; i++) hq_circuit_add_gate(mt[k], HQ_GATE_H, &i, NULL);
                for (int i = 0; i < 4; i++) hq_circuit_add_measure(mt[k], i, i);
            }
            double *zr = malloc((size_t)(n * S) * sizeof *zr); /* lint: allow-malloc */
            int64_t nz = 0, nx = 0;
            for (int64_t i = 0; i < n; i++)
                if (!basis[i]) memcpy(zr + (nz++) * S, rows + i * S, (size_t)S * sizeof *zr);
            for (int64_t i = 0; i < n; i++)
                if (basis[i]) memcpy(zr + (nz + nx++) * S, rows + i * S, (size_t)S * sizeof *zr);
            hq_job_entry e[2] = {{mt[0], nz, zr}, {mt[1], nx, zr + nz * S}};
            char token[40], id[HQ_REMOTE_ID_MAX];
            snprintf(token, sizeof token, "direct-%d", step);
            hq_job_spec js = {
                .entries = e, .n_entries = 2, .shots = SHOTS, .client_token = token, .seed = 1};
            double w0 = hq_time_now(), c0 = cpu_now();
            hq_backend_submit(b, &js, id);
            hq_backend_fetch(b, id, n, cnt);
            t_direct += hq_time_now() - w0;
            c_direct += cpu_now() - c0;
            for (int64_t i = 0; i < n; i++) hq_counts_free(&cnt[i]);
            free(zr); /* lint: allow-malloc */
            hq_circuit_free(mt[0]);
            hq_circuit_free(mt[1]);
        }
        hq_qbatch qb = {t, n, rows, basis};
        for (int k = 0; k < MODES; k++) {
            int md = (step + k) % MODES; /* alternate which mode goes first */
            hq_qexec_stats s0, s1;
            hq_qexec_get_stats(q[md], &s0);
            double w0 = hq_time_now(), c0 = cpu_now();
            if (hq_qexec_run(q[md], &qb, cnt) != HQ_OK) {
                fprintf(stderr, "bench_orchestrator: %s\n", hq_last_error());
                return 1;
            }
            t_orch[md] += hq_time_now() - w0;
            c_orch[md] += cpu_now() - c0;
            hq_qexec_get_stats(q[md], &s1);
            double backend = s1.seconds_backend - s0.seconds_backend;
            t_inner_backend[md] += backend;
            t_own[md] += (s1.seconds_total - s0.seconds_total) - backend;
            for (int64_t i = 0; i < n; i++) hq_counts_free(&cnt[i]);
            w0 = hq_time_now();
            hq_qexec_run(q[md], &qb, cnt); /* replay: all cache hits */
            t_replay[md] += hq_time_now() - w0;
            for (int64_t i = 0; i < n; i++) hq_counts_free(&cnt[i]);
        }
        free(cnt);   /* lint: allow-malloc */
        free(rows);  /* lint: allow-malloc */
        free(basis); /* lint: allow-malloc */
    }
    for (int md = 0; md < MODES; md++) {
        hq_qexec_stats s;
        hq_qexec_get_stats(q[md], &s);
        hq_qexec_free(q[md]);
        hq_jobdb_close(db[md]);
        struct stat stt;
        double bytes = 0;
        char path[300];
        snprintf(path, sizeof path, "%s", dbp[md]);
        if (stat(path, &stt) == 0) bytes += (double)stt.st_size;
        snprintf(path, sizeof path, "%s-wal", dbp[md]);
        if (stat(path, &stt) == 0) bytes += (double)stt.st_size;
        printf("{\"bench\":\"orchestrator_epoch\",\"store\":\"%s\",\"steps\":%d,"
               "\"circuits_per_step\":%" PRId64 ",\"shots\":%d,"
               "\"direct_s\":%.3f,\"orchestrated_s\":%.3f,\"overhead_pct_wall\":%.1f,"
               "\"direct_cpu_s\":%.3f,\"orchestrated_cpu_s\":%.3f,\"overhead_pct_cpu\":%.1f,"
               "\"replay_s\":%.3f,\"us_per_circuit_overhead\":%.2f,"
               "\"executor_own_s\":%.3f,\"backend_in_run_s\":%.3f,\"overhead_pct_paired\":%.1f,"
               "\"us_per_circuit_paired\":%.2f,"
               "\"jobs\":%" PRId64 ",\"db_bytes_per_million_evaluations\":%.0f}\n",
               mode_name[md], STEPS, circuits / STEPS, SHOTS, t_direct, t_orch[md],
               100 * (t_orch[md] - t_direct) / t_direct, c_direct, c_orch[md],
               100 * (c_orch[md] - c_direct) / c_direct, t_replay[md],
               1e6 * (c_orch[md] - c_direct) / (double)circuits, t_own[md], t_inner_backend[md],
               100 * t_own[md] / t_inner_backend[md], 1e6 * t_own[md] / (double)circuits,
               s.jobs_submitted, bytes / (double)circuits * 1e6);
        unlink(dbp[md]);
        snprintf(path, sizeof path, "%s-wal", dbp[md]);
        unlink(path);
        snprintf(path, sizeof path, "%s-shm", dbp[md]);
        unlink(path);
    }
    rmdir(dir);
    hq_backend_free(b);
    hq_model_free(m);
    return 0;
}
