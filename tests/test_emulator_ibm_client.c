/*
 * tests/test_emulator_ibm_client.c — the project's own IBM client pieces against the
 * emulator, over its HTTP layer (backends/http.h, libcurl): IAM exchange and headers
 * (ibm.h), the device documents fed to the device loader, a logical circuit transpiled to
 * the emulated device's ISA (transpile.h) and written as OpenQASM 3 with parameters, the
 * Sampler V2 body builder with bindings and client token, status and results parsers, and
 * the counts of every binding against exact density-matrix probabilities of the
 * transpiled circuit under the device's noise model (chi-square). Also: the client's
 * retry on 429 / 5xx pages, and failed / cancelled / partial jobs as its parsers see them.
 * (ibm.h and ionq.h cannot share a file: both define hq_ionq_gateset differently — the
 * IonQ side is test_emulator_ionq_client.c.)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/http.h"
#include "backends/ibm.h"
#include "backends/noise.h"
#include "backends/qasm.h"
#include "backends/transpile.h"
#include "tests/hq_test.h"
#include "tests/test_emulator_util.h"

typedef struct vclock {
    int n_sleep;
    double slept[16];
} vclock;

static void v_sleep(void *u, double s) {
    vclock *v = u;
    if (v->n_sleep < 16) v->slept[v->n_sleep++] = s;
}

static hq_http *client(vclock *v) {
    hq_http_options o = {0};
    o.timeout_ms = 10000;
    o.policy.max_tries = 4;
    o.hooks.sleep = v_sleep;
    o.hooks.user = v;
    hq_http *h = NULL;
    return hq_http_create(&o, &h) == HQ_OK ? h : NULL;
}

typedef struct ibm_ctx {
    hq_emulator *e;
    hq_http *h;
    hq_ibm_token tok;
    hq_http_header hd[HQ_IBM_N_HEADERS];
    char auth[2048];
} ibm_ctx;

static hq_status call(ibm_ctx *c, hq_http_method m, const char *path, const char *body,
                      hq_http_response *rs) {
    hq_http_request rq = {.method = m,
                          .url = et_url(c->e, path),
                          .headers = c->hd,
                          .n_headers = HQ_IBM_N_HEADERS,
                          .body = body,
                          .body_len = body ? strlen(body) : 0};
    return hq_http_perform(c->h, &rq, rs);
}

static bool ibm_login(ibm_ctx *c) {
    hq_sbuf b = HQ_SBUF_INIT;
    if (hq_ibm_iam_request_body(ET_KEY, &b) != HQ_OK) return false;
    hq_http_header hd[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    hq_http_request rq = {.method = HQ_HTTP_POST,
                          .url = et_url(c->e, "/identity/token"),
                          .headers = hd,
                          .n_headers = 1,
                          .body = b.p,
                          .body_len = b.len};
    hq_http_response rs;
    hq_status st = hq_http_perform(c->h, &rq, &rs);
    if (st == HQ_OK) st = hq_ibm_parse_iam_token(rs.body, rs.body_len, hq_time_wall(), &c->tok);
    hq_http_response_free(&rs);
    hq_sbuf_free(&b);
    if (st == HQ_OK) st = hq_ibm_headers(&c->tok, ET_CRN, NULL, c->hd, c->auth, sizeof c->auth);
    return st == HQ_OK;
}

static bool poll_done(ibm_ctx *c, const char *id, hq_qpu_job_status *js) {
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    for (int i = 0; i < 2000; i++) {
        hq_http_response rs;
        hq_status st = call(c, HQ_HTTP_GET, path, NULL, &rs);
        if (st == HQ_OK) st = hq_ibm_parse_job(rs.body, rs.body_len, js);
        hq_http_response_free(&rs);
        if (st != HQ_OK) return false;
        if (hq_qpu_state_terminal(js->state)) return true;
        hq_qpu_job_status_free(js);
        hq_sleep_ms(5);
    }
    return false;
}

static bool submit(ibm_ctx *c, const hq_ibm_job_spec *spec, char *id) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_http_response rs;
    hq_qpu_job_status js;
    memset(&js, 0, sizeof js);
    hq_status st = hq_ibm_build_sampler_job(spec, &b);
    if (st == HQ_OK) st = call(c, HQ_HTTP_POST, "/api/v1/jobs", b.p, &rs);
    if (st == HQ_OK) st = hq_ibm_parse_create(rs.body, rs.body_len, &js);
    if (st == HQ_OK) snprintf(id, 64, "%s", js.id);
    hq_http_response_free(&rs);
    hq_qpu_job_status_free(&js);
    hq_sbuf_free(&b);
    return st == HQ_OK;
}

/* A 4-qubit logical circuit with two inputs: H/RY encoding, a CX ring, a CP ladder. */
static hq_circuit *logical_circuit(void) {
    hq_circuit *c = NULL;
    int x0, x1;
    if (hq_circuit_create(&c) != HQ_OK) return NULL;
    hq_circuit_add_qreg(c, "q", 4, NULL);
    hq_circuit_add_creg(c, "meas", 4, NULL);
    hq_circuit_add_symbol(c, "x0", HQ_SYM_INPUT, &x0);
    hq_circuit_add_symbol(c, "x1", HQ_SYM_INPUT, &x1);
    for (int q = 0; q < 4; q++) hq_circuit_add_gate(c, HQ_GATE_H, (int[]){q}, NULL);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, (hq_angle[]){hq_angle_sym(x0, 1, 0)});
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){2}, (hq_angle[]){hq_angle_sym(x1, 0.5, 0.2)});
    for (int q = 0; q < 4; q++) hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){q, (q + 1) % 4}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){3, 1}, (double[]){0.7});
    hq_circuit_add_gate(c, HQ_GATE_U3, (int[]){1}, (double[]){0.4, 0.1, -0.3});
    for (int q = 0; q < 4; q++) hq_circuit_add_measure(c, q, q);
    return c;
}

HQ_TEST(emulator_ibm_client_end_to_end) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    vclock vc = {0};
    ibm_ctx c = {.e = e, .h = client(&vc)};
    HQ_REQUIRE(c.h && ibm_login(&c));
    /* the device as the client sees it */
    hq_http_response rc, rp;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/configuration",
                       NULL, &rc));
    HQ_REQUIRE_OK(
        call(&c, HQ_HTTP_GET, "/api/v1/backends/" HQ_EMU_DEFAULT_DEVICE "/properties", NULL, &rp));
    hq_device *dev = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(rc.body, rp.body, &dev));
    hq_http_response_free(&rc);
    hq_http_response_free(&rp);
    hq_http_response rb;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/api/v1/backends", NULL, &rb));
    hq_qpu_backend_info *bi = NULL;
    int nb = 0;
    HQ_REQUIRE_OK(hq_ibm_parse_backends(rb.body, rb.body_len, &bi, &nb));
    HQ_CHECK(nb == 1 && bi[0].available && bi[0].qubits == 5);
    HQ_CHECK_STR(bi[0].name, HQ_EMU_DEFAULT_DEVICE);
    hq_free(bi);
    hq_http_response_free(&rb);

    /* transpile to the ISA, write OpenQASM 3 with the inputs as parameters */
    hq_circuit *lc = logical_circuit();
    HQ_REQUIRE(lc);
    hq_transpile_result tr;
    HQ_REQUIRE_OK(hq_transpile_ibm(lc, dev, NULL, &tr));
    HQ_REQUIRE_OK(hq_transpile_check_isa(tr.circuit, dev));
    hq_sbuf qasm = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_qasm_write(tr.circuit, 3, HQ_QASM_PHYSICAL, &qasm));
    const char *names[] = {"x0", "x1"};
    const double rows[3][2] = {{0.3, -1.2}, {1.9, 0.4}, {-0.8, 2.5}};
    hq_ibm_pub pub = {.qasm3 = qasm.p,
                      .param_names = names,
                      .n_params = 2,
                      .param_values = &rows[0][0],
                      .n_bindings = 3,
                      .shots = 8000};
    hq_ibm_job_spec spec = {.backend = HQ_EMU_DEFAULT_DEVICE,
                            .pubs = &pub,
                            .n_pubs = 1,
                            .default_shots = 1000,
                            .client_token = "run7-step3"};
    char id[64];
    HQ_REQUIRE(submit(&c, &spec, id));
    hq_qpu_job_status js;
    HQ_REQUIRE(poll_done(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_COMPLETED);
    hq_qpu_job_status_free(&js);
    /* the client can find its job by token */
    hq_http_response rl;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/api/v1/jobs?tags=hqcnn-token:run7-step3", NULL, &rl));
    HQ_CHECK(strstr(rl.body, id) && strstr(rl.body, "\"count\":1"));
    hq_http_response_free(&rl);
    /* results through the client's parser, per binding */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/results", id);
    hq_http_response rr;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, path, NULL, &rr));
    hq_ibm_results res;
    HQ_REQUIRE_OK(hq_ibm_parse_results(rr.body, rr.body_len, 1, &res));
    hq_http_response_free(&rr);
    HQ_REQUIRE(res.pubs[0].status == HQ_OK && res.pubs[0].n_cregs == 1);
    HQ_CHECK_STR(res.pubs[0].cregs[0].name, "meas");
    HQ_CHECK_EQ_INT(res.pubs[0].cregs[0].n_bindings, 3);
    hq_noise_model *m = NULL;
    HQ_REQUIRE_OK(hq_noise_from_device(dev, &m));
    for (int b = 0; b < 3; b++) {
        hq_counts cnt;
        HQ_REQUIRE_OK(hq_ibm_pub_counts(&res.pubs[0], NULL, 0, b, &cnt));
        HQ_CHECK_EQ_INT(cnt.shots, 8000);
        double sym[2];
        for (int k = 0; k < 2; k++) {
            int idx = -1;
            HQ_REQUIRE_OK(hq_circuit_find_symbol(tr.circuit, names[k], &idx));
            sym[idx] = rows[b][k];
        }
        hq_dm_dist dist;
        HQ_REQUIRE_OK(hq_dm_run_probs(tr.circuit, sym, m, NULL, &dist));
        long counts[16];
        double p[16];
        for (int k = 0; k < 16; k++) {
            counts[k] = (long)hq_counts_get(&cnt, (uint64_t)k);
            p[k] = hq_dm_dist_prob(&dist, (uint64_t)k);
        }
        int dof;
        double chi = et_chi2(counts, p, 16, 8000, &dof);
        HQ_CHECKF(chi < et_chi2_crit(dof), "binding %d: chi2 %.1f >= %.1f (dof %d)", b, chi,
                  et_chi2_crit(dof), dof);
        hq_dm_dist_free(&dist);
        hq_counts_free(&cnt);
    }
    hq_ibm_results_free(&res);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 1);

    /* a batch session: jobs run in it until it stops accepting them */
    hq_sbuf sb = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_ibm_build_session(HQ_EMU_DEFAULT_DEVICE, "batch", 600, &sb));
    hq_http_response rsess;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_POST, "/api/v1/sessions", sb.p, &rsess));
    hq_qpu_job_status ss;
    HQ_REQUIRE_OK(hq_ibm_parse_create(rsess.body, rsess.body_len, &ss));
    hq_http_response_free(&rsess);
    char sid[64];
    snprintf(sid, sizeof sid, "%s", ss.id);
    hq_qpu_job_status_free(&ss);
    spec.session_id = sid;
    spec.client_token = "run7-step4";
    HQ_REQUIRE(submit(&c, &spec, id));
    HQ_REQUIRE(poll_done(&c, id, &js));
    HQ_CHECK_STR(js.session_id, sid);
    hq_qpu_job_status_free(&js);
    hq_sbuf_reset(&sb);
    hq_ibm_build_session_close(&sb);
    char sp[128];
    snprintf(sp, sizeof sp, "/api/v1/sessions/%s", sid);
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_PATCH, sp, sb.p, &rsess));
    HQ_CHECK_EQ_INT(rsess.status, 204);
    hq_http_response_free(&rsess);
    HQ_CHECK(!submit(&c, &spec, id));
    HQ_CHECK(strstr(hq_last_error(), "not accepting jobs") != NULL);
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, sp, NULL, &rsess));
    HQ_CHECK(strstr(rsess.body, "\"accepting_jobs\":false") &&
             strstr(rsess.body, "\"mode\":\"batch\""));
    hq_http_response_free(&rsess);
    snprintf(sp, sizeof sp, "/api/v1/sessions/%s/close", sid);
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_DELETE, sp, NULL, &rsess));
    HQ_CHECK_EQ_INT(rsess.status, 204);
    hq_http_response_free(&rsess);
    HQ_CHECK_FAILS(call(&c, HQ_HTTP_GET, "/api/v1/sessions/nope", NULL, &rsess), HQ_ERR_HTTP,
                   "404");
    hq_http_response_free(&rsess);
    hq_sbuf_free(&sb);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 2);
    hq_noise_free(m);
    hq_sbuf_free(&qasm);
    hq_transpile_result_free(&tr);
    hq_circuit_free(lc);
    hq_device_free(dev);
    hq_ibm_token_free(&c.tok);
    hq_http_free(c.h);
    hq_emulator_stop(e);
}

HQ_TEST(emulator_ibm_client_faults) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IBM);
    hq_emulator *e = et_start(&o);
    HQ_REQUIRE(e);
    vclock vc = {0};
    ibm_ctx c = {.e = e, .h = client(&vc)};
    HQ_REQUIRE(c.h && ibm_login(&c));
    const char *q =
        "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nbit[1] c;\nx $2;\nc[0] = measure $2;\n";
    hq_ibm_pub pubs[2] = {{.qasm3 = q, .shots = 100}, {.qasm3 = q, .shots = 50}};
    hq_ibm_job_spec spec = {.backend = HQ_EMU_DEFAULT_DEVICE, .pubs = pubs, .n_pubs = 2};
    /* the client's retry: 429 with Retry-After, then a 503 HTML page, then the answer */
    HQ_REQUIRE_OK(
        hq_emulator_arm_faults(e, "rate429:3~GET/api/v1/backends,err503_html~GET/api/v1/backends"));
    hq_http_response rs;
    HQ_CHECK_OK(call(&c, HQ_HTTP_GET, "/api/v1/backends", NULL, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 3);
    HQ_CHECK_EQ_INT(rs.status, 200);
    HQ_CHECK(vc.n_sleep == 2 && vc.slept[0] == 3.0);
    hq_http_response_free(&rs);
    /* failed, provider-cancelled and partial jobs as the parsers report them */
    char id[64];
    hq_qpu_job_status js;
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "job_fail:1517"));
    HQ_REQUIRE(submit(&c, &spec, id) && poll_done(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_FAILED);
    HQ_CHECK_STR(js.failure_code, "1517");
    HQ_CHECK(js.failure_msg[0] != '\0');
    hq_qpu_job_status_free(&js);
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "provider_cancel"));
    HQ_REQUIRE(submit(&c, &spec, id) && poll_done(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_CANCELLED);
    HQ_CHECK_STR(js.failure_code, "1305");
    hq_qpu_job_status_free(&js);
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "partial"));
    HQ_REQUIRE(submit(&c, &spec, id) && poll_done(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_COMPLETED);
    hq_qpu_job_status_free(&js);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/results", id);
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, path, NULL, &rs));
    hq_ibm_results res;
    HQ_CHECK_OK(hq_ibm_parse_results(rs.body, rs.body_len, 2, &res));
    HQ_CHECK(res.n == 2 && res.pubs[0].status == HQ_OK && res.pubs[1].status != HQ_OK);
    hq_counts cnt;
    HQ_CHECK_OK(hq_ibm_pub_counts(&res.pubs[0], NULL, 0, 0, &cnt));
    HQ_CHECK(hq_counts_get(&cnt, 1) > 80); /* x then measure: 1 up to readout error */
    HQ_CHECK_EQ_INT(cnt.shots, 100);
    hq_counts_free(&cnt);
    hq_ibm_results_free(&res);
    hq_http_response_free(&rs);
    /* a mistyped body: the parser refuses it instead of misreading it */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "bad_json_types"));
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, path, NULL, &rs));
    HQ_CHECK(hq_ibm_parse_results(rs.body, rs.body_len, 2, &res) != HQ_OK ||
             res.pubs[0].status != HQ_OK);
    hq_ibm_results_free(&res);
    hq_http_response_free(&rs);
    /* a lost submit reply: the client is told to look the job up, and finds it once */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "dup_submit"));
    spec.client_token = "tok-dup";
    HQ_CHECK(!submit(&c, &spec, id));
    HQ_CHECK(strstr(hq_last_error(), "client token") != NULL);
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/api/v1/jobs?tags=hqcnn-token:tok-dup", NULL, &rs));
    HQ_CHECK(strstr(rs.body, "\"count\":1") != NULL);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(et_stats_accepted(e), 4);
    /* an expired / foreign token gives HQ_ERR_AUTH */
    hq_ibm_token_free(&c.tok);
    c.tok.access_token = hq_strdup("emu.1.0000000000000000.00000000000000000000000000000000");
    c.tok.expiration = hq_time_wall() + 3600;
    HQ_REQUIRE_OK(hq_ibm_headers(&c.tok, ET_CRN, NULL, c.hd, c.auth, sizeof c.auth));
    HQ_CHECK_FAILS(call(&c, HQ_HTTP_GET, "/api/v1/backends", NULL, &rs), HQ_ERR_AUTH, "401");
    hq_http_response_free(&rs);
    hq_free(c.tok.access_token);
    hq_http_free(c.h);
    hq_emulator_stop(e);
}
