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
    bool small = true;
    for (int l = 0; l < L; l++) small &= fabs(x[l]) <= 1e5;
    if (!small) { /* rare: huge or non-finite arguments */
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
    bool psym[HQ_GATE_MAX_PARAMS];    /* parameter k is symbolic (needs its derivative) */
    bool phase_only;                  /* SVB_DIAG1 with first entry exactly 1 */
    int ne;                           /* matrix entries: 4 (block) or 16 */
    int32_t n_tup;                    /* tuples: pairs (ne 4) or quads (ne 16) */
    int64_t tup;                      /* offset of the tuples in plan->slots */
    int64_t shm;                      /* shared matrices offset in plan->shm, -1 */
    int64_t mc;                       /* per-row ops of B: matrix offset in ws->mcache */
} svb_op;

/* λ[dst] += g_obs * f * φ[src], times i if imag (f = ± coef) */
typedef struct svb_lterm {
    int32_t dst, src, obs;
    int imag;
    double f;
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
    int32_t *row_ents; /* the entries with per-row terms */
    int64_t n_row_ents;
    uint8_t *ent_grad;  /* (n_ent) entry is a symbolic parameter of a segment A/B op */
    int32_t *grad_ents; /* those entries */
    int64_t n_grad_ents;
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
    int64_t n_mcache; /* doubles of per-row B matrices kept between forward and backward */
    double *shm;      /* shared matrices: (1 + np) x ne x 2 x L per shared op */
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
    double *bacc;   /* (2 x D x D) sum_rows psi lambda^dagger: real parts, imaginary parts */
    double *E, *G;  /* (n_obs x L) */
    double *gd;     /* (D x L) */
    double *mcache; /* per-row matrices of segment B ops, (n_mcache) */
    void *block;    /* the allocation */
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

/* ==== lane vectors =================================================================== */

/*
 * The hot loops use GCC/Clang vector types over the lanes of a row chunk: 4 doubles with
 * AVX, else 2 (SSE2 / NEON width), and an explicit fused multiply-add where the target
 * has one (ISO C mode does not contract a * b + c by itself).
 */
#if defined(__AVX__)
#define VW 4
#else
#define VW 2
#endif
#define NV (L / VW) /* vectors per lane array */
typedef double vd __attribute__((vector_size(VW * sizeof(double))));
static inline vd vld(const double *p) {
    vd v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vst(double *p, vd v) { memcpy(p, &v, sizeof v); }
static inline vd vbc(double x) {
#if VW == 4
    return (vd){x, x, x, x};
#else
    return (vd){x, x};
#endif
}
#if defined(__FMA__) && VW == 4
#include <immintrin.h>
static inline vd vfma(vd a, vd b, vd c) {
    return (vd)_mm256_fmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
}
static inline vd vfms(vd a, vd b, vd c) { /* c - a b */
    return (vd)_mm256_fnmadd_pd((__m256d)a, (__m256d)b, (__m256d)c);
}
#else
static inline vd vfma(vd a, vd b, vd c) { return a * b + c; }
static inline vd vfms(vd a, vd b, vd c) { return c - a * b; }
#endif
_Static_assert(L % VW == 0, "SVB_L must be a multiple of the vector width");

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
 * The gate switch is outside the lane loops, so each loop vectorises.
 */
#define LANES for (int l = 0; l < L; l++)
static void build_block(const svb_op *op, const double *trig, int dk, double *restrict m) {
    const double *restrict c = trig, *restrict s = trig + L;
    double *restrict ar = MR(m, 0), *restrict ai = MI(m, 0), *restrict br = MR(m, 1),
                     *restrict bi = MI(m, 1), *restrict cr = MR(m, 2), *restrict ci = MI(m, 2),
                     *restrict dr = MR(m, 3), *restrict di = MI(m, 3);
    switch (op->gate) {
    case HQ_GATE_RX:
    case HQ_GATE_CRX:
        if (dk < 0) LANES {
                ar[l] = dr[l] = c[l], ai[l] = di[l] = 0;
                br[l] = cr[l] = 0, bi[l] = ci[l] = -s[l];
            }
        else
            LANES {
                ar[l] = dr[l] = -0.5 * s[l], ai[l] = di[l] = 0;
                br[l] = cr[l] = 0, bi[l] = ci[l] = -0.5 * c[l];
            }
        return;
    case HQ_GATE_RY:
    case HQ_GATE_CRY: {
        const double f = dk < 0 ? 1.0 : 0.5;
        const double *restrict u = dk < 0 ? c : s, *restrict v = dk < 0 ? s : c;
        const double su =
            dk < 0 ? 1.0 : -1.0; /* matrix [[c, -s], [s, c]]; d: [[-s, -c], [c, -s]] / 2 */
        LANES {
            ar[l] = dr[l] = su * f * u[l];
            br[l] = -f * v[l], cr[l] = f * v[l];
            ai[l] = bi[l] = ci[l] = di[l] = 0;
        }
        return;
    }
    case HQ_GATE_RZ:
    case HQ_GATE_CRZ:
        if (dk < 0) LANES {
                ar[l] = dr[l] = c[l], ai[l] = -s[l], di[l] = s[l];
                br[l] = bi[l] = cr[l] = ci[l] = 0;
            }
        else
            LANES {
                ar[l] = dr[l] = -0.5 * s[l], ai[l] = -0.5 * c[l], di[l] = 0.5 * c[l];
                br[l] = bi[l] = cr[l] = ci[l] = 0;
            }
        return;
    case HQ_GATE_P:
    case HQ_GATE_U1:
    case HQ_GATE_CP:
    case HQ_GATE_CU1:
        if (dk < 0) LANES {
                ar[l] = 1, ai[l] = br[l] = bi[l] = cr[l] = ci[l] = 0;
                dr[l] = c[l], di[l] = s[l];
            }
        else
            LANES {
                ar[l] = ai[l] = br[l] = bi[l] = cr[l] = ci[l] = 0;
                dr[l] = -s[l], di[l] = c[l];
            }
        return;
    case HQ_GATE_GPI: {
        const double f = 2 * M_PI;
        if (dk < 0) LANES {
                ar[l] = ai[l] = dr[l] = di[l] = 0;
                br[l] = c[l], bi[l] = -s[l], cr[l] = c[l], ci[l] = s[l];
            }
        else
            LANES {
                ar[l] = ai[l] = dr[l] = di[l] = 0;
                br[l] = -f * s[l], bi[l] = -f * c[l], cr[l] = -f * s[l], ci[l] = f * c[l];
            }
        return;
    }
    case HQ_GATE_GPI2: {
        const double r = M_SQRT1_2, f = 2 * M_PI * M_SQRT1_2;
        if (dk < 0) LANES {
                ar[l] = dr[l] = r, ai[l] = di[l] = 0;
                br[l] = -r * s[l], bi[l] = -r * c[l], cr[l] = r * s[l], ci[l] = -r * c[l];
            }
        else
            LANES {
                ar[l] = dr[l] = ai[l] = di[l] = 0;
                br[l] = -f * c[l], bi[l] = f * s[l], cr[l] = f * c[l], ci[l] = f * s[l];
            }
        return;
    }
    default: break;
    }
    /* U2, U3, U, CU3, CU: [[ct, -e2 st], [e1 st, e12 ct]] (times e^{i gamma} for CU) */
    const bool u2 = op->gate == HQ_GATE_U2;
    const double *restrict e1r = u2 ? trig : trig + 2 * L, *restrict e1i = e1r + L;
    const double *restrict e2r = e1r + 2 * L, *restrict e2i = e1r + 3 * L;
    /* which: -1 matrix, 0 theta, 1 phi, 2 lambda, 3 gamma */
    const int which = dk < 0 ? -1 : (u2 ? dk + 1 : dk);
    double ct[L], st[L];
    LANES {
        ct[l] = u2 ? M_SQRT1_2 : c[l];
        st[l] = u2 ? M_SQRT1_2 : s[l];
    }
    switch (which) {
    case -1:
    case 3:
        LANES {
            double e12r = e1r[l] * e2r[l] - e1i[l] * e2i[l],
                   e12i = e1r[l] * e2i[l] + e1i[l] * e2r[l];
            ar[l] = ct[l], ai[l] = 0;
            br[l] = -e2r[l] * st[l], bi[l] = -e2i[l] * st[l];
            cr[l] = e1r[l] * st[l], ci[l] = e1i[l] * st[l];
            dr[l] = e12r * ct[l], di[l] = e12i * ct[l];
        }
        break;
    case 0:
        LANES {
            double e12r = e1r[l] * e2r[l] - e1i[l] * e2i[l],
                   e12i = e1r[l] * e2i[l] + e1i[l] * e2r[l];
            ar[l] = -0.5 * st[l], ai[l] = 0;
            br[l] = -0.5 * e2r[l] * ct[l], bi[l] = -0.5 * e2i[l] * ct[l];
            cr[l] = 0.5 * e1r[l] * ct[l], ci[l] = 0.5 * e1i[l] * ct[l];
            dr[l] = -0.5 * e12r * st[l], di[l] = -0.5 * e12i * st[l];
        }
        break;
    case 1: /* i e1 st, i e12 ct in the bottom row */
        LANES {
            double e12r = e1r[l] * e2r[l] - e1i[l] * e2i[l],
                   e12i = e1r[l] * e2i[l] + e1i[l] * e2r[l];
            ar[l] = ai[l] = br[l] = bi[l] = 0;
            cr[l] = -e1i[l] * st[l], ci[l] = e1r[l] * st[l];
            dr[l] = -e12i * ct[l], di[l] = e12r * ct[l];
        }
        break;
    default: /* lambda: -i e2 st top right, i e12 ct bottom right */
        LANES {
            double e12r = e1r[l] * e2r[l] - e1i[l] * e2i[l],
                   e12i = e1r[l] * e2i[l] + e1i[l] * e2r[l];
            ar[l] = ai[l] = cr[l] = ci[l] = 0;
            br[l] = e2i[l] * st[l], bi[l] = -e2r[l] * st[l];
            dr[l] = -e12i * ct[l], di[l] = e12r * ct[l];
        }
        break;
    }
    if (op->gate == HQ_GATE_CU) { /* times e^{i gamma}; d/d gamma: times i e^{i gamma} */
        const double *restrict gr0 = trig + 6 * L, *restrict gi0 = trig + 7 * L;
        for (int e = 0; e < 4; e++) {
            double *restrict xr = MR(m, e), *restrict xi = MI(m, e);
            LANES {
                double gr = which == 3 ? -gi0[l] : gr0[l], gi = which == 3 ? gr0[l] : gi0[l];
                double re = xr[l], im = xi[l];
                xr[l] = re * gr - im * gi;
                xi[l] = re * gi + im * gr;
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

/* 2x2 complex block per lane on slot pairs */
static void k_mat1(double *restrict st, const int32_t *t, int32_t n, const double *restrict m) {
    for (int v = 0; v < NV; v++) {
        const int o = v * VW;
        const vd m0r = vld(MR(m, 0) + o), m0i = vld(MI(m, 0) + o), m1r = vld(MR(m, 1) + o),
                 m1i = vld(MI(m, 1) + o), m2r = vld(MR(m, 2) + o), m2i = vld(MI(m, 2) + o),
                 m3r = vld(MR(m, 3) + o), m3i = vld(MI(m, 3) + o);
        for (int32_t p = 0; p < n; p++) {
            double *ar = SR(st, t[2 * p]) + o, *ai = SI(st, t[2 * p]) + o;
            double *br = SR(st, t[2 * p + 1]) + o, *bi = SI(st, t[2 * p + 1]) + o;
            const vd xr = vld(ar), xi = vld(ai), yr = vld(br), yi = vld(bi);
            vst(ar, vfma(m1r, yr, vfms(m1i, yi, vfms(m0i, xi, m0r * xr))));
            vst(ai, vfma(m1r, yi, vfma(m1i, yr, vfma(m0i, xr, m0r * xi))));
            vst(br, vfma(m3r, yr, vfms(m3i, yi, vfms(m2i, xi, m2r * xr))));
            vst(bi, vfma(m3r, yi, vfma(m3i, yr, vfma(m2i, xr, m2r * xi))));
        }
    }
}

/* 2x2 real block per lane */
static void k_mat1r(double *restrict st, const int32_t *t, int32_t n, const double *restrict m) {
    for (int v = 0; v < NV; v++) {
        const int o = v * VW;
        const vd m0 = vld(MR(m, 0) + o), m1 = vld(MR(m, 1) + o), m2 = vld(MR(m, 2) + o),
                 m3 = vld(MR(m, 3) + o);
        for (int32_t p = 0; p < n; p++) {
            double *ar = SR(st, t[2 * p]) + o, *ai = SI(st, t[2 * p]) + o;
            double *br = SR(st, t[2 * p + 1]) + o, *bi = SI(st, t[2 * p + 1]) + o;
            const vd xr = vld(ar), xi = vld(ai), yr = vld(br), yi = vld(bi);
            vst(ar, vfma(m1, yr, m0 * xr));
            vst(ai, vfma(m1, yi, m0 * xi));
            vst(br, vfma(m3, yr, m2 * xr));
            vst(bi, vfma(m3, yi, m2 * xi));
        }
    }
}

/* diagonal block per lane (entries 0 and 3); phase_only: entry 0 is 1 */
static void k_diag1(double *restrict st, const int32_t *t, int32_t n, const double *restrict m,
                    bool phase_only) {
    for (int v = 0; v < NV; v++) {
        const int o = v * VW;
        const vd d0r = vld(MR(m, 0) + o), d0i = vld(MI(m, 0) + o), d1r = vld(MR(m, 3) + o),
                 d1i = vld(MI(m, 3) + o);
        for (int32_t p = 0; p < n; p++) {
            if (!phase_only) {
                double *ar = SR(st, t[2 * p]) + o, *ai = SI(st, t[2 * p]) + o;
                const vd xr = vld(ar), xi = vld(ai);
                vst(ar, vfms(d0i, xi, d0r * xr));
                vst(ai, vfma(d0i, xr, d0r * xi));
            }
            double *br = SR(st, t[2 * p + 1]) + o, *bi = SI(st, t[2 * p + 1]) + o;
            const vd yr = vld(br), yi = vld(bi);
            vst(br, vfms(d1i, yi, d1r * yr));
            vst(bi, vfma(d1i, yr, d1r * yi));
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
    for (int v = 0; v < NV; v++) {
        const int o = v * VW;
        vd acc = vbc(0);
        for (int e = 0; e < ne; e++)
            acc = vfms(vld(MI(dm, e) + o), vld(MI(T, e) + o),
                       vfma(vld(MR(dm, e) + o), vld(MR(T, e) + o), acc));
        vst(out + o, vfma(vbc(2), acc, vld(out + o)));
    }
}

/* ==== product prefix ================================================================== */

/* v: [q][b][re/im][L] */
#define VR(v, q, b) ((v) + ((size_t)(q)*4 + (size_t)(b)*2) * L)
#define VI(v, q, b) ((v) + ((size_t)(q)*4 + (size_t)(b)*2 + 1) * L)

/* 2-vector q of v := m (or m^dagger if dag) times it */
static void vec_apply(double *v, int q, const double *m, bool dag) {
    const vd sg = vbc(dag ? -1.0 : 1.0);
    const int e1 = dag ? 2 : 1, e2 = dag ? 1 : 2; /* m^dagger = [[m0*, m2*], [m1*, m3*]] */
    for (int k = 0; k < NV; k++) {
        const int o = k * VW;
        double *ar = VR(v, q, 0) + o, *ai = VI(v, q, 0) + o, *br = VR(v, q, 1) + o,
               *bi = VI(v, q, 1) + o;
        const vd m0r = vld(MR(m, 0) + o), m0i = sg * vld(MI(m, 0) + o);
        const vd m1r = vld(MR(m, e1) + o), m1i = sg * vld(MI(m, e1) + o);
        const vd m2r = vld(MR(m, e2) + o), m2i = sg * vld(MI(m, e2) + o);
        const vd m3r = vld(MR(m, 3) + o), m3i = sg * vld(MI(m, 3) + o);
        const vd xr = vld(ar), xi = vld(ai), yr = vld(br), yi = vld(bi);
        vst(ar, vfma(m1r, yr, vfms(m1i, yi, vfms(m0i, xi, m0r * xr))));
        vst(ai, vfma(m1r, yi, vfma(m1i, yr, vfma(m0i, xr, m0r * xi))));
        vst(br, vfma(m3r, yr, vfms(m3i, yi, vfms(m2i, xi, m2r * xr))));
        vst(bi, vfma(m3r, yi, vfma(m3i, yr, vfma(m2i, xr, m2r * xi))));
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
            for (int k = 0; k < NV; k++) {
                const int o = k * VW;
                const vd ar = vld(SR(t, s0) + o), ai = vld(SI(t, s0) + o);
                const vd br = vld(SR(t, s1) + o), bi = vld(SI(t, s1) + o);
                const vd v0r = vld(VR(v, p, 0) + o), v0i = -vld(VI(v, p, 0) + o);
                const vd v1r = vld(VR(v, p, 1) + o), v1i = -vld(VI(v, p, 1) + o);
                vst(SR(t2, j) + o, vfms(bi, v1i, vfma(br, v1r, vfms(ai, v0i, ar * v0r))));
                vst(SI(t2, j) + o, vfma(bi, v1r, vfma(br, v1i, vfma(ai, v0r, ar * v0i))));
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
            for (int v = 0; v < NV; v++) {
                const vd xr = vld(SR(st, s) + v * VW), xi = vld(SI(st, s) + v * VW);
                vst(pr + (size_t)s * L + v * VW, vfma(xi, xi, xr * xr));
            }
    for (int k = 0; k < n_obs; k++) {
        vd e[NV];
        for (int v = 0; v < NV; v++) e[v] = vbc(0);
        if (p->ob_has_diag[k]) {
            const double *w = p->ob_diag + (size_t)k * D;
            for (int s = 0; s < D; s++)
                if (w[s] != 0)
                    for (int v = 0; v < NV; v++)
                        e[v] = vfma(vbc(w[s]), vld(pr + (size_t)s * L + v * VW), e[v]);
        }
        for (int64_t i = p->ob_pstart[k]; i < p->ob_pstart[k + 1]; i++) {
            const svb_pair *q = &p->ob_pairs[i];
            const vd wq = vbc(q->w);
            for (int v = 0; v < NV; v++) {
                const int o = v * VW;
                const vd ar = vld(SR(st, q->a) + o), ai = vld(SI(st, q->a) + o);
                const vd br = vld(SR(st, q->b) + o), bi = vld(SI(st, q->b) + o);
                const vd t = q->im ? vfms(bi, ar, br * ai) : vfma(bi, ai, br * ar);
                e[v] = vfma(wq, t, e[v]);
            }
        }
        for (int v = 0; v < NV; v++) vst(E + (size_t)k * L + v * VW, e[v]);
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
            for (int v = 0; v < NV; v++) {
                double *g = gd + (size_t)s * L + v * VW;
                vst(g, vfma(vbc(w[s]), vld(G + (size_t)k * L + v * VW), vld(g)));
            }
    }
    for (int s = 0; s < D; s++)
        for (int v = 0; v < NV; v++) {
            const int o = v * VW;
            const vd g = vld(gd + (size_t)s * L + o);
            vst(SR(lam, s) + o, g * vld(SR(st, s) + o));
            vst(SI(lam, s) + o, g * vld(SI(st, s) + o));
        }
    for (int64_t i = 0; i < p->n_lterms; i++) {
        const svb_lterm *t = &p->lterms[i];
        const vd f = vbc(t->f);
        for (int v = 0; v < NV; v++) {
            const int o = v * VW;
            const vd gf = f * vld(G + (size_t)t->obs * L + o);
            const vd xr = vld(SR(st, t->src) + o), xi = vld(SI(st, t->src) + o);
            double *yr = SR(lam, t->dst) + o, *yi = SI(lam, t->dst) + o;
            if (t->imag) {
                vst(yr, vfms(gf, xi, vld(yr)));
                vst(yi, vfma(gf, xr, vld(yi)));
            } else {
                vst(yr, vfma(gf, xr, vld(yr)));
                vst(yi, vfma(gf, xi, vld(yi)));
            }
        }
    }
}

/* ==== compile ========================================================================= */

static void plan_free(svb_plan *p) {
    hq_free(p->ent_row);
    hq_free(p->row_ents);
    hq_free(p->ent_grad);
    hq_free(p->grad_ents);
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
                p->lterms[p->n_lterms++] = (svb_lterm){sm[bx], sm[b], k, yc & 1,
                                                       P->coef * sb * (yc & 1 ? phi[yc] : phr[yc])};
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
    p->row_ents = hq_malloc((size_t)(n_ent ? n_ent : 1) * sizeof *p->row_ents);
    if (!p->row_ents) return HQ_ERR_NOMEM;
    for (int64_t i = 0; i < n_ent; i++)
        if (p->ent_row[i]) p->row_ents[p->n_row_ents++] = (int32_t)i;
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
            op->psym[i] = hq_circuit_angle(c, o->p[i]).n > 0;
            op->grad |= op->psym[i];
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
        } else if (k >= nA) {
            op->mc = p->n_mcache;
            p->n_mcache += (int64_t)op->ne * 2 * L;
        }
    }
    hq_free(sm2);
    p->ent_grad = hq_calloc((size_t)(n_ent ? n_ent : 1), 1);
    p->grad_ents = hq_malloc((size_t)(n_ent ? n_ent : 1) * sizeof *p->grad_ents);
    if (!p->ent_grad || !p->grad_ents) {
        hq_free(u);
        return HQ_ERR_NOMEM;
    }
    for (int k = 0; k < p->n_ops; k++)
        for (int i = 0; i < p->ops[k].np; i++)
            if (p->ops[k].psym[i]) p->ent_grad[p->ops[k].ent[i]] = 1;
    for (int64_t i = 0; i < n_ent; i++)
        if (p->ent_grad[i]) p->grad_ents[p->n_grad_ents++] = (int32_t)i;
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

/* ---- dense segment C kernels (lane states; W' row-major D x D) ---- */

/* o = W' x */
static void dense_fwd(int D, const double *restrict wr, const double *restrict wi,
                      const double *restrict x, bool xreal, double *restrict o) {
    for (int a = 0; a < D; a += 2) {
        vd r0[NV], i0[NV], r1[NV], i1[NV];
        for (int v = 0; v < NV; v++) r0[v] = i0[v] = r1[v] = i1[v] = vbc(0);
        const double *w0r = wr + (size_t)a * D, *w0i = wi + (size_t)a * D;
        const double *w1r = w0r + D, *w1i = w0i + D;
        for (int s = 0; s < D; s++) {
            const vd a0 = vbc(w0r[s]), b0 = vbc(w0i[s]), a1 = vbc(w1r[s]), b1 = vbc(w1i[s]);
            for (int v = 0; v < NV; v++) {
                const vd xr = vld(SR(x, s) + v * VW);
                r0[v] = vfma(a0, xr, r0[v]), i0[v] = vfma(b0, xr, i0[v]);
                r1[v] = vfma(a1, xr, r1[v]), i1[v] = vfma(b1, xr, i1[v]);
                if (!xreal) {
                    const vd xi = vld(SI(x, s) + v * VW);
                    r0[v] = vfms(b0, xi, r0[v]), i0[v] = vfma(a0, xi, i0[v]);
                    r1[v] = vfms(b1, xi, r1[v]), i1[v] = vfma(a1, xi, i1[v]);
                }
            }
        }
        for (int v = 0; v < NV; v++) {
            vst(SR(o, a) + v * VW, r0[v]), vst(SI(o, a) + v * VW, i0[v]);
            vst(SR(o, a + 1) + v * VW, r1[v]), vst(SI(o, a + 1) + v * VW, i1[v]);
        }
    }
}

/* o = W'^dagger y; only the real part when real_only (imaginary parts set to 0) */
static void dense_adj(int D, const double *restrict wr, const double *restrict wi,
                      const double *restrict y, bool real_only, double *restrict o) {
    for (int s = 0; s < D; s += 2) {
        vd r0[NV], i0[NV], r1[NV], i1[NV];
        for (int v = 0; v < NV; v++) r0[v] = i0[v] = r1[v] = i1[v] = vbc(0);
        for (int a = 0; a < D; a++) {
            const vd a0 = vbc(wr[(size_t)a * D + s]), b0 = vbc(wi[(size_t)a * D + s]);
            const vd a1 = vbc(wr[(size_t)a * D + s + 1]), b1 = vbc(wi[(size_t)a * D + s + 1]);
            for (int v = 0; v < NV; v++) {
                const vd yr = vld(SR(y, a) + v * VW), yi = vld(SI(y, a) + v * VW);
                r0[v] = vfma(b0, yi, vfma(a0, yr, r0[v]));
                r1[v] = vfma(b1, yi, vfma(a1, yr, r1[v]));
                if (!real_only) {
                    i0[v] = vfms(b0, yr, vfma(a0, yi, i0[v]));
                    i1[v] = vfms(b1, yr, vfma(a1, yi, i1[v]));
                }
            }
        }
        for (int v = 0; v < NV; v++) {
            vst(SR(o, s) + v * VW, r0[v]), vst(SI(o, s) + v * VW, i0[v]);
            vst(SR(o, s + 1) + v * VW, r1[v]), vst(SI(o, s + 1) + v * VW, i1[v]);
        }
    }
}

/* B[s][a] += sum over lanes x[s] conj(y[a]) (B: D x D real parts, then imaginary parts);
 * yt: (2 x L x D) scratch for y transposed so the inner loop runs over a */
static void dense_bacc(int D, const double *restrict x, bool xreal, const double *restrict y,
                       double *restrict B, double *restrict yt) {
    double *restrict ytr = yt, *restrict yti = yt + (size_t)L * D;
    for (int a = 0; a < D; a++) LANES {
            ytr[(size_t)l * D + a] = SR(y, a)[l];
            yti[(size_t)l * D + a] = SI(y, a)[l];
        }
    if (D % VW) { /* one qubit: plain loops */
        for (int s = 0; s < D; s++)
            for (int l = 0; l < L; l++)
                for (int a = 0; a < D; a++) {
                    double xr = SR(x, s)[l], xi = xreal ? 0 : SI(x, s)[l];
                    double ur = ytr[(size_t)l * D + a], ui = yti[(size_t)l * D + a];
                    B[(size_t)s * D + a] += xr * ur + xi * ui;
                    B[(size_t)D * D + (size_t)s * D + a] += xi * ur - xr * ui;
                }
        return;
    }
    for (int s = 0; s < D; s++) {
        double *br = B + (size_t)s * D, *bi = B + (size_t)D * D + (size_t)s * D;
        for (int a = 0; a < D; a += VW) {
            vd accr = vld(br + a), acci = vld(bi + a);
            for (int l = 0; l < L; l++) {
                const vd xr = vbc(SR(x, s)[l]);
                const vd ur = vld(ytr + (size_t)l * D + a), ui = vld(yti + (size_t)l * D + a);
                accr = vfma(xr, ur, accr);
                acci = vfms(xr, ui, acci);
                if (!xreal) {
                    const vd xi = vbc(SI(x, s)[l]);
                    accr = vfma(xi, ui, accr);
                    acci = vfma(xi, ur, acci);
                }
            }
            vst(br + a, accr), vst(bi + a, acci);
        }
    }
}

/*
 * Backward through one single-qubit-block op (matrix m) of segment B, fused in one pass
 * over its pairs: phi <- md phi (md = m^dagger: phi becomes the state before the op), T +=
 * conj(lam) (x) phi (lam still the adjoint after the op), lam <- md lam.
 */
static void back_block(const svb_op *op, const int32_t *restrict t, const double *restrict m,
                       double *restrict st, double *restrict lam, bool want_t, double *restrict T) {
    const bool diag = op->kind == SVB_DIAG1, ph = op->phase_only;
    for (int v = 0; v < NV; v++) {
        const int o = v * VW;
        /* md = m^dagger: [[conj m0, conj m2], [conj m1, conj m3]] */
        const vd m0r = vld(MR(m, 0) + o), m0i = -vld(MI(m, 0) + o), m1r = vld(MR(m, 2) + o),
                 m1i = -vld(MI(m, 2) + o), m2r = vld(MR(m, 1) + o), m2i = -vld(MI(m, 1) + o),
                 m3r = vld(MR(m, 3) + o), m3i = -vld(MI(m, 3) + o);
        vd t00r = vbc(0), t00i = vbc(0), t01r = vbc(0), t01i = vbc(0);
        vd t10r = vbc(0), t10i = vbc(0), t11r = vbc(0), t11i = vbc(0);
        for (int32_t p = 0; p < op->n_tup; p++) {
            double *ar = SR(st, t[2 * p]) + o, *ai = SI(st, t[2 * p]) + o;
            double *br = SR(st, t[2 * p + 1]) + o, *bi = SI(st, t[2 * p + 1]) + o;
            double *cr = SR(lam, t[2 * p]) + o, *ci = SI(lam, t[2 * p]) + o;
            double *dr = SR(lam, t[2 * p + 1]) + o, *di = SI(lam, t[2 * p + 1]) + o;
            const vd xr = vld(ar), xi = vld(ai), yr = vld(br), yi = vld(bi);
            const vd ur = vld(cr), ui = vld(ci), wr = vld(dr), wi = vld(di);
            vd f0r, f0i, f1r, f1i;
            if (diag) {
                f0r = ph ? xr : vfms(m0i, xi, m0r * xr), f0i = ph ? xi : vfma(m0i, xr, m0r * xi);
                f1r = vfms(m3i, yi, m3r * yr), f1i = vfma(m3i, yr, m3r * yi);
                if (!ph) vst(cr, vfms(m0i, ui, m0r * ur)), vst(ci, vfma(m0i, ur, m0r * ui));
                vst(dr, vfms(m3i, wi, m3r * wr)), vst(di, vfma(m3i, wr, m3r * wi));
            } else {
                f0r = vfma(m1r, yr, vfms(m1i, yi, vfms(m0i, xi, m0r * xr)));
                f0i = vfma(m1r, yi, vfma(m1i, yr, vfma(m0i, xr, m0r * xi)));
                f1r = vfma(m3r, yr, vfms(m3i, yi, vfms(m2i, xi, m2r * xr)));
                f1i = vfma(m3r, yi, vfma(m3i, yr, vfma(m2i, xr, m2r * xi)));
                vst(cr, vfma(m1r, wr, vfms(m1i, wi, vfms(m0i, ui, m0r * ur))));
                vst(ci, vfma(m1r, wi, vfma(m1i, wr, vfma(m0i, ur, m0r * ui))));
                vst(dr, vfma(m3r, wr, vfms(m3i, wi, vfms(m2i, ui, m2r * ur))));
                vst(di, vfma(m3r, wi, vfma(m3i, wr, vfma(m2i, ur, m2r * ui))));
            }
            vst(ar, f0r), vst(ai, f0i), vst(br, f1r), vst(bi, f1i);
            if (!want_t) continue;
            /* T_ij += conj(lam_i) f_j */
            t00r = vfma(ui, f0i, vfma(ur, f0r, t00r)), t00i = vfms(ui, f0r, vfma(ur, f0i, t00i));
            t11r = vfma(wi, f1i, vfma(wr, f1r, t11r)), t11i = vfms(wi, f1r, vfma(wr, f1i, t11i));
            if (!diag) {
                t01r = vfma(ui, f1i, vfma(ur, f1r, t01r)),
                t01i = vfms(ui, f1r, vfma(ur, f1i, t01i));
                t10r = vfma(wi, f0i, vfma(wr, f0r, t10r)),
                t10i = vfms(wi, f0r, vfma(wr, f0i, t10i));
            }
        }
        if (!want_t) continue;
        vst(MR(T, 0) + o, t00r), vst(MI(T, 0) + o, t00i);
        vst(MR(T, 1) + o, t01r), vst(MI(T, 1) + o, t01i);
        vst(MR(T, 2) + o, t10r), vst(MI(T, 2) + o, t10i);
        vst(MR(T, 3) + o, t11r), vst(MI(T, 3) + o, t11i);
    }
}

/* the lanes of the per-row angle entries of a chunk (the others were filled per call) */
static void chunk_angles(const svb_job *j, int64_t r0, int valid) {
    const svb_plan *p = j->p;
    double *ang = j->w->ang;
    const double *row[L]; /* lanes past the last row repeat it */
    LANES row[l] = j->rowv + (size_t)(r0 + (l < valid ? l : valid - 1)) * j->ncol;
    for (int64_t e = 0; e < p->n_row_ents; e++) {
        const int32_t i = p->row_ents[e];
        double *restrict a = ang + (size_t)i * L;
        LANES a[l] = j->base[i];
        for (int32_t t = p->rt_start[i]; t < p->rt_start[i + 1]; t++) {
            const double c = p->rt_coef[t];
            const int32_t col = p->rt_col[t];
            LANES a[l] += c * row[l][col];
        }
    }
}

static void chunk(const svb_job *j, int64_t ch) {
    const hq_sv_batch *b = j->b;
    const svb_plan *p = j->p;
    svb_ws *w = j->w;
    const int n = p->n, D = p->D, n_obs = b->n_obs;
    const int64_t r0 = ch * L;
    const int valid = (int)HQ_MIN((int64_t)L, j->rows - r0);
    const bool bwd = j->dexpect != NULL;
    chunk_angles(j, r0, valid);
    /* trig of per-row parameters */
    for (int k = 0; k < p->n_ops; k++) {
        const svb_op *op = &p->ops[k];
        if (op->trig < 0) continue;
        for (int i = 0; i < op->np; i++) {
            double x[L];
            const double *a = w->ang + (size_t)op->ent[i] * L;
            LANES x[l] = op->scale[i] * a[l];
            double *tr = w->trig + (size_t)(op->trig + i) * 2 * L;
            sv_sincos_lanes(x, tr, tr + L);
        }
    }
    /* segment A: 2-vectors, then their product */
    double *m = w->mat;
    for (int q = 0; q < n; q++) LANES {
            VR(w->v, q, 0)[l] = 1, VI(w->v, q, 0)[l] = 0;
            VR(w->v, q, 1)[l] = 0, VI(w->v, q, 1)[l] = 0;
        }
    for (int k = 0; k < p->nA; k++)
        vec_apply(w->v, p->ops[k].qubit, op_matrix(p, &p->ops[k], w, -1, m), false);
    product_state(n, w->v, w->st);
    /* segment B */
    for (int k = p->nA; k < p->n_ops; k++) {
        const svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM) continue;
        /* per-row matrices are kept for the backward pass */
        double *mk = bwd && op->per_row ? w->mcache + op->mc : m;
        apply_op(p, op, w->st, op_matrix(p, op, w, -1, mk));
    }
    /* segment C and the observables */
    const double *phi = w->st;
    if (p->dense) {
        dense_fwd(D, p->wr, p->wi, w->st, p->psi_real, w->st2);
        phi = w->st2;
    }
    obs_eval(p, n_obs, phi, w->E, w->gd);
    if (j->expect)
        for (int l = 0; l < valid; l++)
            for (int k = 0; k < n_obs; k++)
                j->expect[(r0 + l) * n_obs + k] = w->E[(size_t)k * L + l];
    if (!bwd) return;
    /* adjoint state */
    for (int k = 0; k < n_obs; k++) LANES
    w->G[(size_t)k * L + l] = l < valid ? j->dexpect[(r0 + l) * n_obs + k] : 0;
    for (int64_t i = 0; i < p->n_ent; i++)
        if (p->ent_grad[i]) memset(w->dang + (size_t)i * L, 0, L * sizeof *w->dang);
    double *lam = w->lam;
    if (p->dense) {
        obs_lambda(p, n_obs, phi, w->G, w->lam2, w->gd);
        dense_bacc(D, w->st, p->psi_real, w->lam2, w->bacc, w->tmp);
        dense_adj(D, p->wr, p->wi, w->lam2, p->mu_real, lam);
    } else {
        obs_lambda(p, n_obs, phi, w->G, lam, w->gd);
    }
    /* segment B backward: phi = w->st is un-computed, lam follows */
    double *md = w->mat + (size_t)16 * 2 * L, *T = w->mat + (size_t)2 * 16 * 2 * L,
           *dm = w->mat + (size_t)3 * 16 * 2 * L;
    for (int k = p->n_ops - 1; k >= p->nA; k--) {
        const svb_op *op = &p->ops[k];
        if (op->kind == SVB_PERM) continue;
        const double *mk = op->per_row ? w->mcache + op->mc : op_matrix(p, op, w, -1, m);
        if (op->kind == SVB_MAT2) {
            /* U^dagger has the kind of U */
            dagger(mk, op->ne, md);
            apply_op(p, op, w->st, md);
            if (op->grad) transition(p, op, lam, w->st, T);
            apply_op(p, op, lam, md);
        } else {
            back_block(op, p->slots + op->tup, mk, w->st, lam, op->grad, T);
        }
        for (int i = 0; i < op->np; i++)
            if (op->psym[i])
                contract(op_matrix(p, op, w, i, dm), T, op->ne, w->dang + (size_t)op->ent[i] * L);
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
                const double *mq = op_matrix(p, op, w, -1, m);
                vec_apply(u, 0, mq, true);
                if (op->grad) {
                    for (int i = 0; i < 2; i++)
                        for (int jj = 0; jj < 2; jj++) LANES {
                                double lr = VR(eta, 0, i)[l], li = VI(eta, 0, i)[l];
                                double fr = VR(u, 0, jj)[l], fi = VI(u, 0, jj)[l];
                                MR(Tq, i * 2 + jj)[l] = lr * fr + li * fi;
                                MI(Tq, i * 2 + jj)[l] = lr * fi - li * fr;
                            }
                    for (int i = 0; i < op->np; i++)
                        if (op->psym[i])
                            contract(op_matrix(p, op, w, i, dm), Tq, 4,
                                     w->dang + (size_t)op->ent[i] * L);
                }
                vec_apply(eta, 0, mq, true);
            }
        }
    }
    /* chain: per-row terms to drow, shared entries summed */
    for (int64_t e = 0; e < p->n_grad_ents; e++) {
        const int32_t i = p->grad_ents[e];
        const double *d = w->dang + (size_t)i * L;
        if (j->drow)
            for (int32_t t = p->rt_start[i]; t < p->rt_start[i + 1]; t++) {
                const double c = p->rt_coef[t];
                double *out = j->drow + (size_t)r0 * j->ncol + p->rt_col[t];
                for (int l = 0; l < valid; l++) out[(size_t)l * j->ncol] += c * d[l];
            }
        if (p->st_start[i + 1] > p->st_start[i]) {
            double sum = 0;
            for (int l = 0; l < valid; l++) sum += d[l];
            w->wsum[i] += sum;
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
        lane,                                 /* st st2 lam lam2 tmp tmp2 */
        (size_t)5 * 16 * 2 * L,               /* mat */
        (size_t)n_ent * L,                    /* dang */
        (size_t)n_ent,                        /* wsum */
        b->shr.dense ? (size_t)2 * D * D : 1, /* bacc */
        (size_t)b->n_obs * L,
        (size_t)b->n_obs * L,                             /* E G */
        (size_t)D * L,                                    /* gd */
        (size_t)HQ_MAX(b->gen.n_mcache, b->shr.n_mcache), /* mcache */
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
        double **ptr[] = {&w->ang,  &w->trig, &w->v,    &w->st,  &w->st2,   &w->lam,
                          &w->lam2, &w->tmp,  &w->tmp2, &w->mat, &w->dang,  &w->wsum,
                          &w->bacc, &w->E,    &w->G,    &w->gd,  &w->mcache};
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
    double z = 0; /* x * 0 is 0 for finite x, NaN for inf and NaN: one vectorised pass */
    for (int64_t i = 0; i < count; i++) z += v[i] * 0.0;
    if (z == 0) return HQ_OK;
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
        if (dexpect && p->dense) memset(w->bacc, 0, (size_t)2 * p->D * p->D * sizeof *w->bacc);
        /* lanes of the entries without per-row terms: once per call */
        for (int64_t i = 0; i < p->n_ent; i++)
            if (!p->ent_row[i])
                for (int l = 0; l < L; l++) w->ang[(size_t)i * L + l] = b->base[i];
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
            for (int t = 0; t < nt; t++) {
                sr += b->ws[t].bacc[e];
                si += b->ws[t].bacc[(size_t)D * D + e];
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
