/*
 * bench/bench_transpile.c — what the transpiler makes of the HQCNN circuit (and of a few
 * QASMBench circuits when the OpenQASM parser is built in) on the IBM snapshots and for
 * IonQ: gate counts per kind and depth before / after, SWAPs, layout, estimated fidelity
 * from the calibration, and transpile time (best of several runs). One JSON line per
 * (circuit, target).
 *
 *     build/bench/bench_transpile [SHARED_DIR]     (default $HQCNN_SHARED or ../shared)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/device.h"
#include "backends/transpile.h"
#include "core/core.h"

#if __has_include("backends/qasm.h")
#include "backends/qasm.h"
#define HAVE_QASM 1
#endif

#define RUNS 5

/* the HQCNN template of DESIGN.md (n = 4, L = 2), symbolic, measured in the Z basis */
static hq_circuit *hqcnn(void) {
    const int n = 4, L = 2;
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_status st = hq_circuit_add_qreg(c, "q", n, NULL);
    if (!st) st = hq_circuit_add_creg(c, "c", n, NULL);
    char nm[48];
    int s = 0;
    for (int i = 0; i < n && !st; i++) {
        snprintf(nm, sizeof nm, "x%d", i);
        st = hq_circuit_add_symbol(c, nm, HQ_SYM_INPUT, NULL);
        s++;
    }
    for (int i = 0; i < n && !st; i++) {
        st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        if (!st)
            st = hq_circuit_add_gate_sym(c, HQ_GATE_RY, &i, (hq_angle[]){hq_angle_sym(i, 1, 0)});
    }
    for (int l = 0; l < L && !st; l++) {
        for (int i = 0; i < n && !st; i++) {
            hq_angle a[3];
            for (int k = 0; k < 3 && !st; k++) {
                snprintf(nm, sizeof nm, "u%d_%d_%d", l, i, k);
                st = hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL);
                a[k] = hq_angle_sym(s++, 1, 0);
            }
            if (!st) st = hq_circuit_add_gate_sym(c, HQ_GATE_U3, &i, a);
        }
        for (int i = 0; i < n && !st; i++)
            st = hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){i, (i + 1) % n}, NULL);
        for (int i = 0; i < n && !st; i++)
            st =
                hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + n - 1) % n, (i + 1) % n, i}, NULL);
        for (int i = 0; i < n && !st; i++) {
            st = hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            for (int j = i + 1; j < n && !st; j++) {
                snprintf(nm, sizeof nm, "a%d_%d_%d", l, i, j);
                st = hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL);
                if (!st)
                    st = hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){j, i},
                                                 (hq_angle[]){hq_angle_sym(s++, 1, 0)});
            }
        }
    }
    for (int i = 0; i < n && !st; i++) st = hq_circuit_add_measure(c, i, i);
    if (st) {
        hq_circuit_free(c);
        return NULL;
    }
    return c;
}

static void put_counts(const hq_circuit *c) {
    printf("{");
    bool first = true;
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        int64_t k = hq_circuit_count_gate(c, (hq_gate)g);
        if (!k) continue;
        printf("%s\"%s\":%lld", first ? "" : ",", hq_gate_get_info((hq_gate)g)->name, (long long)k);
        first = false;
    }
    printf("}");
}

/* transpile RUNS times, report the best time and the last result */
static void bench_one(const char *circ_name, const hq_circuit *c, const hq_device *d,
                      hq_ionq_gateset gs) {
    hq_transpile_result r = {0};
    double best = INFINITY;
    for (int run = 0; run < RUNS; run++) {
        hq_transpile_result_free(&r);
        double t0 = hq_time_now();
        hq_status st = d ? hq_transpile_ibm(c, d, NULL, &r) : hq_transpile_ionq(c, gs, 0, NULL, &r);
        double t = hq_time_now() - t0;
        if (st) {
            printf("{\"bench\":\"transpile\",\"circuit\":\"%s\",\"target\":\"%s\",\"error\":",
                   circ_name, d ? d->name : "ionq");
            hq_sbuf b = HQ_SBUF_INIT;
            hq_sbuf_put_json_str(&b, hq_last_error());
            printf("%s}\n", b.p ? b.p : "\"\"");
            hq_sbuf_free(&b);
            return;
        }
        best = fmin(best, t);
    }
    printf("{\"bench\":\"transpile\",\"circuit\":\"%s\",\"target\":\"%s\",\"qubits\":%d,",
           circ_name,
           d                      ? d->name
           : gs == HQ_IONQ_NATIVE ? "ionq-native"
                                  : "ionq-qis",
           r.n_logical);
    printf("\"ops_in\":%lld,\"depth_in\":%lld,\"counts_in\":", (long long)r.stats.ops_in,
           (long long)r.stats.depth_in);
    put_counts(c);
    printf(",\"cx_after_lowering\":%lld,\"ops_out\":%lld,\"depth_out\":%lld,\"twoq_out\":%lld,"
           "\"oneq_out\":%lld,\"counts_out\":",
           (long long)r.stats.twoq_in, (long long)r.stats.ops_out, (long long)r.stats.depth_out,
           (long long)r.stats.twoq_out, (long long)r.stats.oneq_out);
    put_counts(r.circuit);
    printf(",\"swaps\":%lld,\"layout\":[", (long long)r.stats.swaps);
    for (int i = 0; i < r.n_logical; i++) printf("%s%d", i ? "," : "", r.initial_layout[i]);
    printf("],\"final_layout\":[");
    for (int i = 0; i < r.n_logical; i++) printf("%s%d", i ? "," : "", r.final_layout[i]);
    printf("],\"layout_exact\":%s,\"layout_nodes\":%lld,\"layout_cost\":%.6g,",
           r.stats.layout_exact ? "true" : "false", (long long)r.stats.layout_nodes,
           r.stats.layout_cost);
    if (d)
        printf("\"est_fidelity\":%.6g,", r.stats.est_fidelity);
    else
        printf("\"est_fidelity\":null,");
    printf("\"seconds\":%.6f}\n", best);
    fflush(stdout);
    hq_transpile_result_free(&r);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : getenv("HQCNN_SHARED");
    if (!shared) shared = "../shared";
    const char *devs[] = {"manila", "nairobi", "sherbrooke", "fez"};
    hq_device *dev[4] = {0};
    for (int i = 0; i < 4; i++) {
        char conf[1024], props[1024];
        snprintf(conf, sizeof conf, "%s/data/ibm_backends/conf_%s.json", shared, devs[i]);
        snprintf(props, sizeof props, "%s/data/ibm_backends/props_%s.json", shared, devs[i]);
        if (hq_device_load_ibm(conf, props, &dev[i]) != HQ_OK) {
            fprintf(stderr, "bench_transpile: %s\n", hq_last_error());
            return 1;
        }
    }
    struct {
        const char *name;
        hq_circuit *c;
    } circs[16] = {{"hqcnn", hqcnn()}};
    int nc = 1;
#ifdef HAVE_QASM
    const char *qb[] = {"adder_n4",   "qft_n4",     "grover_n2",        "hs4_n4",  "bell_n4",
                        "fredkin_n3", "toffoli_n3", "basis_trotter_n4", "qaoa_n6", "hhl_n7"};
    for (size_t i = 0; i < sizeof qb / sizeof *qb; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/data/qasmbench_small/%s.qasm", shared, qb[i]);
        hq_circuit *c = NULL;
        if (hq_qasm_parse_file(path, &c) != HQ_OK) {
            fprintf(stderr, "bench_transpile: skipping %s: %s\n", qb[i], hq_last_error());
            continue;
        }
        circs[nc].name = qb[i];
        circs[nc++].c = c;
    }
#endif
    if (!circs[0].c) {
        fprintf(stderr, "bench_transpile: building the HQCNN circuit failed: %s\n",
                hq_last_error());
        return 1;
    }
    for (int k = 0; k < nc; k++) {
        for (int i = 0; i < 4; i++) bench_one(circs[k].name, circs[k].c, dev[i], HQ_IONQ_NATIVE);
        bench_one(circs[k].name, circs[k].c, NULL, HQ_IONQ_NATIVE);
        bench_one(circs[k].name, circs[k].c, NULL, HQ_IONQ_QIS);
        hq_circuit_free(circs[k].c);
    }
    for (int i = 0; i < 4; i++) hq_device_free(dev[i]);
    return 0;
}
