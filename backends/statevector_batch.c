/*
 * backends/statevector_batch.c — one small template bound to many parameter rows: the
 * quantum layer's forward and backward over a mini-batch (see the batched-path section of
 * statevector.h for the plan: product prefix A, per-row segment B, dense shared W = C).
 *
 * Layout: rows are processed SVB_L at a time, one row per SIMD lane. A lane state keeps,
 * for each amplitude slot, SVB_L real parts then SVB_L imaginary parts, so every gate
 * is the same scalar code over a unit-stride lane loop the compiler vectorises, whatever
 * its target qubit. Gate matrices are lane arrays too (a row's matrix differs when its
 * angles do); matrices that do not depend on the rows are built once per call.
 *
 * Compile-time work (hq_sv_batch_create): segments, the amplitude-slot tuples every gate
 * touches (permutation gates only relabel slots, so they cost nothing at run time), the
 * per-row and shared terms of every angle, observables as slot lists. Nothing is
 * allocated per call except the first time a thread count is used.
 *
 * Gradients: per row, the adjoint method over segment B (with, per gate, one 2x2 / 4x4
 * "transition" matrix T = sum conj(lambda_i) phi_j, so every parameter of the gate costs
 * a few multiplications), then the product prefix by contracting the adjoint state with
 * the other qubits' 2-vectors; per call, segment C by one adjoint pass over the columns
 * of B = sum_rows psi lambda^dagger.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "backends/statevector_impl.h"

#define L SVB_L

/* ==== vector sincos =================================================================== */

void sv_sincos_lanes(const double *restrict x, double *restrict c, double *restrict s) {
    double big = 0;
    for (int l = 0; l < L; l++) big = fmax(big, fabs(x[l]));
    if (!(big <= 1e5)) { /* rare: huge or non-finite arguments */
        for (int l = 0; l < L; l++) {
            c[l] = cos(x[l]);
            s[l] = sin(x[l]);
        }
        return;
    }
    /* pi/2 = P1 + P2 + P3 (53 + 53 + 53 bits) */
    const double P1 = 0x1.921fb54442d18p0, P2 = 0x1.1a62633145c07p-54, P3 = -0x1.f1976b7ed8fbcp-110,
                 MAGIC = 0x1.8p52;
    for (int l = 0; l < L; l++) {
        double xv = x[l];
        double km = xv * M_2_PI + MAGIC; /* round(x / (pi/2)) in the low mantissa bits */
        double k = km - MAGIC;
        uint64_t bits;
        memcpy(&bits, &km, sizeof bits);
        int q = (int)(bits & 3);
        double r = fma(-k, P1, xv);
        r = fma(-k, P2, r);
        r = fma(-k, P3, r);
        double r2 = r * r;
        double ps = 1.0 / 355687428096000.0;
        ps = fma(ps, r2, -1.0 / 1307674368000.0);
        ps = fma(ps, r2, 1.0 / 6227020800.0);
        ps = fma(ps, r2, -1.0 / 39916800.0);
        ps = fma(ps, r2, 1.0 / 362880.0);
        ps = fma(ps, r2, -1.0 / 5040.0);
        ps = fma(ps, r2, 1.0 / 120.0);
        ps = fma(ps, r2, -1.0 / 6.0);
        double sn = fma(ps * r2, r, r);
        double pc = 1.0 / 20922789888000.0;
        pc = fma(pc, r2, -1.0 / 87178291200.0);
        pc = fma(pc, r2, 1.0 / 479001600.0);
        pc = fma(pc, r2, -1.0 / 3628800.0);
        pc = fma(pc, r2, 1.0 / 40320.0);
        pc = fma(pc, r2, -1.0 / 720.0);
        pc = fma(pc, r2, 1.0 / 24.0);
        pc = fma(pc, r2, -0.5);
        double cs = fma(pc, r2, 1.0);
        double so = (q & 1) ? cs : sn, co = (q & 1) ? sn : cs;
        s[l] = (q & 2) ? -so : so;
        c[l] = ((q + 1) & 2) ? -co : co;
    }
}

/* ==== plan ============================================================================ */

enum svb_kind {
    SVB_SKIP = 0, /* identity: nothing */
    SVB_PERM,     /* permutation: compiled into the slot map, nothing at run time */
    SVB_MAT1,     /* 2x2 complex block on slot pairs (controls select the pairs) */
    SVB_MAT1R,    /* 2x2 real block */
    SVB_DIAG1,    /* diagonal 2x2 block (entries 0 and 3 of the block) */
    SVB_MAT2,     /* 4x4 complex on slot quads */
};

typedef struct svb_op {
    int kind;                         /* enum svb_kind */
    hq_gate gate;                     /* table gate */
    int np;                           /* parameters */
    int32_t ent[HQ_GATE_MAX_PARAMS];  /* angle-table entries of the parameters */
    double scale[HQ_GATE_MAX_PARAMS]; /* trig argument = scale * angle (0: no trig) */
    int32_t trig;                     /* first trig slot (np consecutive), -1 */
    int q[HQ_GATE_MAX_QUBITS];        /* qubits (operand order) */
    int qubit;                        /* segment A: the qubit */
    bool per_row;                     /* the matrix differs between rows */
    bool grad;                        /* some parameter is symbolic */
    bool phase_only;                  /* SVB_DIAG1 with first entry exactly 1 */
    int ne;                           /* matrix entries: 4 (block) or 16 */
    int32_t n_tup;                    /* tuples: pairs (ne 4) or quads (ne 16) */
    int64_t tup;                      /* offset of the tuples in plan->slots */
    int64_t shm;                      /* shared matrices offset in plan->shm, -1 */
} svb_op;

/* λ[dst] += g_obs * (fr + i fi) * φ[src] */
typedef struct svb_lterm {
    int32_t dst, src, obs;
    double fr, fi;
} svb_lterm;

/* E_obs += w * (im ? Im : Re)(conj(φ[b]) φ[a]) */
typedef struct svb_pair {
    int32_t a, b;
    double w;
    int im;
} svb_pair;

typedef struct svb_plan {
    bool shared; /* inputs per row, weights shared */
    bool fallback;
    int n, D;
    int64_t n_ent;
    uint8_t *ent_row;  /* (n_ent) entry depends on per-row values */
    int32_t *rt_start; /* (n_ent + 1) per-row terms of each entry (CSR) */
    int32_t *rt_col;   /* column in the row vector (symbol index / input index) */
    double *rt_coef;
    int32_t *st_start; /* (n_ent + 1) shared terms (weights; shared plan only) */
    int32_t *st_col;   /* weight index */
    double *st_coef;
    svb_op *ops; /* segment A then segment B */
    int n_ops, nA;
    int32_t *slots; /* tuples of B ops */
    int64_t n_slots;
    int n_trig;
    double *shm; /* shared matrices: (1 + np) x ne x 2 x L per shared op */
    int64_t n_shm;
    /* segment C */
    bool dense;
    int64_t *c_ops; /* circuit op indices of segment C */
    int64_t n_c;
    int32_t *slot_of; /* (D) slot of logical index at the end of B */
    double *wr, *wi;  /* (D x D) W' = W with columns permuted to slots, per call */
    double *cwork;    /* (3 x D x D) complex scratch for W and its adjoint pass */
    bool psi_real, mu_real;
    /* observables, on slots (identity when dense) */
    double *ob_diag; /* (n_obs x D) diagonal weights by slot */
    uint8_t *ob_has_diag;
    svb_pair *ob_pairs; /* off-diagonal pair contributions, grouped by observable */
    int64_t *ob_pstart; /* (n_obs + 1) */
    svb_lterm *lterms;  /* off-diagonal lambda terms */
    int64_t n_lterms;
    hq_sv_batch_info info;
} svb_plan;

typedef struct svb_ws {
    double *ang;  /* (n_ent x L) angles of the chunk */
    double *trig; /* (n_trig x 2 x L) cos, sin */
    double *v;    /* (n x 2 x 2 x L) product-prefix 2-vectors [q][b][re, im][L] */
    double *st, *st2, *lam, *lam2, *tmp, *tmp2; /* (D x 2 x L) lane states */
    double *mat;                                /* (5 x 16 x 2 x L) scratch matrices */
    double *dang;                               /* (n_ent x L) gradient by angle entry */
    double *wsum;                               /* (n_ent) sum over rows of dang (shared entries) */
    double *bacc;  /* (2 x D x D x L) sum_rows psi lambda^dagger by lane */
    double *E, *G; /* (n_obs x L) */
    double *gd;    /* (D x L) */
    void *block;   /* the allocation */
} svb_ws;

struct hq_sv_batch {
    hq_handle h;
    hq_circuit *c; /* owned copy of the template */
    int n, ns, nw, nin, n_obs;
    int32_t *w_sym;  /* (nw) symbol of weight k */
    int32_t *in_sym; /* (nin) symbol of input k */
    int32_t *col_of; /* (ns) index of a symbol within its kind */
    hq_pauli *terms; /* copied observables */
    hq_pauli_sum *obs;
    svb_plan gen, shr;
    int n_threads;
    svb_ws *ws; /* (n_ws) per-thread scratch */
    int n_ws;
    double *base; /* (n_ent) per-call shared part of each angle */
    double *wtot; /* (n_ent) reduced weight-angle gradients */
};

/* ==== gate facts ====================================================================== */

static bool is_perm_gate(hq_gate g) {
    return g == HQ_GATE_X || g == HQ_GATE_CX || g == HQ_GATE_CCX || g == HQ_GATE_SWAP ||
           g == HQ_GATE_CSWAP;
}
static bool is_ctrl1(hq_gate g) {
    switch (g) {
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
    case HQ_GATE_CU: return true;
    default: return false;
    }
}
/* parameterised gates with a lane builder (2x2 blocks) */
static bool has_builder(hq_gate g) {
    switch (g) {
    case HQ_GATE_RX:
    case HQ_GATE_RY:
    case HQ_GATE_RZ:
    case HQ_GATE_P:
    case HQ_GATE_U1:
    case HQ_GATE_U2:
    case HQ_GATE_U3:
    case HQ_GATE_U:
    case HQ_GATE_GPI:
    case HQ_GATE_GPI2:
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ:
    case HQ_GATE_CU3:
    case HQ_GATE_CU: return true;
    default: return false;
    }
}
static double trig_scale(hq_gate g, int k) {
    switch (g) {
    case HQ_GATE_RX:
    case HQ_GATE_RY:
    case HQ_GATE_RZ:
    case HQ_GATE_CRX:
    case HQ_GATE_CRY:
    case HQ_GATE_CRZ: return 0.5;
    case HQ_GATE_U3:
    case HQ_GATE_U:
    case HQ_GATE_CU3:
    case HQ_GATE_CU: return k == 0 ? 0.5 : 1.0;
    case HQ_GATE_P:
    case HQ_GATE_U1:
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
    case HQ_GATE_U2: return 1.0;
    case HQ_GATE_GPI:
    case HQ_GATE_GPI2: return 2 * M_PI;
    default: return 0;
    }
}
/* matrix real for every parameter value */
static bool real_gate(hq_gate g) {
    return g == HQ_GATE_ID || g == HQ_GATE_X || g == HQ_GATE_Z || g == HQ_GATE_H ||
           g == HQ_GATE_RY || g == HQ_GATE_CX || g == HQ_GATE_CZ || g == HQ_GATE_CH ||
           g == HQ_GATE_CRY || g == HQ_GATE_SWAP || g == HQ_GATE_CCX || g == HQ_GATE_CSWAP;
}

/* ==== lane matrices =================================================================== */

/* entry e of a lane matrix: re at m + 2eL, im at m + (2e+1)L */
#define MR(m, e) ((m) + (size_t)(2 * (e)) * L)
#define MI(m, e) ((m) + (size_t)(2 * (e) + 1) * L)
/* slot s of a lane state */
#define SR(st, s) ((st) + (size_t)(2 * (s)) * L)
#define SI(st, s) ((st) + (size_t)(2 * (s) + 1) * L)

static void mset(double *m, int e, int l, double re, double im) {
    MR(m, e)[l] = re;
    MI(m, e)[l] = im;
}

/*
 * Build the 2x2 block of a parameterised gate (dk < 0) or its derivative with respect to
 * parameter dk, for all lanes, from trig[k] = (cos, sin) lanes of scale_k * angle_k.
 */
static void build_block(const svb_op *op, const double *trig, int dk, double *m) {
    const double *c0 = trig, *s0 = trig + L;
    for (int l = 0; l < L; l++) {
        double c = c0[l], s = s0[l];
        switch (op->gate) {
        case HQ_GATE_RX:
        case HQ_GATE_CRX:
            if (dk < 0) {
                mset(m, 0, l, c, 0), mset(m, 1, l, 0, -s), mset(m, 2, l, 0, -s),
                    mset(m, 3, l, c, 0);
            } else {
                mset(m, 0, l, -s / 2, 0), mset(m, 1, l, 0, -c / 2), mset(m, 2, l, 0, -c / 2);
                mset(m, 3, l, -s / 2, 0);
            }
            break;
        case HQ_GATE_RY:
        case HQ_GATE_CRY:
            if (dk < 0) {
                mset(m, 0, l, c, 0), mset(m, 1, l, -s, 0), mset(m, 2, l, s, 0), mset(m, 3, l, c, 0);
            } else {
                mset(m, 0, l, -s / 2, 0), mset(m, 1, l, -c / 2, 0), mset(m, 2, l, c / 2, 0);
                mset(m, 3, l, -s / 2, 0);
            }
            break;
        case HQ_GATE_RZ:
        case HQ_GATE_CRZ:
            mset(m, 1, l, 0, 0), mset(m, 2, l, 0, 0);
            if (dk < 0)
                mset(m, 0, l, c, -s), mset(m, 3, l, c, s);
            else
                mset(m, 0, l, -s / 2, -c / 2), mset(m, 3, l, -s / 2, c / 2);
            break;
        case HQ_GATE_P:
        case HQ_GATE_U1:
        case HQ_GATE_CP:
        case HQ_GATE_CU1:
            mset(m, 1, l, 0, 0), mset(m, 2, l, 0, 0);
            if (dk < 0)
                mset(m, 0, l, 1, 0), mset(m, 3, l, c, s);
            else
                mset(m, 0, l, 0, 0), mset(m, 3, l, -s, c);
            break;
        case HQ_GATE_GPI:
            mset(m, 0, l, 0, 0), mset(m, 3, l, 0, 0);
            if (dk < 0)
                mset(m, 1, l, c, -s), mset(m, 2, l, c, s);
            else
                mset(m, 1, l, -2 * M_PI * s, -2 * M_PI * c),
                    mset(m, 2, l, -2 * M_PI * s, 2 * M_PI * c);
            break;
        case HQ_GATE_GPI2: {
            const double r = M_SQRT1_2, f = 2 * M_PI * M_SQRT1_2;
            if (dk < 0) {
                mset(m, 0, l, r, 0), mset(m, 3, l, r, 0);
                mset(m, 1, l, -r * s, -r * c), mset(m, 2, l, r * s, -r * c);
            } else {
                mset(m, 0, l, 0, 0), mset(m, 3, l, 0, 0);
                mset(m, 1, l, -f * c, f * s), mset(m, 2, l, f * c, f * s);
            }
            break;
        }
        default: { /* U2, U3, U, CU3, CU: [[c, -e2 s], [e1 s, e12 c]] (x e^{i gamma}) */
            double ct, st, e1r, e1i, e2r, e2i;
            int kp = 0; /* index of phi among the parameters */
            if (op->gate == HQ_GATE_U2) {
                ct = st = M_SQRT1_2;
                e1r = trig[l], e1i = trig[L + l], e2r = trig[2 * L + l], e2i = trig[3 * L + l];
                kp = 0;
            } else {
                ct = c, st = s;
                e1r = trig[2 * L + l], e1i = trig[3 * L + l];
                e2r = trig[4 * L + l], e2i = trig[5 * L + l];
                kp = 1;
            }
            double e12r = e1r * e2r - e1i * e2i, e12i = e1r * e2i + e1i * e2r;
            double a[8]; /* entries 0..3 as (re, im) */
            int which = dk < 0 ? -1 : (op->gate == HQ_GATE_U2 ? dk + 1 : dk);
            /* which: -1 matrix, 0 theta, 1 phi, 2 lambda, 3 gamma */
            (void)kp;
            switch (which) {
            case -1:
            case 3:
                a[0] = ct, a[1] = 0;
                a[2] = -e2r * st, a[3] = -e2i * st;
                a[4] = e1r * st, a[5] = e1i * st;
                a[6] = e12r * ct, a[7] = e12i * ct;
                break;
            case 0:
                a[0] = -st / 2, a[1] = 0;
                a[2] = -e2r * ct / 2, a[3] = -e2i * ct / 2;
                a[4] = e1r * ct / 2, a[5] = e1i * ct / 2;
                a[6] = -e12r * st / 2, a[7] = -e12i * st / 2;
                break;
            case 1: /* i e1 s, i e12 c in the bottom row */
                a[0] = a[1] = a[2] = a[3] = 0;
                a[4] = -e1i * st, a[5] = e1r * st;
                a[6] = -e12i * ct, a[7] = e12r * ct;
                break;
            default: /* lambda: -i e2 s top right, i e12 c bottom right */
                a[0] = a[1] = a[4] = a[5] = 0;
                a[2] = e2i * st, a[3] = -e2r * st;
                a[6] = -e12i * ct, a[7] = e12r * ct;
                break;
            }
            if (op->gate == HQ_GATE_CU) { /* times e^{i gamma}; d/d gamma adds a factor i */
                double gr = trig[6 * L + l], gi = trig[7 * L + l];
                if (which == 3) {
                    double t = gr;
                    gr = -gi, gi = t;
                }
                for (int e = 0; e < 4; e++) {
                    double re = a[2 * e], im = a[2 * e + 1];
                    a[2 * e] = re * gr - im * gi;
                    a[2 * e + 1] = re * gi + im * gr;
                }
            }
            for (int e = 0; e < 4; e++) mset(m, e, l, a[2 * e], a[2 * e + 1]);
        }
        }
    }
}

/* The block (2x2) or full (4x4) matrix of a gate at fixed parameters, broadcast to all
 * lanes; dk >= 0: derivative. */
static void build_fixed(const svb_op *op, const double *params, int dk, double *m) {
    hq_cplx full[64], blk[16];
    if (dk < 0)
        hq_gate_matrix(op->gate, params, full);
    else
        hq_gate_matrix_deriv(op->gate, params, dk, full);
    if (op->ne == 4 && is_ctrl1(op->gate)) {
        blk[0] = full[5], blk[1] = full[7], blk[2] = full[13], blk[3] = full[15];
    } else {
        memcpy(blk, full, (size_t)op->ne * sizeof *blk);
    }
    for (int e = 0; e < op->ne; e++)
        for (int l = 0; l < L; l++) mset(m, e, l, creal(blk[e]), cimag(blk[e]));
}

/* Per-lane matrix of a gate without a lane builder (2-qubit parameterised gates):
 * hq_gate_matrix per lane from the raw angles. */
static void build_generic(const svb_op *op, const double *ang, int dk, double *m) {
    for (int l = 0; l < L; l++) {
        double p[HQ_GATE_MAX_PARAMS];
        hq_cplx full[16];
        for (int k = 0; k < op->np; k++) p[k] = ang[(size_t)op->ent[k] * L + l];
        if (dk < 0)
            hq_gate_matrix(op->gate, p, full);
        else
            hq_gate_matrix_deriv(op->gate, p, dk, full);
        for (int e = 0; e < op->ne; e++) mset(m, e, l, creal(full[e]), cimag(full[e]));
    }
}

/* The matrix (dk < 0) or derivative of op for the current chunk: a pointer into shared
 * storage, or built into scratch. */
static const double *op_matrix(const svb_plan *p, const svb_op *op, const svb_ws *w, int dk,
                               double *scratch) {
    if (!op->per_row) return p->shm + op->shm + (size_t)(dk + 1) * op->ne * 2 * L;
    if (op->scale[0] != 0)
        build_block(op, w->trig + (size_t)op->trig * 2 * L, dk, scratch);
    else
        build_generic(op, w->ang, dk, scratch);
    return scratch;
}

/* d = m^dagger (ne entries, dimension 2 or 4) */
static void dagger(const double *m, int ne, double *d) {
    int dim = ne == 4 ? 2 : 4;
    for (int r = 0; r < dim; r++)
        for (int c = 0; c < dim; c++)
            for (int l = 0; l < L; l++) {
                MR(d, c * dim + r)[l] = MR(m, r * dim + c)[l];
                MI(d, c * dim + r)[l] = -MI(m, r * dim + c)[l];
            }
}

/* ==== lane kernels ==================================================================== */

static void k_mat1(double *restrict st, const int32_t *t, int32_t n, const double *restrict m) {
    for (int32_t p = 0; p < n; p++) {
        double *restrict ar = SR(st, t[2 * p]), *restrict ai = SI(st, t[2 * p]);
        double *restrict br = SR(st, t[2 * p + 1]), *restrict bi = SI(st, t[2 * p + 1]);
        for (int l = 0; l < L; l++) {
            double xr = ar[l], xi = ai[l], yr = br[l], yi = bi[l];
            double m0r = MR(m, 0)[l], m0i = MI(m, 0)[l], m1r = MR(m, 1)[l], m1i = MI(m, 1)[l];
            double m2r = MR(m, 2)[l], m2i = MI(m, 2)[l], m3r = MR(m, 3)[l], m3i = MI(m, 3)[l];
            ar[l] = m0r * xr - m0i * xi + m1r * yr - m1i * yi;
            ai[l] = m0r * xi + m0i * xr + m1r * yi + m1i * yr;
            br[l] = m2r * xr - m2i * xi + m3r * yr - m3i * yi;
            bi[l] = m2r * xi + m2i * xr + m3r * yi + m3i * yr;
        }
    }
}

static void k_mat1r(double *restrict st, const int32_t *t, int32_t n, const double *restrict m) {
    for (int32_t p = 0; p < n; p++) {
        double *restrict ar = SR(st, t[2 * p]), *restrict ai = SI(st, t[2 * p]);
        double *restrict br = SR(st, t[2 * p + 1]), *restrict bi = SI(st, t[2 * p + 1]);
        for (int l = 0; l < L; l++) {
            double m0 = MR(m, 0)[l], m1 = MR(m, 1)[l], m2 = MR(m, 2)[l], m3 = MR(m, 3)[l];
            double xr = ar[l], xi = ai[l], yr = br[l], yi = bi[l];
            ar[l] = m0 * xr + m1 * yr;
            ai[l] = m0 * xi + m1 * yi;
            br[l] = m2 * xr + m3 * yr;
            bi[l] = m2 * xi + m3 * yi;
        }
    }
}

static void k_diag1(double *restrict st, const int32_t *t, int32_t n, const double *restrict m,
                    bool phase_only) {
    for (int32_t p = 0; p < n; p++) {
        if (!phase_only) {
            double *restrict ar = SR(st, t[2 * p]), *restrict ai = SI(st, t[2 * p]);
            for (int l = 0; l < L; l++) {
                double dr = MR(m, 0)[l], di = MI(m, 0)[l], xr = ar[l], xi = ai[l];
                ar[l] = dr * xr - di * xi;
                ai[l] = dr * xi + di * xr;
            }
        }
        double *restrict br = SR(st, t[2 * p + 1]), *restrict bi = SI(st, t[2 * p + 1]);
        for (int l = 0; l < L; l++) {
            double dr = MR(m, 3)[l], di = MI(m, 3)[l], yr = br[l], yi = bi[l];
            br[l] = dr * yr - di * yi;
            bi[l] = dr * yi + di * yr;
        }
    }
}

static void k_mat2(double *restrict st, const int32_t *t, int32_t n, const double *restrict m) {
    for (int32_t p = 0; p < n; p++) {
        double xr[4][L], xi[4][L];
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < L; l++)
                xr[j][l] = SR(st, t[4 * p + j])[l], xi[j][l] = SI(st, t[4 * p + j])[l];
        for (int r = 0; r < 4; r++) {
            double *restrict orr = SR(st, t[4 * p + r]), *restrict oi = SI(st, t[4 * p + r]);
            for (int l = 0; l < L; l++) {
                double accr = 0, acci = 0;
                for (int j = 0; j < 4; j++) {
                    double mr = MR(m, r * 4 + j)[l], mi = MI(m, r * 4 + j)[l];
                    accr += mr * xr[j][l] - mi * xi[j][l];
                    acci += mr * xi[j][l] + mi * xr[j][l];
                }
                orr[l] = accr;
                oi[l] = acci;
            }
        }
    }
}

static void apply_op(const svb_plan *p, const svb_op *op, double *st, const double *m) {
    const int32_t *t = p->slots + op->tup;
    switch (op->kind) {
    case SVB_MAT1: k_mat1(st, t, op->n_tup, m); break;
    case SVB_MAT1R: k_mat1r(st, t, op->n_tup, m); break;
    case SVB_DIAG1: k_diag1(st, t, op->n_tup, m, op->phase_only); break;
    case SVB_MAT2: k_mat2(st, t, op->n_tup, m); break;
    default: break;
    }
}

/* T[i][j] = sum over tuples of conj(lam_i) phi_j (lanes), dim x dim complex */
static void transition(const svb_plan *p, const svb_op *op, const double *lam, const double *phi,
                       double *T) {
    const int32_t *t = p->slots + op->tup;
    const int dim = op->ne == 4 ? 2 : 4;
    const bool diag = op->kind == SVB_DIAG1;
    memset(T, 0, (size_t)op->ne * 2 * L * sizeof *T);
    for (int32_t q = 0; q < op->n_tup; q++)
        for (int i = 0; i < dim; i++)
            for (int j = 0; j < dim; j++) {
                if (diag && i != j) continue;
                const double *lr = SR(lam, t[dim * q + i]), *li = SI(lam, t[dim * q + i]);
                const double *fr = SR(phi, t[dim * q + j]), *fi = SI(phi, t[dim * q + j]);
                double *tr = MR(T, i * dim + j), *ti = MI(T, i * dim + j);
                for (int l = 0; l < L; l++) {
                    tr[l] += lr[l] * fr[l] + li[l] * fi[l];
                    ti[l] += lr[l] * fi[l] - li[l] * fr[l];
                }
            }
}

/* out[l] += 2 Re sum_ij dm_ij T_ij */
static void contract(const double *dm, const double *T, int ne, double *out) {
    for (int e = 0; e < ne; e++)
        for (int l = 0; l < L; l++)
            out[l] += 2 * (MR(dm, e)[l] * MR(T, e)[l] - MI(dm, e)[l] * MI(T, e)[l]);
}

/* ==== product prefix ================================================================== */

/* v: [q][b][re/im][L] */
#define VR(v, q, b) ((v) + ((size_t)(q)*4 + (size_t)(b)*2) * L)
#define VI(v, q, b) ((v) + ((size_t)(q)*4 + (size_t)(b)*2 + 1) * L)

static void vec_apply(double *v, int q, const double *m) {
    double *ar = VR(v, q, 0), *ai = VI(v, q, 0), *br = VR(v, q, 1), *bi = VI(v, q, 1);
    for (int l = 0; l < L; l++) {
        double xr = ar[l], xi = ai[l], yr = br[l], yi = bi[l];
        ar[l] = MR(m, 0)[l] * xr - MI(m, 0)[l] * xi + MR(m, 1)[l] * yr - MI(m, 1)[l] * yi;
        ai[l] = MR(m, 0)[l] * xi + MI(m, 0)[l] * xr + MR(m, 1)[l] * yi + MI(m, 1)[l] * yr;
        br[l] = MR(m, 2)[l] * xr - MI(m, 2)[l] * xi + MR(m, 3)[l] * yr - MI(m, 3)[l] * yi;
        bi[l] = MR(m, 2)[l] * xi + MI(m, 2)[l] * xr + MR(m, 3)[l] * yi + MI(m, 3)[l] * yr;
    }
}

/* st = tensor product of the n 2-vectors (logical order: bit q of the index = qubit q) */
static void product_state(int n, const double *v, double *st) {
    for (int l = 0; l < L; l++) SR(st, 0)[l] = 1, SI(st, 0)[l] = 0;
    for (int q = 0; q < n; q++) {
        int64_t half = (int64_t)1 << q;
        for (int64_t i = half - 1; i >= 0; i--) {
            double *xr = SR(st, i), *xi = SI(st, i);
            double *hr = SR(st, i + half), *hi = SI(st, i + half);
            for (int l = 0; l < L; l++) {
                double ar = xr[l], ai = xi[l];
                hr[l] = ar * VR(v, q, 1)[l] - ai * VI(v, q, 1)[l];
                hi[l] = ar * VI(v, q, 1)[l] + ai * VR(v, q, 1)[l];
                xr[l] = ar * VR(v, q, 0)[l] - ai * VI(v, q, 0)[l];
                xi[l] = ar * VI(v, q, 0)[l] + ai * VR(v, q, 0)[l];
            }
        }
    }
}

/* eta (2 x 2 x L) = mu contracted with conj(v_p) for every qubit p != q */
static void contract_others(int n, const double *v, const double *mu, int q, double *t, double *t2,
                            double *eta) {
    const int64_t D = (int64_t)1 << n;
    memcpy(t, mu, (size_t)D * 2 * L * sizeof *t);
    int64_t size = D;
    for (int p = n - 1; p >= 0; p--) {
        if (p == q) continue;
        int64_t nsz = size / 2, lo = ((int64_t)1 << p) - 1;
        for (int64_t j = 0; j < nsz; j++) {
            int64_t s0 = (j & lo) | ((j & ~lo) << 1), s1 = s0 | ((int64_t)1 << p);
            const double *ar = SR(t, s0), *ai = SI(t, s0), *br = SR(t, s1), *bi = SI(t, s1);
            double *orr = SR(t2, j), *oi = SI(t2, j);
            for (int l = 0; l < L; l++) {
                double v0r = VR(v, p, 0)[l], v0i = -VI(v, p, 0)[l];
                double v1r = VR(v, p, 1)[l], v1i = -VI(v, p, 1)[l];
                orr[l] = ar[l] * v0r - ai[l] * v0i + br[l] * v1r - bi[l] * v1i;
                oi[l] = ar[l] * v0i + ai[l] * v0r + br[l] * v1i + bi[l] * v1r;
            }
        }
        double *sw = t;
        t = t2;
        t2 = sw;
        size = nsz;
    }
    memcpy(eta, t, (size_t)2 * 2 * L * sizeof *eta);
}

/* ==== observables ===================================================================== */

static void obs_eval(const svb_plan *p, int n_obs, const double *st, double *E, double *pr) {
    const int D = p->D;
    bool any_diag = false;
    for (int k = 0; k < n_obs; k++) any_diag |= p->ob_has_diag[k];
    if (any_diag)
        for (int s = 0; s < D; s++)
            for (int l = 0; l < L; l++)
                pr[(size_t)s * L + l] = SR(st, s)[l] * SR(st, s)[l] + SI(st, s)[l] * SI(st, s)[l];
    for (int k = 0; k < n_obs; k++) {
        double *e = E + (size_t)k * L;
        for (int l = 0; l < L; l++) e[l] = 0;
        if (p->ob_has_diag[k]) {
            const double *w = p->ob_diag + (size_t)k * D;
            for (int s = 0; s < D; s++)
                if (w[s] != 0)
                    for (int l = 0; l < L; l++) e[l] += w[s] * pr[(size_t)s * L + l];
        }
        for (int64_t i = p->ob_pstart[k]; i < p->ob_pstart[k + 1]; i++) {
            const svb_pair *q = &p->ob_pairs[i];
            const double *ar = SR(st, q->a), *ai = SI(st, q->a), *br = SR(st, q->b),
                         *bi = SI(st, q->b);
            if (q->im)
                for (int l = 0; l < L; l++) e[l] += q->w * (br[l] * ai[l] - bi[l] * ar[l]);
            else
                for (int l = 0; l < L; l++) e[l] += q->w * (br[l] * ar[l] + bi[l] * ai[l]);
        }
    }
}

/* lam = sum_k G_k O_k st */
static void obs_lambda(const svb_plan *p, int n_obs, const double *st, const double *G, double *lam,
                       double *gd) {
    const int D = p->D;
    memset(gd, 0, (size_t)D * L * sizeof *gd);
    for (int k = 0; k < n_obs; k++) {
        if (!p->ob_has_diag[k]) continue;
        const double *w = p->ob_diag + (size_t)k * D;
        for (int s = 0; s < D; s++)
            for (int l = 0; l < L; l++) gd[(size_t)s * L + l] += w[s] * G[(size_t)k * L + l];
    }
    for (int s = 0; s < D; s++)
        for (int l = 0; l < L; l++) {
            SR(lam, s)[l] = gd[(size_t)s * L + l] * SR(st, s)[l];
            SI(lam, s)[l] = gd[(size_t)s * L + l] * SI(st, s)[l];
        }
    for (int64_t i = 0; i < p->n_lterms; i++) {
        const svb_lterm *t = &p->lterms[i];
        const double *g = G + (size_t)t->obs * L;
        const double *xr = SR(st, t->src), *xi = SI(st, t->src);
        double *yr = SR(lam, t->dst), *yi = SI(lam, t->dst);
        for (int l = 0; l < L; l++) {
            double fr = g[l] * t->fr, fi = g[l] * t->fi;
            yr[l] += fr * xr[l] - fi * xi[l];
            yi[l] += fr * xi[l] + fi * xr[l];
        }
    }
}

/* ==== compile ========================================================================= */

static void plan_free(svb_plan *p) {
    hq_free(p->ent_row);
    hq_free(p->rt_start);
    hq_free(p->rt_col);
    hq_free(p->rt_coef);
    hq_free(p->st_start);
    hq_free(p->st_col);
    hq_free(p->st_coef);
    hq_free(p->ops);
    hq_free(p->slots);
    hq_free(p->shm);
    hq_free(p->c_ops);
    hq_free(p->slot_of);
    hq_free(p->wr);
    hq_free(p->wi);
    hq_free(p->cwork);
    hq_free(p->ob_diag);
    hq_free(p->ob_has_diag);
    hq_free(p->ob_pairs);
    hq_free(p->ob_pstart);
    hq_free(p->lterms);
    memset(p, 0, sizeof *p);
}

/* observables on slots: sm[logical] = slot */
static bool compile_obs(svb_plan *p, const hq_pauli_sum *obs, int n_obs, const int32_t *sm) {
    const int D = p->D;
    int64_t n_pairs = 0, n_lt = 0;
    for (int k = 0; k < n_obs; k++)
        for (int t = 0; t < obs[k].n_terms; t++)
            if (obs[k].terms[t].x) n_pairs += D / 2, n_lt += D;
    p->ob_diag = hq_calloc((size_t)n_obs * D, sizeof *p->ob_diag);
    p->ob_has_diag = hq_calloc((size_t)n_obs, 1);
    p->ob_pairs = hq_malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *p->ob_pairs);
    p->ob_pstart = hq_malloc((size_t)(n_obs + 1) * sizeof *p->ob_pstart);
    p->lterms = hq_malloc((size_t)(n_lt ? n_lt : 1) * sizeof *p->lterms);
    if (!p->ob_diag || !p->ob_has_diag || !p->ob_pairs || !p->ob_pstart || !p->lterms) return false;
    int64_t np = 0;
    for (int k = 0; k < n_obs; k++) {
        p->ob_pstart[k] = np;
        for (int t = 0; t < obs[k].n_terms; t++) {
            const hq_pauli *P = &obs[k].terms[t];
            const int yc = __builtin_popcountll(P->x & P->z) & 3; /* phase i^yc */
            if (!P->x) {
                p->ob_has_diag[k] = 1;
                for (int b = 0; b < D; b++)
                    p->ob_diag[(size_t)k * D + sm[b]] +=
                        __builtin_parityll((uint64_t)b & P->z) ? -P->coef : P->coef;
                continue;
            }
            static const double phr[4] = {1, 0, -1, 0}, phi[4] = {0, 1, 0, -1};
            for (int b = 0; b < D; b++) {
                const double sb = __builtin_parityll((uint64_t)b & P->z) ? -1.0 : 1.0;
                const int bx = (int)((uint64_t)b ^ P->x);
                p->lterms[p->n_lterms++] =
                    (svb_lterm){sm[bx], sm[b], k, P->coef * sb * phr[yc], P->coef * sb * phi[yc]};
                if (b > bx) continue;
                /* pair (b, bx): 2 coef s_b Re(ph conj(phi_bx) phi_b) (the sum is real) */
                svb_pair q = {sm[b], sm[bx], 0, 0};
                if (yc % 2 == 0) {
                    q.w = 2 * P->coef * sb * phr[yc];
                } else {
                    q.w = -2 * P->coef * sb * phi[yc];
                    q.im = 1;
                }
                p->ob_pairs[np++] = q;
            }
        }
    }
    p->ob_pstart[n_obs] = np;
    return true;
}

/* Is each symbol per-row in this plan? */
static bool sym_per_row(const hq_sv_batch *b, const svb_plan *p, int s) {
    return !p->shared || hq_circuit_symbol_kind(b->c, s) == HQ_SYM_INPUT;
}

static hq_status compile_plan(hq_sv_batch *b, svb_plan *p, bool shared) {
    const hq_circuit *c = b->c;
    const int n = b->n;
    const int D = 1 << n;
    p->shared = shared;
    p->n = n;
    p->D = D;
    p->info.n_qubits = n;
    if (n > HQ_SV_BATCH_MAX_QUBITS) {
        p->fallback = p->info.fallback = true;
        return HQ_OK;
    }
    const int64_t n_ent = hq_circuit_n_angles(c);
    p->n_ent = n_ent;
    /* angle terms */
    p->ent_row = hq_calloc((size_t)(n_ent ? n_ent : 1), 1);
    p->rt_start = hq_calloc((size_t)n_ent + 1, sizeof *p->rt_start);
    p->st_start = hq_calloc((size_t)n_ent + 1, sizeof *p->st_start);
    int64_t n_terms = 0;
    for (int64_t i = 0; i < n_ent; i++) n_terms += hq_circuit_angle(c, i).n;
    p->rt_col = hq_malloc((size_t)(n_terms ? n_terms : 1) * sizeof *p->rt_col);
    p->rt_coef = hq_malloc((size_t)(n_terms ? n_terms : 1) * sizeof *p->rt_coef);
    p->st_col = hq_malloc((size_t)(n_terms ? n_terms : 1) * sizeof *p->st_col);
    p->st_coef = hq_malloc((size_t)(n_terms ? n_terms : 1) * sizeof *p->st_coef);
    if (!p->ent_row || !p->rt_start || !p->st_start || !p->rt_col || !p->rt_coef || !p->st_col ||
        !p->st_coef)
        return HQ_ERR_NOMEM;
    int32_t nr = 0, nsh = 0;
    for (int64_t i = 0; i < n_ent; i++) {
        hq_angle a = hq_circuit_angle(c, i);
        p->rt_start[i] = nr;
        p->st_start[i] = nsh;
        for (int t = 0; t < a.n; t++) {
            if (sym_per_row(b, p, a.sym[t])) {
                p->rt_col[nr] = shared ? b->col_of[a.sym[t]] : a.sym[t];
                p->rt_coef[nr++] = a.coef[t];
                p->ent_row[i] = 1;
            } else {
                p->st_col[nsh] = b->col_of[a.sym[t]];
                p->st_coef[nsh++] = a.coef[t];
            }
        }
    }
    p->rt_start[n_ent] = nr;
    p->st_start[n_ent] = nsh;
    /* unitary ops, segments */
    const hq_op *ops = hq_circuit_ops(c);
    const int64_t n_ops = hq_circuit_n_ops(c);
    int64_t *u = hq_malloc((size_t)(n_ops ? n_ops : 1) * sizeof *u);
    if (!u) return HQ_ERR_NOMEM;
    int64_t nu = 0;
    for (int64_t j = 0; j < n_ops; j++)
        if (hq_gate_get_info((hq_gate)ops[j].gate)->kind == HQ_KIND_UNITARY &&
            ops[j].gate != HQ_GATE_ID)
            u[nu++] = j;
    int64_t nA = 0;
    while (nA < nu && ops[u[nA]].nq == 1) nA++;
    int64_t last_row = -1;
    for (int64_t k = 0; k < nu; k++)
        for (int i = 0; i < ops[u[k]].np; i++)
            if (p->ent_row[ops[u[k]].p[i]]) last_row = k;
    int64_t c_from = nu; /* index in u where segment C starts */
    if (shared && n <= 6) {
        /* C may also take the weight-only tail of the product prefix: a real encoding
         * then keeps psi real (half the dense work) */
        int64_t start = last_row + 1;
        /* cost per row (real multiply-adds): gates vs the dense product */
        double gates = 0;
        bool real_in = true;
        for (int64_t k = 0; k < start; k++)
            real_in &= real_gate((hq_gate)ops[u[k]].gate) || is_perm_gate((hq_gate)ops[u[k]].gate);
        for (int64_t k = start; k < nu; k++) {
            hq_gate g = (hq_gate)ops[u[k]].gate;
            gates += is_perm_gate(g)
                         ? 0
                         : (hq_gate_get_info(g)->nq == 2 && !is_ctrl1(g) ? 16.0 * D : 8.0 * D);
        }
        double dense = (real_in ? 2.0 : 4.0) * D * D;
        if (start < nu && dense <= 1.5 * gates) c_from = start;
    }
    p->dense = c_from < nu;
    nA = HQ_MIN(nA, c_from);
    p->n_c = nu - c_from;
    p->c_ops = hq_malloc((size_t)(p->n_c ? p->n_c : 1) * sizeof *p->c_ops);
    p->n_ops = (int)c_from;
    p->nA = (int)nA;
    p->ops = hq_calloc((size_t)(c_from ? c_from : 1), sizeof *p->ops);
    p->slot_of = hq_malloc((size_t)D * sizeof *p->slot_of);
    if (!p->c_ops || !p->ops || !p->slot_of) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    for (int64_t k = c_from; k < nu; k++) p->c_ops[k - c_from] = u[k];
    /* tuples of B ops */
    int64_t n_slots = 0;
    for (int64_t k = nA; k < c_from; k++) n_slots += D;
    p->slots = hq_malloc((size_t)(n_slots ? n_slots : 1) * sizeof *p->slots);
    if (!p->slots) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    int32_t *sm = p->slot_of, *sm2 = hq_malloc((size_t)D * sizeof *sm2);
    if (!sm2) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    for (int i = 0; i < D; i++) sm[i] = i;
    p->psi_real = true;
    bool b_nonperm = false;
    int64_t n_shm = 0;
    int n_trig = 0;
    for (int64_t k = 0; k < c_from; k++) {
        const hq_op *o = &ops[u[k]];
        svb_op *op = &p->ops[k];
        hq_gate g = (hq_gate)o->gate;
        op->gate = g;
        op->np = o->np;
        op->trig = -1;
        op->shm = -1;
        for (int j = 0; j < 3; j++) op->q[j] = o->q[j];
        for (int i = 0; i < o->np; i++) {
            op->ent[i] = o->p[i];
            op->per_row |= p->ent_row[o->p[i]] != 0;
            op->grad |= hq_circuit_angle(c, o->p[i]).n > 0;
            op->scale[i] = trig_scale(g, i);
        }
        if (!has_builder(g)) op->scale[0] = 0;
        const bool two = o->nq == 2 && !is_ctrl1(g) && !is_perm_gate(g);
        op->ne = two ? 16 : 4;
        if (!real_gate(g)) {
            bool real_const = false;
            if (o->np == 0) { /* constant gate with a real matrix? */
                hq_cplx m[64];
                hq_gate_matrix(g, NULL, m);
                real_const = true;
                for (int e = 0; e < (1 << (2 * o->nq)); e++) real_const &= cimag(m[e]) == 0;
            }
            p->psi_real &= real_const;
        }
        if (k < nA) { /* product prefix: 2x2 on a 2-vector */
            op->kind = SVB_MAT1;
            op->qubit = o->q[0];
        } else if (is_perm_gate(g)) {
            op->kind = SVB_PERM;
            p->info.perm_ops++;
            /* relabel: basis i -> pi(i); new slot of pi(i) is the old slot of i */
            for (int i = 0; i < D; i++) {
                int j = i;
                int64_t b0 = (int64_t)1 << o->q[0], b1 = o->nq > 1 ? (int64_t)1 << o->q[1] : 0,
                        b2 = o->nq > 2 ? (int64_t)1 << o->q[2] : 0;
                switch (g) {
                case HQ_GATE_X: j = (int)(i ^ b0); break;
                case HQ_GATE_CX: j = (i & b0) ? (int)(i ^ b1) : i; break;
                case HQ_GATE_CCX: j = ((i & b0) && (i & b1)) ? (int)(i ^ b2) : i; break;
                case HQ_GATE_SWAP: j = (!(i & b0) != !(i & b1)) ? (int)(i ^ b0 ^ b1) : i; break;
                default: /* CSWAP */
                    j = ((i & b0) && (!(i & b1) != !(i & b2))) ? (int)(i ^ b1 ^ b2) : i;
                }
                sm2[j] = sm[i];
            }
            memcpy(sm, sm2, (size_t)D * sizeof *sm);
            continue;
        } else {
            b_nonperm = true;
            /* kind */
            hq_cplx blk[16];
            bool diag = false, real = real_gate(g);
            if (o->np == 0) {
                hq_cplx m[64];
                hq_gate_matrix(g, NULL, m);
                if (two)
                    memcpy(blk, m, 16 * sizeof *blk);
                else if (is_ctrl1(g))
                    blk[0] = m[5], blk[1] = m[7], blk[2] = m[13], blk[3] = m[15];
                else
                    memcpy(blk, m, 4 * sizeof *blk);
                if (!two) {
                    diag = blk[1] == 0 && blk[2] == 0;
                    real = true;
                    for (int e = 0; e < 4; e++) real &= cimag(blk[e]) == 0;
                    op->phase_only = diag && blk[0] == 1;
                }
            } else {
                diag = hq_gate_get_info(g)->diagonal && !two;
                op->phase_only =
                    g == HQ_GATE_P || g == HQ_GATE_U1 || g == HQ_GATE_CP || g == HQ_GATE_CU1;
            }
            op->kind = two ? SVB_MAT2 : diag ? SVB_DIAG1 : real ? SVB_MAT1R : SVB_MAT1;
            /* tuples over logical indices, mapped to slots */
            op->tup = p->n_slots;
            if (two) {
                int64_t b0 = (int64_t)1 << o->q[0], b1 = (int64_t)1 << o->q[1];
                for (int i = 0; i < D; i++) {
                    if (i & (b0 | b1)) continue;
                    int32_t *t = p->slots + p->n_slots;
                    t[0] = sm[i], t[1] = sm[i | b0], t[2] = sm[i | b1], t[3] = sm[i | b0 | b1];
                    p->n_slots += 4;
                    op->n_tup++;
                }
            } else {
                int64_t cm = is_ctrl1(g) ? (int64_t)1 << o->q[0] : 0;
                int64_t tb = (int64_t)1 << (is_ctrl1(g) ? o->q[1] : o->q[0]);
                for (int i = 0; i < D; i++) {
                    if ((i & tb) || (i & cm) != cm) continue;
                    p->slots[p->n_slots++] = sm[i];
                    p->slots[p->n_slots++] = sm[i | tb];
                    op->n_tup++;
                }
            }
        }
        if (o->np && op->per_row && op->scale[0] != 0) {
            op->trig = n_trig;
            n_trig += o->np;
        }
        if (!op->per_row) {
            op->shm = n_shm;
            n_shm += (int64_t)(1 + op->np) * op->ne * 2 * L;
        }
    }
    hq_free(sm2);
    p->n_trig = n_trig;
    p->n_shm = n_shm;
    p->shm = hq_malloc((size_t)(n_shm ? n_shm : 1) * sizeof *p->shm);
    if (!p->shm) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    /* constant matrices now; parameterised shared ones per call */
    for (int k = 0; k < p->n_ops; k++) {
        svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM || op->per_row || op->np) continue;
        build_fixed(op, NULL, -1, p->shm + op->shm);
    }
    p->mu_real = p->psi_real && !b_nonperm;
    if (p->dense) {
        p->wr = hq_malloc((size_t)D * D * sizeof *p->wr);
        p->wi = hq_malloc((size_t)D * D * sizeof *p->wi);
        p->cwork = hq_malloc((size_t)3 * D * D * sizeof(hq_cplx));
        if (!p->wr || !p->wi || !p->cwork) {
            hq_free(u);
            return HQ_ERR_NOMEM;
        }
    }
    int32_t *ident = hq_malloc((size_t)D * sizeof *ident);
    if (!ident) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    for (int i = 0; i < D; i++) ident[i] = i;
    bool ok = compile_obs(p, b->obs, b->n_obs, p->dense ? ident : p->slot_of);
    hq_free(ident);
    p->info.prefix_ops = nA;
    p->info.row_ops = c_from - nA;
    p->info.shared_ops = p->n_c;
    p->info.dense_w = p->dense;
    hq_free(u);
    return ok ? HQ_OK : HQ_ERR_NOMEM;
}

/* ==== per-call shared preparation ===================================================== */

/* base[i] = constant + shared terms of every angle entry */
static void eval_base(const hq_sv_batch *b, const svb_plan *p, const double *weights,
                      double *base) {
    for (int64_t i = 0; i < p->n_ent; i++) {
        double v = hq_circuit_angle(b->c, i).c;
        for (int32_t t = p->st_start[i]; t < p->st_start[i + 1]; t++)
            v += p->st_coef[t] * weights[p->st_col[t]];
        base[i] = v;
    }
}

/* matrices of shared parameterised ops (and derivatives when backward) */
static void build_shared(svb_plan *p, const double *base, bool backward) {
    for (int k = 0; k < p->n_ops; k++) {
        svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM || op->per_row || !op->np) continue;
        double prm[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < op->np; i++) prm[i] = base[op->ent[i]];
        const size_t stride = (size_t)op->ne * 2 * L;
        build_fixed(op, prm, -1, p->shm + op->shm);
        if (backward && op->grad)
            for (int i = 0; i < op->np; i++)
                build_fixed(op, prm, i, p->shm + op->shm + (i + 1) * stride);
    }
}

/* W = product of the C ops (columns: W e_j); W' = W with columns moved to slots */
static hq_status build_w(const hq_sv_batch *b, svb_plan *p, const double *base) {
    const int D = p->D, n = p->n;
    hq_cplx *col = (hq_cplx *)p->cwork;
    const hq_op *ops = hq_circuit_ops(b->c);
    for (int j = 0; j < D; j++) {
        memset(col, 0, (size_t)D * sizeof *col);
        col[j] = 1;
        for (int64_t k = 0; k < p->n_c; k++) {
            const hq_op *o = &ops[p->c_ops[k]];
            double prm[HQ_GATE_MAX_PARAMS];
            for (int i = 0; i < o->np; i++) prm[i] = base[o->p[i]];
            int q[3] = {o->q[0], o->q[1], o->q[2]};
            sv_kop kop;
            hq_status st = sv_compile_gate((hq_gate)o->gate, q, prm, false, &kop);
            if (st) return st;
            sv_apply_kop(col, n, &kop);
        }
        int32_t sj = p->slot_of[j];
        for (int a = 0; a < D; a++) {
            p->wr[(size_t)a * D + sj] = creal(col[a]);
            p->wi[(size_t)a * D + sj] = cimag(col[a]);
        }
    }
    return HQ_OK;
}

/*
 * Weight gradients of segment C from B = sum_rows psi lambda^dagger (slots x logical):
 * one adjoint pass over the D columns (R = W B_log, Lm = I).
 */
static hq_status dense_backward(const hq_sv_batch *b, svb_plan *p, const double *base,
                                const double *Br, const double *Bi, double *dang) {
    const int D = p->D, n = p->n;
    hq_cplx *R = (hq_cplx *)p->cwork, *Lm = R + (size_t)D * D;
    const hq_op *ops = hq_circuit_ops(b->c);
    /* columns a: R[:, a] = B_log[:, a], B_log[i][a] = B_slot[slot_of[i]][a] */
    for (int a = 0; a < D; a++)
        for (int i = 0; i < D; i++) {
            size_t src = (size_t)p->slot_of[i] * D + a;
            R[(size_t)a * D + i] = Br[src] + I * Bi[src];
            Lm[(size_t)a * D + i] = i == a;
        }
    sv_kop kops[1];
    for (int64_t k = 0; k < p->n_c; k++) { /* R = W B */
        const hq_op *o = &ops[p->c_ops[k]];
        double prm[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < o->np; i++) prm[i] = base[o->p[i]];
        int q[3] = {o->q[0], o->q[1], o->q[2]};
        hq_status st = sv_compile_gate((hq_gate)o->gate, q, prm, false, kops);
        if (st) return st;
        for (int a = 0; a < D; a++) sv_apply_kop(R + (size_t)a * D, n, kops);
    }
    for (int64_t k = p->n_c - 1; k >= 0; k--) {
        const hq_op *o = &ops[p->c_ops[k]];
        double prm[HQ_GATE_MAX_PARAMS];
        for (int i = 0; i < o->np; i++) prm[i] = base[o->p[i]];
        int q[3] = {o->q[0], o->q[1], o->q[2]};
        hq_status st = sv_compile_gate((hq_gate)o->gate, q, prm, true, kops);
        if (st) return st;
        for (int a = 0; a < D; a++) sv_apply_kop(R + (size_t)a * D, n, kops);
        for (int i = 0; i < o->np; i++) {
            if (hq_circuit_angle(b->c, o->p[i]).n == 0) continue;
            hq_cplx dm[64];
            st = hq_gate_matrix_deriv((hq_gate)o->gate, prm, i, dm);
            if (st) return st;
            hq_cplx acc = 0;
            for (int a = 0; a < D; a++)
                acc += sv_inner_matrix(Lm + (size_t)a * D, R + (size_t)a * D, n, dm, q, o->nq);
            dang[o->p[i]] += 2 * creal(acc);
        }
        for (int a = 0; a < D; a++) sv_apply_kop(Lm + (size_t)a * D, n, kops);
    }
    return HQ_OK;
}

/* ==== chunk =========================================================================== */

typedef struct svb_job {
    const hq_sv_batch *b;
    const svb_plan *p;
    svb_ws *w;
    int64_t rows;       /* total rows */
    int64_t c0, c1;     /* chunk range */
    const double *rowv; /* (rows x ncol) per-row values */
    int ncol;
    const double *base;    /* (n_ent) */
    const double *dexpect; /* NULL: forward only */
    double *expect;        /* may be NULL */
    double *drow;          /* (rows x ncol) per-row gradients, may be NULL */
} svb_job;

static void chunk(const svb_job *j, int64_t ch) {
    const hq_sv_batch *b = j->b;
    const svb_plan *p = j->p;
    svb_ws *w = j->w;
    const int n = p->n, D = p->D, n_obs = b->n_obs;
    const int64_t r0 = ch * L;
    const int valid = (int)HQ_MIN((int64_t)L, j->rows - r0);
    const bool bwd = j->dexpect != NULL;
    /* angles of the chunk */
    for (int64_t i = 0; i < p->n_ent; i++) {
        double *a = w->ang + (size_t)i * L;
        for (int l = 0; l < L; l++) a[l] = j->base[i];
        for (int32_t t = p->rt_start[i]; t < p->rt_start[i + 1]; t++)
            for (int l = 0; l < L; l++) {
                int64_t r = r0 + (l < valid ? l : valid - 1);
                a[l] += p->rt_coef[t] * j->rowv[r * j->ncol + p->rt_col[t]];
            }
    }
    /* trig of per-row parameters */
    for (int k = 0; k < p->n_ops; k++) {
        const svb_op *op = &p->ops[k];
        if (op->trig < 0) continue;
        for (int i = 0; i < op->np; i++) {
            double x[L];
            const double *a = w->ang + (size_t)op->ent[i] * L;
            for (int l = 0; l < L; l++) x[l] = op->scale[i] * a[l];
            double *tr = w->trig + (size_t)(op->trig + i) * 2 * L;
            sv_sincos_lanes(x, tr, tr + L);
        }
    }
    /* segment A: 2-vectors */
    double *m = w->mat;
    for (int q = 0; q < n; q++)
        for (int l = 0; l < L; l++) {
            VR(w->v, q, 0)[l] = 1, VI(w->v, q, 0)[l] = 0;
            VR(w->v, q, 1)[l] = 0, VI(w->v, q, 1)[l] = 0;
        }
    for (int k = 0; k < p->nA; k++)
        vec_apply(w->v, p->ops[k].qubit, op_matrix(p, &p->ops[k], w, -1, m));
    product_state(n, w->v, w->st);
    /* segment B */
    for (int k = p->nA; k < p->n_ops; k++) {
        const svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM) continue;
        apply_op(p, op, w->st, op_matrix(p, op, w, -1, m));
    }
    /* segment C and the observables */
    const double *phi = w->st;
    if (p->dense) {
        double *o = w->st2;
        for (int a = 0; a < D; a++) {
            double accr[L] = {0}, acci[L] = {0};
            const double *wr = p->wr + (size_t)a * D, *wi = p->wi + (size_t)a * D;
            for (int s = 0; s < D; s++) {
                const double *xr = SR(w->st, s), *xi = SI(w->st, s);
                if (p->psi_real)
                    for (int l = 0; l < L; l++) accr[l] += wr[s] * xr[l], acci[l] += wi[s] * xr[l];
                else
                    for (int l = 0; l < L; l++) {
                        accr[l] += wr[s] * xr[l] - wi[s] * xi[l];
                        acci[l] += wr[s] * xi[l] + wi[s] * xr[l];
                    }
            }
            memcpy(SR(o, a), accr, sizeof accr);
            memcpy(SI(o, a), acci, sizeof acci);
        }
        phi = o;
    }
    obs_eval(p, n_obs, phi, w->E, w->gd);
    if (j->expect)
        for (int l = 0; l < valid; l++)
            for (int k = 0; k < n_obs; k++)
                j->expect[(r0 + l) * n_obs + k] = w->E[(size_t)k * L + l];
    if (!bwd) return;
    /* adjoint state */
    for (int k = 0; k < n_obs; k++)
        for (int l = 0; l < L; l++)
            w->G[(size_t)k * L + l] = l < valid ? j->dexpect[(r0 + l) * n_obs + k] : 0;
    memset(w->dang, 0, (size_t)p->n_ent * L * sizeof *w->dang);
    double *lam = w->lam;
    if (p->dense) {
        obs_lambda(p, n_obs, phi, w->G, w->lam2, w->gd);
        /* B += psi lam^dagger (psi in slots, lam logical); mu = W'^dagger lam */
        for (int s = 0; s < D; s++) {
            const double *xr = SR(w->st, s), *xi = SI(w->st, s);
            for (int a = 0; a < D; a++) {
                double *br = w->bacc + ((size_t)s * D + a) * L;
                double *bi = w->bacc + ((size_t)D * D + (size_t)s * D + a) * L;
                const double *yr = SR(w->lam2, a), *yi = SI(w->lam2, a);
                if (p->psi_real)
                    for (int l = 0; l < L; l++) br[l] += xr[l] * yr[l], bi[l] -= xr[l] * yi[l];
                else
                    for (int l = 0; l < L; l++) {
                        br[l] += xr[l] * yr[l] + xi[l] * yi[l];
                        bi[l] += xi[l] * yr[l] - xr[l] * yi[l];
                    }
            }
        }
        for (int s = 0; s < D; s++) {
            double accr[L] = {0}, acci[L] = {0};
            for (int a = 0; a < D; a++) {
                const double wr = p->wr[(size_t)a * D + s], wi = p->wi[(size_t)a * D + s];
                const double *yr = SR(w->lam2, a), *yi = SI(w->lam2, a);
                if (p->mu_real)
                    for (int l = 0; l < L; l++) accr[l] += wr * yr[l] + wi * yi[l];
                else
                    for (int l = 0; l < L; l++) {
                        accr[l] += wr * yr[l] + wi * yi[l];
                        acci[l] += wr * yi[l] - wi * yr[l];
                    }
            }
            memcpy(SR(lam, s), accr, sizeof accr);
            memcpy(SI(lam, s), acci, sizeof acci);
        }
    } else {
        obs_lambda(p, n_obs, phi, w->G, lam, w->gd);
    }
    /* segment B backward: phi = w->st is un-computed, lam follows */
    double *md = w->mat + (size_t)16 * 2 * L, *T = w->mat + (size_t)2 * 16 * 2 * L,
           *dm = w->mat + (size_t)3 * 16 * 2 * L;
    for (int k = p->n_ops - 1; k >= p->nA; k--) {
        const svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM) continue;
        /* U^dagger has the kind of U (real stays real, diag(1, .) stays phase-only) */
        dagger(op_matrix(p, op, w, -1, m), op->ne, md);
        apply_op(p, op, w->st, md);
        if (op->grad) {
            transition(p, op, lam, w->st, T);
            for (int i = 0; i < op->np; i++) {
                if (hq_circuit_angle(b->c, op->ent[i]).n == 0) continue;
                contract(op_matrix(p, op, w, i, dm), T, op->ne, w->dang + (size_t)op->ent[i] * L);
            }
        }
        apply_op(p, op, lam, md);
    }
    /* segment A backward: per qubit, eta = lam contracted with the other 2-vectors */
    if (p->nA > 0) {
        double eta[2 * 2 * L], u[2 * 2 * L], Tq[4 * 2 * L];
        for (int q = 0; q < n; q++) {
            bool any = false;
            for (int k = 0; k < p->nA; k++) any |= p->ops[k].qubit == q && p->ops[k].grad;
            if (!any) continue;
            contract_others(n, w->v, lam, q, w->tmp, w->tmp2, eta);
            memcpy(u, VR(w->v, q, 0), sizeof u);
            for (int k = p->nA - 1; k >= 0; k--) {
                const svb_op *op = &p->ops[k];
                if (op->qubit != q) continue;
                dagger(op_matrix(p, op, w, -1, m), 4, md);
                vec_apply(u, 0, md);
                if (op->grad) {
                    for (int i = 0; i < 2; i++)
                        for (int jj = 0; jj < 2; jj++)
                            for (int l = 0; l < L; l++) {
                                double lr = VR(eta, 0, i)[l], li = VI(eta, 0, i)[l];
                                double fr = VR(u, 0, jj)[l], fi = VI(u, 0, jj)[l];
                                MR(Tq, i * 2 + jj)[l] = lr * fr + li * fi;
                                MI(Tq, i * 2 + jj)[l] = lr * fi - li * fr;
                            }
                    for (int i = 0; i < op->np; i++) {
                        if (hq_circuit_angle(b->c, op->ent[i]).n == 0) continue;
                        contract(op_matrix(p, op, w, i, dm), Tq, 4,
                                 w->dang + (size_t)op->ent[i] * L);
                    }
                }
                vec_apply(eta, 0, md);
            }
        }
    }
    /* chain: per-row terms to drow, shared entries summed */
    for (int64_t i = 0; i < p->n_ent; i++) {
        const double *d = w->dang + (size_t)i * L;
        if (j->drow)
            for (int32_t t = p->rt_start[i]; t < p->rt_start[i + 1]; t++)
                for (int l = 0; l < valid; l++)
                    j->drow[(r0 + l) * j->ncol + p->rt_col[t]] += p->rt_coef[t] * d[l];
        if (p->st_start[i + 1] > p->st_start[i]) {
            double s = 0;
            for (int l = 0; l < valid; l++) s += d[l];
            w->wsum[i] += s;
        }
    }
}

static void *worker(void *arg) {
    const svb_job *j = arg;
    for (int64_t ch = j->c0; ch < j->c1; ch++) chunk(j, ch);
    return NULL;
}

/* ==== workspaces ====================================================================== */

static void ws_free(hq_sv_batch *b) {
    for (int i = 0; i < b->n_ws; i++) hq_free(b->ws[i].block);
    hq_free(b->ws);
    b->ws = NULL;
    b->n_ws = 0;
}

static hq_status ws_ensure(hq_sv_batch *b, int count) {
    if (b->n_ws >= count) return HQ_OK;
    ws_free(b);
    const int D = 1 << b->n, n = b->n;
    int64_t n_ent = hq_circuit_n_angles(b->c);
    int n_trig = HQ_MAX(b->gen.n_trig, b->shr.n_trig);
    size_t lane = (size_t)D * 2 * L;
    size_t sizes[] = {
        (size_t)n_ent * L,      /* ang */
        (size_t)n_trig * 2 * L, /* trig */
        (size_t)n * 4 * L,      /* v */
        lane,
        lane,
        lane,
        lane,
        lane,
        lane,                                     /* st st2 lam lam2 tmp tmp2 */
        (size_t)5 * 16 * 2 * L,                   /* mat */
        (size_t)n_ent * L,                        /* dang */
        (size_t)n_ent,                            /* wsum */
        b->shr.dense ? (size_t)2 * D * D * L : 1, /* bacc */
        (size_t)b->n_obs * L,
        (size_t)b->n_obs * L, /* E G */
        (size_t)D * L,        /* gd */
    };
    size_t total = 0;
    for (size_t i = 0; i < HQ_ARRAY_LEN(sizes); i++) total += (sizes[i] + 7) & ~(size_t)7;
    b->ws = hq_calloc((size_t)count, sizeof *b->ws);
    if (!b->ws) return hq_failf(&b->h.err, HQ_ERR_NOMEM, "hq_sv_batch: out of memory (workspaces)");
    for (int t = 0; t < count; t++) {
        double *blk = hq_aligned_alloc(64, (total ? total : 1) * sizeof(double));
        if (!blk) {
            b->n_ws = t;
            ws_free(b);
            return hq_failf(&b->h.err, HQ_ERR_NOMEM, "hq_sv_batch: out of memory (workspaces)");
        }
        memset(blk, 0, total * sizeof(double));
        svb_ws *w = &b->ws[t];
        w->block = blk;
        double **ptr[] = {&w->ang,  &w->trig, &w->v,    &w->st,  &w->st2,  &w->lam,
                          &w->lam2, &w->tmp,  &w->tmp2, &w->mat, &w->dang, &w->wsum,
                          &w->bacc, &w->E,    &w->G,    &w->gd};
        _Static_assert(HQ_ARRAY_LEN(ptr) == HQ_ARRAY_LEN(sizes), "one size per workspace array");
        size_t off = 0;
        for (size_t i = 0; i < HQ_ARRAY_LEN(sizes); i++) {
            *ptr[i] = blk + off;
            off += (sizes[i] + 7) & ~(size_t)7;
        }
        b->n_ws = t + 1;
    }
    return HQ_OK;
}

/* ==== create / free =================================================================== */

void hq_sv_batch_free(hq_sv_batch *b) {
    if (!b || b->h.magic != HQ_MAGIC_BATCH) return;
    plan_free(&b->gen);
    plan_free(&b->shr);
    ws_free(b);
    hq_circuit_free(b->c);
    hq_free(b->w_sym);
    hq_free(b->in_sym);
    hq_free(b->col_of);
    hq_free(b->terms);
    hq_free(b->obs);
    hq_free(b->base);
    hq_free(b->wtot);
    b->h.magic = HQ_MAGIC_DEAD;
    hq_free(b);
}

hq_status hq_sv_batch_create(const hq_circuit *c, const hq_pauli_sum *obs, int n_obs,
                             hq_sv_batch **out) {
    const char *fn = "hq_sv_batch_create";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!c) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: circuit is NULL", fn);
    const int n = hq_circuit_n_qubits(c);
    if (n < 1) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: the circuit has no qubits", fn);
    bool dyn;
    hq_status st = sv_circuit_dynamic(fn, c, &dyn);
    if (st) return st;
    if (dyn)
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "%s: the template is dynamic (mid-circuit measurement, reset or "
                        "classical condition); the batched path needs a unitary circuit",
                        fn);
    st = sv_check_obs(fn, obs, n_obs, n);
    if (st) return st;
    if (n > HQ_SV_BATCH_MAX_QUBITS) {
        st = sv_check_memory(fn, n, 2);
        if (st) return st;
    }
    hq_sv_batch *b = hq_calloc(1, sizeof *b);
    if (!b) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    b->h.magic = HQ_MAGIC_BATCH;
    b->n = n;
    b->n_obs = n_obs;
    b->n_threads = 1;
    st = hq_circuit_copy(c, &b->c);
    if (st) goto fail;
    b->ns = hq_circuit_n_symbols(c);
    int total_terms = 0;
    for (int k = 0; k < n_obs; k++) total_terms += obs[k].n_terms;
    const int64_t n_ent = hq_circuit_n_angles(c);
    b->w_sym = hq_malloc((size_t)(b->ns ? b->ns : 1) * sizeof *b->w_sym);
    b->in_sym = hq_malloc((size_t)(b->ns ? b->ns : 1) * sizeof *b->in_sym);
    b->col_of = hq_malloc((size_t)(b->ns ? b->ns : 1) * sizeof *b->col_of);
    b->terms = hq_malloc((size_t)total_terms * sizeof *b->terms);
    b->obs = hq_malloc((size_t)n_obs * sizeof *b->obs);
    b->base = hq_malloc((size_t)(n_ent ? n_ent : 1) * sizeof *b->base);
    b->wtot = hq_malloc((size_t)(n_ent ? n_ent : 1) * sizeof *b->wtot);
    if (!b->w_sym || !b->in_sym || !b->col_of || !b->terms || !b->obs || !b->base || !b->wtot) {
        st = HQ_ERR_NOMEM;
        goto fail;
    }
    for (int s = 0; s < b->ns; s++) {
        if (hq_circuit_symbol_kind(c, s) == HQ_SYM_INPUT) {
            b->col_of[s] = b->nin;
            b->in_sym[b->nin++] = s;
        } else {
            b->col_of[s] = b->nw;
            b->w_sym[b->nw++] = s;
        }
    }
    int t0 = 0;
    for (int k = 0; k < n_obs; k++) {
        memcpy(b->terms + t0, obs[k].terms, (size_t)obs[k].n_terms * sizeof *b->terms);
        b->obs[k] = (hq_pauli_sum){b->terms + t0, obs[k].n_terms};
        t0 += obs[k].n_terms;
    }
    st = compile_plan(b, &b->gen, false);
    if (st == HQ_OK) st = compile_plan(b, &b->shr, true);
    if (st == HQ_OK) st = ws_ensure(b, 1);
    if (st) goto fail;
    *out = b;
    return HQ_OK;
fail:
    hq_sv_batch_free(b);
    if (st == HQ_ERR_NOMEM) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    return st;
}

/* ==== accessors ======================================================================= */

hq_status hq_sv_batch_set_threads(hq_sv_batch *b, int n_threads) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    if (n_threads < 1 || n_threads > 64)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_sv_batch_set_threads: n_threads %d out of range [1, 64]", n_threads);
    b->n_threads = n_threads;
    return HQ_OK;
}

int hq_sv_batch_n_symbols(const hq_sv_batch *b) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) ? b->ns : 0;
}
int hq_sv_batch_n_weights(const hq_sv_batch *b) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) ? b->nw : 0;
}
int hq_sv_batch_n_inputs(const hq_sv_batch *b) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) ? b->nin : 0;
}
int hq_sv_batch_n_obs(const hq_sv_batch *b) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) ? b->n_obs : 0;
}
int hq_sv_batch_weight_symbol(const hq_sv_batch *b, int k) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) && k >= 0 && k < b->nw ? b->w_sym[k] : -1;
}
int hq_sv_batch_input_symbol(const hq_sv_batch *b, int k) {
    return hq_handle_ok(b, HQ_MAGIC_BATCH) && k >= 0 && k < b->nin ? b->in_sym[k] : -1;
}

hq_status hq_sv_batch_info_get(const hq_sv_batch *b, bool shared, hq_sv_batch_info *out) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    if (!out)
        return hq_failf((hq_err *)&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_sv_batch_info_get: out is NULL");
    *out = shared ? b->shr.info : b->gen.info;
    return HQ_OK;
}

/* ==== run ============================================================================= */

static hq_status check_finite(hq_sv_batch *b, const char *fn, const char *what, const double *v,
                              int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(v[i]))
            return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: %s[%lld] is not finite", fn, what,
                            (long long)i);
    return HQ_OK;
}

/* Row-by-row fallback through the general simulator (wide templates). */
static hq_status run_fallback(hq_sv_batch *b, const char *fn, bool shared, int64_t rows,
                              const double *rowv, int ncol, const double *weights,
                              const double *dexpect, double *expect, double *drow, double *dw) {
    const int ns = b->ns;
    double *sym = hq_malloc((size_t)(ns ? ns : 1) * sizeof *sym);
    double *e = hq_malloc((size_t)b->n_obs * sizeof *e);
    double *ds = hq_malloc((size_t)(ns ? ns : 1) * sizeof *ds);
    hq_status st = HQ_OK;
    if (!sym || !e || !ds) {
        st = hq_failf(&b->h.err, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    for (int64_t r = 0; r < rows && st == HQ_OK; r++) {
        for (int s = 0; s < ns; s++)
            sym[s] = !shared ? rowv[r * ncol + s]
                     : hq_circuit_symbol_kind(b->c, s) == HQ_SYM_INPUT
                         ? rowv[r * ncol + b->col_of[s]]
                         : weights[b->col_of[s]];
        if (dexpect) {
            st = hq_sv_adjoint_vjp(b->c, sym, b->obs, b->n_obs, dexpect + r * b->n_obs, e, ds);
            if (st) break;
            for (int s = 0; s < ns; s++) {
                bool row = !shared || hq_circuit_symbol_kind(b->c, s) == HQ_SYM_INPUT;
                int col = shared ? b->col_of[s] : s;
                if (row && drow) drow[r * ncol + col] = ds[s];
                if (!row) dw[b->col_of[s]] += ds[s];
            }
        } else {
            hq_sv *sv;
            st = hq_sv_simulate(b->c, sym, &sv);
            if (st) break;
            st = hq_sv_expect(sv, b->obs, b->n_obs, e);
            hq_sv_free(sv);
        }
        if (expect) memcpy(expect + r * b->n_obs, e, (size_t)b->n_obs * sizeof *e);
    }
done:
    hq_free(sym);
    hq_free(e);
    hq_free(ds);
    return st;
}

static hq_status run(hq_sv_batch *b, const char *fn, bool shared, int64_t rows, const double *rowv,
                     const double *weights, const double *dexpect, double *expect, double *drow,
                     double *dw) {
    svb_plan *p = shared ? &b->shr : &b->gen;
    const int ncol = shared ? b->nin : b->ns;
    if (rows == 0) {
        if (dw) memset(dw, 0, (size_t)b->nw * sizeof *dw);
        return HQ_OK;
    }
    if (drow) memset(drow, 0, (size_t)rows * ncol * sizeof *drow);
    if (dw) memset(dw, 0, (size_t)b->nw * sizeof *dw);
    if (p->fallback)
        return run_fallback(b, fn, shared, rows, rowv, ncol, weights, dexpect, expect, drow, dw);
    const int64_t n_chunks = (rows + L - 1) / L;
    const int nt = (int)HQ_MIN((int64_t)b->n_threads, HQ_MAX(n_chunks / 16, 1));
    hq_status st = ws_ensure(b, nt);
    if (st) return st;
    static const double no_weights[1] = {0};
    eval_base(b, p, shared ? weights : no_weights, b->base);
    build_shared(p, b->base, dexpect != NULL);
    if (p->dense) {
        st = build_w(b, p, b->base);
        if (st) return st;
    }
    svb_job jobs[64];
    pthread_t tid[64];
    int started = 0;
    for (int t = 0; t < nt; t++) {
        svb_ws *w = &b->ws[t];
        memset(w->wsum, 0, (size_t)p->n_ent * sizeof *w->wsum);
        if (dexpect && p->dense) memset(w->bacc, 0, (size_t)2 * p->D * p->D * L * sizeof *w->bacc);
        jobs[t] = (svb_job){
            b,       p,       w,      rows, n_chunks * t / nt, n_chunks * (t + 1) / nt, rowv, ncol,
            b->base, dexpect, expect, drow};
    }
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tid[t], NULL, worker, &jobs[t]) != 0) break;
        started = t;
    }
    /* this thread takes the first range, and any range a thread could not start for */
    worker(&jobs[0]);
    for (int t = started + 1; t < nt; t++) worker(&jobs[t]);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
    if (!dexpect) return HQ_OK;
    /* weight gradients: row sums of the shared entries, plus segment C */
    memset(b->wtot, 0, (size_t)p->n_ent * sizeof *b->wtot);
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < p->n_ent; i++) b->wtot[i] += b->ws[t].wsum[i];
    if (p->dense) {
        const int D = p->D;
        double *Br = p->cwork + (size_t)4 * D * D; /* after R and Lm of dense_backward */
        double *Bi = Br + (size_t)D * D;
        for (size_t e = 0; e < (size_t)D * D; e++) {
            double sr = 0, si = 0;
            for (int t = 0; t < nt; t++)
                for (int l = 0; l < L; l++) {
                    sr += b->ws[t].bacc[e * L + l];
                    si += b->ws[t].bacc[((size_t)D * D + e) * L + l];
                }
            Br[e] = sr;
            Bi[e] = si;
        }
        st = dense_backward(b, p, b->base, Br, Bi, b->wtot);
        if (st) return st;
    }
    if (dw)
        for (int64_t i = 0; i < p->n_ent; i++)
            for (int32_t t = p->st_start[i]; t < p->st_start[i + 1]; t++)
                dw[p->st_col[t]] += p->st_coef[t] * b->wtot[i];
    return HQ_OK;
}

hq_status hq_sv_batch_forward(hq_sv_batch *b, int64_t rows, const double *sym, double *expect) {
    const char *fn = "hq_sv_batch_forward";
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    if (rows < 0)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: rows %lld, need >= 0", fn,
                        (long long)rows);
    if (rows && ((!sym && b->ns) || !expect))
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                        expect ? "sym" : "expect");
    hq_status st = check_finite(b, fn, "sym", sym, rows * b->ns);
    if (st) return st;
    return run(b, fn, false, rows, sym, NULL, NULL, expect, NULL, NULL);
}

hq_status hq_sv_batch_backward(hq_sv_batch *b, int64_t rows, const double *sym,
                               const double *dexpect, double *expect, double *dsym) {
    const char *fn = "hq_sv_batch_backward";
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    if (rows < 0)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: rows %lld, need >= 0", fn,
                        (long long)rows);
    if (rows && ((!sym && b->ns) || !dexpect || !dsym))
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                        !dexpect ? "dexpect"
                        : !dsym  ? "dsym"
                                 : "sym");
    hq_status st = check_finite(b, fn, "sym", sym, rows * b->ns);
    if (st == HQ_OK) st = check_finite(b, fn, "dexpect", dexpect, rows * b->n_obs);
    if (st) return st;
    return run(b, fn, false, rows, sym, NULL, dexpect, expect, dsym, NULL);
}

static hq_status check_shared(hq_sv_batch *b, const char *fn, int64_t rows, const double *weights,
                              const double *inputs) {
    if (rows < 0)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: rows %lld, need >= 0", fn,
                        (long long)rows);
    if (b->nw && !weights)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: weights is NULL (%d weights)", fn,
                        b->nw);
    if (rows && b->nin && !inputs)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: inputs is NULL (%d inputs)", fn,
                        b->nin);
    hq_status st = check_finite(b, fn, "weights", weights, b->nw);
    if (st == HQ_OK) st = check_finite(b, fn, "inputs", inputs, rows * b->nin);
    return st;
}

hq_status hq_sv_batch_forward_shared(hq_sv_batch *b, int64_t rows, const double *weights,
                                     const double *inputs, double *expect) {
    const char *fn = "hq_sv_batch_forward_shared";
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    hq_status st = check_shared(b, fn, rows, weights, inputs);
    if (st) return st;
    if (rows && !expect) return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: expect is NULL", fn);
    return run(b, fn, true, rows, inputs, weights, NULL, expect, NULL, NULL);
}

hq_status hq_sv_batch_backward_shared(hq_sv_batch *b, int64_t rows, const double *weights,
                                      const double *inputs, const double *dexpect, double *expect,
                                      double *dinputs, double *dweights) {
    const char *fn = "hq_sv_batch_backward_shared";
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BATCH);
    hq_status st = check_shared(b, fn, rows, weights, inputs);
    if (st) return st;
    if ((rows && !dexpect) || (b->nw && !dweights))
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                        !dweights && b->nw ? "dweights" : "dexpect");
    st = check_finite(b, fn, "dexpect", dexpect, rows * b->n_obs);
    if (st) return st;
    return run(b, fn, true, rows, inputs, weights, dexpect, expect, dinputs, dweights);
}
