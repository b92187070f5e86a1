/*
 * backends/emulator/emulator.h — a local QPU emulator: an HTTP server on 127.0.0.1 that
 * serves the IonQ v0.3 and IBM Quantum Runtime (Sampler V2) REST routes the project's
 * clients use, runs the submitted circuits on the density-matrix simulator with a noise
 * model, and injects the failures real providers show (429, 5xx, HTML pages, dropped and
 * slow replies, truncated or mistyped JSON, failed / cancelled / partial jobs,
 * calibration changes, lost submit replies).
 *
 *     hq_emulator_options o = hq_emulator_default_options(HQ_EMU_PROFILE_IBM);
 *     o.ionq_api_key = "test-key";  o.ibm_api_key = "test-key";
 *     o.state_dir = "/tmp/emu";     // jobs survive a stop/start with the same directory
 *     hq_emulator *emu;
 *     if (hq_emulator_start(&o, &emu) != HQ_OK) fprintf(stderr, "%s\n", hq_last_error());
 *     printf("%s\n", hq_emulator_url(emu));          // http://127.0.0.1:PORT
 *     hq_emulator_arm_faults(emu, "rate429:2@3");    // next 3 requests: 429, Retry-After: 2
 *     ... clients talk to it over loopback HTTP ...
 *     hq_emulator_stats st;  hq_emulator_get_stats(emu, &st);   // st.jobs_accepted ...
 *     hq_emulator_stop(emu);
 *
 * Routes (docs/emulator.md has the full table and the wire shapes):
 *   IonQ v0.3   POST /v0.3/jobs, GET /v0.3/jobs (list, filters), GET /v0.3/jobs/{id},
 *               GET /v0.3/jobs/{id}/results, PUT /v0.3/jobs/{id}/status/cancel,
 *               GET /v0.3/backends, GET /v0.3/characterizations/backends/{name}/current
 *               — auth "Authorization: apiKey <key>".
 *   IBM         POST /identity/token (IAM API-key exchange); POST /api/v1/jobs,
 *               GET /api/v1/jobs (list, tags filter), GET /api/v1/jobs/{id},
 *               GET /api/v1/jobs/{id}/results, POST /api/v1/jobs/{id}/cancel,
 *               GET /api/v1/backends, GET /api/v1/backends/{name}/{configuration,
 *               properties,status}, POST|GET|PATCH /api/v1/sessions[/{id}[/close]]
 *               — auth "Authorization: Bearer <token>" + Service-CRN.
 *   control     GET /_emu/stats, GET|POST|DELETE /_emu/faults, POST /_emu/recalibrate.
 *
 * Determinism: the sampling seed of a circuit is derived from (options.seed, the
 * circuit's canonical text with its parameter values, physical layout and shots, the
 * target's noise identity) — never from job ids, arrival order or time — so the same
 * circuit gives the same counts in every job, before and after a restart.
 *
 * Jobs advance queued -> running -> completed on wall-clock timestamps fixed at
 * submission (queue delay, run delay: options, or the X-Emu-Delay-Ms header). With a
 * state directory every accepted job (request, timestamps, results once computed) is
 * written atomically to STATE_DIR/jobs/<id>.json before the submit reply is sent, and
 * reloaded by the next start.
 *
 * Faults: hq_emulator_arm_faults (or POST /_emu/faults, or options.faults, or a per-request
 * `X-Emu-Fault` header). Syntax: comma-separated items NAME[:ARG][@COUNT][+SKIP][~ROUTE],
 * or a JSON list; see hq_emulator_arm_faults and docs/emulator.md.
 *
 * Threads: libmicrohttpd runs one thread per connection (so an injected sleep delays only
 * its own reply); one worker thread executes circuits. All functions are thread-safe.
 *
 * Ownership: hq_emulator_start's caller owns the handle and releases it with
 * hq_emulator_stop (NULL is a no-op). Strings in the options are copied at start.
 */
#ifndef HQ_EMULATOR_H
#define HQ_EMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_emulator hq_emulator;

/* Which provider the server primarily plays. Both route families are always served; the
 * profile picks the defaults (API-key variable, error shape of unknown routes). */
typedef enum hq_emu_profile {
    HQ_EMU_PROFILE_IONQ = 0,
    HQ_EMU_PROFILE_IBM,
    HQ_EMU_PROFILE_COUNT
} hq_emu_profile;

/* "ionq" / "ibm" ("?" out of range). */
const char *hq_emu_profile_name(hq_emu_profile p);
/* Parse "ionq" / "ibm"; HQ_ERR_INVALID_ARG otherwise. */
hq_status hq_emu_profile_parse(const char *s, hq_emu_profile *out);

/* Name of the built-in IBM device (5-qubit line, cz; ibmq_manila calibration numbers). */
#define HQ_EMU_DEFAULT_DEVICE "emu_fake4"

typedef struct hq_emulator_options {
    hq_emu_profile profile;      /* see hq_emu_profile */
    const char *bind_addr;       /* NULL or "127.0.0.1" (anything else is refused) */
    int port;                    /* TCP port, 0 = ephemeral (read it with hq_emulator_port) */
    uint64_t seed;               /* emulator seed, mixed into every sampling seed */
    const char *ionq_api_key;    /* the valid IonQ key; NULL: every IonQ call gets 401 */
    const char *ibm_api_key;     /* the valid IBM Cloud API key for /identity/token; NULL:
                                    every token request gets 400 */
    const char *ibm_crn;         /* the Service-CRN required on IBM calls; NULL: any value
                                    starting with "crn:" */
    const char *state_dir;       /* persistence directory (created), NULL: memory only */
    const char *noise_path;      /* noise-model JSON (backends/noise.h) for every noisy
                                    execution; "ideal" = no noise; NULL: the device's model
                                    (IBM) and the IonQ characterization model (IonQ) */
    const char *device_conf;     /* IBM configuration JSON of the emulated device, NULL: the
                                    built-in HQ_EMU_DEFAULT_DEVICE */
    const char *device_props;    /* its properties JSON (NULL: none, a noiseless device
                                    unless noise_path says otherwise) */
    const char *faults;          /* fault spec armed at start (hq_emulator_arm_faults syntax),
                                    NULL = none */
    int64_t queue_delay_ms;      /* time a job spends queued, ms, >= 0 */
    int64_t run_delay_ms;        /* time a job spends running, ms, >= 0 */
    double token_ttl_s;          /* lifetime of IAM tokens, seconds, > 0 [3600] */
    size_t max_body_bytes;       /* larger request bodies get 413 [16 MiB] */
    int max_connections;         /* concurrent connections [64] */
    int max_qubits_noisy;        /* widest circuit (active qubits) run on the density
                                    matrix, 1..14 [10] */
    int max_qubits_exact;        /* widest IonQ ideal-simulator circuit (statevector),
                                    1..26 [20] */
    int64_t max_samples_per_job; /* IBM: sum over pubs of shots x bindings [10,000,000] */
    int max_circuits_per_job;    /* IonQ circuits per job [1000] */
    int64_t max_jobs;            /* stored jobs; further submissions get 503 [100000] */
} hq_emulator_options;

/* Defaults for a profile (every field of the struct above at its bracketed default, no
 * keys, no state directory, ephemeral port, seed 1, queue and run delay 100 ms). */
hq_emulator_options hq_emulator_default_options(hq_emu_profile p);

/*
 * Start the server: load the device and noise models, reload the state directory, arm
 * options->faults, bind 127.0.0.1:port and start the worker.
 *   [in]  opt   options (copied)
 *   [out] out   the running emulator (caller stops it with hq_emulator_stop)
 * Returns HQ_OK; HQ_ERR_INVALID_ARG (bad option value or bind address other than
 * 127.0.0.1, bad fault spec, a device without a two-qubit gate), HQ_ERR_NOT_FOUND /
 * HQ_ERR_IO / HQ_ERR_PARSE (device, noise or state files: the message names the file),
 * HQ_ERR_NETWORK (the port cannot be bound), HQ_ERR_NOMEM. Limits left at 0 take their
 * defaults, so a zeroed struct plus keys is a valid configuration.
 */
hq_status hq_emulator_start(const hq_emulator_options *opt, hq_emulator **out);

/* Stop serving (in-flight replies and injected sleeps are cut short), finish the circuit
 * being executed, write pending state and free everything. NULL is a no-op. */
void hq_emulator_stop(hq_emulator *emu);

/* The bound port (0 for a bad handle). */
int hq_emulator_port(const hq_emulator *emu);
/* "http://127.0.0.1:PORT" (borrowed, valid until stop; "" for a bad handle). */
const char *hq_emulator_url(const hq_emulator *emu);

/*
 * Arm faults. spec: comma-separated items NAME[:ARG][@COUNT][+SKIP][~ROUTE], or a JSON
 * list of such strings and/or objects {"fault":NAME,"arg":..,"count":N|"*","skip":N,
 * "route":"[METHOD ]/path/prefix"}.
 *   NAME    auth401 auth403 rate429[:S] err500[:STATUS] err503_html drop timeout:MS
 *           truncate bad_json_types job_fail[:CODE] provider_cancel partial slow_queue:S
 *           recalibrate_mid_run dup_submit[:MS]
 *   @COUNT  fire COUNT times, then disarm (default 1; "*" = until cleared)
 *   +SKIP   let the first SKIP matching requests through first
 *   ~ROUTE  only requests whose path starts with the prefix (and method, if given:
 *           "~POST/v0.3/jobs")
 * Job faults (job_fail ... dup_submit) match job submissions only; the others match any
 * provider route. Returns HQ_OK, HQ_ERR_PARSE (message names the item and the problem),
 * HQ_ERR_MISUSE, HQ_ERR_NOMEM. Nothing is armed if any item is bad.
 */
hq_status hq_emulator_arm_faults(hq_emulator *emu, const char *spec);
/* Disarm every armed fault. */
hq_status hq_emulator_clear_faults(hq_emulator *emu);
/* Bump the calibration date of the IBM properties and IonQ characterizations (noise values
 * stay unchanged). */
hq_status hq_emulator_recalibrate(hq_emulator *emu);

typedef struct hq_emulator_stats {
    int64_t requests;           /* provider requests received since start (control routes
                                   excluded), faulted or not */
    int64_t requests_ionq;      /* of which IonQ routes */
    int64_t requests_ibm;       /* of which IBM routes (IAM included) */
    int64_t jobs_accepted;      /* jobs created since start (dup_submit's job included) */
    int64_t jobs_accepted_ionq; /* of which IonQ */
    int64_t jobs_accepted_ibm;  /* of which IBM */
    int64_t jobs_stored;        /* jobs in the store, those reloaded at start included */
    int64_t jobs_executed;      /* jobs whose circuits were run since start */
    int64_t faults_fired;       /* injected faults since start */
    int64_t faults_armed;       /* firings left in the armed faults; -1 if one is armed without
                                   a limit (@*) */
    int64_t calibration_count;  /* recalibrations over the store's lifetime */
    double exec_busy_s;         /* time the (single) worker spent executing jobs, seconds: the
                                   union of the jobs' execution intervals */
    int64_t jobs_noticed;       /* IBM jobs whose finished status a client has read */
    double notice_delay_sum_s;  /* sum over them of (first read reporting it finished -
                                   end_time), seconds: the client's polling latency */
    double notice_delay_max_s;  /* the largest of those delays, seconds */
    char calibration_date[48];  /* current properties last_update_date */
} hq_emulator_stats;

/* Snapshot of the counters. HQ_ERR_MISUSE for a bad handle or NULL out. */
hq_status hq_emulator_get_stats(hq_emulator *emu, hq_emulator_stats *out);

/* Count of one fault since start, by name ("rate429"); -1 for an unknown name. */
int64_t hq_emulator_fault_count(hq_emulator *emu, const char *name);

/* Check a fault spec without arming it (the CLI validates --faults with this). */
hq_status hq_emulator_check_faults(const char *spec);

#ifdef __cplusplus
}
#endif
#endif /* HQ_EMULATOR_H */
