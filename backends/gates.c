/*
 * backends/gates.c — the gate table (one row per hq_gate) and every gate's matrix and
 * matrix derivative.
 *
 * Matrices are written once, over dual numbers (value + derivative with respect to one
 * chosen parameter), so hq_gate_matrix and hq_gate_matrix_deriv can never disagree: the
 * derivative is exact, not a finite difference. Operand j is bit j of the matrix index.
 */
#include <math.h>
#include <string.h>

#include "backends/circuit.h"

/* ==== table =========================================================================== */

#define U HQ_KIND_UNITARY
static const hq_gate_info gate_table[] = {
    /* name, nq, np, kind, diagonal, self_inverse, turns */
    [HQ_GATE_ID] = {"id", 1, 0, U, true, true, false},
    [HQ_GATE_X] = {"x", 1, 0, U, false, true, false},
    [HQ_GATE_Y] = {"y", 1, 0, U, false, true, false},
    [HQ_GATE_Z] = {"z", 1, 0, U, true, true, false},
    [HQ_GATE_H] = {"h", 1, 0, U, false, true, false},
    [HQ_GATE_S] = {"s", 1, 0, U, true, false, false},
    [HQ_GATE_SDG] = {"sdg", 1, 0, U, true, false, false},
    [HQ_GATE_T] = {"t", 1, 0, U, true, false, false},
    [HQ_GATE_TDG] = {"tdg", 1, 0, U, true, false, false},
    [HQ_GATE_SX] = {"sx", 1, 0, U, false, false, false},
    [HQ_GATE_SXDG] = {"sxdg", 1, 0, U, false, false, false},
    [HQ_GATE_RX] = {"rx", 1, 1, U, false, false, false},
    [HQ_GATE_RY] = {"ry", 1, 1, U, false, false, false},
    [HQ_GATE_RZ] = {"rz", 1, 1, U, true, false, false},
    [HQ_GATE_P] = {"p", 1, 1, U, true, false, false},
    [HQ_GATE_U1] = {"u1", 1, 1, U, true, false, false},
    [HQ_GATE_U2] = {"u2", 1, 2, U, false, false, false},
    [HQ_GATE_U3] = {"u3", 1, 3, U, false, false, false},
    [HQ_GATE_U] = {"u", 1, 3, U, false, false, false},
    [HQ_GATE_GPI] = {"gpi", 1, 1, U, false, false, true},
    [HQ_GATE_GPI2] = {"gpi2", 1, 1, U, false, false, true},
    [HQ_GATE_CX] = {"cx", 2, 0, U, false, true, false},
    [HQ_GATE_CY] = {"cy", 2, 0, U, false, true, false},
    [HQ_GATE_CZ] = {"cz", 2, 0, U, true, true, false},
    [HQ_GATE_CH] = {"ch", 2, 0, U, false, true, false},
    [HQ_GATE_CSX] = {"csx", 2, 0, U, false, false, false},
    [HQ_GATE_SWAP] = {"swap", 2, 0, U, false, true, false},
    [HQ_GATE_ISWAP] = {"iswap", 2, 0, U, false, false, false},
    [HQ_GATE_ECR] = {"ecr", 2, 0, U, false, true, false},
    [HQ_GATE_CP] = {"cp", 2, 1, U, true, false, false},
    [HQ_GATE_CU1] = {"cu1", 2, 1, U, true, false, false},
    [HQ_GATE_CRX] = {"crx", 2, 1, U, false, false, false},
    [HQ_GATE_CRY] = {"cry", 2, 1, U, false, false, false},
    [HQ_GATE_CRZ] = {"crz", 2, 1, U, true, false, false},
    [HQ_GATE_CU3] = {"cu3", 2, 3, U, false, false, false},
    [HQ_GATE_CU] = {"cu", 2, 4, U, false, false, false},
    [HQ_GATE_RXX] = {"rxx", 2, 1, U, false, false, false},
    [HQ_GATE_RYY] = {"ryy", 2, 1, U, false, false, false},
    [HQ_GATE_RZZ] = {"rzz", 2, 1, U, true, false, false},
    [HQ_GATE_MS] = {"ms", 2, 3, U, false, false, true},
    [HQ_GATE_CCX] = {"ccx", 3, 0, U, false, true, false},
    [HQ_GATE_CSWAP] = {"cswap", 3, 0, U, false, true, false},
    [HQ_GATE_MEASURE] = {"measure", 1, 0, HQ_KIND_MEASURE, false, false, false},
    [HQ_GATE_RESET] = {"reset", 1, 0, HQ_KIND_RESET, false, false, false},
    [HQ_GATE_BARRIER] = {"barrier", 0, 0, HQ_KIND_BARRIER, false, false, false},
};
#undef U
_Static_assert(sizeof gate_table / sizeof *gate_table == HQ_GATE_COUNT,
               "gate_table needs one row per hq_gate");

const hq_gate_info *hq_gate_get_info(hq_gate g) {
    if ((unsigned)g >= HQ_GATE_COUNT) return NULL;
    return &gate_table[g];
}

hq_status hq_gate_from_name(const char *name, hq_gate *g) {
    for (int i = 0; i < HQ_GATE_COUNT; i++) {
        if (strcmp(gate_table[i].name, name) == 0) {
            *g = (hq_gate)i;
            return HQ_OK;
        }
    }
    return hq_failf(NULL, HQ_ERR_NOT_FOUND, "unknown gate '%s'", name);
}

/* ==== dual numbers ==================================================================== */

typedef struct dr {
    double v, d; /* value, derivative */
} dr;
typedef struct dc {
    hq_cplx v, d;
} dc;

static dc cst(hq_cplx c) { return (dc){c, 0}; }
static dr rs(dr a, double s) { return (dr){a.v * s, a.d * s}; }
static dr radd(dr a, dr b) { return (dr){a.v + b.v, a.d + b.d}; }
static dr rsub(dr a, dr b) { return (dr){a.v - b.v, a.d - b.d}; }
static dc cosd(dr a) { return (dc){cos(a.v), -sin(a.v) * a.d}; }
static dc sind(dr a) { return (dc){sin(a.v), cos(a.v) * a.d}; }
static dc expid(dr a) { /* e^{i a} */
    hq_cplx e = cos(a.v) + I * sin(a.v);
    return (dc){e, I * e * a.d};
}
static dc mul(dc a, dc b) { return (dc){a.v * b.v, a.v * b.d + a.d * b.v}; }
static dc smul(hq_cplx s, dc a) { return (dc){s * a.v, s * a.d}; }
static dc neg(dc a) { return (dc){-a.v, -a.d}; }

/* U3(theta, phi, lambda) into m[4] */
static void u3d(dr th, dr ph, dr la, dc *m) {
    dr h = rs(th, 0.5);
    dc c = cosd(h), s = sind(h);
    m[0] = c;
    m[1] = neg(mul(expid(la), s));
    m[2] = mul(expid(ph), s);
    m[3] = mul(expid(radd(ph, la)), c);
}

/* controlled version of a 2x2 u: control = operand 0 (bit 0), target = operand 1 (bit 1) */
static void ctrl(const dc *u, dc *m) {
    for (int i = 0; i < 16; i++) m[i] = cst(0);
    m[0 * 4 + 0] = cst(1);
    m[2 * 4 + 2] = cst(1);
    /* rows/cols with bit0 = 1: index 1 (target 0) and 3 (target 1) */
    m[1 * 4 + 1] = u[0];
    m[1 * 4 + 3] = u[1];
    m[3 * 4 + 1] = u[2];
    m[3 * 4 + 3] = u[3];
}

static void fixed1(dc *m, hq_cplx a, hq_cplx b, hq_cplx c, hq_cplx d) {
    m[0] = cst(a);
    m[1] = cst(b);
    m[2] = cst(c);
    m[3] = cst(d);
}

/* Fill m with the dual matrix of gate g, differentiating with respect to params[k]
 * (k = -1: no derivative). */
static void gate_dual(hq_gate g, const double *params, int k, dc *m) {
    dr p[HQ_GATE_MAX_PARAMS];
    const hq_gate_info *gi = &gate_table[g];
    for (int i = 0; i < gi->np; i++) p[i] = (dr){params[i], i == k ? 1.0 : 0.0};
    const double r2 = M_SQRT1_2;
    const dr zero = {0, 0};
    dc u[4];
    switch (g) {
    case HQ_GATE_ID: fixed1(m, 1, 0, 0, 1); break;
    case HQ_GATE_X: fixed1(m, 0, 1, 1, 0); break;
    case HQ_GATE_Y: fixed1(m, 0, -I, I, 0); break;
    case HQ_GATE_Z: fixed1(m, 1, 0, 0, -1); break;
    case HQ_GATE_H: fixed1(m, r2, r2, r2, -r2); break;
    case HQ_GATE_S: fixed1(m, 1, 0, 0, I); break;
    case HQ_GATE_SDG: fixed1(m, 1, 0, 0, -I); break;
    case HQ_GATE_T: fixed1(m, 1, 0, 0, r2 + I * r2); break;
    case HQ_GATE_TDG: fixed1(m, 1, 0, 0, r2 - I * r2); break;
    case HQ_GATE_SX: fixed1(m, 0.5 + 0.5 * I, 0.5 - 0.5 * I, 0.5 - 0.5 * I, 0.5 + 0.5 * I); break;
    case HQ_GATE_SXDG: fixed1(m, 0.5 - 0.5 * I, 0.5 + 0.5 * I, 0.5 + 0.5 * I, 0.5 - 0.5 * I); break;
    case HQ_GATE_RX: {
        dr h = rs(p[0], 0.5);
        m[0] = m[3] = cosd(h);
        m[1] = m[2] = smul(-I, sind(h));
        break;
    }
    case HQ_GATE_RY: {
        dr h = rs(p[0], 0.5);
        m[0] = m[3] = cosd(h);
        m[1] = neg(sind(h));
        m[2] = sind(h);
        break;
    }
    case HQ_GATE_RZ:
        m[0] = expid(rs(p[0], -0.5));
        m[1] = m[2] = cst(0);
        m[3] = expid(rs(p[0], 0.5));
        break;
    case HQ_GATE_P:
    case HQ_GATE_U1:
        m[0] = cst(1);
        m[1] = m[2] = cst(0);
        m[3] = expid(p[0]);
        break;
    case HQ_GATE_U2: u3d((dr){M_PI / 2, 0}, p[0], p[1], m); break;
    case HQ_GATE_U3:
    case HQ_GATE_U: u3d(p[0], p[1], p[2], m); break;
    case HQ_GATE_GPI: {
        dr a = rs(p[0], 2 * M_PI);
        m[0] = m[3] = cst(0);
        m[1] = expid(rs(a, -1));
        m[2] = expid(a);
        break;
    }
    case HQ_GATE_GPI2: {
        dr a = rs(p[0], 2 * M_PI);
        m[0] = m[3] = cst(r2);
        m[1] = smul(-I * r2, expid(rs(a, -1)));
        m[2] = smul(-I * r2, expid(a));
        break;
    }
    case HQ_GATE_CX: fixed1(u, 0, 1, 1, 0), ctrl(u, m); break;
    case HQ_GATE_CY: fixed1(u, 0, -I, I, 0), ctrl(u, m); break;
    case HQ_GATE_CZ: fixed1(u, 1, 0, 0, -1), ctrl(u, m); break;
    case HQ_GATE_CH: fixed1(u, r2, r2, r2, -r2), ctrl(u, m); break;
    case HQ_GATE_CSX:
        fixed1(u, 0.5 + 0.5 * I, 0.5 - 0.5 * I, 0.5 - 0.5 * I, 0.5 + 0.5 * I);
        ctrl(u, m);
        break;
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
        u[0] = cst(1), u[1] = u[2] = cst(0), u[3] = expid(p[0]);
        ctrl(u, m);
        break;
    case HQ_GATE_CRX: {
        dr h = rs(p[0], 0.5);
        u[0] = u[3] = cosd(h);
        u[1] = u[2] = smul(-I, sind(h));
        ctrl(u, m);
        break;
    }
    case HQ_GATE_CRY: {
        dr h = rs(p[0], 0.5);
        u[0] = u[3] = cosd(h);
        u[1] = neg(sind(h));
        u[2] = sind(h);
        ctrl(u, m);
        break;
    }
    case HQ_GATE_CRZ:
        u[0] = expid(rs(p[0], -0.5));
        u[1] = u[2] = cst(0);
        u[3] = expid(rs(p[0], 0.5));
        ctrl(u, m);
        break;
    case HQ_GATE_CU3: u3d(p[0], p[1], p[2], u), ctrl(u, m); break;
    case HQ_GATE_CU: {
        u3d(p[0], p[1], p[2], u);
        dc ph = expid(p[3]);
        for (int i = 0; i < 4; i++) u[i] = mul(ph, u[i]);
        ctrl(u, m);
        break;
    }
    case HQ_GATE_SWAP:
    case HQ_GATE_ISWAP: {
        for (int i = 0; i < 16; i++) m[i] = cst(0);
        hq_cplx off = g == HQ_GATE_SWAP ? 1 : I;
        m[0] = m[15] = cst(1);
        m[1 * 4 + 2] = m[2 * 4 + 1] = cst(off);
        break;
    }
    case HQ_GATE_ECR: {
        /* (IX - XY)/sqrt2 with operand 0 the first QASM argument (Qiskit's ECR) */
        static const hq_cplx e[16] = {0, 1, 0, I, 1, 0, -I, 0, 0, I, 0, 1, -I, 0, 1, 0};
        for (int i = 0; i < 16; i++) m[i] = cst(e[i] * r2);
        break;
    }
    case HQ_GATE_RXX:
    case HQ_GATE_RYY: {
        dr h = rs(p[0], 0.5);
        dc c = cosd(h), s = sind(h);
        for (int i = 0; i < 16; i++) m[i] = cst(0);
        m[0] = m[5] = m[10] = m[15] = c;
        m[1 * 4 + 2] = m[2 * 4 + 1] = smul(-I, s);
        m[0 * 4 + 3] = m[3 * 4 + 0] = smul(g == HQ_GATE_RXX ? -I : I, s);
        break;
    }
    case HQ_GATE_RZZ: {
        for (int i = 0; i < 16; i++) m[i] = cst(0);
        dc a = expid(rs(p[0], -0.5)), b = expid(rs(p[0], 0.5));
        m[0] = m[15] = a;
        m[5] = m[10] = b;
        break;
    }
    case HQ_GATE_MS: {
        /* exp(-i pi theta sigma(phi0) x sigma(phi1)), sigma(phi) = cos(2 pi phi) X + sin(2 pi phi)
         * Y, phi0 on operand 0 */
        dr a = rs(p[0], 2 * M_PI), b = rs(p[1], 2 * M_PI), t = rs(p[2], M_PI);
        dc c = cosd(t), s = sind(t);
        for (int i = 0; i < 16; i++) m[i] = cst(0);
        m[0] = m[5] = m[10] = m[15] = c;
        m[0 * 4 + 3] = smul(-I, mul(expid(rs(radd(a, b), -1)), s));
        m[1 * 4 + 2] = smul(-I, mul(expid(rsub(a, b)), s));
        m[2 * 4 + 1] = smul(-I, mul(expid(rs(rsub(a, b), -1)), s));
        m[3 * 4 + 0] = smul(-I, mul(expid(radd(a, b)), s));
        break;
    }
    case HQ_GATE_CCX:
    case HQ_GATE_CSWAP: {
        for (int i = 0; i < 64; i++) m[i] = cst(0);
        for (int col = 0; col < 8; col++) {
            int row = col;
            if (g == HQ_GATE_CCX && (col & 3) == 3) row = col ^ 4;
            if (g == HQ_GATE_CSWAP && (col & 1) && (((col >> 1) ^ (col >> 2)) & 1)) row = col ^ 6;
            m[row * 8 + col] = cst(1);
        }
        break;
    }
    default: break;
    }
    (void)zero;
}

hq_status hq_gate_matrix(hq_gate g, const double *params, hq_cplx *m) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_gate_matrix: gate %d has no matrix", (int)g);
    dc dm[64];
    gate_dual(g, params, -1, dm);
    int dim = 1 << gi->nq;
    for (int i = 0; i < dim * dim; i++) m[i] = dm[i].v;
    return HQ_OK;
}

hq_status hq_gate_matrix_deriv(hq_gate g, const double *params, int k, hq_cplx *out) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_gate_matrix_deriv: gate %d has no matrix",
                        (int)g);
    if (k < 0 || k >= gi->np)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_gate_matrix_deriv: parameter %d out of range [0, %d) for '%s'", k,
                        gi->np, gi->name);
    dc dm[64];
    gate_dual(g, params, k, dm);
    int dim = 1 << gi->nq;
    for (int i = 0; i < dim * dim; i++) out[i] = dm[i].d;
    return HQ_OK;
}
