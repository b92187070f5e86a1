/*
 * backends/device.c — load a QPU description from IBM backend `configuration` +
 * `properties` JSON (cJSON), build one by hand, and look calibration values up.
 *
 * The parser is strict about what it uses and tolerant of everything else: fields it does
 * not know are ignored, gates outside the gate table are skipped, a missing or null value
 * stays NAN; but a field it uses with the wrong type, an edge or qubit out of range, an
 * unknown unit or a malformed document is an error naming the source (file path or
 * "configuration"/"properties") and the JSON path of the field. Units are converted on
 * load (see device.h). What a transpiler or noise model makes of the numbers is left to
 * them.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/device.h"

#define DEVICE_MAX_QUBITS 100000
#define DEVICE_MAX_FILE   (64u << 20) /* bytes: real files are < 1 MB */
#define DEVICE_BASIS_MAX  ((int)(sizeof((hq_device *)0)->basis / sizeof(hq_gate)))

/* ==== create / free / build =========================================================== */

static void qubit_blank(hq_device_qubit *q) {
    q->t1_us = q->t2_us = q->frequency_ghz = NAN;
    q->readout_error = q->prob_meas0_prep1 = q->prob_meas1_prep0 = NAN;
    q->readout_length_ns = NAN;
}

hq_status hq_device_create(int n_qubits, hq_device **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_device_create: out is NULL");
    *out = NULL;
    if (n_qubits < 1 || n_qubits > DEVICE_MAX_QUBITS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_create: n_qubits %d out of range [1, %d]", n_qubits,
                        DEVICE_MAX_QUBITS);
    hq_device *d = hq_calloc(1, sizeof *d);
    if (!d) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_device_create: out of memory");
    d->qubits = hq_calloc((size_t)n_qubits, sizeof *d->qubits);
    if (!d->qubits) {
        hq_free(d);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_device_create: out of memory");
    }
    d->n_qubits = n_qubits;
    for (int i = 0; i < n_qubits; i++) qubit_blank(&d->qubits[i]);
    d->dt_ns = NAN;
    *out = d;
    return HQ_OK;
}

void hq_device_free(hq_device *d) {
    if (!d) return;
    hq_free(d->edges);
    hq_free(d->qubits);
    hq_free(d->gates);
    hq_free(d);
}

hq_status hq_device_add_edge(hq_device *d, int a, int b) {
    if (!d) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_device_add_edge: device is NULL");
    if (a < 0 || a >= d->n_qubits || b < 0 || b >= d->n_qubits || a == b)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_add_edge: edge [%d, %d] invalid: qubits must be distinct and "
                        "in [0, %d)",
                        a, b, d->n_qubits);
    if (hq_device_has_edge(d, a, b)) return HQ_OK;
    int(*e)[2] = hq_realloc(d->edges, (size_t)(d->n_edges + 1) * sizeof *e);
    if (!e) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_device_add_edge: out of memory");
    d->edges = e;
    d->edges[d->n_edges][0] = a;
    d->edges[d->n_edges][1] = b;
    d->n_edges++;
    return HQ_OK;
}

hq_status hq_device_add_gate(hq_device *d, hq_gate g, int q0, int q1, double error,
                             double length_ns) {
    if (!d) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_device_add_gate: device is NULL");
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi ||
        !(gi->kind == HQ_KIND_UNITARY || gi->kind == HQ_KIND_RESET ||
          gi->kind == HQ_KIND_MEASURE) ||
        gi->nq > 2)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_add_gate: gate %d is not a 1- or 2-qubit operation", (int)g);
    int nq = gi->nq;
    if (q0 < 0 || q0 >= d->n_qubits || (nq == 2 && (q1 < 0 || q1 >= d->n_qubits || q1 == q0)) ||
        (nq == 1 && q1 != -1))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_add_gate: qubits (%d, %d) invalid for %d-qubit gate '%s' on "
                        "%d qubits (1-qubit gates take q1 = -1)",
                        q0, q1, nq, gi->name, d->n_qubits);
    hq_device_gate *ng = hq_realloc(d->gates, (size_t)(d->n_gates + 1) * sizeof *ng);
    if (!ng) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_device_add_gate: out of memory");
    d->gates = ng;
    d->gates[d->n_gates] = (hq_device_gate){g, nq, {q0, q1}, error, length_ns};
    d->n_gates++;
    return HQ_OK;
}

hq_status hq_device_set_basis(hq_device *d, const hq_gate *basis, int n) {
    if (!d || (n > 0 && !basis))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_device_set_basis: device or basis is NULL");
    if (n < 0 || n > DEVICE_BASIS_MAX)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_set_basis: %d gates out of range [0, %d]", n, DEVICE_BASIS_MAX);
    for (int i = 0; i < n; i++)
        if (!hq_gate_get_info(basis[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_device_set_basis: gate %d unknown",
                            (int)basis[i]);
    memcpy(d->basis, basis, (size_t)n * sizeof *basis);
    d->n_basis = n;
    return HQ_OK;
}

/* ==== lookups ========================================================================= */

static const hq_device_gate *find_gate(const hq_device *d, hq_gate g, int q0, int q1) {
    if (!d) return NULL;
    const hq_device_gate *rev = NULL;
    for (int i = 0; i < d->n_gates; i++) {
        const hq_device_gate *x = &d->gates[i];
        if (x->gate != g) continue;
        if (x->nq == 1 && q1 < 0 && x->q[0] == q0) return x;
        if (x->nq == 2 && x->q[0] == q0 && x->q[1] == q1) return x;
        if (x->nq == 2 && x->q[0] == q1 && x->q[1] == q0 && !rev) rev = x;
    }
    return rev;
}

double hq_device_gate_error(const hq_device *d, hq_gate g, int q0, int q1) {
    const hq_device_gate *x = find_gate(d, g, q0, q1);
    return x ? x->error : NAN;
}

double hq_device_gate_length_ns(const hq_device *d, hq_gate g, int q0, int q1) {
    const hq_device_gate *x = find_gate(d, g, q0, q1);
    return x ? x->length_ns : NAN;
}

bool hq_device_has_edge(const hq_device *d, int a, int b) {
    if (!d) return false;
    for (int i = 0; i < d->n_edges; i++)
        if (d->edges[i][0] == a && d->edges[i][1] == b) return true;
    return false;
}

bool hq_device_supports(const hq_device *d, hq_gate g) {
    if (!d) return false;
    for (int i = 0; i < d->n_basis; i++)
        if (d->basis[i] == g) return true;
    return false;
}

hq_gate hq_device_two_qubit_gate(const hq_device *d) {
    static const hq_gate pref[] = {HQ_GATE_ECR, HQ_GATE_CZ, HQ_GATE_CX};
    for (size_t i = 0; i < HQ_ARRAY_LEN(pref); i++)
        if (hq_device_supports(d, pref[i])) return pref[i];
    return HQ_GATE_COUNT;
}

/* ==== JSON helpers ==================================================================== */

/* Parse text as one JSON document; on failure report line:column of the error. */
static cJSON *parse_doc(const char *src, const char *text, hq_status *st) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    if (j) return j;
    int line = 1, col = 1;
    if (end)
        for (const char *p = text; *p && p < end; p++) {
            if (*p == '\n')
                line++, col = 1;
            else
                col++;
        }
    bool at_end = end && *end == '\0';
    *st = hq_failf(NULL, HQ_ERR_PARSE, "%s: invalid JSON at line %d, column %d%s", src, line, col,
                   at_end ? " (the document is truncated)" : "");
    return NULL;
}

static const char *type_name(const cJSON *j) {
    if (!j) return "missing";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j)) return "an array";
    return "an object";
}

static hq_status bad_field(const char *src, const char *path, const cJSON *j, const char *want) {
    return hq_failf(NULL, HQ_ERR_PARSE, "%s: field '%s' is %s%s%s%s (expected %s)", src, path,
                    type_name(j), cJSON_IsString(j) ? " \"" : "",
                    cJSON_IsString(j) ? j->valuestring : "", cJSON_IsString(j) ? "\"" : "", want);
}

/* An integer-valued number within [lo, hi]. */
static hq_status get_int(const char *src, const char *path, const cJSON *j, long lo, long hi,
                         int *out) {
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble != floor(j->valuedouble))
        return bad_field(src, path, j, "an integer");
    if (j->valuedouble < (double)lo || j->valuedouble > (double)hi)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: field '%s' = %.17g out of range [%ld, %ld]", src,
                        path, j->valuedouble, lo, hi);
    *out = (int)j->valuedouble;
    return HQ_OK;
}

/* Copy an optional string field (absent or null leaves dst as is). */
static hq_status get_str(const char *src, const char *path, const cJSON *j, char *dst, size_t cap) {
    if (!j || cJSON_IsNull(j)) return HQ_OK;
    if (!cJSON_IsString(j)) return bad_field(src, path, j, "a string");
    snprintf(dst, cap, "%s", j->valuestring);
    return HQ_OK;
}

/* Scale factor from `unit` to the canonical unit of a quantity kind; 0 if unknown. */
typedef enum { Q_TIME_US, Q_TIME_NS, Q_FREQ_GHZ, Q_RATIO } quantity;

static double unit_scale(quantity k, const char *unit) {
    static const struct {
        const char *u;
        double to_ns;
    } times[] = {{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ns", 1}, {"ps", 1e-3}};
    static const struct {
        const char *u;
        double to_ghz;
    } freqs[] = {{"GHz", 1}, {"MHz", 1e-3}, {"kHz", 1e-6}, {"Hz", 1e-9}};
    switch (k) {
    case Q_TIME_US:
    case Q_TIME_NS:
        for (size_t i = 0; i < HQ_ARRAY_LEN(times); i++)
            if (strcmp(unit, times[i].u) == 0)
                return k == Q_TIME_NS ? times[i].to_ns : times[i].to_ns * 1e-3;
        return 0;
    case Q_FREQ_GHZ:
        for (size_t i = 0; i < HQ_ARRAY_LEN(freqs); i++)
            if (strcmp(unit, freqs[i].u) == 0) return freqs[i].to_ghz;
        return 0;
    case Q_RATIO: return unit[0] == '\0' ? 1 : 0;
    }
    return 0;
}

static const char *unit_hint(quantity k) {
    switch (k) {
    case Q_TIME_US:
    case Q_TIME_NS: return "s, ms, us, ns or ps";
    case Q_FREQ_GHZ: return "GHz, MHz, kHz or Hz";
    case Q_RATIO: return "\"\" (dimensionless)";
    }
    return "";
}

/* One {name, value, unit} entry into *out in canonical units. A null value leaves NAN. */
static hq_status get_value(const char *src, const char *path, const cJSON *entry, quantity k,
                           double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "value");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(entry, "unit");
    char p[160];
    if (!v || cJSON_IsNull(v)) return HQ_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        snprintf(p, sizeof p, "%s.value", path);
        return bad_field(src, p, v, "a number");
    }
    const char *unit = "";
    if (u && !cJSON_IsNull(u)) {
        if (!cJSON_IsString(u)) {
            snprintf(p, sizeof p, "%s.unit", path);
            return bad_field(src, p, u, "a string");
        }
        unit = u->valuestring;
    }
    double s = unit_scale(k, unit);
    if (s == 0)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: field '%s.unit' is \"%s\" (expected %s)", src,
                        path, unit, unit_hint(k));
    *out = v->valuedouble * s;
    return HQ_OK;
}

/* ==== configuration ==================================================================== */

static hq_status parse_conf(const char *src, const cJSON *root, hq_device **out) {
    hq_status st;
    if (!cJSON_IsObject(root)) return bad_field(src, "(top level)", root, "an object");
    int nq = 0;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "n_qubits");
    if (!j)
        return hq_failf(NULL, HQ_ERR_PARSE,
                        "%s: field 'n_qubits' is missing (is this a backend configuration?)", src);
    if ((st = get_int(src, "n_qubits", j, 1, DEVICE_MAX_QUBITS, &nq))) return st;
    hq_device *d;
    if ((st = hq_device_create(nq, &d))) return st;

    if ((st = get_str(src, "backend_name", cJSON_GetObjectItemCaseSensitive(root, "backend_name"),
                      d->name, sizeof d->name)) ||
        (st = get_str(src, "backend_version",
                      cJSON_GetObjectItemCaseSensitive(root, "backend_version"), d->version,
                      sizeof d->version)))
        goto fail;

    j = cJSON_GetObjectItemCaseSensitive(root, "basis_gates");
    if (!cJSON_IsArray(j)) {
        st = j ? bad_field(src, "basis_gates", j, "an array of gate names")
               : hq_failf(NULL, HQ_ERR_PARSE, "%s: field 'basis_gates' is missing", src);
        goto fail;
    }
    int i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        char p[64];
        snprintf(p, sizeof p, "basis_gates[%d]", i);
        if (!cJSON_IsString(e)) {
            st = bad_field(src, p, e, "a gate name");
            goto fail;
        }
        hq_gate g;
        if (hq_gate_from_name(e->valuestring, &g) != HQ_OK) { /* unknown: skipped */
            hq_clear_error();
            continue;
        }
        if (hq_device_supports(d, g) || d->n_basis >= DEVICE_BASIS_MAX) continue;
        d->basis[d->n_basis++] = g;
    }

    /* coupling_map: absent or null means no coupling information (simulators). */
    j = cJSON_GetObjectItemCaseSensitive(root, "coupling_map");
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsArray(j)) {
            st = bad_field(src, "coupling_map", j, "an array of [control, target] pairs");
            goto fail;
        }
        i = 0;
        for (const cJSON *e = j->child; e; e = e->next, i++) {
            char p[64];
            snprintf(p, sizeof p, "coupling_map[%d]", i);
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2) {
                st = bad_field(src, p, e, "a pair [control, target]");
                goto fail;
            }
            int ab[2];
            for (int k = 0; k < 2; k++) {
                char pk[80];
                snprintf(pk, sizeof pk, "%s[%d]", p, k);
                if ((st = get_int(src, pk, cJSON_GetArrayItem(e, k), 0, nq - 1, &ab[k]))) goto fail;
            }
            if (ab[0] == ab[1]) {
                st = hq_failf(NULL, HQ_ERR_PARSE,
                              "%s: field '%s' = [%d, %d] couples a qubit "
                              "to itself",
                              src, p, ab[0], ab[1]);
                goto fail;
            }
            if ((st = hq_device_add_edge(d, ab[0], ab[1]))) goto fail;
        }
    }

    j = cJSON_GetObjectItemCaseSensitive(root, "max_shots");
    if (j && !cJSON_IsNull(j) && (st = get_int(src, "max_shots", j, 0, 2147483647, &d->max_shots)))
        goto fail;
    j = cJSON_GetObjectItemCaseSensitive(root, "max_experiments");
    if (j && !cJSON_IsNull(j) &&
        (st = get_int(src, "max_experiments", j, 0, 2147483647, &d->max_experiments)))
        goto fail;
    j = cJSON_GetObjectItemCaseSensitive(root, "dt"); /* IBM gives dt in ns */
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsNumber(j) || !(j->valuedouble > 0) || !isfinite(j->valuedouble)) {
            st = bad_field(src, "dt", j, "a positive number of ns");
            goto fail;
        }
        d->dt_ns = j->valuedouble;
    }
    *out = d;
    return HQ_OK;
fail:
    hq_device_free(d);
    return st;
}

/* ==== properties ======================================================================= */

static hq_status parse_qubit(const char *src, const cJSON *list, int qi, hq_device_qubit *q) {
    static const struct {
        const char *name;
        quantity k;
        size_t off;
    } fields[] = {
        {"T1", Q_TIME_US, offsetof(hq_device_qubit, t1_us)},
        {"T2", Q_TIME_US, offsetof(hq_device_qubit, t2_us)},
        {"frequency", Q_FREQ_GHZ, offsetof(hq_device_qubit, frequency_ghz)},
        {"readout_error", Q_RATIO, offsetof(hq_device_qubit, readout_error)},
        {"prob_meas0_prep1", Q_RATIO, offsetof(hq_device_qubit, prob_meas0_prep1)},
        {"prob_meas1_prep0", Q_RATIO, offsetof(hq_device_qubit, prob_meas1_prep0)},
        {"readout_length", Q_TIME_NS, offsetof(hq_device_qubit, readout_length_ns)},
    };
    char p[96];
    snprintf(p, sizeof p, "qubits[%d]", qi);
    if (!cJSON_IsArray(list)) return bad_field(src, p, list, "an array of {name, value, unit}");
    int i = 0;
    for (const cJSON *e = list->child; e; e = e->next, i++) {
        snprintf(p, sizeof p, "qubits[%d][%d]", qi, i);
        if (!cJSON_IsObject(e)) return bad_field(src, p, e, "an object {name, value, unit}");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(nm)) {
            snprintf(p, sizeof p, "qubits[%d][%d].name", qi, i);
            return bad_field(src, p, nm, "a string");
        }
        for (size_t f = 0; f < HQ_ARRAY_LEN(fields); f++) {
            if (strcmp(nm->valuestring, fields[f].name) != 0) continue;
            snprintf(p, sizeof p, "qubits[%d] %s", qi, fields[f].name);
            hq_status st = get_value(src, p, e, fields[f].k, (double *)((char *)q + fields[f].off));
            if (st) return st;
        }
    }
    return HQ_OK;
}

static hq_status parse_gate(const char *src, const cJSON *e, int gi, hq_device *d) {
    char p[96];
    snprintf(p, sizeof p, "gates[%d]", gi);
    if (!cJSON_IsObject(e)) return bad_field(src, p, e, "an object {gate, qubits, parameters}");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "gate");
    snprintf(p, sizeof p, "gates[%d].gate", gi);
    if (!cJSON_IsString(nm)) return bad_field(src, p, nm, "a gate name");
    hq_gate g;
    if (hq_gate_from_name(nm->valuestring, &g) != HQ_OK) { /* unknown gate: skipped */
        hq_clear_error();
        return HQ_OK;
    }
    const hq_gate_info *info = hq_gate_get_info(g);
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(e, "qubits");
    snprintf(p, sizeof p, "gates[%d].qubits", gi);
    int n = cJSON_IsArray(qs) ? cJSON_GetArraySize(qs) : -1;
    if (n < 1 || n > 2) return bad_field(src, p, qs, "an array of 1 or 2 qubit indices");
    if (info->kind == HQ_KIND_BARRIER || (info->nq != 0 && info->nq != n)) return HQ_OK;
    int q[2] = {-1, -1};
    for (int k = 0; k < n; k++) {
        snprintf(p, sizeof p, "gates[%d].qubits[%d]", gi, k);
        hq_status st = get_int(src, p, cJSON_GetArrayItem(qs, k), 0, d->n_qubits - 1, &q[k]);
        if (st) return st;
    }
    if (n == 2 && q[0] == q[1]) {
        snprintf(p, sizeof p, "gates[%d].qubits", gi);
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: field '%s' = [%d, %d] repeats a qubit", src, p,
                        q[0], q[1]);
    }
    double err = NAN, len = NAN;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(e, "parameters");
    if (ps && !cJSON_IsNull(ps)) {
        snprintf(p, sizeof p, "gates[%d].parameters", gi);
        if (!cJSON_IsArray(ps)) return bad_field(src, p, ps, "an array of {name, value, unit}");
        int i = 0;
        for (const cJSON *x = ps->child; x; x = x->next, i++) {
            const cJSON *pn = cJSON_GetObjectItemCaseSensitive(x, "name");
            snprintf(p, sizeof p, "gates[%d].parameters[%d].name", gi, i);
            if (!cJSON_IsString(pn)) return bad_field(src, p, pn, "a string");
            hq_status st = HQ_OK;
            snprintf(p, sizeof p, "gates[%d] (%s) %s", gi, nm->valuestring, pn->valuestring);
            if (strcmp(pn->valuestring, "gate_error") == 0)
                st = get_value(src, p, x, Q_RATIO, &err);
            else if (strcmp(pn->valuestring, "gate_length") == 0)
                st = get_value(src, p, x, Q_TIME_NS, &len);
            if (st) return st;
        }
    }
    return hq_device_add_gate(d, g, q[0], q[1], err, len);
}

static hq_status parse_props(const char *src, const cJSON *root, hq_device *d) {
    hq_status st;
    if (!cJSON_IsObject(root)) return bad_field(src, "(top level)", root, "an object");
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(root, "backend_name");
    if (cJSON_IsString(bn) && d->name[0] && strcmp(bn->valuestring, d->name) != 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: properties are for backend '%s' but the configuration is for "
                        "'%s'\n---> HINT: pass the configuration and properties of the same device",
                        src, bn->valuestring, d->name);
    if ((st = get_str(src, "last_update_date",
                      cJSON_GetObjectItemCaseSensitive(root, "last_update_date"), d->calibration_id,
                      sizeof d->calibration_id)))
        return st;

    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "qubits");
    if (qs && !cJSON_IsNull(qs)) {
        if (!cJSON_IsArray(qs)) return bad_field(src, "qubits", qs, "an array (one per qubit)");
        int n = cJSON_GetArraySize(qs);
        if (n > d->n_qubits)
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "%s: field 'qubits' lists %d qubits but the configuration has "
                            "n_qubits = %d",
                            src, n, d->n_qubits);
        int i = 0;
        for (const cJSON *e = qs->child; e; e = e->next, i++)
            if ((st = parse_qubit(src, e, i, &d->qubits[i]))) return st;
    }
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(root, "gates");
    if (gs && !cJSON_IsNull(gs)) {
        if (!cJSON_IsArray(gs)) return bad_field(src, "gates", gs, "an array of gate records");
        int i = 0;
        for (const cJSON *e = gs->child; e; e = e->next, i++)
            if ((st = parse_gate(src, e, i, d))) return st;
    }
    return HQ_OK;
}

/* ==== entry points ====================================================================== */

static hq_status from_json(const char *conf_src, const char *conf_json, const char *props_src,
                           const char *props_json, hq_device **out) {
    hq_status st = HQ_OK;
    cJSON *c = parse_doc(conf_src, conf_json, &st);
    if (!c) return st;
    hq_device *d = NULL;
    st = parse_conf(conf_src, c, &d);
    cJSON_Delete(c);
    if (st) return st;
    if (props_json) {
        cJSON *p = parse_doc(props_src, props_json, &st);
        if (!p) {
            hq_device_free(d);
            return st;
        }
        st = parse_props(props_src, p, d);
        cJSON_Delete(p);
        if (st) {
            hq_device_free(d);
            return st;
        }
    }
    *out = d;
    return HQ_OK;
}

hq_status hq_device_from_ibm_json(const char *conf_json, const char *props_json, hq_device **out) {
    if (!out || !conf_json)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_from_ibm_json: conf_json and out must not be NULL");
    *out = NULL;
    return from_json("hq_device_from_ibm_json: configuration", conf_json,
                     "hq_device_from_ibm_json: properties", props_json, out);
}

hq_status hq_device_load_ibm(const char *conf_path, const char *props_path, hq_device **out) {
    if (!out || !conf_path)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_device_load_ibm: conf_path and out must not be NULL");
    *out = NULL;
    char *conf = NULL, *props = NULL;
    hq_status st = hq_file_read(conf_path, DEVICE_MAX_FILE, &conf, NULL);
    if (st) return hq_fail_prefix(NULL, st, "hq_device_load_ibm: configuration");
    if (props_path && (st = hq_file_read(props_path, DEVICE_MAX_FILE, &props, NULL))) {
        hq_free(conf);
        return hq_fail_prefix(NULL, st, "hq_device_load_ibm: properties");
    }
    char csrc[512], psrc[512];
    snprintf(csrc, sizeof csrc, "hq_device_load_ibm: %s", conf_path);
    snprintf(psrc, sizeof psrc, "hq_device_load_ibm: %s", props_path ? props_path : "");
    st = from_json(csrc, conf, psrc, props, out);
    hq_free(conf);
    hq_free(props);
    return st;
}
