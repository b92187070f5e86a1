/*
 * tests/test_report.c — the study report (orchestrator/report.h) and its SVG charts
 * (orchestrator/svgplot.h): files and numbers against the input JSON (read back with
 * cJSON independently), schema errors, chart geometry, and a real headless Chromium that
 * renders the page and whose DOM must hold the SVG plots and the exact numbers.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orchestrator/report.h"
#include "orchestrator/svgplot.h"
#include "tests/hq_test.h"
#include "tests/xml_check.h"

/* A study document with awkward values: a sum that is not a short decimal, a null AUC,
 * XML and CSV special characters in names, a per-circuit error list, a circuit. */
static const char study_json[] =
    "{\"format\": \"hqcnn-study\", \"version\": 1, \"title\": \"Noise <study> & test\","
    " \"dataset\": \"breastmnist\", \"run\": \"7\", \"created\": \"2026-11-26T12:00:00Z\","
    " \"meta\": {\"device\": \"ibmq_manila\", \"layers\": 2},"
    " \"circuit\": {\"qasm\": \"OPENQASM 2.0;\\ninclude \\\"qelib1.inc\\\";\\nqreg q[3];\\n"
    "creg c[3];\\nh q[0];\\ncx q[0],q[1];\\ncx q[1],q[2];\\nrz(pi/4) q[2];\\nmeasure q -> c;\\n\"},"
    " \"results\": ["
    "  {\"backend\": \"sv\", \"shots\": 0, \"acc\": 0.8717948717948718, \"auc\": "
    "0.9004329004329004,"
    "   \"f1\": 0.9130434782608695, \"expect_error\": {\"mean\": 0, \"sem\": 0, \"n\": 8},"
    "   \"tvd\": 0, \"hellinger_fidelity\": 1, \"jobs\": 0, \"cost\": 0, \"wall_seconds\": 3.25},"
    "  {\"backend\": \"dm:manila\", \"mitigation\": \"none\", \"shots\": 1000, \"acc\": "
    "0.30000000000000004,"
    "   \"auc\": 0.85, \"f1\": 0.86, \"expect_error\": {\"mean\": 0.079, \"sem\": 0.005, \"n\": 3,"
    "   \"per_circuit\": [0.1, -0.07, 0.067]}, \"tvd\": 0.09, \"hellinger_fidelity\": 0.965,"
    "   \"jobs\": 2, \"cost\": 0, \"wall_seconds\": 13},"
    "  {\"backend\": \"dm:manila\", \"mitigation\": \"none\", \"shots\": 10000, \"acc\": 0.84,"
    "   \"auc\": 0.87, \"f1\": 0.88, \"expect_error\": {\"mean\": 0.031, \"sem\": 0.002},"
    "   \"tvd\": 0.05, \"hellinger_fidelity\": 0.99, \"jobs\": 2, \"cost\": 0, \"wall_seconds\": "
    "15},"
    "  {\"backend\": \"dm:manila\", \"mitigation\": \"readout\", \"shots\": 1000, \"acc\": 0.85,"
    "   \"auc\": 0.885, \"f1\": 0.9, \"expect_error\": {\"mean\": 0.02, \"sem\": 0.004},"
    "   \"tvd\": 0.04, \"hellinger_fidelity\": 0.99, \"jobs\": 3, \"cost\": 0, \"wall_seconds\": "
    "13.5},"
    "  {\"backend\": \"emu<&\\\"x\\\">\", \"mitigation\": \"readout,zne\", \"shots\": 1000,"
    "   \"acc\": 0.85, \"auc\": null, \"f1\": 0.89, \"tvd\": null, \"hellinger_fidelity\": null,"
    "   \"jobs\": 12, \"cost\": 4.8, \"wall_seconds\": 290}"
    " ],"
    " \"roc\": ["
    "  {\"backend\": \"sv\", \"fpr\": [0, 0.1, 0.4, 1], \"tpr\": [0, 0.6, 0.9, 1], \"auc\": 0.9},"
    "  {\"backend\": \"dm:manila\", \"fpr\": [0, 0.5, 1], \"tpr\": [0, 0.75, 1]}"
    " ],"
    " \"noise_sweep\": ["
    "  {\"backend\": \"dm:manila\", \"scale\": 0, \"acc\": 0.87, \"auc\": 0.9},"
    "  {\"backend\": \"dm:manila\", \"scale\": 0.5, \"acc\": 0.86, \"auc\": 0.89},"
    "  {\"backend\": \"dm:manila\", \"scale\": 1, \"acc\": 0.84, \"auc\": 0.873},"
    "  {\"backend\": \"dm:manila\", \"scale\": 2, \"acc\": 0.78, \"auc\": null}"
    " ]}";

/* The JSON value a table cell (data-field) of results[row] stands for; NAN for null. */
static double json_field(const cJSON *res, const char *field) {
    const cJSON *v;
    if (!strncmp(field, "expect_error.", 13)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(res, "expect_error");
        v = e ? cJSON_GetObjectItemCaseSensitive(e, field + 13) : NULL;
    } else {
        v = cJSON_GetObjectItemCaseSensitive(res, field);
    }
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Read a data-value (or "null") into *v; returns the char after the closing quote. */
static const char *read_value(const char *p, double *v) {
    if (!strncmp(p, "null\"", 5)) {
        *v = NAN;
        return p + 5;
    }
    char *end;
    *v = strtod(p, &end);
    return *end == '"' ? end + 1 : NULL;
}

/* Every data-value of table#results in html equals the JSON number exactly; returns the
 * number of cells checked (-1 on a structural problem). */
static int check_results_table(const char *html, const cJSON *root) {
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    int n = cJSON_GetArraySize(res), cells = 0;
    const char *t = strstr(html, "<table id=\"results\"");
    if (!t) return -1;
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "<tr id=\"result-%d\"", i);
        const char *r = strstr(t, id), *end = r ? strstr(r, "</tr>") : NULL;
        if (!r || !end) return -1;
        const cJSON *ri = cJSON_GetArrayItem(res, i);
        int seen = 0;
        for (const char *p = r; (p = strstr(p, "data-field=\"")) && p < end;) {
            p += 12;
            const char *q = strchr(p, '"');
            char field[64];
            snprintf(field, sizeof field, "%.*s", (int)(q - p), p);
            if (strncmp(q, "\" data-value=\"", 14) != 0) {
                p = q;
                continue; /* a text cell */
            }
            double v, want = json_field(ri, field);
            const char *nx = read_value(q + 14, &v);
            if (!nx) return -1;
            if (!strcmp(field, "shots") && isnan(want)) want = 0;
            bool same = (isnan(v) && isnan(want)) || v == want;
            HQ_CHECKF(same, "row %d %s: page %.17g, JSON %.17g", i, field, v, want);
            cells++, seen++;
            p = nx;
        }
        HQ_CHECKF(seen == 11, "row %d: %d numeric cells, want 11", i, seen);
    }
    return cells;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* Split a CSV line (no quoted newlines) into fields; returns the count. */
static int csv_split(char *line, char **f, int cap) {
    int n = 0;
    char *p = line;
    while (n < cap) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                *w++ = *p++;
            }
            if (*p == '"') p++;
            if (*p == ',')
                *w = 0, p++;
            else {
                *w = 0;
                break;
            }
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
    }
    return n;
}

HQ_TEST(report_files_and_numbers) {
    const char *dir = hq_test_tmpfile("out/nested");
    HQ_REQUIRE_OK(hq_report_write(study_json, dir));
    cJSON *root = cJSON_Parse(study_json);
    HQ_REQUIRE(root);
    char path[4096], *html, *csv;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, HQ_REPORT_HTML);
    HQ_REQUIRE_OK(hq_file_read(path, 0, &html, &len));
    /* self-contained: no scripts, no loaded resources */
    HQ_CHECK(!strstr(html, "<script") && !strstr(html, "src=") && !strstr(html, "href=") &&
             !strstr(html, "@import") && !strstr(html, "url(http"));
    HQ_CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    HQ_CHECK_EQ_INT(count(html, "<svg "), 5);
    HQ_CHECK_EQ_INT(count(html, "class=\"hq-plot"), 4);
    HQ_CHECK_EQ_INT(count(html, "class=\"hq-circuit\""), 1);
    HQ_CHECK(strstr(html, "Noise &lt;study&gt; &amp; test"));
    HQ_CHECK(strstr(html, "emu&lt;&amp;&quot;x&quot;&gt;"));
    HQ_CHECK_EQ_INT(check_results_table(html, root), 5 * 11);
    /* ROC: the trapezoid area of (0,0) (0.5,0.75) (1,1) = 0.5*0.375 + 0.5*0.875 = 0.625 */
    HQ_CHECK(strstr(html, "data-field=\"auc_trapezoid\" data-value=\"0.625\""));
    HQ_CHECK(strstr(html, "data-field=\"auc\" data-value=\"0.9\""));
    /* bars: one per non-null (group, series); the emulator group has no AUC bar */
    HQ_CHECK_EQ_INT(count(html, "class=\"bar\""), 4 * 3 - 1);
    /* each SVG is well-formed XML on its own */
    for (const char *p = html; (p = strstr(p, "<svg ")); p++) {
        const char *e = strstr(p, "</svg>");
        HQ_REQUIRE(e);
        char *one = hq_strndup(p, (size_t)(e + 6 - p));
        const char *err = hq_test_xml_check(one);
        HQ_CHECKF(err == NULL, "svg: %s", err);
        hq_free(one);
    }
    /* results.csv: the same numbers */
    snprintf(path, sizeof path, "%s/%s", dir, HQ_REPORT_RESULTS_CSV);
    HQ_REQUIRE_OK(hq_file_read(path, 0, &csv, &len));
    char *save = NULL, *line = strtok_r(csv, "\n", &save); /* header */
    HQ_CHECK(line && !strncmp(line, "backend,mitigation,shots,acc,auc", 32));
    const char *cols[] = {"backend",
                          "mitigation",
                          "shots",
                          "acc",
                          "auc",
                          "f1",
                          "expect_error.mean",
                          "expect_error.sem",
                          "expect_error.n",
                          "tvd",
                          "hellinger_fidelity",
                          "jobs",
                          "cost",
                          "wall_seconds"};
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *f[20];
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[l - 1] = 0;
        int nf = csv_split(line, f, 20);
        HQ_REQUIRE(nf == 14);
        const cJSON *ri = cJSON_GetArrayItem(res, rows);
        HQ_REQUIRE(ri);
        HQ_CHECK_STR(f[0], cJSON_GetObjectItemCaseSensitive(ri, "backend")->valuestring);
        for (int k = 2; k < 14; k++) {
            double want = json_field(ri, cols[k]);
            if (k == 2 && isnan(want)) want = 0;
            if (!*f[k])
                HQ_CHECKF(isnan(want), "row %d %s: empty, JSON %g", rows, cols[k], want);
            else
                HQ_CHECKF(strtod(f[k], NULL) == want, "row %d %s: %s vs %.17g", rows, cols[k], f[k],
                          want);
        }
        rows++;
    }
    HQ_CHECK_EQ_INT(rows, 5);
    hq_free(csv);
    /* the other files */
    const char *others[] = {HQ_REPORT_ROC_CSV, HQ_REPORT_SWEEP_CSV, HQ_REPORT_ERRORS_CSV,
                            HQ_REPORT_JSON};
    for (size_t i = 0; i < HQ_ARRAY_LEN(others); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, others[i]);
        HQ_REQUIRE_OK(hq_file_read(path, 0, &csv, &len));
        if (i == 0) HQ_CHECK(strstr(csv, "dm:manila,none,1,0.5,0.75\r\n"));
        if (i == 1) HQ_CHECK(strstr(csv, "dm:manila,none,2,0.78,\r\n"));
        if (i == 2) HQ_CHECK(strstr(csv, "dm:manila,none,1000,1,-0.07\r\n"));
        if (i == 3) {
            cJSON *back = cJSON_Parse(csv);
            HQ_CHECK(back && cJSON_Compare(back, root, true));
            cJSON_Delete(back);
        }
        hq_free(csv);
    }
    hq_free(html);
    cJSON_Delete(root);
}

HQ_TEST(report_errors) {
    const char *dir = hq_test_tmpfile("bad");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": ", dir), HQ_ERR_PARSE, "not valid JSON (at byte");
    HQ_CHECK_FAILS(hq_report_write("[1]", dir), HQ_ERR_INVALID_ARG, "must be an object");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"x\", \"results\": []}", dir), HQ_ERR_INVALID_ARG,
                   "expected \"hqcnn-study\"");
    HQ_CHECK_FAILS(
        hq_report_write("{\"format\": \"hqcnn-study\", \"version\": 2, \"results\": []}", dir),
        HQ_ERR_INVALID_ARG, "\"version\" must be an integer in [1, 1]");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": []}", dir),
                   HQ_ERR_INVALID_ARG, "results: is required: a non-empty array");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"backend\": "
                                   "\"sv\", \"shots\": 0, \"acc\": 1.5}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "results[0]: \"acc\" = 1.5 outside [0, 1]");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"backend\": "
                                   "\"sv\", \"shots\": 0, \"acc\": 1, \"accuracy\": 1}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "unknown field \"accuracy\"");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"backend\": "
                                   "\"sv\", \"shots\": 1.5, \"acc\": 1}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "results[0]: \"shots\" must be an integer");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"backend\": "
                                   "\"dm:manila\", \"shots\": 0, \"acc\": 1, \"calibration\": 3}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "results[0]: \"calibration\" must be a string");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"backend\": "
                                   "\"sv\", \"shots\": 0, \"acc\": 1}], \"noise_sweep\": "
                                   "[{\"scale\": 1, \"calibration\": false}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "noise_sweep[0]: \"calibration\" must be a string");
    HQ_CHECK_FAILS(hq_report_write("{\"format\": \"hqcnn-study\", \"results\": [{\"shots\": 0, "
                                   "\"acc\": 1}]}",
                                   dir),
                   HQ_ERR_INVALID_ARG, "\"backend\" is required");
    const char *ok_row = "\"results\": [{\"backend\": \"sv\", \"shots\": 0, \"acc\": 1}]";
    char doc[1024];
    snprintf(doc, sizeof doc,
             "{\"format\": \"hqcnn-study\", %s, \"roc\": [{\"backend\": \"sv\", \"fpr\": [0, 1], "
             "\"tpr\": [0]}]}",
             ok_row);
    HQ_CHECK_FAILS(hq_report_write(doc, dir), HQ_ERR_INVALID_ARG, "roc[0]: \"fpr\" and \"tpr\"");
    snprintf(doc, sizeof doc,
             "{\"format\": \"hqcnn-study\", %s, \"roc\": [{\"backend\": \"sv\", \"fpr\": [0, 0.5, "
             "0.4], \"tpr\": [0, 1, 1]}]}",
             ok_row);
    HQ_CHECK_FAILS(hq_report_write(doc, dir), HQ_ERR_INVALID_ARG, "non-decreasing");
    snprintf(doc, sizeof doc,
             "{\"format\": \"hqcnn-study\", %s, \"noise_sweep\": [{\"acc\": 0.5}]}", ok_row);
    HQ_CHECK_FAILS(hq_report_write(doc, dir), HQ_ERR_INVALID_ARG, "noise_sweep[0]: \"scale\"");
    snprintf(doc, sizeof doc,
             "{\"format\": \"hqcnn-study\", %s, \"circuit\": {\"qasm\": \"OPENQASM 2.0; qreg q[1]; "
             "w q[0];\"}}",
             ok_row);
    HQ_CHECK_FAILS(hq_report_write(doc, dir), HQ_ERR_PARSE, "circuit.qasm");
    snprintf(doc, sizeof doc, "{\"format\": \"hqcnn-study\", %s}", ok_row);
    HQ_CHECK_FAILS(hq_report_write(doc, "/proc/hq_no_such_dir/x"), HQ_ERR_IO, "hq_no_such_dir");
    HQ_CHECK_FAILS(hq_report_write(doc, NULL), HQ_ERR_INVALID_ARG, "out_dir");
    HQ_CHECK_FAILS(hq_report_write(NULL, dir), HQ_ERR_INVALID_ARG, "NULL");
    HQ_CHECK_FAILS(hq_report_write_file("/nonexistent/study.json", dir), HQ_ERR_NOT_FOUND,
                   "/nonexistent/study.json");
    /* a minimal document works: one row, no ROC, no sweep, no circuit */
    HQ_CHECK_OK(hq_report_write(doc, dir));
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_report_html(doc, &b));
    HQ_CHECK_EQ_INT(count(b.p, "<svg "), 2);
    hq_sbuf_free(&b);
}

/* ==== charts =========================================================================== */

HQ_TEST(report_svgplot_geometry) {
    /* explicit ranges: x [0, 10] maps to [66, 640 - 20], y [0, 1] to [400 - 46, 34] */
    double x[2] = {0, 10}, y[2] = {0, 1};
    hq_plot_series s = {.n = 2, .x = x, .y = y, .markers = true};
    hq_plot p = hq_plot_defaults();
    p.xmin = 0, p.xmax = 10, p.ymin = 0, p.ymax = 1;
    p.series = &s;
    p.n_series = 1;
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_svgplot_lines(&p, &b));
    HQ_CHECK(strstr(b.p, "<circle cx=\"66.00\" cy=\"354.00\""));
    HQ_CHECK(strstr(b.p, "<circle cx=\"620.00\" cy=\"34.00\""));
    HQ_CHECK(strstr(b.p, ">0.2</text>") && strstr(b.p, ">10</text>"));
    HQ_CHECK(hq_test_xml_check(b.p) == NULL);
    /* log axes: decades from the data, labels 100 ... 10000, one error bar per point */
    hq_sbuf_reset(&b);
    double lx[3] = {100, 1000, 10000}, ly[3] = {0.1, 0.03, 0.01}, lo[3] = {0.08, -1, 0.009},
           hi[3] = {0.12, 0.035, 0.011};
    hq_plot_series ls = {.name = "dm",
                         .n = 3,
                         .x = lx,
                         .y = ly,
                         .ylo = lo,
                         .yhi = hi,
                         .line = true,
                         .markers = true};
    p = hq_plot_defaults();
    p.xlog = p.ylog = true;
    p.series = &ls;
    p.n_series = 1;
    p.id = "t";
    HQ_REQUIRE_OK(hq_svgplot_lines(&p, &b));
    HQ_CHECK(strstr(b.p, ">100</text>") && strstr(b.p, ">1000</text>") &&
             strstr(b.p, ">10000</text>") && strstr(b.p, ">0.01</text>") &&
             strstr(b.p, ">0.1</text>"));
    HQ_CHECK_EQ_INT(count(b.p, "class=\"errorbar\""), 3);
    HQ_CHECK_EQ_INT(count(b.p, "<polyline"), 1);
    HQ_CHECK(strstr(b.p, "data-x=\"1000\" data-y=\"0.03\""));
    HQ_CHECK(hq_test_xml_check(b.p) == NULL);
    /* a non-finite point splits the line */
    hq_sbuf_reset(&b);
    ly[1] = NAN;
    HQ_REQUIRE_OK(hq_svgplot_lines(&p, &b));
    HQ_CHECK_EQ_INT(count(b.p, "<polyline"), 2);
    /* errors */
    p.xmin = -1;
    HQ_CHECK_FAILS(hq_svgplot_lines(&p, &b), HQ_ERR_INVALID_ARG, "logarithmic");
    p = hq_plot_defaults();
    p.xmin = 2, p.xmax = 1;
    HQ_CHECK_FAILS(hq_svgplot_lines(&p, &b), HQ_ERR_INVALID_ARG, "empty x range");
    p.n_series = 1;
    HQ_CHECK_FAILS(hq_svgplot_lines(&p, &b), HQ_ERR_INVALID_ARG, "n_series");
    /* bars: heights proportional to the values on [0, 1] */
    hq_sbuf_reset(&b);
    const char *g[2] = {"a", "b"}, *sn[2] = {"ACC", "AUC"};
    double v[4] = {0.5, 1, NAN, 0.25};
    hq_bars bars = {
        .n_groups = 2, .groups = g, .n_series = 2, .series = sn, .values = v, .ymin = 0, .ymax = 1};
    HQ_REQUIRE_OK(hq_svgplot_bars(&bars, &b));
    HQ_CHECK_EQ_INT(count(b.p, "class=\"bar\""), 3);
    HQ_CHECK(strstr(b.p, "data-value=\"0.5\" x=\"") && strstr(b.p, "height=\"160.00\""));
    HQ_CHECK(strstr(b.p, "height=\"320.00\"") && strstr(b.p, "height=\"80.00\""));
    HQ_CHECK(hq_test_xml_check(b.p) == NULL);
    bars.n_groups = 0;
    HQ_CHECK_FAILS(hq_svgplot_bars(&bars, &b), HQ_ERR_INVALID_ARG, "0 groups");
    hq_sbuf_free(&b);
}

/* ==== headless browser ================================================================= */

static const char *find_chromium(void) {
    static const char *const cands[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                        "/usr/lib/chromium/chromium"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(cands); i++)
        if (access(cands[i], X_OK) == 0) return cands[i];
    return NULL;
}

/* Run chromium with the workplace's headless flags plus `extra` (and the URL), stdout
 * into out_path, in its own process group that is killed afterwards; timeout seconds.
 * Returns the exit status, or -1 (could not start / timed out). */
static int run_chromium(const char *bin, const char *profile, const char *extra1,
                        const char *extra2, const char *url, const char *out_path, int timeout) {
    char prof[4200];
    snprintf(prof, sizeof prof, "--user-data-dir=%s", profile);
    const char *argv[] = {bin,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--no-first-run",
                          "--disable-quic",
                          "--disable-dev-shm-usage",
                          prof,
                          extra1,
                          extra2,
                          url,
                          NULL};
    if (!extra2) argv[12] = url, argv[13] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        FILE *o = freopen(out_path, "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o, (void)e;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    int status = 0, waited = 0;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && waited < timeout * 10) {
        hq_sleep_ms(100);
        waited++;
    }
    kill(-pid, SIGKILL); /* the browser's helper processes, all in the group we made */
    if (r == 0) {
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

HQ_TEST(report_browser_render) {
    const char *bin = find_chromium();
    if (!bin) {
        fprintf(stderr, "    SKIPPED: chromium not installed (scripts/install-deps.sh installs "
                        "it)\n");
        return;
    }
    const char *dir = hq_test_tmpfile("browser");
    HQ_REQUIRE_OK(hq_report_write(study_json, dir));
    char url[4200], html_path[4200], dom_path[4200], png_path[4200], profile[4200];
    snprintf(html_path, sizeof html_path, "%s/%s", dir, HQ_REPORT_HTML);
    char *abs = realpath(html_path, NULL); /* lint: allow-free (libc-owned buffer) */
    HQ_REQUIRE(abs);
    snprintf(url, sizeof url, "file://%s", abs);
    free(abs); /* lint: allow-free (realpath allocates with malloc) */
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", hq_test_tmpdir());
    snprintf(png_path, sizeof png_path, "%s/page.png", hq_test_tmpdir());
    snprintf(profile, sizeof profile, "%s/profile", hq_test_tmpdir());
    HQ_REQUIRE(mkdir(profile, 0700) == 0);

    /* 1. the DOM after rendering holds the plots, the tables and the exact numbers */
    int rc = run_chromium(bin, profile, "--dump-dom", NULL, url, dom_path, 60);
    HQ_REQUIRE(rc == 0);
    char *dom;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(dom_path, 0, &dom, &len));
    HQ_CHECK(len > 10000);
    HQ_CHECK_EQ_INT(count(dom, "<svg "), 5);
    HQ_CHECK(strstr(dom, "id=\"plot-acc-auc\"") && strstr(dom, "id=\"plot-expect-error\"") &&
             strstr(dom, "id=\"plot-roc\"") && strstr(dom, "id=\"plot-noise-sweep\""));
    HQ_CHECK(strstr(dom, "class=\"hq-circuit\""));
    HQ_CHECK(strstr(dom, "<table id=\"results\">") && strstr(dom, "<table id=\"sweep\">"));
    cJSON *root = cJSON_Parse(study_json);
    HQ_REQUIRE(root);
    HQ_CHECK_EQ_INT(check_results_table(dom, root), 5 * 11);
    cJSON_Delete(root);
    hq_free(dom);

    /* 2. a screenshot of the page: a PNG of the window size, with content */
    char shot[4300];
    snprintf(shot, sizeof shot, "--screenshot=%s", png_path);
    rc = run_chromium(bin, profile, shot, "--window-size=1200,2400", url, "/dev/null", 60);
    HQ_REQUIRE(rc == 0);
    unsigned char *png;
    HQ_REQUIRE_OK(hq_file_read(png_path, 0, (char **)&png, &len));
    HQ_REQUIRE(len > 33 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8) && !memcmp(png + 12, "IHDR", 4));
    HQ_CHECK_EQ_INT(be32(png + 16), 1200);
    HQ_CHECK_EQ_INT(be32(png + 20), 2400);
    HQ_CHECKF(len > 60000, "screenshot of %zu bytes: the page looks empty", len);
    hq_free(png);
}

/* study.json keeps every number bit for bit: 0.8717627401837929 prints as
 * 0.871762740183793 with 15 significant digits, which is another double (cJSON_Print
 * accepts it as within a relative epsilon). */
HQ_TEST(report_json_numbers_exact) {
    const double v[] = {0.8717627401837929,
                        0.8461538461538461,
                        4.287605946001349,
                        0.1 + 0.2,
                        -1.0 / 3,
                        1e-300,
                        5e-324};
    hq_sbuf j = HQ_SBUF_INIT;
    hq_sbuf_puts(&j, "{\"format\":\"hqcnn-study\",\"results\":[{\"backend\":\"sv\",\"shots\":0,"
                     "\"acc\":");
    hq_sbuf_put_double(&j, v[0]);
    hq_sbuf_puts(&j, ",\"expect_error\":{\"mean\":0.5,\"per_circuit\":[");
    for (size_t i = 0; i < HQ_ARRAY_LEN(v); i++) {
        if (i) hq_sbuf_putc(&j, ',');
        hq_sbuf_put_double(&j, v[i]);
    }
    hq_sbuf_puts(&j, "]},\"wall_seconds\":");
    hq_sbuf_put_double(&j, v[2]);
    hq_sbuf_puts(&j, "}],\"meta\":{\"note\":\"a \\\"quoted\\\" name\",\"flag\":true,\"none\":null,"
                     "\"list\":[{\"k\":[]},{}]}}");
    HQ_REQUIRE_OK(hq_sbuf_status(&j));
    const char *dir = hq_test_tmpfile("exact");
    HQ_REQUIRE_OK(hq_report_write(j.p, dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, HQ_REPORT_JSON);
    cJSON *back = hq_test_read_json(path), *orig = cJSON_Parse(j.p);
    HQ_REQUIRE(back && orig);
    HQ_CHECK(cJSON_Compare(back, orig, true));
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(back, "results"), 0);
    HQ_CHECK(cJSON_GetObjectItemCaseSensitive(r, "acc")->valuedouble == v[0]);
    HQ_CHECK(cJSON_GetObjectItemCaseSensitive(r, "wall_seconds")->valuedouble == v[2]);
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(r, "expect_error"), "per_circuit");
    HQ_REQUIRE(cJSON_GetArraySize(pc) == (int)HQ_ARRAY_LEN(v));
    for (size_t i = 0; i < HQ_ARRAY_LEN(v); i++)
        HQ_CHECKF(cJSON_GetArrayItem(pc, (int)i)->valuedouble == v[i], "per_circuit[%zu]: %.17g", i,
                  v[i]);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(back, "meta");
    HQ_CHECK(
        !strcmp(cJSON_GetObjectItemCaseSensitive(meta, "note")->valuestring, "a \"quoted\" name"));
    HQ_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "flag")));
    HQ_CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(meta, "none")));
    cJSON_Delete(back);
    cJSON_Delete(orig);
    hq_sbuf_free(&j);
}
