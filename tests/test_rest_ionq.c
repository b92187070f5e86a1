/*
 * tests/test_rest_ionq.c — the "ionq" backend against a scripted loopback server: job
 * bodies (token, metadata, gate sets, API versions), results mapped back to the LOGICAL
 * circuits' classical bits (checked against the reference simulator run on the logical
 * circuit, while the fake provider computes its answer from the gates the client really
 * sent), partial results, lost submit replies found by client token, 5xx / 4xx on
 * submission, status mapping, malformed replies, calibration, options and credentials.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/rest_impl.h"
#include "tests/hq_test.h"
#include "tests/hq_test_server.h"
#include "tests/test_rest_util.h"

#define KEY "ionq-test-key-5d1e9a"

static void no_sleep(void *user, double s) {
    (void)user;
    (void)s;
}

static hq_ts_server *start(void) {
    setenv("IONQ_API_KEY", KEY, 1);
    static const hq_http_hooks hooks = {.sleep = no_sleep};
    hq_rest_set_test_hooks(&hooks);
    return hq_ts_start();
}

static hq_backend *make(hq_ts_server *s, const char *extra) {
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"url\":\"%s\",\"retry_base_s\":0.001%s%s}", hq_ts_url(s, ""),
             extra && *extra ? "," : "", extra ? extra : "");
    hq_backend *b = NULL;
    if (hq_backend_create("ionq", opts, &b) != HQ_OK) return NULL;
    return b;
}

/* The fake provider: a completed job and its results, computed from the request body. */
static void answer_from_request(hq_ts_server *s, const cJSON *req, const char *id, bool native,
                                int drop_child, char **job_out, char **res_out) {
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    int nq = (int)cJSON_GetObjectItemCaseSensitive(in, "qubits")->valuedouble;
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(in, "circuit");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(in, "circuits");
    int n = one ? 1 : cJSON_GetArraySize(many);
    hq_sbuf job = HQ_SBUF_INIT, res = HQ_SBUF_INIT;
    hq_sbuf_printf(&job, "{\"id\":\"%s\",\"status\":\"completed\",\"qubits\":%d,\"shots\":%d", id,
                   nq, (int)cJSON_GetObjectItemCaseSensitive(req, "shots")->valuedouble);
    char *md = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(req, "metadata"));
    hq_sbuf_printf(&job, ",\"metadata\":%s", md ? md : "null");
    cJSON_free(md);
    if (n > 1) {
        hq_sbuf_puts(&job, ",\"children\":[");
        for (int i = 0; i < n; i++) hq_sbuf_printf(&job, "%s\"%s-c%d\"", i ? "," : "", id, i);
        hq_sbuf_putc(&job, ']');
        hq_sbuf_putc(&res, '{');
    }
    hq_sbuf_putc(&job, '}');
    size_t dim = (size_t)1 << nq;
    double *p = hq_malloc(dim * sizeof *p);
    bool first = true;
    for (int i = 0; i < n; i++) {
        const cJSON *gates =
            one ? one : cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(many, i), "circuit");
        hq_circuit *c = NULL;
        if (rt_ionq_decode(gates, nq, native, &c) != HQ_OK || rt_qubit_probs(c, NULL, p) != HQ_OK) {
            hq_test_fail(__FILE__, __LINE__, "the fake provider cannot run circuit %d", i);
            hq_circuit_free(c);
            continue;
        }
        hq_circuit_free(c);
        if (i == drop_child) continue;
        if (n > 1) hq_sbuf_printf(&res, "%s\"%s-c%d\":", first ? "" : ",", id, i);
        first = false;
        hq_sbuf_putc(&res, '{');
        bool f2 = true;
        for (size_t v = 0; v < dim; v++) {
            if (p[v] < 1e-12) continue;
            hq_sbuf_printf(&res, "%s\"%zu\":", f2 ? "" : ",", v);
            hq_sbuf_put_double(&res, p[v]);
            f2 = false;
        }
        hq_sbuf_putc(&res, '}');
    }
    if (n > 1) hq_sbuf_putc(&res, '}');
    hq_free(p);
    (void)s;
    *job_out = hq_sbuf_take(&job);
    *res_out = hq_sbuf_take(&res);
}

/* Submit circuits as one job through the fake provider; check results against the
 * reference simulation of the logical circuits. */
static void roundtrip(const char *opts, bool native, bool v04, int n_circ, uint64_t seed) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, opts);
    HQ_REQUIRE(b);
    hq_rng rng;
    hq_rng_init(&rng, seed, 0, 0);
    hq_circuit *c[8];
    hq_job_entry e[8];
    for (int i = 0; i < n_circ; i++) {
        int n = 2 + (int)hq_rng_below(&rng, 3), m = 1 + (int)hq_rng_below(&rng, 5);
        c[i] = rt_random_circuit(&rng, n, m, 14, true, i % 2 == 1);
        e[i] = (hq_job_entry){c[i], 0, NULL};
    }
    const char *token = "3f2a9c1e-aaaa-bbbb-cccc-000000000001";
    hq_job_spec js = {.entries = e, .n_entries = n_circ, .shots = 1000, .client_token = token};
    hq_ts_action a1[] = {{.status = 200, .body = "{\"id\":\"J1\",\"status\":\"ready\"}"}};
    hq_ts_script(s, a1, 1);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    HQ_CHECK_STR(id, "J1");
    hq_ts_request r0 = hq_ts_get_request(s, 0);
    HQ_CHECK_STR(r0.method, "POST");
    HQ_CHECK_STR(r0.url, v04 ? "/v0.4/jobs" : "/v0.3/jobs");
    HQ_CHECK_STR(r0.authorization, "apiKey " KEY);
    cJSON *req = rt_request_json(s, 0);
    HQ_REQUIRE(req);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(req, "metadata");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "hqcnn_token")), token);
    HQ_CHECK(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "hqcnn_clbits")) != NULL);
    char want_name[128];
    snprintf(want_name, sizeof want_name, "hqcnn-%s", token);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "name")), want_name);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "gateset")),
                 native ? "native" : "qis");
    if (v04) {
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "backend")),
                     "simulator");
        HQ_CHECK(cJSON_GetObjectItemCaseSensitive(in, "format") == NULL);
    } else {
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "target")),
                     "simulator");
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "format")),
                     "ionq.circuit.v0");
    }
    char *job = NULL, *res = NULL;
    answer_from_request(s, req, "J1", native, -1, &job, &res);
    cJSON_Delete(req);
    hq_ts_action a2[] = {{.status = 200, .body = job}, {.status = 200, .body = res}};
    hq_ts_script(s, a2, 2);
    hq_job_state stt;
    char reason[256];
    HQ_REQUIRE_OK(hq_backend_poll(b, "J1", &stt, reason, sizeof reason));
    HQ_CHECK_EQ_INT(stt, HQ_JOB_COMPLETED);
    HQ_CHECK_STR(hq_ts_get_request(s, 1).url,
                 v04 ? "/v0.4/jobs/J1/results/probabilities" : "/v0.3/jobs/J1/results");
    hq_counts counts[8];
    HQ_REQUIRE_OK(hq_backend_fetch(b, "J1", n_circ, counts));
    HQ_CHECK_EQ_INT(hq_ts_count(s), 2); /* fetch used what poll downloaded */
    for (int i = 0; i < n_circ; i++) {
        int m = hq_circuit_n_clbits(c[i]);
        double p[32];
        HQ_REQUIRE_OK(rt_clbit_probs(c[i], NULL, p));
        HQ_CHECK_EQ_INT(counts[i].n_bits, m);
        HQ_CHECK_EQ_INT(counts[i].shots, 1000);
        double d = rt_counts_dist(&counts[i], p);
        HQ_CHECKF(d <= 0.02, "circuit %d: counts differ from the logical distribution by %.4f", i,
                  d);
        hq_counts_free(&counts[i]);
    }
    hq_free(job);
    hq_free(res);
    for (int i = 0; i < n_circ; i++) hq_circuit_free(c[i]);
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_ionq_results_map_to_logical_clbits) {
    roundtrip("\"api\":\"v0.3\"", false, false, 6, 11);
    roundtrip("\"api\":\"v0.3\"", false, false, 1, 12);
    roundtrip("\"api\":\"v0.4\",\"gateset\":\"native\"", true, true, 5, 13);
    roundtrip("\"api\":\"v0.3\",\"gateset\":\"native\"", true, false, 1, 14);
}

static hq_circuit *bell(int m) {
    hq_circuit *c;
    hq_circuit_create(&c);
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", m, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_measure(c, 0, 0);
    if (m > 1) hq_circuit_add_measure(c, 1, 1);
    return c;
}

HQ_TEST(rest_ionq_partial_results_fail_the_job_naming_the_circuits) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"api\":\"v0.3\"");
    HQ_REQUIRE(b);
    hq_circuit *c0 = bell(2), *c1 = bell(1), *c2 = bell(2);
    hq_job_entry e[3] = {{c0, 0, NULL}, {c1, 0, NULL}, {c2, 0, NULL}};
    hq_job_spec js = {.entries = e, .n_entries = 3, .shots = 100, .client_token = "tok-partial"};
    hq_ts_action a1[] = {{.status = 200, .body = "{\"id\":\"P1\",\"status\":\"ready\"}"}};
    hq_ts_script(s, a1, 1);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    cJSON *req = rt_request_json(s, 0);
    HQ_REQUIRE(req);
    char *job = NULL, *res = NULL;
    answer_from_request(s, req, "P1", false, 1, &job, &res); /* child 1 has no result */
    cJSON_Delete(req);
    hq_ts_action a2[] = {{.status = 200, .body = job},
                         {.status = 200, .body = res},
                         {.status = 200, .body = job},
                         {.status = 200, .body = res}};
    hq_ts_script(s, a2, 4);
    hq_job_state st;
    char reason[1024];
    HQ_REQUIRE_OK(hq_backend_poll(b, "P1", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "results for 2 of 3 circuits") && strstr(reason, "circuit 1 ("),
              "reason: %s", reason);
    hq_counts counts[3];
    HQ_CHECK_FAILS(hq_backend_fetch(b, "P1", 3, counts), HQ_ERR_BACKEND, "circuit 1 (");
    /* a single-circuit job whose results are empty */
    hq_ts_action a3[] = {{.status = 200, .body = "{\"id\":\"S1\",\"status\":\"ready\"}"},
                         {.status = 200,
                          .body = "{\"id\":\"S1\",\"status\":\"completed\",\"qubits\":2,"
                                  "\"shots\":100,\"metadata\":{\"hqcnn_clbits\":\"2\"}}"},
                         {.status = 200, .body = "{}"}};
    hq_ts_script(s, a3, 3);
    hq_job_spec j1 = {.entries = e, .n_entries = 1, .shots = 100, .client_token = "tok-single"};
    HQ_REQUIRE_OK(hq_backend_submit(b, &j1, id));
    HQ_REQUIRE_OK(hq_backend_poll(b, "S1", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "circuit 0 (the job returned no distribution)"), "reason: %s", reason);
    hq_free(job);
    hq_free(res);
    hq_circuit_free(c0);
    hq_circuit_free(c1);
    hq_circuit_free(c2);
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_ionq_lost_submit_reply_is_found_by_token_never_resent) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"api\":\"v0.3\",\"submit_timeout_s\":0.3");
    HQ_REQUIRE(b);
    hq_circuit *c = bell(2);
    hq_job_entry e = {c, 0, NULL};
    const char *tok = "0b9d-lost-reply";
    hq_job_spec js = {.entries = &e, .n_entries = 1, .shots = 10, .client_token = tok};
    char id[HQ_REMOTE_ID_MAX];
    /* the reply never arrives in time: maybe accepted, not retried */
    hq_ts_action slow[] = {{.kind = HQ_TS_SLOW, .delay_ms = 1500, .body = "{\"id\":\"L1\"}"}};
    hq_ts_script(s, slow, 1);
    hq_status st = hq_backend_submit(b, &js, id);
    HQ_CHECKF(st == HQ_ERR_TIMEOUT || st == HQ_ERR_NETWORK, "got %s", hq_status_name(st));
    HQ_CHECKF(strstr(hq_last_error(), "looked up by its client token"), "msg: %s", hq_last_error());
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    /* 5xx on submission: maybe accepted too, not retried */
    hq_ts_action e500[] = {
        {.status = 500, .body = "{\"error\":\"Internal\",\"message\":\"boom\"}"}};
    hq_ts_script(s, e500, 1);
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, id), HQ_ERR_NETWORK, "server error");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    /* a truncated create reply: the job may exist */
    hq_ts_action trunc[] = {
        {.kind = HQ_TS_TRUNCATE, .body = "{\"id\":\"T1\",\"status\":\"ready\"}"}};
    hq_ts_script(s, trunc, 1);
    st = hq_backend_submit(b, &js, id);
    HQ_CHECKF(st == HQ_ERR_NETWORK || st == HQ_ERR_TIMEOUT, "got %s", hq_status_name(st));
    /* a 400 is final and carries IonQ's message */
    hq_ts_action e400[] = {{.status = 400,
                            .body = "{\"error\":\"Bad Request\",\"message\":\"qubits out of "
                                    "range\",\"statusCode\":400}"}};
    hq_ts_script(s, e400, 1);
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, id), HQ_ERR_HTTP, "qubits out of range");
    /* find_by_token: the metadata token or the job name match; other jobs do not */
    char list[512];
    snprintf(list, sizeof list,
             "{\"jobs\":[{\"id\":\"X0\",\"metadata\":{\"hqcnn_token\":\"someone-else\"}},"
             "{\"id\":\"L1\",\"name\":\"hqcnn-%s\"}]}",
             tok);
    hq_ts_action found[] = {{.status = 200, .body = list},
                            {.status = 200, .body = "{\"jobs\":[]}"}};
    hq_ts_script(s, found, 2);
    bool f = false;
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &f));
    HQ_CHECK(f);
    HQ_CHECK_STR(id, "L1");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).method, "GET");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/v0.3/jobs");
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, "never-sent", id, &f));
    HQ_CHECK(!f);
    /* a provider that rejects the metadata filter: the list is scanned page by page */
    char p2[256];
    snprintf(p2, sizeof p2, "{\"jobs\":[{\"id\":\"Z2\",\"metadata\":{\"hqcnn_token\":\"%s\"}}]}",
             tok);
    hq_ts_action pages[] = {{.status = 400, .body = "{\"error\":\"bad filter\"}"},
                            {.status = 200, .body = "{\"jobs\":[{\"id\":\"Z1\"}],\"next\":\"Z1\"}"},
                            {.status = 200, .body = p2}};
    hq_ts_script(s, pages, 3);
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &f));
    HQ_CHECK(f);
    HQ_CHECK_STR(id, "Z2");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 3);
    hq_circuit_free(c);
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_ionq_status_mapping_and_malformed_replies) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"api\":\"v0.4\",\"poll_failures_max\":3");
    HQ_REQUIRE(b);
    hq_job_state st;
    char reason[512];
    hq_ts_action a[] = {
        {.status = 200, .body = "{\"id\":\"J\",\"status\":\"submitted\"}"},
        {.status = 200, .body = "{\"id\":\"J\",\"status\":\"ready\"}"},
        {.status = 200, .body = "{\"id\":\"J\",\"status\":\"started\"}"},
        {.status = 200, .body = "{\"id\":\"J\",\"status\":\"warming-up\"}"},
        {.status = 200,
         .body = "{\"id\":\"J\",\"status\":\"failed\",\"failure\":{\"code\":\"PreflightError\","
                 "\"error\":\"gate 'foo' unknown\"}}"},
        {.status = 200, .body = "{\"id\":\"J\",\"status\":\"canceled\"}"},
    };
    hq_ts_script(s, a, 6);
    hq_job_state want[] = {HQ_JOB_QUEUED, HQ_JOB_QUEUED, HQ_JOB_RUNNING,
                           HQ_JOB_QUEUED, HQ_JOB_FAILED, HQ_JOB_CANCELLED};
    for (int i = 0; i < 6; i++) {
        HQ_REQUIRE_OK(hq_backend_poll(b, "J", &st, reason, sizeof reason));
        HQ_CHECKF(st == want[i], "poll %d: %s", i, hq_job_state_str(st));
    }
    HQ_CHECKF(strstr(reason, "canceled"), "reason %s", reason);
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/v0.4/jobs/J");
    /* the failed poll's reason */
    hq_ts_script(s, a + 4, 1);
    HQ_REQUIRE_OK(hq_backend_poll(b, "J", &st, reason, sizeof reason));
    HQ_CHECKF(strstr(reason, "PreflightError") && strstr(reason, "gate 'foo' unknown"), "%s",
              reason);
    /* a truncated reply is fetched again */
    hq_ts_action t1[] = {{.kind = HQ_TS_TRUNCATE, .body = "{\"id\":\"J\",\"status\":\"ready\"}"},
                         {.status = 200, .body = "{\"id\":\"J\",\"status\":\"ready\"}"}};
    hq_ts_script(s, t1, 2);
    HQ_CHECK_OK(hq_backend_poll(b, "J", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(hq_ts_count(s), 2);
    /* wrong types three times: a transient failure (poll again later) ... */
    hq_ts_action bad[] = {{.status = 200, .body = "{\"id\":7,\"status\":\"ready\"}"},
                          {.status = 200, .body = "{\"id\":7,\"status\":\"ready\"}"},
                          {.status = 200, .body = "{\"id\":7,\"status\":\"ready\"}"}};
    for (int round = 0; round < 3; round++) {
        hq_ts_script(s, bad, 3);
        if (round < 2)
            HQ_CHECK_FAILS(hq_backend_poll(b, "J", &st, reason, sizeof reason), HQ_ERR_NETWORK,
                           "polling again later");
        else /* ... until poll_failures_max in a row: resumable stop */
            HQ_CHECK_FAILS(hq_backend_poll(b, "J", &st, reason, sizeof reason), HQ_ERR_BACKEND,
                           "3 polls of job J failed in a row");
    }
    /* a 404 is final */
    hq_ts_action nf[] = {{.status = 404,
                          .body = "{\"error\":\"Not Found\",\"message\":\"no such "
                                  "job\"}"}};
    hq_ts_script(s, nf, 1);
    HQ_CHECK_FAILS(hq_backend_poll(b, "J", &st, reason, sizeof reason), HQ_ERR_HTTP, "no such job");
    /* cancel: PUT .../status/cancel */
    hq_ts_action cc[] = {{.status = 200, .body = "{\"id\":\"J\",\"status\":\"canceled\"}"}};
    hq_ts_script(s, cc, 1);
    HQ_CHECK_OK(hq_backend_cancel(b, "J"));
    HQ_CHECK_STR(hq_ts_get_request(s, 0).method, "PUT");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/v0.4/jobs/J/status/cancel");
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_ionq_calibration_options_and_credentials) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"api\":\"v0.3\",\"target\":\"qpu.aria-1\"");
    HQ_REQUIRE(b);
    hq_backend_caps caps;
    HQ_REQUIRE_OK(hq_backend_get_caps(b, &caps));
    HQ_CHECK_EQ_INT(caps.max_rows_per_entry, 0);
    HQ_CHECK_EQ_INT(caps.max_qubits, 25);
    HQ_CHECK(caps.find_by_token && caps.calibrated);
    HQ_CHECK_NEAR(caps.price_per_circuit, 0.30, 1e-12);
    HQ_CHECK_NEAR(caps.price_per_shot, 0.03, 1e-12);
    const char *ch1 = "{\"id\":\"c1\",\"date\":\"2025-03-01T00:00:00Z\",\"backend\":\"qpu.aria-1\","
                      "\"qubits\":25}";
    const char *ch2 = "{\"id\":\"c2\",\"date\":\"2025-03-02T00:00:00Z\",\"backend\":\"qpu.aria-1\","
                      "\"qubits\":25}";
    hq_ts_action a[] = {{.status = 200, .body = ch1}};
    hq_ts_script(s, a, 1);
    char id[HQ_CALIB_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_calibration(b, id, NULL));
    HQ_CHECK_STR(id, "2025-03-01T00:00:00Z");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/v0.3/characterizations/backends/aria-1/current");
    HQ_REQUIRE_OK(hq_backend_calibration(b, id, NULL)); /* cached: no request */
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    /* a completed job makes the calibration due again (F12: recorded at completion) */
    hq_ts_action a2[] = {{.status = 200,
                          .body = "{\"id\":\"J\",\"status\":\"completed\",\"qubits\":1,\"shots\":"
                                  "4,\"metadata\":{\"hqcnn_clbits\":\"1\"}}"},
                         {.status = 200, .body = "{\"0\":0.5,\"1\":0.5}"},
                         {.status = 200, .body = ch2}};
    hq_ts_script(s, a2, 3);
    hq_job_state st;
    HQ_REQUIRE_OK(hq_backend_poll(b, "J", &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_COMPLETED);
    HQ_REQUIRE_OK(hq_backend_calibration(b, id, NULL));
    HQ_CHECK_STR(id, "2025-03-02T00:00:00Z");
    hq_backend_free(b);
    /* the simulator has a constant calibration */
    b = make(s, "\"api\":\"v0.3\",\"noise_model\":\"aria-1\"");
    HQ_REQUIRE(b);
    HQ_REQUIRE_OK(hq_backend_calibration(b, id, NULL));
    HQ_CHECK_STR(id, "simulator:aria-1");
    char other[HQ_BACKEND_ID_MAX];
    snprintf(other, sizeof other, "%s", hq_backend_id(b));
    hq_backend_free(b);
    b = make(s, "\"api\":\"v0.3\"");
    HQ_REQUIRE(b);
    HQ_CHECKF(strcmp(other, hq_backend_id(b)) != 0, "noise model must change the identity");
    hq_backend_free(b);
    /* option errors */
    hq_backend *x = NULL;
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"api\":\"v0.5\"}", &x), HQ_ERR_INVALID_ARG,
                   "expected \"v0.3\" or \"v0.4\"");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"gateset\":\"ms\"}", &x), HQ_ERR_INVALID_ARG,
                   "expected \"qis\" or \"native\"");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"colour\":1}", &x), HQ_ERR_INVALID_ARG,
                   "unknown option 'colour' (known: url,");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"timeout_s\":\"60\"}", &x), HQ_ERR_INVALID_ARG,
                   "option 'timeout_s' must be a number in [0.05, 3600]");
    HQ_CHECK_FAILS(
        hq_backend_create("ionq", "{\"target\":\"qpu.aria-1\",\"noise_model\":\"x\"}", &x),
        HQ_ERR_INVALID_ARG, "applies to the \"simulator\" target only");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"url\":\"http://example.com\"}", &x),
                   HQ_ERR_INVALID_ARG, "option 'url'");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "{\"prices\":{\"per_task\":1}}", &x),
                   HQ_ERR_INVALID_ARG, "unknown key 'per_task'");
    HQ_CHECK_FAILS(hq_backend_create("emulator-ionq", "{\"api\":\"v0.4\"}", &x), HQ_ERR_INVALID_ARG,
                   "serves IonQ API v0.3 only");
    HQ_CHECK_FAILS(
        hq_backend_create("emulator-ionq", "{\"port\":1,\"url\":\"http://127.0.0.1:2\"}", &x),
        HQ_ERR_INVALID_ARG, "either 'port' or 'url'");
    HQ_CHECK_FAILS(hq_backend_create("ionq", "[1]", &x), HQ_ERR_PARSE, "not a JSON object");
    /* no key anywhere: a clear auth error naming the variable, before any request */
    unsetenv("IONQ_API_KEY");
    unsetenv("HQCNN_CREDENTIALS");
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", hq_test_tmpdir(), 1);
    b = make(s, "\"api\":\"v0.3\"");
    HQ_REQUIRE(b);
    hq_circuit *c = bell(2);
    hq_job_entry e = {c, 0, NULL};
    hq_job_spec js = {.entries = &e, .n_entries = 1, .shots = 10, .client_token = "t"};
    hq_ts_script(s, NULL, 0);
    char rid[HQ_REMOTE_ID_MAX];
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, rid), HQ_ERR_AUTH, "IONQ_API_KEY");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 0);
    /* a circuit without measurements is refused with the reason */
    setenv("IONQ_API_KEY", KEY, 1);
    hq_circuit *nm;
    hq_circuit_create(&nm);
    hq_circuit_add_qreg(nm, "q", 1, NULL);
    hq_circuit_add_creg(nm, "c", 1, NULL);
    hq_circuit_add_gate(nm, HQ_GATE_H, (int[]){0}, NULL);
    e.circuit = nm;
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, rid), HQ_ERR_INVALID_ARG, "measures nothing");
    hq_circuit_free(nm);
    hq_circuit_free(c);
    hq_backend_free(b);
    hq_ts_stop(s);
}
