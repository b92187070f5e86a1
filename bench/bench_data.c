/*
 * bench/bench_data.c — MedMNIST loading and metrics throughput (JSON lines on stdout).
 *
 *   {"bench":"medmnist_load","dataset":"pneumoniamnist","split":"train","n":4708,
 *    "seconds":...,"cpu_seconds":...,"images_per_s":...,"mb_per_s":...}
 *   {"bench":"metrics_evaluate","task":"binary-class","n":1000000,"c":2,"seconds":...,...}
 * Best of several runs; rates use CPU time (the machine may be shared); MB counts the uint8
 * pixels decoded (each becomes one float32).
 *
 * Data: $HQCNN_SHARED/data/medmnist (default ../shared) and the project's data/ folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/rng.h"
#include "nn/medmnist.h"
#include "nn/metrics.h"

/* CPU seconds of this process: steadier than wall time on a shared machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_load(const char *name, hq_split split, const char *dir) {
    hq_medmnist_opts o = {0};
    o.data_dir = dir;
    double best = 1e30, best_cpu = 1e30;
    int64_t n = 0, bytes = 0;
    for (int rep = 0; rep < 5; rep++) {
        hq_dataset *d;
        double t0 = hq_time_now(), c0 = cpu_now();
        if (hq_medmnist_load(name, split, &o, &d) != HQ_OK) {
            printf("{\"bench\":\"medmnist_load\",\"dataset\":\"%s\",\"error\":\"not found\"}\n",
                   name);
            return;
        }
        double dt = hq_time_now() - t0, dc = cpu_now() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
        n = d->n;
        bytes = d->n * d->c * d->h * d->w;
        hq_dataset_free(d);
    }
    printf("{\"bench\":\"medmnist_load\",\"dataset\":\"%s\",\"split\":\"%s\",\"n\":%lld,"
           "\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"images_per_s\":%.0f,\"mb_per_s\":%.1f}\n",
           name, hq_split_str(split), (long long)n, best, best_cpu, (double)n / best_cpu,
           (double)bytes / 1e6 / best_cpu);
}

static void bench_auc(hq_task task, int64_t n, int c) {
    float *s = malloc((size_t)(n * c) * sizeof *s); /* lint: allow-raw (benchmark buffers) */
    int32_t *y =
        malloc((size_t)(task == HQ_TASK_MULTILABEL ? n * c : n) * sizeof *y); /* lint: allow-raw */
    if (!s || !y) return;
    hq_rng r;
    hq_rng_init(&r, 7, 0, 0);
    for (int64_t i = 0; i < n * c; i++) s[i] = hq_rng_uniformf(&r);
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)(hq_rng_u32(&r) % (uint32_t)(task == HQ_TASK_BINARY ? 2 : c));
    double best = 1e30, best_cpu = 1e30, auc = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = hq_time_now(), c0 = cpu_now();
        hq_metrics m;
        if (hq_metrics_evaluate(task, y, s, n, c, &m) != HQ_OK) break;
        double dt = hq_time_now() - t0, dc = cpu_now() - c0;
        auc = m.auc;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("{\"bench\":\"metrics_evaluate\",\"task\":\"%s\",\"n\":%lld,\"c\":%d,\"seconds\":%.6f,"
           "\"cpu_seconds\":%.6f,\"samples_per_s\":%.0f,\"auc\":%.4f}\n",
           hq_task_str(task), (long long)n, c, best, best_cpu, (double)n / best_cpu, auc);
    free(s); /* lint: allow-raw */
    free(y); /* lint: allow-raw */
}

int main(void) {
    const char *shared = getenv("HQCNN_SHARED");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/data/medmnist", shared && *shared ? shared : "../shared");
    bench_load("breastmnist", HQ_SPLIT_TRAIN, dir);
    bench_load("pneumoniamnist", HQ_SPLIT_TRAIN, dir);
    bench_load("retinamnist", HQ_SPLIT_TRAIN, dir);
    bench_auc(HQ_TASK_BINARY, 1000000, 2);
    bench_auc(HQ_TASK_MULTICLASS, 100000, 9);
    return 0;
}
