/*
 * backends/transpile.c — the transpiler's entry points: the IBM pipeline (lower, optimise,
 * layout, route, native 2-qubit gate in an allowed direction, optimise, emit rz/sx/x), the
 * IonQ native pipeline (MS + virtual-Z emission of gpi/gpi2/ms phases) and the IonQ QIS
 * mapping, plus the ISA checker. The program form and passes are in transpile_ir.c, layout
 * and routing in transpile_route.c.
 */
#include <math.h>
#include <string.h>

#include "backends/transpile_impl.h"

#define EPS 1e-12

hq_transpile_options hq_transpile_default_options(void) {
    hq_transpile_options o;
    memset(&o, 0, sizeof o);
    o.optimization_level = 1;
    return o;
}

void hq_transpile_result_free(hq_transpile_result *r) {
    if (!r) return;
    hq_circuit_free(r->circuit);
    hq_free(r->initial_layout);
    hq_free(r->final_layout);
    hq_free(r->clbit_physical);
    hq_free(r->ionq_frame);
    memset(r, 0, sizeof *r);
}

/* ==== helpers ========================================================================== */

static int64_t count_ops(const hq_circuit *c) {
    int64_t n = 0;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++) n += ops[i].gate != HQ_GATE_BARRIER;
    return n;
}

/* An empty circuit with nq qubits (one register "q"), c's classical registers and symbols
 * (same indices). */
static hq_status shell(const hq_circuit *c, int nq, hq_circuit **out) {
    hq_circuit *o;
    hq_status st = hq_circuit_create(&o);
    if (st) return st;
    if (nq > 0) st = hq_circuit_add_qreg(o, "q", nq, NULL);
    for (int i = 0; !st && i < hq_circuit_n_cregs(c); i++) {
        hq_reg r = hq_circuit_creg(c, i);
        st = hq_circuit_add_creg(o, r.name, r.size, NULL);
    }
    for (int i = 0; !st && i < hq_circuit_n_symbols(c); i++)
        st = hq_circuit_add_symbol(o, hq_circuit_symbol_name(c, i), hq_circuit_symbol_kind(c, i),
                                   NULL);
    if (st) {
        hq_circuit_free(o);
        return st;
    }
    *out = o;
    return HQ_OK;
}

static void copy_op(tp_prog *dst, const tp_prog *src, const tp_op *o) { tp_copy_op(dst, src, o); }

/* a constant gate with the condition of `like` */
static void cgate(tp_prog *p, int q, hq_gate g, double param, const tp_op *like) {
    tp_gate1(p, q, g, &param);
    if (p->oom) return;
    tp_op *o = &p->ops[p->n - 1];
    o->cond_creg = like->cond_creg;
    o->cond_val = like->cond_val;
}

static void g2(tp_prog *p, hq_gate g, int a, int b, const tp_op *like) {
    tp_op *o = tp_push(p, TP_G2, a, b);
    o->gate = (uint16_t)g;
    o->cond_creg = like->cond_creg;
    o->cond_val = like->cond_val;
}

/* SWAP -> 3 CX, the outer two in the native direction when the device is directed */
static hq_status expand_swaps(tp_prog *p, const hq_device *d) {
    tp_prog q;
    tp_init(&q, p->nq);
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        if (o->kind != TP_SWAP) {
            copy_op(&q, p, o);
            continue;
        }
        int a = o->q[0], b = o->q[1];
        if (!hq_device_has_edge(d, a, b) && hq_device_has_edge(d, b, a)) a = o->q[1], b = o->q[0];
        for (int k = 0; k < 3; k++) {
            tp_op *x = tp_push(&q, TP_CX, k == 1 ? b : a, k == 1 ? a : b);
            x->cond_creg = o->cond_creg;
            x->cond_val = o->cond_val;
        }
    }
    hq_status st = tp_status(&q, "hq_transpile_ibm");
    if (st) {
        tp_free(&q);
        return st;
    }
    tp_free(p);
    *p = q;
    return HQ_OK;
}

/* CX (a -> b) in the device's native 2-qubit gate, on an allowed direction. */
static void native_cx(tp_prog *q, const hq_device *d, hq_gate g, int a, int b, const tp_op *o) {
    bool fwd = hq_device_has_edge(d, a, b);
    switch (g) {
    case HQ_GATE_CZ: /* H_b CZ H_b (CZ is symmetric: use the listed orientation) */
        cgate(q, b, HQ_GATE_H, 0, o);
        g2(q, HQ_GATE_CZ, fwd ? a : b, fwd ? b : a, o);
        cgate(q, b, HQ_GATE_H, 0, o);
        return;
    case HQ_GATE_CX:
    case HQ_GATE_ECR:
        if (!fwd) { /* CX(a,b) = (H H) CX(b,a) (H H) */
            cgate(q, a, HQ_GATE_H, 0, o);
            cgate(q, b, HQ_GATE_H, 0, o);
            native_cx(q, d, g, b, a, o);
            cgate(q, a, HQ_GATE_H, 0, o);
            cgate(q, b, HQ_GATE_H, 0, o);
            return;
        }
        if (g == HQ_GATE_CX) {
            g2(q, HQ_GATE_CX, a, b, o);
            return;
        }
        /* CX = RZ(pi/2)_a RX(pi/2)_b ECR X_a */
        cgate(q, a, HQ_GATE_X, 0, o);
        g2(q, HQ_GATE_ECR, a, b, o);
        cgate(q, a, HQ_GATE_RZ, M_PI / 2, o);
        cgate(q, b, HQ_GATE_RX, M_PI / 2, o);
        return;
    default: return;
    }
}

static hq_status to_native(tp_prog *p, const hq_device *d, hq_gate g) {
    tp_prog q;
    tp_init(&q, p->nq);
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        if (o->kind == TP_CX)
            native_cx(&q, d, g, o->q[0], o->q[1], o);
        else
            copy_op(&q, p, o);
    }
    hq_status st = tp_status(&q, "hq_transpile_ibm");
    if (st) {
        tp_free(&q);
        return st;
    }
    tp_free(p);
    *p = q;
    return HQ_OK;
}

/* ==== emission: IBM ISA ================================================================== */

typedef struct isa_emit {
    hq_circuit *c;
    hq_angle *pend; /* (nq) pending rz per qubit */
    bool use_x;     /* the device has x (else x = sx sx) */
    hq_status st;
    bool overflow;
} isa_emit;

static void add1(isa_emit *E, hq_gate g, int q, const hq_angle *a, const tp_op *o) {
    if (E->st) return;
    E->st = hq_circuit_add_gate_sym(E->c, g, &q, a);
    if (!E->st && o->cond_creg >= 0)
        E->st = hq_circuit_set_condition(E->c, o->cond_creg, o->cond_val);
}

/* the condition-free context pending rz are flushed in when no operation asks for them */
static const tp_op unconditional = {.cond_creg = -1, .q = {-1, -1, -1}, .clbit = -1};

static void flush_rz(isa_emit *E, int q, const tp_op *o) {
    hq_angle a = E->pend[q];
    a.c = tp_wrap(a.c);
    if (a.n == 0 && fabs(a.c) < EPS) {
        E->pend[q] = hq_angle_const(0);
        return;
    }
    if (fabs(a.c) < EPS) a.c = 0;
    add1(E, HQ_GATE_RZ, q, &a, o);
    E->pend[q] = hq_angle_const(0);
}

static void pend_rz(isa_emit *E, int q, hq_angle a, const tp_op *o) {
    bool ok = true;
    hq_angle s = tp_ang_comb(E->pend[q], 1, a, 1, &ok);
    if (!ok) {
        flush_rz(E, q, o);
        s = a;
    }
    E->pend[q] = s;
    if (o->cond_creg >= 0) flush_rz(E, q, o); /* conditional ops are emitted as they come */
}

static void sx_or_x(isa_emit *E, int q, hq_gate g, const tp_op *o) {
    flush_rz(E, q, o);
    if (g == HQ_GATE_X && !E->use_x) {
        add1(E, HQ_GATE_SX, q, NULL, o);
        add1(E, HQ_GATE_SX, q, NULL, o);
        return;
    }
    add1(E, g, q, NULL, o);
}

/*
 * A constant 1-qubit unitary as rz·sx·rz·sx·rz with the fewest sx: U = e^{ia} U3(t, f, l)
 *   t = 0:     rz(f + l)
 *   t = pi/2:  rz(l - pi/2); sx; rz(f + pi/2)
 *   t = pi:    rz(l - pi/2); x;  rz(f + pi/2)
 *   else:      rz(l); sx; rz(t + pi); sx; rz(f + pi)
 */
static void emit_u(isa_emit *E, int q, const hq_cplx *m, const tp_op *o) {
    double t, f, l;
    tp_zyz(m, &t, &f, &l);
    const double tol = 1e-9;
    if (t < tol) {
        pend_rz(E, q, hq_angle_const(f + l), o);
    } else if (fabs(t - M_PI / 2) < tol || fabs(t - M_PI) < tol) {
        pend_rz(E, q, hq_angle_const(l - M_PI / 2), o);
        sx_or_x(E, q, fabs(t - M_PI) < tol ? HQ_GATE_X : HQ_GATE_SX, o);
        pend_rz(E, q, hq_angle_const(f + M_PI / 2), o);
    } else {
        pend_rz(E, q, hq_angle_const(l), o);
        sx_or_x(E, q, HQ_GATE_SX, o);
        pend_rz(E, q, hq_angle_const(t + M_PI), o);
        sx_or_x(E, q, HQ_GATE_SX, o);
        pend_rz(E, q, hq_angle_const(f + M_PI), o);
    }
}

static hq_status emit_isa(const tp_prog *p, const hq_circuit *src, bool use_x, hq_circuit **out) {
    isa_emit E = {0};
    E.use_x = use_x;
    E.st = shell(src, p->nq, &E.c);
    if (E.st) return E.st;
    E.pend = hq_malloc((size_t)(p->nq ? p->nq : 1) * sizeof *E.pend);
    if (!E.pend) {
        hq_circuit_free(E.c);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_transpile_ibm: out of memory");
    }
    for (int q = 0; q < p->nq; q++) E.pend[q] = hq_angle_const(0);
    for (int64_t i = 0; i < p->n && !E.st; i++) {
        const tp_op *o = &p->ops[i];
        int a = o->q[0], b = o->q[1];
        /* a conditional op must not take earlier unconditional rz under its condition:
         * those are emitted unconditionally first */
        if (o->cond_creg >= 0)
            for (int k = 0; k < 3 && o->q[k] >= 0; k++) flush_rz(&E, o->q[k], &unconditional);
        switch ((tp_kind)o->kind) {
        case TP_RZ: pend_rz(&E, a, o->a, o); break;
        case TP_U: emit_u(&E, a, o->m, o); break;
        case TP_G2:
            flush_rz(&E, a, o);
            flush_rz(&E, b, o);
            if (!E.st) E.st = hq_circuit_add_gate(E.c, (hq_gate)o->gate, (int[]){a, b}, NULL);
            if (!E.st && o->cond_creg >= 0)
                E.st = hq_circuit_set_condition(E.c, o->cond_creg, o->cond_val);
            break;
        case TP_MEASURE:
        case TP_RESET:
            flush_rz(&E, a, o);
            if (E.st) break;
            E.st = o->kind == TP_MEASURE ? hq_circuit_add_measure(E.c, a, o->clbit)
                                         : hq_circuit_add_reset(E.c, a);
            if (!E.st && o->cond_creg >= 0)
                E.st = hq_circuit_set_condition(E.c, o->cond_creg, o->cond_val);
            break;
        case TP_BARRIER: {
            int qs[256];
            for (int k = 0; k < o->bar_n; k++) {
                qs[k] = p->pool[o->bar_off + k];
                flush_rz(&E, qs[k], o);
            }
            if (!E.st) E.st = hq_circuit_add_barrier(E.c, qs, o->bar_n);
            break;
        }
        default:
            E.st = hq_failf(NULL, HQ_ERR_INTERNAL, "hq_transpile_ibm: op kind %d left at emission",
                            o->kind);
        }
    }
    for (int q = 0; q < p->nq && !E.st; q++) flush_rz(&E, q, &unconditional);
    hq_free(E.pend);
    if (E.st) {
        hq_circuit_free(E.c);
        return E.st;
    }
    *out = E.c;
    return HQ_OK;
}

/* ==== results and statistics ============================================================== */

static hq_status fill_result(hq_transpile_result *r, const hq_circuit *c, int n_log,
                             const int *init, const int *fin) {
    r->n_logical = n_log;
    r->n_physical = hq_circuit_n_qubits(r->circuit);
    r->n_clbits = hq_circuit_n_clbits(c);
    r->initial_layout = hq_malloc((size_t)(n_log ? n_log : 1) * sizeof *r->initial_layout);
    r->final_layout = hq_malloc((size_t)(n_log ? n_log : 1) * sizeof *r->final_layout);
    r->clbit_physical = hq_malloc((size_t)(r->n_clbits ? r->n_clbits : 1) * sizeof(int));
    if (!r->initial_layout || !r->final_layout || !r->clbit_physical)
        return hq_failf(NULL, HQ_ERR_NOMEM, "transpile: out of memory");
    memcpy(r->initial_layout, init, (size_t)n_log * sizeof *init);
    memcpy(r->final_layout, fin, (size_t)n_log * sizeof *fin);
    for (int j = 0; j < r->n_clbits; j++) r->clbit_physical[j] = -1;
    const hq_op *ops = hq_circuit_ops(r->circuit);
    for (int64_t i = 0; i < hq_circuit_n_ops(r->circuit); i++)
        if (ops[i].gate == HQ_GATE_MEASURE) r->clbit_physical[ops[i].clbit] = ops[i].q[0];
    r->stats.ops_in = count_ops(c);
    r->stats.ops_out = count_ops(r->circuit);
    r->stats.depth_in = hq_circuit_depth(c);
    r->stats.depth_out = hq_circuit_depth(r->circuit);
    for (int64_t i = 0; i < hq_circuit_n_ops(r->circuit); i++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)ops[i].gate);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        if (gi->nq == 1)
            r->stats.oneq_out++;
        else
            r->stats.twoq_out++;
    }
    return HQ_OK;
}

static double est_fidelity(const hq_circuit *c, const hq_device *d) {
    double f = 1;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++) {
        const hq_op *o = &ops[i];
        double e = NAN;
        if (o->gate == HQ_GATE_MEASURE)
            e = d->qubits[o->q[0]].readout_error;
        else if (o->gate == HQ_GATE_SX || o->gate == HQ_GATE_X)
            e = hq_device_gate_error(d, (hq_gate)o->gate, o->q[0], -1);
        else if (o->nq == 2 && o->gate != HQ_GATE_BARRIER)
            e = hq_device_gate_error(d, (hq_gate)o->gate, o->q[0], o->q[1]);
        if (isfinite(e)) f *= 1 - HQ_MIN(HQ_MAX(e, 0.0), 1.0);
    }
    return f;
}

static int64_t count_kind(const tp_prog *p, tp_kind k) {
    int64_t n = 0;
    for (int64_t i = 0; i < p->n; i++) n += p->ops[i].kind == k;
    return n;
}

/* ==== IBM ================================================================================ */

#define LAYOUT_TRIES 8 /* best layouts of the cost model that are routed */
#define ROUTE_SEEDS  4 /* routing tie-break seeds tried per layout */

/* expected-error cost of a routed program: 2q gates (a SWAP is 3 CX) on their edges, ~2 sx
 * per constant 1-qubit unitary, readout of the measured qubits */
static double routed_cost(const tp_prog *p, const tp_target *t) {
    double c = 0;
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        size_t e = (size_t)o->q[0] * t->n + (size_t)o->q[1];
        switch ((tp_kind)o->kind) {
        case TP_CX: c += t->w2[e]; break;
        case TP_SWAP: c += 3 * t->w2[e]; break;
        case TP_U: c += 2 * t->w1[o->q[0]]; break;
        case TP_MEASURE: c += t->wro[o->q[0]]; break;
        default: break;
        }
    }
    return c;
}

hq_status hq_transpile_ibm(const hq_circuit *c, const hq_device *d, const hq_transpile_options *opt,
                           hq_transpile_result *out) {
    double t0 = hq_time_now();
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_transpile_ibm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!c || !d)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_transpile_ibm: circuit or device is NULL");
    hq_transpile_options o = opt ? *opt : hq_transpile_default_options();
    if (o.optimization_level < 0 || o.optimization_level > 1)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_transpile_ibm: optimization_level %d out of range [0, 1]",
                        o.optimization_level);
    if (!hq_device_supports(d, HQ_GATE_RZ) || !hq_device_supports(d, HQ_GATE_SX))
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_transpile_ibm: device '%s' lacks rz or sx in its basis gates; only "
                        "rz/sx/x + ecr|cz|cx targets are supported",
                        d->name);
    hq_gate g = hq_device_two_qubit_gate(d);
    int n_log = hq_circuit_n_qubits(c);
    if (n_log == 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_transpile_ibm: the circuit has no qubits");

    tp_prog L, P;
    tp_init(&P, 0);
    tp_target T;
    memset(&T, 0, sizeof T);
    int *init = NULL, *fin = NULL;
    tp_lower_opts lo = {.ccz = true, .drop_barriers = o.drop_barriers};
    hq_status st = tp_lower(c, &lo, &L);
    if (st) goto fail;
    int64_t n2 = count_kind(&L, TP_CX) + count_kind(&L, TP_SWAP);
    if (n2 > 0 && g == HQ_GATE_COUNT) {
        st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                      "hq_transpile_ibm: device '%s' has no ecr, cz or cx in its basis gates",
                      d->name);
        goto fail;
    }
    if (o.optimization_level >= 1) tp_optimize(&L);
    out->stats.twoq_in =
        count_kind(&L, TP_CX) + 3 * count_kind(&L, TP_SWAP) + 6 * count_kind(&L, TP_CCZ);
    if ((st = tp_target_init(&T, d))) goto fail;
    init = hq_malloc((size_t)n_log * (LAYOUT_TRIES + 1) * sizeof *init);
    fin = hq_malloc((size_t)n_log * 2 * sizeof *fin);
    if (!init || !fin) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_transpile_ibm: out of memory");
        goto fail;
    }
    int n_lay = 0;
    if ((st = tp_layout(&L, &T, o.initial_layout, o.layout_budget, LAYOUT_TRIES, init, &n_lay,
                        &out->stats)))
        goto fail;
    /* route the best layouts with a few seeds each; keep the cheapest result */
    double best = INFINITY;
    int best_lay = 0;
    for (int li = 0; li < n_lay; li++) {
        for (int s = 0; s < ROUTE_SEEDS; s++) {
            tp_prog R;
            int64_t swaps = 0;
            int *f = fin + n_log;
            memcpy(f, init + (size_t)li * n_log, (size_t)n_log * sizeof *f);
            st = tp_route(&L, &T, f, !o.keep_swaps, o.seed + (uint64_t)s, &R, &swaps);
            if (!st) st = tp_expand_ccz(&R, T.adj);
            if (st) {
                tp_free(&R);
                goto fail;
            }
            double cost = routed_cost(&R, &T);
            if (cost < best - 1e-12) {
                best = cost;
                best_lay = li;
                tp_free(&P);
                P = R;
                memcpy(fin, f, (size_t)n_log * sizeof *fin);
                out->stats.swaps = swaps;
            } else {
                tp_free(&R);
            }
        }
    }
    memmove(init, init + (size_t)best_lay * n_log, (size_t)n_log * sizeof *init);
    if (best_lay > 0) { /* report the model cost of the layout actually used */
        hq_transpile_stats s2 = {0};
        int one = 0;
        if ((st = tp_layout(&L, &T, init, 0, 1, fin + n_log, &one, &s2))) goto fail;
        out->stats.layout_cost = s2.layout_cost;
    }
    if ((st = expand_swaps(&P, d))) goto fail;
    if (o.optimization_level >= 1) tp_optimize(&P);
    if (g != HQ_GATE_COUNT && (st = to_native(&P, d, g))) goto fail;
    if (o.optimization_level >= 1) tp_optimize(&P);
    if ((st = emit_isa(&P, c, hq_device_supports(d, HQ_GATE_X), &out->circuit))) goto fail;
    if ((st = fill_result(out, c, n_log, init, fin))) goto fail;
    out->twoq_gate = g;
    out->stats.est_fidelity = est_fidelity(out->circuit, d);
    out->stats.seconds = hq_time_now() - t0;
    tp_free(&L);
    tp_free(&P);
    tp_target_free(&T);
    hq_free(init);
    hq_free(fin);
    return HQ_OK;
fail:
    tp_free(&L);
    tp_free(&P);
    tp_target_free(&T);
    hq_free(init);
    hq_free(fin);
    hq_transpile_result_free(out);
    return st;
}

/* ==== IonQ native ========================================================================= */

/* IonQ measures every qubit at the end: reject what it cannot run. */
static hq_status ionq_check(const hq_circuit *c, int max_qubits, const char *fn) {
    int n = hq_circuit_n_qubits(c);
    if (n == 0) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the circuit has no qubits", fn);
    if (max_qubits > 0 && n > max_qubits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the circuit has %d qubits, the target at most %d", fn, n, max_qubits);
    const hq_op *ops = hq_circuit_ops(c);
    uint8_t *measured = hq_calloc((size_t)n, 1);
    if (!measured) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    hq_status st = HQ_OK;
    for (int64_t i = 0; i < hq_circuit_n_ops(c) && !st; i++) {
        const hq_op *o = &ops[i];
        if (o->cond_creg >= 0)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: operation %lld is classically conditioned; IonQ runs no dynamic "
                          "circuits",
                          fn, (long long)i);
        else if (o->gate == HQ_GATE_RESET)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "%s: operation %lld is a reset; IonQ does not support reset", fn,
                          (long long)i);
        else if (o->gate == HQ_GATE_MEASURE)
            measured[o->q[0]] = 1;
        else if (o->gate != HQ_GATE_BARRIER)
            for (int k = 0; k < o->nq; k++)
                if (measured[o->q[k]])
                    st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                                  "%s: operation %lld ('%s') acts on qubit %d after it was "
                                  "measured; IonQ measures only at the end",
                                  fn, (long long)i, hq_gate_get_info((hq_gate)o->gate)->name,
                                  o->q[k]);
    }
    hq_free(measured);
    return st;
}

/* CX(a,b) = RZ(pi/2)_a RX(pi/2)_b H_a MS(1/2, 0, 1/4) H_a, since MS(1/2,0,1/4) = RXX(-pi/2) */
static hq_status cx_to_ms(tp_prog *p) {
    tp_prog q;
    tp_init(&q, p->nq);
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        if (o->kind != TP_CX) {
            copy_op(&q, p, o);
            continue;
        }
        int a = o->q[0], b = o->q[1];
        tp_gate1(&q, a, HQ_GATE_H, NULL);
        tp_op *m = tp_push(&q, TP_MS, a, b);
        m->ms[0] = 0.5;
        m->ms[1] = 0;
        m->ms[2] = 0.25;
        tp_gate1(&q, a, HQ_GATE_H, NULL);
        tp_gate1(&q, a, HQ_GATE_RZ, (double[]){M_PI / 2});
        tp_gate1(&q, b, HQ_GATE_RX, (double[]){M_PI / 2});
    }
    hq_status st = tp_status(&q, "hq_transpile_ionq");
    if (st) {
        tp_free(&q);
        return st;
    }
    tp_free(p);
    *p = q;
    return HQ_OK;
}

typedef struct ionq_emit {
    hq_circuit *c;
    hq_angle *frame; /* (nq) pending Z rotation, radians */
    bool ok;         /* affine combinations fit */
    hq_status st;
} ionq_emit;

/* phase (turns) of a gate whose ideal phase is `turns` under the frame f: turns - f / 2 pi,
 * the constant part reduced to [0, 1) */
static hq_angle frame_phase(ionq_emit *E, double turns, const hq_angle *f) {
    hq_angle r = tp_ang_comb(hq_angle_const(turns), 1, *f, -1 / (2 * M_PI), &E->ok);
    r.c -= floor(r.c);
    if (r.c >= 1 - 1e-13) r.c = 0;
    if (fabs(r.c) < 1e-13) r.c = 0;
    return r;
}

static void ionq_1q(ionq_emit *E, int q, hq_gate g) {
    if (E->st) return;
    hq_angle ph = frame_phase(E, 0, &E->frame[q]);
    E->st = hq_circuit_add_gate_sym(E->c, g, &q, &ph);
}

/* frame[q] += a. When the symbolic terms no longer fit in one angle, the symbolic part of
 * the frame is applied physically first: RZ(d) = GPI(d / 4 pi) GPI(0) (time order GPI(0)
 * first), since sigma(b) sigma(a) = RZ(4 pi (b - a)). */
static void frame_add(ionq_emit *E, int q, hq_angle a) {
    bool ok = true;
    hq_angle s = tp_ang_comb(E->frame[q], 1, a, 1, &ok);
    if (!ok && !E->st) {
        hq_angle sym = E->frame[q];
        sym.c = 0;
        hq_angle zero = hq_angle_const(0);
        hq_angle b = tp_ang_comb(sym, 1 / (4 * M_PI), zero, 0, &E->ok);
        E->st = hq_circuit_add_gate_sym(E->c, HQ_GATE_GPI, &q, &zero);
        if (!E->st) E->st = hq_circuit_add_gate_sym(E->c, HQ_GATE_GPI, &q, &b);
        E->frame[q].n = 0;
        s = tp_ang_comb(E->frame[q], 1, a, 1, &E->ok);
    }
    E->frame[q] = s;
}

static void ionq_rz(ionq_emit *E, int q, double a) { frame_add(E, q, hq_angle_const(a)); }

static hq_status emit_ionq(const tp_prog *p, const hq_circuit *src, hq_circuit **out,
                           hq_angle *frame_out) {
    ionq_emit E = {0};
    E.ok = true;
    E.st = shell(src, p->nq, &E.c);
    if (E.st) return E.st;
    E.frame = frame_out;
    for (int q = 0; q < p->nq; q++) E.frame[q] = hq_angle_const(0);
    for (int64_t i = 0; i < p->n && !E.st; i++) {
        const tp_op *o = &p->ops[i];
        int a = o->q[0], b = o->q[1];
        switch ((tp_kind)o->kind) {
        case TP_RZ: frame_add(&E, a, o->a); break;
        case TP_U: { /* the ISA templates with sx -> gpi2(0), x -> gpi(0) */
            double t, f, l;
            tp_zyz(o->m, &t, &f, &l);
            const double tol = 1e-9;
            if (t < tol) {
                ionq_rz(&E, a, f + l);
            } else if (fabs(t - M_PI / 2) < tol || fabs(t - M_PI) < tol) {
                ionq_rz(&E, a, l - M_PI / 2);
                ionq_1q(&E, a, fabs(t - M_PI) < tol ? HQ_GATE_GPI : HQ_GATE_GPI2);
                ionq_rz(&E, a, f + M_PI / 2);
            } else {
                ionq_rz(&E, a, l);
                ionq_1q(&E, a, HQ_GATE_GPI2);
                ionq_rz(&E, a, t + M_PI);
                ionq_1q(&E, a, HQ_GATE_GPI2);
                ionq_rz(&E, a, f + M_PI);
            }
            break;
        }
        case TP_MS: {
            hq_angle ph[3] = {frame_phase(&E, o->ms[0], &E.frame[a]),
                              frame_phase(&E, o->ms[1], &E.frame[b]), hq_angle_const(o->ms[2])};
            E.st = hq_circuit_add_gate_sym(E.c, HQ_GATE_MS, (int[]){a, b}, ph);
            break;
        }
        case TP_MEASURE: E.st = hq_circuit_add_measure(E.c, a, o->clbit); break;
        case TP_BARRIER: {
            int qs[256];
            for (int k = 0; k < o->bar_n; k++) qs[k] = p->pool[o->bar_off + k];
            E.st = hq_circuit_add_barrier(E.c, qs, o->bar_n);
            break;
        }
        default:
            E.st = hq_failf(NULL, HQ_ERR_INTERNAL, "hq_transpile_ionq: op kind %d left at emission",
                            o->kind);
        }
    }
    if (!E.st && !E.ok)
        E.st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_transpile_ionq: the virtual-Z frame combines symbolic angles into "
                        "more than %d terms\n---> HINT: bind some symbols first",
                        HQ_ANGLE_MAX_TERMS);
    for (int q = 0; q < p->nq; q++) E.frame[q].c = tp_wrap(E.frame[q].c);
    if (E.st) {
        hq_circuit_free(E.c);
        return E.st;
    }
    *out = E.c;
    return HQ_OK;
}

/* ==== IonQ QIS ============================================================================ */

typedef struct qis {
    hq_circuit *c;
    bool ok;
    hq_status st;
} qis;

static void qg(qis *Q, hq_gate g, int a, int b, int cc, const hq_angle *p) {
    if (Q->st) return;
    int qs[3] = {a, b, cc};
    Q->st = hq_circuit_add_gate_sym(Q->c, g, qs, p);
}
static void qg1(qis *Q, hq_gate g, int a, hq_angle p) { qg(Q, g, a, -1, -1, &p); }
static hq_angle qc(qis *Q, hq_angle a, double ka, hq_angle b, double kb) {
    return tp_ang_comb(a, ka, b, kb, &Q->ok);
}

/* u3 as rz(l) ry(t) rz(f) */
static void qis_u3(qis *Q, int q, hq_angle t, hq_angle f, hq_angle l) {
    qg1(Q, HQ_GATE_RZ, q, l);
    qg1(Q, HQ_GATE_RY, q, t);
    qg1(Q, HQ_GATE_RZ, q, f);
}

static void qis_op(qis *Q, const hq_circuit *c, const hq_op *op) {
    hq_gate g = (hq_gate)op->gate;
    int a = op->q[0], b = op->q[1], q2 = op->q[2];
    hq_angle P[HQ_GATE_MAX_PARAMS];
    for (int i = 0; i < op->np; i++) P[i] = hq_circuit_angle(c, op->p[i]);
    const hq_angle Z = hq_angle_const(0);
    const double TWO_PI = 2 * M_PI;
    switch (g) {
    case HQ_GATE_ID: break;
    case HQ_GATE_X:
    case HQ_GATE_Y:
    case HQ_GATE_Z:
    case HQ_GATE_H:
    case HQ_GATE_S:
    case HQ_GATE_SDG:
    case HQ_GATE_T:
    case HQ_GATE_TDG:
    case HQ_GATE_SX:
    case HQ_GATE_SXDG:
    case HQ_GATE_RX:
    case HQ_GATE_RY:
    case HQ_GATE_RZ:
    case HQ_GATE_P:
    case HQ_GATE_CX:
    case HQ_GATE_CY:
    case HQ_GATE_CZ:
    case HQ_GATE_CH:
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ:
    case HQ_GATE_CP:
    case HQ_GATE_SWAP:
    case HQ_GATE_RXX:
    case HQ_GATE_RYY:
    case HQ_GATE_RZZ:
    case HQ_GATE_CCX: qg(Q, g, a, b, q2, P); break;
    case HQ_GATE_U1: qg1(Q, HQ_GATE_P, a, P[0]); break;
    case HQ_GATE_CU1: qg(Q, HQ_GATE_CP, a, b, -1, P); break;
    case HQ_GATE_U2: qis_u3(Q, a, hq_angle_const(M_PI / 2), P[0], P[1]); break;
    case HQ_GATE_U3:
    case HQ_GATE_U: qis_u3(Q, a, P[0], P[1], P[2]); break;
    case HQ_GATE_GPI:
    case HQ_GATE_GPI2: { /* RZ(2 pi f) X RZ(-2 pi f) */
        hq_angle f = qc(Q, P[0], TWO_PI, Z, 0);
        qg1(Q, HQ_GATE_RZ, a, qc(Q, f, -1, Z, 0));
        if (g == HQ_GATE_GPI)
            qg(Q, HQ_GATE_X, a, -1, -1, NULL);
        else
            qg1(Q, HQ_GATE_RX, a, hq_angle_const(M_PI / 2));
        qg1(Q, HQ_GATE_RZ, a, f);
        break;
    }
    case HQ_GATE_MS: {
        hq_angle f0 = qc(Q, P[0], TWO_PI, Z, 0), f1 = qc(Q, P[1], TWO_PI, Z, 0);
        qg1(Q, HQ_GATE_RZ, a, qc(Q, f0, -1, Z, 0));
        qg1(Q, HQ_GATE_RZ, b, qc(Q, f1, -1, Z, 0));
        hq_angle t = qc(Q, P[2], TWO_PI, Z, 0);
        qg(Q, HQ_GATE_RXX, a, b, -1, &t);
        qg1(Q, HQ_GATE_RZ, a, f0);
        qg1(Q, HQ_GATE_RZ, b, f1);
        break;
    }
    case HQ_GATE_CSX: /* h b; cp(pi/2); h b */
        qg(Q, HQ_GATE_H, b, -1, -1, NULL);
        qg(Q, HQ_GATE_CP, a, b, -1, (hq_angle[]){hq_angle_const(M_PI / 2)});
        qg(Q, HQ_GATE_H, b, -1, -1, NULL);
        break;
    case HQ_GATE_ISWAP:
        qg(Q, HQ_GATE_S, a, -1, -1, NULL);
        qg(Q, HQ_GATE_S, b, -1, -1, NULL);
        qg(Q, HQ_GATE_H, a, -1, -1, NULL);
        qg(Q, HQ_GATE_CX, a, b, -1, NULL);
        qg(Q, HQ_GATE_CX, b, a, -1, NULL);
        qg(Q, HQ_GATE_H, b, -1, -1, NULL);
        break;
    case HQ_GATE_ECR:
        qg(Q, HQ_GATE_X, a, -1, -1, NULL);
        qg(Q, HQ_GATE_CX, a, b, -1, NULL);
        qg1(Q, HQ_GATE_RZ, a, hq_angle_const(-M_PI / 2));
        qg1(Q, HQ_GATE_RX, b, hq_angle_const(-M_PI / 2));
        break;
    case HQ_GATE_CU:
    case HQ_GATE_CU3: {
        if (g == HQ_GATE_CU) qg1(Q, HQ_GATE_P, a, P[3]);
        qg1(Q, HQ_GATE_P, a, qc(Q, P[2], 0.5, P[1], 0.5));
        qg1(Q, HQ_GATE_P, b, qc(Q, P[2], 0.5, P[1], -0.5));
        qg(Q, HQ_GATE_CX, a, b, -1, NULL);
        qis_u3(Q, b, qc(Q, P[0], -0.5, Z, 0), Z, qc(Q, P[1], -0.5, P[2], -0.5));
        qg(Q, HQ_GATE_CX, a, b, -1, NULL);
        qis_u3(Q, b, qc(Q, P[0], 0.5, Z, 0), P[1], Z);
        break;
    }
    case HQ_GATE_CSWAP:
        qg(Q, HQ_GATE_CX, q2, b, -1, NULL);
        qg(Q, HQ_GATE_CCX, a, b, q2, NULL);
        qg(Q, HQ_GATE_CX, q2, b, -1, NULL);
        break;
    case HQ_GATE_MEASURE:
        if (!Q->st) Q->st = hq_circuit_add_measure(Q->c, a, op->clbit);
        break;
    case HQ_GATE_BARRIER: {
        int qs[256];
        for (int k = 0; k < op->nq; k++) qs[k] = hq_op_qubit(c, op, k);
        if (!Q->st) Q->st = hq_circuit_add_barrier(Q->c, qs, op->nq);
        break;
    }
    default:
        if (!Q->st)
            Q->st =
                hq_failf(NULL, HQ_ERR_UNSUPPORTED, "hq_transpile_ionq: gate '%s' has no QIS form",
                         hq_gate_get_info(g)->name);
    }
}

hq_status hq_transpile_ionq(const hq_circuit *c, hq_ionq_gateset gs, int max_qubits,
                            const hq_transpile_options *opt, hq_transpile_result *out) {
    double t0 = hq_time_now();
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_transpile_ionq: out is NULL");
    memset(out, 0, sizeof *out);
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_transpile_ionq: circuit is NULL");
    if (gs != HQ_IONQ_NATIVE && gs != HQ_IONQ_QIS)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_transpile_ionq: gate set %d is neither HQ_IONQ_NATIVE nor HQ_IONQ_QIS",
                        (int)gs);
    hq_transpile_options o = opt ? *opt : hq_transpile_default_options();
    hq_status st = ionq_check(c, max_qubits, "hq_transpile_ionq");
    if (st) return st;
    int n = hq_circuit_n_qubits(c);
    int *ident = hq_malloc((size_t)n * sizeof *ident);
    if (!ident) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_transpile_ionq: out of memory");
    for (int i = 0; i < n; i++) ident[i] = i;
    tp_prog L;
    tp_init(&L, n);
    if (gs == HQ_IONQ_QIS) {
        qis Q = {NULL, true, HQ_OK};
        st = shell(c, n, &Q.c);
        const hq_op *ops = hq_circuit_ops(c);
        for (int64_t i = 0; !st && i < hq_circuit_n_ops(c); i++) {
            if (o.drop_barriers && ops[i].gate == HQ_GATE_BARRIER) continue;
            qis_op(&Q, c, &ops[i]);
            st = Q.st;
        }
        if (!st && !Q.ok)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                          "hq_transpile_ionq: a decomposition combines symbolic angles into more "
                          "than %d terms",
                          HQ_ANGLE_MAX_TERMS);
        out->circuit = Q.c;
        if (st) goto fail;
        out->twoq_gate = HQ_GATE_CX;
    } else {
        tp_lower_opts lo = {.ionq_ms = true, .swaps_as_cx = true, .drop_barriers = o.drop_barriers};
        if ((st = tp_lower(c, &lo, &L))) goto fail;
        if (o.optimization_level >= 1) tp_optimize(&L);
        out->stats.twoq_in = count_kind(&L, TP_CX) + count_kind(&L, TP_MS);
        if ((st = cx_to_ms(&L))) goto fail;
        if (o.optimization_level >= 1) tp_optimize(&L);
        out->ionq_frame = hq_malloc((size_t)n * sizeof *out->ionq_frame);
        if (!out->ionq_frame) {
            st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_transpile_ionq: out of memory");
            goto fail;
        }
        if ((st = emit_ionq(&L, c, &out->circuit, out->ionq_frame))) goto fail;
        out->twoq_gate = HQ_GATE_MS;
    }
    if ((st = fill_result(out, c, n, ident, ident))) goto fail;
    out->stats.layout_exact = true;
    out->stats.seconds = hq_time_now() - t0;
    tp_free(&L);
    hq_free(ident);
    return HQ_OK;
fail:
    tp_free(&L);
    hq_free(ident);
    hq_transpile_result_free(out);
    return st;
}

/* ==== ISA check ============================================================================ */

hq_status hq_transpile_check_isa(const hq_circuit *c, const hq_device *d) {
    if (!c || !d)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_transpile_check_isa: circuit or device is NULL");
    if (hq_circuit_n_qubits(c) > d->n_qubits)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_transpile_check_isa: the circuit has %d qubits, the device '%s' %d",
                        hq_circuit_n_qubits(c), d->name, d->n_qubits);
    hq_gate g2 = hq_device_two_qubit_gate(d);
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < hq_circuit_n_ops(c); i++) {
        const hq_op *o = &ops[i];
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)o->gate);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        bool ok1 = (o->gate == HQ_GATE_RZ || o->gate == HQ_GATE_SX || o->gate == HQ_GATE_X ||
                    o->gate == HQ_GATE_ID) &&
                   hq_device_supports(d, (hq_gate)o->gate);
        bool ok2 = o->gate == g2 && g2 != HQ_GATE_COUNT;
        if (!ok1 && !ok2)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_transpile_check_isa: operation %lld: gate '%s' is not in the ISA "
                            "of '%s'",
                            (long long)i, gi->name, d->name);
        if (ok2 && !hq_device_has_edge(d, o->q[0], o->q[1]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_transpile_check_isa: operation %lld: %s %d, %d is not a "
                            "coupling-map edge of '%s' in that direction",
                            (long long)i, gi->name, o->q[0], o->q[1], d->name);
    }
    return HQ_OK;
}
