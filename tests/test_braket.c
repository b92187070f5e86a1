/*
 * tests/test_braket.c — backends/braket: the CreateQuantumTask body compared with the
 * request documented in QPU_APIS.md §3 (action double-encoded), task paths (ARN encoded
 * once, checked against botocore's rule), GetQuantumTask parsing, the S3 location of
 * results.json and the results parser (bit order, probabilities, malformed bodies).
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "backends/braket.h"
#include "backends/http.h"
#include "tests/hq_test.h"

static char *fixture(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/qpu/%s", name);
    char *data = NULL;
    size_t n = 0;
    if (len) *len = 0;
    if (hq_file_read(path, 0, &data, &n) != HQ_OK) {
        hq_test_fail(__FILE__, __LINE__, "cannot read fixture %s: %s", path, hq_last_error());
        return NULL;
    }
    if (len) *len = n;
    return data;
}

HQ_TEST(braket_create_task_matches_documented_request) {
    hq_braket_task_spec sp = {
        .device_arn = "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1",
        .qasm3 = "OPENQASM 3.0;\nqubit[4] q;\nbit[4] c;\nh q[0];\ncnot q[0], q[1];\nc = measure q;",
        .shots = 1000,
        .client_token = "0b9a4c2e-7d1f-4e3a-9c5b-1a2b3c4d5e6f",
        .s3_bucket = "amazon-braket-123456789012-us-east-1",
        .s3_prefix = "tasks"};
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_braket_build_create_task(&sp, &b));
    char *want = fixture("braket_create_task_request.json", NULL);
    cJSON *jw = cJSON_Parse(want), *jg = cJSON_Parse(b.p);
    HQ_REQUIRE(jw && jg);
    /* the action is a JSON string: compare it as a string and as the document it holds */
    HQ_CHECK_STR(cJSON_GetObjectItem(jg, "action")->valuestring,
                 cJSON_GetObjectItem(jw, "action")->valuestring);
    cJSON *aw = cJSON_Parse(cJSON_GetObjectItem(jw, "action")->valuestring);
    cJSON *ag = cJSON_Parse(cJSON_GetObjectItem(jg, "action")->valuestring);
    HQ_CHECK(aw && ag && cJSON_Compare(aw, ag, true));
    cJSON_Delete(aw);
    cJSON_Delete(ag);
    HQ_CHECKF(cJSON_Compare(jw, jg, true), "built:\n%s", b.p);
    cJSON_Delete(jw);
    cJSON_Delete(jg);
    hq_free(want);
    /* device parameters travel as a string */
    hq_sbuf_reset(&b);
    sp.device_parameters_json = "{\"braketSchemaHeader\":{\"name\":\"x\",\"version\":\"1\"}}";
    HQ_REQUIRE_OK(hq_braket_build_create_task(&sp, &b));
    jg = cJSON_Parse(b.p);
    HQ_CHECK(cJSON_IsString(cJSON_GetObjectItem(jg, "deviceParameters")));
    cJSON_Delete(jg);
    /* errors */
    size_t before = b.len;
    hq_braket_task_spec bad = sp;
    bad.device_parameters_json = "nope";
    HQ_CHECK_FAILS(hq_braket_build_create_task(&bad, &b), HQ_ERR_INVALID_ARG,
                   "device_parameters_json is not a JSON object");
    bad = sp;
    bad.client_token = "0123456789012345678901234567890123456789012345678901234567890123456789";
    HQ_CHECK_FAILS(hq_braket_build_create_task(&bad, &b), HQ_ERR_INVALID_ARG,
                   "client token is 70 characters, Braket allows at most 64");
    bad = sp;
    bad.s3_bucket = NULL;
    HQ_CHECK_FAILS(hq_braket_build_create_task(&bad, &b), HQ_ERR_INVALID_ARG,
                   "s3_bucket is missing");
    bad = sp;
    bad.shots = -1;
    HQ_CHECK_FAILS(hq_braket_build_create_task(&bad, &b), HQ_ERR_INVALID_ARG,
                   "shots -1 must be >= 0");
    HQ_CHECK_EQ_INT(b.len, before);
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_braket_build_cancel("tok", &b));
    HQ_CHECK_STR(b.p, "{\"clientToken\":\"tok\"}");
    HQ_CHECK_FAILS(hq_braket_build_cancel("", &b), HQ_ERR_INVALID_ARG, "1..64 characters");
    hq_sbuf_free(&b);
}

HQ_TEST(braket_paths_and_endpoint) {
    hq_sbuf p = HQ_SBUF_INIT;
    /* botocore renders a non-greedy URI label with percent_encode(value), safe = "-._~" */
    HQ_REQUIRE_OK(hq_braket_task_path(
        "arn:aws:braket:us-east-1:123456789012:quantum-task/5c3e1a2b-9d8f", "/cancel", &p));
    HQ_CHECK_STR(p.p, "/quantum-task/arn%3Aaws%3Abraket%3Aus-east-1%3A123456789012%3Aquantum-"
                      "task%2F5c3e1a2b-9d8f/cancel");
    hq_sbuf_free(&p);
    char host[128];
    HQ_REQUIRE_OK(hq_braket_endpoint("us-west-1", host, sizeof host));
    HQ_CHECK_STR(host, "braket.us-west-1.amazonaws.com");
    HQ_CHECK_FAILS(hq_braket_endpoint("us-east-1.evil.com/", host, sizeof host), HQ_ERR_INVALID_ARG,
                   "is not a region name");
    HQ_CHECK_FAILS(hq_braket_task_path(NULL, NULL, &p), HQ_ERR_INVALID_ARG, "no task ARN");
}

HQ_TEST(braket_parse_task) {
    size_t n = 0;
    hq_qpu_job_status js;
    char *b = fixture("braket_create_response.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_create(b, n, &js));
    HQ_CHECK_STR(js.id, "arn:aws:braket:us-east-1:123456789012:quantum-task/"
                        "5c3e1a2b-9d8f-4e7a-b6c5-0d1e2f3a4b5c");
    hq_free(b);
    b = fixture("braket_task_completed.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_task(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_COMPLETED);
    HQ_CHECK_EQ_INT(js.shots, 4);
    HQ_CHECK_STR(js.s3_bucket, "amazon-braket-123456789012-us-east-1");
    char host[160];
    hq_sbuf path = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_braket_results_location(&js, "us-east-1", host, sizeof host, &path));
    HQ_CHECK_STR(host, "amazon-braket-123456789012-us-east-1.s3.us-east-1.amazonaws.com");
    HQ_CHECK_STR(path.p, "/tasks/5c3e1a2b-9d8f-4e7a-b6c5-0d1e2f3a4b5c/results.json");
    hq_sbuf_free(&path);
    hq_free(b);
    b = fixture("braket_task_failed.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_task(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_FAILED);
    HQ_CHECK_STR(js.failure_msg, "Device is offline: qpu/ionq/Aria-1");
    hq_free(b);
    b = fixture("braket_task_cancelling.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_task(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_CANCELLING);
    HQ_CHECK(!hq_qpu_state_terminal(js.state));
    hq_free(b);
    HQ_REQUIRE_OK(
        hq_braket_parse_task("{\"quantumTaskArn\":\"a\",\"status\":\"WARMING\"}", 41, &js));
    HQ_CHECK(js.state == HQ_QPU_PENDING && js.unknown_status);
    HQ_CHECK_FAILS(hq_braket_parse_task("{\"quantumTaskArn\":\"a\",\"status\":3}", 33, &js),
                   HQ_ERR_PARSE, "\"status\" of task a is a number");
    HQ_CHECK_FAILS(hq_braket_results_location(&js, "us-east-1", host, sizeof host, &path),
                   HQ_ERR_INVALID_ARG, "no output S3 bucket/directory");
    /* AWS error bodies through the HTTP layer's extractor */
    char m[400];
    b = fixture("braket_error_validation.json", &n);
    HQ_CHECK_STR(hq_http_error_message(b, n, "application/json", 400, m, sizeof m),
                 "Shots must be between 1 and 100000 for device qpu/ionq/Aria-1");
    hq_free(b);
    b = fixture("braket_error_typed.json", &n);
    HQ_CHECK_STR(hq_http_error_message(b, n, "application/json", 429, m, sizeof m),
                 "ThrottlingException: Rate exceeded");
    hq_free(b);
}

HQ_TEST(braket_parse_results) {
    size_t n = 0;
    hq_qpu_results r;
    int mq[64], nmq = 0;
    char *b = fixture("braket_results.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_results(b, n, 4, &r, mq, 64, &nmq));
    HQ_REQUIRE(r.n == 1 && r.r[0].status == HQ_OK);
    HQ_CHECK_EQ_INT(nmq, 2);
    HQ_CHECK(mq[0] == 0 && mq[1] == 1);
    /* rows [0,0] [1,1] [0,1] [1,1]: column k = bit k -> 0, 3, 2, 3 */
    HQ_CHECK_EQ_INT(hq_counts_get(&r.r[0].counts, 0), 1);
    HQ_CHECK_EQ_INT(hq_counts_get(&r.r[0].counts, 3), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&r.r[0].counts, 2), 1);
    HQ_CHECK_EQ_INT(r.r[0].counts.shots, 4);
    hq_qpu_results_free(&r);
    HQ_CHECK_FAILS(hq_braket_parse_results(b, n, 5, &r, mq, 64, &nmq), HQ_ERR_PARSE,
                   "4 measurement rows for 5 shots");
    HQ_CHECK_FAILS(hq_braket_parse_results(b, n, 4, &r, mq, 1, &nmq), HQ_ERR_INVALID_ARG,
                   "2 measured qubits, cap is 1");
    HQ_CHECK_FAILS(hq_braket_parse_results(b, n - 20, 4, &r, mq, 64, &nmq), HQ_ERR_PARSE,
                   "truncated JSON");
    hq_free(b);
    b = fixture("braket_results_probabilities.json", &n);
    HQ_REQUIRE_OK(hq_braket_parse_results(b, n, 100, &r, mq, 64, &nmq));
    /* "011000": character k = column k -> bits 1 and 2 -> outcome 6 */
    HQ_CHECK_EQ_INT(hq_counts_get(&r.r[0].counts, 6), 100);
    HQ_CHECK_STR(r.r[0].id, "task_arn_3");
    hq_qpu_results_free(&r);
    hq_free(b);
    struct {
        const char *file;
        const char *msg;
    } bad[] = {
        {"braket_results_ragged.json", "measurement row 1 has 1 entries, expected 2"},
        {"braket_results_badbit.json", "measurement row 0 column 1 is not 0 or 1"},
        {"braket_results_wrong_header.json", "braketSchemaHeader.name is "
                                             "\"braket.task_result.annealing_task_result\""},
        {"braket_error_validation.json", "braketSchemaHeader.name is \"\""},
        {"html_503.html", "HTML page"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++) {
        b = fixture(bad[i].file, &n);
        HQ_CHECK_FAILS(hq_braket_parse_results(b, n, 0, &r, mq, 64, &nmq), HQ_ERR_PARSE,
                       bad[i].msg);
        HQ_CHECK(r.n == 0 && r.r == NULL);
        hq_free(b);
    }
}
