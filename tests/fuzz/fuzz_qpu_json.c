/*
 * tests/fuzz/fuzz_qpu_json.c — fuzz target for every QPU REST response parser.
 *
 * hq_fuzz_qpu_json() feeds the input (as an exact-size, unterminated buffer, so any read
 * past the end is caught) to the IonQ, IBM and Braket parsers, to the HTTP layer's error
 * extraction and Retry-After parsing, and uses it as a SigV4 path/query. Parsed results
 * are walked (counts, remaps) so the structures they return are exercised too. Built with
 * -DHQ_FUZZ_MAIN it is a libFuzzer target (`make fuzz`); without, the test suite replays
 * the saved corpus through it (qpu_fuzz_corpus_replay).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backends/braket.h"
#include "backends/http.h"
#include "backends/ibm.h"
#include "backends/ionq.h"
#include "backends/sigv4.h"

int hq_fuzz_qpu_json(const uint8_t *data, size_t size);

static void ionq(const char *b, size_t n) {
    hq_qpu_job_status js;
    if (hq_ionq_parse_create(b, n, &js) == HQ_OK) hq_qpu_job_status_free(&js);
    hq_qpu_job_status job;
    bool have_job = hq_ionq_parse_job(b, n, &job) == HQ_OK;
    for (int nc = 1; nc <= 3; nc++) {
        hq_qpu_results r;
        if (hq_ionq_parse_results(b, n, have_job ? &job : NULL, nc, 1 + (int)(n % 64), 1000, &r) ==
            HQ_OK) {
            for (int i = 0; i < r.n; i++) {
                if (r.r[i].status != HQ_OK) continue;
                hq_counts c;
                int map[2] = {0, 1};
                if (hq_qpu_counts_remap(&r.r[i].counts, map, 2, &c) == HQ_OK) hq_counts_free(&c);
            }
            hq_qpu_results_free(&r);
        }
        if (have_job && job.n_children > 0 &&
            hq_ionq_parse_results(b, n, &job, job.n_children, 64, 7, &r) == HQ_OK)
            hq_qpu_results_free(&r);
    }
    if (have_job) hq_qpu_job_status_free(&job);
    hq_ionq_calibration cal;
    if (hq_ionq_parse_characterization(b, n, &cal) == HQ_OK) hq_ionq_calibration_free(&cal);
    hq_qpu_backend_info *bk;
    int nb;
    if (hq_ionq_parse_backends(b, n, &bk, &nb) == HQ_OK) hq_free(bk);
}

static void ibm(const char *b, size_t n) {
    hq_ibm_token t;
    if (hq_ibm_parse_iam_token(b, n, 1e9, &t) == HQ_OK) {
        (void)hq_ibm_token_needs_refresh(&t, 1e9);
        hq_ibm_token_free(&t);
    }
    hq_qpu_job_status js;
    if (hq_ibm_parse_create(b, n, &js) == HQ_OK) hq_qpu_job_status_free(&js);
    if (hq_ibm_parse_job(b, n, &js) == HQ_OK) hq_qpu_job_status_free(&js);
    for (int np = 1; np <= 3; np++) {
        hq_ibm_results r;
        if (hq_ibm_parse_results(b, n, np, &r) != HQ_OK) continue;
        for (int i = 0; i < r.n; i++) {
            if (r.pubs[i].status != HQ_OK) continue;
            for (int k = 0; k < r.pubs[i].cregs[0].n_bindings && k < 4; k++) {
                hq_counts c;
                if (hq_ibm_pub_counts(&r.pubs[i], NULL, 0, k, &c) == HQ_OK) hq_counts_free(&c);
            }
        }
        hq_ibm_results_free(&r);
    }
    hq_qpu_backend_info *bk;
    int nb;
    if (hq_ibm_parse_backends(b, n, &bk, &nb) == HQ_OK) hq_free(bk);
}

static void braket(const char *b, size_t n) {
    hq_qpu_job_status js;
    if (hq_braket_parse_create(b, n, &js) == HQ_OK) hq_qpu_job_status_free(&js);
    if (hq_braket_parse_task(b, n, &js) == HQ_OK) {
        char host[256];
        hq_sbuf p = HQ_SBUF_INIT;
        (void)hq_braket_results_location(&js, "us-east-1", host, sizeof host, &p);
        hq_sbuf_free(&p);
        hq_qpu_job_status_free(&js);
    }
    hq_qpu_results r;
    int mq[64], nmq;
    if (hq_braket_parse_results(b, n, 0, &r, mq, 64, &nmq) == HQ_OK) hq_qpu_results_free(&r);
}

static void http_and_sigv4(const char *b, size_t n) {
    char m[400];
    hq_http_error_message(b, n, NULL, 500, m, sizeof m);
    hq_http_error_message(b, n, "text/html", 503, m, sizeof m);
    /* NUL-terminated views for the string APIs */
    size_t k = n < 512 ? n : 512;
    char s[514];
    memcpy(s + 1, b, k);
    s[k + 1] = '\0';
    s[0] = '/';
    (void)hq_http_parse_retry_after(s + 1, 1e9);
    if (strlen(s) == k + 1) {
        char *q = strchr(s, '?');
        if (q) *q++ = '\0';
        hq_sigv4_creds cr = {"AKIDEXAMPLE", "secret", NULL};
        hq_sigv4_request rq = {.method = "GET",
                               .host = "h",
                               .path = s,
                               .query = q,
                               .region = "us-east-1",
                               .service = n & 1 ? "s3" : "braket",
                               .amz_date = "20150830T123600Z",
                               .s3 = n & 1};
        hq_sigv4_signed sg;
        if (hq_sigv4_sign(&cr, &rq, &sg) == HQ_OK) hq_sigv4_signed_free(&sg);
    }
}

int hq_fuzz_qpu_json(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    char *b = hq_malloc(size ? size : 1); /* exact size, not NUL-terminated */
    if (!b) return 0;
    if (size) memcpy(b, data, size);
    hq_log_level lvl = hq_log_get_level();
    hq_log_set_level(HQ_LOG_ERROR); /* unknown-status warnings would flood the output */
    ionq(b, size);
    ibm(b, size);
    braket(b, size);
    http_and_sigv4(b, size);
    hq_log_set_level(lvl);
    hq_free(b);
    hq_clear_error();
    return 0;
}

#ifdef HQ_FUZZ_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return hq_fuzz_qpu_json(data, size);
}
#endif
