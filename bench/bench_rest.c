/*
 * bench/bench_rest.c — the REST backends' numbers (JSON lines; run from the repository
 * root, devices from $HQCNN_SHARED or ../shared):
 *
 *   {"bench":"rest_hqcnn_isa","device":..,"twoq_gate":..,"twoq":..,"sx":..,"x":..,"rz":..,
 *    "depth":..,"layout":[..],"compile_ms":..}
 *       the HQCNN circuit (configs/hqcnn-default.json, symbolic, measured in the Z basis) as
 *       the "emulator-ibm" backend compiles and SENDS it to an emulator serving that
 *       device (ibmq_manila, ibm_nairobi, ibm_sherbrooke, ibm_fez): gates counted in the
 *       OpenQASM 3 text parsed back, not taken from the transpiler's own statistics;
 *   {"bench":"rest_hqcnn_ionq","gateset":..,"twoq":..,"oneq":..,"depth":..}
 *       the same circuit (bound) compiled for IonQ;
 *   {"bench":"rest_eval_breastmnist","backend":"emulator-ibm","shots":1000,"images":156,
 *    "circuits":312,"jobs":..,"http_requests":..,"wall_s":..,"exact_eval_s":..,
 *    "emulator_busy_s":..,"overhead_per_job_s":..,"poll_latency_mean_s":..,
 *    "poll_latency_max_s":..,"client_cpu_s":..,"exact_cpu_s":..,"client_cpu_per_job_s":..}
 *       one evaluation pass over the BreastMNIST test split (156 images x 2 bases) through
 *       emulator-ibm (no queue delay, fresh evaluation cache), wall time end to end, in a
 *       run with max_circuits_per_job as given. Measured:
 *         exact_eval_s     the same pass on the exact simulator (data, model, CNN);
 *         emulator_busy_s  time the emulator's single worker spent executing the jobs (the
 *                          union of their execution intervals: jobs never run at once);
 *         overhead_per_job_s = (wall - exact_eval - emulator_busy) / jobs: the wall time
 *                          not explained by the model or by execution — REST client, HTTP,
 *                          executor, job database and waiting for polls;
 *         poll_latency_*   from a job's end_time to the client's first status read that
 *                          saw it finished (recorded by the emulator);
 *         http_requests    IBM and IAM requests the emulator received;
 *         client_cpu_s     CPU time of the evaluating thread (client, executor, database,
 *                          model; the emulator runs in other threads), exact_cpu_s the same
 *                          for the exact pass, client_cpu_per_job_s their difference / jobs.
 * Best of several runs (the machine may be shared).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "backends/emulator/emulator.h"
#include "backends/qasm.h"
#include "backends/rest_impl.h"
#include "nn/model.h"
#include "orchestrator/train.h"

#define KEY "bench-rest-key"

static hq_circuit *hqcnn_measured(void) {
    char *json = NULL;
    size_t len;
    if (hq_file_read("configs/hqcnn-default.json", 0, &json, &len)) return NULL;
    hq_model *m = NULL;
    hq_status st = hq_model_create(json, NULL, &m);
    hq_free(json);
    if (st) return NULL;
    hq_circuit *c = NULL;
    const hq_circuit *t = hq_model_quantum_circuit(m);
    if (t && hq_circuit_copy(t, &c) == HQ_OK) {
        int n = hq_circuit_n_qubits(c);
        hq_circuit_add_creg(c, "meas", n, NULL);
        for (int q = 0; q < n; q++) hq_circuit_add_measure(c, q, q);
    }
    hq_model_free(m);
    return c;
}

static hq_emulator *start_emu(const char *conf, const char *props) {
    hq_emulator_options o = hq_emulator_default_options(HQ_EMU_PROFILE_IBM);
    o.ionq_api_key = o.ibm_api_key = KEY;
    o.queue_delay_ms = o.run_delay_ms = 0;
    o.device_conf = conf;
    o.device_props = props;
    hq_emulator *e = NULL;
    if (hq_emulator_start(&o, &e) != HQ_OK) {
        fprintf(stderr, "bench_rest: emulator: %s\n", hq_last_error());
        return NULL;
    }
    return e;
}

static void isa_bench(const char *shared, const char *dev, const char *name) {
    char conf[1024], props[1024];
    snprintf(conf, sizeof conf, "%s/data/ibm_backends/conf_%s.json", shared, dev);
    snprintf(props, sizeof props, "%s/data/ibm_backends/props_%s.json", shared, dev);
    hq_emulator *e = start_emu(conf, props);
    hq_circuit *c = hqcnn_measured();
    if (!e || !c) {
        printf("{\"bench\":\"rest_hqcnn_isa\",\"device\":\"%s\",\"error\":\"setup failed\"}\n",
               dev);
        hq_emulator_stop(e);
        hq_circuit_free(c);
        return;
    }
    char opts[256];
    double best = INFINITY;
    hq_sbuf q = HQ_SBUF_INIT;
    hq_transpile_stats ts;
    hq_status st = HQ_OK;
    for (int rep = 0; rep < 3 && st == HQ_OK; rep++) {
        snprintf(opts, sizeof opts, "{\"port\":%d,\"backend\":\"%s\"}", hq_emulator_port(e), name);
        hq_backend *b = NULL;
        st = hq_backend_create("emulator-ibm", opts, &b);
        hq_sbuf_reset(&q);
        char cal[HQ_CALIB_ID_MAX];
        if (st == HQ_OK) st = hq_backend_calibration(b, cal, NULL); /* device fetched */
        double t0 = hq_time_now();
        if (st == HQ_OK) st = hq_rest_ibm_compile(b, c, &q, &ts);
        best = fmin(best, hq_time_now() - t0);
        hq_backend_free(b);
    }
    hq_circuit *p = NULL;
    if (st == HQ_OK) st = hq_qasm_parse_string(q.p, q.len, "isa", NULL, &p);
    if (st) {
        printf("{\"bench\":\"rest_hqcnn_isa\",\"device\":\"%s\",\"error\":\"%s\"}\n", dev,
               hq_last_error());
    } else {
        hq_gate g2 = hq_circuit_count_gate(p, HQ_GATE_ECR)  ? HQ_GATE_ECR
                     : hq_circuit_count_gate(p, HQ_GATE_CZ) ? HQ_GATE_CZ
                                                            : HQ_GATE_CX;
        /* the physical qubits the logical ones are measured from */
        int lay[4] = {-1, -1, -1, -1};
        const hq_op *ops = hq_circuit_ops(p);
        for (int64_t i = 0; i < hq_circuit_n_ops(p); i++)
            if (ops[i].gate == HQ_GATE_MEASURE && ops[i].clbit < 4) lay[ops[i].clbit] = ops[i].q[0];
        printf("{\"bench\":\"rest_hqcnn_isa\",\"device\":\"%s\",\"twoq_gate\":\"%s\",\"twoq\":%lld,"
               "\"sx\":%lld,\"x\":%lld,\"rz\":%lld,\"depth\":%lld,\"parameters\":%d,"
               "\"measured_from\":[%d,%d,%d,%d],\"compile_ms\":%.2f}\n",
               dev, hq_gate_get_info(g2)->name, (long long)hq_circuit_count_gate(p, g2),
               (long long)hq_circuit_count_gate(p, HQ_GATE_SX),
               (long long)hq_circuit_count_gate(p, HQ_GATE_X),
               (long long)hq_circuit_count_gate(p, HQ_GATE_RZ), (long long)hq_circuit_depth(p),
               hq_circuit_n_symbols(p), lay[0], lay[1], lay[2], lay[3], best * 1e3);
    }
    fflush(stdout);
    hq_circuit_free(p);
    hq_sbuf_free(&q);
    hq_circuit_free(c);
    hq_emulator_stop(e);
}

static void ionq_bench(void) {
    hq_circuit *c = hqcnn_measured();
    if (!c) return;
    int ns = hq_circuit_n_symbols(c);
    double *v = hq_calloc((size_t)ns + 1, sizeof *v);
    for (int k = 0; k < ns; k++) v[k] = 0.1 + 0.05 * k;
    hq_circuit *bound = NULL;
    if (v && hq_circuit_bind(c, v, &bound) == HQ_OK) {
        for (int gs = 0; gs < 2; gs++) {
            hq_transpile_result r;
            if (hq_transpile_ionq(bound, (hq_ionq_gateset)gs, 0, NULL, &r) != HQ_OK) continue;
            int64_t twoq = 0, oneq = 0;
            const hq_op *ops = hq_circuit_ops(r.circuit);
            for (int64_t i = 0; i < hq_circuit_n_ops(r.circuit); i++) {
                const hq_gate_info *gi = hq_gate_get_info((hq_gate)ops[i].gate);
                if (gi->kind != HQ_KIND_UNITARY) continue;
                if (gi->nq >= 2)
                    twoq++;
                else
                    oneq++;
            }
            printf(
                "{\"bench\":\"rest_hqcnn_ionq\",\"gateset\":\"%s\",\"multiq\":%lld,\"oneq\":%lld,"
                "\"depth\":%lld}\n",
                gs == HQ_IONQ_NATIVE ? "native" : "qis", (long long)twoq, (long long)oneq,
                (long long)hq_circuit_depth(r.circuit));
            hq_transpile_result_free(&r);
        }
    }
    hq_circuit_free(bound);
    hq_free(v);
    hq_circuit_free(c);
}

/* CPU seconds of the calling thread */
static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int copy_file(const char *from, const char *to) {
    char *d = NULL;
    size_t n = 0;
    if (hq_file_read(from, 0, &d, &n)) return -1;
    hq_status st = hq_file_write_atomic(to, d, n);
    hq_free(d);
    return st ? -1 : 0;
}

static void eval_bench(int max_circuits) {
    char tmpl[] = "/tmp/hqcnn-bench-rest-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    if (!dir) return;
    char db[600], db2[600], out[600];
    snprintf(db, sizeof db, "%s/train.db", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    /* weights: one short exact training run */
    char *model = NULL;
    size_t len;
    if (hq_file_read("configs/hqcnn-default.json", 0, &model, &len)) return;
    hq_sbuf cfg = HQ_SBUF_INIT;
    hq_sbuf_printf(&cfg,
                   "{\"name\":\"b\",\"dataset\":\"breastmnist\",\"data_dir\":\"data\",\"model\":%s,"
                   "\"train\":{\"epochs\":1,\"batch_size\":16,\"seed\":1,\"threads\":1,"
                   "\"subset\":{\"train\":32,\"val\":16,\"test\":16}},\"quantum\":{\"backend\":"
                   "\"sv\"}}",
                   model);
    hq_free(model);
    hq_train_config c;
    hq_train_result tr;
    hq_train_opts to = {.db_path = db, .out_dir = out, .run_name = "b", .quiet = true};
    if (hq_train_config_parse(cfg.p, ".", &c) != HQ_OK || hq_train_new(&c, &to, &tr) != HQ_OK) {
        printf("{\"bench\":\"rest_eval_breastmnist\",\"error\":\"%s\"}\n", hq_last_error());
        hq_sbuf_free(&cfg);
        return;
    }
    hq_train_config_free(&c);
    hq_sbuf_free(&cfg);
    double best_wall = INFINITY, best_exact = INFINITY, best_exact_cpu = INFINITY;
    double best_cpu = INFINITY;
    hq_emulator_stats best = {0};
    int64_t n_img = 0;
    for (int rep = 0; rep < 5; rep++) {
        /* exact pass: the same data, model and CNN work without the backend */
        hq_eval_opts eo = {.db_path = db, .data_dir = "data", .threads = 1};
        hq_metrics m;
        char ds[64];
        double t0 = hq_time_now(), c0 = thread_cpu();
        if (hq_eval_run("b", HQ_SPLIT_TEST, &eo, &m, NULL, NULL, ds, sizeof ds) == HQ_OK) {
            best_exact = fmin(best_exact, hq_time_now() - t0);
            best_exact_cpu = fmin(best_exact_cpu, thread_cpu() - c0);
        }
        /* through the emulator, with a fresh evaluation cache */
        snprintf(db2, sizeof db2, "%s/eval%d.db", dir, rep);
        if (copy_file(db, db2)) continue;
        hq_emulator *e = start_emu(NULL, NULL);
        if (!e) return;
        char opts[128];
        snprintf(opts, sizeof opts, "{\"port\":%d,\"max_circuits\":%d}", hq_emulator_port(e),
                 max_circuits);
        hq_eval_opts ee = {.db_path = db2,
                           .data_dir = "data",
                           .backend = "emulator-ibm",
                           .backend_options = opts,
                           .shots = 1000,
                           .threads = 1};
        t0 = hq_time_now();
        c0 = thread_cpu();
        hq_status st = hq_eval_run("b", HQ_SPLIT_TEST, &ee, &m, NULL, NULL, ds, sizeof ds);
        double wall = hq_time_now() - t0, cpu = thread_cpu() - c0;
        if (st) {
            printf("{\"bench\":\"rest_eval_breastmnist\",\"error\":\"%s\"}\n", hq_last_error());
            hq_emulator_stop(e);
            return;
        }
        best_cpu = fmin(best_cpu, cpu);
        if (wall < best_wall) {
            best_wall = wall;
            hq_emulator_get_stats(e, &best);
            n_img = m.n;
        }
        hq_emulator_stop(e);
    }
    int64_t jobs = best.jobs_accepted;
    double over = jobs ? (best_wall - best_exact - best.exec_busy_s) / (double)jobs : NAN;
    double cpu_job = jobs ? (best_cpu - best_exact_cpu) / (double)jobs : NAN;
    double lat = best.jobs_noticed ? best.notice_delay_sum_s / (double)best.jobs_noticed : NAN;
    printf("{\"bench\":\"rest_eval_breastmnist\",\"backend\":\"emulator-ibm\",\"shots\":1000,"
           "\"images\":%lld,\"circuits\":%lld,\"max_circuits_per_job\":%d,\"jobs\":%lld,"
           "\"http_requests\":%lld,\"wall_s\":%.3f,\"exact_eval_s\":%.3f,\"emulator_busy_s\":%.3f,"
           "\"overhead_per_job_s\":%.3f,\"poll_latency_mean_s\":%.3f,\"poll_latency_max_s\":%.3f,"
           "\"client_cpu_s\":%.3f,\"exact_cpu_s\":%.3f,\"client_cpu_per_job_s\":%.4f}\n",
           (long long)n_img, (long long)(2 * n_img), max_circuits, (long long)jobs,
           (long long)best.requests_ibm, best_wall, best_exact, best.exec_busy_s, over, lat,
           best.notice_delay_max_s, best_cpu, best_exact_cpu, cpu_job);
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : getenv("HQCNN_SHARED");
    if (!shared) shared = "../shared";
    setenv("IBM_QUANTUM_API_KEY", KEY, 1);
    setenv("IONQ_API_KEY", KEY, 1);
    hq_log_set_level(HQ_LOG_WARN);
    static const struct {
        const char *dev, *name;
    } devs[] = {{"manila", "ibmq_manila"},
                {"nairobi", "ibm_nairobi"},
                {"sherbrooke", "ibm_sherbrooke"},
                {"fez", "ibm_fez"}};
    for (size_t i = 0; i < HQ_ARRAY_LEN(devs); i++) isa_bench(shared, devs[i].dev, devs[i].name);
    ionq_bench();
    eval_bench(10000);
    eval_bench(64);
    return 0;
}
