/*
 * backends/qasm_impl.h — internals shared by the OpenQASM lexer (qasm_lex.c), parser
 * (qasm_parse.c), built-in libraries (qasm_lib.c) and writer (qasm_write.c). Not a public
 * header: include backends/qasm.h instead.
 */
#ifndef HQ_QASM_IMPL_H
#define HQ_QASM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/circuit.h"

/* ==== lexer ============================================================================ */

typedef enum qasm_tok {
    QT_EOF = 0,
    QT_ERROR,   /* lexical error: tok.s is the message (static), position is where it starts */
    QT_IDENT,   /* [A-Za-z_][A-Za-z0-9_]* */
    QT_INT,     /* [0-9]+ : tok.u (if !tok.big) and tok.num */
    QT_REAL,    /* 1.5, .5, 1., 1e-3, 2.5E+4 : tok.num */
    QT_STRING,  /* "..." or '...': tok.s/len is the text between the quotes */
    QT_HWQUBIT, /* $N : tok.u (if !tok.big) */
    QT_CONST,   /* UTF-8 pi / tau / euler letters (OpenQASM 3): tok.num */
    QT_SEMI,
    QT_COMMA,
    QT_LPAREN,
    QT_RPAREN,
    QT_LBRACKET,
    QT_RBRACKET,
    QT_LBRACE,
    QT_RBRACE,
    QT_ARROW, /* -> */
    QT_EQEQ,  /* == */
    QT_EQ,    /* = */
    QT_PLUS,
    QT_MINUS,
    QT_STAR,
    QT_SLASH,
    QT_CARET, /* ^ */
    QT_POW,   /* ** */
    QT_AT,    /* @ */
    QT_COLON,
    QT_OTHER, /* any other printable character; the parser reports it as unexpected */
} qasm_tok;

typedef struct qasm_token {
    qasm_tok kind;
    const char *s; /* text in the source (QT_ERROR: the message) */
    uint32_t len;  /* bytes of text */
    int line, col; /* 1-based position of the first byte */
    double num;    /* value of QT_INT / QT_REAL / QT_CONST */
    uint64_t u;    /* value of QT_INT / QT_HWQUBIT when !big */
    bool big;      /* integer does not fit in 64 bits */
} qasm_token;

typedef struct qasm_lexer {
    const char *p, *end; /* cursor and end of the source */
    const char *bol;     /* first byte of the current line */
    int line;            /* current line, 1-based */
    bool pragmas;        /* skip lines starting with '#' (OpenQASM 3 #pragma) */
} qasm_lexer;

void qasm_lex_init(qasm_lexer *lx, const char *src, size_t len);
/* Scan the next token into *t. After QT_EOF or QT_ERROR further calls repeat it. */
void qasm_lex_next(qasm_lexer *lx, qasm_token *t);

/* ==== built-in libraries =============================================================== */

/* One name of a built-in include that maps straight to a gate of the circuit table. */
typedef struct qasm_lib_gate {
    const char *name; /* OpenQASM name */
    hq_gate gate;     /* table gate with the same matrix (up to global phase) */
} qasm_lib_gate;

typedef struct qasm_lib {
    const char *name;         /* include file name ("qelib1.inc") */
    const qasm_lib_gate *map; /* direct mappings */
    int n_map;                /* entries of map */
    const char *defs;         /* OpenQASM 2 gate definitions of the rest ("" if none) */
} qasm_lib;

/* The built-in library called `name`, or NULL. */
const qasm_lib *qasm_lib_find(const char *name, size_t len);

#endif /* HQ_QASM_IMPL_H */
