/*
 * orchestrator/cmd_train.c — `hqcnn train`, `hqcnn resume`, `hqcnn eval`, `hqcnn plan`.
 * The work is in orchestrator/train.c and orchestrator/plan.c.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "orchestrator/orchestrator.h"
#include "orchestrator/plan.h"
#include "orchestrator/train.h"

static const char train_usage[] =
    "usage: hqcnn train --config FILE [options]\n"
    "\n"
    "Train the model of a config on its MedMNIST dataset, evaluating the validation split\n"
    "after every epoch; the best epoch's weights are evaluated on the test split at the end.\n"
    "Everything is recorded in the job database; an interrupted run continues with\n"
    "'hqcnn resume RUN'.\n"
    "\n"
    "  --config FILE     training config (configs/<dataset>-<backend>.json)\n"
    "  --seed S          master seed (overrides train.seed)\n"
    "  --epochs N        epochs (overrides train.epochs)\n"
    "  --batch N         batch size (overrides train.batch_size)\n"
    "  --threads N       threads (overrides train.threads; 0 = all CPUs)\n"
    "  --backend NAME    quantum backend (overrides quantum.backend: sv, sv-shots, ...)\n"
    "  --shots N         shots per circuit (overrides quantum.shots)\n"
    "  --data-dir DIR    directory searched first for the dataset file\n"
    "  --name NAME       run name (default <config name>-s<seed>-<UTC time>)\n"
    "  --out DIR         run directory (default runs/<run name>)\n"
    "  --db FILE         job database (default " HQ_DEFAULT_DB ")\n"
    "  --steps N         stop after N optimizer steps (resume later)\n"
    "  --quiet           no progress output\n"
    "  --json            print the final metrics as JSON only";

static void print_result(const hq_train_result *r, bool json) {
    if (json) {
        printf("{\"run\":\"%s\",\"finished\":%s,\"steps\":%" PRId64 ",\"best_epoch\":%d,"
               "\"val\":{\"acc\":%.6f,\"auc\":%.6f},\"test\":{\"n\":%" PRId64
               ",\"acc\":%.6f,\"auc\":%.6f,"
               "\"f1\":%.6f},\"images_per_s\":%.1f,\"weights_sha256\":\"%s\",\"out_dir\":\"%s\"}\n",
               r->run_name, r->finished ? "true" : "false", r->steps, r->best_epoch, r->val.acc,
               r->val.auc, r->test.n, r->test.acc, r->test.auc, r->test.f1, r->images_per_s,
               r->weights_sha256, r->out_dir);
        return;
    }
    if (!r->finished) {
        printf("run %s stopped after %" PRId64 " steps; continue with: hqcnn resume %s\n",
               r->run_name, r->steps, r->run_name);
        return;
    }
    printf("run %s: best epoch %d (val ACC %.4f, AUC %.4f)\n", r->run_name, r->best_epoch + 1,
           r->val.acc, r->val.auc);
    printf("test  ACC %.4f  AUC %.4f  F1 %.4f  (n = %" PRId64 ")\n", r->test.acc, r->test.auc,
           r->test.f1, r->test.n);
    printf("metrics: %s/metrics.json   weights: %s/best.hqw\n", r->out_dir, r->out_dir);
}

static int finish_status(hq_status st) {
    if (st == HQ_ERR_INTERRUPTED) {
        hq_cli_error("%s", hq_last_error());
        return HQ_EXIT_INTERRUPTED;
    }
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

int hq_cmd_train(int argc, char **argv) {
    const char *config = NULL, *seed = NULL, *epochs = NULL, *batch = NULL, *threads = NULL,
               *backend = NULL, *shots = NULL, *data_dir = NULL, *name = NULL, *out = NULL,
               *db = NULL, *steps = NULL;
    bool quiet = false, json = false;
    const hq_cli_opt opts[] = {{"--config", &config, NULL},   {"--seed", &seed, NULL},
                               {"--epochs", &epochs, NULL},   {"--batch", &batch, NULL},
                               {"--threads", &threads, NULL}, {"--backend", &backend, NULL},
                               {"--shots", &shots, NULL},     {"--data-dir", &data_dir, NULL},
                               {"--name", &name, NULL},       {"--out", &out, NULL},
                               {"--db", &db, NULL},           {"--steps", &steps, NULL},
                               {"--quiet", NULL, &quiet},     {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 0, &n_pos, train_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (!config) return hq_cli_usage("--config FILE is required\n%s", train_usage);
    hq_train_config cfg;
    hq_status st = hq_train_config_load(config, &cfg);
    if (st) return hq_cli_fail(st);
    int64_t v;
    if (seed && (rc = hq_cli_int("--seed", seed, 0, INT64_MAX, &v)) == HQ_EXIT_OK)
        cfg.seed = (uint64_t)v;
    if (!rc && epochs && (rc = hq_cli_int("--epochs", epochs, 1, 100000, &v)) == HQ_EXIT_OK)
        cfg.epochs = (int)v;
    if (!rc && batch && (rc = hq_cli_int("--batch", batch, 1, 4096, &v)) == HQ_EXIT_OK)
        cfg.batch_size = (int)v;
    if (!rc && threads && (rc = hq_cli_int("--threads", threads, 0, 256, &v)) == HQ_EXIT_OK)
        cfg.threads = (int)v;
    if (!rc && shots && (rc = hq_cli_int("--shots", shots, 1, 100000000, &v)) == HQ_EXIT_OK)
        cfg.shots = v;
    int64_t stop = 0;
    if (!rc && steps) rc = hq_cli_int("--steps", steps, 1, INT64_MAX, &stop);
    if (!rc && backend) snprintf(cfg.backend, sizeof cfg.backend, "%s", backend);
    if (!rc && data_dir) snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_dir);
    if (rc) {
        hq_train_config_free(&cfg);
        return rc;
    }
    hq_train_opts o = {.db_path = db,
                       .out_dir = out,
                       .run_name = name,
                       .quiet = quiet || json,
                       .stop_after_step = stop};
    hq_train_result r;
    st = hq_train_new(&cfg, &o, &r);
    hq_train_config_free(&cfg);
    if (st == HQ_OK) print_result(&r, json);
    return finish_status(st);
}

static const char resume_usage[] =
    "usage: hqcnn resume RUN [--db FILE] [--steps N] [--quiet] [--json]\n"
    "\n"
    "Continue run RUN (name or id) from its last checkpoint: open quantum jobs are\n"
    "settled first (found at the provider by their client token, never submitted\n"
    "twice), then the remaining steps are replayed exactly, every evaluation the run\n"
    "already has is served from the database.\n"
    "\n"
    "  --db FILE    job database (default " HQ_DEFAULT_DB ")\n"
    "  --steps N    stop again once the run has taken N optimizer steps in total\n"
    "  --quiet      no progress output\n"
    "  --json       print the final metrics as JSON only";

int hq_cmd_resume(int argc, char **argv) {
    const char *db = NULL, *steps = NULL;
    bool quiet = false, json = false;
    const hq_cli_opt opts[] = {{"--db", &db, NULL},
                               {"--steps", &steps, NULL},
                               {"--quiet", NULL, &quiet},
                               {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos, resume_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos != 1) return hq_cli_usage("which run? (see 'hqcnn runs')\n%s", resume_usage);
    int64_t stop = 0;
    if ((rc = hq_cli_int("--steps", steps, 1, INT64_MAX, &stop))) return rc;
    hq_train_opts o = {.db_path = db, .quiet = quiet || json, .stop_after_step = stop};
    hq_train_result r;
    hq_status st = hq_train_resume(pos[0], &o, &r);
    if (st == HQ_OK) print_result(&r, json);
    return finish_status(st);
}

static const char eval_usage[] =
    "usage: hqcnn eval WEIGHTS|RUN [WEIGHTS|RUN ...] [--split test|val|train] [options]\n"
    "\n"
    "Evaluate a weight file (.hqw) or a run's best weights on a dataset split with the\n"
    "MedMNIST metrics (ACC, AUC, F1, confusion matrix). Images are scored as the run\n"
    "scored them (its train.tta and train.prior_correction; a weight file in a run\n"
    "directory follows that run's config.json), so a run's test split gives its metrics.\n"
    "Given several (at most 16), evaluate their ensemble: the mean of the members' class\n"
    "scores, each member scored as its own run scored; they must be for one dataset.\n"
    "\n"
    "  --split S        split to evaluate (default test)\n"
    "  --dataset NAME   dataset (default: the run's)\n"
    "  --tta T          none or hflip (default: the run's train.tta)\n"
    "  --prior-correction on|off  divide the scores by the class weights of the run's\n"
    "                   loss (default: the run's train.prior_correction)\n"
    "  --data-dir DIR   directory searched first for the dataset file\n"
    "  --backend NAME   quantum backend: sv (exact, default) or a shot-based one\n"
    "  --options JSON   that backend's options\n"
    "  --shots N        shots per circuit for a shot-based backend (default 1000)\n"
    "  --threads N      threads (default 0 = all CPUs)\n"
    "  --db FILE        job database for run names and the evaluation cache\n"
    "  --json           JSON output";

int hq_cmd_eval(int argc, char **argv) {
    const char *split = "test", *dataset = NULL, *data_dir = NULL, *backend = NULL, *options = NULL,
               *shots = NULL, *threads = NULL, *db = NULL, *tta = NULL, *prior = NULL;
    bool json = false;
    const hq_cli_opt opts[] = {
        {"--split", &split, NULL},       {"--dataset", &dataset, NULL},
        {"--data-dir", &data_dir, NULL}, {"--backend", &backend, NULL},
        {"--options", &options, NULL},   {"--shots", &shots, NULL},
        {"--threads", &threads, NULL},   {"--db", &db, NULL},
        {"--tta", &tta, NULL},           {"--prior-correction", &prior, NULL},
        {"--json", NULL, &json}};
    const char *pos[HQ_EVAL_MAX_MEMBERS + 1];
    int n_pos, rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos,
                                 HQ_EVAL_MAX_MEMBERS + 1, &n_pos, eval_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos < 1)
        return hq_cli_usage("what to evaluate? a .hqw file or a run name\n%s", eval_usage);
    if (n_pos > HQ_EVAL_MAX_MEMBERS)
        return hq_cli_usage("an ensemble takes at most %d weight files or runs\n%s",
                            HQ_EVAL_MAX_MEMBERS, eval_usage);
    hq_split sp;
    if (hq_split_from_str(split, &sp) != HQ_OK) return hq_cli_usage("--split: %s", hq_last_error());
    int64_t nshots = 1000, nthreads = 0;
    if ((rc = hq_cli_int("--shots", shots, 1, 100000000, &nshots))) return rc;
    if ((rc = hq_cli_int("--threads", threads, 0, 256, &nthreads))) return rc;
    hq_eval_opts o = {.db_path = db,
                      .dataset = dataset,
                      .data_dir = data_dir,
                      .backend = backend,
                      .backend_options = options,
                      .shots = nshots,
                      .threads = (int)nthreads,
                      .tta = tta,
                      .prior = prior};
    hq_metrics m;
    int64_t cm[1024];
    int64_t n_cm = 0;
    char ds[64] = "";
    hq_status st = hq_eval_ensemble(pos, n_pos, sp, &o, &m, cm, &n_cm, ds, sizeof ds);
    if (st) return hq_cli_fail(st);
    hq_sbuf what = HQ_SBUF_INIT, b = HQ_SBUF_INIT; /* what: "a" or "a + b + c" */
    for (int i = 0; i < n_pos; i++) hq_sbuf_printf(&what, "%s%s", i ? " + " : "", pos[i]);
    st = hq_sbuf_status(&what);
    if (st == HQ_OK && json) {
        hq_sbuf_puts(&b, "{\"what\":");
        hq_sbuf_put_json_str(&b, what.p);
        hq_sbuf_printf(&b,
                       ",\"members\":%d,\"dataset\":\"%s\",\"split\":\"%s\",\"n\":%" PRId64
                       ",\"acc\":%.6f,\"auc\":",
                       n_pos, ds, hq_split_str(sp), m.n, m.acc);
        if (isnan(m.auc))
            hq_sbuf_puts(&b, "null");
        else
            hq_sbuf_printf(&b, "%.6f", m.auc);
        hq_sbuf_printf(&b, ",\"f1\":%.6f,\"confusion\":[", m.f1);
        for (int64_t i = 0; i < n_cm; i++) hq_sbuf_printf(&b, "%s%" PRId64, i ? "," : "", cm[i]);
        hq_sbuf_puts(&b, "]}\n");
    } else if (st == HQ_OK) {
        hq_sbuf_printf(&b, "%s on %s/%s (n = %" PRId64 "): ACC %.4f  AUC %.4f  F1 %.4f\n", what.p,
                       ds, hq_split_str(sp), m.n, m.acc, m.auc, m.f1);
        if (n_cm == 4)
            hq_sbuf_printf(&b,
                           "confusion [[tn fp] [fn tp]]: [[%" PRId64 " %" PRId64 "] [%" PRId64
                           " %" PRId64 "]]\n",
                           cm[0], cm[1], cm[2], cm[3]);
    }
    if (st == HQ_OK) st = hq_sbuf_status(&b);
    if (st == HQ_OK)
        fputs(b.p, stdout);
    else
        hq_failf(NULL, st, "out of memory");
    hq_sbuf_free(&what);
    hq_sbuf_free(&b);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

static const char plan_usage[] =
    "usage: hqcnn plan --config FILE [--epochs N] [--backend NAME] [--shots N] [--json]\n"
    "\n"
    "Predict, without submitting anything, what a run of the config will send to its quantum\n"
    "backend: circuits, jobs, shots, estimated cost (quantum.prices) and time. A run records\n"
    "its plan; 'hqcnn show RUN' compares it with what was really submitted.";

int hq_cmd_plan(int argc, char **argv) {
    const char *config = NULL, *epochs = NULL, *backend = NULL, *shots = NULL, *batch = NULL;
    bool json = false;
    const hq_cli_opt opts[] = {{"--config", &config, NULL},   {"--epochs", &epochs, NULL},
                               {"--backend", &backend, NULL}, {"--shots", &shots, NULL},
                               {"--batch", &batch, NULL},     {"--json", NULL, &json}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(argc, argv, 1, opts, HQ_ARRAY_LEN(opts), pos, 0, &n_pos, plan_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (!config) return hq_cli_usage("--config FILE is required\n%s", plan_usage);
    hq_train_config cfg;
    hq_status st = hq_train_config_load(config, &cfg);
    if (st) return hq_cli_fail(st);
    int64_t v;
    if (epochs && (rc = hq_cli_int("--epochs", epochs, 1, 100000, &v)) == HQ_EXIT_OK)
        cfg.epochs = (int)v;
    if (!rc && batch && (rc = hq_cli_int("--batch", batch, 1, 4096, &v)) == HQ_EXIT_OK)
        cfg.batch_size = (int)v;
    if (!rc && shots && (rc = hq_cli_int("--shots", shots, 1, 100000000, &v)) == HQ_EXIT_OK)
        cfg.shots = v;
    if (!rc && backend) snprintf(cfg.backend, sizeof cfg.backend, "%s", backend);
    if (rc) {
        hq_train_config_free(&cfg);
        return rc;
    }
    hq_plan p;
    st = hq_plan_run(&cfg, &p);
    if (st == HQ_OK) {
        hq_sbuf b = HQ_SBUF_INIT;
        if (json)
            hq_plan_to_json(&p, &b);
        else
            hq_plan_format(&p, &b);
        if (hq_sbuf_status(&b) == HQ_OK) fputs(b.p, stdout);
        hq_sbuf_free(&b);
    }
    hq_train_config_free(&cfg);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}
