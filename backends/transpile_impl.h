/*
 * backends/transpile_impl.h — the transpiler's internal program form, shared by
 * transpile.c (entry points, native conversion, emission), transpile_ir.c (lowering,
 * single-qubit synthesis, peephole passes) and transpile_route.c (layout and routing).
 * Not a public header: included only by those files and by tests/test_transpile.c.
 *
 * A tp_prog is a flat list of operations in time order. Single-qubit unitaries are
 * either a constant 2x2 matrix (TP_U) or an rz with an affine angle (TP_RZ); two-qubit
 * operations are CX (the currency of lowering, routing and cancellation), SWAP (routing),
 * a device-native gate (TP_G2: ecr / cz / cx with a fixed direction) or a constant IonQ MS.
 * Global phase is never tracked.
 */
#ifndef HQ_TRANSPILE_IMPL_H
#define HQ_TRANSPILE_IMPL_H

#include "backends/circuit.h"
#include "backends/transpile.h"

typedef enum tp_kind {
    TP_U = 0,   /* constant 1-qubit unitary m (row-major 2x2) on q[0] */
    TP_RZ,      /* rz(a) on q[0], a affine in the circuit's symbols */
    TP_CX,      /* CX control q[0], target q[1] */
    TP_SWAP,    /* SWAP q[0], q[1] */
    TP_G2,      /* native 2-qubit gate `gate` (ecr, cz, cx) on (q[0], q[1]) */
    TP_MS,      /* IonQ MS(ms[0], ms[1], ms[2]) in turns on (q[0], q[1]) */
    TP_CCZ,     /* CCZ on (q[0], q[1], q[2]), kept whole through routing (IBM) */
    TP_MEASURE, /* q[0] -> clbit */
    TP_RESET,   /* q[0] -> |0> */
    TP_BARRIER, /* qubits pool[bar_off .. bar_off + bar_n) */
} tp_kind;

typedef struct tp_op {
    uint8_t kind;      /* tp_kind */
    uint8_t dead;      /* removed by a pass (compacted away by tp_compact) */
    uint8_t final;     /* TP_MEASURE, set by tp_lower: unconditional, and afterwards only
                          barriers and final measurements act on its qubit or write its bit,
                          and no condition reads its register (routing takes the final
                          measurements at the very end, in their order) */
    uint16_t gate;     /* TP_G2: hq_gate */
    int32_t q[3];      /* operands (-1 where unused: q[1] for 1-qubit, q[2] but for CCZ) */
    int32_t clbit;     /* TP_MEASURE: classical bit */
    int32_t cond_creg; /* classical condition register, -1 = none */
    uint64_t cond_val; /* value the register must equal */
    int32_t bar_off;   /* TP_BARRIER: offset into the pool */
    int32_t bar_n;     /* TP_BARRIER: number of qubits */
    hq_cplx m[4];      /* TP_U: matrix */
    double ms[3];      /* TP_MS: phi0, phi1, theta (turns) */
    hq_angle a;        /* TP_RZ: angle (radians) */
} tp_op;

typedef struct tp_prog {
    int nq;         /* qubits */
    tp_op *ops;     /* (n) operations in time order */
    int64_t n, cap; /* used / allocated */
    int32_t *pool;  /* barrier qubit lists */
    int64_t npool, cappool;
    bool oom;            /* an append failed (checked by tp_status) */
    bool angle_overflow; /* an affine combination needed more than HQ_ANGLE_MAX_TERMS */
} tp_prog;

/* ==== program building (transpile_ir.c) ================================================ */

void tp_init(tp_prog *p, int nq);
void tp_free(tp_prog *p);
/* HQ_OK, or the first failure recorded while building (NOMEM / UNSUPPORTED), with message. */
hq_status tp_status(const tp_prog *p, const char *fn);
tp_op *tp_push(tp_prog *p, tp_kind k, int q0, int q1);
void tp_u(tp_prog *p, int q, const hq_cplx *m);
void tp_gate1(tp_prog *p, int q, hq_gate g, const double *params); /* constant 1q gate */
void tp_rz(tp_prog *p, int q, hq_angle a);                         /* constant angles become TP_U */
void tp_cx(tp_prog *p, int c, int t);
/* Copy the condition (creg, value) onto operations [from, p->n). */
void tp_condition(tp_prog *p, int64_t from, int32_t creg, uint64_t val);
/* Append a copy of src's operation o to dst (barrier qubit lists copied too). */
void tp_copy_op(tp_prog *dst, const tp_prog *src, const tp_op *o);
/* Drop dead operations. */
void tp_compact(tp_prog *p);

/* ==== affine angles ==================================================================== */

/* a*ka + b*kb; sets *ok = false (and returns a) if the result needs too many terms. */
hq_angle tp_ang_comb(hq_angle a, double ka, hq_angle b, double kb, bool *ok);
static inline bool tp_ang_is_const(const hq_angle *a) { return a->n == 0; }

/* ==== 2x2 matrices ===================================================================== */

void tp_m2_mul(const hq_cplx *a, const hq_cplx *b, hq_cplx *out); /* out = a b */
/* ZYZ: m = e^{i alpha} U3(theta, phi, lambda), theta in [0, pi]. */
void tp_zyz(const hq_cplx *m, double *theta, double *phi, double *lambda);
/* rz(a) matrix. */
void tp_m2_rz(double a, hq_cplx *m);
/* Angle normalised to (-pi, pi]. */
double tp_wrap(double a);

/* ==== lowering and optimisation (transpile_ir.c) ======================================== */

typedef struct tp_lower_opts {
    bool ionq_ms;     /* lower constant rxx/ryy/rzz/ms/cp/crz/cu1 to one TP_MS (IonQ) */
    bool swaps_as_cx; /* SWAP -> 3 CX instead of TP_SWAP */
    bool ccz;         /* ccx / cswap keep a TP_CCZ, routed as a unit (see tp_expand_ccz) */
    bool drop_barriers;
} tp_lower_opts;

/* Lower every operation of c into p (p->nq = c's qubits): 1q -> TP_U / TP_RZ, 2q and 3q
 * gates -> 1q + CX (or TP_MS), SWAP per opts, measure/reset/barrier as is; final
 * measurements are flagged (tp_op.final). */
hq_status tp_lower(const hq_circuit *c, const tp_lower_opts *o, tp_prog *p);

/* Expand every TP_CCZ: on a path x - m - y (m adjacent to both, per adj (n x n) or all
 * adjacent when adj is NULL) 8 CX between neighbours; on a triangle the 6-CX form. */
hq_status tp_expand_ccz(tp_prog *p, const uint8_t *adj);

/* Peephole passes until nothing changes: merge single-qubit runs, commute diagonal gates
 * backwards through CX controls / CZ and X-type gates through CX / ECR targets, cancel
 * adjacent self-inverse 2-qubit pairs (CX, CZ, ECR). */
void tp_optimize(tp_prog *p);

/* ==== layout and routing (transpile_route.c) ============================================ */

typedef struct tp_target {
    int n;        /* physical qubits */
    uint8_t *adj; /* (n, n) usable undirected coupling (error < 1) */
    int *dist;    /* (n, n) hop distance in the usable graph, INT_MAX/4 if none */
    double *dw;   /* (n, n) error-weighted shortest path length */
    double *w2;   /* (n, n) -log(1 - 2q error) on usable edges */
    double *w1;   /* (n) -log(1 - sx error) */
    double *wro;  /* (n) -log(1 - readout error) */
} tp_target;

hq_status tp_target_init(tp_target *t, const hq_device *d);
void tp_target_free(tp_target *t);

/* Choose logical->physical maps for the logical program p: the up to max_layouts best by
 * the cost model, best first, into layouts ((max_layouts, p->nq)), their number into
 * *n_layouts; or validate and return `forced` alone. */
hq_status tp_layout(const tp_prog *p, const tp_target *t, const int *forced, int64_t budget,
                    int max_layouts, int *layouts, int *n_layouts, hq_transpile_stats *st);

/* Route: out (t->n qubits) = p with qubits mapped through layout (updated in place to the
 * final layout) and SWAPs inserted so every 2-qubit operation is on a usable edge. Input
 * TP_SWAPs are absorbed into the layout when elide_swaps (unconditional ones). Final
 * measurements (tp_op.final) come last, in their order, each on the physical qubit of the
 * final layout: no SWAP moves a measured state, and no qubit is measured twice at the end. */
hq_status tp_route(const tp_prog *p, const tp_target *t, int *layout, bool elide_swaps,
                   uint64_t seed, tp_prog *out, int64_t *n_swaps);

#endif /* HQ_TRANSPILE_IMPL_H */
