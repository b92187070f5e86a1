/*
 * backends/qasm_parse.c — the OpenQASM 2.0 / OpenQASM 3 (subset) reader.
 *
 * One recursive-descent pass over the tokens of qasm_lex.c builds the hq_circuit directly:
 * declarations become registers and symbols, gate calls become table gates. User gate
 * definitions are compiled once into a body (a list of calls whose angle expressions are
 * small RPN programs over the gate's parameters) and inlined at every call by evaluating
 * those programs in affine arithmetic (c + sum k_i * symbol_i), so OpenQASM 3 `input`
 * parameters flow through definitions into symbolic circuit angles.
 *
 * Resource limits (hq_qasm_options) bound everything a hostile file could blow up: file
 * size, include depth, qubits/clbits, the nesting of definitions (hence recursion depth),
 * the nesting of expressions, and the expansion work: each definition knows the cost of
 * one call (operations plus nested calls), so an exponential definition chain is refused
 * before any of it is expanded.
 *
 * Errors stop the parse at the first problem with "FILE:LINE:COL: message". The built-in
 * include files live in qasm_lib.c; the writer is qasm_write.c.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm.h"
#include "backends/qasm_impl.h"

#define MAX_GATE_PARAMS 64 /* parameters of one gate definition */
#define MAX_GATE_QARGS  64 /* qubit arguments of one gate definition (a 64-bit mask) */
#define NAME_SHOW       48 /* characters of a name quoted in messages */
#define COST_CAP        (INT64_MAX / 4)

/* ==== growable arrays ================================================================== */

static bool grow_(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return true;
    int64_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > INT64_MAX / 2) return false;
        nc *= 2;
    }
    size_t bytes;
    if (!hq_mul_ok((size_t)nc, elem, &bytes)) return false;
    void *q = hq_realloc(*p, bytes);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* ==== name table (open addressing, FNV-1a) ============================================= */

typedef struct nt_slot {
    char *key;     /* owned, NUL-terminated; NULL = empty slot */
    uint32_t len;  /* key length */
    uint32_t hash; /* FNV-1a of the key */
    int32_t val;   /* index into the owner's array */
} nt_slot;

typedef struct ntable {
    nt_slot *s;   /* (cap) slots, cap a power of two */
    uint32_t cap; /* slots */
    uint32_t n;   /* used slots */
} ntable;

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static nt_slot *nt_find(const ntable *t, const char *s, size_t n) {
    if (!t->cap) return NULL;
    uint32_t h = fnv1a(s, n);
    for (uint32_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        nt_slot *e = &t->s[i];
        if (!e->key) return NULL;
        if (e->hash == h && e->len == n && memcmp(e->key, s, n) == 0) return e;
    }
}

static bool nt_rehash(ntable *t, uint32_t ncap) {
    nt_slot *ns = hq_calloc(ncap, sizeof *ns);
    if (!ns) return false;
    for (uint32_t i = 0; i < t->cap; i++) {
        nt_slot *e = &t->s[i];
        if (!e->key) continue;
        uint32_t j = e->hash & (ncap - 1);
        while (ns[j].key) j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    hq_free(t->s);
    t->s = ns;
    t->cap = ncap;
    return true;
}

/* Insert or overwrite; returns the slot (key owned by the table), NULL on OOM. */
static nt_slot *nt_put(ntable *t, const char *s, size_t n, int32_t val) {
    nt_slot *e = nt_find(t, s, n);
    if (e) {
        e->val = val;
        return e;
    }
    if ((t->n + 1) * 2 > t->cap) {
        if (t->cap > UINT32_MAX / 4 || !nt_rehash(t, t->cap ? t->cap * 2 : 64)) return NULL;
    }
    char *k = hq_strndup(s, n);
    if (!k) return NULL;
    uint32_t h = fnv1a(s, n);
    uint32_t i = h & (t->cap - 1);
    while (t->s[i].key) i = (i + 1) & (t->cap - 1);
    t->s[i] = (nt_slot){k, (uint32_t)n, h, val};
    t->n++;
    return &t->s[i];
}

static void nt_free(ntable *t) {
    for (uint32_t i = 0; i < t->cap; i++) hq_free(t->s[i].key);
    hq_free(t->s);
    t->s = NULL;
    t->cap = t->n = 0;
}

/* ==== parser state ===================================================================== */

typedef enum gate_kind { GK_TABLE, GK_USER, GK_OPAQUE } gate_kind;

/* A gate name in scope. */
typedef struct gdef {
    gate_kind kind;
    bool soft;        /* from a built-in library: a user definition may replace it */
    hq_gate g;        /* GK_TABLE: the table gate */
    int np, nq;       /* parameters, qubit arguments */
    int64_t body0;    /* GK_USER: first instruction in P->body */
    int64_t nbody;    /* GK_USER: instructions */
    int depth;        /* nesting depth of the definition (table gates 0) */
    int64_t cost;     /* expansion work of one call (saturates at COST_CAP) */
    const char *name; /* borrowed from the gate name table */
    int file;         /* where it was defined (index into P->files) */
    int line, col;    /* position of its name */
} gdef;

/* One instruction of a gate body. */
typedef struct bop {
    int32_t gate;  /* index into P->gates; -1 = barrier over the listed arguments */
    int32_t np;    /* parameter expressions (P->exprs[expr0 ..]) */
    int32_t nq;    /* qubit arguments (P->args[arg0 ..], formal argument indices) */
    int64_t expr0; /* first expression */
    int64_t arg0;  /* first argument */
} bop;

/* An expression: an RPN program in P->code. */
typedef struct erange {
    int64_t start; /* first instruction */
    int32_t len;   /* instructions */
    int32_t maxh;  /* evaluation stack height it needs */
} erange;

typedef enum rpn_op {
    R_NUM,   /* push v */
    R_PARAM, /* push parameter idx of the gate being expanded */
    R_SYM,   /* push circuit symbol idx */
    R_NEG,
    R_ADD,
    R_SUB,
    R_MUL,
    R_DIV,
    R_POW,
    R_FN, /* apply function idx (FN_*) */
} rpn_op;

enum { FN_SIN, FN_COS, FN_TAN, FN_EXP, FN_LN, FN_SQRT, FN_ASIN, FN_ACOS, FN_ATAN, FN_COUNT };
static const char *const fn_names[FN_COUNT] = {"sin",  "cos",    "tan",    "exp",   "ln",
                                               "sqrt", "arcsin", "arccos", "arctan"};

typedef struct rins {
    uint8_t op;    /* rpn_op */
    int32_t idx;   /* R_PARAM / R_SYM / R_FN operand */
    double v;      /* R_NUM value */
    int line, col; /* source position, for evaluation errors */
} rins;

typedef enum reg_kind { RK_QREG, RK_CREG, RK_SYM } reg_kind;

/* A name in the global (register/symbol) scope. */
typedef struct rentry {
    reg_kind kind;
    int32_t index;  /* circuit register or symbol index */
    int32_t offset; /* first flattened qubit / clbit */
    int32_t size;   /* bits */
    int file;       /* where declared */
    int line, col;
} rentry;

/* A source file (or built-in library) taking part in the parse. */
typedef struct srcfile {
    char *name;  /* display name in messages (owned) */
    char *dir;   /* directory for its relative includes (owned; "" = current dir) */
    char *canon; /* canonical path (cycle detection), NULL if none (owned) */
    char *data;  /* source text if the parser read it (owned), else NULL */
} srcfile;

/* A resolved top-level operand: one bit or a whole register (broadcast). */
typedef struct qarg {
    int32_t base;   /* flattened index of the bit, or of the register's first bit */
    int32_t size;   /* 1 for a bit, register size for a register */
    bool reg;       /* a whole register (broadcast) */
    int32_t rentry; /* index into P->regs, -1 for physical qubits */
    int line, col;  /* position in the source */
} qarg;

typedef struct parser {
    /* limits and mode */
    int version;      /* 2 or 3 once the header is read */
    int forced;       /* options.version */
    int max_qubits;   /* limit on qubits and on clbits */
    int64_t max_ops;  /* limit on expansion work */
    int max_inc;      /* include depth */
    int max_gdepth;   /* definition nesting */
    int max_edepth;   /* expression nesting */
    size_t max_bytes; /* per source file */
    hq_circuit *c;    /* the circuit being built */
    hq_status st;     /* first error (HQ_OK while none) */

    /* tokens of the current file */
    qasm_lexer lx;
    qasm_token t;  /* current token */
    qasm_token nx; /* lookahead, valid if has_nx */
    bool has_nx;
    int pline, pcol; /* just past the previous token (where a missing ';' belongs) */
    int file;        /* current file (index into files) */

    /* files and the include stack */
    srcfile *files;
    int64_t n_files, cap_files;
    struct incl {
        int file, line; /* the including file and the line of its include statement */
    } * inc;
    int64_t inc_depth, cap_inc;

    /* names */
    ntable gate_names; /* -> index into gates */
    gdef *gates;
    int64_t n_gates, cap_gates;
    ntable reg_names; /* -> index into regs (registers and symbols: one namespace) */
    rentry *regs;
    int64_t n_regs, cap_regs;

    /* compiled gate bodies */
    bop *body;
    int64_t n_body, cap_body;
    int32_t *args;
    int64_t n_args, cap_args;
    erange *exprs;
    int64_t n_exprs, cap_exprs;
    rins *code;
    int64_t n_code, cap_code;

    /* definition being compiled (NULL/0 at top level) */
    const qasm_token *g_params; /* parameter names */
    int g_np;
    const qasm_token *g_qargs; /* qubit argument names */
    int g_nq;
    const char *g_name; /* its name, to refuse recursion */
    uint32_t g_name_len;

    /* evaluation */
    hq_angle *vstack; /* parameter values of the gate frames being expanded */
    int64_t vtop, cap_v;
    int32_t *qstack; /* qubit operands of those frames */
    int64_t qtop, cap_q;
    hq_angle *estack; /* RPN evaluation stack */
    int64_t cap_e;
    int edepth;    /* current expression nesting while parsing */
    int eh, emaxh; /* stack height tracking while compiling an expression */

    /* statement scratch */
    qarg *qa;
    int64_t n_qa, cap_qa;
    int32_t *tmp;
    int64_t cap_tmp;
    uint32_t *mark; /* (cap_mark) per-qubit stamp: "seen in the current list" if == gen */
    int64_t cap_mark;
    uint32_t gen; /* current stamp */

    /* state */
    int32_t cond_creg; /* active if() condition: creg index, -1 none */
    uint64_t cond_val;
    int64_t work;            /* expansion work so far */
    bool soft_defs;          /* definitions being read come from a built-in library */
    bool physical;           /* the program uses physical qubits $k */
    int n_phys;              /* qubits of the physical register */
    int phys_line, phys_col; /* first $k */
    int32_t expand_gate;     /* gate being expanded (for messages), -1 none */
    bool lenient;            /* options.lenient */
    int64_t n_dropped;       /* measures dropped in lenient mode */
    int drop_line;           /* the first of them */
    int call_line, call_col; /* the top-level call being expanded */
} parser;

/* ==== errors =========================================================================== */

static const char *fname(const parser *P, int f) {
    return f >= 0 && f < P->n_files ? P->files[f].name : "<input>";
}

static hq_status vperr(parser *P, hq_status st, int line, int col, const char *fmt, va_list ap) {
    if (P->st) return P->st;
    char msg[640];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char trail[320] = "";
    size_t tl = 0;
    for (int64_t i = P->inc_depth - 1; i >= 0 && tl < sizeof trail - 1; i--) {
        int n = snprintf(trail + tl, sizeof trail - tl, " (included from %s:%d)",
                         fname(P, P->inc[i].file), P->inc[i].line);
        if (n < 0) break;
        tl += (size_t)n;
    }
    P->st = hq_failf(NULL, st, "%s:%d:%d: %s%s", fname(P, P->file), line, col, msg, trail);
    return P->st;
}

static hq_status perr_at(parser *P, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static hq_status perr_at(parser *P, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hq_status st = vperr(P, HQ_ERR_PARSE, line, col, fmt, ap);
    va_end(ap);
    return st;
}

/* Error at the current token. */
static hq_status perr(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hq_status perr(parser *P, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hq_status st = vperr(P, HQ_ERR_PARSE, P->t.line, P->t.col, fmt, ap);
    va_end(ap);
    return st;
}

static hq_status perr_st(parser *P, hq_status s, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static hq_status perr_st(parser *P, hq_status s, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hq_status st = vperr(P, s, line, col, fmt, ap);
    va_end(ap);
    return st;
}

static hq_status budget(parser *P, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static hq_status budget(parser *P, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hq_status st = vperr(P, HQ_ERR_BUDGET, line, col, fmt, ap);
    va_end(ap);
    return st;
}

static hq_status oom(parser *P) {
    if (P->st) return P->st;
    P->st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_qasm_parse: out of memory (%s:%d)", fname(P, P->file),
                     P->t.line);
    return P->st;
}

#define GROW(P, arr, cap, need) \
    (grow_((void **)&(arr), &(cap), (need), sizeof *(arr)) || oom(P) == HQ_OK)

/* Quote a token for a message: 'name', number '1.5', end of file, ... */
static const char *tokdesc(const qasm_token *t, char *buf, size_t cap) {
    int n = (int)HQ_MIN(t->len, (uint32_t)NAME_SHOW);
    const char *more = t->len > NAME_SHOW ? "..." : "";
    switch (t->kind) {
    case QT_EOF: snprintf(buf, cap, "the end of the file"); break;
    case QT_STRING: snprintf(buf, cap, "string \"%.*s%s\"", n, t->s, more); break;
    case QT_INT:
    case QT_REAL: snprintf(buf, cap, "number '%.*s%s'", n, t->s, more); break;
    default: snprintf(buf, cap, "'%.*s%s'", n, t->s, more); break;
    }
    return buf;
}

#define TOK(P) tokdesc(&(P)->t, (char[96]){0}, 96)

/* ==== tokens =========================================================================== */

static hq_status lex_check(parser *P, const qasm_token *t) {
    if (t->kind == QT_ERROR) return perr_at(P, t->line, t->col, "%s", t->s);
    return HQ_OK;
}

static hq_status advance(parser *P) {
    P->pline = P->t.line;
    P->pcol = P->t.col + (int)P->t.len + (P->t.kind == QT_STRING ? 2 : 0);
    if (P->has_nx) {
        P->t = P->nx;
        P->has_nx = false;
    } else {
        qasm_lex_next(&P->lx, &P->t);
    }
    return lex_check(P, &P->t);
}

static const qasm_token *peek(parser *P) {
    if (!P->has_nx) {
        qasm_lex_next(&P->lx, &P->nx);
        P->has_nx = true;
    }
    return &P->nx;
}

/* Is token t the identifier kw (a string literal)? Length first: this runs per statement. */
#define is_kw(t, kw) \
    ((t)->kind == QT_IDENT && (t)->len == sizeof(kw) - 1 && memcmp((t)->s, kw, sizeof(kw) - 1) == 0)

static bool tok_eq(const qasm_token *a, const qasm_token *b) {
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static hq_status expect(parser *P, qasm_tok k, const char *what) {
    if (P->t.kind != k) return perr(P, "expected %s, found %s", what, TOK(P));
    return advance(P);
}

/* A missing ';' is reported just after the token it should follow. */
static hq_status expect_semi(parser *P, const char *after) {
    if (P->t.kind == QT_SEMI) return advance(P);
    char buf[96];
    return perr_at(P, P->pline, P->pcol, "expected ';' after %s (found %s at %d:%d)", after,
                   tokdesc(&P->t, buf, sizeof buf), P->t.line, P->t.col);
}

/* ==== reserved words =================================================================== */

static const char *const reserved2[] = {
    "OPENQASM", "include", "qreg", "creg", "gate", "opaque", "barrier", "measure", "reset", "if",
    "pi",       "sin",     "cos",  "tan",  "exp",  "ln",     "sqrt",    "U",       "CX"};
static const char *const reserved3[] = {
    "qubit",  "bit",      "input",    "output", "float",    "int",      "uint",
    "angle",  "bool",     "complex",  "const",  "let",      "def",      "defcal",
    "cal",    "extern",   "return",   "box",    "delay",    "ctrl",     "negctrl",
    "inv",    "pow",      "gphase",   "tau",    "euler",    "true",     "false",
    "for",    "while",    "in",       "else",   "break",    "continue", "end",
    "switch", "case",     "default",  "array",  "duration", "stretch",  "durationof",
    "sizeof", "mutable",  "readonly", "void",   "arcsin",   "arccos",   "arctan",
    "mod",    "popcount", "rotl",     "rotr",   "real",     "imag",     "defcalgrammar"};

static bool in_list(const char *const *list, size_t n, const char *s, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0) return true;
    return false;
}

static bool reserved(const parser *P, const qasm_token *t) {
    if (in_list(reserved2, HQ_ARRAY_LEN(reserved2), t->s, t->len)) return true;
    return P->version == 3 && in_list(reserved3, HQ_ARRAY_LEN(reserved3), t->s, t->len);
}

/* Expect an identifier that may be declared (not a keyword). */
static hq_status expect_name(parser *P, const char *what, qasm_token *out) {
    if (P->t.kind != QT_IDENT) return perr(P, "expected %s, found %s", what, TOK(P));
    if (reserved(P, &P->t))
        return perr(P, "'%.*s' is a reserved word and cannot be used as %s", (int)P->t.len, P->t.s,
                    what);
    *out = P->t;
    return advance(P);
}

/* ==== files ============================================================================ */

static int add_file(parser *P, const char *name, const char *dir, const char *canon, char *data) {
    if (!GROW(P, P->files, P->cap_files, P->n_files + 1)) {
        hq_free(data);
        return -1;
    }
    srcfile *f = &P->files[P->n_files];
    memset(f, 0, sizeof *f);
    f->data = data;
    f->name = hq_strdup(name);
    f->dir = hq_strdup(dir ? dir : "");
    f->canon = canon ? hq_strdup(canon) : NULL;
    P->n_files++;
    if (!f->name || !f->dir || (canon && !f->canon)) {
        oom(P);
        return -1;
    }
    return (int)(P->n_files - 1);
}

/* ==== expressions: compile to RPN ====================================================== */

static hq_status emit_rpn(parser *P, rpn_op op, int32_t idx, double v, int line, int col) {
    if (!GROW(P, P->code, P->cap_code, P->n_code + 1)) return P->st;
    P->code[P->n_code++] = (rins){(uint8_t)op, idx, v, line, col};
    if (op == R_NUM || op == R_PARAM || op == R_SYM) {
        if (++P->eh > P->emaxh) P->emaxh = P->eh;
    } else if (op != R_NEG && op != R_FN) {
        P->eh--;
    }
    return HQ_OK;
}

static hq_status parse_sum(parser *P);

static int find_fn(const qasm_token *t, int version) {
    int n = version == 3 ? FN_COUNT : FN_ASIN;
    for (int i = 0; i < n; i++)
        if (strlen(fn_names[i]) == t->len && memcmp(fn_names[i], t->s, t->len) == 0) return i;
    return -1;
}

static hq_status parse_primary(parser *P) {
    qasm_token t = P->t;
    hq_status st;
    switch (t.kind) {
    case QT_INT:
    case QT_REAL:
    case QT_CONST:
        if (!isfinite(t.num))
            return perr(P, "number %.*s is too large", (int)HQ_MIN(t.len, 40u), t.s);
        if ((st = advance(P))) return st;
        return emit_rpn(P, R_NUM, 0, t.num, t.line, t.col);
    case QT_LPAREN:
        if ((st = advance(P)) || (st = parse_sum(P))) return st;
        return expect(P, QT_RPAREN, "')' to close '('");
    case QT_IDENT: {
        if (is_kw(&t, "pi") || (P->version == 3 && (is_kw(&t, "tau") || is_kw(&t, "euler")))) {
            double v = is_kw(&t, "pi") ? M_PI : is_kw(&t, "tau") ? 2 * M_PI : M_E;
            if ((st = advance(P))) return st;
            return emit_rpn(P, R_NUM, 0, v, t.line, t.col);
        }
        int fn = find_fn(&t, P->version);
        if (fn >= 0) {
            if ((st = advance(P))) return st;
            if (P->t.kind != QT_LPAREN)
                return perr(P, "expected '(' after the function '%s', found %s", fn_names[fn],
                            TOK(P));
            if ((st = advance(P)) || (st = parse_sum(P))) return st;
            if ((st = expect(P, QT_RPAREN, "')' to close the function call"))) return st;
            return emit_rpn(P, R_FN, fn, 0, t.line, t.col);
        }
        if (P->g_params || P->g_qargs || P->g_name) { /* inside a gate definition */
            for (int i = 0; i < P->g_np; i++)
                if (tok_eq(&P->g_params[i], &t)) {
                    if ((st = advance(P))) return st;
                    return emit_rpn(P, R_PARAM, i, 0, t.line, t.col);
                }
            for (int i = 0; i < P->g_nq; i++)
                if (tok_eq(&P->g_qargs[i], &t))
                    return perr(P, "'%.*s' is a qubit argument of the gate, not a parameter",
                                (int)HQ_MIN(t.len, NAME_SHOW), t.s);
            return perr(P,
                        "unknown parameter '%.*s' in the gate definition (its parameters are "
                        "listed in parentheses after the gate name)",
                        (int)HQ_MIN(t.len, NAME_SHOW), t.s);
        }
        nt_slot *e = nt_find(&P->reg_names, t.s, t.len);
        if (e && P->regs[e->val].kind == RK_SYM) {
            if ((st = advance(P))) return st;
            return emit_rpn(P, R_SYM, P->regs[e->val].index, 0, t.line, t.col);
        }
        if (e)
            return perr(P, "'%.*s' is a register and cannot be used in an expression",
                        (int)HQ_MIN(t.len, NAME_SHOW), t.s);
        return perr(P, "unknown identifier '%.*s' in the expression%s",
                    (int)HQ_MIN(t.len, NAME_SHOW), t.s,
                    P->version == 3 ? " (declare parameters with 'input float[64] NAME;')" : "");
    }
    default: return perr(P, "expected a number, 'pi', a parameter or '(', found %s", TOK(P));
    }
}

static hq_status parse_unary(parser *P);

static hq_status parse_power(parser *P) {
    hq_status st = parse_primary(P);
    if (st) return st;
    if (P->t.kind == QT_CARET || (P->t.kind == QT_POW && P->version == 3)) {
        qasm_token op = P->t;
        if ((st = advance(P)) || (st = parse_unary(P))) return st; /* right associative */
        return emit_rpn(P, R_POW, 0, 0, op.line, op.col);
    }
    return HQ_OK;
}

static hq_status parse_unary(parser *P) {
    if (++P->edepth > P->max_edepth)
        return budget(P, P->t.line, P->t.col,
                      "expression nested more than %d levels deep (hq_qasm_options.max_expr_depth)",
                      P->max_edepth);
    hq_status st;
    if (P->t.kind == QT_MINUS || (P->t.kind == QT_PLUS && P->version == 3)) {
        qasm_token op = P->t;
        if ((st = advance(P)) || (st = parse_unary(P))) return st;
        if (op.kind == QT_MINUS && (st = emit_rpn(P, R_NEG, 0, 0, op.line, op.col))) return st;
    } else if ((st = parse_power(P))) {
        return st;
    }
    P->edepth--;
    return HQ_OK;
}

static hq_status parse_product(parser *P) {
    hq_status st = parse_unary(P);
    while (!st && (P->t.kind == QT_STAR || P->t.kind == QT_SLASH)) {
        qasm_token op = P->t;
        if ((st = advance(P)) || (st = parse_unary(P))) return st;
        st = emit_rpn(P, op.kind == QT_STAR ? R_MUL : R_DIV, 0, 0, op.line, op.col);
    }
    return st;
}

static hq_status parse_sum(parser *P) {
    hq_status st = parse_product(P);
    while (!st && (P->t.kind == QT_PLUS || P->t.kind == QT_MINUS)) {
        qasm_token op = P->t;
        if ((st = advance(P)) || (st = parse_product(P))) return st;
        st = emit_rpn(P, op.kind == QT_PLUS ? R_ADD : R_SUB, 0, 0, op.line, op.col);
    }
    return st;
}

/* Compile one expression into P->code; *e describes it. */
static hq_status parse_expr(parser *P, erange *e) {
    P->edepth = 0;
    P->eh = P->emaxh = 0;
    e->start = P->n_code;
    hq_status st = parse_sum(P);
    if (st) return st;
    if (P->n_code - e->start > INT32_MAX) return perr(P, "expression too long");
    e->len = (int32_t)(P->n_code - e->start);
    e->maxh = P->emaxh;
    return HQ_OK;
}

/* ==== expressions: affine evaluation =================================================== */

static const char *sym_name(const parser *P, const hq_angle *a) {
    return a->n ? hq_circuit_symbol_name(P->c, a->sym[0]) : "?";
}

/* Where an evaluation error is reported: inside a definition being expanded, at the call
 * site (the current token) with the definition named; at top level, at the operator. */
static hq_status eval_err(parser *P, const rins *in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hq_status eval_err(parser *P, const rins *in, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (P->expand_gate >= 0) {
        const gdef *d = &P->gates[P->expand_gate];
        return perr_at(P, P->call_line, P->call_col,
                       "%s, in the parameters of a call inside gate '%.*s' (%s:%d:%d)", msg,
                       NAME_SHOW, d->name, fname(P, d->file), in->line, in->col);
    }
    return perr_at(P, in->line, in->col, "%s", msg);
}

static hq_status aff_add(parser *P, const rins *in, hq_angle *a, const hq_angle *b, double sign) {
    a->c += sign * b->c;
    for (int j = 0; j < b->n; j++) {
        int k = 0;
        while (k < a->n && a->sym[k] != b->sym[j]) k++;
        if (k == a->n) {
            if (a->n == HQ_ANGLE_MAX_TERMS)
                return eval_err(P, in,
                                "an angle may depend on at most %d input parameters "
                                "(circuit IR limit)",
                                HQ_ANGLE_MAX_TERMS);
            a->sym[k] = b->sym[j];
            a->coef[k] = 0;
            a->n++;
        }
        a->coef[k] += sign * b->coef[j];
    }
    /* drop cancelled terms (theta - theta) */
    int w = 0;
    for (int k = 0; k < a->n; k++)
        if (a->coef[k] != 0) {
            a->sym[w] = a->sym[k];
            a->coef[w++] = a->coef[k];
        }
    a->n = w;
    return HQ_OK;
}

static void aff_scale(hq_angle *a, double s, bool divide) {
    a->c = divide ? a->c / s : a->c * s;
    int w = 0;
    for (int k = 0; k < a->n; k++) {
        double v = divide ? a->coef[k] / s : a->coef[k] * s;
        if (v != 0) {
            a->sym[w] = a->sym[k];
            a->coef[w++] = v;
        }
    }
    a->n = w;
}

/* Evaluate expression e with the parameters params[] of the enclosing gate frame (NULL at
 * top level) into *out. */
static hq_status eval_expr(parser *P, const erange *e, int64_t pbase, hq_angle *out) {
    if (!GROW(P, P->estack, P->cap_e, (int64_t)e->maxh + 1)) return P->st;
    hq_angle *s = P->estack;
    int h = 0;
    hq_status st;
    for (int32_t i = 0; i < e->len; i++) {
        const rins *in = &P->code[e->start + i];
        switch ((rpn_op)in->op) {
        case R_NUM: /* constants: only c and n matter */
            s[h].c = in->v;
            s[h++].n = 0;
            break;
        case R_PARAM: s[h++] = P->vstack[pbase + in->idx]; break;
        case R_SYM: s[h++] = hq_angle_sym(in->idx, 1.0, 0.0); break;
        case R_NEG: aff_scale(&s[h - 1], -1.0, false); break;
        case R_ADD:
        case R_SUB:
            if ((st = aff_add(P, in, &s[h - 2], &s[h - 1], in->op == R_ADD ? 1.0 : -1.0)))
                return st;
            h--;
            break;
        case R_MUL: {
            hq_angle *a = &s[h - 2], *b = &s[h - 1];
            if (a->n && b->n)
                return eval_err(P, in,
                                "the product of two input parameters ('%s' and '%s') is not "
                                "an affine angle (c + k1*x1 + ...), which is all the circuit "
                                "IR supports",
                                sym_name(P, a), sym_name(P, b));
            if (a->n)
                aff_scale(a, b->c, false);
            else {
                aff_scale(b, a->c, false);
                *a = *b;
            }
            h--;
            break;
        }
        case R_DIV: {
            hq_angle *a = &s[h - 2], *b = &s[h - 1];
            if (b->n)
                return eval_err(P, in,
                                "division by an expression of the input parameter '%s' is not "
                                "an affine angle",
                                sym_name(P, b));
            if (b->c == 0) return eval_err(P, in, "division by zero");
            aff_scale(a, b->c, true);
            h--;
            break;
        }
        case R_POW: {
            hq_angle *a = &s[h - 2], *b = &s[h - 1];
            if (a->n || b->n)
                return eval_err(P, in, "a power of the input parameter '%s' is not an affine angle",
                                sym_name(P, a->n ? a : b));
            *a = hq_angle_const(pow(a->c, b->c));
            h--;
            break;
        }
        case R_FN: {
            hq_angle *a = &s[h - 1];
            if (a->n)
                return eval_err(P, in, "%s() of the input parameter '%s' is not an affine angle",
                                fn_names[in->idx], sym_name(P, a));
            double x = a->c, r = 0;
            switch (in->idx) {
            case FN_SIN: r = sin(x); break;
            case FN_COS: r = cos(x); break;
            case FN_TAN: r = tan(x); break;
            case FN_EXP: r = exp(x); break;
            case FN_LN:
                if (!(x > 0)) return eval_err(P, in, "ln() of %.17g, which is not positive", x);
                r = log(x);
                break;
            case FN_SQRT:
                if (x < 0) return eval_err(P, in, "sqrt() of the negative number %.17g", x);
                r = sqrt(x);
                break;
            case FN_ASIN:
            case FN_ACOS:
                if (x < -1 || x > 1)
                    return eval_err(P, in, "%s() of %.17g, outside [-1, 1]", fn_names[in->idx], x);
                r = in->idx == FN_ASIN ? asin(x) : acos(x);
                break;
            default: r = atan(x); break;
            }
            *a = hq_angle_const(r);
            break;
        }
        }
    }
    HQ_ASSERT(h == 1);
    out->c = s[0].c;
    out->n = s[0].n;
    for (int k = 0; k < s[0].n; k++) {
        out->sym[k] = s[0].sym[k];
        out->coef[k] = s[0].coef[k];
    }
    bool fin = isfinite(out->c);
    for (int k = 0; k < out->n; k++) fin = fin && isfinite(out->coef[k]);
    if (!fin)
        return eval_err(P, &P->code[e->start + e->len - 1],
                        "the expression evaluates to a value that is not finite (overflow)");
    return HQ_OK;
}

/* ==== emitting operations ============================================================== */

static hq_status charge(parser *P, int64_t units, int line, int col) {
    if (units > P->max_ops - P->work)
        return budget(P, line, col,
                      "the circuit expands to more than %lld operations "
                      "(hq_qasm_options.max_ops; user-gate calls count one each)",
                      (long long)P->max_ops);
    P->work += units;
    return HQ_OK;
}

/* Wrap a failure of the circuit API with the source position. */
static hq_status circuit_fail_msg(parser *P, hq_status st, int line, int col) {
    if (P->st) return P->st;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", hq_last_error());
    return perr_st(P, st, line, col, "%s", msg);
}

static hq_status apply_cond(parser *P, int line, int col) {
    if (P->cond_creg < 0) return HQ_OK;
    hq_status st = hq_circuit_set_condition(P->c, P->cond_creg, P->cond_val);
    return st ? circuit_fail_msg(P, st, line, col) : HQ_OK;
}

static hq_status emit_gate(parser *P, hq_gate g, const int32_t *q, const hq_angle *a, int line,
                           int col) {
    hq_status st = charge(P, 1, line, col);
    if (st) return st;
    int qi[HQ_GATE_MAX_QUBITS];
    const hq_gate_info *gi = hq_gate_get_info(g);
    for (int i = 0; i < gi->nq; i++) qi[i] = q[i];
    st = hq_circuit_add_gate_sym(P->c, g, qi, a);
    if (st) return circuit_fail_msg(P, st, line, col);
    return apply_cond(P, line, col);
}

/* Start a new list of qubits: afterwards P->mark[q] == P->gen means "q is in the list".
 * O(1) per membership test, whatever the register sizes. */
static hq_status new_mark(parser *P) {
    int64_t n = hq_circuit_n_qubits(P->c);
    if (n > P->cap_mark) {
        size_t bytes;
        if (!hq_mul_ok((size_t)n, sizeof *P->mark, &bytes)) return oom(P);
        uint32_t *m = hq_realloc(P->mark, bytes);
        if (!m) return oom(P);
        memset(m + P->cap_mark, 0, (size_t)(n - P->cap_mark) * sizeof *m);
        P->mark = m;
        P->cap_mark = n;
    }
    if (++P->gen == 0) { /* wrapped: clear the stamps */
        if (P->cap_mark) memset(P->mark, 0, (size_t)P->cap_mark * sizeof *P->mark);
        P->gen = 1;
    }
    return HQ_OK;
}

/* A barrier over q[0..n): charged one unit per listed qubit (so both the time and the
 * operands stored are bounded by max_ops), duplicates dropped, first-seen order kept, in
 * chunks of the IR's 255-operand maximum. */
static hq_status emit_barrier(parser *P, const int32_t *q, int64_t n, int line, int col) {
    hq_status st = charge(P, n, line, col);
    if (st || (st = new_mark(P))) return st;
    if (!GROW(P, P->tmp, P->cap_tmp, n + 1)) return P->st;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (P->mark[q[i]] == P->gen) continue;
        P->mark[q[i]] = P->gen;
        P->tmp[m++] = q[i];
    }
    int qi[255];
    for (int64_t k = 0; k < m; k += 255) {
        int cnt = (int)HQ_MIN(255, m - k);
        for (int i = 0; i < cnt; i++) qi[i] = P->tmp[k + i];
        st = hq_circuit_add_barrier(P->c, qi, cnt);
        if (st) return circuit_fail_msg(P, st, line, col);
    }
    return HQ_OK;
}

/* ==== gate expansion =================================================================== */

static hq_status expand(parser *P, int32_t gi, int64_t pbase, int64_t qbase, int line, int col) {
    const gdef *d = &P->gates[gi];
    int32_t saved = P->expand_gate;
    P->expand_gate = gi;
    hq_status st = HQ_OK;
    for (int64_t k = 0; k < d->nbody && !st; k++) {
        const bop *b = &P->body[d->body0 + k];
        int64_t vbase = P->vtop, qb = P->qtop;
        if (!GROW(P, P->qstack, P->cap_q, P->qtop + b->nq)) return P->st;
        for (int32_t i = 0; i < b->nq; i++)
            P->qstack[qb + i] = P->qstack[qbase + P->args[b->arg0 + i]];
        P->qtop += b->nq;
        if (b->gate < 0) {
            st = emit_barrier(P, &P->qstack[qb], b->nq, line, col);
        } else {
            if (!GROW(P, P->vstack, P->cap_v, P->vtop + b->np)) return P->st;
            P->vtop += b->np;
            for (int32_t i = 0; i < b->np && !st; i++)
                st = eval_expr(P, &P->exprs[b->expr0 + i], pbase, &P->vstack[vbase + i]);
            const gdef *callee = &P->gates[b->gate];
            if (!st && callee->kind == GK_TABLE) {
                st = emit_gate(P, callee->g, &P->qstack[qb], &P->vstack[vbase], line, col);
            } else if (!st) {
                st = charge(P, 1, line, col);
                if (!st) st = expand(P, b->gate, vbase, qb, line, col);
            }
        }
        P->vtop = vbase;
        P->qtop = qb;
    }
    P->expand_gate = saved;
    return st;
}

/* ==== registers ======================================================================== */

static hq_status declare(parser *P, const qasm_token *name, reg_kind kind, int64_t size) {
    nt_slot *e = nt_find(&P->reg_names, name->s, name->len);
    if (e) {
        const rentry *r = &P->regs[e->val];
        return perr_at(P, name->line, name->col,
                       "'%.*s' is already declared (at %s:%d:%d); names of registers and "
                       "parameters must be unique",
                       (int)HQ_MIN(name->len, NAME_SHOW), name->s, fname(P, r->file), r->line,
                       r->col);
    }
    char nm[NAME_SHOW * 8];
    if (name->len >= sizeof nm) return perr_at(P, name->line, name->col, "name too long");
    memcpy(nm, name->s, name->len);
    nm[name->len] = '\0';
    int idx = -1;
    int32_t offset = 0;
    hq_status st;
    if (kind == RK_SYM) {
        st = hq_circuit_add_symbol(P->c, nm, HQ_SYM_INPUT, &idx);
    } else {
        bool q = kind == RK_QREG;
        int have = q ? hq_circuit_n_qubits(P->c) : hq_circuit_n_clbits(P->c);
        if (size < 1)
            return perr_at(P, name->line, name->col, "register '%s' must have at least 1 bit", nm);
        if (size > P->max_qubits - have)
            return budget(P, name->line, name->col,
                          "register '%s' of %lld %s would exceed the limit of %d %s "
                          "(hq_qasm_options.max_qubits)",
                          nm, (long long)size, q ? "qubits" : "bits", P->max_qubits,
                          q ? "qubits" : "classical bits");
        offset = have;
        st = q ? hq_circuit_add_qreg(P->c, nm, (int)size, &idx)
               : hq_circuit_add_creg(P->c, nm, (int)size, &idx);
    }
    if (st) return circuit_fail_msg(P, st, name->line, name->col);
    if (!GROW(P, P->regs, P->cap_regs, P->n_regs + 1)) return P->st;
    P->regs[P->n_regs] = (rentry){kind, idx, offset, (int32_t)size, P->file, name->line, name->col};
    if (!nt_put(&P->reg_names, name->s, name->len, (int32_t)P->n_regs)) return oom(P);
    P->n_regs++;
    return HQ_OK;
}

/* Parse `[N]` (a register size) into *size. */
static hq_status parse_size(parser *P, int64_t *size) {
    hq_status st;
    if ((st = expect(P, QT_LBRACKET, "'['"))) return st;
    if (P->t.kind != QT_INT)
        return perr(P, "expected the register size (an integer), found %s", TOK(P));
    *size = P->t.big || P->t.u > INT32_MAX ? INT64_MAX : (int64_t)P->t.u;
    if ((st = advance(P))) return st;
    return expect(P, QT_RBRACKET, "']' after the register size");
}

static hq_status check_no_physical(parser *P, const qasm_token *at) {
    if (P->physical)
        return perr_at(P, at->line, at->col,
                       "qubit registers cannot be declared in a program that uses physical "
                       "qubits (first $ at %d:%d); use either $k or declared qubits",
                       P->phys_line, P->phys_col);
    return HQ_OK;
}

/* qreg NAME[N]; / creg NAME[N]; */
static hq_status parse_reg2(parser *P, bool quantum) {
    hq_status st;
    qasm_token kw = P->t, name;
    if ((st = advance(P))) return st;
    if (quantum && (st = check_no_physical(P, &kw))) return st;
    if ((st = expect_name(P, "a register name", &name))) return st;
    int64_t size;
    if ((st = parse_size(P, &size))) return st;
    if ((st = expect_semi(P, "the register declaration"))) return st;
    return declare(P, &name, quantum ? RK_QREG : RK_CREG, size);
}

/* ==== operands ========================================================================= */

/* One quantum (want_q) or classical operand: NAME, NAME[i] or $k. */
static hq_status parse_arg(parser *P, bool want_q, qarg *out) {
    hq_status st;
    qasm_token t = P->t;
    out->line = t.line;
    out->col = t.col;
    if (t.kind == QT_HWQUBIT) {
        if (!want_q)
            return perr(P, "expected a classical bit, found the physical qubit %.*s",
                        (int)HQ_MIN(t.len, 40u), t.s);
        if (P->version != 3)
            return perr(P, "physical qubits such as %.*s are OpenQASM 3 only",
                        (int)HQ_MIN(t.len, 40u), t.s);
        if (t.big || t.u >= (uint64_t)P->n_phys)
            return perr(P, "physical qubit %.*s is outside the program's physical qubits",
                        (int)HQ_MIN(t.len, 40u), t.s);
        *out = (qarg){(int32_t)t.u, 1, false, -1, t.line, t.col};
        return advance(P);
    }
    const char *what = !want_q           ? "a classical bit (NAME or NAME[i])"
                       : P->version == 2 ? "a qubit (NAME or NAME[i])"
                                         : "a qubit (NAME, NAME[i] or $k)";
    if (t.kind != QT_IDENT) return perr(P, "expected %s, found %s", what, TOK(P));
    nt_slot *e = nt_find(&P->reg_names, t.s, t.len);
    if (!e)
        return perr(P, "undeclared %s register '%.*s'", want_q ? "quantum" : "classical",
                    (int)HQ_MIN(t.len, NAME_SHOW), t.s);
    const rentry *r = &P->regs[e->val];
    if (want_q && r->kind != RK_QREG)
        return perr(P, "'%.*s' is %s, not a quantum register", (int)HQ_MIN(t.len, NAME_SHOW), t.s,
                    r->kind == RK_CREG ? "a classical register" : "an input parameter");
    if (!want_q && r->kind != RK_CREG)
        return perr(P, "'%.*s' is %s, not a classical register", (int)HQ_MIN(t.len, NAME_SHOW), t.s,
                    r->kind == RK_QREG ? "a quantum register" : "an input parameter");
    if ((st = advance(P))) return st;
    if (P->t.kind != QT_LBRACKET) {
        *out = (qarg){r->offset, r->size, true, e->val, t.line, t.col};
        return HQ_OK;
    }
    if ((st = advance(P))) return st;
    if (P->t.kind != QT_INT)
        return perr(P, "expected an index (a non-negative integer), found %s", TOK(P));
    if (P->t.big || P->t.u >= (uint64_t)r->size)
        return perr(P, "index %.*s out of range for register '%.*s' of size %d (valid: 0..%d)",
                    (int)HQ_MIN(P->t.len, 40u), P->t.s, (int)HQ_MIN(t.len, NAME_SHOW), t.s, r->size,
                    r->size - 1);
    int32_t idx = (int32_t)P->t.u;
    if ((st = advance(P))) return st;
    if ((st = expect(P, QT_RBRACKET, "']' after the index"))) return st;
    *out = (qarg){r->offset + idx, 1, false, e->val, t.line, t.col};
    return HQ_OK;
}

static void describe_arg(const parser *P, const qarg *a, int64_t k, char *buf, size_t cap) {
    if (a->rentry < 0) {
        snprintf(buf, cap, "$%d", a->base);
        return;
    }
    const rentry *r = &P->regs[a->rentry];
    hq_reg info =
        r->kind == RK_QREG ? hq_circuit_qreg(P->c, r->index) : hq_circuit_creg(P->c, r->index);
    snprintf(buf, cap, "%.*s[%lld]", NAME_SHOW, info.name,
             (long long)(a->reg ? k : a->base - r->offset));
}

/* Broadcast size of the operands (1 if none is a register); error if registers differ. */
static hq_status broadcast_size(parser *P, const qarg *a, int64_t n, int64_t *size) {
    int64_t s = 1;
    int64_t first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!a[i].reg) continue;
        if (first < 0) {
            first = i;
            s = a[i].size;
        } else if (a[i].size != s) {
            const rentry *r0 = &P->regs[a[first].rentry], *r1 = &P->regs[a[i].rentry];
            hq_reg i0 = r0->kind == RK_QREG ? hq_circuit_qreg(P->c, r0->index)
                                            : hq_circuit_creg(P->c, r0->index);
            hq_reg i1 = r1->kind == RK_QREG ? hq_circuit_qreg(P->c, r1->index)
                                            : hq_circuit_creg(P->c, r1->index);
            return perr_at(P, a[i].line, a[i].col,
                           "registers of different sizes in one broadcast statement: '%.*s' has "
                           "%d bits, '%.*s' has %d",
                           NAME_SHOW, i0.name, r0->size, NAME_SHOW, i1.name, r1->size);
        }
    }
    *size = s;
    return HQ_OK;
}

/* Operand list until ';' (or '{' is never valid here). */
/* Operands separated by commas; more than max is an error (lists cannot grow unbounded). */
static hq_status parse_qargs(parser *P, int64_t max, const char *what) {
    hq_status st;
    P->n_qa = 0;
    for (;;) {
        if (P->n_qa >= max)
            return perr(P, "too many operands: %s takes %lld", what, (long long)max);
        if (!GROW(P, P->qa, P->cap_qa, P->n_qa + 1)) return P->st;
        if ((st = parse_arg(P, true, &P->qa[P->n_qa]))) return st;
        P->n_qa++;
        if (P->t.kind != QT_COMMA) break;
        if ((st = advance(P))) return st;
    }
    return HQ_OK;
}

/* ==== gate definitions ================================================================= */

static int32_t lookup_gate(parser *P, const char *s, size_t n) {
    nt_slot *e = nt_find(&P->gate_names, s, n);
    if (e) return e->val;
    if (P->version != 3) return -1;
    /* OpenQASM 3: the backend-native gates of the circuit table may be used without a
     * definition, as IBM ISA circuits use `ecr` */
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind == HQ_KIND_UNITARY && strlen(gi->name) == n && memcmp(gi->name, s, n) == 0) {
            if (!GROW(P, P->gates, P->cap_gates, P->n_gates + 1)) return -1;
            P->gates[P->n_gates] =
                (gdef){GK_TABLE, true, (hq_gate)g, gi->np, gi->nq, 0, 0, 0, 1, NULL, -1, 0, 0};
            nt_slot *ns = nt_put(&P->gate_names, s, n, (int32_t)P->n_gates);
            if (!ns) {
                oom(P);
                return -1;
            }
            P->gates[P->n_gates].name = ns->key;
            return (int32_t)P->n_gates++;
        }
    }
    return -1;
}

/* Register gate `name` as gates[gi] (already filled). Built-in (soft) names give way to
 * user definitions; a soft definition of an existing name is dropped (*kept = false). */
static hq_status bind_gate(parser *P, const qasm_token *name, int64_t gi, bool *kept) {
    *kept = true;
    nt_slot *e = nt_find(&P->gate_names, name->s, name->len);
    if (e) {
        const gdef *old = &P->gates[e->val];
        if (P->gates[gi].soft) {
            *kept = false;
            return HQ_OK;
        }
        if (!old->soft) {
            if (old->file < 0)
                return perr_at(P, name->line, name->col,
                               "'%.*s' is a built-in gate and cannot be redefined",
                               (int)HQ_MIN(name->len, NAME_SHOW), name->s);
            return perr_at(P, name->line, name->col, "gate '%.*s' is already defined (at %s:%d:%d)",
                           (int)HQ_MIN(name->len, NAME_SHOW), name->s, fname(P, old->file),
                           old->line, old->col);
        }
    }
    nt_slot *ns = nt_put(&P->gate_names, name->s, name->len, (int32_t)gi);
    if (!ns) return oom(P);
    P->gates[gi].name = ns->key;
    return HQ_OK;
}

static hq_status add_table_gate(parser *P, const char *name, hq_gate g, bool soft) {
    nt_slot *e = nt_find(&P->gate_names, name, strlen(name));
    if (e) return HQ_OK; /* an existing definition (a user's) wins */
    if (!GROW(P, P->gates, P->cap_gates, P->n_gates + 1)) return P->st;
    const hq_gate_info *gi = hq_gate_get_info(g);
    P->gates[P->n_gates] = (gdef){GK_TABLE, soft, g, gi->np, gi->nq, 0, 0, 0, 1, NULL, -1, 0, 0};
    nt_slot *ns = nt_put(&P->gate_names, name, strlen(name), (int32_t)P->n_gates);
    if (!ns) return oom(P);
    P->gates[P->n_gates++].name = ns->key;
    return HQ_OK;
}

/* Identifier list of a definition: names into *list (tokens), up to max. */
static hq_status parse_idlist(parser *P, qasm_token **list, int *n, int max, const char *what,
                              const qasm_token *other, int n_other) {
    hq_status st;
    for (;;) {
        qasm_token t;
        if ((st = expect_name(P, what, &t))) return st;
        for (int i = 0; i < *n; i++)
            if (tok_eq(&(*list)[i], &t))
                return perr_at(P, t.line, t.col, "'%.*s' appears twice in the gate's %ss",
                               (int)HQ_MIN(t.len, NAME_SHOW), t.s, what);
        for (int i = 0; i < n_other; i++)
            if (tok_eq(&other[i], &t))
                return perr_at(P, t.line, t.col,
                               "'%.*s' is used both as a parameter and as a qubit argument",
                               (int)HQ_MIN(t.len, NAME_SHOW), t.s);
        if (*n >= max) return budget(P, t.line, t.col, "a gate may have at most %d %ss", max, what);
        (*list)[(*n)++] = t;
        if (P->t.kind != QT_COMMA) return HQ_OK;
        if ((st = advance(P))) return st;
    }
}

static hq_status unknown_gate(parser *P, const qasm_token *t) {
    const qasm_lib *lib = qasm_lib_find("qelib1.inc", 10);
    bool in_qelib = false;
    for (int i = 0; i < lib->n_map; i++)
        if (strlen(lib->map[i].name) == t->len && memcmp(lib->map[i].name, t->s, t->len) == 0)
            in_qelib = true;
    char def[NAME_SHOW + 8];
    if (t->len < NAME_SHOW) {
        snprintf(def, sizeof def, "gate %.*s", (int)t->len, t->s);
        const char *p = strstr(lib->defs, def);
        if (p && (p[strlen(def)] == ' ' || p[strlen(def)] == '(')) in_qelib = true;
    }
    const char *hint = "";
    if (in_qelib)
        hint = " ---> HINT: add 'include \"qelib1.inc\";' after the OPENQASM line";
    else if (P->g_name)
        hint = " (gates must be defined before the definitions that use them)";
    return perr_at(P, t->line, t->col, "unknown gate '%.*s'%s", (int)HQ_MIN(t->len, NAME_SHOW),
                   t->s, hint);
}

static hq_status unsupported_modifier(parser *P) {
    return perr(P,
                "gate modifiers ('%.*s @') are not supported by this OpenQASM 3 reader; "
                "write the controlled/inverse gate out, or define it with 'gate'",
                (int)HQ_MIN(P->t.len, NAME_SHOW), P->t.s);
}

static bool is_modifier(parser *P) {
    if (P->version != 3 || P->t.kind != QT_IDENT) return false;
    if (!is_kw(&P->t, "ctrl") && !is_kw(&P->t, "negctrl") && !is_kw(&P->t, "inv") &&
        !is_kw(&P->t, "pow"))
        return false;
    const qasm_token *n = peek(P);
    return n->kind == QT_AT || n->kind == QT_LPAREN;
}

/* One statement of a gate body: NAME[(exprs)] args; | barrier args; | gphase(expr); */
static hq_status parse_body_stmt(parser *P, int *depth, int64_t *cost) {
    hq_status st;
    qasm_token t = P->t;
    if (t.kind != QT_IDENT)
        return perr(P, "expected a gate call or '}' in the gate body, found %s", TOK(P));
    if (is_kw(&t, "measure") || is_kw(&t, "reset") || is_kw(&t, "if") || is_kw(&t, "gate") ||
        is_kw(&t, "qreg") || is_kw(&t, "creg") || is_kw(&t, "opaque") || is_kw(&t, "include"))
        return perr(P,
                    "'%.*s' is not allowed inside a gate definition (only gate calls and "
                    "barriers are)",
                    (int)t.len, t.s);
    if (is_modifier(P)) return unsupported_modifier(P);
    if (P->version == 3 && is_kw(&t, "gphase")) {
        erange e;
        if ((st = advance(P)) || (st = expect(P, QT_LPAREN, "'(' after gphase")) ||
            (st = parse_expr(P, &e)) || (st = expect(P, QT_RPAREN, "')'")))
            return st;
        P->n_code = e.start; /* a global phase: no effect on the circuit IR */
        return expect_semi(P, "gphase(...)");
    }
    bool barrier = is_kw(&t, "barrier");
    int32_t gi = -1;
    const gdef *g = NULL;
    if (!barrier) {
        if (P->g_name && t.len == P->g_name_len && memcmp(t.s, P->g_name, t.len) == 0)
            return perr(P, "gate '%.*s' calls itself; recursive definitions are not allowed",
                        (int)HQ_MIN(t.len, NAME_SHOW), t.s);
        gi = lookup_gate(P, t.s, t.len);
        if (P->st) return P->st;
        if (gi < 0) return unknown_gate(P, &t);
        g = &P->gates[gi];
        if (g->kind == GK_OPAQUE)
            return perr(P, "gate '%.*s' is opaque (declared without a body) and cannot be used",
                        (int)HQ_MIN(t.len, NAME_SHOW), t.s);
    }
    if ((st = advance(P))) return st;
    if (!GROW(P, P->body, P->cap_body, P->n_body + 1)) return P->st;
    bop b = {gi, 0, 0, P->n_exprs, P->n_args};
    uint64_t used = 0; /* formal arguments already in this call */
    if (P->t.kind == QT_LPAREN) {
        if (barrier) return perr(P, "barrier takes no parameters");
        if ((st = advance(P))) return st;
        while (P->t.kind != QT_RPAREN) {
            erange e;
            if ((st = parse_expr(P, &e))) return st;
            if (!GROW(P, P->exprs, P->cap_exprs, P->n_exprs + 1)) return P->st;
            P->exprs[P->n_exprs++] = e;
            b.np++;
            if (P->t.kind == QT_COMMA) {
                if ((st = advance(P))) return st;
            } else if (P->t.kind != QT_RPAREN) {
                return perr(P, "expected ',' or ')' in the parameter list, found %s", TOK(P));
            }
        }
        if ((st = advance(P))) return st;
    }
    g = barrier ? NULL : &P->gates[gi];
    if (g && b.np != g->np)
        return perr_at(P, t.line, t.col, "gate '%.*s' takes %d parameter%s, %d given",
                       (int)HQ_MIN(t.len, NAME_SHOW), t.s, g->np, g->np == 1 ? "" : "s", b.np);
    for (;;) {
        qasm_token a = P->t;
        if (a.kind != QT_IDENT)
            return perr(P, "expected a qubit argument of the gate, found %s", TOK(P));
        int k = -1;
        for (int i = 0; i < P->g_nq && k < 0; i++)
            if (tok_eq(&P->g_qargs[i], &a)) k = i;
        if (k < 0) {
            for (int i = 0; i < P->g_np; i++)
                if (tok_eq(&P->g_params[i], &a))
                    return perr(P, "'%.*s' is a parameter of the gate, not a qubit argument",
                                (int)HQ_MIN(a.len, NAME_SHOW), a.s);
            if ((st = advance(P))) return st;
            if (P->t.kind == QT_LBRACKET)
                return perr(P, "indexed qubits are not allowed inside a gate definition; use "
                               "the gate's qubit arguments");
            return perr_at(P, a.line, a.col, "'%.*s' is not a qubit argument of this gate",
                           (int)HQ_MIN(a.len, NAME_SHOW), a.s);
        }
        if (!barrier && (used >> k & 1)) /* k < MAX_GATE_QARGS = 64 */
            return perr_at(P, a.line, a.col, "qubit argument '%.*s' used twice in one call",
                           (int)HQ_MIN(a.len, NAME_SHOW), a.s);
        used |= 1ull << k;
        if (!GROW(P, P->args, P->cap_args, P->n_args + 1)) return P->st;
        P->args[P->n_args++] = k;
        b.nq++;
        if ((st = advance(P))) return st;
        if (P->t.kind == QT_LBRACKET)
            return perr(P, "indexed qubits are not allowed inside a gate definition; use the "
                           "gate's qubit arguments");
        if (P->t.kind != QT_COMMA) break;
        if ((st = advance(P))) return st;
    }
    if (g && b.nq != g->nq)
        return perr_at(P, t.line, t.col, "gate '%.*s' acts on %d qubit%s, %d given",
                       (int)HQ_MIN(t.len, NAME_SHOW), t.s, g->nq, g->nq == 1 ? "" : "s", b.nq);
    if ((st = expect_semi(P, barrier ? "the barrier" : "the gate call"))) return st;
    P->body[P->n_body++] = b;
    if (g && g->kind == GK_USER) {
        *depth = HQ_MAX(*depth, g->depth);
        *cost = HQ_MIN(COST_CAP, *cost + 1 + g->cost);
    } else {
        *cost = HQ_MIN(COST_CAP, *cost + (barrier ? b.nq : 1));
    }
    return HQ_OK;
}

/* gate NAME[(params)] qargs { body }   or   opaque NAME[(params)] qargs; */
static hq_status parse_gate_def(parser *P, bool opaque) {
    hq_status st;
    if ((st = advance(P))) return st;
    qasm_token name;
    if ((st = expect_name(P, "a gate name", &name))) return st;
    qasm_token params[MAX_GATE_PARAMS], qargs[MAX_GATE_QARGS];
    qasm_token *pp = params, *qp = qargs;
    int np = 0, nq = 0;
    if (P->t.kind == QT_LPAREN) {
        if ((st = advance(P))) return st;
        if (P->t.kind != QT_RPAREN &&
            (st = parse_idlist(P, &pp, &np, MAX_GATE_PARAMS, "parameter", NULL, 0)))
            return st;
        if ((st = expect(P, QT_RPAREN, "',' or ')' in the parameter list"))) return st;
    }
    if (P->t.kind != QT_IDENT)
        return perr(P, "expected the gate's qubit arguments after its name, found %s", TOK(P));
    if ((st = parse_idlist(P, &qp, &nq, MAX_GATE_QARGS, "qubit argument", params, np))) return st;
    gdef d = {opaque ? GK_OPAQUE : GK_USER,
              P->soft_defs,
              HQ_GATE_ID,
              np,
              nq,
              P->n_body,
              0,
              1,
              0,
              NULL,
              P->file,
              name.line,
              name.col};
    if (opaque) {
        if ((st = expect_semi(P, "the opaque declaration"))) return st;
    } else {
        int64_t save_body = P->n_body, save_args = P->n_args, save_exprs = P->n_exprs,
                save_code = P->n_code;
        if ((st = expect(P, QT_LBRACE, "'{' to open the gate body"))) return st;
        P->g_params = params;
        P->g_np = np;
        P->g_qargs = qargs;
        P->g_nq = nq;
        P->g_name = name.s;
        P->g_name_len = name.len;
        int depth = 0;
        int64_t cost = 0;
        while (!st && P->t.kind != QT_RBRACE) {
            if (P->t.kind == QT_EOF) {
                st = perr_at(P, name.line, name.col,
                             "gate '%.*s': the body is not closed (missing '}')",
                             (int)HQ_MIN(name.len, NAME_SHOW), name.s);
                break;
            }
            st = parse_body_stmt(P, &depth, &cost);
        }
        P->g_params = P->g_qargs = NULL;
        P->g_np = P->g_nq = 0;
        P->g_name = NULL;
        if (st) return st;
        d.depth = depth + 1;
        d.cost = cost;
        d.nbody = P->n_body - d.body0;
        if (d.depth > P->max_gdepth)
            return budget(P, name.line, name.col,
                          "gate '%.*s' nests gate definitions %d deep, more than %d "
                          "(hq_qasm_options.max_gate_depth)",
                          (int)HQ_MIN(name.len, NAME_SHOW), name.s, d.depth, P->max_gdepth);
        if ((st = advance(P))) return st; /* '}' */
        /* the slot is taken only now: the body may have added native gates (OpenQASM 3) */
        if (!GROW(P, P->gates, P->cap_gates, P->n_gates + 1)) return P->st;
        int64_t gi = P->n_gates;
        P->gates[gi] = d;
        bool kept;
        if ((st = bind_gate(P, &name, gi, &kept))) return st;
        if (!kept) { /* a built-in definition of a name the user already has */
            P->n_body = save_body;
            P->n_args = save_args;
            P->n_exprs = save_exprs;
            P->n_code = save_code;
            return HQ_OK;
        }
        P->n_gates++;
        return HQ_OK;
    }
    if (!GROW(P, P->gates, P->cap_gates, P->n_gates + 1)) return P->st;
    int64_t gi = P->n_gates;
    P->gates[gi] = d;
    bool kept;
    if ((st = bind_gate(P, &name, gi, &kept))) return st;
    if (kept) P->n_gates++;
    return HQ_OK;
}

/* ==== statements ======================================================================= */

static hq_status parse_statements(parser *P, bool in_block);
static hq_status parse_statement(parser *P);

/* NAME[(exprs)] operands;  — a gate call at top level. */
static hq_status parse_gate_call(parser *P) {
    hq_status st;
    qasm_token t = P->t;
    if (is_modifier(P)) return unsupported_modifier(P);
    int32_t gi = lookup_gate(P, t.s, t.len);
    if (P->st) return P->st;
    if (gi < 0) return unknown_gate(P, &t);
    if (P->gates[gi].kind == GK_OPAQUE)
        return perr(P, "gate '%.*s' is opaque (declared without a body) and cannot be used",
                    (int)HQ_MIN(t.len, NAME_SHOW), t.s);
    if ((st = advance(P))) return st;
    /* parameters: evaluated once, into vstack[0 .. np) */
    P->vtop = 0;
    P->qtop = 0;
    int np = 0;
    if (P->t.kind == QT_LPAREN) {
        if ((st = advance(P))) return st;
        while (P->t.kind != QT_RPAREN) {
            erange e;
            if ((st = parse_expr(P, &e))) return st;
            if (!GROW(P, P->vstack, P->cap_v, (int64_t)np + 1)) return P->st;
            st = eval_expr(P, &e, 0, &P->vstack[np]);
            P->n_code = e.start;
            if (st) return st;
            np++;
            if (P->t.kind == QT_COMMA) {
                if ((st = advance(P))) return st;
            } else if (P->t.kind != QT_RPAREN) {
                return perr(P, "expected ',' or ')' in the parameter list, found %s", TOK(P));
            }
        }
        if ((st = advance(P))) return st;
    }
    const gdef *g = &P->gates[gi];
    if (np != g->np)
        return perr_at(P, t.line, t.col, "gate '%.*s' takes %d parameter%s, %d given",
                       (int)HQ_MIN(t.len, NAME_SHOW), t.s, g->np, g->np == 1 ? "" : "s", np);
    if (P->t.kind == QT_SEMI)
        return perr(P, "gate '%.*s' needs %d qubit operand%s", (int)HQ_MIN(t.len, NAME_SHOW), t.s,
                    g->nq, g->nq == 1 ? "" : "s");
    char what[NAME_SHOW + 16];
    snprintf(what, sizeof what, "gate '%.*s'", (int)HQ_MIN(t.len, NAME_SHOW), t.s);
    if ((st = parse_qargs(P, g->nq, what))) return st;
    if (P->n_qa != g->nq)
        return perr_at(P, t.line, t.col, "gate '%.*s' acts on %d qubit%s, %lld given",
                       (int)HQ_MIN(t.len, NAME_SHOW), t.s, g->nq, g->nq == 1 ? "" : "s",
                       (long long)P->n_qa);
    if ((st = expect_semi(P, "the gate call"))) return st;
    P->vtop = np;
    int64_t n = 1;
    if ((st = broadcast_size(P, P->qa, P->n_qa, &n))) return st;
    if (g->kind == GK_USER && g->cost + 1 > (P->max_ops - P->work) / n) {
        char cost[32];
        if (g->cost >= COST_CAP)
            snprintf(cost, sizeof cost, "more than 2^61");
        else
            snprintf(cost, sizeof cost, "%lld", (long long)(g->cost + 1));
        return budget(P, t.line, t.col,
                      "the circuit expands to more than %lld operations (hq_qasm_options.max_ops;"
                      " one call of '%.*s' costs %s)",
                      (long long)P->max_ops, (int)HQ_MIN(t.len, NAME_SHOW), t.s, cost);
    }
    P->call_line = t.line;
    P->call_col = t.col;
    if (!GROW(P, P->qstack, P->cap_q, g->nq)) return P->st;
    for (int64_t k = 0; k < n; k++) {
        if ((st = new_mark(P))) return st;
        for (int i = 0; i < g->nq; i++) {
            const qarg *a = &P->qa[i];
            int32_t q = a->base + (a->reg ? (int32_t)k : 0);
            if (P->mark[q] == P->gen) {
                char buf[NAME_SHOW + 32];
                describe_arg(P, a, k, buf, sizeof buf);
                return perr_at(P, a->line, a->col, "qubit %s is used twice in one call of '%.*s'",
                               buf, (int)HQ_MIN(t.len, NAME_SHOW), t.s);
            }
            P->mark[q] = P->gen;
            P->qstack[i] = q;
        }
        P->qtop = g->nq;
        if (g->kind == GK_TABLE) {
            st = emit_gate(P, g->g, P->qstack, P->vstack, t.line, t.col);
        } else {
            st = charge(P, 1, t.line, t.col);
            if (!st) st = expand(P, gi, 0, 0, t.line, t.col);
        }
        if (st) return st;
        g = &P->gates[gi];
    }
    return HQ_OK;
}

/* Measure qa[0] -> ca (broadcast), with sizes checked. */
static hq_status do_measure(parser *P, const qarg *q, const qarg *c, int line, int col) {
    if (q->size != c->size) {
        char qb[NAME_SHOW + 32], cb[NAME_SHOW + 32];
        describe_arg(P, q, 0, qb, sizeof qb);
        describe_arg(P, c, 0, cb, sizeof cb);
        if (q->reg) *strchr(qb, '[') = '\0';
        if (c->reg) *strchr(cb, '[') = '\0';
        return perr_at(P, line, col,
                       "measure: '%s' is %d qubit%s but '%s' is %d bit%s; measure a register into "
                       "a register of the same size, or one qubit into one bit",
                       qb, q->size, q->size == 1 ? "" : "s", cb, c->size, c->size == 1 ? "" : "s");
    }
    for (int32_t k = 0; k < q->size; k++) {
        hq_status st = charge(P, 1, line, col);
        if (st) return st;
        st = hq_circuit_add_measure(P->c, q->base + k, c->base + k);
        if (st) return circuit_fail_msg(P, st, line, col);
        if ((st = apply_cond(P, line, col))) return st;
    }
    return HQ_OK;
}

/* Lenient mode: is the current token an undeclared register name? Then the measure
 * statement is skipped to its ';' and counted. */
static bool drop_measure(parser *P, hq_status *st) {
    if (P->t.kind != QT_IDENT || nt_find(&P->reg_names, P->t.s, P->t.len)) return false;
    if (!P->lenient) {
        *st = perr(P,
                   "undeclared register '%.*s' in measure ---> HINT: some published files "
                   "(QASMBench) measure registers they never declare; the lenient option "
                   "(hq_qasm_options.lenient, hqcnn --lenient) drops such measurements",
                   (int)HQ_MIN(P->t.len, NAME_SHOW), P->t.s);
        return true;
    }
    if (!P->n_dropped++) P->drop_line = P->t.line;
    while (!(*st = advance(P)) && P->t.kind != QT_SEMI && P->t.kind != QT_EOF) {
    }
    if (!*st) *st = expect_semi(P, "the measure statement");
    return true;
}

/* measure q -> c;   (also OpenQASM 3) */
static hq_status parse_measure_arrow(parser *P) {
    hq_status st;
    qasm_token kw = P->t;
    if ((st = advance(P))) return st;
    qarg q, c;
    if (drop_measure(P, &st)) return st;
    if ((st = parse_arg(P, true, &q))) return st;
    if (P->t.kind != QT_ARROW) {
        if (P->version == 3 && P->t.kind == QT_SEMI)
            return perr(P, "the result of measure must be stored: write 'c[i] = measure q[j];' "
                           "or 'measure q[j] -> c[i];'");
        return perr(P, "expected '->' after the measured qubit, found %s", TOK(P));
    }
    if ((st = advance(P))) return st;
    if (drop_measure(P, &st)) return st;
    if ((st = parse_arg(P, false, &c))) return st;
    if ((st = expect_semi(P, "the measure statement"))) return st;
    return do_measure(P, &q, &c, kw.line, kw.col);
}

/* c = measure q;  c[i] = measure q[j];  (OpenQASM 3) — the classical target is parsed. */
static hq_status parse_measure_assign(parser *P, const qarg *c, int line, int col) {
    hq_status st;
    if ((st = expect(P, QT_EQ, "'='"))) return st;
    if (!is_kw(&P->t, "measure"))
        return perr(P,
                    "only measurement results can be assigned to bits in this OpenQASM 3 "
                    "subset (expected 'measure', found %s)",
                    TOK(P));
    if ((st = advance(P))) return st;
    qarg q;
    if ((st = parse_arg(P, true, &q))) return st;
    if ((st = expect_semi(P, "the measurement"))) return st;
    return do_measure(P, &q, c, line, col);
}

static hq_status parse_reset(parser *P) {
    hq_status st;
    qasm_token kw = P->t;
    if ((st = advance(P)) || (st = parse_qargs(P, 1, "reset"))) return st;
    if ((st = expect_semi(P, "the reset statement"))) return st;
    for (int32_t k = 0; k < P->qa[0].size; k++) {
        if ((st = charge(P, 1, kw.line, kw.col))) return st;
        st = hq_circuit_add_reset(P->c, P->qa[0].base + k);
        if (st) return circuit_fail_msg(P, st, kw.line, kw.col);
        if ((st = apply_cond(P, kw.line, kw.col))) return st;
    }
    return HQ_OK;
}

static hq_status parse_barrier(parser *P) {
    hq_status st;
    qasm_token kw = P->t;
    if (P->cond_creg >= 0) return perr(P, "a barrier cannot be conditional");
    if ((st = advance(P))) return st;
    int64_t n = 0;
    if (P->t.kind == QT_SEMI && P->version == 3) { /* barrier; = every qubit */
        int nq = hq_circuit_n_qubits(P->c);
        if (!GROW(P, P->qstack, P->cap_q, nq + 1)) return P->st;
        for (int i = 0; i < nq; i++) P->qstack[i] = i;
        n = nq;
    } else {
        /* operand by operand, each checked against the budget as it is read */
        for (;;) {
            qarg a;
            if ((st = parse_arg(P, true, &a))) return st;
            if (a.size > P->max_ops - P->work - n)
                return charge(P, n + a.size, a.line, a.col); /* the budget error */
            if (!GROW(P, P->qstack, P->cap_q, n + a.size + 1)) return P->st;
            for (int32_t k = 0; k < a.size; k++) P->qstack[n++] = a.base + k;
            if (P->t.kind != QT_COMMA) break;
            if ((st = advance(P))) return st;
        }
    }
    if ((st = expect_semi(P, "the barrier"))) return st;
    if (n == 0) return HQ_OK;
    return emit_barrier(P, P->qstack, n, kw.line, kw.col);
}

/* if (creg == value) statement   (OpenQASM 2: one quantum operation; 3: also a block) */
static hq_status parse_if(parser *P) {
    hq_status st;
    if ((st = advance(P)) || (st = expect(P, QT_LPAREN, "'(' after if"))) return st;
    qasm_token name = P->t;
    if (name.kind != QT_IDENT)
        return perr(P, "expected a classical register name in the condition, found %s", TOK(P));
    nt_slot *e = nt_find(&P->reg_names, name.s, name.len);
    if (!e)
        return perr(P, "if: undeclared classical register '%.*s'", (int)HQ_MIN(name.len, NAME_SHOW),
                    name.s);
    const rentry *r = &P->regs[e->val];
    if (r->kind != RK_CREG)
        return perr(P, "if: '%.*s' is not a classical register", (int)HQ_MIN(name.len, NAME_SHOW),
                    name.s);
    if ((st = advance(P))) return st;
    if (P->t.kind == QT_LBRACKET)
        return perr(P,
                    "conditions on single bits are not supported; compare a whole register: "
                    "if (%.*s == value)",
                    (int)HQ_MIN(name.len, NAME_SHOW), name.s);
    if (P->t.kind != QT_EQEQ)
        return perr(P,
                    "expected '==' in the condition (only 'register == integer' is supported), "
                    "found %s",
                    TOK(P));
    if ((st = advance(P))) return st;
    if (P->t.kind != QT_INT)
        return perr(P, "expected a non-negative integer to compare with, found %s", TOK(P));
    if (P->t.big)
        return perr(P, "the value %.*s does not fit in 64 bits", (int)HQ_MIN(P->t.len, 40u),
                    P->t.s);
    uint64_t v = P->t.u;
    if (r->size < 64 && (v >> r->size))
        return perr(P, "the value %llu does not fit in the %d-bit register '%.*s' (max %llu)",
                    (unsigned long long)v, r->size, (int)HQ_MIN(name.len, NAME_SHOW), name.s,
                    (unsigned long long)((1ull << r->size) - 1));
    if ((st = advance(P)) || (st = expect(P, QT_RPAREN, "')' to close the condition"))) return st;
    P->cond_creg = r->index;
    P->cond_val = v;
    if (P->t.kind == QT_LBRACE && P->version == 3) {
        if ((st = advance(P))) return st;
        st = parse_statements(P, true);
        if (!st) st = advance(P); /* '}' */
    } else if (P->t.kind == QT_EOF || P->t.kind == QT_SEMI) {
        st = perr(P, "expected an operation after the condition, found %s", TOK(P));
    } else {
        st = parse_statement(P);
    }
    P->cond_creg = -1;
    return st;
}

/* include "file"; */
static hq_status parse_program_text(parser *P, int file, const char *src, size_t len, int inc_line);

static hq_status parse_include(parser *P) {
    hq_status st;
    qasm_token kw = P->t;
    if ((st = advance(P))) return st;
    if (P->t.kind != QT_STRING)
        return perr(P, "expected a file name in double quotes after include, found %s", TOK(P));
    qasm_token fn = P->t;
    if ((st = advance(P)) || (st = expect_semi(P, "the include statement"))) return st;
    if (fn.len == 0) return perr_at(P, fn.line, fn.col, "empty include file name");
    if (memchr(fn.s, '\0', fn.len)) return perr_at(P, fn.line, fn.col, "invalid include file name");
    if (P->inc_depth >= P->max_inc)
        return budget(P, kw.line, kw.col,
                      "includes nested more than %d deep (hq_qasm_options.max_include_depth)",
                      P->max_inc);
    const qasm_lib *lib = qasm_lib_find(fn.s, fn.len);
    char path[4096], canon[PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    int nf;
    if (lib) {
        for (int i = 0; i < lib->n_map; i++)
            if ((st = add_table_gate(P, lib->map[i].name, lib->map[i].gate, true))) return st;
        if (!lib->defs[0]) return HQ_OK;
        char disp[64];
        snprintf(disp, sizeof disp, "%s (built-in)", lib->name);
        if ((nf = add_file(P, disp, "", NULL, NULL)) < 0) return P->st;
        bool saved = P->soft_defs;
        P->soft_defs = true;
        st = parse_program_text(P, nf, lib->defs, strlen(lib->defs), kw.line);
        P->soft_defs = saved;
        return st;
    }
    char name[1024];
    if (fn.len >= sizeof name) return perr_at(P, fn.line, fn.col, "include file name too long");
    memcpy(name, fn.s, fn.len);
    name[fn.len] = '\0';
    if (hq_path_join(path, sizeof path, P->files[P->file].dir, name) != HQ_OK)
        return perr_at(P, fn.line, fn.col, "include path too long");
    hq_status rs = hq_file_read(path, P->max_bytes, &data, &len);
    if (rs == HQ_ERR_NOT_FOUND)
        return perr_at(P, fn.line, fn.col, "include file '%s' not found (looked for '%s')", name,
                       path);
    if (rs == HQ_ERR_INVALID_ARG)
        return budget(P, fn.line, fn.col,
                      "include file '%s' is larger than %zu bytes (hq_qasm_options.max_bytes)",
                      name, P->max_bytes);
    if (rs == HQ_ERR_NOMEM) return oom(P);
    if (rs) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", hq_last_error());
        return perr_at(P, fn.line, fn.col, "cannot read include file '%s': %s", name, msg);
    }
    if (!realpath(path, canon)) snprintf(canon, sizeof canon, "%s", path);
    /* cycle: the same file already open further up the include stack */
    for (int64_t i = 0; i <= P->inc_depth; i++) {
        int f = i < P->inc_depth ? P->inc[i].file : P->file;
        if (P->files[f].canon && strcmp(P->files[f].canon, canon) == 0) {
            hq_free(data);
            return perr_at(P, fn.line, fn.col, "include cycle: '%s' is already being included",
                           name);
        }
    }
    char dir[4096];
    hq_path_dirname(dir, sizeof dir, path);
    if ((nf = add_file(P, path, dir, canon, data)) < 0) return P->st;
    return parse_program_text(P, nf, data, len, kw.line);
}

/* qubit[n] q; qubit q; bit[n] c; bit c; bit[n] c = measure q;   (OpenQASM 3) */
static hq_status parse_decl3(parser *P, bool quantum) {
    hq_status st;
    qasm_token kw = P->t;
    if ((st = advance(P))) return st;
    if (quantum && (st = check_no_physical(P, &kw))) return st;
    int64_t size = 1;
    if (P->t.kind == QT_LBRACKET && (st = parse_size(P, &size))) return st;
    qasm_token name;
    if ((st = expect_name(P, quantum ? "a qubit register name" : "a bit register name", &name)))
        return st;
    if (!quantum && P->t.kind == QT_EQ) {
        if ((st = declare(P, &name, RK_CREG, size))) return st;
        nt_slot *e = nt_find(&P->reg_names, name.s, name.len);
        const rentry *r = &P->regs[e->val];
        qarg c = {r->offset, r->size, true, e->val, name.line, name.col};
        return parse_measure_assign(P, &c, kw.line, kw.col);
    }
    if ((st = expect_semi(P, "the declaration"))) return st;
    return declare(P, &name, quantum ? RK_QREG : RK_CREG, size);
}

/* input float[64] name;  input angle[32] name;  input float name; */
static hq_status parse_input(parser *P) {
    hq_status st;
    if ((st = advance(P))) return st;
    if (!is_kw(&P->t, "float") && !is_kw(&P->t, "angle"))
        return perr(P, "only 'input float[64] NAME;' (or angle) parameters are supported, found %s",
                    TOK(P));
    if ((st = advance(P))) return st;
    if (P->t.kind == QT_LBRACKET) {
        int64_t w;
        if ((st = parse_size(P, &w))) return st;
    }
    qasm_token name;
    if ((st = expect_name(P, "a parameter name", &name))) return st;
    if ((st = expect_semi(P, "the input declaration"))) return st;
    if (name.len >= 256) return perr_at(P, name.line, name.col, "parameter name too long");
    if (hq_circuit_n_symbols(P->c) >= P->max_qubits)
        return budget(P, name.line, name.col,
                      "more than %d input parameters (hq_qasm_options.max_qubits bounds them too)",
                      P->max_qubits);
    return declare(P, &name, RK_SYM, 0);
}

static hq_status parse_statement(parser *P) {
    qasm_token t = P->t;
    hq_status st;
    if (t.kind == QT_AT && P->version == 3) { /* annotation: ignored to the end of its line */
        while (!(st = advance(P)) && P->t.kind != QT_EOF && P->t.line == t.line) {
        }
        return st;
    }
    if (t.kind != QT_IDENT) return perr(P, "expected a statement, found %s", TOK(P));
    bool v3 = P->version == 3;
    if (is_kw(&t, "OPENQASM"))
        return perr(P, "the OPENQASM version statement must be the first statement of the main "
                       "file");
    if (P->cond_creg >= 0) {
        static const char *const not_in_if[] = {"include", "qreg", "creg",  "gate", "opaque",
                                                "qubit",   "bit",  "input", "if",   "OPENQASM"};
        if (in_list(not_in_if, HQ_ARRAY_LEN(not_in_if), t.s, t.len))
            return perr(P,
                        "'%.*s' cannot be the body of an if (only gate calls, measure and "
                        "reset can)",
                        (int)t.len, t.s);
    }
    if (is_kw(&t, "include")) return parse_include(P);
    if (is_kw(&t, "qreg")) return parse_reg2(P, true);
    if (is_kw(&t, "creg")) return parse_reg2(P, false);
    if (is_kw(&t, "gate")) return parse_gate_def(P, false);
    if (is_kw(&t, "opaque")) {
        if (v3) return perr(P, "'opaque' is OpenQASM 2 only");
        return parse_gate_def(P, true);
    }
    if (is_kw(&t, "measure")) return parse_measure_arrow(P);
    if (is_kw(&t, "reset")) return parse_reset(P);
    if (is_kw(&t, "barrier")) return parse_barrier(P);
    if (is_kw(&t, "if")) return parse_if(P);
    if (v3) {
        if (is_kw(&t, "qubit")) return parse_decl3(P, true);
        if (is_kw(&t, "bit")) return parse_decl3(P, false);
        if (is_kw(&t, "input")) return parse_input(P);
        if (is_kw(&t, "gphase")) {
            erange e;
            hq_angle a;
            if ((st = advance(P)) || (st = expect(P, QT_LPAREN, "'(' after gphase")) ||
                (st = parse_expr(P, &e)))
                return st;
            st = eval_expr(P, &e, 0, &a);
            P->n_code = e.start;
            if (st || (st = expect(P, QT_RPAREN, "')'"))) return st;
            return expect_semi(P, "gphase(...)"); /* global phase: not tracked */
        }
        static const char *const unsupported[] = {
            "output",  "const", "float",    "int",     "uint",   "angle",        "bool",
            "complex", "let",   "def",      "defcal",  "cal",    "extern",       "box",
            "delay",   "for",   "while",    "switch",  "return", "break",        "continue",
            "end",     "else",  "duration", "stretch", "array",  "defcalgrammar"};
        if (in_list(unsupported, HQ_ARRAY_LEN(unsupported), t.s, t.len))
            return perr(P,
                        "'%.*s' is not supported by this OpenQASM 3 reader (supported: qubit, "
                        "bit, input float, gate, measure, reset, barrier, if, gphase and gate "
                        "calls; see docs/qasm.md)",
                        (int)t.len, t.s);
        /* c[i] = measure q[j];  c = measure q; */
        const qasm_token *n = peek(P);
        if ((st = lex_check(P, n))) return st;
        if (n->kind == QT_EQ || n->kind == QT_LBRACKET) {
            qarg c;
            if ((st = parse_arg(P, false, &c))) return st;
            return parse_measure_assign(P, &c, t.line, t.col);
        }
    }
    return parse_gate_call(P);
}

/* Statements until the end of the file, or until '}' (in_block: the '}' is left current),
 * or exactly one (!in_block and called from if). */
static hq_status parse_statements(parser *P, bool in_block) {
    hq_status st = HQ_OK;
    if (!in_block && P->cond_creg >= 0) return parse_statement(P);
    while (!st) {
        if (P->t.kind == QT_EOF) {
            if (in_block)
                return perr(P, "expected '}' to close the if block, found the end of the file");
            return HQ_OK;
        }
        if (in_block && P->t.kind == QT_RBRACE) return HQ_OK;
        st = parse_statement(P);
    }
    return st;
}

/* Parse a complete file (the main one or an include) with its own lexer. */
static hq_status parse_program_text(parser *P, int file, const char *src, size_t len,
                                    int inc_line) {
    if (!GROW(P, P->inc, P->cap_inc, P->inc_depth + 1)) return P->st;
    /* save the including file's lexer state */
    qasm_lexer lx = P->lx;
    qasm_token t = P->t, nx = P->nx;
    bool has_nx = P->has_nx;
    int pline = P->pline, pcol = P->pcol, outer = P->file;
    P->inc[P->inc_depth].file = outer;
    P->inc[P->inc_depth].line = inc_line;
    P->inc_depth++;
    P->file = file;
    qasm_lex_init(&P->lx, src, len);
    P->lx.pragmas = P->version == 3;
    P->has_nx = false;
    P->t.line = 1;
    P->t.col = 1;
    P->t.len = 0;
    hq_status st = advance(P);
    if (!st) st = parse_statements(P, false);
    if (st) return st; /* keep file/position for the message (already recorded) */
    P->inc_depth--;
    P->file = outer;
    P->lx = lx;
    P->t = t;
    P->nx = nx;
    P->has_nx = has_nx;
    P->pline = pline;
    P->pcol = pcol;
    return HQ_OK;
}

/* ==== header and main program ========================================================== */

/* The first $k in the source (physical-qubit programs) and the largest k. */
static hq_status scan_physical(parser *P, const char *src, size_t len) {
    if (!memchr(src, '$', len)) return HQ_OK;
    qasm_lexer lx = P->lx;
    qasm_token t;
    uint64_t maxk = 0;
    bool any = false;
    for (;;) {
        qasm_lex_next(&lx, &t);
        if (t.kind == QT_EOF || t.kind == QT_ERROR) break;
        if (t.kind != QT_HWQUBIT) continue;
        if (!any) {
            P->phys_line = t.line;
            P->phys_col = t.col;
        }
        any = true;
        if (t.big || t.u >= (uint64_t)P->max_qubits)
            return budget(P, t.line, t.col,
                          "physical qubit %.*s is beyond the limit of %d qubits "
                          "(hq_qasm_options.max_qubits)",
                          (int)HQ_MIN(t.len, 40u), t.s, P->max_qubits);
        if (t.u > maxk) maxk = t.u;
    }
    if (!any) return HQ_OK;
    P->physical = true;
    P->n_phys = (int)maxk + 1;
    hq_status st = hq_circuit_add_qreg(P->c, "q", P->n_phys, NULL);
    return st ? circuit_fail_msg(P, st, P->phys_line, P->phys_col) : HQ_OK;
}

static hq_status parse_header(parser *P) {
    hq_status st;
    if (!is_kw(&P->t, "OPENQASM")) {
        P->version = P->forced ? P->forced : 3;
        return HQ_OK;
    }
    if ((st = advance(P))) return st;
    qasm_token v = P->t;
    if (v.kind != QT_INT && v.kind != QT_REAL)
        return perr(P, "expected a version number after OPENQASM (2.0 or 3.0), found %s", TOK(P));
    int major = v.num >= 2 && v.num < 4 ? (int)v.num : 0;
    bool ok = (major == 2 && v.num == 2.0) || major == 3;
    if (!ok)
        return perr(P, "unsupported OpenQASM version %.*s (supported: 2.0 and 3.x)",
                    (int)HQ_MIN(v.len, 40u), v.s);
    if (P->forced && P->forced != major)
        return perr(P, "the file declares OpenQASM %.*s but OpenQASM %d was requested",
                    (int)HQ_MIN(v.len, 40u), v.s, P->forced);
    P->version = major;
    if ((st = advance(P))) return st;
    char after[64];
    snprintf(after, sizeof after, "'OPENQASM %.*s'", (int)HQ_MIN(v.len, 40u), v.s);
    return expect_semi(P, after);
}

static void parser_free(parser *P) {
    for (int64_t i = 0; i < P->n_files; i++) {
        hq_free(P->files[i].name);
        hq_free(P->files[i].dir);
        hq_free(P->files[i].canon);
        hq_free(P->files[i].data);
    }
    hq_free(P->files);
    hq_free(P->inc);
    nt_free(&P->gate_names);
    nt_free(&P->reg_names);
    hq_free(P->gates);
    hq_free(P->regs);
    hq_free(P->body);
    hq_free(P->args);
    hq_free(P->exprs);
    hq_free(P->code);
    hq_free(P->vstack);
    hq_free(P->qstack);
    hq_free(P->estack);
    hq_free(P->qa);
    hq_free(P->tmp);
    hq_free(P->mark);
    hq_circuit_free(P->c);
}

static hq_status check_options(const hq_qasm_options *o) {
    if (!o) return HQ_OK;
    if (o->version != 0 && o->version != 2 && o->version != 3)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qasm_parse: options.version %d is not 0 (detect), 2 or 3", o->version);
    if (o->max_qubits < 0 || o->max_ops < 0 || o->max_include_depth < 0 || o->max_gate_depth < 0 ||
        o->max_expr_depth < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_qasm_parse: negative limit in the options (0 means the default)");
    return HQ_OK;
}

/* The whole parse; takes ownership of data (may be NULL when src is borrowed). */
static hq_status parse_main(const char *src, size_t len, const char *filename, const char *dir,
                            const hq_qasm_options *opt, char *data, hq_circuit **out) {
    parser P_, *P = &P_;
    memset(P, 0, sizeof *P);
    hq_qasm_options o = opt ? *opt : (hq_qasm_options){0};
    P->forced = o.version;
    P->max_qubits = o.max_qubits ? o.max_qubits : HQ_QASM_DEFAULT_MAX_QUBITS;
    if (P->max_qubits > (1 << 24)) P->max_qubits = 1 << 24; /* circuit IR register limit */
    P->max_ops = o.max_ops ? o.max_ops : HQ_QASM_DEFAULT_MAX_OPS;
    /* the recursion depths and the line counter stay safe whatever the options say */
    P->max_inc = o.max_include_depth ? o.max_include_depth : HQ_QASM_DEFAULT_MAX_INCLUDE_DEPTH;
    P->max_inc = HQ_MIN(P->max_inc, HQ_QASM_CAP_INCLUDE_DEPTH);
    P->max_gdepth = o.max_gate_depth ? o.max_gate_depth : HQ_QASM_DEFAULT_MAX_GATE_DEPTH;
    P->max_gdepth = HQ_MIN(P->max_gdepth, HQ_QASM_CAP_DEPTH);
    P->max_edepth = o.max_expr_depth ? o.max_expr_depth : HQ_QASM_DEFAULT_MAX_EXPR_DEPTH;
    P->max_edepth = HQ_MIN(P->max_edepth, HQ_QASM_CAP_DEPTH);
    P->max_bytes = o.max_bytes ? o.max_bytes : HQ_QASM_DEFAULT_MAX_BYTES;
    P->max_bytes = HQ_MIN(P->max_bytes, (size_t)HQ_QASM_CAP_BYTES);
    P->cond_creg = -1;
    P->expand_gate = -1;
    P->file = -1;
    P->lenient = o.lenient;
    hq_status st = HQ_OK;
    int f = add_file(P, filename, dir, NULL, data); /* owns data from here on */
    if (f < 0 || hq_circuit_create(&P->c) != HQ_OK) st = oom(P);
    if (!st) P->file = f;
    /* the expansion stacks always exist (pointers into them are formed even when empty) */
    if (!st && (!GROW(P, P->vstack, P->cap_v, 16) || !GROW(P, P->qstack, P->cap_q, 16) ||
                !GROW(P, P->estack, P->cap_e, 16) || !GROW(P, P->tmp, P->cap_tmp, 16)))
        st = P->st;
    if (!st && len > P->max_bytes)
        st = budget(P, 1, 1, "the source is %zu bytes, more than %zu (hq_qasm_options.max_bytes)",
                    len, P->max_bytes);
    if (!st) {
        qasm_lex_init(&P->lx, src, len);
        P->t.line = 1;
        P->t.col = 1;
        st = advance(P);
    }
    if (!st) st = parse_header(P);
    if (!st) {
        P->lx.pragmas = P->version == 3;
        st = add_table_gate(P, "U", HQ_GATE_U, false);
        if (!st && P->version == 2) st = add_table_gate(P, "CX", HQ_GATE_CX, false);
        if (!st && P->version == 3 && !P->has_nx)
            st = scan_physical(P, P->lx.p, (size_t)(P->lx.end - P->lx.p));
    }
    if (!st) st = parse_statements(P, false);
    if (st) {
        parser_free(P);
        return st;
    }
    if (P->n_dropped)
        HQ_LOGW("%s: dropped %lld measure statement(s) naming undeclared registers (first on "
                "line %d; lenient mode)",
                filename, (long long)P->n_dropped, P->drop_line);
    *out = P->c;
    P->c = NULL;
    parser_free(P);
    return HQ_OK;
}

/* ==== public API ======================================================================= */

hq_status hq_qasm_parse(const char *src, size_t len, const char *filename,
                        const hq_qasm_options *opt, hq_circuit **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_parse: out is NULL");
    *out = NULL;
    if (!src && len) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_parse: src is NULL");
    hq_status st = check_options(opt);
    if (st) return st;
    const char *dir = opt && opt->include_dir ? opt->include_dir : "";
    return parse_main(src ? src : "", len, filename ? filename : "<string>", dir, opt, NULL, out);
}

hq_status hq_qasm_parse_string(const char *src, size_t len, const char *filename,
                               const char *include_dir, hq_circuit **out) {
    hq_qasm_options o = {0};
    o.include_dir = include_dir;
    return hq_qasm_parse(src, len, filename, &o, out);
}

hq_status hq_qasm_parse_file_opt(const char *path, const hq_qasm_options *opt, hq_circuit **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_parse_file: out is NULL");
    *out = NULL;
    if (!path) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_qasm_parse_file: path is NULL");
    hq_status st = check_options(opt);
    if (st) return st;
    size_t max = opt && opt->max_bytes ? opt->max_bytes : HQ_QASM_DEFAULT_MAX_BYTES;
    max = HQ_MIN(max, (size_t)HQ_QASM_CAP_BYTES);
    char *data;
    size_t len;
    st = hq_file_read(path, max, &data, &len);
    if (st == HQ_ERR_INVALID_ARG)
        return hq_failf(NULL, HQ_ERR_BUDGET,
                        "hq_qasm_parse_file: '%s' is larger than %zu bytes "
                        "(hq_qasm_options.max_bytes)",
                        path, max);
    if (st) return hq_fail_prefix(NULL, st, "hq_qasm_parse_file: ");
    char dir[4096];
    if (opt && opt->include_dir)
        snprintf(dir, sizeof dir, "%s", opt->include_dir);
    else
        hq_path_dirname(dir, sizeof dir, path);
    return parse_main(data, len, path, dir, opt, data, out);
}

hq_status hq_qasm_parse_file(const char *path, hq_circuit **out) {
    return hq_qasm_parse_file_opt(path, NULL, out);
}
