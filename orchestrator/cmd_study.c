/*
 * orchestrator/cmd_study.c — `hqcnn study RUN ...`: the noise-study front end; the work is
 * in orchestrator/study.c.
 */
#include <stdlib.h>
#include <string.h>

#include "orchestrator/orchestrator.h"
#include "orchestrator/study.h"
#include "orchestrator/train.h"

static const char study_usage[] =
    "usage: hqcnn study RUN|WEIGHTS [--backends LIST] [--shots LIST] [--mitigation LIST]\n"
    "                   [--scales LIST] [--subset N] [--out DIR] [--options NAME=JSON] ...\n"
    "\n"
    "Evaluate a trained model's test split with its quantum layer on several backends and\n"
    "write one self-contained HTML report (plots as inline SVG) plus CSV and JSON.\n"
    "\n"
    "  --backends LIST    comma-separated: sv (exact), dm:DEVICE (density matrix with the noise\n"
    "                     of manila, nairobi, sherbrooke, fez or CONF.json+PROPS.json; the\n"
    "                     circuit is transpiled for the device), dm:@NAME (the same with the\n"
    "                     calibration backend NAME reports: dm:@emulator-ibm, dm:@ibm; its\n"
    "                     options via --options dm:@NAME=JSON), or a shot-based backend\n"
    "                     (sv-shots, dm-shots, emulator-ibm, emulator-ionq, ibm, ionq ...)\n"
    "                     (default sv,dm:manila,dm:sherbrooke)\n"
    "  --shots LIST       shots per circuit; 0 = exact, for sv and dm (default 0,1000)\n"
    "  --mitigation LIST  none, readout, zne, readout+zne (default none,readout,zne)\n"
    "  --scales LIST      noise-model scale factors for the sweep on dm backends\n"
    "                     (default 0,0.5,1,2)\n"
    "  --subset N         the first N test images only (default: all)\n"
    "  --tta none|hflip   test-time augmentation: average the scores of each image and its\n"
    "                     mirror, doubling the circuits (default: the run's train.tta)\n"
    "  --options NAME=JSON  options of backend NAME (repeatable)\n"
    "  --dataset NAME     dataset of a bare weight file\n"
    "  --data-dir DIR     extra dataset directory\n"
    "  --seed S           sampling seed (default 0)\n"
    "  --db FILE          job database (default " HQ_DEFAULT_DB "): remote evaluations are cached\n"
    "                     there, so an interrupted study resumes without resubmitting\n"
    "  --out DIR          report directory (default runs/study-<run>)\n"
    "  --threads N        model threads (default 0 = all CPUs)\n"
    "  --quiet            no progress lines";

/* Split a comma list in place into items. */
static int split(char *s, const char **items, int max) {
    int n = 0;
    for (char *p = s; p && *p && n < max;) {
        char *c = strchr(p, ',');
        if (c) *c = '\0';
        if (*p) items[n++] = p;
        p = c ? c + 1 : NULL;
    }
    return n;
}

int hq_cmd_study(int argc, char **argv) {
    const char *backends = "sv,dm:manila,dm:sherbrooke", *shots = "0,1000",
               *mitigation = "none,readout,zne", *scales = "0,0.5,1,2", *subset = NULL,
               *dataset = NULL, *data_dir = NULL, *seed = NULL, *db = NULL, *out = NULL,
               *threads = NULL, *tta = NULL;
    const char *opt_list[HQ_STUDY_MAX_LIST];
    int n_opt = 0;
    bool quiet = false;
    /* --options may repeat: collect it by hand, parse the rest */
    char *rest[64];
    int n_rest = 0;
    for (int i = 0; i < argc && n_rest < 63; i++) {
        if (!strcmp(argv[i], "--options") && i + 1 < argc) {
            if (n_opt < HQ_STUDY_MAX_LIST) opt_list[n_opt++] = argv[++i];
            continue;
        }
        rest[n_rest++] = argv[i];
    }
    rest[n_rest] = NULL;
    const hq_cli_opt opts[] = {{"--backends", &backends, NULL},
                               {"--shots", &shots, NULL},
                               {"--mitigation", &mitigation, NULL},
                               {"--scales", &scales, NULL},
                               {"--subset", &subset, NULL},
                               {"--dataset", &dataset, NULL},
                               {"--data-dir", &data_dir, NULL},
                               {"--seed", &seed, NULL},
                               {"--db", &db, NULL},
                               {"--out", &out, NULL},
                               {"--threads", &threads, NULL},
                               {"--tta", &tta, NULL},
                               {"--quiet", NULL, &quiet}};
    const char *pos[1];
    int n_pos,
        rc = hq_cli_parse(n_rest, rest, 1, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos, study_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos != 1) return hq_cli_usage("which run (or weight file)?\n%s", study_usage);
    hq_study_opts o;
    memset(&o, 0, sizeof o);
    o.what = pos[0];
    o.dataset = dataset;
    o.data_dir = data_dir;
    o.db_path = db;
    o.out_dir = out;
    o.quiet = quiet;
    o.tta = tta;
    int64_t v = 0;
    if ((rc = hq_cli_int("--subset", subset, 1, INT64_MAX, &v))) return rc;
    o.subset = subset ? v : 0;
    v = 0;
    if ((rc = hq_cli_int("--seed", seed, 0, INT64_MAX, &v))) return rc;
    o.seed = (uint64_t)v;
    v = 0;
    if ((rc = hq_cli_int("--threads", threads, 0, 256, &v))) return rc;
    o.threads = (int)v;
    static char bbuf[2048], sbuf[512], mbuf[512], cbuf[512];
    snprintf(bbuf, sizeof bbuf, "%s", backends);
    snprintf(sbuf, sizeof sbuf, "%s", shots);
    snprintf(mbuf, sizeof mbuf, "%s", mitigation);
    snprintf(cbuf, sizeof cbuf, "%s", scales);
    o.n_backends = split(bbuf, o.backends, HQ_STUDY_MAX_LIST);
    o.n_mitigation = split(mbuf, o.mitigation, HQ_STUDY_MAX_LIST);
    const char *items[HQ_STUDY_MAX_LIST];
    int n = split(sbuf, items, HQ_STUDY_MAX_LIST);
    for (int i = 0; i < n; i++) {
        if (hq_parse_i64(items[i], 0, 100000000, &o.shots[o.n_shots]) != HQ_OK)
            return hq_cli_usage("--shots: '%s' is not a shot count", items[i]);
        o.n_shots++;
    }
    n = split(cbuf, items, HQ_STUDY_MAX_LIST);
    for (int i = 0; i < n; i++) {
        if (hq_parse_double(items[i], &o.scales[o.n_scales]) != HQ_OK || o.scales[o.n_scales] < 0)
            return hq_cli_usage("--scales: '%s' is not a scale factor >= 0", items[i]);
        o.n_scales++;
    }
    if (!o.n_backends || !o.n_shots || !o.n_mitigation)
        return hq_cli_usage("empty --backends, --shots or --mitigation");
    for (int k = 0; k < n_opt; k++) {
        const char *eq = strchr(opt_list[k], '=');
        if (!eq) return hq_cli_usage("--options takes NAME=JSON (got '%s')", opt_list[k]);
        bool found = false;
        for (int i = 0; i < o.n_backends; i++)
            if (strlen(o.backends[i]) == (size_t)(eq - opt_list[k]) &&
                !strncmp(o.backends[i], opt_list[k], (size_t)(eq - opt_list[k]))) {
                o.backend_options[i] = eq + 1;
                found = true;
            }
        if (!found)
            return hq_cli_usage("--options %.*s: no such backend in --backends",
                                (int)(eq - opt_list[k]), opt_list[k]);
    }
    char report[2400];
    hq_status st = hq_study_run(&o, report, sizeof report);
    if (st) return hq_cli_fail(st);
    printf("report: %s\n", report);
    return HQ_EXIT_OK;
}
