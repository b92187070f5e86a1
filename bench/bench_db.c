/*
 * bench/bench_db.c — the job database's costs where training feels them. JSON lines:
 *
 *   db_step        cache lookup (all misses), insert, lookup again (all hits), per circuit,
 *                  batched as one shot-based training step: 128 samples x 2 bases x
 *                  (1 + 2*40 parameter-shift) = 20736 bound HQCNN circuits, 4-bit counts
 *                  of 1000 shots each; with and without storing the circuit texts
 *   db_sim         the same step's circuits run by the sv-shots simulator (the cost the
 *                  database is measured against: overhead = db / sim)
 *   db_checkpoint  one checkpoint of a 64.6k-parameter model (weights + 2 Adam moments),
 *                  synchronous NORMAL and FULL
 *   db_size        file bytes per million evaluations (hash-only circuits, and with text)
 *
 * Times are the best of several repetitions (the machine is shared); sizes are exact.
 *
 *     build/bench/bench_db [--quick]     (--quick: fewer steps, 200k evaluations for size)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/circuit.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "db/jobdb.h"

enum { SAMPLES = 128, BASES = 2, SHIFTS = 40 };
#define STEP_CIRCUITS (SAMPLES * BASES * (1 + 2 * SHIFTS)) /* 20736 */

/* ==== a bound HQCNN circuit (DESIGN.md default: n = 4, L = 2) ========================== */

static hq_circuit *hqcnn_bound(hq_rng *r, int basis_x) {
    const int n = 4, L = 2;
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_status st = hq_circuit_add_qreg(c, "q", n, NULL);
    if (!st) st = hq_circuit_add_creg(c, "c", n, NULL);
    for (int i = 0; i < n && !st; i++) {
        st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        double x = M_PI * tanh(hq_rng_normal(r));
        if (!st) st = hq_circuit_add_gate(c, HQ_GATE_RY, &i, &x);
    }
    for (int l = 0; l < L && !st; l++) {
        for (int i = 0; i < n && !st; i++) {
            double a[3] = {hq_rng_normal(r), hq_rng_normal(r), hq_rng_normal(r)};
            st = hq_circuit_add_gate(c, HQ_GATE_U3, &i, a);
        }
        for (int i = 0; i < n && !st; i++)
            st = hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){i, (i + 1) % n}, NULL);
        for (int i = 0; i < n && !st; i++)
            st =
                hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + n - 1) % n, (i + 1) % n, i}, NULL);
        for (int i = 0; i < n && !st; i++) {
            st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            for (int j = i + 1; j < n && !st; j++) {
                double a = hq_rng_normal(r);
                st = hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){j, i}, &a);
            }
        }
    }
    for (int i = 0; i < n && !st; i++) {
        if (basis_x) st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        if (!st) st = hq_circuit_add_measure(c, i, i);
    }
    if (st) {
        hq_circuit_free(c);
        return NULL;
    }
    return c;
}

typedef struct step_data {
    int64_t n;
    char **text;       /* (n) canonical texts */
    char (*hash)[65];  /* (n) their sha256 */
    hq_circuit **circ; /* (n) the circuits (for the simulator) */
} step_data;

static int make_step(step_data *d, int64_t n, uint64_t seed) {
    hq_rng r;
    hq_rng_init(&r, seed, 1, 0);
    d->n = n;
    d->text = calloc((size_t)n, sizeof *d->text); /* lint: allow-malloc (bench scratch) */
    d->hash = calloc((size_t)n, sizeof *d->hash); /* lint: allow-malloc */
    d->circ = calloc((size_t)n, sizeof *d->circ); /* lint: allow-malloc */
    if (!d->text || !d->hash || !d->circ) return -1;
    for (int64_t i = 0; i < n; i++) {
        d->circ[i] = hqcnn_bound(&r, (int)(i & 1));
        hq_sbuf b = HQ_SBUF_INIT;
        if (!d->circ[i] || hq_circuit_canonical(d->circ[i], &b)) return -1;
        d->text[i] = hq_sbuf_take(&b);
        hq_sha256_hex(d->text[i], strlen(d->text[i]), d->hash[i]);
    }
    return 0;
}

static void free_step(step_data *d) {
    for (int64_t i = 0; i < d->n; i++) {
        hq_free(d->text[i]);
        hq_circuit_free(d->circ[i]);
    }
    free(d->text); /* lint: allow-malloc */
    free(d->hash); /* lint: allow-malloc */
    free(d->circ); /* lint: allow-malloc */
}

/* A pool of realistic 4-bit histograms of 1000 shots. */
enum { POOL = 64 };
static hq_counts pool[POOL];

static void make_pool(void) {
    hq_rng r;
    hq_rng_init(&r, 99, 2, 0);
    for (int p = 0; p < POOL; p++) {
        hq_counts_init(&pool[p], 4);
        for (int s = 0; s < 1000; s++) hq_counts_add(&pool[p], hq_rng_below(&r, 16), 1);
        hq_counts_sort(&pool[p]);
    }
}

/* CPU time of this process: far less sensitive than wall time to the other jobs sharing
 * the machine (I/O waits are not counted, so wall time is reported next to it). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void die(const char *what) {
    printf("{\"bench\":\"db\",\"error\":\"%s: %s\"}\n", what, hq_last_error());
    exit(1);
}

/* ==== one training step against the cache ============================================== */

typedef struct step_times {
    double miss, put, hit; /* seconds for the whole step */
} step_times;

static void run_step(hq_jobdb *db, int64_t run, const step_data *d, bool with_text, step_times *t) {
    int64_t n = d->n, nf;
    hq_jobdb_eval_key *keys = calloc((size_t)n, sizeof *keys);    /* lint: allow-malloc */
    hq_jobdb_eval_item *items = calloc((size_t)n, sizeof *items); /* lint: allow-malloc */
    hq_jobdb_eval *out = calloc((size_t)n, sizeof *out);          /* lint: allow-malloc */
    bool *found = calloc((size_t)n, sizeof *found);               /* lint: allow-malloc */
    if (!keys || !items || !out || !found) die("calloc");
    for (int64_t i = 0; i < n; i++) {
        keys[i] = (hq_jobdb_eval_key){.hash = d->hash[i],
                                      .backend = "sv-shots@bench",
                                      .shots = 1000,
                                      .basis = i & 1 ? "X" : "Z",
                                      .calibration = ""};
        items[i] = (hq_jobdb_eval_item){.key = keys[i],
                                        .circuit_text = with_text ? d->text[i] : NULL,
                                        .counts = &pool[i % POOL]};
    }
    double t0 = now();
    if (hq_jobdb_eval_lookup(db, run, n, keys, out, found, &nf)) die("lookup");
    double t1 = now();
    if (nf != 0) die("expected misses");
    if (hq_jobdb_eval_put(db, run, n, items, NULL)) die("put");
    double t2 = now();
    if (hq_jobdb_eval_lookup(db, run, n, keys, out, found, &nf)) die("lookup");
    double t3 = now();
    if (nf != n) die("expected hits");
    for (int64_t i = 0; i < n; i++) hq_jobdb_eval_clear(&out[i]);
    t->miss = t1 - t0, t->put = t2 - t1, t->hit = t3 - t2;
    free(keys), free(items), free(out), free(found); /* lint: allow-malloc */
}

static void bench_steps(const char *dir, int steps) {
    for (int with_text = 0; with_text < 2; with_text++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/step%d.db", dir, with_text);
        hq_jobdb *db;
        if (hq_jobdb_open(path, NULL, &db)) die("open");
        hq_jobdb_run spec = {.name = "bench",
                             .seed = 1,
                             .code_version = "bench",
                             .backend = "sv-shots",
                             .config_json = "{}"};
        int64_t run;
        if (hq_jobdb_run_create(db, &spec, &run)) die("run");
        step_times best = {1e9, 1e9, 1e9}, last = {0};
        for (int s = 0; s < steps; s++) {
            step_data d;
            if (make_step(&d, STEP_CIRCUITS, 1000 + (uint64_t)s)) die("make_step");
            run_step(db, run, &d, with_text, &last);
            best.miss = fmin(best.miss, last.miss);
            best.put = fmin(best.put, last.put);
            best.hit = fmin(best.hit, last.hit);
            free_step(&d);
        }
        hq_jobdb_close(db);
        double us = 1e6 / STEP_CIRCUITS;
        printf("{\"bench\":\"db_step\",\"circuits_per_step\":%d,\"steps\":%d,\"store_text\":%s,"
               "\"lookup_miss_us\":%.3f,\"put_us\":%.3f,\"lookup_hit_us\":%.3f,"
               "\"step_ms\":%.1f,\"last_step_lookup_miss_us\":%.3f,\"last_step_put_us\":%.3f,"
               "\"last_step_lookup_hit_us\":%.3f,\"file_mb\":%.1f}\n",
               STEP_CIRCUITS, steps, with_text ? "true" : "false", best.miss * us, best.put * us,
               best.hit * us, (best.miss + best.put) * 1e3, last.miss * us, last.put * us,
               last.hit * us, (double)file_size(path) / 1e6);
        fflush(stdout);
    }
}

/* ==== the simulator the database competes with ========================================= */

static void bench_sim(void) {
    step_data d;
    int64_t n = 4096;
    if (make_step(&d, n, 5)) die("make_step");
    hq_backend *b;
    if (hq_backend_create("sv-shots", NULL, &b)) {
        printf("{\"bench\":\"db_sim\",\"error\":\"sv-shots: %s\"}\n", hq_last_error());
        free_step(&d);
        return;
    }
    hq_backend_caps caps;
    hq_backend_get_caps(b, &caps);
    int64_t per_job = caps.max_circuits_per_job > 0 ? caps.max_circuits_per_job : n;
    if (per_job > n) per_job = n;
    hq_job_entry *e = calloc((size_t)n, sizeof *e);        /* lint: allow-malloc */
    hq_counts *counts = calloc((size_t)n, sizeof *counts); /* lint: allow-malloc */
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int64_t at = 0; at < n; at += per_job) {
            int64_t m = HQ_MIN(per_job, n - at);
            for (int64_t i = 0; i < m; i++) e[i] = (hq_job_entry){.circuit = d.circ[at + i]};
            char token[HQ_JOBDB_TOKEN_LEN + 1], id[HQ_REMOTE_ID_MAX];
            hq_jobdb_new_token(token);
            hq_job_spec js = {
                .entries = e, .n_entries = (int)m, .shots = 1000, .client_token = token, .seed = 7};
            if (hq_backend_submit(b, &js, id) || hq_backend_fetch(b, id, m, counts)) {
                printf("{\"bench\":\"db_sim\",\"error\":\"%s\"}\n", hq_last_error());
                goto out;
            }
            for (int64_t i = 0; i < m; i++) hq_counts_free(&counts[i]);
        }
        best = fmin(best, now() - t0);
    }
    printf("{\"bench\":\"db_sim\",\"backend\":\"sv-shots\",\"circuits\":%lld,\"shots\":1000,"
           "\"sim_us_per_circuit\":%.3f}\n",
           (long long)n, best * 1e6 / (double)n);
out:
    free(e), free(counts); /* lint: allow-malloc */
    hq_backend_free(b);
    free_step(&d);
}

/* ==== checkpoints ====================================================================== */

static void bench_checkpoint(const char *dir) {
    const size_t params = 64600, nw = params * 4;
    uint8_t *w = malloc(nw), *o = malloc(2 * nw); /* lint: allow-malloc */
    if (!w || !o) die("malloc");
    for (size_t i = 0; i < nw; i++) w[i] = (uint8_t)(i * 31);
    for (size_t i = 0; i < 2 * nw; i++) o[i] = (uint8_t)(i * 17);
    for (int full = 0; full < 2; full++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/ck%d.db", dir, full);
        hq_jobdb_options opt;
        hq_jobdb_options_init(&opt);
        opt.sync = full ? HQ_JOBDB_SYNC_FULL : HQ_JOBDB_SYNC_NORMAL;
        opt.checkpoint_keep_last = 3;
        hq_jobdb *db;
        if (hq_jobdb_open(path, &opt, &db)) die("open");
        hq_jobdb_run spec = {
            .name = "ck", .seed = 1, .code_version = "bench", .backend = "sv", .config_json = "{}"};
        int64_t run;
        if (hq_jobdb_run_create(db, &spec, &run)) die("run");
        double best = 1e9, sum = 0;
        const int reps = 20;
        for (int s = 0; s < reps; s++) {
            w[0] = (uint8_t)s;
            uint64_t rng[4] = {1, 2, 3, (uint64_t)s};
            hq_jobdb_checkpoint ck = {.run_id = run,
                                      .step = s,
                                      .epoch = 0,
                                      .weights = w,
                                      .weights_len = nw,
                                      .optimizer = o,
                                      .optimizer_len = 2 * nw,
                                      .rng = rng,
                                      .rng_len = sizeof rng,
                                      .meta_json = "{\"loss\": 0.25}"};
            double t0 = now();
            if (hq_jobdb_checkpoint_put(db, &ck, NULL)) die("checkpoint");
            double dt = now() - t0;
            best = fmin(best, dt);
            sum += dt;
        }
        double t0 = now();
        hq_jobdb_checkpoint got;
        if (hq_jobdb_checkpoint_latest(db, run, &got)) die("latest");
        double tread = now() - t0;
        hq_jobdb_checkpoint_clear(&got);
        hq_jobdb_close(db);
        printf("{\"bench\":\"db_checkpoint\",\"params\":%zu,\"bytes\":%zu,\"sync\":\"%s\","
               "\"write_ms\":%.3f,\"write_mean_ms\":%.3f,\"read_ms\":%.3f}\n",
               params, 3 * nw + 32, full ? "full" : "normal", best * 1e3, sum / reps * 1e3,
               tread * 1e3);
        fflush(stdout);
    }
    free(w), free(o); /* lint: allow-malloc */
}

/* ==== size ============================================================================= */

static void bench_size(const char *dir, int64_t total, int steps) {
    char path[1024];
    snprintf(path, sizeof path, "%s/size.db", dir);
    hq_jobdb *db;
    if (hq_jobdb_open(path, NULL, &db)) die("open");
    hq_jobdb_run spec = {
        .name = "size", .seed = 1, .code_version = "bench", .backend = "sv", .config_json = "{}"};
    int64_t run;
    if (hq_jobdb_run_create(db, &spec, &run)) die("run");
    const int64_t batch = STEP_CIRCUITS;
    char(*hash)[65] = malloc((size_t)batch * 65);                     /* lint: allow-malloc */
    hq_jobdb_eval_item *items = calloc((size_t)batch, sizeof *items); /* lint: allow-malloc */
    if (!hash || !items) die("malloc");
    double dt = 0;
    for (int64_t done = 0; done < total; done += batch) {
        int64_t m = HQ_MIN(batch, total - done);
        for (int64_t i = 0; i < m; i++) {
            uint64_t k = (uint64_t)(done + i);
            hq_sha256_hex(&k, sizeof k, hash[i]);
            items[i] = (hq_jobdb_eval_item){.key = {.hash = hash[i],
                                                    .backend = "ibm_brisbane@1f2e3d4c",
                                                    .shots = 1000,
                                                    .basis = k & 1 ? "X" : "Z",
                                                    .calibration = "2025-01-01T00:00:00Z"},
                                            .counts = &pool[k % POOL]};
        }
        double t0 = now();
        if (hq_jobdb_eval_put(db, run, m, items, NULL)) die("put");
        dt += now() - t0;
    }
    hq_jobdb_close(db); /* checkpoints the WAL into the file */
    int64_t bytes = file_size(path);
    printf("{\"bench\":\"db_size\",\"evaluations\":%lld,\"circuit_text\":false,\"bytes\":%lld,"
           "\"bytes_per_evaluation\":%.1f,\"mb_per_million\":%.1f,\"put_us_average\":%.3f}\n",
           (long long)total, (long long)bytes, (double)bytes / (double)total,
           (double)bytes / (double)total, dt * 1e6 / (double)total);
    /* with canonical texts: the db_step database holds 'steps' x 20736 of them */
    snprintf(path, sizeof path, "%s/step1.db", dir);
    int64_t tb = file_size(path);
    snprintf(path, sizeof path, "%s/step0.db", dir);
    int64_t hb = file_size(path);
    free(hash), free(items); /* lint: allow-malloc */
    if (tb && hb) {
        double text = (double)(tb - hb) / ((double)steps * STEP_CIRCUITS);
        double per = (double)bytes / (double)total + text;
        printf("{\"bench\":\"db_size\",\"circuit_text\":true,\"text_bytes_per_evaluation\":%.1f,"
               "\"bytes_per_evaluation\":%.1f,\"mb_per_million\":%.1f}\n",
               text, per, per);
    }
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    char dir[] = "/tmp/hq_bench_db_XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    make_pool();
    int steps = quick ? 2 : 4;
    bench_steps(dir, steps);
    bench_sim();
    bench_checkpoint(dir);
    bench_size(dir, quick ? 200000 : 1000000, steps);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    for (int p = 0; p < POOL; p++) hq_counts_free(&pool[p]);
    return 0;
}
