/*
 * tests/test_ionq.c — backends/ionq and backends/qpu: job bodies compared with the
 * request documented in QPU_APIS.md §1.2, every gate mapping checked by decoding the JSON
 * with IonQ's documented gate semantics and comparing unitaries with the original circuit
 * (backends/sv_ref, up to global phase), the F14 rounding rule, and the parsers run on
 * recorded bodies (tests/fixtures/qpu) including malformed and partial ones.
 */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backends/ionq.h"
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================== */

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

/* IonQ JSON gate list -> hq_circuit, with IonQ's documented semantics (QPU_APIS.md §1). */
static hq_status decode_gates(const cJSON *list, int nq, bool native, hq_circuit **out) {
    hq_circuit *c;
    hq_status st = hq_circuit_create(&c);
    if (st != HQ_OK) return st;
    hq_circuit_add_qreg(c, "q", nq, NULL);
    const cJSON *g;
    cJSON_ArrayForEach(g, list) {
        const char *name = cJSON_GetObjectItem(g, "gate")->valuestring;
        const cJSON *t = cJSON_GetObjectItem(g, "target");
        const cJSON *ts = cJSON_GetObjectItem(g, "targets");
        const cJSON *ctl = cJSON_GetObjectItem(g, "control");
        const cJSON *ctls = cJSON_GetObjectItem(g, "controls");
        const cJSON *rot = cJSON_GetObjectItem(g, "rotation");
        int q[3], nc = 0;
        if (ctl) q[nc++] = ctl->valueint;
        if (ctls)
            for (int i = 0; i < cJSON_GetArraySize(ctls); i++)
                q[nc++] = cJSON_GetArrayItem(ctls, i)->valueint;
        int nt = 0;
        if (t) q[nc + nt++] = t->valueint;
        if (ts)
            for (int i = 0; i < cJSON_GetArraySize(ts); i++)
                q[nc + nt++] = cJSON_GetArrayItem(ts, i)->valueint;
        double p[3] = {rot ? rot->valuedouble : 0, 0, 0};
        hq_gate gate = HQ_GATE_COUNT;
        if (native) {
            if (!strcmp(name, "gpi") || !strcmp(name, "gpi2")) {
                gate = name[3] ? HQ_GATE_GPI2 : HQ_GATE_GPI;
                p[0] = cJSON_GetObjectItem(g, "phase")->valuedouble;
            } else if (!strcmp(name, "ms")) {
                gate = HQ_GATE_MS;
                const cJSON *ph = cJSON_GetObjectItem(g, "phases");
                p[0] = cJSON_GetArrayItem(ph, 0)->valuedouble;
                p[1] = cJSON_GetArrayItem(ph, 1)->valuedouble;
                p[2] = cJSON_GetObjectItem(g, "angle")->valuedouble;
            } else if (!strcmp(name, "zz")) {
                gate = HQ_GATE_RZZ;
                p[0] = 2 * M_PI * cJSON_GetObjectItem(g, "angle")->valuedouble;
            }
        } else {
            static const struct {
                const char *n;
                hq_gate g0, g1, g2; /* uncontrolled, one control, two controls */
            } map[] = {{"x", HQ_GATE_X, HQ_GATE_CX, HQ_GATE_CCX},
                       {"cnot", HQ_GATE_COUNT, HQ_GATE_CX, HQ_GATE_CCX},
                       {"not", HQ_GATE_X, HQ_GATE_CX, HQ_GATE_CCX},
                       {"y", HQ_GATE_Y, HQ_GATE_CY, HQ_GATE_COUNT},
                       {"z", HQ_GATE_Z, HQ_GATE_CZ, HQ_GATE_COUNT},
                       {"h", HQ_GATE_H, HQ_GATE_CH, HQ_GATE_COUNT},
                       {"s", HQ_GATE_S, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"si", HQ_GATE_SDG, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"t", HQ_GATE_T, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"ti", HQ_GATE_TDG, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"v", HQ_GATE_SX, HQ_GATE_CSX, HQ_GATE_COUNT},
                       {"vi", HQ_GATE_SXDG, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"rx", HQ_GATE_RX, HQ_GATE_CRX, HQ_GATE_COUNT},
                       {"ry", HQ_GATE_RY, HQ_GATE_CRY, HQ_GATE_COUNT},
                       {"rz", HQ_GATE_RZ, HQ_GATE_CRZ, HQ_GATE_COUNT},
                       {"swap", HQ_GATE_SWAP, HQ_GATE_CSWAP, HQ_GATE_COUNT},
                       {"xx", HQ_GATE_RXX, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"yy", HQ_GATE_RYY, HQ_GATE_COUNT, HQ_GATE_COUNT},
                       {"zz", HQ_GATE_RZZ, HQ_GATE_COUNT, HQ_GATE_COUNT}};
            for (size_t i = 0; i < HQ_ARRAY_LEN(map); i++)
                if (!strcmp(map[i].n, name))
                    gate = nc == 0 ? map[i].g0 : nc == 1 ? map[i].g1 : map[i].g2;
        }
        if (gate == HQ_GATE_COUNT) {
            hq_circuit_free(c);
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "decoder: unknown gate %s/%d", name, nc);
        }
        st = hq_circuit_add_gate(c, gate, q, p);
        if (st != HQ_OK) {
            hq_circuit_free(c);
            return st;
        }
    }
    *out = c;
    return HQ_OK;
}

/* max |a - e^{i phi} b| with phi fitted on the largest entry */
static double dist_phase(const hq_cplx *a, const hq_cplx *b, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (cabs(b[i]) > cabs(b[best])) best = i;
    hq_cplx ph = a[best] / b[best];
    ph /= cabs(ph);
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, cabs(a[i] - ph * b[i]));
    return m;
}

static double roundtrip_distance(const hq_circuit *c, hq_ionq_gateset gs) {
    hq_sbuf b = HQ_SBUF_INIT;
    if (hq_ionq_circuit_json(c, gs, &b) != HQ_OK) return INFINITY;
    cJSON *j = cJSON_Parse(b.p);
    hq_sbuf_free(&b);
    hq_circuit *d = NULL;
    int nq = hq_circuit_n_qubits(c);
    if (!j || decode_gates(j, nq, gs == HQ_IONQ_NATIVE, &d) != HQ_OK) {
        cJSON_Delete(j);
        return INFINITY;
    }
    cJSON_Delete(j);
    int dim = 1 << nq;
    hq_cplx *u1 = hq_malloc(sizeof(hq_cplx) * (size_t)dim * dim);
    hq_cplx *u2 = hq_malloc(sizeof(hq_cplx) * (size_t)dim * dim);
    double r = INFINITY;
    if (u1 && u2 && hq_ref_unitary(c, NULL, u1) == HQ_OK && hq_ref_unitary(d, NULL, u2) == HQ_OK)
        r = dist_phase(u1, u2, dim * dim);
    hq_free(u1);
    hq_free(u2);
    hq_circuit_free(d);
    return r;
}

static hq_circuit *one_gate(hq_gate g, const int *q, const double *p, int nq) {
    hq_circuit *c;
    if (hq_circuit_create(&c) != HQ_OK) return NULL;
    hq_circuit_add_qreg(c, "q", nq, NULL);
    if (hq_circuit_add_gate(c, g, q, p) != HQ_OK) {
        hq_circuit_free(c);
        return NULL;
    }
    return c;
}

/* ==== builders ========================================================================= */

HQ_TEST(ionq_build_matches_documented_request) {
    /* QPU_APIS.md §1.2 example: h 0; cnot 0->1; rx(1.5708) 2; x controls [0,1] target 3 */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 4, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_RX, (int[]){2}, (double[]){1.5708});
    hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){0, 1, 3}, NULL);
    hq_ionq_meta md[] = {{"k", "v"}};
    hq_ionq_job_spec sp = {.api = HQ_IONQ_V03,
                           .target = "simulator",
                           .shots = 1000,
                           .name = "my job",
                           .metadata = md,
                           .n_metadata = 1,
                           .noise_model = "aria-1",
                           .noise_seed = 42,
                           .debiasing = 0};
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_ionq_build_job(&sp, (const hq_circuit *[]){c}, 1, &b));
    char *want = fixture("ionq_job_request_v03.json", NULL);
    HQ_REQUIRE(want);
    cJSON *jw = cJSON_Parse(want), *jg = cJSON_Parse(b.p);
    HQ_REQUIRE(jw && jg);
    cJSON_DeleteItemFromObject(jw, "registers"); /* qiskit-ionq bookkeeping, not sent */
    HQ_CHECKF(cJSON_Compare(jw, jg, true), "built:\n%s", b.p);
    cJSON_Delete(jw);
    cJSON_Delete(jg);
    hq_free(want);
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}

HQ_TEST(ionq_qis_gates_equal_unitaries) {
    hq_rng r;
    hq_rng_init(&r, 11, 0, 0);
    int tested = 0;
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        bool expect_ok =
            g != HQ_GATE_GPI && g != HQ_GATE_GPI2 && g != HQ_GATE_MS && g != HQ_GATE_ECR;
        for (int trial = 0; trial < 3; trial++) {
            double p[4];
            for (int k = 0; k < 4; k++) p[k] = (hq_rng_uniform(&r) * 2 - 1) * 4;
            /* operands in scrambled order on 3 qubits */
            int perms[3][3] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}};
            hq_circuit *c = one_gate((hq_gate)g, perms[trial], p, 3);
            HQ_REQUIRE(c);
            /* a prefix so the state is not trivial */
            if (expect_ok) {
                double d = roundtrip_distance(c, HQ_IONQ_QIS);
                HQ_CHECKF(d < 1e-12, "gate %s trial %d: unitary distance %g", gi->name, trial, d);
                tested++;
            } else {
                hq_sbuf b = HQ_SBUF_INIT;
                static char wantbuf[96];
                const char *want = wantbuf;
                snprintf(wantbuf, sizeof wantbuf, "gate '%s' (operation 0) has no IonQ QIS form",
                         gi->name);
                HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_QIS, &b), HQ_ERR_UNSUPPORTED, want);
                HQ_CHECK(b.len == 0);
                hq_sbuf_free(&b);
            }
            hq_circuit_free(c);
        }
    }
    HQ_CHECK(tested >= 30 * 3);
}

HQ_TEST(ionq_native_gates_equal_unitaries) {
    hq_rng r;
    hq_rng_init(&r, 12, 0, 0);
    hq_gate ok[] = {HQ_GATE_GPI, HQ_GATE_GPI2, HQ_GATE_MS, HQ_GATE_RZZ};
    for (size_t i = 0; i < HQ_ARRAY_LEN(ok); i++)
        for (int trial = 0; trial < 4; trial++) {
            double p[3];
            for (int k = 0; k < 3; k++) p[k] = (hq_rng_uniform(&r) * 2 - 1) * 3; /* also < 0 */
            if (ok[i] == HQ_GATE_MS) p[2] = hq_rng_uniform(&r) * 0.25;
            hq_circuit *c = one_gate(ok[i], (int[]){1, 0}, p, 2);
            HQ_REQUIRE(c);
            double d = roundtrip_distance(c, HQ_IONQ_NATIVE);
            HQ_CHECKF(d < 1e-12, "%s: %g", hq_gate_get_info(ok[i])->name, d);
            hq_circuit_free(c);
        }
    /* phases are reduced to [0, 1) turns */
    hq_circuit *c = one_gate(HQ_GATE_GPI2, (int[]){0}, (double[]){-0.25}, 1);
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_ionq_circuit_json(c, HQ_IONQ_NATIVE, &b));
    HQ_CHECK_STR(b.p, "[{\"gate\":\"gpi2\",\"target\":0,\"phase\":0.75}]");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
    c = one_gate(HQ_GATE_H, (int[]){0}, NULL, 1);
    HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_NATIVE, &b), HQ_ERR_UNSUPPORTED,
                   "gate 'h' (operation 0) is not an IonQ native gate");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}

HQ_TEST(ionq_build_rejects_what_ionq_cannot_run) {
    hq_circuit *c;
    hq_sbuf b = HQ_SBUF_INIT;
    /* mid-circuit measurement */
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_measure(c, 0, 0);
    hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL);
    HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_QIS, &b), HQ_ERR_UNSUPPORTED,
                   "gate 'x' (operation 2) acts on qubit 0 after it was measured");
    hq_circuit_free(c);
    /* reset, condition */
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_reset(c, 1);
    HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_QIS, &b), HQ_ERR_UNSUPPORTED,
                   "operation 0 is a reset");
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL);
    hq_circuit_set_condition(c, 0, 1);
    HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_QIS, &b), HQ_ERR_UNSUPPORTED,
                   "classically conditioned");
    hq_circuit_free(c);
    /* unbound symbols */
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 1, NULL);
    int s;
    hq_circuit_add_symbol(c, "theta", HQ_SYM_WEIGHT, &s);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, (hq_angle[]){hq_angle_sym(s, 1, 0)});
    HQ_CHECK_FAILS(hq_ionq_circuit_json(c, HQ_IONQ_QIS, &b), HQ_ERR_INVALID_ARG,
                   "unbound symbols ---> HINT: bind the parameters");
    hq_circuit_free(c);
    HQ_CHECK_FAILS(hq_ionq_circuit_json(NULL, HQ_IONQ_QIS, &b), HQ_ERR_INVALID_ARG,
                   "circuit is NULL");
    hq_sbuf_free(&b);
}

HQ_TEST(ionq_build_multi_and_v04) {
    hq_circuit *c0 = one_gate(HQ_GATE_H, (int[]){0}, NULL, 2);
    hq_circuit *c1 = one_gate(HQ_GATE_CX, (int[]){0, 1}, NULL, 3);
    const hq_circuit *cs[] = {c0, c1};
    const char *names[] = {"a", NULL};
    hq_ionq_job_spec sp = {.api = HQ_IONQ_V04,
                           .target = "qpu.forte-1",
                           .shots = 500,
                           .client_token = "tok-42",
                           .debiasing = 1,
                           .session_id = "sess-1",
                           .noise_seed = -1,
                           .circuit_names = names};
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_ionq_build_job(&sp, cs, 2, &b));
    cJSON *j = cJSON_Parse(b.p);
    HQ_REQUIRE(j);
    HQ_CHECK_STR(cJSON_GetObjectItem(j, "type")->valuestring, "ionq.multi-circuit.v1");
    HQ_CHECK_STR(cJSON_GetObjectItem(j, "backend")->valuestring, "qpu.forte-1");
    HQ_CHECK(!cJSON_GetObjectItem(j, "target"));
    HQ_CHECK_STR(cJSON_GetObjectItem(j, "name")->valuestring, "hqcnn-tok-42");
    HQ_CHECK_STR(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), HQ_IONQ_TOKEN_KEY)->valuestring,
        "tok-42");
    HQ_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "settings"), "error_mitigation"), "debiasing")));
    HQ_CHECK_STR(cJSON_GetObjectItem(j, "session_id")->valuestring, "sess-1");
    const cJSON *in = cJSON_GetObjectItem(j, "input");
    HQ_CHECK(!cJSON_GetObjectItem(in, "format"));
    HQ_CHECK_EQ_INT(cJSON_GetObjectItem(in, "qubits")->valueint, 3);
    const cJSON *circs = cJSON_GetObjectItem(in, "circuits");
    HQ_REQUIRE(cJSON_GetArraySize(circs) == 2);
    HQ_CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(circs, 0), "name")->valuestring, "a");
    HQ_CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(circs, 1), "name")->valuestring,
                 "circuit-1");
    cJSON_Delete(j);
    /* v0.3: target, format, top-level error_mitigation */
    hq_sbuf_reset(&b);
    sp.api = HQ_IONQ_V03;
    sp.session_id = NULL;
    HQ_REQUIRE_OK(hq_ionq_build_job(&sp, cs, 1, &b));
    j = cJSON_Parse(b.p);
    HQ_CHECK_STR(cJSON_GetObjectItem(j, "target")->valuestring, "qpu.forte-1");
    HQ_CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "input"), "format")->valuestring,
                 "ionq.circuit.v0");
    HQ_CHECK(cJSON_GetObjectItem(j, "error_mitigation") != NULL);
    cJSON_Delete(j);
    /* spec errors leave out unchanged */
    size_t before = b.len;
    hq_ionq_job_spec bad = sp;
    bad.shots = 0;
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG,
                   "shots 0 out of range [1, 1e9]");
    bad = sp;
    bad.noise_model = "aria-1";
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG,
                   "noise model applies to the \"simulator\" target only");
    bad = sp;
    hq_ionq_meta md[10];
    for (int i = 0; i < 10; i++) md[i] = (hq_ionq_meta){"k", "v"};
    bad.metadata = md;
    bad.n_metadata = 10;
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG,
                   "11 metadata entries (IonQ allows at most 10");
    bad.n_metadata = 1;
    md[0].key = "this-key-is-definitely-longer-than-forty-characters";
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG,
                   "keys must be 1..40 characters");
    bad = sp;
    bad.session_id = "s";
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG, "session_id needs");
    bad = sp;
    bad.target = NULL;
    HQ_CHECK_FAILS(hq_ionq_build_job(&bad, cs, 1, &b), HQ_ERR_INVALID_ARG, "no target");
    HQ_CHECK_FAILS(hq_ionq_build_job(&sp, cs, 0, &b), HQ_ERR_INVALID_ARG, "n_circuits 0");
    /* an unsupported gate in circuit 1 names the circuit */
    hq_circuit *c2 = one_gate(HQ_GATE_ECR, (int[]){0, 1}, NULL, 2);
    const hq_circuit *cs2[] = {c0, c2};
    HQ_CHECK_FAILS(hq_ionq_build_job(&sp, cs2, 2, &b), HQ_ERR_UNSUPPORTED,
                   "hq_ionq_build_job: circuit 1: hq_ionq_build_job: gate 'ecr'");
    HQ_CHECK_EQ_INT(b.len, before);
    hq_sbuf_free(&b);
    hq_circuit_free(c0);
    hq_circuit_free(c1);
    hq_circuit_free(c2);
}

HQ_TEST(ionq_clbit_map_and_remap) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 3, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL);
    hq_circuit_add_measure(c, 2, 0); /* clbit 0 <- qubit 2 */
    hq_circuit_add_measure(c, 0, 1); /* clbit 1 <- qubit 0 */
    int map[8], n = 0;
    HQ_REQUIRE_OK(hq_ionq_clbit_map(c, map, 8, &n));
    HQ_CHECK_EQ_INT(n, 2);
    HQ_CHECK_EQ_INT(map[0], 2);
    HQ_CHECK_EQ_INT(map[1], 0);
    HQ_CHECK_FAILS(hq_ionq_clbit_map(c, map, 1, &n), HQ_ERR_INVALID_ARG, "cap is 1");
    /* IonQ outcome 4 (qubit 2 = 1) -> clbit outcome 1; outcome 5 -> 3 */
    hq_counts q, cl;
    hq_counts_init(&q, 3);
    hq_counts_add(&q, 4, 7);
    hq_counts_add(&q, 5, 3);
    hq_counts_add(&q, 6, 2); /* qubit 1 is not measured: folds into outcome 1 */
    HQ_REQUIRE_OK(hq_qpu_counts_remap(&q, map, n, &cl));
    HQ_CHECK_EQ_INT(cl.n_bits, 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&cl, 1), 9);
    HQ_CHECK_EQ_INT(hq_counts_get(&cl, 3), 3);
    HQ_CHECK_EQ_INT(cl.shots, 12);
    hq_counts_free(&cl);
    HQ_CHECK_FAILS(hq_qpu_counts_remap(&q, (int[]){70}, 1, &cl), HQ_ERR_INVALID_ARG,
                   "source bit 70");
    hq_counts_free(&cl);
    hq_counts_free(&q);
    hq_circuit_free(c);
    /* no measurements: identity over the qubits */
    c = one_gate(HQ_GATE_H, (int[]){0}, NULL, 3);
    HQ_REQUIRE_OK(hq_ionq_clbit_map(c, map, 8, &n));
    HQ_CHECK(n == 3 && map[0] == 0 && map[2] == 2);
    hq_circuit_free(c);
}

/* ==== F14 rounding ===================================================================== */

HQ_TEST(ionq_probs_to_counts_rounding) {
    hq_counts c;
    /* half to even: 1.5 -> 2 and 2.5 -> 2 (round-half-up would give 5 shots) */
    HQ_REQUIRE_OK(
        hq_qpu_probs_to_counts((uint64_t[]){0, 1}, (double[]){0.375, 0.625}, 2, 4, 1, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 0), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 1), 2);
    hq_counts_free(&c);
    /* 2.5 x4 -> 2 each (8), the 2 missing shots go to the largest remainders, ties to the
     * smaller outcome */
    HQ_REQUIRE_OK(hq_qpu_probs_to_counts((uint64_t[]){3, 2, 1, 0}, (double[]){.25, .25, .25, .25},
                                         4, 10, 2, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 0), 3);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 1), 3);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 2), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 3), 2);
    hq_counts_free(&c);
    /* 1.5 + 1.5 -> 2 + 2 = 4 > 3: one is taken back from the larger outcome */
    HQ_REQUIRE_OK(hq_qpu_probs_to_counts((uint64_t[]){0, 1}, (double[]){0.5, 0.5}, 2, 3, 1, &c));
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 0), 2);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 1), 1);
    hq_counts_free(&c);
    /* a sum slightly off 1 is normalised */
    HQ_REQUIRE_OK(
        hq_qpu_probs_to_counts((uint64_t[]){0, 15}, (double[]){0.4902, 0.5102}, 2, 1000, 4, &c));
    HQ_CHECK_EQ_INT(c.shots, 1000);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 0), 490);
    hq_counts_free(&c);
    /* invariants on random distributions: total exact, each count floor or ceil */
    hq_rng r;
    hq_rng_init(&r, 5, 0, 0);
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)hq_rng_below(&r, 40);
        int64_t shots = 1 + (int64_t)hq_rng_below(&r, 5000);
        uint64_t o[40];
        double p[40], s = 0;
        for (int i = 0; i < n; i++) {
            o[i] = (uint64_t)i * 3;
            p[i] = hq_rng_uniform(&r);
            s += p[i];
        }
        for (int i = 0; i < n; i++) p[i] /= s;
        HQ_REQUIRE_OK(hq_qpu_probs_to_counts(o, p, n, shots, 8, &c));
        HQ_CHECK_EQ_INT(c.shots, shots);
        for (int i = 0; i < n; i++) {
            double x = p[i] * (double)shots;
            int64_t k = hq_counts_get(&c, o[i]);
            HQ_CHECKF(k == (int64_t)floor(x) || k == (int64_t)ceil(x), "count %lld for %g",
                      (long long)k, x);
        }
        hq_counts_free(&c);
    }
    /* bad input */
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){0, 1}, (double[]){0.5, NAN}, 2, 10, 1, &c),
                   HQ_ERR_PARSE, "probability of outcome 1 is nan");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){0, 1}, (double[]){1.2, -0.2}, 2, 10, 1, &c),
                   HQ_ERR_PARSE, "probability of outcome 1 is -0.2");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){0, 1}, (double[]){0.4, 0.3}, 2, 10, 1, &c),
                   HQ_ERR_PARSE, "probabilities sum to 0.7, expected 1");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){1, 1}, (double[]){0.5, 0.5}, 2, 10, 1, &c),
                   HQ_ERR_PARSE, "outcome 1 appears twice");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){0, 4}, (double[]){0.5, 0.5}, 2, 10, 2, &c),
                   HQ_ERR_PARSE, "outcome 4 does not fit in 2 bits");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts((uint64_t[]){0}, (double[]){1}, 1, 0, 1, &c),
                   HQ_ERR_INVALID_ARG, "shots 0 must be > 0");
    HQ_CHECK_FAILS(hq_qpu_probs_to_counts(NULL, NULL, 0, 10, 1, &c), HQ_ERR_PARSE,
                   "empty probability distribution");
    hq_counts_free(&c);
}

/* ==== parsers ========================================================================== */

HQ_TEST(ionq_parse_create_and_job) {
    size_t n = 0;
    hq_qpu_job_status js;
    char *b = fixture("ionq_create_v03.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_create(b, n, &js));
    HQ_CHECK_STR(js.id, "aa54e783-0a9b-4f73-ad2f-63983b6aa4a8");
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_QUEUED);
    hq_free(b);
    b = fixture("ionq_create_v04.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_create(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_PENDING);
    HQ_CHECK(!js.unknown_status);
    hq_free(b);

    b = fixture("ionq_job_v03_completed.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_COMPLETED);
    HQ_CHECK(hq_qpu_state_terminal(js.state));
    HQ_CHECK_STR(js.backend, "qpu.aria-1");
    HQ_CHECK_EQ_INT(js.shots, 1000);
    HQ_CHECK_EQ_INT(js.n_children, 0);
    hq_qpu_job_status_free(&js);
    hq_free(b);

    b = fixture("ionq_job_v03_failed.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_FAILED);
    HQ_CHECK_STR(js.failure_code, "PreflightError");
    HQ_CHECK_STR(js.failure_msg, "gate 'foo' is not supported");
    hq_qpu_job_status_free(&js);
    hq_free(b);

    b = fixture("ionq_job_v03_canceled.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_CANCELLED);
    hq_qpu_job_status_free(&js);
    hq_free(b);

    b = fixture("ionq_job_v03_multi.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_REQUIRE(js.n_children == 2);
    HQ_CHECK_STR(js.children[1], "09d698b6-18a4-4e43-8217-e7f31c097e79");
    hq_qpu_job_status_free(&js);
    hq_free(b);

    b = fixture("ionq_job_v04_started.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_RUNNING); /* v0.4 "started" */
    HQ_CHECK_STR(js.backend, "qpu.forte-1");
    HQ_CHECK_EQ_INT(js.n_children, 2);
    hq_qpu_job_status_free(&js);
    hq_free(b);

    b = fixture("ionq_job_v04_completed.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_STR(js.results_url,
                 "/v0.4/jobs/617a1f8b-3c5e-4b7a-9d2e-0c1b2a3d4e5f/results/probabilities");
    hq_qpu_job_status_free(&js);
    hq_free(b);

    /* F13: an unknown status is pending, never terminal */
    b = fixture("ionq_job_unknown_status.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_PENDING);
    HQ_CHECK(js.unknown_status);
    HQ_CHECK_STR(js.raw_status, "compiling");
    hq_qpu_job_status_free(&js);
    hq_free(b);

    /* malformed */
    b = fixture("ionq_job_shots_string.json", &n);
    HQ_CHECK_FAILS(hq_ionq_parse_job(b, n, &js), HQ_ERR_PARSE,
                   "children of job d4e5f6a7-0000-4000-8000-000000000006 is a string");
    HQ_CHECK_EQ_INT(js.n_children, 0);
    hq_free(b);
    /* a wrong-typed optional field is ignored, not trusted */
    b = fixture("ionq_job_shots_string_only.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_job(b, n, &js));
    HQ_CHECK_EQ_INT(js.shots, -1);
    hq_qpu_job_status_free(&js);
    hq_free(b);
    b = fixture("ionq_cancel_response.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_create(b, n, &js));
    HQ_CHECK_EQ_INT(js.state, HQ_QPU_CANCELLED);
    hq_free(b);
    b = fixture("ionq_job_missing_status.json", &n);
    HQ_CHECK_FAILS(hq_ionq_parse_job(b, n, &js), HQ_ERR_PARSE,
                   "\"status\" of job d4e5f6a7-0000-4000-8000-000000000007 is missing");
    hq_free(b);
    b = fixture("html_503.html", &n);
    HQ_CHECK_FAILS(hq_ionq_parse_job(b, n, &js), HQ_ERR_PARSE, "the job body is an HTML page");
    hq_free(b);
    HQ_CHECK_FAILS(hq_ionq_parse_job("{\"id\":\"x\",\"status\":\"ready\"", 26, &js), HQ_ERR_PARSE,
                   "truncated JSON");
    HQ_CHECK_FAILS(hq_ionq_parse_job("{\"id\": 5, \"status\":\"ready\"}", 27, &js), HQ_ERR_PARSE,
                   "\"id\" is a number, expected a non-empty string");
    HQ_CHECK_FAILS(hq_ionq_parse_job("[1,2]", 5, &js), HQ_ERR_PARSE,
                   "expected a JSON object, got an array");
    HQ_CHECK_FAILS(hq_ionq_parse_job("", 0, &js), HQ_ERR_PARSE, "empty");
    HQ_CHECK_FAILS(hq_ionq_parse_create("{\"status\":\"ready\"}", 18, &js), HQ_ERR_PARSE,
                   "\"id\" is missing");
}

HQ_TEST(ionq_parse_results) {
    size_t n = 0;
    hq_qpu_results res;
    char *b = fixture("ionq_results_single.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_results(b, n, NULL, 1, 4, 1000, &res));
    HQ_REQUIRE(res.n == 1 && res.r[0].status == HQ_OK);
    HQ_CHECK_EQ_INT(res.r[0].counts.n_bits, 4);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 0), 490);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 15), 510);
    HQ_CHECK_EQ_INT(res.r[0].n_prob, 2);
    hq_qpu_results_free(&res);
    HQ_CHECK_FAILS(hq_ionq_parse_results(b, n, NULL, 1, 3, 1000, &res), HQ_ERR_PARSE,
                   "outcome 15 does not fit in 3 qubits");
    HQ_CHECK_FAILS(hq_ionq_parse_results(b, n, NULL, 2, 4, 1000, &res), HQ_ERR_PARSE,
                   "one distribution for a 2-circuit job");
    hq_free(b);

    /* v2 registers artifact with bitstrings */
    b = fixture("ionq_results_v2.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_results(b, n, NULL, 1, 2, 100, &res));
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 3), 50);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 0), 50);
    hq_qpu_results_free(&res);
    hq_free(b);

    /* multi-circuit: matched through the children list, whatever the JSON order */
    size_t nj = 0;
    char *jb = fixture("ionq_job_v03_multi.json", &nj);
    hq_qpu_job_status js;
    HQ_REQUIRE_OK(hq_ionq_parse_job(jb, nj, &js));
    b = fixture("ionq_results_multi.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_results(b, n, &js, 2, 2, 100, &res));
    HQ_CHECK_EQ_INT(hq_qpu_results_n_ok(&res), 2);
    HQ_CHECK_STR(res.r[0].id, "a06df3f3-4a34-4dc2-8d4f-c0853bc49e73");
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[1].counts, 1), 51);
    hq_qpu_results_free(&res);
    HQ_CHECK_FAILS(hq_ionq_parse_results(b, n, NULL, 2, 2, 100, &res), HQ_ERR_INVALID_ARG,
                   "need the parent job's children list");
    HQ_CHECK_FAILS(hq_ionq_parse_results(b, n, &js, 3, 2, 100, &res), HQ_ERR_PARSE,
                   "lists 2 children for 3 circuits");
    hq_free(b);
    hq_qpu_job_status_free(&js);
    hq_free(jb);

    /* F9: three children, the middle one has no result; the others keep their slot */
    jb = fixture("ionq_job_v03_multi3.json", &nj);
    HQ_REQUIRE_OK(hq_ionq_parse_job(jb, nj, &js));
    b = fixture("ionq_results_partial.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_results(b, n, &js, 3, 2, 1000, &res));
    HQ_CHECK_EQ_INT(res.r[0].status, HQ_OK);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 3), 750);
    HQ_CHECK_EQ_INT(res.r[1].status, HQ_ERR_BACKEND);
    HQ_CHECK(strstr(res.r[1].error, "no result for circuit 1 (child job c0ffee00") != NULL);
    HQ_CHECK_EQ_INT(res.r[2].status, HQ_OK);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[2].counts, 1), 1000);
    hq_qpu_results_free(&res);
    /* children listed in the other order: results follow the ids, not the JSON order */
    char *tmp = js.children[0];
    js.children[0] = js.children[2];
    js.children[2] = tmp;
    HQ_REQUIRE_OK(hq_ionq_parse_results(b, n, &js, 3, 2, 1000, &res));
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[0].counts, 1), 1000);
    HQ_CHECK_EQ_INT(hq_counts_get(&res.r[2].counts, 3), 750);
    hq_qpu_results_free(&res);
    hq_free(b);
    hq_qpu_job_status_free(&js);
    hq_free(jb);

    /* malformed bodies: clear errors, nothing allocated */
    struct {
        const char *file;
        hq_status st;
        const char *msg;
    } bad[] = {
        {"ionq_results_truncated.json", HQ_ERR_PARSE, "the results body is truncated JSON"},
        {"ionq_results_negative.json", HQ_ERR_PARSE, "probability of outcome 3 is -0.2"},
        {"ionq_results_nan.json", HQ_ERR_PARSE, "probability of outcome 0 is a string"},
        {"ionq_results_sum07.json", HQ_ERR_PARSE, "probabilities sum to 0.7"},
        {"ionq_results_badkey.json", HQ_ERR_PARSE, "outcome key \"three\" is not a decimal"},
        {"ionq_results_huge.json", HQ_ERR_PARSE, "probability of outcome 0 is inf"},
        {"ionq_results_bigkey.json", HQ_ERR_PARSE, "is not a decimal integer"},
        {"html_503.html", HQ_ERR_PARSE, "the results body is an HTML page"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(bad); i++) {
        b = fixture(bad[i].file, &n);
        HQ_CHECK_FAILS(hq_ionq_parse_results(b, n, NULL, 1, 4, 100, &res), bad[i].st, bad[i].msg);
        HQ_CHECK(res.n == 0 && res.r == NULL);
        hq_free(b);
    }
    HQ_CHECK_FAILS(hq_ionq_parse_results("{}", 2, NULL, 1, 4, 100, &res), HQ_ERR_PARSE,
                   "empty probability distribution");
    HQ_CHECK_FAILS(hq_ionq_parse_results("{\"0\":1,\"x\":{}}", 14, NULL, 1, 4, 100, &res),
                   HQ_ERR_PARSE, "mix numbers and objects");
    HQ_CHECK_FAILS(hq_ionq_parse_results("{\"0\":1}", 7, NULL, 1, 65, 100, &res),
                   HQ_ERR_INVALID_ARG, "n_qubits 65");
}

HQ_TEST(ionq_parse_characterization_and_backends) {
    size_t n = 0;
    hq_ionq_calibration cal;
    char *b = fixture("ionq_characterization_v03.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_characterization(b, n, &cal));
    HQ_CHECK_STR(cal.backend, "qpu.aria-1");
    HQ_CHECK_STR(cal.date, "2025-02-26T15:16:25Z");
    HQ_CHECK_EQ_INT(cal.qubits, 25);
    HQ_CHECK_NEAR(cal.fidelity_2q, 0.99, 0);
    HQ_CHECK_NEAR(cal.t_1q, 1.35e-4, 0);
    HQ_CHECK_NEAR(cal.t1, 100, 0);
    HQ_REQUIRE(cal.n_edges == 3);
    HQ_CHECK(cal.edges[2][0] == 1 && cal.edges[2][1] == 2);
    hq_ionq_calibration_free(&cal);
    hq_free(b);
    b = fixture("ionq_characterizations_v04.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_characterization(b, n, &cal));
    HQ_CHECK_STR(cal.id, "abc-123"); /* the first entry is the latest */
    HQ_CHECK_NEAR(cal.spam_fidelity, 0.99, 0);
    HQ_CHECK(isnan(cal.fidelity_1q) && isnan(cal.t1));
    hq_ionq_calibration_free(&cal);
    hq_free(b);
    b = fixture("ionq_characterizations_v04_null.json", &n);
    HQ_CHECK_FAILS(hq_ionq_parse_characterization(b, n, &cal), HQ_ERR_NOT_FOUND,
                   "no characterization data");
    hq_free(b);
    HQ_CHECK_FAILS(hq_ionq_parse_characterization("{\"connectivity\":[[0,\"a\"]]}", 27, &cal),
                   HQ_ERR_PARSE, "connectivity entry 0 is not a pair");

    hq_qpu_backend_info *bk = NULL;
    int nb = 0;
    b = fixture("ionq_backends_v03.json", &n);
    HQ_REQUIRE_OK(hq_ionq_parse_backends(b, n, &bk, &nb));
    HQ_REQUIRE(nb == 3);
    HQ_CHECK_STR(bk[1].name, "qpu.aria-1");
    HQ_CHECK(bk[1].available && !bk[1].degraded);
    HQ_CHECK_NEAR(bk[1].queue_time_s, 1.0, 0);
    HQ_CHECK(!bk[2].available && bk[2].degraded);
    HQ_CHECK(isnan(bk[0].queue_time_s));
    hq_free(bk);
    hq_free(b);
    HQ_CHECK_FAILS(hq_ionq_parse_backends("{}", 2, &bk, &nb), HQ_ERR_PARSE,
                   "expected a JSON array of backends");
    HQ_CHECK_FAILS(hq_ionq_parse_backends("[{\"qubits\":3}]", 14, &bk, &nb), HQ_ERR_PARSE,
                   "backend 0 has no \"backend\" name");
}
