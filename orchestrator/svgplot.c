/*
 * orchestrator/svgplot.c — line / scatter and grouped bar charts as inline SVG (axes,
 * linear and log ticks, grid, legend, markers, error bars). See svgplot.h.
 */
#include "orchestrator/svgplot.h"

#include <math.h>
#include <string.h>

/* ==== small helpers ==================================================================== */

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#b07aa1", "#edc948", "#ff9da7", "#9c755f", "#79706e"};

const char *hq_plot_color(int i) {
    int n = (int)HQ_ARRAY_LEN(palette);
    return palette[((i % n) + n) % n];
}

void hq_xml_escape(hq_sbuf *out, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': hq_sbuf_puts(out, "&amp;"); break;
        case '<': hq_sbuf_puts(out, "&lt;"); break;
        case '>': hq_sbuf_puts(out, "&gt;"); break;
        case '"': hq_sbuf_puts(out, "&quot;"); break;
        default: hq_sbuf_putc(out, *s);
        }
    }
}

hq_plot hq_plot_defaults(void) {
    hq_plot p;
    memset(&p, 0, sizeof p);
    p.width = 640;
    p.height = 400;
    p.xmin = p.xmax = p.ymin = p.ymax = NAN;
    return p;
}

/* 1, 2 or 5 times a power of ten, >= raw. */
static double nice_step(double raw) {
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double e = pow(10, floor(log10(raw))), f = raw / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

/* A linear or log axis. */
typedef struct axis {
    bool log;
    double lo, hi; /* data range (log: of the values, not the logs) */
    double p0, p1; /* pixel positions of lo and hi */
    double step;   /* linear tick step */
} axis;

static double to_px(const axis *a, double v) {
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
                      : (v - a->lo) / (a->hi - a->lo);
    return a->p0 + t * (a->p1 - a->p0);
}

static bool usable(const axis *a, double v) { return isfinite(v) && (!a->log || v > 0); }

/* Fix the range from data [dmin, dmax] (NAN if none) and the requested [rlo, rhi]. */
static hq_status axis_range(axis *a, double dmin, double dmax, double rlo, double rhi,
                            const char *which) {
    double lo = isnan(rlo) ? dmin : rlo, hi = isnan(rhi) ? dmax : rhi;
    if (isnan(lo) || isnan(hi)) lo = a->log ? 1 : 0, hi = a->log ? 10 : 1;
    if (a->log) {
        if (!(lo > 0) || !(hi > 0) || !isfinite(lo) || !isfinite(hi))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_svgplot: the %s axis is logarithmic but its range [%g, %g] is "
                            "not positive",
                            which, lo, hi);
        if (isnan(rlo)) lo = pow(10, floor(log10(lo) + 1e-9));
        if (isnan(rhi)) hi = pow(10, ceil(log10(hi) - 1e-9));
        if (hi <= lo) hi = lo * 10;
    } else {
        if (!isfinite(lo) || !isfinite(hi))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_svgplot: the %s range is not finite",
                            which);
        if (hi == lo) {
            double d = lo == 0 ? 0.5 : fabs(lo) * 0.1;
            if (isnan(rlo)) lo -= d;
            if (isnan(rhi)) hi += d;
            if (hi == lo) hi = lo + 1;
        }
        a->step = nice_step((hi - lo) / 5);
        if (isnan(rlo)) lo = floor(lo / a->step + 1e-9) * a->step;
        if (isnan(rhi)) hi = ceil(hi / a->step - 1e-9) * a->step;
    }
    if (!(hi > lo))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_svgplot: empty %s range [%g, %g]", which, lo,
                        hi);
    a->lo = lo;
    a->hi = hi;
    if (!a->log) a->step = nice_step((hi - lo) / 5);
    return HQ_OK;
}

static void fmt_tick(const axis *a, double v, char *buf, size_t cap) {
    if (a->log) {
        int k = (int)lround(log10(v));
        if (k >= -3 && k <= 4)
            snprintf(buf, cap, "%g", pow(10, k));
        else
            snprintf(buf, cap, "1e%d", k);
        return;
    }
    int dec = (int)HQ_MAX(0.0, -floor(log10(a->step) + 1e-9));
    if (fabs(v) < a->step * 1e-9) v = 0;
    snprintf(buf, cap, "%.*f", dec, v);
}

/* Ticks (value, major?) of an axis into t (cap entries); returns the count. */
static int axis_ticks(const axis *a, double *t, bool *major, int cap) {
    int n = 0;
    if (a->log) {
        int k0 = (int)floor(log10(a->lo) + 1e-9), k1 = (int)ceil(log10(a->hi) - 1e-9);
        int span = k1 - k0, every = span > 10 ? (span + 9) / 10 : 1;
        for (int k = k0; k <= k1 && n < cap; k++)
            for (int m = 1; m <= 9 && n < cap; m++) {
                double v = m * pow(10, k);
                if (v < a->lo * (1 - 1e-9) || v > a->hi * (1 + 1e-9)) continue;
                if (m > 1 && span > 6) continue;
                t[n] = v;
                major[n] = m == 1 && (k - k0) % every == 0;
                n++;
            }
        return n;
    }
    double s = a->step;
    for (double v = ceil(a->lo / s - 1e-9) * s; v <= a->hi + s * 1e-9 && n < cap; v += s) {
        t[n] = v;
        major[n] = true;
        n++;
    }
    return n;
}

static void text(hq_sbuf *b, double x, double y, const char *anchor, int size, const char *extra,
                 const char *s) {
    hq_sbuf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y,
                   anchor, size, extra ? extra : "");
    hq_xml_escape(b, s);
    hq_sbuf_puts(b, "</text>");
}

static void marker(hq_sbuf *b, int shape, double x, double y, const char *color) {
    switch (shape % 4) {
    case 0:
        hq_sbuf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"/>", x, y, color);
        break;
    case 1:
        hq_sbuf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"7\" height=\"7\" fill=\"%s\"/>",
                       x - 3.5, y - 3.5, color);
        break;
    case 2:
        hq_sbuf_printf(b, "<path d=\"M%.2f %.2fl4.2 7.2h-8.4z\" fill=\"%s\"/>", x, y - 4.6, color);
        break;
    default:
        hq_sbuf_printf(b, "<path d=\"M%.2f %.2fl4.2 4.2l-4.2 4.2l-4.2 -4.2z\" fill=\"%s\"/>", x,
                       y - 4.2, color);
    }
}

/* Frame, grid, ticks, labels and title of a chart. */
static void frame(hq_sbuf *b, const axis *ax, const axis *ay, bool xticks, const char *title,
                  const char *xlabel, const char *ylabel, double width, double height) {
    double x0 = ax->p0, x1 = ax->p1, y0 = ay->p0, y1 = ay->p1; /* y0 bottom, y1 top */
    hq_sbuf_printf(b,
                   "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fff\" "
                   "stroke=\"#333\"/>",
                   x0, y1, x1 - x0, y0 - y1);
    double t[256];
    bool major[256];
    char lab[64];
    int n = axis_ticks(ay, t, major, 256);
    for (int i = 0; i < n; i++) {
        double y = to_px(ay, t[i]);
        hq_sbuf_printf(b,
                       "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                       "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>",
                       x0, y, x1, y, major[i] ? "#e3e3e3" : "#f2f2f2", x0 - (major[i] ? 5 : 3), y,
                       x0, y);
        if (major[i]) {
            fmt_tick(ay, t[i], lab, sizeof lab);
            text(b, x0 - 8, y + 4, "end", 11, NULL, lab);
        }
    }
    if (xticks) {
        n = axis_ticks(ax, t, major, 256);
        for (int i = 0; i < n; i++) {
            double x = to_px(ax, t[i]);
            hq_sbuf_printf(b,
                           "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>"
                           "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                           "stroke=\"#333\"/>",
                           x, y0, x, y1, major[i] ? "#e3e3e3" : "#f2f2f2", x, y0, x,
                           y0 + (major[i] ? 5 : 3));
            if (major[i]) {
                fmt_tick(ax, t[i], lab, sizeof lab);
                text(b, x, y0 + 18, "middle", 11, NULL, lab);
            }
        }
    }
    if (title) text(b, width / 2, 20, "middle", 14, " font-weight=\"bold\"", title);
    if (xlabel) text(b, (x0 + x1) / 2, height - 8, "middle", 12, NULL, xlabel);
    if (ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, " transform=\"rotate(-90 %.2f %.2f)\"", 16.0, (y0 + y1) / 2);
        text(b, 16, (y0 + y1) / 2, "middle", 12, tr, ylabel);
    }
}

static void svg_open(hq_sbuf *b, const char *id, const char *cls, double w, double h,
                     const char *title) {
    hq_sbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\"", cls);
    if (id) {
        hq_sbuf_puts(b, " id=\"");
        hq_xml_escape(b, id);
        hq_sbuf_puts(b, "\"");
    }
    hq_sbuf_printf(b,
                   " width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                   "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
                   w, h, w, h);
    if (title) {
        hq_sbuf_puts(b, "<title>");
        hq_xml_escape(b, title);
        hq_sbuf_puts(b, "</title>");
    }
}

/* Legend at (x, y) downwards; entries with a name only. */
static void legend_entry(hq_sbuf *b, double x, double y, int i, const char *name, bool line,
                         bool dashed, bool mark, bool box) {
    const char *c = hq_plot_color(i);
    if (box) {
        hq_sbuf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"14\" height=\"10\" fill=\"%s\"/>", x,
                       y - 9, c);
    } else {
        if (line)
            hq_sbuf_printf(b,
                           "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                           "stroke-width=\"2\"%s/>",
                           x, y - 4, x + 22, y - 4, c, dashed ? " stroke-dasharray=\"5 3\"" : "");
        if (mark) marker(b, i, x + 11, y - 4, c);
    }
    text(b, x + 28, y, "start", 11, NULL, name);
}

/* ==== line charts ====================================================================== */

hq_status hq_svgplot_lines(const hq_plot *p, hq_sbuf *out) {
    if (!p || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_svgplot_lines: NULL argument");
    if (p->n_series < 0 || p->n_series > HQ_PLOT_MAX_SERIES || (p->n_series && !p->series))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_svgplot_lines: n_series = %d; valid range [0, %d] with series set",
                        p->n_series, HQ_PLOT_MAX_SERIES);
    double W = p->width > 0 ? p->width : 640, H = p->height > 0 ? p->height : 400;
    axis ax = {.log = p->xlog}, ay = {.log = p->ylog};
    double xmn = NAN, xmx = NAN, ymn = NAN, ymx = NAN;
    int named = 0;
    size_t longest = 0;
    for (int s = 0; s < p->n_series; s++) {
        const hq_plot_series *S = &p->series[s];
        if (S->name) longest = HQ_MAX(longest, strlen(S->name));
        if (S->n < 0 || (S->n > 0 && (!S->x || !S->y)))
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "hq_svgplot_lines: series %d has n = %d points but no x / y arrays", s,
                            S->n);
        if (S->name && *S->name) named++;
        for (int i = 0; i < S->n; i++) {
            if (!usable(&ax, S->x[i]) || !usable(&ay, S->y[i])) continue;
            xmn = isnan(xmn) ? S->x[i] : fmin(xmn, S->x[i]);
            xmx = isnan(xmx) ? S->x[i] : fmax(xmx, S->x[i]);
            double lo = S->y[i], hi = S->y[i];
            if (S->ylo && usable(&ay, S->ylo[i])) lo = fmin(lo, S->ylo[i]);
            if (S->yhi && usable(&ay, S->yhi[i])) hi = fmax(hi, S->yhi[i]);
            ymn = isnan(ymn) ? lo : fmin(ymn, lo);
            ymx = isnan(ymx) ? hi : fmax(ymx, hi);
        }
    }
    if (p->diagonal && !isnan(xmn)) {
        ymn = fmin(ymn, xmn);
        ymx = fmax(ymx, xmx);
    }
    hq_status st = axis_range(&ax, xmn, xmx, p->xmin, p->xmax, "x");
    if (!st) st = axis_range(&ay, ymn, ymx, p->ymin, p->ymax, "y");
    if (st) return st;
    double right = named ? fmin(320, 52 + 6.4 * (double)longest) : 20;
    ax.p0 = 66, ax.p1 = W - right;
    ay.p0 = H - 46, ay.p1 = 34;
    svg_open(out, p->id, "hq-plot", W, H, p->title);
    frame(out, &ax, &ay, true, p->title, p->xlabel, p->ylabel, W, H);
    char clip[160];
    snprintf(clip, sizeof clip, "%s-clip", p->id ? p->id : "hq-plot");
    hq_sbuf_puts(out, "<clipPath id=\"");
    hq_xml_escape(out, clip);
    hq_sbuf_printf(out,
                   "\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath>",
                   ax.p0, ay.p1, ax.p1 - ax.p0, ay.p0 - ay.p1);
    hq_sbuf_puts(out, "<g clip-path=\"url(#");
    hq_xml_escape(out, clip);
    hq_sbuf_puts(out, ")\">");
    if (p->diagonal) {
        double a = fmax(ax.lo, ay.lo), z = fmin(ax.hi, ay.hi);
        if (z > a)
            hq_sbuf_printf(out,
                           "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#999\" "
                           "stroke-dasharray=\"4 4\"/>",
                           to_px(&ax, a), to_px(&ay, a), to_px(&ax, z), to_px(&ay, z));
    }
    for (int s = 0; s < p->n_series; s++) {
        const hq_plot_series *S = &p->series[s];
        const char *c = hq_plot_color(s);
        hq_sbuf_puts(out, "<g class=\"series\" data-name=\"");
        hq_xml_escape(out, S->name ? S->name : "");
        hq_sbuf_puts(out, "\">");
        if (S->line) {
            bool open = false;
            for (int i = 0; i <= S->n; i++) {
                bool ok = i < S->n && usable(&ax, S->x[i]) && usable(&ay, S->y[i]);
                if (ok) {
                    if (!open)
                        hq_sbuf_printf(out,
                                       "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                                       "points=\"",
                                       c, S->dashed ? " stroke-dasharray=\"6 4\"" : "");
                    hq_sbuf_printf(out, "%s%.2f,%.2f", open ? " " : "", to_px(&ax, S->x[i]),
                                   to_px(&ay, S->y[i]));
                    open = true;
                } else if (open) {
                    hq_sbuf_puts(out, "\"/>");
                    open = false;
                }
            }
        }
        for (int i = 0; i < S->n; i++) {
            if (!usable(&ax, S->x[i]) || !usable(&ay, S->y[i])) continue;
            double x = to_px(&ax, S->x[i]);
            if (S->ylo && S->yhi && isfinite(S->ylo[i]) && isfinite(S->yhi[i])) {
                double ylo = usable(&ay, S->ylo[i]) ? to_px(&ay, S->ylo[i]) : ay.p0;
                double yhi = usable(&ay, S->yhi[i]) ? to_px(&ay, S->yhi[i]) : ay.p0;
                hq_sbuf_printf(out,
                               "<path class=\"errorbar\" d=\"M%.2f %.2fV%.2fM%.2f %.2fh8M%.2f "
                               "%.2fh8\" stroke=\"%s\" stroke-width=\"1.3\" fill=\"none\"/>",
                               x, ylo, yhi, x - 4, ylo, x - 4, yhi, c);
            }
            if (S->markers) {
                hq_sbuf_puts(out, "<g class=\"pt\" data-x=\"");
                hq_sbuf_put_double(out, S->x[i]);
                hq_sbuf_puts(out, "\" data-y=\"");
                hq_sbuf_put_double(out, S->y[i]);
                hq_sbuf_puts(out, "\">");
                marker(out, s, x, to_px(&ay, S->y[i]), c);
                hq_sbuf_puts(out, "</g>");
            }
        }
        hq_sbuf_puts(out, "</g>");
    }
    hq_sbuf_puts(out, "</g>");
    double ly = ay.p1 + 14;
    for (int s = 0; s < p->n_series; s++) {
        const hq_plot_series *S = &p->series[s];
        if (!S->name || !*S->name) continue;
        legend_entry(out, ax.p1 + 14, ly, s, S->name, S->line, S->dashed, S->markers, false);
        ly += 18;
    }
    hq_sbuf_puts(out, "</svg>");
    return hq_sbuf_status(out) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_svgplot_lines: out of memory")
                               : HQ_OK;
}

/* ==== bar charts ======================================================================= */

hq_status hq_svgplot_bars(const hq_bars *b, hq_sbuf *out) {
    if (!b || !out || !b->values || !b->groups || !b->series)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_svgplot_bars: NULL argument");
    if (b->n_groups < 1 || b->n_groups > 256 || b->n_series < 1 || b->n_series > HQ_PLOT_MAX_SERIES)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "hq_svgplot_bars: %d groups x %d series; valid [1, 256] x [1, %d]",
                        b->n_groups, b->n_series, HQ_PLOT_MAX_SERIES);
    double W = b->width > 0 ? b->width : 640, H = b->height > 0 ? b->height : 400;
    double mn = 0, mx = 0;
    int nv = b->n_groups * b->n_series;
    for (int i = 0; i < nv; i++)
        if (isfinite(b->values[i])) mn = fmin(mn, b->values[i]), mx = fmax(mx, b->values[i]);
    axis ax = {0}, ay = {0};
    hq_status st = axis_range(&ay, mn, mx, b->ymin, b->ymax, "value");
    if (st) return st;
    ax.lo = 0, ax.hi = 1, ax.step = 1;
    size_t maxlab = 0;
    for (int g = 0; g < b->n_groups; g++)
        maxlab = HQ_MAX(maxlab, strlen(b->groups[g] ? b->groups[g] : ""));
    size_t longest = 0;
    for (int s = 0; s < b->n_series; s++)
        longest = HQ_MAX(longest, strlen(b->series[s] ? b->series[s] : ""));
    double right = fmin(320, 52 + 6.4 * (double)longest);
    ax.p0 = 66, ax.p1 = W - right;
    double gw = (ax.p1 - ax.p0) / b->n_groups;
    bool rotate = maxlab * 6.6 > gw;
    ay.p0 = H - (rotate ? 30 + fmin(120, maxlab * 4.8) : 46), ay.p1 = 34;
    svg_open(out, b->id, "hq-plot hq-bars", W, H, b->title);
    frame(out, &ax, &ay, false, b->title, NULL, b->ylabel, W, H);
    double base = to_px(&ay, fmax(ay.lo, fmin(0, ay.hi)));
    double bw = gw * 0.8 / b->n_series;
    for (int g = 0; g < b->n_groups; g++) {
        double gx = ax.p0 + g * gw + gw * 0.1;
        for (int s = 0; s < b->n_series; s++) {
            double v = b->values[g * b->n_series + s];
            if (!isfinite(v)) continue;
            double y = to_px(&ay, fmin(fmax(v, ay.lo), ay.hi)), x = gx + s * bw;
            hq_sbuf_printf(out,
                           "<rect class=\"bar\" data-group=\"%d\" data-series=\"%d\" "
                           "data-value=\"",
                           g, s);
            hq_sbuf_put_double(out, v);
            hq_sbuf_printf(out,
                           "\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                           "fill=\"%s\"/>",
                           x + 1, fmin(y, base), fmax(bw - 2, 1), fabs(base - y), hq_plot_color(s));
            if (b->value_labels) {
                char lab[32];
                snprintf(lab, sizeof lab, "%.3f", v);
                text(out, x + bw / 2, fmin(y, base) - 3, "middle", 9, NULL, lab);
            }
        }
        double cx = ax.p0 + (g + 0.5) * gw, cy = ay.p0 + 16;
        if (rotate) {
            char tr[96];
            snprintf(tr, sizeof tr, " transform=\"rotate(-30 %.2f %.2f)\"", cx, cy);
            text(out, cx, cy, "end", 11, tr, b->groups[g] ? b->groups[g] : "");
        } else {
            text(out, cx, cy, "middle", 11, NULL, b->groups[g] ? b->groups[g] : "");
        }
    }
    for (int s = 0; s < b->n_series; s++)
        legend_entry(out, ax.p1 + 14, ay.p1 + 14 + 18 * s, s, b->series[s] ? b->series[s] : "",
                     false, false, false, true);
    hq_sbuf_puts(out, "</svg>");
    return hq_sbuf_status(out) ? hq_failf(NULL, HQ_ERR_NOMEM, "hq_svgplot_bars: out of memory")
                               : HQ_OK;
}
