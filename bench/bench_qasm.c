/*
 * bench/bench_qasm.c — OpenQASM parse and write throughput (JSON lines on stdout).
 *
 *   {"bench":"qasm_parse","file":"hhl_n10.qasm","bytes":...,"ops":...,"seconds":...,
 *    "cpu_seconds":...,"mb_per_s":...,"ops_per_s":...}
 *   {"bench":"qasm_parse_folder","folder":"qasmbench_small","files":91,"bytes":...,...}
 *   {"bench":"qasm_write","file":"hhl_n10.qasm","version":3,"bytes":...,...}
 * Best of several runs; rates use CPU time (the machine may be shared). The folder pass
 * parses every .qasm in lenient mode (some QASMBench files measure undeclared registers).
 *
 * Data: $HQCNN_SHARED/data/qasmbench_small (default ../shared).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/qasm.h"

#define REPS 7

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *shared_dir(void) {
    const char *s = getenv("HQCNN_SHARED");
    return s && *s ? s : "../shared";
}

static const hq_qasm_options lenient = {.lenient = true};

static void bench_file(const char *dir, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *src;
    size_t len;
    if (hq_file_read(path, 0, &src, &len) != HQ_OK) {
        printf("{\"bench\":\"qasm_parse\",\"file\":\"%s\",\"error\":\"not found\"}\n", name);
        return;
    }
    double best = 1e30, best_cpu = 1e30;
    int64_t ops = 0;
    hq_circuit *keep = NULL;
    for (int r = 0; r < REPS; r++) {
        hq_circuit *c;
        double t0 = hq_time_now(), c0 = cpu_now();
        hq_status st = hq_qasm_parse(src, len, name, &lenient, &c);
        double dt = hq_time_now() - t0, dc = cpu_now() - c0;
        if (st) {
            printf("{\"bench\":\"qasm_parse\",\"file\":\"%s\",\"error\":\"parse failed\"}\n", name);
            hq_free(src);
            return;
        }
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
        ops = hq_circuit_n_ops(c);
        if (!keep)
            keep = c;
        else
            hq_circuit_free(c);
    }
    printf("{\"bench\":\"qasm_parse\",\"file\":\"%s\",\"bytes\":%zu,\"ops\":%lld,\"seconds\":%.6f,"
           "\"cpu_seconds\":%.6f,\"mb_per_s\":%.1f,\"ops_per_s\":%.0f}\n",
           name, len, (long long)ops, best, best_cpu, (double)len / 1e6 / best_cpu,
           (double)ops / best_cpu);
    for (int v = 2; v <= 3; v++) {
        double wbest = 1e30;
        size_t out = 0;
        for (int r = 0; r < REPS; r++) {
            hq_sbuf b = HQ_SBUF_INIT;
            double c0 = cpu_now();
            hq_status st = hq_qasm_write(keep, v, 0, &b);
            double dc = cpu_now() - c0;
            out = b.len;
            hq_sbuf_free(&b);
            if (st) break;
            wbest = dc < wbest ? dc : wbest;
        }
        printf("{\"bench\":\"qasm_write\",\"file\":\"%s\",\"version\":%d,\"bytes\":%zu,"
               "\"cpu_seconds\":%.6f,\"mb_per_s\":%.1f,\"ops_per_s\":%.0f}\n",
               name, v, out, wbest, (double)out / 1e6 / wbest, (double)ops / wbest);
    }
    hq_circuit_free(keep);
    hq_free(src);
}

static void bench_folder(const char *dir, const char *label) {
    DIR *d = opendir(dir);
    if (!d) {
        printf("{\"bench\":\"qasm_parse_folder\",\"folder\":\"%s\",\"error\":\"not found\"}\n",
               label);
        return;
    }
    /* load every file once, then time the parses only */
    char *srcs[256];
    size_t lens[256];
    char names[256][256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l < 6 || l >= 250 || strcmp(e->d_name + l - 5, ".qasm")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (hq_file_read(path, 0, &srcs[n], &lens[n]) != HQ_OK) continue;
        snprintf(names[n], sizeof names[n], "%s", e->d_name);
        n++;
    }
    closedir(d);
    size_t bytes = 0;
    int64_t ops = 0;
    double best = 1e30, best_cpu = 1e30;
    int failed = 0;
    for (int r = 0; r < REPS; r++) {
        double t0 = hq_time_now(), c0 = cpu_now();
        bytes = 0;
        ops = 0;
        failed = 0;
        for (int i = 0; i < n; i++) {
            hq_qasm_options o = lenient;
            o.include_dir = dir;
            hq_circuit *c;
            if (hq_qasm_parse(srcs[i], lens[i], names[i], &o, &c) != HQ_OK) {
                failed++;
                continue;
            }
            bytes += lens[i];
            ops += hq_circuit_n_ops(c);
            hq_circuit_free(c);
        }
        double dt = hq_time_now() - t0, dc = cpu_now() - c0;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    printf("{\"bench\":\"qasm_parse_folder\",\"folder\":\"%s\",\"files\":%d,\"failed\":%d,"
           "\"bytes\":%zu,\"ops\":%lld,\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"mb_per_s\":%.1f,"
           "\"ms_per_file\":%.3f}\n",
           label, n, failed, bytes, (long long)ops, best, best_cpu, (double)bytes / 1e6 / best_cpu,
           1e3 * best_cpu / (n ? n : 1));
    for (int i = 0; i < n; i++) hq_free(srcs[i]);
}

int main(void) {
    hq_log_set_level(HQ_LOG_ERROR); /* the lenient-mode warnings */
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/data/qasmbench_small", shared_dir());
    bench_file(dir, "hhl_n10.qasm");
    bench_file(dir, "hhl_n10_transpiled.qasm");
    bench_folder(dir, "qasmbench_small");
    return 0;
}
