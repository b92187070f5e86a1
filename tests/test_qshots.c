/*
 * tests/test_qshots.c — orchestrator/qshots: expectations and parameter-shift Jacobians
 * estimated from shots converge to the exact adjoint values as shots grow (fixed seed,
 * error shrinking like 1/sqrt(shots)); SPSA lowers a loss on a toy problem.
 */
#include <math.h>
#include <string.h>

#include "backends/statevector.h"
#include "core/rng.h"
#include "orchestrator/qshots.h"
#include "tests/hq_test.h"

/* 3 qubits, every gate parameter its own symbol, two- and four-term rules present */
static hq_circuit *tmpl3(int *n_sym) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 3, NULL);
    int s = 0;
    char name[16];
#define SYM(kind)                                                                       \
    (snprintf(name, sizeof name, "s%d", s), hq_circuit_add_symbol(c, name, kind, NULL), \
     hq_angle_sym(s++, 1, 0))
    for (int i = 0; i < 3; i++) {
        hq_circuit_add_gate(c, HQ_GATE_H, (int[]){i}, NULL);
        hq_angle a = SYM(HQ_SYM_INPUT);
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){i}, &a);
    }
    hq_angle u[3] = {SYM(HQ_SYM_WEIGHT), SYM(HQ_SYM_WEIGHT), SYM(HQ_SYM_WEIGHT)};
    hq_circuit_add_gate_sym(c, HQ_GATE_U3, (int[]){0}, u);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_angle cp = SYM(HQ_SYM_WEIGHT);
    hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){1, 2}, &cp);
    hq_angle crz = SYM(HQ_SYM_WEIGHT);
    hq_circuit_add_gate_sym(c, HQ_GATE_CRZ, (int[]){2, 0}, &crz);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){2}, NULL);
    hq_angle rx = SYM(HQ_SYM_WEIGHT);
    hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){1}, &rx);
#undef SYM
    *n_sym = s;
    return c;
}

static void exact(const hq_circuit *c, const double *sym, double *e, double *jac) {
    int n = hq_circuit_n_qubits(c);
    hq_pauli p[8];
    hq_pauli_sum obs[8];
    for (int i = 0; i < n; i++) {
        p[i] = hq_pauli_single('Z', i);
        p[n + i] = hq_pauli_single('X', i);
    }
    for (int k = 0; k < 2 * n; k++) obs[k] = (hq_pauli_sum){&p[k], 1};
    hq_sv_adjoint_jacobian(c, sym, obs, 2 * n, e, jac);
}

HQ_TEST(qshots_parameter_shift_converges_to_adjoint) {
    int S;
    hq_circuit *c = tmpl3(&S);
    HQ_REQUIRE(c && S == 9);
    const int R = 2, K = 6;
    double sym[2 * 9];
    hq_rng rng;
    hq_rng_init(&rng, 11, 0, 0);
    for (int i = 0; i < R * S; i++) sym[i] = (hq_rng_uniform(&rng) * 2 - 1) * M_PI;
    double ee[2 * 6], ej[2 * 6 * 9];
    for (int r = 0; r < R; r++) exact(c, sym + r * S, ee + r * K, ej + r * K * S);
    hq_backend *b;
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", NULL, &b));
    double err_e[3], err_j[3];
    int64_t shots[3] = {1000, 10000, 100000};
    for (int t = 0; t < 3; t++) {
        hq_qexec_options o;
        hq_qexec_options_init(&o);
        o.shots = shots[t];
        o.seed = 1234;
        hq_qexec *q;
        HQ_REQUIRE_OK(hq_qexec_create(b, NULL, 0, &o, &q));
        hq_qshots_opts so = {.grad = HQ_QGRAD_PARAMSHIFT};
        double e[2 * 6], j[2 * 6 * 9];
        HQ_REQUIRE_OK(hq_qshots_eval(q, c, R, sym, &so, e, j));
        hq_qexec_stats st;
        hq_qexec_get_stats(q, &st);
        /* 2 rows x 2 bases x (1 + 2 x 8 two-term + 4 four-term) */
        HQ_CHECK_EQ_INT(st.requested, 2 * 2 * (1 + 2 * 8 + 4));
        err_e[t] = err_j[t] = 0;
        for (int i = 0; i < R * K; i++) err_e[t] = fmax(err_e[t], fabs(e[i] - ee[i]));
        for (int i = 0; i < R * K * S; i++) err_j[t] = fmax(err_j[t], fabs(j[i] - ej[i]));
        hq_qexec_free(q);
    }
    /* max error over 12 expectations / 108 Jacobian entries: a few sigma of the shot noise
     * (sigma <= 1/sqrt(shots) per expectation) and shrinking about sqrt(10) per decade */
    HQ_CHECKF(err_e[0] < 4.5 / sqrt(1000.0) && err_e[2] < 4.5 / sqrt(100000.0),
              "expectation errors %g %g %g", err_e[0], err_e[1], err_e[2]);
    HQ_CHECKF(err_j[2] < 0.02 && err_j[2] < err_j[0] / 4, "Jacobian errors %g %g %g", err_j[0],
              err_j[1], err_j[2]);
    hq_backend_free(b);
    hq_circuit_free(c);
}

HQ_TEST(qshots_spsa_lowers_a_loss) {
    /* L(a, b) = <Z0> of RX(b) RY(a) |0> = cos(a) cos(b): minimum -1 */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_circuit_add_qreg(c, "q", 1, NULL);
    hq_circuit_add_symbol(c, "a", HQ_SYM_WEIGHT, NULL);
    hq_circuit_add_symbol(c, "b", HQ_SYM_WEIGHT, NULL);
    hq_angle a = hq_angle_sym(0, 1, 0), bb = hq_angle_sym(1, 1, 0);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &a);
    hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, &bb);
    hq_backend *b;
    HQ_REQUIRE_OK(hq_backend_create("sv-shots", NULL, &b));
    hq_qexec_options o;
    hq_qexec_options_init(&o);
    o.shots = 2000;
    o.seed = 5;
    hq_qexec *q;
    HQ_REQUIRE_OK(hq_qexec_create(b, NULL, 0, &o, &q));
    double th[2] = {0.3, 0.2}, e[2], j[4];
    double first = cos(0.3) * cos(0.2);
    for (int step = 0; step < 80; step++) {
        hq_qshots_opts so = {
            .grad = HQ_QGRAD_SPSA, .spsa_c = 0.15, .seed = 9, .step = (uint64_t)step};
        HQ_REQUIRE_OK(hq_qshots_eval(q, c, 1, th, &so, e, j));
        th[0] -= 0.3 * j[0 * 2 + 0]; /* dL/da = d<Z0>/da */
        th[1] -= 0.3 * j[0 * 2 + 1];
    }
    double last = cos(th[0]) * cos(th[1]);
    HQ_CHECKF(last < first - 0.8 && last < -0.8, "SPSA: loss %.3f -> %.3f", first, last);
    double e0[2];
    hq_qshots_opts bad = {.grad = HQ_QGRAD_SPSA, .spsa_c = 0};
    HQ_CHECK_FAILS(hq_qshots_eval(q, c, 1, th, &bad, e0, j), HQ_ERR_INVALID_ARG,
                   "perturbation c > 0");
    hq_qshots_opts ps = {.grad = HQ_QGRAD_PARAMSHIFT};
    HQ_CHECK_FAILS(hq_qshots_eval(q, c, 1, th, &ps, e0, NULL), HQ_ERR_INVALID_ARG,
                   "needs a Jacobian buffer");
    hq_qgrad g;
    HQ_CHECK_FAILS(hq_qgrad_parse("adjoint", &g), HQ_ERR_INVALID_ARG,
                   "unknown gradient method 'adjoint'");
    hq_qexec_free(q);
    hq_backend_free(b);
    hq_circuit_free(c);
}
