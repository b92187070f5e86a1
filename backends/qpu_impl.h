/*
 * backends/qpu_impl.h — JSON helpers shared by the REST client parsers (ionq.c, ibm.c,
 * braket.c, qpu.c). Internal to backends/: not part of the public API.
 */
#ifndef HQ_QPU_IMPL_H
#define HQ_QPU_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "backends/qpu.h"

/* Parse a JSON body; on failure HQ_ERR_PARSE "fn: what: malformed JSON at byte N (...)"
 * (an HTML page is named as such). what = "job status", "results", ... */
cJSON *qpu_json_parse(const char *fn, const char *what, const char *body, size_t len,
                      hq_status *st);
/* Member of an object (NULL if o is not an object or has no such key). */
const cJSON *qpu_get(const cJSON *o, const char *key);
/* Copy a string member into dst (truncated); false (dst = "") if absent or not a string. */
bool qpu_get_str(const cJSON *o, const char *key, char *dst, size_t cap);
/* An integral number member within [lo, hi]; false if absent, not a number, not integral
 * or out of range. */
bool qpu_get_i64(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out);
/* Short description of a JSON value's type for messages ("string", "number", ...). */
const char *qpu_type_name(const cJSON *v);
/* Zero a status (shots = -1). */
void qpu_status_init(hq_qpu_job_status *s);
/* Append a child id. */
hq_status qpu_status_add_child(hq_qpu_job_status *s, const char *id);
/* Case-insensitive equality. */
bool qpu_streq_ci(const char *a, const char *b);
/* Allocate n zeroed circuit results. */
hq_status qpu_results_alloc(hq_qpu_results *r, int n);

#endif /* HQ_QPU_IMPL_H */
