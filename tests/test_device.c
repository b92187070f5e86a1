/*
 * tests/test_device.c — backends/device: loading the real IBM configuration + properties
 * snapshots in ../shared/data/ibm_backends (values read off the JSON files by hand), unit
 * conversion, hand building, and every error path of the loader.
 */
#include <math.h>
#include <string.h>

#include "backends/device.h"
#include "tests/hq_test.h"

static hq_device *load(const char *name) {
    char conf[512], props[512];
    snprintf(conf, sizeof conf, "%s", hq_test_shared("data/ibm_backends/conf_"));
    snprintf(conf + strlen(conf), sizeof conf - strlen(conf), "%s.json", name);
    snprintf(props, sizeof props, "%s", hq_test_shared("data/ibm_backends/props_"));
    snprintf(props + strlen(props), sizeof props - strlen(props), "%s.json", name);
    hq_device *d = NULL;
    hq_status st = hq_device_load_ibm(conf, props, &d);
    if (st) hq_test_fail(__FILE__, __LINE__, "loading %s: %s", name, hq_last_error());
    return d;
}

HQ_TEST(device_load_manila) {
    hq_device *d = load("manila");
    HQ_REQUIRE(d);
    HQ_CHECK_STR(d->name, "ibmq_manila");
    HQ_CHECK_STR(d->version, "1.2.6");
    HQ_CHECK_STR(d->calibration_id, "2024-05-27T15:27:23-03:00");
    HQ_CHECK_EQ_INT(d->n_qubits, 5);
    HQ_CHECK_EQ_INT(d->n_edges, 8);
    HQ_CHECK_EQ_INT(d->max_shots, 100000);
    HQ_CHECK_EQ_INT(d->max_experiments, 300);
    HQ_CHECK_NEAR(d->dt_ns, 0.2222222222222222, 1e-15);
    /* basis cx id rz sx x: all five known */
    HQ_CHECK_EQ_INT(d->n_basis, 5);
    HQ_CHECK(hq_device_supports(d, HQ_GATE_CX));
    HQ_CHECK(hq_device_supports(d, HQ_GATE_ID));
    HQ_CHECK(hq_device_supports(d, HQ_GATE_RZ));
    HQ_CHECK(hq_device_supports(d, HQ_GATE_SX));
    HQ_CHECK(hq_device_supports(d, HQ_GATE_X));
    HQ_CHECK(!hq_device_supports(d, HQ_GATE_CZ));
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_CX);
    /* line 0-1-2-3-4, both directions */
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            HQ_CHECK(hq_device_has_edge(d, a, b) == (a - b == 1 || b - a == 1));
    /* qubit 0: T1 131.5286444531517 us, T2 102.20390054827382 us, 4.962356469801913 GHz,
     * readout_error 0.0353, P(0|1) 0.05479999999999996, P(1|0) 0.0158, 5351.11111111111 ns */
    const hq_device_qubit *q = &d->qubits[0];
    HQ_CHECK_NEAR(q->t1_us, 131.5286444531517, 1e-12);
    HQ_CHECK_NEAR(q->t2_us, 102.20390054827382, 1e-12);
    HQ_CHECK_NEAR(q->frequency_ghz, 4.962356469801913, 1e-14);
    HQ_CHECK_NEAR(q->readout_error, 0.0353, 1e-15);
    HQ_CHECK_NEAR(q->prob_meas0_prep1, 0.05479999999999996, 1e-15);
    HQ_CHECK_NEAR(q->prob_meas1_prep0, 0.0158, 1e-15);
    HQ_CHECK_NEAR(q->readout_length_ns, 5351.11111111111, 1e-9);
    HQ_CHECK_NEAR(d->qubits[4].t1_us, 144.67316223194067, 1e-12);
    HQ_CHECK_NEAR(d->qubits[4].readout_error, 0.01859999999999995, 1e-15);
    /* gates: cx0_1 0.008827712070629129 / 277.33 ns; cx1_0 same error, 312.89 ns */
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_CX, 0, 1), 0.008827712070629129, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CX, 0, 1), 277.3333333333333, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CX, 1, 0), 312.88888888888886, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_CX, 4, 3), 0.005696275468624307, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_SX, 0, -1), 0.00015506593900605392, 1e-16);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_SX, 0, -1), 35.55555555555556, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_X, 3, -1), 0.00021221916498544087, 1e-16);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_RZ, 0, -1), 0, 0);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_RESET, 0, -1), 5514.666666666666, 1e-9);
    HQ_CHECK(isnan(hq_device_gate_error(d, HQ_GATE_RESET, 0, -1)));
    HQ_CHECK(isnan(hq_device_gate_error(d, HQ_GATE_CX, 0, 2))); /* not an edge */
    HQ_CHECK(isnan(hq_device_gate_error(d, HQ_GATE_CZ, 0, 1))); /* not calibrated */
    hq_device_free(d);
}

HQ_TEST(device_load_nairobi) {
    hq_device *d = load("nairobi");
    HQ_REQUIRE(d);
    HQ_CHECK_STR(d->name, "ibm_nairobi");
    HQ_CHECK_EQ_INT(d->n_qubits, 7);
    HQ_CHECK_EQ_INT(d->n_edges, 12);
    HQ_CHECK_NEAR(d->qubits[0].t1_us, 89.11932005215351, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].t2_us, 15.788112289256514, 1e-12);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_CX, 1, 0), 0.008594115909420164, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CX, 1, 0), 284.44444444444446, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_CX, 6, 5), 0.010660006612845774, 1e-15);
    hq_device_free(d);
}

HQ_TEST(device_load_sherbrooke_ecr_direction) {
    hq_device *d = load("sherbrooke");
    HQ_REQUIRE(d);
    HQ_CHECK_STR(d->name, "ibm_sherbrooke");
    HQ_CHECK_STR(d->version, "1.6.58");
    HQ_CHECK_STR(d->calibration_id, "2025-02-26T14:43:10-05:00");
    HQ_CHECK_EQ_INT(d->n_qubits, 127);
    HQ_CHECK_EQ_INT(d->n_edges, 144);
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_ECR);
    /* ecr41_40 is listed, ecr40_41 is not: the map is directed */
    HQ_CHECK(hq_device_has_edge(d, 41, 40));
    HQ_CHECK(!hq_device_has_edge(d, 40, 41));
    int sym = 0;
    for (int i = 0; i < d->n_edges; i++)
        sym += hq_device_has_edge(d, d->edges[i][1], d->edges[i][0]);
    HQ_CHECK_EQ_INT(sym, 0);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_ECR, 41, 40), 0.007986948615168243, 1e-15);
    /* the reverse direction falls back to the listed one */
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_ECR, 40, 41), 0.007986948615168243, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_ECR, 41, 40), 533.3333333333333, 1e-9);
    HQ_CHECK_NEAR(d->qubits[0].t1_us, 381.5685857300125, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].readout_length_ns, 1216, 0);
    HQ_CHECK_NEAR(d->qubits[126].t1_us, 261.8181514271377, 1e-12);
    hq_device_free(d);
}

HQ_TEST(device_load_fez) {
    hq_device *d = load("fez");
    HQ_REQUIRE(d);
    HQ_CHECK_STR(d->name, "ibm_fez");
    HQ_CHECK_EQ_INT(d->n_qubits, 156);
    HQ_CHECK_EQ_INT(d->n_edges, 352);
    HQ_CHECK_NEAR(d->dt_ns, 4.0, 0);
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_CZ);
    HQ_CHECK(hq_device_has_edge(d, 72, 73) && hq_device_has_edge(d, 73, 72));
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_CZ, 72, 73), 0.027903006224195892, 1e-15);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CZ, 73, 72), 84, 0);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_SX, 155, -1), 0.0001759903010161859, 1e-16);
    /* Heron props carry no frequency: stays NAN */
    HQ_CHECK_NEAR(d->qubits[0].t1_us, 48.806207822303335, 1e-12);
    HQ_CHECK(isnan(d->qubits[0].frequency_ghz));
    HQ_CHECK_NEAR(d->qubits[155].t2_us, 19.209611095853795, 1e-12);
    /* rzz / rx are calibrated in props but not in the basis */
    HQ_CHECK(!hq_device_supports(d, HQ_GATE_RZZ));
    hq_device_free(d);
}

HQ_TEST(device_conf_only_and_units) {
    const char *conf = "{\"backend_name\":\"toy\",\"n_qubits\":3,\"basis_gates\":[\"cz\",\"rz\","
                       "\"sx\",\"x\",\"delay\",\"if_else\"],\"coupling_map\":[[0,1],[1,0],[1,2]],"
                       "\"unknown_field\":{\"a\":[1,2]},\"dt\":0.5}";
    hq_device *d = NULL;
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf, NULL, &d));
    HQ_CHECK_EQ_INT(d->n_basis, 4); /* delay, if_else skipped */
    HQ_CHECK_EQ_INT(d->n_edges, 3);
    HQ_CHECK(isnan(d->qubits[2].t1_us));
    HQ_CHECK_EQ_INT(d->max_shots, 0);
    HQ_CHECK_STR(d->calibration_id, "");
    hq_device_free(d);

    /* units: ms / ns / MHz / s, unknown gate skipped, null value stays NAN */
    const char *props =
        "{\"backend_name\":\"toy\",\"last_update_date\":\"x1\",\"qubits\":["
        "[{\"name\":\"T1\",\"unit\":\"ms\",\"value\":0.1},{\"name\":\"T2\",\"unit\":\"ns\","
        "\"value\":50000},{\"name\":\"frequency\",\"unit\":\"MHz\",\"value\":5100},"
        "{\"name\":\"readout_length\",\"unit\":\"us\",\"value\":1.5},{\"name\":\"new\",\"value\":"
        "\"text\"}],[{\"name\":\"T1\",\"unit\":\"s\",\"value\":2e-4},{\"name\":\"T2\","
        "\"unit\":\"us\",\"value\":null}]],"
        "\"gates\":[{\"gate\":\"cz\",\"qubits\":[0,1],\"parameters\":[{\"name\":\"gate_error\","
        "\"unit\":\"\",\"value\":0.01},{\"name\":\"gate_length\",\"unit\":\"us\",\"value\":0.1}]},"
        "{\"gate\":\"frob\",\"qubits\":[0,1,2]},{\"gate\":\"sx\",\"qubits\":[2],\"parameters\":"
        "[{\"name\":\"gate_error\",\"value\":1e-4}]}]}";
    HQ_REQUIRE_OK(hq_device_from_ibm_json(conf, props, &d));
    HQ_CHECK_STR(d->calibration_id, "x1");
    HQ_CHECK_NEAR(d->qubits[0].t1_us, 100, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].t2_us, 50, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].frequency_ghz, 5.1, 1e-12);
    HQ_CHECK_NEAR(d->qubits[0].readout_length_ns, 1500, 1e-9);
    HQ_CHECK_NEAR(d->qubits[1].t1_us, 200, 1e-9);
    HQ_CHECK(isnan(d->qubits[1].t2_us));
    HQ_CHECK(isnan(d->qubits[2].t1_us));
    HQ_CHECK_EQ_INT(d->n_gates, 2);
    HQ_CHECK_NEAR(hq_device_gate_length_ns(d, HQ_GATE_CZ, 1, 0), 100, 1e-9);
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_SX, 2, -1), 1e-4, 0);
    HQ_CHECK(isnan(hq_device_gate_length_ns(d, HQ_GATE_SX, 2, -1)));
    hq_device_free(d);
}

HQ_TEST(device_build_by_hand) {
    hq_device *d = NULL;
    HQ_REQUIRE_OK(hq_device_create(3, &d));
    HQ_CHECK(isnan(d->dt_ns) && isnan(d->qubits[1].readout_error));
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_COUNT);
    HQ_CHECK_OK(hq_device_add_edge(d, 0, 1));
    HQ_CHECK_OK(hq_device_add_edge(d, 0, 1)); /* duplicate ignored */
    HQ_CHECK_EQ_INT(d->n_edges, 1);
    HQ_CHECK_FAILS(hq_device_add_edge(d, 0, 3), HQ_ERR_INVALID_ARG, "in [0, 3)");
    HQ_CHECK_FAILS(hq_device_add_edge(d, 2, 2), HQ_ERR_INVALID_ARG, "distinct");
    HQ_CHECK_OK(hq_device_add_gate(d, HQ_GATE_ECR, 0, 1, 0.01, 500));
    HQ_CHECK_FAILS(hq_device_add_gate(d, HQ_GATE_ECR, 0, 0, 0.01, 500), HQ_ERR_INVALID_ARG,
                   "invalid for 2-qubit gate 'ecr'");
    HQ_CHECK_FAILS(hq_device_add_gate(d, HQ_GATE_SX, 0, 1, 0.01, 500), HQ_ERR_INVALID_ARG,
                   "q1 = -1");
    HQ_CHECK_FAILS(hq_device_add_gate(d, HQ_GATE_CCX, 0, 1, 0.01, 500), HQ_ERR_INVALID_ARG,
                   "not a 1- or 2-qubit");
    hq_gate b[] = {HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_X, HQ_GATE_ECR};
    HQ_CHECK_OK(hq_device_set_basis(d, b, 4));
    HQ_CHECK_EQ_INT(hq_device_two_qubit_gate(d), HQ_GATE_ECR);
    HQ_CHECK_FAILS(hq_device_set_basis(d, b, 17), HQ_ERR_INVALID_ARG, "out of range [0, 16]");
    HQ_CHECK_NEAR(hq_device_gate_error(d, HQ_GATE_ECR, 1, 0), 0.01, 0);
    hq_device_free(d);
    hq_device_free(NULL);
    HQ_CHECK_FAILS(hq_device_create(0, &d), HQ_ERR_INVALID_ARG, "n_qubits 0 out of range");
}

/* conf text with one field replaced */
#define CONF_HEAD "{\"backend_name\":\"toy\",\"n_qubits\":3,\"basis_gates\":[\"cx\"],"

HQ_TEST(device_bad_configuration) {
    hq_device *d = (hq_device *)1;
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"basis_gates\":[]}", NULL, &d), HQ_ERR_PARSE,
                   "configuration: field 'n_qubits' is missing");
    HQ_CHECK(d == NULL);
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":\"5\",\"basis_gates\":[]}", NULL, &d),
                   HQ_ERR_PARSE, "field 'n_qubits' is a string \"5\" (expected an integer)");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":2.5,\"basis_gates\":[]}", NULL, &d),
                   HQ_ERR_PARSE, "'n_qubits' is a number (expected an integer)");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":0,\"basis_gates\":[]}", NULL, &d),
                   HQ_ERR_PARSE, "'n_qubits' = 0 out of range [1, 100000]");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":2}", NULL, &d), HQ_ERR_PARSE,
                   "field 'basis_gates' is missing");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":2,\"basis_gates\":[\"cx\",3]}", NULL, &d),
                   HQ_ERR_PARSE, "field 'basis_gates[1]' is a number");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"coupling_map\":[[0,1],[1,3]]}", NULL, &d),
                   HQ_ERR_PARSE, "field 'coupling_map[1][1]' = 3 out of range [0, 2]");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"coupling_map\":[[0,1],[1]]}", NULL, &d),
                   HQ_ERR_PARSE, "'coupling_map[1]' is an array (expected a pair");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"coupling_map\":[[2,2]]}", NULL, &d),
                   HQ_ERR_PARSE, "couples a qubit to itself");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"coupling_map\":[[0,-1]]}", NULL, &d),
                   HQ_ERR_PARSE, "'coupling_map[0][1]' = -1 out of range");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"coupling_map\":{}}", NULL, &d),
                   HQ_ERR_PARSE, "'coupling_map' is an object");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"max_shots\":true}", NULL, &d), HQ_ERR_PARSE,
                   "'max_shots' is a boolean");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(CONF_HEAD "\"dt\":-1}", NULL, &d), HQ_ERR_PARSE,
                   "'dt' is a number (expected a positive number of ns)");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"backend_name\":7,\"n_qubits\":1}", NULL, &d),
                   HQ_ERR_PARSE, "'backend_name' is a number");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("[1,2]", NULL, &d), HQ_ERR_PARSE,
                   "'(top level)' is an array");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":5,\n\"basis_gates\":[\"cx\",", NULL, &d),
                   HQ_ERR_PARSE, "invalid JSON at line 2, column 21 (the document is truncated)");
    HQ_CHECK_FAILS(hq_device_from_ibm_json("{\"n_qubits\":5} x", NULL, &d), HQ_ERR_PARSE,
                   "invalid JSON at line 1, column 16");
    HQ_CHECK_FAILS(hq_device_from_ibm_json(NULL, NULL, &d), HQ_ERR_INVALID_ARG, "must not be NULL");
    HQ_CHECK(d == NULL);
}

HQ_TEST(device_bad_properties) {
    const char *conf = CONF_HEAD "\"coupling_map\":[[0,1]]}";
    hq_device *d = (hq_device *)1;
#define BADP(json, msg) HQ_CHECK_FAILS(hq_device_from_ibm_json(conf, json, &d), HQ_ERR_PARSE, msg)
    BADP("{\"qubits\":[[{\"name\":\"T1\",\"unit\":\"us\",\"value\":\"long\"}]]}",
         "properties: field 'qubits[0] T1.value' is a string \"long\" (expected a number)");
    BADP("{\"qubits\":[[],[{\"name\":\"T2\",\"unit\":\"hours\",\"value\":1}]]}",
         "field 'qubits[1] T2.unit' is \"hours\" (expected s, ms, us, ns or ps)");
    BADP("{\"qubits\":[[{\"name\":\"frequency\",\"unit\":\"THz\",\"value\":1}]]}",
         "(expected GHz, MHz, kHz or Hz)");
    BADP("{\"qubits\":[[{\"name\":\"readout_error\",\"unit\":\"%\",\"value\":1}]]}",
         "'qubits[0] readout_error.unit' is \"%\"");
    BADP("{\"qubits\":[[{\"value\":1}]]}", "'qubits[0][0].name' is missing");
    BADP("{\"qubits\":[[],[],[],[]]}", "lists 4 qubits but the configuration has n_qubits = 3");
    BADP("{\"qubits\":{}}", "field 'qubits' is an object");
    BADP("{\"qubits\":[5]}", "field 'qubits[0]' is a number");
    BADP("{\"gates\":[{\"gate\":\"cx\",\"qubits\":[0,7]}]}",
         "field 'gates[0].qubits[1]' = 7 out of range [0, 2]");
    BADP("{\"gates\":[{\"gate\":\"cx\",\"qubits\":[1,1]}]}", "repeats a qubit");
    BADP("{\"gates\":[{\"gate\":\"cx\"}]}", "'gates[0].qubits' is missing");
    BADP("{\"gates\":[{\"qubits\":[0]}]}", "'gates[0].gate' is missing");
    BADP("{\"gates\":[{\"gate\":\"sx\",\"qubits\":[0],\"parameters\":[{\"name\":\"gate_error\","
         "\"value\":[1]}]}]}",
         "'gates[0] (sx) gate_error.value' is an array (expected a number)");
    BADP("{\"gates\":[{\"gate\":\"sx\",\"qubits\":[0],\"parameters\":[{\"name\":\"gate_length\","
         "\"unit\":\"cycles\",\"value\":3}]}]}",
         "'gates[0] (sx) gate_length.unit' is \"cycles\"");
    BADP("{\"last_update_date\":5}", "'last_update_date' is a number");
    BADP("{\"qubits\":[[{\"name\":\"T1\",", "properties: invalid JSON");
#undef BADP
    HQ_CHECK_FAILS(hq_device_from_ibm_json(conf, "{\"backend_name\":\"other\"}", &d),
                   HQ_ERR_INVALID_ARG, "properties are for backend 'other'");
    HQ_CHECK(d == NULL);
}

HQ_TEST(device_bad_files) {
    hq_device *d = NULL;
    HQ_CHECK_FAILS(hq_device_load_ibm("/nonexistent/conf.json", NULL, &d), HQ_ERR_NOT_FOUND,
                   "configuration: cannot open '/nonexistent/conf.json'");
    const char *conf = hq_test_write_file("conf.json", CONF_HEAD "\"coupling_map\":[[0,1]]}",
                                          strlen(CONF_HEAD "\"coupling_map\":[[0,1]]}"));
    HQ_CHECK_FAILS(hq_device_load_ibm(conf, "/nonexistent/props.json", &d), HQ_ERR_NOT_FOUND,
                   "properties: cannot open");
    /* a truncated real file: the message names the file and the position */
    char *text = NULL;
    size_t len = 0;
    HQ_REQUIRE_OK(
        hq_file_read(hq_test_shared("data/ibm_backends/props_manila.json"), 0, &text, &len));
    const char *props = hq_test_write_file("props_cut.json", text, len / 2);
    hq_free(text);
    hq_device *m = NULL;
    hq_status st =
        hq_device_load_ibm(hq_test_shared("data/ibm_backends/conf_manila.json"), props, &m);
    HQ_CHECK_EQ_INT(st, HQ_ERR_PARSE);
    HQ_CHECK(strstr(hq_last_error(), "props_cut.json: invalid JSON at line 1") != NULL);
    HQ_CHECK(strstr(hq_last_error(), "truncated") != NULL);
    HQ_CHECK(m == NULL);
    /* the conf file path is named in a field error */
    const char *bad = hq_test_write_file("conf_bad.json", "{\"n_qubits\":null}", 17);
    HQ_CHECK_FAILS(hq_device_load_ibm(bad, NULL, &d), HQ_ERR_PARSE,
                   "conf_bad.json: field 'n_qubits' is null (expected an integer)");
    HQ_CHECK_OK(hq_device_load_ibm(conf, NULL, &d));
    HQ_CHECK(d && d->n_edges == 1);
    hq_device_free(d);
}
