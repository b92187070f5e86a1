/*
 * tests/test_dm.c — the density-matrix simulator: the Bell-state noise reference values of
 * ../shared/data/README.md (QuTiP), channel known answers, every channel against a naive
 * Kraus sum built from the reference statevector kernel, Hermiticity / trace / positivity
 * (LAPACK zheev) after random channels on random states, ρ = |ψ><ψ| against the reference
 * statevector simulator on random circuits over all gates, Pauli expectations, sampling
 * (chi-square, determinism), exact branching for mid-circuit measurement and `if`, layouts,
 * noise scaling, and every error path.
 */
#include <complex.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/densitymatrix_impl.h"
#include "backends/qasm.h"
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "tests/hq_test.h"

/* LAPACK (shipped with OpenBLAS): Hermitian eigenvalues. */
extern void zheev_(const char *jobz, const char *uplo, const int *n, hq_cplx *a, const int *lda,
                   double *w, hq_cplx *work, const int *lwork, double *rwork, int *info,
                   size_t jobz_len, size_t uplo_len);

/* ==== helpers =========================================================================== */

static double min_eigenvalue(const hq_cplx *rho, int64_t d) {
    int n = (int)d, lwork = 4 * n, info = 0;
    hq_cplx *a = hq_malloc((size_t)(d * d) * sizeof *a);
    hq_cplx *work = hq_malloc((size_t)lwork * sizeof *work);
    double *w = hq_malloc((size_t)d * sizeof *w), *rwork = hq_malloc((size_t)(3 * d) * sizeof *w);
    /* column-major for LAPACK: the transpose of a Hermitian matrix is its conjugate */
    for (int64_t r = 0; r < d; r++)
        for (int64_t c = 0; c < d; c++) a[c * d + r] = rho[r * d + c];
    zheev_("N", "U", &n, a, &n, w, work, &lwork, rwork, &info, 1, 1);
    double m = info == 0 ? w[0] : -INFINITY;
    hq_free(a);
    hq_free(work);
    hq_free(w);
    hq_free(rwork);
    return m;
}

static double herm_err(const hq_cplx *rho, int64_t d) {
    double e = 0;
    for (int64_t r = 0; r < d; r++)
        for (int64_t c = 0; c < d; c++) e = fmax(e, cabs(rho[r * d + c] - conj(rho[c * d + r])));
    return e;
}

static double trace_re(const hq_cplx *rho, int64_t d) {
    double t = 0;
    for (int64_t i = 0; i < d; i++) t += creal(rho[i * d + i]);
    return t;
}

static double max_diff(const hq_cplx *a, const hq_cplx *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - b[i]));
    return m;
}

static void rand_state(hq_rng *r, int n, hq_cplx *psi) {
    int64_t d = (int64_t)1 << n;
    double norm = 0;
    for (int64_t i = 0; i < d; i++) {
        psi[i] = hq_rng_normal(r) + I * hq_rng_normal(r);
        norm += creal(psi[i] * conj(psi[i]));
    }
    for (int64_t i = 0; i < d; i++) psi[i] /= sqrt(norm);
}

/* A random mixed state of the given rank (caller frees). */
static hq_cplx *rand_mixed(hq_rng *r, int n, int rank) {
    int64_t d = (int64_t)1 << n;
    hq_cplx *rho = hq_calloc((size_t)(d * d), sizeof *rho);
    hq_cplx *psi = hq_malloc((size_t)d * sizeof *psi);
    double wsum = 0, w[16];
    for (int k = 0; k < rank; k++) wsum += w[k] = hq_rng_uniform(r) + 0.05;
    for (int k = 0; k < rank; k++) {
        rand_state(r, n, psi);
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++) rho[a * d + b] += w[k] / wsum * psi[a] * conj(psi[b]);
    }
    hq_free(psi);
    return rho;
}

/* Reference: rho := Σ_i K_i rho K_i† over operands q[0..k), built column by column with the
 * reference statevector kernel (independent of the simulator's block kernels). */
static void ref_kraus(hq_cplx *rho, int n, const hq_cplx *kraus, int m, const int *q, int k) {
    int64_t d = (int64_t)1 << n;
    int kd = 1 << k;
    hq_cplx *acc = hq_calloc((size_t)(d * d), sizeof *acc);
    hq_cplx *a = hq_malloc((size_t)(d * d) * sizeof *a);
    hq_cplx *col = hq_malloc((size_t)d * sizeof *col);
    for (int i = 0; i < m; i++) {
        const hq_cplx *K = kraus + (size_t)i * kd * kd;
        memcpy(a, rho, (size_t)(d * d) * sizeof *a);
        for (int pass = 0; pass < 2; pass++) { /* a := (K a)^H twice = K rho K^H */
            for (int64_t c = 0; c < d; c++) {
                for (int64_t r = 0; r < d; r++) col[r] = a[r * d + c];
                hq_ref_apply_matrix(col, n, K, q, k);
                for (int64_t r = 0; r < d; r++) a[r * d + c] = col[r];
            }
            for (int64_t r = 0; r < d; r++) /* conjugate transpose in place */
                for (int64_t c = r; c < d; c++) {
                    hq_cplx x = a[r * d + c], y = a[c * d + r];
                    a[r * d + c] = conj(y);
                    a[c * d + r] = conj(x);
                }
        }
        for (int64_t j = 0; j < d * d; j++) acc[j] += a[j];
    }
    memcpy(rho, acc, (size_t)(d * d) * sizeof *rho);
    hq_free(acc);
    hq_free(a);
    hq_free(col);
}

static const hq_cplx PX[4] = {0, 1, 1, 0}, PY[4] = {0, -I, I, 0}, PZ[4] = {1, 0, 0, -1},
                     PI_[4] = {1, 0, 0, 1};

static void scaled(hq_cplx *dst, const hq_cplx *m, double s, int len) {
    for (int i = 0; i < len; i++) dst[i] = s * m[i];
}

/* Kraus operators of the 1-qubit Pauli channel: 4 matrices. */
static void kraus_pauli(hq_cplx *k, double px, double py, double pz) {
    scaled(k, PI_, sqrt(1 - px - py - pz), 4);
    scaled(k + 4, PX, sqrt(px), 4);
    scaled(k + 8, PY, sqrt(py), 4);
    scaled(k + 12, PZ, sqrt(pz), 4);
}

/* Kraus operators of the 2-qubit depolarizing channel (convention of densitymatrix.h):
 * 16 matrices P_a (x) P_b, operand 0 = bit 0. */
static void kraus_depol2(hq_cplx *k, double p) {
    const hq_cplx *P[4] = {PI_, PX, PY, PZ};
    for (int i = 0; i < 16; i++) {
        const hq_cplx *a = P[i & 3], *b = P[i >> 2];
        double s = i == 0 ? sqrt(1 - p) : sqrt(p / 15);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                k[i * 16 + r * 4 + c] = s * a[(r & 1) * 2 + (c & 1)] * b[(r >> 1) * 2 + (c >> 1)];
    }
}

static void kraus_ad(hq_cplx *k, double g) {
    hq_cplx K[8] = {1, 0, 0, sqrt(1 - g), 0, sqrt(g), 0, 0};
    memcpy(k, K, sizeof K);
}

static void kraus_pd(hq_cplx *k, double l) {
    hq_cplx K[8] = {1, 0, 0, sqrt(1 - l), 0, 0, 0, sqrt(l)};
    memcpy(k, K, sizeof K);
}

/* Generalized amplitude damping (damping g, ground weight p): 4 matrices. */
static void kraus_gad(hq_cplx *k, double g, double p) {
    hq_cplx K[16] = {sqrt(p),
                     0,
                     0,
                     sqrt(p) * sqrt(1 - g),
                     0,
                     sqrt(p) * sqrt(g),
                     0,
                     0,
                     sqrt(1 - p) * sqrt(1 - g),
                     0,
                     0,
                     sqrt(1 - p),
                     0,
                     0,
                     sqrt(1 - p) * sqrt(g),
                     0};
    memcpy(k, K, sizeof K);
}

/* A random k-qubit channel with m Kraus operators: the blocks of a random isometry
 * (m·2^k x 2^k, Gram-Schmidt on columns). */
static void rand_kraus(hq_rng *r, int k, int m, hq_cplx *out) {
    int d = 1 << k, rows = m * d;
    hq_cplx *v = hq_malloc((size_t)(rows * d) * sizeof *v); /* column-major: v[c*rows + r] */
    for (int i = 0; i < rows * d; i++) v[i] = hq_rng_normal(r) + I * hq_rng_normal(r);
    for (int c = 0; c < d; c++) {
        for (int p = 0; p < c; p++) {
            hq_cplx dot = 0;
            for (int i = 0; i < rows; i++) dot += conj(v[p * rows + i]) * v[c * rows + i];
            for (int i = 0; i < rows; i++) v[c * rows + i] -= dot * v[p * rows + i];
        }
        double nrm = 0;
        for (int i = 0; i < rows; i++) nrm += creal(v[c * rows + i] * conj(v[c * rows + i]));
        for (int i = 0; i < rows; i++) v[c * rows + i] /= sqrt(nrm);
    }
    for (int j = 0; j < m; j++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) out[(j * d + a) * d + b] = v[b * rows + j * d + a];
    hq_free(v);
}

static hq_dm *dm_from(int n, const hq_cplx *rho) {
    hq_dm *dm = NULL;
    if (hq_dm_create(n, &dm) != HQ_OK) return NULL;
    if (hq_dm_init_matrix(dm, rho) != HQ_OK) {
        hq_dm_free(dm);
        return NULL;
    }
    return dm;
}

static void check_physical(const hq_dm *dm, const char *what) {
    int64_t d = (int64_t)1 << hq_dm_n_qubits(dm);
    const hq_cplx *rho = hq_dm_data(dm);
    double h = herm_err(rho, d), t = trace_re(rho, d), e = min_eigenvalue(rho, d);
    HQ_CHECKF(h <= 1e-13, "%s: not Hermitian (%.3g)", what, h);
    HQ_CHECKF(fabs(t - 1) <= 1e-12, "%s: trace %.17g", what, t);
    HQ_CHECKF(e >= -1e-12, "%s: negative eigenvalue %.3g", what, e);
}

/* ==== reference values ================================================================== */

HQ_TEST(dm_bell_reference_values) {
    hq_dm *dm;
    HQ_REQUIRE_OK(hq_dm_create(2, &dm));
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_CHECK_OK(hq_dm_apply_depolarizing(dm, 0, 0.1));
    /* diagonal in |q1 q0> order = our index order */
    double probs[4], pur;
    HQ_CHECK_OK(hq_dm_calc_probs(dm, probs));
    const double d1[4] = {0.466667, 0.033333, 0.033333, 0.466667};
    for (int i = 0; i < 4; i++) HQ_CHECK_NEAR(probs[i], d1[i], 1e-6);
    HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
    HQ_CHECK_NEAR(pur, 0.813333, 1e-6);

    HQ_CHECK_OK(hq_dm_apply_amplitude_damping(dm, 1, 0.2));
    HQ_CHECK_OK(hq_dm_calc_probs(dm, probs));
    /* QuTiP order |q0 q1>: index j = 2 q0 + q1  ->  ours i = q0 + 2 q1 */
    const double d2[4] = {0.473333, 0.026667, 0.126667, 0.373333};
    const int ours[4] = {0, 2, 1, 3};
    for (int j = 0; j < 4; j++) HQ_CHECK_NEAR(probs[ours[j]], d2[j], 1e-6);
    const hq_cplx *rho = hq_dm_data(dm);
    HQ_CHECK_NEAR(creal(rho[0 * 4 + 3]), 0.387585, 1e-6); /* |00><11| in both orders */
    HQ_CHECK_NEAR(cimag(rho[0 * 4 + 3]), 0, 1e-12);
    HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
    HQ_CHECK_NEAR(pur, 0.680622, 1e-6);
    hq_dm_free(dm);
}

/* ==== channel known answers ============================================================= */

HQ_TEST(dm_channel_known_answers) {
    hq_dm *dm;
    HQ_REQUIRE_OK(hq_dm_create(1, &dm));
    /* amplitude damping of |1>: populations (γ, 1−γ) */
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_X, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_dm_apply_amplitude_damping(dm, 0, 0.3));
    double p[2];
    HQ_CHECK_OK(hq_dm_calc_probs(dm, p));
    HQ_CHECK_NEAR(p[0], 0.3, 1e-15);
    HQ_CHECK_NEAR(p[1], 0.7, 1e-15);

    /* phase damping: coherences × √(1−λ), populations unchanged */
    HQ_CHECK_OK(hq_dm_init_zero(dm));
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_U3, (int[]){0}, (double[]){1.1, 0.4, -0.3}));
    hq_cplx before[4], after[4];
    memcpy(before, hq_dm_data(dm), sizeof before);
    HQ_CHECK_OK(hq_dm_apply_phase_damping(dm, 0, 0.36));
    memcpy(after, hq_dm_data(dm), sizeof after);
    HQ_CHECK(cabs(after[1] - 0.8 * before[1]) <= 1e-15);
    HQ_CHECK(cabs(after[2] - 0.8 * before[2]) <= 1e-15);
    HQ_CHECK(cabs(after[0] - before[0]) <= 1e-15 && cabs(after[3] - before[3]) <= 1e-15);

    /* 1-qubit depolarizing with p = 3/4 gives I/2 for any input */
    hq_rng r;
    hq_rng_init(&r, 11, 0, 0);
    for (int t = 0; t < 5; t++) {
        hq_cplx *rho = rand_mixed(&r, 1, 1 + t % 2);
        HQ_CHECK_OK(hq_dm_init_matrix(dm, rho));
        HQ_CHECK_OK(hq_dm_apply_depolarizing(dm, 0, 0.75));
        const hq_cplx half[4] = {0.5, 0, 0, 0.5};
        HQ_CHECK(max_diff(hq_dm_data(dm), half, 4) <= 1e-15);
        hq_free(rho);
    }
    hq_dm_free(dm);

    /* 2-qubit depolarizing with p = 15/16 on (0, 2) of 3 qubits: I/4 (x) Tr_{0,2} ρ */
    HQ_REQUIRE_OK(hq_dm_create(3, &dm));
    hq_cplx *rho = rand_mixed(&r, 3, 3);
    HQ_CHECK_OK(hq_dm_init_matrix(dm, rho));
    HQ_CHECK_OK(hq_dm_apply_depolarizing2(dm, 0, 2, 15.0 / 16));
    const hq_cplx *out = hq_dm_data(dm);
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
            hq_cplx want = 0;
            if ((a & 5) == (b & 5)) { /* same bits on qubits 0, 2 */
                int q1a = a >> 1 & 1, q1b = b >> 1 & 1;
                for (int s = 0; s < 8; s += 1)
                    if (!(s & 2)) want += rho[(s | q1a << 1) * 8 + (s | q1b << 1)];
                want /= 4;
            }
            HQ_CHECKF(cabs(out[a * 8 + b] - want) <= 1e-15, "depol2 entry (%d,%d)", a, b);
        }
    hq_free(rho);
    hq_dm_free(dm);

    /* thermal relaxation with T2 = 2 T1 is amplitude damping with γ = 1 − exp(−t/T1) */
    hq_dm *a, *b;
    HQ_REQUIRE_OK(hq_dm_create(2, &a));
    HQ_REQUIRE_OK(hq_dm_create(2, &b));
    rho = rand_mixed(&r, 2, 2);
    HQ_CHECK_OK(hq_dm_init_matrix(a, rho));
    HQ_CHECK_OK(hq_dm_init_matrix(b, rho));
    double t1 = 50, t = 7.5;
    HQ_CHECK_OK(hq_dm_apply_thermal_relaxation(a, 1, t1, 2 * t1, t, 0));
    HQ_CHECK_OK(hq_dm_apply_amplitude_damping(b, 1, 1 - exp(-t / t1)));
    HQ_CHECK(max_diff(hq_dm_data(a), hq_dm_data(b), 16) <= 1e-15);
    /* T1 = T2 = ∞ is the identity */
    HQ_CHECK_OK(hq_dm_init_matrix(a, rho));
    HQ_CHECK_OK(hq_dm_apply_thermal_relaxation(a, 0, INFINITY, INFINITY, 5, 0));
    HQ_CHECK(max_diff(hq_dm_data(a), rho, 16) == 0);
    hq_free(rho);
    hq_dm_free(a);
    hq_dm_free(b);
}

HQ_TEST(dm_readout_confusion) {
    /* 2 bits: P = [0.5, 0.2, 0.3, 0] with confusion per bit; reference = kron(C1, C0) P */
    double p[4] = {0.5, 0.2, 0.3, 0}, p01[2] = {0.1, 0.25}, p10[2] = {0.05, 0.02};
    double C[2][2][2];
    for (int j = 0; j < 2; j++) {
        C[j][0][0] = 1 - p10[j];
        C[j][0][1] = p01[j];
        C[j][1][0] = p10[j];
        C[j][1][1] = 1 - p01[j];
    }
    double want[4] = {0};
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < 4; i++) want[o] += C[0][o & 1][i & 1] * C[1][o >> 1][i >> 1] * p[i];
    HQ_CHECK_OK(hq_readout_apply(p, 2, p01, p10));
    for (int o = 0; o < 4; o++) HQ_CHECK_NEAR(p[o], want[o], 1e-16);
    HQ_CHECK_NEAR(want[0], 0.95 * 0.98 * 0.5 + 0.1 * 0.98 * 0.2 + 0.95 * 0.25 * 0.3, 1e-16);
    HQ_CHECK_NEAR(p[0] + p[1] + p[2] + p[3], 1, 1e-15);
}

/* ==== every channel against the naive Kraus reference =================================== */

HQ_TEST(dm_channels_match_kraus_reference) {
    hq_rng r;
    hq_rng_init(&r, 2024, 0, 0);
    const int n = 5; /* operands on low bits (reference kernel) and high bits (lane kernel) */
    const int64_t d = 32;
    hq_cplx *K = hq_malloc(64 * 64 * sizeof *K);
    for (int trial = 0; trial < 12; trial++) {
        hq_cplx *rho = rand_mixed(&r, n, 1 + trial % 4);
        hq_cplx *ref = hq_malloc((size_t)(d * d) * sizeof *ref);
        int q = (int)hq_rng_below(&r, n), q2 = (q + 1 + (int)hq_rng_below(&r, n - 1)) % n;
        hq_dm *dm = dm_from(n, rho);
        HQ_REQUIRE(dm);
#define CHECK_CASE(apply, ...)                                                                 \
    do {                                                                                       \
        HQ_CHECK_OK(hq_dm_init_matrix(dm, rho));                                               \
        memcpy(ref, rho, (size_t)(d * d) * sizeof *ref);                                       \
        HQ_CHECK_OK(apply);                                                                    \
        __VA_ARGS__;                                                                           \
        double e_ = max_diff(hq_dm_data(dm), ref, d * d);                                      \
        HQ_CHECKF(e_ <= 1e-14, "trial %d: %s differs from the Kraus reference by %.3g", trial, \
                  #apply, e_);                                                                 \
    } while (0)
        double p = hq_rng_uniform(&r), px = 0.3 * hq_rng_uniform(&r), py = 0.3 * hq_rng_uniform(&r),
               pz = 0.3 * hq_rng_uniform(&r);
        CHECK_CASE(hq_dm_apply_depolarizing(dm, q, p), kraus_pauli(K, p / 3, p / 3, p / 3),
                   ref_kraus(ref, n, K, 4, &q, 1));
        CHECK_CASE(hq_dm_apply_pauli_channel(dm, q, px, py, pz), kraus_pauli(K, px, py, pz),
                   ref_kraus(ref, n, K, 4, &q, 1));
        CHECK_CASE(hq_dm_apply_depolarizing2(dm, q, q2, p), kraus_depol2(K, p),
                   ref_kraus(ref, n, K, 16, (int[]){q, q2}, 2));
        CHECK_CASE(hq_dm_apply_amplitude_damping(dm, q, p), kraus_ad(K, p),
                   ref_kraus(ref, n, K, 2, &q, 1));
        CHECK_CASE(hq_dm_apply_phase_damping(dm, q, p), kraus_pd(K, p),
                   ref_kraus(ref, n, K, 2, &q, 1));
        /* thermal relaxation with p_e = generalized amplitude damping then phase damping */
        double t1 = 20 + 80 * hq_rng_uniform(&r), t2 = (0.2 + 1.8 * hq_rng_uniform(&r)) * t1,
               t = 30 * hq_rng_uniform(&r), pe = 0.2 * hq_rng_uniform(&r);
        double e1 = exp(-t / t1), e2 = exp(-t / t2);
        CHECK_CASE(hq_dm_apply_thermal_relaxation(dm, q, t1, t2, t, pe),
                   kraus_gad(K, 1 - e1, 1 - pe), ref_kraus(ref, n, K, 4, &q, 1),
                   kraus_pd(K, 1 - e2 * e2 / e1), ref_kraus(ref, n, K, 2, &q, 1));
        hq_cplx reset[8] = {1, 0, 0, 0, 0, 1, 0, 0};
        CHECK_CASE(hq_dm_apply_reset(dm, q), ref_kraus(ref, n, reset, 2, &q, 1));
        hq_cplx proj[8] = {1, 0, 0, 0, 0, 0, 0, 1};
        CHECK_CASE(hq_dm_apply_dephasing_measurement(dm, q), ref_kraus(ref, n, proj, 2, &q, 1));
        /* generic Kraus lists on 1, 2 and 3 qubits */
        for (int k = 1; k <= 3; k++) {
            int m = 1 + (int)hq_rng_below(&r, 4);
            int qs[3] = {q, q2, (q2 + 1) % n == q ? (q2 + 2) % n : (q2 + 1) % n};
            rand_kraus(&r, k, m, K);
            CHECK_CASE(hq_dm_apply_kraus(dm, K, m, qs, k), ref_kraus(ref, n, K, m, qs, k));
        }
#undef CHECK_CASE
        hq_dm_free(dm);
        hq_free(ref);
        hq_free(rho);
    }
    hq_free(K);
}

HQ_TEST(dm_channels_keep_states_physical) {
    hq_rng r;
    hq_rng_init(&r, 77, 0, 0);
    const int n = 4;
    hq_cplx *K = hq_malloc(64 * 64 * sizeof *K);
    for (int trial = 0; trial < 40; trial++) {
        hq_cplx *rho = rand_mixed(&r, n, 1 + trial % 5);
        hq_dm *dm = dm_from(n, rho);
        HQ_REQUIRE(dm);
        int q = (int)hq_rng_below(&r, n), q2 = (q + 1 + (int)hq_rng_below(&r, n - 1)) % n;
        double p = hq_rng_uniform(&r);
        int kind = trial % 10;
        char what[64];
        snprintf(what, sizeof what, "trial %d kind %d", trial, kind);
        switch (kind) {
        case 0: HQ_CHECK_OK(hq_dm_apply_depolarizing(dm, q, p)); break;
        case 1: HQ_CHECK_OK(hq_dm_apply_depolarizing2(dm, q, q2, p)); break;
        case 2:
            HQ_CHECK_OK(hq_dm_apply_pauli_channel(dm, q, p / 3, (1 - p) / 2, p / 2 * (1 - p)));
            break;
        case 3: HQ_CHECK_OK(hq_dm_apply_amplitude_damping(dm, q, p)); break;
        case 4: HQ_CHECK_OK(hq_dm_apply_phase_damping(dm, q, p)); break;
        case 5: {
            double t1 = 10 + 100 * hq_rng_uniform(&r);
            HQ_CHECK_OK(hq_dm_apply_thermal_relaxation(
                dm, q, t1, 2 * t1 * hq_rng_uniform(&r) + 1e-3, 50 * p, 0.3 * hq_rng_uniform(&r)));
            break;
        }
        case 6: HQ_CHECK_OK(hq_dm_apply_reset(dm, q)); break;
        case 7: HQ_CHECK_OK(hq_dm_apply_dephasing_measurement(dm, q)); break;
        case 8: {
            int k = 1 + trial % 3, m = 1 + (int)hq_rng_below(&r, 6);
            int qs[3] = {q, q2, (q2 + 1) % n == q ? (q2 + 2) % n : (q2 + 1) % n};
            rand_kraus(&r, k, m, K);
            HQ_CHECK_OK(hq_dm_apply_kraus(dm, K, m, qs, k));
            break;
        }
        default: {
            hq_rng mr;
            hq_rng_init(&mr, 5, (uint64_t)trial, 0);
            int o;
            HQ_CHECK_OK(hq_dm_measure(dm, q, &mr, &o, NULL));
            break;
        }
        }
        check_physical(dm, what);
        hq_dm_free(dm);
        hq_free(rho);
    }
    hq_free(K);
}

/* ==== optimised kernels = reference kernels ============================================= */

/* A pipeline with one stage of every kind for k operands (st: 6 entries); the
 * superoperator (of a random channel) is written to S (d² x d²), K is scratch. */
static int rand_pipeline(hq_rng *r, int k, dm_stage *st, hq_cplx *S, hq_cplx *K) {
    const int d = 1 << k;
    int ns = 0;
    hq_cplx u[64];
    rand_kraus(r, k, 1, u);
    dm_stage_unitary(&st[ns++], u, k);
    hq_cplx perm[64] = {0};
    for (int a = 0; a < d; a++) perm[a * d + (a ^ 1)] = cexp(I * hq_rng_uniform(r) * 6);
    dm_stage_unitary(&st[ns++], perm, k);
    dm_stage_depol(&st[ns++], hq_rng_uniform(r));
    dm_stage_relax(&st[ns++], (int)hq_rng_below(r, (uint64_t)k), 0.7, 0.6, 0.1);
    memset(&st[ns], 0, sizeof st[ns]);
    st[ns].kind = DM_ST_PAULI;
    st[ns].j = (int)hq_rng_below(r, (uint64_t)k);
    st[ns].c[0] = 0.7, st[ns].c[1] = 0.3, st[ns].c[2] = 0.5, st[ns].c[3] = -0.1;
    ns++;
    int m = 2;
    rand_kraus(r, k, m, K);
    memset(S, 0, (size_t)(d * d * d * d) * sizeof *S);
    for (int i = 0; i < m; i++)
        for (int a2 = 0; a2 < d; a2++)
            for (int b2 = 0; b2 < d; b2++)
                for (int a = 0; a < d; a++)
                    for (int b = 0; b < d; b++)
                        S[(a2 * d + b2) * d * d + a * d + b] +=
                            K[(i * d + a2) * d + a] * conj(K[(i * d + b2) * d + b]);
    memset(&st[ns], 0, sizeof st[ns]);
    st[ns].kind = DM_ST_SUPER;
    st[ns].s = S;
    ns++;
    return ns;
}

/* Every placement of k = 1..3 operands on n = 2..8 qubits (each subset of index bits, in
 * a random operand order), incl. operands on bits 0 and 1 (gathered lanes) and matrices too
 * small for lanes: the dispatching kernel equals the scalar reference kernel, and the result
 * is Hermitian with trace 1 (every stage is trace preserving). */
HQ_TEST(dm_lane_kernels_match_reference) {
    hq_rng r;
    hq_rng_init(&r, 404, 0, 0);
    hq_cplx *S = hq_malloc(64 * 64 * sizeof *S), *K = hq_malloc(64 * 64 * sizeof *K);
    int cases = 0;
    for (int n = 2; n <= 8; n++) {
        const int64_t dd = (int64_t)1 << (2 * n);
        hq_cplx *a = hq_malloc((size_t)dd * sizeof *a), *b = hq_malloc((size_t)dd * sizeof *b);
        for (int k = 1; k <= 3 && k <= n; k++)
            for (unsigned set = 0; set < 1u << n; set++) {
                if (__builtin_popcount(set) != k) continue;
                int q[3], nq = 0;
                for (int bit = 0; bit < n; bit++)
                    if (set >> bit & 1) q[nq++] = bit;
                for (int j = k - 1; j > 0; j--) { /* random operand order */
                    int i = (int)hq_rng_below(&r, (uint64_t)(j + 1)), t = q[i];
                    q[i] = q[j];
                    q[j] = t;
                }
                dm_stage st[6];
                const int ns = rand_pipeline(&r, k, st, S, K);
                hq_cplx *rho = rand_mixed(&r, n, 2);
                memcpy(a, rho, (size_t)dd * sizeof *a);
                memcpy(b, rho, (size_t)dd * sizeof *b);
                hq_free(rho);
                dm_apply_stages(a, n, q, k, st, ns);
                dm_apply_stages_ref(b, n, q, k, st, ns);
                const int64_t dim = (int64_t)1 << n;
                double e = max_diff(a, b, dd), h = herm_err(a, dim), t = trace_re(a, dim);
                HQ_CHECKF(e <= 1e-14 && h <= 1e-14 && fabs(t - 1) <= 1e-13,
                          "n=%d k=%d q=%d,%d,%d: kernels differ by %.3g, Hermitian error %.3g, "
                          "trace %.17g",
                          n, k, q[0], k > 1 ? q[1] : -1, k > 2 ? q[2] : -1, e, h, t);
                cases++;
            }
        hq_free(a);
        hq_free(b);
    }
    HQ_CHECK_EQ_INT(cases, 245); /* sum over n = 2..8 of C(n,1) + C(n,2) + C(n,3) */
    hq_free(S);
    hq_free(K);
}

/* ==== noiseless = statevector =========================================================== */

/* A random circuit over every unitary gate of the table that fits n qubits. */
static hq_circuit *rand_circuit(hq_rng *r, int n, int n_ops) {
    hq_circuit *c;
    if (hq_circuit_create(&c) || hq_circuit_add_qreg(c, "q", n, NULL)) return NULL;
    for (int i = 0; i < n_ops; i++) {
        hq_gate g = (hq_gate)(i % HQ_GATE_COUNT);
        const hq_gate_info *gi = hq_gate_get_info(g);
        if (gi->kind != HQ_KIND_UNITARY || gi->nq > n) g = HQ_GATE_U3, gi = hq_gate_get_info(g);
        int q[3];
        for (int j = 0; j < gi->nq; j++) {
            bool dup;
            do {
                q[j] = (int)hq_rng_below(r, (uint64_t)n);
                dup = false;
                for (int k = 0; k < j; k++) dup |= q[k] == q[j];
            } while (dup);
        }
        double p[4];
        for (int k = 0; k < gi->np; k++) p[k] = (hq_rng_uniform(r) * 2 - 1) * 4;
        if (hq_circuit_add_gate(c, g, q, p)) {
            hq_circuit_free(c);
            return NULL;
        }
    }
    return c;
}

HQ_TEST(dm_noiseless_equals_statevector) {
    hq_rng r;
    hq_rng_init(&r, 99, 0, 0);
    for (int n = 1; n <= 8; n++) {
        for (int rep = 0; rep < 2; rep++) {
            hq_circuit *c = rand_circuit(&r, n, 2 * HQ_GATE_COUNT + (int)hq_rng_below(&r, 20));
            HQ_REQUIRE(c);
            int64_t d = (int64_t)1 << n;
            hq_cplx *psi = hq_malloc((size_t)d * sizeof *psi);
            hq_cplx *want = hq_malloc((size_t)(d * d) * sizeof *want);
            HQ_REQUIRE_OK(hq_ref_simulate(c, NULL, false, psi));
            for (int64_t a = 0; a < d; a++)
                for (int64_t b = 0; b < d; b++) want[a * d + b] = psi[a] * conj(psi[b]);
            hq_dm *dm;
            HQ_REQUIRE_OK(hq_dm_create(n, &dm));
            HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, NULL, NULL, false));
            double e = max_diff(hq_dm_data(dm), want, d * d);
            HQ_CHECKF(e <= 1e-12, "n=%d: |rho - psi psi^H| = %.3g", n, e);
            /* the exact-probability entry point agrees with |psi|^2 */
            hq_dm_dist dist;
            HQ_CHECK_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &dist));
            HQ_CHECK_EQ_INT(dist.n_bits, n);
            double pe = 0;
            for (int64_t i = 0; i < d; i++)
                pe = fmax(pe,
                          fabs(hq_dm_dist_prob(&dist, (uint64_t)i) - creal(psi[i] * conj(psi[i]))));
            HQ_CHECKF(pe <= 1e-12, "n=%d: probabilities differ by %.3g", n, pe);
            hq_dm_dist_free(&dist);
            /* purity of a pure state, fidelity with psi */
            double pur, fid;
            HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
            HQ_CHECK_OK(hq_dm_calc_fidelity_pure(dm, psi, &fid));
            HQ_CHECK_NEAR(pur, 1, 1e-12);
            HQ_CHECK_NEAR(fid, 1, 1e-12);
            hq_dm_free(dm);
            hq_free(psi);
            hq_free(want);
            hq_circuit_free(c);
        }
    }
}

HQ_TEST(dm_apply_matrix_and_symbols) {
    hq_rng r;
    hq_rng_init(&r, 5, 0, 0);
    const int n = 4;
    hq_cplx psi[16], rho[256];
    rand_state(&r, n, psi);
    for (int a = 0; a < 16; a++)
        for (int b = 0; b < 16; b++) rho[a * 16 + b] = psi[a] * conj(psi[b]);
    hq_dm *dm = dm_from(n, rho);
    HQ_REQUIRE(dm);
    for (int k = 1; k <= 3; k++) { /* random unitaries: a 1-operator Kraus isometry */
        hq_cplx u[64];
        rand_kraus(&r, k, 1, u);
        int q[3] = {3, 0, 2};
        HQ_CHECK_OK(hq_dm_apply_matrix(dm, u, q, k));
        hq_ref_apply_matrix(psi, n, u, q, k);
    }
    double fid;
    HQ_CHECK_OK(hq_dm_calc_fidelity_pure(dm, psi, &fid));
    HQ_CHECK_NEAR(fid, 1, 1e-12);
    HQ_CHECK_OK(hq_dm_init_pure(dm, psi));
    HQ_CHECK_OK(hq_dm_calc_fidelity_pure(dm, psi, &fid));
    HQ_CHECK_NEAR(fid, 1, 1e-13);
    hq_dm_free(dm);

    /* symbolic circuit: bound values match the reference */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int x, w;
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_CHECK_OK(hq_circuit_add_symbol(c, "x", HQ_SYM_INPUT, &x));
    HQ_CHECK_OK(hq_circuit_add_symbol(c, "w", HQ_SYM_WEIGHT, &w));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){1}, (hq_angle[]){hq_angle_sym(x, 2, 0.1)}));
    HQ_CHECK_OK(hq_circuit_add_gate_sym(c, HQ_GATE_CRZ, (int[]){0, 1},
                                        (hq_angle[]){hq_angle_sym(w, 1, 0)}));
    double sym[2] = {0.7, -1.3};
    hq_cplx sv[4];
    HQ_CHECK_OK(hq_ref_simulate(c, sym, false, sv));
    HQ_REQUIRE_OK(hq_dm_create(2, &dm));
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, sym, NULL, NULL, false));
    HQ_CHECK_OK(hq_dm_calc_fidelity_pure(dm, sv, &fid));
    HQ_CHECK_NEAR(fid, 1, 1e-13);
    hq_dm_free(dm);
    hq_circuit_free(c);
}

/* ==== expectations, purity ============================================================== */

HQ_TEST(dm_expectation_values) {
    hq_rng r;
    hq_rng_init(&r, 31, 0, 0);
    const int n = 4;
    const int64_t d = 16;
    hq_cplx *rho = rand_mixed(&r, n, 3);
    hq_dm *dm = dm_from(n, rho);
    HQ_REQUIRE(dm);
    const char *strings[] = {"Z0", "X1", "Y2", "0.5*Z0 Z3", "X0 Y1 Z2 X3", "IYYI", "Y0 Y3", "IIII"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(strings); i++) {
        hq_pauli p;
        HQ_REQUIRE_OK(hq_pauli_parse(strings[i], n, &p));
        /* reference: Tr(P rho) with P built as a dense matrix from 1-qubit factors */
        hq_cplx *P = hq_calloc((size_t)(d * d), sizeof *P);
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++) {
                hq_cplx v = p.coef;
                for (int q = 0; q < n; q++) {
                    int xb = (int)(p.x >> q & 1), zb = (int)(p.z >> q & 1);
                    const hq_cplx *f = xb && zb ? PY : xb ? PX : zb ? PZ : PI_;
                    v *= f[((a >> q) & 1) * 2 + ((b >> q) & 1)];
                }
                P[a * d + b] = v;
            }
        hq_cplx tr = 0;
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++) tr += P[a * d + b] * rho[b * d + a];
        double e;
        HQ_CHECK_OK(hq_dm_calc_expectation(dm, &p, &e));
        HQ_CHECKF(fabs(e - creal(tr)) <= 1e-14, "%s: %.17g vs %.17g", strings[i], e, creal(tr));
        hq_free(P);
    }
    /* purity: reference Tr(rho^2) by matrix product */
    double pur, want = 0;
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < d; b++) want += creal(rho[a * d + b] * rho[b * d + a]);
    HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
    HQ_CHECK_NEAR(pur, want, 1e-14);
    HQ_CHECK_OK(hq_dm_init_mixed(dm));
    HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
    HQ_CHECK_NEAR(pur, 1.0 / 16, 1e-16);
    double tr;
    HQ_CHECK_OK(hq_dm_calc_trace(dm, &tr));
    HQ_CHECK_NEAR(tr, 1, 1e-15);
    /* marginal of a product state */
    HQ_CHECK_OK(hq_dm_init_zero(dm));
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_RY, (int[]){2}, (double[]){2 * acos(sqrt(0.2))}));
    HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_X, (int[]){0}, NULL));
    double mg[4];
    HQ_CHECK_OK(hq_dm_calc_marginal(dm, (int[]){2, 0}, 2, mg));
    /* bit 0 = qubit 2 (P(1) = 0.8), bit 1 = qubit 0 (always 1) */
    HQ_CHECK_NEAR(mg[0], 0, 1e-15);
    HQ_CHECK_NEAR(mg[1], 0, 1e-15);
    HQ_CHECK_NEAR(mg[2], 0.2, 1e-15);
    HQ_CHECK_NEAR(mg[3], 0.8, 1e-15);
    hq_dm_free(dm);
    hq_free(rho);
}

/* ==== sampling ========================================================================== */

/* Chi-square statistic of counts against probabilities (bins with expectation >= 5). */
static double chi_square(const hq_counts *c, const double *p, int64_t d, int *dof) {
    double chi = 0;
    *dof = -1;
    for (int64_t i = 0; i < d; i++) {
        double e = p[i] * (double)c->shots;
        if (e < 5) continue;
        double o = (double)hq_counts_get(c, (uint64_t)i);
        chi += (o - e) * (o - e) / e;
        (*dof)++;
    }
    return chi;
}

HQ_TEST(dm_sampling_chi_square_and_determinism) {
    hq_rng r;
    hq_rng_init(&r, 8, 0, 0);
    hq_circuit *c = rand_circuit(&r, 4, 40);
    HQ_REQUIRE(c);
    hq_dm *dm;
    HQ_REQUIRE_OK(hq_dm_create(4, &dm));
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, NULL, NULL, false));
    HQ_CHECK_OK(hq_dm_apply_depolarizing(dm, 2, 0.2));
    double p[16];
    HQ_CHECK_OK(hq_dm_calc_probs(dm, p));
    hq_counts a, b, s;
    HQ_CHECK_OK(hq_dm_sample(dm, NULL, NULL, 20000, 1234, 7, &a));
    HQ_CHECK_EQ_INT(a.shots, 20000);
    HQ_CHECK_EQ_INT(a.n_bits, 4);
    int dof;
    double chi = chi_square(&a, p, 16, &dof);
    /* chi-square critical value for p = 1e-4 at <= 15 dof is 42.6 */
    HQ_CHECKF(dof >= 8 && chi < 42.6, "chi2 = %g with %d dof", chi, dof);
    HQ_CHECK_OK(hq_dm_sample(dm, NULL, NULL, 20000, 1234, 7, &b));
    HQ_CHECK_EQ_INT(a.n, b.n);
    for (int64_t i = 0; i < a.n && i < b.n; i++) {
        HQ_CHECK(a.outcome[i] == b.outcome[i]);
        HQ_CHECK_EQ_INT(a.count[i], b.count[i]);
    }
    HQ_CHECK_OK(hq_dm_sample(dm, NULL, NULL, 20000, 1234, 8, &s));
    bool differ = s.n != a.n;
    for (int64_t i = 0; i < a.n && i < s.n; i++) differ |= a.count[i] != s.count[i];
    HQ_CHECK(differ);
    hq_counts_free(&a);
    hq_counts_free(&b);
    hq_counts_free(&s);

    /* the circuit runner samples the same distribution and is deterministic too */
    HQ_CHECK_OK(hq_dm_run(c, NULL, NULL, NULL, 20000, 99, 1, &a));
    HQ_CHECK_OK(hq_dm_run(c, NULL, NULL, NULL, 20000, 99, 1, &b));
    HQ_CHECK_EQ_INT(a.n, b.n);
    for (int64_t i = 0; i < a.n && i < b.n; i++) HQ_CHECK_EQ_INT(a.count[i], b.count[i]);
    HQ_CHECK_OK(hq_dm_init_zero(dm));
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, NULL, NULL, false));
    HQ_CHECK_OK(hq_dm_calc_probs(dm, p));
    chi = chi_square(&a, p, 16, &dof);
    HQ_CHECKF(dof >= 8 && chi < 42.6, "run: chi2 = %g with %d dof", chi, dof);
    hq_counts_free(&a);
    hq_counts_free(&b);

    /* readout error through a generic noise model: P(read 1 | |0>) = 0.1 exactly */
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(0, &m));
    hq_noise_qubit nq = hq_noise_qubit_unset();
    nq.prob_meas1_prep0 = 0.1;
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &nq));
    HQ_CHECK_OK(hq_dm_init_zero(dm));
    HQ_CHECK_OK(hq_dm_sample(dm, m, NULL, 40000, 3, 0, &a));
    double p1 = 0; /* qubit 0 reads 1 */
    for (int64_t i = 0; i < a.n; i++)
        if (a.outcome[i] & 1) p1 += (double)a.count[i] / 40000;
    HQ_CHECK_NEAR(p1, 0.1, 5 * sqrt(0.1 * 0.9 / 40000));
    hq_counts_free(&a);
    HQ_CHECK_OK(hq_dm_sample(dm, NULL, NULL, 0, 3, 0, &a));
    HQ_CHECK_EQ_INT(a.shots, 0);
    hq_counts_free(&a);
    hq_noise_free(m);
    hq_dm_free(dm);
    hq_circuit_free(c);
}

HQ_TEST(dm_measure_collapses) {
    hq_dm *dm;
    HQ_REQUIRE_OK(hq_dm_create(2, &dm));
    int ones = 0, n = 4000;
    hq_rng r;
    hq_rng_init(&r, 1, 2, 0);
    for (int s = 0; s < n; s++) {
        HQ_CHECK_OK(hq_dm_init_zero(dm));
        HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_RY, (int[]){0}, (double[]){2 * acos(sqrt(0.7))}));
        HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){0, 1}, NULL));
        int o;
        double p;
        HQ_CHECK_OK(hq_dm_measure(dm, 0, &r, &o, &p));
        HQ_CHECK_NEAR(p, o ? 0.3 : 0.7, 1e-12);
        ones += o;
        /* collapsed: qubit 1 follows, state pure */
        double pr[4], pur;
        HQ_CHECK_OK(hq_dm_calc_probs(dm, pr));
        HQ_CHECK_NEAR(pr[o ? 3 : 0], 1, 1e-12);
        HQ_CHECK_OK(hq_dm_calc_purity(dm, &pur));
        HQ_CHECK_NEAR(pur, 1, 1e-12);
    }
    HQ_CHECK_NEAR((double)ones / n, 0.3, 5 * sqrt(0.21 / n));
    hq_dm_free(dm);
}

/* ==== dynamic circuits ================================================================== */

static hq_circuit *new_circuit(int nq, int nc) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    if (hq_circuit_add_qreg(c, "q", nq, NULL) || (nc && hq_circuit_add_creg(c, "c", nc, NULL))) {
        hq_circuit_free(c);
        return NULL;
    }
    return c;
}

HQ_TEST(dm_dynamic_circuits_exact) {
    /* h q0; measure q0->c0; if(c==1) x q1; measure q1->c1  =>  00 and 11, 1/2 each */
    hq_circuit *c = new_circuit(2, 2);
    HQ_REQUIRE(c);
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_CHECK_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 1, 1));
    hq_dm_dist d;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
    HQ_CHECK_EQ_INT(d.n, 2);
    HQ_CHECK_NEAR(hq_dm_dist_prob(&d, 0), 0.5, 1e-15);
    HQ_CHECK_NEAR(hq_dm_dist_prob(&d, 3), 0.5, 1e-15);
    hq_dm_dist_free(&d);

    /* with readout error e on both qubits: the recorded c0 drives the if, so c1 equals the
     * recorded c0 up to c1's own readout flip. P(c0=a, c1=b) = 1/2 Σ_m P(a|m) P(b|a). */
    hq_noise_model *m;
    HQ_REQUIRE_OK(hq_noise_create(0, &m));
    hq_noise_qubit nq = hq_noise_qubit_unset();
    nq.prob_meas0_prep1 = 0.1;
    nq.prob_meas1_prep0 = 0.04;
    HQ_CHECK_OK(hq_noise_set_default_qubit(m, &nq));
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, m, NULL, &d));
    double pr[2][2] = {{0.96, 0.04}, {0.1, 0.9}}; /* pr[prepared][read] */
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            double want = 0.5 * (pr[0][a] + pr[1][a]) * pr[a][b];
            HQ_CHECK_NEAR(hq_dm_dist_prob(&d, (uint64_t)(a | b << 1)), want, 1e-15);
        }
    hq_dm_dist_free(&d);
    hq_noise_free(m);
    hq_circuit_free(c);

    /* reset after measurement, re-use of a qubit, overwritten bit:
     * x q0; measure q0->c0; reset q0; h q0; measure q0->c1; measure q0->c2 */
    c = new_circuit(1, 3);
    HQ_REQUIRE(c);
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_CHECK_OK(hq_circuit_add_reset(c, 0));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 1));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 2));
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
    HQ_CHECK_EQ_INT(d.n_bits, 3);
    HQ_CHECK_EQ_INT(d.n, 2);
    HQ_CHECK_NEAR(hq_dm_dist_prob(&d, 1), 0.5, 1e-15); /* c = 001 */
    HQ_CHECK_NEAR(hq_dm_dist_prob(&d, 7), 0.5, 1e-15); /* c = 111 */
    hq_dm_dist_free(&d);
    hq_counts cnt;
    HQ_CHECK_OK(hq_dm_run(c, NULL, NULL, NULL, 1000, 5, 0, &cnt));
    HQ_CHECK_EQ_INT(cnt.shots, 1000);
    HQ_CHECK_EQ_INT(cnt.n_bits, 3);
    HQ_CHECK_EQ_INT(hq_counts_get(&cnt, 1) + hq_counts_get(&cnt, 7), 1000);
    hq_counts_free(&cnt);
    hq_circuit_free(c);

    /* measurement order: a bit written twice keeps the last value; a qubit changed after
     * its measurement does not change the recorded bit */
    c = new_circuit(2, 2);
    HQ_REQUIRE(c);
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0)); /* overwritten below */
    HQ_CHECK_OK(hq_circuit_add_measure(c, 1, 0));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 1));                     /* q0 = 0 here ... */
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){0}, NULL)); /* ... then flipped */
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
    HQ_CHECK_EQ_INT(d.n, 1);
    HQ_CHECK_NEAR(hq_dm_dist_prob(&d, 1), 1, 1e-15);
    hq_dm_dist_free(&d);
    hq_circuit_free(c);

    /* teleportation with classical corrections: the output qubit reproduces RY(θ)|0> */
    c = new_circuit(3, 3);
    HQ_REQUIRE(c);
    int cr0, cr1;
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_CHECK_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
    HQ_CHECK_OK(hq_circuit_add_creg(c, "m0", 1, &cr0));
    HQ_CHECK_OK(hq_circuit_add_creg(c, "m1", 1, &cr1));
    HQ_CHECK_OK(hq_circuit_add_creg(c, "out", 1, NULL));
    const double theta = 1.234;
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_RY, (int[]){0}, &theta));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){1}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 1, 1));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){2}, NULL));
    HQ_CHECK_OK(hq_circuit_set_condition(c, cr1, 1));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_Z, (int[]){2}, NULL));
    HQ_CHECK_OK(hq_circuit_set_condition(c, cr0, 1));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 2, 2));
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
    double p_out1 = 0, p_m[4] = {0};
    for (int64_t i = 0; i < d.n; i++) {
        if (d.outcome[i] >> 2 & 1) p_out1 += d.prob[i];
        p_m[d.outcome[i] & 3] += d.prob[i];
    }
    HQ_CHECK_NEAR(p_out1, sin(theta / 2) * sin(theta / 2), 1e-14);
    for (int k = 0; k < 4; k++) HQ_CHECK_NEAR(p_m[k], 0.25, 1e-14);
    hq_dm_dist_free(&d);
    hq_circuit_free(c);
}

/* ==== OpenQASM reference circuits ======================================================= */

/* Work above which a reference circuit is left to the slow test: ops x 4^n entry updates
 * (2e8 is about a second of CPU). */
#define QASM_FAST_WORK 2e8

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* .qasm files of a shared data directory, sorted (names[max][256]). */
static int list_qasm(const char *dir, char (*names)[256], int max) {
    DIR *d = opendir(hq_test_shared(dir));
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 5 && l < 250 && !strcmp(e->d_name + l - 5, ".qasm"))
            snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 256, cmp_name);
    return n;
}

/* A .probs reference file (format in ../shared/data/README.md) as a dense vector. */
static double *read_probs(const char *rel, int *nq) {
    FILE *f = fopen(hq_test_shared(rel), "r");
    if (!f) return NULL;
    char line[512];
    double *p = NULL;
    *nq = -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!strncmp(line, "qubits ", 7)) {
            *nq = (int)strtol(line + 7, NULL, 10);
            if (*nq < 0 || *nq > 24 || p) break;
            p = hq_calloc((size_t)1 << *nq, sizeof *p);
            continue;
        }
        char *end;
        long long idx = strtoll(line, &end, 10);
        if (p && idx >= 0 && idx < (1ll << *nq)) p[idx] = strtod(end, NULL);
    }
    fclose(f);
    return p;
}

static hq_circuit *parse_shared(const char *rel) {
    hq_qasm_options o = {0};
    o.lenient = true; /* a few QASMBench files measure into undeclared registers */
    hq_log_level lv = hq_log_get_level();
    hq_log_set_level(HQ_LOG_ERROR);
    hq_circuit *c = NULL;
    if (hq_qasm_parse_file_opt(hq_test_shared(rel), &o, &c) != HQ_OK) c = NULL;
    hq_log_set_level(lv);
    return c;
}

static bool has_reset_or_if(const hq_circuit *c) {
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++)
        if (ops[k].gate == HQ_GATE_RESET || ops[k].cond_creg >= 0) return true;
    return false;
}

/* ρ of the unitary part on the density-matrix simulator against |ψ><ψ| of the reference
 * statevector simulator, and its diagonal against the QuTiP reference file if any. Returns
 * 1 if compared, 0 if skipped (too large / dynamic / too much work for this pass). */
static int check_reference_circuit(const char *dir, const char *name, const char *probs_rel,
                                   bool slow_pass, double *worst) {
    char rel[600];
    snprintf(rel, sizeof rel, "%s/%s", dir, name);
    hq_circuit *c = parse_shared(rel);
    if (!c) {
        hq_test_fail(__FILE__, __LINE__, "%s: %s", rel, hq_last_error());
        return 0;
    }
    int n = hq_circuit_n_qubits(c);
    double work = (double)hq_circuit_n_ops(c) * (double)((int64_t)1 << (2 * n));
    if (n > 10 || has_reset_or_if(c) || (work > QASM_FAST_WORK) != slow_pass) {
        hq_circuit_free(c);
        return 0;
    }
    int64_t d = (int64_t)1 << n;
    hq_cplx *psi = hq_malloc((size_t)d * sizeof *psi);
    hq_dm *dm = NULL;
    HQ_CHECK_OK(hq_ref_simulate(c, NULL, true, psi));
    HQ_CHECK_OK(hq_dm_create(n, &dm));
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, NULL, NULL, true));
    const hq_cplx *rho = hq_dm_data(dm);
    double e = 0;
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < d; b++) e = fmax(e, cabs(rho[a * d + b] - psi[a] * conj(psi[b])));
    HQ_CHECKF(e <= 1e-12, "%s: |rho - psi psi^H| = %.3g", rel, e);
    *worst = fmax(*worst, e);
    int nq;
    double *p = probs_rel ? read_probs(probs_rel, &nq) : NULL;
    if (p) {
        HQ_CHECKF(nq == n, "%s: reference has %d qubits, circuit %d", probs_rel, nq, n);
        double pe = 0;
        for (int64_t i = 0; i < d && nq == n; i++)
            pe = fmax(pe, fabs(creal(rho[i * d + i]) - p[i]));
        HQ_CHECKF(pe <= 1e-10, "%s: probabilities differ from the reference by %.3g", rel, pe);
        hq_free(p);
    }
    hq_dm_free(dm);
    hq_free(psi);
    hq_circuit_free(c);
    return 1;
}

static void qasm_reference_sweep(bool slow_pass) {
    static char names[160][256];
    int total = 0;
    double worst = 0;
    int n = list_qasm("data/qasmbench_small", names, 160);
    HQ_REQUIRE(n >= 80);
    for (int i = 0; i < n; i++) {
        char probs[600];
        snprintf(probs, sizeof probs, "data/qasmbench_small_ref/%.*s.probs",
                 (int)strlen(names[i]) - 5, names[i]);
        FILE *f = fopen(hq_test_shared(probs), "r");
        if (f) fclose(f);
        total += check_reference_circuit("data/qasmbench_small", names[i], f ? probs : NULL,
                                         slow_pass, &worst);
    }
    const char *dirs[] = {"generic", "ibmqx2", "qft", "cc", "sat", "quantum_volume", "bv"};
    for (size_t k = 0; k < HQ_ARRAY_LEN(dirs); k++) {
        char dir[128];
        snprintf(dir, sizeof dir, "data/openqasm2_examples/%s", dirs[k]);
        int m = list_qasm(dir, names, 160);
        HQ_REQUIRE(m > 0);
        for (int i = 0; i < m; i++) {
            char probs[600];
            snprintf(probs, sizeof probs, "data/openqasm2_examples/ref_probs/%s__%.*s.probs",
                     dirs[k], (int)strlen(names[i]) - 5, names[i]);
            FILE *f = fopen(hq_test_shared(probs), "r");
            if (f) fclose(f);
            total += check_reference_circuit(dir, names[i], f ? probs : NULL, slow_pass, &worst);
        }
    }
    printf("    %d reference circuits compared, worst |rho - psi psi^H| = %.3g\n", total, worst);
    HQ_CHECK(total >= (slow_pass ? 7 : 80));
}

HQ_TEST(dm_qasm_reference_circuits) { qasm_reference_sweep(false); }

/* The heavy ones: ising_n10, vqe_uccsd_n8, hhl_n10 (~190k gates on 10 qubits; each also
 * transpiled) and qft_n10. */
HQ_TEST_SLOW(dm_qasm_reference_circuits_large) { qasm_reference_sweep(true); }

/* Circuits with mid-circuit measurement, reset and if: exact known answers, and each
 * QASMBench dynamic circuit against its Qiskit-transpiled version. */
HQ_TEST(dm_qasm_dynamic_circuits) {
    struct {
        const char *rel;
        uint64_t outcome; /* outcome with probability 1, or UINT64_MAX */
    } known[] = {
        {"data/openqasm2_examples/generic/inverseqft1.qasm", 0},
        {"data/openqasm2_examples/generic/inverseqft2.qasm", 0},
        {"data/openqasm2_examples/generic/qec.qasm", 1u << 3}, /* syn = 01, data corrected */
        {"data/openqasm2_examples/generic/ipea_3_pi_8.qasm", 3},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(known); i++) {
        hq_circuit *c = parse_shared(known[i].rel);
        HQ_REQUIRE(c);
        hq_dm_dist d;
        HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
        HQ_CHECKF(fabs(hq_dm_dist_prob(&d, known[i].outcome) - 1) <= 1e-12, "%s: P(%llu) = %.17g",
                  known[i].rel, (unsigned long long)known[i].outcome,
                  hq_dm_dist_prob(&d, known[i].outcome));
        hq_dm_dist_free(&d);
        hq_circuit_free(c);
    }
    /* teleportation of u3(0.3, 0.2, 0.1)|0>: the output bit is 1 with sin^2(0.15) */
    const char *tele[] = {"data/openqasm2_examples/generic/teleport.qasm",
                          "data/openqasm2_examples/generic/teleportv2.qasm"};
    for (int t = 0; t < 2; t++) {
        hq_circuit *c = parse_shared(tele[t]);
        HQ_REQUIRE(c);
        hq_dm_dist d;
        HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &d));
        double p1 = 0, pm[4] = {0};
        for (int64_t i = 0; i < d.n; i++) {
            if (d.outcome[i] >> 2 & 1) p1 += d.prob[i];
            pm[d.outcome[i] & 3] += d.prob[i];
        }
        HQ_CHECK_NEAR(p1, sin(0.15) * sin(0.15), 1e-13);
        for (int k = 0; k < 4; k++) HQ_CHECK_NEAR(pm[k], 0.25, 1e-13);
        hq_dm_dist_free(&d);
        hq_circuit_free(c);
    }
    const char *pairs[] = {"ipea_n2", "inverseqft_n4", "qec_sm_n5", "shor_n5"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(pairs); i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "data/qasmbench_small/%s.qasm", pairs[i]);
        snprintf(b, sizeof b, "data/qasmbench_small/%s_transpiled.qasm", pairs[i]);
        hq_circuit *ca = parse_shared(a), *cb = parse_shared(b);
        HQ_REQUIRE(ca && cb);
        HQ_CHECK(has_reset_or_if(ca));
        hq_dm_dist da, db;
        HQ_REQUIRE_OK(hq_dm_run_probs(ca, NULL, NULL, NULL, &da));
        HQ_REQUIRE_OK(hq_dm_run_probs(cb, NULL, NULL, NULL, &db));
        double diff = 0, sum = 0;
        for (int64_t k = 0; k < da.n; k++) {
            diff = fmax(diff, fabs(da.prob[k] - hq_dm_dist_prob(&db, da.outcome[k])));
            sum += da.prob[k];
        }
        for (int64_t k = 0; k < db.n; k++)
            diff = fmax(diff, fabs(db.prob[k] - hq_dm_dist_prob(&da, db.outcome[k])));
        HQ_CHECKF(diff <= 1e-10, "%s: original and transpiled differ by %.3g", pairs[i], diff);
        HQ_CHECK_NEAR(sum, 1, 1e-12);
        hq_dm_dist_free(&da);
        hq_dm_dist_free(&db);
        hq_circuit_free(ca);
        hq_circuit_free(cb);
    }
}

/* ==== layouts and noise scaling ========================================================= */

/* A 4-qubit circuit with a bit of everything. */
static hq_circuit *noisy_test_circuit(void) {
    hq_circuit *c = new_circuit(4, 4);
    if (!c) return NULL;
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_SX, (int[]){1}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){1}, (double[]){0.4});
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_X, (int[]){3}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CCX, (int[]){0, 2, 3}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){3, 2}, NULL);
    for (int q = 0; q < 4; q++) hq_circuit_add_measure(c, q, q);
    return c;
}

/* Model with distinct noise on physical qubits phys[0..4) of n_phys. */
static hq_noise_model *model_on(int n_phys, const int *phys) {
    hq_noise_model *m;
    if (hq_noise_create(n_phys, &m)) return NULL;
    for (int i = 0; i < 4; i++) {
        hq_noise_qubit v = hq_noise_qubit_unset();
        v.t1_us = 40 + 10 * i;
        v.t2_us = 30 + 5 * i;
        v.prob_meas0_prep1 = 0.02 * (i + 1);
        v.prob_meas1_prep0 = 0.01 * (i + 1);
        hq_noise_set_qubit(m, phys[i], &v);
        hq_noise_gate g1 = {HQ_NOISE_ANY_GATE, 1, {phys[i], -1, -1}, 0.001 * (i + 1), 50};
        hq_noise_set_gate(m, &g1);
    }
    hq_noise_gate cx = {HQ_GATE_CX, 2, {phys[0], phys[1], -1}, 0.02, 400};
    hq_noise_gate cx2 = {HQ_GATE_CX, 2, {phys[1], phys[2], -1}, 0.03, 300};
    hq_noise_set_gate(m, &cx);
    hq_noise_set_gate(m, &cx2);
    hq_noise_set_default_gate(m, 2, 0.05, 500);
    hq_noise_set_default_gate(m, 3, 0.1, 2000);
    return m;
}

HQ_TEST(dm_layout_selects_physical_noise) {
    hq_circuit *c = noisy_test_circuit();
    HQ_REQUIRE(c);
    const int phys[4] = {3, 5, 8, 9}, ident[4] = {0, 1, 2, 3};
    hq_noise_model *big = model_on(127, phys), *small = model_on(4, ident);
    HQ_REQUIRE(big && small);
    hq_dm_dist a, b;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, big, phys, &a));
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, small, NULL, &b));
    HQ_CHECK_EQ_INT(a.n, b.n);
    for (int64_t i = 0; i < a.n && i < b.n; i++) {
        HQ_CHECK(a.outcome[i] == b.outcome[i]);
        HQ_CHECK_NEAR(a.prob[i], b.prob[i], 1e-15);
    }
    hq_dm_dist_free(&b);
    /* without the layout the big model's qubits 0..3 are noiseless: a different result */
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, big, NULL, &b));
    double diff = 0;
    for (int64_t i = 0; i < a.n; i++)
        diff = fmax(diff, fabs(a.prob[i] - hq_dm_dist_prob(&b, a.outcome[i])));
    HQ_CHECK(diff > 1e-3);
    hq_dm_dist_free(&a);
    hq_dm_dist_free(&b);
    /* bad layouts */
    hq_counts cnt;
    HQ_CHECK_FAILS(hq_dm_run(c, NULL, big, (int[]){3, 5, 8, 127}, 10, 1, 0, &cnt),
                   HQ_ERR_INVALID_ARG, "layout[3] = 127 out of range [0, 127)");
    HQ_CHECK_FAILS(hq_dm_run(c, NULL, big, (int[]){3, 5, 3, 9}, 10, 1, 0, &cnt), HQ_ERR_INVALID_ARG,
                   "both to physical qubit 3");
    HQ_CHECK_FAILS(hq_dm_run(c, NULL, big, (int[]){3, -1, 8, 9}, 10, 1, 0, &cnt),
                   HQ_ERR_INVALID_ARG, "layout[1] = -1");
    hq_noise_model *tiny;
    HQ_REQUIRE_OK(hq_noise_create(3, &tiny));
    HQ_CHECK_FAILS(hq_dm_run(c, NULL, tiny, NULL, 10, 1, 0, &cnt), HQ_ERR_INVALID_ARG,
                   "describes 3 physical qubits");
    hq_noise_free(tiny);
    hq_noise_free(big);
    hq_noise_free(small);
    hq_circuit_free(c);
}

HQ_TEST(dm_noise_scale_sweep) {
    hq_circuit *c = noisy_test_circuit();
    HQ_REQUIRE(c);
    const int ident[4] = {0, 1, 2, 3};
    hq_noise_model *m = model_on(4, ident);
    HQ_REQUIRE(m);
    /* x0: exactly the ideal density matrix and distribution */
    HQ_CHECK_OK(hq_noise_set_scale(m, 0));
    hq_dm *ideal, *noisy;
    HQ_REQUIRE_OK(hq_dm_create(4, &ideal));
    HQ_REQUIRE_OK(hq_dm_create(4, &noisy));
    HQ_CHECK_OK(hq_dm_apply_circuit(ideal, c, NULL, NULL, NULL, true));
    HQ_CHECK_OK(hq_dm_apply_circuit(noisy, c, NULL, m, NULL, true));
    HQ_CHECK(memcmp(hq_dm_data(ideal), hq_dm_data(noisy), 256 * sizeof(hq_cplx)) == 0);
    hq_dm_dist a, b;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &a));
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, m, NULL, &b));
    HQ_CHECK_EQ_INT(a.n, b.n);
    for (int64_t i = 0; i < a.n && i < b.n; i++)
        HQ_CHECK(a.outcome[i] == b.outcome[i] && a.prob[i] == b.prob[i]);
    hq_dm_dist_free(&a);
    hq_dm_dist_free(&b);
    /* larger scale, strictly lower purity and fidelity with the ideal state */
    const double scales[] = {0, 0.25, 0.5, 1, 2, 4};
    double last_pur = 2, last_tvd = -1;
    HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, NULL, NULL, &a));
    for (size_t i = 0; i < HQ_ARRAY_LEN(scales); i++) {
        HQ_CHECK_OK(hq_noise_set_scale(m, scales[i]));
        HQ_CHECK_OK(hq_dm_init_zero(noisy));
        HQ_CHECK_OK(hq_dm_apply_circuit(noisy, c, NULL, m, NULL, true));
        double pur;
        HQ_CHECK_OK(hq_dm_calc_purity(noisy, &pur));
        HQ_CHECKF(pur < last_pur, "scale %g: purity %.17g not below %.17g", scales[i], pur,
                  last_pur);
        last_pur = pur;
        check_physical(noisy, "scaled noise");
        /* total variation distance of the outcome distribution from the ideal grows */
        HQ_REQUIRE_OK(hq_dm_run_probs(c, NULL, m, NULL, &b));
        double tvd = 0;
        for (uint64_t o = 0; o < 16; o++)
            tvd += 0.5 * fabs(hq_dm_dist_prob(&a, o) - hq_dm_dist_prob(&b, o));
        HQ_CHECKF(tvd > last_tvd, "scale %g: TVD %.17g not above %.17g", scales[i], tvd, last_tvd);
        last_tvd = tvd;
        hq_dm_dist_free(&b);
    }
    hq_dm_dist_free(&a);
    hq_dm_free(ideal);
    hq_dm_free(noisy);
    hq_noise_free(m);
    hq_circuit_free(c);
}

/* Average gate fidelity of the noise after a gate, from the Choi state: the gate acts on
 * qubits 0..k-1, each entangled with ancilla k+j; F_pro = <Φ|ρ|Φ>, F_avg = (d F_pro + 1)/(d+1).
 * Independent of the λ formula: this is the definition. */
HQ_TEST(dm_device_style_noise_hits_calibrated_error) {
    for (int k = 1; k <= 2; k++) {
        const int n = 2 * k, d = 1 << k;
        hq_noise_model *m;
        HQ_REQUIRE_OK(hq_noise_create(0, &m));
        hq_noise_qubit v = hq_noise_qubit_unset();
        v.t1_us = 60;
        v.t2_us = 45;
        v.excited_population = 0.03;
        HQ_CHECK_OK(hq_noise_set_default_qubit(m, &v));
        /* errors below the relaxation's own infidelity r_R get no depolarizing (λ = 0): the
         * first pass (error 0) measures r_R */
        const double errs[] = {0, 1e-4, 3e-3, 0.02, 0.3};
        double r_relax = 0;
        for (size_t e = 0; e < HQ_ARRAY_LEN(errs); e++) {
            hq_gate g = k == 1 ? HQ_GATE_SX : HQ_GATE_CX;
            hq_noise_gate entry = {g, 0, {-1, -1, -1}, errs[e], k == 1 ? 35 : 450};
            HQ_CHECK_OK(hq_noise_set_gate(m, &entry));
            hq_dm *dm;
            HQ_REQUIRE_OK(hq_dm_create(n, &dm));
            for (int j = 0; j < k; j++) {
                HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){j}, NULL));
                HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){j, k + j}, NULL));
            }
            hq_circuit *c = new_circuit(n, 0);
            HQ_REQUIRE(c);
            HQ_CHECK_OK(hq_circuit_add_gate(c, g, (int[]){0, 1}, NULL));
            HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, NULL, m, NULL, false));
            /* undo the ideal gate: U† N U has the same fidelity as N */
            if (k == 1)
                HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_SXDG, (int[]){0}, NULL));
            else
                HQ_CHECK_OK(hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){0, 1}, NULL));
            hq_cplx phi[16] = {0};
            for (int a = 0; a < d; a++) phi[a | a << k] = 1 / sqrt(d);
            double fpro, favg;
            HQ_CHECK_OK(hq_dm_calc_fidelity_pure(dm, phi, &fpro));
            favg = (d * fpro + 1) / (d + 1);
            if (e == 0) {
                r_relax = 1 - favg;
                HQ_CHECKF(r_relax > 1e-4 && r_relax < 0.02, "k=%d: relaxation infidelity %g", k,
                          r_relax);
            }
            double want = fmax(errs[e], r_relax);
            HQ_CHECKF(fabs((1 - favg) - want) <= 1e-12, "k=%d: infidelity %.15g, wanted %.15g", k,
                      1 - favg, want);
            hq_circuit_free(c);
            hq_dm_free(dm);
        }
        hq_noise_free(m);
    }
}

/* ==== errors ============================================================================ */

HQ_TEST(dm_bad_inputs) {
    hq_dm *dm = NULL;
    HQ_CHECK_FAILS(hq_dm_create(0, &dm), HQ_ERR_INVALID_ARG, "0 qubits out of range [1, 15]");
    HQ_CHECK_FAILS(hq_dm_create(16, &dm), HQ_ERR_INVALID_ARG, "16 qubits out of range");
    HQ_CHECK_FAILS(hq_dm_create(2, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_REQUIRE_OK(hq_dm_create(2, &dm));
    hq_dm *dead = (hq_dm *)&dm; /* not a density matrix */
    HQ_CHECK_FAILS(hq_dm_init_zero(NULL), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_dm_init_zero(dead), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_dm_copy(NULL, &dead), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_dm_init_mixed(NULL), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK(hq_dm_dist_prob(NULL, 0) == 0);
    hq_dm *one;
    HQ_REQUIRE_OK(hq_dm_create(1, &one));
    HQ_CHECK_FAILS(hq_dm_apply_depolarizing2(one, 0, 1, 0.1), HQ_ERR_INVALID_ARG,
                   "needs 2 qubits, the density matrix has 1");
    hq_dm_free(one);
    HQ_CHECK_FAILS(hq_dm_copy(dm, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK(hq_dm_n_qubits(NULL) == 0 && hq_dm_data(NULL) == NULL);

    hq_cplx psi[4] = {1, 1, 0, 0};
    HQ_CHECK_FAILS(hq_dm_init_pure(dm, psi), HQ_ERR_INVALID_ARG, "|psi|^2 = 2");
    HQ_CHECK_FAILS(hq_dm_init_pure(dm, NULL), HQ_ERR_INVALID_ARG, "psi is NULL");
    hq_cplx rho[16] = {0};
    rho[0] = 0.5;
    HQ_CHECK_FAILS(hq_dm_init_matrix(dm, rho), HQ_ERR_INVALID_ARG, "trace 0.5");
    rho[0] = 1;
    rho[1] = 0.1;
    HQ_CHECK_FAILS(hq_dm_init_matrix(dm, rho), HQ_ERR_INVALID_ARG, "not Hermitian");
    HQ_CHECK_FAILS(hq_dm_init_matrix(dm, NULL), HQ_ERR_INVALID_ARG, "rho is NULL");

    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_H, (int[]){2}, NULL), HQ_ERR_INVALID_ARG,
                   "qubit 2 out of range [0, 2)");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_CX, (int[]){1, 1}, NULL), HQ_ERR_INVALID_ARG,
                   "qubit 1 appears twice");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_CCX, (int[]){0, 1, 2}, NULL), HQ_ERR_INVALID_ARG,
                   "ccx acts on 3 qubits, the density matrix has 2");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_RX, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "rx needs 1 parameter(s)");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_RX, (int[]){0}, (double[]){NAN}),
                   HQ_ERR_INVALID_ARG, "not finite");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_MEASURE, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "not a unitary gate");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_COUNT, (int[]){0}, NULL), HQ_ERR_INVALID_ARG,
                   "not a unitary gate");
    HQ_CHECK_FAILS(hq_dm_apply_gate(dm, HQ_GATE_H, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "qubits is NULL");
    hq_cplx u[4] = {1, 0, 0, 2};
    HQ_CHECK_FAILS(hq_dm_apply_matrix(dm, u, (int[]){0}, 1), HQ_ERR_INVALID_ARG, "not unitary");
    HQ_CHECK_FAILS(hq_dm_apply_matrix(dm, u, (int[]){0}, 3), HQ_ERR_INVALID_ARG,
                   "k = 3 out of range [1, 2]");
    HQ_CHECK_FAILS(hq_dm_apply_matrix(dm, NULL, (int[]){0}, 1), HQ_ERR_INVALID_ARG, "u is NULL");

    HQ_CHECK_FAILS(hq_dm_apply_depolarizing(dm, 0, 1.5), HQ_ERR_INVALID_ARG,
                   "p = 1.5 out of range [0, 1]");
    HQ_CHECK_FAILS(hq_dm_apply_depolarizing(dm, 0, NAN), HQ_ERR_INVALID_ARG, "out of range");
    HQ_CHECK_FAILS(hq_dm_apply_depolarizing(dm, -1, 0.1), HQ_ERR_INVALID_ARG,
                   "qubit -1 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_depolarizing2(dm, 0, 0, 0.1), HQ_ERR_INVALID_ARG, "appears twice");
    HQ_CHECK_FAILS(hq_dm_apply_depolarizing2(dm, 0, 1, -0.1), HQ_ERR_INVALID_ARG,
                   "p = -0.1 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_pauli_channel(dm, 0, 0.5, 0.4, 0.3), HQ_ERR_INVALID_ARG,
                   "px + py + pz = 1.2");
    HQ_CHECK_FAILS(hq_dm_apply_pauli_channel(dm, 0, -0.1, 0, 0), HQ_ERR_INVALID_ARG,
                   "px = -0.1 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_amplitude_damping(dm, 0, 2), HQ_ERR_INVALID_ARG,
                   "gamma = 2 out of range [0, 1]");
    HQ_CHECK_FAILS(hq_dm_apply_phase_damping(dm, 0, -1), HQ_ERR_INVALID_ARG,
                   "lambda = -1 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_thermal_relaxation(dm, 0, 50, 120, 1, 0), HQ_ERR_INVALID_ARG,
                   "T2 = 120 exceeds 2*T1 = 100");
    HQ_CHECK_FAILS(hq_dm_apply_thermal_relaxation(dm, 0, 0, 10, 1, 0), HQ_ERR_INVALID_ARG,
                   "T1 = 0 must be > 0");
    HQ_CHECK_FAILS(hq_dm_apply_thermal_relaxation(dm, 0, 50, -1, 1, 0), HQ_ERR_INVALID_ARG,
                   "T2 = -1 must be > 0");
    HQ_CHECK_FAILS(hq_dm_apply_thermal_relaxation(dm, 0, 50, 50, -1, 0), HQ_ERR_INVALID_ARG,
                   "time = -1 must be finite and >= 0");
    HQ_CHECK_FAILS(hq_dm_apply_thermal_relaxation(dm, 0, 50, 50, 1, 1.5), HQ_ERR_INVALID_ARG,
                   "excited_population = 1.5 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_reset(dm, 5), HQ_ERR_INVALID_ARG, "qubit 5 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_dephasing_measurement(dm, 2), HQ_ERR_INVALID_ARG,
                   "qubit 2 out of range");
    hq_cplx k2[8] = {1, 0, 0, 1, 0, 1, 0, 0};
    HQ_CHECK_FAILS(hq_dm_apply_kraus(dm, k2, 2, (int[]){0}, 1), HQ_ERR_INVALID_ARG,
                   "not trace preserving");
    HQ_CHECK_FAILS(hq_dm_apply_kraus(dm, k2, 0, (int[]){0}, 1), HQ_ERR_INVALID_ARG,
                   "0 Kraus operators");
    HQ_CHECK_FAILS(hq_dm_apply_kraus(dm, k2, 1, (int[]){0}, 0), HQ_ERR_INVALID_ARG,
                   "k = 0 out of range");
    HQ_CHECK_FAILS(hq_dm_apply_kraus(dm, NULL, 1, (int[]){0}, 1), HQ_ERR_INVALID_ARG,
                   "kraus is NULL");
    hq_rng r;
    hq_rng_init(&r, 1, 1, 0);
    int o;
    HQ_CHECK_FAILS(hq_dm_measure(dm, 0, NULL, &o, NULL), HQ_ERR_INVALID_ARG, "rng is NULL");
    HQ_CHECK_FAILS(hq_dm_measure(dm, 0, &r, NULL, NULL), HQ_ERR_INVALID_ARG, "outcome is NULL");
    HQ_CHECK_FAILS(hq_dm_measure(dm, 3, &r, &o, NULL), HQ_ERR_INVALID_ARG, "qubit 3 out of range");

    double v, pr[4];
    HQ_CHECK_FAILS(hq_dm_calc_probs(dm, NULL), HQ_ERR_INVALID_ARG, "probs is NULL");
    HQ_CHECK_FAILS(hq_dm_calc_marginal(dm, (int[]){0, 0}, 2, pr), HQ_ERR_INVALID_ARG,
                   "qubit 0 appears twice");
    HQ_CHECK_FAILS(hq_dm_calc_marginal(dm, (int[]){0}, 3, pr), HQ_ERR_INVALID_ARG,
                   "k = 3 out of range [1, 2]");
    HQ_CHECK_FAILS(hq_dm_calc_marginal(dm, (int[]){4}, 1, pr), HQ_ERR_INVALID_ARG,
                   "qubit 4 out of range");
    hq_pauli p = hq_pauli_single('Z', 5);
    HQ_CHECK_FAILS(hq_dm_calc_expectation(dm, &p, &v), HQ_ERR_INVALID_ARG,
                   "acts on qubit 5, out of range [0, 2)");
    HQ_CHECK_FAILS(hq_dm_calc_expectation(dm, NULL, &v), HQ_ERR_INVALID_ARG, "p is NULL");
    HQ_CHECK_FAILS(hq_dm_calc_purity(dm, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_dm_calc_trace(dm, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_dm_calc_fidelity_pure(dm, NULL, &v), HQ_ERR_INVALID_ARG, "psi is NULL");
    HQ_CHECK_FAILS(hq_dm_calc_purity(NULL, &v), HQ_ERR_MISUSE, "invalid handle");

    HQ_CHECK_FAILS(hq_readout_apply(pr, 2, (double[]){0.1, 1.1}, (double[]){0, 0}),
                   HQ_ERR_INVALID_ARG, "bit 1: prob_meas0_prep1 = 1.1");
    HQ_CHECK_FAILS(hq_readout_apply(pr, 0, (double[]){0}, (double[]){0}), HQ_ERR_INVALID_ARG,
                   "k = 0 out of range [1, 30]");
    HQ_CHECK_FAILS(hq_readout_apply(pr, 1, NULL, (double[]){0}), HQ_ERR_INVALID_ARG, "p01 is NULL");
    hq_counts cnt;
    HQ_CHECK_FAILS(hq_dm_sample(dm, NULL, NULL, -1, 1, 0, &cnt), HQ_ERR_INVALID_ARG,
                   "shots = -1 must be >= 0");
    HQ_CHECK_FAILS(hq_dm_sample(dm, NULL, NULL, 1, 1, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_dm_sample(dm, (hq_noise_model *)dm, NULL, 1, 1, 0, &cnt), HQ_ERR_MISUSE,
                   "invalid noise model handle");

    /* circuits */
    hq_circuit *c = new_circuit(2, 2);
    HQ_REQUIRE(c);
    int s;
    HQ_CHECK_OK(hq_circuit_add_symbol(c, "theta", HQ_SYM_WEIGHT, &s));
    HQ_CHECK_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, (hq_angle[]){hq_angle_sym(s, 1, 0)}));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0));
    hq_dm_dist d;
    HQ_CHECK_FAILS(hq_dm_run_probs(c, NULL, NULL, NULL, &d), HQ_ERR_INVALID_ARG,
                   "symbol(s) ('theta'...), sym is NULL");
    HQ_CHECK_FAILS(hq_dm_run_probs(c, (double[]){INFINITY}, NULL, NULL, &d), HQ_ERR_INVALID_ARG,
                   "symbol 'theta' is not finite");
    HQ_CHECK_FAILS(hq_dm_run_probs(NULL, NULL, NULL, NULL, &d), HQ_ERR_MISUSE,
                   "invalid circuit handle");
    HQ_CHECK_FAILS(hq_dm_run_probs(c, (double[]){1}, NULL, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "out is NULL");
    HQ_CHECK_FAILS(hq_dm_run(c, (double[]){1}, NULL, NULL, -5, 1, 0, &cnt), HQ_ERR_INVALID_ARG,
                   "shots = -5");
    hq_counts_free(&cnt);
    HQ_CHECK_FAILS(hq_dm_run(c, (double[]){1}, NULL, NULL, 5, 1, 0, NULL), HQ_ERR_INVALID_ARG,
                   "out is NULL");
    HQ_CHECK_FAILS(hq_dm_run(c, (double[]){1}, (hq_noise_model *)dm, NULL, 5, 1, 0, &cnt),
                   HQ_ERR_MISUSE, "invalid noise model handle");
    HQ_CHECK_FAILS(hq_dm_apply_circuit(dm, c, (double[]){1}, NULL, NULL, false), HQ_ERR_UNSUPPORTED,
                   "op 1 is a measurement");
    HQ_CHECK_OK(hq_dm_apply_circuit(dm, c, (double[]){1}, NULL, NULL, true));
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL));
    HQ_CHECK_OK(hq_circuit_set_condition(c, 0, 1));
    HQ_CHECK_FAILS(hq_dm_apply_circuit(dm, c, (double[]){1}, NULL, NULL, true), HQ_ERR_UNSUPPORTED,
                   "op 2 is classically conditioned");
    hq_dm *dm3;
    HQ_REQUIRE_OK(hq_dm_create(3, &dm3));
    HQ_CHECK_FAILS(hq_dm_apply_circuit(dm3, c, (double[]){1}, NULL, NULL, true), HQ_ERR_INVALID_ARG,
                   "the circuit has 2 qubits, the density matrix 3");
    hq_dm_free(dm3);
    hq_circuit_free(c);
    c = new_circuit(16, 0);
    HQ_REQUIRE(c);
    HQ_CHECK_FAILS(hq_dm_run_probs(c, NULL, NULL, NULL, &d), HQ_ERR_INVALID_ARG,
                   "the circuit has 16 qubits, expected 1 to 15");
    hq_circuit_free(c);
    c = new_circuit(1, 65);
    HQ_REQUIRE(c);
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 64));
    HQ_CHECK_FAILS(hq_dm_run_probs(c, NULL, NULL, NULL, &d), HQ_ERR_UNSUPPORTED,
                   "65 classical bits");
    hq_circuit_free(c);

    hq_dm_free(dm);
    hq_dm_free(NULL);
    hq_dm_dist_free(NULL);
}

HQ_TEST(dm_allocation_failures) {
    /* every allocation of create / copy / kraus / run fails in turn without leaking */
    hq_circuit *c = noisy_test_circuit();
    HQ_REQUIRE(c);
    HQ_CHECK_OK(hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL));
    HQ_CHECK_OK(hq_circuit_add_measure(c, 0, 0)); /* a mid-circuit measurement: branches */
    const int ident[4] = {0, 1, 2, 3};
    hq_noise_model *m = model_on(4, ident);
    HQ_REQUIRE(m);
    for (long n = 1; n < 200; n++) {
        hq_alloc_fail_after(n);
        hq_counts cnt;
        hq_status st = hq_dm_run(c, NULL, m, NULL, 100, 1, 0, &cnt);
        hq_alloc_fail_after(0);
        if (st == HQ_OK) { /* (hq_counts_sort recovers from a failed allocation) */
            hq_counts_free(&cnt);
            break;
        }
        HQ_CHECK_EQ_INT(st, HQ_ERR_NOMEM);
        HQ_CHECK(strstr(hq_last_error(), "out of memory") != NULL);
    }
    hq_dm *dm = NULL, *cp = NULL;
    for (long n = 1; n < 10; n++) {
        hq_alloc_fail_after(n);
        hq_status st = hq_dm_create(3, &dm);
        if (!st) st = hq_dm_copy(dm, &cp);
        hq_cplx K[4] = {1, 0, 0, 1};
        if (!st) st = hq_dm_apply_kraus(dm, K, 1, (int[]){1}, 1);
        hq_alloc_fail_after(0);
        hq_dm_free(dm);
        hq_dm_free(cp);
        dm = cp = NULL;
        if (!st) break;
        HQ_CHECK_EQ_INT(st, HQ_ERR_NOMEM);
    }
    hq_noise_free(m);
    hq_circuit_free(c);
}
