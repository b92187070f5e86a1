/*
 * backends/transpile_ir.c — the transpiler's program form: building, affine angles, 2x2
 * algebra (ZYZ), lowering of every gate of the table to 1-qubit unitaries + CX (or
 * constant MS for IonQ), and the peephole passes (single-qubit run merging, commutation
 * of diagonal / X-type gates through CX, CZ and ECR, cancellation of self-inverse pairs).
 * Layout and routing are in transpile_route.c, native gate conversion and emission in
 * transpile.c.
 *
 * Every decomposition below is exact up to global phase and is checked gate by gate
 * against hq_gate_matrix in tests/test_transpile.c. Time order is written left to right:
 * "a; b" applies a first (matrix b·a).
 */
#include <math.h>
#include <string.h>

#include "backends/transpile_impl.h"

#define EPS 1e-12

/* ==== program building ================================================================ */

void tp_init(tp_prog *p, int nq) {
    memset(p, 0, sizeof *p);
    p->nq = nq;
}

void tp_free(tp_prog *p) {
    hq_free(p->ops);
    hq_free(p->pool);
    memset(p, 0, sizeof *p);
}

hq_status tp_status(const tp_prog *p, const char *fn) {
    if (p->oom) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    if (p->angle_overflow)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: a decomposition combines symbolic angles into more than %d terms"
                        "\n---> HINT: bind some symbols first (hq_circuit_bind) or use fewer "
                        "symbols per gate",
                        fn, HQ_ANGLE_MAX_TERMS);
    return HQ_OK;
}

tp_op *tp_push(tp_prog *p, tp_kind k, int q0, int q1) {
    static tp_op scratch;
    if (p->oom) return &scratch;
    if (p->n == p->cap) {
        int64_t nc = p->cap ? p->cap * 2 : 64;
        tp_op *n = hq_realloc(p->ops, (size_t)nc * sizeof *n);
        if (!n) {
            p->oom = true;
            return &scratch;
        }
        p->ops = n;
        p->cap = nc;
    }
    tp_op *o = &p->ops[p->n++];
    memset(o, 0, sizeof *o);
    o->kind = (uint8_t)k;
    o->q[0] = q0;
    o->q[1] = q1;
    o->q[2] = -1;
    o->clbit = -1;
    o->cond_creg = -1;
    return o;
}

void tp_u(tp_prog *p, int q, const hq_cplx *m) {
    memcpy(tp_push(p, TP_U, q, -1)->m, m, 4 * sizeof *m);
}

void tp_gate1(tp_prog *p, int q, hq_gate g, const double *params) {
    hq_cplx m[4];
    if (hq_gate_matrix(g, params, m) != HQ_OK) return; /* table gates always succeed */
    tp_u(p, q, m);
}

void tp_rz(tp_prog *p, int q, hq_angle a) {
    if (tp_ang_is_const(&a)) {
        hq_cplx m[4];
        tp_m2_rz(a.c, m);
        tp_u(p, q, m);
        return;
    }
    tp_push(p, TP_RZ, q, -1)->a = a;
}

void tp_cx(tp_prog *p, int c, int t) { tp_push(p, TP_CX, c, t); }

void tp_condition(tp_prog *p, int64_t from, int32_t creg, uint64_t val) {
    for (int64_t i = from; i < p->n; i++) {
        p->ops[i].cond_creg = creg;
        p->ops[i].cond_val = val;
    }
}

void tp_copy_op(tp_prog *dst, const tp_prog *src, const tp_op *o) {
    if (o->kind != TP_BARRIER) {
        *tp_push(dst, (tp_kind)o->kind, 0, -1) = *o;
        return;
    }
    if (dst->npool + o->bar_n > dst->cappool) {
        int64_t nc = HQ_MAX(dst->cappool * 2, dst->npool + o->bar_n + 64);
        int32_t *np_ = hq_realloc(dst->pool, (size_t)nc * sizeof *np_);
        if (!np_) {
            dst->oom = true;
            return;
        }
        dst->pool = np_;
        dst->cappool = nc;
    }
    tp_op *b = tp_push(dst, TP_BARRIER, -1, -1);
    *b = *o;
    b->bar_off = (int32_t)dst->npool;
    memcpy(dst->pool + dst->npool, src->pool + o->bar_off, (size_t)o->bar_n * sizeof *dst->pool);
    dst->npool += o->bar_n;
}

void tp_compact(tp_prog *p) {
    int64_t w = 0;
    for (int64_t i = 0; i < p->n; i++)
        if (!p->ops[i].dead) p->ops[w++] = p->ops[i];
    p->n = w;
}

/* ==== affine angles ==================================================================== */

hq_angle tp_ang_comb(hq_angle a, double ka, hq_angle b, double kb, bool *ok) {
    hq_angle r = {0};
    r.c = a.c * ka + b.c * kb;
    const hq_angle *src[2] = {&a, &b};
    const double k[2] = {ka, kb};
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < src[s]->n; i++) {
            double coef = src[s]->coef[i] * k[s];
            int j = 0;
            while (j < r.n && r.sym[j] != src[s]->sym[i]) j++;
            if (j < r.n) {
                r.coef[j] += coef;
            } else if (r.n < HQ_ANGLE_MAX_TERMS) {
                r.sym[r.n] = src[s]->sym[i];
                r.coef[r.n++] = coef;
            } else {
                *ok = false;
                return a;
            }
        }
    }
    /* drop cancelled terms */
    int w = 0;
    for (int i = 0; i < r.n; i++)
        if (r.coef[i] != 0) {
            r.sym[w] = r.sym[i];
            r.coef[w++] = r.coef[i];
        }
    r.n = w;
    return r;
}

/* ==== 2x2 algebra ====================================================================== */

void tp_m2_mul(const hq_cplx *a, const hq_cplx *b, hq_cplx *out) {
    hq_cplx r[4] = {a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
                    a[2] * b[1] + a[3] * b[3]};
    memcpy(out, r, sizeof r);
}

void tp_m2_rz(double a, hq_cplx *m) {
    m[0] = cexp(-0.5 * I * a);
    m[1] = m[2] = 0;
    m[3] = cexp(0.5 * I * a);
}

double tp_wrap(double a) {
    a = fmod(a, 2 * M_PI);
    if (a <= -M_PI) a += 2 * M_PI;
    if (a > M_PI) a -= 2 * M_PI;
    return a;
}

void tp_zyz(const hq_cplx *m, double *theta, double *phi, double *lambda) {
    double c = cabs(m[0]), s = cabs(m[2]);
    *theta = 2 * atan2(s, c);
    if (s < 1e-14 * (c + s)) { /* diagonal: U3(0, phi, 0) */
        *lambda = 0;
        *phi = carg(m[3] / m[0]);
    } else if (c < 1e-14 * (c + s)) { /* anti-diagonal: alpha = arg(-m01), lambda = 0 */
        *lambda = 0;
        *phi = carg(m[2] / -m[1]);
    } else {
        double alpha = carg(m[0]);
        *phi = carg(m[2]) - alpha;
        *lambda = carg(-m[1]) - alpha;
    }
    *phi = tp_wrap(*phi);
    *lambda = tp_wrap(*lambda);
}

static bool m2_is_diag(const hq_cplx *m) { return cabs(m[1]) < EPS && cabs(m[2]) < EPS; }
/* a I + b X (commutes with X): m00 == m11 and m01 == m10 */
static bool m2_is_xtype(const hq_cplx *m) {
    return cabs(m[0] - m[3]) < EPS && cabs(m[1] - m[2]) < EPS;
}
static bool m2_is_identity(const hq_cplx *m) {
    return m2_is_diag(m) && cabs(m[3] - m[0]) < EPS * 10;
}

/* ==== lowering ========================================================================= */

typedef struct lower_ctx {
    tp_prog *p;
    bool ok; /* angle combinations fit */
} lower_ctx;

static hq_angle K(double v) { return hq_angle_const(v); }
static hq_angle comb(lower_ctx *L, hq_angle a, double ka, hq_angle b, double kb) {
    return tp_ang_comb(a, ka, b, kb, &L->ok);
}
static hq_angle scale(lower_ctx *L, hq_angle a, double k) { return comb(L, a, k, K(0), 0); }

static void g1(lower_ctx *L, int q, hq_gate g) { tp_gate1(L->p, q, g, NULL); }
static void rzA(lower_ctx *L, int q, hq_angle a) { tp_rz(L->p, q, a); }
static void rxA(lower_ctx *L, int q, hq_angle a) {
    if (tp_ang_is_const(&a)) {
        tp_gate1(L->p, q, HQ_GATE_RX, &a.c);
        return;
    }
    g1(L, q, HQ_GATE_H); /* RX = H RZ H */
    rzA(L, q, a);
    g1(L, q, HQ_GATE_H);
}
static void ryA(lower_ctx *L, int q, hq_angle a) {
    if (tp_ang_is_const(&a)) {
        tp_gate1(L->p, q, HQ_GATE_RY, &a.c);
        return;
    }
    g1(L, q, HQ_GATE_SDG); /* RY = S H RZ H S^dg */
    g1(L, q, HQ_GATE_H);
    rzA(L, q, a);
    g1(L, q, HQ_GATE_H);
    g1(L, q, HQ_GATE_S);
}
/* U3(theta, phi, lambda) = RZ(phi) RY(theta) RZ(lambda) up to phase */
static void u3A(lower_ctx *L, int q, hq_angle th, hq_angle ph, hq_angle la) {
    if (tp_ang_is_const(&th) && tp_ang_is_const(&ph) && tp_ang_is_const(&la)) {
        double v[3] = {th.c, ph.c, la.c};
        tp_gate1(L->p, q, HQ_GATE_U3, v);
        return;
    }
    rzA(L, q, la);
    ryA(L, q, th);
    rzA(L, q, ph);
}
static void cx(lower_ctx *L, int c, int t) { tp_cx(L->p, c, t); }

/* controlled phase: p(l/2) a; cx a,b; p(-l/2) b; cx a,b; p(l/2) b */
static void cpA(lower_ctx *L, int a, int b, hq_angle l) {
    hq_angle h = scale(L, l, 0.5);
    rzA(L, a, h);
    cx(L, a, b);
    rzA(L, b, scale(L, l, -0.5));
    cx(L, a, b);
    rzA(L, b, h);
}
/* crz: rz(t/2) b; cx; rz(-t/2) b; cx */
static void crzA(lower_ctx *L, int a, int b, hq_angle t) {
    rzA(L, b, scale(L, t, 0.5));
    cx(L, a, b);
    rzA(L, b, scale(L, t, -0.5));
    cx(L, a, b);
}
/* cry: ry(t/2) b; cx; ry(-t/2) b; cx */
static void cryA(lower_ctx *L, int a, int b, hq_angle t) {
    ryA(L, b, scale(L, t, 0.5));
    cx(L, a, b);
    ryA(L, b, scale(L, t, -0.5));
    cx(L, a, b);
}
/* cu3 (qelib1): p((l+ph)/2) a; p((l-ph)/2) b; cx; u3(-t/2, 0, -(ph+l)/2) b; cx;
 * u3(t/2, ph, 0) b */
static void cu3A(lower_ctx *L, int a, int b, hq_angle t, hq_angle ph, hq_angle l) {
    rzA(L, a, comb(L, l, 0.5, ph, 0.5));
    rzA(L, b, comb(L, l, 0.5, ph, -0.5));
    cx(L, a, b);
    u3A(L, b, scale(L, t, -0.5), K(0), comb(L, ph, -0.5, l, -0.5));
    cx(L, a, b);
    u3A(L, b, scale(L, t, 0.5), ph, K(0));
}
/* rzz: cx a,b; rz(t) b; cx a,b */
static void rzzA(lower_ctx *L, int a, int b, hq_angle t) {
    cx(L, a, b);
    rzA(L, b, t);
    cx(L, a, b);
}

/* IonQ: RXX(theta) for a constant theta as at most one MS with angle in (0, 1/4] turns. */
static void ms_rxx(lower_ctx *L, int a, int b, double th) {
    th = tp_wrap(th); /* RXX(t + 2 pi) = -RXX(t) */
    if (fabs(th) > M_PI / 2) {
        /* RXX(t) = RXX(t -+ pi) RXX(+-pi), RXX(pi) = -i XX */
        g1(L, a, HQ_GATE_X);
        g1(L, b, HQ_GATE_X);
        th -= th > 0 ? M_PI : -M_PI;
    }
    double t = th / (2 * M_PI);
    if (fabs(t) < EPS) return;
    tp_op *o = tp_push(L->p, TP_MS, a, b);
    o->ms[0] = t > 0 ? 0 : 0.5; /* sigma(1/2) = -X */
    o->ms[1] = 0;
    o->ms[2] = fabs(t);
}

/* the CCX of Nielsen & Chuang fig. 4.9: 6 CX, 7 T gates */
static void ccx(lower_ctx *L, int a, int b, int c) {
    g1(L, c, HQ_GATE_H);
    cx(L, b, c);
    g1(L, c, HQ_GATE_TDG);
    cx(L, a, c);
    g1(L, c, HQ_GATE_T);
    cx(L, b, c);
    g1(L, c, HQ_GATE_TDG);
    cx(L, a, c);
    g1(L, b, HQ_GATE_T);
    g1(L, c, HQ_GATE_T);
    g1(L, c, HQ_GATE_H);
    cx(L, a, b);
    g1(L, a, HQ_GATE_T);
    g1(L, b, HQ_GATE_TDG);
    cx(L, a, b);
}

static hq_status lower_op(lower_ctx *L, const tp_lower_opts *o, const hq_circuit *c,
                          const hq_op *op) {
    tp_prog *p = L->p;
    hq_gate g = (hq_gate)op->gate;
    int a = op->q[0], b = op->q[1], q2 = op->q[2];
    hq_angle P[HQ_GATE_MAX_PARAMS];
    bool all_const = true;
    for (int i = 0; i < op->np; i++) {
        P[i] = hq_circuit_angle(c, op->p[i]);
        all_const &= tp_ang_is_const(&P[i]);
    }
    const double TWO_PI = 2 * M_PI;
    switch (g) {
    case HQ_GATE_MEASURE: tp_push(p, TP_MEASURE, a, -1)->clbit = op->clbit; break;
    case HQ_GATE_RESET: tp_push(p, TP_RESET, a, -1); break;
    case HQ_GATE_BARRIER: {
        if (o->drop_barriers) break;
        if (p->npool + op->nq > p->cappool) {
            int64_t nc = HQ_MAX(p->cappool * 2, p->npool + op->nq + 64);
            int32_t *np_ = hq_realloc(p->pool, (size_t)nc * sizeof *np_);
            if (!np_) {
                p->oom = true;
                break;
            }
            p->pool = np_;
            p->cappool = nc;
        }
        tp_op *t = tp_push(p, TP_BARRIER, -1, -1);
        t->bar_off = (int32_t)p->npool;
        t->bar_n = op->nq;
        for (int i = 0; i < op->nq; i++) p->pool[p->npool++] = hq_op_qubit(c, op, i);
        break;
    }
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
    case HQ_GATE_SXDG: g1(L, a, g); break;
    case HQ_GATE_RX: rxA(L, a, P[0]); break;
    case HQ_GATE_RY: ryA(L, a, P[0]); break;
    case HQ_GATE_RZ:
    case HQ_GATE_P:
    case HQ_GATE_U1: rzA(L, a, P[0]); break;
    case HQ_GATE_U2: u3A(L, a, K(M_PI / 2), P[0], P[1]); break;
    case HQ_GATE_U3:
    case HQ_GATE_U: u3A(L, a, P[0], P[1], P[2]); break;
    case HQ_GATE_GPI: /* RZ(2 pi f) X RZ(-2 pi f) */
    case HQ_GATE_GPI2: {
        hq_angle f = scale(L, P[0], TWO_PI);
        rzA(L, a, scale(L, f, -1));
        if (g == HQ_GATE_GPI)
            g1(L, a, HQ_GATE_X);
        else
            rxA(L, a, K(M_PI / 2));
        rzA(L, a, f);
        break;
    }
    case HQ_GATE_CX: cx(L, a, b); break;
    case HQ_GATE_CY: /* S X S^dg = Y */
        g1(L, b, HQ_GATE_SDG);
        cx(L, a, b);
        g1(L, b, HQ_GATE_S);
        break;
    case HQ_GATE_CZ: /* H X H = Z; symmetric: the lower qubit controls, so pairs cancel */
        if (a > b) a = op->q[1], b = op->q[0];
        g1(L, b, HQ_GATE_H);
        cx(L, a, b);
        g1(L, b, HQ_GATE_H);
        break;
    case HQ_GATE_CH: /* RY(-pi/4) X RY(pi/4) = (X + Z)/sqrt2 = H */
        tp_gate1(p, b, HQ_GATE_RY, (double[]){M_PI / 4});
        cx(L, a, b);
        tp_gate1(p, b, HQ_GATE_RY, (double[]){-M_PI / 4});
        break;
    case HQ_GATE_CSX: /* SX = H S H: h b; cp(pi/2); h b */
        g1(L, b, HQ_GATE_H);
        cpA(L, a, b, K(M_PI / 2));
        g1(L, b, HQ_GATE_H);
        break;
    case HQ_GATE_SWAP:
        if (o->swaps_as_cx) {
            cx(L, a, b);
            cx(L, b, a);
            cx(L, a, b);
        } else {
            tp_push(p, TP_SWAP, a, b);
        }
        break;
    case HQ_GATE_ISWAP: /* s a; s b; h a; cx a,b; cx b,a; h b */
        g1(L, a, HQ_GATE_S);
        g1(L, b, HQ_GATE_S);
        g1(L, a, HQ_GATE_H);
        cx(L, a, b);
        cx(L, b, a);
        g1(L, b, HQ_GATE_H);
        break;
    case HQ_GATE_ECR: /* ECR = RZ(-pi/2)_a RX(-pi/2)_b CX X_a */
        g1(L, a, HQ_GATE_X);
        cx(L, a, b);
        rzA(L, a, K(-M_PI / 2));
        rxA(L, b, K(-M_PI / 2));
        break;
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
    case HQ_GATE_CRZ:
        if (o->ionq_ms && all_const) {
            /* CP(l) = RZ_a(l/2) RZ_b(l/2) RZZ(-l/2); CRZ(t) = RZ_b(t/2) RZZ(-t/2) */
            double v = P[0].c;
            g1(L, a, HQ_GATE_H);
            g1(L, b, HQ_GATE_H);
            ms_rxx(L, a, b, -v / 2);
            g1(L, a, HQ_GATE_H);
            g1(L, b, HQ_GATE_H);
            if (g != HQ_GATE_CRZ) rzA(L, a, K(v / 2));
            rzA(L, b, K(v / 2));
        } else if (g == HQ_GATE_CRZ) {
            crzA(L, a, b, P[0]);
        } else {
            cpA(L, HQ_MIN(a, b), HQ_MAX(a, b), P[0]); /* symmetric */
        }
        break;
    case HQ_GATE_CRX: /* H RZ H = RX */
        g1(L, b, HQ_GATE_H);
        crzA(L, a, b, P[0]);
        g1(L, b, HQ_GATE_H);
        break;
    case HQ_GATE_CRY: cryA(L, a, b, P[0]); break;
    case HQ_GATE_CU3: cu3A(L, a, b, P[0], P[1], P[2]); break;
    case HQ_GATE_CU: /* p(gamma) on the control, then cu3 */
        rzA(L, a, P[3]);
        cu3A(L, a, b, P[0], P[1], P[2]);
        break;
    case HQ_GATE_RZZ:
    case HQ_GATE_RXX:
    case HQ_GATE_RYY: {
        /* RXX = (H H) RZZ (H H); RYY = (SH SH) RZZ (H Sdg H Sdg) */
        if (g == HQ_GATE_RYY) {
            g1(L, a, HQ_GATE_SDG);
            g1(L, b, HQ_GATE_SDG);
        }
        if (o->ionq_ms && all_const) {
            if (g == HQ_GATE_RZZ) {
                g1(L, a, HQ_GATE_H);
                g1(L, b, HQ_GATE_H);
            }
            ms_rxx(L, a, b, P[0].c);
            if (g == HQ_GATE_RZZ) {
                g1(L, a, HQ_GATE_H);
                g1(L, b, HQ_GATE_H);
            }
        } else {
            if (g != HQ_GATE_RZZ) {
                g1(L, a, HQ_GATE_H);
                g1(L, b, HQ_GATE_H);
            }
            rzzA(L, a, b, P[0]);
            if (g != HQ_GATE_RZZ) {
                g1(L, a, HQ_GATE_H);
                g1(L, b, HQ_GATE_H);
            }
        }
        if (g == HQ_GATE_RYY) {
            g1(L, a, HQ_GATE_S);
            g1(L, b, HQ_GATE_S);
        }
        break;
    }
    case HQ_GATE_MS: {
        /* MS(f0, f1, t) = (R0 R1) RXX(2 pi t) (R0 R1)^dg, R = RZ(2 pi f) */
        if (o->ionq_ms && all_const) {
            tp_op *t = tp_push(p, TP_MS, a, b);
            for (int i = 0; i < 3; i++) t->ms[i] = P[i].c;
            break;
        }
        hq_angle f0 = scale(L, P[0], TWO_PI), f1 = scale(L, P[1], TWO_PI);
        rzA(L, a, scale(L, f0, -1));
        rzA(L, b, scale(L, f1, -1));
        g1(L, a, HQ_GATE_H);
        g1(L, b, HQ_GATE_H);
        rzzA(L, a, b, scale(L, P[2], TWO_PI));
        g1(L, a, HQ_GATE_H);
        g1(L, b, HQ_GATE_H);
        rzA(L, a, f0);
        rzA(L, b, f1);
        break;
    }
    case HQ_GATE_CCX:
    case HQ_GATE_CSWAP: /* cswap: cx c,b; ccx a,b,c; cx c,b */
        if (g == HQ_GATE_CSWAP) cx(L, q2, b);
        if (o->ccz) { /* CCX = H_c CCZ H_c, routed as one unit */
            g1(L, q2, HQ_GATE_H);
            tp_push(p, TP_CCZ, a, b)->q[2] = q2;
            g1(L, q2, HQ_GATE_H);
        } else {
            ccx(L, a, b, q2);
        }
        if (g == HQ_GATE_CSWAP) cx(L, q2, b);
        break;
    default:
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED, "transpile: gate %d has no decomposition",
                        (int)g);
    }
    return HQ_OK;
}

/* Flag the final measurements (tp_op.final) in one backward pass. */
static void mark_final_measures(const hq_circuit *c, tp_prog *p) {
    int nb = hq_circuit_n_clbits(c), nr = hq_circuit_n_cregs(c);
    /* by a later operation that is not a final measurement: */
    uint8_t *touched = hq_calloc((size_t)p->nq + 1, 1); /* qubit used later */
    uint8_t *written = hq_calloc((size_t)nb + 1, 1);    /* bit measured later */
    uint8_t *read = hq_calloc((size_t)nr + 1, 1);       /* register read by a later condition */
    int32_t *reg = hq_malloc(((size_t)nb + 1) * sizeof *reg); /* register of each bit */
    if (!touched || !written || !read || !reg) {
        p->oom = true;
        goto done;
    }
    for (int r = 0; r < nr; r++) {
        hq_reg cr = hq_circuit_creg(c, r);
        for (int j = 0; j < cr.size; j++) reg[cr.offset + j] = r;
    }
    for (int64_t i = p->n - 1; i >= 0; i--) {
        tp_op *o = &p->ops[i];
        if (o->kind == TP_MEASURE) {
            o->final =
                o->cond_creg < 0 && !touched[o->q[0]] && !written[o->clbit] && !read[reg[o->clbit]];
            if (o->final) continue; /* final ones keep their order among themselves */
            written[o->clbit] = 1;
        }
        if (o->cond_creg >= 0) read[o->cond_creg] = 1;
        if (o->kind == TP_BARRIER) continue;
        for (int k = 0; k < 3; k++)
            if (o->q[k] >= 0) touched[o->q[k]] = 1;
    }
done:
    hq_free(touched);
    hq_free(written);
    hq_free(read);
    hq_free(reg);
}

hq_status tp_lower(const hq_circuit *c, const tp_lower_opts *o, tp_prog *p) {
    tp_init(p, hq_circuit_n_qubits(c));
    lower_ctx L = {p, true};
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++) {
        int64_t from = p->n;
        hq_status st = lower_op(&L, o, c, &ops[k]);
        if (st) return st;
        if (ops[k].cond_creg >= 0) tp_condition(p, from, ops[k].cond_creg, ops[k].cond_val);
    }
    if (!L.ok) p->angle_overflow = true;
    if (!p->oom) mark_final_measures(c, p);
    return tp_status(p, "transpile");
}

/* ==== CCZ expansion ====================================================================== */

static void tgate(tp_prog *p, int q, bool dg, const tp_op *like) {
    tp_gate1(p, q, dg ? HQ_GATE_TDG : HQ_GATE_T, NULL);
    if (p->oom) return;
    p->ops[p->n - 1].cond_creg = like->cond_creg;
    p->ops[p->n - 1].cond_val = like->cond_val;
}
static void cxl(tp_prog *p, int c, int t, const tp_op *like) {
    tp_op *o = tp_push(p, TP_CX, c, t);
    o->cond_creg = like->cond_creg;
    o->cond_val = like->cond_val;
}

/*
 * CCZ = exp(i pi/4 (a + b + c - a^b - a^c - b^c + a^b^c)) as a phase polynomial. On a path
 * x - m - y the parities are reached with 8 CX between neighbours (a shortest such network,
 * found by breadth-first search over CX sequences):
 *   T x, T m, T y; cx x,m [m = x^m] Tdg m; cx m,y [y = x^m^y] T y; cx x,m [m = m];
 *   cx m,y [y = x^y] Tdg y; cx x,m [m = x^m]; cx m,y [y = m^y] Tdg y; cx x,m; cx m,y.
 * On a triangle: H_c CCX H_c with the 6-CX CCX.
 */
static void ccz_path(tp_prog *p, int x, int m, int y, const tp_op *o) {
    tgate(p, x, false, o);
    tgate(p, m, false, o);
    tgate(p, y, false, o);
    cxl(p, x, m, o);
    tgate(p, m, true, o);
    cxl(p, m, y, o);
    tgate(p, y, false, o);
    cxl(p, x, m, o);
    cxl(p, m, y, o);
    tgate(p, y, true, o);
    cxl(p, x, m, o);
    cxl(p, m, y, o);
    tgate(p, y, true, o);
    cxl(p, x, m, o);
    cxl(p, m, y, o);
}

hq_status tp_expand_ccz(tp_prog *p, const uint8_t *adj) {
    tp_prog q;
    tp_init(&q, p->nq);
    for (int64_t i = 0; i < p->n; i++) {
        const tp_op *o = &p->ops[i];
        if (o->kind != TP_CCZ) {
            tp_copy_op(&q, p, o);
            continue;
        }
        int v[3] = {o->q[0], o->q[1], o->q[2]};
        int n = p->nq, mid = -1, na = 0;
        for (int k = 0; k < 3; k++) {
            bool a1 = !adj || adj[(size_t)v[k] * n + v[(k + 1) % 3]];
            bool a2 = !adj || adj[(size_t)v[k] * n + v[(k + 2) % 3]];
            na += a1;
            if (a1 && a2 && mid < 0) mid = k;
        }
        if (mid < 0) {
            tp_free(&q);
            return hq_failf(NULL, HQ_ERR_INTERNAL, "transpile: CCZ on %d, %d, %d is not routed",
                            v[0], v[1], v[2]);
        }
        if (na == 3) { /* triangle (or all-to-all): H_c CCX H_c */
            lower_ctx L = {&q, true};
            int64_t from = q.n;
            g1(&L, v[2], HQ_GATE_H);
            ccx(&L, v[0], v[1], v[2]);
            g1(&L, v[2], HQ_GATE_H);
            tp_condition(&q, from, o->cond_creg, o->cond_val);
        } else {
            ccz_path(&q, v[(mid + 1) % 3], v[mid], v[(mid + 2) % 3], o);
        }
    }
    hq_status st = tp_status(&q, "transpile");
    if (st) {
        tp_free(&q);
        return st;
    }
    tp_free(p);
    *p = q;
    return HQ_OK;
}

/* ==== peephole: single-qubit runs ======================================================= */

static bool is_1q(const tp_op *o) { return o->kind == TP_U || o->kind == TP_RZ; }
static bool is_free_1q(const tp_op *o) { return is_1q(o) && o->cond_creg < 0 && !o->dead; }

/* qubits touched by op into q (returns count; barriers use the pool) */
static int op_qubits(const tp_prog *p, const tp_op *o, const int32_t **list, int32_t *buf) {
    if (o->kind == TP_BARRIER) {
        *list = p->pool + o->bar_off;
        return o->bar_n;
    }
    buf[0] = o->q[0];
    buf[1] = o->q[1];
    buf[2] = o->q[2];
    *list = buf;
    return o->q[2] >= 0 ? 3 : o->q[1] >= 0 ? 2 : 1;
}

/* Rewrite the run ops idx[0..n) (consecutive on one qubit, n <= RUN_MAX) into their merged
 * form: products of consecutive constants, sums of consecutive rz, diagonal constants
 * folded into a neighbouring symbolic rz, identities dropped. Returns true if the number
 * of operations shrank. */
#define RUN_MAX 64
static bool merge_run(tp_prog *p, const int64_t *idx, int n) {
    tp_op out[RUN_MAX];
    int m = 0;
    for (int i = 0; i < n; i++) out[m++] = p->ops[idx[i]];
    for (bool again = true; again;) {
        again = false;
        /* products and sums of neighbours */
        int w = 0;
        for (int i = 0; i < m; i++) {
            tp_op *x = &out[i], *l = w ? &out[w - 1] : NULL;
            if (l && x->kind == TP_U && l->kind == TP_U) {
                tp_m2_mul(x->m, l->m, l->m); /* the later gate multiplies on the left */
                continue;
            }
            if (l && x->kind == TP_RZ && l->kind == TP_RZ) {
                bool ok = true;
                hq_angle s = tp_ang_comb(l->a, 1, x->a, 1, &ok);
                if (ok) {
                    l->a = s;
                    continue;
                }
            }
            out[w++] = *x;
        }
        m = w;
        /* a diagonal constant next to an rz joins it (they commute) */
        for (int i = 0; i < m; i++) {
            if (out[i].kind != TP_U || !m2_is_diag(out[i].m)) continue;
            hq_angle r = hq_angle_const(carg(out[i].m[3] / out[i].m[0]));
            int nb = i > 0 && out[i - 1].kind == TP_RZ       ? i - 1
                     : i + 1 < m && out[i + 1].kind == TP_RZ ? i + 1
                                                             : -1;
            if (nb < 0) continue;
            bool ok = true;
            hq_angle s = tp_ang_comb(out[nb].a, 1, r, 1, &ok);
            if (!ok) continue;
            out[nb].a = s;
            memmove(&out[i], &out[i + 1], (size_t)(m - i - 1) * sizeof *out);
            m--;
            again = true;
            break;
        }
    }
    /* drop identities */
    int w = 0;
    for (int i = 0; i < m; i++) {
        tp_op *x = &out[i];
        if (x->kind == TP_U && m2_is_identity(x->m)) continue;
        if (x->kind == TP_RZ) {
            x->a.c = tp_wrap(x->a.c);
            if (fabs(x->a.c) < EPS) x->a.c = 0;
            if (x->a.n == 0 && x->a.c == 0) continue;
        }
        out[w++] = *x;
    }
    m = w;
    for (int i = 0; i < n; i++) {
        if (i < m)
            p->ops[idx[i]] = out[i];
        else
            p->ops[idx[i]].dead = 1;
    }
    return m < n;
}

static bool pass_merge(tp_prog *p) {
    int64_t *run = hq_malloc((size_t)(p->nq ? p->nq : 1) * RUN_MAX * sizeof *run);
    int *len = hq_calloc((size_t)(p->nq ? p->nq : 1), sizeof *len);
    if (!run || !len) {
        hq_free(run);
        hq_free(len);
        return false;
    }
    bool changed = false;
    int32_t buf[3];
    for (int64_t i = 0; i < p->n; i++) {
        tp_op *o = &p->ops[i];
        if (o->dead) continue;
        if (is_free_1q(o)) {
            int q = o->q[0];
            if (len[q] == RUN_MAX) {
                changed |= merge_run(p, run + (int64_t)q * RUN_MAX, len[q]);
                len[q] = 0;
            }
            run[(int64_t)q * RUN_MAX + len[q]++] = i;
            continue;
        }
        const int32_t *qs;
        int nqs = op_qubits(p, o, &qs, buf);
        for (int k = 0; k < nqs; k++) {
            int q = qs[k];
            if (len[q]) changed |= merge_run(p, run + (int64_t)q * RUN_MAX, len[q]);
            len[q] = 0;
        }
    }
    for (int q = 0; q < p->nq; q++)
        if (len[q]) changed |= merge_run(p, run + (int64_t)q * RUN_MAX, len[q]);
    hq_free(run);
    hq_free(len);
    tp_compact(p);
    return changed;
}

/* ==== peephole: commutation ============================================================== */

/* Does the 1-qubit op x on qubit q commute with the 2-qubit op g? */
static bool commutes(const tp_op *x, int q, const tp_op *g) {
    if (g->cond_creg >= 0) return false;
    bool diag = x->kind == TP_RZ || m2_is_diag(x->m);
    bool xtype = x->kind == TP_U && m2_is_xtype(x->m);
    bool ctrl = g->q[0] == q, targ = g->q[1] == q;
    switch ((tp_kind)g->kind) {
    case TP_CX: return (diag && ctrl) || (xtype && targ);
    case TP_CCZ: return diag;
    case TP_G2:
        if (g->gate == HQ_GATE_CZ) return diag;
        if (g->gate == HQ_GATE_CX) return (diag && ctrl) || (xtype && targ);
        if (g->gate == HQ_GATE_ECR) return xtype && targ; /* ECR = exp(i pi/4 Z_a X_b) X_a */
        return false;
    default: return false;
    }
}

/* Move each free diagonal / X-type 1-qubit op backwards past the 2-qubit ops it commutes
 * with, as far as it goes: it joins an earlier single-qubit run, and two-qubit gates it
 * separated become neighbours that pass_cancel can remove. */
static bool pass_commute(tp_prog *p) {
    bool changed = false;
    int32_t buf[3];
    for (int64_t i = 0; i < p->n; i++) {
        tp_op *x = &p->ops[i];
        if (!is_free_1q(x)) continue;
        if (x->kind == TP_U && !m2_is_diag(x->m) && !m2_is_xtype(x->m)) continue;
        int q = x->q[0];
        /* find where it can go: walk back over ops not on q and commuting 2q ops */
        int64_t dest = i, j = i - 1;
        bool passed = false;
        for (; j >= 0; j--) {
            tp_op *o = &p->ops[j];
            if (o->dead) continue;
            const int32_t *qs;
            int nqs = op_qubits(p, o, &qs, buf);
            bool on_q = false;
            for (int k = 0; k < nqs; k++) on_q |= qs[k] == q;
            if (!on_q) continue;
            if ((o->kind == TP_CX || o->kind == TP_G2 || o->kind == TP_CCZ) && commutes(x, q, o)) {
                dest = j;
                passed = true;
                continue;
            }
            break;
        }
        if (!passed) continue;
        tp_op t = *x;
        memmove(&p->ops[dest + 1], &p->ops[dest], (size_t)(i - dest) * sizeof *p->ops);
        p->ops[dest] = t;
        changed = true;
    }
    return changed;
}

/* ==== peephole: 2-qubit cancellation ====================================================== */

static bool self_inverse_2q(const tp_op *o) {
    if (o->kind == TP_CX || o->kind == TP_SWAP || o->kind == TP_CCZ) return true;
    if (o->kind == TP_G2)
        return o->gate == HQ_GATE_CX || o->gate == HQ_GATE_CZ || o->gate == HQ_GATE_ECR;
    return false;
}

static bool same_2q(const tp_op *a, const tp_op *b) {
    if (a->kind != b->kind || a->gate != b->gate) return false;
    if (a->kind == TP_CCZ) { /* symmetric in all three */
        int m = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) m += a->q[i] == b->q[j];
        return m == 3;
    }
    bool sym = a->kind == TP_SWAP || (a->kind == TP_G2 && a->gate == HQ_GATE_CZ);
    if (a->q[0] == b->q[0] && a->q[1] == b->q[1]) return true;
    return sym && a->q[0] == b->q[1] && a->q[1] == b->q[0];
}

static bool pass_cancel(tp_prog *p) {
    /* next[i][k]: next live op on qubit q[k] of op i */
    int64_t *nxt = hq_malloc((size_t)(p->n ? p->n : 1) * 3 * sizeof *nxt);
    int64_t *last = hq_malloc((size_t)(p->nq ? p->nq : 1) * sizeof *last);
    if (!nxt || !last) {
        hq_free(nxt);
        hq_free(last);
        return false;
    }
    for (int q = 0; q < p->nq; q++) last[q] = -1;
    int32_t buf[3];
    for (int64_t i = p->n - 1; i >= 0; i--) {
        tp_op *o = &p->ops[i];
        const int32_t *qs;
        int nqs = op_qubits(p, o, &qs, buf);
        nxt[3 * i] = nxt[3 * i + 1] = nxt[3 * i + 2] = -1;
        for (int k = 0; k < nqs; k++) {
            if (k < 3 && o->kind != TP_BARRIER) nxt[3 * i + k] = last[qs[k]];
            last[qs[k]] = i;
        }
    }
    bool changed = false;
    for (int64_t i = 0; i < p->n; i++) {
        tp_op *o = &p->ops[i];
        if (o->dead || o->q[1] < 0 || o->kind == TP_BARRIER || o->cond_creg >= 0 ||
            !self_inverse_2q(o))
            continue;
        int64_t j = nxt[3 * i];
        if (j < 0 || j != nxt[3 * i + 1] || (o->q[2] >= 0 && j != nxt[3 * i + 2])) continue;
        tp_op *n = &p->ops[j];
        if (n->dead || n->cond_creg >= 0 || !same_2q(o, n)) continue;
        o->dead = n->dead = 1;
        changed = true;
    }
    hq_free(nxt);
    hq_free(last);
    tp_compact(p);
    return changed;
}

void tp_optimize(tp_prog *p) {
    pass_merge(p);
    for (int it = 0; it < 50; it++) {
        bool ch = pass_cancel(p);
        ch |= pass_commute(p);
        ch |= pass_merge(p);
        if (!ch) break;
    }
}
