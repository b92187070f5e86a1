/*
 * backends/qasm_lex.c — the OpenQASM 2/3 lexer: turns source bytes into tokens with
 * line:column positions. Comments (line and block), whitespace and #pragma lines are skipped
 * here; what a token means is the parser's business (qasm_parse.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm_impl.h"

#define MAX_NUMBER_LEN 512 /* bytes of one numeric literal */

void qasm_lex_init(qasm_lexer *lx, const char *src, size_t len) {
    lx->p = src;
    lx->end = src + len;
    lx->bol = src;
    lx->line = 1;
    lx->pragmas = false;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident_start(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident(int c) { return is_ident_start(c) || is_digit(c); }

static void newline(qasm_lexer *lx, const char *after) {
    lx->line++;
    lx->bol = after;
}

static void set_tok(qasm_lexer *lx, qasm_token *t, qasm_tok k, const char *s, size_t len) {
    t->kind = k;
    t->s = s;
    t->len = (uint32_t)len;
    t->line = lx->line;
    t->col = (int)(s - lx->bol) + 1;
}

static void lex_error(qasm_lexer *lx, qasm_token *t, const char *at, int line, const char *bol,
                      const char *msg) {
    t->kind = QT_ERROR;
    t->s = msg;
    t->len = (uint32_t)strlen(msg);
    t->line = line;
    t->col = (int)(at - bol) + 1;
    lx->p = lx->end; /* stop: every further call returns EOF-like errors */
}

static bool at_line_start(const char *bol, const char *p) {
    for (const char *q = bol; q < p; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r') return false;
    return true;
}

/* Skip whitespace, comments and #pragma / #... directive lines. Returns false (with *t set
 * to QT_ERROR) on an unterminated block comment. */
static bool skip_space(qasm_lexer *lx, qasm_token *t) {
    const char *p = lx->p, *end = lx->end;
    for (;;) {
        while (p < end) {
            char c = *p;
            if (c == '\n') {
                p++;
                newline(lx, p);
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
                p++;
            } else {
                break;
            }
        }
        if (p + 1 < end && p[0] == '/' && p[1] == '/') {
            while (p < end && *p != '\n') p++;
            continue;
        }
        if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            const char *start = p, *sbol = lx->bol;
            int sline = lx->line;
            p += 2;
            for (;;) {
                if (p >= end) {
                    lx->p = p;
                    lex_error(lx, t, start, sline, sbol,
                              "unterminated /* comment (no closing */ before the end of the file)");
                    return false;
                }
                if (p + 1 < end && p[0] == '*' && p[1] == '/') {
                    p += 2;
                    break;
                }
                if (*p == '\n') newline(lx, p + 1);
                p++;
            }
            continue;
        }
        /* #pragma (OpenQASM 3): a directive for other compilers, ignored to end of line */
        if (lx->pragmas && p < end && *p == '#' && at_line_start(lx->bol, p)) {
            while (p < end && *p != '\n') p++;
            continue;
        }
        break;
    }
    lx->p = p;
    return true;
}

/* Scan a number starting at p (a digit, or '.' followed by a digit). */
static void lex_number(qasm_lexer *lx, qasm_token *t) {
    const char *s = lx->p, *p = s, *end = lx->end;
    bool real = false;
    while (p < end && is_digit(*p)) p++;
    if (p < end && *p == '.') {
        real = true;
        p++;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q < end && is_digit(*q)) {
            real = true;
            p = q;
            while (p < end && is_digit(*p)) p++;
        }
    }
    size_t len = (size_t)(p - s);
    if (len >= MAX_NUMBER_LEN) {
        lex_error(lx, t, s, lx->line, lx->bol, "numeric literal too long (512 characters or more)");
        return;
    }
    set_tok(lx, t, real ? QT_REAL : QT_INT, s, len);
    t->big = false;
    t->u = 0;
    if (!real) {
        uint64_t u = 0;
        for (const char *q = s; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (u > (UINT64_MAX - d) / 10) {
                t->big = true;
                break;
            }
            u = u * 10 + d;
        }
        t->u = t->big ? 0 : u;
    }
    if (!real && !t->big && t->u < (1ull << 53)) {
        t->num = (double)t->u;
    } else {
        char buf[MAX_NUMBER_LEN];
        memcpy(buf, s, len);
        buf[len] = '\0';
        t->num = strtod(buf, NULL);
    }
    lx->p = p;
}

void qasm_lex_next(qasm_lexer *lx, qasm_token *t) {
    t->num = 0;
    t->u = 0;
    t->big = false;
    if (!skip_space(lx, t)) return;
    const char *p = lx->p, *end = lx->end;
    if (p >= end) {
        set_tok(lx, t, QT_EOF, p, 0);
        return;
    }
    unsigned char c = (unsigned char)*p;
    if (is_ident_start(c)) {
        const char *s = p;
        while (p < end && is_ident((unsigned char)*p)) p++;
        set_tok(lx, t, QT_IDENT, s, (size_t)(p - s));
        lx->p = p;
        return;
    }
    if (is_digit(c) || (c == '.' && p + 1 < end && is_digit((unsigned char)p[1]))) {
        lex_number(lx, t);
        return;
    }
    if (c == '"' || c == '\'') {
        const char *s = p++;
        while (p < end && *p != (char)c && *p != '\n') p++;
        if (p >= end || *p != (char)c) {
            lex_error(lx, t, s, lx->line, lx->bol,
                      "unterminated string (no closing quote on the same line)");
            return;
        }
        set_tok(lx, t, QT_STRING, s + 1, (size_t)(p - s - 1));
        t->col = (int)(s - lx->bol) + 1;
        lx->p = p + 1;
        return;
    }
    if (c == '$') {
        const char *s = p++;
        if (p >= end || !is_digit((unsigned char)*p)) {
            lex_error(lx, t, s, lx->line, lx->bol,
                      "expected a physical qubit number after '$' (as in $0)");
            return;
        }
        uint64_t u = 0;
        bool big = false;
        while (p < end && is_digit((unsigned char)*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (u > (UINT64_MAX - d) / 10) big = true;
            if (!big) u = u * 10 + d;
            p++;
        }
        set_tok(lx, t, QT_HWQUBIT, s, (size_t)(p - s));
        t->u = big ? 0 : u;
        t->big = big;
        lx->p = p;
        return;
    }
    /* UTF-8 constants of OpenQASM 3: pi (U+03C0), tau (U+03C4), euler (U+212F) */
    if (c == 0xCF && p + 1 < end && ((unsigned char)p[1] == 0x80 || (unsigned char)p[1] == 0x84)) {
        set_tok(lx, t, QT_CONST, p, 2);
        t->num = (unsigned char)p[1] == 0x80 ? M_PI : 2 * M_PI;
        lx->p = p + 2;
        return;
    }
    if (c == 0xE2 && p + 2 < end && (unsigned char)p[1] == 0x84 && (unsigned char)p[2] == 0xAF) {
        set_tok(lx, t, QT_CONST, p, 3);
        t->num = M_E;
        lx->p = p + 3;
        return;
    }
    qasm_tok k = QT_OTHER;
    size_t n = 1;
    switch (c) {
    case ';': k = QT_SEMI; break;
    case ',': k = QT_COMMA; break;
    case '(': k = QT_LPAREN; break;
    case ')': k = QT_RPAREN; break;
    case '[': k = QT_LBRACKET; break;
    case ']': k = QT_RBRACKET; break;
    case '{': k = QT_LBRACE; break;
    case '}': k = QT_RBRACE; break;
    case '+': k = QT_PLUS; break;
    case '^': k = QT_CARET; break;
    case '/': k = QT_SLASH; break;
    case '@': k = QT_AT; break;
    case ':': k = QT_COLON; break;
    case '-':
        k = QT_MINUS;
        if (p + 1 < end && p[1] == '>') k = QT_ARROW, n = 2;
        break;
    case '=':
        k = QT_EQ;
        if (p + 1 < end && p[1] == '=') k = QT_EQEQ, n = 2;
        break;
    case '*':
        k = QT_STAR;
        if (p + 1 < end && p[1] == '*') k = QT_POW, n = 2;
        break;
    default:
        if (c < 0x20 || c >= 0x7F) {
            static const char *const msg = "invalid character in the source (control or non-ASCII "
                                           "byte; only ASCII text is allowed outside comments)";
            lex_error(lx, t, p, lx->line, lx->bol, msg);
            return;
        }
        break;
    }
    set_tok(lx, t, k, p, n);
    lx->p = p + n;
}
