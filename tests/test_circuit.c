/*
 * tests/test_circuit.c — backends/circuit + gates + sv_ref: every gate matrix is unitary,
 * its derivative matches central finite differences, gate identities from independent
 * definitions (Qiskit / IonQ decompositions), circuit building and its error paths,
 * binding, canonical text, hashing, Pauli parsing, allocation failure.
 */
#include <complex.h>
#include <math.h>
#include <string.h>

#include "backends/circuit.h"
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "tests/hq_test.h"

static double rnd_angle(hq_rng *r) { return (hq_rng_uniform(r) * 2 - 1) * 4.0; }

static void matmul(const hq_cplx *a, const hq_cplx *b, hq_cplx *c, int d) {
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            hq_cplx s = 0;
            for (int k = 0; k < d; k++) s += a[i * d + k] * b[k * d + j];
            c[i * d + j] = s;
        }
}

/* max |a - e^{i phi} b| over entries, with the phase chosen from the largest entry of b */
static double dist_phase(const hq_cplx *a, const hq_cplx *b, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (cabs(b[i]) > cabs(b[best])) best = i;
    hq_cplx ph = cabs(b[best]) > 0 && cabs(a[best]) > 0 ? a[best] / b[best] : 1;
    ph /= cabs(ph);
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, cabs(a[i] - ph * b[i]));
    return m;
}

static double dist(const hq_cplx *a, const hq_cplx *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
    return m;
}

static void mat(hq_gate g, const double *p, hq_cplx *m) { HQ_CHECK_OK(hq_gate_matrix(g, p, m)); }

/* kron for 1-qubit a on operand 0 and b on operand 1: (b (x) a) in our bit order */
static void kron2(const hq_cplx *a0, const hq_cplx *b1, hq_cplx *m) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            m[r * 4 + c] = a0[(r & 1) * 2 + (c & 1)] * b1[(r >> 1) * 2 + (c >> 1)];
}

HQ_TEST(circuit_gate_table) {
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        HQ_REQUIRE(gi && gi->name);
        hq_gate back;
        HQ_CHECK_OK(hq_gate_from_name(gi->name, &back));
        HQ_CHECK_EQ_INT(back, g);
        HQ_CHECK(gi->np <= HQ_GATE_MAX_PARAMS);
        HQ_CHECK(gi->nq <= HQ_GATE_MAX_QUBITS);
    }
    hq_gate g;
    HQ_CHECK_FAILS(hq_gate_from_name("w", &g), HQ_ERR_NOT_FOUND, "unknown gate 'w'");
    HQ_CHECK(hq_gate_get_info(HQ_GATE_COUNT) == NULL);
    hq_cplx m[4];
    HQ_CHECK_FAILS(hq_gate_matrix(HQ_GATE_MEASURE, NULL, m), HQ_ERR_INVALID_ARG, "has no matrix");
    HQ_CHECK_FAILS(hq_gate_matrix_deriv(HQ_GATE_RX, (double[]){0.1}, 1, m), HQ_ERR_INVALID_ARG,
                   "parameter 1 out of range [0, 1)");
}

HQ_TEST(circuit_gates_unitary_and_derivatives) {
    hq_rng r;
    hq_rng_init(&r, 7, 0, 0);
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        int d = 1 << gi->nq;
        for (int trial = 0; trial < 5; trial++) {
            double p[4];
            for (int i = 0; i < 4; i++) p[i] = rnd_angle(&r);
            hq_cplx m[64], mh[64], prod[64];
            mat((hq_gate)g, p, m);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) mh[i * d + j] = conj(m[j * d + i]);
            matmul(m, mh, prod, d);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                    HQ_CHECKF(cabs(prod[i * d + j] - (i == j)) < 1e-13, "gate %s not unitary",
                              gi->name);
            if (gi->self_inverse) {
                matmul(m, m, prod, d);
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++)
                        HQ_CHECKF(cabs(prod[i * d + j] - (i == j)) < 1e-13,
                                  "gate %s not self-inverse", gi->name);
            }
            if (gi->diagonal)
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++)
                        if (i != j)
                            HQ_CHECKF(cabs(m[i * d + j]) == 0, "gate %s not diagonal", gi->name);
            for (int k = 0; k < gi->np; k++) {
                hq_cplx dm[64], mp[64], mm[64];
                HQ_CHECK_OK(hq_gate_matrix_deriv((hq_gate)g, p, k, dm));
                double h = 1e-5, pp[4], pm[4];
                memcpy(pp, p, sizeof pp);
                memcpy(pm, p, sizeof pm);
                pp[k] += h;
                pm[k] -= h;
                mat((hq_gate)g, pp, mp);
                mat((hq_gate)g, pm, mm);
                for (int i = 0; i < d * d; i++)
                    HQ_CHECKF(cabs((mp[i] - mm[i]) / (2 * h) - dm[i]) < 1e-8,
                              "gate %s d/dp%d entry %d", gi->name, k, i);
            }
        }
    }
}

HQ_TEST(circuit_gate_identities) {
    hq_cplx a[64], b[64], c[64], t[64];
    const double pi = M_PI;
    /* HXH = Z, SX^2 = X, S^2 = Z, T^2 = S, SXDG = SX^dagger */
    mat(HQ_GATE_H, NULL, a), mat(HQ_GATE_X, NULL, b), matmul(a, b, t, 2), matmul(t, a, c, 2);
    mat(HQ_GATE_Z, NULL, b);
    HQ_CHECK(dist(c, b, 4) < 1e-15);
    mat(HQ_GATE_SX, NULL, a), matmul(a, a, c, 2), mat(HQ_GATE_X, NULL, b);
    HQ_CHECK(dist(c, b, 4) < 1e-15);
    mat(HQ_GATE_S, NULL, a), matmul(a, a, c, 2), mat(HQ_GATE_Z, NULL, b);
    HQ_CHECK(dist(c, b, 4) < 1e-15);
    mat(HQ_GATE_T, NULL, a), matmul(a, a, c, 2), mat(HQ_GATE_S, NULL, b);
    HQ_CHECK(dist(c, b, 4) < 1e-15);
    mat(HQ_GATE_SX, NULL, a), mat(HQ_GATE_SXDG, NULL, b), matmul(a, b, c, 2);
    HQ_CHECK(cabs(c[0] - 1) < 1e-15 && cabs(c[1]) < 1e-15 && cabs(c[3] - 1) < 1e-15);
    /* qelib1 definitions: rx(t) = u3(t,-pi/2,pi/2); ry(t) = u3(t,0,0); u2 = u3(pi/2,.,.) */
    mat(HQ_GATE_RX, (double[]){0.7}, a), mat(HQ_GATE_U3, (double[]){0.7, -pi / 2, pi / 2}, b);
    HQ_CHECK(dist_phase(a, b, 4) < 1e-15);
    mat(HQ_GATE_RY, (double[]){0.7}, a), mat(HQ_GATE_U3, (double[]){0.7, 0, 0}, b);
    HQ_CHECK(dist(a, b, 4) < 1e-15);
    mat(HQ_GATE_U2, (double[]){0.3, 1.1}, a), mat(HQ_GATE_U3, (double[]){pi / 2, 0.3, 1.1}, b);
    HQ_CHECK(dist(a, b, 4) < 1e-15);
    mat(HQ_GATE_RZ, (double[]){0.9}, a), mat(HQ_GATE_P, (double[]){0.9}, b);
    HQ_CHECK(dist_phase(a, b, 4) < 1e-15);
    /* CX: control operand 0 (bit 0) flips target operand 1 (bit 1): |01> -> |11> */
    mat(HQ_GATE_CX, NULL, a);
    HQ_CHECK(cabs(a[3 * 4 + 1] - 1) < 1e-15 && cabs(a[1 * 4 + 3] - 1) < 1e-15 &&
             cabs(a[0] - 1) < 1e-15);
    /* CU(t,p,l,0) = CU3(t,p,l); CP = CU1 */
    mat(HQ_GATE_CU, (double[]){0.4, 0.5, 0.6, 0}, a),
        mat(HQ_GATE_CU3, (double[]){0.4, 0.5, 0.6}, b);
    HQ_CHECK(dist(a, b, 16) < 1e-15);
    /* RZZ = CX . (I (x) RZ on target) . CX */
    {
        hq_cplx cx[16], rz[4], id[4] = {1, 0, 0, 1}, k[16];
        mat(HQ_GATE_CX, NULL, cx), mat(HQ_GATE_RZ, (double[]){0.8}, rz), kron2(id, rz, k);
        matmul(cx, k, t, 4), matmul(t, cx, c, 4), mat(HQ_GATE_RZZ, (double[]){0.8}, b);
        HQ_CHECK(dist(c, b, 16) < 1e-14);
        /* RXX = (H(x)H) RZZ (H(x)H) */
        hq_cplx h[4], hh[16];
        mat(HQ_GATE_H, NULL, h), kron2(h, h, hh), matmul(hh, b, t, 4), matmul(t, hh, c, 4);
        mat(HQ_GATE_RXX, (double[]){0.8}, a);
        HQ_CHECK(dist(a, c, 16) < 1e-14);
        /* RYY = (RX(pi/2)(x)RX(pi/2))^dag RZZ (RX(pi/2)(x)RX(pi/2)) */
        hq_cplx rx[4], rxd[4], kk[16], kd[16];
        mat(HQ_GATE_RX, (double[]){pi / 2}, rx), mat(HQ_GATE_RX, (double[]){-pi / 2}, rxd);
        kron2(rx, rx, kk), kron2(rxd, rxd, kd);
        matmul(kd, b, t, 4), matmul(t, kk, c, 4), mat(HQ_GATE_RYY, (double[]){0.8}, a);
        HQ_CHECK(dist(a, c, 16) < 1e-14);
    }
    /* IonQ: MS(0,0,1/4) = RXX(pi/2); MS(a,b,t) = (RZ(2pi a)(x)RZ(2pi b)) RXX(2pi t) (RZ(-2pi
     * a)(x)RZ(-2pi b)) */
    {
        mat(HQ_GATE_MS, (double[]){0, 0, 0.25}, a), mat(HQ_GATE_RXX, (double[]){pi / 2}, b);
        HQ_CHECK(dist(a, b, 16) < 1e-15);
        double p0 = 0.13, p1 = 0.71, th = 0.19;
        hq_cplx z0[4], z1[4], z0m[4], z1m[4], l[16], rr[16], x[16];
        mat(HQ_GATE_RZ, (double[]){2 * pi * p0}, z0), mat(HQ_GATE_RZ, (double[]){2 * pi * p1}, z1);
        mat(HQ_GATE_RZ, (double[]){-2 * pi * p0}, z0m),
            mat(HQ_GATE_RZ, (double[]){-2 * pi * p1}, z1m);
        kron2(z0, z1, l), kron2(z0m, z1m, rr), mat(HQ_GATE_RXX, (double[]){2 * pi * th}, x);
        matmul(l, x, t, 4), matmul(t, rr, c, 4), mat(HQ_GATE_MS, (double[]){p0, p1, th}, a);
        HQ_CHECK(dist(a, c, 16) < 1e-14);
        /* GPI2(p) = RZ(2 pi p) RX(pi/2) RZ(-2 pi p); GPI(p) = RZ(4 pi p) X up to phase */
        hq_cplx rx[4], g[4];
        mat(HQ_GATE_RX, (double[]){pi / 2}, rx), matmul(z0, rx, t, 2), matmul(t, z0m, c, 2);
        mat(HQ_GATE_GPI2, (double[]){p0}, g);
        HQ_CHECK(dist_phase(g, c, 4) < 1e-14);
        hq_cplx xx[4], rz4[4];
        mat(HQ_GATE_X, NULL, xx), mat(HQ_GATE_RZ, (double[]){4 * pi * p0}, rz4),
            matmul(rz4, xx, c, 2);
        mat(HQ_GATE_GPI, (double[]){p0}, g);
        HQ_CHECK(dist_phase(g, c, 4) < 1e-14);
    }
    /* ECR = (IX - XY)/sqrt2 (X on operand 0 in the first term) */
    {
        hq_cplx x1[4], y1[4], id[4] = {1, 0, 0, 1}, ix[16], xy[16];
        mat(HQ_GATE_X, NULL, x1), mat(HQ_GATE_Y, NULL, y1);
        kron2(x1, id, ix); /* X on operand 0 */
        kron2(y1, x1, xy); /* Y on operand 0, X on operand 1 */
        for (int i = 0; i < 16; i++) c[i] = (ix[i] - xy[i]) / sqrt(2);
        mat(HQ_GATE_ECR, NULL, a);
        HQ_CHECK(dist(a, c, 16) < 1e-15);
    }
    /* ISWAP |01> -> i|10>; CCX flips bit 2 iff bits 0,1 set; CSWAP swaps 1,2 iff bit 0 */
    mat(HQ_GATE_ISWAP, NULL, a);
    HQ_CHECK(cabs(a[2 * 4 + 1] - I) < 1e-15);
    mat(HQ_GATE_CCX, NULL, a);
    HQ_CHECK(cabs(a[7 * 8 + 3] - 1) < 1e-15 && cabs(a[5 * 8 + 5] - 1) < 1e-15);
    mat(HQ_GATE_CSWAP, NULL, a);
    HQ_CHECK(cabs(a[5 * 8 + 3] - 1) < 1e-15 && cabs(a[2 * 8 + 2] - 1) < 1e-15);
}

HQ_TEST(circuit_build_and_errors) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int qi, ci;
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 3, &qi));
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "anc", 1, NULL));
    HQ_CHECK_OK(hq_circuit_add_creg(c, "c", 2, &ci));
    HQ_CHECK_EQ_INT(hq_circuit_n_qubits(c), 4);
    HQ_CHECK_FAILS(hq_circuit_add_qreg(c, "q", 2, NULL), HQ_ERR_INVALID_ARG, "already declared");
    HQ_CHECK_FAILS(hq_circuit_add_qreg(c, "9x", 2, NULL), HQ_ERR_INVALID_ARG,
                   "invalid register name");
    HQ_CHECK_FAILS(hq_circuit_add_qreg(c, "z", 0, NULL), HQ_ERR_INVALID_ARG, "size 0 out of range");
    HQ_CHECK_FAILS(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 4}, NULL), HQ_ERR_INVALID_ARG,
                   "qubit 4 out of range [0, 4)");
    HQ_CHECK_FAILS(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 1}, NULL), HQ_ERR_INVALID_ARG,
                   "qubit 1 used twice");
    HQ_CHECK_FAILS(hq_circuit_add_gate(c, HQ_GATE_RX, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "needs 1 parameter");
    HQ_CHECK_FAILS(hq_circuit_add_gate(c, HQ_GATE_RX, (int[]){0}, (double[]){NAN}),
                   HQ_ERR_INVALID_ARG, "not finite");
    HQ_CHECK_FAILS(hq_circuit_add_measure(c, 0, 2), HQ_ERR_INVALID_ARG,
                   "classical bit 2 out of range");
    HQ_CHECK_FAILS(hq_circuit_set_condition(c, 0, 1), HQ_ERR_MISUSE, "no operation");
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 3}, NULL));
    HQ_CHECK_OK(hq_circuit_add_barrier(c, (int[]){0, 1, 2, 3}, 4));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 1));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL));
    HQ_CHECK_FAILS(hq_circuit_set_condition(c, 0, 4), HQ_ERR_INVALID_ARG, "does not fit in 2-bit");
    HQ_CHECK_OK(hq_circuit_set_condition(c, 0, 2));
    HQ_CHECK(hq_circuit_is_dynamic(c));
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(c), 5);
    HQ_CHECK_EQ_INT(hq_circuit_depth(c), 3); /* h, cx, (barrier aligns), measure */
    HQ_CHECK_EQ_INT(hq_circuit_count_gate(c, HQ_GATE_CX), 1);
    const hq_op *ops = hq_circuit_ops(c);
    HQ_CHECK_EQ_INT(ops[2].nq, 4);
    HQ_CHECK_EQ_INT(hq_op_qubit(c, &ops[2], 3), 3);
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_circuit_canonical(c, &b));
    HQ_CHECK_STR(b.p,
                 "hqcnn-circuit 1\nqubits 4\nclbits 2\ncreg c 0 2\nh 0\ncx 0,3\nbarrier 0,1,2,3\n"
                 "measure 0 -> 1\nif(c==2) x 2\n");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
    hq_circuit_free(NULL);
    HQ_CHECK_FAILS(hq_circuit_add_qreg(NULL, "q", 1, NULL), HQ_ERR_MISUSE, "invalid handle");
}

HQ_TEST(circuit_symbols_bind_hash) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    int x0, w0;
    HQ_CHECK_OK(hq_circuit_add_symbol(c, "x0", HQ_SYM_INPUT, &x0));
    HQ_CHECK_OK(hq_circuit_add_symbol(c, "w0", HQ_SYM_WEIGHT, &w0));
    HQ_CHECK_FAILS(hq_circuit_add_symbol(c, "x0", HQ_SYM_INPUT, NULL), HQ_ERR_INVALID_ARG,
                   "already exists");
    hq_angle a = hq_angle_sym(x0, 2.0, 0.5);
    HQ_CHECK_OK(hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &a));
    hq_angle b = {.c = 0, .n = 2, .sym = {x0, w0}, .coef = {1, -1}};
    HQ_CHECK_OK(hq_circuit_add_gate_sym(c, HQ_GATE_CRZ, (int[]){0, 1}, &b));
    hq_angle bad = hq_angle_sym(5, 1, 0);
    HQ_CHECK_FAILS(hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, &bad), HQ_ERR_INVALID_ARG,
                   "symbol 5, outside [0, 2)");
    HQ_CHECK(hq_circuit_is_symbolic(c));
    HQ_CHECK_EQ_INT(hq_circuit_n_angles(c), 2);
    double vals[2] = {0.25, 1.0}, ang[2];
    hq_circuit_eval_angles(c, vals, ang);
    HQ_CHECK_NEAR(ang[0], 1.0, 1e-15);
    HQ_CHECK_NEAR(ang[1], -0.75, 1e-15);
    hq_sbuf s = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_circuit_canonical(c, &s));
    HQ_CHECK(strstr(s.p, "ry(0.5+2*x0) 0\n") != NULL);
    HQ_CHECK(strstr(s.p, "crz(1*x0+-1*w0) 0,1\n") != NULL);
    HQ_CHECK(strstr(s.p, "symbol x0 input\nsymbol w0 weight\n") != NULL);
    hq_sbuf_free(&s);
    /* bind: a concrete circuit with the same state as evaluating the template */
    hq_circuit *bound;
    HQ_REQUIRE_OK(hq_circuit_bind(c, vals, &bound));
    HQ_CHECK(!hq_circuit_is_symbolic(bound));
    HQ_CHECK_EQ_INT(hq_circuit_n_symbols(bound), 0);
    hq_cplx s1[4], s2[4];
    HQ_CHECK_OK(hq_ref_simulate(c, vals, false, s1));
    HQ_CHECK_OK(hq_ref_simulate(bound, NULL, false, s2));
    HQ_CHECK(dist(s1, s2, 4) < 1e-15);
    HQ_CHECK_FAILS(hq_circuit_bind(c, (double[]){NAN, 0}, &bound), HQ_ERR_INVALID_ARG,
                   "not finite");
    /* hashing: equal circuits hash equal, -0 == 0, a changed angle changes the hash */
    char h1[65], h2[65], h3[65];
    HQ_CHECK_OK(hq_circuit_hash(bound, h1));
    hq_circuit *b2;
    HQ_REQUIRE_OK(hq_circuit_copy(bound, &b2));
    HQ_CHECK_OK(hq_circuit_hash(b2, h2));
    HQ_CHECK_STR(h1, h2);
    hq_circuit *z1, *z2;
    HQ_REQUIRE_OK(hq_circuit_create(&z1));
    HQ_REQUIRE_OK(hq_circuit_create(&z2));
    hq_circuit_add_qreg(z1, "q", 1, NULL);
    hq_circuit_add_qreg(z2, "q", 1, NULL);
    hq_circuit_add_gate(z1, HQ_GATE_RZ, (int[]){0}, (double[]){0.0});
    hq_circuit_add_gate(z2, HQ_GATE_RZ, (int[]){0}, (double[]){-0.0});
    HQ_CHECK_OK(hq_circuit_hash(z1, h1));
    HQ_CHECK_OK(hq_circuit_hash(z2, h2));
    HQ_CHECK_STR(h1, h2);
    hq_circuit_add_gate(z2, HQ_GATE_RZ, (int[]){0}, (double[]){1e-17});
    HQ_CHECK_OK(hq_circuit_hash(z2, h3));
    HQ_CHECK(strcmp(h1, h3) != 0);
    hq_circuit_free(z1);
    hq_circuit_free(z2);
    hq_circuit_free(b2);
    hq_circuit_free(bound);
    hq_circuit_free(c);
}

HQ_TEST(circuit_append_maps_qubits_and_symbols) {
    hq_circuit *a, *b;
    HQ_REQUIRE_OK(hq_circuit_create(&a));
    HQ_REQUIRE_OK(hq_circuit_create(&b));
    hq_circuit_add_qreg(a, "q", 3, NULL);
    hq_circuit_add_qreg(b, "q", 2, NULL);
    int t;
    hq_circuit_add_symbol(b, "theta", HQ_SYM_WEIGHT, &t);
    hq_angle an = hq_angle_sym(t, 1, 0);
    hq_circuit_add_gate(b, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate_sym(b, HQ_GATE_CRY, (int[]){0, 1}, &an);
    HQ_CHECK_OK(hq_circuit_append(a, b, (int[]){2, 0}, NULL));
    HQ_CHECK_EQ_INT(hq_circuit_n_symbols(a), 1);
    const hq_op *ops = hq_circuit_ops(a);
    HQ_CHECK_EQ_INT(ops[0].q[0], 2);
    HQ_CHECK_EQ_INT(ops[1].q[0], 2);
    HQ_CHECK_EQ_INT(ops[1].q[1], 0);
    /* state check against a hand-built equivalent */
    hq_circuit *e;
    HQ_REQUIRE_OK(hq_circuit_create(&e));
    hq_circuit_add_qreg(e, "q", 3, NULL);
    hq_circuit_add_gate(e, HQ_GATE_H, (int[]){2}, NULL);
    hq_circuit_add_gate(e, HQ_GATE_CRY, (int[]){2, 0}, (double[]){0.9});
    hq_cplx s1[8], s2[8];
    HQ_CHECK_OK(hq_ref_simulate(a, (double[]){0.9}, false, s1));
    HQ_CHECK_OK(hq_ref_simulate(e, NULL, false, s2));
    HQ_CHECK(dist(s1, s2, 8) < 1e-15);
    HQ_CHECK_NEAR(creal(s2[4] * conj(s2[4])), 0.5 * cos(0.45) * cos(0.45), 1e-15); /* q2=1, q0=0 */
    HQ_CHECK_FAILS(hq_circuit_append(a, a, NULL, NULL), HQ_ERR_INVALID_ARG, "to itself");
    hq_circuit_free(a);
    hq_circuit_free(b);
    hq_circuit_free(e);
}

HQ_TEST(circuit_pauli_parse) {
    hq_pauli p;
    HQ_CHECK_OK(hq_pauli_parse("Z0", 4, &p));
    HQ_CHECK(p.z == 1 && p.x == 0 && p.coef == 1);
    HQ_CHECK_OK(hq_pauli_parse("0.5*X1 Y3", 4, &p));
    HQ_CHECK(p.x == 0xA && p.z == 0x8 && p.coef == 0.5);
    HQ_CHECK_OK(hq_pauli_parse("IZXY", 4, &p)); /* last letter is qubit 0 */
    HQ_CHECK(p.x == 0x3 && p.z == 0x5);
    char buf[64];
    hq_pauli_format(&p, buf, sizeof buf);
    HQ_CHECK_STR(buf, "Y0 X1 Z2");
    HQ_CHECK_FAILS(hq_pauli_parse("Z4", 4, &p), HQ_ERR_PARSE, "qubit 4 out of range");
    HQ_CHECK_FAILS(hq_pauli_parse("Z1 X1", 4, &p), HQ_ERR_PARSE, "appears twice");
    HQ_CHECK_FAILS(hq_pauli_parse("ZZ", 4, &p), HQ_ERR_PARSE, "2 letters for 4 qubits");
    HQ_CHECK_FAILS(hq_pauli_parse("Q1", 4, &p), HQ_ERR_PARSE, "expected X, Y, Z or I");
}

HQ_TEST(circuit_alloc_failures) {
    /* every allocation of a small build fails in turn: error or success, never a crash
     * or a leak (the sanitizer build checks leaks) */
    for (long n = 1; n < 200; n++) {
        hq_alloc_fail_after(n);
        hq_circuit *c = NULL, *d = NULL;
        hq_status st = hq_circuit_create(&c);
        if (st == HQ_OK) st = hq_circuit_add_qreg(c, "q", 2, NULL);
        if (st == HQ_OK) st = hq_circuit_add_creg(c, "c", 2, NULL);
        int s = 0;
        if (st == HQ_OK) st = hq_circuit_add_symbol(c, "t", HQ_SYM_WEIGHT, &s);
        for (int k = 0; k < 40 && st == HQ_OK; k++) {
            hq_angle a = hq_angle_sym(s, 1, k);
            st = hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){k & 1}, &a);
        }
        if (st == HQ_OK) st = hq_circuit_add_barrier(c, (int[]){0, 1}, 2);
        if (st == HQ_OK) st = hq_circuit_bind(c, (double[]){0.1}, &d);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        HQ_CHECKF(st == HQ_OK || st == HQ_ERR_NOMEM, "n=%ld: status %s", n, hq_status_name(st));
        if (!fired) HQ_CHECK_OK(st);
        hq_circuit_free(c);
        hq_circuit_free(d);
        if (!fired) break;
    }
}

#include "backends/counts.h"

/* hq_counts_sort against a reference (dense tally), on inputs that are sorted already (no
 * allocation, unchanged), sorted but for one pair, with duplicates, and descending. */
HQ_TEST(circuit_counts_sort_cases) {
    static const uint64_t in[4][6] = {
        {1, 2, 5, 6, 9, 12}, {1, 2, 6, 5, 9, 12}, {3, 3, 1, 7, 7, 3}, {12, 9, 6, 5, 2, 1}};
    for (int t = 0; t < 4; t++) {
        hq_counts c;
        hq_counts_init(&c, 4);
        int64_t want[16] = {0};
        for (int i = 0; i < 6; i++) {
            HQ_REQUIRE_OK(hq_counts_add(&c, in[t][i], 10 + i));
            want[in[t][i]] += 10 + i;
        }
        long allocs = hq_alloc_count();
        hq_counts_sort(&c);
        if (t == 0) HQ_CHECK_EQ_INT(hq_alloc_count(), allocs); /* already sorted: no copy */
        int64_t distinct = 0;
        for (int o = 0; o < 16; o++) distinct += want[o] > 0;
        HQ_CHECK_EQ_INT(c.n, distinct);
        for (int64_t i = 0; i < c.n; i++) {
            HQ_CHECK(i == 0 || c.outcome[i] > c.outcome[i - 1]);
            HQ_CHECK_EQ_INT(c.count[i], want[c.outcome[i] & 15]);
        }
        hq_counts_free(&c);
    }
}

HQ_TEST(circuit_counts_histogram) {
    hq_counts c;
    hq_counts_init(&c, 3);
    HQ_CHECK_OK(hq_counts_add(&c, 5, 3));
    HQ_CHECK_OK(hq_counts_add(&c, 1, 2));
    HQ_CHECK_OK(hq_counts_add(&c, 5, 1));
    HQ_CHECK_FAILS(hq_counts_add(&c, 0, -1), HQ_ERR_INVALID_ARG, "negative count");
    hq_counts_sort(&c);
    HQ_CHECK_EQ_INT(c.n, 2);
    HQ_CHECK_EQ_INT(c.shots, 6);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 5), 4);
    HQ_CHECK_EQ_INT(hq_counts_get(&c, 7), 0);
    HQ_CHECK_NEAR(hq_counts_prob(&c, 1), 2.0 / 6, 1e-15);
    /* <Z0>: 5=101 (bit0=1) x4, 1=001 (bit0=1) x2 -> -1; <Z1>: both bit1=0 -> +1; <Z2>: 4x(-1),
     * 2x(+1) */
    HQ_CHECK_NEAR(hq_counts_expect_z(&c, 1), -1.0, 1e-15);
    HQ_CHECK_NEAR(hq_counts_expect_z(&c, 2), 1.0, 1e-15);
    HQ_CHECK_NEAR(hq_counts_expect_z(&c, 4), (2.0 - 4.0) / 6, 1e-15);
    hq_sbuf b = HQ_SBUF_INIT;
    hq_counts_to_json(&c, &b);
    HQ_CHECK_STR(b.p, "{\"001\": 2, \"101\": 4}");
    hq_sbuf_free(&b);
    hq_counts d;
    HQ_CHECK_OK(hq_counts_copy(&d, &c));
    HQ_CHECK_EQ_INT(d.shots, 6);
    hq_counts_free(&d);
    hq_counts_free(&c);
}
