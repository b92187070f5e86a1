/*
 * tests/test_emulator_faults.c — every fault switch of the QPU emulator, observed on the
 * wire with raw libcurl: status codes, Retry-After, error bodies in each provider's shape,
 * HTML pages, dropped connections, delays, truncated and mistyped JSON, failed / cancelled /
 * partial jobs, slow queues, calibration changes mid-run, lost submit replies (counted
 * once), the spec syntax, counts, skips and routes, the X-Emu-Fault header; then hostile
 * input, concurrency, the statistics route and the `hqcnn emulator` command.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/emulator/emulator.h"
#include "tests/hq_test.h"
#include "tests/test_emulator_util.h"

static const char *JOB2 =
    "{\"target\":\"simulator\",\"shots\":1000,\"name\":\"hqcnn-tokA\",\"metadata\":{"
    "\"hqcnn_token\":\"tokA\"},\"input\":{\"qubits\":2,\"circuit\":[{\"gate\":\"h\",\"target\":0}]}"
    "}";
static const char *JOB3 =
    "{\"target\":\"simulator\",\"shots\":100,\"input\":{\"qubits\":2,\"circuits\":["
    "{\"circuit\":[{\"gate\":\"x\",\"target\":0}]},{\"circuit\":[{\"gate\":\"x\",\"target\":1}]},"
    "{\"circuit\":[{\"gate\":\"h\",\"target\":0}]}]}}";
static const char *ISA_PUB =
    "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nx $0;\\nc[0] = measure $0;"
    "\\nc[1] = measure $1;\\n\",null,64]";

static void ibm_body(char *out, size_t cap, int n_pubs, const char *tags) {
    hq_sbuf p = HQ_SBUF_INIT;
    for (int i = 0; i < n_pubs; i++) hq_sbuf_printf(&p, "%s%s", i ? "," : "", ISA_PUB);
    snprintf(out, cap,
             "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE "\",\"params\":{"
             "\"pubs\":[%s]}%s%s%s}",
             p.p, tags ? ",\"tags\":[" : "", tags ? tags : "", tags ? "]" : "");
    hq_sbuf_free(&p);
}

/* The member at a dotted path ("state.reason_code"), NULL if absent. */
static const cJSON *json_at(const cJSON *o, const char *path) {
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *c = o;
    for (char *k = strtok_r(buf, ".", &save); k && c; k = strtok_r(NULL, ".", &save))
        c = cJSON_GetObjectItemCaseSensitive(c, k);
    return c;
}

static const char *json_str(const cJSON *o, const char *path) {
    return cJSON_GetStringValue(json_at(o, path));
}

static double json_num(const cJSON *o, const char *path) {
    const cJSON *c = json_at(o, path);
    return cJSON_IsNumber(c) ? c->valuedouble : NAN;
}

static void arm(hq_emulator *e, const char *spec) {
    if (hq_emulator_arm_faults(e, spec) != HQ_OK)
        hq_test_fail(__FILE__, __LINE__, "arming '%s': %s", spec, hq_last_error());
}

/* ==== spec syntax ===================================================================== */

HQ_TEST(emulator_fault_spec_syntax) {
    static const char *good[] = {
        "rate429:2@3,err500@1",
        " err500:502@*+2~GET/v0.3/jobs , drop ",
        "timeout:1500,truncate,bad_json_types,auth401,auth403,err503_html",
        "job_fail:PreflightError,job_fail,provider_cancel,partial,slow_queue:2.5",
        "recalibrate_mid_run,dup_submit,dup_submit:250~POST/api/v1/jobs",
        "[\"rate429:1\",{\"fault\":\"err500\",\"arg\":503,\"count\":2,\"skip\":1,\"route\":\"GET "
        "/api/v1/\"},{\"fault\":\"drop\",\"count\":\"*\"}]",
        "{\"fault\":\"job_fail\",\"arg\":\"1517\"}",
        "",
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(good); i++)
        HQ_CHECKF(hq_emulator_check_faults(good[i]) == HQ_OK, "'%s': %s", good[i], hq_last_error());
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"bogus", "unknown fault 'bogus' (known: auth401 auth403 rate429"},
        {"timeout", "needs an argument (timeout:<milliseconds>)"},
        {"slow_queue", "needs an argument"},
        {"auth401:3", "takes no argument"},
        {"rate429:1.5", "must be an integer"},
        {"rate429:-1", "must be a number in [0, 86400]"},
        {"err500:404", "must be a number in [500, 599]"},
        {"err500@0", "count '0' is not an integer >= 1"},
        {"err500@x", "count 'x'"},
        {"err500+y", "skip 'y'"},
        {"err500~jobs", "route must be [METHOD]/path/prefix"},
        {"job_fail:a b", "letters, digits"},
        {"err500,,drop", "empty item"},
        {"[{\"fault\":\"err500\",\"cnt\":1}]", "unknown field 'cnt'"},
        {"[1]", "expected a string or an object"},
        {"[{\"arg\":1}]", "faults[0].fault"},
        {"[{\"fault\":\"err500\",\"count\":0}]", "count: must be an integer >= 1"},
        {"{\"fault\":", "invalid JSON"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++)
        HQ_CHECK_FAILS(hq_emulator_check_faults(bad[i].spec), HQ_ERR_PARSE, bad[i].msg);

    /* the control route arms, lists and clears */
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    et_resp r;
    et_http("POST", et_url(e, "/_emu/faults"), NULL, "rate429:2@3,err500~/api/v1/", 0, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    cJSON *j = et_json(&r);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "armed");
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(a), 2);
    HQ_CHECK_STR(json_str(cJSON_GetArrayItem(a, 0), "fault"), "rate429");
    HQ_CHECK_STR(json_str(cJSON_GetArrayItem(a, 0), "arg"), "2");
    HQ_CHECK(json_num(cJSON_GetArrayItem(a, 0), "count") == 3);
    HQ_CHECK_STR(json_str(cJSON_GetArrayItem(a, 1), "route"), "/api/v1/");
    cJSON_Delete(j);
    et_resp_free(&r);
    et_http("POST", et_url(e, "/_emu/faults"), NULL, "[{\"fault\":\"nope\"}]", 0, &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "unknown fault 'nope'"));
    et_resp_free(&r);
    hq_emulator_stats st;
    HQ_CHECK_OK(hq_emulator_get_stats(e, &st));
    HQ_CHECK_EQ_INT(st.faults_armed, 4);
    et_http("DELETE", et_url(e, "/_emu/faults"), NULL, NULL, 0, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"armed\":[]"));
    et_resp_free(&r);
    HQ_CHECK_FAILS(hq_emulator_arm_faults(e, "err500@"), HQ_ERR_PARSE, "count ''");
    HQ_CHECK_FAILS(hq_emulator_arm_faults(e, NULL), HQ_ERR_INVALID_ARG, "spec is NULL");
    HQ_CHECK_OK(hq_emulator_arm_faults(e, "drop@*"));
    HQ_CHECK_OK(hq_emulator_get_stats(e, &st));
    HQ_CHECK_EQ_INT(st.faults_armed, -1);
    HQ_CHECK_OK(hq_emulator_clear_faults(e));
    hq_emulator_stop(e);
}

/* ==== reply faults ==================================================================== */

HQ_TEST(emulator_fault_auth) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    arm(e, "auth401~POST/v0.3/jobs,auth403~/api/v1/,auth401~/identity/");
    et_resp r;
    et_ionq(e, "POST", "/v0.3/jobs", JOB2, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(json_str(j, "error"), "Unauthorized");
    HQ_CHECK(json_num(j, "statusCode") == 401);
    cJSON_Delete(j);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 0); /* the request was not processed */
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 403);
    j = et_json(&r);
    HQ_CHECK(json_num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0),
                      "code") == 1201);
    cJSON_Delete(j);
    et_resp_free(&r);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    et_http("POST", et_url(e, "/identity/token"), form,
            "grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=" ET_KEY, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    HQ_CHECK(strstr(r.body, "\"errorCode\":\"BXNIM0415E\"") != NULL);
    et_resp_free(&r);
    /* one shot each: then everything works */
    et_ionq(e, "POST", "/v0.3/jobs", JOB2, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "auth401"), 2);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "auth403"), 1);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "nope"), -1);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 1);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_rate429) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    arm(e, "rate429:2@3");
    et_resp r;
    for (int i = 0; i < 3; i++) {
        et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
        HQ_CHECK_EQ_INT(r.status, 429);
        HQ_CHECK_STR(r.retry_after, "2");
        cJSON *j = et_json(&r);
        HQ_CHECK_STR(json_str(j, "error"), "Too Many Requests");
        HQ_CHECK(json_num(j, "statusCode") == 429);
        cJSON_Delete(j);
        et_resp_free(&r);
    }
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    HQ_CHECK_STR(r.retry_after, "");
    et_resp_free(&r);
    /* without an argument: no Retry-After; IBM shape with code 1202 */
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    arm(e, "rate429");
    et_ibm(e, tok, "GET", "/api/v1/jobs", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 429);
    HQ_CHECK_STR(r.retry_after, "");
    cJSON *j = et_json(&r);
    HQ_CHECK(json_num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0),
                      "code") == 1202);
    cJSON_Delete(j);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "rate429"), 4);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_server_errors) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    arm(e, "err500,err500:502,err503_html");
    et_resp r;
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 500);
    HQ_CHECK(!strncmp(r.ctype, "application/json", 16));
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(json_str(j, "error"), "Internal Server Error");
    cJSON_Delete(j);
    et_resp_free(&r);
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 502);
    et_resp_free(&r);
    et_ionq(e, "POST", "/v0.3/jobs", JOB2, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 503);
    HQ_CHECK(!strncmp(r.ctype, "text/html", 9));
    HQ_CHECK(!strncmp(r.body, "<!DOCTYPE html>", 15));
    j = et_json(&r);
    HQ_CHECK(j == NULL); /* not JSON */
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 0);
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_drop_and_timeout) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    const char *h[] = {"Authorization: apiKey " ET_KEY, NULL};
    arm(e, "drop");
    et_resp r;
    et_http("GET", et_url(e, "/v0.3/backends"), h, NULL, 5000, &r);
    HQ_CHECK_EQ_INT(r.curl_code, CURLE_GOT_NOTHING);
    HQ_CHECK_EQ_INT(r.status, 0);
    et_resp_free(&r);
    /* a sleep past the client's timeout */
    arm(e, "timeout:1500");
    et_http("GET", et_url(e, "/v0.3/backends"), h, NULL, 300, &r);
    HQ_CHECK_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    et_resp_free(&r);
    /* a sleep shorter than the timeout: a late but complete reply */
    arm(e, "timeout:400");
    et_http("GET", et_url(e, "/v0.3/backends"), h, NULL, 5000, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    HQ_CHECK(r.seconds >= 0.39);
    et_resp_free(&r);
    /* a timed-out submission was processed: the job exists */
    arm(e, "timeout:1000~POST/v0.3/jobs");
    const char *hp[] = {"Authorization: apiKey " ET_KEY, "Content-Type: application/json", NULL};
    et_http("POST", et_url(e, "/v0.3/jobs"), hp, JOB2, 200, &r);
    HQ_CHECK_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 1);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "timeout"), 3);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "drop"), 1);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_truncate_and_types) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char id[64], st[32], path[128];
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_resp full, r;
    et_ionq(e, "GET", path, NULL, NULL, &full);
    arm(e, "truncate");
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    HQ_CHECK_EQ_INT(r.curl_code, 0); /* a complete HTTP reply ... */
    HQ_CHECK_EQ_INT(r.len, full.len / 2);
    HQ_CHECK(!strncmp(r.body, full.body, r.len)); /* ... carrying half the JSON */
    cJSON *j = et_json(&r);
    HQ_CHECK(j == NULL);
    et_resp_free(&r);
    /* numbers become strings: "shots":"1000" */
    arm(e, "bad_json_types");
    et_ionq(e, "GET", path, NULL, NULL, &r);
    j = et_json(&r);
    HQ_REQUIRE(j);
    HQ_CHECK_STR(json_str(j, "shots"), "1000");
    HQ_CHECK_STR(json_str(j, "qubits"), "2");
    HQ_CHECK_STR(json_str(j, "status"), "completed");
    HQ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "request")));
    cJSON_Delete(j);
    et_resp_free(&r);
    /* on results: the probabilities become strings */
    arm(e, "bad_json_types");
    snprintf(path, sizeof path, "/v0.3/jobs/%s/results", id);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"0\":\"0.5\""));
    et_resp_free(&r);
    et_resp_free(&full);
    hq_emulator_stop(e);
}

/* ==== job faults ====================================================================== */

static cJSON *ionq_job(hq_emulator *e, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_resp r;
    et_ionq(e, "GET", path, NULL, NULL, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    return j;
}

static cJSON *ibm_job(hq_emulator *e, const char *tok, const char *id, const char *suffix) {
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s%s", id, suffix);
    et_resp r;
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    cJSON *j = r.status == 200 ? et_json(&r) : NULL;
    et_resp_free(&r);
    return j;
}

HQ_TEST(emulator_fault_job_fail_and_cancel) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256], body[4096], id[64], st[32];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    /* IonQ: failed with failure {code, error}; the default code is InternalError */
    arm(e, "job_fail:CompilationError");
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "failed");
    cJSON *j = ionq_job(e, id);
    HQ_CHECK_STR(json_str(j, "failure.code"), "CompilationError");
    HQ_CHECK(json_str(j, "failure.error") != NULL);
    cJSON_Delete(j);
    arm(e, "job_fail");
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    j = ionq_job(e, id);
    HQ_CHECK_STR(json_str(j, "failure.code"), "InternalError");
    cJSON_Delete(j);
    /* IBM: Failed with state.reason and a numeric reason_code */
    ibm_body(body, sizeof body, 1, NULL);
    arm(e, "job_fail:1517");
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Failed");
    j = ibm_job(e, tok, id, "");
    HQ_CHECK(json_num(j, "state.reason_code") == 1517);
    HQ_CHECK(json_str(j, "state.reason") && strstr(json_str(j, "state.reason"), "failed"));
    cJSON_Delete(j);
    HQ_CHECK(ibm_job(e, tok, id, "/results") == NULL);
    /* provider cancel: IonQ canceled, IBM Cancelled with reason_code 1305 */
    arm(e, "provider_cancel");
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "canceled");
    arm(e, "provider_cancel");
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Cancelled");
    j = ibm_job(e, tok, id, "");
    HQ_CHECK(json_num(j, "state.reason_code") == 1305);
    HQ_CHECK(json_str(j, "state.reason") && strstr(json_str(j, "state.reason"), "maximum"));
    cJSON_Delete(j);
    /* job faults wait for a submission: reads do not consume them */
    arm(e, "job_fail~/api/v1/");
    j = ibm_job(e, tok, id, "");
    HQ_CHECK(j != NULL);
    cJSON_Delete(j);
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Failed");
    j = ibm_job(e, tok, id, "");
    HQ_CHECK(json_num(j, "state.reason_code") == 1500);
    cJSON_Delete(j);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "job_fail"), 4);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "provider_cancel"), 2);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_partial) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char id[64], st[32], path[128];
    arm(e, "partial");
    HQ_REQUIRE(et_ionq_submit(e, JOB3, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    cJSON *j = ionq_job(e, id);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "children");
    HQ_REQUIRE(cJSON_GetArraySize(ch) == 3);
    snprintf(path, sizeof path, "/v0.3/jobs/%s/results", id);
    et_resp r;
    et_ionq(e, "GET", path, NULL, NULL, &r);
    cJSON *res = et_json(&r);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(res), 2);
    HQ_CHECK(cJSON_GetObjectItemCaseSensitive(res, cJSON_GetArrayItem(ch, 0)->valuestring));
    HQ_CHECK(cJSON_GetObjectItemCaseSensitive(res, cJSON_GetArrayItem(ch, 1)->valuestring));
    HQ_CHECK(!cJSON_GetObjectItemCaseSensitive(res, cJSON_GetArrayItem(ch, 2)->valuestring));
    /* the surviving children keep their own results (no shift) */
    const cJSON *c1 = cJSON_GetObjectItemCaseSensitive(res, cJSON_GetArrayItem(ch, 1)->valuestring);
    HQ_CHECK(json_num(c1, "2") == 1);
    cJSON *missing = ionq_job(e, cJSON_GetArrayItem(ch, 2)->valuestring);
    HQ_CHECK_STR(json_str(missing, "status"), "failed");
    cJSON_Delete(missing);
    cJSON_Delete(res);
    cJSON_Delete(j);
    /* IBM: one pub fewer */
    char tok[256], body[4096];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(body, sizeof body, 3, NULL);
    arm(e, "partial");
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    res = ibm_job(e, tok, id, "/results");
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "results")), 2);
    cJSON_Delete(res);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_slow_queue) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char id[64], id2[64];
    arm(e, "slow_queue:30");
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id));
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id2)); /* count 1: the next job is fast */
    hq_sleep_ms(300);
    cJSON *j = ionq_job(e, id);
    HQ_CHECK_STR(json_str(j, "status"), "ready");
    cJSON_Delete(j);
    char st[32];
    HQ_REQUIRE(et_ionq_wait(e, id2, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    char tok[256], body[4096];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(body, sizeof body, 1, NULL);
    arm(e, "slow_queue:30");
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    hq_sleep_ms(200);
    j = ibm_job(e, tok, id, "");
    HQ_CHECK_STR(json_str(j, "state.status"), "Queued");
    cJSON_Delete(j);
    hq_emulator_stop(e);
}

static char *props_date(hq_emulator *e, const char *tok) {
    cJSON *p = NULL;
    et_resp r;
    et_ibm(e, tok, "GET", "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/properties", NULL, NULL, &r);
    p = et_json(&r);
    et_resp_free(&r);
    const char *d = json_str(p, "last_update_date");
    char *out = d ? hq_strdup(d) : NULL;
    cJSON_Delete(p);
    return out;
}

HQ_TEST(emulator_fault_recalibrate_mid_run) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256], body[4096], a[64], b[64], st[32];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(body, sizeof body, 1, NULL);
    /* a reference job without the fault */
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, a));
    HQ_REQUIRE(et_ibm_wait(e, tok, a, 10, st, sizeof st));
    char *d0 = props_date(e, tok);
    HQ_REQUIRE(d0);
    HQ_CHECK_STR(d0, "2024-05-27T15:27:23-03:00");
    et_resp r;
    et_ionq(e, "GET", "/v0.3/characterizations/backends/qpu.forte-1/current", NULL, NULL, &r);
    cJSON *c0 = et_json(&r);
    et_resp_free(&r);
    arm(e, "recalibrate_mid_run");
    const char *delay[] = {"X-Emu-Delay-Ms: 400,200", NULL};
    HQ_REQUIRE(et_ibm_submit(e, tok, body, delay, b));
    char *d_submit = props_date(e, tok); /* still queued: the old calibration */
    HQ_CHECK_STR(d_submit, d0);
    HQ_REQUIRE(et_ibm_wait(e, tok, b, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    char *d1 = props_date(e, tok);
    HQ_CHECK(d1 && strcmp(d1, d0) != 0);
    et_ionq(e, "GET", "/v0.3/characterizations/backends/qpu.forte-1/current", NULL, NULL, &r);
    cJSON *c1 = et_json(&r);
    et_resp_free(&r);
    HQ_CHECK(strcmp(json_str(c0, "date"), json_str(c1, "date")) != 0);
    hq_emulator_stats s;
    HQ_CHECK_OK(hq_emulator_get_stats(e, &s));
    HQ_CHECK_EQ_INT(s.calibration_count, 1);
    /* noise values unchanged: the results are identical to the reference job's */
    cJSON *ra = ibm_job(e, tok, a, "/results"), *rb = ibm_job(e, tok, b, "/results");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(ra, "results");
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(rb, "results");
    HQ_CHECK(sa && sb && cJSON_Compare(sa, sb, 1));
    cJSON_Delete(ra);
    cJSON_Delete(rb);
    /* /_emu/recalibrate bumps it again */
    et_http("POST", et_url(e, "/_emu/recalibrate"), NULL, NULL, 0, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"count\":2"));
    et_resp_free(&r);
    char *d2 = props_date(e, tok);
    HQ_CHECK(d2 && strcmp(d2, d1) != 0);
    hq_free(d0);
    hq_free(d_submit);
    hq_free(d1);
    hq_free(d2);
    cJSON_Delete(c0);
    cJSON_Delete(c1);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_dup_submit) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    const char *h[] = {"Authorization: apiKey " ET_KEY, "Content-Type: application/json", NULL};
    arm(e, "dup_submit");
    et_resp r;
    et_http("POST", et_url(e, "/v0.3/jobs"), h, JOB2, 5000, &r);
    HQ_CHECK_EQ_INT(r.curl_code, CURLE_GOT_NOTHING); /* the reply never arrives */
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 1); /* but the job exists, once */
    /* the client finds it by its token */
    et_ionq(e, "GET", "/v0.3/jobs?metadata.hqcnn_token=tokA", NULL, NULL, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(j, "jobs");
    HQ_REQUIRE(cJSON_GetArraySize(jobs) == 1);
    char id[64], st[32];
    snprintf(id, sizeof id, "%s", json_str(cJSON_GetArrayItem(jobs, 0), "id"));
    cJSON_Delete(j);
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    /* the hanging form: the reply is held past the client's timeout, then dropped */
    char tok[256], body[4096];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(body, sizeof body, 1, "\"hqcnn-token:tokB\"");
    arm(e, "dup_submit:800");
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *hi[] = {auth, "Service-CRN: " ET_CRN, "Content-Type: application/json", NULL};
    et_http("POST", et_url(e, "/api/v1/jobs"), hi, body, 300, &r);
    HQ_CHECK_EQ_INT(r.curl_code, CURLE_OPERATION_TIMEDOUT);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 2);
    et_ibm(e, tok, "GET", "/api/v1/jobs?tags=hqcnn-token:tokB", NULL, NULL, &r);
    j = et_json(&r);
    et_resp_free(&r);
    HQ_CHECK(json_num(j, "count") == 1);
    cJSON_Delete(j);
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "dup_submit"), 2);
    /* one-shot: the next submission is answered */
    char id2[64];
    HQ_CHECK(et_ionq_submit(e, JOB2, NULL, id2));
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 3);
    hq_emulator_stop(e);
}

/* ==== header faults, counts, skips, routes ============================================ */

HQ_TEST(emulator_fault_header) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    et_resp r;
    /* without @COUNT a header fault fires on every request carrying it */
    const char *always[] = {"X-Emu-Fault: err500", NULL};
    for (int i = 0; i < 3; i++) {
        et_ionq(e, "GET", "/v0.3/backends", NULL, always, &r);
        HQ_CHECK_EQ_INT(r.status, 500);
        et_resp_free(&r);
    }
    /* with @COUNT: n times for the same method and path, then the request passes (what a
     * client retrying with the same header sees) */
    const char *twice[] = {"X-Emu-Fault: rate429:1@2", NULL};
    for (int i = 0; i < 4; i++) {
        et_ionq(e, "GET", "/v0.3/jobs", NULL, twice, &r);
        HQ_CHECKF(r.status == (i < 2 ? 429 : 200), "request %d: %ld", i, r.status);
        et_resp_free(&r);
    }
    et_ionq(e, "GET", "/v0.3/backends", NULL, twice, &r); /* another path: its own count */
    HQ_CHECK_EQ_INT(r.status, 429);
    et_resp_free(&r);
    /* +SKIP in a header */
    const char *skip[] = {"X-Emu-Fault: err503_html@1+1", NULL};
    et_ionq(e, "GET", "/v0.3/jobs", NULL, skip, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    et_ionq(e, "GET", "/v0.3/jobs", NULL, skip, &r);
    HQ_CHECK_EQ_INT(r.status, 503);
    et_resp_free(&r);
    /* job faults in a header apply to that submission */
    const char *fail[] = {"X-Emu-Fault: job_fail:PreflightError,timeout:100", NULL};
    et_ionq(e, "POST", "/v0.3/jobs", JOB2, fail, &r);
    HQ_CHECK(r.status == 200 && r.seconds >= 0.099);
    cJSON *j = et_json(&r);
    char id[64], st[32];
    snprintf(id, sizeof id, "%s", json_str(j, "id"));
    cJSON_Delete(j);
    et_resp_free(&r);
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "failed");
    /* a bad header is a 400 naming it */
    const char *bad[] = {"X-Emu-Fault: explode", NULL};
    et_ionq(e, "GET", "/v0.3/backends", NULL, bad, &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "X-Emu-Fault") && strstr(r.body, "explode"));
    et_resp_free(&r);
    /* a route-restricted header item does not fire elsewhere */
    const char *routed[] = {"X-Emu-Fault: err500~POST/v0.3/jobs", NULL};
    et_ionq(e, "GET", "/v0.3/backends", NULL, routed, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_fault_count_skip_route) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    o.faults = "err500@2+1~GET/v0.3/backends";
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    et_resp r;
    static const int expect[] = {200, 500, 500, 200, 200};
    for (int i = 0; i < 5; i++) {
        et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
        HQ_CHECKF(r.status == expect[i], "request %d: %ld", i, r.status);
        et_resp_free(&r);
        et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r); /* another route: never */
        HQ_CHECK_EQ_INT(r.status, 200);
        et_resp_free(&r);
    }
    HQ_CHECK_EQ_INT(hq_emulator_fault_count(e, "err500"), 2);
    hq_emulator_stats s;
    HQ_CHECK_OK(hq_emulator_get_stats(e, &s));
    HQ_CHECK_EQ_INT(s.faults_armed, 0);
    HQ_CHECK_EQ_INT(s.faults_fired, 2);
    /* unlimited until cleared */
    arm(e, "err500@*");
    for (int i = 0; i < 4; i++) {
        et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r);
        HQ_CHECK_EQ_INT(r.status, 500);
        et_resp_free(&r);
    }
    /* control routes never fault */
    et_http("DELETE", et_url(e, "/_emu/faults"), NULL, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    /* a reply fault wins over an armed delivery fault, which waits for a real reply */
    arm(e, "truncate,err500");
    et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r);
    cJSON *j = et_json(&r);
    HQ_CHECK(r.status == 500 && j != NULL);
    cJSON_Delete(j);
    et_resp_free(&r);
    et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r);
    j = et_json(&r);
    HQ_CHECK(r.status == 200 && j == NULL);
    cJSON_Delete(j);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

/* ==== hostile input, concurrency, statistics ========================================== */

HQ_TEST(emulator_hostile_input) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.max_body_bytes = 4096;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    et_resp r;
    /* too large */
    char *big = hq_malloc(100000);
    HQ_REQUIRE(big);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    et_ionq(e, "POST", "/v0.3/jobs", big, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 413);
    HQ_CHECK(strstr(r.body, "larger than 4096 bytes") != NULL);
    et_resp_free(&r);
    hq_free(big);
    /* malformed and wrong-typed JSON */
    static const char *junk[] = {"{",
                                 "{\"program_id\":",
                                 "\x01\x02\xff",
                                 "null",
                                 "{\"params\":[]}",
                                 "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE
                                 "\",\"params\":{\"pubs\":[[\"OPENQASM 3.0;\",[[[[1]]]]]]}}",
                                 "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE
                                 "\",\"params\":{\"pubs\":{}}}"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(junk); i++) {
        et_ibm(e, tok, "POST", "/api/v1/jobs", junk[i], NULL, &r);
        HQ_CHECKF(r.status == 400, "case %zu: %ld", i, r.status);
        cJSON *j = et_json(&r);
        HQ_CHECKF(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "errors")), "case %zu", i);
        cJSON_Delete(j);
        et_resp_free(&r);
    }
    /* unknown routes and methods: JSON errors in the family's shape */
    et_http("GET", et_url(e, "/nothing/here"), NULL, NULL, 0, &r);
    HQ_CHECK(r.status == 404 && strstr(r.body, "\"errors\"")); /* the ibm profile's shape */
    et_resp_free(&r);
    et_ionq(e, "GET", "/v0.3/warp", NULL, NULL, &r);
    HQ_CHECK(r.status == 404 && strstr(r.body, "\"statusCode\":404"));
    et_resp_free(&r);
    et_ionq(e, "DELETE", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 405);
    et_resp_free(&r);
    et_ibm(e, tok, "PUT", "/api/v1/jobs", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 405);
    et_resp_free(&r);
    et_http("GET", et_url(e, "/a/b/c/d/e/f/g/h/i/j/k"), NULL, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    et_http("GET", et_url(e, "/_emu/nothing"), NULL, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    char longid[600];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char path[700];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", longid);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    /* a bad X-Emu-Delay-Ms is ignored (the server delays apply) */
    const char *bd[] = {"X-Emu-Delay-Ms: soon", NULL};
    char id[64];
    HQ_CHECK(et_ionq_submit(e, "{\"target\":\"simulator\",\"input\":{\"qubits\":1,\"circuit\":[]}}",
                            bd, id));
    /* still serving */
    et_http("GET", et_url(e, "/_emu/health"), NULL, NULL, 0, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"ok\":true"));
    et_resp_free(&r);
    hq_emulator_stop(e);
}

typedef struct slow_arg {
    hq_emulator *e;
    double t_end; /* monotonic time the reply arrived */
    long status;
} slow_arg;

static void *slow_thread(void *p) {
    slow_arg *a = p;
    const char *h[] = {"Authorization: apiKey " ET_KEY, "X-Emu-Fault: timeout:1500", NULL};
    et_resp r;
    et_http("GET", et_url(a->e, "/v0.3/backends"), h, NULL, 10000, &r);
    a->status = r.status;
    a->t_end = hq_time_now();
    et_resp_free(&r);
    return NULL;
}

/* A slow reply and a long simulation do not hold up other requests. */
HQ_TEST(emulator_concurrency) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    slow_arg a = {e, 0, 0};
    pthread_t th;
    HQ_REQUIRE(pthread_create(&th, NULL, slow_thread, &a) == 0);
    hq_sleep_ms(100);
    et_resp r;
    et_ionq(e, "GET", "/v0.3/jobs", NULL, NULL, &r);
    double t_fast = hq_time_now();
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    pthread_join(th, NULL);
    HQ_CHECK_EQ_INT(a.status, 200);
    HQ_CHECK(t_fast < a.t_end); /* answered while the slow reply was still pending */
    /* a 10-qubit noisy job on the worker; the server keeps answering meanwhile */
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b,
                 "{\"target\":\"qpu.aria-1\",\"shots\":100,\"input\":{\"qubits\":10,\"circuit\":[");
    for (int k = 0; k < 30; k++)
        hq_sbuf_printf(&b, "%s{\"gate\":\"xx\",\"targets\":[%d,%d],\"rotation\":0.3}", k ? "," : "",
                       k % 10, (k + 3) % 10);
    hq_sbuf_puts(&b, "]}}");
    char id[64], st[32];
    HQ_REQUIRE(et_ionq_submit(e, b.p, NULL, id));
    int answered = 0;
    for (int i = 0; i < 5; i++) {
        et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
        answered += r.status == 200;
        et_resp_free(&r);
    }
    HQ_CHECK_EQ_INT(answered, 5);
    HQ_REQUIRE(et_ionq_wait(e, id, 60, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    hq_sbuf_free(&b);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_stats) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256], body[4096], id[64];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));  /* ibm request 1 */
    HQ_REQUIRE(et_ionq_submit(e, JOB2, NULL, id)); /* ionq 1 */
    HQ_REQUIRE(et_ionq_submit(e, JOB3, NULL, id)); /* ionq 2 */
    ibm_body(body, sizeof body, 2, NULL);
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id)); /* ibm 2 */
    arm(e, "rate429@2,dup_submit");
    et_resp r;
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r); /* ionq 3, 429 */
    et_resp_free(&r);
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r); /* ibm 3, 429 */
    et_resp_free(&r);
    et_ionq(e, "POST", "/v0.3/jobs", JOB2, NULL, &r); /* ionq 4, dropped, accepted */
    et_resp_free(&r);
    et_http("GET", et_url(e, "/nowhere"), NULL, NULL, 0, &r); /* other 1 */
    et_resp_free(&r);
    et_http("GET", et_url(e, "/_emu/stats"), NULL, NULL, 0, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    HQ_CHECK(json_num(j, "requests.total") == 8);
    HQ_CHECK(json_num(j, "requests.ionq") == 4);
    HQ_CHECK(json_num(j, "requests.ibm") == 3);
    HQ_CHECK(json_num(j, "jobs.accepted.total") == 4);
    HQ_CHECK(json_num(j, "jobs.accepted.ionq") == 3);
    HQ_CHECK(json_num(j, "jobs.accepted.ibm") == 1);
    HQ_CHECK(json_num(j, "jobs.stored.total") == 4);
    HQ_CHECK(json_num(j, "faults.fired.total") == 3);
    HQ_CHECK(json_num(j, "faults.fired.rate429") == 2);
    HQ_CHECK(json_num(j, "faults.fired.dup_submit") == 1);
    HQ_CHECK(json_num(j, "faults.fired.err500") == 0);
    HQ_CHECK_STR(json_str(j, "calibration.date"), "2024-05-27T15:27:23-03:00");
    HQ_CHECK_STR(json_str(j, "profile"), "ionq");
    cJSON_Delete(j);
    hq_emulator_stats s;
    HQ_CHECK_OK(hq_emulator_get_stats(e, &s));
    HQ_CHECK_EQ_INT(s.requests, 8);
    HQ_CHECK_EQ_INT(s.jobs_accepted_ionq, 3);
    HQ_CHECK_EQ_INT(s.faults_fired, 3);
    HQ_CHECK_FAILS(hq_emulator_get_stats(e, NULL), HQ_ERR_MISUSE, "out is NULL");
    hq_emulator_stop(e);
}

/* ==== the command ===================================================================== */

/* Run `hqcnn emulator ARGS` with env KEY=VAL pairs; read its stdout's first line. */
static pid_t spawn(const char *const *args, const char *const *env, char *line, size_t cap,
                   int *out_fd) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        close(fd[0]);
        close(fd[1]);
        unsetenv("IONQ_API_KEY");
        unsetenv("IBM_QUANTUM_API_KEY");
        unsetenv("IBM_CLOUD_API_KEY");
        for (int i = 0; env && env[i]; i += 2) setenv(env[i], env[i + 1], 1);
        const char *argv[32] = {getenv("HQCNN_BIN"), "emulator"};
        int n = 2;
        for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    line[0] = '\0';
    while (n + 1 < cap) {
        ssize_t k = read(fd[0], line + n, 1);
        if (k <= 0 || line[n] == '\n') break;
        n++;
    }
    line[n] = '\0';
    *out_fd = fd[0];
    return pid;
}

static int wait_exit(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

HQ_TEST(emulator_cli) {
    const char *bin = getenv("HQCNN_BIN");
    if (!bin || access(bin, X_OK)) {
        printf("    (HQCNN_BIN not set: skipped)\n");
        return;
    }
    char line[8192];
    int fd;
    const char *env[] = {"IONQ_API_KEY", ET_KEY, NULL};
    const char *args[] = {"--profile", "ionq",     "--port",   "0", "--seed",
                          "3",         "--faults", "err500@1", NULL};
    pid_t pid = spawn(args, env, line, sizeof line, &fd);
    HQ_REQUIRE(pid > 0);
    const char *u = strstr(line, "http://127.0.0.1:");
    HQ_REQUIRE(u && strstr(line, "listening on"));
    char url[128];
    snprintf(url, sizeof url, "%.*s", (int)strcspn(u, " \n"), u);
    char full[256];
    const char *h[] = {"Authorization: apiKey " ET_KEY, NULL};
    et_resp r;
    snprintf(full, sizeof full, "%s/v0.3/backends", url);
    et_http("GET", full, h, NULL, 5000, &r);
    HQ_CHECK_EQ_INT(r.status, 500); /* --faults armed */
    et_resp_free(&r);
    et_http("GET", full, h, NULL, 5000, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    kill(pid, SIGTERM);
    HQ_CHECK_EQ_INT(wait_exit(pid), 0);
    close(fd);

    /* profiles shipped in configs/emulator, validated with --check */
    static const char *profiles[] = {"configs/emulator/ionq.json", "configs/emulator/ibm.json",
                                     "configs/emulator/flaky-ibm.json"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(profiles); i++) {
        if (access(profiles[i], R_OK)) {
            hq_test_fail(__FILE__, __LINE__, "%s missing (run the tests from the repository root)",
                         profiles[i]);
            continue;
        }
        const char *a2[] = {"--profile", profiles[i], "--check", NULL};
        const char *env2[] = {"IONQ_API_KEY", ET_KEY, "IBM_QUANTUM_API_KEY", ET_KEY, NULL};
        pid = spawn(a2, env2, line, sizeof line, &fd);
        cJSON *j = cJSON_Parse(line);
        HQ_CHECKF(j != NULL, "%s: --check printed '%s'", profiles[i], line);
        HQ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "profile")));
        cJSON_Delete(j);
        close(fd);
        HQ_CHECK_EQ_INT(wait_exit(pid), 0);
    }
    /* errors: no key, bad faults, no profile */
    const char *a3[] = {"--profile", "ibm", NULL};
    pid = spawn(a3, NULL, line, sizeof line, &fd);
    close(fd);
    HQ_CHECK_EQ_INT(wait_exit(pid), 1);
    const char *a4[] = {"--profile", "ionq", "--faults", "bogus", NULL};
    pid = spawn(a4, env, line, sizeof line, &fd);
    close(fd);
    HQ_CHECK_EQ_INT(wait_exit(pid), 2);
    const char *a5[] = {"--port", "1", NULL};
    pid = spawn(a5, env, line, sizeof line, &fd);
    close(fd);
    HQ_CHECK_EQ_INT(wait_exit(pid), 2);
}

static void *sleepy_thread(void *p) {
    slow_arg *a = p;
    const char *h[] = {"Authorization: apiKey " ET_KEY, NULL};
    et_resp r;
    et_http("GET", et_url(a->e, "/v0.3/backends"), h, NULL, 60000, &r);
    a->status = r.status;
    a->t_end = hq_time_now();
    et_resp_free(&r);
    return NULL;
}

/* Stopping cuts injected sleeps short (the 30 s reply delay does not hold up the stop). */
HQ_TEST(emulator_stop_interrupts_sleeps) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    o.faults = "timeout:30000";
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    slow_arg a = {e, 0, 0};
    pthread_t th;
    HQ_REQUIRE(pthread_create(&th, NULL, sleepy_thread, &a) == 0);
    hq_sleep_ms(300);
    double t0 = hq_time_now();
    hq_emulator_stop(e);
    double t_stop = hq_time_now();
    pthread_join(th, NULL);
    HQ_CHECKF(t_stop - t0 < 10, "stop took %.1f s", t_stop - t0);
    HQ_CHECKF(a.t_end - t0 < 10, "the pending request ended %.1f s after the stop", a.t_end - t0);
}

/* ==== fuzz corpus ===================================================================== */

int hq_fuzz_emulator(const uint8_t *data, size_t size); /* tests/fuzz/fuzz_emulator.c */
void hq_fuzz_emulator_done(void);

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *buf = NULL;
        size_t len = 0;
        if (hq_file_read(path, 0, &buf, &len) != HQ_OK) continue;
        hq_fuzz_emulator((const uint8_t *)buf, len);
        hq_free(buf);
        n++;
    }
    closedir(d);
    return n;
}

/* Every saved fuzz input runs cleanly through the emulator's parsers (crashes and leaks
 * fail under make check). */
HQ_TEST(emulator_fuzz_replay) {
    int n = replay_dir("tests/fuzz/seeds/fuzz_emulator") +
            replay_dir("tests/fuzz/corpus/fuzz_emulator") +
            replay_dir("tests/fuzz/regress/fuzz_emulator");
    hq_fuzz_emulator_done();
    HQ_CHECKF(n >= 9, "only %d fuzz inputs found (run from the repository root)", n);
}
