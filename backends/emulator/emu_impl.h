/*
 * backends/emulator/emu_impl.h — the emulator's private structures, shared by its files:
 *
 *   emu_server.c   libmicrohttpd glue, routing, auth, control routes, wire-level faults
 *   emu_faults.c   fault spec parser, the armed list, per-request fault selection
 *   emu_jobs.c     job table, state machine, persistence, worker thread, execution
 *   emu_ionq.c     IonQ v0.3 request parsing and responses
 *   emu_ibm.c      IBM IAM / Runtime request parsing and responses
 *   emu_device.c   the emulated devices, noise models, calibration clock, JSON documents
 *
 * Locking: one mutex (emu->lock) guards the job table, faults, statistics and
 * calibration. A job's inputs (request, units) are immutable after creation and its
 * results immutable once `executed` is set (under the lock), so readers may use them
 * unlocked after checking `executed` under the lock. Jobs are never freed before stop.
 */
#ifndef HQ_EMU_IMPL_H
#define HQ_EMU_IMPL_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backends/circuit.h"
#include "backends/device.h"
#include "backends/emulator/emulator.h"
#include "backends/noise.h"
#include "core/core.h"

#define EMU_MAGIC 0x454d5530u /* "EMU0" */

/* Route families; EMU_IAM is counted with IBM but answers errors in IAM's shape. */
typedef enum emu_family { EMU_IONQ = 0, EMU_IBM, EMU_IAM, EMU_CONTROL, EMU_OTHER } emu_family;

typedef struct emu_req emu_req;

/* ==== faults ========================================================================== */

typedef enum emu_fault_kind {
    /* reply faults: the request is not processed, this reply replaces it */
    EMU_F_AUTH401 = 0,
    EMU_F_AUTH403,
    EMU_F_RATE429,
    EMU_F_ERR500,
    EMU_F_ERR503_HTML,
    EMU_F_DROP,
    /* delivery faults: the request is processed, its reply altered */
    EMU_F_TIMEOUT,
    EMU_F_TRUNCATE,
    EMU_F_BAD_JSON_TYPES,
    /* job faults: only job submissions; they shape the job's life */
    EMU_F_JOB_FAIL,
    EMU_F_PROVIDER_CANCEL,
    EMU_F_PARTIAL,
    EMU_F_SLOW_QUEUE,
    EMU_F_RECALIBRATE_MID_RUN,
    EMU_F_DUP_SUBMIT,
    EMU_F_COUNT
} emu_fault_kind;

typedef enum emu_fault_class { EMU_FC_REPLY = 0, EMU_FC_DELIVERY, EMU_FC_JOB } emu_fault_class;

const char *emu_fault_name(emu_fault_kind k);
emu_fault_class emu_fault_class_of(emu_fault_kind k);

/* One parsed fault item. */
typedef struct emu_fault {
    emu_fault_kind kind;
    bool has_arg;     /* an argument was given */
    double arg_num;   /* numeric argument (seconds, ms, status) */
    char arg_str[64]; /* textual argument (job_fail code) */
    int64_t count;    /* firings left; -1 = unlimited */
    int64_t skip;     /* matching requests to let through first */
    char method[8];   /* "" = any */
    char prefix[128]; /* path prefix, "" = any */
    char text[256];   /* the item as written (for listings and header signatures) */
    bool count_given; /* @COUNT was written */
} emu_fault;

/* Parse a spec into items (caller frees *items). HQ_ERR_PARSE naming the bad item. */
hq_status emu_faults_parse(const char *spec, emu_fault **items, int *n);

/* What applies to one request. */
typedef struct emu_req_faults {
    bool reply;            /* a reply fault fired: reply_kind, with its argument */
    emu_fault reply_fault; /* valid if reply */
    bool timeout;          /* sleep timeout_ms before replying */
    double timeout_ms;
    bool truncate;          /* cut the body in half */
    bool bad_types;         /* numbers become strings */
    bool job_fail;          /* job faults (submissions only) */
    char job_fail_code[64]; /* "" = the family's default */
    bool provider_cancel;
    bool partial;
    bool slow_queue;
    double slow_queue_s;
    bool recalibrate;
    bool dup_submit;
    double dup_submit_ms;       /* 0: drop at once */
    int64_t fired[EMU_F_COUNT]; /* firings, to be added to the statistics */
} emu_req_faults;

typedef struct emu_hdr_sig {
    uint64_t sig;  /* hash of method, path, item text */
    int64_t seen;  /* requests seen with it */
    uint64_t used; /* LRU clock */
} emu_hdr_sig;

#define EMU_HDR_SIGS 256

typedef struct emu_faults {
    emu_fault *armed; /* (n) in arming order */
    int n, cap;
    emu_hdr_sig sigs[EMU_HDR_SIGS]; /* per-signature state of counted header faults */
    uint64_t clock;
    int64_t fired[EMU_F_COUNT]; /* totals since start */
} emu_faults;

/* Append items to the armed list (lock held). */
hq_status emu_faults_arm(emu_faults *f, const emu_fault *items, int n);
void emu_faults_clear(emu_faults *f);
void emu_faults_free(emu_faults *f);
/* Select the non-job faults for a request (lock held): armed ones are consumed; header is
 * the X-Emu-Fault value (may be NULL). Header parse errors go to *hdr_err (caller frees;
 * NULL if none). */
void emu_faults_select(emu_faults *f, const char *method, const char *path, bool is_submit,
                       const char *header, emu_req_faults *out, char **hdr_err);
/* Take the job faults for a submission that is being accepted (lock held). */
void emu_faults_take_job(emu_faults *f, const char *method, const char *path, const char *header,
                         emu_req_faults *out);
/* Armed list as a JSON array (lock held). */
void emu_faults_to_json(const emu_faults *f, hq_sbuf *out);
int64_t emu_faults_armed_count(const emu_faults *f);

/* ==== jobs ============================================================================ */

/* One result distribution: of a circuit (IonQ) or of one parameter row of a pub (IBM). */
typedef struct emu_dist {
    int n_bits;        /* outcome width */
    bool exact;        /* prob holds exact probabilities (no shots) */
    int64_t n;         /* entries */
    uint64_t *outcome; /* (n) ascending */
    double *prob;      /* exact: (n) probabilities */
    int64_t *count;    /* sampled: (n) counts summing to shots */
    int64_t shots;     /* sampled: shots */
    uint64_t seed;     /* sampling seed (IBM shot order is shuffled with it too) */
    uint64_t stream;   /* sampling stream */
} emu_dist;

void emu_dist_free(emu_dist *d);

/* One creg of an IBM circuit. */
typedef struct emu_creg {
    char name[64]; /* register name = key of data in the results */
    int offset;    /* first classical bit */
    int size;      /* bits */
} emu_creg;

/* A unit of execution: an IonQ circuit, or an IBM pub with its parameter rows. */
typedef struct emu_unit {
    hq_circuit *circ; /* executable circuit (IBM: compacted to its active qubits) */
    int *layout;      /* (n_qubits of circ) physical qubit of each circuit qubit, or NULL */
    int64_t rows;     /* parameter rows, >= 1 */
    bool scalar;      /* IBM: 0-d pub (samples is a flat list) */
    double *values;   /* (rows x n_symbols) symbol values in circuit symbol order */
    int64_t shots;    /* shots per row */
    bool exact;       /* exact probabilities (IonQ ideal simulator) */
    const hq_noise_model *noise; /* noise of the execution (borrowed from the emulator),
                                    NULL = ideal */
    char tag[160];               /* noise identity mixed into the sampling seed */
    int n_cregs;                 /* IBM registers */
    emu_creg *cregs;             /* (n_cregs) */
    emu_dist *res;               /* (rows) results, NULL until executed */
} emu_unit;

typedef struct emu_job {
    char id[40];            /* IonQ UUID / IBM 20-character id */
    emu_family fam;         /* EMU_IONQ or EMU_IBM */
    cJSON *req;             /* the request body (immutable) */
    char *token;            /* client token: IonQ metadata hqcnn_token or name, IBM tag */
    double created;         /* Unix seconds */
    double t_run;           /* leaves the queue */
    double t_done;          /* ends (completed once results exist) */
    double t_exec;          /* results computed (0 = not yet) */
    double cancelled_at;    /* user cancel time, 0 = none */
    char fail_code[64];     /* job_fail fault code, "" = none */
    bool provider_cancel;   /* provider_cancel fault */
    bool partial;           /* partial fault */
    bool recalibrate;       /* recalibrate_mid_run fault */
    bool recalibrated;      /* ... and the bump happened */
    char err_code[64];      /* execution / preflight failure code, "" = none */
    char *err_msg;          /* its message */
    int n_units;            /* circuits / pubs */
    emu_unit *units;        /* (n_units) */
    char (*children)[40];   /* IonQ multi-circuit child ids (n_units), NULL if single */
    bool executed;          /* results (or err_code) final */
    bool queued;            /* waiting in the worker's queue */
    uint64_t version;       /* bumped at every change */
    uint64_t saved_version; /* last version written to disk */
    bool noticed;           /* a status read has reported it finished (statistics only) */
} emu_job;

/* Statistics: the first status read that reports j finished (end time `end`, Unix
 * seconds) records the delay since then. Caller holds e->lock. */
struct hq_emulator;
void emu_job_noticed(struct hq_emulator *e, emu_job *j, double end, double now);

typedef enum emu_state {
    EMU_S_QUEUED = 0,
    EMU_S_RUNNING,
    EMU_S_COMPLETED,
    EMU_S_FAILED,
    EMU_S_CANCELLED,
} emu_state;

/* The job's state at wall time now, and for failures/cancellations the reason code and
 * message (borrowed). Lock held. */
emu_state emu_job_state(const emu_job *j, double now, const char **code, const char **msg);
/* Job of an id (or, IonQ, of a child id: *child = index, else -1). Lock held. */
emu_job *emu_jobs_find(hq_emulator *e, const char *id, int *child);
/* Accept a prepared job: take the submission's job faults (into r->faults), fix its
 * timeline, persist it, then publish, count and queue it. Takes ownership of j (freed on
 * failure: HQ_ERR_BUSY when the store is full, HQ_ERR_IO when it cannot be written).
 * Lock NOT held. */
hq_status emu_jobs_add(hq_emulator *e, emu_job *j, emu_req *r);
/* Persist j if it changed (lock NOT held). */
void emu_jobs_save(hq_emulator *e, emu_job *j);
/* Load STATE_DIR/jobs (at start). */
hq_status emu_jobs_load(hq_emulator *e);
/* Lazy time-driven side effects (recalibrate_mid_run): jobs that changed are returned in
 * save[] (at most cap) for the caller to persist after unlocking. Lock held. */
int emu_jobs_advance(hq_emulator *e, double now, emu_job **save, int cap);
/* Parse j->req into j->units (IonQ: circuit problems become a preflight failure in
 * j->err_code / err_msg). A malformed request returns HQ_ERR_PARSE / HQ_ERR_INVALID_ARG with
 * hq_last_error(); IBM also sets *http_status and *ibm_code for the error reply. */
hq_status emu_ionq_prepare(hq_emulator *e, emu_job *j);
hq_status emu_ibm_prepare(hq_emulator *e, emu_job *j, int *http_status, int *ibm_code);
hq_status emu_worker_start(hq_emulator *e);
void emu_worker_stop(hq_emulator *e);
void emu_job_free(emu_job *j);
emu_job *emu_job_new(emu_family fam);
void emu_unit_free(emu_unit *u);
/* Random ids. */
void emu_uuid(char out[40]);
void emu_ibm_id(char out[40]);
/* Sampling seed of one result: from the emulator seed, a noise tag, shots, the physical
 * layout and the bound circuit (what its canonical text holds, angles as exact bits).
 * HQ_ERR_INTERNAL if the circuit still has symbols. */
hq_status emu_seed_for(uint64_t emu_seed, const char *tag, int64_t shots, const int *layout,
                       int n_layout, const hq_circuit *bound, uint64_t *seed, uint64_t *stream);

/* ==== devices, noise, calibration ===================================================== */

/* The IonQ QPU targets the emulator knows, and the simulator. */
typedef struct emu_ionq_target {
    const char *name;       /* "qpu.aria-1", "simulator" */
    const char *short_name; /* "aria-1" (characterization path) */
    int qubits;             /* advertised qubits */
    bool qpu;               /* sampled with noise */
} emu_ionq_target;

const emu_ionq_target *emu_ionq_target_find(const char *name);
int emu_ionq_target_count(void);
const emu_ionq_target *emu_ionq_target_at(int i);
/* Noise-model names the IonQ simulator accepts ("ideal", "aria-1", ...). */
bool emu_ionq_noise_model_known(const char *name);

/* Build the built-in device (HQ_EMU_DEFAULT_DEVICE). */
hq_status emu_device_builtin(hq_device **out);
/* The IonQ model from the characterization numbers. */
hq_status emu_ionq_noise_model(hq_noise_model **out);
/* configuration / properties documents of the device (built-in: generated; loaded:
 * the file text with last_update_date replaced once recalibrated). */
hq_status emu_device_conf_json(hq_emulator *e, hq_sbuf *out);
hq_status emu_device_props_json(hq_emulator *e, hq_sbuf *out);
/* IonQ characterization of a target. */
void emu_ionq_characterization_json(hq_emulator *e, const emu_ionq_target *t, hq_sbuf *out);
/* Calibration clock: bump (lock held; persists). */
void emu_calibration_bump(hq_emulator *e);
hq_status emu_calibration_load(hq_emulator *e);
/* Format Unix time t as ISO 8601 UTC ("2025-01-02T03:04:05.678Z" with ms if ms). */
void emu_iso_time(double t, bool ms, char out[40]);

/* An IBM Runtime session / batch (kept in memory only). */
typedef struct emu_session {
    char id[40];         /* 20-character id */
    char mode[16];       /* "batch" or "dedicated" */
    double created;      /* Unix seconds */
    double max_ttl;      /* seconds */
    bool accepting_jobs; /* false after PATCH {"accepting_jobs": false} */
    bool closed;         /* after DELETE .../close */
} emu_session;

/* ==== the emulator ==================================================================== */

struct hq_emulator {
    hq_handle h;
    hq_emulator_options opt; /* copy; strings below */
    char *s_ionq_key, *s_ibm_key, *s_crn, *s_state_dir, *s_noise, *s_conf, *s_props;
    char url[64];
    int port;
    struct MHD_Daemon *mhd;

    hq_device *device;          /* IBM device (owned) */
    char *conf_text;            /* loaded configuration file text, NULL for built-in */
    char *props_text;           /* loaded properties file text, NULL if none / built-in */
    hq_noise_model *ibm_noise;  /* noise of IBM jobs, NULL = ideal */
    hq_noise_model *ionq_noise; /* noise of IonQ noisy targets, NULL = ideal */
    char noise_tag[96];         /* identity of the noise models for seeds */
    uint8_t iam_secret[32];     /* IAM token MAC key (derived from the API key) */

    pthread_mutex_t lock;
    pthread_cond_t stop_cond; /* broadcast at stop (interrupts injected sleeps) */
    bool stopping;

    /* jobs */
    emu_job **jobs; /* (n_jobs) in creation order */
    int64_t n_jobs, cap_jobs;
    int64_t n_jobs_fam[2];   /* stored per family */
    int64_t n_recal_pending; /* jobs whose recalibrate_mid_run has not happened yet */

    /* worker */
    pthread_t worker;
    bool worker_running;
    pthread_cond_t work_cond;
    emu_job **queue; /* FIFO (queue_head .. queue_n) */
    int64_t queue_head, queue_n, queue_cap;
    pthread_mutex_t io_lock; /* serialises file writes */

    /* faults and statistics */
    emu_faults faults;
    int64_t st_requests, st_requests_fam[2], st_accepted_fam[2], st_executed;
    double st_exec_busy_s;                   /* worker time spent executing jobs */
    int64_t st_noticed;                      /* finished jobs a status read has reported */
    double st_notice_sum_s, st_notice_max_s; /* end_time -> that first read, seconds */

    /* IBM sessions (memory only) */
    struct emu_session *sessions; /* (n_sessions) */
    int64_t n_sessions, cap_sessions;

    /* calibration */
    int64_t calib_count;
    double calib_epoch; /* Unix time of the last recalibration, 0 = none */
    char calib_date[48];
    char calib_date0[48]; /* the date before any recalibration */
};

/* ==== HTTP request / reply (emu_server.c) ============================================= */

#define EMU_MAX_SEGS 8

struct emu_req {
    hq_emulator *emu;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated */
    size_t body_len;
    int nseg;
    const char *seg[EMU_MAX_SEGS]; /* path segments (borrowed from segbuf) */
    char segbuf[1024];
    emu_family fam;
    emu_req_faults *faults;
    const char *fault_header; /* X-Emu-Fault, NULL if absent */
};

typedef struct emu_reply {
    int status;           /* HTTP status */
    hq_sbuf body;         /* response body */
    const char *ctype;    /* Content-Type (static string) */
    char retry_after[32]; /* Retry-After value, "" = none */
    bool drop;            /* close the connection without replying */
    double delay_ms;      /* sleep before replying (or dropping) */
} emu_reply;

/* Header / query value (NULL if absent). */
const char *emu_req_header(const emu_req *r, const char *name);
const char *emu_req_query(const emu_req *r, const char *name);
/* Call fn for every query argument (key, value; value may be NULL). */
void emu_req_args(const emu_req *r, void (*fn)(void *user, const char *key, const char *value),
                  void *user);
/* Call fn for every query argument named `name` (repeated keys). */
void emu_req_query_all(const emu_req *r, const char *name,
                       void (*fn)(void *user, const char *value), void *user);

/* Error replies in the family's shape: IonQ {"error","message","statusCode"}; IBM
 * {"errors":[{"code","message","more_info"}],"trace"}. */
void emu_reply_error(emu_reply *rp, emu_family fam, int status, int ibm_code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void emu_reply_json(emu_reply *rp, int status); /* status + JSON content type */

/* Route handlers. */
void emu_ionq_handle(emu_req *r, emu_reply *rp);
void emu_ibm_handle(emu_req *r, emu_reply *rp);
void emu_iam_handle(emu_req *r, emu_reply *rp);

/* Interruptible sleep (returns early at stop). */
void emu_sleep_ms(hq_emulator *e, double ms);

/* Parse X-Emu-Delay-Ms "Q[,R]": HQ_OK and the delays, or HQ_ERR_PARSE. */
hq_status emu_parse_delay_header(const char *v, double *queue_ms, double *run_ms, bool *has_run);

/* Apply a submission's queue/run timeline, job faults and header delays to a new job. */
void emu_job_timeline(hq_emulator *e, emu_job *j, const emu_req *r, const emu_req_faults *jf);

/* JSON number: integers without a fraction, others with round-trip precision, non-finite
 * values as null. */
void emu_put_num(hq_sbuf *b, double v);
/* String equality in time independent of where they differ (credentials). */
bool emu_const_eq(const char *a, const char *b);

#endif /* HQ_EMU_IMPL_H */
