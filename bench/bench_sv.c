/*
 * bench/bench_sv.c — statevector simulator benchmarks, JSON lines on stdout.
 *
 *   stream_triad      a[i] = b[i] + s c[i] over 3 x 128 MiB (STREAM's byte count: 24 B
 *                     per element), single thread: the memory bandwidth the gate kernels
 *                     are compared with
 *   sv_gate_1q        one general single-qubit gate (u3) on n = 20..26 qubits, low and
 *                     high targets: GB/s counting 2 x 16 B x 2^n (read + write)
 *   sv_gate_*         other kernels on 22 qubits (diagonal, phase, cx, ccx, 2-qubit dense)
 *   sv_batch_hqcnn    the HQCNN template (n = 4, L = 2, 36 weights, 4 inputs, 8
 *                     observables) bound to 100000 rows: rows/s forward and forward +
 *                     backward (VJP), shared-weight and general calls
 *
 * Every figure is the best of several repetitions; "worst" shows the spread. The machine
 * may be shared with other jobs, so every line also gives the figure by process CPU time
 * of the best repetition ("cpu_*"): wall time counts the time slices other processes
 * took, CPU time does not (it still sees their cache and memory-bandwidth pressure).
 * Arguments: [max_qubits] (default 26); env HQ_BENCH_REPS (default 5).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/statevector.h"
#include "core/core.h"
#include "core/rng.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double triad_cpu = 1; /* GB/s of the triad by CPU time */

static int reps(void) {
    const char *e = getenv("HQ_BENCH_REPS");
    int64_t v;
    if (e && hq_parse_i64(e, 1, 1000, &v) == HQ_OK) return (int)v;
    return 5;
}

/* ==== STREAM triad ==================================================================== */

static double stream_triad(void) {
    const size_t n = (size_t)16 << 20; /* 16 Mi doubles = 128 MiB per array */
    double *a = hq_aligned_alloc(64, n * sizeof *a), *b = hq_aligned_alloc(64, n * sizeof *b),
           *c = hq_aligned_alloc(64, n * sizeof *c);
    if (!a || !b || !c) {
        hq_free(a), hq_free(b), hq_free(c);
        return 0;
    }
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 1e30, worst = 0, cbest = 1e30;
    for (int r = 0; r < reps() + 2; r++) {
        double t0 = hq_time_now(), c0 = cpu_now();
        const double s = 3.0;
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        double t = hq_time_now() - t0, ct = cpu_now() - c0;
        best = fmin(best, t), worst = fmax(worst, t), cbest = fmin(cbest, ct);
    }
    double gbs = 24.0 * (double)n / best / 1e9;
    triad_cpu = 24.0 * (double)n / cbest / 1e9;
    printf("{\"bench\":\"stream_triad\",\"threads\":1,\"bytes\":%zu,\"gb_s\":%.2f,"
           "\"worst_gb_s\":%.2f,\"cpu_gb_s\":%.2f,\"check\":%g}\n",
           24 * n, gbs, 24.0 * (double)n / worst / 1e9, triad_cpu, a[n / 2]);
    hq_free(a), hq_free(b), hq_free(c);
    return gbs;
}

/* ==== gate kernels ==================================================================== */

static double time_gate(hq_sv *sv, hq_gate g, const int *q, const double *p, double *worst,
                        double *cbest) {
    double best = 1e30;
    *worst = 0, *cbest = 1e30;
    for (int r = 0; r < reps(); r++) {
        double t0 = hq_time_now(), c0 = cpu_now();
        hq_sv_apply_gate(sv, g, q, p);
        double t = hq_time_now() - t0, ct = cpu_now() - c0;
        best = fmin(best, t), *worst = fmax(*worst, t), *cbest = fmin(*cbest, ct);
    }
    return best;
}

static void bench_gates(int max_n, double triad) {
    const double prm[3] = {0.3, 1.1, -0.4};
    for (int n = 20; n <= max_n; n++) {
        hq_sv *sv;
        if (hq_sv_create(n, &sv) != HQ_OK) {
            printf("{\"bench\":\"sv_gate_1q\",\"n\":%d,\"error\":\"%s\"}\n", n, hq_last_error());
            break;
        }
        /* a dense state (touches every page) */
        hq_sv_apply_gate(sv, HQ_GATE_H, (int[]){0}, NULL);
        for (int q = 0; q < n; q++) hq_sv_apply_gate(sv, HQ_GATE_RY, &q, (double[]){0.1 * q + 0.3});
        const int targets[4] = {0, 1, n / 2, n - 1};
        for (int i = 0; i < 4; i++) {
            double worst, ct, t = time_gate(sv, HQ_GATE_U3, &targets[i], prm, &worst, &ct);
            double bytes = 2.0 * 16.0 * ldexp(1, n);
            double gbs = bytes / t / 1e9, cgbs = bytes / ct / 1e9;
            printf("{\"bench\":\"sv_gate_1q\",\"gate\":\"u3\",\"n\":%d,\"target\":%d,\"threads\":1,"
                   "\"seconds\":%.5f,\"gb_s\":%.2f,\"worst_gb_s\":%.2f,\"pct_of_triad\":%.1f,"
                   "\"cpu_gb_s\":%.2f,\"cpu_pct_of_triad\":%.1f}\n",
                   n, targets[i], t, gbs, bytes / worst / 1e9, 100 * gbs / triad, cgbs,
                   100 * cgbs / triad_cpu);
        }
        if (n == 22) {
            static const struct {
                const char *name;
                hq_gate g;
                int q[3];
            } more[] = {{"h", HQ_GATE_H, {5}},           {"rz", HQ_GATE_RZ, {7}},
                        {"p", HQ_GATE_P, {7}},           {"x", HQ_GATE_X, {3}},
                        {"cx", HQ_GATE_CX, {2, 17}},     {"cp", HQ_GATE_CP, {2, 17}},
                        {"crx", HQ_GATE_CRX, {2, 17}},   {"ccx", HQ_GATE_CCX, {1, 9, 20}},
                        {"swap", HQ_GATE_SWAP, {4, 19}}, {"rxx", HQ_GATE_RXX, {4, 19}},
                        {"rzz", HQ_GATE_RZZ, {4, 19}}};
            for (size_t k = 0; k < HQ_ARRAY_LEN(more); k++) {
                double worst, ct, t = time_gate(sv, more[k].g, more[k].q, prm, &worst, &ct);
                printf("{\"bench\":\"sv_gate_%s\",\"n\":22,\"seconds\":%.5f,"
                       "\"amps_per_s\":%.3g,\"eff_gb_s\":%.2f,\"cpu_eff_gb_s\":%.2f}\n",
                       more[k].name, t, ldexp(1, 22) / t, 32.0 * ldexp(1, 22) / t / 1e9,
                       32.0 * ldexp(1, 22) / ct / 1e9);
            }
        }
        hq_sv_free(sv);
    }
}

/* ==== HQCNN batch ===================================================================== */

static hq_circuit *hqcnn(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 4, NULL);
    int x[4], w[36];
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "x%d", i);
        hq_circuit_add_symbol(c, name, HQ_SYM_INPUT, &x[i]);
    }
    for (int j = 0; j < 36; j++) {
        snprintf(name, sizeof name, "w%d", j);
        hq_circuit_add_symbol(c, name, HQ_SYM_WEIGHT, &w[j]);
    }
    for (int i = 0; i < 4; i++) {
        hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, &i, (hq_angle[]){hq_angle_sym(x[i], 1, 0)});
    }
    int k = 0;
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < 4; i++, k += 3)
            hq_circuit_add_gate_sym(c, HQ_GATE_U3, &i,
                                    (hq_angle[]){hq_angle_sym(w[k], 1, 0),
                                                 hq_angle_sym(w[k + 1], 1, 0),
                                                 hq_angle_sym(w[k + 2], 1, 0)});
        for (int i = 0; i < 4; i++)
            hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){i, (i + 1) % 4}, NULL);
        for (int i = 0; i < 4; i++)
            hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + 3) % 4, (i + 1) % 4, i}, NULL);
        for (int i = 0; i < 4; i++) {
            hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            for (int j = i + 1; j < 4; j++, k++)
                hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){j, i},
                                        (hq_angle[]){hq_angle_sym(w[k], 1, 0)});
        }
    }
    return c;
}

/* cpu_rows_per_s: rows per second of process CPU time (all threads together) */
static void report(const char *mode, const char *pass, int threads, int64_t rows, double best,
                   double worst, double cbest) {
    printf("{\"bench\":\"sv_batch_hqcnn\",\"mode\":\"%s\",\"pass\":\"%s\",\"threads\":%d,"
           "\"rows\":%lld,\"seconds\":%.4f,\"rows_per_s\":%.0f,\"worst_rows_per_s\":%.0f,"
           "\"cpu_seconds\":%.4f,\"cpu_rows_per_s\":%.0f}\n",
           mode, pass, threads, (long long)rows, best, (double)rows / best, (double)rows / worst,
           cbest, (double)rows / cbest);
}

static void bench_batch(int threads) {
    const int64_t rows = 100000;
    hq_circuit *c = hqcnn();
    hq_pauli p[8];
    hq_pauli_sum obs[8];
    for (int i = 0; i < 4; i++) p[i] = hq_pauli_single('Z', i), p[4 + i] = hq_pauli_single('X', i);
    for (int k = 0; k < 8; k++) obs[k] = (hq_pauli_sum){&p[k], 1};
    hq_sv_batch *b;
    if (!c || hq_sv_batch_create(c, obs, 8, &b) != HQ_OK) {
        printf("{\"bench\":\"sv_batch_hqcnn\",\"error\":\"%s\"}\n", hq_last_error());
        hq_circuit_free(c);
        return;
    }
    hq_sv_batch_set_threads(b, threads);
    double *sym = hq_malloc((size_t)rows * 40 * sizeof *sym),
           *in = hq_malloc((size_t)rows * 4 * sizeof *in);
    double *e = hq_malloc((size_t)rows * 8 * sizeof *e),
           *g = hq_malloc((size_t)rows * 8 * sizeof *g);
    double *ds = hq_malloc((size_t)rows * 40 * sizeof *ds),
           *din = hq_malloc((size_t)rows * 4 * sizeof *din);
    double w[36], dw[36];
    hq_rng r;
    hq_rng_init(&r, 1, 0, 0);
    for (int k = 0; k < 36; k++) w[k] = hq_rng_uniform(&r) * 6 - 3;
    for (int64_t i = 0; i < rows; i++) {
        for (int k = 0; k < 4; k++)
            in[i * 4 + k] = sym[i * 40 + k] = M_PI * tanh(hq_rng_normal(&r));
        memcpy(sym + i * 40 + 4, w, sizeof w);
        for (int k = 0; k < 8; k++) g[i * 8 + k] = hq_rng_normal(&r) / (double)rows;
    }
    for (int mode = 0; mode < 2; mode++)
        for (int pass = 0; pass < 2; pass++) {
            double best = 1e30, worst = 0, cbest = 1e30;
            for (int rep = 0; rep < reps(); rep++) {
                double t0 = hq_time_now(), c0 = cpu_now();
                if (mode == 0 && pass == 0) hq_sv_batch_forward_shared(b, rows, w, in, e);
                if (mode == 0 && pass == 1) {
                    hq_sv_batch_forward_shared(b, rows, w, in, e);
                    hq_sv_batch_backward_shared(b, rows, w, in, g, NULL, din, dw);
                }
                if (mode == 1 && pass == 0) hq_sv_batch_forward(b, rows, sym, e);
                if (mode == 1 && pass == 1) {
                    hq_sv_batch_forward(b, rows, sym, e);
                    hq_sv_batch_backward(b, rows, sym, g, NULL, ds);
                }
                double t = hq_time_now() - t0, ct = cpu_now() - c0;
                best = fmin(best, t), worst = fmax(worst, t), cbest = fmin(cbest, ct);
            }
            report(mode ? "general" : "shared", pass ? "forward+backward" : "forward", threads,
                   rows, best, worst, cbest);
        }
    hq_free(sym), hq_free(in), hq_free(e), hq_free(g), hq_free(ds), hq_free(din);
    hq_sv_batch_free(b);
    hq_circuit_free(c);
}

int main(int argc, char **argv) {
    int max_n = 26;
    if (argc > 1) {
        int64_t v;
        if (hq_parse_i64(argv[1], 20, 30, &v) != HQ_OK) {
            fprintf(stderr, "usage: bench_sv [max_qubits 20..30]\n");
            return 2;
        }
        max_n = (int)v;
    }
    bench_batch(1);
    bench_batch(2);
    double triad = stream_triad();
    bench_gates(max_n, triad > 0 ? triad : 1);
    return 0;
}
