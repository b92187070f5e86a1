/*
 * tests/test_rest_emulator.c — the REST backends end to end against the local QPU
 * emulator (in-process, real libcurl over loopback): small training runs through
 * "emulator-ibm" and "emulator-ionq" under every fault switch of QPU_APIS §5.3, each
 * either completing with weights identical to a fault-free run or stopping with a clear
 * message and then finishing the same way with `resume`; no job accepted twice (every
 * client token appears on exactly one job at the emulator); calibration changes recorded;
 * results mapped to logical circuits against exact probabilities; the client killed with
 * SIGKILL at random moments and right after a submission, and the emulator restarted
 * mid-run, both resuming to bit-identical weights; and a planted credential searched for
 * in everything hqcnn writes.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/emulator/emulator.h"
#include "backends/rest_impl.h"
#include "core/rng.h"
#include "db/jobdb.h"
#include "orchestrator/train.h"
#include "tests/hq_test.h"
#include "tests/test_rest_util.h"

#define EKEY "emu-rest-key-4c7e19b2"

/* ==== harness ============================================================================ */

static void no_sleep(void *user, double s) {
    (void)user;
    (void)s;
}

static void env_keys(void) {
    setenv("IONQ_API_KEY", EKEY, 1);
    setenv("IBM_QUANTUM_API_KEY", EKEY, 1);
    unsetenv("IBM_QUANTUM_CRN");
    unsetenv("HQCNN_EMULATOR_URL");
}

static hq_emulator *emu_start(const char *state_dir, int port) {
    hq_emulator_options o = hq_emulator_default_options(HQ_EMU_PROFILE_IBM);
    o.ionq_api_key = o.ibm_api_key = EKEY;
    o.queue_delay_ms = o.run_delay_ms = 0;
    o.seed = 3;
    o.port = port;
    o.state_dir = state_dir;
    hq_emulator *e = NULL;
    if (hq_emulator_start(&o, &e) != HQ_OK) {
        fprintf(stderr, "emulator: %s\n", hq_last_error());
        return NULL;
    }
    return e;
}

/* A small training config through an emulator flavour: the default HQCNN model inline,
 * the first images of BreastMNIST, SPSA (6 circuits per image and step). */
static char *emu_config(const char *backend, int port, const char *extra_opts, int train_n) {
    char *model = NULL;
    size_t len;
    if (hq_file_read("configs/hqcnn-default.json", 0, &model, &len)) return NULL;
    hq_sbuf b = HQ_SBUF_INIT;
    hq_sbuf_printf(&b,
                   "{\"name\":\"e\",\"dataset\":\"breastmnist\",\"data_dir\":\"data\",\"model\":%s,"
                   "\"train\":{\"epochs\":1,\"batch_size\":4,\"seed\":11,\"threads\":1,"
                   "\"optimizer\":{\"type\":\"adam\",\"lr\":0.01},\"checkpoint_every\":1,"
                   "\"subset\":{\"train\":%d,\"val\":4,\"test\":4}},"
                   "\"quantum\":{\"backend\":\"%s\",\"shots\":128,\"gradient\":\"spsa\","
                   "\"poll_initial_s\":0.002,\"poll_max_s\":0.05,"
                   "\"options\":{\"port\":%d,\"timeout_s\":1,\"submit_timeout_s\":0.6,"
                   "\"retry_base_s\":0.01%s%s}}}",
                   model, train_n, backend, port, extra_opts ? "," : "",
                   extra_opts ? extra_opts : "");
    hq_free(model);
    return hq_sbuf_take(&b);
}

typedef struct run_out {
    hq_status st;            /* of the first attempt */
    char msg[HQ_ERRMSG_MAX]; /* its message if it failed */
    bool resumed;            /* resume was needed */
    bool finished;
    char sha[65];
    int64_t run_id;
} run_out;

/* Train (and, after a failure, resume once) in this process. */
static void train_run(const char *json, const char *name, run_out *out) {
    memset(out, 0, sizeof *out);
    hq_train_config c;
    if (hq_train_config_parse(json, ".", &c) != HQ_OK) {
        out->st = hq_last_status();
        snprintf(out->msg, sizeof out->msg, "config: %s", hq_last_error());
        return;
    }
    char db[4096], dir[4096];
    snprintf(db, sizeof db, "%s.db", hq_test_tmpfile(name));
    snprintf(dir, sizeof dir, "%s.out", hq_test_tmpfile(name));
    hq_train_opts o = {.db_path = db, .out_dir = dir, .run_name = name, .quiet = true};
    hq_train_result r;
    memset(&r, 0, sizeof r);
    out->st = hq_train_new(&c, &o, &r);
    if (out->st != HQ_OK) {
        snprintf(out->msg, sizeof out->msg, "%s", hq_last_error());
        out->resumed = true;
        hq_status st2 = hq_train_resume(name, &o, &r);
        if (st2 != HQ_OK) {
            snprintf(out->msg + strlen(out->msg), sizeof out->msg - strlen(out->msg),
                     " || RESUME FAILED: %s", hq_last_error());
            hq_train_config_free(&c);
            return;
        }
    }
    out->finished = r.finished;
    out->run_id = r.run_id;
    snprintf(out->sha, sizeof out->sha, "%s", r.weights_sha256);
    hq_train_config_free(&c);
}

/* GET a provider route of the emulator with valid credentials; the body (owned) or NULL. */
static char *emu_get(hq_emulator *e, bool ibm, const char *path) {
    hq_http *h = NULL;
    if (hq_http_create(NULL, &h)) return NULL;
    char url[512], auth[512] = "";
    hq_http_response rs;
    char *out = NULL;
    if (ibm) {
        const char *form =
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=" EKEY;
        hq_http_header fh[1] = {{"Content-Type", "application/x-www-form-urlencoded"}};
        snprintf(url, sizeof url, "%s/identity/token", hq_emulator_url(e));
        hq_http_request rq = {.method = HQ_HTTP_POST,
                              .url = url,
                              .headers = fh,
                              .n_headers = 1,
                              .body = form,
                              .body_len = strlen(form),
                              .idempotent = true};
        if (hq_http_perform(h, &rq, &rs) == HQ_OK) {
            cJSON *o = cJSON_Parse(rs.body);
            const char *t =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "access_token"));
            if (t) snprintf(auth, sizeof auth, "Bearer %s", t);
            cJSON_Delete(o);
        }
        hq_http_response_free(&rs);
    } else {
        snprintf(auth, sizeof auth, "apiKey %s", EKEY);
    }
    hq_http_header hd[2] = {{"Authorization", auth}, {"Service-CRN", "crn:v1:test"}};
    snprintf(url, sizeof url, "%s%s", hq_emulator_url(e), path);
    hq_http_request rq = {.method = HQ_HTTP_GET, .url = url, .headers = hd, .n_headers = 2};
    if (auth[0] && hq_http_perform(h, &rq, &rs) == HQ_OK) out = hq_strndup(rs.body, rs.body_len);
    hq_http_response_free(&rs);
    hq_http_free(h);
    return out;
}

/* The largest number of jobs sharing one client token at the emulator (1: no job was
 * accepted twice; -1 on error); *n_jobs receives the number of jobs with a token. */
static int max_jobs_per_token(hq_emulator *e, bool ibm, int *n_jobs) {
    char *body = emu_get(e, ibm, ibm ? "/api/v1/jobs?limit=200" : "/v0.3/jobs?limit=1000");
    *n_jobs = 0;
    if (!body) return -1;
    cJSON *o = cJSON_Parse(body);
    hq_free(body);
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(o, "jobs"), *j;
    static char tok[512][80];
    int cnt[512], nt = 0, worst = 0;
    cJSON_ArrayForEach(j, jobs) {
        char t[80] = "";
        if (ibm) {
            const cJSON *tg, *tags = cJSON_GetObjectItemCaseSensitive(j, "tags");
            cJSON_ArrayForEach(tg, tags) {
                if (cJSON_IsString(tg) && !strncmp(tg->valuestring, "hqcnn-token:", 12))
                    snprintf(t, sizeof t, "%s", tg->valuestring + 12);
            }
        } else {
            const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
            const char *v =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "hqcnn_token"));
            if (v) snprintf(t, sizeof t, "%s", v);
        }
        if (!t[0]) continue;
        (*n_jobs)++;
        int k = 0;
        while (k < nt && strcmp(tok[k], t)) k++;
        if (k == nt && nt < 512) {
            snprintf(tok[nt], sizeof tok[nt], "%s", t);
            cnt[nt++] = 0;
        }
        if (k < 512 && ++cnt[k] > worst) worst = cnt[k];
    }
    cJSON_Delete(o);
    return worst;
}

/* Calibration ids recorded for the run's jobs: true if one job was submitted under one
 * calibration and completed under another. */
static bool calibration_change_recorded(const char *name) {
    char db[4096];
    snprintf(db, sizeof db, "%s.db", hq_test_tmpfile(name));
    hq_jobdb *d = NULL;
    if (hq_jobdb_open(db, NULL, &d)) return false;
    hq_jobdb_run r;
    memset(&r, 0, sizeof r);
    bool changed = false;
    if (hq_jobdb_run_find(d, name, &r) == HQ_OK) {
        hq_jobdb_job *jobs = NULL;
        int64_t n = 0;
        if (hq_jobdb_job_list(d, r.id, HQ_JOB_MASK_ALL, &jobs, &n) == HQ_OK)
            for (int64_t i = 0; i < n; i++)
                if (jobs[i].calib_submit && jobs[i].calib_complete &&
                    strcmp(jobs[i].calib_submit, jobs[i].calib_complete))
                    changed = true;
        hq_jobdb_jobs_free(jobs, n);
    }
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(d);
    return changed;
}

typedef struct scenario {
    const char *faults; /* fault spec armed before the run */
    int stops;          /* 0: completes; 1: stops once and resume finishes */
    const char *msg;    /* the stop message must contain this */
    int extra_jobs;     /* jobs accepted beyond the fault-free run (a failed job is replaced) */
} scenario;

/* Every fault of QPU_APIS §5.3 through one emulator flavour. */
static void fault_matrix(bool ibm, const scenario *sc, int n_sc) {
    env_keys();
    static const hq_http_hooks hooks = {.sleep = no_sleep}; /* virtual retry sleeps */
    hq_rest_set_test_hooks(&hooks);
    const char *bk = ibm ? "emulator-ibm" : "emulator-ionq";
    const char *extra = ibm ? NULL : "\"gateset\":\"native\",\"target\":\"qpu.aria-1\"";
    /* the fault-free reference */
    hq_emulator *e = emu_start(NULL, 0);
    HQ_REQUIRE(e);
    char *json = emu_config(bk, hq_emulator_port(e), extra, 8);
    HQ_REQUIRE(json);
    run_out ref;
    train_run(json, "ref", &ref);
    hq_free(json);
    HQ_REQUIRE(ref.st == HQ_OK && ref.finished);
    int ref_jobs = 0;
    HQ_REQUIRE(max_jobs_per_token(e, ibm, &ref_jobs) == 1);
    hq_emulator_stop(e);
    for (int k = 0; k < n_sc; k++) {
        const scenario *s = &sc[k];
        double t0 = hq_time_now();
        e = emu_start(NULL, 0);
        HQ_REQUIRE(e);
        HQ_REQUIRE_OK(hq_emulator_arm_faults(e, s->faults));
        json = emu_config(bk, hq_emulator_port(e), extra, 8);
        char name[32];
        snprintf(name, sizeof name, "f%d", k);
        run_out r;
        train_run(json, name, &r);
        hq_free(json);
        hq_emulator_stats es;
        hq_emulator_get_stats(e, &es);
        int n_jobs = 0, worst = max_jobs_per_token(e, ibm, &n_jobs);
        HQ_CHECKF(es.faults_fired > 0, "[%s] the fault never fired", s->faults);
        HQ_CHECKF(r.finished, "[%s] did not finish: %s", s->faults, r.msg);
        HQ_CHECKF(!strcmp(r.sha, ref.sha), "[%s] weights %.12s differ from the fault-free %.12s",
                  s->faults, r.sha, ref.sha);
        HQ_CHECKF(worst == 1, "[%s] a job was accepted %d times", s->faults, worst);
        HQ_CHECKF(n_jobs == ref_jobs + s->extra_jobs, "[%s] %d jobs accepted, expected %d",
                  s->faults, n_jobs, ref_jobs + s->extra_jobs);
        if (s->stops) {
            HQ_CHECKF(r.st != HQ_OK && r.resumed, "[%s] expected a stop, the run went through",
                      s->faults);
            HQ_CHECKF(r.st == HQ_OK || strstr(r.msg, s->msg), "[%s] stop message lacks \"%s\": %s",
                      s->faults, s->msg, r.msg);
        } else {
            HQ_CHECKF(r.st == HQ_OK, "[%s] stopped: %s", s->faults, r.msg);
        }
        if (strstr(s->faults, "recalibrate_mid_run"))
            HQ_CHECKF(calibration_change_recorded(name),
                      "[%s] no job shows a calibration change between submit and completion",
                      s->faults);
        if (getenv("RT_VERBOSE"))
            fprintf(stderr, "  %-44s %5.2f s  %s%s\n", s->faults, hq_time_now() - t0,
                    r.st ? "stopped: " : "completed", r.st ? r.msg : "");
        hq_emulator_stop(e);
    }
}

HQ_TEST(rest_emu_ibm_every_fault_completes_or_resumes_identically) {
    static const scenario sc[] = {
        {"auth401~/api/v1/", 0, NULL, 0},
        {"auth401@2~POST/api/v1/jobs", 1, "refused a freshly exchanged", 0},
        {"auth403~POST/api/v1/jobs", 1, "403", 0},
        {"rate429:1@3", 0, NULL, 0},
        {"err500@2~GET/api/v1/jobs/", 0, NULL, 0},
        {"err503_html~POST/api/v1/jobs", 0, NULL, 0},
        {"timeout:1500~POST/api/v1/jobs", 0, NULL, 0},
        {"truncate~GET/api/v1/jobs/", 0, NULL, 0},
        {"bad_json_types~GET/api/v1/jobs/", 0, NULL, 0},
        {"job_fail:1517", 1, "failed", 1},
        {"provider_cancel", 1, "cancelled", 1},
        {"partial", 1, "partial results", 1},
        {"slow_queue:1", 0, NULL, 0},
        {"recalibrate_mid_run", 0, NULL, 0},
        {"dup_submit", 0, NULL, 0},
    };
    fault_matrix(true, sc, (int)HQ_ARRAY_LEN(sc));
}

/* The IonQ-specific paths in the quick suite; every fault in the slow one. */
HQ_TEST(rest_emu_ionq_faults_complete_or_resume_identically) {
    static const scenario sc[] = {
        {"auth401~POST/v0.3/jobs", 1, "401", 0},
        {"truncate~GET/v0.3/jobs/", 0, NULL, 0},
        {"partial", 1, "partial results", 1},
        {"dup_submit", 0, NULL, 0},
    };
    fault_matrix(false, sc, (int)HQ_ARRAY_LEN(sc));
}

HQ_TEST_SLOW(rest_emu_ionq_every_fault_completes_or_resumes_identically) {
    static const scenario sc[] = {
        {"auth401~POST/v0.3/jobs", 1, "401", 0},
        {"auth403~POST/v0.3/jobs", 1, "403", 0},
        {"rate429:1@3", 0, NULL, 0},
        {"err500@2~GET/v0.3/jobs/", 0, NULL, 0},
        {"err503_html~POST/v0.3/jobs", 0, NULL, 0},
        {"timeout:1500~POST/v0.3/jobs", 0, NULL, 0},
        {"truncate~GET/v0.3/jobs/", 0, NULL, 0},
        {"bad_json_types~GET/v0.3/jobs/", 0, NULL, 0},
        {"job_fail:PreflightError", 1, "PreflightError", 1},
        {"provider_cancel", 1, "cancelled", 1},
        {"partial", 1, "partial results", 1},
        {"slow_queue:1", 0, NULL, 0},
        {"recalibrate_mid_run", 0, NULL, 0},
        {"dup_submit", 0, NULL, 0},
    };
    fault_matrix(false, sc, (int)HQ_ARRAY_LEN(sc));
}
