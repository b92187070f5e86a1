/*
 * bench/bench_emulator.c — the QPU emulator's throughput over loopback HTTP (JSON lines):
 *
 *   {"bench":"emulator_get","requests":..,"seconds":..,"requests_per_s":..}
 *       GET /v0.3/jobs/{id} on one keep-alive connection (routing, auth, rendering)
 *   {"bench":"emulator_ionq_roundtrip","qubits":4,"shots":1000,"seconds":..}
 *       submit a noisy 4-qubit job, poll until completed, fetch the results (no delays)
 *   {"bench":"emulator_ibm_results","shots":100000,"bytes":..,"seconds":..,"mb_per_s":..}
 *       GET the per-shot hex samples of a 100 000-shot pub
 *   {"bench":"emulator_persist_submit","jobs":..,"seconds_per_job":..}
 *       submissions with a state directory (each job written and fsynced before the reply)
 * Best of several runs (the machine may be shared).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/emulator/emulator.h"

#define KEY  "bench-key"
#define REPS 5

typedef struct buf {
    hq_sbuf b;
} buf;

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
    hq_sbuf_append(&((buf *)u)->b, p, sz * n);
    return sz * n;
}

/* One request on handle c; the body (NUL-terminated) in out->b. Returns the HTTP status. */
static long req(CURL *c, const char *method, const char *url, const char *body, buf *out) {
    hq_sbuf_reset(&out->b);
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: apiKey " KEY);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (!body) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    hq_sbuf_putc(&out->b, '\0');
    return status;
}

static void job_id(const buf *b, char *id) {
    const char *p = b->b.p ? strstr(b->b.p, "\"id\":\"") : NULL;
    id[0] = '\0';
    if (p) snprintf(id, 64, "%.*s", (int)strcspn(p + 6, "\""), p + 6);
}

static const char *IONQ_JOB =
    "{\"target\":\"qpu.aria-1\",\"shots\":1000,\"input\":{\"qubits\":4,\"circuit\":["
    "{\"gate\":\"h\",\"target\":0},{\"gate\":\"h\",\"target\":1},{\"gate\":\"h\",\"target\":2},"
    "{\"gate\":\"h\",\"target\":3},{\"gate\":\"ry\",\"target\":0,\"rotation\":0.3},"
    "{\"gate\":\"cnot\",\"control\":0,\"target\":1},{\"gate\":\"cnot\",\"control\":1,\"target\":2},"
    "{\"gate\":\"cnot\",\"control\":2,\"target\":3},{\"gate\":\"cnot\",\"control\":3,\"target\":0},"
    "{\"gate\":\"x\",\"controls\":[3,1],\"target\":0},{\"gate\":\"rz\",\"control\":1,\"target\":0,"
    "\"rotation\":0.4}]}}";

static hq_emulator *start(const char *state_dir) {
    hq_emulator_options o = hq_emulator_default_options(HQ_EMU_PROFILE_IONQ);
    o.ionq_api_key = o.ibm_api_key = KEY;
    o.queue_delay_ms = o.run_delay_ms = 0;
    o.state_dir = state_dir;
    hq_emulator *e = NULL;
    if (hq_emulator_start(&o, &e) != HQ_OK) {
        printf("{\"bench\":\"emulator\",\"error\":\"%s\"}\n", hq_last_error());
        return NULL;
    }
    return e;
}

static bool wait_done(CURL *c, const char *base, const char *id, buf *b) {
    char url[256];
    snprintf(url, sizeof url, "%s/v0.3/jobs/%s", base, id);
    for (int i = 0; i < 100000; i++) {
        if (req(c, "GET", url, NULL, b) != 200) return false;
        if (strstr(b->b.p, "\"status\":\"completed\"")) return true;
    }
    return false;
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    hq_log_set_level(HQ_LOG_WARN);
    hq_emulator *e = start(NULL);
    if (!e) return 1;
    const char *base = hq_emulator_url(e);
    CURL *c = curl_easy_init();
    buf b = {HQ_SBUF_INIT};
    char url[256], id[64];

    /* GET on one connection */
    snprintf(url, sizeof url, "%s/v0.3/jobs", base);
    req(c, "POST", url, IONQ_JOB, &b);
    job_id(&b, id);
    wait_done(c, base, id, &b);
    snprintf(url, sizeof url, "%s/v0.3/jobs/%s", base, id);
    const int n_get = 2000;
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = hq_time_now();
        for (int i = 0; i < n_get; i++) req(c, "GET", url, NULL, &b);
        double dt = hq_time_now() - t0;
        best = dt < best ? dt : best;
    }
    printf(
        "{\"bench\":\"emulator_get\",\"requests\":%d,\"seconds\":%.4f,\"requests_per_s\":%.0f}\n",
        n_get, best, n_get / best);

    /* submit -> completed -> results; a different rotation each time (no reuse) */
    best = 1e30;
    for (int r = 0; r < REPS; r++) {
        char body[2048];
        snprintf(body, sizeof body, "%s", IONQ_JOB);
        char *rot = strstr(body, "0.3}");
        if (rot) rot[2] = (char)('1' + r);
        double t0 = hq_time_now();
        snprintf(url, sizeof url, "%s/v0.3/jobs", base);
        req(c, "POST", url, body, &b);
        job_id(&b, id);
        wait_done(c, base, id, &b);
        snprintf(url, sizeof url, "%s/v0.3/jobs/%s/results", base, id);
        req(c, "GET", url, NULL, &b);
        double dt = hq_time_now() - t0;
        best = dt < best ? dt : best;
    }
    printf("{\"bench\":\"emulator_ionq_roundtrip\",\"qubits\":4,\"shots\":1000,\"seconds\":%.4f}\n",
           best);

    /* IBM results of 100 000 shots */
    {
        CURL *ci = curl_easy_init();
        buf t = {HQ_SBUF_INIT};
        snprintf(url, sizeof url, "%s/identity/token", base);
        struct curl_slist *h = NULL;
        curl_easy_setopt(ci, CURLOPT_URL, url);
        curl_easy_setopt(ci, CURLOPT_POSTFIELDS,
                         "grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=" KEY);
        curl_easy_setopt(ci, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(ci, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(ci, CURLOPT_NOPROXY, "*");
        curl_easy_perform(ci);
        hq_sbuf_putc(&t.b, '\0');
        const char *p = t.b.p ? strstr(t.b.p, "\"access_token\":\"") : NULL;
        char auth[512] = "";
        if (p)
            snprintf(auth, sizeof auth, "Authorization: Bearer %.*s", (int)strcspn(p + 16, "\""),
                     p + 16);
        h = curl_slist_append(h, auth);
        h = curl_slist_append(h, "Service-CRN: crn:v1:bench::");
        h = curl_slist_append(h, "Content-Type: application/json");
        const char *job =
            "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE "\",\"params\":{"
            "\"pubs\":[[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[4] c;\\nsx $0;\\nsx "
            "$1;"
            "\\nsx $2;\\nsx $3;\\ncz $0, $1;\\ncz $2, $3;\\ncz $1, $2;\\nc[0] = measure $0;\\n"
            "c[1] = measure $1;\\nc[2] = measure $2;\\nc[3] = measure $3;\\n\",null,100000]]}}";
        snprintf(url, sizeof url, "%s/api/v1/jobs", base);
        hq_sbuf_reset(&t.b);
        curl_easy_setopt(ci, CURLOPT_URL, url);
        curl_easy_setopt(ci, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(ci, CURLOPT_POSTFIELDS, job);
        curl_easy_perform(ci);
        hq_sbuf_putc(&t.b, '\0');
        job_id(&t, id);
        snprintf(url, sizeof url, "%s/api/v1/jobs/%s/results", base, id);
        curl_easy_setopt(ci, CURLOPT_URL, url);
        curl_easy_setopt(ci, CURLOPT_HTTPGET, 1L);
        best = 1e30;
        size_t bytes = 0;
        for (int r = 0; r < REPS; r++) {
            long status = 0;
            double t0 = hq_time_now();
            do { /* the first round also waits for the execution */
                hq_sbuf_reset(&t.b);
                curl_easy_perform(ci);
                curl_easy_getinfo(ci, CURLINFO_RESPONSE_CODE, &status);
            } while (status == 404 && hq_time_now() - t0 < 60);
            double dt = hq_time_now() - t0;
            bytes = t.b.len;
            if (r > 0 && dt < best) best = dt;
        }
        printf(
            "{\"bench\":\"emulator_ibm_results\",\"shots\":100000,\"bytes\":%zu,\"seconds\":%.4f,"
            "\"mb_per_s\":%.1f}\n",
            bytes, best, bytes / best / 1e6);
        curl_slist_free_all(h);
        hq_sbuf_free(&t.b);
        curl_easy_cleanup(ci);
    }
    hq_emulator_stop(e);

    /* persistent submissions */
    char dir[] = "/tmp/hq_bench_emu_XXXXXX";
    if (mkdtemp(dir)) {
        e = start(dir);
        if (e) {
            base = hq_emulator_url(e);
            snprintf(url, sizeof url, "%s/v0.3/jobs", base);
            const int n = 50;
            double t0 = hq_time_now();
            for (int i = 0; i < n; i++) req(c, "POST", url, IONQ_JOB, &b);
            double dt = hq_time_now() - t0;
            printf("{\"bench\":\"emulator_persist_submit\",\"jobs\":%d,\"seconds_per_job\":%.5f}\n",
                   n, dt / n);
            hq_emulator_stop(e);
        }
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_emulator: could not remove %s\n", dir);
    }
    hq_sbuf_free(&b.b);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return 0;
}
