/*
 * orchestrator/cmd_runs.c — `hqcnn runs`, `hqcnn jobs`, `hqcnn show`, `hqcnn backends`:
 * reading the job database and the backend registry. Nothing here writes.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "db/jobdb.h"
#include "orchestrator/orchestrator.h"
#include "orchestrator/plan.h"
#include "orchestrator/train.h"

static hq_status open_ro(const char *path, hq_jobdb **db) {
    hq_jobdb_options o;
    hq_jobdb_options_init(&o);
    o.no_create = true;
    const char *p = path ? path : HQ_DEFAULT_DB;
    hq_status st = hq_jobdb_open(p, &o, db);
    if (st == HQ_ERR_NOT_FOUND)
        return hq_failf(
            NULL, st,
            "no job database at %s (runs are recorded there by 'hqcnn train'; use --db FILE)", p);
    return st;
}

static hq_status find_run(hq_jobdb *db, const char *what, hq_jobdb_run *r) {
    int64_t id;
    hq_status st = hq_parse_i64(what, 1, INT64_MAX, &id) == HQ_OK ? hq_jobdb_run_get(db, id, r)
                                                                  : hq_jobdb_run_find(db, what, r);
    if (st == HQ_ERR_NOT_FOUND)
        return hq_failf(NULL, st, "no run '%s' in %s (see 'hqcnn runs')", what, hq_jobdb_path(db));
    return st;
}

static void fmt_time(double t, char *buf, size_t cap) {
    if (t <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ==== runs ============================================================================ */

static const char runs_usage[] =
    "usage: hqcnn runs [--db FILE] [--json]\n\nThe runs recorded in the job database.";

int hq_cmd_runs(int argc, char **argv) {
    const char *dbp = NULL;
    bool json = false;
    const hq_cli_opt opts[] = {{"--db", &dbp, NULL}, {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 0, &n_pos, runs_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    hq_jobdb *db;
    hq_status st = open_ro(dbp, &db);
    if (st) return hq_cli_fail(st);
    hq_jobdb_run *runs = NULL;
    int64_t n = 0;
    st = hq_jobdb_run_list(db, &runs, &n);
    if (st == HQ_OK && !json)
        printf("%4s  %-40s %-12s %-14s %6s %8s %6s %12s  %s\n", "id", "name", "status", "backend",
               "seed", "step", "jobs", "shots", "created (UTC)");
    if (json && st == HQ_OK) printf("[");
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        hq_jobdb_run_stats s;
        st = hq_jobdb_run_get_stats(db, runs[i].id, &s);
        if (st) break;
        int64_t jobs = 0;
        for (int k = 0; k < HQ_JOB_STATE_COUNT; k++) jobs += s.jobs[k];
        char created[32];
        fmt_time(runs[i].created_at, created, sizeof created);
        if (json)
            printf("%s{\"id\":%" PRId64
                   ",\"name\":\"%s\",\"status\":\"%s\",\"backend\":\"%s\",\"seed\":%llu,"
                   "\"last_step\":%" PRId64 ",\"jobs\":%" PRId64 ",\"shots_submitted\":%" PRId64
                   ",\"created\":%.0f}",
                   i ? "," : "", runs[i].id, runs[i].name, hq_run_status_name(runs[i].status),
                   runs[i].backend, (unsigned long long)runs[i].seed, s.last_step, jobs,
                   s.shots_submitted, runs[i].created_at);
        else
            printf("%4" PRId64 "  %-40s %-12s %-14s %6llu %8" PRId64 " %6" PRId64 " %12" PRId64
                   "  %s\n",
                   runs[i].id, runs[i].name, hq_run_status_name(runs[i].status), runs[i].backend,
                   (unsigned long long)runs[i].seed, s.last_step, jobs, s.shots_submitted, created);
    }
    if (json && st == HQ_OK) printf("]\n");
    hq_jobdb_runs_free(runs, n);
    hq_jobdb_close(db);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

/* ==== jobs ============================================================================ */

static const char jobs_usage[] =
    "usage: hqcnn jobs [RUN] [--state S] [--db FILE] [--json]\n"
    "\n"
    "Quantum jobs of one run (or of all runs), oldest first. --state filters by state:\n"
    "pending, queued (accepted by the provider), running, completed, failed, cancelled, or\n"
    "active (pending, queued and running).";

int hq_cmd_jobs(int argc, char **argv) {
    const char *dbp = NULL, *state = NULL;
    bool json = false;
    const hq_cli_opt opts[] = {
        {"--db", &dbp, NULL}, {"--state", &state, NULL}, {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos, jobs_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    unsigned mask = HQ_JOB_MASK_ALL;
    if (state) {
        hq_job_state s;
        if (!strcmp(state, "active"))
            mask = HQ_JOB_MASK_ACTIVE;
        else if (hq_job_state_parse(state, &s) == HQ_OK)
            mask = HQ_JOB_MASK(s);
        else
            return hq_cli_usage("--state: %s (or 'active')", hq_last_error());
    }
    hq_jobdb *db;
    hq_status st = open_ro(dbp, &db);
    if (st) return hq_cli_fail(st);
    int64_t run_id = 0;
    if (n_pos == 1) {
        hq_jobdb_run r;
        memset(&r, 0, sizeof r);
        st = find_run(db, pos[0], &r);
        run_id = r.id;
        hq_jobdb_run_clear(&r);
    }
    hq_jobdb_job *jobs = NULL;
    int64_t n = 0;
    if (st == HQ_OK) st = hq_jobdb_job_list(db, run_id, mask, &jobs, &n);
    if (st == HQ_OK && !json)
        printf("%6s %4s  %-10s %-20s %8s %8s %4s  %-24s %s\n", "id", "run", "state", "backend",
               "circuits", "shots", "try", "remote id", "error");
    if (json && st == HQ_OK) printf("[");
    for (int64_t i = 0; st == HQ_OK && i < n; i++) {
        const hq_jobdb_job *j = &jobs[i];
        if (json) {
            printf("%s{\"id\":%" PRId64 ",\"run\":%" PRId64
                   ",\"state\":\"%s\",\"backend\":\"%s\",\"circuits\":%" PRId64
                   ",\"shots\":%" PRId64 ",\"attempts\":%" PRId64 ",\"remote_id\":",
                   i ? "," : "", j->id, j->run_id, hq_job_state_str(j->state), j->backend,
                   j->n_circuits, j->shots, j->attempts);
            hq_sbuf b = HQ_SBUF_INIT;
            if (j->remote_id)
                hq_sbuf_put_json_str(&b, j->remote_id);
            else
                hq_sbuf_puts(&b, "null");
            hq_sbuf_puts(&b, ",\"error\":");
            if (j->last_error)
                hq_sbuf_put_json_str(&b, j->last_error);
            else
                hq_sbuf_puts(&b, "null");
            if (b.p) hq_redact(b.p);
            printf("%s,\"created\":%.0f,\"finished\":%.0f}", b.p ? b.p : "", j->created_at,
                   j->finished_at);
            hq_sbuf_free(&b);
        } else {
            char err[121];
            snprintf(err, sizeof err, "%s", j->last_error ? j->last_error : "");
            hq_redact(err);
            printf("%6" PRId64 " %4" PRId64 "  %-10s %-20s %8" PRId64 " %8" PRId64 " %4" PRId64
                   "  %-24s %s\n",
                   j->id, j->run_id, hq_job_state_str(j->state), j->backend, j->n_circuits,
                   j->shots, j->attempts, j->remote_id ? j->remote_id : "-", err);
        }
    }
    if (json && st == HQ_OK) printf("]\n");
    hq_jobdb_jobs_free(jobs, n);
    hq_jobdb_close(db);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

/* ==== show ============================================================================ */

static const char show_usage[] =
    "usage: hqcnn show RUN [--db FILE] [--json]\n"
    "\n"
    "A run's status and progress, its quantum jobs by state, shots used, evaluation cache\n"
    "hits, what its plan predicted against what was really submitted, and its test\n"
    "metrics once finished.";

int hq_cmd_show(int argc, char **argv) {
    const char *dbp = NULL;
    bool json = false;
    const hq_cli_opt opts[] = {{"--db", &dbp, NULL}, {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos, show_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos != 1) return hq_cli_usage("which run?\n%s", show_usage);
    hq_jobdb *db;
    hq_status st = open_ro(dbp, &db);
    if (st) return hq_cli_fail(st);
    hq_jobdb_run r;
    memset(&r, 0, sizeof r);
    hq_jobdb_run_stats s;
    memset(&s, 0, sizeof s);
    st = find_run(db, pos[0], &r);
    if (st == HQ_OK) st = hq_jobdb_run_get_stats(db, r.id, &s);
    /* what was really submitted: circuits and jobs the provider accepted */
    hq_jobdb_job *jobs = NULL;
    int64_t nj = 0, acc_jobs = 0, acc_circuits = 0;
    if (st == HQ_OK) st = hq_jobdb_job_list(db, r.id, HQ_JOB_MASK_ALL, &jobs, &nj);
    for (int64_t i = 0; st == HQ_OK && i < nj; i++)
        if (jobs[i].remote_id) acc_jobs++, acc_circuits += jobs[i].n_circuits;
    hq_jobdb_jobs_free(jobs, nj);
    hq_plan plan;
    bool have_plan = st == HQ_OK && r.plan_json && hq_plan_from_json(r.plan_json, &plan) == HQ_OK;
    char out_dir[2048] = "", metrics[4096] = "";
    int64_t total_steps = 0;
    if (st == HQ_OK) {
        cJSON *c = cJSON_Parse(r.config_json);
        const cJSON *od = c ? cJSON_GetObjectItemCaseSensitive(c, "out_dir") : NULL;
        if (od && cJSON_IsString(od)) snprintf(out_dir, sizeof out_dir, "%s", od->valuestring);
        cJSON_Delete(c);
        if (have_plan) total_steps = plan.steps;
        char mp[2300];
        char *text = NULL;
        size_t len;
        if (out_dir[0] && hq_path_join(mp, sizeof mp, out_dir, "metrics.json") == HQ_OK &&
            hq_file_read(mp, 1 << 20, &text, &len) == HQ_OK) {
            cJSON *mj = cJSON_Parse(text);
            const cJSON *t = mj ? cJSON_GetObjectItemCaseSensitive(mj, "test") : NULL;
            char *ts = t ? cJSON_PrintUnformatted(t) : NULL;
            if (ts) snprintf(metrics, sizeof metrics, "%s", ts);
            cJSON_free(ts);
            cJSON_Delete(mj);
        }
        hq_free(text);
        hq_clear_error();
    }
    if (st == HQ_OK && json) {
        printf("{\"id\":%" PRId64 ",\"name\":\"%s\",\"status\":\"%s\",\"backend\":\"%s\",\"seed\":%"
               "llu,\"last_step\":%" PRId64 ",\"jobs\":{",
               r.id, r.name, hq_run_status_name(r.status), r.backend, (unsigned long long)r.seed,
               s.last_step);
        for (int k = 0; k < HQ_JOB_STATE_COUNT; k++)
            printf("%s\"%s\":%" PRId64, k ? "," : "", hq_job_state_str((hq_job_state)k), s.jobs[k]);
        printf("},\"shots_submitted\":%" PRId64 ",\"shots_uncertain\":%" PRId64
               ",\"shots_completed\":%" PRId64 ",\"evaluations\":%" PRId64
               ",\"cache_hits\":%" PRId64 ",\"cache_misses\":%" PRId64
               ",\"actual\":{\"jobs\":%" PRId64 ",\"circuits\":%" PRId64 ",\"shots\":%" PRId64 "}",
               s.shots_submitted, s.shots_uncertain, s.shots_completed, s.evaluations, s.cache_hits,
               s.cache_misses, acc_jobs, acc_circuits, s.shots_submitted);
        if (have_plan)
            printf(",\"plan\":{\"jobs\":%" PRId64 ",\"circuits\":%" PRId64 ",\"shots\":%" PRId64
                   ",\"cost_usd\":%.6g,\"steps\":%" PRId64 "}",
                   plan.total.jobs, plan.total.circuits, plan.total.shots, plan.total.cost_usd,
                   plan.steps);
        printf(",\"test\":%s}\n", metrics[0] ? metrics : "null");
    } else if (st == HQ_OK) {
        char created[32], updated[32];
        fmt_time(r.created_at, created, sizeof created);
        fmt_time(r.updated_at, updated, sizeof updated);
        printf("run %" PRId64 " %s\n  status      %s (updated %s UTC, created %s UTC)\n", r.id,
               r.name, hq_run_status_name(r.status), updated, created);
        printf("  backend     %s   seed %llu   code %s\n", r.backend, (unsigned long long)r.seed,
               r.code_version);
        if (total_steps > 0)
            printf("  progress    step %" PRId64 " of %" PRId64 " (%.1f %%), %" PRId64
                   " checkpoints kept\n",
                   s.last_step, total_steps,
                   100.0 * (double)HQ_MAX(s.last_step, 0) / (double)total_steps, s.checkpoints);
        else
            printf("  progress    last checkpoint at step %" PRId64 ", %" PRId64 " kept\n",
                   s.last_step, s.checkpoints);
        printf("  jobs       ");
        for (int k = 0; k < HQ_JOB_STATE_COUNT; k++)
            printf(" %s %" PRId64, hq_job_state_str((hq_job_state)k), s.jobs[k]);
        printf("\n  shots       submitted %" PRId64 ", completed %" PRId64 ", uncertain %" PRId64
               "\n",
               s.shots_submitted, s.shots_completed, s.shots_uncertain);
        double hr = s.cache_hits + s.cache_misses
                        ? (double)s.cache_hits / (double)(s.cache_hits + s.cache_misses)
                        : 0;
        printf("  cache       %" PRId64 " hits, %" PRId64 " misses (%.1f %% hits), %" PRId64
               " evaluations stored\n",
               s.cache_hits, s.cache_misses, 100 * hr, s.evaluations);
        if (have_plan && plan.quantum && !plan.exact) {
            printf("  plan/actual %12s %12s\n", "planned", "submitted");
            printf("    jobs      %12" PRId64 " %12" PRId64 "\n", plan.total.jobs, acc_jobs);
            printf("    circuits  %12" PRId64 " %12" PRId64 "\n", plan.total.circuits,
                   acc_circuits);
            printf("    shots     %12" PRId64 " %12" PRId64 "\n", plan.total.shots,
                   s.shots_submitted);
            printf("    cost USD  %12.2f\n", plan.total.cost_usd);
        }
        if (metrics[0]) printf("  test        %s\n", metrics);
        if (out_dir[0]) printf("  directory   %s\n", out_dir);
    }
    hq_jobdb_run_clear(&r);
    hq_jobdb_close(db);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

/* ==== backends ======================================================================== */

static const char backends_usage[] =
    "usage: hqcnn backends\n\nThe registered quantum backends and their limits.";

int hq_cmd_backends(int argc, char **argv) {
    const char *pos[1];
    int n_pos, rc = hq_cli_parse(argc, argv, 1, NULL, 0, pos, 0, &n_pos, backends_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    printf("%-16s %s\n", "sv",
           "exact statevector simulator in the training loop (adjoint gradients, no shots)");
    for (int i = 0; i < hq_backend_count(); i++)
        printf("%-16s %s\n", hq_backend_name_at(i), hq_backend_description_at(i));
    return HQ_EXIT_OK;
}
