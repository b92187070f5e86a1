/*
 * tests/test_emulator_util.h — helpers for the emulator tests: a raw libcurl client (so the
 * wire behaviour is observed as it is, without any retry policy), an emulator started on
 * an ephemeral port with test keys, and IonQ / IBM request shortcuts.
 */
#ifndef HQ_TEST_EMULATOR_UTIL_H
#define HQ_TEST_EMULATOR_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "backends/emulator/emulator.h"

#define ET_KEY "emu-test-key-0123456789"
#define ET_CRN "crn:v1:bluemix:public:quantum-computing:us-east:a/test:inst::"

typedef struct et_resp {
    long status;          /* HTTP status, 0 if none */
    int curl_code;        /* CURLcode of the transfer (0 = OK) */
    char *body;           /* NUL-terminated body (owned) */
    size_t len;           /* bytes of body */
    char ctype[128];      /* Content-Type header */
    char retry_after[64]; /* Retry-After header, "" if none */
    double seconds;       /* wall time of the transfer */
} et_resp;

/* One request. headers: NULL-terminated list of "Name: value" (may be NULL); body may be
 * NULL; timeout_ms <= 0: 10 s. Returns the CURLcode. */
int et_http(const char *method, const char *url, const char *const *headers, const char *body,
            long timeout_ms, et_resp *out);
void et_resp_free(et_resp *r);
/* Parse the body (NULL if not JSON); caller cJSON_Delete()s. */
cJSON *et_json(const et_resp *r);

/* Default test options: profile, both keys ET_KEY, CRN ET_CRN, seed 7, no delays. */
hq_emulator_options et_options(hq_emu_profile p);
/* Start (NULL on failure, with the reason printed). */
hq_emulator *et_start(const hq_emulator_options *o);
/* URL of a path on the emulator (rotating static buffers, 8 deep). */
const char *et_url(hq_emulator *e, const char *path);

/* IonQ call with the valid key; extra headers (NULL-terminated) may be NULL. */
int et_ionq(hq_emulator *e, const char *method, const char *path, const char *body,
            const char *const *extra, et_resp *out);
/* IBM: a fresh IAM token into tok (cap >= 256); false on failure. */
bool et_ibm_token(hq_emulator *e, char *tok, size_t cap);
/* IBM Runtime call with a token and the CRN. */
int et_ibm(hq_emulator *e, const char *tok, const char *method, const char *path, const char *body,
           const char *const *extra, et_resp *out);

/* Submit an IonQ job body, return its id into id (cap 64); false on failure. */
bool et_ionq_submit(hq_emulator *e, const char *body, const char *const *extra, char *id);
/* Poll an IonQ job until its status is terminal (or timeout_s); returns the status in st. */
bool et_ionq_wait(hq_emulator *e, const char *id, double timeout_s, char *st, size_t cap);
/* Same for IBM (state.status). */
bool et_ibm_submit(hq_emulator *e, const char *tok, const char *body, const char *const *extra,
                   char *id);
bool et_ibm_wait(hq_emulator *e, const char *tok, const char *id, double timeout_s, char *st,
                 size_t cap);
/* IBM results: per-shot values of register `creg` of pub `pub` (binding `row`; -1 for a
 * flat list) into vals (cap); returns the number of samples, -1 on error. */
long et_ibm_samples(const cJSON *res, int pub, const char *creg, int row, unsigned long long *vals,
                    long cap);
/* Number of accepted jobs in GET /_emu/stats (-1 on error). */
long et_stats_accepted(hq_emulator *e);

/* Chi-square statistic of observed counts against expected probabilities over 2^nb
 * outcomes (bins with expected < 5 merged into one); *dof receives the degrees of
 * freedom. */
double et_chi2(const long *counts, const double *p, int n_outcomes, long shots, int *dof);
/* Upper 0.1% point of the chi-square distribution with dof degrees of freedom
 * (Wilson-Hilferty). */
double et_chi2_crit(int dof);

#endif /* HQ_TEST_EMULATOR_UTIL_H */
