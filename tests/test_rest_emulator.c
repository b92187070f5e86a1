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
#include <pthread.h>
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
        if (getenv("HQ_TEST_VERBOSE"))
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

/* ==== crashes: kill -9 of the client, restart of the emulator ============================= */

static volatile pid_t g_child; /* the running client, for the restarter */

/* `hqcnn args...` in a child (hq_test_run_child), its pid in g_child while it runs. */
static int run_cli(char *const argv[], long kill_ms, const char *env_kill, const char *out_path,
                   const char *err_path) {
    return hq_test_run_child(argv, kill_ms, env_kill, out_path, err_path, &g_child);
}

static bool run_exists(const char *db_path, const char *name) {
    hq_jobdb *db;
    hq_jobdb_options dbo;
    hq_jobdb_options_init(&dbo);
    dbo.no_create = true;
    if (hq_jobdb_open(db_path, &dbo, &db) != HQ_OK) return false;
    hq_jobdb_run r;
    memset(&r, 0, sizeof r);
    bool ok = hq_jobdb_run_find(db, name, &r) == HQ_OK;
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db);
    return ok;
}

/* Restarts the emulator (same state directory, same port) once the client talks to it,
 * then kills the client once it talks to the new instance. */
typedef struct restarter {
    hq_emulator **emu;
    const char *state;
    int port;
    pthread_t th;
    bool ok;      /* the new instance started */
    bool mid_run; /* the client used both instances */
} restarter;

static int64_t emu_requests(hq_emulator *e) {
    hq_emulator_stats es;
    return hq_emulator_get_stats(e, &es) == HQ_OK ? es.requests : -1;
}

static void *restart_main(void *arg) {
    restarter *r = arg;
    int64_t r0 = emu_requests(*r->emu);
    double t0 = hq_time_now();
    while (emu_requests(*r->emu) < r0 + 3 && hq_time_now() - t0 < 20) hq_sleep_ms(5);
    hq_emulator_stop(*r->emu);
    *r->emu = NULL;
    hq_sleep_ms(150);
    for (int tries = 0; tries < 50 && !*r->emu; tries++) {
        *r->emu = emu_start(r->state, r->port);
        if (!*r->emu) hq_sleep_ms(20);
    }
    r->ok = *r->emu != NULL;
    t0 = hq_time_now();
    while (r->ok && emu_requests(*r->emu) < 3 && hq_time_now() - t0 < 20 && g_child) hq_sleep_ms(5);
    r->mid_run = r->ok && emu_requests(*r->emu) >= 3 && g_child;
    pid_t c = g_child;
    if (c > 0) kill(c, SIGKILL);
    return NULL;
}

HQ_TEST(rest_emu_kill9_and_emulator_restart_resume_bit_identical) {
    const char *bin = getenv("HQCNN_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        HQ_CHECKF(false, "HQCNN_BIN is not set to the hqcnn binary (make test sets it)");
        return;
    }
    env_keys();
    char state[4096];
    snprintf(state, sizeof state, "%s", hq_test_tmpfile("emu-state"));
    hq_emulator *e = emu_start(state, 0);
    HQ_REQUIRE(e);
    int port = hq_emulator_port(e);
    /* the uninterrupted reference, in this process (same code as the CLI) */
    char *json = emu_config("emulator-ibm", port, "\"retry_base_s\":0.1", 16);
    HQ_REQUIRE(json);
    json[strlen(json)] = '\0';
    {
        /* retry_base_s appears twice in the options: keep the later one only */
        char *first = strstr(json, "\"retry_base_s\":0.01,");
        if (first) memmove(first, first + 20, strlen(first + 20) + 1);
    }
    double t0 = hq_time_now();
    run_out ref;
    train_run(json, "ref", &ref);
    double t_ref = hq_time_now() - t0;
    HQ_REQUIRE(ref.st == HQ_OK && ref.finished);
    int ref_jobs = 0;
    HQ_REQUIRE(max_jobs_per_token(e, true, &ref_jobs) == 1);
    char cfg[4096], db[4096], out[4096], js[4096], err[4096];
    snprintf(cfg, sizeof cfg, "%s", hq_test_write_file("crash.json", json, strlen(json)));
    snprintf(db, sizeof db, "%s", hq_test_tmpfile("crash.db"));
    snprintf(out, sizeof out, "%s", hq_test_tmpfile("crash-out"));
    snprintf(js, sizeof js, "%s", hq_test_tmpfile("result.json"));
    snprintf(err, sizeof err, "%s", hq_test_tmpfile("stderr.txt"));
    hq_free(json);
    char *train[] = {(char *)bin, "train", "--config", cfg,     "--db",   db,
                     "--out",     out,     "--name",   "crash", "--json", NULL};
    char *resume[] = {(char *)bin, "resume", "crash", "--db", db, "--json", NULL};
    hq_rng rng;
    hq_rng_init(&rng, 77, 0, 0);
    bool started = false, done = false;
    int kills = 0, restarts = 0, rounds;
    char got[65] = "";
    for (rounds = 0; rounds < 30 && !done; rounds++) {
        const char *env = NULL;
        long kill_ms = -1;
        restarter rs = {.emu = &e, .state = state, .port = port};
        bool restart = false;
        /* kill after the 1st submission, kill at random, kill after the 2nd submission,
         * restart the emulator mid-run (then kill the client while it talks to the new
         * instance), then run to the end */
        if (rounds == 0 || rounds == 2)
            env = rounds == 0 ? "1" : "2"; /* between a submission and its bookkeeping */
        else if (rounds == 1 || rounds == 4)
            kill_ms = (long)(1000 * t_ref * (rounds == 1 ? 0.2 : 0.4) * (1 + hq_rng_uniform(&rng)));
        else if (rounds == 3)
            restart = true;
        if (restart) pthread_create(&rs.th, NULL, restart_main, &rs);
        int rc = run_cli(started ? resume : train, kill_ms, env, js, err);
        if (restart) {
            pthread_join(rs.th, NULL);
            HQ_REQUIRE(rs.ok);
            restarts += rs.mid_run;
        }
        if (getenv("HQ_TEST_VERBOSE"))
            fprintf(stderr, "  round %d: %s env=%s kill_ms=%ld restart=%d -> rc %d\n", rounds,
                    started ? "resume" : "train", env ? env : "-", kill_ms, restart, rc);
        if (rc == 137)
            kills++;
        else if (rc == 0)
            done = hq_test_read_run_sha(js, got);
        if (!started) started = run_exists(db, "crash");
        hq_clear_error();
    }
    HQ_CHECKF(done, "the run did not finish after %d rounds (stderr in %s)", rounds, err);
    HQ_CHECKF(kills >= 4, "only %d kills happened", kills);
    HQ_CHECKF(restarts >= 1, "the emulator restart did not happen while the client ran");
    HQ_CHECK_STR(got, ref.sha);
    int n_jobs = 0, worst = max_jobs_per_token(e, true, &n_jobs);
    HQ_CHECKF(worst == 1, "a job was accepted %d times", worst);
    /* the crashing run may pay for a job whose process died before recording it ... no: every
     * accepted job is found again by its token, so the total equals the reference's (+ its
     * own reference run's jobs, which are in the same emulator) */
    HQ_CHECKF(n_jobs == 2 * ref_jobs, "%d jobs accepted for two runs of %d jobs", n_jobs, ref_jobs);
    hq_emulator_stop(e);
}

/* ==== credentials never leave the process ================================================== */

/* Bytes of a file contain needle? (-1 if unreadable) */
static int file_contains(const char *path, const char *needle) {
    char *data = NULL;
    size_t len = 0;
    if (hq_file_read(path, 0, &data, &len) != HQ_OK) return -1;
    int found = 0;
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len && !found; i++) found = !memcmp(data + i, needle, nl);
    hq_free(data);
    return found;
}

/* Recursively check every regular file under dir; returns files with the needle, and
 * counts the files checked. */
static int tree_contains(const char *dir, const char *needle, int *n_files, char *hit, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int hits = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            hits += tree_contains(p, needle, n_files, hit, cap);
        } else if (S_ISREG(st.st_mode)) {
            (*n_files)++;
            if (file_contains(p, needle) == 1) {
                hits++;
                snprintf(hit, cap, "%s", p);
            }
        }
    }
    closedir(d);
    return hits;
}

HQ_TEST(rest_emu_planted_key_never_written) {
    const char *bin = getenv("HQCNN_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        HQ_CHECKF(false, "HQCNN_BIN is not set to the hqcnn binary (make test sets it)");
        return;
    }
    env_keys(); /* EKEY is the planted credential: recognisable, 21 characters */
    hq_emulator *e = emu_start(NULL, 0);
    HQ_REQUIRE(e);
    /* a refused submission (error messages), and a malformed reply to look at */
    HQ_REQUIRE_OK(hq_emulator_arm_faults(e, "auth401@2~POST/api/v1/jobs,truncate~GET/api/v1/jobs/,"
                                            "auth401~POST/v0.3/jobs"));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", hq_test_tmpfile("leak"));
    HQ_REQUIRE_OK(hq_mkdir_p(dir, 0700));
    char cfg_ibm[4096], cfg_ionq[4096], db[4096], outs[8][4096];
    char *j1 = emu_config("emulator-ibm", hq_emulator_port(e), NULL, 4);
    char *j2 = emu_config("emulator-ionq", hq_emulator_port(e), NULL, 4);
    HQ_REQUIRE(j1 && j2);
    snprintf(cfg_ibm, sizeof cfg_ibm, "%s", hq_test_write_file("leak/ibm.json", j1, strlen(j1)));
    snprintf(cfg_ionq, sizeof cfg_ionq, "%s", hq_test_write_file("leak/ionq.json", j2, strlen(j2)));
    hq_free(j1);
    hq_free(j2);
    snprintf(db, sizeof db, "%s/runs.db", dir);
    for (int i = 0; i < 8; i++) snprintf(outs[i], sizeof outs[i], "%s/cmd%d.out", dir, i);
    char err[4096];
    snprintf(err, sizeof err, "%s/all.err", dir);
    char run_ibm[4096], run_ionq[4096];
    snprintf(run_ibm, sizeof run_ibm, "%s/run-ibm", dir);
    snprintf(run_ionq, sizeof run_ionq, "%s/run-ionq", dir);
    setenv("HQCNN_LOG", "debug", 1);
    char *cmds[8][12] = {
        {(char *)bin, "train", "--config", cfg_ibm, "--db", db, "--out", run_ibm, "--name", "li",
         NULL},
        {(char *)bin, "resume", "li", "--db", db, NULL},
        {(char *)bin, "train", "--config", cfg_ionq, "--db", db, "--out", run_ionq, "--name", "lq",
         NULL},
        {(char *)bin, "resume", "lq", "--db", db, NULL},
        {(char *)bin, "show", "li", "--db", db, NULL},
        {(char *)bin, "jobs", "--db", db, NULL},
        {(char *)bin, "runs", "--db", db, "--json", NULL},
        {(char *)bin, "jobs", "lq", "--db", db, "--json", NULL},
    };
    int rc[8];
    for (int i = 0; i < 8; i++) rc[i] = run_cli(cmds[i], -1, NULL, outs[i], err);
    unsetenv("HQCNN_LOG");
    HQ_CHECKF(rc[0] != 0 && rc[1] == 0, "the IBM run should stop once (auth) and resume: %d %d",
              rc[0], rc[1]);
    HQ_CHECKF(rc[2] != 0 && rc[3] == 0, "the IonQ run should stop once (auth) and resume: %d %d",
              rc[2], rc[3]);
    for (int i = 4; i < 8; i++) HQ_CHECKF(rc[i] == 0, "command %d exited with %d", i, rc[i]);
    HQ_CHECKF(file_contains(err, "401") == 1, "the auth failure is reported on stderr");
    /* the key, and the header values that would carry it, appear nowhere */
    const char *needles[] = {EKEY, "apiKey ", "Bearer ", "apikey="};
    for (size_t k = 0; k < HQ_ARRAY_LEN(needles); k++) {
        int n_files = 0;
        char hit[4096] = "";
        int hits = tree_contains(dir, needles[k], &n_files, hit, sizeof hit);
        HQ_CHECKF(hits == 0, "'%s' found in %d file(s), e.g. %s", needles[k], hits, hit);
        HQ_CHECKF(n_files >= 12, "only %d files were searched", n_files);
    }
    /* the database was searched too (with its WAL) */
    HQ_CHECK(file_contains(db, "breastmnist") == 1);
    hq_emulator_stop(e);
}

/* A job the emulator accepted but had not executed when it stopped runs after the restart
 * and must give the counts it would have given (the resume guarantee rests on it): the
 * stored request has to keep every bit of the parameter values. */
HQ_TEST(rest_emu_job_run_again_after_restart_gives_the_same_counts) {
    env_keys();
    char state[4096];
    snprintf(state, sizeof state, "%s", hq_test_tmpfile("st"));
    hq_emulator *e = emu_start(state, 0);
    HQ_REQUIRE(e);
    int port = hq_emulator_port(e);
    char opts[64];
    snprintf(opts, sizeof opts, "{\"port\":%d}", port);
    hq_backend *b = NULL;
    HQ_REQUIRE_OK(hq_backend_create("emulator-ibm", opts, &b));
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int a, w;
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_creg(c, "m", 2, NULL);
    hq_circuit_add_symbol(c, "a", HQ_SYM_INPUT, &a);
    hq_circuit_add_symbol(c, "w", HQ_SYM_WEIGHT, &w);
    hq_angle x = hq_angle_sym(a, 1, 0), y = hq_angle_sym(w, 1, 0);
    hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0}, &x);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 1}, NULL);
    hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){1}, &y);
    hq_circuit_add_measure(c, 0, 0);
    hq_circuit_add_measure(c, 1, 1);
    /* values one ulp away from a short decimal: a printer that keeps 15 digits when they
     * compare equal within a relative epsilon (cJSON) loses that ulp */
    double rows[4] = {nextafter(1000.1, 2000.0), nextafter(-777.7, 0.0), nextafter(333.3, 0.0),
                      nextafter(4321.9, 9000.0)};
    hq_job_entry en = {c, 2, rows};
    hq_job_spec js = {.entries = &en, .n_entries = 1, .shots = 2000, .client_token = "rerun-1"};
    char id[HQ_REMOTE_ID_MAX];
    HQ_REQUIRE_OK(hq_backend_submit(b, &js, id));
    hq_job_state st = HQ_JOB_QUEUED;
    for (int k = 0; k < 500 && st != HQ_JOB_COMPLETED; k++) {
        hq_sleep_ms(5);
        HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, NULL, 0));
    }
    hq_counts first[2], again[2];
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, 2, first));
    hq_emulator_stop(e);
    /* forget the results, as if the emulator had stopped before running the job */
    char path[4200];
    snprintf(path, sizeof path, "%s/jobs/%s.json", state, id);
    size_t len;
    /* (not re-printed with cJSON: that would round the values itself) */
    {
        char *t = NULL;
        HQ_REQUIRE_OK(hq_file_read(path, 0, &t, &len));
        char *r = strstr(t, "\"results\":[");
        char *ex = strstr(t, "\"executed\":true");
        HQ_REQUIRE(r && ex);
        hq_sbuf nb = HQ_SBUF_INIT;
        /* "results":[...] is the last member but "executed": cut it out and say null */
        hq_sbuf_append(&nb, t, (size_t)(r - t));
        hq_sbuf_puts(&nb, "\"results\":null,\"executed\":false}");
        HQ_REQUIRE_OK(hq_file_write_atomic(path, nb.p, nb.len));
        hq_sbuf_free(&nb);
        hq_free(t);
    }
    e = emu_start(state, port);
    HQ_REQUIRE(e);
    hq_backend_free(b);
    HQ_REQUIRE_OK(hq_backend_create("emulator-ibm", opts, &b));
    st = HQ_JOB_QUEUED;
    for (int k = 0; k < 500 && st != HQ_JOB_COMPLETED; k++) {
        hq_sleep_ms(5);
        HQ_REQUIRE_OK(hq_backend_poll(b, id, &st, NULL, 0));
    }
    HQ_REQUIRE_OK(hq_backend_fetch(b, id, 2, again));

    for (int r = 0; r < 2; r++) {
        HQ_CHECK_EQ_INT(first[r].n, again[r].n);
        for (int64_t k = 0; k < first[r].n && k < again[r].n; k++) {
            HQ_CHECK(first[r].outcome[k] == again[r].outcome[k]);
            HQ_CHECK_EQ_INT(first[r].count[k], again[r].count[k]);
        }
        hq_counts_free(&first[r]);
        hq_counts_free(&again[r]);
    }
    hq_circuit_free(c);
    hq_backend_free(b);
    hq_emulator_stop(e);
}
