/*
 * backends/qasm_write.c — the OpenQASM 2.0 and 3.0 writers (hq_qasm_write).
 *
 * Version 2 targets Qiskit's qelib1.inc (the original gates plus u, p, sx, sxdg, cp, csx,
 * cu); version 3 targets stdgates.inc plus the builtin U. Gates of the circuit table
 * outside the target library get a `gate` definition in the header, written in library
 * gates; each definition is checked against the table matrix in tests/test_qasm.c.
 * Angles print as exact multiples of pi when the text evaluates back to the very same
 * double ("3*pi/4"), otherwise as the shortest round-trip decimal. The reader is
 * qasm_parse.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm.h"

/* ==== gate names and definitions ======================================================= */

/* How a table gate is written in one version. */
typedef struct wgate {
    const char *def2; /* OpenQASM 2 definition, NULL if qelib1.inc has the gate */
    const char *def3; /* OpenQASM 3 definition, NULL if stdgates.inc (or U) has it */
    bool native;      /* IBM native: no definition in HQ_QASM_PHYSICAL output */
} wgate;

#define RZX(a, b, t) "h " b "; cx " a ", " b "; rz(" t ") " b "; cx " a ", " b "; h " b ";"
#define ECR(a, b) \
    "gate ecr " a ", " b " { " RZX(a, b, "pi/4") " x " a "; " RZX(a, b, "-pi/4") " }\n"
#define ISWAP(a, b)                                                                               \
    "gate iswap " a ", " b " { s " a "; s " b "; h " a "; cx " a ", " b "; cx " b ", " a "; h " b \
    "; }\n"
#define RYY(t, a, b)                                                                               \
    "gate ryy(" t ") " a ", " b " { rx(pi/2) " a "; rx(pi/2) " b "; cx " a ", " b "; rz(" t ") " b \
    "; cx " a ", " b "; rx(-pi/2) " a "; rx(-pi/2) " b "; }\n"
#define GPI(U, p, a) "gate gpi(" p ") " a " { " U "(pi, 2*pi*" p ", pi - 2*pi*" p ") " a "; }\n"
#define GPI2(U, p, a) \
    "gate gpi2(" p ") " a " { " U "(pi/2, 2*pi*" p " - pi/2, pi/2 - 2*pi*" p ") " a "; }\n"

static const wgate wgates[HQ_GATE_COUNT] = {
    [HQ_GATE_SXDG] = {.def3 = "gate sxdg _a { s _a; h _a; s _a; }\n"},
    [HQ_GATE_CSX] = {.def3 = "gate csx _a, _b { h _b; cp(pi/2) _a, _b; h _b; }\n"},
    [HQ_GATE_ISWAP] = {.def2 = ISWAP("a", "b"), .def3 = ISWAP("_a", "_b")},
    [HQ_GATE_ECR] = {.def2 = ECR("a", "b"), .def3 = ECR("_a", "_b"), .native = true},
    [HQ_GATE_RXX] = {.def3 = "gate rxx(_t) _a, _b { h _a; h _b; cx _a, _b; rz(_t) _b; cx _a, _b; "
                             "h _a; h _b; }\n"},
    [HQ_GATE_RYY] = {.def2 = RYY("theta", "a", "b"), .def3 = RYY("_t", "_a", "_b")},
    [HQ_GATE_RZZ] = {.def3 = "gate rzz(_t) _a, _b { cx _a, _b; rz(_t) _b; cx _a, _b; }\n"},
    [HQ_GATE_GPI] = {.def2 = GPI("u3", "phi", "a"), .def3 = GPI("U", "_p", "_a")},
    [HQ_GATE_GPI2] = {.def2 = GPI2("u3", "phi", "a"), .def3 = GPI2("U", "_p", "_a")},
    [HQ_GATE_MS] = {.def2 = "gate ms(phi0, phi1, theta) a, b { rz(-2*pi*phi0) a; rz(-2*pi*phi1) b; "
                            "rxx(2*pi*theta) a, b; rz(2*pi*phi0) a; rz(2*pi*phi1) b; }\n",
                    .def3 = "gate ms(_p0, _p1, _t) _a, _b { rz(-2*pi*_p0) _a; rz(-2*pi*_p1) _b; "
                            "h _a; h _b; cx _a, _b; rz(2*pi*_t) _b; cx _a, _b; h _a; h _b; "
                            "rz(2*pi*_p0) _a; rz(2*pi*_p1) _b; }\n"},
};

/* Name of gate g in the output and the number of parameters written (cu3 -> cu adds one). */
static const char *out_name(hq_gate g, int version, int *np_out) {
    const hq_gate_info *gi = hq_gate_get_info(g);
    *np_out = gi->np;
    if (version == 3) {
        if (g == HQ_GATE_U) return "U";
        if (g == HQ_GATE_CU1) return "cp";
        if (g == HQ_GATE_CU3) {
            *np_out = 4;
            return "cu";
        }
    }
    return gi->name;
}

/* Gate names of the target libraries: register/parameter names must avoid them. */
static const char *const lib_names[] = {
    "u3",  "u2",   "u1",   "cx",  "id",    "u0",     "u",   "p",       "x",   "y",    "z",
    "h",   "s",    "sdg",  "t",   "tdg",   "rx",     "ry",  "rz",      "sx",  "sxdg", "cz",
    "cy",  "swap", "ch",   "ccx", "cswap", "crx",    "cry", "crz",     "cu1", "cp",   "cu3",
    "csx", "cu",   "rxx",  "rzz", "rccx",  "rc3x",   "c3x", "c3sqrtx", "c4x", "ryy",  "iswap",
    "ecr", "gpi",  "gpi2", "ms",  "phase", "cphase", "CX",  "U"};

/* Keywords of either version (the output of one version should not trip the other). */
static const char *const keywords[] = {
    "OPENQASM",      "include",  "qreg",     "creg",    "gate",       "opaque",
    "barrier",       "measure",  "reset",    "if",      "pi",         "sin",
    "cos",           "tan",      "exp",      "ln",      "sqrt",       "qubit",
    "bit",           "input",    "output",   "float",   "int",        "uint",
    "angle",         "bool",     "complex",  "const",   "let",        "def",
    "defcal",        "cal",      "extern",   "return",  "box",        "delay",
    "ctrl",          "negctrl",  "inv",      "pow",     "gphase",     "tau",
    "euler",         "true",     "false",    "for",     "while",      "in",
    "else",          "break",    "continue", "end",     "switch",     "case",
    "default",       "array",    "duration", "stretch", "durationof", "sizeof",
    "mutable",       "readonly", "void",     "arcsin",  "arccos",     "arctan",
    "mod",           "popcount", "rotl",     "rotr",    "real",       "imag",
    "defcalgrammar", "dt",       "ns",       "us",      "s"};

static bool in_list(const char *const *l, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0) return true;
    return false;
}

/* ==== numbers ========================================================================== */

/* A double in the shortest round-trip form, always readable as an OpenQASM real. */
static void put_num(hq_sbuf *b, double v) {
    if (v == 0) v = 0; /* -0 -> 0 */
    char buf[64];
    for (int prec = 15; prec <= 17; prec++) { /* shortest of %.15g..%.17g that round-trips */
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    char *e = strchr(buf, 'e');
    if (e && !strchr(buf, '.')) { /* "1e-05" -> "1.0e-05": a real in every reader */
        hq_sbuf_append(b, buf, (size_t)(e - buf));
        hq_sbuf_puts(b, ".0");
        hq_sbuf_puts(b, e);
    } else {
        hq_sbuf_puts(b, buf);
    }
}

/* A constant angle: "pi/2", "-3*pi/4" when that text evaluates (as the reader does: left
 * to right, unary minus first) to exactly v; otherwise the decimal. */
static void put_const(hq_sbuf *b, double v) {
    static const int dens[] = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 64, 128};
    if (v != 0 && isfinite(v) && fabs(v) <= 16 * M_PI) {
        for (size_t i = 0; i < HQ_ARRAY_LEN(dens); i++) {
            int den = dens[i];
            double num = nearbyint(fabs(v) * den / M_PI);
            if (num < 1 || num > 16 * den) continue;
            double mag = num == 1 ? M_PI : num * M_PI;
            if (den > 1) mag /= den;
            if ((v < 0 ? -mag : mag) != v) continue;
            if (v < 0) hq_sbuf_putc(b, '-');
            if (num != 1) hq_sbuf_printf(b, "%d*", (int)num);
            hq_sbuf_puts(b, "pi");
            if (den > 1) hq_sbuf_printf(b, "/%d", den);
            return;
        }
    }
    put_num(b, v);
}

/* An affine angle: c + k1*x1 + ... (version 3 only has symbols). */
static void put_angle(hq_sbuf *b, const hq_circuit *c, const hq_angle *a) {
    bool any = false;
    if (a->c != 0 || a->n == 0) {
        put_const(b, a->c);
        any = true;
    }
    for (int k = 0; k < a->n; k++) {
        double coef = a->coef[k];
        const char *name = hq_circuit_symbol_name(c, a->sym[k]);
        if (coef == 0) continue;
        if (any)
            hq_sbuf_puts(b, coef < 0 ? " - " : " + ");
        else if (coef < 0)
            hq_sbuf_putc(b, '-');
        double m = fabs(coef);
        if (m != 1) {
            put_num(b, m);
            hq_sbuf_putc(b, '*');
        }
        hq_sbuf_puts(b, name);
        any = true;
    }
    if (!any) hq_sbuf_putc(b, '0');
}

/* ==== writer =========================================================================== */

typedef struct writer {
    const hq_circuit *c;
    int version;
    bool physical;
    hq_sbuf *b;
    int32_t *q_reg, *q_idx; /* (n_qubits) register and index of each qubit */
    int32_t *c_reg, *c_idx; /* (n_clbits) same for clbits */
    char **qnames;          /* (n_qregs) output names of the quantum registers (owned) */
} writer;

static void put_qubit(writer *w, int32_t q) {
    if (w->physical)
        hq_sbuf_printf(w->b, "$%d", q);
    else
        hq_sbuf_printf(w->b, "%s[%d]", w->qnames[w->q_reg[q]], w->q_idx[q]);
}

static void put_clbit(writer *w, int32_t k) {
    hq_sbuf_printf(w->b, "%s[%d]", hq_circuit_creg(w->c, w->c_reg[k]).name, w->c_idx[k]);
}

static void put_op(writer *w, const hq_op *op) {
    hq_sbuf *b = w->b;
    const char *sep = w->version == 3 ? ", " : ",";
    switch (op->gate) {
    case HQ_GATE_MEASURE:
        if (w->version == 3) {
            put_clbit(w, op->clbit);
            hq_sbuf_puts(b, " = measure ");
            put_qubit(w, op->q[0]);
        } else {
            hq_sbuf_puts(b, "measure ");
            put_qubit(w, op->q[0]);
            hq_sbuf_puts(b, " -> ");
            put_clbit(w, op->clbit);
        }
        break;
    case HQ_GATE_RESET:
        hq_sbuf_puts(b, "reset ");
        put_qubit(w, op->q[0]);
        break;
    case HQ_GATE_BARRIER:
        hq_sbuf_puts(b, "barrier ");
        for (int i = 0; i < op->nq; i++) {
            if (i) hq_sbuf_puts(b, sep);
            put_qubit(w, hq_op_qubit(w->c, op, i));
        }
        break;
    default: {
        int np;
        hq_sbuf_puts(b, out_name((hq_gate)op->gate, w->version, &np));
        if (np) {
            hq_sbuf_putc(b, '(');
            for (int i = 0; i < np; i++) {
                if (i) hq_sbuf_puts(b, ", ");
                if (i < op->np) {
                    hq_angle a = hq_circuit_angle(w->c, op->p[i]);
                    put_angle(b, w->c, &a);
                } else {
                    hq_sbuf_putc(b, '0'); /* cu3 written as cu(theta, phi, lambda, 0) */
                }
            }
            hq_sbuf_putc(b, ')');
        }
        hq_sbuf_putc(b, ' ');
        for (int i = 0; i < op->nq; i++) {
            if (i) hq_sbuf_puts(b, sep);
            put_qubit(w, op->q[i]);
        }
    }
    }
    hq_sbuf_putc(b, ';');
}

/* A name the output may not use for a register or a parameter. */
static bool taken(const char *s) {
    return in_list(keywords, HQ_ARRAY_LEN(keywords), s) ||
           in_list(lib_names, HQ_ARRAY_LEN(lib_names), s);
}

/* Identifiers of the version-3 gate definitions above. */
static const char *const def_names[] = {"_a", "_b", "_t", "_p", "_p0", "_p1"};

/* OpenQASM 2 identifiers start with a lower-case letter. */
static bool v2_ident(const char *s) { return s[0] >= 'a' && s[0] <= 'z'; }

static hq_status check_names(writer *w) {
    const hq_circuit *c = w->c;
    for (int i = 0; i < hq_circuit_n_cregs(c); i++) {
        const char *n = hq_circuit_creg(c, i).name;
        if (taken(n))
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "hq_qasm_write: classical register '%s' is named like an OpenQASM "
                            "keyword or standard gate; rename the register",
                            n);
        if (w->version == 2 && !v2_ident(n))
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "hq_qasm_write: classical register '%s' is not an OpenQASM 2 name "
                            "(those start with a lower-case letter); rename the register or "
                            "write OpenQASM 3",
                            n);
    }
    for (int i = 0; i < hq_circuit_n_symbols(c); i++) {
        const char *n = hq_circuit_symbol_name(c, i);
        bool clash = taken(n) || in_list(def_names, HQ_ARRAY_LEN(def_names), n);
        for (int k = 0; k < hq_circuit_n_cregs(c) && !clash; k++)
            clash = strcmp(hq_circuit_creg(c, k).name, n) == 0;
        if (clash)
            return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                            "hq_qasm_write: symbol '%s' collides with a keyword, a standard gate, "
                            "a classical register or a name of the gate definitions; rename the "
                            "symbol",
                            n);
    }
    /* quantum registers do not reach results: rename them out of any collision */
    int nq = hq_circuit_n_qregs(c);
    w->qnames = hq_calloc((size_t)(nq ? nq : 1), sizeof *w->qnames);
    if (!w->qnames) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_qasm_write: out of memory");
    for (int i = 0; i < nq; i++) {
        const char *base = hq_circuit_qreg(c, i).name;
        char buf[300];
        if (w->version == 2 && !v2_ident(base))
            snprintf(buf, sizeof buf, "q%.250s", base);
        else
            snprintf(buf, sizeof buf, "%s", base);
        char stem[300];
        snprintf(stem, sizeof stem, "%s", buf);
        for (int k = 1;; k++) {
            bool clash = taken(buf);
            for (int j = 0; j < hq_circuit_n_cregs(c) && !clash; j++)
                clash = strcmp(hq_circuit_creg(c, j).name, buf) == 0;
            for (int j = 0; j < hq_circuit_n_symbols(c) && !clash; j++)
                clash = strcmp(hq_circuit_symbol_name(c, j), buf) == 0;
            for (int j = 0; j < nq && !clash; j++)
                clash =
                    j != i && strcmp(j < i ? w->qnames[j] : hq_circuit_qreg(c, j).name, buf) == 0;
            if (!clash) break;
            snprintf(buf, sizeof buf, "%.250s_%d", stem, k);
        }
        w->qnames[i] = hq_strdup(buf);
        if (!w->qnames[i]) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_qasm_write: out of memory");
    }
    return HQ_OK;
}

static hq_status build_maps(writer *w) {
    const hq_circuit *c = w->c;
    int nq = hq_circuit_n_qubits(c), nc = hq_circuit_n_clbits(c);
    w->q_reg = hq_malloc((size_t)(nq + 1) * sizeof *w->q_reg);
    w->q_idx = hq_malloc((size_t)(nq + 1) * sizeof *w->q_idx);
    w->c_reg = hq_malloc((size_t)(nc + 1) * sizeof *w->c_reg);
    w->c_idx = hq_malloc((size_t)(nc + 1) * sizeof *w->c_idx);
    if (!w->q_reg || !w->q_idx || !w->c_reg || !w->c_idx)
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_qasm_write: out of memory");
    for (int r = 0; r < hq_circuit_n_qregs(c); r++) {
        hq_reg g = hq_circuit_qreg(c, r);
        for (int k = 0; k < g.size; k++) w->q_reg[g.offset + k] = r, w->q_idx[g.offset + k] = k;
    }
    for (int r = 0; r < hq_circuit_n_cregs(c); r++) {
        hq_reg g = hq_circuit_creg(c, r);
        for (int k = 0; k < g.size; k++) w->c_reg[g.offset + k] = r, w->c_idx[g.offset + k] = k;
    }
    return HQ_OK;
}

static void write_body(writer *w) {
    const hq_circuit *c = w->c;
    hq_sbuf *b = w->b;
    bool v3 = w->version == 3;
    hq_sbuf_puts(b, v3 ? "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"
                       : "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n");
    for (int i = 0; i < hq_circuit_n_symbols(c); i++)
        hq_sbuf_printf(b, "input float[64] %s;\n", hq_circuit_symbol_name(c, i));
    /* definitions of the used gates the library lacks */
    bool used[HQ_GATE_COUNT] = {false};
    const hq_op *ops = hq_circuit_ops(c);
    int64_t n = hq_circuit_n_ops(c);
    for (int64_t k = 0; k < n; k++) used[ops[k].gate] = true;
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        if (!used[g]) continue;
        const char *def = v3 ? wgates[g].def3 : wgates[g].def2;
        if (def && !(w->physical && wgates[g].native)) hq_sbuf_puts(b, def);
    }
    for (int r = 0; r < hq_circuit_n_qregs(c) && !w->physical; r++) {
        if (v3)
            hq_sbuf_printf(b, "qubit[%d] %s;\n", hq_circuit_qreg(c, r).size, w->qnames[r]);
        else
            hq_sbuf_printf(b, "qreg %s[%d];\n", w->qnames[r], hq_circuit_qreg(c, r).size);
    }
    for (int r = 0; r < hq_circuit_n_cregs(c); r++) {
        hq_reg g = hq_circuit_creg(c, r);
        if (v3)
            hq_sbuf_printf(b, "bit[%d] %s;\n", g.size, g.name);
        else
            hq_sbuf_printf(b, "creg %s[%d];\n", g.name, g.size);
    }
    for (int64_t k = 0; k < n; k++) {
        const hq_op *op = &ops[k];
        if (op->cond_creg >= 0) {
            const char *cn = hq_circuit_creg(c, op->cond_creg).name;
            unsigned long long cv = (unsigned long long)op->cond_val;
            if (v3)
                hq_sbuf_printf(b, "if (%s == %llu) { ", cn, cv);
            else
                hq_sbuf_printf(b, "if(%s==%llu) ", cn, cv);
        }
        put_op(w, op);
        if (op->cond_creg >= 0 && v3) hq_sbuf_puts(b, " }");
        hq_sbuf_putc(b, '\n');
    }
}

hq_status hq_qasm_write(const hq_circuit *c, int version, unsigned flags, hq_sbuf *out) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_write: out is NULL");
    if (version != 2 && version != 3)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qasm_write: version %d is not supported (2 or 3)", version);
    if (flags & ~(unsigned)HQ_QASM_PHYSICAL)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_write: unknown flags 0x%x",
                        flags & ~(unsigned)HQ_QASM_PHYSICAL);
    if ((flags & HQ_QASM_PHYSICAL) && version != 3)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qasm_write: physical-qubit output (HQ_QASM_PHYSICAL) needs OpenQASM 3");
    if (version == 2 && hq_circuit_n_symbols(c) > 0) /* even unused ones: bind them away */
        return hq_failf(NULL, HQ_ERR_UNSUPPORTED,
                        "hq_qasm_write: OpenQASM 2 has no parameters and the circuit has %d "
                        "symbol(s) ---> HINT: bind them first (hq_circuit_bind) or write "
                        "OpenQASM 3, where they become 'input float[64]' parameters",
                        hq_circuit_n_symbols(c));
    writer w = {c, version, (flags & HQ_QASM_PHYSICAL) != 0, out, NULL, NULL, NULL, NULL, NULL};
    hq_status st = check_names(&w);
    if (!st) st = build_maps(&w);
    size_t len0 = out->len;
    if (!st) {
        write_body(&w);
        if (hq_sbuf_status(out)) {
            st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_qasm_write: out of memory");
        }
    }
    if (st && out->p && !out->oom) { /* leave the buffer as it was */
        out->len = len0;
        out->p[len0] = '\0';
    }
    for (int i = 0; w.qnames && i < hq_circuit_n_qregs(c); i++) hq_free(w.qnames[i]);
    hq_free(w.qnames);
    hq_free(w.q_reg);
    hq_free(w.q_idx);
    hq_free(w.c_reg);
    hq_free(w.c_idx);
    return st;
}
