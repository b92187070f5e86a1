/*
 * tests/test_noise.c — noise models: the depolarizing parameter against closed forms, the
 * lookup order, scaling (monotone, exact zero), JSON round trips and every JSON error
 * (status + the field's path), the device conversion (hand-built devices, and the IBM
 * calibration files of ../shared/data/ibm_backends once the device loader exists), the
 * example models in configs/noise, and every API error path.
 */
#include <complex.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/noise.h"
#include "tests/hq_test.h"

/* ==== depolarizing parameter ============================================================ */

HQ_TEST(noise_depol_closed_forms) {
    const double one[3] = {1, 1, 1};
    for (int k = 1; k <= 3; k++) {
        double d = 1 << k;
        /* without relaxation: λ = d r / (d − 1) (r = (d−1)/d · λ for a depolarizing channel) */
        for (double r = 0; r < d / (d + 1); r += 0.05)
            HQ_CHECK_NEAR(hq_noise_depol_for_error(r, k, one, one), d * r / (d - 1), 1e-15);
        /* the maximal infidelity is the fully depolarizing-beyond channel, λ = d²/(d²−1) */
        HQ_CHECK_NEAR(hq_noise_depol_for_error(d / (d + 1), k, one, one), d * d / (d * d - 1),
                      1e-15);
        HQ_CHECK_NEAR(hq_noise_depol_for_error(1, k, one, one), d * d / (d * d - 1), 1e-15);
        HQ_CHECK(hq_noise_depol_for_error(-0.1, k, one, one) == 0);
    }
    /* relaxation only: 1-qubit F_pro = (1 + e1 + 2 e2)/4 -> r_R; λ = 0 below it */
    double e1 = exp(-0.1), e2 = exp(-0.15);
    double fpro = (1 + e1 + 2 * e2) / 4, r_r = 1 - (2 * fpro + 1) / 3;
    HQ_CHECK(hq_noise_depol_for_error(r_r * 0.99, 1, &e1, &e2) == 0);
    double lam = hq_noise_depol_for_error(r_r + 0.01, 1, &e1, &e2);
    /* composed channel: F_pro = (1−λ) F_pro(R) + λ/4 must give r = r_r + 0.01 */
    double f2 = (1 - lam) * fpro + lam / 4;
    HQ_CHECK_NEAR(1 - (2 * f2 + 1) / 3, r_r + 0.01, 1e-15);
    /* total decay: F_avg(R) = 1/d, any larger error is the maximum */
    double z = 0;
    HQ_CHECK_NEAR(hq_noise_depol_for_error(0.6, 1, &z, &z), 4.0 / 3, 1e-15);
    HQ_CHECK(hq_noise_depol_for_error(0.1, 0, one, one) == 0);
    HQ_CHECK(hq_noise_depol_for_error(NAN, 1, one, one) == 0);
}

/* ==== lookup order, channels, scaling =================================================== */

static hq_noise_gate gate_entry(hq_gate g, int nq, int q0, int q1, double err, double dur) {
    hq_noise_gate e = {g, nq, {q0, q1, -1}, err, dur};
    return e;
}

HQ_TEST(noise_lookup_order) {
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(4, &m));
    hq_noise_gate es[] = {
        gate_entry(HQ_GATE_CX, 2, 0, 1, 0.01, 0),
        gate_entry(HQ_GATE_CX, 2, 1, 0, 0.02, 0),
        gate_entry(HQ_GATE_CX, 2, 2, 3, 0.03, 0),
        gate_entry(HQ_GATE_CX, 0, -1, -1, 0.04, 0),
        gate_entry(HQ_NOISE_ANY_GATE, 2, 1, 2, 0.05, 0),
        gate_entry(HQ_GATE_SX, 1, 2, -1, 0.06, 0),
        gate_entry(HQ_NOISE_ANY_GATE, 1, 2, -1, 0.07, 0),
        gate_entry(HQ_GATE_RESET, 1, 1, -1, 0.3, 0),
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(es); i++) HQ_CHECK_OK(hq_noise_set_gate(m, &es[i]));
    HQ_CHECK_OK(hq_noise_set_default_gate(m, 2, 0.08, 0));
    HQ_CHECK_OK(hq_noise_set_default_gate(m, 1, 0.09, 0));
    struct {
        hq_gate g;
        int q[2];
        double err; /* expected entry error; λ = d r/(d−1) without relaxation */
    } cases[] = {
        {HQ_GATE_CX, {0, 1}, 0.01}, /* exact */
        {HQ_GATE_CX, {1, 0}, 0.02}, /* exact beats reversed */
        {HQ_GATE_CX, {3, 2}, 0.03}, /* reversed */
        {HQ_GATE_CX, {0, 3}, 0.04}, /* gate-wide */
        {HQ_GATE_CZ, {2, 1}, 0.05}, /* any gate on the pair, reversed */
        {HQ_GATE_CZ, {0, 3}, 0.08}, /* default for 2 qubits */
        {HQ_GATE_SX, {2, -1}, 0.06},   {HQ_GATE_H, {2, -1}, 0.07},  {HQ_GATE_H, {0, -1}, 0.09},
        {HQ_GATE_RESET, {1, -1}, 0.3}, {HQ_GATE_RESET, {0, -1}, 0}, /* reset takes no gate defaults
                                                                     */
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        hq_noise_channel ch;
        HQ_REQUIRE_OK(hq_noise_gate_channel(m, cases[i].g, cases[i].q, &ch));
        int k = cases[i].q[1] < 0 ? 1 : 2;
        double d = 1 << k;
        HQ_CHECK_EQ_INT(ch.nq, k);
        HQ_CHECKF(fabs(ch.depol - d * cases[i].err / (d - 1)) < 1e-15, "case %zu: λ = %g", i,
                  ch.depol);
        HQ_CHECK(ch.e1[0] == 1 && ch.e2[0] == 1 && ch.time_ns == 0);
    }
    /* replacing an entry keeps the count */
    int n = hq_noise_n_gates(m);
    es[0].error = 0.015;
    HQ_CHECK_OK(hq_noise_set_gate(m, &es[0]));
    HQ_CHECK_EQ_INT(hq_noise_n_gates(m), n);
    HQ_CHECK_NEAR(hq_noise_gate_at(m, 0)->error, 0.015, 0);
    HQ_CHECK(hq_noise_gate_at(m, n) == NULL);
    hq_noise_free(m);
}

HQ_TEST(noise_qubit_defaults_and_channels) {
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(3, &m));
    hq_noise_qubit def = hq_noise_qubit_unset(), q1 = hq_noise_qubit_unset(), v;
    def.t1_us = 100;
    def.t2_us = 80;
    def.prob_meas0_prep1 = 0.03;
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &def));
    q1.t1_us = 50; /* T2 from the default: 80 <= 100, fine */
    q1.prob_meas1_prep0 = 0.01;
    q1.excited_population = 0.1;
    HQ_CHECK_OK(hq_noise_set_qubit(m, 1, &q1));
    HQ_CHECK_OK(hq_noise_get_qubit(m, 1, &v));
    HQ_CHECK(v.t1_us == 50 && v.t2_us == 80 && v.prob_meas0_prep1 == 0.03 &&
             v.prob_meas1_prep0 == 0.01 && v.excited_population == 0.1);
    HQ_CHECK_OK(hq_noise_get_qubit(m, 2, &v));
    HQ_CHECK(v.t1_us == 100 && v.t2_us == 80 && v.prob_meas1_prep0 == 0 &&
             v.excited_population == 0);
    /* nothing set: T1 infinite, T2 = 2 T1 */
    hq_noise_model *g;
    HQ_REQUIRE_OK(hq_noise_create(0, &g));
    HQ_CHECK_OK(hq_noise_get_qubit(g, 12345, &v));
    HQ_CHECK(isinf(v.t1_us) && isinf(v.t2_us) && v.prob_meas0_prep1 == 0);
    hq_noise_free(g);

    /* a 2-qubit gate: relaxation factors of each operand over the duration */
    hq_noise_gate e = gate_entry(HQ_GATE_CX, 2, 1, 2, 0.02, 300);
    HQ_CHECK_OK(hq_noise_set_gate(m, &e));
    hq_noise_channel ch;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){2, 1}, &ch));
    HQ_CHECK_NEAR(ch.time_ns, 300, 0);
    HQ_CHECK_NEAR(ch.e1[0], exp(-0.3 / 100), 1e-16);
    HQ_CHECK_NEAR(ch.e2[0], exp(-0.3 / 80), 1e-16);
    HQ_CHECK_NEAR(ch.e1[1], exp(-0.3 / 50), 1e-16);
    HQ_CHECK_NEAR(ch.pe[1], 0.1, 0);
    HQ_CHECK_NEAR(ch.depol, hq_noise_depol_for_error(0.02, 2, ch.e1, ch.e2), 1e-16);
    HQ_CHECK(ch.depol > 0 && ch.depol < 0.02 * 4 / 3);
    double p01, p10;
    HQ_CHECK_OK(hq_noise_readout(m, 1, &p01, &p10));
    HQ_CHECK(p01 == 0.03 && p10 == 0.01);
    hq_noise_free(m);
}

HQ_TEST(noise_scale_monotone_and_zero) {
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(2, &m));
    hq_noise_qubit q = hq_noise_qubit_unset();
    q.t1_us = 30;
    q.t2_us = 20;
    q.prob_meas0_prep1 = 0.3;
    q.prob_meas1_prep0 = 0.6; /* above 1/2: kept at s = 1, never increased */
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &q));
    hq_noise_gate e = gate_entry(HQ_GATE_CX, 0, -1, -1, 0.1, 400);
    HQ_CHECK_OK(hq_noise_set_gate(m, &e));
    hq_noise_gate broken = gate_entry(HQ_GATE_CZ, 0, -1, -1, 0.8, 0); /* λ = 16/15 > 1 */
    HQ_CHECK_OK(hq_noise_set_gate(m, &broken));
    double last_l = -1, last_e1 = 2, last_p01 = -1, last_lb = -1;
    const double scales[] = {0, 0.1, 0.5, 1, 2, 5, 50, 1e6};
    for (size_t i = 0; i < HQ_ARRAY_LEN(scales); i++) {
        HQ_CHECK_OK(hq_noise_set_scale(m, scales[i]));
        HQ_CHECK(hq_noise_scale(m) == scales[i]);
        hq_noise_channel ch, cb;
        double p01, p10;
        HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){0, 1}, &ch));
        HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CZ, (int[]){0, 1}, &cb));
        HQ_CHECK_OK(hq_noise_readout(m, 0, &p01, &p10));
        if (scales[i] == 0) {
            HQ_CHECK(ch.depol == 0 && ch.e1[0] == 1 && ch.e2[1] == 1 && ch.time_ns == 0);
            HQ_CHECK(p01 == 0 && p10 == 0 && cb.depol == 0);
        }
        HQ_CHECK(ch.depol >= last_l && ch.e1[0] <= last_e1 && p01 >= last_p01 &&
                 cb.depol >= last_lb);
        HQ_CHECK(ch.depol <= 1 && p01 <= 0.5 && p10 <= 0.6 && cb.depol <= 16.0 / 15);
        if (scales[i] == 1) HQ_CHECK(p10 == 0.6 && p01 == 0.3 && cb.depol == 16.0 / 15);
        if (scales[i] > 1) HQ_CHECK(p10 == 0.6 && cb.depol == 16.0 / 15);
        last_l = ch.depol;
        last_e1 = ch.e1[0];
        last_p01 = p01;
        last_lb = cb.depol;
    }
    HQ_CHECK(last_l == 1 && last_p01 == 0.5 && last_e1 == 0);
    HQ_CHECK_FAILS(hq_noise_set_scale(m, -1), HQ_ERR_INVALID_ARG, "scale = -1 out of range");
    HQ_CHECK_FAILS(hq_noise_set_scale(m, NAN), HQ_ERR_INVALID_ARG, "out of range [0, 1e6]");
    hq_noise_free(m);
}

/* ==== JSON ============================================================================== */

static const char *EXAMPLE =
    "{\"format\": \"hqcnn-noise-model\", \"version\": 1, \"name\": \"example\",\n"
    " \"n_qubits\": 3, \"scale\": 0.5,\n"
    " \"defaults\": {\"qubit\": {\"t1_us\": 100, \"t2_us\": 70.5, \"prob_meas0_prep1\": 0.02,\n"
    "                          \"prob_meas1_prep0\": 0.01},\n"
    "              \"gate_1q\": {\"error\": 3e-4, \"duration_ns\": 35.5},\n"
    "              \"gate_2q\": {\"error\": 0.008, \"duration_ns\": 300}},\n"
    " \"qubits\": [{\"t1_us\": 120.25, \"t2_us\": 200}, {\"t1_us\": null, \"t2_us\": null},\n"
    "             {\"t1_us\": null, \"t2_us\": 40,\n"
    "             \"excited_population\": 0.05}],\n"
    " \"gates\": [{\"gate\": \"cx\", \"qubits\": [0, 1], \"error\": 0.0071, \"duration_ns\": "
    "277.3},\n"
    "           {\"gate\": \"rz\", \"error\": 0, \"duration_ns\": 0},\n"
    "           {\"gate\": \"*\", \"qubits\": [2], \"error\": 0.1234567890123, \"duration_ns\": "
    "40},\n"
    "           {\"gate\": \"reset\", \"qubits\": [1], \"error\": 0, \"duration_ns\": 5000}]}\n";

HQ_TEST(noise_json_roundtrip) {
    hq_noise_model *m, *m2;
    HQ_REQUIRE_OK(hq_noise_from_json(EXAMPLE, &m));
    HQ_CHECK_STR(hq_noise_name(m), "example");
    HQ_CHECK_EQ_INT(hq_noise_n_qubits(m), 3);
    HQ_CHECK(hq_noise_scale(m) == 0.5);
    HQ_CHECK_EQ_INT(hq_noise_n_gates(m), 4);
    hq_noise_qubit v;
    HQ_CHECK_OK(hq_noise_get_qubit(m, 0, &v));
    HQ_CHECK(v.t1_us == 120.25 && v.t2_us == 200);
    HQ_CHECK_OK(hq_noise_get_qubit(m, 2, &v));
    HQ_CHECK(isinf(v.t1_us) && v.t2_us == 40 && v.excited_population == 0.05 &&
             v.prob_meas0_prep1 == 0.02);
    HQ_CHECK_OK(hq_noise_get_qubit(m, 1, &v)); /* null = infinite, not the default */
    HQ_CHECK(isinf(v.t1_us) && isinf(v.t2_us) && v.prob_meas1_prep0 == 0.01);
    const hq_noise_gate *g = hq_noise_gate_at(m, 2);
    HQ_REQUIRE(g);
    HQ_CHECK(g->gate == HQ_NOISE_ANY_GATE && g->nq == 1 && g->q[0] == 2 &&
             g->error == 0.1234567890123);

    hq_sbuf a = HQ_SBUF_INIT, b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_noise_to_json(m, &a));
    HQ_REQUIRE_OK(hq_noise_from_json(a.p, &m2));
    HQ_CHECK_OK(hq_noise_to_json(m2, &b));
    HQ_CHECK_STR(a.p, b.p);
    /* channels agree on every op kind */
    const hq_gate gs[] = {HQ_GATE_CX, HQ_GATE_CZ, HQ_GATE_H, HQ_GATE_RZ, HQ_GATE_RESET};
    for (size_t i = 0; i < HQ_ARRAY_LEN(gs); i++) {
        hq_noise_channel c1, c2;
        HQ_CHECK_OK(hq_noise_gate_channel(m, gs[i], (int[]){2, 1}, &c1));
        HQ_CHECK_OK(hq_noise_gate_channel(m2, gs[i], (int[]){2, 1}, &c2));
        HQ_CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    }
    /* save / load through a file, and a copy */
    const char *path = hq_test_tmpfile("model.json");
    HQ_CHECK_OK(hq_noise_save_json(m, path));
    hq_noise_model *m3, *m4;
    HQ_REQUIRE_OK(hq_noise_load_json(path, &m3));
    HQ_REQUIRE_OK(hq_noise_copy(m3, &m4));
    hq_sbuf_reset(&b);
    HQ_CHECK_OK(hq_noise_to_json(m4, &b));
    HQ_CHECK_STR(a.p, b.p);
    hq_sbuf_free(&a);
    hq_sbuf_free(&b);
    hq_noise_free(m);
    hq_noise_free(m2);
    hq_noise_free(m3);
    hq_noise_free(m4);

    /* minimal model: only the format */
    HQ_REQUIRE_OK(hq_noise_from_json("{\"format\": \"hqcnn-noise-model\"}", &m));
    HQ_CHECK_EQ_INT(hq_noise_n_qubits(m), 0);
    hq_noise_channel ch;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CCX, (int[]){0, 1, 2}, &ch));
    HQ_CHECK(ch.depol == 0 && ch.e1[2] == 1);
    hq_noise_free(m);
}

HQ_TEST(noise_json_errors) {
    struct {
        const char *json;
        hq_status st;
        const char *msg;
    } cases[] = {
        {"{\"format\": \"hqcnn-noise-model\",", HQ_ERR_PARSE, "malformed JSON at line 1"},
        {"[1]", HQ_ERR_PARSE, "the top level must be an object"},
        {"{}", HQ_ERR_PARSE, "format is missing"},
        {"{\"format\": \"qiskit\"}", HQ_ERR_PARSE, "format must be \"hqcnn-noise-model\""},
        {"{\"format\": \"hqcnn-noise-model\", \"version\": 2}", HQ_ERR_INVALID_ARG,
         "only version 1"},
        {"{\"format\": \"hqcnn-noise-model\", \"nqubits\": 2}", HQ_ERR_PARSE,
         "unknown field 'nqubits'"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": -1}", HQ_ERR_INVALID_ARG,
         "n_qubits = -1 out of range"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2.5}", HQ_ERR_PARSE,
         "n_qubits must be an integer"},
        {"{\"format\": \"hqcnn-noise-model\", \"name\": 3}", HQ_ERR_PARSE, "name must be a string"},
        {"{\"format\": \"hqcnn-noise-model\", \"scale\": -2}", HQ_ERR_INVALID_ARG,
         "scale = -2 out of range"},
        {"{\"format\": \"hqcnn-noise-model\", \"scale\": \"x\"}", HQ_ERR_PARSE,
         "scale must be a number"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": []}", HQ_ERR_PARSE,
         "defaults must be an object"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"gate1q\": {}}}", HQ_ERR_PARSE,
         "unknown field 'defaults.gate1q'"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"qubit\": {\"t1\": 5}}}",
         HQ_ERR_PARSE, "unknown field 'defaults.qubit.t1'"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"qubit\": {\"t1_us\": 50, "
         "\"t2_us\": 101}}}",
         HQ_ERR_INVALID_ARG, "defaults.qubit.t2_us = 101 exceeds 2*T1 = 100"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"gate_2q\": {\"error\": 0.9, "
         "\"duration_ns\": 1}}}",
         HQ_ERR_INVALID_ARG, "defaults.gate_2q.error = 0.9 out of range [0, 0.8]"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"gate_1q\": {\"error\": 0.1}}}",
         HQ_ERR_PARSE, "defaults.gate_1q.duration_ns is missing"},
        {"{\"format\": \"hqcnn-noise-model\", \"defaults\": {\"gate_3q\": {\"error\": 0.1, "
         "\"duration_ns\": -5}}}",
         HQ_ERR_INVALID_ARG, "defaults.gate_3q.duration_ns = -5 must be finite and >= 0"},
        {"{\"format\": \"hqcnn-noise-model\", \"qubits\": [{}]}", HQ_ERR_INVALID_ARG,
         "qubits has 1 entries but n_qubits is 0"},
        {"{\"format\": \"hqcnn-noise-model\", \"qubits\": {}}", HQ_ERR_PARSE,
         "qubits must be an array"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2, \"qubits\": [{}, 5]}", HQ_ERR_PARSE,
         "qubits[1] must be an object"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2, \"qubits\": [{\"t1_us\": -3}]}",
         HQ_ERR_INVALID_ARG, "qubits[0].t1_us = -3 must be > 0"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2, \"qubits\": [{}, {\"t2_us\": 0}]}",
         HQ_ERR_INVALID_ARG, "qubits[1].t2_us = 0 must be > 0"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2, \"qubits\": [{\"t1_us\": \"a\"}]}",
         HQ_ERR_PARSE, "qubits[0].t1_us must be a number or null"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 1, \"qubits\": [{\"t1_us\": 10, "
         "\"t2_us\": 30}]}",
         HQ_ERR_INVALID_ARG, "qubits[0].t2_us = 30 exceeds 2*T1 = 20"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 1, \"qubits\": "
         "[{\"prob_meas0_prep1\": 1.5}]}",
         HQ_ERR_INVALID_ARG, "qubits[0].prob_meas0_prep1 = 1.5 out of range [0, 1]"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 1, \"qubits\": "
         "[{\"prob_meas1_prep0\": null}]}",
         HQ_ERR_PARSE, "qubits[0].prob_meas1_prep0 must be a number"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 1, \"qubits\": "
         "[{\"excited_population\": -0.1}]}",
         HQ_ERR_INVALID_ARG, "qubits[0].excited_population = -0.1 out of range"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": {}}", HQ_ERR_PARSE,
         "gates must be an array"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [3]}", HQ_ERR_PARSE,
         "gates[0] must be an object"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_PARSE, "gates[0].gate is missing"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": 1}]}", HQ_ERR_PARSE,
         "gates[0].gate must be a string"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"cxx\", \"error\": 0, "
         "\"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].gate: unknown gate 'cxx'"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"measure\", \"error\": 0, "
         "\"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].gate 'measure' cannot carry gate noise"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"cx\", \"qubits\": [0], "
         "\"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].qubits: 'cx' acts on 2 qubit(s), got 1"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"cx\", \"qubits\": [], "
         "\"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_PARSE, "gates[0].qubits must be an array of 1 to 3"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"cx\", \"qubits\": [0, "
         "0.5], \"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_PARSE, "gates[0].qubits[1] must be an integer"},
        {"{\"format\": \"hqcnn-noise-model\", \"n_qubits\": 2, \"gates\": [{\"gate\": \"cx\", "
         "\"qubits\": [0, 2], \"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].qubits[1] = 2 out of range [0, 2)"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"cx\", \"qubits\": [1, 1], "
         "\"error\": 0, \"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].qubits: qubit 1 appears twice"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"*\", \"error\": 0, "
         "\"duration_ns\": 0}]}",
         HQ_ERR_PARSE, "gates[0].qubits is missing"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"h\", \"duration_ns\": 0}]}",
         HQ_ERR_PARSE, "gates[0].error is missing"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"h\", \"error\": 0.7, "
         "\"duration_ns\": 0}]}",
         HQ_ERR_INVALID_ARG, "gates[0].error = 0.7 out of range [0, 0.6667]"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"h\", \"error\": 0, "
         "\"duration_ns\": \"5\"}]}",
         HQ_ERR_PARSE, "gates[0].duration_ns must be a number"},
        {"{\"format\": \"hqcnn-noise-model\", \"gates\": [{\"gate\": \"h\", \"error\": 0, "
         "\"duration_ns\": 1, \"time\": 3}]}",
         HQ_ERR_PARSE, "unknown field 'gates[0].time'"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        hq_noise_model *m = (hq_noise_model *)&cases[i];
        HQ_CHECK_FAILS(hq_noise_from_json(cases[i].json, &m), cases[i].st, cases[i].msg);
        HQ_CHECK(m == NULL);
    }
    hq_noise_model *m;
    HQ_CHECK_FAILS(hq_noise_from_json(NULL, &m), HQ_ERR_INVALID_ARG, "json is NULL");
    HQ_CHECK_FAILS(hq_noise_from_json("{}", NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_noise_load_json("/nonexistent/model.json", &m), HQ_ERR_NOT_FOUND,
                   "/nonexistent/model.json");
    const char *bad = hq_test_write_file("bad.json", "{\"format\": 1}", 13);
    HQ_CHECK_FAILS(hq_noise_load_json(bad, &m), HQ_ERR_PARSE, "bad.json");
    /* line and column of a syntax error */
    HQ_CHECK_FAILS(hq_noise_from_json("{\n  \"format\": \"hqcnn-noise-model\",\n  x\n}", &m),
                   HQ_ERR_PARSE, "line 3, column");
}

/* ==== device conversion ================================================================= */

/* A hand-built 3-qubit device (the struct is public plain data). */
typedef struct fake_device {
    hq_device d;
    hq_device_qubit q[3];
    hq_device_gate g[16];
    int edges[2][2];
} fake_device;

static void fake_init(fake_device *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->d.name, sizeof f->d.name, "fake_tri");
    snprintf(f->d.calibration_id, sizeof f->d.calibration_id, "2025-01-01");
    f->d.n_qubits = 3;
    f->d.basis[0] = HQ_GATE_CX;
    f->d.basis[1] = HQ_GATE_SX;
    f->d.basis[2] = HQ_GATE_RZ;
    f->d.n_basis = 3;
    f->d.qubits = f->q;
    f->d.gates = f->g;
    f->d.edges = f->edges;
    f->d.dt_ns = NAN;
    /* q0 ordinary; q1 T2 > 2 T1 (clipped), readout only as readout_error; q2 no T1/T2 */
    f->q[0] = (hq_device_qubit){100, 80, 5, 0.03, 0.04, 0.02, 1000};
    f->q[1] = (hq_device_qubit){40, 95, 5, 0.05, NAN, NAN, 1000};
    f->q[2] = (hq_device_qubit){NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    int k = 0;
    for (int q = 0; q < 3; q++) {
        f->g[k++] = (hq_device_gate){HQ_GATE_SX, 1, {q, -1}, 1e-4 * (q + 1), 35};
        f->g[k++] = (hq_device_gate){HQ_GATE_RZ, 1, {q, -1}, 0, 0};
    }
    f->g[k++] = (hq_device_gate){HQ_GATE_CX, 2, {0, 1}, 0.01, 300};
    f->g[k++] = (hq_device_gate){HQ_GATE_CX, 2, {1, 2}, 1.0, 500}; /* broken: clipped */
    f->g[k++] = (hq_device_gate){HQ_GATE_CX, 2, {2, 1}, 0.02, NAN};
    f->g[k++] = (hq_device_gate){HQ_GATE_RESET, 1, {0, -1}, NAN, 5000};
    f->g[k++] = (hq_device_gate){HQ_GATE_MEASURE, 1, {0, -1}, 0.1, 1000}; /* ignored */
    f->d.n_gates = k;
    f->edges[0][0] = 0, f->edges[0][1] = 1, f->edges[1][0] = 1, f->edges[1][1] = 2;
    f->d.n_edges = 2;
}

HQ_TEST(noise_from_hand_built_device) {
    fake_device f;
    fake_init(&f);
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(&f.d, &m));
    HQ_CHECK_STR(hq_noise_name(m), "fake_tri 2025-01-01");
    HQ_CHECK_EQ_INT(hq_noise_n_qubits(m), 3);
    hq_noise_qubit v;
    HQ_CHECK_OK(hq_noise_get_qubit(m, 0, &v));
    HQ_CHECK(v.t1_us == 100 && v.t2_us == 80 && v.prob_meas0_prep1 == 0.04 &&
             v.prob_meas1_prep0 == 0.02 && v.excited_population == 0);
    HQ_CHECK_OK(hq_noise_get_qubit(m, 1, &v));
    HQ_CHECK(v.t1_us == 40 && v.t2_us == 80); /* clipped to 2 T1 */
    HQ_CHECK(v.prob_meas0_prep1 == 0.05 && v.prob_meas1_prep0 == 0.05);
    HQ_CHECK_OK(hq_noise_get_qubit(m, 2, &v));
    HQ_CHECK(isinf(v.t1_us) && isinf(v.t2_us) && v.prob_meas0_prep1 == 0);

    hq_noise_channel ch;
    /* calibrated sx on q1: relaxation over 35 ns, λ from the error */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_SX, (int[]){1}, &ch));
    HQ_CHECK_NEAR(ch.e1[0], exp(-0.035 / 40), 1e-16);
    HQ_CHECK_NEAR(ch.e2[0], exp(-0.035 / 80), 1e-16);
    HQ_CHECK_NEAR(ch.depol, hq_noise_depol_for_error(2e-4, 1, ch.e1, ch.e2), 1e-17);
    /* rz: listed with 0/0: no noise at all; z/s/t/p/u1: virtual, no noise */
    const hq_gate virt[] = {HQ_GATE_RZ, HQ_GATE_Z, HQ_GATE_S, HQ_GATE_TDG, HQ_GATE_P, HQ_GATE_U1};
    for (size_t i = 0; i < HQ_ARRAY_LEN(virt); i++) {
        double par[1] = {0.3};
        HQ_CHECK_OK(hq_noise_gate_channel(m, virt[i], (int[]){0}, &ch));
        HQ_CHECK(ch.depol == 0 && ch.e1[0] == 1 && ch.e2[0] == 1);
        HQ_UNUSED(par);
    }
    /* h on q2: falls back to q2's sx calibration (q2 has no T1/T2: pure depolarizing) */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_H, (int[]){2}, &ch));
    HQ_CHECK_NEAR(ch.depol, 2 * 3e-4, 1e-16);
    /* broken coupler: error 1 clipped to 4/5 -> λ >= 1 (with relaxation it saturates) */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){1, 2}, &ch));
    HQ_CHECK(ch.depol >= 1 && ch.depol <= 16.0 / 15);
    /* cx (2,1): listed with error 0.02 and no length: exact entry wins over the reverse */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){2, 1}, &ch));
    HQ_CHECK_NEAR(ch.depol, 4 * 0.02 / 3, 1e-16);
    HQ_CHECK(ch.time_ns == 0);
    /* cz on (1, 0): no cz calibration -> the pair's native cx calibration (reversed) */
    hq_noise_channel cx;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CZ, (int[]){1, 0}, &ch));
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){0, 1}, &cx));
    HQ_CHECK_NEAR(ch.depol, cx.depol, 1e-16);
    HQ_CHECK(ch.time_ns == 300);
    /* cz on (0, 2), no coupler: the median of usable cx errors (0.01, 0.02) and lengths (300, 0) */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CZ, (int[]){0, 2}, &ch));
    HQ_CHECK(ch.time_ns == 150);
    /* ccx: the Toffoli estimate 1 − (1−r2)^6 (1−r1)^2, duration 6 t2 + 2 t1 */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CCX, (int[]){2, 1, 0}, &ch));
    HQ_CHECK_NEAR(ch.time_ns, 6 * 150 + 2 * 35, 1e-12);
    HQ_CHECK(ch.depol > 0);
    /* reset: its length, no depolarizing (no error listed) */
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_RESET, (int[]){0}, &ch));
    HQ_CHECK(ch.time_ns == 5000 && ch.depol == 0);
    double p01, p10;
    HQ_CHECK_OK(hq_noise_readout(m, 1, &p01, &p10));
    HQ_CHECK(p01 == 0.05 && p10 == 0.05);
    /* the converted model survives a JSON round trip */
    hq_sbuf a = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_noise_to_json(m, &a));
    hq_noise_model *m2;
    HQ_REQUIRE_OK(hq_noise_from_json(a.p, &m2));
    hq_noise_channel c2;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CCX, (int[]){0, 1, 2}, &ch));
    HQ_CHECK_OK(hq_noise_gate_channel(m2, HQ_GATE_CCX, (int[]){0, 1, 2}, &c2));
    HQ_CHECK(memcmp(&ch, &c2, sizeof ch) == 0);
    hq_sbuf_free(&a);
    hq_noise_free(m2);
    hq_noise_free(m);

    /* bad devices */
    HQ_CHECK_FAILS(hq_noise_from_device(NULL, &m), HQ_ERR_INVALID_ARG, "device is NULL");
    HQ_CHECK_FAILS(hq_noise_from_device(&f.d, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    f.d.n_qubits = 0;
    HQ_CHECK_FAILS(hq_noise_from_device(&f.d, &m), HQ_ERR_INVALID_ARG,
                   "device 'fake_tri' has 0 qubits");
    f.d.n_qubits = 3;
    f.d.qubits = NULL;
    HQ_CHECK_FAILS(hq_noise_from_device(&f.d, &m), HQ_ERR_INVALID_ARG, "no qubit or gate arrays");
}

/* ==== example models ==================================================================== */

HQ_TEST(noise_example_configs_load) {
    DIR *dir = opendir("configs/noise");
    HQ_REQUIRE(dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json")) continue;
        char path[512];
        snprintf(path, sizeof path, "configs/noise/%s", de->d_name);
        hq_noise_model *m;
        hq_status st = hq_noise_load_json(path, &m);
        HQ_CHECKF(st == HQ_OK, "%s: %s", path, hq_last_error());
        if (st) continue;
        n++;
        /* a Bell pair under the model stays a physical state and loses purity */
        hq_circuit *c;
        HQ_REQUIRE_OK(hq_circuit_create(&c));
        HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
        HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_SX, (int[]){0}, NULL));
        HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
        hq_dm *dm;
        HQ_REQUIRE_OK(hq_dm_create(2, &dm));
        HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, m, NULL, false));
        double pur, tr;
        HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
        HQ_CHECK_OK(hq_dm_calc_trace(dm, &tr));
        HQ_CHECKF(pur < 1 - 1e-6 && pur > 0.5, "%s: purity %g", path, pur);
        HQ_CHECK_NEAR(tr, 1, 1e-14);
        hq_dm_free(dm);
        hq_circuit_free(c);
        hq_noise_free(m);
    }
    closedir(dir);
    HQ_CHECK(n >= 2);
}

/* ==== API errors ======================================================================== */

HQ_TEST(noise_bad_inputs) {
    hq_noise_model *m;
    HQ_CHECK_FAILS(hq_noise_create(-1, &m), HQ_ERR_INVALID_ARG, "n_qubits = -1 out of range");
    HQ_CHECK_FAILS(hq_noise_create(HQ_NOISE_MAX_QUBITS + 1, &m), HQ_ERR_INVALID_ARG,
                   "out of range [0, 100000]");
    HQ_CHECK_FAILS(hq_noise_create(1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_REQUIRE_OK(hq_noise_create(2, &m));
    hq_noise_model *bad = (hq_noise_model *)&m;
    HQ_CHECK_FAILS(hq_noise_set_scale(bad, 1), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_noise_copy(NULL, &bad), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_noise_copy(m, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK(hq_noise_n_qubits(NULL) == 0 && !strcmp(hq_noise_name(NULL), "") &&
             isnan(hq_noise_scale(NULL)) && hq_noise_n_gates(NULL) == 0 &&
             hq_noise_gate_at(NULL, 0) == NULL);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    HQ_CHECK_FAILS(hq_noise_set_name(m, longname), HQ_ERR_INVALID_ARG, "at most 127");
    HQ_CHECK_FAILS(hq_noise_set_name(m, NULL), HQ_ERR_INVALID_ARG, "name is NULL");

    hq_noise_qubit v = hq_noise_qubit_unset();
    HQ_CHECK_FAILS(hq_noise_set_qubit(m, 2, &v), HQ_ERR_INVALID_ARG, "qubit 2 out of range [0, 2)");
    HQ_CHECK_FAILS(hq_noise_set_qubit(m, 0, NULL), HQ_ERR_INVALID_ARG, "v is NULL");
    v.t1_us = 10;
    v.t2_us = 25;
    HQ_CHECK_FAILS(hq_noise_set_qubit(m, 0, &v), HQ_ERR_INVALID_ARG,
                   "t2_us = 25 exceeds 2*T1 = 20");
    HQ_CHECK_FAILS(hq_noise_set_default_qubit(m, &v), HQ_ERR_INVALID_ARG, "exceeds 2*T1");
    v.t2_us = 15;
    HQ_CHECK_OK(hq_noise_set_qubit(m, 0, &v));
    hq_noise_qubit d = hq_noise_qubit_unset();
    d.t1_us = 5; /* would make qubit 1 fine, but qubit 0 keeps its own T1 */
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &d));
    hq_noise_qubit q1 = hq_noise_qubit_unset();
    q1.t2_us = 11;
    HQ_CHECK_FAILS(hq_noise_set_qubit(m, 1, &q1), HQ_ERR_INVALID_ARG,
                   "t2_us = 11 exceeds 2*T1 = 10");
    d.t1_us = 100;
    d.t2_us = 150;
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &d));
    d.t2_us = NAN;
    d.t1_us = 5; /* qubit 0 has T2 = 15 of its own... fine; default T2 = 10 */
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &d));
    v = hq_noise_qubit_unset();
    v.t1_us = 200;
    v.t2_us = 300;
    HQ_CHECK_OK(hq_noise_set_qubit(m, 1, &v));
    d.t1_us = 100;
    d.t2_us = 180;
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &d));
    v = hq_noise_qubit_unset();
    v.t2_us = 210; /* with the default T1 = 100 */
    HQ_CHECK_FAILS(hq_noise_set_qubit(m, 1, &v), HQ_ERR_INVALID_ARG,
                   "t2_us = 210 exceeds 2*T1 = 200");
    v.t2_us = 150;
    HQ_CHECK_OK(hq_noise_set_qubit(m, 1, &v));
    d = hq_noise_qubit_unset();
    d.t1_us = 50; /* qubit 1 keeps its T2 = 150 > 2 * 50 */
    HQ_CHECK_FAILS(hq_noise_set_default_qubit(m, &d), HQ_ERR_INVALID_ARG,
                   "qubit 1 would have T2 = 150 us > 2*T1 = 100 us");
    v = hq_noise_qubit_unset();
    v.prob_meas0_prep1 = 2;
    HQ_CHECK_FAILS(hq_noise_set_default_qubit(m, &v), HQ_ERR_INVALID_ARG,
                   "prob_meas0_prep1 = 2 out of range [0, 1]");
    HQ_CHECK_FAILS(hq_noise_set_default_qubit(m, NULL), HQ_ERR_INVALID_ARG, "v is NULL");
    hq_noise_qubit out;
    HQ_CHECK_FAILS(hq_noise_get_qubit(m, 2, &out), HQ_ERR_INVALID_ARG,
                   "physical qubit 2 out of range [0, 2)");
    HQ_CHECK_FAILS(hq_noise_get_qubit(m, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");

    hq_noise_gate e = gate_entry(HQ_GATE_CX, 2, 0, 1, 0.01, 100);
    HQ_CHECK_FAILS(hq_noise_set_gate(m, NULL), HQ_ERR_INVALID_ARG, "e is NULL");
    e.error = 0.85;
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG,
                   "error = 0.85 out of range [0, 0.8]");
    e.error = 0.01;
    e.duration_ns = INFINITY;
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "duration_ns = inf");
    e.duration_ns = 1;
    e.q[1] = 5;
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "qubits[1] = 5 out of range");
    e.nq = 4;
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "nq = 4 out of range [0, 3]");
    e = gate_entry(HQ_GATE_BARRIER, 0, -1, -1, 0, 0);
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "cannot carry gate noise");
    e = gate_entry(HQ_NOISE_ANY_GATE, 0, -1, -1, 0, 0);
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "a '*' entry needs 1 to 3 qubits");
    e.gate = (hq_gate)(HQ_GATE_COUNT + 3);
    HQ_CHECK_FAILS(hq_noise_set_gate(m, &e), HQ_ERR_INVALID_ARG, "not in the gate table");
    HQ_CHECK_FAILS(hq_noise_set_default_gate(m, 0, 0.1, 1), HQ_ERR_INVALID_ARG,
                   "nq = 0 out of range [1, 3]");
    HQ_CHECK_FAILS(hq_noise_set_default_gate(m, 3, 0.95, 1), HQ_ERR_INVALID_ARG,
                   "error = 0.95 out of range [0, 0.8889]");

    hq_noise_channel ch;
    HQ_CHECK_FAILS(hq_noise_gate_channel(m, HQ_GATE_MEASURE, (int[]){0}, &ch), HQ_ERR_INVALID_ARG,
                   "neither a unitary gate nor reset");
    HQ_CHECK_FAILS(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){0, 7}, &ch), HQ_ERR_INVALID_ARG,
                   "physical qubit 7 out of range [0, 2)");
    HQ_CHECK_FAILS(hq_noise_gate_channel(m, HQ_GATE_CX, NULL, &ch), HQ_ERR_INVALID_ARG,
                   "phys is NULL");
    HQ_CHECK_FAILS(hq_noise_gate_channel(NULL, HQ_GATE_CX, (int[]){0, 1}, &ch), HQ_ERR_MISUSE,
                   "invalid handle");
    double p01, p10;
    HQ_CHECK_FAILS(hq_noise_readout(m, -1, &p01, &p10), HQ_ERR_INVALID_ARG,
                   "physical qubit -1 out of range");
    HQ_CHECK_FAILS(hq_noise_readout(m, 0, NULL, &p10), HQ_ERR_INVALID_ARG,
                   "output pointer is NULL");
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_FAILS(hq_noise_to_json(m, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_noise_to_json(NULL, &b), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_noise_save_json(m, NULL), HQ_ERR_INVALID_ARG, "path is NULL");
    HQ_CHECK_FAILS(hq_noise_save_json(m, "/nonexistent/dir/x.json"), HQ_ERR_IO,
                   "saving noise model /nonexistent/dir/x.json");
    hq_sbuf_free(&b);
    hq_noise_free(m);
    HQ_CHECK_FAILS(hq_noise_load_json(NULL, &m), HQ_ERR_INVALID_ARG, "path is NULL");
    hq_noise_free(NULL);
}

HQ_TEST(noise_allocation_failures) {
    fake_device f;
    fake_init(&f);
    for (long n = 1; n < 400; n++) {
        hq_noise_model *m = NULL, *c = NULL, *j = NULL;
        hq_sbuf b = HQ_SBUF_INIT;
        hq_alloc_fail_after(n);
        hq_status st = hq_noise_from_device(&f.d, &m);
        if (!st) st = hq_noise_copy(m, &c);
        if (!st) st = hq_noise_to_json(c, &b);
        if (!st) st = hq_noise_from_json(b.p, &j);
        hq_alloc_fail_after(0);
        hq_sbuf_free(&b);
        hq_noise_free(m);
        hq_noise_free(c);
        hq_noise_free(j);
        if (!st) break;
        HQ_CHECKF(st == HQ_ERR_NOMEM || st == HQ_ERR_PARSE, "n=%ld: %s", n, hq_last_error());
    }
}

/* ==== IBM calibration files ============================================================= */

static hq_device *load_device(const char *name) {
    char conf[512], props[512];
    snprintf(conf, sizeof conf, "%s", hq_test_shared("data/ibm_backends/conf_"));
    snprintf(conf + strlen(conf), sizeof conf - strlen(conf), "%s.json", name);
    snprintf(props, sizeof props, "%s", hq_test_shared("data/ibm_backends/props_"));
    snprintf(props + strlen(props), sizeof props - strlen(props), "%s.json", name);
    hq_device *d = NULL;
    if (hq_device_load_ibm(conf, props, &d))
        hq_test_fail(__FILE__, __LINE__, "loading %s: %s", name, hq_last_error());
    return d;
}

/* Average gate infidelity of the noise after gate g on phys (1 or 2 qubits) of model m,
 * measured on the Choi state (operands entangled with ancillas; the ideal gate undone
 * afterwards): the definition, independent of the λ formula. */
static double measured_infidelity(const hq_noise_model *m, hq_gate g, const int *phys, int k) {
    const int n = 2 * k, d = 1 << k;
    hq_circuit *c;
    hq_dm *dm;
    if (hq_circuit_create(&c) || hq_circuit_add_qreg(c, "q", n, NULL) ||
        hq_circuit_add_gate(c, g, (int[]){0, 1}, NULL) || hq_dm_create(n, &dm))
        return NAN;
    for (int j = 0; j < k; j++) {
        hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){j}, NULL);
        hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){j, k + j}, NULL);
    }
    int layout[4] = {phys[0], k > 1 ? phys[1] : -1, -1, -1};
    /* ancillas: any other physical qubits (their noise is never applied) */
    for (int j = k, cand = 0; j < n; cand++) {
        bool used = false;
        for (int i = 0; i < j; i++) used |= layout[i] == cand;
        if (!used) layout[j++] = cand;
    }
    double fpro = NAN;
    if (hq_dm_apply_circuit(dm, c, NULL, m, layout, false) == HQ_OK) {
        hq_cplx u[16], phi[16] = {0};
        hq_gate_matrix(g, NULL, u);
        /* U^H */
        hq_cplx uh[16];
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) uh[a * d + b] = conj(u[b * d + a]);
        hq_dm_apply_matrix(dm, uh, (int[]){0, 1}, k);
        for (int a = 0; a < d; a++) phi[a | a << k] = 1 / sqrt(d);
        hq_dm_calc_fidelity_pure(dm, phi, &fpro);
    }
    hq_dm_free(dm);
    hq_circuit_free(c);
    return 1 - (d * fpro + 1) / (d + 1);
}

/* Checks every calibrated gate of a device against the conversion rules. */
static void check_device_model(const char *name, int n_qubits, hq_gate g2) {
    hq_device *d = load_device(name);
    HQ_REQUIRE(d);
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(d, &m));
    HQ_CHECK_EQ_INT(hq_noise_n_qubits(m), n_qubits);
    HQ_CHECK(strstr(hq_noise_name(m), d->name) != NULL);
    /* qubits: T1, T2 (<= 2 T1), readout as calibrated */
    for (int q = 0; q < d->n_qubits; q++) {
        hq_noise_qubit v;
        HQ_CHECK_OK(hq_noise_get_qubit(m, q, &v));
        const hq_device_qubit *dq = &d->qubits[q];
        HQ_CHECK(v.t1_us == dq->t1_us);
        HQ_CHECK(v.t2_us == fmin(dq->t2_us, 2 * dq->t1_us));
        HQ_CHECK(v.prob_meas0_prep1 == dq->prob_meas0_prep1 &&
                 v.prob_meas1_prep0 == dq->prob_meas1_prep0 && v.excited_population == 0);
    }
    /* every calibrated gate: relaxation over its length, λ from its error */
    int checked = 0, saturated = 0;
    for (int i = 0; i < d->n_gates; i++) {
        const hq_device_gate *dg = &d->gates[i];
        const hq_gate_info *gi = hq_gate_get_info(dg->gate);
        if (!gi || (gi->kind != HQ_KIND_UNITARY && gi->kind != HQ_KIND_RESET)) continue;
        hq_noise_channel ch;
        HQ_REQUIRE_OK(hq_noise_gate_channel(m, dg->gate, dg->q, &ch));
        double t = isnan(dg->length_ns) ? 0 : dg->length_ns, e1[2], e2[2];
        for (int j = 0; j < dg->nq; j++) {
            const hq_device_qubit *dq = &d->qubits[dg->q[j]];
            e1[j] = exp(-t * 1e-3 / dq->t1_us);
            e2[j] = exp(-t * 1e-3 / fmin(dq->t2_us, 2 * dq->t1_us));
            HQ_CHECK_NEAR(ch.e1[j], e1[j], 1e-15);
            HQ_CHECK_NEAR(ch.e2[j], e2[j], 1e-15);
        }
        double err = isnan(dg->error) ? 0 : dg->error;
        HQ_CHECK_NEAR(ch.depol, hq_noise_depol_for_error(err, dg->nq, e1, e2), 1e-15);
        if (dg->gate == HQ_GATE_RZ) HQ_CHECK(ch.depol == 0 && ch.time_ns == 0);
        if (err >= 0.8) saturated++;
        checked++;
    }
    HQ_CHECK(checked >= 4 * n_qubits);
    /* the calibrated error is met exactly (checked on the Choi state) — or, where the
     * relaxation over the gate's length alone already exceeds it, the relaxation's own
     * infidelity (λ clipped to 0). Checked on the first few sx and native 2-qubit gates
     * until one of each has an error above its relaxation part. */
    int above[2] = {0, 0}, tried[2] = {0, 0};
    for (int i = 0; i < d->n_gates && (!above[0] || !above[1]); i++) {
        const hq_device_gate *dg = &d->gates[i];
        int k = dg->gate == HQ_GATE_SX ? 1 : dg->gate == g2 ? 2 : 0;
        if (!k || dg->error >= 0.5 || above[k - 1] || tried[k - 1] >= 12) continue;
        tried[k - 1]++;
        hq_noise_model *relax;
        HQ_REQUIRE_OK(hq_noise_copy(m, &relax));
        hq_noise_gate z = {dg->gate, k, {dg->q[0], k > 1 ? dg->q[1] : -1, -1}, 0, dg->length_ns};
        HQ_CHECK_OK(hq_noise_set_gate(relax, &z));
        double r = measured_infidelity(m, dg->gate, dg->q, k);
        double r_relax = measured_infidelity(relax, dg->gate, dg->q, k);
        hq_noise_free(relax);
        double want = fmax(dg->error, r_relax);
        HQ_CHECKF(fabs(r - want) <= 1e-12,
                  "%s %s on %d: infidelity %.15g, calibrated %.15g, "
                  "relaxation alone %.15g",
                  name, hq_gate_get_info(dg->gate)->name, dg->q[0], r, dg->error, r_relax);
        if (dg->error > r_relax + 1e-5) above[k - 1] = 1;
    }
    HQ_CHECKF(above[0] && above[1], "%s: no gate with an error above its relaxation part", name);
    if (!strcmp(name, "sherbrooke") || !strcmp(name, "fez")) HQ_CHECK(saturated > 0);
    /* JSON round trip keeps every channel */
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_noise_to_json(m, &b));
    hq_noise_model *m2;
    HQ_REQUIRE_OK(hq_noise_from_json(b.p, &m2));
    for (int i = 0; i < d->n_gates; i += 7) {
        const hq_device_gate *dg = &d->gates[i];
        if (dg->gate == HQ_GATE_MEASURE) continue;
        hq_noise_channel c1, c2;
        HQ_CHECK_OK(hq_noise_gate_channel(m, dg->gate, dg->q, &c1));
        HQ_CHECK_OK(hq_noise_gate_channel(m2, dg->gate, dg->q, &c2));
        HQ_CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    }
    hq_sbuf_free(&b);
    hq_noise_free(m2);
    hq_noise_free(m);
    hq_device_free(d);
}

HQ_TEST(noise_from_ibm_manila) {
    check_device_model("manila", 5, HQ_GATE_CX);
    /* values read off props_manila.json: qubit 0 */
    hq_device *d = load_device("manila");
    HQ_REQUIRE(d);
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(d, &m));
    hq_noise_qubit v;
    HQ_CHECK_OK(hq_noise_get_qubit(m, 0, &v));
    HQ_CHECK(v.t1_us == 131.5286444531517 && v.t2_us == 102.20390054827382);
    HQ_CHECK(v.prob_meas0_prep1 == 0.05479999999999996 && v.prob_meas1_prep0 == 0.0158);
    /* cx 4,3: gate_error 0.005696275468624307, 298.67 ns */
    hq_noise_channel ch;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CX, (int[]){4, 3}, &ch));
    HQ_CHECK_NEAR(ch.time_ns, 298.66666666666663, 1e-9);
    /* (its relaxation over 299 ns with T2 = 40 us on qubit 4 already exceeds the error) */
    HQ_CHECK(ch.depol == 0);
    /* an untranspiled h on qubit 2 takes qubit 2's sx calibration */
    hq_noise_channel sx;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_H, (int[]){2}, &ch));
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_SX, (int[]){2}, &sx));
    HQ_CHECK(memcmp(&ch, &sx, sizeof ch) == 0);
    /* the shipped example model is this conversion */
    hq_noise_model *cfg;
    HQ_REQUIRE_OK(hq_noise_load_json("configs/noise/ibm_manila.json", &cfg));
    for (int i = 0; i < d->n_gates; i++) {
        const hq_device_gate *dg = &d->gates[i];
        if (dg->gate == HQ_GATE_MEASURE) continue;
        hq_noise_channel c1, c2;
        HQ_CHECK_OK(hq_noise_gate_channel(m, dg->gate, dg->q, &c1));
        HQ_CHECK_OK(hq_noise_gate_channel(cfg, dg->gate, dg->q, &c2));
        HQ_CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    }
    for (int q = 0; q < 5; q++) {
        double a0, a1, b0, b1;
        HQ_CHECK_OK(hq_noise_readout(m, q, &a0, &a1));
        HQ_CHECK_OK(hq_noise_readout(cfg, q, &b0, &b1));
        HQ_CHECK(a0 == b0 && a1 == b1);
    }
    hq_noise_free(cfg);
    hq_noise_free(m);
    hq_device_free(d);
}

HQ_TEST(noise_from_ibm_nairobi) { check_device_model("nairobi", 7, HQ_GATE_CX); }

HQ_TEST(noise_from_ibm_sherbrooke) {
    check_device_model("sherbrooke", 127, HQ_GATE_ECR);
    hq_device *d = load_device("sherbrooke");
    HQ_REQUIRE(d);
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(d, &m));
    /* ecr 8,9 is marked broken (gate_error 1): clipped, fully depolarizing */
    hq_noise_channel ch;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_ECR, (int[]){8, 9}, &ch));
    HQ_CHECK(ch.depol >= 1 && ch.depol <= 16.0 / 15);
    /* a 4-qubit circuit placed on physical qubits [3, 5, 8, 9] gets their noise */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 4, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_SX, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_ECR, (int[]){2, 3}, NULL));
    const int layout[4] = {3, 5, 8, 9};
    hq_dm *dm;
    HQ_REQUIRE_OK(hq_dm_create(4, &dm));
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, m, layout, false));
    /* qubits 2, 3 went through the broken coupler: maximally mixed pair */
    double mg[4];
    HQ_CHECK_OK(hq_dm_calc_marginal(dm, (int[]){2, 3}, 2, mg));
    for (int i = 0; i < 4; i++) HQ_CHECK_NEAR(mg[i], 0.25, 0.03);
    hq_counts cnt;
    HQ_CHECK_OK(hq_dm_run(c, NULL, m, layout, 1000, 3, 0, &cnt));
    HQ_CHECK_EQ_INT(cnt.shots, 1000);
    hq_counts_free(&cnt);
    HQ_CHECK_FAILS(hq_dm_run(c, NULL, m, (int[]){3, 5, 8, 127}, 10, 1, 0, &cnt), HQ_ERR_INVALID_ARG,
                   "layout[3] = 127 out of range [0, 127)");
    hq_dm_free(dm);
    hq_circuit_free(c);
    hq_noise_free(m);
    hq_device_free(d);
}

HQ_TEST(noise_from_ibm_fez) {
    check_device_model("fez", 156, HQ_GATE_CZ);
    hq_device *d = load_device("fez");
    HQ_REQUIRE(d);
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(d, &m));
    /* qubit 87: T1 27.1485117609998 us, T2 56.838717300148794 us > 2 T1: clipped */
    hq_noise_qubit v;
    HQ_CHECK_OK(hq_noise_get_qubit(m, 87, &v));
    HQ_CHECK(v.t1_us == 27.1485117609998 && v.t2_us == 2 * 27.1485117609998);
    /* fractional gates carry their own calibration */
    hq_noise_channel rzz, cz;
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_RZZ, (int[]){72, 73}, &rzz));
    HQ_CHECK_OK(hq_noise_gate_channel(m, HQ_GATE_CZ, (int[]){72, 73}, &cz));
    HQ_CHECK(rzz.depol > 0 && rzz.depol != cz.depol);
    hq_noise_free(m);
    hq_device_free(d);
}
