/*
 * backends/draw.c — the circuit layout engine (columns, cells) and its two renderers:
 * width-bounded UTF-8 text and SVG. Rules in backends/draw.h and docs/study.md.
 */
#include "backends/draw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ==== labels =========================================================================== */

/* Display width of a UTF-8 string: code points (every symbol used here is one column). */
static int utf8_width(const char *s) {
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

/* Append printf output to buf[*len..cap). */
static void bput(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bput(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (*len >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0) *len = HQ_MIN(*len + (size_t)n, cap - 1);
}

/* A constant: a multiple of π/d (d <= 16) as "π", "-π/2", "3π/4"; else %.4g. */
static void fmt_const(double v, bool turns, bool lead_sign, char *buf, size_t cap, size_t *len) {
    const char *plus = lead_sign ? "+" : "";
    if (v == 0) {
        bput(buf, cap, len, "%s0", plus);
        return;
    }
    if (!turns && isfinite(v)) {
        static const int dens[] = {1, 2, 3, 4, 6, 8, 12, 16};
        for (size_t i = 0; i < HQ_ARRAY_LEN(dens); i++) {
            int d = dens[i];
            double num = round(v * d / M_PI);
            if (num == 0 || fabs(num) > 64.0 * d) continue;
            if (fabs(v - num * M_PI / d) > 1e-9 * fmax(1, fabs(v))) continue;
            long n = (long)num;
            const char *sign = n < 0 ? "-" : plus;
            long an = n < 0 ? -n : n;
            if (an == 1)
                bput(buf, cap, len, "%sπ", sign);
            else
                bput(buf, cap, len, "%s%ldπ", sign, an);
            if (d > 1) bput(buf, cap, len, "/%d", d);
            return;
        }
    }
    bput(buf, cap, len, lead_sign && v > 0 ? "+%.4g" : "%.4g", v);
}

static void fmt_angle(const hq_circuit *c, hq_angle a, bool turns, char *buf, size_t cap,
                      size_t *len) {
    for (int t = 0; t < a.n; t++) {
        const char *name = hq_circuit_symbol_name(c, a.sym[t]);
        if (!name) name = "?";
        double k = a.coef[t];
        const char *sign = k < 0 ? "-" : (t > 0 ? "+" : "");
        double ak = fabs(k);
        if (ak == 1)
            bput(buf, cap, len, "%s%s", sign, name);
        else
            bput(buf, cap, len, "%s%.4g*%s", sign, ak, name);
    }
    if (a.n == 0)
        fmt_const(a.c, turns, false, buf, cap, len);
    else if (a.c != 0)
        fmt_const(a.c, turns, true, buf, cap, len);
}

/* Box name of a gate: for controlled gates, the base gate. */
static const char *box_name(hq_gate g) {
    switch (g) {
    case HQ_GATE_ID: return "I";
    case HQ_GATE_X:
    case HQ_GATE_CX:
    case HQ_GATE_CCX: return "X";
    case HQ_GATE_Y:
    case HQ_GATE_CY: return "Y";
    case HQ_GATE_Z:
    case HQ_GATE_CZ: return "Z";
    case HQ_GATE_H:
    case HQ_GATE_CH: return "H";
    case HQ_GATE_S: return "S";
    case HQ_GATE_SDG: return "S†";
    case HQ_GATE_T: return "T";
    case HQ_GATE_TDG: return "T†";
    case HQ_GATE_SX:
    case HQ_GATE_CSX: return "√X";
    case HQ_GATE_SXDG: return "√X†";
    case HQ_GATE_RX:
    case HQ_GATE_CRX: return "RX";
    case HQ_GATE_RY:
    case HQ_GATE_CRY: return "RY";
    case HQ_GATE_RZ:
    case HQ_GATE_CRZ: return "RZ";
    case HQ_GATE_P:
    case HQ_GATE_CP: return "P";
    case HQ_GATE_U1:
    case HQ_GATE_CU1: return "U1";
    case HQ_GATE_U2: return "U2";
    case HQ_GATE_U3:
    case HQ_GATE_CU3: return "U3";
    case HQ_GATE_U:
    case HQ_GATE_CU: return "U";
    case HQ_GATE_GPI: return "GPI";
    case HQ_GATE_GPI2: return "GPI2";
    case HQ_GATE_SWAP:
    case HQ_GATE_CSWAP: return "SWAP";
    case HQ_GATE_ISWAP: return "iSWAP";
    case HQ_GATE_ECR: return "ECR";
    case HQ_GATE_RXX: return "RXX";
    case HQ_GATE_RYY: return "RYY";
    case HQ_GATE_RZZ: return "RZZ";
    case HQ_GATE_MS: return "MS";
    case HQ_GATE_MEASURE: return "M";
    case HQ_GATE_RESET: return "|0>";
    case HQ_GATE_BARRIER: return "░";
    default: return "?";
    }
}

/* Number of leading control operands drawn as ● (the rest get the base gate). */
static int n_controls(hq_gate g) {
    switch (g) {
    case HQ_GATE_CX:
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
    case HQ_GATE_CU:
    case HQ_GATE_CSWAP: return 1;
    case HQ_GATE_CCX: return 2;
    default: return 0;
    }
}

#define LABEL_CAP 192

/* "RY(π/2)" etc. into buf (cap >= 8), cut on a code point boundary with "…" if longer. */
static void op_label(const hq_circuit *c, const hq_op *op, char *buf, size_t cap) {
    char full[1024];
    size_t len = 0;
    full[0] = 0;
    const hq_gate_info *gi = hq_gate_get_info((hq_gate)op->gate);
    bput(full, sizeof full, &len, "%s", box_name((hq_gate)op->gate));
    if (gi && gi->np) {
        bput(full, sizeof full, &len, "(");
        for (int k = 0; k < op->np; k++) {
            if (k) bput(full, sizeof full, &len, ",");
            fmt_angle(c, hq_circuit_angle(c, op->p[k]), gi->turns, full, sizeof full, &len);
        }
        bput(full, sizeof full, &len, ")");
    }
    len = strlen(full);
    if (len < cap) {
        memcpy(buf, full, len + 1);
        return;
    }
    size_t cut = cap - 4; /* room for the 3-byte ellipsis and the NUL */
    while (cut > 0 && ((unsigned char)full[cut] & 0xC0) == 0x80) cut--;
    memcpy(buf, full, cut);
    memcpy(buf + cut, "…", 4);
}

hq_status hq_draw_op_label(const hq_circuit *c, int64_t i, char *buf, size_t cap) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (!buf || cap < 8)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: buf is NULL or cap < 8", __func__);
    if (i < 0 || i >= hq_circuit_n_ops(c))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: op %lld outside [0, %lld)", __func__,
                        (long long)i, (long long)hq_circuit_n_ops(c));
    op_label(c, &hq_circuit_ops(c)[i], buf, cap);
    return HQ_OK;
}

/* ==== layout =========================================================================== */

typedef struct layout {
    const hq_circuit *c;
    int nq, nc, nw; /* qubit wires, classical-register wires, all wires */
    int nrows;      /* text rows: 2 per wire (wire row 2w, gap / label row 2w+1) */
    int64_t nops;   /* operations */
    int64_t ncols;  /* columns */
    int64_t *col;   /* (nops) column of each op */
    int32_t *cell;  /* (ncols, nrows) offset of the cell's text in pool, -1 = empty */
    int *colw;      /* (ncols) content width in display columns (>= 1) */
    hq_sbuf pool;   /* NUL-separated cell texts */
    char **labels;  /* (nw) wire labels */
    int labw;       /* widest label */
} layout;

static void layout_free(layout *L) {
    hq_free(L->col);
    hq_free(L->cell);
    hq_free(L->colw);
    hq_sbuf_free(&L->pool);
    if (L->labels)
        for (int w = 0; w < L->nw; w++) hq_free(L->labels[w]);
    hq_free(L->labels);
}

/* Classical-register wire of clbit b, -1 if it is in no register. */
static int creg_wire(const layout *L, int32_t b) {
    for (int r = 0; r < L->nc; r++) {
        hq_reg g = hq_circuit_creg(L->c, r);
        if (b >= g.offset && b < g.offset + g.size) return L->nq + r;
    }
    return -1;
}

/* Vertical wire range an op spans. */
static void op_span(const layout *L, const hq_op *op, int *lo, int *hi) {
    int a = 1 << 30, b = -1;
    for (int k = 0; k < op->nq; k++) {
        int q = hq_op_qubit(L->c, op, k);
        a = HQ_MIN(a, q);
        b = HQ_MAX(b, q);
    }
    if (op->gate == HQ_GATE_MEASURE) b = HQ_MAX(b, creg_wire(L, op->clbit));
    if (op->cond_creg >= 0) b = HQ_MAX(b, L->nq + op->cond_creg);
    *lo = a;
    *hi = b;
}

static void put(layout *L, int64_t col, int row, const char *s) {
    if (row < 0 || row >= L->nrows) return;
    L->cell[col * L->nrows + row] = (int32_t)L->pool.len;
    hq_sbuf_append(&L->pool, s, strlen(s) + 1);
}

/* A vertical line in column col from wire a to wire b (a < b), exclusive of both ends. */
static void vline(layout *L, int64_t col, int a, int b, bool classical) {
    for (int r = 2 * a + 1; r < 2 * b; r++) {
        if (L->cell[col * L->nrows + r] >= 0) continue; /* an operand symbol */
        int w = r / 2;
        if (r % 2)
            put(L, col, r, classical ? "║" : "│");
        else if (w < L->nq)
            put(L, col, r, classical ? "╫" : "┼");
        else
            put(L, col, r, classical ? "╬" : "┼");
    }
}

static void fill_op(layout *L, int64_t i) {
    const hq_op *op = &hq_circuit_ops(L->c)[i];
    int64_t col = L->col[i];
    hq_gate g = (hq_gate)op->gate;
    char lab[LABEL_CAP], box[LABEL_CAP + 16];
    op_label(L->c, op, lab, sizeof lab);
    snprintf(box, sizeof box, "[%s]", lab);
    int q[256];
    for (int k = 0; k < op->nq; k++) q[k] = hq_op_qubit(L->c, op, k);
    int lo = 1 << 30, hi = -1;
    for (int k = 0; k < op->nq; k++) lo = HQ_MIN(lo, q[k]), hi = HQ_MAX(hi, q[k]);

    if (g == HQ_GATE_BARRIER) {
        for (int k = 0; k < op->nq; k++) put(L, col, 2 * q[k], "░");
        for (int k = 0; k < op->nq; k++)
            for (int j = 0; j < op->nq; j++)
                if (q[j] == q[k] + 1) put(L, col, 2 * q[k] + 1, "░");
        return;
    }
    int nctl = n_controls(g);
    for (int k = 0; k < op->nq; k++) {
        const char *s = box;
        char sub[LABEL_CAP + 24];
        if (k < nctl) {
            s = "●";
        } else if (g == HQ_GATE_CX || g == HQ_GATE_CCX) {
            s = "⊕";
        } else if (g == HQ_GATE_CZ) {
            s = "●";
        } else if (g == HQ_GATE_SWAP || g == HQ_GATE_CSWAP) {
            s = "×";
        } else if (g == HQ_GATE_ECR || g == HQ_GATE_MS) {
            snprintf(sub, sizeof sub, "[%s%s]", lab, k == 0 ? "₀" : "₁");
            s = sub;
        }
        put(L, col, 2 * q[k], s);
    }
    if (op->nq > 1) vline(L, col, lo, hi, false);
    /* classical line: measurement target and / or condition */
    int mw = g == HQ_GATE_MEASURE ? creg_wire(L, op->clbit) : -1;
    int cw = op->cond_creg >= 0 ? L->nq + op->cond_creg : -1;
    int end = HQ_MAX(mw, cw);
    if (end < 0) return;
    vline(L, col, hi, end, true);
    char txt[64];
    if (mw >= 0 && mw == cw) {
        hq_reg r = hq_circuit_creg(L->c, mw - L->nq);
        put(L, col, 2 * mw, "╩");
        snprintf(txt, sizeof txt, "%d,=%llu", op->clbit - r.offset,
                 (unsigned long long)op->cond_val);
        put(L, col, 2 * mw + 1, txt);
        return;
    }
    if (mw >= 0) {
        hq_reg r = hq_circuit_creg(L->c, mw - L->nq);
        put(L, col, 2 * mw, mw == end ? "╩" : "╬");
        snprintf(txt, sizeof txt, "%d", op->clbit - r.offset);
        put(L, col, 2 * mw + 1, txt);
    }
    if (cw >= 0) {
        put(L, col, 2 * cw, "■");
        snprintf(txt, sizeof txt, "=%llu", (unsigned long long)op->cond_val);
        put(L, col, 2 * cw + 1, txt);
    }
}

static hq_status layout_build(const hq_circuit *c, layout *L) {
    memset(L, 0, sizeof *L);
    L->c = c;
    L->nq = hq_circuit_n_qubits(c);
    L->nc = hq_circuit_n_cregs(c);
    L->nw = L->nq + L->nc;
    L->nrows = 2 * L->nw;
    L->nops = hq_circuit_n_ops(c);
    hq_status st = HQ_ERR_NOMEM;
    int64_t *next = hq_calloc((size_t)HQ_MAX(L->nw, 1), sizeof *next);
    L->col = hq_malloc((size_t)HQ_MAX(L->nops, 1) * sizeof *L->col);
    L->labels = hq_calloc((size_t)HQ_MAX(L->nw, 1), sizeof *L->labels);
    if (!next || !L->col || !L->labels) goto fail;
    /* wire labels */
    for (int r = 0, w = 0; r < hq_circuit_n_qregs(c); r++) {
        hq_reg g = hq_circuit_qreg(c, r);
        for (int i = 0; i < g.size; i++, w++) {
            char b[160];
            if (g.size == 1)
                snprintf(b, sizeof b, "%s", g.name);
            else
                snprintf(b, sizeof b, "%s_%d", g.name, i);
            if (!(L->labels[w] = hq_strdup(b))) goto fail;
        }
    }
    for (int r = 0; r < L->nc; r++)
        if (!(L->labels[L->nq + r] = hq_strdup(hq_circuit_creg(c, r).name))) goto fail;
    for (int w = 0; w < L->nw; w++) L->labw = HQ_MAX(L->labw, utf8_width(L->labels[w]));
    /* columns */
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t i = 0; i < L->nops; i++) {
        int lo, hi;
        op_span(L, &ops[i], &lo, &hi);
        int64_t k = 0;
        for (int w = lo; w <= hi; w++) k = HQ_MAX(k, next[w]);
        for (int w = lo; w <= hi; w++) next[w] = k + 1;
        L->col[i] = k;
        L->ncols = HQ_MAX(L->ncols, k + 1);
    }
    size_t ncells;
    if (!hq_mul_ok((size_t)HQ_MAX(L->ncols, 1), (size_t)HQ_MAX(L->nrows, 1), &ncells)) goto fail;
    L->cell = hq_malloc(ncells * sizeof *L->cell);
    L->colw = hq_malloc((size_t)HQ_MAX(L->ncols, 1) * sizeof *L->colw);
    if (!L->cell || !L->colw) goto fail;
    for (size_t i = 0; i < ncells; i++) L->cell[i] = -1;
    for (int64_t i = 0; i < L->nops; i++) fill_op(L, i);
    if (hq_sbuf_status(&L->pool)) goto fail;
    for (int64_t k = 0; k < L->ncols; k++) {
        int w = 1;
        for (int r = 0; r < L->nrows; r++) {
            int32_t o = L->cell[k * L->nrows + r];
            if (o >= 0) w = HQ_MAX(w, utf8_width(L->pool.p + o));
        }
        L->colw[k] = w;
    }
    hq_free(next);
    return HQ_OK;
fail:
    hq_free(next);
    layout_free(L);
    memset(L, 0, sizeof *L);
    return hq_failf(NULL, st, "hq_draw: out of memory laying out %lld operations",
                    (long long)hq_circuit_n_ops(c));
}

/* ==== text ============================================================================= */

static void put_rep(hq_sbuf *b, const char *s, int n) {
    for (int i = 0; i < n; i++) hq_sbuf_puts(b, s);
}

/* Remove trailing spaces of the line starting at byte `start`, then end it. */
static void end_line(hq_sbuf *b, size_t start) {
    while (b->len > start && b->p[b->len - 1] == ' ') b->p[--b->len] = 0;
    hq_sbuf_putc(b, '\n');
}

static void render_block(const layout *L, int64_t a, int64_t z, hq_sbuf *out) {
    size_t block = out->len;
    int rows = L->nc ? L->nrows : L->nrows - 1;
    for (int r = 0; r < rows; r++) {
        size_t start = out->len;
        int w = r / 2;
        bool wire = r % 2 == 0;
        const char *fill = !wire ? " " : (w < L->nq ? "─" : "═");
        if (wire) {
            int pad = L->labw - utf8_width(L->labels[w]);
            put_rep(out, " ", pad);
            hq_sbuf_puts(out, L->labels[w]);
            hq_sbuf_puts(out, ": ");
        } else {
            put_rep(out, " ", L->labw + 2);
        }
        if (a > 0) hq_sbuf_puts(out, wire ? "«" : " ");
        for (int64_t k = a; k < z; k++) {
            int cw = L->colw[k];
            int32_t o = L->cell[k * L->nrows + r];
            const char *s = o >= 0 ? L->pool.p + o : NULL;
            int sw = s ? utf8_width(s) : 0, left = (cw - sw) / 2;
            hq_sbuf_puts(out, fill);
            put_rep(out, fill, left);
            if (s) hq_sbuf_puts(out, s);
            put_rep(out, fill, cw - sw - left);
            hq_sbuf_puts(out, fill);
        }
        if (L->ncols == 0) hq_sbuf_puts(out, fill);
        if (z < L->ncols && wire) hq_sbuf_puts(out, "»");
        end_line(out, start);
    }
    /* a block ends with its last non-empty row (an empty label row adds nothing) */
    while (out->len >= block + 2 && out->p[out->len - 1] == '\n' && out->p[out->len - 2] == '\n')
        out->p[--out->len] = 0;
}

hq_status hq_draw_text(const hq_circuit *c, int width, hq_sbuf *out) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    if (width != 0 && (width < HQ_DRAW_MIN_WIDTH || width > 1000000))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: width %d; use 0 (no wrapping) or [%d, 1000000] columns", __func__,
                        width, HQ_DRAW_MIN_WIDTH);
    if (hq_circuit_n_qubits(c) + hq_circuit_n_cregs(c) == 0) {
        hq_sbuf_puts(out, "(empty circuit)\n");
        return hq_sbuf_status(out);
    }
    layout L;
    hq_status st = layout_build(c, &L);
    if (st) return st;
    int avail = width ? width - (L.labw + 2) - 2 : 0;
    int64_t a = 0;
    do {
        int64_t z = a;
        int used = 0;
        while (z < L.ncols && (z == a || !width || used + L.colw[z] + 2 <= avail))
            used += L.colw[z++] + 2;
        if (a > 0) hq_sbuf_putc(out, '\n');
        render_block(&L, a, z, out);
        a = z;
    } while (a < L.ncols);
    layout_free(&L);
    return hq_sbuf_status(out) ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__)
                               : HQ_OK;
}

/* ==== SVG ============================================================================== */

#define SVG_CW    7.8  /* px per character (13 px monospace) */
#define SVG_DY    40.0 /* px between wires */
#define SVG_TOP   24.0 /* y of wire 0 */
#define SVG_BOX_H 26.0

static void xml_text(hq_sbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': hq_sbuf_puts(b, "&amp;"); break;
        case '<': hq_sbuf_puts(b, "&lt;"); break;
        case '>': hq_sbuf_puts(b, "&gt;"); break;
        case '"': hq_sbuf_puts(b, "&quot;"); break;
        default: hq_sbuf_putc(b, *s);
        }
    }
}

static double col_px(const layout *L, int64_t k) { return fmax(34, L->colw[k] * SVG_CW + 14); }
static double wire_y(int w) { return SVG_TOP + w * SVG_DY; }

static void svg_box(hq_sbuf *b, double x, double y, const char *text) {
    double w = fmax(26, utf8_width(text) * SVG_CW + 10);
    hq_sbuf_printf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\" "
                   "fill=\"#fff\" stroke=\"#1f3a93\" stroke-width=\"1.5\"/>",
                   x - w / 2, y - SVG_BOX_H / 2, w, SVG_BOX_H);
    hq_sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, y + 4.5);
    xml_text(b, text);
    hq_sbuf_puts(b, "</text>");
}

static void svg_op(const layout *L, int64_t i, const double *xc, hq_sbuf *b) {
    const hq_op *op = &hq_circuit_ops(L->c)[i];
    hq_gate g = (hq_gate)op->gate;
    double x = xc[L->col[i]];
    const hq_gate_info *gi = hq_gate_get_info(g);
    hq_sbuf_printf(b, "<g class=\"op\" data-gate=\"%s\" data-col=\"%lld\">", gi ? gi->name : "?",
                   (long long)L->col[i]);
    int q[256], lo = 1 << 30, hi = -1;
    for (int k = 0; k < op->nq; k++) {
        q[k] = hq_op_qubit(L->c, op, k);
        lo = HQ_MIN(lo, q[k]);
        hi = HQ_MAX(hi, q[k]);
    }
    if (g == HQ_GATE_BARRIER) {
        for (int k = 0; k < op->nq; k++)
            hq_sbuf_printf(b,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"%.1f\" "
                           "fill=\"#bbb\" fill-opacity=\"0.6\"/>",
                           x - 5, wire_y(q[k]) - SVG_DY / 2, SVG_DY);
        hq_sbuf_puts(b, "</g>");
        return;
    }
    int mw = g == HQ_GATE_MEASURE ? creg_wire(L, op->clbit) : -1;
    int cw = op->cond_creg >= 0 ? L->nq + op->cond_creg : -1;
    int end = HQ_MAX(mw, cw);
    if (end >= 0)
        for (int s = -1; s <= 1; s += 2)
            hq_sbuf_printf(b,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                           "stroke=\"#555\" stroke-width=\"1\"/>",
                           x + 1.5 * s, wire_y(hi), x + 1.5 * s, wire_y(end) - (end == mw ? 6 : 0));
    if (op->nq > 1)
        hq_sbuf_printf(b,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f3a93\" "
                       "stroke-width=\"1.5\"/>",
                       x, wire_y(lo), x, wire_y(hi));
    char lab[LABEL_CAP];
    op_label(L->c, op, lab, sizeof lab);
    int nctl = n_controls(g);
    for (int k = 0; k < op->nq; k++) {
        double y = wire_y(q[k]);
        if (k < nctl || (g == HQ_GATE_CZ)) {
            hq_sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1f3a93\"/>", x, y);
        } else if (g == HQ_GATE_CX || g == HQ_GATE_CCX) {
            hq_sbuf_printf(b,
                           "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"10\" fill=\"#fff\" "
                           "stroke=\"#1f3a93\" stroke-width=\"1.5\"/>"
                           "<path d=\"M%.1f %.1fh20M%.1f %.1fv20\" stroke=\"#1f3a93\" "
                           "stroke-width=\"1.5\"/>",
                           x, y, x - 10, y, x, y - 10);
        } else if (g == HQ_GATE_SWAP || g == HQ_GATE_CSWAP) {
            hq_sbuf_printf(b,
                           "<path d=\"M%.1f %.1fl12 12M%.1f %.1fl12 -12\" stroke=\"#1f3a93\" "
                           "stroke-width=\"2\"/>",
                           x - 6, y - 6, x - 6, y + 6);
        } else if (g == HQ_GATE_MEASURE) {
            svg_box(b, x, y, " ");
            hq_sbuf_printf(b,
                           "<path d=\"M%.1f %.1fa8 8 0 0 1 16 0M%.1f %.1fl6 -10\" fill=\"none\" "
                           "stroke=\"#1f3a93\" stroke-width=\"1.5\"/>",
                           x - 8, y + 5, x, y + 5);
        } else {
            char t[LABEL_CAP + 8];
            if (g == HQ_GATE_ECR || g == HQ_GATE_MS)
                snprintf(t, sizeof t, "%s%s", lab, k == 0 ? "₀" : "₁");
            else if (g == HQ_GATE_RESET)
                snprintf(t, sizeof t, "|0⟩");
            else
                snprintf(t, sizeof t, "%s", lab);
            svg_box(b, x, y, t);
        }
    }
    if (mw >= 0) {
        hq_reg r = hq_circuit_creg(L->c, mw - L->nq);
        double y = wire_y(mw);
        hq_sbuf_printf(b,
                       "<path d=\"M%.1f %.1fl5 -7h-10z\" fill=\"#555\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%d"
                       "</text>",
                       x, y, x, y + 14, op->clbit - r.offset);
    }
    if (cw >= 0) {
        double y = wire_y(cw);
        hq_sbuf_printf(b,
                       "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"#555\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">=%llu"
                       "</text>",
                       x - 4, y - 4, x, y + (mw == cw ? 24 : 14), (unsigned long long)op->cond_val);
    }
    hq_sbuf_puts(b, "</g>");
}

hq_status hq_draw_svg(const hq_circuit *c, hq_sbuf *out) {
    HQ_CHECK_HANDLE(c, HQ_MAGIC_CIRCUIT);
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    layout L;
    hq_status st = layout_build(c, &L);
    if (st) return st;
    double *xc = hq_malloc((size_t)HQ_MAX(L.ncols, 1) * sizeof *xc);
    if (!xc) {
        layout_free(&L);
        return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    }
    double x0 = L.labw * SVG_CW + 20, x = x0 + 8;
    for (int64_t k = 0; k < L.ncols; k++) {
        double w = col_px(&L, k);
        xc[k] = x + w / 2;
        x += w;
    }
    double width = x + 16, height = wire_y(HQ_MAX(L.nw, 1) - 1) + (L.nc ? 30 : 24);
    hq_sbuf_printf(out,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"hq-circuit\" "
                   "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                   "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" "
                   "font-size=\"13\" data-qubits=\"%d\" data-ops=\"%lld\" data-columns=\"%lld\">",
                   width, height, width, height, L.nq, (long long)L.nops, (long long)L.ncols);
    for (int w = 0; w < L.nw; w++) {
        double y = wire_y(w);
        hq_sbuf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x0 - 6, y + 4.5);
        xml_text(out, L.labels[w]);
        hq_sbuf_puts(out, "</text>");
        if (w < L.nq)
            hq_sbuf_printf(out,
                           "<line class=\"wire\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                           "stroke=\"#222\" stroke-width=\"1\"/>",
                           x0, y, x + 8, y);
        else
            for (int s = -1; s <= 1; s += 2)
                hq_sbuf_printf(out,
                               "<line class=\"cwire\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                               "y2=\"%.1f\" stroke=\"#555\" stroke-width=\"1\"/>",
                               x0, y + 1.5 * s, x + 8, y + 1.5 * s);
    }
    for (int64_t i = 0; i < L.nops; i++) svg_op(&L, i, xc, out);
    hq_sbuf_puts(out, "</svg>\n");
    hq_free(xc);
    layout_free(&L);
    return hq_sbuf_status(out) ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__)
                               : HQ_OK;
}
