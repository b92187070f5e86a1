/*
 * tests/test_ibm.c — backends/ibm: IAM token exchange and refresh rule, the Sampler V2 job
 * body compared with the request documented in QPU_APIS.md §2.2, sessions, job status,
 * results (Qiskit bit order, several registers, parameter bindings, partial results, the
 * __type__ encoding) and the backend list, on recorded bodies in tests/fixtures/qpu.
 */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backends/device.h"
#include "backends/ibm.h"
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

HQ_TEST(ibm_iam_token) {
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_ibm_iam_request_body("a+b/c=d key", &b));
    HQ_CHECK_STR(b.p, "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=a%2Bb%"
                      "2Fc%3Dd%20key");
    hq_sbuf_free(&b);
    HQ_CHECK_FAILS(hq_ibm_iam_request_body("", &b), HQ_ERR_INVALID_ARG, "no API key");

    size_t n = 0;
    char *body = fixture("ibm_iam_token.json", &n);
    hq_ibm_token t;
    HQ_REQUIRE_OK(hq_ibm_parse_iam_token(body, n, 1473184753.0, &t));
    HQ_CHECK_NEAR(t.expiration, 1473188353.0, 0);
    /* refresh at expiration - 300 s */
    HQ_CHECK(!hq_ibm_token_needs_refresh(&t, 1473188353.0 - 301));
    HQ_CHECK(hq_ibm_token_needs_refresh(&t, 1473188353.0 - 300));
    HQ_CHECK(hq_ibm_token_needs_refresh(NULL, 0));
    /* the token is registered as a secret while held */
    char msg[300];
    snprintf(msg, sizeof msg, "token %s", t.access_token);
    hq_redact(msg);
    HQ_CHECK_STR(msg, "token ***");
    hq_http_header hd[HQ_IBM_N_HEADERS];
    char auth[1024];
    HQ_REQUIRE_OK(hq_ibm_headers(&t, "crn:v1:x::", NULL, hd, auth, sizeof auth));
    HQ_CHECK_STR(hd[0].name, "Authorization");
    HQ_CHECK(strncmp(hd[0].value, "Bearer eyJ", 10) == 0);
    HQ_CHECK_STR(hd[1].name, "Service-CRN");
    HQ_CHECK_STR(hd[1].value, "crn:v1:x::");
    HQ_CHECK_STR(hd[2].value, HQ_IBM_API_VERSION);
    HQ_CHECK_FAILS(hq_ibm_headers(&t, "crn", NULL, hd, auth, 10), HQ_ERR_INVALID_ARG,
                   "does not fit in 10 bytes");
    HQ_CHECK_FAILS(hq_ibm_headers(&t, NULL, NULL, hd, auth, sizeof auth), HQ_ERR_INVALID_ARG,
                   "service CRN");
    char copy[256];
    snprintf(copy, sizeof copy, "%s", t.access_token);
    hq_ibm_token_free(&t);
    HQ_CHECK(t.access_token == NULL);
    snprintf(msg, sizeof msg, "token %s", copy);
    hq_redact(msg);
    HQ_CHECK(strstr(msg, "eyJ") != NULL); /* unregistered after free */
    hq_free(body);

    body = fixture("ibm_iam_token_expires_in.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_iam_token(body, n, 1000.0, &t));
    HQ_CHECK_NEAR(t.expiration, 4600.0, 0);
    hq_ibm_token_free(&t);
    hq_free(body);
    body = fixture("ibm_iam_error.json", &n);
    HQ_CHECK_FAILS(hq_ibm_parse_iam_token(body, n, 0, &t), HQ_ERR_AUTH,
                   "IAM refused the API key: BXNIM0415E Provided API key could not be found.");
    hq_free(body);
    HQ_CHECK_FAILS(hq_ibm_parse_iam_token("{\"access_token\":\"x\"}", 20, 0, &t), HQ_ERR_PARSE,
                   "neither a usable \"expiration\" nor \"expires_in\"");
    HQ_CHECK_FAILS(hq_ibm_parse_iam_token("{\"access_token\":7}", 18, 0, &t), HQ_ERR_PARSE,
                   "\"access_token\" is a number");
}

HQ_TEST(ibm_sampler_job_matches_documented_request) {
    const char *q1 = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nbit[4] c;\nrz(1.5707963267948966) "
                     "$0;\nsx $0;\ncz $0, $1;\nc[0] = measure $0;\nc[1] = measure $1;\nc[2] = "
                     "measure $2;\nc[3] = measure $3;\n";
    const char *names[] = {"theta"};
    double vals[] = {1.57};
    hq_ibm_pub pubs[] = {{.qasm3 = q1},
                         {.qasm3 = "<qasm3 #2>", .shots = 500},
                         {.qasm3 = "<qasm3 with input float[64] theta;>",
                          .param_names = names,
                          .n_params = 1,
                          .param_values = vals,
                          .n_bindings = 1,
                          .shots = 4000}};
    const char *tags[] = {"run-17"};
    hq_ibm_job_spec sp = {.backend = "ibm_fez",
                          .pubs = pubs,
                          .n_pubs = 3,
                          .default_shots = 4000,
                          .options_json = "{\"dynamical_decoupling\":{\"enable\":false},"
                                          "\"twirling\":{\"enable_gates\":false,"
                                          "\"enable_measure\":false}}",
                          .session_id = "<optional>",
                          .tags = tags,
                          .n_tags = 1};
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_ibm_build_sampler_job(&sp, &b));
    char *want = fixture("ibm_job_request.json", NULL);
    cJSON *jw = cJSON_Parse(want), *jg = cJSON_Parse(b.p);
    HQ_REQUIRE(jw && jg);
    cJSON_DeleteItemFromObject(jw, "private");
    HQ_CHECKF(cJSON_Compare(jw, jg, true), "built:\n%s", b.p);
    cJSON_Delete(jw);
    cJSON_Delete(jg);
    hq_free(want);
    /* a binding matrix becomes {name: [values]}; the client token becomes a tag */
    hq_sbuf_reset(&b);
    const char *n2[] = {"a", "b"};
    double v2[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}; /* 3 bindings x 2 parameters */
    hq_ibm_pub p2 = {
        .qasm3 = "Q", .param_names = n2, .n_params = 2, .param_values = v2, .n_bindings = 3};
    hq_ibm_job_spec s2 = {.backend = "ibm_fez", .pubs = &p2, .n_pubs = 1, .client_token = "tk1"};
    HQ_REQUIRE_OK(hq_ibm_build_sampler_job(&s2, &b));
    HQ_CHECK_STR(b.p, "{\"program_id\":\"sampler\",\"backend\":\"ibm_fez\",\"params\":{\"pubs\":"
                      "[[\"Q\",{\"a\":[0.1,0.3,0.5],\"b\":[0.2,0.4,0.6]}]],\"version\":2},"
                      "\"tags\":[\"hqcnn-token:tk1\"]}");
    /* errors leave out unchanged */
    size_t before = b.len;
    v2[3] = NAN;
    HQ_CHECK_FAILS(hq_ibm_build_sampler_job(&s2, &b), HQ_ERR_INVALID_ARG,
                   "PUB 0: parameter value 3 is not finite");
    v2[3] = 0.4;
    s2.options_json = "[1]";
    HQ_CHECK_FAILS(hq_ibm_build_sampler_job(&s2, &b), HQ_ERR_INVALID_ARG,
                   "options_json is not a JSON object");
    s2.options_json = NULL;
    s2.n_pubs = 0;
    HQ_CHECK_FAILS(hq_ibm_build_sampler_job(&s2, &b), HQ_ERR_INVALID_ARG, "0 PUBs");
    s2.n_pubs = 1;
    p2.n_params = 0;
    HQ_CHECK_FAILS(hq_ibm_build_sampler_job(&s2, &b), HQ_ERR_INVALID_ARG,
                   "3 bindings of 0 parameters need names and values");
    s2.backend = NULL;
    HQ_CHECK_FAILS(hq_ibm_build_sampler_job(&s2, &b), HQ_ERR_INVALID_ARG, "no backend");
    HQ_CHECK_EQ_INT(b.len, before);
    /* sessions */
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_ibm_build_session("ibm_fez", NULL, 28800, &b));
    HQ_CHECK_STR(b.p, "{\"backend\":\"ibm_fez\",\"mode\":\"batch\",\"max_ttl\":28800}");
    hq_sbuf_reset(&b);
    hq_ibm_build_session_close(&b);
    HQ_CHECK_STR(b.p, "{\"accepting_jobs\":false}");
    HQ_CHECK_FAILS(hq_ibm_build_session("ibm_fez", "exclusive", 0, &b), HQ_ERR_INVALID_ARG,
                   "mode 'exclusive' must be");
    hq_sbuf_free(&b);
}

HQ_TEST(ibm_parse_job_status) {
    size_t n = 0;
    hq_qpu_job_status js;
    char *b = fixture("ibm_job_create.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_create(b, n, &js));
    HQ_CHECK_STR(js.id, "c5dge2d3rn7breq27i9g");
    HQ_CHECK_STR(js.backend, "ibm_fez");
    hq_free(b);
    b = fixture("ibm_session_create.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_create(b, n, &js));
    HQ_CHECK_STR(js.id, "cs1a2b3c4d5e6f7g8h9i");
    hq_free(b);
    struct {
        const char *file;
        hq_qpu_state state;
        const char *code, *msg;
        bool unknown;
    } cases[] = {
        {"ibm_job_completed.json", HQ_QPU_COMPLETED, "1305", "", false},
        {"ibm_job_cancelled_1305.json", HQ_QPU_CANCELLED, "1305",
         "the job ran longer than the maximum execution time", false},
        {"ibm_job_failed.json", HQ_QPU_FAILED, "1003", "Error in transpilation process. [1003]",
         false},
        {"ibm_job_queued_upper.json", HQ_QPU_QUEUED, "", "", false},
        {"ibm_job_unknown.json", HQ_QPU_PENDING, "", "", true},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        b = fixture(cases[i].file, &n);
        HQ_REQUIRE_OK(hq_ibm_parse_job(b, n, &js));
        HQ_CHECKF(js.state == cases[i].state, "%s: state %s", cases[i].file,
                  hq_qpu_state_name(js.state));
        HQ_CHECK_STR(js.failure_code, cases[i].code);
        if (cases[i].state != HQ_QPU_COMPLETED) HQ_CHECK_STR(js.failure_msg, cases[i].msg);
        HQ_CHECK(js.unknown_status == cases[i].unknown);
        hq_qpu_job_status_free(&js);
        hq_free(b);
    }
    HQ_CHECK_EQ_INT(hq_qpu_state_to_job(HQ_QPU_PENDING), HQ_JOB_QUEUED);
    HQ_CHECK_EQ_INT(hq_qpu_state_to_job(HQ_QPU_CANCELLED), HQ_JOB_CANCELLED);
    HQ_CHECK_FAILS(hq_ibm_parse_job("{\"id\":\"x\",\"state\":{}}", 21, &js), HQ_ERR_PARSE,
                   "job x has no status");
    HQ_CHECK_FAILS(hq_ibm_parse_job("{\"status\":\"Queued\"}", 19, &js), HQ_ERR_PARSE,
                   "\"id\" is missing");
    b = fixture("ibm_error_1002.json", &n);
    HQ_CHECK_FAILS(hq_ibm_parse_create(b, n, &js), HQ_ERR_PARSE, "\"id\" is missing");
    char m[400];
    HQ_CHECK_STR(hq_http_error_message(b, n, "application/json", 400, m, sizeof m),
                 "circuits do not match the target definition (non-ISA circuits). (code 1002)");
    hq_free(b);
}

HQ_TEST(ibm_parse_results) {
    size_t n = 0;
    hq_ibm_results r;
    hq_counts c;
    char *b = fixture("ibm_results_sampler.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_results(b, n, 2, &r));
    HQ_REQUIRE(r.n == 2 && r.pubs[0].status == HQ_OK && r.pubs[1].status == HQ_OK);
    HQ_CHECK_STR(r.pubs[0].cregs[0].name, "c");
    HQ_CHECK_EQ_INT(r.pubs[0].cregs[0].num_bits, 4);
    HQ_CHECK_EQ_INT(r.pubs[0].cregs[0].n_shots, 4);
    /* "0x2": c[0] = 0, c[1] = 1 -> outcome 2 with bit k = c[k] */
    HQ_CHECK_EQ_INT(r.pubs[0].cregs[0].samples[2], 2);
    HQ_REQUIRE_OK(hq_ibm_pub_counts(&r.pubs[1], NULL, 0, 0, &c));
    HQ_CHECK_EQ_INT(c.shots, 3);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 15), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 8), 1);
    HQ_CHECK_NEAR(hq_counts_expect_z(&c, 1), (-2.0 + 1.0) / 3.0, 1e-15); /* c[0]: 1,1,0 */
    hq_counts_free(&c);
    hq_ibm_results_free(&r);
    /* F9: fewer results than PUBs: the missing one is flagged, the others stay aligned */
    HQ_REQUIRE_OK(hq_ibm_parse_results(b, n, 3, &r));
    HQ_CHECK_EQ_INT(r.pubs[2].status, HQ_ERR_BACKEND);
    HQ_CHECK(strstr(r.pubs[2].error, "no result for PUB 2 (the job returned 2 results for 3") !=
             NULL);
    HQ_CHECK_FAILS(hq_ibm_pub_counts(&r.pubs[2], NULL, 0, 0, &c), HQ_ERR_INVALID_ARG,
                   "no result for PUB 2");
    hq_counts_free(&c);
    hq_ibm_results_free(&r);
    HQ_CHECK_FAILS(hq_ibm_parse_results(b, n, 1, &r), HQ_ERR_PARSE, "2 results for 1 PUBs");
    hq_free(b);

    /* two registers joined: the first named in the low bits */
    b = fixture("ibm_results_two_cregs.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_results(b, n, 1, &r));
    HQ_REQUIRE_OK(hq_ibm_pub_counts(&r.pubs[0], NULL, 0, 0, &c));
    /* shots: c=1,meas=2 -> 1|2<<1 = 5; c=0,meas=3 -> 6; c=1,meas=0 -> 1; c=1,meas=2 -> 5 */
    HQ_CHECK_EQ_INT(c.n_bits, 3);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 5), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 6), 1);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 1), 1);
    hq_counts_free(&c);
    const char *order[] = {"meas", "c"};
    HQ_REQUIRE_OK(hq_ibm_pub_counts(&r.pubs[0], order, 2, 0, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 2 | 1 << 2), 2); /* meas=2, c=1 */
    hq_counts_free(&c);
    const char *one[] = {"meas"};
    HQ_REQUIRE_OK(hq_ibm_pub_counts(&r.pubs[0], one, 1, 0, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 2), 2);
    hq_counts_free(&c);
    const char *nope[] = {"x"};
    HQ_CHECK_FAILS(hq_ibm_pub_counts(&r.pubs[0], nope, 1, 0, &c), HQ_ERR_NOT_FOUND,
                   "no classical register 'x'");
    hq_counts_free(&c);
    hq_ibm_results_free(&r);
    hq_free(b);

    /* one sample list per parameter binding */
    b = fixture("ibm_results_bindings.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_results(b, n, 1, &r));
    HQ_CHECK_EQ_INT(r.pubs[0].cregs[0].n_bindings, 2);
    HQ_REQUIRE_OK(hq_ibm_pub_counts(&r.pubs[0], NULL, 0, 1, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 1), 3);
    hq_counts_free(&c);
    HQ_CHECK_FAILS(hq_ibm_pub_counts(&r.pubs[0], NULL, 0, 2, &c), HQ_ERR_INVALID_ARG,
                   "binding 2 out of range [0, 2)");
    hq_counts_free(&c);
    hq_ibm_results_free(&r);
    hq_free(b);

    struct {
        const char *file;
        hq_status st;
        const char *msg;
    } bad[] = {
        {"ibm_results_typed.json", HQ_ERR_UNSUPPORTED, "typed (__type__ / __value__) encoding"},
        {"ibm_results_badhex.json", HQ_ERR_PARSE, "sample 1 is not a hex string"},
        {"ibm_results_wide.json", HQ_ERR_PARSE, "sample 0x10 does not fit in 4 bits"},
        {"ibm_results_numbits_string.json", HQ_ERR_PARSE, "num_bits is a string"},
        {"ibm_results_ragged.json", HQ_ERR_PARSE, "ragged or mixed arrays"},
        {"ibm_error_1002.json", HQ_ERR_PARSE, "\"results\" is missing"},
        {"html_503.html", HQ_ERR_PARSE, "HTML page"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++) {
        b = fixture(bad[i].file, &n);
        HQ_CHECK_FAILS(hq_ibm_parse_results(b, n, 1, &r), bad[i].st, bad[i].msg);
        HQ_CHECK(r.n == 0 && r.pubs == NULL);
        hq_free(b);
    }
    /* a partial body (1 of 2 PUBs) is fine; a truncated one is not */
    b = fixture("ibm_results_partial.json", &n);
    HQ_REQUIRE_OK(hq_ibm_parse_results(b, n, 2, &r));
    HQ_CHECK(r.pubs[0].status == HQ_OK && r.pubs[1].status == HQ_ERR_BACKEND);
    hq_ibm_results_free(&r);
    HQ_CHECK_FAILS(hq_ibm_parse_results(b, n / 2, 2, &r), HQ_ERR_PARSE, "truncated JSON");
    hq_free(b);
    HQ_CHECK_FAILS(hq_ibm_parse_results("{\"results\":[{\"data\":{}}]}", 25, 1, &r), HQ_ERR_PARSE,
                   "no classical registers");
}

HQ_TEST(ibm_parse_backends) {
    size_t n = 0;
    char *b = fixture("ibm_backends.json", &n);
    hq_qpu_backend_info *bk = NULL;
    int nb = 0;
    HQ_REQUIRE_OK(hq_ibm_parse_backends(b, n, &bk, &nb));
    HQ_REQUIRE(nb == 2);
    HQ_CHECK_STR(bk[0].name, "ibm_fez");
    HQ_CHECK(bk[0].available && bk[0].qubits == 156 && bk[0].queue_length == 12);
    HQ_CHECK(!bk[1].available && bk[1].queue_length == -1);
    HQ_CHECK_STR(bk[1].status, "paused");
    hq_free(bk);
    hq_free(b);
    HQ_CHECK_FAILS(hq_ibm_parse_backends("[]", 2, &bk, &nb), HQ_ERR_PARSE,
                   "\"devices\" is missing");
}

HQ_TEST(ibm_backend_configuration_to_device) {
    /* the §2.5 configuration / properties shapes go through the device loader */
    size_t nc = 0, np = 0;
    char *conf = fixture("ibm_backend_configuration.json", &nc);
    char *props = fixture("ibm_backend_properties.json", &np);
    HQ_REQUIRE(conf && props);
    hq_device *d = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf, props, &d));
    HQ_CHECK_STR(d->name, "ibm_fez");
    HQ_CHECK_EQ_INT(d->n_qubits, 3);
    HQ_CHECK_STR(d->calibration_id, "2025-02-26T15:16:25-05:00");
    HQ_CHECK(hq_device_has_edge(d, 1, 2) && !hq_device_has_edge(d, 0, 2));
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_CZ);
    HQ_CHECK_NEAR(d->qubits[0].t1_us, 48.8, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].readout_length_ns, 1560, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_SX, 0, -1), 2.3e-4, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CZ, 1, 0), 68, 1e-12);
    HQ_CHECK_EQ_INT(d->max_experiments, 300);
    hq_device_free(d);
    hq_free(conf);
    hq_free(props);
}
