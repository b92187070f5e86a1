/*
 * backends/backend.c — the backend registry and the thin wrappers the orchestrator
 * calls: they validate handles and arguments, supply defaults for optional members,
 * and are where faults are injected for crash tests.
 *
 * Fault injection (tests only): if $HQCNN_FAULT_KILL_AFTER_SUBMIT = N, the process
 * kills itself with SIGKILL right after the N-th accepted submission of this process,
 * before the caller can record it — the worst moment for bookkeeping, which resume
 * must survive without submitting the job again.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend_impl.h"
#include "core/sha256.h"

#define HQ_MAGIC_BACKEND 0x4241434Bu /* "BACK" */

static const hq_backend_ops *const registry[] = {
    &hq_backend_sv_shots_ops,     &hq_backend_dm_shots_ops, &hq_backend_ionq_ops,
    &hq_backend_ibm_ops,          &hq_backend_braket_ops,   &hq_backend_emulator_ionq_ops,
    &hq_backend_emulator_ibm_ops,
};

struct hq_backend {
    hq_handle h;
    const hq_backend_ops *ops;
    void *ctx;
    char id[HQ_BACKEND_ID_MAX]; /* name@hash of result-changing options */
};

static const char *const state_names[] = {"pending",   "queued", "running",
                                          "completed", "failed", "cancelled"};
_Static_assert(sizeof state_names / sizeof *state_names == HQ_JOB_STATE_COUNT,
               "one name per job state");

const char *hq_job_state_str(hq_job_state s) {
    return (unsigned)s < HQ_JOB_STATE_COUNT ? state_names[s] : "unknown";
}

hq_status hq_job_state_parse(const char *s, hq_job_state *out) {
    for (int i = 0; i < HQ_JOB_STATE_COUNT; i++)
        if (s && !strcmp(s, state_names[i])) {
            *out = (hq_job_state)i;
            return HQ_OK;
        }
    return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                    "unknown job state '%s' (expected pending, queued, running, completed, failed "
                    "or cancelled)",
                    s ? s : "(null)");
}

int hq_backend_count(void) { return (int)HQ_ARRAY_LEN(registry); }
const char *hq_backend_name_at(int i) {
    return i >= 0 && i < hq_backend_count() ? registry[i]->name : NULL;
}
const char *hq_backend_description_at(int i) {
    return i >= 0 && i < hq_backend_count() ? registry[i]->description : NULL;
}

hq_status hq_backend_create(const char *name, const char *options_json, hq_backend **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_backend_create: out is NULL");
    *out = NULL;
    const hq_backend_ops *ops = NULL;
    for (size_t i = 0; name && i < HQ_ARRAY_LEN(registry); i++)
        if (!strcmp(registry[i]->name, name)) ops = registry[i];
    if (!ops) {
        char known[512] = "";
        size_t n = 0;
        for (size_t i = 0; i < HQ_ARRAY_LEN(registry) && n < sizeof known; i++)
            n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                                  registry[i]->name);
        return hq_failf(NULL, HQ_ERR_NOT_FOUND, "unknown backend '%s' (known: %s)",
                        name ? name : "(null)", known);
    }
    if (ops->abi_version != HQ_BACKEND_ABI_VERSION)
        return hq_failf(NULL, HQ_ERR_INTERNAL, "backend '%s' has ABI version %d, expected %d",
                        ops->name, ops->abi_version, HQ_BACKEND_ABI_VERSION);
    hq_backend *b = hq_calloc(1, sizeof *b);
    if (!b) return hq_failf(NULL, HQ_ERR_NOMEM, "hq_backend_create: out of memory");
    hq_sbuf extra = HQ_SBUF_INIT;
    hq_status st =
        ops->create(options_json && *options_json ? options_json : NULL, &b->ctx, &extra);
    if (st == HQ_OK && hq_sbuf_status(&extra))
        st = hq_failf(NULL, HQ_ERR_NOMEM, "hq_backend_create: out of memory");
    if (st != HQ_OK) {
        hq_sbuf_free(&extra);
        hq_free(b);
        return hq_fail_prefix(NULL, st, "backend '%s'", ops->name);
    }
    if (extra.len) {
        char hex[HQ_SHA256_HEX_LEN];
        if (hq_sha256_hex(extra.p, extra.len, hex) != HQ_OK) hex[0] = '\0';
        hex[8] = '\0';
        snprintf(b->id, sizeof b->id, "%s@%s", ops->name, hex);
    } else {
        snprintf(b->id, sizeof b->id, "%s", ops->name);
    }
    hq_sbuf_free(&extra);
    b->ops = ops;
    b->h.magic = HQ_MAGIC_BACKEND;
    *out = b;
    return HQ_OK;
}

void hq_backend_free(hq_backend *b) {
    if (!b || b->h.magic != HQ_MAGIC_BACKEND) return;
    b->ops->destroy(b->ctx);
    b->h.magic = HQ_MAGIC_DEAD;
    hq_free(b);
}

void *hq_backend_impl_ctx(hq_backend *b, const hq_backend_ops **ops) {
    if (ops) *ops = NULL;
    if (!hq_handle_ok(b, HQ_MAGIC_BACKEND)) return NULL;
    if (ops) *ops = b->ops;
    return b->ctx;
}

const char *hq_backend_id(const hq_backend *b) {
    return hq_handle_ok(b, HQ_MAGIC_BACKEND) ? b->id : "(invalid backend)";
}
const char *hq_backend_name(const hq_backend *b) {
    return hq_handle_ok(b, HQ_MAGIC_BACKEND) ? b->ops->name : "(invalid backend)";
}

hq_status hq_backend_get_caps(hq_backend *b, hq_backend_caps *out) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!out) return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_get_caps: out is NULL");
    memset(out, 0, sizeof *out);
    b->ops->caps(b->ctx, out);
    out->name = b->ops->name;
    out->calibrated = b->ops->calibration != NULL;
    return HQ_OK;
}

int64_t hq_job_spec_results(const hq_job_spec *job) {
    int64_t n = 0;
    for (int i = 0; job && i < job->n_entries; i++)
        n += job->entries[i].n_rows > 0 ? job->entries[i].n_rows : 1;
    return n;
}

static hq_status check_spec(hq_backend *b, const hq_job_spec *job) {
    hq_backend_caps caps;
    hq_backend_get_caps(b, &caps);
    if (!job || !job->entries || job->n_entries < 1)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_submit: the job has no circuit");
    if (!job->client_token || !*job->client_token)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_backend_submit: the job has no client token");
    if (job->shots < 1 || (caps.max_shots > 0 && job->shots > caps.max_shots))
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_backend_submit: %lld shots, outside [1, %lld] for %s",
                        (long long)job->shots, (long long)caps.max_shots, b->ops->name);
    int64_t results = hq_job_spec_results(job);
    if (caps.max_circuits_per_job > 0 && results > caps.max_circuits_per_job)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_backend_submit: %lld circuits in one job, more than %s's limit of %d",
                        (long long)results, b->ops->name, caps.max_circuits_per_job);
    for (int i = 0; i < job->n_entries; i++) {
        const hq_job_entry *e = &job->entries[i];
        if (!e->circuit)
            return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                            "hq_backend_submit: entry %d has no circuit", i);
        int nq = hq_circuit_n_qubits(e->circuit);
        if (caps.max_qubits > 0 && nq > caps.max_qubits)
            return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                            "hq_backend_submit: circuit %d has %d qubits, more than %s's %d", i, nq,
                            b->ops->name, caps.max_qubits);
        if (e->n_rows < 0 || (e->n_rows > 0 && !e->rows))
            return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                            "hq_backend_submit: entry %d has bad parameter rows", i);
        if (e->n_rows > 0 && caps.max_rows_per_entry <= 0)
            return hq_failf(
                &b->h.err, HQ_ERR_UNSUPPORTED,
                "hq_backend_submit: %s does not take parameter bindings; bind circuits first",
                b->ops->name);
        if (e->n_rows > caps.max_rows_per_entry && caps.max_rows_per_entry > 0)
            return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                            "hq_backend_submit: entry %d has %lld parameter rows, more than %lld",
                            i, (long long)e->n_rows, (long long)caps.max_rows_per_entry);
        if (e->n_rows == 0 && hq_circuit_is_symbolic(e->circuit))
            return hq_failf(
                &b->h.err, HQ_ERR_INVALID_ARG,
                "hq_backend_submit: circuit %d has unbound symbols and no parameter rows", i);
    }
    return HQ_OK;
}

/* True when this accepted submission is the one $HQCNN_FAULT_KILL_AFTER_SUBMIT names.
 * Submissions are counted from the moment the variable takes its current value, so a
 * forked child that sets it counts its own submissions only. */
static bool kill_now(void) {
    static char seen[32];
    static long count;
    const char *e = getenv("HQCNN_FAULT_KILL_AFTER_SUBMIT");
    if (!e) {
        seen[0] = '\0';
        return false;
    }
    if (strncmp(seen, e, sizeof seen - 1) != 0) {
        snprintf(seen, sizeof seen, "%s", e);
        count = 0;
    }
    int64_t n;
    if (hq_parse_i64(e, 1, 1000000000, &n) != HQ_OK) return false;
    return ++count == n;
}

hq_status hq_backend_submit(hq_backend *b, const hq_job_spec *job,
                            char remote_id[HQ_REMOTE_ID_MAX]) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!remote_id)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_submit: remote_id is NULL");
    remote_id[0] = '\0';
    hq_status st = check_spec(b, job);
    if (st) return st;
    st = b->ops->submit(b->ctx, job, remote_id);
    if (st == HQ_OK && kill_now()) raise(SIGKILL);
    return st;
}

hq_status hq_backend_find_by_token(hq_backend *b, const char *token,
                                   char remote_id[HQ_REMOTE_ID_MAX], bool *found) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!token || !remote_id || !found)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_find_by_token: NULL argument");
    *found = false;
    remote_id[0] = '\0';
    if (!b->ops->find_by_token)
        return hq_failf(&b->h.err, HQ_ERR_UNSUPPORTED,
                        "backend %s cannot look jobs up by client token", b->ops->name);
    return b->ops->find_by_token(b->ctx, token, remote_id, found);
}

hq_status hq_backend_poll(hq_backend *b, const char *remote_id, hq_job_state *state, char *reason,
                          size_t cap) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!remote_id || !*remote_id || !state)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_backend_poll: missing job id or state pointer");
    if (reason && cap) reason[0] = '\0';
    return b->ops->poll(b->ctx, remote_id, state, reason, cap);
}

hq_status hq_backend_fetch(hq_backend *b, const char *remote_id, int64_t n_results,
                           hq_counts *counts) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!remote_id || !*remote_id || !counts || n_results < 1)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG,
                        "hq_backend_fetch: bad arguments (job id, %lld results)",
                        (long long)n_results);
    for (int64_t i = 0; i < n_results; i++) hq_counts_init(&counts[i], 1);
    hq_status st = b->ops->fetch(b->ctx, remote_id, n_results, counts);
    if (st != HQ_OK)
        for (int64_t i = 0; i < n_results; i++) hq_counts_free(&counts[i]);
    return st;
}

hq_status hq_backend_cancel(hq_backend *b, const char *remote_id) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!remote_id || !*remote_id)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_cancel: no job id");
    return b->ops->cancel ? b->ops->cancel(b->ctx, remote_id) : HQ_OK;
}

hq_status hq_backend_calibration(hq_backend *b, char calib_id[HQ_CALIB_ID_MAX], char **json) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!calib_id)
        return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_calibration: calib_id is NULL");
    if (json) *json = NULL;
    if (!b->ops->calibration) {
        snprintf(calib_id, HQ_CALIB_ID_MAX, "%s", HQ_CALIB_NONE);
        return HQ_OK;
    }
    return b->ops->calibration(b->ctx, calib_id, json);
}

hq_status hq_backend_submitted_count(hq_backend *b, int64_t *n) {
    HQ_CHECK_HANDLE(b, HQ_MAGIC_BACKEND);
    if (!n) return hq_failf(&b->h.err, HQ_ERR_INVALID_ARG, "hq_backend_submitted_count: n is NULL");
    if (!b->ops->submitted_count)
        return hq_failf(&b->h.err, HQ_ERR_UNSUPPORTED, "backend %s does not count submissions",
                        b->ops->name);
    return b->ops->submitted_count(b->ctx, n);
}
