/*
 * tests/test_sv.c — backends/statevector: every kernel against the naive reference
 * simulator (sv_ref) on random circuits over the whole gate table, Pauli expectations
 * against an independent operator construction, sampling statistics (chi-square,
 * reproducibility per seed and stream), dynamic circuits with known statistics
 * (teleportation, reset, conditional gates), the memory limit, the error paths of every
 * public function, adjoint = parameter-shift = finite-difference gradients, the batched
 * path against the adjoint code, numpy reference values and finite differences, and the
 * reference circuit suite (QASMBench + OpenQASM examples, through the QASM reader).
 */
#include <complex.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm.h"
#include "backends/statevector.h"
#include "backends/statevector_impl.h" /* sv_sincos_lanes, SVB_L */
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "tests/hq_test.h"

/* ==== helpers ========================================================================= */

static double rnd_angle(hq_rng *r) { return (hq_rng_uniform(r) * 2 - 1) * 4.0; }

static double maxdiff(const hq_cplx *a, const hq_cplx *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
    return m;
}

/* k distinct random qubits of n */
static void rnd_qubits(hq_rng *r, int n, int k, int *q) {
    for (int i = 0; i < k; i++) {
        int ok;
        do {
            q[i] = (int)hq_rng_below(r, (uint64_t)n);
            ok = 1;
            for (int j = 0; j < i; j++)
                if (q[j] == q[i]) ok = 0;
        } while (!ok);
    }
}

/* Parameters: mostly random, sometimes a special value that makes matrices structured
 * (0, pi, pi/2: exact zeros, identities, swaps). */
static double rnd_param(hq_rng *r) {
    static const double special[] = {0, M_PI, M_PI / 2, -M_PI / 2, 2 * M_PI};
    if (hq_rng_below(r, 4) == 0) return special[hq_rng_below(r, HQ_ARRAY_LEN(special))];
    return rnd_angle(r);
}

static bool gate_usable(hq_gate g, int n) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    return gi->kind == HQ_KIND_UNITARY && gi->nq <= n;
}

/* A random circuit on n qubits: every usable gate of the table once, then n_extra random
 * ones, on random qubits with random parameters. */
static hq_circuit *random_circuit(hq_rng *r, int n, int n_extra) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", n, NULL);
    for (int g = 0; g < HQ_GATE_COUNT + n_extra; g++) {
        hq_gate gate = g < HQ_GATE_COUNT ? (hq_gate)g : (hq_gate)hq_rng_below(r, HQ_GATE_COUNT);
        if (!gate_usable(gate, n)) continue;
        const hq_gate_info *gi = hq_gate_get_info(gate);
        int q[3];
        double p[4];
        rnd_qubits(r, n, gi->nq, q);
        for (int i = 0; i < gi->np; i++) p[i] = rnd_param(r);
        if (hq_circuit_add_gate(c, gate, q, p)) {
            hq_circuit_free(c);
            return NULL;
        }
    }
    return c;
}

/* A random normalised state */
static void random_state(hq_rng *r, hq_cplx *a, int64_t dim) {
    double nn = 0;
    for (int64_t i = 0; i < dim; i++) {
        a[i] = hq_rng_normal(r) + I * hq_rng_normal(r);
        nn += creal(a[i] * conj(a[i]));
    }
    for (int64_t i = 0; i < dim; i++) a[i] /= sqrt(nn);
}

/* ==== kernels vs reference ============================================================ */

HQ_TEST(sv_kernels_match_reference_on_random_circuits) {
    hq_rng r;
    hq_rng_init(&r, 2024, 1, 0);
    for (int n = 1; n <= 10; n++) {
        for (int trial = 0; trial < (n <= 6 ? 6 : 2); trial++) {
            hq_circuit *c = random_circuit(&r, n, 40);
            HQ_REQUIRE(c);
            int64_t dim = (int64_t)1 << n;
            hq_cplx *ref = hq_malloc((size_t)dim * sizeof *ref);
            HQ_REQUIRE(ref);
            HQ_REQUIRE_OK(hq_ref_simulate(c, NULL, false, ref));
            hq_sv *sv;
            HQ_REQUIRE_OK(hq_sv_simulate(c, NULL, &sv));
            double d = maxdiff(hq_sv_amps(sv), ref, dim);
            HQ_CHECKF(d <= 1e-12, "n=%d trial %d: max |sv - ref| = %.3g", n, trial, d);
            hq_sv_free(sv);
            hq_free(ref);
            hq_circuit_free(c);
        }
    }
}

HQ_TEST(sv_each_gate_on_every_qubit_placement) {
    /* every gate on every ordered qubit tuple of a 4-qubit random state, vs reference */
    hq_rng r;
    hq_rng_init(&r, 11, 2, 0);
    const int n = 4;
    hq_cplx a[16], b[16];
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        if (!gate_usable((hq_gate)g, n)) continue;
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        for (int code = 0; code < 64; code++) {
            int q[3] = {code & 3, code >> 2 & 3, code >> 4 & 3};
            if ((gi->nq >= 2 && q[0] == q[1]) || (gi->nq == 3 && (q[2] == q[0] || q[2] == q[1])))
                continue;
            if ((gi->nq < 3 && q[2]) || (gi->nq < 2 && q[1])) continue;
            double p[4];
            for (int i = 0; i < gi->np; i++) p[i] = rnd_param(&r);
            random_state(&r, a, 16);
            memcpy(b, a, sizeof a);
            hq_cplx m[64];
            HQ_REQUIRE_OK(hq_gate_matrix((hq_gate)g, p, m));
            hq_ref_apply_matrix(b, n, m, q, gi->nq);
            hq_sv *sv;
            HQ_REQUIRE_OK(hq_sv_create(n, &sv));
            HQ_REQUIRE_OK(hq_sv_set_amps(sv, a, 16));
            HQ_REQUIRE_OK(hq_sv_apply_gate(sv, (hq_gate)g, q, p));
            double d = maxdiff(hq_sv_amps(sv), b, 16);
            HQ_CHECKF(d <= 1e-13, "gate %s on (%d,%d,%d): %.3g", gi->name, q[0], q[1], q[2], d);
            hq_sv_free(sv);
        }
    }
}

/* naive k-qubit matrix application (independent of the kernels) */
static void naive_apply(hq_cplx *s, int n, const hq_cplx *m, const int *q, int k) {
    int64_t dim = (int64_t)1 << n;
    int d = 1 << k;
    hq_cplx *out = hq_calloc((size_t)dim, sizeof *out);
    for (int64_t i = 0; i < dim; i++) {
        int row = 0;
        for (int j = 0; j < k; j++) row |= (int)((i >> q[j]) & 1) << j;
        for (int col = 0; col < d; col++) {
            int64_t src = i;
            for (int j = 0; j < k; j++)
                src = (src & ~((int64_t)1 << q[j])) | (int64_t)(col >> j & 1) << q[j];
            out[i] += m[row * d + col] * s[src];
        }
    }
    memcpy(s, out, (size_t)dim * sizeof *s);
    hq_free(out);
}

HQ_TEST(sv_apply_matrix_and_controlled) {
    hq_rng r;
    hq_rng_init(&r, 5, 3, 0);
    for (int n = 1; n <= 8; n++) {
        int64_t dim = (int64_t)1 << n;
        hq_cplx *ref = hq_malloc((size_t)dim * sizeof *ref);
        HQ_REQUIRE(ref);
        for (int k = 1; k <= HQ_MIN(n, HQ_SV_MAX_MATRIX_QUBITS); k++) {
            for (int shape = 0; shape < 4; shape++) {
                int d = 1 << k;
                hq_cplx *m = hq_calloc((size_t)d * d, sizeof *m);
                HQ_REQUIRE(m);
                /* shape 0 dense, 1 diagonal, 2 anti-diagonal, 3 swap-like (k = 2) */
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++) {
                        bool on =
                            shape == 0 || (shape == 1 && i == j) ||
                            (shape == 2 && i + j == d - 1) ||
                            (shape == 3 && (k != 2 ? i == j
                                                   : ((i == j && (i == 0 || i == 3)) ||
                                                      (i == 1 && j == 2) || (i == 2 && j == 1))));
                        if (on) m[i * d + j] = hq_rng_normal(&r) + I * hq_rng_normal(&r);
                    }
                if (shape == 3 && k == 2) m[0] = m[15] = 1;
                int q[HQ_SV_MAX_MATRIX_QUBITS];
                rnd_qubits(&r, n, k, q);
                hq_sv *sv;
                HQ_REQUIRE_OK(hq_sv_create(n, &sv));
                random_state(&r, hq_sv_amps(sv), dim);
                memcpy(ref, hq_sv_amps(sv), (size_t)dim * sizeof *ref);
                HQ_REQUIRE_OK(hq_sv_apply_matrix(sv, m, q, k));
                naive_apply(ref, n, m, q, k);
                double dd = maxdiff(hq_sv_amps(sv), ref, dim);
                HQ_CHECKF(dd <= 1e-12, "n=%d k=%d shape %d: %.3g", n, k, shape, dd);
                hq_sv_free(sv);
                hq_free(m);
            }
        }
        /* controlled 2x2 with 0..n-1 controls, dense / diagonal / anti-diagonal */
        for (int nc = 0; nc < n; nc++)
            for (int shape = 0; shape < 3; shape++) {
                hq_cplx m[4] = {0};
                for (int i = 0; i < 4; i++) m[i] = hq_rng_normal(&r) + I * hq_rng_normal(&r);
                if (shape == 1) m[1] = m[2] = 0;
                if (shape == 2) m[0] = m[3] = 0;
                int q[HQ_SV_MAX_QUBITS];
                rnd_qubits(&r, n, nc + 1, q);
                hq_sv *sv;
                HQ_REQUIRE_OK(hq_sv_create(n, &sv));
                random_state(&r, hq_sv_amps(sv), dim);
                memcpy(ref, hq_sv_amps(sv), (size_t)dim * sizeof *ref);
                HQ_REQUIRE_OK(hq_sv_apply_controlled(sv, m, q, nc, q[nc]));
                /* the controlled gate as a full (nc+1)-qubit matrix for the naive path,
                 * when small enough; else a direct loop */
                int64_t cm = 0;
                for (int i = 0; i < nc; i++) cm |= (int64_t)1 << q[i];
                int64_t ts = (int64_t)1 << q[nc];
                for (int64_t i = 0; i < dim; i++)
                    if ((i & cm) == cm && !(i & ts)) {
                        hq_cplx x = ref[i], y = ref[i | ts];
                        ref[i] = m[0] * x + m[1] * y;
                        ref[i | ts] = m[2] * x + m[3] * y;
                    }
                double dd = maxdiff(hq_sv_amps(sv), ref, dim);
                HQ_CHECKF(dd <= 1e-12, "n=%d controls=%d shape %d: %.3g", n, nc, shape, dd);
                hq_sv_free(sv);
            }
        hq_free(ref);
    }
}

HQ_TEST(sv_large_target_qubits) {
    /* high target / control positions on 16 qubits (long strides), vs reference */
    const int n = 16;
    int64_t dim = (int64_t)1 << n;
    hq_rng r;
    hq_rng_init(&r, 99, 0, 0);
    hq_cplx *ref = hq_malloc((size_t)dim * sizeof *ref);
    HQ_REQUIRE(ref);
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(n, &sv));
    random_state(&r, hq_sv_amps(sv), dim);
    memcpy(ref, hq_sv_amps(sv), (size_t)dim * sizeof *ref);
    static const struct {
        hq_gate g;
        int q[3];
    } seq[] = {{HQ_GATE_H, {15}},         {HQ_GATE_U3, {14}},          {HQ_GATE_RZ, {0}},
               {HQ_GATE_CX, {15, 0}},     {HQ_GATE_CX, {0, 15}},       {HQ_GATE_CRY, {13, 1}},
               {HQ_GATE_CCX, {15, 0, 8}}, {HQ_GATE_CSWAP, {3, 15, 0}}, {HQ_GATE_RXX, {15, 7}},
               {HQ_GATE_SWAP, {15, 1}},   {HQ_GATE_CP, {14, 15}},      {HQ_GATE_Y, {12}}};
    for (size_t i = 0; i < HQ_ARRAY_LEN(seq); i++) {
        const hq_gate_info *gi = hq_gate_get_info(seq[i].g);
        double p[4] = {0.3, -1.1, 2.2, 0.7};
        hq_cplx m[64];
        HQ_REQUIRE_OK(hq_gate_matrix(seq[i].g, p, m));
        hq_ref_apply_matrix(ref, n, m, seq[i].q, gi->nq);
        HQ_REQUIRE_OK(hq_sv_apply_gate(sv, seq[i].g, seq[i].q, p));
    }
    HQ_CHECK(maxdiff(hq_sv_amps(sv), ref, dim) <= 1e-12);
    hq_sv_free(sv);
    hq_free(ref);
}

/* ==== expectation values ============================================================== */

/* <psi| P |psi> computed by applying X/Y/Z matrices with the reference simulator */
static double pauli_ref(const hq_cplx *psi, int n, const hq_pauli *p) {
    int64_t dim = (int64_t)1 << n;
    hq_cplx *t = hq_malloc((size_t)dim * sizeof *t);
    memcpy(t, psi, (size_t)dim * sizeof *t);
    static const hq_cplx X[4] = {0, 1, 1, 0}, Y[4] = {0, -I, I, 0}, Z[4] = {1, 0, 0, -1};
    for (int q = 0; q < n; q++) {
        bool x = p->x >> q & 1, z = p->z >> q & 1;
        if (!x && !z) continue;
        hq_ref_apply_matrix(t, n, x && z ? Y : (x ? X : Z), &q, 1);
    }
    hq_cplx acc = 0;
    for (int64_t i = 0; i < dim; i++) acc += conj(psi[i]) * t[i];
    hq_free(t);
    return p->coef * creal(acc);
}

HQ_TEST(sv_pauli_expectations) {
    hq_rng r;
    hq_rng_init(&r, 3, 4, 0);
    for (int n = 1; n <= 7; n++) {
        int64_t dim = (int64_t)1 << n;
        hq_sv *sv;
        HQ_REQUIRE_OK(hq_sv_create(n, &sv));
        random_state(&r, hq_sv_amps(sv), dim);
        hq_pauli terms[6];
        for (int t = 0; t < 6; t++) {
            terms[t].coef = hq_rng_normal(&r);
            terms[t].x = hq_rng_u64(&r) & ((1ull << n) - 1);
            terms[t].z = hq_rng_u64(&r) & ((1ull << n) - 1);
            double e, want = pauli_ref(hq_sv_amps(sv), n, &terms[t]);
            HQ_CHECK_OK(hq_sv_expect_pauli(sv, &terms[t], &e));
            HQ_CHECK_NEAR(e, want, 1e-12);
        }
        hq_pauli_sum obs[2] = {{terms, 3}, {terms + 3, 3}};
        double out[2];
        HQ_CHECK_OK(hq_sv_expect(sv, obs, 2, out));
        double w0 = 0, w1 = 0;
        for (int t = 0; t < 3; t++) w0 += pauli_ref(hq_sv_amps(sv), n, &terms[t]);
        for (int t = 3; t < 6; t++) w1 += pauli_ref(hq_sv_amps(sv), n, &terms[t]);
        HQ_CHECK_NEAR(out[0], w0, 1e-12);
        HQ_CHECK_NEAR(out[1], w1, 1e-12);
        hq_sv_free(sv);
    }
    /* Bell state: <ZZ> = <XX> = 1, <YY> = -1, <Z0> = 0 */
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(2, &sv));
    HQ_REQUIRE_OK(hq_sv_apply_gate(sv, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_sv_apply_gate(sv, HQ_GATE_CX, (int[]){0, 1}, NULL));
    const char *names[] = {"Z0 Z1", "X0 X1", "Y0 Y1", "Z0", "0.5*XX"};
    const double want[] = {1, 1, -1, 0, 0.5};
    for (int i = 0; i < 5; i++) {
        hq_pauli p;
        double e;
        HQ_REQUIRE_OK(hq_pauli_parse(names[i], 2, &p));
        HQ_CHECK_OK(hq_sv_expect_pauli(sv, &p, &e));
        HQ_CHECK_NEAR(e, want[i], 1e-15);
    }
    hq_sv_free(sv);
}

HQ_TEST(sv_probabilities_and_marginals) {
    hq_rng r;
    hq_rng_init(&r, 8, 8, 0);
    const int n = 5;
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(n, &sv));
    random_state(&r, hq_sv_amps(sv), 32);
    double p[32], m[8], nn;
    HQ_CHECK_OK(hq_sv_probabilities(sv, p));
    HQ_CHECK_OK(hq_sv_norm2(sv, &nn));
    HQ_CHECK_NEAR(nn, 1, 1e-14);
    int q[3] = {4, 1, 2};
    HQ_CHECK_OK(hq_sv_marginal(sv, q, 3, m));
    for (int j = 0; j < 8; j++) {
        double want = 0;
        for (int i = 0; i < 32; i++)
            if (((i >> 4 & 1) | (i >> 1 & 1) << 1 | (i >> 2 & 1) << 2) == j) want += p[i];
        HQ_CHECK_NEAR(m[j], want, 1e-15);
    }
    HQ_CHECK_OK(hq_sv_init_basis(sv, 19));
    HQ_CHECK_OK(hq_sv_probabilities(sv, p));
    HQ_CHECK(p[19] == 1 && p[18] == 0);
    hq_sv_free(sv);
}

/* ==== sampling ======================================================================== */

HQ_TEST(sv_sampling_chi_square_and_reproducibility) {
    hq_rng r;
    hq_rng_init(&r, 42, 0, 0);
    const int n = 4;
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(n, &sv));
    random_state(&r, hq_sv_amps(sv), 16);
    double p[16];
    HQ_REQUIRE_OK(hq_sv_probabilities(sv, p));
    const int64_t shots = 200000;
    hq_counts a, b, c;
    HQ_REQUIRE_OK(hq_sv_sample(sv, shots, 1234, 7, &a));
    HQ_REQUIRE_OK(hq_sv_sample(sv, shots, 1234, 7, &b));
    HQ_REQUIRE_OK(hq_sv_sample(sv, shots, 1234, 8, &c));
    HQ_CHECK_EQ_INT(a.shots, shots);
    /* chi-square, 15 degrees of freedom: 0.1% critical value 37.70 */
    double chi2 = 0;
    for (int i = 0; i < 16; i++) {
        double e = p[i] * (double)shots, o = (double)hq_counts_get(&a, (uint64_t)i);
        chi2 += (o - e) * (o - e) / e;
    }
    HQ_CHECKF(chi2 < 37.70, "chi2 = %.2f", chi2);
    bool same = a.n == b.n, differ = false;
    for (int i = 0; i < 16; i++) {
        if (hq_counts_get(&a, (uint64_t)i) != hq_counts_get(&b, (uint64_t)i)) same = false;
        if (hq_counts_get(&a, (uint64_t)i) != hq_counts_get(&c, (uint64_t)i)) differ = true;
    }
    HQ_CHECK(same);
    HQ_CHECK(differ);
    hq_counts_free(&a);
    hq_counts_free(&b);
    hq_counts_free(&c);
    /* a basis state always gives the same outcome; one shot works */
    HQ_REQUIRE_OK(hq_sv_init_basis(sv, 9));
    HQ_REQUIRE_OK(hq_sv_sample(sv, 1, 1, 1, &a));
    HQ_CHECK(a.n == 1 && a.outcome[0] == 9 && a.count[0] == 1);
    hq_counts_free(&a);
    hq_sv_free(sv);
}

static hq_circuit *new_circuit(int nq, int nc) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", nq, NULL);
    if (nc) hq_circuit_add_creg(c, "c", nc, NULL);
    return c;
}

HQ_TEST(sv_run_static_circuits) {
    /* Bell pair measured into swapped clbits: outcomes 00 and 11 only, ~50/50 */
    hq_circuit *c = new_circuit(3, 2);
    HQ_REQUIRE(c);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 1));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 2, 0));
    HQ_CHECK(!hq_circuit_is_dynamic(c));
    hq_counts k;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 10000, 5, 0, &k));
    HQ_CHECK_EQ_INT(k.n_bits, 2);
    HQ_CHECK_EQ_INT(k.shots, 10000);
    HQ_CHECK_EQ_INT(hq_counts_get(&k, 1) + hq_counts_get(&k, 2), 0);
    HQ_CHECK(fabs(hq_counts_prob(&k, 3) - 0.5) < 5 * 0.005);
    hq_counts_free(&k);
    /* X on qubit 1 only, measured into clbit 1: always 2 */
    hq_circuit_free(c);
    c = new_circuit(2, 2);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 100, 5, 0, &k));
    HQ_CHECK(k.n == 1 && k.outcome[0] == 2 && k.count[0] == 100);
    hq_counts_free(&k);
    hq_circuit_free(c);
    /* no measurement at all: every qubit measured, outcome = basis index */
    c = new_circuit(3, 0);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL));
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 10, 5, 0, &k));
    HQ_CHECK(k.n_bits == 3 && k.n == 1 && k.outcome[0] == 4);
    hq_counts_free(&k);
    hq_circuit_free(c);
}

HQ_TEST(sv_run_dynamic_teleportation) {
    /* teleport RY(theta)|0> from q0 to q2: P(q2 = 1) = sin^2(theta/2) */
    const double theta = 1.1;
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int c0, c1;
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m0", 1, &c0));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m1", 1, &c1));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "out", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){0}, &theta));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, c1, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_Z, (int[]){2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, c0, 1));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 2, 2));
    HQ_CHECK(hq_circuit_is_dynamic(c));
    const int64_t shots = 20000;
    hq_counts k, k2;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, shots, 77, 3, &k));
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, shots, 77, 3, &k2));
    double p1 = 0, pm[4] = {0};
    for (int64_t i = 0; i < k.n; i++) {
        if (k.outcome[i] & 4) p1 += (double)k.count[i] / (double)shots;
        pm[k.outcome[i] & 3] += (double)k.count[i] / (double)shots;
    }
    double want = sin(theta / 2) * sin(theta / 2), sd = sqrt(want * (1 - want) / (double)shots);
    HQ_CHECKF(fabs(p1 - want) < 5 * sd, "P(out=1) = %.4f, want %.4f", p1, want);
    for (int j = 0; j < 4; j++)
        HQ_CHECK(fabs(pm[j] - 0.25) < 5 * sqrt(0.25 * 0.75 / (double)shots));
    /* same seed, same stream: identical histograms */
    HQ_CHECK(k.n == k2.n);
    for (int64_t i = 0; i < k.n && i < k2.n; i++)
        HQ_CHECK(k.outcome[i] == k2.outcome[i] && k.count[i] == k2.count[i]);
    hq_counts_free(&k);
    hq_counts_free(&k2);
    hq_circuit_free(c);
}

HQ_TEST(sv_run_dynamic_reset_and_condition) {
    /* H; reset; measure -> always 0. Then X on q1 conditioned on the first result (never). */
    hq_circuit *c = new_circuit(2, 2);
    HQ_REQUIRE(c);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 0));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    hq_counts k;
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 500, 1, 2, &k));
    HQ_CHECK(k.n == 1 && k.outcome[0] == 0 && k.count[0] == 500);
    hq_counts_free(&k);
    hq_circuit_free(c);
    /* H q0; measure q0 -> c0; if (c == 1) x q1; measure q1 -> c1: outcomes 00 and 11 only */
    c = new_circuit(2, 2);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 1, 1));
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 10000, 9, 0, &k));
    HQ_CHECK_EQ_INT(hq_counts_get(&k, 1) + hq_counts_get(&k, 2), 0);
    HQ_CHECK(fabs(hq_counts_prob(&k, 3) - 0.5) < 0.025);
    hq_counts_free(&k);
    /* reset of |1>, dynamic circuit without measurement: all qubits measured at the end */
    hq_circuit_free(c);
    c = new_circuit(2, 0);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 0));
    HQ_REQUIRE_OK(hq_sv_run(c, NULL, 50, 9, 0, &k));
    HQ_CHECK(k.n_bits == 2 && k.n == 1 && k.outcome[0] == 2 && k.count[0] == 50);
    hq_counts_free(&k);
    hq_circuit_free(c);
}

HQ_TEST(sv_measure_and_reset_qubit) {
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(2, &sv));
    HQ_REQUIRE_OK(hq_sv_apply_gate(sv, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_sv_apply_gate(sv, HQ_GATE_CX, (int[]){0, 1}, NULL));
    hq_rng r;
    hq_rng_init(&r, 1, 1, 0);
    int out;
    HQ_REQUIRE_OK(hq_sv_measure(sv, 0, &r, &out));
    double p[4], nn;
    HQ_REQUIRE_OK(hq_sv_probabilities(sv, p));
    HQ_CHECK_NEAR(p[out ? 3 : 0], 1, 1e-15);
    HQ_REQUIRE_OK(hq_sv_norm2(sv, &nn));
    HQ_CHECK_NEAR(nn, 1, 1e-15);
    HQ_REQUIRE_OK(hq_sv_reset_qubit(sv, 0, &r));
    HQ_REQUIRE_OK(hq_sv_reset_qubit(sv, 1, &r));
    HQ_REQUIRE_OK(hq_sv_probabilities(sv, p));
    HQ_CHECK_NEAR(p[0], 1, 1e-15);
    hq_sv_free(sv);
}

/* ==== memory limit and errors ========================================================= */

HQ_TEST(sv_memory_limit) {
    hq_sv *sv = (hq_sv *)1;
    HQ_CHECK_FAILS(hq_sv_create(60, &sv), HQ_ERR_NOMEM, "60 qubits need 16.0 EiB");
    HQ_CHECK(sv == NULL);
    HQ_CHECK(strstr(hq_last_error(), "available") != NULL);
    HQ_CHECK_FAILS(hq_sv_create(63, &sv), HQ_ERR_INVALID_ARG, "63 qubits out of range [1, 62]");
    HQ_CHECK_FAILS(hq_sv_create(0, &sv), HQ_ERR_INVALID_ARG, "out of range");
    hq_sv_set_memory_limit((size_t)1 << 20);
    HQ_CHECK_EQ_INT(hq_sv_memory_limit(), 1 << 20);
    HQ_CHECK_FAILS(
        hq_sv_create(17, &sv), HQ_ERR_NOMEM,
        "17 qubits need 2.0 MiB (1 x 2^17 amplitudes x 16 bytes), more than the 1.0 MiB");
    HQ_CHECK_OK(hq_sv_create(16, &sv));
    hq_sv_free(sv);
    hq_circuit *c = new_circuit(17, 0);
    hq_counts k;
    HQ_CHECK_FAILS(hq_sv_run(c, NULL, 10, 0, 0, &k), HQ_ERR_NOMEM, "hq_sv_run: 17 qubits need");
    hq_counts_free(&k);
    hq_circuit_free(c);
    hq_sv_set_memory_limit(0);
    HQ_CHECK(hq_sv_memory_limit() > ((size_t)1 << 20));
    size_t b;
    HQ_CHECK_OK(hq_sv_bytes(30, &b));
    HQ_CHECK(b == (size_t)16 << 30);
    HQ_CHECK_OK(hq_sv_bytes(62, &b));
    HQ_CHECK(b == SIZE_MAX);
    HQ_CHECK_FAILS(hq_sv_bytes(0, &b), HQ_ERR_INVALID_ARG, "hq_sv_bytes: 0 qubits");
    HQ_CHECK_FAILS(hq_sv_bytes(3, NULL), HQ_ERR_INVALID_ARG, "bytes is NULL");
}

HQ_TEST(sv_alloc_failures) {
    for (long n = 1; n <= 3; n++) {
        hq_sv *sv = NULL;
        hq_alloc_fail_after(n);
        hq_status st = hq_sv_create(3, &sv);
        hq_alloc_fail_after(0);
        if (st == HQ_OK) {
            hq_sv_free(sv);
            continue;
        }
        HQ_CHECK_EQ_INT(st, HQ_ERR_NOMEM);
        HQ_CHECK(sv == NULL);
    }
    hq_circuit *c = new_circuit(2, 1);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 0));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    for (long n = 1; n <= 8; n++) {
        hq_counts k;
        hq_alloc_fail_after(n);
        hq_status st = hq_sv_run(c, NULL, 20, 1, 1, &k);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        HQ_CHECK(st == HQ_OK || (fired && st == HQ_ERR_NOMEM));
        hq_counts_free(&k);
    }
    hq_circuit_free(c);
}

HQ_TEST(sv_bad_arguments) {
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(3, &sv));
    double p1 = 0.5, nan_p = NAN, out;
    hq_cplx m[4] = {1, 0, 0, 1};
    HQ_CHECK_FAILS(hq_sv_create(3, NULL), HQ_ERR_INVALID_ARG, "hq_sv_create: out is NULL");
    HQ_CHECK_FAILS(hq_sv_clone(NULL, &sv), HQ_ERR_MISUSE, "hq_sv_clone: invalid handle");
    HQ_CHECK_FAILS(hq_sv_clone(sv, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_init_basis(sv, 8), HQ_ERR_INVALID_ARG, "index 8 out of range [0, 8)");
    HQ_CHECK_FAILS(hq_sv_init_basis(NULL, 0), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_sv_set_amps(sv, m, 4), HQ_ERR_INVALID_ARG,
                   "4 amplitudes given, the state has 2^3 = 8");
    HQ_CHECK_FAILS(hq_sv_set_amps(sv, NULL, 8), HQ_ERR_INVALID_ARG, "amps is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_MEASURE, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "gate 42 (measure) is not a unitary gate");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, (hq_gate)999, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "out of range");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_H, (int[]){3}, NULL), HQ_ERR_INVALID_ARG,
                   "hq_sv_apply_gate: qubit 3 out of range [0, 3)");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_CX, (int[]){1, 1}, NULL), HQ_ERR_INVALID_ARG,
                   "qubit 1 appears twice");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_H, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "qubits is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_RX, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "'rx' needs 1 parameters, got NULL");
    HQ_CHECK_FAILS(hq_sv_apply_gate(sv, HQ_GATE_RX, (int[]){0}, &nan_p), HQ_ERR_INVALID_ARG,
                   "parameter 0 of 'rx' is not finite");
    HQ_CHECK_FAILS(hq_sv_apply_gate(NULL, HQ_GATE_RX, (int[]){0}, &p1), HQ_ERR_MISUSE,
                   "invalid handle");
    HQ_CHECK_FAILS(hq_sv_apply_matrix(sv, m, (int[]){0}, 0), HQ_ERR_INVALID_ARG,
                   "hq_sv_apply_matrix: k = 0 out of range [1, 3]");
    HQ_CHECK_FAILS(hq_sv_apply_matrix(sv, NULL, (int[]){0}, 1), HQ_ERR_INVALID_ARG, "m is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_matrix(sv, m, (int[]){5}, 1), HQ_ERR_INVALID_ARG,
                   "qubit 5 out of range");
    HQ_CHECK_FAILS(hq_sv_apply_controlled(sv, m, (int[]){0}, 3, 1), HQ_ERR_INVALID_ARG,
                   "n_controls 3 out of range [0, 3)");
    HQ_CHECK_FAILS(hq_sv_apply_controlled(sv, m, NULL, 1, 1), HQ_ERR_INVALID_ARG,
                   "controls is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_controlled(sv, m, (int[]){1}, 1, 1), HQ_ERR_INVALID_ARG,
                   "appears twice");
    HQ_CHECK_FAILS(hq_sv_apply_controlled(sv, NULL, (int[]){1}, 1, 0), HQ_ERR_INVALID_ARG,
                   "m is NULL");
    HQ_CHECK_FAILS(hq_sv_norm2(sv, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_probabilities(sv, NULL), HQ_ERR_INVALID_ARG, "probs is NULL");
    double pr[8];
    HQ_CHECK_FAILS(hq_sv_marginal(sv, (int[]){0}, 4, pr), HQ_ERR_INVALID_ARG,
                   "k = 4 out of range [1, 3]");
    HQ_CHECK_FAILS(hq_sv_marginal(sv, (int[]){0}, 1, NULL), HQ_ERR_INVALID_ARG, "probs is NULL");
    HQ_CHECK_FAILS(hq_sv_marginal(sv, (int[]){0, 0}, 2, pr), HQ_ERR_INVALID_ARG, "appears twice");
    hq_pauli far = hq_pauli_single('Z', 5);
    HQ_CHECK_FAILS(hq_sv_expect_pauli(sv, &far, &out), HQ_ERR_INVALID_ARG,
                   "acts on qubit 5, out of range [0, 3)");
    HQ_CHECK_FAILS(hq_sv_expect_pauli(sv, NULL, &out), HQ_ERR_INVALID_ARG, "p is NULL");
    HQ_CHECK_FAILS(hq_sv_expect_pauli(sv, &far, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_pauli z0 = hq_pauli_single('Z', 0);
    hq_pauli_sum bad = {&z0, 0}, good = {&z0, 1};
    HQ_CHECK_FAILS(hq_sv_expect(sv, &bad, 1, &out), HQ_ERR_INVALID_ARG, "observable 0 has 0 terms");
    HQ_CHECK_FAILS(hq_sv_expect(sv, &good, 0, &out), HQ_ERR_INVALID_ARG, "n_obs 0, need >= 1");
    HQ_CHECK_FAILS(hq_sv_expect(sv, NULL, 1, &out), HQ_ERR_INVALID_ARG, "obs is NULL");
    HQ_CHECK_FAILS(hq_sv_expect(sv, &good, 1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_pauli nanc = {NAN, 0, 1};
    hq_pauli_sum badc = {&nanc, 1};
    HQ_CHECK_FAILS(hq_sv_expect(sv, &badc, 1, &out), HQ_ERR_INVALID_ARG, "non-finite coefficient");
    hq_counts k;
    HQ_CHECK_FAILS(hq_sv_sample(sv, 0, 1, 1, &k), HQ_ERR_INVALID_ARG,
                   "shots 0 out of range [1, 2^40]");
    hq_counts_free(&k);
    HQ_CHECK_FAILS(hq_sv_sample(sv, 1, 1, 1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_sv *zero;
    HQ_REQUIRE_OK(hq_sv_create(1, &zero));
    hq_sv_amps(zero)[0] = 0;
    HQ_CHECK_FAILS(hq_sv_sample(zero, 5, 1, 1, &k), HQ_ERR_INVALID_ARG, "has norm 0");
    hq_counts_free(&k);
    hq_sv_free(zero);
    hq_rng r;
    hq_rng_init(&r, 0, 0, 0);
    int o;
    HQ_CHECK_FAILS(hq_sv_measure(sv, 3, &r, &o), HQ_ERR_INVALID_ARG,
                   "hq_sv_measure: qubit 3 out of range");
    HQ_CHECK_FAILS(hq_sv_measure(sv, 0, NULL, &o), HQ_ERR_INVALID_ARG, "rng is NULL");
    HQ_CHECK_FAILS(hq_sv_measure(sv, 0, &r, NULL), HQ_ERR_INVALID_ARG, "outcome is NULL");
    HQ_CHECK_FAILS(hq_sv_reset_qubit(sv, -1, &r), HQ_ERR_INVALID_ARG, "qubit -1 out of range");
    HQ_CHECK_FAILS(hq_sv_reset_qubit(sv, 0, NULL), HQ_ERR_INVALID_ARG, "rng is NULL");
    /* circuits */
    hq_circuit *c = new_circuit(2, 1), *dyn = new_circuit(3, 1);
    int s;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "theta", HQ_SYM_WEIGHT, &s));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, (hq_angle[]){hq_angle_sym(s, 1, 0)}));
    HQ_REQUIRE_OK(hq_circuit_add_reset(dyn, 0));
    HQ_CHECK_FAILS(hq_sv_apply_circuit(sv, c, &p1), HQ_ERR_INVALID_ARG,
                   "the circuit has 2 qubits, the state 3");
    HQ_CHECK_FAILS(hq_sv_apply_circuit(sv, NULL, &p1), HQ_ERR_INVALID_ARG, "circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_circuit(sv, dyn, NULL), HQ_ERR_UNSUPPORTED, "hq_sv_run");
    hq_sv *s2;
    HQ_CHECK_FAILS(hq_sv_simulate(c, NULL, &s2), HQ_ERR_INVALID_ARG,
                   "the circuit has 1 symbols but no values were given");
    HQ_CHECK_FAILS(hq_sv_simulate(c, &nan_p, &s2), HQ_ERR_INVALID_ARG,
                   "value of symbol 'theta' is not finite");
    HQ_CHECK_FAILS(hq_sv_simulate(NULL, &p1, &s2), HQ_ERR_INVALID_ARG, "circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_simulate(c, &p1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_run(c, &p1, 0, 1, 1, &k), HQ_ERR_INVALID_ARG, "shots 0 out of range");
    hq_counts_free(&k);
    HQ_CHECK_FAILS(hq_sv_run(c, NULL, 10, 1, 1, &k), HQ_ERR_INVALID_ARG, "no values were given");
    hq_counts_free(&k);
    HQ_CHECK_FAILS(hq_sv_run(NULL, NULL, 10, 1, 1, &k), HQ_ERR_INVALID_ARG, "circuit is NULL");
    hq_counts_free(&k);
    HQ_CHECK_FAILS(hq_sv_run(c, &p1, 10, 1, 1, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_circuit *wide = new_circuit(2, 65);
    HQ_REQUIRE_OK(hq_circuit_add_measure(wide, 0, 64));
    HQ_CHECK_FAILS(hq_sv_run(wide, NULL, 10, 1, 1, &k), HQ_ERR_UNSUPPORTED, "65 classical bits");
    hq_counts_free(&k);
    hq_circuit_free(wide);
    hq_circuit_free(c);
    hq_circuit_free(dyn);
    /* a freed handle is caught */
    hq_sv *dead;
    HQ_REQUIRE_OK(hq_sv_create(1, &dead));
    hq_sv_free(dead);
    hq_sv_free(NULL);
    HQ_CHECK_EQ_INT(hq_sv_n_qubits(NULL), 0);
    HQ_CHECK_EQ_INT(hq_sv_dim(NULL), 0);
    HQ_CHECK(hq_sv_amps(NULL) == NULL);
    hq_sv_free(sv);
}

/* ==== gradients ======================================================================= */

/* expectations of obs for circuit c at sym, via the reference simulator and pauli_ref */
static void ref_expect(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs, int n_obs,
                       double *out) {
    int n = hq_circuit_n_qubits(c);
    hq_cplx *psi = hq_malloc(((size_t)1 << n) * sizeof *psi);
    hq_ref_simulate(c, sym, true, psi);
    for (int k = 0; k < n_obs; k++) {
        out[k] = 0;
        for (int t = 0; t < obs[k].n_terms; t++) out[k] += pauli_ref(psi, n, &obs[k].terms[t]);
    }
    hq_free(psi);
}

/* central finite differences of the reference expectations, h = 1e-5 */
static void fd_jacobian(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs, int n_obs,
                        double *jac) {
    int ns = hq_circuit_n_symbols(c);
    double *s = hq_malloc((size_t)ns * sizeof *s), ep[8], em[8];
    const double h = 1e-5;
    for (int j = 0; j < ns; j++) {
        memcpy(s, sym, (size_t)ns * sizeof *s);
        s[j] = sym[j] + h;
        ref_expect(c, s, obs, n_obs, ep);
        s[j] = sym[j] - h;
        ref_expect(c, s, obs, n_obs, em);
        for (int k = 0; k < n_obs; k++) jac[k * ns + j] = (ep[k] - em[k]) / (2 * h);
    }
    hq_free(s);
}

static void random_paulis(hq_rng *r, int n, hq_pauli *t, int count) {
    for (int i = 0; i < count; i++) {
        t[i].coef = hq_rng_normal(r);
        t[i].x = hq_rng_u64(r) & ((1ull << n) - 1);
        t[i].z = hq_rng_u64(r) & ((1ull << n) - 1);
    }
}

/* adjoint == parameter shift == finite differences, VJP == J^T g, for circuit c */
static void check_gradients(const hq_circuit *c, const double *sym, const hq_pauli_sum *obs,
                            int n_obs, const char *what) {
    int ns = hq_circuit_n_symbols(c);
    double *ja = hq_calloc((size_t)(n_obs * ns), sizeof *ja);
    double *jp = hq_calloc((size_t)(n_obs * ns), sizeof *jp);
    double *jf = hq_calloc((size_t)(n_obs * ns), sizeof *jf);
    double *v = hq_calloc((size_t)ns, sizeof *v);
    double e[8], eref[8], e2[8], g[8];
    HQ_CHECK_OK(hq_sv_adjoint_jacobian(c, sym, obs, n_obs, e, ja));
    HQ_CHECK_OK(hq_sv_shift_jacobian(c, sym, obs, n_obs, jp));
    fd_jacobian(c, sym, obs, n_obs, jf);
    ref_expect(c, sym, obs, n_obs, eref);
    for (int k = 0; k < n_obs; k++) {
        HQ_CHECKF(fabs(e[k] - eref[k]) <= 1e-12, "%s: expectation %d %.17g vs %.17g", what, k, e[k],
                  eref[k]);
        for (int j = 0; j < ns; j++) {
            double a = ja[k * ns + j], p = jp[k * ns + j], f = jf[k * ns + j];
            HQ_CHECKF(fabs(a - f) <= 1e-6, "%s: d<O%d>/d%s adjoint %.12g vs FD %.12g", what, k,
                      hq_circuit_symbol_name(c, j), a, f);
            HQ_CHECKF(fabs(a - p) <= 1e-10, "%s: d<O%d>/d%s adjoint %.12g vs shift %.12g", what, k,
                      hq_circuit_symbol_name(c, j), a, p);
        }
    }
    hq_rng r;
    hq_rng_init(&r, 17, 17, 0);
    for (int k = 0; k < n_obs; k++) g[k] = hq_rng_normal(&r);
    HQ_CHECK_OK(hq_sv_adjoint_vjp(c, sym, obs, n_obs, g, e2, v));
    for (int j = 0; j < ns; j++) {
        double want = 0;
        for (int k = 0; k < n_obs; k++) want += g[k] * ja[k * ns + j];
        HQ_CHECKF(fabs(v[j] - want) <= 1e-12, "%s: vjp[%d] %.17g vs J^T g %.17g", what, j, v[j],
                  want);
    }
    for (int k = 0; k < n_obs; k++) HQ_CHECK_NEAR(e2[k], e[k], 1e-14);
    hq_free(ja);
    hq_free(jp);
    hq_free(jf);
    hq_free(v);
}

/* a constant random layer: U3 on every qubit, then a CX chain */
static void scramble(hq_circuit *c, hq_rng *r, int n) {
    for (int q = 0; q < n; q++) {
        double p[3] = {rnd_angle(r), rnd_angle(r), rnd_angle(r)};
        hq_circuit_add_gate(c, HQ_GATE_U3, &q, p);
    }
    for (int q = 0; q + 1 < n; q++) hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){q, q + 1}, NULL);
}

HQ_TEST(sv_gradients_every_parameterised_gate) {
    /* one circuit per gate: scramble, the gate with each parameter an affine function of
     * its own symbol, scramble; checks each shift rule on its own */
    hq_rng r;
    hq_rng_init(&r, 314, 0, 0);
    const int n = 3;
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind != HQ_KIND_UNITARY || gi->np == 0) continue;
        hq_circuit *c = new_circuit(n, 0);
        HQ_REQUIRE(c);
        scramble(c, &r, n);
        hq_angle a[4];
        double sym[4];
        for (int i = 0; i < gi->np; i++) {
            char name[8] = {'p', (char)('0' + i), 0};
            int s;
            HQ_REQUIRE_OK(hq_circuit_add_symbol(c, name, HQ_SYM_WEIGHT, &s));
            a[i] = hq_angle_sym(s, 0.5 + hq_rng_uniform(&r), rnd_angle(&r) * 0.1);
            sym[i] = rnd_angle(&r);
        }
        int q[3];
        rnd_qubits(&r, n, gi->nq, q);
        HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, (hq_gate)g, q, a));
        scramble(c, &r, n);
        hq_pauli t[4];
        random_paulis(&r, n, t, 4);
        hq_pauli_sum obs[2] = {{t, 2}, {t + 2, 2}};
        check_gradients(c, sym, obs, 2, gi->name);
        /* the plan shifts the template's own symbols here */
        hq_shift_plan plan;
        HQ_REQUIRE_OK(hq_sv_shift_plan(c, sym, &plan));
        HQ_CHECK(plan.circuit == c && plan.owned == NULL && plan.n_symbols == gi->np);
        hq_sv_shift_plan_free(&plan);
        hq_circuit_free(c);
    }
}

HQ_TEST(sv_gradients_random_circuits_shared_symbols) {
    /* random circuits where symbols are shared between gates and angles mix symbols: the
     * shift plan needs the expanded template */
    hq_rng r;
    hq_rng_init(&r, 2718, 0, 0);
    for (int n = 1; n <= 4; n++) {
        hq_circuit *c = new_circuit(n, 1);
        HQ_REQUIRE(c);
        const int ns = 5;
        double sym[5];
        for (int s = 0; s < ns; s++) {
            char name[8] = {'s', (char)('0' + s), 0};
            HQ_REQUIRE_OK(
                hq_circuit_add_symbol(c, name, s & 1 ? HQ_SYM_INPUT : HQ_SYM_WEIGHT, NULL));
            sym[s] = rnd_angle(&r);
        }
        for (int g = 0; g < HQ_GATE_COUNT; g++) {
            const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
            if (!gate_usable((hq_gate)g, n)) continue;
            hq_angle a[4];
            for (int i = 0; i < gi->np; i++) {
                a[i] = hq_angle_sym((int32_t)hq_rng_below(&r, ns), rnd_angle(&r), rnd_angle(&r));
                if (hq_rng_below(&r, 2)) { /* a second symbol in the same angle */
                    a[i].sym[1] = (int32_t)hq_rng_below(&r, ns);
                    a[i].coef[1] = rnd_angle(&r);
                    a[i].n = a[i].sym[1] == a[i].sym[0] ? 1 : 2;
                }
            }
            int q[3];
            rnd_qubits(&r, n, gi->nq, q);
            HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, (hq_gate)g, q, a));
        }
        HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0)); /* terminal: ignored */
        hq_pauli t[3];
        random_paulis(&r, n, t, 3);
        hq_pauli_sum obs[3] = {{t, 1}, {t + 1, 1}, {t + 2, 1}};
        char what[32];
        snprintf(what, sizeof what, "random n=%d", n);
        check_gradients(c, sym, obs, 3, what);
        hq_shift_plan plan;
        HQ_REQUIRE_OK(hq_sv_shift_plan(c, sym, &plan));
        HQ_CHECK(plan.owned != NULL && plan.circuit == plan.owned);
        HQ_CHECK_EQ_INT(plan.n_grad, ns);
        HQ_CHECK(plan.n_symbols > ns);
        hq_sv_shift_plan_free(&plan);
        hq_circuit_free(c);
    }
}

HQ_TEST(sv_shift_rules_table) {
    /* every parameterised gate has a rule; coefficients of a rule sum to zero (a constant
     * function has zero derivative) and the rule differentiates sin/cos of the right
     * frequency exactly */
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        for (int k = 0; k < gi->np; k++) {
            hq_shift_rule r;
            HQ_REQUIRE_OK(hq_sv_shift_rule((hq_gate)g, k, &r));
            HQ_CHECK(r.n_terms == 2 || r.n_terms == 4);
            double sum = 0;
            for (int t = 0; t < r.n_terms; t++) sum += r.coef[t];
            HQ_CHECK_NEAR(sum, 0, 1e-15);
        }
    }
    hq_shift_rule r;
    HQ_CHECK_FAILS(hq_sv_shift_rule(HQ_GATE_H, 0, &r), HQ_ERR_INVALID_ARG,
                   "gate 4 (h) has no parameters");
    HQ_CHECK_FAILS(hq_sv_shift_rule(HQ_GATE_U3, 3, &r), HQ_ERR_INVALID_ARG,
                   "parameter 3 out of range [0, 3) for 'u3'");
    HQ_CHECK_FAILS(hq_sv_shift_rule(HQ_GATE_RX, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_shift_rule(HQ_GATE_MEASURE, 0, &r), HQ_ERR_INVALID_ARG,
                   "has no parameters");
}

HQ_TEST(sv_gradient_bad_arguments) {
    hq_circuit *c = new_circuit(2, 1), *dyn = new_circuit(2, 1);
    int s;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "w", HQ_SYM_WEIGHT, &s));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, (hq_angle[]){hq_angle_sym(s, 1, 0)}));
    HQ_REQUIRE_OK(hq_circuit_add_reset(dyn, 0));
    hq_pauli z = hq_pauli_single('Z', 0), far = hq_pauli_single('Z', 2);
    hq_pauli_sum o = {&z, 1}, of = {&far, 1};
    double w = 0.3, nanv = NAN, jac[2], e[1], g[1] = {1};
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(NULL, &w, &o, 1, e, jac), HQ_ERR_INVALID_ARG,
                   "hq_sv_adjoint_jacobian: circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(dyn, NULL, &o, 1, e, jac), HQ_ERR_UNSUPPORTED,
                   "the circuit is dynamic");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, &w, &of, 1, e, jac), HQ_ERR_INVALID_ARG,
                   "acts on qubit 2, out of range [0, 2)");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, &w, &o, 0, e, jac), HQ_ERR_INVALID_ARG, "n_obs 0");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, &w, &o, 1, e, NULL), HQ_ERR_INVALID_ARG,
                   "jac is NULL");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, NULL, &o, 1, e, jac), HQ_ERR_INVALID_ARG,
                   "no values were given");
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, &nanv, &o, 1, e, jac), HQ_ERR_INVALID_ARG,
                   "value of symbol 'w' is not finite");
    HQ_CHECK_FAILS(hq_sv_adjoint_vjp(c, &w, &o, 1, NULL, e, jac), HQ_ERR_INVALID_ARG,
                   "dexpect is NULL");
    HQ_CHECK_FAILS(hq_sv_adjoint_vjp(c, &w, &o, 1, &nanv, e, jac), HQ_ERR_INVALID_ARG,
                   "dexpect[0] is not finite");
    HQ_CHECK_FAILS(hq_sv_adjoint_vjp(c, &w, &o, 1, g, e, NULL), HQ_ERR_INVALID_ARG, "dsym is NULL");
    HQ_CHECK_FAILS(hq_sv_adjoint_vjp(dyn, &w, &o, 1, g, e, jac), HQ_ERR_UNSUPPORTED, "dynamic");
    hq_shift_plan plan;
    HQ_CHECK_FAILS(hq_sv_shift_plan(c, NULL, &plan), HQ_ERR_INVALID_ARG, "no values were given");
    hq_sv_shift_plan_free(&plan);
    HQ_CHECK_FAILS(hq_sv_shift_plan(NULL, &w, &plan), HQ_ERR_INVALID_ARG, "circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_shift_plan(c, &w, NULL), HQ_ERR_INVALID_ARG, "plan is NULL");
    hq_sv_shift_plan_free(NULL);
    HQ_CHECK_FAILS(hq_sv_shift_jacobian(dyn, NULL, &o, 1, jac), HQ_ERR_UNSUPPORTED, "dynamic");
    HQ_CHECK_FAILS(hq_sv_shift_jacobian(c, &w, &o, 1, NULL), HQ_ERR_INVALID_ARG, "jac is NULL");
    HQ_CHECK_FAILS(hq_sv_shift_jacobian(c, &w, &of, 1, jac), HQ_ERR_INVALID_ARG, "acts on qubit 2");
    /* a plan of a dynamic circuit is fine (it only shifts angles) */
    HQ_CHECK_OK(hq_sv_shift_plan(dyn, NULL, &plan));
    HQ_CHECK_EQ_INT(plan.n_rows, 0);
    hq_sv_shift_plan_free(&plan);
    /* memory limit applies to the (n_obs + 1) states of the Jacobian */
    hq_sv_set_memory_limit(100);
    HQ_CHECK_FAILS(hq_sv_adjoint_jacobian(c, &w, &o, 1, e, jac), HQ_ERR_NOMEM,
                   "2 qubits need 128 B (2 x 2^2 amplitudes");
    hq_sv_set_memory_limit(0);
    hq_circuit_free(c);
    hq_circuit_free(dyn);
}

/* ==== batched path ==================================================================== */

/*
 * The HQCNN template (n = 4, L = 2): symbols x0..x3 (inputs) first, then the 36 weights in
 * order of use: per layer the U3 angles (theta, phi, lambda) of qubits 0..3, then the six
 * controlled-phase angles alpha_ij (i < j, in loop order). Observables Z0..Z3, X0..X3.
 */
static hq_circuit *hqcnn_template(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 4, NULL);
    int x[4], w[36];
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "x%d", i);
        hq_circuit_add_symbol(c, name, HQ_SYM_INPUT, &x[i]);
    }
    for (int j = 0; j < 36; j++) {
        snprintf(name, sizeof name, "w%d", j);
        hq_circuit_add_symbol(c, name, HQ_SYM_WEIGHT, &w[j]);
    }
    for (int i = 0; i < 4; i++) {
        hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, &i, (hq_angle[]){hq_angle_sym(x[i], 1, 0)});
    }
    int k = 0;
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < 4; i++, k += 3)
            hq_circuit_add_gate_sym(c, HQ_GATE_U3, &i,
                                    (hq_angle[]){hq_angle_sym(w[k], 1, 0),
                                                 hq_angle_sym(w[k + 1], 1, 0),
                                                 hq_angle_sym(w[k + 2], 1, 0)});
        for (int i = 0; i < 4; i++)
            hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){i, (i + 1) % 4}, NULL);
        for (int i = 0; i < 4; i++)
            hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){(i + 3) % 4, (i + 1) % 4, i}, NULL);
        for (int i = 0; i < 4; i++) {
            hq_circuit_add_gate(c, HQ_GATE_H, &i, NULL);
            for (int j = i + 1; j < 4; j++, k++)
                hq_circuit_add_gate_sym(c, HQ_GATE_CP, (int[]){j, i},
                                        (hq_angle[]){hq_angle_sym(w[k], 1, 0)});
        }
    }
    return c;
}

static hq_pauli hqcnn_paulis[8];
static hq_pauli_sum hqcnn_obs[8];
static void hqcnn_observables(void) {
    for (int i = 0; i < 4; i++) {
        hqcnn_paulis[i] = hq_pauli_single('Z', i);
        hqcnn_paulis[4 + i] = hq_pauli_single('X', i);
    }
    for (int k = 0; k < 8; k++) hqcnn_obs[k] = (hq_pauli_sum){&hqcnn_paulis[k], 1};
}

HQ_TEST(sv_batch_hqcnn_reference_values) {
    /* Reference values: an independent numpy implementation (dense 16x16 matrices built
     * from basis mappings, textbook gate definitions) of the same template and parameter
     * formulas, run once with numpy 1.24.2:
     *   x_i = pi sin(0.9 i + 1.3 s + 0.2),  w_j = 2 cos(0.37 j (s + 1) + 0.5 s),  s = 0, 1, 2
     * printed as <Z0..Z3>, <X0..X3> with 17 significant digits. */
    static const double ref[3][8] = {
        {0.3324768794996843, 0.32083062057919265, -0.041342970174730688, 0.14566188676774111,
         -0.37229893492133748, 0.039666634915120957, 0.3801771102559906, 0.43040678421520984},
        {-0.031871416325602309, 0.27795165412709466, 0.10842628345360378, -0.063080443027480559,
         0.057042907211125177, 0.46723917956778138, 0.44621386209729541, -0.15800727840535495},
        {0.38981827881368453, -0.022327110638429931, -0.15637950444135743, -0.093003129073992247,
         -0.28527223635847632, -0.20916553101673946, -0.23670298018532177, 0.0053832398668314796},
    };
    hq_circuit *c = hqcnn_template();
    HQ_REQUIRE(c);
    HQ_CHECK_EQ_INT(hq_circuit_n_symbols(c), 40);
    hqcnn_observables();
    hq_sv_batch *b;
    HQ_REQUIRE_OK(hq_sv_batch_create(c, hqcnn_obs, 8, &b));
    HQ_CHECK_EQ_INT(hq_sv_batch_n_weights(b), 36);
    HQ_CHECK_EQ_INT(hq_sv_batch_n_inputs(b), 4);
    double sym[3][40], x[3][4], w[36], e_gen[3][8], e_sh[8], e_sv[8];
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 4; i++) x[s][i] = sym[s][i] = sin(0.9 * i + 1.3 * s + 0.2) * M_PI;
        for (int j = 0; j < 36; j++) sym[s][4 + j] = 2 * cos(0.37 * j * (s + 1) + 0.5 * s);
    }
    HQ_REQUIRE_OK(hq_sv_batch_forward(b, 3, &sym[0][0], &e_gen[0][0]));
    for (int s = 0; s < 3; s++) {
        memcpy(w, &sym[s][4], sizeof w);
        HQ_REQUIRE_OK(hq_sv_batch_forward_shared(b, 1, w, x[s], e_sh));
        hq_sv *sv;
        HQ_REQUIRE_OK(hq_sv_simulate(c, sym[s], &sv));
        HQ_REQUIRE_OK(hq_sv_expect(sv, hqcnn_obs, 8, e_sv));
        hq_sv_free(sv);
        for (int k = 0; k < 8; k++) {
            HQ_CHECKF(fabs(e_gen[s][k] - ref[s][k]) <= 1e-12,
                      "set %d obs %d: general %.17g vs %.17g", s, k, e_gen[s][k], ref[s][k]);
            HQ_CHECKF(fabs(e_sh[k] - ref[s][k]) <= 1e-12, "set %d obs %d: shared %.17g vs %.17g", s,
                      k, e_sh[k], ref[s][k]);
            HQ_CHECKF(fabs(e_sv[k] - ref[s][k]) <= 1e-12, "set %d obs %d: sv %.17g vs %.17g", s, k,
                      e_sv[k], ref[s][k]);
        }
    }
    /* the plans exploit the structure: encoding prefix, permutations compiled away, the
     * weight part folded into W in the shared case */
    hq_sv_batch_info gi, si;
    HQ_REQUIRE_OK(hq_sv_batch_info_get(b, false, &gi));
    HQ_REQUIRE_OK(hq_sv_batch_info_get(b, true, &si));
    HQ_CHECK(gi.prefix_ops == 12 && !gi.dense_w && gi.perm_ops == 16 && !gi.fallback);
    HQ_CHECKF(si.prefix_ops == 8 && si.dense_w && si.row_ops == 0 && si.shared_ops == 44,
              "%lld %d %lld %lld", (long long)si.prefix_ops, si.dense_w, (long long)si.row_ops,
              (long long)si.shared_ops);
    hq_sv_batch_free(b);
    hq_circuit_free(c);
}

/* per-row reference: expectations and the VJP from the general adjoint code */
static void batch_reference(const hq_circuit *c, const hq_pauli_sum *obs, int n_obs, int64_t rows,
                            const double *sym, const double *g, double *e, double *ds) {
    int ns = hq_circuit_n_symbols(c);
    for (int64_t r = 0; r < rows; r++)
        hq_sv_adjoint_vjp(c, sym + r * ns, obs, n_obs, g + r * n_obs, e + r * n_obs, ds + r * ns);
}

/* Check the batch (both calls) against the per-row adjoint on `rows` random rows. */
static void check_batch(const hq_circuit *c, const hq_pauli_sum *obs, int n_obs, int64_t rows,
                        int threads, uint64_t seed, const char *what) {
    hq_rng r;
    hq_rng_init(&r, seed, 0, 0);
    const int ns = hq_circuit_n_symbols(c);
    double *sym = hq_malloc((size_t)(rows * ns + 1) * sizeof *sym);
    double *g = hq_malloc((size_t)(rows * n_obs) * sizeof *g);
    double *e = hq_malloc((size_t)(rows * n_obs) * sizeof *e),
           *e2 = hq_malloc((size_t)(rows * n_obs) * sizeof *e);
    double *ds = hq_calloc((size_t)(rows * ns + 1), sizeof *ds),
           *ds2 = hq_calloc((size_t)(rows * ns + 1), sizeof *ds);
    double *eref = hq_malloc((size_t)(rows * n_obs) * sizeof *e);
    double *dref = hq_calloc((size_t)(rows * ns + 1), sizeof *ds);
    double w[64], *in = hq_malloc((size_t)(rows * ns + 1) * sizeof *in),
                  *din = hq_calloc((size_t)(rows * ns + 1), sizeof *in);
    double dw[64], dwref[64] = {0};
    hq_sv_batch *b;
    HQ_REQUIRE_OK(hq_sv_batch_create(c, obs, n_obs, &b));
    HQ_REQUIRE_OK(hq_sv_batch_set_threads(b, threads));
    const int nw = hq_sv_batch_n_weights(b), nin = hq_sv_batch_n_inputs(b);
    for (int k = 0; k < nw; k++) w[k] = rnd_angle(&r);
    for (int64_t i = 0; i < rows; i++) {
        for (int k = 0; k < nw; k++) sym[i * ns + hq_sv_batch_weight_symbol(b, k)] = w[k];
        for (int k = 0; k < nin; k++)
            sym[i * ns + hq_sv_batch_input_symbol(b, k)] = in[i * nin + k] = rnd_angle(&r);
        for (int k = 0; k < n_obs; k++) g[i * n_obs + k] = hq_rng_normal(&r);
    }
    batch_reference(c, obs, n_obs, rows, sym, g, eref, dref);
    for (int k = 0; k < nw; k++)
        for (int64_t i = 0; i < rows; i++)
            dwref[k] += dref[i * ns + hq_sv_batch_weight_symbol(b, k)];
    double worst_e = 0, worst_d = 0, worst_w = 0;
    /* (a) general */
    HQ_CHECK_OK(hq_sv_batch_forward(b, rows, sym, e));
    HQ_CHECK_OK(hq_sv_batch_backward(b, rows, sym, g, e2, ds));
    for (int64_t i = 0; i < rows * n_obs; i++) {
        worst_e = fmax(worst_e, fabs(e[i] - eref[i]));
        worst_e = fmax(worst_e, fabs(e2[i] - eref[i]));
    }
    for (int64_t i = 0; i < rows * ns; i++) worst_d = fmax(worst_d, fabs(ds[i] - dref[i]));
    /* (b) shared */
    HQ_CHECK_OK(hq_sv_batch_forward_shared(b, rows, w, in, e));
    HQ_CHECK_OK(hq_sv_batch_backward_shared(b, rows, w, in, g, e2, din, dw));
    for (int64_t i = 0; i < rows * n_obs; i++) {
        worst_e = fmax(worst_e, fabs(e[i] - eref[i]));
        worst_e = fmax(worst_e, fabs(e2[i] - eref[i]));
    }
    for (int64_t i = 0; i < rows; i++)
        for (int k = 0; k < nin; k++)
            worst_d = fmax(worst_d,
                           fabs(din[i * nin + k] - dref[i * ns + hq_sv_batch_input_symbol(b, k)]));
    for (int k = 0; k < nw; k++)
        worst_w = fmax(worst_w, fabs(dw[k] - dwref[k]) / fmax(1, fabs(dwref[k])));
    HQ_CHECKF(worst_e <= 1e-12, "%s: max expectation error %.3g", what, worst_e);
    HQ_CHECKF(worst_d <= 1e-12, "%s: max per-row gradient error %.3g", what, worst_d);
    HQ_CHECKF(worst_w <= 1e-12, "%s: max relative weight-gradient error %.3g", what, worst_w);
    hq_sv_batch_free(b);
    hq_free(sym), hq_free(g), hq_free(e), hq_free(e2), hq_free(ds), hq_free(ds2);
    hq_free(eref), hq_free(dref), hq_free(in), hq_free(din);
}

HQ_TEST(sv_batch_hqcnn_matches_adjoint) {
    hq_circuit *c = hqcnn_template();
    HQ_REQUIRE(c);
    hqcnn_observables();
    check_batch(c, hqcnn_obs, 8, 37, 1, 1, "hqcnn 37 rows");
    check_batch(c, hqcnn_obs, 8, 200, 2, 2, "hqcnn 200 rows, 2 threads");
    check_batch(c, hqcnn_obs, 8, 3, 1, 3, "hqcnn 3 rows");
    hq_circuit_free(c);
}

HQ_TEST(sv_batch_hqcnn_finite_differences) {
    /* central differences of the batch forward itself, for both calls */
    hq_circuit *c = hqcnn_template();
    HQ_REQUIRE(c);
    hqcnn_observables();
    hq_sv_batch *b;
    HQ_REQUIRE_OK(hq_sv_batch_create(c, hqcnn_obs, 8, &b));
    hq_rng r;
    hq_rng_init(&r, 5, 5, 0);
    enum { rows = 5 };
    double w[36], in[rows * 4], g[rows * 8], din[rows * 4], dw[36], e[rows * 8], ep[rows * 8],
        em[rows * 8];
    for (int k = 0; k < 36; k++) w[k] = rnd_angle(&r);
    for (int k = 0; k < rows * 4; k++) in[k] = rnd_angle(&r);
    for (int k = 0; k < rows * 8; k++) g[k] = hq_rng_normal(&r);
    HQ_REQUIRE_OK(hq_sv_batch_backward_shared(b, rows, w, in, g, e, din, dw));
    const double h = 1e-5;
    double worst = 0;
    for (int k = 0; k < 36 + rows * 4; k++) {
        double *v = k < 36 ? &w[k] : &in[k - 36], save = *v;
        *v = save + h;
        HQ_REQUIRE_OK(hq_sv_batch_forward_shared(b, rows, w, in, ep));
        *v = save - h;
        HQ_REQUIRE_OK(hq_sv_batch_forward_shared(b, rows, w, in, em));
        *v = save;
        double fd = 0;
        for (int i = 0; i < rows * 8; i++) fd += g[i] * (ep[i] - em[i]) / (2 * h);
        double an = k < 36 ? dw[k] : din[k - 36];
        worst = fmax(worst, fabs(an - fd));
    }
    HQ_CHECKF(worst <= 1e-6, "shared call: max |VJP - FD| = %.3g", worst);
    /* the general call: every symbol of every row perturbed on its own */
    double sym[rows * 40], ds[rows * 40];
    for (int i = 0; i < rows; i++) {
        memcpy(sym + i * 40, in + i * 4, 4 * sizeof *sym);
        for (int k = 0; k < 36; k++) sym[i * 40 + 4 + k] = w[k] + 0.1 * i; /* rows differ */
    }
    HQ_REQUIRE_OK(hq_sv_batch_backward(b, rows, sym, g, e, ds));
    worst = 0;
    for (int k = 0; k < rows * 40; k++) {
        double save = sym[k];
        sym[k] = save + h;
        HQ_REQUIRE_OK(hq_sv_batch_forward(b, rows, sym, ep));
        sym[k] = save - h;
        HQ_REQUIRE_OK(hq_sv_batch_forward(b, rows, sym, em));
        sym[k] = save;
        double fd = 0;
        for (int i = 0; i < rows * 8; i++) fd += g[i] * (ep[i] - em[i]) / (2 * h);
        worst = fmax(worst, fabs(ds[k] - fd));
    }
    HQ_CHECKF(worst <= 1e-6, "general call: max |VJP - FD| = %.3g", worst);
    hq_sv_batch_free(b);
    hq_circuit_free(c);
}

/* A random template: a prefix of single-qubit gates, then every gate of the table,
 * with angles from random symbols of both kinds; the order of kinds is shuffled so that
 * the per-row part and the weight part interleave (or not, if weights_last). */
static hq_circuit *random_template(hq_rng *r, int n, bool weights_last, int *n_sym) {
    hq_circuit *c = new_circuit(n, 1);
    if (!c) return NULL;
    const int ni = 3, nw = 6;
    for (int i = 0; i < ni; i++) {
        char nm[8] = {'x', (char)('0' + i), 0};
        hq_circuit_add_symbol(c, nm, HQ_SYM_INPUT, NULL);
    }
    for (int i = 0; i < nw; i++) {
        char nm[8] = {'w', (char)('0' + i), 0};
        hq_circuit_add_symbol(c, nm, HQ_SYM_WEIGHT, NULL);
    }
    *n_sym = ni + nw;
    for (int q = 0; q < n; q++) {
        hq_circuit_add_gate(c, HQ_GATE_H, &q, NULL);
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, &q, (hq_angle[]){hq_angle_sym(q % ni, 1.3, 0.2)});
        hq_circuit_add_gate_sym(c, HQ_GATE_RZ, &q, (hq_angle[]){hq_angle_sym(ni + q % nw, 0.7, 0)});
    }
    for (int pass = 0; pass < 2; pass++)
        for (int g = 0; g < HQ_GATE_COUNT; g++) {
            if (!gate_usable((hq_gate)g, n)) continue;
            const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
            bool input_gate = !weights_last ? hq_rng_below(r, 2) : pass == 0;
            hq_angle a[4];
            for (int i = 0; i < gi->np; i++) {
                int s = input_gate ? (int)hq_rng_below(r, ni) : ni + (int)hq_rng_below(r, nw);
                a[i] = hq_angle_sym(s, rnd_angle(r), rnd_angle(r));
                if (input_gate && hq_rng_below(r, 3) == 0) { /* mixed: input + weight */
                    a[i].sym[1] = ni + (int)hq_rng_below(r, nw);
                    a[i].coef[1] = rnd_angle(r);
                    a[i].n = 2;
                }
                if (hq_rng_below(r, 8) == 0) a[i] = hq_angle_const(rnd_angle(r));
            }
            int q[3];
            rnd_qubits(r, n, gi->nq, q);
            hq_circuit_add_gate_sym(c, (hq_gate)g, q, a);
        }
    hq_circuit_add_measure(c, 0, 0);
    return c;
}

HQ_TEST(sv_batch_random_templates) {
    hq_rng r;
    hq_rng_init(&r, 4242, 0, 0);
    for (int n = 1; n <= 6; n++)
        for (int variant = 0; variant < 2; variant++) {
            int ns;
            hq_circuit *c = random_template(&r, n, variant == 1, &ns);
            HQ_REQUIRE(c);
            hq_pauli t[6];
            random_paulis(&r, n, t, 6);
            hq_pauli_sum obs[3] = {{t, 2}, {t + 2, 1}, {t + 4, 2}};
            char what[64];
            snprintf(what, sizeof what, "random n=%d %s", n,
                     variant ? "weights last" : "interleaved");
            check_batch(c, obs, 3, 21, 1 + variant, 100 + (uint64_t)n, what);
            hq_circuit_free(c);
        }
}

HQ_TEST(sv_batch_dense_and_fallback_paths) {
    /* weights-last templates on 2..6 qubits use the dense W; 11 qubits fall back to the
     * general simulator row by row */
    hq_rng r;
    hq_rng_init(&r, 77, 0, 0);
    int ns;
    hq_circuit *c = random_template(&r, 3, true, &ns);
    hq_pauli t[2];
    random_paulis(&r, 3, t, 2);
    hq_pauli_sum obs[2] = {{t, 1}, {t + 1, 1}};
    hq_sv_batch *b;
    HQ_REQUIRE_OK(hq_sv_batch_create(c, obs, 2, &b));
    hq_sv_batch_info info;
    HQ_REQUIRE_OK(hq_sv_batch_info_get(b, true, &info));
    HQ_CHECK(info.dense_w && info.shared_ops > 0);
    hq_sv_batch_free(b);
    hq_circuit_free(c);
    c = new_circuit(11, 0);
    int s0, s1;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "x", HQ_SYM_INPUT, &s0));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "w", HQ_SYM_WEIGHT, &s1));
    for (int q = 0; q < 11; q++) {
        HQ_REQUIRE_OK(
            hq_circuit_add_gate_sym(c, HQ_GATE_RY, &q, (hq_angle[]){hq_angle_sym(s0, 1 + q, 0)}));
        if (q) HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){q - 1, q}, NULL));
        HQ_REQUIRE_OK(
            hq_circuit_add_gate_sym(c, HQ_GATE_RX, &q, (hq_angle[]){hq_angle_sym(s1, 0.5, q)}));
    }
    hq_pauli z = hq_pauli_single('Z', 10), x = hq_pauli_single('X', 3);
    hq_pauli_sum o2[2] = {{&z, 1}, {&x, 1}};
    HQ_REQUIRE_OK(hq_sv_batch_create(c, o2, 2, &b));
    HQ_REQUIRE_OK(hq_sv_batch_info_get(b, false, &info));
    HQ_CHECK(info.fallback);
    hq_sv_batch_free(b);
    check_batch(c, o2, 2, 3, 1, 9, "fallback n=11");
    hq_circuit_free(c);
}

HQ_TEST(sv_batch_sincos_accuracy) {
    hq_rng r;
    hq_rng_init(&r, 1, 2, 3);
    double worst = 0;
    for (int it = 0; it < 20000; it++) {
        double x[SVB_L], c[SVB_L], s[SVB_L];
        double scale = it % 3 == 0 ? 4 : it % 3 == 1 ? 100 : 9e4;
        for (int l = 0; l < SVB_L; l++) x[l] = (hq_rng_uniform(&r) * 2 - 1) * scale;
        sv_sincos_lanes(x, c, s);
        for (int l = 0; l < SVB_L; l++) {
            worst = fmax(worst, fabs(c[l] - cos(x[l])));
            worst = fmax(worst, fabs(s[l] - sin(x[l])));
        }
    }
    HQ_CHECKF(worst <= 5e-16, "max |sincos - libm| = %.3g", worst);
    double x[SVB_L] = {0, M_PI / 4, M_PI / 2, -M_PI, 1e6, -3e7, 1e-300, 2.5}, c[SVB_L], s[SVB_L];
    sv_sincos_lanes(x, c, s); /* the huge lanes take the libm path */
    for (int l = 0; l < SVB_L; l++) {
        HQ_CHECK_NEAR(c[l], cos(x[l]), 1e-15);
        HQ_CHECK_NEAR(s[l], sin(x[l]), 1e-15);
    }
}

HQ_TEST(sv_batch_bad_arguments) {
    hq_circuit *c = hqcnn_template(), *dyn = new_circuit(2, 1);
    HQ_REQUIRE(c && dyn);
    HQ_REQUIRE_OK(hq_circuit_add_reset(dyn, 0));
    hqcnn_observables();
    hq_sv_batch *b;
    HQ_CHECK_FAILS(hq_sv_batch_create(c, hqcnn_obs, 8, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_create(NULL, hqcnn_obs, 8, &b), HQ_ERR_INVALID_ARG,
                   "circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_create(dyn, hqcnn_obs, 1, &b), HQ_ERR_UNSUPPORTED,
                   "the template is dynamic");
    HQ_CHECK_FAILS(hq_sv_batch_create(c, hqcnn_obs, 0, &b), HQ_ERR_INVALID_ARG, "n_obs 0");
    hq_pauli far = hq_pauli_single('Z', 4);
    hq_pauli_sum of = {&far, 1};
    HQ_CHECK_FAILS(hq_sv_batch_create(c, &of, 1, &b), HQ_ERR_INVALID_ARG, "acts on qubit 4");
    HQ_REQUIRE_OK(hq_sv_batch_create(c, hqcnn_obs, 8, &b));
    double sym[40] = {0}, e[8], g[8] = {0}, ds[40], w[36] = {0}, in[4] = {0}, din[4], dw[36];
    HQ_CHECK_FAILS(hq_sv_batch_set_threads(b, 0), HQ_ERR_INVALID_ARG,
                   "n_threads 0 out of range [1, 64]");
    HQ_CHECK_FAILS(hq_sv_batch_set_threads(NULL, 1), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_sv_batch_forward(b, -1, sym, e), HQ_ERR_INVALID_ARG, "rows -1, need >= 0");
    HQ_CHECK_FAILS(hq_sv_batch_forward(b, 1, NULL, e), HQ_ERR_INVALID_ARG, "sym is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_forward(b, 1, sym, NULL), HQ_ERR_INVALID_ARG, "expect is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_forward(NULL, 1, sym, e), HQ_ERR_MISUSE, "invalid handle");
    sym[7] = NAN;
    HQ_CHECK_FAILS(hq_sv_batch_forward(b, 1, sym, e), HQ_ERR_INVALID_ARG, "sym[7] is not finite");
    HQ_CHECK_FAILS(hq_sv_batch_backward(b, 1, sym, g, e, ds), HQ_ERR_INVALID_ARG,
                   "sym[7] is not finite");
    sym[7] = 0;
    HQ_CHECK_FAILS(hq_sv_batch_backward(b, 1, sym, NULL, e, ds), HQ_ERR_INVALID_ARG,
                   "dexpect is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_backward(b, 1, sym, g, e, NULL), HQ_ERR_INVALID_ARG, "dsym is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_backward(b, -2, sym, g, e, ds), HQ_ERR_INVALID_ARG, "rows -2");
    g[3] = INFINITY;
    HQ_CHECK_FAILS(hq_sv_batch_backward(b, 1, sym, g, e, ds), HQ_ERR_INVALID_ARG,
                   "dexpect[3] is not finite");
    HQ_CHECK_FAILS(hq_sv_batch_backward_shared(b, 1, w, in, g, e, din, dw), HQ_ERR_INVALID_ARG,
                   "dexpect[3] is not finite");
    g[3] = 0;
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, 1, NULL, in, e), HQ_ERR_INVALID_ARG,
                   "weights is NULL (36 weights)");
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, 1, w, NULL, e), HQ_ERR_INVALID_ARG,
                   "inputs is NULL (4 inputs)");
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, 1, w, in, NULL), HQ_ERR_INVALID_ARG,
                   "expect is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, -1, w, in, e), HQ_ERR_INVALID_ARG, "rows -1");
    in[2] = NAN;
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, 1, w, in, e), HQ_ERR_INVALID_ARG,
                   "inputs[2] is not finite");
    in[2] = 0;
    w[35] = NAN;
    HQ_CHECK_FAILS(hq_sv_batch_forward_shared(b, 1, w, in, e), HQ_ERR_INVALID_ARG,
                   "weights[35] is not finite");
    w[35] = 0;
    HQ_CHECK_FAILS(hq_sv_batch_backward_shared(b, 1, w, in, NULL, e, din, dw), HQ_ERR_INVALID_ARG,
                   "dexpect is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_backward_shared(b, 1, w, in, g, e, din, NULL), HQ_ERR_INVALID_ARG,
                   "dweights is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_backward_shared(NULL, 1, w, in, g, e, din, dw), HQ_ERR_MISUSE,
                   "invalid handle");
    hq_sv_batch_info info;
    HQ_CHECK_FAILS(hq_sv_batch_info_get(b, true, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_sv_batch_info_get(NULL, true, &info), HQ_ERR_MISUSE, "invalid handle");
    /* zero rows is fine and leaves zero weight gradients; dinputs may be NULL */
    HQ_CHECK_OK(hq_sv_batch_forward(b, 0, NULL, NULL));
    dw[0] = 5;
    HQ_CHECK_OK(hq_sv_batch_backward_shared(b, 0, w, NULL, NULL, NULL, NULL, dw));
    HQ_CHECK(dw[0] == 0);
    HQ_CHECK_OK(hq_sv_batch_backward_shared(b, 1, w, in, g, NULL, NULL, dw));
    HQ_CHECK_EQ_INT(hq_sv_batch_weight_symbol(b, 36), -1);
    HQ_CHECK_EQ_INT(hq_sv_batch_input_symbol(b, -1), -1);
    HQ_CHECK_EQ_INT(hq_sv_batch_weight_symbol(b, 0), 4);
    HQ_CHECK_EQ_INT(hq_sv_batch_n_obs(b), 8);
    HQ_CHECK_EQ_INT(hq_sv_batch_n_symbols(b), 40);
    HQ_CHECK_EQ_INT(hq_sv_batch_n_obs(NULL), 0);
    hq_sv_batch_free(b);
    hq_sv_batch_free(NULL);
    /* allocation failures on create: NOMEM, nothing leaks (checked under ASan) */
    for (long k = 1; k < 40; k++) {
        hq_alloc_fail_after(k);
        hq_status st = hq_sv_batch_create(c, hqcnn_obs, 8, &b);
        hq_alloc_fail_after(0);
        if (st == HQ_OK) {
            hq_sv_batch_free(b);
            break;
        }
        HQ_CHECK_EQ_INT(st, HQ_ERR_NOMEM);
    }
    hq_circuit_free(c);
    hq_circuit_free(dyn);
}

/* ==== reference circuit suite ========================================================= */

/* Compare the unitary part of every circuit named by a reference probability file in
 * dir with the file (TVD). Returns the number of files checked. */
static int check_ref_dir(const char *dir, double *worst_tvd, char *worst_name, size_t cap) {
    DIR *d = opendir(hq_test_shared(dir));
    if (!d) return -1;
    int checked = 0;
    struct dirent *e;
    char path[4096], src[4096];
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".probs") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *text;
        size_t tl;
        if (hq_file_read(hq_test_shared(path), 0, &text, &tl) != HQ_OK) {
            HQ_CHECKF(0, "%s: %s", path, hq_last_error());
            continue;
        }
        /* "# source: <path relative to data/> ..." then "qubits N" then "index prob" lines */
        const char *s = strstr(text, "# source: ");
        HQ_CHECKF(s != NULL, "%s: no source line", e->d_name);
        if (!s) {
            hq_free(text);
            continue;
        }
        s += 10;
        size_t k = 0;
        while (s[k] && s[k] != ' ' && s[k] != '\n' && k + 1 < sizeof src) k++;
        snprintf(src, sizeof src, "data/%.*s", (int)k, s);
        hq_qasm_options opt = {0};
        opt.lenient = true;
        hq_circuit *c = NULL;
        hq_status st = hq_qasm_parse_file_opt(hq_test_shared(src), &opt, &c);
        HQ_CHECKF(st == HQ_OK, "%s: parse failed: %s", src, hq_last_error());
        if (st) {
            hq_free(text);
            continue;
        }
        int n = hq_circuit_n_qubits(c), nref = -1;
        const char *q = strstr(text, "\nqubits ");
        if (q) nref = (int)strtol(q + 8, NULL, 10);
        HQ_CHECKF(n == nref, "%s: %d qubits, reference says %d", src, n, nref);
        hq_sv *sv = NULL;
        if (n == nref && hq_sv_create(n, &sv) == HQ_OK) {
            st = hq_sv_apply_unitary_part(sv, c, NULL);
            HQ_CHECKF(st == HQ_OK, "%s: %s", src, hq_last_error());
            int64_t dim = (int64_t)1 << n;
            double *p = hq_malloc((size_t)dim * sizeof *p);
            hq_sv_probabilities(sv, p);
            /* subtract the reference, then TVD = sum |diff| / 2 */
            const char *line = strchr(q + 1, '\n');
            while (line && *line) {
                line++;
                if (*line == '#' || *line == '\0') continue;
                char *end;
                long long idx = strtoll(line, &end, 10);
                double pr = strtod(end, &end);
                if (idx >= 0 && idx < dim) p[idx] -= pr;
                line = strchr(line, '\n');
            }
            double tvd = 0;
            for (int64_t i = 0; i < dim; i++) tvd += fabs(p[i]);
            tvd /= 2;
            HQ_CHECKF(tvd <= 1e-10, "%s: TVD %.3g", src, tvd);
            if (tvd > *worst_tvd) {
                *worst_tvd = tvd;
                snprintf(worst_name, cap, "%.200s", src);
            }
            hq_free(p);
            checked++;
        }
        hq_sv_free(sv);
        hq_circuit_free(c);
        hq_free(text);
    }
    closedir(d);
    return checked;
}

HQ_TEST(sv_reference_circuit_suite) {
    /* all 75 QASMBench small reference files and the 13 OpenQASM 2 examples, parsed with
     * the project's OpenQASM reader and run through this simulator: TVD <= 1e-10 against
     * the QuTiP probabilities (cross-checked there with a second simulator) */
    hq_log_set_level(HQ_LOG_ERROR); /* lenient-mode warnings of a few QASMBench files */
    double worst = 0;
    char name[256] = "";
    int a = check_ref_dir("data/qasmbench_small_ref", &worst, name, sizeof name);
    int b = check_ref_dir("data/openqasm2_examples/ref_probs", &worst, name, sizeof name);
    HQ_CHECK_EQ_INT(a, 75);
    HQ_CHECK_EQ_INT(b, 13);
    fprintf(stderr, "    %d + %d reference circuits, worst TVD %.3g (%s)\n", a, b, worst, name);
}

HQ_TEST(sv_unitary_part_errors) {
    hq_circuit *c = new_circuit(2, 1);
    HQ_REQUIRE(c);
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL)); /* mid-circuit */
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(2, &sv));
    HQ_CHECK_OK(hq_sv_apply_unitary_part(sv, c, NULL)); /* the measurement is dropped: Bell */
    double p[4];
    HQ_CHECK_OK(hq_sv_probabilities(sv, p));
    HQ_CHECK_NEAR(p[0], 0.5, 1e-15);
    HQ_CHECK_NEAR(p[3], 0.5, 1e-15);
    HQ_CHECK_FAILS(hq_sv_apply_circuit(sv, c, NULL), HQ_ERR_UNSUPPORTED, "the circuit is dynamic");
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 1));
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(sv, c, NULL), HQ_ERR_UNSUPPORTED,
                   "operation 3 is a reset, which has no unitary part");
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(sv, NULL, NULL), HQ_ERR_INVALID_ARG, "circuit is NULL");
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(NULL, c, NULL), HQ_ERR_MISUSE, "invalid handle");
    hq_circuit *c3 = new_circuit(3, 0);
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(sv, c3, NULL), HQ_ERR_INVALID_ARG,
                   "the circuit has 3 qubits, the state 2");
    hq_circuit *cc = new_circuit(2, 1);
    HQ_REQUIRE_OK(hq_circuit_add_gate(cc, HQ_GATE_X, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(cc, 0, 1));
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(sv, cc, NULL), HQ_ERR_UNSUPPORTED,
                   "classically conditioned gate");
    hq_circuit *cs = new_circuit(2, 0);
    HQ_REQUIRE_OK(hq_circuit_add_symbol(cs, "t", HQ_SYM_WEIGHT, NULL));
    HQ_CHECK_FAILS(hq_sv_apply_unitary_part(sv, cs, NULL), HQ_ERR_INVALID_ARG,
                   "no values were given");
    hq_circuit_free(cs);
    hq_circuit_free(cc);
    hq_circuit_free(c3);
    hq_circuit_free(c);
    hq_sv_free(sv);
}

HQ_TEST(sv_far_pairs_blocked_kernel) {
    /* the blocked kernel for far-apart pairs (normally targets >= 24), lowered to
     * strides >= 2^11 on 14 qubits, against the reference */
    const int n = 14;
    const int64_t dim = (int64_t)1 << n;
    hq_rng r;
    hq_rng_init(&r, 3, 14, 0);
    hq_cplx *ref = hq_malloc((size_t)dim * sizeof *ref);
    HQ_REQUIRE(ref);
    hq_sv *sv;
    HQ_REQUIRE_OK(hq_sv_create(n, &sv));
    random_state(&r, hq_sv_amps(sv), dim);
    memcpy(ref, hq_sv_amps(sv), (size_t)dim * sizeof *ref);
    sv_far_stride = (int64_t)1 << 11;
    for (int t = 10; t < n; t++) {
        double p[3] = {rnd_angle(&r), rnd_angle(&r), rnd_angle(&r)};
        hq_cplx m[4];
        HQ_REQUIRE_OK(hq_gate_matrix(HQ_GATE_U3, p, m));
        hq_ref_apply_matrix(ref, n, m, &t, 1);
        HQ_REQUIRE_OK(hq_sv_apply_gate(sv, HQ_GATE_U3, &t, p));
    }
    sv_far_stride = (int64_t)1 << 24;
    HQ_CHECK(maxdiff(hq_sv_amps(sv), ref, dim) <= 1e-13);
    hq_sv_free(sv);
    hq_free(ref);
}
