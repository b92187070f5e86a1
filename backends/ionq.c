/*
 * backends/ionq.c — IonQ job bodies (QIS and native gatesets, single and multi-circuit,
 * v0.3 / v0.4) and the parsers of IonQ's create, job, results, characterization and
 * backend-list responses. See ionq.h for the gate mapping and conventions.
 */
#include "backends/ionq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qpu_impl.h"

#define META_MAX_KEYS 10
#define META_KEY_MAX  40
#define META_VAL_MAX  400

/* ==== circuit -> gate list ============================================================ */

typedef struct emitter {
    hq_sbuf *out;
    bool first;
} emitter;

static void num(hq_sbuf *b, double v) {
    if (v == 0) v = 0; /* no "-0" */
    hq_sbuf_put_double(b, v);
}

static double turns(double v) {
    double t = v - floor(v);
    return t >= 1.0 ? 0.0 : t;
}

static void begin(emitter *e, const char *gate) {
    if (!e->first) hq_sbuf_putc(e->out, ',');
    e->first = false;
    hq_sbuf_printf(e->out, "{\"gate\":\"%s\"", gate);
}

/* {"gate":g,"target":t[,"control":c | "controls":[..]][,"rotation":r]} */
static void g1(emitter *e, const char *gate, int t, const int *ctl, int nctl, bool has_rot,
               double rot) {
    begin(e, gate);
    if (nctl == 1) hq_sbuf_printf(e->out, ",\"control\":%d", ctl[0]);
    if (nctl > 1) {
        hq_sbuf_puts(e->out, ",\"controls\":[");
        for (int i = 0; i < nctl; i++) hq_sbuf_printf(e->out, "%s%d", i ? "," : "", ctl[i]);
        hq_sbuf_putc(e->out, ']');
    }
    hq_sbuf_printf(e->out, ",\"target\":%d", t);
    if (has_rot) {
        hq_sbuf_puts(e->out, ",\"rotation\":");
        num(e->out, rot);
    }
    hq_sbuf_putc(e->out, '}');
}

/* {"gate":g[,"controls":[..]],"targets":[a,b][,"rotation":r]} */
static void g2(emitter *e, const char *gate, int a, int b, const int *ctl, int nctl, bool has_rot,
               double rot) {
    begin(e, gate);
    if (nctl) {
        hq_sbuf_puts(e->out, ",\"controls\":[");
        for (int i = 0; i < nctl; i++) hq_sbuf_printf(e->out, "%s%d", i ? "," : "", ctl[i]);
        hq_sbuf_putc(e->out, ']');
    }
    hq_sbuf_printf(e->out, ",\"targets\":[%d,%d]", a, b);
    if (has_rot) {
        hq_sbuf_puts(e->out, ",\"rotation\":");
        num(e->out, rot);
    }
    hq_sbuf_putc(e->out, '}');
}

static hq_status unsupported(const char *fn, const char *gate, hq_ionq_gateset gs, int64_t op) {
    if (gs == HQ_IONQ_NATIVE)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: gate '%s' (operation %lld) is not an IonQ native gate (gpi, gpi2, "
                        "ms, zz) ---> HINT: transpile to IonQ native gates first, or submit "
                        "with the QIS gateset",
                        fn, gate, (long long)op);
    return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                    "%s: gate '%s' (operation %lld) has no IonQ QIS form ---> HINT: transpile "
                    "it to x/y/z/h/s/t/sx/rx/ry/rz/cx/swap/rxx/ryy/rzz first%s",
                    fn, gate, (long long)op,
                    (!strcmp(gate, "gpi") || !strcmp(gate, "gpi2") || !strcmp(gate, "ms"))
                        ? ", or submit with the native gateset"
                        : "");
}

static hq_status emit_qis(emitter *e, const char *fn, const hq_op *op, const double *ang,
                          const int *q, int64_t k) {
    double p0 = op->np > 0 ? ang[op->p[0]] : 0, p1 = op->np > 1 ? ang[op->p[1]] : 0,
           p2 = op->np > 2 ? ang[op->p[2]] : 0, p3 = op->np > 3 ? ang[op->p[3]] : 0;
    static const char *simple[HQ_GATE_COUNT] = {
        [HQ_GATE_X] = "x",  [HQ_GATE_Y] = "y",    [HQ_GATE_Z] = "z", [HQ_GATE_H] = "h",
        [HQ_GATE_S] = "s",  [HQ_GATE_SDG] = "si", [HQ_GATE_T] = "t", [HQ_GATE_TDG] = "ti",
        [HQ_GATE_SX] = "v", [HQ_GATE_SXDG] = "vi"};
    hq_gate g = (hq_gate)op->gate;
    switch (g) {
    case HQ_GATE_ID:
    case HQ_GATE_BARRIER: return HQ_OK;
    case HQ_GATE_X:
    case HQ_GATE_Y:
    case HQ_GATE_Z:
    case HQ_GATE_H:
    case HQ_GATE_S:
    case HQ_GATE_SDG:
    case HQ_GATE_T:
    case HQ_GATE_TDG:
    case HQ_GATE_SX:
    case HQ_GATE_SXDG: g1(e, simple[g], q[0], NULL, 0, false, 0); return HQ_OK;
    case HQ_GATE_RX: g1(e, "rx", q[0], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_RY: g1(e, "ry", q[0], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_RZ:
    case HQ_GATE_P:
    case HQ_GATE_U1: g1(e, "rz", q[0], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_U2: /* U3(pi/2, phi, lambda) */
        g1(e, "rz", q[0], NULL, 0, true, p1);
        g1(e, "ry", q[0], NULL, 0, true, M_PI / 2);
        g1(e, "rz", q[0], NULL, 0, true, p0);
        return HQ_OK;
    case HQ_GATE_U3:
    case HQ_GATE_U: /* U3(th, ph, la) = e^{i(ph+la)/2} RZ(ph) RY(th) RZ(la) */
        g1(e, "rz", q[0], NULL, 0, true, p2);
        g1(e, "ry", q[0], NULL, 0, true, p0);
        g1(e, "rz", q[0], NULL, 0, true, p1);
        return HQ_OK;
    case HQ_GATE_CX:
        begin(e, "cnot");
        hq_sbuf_printf(e->out, ",\"control\":%d,\"target\":%d}", q[0], q[1]);
        return HQ_OK;
    case HQ_GATE_CY: g1(e, "y", q[1], q, 1, false, 0); return HQ_OK;
    case HQ_GATE_CZ: g1(e, "z", q[1], q, 1, false, 0); return HQ_OK;
    case HQ_GATE_CH: g1(e, "h", q[1], q, 1, false, 0); return HQ_OK;
    case HQ_GATE_CSX: g1(e, "v", q[1], q, 1, false, 0); return HQ_OK;
    case HQ_GATE_CRX: g1(e, "rx", q[1], q, 1, true, p0); return HQ_OK;
    case HQ_GATE_CRY: g1(e, "ry", q[1], q, 1, true, p0); return HQ_OK;
    case HQ_GATE_CRZ: g1(e, "rz", q[1], q, 1, true, p0); return HQ_OK;
    case HQ_GATE_CP:
    case HQ_GATE_CU1: /* CP(l) = CRZ(l) . (RZ(l/2) on the control), up to global phase */
        g1(e, "rz", q[1], q, 1, true, p0);
        g1(e, "rz", q[0], NULL, 0, true, p0 / 2);
        return HQ_OK;
    case HQ_GATE_CU3:
    case HQ_GATE_CU: {
        /* controlled e^{i g} U3(th,ph,la) = P((ph+la)/2 + g) on the control . C-[RZ RY RZ] */
        double gam = g == HQ_GATE_CU ? p3 : 0;
        g1(e, "rz", q[1], q, 1, true, p2);
        g1(e, "ry", q[1], q, 1, true, p0);
        g1(e, "rz", q[1], q, 1, true, p1);
        g1(e, "rz", q[0], NULL, 0, true, (p1 + p2) / 2 + gam);
        return HQ_OK;
    }
    case HQ_GATE_SWAP: g2(e, "swap", q[0], q[1], NULL, 0, false, 0); return HQ_OK;
    case HQ_GATE_ISWAP: /* exp(i pi/4 (XX + YY)) */
        g2(e, "xx", q[0], q[1], NULL, 0, true, -M_PI / 2);
        g2(e, "yy", q[0], q[1], NULL, 0, true, -M_PI / 2);
        return HQ_OK;
    case HQ_GATE_RXX: g2(e, "xx", q[0], q[1], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_RYY: g2(e, "yy", q[0], q[1], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_RZZ: g2(e, "zz", q[0], q[1], NULL, 0, true, p0); return HQ_OK;
    case HQ_GATE_CCX: g1(e, "x", q[2], q, 2, false, 0); return HQ_OK;
    case HQ_GATE_CSWAP: { /* CX(b->a) . CCX(c, a -> b) . CX(b->a) */
        int c = q[0], a = q[1], b = q[2];
        begin(e, "cnot");
        hq_sbuf_printf(e->out, ",\"control\":%d,\"target\":%d}", b, a);
        int ctl[2] = {c, a};
        g1(e, "x", b, ctl, 2, false, 0);
        begin(e, "cnot");
        hq_sbuf_printf(e->out, ",\"control\":%d,\"target\":%d}", b, a);
        return HQ_OK;
    }
    default: return unsupported(fn, hq_gate_get_info(g)->name, HQ_IONQ_QIS, k);
    }
}

static hq_status emit_native(emitter *e, const char *fn, const hq_op *op, const double *ang,
                             const int *q, int64_t k) {
    hq_gate g = (hq_gate)op->gate;
    switch (g) {
    case HQ_GATE_ID:
    case HQ_GATE_BARRIER: return HQ_OK;
    case HQ_GATE_GPI:
    case HQ_GATE_GPI2:
        begin(e, g == HQ_GATE_GPI ? "gpi" : "gpi2");
        hq_sbuf_printf(e->out, ",\"target\":%d,\"phase\":", q[0]);
        num(e->out, turns(ang[op->p[0]]));
        hq_sbuf_putc(e->out, '}');
        return HQ_OK;
    case HQ_GATE_MS:
        begin(e, "ms");
        hq_sbuf_printf(e->out, ",\"targets\":[%d,%d],\"phases\":[", q[0], q[1]);
        num(e->out, turns(ang[op->p[0]]));
        hq_sbuf_putc(e->out, ',');
        num(e->out, turns(ang[op->p[1]]));
        hq_sbuf_puts(e->out, "],\"angle\":");
        num(e->out, ang[op->p[2]]);
        hq_sbuf_putc(e->out, '}');
        return HQ_OK;
    case HQ_GATE_RZZ: /* ZZ(t turns) = RZZ(2 pi t) */
        begin(e, "zz");
        hq_sbuf_printf(e->out, ",\"targets\":[%d,%d],\"angle\":", q[0], q[1]);
        num(e->out, ang[op->p[0]] / (2 * M_PI));
        hq_sbuf_putc(e->out, '}');
        return HQ_OK;
    default: return unsupported(fn, hq_gate_get_info(g)->name, HQ_IONQ_NATIVE, k);
    }
}

static hq_status circuit_json(const char *fn, const hq_circuit *c, hq_ionq_gateset gs,
                              hq_sbuf *out) {
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: circuit is NULL", fn);
    int nq = hq_circuit_n_qubits(c);
    if (nq < 1 || nq > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: circuit has %d qubits (IonQ: 1..64)", fn,
                        nq);
    if (hq_circuit_is_symbolic(c))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit has unbound symbols ---> HINT: bind the parameters "
                        "(hq_circuit_bind) before building an IonQ job",
                        fn);
    int64_t nops = hq_circuit_n_ops(c), nang = hq_circuit_n_angles(c);
    double *ang = hq_malloc((size_t)(nang > 0 ? nang : 1) * sizeof *ang);
    bool *measured = hq_calloc((size_t)nq, sizeof *measured);
    if (!ang || !measured) {
        hq_free(ang);
        hq_free(measured);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    }
    hq_circuit_eval_angles(c, NULL, ang);
    const hq_op *ops = hq_circuit_ops(c);
    emitter e = {out, true};
    hq_status st = HQ_OK;
    hq_sbuf_putc(out, '[');
    for (int64_t k = 0; k < nops && st == HQ_OK; k++) {
        const hq_op *op = &ops[k];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
        if (op->cond_creg >= 0) {
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: operation %lld ('%s') is classically conditioned; IonQ circuits "
                          "have no classical control",
                          fn, (long long)k, gi->name);
            break;
        }
        if (gi->kind == HQ_KIND_RESET) {
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: operation %lld is a reset; IonQ circuits have no reset", fn,
                          (long long)k);
            break;
        }
        if (gi->kind == HQ_KIND_BARRIER) continue;
        int q[HQ_GATE_MAX_QUBITS] = {0, 0, 0};
        for (int j = 0; j < op->nq && j < HQ_GATE_MAX_QUBITS; j++) q[j] = op->q[j];
        if (gi->kind == HQ_KIND_MEASURE) {
            if (measured[q[0]]) {
                st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                              "%s: qubit %d is measured twice (operation %lld); IonQ measures "
                              "each qubit once, at the end",
                              fn, q[0], (long long)k);
                break;
            }
            measured[q[0]] = true;
            continue;
        }
        for (int j = 0; j < op->nq; j++)
            if (measured[q[j]]) {
                st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                              "%s: gate '%s' (operation %lld) acts on qubit %d after it was "
                              "measured; IonQ has no mid-circuit measurement",
                              fn, gi->name, (long long)k, q[j]);
                break;
            }
        if (st != HQ_OK) break;
        st = gs == HQ_IONQ_NATIVE ? emit_native(&e, fn, op, ang, q, k)
                                  : emit_qis(&e, fn, op, ang, q, k);
    }
    hq_sbuf_putc(out, ']');
    hq_free(ang);
    hq_free(measured);
    return st;
}

hq_status hq_ionq_circuit_json(const hq_circuit *c, hq_ionq_gateset gs, hq_sbuf *out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    size_t len0 = out->len;
    hq_status st = circuit_json(__func__, c, gs, out);
    if (st == HQ_OK && out->oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    if (st != HQ_OK && out->p) {
        out->len = len0;
        out->p[len0] = '\0';
    }
    return st;
}

hq_status hq_ionq_clbit_map(const hq_circuit *c, int *qubit_of_clbit, int cap, int *n) {
    if (!c || !qubit_of_clbit || !n)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", __func__);
    int nq = hq_circuit_n_qubits(c), nc = hq_circuit_n_clbits(c);
    bool any = hq_circuit_count_gate(c, HQ_GATE_MEASURE) > 0;
    int m = any ? nc : nq;
    if (m > cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d entries needed, cap is %d", __func__, m,
                        cap);
    for (int k = 0; k < m; k++) qubit_of_clbit[k] = any ? -1 : k;
    if (any) {
        const hq_op *ops = hq_circuit_ops(c);
        for (int64_t k = 0; k < hq_circuit_n_ops(c); k++)
            if (ops[k].gate == HQ_GATE_MEASURE && ops[k].clbit >= 0 && ops[k].clbit < m)
                qubit_of_clbit[ops[k].clbit] = ops[k].q[0];
    }
    *n = m;
    return HQ_OK;
}

/* ==== job body ========================================================================= */

hq_status hq_ionq_build_job(const hq_ionq_job_spec *sp, const hq_circuit *const *circuits,
                            int n_circuits, hq_sbuf *out) {
    static const char *fn = "hq_ionq_build_job";
    if (!sp || !out || !circuits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (n_circuits < 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: n_circuits %d must be >= 1", fn, n_circuits);
    if (!sp->target || !*sp->target)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: no target (\"simulator\", \"qpu.aria-1\", ...)", fn);
    if (sp->shots <= 0 || sp->shots > 1000000000)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: shots %lld out of range [1, 1e9]", fn,
                        (long long)sp->shots);
    if (sp->api != HQ_IONQ_V03 && sp->api != HQ_IONQ_V04)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: unknown API version %d", fn, (int)sp->api);
    if (sp->gateset != HQ_IONQ_QIS && sp->gateset != HQ_IONQ_NATIVE)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: unknown gateset %d", fn, (int)sp->gateset);
    bool noise = sp->noise_model && *sp->noise_model && strcmp(sp->noise_model, "ideal");
    if (noise && strcmp(sp->target, "simulator"))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: a noise model applies to the \"simulator\" target only (target is "
                        "\"%s\")",
                        fn, sp->target);
    int nmeta = sp->n_metadata + (sp->client_token ? 1 : 0);
    if (sp->n_metadata < 0 || (sp->n_metadata && !sp->metadata) || nmeta > META_MAX_KEYS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: %d metadata entries (IonQ allows at most %d, the client token "
                        "included)",
                        fn, nmeta, META_MAX_KEYS);
    for (int i = 0; i < sp->n_metadata; i++) {
        const hq_ionq_meta *m = &sp->metadata[i];
        if (!m->key || !*m->key || strlen(m->key) > META_KEY_MAX || !m->value ||
            strlen(m->value) > META_VAL_MAX)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: metadata entry %d: keys must be 1..%d characters, values "
                            "non-NULL and at most %d",
                            fn, i, META_KEY_MAX, META_VAL_MAX);
        if (sp->client_token && !strcmp(m->key, HQ_IONQ_TOKEN_KEY))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: metadata key '%s' is reserved", fn,
                            HQ_IONQ_TOKEN_KEY);
    }
    if (sp->client_token && (!*sp->client_token || strlen(sp->client_token) > META_VAL_MAX))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: client token must be 1..%d characters", fn,
                        META_VAL_MAX);
    if (sp->session_id && sp->api != HQ_IONQ_V04)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: session_id needs API v0.4", fn);
    int maxq = 0;
    for (int i = 0; i < n_circuits; i++) {
        if (!circuits[i])
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: circuit %d is NULL", fn, i);
        int nq = hq_circuit_n_qubits(circuits[i]);
        if (nq > maxq) maxq = nq;
    }

    hq_sbuf b = HQ_SBUF_INIT;
    const char *gs = sp->gateset == HQ_IONQ_NATIVE ? "native" : "qis";
    hq_sbuf_putc(&b, '{');
    if (sp->api == HQ_IONQ_V04) {
        hq_sbuf_printf(&b, "\"type\":\"%s\",\"backend\":",
                       n_circuits > 1 ? "ionq.multi-circuit.v1" : "ionq.circuit.v1");
    } else {
        hq_sbuf_puts(&b, "\"target\":");
    }
    hq_sbuf_put_json_str(&b, sp->target);
    hq_sbuf_printf(&b, ",\"shots\":%lld,\"name\":", (long long)sp->shots);
    if (sp->name) {
        hq_sbuf_put_json_str(&b, sp->name);
    } else {
        hq_sbuf_puts(&b, "\"hqcnn");
        if (sp->client_token) {
            hq_sbuf_putc(&b, '-');
            hq_sbuf b2 = HQ_SBUF_INIT;
            hq_sbuf_put_json_str(&b2, sp->client_token);
            if (b2.p) hq_sbuf_append(&b, b2.p + 1, b2.len - 2);
            b.oom |= b2.oom;
            hq_sbuf_free(&b2);
        }
        hq_sbuf_putc(&b, '"');
    }
    if (nmeta) {
        hq_sbuf_puts(&b, ",\"metadata\":{");
        bool first = true;
        if (sp->client_token) {
            hq_sbuf_puts(&b, "\"" HQ_IONQ_TOKEN_KEY "\":");
            hq_sbuf_put_json_str(&b, sp->client_token);
            first = false;
        }
        for (int i = 0; i < sp->n_metadata; i++) {
            if (!first) hq_sbuf_putc(&b, ',');
            first = false;
            hq_sbuf_put_json_str(&b, sp->metadata[i].key);
            hq_sbuf_putc(&b, ':');
            hq_sbuf_put_json_str(&b, sp->metadata[i].value);
        }
        hq_sbuf_putc(&b, '}');
    }
    if (noise) {
        hq_sbuf_puts(&b, ",\"noise\":{\"model\":");
        hq_sbuf_put_json_str(&b, sp->noise_model);
        if (sp->noise_seed >= 0) hq_sbuf_printf(&b, ",\"seed\":%lld", (long long)sp->noise_seed);
        hq_sbuf_putc(&b, '}');
    }
    if (sp->debiasing >= 0) {
        const char *v = sp->debiasing ? "true" : "false";
        if (sp->api == HQ_IONQ_V04)
            hq_sbuf_printf(&b, ",\"settings\":{\"error_mitigation\":{\"debiasing\":%s}}", v);
        else
            hq_sbuf_printf(&b, ",\"error_mitigation\":{\"debiasing\":%s}", v);
    }
    if (sp->session_id) {
        hq_sbuf_puts(&b, ",\"session_id\":");
        hq_sbuf_put_json_str(&b, sp->session_id);
    }
    hq_sbuf_puts(&b, ",\"input\":{");
    if (sp->api == HQ_IONQ_V03) hq_sbuf_puts(&b, "\"format\":\"ionq.circuit.v0\",");
    hq_sbuf_printf(&b, "\"gateset\":\"%s\",\"qubits\":%d,", gs, maxq);
    hq_status st = HQ_OK;
    if (n_circuits == 1) {
        hq_sbuf_puts(&b, "\"circuit\":");
        st = circuit_json(fn, circuits[0], sp->gateset, &b);
    } else {
        hq_sbuf_puts(&b, "\"circuits\":[");
        for (int i = 0; i < n_circuits && st == HQ_OK; i++) {
            if (i) hq_sbuf_putc(&b, ',');
            hq_sbuf_puts(&b, "{\"name\":");
            if (sp->circuit_names && sp->circuit_names[i]) {
                hq_sbuf_put_json_str(&b, sp->circuit_names[i]);
            } else {
                hq_sbuf_printf(&b, "\"circuit-%d\"", i);
            }
            hq_sbuf_puts(&b, ",\"circuit\":");
            st = circuit_json(fn, circuits[i], sp->gateset, &b);
            if (st != HQ_OK) hq_fail_prefix(NULL, st, "%s: circuit %d", fn, i);
            hq_sbuf_putc(&b, '}');
        }
        hq_sbuf_putc(&b, ']');
    }
    hq_sbuf_puts(&b, "}}");
    if (st == HQ_OK && b.oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    if (st == HQ_OK) {
        hq_sbuf_append(out, b.p, b.len);
        if (out->oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    }
    hq_sbuf_free(&b);
    return st;
}

/* ==== parsers ========================================================================== */

static hq_qpu_state map_status(const char *s, bool *unknown) {
    *unknown = false;
    if (qpu_streq_ci(s, "submitted")) return HQ_QPU_PENDING;
    if (qpu_streq_ci(s, "ready")) return HQ_QPU_QUEUED;
    if (qpu_streq_ci(s, "running") || qpu_streq_ci(s, "started")) return HQ_QPU_RUNNING;
    if (qpu_streq_ci(s, "completed")) return HQ_QPU_COMPLETED;
    if (qpu_streq_ci(s, "failed")) return HQ_QPU_FAILED;
    if (qpu_streq_ci(s, "canceled") || qpu_streq_ci(s, "cancelled")) return HQ_QPU_CANCELLED;
    *unknown = true;
    return HQ_QPU_PENDING;
}

static hq_status parse_id_status(const char *fn, const cJSON *j, hq_qpu_job_status *out) {
    if (!cJSON_IsObject(j))
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: expected a JSON object, got %s", fn,
                        qpu_type_name(j));
    const cJSON *id = qpu_get(j, "id");
    if (!cJSON_IsString(id) || !*id->valuestring)
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: \"id\" is %s, expected a non-empty string", fn,
                        qpu_type_name(id));
    snprintf(out->id, sizeof out->id, "%s", id->valuestring);
    const cJSON *stv = qpu_get(j, "status");
    if (!cJSON_IsString(stv))
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: \"status\" of job %s is %s, expected a string", fn,
                        out->id, qpu_type_name(stv));
    snprintf(out->raw_status, sizeof out->raw_status, "%s", stv->valuestring);
    out->state = map_status(stv->valuestring, &out->unknown_status);
    if (out->unknown_status)
        HQ_LOGW("ionq: job %s has unknown status '%s'; treating it as pending", out->id,
                out->raw_status);
    return HQ_OK;
}

hq_status hq_ionq_parse_create(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_ionq_parse_create";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "create-job response", body, len, &st);
    if (!j) return st;
    st = parse_id_status(fn, j, out);
    const cJSON *sid = qpu_get(j, "session_id");
    if (st == HQ_OK && cJSON_IsString(sid))
        snprintf(out->session_id, sizeof out->session_id, "%s", sid->valuestring);
    cJSON_Delete(j);
    return st;
}

hq_status hq_ionq_parse_job(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_ionq_parse_job";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "job", body, len, &st);
    if (!j) return st;
    st = parse_id_status(fn, j, out);
    if (st != HQ_OK) goto done;
    if (!qpu_get_str(j, "backend", out->backend, sizeof out->backend))
        qpu_get_str(j, "target", out->backend, sizeof out->backend);
    qpu_get_str(j, "session_id", out->session_id, sizeof out->session_id);
    qpu_get_i64(j, "shots", 0, INT64_MAX / 2, &out->shots);
    const cJSON *f = qpu_get(j, "failure");
    if (cJSON_IsObject(f)) {
        qpu_get_str(f, "code", out->failure_code, sizeof out->failure_code);
        if (!qpu_get_str(f, "error", out->failure_msg, sizeof out->failure_msg))
            qpu_get_str(f, "message", out->failure_msg, sizeof out->failure_msg);
    } else if (cJSON_IsString(f)) {
        snprintf(out->failure_msg, sizeof out->failure_msg, "%s", f->valuestring);
    }
    if (out->state == HQ_QPU_FAILED && !out->failure_code[0] && !out->failure_msg[0])
        snprintf(out->failure_msg, sizeof out->failure_msg, "(IonQ gave no failure reason)");
    const cJSON *res = qpu_get(j, "results");
    const cJSON *pr = qpu_get(res, "probabilities");
    qpu_get_str(pr, "url", out->results_url, sizeof out->results_url);
    const cJSON *ch = qpu_get(j, "child_job_ids");
    if (!ch || cJSON_IsNull(ch)) ch = qpu_get(j, "children");
    if (ch && !cJSON_IsNull(ch)) {
        if (!cJSON_IsArray(ch)) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: children of job %s is %s, expected an array", fn,
                          out->id, qpu_type_name(ch));
            goto done;
        }
        const cJSON *c;
        int i = 0;
        cJSON_ArrayForEach(c, ch) {
            if (!cJSON_IsString(c) || !*c->valuestring) {
                st = hq_failf(NULL, HQ_ERR_PARSE,
                              "%s: child %d of job %s is %s, expected a job id string", fn, i,
                              out->id, qpu_type_name(c));
                goto done;
            }
            if (qpu_status_add_child(out, c->valuestring) != HQ_OK) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
                goto done;
            }
            i++;
        }
    }
done:
    cJSON_Delete(j);
    if (st != HQ_OK) hq_qpu_job_status_free(out);
    return st;
}

/* Parse one distribution object into outcome/prob arrays; bitstrings if `bits`. */
static hq_status parse_dist(const char *fn, const cJSON *d, bool bits, int n_qubits,
                            uint64_t **outc, double **prob, int64_t *n, char *err, size_t ecap) {
    *outc = NULL;
    *prob = NULL;
    *n = 0;
    if (!cJSON_IsObject(d)) {
        snprintf(err, ecap, "%s: distribution is %s, expected an object", fn, qpu_type_name(d));
        return HQ_ERR_PARSE;
    }
    int cnt = cJSON_GetArraySize(d);
    if (cnt == 0) {
        snprintf(err, ecap, "%s: empty probability distribution", fn);
        return HQ_ERR_PARSE;
    }
    uint64_t *o = hq_malloc((size_t)cnt * sizeof *o);
    double *p = hq_malloc((size_t)cnt * sizeof *p);
    if (!o || !p) {
        hq_free(o);
        hq_free(p);
        snprintf(err, ecap, "%s: out of memory", fn);
        return HQ_ERR_NOMEM;
    }
    int64_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, d) {
        const char *key = e->string ? e->string : "";
        size_t kl = strlen(key);
        uint64_t v = 0;
        bool ok = kl > 0;
        if (bits) {
            ok = ok && kl <= 64;
            for (size_t i = 0; ok && i < kl; i++) {
                if (key[i] != '0' && key[i] != '1') ok = false;
                v = v << 1 | (uint64_t)(key[i] == '1');
            }
            ok = ok && (int)kl <= n_qubits;
        } else {
            ok = ok && kl <= 20;
            for (size_t i = 0; ok && i < kl; i++) {
                if (key[i] < '0' || key[i] > '9')
                    ok = false;
                else {
                    uint64_t dgt = (uint64_t)(key[i] - '0');
                    if (v > (UINT64_MAX - dgt) / 10) ok = false;
                    v = v * 10 + dgt;
                }
            }
            if (ok && n_qubits < 64 && (v >> n_qubits)) {
                snprintf(err, ecap, "%s: outcome %s does not fit in %d qubits", fn, key, n_qubits);
                hq_free(o);
                hq_free(p);
                return HQ_ERR_PARSE;
            }
        }
        if (!ok) {
            snprintf(err, ecap, "%s: outcome key \"%.40s\" is not a %s", fn, key,
                     bits ? "bitstring of at most n_qubits bits" : "decimal integer");
            hq_free(o);
            hq_free(p);
            return HQ_ERR_PARSE;
        }
        if (!cJSON_IsNumber(e)) {
            snprintf(err, ecap, "%s: probability of outcome %s is %s, expected a number", fn, key,
                     qpu_type_name(e));
            hq_free(o);
            hq_free(p);
            return HQ_ERR_PARSE;
        }
        o[k] = v;
        p[k] = e->valuedouble;
        k++;
    }
    *outc = o;
    *prob = p;
    *n = k;
    return HQ_OK;
}

static hq_status fill_result(const char *fn, hq_qpu_circuit_result *r, const cJSON *d, bool bits,
                             int n_qubits, int64_t shots) {
    uint64_t *o;
    double *p;
    int64_t n;
    hq_status st = parse_dist(fn, d, bits, n_qubits, &o, &p, &n, r->error, sizeof r->error);
    if (st == HQ_OK) {
        hq_counts_free(&r->counts);
        st = hq_qpu_probs_to_counts(o, p, n, shots, n_qubits, &r->counts);
        if (st != HQ_OK) snprintf(r->error, sizeof r->error, "%s", hq_last_error());
    }
    if (st == HQ_OK) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += p[i] > 0 ? p[i] : 0;
        for (int64_t i = 0; i < n; i++) p[i] = (p[i] > 0 ? p[i] : 0) / s;
        r->prob_outcome = o;
        r->prob = p;
        r->n_prob = n;
        r->error[0] = '\0';
    } else {
        hq_free(o);
        hq_free(p);
    }
    r->status = st;
    return st;
}

/* v2 artifact: {"probabilities":{"registers":{"<name>":{bits: p}}}} -> the register map */
static const cJSON *v2_dist(const cJSON *j) {
    const cJSON *regs = qpu_get(qpu_get(j, "probabilities"), "registers");
    if (!cJSON_IsObject(regs)) return NULL;
    const cJSON *all = qpu_get(regs, "output_all");
    return all ? all : regs->child;
}

hq_status hq_ionq_parse_results(const char *body, size_t len, const hq_qpu_job_status *job,
                                int n_circuits, int n_qubits, int64_t shots, hq_qpu_results *out) {
    static const char *fn = "hq_ionq_parse_results";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (n_circuits < 1 || n_qubits < 1 || n_qubits > 64 || shots <= 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: n_circuits %d (>= 1), n_qubits %d (1..64), shots %lld (> 0)", fn,
                        n_circuits, n_qubits, (long long)shots);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "results", body, len, &st);
    if (!j) return st;
    if (!cJSON_IsObject(j)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: results are %s, expected a JSON object", fn,
                      qpu_type_name(j));
        goto done;
    }
    if (qpu_results_alloc(out, n_circuits) != HQ_OK) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    const cJSON *v2 = v2_dist(j);
    bool multi = false, single = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (cJSON_IsObject(e))
            multi = true;
        else
            single = true;
    }
    if (v2) {
        if (n_circuits != 1) {
            st = hq_failf(NULL, HQ_ERR_PARSE,
                          "%s: got a single-circuit (registers) result for a %d-circuit job", fn,
                          n_circuits);
            goto done;
        }
        fill_result(fn, &out->r[0], v2, true, n_qubits, shots);
    } else if (multi && single) {
        st = hq_failf(NULL, HQ_ERR_PARSE,
                      "%s: results mix numbers and objects (neither a distribution nor a map "
                      "of child jobs)",
                      fn);
        goto done;
    } else if (!multi) {
        if (n_circuits != 1) {
            st = hq_failf(NULL, HQ_ERR_PARSE,
                          "%s: got one distribution for a %d-circuit job ---> HINT: fetch the "
                          "parent job's results",
                          fn, n_circuits);
            goto done;
        }
        fill_result(fn, &out->r[0], j, false, n_qubits, shots);
    } else {
        if (!job || job->n_children <= 0) {
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "%s: multi-circuit results need the parent job's children list (GET "
                          "/jobs/{id}) to put them in circuit order",
                          fn);
            goto done;
        }
        if (job->n_children != n_circuits) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: the job lists %d children for %d circuits", fn,
                          job->n_children, n_circuits);
            goto done;
        }
        for (int i = 0; i < n_circuits; i++) {
            hq_qpu_circuit_result *r = &out->r[i];
            snprintf(r->id, sizeof r->id, "%s", job->children[i]);
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, job->children[i]);
            if (!d) {
                r->status = HQ_ERR_BACKEND;
                snprintf(r->error, sizeof r->error,
                         "no result for circuit %d (child job %s): it failed or has not "
                         "finished",
                         i, job->children[i]);
                continue;
            }
            fill_result(fn, r, d, false, n_qubits, shots);
        }
    }
    st = HQ_OK;
    if (hq_qpu_results_n_ok(out) == 0) {
        st = out->r[0].status == HQ_OK ? HQ_ERR_PARSE : out->r[0].status;
        hq_failf(NULL, st, "%s: no circuit has a result: circuit 0: %s", fn, out->r[0].error);
    }
done:
    cJSON_Delete(j);
    if (st != HQ_OK) hq_qpu_results_free(out);
    return st;
}

/* ==== characterization, backends ====================================================== */

void hq_ionq_calibration_free(hq_ionq_calibration *c) {
    if (!c) return;
    hq_free(c->edges);
    c->edges = NULL;
    c->n_edges = 0;
}

static double num_or_nan(const cJSON *o, const char *key) {
    const cJSON *v = qpu_get(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : NAN;
}

hq_status hq_ionq_parse_characterization(const char *body, size_t len, hq_ionq_calibration *out) {
    static const char *fn = "hq_ionq_parse_characterization";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    out->spam_fidelity = out->fidelity_1q = out->fidelity_2q = NAN;
    out->t1 = out->t2 = out->t_1q = out->t_2q = out->t_readout = out->t_reset = NAN;
    hq_status st;
    cJSON *root = qpu_json_parse(fn, "characterization", body, len, &st);
    if (!root) return st;
    const cJSON *j = root;
    const cJSON *list = qpu_get(root, "characterizations");
    if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "characterizations")) {
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
            st = hq_failf(NULL, HQ_ERR_NOT_FOUND,
                          "%s: the backend has no characterization data (the simulator has "
                          "none)",
                          fn);
            goto done;
        }
        j = cJSON_GetArrayItem(list, 0);
    }
    if (!cJSON_IsObject(j)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: expected a JSON object, got %s", fn,
                      qpu_type_name(j));
        goto done;
    }
    qpu_get_str(j, "id", out->id, sizeof out->id);
    qpu_get_str(j, "backend", out->backend, sizeof out->backend);
    const cJSON *date = qpu_get(j, "date");
    if (cJSON_IsString(date))
        snprintf(out->date, sizeof out->date, "%s", date->valuestring);
    else if (cJSON_IsNumber(date))
        snprintf(out->date, sizeof out->date, "%.0f", date->valuedouble);
    int64_t q;
    if (qpu_get_i64(j, "qubits", 0, 1 << 20, &q)) out->qubits = (int)q;
    const cJSON *fid = qpu_get(j, "fidelity");
    out->spam_fidelity = num_or_nan(qpu_get(fid, "spam"), "median");
    out->fidelity_1q = num_or_nan(qpu_get(fid, "1q"), "median");
    out->fidelity_2q = num_or_nan(qpu_get(fid, "2q"), "median");
    const cJSON *t = qpu_get(j, "timing");
    out->t1 = num_or_nan(t, "t1");
    out->t2 = num_or_nan(t, "t2");
    out->t_1q = num_or_nan(t, "1q");
    out->t_2q = num_or_nan(t, "2q");
    out->t_readout = num_or_nan(t, "readout");
    out->t_reset = num_or_nan(t, "reset");
    const cJSON *con = qpu_get(j, "connectivity");
    if (cJSON_IsArray(con) && cJSON_GetArraySize(con) > 0) {
        int n = cJSON_GetArraySize(con);
        out->edges = hq_malloc((size_t)n * sizeof *out->edges);
        if (!out->edges) {
            st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
            goto done;
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, con) {
            const cJSON *a = cJSON_GetArrayItem(p, 0), *b = cJSON_GetArrayItem(p, 1);
            if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsNumber(a) ||
                !cJSON_IsNumber(b) || a->valuedouble < 0 || b->valuedouble < 0 ||
                a->valuedouble > 1e6 || b->valuedouble > 1e6 ||
                a->valuedouble != floor(a->valuedouble) ||
                b->valuedouble != floor(b->valuedouble)) {
                st = hq_failf(NULL, HQ_ERR_PARSE,
                              "%s: connectivity entry %d is not a pair of qubit indices", fn,
                              out->n_edges);
                goto done;
            }
            out->edges[out->n_edges][0] = (int)a->valuedouble;
            out->edges[out->n_edges][1] = (int)b->valuedouble;
            out->n_edges++;
        }
    }
    st = HQ_OK;
done:
    cJSON_Delete(root);
    if (st != HQ_OK) hq_ionq_calibration_free(out);
    return st;
}

hq_status hq_ionq_parse_backends(const char *body, size_t len, hq_qpu_backend_info **out, int *n) {
    static const char *fn = "hq_ionq_parse_backends";
    if (!out || !n) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    *out = NULL;
    *n = 0;
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "backend list", body, len, &st);
    if (!j) return st;
    if (!cJSON_IsArray(j)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: expected a JSON array of backends, got %s", fn,
                      qpu_type_name(j));
        goto done;
    }
    int cnt = cJSON_GetArraySize(j);
    hq_qpu_backend_info *b = hq_calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *b);
    if (!b) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!qpu_get_str(e, "backend", b[k].name, sizeof b[k].name)) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: backend %d has no \"backend\" name", fn, k);
            hq_free(b);
            goto done;
        }
        qpu_get_str(e, "status", b[k].status, sizeof b[k].status);
        b[k].available = qpu_streq_ci(b[k].status, "available");
        const cJSON *dg = qpu_get(e, "degraded");
        b[k].degraded = cJSON_IsTrue(dg);
        int64_t q;
        if (qpu_get_i64(e, "qubits", 0, 1 << 20, &q)) b[k].qubits = (int)q;
        double aq = num_or_nan(e, "average_queue_time");
        b[k].queue_time_s = isnan(aq) ? NAN : aq / 1000.0;
        b[k].queue_length = -1;
        k++;
    }
    *out = b;
    *n = k;
    st = HQ_OK;
done:
    cJSON_Delete(j);
    return st;
}
