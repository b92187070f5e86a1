/*
 * tests/test_mitigation.c — readout-error mitigation, gate inverses, unitary folding,
 * zero-noise extrapolation (backends/mitigation.h) and distribution metrics
 * (backends/distance.h).
 *
 * References: hand-computed 1- and 2-qubit cases, matrix adjoints of the gate table, the
 * statevector simulator (exact ideal values) and the density-matrix simulator with known
 * noise models (exact noisy distributions), KKT conditions of the constrained least
 * squares, and a second implementation of each metric (dense vs sparse counts).
 */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/distance.h"
#include "backends/mitigation.h"
#include "backends/statevector.h"
#include "core/rng.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================== */

/* Full (2^nq)^2 matrix of gate g acting on operands `operand` (indices into 0..nq-1). */
static void embed(hq_gate g, const double *params, const int8_t *operand, int nq, hq_cplx *full) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    int d = 1 << nq, gd = 1 << gi->nq;
    hq_cplx m[64];
    hq_gate_matrix(g, params, m);
    int opmask = 0;
    for (int k = 0; k < gi->nq; k++) opmask |= 1 << operand[k];
    for (int r = 0; r < d; r++)
        for (int c = 0; c < d; c++) {
            full[r * d + c] = 0;
            if ((r & ~opmask) != (c & ~opmask)) continue;
            int sr = 0, sc = 0;
            for (int k = 0; k < gi->nq; k++) {
                sr |= ((r >> operand[k]) & 1) << k;
                sc |= ((c >> operand[k]) & 1) << k;
            }
            full[r * d + c] = m[sr * gd + sc];
        }
}

static void matmul(const hq_cplx *a, const hq_cplx *b, int d, hq_cplx *out) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            hq_cplx s = 0;
            for (int k = 0; k < d; k++) s += a[i * d + k] * b[k * d + j];
            out[i * d + j] = s;
        }
}

/* max |a - phase * b| with the phase that best aligns them (phase = 1 if !up_to_phase). */
static double mat_diff(const hq_cplx *a, const hq_cplx *b, int d, bool up_to_phase) {
    hq_cplx ph = 1;
    if (up_to_phase) {
        hq_cplx s = 0;
        for (int i = 0; i < d * d; i++) s += conj(b[i]) * a[i];
        ph = cabs(s) > 0 ? s / cabs(s) : 1;
    }
    double mx = 0;
    for (int i = 0; i < d * d; i++) mx = fmax(mx, cabs(a[i] - ph * b[i]));
    return mx;
}

/* <Z_S> of a dense distribution over 2^k outcomes. */
static double dense_z(const double *p, int k, uint64_t mask) {
    double s = 0;
    for (int64_t i = 0; i < ((int64_t)1 << k); i++)
        s += (__builtin_popcountll((uint64_t)i & mask) & 1) ? -p[i] : p[i];
    return s;
}

static void dist_to_dense(const hq_dm_dist *d, double *p, int k) {
    for (int64_t i = 0; i < ((int64_t)1 << k); i++) p[i] = 0;
    for (int64_t i = 0; i < d->n; i++) p[d->outcome[i]] = d->prob[i];
}

/* Exact noisy distribution (dense, 2^n) of a measurement-free circuit on the DM. */
static hq_status dm_probs(const hq_circuit *c, const hq_noise_model *m, double *p) {
    hq_dm_dist d;
    hq_status st = hq_dm_run_probs(c, NULL, m, NULL, &d);
    if (st) return st;
    dist_to_dense(&d, p, d.n_bits);
    hq_dm_dist_free(&d);
    return HQ_OK;
}

static hq_status sv_probs(const hq_circuit *c, double *p) {
    hq_sv *sv;
    hq_status st = hq_sv_simulate(c, NULL, &sv);
    if (st) return st;
    st = hq_sv_probabilities(sv, p);
    hq_sv_free(sv);
    return st;
}

/* A random measurement-free circuit on n qubits from the gates in `pool` (constants). */
static hq_circuit *random_circuit(int n, int n_gates, const hq_gate *pool, int n_pool,
                                  uint64_t seed) {
    hq_circuit *c;
    if (hq_circuit_create(&c) || hq_circuit_add_qreg(c, "q", n, NULL)) return NULL;
    hq_rng r;
    hq_rng_init(&r, seed, 7, 0);
    for (int i = 0; i < n_gates; i++) {
        hq_gate g = pool[hq_rng_below(&r, (uint64_t)n_pool)];
        const hq_gate_info *gi = hq_gate_get_info(g);
        int q[3], used = 0;
        while (used < gi->nq) {
            int x = (int)hq_rng_below(&r, (uint64_t)n), dup = 0;
            for (int j = 0; j < used; j++) dup |= q[j] == x;
            if (!dup) q[used++] = x;
        }
        double p[4];
        for (int j = 0; j < gi->np; j++) p[j] = (hq_rng_uniform(&r) * 2 - 1) * M_PI;
        if (hq_circuit_add_gate(c, g, q, p)) {
            hq_circuit_free(c);
            return NULL;
        }
    }
    return c;
}

static bool all_unitary_gate(hq_gate g) { return hq_gate_get_info(g)->kind == HQ_KIND_UNITARY; }

/* ==== gate inverses ==================================================================== */

HQ_TEST(mitigation_gate_inverse_every_gate) {
    hq_rng r;
    hq_rng_init(&r, 11, 1, 0);
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        if (!all_unitary_gate((hq_gate)g)) continue;
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        for (int trial = 0; trial < 4; trial++) {
            double p[4];
            hq_angle a[4];
            for (int k = 0; k < gi->np; k++) {
                p[k] = (hq_rng_uniform(&r) * 2 - 1) * (gi->turns ? 1.0 : M_PI);
                a[k] = hq_angle_const(p[k]);
            }
            for (int isa = 0; isa < 2; isa++) {
                hq_gate_inv inv;
                HQ_REQUIRE_OK(hq_gate_inverse((hq_gate)g, a, isa ? HQ_INV_ISA : 0, &inv));
                HQ_CHECK(inv.n >= 1 && inv.n <= HQ_GATE_INV_MAX);
                int nq = gi->nq, d = 1 << nq;
                hq_cplx u[64], adj[64], prod[64], tmp[64], m[64];
                static const int8_t ident[3] = {0, 1, 2};
                embed((hq_gate)g, p, ident, nq, u);
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++) adj[i * d + j] = conj(u[j * d + i]);
                /* product of the sequence: later gates multiply from the left */
                for (int i = 0; i < d * d; i++) prod[i] = (i % (d + 1) == 0) ? 1 : 0;
                for (int k = 0; k < inv.n; k++) {
                    double ip[4];
                    const hq_gate_info *ki = hq_gate_get_info(inv.op[k].gate);
                    for (int j = 0; j < ki->np; j++) {
                        HQ_CHECK_EQ_INT(inv.op[k].param[j].n, 0);
                        ip[j] = inv.op[k].param[j].c;
                    }
                    embed(inv.op[k].gate, ip, inv.op[k].operand, nq, m);
                    matmul(m, prod, d, tmp);
                    memcpy(prod, tmp, sizeof(hq_cplx) * (size_t)(d * d));
                }
                /* exact adjoint (global phase included) without ISA; up to phase with ISA */
                double diff = mat_diff(prod, adj, d, isa == 1);
                HQ_CHECKF(diff < 1e-12, "gate %s (isa %d): |inverse - U^dag| = %.3g", gi->name, isa,
                          diff);
                if (isa && g == HQ_GATE_SX) {
                    for (int k = 0; k < inv.n; k++)
                        HQ_CHECK(inv.op[k].gate == HQ_GATE_RZ || inv.op[k].gate == HQ_GATE_SX);
                }
                if (g == HQ_GATE_MS) HQ_CHECK_NEAR(inv.op[0].param[2].c, p[2], 0);
            }
        }
    }
}

HQ_TEST(mitigation_gate_inverse_symbolic_and_errors) {
    /* an affine angle is negated term by term */
    hq_angle a = hq_angle_sym(3, 0.5, 1.25);
    hq_gate_inv inv;
    HQ_REQUIRE_OK(hq_gate_inverse(HQ_GATE_RY, &a, 0, &inv));
    HQ_CHECK_EQ_INT(inv.n, 1);
    HQ_CHECK_NEAR(inv.op[0].param[0].c, -1.25, 0);
    HQ_CHECK_EQ_INT(inv.op[0].param[0].n, 1);
    HQ_CHECK_EQ_INT(inv.op[0].param[0].sym[0], 3);
    HQ_CHECK_NEAR(inv.op[0].param[0].coef[0], -0.5, 0);
    HQ_CHECK_FAILS(hq_gate_inverse(HQ_GATE_MEASURE, NULL, 0, &inv), HQ_ERR_INVALID_ARG,
                   "not a unitary");
    HQ_CHECK_FAILS(hq_gate_inverse(HQ_GATE_BARRIER, NULL, 0, &inv), HQ_ERR_INVALID_ARG,
                   "no inverse");
    HQ_CHECK_FAILS(hq_gate_inverse((hq_gate)999, NULL, 0, &inv), HQ_ERR_INVALID_ARG,
                   "out of range");
    HQ_CHECK_FAILS(hq_gate_inverse(HQ_GATE_RX, NULL, 0, &inv), HQ_ERR_INVALID_ARG, "parameter");
    HQ_CHECK_FAILS(hq_gate_inverse(HQ_GATE_X, NULL, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
}

/* ==== folding ========================================================================== */

static const hq_gate every_gate[] = {
    HQ_GATE_ID,  HQ_GATE_X,   HQ_GATE_Y,   HQ_GATE_Z,    HQ_GATE_H,   HQ_GATE_S,    HQ_GATE_SDG,
    HQ_GATE_T,   HQ_GATE_TDG, HQ_GATE_SX,  HQ_GATE_SXDG, HQ_GATE_RX,  HQ_GATE_RY,   HQ_GATE_RZ,
    HQ_GATE_P,   HQ_GATE_U1,  HQ_GATE_U2,  HQ_GATE_U3,   HQ_GATE_U,   HQ_GATE_GPI,  HQ_GATE_GPI2,
    HQ_GATE_CX,  HQ_GATE_CY,  HQ_GATE_CZ,  HQ_GATE_CH,   HQ_GATE_CSX, HQ_GATE_SWAP, HQ_GATE_ISWAP,
    HQ_GATE_ECR, HQ_GATE_CP,  HQ_GATE_CU1, HQ_GATE_CRX,  HQ_GATE_CRY, HQ_GATE_CRZ,  HQ_GATE_CU3,
    HQ_GATE_CU,  HQ_GATE_RXX, HQ_GATE_RYY, HQ_GATE_RZZ,  HQ_GATE_MS,  HQ_GATE_CCX,  HQ_GATE_CSWAP,
};

/* Folding never changes the ideal state: amplitudes equal within 1e-10. */
HQ_TEST(mitigation_fold_preserves_state) {
    for (int seed = 0; seed < 6; seed++) {
        hq_circuit *c =
            random_circuit(3, 30, every_gate, (int)HQ_ARRAY_LEN(every_gate), (uint64_t)seed);
        HQ_REQUIRE(c);
        hq_sv *ref;
        HQ_REQUIRE_OK(hq_sv_simulate(c, NULL, &ref));
        for (int method = 0; method < 2; method++)
            for (unsigned flags = 0; flags < 4; flags++) {
                hq_circuit *f[3];
                HQ_REQUIRE_OK(
                    hq_zne_fold_scales(c, (int[]){1, 3, 5}, 3, (hq_fold_method)method, flags, f));
                for (int s = 0; s < 3; s++) {
                    hq_sv *sv;
                    HQ_REQUIRE_OK(hq_sv_simulate(f[s], NULL, &sv));
                    hq_cplx *a = hq_sv_amps(ref), *b = hq_sv_amps(sv);
                    /* ISA inverses differ by a global phase: compare up to it */
                    hq_cplx ov = 0;
                    for (int i = 0; i < 8; i++) ov += conj(a[i]) * b[i];
                    HQ_CHECKF(fabs(cabs(ov) - 1) < 1e-10, "seed %d method %d flags %u scale %d",
                              seed, method, flags, 2 * s + 1);
                    if (!(flags & HQ_FOLD_ISA)) {
                        double mx = 0;
                        for (int i = 0; i < 8; i++) mx = fmax(mx, cabs(a[i] - b[i]));
                        HQ_CHECK(mx < 1e-10);
                    }
                    hq_sv_free(sv);
                    hq_circuit_free(f[s]);
                }
            }
        hq_sv_free(ref);
        hq_circuit_free(c);
    }
}

/* Structure: gate counts scale exactly; measurements stay at the end, once; barriers. */
HQ_TEST(mitigation_fold_structure) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 2, NULL));
    int x;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "x", HQ_SYM_INPUT, &x));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){1}, (hq_angle[]){hq_angle_sym(x, 2, 0.1)}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    for (int method = 0; method < 2; method++) {
        hq_circuit *f;
        HQ_REQUIRE_OK(hq_zne_fold(c, 5, (hq_fold_method)method, 0, &f));
        HQ_CHECK_EQ_INT(hq_circuit_n_ops(f), 3 * 5 + 2);
        HQ_CHECK_EQ_INT(hq_circuit_count_gate(f, HQ_GATE_CX), 5);
        HQ_CHECK_EQ_INT(hq_circuit_count_gate(f, HQ_GATE_MEASURE), 2);
        HQ_CHECK_EQ_INT(hq_circuit_n_symbols(f), 1);
        const hq_op *ops = hq_circuit_ops(f);
        HQ_CHECK(ops[15].gate == HQ_GATE_MEASURE && ops[16].gate == HQ_GATE_MEASURE);
        if (method == HQ_FOLD_GLOBAL) {
            /* U U^dag U ...: op 3 is cx (the inverse of the last gate), op 4 ry(-(2x+0.1)) */
            HQ_CHECK_EQ_INT(ops[3].gate, HQ_GATE_CX);
            hq_angle a = hq_circuit_angle(f, ops[4].p[0]);
            HQ_CHECK(ops[4].gate == HQ_GATE_RY && a.n == 1 && a.coef[0] == -2 && a.c == -0.1);
        } else {
            HQ_CHECK(ops[0].gate == HQ_GATE_H && ops[4].gate == HQ_GATE_H &&
                     ops[5].gate == HQ_GATE_RY);
        }
        hq_circuit_free(f);
        HQ_REQUIRE_OK(hq_zne_fold(c, 3, (hq_fold_method)method, HQ_FOLD_BARRIERS, &f));
        HQ_CHECK_EQ_INT(hq_circuit_count_gate(f, HQ_GATE_BARRIER), method == 0 ? 3 : 6);
        hq_circuit_free(f);
    }
    /* folding a template then binding equals binding then folding */
    hq_circuit *ft, *bt, *bf, *fb;
    double xv = 0.37;
    HQ_REQUIRE_OK(hq_zne_fold(c, 3, HQ_FOLD_GLOBAL, 0, &ft));
    HQ_REQUIRE_OK(hq_circuit_bind(ft, &xv, &bf));
    HQ_REQUIRE_OK(hq_circuit_bind(c, &xv, &bt));
    HQ_REQUIRE_OK(hq_zne_fold(bt, 3, HQ_FOLD_GLOBAL, 0, &fb));
    hq_sbuf s1 = HQ_SBUF_INIT, s2 = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_circuit_canonical(bf, &s1));
    HQ_CHECK_OK(hq_circuit_canonical(fb, &s2));
    HQ_CHECK_STR(s1.p, s2.p);
    hq_sbuf_free(&s1);
    hq_sbuf_free(&s2);
    hq_circuit_free(ft);
    hq_circuit_free(bt);
    hq_circuit_free(bf);
    hq_circuit_free(fb);
    hq_circuit_free(c);
}

HQ_TEST(mitigation_fold_errors) {
    hq_circuit *c, *f = (hq_circuit *)1;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_FAILS(hq_zne_fold(c, 2, HQ_FOLD_GLOBAL, 0, &f), HQ_ERR_INVALID_ARG, "not an odd");
    HQ_CHECK(f == NULL);
    HQ_CHECK_FAILS(hq_zne_fold(c, 0, HQ_FOLD_GLOBAL, 0, &f), HQ_ERR_INVALID_ARG, "scale factor 0");
    HQ_CHECK_FAILS(hq_zne_fold(c, 103, HQ_FOLD_LOCAL, 0, &f), HQ_ERR_INVALID_ARG, "[1, 101]");
    HQ_CHECK_FAILS(hq_zne_fold(c, 3, (hq_fold_method)7, 0, &f), HQ_ERR_INVALID_ARG, "method 7");
    HQ_CHECK_FAILS(hq_zne_fold(c, 3, HQ_FOLD_LOCAL, 0x10, &f), HQ_ERR_INVALID_ARG, "flags");
    HQ_CHECK_FAILS(hq_zne_fold(NULL, 3, HQ_FOLD_LOCAL, 0, &f), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_zne_fold(c, 3, HQ_FOLD_LOCAL, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_circuit *fs[3];
    HQ_CHECK_FAILS(hq_zne_fold_scales(c, (int[]){1, 5, 3}, 3, HQ_FOLD_GLOBAL, 0, fs),
                   HQ_ERR_INVALID_ARG, "strictly increasing");
    HQ_CHECK_FAILS(hq_zne_fold_scales(c, (int[]){1, 3, 4}, 3, HQ_FOLD_GLOBAL, 0, fs),
                   HQ_ERR_INVALID_ARG, "not an odd");
    HQ_CHECK(fs[0] == NULL && fs[1] == NULL && fs[2] == NULL);
    HQ_CHECK_FAILS(hq_zne_fold_scales(c, (int[]){1}, 0, HQ_FOLD_GLOBAL, 0, fs), HQ_ERR_INVALID_ARG,
                   "n = 0");
    /* dynamic circuits: global folding refuses, local folding works */
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL));
    HQ_CHECK_FAILS(hq_zne_fold(c, 3, HQ_FOLD_GLOBAL, 0, &f), HQ_ERR_UNSUPPORTED,
                   "after it was measured");
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_CHECK_FAILS(hq_zne_fold(c, 3, HQ_FOLD_GLOBAL, 0, &f), HQ_ERR_UNSUPPORTED,
                   "conditional operation");
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 1));
    HQ_REQUIRE_OK(hq_zne_fold(c, 3, HQ_FOLD_LOCAL, 0, &f));
    /* h h h, measure, x x x (each conditional), reset */
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(f), 8);
    const hq_op *ops = hq_circuit_ops(f);
    for (int i = 4; i < 7; i++) HQ_CHECK(ops[i].cond_creg == 0 && ops[i].cond_val == 1);
    hq_circuit_free(f);
    hq_circuit_free(c);
}

/* ==== extrapolation ==================================================================== */

HQ_TEST(mitigation_zne_extrapolate_known) {
    const double s[3] = {1, 3, 5};
    /* Richardson through a quadratic is exact: y = 2 - 0.3 s + 0.01 s^2 -> 2 */
    double y[3], v, sig, g[3];
    for (int i = 0; i < 3; i++) y[i] = 2 - 0.3 * s[i] + 0.01 * s[i] * s[i];
    HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, s, y, NULL, 3, &v, &sig, g));
    HQ_CHECK_NEAR(v, 2, 1e-14);
    HQ_CHECK_NEAR(sig, 0, 0);
    /* hand-computed coefficients for (1, 3, 5): 15/8, -5/4, 3/8 */
    HQ_CHECK_NEAR(g[0], 15.0 / 8, 1e-15);
    HQ_CHECK_NEAR(g[1], -5.0 / 4, 1e-15);
    HQ_CHECK_NEAR(g[2], 3.0 / 8, 1e-15);
    /* points (1, 1), (3, 0.8), (5, 0.5) with sigma 0.01 each:
     * Richardson 15/8 - 5/4 * 0.8 + 3/8 * 0.5 = 1.0625, sigma 0.01 sqrt(334)/8;
     * least-squares line b = -1/8, a = 2.3/3 + 3/8 = 1.1416666..., gamma = 1/3 - 3(s-3)/8 */
    const double y2[3] = {1, 0.8, 0.5}, e2[3] = {0.01, 0.01, 0.01};
    HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, s, y2, e2, 3, &v, &sig, NULL));
    HQ_CHECK_NEAR(v, 1.0625, 1e-14);
    HQ_CHECK_NEAR(sig, 0.01 * sqrt(334.0) / 8, 1e-15);
    HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_LINEAR, s, y2, e2, 3, &v, &sig, g));
    HQ_CHECK_NEAR(v, 2.3 / 3 + 0.375, 1e-14);
    double ga = 1.0 / 3 + 0.75, gb = 1.0 / 3, gc = 1.0 / 3 - 0.75;
    HQ_CHECK_NEAR(g[0], ga, 1e-15);
    HQ_CHECK_NEAR(g[2], gc, 1e-15);
    HQ_CHECK_NEAR(sig, 0.01 * sqrt(ga * ga + gb * gb + gc * gc), 1e-15);
    /* two points: both methods are the line through them */
    HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, s, y2, NULL, 2, &v, NULL, NULL));
    HQ_CHECK_NEAR(v, 1.1, 1e-14);
    HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_LINEAR, s, y2, NULL, 2, &v, NULL, NULL));
    HQ_CHECK_NEAR(v, 1.1, 1e-14);
}

HQ_TEST(mitigation_zne_extrapolate_errors) {
    double v;
    const double s[3] = {1, 3, 5}, y[3] = {1, 0.9, 0.8};
    HQ_CHECK_FAILS(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, s, y, NULL, 1, &v, NULL, NULL),
                   HQ_ERR_INVALID_ARG, "n = 1");
    HQ_CHECK_FAILS(
        hq_zne_extrapolate(HQ_ZNE_RICHARDSON, (double[]){1, 5, 3}, y, NULL, 3, &v, NULL, NULL),
        HQ_ERR_INVALID_ARG, "strictly increasing");
    HQ_CHECK_FAILS(
        hq_zne_extrapolate(HQ_ZNE_LINEAR, (double[]){1, 1, 3}, y, NULL, 3, &v, NULL, NULL),
        HQ_ERR_INVALID_ARG, "strictly increasing");
    HQ_CHECK_FAILS(
        hq_zne_extrapolate(HQ_ZNE_LINEAR, (double[]){0, 1, 3}, y, NULL, 3, &v, NULL, NULL),
        HQ_ERR_INVALID_ARG, "> 0");
    HQ_CHECK_FAILS(
        hq_zne_extrapolate(HQ_ZNE_LINEAR, s, (double[]){1, NAN, 0}, NULL, 3, &v, NULL, NULL),
        HQ_ERR_INVALID_ARG, "values[1]");
    HQ_CHECK_FAILS(
        hq_zne_extrapolate(HQ_ZNE_LINEAR, s, y, (double[]){0.1, -1, 0}, 3, &v, NULL, NULL),
        HQ_ERR_INVALID_ARG, "sigmas[1]");
    HQ_CHECK_FAILS(hq_zne_extrapolate((hq_zne_method)5, s, y, NULL, 3, &v, NULL, NULL),
                   HQ_ERR_INVALID_ARG, "method 5");
    HQ_CHECK_FAILS(hq_zne_extrapolate(HQ_ZNE_LINEAR, s, y, NULL, 3, NULL, NULL, NULL),
                   HQ_ERR_INVALID_ARG, "NULL");
}

/* Circuits for the noisy tests: 3 qubits, a few layers of rotations and CX. */
static hq_circuit *noisy_test_circuit(int variant) {
    hq_circuit *c;
    if (hq_circuit_create(&c) || hq_circuit_add_qreg(c, "q", 3, NULL)) return NULL;
    hq_rng r;
    hq_rng_init(&r, 100 + (uint64_t)variant, 3, 0);
    for (int layer = 0; layer < 2; layer++) {
        for (int q = 0; q < 3; q++) {
            double t = 0.2 + 1.2 * hq_rng_uniform(&r);
            hq_circuit_add_gate(c, HQ_GATE_RY, &q, &t);
        }
        hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
        hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL);
    }
    return c;
}

/* ZNE on a depolarizing model: Richardson (1, 3, 5) brings <Z_i> at least 2x closer to
 * the ideal value than the unmitigated one, for global and for local folding. */
HQ_TEST(mitigation_zne_depolarizing) {
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(0, &m));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 1, 0.004, 0));
    HQ_REQUIRE_OK(hq_noise_set_default_gate(m, 2, 0.03, 0));
    for (int method = 0; method < 2; method++) {
        double err_raw = 0, err_rich = 0, err_lin = 0;
        for (int v = 0; v < 5; v++) {
            hq_circuit *c = noisy_test_circuit(v), *f[3];
            HQ_REQUIRE(c);
            double ideal[8], noisy[3][8];
            HQ_REQUIRE_OK(sv_probs(c, ideal));
            HQ_REQUIRE_OK(hq_zne_fold_scales(c, (int[]){1, 3, 5}, 3, (hq_fold_method)method, 0, f));
            for (int s = 0; s < 3; s++) {
                HQ_REQUIRE_OK(dm_probs(f[s], m, noisy[s]));
                hq_circuit_free(f[s]);
            }
            for (int q = 0; q < 3; q++) {
                double z0 = dense_z(ideal, 3, 1u << q), zs[3], e, el;
                for (int s = 0; s < 3; s++) zs[s] = dense_z(noisy[s], 3, 1u << q);
                /* the noisy values decay with the scale */
                HQ_CHECK(fabs(zs[2]) <= fabs(zs[1]) + 1e-12 && fabs(zs[1]) <= fabs(zs[0]) + 1e-12);
                HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, (double[]){1, 3, 5}, zs, NULL,
                                                 3, &e, NULL, NULL));
                HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_LINEAR, (double[]){1, 3, 5}, zs, NULL, 3,
                                                 &el, NULL, NULL));
                err_raw += fabs(zs[0] - z0);
                err_rich += fabs(e - z0);
                err_lin += fabs(el - z0);
            }
            hq_circuit_free(c);
        }
        HQ_CHECKF(err_rich * 2 <= err_raw, "method %d: Richardson error %.4g vs raw %.4g", method,
                  err_rich, err_raw);
        HQ_CHECKF(err_lin < err_raw, "method %d: linear error %.4g vs raw %.4g", method, err_lin,
                  err_raw);
        HQ_CHECK(err_raw > 0.05); /* the noise is visible at all */
    }
    hq_noise_free(m);
}

/* ==== readout ========================================================================== */

HQ_TEST(mitigation_readout_known_1q_2q) {
    hq_readout_cal c1;
    HQ_REQUIRE_OK(hq_readout_cal_set(&c1, 1, (double[]){0.1}, (double[]){0.05}));
    /* true (0.7, 0.3) reads as (0.95*0.7 + 0.1*0.3, 0.05*0.7 + 0.9*0.3) = (0.695, 0.305) */
    double p[2] = {0.7, 0.3};
    HQ_REQUIRE_OK(hq_readout_apply_confusion(&c1, p, 1));
    HQ_CHECK_NEAR(p[0], 0.695, 1e-15);
    HQ_CHECK_NEAR(p[1], 0.305, 1e-15);
    HQ_REQUIRE_OK(hq_readout_apply_inverse(&c1, p, 1));
    HQ_CHECK_NEAR(p[0], 0.7, 1e-15);
    HQ_CHECK_NEAR(p[1], 0.3, 1e-15);
    double z;
    HQ_REQUIRE_OK(hq_readout_correct_z(&c1, 0, 0.39, &z)); /* (0.39 - 0.05) / 0.85 */
    HQ_CHECK_NEAR(z, 0.4, 1e-15);
    hq_counts k;
    hq_counts_init(&k, 1);
    hq_counts_add(&k, 0, 695);
    hq_counts_add(&k, 1, 305);
    double se;
    HQ_REQUIRE_OK(hq_readout_expect_z(&c1, &k, 1, &z, &se));
    HQ_CHECK_NEAR(z, 0.4, 1e-14);
    /* per-shot values w0 = (1 - 0.1 + 0.05)/0.85, w1 = -(1 + 0.1 - 0.05)/0.85 */
    double w0 = 0.95 / 0.85, w1 = -1.05 / 0.85;
    double var = (695 * w0 * w0 + 305 * w1 * w1 - 1000 * 0.4 * 0.4) / 999;
    HQ_CHECK_NEAR(se, sqrt(var / 1000), 1e-14);
    hq_counts_free(&k);

    /* Bell state through A1 (x) A0 with bit 0: p01 0.1, p10 0.05; bit 1: p01 0.2, p10 0:
     * r=00: 0.95*0.5 + 0.2*0.1*0.5 = 0.485; r=01: 0.05*0.5 + 0.2*0.9*0.5 = 0.115;
     * r=10: 0.8*0.1*0.5 = 0.04; r=11: 0.8*0.9*0.5 = 0.36 */
    hq_readout_cal c2;
    HQ_REQUIRE_OK(hq_readout_cal_set(&c2, 2, (double[]){0.1, 0.2}, (double[]){0.05, 0}));
    double b[4] = {0.5, 0, 0, 0.5};
    HQ_REQUIRE_OK(hq_readout_apply_confusion(&c2, b, 2));
    const double want[4] = {0.485, 0.115, 0.04, 0.36};
    for (int i = 0; i < 4; i++) HQ_CHECK_NEAR(b[i], want[i], 1e-15);
    double bn[4], bl[4];
    memcpy(bn, b, sizeof b);
    memcpy(bl, b, sizeof b);
    HQ_REQUIRE_OK(hq_readout_apply_inverse(&c2, b, 2));
    HQ_REQUIRE_OK(hq_readout_apply_nearest(&c2, bn, 2));
    HQ_REQUIRE_OK(hq_readout_apply_lsq(&c2, bl, 2));
    const double bell[4] = {0.5, 0, 0, 0.5};
    for (int i = 0; i < 4; i++) {
        HQ_CHECK_NEAR(b[i], bell[i], 1e-15);
        HQ_CHECK_NEAR(bn[i], bell[i], 1e-15);
        HQ_CHECK_NEAR(bl[i], bell[i], 1e-12);
    }

    /* inversion leaves the simplex: p01 = p10 = 0.1, read (0.95, 0.05) -> (1.0625, -0.0625);
     * nearest and least squares both give (1, 0) on one bit */
    hq_readout_cal c3;
    HQ_REQUIRE_OK(hq_readout_cal_set(&c3, 1, (double[]){0.1}, (double[]){0.1}));
    double q[2] = {0.95, 0.05}, qn[2] = {0.95, 0.05}, ql[2] = {0.95, 0.05};
    HQ_REQUIRE_OK(hq_readout_apply_inverse(&c3, q, 1));
    HQ_CHECK_NEAR(q[0], 1.0625, 1e-15);
    HQ_CHECK_NEAR(q[1], -0.0625, 1e-15);
    HQ_REQUIRE_OK(hq_readout_apply_nearest(&c3, qn, 1));
    HQ_REQUIRE_OK(hq_readout_apply_lsq(&c3, ql, 1));
    HQ_CHECK_NEAR(qn[0], 1, 1e-15);
    HQ_CHECK_NEAR(qn[1], 0, 0);
    HQ_CHECK_NEAR(ql[0], 1, 1e-15);
    HQ_CHECK_NEAR(ql[1], 0, 0);
}

/* f(x) = ||A x - p||^2 */
static double lsq_obj(const hq_readout_cal *c, const double *x, const double *p, int k) {
    int64_t d = (int64_t)1 << k;
    double ax[64], s = 0;
    memcpy(ax, x, sizeof(double) * (size_t)d);
    hq_readout_apply_confusion(c, ax, k);
    for (int64_t i = 0; i < d; i++) s += (ax[i] - p[i]) * (ax[i] - p[i]);
    return s;
}

/* Constrained least squares: a probability vector satisfying the KKT conditions of
 * min ||A x - p||^2 on the simplex, never worse than nearest or random feasible points. */
HQ_TEST(mitigation_readout_lsq_kkt) {
    hq_rng r;
    hq_rng_init(&r, 5, 5, 0);
    for (int trial = 0; trial < 20; trial++) {
        int k = 1 + trial % 4, d = 1 << k;
        double p01[4], p10[4];
        for (int j = 0; j < k; j++) {
            p01[j] = 0.02 + 0.25 * hq_rng_uniform(&r);
            p10[j] = 0.01 + 0.2 * hq_rng_uniform(&r);
        }
        hq_readout_cal c;
        HQ_REQUIRE_OK(hq_readout_cal_set(&c, k, p01, p10));
        /* a sparse true distribution, read through A, plus shot-like noise */
        double p[16] = {0}, s = 0;
        p[hq_rng_below(&r, (uint64_t)d)] += 0.8;
        p[hq_rng_below(&r, (uint64_t)d)] += 0.2;
        hq_readout_apply_confusion(&c, p, k);
        for (int i = 0; i < d; i++) p[i] = fmax(0, p[i] + 0.03 * (hq_rng_uniform(&r) - 0.5));
        for (int i = 0; i < d; i++) s += p[i];
        for (int i = 0; i < d; i++) p[i] /= s;
        double x[16], xn[16];
        memcpy(x, p, sizeof x);
        memcpy(xn, p, sizeof xn);
        HQ_REQUIRE_OK(hq_readout_apply_lsq(&c, x, k));
        HQ_REQUIRE_OK(hq_readout_apply_nearest(&c, xn, k));
        double sum = 0;
        for (int i = 0; i < d; i++) {
            HQ_CHECK(x[i] >= 0 && xn[i] >= 0);
            sum += x[i];
        }
        HQ_CHECK_NEAR(sum, 1, 1e-12);
        /* KKT: gradient g = 2 A^T (A x - p) equal (= mu) on the support, >= mu off it */
        double ax[16], g[16];
        memcpy(ax, x, sizeof ax);
        hq_readout_apply_confusion(&c, ax, k);
        for (int i = 0; i < d; i++) g[i] = 0;
        for (int i = 0; i < d; i++) {
            /* column i of A: A e_i */
            double e[16] = {0};
            e[i] = 1;
            hq_readout_apply_confusion(&c, e, k);
            for (int j = 0; j < d; j++) g[i] += 2 * e[j] * (ax[j] - p[j]);
        }
        double mu = INFINITY;
        for (int i = 0; i < d; i++)
            if (x[i] > 1e-9) mu = fmin(mu, g[i]);
        for (int i = 0; i < d; i++) {
            if (x[i] > 1e-9)
                HQ_CHECKF(fabs(g[i] - mu) < 1e-9, "trial %d: g %g mu %g", trial, g[i], mu);
            else
                HQ_CHECKF(g[i] >= mu - 1e-9, "trial %d: g %g < mu %g off support", trial, g[i], mu);
        }
        /* nearest = Euclidean projection of v = A^-1 p: x = max(v - theta, 0), one theta */
        double v[16], theta = NAN;
        memcpy(v, p, sizeof v);
        HQ_REQUIRE_OK(hq_readout_apply_inverse(&c, v, k));
        for (int i = 0; i < d; i++)
            if (xn[i] > 0) {
                if (isnan(theta)) theta = v[i] - xn[i];
                HQ_CHECK_NEAR(v[i] - xn[i], theta, 1e-12);
            }
        for (int i = 0; i < d; i++)
            if (xn[i] == 0) HQ_CHECK(v[i] <= theta + 1e-12);
        double f = lsq_obj(&c, x, p, k);
        HQ_CHECK(f <= lsq_obj(&c, xn, p, k) + 1e-15);
        for (int t = 0; t < 200; t++) {
            double y[16], ys = 0;
            for (int i = 0; i < d; i++) ys += (y[i] = -log(hq_rng_uniform(&r) + 1e-300));
            for (int i = 0; i < d; i++) y[i] /= ys;
            HQ_CHECK(f <= lsq_obj(&c, y, p, k) + 1e-15);
        }
    }
}

/* A readout-only noise model: calibration circuits run on the density-matrix simulator
 * give the model's confusion exactly, and inversion recovers the ideal distribution. */
HQ_TEST(mitigation_readout_exact_recovery) {
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(3, &m));
    const double p01[3] = {0.08, 0.03, 0.12}, p10[3] = {0.02, 0.05, 0.07};
    for (int q = 0; q < 3; q++) {
        hq_noise_qubit v = hq_noise_qubit_unset();
        v.prob_meas0_prep1 = p01[q];
        v.prob_meas1_prep0 = p10[q];
        HQ_REQUIRE_OK(hq_noise_set_qubit(m, q, &v));
    }
    hq_circuit *cal[2];
    HQ_REQUIRE_OK(hq_readout_calibration_circuits(3, (int[]){0, 1, 2}, 3, cal));
    hq_dm_dist d0, d1;
    HQ_REQUIRE_OK(hq_dm_run_probs(cal[0], NULL, m, NULL, &d0));
    HQ_REQUIRE_OK(hq_dm_run_probs(cal[1], NULL, m, NULL, &d1));
    double P0[8], P1[8];
    dist_to_dense(&d0, P0, 3);
    dist_to_dense(&d1, P1, 3);
    hq_readout_cal rc, rn;
    HQ_REQUIRE_OK(hq_readout_fit_probs(P0, P1, 3, &rc));
    HQ_REQUIRE_OK(hq_readout_cal_from_noise(m, NULL, 3, &rn));
    for (int q = 0; q < 3; q++) {
        HQ_CHECK_NEAR(rc.p01[q], p01[q], 1e-14);
        HQ_CHECK_NEAR(rc.p10[q], p10[q], 1e-14);
        HQ_CHECK_NEAR(rn.p01[q], p01[q], 0);
        HQ_CHECK_NEAR(rn.p10[q], p10[q], 0);
    }
    for (int v = 0; v < 4; v++) {
        hq_circuit *c = noisy_test_circuit(v);
        HQ_REQUIRE(c);
        double ideal[8], noisy[8], x[8], xn[8], xl[8];
        HQ_REQUIRE_OK(sv_probs(c, ideal));
        HQ_REQUIRE_OK(dm_probs(c, m, noisy));
        memcpy(x, noisy, sizeof x);
        memcpy(xn, noisy, sizeof x);
        memcpy(xl, noisy, sizeof x);
        HQ_REQUIRE_OK(hq_readout_apply_inverse(&rc, x, 3));
        HQ_REQUIRE_OK(hq_readout_apply_nearest(&rc, xn, 3));
        HQ_REQUIRE_OK(hq_readout_apply_lsq(&rc, xl, 3));
        double tvd_raw, tvd;
        HQ_REQUIRE_OK(hq_tvd(noisy, ideal, 8, &tvd_raw));
        HQ_CHECK(tvd_raw > 0.02);
        for (int i = 0; i < 8; i++) {
            HQ_CHECK_NEAR(x[i], ideal[i], 1e-12);
            HQ_CHECK_NEAR(xn[i], ideal[i], 1e-12);
            HQ_CHECK_NEAR(xl[i], ideal[i], 1e-10);
        }
        HQ_REQUIRE_OK(hq_tvd(xl, ideal, 8, &tvd));
        HQ_CHECK(tvd < 1e-9);
        hq_circuit_free(c);
    }
    hq_dm_dist_free(&d0);
    hq_dm_dist_free(&d1);
    hq_circuit_free(cal[0]);
    hq_circuit_free(cal[1]);
    hq_noise_free(m);
}

/* Device noise (ibmq_manila calibration: readout, gate errors, T1/T2), calibration by
 * sampling at fixed seeds: readout mitigation of <Z_i> cuts the error at least 2x, and
 * readout mitigation + ZNE does better than readout mitigation alone. */
HQ_TEST(mitigation_device_noise_reduction) {
    hq_device *dev;
    HQ_REQUIRE_OK(hq_device_load_ibm(hq_test_shared("data/ibm_backends/conf_manila.json"),
                                     hq_test_shared("data/ibm_backends/props_manila.json"), &dev));
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_from_device(dev, &m));
    hq_circuit *cal[2];
    HQ_REQUIRE_OK(hq_readout_calibration_circuits(3, (int[]){0, 1, 2}, 3, cal));
    hq_counts k0, k1;
    const int64_t shots = 20000;
    HQ_REQUIRE_OK(hq_dm_run(cal[0], NULL, m, NULL, shots, 42, 0, &k0));
    HQ_REQUIRE_OK(hq_dm_run(cal[1], NULL, m, NULL, shots, 42, 1, &k1));
    hq_readout_cal rc;
    HQ_REQUIRE_OK(hq_readout_fit(&k0, &k1, &rc));
    HQ_CHECK_EQ_INT(rc.shots0, shots);
    HQ_CHECK_NEAR(rc.p01[2], 0.1226, 0.01); /* qubit 2's calibration, within shot noise */
    double e_raw = 0, e_rem = 0, e_zne = 0;
    for (int v = 0; v < 5; v++) {
        hq_circuit *c = noisy_test_circuit(v), *f[3];
        HQ_REQUIRE(c);
        double ideal[8];
        HQ_REQUIRE_OK(sv_probs(c, ideal));
        HQ_REQUIRE_OK(hq_zne_fold_scales(c, (int[]){1, 3, 5}, 3, HQ_FOLD_GLOBAL, 0, f));
        double zm[3][3];
        for (int s = 0; s < 3; s++) {
            hq_counts k;
            HQ_REQUIRE_OK(
                hq_dm_run(f[s], NULL, m, NULL, shots, 42, 10 + (uint64_t)(v * 3 + s), &k));
            for (int q = 0; q < 3; q++) {
                HQ_REQUIRE_OK(hq_readout_expect_z(&rc, &k, 1u << q, &zm[s][q], NULL));
                if (s == 0)
                    e_raw += fabs(hq_counts_expect_z(&k, 1u << q) - dense_z(ideal, 3, 1u << q));
            }
            hq_counts_free(&k);
            hq_circuit_free(f[s]);
        }
        for (int q = 0; q < 3; q++) {
            double z0 = dense_z(ideal, 3, 1u << q), zs[3] = {zm[0][q], zm[1][q], zm[2][q]}, e;
            HQ_REQUIRE_OK(hq_zne_extrapolate(HQ_ZNE_RICHARDSON, (double[]){1, 3, 5}, zs, NULL, 3,
                                             &e, NULL, NULL));
            e_rem += fabs(zs[0] - z0);
            e_zne += fabs(e - z0);
        }
        hq_circuit_free(c);
    }
    HQ_CHECKF(e_rem * 2 <= e_raw, "readout mitigation: %.4g vs raw %.4g", e_rem, e_raw);
    HQ_CHECKF(e_zne < e_rem, "readout + ZNE: %.4g vs readout only %.4g", e_zne, e_rem);
    if (getenv("HQ_TEST_VERBOSE"))
        fprintf(stderr, "    <Z> error sums: raw %.4g, readout %.4g, readout+ZNE %.4g\n", e_raw,
                e_rem, e_zne);
    hq_counts_free(&k0);
    hq_counts_free(&k1);
    hq_circuit_free(cal[0]);
    hq_circuit_free(cal[1]);
    hq_noise_free(m);
    hq_device_free(dev);
}

/* <Z_S> from counts equals <Z_S> of the inverted dense distribution, for every mask. */
HQ_TEST(mitigation_readout_expect_z_vs_dense) {
    hq_readout_cal c;
    HQ_REQUIRE_OK(
        hq_readout_cal_set(&c, 3, (double[]){0.05, 0.1, 0.2}, (double[]){0.02, 0.08, 0.01}));
    hq_counts k;
    hq_counts_init(&k, 3);
    const int64_t n[8] = {400, 30, 25, 60, 10, 90, 5, 380};
    for (int i = 0; i < 8; i++) hq_counts_add(&k, (uint64_t)i, n[i]);
    double p[8];
    HQ_REQUIRE_OK(hq_counts_to_probs(&k, p, 3));
    HQ_REQUIRE_OK(hq_readout_apply_inverse(&c, p, 3));
    for (uint64_t mask = 1; mask < 8; mask++) {
        double z, se;
        HQ_REQUIRE_OK(hq_readout_expect_z(&c, &k, mask, &z, &se));
        HQ_CHECK_NEAR(z, dense_z(p, 3, mask), 1e-13);
        HQ_CHECK(se > 0 && se < 0.1);
    }
    for (int b = 0; b < 3; b++) {
        double z, zc;
        HQ_REQUIRE_OK(hq_readout_expect_z(&c, &k, 1u << b, &z, NULL));
        HQ_REQUIRE_OK(hq_readout_correct_z(&c, b, hq_counts_expect_z(&k, 1u << b), &zc));
        HQ_CHECK_NEAR(z, zc, 1e-14);
    }
    hq_counts_free(&k);
}

HQ_TEST(mitigation_readout_errors) {
    hq_readout_cal c, s;
    HQ_REQUIRE_OK(hq_readout_cal_set(&c, 2, (double[]){0.1, 0.2}, (double[]){0.05, 0}));
    HQ_REQUIRE_OK(hq_readout_cal_set(&s, 2, (double[]){0.1, 0.6}, (double[]){0.05, 0.4}));
    double p[4] = {0.25, 0.25, 0.25, 0.25}, p3[8] = {0};
    p3[0] = 1;
    HQ_CHECK_FAILS(hq_readout_apply_inverse(&s, p, 2), HQ_ERR_INVALID_ARG,
                   "confusion matrix of bit 1 is singular");
    HQ_CHECK_FAILS(hq_readout_apply_nearest(&s, p, 2), HQ_ERR_INVALID_ARG, "singular");
    HQ_CHECK_FAILS(hq_readout_apply_lsq(&s, p, 2), HQ_ERR_INVALID_ARG, "singular");
    HQ_CHECK_FAILS(hq_readout_correct_z(&s, 1, 0.1, &p[0]), HQ_ERR_INVALID_ARG, "singular");
    HQ_CHECK_FAILS(hq_readout_apply_inverse(&c, p3, 3), HQ_ERR_INVALID_ARG,
                   "3 bits but the calibration describes 2");
    p[1] = NAN;
    HQ_CHECK_FAILS(hq_readout_apply_lsq(&c, p, 2), HQ_ERR_INVALID_ARG, "probs[1] = nan");
    HQ_CHECK_FAILS(hq_readout_cal_set(&c, 1, (double[]){1.5}, (double[]){0}), HQ_ERR_INVALID_ARG,
                   "[0, 1]");
    HQ_CHECK_FAILS(hq_readout_cal_set(&c, 0, (double[]){0}, (double[]){0}), HQ_ERR_INVALID_ARG,
                   "n_bits = 0");
    HQ_CHECK_FAILS(hq_readout_correct_z(&c, 5, 0.1, &p[0]), HQ_ERR_INVALID_ARG, "bit 5");
    HQ_CHECK_FAILS(hq_readout_correct_z(&c, 0, 1.5, &p[0]), HQ_ERR_INVALID_ARG, "z_meas = 1.5");
    /* counts */
    hq_counts a, b;
    hq_counts_init(&a, 2);
    hq_counts_init(&b, 3);
    double z;
    HQ_CHECK_FAILS(hq_readout_fit(&a, &a, &c), HQ_ERR_INVALID_ARG, "0 shots");
    hq_counts_add(&a, 0, 10);
    hq_counts_add(&b, 0, 10);
    HQ_CHECK_FAILS(hq_readout_fit(&a, &b, &c), HQ_ERR_INVALID_ARG, "different widths");
    HQ_CHECK_FAILS(hq_readout_expect_z(&c, &b, 1, &z, NULL), HQ_ERR_INVALID_ARG,
                   "3 bits but the calibration describes 2");
    HQ_CHECK_FAILS(hq_readout_expect_z(&c, &a, 0, &z, NULL), HQ_ERR_INVALID_ARG, "mask 0x0");
    HQ_CHECK_FAILS(hq_readout_expect_z(&c, &a, 4, &z, NULL), HQ_ERR_INVALID_ARG, "mask 0x4");
    hq_counts_free(&a);
    hq_counts_free(&b);
    double q0[2] = {0.9, 0.2}, q1[2] = {0.1, 0.9};
    HQ_CHECK_FAILS(hq_readout_fit_probs(q0, q1, 1, &c), HQ_ERR_INVALID_ARG, "sums to 1.1");
    HQ_CHECK_FAILS(hq_readout_fit_probs(q0, q1, 25, &c), HQ_ERR_INVALID_ARG, "[1, 24]");
    /* calibration circuits */
    hq_circuit *cc[2];
    HQ_CHECK_FAILS(hq_readout_calibration_circuits(3, (int[]){0, 0}, 2, cc), HQ_ERR_INVALID_ARG,
                   "listed twice");
    HQ_CHECK(cc[0] == NULL && cc[1] == NULL);
    HQ_CHECK_FAILS(hq_readout_calibration_circuits(3, (int[]){0, 3}, 2, cc), HQ_ERR_INVALID_ARG,
                   "qubits[1] = 3");
    HQ_CHECK_FAILS(hq_readout_calibration_circuits(2, (int[]){0, 1, 2}, 3, cc), HQ_ERR_INVALID_ARG,
                   "k = 3");
    HQ_REQUIRE_OK(hq_readout_calibration_circuits(5, (int[]){4, 2}, 2, cc));
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(cc[0]), 2);
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(cc[1]), 4);
    HQ_CHECK_EQ_INT(hq_circuit_count_gate(cc[1], HQ_GATE_X), 2);
    const hq_op *ops = hq_circuit_ops(cc[1]);
    HQ_CHECK(ops[2].gate == HQ_GATE_MEASURE && ops[2].q[0] == 4 && ops[2].clbit == 0);
    HQ_CHECK(ops[3].q[0] == 2 && ops[3].clbit == 1);
    hq_circuit_free(cc[0]);
    hq_circuit_free(cc[1]);
}

/* ==== distances ======================================================================== */

HQ_TEST(distance_known_values) {
    double t, f, h;
    const double p[2] = {0.5, 0.5}, q[2] = {1, 0};
    HQ_REQUIRE_OK(hq_tvd(p, q, 2, &t));
    HQ_CHECK_NEAR(t, 0.5, 1e-15);
    HQ_REQUIRE_OK(hq_hellinger_fidelity(p, q, 2, &f));
    HQ_CHECK_NEAR(f, 0.5, 1e-15); /* (sqrt(0.5))^2 */
    HQ_REQUIRE_OK(hq_hellinger_distance(p, q, 2, &h));
    HQ_CHECK_NEAR(h, sqrt(1 - sqrt(0.5)), 1e-15);
    HQ_CHECK_NEAR(f, (1 - h * h) * (1 - h * h), 1e-15);
    /* disjoint supports: TVD 1, fidelity 0; equal: 0 and 1 */
    HQ_REQUIRE_OK(hq_tvd((double[]){1, 0}, (double[]){0, 1}, 2, &t));
    HQ_CHECK_NEAR(t, 1, 0);
    HQ_REQUIRE_OK(hq_hellinger_fidelity((double[]){1, 0}, (double[]){0, 1}, 2, &f));
    HQ_CHECK_NEAR(f, 0, 0);
    HQ_REQUIRE_OK(hq_hellinger_fidelity(p, p, 2, &f));
    HQ_CHECK_NEAR(f, 1, 1e-15);
    /* (0.1, 0.2, 0.7) vs (0.3, 0.3, 0.4): TVD 0.3; BC = sqrt(.03)+sqrt(.06)+sqrt(.28) */
    const double a[3] = {0.1, 0.2, 0.7}, b[3] = {0.3, 0.3, 0.4};
    HQ_REQUIRE_OK(hq_tvd(a, b, 3, &t));
    HQ_CHECK_NEAR(t, 0.3, 1e-15);
    double bc = sqrt(0.03) + sqrt(0.06) + sqrt(0.28);
    HQ_REQUIRE_OK(hq_hellinger_fidelity(a, b, 3, &f));
    HQ_CHECK_NEAR(f, bc * bc, 1e-15);
    /* unnormalised weights are normalised (counts) */
    HQ_REQUIRE_OK(hq_tvd((double[]){10, 20, 70}, b, 3, &t));
    HQ_CHECK_NEAR(t, 0.3, 1e-15);
    /* quasi-probabilities are allowed for TVD */
    HQ_REQUIRE_OK(hq_tvd((double[]){1.0625, -0.0625}, (double[]){1, 0}, 2, &t));
    HQ_CHECK_NEAR(t, 0.0625, 1e-15);
}

/* Counts (sparse merge) against the dense functions on random counts. */
HQ_TEST(distance_counts_match_dense) {
    hq_rng r;
    hq_rng_init(&r, 9, 9, 0);
    for (int trial = 0; trial < 10; trial++) {
        hq_counts a, b;
        hq_counts_init(&a, 4);
        hq_counts_init(&b, 4);
        for (int i = 0; i < 30; i++) {
            hq_counts_add(&a, hq_rng_below(&r, 16), 1 + (int64_t)hq_rng_below(&r, 50));
            hq_counts_add(&b, hq_rng_below(&r, 12), 1 + (int64_t)hq_rng_below(&r, 50));
        }
        hq_counts_sort(&a);
        hq_counts_sort(&b);
        double pa[16], pb[16], t1, t2, f1, f2;
        HQ_REQUIRE_OK(hq_counts_to_probs(&a, pa, 4));
        HQ_REQUIRE_OK(hq_counts_to_probs(&b, pb, 4));
        HQ_REQUIRE_OK(hq_tvd(pa, pb, 16, &t1));
        HQ_REQUIRE_OK(hq_counts_tvd(&a, &b, &t2));
        HQ_REQUIRE_OK(hq_hellinger_fidelity(pa, pb, 16, &f1));
        HQ_REQUIRE_OK(hq_counts_hellinger_fidelity(&a, &b, &f2));
        HQ_CHECK_NEAR(t1, t2, 1e-14);
        HQ_CHECK_NEAR(f1, f2, 1e-14);
        hq_counts_free(&a);
        hq_counts_free(&b);
    }
}

HQ_TEST(distance_expect_error_stats) {
    hq_error_stats s;
    const double est[4] = {0.5, -0.2, 0.1, 1.0}, ex[4] = {0.4, 0.0, 0.1, 0.7};
    HQ_REQUIRE_OK(hq_expect_error_stats(est, ex, 4, &s));
    /* errors 0.1, -0.2, 0, 0.3: |e| mean 0.15, bias 0.05, rmse sqrt(0.14/4), max 0.3;
     * sd(|e|) = sqrt(((-.05)^2 + .05^2 + .15^2 + .15^2)/3) = sqrt(0.05/3) */
    HQ_CHECK_EQ_INT(s.n, 4);
    HQ_CHECK_NEAR(s.mean_abs, 0.15, 1e-15);
    HQ_CHECK_NEAR(s.bias, 0.05, 1e-15);
    HQ_CHECK_NEAR(s.rmse, sqrt(0.14 / 4), 1e-15);
    HQ_CHECK_NEAR(s.max_abs, 0.3, 1e-15);
    HQ_CHECK_NEAR(s.sem_abs, sqrt(0.05 / 3) / 2, 1e-15);
    HQ_REQUIRE_OK(hq_expect_error_stats(est, ex, 1, &s));
    HQ_CHECK_NEAR(s.sem_abs, 0, 0);
    HQ_CHECK_FAILS(hq_expect_error_stats(est, ex, 0, &s), HQ_ERR_INVALID_ARG, "n = 0");
    HQ_CHECK_FAILS(hq_expect_error_stats((double[]){NAN}, ex, 1, &s), HQ_ERR_INVALID_ARG,
                   "not finite");
}

HQ_TEST(distance_errors) {
    double t;
    HQ_CHECK_FAILS(hq_tvd((double[]){1}, (double[]){1}, 0, &t), HQ_ERR_INVALID_ARG, "n = 0");
    HQ_CHECK_FAILS(hq_tvd(NULL, (double[]){1}, 1, &t), HQ_ERR_INVALID_ARG, "p is NULL");
    HQ_CHECK_FAILS(hq_tvd((double[]){0, 0}, (double[]){1, 0}, 2, &t), HQ_ERR_INVALID_ARG,
                   "positive sum");
    HQ_CHECK_FAILS(hq_tvd((double[]){INFINITY, 0}, (double[]){1, 0}, 2, &t), HQ_ERR_INVALID_ARG,
                   "not finite");
    HQ_CHECK_FAILS(hq_hellinger_fidelity((double[]){1.1, -0.1}, (double[]){1, 0}, 2, &t),
                   HQ_ERR_INVALID_ARG, "negative");
    HQ_CHECK_FAILS(hq_hellinger_distance((double[]){1, 0}, (double[]){1, 0}, 2, NULL),
                   HQ_ERR_INVALID_ARG, "out is NULL");
    hq_counts a, b;
    hq_counts_init(&a, 2);
    hq_counts_init(&b, 3);
    hq_counts_add(&a, 3, 1);
    hq_counts_add(&a, 1, 1);
    hq_counts_add(&b, 1, 1);
    HQ_CHECK_FAILS(hq_counts_tvd(&a, &b, &t), HQ_ERR_INVALID_ARG, "hq_counts_sort");
    hq_counts_sort(&a);
    HQ_CHECK_FAILS(hq_counts_tvd(&a, &b, &t), HQ_ERR_INVALID_ARG, "different widths");
    double p[2];
    HQ_CHECK_FAILS(hq_counts_to_probs(&a, p, 1), HQ_ERR_INVALID_ARG, "outcome 3 does not fit");
    HQ_CHECK_FAILS(hq_counts_to_probs(&a, p, 31), HQ_ERR_INVALID_ARG, "[1, 30]");
    hq_counts_free(&a);
    hq_counts_free(&b);
    hq_counts e;
    hq_counts_init(&e, 2);
    HQ_CHECK_FAILS(hq_counts_hellinger_fidelity(&e, &e, &t), HQ_ERR_INVALID_ARG, "0 shots");
    hq_counts_free(&e);
}

/* Every allocation failure on the way is HQ_ERR_NOMEM, and nothing leaks (ASan). */
HQ_TEST(mitigation_out_of_memory) {
    hq_circuit *c = noisy_test_circuit(0);
    HQ_REQUIRE(c);
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 3, NULL));
    for (int q = 0; q < 3; q++) HQ_REQUIRE_OK(hq_circuit_add_measure(c, q, q));
    for (int method = 0; method < 2; method++) {
        int done = 0;
        for (long n = 1; n < 10000 && !done; n++) {
            hq_circuit *f[2] = {NULL, NULL};
            hq_alloc_fail_after(n);
            hq_status st = hq_zne_fold_scales(c, (int[]){3, 5}, 2, (hq_fold_method)method,
                                              HQ_FOLD_BARRIERS, f);
            bool injected = hq_alloc_injected();
            hq_alloc_fail_after(0);
            if (st == HQ_OK) {
                done = !injected;
            } else {
                HQ_CHECKF(st == HQ_ERR_NOMEM, "n = %ld: %s", n, hq_status_name(st));
                HQ_CHECK(f[0] == NULL && f[1] == NULL);
            }
            hq_circuit_free(f[0]);
            hq_circuit_free(f[1]);
        }
        HQ_CHECK(done);
    }
    for (long n = 1; n < 100; n++) {
        hq_circuit *cc[2] = {NULL, NULL};
        hq_alloc_fail_after(n);
        hq_status st = hq_readout_calibration_circuits(4, (int[]){0, 1, 2, 3}, 4, cc);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        hq_circuit_free(cc[0]);
        hq_circuit_free(cc[1]);
        if (st == HQ_OK && !injected) break;
        HQ_CHECK(st == HQ_ERR_NOMEM || (st == HQ_OK && injected));
    }
    hq_readout_cal rc;
    HQ_REQUIRE_OK(hq_readout_cal_set(&rc, 2, (double[]){0.1, 0.2}, (double[]){0.05, 0}));
    double p[4] = {0.485, 0.115, 0.04, 0.36};
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_readout_apply_lsq(&rc, p, 2), HQ_ERR_NOMEM, "out of memory");
    hq_alloc_fail_after(1);
    HQ_CHECK_FAILS(hq_readout_apply_nearest(&rc, p, 2), HQ_ERR_NOMEM, "out of memory");
    hq_alloc_fail_after(0);
    hq_circuit_free(c);
}
