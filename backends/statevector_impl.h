/*
 * backends/statevector_impl.h — private to backends/statevector*.c.
 *
 * The handle struct, the compiled form of one gate application (sv_kop) that the stride
 * kernels consume, and the helpers the gradient and batch files share with the core.
 * Nothing here is public API: other modules include backends/statevector.h only.
 */
#ifndef HQ_STATEVECTOR_IMPL_H
#define HQ_STATEVECTOR_IMPL_H

#include "backends/statevector.h"

#define HQ_MAGIC_SV    0x53564543u /* "SVEC" */
#define HQ_MAGIC_BATCH 0x53564241u /* "SVBA" */

struct hq_sv {
    hq_handle h;
    int n;        /* qubits */
    int64_t dim;  /* 2^n amplitudes */
    hq_cplx *amp; /* (dim) one 64-byte aligned block, owned */
};

/* ==== compiled gate application ======================================================= */

/* Kernel kinds. Controls (cmask) apply to every kind: the operation acts only on the
 * amplitudes whose control bits are all 1. */
enum sv_kind {
    SV_K_NOP = 0, /* identity (e.g. id gate): nothing to do */
    SV_K_MAT1,    /* general 2x2 on t[0]: m[0..3] */
    SV_K_DIAG1,   /* diag(m[0], m[1]) on t[0]; m[0] == 1 touches only the bit-set half */
    SV_K_ANTI1,   /* [[0, m[0]], [m[1], 0]] on t[0]; m[0] == m[1] == 1 is a pure swap */
    SV_K_SWAP2, /* |01> <-> |10> of (t[0], t[1]): new[01] = m[0] old[10], new[10] = m[1] old[01] */
    SV_K_DIAG2, /* diag(m[0..3]) on (t[0], t[1]), operand 0 = bit 0 */
    SV_K_MAT2,  /* general 4x4 on (t[0], t[1]) */
    SV_K_XX2,   /* 4x4 mixing only |00>,|11> and |01>,|10> (rxx, ryy, ms): m = full 4x4 */
    SV_K_MAT3,  /* general 8x8 on (t[0], t[1], t[2]) */
    SV_K_MATK,  /* general 2^k x 2^k, k = nt <= HQ_SV_MAX_MATRIX_QUBITS (gather/scatter) */
};

typedef struct sv_kop {
    int kind;                       /* enum sv_kind */
    int nt;                         /* number of target qubits (matrix operands) */
    int t[HQ_SV_MAX_MATRIX_QUBITS]; /* targets, matrix operand j = t[j] */
    uint64_t cmask;                 /* control qubits (all must be 1), disjoint from targets */
    const hq_cplx *mext;            /* SV_K_MATK: the caller's matrix (borrowed) */
    hq_cplx m[64];                  /* other kinds: matrix / diagonal / phases, see enum sv_kind */
} sv_kop;

/* The matrix data of a compiled op. */
static inline const hq_cplx *sv_kop_m(const sv_kop *k) {
    return k->kind == SV_K_MATK ? k->mext : k->m;
}

/* Compile gate g on qubits q (already validated) at params into k. Returns HQ_OK or the
 * status of hq_gate_matrix. If `dagger`, compiles the adjoint U^dagger. */
hq_status sv_compile_gate(hq_gate g, const int *q, const double *params, bool dagger, sv_kop *k);
/* Compile an arbitrary k-qubit matrix (borrowed if k > 3) with extra controls. The matrix
 * is classified (diagonal / anti-diagonal / swap-like) from its exact zero pattern. */
void sv_compile_matrix(const hq_cplx *m, const int *t, int nt, uint64_t cmask, sv_kop *k);
/* Uncontrolled single-qubit gates whose pairs are at least this many amplitudes apart use
 * the blocked kernel (default 2^24; tests lower it to cover that path on small states). */
extern int64_t sv_far_stride;

/* Apply a compiled op to a state of n qubits. */
void sv_apply_kop(hq_cplx *amp, int n, const sv_kop *k);

/* sum over the other qubits of <a_sub| M |b_sub>, i.e. <a| (M on qubits q[0..k)) |b>
 * for a k-qubit matrix M (k <= 3): used for <lambda| dU |phi> in the adjoint method. */
hq_cplx sv_inner_matrix(const hq_cplx *a, const hq_cplx *b, int n, const hq_cplx *m, const int *q,
                        int k);

/* Expectation <psi|P|psi> of one Pauli string (coefficient included). */
double sv_expect_pauli_raw(const hq_cplx *amp, int64_t dim, const hq_pauli *p);
/* out += c * P |in>, where P is the Pauli string (its coef multiplies too). */
void sv_apply_pauli_acc(const hq_cplx *in, hq_cplx *out, int64_t dim, const hq_pauli *p, double c);

/* Validate symbol values for circuit c (NULL allowed only without symbols; all finite). */
hq_status sv_check_symbols(const char *fn, const hq_circuit *c, const double *sym);
/* Validate a list of observables against n qubits. */
hq_status sv_check_obs(const char *fn, const hq_pauli_sum *obs, int n_obs, int n);
/* Memory check before allocating a 2^n state (count states): HQ_ERR_NOMEM with a message
 * naming the bytes needed and available. */
hq_status sv_check_memory(const char *fn, int n, int count);
/* Allocate an aligned 2^n amplitude block (after sv_check_memory). */
hq_cplx *sv_alloc_amps(int n);

/* *dyn = c is dynamic (reset, condition, or a gate on a measured qubit), the same rule as
 * hq_circuit_is_dynamic but with an allocation failure reported as HQ_ERR_NOMEM. */
hq_status sv_circuit_dynamic(const char *fn, const hq_circuit *c, bool *dyn);

/* Angles of every op parameter of c: (n_angles) values for symbols sym (hq_malloc'd). */
hq_status sv_eval_angles(const char *fn, const hq_circuit *c, const double *sym, double **out);

/* ==== batched path =================================================================== */

/* Rows per chunk of the batched path: one SIMD lane per row. */
#define SVB_L 8
/* c[l] = cos(x[l]), s[l] = sin(x[l]) for SVB_L lanes: branch-free Cody-Waite reduction
 * and Taylor polynomials on [-pi/4, pi/4] (max error a few 1e-16 against libm); lanes
 * beyond |x| > 1e5 go through libm. */
void sv_sincos_lanes(const double *x, double *c, double *s);

#endif /* HQ_STATEVECTOR_IMPL_H */
