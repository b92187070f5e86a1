/*
 * orchestrator/svgplot.h — a small, dependency-free SVG chart writer for the study report:
 * line / scatter charts on linear or logarithmic axes (ticks, minor log ticks, grid,
 * legend, markers, error bars, a y = x reference) and grouped bar charts. Output is one
 * <svg> element with inline attributes only (no CSS classes needed, no scripts), with
 * coordinates printed to 0.01 px, so equal inputs give equal bytes.
 *
 *     double x[3] = {100, 1000, 10000}, y[3] = {0.1, 0.03, 0.01};
 *     double lo[3] = {0.08, 0.025, 0.009}, hi[3] = {0.12, 0.035, 0.011};
 *     hq_plot_series s = {.name = "dm", .n = 3, .x = x, .y = y, .ylo = lo, .yhi = hi,
 *                         .line = true, .markers = true};
 *     hq_plot p = hq_plot_defaults();
 *     p.title = "error vs shots"; p.xlog = p.ylog = true; p.series = &s; p.n_series = 1;
 *     hq_svgplot_lines(&p, &buf);
 *
 * Non-finite points are skipped (a gap in the line); on a log axis so are points <= 0.
 * Errors: HQ_ERR_INVALID_ARG (NULL, counts out of range, an empty or invalid axis range),
 * HQ_ERR_NOMEM.
 */
#ifndef HQ_SVGPLOT_H
#define HQ_SVGPLOT_H

#include <stdbool.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_PLOT_MAX_SERIES 64

/* One series of a line chart (arrays borrowed for the call). */
typedef struct hq_plot_series {
    const char *name;  /* legend text (NULL or "" = not in the legend) */
    int n;             /* points, >= 0 */
    const double *x;   /* (n) */
    const double *y;   /* (n) */
    const double *ylo; /* (n) lower end of an error bar per point, or NULL (no bars) */
    const double *yhi; /* (n) upper end, or NULL */
    bool line;         /* join the points */
    bool markers;      /* draw a marker at each point */
    bool dashed;       /* dashed line */
} hq_plot_series;

typedef struct hq_plot {
    const char *id;     /* id attribute of the <svg> (may be NULL) */
    const char *title;  /* drawn above the plot (may be NULL) */
    const char *xlabel; /* axis titles (may be NULL) */
    const char *ylabel;
    int width, height; /* px (defaults 640 x 400) */
    bool xlog, ylog;   /* logarithmic axes (base 10) */
    double xmin, xmax; /* axis range; NAN = from the data (padded, log: whole decades) */
    double ymin, ymax;
    bool diagonal;                /* a dashed y = x reference line */
    const hq_plot_series *series; /* (n_series) borrowed */
    int n_series;                 /* 0..HQ_PLOT_MAX_SERIES */
} hq_plot;

/* Defaults: 640 x 400, linear axes, automatic ranges, nothing else. */
hq_plot hq_plot_defaults(void);

/* Append a line / scatter chart. */
hq_status hq_svgplot_lines(const hq_plot *p, hq_sbuf *out);

/* A grouped bar chart: n_groups groups along x, n_series bars per group. */
typedef struct hq_bars {
    const char *id, *title, *ylabel;
    int width, height;         /* px (0 = 640 x 400) */
    int n_groups;              /* 1..256 */
    const char *const *groups; /* (n_groups) group labels under the axis */
    int n_series;              /* 1..HQ_PLOT_MAX_SERIES */
    const char *const *series; /* (n_series) legend names */
    const double *values;      /* (n_groups, n_series) row-major; NaN = no bar */
    double ymin, ymax;         /* value axis range (NAN = from the data, including 0) */
    bool value_labels;         /* print each value (3 decimals) above its bar */
} hq_bars;

hq_status hq_svgplot_bars(const hq_bars *b, hq_sbuf *out);

/* The i-th colour of the palette ("#1f77b4", ...), cycling. */
const char *hq_plot_color(int i);

/* Append s with XML special characters escaped (&, <, >, "). */
void hq_xml_escape(hq_sbuf *out, const char *s);

#ifdef __cplusplus
}
#endif
#endif /* HQ_SVGPLOT_H */
