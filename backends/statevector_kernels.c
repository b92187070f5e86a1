/*
 * backends/statevector_kernels.c — the stride-loop kernels that apply one gate to a
 * statevector in place, and the compilation of a gate (or an arbitrary matrix) into the
 * cheapest kernel that computes it exactly.
 *
 * Every kernel visits the 2^(n-k) groups of amplitudes that a k-qubit operation mixes
 * (k = targets + controls). A group's base index has zeros at the k involved bit
 * positions; the bases come in contiguous runs of 2^p0 (p0 = lowest involved position),
 * so the inner loop is a unit-stride loop the compiler vectorises, and the outer loop
 * pays the bit insertion once per run. The uncontrolled single-qubit kernels, which
 * dominate large circuits, have their own two-level loops.
 *
 * Kernel choice (sv_compile_matrix) uses the exact zero pattern of the matrix: diagonal
 * (and phase-only: diag(1, e^{i.})), anti-diagonal (X, Y, CX, CCX: pure swaps when the
 * entries are 1), swap-like two-qubit (SWAP, iSWAP, CSWAP), then general 2x2, 4x4, 8x8
 * and 2^k x 2^k. Controlled gates of the table are applied as their target block on the
 * control-set subspace. The naive reference (backends/sv_ref.c) is the yardstick the
 * tests hold all of this to.
 */
#include <string.h>

#include "backends/statevector_impl.h"

/* ==== group iteration ================================================================= */

/* Insert a zero bit at each of the ascending positions p[0..k) of i. */
static inline int64_t insert_zeros(int64_t i, const int *p, int k) {
    for (int j = 0; j < k; j++) {
        int64_t lo = i & (((int64_t)1 << p[j]) - 1);
        i = ((i >> p[j]) << (p[j] + 1)) | lo;
    }
    return i;
}

/* Sorted involved positions of a kop: targets and controls. Returns the count. */
static int involved(const sv_kop *k, int *p) {
    int c = 0;
    for (int j = 0; j < k->nt; j++) p[c++] = k->t[j];
    for (int b = 0; b < 64; b++)
        if (k->cmask >> b & 1) p[c++] = b;
    for (int i = 1; i < c; i++) /* insertion sort, c <= 64 */
        for (int j = i; j > 0 && p[j - 1] > p[j]; j--) {
            int t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
    return c;
}

/*
 * FOR_GROUPS(n, p, k, base) { ... } runs the body once per group with `base` set to the
 * group's lowest index (zeros at the involved positions p[0..k), sorted).
 */
#define FOR_GROUPS(n, p, k, base)                                                            \
    for (int64_t g_ = 0, G_ = (int64_t)1 << ((n) - (k)), L_ = (int64_t)1 << (p)[0]; g_ < G_; \
         g_ += L_)                                                                           \
        for (int64_t b0_ = insert_zeros(g_, (p), (k)), base = b0_; base < b0_ + L_; base++)

/* ==== single-qubit, uncontrolled ====================================================== */

/*
 * Pairs 256 MiB or more apart (target qubit >= 24): reading lo[j] and hi[j] alternately
 * halves the memory bandwidth on the machines we measured (two streams whose addresses
 * differ only in high bits collide in the DRAM mapping). Such targets copy a block of the
 * low half into L1 and stream the high half against it: 2x faster there, slower below.
 */
#define SV_FAR_BLOCK 2048                 /* amplitudes per block (32 KiB) */
int64_t sv_far_stride = (int64_t)1 << 24; /* amplitudes (x 16 bytes = 256 MiB) */

static void mat1_plain(hq_cplx *restrict a, int64_t dim, int t, const hq_cplx *m) {
    const hq_cplx m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3];
    const int64_t s = (int64_t)1 << t;
    if (t == 0) {
        for (int64_t i = 0; i < dim; i += 2) {
            hq_cplx x = a[i], y = a[i + 1];
            a[i] = m0 * x + m1 * y;
            a[i + 1] = m2 * x + m3 * y;
        }
        return;
    }
    if (s >= sv_far_stride && s >= SV_FAR_BLOCK) {
        hq_cplx buf[SV_FAR_BLOCK];
        for (int64_t i0 = 0; i0 < dim; i0 += 2 * s)
            for (int64_t b = 0; b < s; b += SV_FAR_BLOCK) {
                hq_cplx *restrict lo = a + i0 + b, *restrict hi = a + i0 + s + b;
                memcpy(buf, lo, sizeof buf);
                for (int64_t j = 0; j < SV_FAR_BLOCK; j++) {
                    hq_cplx x = buf[j], y = hi[j];
                    buf[j] = m0 * x + m1 * y;
                    hi[j] = m2 * x + m3 * y;
                }
                memcpy(lo, buf, sizeof buf);
            }
        return;
    }
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s) {
        hq_cplx *restrict lo = a + i0, *restrict hi = a + i0 + s;
        for (int64_t j = 0; j < s; j++) {
            hq_cplx x = lo[j], y = hi[j];
            lo[j] = m0 * x + m1 * y;
            hi[j] = m2 * x + m3 * y;
        }
    }
}

static void diag1_plain(hq_cplx *restrict a, int64_t dim, int t, hq_cplx d0, hq_cplx d1) {
    const int64_t s = (int64_t)1 << t;
    const bool phase_only = d0 == 1;
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s) {
        hq_cplx *restrict lo = a + i0, *restrict hi = a + i0 + s;
        if (!phase_only)
            for (int64_t j = 0; j < s; j++) lo[j] *= d0;
        for (int64_t j = 0; j < s; j++) hi[j] *= d1;
    }
}

static void anti1_plain(hq_cplx *restrict a, int64_t dim, int t, hq_cplx u, hq_cplx v) {
    const int64_t s = (int64_t)1 << t;
    const bool pure = u == 1 && v == 1;
    for (int64_t i0 = 0; i0 < dim; i0 += 2 * s) {
        hq_cplx *restrict lo = a + i0, *restrict hi = a + i0 + s;
        if (pure)
            for (int64_t j = 0; j < s; j++) {
                hq_cplx x = lo[j];
                lo[j] = hi[j];
                hi[j] = x;
            }
        else
            for (int64_t j = 0; j < s; j++) {
                hq_cplx x = lo[j];
                lo[j] = u * hi[j];
                hi[j] = v * x;
            }
    }
}

/* ==== general kernels (controls allowed) ============================================== */

static void k_mat1(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx *m = k->m;
    const hq_cplx m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3];
    const int64_t c = (int64_t)k->cmask, s = (int64_t)1 << k->t[0];
    FOR_GROUPS(n, p, np, b) {
        int64_t i0 = b | c, i1 = i0 | s;
        hq_cplx x = a[i0], y = a[i1];
        a[i0] = m0 * x + m1 * y;
        a[i1] = m2 * x + m3 * y;
    }
}

static void k_diag1(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx d0 = k->m[0], d1 = k->m[1];
    const int64_t c = (int64_t)k->cmask, s = (int64_t)1 << k->t[0];
    if (d0 == 1) {
        FOR_GROUPS(n, p, np, b) a[b | c | s] *= d1;
    } else {
        FOR_GROUPS(n, p, np, b) {
            a[b | c] *= d0;
            a[b | c | s] *= d1;
        }
    }
}

static void k_anti1(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx u = k->m[0], v = k->m[1];
    const int64_t c = (int64_t)k->cmask, s = (int64_t)1 << k->t[0];
    if (u == 1 && v == 1) {
        FOR_GROUPS(n, p, np, b) {
            int64_t i0 = b | c, i1 = i0 | s;
            hq_cplx x = a[i0];
            a[i0] = a[i1];
            a[i1] = x;
        }
    } else {
        FOR_GROUPS(n, p, np, b) {
            int64_t i0 = b | c, i1 = i0 | s;
            hq_cplx x = a[i0];
            a[i0] = u * a[i1];
            a[i1] = v * x;
        }
    }
}

static void k_swap2(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx u = k->m[0], v = k->m[1];
    const int64_t c = (int64_t)k->cmask;
    const int64_t s0 = (int64_t)1 << k->t[0], s1 = (int64_t)1 << k->t[1];
    const bool pure = u == 1 && v == 1;
    FOR_GROUPS(n, p, np, b) {
        int64_t i01 = b | c | s0, i10 = b | c | s1;
        hq_cplx x = a[i01];
        a[i01] = pure ? a[i10] : u * a[i10];
        a[i10] = pure ? x : v * x;
    }
}

static void k_diag2(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx d0 = k->m[0], d1 = k->m[1], d2 = k->m[2], d3 = k->m[3];
    const int64_t c = (int64_t)k->cmask;
    const int64_t s0 = (int64_t)1 << k->t[0], s1 = (int64_t)1 << k->t[1];
    FOR_GROUPS(n, p, np, b) {
        int64_t i = b | c;
        a[i] *= d0;
        a[i | s0] *= d1;
        a[i | s1] *= d2;
        a[i | s0 | s1] *= d3;
    }
}

/* two independent 2x2 mixes: (|00>, |11>) and (|01>, |10>) */
static void k_xx2(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx *m = k->m;
    const hq_cplx a00 = m[0], a03 = m[3], a30 = m[12], a33 = m[15];
    const hq_cplx b11 = m[5], b12 = m[6], b21 = m[9], b22 = m[10];
    const int64_t c = (int64_t)k->cmask;
    const int64_t s0 = (int64_t)1 << k->t[0], s1 = (int64_t)1 << k->t[1];
    FOR_GROUPS(n, p, np, b) {
        int64_t i0 = b | c, i1 = i0 | s0, i2 = i0 | s1, i3 = i0 | s0 | s1;
        hq_cplx x0 = a[i0], x1 = a[i1], x2 = a[i2], x3 = a[i3];
        a[i0] = a00 * x0 + a03 * x3;
        a[i3] = a30 * x0 + a33 * x3;
        a[i1] = b11 * x1 + b12 * x2;
        a[i2] = b21 * x1 + b22 * x2;
    }
}

static void k_mat2(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx *m = k->m;
    const int64_t c = (int64_t)k->cmask;
    const int64_t s0 = (int64_t)1 << k->t[0], s1 = (int64_t)1 << k->t[1];
    FOR_GROUPS(n, p, np, b) {
        int64_t i0 = b | c, i1 = i0 | s0, i2 = i0 | s1, i3 = i0 | s0 | s1;
        hq_cplx x0 = a[i0], x1 = a[i1], x2 = a[i2], x3 = a[i3];
        a[i0] = m[0] * x0 + m[1] * x1 + m[2] * x2 + m[3] * x3;
        a[i1] = m[4] * x0 + m[5] * x1 + m[6] * x2 + m[7] * x3;
        a[i2] = m[8] * x0 + m[9] * x1 + m[10] * x2 + m[11] * x3;
        a[i3] = m[12] * x0 + m[13] * x1 + m[14] * x2 + m[15] * x3;
    }
}

/* offs[s] = sum of 2^t[j] over the set bits j of s, s < 2^nt */
static void sub_offsets(const int *t, int nt, int64_t *offs) {
    for (int s = 0; s < 1 << nt; s++) {
        int64_t o = 0;
        for (int j = 0; j < nt; j++)
            if (s >> j & 1) o |= (int64_t)1 << t[j];
        offs[s] = o;
    }
}

static void k_matk(hq_cplx *restrict a, int n, const sv_kop *k, const int *p, int np) {
    const hq_cplx *m = sv_kop_m(k);
    const int d = 1 << k->nt;
    const int64_t c = (int64_t)k->cmask;
    int64_t offs[1 << HQ_SV_MAX_MATRIX_QUBITS];
    hq_cplx in[1 << HQ_SV_MAX_MATRIX_QUBITS];
    sub_offsets(k->t, k->nt, offs);
    FOR_GROUPS(n, p, np, b) {
        int64_t i = b | c;
        for (int s = 0; s < d; s++) in[s] = a[i + offs[s]];
        for (int r = 0; r < d; r++) {
            const hq_cplx *row = m + (int64_t)r * d;
            hq_cplx acc = 0;
            for (int s = 0; s < d; s++) acc += row[s] * in[s];
            a[i + offs[r]] = acc;
        }
    }
}

void sv_apply_kop(hq_cplx *amp, int n, const sv_kop *k) {
    const int64_t dim = (int64_t)1 << n;
    if (k->kind == SV_K_NOP) return;
    if (k->cmask == 0 && k->nt == 1) {
        switch (k->kind) {
        case SV_K_MAT1: mat1_plain(amp, dim, k->t[0], k->m); return;
        case SV_K_DIAG1: diag1_plain(amp, dim, k->t[0], k->m[0], k->m[1]); return;
        case SV_K_ANTI1: anti1_plain(amp, dim, k->t[0], k->m[0], k->m[1]); return;
        default: break;
        }
    }
    int p[64];
    int np = involved(k, p);
    switch (k->kind) {
    case SV_K_MAT1: k_mat1(amp, n, k, p, np); break;
    case SV_K_DIAG1: k_diag1(amp, n, k, p, np); break;
    case SV_K_ANTI1: k_anti1(amp, n, k, p, np); break;
    case SV_K_SWAP2: k_swap2(amp, n, k, p, np); break;
    case SV_K_DIAG2: k_diag2(amp, n, k, p, np); break;
    case SV_K_MAT2: k_mat2(amp, n, k, p, np); break;
    case SV_K_XX2: k_xx2(amp, n, k, p, np); break;
    case SV_K_MAT3:
    case SV_K_MATK: k_matk(amp, n, k, p, np); break;
    default: (void)HQ_NEVER(1); break;
    }
}

/* ==== compile ========================================================================= */

static bool is_diag(const hq_cplx *m, int d) {
    for (int r = 0; r < d; r++)
        for (int c = 0; c < d; c++)
            if (r != c && m[r * d + c] != 0) return false;
    return true;
}

void sv_compile_matrix(const hq_cplx *m, const int *t, int nt, uint64_t cmask, sv_kop *k) {
    memset(k, 0, sizeof *k);
    k->nt = nt;
    k->cmask = cmask;
    for (int j = 0; j < nt; j++) k->t[j] = t[j];
    const int d = 1 << nt;
    if (nt == 1) {
        if (m[1] == 0 && m[2] == 0) {
            k->kind = m[0] == 1 && m[3] == 1 ? SV_K_NOP : SV_K_DIAG1;
            k->m[0] = m[0];
            k->m[1] = m[3];
        } else if (m[0] == 0 && m[3] == 0) {
            k->kind = SV_K_ANTI1;
            k->m[0] = m[1];
            k->m[1] = m[2];
        } else {
            k->kind = SV_K_MAT1;
            memcpy(k->m, m, 4 * sizeof *m);
        }
        return;
    }
    if (nt == 2) {
        if (is_diag(m, 4)) {
            k->kind = SV_K_DIAG2;
            for (int i = 0; i < 4; i++) k->m[i] = m[i * 5];
            if (m[0] == 1 && m[5] == 1 && m[10] == 1 && m[15] == 1) k->kind = SV_K_NOP;
            return;
        }
        /* swap-like: identity on |00>, |11>; |01> <-> |10> with phases */
        bool swap = m[0] == 1 && m[15] == 1 && m[5] == 0 && m[10] == 0;
        for (int r = 0; r < 4 && swap; r++)
            for (int c = 0; c < 4 && swap; c++) {
                bool allowed =
                    (r == c && (r == 0 || r == 3)) || (r == 1 && c == 2) || (r == 2 && c == 1);
                if (!allowed && m[r * 4 + c] != 0) swap = false;
            }
        if (swap) {
            k->kind = SV_K_SWAP2;
            k->m[0] = m[1 * 4 + 2];
            k->m[1] = m[2 * 4 + 1];
            return;
        }
        /* only (00,11) and (01,10) mix: rxx, ryy, ms */
        bool xx = true;
        for (int r = 0; r < 4 && xx; r++)
            for (int c = 0; c < 4 && xx; c++)
                if (r != c && r + c != 3 && m[r * 4 + c] != 0) xx = false;
        k->kind = xx ? SV_K_XX2 : SV_K_MAT2;
        memcpy(k->m, m, 16 * sizeof *m);
        return;
    }
    if (nt == 3) {
        k->kind = SV_K_MAT3;
        memcpy(k->m, m, 64 * sizeof *m);
        return;
    }
    k->kind = SV_K_MATK;
    k->mext = m;
    (void)d;
}

hq_status sv_compile_gate(hq_gate g, const int *q, const double *params, bool dagger, sv_kop *k) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    hq_cplx m[64];
    hq_status st = hq_gate_matrix(g, params, m);
    if (st) return st;
    const int d = 1 << gi->nq;
    if (dagger) {
        hq_cplx t[64];
        for (int r = 0; r < d; r++)
            for (int c = 0; c < d; c++) t[c * d + r] = conj(m[r * d + c]);
        memcpy(m, t, (size_t)(d * d) * sizeof *m);
    }
    switch (g) {
    case HQ_GATE_CX:
    case HQ_GATE_CY:
    case HQ_GATE_CZ:
    case HQ_GATE_CH:
    case HQ_GATE_CSX:
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ:
    case HQ_GATE_CU3:
    case HQ_GATE_CU: {
        /* control = operand 0 (bit 0): the target block is rows/columns 1 and 3 */
        hq_cplx u[4] = {m[1 * 4 + 1], m[1 * 4 + 3], m[3 * 4 + 1], m[3 * 4 + 3]};
        sv_compile_matrix(u, &q[1], 1, (uint64_t)1 << q[0], k);
        return HQ_OK;
    }
    case HQ_GATE_CCX: {
        /* controls operands 0, 1; the target block is rows/columns 3 and 7 */
        hq_cplx u[4] = {m[3 * 8 + 3], m[3 * 8 + 7], m[7 * 8 + 3], m[7 * 8 + 7]};
        sv_compile_matrix(u, &q[2], 1, ((uint64_t)1 << q[0]) | ((uint64_t)1 << q[1]), k);
        return HQ_OK;
    }
    case HQ_GATE_CSWAP: {
        /* control operand 0; block of rows/columns 1, 3, 5, 7 on operands (1, 2) */
        static const int idx[4] = {1, 3, 5, 7};
        hq_cplx u[16];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) u[r * 4 + c] = m[idx[r] * 8 + idx[c]];
        sv_compile_matrix(u, &q[1], 2, (uint64_t)1 << q[0], k);
        return HQ_OK;
    }
    default: sv_compile_matrix(m, q, gi->nq, 0, k); return HQ_OK;
    }
}

/* ==== inner products and Pauli strings ================================================ */

hq_cplx sv_inner_matrix(const hq_cplx *a, const hq_cplx *b, int n, const hq_cplx *m, const int *q,
                        int k) {
    int p[HQ_GATE_MAX_QUBITS];
    for (int j = 0; j < k; j++) p[j] = q[j];
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && p[j - 1] > p[j]; j--) {
            int t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
    int64_t offs[8];
    sub_offsets(q, k, offs);
    const int d = 1 << k;
    hq_cplx acc = 0;
    if (k == 1) {
        const hq_cplx m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3];
        const int64_t s = offs[1];
        FOR_GROUPS(n, p, k, base) {
            hq_cplx x = b[base], y = b[base + s];
            acc += conj(a[base]) * (m0 * x + m1 * y) + conj(a[base + s]) * (m2 * x + m3 * y);
        }
        return acc;
    }
    FOR_GROUPS(n, p, k, base) {
        hq_cplx in[8];
        for (int s = 0; s < d; s++) in[s] = b[base + offs[s]];
        for (int r = 0; r < d; r++) {
            hq_cplx t = 0;
            for (int s = 0; s < d; s++) t += m[r * d + s] * in[s];
            acc += conj(a[base + offs[r]]) * t;
        }
    }
    return acc;
}

/* i^k for k mod 4 */
static hq_cplx ipow(int k) {
    static const hq_cplx tab[4] = {1, I, -1, -I};
    return tab[k & 3];
}

double sv_expect_pauli_raw(const hq_cplx *amp, int64_t dim, const hq_pauli *p) {
    const uint64_t x = p->x, z = p->z;
    if (x == 0) {
        double acc = 0;
        for (int64_t b = 0; b < dim; b++) {
            double pr = creal(amp[b]) * creal(amp[b]) + cimag(amp[b]) * cimag(amp[b]);
            acc += __builtin_parityll((uint64_t)b & z) ? -pr : pr;
        }
        return p->coef * acc;
    }
    /* P|b> = i^{|x&z|} (-1)^{|b&z|} |b^x>, so <psi|P|psi> = sum_b conj(a[b^x]) a[b] (...) */
    const hq_cplx ph = ipow(__builtin_popcountll(x & z));
    hq_cplx acc = 0;
    for (int64_t b = 0; b < dim; b++) {
        hq_cplx t = conj(amp[(uint64_t)b ^ x]) * amp[b];
        acc += __builtin_parityll((uint64_t)b & z) ? -t : t;
    }
    return p->coef * creal(ph * acc);
}

void sv_apply_pauli_acc(const hq_cplx *in, hq_cplx *out, int64_t dim, const hq_pauli *p, double c) {
    const uint64_t x = p->x, z = p->z;
    const hq_cplx ph = c * p->coef * ipow(__builtin_popcountll(x & z));
    for (int64_t b = 0; b < dim; b++) {
        hq_cplx t = ph * in[b];
        out[(uint64_t)b ^ x] += __builtin_parityll((uint64_t)b & z) ? -t : t;
    }
}
