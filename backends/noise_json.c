/*
 * backends/noise_json.c — noise model <-> JSON (schema in noise.h and docs/noise.md).
 * Parsing is strict: unknown fields, wrong types and out-of-range values are errors that
 * name the field by its path ("gates[3].error"). Writing is deterministic and round-trips
 * every double exactly.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/noise_impl.h"

#define WHO         "noise model JSON"
#define FORMAT_NAME "hqcnn-noise-model"

/* ==== parsing helpers =================================================================== */

static hq_status fail(hq_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hq_status fail(hq_status s, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hq_failf(NULL, s, "%s: %s", WHO, msg);
}

/* Reject members of obj not in the NULL-terminated list `allowed`. */
static hq_status check_keys(const cJSON *obj, const char *path, const char *const *allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            if (it->string && !strcmp(it->string, allowed[i])) ok = true;
        if (!ok) {
            char list[256] = "";
            size_t len = 0;
            for (int i = 0; allowed[i]; i++)
                len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                        "%s%s", i ? ", " : "", allowed[i]);
            return fail(HQ_ERR_PARSE, "unknown field '%s%s%s' (expected one of: %s)", path,
                        *path ? "." : "", it->string ? it->string : "?", list);
        }
    }
    return HQ_OK;
}

/* Optional number member: absent -> *out unchanged; null -> INFINITY if allow_null. */
static hq_status get_num(const cJSON *obj, const char *key, const char *path, bool allow_null,
                         double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return HQ_OK;
    if (cJSON_IsNull(v) && allow_null) {
        *out = INFINITY;
        return HQ_OK;
    }
    if (!cJSON_IsNumber(v))
        return fail(HQ_ERR_PARSE, "%s%s%s must be a number%s", path, *path ? "." : "", key,
                    allow_null ? " or null (infinite)" : "");
    *out = v->valuedouble;
    return HQ_OK;
}

/* Required number member. */
static hq_status need_num(const cJSON *obj, const char *key, const char *path, double *out) {
    if (!cJSON_GetObjectItemCaseSensitive(obj, key))
        return fail(HQ_ERR_PARSE, "%s.%s is missing", path, key);
    return get_num(obj, key, path, false, out);
}

/* Integer-valued number in [lo, hi]. */
static hq_status as_int(const cJSON *v, const char *path, long lo, long hi, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return fail(HQ_ERR_PARSE, "%s must be an integer", path);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return fail(HQ_ERR_INVALID_ARG, "%s = %g out of range [%ld, %ld]", path, v->valuedouble, lo,
                    hi);
    *out = (int)v->valuedouble;
    return HQ_OK;
}

static const char *const QUBIT_KEYS[] = {
    "t1_us", "t2_us", "excited_population", "prob_meas0_prep1", "prob_meas1_prep0", NULL};

static hq_status parse_qubit(const cJSON *obj, const char *path, hq_noise_qubit *q) {
    *q = hq_noise_qubit_unset();
    if (!cJSON_IsObject(obj)) return fail(HQ_ERR_PARSE, "%s must be an object", path);
    hq_status st = check_keys(obj, path, QUBIT_KEYS);
    if (!st) st = get_num(obj, "t1_us", path, true, &q->t1_us);
    if (!st) st = get_num(obj, "t2_us", path, true, &q->t2_us);
    if (!st) st = get_num(obj, "excited_population", path, false, &q->excited_population);
    if (!st) st = get_num(obj, "prob_meas0_prep1", path, false, &q->prob_meas0_prep1);
    if (!st) st = get_num(obj, "prob_meas1_prep0", path, false, &q->prob_meas1_prep0);
    return st;
}

/* ==== parse ============================================================================= */

static hq_status parse_model(const cJSON *root, hq_noise_model **out) {
    static const char *const TOP[] = {"format",   "version", "name",  "n_qubits", "scale",
                                      "defaults", "qubits",  "gates", NULL};
    if (!cJSON_IsObject(root)) return fail(HQ_ERR_PARSE, "the top level must be an object");
    hq_status st = check_keys(root, "", TOP);
    if (st) return st;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!fmt)
        return fail(HQ_ERR_PARSE, "format is missing (expected \"format\": \"%s\")", FORMAT_NAME);
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT_NAME))
        return fail(HQ_ERR_PARSE, "format must be \"%s\"", FORMAT_NAME);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (ver) {
        int v;
        st = as_int(ver, "version", 1, 1, &v);
        if (st) return fail(st, "version: only version 1 is supported by this build");
    }
    int nq = 0;
    const cJSON *nqj = cJSON_GetObjectItemCaseSensitive(root, "n_qubits");
    if (nqj) {
        st = as_int(nqj, "n_qubits", 0, HQ_NOISE_MAX_QUBITS, &nq);
        if (st) return st;
    }
    const cJSON *qubits = cJSON_GetObjectItemCaseSensitive(root, "qubits");
    if (qubits && !cJSON_IsArray(qubits))
        return fail(HQ_ERR_PARSE, "qubits must be an array (index = physical qubit)");
    if (qubits && cJSON_GetArraySize(qubits) > nq)
        return fail(HQ_ERR_INVALID_ARG,
                    "qubits has %d entries but n_qubits is %d (set n_qubits to the device's "
                    "physical qubit count)",
                    cJSON_GetArraySize(qubits), nq);
    hq_noise_model *m;
    st = hq_noise_create(nq, &m);
    if (st) return st;

    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name) {
        if (!cJSON_IsString(name))
            st = fail(HQ_ERR_PARSE, "name must be a string");
        else if (strlen(name->valuestring) >= sizeof m->name)
            st = fail(HQ_ERR_INVALID_ARG, "name is longer than %zu bytes", sizeof m->name - 1);
        else
            hq_noise_set_name(m, name->valuestring);
    }
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(root, "scale");
    if (!st && scale) {
        if (!cJSON_IsNumber(scale))
            st = fail(HQ_ERR_PARSE, "scale must be a number");
        else if (!(scale->valuedouble >= 0 && scale->valuedouble <= 1e6))
            st = fail(HQ_ERR_INVALID_ARG, "scale = %g out of range [0, 1e6]", scale->valuedouble);
        else
            m->scale = scale->valuedouble;
    }

    /* defaults */
    const cJSON *defs = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (!st && defs) {
        static const char *const DEF[] = {"qubit", "gate_1q", "gate_2q", "gate_3q", NULL};
        if (!cJSON_IsObject(defs)) st = fail(HQ_ERR_PARSE, "defaults must be an object");
        if (!st) st = check_keys(defs, "defaults", DEF);
        const cJSON *dq = cJSON_GetObjectItemCaseSensitive(defs, "qubit");
        if (!st && dq) {
            hq_noise_qubit q;
            st = parse_qubit(dq, "defaults.qubit", &q);
            if (!st) st = noise_set_default_qubit_ctx(m, &q, WHO, "defaults.qubit.");
        }
        for (int k = 1; k <= 3 && !st; k++) {
            char key[24], path[48], prefix[56];
            snprintf(key, sizeof key, "gate_%dq", k);
            snprintf(path, sizeof path, "defaults.%s", key);
            snprintf(prefix, sizeof prefix, "%s.", path);
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(defs, key);
            if (!g) continue;
            static const char *const GK[] = {"error", "duration_ns", NULL};
            double err = 0, dur = 0;
            if (!cJSON_IsObject(g)) st = fail(HQ_ERR_PARSE, "%s must be an object", path);
            if (!st) st = check_keys(g, path, GK);
            if (!st) st = need_num(g, "error", path, &err);
            if (!st) st = need_num(g, "duration_ns", path, &dur);
            if (!st) st = noise_set_default_gate_ctx(m, k, err, dur, WHO, prefix);
        }
    }

    /* qubits */
    for (int i = 0; !st && qubits && i < cJSON_GetArraySize(qubits); i++) {
        char path[48];
        snprintf(path, sizeof path, "qubits[%d]", i);
        hq_noise_qubit q;
        st = parse_qubit(cJSON_GetArrayItem(qubits, i), path, &q);
        if (!st) {
            char prefix[56];
            snprintf(prefix, sizeof prefix, "%s.", path);
            st = noise_set_qubit_ctx(m, i, &q, WHO, prefix);
        }
    }

    /* gates */
    const cJSON *gates = cJSON_GetObjectItemCaseSensitive(root, "gates");
    if (!st && gates && !cJSON_IsArray(gates)) st = fail(HQ_ERR_PARSE, "gates must be an array");
    for (int i = 0; !st && gates && i < cJSON_GetArraySize(gates); i++) {
        static const char *const GK[] = {"gate", "qubits", "error", "duration_ns", NULL};
        char path[48], prefix[56];
        snprintf(path, sizeof path, "gates[%d]", i);
        snprintf(prefix, sizeof prefix, "%s.", path);
        const cJSON *g = cJSON_GetArrayItem(gates, i);
        if (!cJSON_IsObject(g)) {
            st = fail(HQ_ERR_PARSE, "%s must be an object", path);
            break;
        }
        st = check_keys(g, path, GK);
        if (st) break;
        hq_noise_gate e = {HQ_NOISE_ANY_GATE, 0, {-1, -1, -1}, 0, 0};
        const cJSON *gn = cJSON_GetObjectItemCaseSensitive(g, "gate");
        if (!gn) {
            st = fail(HQ_ERR_PARSE, "%s.gate is missing (a gate name such as \"cx\", or \"*\")",
                      path);
            break;
        }
        if (!cJSON_IsString(gn)) {
            st = fail(HQ_ERR_PARSE, "%s.gate must be a string", path);
            break;
        }
        if (strcmp(gn->valuestring, "*") != 0 && hq_gate_from_name(gn->valuestring, &e.gate)) {
            st = fail(HQ_ERR_INVALID_ARG, "%s.gate: unknown gate '%s'", path, gn->valuestring);
            break;
        }
        const cJSON *qs = cJSON_GetObjectItemCaseSensitive(g, "qubits");
        if (qs) {
            if (!cJSON_IsArray(qs) || cJSON_GetArraySize(qs) < 1 || cJSON_GetArraySize(qs) > 3) {
                st = fail(HQ_ERR_PARSE, "%s.qubits must be an array of 1 to 3 qubit indices", path);
                break;
            }
            e.nq = cJSON_GetArraySize(qs);
            for (int j = 0; j < e.nq && !st; j++) {
                char qp[96];
                snprintf(qp, sizeof qp, "%s.qubits[%d]", path, j);
                st = as_int(cJSON_GetArrayItem(qs, j), qp, 0, HQ_NOISE_MAX_QUBITS, &e.q[j]);
            }
            if (st) break;
        } else if (e.gate == HQ_NOISE_ANY_GATE) {
            st = fail(HQ_ERR_PARSE,
                      "%s.qubits is missing: a \"*\" entry applies to given qubits (use "
                      "defaults.gate_1q/2q/3q for all qubits)",
                      path);
            break;
        }
        st = need_num(g, "error", path, &e.error);
        if (!st) st = need_num(g, "duration_ns", path, &e.duration_ns);
        if (!st) st = noise_set_gate_ctx(m, &e, WHO, prefix);
    }
    if (st) {
        hq_noise_free(m);
        return st;
    }
    *out = m;
    return HQ_OK;
}

hq_status hq_noise_from_json(const char *json, hq_noise_model **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_from_json: out is NULL");
    *out = NULL;
    if (!json) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_from_json: json is NULL");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        size_t pos = end && end >= json ? (size_t)(end - json) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < pos && json[i]; i++) {
            if (json[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: malformed JSON at line %d, column %d", WHO, line,
                        col);
    }
    hq_status st = parse_model(root, out);
    cJSON_Delete(root);
    return st;
}

hq_status hq_noise_load_json(const char *path, hq_noise_model **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_load_json: out is NULL");
    *out = NULL;
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_load_json: path is NULL");
    char *text;
    size_t len;
    hq_status st = hq_file_read(path, (size_t)64 << 20, &text, &len);
    if (st) return hq_fail_prefix(NULL, st, "loading noise model %s", path);
    st = hq_noise_from_json(text, out);
    hq_free(text);
    if (st) return hq_fail_prefix(NULL, st, "%s", path);
    return HQ_OK;
}

/* ==== write ============================================================================= */

static void put_field(hq_sbuf *b, bool *first, const char *key, double v) {
    if (isnan(v)) return;
    hq_sbuf_printf(b, "%s\"%s\": ", *first ? "" : ", ", key);
    *first = false;
    if (isinf(v))
        hq_sbuf_puts(b, "null");
    else
        hq_sbuf_put_double(b, v);
}

static void put_qubit(hq_sbuf *b, const hq_noise_qubit *q) {
    bool first = true;
    hq_sbuf_putc(b, '{');
    put_field(b, &first, "t1_us", q->t1_us);
    put_field(b, &first, "t2_us", q->t2_us);
    put_field(b, &first, "excited_population", q->excited_population);
    put_field(b, &first, "prob_meas0_prep1", q->prob_meas0_prep1);
    put_field(b, &first, "prob_meas1_prep0", q->prob_meas1_prep0);
    hq_sbuf_putc(b, '}');
}

static void put_gate_params(hq_sbuf *b, const hq_noise_gate *g) {
    hq_sbuf_puts(b, "\"error\": ");
    hq_sbuf_put_double(b, g->error);
    hq_sbuf_puts(b, ", \"duration_ns\": ");
    hq_sbuf_put_double(b, g->duration_ns);
}

static bool qubit_unset(const hq_noise_qubit *q) {
    return isnan(q->t1_us) && isnan(q->t2_us) && isnan(q->excited_population) &&
           isnan(q->prob_meas0_prep1) && isnan(q->prob_meas1_prep0);
}

hq_status hq_noise_to_json(const hq_noise_model *m, hq_sbuf *b) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!b) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_to_json: out is NULL");
    hq_sbuf_printf(b, "{\n  \"format\": \"%s\",\n  \"version\": 1,\n  \"name\": ", FORMAT_NAME);
    hq_sbuf_put_json_str(b, m->name);
    hq_sbuf_printf(b, ",\n  \"n_qubits\": %d,\n  \"scale\": ", m->n_qubits);
    hq_sbuf_put_double(b, m->scale);
    hq_sbuf_puts(b, ",\n  \"defaults\": {");
    bool first = true;
    if (!qubit_unset(&m->def_qubit)) {
        hq_sbuf_puts(b, "\n    \"qubit\": ");
        put_qubit(b, &m->def_qubit);
        first = false;
    }
    for (int k = 0; k < 3; k++) {
        if (!m->has_def_gate[k]) continue;
        hq_sbuf_printf(b, "%s\n    \"gate_%dq\": {", first ? "" : ",", k + 1);
        put_gate_params(b, &m->def_gate[k]);
        hq_sbuf_putc(b, '}');
        first = false;
    }
    hq_sbuf_puts(b, first ? "},\n" : "\n  },\n");
    hq_sbuf_puts(b, "  \"qubits\": [");
    for (int q = 0; q < m->n_qubits; q++) {
        hq_sbuf_puts(b, q ? ",\n    " : "\n    ");
        put_qubit(b, &m->qubits[q]);
    }
    hq_sbuf_puts(b, m->n_qubits ? "\n  ],\n" : "],\n");
    hq_sbuf_puts(b, "  \"gates\": [");
    for (int i = 0; i < m->n_gates; i++) {
        const hq_noise_gate *g = &m->gates[i];
        hq_sbuf_puts(b, i ? ",\n    {\"gate\": " : "\n    {\"gate\": ");
        hq_sbuf_put_json_str(b,
                             g->gate == HQ_NOISE_ANY_GATE ? "*" : hq_gate_get_info(g->gate)->name);
        if (g->nq) {
            hq_sbuf_puts(b, ", \"qubits\": [");
            for (int j = 0; j < g->nq; j++) hq_sbuf_printf(b, "%s%d", j ? ", " : "", g->q[j]);
            hq_sbuf_putc(b, ']');
        }
        hq_sbuf_puts(b, ", ");
        put_gate_params(b, g);
        hq_sbuf_putc(b, '}');
    }
    hq_sbuf_puts(b, m->n_gates ? "\n  ]\n}\n" : "]\n}\n");
    if (hq_sbuf_status(b)) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_noise_to_json: out of memory");
    return HQ_OK;
}

hq_status hq_noise_save_json(const hq_noise_model *m, const char *path) {
    HQ_CHECK_HANDLE(m, HQ_MAGIC_NOISE);
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_noise_save_json: path is NULL");
    hq_sbuf b = HQ_SBUF_INIT;
    hq_status st = hq_noise_to_json(m, &b);
    if (!st) st = hq_file_write_atomic(path, b.p, b.len);
    hq_sbuf_free(&b);
    if (st) return hq_fail_prefix(NULL, st, "saving noise model %s", path);
    return HQ_OK;
}
