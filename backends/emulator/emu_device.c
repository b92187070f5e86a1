/*
 * backends/emulator/emu_device.c — what the emulator emulates: the built-in IBM device
 * (HQ_EMU_DEFAULT_DEVICE), its configuration / properties documents, the IonQ targets and
 * their characterization, the noise models built from them, and the calibration clock
 * that /_emu/recalibrate and the recalibrate_mid_run fault advance.
 *
 * The built-in device is a 5-qubit line 0-1-2-3-4 with basis {cz, id, rz, sx, x} and cz in
 * both directions on every edge. Its calibration numbers are those of IBM's ibmq_manila
 * snapshot of 2024-05-27 (Qiskit fake-provider props_manila.json, Apache-2.0; the test
 * emulator_builtin_device_is_manila compares them with the file): per qubit T1, T2,
 * frequency, readout_error, prob_meas0_prep1, prob_meas1_prep0, readout_length; per qubit
 * the id / sx / x gate_error and gate_length (rz: 0, 0), reset length; and each directed
 * edge (a, b) carries cz with manila's cx(a, b) gate_error and gate_length. The noise
 * model of IBM jobs is hq_noise_from_device of this device (backends/noise.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backends/emulator/emu_impl.h"

/* ==== built-in device ================================================================= */

static const double MANILA_T1[5] = {131.5286444531517, 124.53550487905082, 158.6152374677565,
                                    179.10281957277218, 144.67316223194067};
static const double MANILA_T2[5] = {102.20390054827382, 79.01470497124718, 25.150897893938303,
                                    54.36101156476186, 40.33233257275118};
static const double MANILA_FREQ[5] = {4.962356469801913, 4.837873126070111, 5.037297026972137,
                                      4.950965056415457, 5.065178086858884};
static const double MANILA_RO_ERR[5] = {0.0353, 0.02190000000000003, 0.09640000000000004,
                                        0.014399999999999968, 0.01859999999999995};
static const double MANILA_P01[5] = {0.05479999999999996, 0.03159999999999996, 0.12260000000000004,
                                     0.0204, 0.02839999999999998};
static const double MANILA_P10[5] = {0.0158, 0.0122, 0.0702, 0.008399999999999963, 0.0088};
static const double MANILA_RO_LEN = 5351.11111111111;
static const double MANILA_1Q_ERR[5] = {0.00015506593900605392, 0.000392193487309583,
                                        0.0007458158897263205, 0.00021221916498544087,
                                        0.0003538722158551261};
static const double MANILA_1Q_LEN = 35.55555555555556;
static const double MANILA_RESET_LEN = 5514.666666666666;
static const struct {
    int a, b;
    double err, len;
} MANILA_CX[8] = {
    {4, 3, 0.005696275468624307, 298.66666666666663},
    {3, 4, 0.005696275468624307, 334.22222222222223},
    {2, 3, 0.011354122839193792, 355.55555555555554},
    {3, 2, 0.011354122839193792, 391.1111111111111},
    {1, 2, 0.01394038580879381, 469.3333333333333},
    {2, 1, 0.01394038580879381, 504.88888888888886},
    {0, 1, 0.008827712070629129, 277.3333333333333},
    {1, 0, 0.008827712070629129, 312.88888888888886},
};
static const char MANILA_DATE[] = "2024-05-27T15:27:23-03:00";

hq_status emu_device_builtin(hq_device **out) {
    hq_device *d = NULL;
    hq_status st = hq_device_create(5, &d);
    if (st != HQ_OK) return st;
    snprintf(d->name, sizeof d->name, "%s", HQ_EMU_DEFAULT_DEVICE);
    snprintf(d->version, sizeof d->version, "1.0.0");
    snprintf(d->calibration_id, sizeof d->calibration_id, "%s", MANILA_DATE);
    d->max_shots = 100000;
    d->max_experiments = 300;
    d->dt_ns = 0.2222222222222222;
    const hq_gate basis[] = {HQ_GATE_CZ, HQ_GATE_ID, HQ_GATE_RZ, HQ_GATE_SX, HQ_GATE_X};
    st = hq_device_set_basis(d, basis, 5);
    for (int q = 0; q < 5 && st == HQ_OK; q++) {
        hq_device_qubit *dq = &d->qubits[q];
        dq->t1_us = MANILA_T1[q];
        dq->t2_us = MANILA_T2[q];
        dq->frequency_ghz = MANILA_FREQ[q];
        dq->readout_error = MANILA_RO_ERR[q];
        dq->prob_meas0_prep1 = MANILA_P01[q];
        dq->prob_meas1_prep0 = MANILA_P10[q];
        dq->readout_length_ns = MANILA_RO_LEN;
    }
    /* gates in the order of the manila file: id, rz, sx, x per qubit, then 2q, then reset */
    for (int q = 0; q < 5 && st == HQ_OK; q++)
        st = hq_device_add_gate(d, HQ_GATE_ID, q, -1, MANILA_1Q_ERR[q], MANILA_1Q_LEN);
    for (int q = 0; q < 5 && st == HQ_OK; q++) st = hq_device_add_gate(d, HQ_GATE_RZ, q, -1, 0, 0);
    for (int q = 0; q < 5 && st == HQ_OK; q++)
        st = hq_device_add_gate(d, HQ_GATE_SX, q, -1, MANILA_1Q_ERR[q], MANILA_1Q_LEN);
    for (int q = 0; q < 5 && st == HQ_OK; q++)
        st = hq_device_add_gate(d, HQ_GATE_X, q, -1, MANILA_1Q_ERR[q], MANILA_1Q_LEN);
    for (int k = 0; k < 8 && st == HQ_OK; k++)
        st = hq_device_add_gate(d, HQ_GATE_CZ, MANILA_CX[k].a, MANILA_CX[k].b, MANILA_CX[k].err,
                                MANILA_CX[k].len);
    for (int q = 0; q < 5 && st == HQ_OK; q++)
        st = hq_device_add_gate(d, HQ_GATE_RESET, q, -1, NAN, MANILA_RESET_LEN);
    /* coupling map in the order IBM lists a line: 0-1, 1-0, 1-2, ... */
    for (int a = 0; a < 4 && st == HQ_OK; a++) {
        st = hq_device_add_edge(d, a, a + 1);
        if (st == HQ_OK) st = hq_device_add_edge(d, a + 1, a);
    }
    if (st != HQ_OK) {
        hq_device_free(d);
        return st;
    }
    *out = d;
    return HQ_OK;
}

/* ==== IonQ targets ==================================================================== */

static const emu_ionq_target TARGETS[] = {
    {"simulator", "simulator", 29, false},
    {"qpu.aria-1", "aria-1", 25, true},
    {"qpu.aria-2", "aria-2", 25, true},
    {"qpu.forte-1", "forte-1", 36, true},
    {"qpu.forte-enterprise-1", "forte-enterprise-1", 36, true},
};

int emu_ionq_target_count(void) { return (int)HQ_ARRAY_LEN(TARGETS); }
const emu_ionq_target *emu_ionq_target_at(int i) {
    return i >= 0 && i < emu_ionq_target_count() ? &TARGETS[i] : NULL;
}

const emu_ionq_target *emu_ionq_target_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < HQ_ARRAY_LEN(TARGETS); i++)
        if (!strcmp(name, TARGETS[i].name) ||
            (TARGETS[i].qpu && !strcmp(name, TARGETS[i].short_name)))
            return &TARGETS[i];
    return NULL;
}

bool emu_ionq_noise_model_known(const char *name) {
    static const char *models[] = {"ideal",  "harmony", "aria-1",
                                   "aria-2", "forte-1", "forte-enterprise-1"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(models); i++)
        if (!strcmp(name, models[i])) return true;
    return false;
}

/* The characterization numbers every emulated IonQ QPU reports (QPU_APIS.md §5.1). Times
 * in seconds, fidelities as medians. */
#define IONQ_SPAM 0.996
#define IONQ_F1Q  0.9998
#define IONQ_F2Q  0.99
#define IONQ_T1   100.0
#define IONQ_T2   1.0
#define IONQ_T1Q  1.35e-4
#define IONQ_T2Q  6e-4
#define IONQ_TRO  3e-4
#define IONQ_TRST 2e-5

hq_status emu_ionq_noise_model(hq_noise_model **out) {
    hq_noise_model *m = NULL;
    hq_status st = hq_noise_create(0, &m);
    if (st != HQ_OK) return st;
    hq_noise_qubit q = hq_noise_qubit_unset();
    q.t1_us = IONQ_T1 * 1e6;
    q.t2_us = IONQ_T2 * 1e6;
    q.excited_population = 0;
    q.prob_meas0_prep1 = 1 - IONQ_SPAM;
    q.prob_meas1_prep0 = 1 - IONQ_SPAM;
    double r1 = 1 - IONQ_F1Q, r2 = 1 - IONQ_F2Q;
    /* a 3-qubit gate (QIS Toffoli) as its 6 two-qubit + 2 one-qubit gate decomposition */
    double r3 = 1 - pow(1 - r2, 6) * pow(1 - r1, 2);
    st = hq_noise_set_default_qubit(m, &q);
    if (st == HQ_OK) st = hq_noise_set_default_gate(m, 1, r1, IONQ_T1Q * 1e9);
    if (st == HQ_OK) st = hq_noise_set_default_gate(m, 2, r2, IONQ_T2Q * 1e9);
    if (st == HQ_OK) st = hq_noise_set_default_gate(m, 3, r3, (6 * IONQ_T2Q + 2 * IONQ_T1Q) * 1e9);
    if (st == HQ_OK) st = hq_noise_set_name(m, "IonQ emulator characterization (aria/forte)");
    if (st != HQ_OK) {
        hq_noise_free(m);
        return st;
    }
    *out = m;
    return HQ_OK;
}

void emu_ionq_characterization_json(hq_emulator *e, const emu_ionq_target *t, hq_sbuf *out) {
    hq_sbuf_printf(out, "{\"id\":\"00000000-0000-4000-8000-%012llx\",\"date\":",
                   (unsigned long long)(e->calib_count * 16 + (uint64_t)(t - TARGETS)));
    hq_sbuf_put_json_str(out, e->calib_date);
    hq_sbuf_puts(out, ",\"backend\":");
    hq_sbuf_put_json_str(out, t->name);
    hq_sbuf_printf(out, ",\"qubits\":%d,\"connectivity\":[", t->qubits);
    bool first = true;
    for (int a = 0; a < t->qubits; a++)
        for (int b = a + 1; b < t->qubits; b++) {
            hq_sbuf_printf(out, "%s[%d,%d]", first ? "" : ",", a, b);
            first = false;
        }
    hq_sbuf_puts(out, "],\"fidelity\":{\"spam\":{\"median\":");
    emu_put_num(out, IONQ_SPAM);
    hq_sbuf_puts(out, "},\"1q\":{\"median\":");
    emu_put_num(out, IONQ_F1Q);
    hq_sbuf_puts(out, "},\"2q\":{\"median\":");
    emu_put_num(out, IONQ_F2Q);
    hq_sbuf_puts(out, "}},\"timing\":{\"t1\":");
    emu_put_num(out, IONQ_T1);
    hq_sbuf_puts(out, ",\"t2\":");
    emu_put_num(out, IONQ_T2);
    hq_sbuf_puts(out, ",\"1q\":");
    emu_put_num(out, IONQ_T1Q);
    hq_sbuf_puts(out, ",\"2q\":");
    emu_put_num(out, IONQ_T2Q);
    hq_sbuf_puts(out, ",\"readout\":");
    emu_put_num(out, IONQ_TRO);
    hq_sbuf_puts(out, ",\"reset\":");
    emu_put_num(out, IONQ_TRST);
    hq_sbuf_puts(out, "}}");
}

/* ==== IBM documents =================================================================== */

static void put_int_pairs(hq_sbuf *b, const hq_device *d) {
    hq_sbuf_putc(b, '[');
    for (int i = 0; i < d->n_edges; i++)
        hq_sbuf_printf(b, "%s[%d,%d]", i ? "," : "", d->edges[i][0], d->edges[i][1]);
    hq_sbuf_putc(b, ']');
}

static const char *gate_def(hq_gate g) {
    switch (g) {
    case HQ_GATE_ID: return "gate id q { U(0, 0, 0) q; }";
    case HQ_GATE_RZ: return "gate rz(theta) q { U(0, 0, theta) q; }";
    case HQ_GATE_SX: return "gate sx q { U(pi/2, 3*pi/2, pi/2) q; }";
    case HQ_GATE_X: return "gate x q { U(pi, 0, pi) q; }";
    case HQ_GATE_CZ: return "gate cz q0, q1 { h q1; cx q0, q1; h q1; }";
    case HQ_GATE_CX: return "gate cx q0, q1 { CX q0, q1; }";
    case HQ_GATE_ECR: return "gate ecr q0, q1 { rzx(pi/4) q0, q1; x q0; rzx(-pi/4) q0, q1; }";
    default: return NULL;
    }
}

hq_status emu_device_conf_json(hq_emulator *e, hq_sbuf *b) {
    if (e->conf_text) {
        hq_sbuf_puts(b, e->conf_text);
        return hq_sbuf_status(b);
    }
    const hq_device *d = e->device;
    hq_sbuf_puts(b, "{\"backend_name\":");
    hq_sbuf_put_json_str(b, d->name);
    hq_sbuf_puts(b, ",\"backend_version\":");
    hq_sbuf_put_json_str(b, d->version);
    hq_sbuf_printf(b, ",\"n_qubits\":%d,\"basis_gates\":[", d->n_qubits);
    for (int i = 0; i < d->n_basis; i++) {
        if (i) hq_sbuf_putc(b, ',');
        hq_sbuf_put_json_str(b, hq_gate_get_info(d->basis[i])->name);
    }
    hq_sbuf_puts(b, "],\"gates\":[");
    for (int i = 0; i < d->n_basis; i++) {
        const hq_gate_info *gi = hq_gate_get_info(d->basis[i]);
        hq_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        hq_sbuf_put_json_str(b, gi->name);
        hq_sbuf_puts(b, gi->np ? ",\"parameters\":[\"theta\"]" : ",\"parameters\":[]");
        const char *def = gate_def(d->basis[i]);
        if (def) {
            hq_sbuf_puts(b, ",\"qasm_def\":");
            hq_sbuf_put_json_str(b, def);
        }
        hq_sbuf_puts(b, ",\"coupling_map\":");
        if (gi->nq == 2) {
            put_int_pairs(b, d);
        } else {
            hq_sbuf_putc(b, '[');
            for (int q = 0; q < d->n_qubits; q++) hq_sbuf_printf(b, "%s[%d]", q ? "," : "", q);
            hq_sbuf_putc(b, ']');
        }
        hq_sbuf_putc(b, '}');
    }
    hq_sbuf_puts(b, ",{\"name\":\"reset\",\"parameters\":null,\"qasm_def\":null}]");
    hq_sbuf_puts(b, ",\"local\":false,\"simulator\":false,\"conditional\":false,"
                    "\"open_pulse\":false,\"memory\":true");
    hq_sbuf_printf(b, ",\"max_shots\":%d,\"max_experiments\":%d,\"coupling_map\":", d->max_shots,
                   d->max_experiments);
    put_int_pairs(b, d);
    hq_sbuf_puts(b, ",\"supported_instructions\":[");
    for (int i = 0; i < d->n_basis; i++) {
        hq_sbuf_put_json_str(b, hq_gate_get_info(d->basis[i])->name);
        hq_sbuf_putc(b, ',');
    }
    hq_sbuf_puts(b, "\"measure\",\"reset\",\"barrier\"]");
    hq_sbuf_puts(b, ",\"dt\":");
    emu_put_num(b, isnan(d->dt_ns) ? 0.2222222222222222 : d->dt_ns);
    hq_sbuf_puts(b, ",\"processor_type\":{\"family\":\"Emulator\",\"revision\":\"1\"},"
                    "\"supported_features\":[\"qasm3\"],\"description\":\"hqcnn emulator device\","
                    "\"online_date\":\"2024-01-01T00:00:00Z\"}");
    return hq_sbuf_status(b);
}

static void put_param(hq_sbuf *b, bool first, const char *date, const char *name, const char *unit,
                      double v) {
    hq_sbuf_puts(b, first ? "{\"date\":" : ",{\"date\":");
    hq_sbuf_put_json_str(b, date);
    hq_sbuf_puts(b, ",\"name\":");
    hq_sbuf_put_json_str(b, name);
    hq_sbuf_puts(b, ",\"unit\":");
    hq_sbuf_put_json_str(b, unit);
    hq_sbuf_puts(b, ",\"value\":");
    emu_put_num(b, v);
    hq_sbuf_putc(b, '}');
}

static hq_status props_from_text(hq_emulator *e, hq_sbuf *b) {
    if (!e->calib_count) {
        hq_sbuf_puts(b, e->props_text);
        return hq_sbuf_status(b);
    }
    cJSON *doc = cJSON_Parse(e->props_text);
    if (!doc) return hq_failf(NULL, HQ_ERR_PARSE, "properties document no longer parses");
    cJSON *date = cJSON_CreateString(e->calib_date);
    char *txt = NULL;
    if (date) {
        if (cJSON_GetObjectItemCaseSensitive(doc, "last_update_date"))
            cJSON_ReplaceItemInObjectCaseSensitive(doc, "last_update_date", date);
        else
            cJSON_AddItemToObject(doc, "last_update_date", date);
        txt = cJSON_PrintUnformatted(doc);
    }
    cJSON_Delete(doc);
    if (!txt) return hq_failf(NULL, HQ_ERR_NOMEM, "properties document: out of memory");
    hq_sbuf_puts(b, txt);
    cJSON_free(txt);
    return hq_sbuf_status(b);
}

hq_status emu_device_props_json(hq_emulator *e, hq_sbuf *b) {
    if (e->props_text) return props_from_text(e, b);
    const hq_device *d = e->device;
    const char *date = e->calib_date;
    hq_sbuf_puts(b, "{\"backend_name\":");
    hq_sbuf_put_json_str(b, d->name);
    hq_sbuf_puts(b, ",\"backend_version\":");
    hq_sbuf_put_json_str(b, d->version);
    hq_sbuf_puts(b, ",\"last_update_date\":");
    hq_sbuf_put_json_str(b, date);
    hq_sbuf_puts(b, ",\"qubits\":[");
    for (int q = 0; q < d->n_qubits; q++) {
        const hq_device_qubit *dq = &d->qubits[q];
        hq_sbuf_puts(b, q ? ",[" : "[");
        bool first = true;
#define QP(field, name, unit)                             \
    if (!isnan(dq->field)) {                              \
        put_param(b, first, date, name, unit, dq->field); \
        first = false;                                    \
    }
        QP(t1_us, "T1", "us")
        QP(t2_us, "T2", "us")
        QP(frequency_ghz, "frequency", "GHz")
        QP(readout_error, "readout_error", "")
        QP(prob_meas0_prep1, "prob_meas0_prep1", "")
        QP(prob_meas1_prep0, "prob_meas1_prep0", "")
        QP(readout_length_ns, "readout_length", "ns")
#undef QP
        hq_sbuf_putc(b, ']');
    }
    hq_sbuf_puts(b, "],\"gates\":[");
    for (int i = 0; i < d->n_gates; i++) {
        const hq_device_gate *g = &d->gates[i];
        const char *gn = hq_gate_get_info(g->gate)->name;
        hq_sbuf_puts(b, i ? ",{\"qubits\":[" : "{\"qubits\":[");
        hq_sbuf_printf(b, "%d", g->q[0]);
        if (g->nq == 2) hq_sbuf_printf(b, ",%d", g->q[1]);
        hq_sbuf_puts(b, "],\"gate\":");
        hq_sbuf_put_json_str(b, gn);
        char name[64];
        if (g->nq == 2)
            snprintf(name, sizeof name, "%s%d_%d", gn, g->q[0], g->q[1]);
        else
            snprintf(name, sizeof name, "%s%d", gn, g->q[0]);
        hq_sbuf_puts(b, ",\"name\":");
        hq_sbuf_put_json_str(b, name);
        hq_sbuf_puts(b, ",\"parameters\":[");
        bool first = true;
        if (!isnan(g->error)) {
            put_param(b, first, date, "gate_error", "", g->error);
            first = false;
        }
        if (!isnan(g->length_ns)) put_param(b, first, date, "gate_length", "ns", g->length_ns);
        hq_sbuf_puts(b, "]}");
    }
    hq_sbuf_puts(b, "],\"general\":[]}");
    return hq_sbuf_status(b);
}

/* ==== calibration clock =============================================================== */

void emu_iso_time(double t, bool ms, char out[40]) {
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms) {
        int m = (int)floor((t - floor(t)) * 1000.0);
        if (m > 999) m = 999;
        snprintf(out, 40, "%s.%03dZ", base, m);
    } else {
        snprintf(out, 40, "%sZ", base);
    }
}

static void calibration_save(hq_emulator *e) {
    if (!e->s_state_dir) return;
    char path[4096];
    if (hq_path_join(path, sizeof path, e->s_state_dir, "calibration.json") != HQ_OK) return;
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b,
                   "{\"format\":\"hqcnn-emulator-calibration\",\"version\":1,"
                   "\"count\":%lld,\"epoch\":",
                   (long long)e->calib_count);
    emu_put_num(&b, e->calib_epoch);
    hq_sbuf_puts(&b, ",\"date\":");
    hq_sbuf_put_json_str(&b, e->calib_date);
    hq_sbuf_puts(&b, "}\n");
    pthread_mutex_lock(&e->io_lock);
    if (hq_sbuf_status(&b) != HQ_OK || hq_file_write_atomic(path, b.p, b.len) != HQ_OK)
        HQ_LOGW("emulator: cannot save the calibration clock: %s", hq_last_error());
    pthread_mutex_unlock(&e->io_lock);
    hq_sbuf_free(&b);
}

void emu_calibration_bump(hq_emulator *e) {
    double now = floor(hq_time_wall());
    e->calib_epoch = HQ_MAX(now, e->calib_epoch + 1);
    e->calib_count++;
    emu_iso_time(e->calib_epoch, false, e->calib_date);
    calibration_save(e);
}

hq_status emu_calibration_load(hq_emulator *e) {
    snprintf(e->calib_date0, sizeof e->calib_date0, "%s",
             e->device->calibration_id[0] ? e->device->calibration_id : "2024-01-01T00:00:00Z");
    snprintf(e->calib_date, sizeof e->calib_date, "%s", e->calib_date0);
    e->calib_count = 0;
    e->calib_epoch = 0;
    if (!e->s_state_dir) return HQ_OK;
    char path[4096];
    hq_status st = hq_path_join(path, sizeof path, e->s_state_dir, "calibration.json");
    if (st != HQ_OK || !hq_file_exists(path)) return st;
    char *txt = NULL;
    size_t len = 0;
    if ((st = hq_file_read(path, 1 << 20, &txt, &len)) != HQ_OK) return st;
    cJSON *doc = cJSON_ParseWithLength(txt, len);
    hq_free(txt);
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(doc, "count");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(doc, "epoch");
    const cJSON *date = cJSON_GetObjectItemCaseSensitive(doc, "date");
    if (!cJSON_IsNumber(cnt) || !cJSON_IsNumber(ep) || !cJSON_IsString(date) ||
        cnt->valuedouble < 0 || strlen(date->valuestring) >= sizeof e->calib_date) {
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "%s: not an emulator calibration file (count, epoch, date) ---> HINT: "
                        "delete it to start from the device's calibration",
                        path);
    }
    e->calib_count = (int64_t)cnt->valuedouble;
    e->calib_epoch = ep->valuedouble;
    if (e->calib_count > 0) snprintf(e->calib_date, sizeof e->calib_date, "%s", date->valuestring);
    cJSON_Delete(doc);
    return HQ_OK;
}
