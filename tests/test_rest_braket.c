/*
 * tests/test_rest_braket.c — the "braket" backend: the OpenQASM 3 it writes with Braket's
 * gate names has the same unitary as the circuit (checked by parsing it back with those
 * names defined through standard gates and comparing unitaries up to global phase);
 * against a scripted loopback server playing Braket and S3: SigV4 scopes, one task per
 * circuit with idempotency tokens, a task group recorded before anything is sent and
 * completed by find_by_token after a lost reply (same tokens, nothing created twice),
 * results.json columns matched to the LOGICAL classical bits through measuredQubits,
 * failed tasks, options.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/qasm.h"
#include "backends/rest_impl.h"
#include "backends/sigv4.h"
#include "backends/sv_ref.h"
#include "tests/hq_test.h"
#include "tests/hq_test_server.h"
#include "tests/test_rest_util.h"

/* Braket's gate names in terms of stdgates.inc (global phases aside) */
static const char braket_defs[] =
    "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"
    "gate cnot a, b { cx a, b; }\n"
    "gate si a { sdg a; }\n"
    "gate ti a { tdg a; }\n"
    "gate v a { sx a; }\n"
    "gate vi a { rx(-pi/2) a; }\n"
    "gate phaseshift(l) a { p(l) a; }\n"
    "gate cphaseshift(l) a, b { cp(l) a, b; }\n"
    "gate zz(t) a, b { cx a, b; rz(t) b; cx a, b; }\n"
    "gate xx(t) a, b { h a; h b; zz(t) a, b; h a; h b; }\n"
    "gate yy(t) a, b { rx(pi/2) a; rx(pi/2) b; zz(t) a, b; rx(-pi/2) a; rx(-pi/2) b; }\n"
    "gate ccnot a, b, c { ccx a, b, c; }\n";

static hq_circuit *parse_braket(const char *src) {
    const char *body = strchr(src, '\n'); /* drop "OPENQASM 3.0;" */
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, braket_defs);
    hq_sbuf_puts(&b, body ? body + 1 : "");
    hq_circuit *c = NULL;
    if (hq_qasm_parse_string(b.p, b.len, "braket", NULL, &c) != HQ_OK) c = NULL;
    hq_sbuf_free(&b);
    return c;
}

/* max |U_b - e^{i phi} U_a| over entries */
static double unitary_distance(const hq_circuit *a, const hq_circuit *b) {
    int n = hq_circuit_n_qubits(a);
    size_t d = (size_t)1 << n;
    hq_cplx *ua = hq_malloc(d * d * sizeof *ua), *ub = hq_malloc(d * d * sizeof *ub);
    double dist = 1e9;
    if (ua && ub && hq_ref_unitary(a, NULL, ua) == HQ_OK && hq_ref_unitary(b, NULL, ub) == HQ_OK) {
        size_t k = 0;
        for (size_t i = 0; i < d * d; i++)
            if (cabs(ua[i]) > cabs(ua[k])) k = i;
        hq_cplx ph = ub[k] / ua[k];
        ph /= cabs(ph);
        dist = 0;
        for (size_t i = 0; i < d * d; i++) dist = fmax(dist, cabs(ub[i] - ph * ua[i]));
    }
    hq_free(ua);
    hq_free(ub);
    return dist;
}

HQ_TEST(rest_braket_qasm_has_the_circuits_unitary) {
    hq_gate one[] = {HQ_GATE_X,  HQ_GATE_Y,   HQ_GATE_Z,  HQ_GATE_H,    HQ_GATE_S,  HQ_GATE_SDG,
                     HQ_GATE_T,  HQ_GATE_TDG, HQ_GATE_SX, HQ_GATE_SXDG, HQ_GATE_RX, HQ_GATE_RY,
                     HQ_GATE_RZ, HQ_GATE_P,   HQ_GATE_U1, HQ_GATE_U2,   HQ_GATE_U3, HQ_GATE_U};
    hq_gate two[] = {HQ_GATE_CX,  HQ_GATE_CY,  HQ_GATE_CZ,  HQ_GATE_CH,  HQ_GATE_SWAP,
                     HQ_GATE_CP,  HQ_GATE_CU1, HQ_GATE_CRX, HQ_GATE_CRY, HQ_GATE_CRZ,
                     HQ_GATE_RXX, HQ_GATE_RYY, HQ_GATE_RZZ};
    hq_rng rng;
    hq_rng_init(&rng, 5, 0, 0);
    /* every gate on its own, then random mixtures */
    for (int trial = 0; trial < (int)(HQ_ARRAY_LEN(one) + HQ_ARRAY_LEN(two)) + 20; trial++) {
        hq_circuit *c;
        HQ_REQUIRE_OK(hq_circuit_create(&c));
        hq_circuit_add_qreg(c, "q", 3, NULL);
        hq_circuit_add_creg(c, "c", 3, NULL);
        int n_g = trial < (int)(HQ_ARRAY_LEN(one) + HQ_ARRAY_LEN(two)) ? 1 : 12;
        for (int g = 0; g < n_g; g++) {
            int pick = n_g == 1
                           ? trial
                           : (int)hq_rng_below(&rng, HQ_ARRAY_LEN(one) + HQ_ARRAY_LEN(two) + 1);
            double prm[4];
            for (int k = 0; k < 4; k++) prm[k] = (hq_rng_uniform(&rng) * 2 - 1) * M_PI;
            int a = (int)hq_rng_below(&rng, 3), b = (a + 1 + (int)hq_rng_below(&rng, 2)) % 3;
            if (pick < (int)HQ_ARRAY_LEN(one))
                HQ_CHECK_OK(hq_circuit_add_gate(c, one[pick], &a, prm));
            else if (pick < (int)(HQ_ARRAY_LEN(one) + HQ_ARRAY_LEN(two)))
                HQ_CHECK_OK(
                    hq_circuit_add_gate(c, two[pick - HQ_ARRAY_LEN(one)], (int[]){a, b}, prm));
            else
                HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){a, b, 3 - a - b}, NULL));
        }
        for (int q = 0; q < 3; q++) hq_circuit_add_measure(c, q, q);
        hq_sbuf src = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_braket_write_qasm(c, &src));
        HQ_CHECK(!strstr(src.p, "include") && !strstr(src.p, "gate "));
        hq_circuit *back = parse_braket(src.p);
        HQ_CHECKF(back != NULL, "trial %d: cannot parse:\n%s\n%s", trial, src.p, hq_last_error());
        if (back) {
            double d = unitary_distance(c, back);
            HQ_CHECKF(d < 1e-9, "trial %d: unitary differs by %.3g:\n%s", trial, d, src.p);
            HQ_CHECK_EQ_INT(hq_circuit_count_gate(back, HQ_GATE_MEASURE), 3);
        }
        hq_circuit_free(back);
        hq_sbuf_free(&src);
        hq_circuit_free(c);
    }
    /* what Braket cannot take */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_GPI, (int[]){0}, (double[]){0.25});
    hq_sbuf src = HQ_SBUF_INIT;
    HQ_CHECK_FAILS(hq_braket_write_qasm(c, &src), HQ_ERR_UNSUPPORTED, "gate 'gpi'");
    hq_circuit_free(c);
    hq_sbuf_free(&src);
}

static void no_sleep(void *user, double s) {
    (void)user;
    (void)s;
}

static hq_ts_server *start(void) {
    setenv("AWS_ACCESS_KEY_ID", "AKIDTESTBRAKET01", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "braket-secret-key-9f8e7d6c5b4a", 1);
    unsetenv("AWS_SESSION_TOKEN");
    static const hq_http_hooks hooks = {.sleep = no_sleep};
    hq_rest_set_test_hooks(&hooks);
    return hq_ts_start();
}

static hq_backend *make(hq_ts_server *s, const char *extra) {
    char opts[2048], root[128];
    snprintf(root, sizeof root, "%s", hq_ts_url(s, ""));
    snprintf(opts, sizeof opts,
             "{\"device_arn\":\"arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1\","
             "\"s3_bucket\":\"bkt\",\"s3_prefix\":\"tasks\",\"url\":\"%s\",\"s3_url\":\"%s\","
             "\"state_dir\":\"%s\",\"retry_base_s\":0.001%s%s}",
             root, root, hq_test_tmpfile("groups"), extra && *extra ? "," : "", extra ? extra : "");
    hq_backend *b = NULL;
    if (hq_backend_create("braket", opts, &b) != HQ_OK) return NULL;
    return b;
}

static char *task_json(const char *arn, const char *status, int shots) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b,
                   "{\"quantumTaskArn\":\"%s\",\"status\":\"%s\",\"shots\":%d,\"outputS3Bucket\":"
                   "\"bkt\",\"outputS3Directory\":\"tasks/%s\",\"failureReason\":\"%s\"}",
                   arn, status, shots, strrchr(arn, '/') + 1,
                   strcmp(status, "FAILED") ? "" : "device calibration in progress");
    return hq_sbuf_take(&b);
}

/* results.json for the program of a create request: rows from the probabilities of the
 * measured qubits, columns in a scrambled order (measuredQubits says which is which). */
static char *results_json(const cJSON *create, int shots, hq_rng *rng) {
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(create, "action");
    cJSON *a = cJSON_Parse(act->valuestring);
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "source"));
    hq_circuit *c = parse_braket(src);
    cJSON_Delete(a);
    if (!c) return NULL;
    int n = hq_circuit_n_qubits(c);
    int mq[64], nm = 0;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++)
        if (ops[i].gate == HQ_GATE_MEASURE) mq[nm++] = ops[i].q[0];
    for (int i = nm - 1; i > 0; i--) {
        int j = (int)hq_rng_below(rng, (uint64_t)i + 1), t = mq[i];
        mq[i] = mq[j], mq[j] = t;
    }
    double *qp = hq_malloc(((size_t)1 << n) * sizeof *qp), cp[64] = {0};
    rt_qubit_probs(c, NULL, qp);
    for (size_t s = 0; s < ((size_t)1 << n); s++) {
        int v = 0;
        for (int k = 0; k < nm; k++) v |= (int)((s >> mq[k]) & 1) << k;
        cp[v] += qp[s];
    }
    int64_t cnt[64];
    rt_round_counts(cp, (int64_t)1 << nm, shots, cnt);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_puts(&b, "{\"braketSchemaHeader\":{\"name\":\"braket.task_result.gate_model_task_"
                     "result\",\"version\":\"1\"},\"measurements\":[");
    bool first = true;
    for (int v = 0; v < (1 << nm); v++)
        for (int64_t k = 0; k < cnt[v]; k++) {
            hq_sbuf_puts(&b, first ? "[" : ",[");
            first = false;
            for (int col = 0; col < nm; col++)
                hq_sbuf_printf(&b, "%s%d", col ? "," : "", (v >> col) & 1);
            hq_sbuf_putc(&b, ']');
        }
    hq_sbuf_puts(&b, "],\"measuredQubits\":[");
    for (int k = 0; k < nm; k++) hq_sbuf_printf(&b, "%s%d", k ? "," : "", mq[k]);
    hq_sbuf_puts(&b, "]}");
    hq_free(qp);
    hq_circuit_free(c);
    return hq_sbuf_take(&b);
}

HQ_TEST(rest_braket_task_group_signed_requests_and_logical_results) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_rng rng;
    hq_rng_init(&rng, 31, 0, 0);
    enum { N = 3, SHOTS = 500 };
    hq_circuit *c[N];
    hq_job_entry e[N];
    for (int i = 0; i < N; i++) {
        c[i] = rt_random_circuit(&rng, 3, 2 + i, 12, true, i == 1);
        e[i] = (hq_job_entry){c[i], 0, NULL};
    }
    const char *tok = "c0ffee00-1111-2222-3333-444455556666";
    hq_job_spec js = {.entries = e, .n_entries = N, .shots = SHOTS, .client_token = tok};
    char arn[N][128];
    hq_ts_action a[N];
    char *bodies[N];
    for (int i = 0; i < N; i++) {
        snprintf(arn[i], sizeof arn[i], "arn:aws:braket:us-east-1:123456789012:quantum-task/t%d",
                 i);
        hq_sbuf x = HQ_SBUF_INIT;
        hq_sbuf_printf(&x, "{\"quantumTaskArn\":\"%s\"}", arn[i]);
        bodies[i] = hq_sbuf_take(&x);
        a[i] = (hq_ts_action){.status = 201, .body = bodies[i]};
    }
    hq_ts_script(s, a, N);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    char want_id[128];
    snprintf(want_id, sizeof want_id, "bkg-%s", tok);
    HQ_CHECK_STR(id, want_id);
    HQ_REQUIRE(hq_ts_count(s) == N);
    cJSON *creq[N];
    for (int i = 0; i < N; i++) {
        hq_ts_request r = hq_ts_get_request(s, i);
        HQ_CHECK_STR(r.method, "POST");
        HQ_CHECK_STR(r.url, "/quantum-task");
        HQ_CHECKF(!strncmp(r.authorization, "AWS4-HMAC-SHA256 Credential=AKIDTESTBRAKET01/", 45) &&
                      strstr(r.authorization, "/us-east-1/braket/aws4_request") &&
                      strstr(r.authorization, "SignedHeaders=content-type;host;x-amz-date") &&
                      strstr(r.authorization, "Signature="),
                  "authorization %s", r.authorization);
        HQ_CHECK(!strstr(r.authorization, "braket-secret-key"));
        /* the signature is the one SigV4 gives for what arrived */
        hq_sigv4_creds cr = {"AKIDTESTBRAKET01", "braket-secret-key-9f8e7d6c5b4a", NULL};
        hq_http_header ct = {"Content-Type", r.content_type};
        hq_sigv4_request sr = {.method = "POST",
                               .host = r.host,
                               .path = r.url,
                               .headers = &ct,
                               .n_headers = 1,
                               .body = r.body,
                               .body_len = r.body_len,
                               .region = "us-east-1",
                               .service = "braket",
                               .amz_date = r.amz_date};
        hq_sigv4_signed sg;
        HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &sr, &sg));
        HQ_CHECK_STR(r.authorization, sg.authorization);
        hq_sigv4_signed_free(&sg);
        creq[i] = rt_request_json(s, i);
        char want_tok[80];
        snprintf(want_tok, sizeof want_tok, "%s-%d", tok, i);
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(creq[i], "clientToken")),
                     want_tok);
        HQ_CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(creq[i], "shots")),
                        SHOTS);
        HQ_CHECK_STR(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(creq[i], "outputS3Bucket")),
            "bkt");
    }
    /* the group record exists, every task with its ARN */
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.json", hq_test_tmpfile("groups"), tok);
    HQ_CHECK(hq_file_exists(path));
    /* poll: all queued, then running, then completed -> results from S3 */
    char *q[N], *run[N], *done[N], *res[N];
    for (int i = 0; i < N; i++) {
        q[i] = task_json(arn[i], "QUEUED", SHOTS);
        run[i] = task_json(arn[i], i ? "QUEUED" : "RUNNING", SHOTS);
        done[i] = task_json(arn[i], "COMPLETED", SHOTS);
        res[i] = results_json(creq[i], SHOTS, &rng);
        HQ_REQUIRE(res[i]);
    }
    hq_job_state st;
    hq_ts_action pq[N];
    for (int i = 0; i < N; i++) pq[i] = (hq_ts_action){.status = 200, .body = q[i]};
    hq_ts_script(s, pq, N);
    HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_QUEUED);
    for (int i = 0; i < N; i++) pq[i] = (hq_ts_action){.status = 200, .body = run[i]};
    hq_ts_script(s, pq, N);
    HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_RUNNING);
    hq_ts_action pd[4 * N];
    int k = 0;
    for (int i = 0; i < N; i++) pd[k++] = (hq_ts_action){.status = 200, .body = done[i]};
    for (int i = 0; i < N; i++) {
        pd[k++] = (hq_ts_action){.status = 200, .body = done[i]};
        pd[k++] = (hq_ts_action){.status = 200, .body = res[i]};
    }
    hq_ts_script(s, pd, k);
    HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_COMPLETED);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 3 * N);
    hq_ts_request s3 = hq_ts_get_request(s, N + 1);
    HQ_CHECK_STR(s3.url, "/bkt/tasks/t0/results.json");
    HQ_CHECKF(strstr(s3.authorization, "/us-east-1/s3/aws4_request") &&
                  strstr(s3.authorization, "x-amz-content-sha256"),
              "S3 authorization %s", s3.authorization);
    {
        hq_sigv4_creds cr = {"AKIDTESTBRAKET01", "braket-secret-key-9f8e7d6c5b4a", NULL};
        hq_sigv4_request sr = {.method = "GET",
                               .host = s3.host,
                               .path = s3.url,
                               .region = "us-east-1",
                               .service = "s3",
                               .amz_date = s3.amz_date,
                               .s3 = true};
        hq_sigv4_signed sg;
        HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &sr, &sg));
        HQ_CHECK_STR(s3.authorization, sg.authorization);
        hq_sigv4_signed_free(&sg);
    }
    /* (the test server sees the path percent-decoded) */
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url,
                 "/quantum-task/arn:aws:braket:us-east-1:123456789012:quantum-task/t0");
    hq_counts counts[N];
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, N, counts));
    for (int i = 0; i < N; i++) {
        double p[64];
        HQ_REQUIRE_OK(rt_clbit_probs(c[i], NULL, p));
        HQ_CHECK_EQ_INT(counts[i].n_bits, hq_circuit_n_clbits(c[i]));
        double d = rt_counts_dist(&counts[i], p);
        HQ_CHECKF(d <= 0.004, "circuit %d: %.4f from the logical distribution", i, d);
        hq_counts_free(&counts[i]);
    }
    int64_t n_acc = 0;
    HQ_CHECK_OK(hq_backend_submitted_count(b, &n_acc));
    HQ_CHECK_EQ_INT(n_acc, 1);
    for (int i = 0; i < N; i++) {
        hq_free(q[i]), hq_free(run[i]), hq_free(done[i]), hq_free(res[i]), hq_free(bodies[i]);
        cJSON_Delete(creq[i]);
        hq_circuit_free(c[i]);
    }
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_braket_lost_reply_group_completed_with_same_tokens) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"submit_timeout_s\":0.3,\"max_tries\":1");
    HQ_REQUIRE(b);
    hq_rng rng;
    hq_rng_init(&rng, 41, 0, 0);
    hq_circuit *c0 = rt_random_circuit(&rng, 2, 2, 6, false, false);
    hq_circuit *c1 = rt_random_circuit(&rng, 2, 2, 6, false, false);
    hq_job_entry e[2] = {{c0, 0, NULL}, {c1, 0, NULL}};
    const char *tok = "lost-0001";
    hq_job_spec js = {.entries = e, .n_entries = 2, .shots = 100, .client_token = tok};
    /* task 0 created, the reply of task 1 is lost */
    hq_ts_action a[] = {
        {.status = 201,
         .body = "{\"quantumTaskArn\":\"arn:aws:braket:us-east-1:1:quantum-task/a0\"}"},
        {.kind = HQ_TS_SLOW,
         .delay_ms = 1500,
         .body = "{\"quantumTaskArn\":\"arn:aws:braket:us-east-1:1:quantum-task/a1\"}"}};
    hq_ts_script(s, a, 2);
    char id[HQ_REMOTE_ID_MAX];
    hq_status st = hq_backend_submit(b, &js, id);
    HQ_CHECKF(st == HQ_ERR_TIMEOUT || st == HQ_ERR_NETWORK, "got %s: %s", hq_status_name(st),
              hq_last_error());
    HQ_CHECKF(strstr(hq_last_error(), "looked up by its client token"), "%s", hq_last_error());
    cJSON *first1 = rt_request_json(s, 1);
    /* find_by_token re-sends ONLY task 1, with the same client token (Braket returns the
     * task created the first time) */
    hq_ts_action a2[] = {
        {.status = 201,
         .body = "{\"quantumTaskArn\":\"arn:aws:braket:us-east-1:1:quantum-task/a1\"}"}};
    hq_ts_script(s, a2, 1);
    bool found = false;
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &found));
    HQ_CHECK(found);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    cJSON *again = rt_request_json(s, 0);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(again, "clientToken")),
                 "lost-0001-1");
    char *x1 = cJSON_PrintUnformatted(first1), *x2 = cJSON_PrintUnformatted(again);
    HQ_CHECK_STR(x1, x2); /* the very same request */
    cJSON_free(x1);
    cJSON_free(x2);
    cJSON_Delete(first1);
    cJSON_Delete(again);
    /* the group is complete now: nothing more is sent */
    hq_ts_script(s, NULL, 0);
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &found));
    HQ_CHECK(found);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 0);
    /* a token never recorded was never sent */
    char id2[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, "never", id2, &found));
    HQ_CHECK(!found);
    /* a failed task fails the job with Braket's reason and cancels the others */
    char *t0 = task_json("arn:aws:braket:us-east-1:1:quantum-task/a0", "FAILED", 100);
    char *t1 = task_json("arn:aws:braket:us-east-1:1:quantum-task/a1", "QUEUED", 100);
    hq_ts_action a3[] = {
        {.status = 200, .body = t0}, {.status = 200, .body = t1}, {.status = 200, .body = "{}"}};
    hq_ts_script(s, a3, 3);
    hq_job_state js_state;
    char reason[512];
    HQ_REQUIRE_OK(hq_backend_poll(b, id, &js_state, reason, sizeof reason));
    HQ_CHECK_EQ_INT(js_state, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "task 0") && strstr(reason, "device calibration in progress"), "%s",
              reason);
    HQ_CHECK_STR(hq_ts_get_request(s, 2).method, "PUT");
    HQ_CHECKF(strstr(hq_ts_get_request(s, 2).url, "/a1/cancel") != NULL, "cancel url %s",
              hq_ts_get_request(s, 2).url);
    hq_free(t0);
    hq_free(t1);
    /* a validation error is final: the tasks already created are withdrawn */
    hq_ts_action a4[] = {
        {.status = 201,
         .body = "{\"quantumTaskArn\":\"arn:aws:braket:us-east-1:1:quantum-task/v0\"}"},
        {.status = 400,
         .body = "{\"__type\":\"ValidationException\",\"message\":\"shots must be <= 50\"}"},
        {.status = 200, .body = "{}"}};
    hq_ts_script(s, a4, 3);
    js.client_token = "valid-0002";
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, id), HQ_ERR_HTTP, "shots must be <= 50");
    HQ_CHECK_STR(hq_ts_get_request(s, 2).method, "PUT");
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, "valid-0002", id2, &found));
    HQ_CHECK(!found);
    /* options */
    hq_backend *x = NULL;
    HQ_CHECK_FAILS(hq_backend_create("braket", "{\"s3_bucket\":\"b\"}", &x), HQ_ERR_INVALID_ARG,
                   "option 'device_arn' is required");
    HQ_CHECK_FAILS(hq_backend_create("braket",
                                     "{\"device_arn\":\"arn:aws:braket:us-east-1::device/qpu/"
                                     "ionq/Aria-1\"}",
                                     &x),
                   HQ_ERR_INVALID_ARG, "option 's3_bucket' is required");
    HQ_REQUIRE_OK(hq_backend_create("braket",
                                    "{\"device_arn\":\"arn:aws:braket:eu-north-1::device/qpu/iqm/"
                                    "Garnet\",\"s3_bucket\":\"b\"}",
                                    &x));
    hq_backend_caps caps;
    HQ_REQUIRE_OK(hq_backend_get_caps(x, &caps));
    HQ_CHECK(caps.calibrated);
    HQ_CHECK_NEAR(caps.price_per_circuit, 0.30, 1e-12);
    HQ_CHECK_NEAR(caps.price_per_shot, 0.00145, 1e-12);
    HQ_CHECK_EQ_INT(caps.max_rows_per_entry, 0);
    hq_backend_free(x);
    hq_circuit_free(c0);
    hq_circuit_free(c1);
    hq_backend_free(b);
    hq_ts_stop(s);
}
