/*
 * backends/circuit.h — the circuit IR every backend, parser, writer and transpiler shares.
 *
 * A circuit is a list of operations on n qubits and m classical bits. Gates come from one
 * table (hq_gate_info: name, arity, parameter count, matrix and its derivative). Angles
 * are affine expressions in named symbols, so one circuit is a *template*: bind a vector
 * of symbol values (or a matrix of them, one row per concrete circuit) and evaluate the
 * angle table, without rebuilding anything:
 *
 *     hq_circuit *c;
 *     hq_circuit_create(&c);
 *     int q, x0, w0;
 *     hq_circuit_add_qreg(c, "q", 2, &q);
 *     hq_circuit_add_symbol(c, "x0", HQ_SYM_INPUT, &x0);
 *     hq_circuit_add_symbol(c, "w0", HQ_SYM_WEIGHT, &w0);
 *     hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
 *     hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, (hq_angle[]){hq_angle_sym(x0, 1, 0)});
 *     hq_circuit_add_gate_sym(c, HQ_GATE_CRZ, (int[]){0, 1},
 *                             (hq_angle[]){hq_angle_sym(w0, 0.5, M_PI)});   // pi + w0/2
 *     double vals[2] = {0.3, 1.2}, angles[2];
 *     hq_circuit_eval_angles(c, vals, angles);   // angles[op.p[k]] for every op
 *     hq_circuit_free(c);
 *
 * Conventions (everyone relies on them):
 *   - Basis-state index: bit k of the index is qubit k (little-endian, Qiskit order);
 *     qubits of all registers are flattened in declaration order.
 *   - Gate matrices: (2^nq x 2^nq) row-major; matrix row/column bit j is operand j, so
 *     for CX(control=op0, target=op1) the matrix flips bit 1 when bit 0 is set. Operands
 *     are in OpenQASM argument order (controls first).
 *   - IonQ native phases (gpi, gpi2, ms) are in turns (1.0 = 2*pi), as IonQ defines them.
 *   - Angles are radians elsewhere. Global phase is not tracked (probabilities and
 *     expectation values do not see it); matrices are the usual textbook ones.
 *
 * Ownership: hq_circuit_create's caller owns the circuit and frees it with
 * hq_circuit_free (NULL is a no-op). Pointers returned by hq_circuit_ops(), register and
 * symbol accessors are borrowed and valid until the circuit is next modified or freed.
 */
#ifndef HQ_CIRCUIT_H
#define HQ_CIRCUIT_H

#include <complex.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef double _Complex hq_cplx;

/* ==== gate table ====================================================================== */

/* Append-only (the numeric values are never stored, but keep the order stable anyway). */
typedef enum hq_gate {
    /* one qubit, no parameter */
    HQ_GATE_ID = 0,
    HQ_GATE_X,
    HQ_GATE_Y,
    HQ_GATE_Z,
    HQ_GATE_H,
    HQ_GATE_S,
    HQ_GATE_SDG,
    HQ_GATE_T,
    HQ_GATE_TDG,
    HQ_GATE_SX,
    HQ_GATE_SXDG,
    /* one qubit, parameterised */
    HQ_GATE_RX,   /* (theta)  exp(-i theta X/2) */
    HQ_GATE_RY,   /* (theta)  exp(-i theta Y/2) */
    HQ_GATE_RZ,   /* (phi)    exp(-i phi Z/2) = diag(e^{-i phi/2}, e^{i phi/2}) */
    HQ_GATE_P,    /* (lambda) diag(1, e^{i lambda}) */
    HQ_GATE_U1,   /* (lambda) same matrix as P (qelib1 name) */
    HQ_GATE_U2,   /* (phi, lambda) = U3(pi/2, phi, lambda) */
    HQ_GATE_U3,   /* (theta, phi, lambda) */
    HQ_GATE_U,    /* (theta, phi, lambda) same matrix as U3 (OpenQASM builtin U, Qiskit u) */
    HQ_GATE_GPI,  /* (phi turns)  [[0, e^{-i2pi phi}], [e^{i2pi phi}, 0]] */
    HQ_GATE_GPI2, /* (phi turns)  1/sqrt2 [[1, -i e^{-i2pi phi}], [-i e^{i2pi phi}, 1]] */
    /* two qubits */
    HQ_GATE_CX,
    HQ_GATE_CY,
    HQ_GATE_CZ,
    HQ_GATE_CH,
    HQ_GATE_CSX,
    HQ_GATE_SWAP,
    HQ_GATE_ISWAP,
    HQ_GATE_ECR,
    HQ_GATE_CP,  /* (lambda) controlled phase */
    HQ_GATE_CU1, /* (lambda) same matrix as CP (qelib1 name) */
    HQ_GATE_CRX, /* (theta) */
    HQ_GATE_CRY, /* (theta) */
    HQ_GATE_CRZ, /* (phi) */
    HQ_GATE_CU3, /* (theta, phi, lambda) controlled U3 */
    HQ_GATE_CU,  /* (theta, phi, lambda, gamma) controlled e^{i gamma} U3 */
    HQ_GATE_RXX, /* (theta) exp(-i theta XX/2) */
    HQ_GATE_RYY, /* (theta) exp(-i theta YY/2) */
    HQ_GATE_RZZ, /* (theta) exp(-i theta ZZ/2) */
    HQ_GATE_MS,  /* (phi0, phi1, theta) IonQ Molmer-Sorensen, all in turns */
    /* three qubits */
    HQ_GATE_CCX,
    HQ_GATE_CSWAP,
    /* not unitary */
    HQ_GATE_MEASURE, /* q -> clbit */
    HQ_GATE_RESET,   /* q -> |0> */
    HQ_GATE_BARRIER, /* scheduling directive, no effect on the state */
    HQ_GATE_COUNT
} hq_gate;

typedef enum hq_gate_kind {
    HQ_KIND_UNITARY = 0,
    HQ_KIND_MEASURE,
    HQ_KIND_RESET,
    HQ_KIND_BARRIER,
} hq_gate_kind;

#define HQ_GATE_MAX_QUBITS 3
#define HQ_GATE_MAX_PARAMS 4

typedef struct hq_gate_info {
    const char *name;  /* lower-case OpenQASM name ("cx", "u3", "gpi2") */
    uint8_t nq;        /* qubit operands (barrier: 0 = variable) */
    uint8_t np;        /* angle parameters */
    uint8_t kind;      /* hq_gate_kind */
    bool diagonal;     /* matrix is diagonal in the computational basis */
    bool self_inverse; /* U U = I for every parameter value (parameter-free gates only) */
    bool turns;        /* parameters are in turns, not radians (IonQ native) */
} hq_gate_info;

/* Table row of gate g (NULL if g is out of range). */
const hq_gate_info *hq_gate_get_info(hq_gate g);
/* Look a gate up by its OpenQASM name (case-sensitive). HQ_ERR_NOT_FOUND if unknown. */
hq_status hq_gate_from_name(const char *name, hq_gate *g);
/* Unitary matrix of gate g at params (np values): (2^nq)^2 entries, row-major. Only for
 * HQ_KIND_UNITARY gates; returns HQ_ERR_INVALID_ARG otherwise. */
hq_status hq_gate_matrix(hq_gate g, const double *params, hq_cplx *m);
/* Derivative of the matrix with respect to params[k] (0 <= k < np), same layout. */
hq_status hq_gate_matrix_deriv(hq_gate g, const double *params, int k, hq_cplx *dm);

/* ==== angles (affine in symbols) ====================================================== */

#define HQ_ANGLE_MAX_TERMS 8

/* value = c + sum_i coef[i] * symbol[sym[i]]. A public value type. */
typedef struct hq_angle {
    double c;                        /* constant part (radians, or turns) */
    int n;                           /* number of symbolic terms, 0..HQ_ANGLE_MAX_TERMS */
    int32_t sym[HQ_ANGLE_MAX_TERMS]; /* symbol indices */
    double coef[HQ_ANGLE_MAX_TERMS]; /* their coefficients */
} hq_angle;

static inline hq_angle hq_angle_const(double v) {
    hq_angle a = {0};
    a.c = v;
    return a;
}
/* coef * symbol[s] + c */
static inline hq_angle hq_angle_sym(int32_t s, double coef, double c) {
    hq_angle a = {0};
    a.c = c;
    a.n = 1;
    a.sym[0] = s;
    a.coef[0] = coef;
    return a;
}

typedef enum hq_sym_kind {
    HQ_SYM_WEIGHT = 0, /* trainable parameter, shared by every row of a batch */
    HQ_SYM_INPUT,      /* data input, one value per row */
} hq_sym_kind;

/* ==== operations ====================================================================== */

/* One operation. A public value type; circuits hand out borrowed arrays of these. */
typedef struct hq_op {
    uint16_t gate;                 /* hq_gate */
    uint8_t nq;                    /* number of qubit operands (barrier: any count, see qx) */
    uint8_t np;                    /* number of angle parameters (== gate table np) */
    int32_t q[HQ_GATE_MAX_QUBITS]; /* qubit operands in OpenQASM order (controls first) */
    int32_t p[HQ_GATE_MAX_PARAMS]; /* indices into the circuit's angle table; -1 unused */
    int32_t clbit;                 /* MEASURE: destination classical bit; otherwise -1 */
    int32_t cond_creg; /* classical condition if(creg == cond_val): creg index, -1 = none */
    int32_t qx;        /* BARRIER with nq > 3: offset of its qubits in hq_circuit_barrier_pool */
    uint64_t cond_val; /* value the condition register must equal */
} hq_op;

typedef struct hq_reg {
    const char *name; /* register name (borrowed from the circuit) */
    int32_t offset;   /* first flattened qubit / clbit */
    int32_t size;     /* number of bits */
} hq_reg;

typedef struct hq_circuit hq_circuit;
/* Handle magic of hq_circuit, for HQ_CHECK_HANDLE in modules that take circuits. */
#define HQ_MAGIC_CIRCUIT 0x43495243u /* "CIRC" */

/* ==== create, build ==================================================================== */

hq_status hq_circuit_create(hq_circuit **out);
void hq_circuit_free(hq_circuit *c);
/* Deep copy. */
hq_status hq_circuit_copy(const hq_circuit *c, hq_circuit **out);

/* Registers: qubits/clbits are appended after the existing ones. *index (may be NULL)
 * receives the register's index. Names must be unique among registers of the kind. */
hq_status hq_circuit_add_qreg(hq_circuit *c, const char *name, int size, int *index);
hq_status hq_circuit_add_creg(hq_circuit *c, const char *name, int size, int *index);

/* Symbols (named parameters). Names must be unique. */
hq_status hq_circuit_add_symbol(hq_circuit *c, const char *name, hq_sym_kind kind, int *index);
/* Index of a symbol by name, HQ_ERR_NOT_FOUND if absent. */
hq_status hq_circuit_find_symbol(const hq_circuit *c, const char *name, int *index);

/* Append a unitary gate on flattened qubits with constant parameters (params may be NULL
 * for parameter-free gates). Validates qubit range and distinctness. */
hq_status hq_circuit_add_gate(hq_circuit *c, hq_gate g, const int *qubits, const double *params);
/* Same with symbolic (affine) parameters. */
hq_status hq_circuit_add_gate_sym(hq_circuit *c, hq_gate g, const int *qubits,
                                  const hq_angle *params);
hq_status hq_circuit_add_measure(hq_circuit *c, int qubit, int clbit);
hq_status hq_circuit_add_reset(hq_circuit *c, int qubit);
/* Barrier on the listed qubits (n >= 1). */
hq_status hq_circuit_add_barrier(hq_circuit *c, const int *qubits, int n);
/* Make the last appended operation conditional on creg == value (OpenQASM 2 if). */
hq_status hq_circuit_set_condition(hq_circuit *c, int creg, uint64_t value);
/* Append all operations of src to c, mapping src qubit i to qmap[i] and clbit j to
 * cmap[j] (maps may be NULL for identity); src symbols are matched to c's by name and
 * added if missing. Conditions refer to c's creg with the same name. */
hq_status hq_circuit_append(hq_circuit *c, const hq_circuit *src, const int *qmap, const int *cmap);

/* ==== inspect ========================================================================= */

int hq_circuit_n_qubits(const hq_circuit *c);
int hq_circuit_n_clbits(const hq_circuit *c);
int hq_circuit_n_symbols(const hq_circuit *c);
int64_t hq_circuit_n_ops(const hq_circuit *c);
/* Number of entries of the angle table (what hq_circuit_eval_angles fills). */
int64_t hq_circuit_n_angles(const hq_circuit *c);
const hq_op *hq_circuit_ops(const hq_circuit *c);
const char *hq_circuit_symbol_name(const hq_circuit *c, int s);
hq_sym_kind hq_circuit_symbol_kind(const hq_circuit *c, int s);
int hq_circuit_n_qregs(const hq_circuit *c);
int hq_circuit_n_cregs(const hq_circuit *c);
hq_reg hq_circuit_qreg(const hq_circuit *c, int i);
hq_reg hq_circuit_creg(const hq_circuit *c, int i);
const int32_t *hq_circuit_barrier_pool(const hq_circuit *c);
/* Qubit k of op (handles barriers with more than 3 operands). */
int32_t hq_op_qubit(const hq_circuit *c, const hq_op *op, int k);
/* The symbolic expression of angle-table entry i. */
hq_angle hq_circuit_angle(const hq_circuit *c, int64_t i);
/* True if any angle depends on a symbol. */
bool hq_circuit_is_symbolic(const hq_circuit *c);
/* True if the circuit has mid-circuit measurement, reset or a classical condition (it
 * cannot be simulated as one unitary followed by final measurements). */
bool hq_circuit_is_dynamic(const hq_circuit *c);
/* Depth: longest chain of operations over shared qubits (every operation but barriers
 * counts 1; a barrier aligns its qubits). Count: operations of gate g. */
int64_t hq_circuit_depth(const hq_circuit *c);
int64_t hq_circuit_count_gate(const hq_circuit *c, hq_gate g);

/* ==== bind ============================================================================= */

/* angles[i] = value of angle-table entry i for the symbol values sym (n_symbols values;
 * may be NULL if the circuit has no symbols). angles has hq_circuit_n_angles entries. */
void hq_circuit_eval_angles(const hq_circuit *c, const double *sym, double *angles);
/* A new concrete circuit with every symbol replaced by its value (no symbols left). */
hq_status hq_circuit_bind(const hq_circuit *c, const double *sym, hq_circuit **out);

/* ==== canonical text =================================================================== */

/*
 * Canonical text form: a deterministic, line-oriented description of the circuit that
 * two equal circuits share byte for byte (registers flattened, angles printed with
 * round-trip precision, -0 printed as 0, symbols by name). The job database hashes it
 * (sha256) to key cached evaluations. Format, one item per line:
 *     hqcnn-circuit 1
 *     qubits N
 *     clbits M
 *     creg NAME OFFSET SIZE            (one per classical register)
 *     symbol NAME weight|input         (one per symbol)
 *     GATE[(a,b,...)] q0[,q1...]       e.g. "u3(0.5,0,3.1415926535897931) 2"
 *     measure Q -> C
 *     reset Q
 *     barrier q0,q1,...
 *     if(CREG==V) <any of the above>
 * Symbolic angles print as "c+k*NAME+..." (e.g. "0.5+2*theta").
 */
hq_status hq_circuit_canonical(const hq_circuit *c, hq_sbuf *out);
/* sha256 of the canonical text, lowercase hex. */
hq_status hq_circuit_hash(const hq_circuit *c, char hex[65]);

/* ==== Pauli observables =============================================================== */

/*
 * A Pauli string coef * i^{popcount(x & z)} * X^x Z^z ... in the symplectic form: bit k of
 * x / z says whether qubit k carries an X / Z factor (X: x only, Z: z only, Y: both). With
 * the i^{popcount(x&z)} phase, Y = iXZ is Hermitian, so every hq_pauli is Hermitian.
 */
typedef struct hq_pauli {
    double coef; /* real coefficient */
    uint64_t x;  /* X-part mask over qubits 0..63 */
    uint64_t z;  /* Z-part mask */
} hq_pauli;

/* Parse "Z0", "X1 Z3", "0.5*Y2", or a dense string "IZXY" where the LAST character is
 * qubit 0 (Qiskit order). n_qubits bounds the qubit indices. */
hq_status hq_pauli_parse(const char *s, int n_qubits, hq_pauli *out);
/* Single-qubit Pauli on qubit q: which = 'X', 'Y' or 'Z'. */
hq_pauli hq_pauli_single(char which, int q);
/* Text like "Z0 X3" (identity prints as "I"), into buf. */
void hq_pauli_format(const hq_pauli *p, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_CIRCUIT_H */
