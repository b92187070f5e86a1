/*
 * tests/test_emulator.c — the QPU emulator's routes over loopback HTTP (libcurl): option
 * errors, the built-in device against the ibmq_manila snapshot, IonQ jobs (qis and native,
 * single and multi-circuit, bit order, preflight failures, exact probabilities against
 * independent values), IBM IAM and Runtime jobs (ISA rejection, hex samples with c[0] = LSB,
 * parameters, limits), noisy statistics against exact density-matrix probabilities
 * (chi-square), queue progression, cancel, job lists, determinism and persistence across a
 * restart. Faults are in test_emulator_faults.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/emulator/emu_impl.h"
#include "backends/emulator/emulator.h"
#include "backends/noise.h"
#include "backends/qasm.h"
#include "tests/hq_test.h"
#include "tests/test_emulator_util.h"

/* ==== options ========================================================================= */

HQ_TEST(emulator_options_errors) {
    hq_emulator *e = NULL;
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    HQ_CHECK_FAILS(hq_emulator_start(&o, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_emulator_start(NULL, &e), HQ_ERR_INVALID_ARG, "options are NULL");
    o.bind_addr = "0.0.0.0";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "127.0.0.1 only");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.bind_addr = "192.168.1.10";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "refused");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.port = 70000;
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "port 70000 out of range");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.queue_delay_ms = -1;
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "queue / run delay");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.max_qubits_noisy = 15;
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "max_qubits_noisy 15");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.profile = (hq_emu_profile)7;
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "profile 7 out of range");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.faults = "rate429:x";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "Retry-After seconds");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.device_props = "/nonexistent/props.json";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_INVALID_ARG, "device_props needs device_conf");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.device_conf = "/nonexistent/conf.json";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_NOT_FOUND, "/nonexistent/conf.json");
    o = et_options(HQ_EMU_PROFILE_IONQ);
    o.noise_path = "/nonexistent/noise.json";
    HQ_CHECK_FAILS(hq_emulator_start(&o, &e), HQ_ERR_NOT_FOUND, "/nonexistent/noise.json");
    HQ_CHECK(e == NULL);
    hq_emu_profile p;
    HQ_CHECK_FAILS(hq_emu_profile_parse("braket", &p), HQ_ERR_INVALID_ARG, "ionq, ibm");
    HQ_CHECK_OK(hq_emu_profile_parse("ibm", &p));
    HQ_CHECK(p == HQ_EMU_PROFILE_IBM);
    HQ_CHECK_STR(hq_emu_profile_name(HQ_EMU_PROFILE_IONQ), "ionq");
    /* a bad handle */
    HQ_CHECK_FAILS(hq_emulator_arm_faults(NULL, "err500"), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_emulator_recalibrate(NULL), HQ_ERR_MISUSE, "invalid handle");
    hq_emulator_stats st;
    HQ_CHECK_FAILS(hq_emulator_get_stats(NULL, &st), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK(hq_emulator_port(NULL) == 0);
    HQ_CHECK_STR(hq_emulator_url(NULL), "");
    HQ_CHECK(hq_emulator_fault_count(NULL, "err500") == -1);
    hq_emulator_stop(NULL);
}

HQ_TEST(emulator_port_in_use) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *a = et_start(&o);
    HQ_REQUIRE(a);
    o.port = hq_emulator_port(a);
    hq_emulator *b = NULL;
    HQ_CHECK_FAILS(hq_emulator_start(&o, &b), HQ_ERR_NETWORK, "cannot listen on 127.0.0.1");
    hq_emulator_stop(a);
}

/* ==== the built-in device ============================================================= */

static cJSON *get_ibm_doc(hq_emulator *e, const char *tok, const char *path, char **text) {
    et_resp r;
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    cJSON *j = r.status == 200 ? et_json(&r) : NULL;
    if (text) *text = r.status == 200 ? hq_strdup(r.body) : NULL;
    et_resp_free(&r);
    return j;
}

HQ_TEST(emulator_builtin_device_is_manila) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    char *conf = NULL, *props = NULL;
    cJSON *cj =
        get_ibm_doc(e, tok, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/configuration", &conf);
    cJSON *pj =
        get_ibm_doc(e, tok, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/properties", &props);
    HQ_REQUIRE(cj && pj);
    hq_device *d = NULL, *m = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf, props, &d));
    HQ_REQUIRE_OK(hq_device_load_ibm(hq_test_shared("data/ibm_backends/conf_manila.json"),
                                     hq_test_shared("data/ibm_backends/props_manila.json"), &m));
    HQ_CHECK_STR(d->name, HQ_EMU_DEFAULT_DEVICE);
    HQ_CHECK_EQ_INT(d->n_qubits, 5);
    HQ_CHECK_EQ_INT(d->max_shots, 100000);
    HQ_CHECK_EQ_INT(d->max_experiments, 300);
    HQ_CHECK(hq_device_two_qubit_gate(d) == HQ_GATE_CZ);
    const hq_gate basis[] = {HQ_GATE_CZ, HQ_GATE_ID, HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_X};
    for (int i = 0; i < 5; i++) HQ_CHECK(hq_device_supports(d, basis[i]));
    HQ_CHECK(!hq_device_supports(d, HQ_GATE_CX) && !hq_device_supports(d, HQ_GATE_ECR));
    /* the same line as manila, in both directions */
    HQ_CHECK_EQ_INT(d->n_edges, m->n_edges);
    for (int i = 0; i < m->n_edges; i++)
        HQ_CHECK(hq_device_has_edge(d, m->edges[i][0], m->edges[i][1]));
    HQ_CHECK_STR(d->calibration_id, m->calibration_id);
    for (int q = 0; q < 5; q++) {
        HQ_CHECK(d->qubits[q].t1_us == m->qubits[q].t1_us);
        HQ_CHECK(d->qubits[q].t2_us == m->qubits[q].t2_us);
        HQ_CHECK(d->qubits[q].readout_error == m->qubits[q].readout_error);
        HQ_CHECK(d->qubits[q].prob_meas0_prep1 == m->qubits[q].prob_meas0_prep1);
        HQ_CHECK(d->qubits[q].prob_meas1_prep0 == m->qubits[q].prob_meas1_prep0);
        HQ_CHECK(d->qubits[q].readout_length_ns == m->qubits[q].readout_length_ns);
        HQ_CHECK(d->qubits[q].frequency_ghz == m->qubits[q].frequency_ghz);
        HQ_CHECK(hq_device_gate_error(d, HQ_GATE_SX, q, -1) ==
                 hq_device_gate_error(m, HQ_GATE_SX, q, -1));
        HQ_CHECK(hq_device_gate_length_ns(d, HQ_GATE_X, q, -1) ==
                 hq_device_gate_length_ns(m, HQ_GATE_X, q, -1));
        HQ_CHECK(hq_device_gate_error(d, HQ_GATE_RZ, q, -1) == 0);
    }
    /* cz on each directed edge carries manila's cx numbers of that direction */
    for (int i = 0; i < m->n_gates; i++) {
        const hq_device_gate *g = &m->gates[i];
        if (g->gate != HQ_GATE_CX) continue;
        HQ_CHECK(hq_device_gate_error(d, HQ_GATE_CZ, g->q[0], g->q[1]) == g->error);
        HQ_CHECK(hq_device_gate_length_ns(d, HQ_GATE_CZ, g->q[0], g->q[1]) == g->length_ns);
    }
    /* the backend list and status */
    et_resp r;
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r);
    cJSON *bl = et_json(&r);
    const cJSON *dev0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bl, "devices"), 0);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dev0, "name")),
                 HQ_EMU_DEFAULT_DEVICE);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(dev0, "status"), "name")),
                 "online");
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(dev0, "qubits")) == 5);
    cJSON_Delete(bl);
    et_resp_free(&r);
    et_ibm(e, tok, "GET", "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/status", NULL, NULL, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"state\":true"));
    et_resp_free(&r);
    et_ibm(e, tok, "GET", "/api/v1/backends/ibm_nowhere/configuration", NULL, NULL, &r);
    HQ_CHECK(r.status == 404 && strstr(r.body, "\"code\":1007"));
    et_resp_free(&r);
    hq_device_free(d);
    hq_device_free(m);
    cJSON_Delete(cj);
    cJSON_Delete(pj);
    hq_free(conf);
    hq_free(props);
    hq_emulator_stop(e);
}

/* ==== IonQ ============================================================================ */

static const char *BELL_QIS =
    "{\"target\":\"simulator\",\"shots\":1000,\"name\":\"bell\",\"metadata\":{\"hqcnn_token\":"
    "\"tok-bell\"},\"input\":{\"format\":\"ionq.circuit.v0\",\"gateset\":\"qis\",\"qubits\":2,"
    "\"circuit\":[{\"gate\":\"h\",\"target\":0},{\"gate\":\"cnot\",\"control\":0,\"target\":1}]}}";

/* Results of an IonQ job as (outcome, probability) pairs; n returned. */
static int ionq_results(hq_emulator *e, const char *id, unsigned long long *k, double *p, int cap,
                        cJSON **raw) {
    char path[256];
    snprintf(path, sizeof path, "/v0.3/jobs/%s/results", id);
    et_resp r;
    et_ionq(e, "GET", path, NULL, NULL, &r);
    cJSON *j = r.status == 200 ? et_json(&r) : NULL;
    et_resp_free(&r);
    int n = 0;
    for (const cJSON *x = j ? j->child : NULL; x && n < cap; x = x->next) {
        if (!cJSON_IsNumber(x)) continue;
        k[n] = strtoull(x->string, NULL, 10);
        p[n++] = x->valuedouble;
    }
    if (raw)
        *raw = j;
    else
        cJSON_Delete(j);
    return j ? n : -1;
}

HQ_TEST(emulator_ionq_auth) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    et_resp r;
    et_http("GET", et_url(e, "/v0.3/backends"), NULL, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error")),
                 "Unauthorized");
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "statusCode")) == 401);
    HQ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "message")));
    cJSON_Delete(j);
    et_resp_free(&r);
    const char *bad[] = {"Authorization: apiKey wrong-key", NULL};
    et_http("POST", et_url(e, "/v0.3/jobs"), bad, BELL_QIS, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    HQ_CHECK(strstr(r.body, "Invalid API key") != NULL);
    HQ_CHECK(!strstr(r.body, ET_KEY));
    et_resp_free(&r);
    const char *bearer[] = {"Authorization: Bearer " ET_KEY, NULL};
    et_http("GET", et_url(e, "/v0.3/backends"), bearer, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 0);
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    hq_emulator_stop(e);

    /* no key configured: everything is refused */
    o.ionq_api_key = NULL;
    e = et_start(&o);
    HQ_REQUIRE(e);
    et_ionq(e, "GET", "/v0.3/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ionq_single_exact) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    et_resp r;
    et_ionq(e, "POST", "/v0.3/jobs", BELL_QIS, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")), "ready");
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")));
    cJSON_Delete(j);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(strlen(id), 36);
    HQ_CHECK(id[14] == '4' && id[8] == '-' && id[13] == '-');
    char st[32];
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    /* the job object */
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")), id);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "target")), "simulator");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name")), "bell");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(j, "metadata"), "hqcnn_token")),
                 "tok-bell");
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "qubits")) == 2);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "circuits")) == 1);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "shots")) == 1000);
    HQ_CHECK(!cJSON_GetObjectItemCaseSensitive(j, "children"));
    HQ_CHECK(!cJSON_GetObjectItemCaseSensitive(j, "failure"));
    double req = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "request"));
    double resp = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "response"));
    HQ_CHECK(fabs(req - hq_time_wall()) < 30 && resp >= req);
    HQ_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "execution_time")));
    cJSON_Delete(j);
    et_resp_free(&r);
    /* exact probabilities of the Bell state, keys = decimal outcomes */
    unsigned long long k[8];
    double p[8];
    int n = ionq_results(e, id, k, p, 8, NULL);
    HQ_REQUIRE(n == 2);
    HQ_CHECK(k[0] == 0 && k[1] == 3);
    HQ_CHECK_NEAR(p[0], 0.5, 1e-12);
    HQ_CHECK_NEAR(p[1], 0.5, 1e-12);
    /* bit order: key bit i = qubit i ("1" = qubit 0 set) */
    const char *x0 = "{\"target\":\"simulator\",\"input\":{\"qubits\":3,\"circuit\":[{\"gate\":"
                     "\"x\",\"target\":0}]}}";
    const char *x2 = "{\"target\":\"simulator\",\"input\":{\"qubits\":3,\"circuit\":[{\"gate\":"
                     "\"not\",\"target\":2}]}}";
    char id0[64], id2[64];
    HQ_REQUIRE(et_ionq_submit(e, x0, NULL, id0) && et_ionq_submit(e, x2, NULL, id2));
    HQ_REQUIRE(et_ionq_wait(e, id0, 10, st, sizeof st) && et_ionq_wait(e, id2, 10, st, sizeof st));
    n = ionq_results(e, id0, k, p, 8, NULL);
    HQ_CHECK(n == 1 && k[0] == 1 && p[0] == 1);
    n = ionq_results(e, id2, k, p, 8, NULL);
    HQ_CHECK(n == 1 && k[0] == 4 && p[0] == 1);
    /* unknown job */
    et_ionq(e, "GET", "/v0.3/jobs/00000000-0000-4000-8000-000000000000", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    HQ_CHECK(strstr(r.body, "\"statusCode\":404") != NULL);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 3);
    hq_emulator_stop(e);
}

/* Every QIS gate form against analytic probabilities. */
HQ_TEST(emulator_ionq_qis_gates) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    static const struct {
        const char *circ;
        int nq;
        double p[8];
    } cases[] = {
        /* ry(pi/3): P(1) = sin^2(pi/6) = 1/4 */
        {"{\"gate\":\"ry\",\"target\":0,\"rotation\":1.0471975511965976}", 1, {0.75, 0.25}},
        /* rx(2pi/3): P(1) = sin^2(pi/3) = 3/4 */
        {"{\"gate\":\"rx\",\"target\":0,\"rotation\":2.0943951023931953}", 1, {0.25, 0.75}},
        /* h s h = sqrt-X up to phase: 1/2 each; h t t h = h s h */
        {"{\"gate\":\"h\",\"target\":0},{\"gate\":\"s\",\"target\":0},{\"gate\":\"h\",\"target\":"
         "0}",
         1,
         {0.5, 0.5}},
        {"{\"gate\":\"h\",\"target\":0},{\"gate\":\"t\",\"target\":0},{\"gate\":\"t\",\"target\":0}"
         ","
         "{\"gate\":\"si\",\"target\":0},{\"gate\":\"h\",\"target\":0}",
         1,
         {1, 0}},
        /* v v = X; v vi = I */
        {"{\"gate\":\"v\",\"target\":0},{\"gate\":\"v\",\"target\":0}", 1, {0, 1}},
        {"{\"gate\":\"v\",\"target\":0},{\"gate\":\"vi\",\"target\":0}", 1, {1, 0}},
        /* y |0> = i|1>; z, ti, rz leave |0> */
        {"{\"gate\":\"y\",\"target\":0},{\"gate\":\"z\",\"target\":0},{\"gate\":\"ti\","
         "\"target\":0},{\"gate\":\"rz\",\"target\":0,\"rotation\":0.3}",
         1,
         {0, 1}},
        /* controlled forms: x;  cnot 0->1 -> |11> = 3 */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"x\",\"control\":0,\"target\":1}",
         2,
         {0, 0, 0, 1}},
        /* Toffoli with "controls" */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"x\",\"target\":1},{\"gate\":\"x\","
         "\"controls\":[0,1],\"target\":2}",
         3,
         {0, 0, 0, 0, 0, 0, 0, 1}},
        /* controlled ry(pi/2) with control |1>: qubit 1 is 1/2 */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"ry\",\"control\":0,\"target\":1,\"rotation\":"
         "1.5707963267948966}",
         2,
         {0, 0.5, 0, 0.5}},
        /* swap moves |01> to |10> */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"swap\",\"targets\":[0,1]}", 2, {0, 0, 1, 0}},
        /* xx(pi/2) = exp(-i pi/4 XX): |00> -> (|00> - i|11>)/sqrt2 */
        {"{\"gate\":\"xx\",\"targets\":[0,1],\"rotation\":1.5707963267948966}",
         2,
         {0.5, 0, 0, 0.5}},
        {"{\"gate\":\"yy\",\"targets\":[0,1],\"rotation\":3.141592653589793}", 2, {0, 0, 0, 1}},
        /* zz is diagonal */
        {"{\"gate\":\"h\",\"target\":0},{\"gate\":\"zz\",\"targets\":[0,1],\"rotation\":0.7}",
         2,
         {0.5, 0.5, 0, 0}},
        /* controlled s on |+>|1> ... H S H on the control's partner: c-s = CP(pi/2) */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"h\",\"target\":1},{\"gate\":\"s\",\"control\":"
         "0,"
         "\"target\":1},{\"gate\":\"s\",\"control\":0,\"target\":1},{\"gate\":\"h\",\"target\":1}",
         2,
         {0, 0, 0, 1}},
        /* doubly controlled z = h ccx h */
        {"{\"gate\":\"x\",\"target\":0},{\"gate\":\"x\",\"target\":1},{\"gate\":\"h\",\"target\":2}"
         ","
         "{\"gate\":\"z\",\"controls\":[0,1],\"target\":2},{\"gate\":\"h\",\"target\":2}",
         3,
         {0, 0, 0, 0, 0, 0, 0, 1}},
    };
    for (size_t c = 0; c < HQ_ARRAY_LEN(cases); c++) {
        char body[1024], id[64], st[32];
        snprintf(body, sizeof body,
                 "{\"target\":\"simulator\",\"input\":{\"gateset\":\"qis\",\"qubits\":%d,"
                 "\"circuit\":[%s]}}",
                 cases[c].nq, cases[c].circ);
        HQ_REQUIRE(et_ionq_submit(e, body, NULL, id));
        HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
        HQ_CHECKF(!strcmp(st, "completed"), "case %zu: %s", c, st);
        unsigned long long k[8];
        double p[8];
        int n = ionq_results(e, id, k, p, 8, NULL);
        double got[8] = {0};
        for (int i = 0; i < n; i++) got[k[i]] = p[i];
        for (int i = 0; i < (1 << cases[c].nq); i++)
            HQ_CHECKF(fabs(got[i] - cases[c].p[i]) < 1e-9, "case %zu outcome %d: %g vs %g", c, i,
                      got[i], cases[c].p[i]);
    }
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ionq_native_and_multi) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    /* three circuits in one job: gpi(0) = X on q0; gpi2(0) on q1 (1/2); ms(0,0,0.25) on |00>
     * = (|00> - i|11>)/sqrt2; the last inherits "native" from the job but one entry is qis */
    const char *body =
        "{\"target\":\"simulator\",\"shots\":500,\"name\":\"multi\",\"input\":{\"format\":"
        "\"ionq.circuit.v0\",\"gateset\":\"native\",\"qubits\":2,\"circuits\":["
        "{\"name\":\"c0\",\"circuit\":[{\"gate\":\"gpi\",\"target\":0,\"phase\":0.0}]},"
        "{\"name\":\"c1\",\"circuit\":[{\"gate\":\"gpi2\",\"target\":1,\"phase\":0.25}]},"
        "{\"name\":\"c2\",\"circuit\":[{\"gate\":\"ms\",\"targets\":[0,1],\"phases\":[0,0]}]},"
        "{\"name\":\"c3\",\"gateset\":\"qis\",\"circuit\":[{\"gate\":\"x\",\"target\":1}]},"
        "{\"name\":\"c4\",\"circuit\":[{\"gate\":\"zz\",\"targets\":[0,1],\"angle\":0.125},"
        "{\"gate\":\"gpi2\",\"target\":0,\"phase\":0},{\"gate\":\"gpi2\",\"target\":0,\"phase\":0."
        "5}]}"
        "]}}";
    char id[64], st[32];
    HQ_REQUIRE(et_ionq_submit(e, body, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_resp r;
    et_ionq(e, "GET", path, NULL, NULL, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "children");
    HQ_REQUIRE(cJSON_GetArraySize(ch) == 5);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "circuits")) == 5);
    static const double expect[5][4] = {
        {0, 1, 0, 0}, {0.5, 0, 0.5, 0}, {0.5, 0, 0, 0.5}, {0, 0, 1, 0}, {1, 0, 0, 0}};
    /* results: child id -> distribution, in children order */
    cJSON *res = NULL;
    unsigned long long k[8];
    double p[8];
    ionq_results(e, id, k, p, 8, &res);
    HQ_REQUIRE(res);
    const cJSON *rc = res->child;
    int i = 0;
    for (const cJSON *c = ch->child; c; c = c->next, i++, rc = rc ? rc->next : NULL) {
        HQ_REQUIRE(rc);
        HQ_CHECK_STR(rc->string, c->valuestring);
        double got[4] = {0};
        for (const cJSON *x = rc->child; x; x = x->next)
            got[strtoul(x->string, NULL, 10) & 3] = x->valuedouble;
        for (int b = 0; b < 4; b++)
            HQ_CHECKF(fabs(got[b] - expect[i][b]) < 1e-9, "circuit %d outcome %d: %g vs %g", i, b,
                      got[b], expect[i][b]);
        /* each child is a job of its own */
        char cp[128];
        snprintf(cp, sizeof cp, "/v0.3/jobs/%s", c->valuestring);
        et_ionq(e, "GET", cp, NULL, NULL, &r);
        cJSON *cj = et_json(&r);
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cj, "status")),
                     "completed");
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cj, "parent")), id);
        cJSON_Delete(cj);
        et_resp_free(&r);
        snprintf(cp, sizeof cp, "/v0.3/jobs/%s/results", c->valuestring);
        et_ionq(e, "GET", cp, NULL, NULL, &r);
        HQ_CHECK_EQ_INT(r.status, 200);
        et_resp_free(&r);
    }
    HQ_CHECK(rc == NULL);
    cJSON_Delete(res);
    cJSON_Delete(j);
    /* the multi-circuit job counts once */
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 1);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ionq_bad_requests) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    static const struct {
        const char *body;
        const char *msg;
    } bad[] = {
        {"not json", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"{\"input\":{\"circuit\":[]}}", "'target' is required"},
        {"{\"target\":\"qpu.nowhere\",\"input\":{\"circuit\":[]}}", "unknown target"},
        {"{\"target\":\"simulator\",\"shots\":\"1000\",\"input\":{\"circuit\":[]}}",
         "'shots' must be"},
        {"{\"target\":\"simulator\",\"shots\":0,\"input\":{\"circuit\":[]}}", "'shots' must be"},
        {"{\"target\":\"simulator\"}", "'input' is required"},
        {"{\"target\":\"simulator\",\"input\":{\"format\":\"openqasm\",\"data\":\"x\"}}",
         "ionq.circuit.v0"},
        {"{\"target\":\"simulator\",\"input\":{\"gateset\":\"weird\",\"circuit\":[]}}", "gateset"},
        {"{\"target\":\"simulator\",\"input\":{}}", "exactly one of"},
        {"{\"target\":\"simulator\",\"input\":{\"circuits\":[]}}", "non-empty"},
        {"{\"target\":\"simulator\",\"input\":{\"circuits\":[{\"x\":1}]}}", "circuits[0]"},
        {"{\"target\":\"simulator\",\"metadata\":{\"k\":1},\"input\":{\"circuit\":[]}}",
         "must be a string"},
        {"{\"target\":\"qpu.aria-1\",\"noise\":{\"model\":\"aria-1\"},\"input\":{\"circuit\":[]}}",
         "only valid with the simulator"},
        {"{\"target\":\"simulator\",\"noise\":{\"model\":\"bogus\"},\"input\":{\"circuit\":[]}}",
         "unknown noise model"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++) {
        et_resp r;
        et_ionq(e, "POST", "/v0.3/jobs", bad[i].body, NULL, &r);
        HQ_CHECKF(r.status == 400, "case %zu: HTTP %ld", i, r.status);
        cJSON *j = et_json(&r);
        HQ_CHECKF(j && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error")),
                               "Bad Request"),
                  "case %zu: %s", i, r.body);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
        HQ_CHECKF(m && strstr(m, bad[i].msg), "case %zu: message '%s' lacks '%s'", i, m ? m : "",
                  bad[i].msg);
        cJSON_Delete(j);
        et_resp_free(&r);
    }
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 0);
    /* circuit problems are accepted and fail like IonQ's preflight */
    static const struct {
        const char *body;
        const char *code, *msg;
    } pre[] = {
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":2,\"circuit\":[{\"gate\":\"warp\","
         "\"target\":0}]}}",
         "PreflightError", "unknown gate 'warp'"},
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":2,\"circuit\":[{\"gate\":\"x\","
         "\"target\":5}]}}",
         "PreflightError", "qubit 5 out of range [0, 2)"},
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":2,\"circuit\":[{\"gate\":\"gpi\","
         "\"target\":0,\"phase\":0}]}}",
         "PreflightError", "native gate"},
        {"{\"target\":\"simulator\",\"input\":{\"gateset\":\"native\",\"qubits\":2,\"circuit\":"
         "[{\"gate\":\"h\",\"target\":0}]}}",
         "PreflightError", "not a native gate"},
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":2,\"circuit\":[{\"gate\":\"rx\","
         "\"target\":0}]}}",
         "PreflightError", "missing 'rotation'"},
        {"{\"target\":\"qpu.aria-1\",\"input\":{\"qubits\":30,\"circuit\":[]}}", "NotEnoughQubits",
         "needs 30 qubits"},
        {"{\"target\":\"qpu.aria-1\",\"input\":{\"qubits\":12,\"circuit\":[]}}", "PreflightError",
         "at most 10 qubits"},
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":3,\"circuit\":[{\"gate\":\"x\","
         "\"targets\":[0,1],\"target\":2}]}}",
         "PreflightError", "both"},
        {"{\"target\":\"simulator\",\"input\":{\"qubits\":3,\"circuit\":[{\"gate\":\"cnot\","
         "\"control\":1,\"target\":1}]}}",
         "PreflightError", "gate 0"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(pre); i++) {
        char id[64], st[32];
        HQ_REQUIRE(et_ionq_submit(e, pre[i].body, NULL, id));
        HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
        HQ_CHECKF(!strcmp(st, "failed"), "case %zu: %s", i, st);
        char path[128];
        snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
        et_resp r;
        et_ionq(e, "GET", path, NULL, NULL, &r);
        cJSON *j = et_json(&r);
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "failure");
        const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "code"));
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "error"));
        HQ_CHECKF(code && !strcmp(code, pre[i].code), "case %zu: code %s", i, code ? code : "-");
        HQ_CHECKF(err && strstr(err, pre[i].msg), "case %zu: error '%s' lacks '%s'", i,
                  err ? err : "", pre[i].msg);
        cJSON_Delete(j);
        et_resp_free(&r);
        /* no results for a failed job */
        snprintf(path, sizeof path, "/v0.3/jobs/%s/results", id);
        et_ionq(e, "GET", path, NULL, NULL, &r);
        HQ_CHECK_EQ_INT(r.status, 400);
        et_resp_free(&r);
    }
    HQ_CHECK_EQ_INT(et_stats_accepted(e), (long)HQ_ARRAY_LEN(pre));
    hq_emulator_stop(e);
}

/* ==== IBM ============================================================================= */

HQ_TEST(emulator_ibm_iam_and_auth) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.token_ttl_s = 1;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    et_resp r;
    et_http("POST", et_url(e, "/identity/token"), form,
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=" ET_KEY, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "token_type")), "Bearer");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "refresh_token")),
                 "not_supported");
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "expires_in")) == 1);
    double exp = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "expiration"));
    HQ_CHECK(fabs(exp - (hq_time_wall() + 1)) < 5);
    char tok[256];
    snprintf(tok, sizeof tok, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "access_token")));
    HQ_CHECK(!strncmp(tok, "emu.", 4));
    cJSON_Delete(j);
    et_resp_free(&r);
    /* bad key, bad grant type: IAM's error shape */
    et_http("POST", et_url(e, "/identity/token"), form,
            "grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=nope", 0, &r);
    HQ_CHECK_EQ_INT(r.status, 400);
    j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "errorCode")),
                 "BXNIM0415E");
    cJSON_Delete(j);
    et_resp_free(&r);
    et_http("POST", et_url(e, "/identity/token"), form, "grant_type=password&apikey=" ET_KEY, 0,
            &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "BXNIM0109E"));
    et_resp_free(&r);
    /* the token works, with the CRN */
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    et_resp_free(&r);
    /* a forged or altered token does not */
    char forged[256];
    snprintf(forged, sizeof forged, "%s", tok);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'a' ? 'b' : 'a';
    et_ibm(e, forged, "GET", "/api/v1/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    j = et_json(&r);
    const cJSON *err0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(err0, "code")) == 1201);
    HQ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err0, "message")));
    cJSON_Delete(j);
    et_resp_free(&r);
    /* Service-CRN missing or wrong */
    char auth[300];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *nocrn[] = {auth, NULL};
    et_http("GET", et_url(e, "/api/v1/backends"), nocrn, NULL, 0, &r);
    HQ_CHECK(r.status == 403 && strstr(r.body, "Service-CRN header is required"));
    et_resp_free(&r);
    const char *badcrn[] = {auth, "Service-CRN: crn:v1:other::", NULL};
    et_http("GET", et_url(e, "/api/v1/backends"), badcrn, NULL, 0, &r);
    HQ_CHECK_EQ_INT(r.status, 403);
    et_resp_free(&r);
    /* the token expires */
    hq_sleep_ms(2100);
    et_ibm(e, tok, "GET", "/api/v1/backends", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 401);
    HQ_CHECK(strstr(r.body, "expired") != NULL);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

/* An ISA pub for the built-in device (rz/sx/x/cz on the line 0-1-2-3-4). */
static const char *PUB_X0 = "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\n"
                            "x $0;\\nc[0] = measure $0;\\nc[1] = measure $1;\\n";
static const char *PUB_X1 = "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\n"
                            "x $1;\\nc[0] = measure $0;\\nc[1] = measure $1;\\n";

static void ibm_body(char *out, size_t cap, const char *pubs, const char *extra) {
    snprintf(out, cap,
             "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE "\",\"params\":{"
             "\"pubs\":[%s],\"version\":2%s}}",
             pubs, extra ? extra : "");
}

static cJSON *ibm_results(hq_emulator *e, const char *tok, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/results", id);
    et_resp r;
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    cJSON *j = r.status == 200 ? et_json(&r) : NULL;
    et_resp_free(&r);
    return j;
}

HQ_TEST(emulator_ibm_job_roundtrip) {
    double t_start = hq_time_now();
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.noise_path = "ideal";
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    char pubs[2048], body[4096];
    /* two registers: a holds $2 (via a cz-built Bell pair), b two bits */
    const char *pub3 =
        "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[1] a;\\nbit[2] b;\\n"
        "x $3;\\nbarrier $0, $1, $2, $3;\\na[0] = measure $3;\\nb[1] = measure $4;\\n"
        "b[0] = measure $3;\\n";
    snprintf(pubs, sizeof pubs, "[\"%s\"],[\"%s\",null,100],[\"%s\",null,50]", PUB_X0, PUB_X1,
             pub3);
    ibm_body(body, sizeof body, pubs, ",\"shots\":200");
    char id[64], st[32];
    et_resp r;
    et_ibm(e, tok, "POST", "/api/v1/jobs", body, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    cJSON *j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "backend")),
                 HQ_EMU_DEFAULT_DEVICE);
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")));
    cJSON_Delete(j);
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(strlen(id), 20);
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    j = et_json(&r);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "status")), "Completed");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(j, "program"), "id")),
                 "sampler");
    const char *created = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "created"));
    HQ_CHECK(created && strlen(created) == 24 && created[23] == 'Z' && created[10] == 'T');
    HQ_CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "usage")));
    cJSON_Delete(j);
    et_resp_free(&r);
    /* statistics: the job was executed (busy time within the test's span) and its finished
     * status was read once or more (the first read counts, after end_time) */
    hq_emulator_stats es;
    HQ_REQUIRE_OK(hq_emulator_get_stats(e, &es));
    double span = hq_time_now() - t_start;
    HQ_CHECK_EQ_INT(es.jobs_executed, 1);
    HQ_CHECK(es.exec_busy_s > 0 && es.exec_busy_s <= span);
    HQ_CHECK_EQ_INT(es.jobs_noticed, 1);
    HQ_CHECK(es.notice_delay_sum_s >= 0 && es.notice_delay_sum_s <= span);
    HQ_CHECK(es.notice_delay_max_s == es.notice_delay_sum_s);
    cJSON *res = ibm_results(e, tok, id);
    HQ_REQUIRE(res);
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "results")), 3);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(res, "metadata"), "version")) == 2);
    static unsigned long long v[4096];
    /* c[0] is the LSB: x on $0 measured into c[0] gives 0x1; on $1 into c[1] gives 0x2 */
    long n = et_ibm_samples(res, 0, "c", -1, v, 4096);
    HQ_CHECK_EQ_INT(n, 200); /* params.shots */
    for (long i = 0; i < n; i++) HQ_CHECK(v[i] == 1);
    n = et_ibm_samples(res, 1, "c", -1, v, 4096);
    HQ_CHECK_EQ_INT(n, 100); /* the pub's own shots */
    for (long i = 0; i < n; i++) HQ_CHECK(v[i] == 2);
    n = et_ibm_samples(res, 2, "a", -1, v, 4096);
    HQ_CHECK_EQ_INT(n, 50);
    for (long i = 0; i < n; i++) HQ_CHECK(v[i] == 1);
    n = et_ibm_samples(res, 2, "b", -1, v, 4096);
    for (long i = 0; i < n; i++) HQ_CHECK(v[i] == 1); /* b[0] = $3 = 1, b[1] = $4 = 0 */
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "results"), 2);
    const cJSON *b =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p0, "data"), "b");
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "num_bits")) == 2);
    cJSON_Delete(res);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ibm_rejects_non_isa) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    static const struct {
        const char *pub;
        const char *extra;
        int status;
        const char *msg;
    } cases[] = {
        {"[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[1] c;\\nh $0;\\nc[0] = measure "
         "$0;\\n\"]",
         NULL, 400, "'h' is not in the ISA"},
        {"[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\ncz $0, $2;\\nc[0] = "
         "measure "
         "$0;\\n\"]",
         NULL, 400, "coupling-map edge"},
        {"[\"OPENQASM 3.0;\\nbit[2] c;\\necr $0, $1;\\nc[0] = measure $0;\\n\"]", NULL, 400,
         "'ecr' is not in the ISA"},
        {"[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\ncx $0, $1;\\nc[0] = "
         "measure "
         "$0;\\n\"]",
         NULL, 400, "target definition"},
        {"[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nx $0;\\n\"]", NULL, 400,
         "no measurements"},
        {"[\"OPENQASM 3.0;\\nbit[1] c;\\nx $7;\\nc[0] = measure $7;\\n\"]", NULL, 400, "qubits"},
        {"[\"OPENQASM 3.0;\\nbit[1] c;\\nfoo $0;\\n\"]", NULL, 400, "invalid OpenQASM 3"},
        {"[\"OPENQASM 3.0;\\ninclude \\\"/etc/passwd\\\";\\nbit[1] c;\\nc[0] = measure $0;\\n\"]",
         NULL, 400, "only stdgates.inc"},
        {"[\"OPENQASM 3.0;\\nbit[1] c;\\nc[0] = measure $0;\\n\",null,100001]", NULL, 400,
         "max_shots 100000"},
        {"[\"OPENQASM 3.0;\\nbit[1] c;\\nc[0] = measure $0;\\n\"]", ",\"shots\":0", 400,
         "params.shots"},
        {"[\"OPENQASM 3.0;\\nbit[1] c;\\nc[0] = measure $0;\\n\",{\"theta\":1}]", NULL, 400,
         "without parameters"},
        {"[\"OPENQASM 3.0;\\ninput float[64] theta;\\nbit[1] c;\\nrz(theta) $0;\\nc[0] = measure "
         "$0;\\n\"]",
         NULL, 400, "gives no values"},
        {"[42]", NULL, 400, "OpenQASM 3 string"},
        {"[\"a\",null,1,2]", NULL, 400, "got 4 items"},
    };
    char body[4096];
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        ibm_body(body, sizeof body, cases[i].pub, cases[i].extra);
        et_resp r;
        et_ibm(e, tok, "POST", "/api/v1/jobs", body, NULL, &r);
        HQ_CHECKF(r.status == cases[i].status, "case %zu: HTTP %ld %s", i, r.status, r.body);
        cJSON *j = et_json(&r);
        const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "errors"), 0);
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "message"));
        HQ_CHECKF(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e0, "code")) == 1002,
                  "case %zu: %s", i, r.body);
        HQ_CHECKF(m && strstr(m, cases[i].msg), "case %zu: '%s' lacks '%s'", i, m ? m : "",
                  cases[i].msg);
        cJSON_Delete(j);
        et_resp_free(&r);
    }
    /* more pubs than max_experiments */
    hq_sbuf many = HQ_SBUF_INIT;
    for (int i = 0; i < 301; i++)
        hq_sbuf_printf(&many, "%s[\"OPENQASM 3.0;\\nbit[1] c;\\nc[0] = measure $0;\\n\"]",
                       i ? "," : "");
    hq_sbuf big = HQ_SBUF_INIT;
    hq_sbuf_printf(&big,
                   "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE
                   "\",\"params\":{\"pubs\":[%s]}}",
                   many.p);
    et_resp r;
    et_ibm(e, tok, "POST", "/api/v1/jobs", big.p, NULL, &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "max_experiments 300"));
    et_resp_free(&r);
    hq_sbuf_free(&many);
    hq_sbuf_free(&big);
    /* wrong backend, wrong program */
    et_ibm(e, tok, "POST", "/api/v1/jobs",
           "{\"program_id\":\"sampler\",\"backend\":\"ibm_fez\",\"params\":{\"pubs\":[]}}", NULL,
           &r);
    HQ_CHECK(r.status == 404 && strstr(r.body, "\"code\":1007"));
    et_resp_free(&r);
    et_ibm(e, tok, "POST", "/api/v1/jobs",
           "{\"program_id\":\"estimator\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE "\",\"params\":{}}",
           NULL, &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "sampler"));
    et_resp_free(&r);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 0);
    hq_emulator_stop(e);
}

/* cos^2 / sin^2 statistics of parameterised pubs, every value form. */
HQ_TEST(emulator_ibm_parameters) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.noise_path = "ideal";
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    /* rx(theta) = rz(-pi/2) sx rz(theta + pi) sx rz(5pi/2) up to phase; simpler: the ISA
     * sequence sx rz(theta) sx gives P(1) = cos^2(theta/2) */
    const char *q =
        "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\ninput float[64] theta;\\n"
        "input float[64] alpha;\\nbit[1] c;\\nsx $1;\\nrz(theta + 0*alpha) $1;\\nsx $1;\\n"
        "c[0] = measure $1;\\n";
    char pubs[4096], body[8192];
    snprintf(pubs, sizeof pubs,
             "[\"%s\",{\"theta\":1.0,\"alpha\":0.5},4000],"
             "[\"%s\",{\"theta\":[0.0,2.0,3.14159265358979],\"alpha\":0},2000],"
             "[\"%s\",[0.5,2.5],1000],"
             "[\"%s\",[[0,0.5],[0,1.5]],1000]",
             q, q, q, q);
    ibm_body(body, sizeof body, pubs, NULL);
    char id[64], st[32];
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 20, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    cJSON *res = ibm_results(e, tok, id);
    HQ_REQUIRE(res);
    static unsigned long long v[8192];
    struct {
        int pub, row;
        double theta;
        long shots;
    } chk[] = {{0, -1, 1.0, 4000},
               {1, 0, 0.0, 2000},
               {1, 1, 2.0, 2000},
               {1, 2, 3.14159265358979, 2000},
               /* list form: names sorted (alpha, theta) */
               {2, -1, 2.5, 1000},
               {3, 0, 0.5, 1000},
               {3, 1, 1.5, 1000}};
    for (size_t i = 0; i < HQ_ARRAY_LEN(chk); i++) {
        long n = et_ibm_samples(res, chk[i].pub, "c", chk[i].row, v, 8192);
        HQ_CHECKF(n == chk[i].shots, "check %zu: %ld samples", i, n);
        long ones = 0;
        for (long s = 0; s < n; s++) ones += v[s] == 1;
        double p1 = cos(chk[i].theta / 2) * cos(chk[i].theta / 2);
        long counts[2] = {n - ones, ones};
        double p[2] = {1 - p1, p1};
        int dof;
        double chi = et_chi2(counts, p, 2, n, &dof);
        HQ_CHECKF(chi < et_chi2_crit(dof), "check %zu: P(1) %.4f vs %.4f (chi2 %.2f)", i,
                  (double)ones / n, p1, chi);
    }
    /* 0-d pubs have a flat sample list, 1-d pubs one list per binding */
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(res, "results");
    const cJSON *s0 = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rs, 0), "data"), "c"),
        "samples");
    const cJSON *s1 = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rs, 1), "data"), "c"),
        "samples");
    HQ_CHECK(cJSON_IsString(s0->child));
    HQ_CHECK(cJSON_IsArray(s1->child) && cJSON_GetArraySize(s1) == 3);
    cJSON_Delete(res);
    /* bad values */
    static const char *badv[] = {"{\"theta\":1}",
                                 "{\"theta\":1,\"alpha\":1,\"beta\":2}",
                                 "{\"theta\":[1,2],\"alpha\":[1,2,3]}",
                                 "{\"theta\":\"x\",\"alpha\":1}",
                                 "[1]",
                                 "[[1,2],[3]]",
                                 "{\"theta\":[[1]],\"alpha\":1}"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(badv); i++) {
        snprintf(pubs, sizeof pubs, "[\"%s\",%s]", q, badv[i]);
        ibm_body(body, sizeof body, pubs, NULL);
        et_resp r;
        et_ibm(e, tok, "POST", "/api/v1/jobs", body, NULL, &r);
        HQ_CHECKF(r.status == 400 && strstr(r.body, "pub 0"), "case %zu: %ld %s", i, r.status,
                  r.body);
        et_resp_free(&r);
    }
    hq_emulator_stop(e);
}

/* ==== noisy statistics against exact density-matrix probabilities ==================== */

HQ_TEST(emulator_ibm_noisy_chi2) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    const char *qasm = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nbit[2] c;\nsx $1;\nrz(0.4) $1;\n"
                       "sx $1;\ncz $1, $2;\nsx $2;\nrz(1.1) $2;\nsx $2;\nc[0] = measure $1;\n"
                       "c[1] = measure $2;\n";
    char pubs[2048], body[4096];
    snprintf(pubs, sizeof pubs,
             "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nsx $1;\\nrz(0.4) $1;"
             "\\nsx $1;\\ncz $1, $2;\\nsx $2;\\nrz(1.1) $2;\\nsx $2;\\nc[0] = measure $1;\\n"
             "c[1] = measure $2;\\n\",null,20000]");
    ibm_body(body, sizeof body, pubs, NULL);
    char id[64], st[32];
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 30, st, sizeof st));
    HQ_REQUIRE(!strcmp(st, "Completed"));
    cJSON *res = ibm_results(e, tok, id);
    static unsigned long long v[20000];
    long n = et_ibm_samples(res, 0, "c", -1, v, 20000);
    HQ_REQUIRE(n == 20000);
    long counts[4] = {0};
    for (long i = 0; i < n; i++) counts[v[i] & 3]++;
    /* the reference: the device as served, its standard noise model, exact probabilities */
    char *conf = NULL, *props = NULL;
    cJSON *a =
        get_ibm_doc(e, tok, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/configuration", &conf);
    cJSON *b = get_ibm_doc(e, tok, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/properties", &props);
    hq_device *d = NULL;
    hq_noise_model *m = NULL;
    hq_circuit *c = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf, props, &d));
    HQ_REQUIRE_OK(hq_noise_from_device(d, &m));
    HQ_REQUIRE_OK(hq_qasm_parse_string(qasm, strlen(qasm), "ref", NULL, &c));
    hq_dm_dist dist;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, m, NULL, &dist));
    double p[4] = {0}, pideal[4] = {0};
    for (int i = 0; i < 4; i++) p[i] = hq_dm_dist_prob(&dist, (uint64_t)i);
    int dof;
    double chi = et_chi2(counts, p, 4, n, &dof);
    HQ_CHECKF(chi < et_chi2_crit(dof),
              "chi2 %.2f >= %.2f: counts %ld %ld %ld %ld vs p %.4f %.4f %.4f %.4f", chi,
              et_chi2_crit(dof), counts[0], counts[1], counts[2], counts[3], p[0], p[1], p[2],
              p[3]);
    /* and the noise is visible: the ideal distribution is rejected */
    hq_dm_dist_free(&dist);
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &dist));
    for (int i = 0; i < 4; i++) pideal[i] = hq_dm_dist_prob(&dist, (uint64_t)i);
    double chi_ideal = et_chi2(counts, pideal, 4, n, &dof);
    HQ_CHECKF(chi_ideal > et_chi2_crit(dof), "ideal chi2 %.2f: noise not visible", chi_ideal);
    hq_dm_dist_free(&dist);
    hq_circuit_free(c);
    hq_noise_free(m);
    hq_device_free(d);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(res);
    hq_free(conf);
    hq_free(props);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ionq_noisy_chi2) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    const char *body =
        "{\"target\":\"qpu.aria-1\",\"shots\":20000,\"input\":{\"gateset\":\"qis\",\"qubits\":3,"
        "\"circuit\":[{\"gate\":\"h\",\"target\":0},{\"gate\":\"cnot\",\"control\":0,\"target\":1},"
        "{\"gate\":\"ry\",\"target\":2,\"rotation\":0.9},{\"gate\":\"x\",\"controls\":[1,2],"
        "\"target\":0}]}}";
    char id[64], st[32];
    HQ_REQUIRE(et_ionq_submit(e, body, NULL, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 30, st, sizeof st));
    HQ_REQUIRE(!strcmp(st, "completed"));
    unsigned long long k[8];
    double f[8];
    int n = ionq_results(e, id, k, f, 8, NULL);
    HQ_REQUIRE(n > 0);
    long counts[8] = {0};
    double fsum = 0;
    for (int i = 0; i < n; i++) {
        counts[k[i]] = lround(f[i] * 20000);
        fsum += f[i];
    }
    HQ_CHECK_NEAR(fsum, 1.0, 1e-9);
    /* the reference model, built from the characterization the emulator serves */
    et_resp r;
    et_ionq(e, "GET", "/v0.3/characterizations/backends/aria-1/current", NULL, NULL, &r);
    cJSON *ch = et_json(&r);
    et_resp_free(&r);
    HQ_REQUIRE(ch);
    const cJSON *fid = cJSON_GetObjectItemCaseSensitive(ch, "fidelity");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(ch, "timing");
#define NUM(o, k) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k))
    double spam = NUM(cJSON_GetObjectItemCaseSensitive(fid, "spam"), "median");
    double f1 = NUM(cJSON_GetObjectItemCaseSensitive(fid, "1q"), "median");
    double f2 = NUM(cJSON_GetObjectItemCaseSensitive(fid, "2q"), "median");
    double t1 = NUM(tm, "t1"), t2 = NUM(tm, "t2"), g1 = NUM(tm, "1q"), g2 = NUM(tm, "2q");
#undef NUM
    HQ_CHECK(spam > 0.9 && f1 > 0.9 && f2 > 0.9 && t1 > 0 && t2 > 0);
    hq_noise_model *m = NULL;
    HQ_REQUIRE_OK(hq_noise_create(0, &m));
    hq_noise_qubit q = hq_noise_qubit_unset();
    q.t1_us = t1 * 1e6;
    q.t2_us = t2 * 1e6;
    q.prob_meas0_prep1 = q.prob_meas1_prep0 = 1 - spam;
    HQ_REQUIRE_OK(hq_noise_set_default_qubit(m, &q));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 1, 1 - f1, g1 * 1e9));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 2, 1 - f2, g2 * 1e9));
    double r3 = 1 - pow(f2, 6) * pow(f1, 2);
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 3, r3, (6 * g2 + 2 * g1) * 1e9));
    hq_circuit *c = NULL;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){2}, (double[]){0.9}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){1, 2, 0}, NULL));
    hq_dm_dist dist;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, m, NULL, &dist));
    double p[8];
    for (int i = 0; i < 8; i++) p[i] = hq_dm_dist_prob(&dist, (uint64_t)i);
    int dof;
    double chi = et_chi2(counts, p, 8, 20000, &dof);
    HQ_CHECKF(chi < et_chi2_crit(dof), "chi2 %.2f >= %.2f", chi, et_chi2_crit(dof));
    hq_dm_dist_free(&dist);
    hq_circuit_free(c);
    hq_noise_free(m);
    cJSON_Delete(ch);
    hq_emulator_stop(e);
}

/* ==== queue, cancel, lists ============================================================ */

/* Poll a job every 15 ms and record the distinct statuses in order. */
static int status_trace(hq_emulator *e, const char *tok, const char *id, char seen[8][16],
                        double timeout_s) {
    char path[128];
    if (tok)
        snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    else
        snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    int n = 0;
    double t0 = hq_time_now();
    while (hq_time_now() - t0 < timeout_s) {
        et_resp r;
        if (tok)
            et_ibm(e, tok, "GET", path, NULL, NULL, &r);
        else
            et_ionq(e, "GET", path, NULL, NULL, &r);
        cJSON *j = et_json(&r);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "status");
        const char *v = cJSON_GetStringValue(s);
        if (v && (n == 0 || strcmp(seen[n - 1], v)) && n < 8) snprintf(seen[n++], 16, "%s", v);
        bool done = v && (!strcmp(v, "completed") || !strcmp(v, "Completed"));
        cJSON_Delete(j);
        et_resp_free(&r);
        if (done) break;
        hq_sleep_ms(15);
    }
    return n;
}

HQ_TEST(emulator_queue_progression) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    o.queue_delay_ms = 400;
    o.run_delay_ms = 400;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char id[64], seen[8][16];
    double t0 = hq_time_wall();
    HQ_REQUIRE(et_ionq_submit(e, BELL_QIS, NULL, id));
    int n = status_trace(e, NULL, id, seen, 10);
    double t1 = hq_time_wall();
    HQ_REQUIRE(n == 3);
    HQ_CHECK_STR(seen[0], "ready");
    HQ_CHECK_STR(seen[1], "running");
    HQ_CHECK_STR(seen[2], "completed");
    HQ_CHECK(t1 - t0 >= 0.8);
    /* IBM: Queued -> Running -> Completed, created / end_time 0.8 s apart */
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    char pubs[1024], body[2048];
    snprintf(pubs, sizeof pubs, "[\"%s\",null,10]", PUB_X0);
    ibm_body(body, sizeof body, pubs, NULL);
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    n = status_trace(e, tok, id, seen, 10);
    HQ_REQUIRE(n == 3);
    HQ_CHECK_STR(seen[0], "Queued");
    HQ_CHECK_STR(seen[1], "Running");
    HQ_CHECK_STR(seen[2], "Completed");
    /* X-Emu-Delay-Ms overrides the server's delays per submission */
    const char *fast[] = {"X-Emu-Delay-Ms: 0,0", NULL};
    et_resp r;
    et_ionq(e, "POST", "/v0.3/jobs", BELL_QIS, fast, &r);
    cJSON *j = et_json(&r);
    snprintf(id, sizeof id, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")));
    cJSON_Delete(j);
    et_resp_free(&r);
    char st[32];
    t0 = hq_time_now();
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    HQ_CHECK(hq_time_now() - t0 < 0.35);
    const char *slow[] = {"X-Emu-Delay-Ms: 60000", NULL};
    HQ_REQUIRE(et_ionq_submit(e, BELL_QIS, slow, id));
    hq_sleep_ms(900);
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK(strstr(r.body, "\"status\":\"ready\"") != NULL);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_cancel) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    o.queue_delay_ms = 30000;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char id[64], path[128];
    HQ_REQUIRE(et_ionq_submit(e, BELL_QIS, NULL, id));
    snprintf(path, sizeof path, "/v0.3/jobs/%s/status/cancel", id);
    et_resp r;
    et_ionq(e, "PUT", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    HQ_CHECK(strstr(r.body, "\"status\":\"canceled\"") && strstr(r.body, id));
    et_resp_free(&r);
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK(strstr(r.body, "\"status\":\"canceled\"") != NULL);
    et_resp_free(&r);
    snprintf(path, sizeof path, "/v0.3/jobs/%s/results", id);
    et_ionq(e, "GET", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 400);
    et_resp_free(&r);
    /* cancelling a completed job changes nothing */
    const char *fast[] = {"X-Emu-Delay-Ms: 0,0", NULL};
    char st[32];
    HQ_REQUIRE(et_ionq_submit(e, BELL_QIS, fast, id));
    HQ_REQUIRE(et_ionq_wait(e, id, 10, st, sizeof st));
    snprintf(path, sizeof path, "/v0.3/jobs/%s/status/cancel", id);
    et_ionq(e, "PUT", path, NULL, NULL, &r);
    HQ_CHECK(r.status == 200 && strstr(r.body, "\"status\":\"completed\""));
    et_resp_free(&r);
    et_ionq(e, "PUT", "/v0.3/jobs/nope/status/cancel", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    /* IBM: 204, then Cancelled, no results */
    char tok[256], pubs[1024], body[2048];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    snprintf(pubs, sizeof pubs, "[\"%s\",null,10]", PUB_X0);
    ibm_body(body, sizeof body, pubs, NULL);
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    snprintf(path, sizeof path, "/api/v1/jobs/%s/cancel", id);
    et_ibm(e, tok, "POST", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 204);
    HQ_CHECK_EQ_INT(r.len, 0);
    et_resp_free(&r);
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 5, st, sizeof st));
    HQ_CHECK_STR(st, "Cancelled");
    snprintf(path, sizeof path, "/api/v1/jobs/%s/results", id);
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    et_ibm(e, tok, "POST", "/api/v1/jobs/nope/cancel", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 404);
    et_resp_free(&r);
    hq_emulator_stop(e);
}

static int count_jobs(hq_emulator *e, const char *tok, const char *path, char *next, size_t cap) {
    et_resp r;
    if (tok)
        et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    else
        et_ionq(e, "GET", path, NULL, NULL, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "jobs"));
    if (next) {
        const char *nx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "next"));
        snprintf(next, cap, "%s", nx ? nx : "");
    }
    if (!j) n = -1;
    cJSON_Delete(j);
    return n;
}

HQ_TEST(emulator_list_jobs) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"target\":\"simulator\",\"name\":\"hqcnn-t%d\",\"metadata\":{\"hqcnn_token\":"
                 "\"t%d\",\"run\":\"r%d\"},\"input\":{\"qubits\":1,\"circuit\":[]}}",
                 i, i, i % 2);
        HQ_REQUIRE(et_ionq_submit(e, body, NULL, ids[i]));
    }
    char next[64];
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs", next, sizeof next), 5);
    HQ_CHECK_STR(next, "");
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs?metadata.hqcnn_token=t3", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs?metadata.run=r1", NULL, 0), 2);
    HQ_CHECK_EQ_INT(
        count_jobs(e, NULL, "/v0.3/jobs?metadata.run=r0&metadata.hqcnn_token=t2", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs?name=hqcnn-t4", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs?metadata.hqcnn_token=zz", NULL, 0), 0);
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs?target=qpu.aria-1", NULL, 0), 0);
    /* paging, newest first */
    et_resp r;
    et_ionq(e, "GET", "/v0.3/jobs?limit=2", NULL, NULL, &r);
    cJSON *j = et_json(&r);
    et_resp_free(&r);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "jobs"), 0);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "id")), ids[4]);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                     cJSON_GetObjectItemCaseSensitive(first, "metadata"), "hqcnn_token")),
                 "t4");
    cJSON_Delete(j);
    int total = 0, pages = 0;
    char path[256] = "/v0.3/jobs?limit=2";
    for (;;) {
        int n = count_jobs(e, NULL, path, next, sizeof next);
        HQ_REQUIRE(n >= 0 && pages < 10);
        total += n;
        pages++;
        if (!next[0]) break;
        snprintf(path, sizeof path, "/v0.3/jobs?limit=2&next=%s", next);
    }
    HQ_CHECK_EQ_INT(total, 5);
    HQ_CHECK_EQ_INT(pages, 3);
    et_ionq(e, "GET", "/v0.3/jobs?limit=0", NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 400);
    et_resp_free(&r);
    /* IBM: tags (all must match), pending, limit/offset, count */
    char tok[256], pubs[1024], body[2048];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    snprintf(pubs, sizeof pubs, "[\"%s\",null,10]", PUB_X0);
    for (int i = 0; i < 3; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "},\"tags\":[\"hqcnn-token:k%d\",\"run-%d\"", i, i % 2);
        snprintf(body, sizeof body,
                 "{\"program_id\":\"sampler\",\"backend\":\"" HQ_EMU_DEFAULT_DEVICE
                 "\",\"params\":{\"pubs\":[%s]%s]}",
                 pubs, extra);
        char id[64];
        HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    }
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs", NULL, 0), 3);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?tags=hqcnn-token:k1", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?tags=run-0", NULL, 0), 2);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?tags=run-0&tags=hqcnn-token:k2", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?tags=run-1&tags=hqcnn-token:k2", NULL, 0), 0);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?limit=2&offset=2", NULL, 0), 1);
    HQ_CHECK_EQ_INT(count_jobs(e, tok, "/api/v1/jobs?backend=ibm_fez", NULL, 0), 0);
    et_ibm(e, tok, "GET", "/api/v1/jobs?limit=1", NULL, NULL, &r);
    j = et_json(&r);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(j, "count")) == 3);
    cJSON_Delete(j);
    et_resp_free(&r);
    /* IonQ and IBM lists do not mix */
    HQ_CHECK_EQ_INT(count_jobs(e, NULL, "/v0.3/jobs", NULL, 0), 5);
    hq_emulator_stop(e);
}

/* ==== determinism and persistence ===================================================== */

static const char *DET_P1 = "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nsx $0;\\n"
                            "rz(0.3) $0;\\nsx $0;\\ncz $0, $1;\\nsx $1;\\nc[0] = measure $0;\\n"
                            "c[1] = measure $1;\\n";
static const char *DET_P2 = "OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[1] c;\\nsx $3;\\n"
                            "c[0] = measure $3;\\n";

/* Samples of the first pub holding DET_P1 (pub index which) into v. */
static long det_run(hq_emulator *e, const char *order, int which, unsigned long long *v, long cap,
                    char *job_id) {
    char tok[256], body[4096];
    if (!et_ibm_token(e, tok, sizeof tok)) return -1;
    ibm_body(body, sizeof body, order, NULL);
    char id[64], st[32];
    if (!et_ibm_submit(e, tok, body, NULL, id) || !et_ibm_wait(e, tok, id, 20, st, sizeof st))
        return -1;
    if (job_id) snprintf(job_id, 64, "%s", id);
    cJSON *res = ibm_results(e, tok, id);
    long n = et_ibm_samples(res, which, "c", -1, v, cap);
    cJSON_Delete(res);
    return n;
}

/* rz(a) q0; cx q0,q1; measure q0 -> m, q1 -> 1-m; a symbol when sym */
static hq_circuit *seed_circ(double a, bool sym, int m) {
    hq_circuit *c = NULL;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    if (sym) {
        int s;
        hq_circuit_add_symbol(c, "t", HQ_SYM_INPUT, &s);
        hq_angle x = hq_angle_sym(s, 1, 0);
        hq_circuit_add_gate_sym(c, HQ_GATE_RZ, (int[]){0}, &x);
    } else {
        hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, &a);
    }
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_measure(c, 0, m);
    hq_circuit_add_measure(c, 1, 1 - m);
    return c;
}

/* The sampling seed is a function of the bound circuit only: a template bound to a value
 * gives the seed of the same circuit written with that angle; one ulp, a measurement
 * target, the layout, the shots, the noise tag or the emulator seed change it. */
HQ_TEST(emulator_seed_identity) {
    hq_circuit *lit = seed_circ(0.5, false, 0), *tmpl = seed_circ(0, true, 0), *bound = NULL;
    hq_circuit *ulp = seed_circ(nextafter(0.5, 1), false, 0), *swp = seed_circ(0.5, false, 1);
    HQ_REQUIRE(lit && tmpl && ulp && swp);
    HQ_REQUIRE_OK(hq_circuit_bind(tmpl, (double[]){0.5}, &bound));
    int lay[2] = {0, 1}, lay2[2] = {1, 0};
    uint64_t s0, t0, s, t;
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 1000, lay, 2, lit, &s0, &t0));
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 1000, lay, 2, bound, &s, &t));
    HQ_CHECK(s == s0 && t == t0);
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 1000, lay, 2, ulp, &s, &t));
    HQ_CHECK(s != s0 && t != t0);
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 1000, lay, 2, swp, &s, &t));
    HQ_CHECK(s != s0 && t != t0);
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 1000, lay2, 2, lit, &s, &t));
    HQ_CHECK(s != s0 && t != t0);
    HQ_REQUIRE_OK(emu_seed_for(1, "ibm", 999, lay, 2, lit, &s, &t));
    HQ_CHECK(s != s0 && t != t0);
    HQ_REQUIRE_OK(emu_seed_for(1, "ionq", 1000, lay, 2, lit, &s, &t));
    HQ_CHECK(s != s0 && t != t0);
    HQ_REQUIRE_OK(emu_seed_for(2, "ibm", 1000, lay, 2, lit, &s, &t));
    HQ_CHECK(s != s0 && t == t0); /* the emulator seed is mixed into the seed only */
    HQ_CHECK_FAILS(emu_seed_for(1, "ibm", 1000, lay, 2, tmpl, &s, &t), HQ_ERR_INTERNAL,
                   "unbound circuit");
    hq_circuit_free(lit);
    hq_circuit_free(tmpl);
    hq_circuit_free(bound);
    hq_circuit_free(ulp);
    hq_circuit_free(swp);
}

HQ_TEST(emulator_determinism) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char ab[4096], ba[4096];
    snprintf(ab, sizeof ab, "[\"%s\",null,3000],[\"%s\",null,500]", DET_P1, DET_P2);
    snprintf(ba, sizeof ba, "[\"%s\",null,500],[\"%s\",null,3000]", DET_P2, DET_P1);
    static unsigned long long a[3000], b[3000], c[3000], d[3000];
    HQ_REQUIRE(det_run(e, ab, 0, a, 3000, NULL) == 3000);
    HQ_REQUIRE(det_run(e, ba, 1, b, 3000, NULL) == 3000);
    /* same circuit and shots: the same samples, in the same order, whatever the packing */
    HQ_CHECK(memcmp(a, b, sizeof a) == 0);
    /* the samples are not trivial (noise and superposition give several outcomes) */
    int distinct = 0;
    for (unsigned o2 = 0; o2 < 4; o2++) {
        bool seen = false;
        for (int i = 0; i < 3000 && !seen; i++) seen = a[i] == o2;
        distinct += seen;
    }
    HQ_CHECK(distinct >= 3);
    hq_emulator_stop(e);
    /* a fresh emulator with the same seed reproduces them; another seed does not */
    e = et_start(&o);
    HQ_REQUIRE(e);
    HQ_REQUIRE(det_run(e, ab, 0, c, 3000, NULL) == 3000);
    HQ_CHECK(memcmp(a, c, sizeof a) == 0);
    hq_emulator_stop(e);
    o.seed = 8;
    e = et_start(&o);
    HQ_REQUIRE(e);
    HQ_REQUIRE(det_run(e, ab, 0, d, 3000, NULL) == 3000);
    HQ_CHECK(memcmp(a, d, sizeof a) != 0);
    hq_emulator_stop(e);
    /* IonQ sampled results too */
    o = et_options(HQ_EMU_PROFILE_IONQ);
    e = et_start(&o);
    HQ_REQUIRE(e);
    const char *job =
        "{\"target\":\"qpu.aria-1\",\"shots\":1000,\"input\":{\"qubits\":2,\"circuit\":"
        "[{\"gate\":\"h\",\"target\":0},{\"gate\":\"cnot\",\"control\":0,\"target\":1}]}}";
    char i1[64], i2[64], st[32];
    HQ_REQUIRE(et_ionq_submit(e, job, NULL, i1) && et_ionq_submit(e, job, NULL, i2));
    HQ_REQUIRE(et_ionq_wait(e, i1, 10, st, sizeof st) && et_ionq_wait(e, i2, 10, st, sizeof st));
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "/v0.3/jobs/%s/results", i1);
    snprintf(p2, sizeof p2, "/v0.3/jobs/%s/results", i2);
    et_resp r1, r2;
    et_ionq(e, "GET", p1, NULL, NULL, &r1);
    et_ionq(e, "GET", p2, NULL, NULL, &r2);
    HQ_CHECK(r1.status == 200 && r1.body && r2.body && !strcmp(r1.body, r2.body));
    HQ_CHECK(strstr(r1.body, "\"1\":") || strstr(r1.body, "\"2\":")); /* noise is visible */
    et_resp_free(&r1);
    et_resp_free(&r2);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_persistence_restart) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", hq_test_tmpfile("state"));
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.state_dir = dir;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256], pubs[4096], body[8192];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    snprintf(pubs, sizeof pubs, "[\"%s\",null,2000]", DET_P1);
    ibm_body(body, sizeof body, pubs, NULL);
    /* one job completes before the restart, one is still queued (1.5 s) */
    const char *fast[] = {"X-Emu-Delay-Ms: 0,0", NULL};
    const char *slow[] = {"X-Emu-Delay-Ms: 1500,200", NULL};
    char done_id[64], slow_id[64], ionq_id[64], st[32];
    HQ_REQUIRE(et_ibm_submit(e, tok, body, fast, done_id));
    HQ_REQUIRE(et_ibm_wait(e, tok, done_id, 10, st, sizeof st));
    cJSON *res = ibm_results(e, tok, done_id);
    char *before = cJSON_PrintUnformatted(res);
    cJSON_Delete(res);
    HQ_REQUIRE(et_ibm_submit(e, tok, body, slow, slow_id));
    HQ_REQUIRE(et_ionq_submit(e, BELL_QIS, slow, ionq_id));
    /* a multi-circuit job (child ids must survive), a preflight failure, a cancelled job */
    const char *multi = "{\"target\":\"simulator\",\"input\":{\"qubits\":2,\"circuits\":["
                        "{\"circuit\":[{\"gate\":\"x\",\"target\":0}]},{\"circuit\":[{\"gate\":"
                        "\"x\",\"target\":1}]}]}}";
    const char *broken = "{\"target\":\"simulator\",\"input\":{\"qubits\":1,\"circuit\":["
                         "{\"gate\":\"warp\",\"target\":0}]}}";
    char multi_id[64], broken_id[64], cancel_id[64], path0[128];
    HQ_REQUIRE(et_ionq_submit(e, multi, slow, multi_id));
    HQ_REQUIRE(et_ionq_submit(e, broken, NULL, broken_id));
    HQ_REQUIRE(et_ibm_submit(e, tok, body, slow, cancel_id));
    snprintf(path0, sizeof path0, "/api/v1/jobs/%s/cancel", cancel_id);
    et_resp rc0;
    et_ibm(e, tok, "POST", path0, NULL, NULL, &rc0);
    HQ_CHECK_EQ_INT(rc0.status, 204);
    et_resp_free(&rc0);
    snprintf(path0, sizeof path0, "/v0.3/jobs/%s", multi_id);
    et_ionq(e, "GET", path0, NULL, NULL, &rc0);
    cJSON *mj = et_json(&rc0);
    et_resp_free(&rc0);
    char *children_before =
        cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(mj, "children"));
    cJSON_Delete(mj);
    HQ_REQUIRE_OK(hq_emulator_recalibrate(e));
    hq_emulator_stats s0;
    HQ_REQUIRE_OK(hq_emulator_get_stats(e, &s0));
    hq_emulator_stop(e);
    /* junk next to the job files is ignored */
    char junk[1200];
    snprintf(junk, sizeof junk, "%s/jobs/zzzz.json.tmp.123", dir);
    HQ_REQUIRE_OK(hq_file_write_atomic(junk, "{", 1));
    snprintf(junk, sizeof junk, "%s/jobs/broken.json", dir);
    HQ_REQUIRE_OK(hq_file_write_atomic(junk, "{\"format\":1}", 12));

    e = et_start(&o);
    HQ_REQUIRE(e);
    hq_emulator_stats s1;
    HQ_REQUIRE_OK(hq_emulator_get_stats(e, &s1));
    HQ_CHECK_EQ_INT(s1.jobs_stored, 6);
    HQ_CHECK_EQ_INT(s1.jobs_accepted, 0);
    HQ_CHECK_EQ_INT(s1.calibration_count, 1);
    HQ_CHECK_STR(s1.calibration_date, s0.calibration_date);
    /* the token from before the restart is still valid; the slow job continues */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", slow_id);
    et_resp r;
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    HQ_CHECK_EQ_INT(r.status, 200);
    HQ_CHECK(strstr(r.body, "\"Queued\"") || strstr(r.body, "\"Running\""));
    et_resp_free(&r);
    HQ_REQUIRE(et_ibm_wait(e, tok, slow_id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    HQ_REQUIRE(et_ionq_wait(e, ionq_id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    HQ_REQUIRE(et_ionq_wait(e, broken_id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "failed");
    HQ_REQUIRE(et_ibm_wait(e, tok, cancel_id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Cancelled");
    HQ_REQUIRE(et_ionq_wait(e, multi_id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "completed");
    snprintf(path0, sizeof path0, "/v0.3/jobs/%s", multi_id);
    et_ionq(e, "GET", path0, NULL, NULL, &rc0);
    mj = et_json(&rc0);
    et_resp_free(&rc0);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(mj, "children");
    char *children_after = cJSON_PrintUnformatted(ch);
    HQ_CHECK(children_before && children_after && !strcmp(children_before, children_after));
    snprintf(path0, sizeof path0, "/v0.3/jobs/%s/results", multi_id);
    et_ionq(e, "GET", path0, NULL, NULL, &rc0);
    cJSON *mr = et_json(&rc0);
    et_resp_free(&rc0);
    /* circuit 1 flips qubit 1: its child's distribution is {"2": 1} */
    const cJSON *c1 = cJSON_GetObjectItemCaseSensitive(mr, cJSON_GetArrayItem(ch, 1)->valuestring);
    HQ_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c1, "2")) == 1);
    cJSON_Delete(mr);
    cJSON_Delete(mj);
    cJSON_free(children_before);
    cJSON_free(children_after);
    /* the completed job's results come back byte for byte, and the job computed after the
     * restart has the very same samples (same circuit, same shots) */
    res = ibm_results(e, tok, done_id);
    char *after = cJSON_PrintUnformatted(res);
    cJSON_Delete(res);
    HQ_CHECK(before && after && !strcmp(before, after));
    static unsigned long long a[2000], b[2000];
    res = ibm_results(e, tok, done_id);
    long na = et_ibm_samples(res, 0, "c", -1, a, 2000);
    cJSON_Delete(res);
    res = ibm_results(e, tok, slow_id);
    long nb = et_ibm_samples(res, 0, "c", -1, b, 2000);
    cJSON_Delete(res);
    HQ_CHECK(na == 2000 && nb == 2000 && !memcmp(a, b, sizeof a));
    cJSON_free(before);
    cJSON_free(after);
    hq_emulator_stop(e);
}

/* Mid-circuit measurement, reset and a classical condition run exactly; a dynamic circuit
 * whose branches could exhaust memory is refused. */
HQ_TEST(emulator_ibm_dynamic_circuits) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.noise_path = "ideal";
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256], body[8192];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(
        body, sizeof body,
        "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nx $0;\\nc[0] = measure $0;"
        "\\nreset $0;\\nif (c == 1) x $1;\\nc[1] = measure $1;\\n\",null,200]",
        NULL);
    char id[64], st[32];
    HQ_REQUIRE(et_ibm_submit(e, tok, body, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    cJSON *res = ibm_results(e, tok, id);
    static unsigned long long v[200];
    long n = et_ibm_samples(res, 0, "c", -1, v, 200);
    HQ_CHECK_EQ_INT(n, 200);
    for (long i = 0; i < n; i++) HQ_CHECK(v[i] == 3);
    cJSON_Delete(res);
    hq_sbuf q = HQ_SBUF_INIT;
    hq_sbuf_puts(&q, "[\"OPENQASM 3.0;\\nbit[16] c;\\nx $1;\\nx $2;\\nx $3;\\nx $4;\\n");
    for (int k = 0; k < 16; k++) hq_sbuf_printf(&q, "c[%d] = measure $0;\\nx $0;\\n", k);
    hq_sbuf_puts(&q, "\"]");
    ibm_body(body, sizeof body, q.p, NULL);
    et_resp r;
    et_ibm(e, tok, "POST", "/api/v1/jobs", body, NULL, &r);
    HQ_CHECK(r.status == 400 && strstr(r.body, "dynamic circuit"));
    et_resp_free(&r);
    hq_sbuf_free(&q);
    hq_emulator_stop(e);
}

/* --device CONF,PROPS: the files are served as they are (the date replaced after a
 * recalibration), the ISA and the noise come from them; --noise FILE replaces the noise. */
HQ_TEST(emulator_loaded_device) {
    char conf_path[1024], props_path[1024];
    snprintf(conf_path, sizeof conf_path, "%s",
             hq_test_shared("data/ibm_backends/conf_nairobi.json"));
    snprintf(props_path, sizeof props_path, "%s",
             hq_test_shared("data/ibm_backends/props_nairobi.json"));
    char *conf_file = NULL, *props_file = NULL;
    size_t n1, n2;
    HQ_REQUIRE_OK(hq_file_read(conf_path, 0, &conf_file, &n1));
    HQ_REQUIRE_OK(hq_file_read(props_path, 0, &props_file, &n2));
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    o.device_conf = conf_path;
    o.device_props = props_path;
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    char tok[256];
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    char *conf = NULL, *props = NULL;
    cJSON *a = get_ibm_doc(e, tok, "/api/v1/backends/ibm_nairobi/configuration", &conf);
    cJSON *b = get_ibm_doc(e, tok, "/api/v1/backends/ibm_nairobi/properties", &props);
    HQ_REQUIRE(a && b);
    HQ_CHECK(!strcmp(conf, conf_file));
    HQ_CHECK(!strcmp(props, props_file));
    cJSON_Delete(a);
    cJSON_Delete(b);
    hq_free(conf);
    hq_free(props);
    /* the device's ISA: cx on its edges, not cz, not off the map */
    char body[4096], id[64], st[32];
    ibm_body(body, sizeof body,
             "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nx $3;\\ncx $3, $5;\\n"
             "c[0] = measure $3;\\nc[1] = measure $5;\\n\",null,2000]",
             NULL);
    /* ibm_body names the built-in device: point it at nairobi */
    char *p = strstr(body, HQ_EMU_DEFAULT_DEVICE);
    HQ_REQUIRE(p);
    char fixed[4096];
    snprintf(fixed, sizeof fixed, "%.*sibm_nairobi%s", (int)(p - body), body,
             p + strlen(HQ_EMU_DEFAULT_DEVICE));
    HQ_REQUIRE(et_ibm_submit(e, tok, fixed, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    cJSON *res = ibm_results(e, tok, id);
    static unsigned long long v[2000];
    long n = et_ibm_samples(res, 0, "c", -1, v, 2000);
    long ones = 0;
    for (long i = 0; i < n; i++) ones += v[i] == 3;
    HQ_CHECK(n == 2000 && ones > 1700 && ones < 2000); /* |11> up to noise, and noise is on */
    cJSON_Delete(res);
    static const char *bad[] = {"cz $3, $5", "cx $0, $2"};
    for (int k = 0; k < 2; k++) {
        char pub[512];
        snprintf(
            pub, sizeof pub,
            "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[1] c;\\n%s;\\nc[0] = measure "
            "$0;\\n\"]",
            bad[k]);
        snprintf(
            fixed, sizeof fixed,
            "{\"program_id\":\"sampler\",\"backend\":\"ibm_nairobi\",\"params\":{\"pubs\":[%s]}}",
            pub);
        et_resp r;
        et_ibm(e, tok, "POST", "/api/v1/jobs", fixed, NULL, &r);
        HQ_CHECKF(r.status == 400 && strstr(r.body, "target definition"), "%s: %ld %s", bad[k],
                  r.status, r.body);
        et_resp_free(&r);
    }
    /* a recalibration replaces only the date */
    HQ_REQUIRE_OK(hq_emulator_recalibrate(e));
    b = get_ibm_doc(e, tok, "/api/v1/backends/ibm_nairobi/properties", NULL);
    cJSON *orig = cJSON_Parse(props_file);
    HQ_REQUIRE(b && orig);
    const cJSON *d1 = cJSON_GetObjectItemCaseSensitive(b, "last_update_date");
    HQ_CHECK(cJSON_IsString(d1) && strcmp(d1->valuestring, "2024-05-27T15:45:40-03:00") != 0);
    cJSON_DeleteItemFromObjectCaseSensitive(b, "last_update_date");
    cJSON_DeleteItemFromObjectCaseSensitive(orig, "last_update_date");
    HQ_CHECK(cJSON_Compare(b, orig, 1));
    cJSON_Delete(b);
    cJSON_Delete(orig);
    hq_emulator_stop(e);
    hq_free(conf_file);
    hq_free(props_file);

    /* --noise ideal on the loaded device: no noise, the same circuit gives |11> every shot */
    o.noise_path = "ideal";
    e = et_start(&o);
    HQ_REQUIRE(e);
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    ibm_body(body, sizeof body,
             "[\"OPENQASM 3.0;\\ninclude \\\"stdgates.inc\\\";\\nbit[2] c;\\nx $3;\\ncx $3, $5;\\n"
             "c[0] = measure $3;\\nc[1] = measure $5;\\n\",null,500]",
             NULL);
    p = strstr(body, HQ_EMU_DEFAULT_DEVICE);
    snprintf(fixed, sizeof fixed, "%.*sibm_nairobi%s", (int)(p - body), body,
             p + strlen(HQ_EMU_DEFAULT_DEVICE));
    HQ_REQUIRE(et_ibm_submit(e, tok, fixed, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    res = ibm_results(e, tok, id);
    n = et_ibm_samples(res, 0, "c", -1, v, 2000);
    ones = 0;
    for (long i = 0; i < n; i++) ones += v[i] == 3;
    HQ_CHECK(n == 500 && ones == 500);
    cJSON_Delete(res);
    hq_emulator_stop(e);

    /* --noise FILE: a noise model describing 5 qubits on a 7-qubit device fails a job on $6
     * with the simulator's message, and runs one on $0, $1 */
    o.noise_path = "configs/noise/ibm_manila.json";
    e = et_start(&o);
    HQ_REQUIRE(e);
    HQ_REQUIRE(et_ibm_token(e, tok, sizeof tok));
    snprintf(
        fixed, sizeof fixed,
        "{\"program_id\":\"sampler\",\"backend\":\"ibm_nairobi\",\"params\":{\"pubs\":[[\"OPENQASM "
        "3.0;\\nbit[1] c;\\nx $6;\\nc[0] = measure $6;\\n\",null,10]]}}");
    HQ_REQUIRE(et_ibm_submit(e, tok, fixed, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Failed");
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    et_resp r;
    et_ibm(e, tok, "GET", path, NULL, NULL, &r);
    HQ_CHECK(strstr(r.body, "pub 0") != NULL);
    et_resp_free(&r);
    snprintf(
        fixed, sizeof fixed,
        "{\"program_id\":\"sampler\",\"backend\":\"ibm_nairobi\",\"params\":{\"pubs\":[[\"OPENQASM "
        "3.0;\\nbit[1] c;\\nx $1;\\nc[0] = measure $1;\\n\",null,10]]}}");
    HQ_REQUIRE(et_ibm_submit(e, tok, fixed, NULL, id));
    HQ_REQUIRE(et_ibm_wait(e, tok, id, 10, st, sizeof st));
    HQ_CHECK_STR(st, "Completed");
    hq_emulator_stop(e);
}
