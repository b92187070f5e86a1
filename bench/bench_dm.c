/*
 * bench/bench_dm.c — density-matrix simulator timings, JSON lines on stdout:
 *   - a 10-qubit, 100-gate circuit (60 one-qubit, 40 two-qubit gates) with device-style
 *     noise after every gate (thermal relaxation + depolarizing, readout), whole run;
 *   - per-operation times at n = 8, 10, 12: ideal 1q / 2q gates (dense and monomial),
 *     noisy 1q / 2q gates (gate + channels in one pass), standalone channels, and ideal
 *     gates on index bits 0 / 1 (the lanes are then gathered).
 *   - the emulator's workload: a 4-qubit HQCNN-style circuit (56 ops) on ibmq_manila's
 *     calibrated noise model, exact probabilities, per circuit.
 * Every number is the best of several repetitions. The machine is shared, so both wall
 * time and this process's CPU time are reported (CPU time excludes time the scheduler
 * gave to others; it still includes cache interference).
 *     build/bench/bench_dm [--quick]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/densitymatrix.h"
#include "core/rng.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* best wall / CPU seconds of one repetition */
typedef struct timing {
    double wall, cpu;
} timing;

static void timing_update(timing *t, double w0, double c0, int inner) {
    t->wall = fmin(t->wall, (hq_time_now() - w0) / inner);
    t->cpu = fmin(t->cpu, (cpu_now() - c0) / inner);
}

static hq_noise_model *device_model(void) {
    hq_noise_model *m;
    if (hq_noise_create(0, &m)) return NULL;
    hq_noise_qubit q = hq_noise_qubit_unset();
    q.t1_us = 120;
    q.t2_us = 90;
    q.prob_meas0_prep1 = 0.03;
    q.prob_meas1_prep0 = 0.015;
    hq_noise_set_default_qubit(m, &q);
    hq_noise_set_default_gate(m, 1, 3e-4, 36);
    hq_noise_set_default_gate(m, 2, 8e-3, 400);
    hq_noise_gate rz = {HQ_GATE_RZ, 0, {-1, -1, -1}, 0, 0};
    hq_noise_set_gate(m, &rz);
    return m;
}

/* 100 gates on 10 qubits: 60 one-qubit (sx, x, rz, h, u3 mixed), 40 cx on random pairs */
static hq_circuit *bench_circuit(int n, int n_gates) {
    hq_circuit *c;
    if (hq_circuit_create(&c) || hq_circuit_add_qreg(c, "q", n, NULL)) return NULL;
    hq_rng r;
    hq_rng_init(&r, 42, 0, 0);
    for (int i = 0; i < n_gates; i++) {
        if (i % 5 == 1 || i % 5 == 3) {
            int a = (int)hq_rng_below(&r, (uint64_t)n), b;
            do b = (int)hq_rng_below(&r, (uint64_t)n);
            while (b == a);
            hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){a, b}, NULL);
        } else {
            static const hq_gate g1[] = {HQ_GATE_SX, HQ_GATE_RZ, HQ_GATE_X, HQ_GATE_H, HQ_GATE_U3};
            hq_gate g = g1[hq_rng_below(&r, 5)];
            double p[3] = {hq_rng_uniform(&r), hq_rng_uniform(&r), hq_rng_uniform(&r)};
            hq_circuit_add_gate(c, g, (int[]){(int)hq_rng_below(&r, (uint64_t)n)}, p);
        }
    }
    return c;
}

/* The default HQCNN circuit (DESIGN.md), L = 2, with fixed angles, measured. */
static hq_circuit *hqcnn_circuit(void) {
    hq_circuit *c;
    hq_circuit_create(&c);
    hq_circuit_add_qreg(c, "q", 4, NULL);
    hq_circuit_add_creg(c, "c", 4, NULL);
    for (int q = 0; q < 4; q++) {
        hq_circuit_add_gate(c, HQ_GATE_H, &q, NULL);
        hq_circuit_add_gate(c, HQ_GATE_RY, &q, (double[]){0.3 + q});
    }
    for (int l = 0; l < 2; l++) {
        for (int q = 0; q < 4; q++)
            hq_circuit_add_gate(c, HQ_GATE_U3, &q, (double[]){0.1, 0.2, 0.3});
        for (int q = 0; q < 4; q++)
            hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){q, (q + 1) % 4}, NULL);
        for (int q = 0; q < 4; q++)
            hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(q + 3) % 4, (q + 1) % 4, q}, NULL);
        for (int q = 0; q < 4; q++) {
            hq_circuit_add_gate(c, HQ_GATE_H, &q, NULL);
            for (int j = q + 1; j < 4; j++)
                hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){j, q}, (double[]){0.4});
        }
    }
    for (int q = 0; q < 4; q++) hq_circuit_add_measure(c, q, q);
    return c;
}

typedef enum op_kind {
    OP_H,
    OP_RZ,
    OP_CX,
    OP_RXX,
    OP_CCX,
    OP_NOISY_SX,
    OP_NOISY_CX,
    OP_DEPOL1,
    OP_AMP_DAMP,
    OP_THERMAL,
    OP_DEPOL2,
    OP_KRAUS1,
    OP_H_LOW,
    OP_RXX_LOW,
    OP_COUNT
} op_kind;

static const char *op_name[OP_COUNT] = {"gate_1q_h",
                                        "gate_1q_rz_diag",
                                        "gate_2q_cx_perm",
                                        "gate_2q_rxx_dense",
                                        "gate_3q_ccx",
                                        "noisy_1q_sx",
                                        "noisy_2q_cx",
                                        "chan_depolarizing_1q",
                                        "chan_amp_damp",
                                        "chan_thermal_relax",
                                        "chan_depolarizing_2q",
                                        "chan_kraus_1q",
                                        "gate_1q_h_bit0",
                                        "gate_2q_rxx_dense_bits01"};

static void run_op(hq_dm *dm, op_kind k, int n, const hq_noise_model *m, hq_circuit *const *cc) {
    int a = n / 2, b = n - 1, c0 = 1;
    const hq_cplx kr[8] = {1, 0, 0, 0.8, 0, 0.6, 0, 0}; /* amplitude damping γ = 0.36 */
    switch (k) {
    case OP_H: hq_dm_apply_gate(dm, HQ_GATE_H, &a, NULL); break;
    case OP_RZ: hq_dm_apply_gate(dm, HQ_GATE_RZ, &a, (double[]){0.3}); break;
    case OP_CX: hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){a, b}, NULL); break;
    case OP_RXX: hq_dm_apply_gate(dm, HQ_GATE_RXX, (int[]){a, b}, (double[]){0.3}); break;
    case OP_CCX: hq_dm_apply_gate(dm, HQ_GATE_CCX, (int[]){c0, a, b}, NULL); break;
    case OP_NOISY_SX: hq_dm_apply_circuit(dm, cc[0], NULL, m, NULL, false); break;
    case OP_NOISY_CX: hq_dm_apply_circuit(dm, cc[1], NULL, m, NULL, false); break;
    case OP_DEPOL1: hq_dm_apply_depolarizing(dm, a, 0.01); break;
    case OP_AMP_DAMP: hq_dm_apply_amplitude_damping(dm, a, 0.01); break;
    case OP_THERMAL: hq_dm_apply_thermal_relaxation(dm, a, 100, 80, 0.4, 0); break;
    case OP_DEPOL2: hq_dm_apply_depolarizing2(dm, a, b, 0.01); break;
    case OP_KRAUS1: hq_dm_apply_kraus(dm, kr, 2, &a, 1); break;
    case OP_H_LOW: hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){0}, NULL); break;
    case OP_RXX_LOW: hq_dm_apply_gate(dm, HQ_GATE_RXX, (int[]){0, 1}, (double[]){0.3}); break;
    default: break;
    }
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    hq_noise_model *m = device_model();
    if (!m) return 1;

    /* ---- the 10-qubit noisy circuit ---- */
    {
        const int n = 10, n_gates = 100, reps = quick ? 2 : 5;
        hq_circuit *c = bench_circuit(n, n_gates);
        if (!c) return 1;
        timing noisy = {INFINITY, INFINITY}, ideal = noisy, run = noisy;
        hq_dm *dm;
        if (hq_dm_create(n, &dm)) {
            fprintf(stderr, "%s\n", hq_last_error());
            return 1;
        }
        for (int r = 0; r < reps; r++) {
            hq_dm_init_zero(dm);
            double w0 = hq_time_now(), c0 = cpu_now();
            hq_dm_apply_circuit(dm, c, NULL, m, NULL, false);
            timing_update(&noisy, w0, c0, 1);
            hq_dm_init_zero(dm);
            w0 = hq_time_now(), c0 = cpu_now();
            hq_dm_apply_circuit(dm, c, NULL, NULL, NULL, false);
            timing_update(&ideal, w0, c0, 1);
        }
        for (int r = 0; r < reps; r++) { /* the whole run: circuit + final sampling */
            hq_counts cnt;
            double w0 = hq_time_now(), c0 = cpu_now();
            hq_dm_run(c, NULL, m, NULL, 4000, 1, (uint64_t)r, &cnt);
            timing_update(&run, w0, c0, 1);
            hq_counts_free(&cnt);
        }
        printf("{\"bench\":\"dm_noisy_circuit\",\"n_qubits\":%d,\"gates\":%d,\"gates_1q\":60,"
               "\"gates_2q\":40,\"noise\":\"device (T1/T2 relaxation + depolarizing)\","
               "\"wall_s\":%.4f,\"cpu_s\":%.4f,\"ideal_wall_s\":%.4f,\"ideal_cpu_s\":%.4f,"
               "\"run_4000_shots_wall_s\":%.4f,\"run_4000_shots_cpu_s\":%.4f,\"reps\":%d}\n",
               n, n_gates, noisy.wall, noisy.cpu, ideal.wall, ideal.cpu, run.wall, run.cpu, reps);
        fflush(stdout);
        hq_dm_free(dm);
        hq_circuit_free(c);
    }

    /* ---- per-operation times ---- */
    hq_circuit *cc[2];
    for (int n = 8; n <= 12; n += 2) {
        hq_circuit_create(&cc[0]);
        hq_circuit_add_qreg(cc[0], "q", n, NULL);
        hq_circuit_add_gate(cc[0], HQ_GATE_SX, (int[]){n / 2}, NULL);
        hq_circuit_create(&cc[1]);
        hq_circuit_add_qreg(cc[1], "q", n, NULL);
        hq_circuit_add_gate(cc[1], HQ_GATE_CX, (int[]){n / 2, n - 1}, NULL);
        hq_dm *dm;
        if (hq_dm_create(n, &dm)) {
            fprintf(stderr, "%s\n", hq_last_error());
            return 1;
        }
        hq_dm_init_mixed(dm);
        int reps = quick ? 2 : (n == 12 ? 4 : 8), inner = n == 8 ? 20 : n == 10 ? 4 : 1;
        for (int k = 0; k < OP_COUNT; k++) {
            timing t = {INFINITY, INFINITY};
            for (int r = 0; r < reps; r++) {
                double w0 = hq_time_now(), c0 = cpu_now();
                for (int i = 0; i < inner; i++) run_op(dm, (op_kind)k, n, m, cc);
                timing_update(&t, w0, c0, inner);
            }
            printf("{\"bench\":\"dm_op\",\"op\":\"%s\",\"n_qubits\":%d,\"wall_ms\":%.4f,"
                   "\"cpu_ms\":%.4f,\"cpu_ns_per_entry\":%.3f}\n",
                   op_name[k], n, t.wall * 1e3, t.cpu * 1e3,
                   t.cpu * 1e9 / (double)((int64_t)1 << (2 * n)));
            fflush(stdout);
        }
        hq_dm_free(dm);
        hq_circuit_free(cc[0]);
        hq_circuit_free(cc[1]);
    }
    hq_noise_free(m);

    /* ---- a 4-qubit HQCNN circuit on ibmq_manila's noise ---- */
    {
        const char *shared = getenv("HQCNN_SHARED");
        char conf[1024], props[1024];
        snprintf(conf, sizeof conf, "%s/data/ibm_backends/conf_manila.json",
                 shared ? shared : "../shared");
        snprintf(props, sizeof props, "%s/data/ibm_backends/props_manila.json",
                 shared ? shared : "../shared");
        hq_device *dev;
        if (hq_device_load_ibm(conf, props, &dev) || hq_noise_from_device(dev, &m)) {
            fprintf(stderr, "manila model: %s\n", hq_last_error());
            return 1;
        }
        hq_device_free(dev);
        hq_circuit *c = hqcnn_circuit();
        timing ideal = {INFINITY, INFINITY}, noisy = ideal;
        const int inner = quick ? 20 : 200;
        for (int r = 0; r < (quick ? 2 : 5); r++)
            for (int noise = 0; noise < 2; noise++) {
                double w0 = hq_time_now(), c0 = cpu_now();
                for (int i = 0; i < inner; i++) {
                    hq_dm_dist dist;
                    hq_dm_run_probs(c, NULL, noise ? m : NULL, NULL, &dist);
                    hq_dm_dist_free(&dist);
                }
                timing_update(noise ? &noisy : &ideal, w0, c0, inner);
            }
        printf("{\"bench\":\"dm_hqcnn_4q_manila\",\"ops\":%lld,\"ideal_cpu_us\":%.1f,"
               "\"noisy_cpu_us\":%.1f,\"noisy_wall_us\":%.1f}\n",
               (long long)hq_circuit_n_ops(c), ideal.cpu * 1e6, noisy.cpu * 1e6, noisy.wall * 1e6);
        hq_circuit_free(c);
        hq_noise_free(m);
    }
    return 0;
}
