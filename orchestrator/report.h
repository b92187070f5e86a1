/*
 * orchestrator/report.h — the noise-study report: one self-contained HTML file (inline
 * SVG plots and tables, no scripts, no external resources) plus the same numbers as CSV and
 * JSON beside it, from a study result document (schema "hqcnn-study" v1, docs/study.md).
 *
 *     char *json; size_t len;
 *     hq_file_read("study.json", 0, &json, &len);
 *     if (hq_report_write(json, "out/study-7") != HQ_OK)
 *         fprintf(stderr, "%s\n", hq_last_error());
 *     // out/study-7/report.html, results.csv, roc.csv, sweep.csv, expect_errors.csv,
 *     // study.json
 *
 * The HTML holds every number twice: as display text and, exactly (shortest round-trip
 * decimal), in data-value attributes of the tables #results, #roc and #sweep, so a test or
 * a script can read them back from the rendered page.
 *
 * Errors: HQ_ERR_PARSE (not JSON: the message has the byte offset), HQ_ERR_INVALID_ARG (a
 * field missing, of the wrong type or out of range: the message names its path, e.g.
 * "results[2].auc", and the valid range; unknown fields are rejected as typos, except
 * inside "meta"), HQ_ERR_IO (cannot create the directory or a file), HQ_ERR_NOMEM. Files
 * are written atomically, HTML last; a failed call may leave some of the CSV files.
 */
#ifndef HQ_REPORT_H
#define HQ_REPORT_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File names inside the output directory. */
#define HQ_REPORT_HTML        "report.html"
#define HQ_REPORT_RESULTS_CSV "results.csv"
#define HQ_REPORT_ROC_CSV     "roc.csv"
#define HQ_REPORT_SWEEP_CSV   "sweep.csv"
#define HQ_REPORT_ERRORS_CSV  "expect_errors.csv"
#define HQ_REPORT_JSON        "study.json"

/* Validate the study document json_text (NUL-terminated) and write the report files into
 * out_dir (created with parents if missing). */
hq_status hq_report_write(const char *json_text, const char *out_dir);
/* The same from a file (at most 256 MiB). */
hq_status hq_report_write_file(const char *json_path, const char *out_dir);
/* Only the HTML page, appended to out (no files). */
hq_status hq_report_html(const char *json_text, hq_sbuf *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_REPORT_H */
