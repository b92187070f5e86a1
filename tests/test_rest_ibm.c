/*
 * tests/test_rest_ibm.c — the "ibm" backend against a scripted loopback server playing
 * IAM and Qiskit Runtime with ibmq_manila's real configuration and properties: every PUB
 * is valid ISA for the device; results computed by the fake provider from the ISA
 * circuits the client really sent (parsed back from OpenQASM 3, parameters bound per row)
 * come back in the LOGICAL circuits' classical-bit order whatever the layout; IAM token
 * exchange, refresh before expiry and once on a 401; partial / failed / cancelled jobs;
 * lookup by tag after a lost submit reply; calibration changes; batch sessions; options.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/device.h"
#include "backends/qasm.h"
#include "backends/rest_impl.h"
#include "backends/transpile.h"
#include "nn/model.h"
#include "tests/hq_test.h"
#include "tests/hq_test_server.h"
#include "tests/test_rest_util.h"

#define KEY "ibm-test-key-77c01b"
#define CRN "crn:v1:bluemix:public:quantum-computing:us-east:a/test:test::"

static char *conf_text, *props_text;

static void no_sleep(void *user, double s) {
    (void)user;
    (void)s;
}

static hq_ts_server *start(void) {
    setenv("IBM_QUANTUM_API_KEY", KEY, 1);
    setenv("IBM_QUANTUM_CRN", CRN, 1);
    static const hq_http_hooks hooks = {.sleep = no_sleep};
    hq_rest_set_test_hooks(&hooks);
    size_t len;
    if (!conf_text &&
        hq_file_read(hq_test_shared("data/ibm_backends/conf_manila.json"), 0, &conf_text, &len))
        return NULL;
    if (!props_text &&
        hq_file_read(hq_test_shared("data/ibm_backends/props_manila.json"), 0, &props_text, &len))
        return NULL;
    return hq_ts_start();
}

static hq_backend *make(hq_ts_server *s, const char *extra) {
    char opts[1024];
    char root[128], iam[160];
    snprintf(root, sizeof root, "%s", hq_ts_url(s, ""));
    snprintf(iam, sizeof iam, "%s", hq_ts_url(s, "/identity/token"));
    snprintf(opts, sizeof opts,
             "{\"url\":\"%s\",\"iam_url\":\"%s\",\"backend\":\"ibmq_manila\",\"retry_base_s\":"
             "0.001%s%s}",
             root, iam, extra && *extra ? "," : "", extra ? extra : "");
    hq_backend *b = NULL;
    if (hq_backend_create("ibm", opts, &b) != HQ_OK) return NULL;
    return b;
}

static char *iam_reply(const char *tok, int expires_in) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b,
                   "{\"access_token\":\"%s\",\"refresh_token\":\"not_supported\",\"token_type\":"
                   "\"Bearer\",\"expires_in\":%d,\"scope\":\"ibm_openid\"}",
                   tok, expires_in);
    return hq_sbuf_take(&b);
}

/* The fake Runtime: completed job + Sampler V2 results computed from the POST body. */
static void answer_from_request(const cJSON *req, const char *id, int drop_pub, char **job_out,
                                char **res_out) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(req, "params");
    const cJSON *pubs = cJSON_GetObjectItemCaseSensitive(params, "pubs");
    int64_t dshots =
        (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(params, "shots"));
    hq_sbuf job = HQ_SBUF_INIT, res = HQ_SBUF_INIT;
    char *tags = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(req, "tags"));
    hq_sbuf_printf(&job,
                   "{\"id\":\"%s\",\"backend\":\"ibmq_manila\",\"status\":\"Completed\",\"state\":"
                   "{\"status\":\"Completed\"},\"tags\":%s}",
                   id, tags ? tags : "[]");
    cJSON_free(tags);
    hq_sbuf_puts(&res, "{\"results\":[");
    int i = 0;
    bool first = true;
    const cJSON *pub;
    cJSON_ArrayForEach(pub, pubs) {
        const cJSON *qasm = cJSON_GetArrayItem(pub, 0), *vals = cJSON_GetArrayItem(pub, 1);
        const cJSON *sh = cJSON_GetArrayItem(pub, 2);
        int64_t shots = cJSON_IsNumber(sh) ? (int64_t)sh->valuedouble : dshots;
        hq_circuit *c = NULL;
        if (hq_qasm_parse_string(qasm->valuestring, strlen(qasm->valuestring), "pub", NULL, &c)) {
            hq_test_fail(__FILE__, __LINE__, "the fake Runtime cannot parse PUB %d: %s", i,
                         hq_last_error());
            break;
        }
        int ns = hq_circuit_n_symbols(c), m = hq_circuit_n_clbits(c);
        int nb = 1;
        bool nested = false;
        const cJSON *v;
        const cJSON *vobj = cJSON_IsObject(vals) ? vals : NULL;
        cJSON_ArrayForEach(v, vobj) if (cJSON_IsArray(v)) {
            nb = cJSON_GetArraySize(v);
            nested = true;
        }
        if (i == drop_pub) {
            hq_circuit_free(c);
            i++;
            continue;
        }
        hq_sbuf_printf(&res, "%s{\"data\":{\"%s\":{\"samples\":%s", first ? "" : ",",
                       hq_circuit_creg(c, 0).name, nested ? "[" : "");
        first = false;
        for (int bnd = 0; bnd < nb; bnd++) {
            double sym[64] = {0};
            cJSON_ArrayForEach(v, vobj) {
                int k;
                if (hq_circuit_find_symbol(c, v->string, &k) == HQ_OK)
                    sym[k] =
                        cJSON_IsArray(v) ? cJSON_GetArrayItem(v, bnd)->valuedouble : v->valuedouble;
            }
            double p[64];
            int64_t cnt[64];
            rt_clbit_probs(c, ns ? sym : NULL, p);
            rt_round_counts(p, (int64_t)1 << m, shots, cnt);
            hq_sbuf_puts(&res, bnd ? ",[" : (nested ? "[" : "["));
            bool f2 = true;
            for (int64_t o = 0; o < ((int64_t)1 << m); o++)
                for (int64_t k = 0; k < cnt[o]; k++, f2 = false)
                    hq_sbuf_printf(&res, "%s\"0x%llx\"", f2 ? "" : ",", (unsigned long long)o);
            hq_sbuf_putc(&res, ']');
        }
        hq_sbuf_printf(&res, "%s,\"num_bits\":%d}},\"metadata\":{}}", nested ? "]" : "", m);
        hq_circuit_free(c);
        i++;
    }
    hq_sbuf_puts(&res, "],\"metadata\":{\"version\":2}}");
    *job_out = hq_sbuf_take(&job);
    *res_out = hq_sbuf_take(&res);
}

/* ry(a) q0; cx q0,q1; rz(b) q1; ry(b - a/2) q2; cx q2,q0; measure q1->c0, q0->c2, q2->c1 */
static hq_circuit *template3(void) {
    hq_circuit *c;
    hq_circuit_create(&c);
    int a, b;
    hq_circuit_add_qreg(c, "q", 3, NULL);
    hq_circuit_add_creg(c, "meas", 3, NULL);
    hq_circuit_add_symbol(c, "a", HQ_SYM_INPUT, &a);
    hq_circuit_add_symbol(c, "b", HQ_SYM_WEIGHT, &b);
    hq_angle x = hq_angle_sym(a, 1, 0), y = hq_angle_sym(b, 1, 0), z = hq_angle_sym(b, 1, 0.1);
    z.n = 2;
    z.sym[1] = a;
    z.coef[1] = -0.5;
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &x);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_gate_sym(c, HQ_GATE_RZ, (int[]){1}, &y);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){2}, &z);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){2, 0}, NULL);
    hq_circuit_add_measure(c, 1, 0);
    hq_circuit_add_measure(c, 0, 2);
    hq_circuit_add_measure(c, 2, 1);
    return c;
}

/* The HQCNN circuit (configs/hqcnn-default.json) bound to random angles, measured at the
 * end: on manila's line its routing must not pass through measured qubits. */
static hq_circuit *hqcnn_bound(hq_rng *rng) {
    char *json = NULL;
    size_t len;
    if (hq_file_read("configs/hqcnn-default.json", 0, &json, &len)) return NULL;
    hq_model *m = NULL;
    hq_status st = hq_model_create(json, NULL, &m);
    hq_free(json);
    if (st) return NULL;
    const hq_circuit *t = hq_model_quantum_circuit(m);
    double v[64];
    for (int k = 0; k < 64; k++) v[k] = (hq_rng_uniform(rng) * 2 - 1) * M_PI;
    hq_circuit *c = NULL;
    if (t && hq_circuit_n_symbols(t) <= 64 && hq_circuit_bind(t, v, &c) == HQ_OK) {
        hq_circuit_add_creg(c, "meas", 4, NULL);
        for (int q = 0; q < 4; q++) hq_circuit_add_measure(c, q, 3 - q);
    }
    hq_model_free(m);
    return c;
}

HQ_TEST(rest_ibm_isa_pubs_and_results_map_to_logical_clbits) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_rng rng;
    hq_rng_init(&rng, 21, 0, 0);
    enum { NC = 3, NR = 4 };
    hq_circuit *c[NC + 1];
    hq_job_entry e[NC + 1];
    for (int i = 0; i < NC; i++) {
        c[i] =
            i ? rt_random_circuit(&rng, 3 + i % 2, 2 + i, 16, i == 2, i == 1) : hqcnn_bound(&rng);
        HQ_REQUIRE(c[i]);
        e[i] = (hq_job_entry){c[i], 0, NULL};
    }
    double rows[NR * 2];
    for (int k = 0; k < NR * 2; k++) rows[k] = (hq_rng_uniform(&rng) * 2 - 1) * M_PI;
    c[NC] = template3();
    e[NC] = (hq_job_entry){c[NC], NR, rows};
    const char *token = "b1f5e3d2-0000-1111-2222-333344445555";
    hq_job_spec js = {.entries = e, .n_entries = NC + 1, .shots = 2000, .client_token = token};
    char *iam = iam_reply("tokA-0123456789", 3600);
    hq_ts_action a1[] = {
        {.status = 200, .body = iam},
        {.status = 200, .body = conf_text},
        {.status = 200, .body = props_text},
        {.status = 200, .body = "{\"id\":\"ibmjob0001\",\"backend\":\"ibmq_manila\"}"}};
    hq_ts_script(s, a1, 4);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    HQ_CHECK_STR(id, "ibmjob0001");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/identity/token");
    HQ_CHECKF(strstr(hq_ts_get_request(s, 0).body, "apikey=" KEY) != NULL, "IAM form body");
    HQ_CHECK_STR(hq_ts_get_request(s, 1).url, "/api/v1/backends/ibmq_manila/configuration");
    HQ_CHECK_STR(hq_ts_get_request(s, 2).url, "/api/v1/backends/ibmq_manila/properties");
    hq_ts_request post = hq_ts_get_request(s, 3);
    HQ_CHECK_STR(post.url, "/api/v1/jobs");
    HQ_CHECK_STR(post.authorization, "Bearer tokA-0123456789");
    cJSON *req = rt_request_json(s, 3);
    HQ_REQUIRE(req);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "program_id")),
                 "sampler");
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "backend")),
                 "ibmq_manila");
    char *tags = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(req, "tags"));
    HQ_CHECKF(tags && strstr(tags, "\"hqcnn-token:b1f5e3d2-0000-1111-2222-333344445555\"") &&
                  strstr(tags, "\"hqcnn-pubs:4\"") && strstr(tags, "\"hqcnn-results:7\""),
              "tags %s", tags ? tags : "(none)");
    cJSON_free(tags);
    /* every PUB is ISA for the device: basis gates, coupling map, physical qubits */
    hq_device *dev = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf_text, props_text, &dev));
    const cJSON *pubs =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "params"), "pubs");
    HQ_CHECK_EQ_INT(cJSON_GetArraySize(pubs), NC + 1);
    const cJSON *pub;
    cJSON_ArrayForEach(pub, pubs) {
        const char *q = cJSON_GetArrayItem(pub, 0)->valuestring;
        hq_circuit *pc = NULL;
        HQ_REQUIRE_OK(hq_qasm_parse_string(q, strlen(q), "pub", NULL, &pc));
        HQ_CHECK_OK(hq_transpile_check_isa(pc, dev));
        HQ_CHECK(strstr(q, "$") != NULL);
        /* measured at the end, as the logical circuits are: nothing touches a measured qubit
         * afterwards, no qubit is measured twice */
        bool measured[64] = {false};
        const hq_op *ops = hq_circuit_ops(pc);
        for (int64_t i = 0; i < hq_circuit_n_ops(pc); i++) {
            if (ops[i].gate == HQ_GATE_BARRIER) continue;
            for (int k = 0; k < ops[i].nq; k++)
                HQ_CHECKF(!measured[ops[i].q[k]], "operation %lld uses measured qubit $%d",
                          (long long)i, ops[i].q[k]);
            if (ops[i].gate == HQ_GATE_MEASURE) measured[ops[i].q[0]] = true;
        }
        hq_circuit_free(pc);
    }
    /* the templated entry is ONE PUB with a parameter array of NR values per name */
    const cJSON *tv = cJSON_GetArrayItem(cJSON_GetArrayItem(pubs, NC), 1);
    HQ_CHECK(cJSON_IsObject(tv) &&
             cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tv, "a")) == NR);
    hq_device_free(dev);
    char *job = NULL, *res = NULL;
    answer_from_request(req, "ibmjob0001", -1, &job, &res);
    cJSON_Delete(req);
    hq_ts_action a2[] = {{.status = 200, .body = job}, {.status = 200, .body = res}};
    hq_ts_script(s, a2, 2);
    hq_job_state st;
    char reason[512];
    HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_COMPLETED);
    HQ_CHECK_STR(hq_ts_get_request(s, 1).url, "/api/v1/jobs/ibmjob0001/results");
    hq_counts counts[NC + NR];
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, NC + NR, counts));
    for (int r = 0; r < NC + NR; r++) {
        const hq_circuit *lc = r < NC ? c[r] : c[NC];
        double p[64];
        HQ_REQUIRE_OK(rt_clbit_probs(lc, r < NC ? NULL : rows + 2 * (r - NC), p));
        HQ_CHECK_EQ_INT(counts[r].n_bits, hq_circuit_n_clbits(lc));
        HQ_CHECK_EQ_INT(counts[r].shots, 2000);
        double d = rt_counts_dist(&counts[r], p);
        HQ_CHECKF(d <= 0.002, "result %d differs from the logical distribution by %.4f", r, d);
        hq_counts_free(&counts[r]);
    }
    /* compiled once: a second job with the same circuits compiles nothing new and sends the
     * same ISA text */
    hq_sbuf q1 = HQ_SBUF_INIT, q2 = HQ_SBUF_INIT;
    hq_ts_action a3[] = {{.status = 200, .body = props_text}}; /* due again after completion */
    hq_ts_script(s, a3, 1);
    HQ_REQUIRE_OK(hq_rest_ibm_compile(b, c[0], &q1, NULL));
    HQ_REQUIRE_OK(hq_rest_ibm_compile(b, c[0], &q2, NULL));
    HQ_CHECK_STR(q1.p, q2.p);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    hq_sbuf_free(&q1);
    hq_sbuf_free(&q2);
    hq_free(job);
    hq_free(res);
    hq_free(iam);
    for (int i = 0; i <= NC; i++) hq_circuit_free(c[i]);
    hq_backend_free(b);
    hq_ts_stop(s);
}

static hq_circuit *bell(void) {
    hq_circuit *c;
    hq_circuit_create(&c);
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_measure(c, 0, 0);
    hq_circuit_add_measure(c, 1, 1);
    return c;
}

static int count_iam(hq_ts_server *s) {
    int n = 0;
    for (int i = 0; i < hq_ts_count(s); i++)
        n += !strcmp(hq_ts_get_request(s, i).url, "/identity/token");
    return n;
}

HQ_TEST(rest_ibm_token_exchange_refresh_and_401) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_circuit *c = bell();
    hq_job_entry e = {c, 0, NULL};
    hq_job_spec js = {.entries = &e, .n_entries = 1, .shots = 100, .client_token = "tok-401"};
    char *ta = iam_reply("tokA-aaaaaaaa", 3600), *tb = iam_reply("tokB-bbbbbbbb", 3600),
         *tc = iam_reply("tokC-cccccccc", 3600), *short1 = iam_reply("tokS-1111", 200),
         *short2 = iam_reply("tokS-2222", 200);
    const char *unauth = "{\"errors\":[{\"code\":1201,\"message\":\"Invalid token\"}]}";
    /* a 401 on the submission: one fresh token, the same request again */
    hq_ts_action a[] = {
        {.status = 200, .body = ta},         {.status = 200, .body = conf_text},
        {.status = 200, .body = props_text}, {.status = 401, .body = unauth},
        {.status = 200, .body = tb},         {.status = 200, .body = "{\"id\":\"j401\"}"}};
    hq_ts_script(s, a, 6);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    HQ_CHECK_STR(id, "j401");
    HQ_CHECK_EQ_INT(count_iam(s), 2);
    HQ_CHECK_STR(hq_ts_get_request(s, 3).authorization, "Bearer tokA-aaaaaaaa");
    HQ_CHECK_STR(hq_ts_get_request(s, 5).authorization, "Bearer tokB-bbbbbbbb");
    /* refused twice: a clear auth error, and no third attempt */
    hq_ts_action a2[] = {{.status = 401, .body = unauth},
                         {.status = 200, .body = tc},
                         {.status = 401, .body = unauth}};
    hq_ts_script(s, a2, 3);
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, id), HQ_ERR_AUTH, "refused a freshly exchanged");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 3);
    HQ_CHECKF(!strstr(hq_last_error(), KEY) && !strstr(hq_last_error(), "tokC-cccccccc"),
              "a credential leaked into: %s", hq_last_error());
    /* 403 is final at once (no refresh) */
    hq_ts_action a3[] = {{.status = 403,
                          .body = "{\"errors\":[{\"code\":1201,\"message\":"
                                  "\"Forbidden\"}]}"}};
    hq_ts_script(s, a3, 1);
    hq_job_state st;
    HQ_CHECK_FAILS(hq_backend_poll(b, "j401", &st, NULL, 0), HQ_ERR_AUTH, "Forbidden");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    hq_backend_free(b);
    /* a token within 300 s of its expiration is exchanged again before the next call */
    b = make(s, NULL);
    HQ_REQUIRE(b);
    const char *jq = "{\"id\":\"j\",\"status\":\"Queued\",\"state\":{\"status\":\"Queued\"}}";
    hq_ts_action a4[] = {{.status = 200, .body = short1},
                         {.status = 200, .body = jq},
                         {.status = 200, .body = short2},
                         {.status = 200, .body = jq}};
    hq_ts_script(s, a4, 4);
    HQ_REQUIRE_OK(hq_backend_poll(b, "j", &st, NULL, 0));
    HQ_REQUIRE_OK(hq_backend_poll(b, "j", &st, NULL, 0));
    HQ_CHECK_EQ_INT(st, HQ_JOB_QUEUED);
    HQ_CHECK_EQ_INT(count_iam(s), 2);
    HQ_CHECK_STR(hq_ts_get_request(s, 3).authorization, "Bearer tokS-2222");
    hq_backend_free(b);
    /* a long-lived token is reused */
    b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_ts_action a5[] = {
        {.status = 200, .body = ta}, {.status = 200, .body = jq}, {.status = 200, .body = jq}};
    hq_ts_script(s, a5, 3);
    HQ_REQUIRE_OK(hq_backend_poll(b, "j", &st, NULL, 0));
    HQ_REQUIRE_OK(hq_backend_poll(b, "j", &st, NULL, 0));
    HQ_CHECK_EQ_INT(count_iam(s), 1);
    hq_backend_free(b);
    /* IAM refuses the key */
    b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_ts_action a6[] = {{.status = 400,
                          .body = "{\"errorCode\":\"BXNIM0415E\",\"errorMessage\":\"Provided API "
                                  "key could not be found.\"}"}};
    hq_ts_script(s, a6, 1);
    hq_status ps = hq_backend_poll(b, "j", &st, NULL, 0);
    HQ_CHECKF(ps == HQ_ERR_HTTP || ps == HQ_ERR_AUTH, "got %s", hq_status_name(ps));
    HQ_CHECKF(strstr(hq_last_error(), "IAM token exchange failed"), "msg %s", hq_last_error());
    HQ_CHECKF(!strstr(hq_last_error(), KEY), "the key leaked: %s", hq_last_error());
    hq_backend_free(b);
    hq_free(ta), hq_free(tb), hq_free(tc), hq_free(short1), hq_free(short2);
    hq_circuit_free(c);
    hq_ts_stop(s);
}

HQ_TEST(rest_ibm_partial_failed_cancelled_jobs) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, NULL);
    HQ_REQUIRE(b);
    hq_circuit *c = template3();
    double rows[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    hq_job_entry e[2] = {{c, 3, rows}, {c, 3, rows}};
    hq_circuit *c2 = bell();
    e[1].circuit = c2;
    e[1].n_rows = 0;
    e[1].rows = NULL;
    hq_job_spec js = {.entries = e, .n_entries = 2, .shots = 50, .client_token = "tok-partial"};
    char *ta = iam_reply("tokA-partial", 3600);
    hq_ts_action a[] = {{.status = 200, .body = ta},
                        {.status = 200, .body = conf_text},
                        {.status = 200, .body = props_text},
                        {.status = 200, .body = "{\"id\":\"jp\"}"}};
    hq_ts_script(s, a, 4);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    cJSON *req = rt_request_json(s, 3);
    char *job = NULL, *res = NULL;
    answer_from_request(req, "jp", 1, &job, &res); /* the last PUB (1 result) is missing */
    hq_ts_action a2[] = {{.status = 200, .body = job},
                         {.status = 200, .body = res},
                         {.status = 200, .body = job},
                         {.status = 200, .body = res}};
    hq_ts_script(s, a2, 4);
    hq_job_state st;
    char reason[1024];
    HQ_REQUIRE_OK(hq_backend_poll(b, "jp", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "results for 1 of 2 PUBs") && strstr(reason, "PUB 1") &&
                  strstr(reason, "results 3..3 of 4"),
              "reason: %s", reason);
    hq_counts counts[4];
    HQ_CHECK_FAILS(hq_backend_fetch(b, "jp", 4, counts), HQ_ERR_BACKEND, "PUB 1");
    hq_free(job);
    hq_free(res);
    /* the FIRST PUB missing: the remaining result does not line up (1 row, not 3) and is
     * never used as PUB 0's */
    answer_from_request(req, "jp", 0, &job, &res);
    cJSON_Delete(req);
    hq_ts_action a2b[] = {{.status = 200, .body = job}, {.status = 200, .body = res}};
    hq_ts_script(s, a2b, 2);
    HQ_REQUIRE_OK(hq_backend_poll(b, "jp", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "do not line up") && strstr(reason, "PUB 0 has 1 rows, 3 were"),
              "reason: %s", reason);
    hq_free(job);
    hq_free(res);
    /* failed and cancelled jobs carry IBM's reason */
    hq_ts_action a3[] = {
        {.status = 200,
         .body = "{\"id\":\"jf\",\"status\":\"Failed\",\"state\":{\"status\":\"Failed\",\"reason\":"
                 "\"Error 1517: circuits do not match the target\",\"reason_code\":1517}}"},
        {.status = 200,
         .body = "{\"id\":\"jc\",\"status\":\"Cancelled\",\"state\":{\"status\":\"Cancelled\","
                 "\"reason_code\":1305}}"},
        {.status = 200, .body = "{\"id\":\"jr\",\"state\":{\"status\":\"Running\"}}"},
        {.status = 204, .body = ""}};
    hq_ts_script(s, a3, 4);
    HQ_REQUIRE_OK(hq_backend_poll(b, "jf", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_FAILED);
    HQ_CHECKF(strstr(reason, "1517") && strstr(reason, "do not match"), "%s", reason);
    HQ_REQUIRE_OK(hq_backend_poll(b, "jc", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_CANCELLED);
    HQ_CHECKF(strstr(reason, "maximum execution time"), "%s", reason);
    HQ_REQUIRE_OK(hq_backend_poll(b, "jr", &st, reason, sizeof reason));
    HQ_CHECK_EQ_INT(st, HQ_JOB_RUNNING);
    HQ_CHECK_OK(hq_backend_cancel(b, "jr"));
    HQ_CHECK_STR(hq_ts_get_request(s, 3).url, "/api/v1/jobs/jr/cancel");
    HQ_CHECK_STR(hq_ts_get_request(s, 3).method, "POST");
    hq_free(ta);
    hq_circuit_free(c);
    hq_circuit_free(c2);
    hq_backend_free(b);
    hq_ts_stop(s);
}

HQ_TEST(rest_ibm_lost_reply_found_by_tag_and_calibration_changes) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"submit_timeout_s\":0.3");
    HQ_REQUIRE(b);
    hq_circuit *c = bell();
    hq_job_entry e = {c, 0, NULL};
    const char *tok = "tok-lost-ibm";
    hq_job_spec js = {.entries = &e, .n_entries = 1, .shots = 10, .client_token = tok};
    char *ta = iam_reply("tokA-lost", 3600);
    hq_ts_action a[] = {{.status = 200, .body = ta},
                        {.status = 200, .body = conf_text},
                        {.status = 200, .body = props_text},
                        {.kind = HQ_TS_SLOW, .delay_ms = 1500, .body = "{\"id\":\"jl\"}"}};
    hq_ts_script(s, a, 4);
    char id[HQ_REMOTE_ID_MAX];
    hq_status st = hq_backend_submit(b, &js, id);
    HQ_CHECKF(st == HQ_ERR_TIMEOUT || st == HQ_ERR_NETWORK, "got %s", hq_status_name(st));
    HQ_CHECKF(strstr(hq_last_error(), "looked up by its client token"), "%s", hq_last_error());
    HQ_CHECK_EQ_INT(hq_ts_count(s), 4); /* one POST only */
    /* found by its tag; a job of another token does not match */
    char list[512];
    snprintf(list, sizeof list,
             "{\"jobs\":[{\"id\":\"jx\",\"tags\":[\"hqcnn-token:other\"]},{\"id\":\"jl\","
             "\"tags\":[\"hqcnn-pubs:1\",\"hqcnn-token:%s\"]}],\"count\":2}",
             tok);
    hq_ts_action a2[] = {{.status = 200, .body = list},
                         {.status = 200, .body = "{\"jobs\":[],\"count\":0}"}};
    hq_ts_script(s, a2, 2);
    bool found = false;
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &found));
    HQ_CHECK(found);
    HQ_CHECK_STR(id, "jl");
    HQ_CHECK_STR(hq_ts_get_request(s, 0).url, "/api/v1/jobs");
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, "not-sent", id, &found));
    HQ_CHECK(!found);
    /* a server ignoring the tags filter: the client checks tags and pages on */
    hq_sbuf p1 = HQ_SBUF_INIT;
    hq_sbuf_puts(&p1, "{\"jobs\":[");
    for (int i = 0; i < 50; i++)
        hq_sbuf_printf(&p1, "%s{\"id\":\"o%d\",\"tags\":[]}", i ? "," : "", i);
    hq_sbuf_puts(&p1, "],\"count\":51}");
    hq_ts_action a3[] = {{.status = 200, .body = p1.p}, {.status = 200, .body = list}};
    hq_ts_script(s, a3, 2);
    HQ_REQUIRE_OK(hq_backend_find_by_token(b, tok, id, &found));
    HQ_CHECK(found);
    HQ_CHECK_STR(id, "jl");
    hq_sbuf_free(&p1);
    hq_backend_free(b);
    /* calibration: properties last_update_date; cached until due; a new date rebuilds the
     * device */
    b = make(s, "\"calibration_refresh_s\":0");
    HQ_REQUIRE(b);
    hq_sbuf p2 = HQ_SBUF_INIT;
    hq_sbuf_puts(&p2, props_text);
    char *d = strstr(p2.p, "2024-05-27T15:27:23-03:00");
    HQ_REQUIRE(d);
    memcpy(d, "2024-05-28", 10);
    hq_ts_action a4[] = {{.status = 200, .body = ta},
                         {.status = 200, .body = conf_text},
                         {.status = 200, .body = props_text},
                         {.status = 200, .body = props_text},
                         {.status = 200, .body = p2.p}};
    hq_ts_script(s, a4, 5);
    char cal[HQ_CALIB_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_calibration(b, cal, NULL));
    HQ_CHECK_STR(cal, "2024-05-27T15:27:23-03:00");
    HQ_REQUIRE_OK(hq_backend_calibration(b, cal, NULL));
    HQ_CHECK_STR(cal, "2024-05-27T15:27:23-03:00");
    char *doc = NULL;
    HQ_REQUIRE_OK(hq_backend_calibration(b, cal, &doc));
    HQ_CHECK_STR(cal, "2024-05-28T15:27:23-03:00");
    HQ_CHECK(doc && strstr(doc, "2024-05-28T15:27:23-03:00"));
    hq_free(doc);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 5); /* configuration fetched once */
    hq_backend_caps caps;
    HQ_REQUIRE_OK(hq_backend_get_caps(b, &caps));
    HQ_CHECK(caps.device && caps.device->n_qubits == 5 && caps.max_qubits == 5);
    HQ_CHECK_STR(caps.device->calibration_id, "2024-05-28T15:27:23-03:00");
    HQ_CHECK(caps.calibrated);
    hq_sbuf_free(&p2);
    hq_backend_free(b);
    hq_free(ta);
    hq_circuit_free(c);
    hq_ts_stop(s);
}

HQ_TEST(rest_ibm_batch_session_options_and_limits) {
    hq_ts_server *s = start();
    HQ_REQUIRE(s);
    hq_backend *b = make(s, "\"mode\":\"batch\",\"sampler_options\":{\"twirling\":{"
                            "\"enable_gates\":false}},\"max_pubs\":2");
    HQ_REQUIRE(b);
    hq_circuit *c = bell();
    hq_job_entry e[3] = {{c, 0, NULL}, {c, 0, NULL}, {c, 0, NULL}};
    hq_job_spec js = {.entries = e, .n_entries = 1, .shots = 10, .client_token = "tok-batch"};
    char *ta = iam_reply("tokA-batch", 3600);
    hq_ts_action a[] = {{.status = 200, .body = ta},
                        {.status = 200, .body = conf_text},
                        {.status = 200, .body = props_text},
                        {.status = 200, .body = "{\"id\":\"sess-1\",\"mode\":\"batch\"}"},
                        {.status = 200, .body = "{\"id\":\"jb1\"}"},
                        {.status = 200, .body = "{\"id\":\"jb2\"}"},
                        {.status = 204, .body = ""}};
    hq_ts_script(s, a, 7);
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    HQ_CHECK_STR(hq_ts_get_request(s, 3).url, "/api/v1/sessions");
    cJSON *sr = rt_request_json(s, 3);
    HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sr, "mode")), "batch");
    cJSON_Delete(sr);
    for (int k = 4; k <= 5; k++) {
        cJSON *jr = rt_request_json(s, k);
        HQ_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jr, "session_id")),
                     "sess-1");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(jr, "params"), "options");
        HQ_CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "twirling")));
        cJSON_Delete(jr);
    }
    /* more PUBs than max_pubs: refused before anything is sent */
    js.n_entries = 3;
    int before = hq_ts_count(s);
    HQ_CHECK_FAILS(hq_backend_submit(b, &js, id), HQ_ERR_INVALID_ARG, "3 PUBs in one job");
    HQ_CHECK_EQ_INT(hq_ts_count(s), before);
    hq_backend_free(b); /* closes the session */
    HQ_CHECK_STR(hq_ts_get_request(s, 6).method, "PATCH");
    HQ_CHECK_STR(hq_ts_get_request(s, 6).url, "/api/v1/sessions/sess-1");
    HQ_CHECK_STR(hq_ts_get_request(s, 6).body, "{\"accepting_jobs\":false}");
    /* options */
    hq_backend *x = NULL;
    HQ_CHECK_FAILS(hq_backend_create("ibm", "{}", &x), HQ_ERR_INVALID_ARG,
                   "option 'backend' is required");
    HQ_CHECK_FAILS(hq_backend_create("ibm", "{\"backend\":\"ibm_fez\",\"mode\":\"session\"}", &x),
                   HQ_ERR_INVALID_ARG, "expected \"job\" or \"batch\"");
    HQ_CHECK_FAILS(hq_backend_create("ibm", "{\"backend\":\"ibm_fez\",\"sampler_options\":3}", &x),
                   HQ_ERR_INVALID_ARG, "must be a JSON object");
    HQ_CHECK_FAILS(
        hq_backend_create("ibm", "{\"backend\":\"ibm_fez\",\"iam_url\":\"http://x.org\"}", &x),
        HQ_ERR_INVALID_ARG, "iam_url");
    HQ_REQUIRE_OK(hq_backend_create("emulator-ibm", "{\"port\":8123}", &x));
    hq_backend_caps caps;
    HQ_REQUIRE_OK(hq_backend_get_caps(x, &caps));
    HQ_CHECK(caps.max_rows_per_entry > 0 && caps.price_per_job == 0 && caps.price_per_shot == 0);
    hq_backend_free(x);
    HQ_REQUIRE_OK(hq_backend_create("ibm", "{\"backend\":\"ibm_fez\"}", &x));
    HQ_REQUIRE_OK(hq_backend_get_caps(x, &caps));
    HQ_CHECK(caps.price_per_job > 0 && caps.price_per_shot > 0 && caps.max_rows_per_entry > 0);
    hq_backend_free(x);
    hq_free(ta);
    hq_circuit_free(c);
    hq_ts_stop(s);
}
