/*
 * backends/circuit.c — circuit IR: building, inspection, symbol binding, canonical text
 * and hashing, Pauli strings. Gate matrices are in gates.c; simulation is elsewhere.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/circuit.h"
#include "core/sha256.h"

#define HQ_MAGIC_CIRCUIT 0x43495243u /* "CIRC" */

typedef struct angle_entry {
    double c;   /* constant part */
    int32_t t0; /* first term in the term pool */
    int32_t nt; /* number of terms */
} angle_entry;

typedef struct term {
    int32_t sym; /* symbol index */
    double coef; /* coefficient */
} term;

typedef struct reg {
    char *name;     /* owned */
    int32_t offset; /* first flattened index */
    int32_t size;   /* bits */
} reg;

typedef struct sym {
    char *name;       /* owned */
    hq_sym_kind kind; /* weight or input */
} sym;

struct hq_circuit {
    hq_handle h;
    int32_t n_qubits, n_clbits;
    hq_op *ops; /* (n_ops) */
    int64_t n_ops, cap_ops;
    angle_entry *angles; /* (n_angles) */
    int64_t n_angles, cap_angles;
    term *terms; /* (n_terms) */
    int64_t n_terms, cap_terms;
    reg *qregs, *cregs;
    int32_t n_qregs, n_cregs;
    sym *syms;
    int32_t n_syms, cap_syms;
    int32_t *bpool; /* qubits of wide barriers */
    int64_t n_bpool, cap_bpool;
};

/* ==== growth helpers ================================================================== */

static bool grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return true;
    int64_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!hq_mul_ok((size_t)nc, elem, &bytes)) return false;
    void *q = hq_realloc(*p, bytes);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static hq_status oom(hq_circuit *c, const char *fn) {
    return hq_failf(&c->h.err, HQ_ERR_NOMEM, "%s: out of memory", fn);
}

/* ==== create / free ==================================================================== */

hq_status hq_circuit_create(hq_circuit **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_circuit_create: out is NULL");
    *out = NULL;
    hq_circuit *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_circuit_create: out of memory");
    c->h.magic = HQ_MAGIC_CIRCUIT;
    *out = c;
    return HQ_OK;
}

void hq_circuit_free(hq_circuit *c) {
    if (!c) return;
    if (c->h.magic != HQ_MAGIC_CIRCUIT) return;
    for (int i = 0; i < c->n_qregs; i++) hq_free(c->qregs[i].name);
    for (int i = 0; i < c->n_cregs; i++) hq_free(c->cregs[i].name);
    for (int i = 0; i < c->n_syms; i++) hq_free(c->syms[i].name);
    hq_free(c->qregs);
    hq_free(c->cregs);
    hq_free(c->syms);
    hq_free(c->ops);
    hq_free(c->angles);
    hq_free(c->terms);
    hq_free(c->bpool);
    c->h.magic = HQ_MAGIC_DEAD;
    hq_free(c);
}

static bool dup_array(void **dst, const void *src, int64_t n, size_t elem) {
    *dst = NULL;
    if (n == 0) return true;
    *dst = hq_malloc((size_t)n * elem);
    if (!*dst) return false;
    memcpy(*dst, src, (size_t)n * elem);
    return true;
}

hq_status hq_circuit_copy(const hq_circuit *c, hq_circuit **out) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    hq_circuit *d;
    hq_status st = hq_circuit_create(&d);
    if (st) return st;
    d->n_qubits = c->n_qubits;
    d->n_clbits = c->n_clbits;
    bool ok = dup_array((void **)&d->ops, c->ops, c->n_ops, sizeof *c->ops) &&
              dup_array((void **)&d->angles, c->angles, c->n_angles, sizeof *c->angles) &&
              dup_array((void **)&d->terms, c->terms, c->n_terms, sizeof *c->terms) &&
              dup_array((void **)&d->bpool, c->bpool, c->n_bpool, sizeof *c->bpool);
    if (ok) {
        d->n_ops = d->cap_ops = c->n_ops;
        d->n_angles = d->cap_angles = c->n_angles;
        d->n_terms = d->cap_terms = c->n_terms;
        d->n_bpool = d->cap_bpool = c->n_bpool;
    }
    if (ok && c->n_qregs) {
        d->qregs = hq_calloc((size_t)c->n_qregs, sizeof *d->qregs);
        ok = d->qregs != NULL;
        for (int i = 0; ok && i < c->n_qregs; i++) {
            d->qregs[i] = c->qregs[i];
            d->qregs[i].name = hq_strdup(c->qregs[i].name);
            ok = d->qregs[i].name != NULL;
            d->n_qregs = i + 1;
        }
    }
    if (ok && c->n_cregs) {
        d->cregs = hq_calloc((size_t)c->n_cregs, sizeof *d->cregs);
        ok = d->cregs != NULL;
        for (int i = 0; ok && i < c->n_cregs; i++) {
            d->cregs[i] = c->cregs[i];
            d->cregs[i].name = hq_strdup(c->cregs[i].name);
            ok = d->cregs[i].name != NULL;
            d->n_cregs = i + 1;
        }
    }
    if (ok && c->n_syms) {
        d->syms = hq_calloc((size_t)c->n_syms, sizeof *d->syms);
        ok = d->syms != NULL;
        d->cap_syms = c->n_syms;
        for (int i = 0; ok && i < c->n_syms; i++) {
            d->syms[i] = c->syms[i];
            d->syms[i].name = hq_strdup(c->syms[i].name);
            ok = d->syms[i].name != NULL;
            d->n_syms = i + 1;
        }
    }
    if (!ok) {
        hq_circuit_free(d);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_circuit_copy: out of memory");
    }
    *out = d;
    return HQ_OK;
}

/* ==== registers and symbols =========================================================== */

static bool valid_ident(const char *s) {
    if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_')) return false;
    return true;
}

static hq_status add_reg(hq_circuit *c, bool quantum, const char *name, int size, int *index) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    const char *fn = quantum ? "hq_circuit_add_qreg" : "hq_circuit_add_creg";
    if (!valid_ident(name))
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "%s: invalid register name '%s'", fn,
                        name ? name : "(null)");
    if (size < 1 || size > (1 << 24))
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "%s: register '%s' size %d out of range [1, %d]", fn, name, size, 1 << 24);
    reg **regs = quantum ? &c->qregs : &c->cregs;
    int32_t *n = quantum ? &c->n_qregs : &c->n_cregs;
    int32_t *nbits = quantum ? &c->n_qubits : &c->n_clbits;
    for (int i = 0; i < *n; i++)
        if (strcmp((*regs)[i].name, name) == 0)
            return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "%s: register '%s' already declared", fn,
                            name);
    if (*nbits > INT32_MAX - size)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "%s: too many bits", fn);
    reg *nr = hq_realloc(*regs, (size_t)(*n + 1) * sizeof *nr);
    if (!nr) return oom(c, fn);
    *regs = nr;
    char *nm = hq_strdup(name);
    if (!nm) return oom(c, fn);
    nr[*n] = (reg){nm, *nbits, size};
    if (index) *index = *n;
    (*n)++;
    *nbits += size;
    return HQ_OK;
}

hq_status hq_circuit_add_qreg(hq_circuit *c, const char *name, int size, int *index) {
    return add_reg(c, true, name, size, index);
}
hq_status hq_circuit_add_creg(hq_circuit *c, const char *name, int size, int *index) {
    return add_reg(c, false, name, size, index);
}

hq_status hq_circuit_add_symbol(hq_circuit *c, const char *name, hq_sym_kind kind, int *index) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (!valid_ident(name))
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_symbol: invalid symbol name '%s'", name ? name : "(null)");
    if (kind != HQ_SYM_WEIGHT && kind != HQ_SYM_INPUT)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "hq_circuit_add_symbol: bad kind %d",
                        (int)kind);
    for (int i = 0; i < c->n_syms; i++)
        if (strcmp(c->syms[i].name, name) == 0)
            return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                            "hq_circuit_add_symbol: symbol '%s' already exists", name);
    int64_t cap = c->cap_syms;
    if (!grow((void **)&c->syms, &cap, c->n_syms + 1, sizeof *c->syms))
        return oom(c, "hq_circuit_add_symbol");
    c->cap_syms = (int32_t)cap;
    char *nm = hq_strdup(name);
    if (!nm) return oom(c, "hq_circuit_add_symbol");
    c->syms[c->n_syms] = (sym){nm, kind};
    if (index) *index = c->n_syms;
    c->n_syms++;
    return HQ_OK;
}

hq_status hq_circuit_find_symbol(const hq_circuit *c, const char *name, int *index) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    for (int i = 0; i < c->n_syms; i++)
        if (strcmp(c->syms[i].name, name) == 0) {
            *index = i;
            return HQ_OK;
        }
    return hq_failf(NULL, HQ_ERR_NOT_FOUND, "no symbol named '%s'", name);
}

/* ==== operations ====================================================================== */

static hq_status add_angle(hq_circuit *c, const hq_angle *a, int32_t *idx) {
    if (a->n < 0 || a->n > HQ_ANGLE_MAX_TERMS)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "angle has %d terms, outside [0, %d]", a->n,
                        HQ_ANGLE_MAX_TERMS);
    if (!isfinite(a->c))
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "angle constant is not finite (%g)", a->c);
    for (int i = 0; i < a->n; i++) {
        if (a->sym[i] < 0 || a->sym[i] >= c->n_syms)
            return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                            "angle refers to symbol %d, outside [0, %d)", a->sym[i], c->n_syms);
        if (!isfinite(a->coef[i]))
            return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "angle coefficient is not finite");
    }
    if (!grow((void **)&c->angles, &c->cap_angles, c->n_angles + 1, sizeof *c->angles) ||
        !grow((void **)&c->terms, &c->cap_terms, c->n_terms + a->n, sizeof *c->terms))
        return oom(c, "hq_circuit_add_gate");
    if (c->n_angles >= INT32_MAX || c->n_terms > INT32_MAX - a->n)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "circuit has too many angles");
    angle_entry *e = &c->angles[c->n_angles];
    e->c = a->c;
    e->t0 = (int32_t)c->n_terms;
    e->nt = a->n;
    for (int i = 0; i < a->n; i++) c->terms[c->n_terms++] = (term){a->sym[i], a->coef[i]};
    *idx = (int32_t)c->n_angles++;
    return HQ_OK;
}

static hq_status check_qubits(hq_circuit *c, const char *fn, const int *q, int n) {
    for (int i = 0; i < n; i++) {
        if (q[i] < 0 || q[i] >= c->n_qubits)
            return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG, "%s: qubit %d out of range [0, %d)", fn,
                            q[i], c->n_qubits);
        for (int j = 0; j < i; j++)
            if (q[i] == q[j])
                return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                                "%s: qubit %d used twice in one gate", fn, q[i]);
    }
    return HQ_OK;
}

static hq_op blank_op(hq_gate g) {
    hq_op op;
    memset(&op, 0, sizeof op);
    op.gate = (uint16_t)g;
    for (int i = 0; i < HQ_GATE_MAX_QUBITS; i++) op.q[i] = -1;
    for (int i = 0; i < HQ_GATE_MAX_PARAMS; i++) op.p[i] = -1;
    op.clbit = -1;
    op.cond_creg = -1;
    op.qx = -1;
    return op;
}

static hq_status push_op(hq_circuit *c, const hq_op *op) {
    if (!grow((void **)&c->ops, &c->cap_ops, c->n_ops + 1, sizeof *c->ops))
        return oom(c, "hq_circuit");
    c->ops[c->n_ops++] = *op;
    return HQ_OK;
}

hq_status hq_circuit_add_gate_sym(hq_circuit *c, hq_gate g, const int *qubits,
                                  const hq_angle *params) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    const hq_gate_info *gi = hq_gate_get_info(g);
    if (!gi || gi->kind != HQ_KIND_UNITARY)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_gate: %d is not a unitary gate", (int)g);
    if (!qubits)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_gate: '%s' needs %d qubit(s)", gi->name, gi->nq);
    if (gi->np && !params)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_gate: '%s' needs %d parameter(s)", gi->name, gi->np);
    hq_status st = check_qubits(c, "hq_circuit_add_gate", qubits, gi->nq);
    if (st) return st;
    hq_op op = blank_op(g);
    op.nq = gi->nq;
    op.np = gi->np;
    for (int i = 0; i < gi->nq; i++) op.q[i] = qubits[i];
    int64_t save_angles = c->n_angles, save_terms = c->n_terms;
    for (int i = 0; i < gi->np; i++) {
        st = add_angle(c, &params[i], &op.p[i]);
        if (st) {
            c->n_angles = save_angles;
            c->n_terms = save_terms;
            return st;
        }
    }
    st = push_op(c, &op);
    if (st) {
        c->n_angles = save_angles;
        c->n_terms = save_terms;
    }
    return st;
}

hq_status hq_circuit_add_gate(hq_circuit *c, hq_gate g, const int *qubits, const double *params) {
    hq_angle a[HQ_GATE_MAX_PARAMS];
    const hq_gate_info *gi = hq_gate_get_info(g);
    int np = gi ? gi->np : 0;
    if (np && !params)
        return hq_failf(c && c->h.magic == HQ_MAGIC_CIRCUIT ? &c->h.err : NULL, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_gate: '%s' needs %d parameter(s)", gi->name, np);
    for (int i = 0; i < np; i++) a[i] = hq_angle_const(params[i]);
    return hq_circuit_add_gate_sym(c, g, qubits, np ? a : NULL);
}

hq_status hq_circuit_add_measure(hq_circuit *c, int qubit, int clbit) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    hq_status st = check_qubits(c, "hq_circuit_add_measure", &qubit, 1);
    if (st) return st;
    if (clbit < 0 || clbit >= c->n_clbits)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_measure: classical bit %d out of range [0, %d)", clbit,
                        c->n_clbits);
    hq_op op = blank_op(HQ_GATE_MEASURE);
    op.nq = 1;
    op.q[0] = qubit;
    op.clbit = clbit;
    return push_op(c, &op);
}

hq_status hq_circuit_add_reset(hq_circuit *c, int qubit) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    hq_status st = check_qubits(c, "hq_circuit_add_reset", &qubit, 1);
    if (st) return st;
    hq_op op = blank_op(HQ_GATE_RESET);
    op.nq = 1;
    op.q[0] = qubit;
    return push_op(c, &op);
}

hq_status hq_circuit_add_barrier(hq_circuit *c, const int *qubits, int n) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (n < 1 || !qubits || n > 255)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_add_barrier: %d qubits, need [1, 255]", n);
    hq_status st = check_qubits(c, "hq_circuit_add_barrier", qubits, n);
    if (st) return st;
    hq_op op = blank_op(HQ_GATE_BARRIER);
    op.nq = (uint8_t)n;
    if (n <= HQ_GATE_MAX_QUBITS) {
        for (int i = 0; i < n; i++) op.q[i] = qubits[i];
    } else {
        if (!grow((void **)&c->bpool, &c->cap_bpool, c->n_bpool + n, sizeof *c->bpool))
            return oom(c, "hq_circuit_add_barrier");
        op.qx = (int32_t)c->n_bpool;
        for (int i = 0; i < n; i++) c->bpool[c->n_bpool++] = qubits[i];
    }
    return push_op(c, &op);
}

hq_status hq_circuit_set_condition(hq_circuit *c, int creg, uint64_t value) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (c->n_ops == 0)
        return hq_failf(&c->h.err, HQ_ERR_MISUSE,
                        "hq_circuit_set_condition: the circuit has no operation");
    if (creg < 0 || creg >= c->n_cregs)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_set_condition: classical register %d out of range [0, %d)",
                        creg, c->n_cregs);
    int size = c->cregs[creg].size;
    if (size < 64 && value >> size)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_set_condition: value %llu does not fit in %d-bit register '%s'",
                        (unsigned long long)value, size, c->cregs[creg].name);
    hq_op *op = &c->ops[c->n_ops - 1];
    if (op->gate == HQ_GATE_BARRIER)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_set_condition: a barrier cannot be conditional");
    op->cond_creg = creg;
    op->cond_val = value;
    return HQ_OK;
}

hq_status hq_circuit_append(hq_circuit *c, const hq_circuit *src, const int *qmap,
                            const int *cmap) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    HQ_CHECK_HANDLE(src, HQ_MAGIC_CIRCUIT);
    if (c == src)
        return hq_failf(&c->h.err, HQ_ERR_INVALID_ARG,
                        "hq_circuit_append: cannot append a circuit to itself");
    /* symbol map by name */
    int *smap = NULL;
    if (src->n_syms) {
        smap = hq_malloc((size_t)src->n_syms * sizeof *smap);
        if (!smap) return oom(c, "hq_circuit_append");
        for (int i = 0; i < src->n_syms; i++) {
            if (hq_circuit_find_symbol(c, src->syms[i].name, &smap[i]) != HQ_OK) {
                hq_status st =
                    hq_circuit_add_symbol(c, src->syms[i].name, src->syms[i].kind, &smap[i]);
                if (st) {
                    hq_free(smap);
                    return st;
                }
            }
        }
        hq_clear_error();
    }
    hq_status st = HQ_OK;
    for (int64_t k = 0; k < src->n_ops && st == HQ_OK; k++) {
        const hq_op *op = &src->ops[k];
        int q[256];
        for (int i = 0; i < op->nq; i++) {
            int s = hq_op_qubit(src, op, i);
            q[i] = qmap ? qmap[s] : s;
        }
        switch (op->gate) {
        case HQ_GATE_MEASURE:
            st = hq_circuit_add_measure(c, q[0], cmap ? cmap[op->clbit] : op->clbit);
            break;
        case HQ_GATE_RESET: st = hq_circuit_add_reset(c, q[0]); break;
        case HQ_GATE_BARRIER: st = hq_circuit_add_barrier(c, q, op->nq); break;
        default: {
            hq_angle a[HQ_GATE_MAX_PARAMS];
            for (int i = 0; i < op->np; i++) {
                a[i] = hq_circuit_angle(src, op->p[i]);
                for (int t = 0; t < a[i].n; t++) a[i].sym[t] = smap[a[i].sym[t]];
            }
            st = hq_circuit_add_gate_sym(c, (hq_gate)op->gate, q, a);
        }
        }
        if (st == HQ_OK && op->cond_creg >= 0) {
            const char *name = src->cregs[op->cond_creg].name;
            int ci = -1;
            for (int i = 0; i < c->n_cregs; i++)
                if (strcmp(c->cregs[i].name, name) == 0) ci = i;
            if (ci < 0)
                st = hq_failf(
                    &c->h.err, HQ_ERR_INVALID_ARG,
                    "hq_circuit_append: condition register '%s' does not exist in the target",
                    name);
            else
                st = hq_circuit_set_condition(c, ci, op->cond_val);
        }
    }
    hq_free(smap);
    return st;
}

/* ==== inspection ====================================================================== */

int hq_circuit_n_qubits(const hq_circuit *c) { return c ? c->n_qubits : 0; }
int hq_circuit_n_clbits(const hq_circuit *c) { return c ? c->n_clbits : 0; }
int hq_circuit_n_symbols(const hq_circuit *c) { return c ? c->n_syms : 0; }
int64_t hq_circuit_n_ops(const hq_circuit *c) { return c ? c->n_ops : 0; }
int64_t hq_circuit_n_angles(const hq_circuit *c) { return c ? c->n_angles : 0; }
const hq_op *hq_circuit_ops(const hq_circuit *c) { return c ? c->ops : NULL; }
const char *hq_circuit_symbol_name(const hq_circuit *c, int s) {
    return c && s >= 0 && s < c->n_syms ? c->syms[s].name : NULL;
}
hq_sym_kind hq_circuit_symbol_kind(const hq_circuit *c, int s) {
    return c && s >= 0 && s < c->n_syms ? c->syms[s].kind : HQ_SYM_WEIGHT;
}
int hq_circuit_n_qregs(const hq_circuit *c) { return c ? c->n_qregs : 0; }
int hq_circuit_n_cregs(const hq_circuit *c) { return c ? c->n_cregs : 0; }
hq_reg hq_circuit_qreg(const hq_circuit *c, int i) {
    hq_reg r = {NULL, 0, 0};
    if (c && i >= 0 && i < c->n_qregs)
        r = (hq_reg){c->qregs[i].name, c->qregs[i].offset, c->qregs[i].size};
    return r;
}
hq_reg hq_circuit_creg(const hq_circuit *c, int i) {
    hq_reg r = {NULL, 0, 0};
    if (c && i >= 0 && i < c->n_cregs)
        r = (hq_reg){c->cregs[i].name, c->cregs[i].offset, c->cregs[i].size};
    return r;
}
const int32_t *hq_circuit_barrier_pool(const hq_circuit *c) { return c ? c->bpool : NULL; }

int32_t hq_op_qubit(const hq_circuit *c, const hq_op *op, int k) {
    if (op->gate == HQ_GATE_BARRIER && op->nq > HQ_GATE_MAX_QUBITS) return c->bpool[op->qx + k];
    return op->q[k];
}

hq_angle hq_circuit_angle(const hq_circuit *c, int64_t i) {
    hq_angle a = {0};
    if (!c || i < 0 || i >= c->n_angles) return a;
    const angle_entry *e = &c->angles[i];
    a.c = e->c;
    a.n = e->nt;
    for (int t = 0; t < e->nt; t++) {
        a.sym[t] = c->terms[e->t0 + t].sym;
        a.coef[t] = c->terms[e->t0 + t].coef;
    }
    return a;
}

bool hq_circuit_is_symbolic(const hq_circuit *c) { return c && c->n_terms > 0; }

bool hq_circuit_is_dynamic(const hq_circuit *c) {
    if (!c) return false;
    /* dynamic: a reset, a condition, or an operation on a qubit after its measurement */
    bool *measured = c->n_qubits ? hq_calloc((size_t)c->n_qubits, 1) : NULL;
    if (c->n_qubits && !measured) return true; /* conservative */
    bool dyn = false;
    for (int64_t k = 0; k < c->n_ops && !dyn; k++) {
        const hq_op *op = &c->ops[k];
        if (op->gate == HQ_GATE_RESET || op->cond_creg >= 0) {
            dyn = true;
        } else if (op->gate == HQ_GATE_MEASURE) {
            measured[op->q[0]] = true;
        } else if (op->gate != HQ_GATE_BARRIER) {
            for (int i = 0; i < op->nq; i++)
                if (measured[op->q[i]]) dyn = true;
        }
    }
    hq_free(measured);
    return dyn;
}

int64_t hq_circuit_depth(const hq_circuit *c) {
    if (!c || c->n_qubits == 0) return 0;
    int64_t *d = hq_calloc((size_t)c->n_qubits, sizeof *d);
    if (!d) return -1;
    int64_t depth = 0;
    for (int64_t k = 0; k < c->n_ops; k++) {
        const hq_op *op = &c->ops[k];
        int64_t m = 0;
        for (int i = 0; i < op->nq; i++) m = HQ_MAX(m, d[hq_op_qubit(c, op, i)]);
        if (op->gate != HQ_GATE_BARRIER) m++;
        for (int i = 0; i < op->nq; i++) d[hq_op_qubit(c, op, i)] = m;
        depth = HQ_MAX(depth, m);
    }
    hq_free(d);
    return depth;
}

int64_t hq_circuit_count_gate(const hq_circuit *c, hq_gate g) {
    int64_t n = 0;
    for (int64_t k = 0; c && k < c->n_ops; k++) n += c->ops[k].gate == g;
    return n;
}

/* ==== binding ========================================================================= */

void hq_circuit_eval_angles(const hq_circuit *c, const double *symv, double *angles) {
    const angle_entry *e = c->angles;
    const term *t = c->terms;
    for (int64_t i = 0; i < c->n_angles; i++) {
        double v = e[i].c;
        for (int32_t k = 0; k < e[i].nt; k++) v += t[e[i].t0 + k].coef * symv[t[e[i].t0 + k].sym];
        angles[i] = v;
    }
}

hq_status hq_circuit_bind(const hq_circuit *c, const double *symv, hq_circuit **out) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (c->n_syms && !symv)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_circuit_bind: %d symbol values needed, got NULL", c->n_syms);
    for (int i = 0; i < c->n_syms; i++)
        if (!isfinite(symv[i]))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_circuit_bind: value of symbol '%s' is not finite", c->syms[i].name);
    hq_circuit *d;
    hq_status st = hq_circuit_copy(c, &d);
    if (st) return st;
    for (int64_t i = 0; i < d->n_angles; i++) {
        double v = d->angles[i].c;
        for (int32_t k = 0; k < d->angles[i].nt; k++)
            v += d->terms[d->angles[i].t0 + k].coef * symv[d->terms[d->angles[i].t0 + k].sym];
        d->angles[i] = (angle_entry){v, 0, 0};
    }
    d->n_terms = 0;
    for (int i = 0; i < d->n_syms; i++) hq_free(d->syms[i].name);
    d->n_syms = 0;
    *out = d;
    return HQ_OK;
}

/* ==== canonical text ================================================================== */

static void put_angle(const hq_circuit *c, hq_sbuf *b, int32_t idx) {
    const angle_entry *e = &c->angles[idx];
    double v = e->c == 0 ? 0.0 : e->c; /* -0 -> 0 */
    if (e->nt == 0 || v != 0) hq_sbuf_put_double(b, v);
    for (int32_t k = 0; k < e->nt; k++) {
        const term *t = &c->terms[e->t0 + k];
        if (k > 0 || v != 0) hq_sbuf_putc(b, '+');
        hq_sbuf_put_double(b, t->coef == 0 ? 0.0 : t->coef);
        hq_sbuf_putc(b, '*');
        hq_sbuf_puts(b, c->syms[t->sym].name);
    }
}

hq_status hq_circuit_canonical(const hq_circuit *c, hq_sbuf *b) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    hq_sbuf_printf(b, "hqcnn-circuit 1\nqubits %d\nclbits %d\n", c->n_qubits, c->n_clbits);
    for (int i = 0; i < c->n_cregs; i++)
        hq_sbuf_printf(b, "creg %s %d %d\n", c->cregs[i].name, c->cregs[i].offset,
                       c->cregs[i].size);
    for (int i = 0; i < c->n_syms; i++)
        hq_sbuf_printf(b, "symbol %s %s\n", c->syms[i].name,
                       c->syms[i].kind == HQ_SYM_INPUT ? "input" : "weight");
    for (int64_t k = 0; k < c->n_ops; k++) {
        const hq_op *op = &c->ops[k];
        if (op->cond_creg >= 0)
            hq_sbuf_printf(b, "if(%s==%llu) ", c->cregs[op->cond_creg].name,
                           (unsigned long long)op->cond_val);
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
        hq_sbuf_puts(b, gi->name);
        if (op->np) {
            hq_sbuf_putc(b, '(');
            for (int i = 0; i < op->np; i++) {
                if (i) hq_sbuf_putc(b, ',');
                put_angle(c, b, op->p[i]);
            }
            hq_sbuf_putc(b, ')');
        }
        hq_sbuf_putc(b, ' ');
        for (int i = 0; i < op->nq; i++) hq_sbuf_printf(b, i ? ",%d" : "%d", hq_op_qubit(c, op, i));
        if (op->gate == HQ_GATE_MEASURE) hq_sbuf_printf(b, " -> %d", op->clbit);
        hq_sbuf_putc(b, '\n');
    }
    return hq_sbuf_status(b) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_circuit_canonical: out of memory")
                             : HQ_OK;
}

hq_status hq_circuit_hash(const hq_circuit *c, char hex[65]) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_status st = hq_circuit_canonical(c, &b);
    if (st == HQ_OK) st = hq_sha256_hex(b.p, b.len, hex);
    hq_sbuf_free(&b);
    return st;
}

/* ==== Pauli strings =================================================================== */

hq_pauli hq_pauli_single(char which, int q) {
    hq_pauli p = {1.0, 0, 0};
    uint64_t bit = (q >= 0 && q < 64) ? 1ull << q : 0;
    if (which == 'X' || which == 'Y') p.x = bit;
    if (which == 'Z' || which == 'Y') p.z = bit;
    return p;
}

hq_status hq_pauli_parse(const char *s, int n_qubits, hq_pauli *out) {
    if (!s || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_pauli_parse: NULL argument");
    if (n_qubits < 1 || n_qubits > 64)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_pauli_parse: %d qubits, need [1, 64]",
                        n_qubits);
    hq_pauli p = {1.0, 0, 0};
    const char *q = s;
    while (isspace((unsigned char)*q)) q++;
    /* optional "coef*" prefix */
    char *end;
    double coef = strtod(q, &end);
    if (end != q && *end == '*') {
        p.coef = coef;
        q = end + 1;
    }
    bool dense = true;
    for (const char *r = q; *r; r++)
        if (!strchr("IXYZ", *r)) dense = false;
    size_t len = strlen(q);
    if (dense && len > 0) {
        if ((int)len != n_qubits)
            return hq_failf(NULL, HQ_ERR_PARSE, "Pauli string '%s' has %zu letters for %d qubits",
                            s, len, n_qubits);
        for (size_t i = 0; i < len; i++) {
            int qb = (int)(len - 1 - i); /* last letter is qubit 0 */
            hq_pauli one = hq_pauli_single(q[i], qb);
            p.x |= one.x;
            p.z |= one.z;
        }
        *out = p;
        return HQ_OK;
    }
    while (*q) {
        while (isspace((unsigned char)*q)) q++;
        if (!*q) break;
        char w = *q;
        if (!strchr("XYZI", w))
            return hq_failf(NULL, HQ_ERR_PARSE, "Pauli string '%s': expected X, Y, Z or I at '%s'",
                            s, q);
        q++;
        long qb = strtol(q, &end, 10);
        if (end == q)
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "Pauli string '%s': expected a qubit index after '%c'", s, w);
        if (qb < 0 || qb >= n_qubits)
            return hq_failf(NULL, HQ_ERR_PARSE, "Pauli string '%s': qubit %ld out of range [0, %d)",
                            s, qb, n_qubits);
        q = end;
        uint64_t bit = 1ull << qb;
        if ((p.x | p.z) & bit)
            return hq_failf(NULL, HQ_ERR_PARSE, "Pauli string '%s': qubit %ld appears twice", s,
                            qb);
        if (w != 'I') {
            hq_pauli one = hq_pauli_single(w, (int)qb);
            p.x |= one.x;
            p.z |= one.z;
        }
    }
    *out = p;
    return HQ_OK;
}

void hq_pauli_format(const hq_pauli *p, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    if (p->coef != 1.0) n += (size_t)snprintf(buf + n, cap - n, "%g*", p->coef);
    bool any = false;
    for (int q = 0; q < 64 && n < cap; q++) {
        uint64_t bit = 1ull << q;
        bool x = p->x & bit, z = p->z & bit;
        if (!x && !z) continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%c%d", any ? " " : "",
                              x && z ? 'Y' : (x ? 'X' : 'Z'), q);
        any = true;
    }
    if (!any && n < cap) snprintf(buf + n, cap - n, "I");
}
