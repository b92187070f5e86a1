/*
 * tests/test_rest_util.c — helpers of the REST backend tests (see test_rest_util.h).
 */
#include "tests/test_rest_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/sv_ref.h"
#include "tests/hq_test_server.h"

hq_circuit *rt_random_circuit(hq_rng *rng, int n, int m, int n_gates, bool with_ccx,
                              bool leave_holes) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", n, NULL);
    hq_circuit_add_creg(c, "meas", m, NULL);
    for (int g = 0; g < n_gates; g++) {
        int kind = (int)hq_rng_below(rng, with_ccx && n >= 3 ? 9 : 8);
        int a = (int)hq_rng_below(rng, (uint64_t)n),
            b = (a + 1 + (int)hq_rng_below(rng, (uint64_t)n - 1)) % n;
        int t = 0;
        for (t = 0; t < n && (t == a || t == b); t++) {
        }
        double th = (hq_rng_uniform(rng) * 2 - 1) * M_PI;
        switch (kind) {
        case 0: hq_circuit_add_gate(c, HQ_GATE_H, &a, NULL); break;
        case 1: hq_circuit_add_gate(c, HQ_GATE_X, &a, NULL); break;
        case 2: hq_circuit_add_gate(c, HQ_GATE_SX, &a, NULL); break;
        case 3: hq_circuit_add_gate(c, HQ_GATE_RY, &a, &th); break;
        case 4: hq_circuit_add_gate(c, HQ_GATE_RZ, &a, &th); break;
        case 5: hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){a, b}, NULL); break;
        case 6: hq_circuit_add_gate(c, HQ_GATE_CZ, (int[]){a, b}, NULL); break;
        case 7: hq_circuit_add_gate(c, HQ_GATE_SWAP, (int[]){a, b}, NULL); break;
        default: hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){a, b, t}, NULL); break;
        }
    }
    /* measure a random injective map qubits -> clbits */
    int qs[64], cs[64];
    for (int i = 0; i < n; i++) qs[i] = i;
    for (int i = 0; i < m; i++) cs[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hq_rng_below(rng, (uint64_t)i + 1), x = qs[i];
        qs[i] = qs[j], qs[j] = x;
    }
    for (int i = m - 1; i > 0; i--) {
        int j = (int)hq_rng_below(rng, (uint64_t)i + 1), x = cs[i];
        cs[i] = cs[j], cs[j] = x;
    }
    int k = n < m ? n : m;
    if (leave_holes && k > 1) k--;
    for (int i = 0; i < k; i++) hq_circuit_add_measure(c, qs[i], cs[i]);
    return c;
}

hq_status rt_qubit_probs(const hq_circuit *c, const double *sym, double *probs) {
    int n = hq_circuit_n_qubits(c);
    size_t dim = (size_t)1 << n;
    hq_cplx *st = hq_malloc(dim * sizeof *st);
    if (!st) return HQ_ERR_NOMEM;
    hq_status s = hq_ref_simulate(c, sym, true, st);
    for (size_t i = 0; s == HQ_OK && i < dim; i++) {
        double re = creal(st[i]), im = cimag(st[i]);
        probs[i] = re * re + im * im;
    }
    hq_free(st);
    return s;
}

hq_status rt_clbit_probs(const hq_circuit *c, const double *sym, double *probs) {
    int n = hq_circuit_n_qubits(c), m = hq_circuit_n_clbits(c);
    int qof[64];
    for (int k = 0; k < m; k++) qof[k] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++)
        if (ops[i].gate == HQ_GATE_MEASURE) qof[ops[i].clbit] = ops[i].q[0];
    size_t dim = (size_t)1 << n;
    double *qp = hq_malloc(dim * sizeof *qp);
    if (!qp) return HQ_ERR_NOMEM;
    hq_status s = rt_qubit_probs(c, sym, qp);
    for (size_t v = 0; v < ((size_t)1 << m); v++) probs[v] = 0;
    for (size_t i = 0; s == HQ_OK && i < dim; i++) {
        size_t v = 0;
        for (int k = 0; k < m; k++)
            if (qof[k] >= 0 && ((i >> qof[k]) & 1)) v |= (size_t)1 << k;
        probs[v] += qp[i];
    }
    hq_free(qp);
    return s;
}

static int num_int(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

static double num_d(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

hq_status rt_ionq_decode(const cJSON *gates, int n, bool native, hq_circuit **out) {
    hq_circuit *c;
    hq_status st = hq_circuit_create(&c);
    if (st) return st;
    hq_circuit_add_qreg(c, "q", n, NULL);
    const cJSON *g;
    cJSON_ArrayForEach(g, gates) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(g, "gate");
        const char *name = cJSON_IsString(nm) ? nm->valuestring : "";
        int t = num_int(g, "target");
        int ctl[3], nc = 0;
        if (num_int(g, "control") >= 0) ctl[nc++] = num_int(g, "control");
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(g, "controls");
        const cJSON *x;
        cJSON_ArrayForEach(x, cs) if (nc < 3) ctl[nc++] = (int)x->valuedouble;
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(g, "targets");
        int t2[2] = {-1, -1};
        if (cJSON_GetArraySize(ts) == 2) {
            t2[0] = (int)cJSON_GetArrayItem(ts, 0)->valuedouble;
            t2[1] = (int)cJSON_GetArrayItem(ts, 1)->valuedouble;
        }
        double r = num_d(g, "rotation", 0);
        if (native) {
            double ph = num_d(g, "phase", 0);
            if (!strcmp(name, "gpi"))
                st = hq_circuit_add_gate(c, HQ_GATE_GPI, &t, &ph);
            else if (!strcmp(name, "gpi2"))
                st = hq_circuit_add_gate(c, HQ_GATE_GPI2, &t, &ph);
            else if (!strcmp(name, "ms")) {
                const cJSON *phs = cJSON_GetObjectItemCaseSensitive(g, "phases");
                double p3[3] = {cJSON_GetArrayItem(phs, 0)->valuedouble,
                                cJSON_GetArrayItem(phs, 1)->valuedouble, num_d(g, "angle", 0.25)};
                st = hq_circuit_add_gate(c, HQ_GATE_MS, t2, p3);
            } else if (!strcmp(name, "zz")) {
                double th = num_d(g, "angle", 0) * 2 * M_PI;
                st = hq_circuit_add_gate(c, HQ_GATE_RZZ, t2, &th);
            } else
                st = HQ_ERR_UNSUPPORTED;
            if (st) break;
            continue;
        }
        static const struct {
            const char *name;
            hq_gate g0, g1, g2; /* 0, 1, 2 controls */
        } map[] = {{"x", HQ_GATE_X, HQ_GATE_CX, HQ_GATE_CCX},
                   {"not", HQ_GATE_X, HQ_GATE_CX, HQ_GATE_CCX},
                   {"cnot", HQ_GATE_CX, HQ_GATE_CX, HQ_GATE_CCX},
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
        int k = 0;
        while (k < (int)HQ_ARRAY_LEN(map) && strcmp(map[k].name, name)) k++;
        if (k == (int)HQ_ARRAY_LEN(map)) {
            st = HQ_ERR_UNSUPPORTED;
            break;
        }
        if (!strcmp(name, "cnot") && nc == 0) nc = -1; /* cnot needs a control */
        hq_gate gg = nc == 0   ? map[k].g0
                     : nc == 1 ? map[k].g1
                     : nc == 2 ? map[k].g2
                               : HQ_GATE_COUNT;
        if (gg == HQ_GATE_COUNT) {
            st = HQ_ERR_UNSUPPORTED;
            break;
        }
        int qs[3];
        int nq = 0;
        for (int i = 0; i < nc; i++) qs[nq++] = ctl[i];
        if (t2[0] >= 0 && t < 0) {
            qs[nq++] = t2[0];
            qs[nq++] = t2[1];
        } else {
            qs[nq++] = t;
        }
        const hq_gate_info *gi = hq_gate_get_info(gg);
        st = hq_circuit_add_gate(c, gg, qs, gi->np ? &r : NULL);
        if (st) break;
    }
    if (st) {
        hq_circuit_free(c);
        return st;
    }
    *out = c;
    return HQ_OK;
}

double rt_counts_dist(const hq_counts *c, const double *p) {
    double d = 0;
    size_t dim = (size_t)1 << c->n_bits;
    int64_t shots = c->shots > 0 ? c->shots : 1;
    for (size_t v = 0; v < dim; v++) {
        int64_t k = 0;
        for (int64_t i = 0; i < c->n; i++)
            if (c->outcome[i] == v) k += c->count[i];
        d = fmax(d, fabs((double)k / (double)shots - p[v]));
    }
    for (int64_t i = 0; i < c->n; i++)
        if (c->outcome[i] >= dim) d = 1; /* an outcome wider than the register */
    return d;
}

cJSON *rt_request_json(struct hq_ts_server *s, int i) {
    hq_ts_request r = hq_ts_get_request(s, i);
    return r.body ? cJSON_ParseWithLength(r.body, r.body_len) : NULL;
}

void rt_round_counts(const double *p, int64_t n, int64_t shots, int64_t *out) {
    int64_t tot = 0;
    for (int64_t i = 0; i < n; i++) {
        out[i] = (int64_t)floor(p[i] * (double)shots);
        tot += out[i];
    }
    while (tot < shots) { /* largest remainder */
        int64_t best = 0;
        double br = -1;
        for (int64_t i = 0; i < n; i++) {
            double r = p[i] * (double)shots - (double)out[i];
            if (r > br) br = r, best = i;
        }
        out[best]++;
        tot++;
    }
}
