/*
 * tests/test_emulator_ionq_client.c — the project's own IonQ client pieces against the
 * emulator over its HTTP layer (backends/http.h): the job body builder (ionq.h: QIS
 * mappings of every gate, several circuits in one job, the client token in metadata), the
 * create / job / results / characterization / backends parsers, exact probabilities of
 * the ideal simulator against the original circuits, sampled counts of a QPU target
 * against exact density-matrix probabilities under the characterization's noise model
 * (chi-square), and the client's view of 429, lost submit replies, failed, partial and
 * truncated results.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/http.h"
#include "backends/ionq.h"
#include "backends/noise.h"
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

typedef struct ionq_ctx {
    hq_emulator *e;
    hq_http *h;
} ionq_ctx;

static hq_status call(ionq_ctx *c, hq_http_method m, const char *path, const char *body,
                      hq_http_response *rs) {
    hq_http_header hd[] = {{"Authorization", "apiKey " ET_KEY},
                           {"Content-Type", "application/json"}};
    hq_http_request rq = {.method = m,
                          .url = et_url(c->e, path),
                          .headers = hd,
                          .n_headers = 2,
                          .body = body,
                          .body_len = body ? strlen(body) : 0};
    return hq_http_perform(c->h, &rq, rs);
}

static bool start(ionq_ctx *c, vclock *v) {
    hq_emulator_options o = et_options(HQ_EMU_PROFILE_IONQ);
    c->e = et_start(&o);
    hq_http_options ho = {0};
    ho.timeout_ms = 10000;
    ho.policy.max_tries = 4;
    ho.hooks.sleep = v_sleep;
    ho.hooks.user = v;
    return c->e && hq_http_create(&ho, &c->h) == HQ_OK;
}

static void stop(ionq_ctx *c) {
    hq_http_free(c->h);
    hq_emulator_stop(c->e);
}

static hq_status submit(ionq_ctx *c, const hq_ionq_job_spec *sp, const hq_circuit *const *cs, int n,
                        char *id) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_http_response rs;
    memset(&rs, 0, sizeof rs);
    hq_qpu_job_status js;
    memset(&js, 0, sizeof js);
    hq_status st = hq_ionq_build_job(sp, cs, n, &b);
    if (st == HQ_OK) st = call(c, HQ_HTTP_POST, "/v0.3/jobs", b.p, &rs);
    if (st == HQ_OK) st = hq_ionq_parse_create(rs.body, rs.body_len, &js);
    if (st == HQ_OK) snprintf(id, 64, "%s", js.id);
    hq_http_response_free(&rs);
    hq_qpu_job_status_free(&js);
    hq_sbuf_free(&b);
    return st;
}

static bool wait_job(ionq_ctx *c, const char *id, hq_qpu_job_status *js) {
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s", id);
    for (int i = 0; i < 2000; i++) {
        hq_http_response rs;
        hq_status st = call(c, HQ_HTTP_GET, path, NULL, &rs);
        if (st == HQ_OK) st = hq_ionq_parse_job(rs.body, rs.body_len, js);
        hq_http_response_free(&rs);
        if (st != HQ_OK) return false;
        if (hq_qpu_state_terminal(js->state)) return true;
        hq_qpu_job_status_free(js);
        hq_sleep_ms(5);
    }
    return false;
}

static hq_status results(ionq_ctx *c, const hq_qpu_job_status *js, int n, int nq, int64_t shots,
                         hq_qpu_results *out) {
    char path[128];
    snprintf(path, sizeof path, "/v0.3/jobs/%s/results", js->id);
    hq_http_response rs;
    hq_status st = call(c, HQ_HTTP_GET, path, NULL, &rs);
    if (st == HQ_OK) st = hq_ionq_parse_results(rs.body, rs.body_len, js, n, nq, shots, out);
    hq_http_response_free(&rs);
    return st;
}

/* Circuits over 3 qubits using gates the builder has to map (cp, u3, iswap, cswap, rxx,
 * ccx, sdg, sx ...), each measured on every qubit. */
static hq_circuit *gate_zoo(int k) {
    hq_circuit *c = NULL;
    if (hq_circuit_create(&c) != HQ_OK) return NULL;
    hq_circuit_add_qreg(c, "q", 3, NULL);
    hq_circuit_add_creg(c, "c", 3, NULL);
    for (int q = 0; q < 3; q++) hq_circuit_add_gate(c, HQ_GATE_H, (int[]){q}, NULL);
    if (k == 0) {
        hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){0, 1}, (double[]){0.9});
        hq_circuit_add_gate(c, HQ_GATE_U3, (int[]){2}, (double[]){0.4, 1.1, -0.6});
        hq_circuit_add_gate(c, HQ_GATE_RXX, (int[]){0, 2}, (double[]){0.5});
        hq_circuit_add_gate(c, HQ_GATE_SDG, (int[]){1}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL);
    } else if (k == 1) {
        hq_circuit_add_gate(c, HQ_GATE_T, (int[]){0}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_ISWAP, (int[]){0, 1}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_CRY, (int[]){1, 2}, (double[]){1.3});
        hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){2, 1, 0}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_SX, (int[]){2}, NULL);
    } else if (k == 3) {
        /* only gates with a one-to-one IonQ QIS form (each gets exactly one noisy gate) */
        hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){0}, (double[]){0.3});
        hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_RXX, (int[]){0, 2}, (double[]){0.5});
        hq_circuit_add_gate(c, HQ_GATE_CRY, (int[]){1, 2}, (double[]){1.3});
        hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){2, 1, 0}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_RZZ, (int[]){1, 2}, (double[]){0.7});
        hq_circuit_add_gate(c, HQ_GATE_SWAP, (int[]){0, 2}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){2}, NULL);
    } else if (k == 4) {
        hq_circuit_add_gate(c, HQ_GATE_RX, (int[]){1}, (double[]){0.8});
        hq_circuit_add_gate(c, HQ_GATE_CZ, (int[]){0, 2}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_CH, (int[]){1, 0}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_CRZ, (int[]){2, 1}, (double[]){1.7});
        hq_circuit_add_gate(c, HQ_GATE_SDG, (int[]){2}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){2}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_T, (int[]){1}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL);
    } else {
        hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){0}, (double[]){0.3});
        hq_circuit_add_gate(c, HQ_GATE_CSWAP, (int[]){0, 1, 2}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_CU3, (int[]){2, 0}, (double[]){0.8, 0.2, 0.5});
        hq_circuit_add_gate(c, HQ_GATE_RZZ, (int[]){1, 2}, (double[]){0.7});
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){2}, NULL);
    }
    for (int q = 0; q < 3; q++) hq_circuit_add_measure(c, q, q);
    return c;
}

static hq_ionq_job_spec base_spec(const char *target, int64_t shots, const char *token) {
    hq_ionq_job_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.api = HQ_IONQ_V03;
    sp.target = target;
    sp.gateset = HQ_IONQ_QIS;
    sp.shots = shots;
    sp.client_token = token;
    sp.noise_seed = -1;
    sp.debiasing = -1;
    return sp;
}

HQ_TEST(emulator_ionq_client_exact) {
    vclock v = {0};
    ionq_ctx c;
    HQ_REQUIRE(start(&c, &v));
    hq_circuit *cs[3];
    for (int k = 0; k < 3; k++) HQ_REQUIRE((cs[k] = gate_zoo(k)));
    hq_ionq_job_spec sp = base_spec("simulator", 1000, "tok-zoo");
    char id[64];
    HQ_REQUIRE_OK(submit(&c, &sp, (const hq_circuit *const *)cs, 3, id));
    hq_qpu_job_status js;
    HQ_REQUIRE(wait_job(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_COMPLETED && js.n_children == 3 && js.shots == 1000);
    hq_qpu_results res;
    HQ_REQUIRE_OK(results(&c, &js, 3, 3, 1000, &res));
    HQ_CHECK_EQ_INT(hq_qpu_results_n_ok(&res), 3);
    for (int k = 0; k < 3; k++) {
        /* the ideal simulator's probabilities equal the original circuit's */
        hq_dm_dist dist;
        HQ_REQUIRE_OK(hq_dm_run_probs(cs[k], NULL, NULL, NULL, &dist));
        double got[8] = {0};
        for (int64_t i = 0; i < res.r[k].n_prob; i++)
            got[res.r[k].prob_outcome[i] & 7] = res.r[k].prob[i];
        for (int o = 0; o < 8; o++)
            HQ_CHECKF(fabs(got[o] - hq_dm_dist_prob(&dist, (uint64_t)o)) < 1e-9,
                      "circuit %d outcome %d: %.12f vs %.12f", k, o, got[o],
                      hq_dm_dist_prob(&dist, (uint64_t)o));
        HQ_CHECK_EQ_INT(res.r[k].counts.shots, 1000);
        HQ_CHECK_STR(res.r[k].id, js.children[k]);
        hq_dm_dist_free(&dist);
    }
    hq_qpu_results_free(&res);
    hq_qpu_job_status_free(&js);
    /* found by its token */
    hq_http_response rs;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/v0.3/jobs?metadata.hqcnn_token=tok-zoo", NULL, &rs));
    HQ_CHECK(strstr(rs.body, id) != NULL);
    hq_http_response_free(&rs);
    /* backends and characterization through the client's parsers */
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/v0.3/backends", NULL, &rs));
    hq_qpu_backend_info *bi = NULL;
    int nb = 0;
    HQ_CHECK_OK(hq_ionq_parse_backends(rs.body, rs.body_len, &bi, &nb));
    HQ_CHECK(nb == 5 && bi && !strcmp(bi[1].name, "qpu.aria-1") && bi[1].qubits == 25 &&
             bi[1].available);
    hq_free(bi);
    hq_http_response_free(&rs);
    for (int k = 0; k < 3; k++) hq_circuit_free(cs[k]);
    stop(&c);
}

HQ_TEST(emulator_ionq_client_noisy) {
    vclock v = {0};
    ionq_ctx c;
    HQ_REQUIRE(start(&c, &v));
    /* the reference runs the circuit as submitted, gate for gate: circuits whose gates
     * the builder maps one-to-one (a cu3, say, becomes four noisy gates on the QPU) */
    hq_circuit *cs[2] = {gate_zoo(3), gate_zoo(4)};
    HQ_REQUIRE(cs[0] && cs[1]);
    hq_ionq_job_spec sp = base_spec("qpu.forte-1", 10000, "tok-noisy");
    char id[64];
    HQ_REQUIRE_OK(submit(&c, &sp, (const hq_circuit *const *)cs, 2, id));
    hq_qpu_job_status js;
    HQ_REQUIRE(wait_job(&c, id, &js));
    HQ_REQUIRE(js.state == HQ_QPU_COMPLETED);
    hq_qpu_results res;
    HQ_REQUIRE_OK(results(&c, &js, 2, 3, 10000, &res));
    /* the reference model from the characterization, as the client parses it */
    hq_http_response rs;
    HQ_REQUIRE_OK(
        call(&c, HQ_HTTP_GET, "/v0.3/characterizations/backends/forte-1/current", NULL, &rs));
    hq_ionq_calibration cal;
    HQ_REQUIRE_OK(hq_ionq_parse_characterization(rs.body, rs.body_len, &cal));
    hq_http_response_free(&rs);
    HQ_CHECK(cal.qubits == 36 && cal.n_edges == 36 * 35 / 2);
    hq_noise_model *m = NULL;
    HQ_REQUIRE_OK(hq_noise_create(0, &m));
    hq_noise_qubit q = hq_noise_qubit_unset();
    q.t1_us = cal.t1 * 1e6;
    q.t2_us = cal.t2 * 1e6;
    q.prob_meas0_prep1 = q.prob_meas1_prep0 = 1 - cal.spam_fidelity;
    HQ_REQUIRE_OK(hq_noise_set_default_qubit(m, &q));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 1, 1 - cal.fidelity_1q, cal.t_1q * 1e9));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 2, 1 - cal.fidelity_2q, cal.t_2q * 1e9));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 3,
                                            1 - pow(cal.fidelity_2q, 6) * pow(cal.fidelity_1q, 2),
                                            (6 * cal.t_2q + 2 * cal.t_1q) * 1e9));
    for (int k = 0; k < 2; k++) {
        hq_dm_dist dist;
        HQ_REQUIRE_OK(hq_dm_run_probs(cs[k], NULL, m, NULL, &dist));
        long counts[8];
        double p[8];
        for (int o = 0; o < 8; o++) {
            counts[o] = (long)hq_counts_get(&res.r[k].counts, (uint64_t)o);
            p[o] = hq_dm_dist_prob(&dist, (uint64_t)o);
        }
        int dof;
        double chi = et_chi2(counts, p, 8, 10000, &dof);
        HQ_CHECKF(chi < et_chi2_crit(dof), "circuit %d: chi2 %.1f >= %.1f", k, chi,
                  et_chi2_crit(dof));
        hq_dm_dist_free(&dist);
    }
    hq_noise_free(m);
    hq_ionq_calibration_free(&cal);
    hq_qpu_results_free(&res);
    hq_qpu_job_status_free(&js);
    hq_circuit_free(cs[0]);
    hq_circuit_free(cs[1]);
    stop(&c);
}

HQ_TEST(emulator_ionq_client_faults) {
    vclock v = {0};
    ionq_ctx c;
    HQ_REQUIRE(start(&c, &v));
    hq_circuit *cs[3] = {gate_zoo(0), gate_zoo(1), gate_zoo(2)};
    HQ_REQUIRE(cs[0] && cs[1] && cs[2]);
    hq_ionq_job_spec sp = base_spec("simulator", 100, "tok-f1");
    char id[64];
    /* 429 with Retry-After: the client waits and retries, even a POST */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "rate429:2"));
    HQ_CHECK_OK(submit(&c, &sp, (const hq_circuit *const *)cs, 1, id));
    HQ_CHECK(v.n_sleep == 1 && v.slept[0] == 2.0);
    HQ_CHECK_EQ_INT(et_stats_accepted(c.e), 1);
    /* a lost submit reply: not retried (POST), the hint names the client token */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "dup_submit"));
    sp.client_token = "tok-dup";
    HQ_CHECK_FAILS(submit(&c, &sp, (const hq_circuit *const *)cs, 1, id), HQ_ERR_NETWORK,
                   "client token");
    HQ_CHECK_EQ_INT(et_stats_accepted(c.e), 2);
    hq_http_response rs;
    HQ_REQUIRE_OK(call(&c, HQ_HTTP_GET, "/v0.3/jobs?metadata.hqcnn_token=tok-dup", NULL, &rs));
    cJSON *l = cJSON_Parse(rs.body);
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "jobs")), 1);
    cJSON_Delete(l);
    hq_http_response_free(&rs);
    /* a failed job */
    sp.client_token = "tok-f2";
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "job_fail:CompilationError"));
    HQ_REQUIRE_OK(submit(&c, &sp, (const hq_circuit *const *)cs, 1, id));
    hq_qpu_job_status js;
    HQ_REQUIRE(wait_job(&c, id, &js));
    HQ_CHECK(js.state == HQ_QPU_FAILED);
    HQ_CHECK_STR(js.failure_code, "CompilationError");
    hq_qpu_job_status_free(&js);
    /* partial results: the missing child gets its own status, the others keep theirs (F9) */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "partial"));
    HQ_REQUIRE_OK(submit(&c, &sp, (const hq_circuit *const *)cs, 3, id));
    HQ_REQUIRE(wait_job(&c, id, &js));
    hq_qpu_results res;
    HQ_CHECK_OK(results(&c, &js, 3, 3, 100, &res));
    HQ_CHECK(res.r[0].status == HQ_OK && res.r[1].status == HQ_OK && res.r[2].status != HQ_OK);
    hq_qpu_results_free(&res);
    /* truncated JSON: the client's GET is retried? no: a complete reply, a parse error */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "truncate~GET/v0.3/jobs/"));
    HQ_CHECK(results(&c, &js, 3, 3, 100, &res) == HQ_ERR_PARSE);
    hq_qpu_results_free(&res);
    HQ_CHECK_OK(results(&c, &js, 3, 3, 100, &res));
    hq_qpu_results_free(&res);
    hq_qpu_job_status_free(&js);
    /* a 401: final, HQ_ERR_AUTH */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(c.e, "auth401"));
    HQ_CHECK_FAILS(call(&c, HQ_HTTP_GET, "/v0.3/backends", NULL, &rs), HQ_ERR_AUTH, "401");
    hq_http_response_free(&rs);
    for (int k = 0; k < 3; k++) hq_circuit_free(cs[k]);
    stop(&c);
}
