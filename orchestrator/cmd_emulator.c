/*
 * orchestrator/cmd_emulator.c — `hqcnn emulator`: run the local QPU emulator
 * (backends/emulator/emulator.h) until SIGINT / SIGTERM.
 *
 * The profile is a built-in name (ionq, ibm) or a JSON profile file (configs/emulator/);
 * command-line options override the profile. The first line printed on standard output is
 * "hqcnn emulator: listening on http://127.0.0.1:PORT ..." so scripts can read the port.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/emulator/emulator.h"
#include "orchestrator/orchestrator.h"

static const char emu_usage[] =
    "hqcnn emulator --profile ionq|ibm|PROFILE.json [options]\n"
    "\n"
    "Serve the IonQ v0.3 and IBM Quantum Runtime REST routes on 127.0.0.1, run the submitted\n"
    "circuits on the density-matrix simulator with a noise model, inject faults. Runs until\n"
    "SIGINT or SIGTERM. Both route families are always served; the profile picks defaults.\n"
    "\n"
    "  --profile P              ionq, ibm, or a JSON profile file (configs/emulator/*.json)\n"
    "  --port N                 TCP port on 127.0.0.1 (default 0: an ephemeral port, printed)\n"
    "  --noise FILE|ideal       noise model JSON for every noisy execution (default: the\n"
    "                           device's calibration for IBM, IonQ's characterization)\n"
    "  --device CONF[,PROPS]    IBM configuration (+ properties) JSON of the emulated device\n"
    "                           (default: the built-in 5-qubit emu_fake4, ibmq_manila numbers)\n"
    "  --faults SPEC            arm faults at start: NAME[:ARG][@COUNT][+SKIP][~ROUTE],... or\n"
    "                           a JSON list (docs/emulator.md)\n"
    "  --state-dir DIR          persist jobs in DIR and reload them at the next start\n"
    "  --seed S                 emulator seed (sampling seeds derive from it)\n"
    "  --queue-delay-ms N       time a job stays queued (default 100)\n"
    "  --run-delay-ms N         time a job stays running (default 100)\n"
    "  --api-key-env VAR        the valid API key (IonQ and IBM) is $VAR; default: IonQ from\n"
    "                           IONQ_API_KEY, IBM from IBM_QUANTUM_API_KEY (else\n"
    "                           IBM_CLOUD_API_KEY); the other family falls back to the\n"
    "                           profile's key\n"
    "  --crn CRN                the Service-CRN IBM calls must send (default $IBM_QUANTUM_CRN,\n"
    "                           else any value starting with crn:)\n"
    "  --check                  validate the options, print them as JSON and exit";

/* Strings the profile file owns. */
typedef struct emu_cli {
    hq_emulator_options o;
    char *own[24];
    int n_own;
    const char *key_env;
    const char *crn;
} emu_cli;

static const char *keep(emu_cli *c, const char *s) {
    if (!s || c->n_own == (int)HQ_ARRAY_LEN(c->own)) return NULL;
    char *d = hq_strdup(s);
    if (d) c->own[c->n_own++] = d;
    return d;
}

static hq_status split_device(emu_cli *c, const char *v) {
    const char *comma = strchr(v, ',');
    if (!comma) {
        c->o.device_conf = v;
        c->o.device_props = NULL;
        return HQ_OK;
    }
    char *conf = hq_strndup(v, (size_t)(comma - v));
    if (!conf) return hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    c->o.device_conf = keep(c, conf);
    hq_free(conf);
    c->o.device_props = comma + 1;
    if (!c->o.device_conf || !*c->o.device_conf || !*c->o.device_props)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "--device wants CONF.json[,PROPS.json], got '%s'",
                        v);
    return HQ_OK;
}

static hq_status json_int(const cJSON *v, const char *path, const char *key, double lo, double hi,
                          double *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: '%s' must be an integer in [%g, %g]", path,
                        key, lo, hi);
    *out = v->valuedouble;
    return HQ_OK;
}

/* A profile file: {"profile": "ionq"|"ibm", ...option fields...}. */
static hq_status load_profile_file(emu_cli *c, const char *path) {
    char *txt = NULL;
    size_t len = 0;
    hq_status st = hq_file_read(path, 1 << 20, &txt, &len);
    if (st != HQ_OK) return st;
    cJSON *doc = cJSON_ParseWithLength(txt, len);
    hq_free(txt);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_PARSE, "%s: not a JSON object", path);
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "profile");
    hq_emu_profile prof = HQ_EMU_PROFILE_IONQ;
    if (!cJSON_IsString(p) || hq_emu_profile_parse(p->valuestring, &prof) != HQ_OK) {
        cJSON_Delete(doc);
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: \"profile\" must be \"ionq\" or \"ibm\"",
                        path);
    }
    c->o = hq_emulator_default_options(prof);
    for (const cJSON *it = doc->child; it && st == HQ_OK; it = it->next) {
        const char *k = it->string;
        double v = 0;
        if (!strcmp(k, "profile") || !strcmp(k, "description")) continue;
        if (!strcmp(k, "port")) {
            if ((st = json_int(it, path, k, 0, 65535, &v)) == HQ_OK) c->o.port = (int)v;
        } else if (!strcmp(k, "seed")) {
            if ((st = json_int(it, path, k, 0, 9007199254740992.0, &v)) == HQ_OK)
                c->o.seed = (uint64_t)v;
        } else if (!strcmp(k, "queue_delay_ms")) {
            if ((st = json_int(it, path, k, 0, 864e6, &v)) == HQ_OK)
                c->o.queue_delay_ms = (int64_t)v;
        } else if (!strcmp(k, "run_delay_ms")) {
            if ((st = json_int(it, path, k, 0, 864e6, &v)) == HQ_OK) c->o.run_delay_ms = (int64_t)v;
        } else if (!strcmp(k, "token_ttl_s")) {
            if ((st = json_int(it, path, k, 1, 1e7, &v)) == HQ_OK) c->o.token_ttl_s = v;
        } else if (!strcmp(k, "max_qubits_noisy")) {
            if ((st = json_int(it, path, k, 1, 14, &v)) == HQ_OK) c->o.max_qubits_noisy = (int)v;
        } else if (!strcmp(k, "max_qubits_exact")) {
            if ((st = json_int(it, path, k, 1, 26, &v)) == HQ_OK) c->o.max_qubits_exact = (int)v;
        } else if (!strcmp(k, "max_samples_per_job")) {
            if ((st = json_int(it, path, k, 1, 1e8, &v)) == HQ_OK)
                c->o.max_samples_per_job = (int64_t)v;
        } else if (!strcmp(k, "max_circuits_per_job")) {
            if ((st = json_int(it, path, k, 1, 1e5, &v)) == HQ_OK)
                c->o.max_circuits_per_job = (int)v;
        } else if (!strcmp(k, "max_jobs")) {
            if ((st = json_int(it, path, k, 1, 1e7, &v)) == HQ_OK) c->o.max_jobs = (int64_t)v;
        } else if (!strcmp(k, "noise") || !strcmp(k, "device") || !strcmp(k, "state_dir") ||
                   !strcmp(k, "api_key_env") || !strcmp(k, "crn")) {
            if (!cJSON_IsString(it)) {
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: '%s' must be a string", path, k);
                break;
            }
            const char *s = keep(c, it->valuestring);
            if (!s)
                st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            else if (!strcmp(k, "noise"))
                c->o.noise_path = s;
            else if (!strcmp(k, "device"))
                st = split_device(c, s);
            else if (!strcmp(k, "state_dir"))
                c->o.state_dir = s;
            else if (!strcmp(k, "api_key_env"))
                c->key_env = s;
            else
                c->crn = s;
        } else if (!strcmp(k, "faults")) {
            char *t = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
            const char *s = keep(c, t ? t : (cJSON_IsString(it) ? it->valuestring : ""));
            cJSON_free(t);
            if (!s)
                st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            else
                c->o.faults = s;
        } else {
            st = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                          "%s: unknown field '%s' (see docs/emulator.md, \"Profiles\")", path, k);
        }
    }
    cJSON_Delete(doc);
    return st;
}

static void print_check(const emu_cli *c, const char *ionq_env, const char *ibm_env) {
    const hq_emulator_options *o = &c->o;
    printf("{\"profile\":\"%s\",\"port\":%d,\"seed\":%llu,\"queue_delay_ms\":%lld,"
           "\"run_delay_ms\":%lld,\"token_ttl_s\":%g,\"max_qubits_noisy\":%d,"
           "\"max_qubits_exact\":%d,\"max_samples_per_job\":%lld,\"max_circuits_per_job\":%d,"
           "\"max_jobs\":%lld",
           hq_emu_profile_name(o->profile), o->port, (unsigned long long)o->seed,
           (long long)o->queue_delay_ms, (long long)o->run_delay_ms, o->token_ttl_s,
           o->max_qubits_noisy, o->max_qubits_exact, (long long)o->max_samples_per_job,
           o->max_circuits_per_job, (long long)o->max_jobs);
    hq_sbuf b = HQ_SBUF_INIT;
#define STR(name, v)                    \
    hq_sbuf_puts(&b, ",\"" name "\":"); \
    if (v)                              \
        hq_sbuf_put_json_str(&b, v);    \
    else                                \
        hq_sbuf_puts(&b, "null");
    STR("noise", o->noise_path)
    STR("device_conf", o->device_conf)
    STR("device_props", o->device_props)
    STR("state_dir", o->state_dir)
    STR("faults", o->faults)
    STR("ionq_key_env", ionq_env)
    STR("ibm_key_env", ibm_env)
#undef STR
    printf("%s}\n", b.p ? b.p : "");
    hq_sbuf_free(&b);
}

static int run(int argc, char **argv, emu_cli *c) {
    const char *profile = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: %s\n", emu_usage);
            return HQ_EXIT_OK;
        }
        if (!strcmp(argv[i], "--profile") && i + 1 < argc) profile = argv[i + 1];
    }
    if (!profile) return hq_cli_usage("--profile is required\n%s", emu_usage);
    hq_emu_profile prof;
    hq_status st;
    if (hq_emu_profile_parse(profile, &prof) == HQ_OK) {
        c->o = hq_emulator_default_options(prof);
    } else if (hq_file_exists(profile)) {
        if ((st = load_profile_file(c, profile)) != HQ_OK) return hq_cli_fail(st);
    } else {
        return hq_cli_usage("--profile must be ionq, ibm or a profile file (got '%s')", profile);
    }
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n;
        if (!strcmp(s, "--check")) {
            check = true;
            continue;
        }
        if (!v || s[0] != '-' || s[1] != '-')
            return hq_cli_usage("unknown or incomplete option '%s'\n%s", s, emu_usage);
        i++;
        if (!strcmp(s, "--profile")) {
            continue;
        } else if (!strcmp(s, "--port")) {
            if (hq_parse_i64(v, 0, 65535, &n) != HQ_OK)
                return hq_cli_usage("--port must be an integer in [0, 65535] (got '%s')", v);
            c->o.port = (int)n;
        } else if (!strcmp(s, "--seed")) {
            if (hq_parse_i64(v, 0, INT64_MAX, &n) != HQ_OK)
                return hq_cli_usage("--seed must be a non-negative integer (got '%s')", v);
            c->o.seed = (uint64_t)n;
        } else if (!strcmp(s, "--queue-delay-ms") || !strcmp(s, "--run-delay-ms")) {
            if (hq_parse_i64(v, 0, 864000000, &n) != HQ_OK)
                return hq_cli_usage("%s must be an integer in [0, 864000000] (got '%s')", s, v);
            if (s[2] == 'q')
                c->o.queue_delay_ms = n;
            else
                c->o.run_delay_ms = n;
        } else if (!strcmp(s, "--noise")) {
            c->o.noise_path = v;
        } else if (!strcmp(s, "--device")) {
            if ((st = split_device(c, v)) != HQ_OK) return hq_cli_fail(st);
        } else if (!strcmp(s, "--faults")) {
            if (hq_emulator_check_faults(v) != HQ_OK)
                return hq_cli_usage("--faults: %s", hq_last_error());
            c->o.faults = v;
        } else if (!strcmp(s, "--state-dir")) {
            c->o.state_dir = v;
        } else if (!strcmp(s, "--api-key-env")) {
            c->key_env = v;
        } else if (!strcmp(s, "--crn")) {
            c->crn = v;
        } else {
            return hq_cli_usage("unknown option '%s'\n%s", s, emu_usage);
        }
    }
    /* keys */
    const char *ionq_env = c->key_env ? c->key_env : "IONQ_API_KEY";
    const char *ibm_env = c->key_env ? c->key_env : "IBM_QUANTUM_API_KEY";
    const char *ionq_key = getenv(ionq_env), *ibm_key = getenv(ibm_env);
    if (!c->key_env && (!ibm_key || !*ibm_key)) {
        ibm_key = getenv("IBM_CLOUD_API_KEY");
        ibm_env = "IBM_CLOUD_API_KEY";
    }
    if (ionq_key && !*ionq_key) ionq_key = NULL;
    if (ibm_key && !*ibm_key) ibm_key = NULL;
    const char *primary = c->o.profile == HQ_EMU_PROFILE_IONQ ? ionq_key : ibm_key;
    const char *primary_env = c->o.profile == HQ_EMU_PROFILE_IONQ ? ionq_env : ibm_env;
    if (!primary && !c->key_env && c->o.profile == HQ_EMU_PROFILE_IBM)
        return hq_cli_error(
            "the emulator needs the API key clients must send: set "
            "IBM_QUANTUM_API_KEY (or IBM_CLOUD_API_KEY, or pass --api-key-env VAR)");
    if (!primary)
        return hq_cli_error("the emulator needs the API key clients must send: set %s (or pass "
                            "--api-key-env VAR)",
                            primary_env);
    c->o.ionq_api_key = ionq_key ? ionq_key : primary;
    c->o.ibm_api_key = ibm_key ? ibm_key : primary;
    const char *crn = c->crn ? c->crn : getenv("IBM_QUANTUM_CRN");
    c->o.ibm_crn = crn && *crn ? crn : NULL;
    if (check) {
        print_check(c, ionq_key ? ionq_env : primary_env, ibm_key ? ibm_env : primary_env);
        return HQ_EXIT_OK;
    }

    /* block the stop signals in every thread; this one waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    hq_emulator *emu = NULL;
    if ((st = hq_emulator_start(&c->o, &emu)) != HQ_OK) return hq_cli_fail(st);
    const char *url = hq_emulator_url(emu);
    printf("hqcnn emulator: listening on %s (profile %s)\n"
           "  IonQ v0.3:    %s/v0.3    (Authorization: apiKey $%s)\n"
           "  IBM Runtime:  %s/api/v1  (IAM: %s/identity/token, key $%s)\n"
           "  control:      %s/_emu/stats, /_emu/faults, /_emu/recalibrate\n",
           url, hq_emu_profile_name(c->o.profile), url, ionq_key ? ionq_env : primary_env, url, url,
           ibm_key ? ibm_env : primary_env, url);
    if (c->o.state_dir) {
        hq_emulator_stats s0;
        hq_emulator_get_stats(emu, &s0);
        printf("  state:        %s (%lld jobs reloaded)\n", c->o.state_dir,
               (long long)s0.jobs_stored);
    }
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    hq_emulator_stats stt;
    hq_emulator_get_stats(emu, &stt);
    hq_emulator_stop(emu);
    fprintf(stderr, "hqcnn emulator: stopped by %s after %lld requests, %lld jobs accepted\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)stt.requests,
            (long long)stt.jobs_accepted);
    return HQ_EXIT_OK;
}

int hq_cmd_emulator(int argc, char **argv) {
    emu_cli c;
    memset(&c, 0, sizeof c);
    int rc = run(argc, argv, &c);
    for (int i = 0; i < c.n_own; i++) hq_free(c.own[i]);
    return rc;
}
