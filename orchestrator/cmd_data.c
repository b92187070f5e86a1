/*
 * orchestrator/cmd_data.c — `hqcnn data list|info|fetch`: the MedMNIST registry, which
 * files are present locally, and md5-checked downloads with a progress bar and resume.
 * The work is done by nn/medmnist.c.
 */
#include <string.h>

#include "core/sha256.h"
#include "nn/medmnist.h"
#include "orchestrator/orchestrator.h"

static const char data_usage[] =
    "hqcnn data list [--data-dir DIR]\n"
    "       hqcnn data info NAME [--size N] [--data-dir DIR]\n"
    "       hqcnn data fetch NAME...|all [--size N] [--data-dir DIR] [--force]\n"
    "\n"
    "  list    the MedMNIST 2D datasets and where each is present locally\n"
    "  info    task, classes, split sizes, md5, URL and license of a dataset; checks the\n"
    "          md5 of the local file\n"
    "  fetch   download (resumable, md5-checked) into --data-dir, else $HQCNN_DATA, else\n"
    "          ~/.medmnist; $HQCNN_MEDMNIST_URL overrides the Zenodo base URL\n"
    "\n"
    "  --size N       image size 28 (default), 64, 128 or 224\n"
    "  --data-dir DIR directory searched first (list/info) or written (fetch)\n"
    "  --force        download even if a file with the right md5 is present\n"
    "Files are looked up in: --data-dir, $HQCNN_DATA, ./data, <hqcnn>/../data, ~/.medmnist.";

typedef struct data_args {
    const char *data_dir;  /* --data-dir */
    int size;              /* --size (28 default) */
    bool force;            /* --force */
    const char *names[32]; /* positional arguments */
    int n_names;
} data_args;

/* Parse options after the subcommand; returns HQ_EXIT_OK or a usage exit status. */
static int parse_args(int argc, char **argv, data_args *a) {
    memset(a, 0, sizeof *a);
    a->size = 28;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--data-dir") && i + 1 < argc) {
            a->data_dir = argv[++i];
        } else if (!strcmp(s, "--size") && i + 1 < argc) {
            int64_t v;
            if (hq_parse_i64(argv[++i], 1, 4096, &v) != HQ_OK || hq_medmnist_size_index((int)v) < 0)
                return hq_cli_usage("--size must be 28, 64, 128 or 224 (got '%s')", argv[i]);
            a->size = (int)v;
        } else if (!strcmp(s, "--force")) {
            a->force = true;
        } else if (s[0] == '-') {
            return hq_cli_usage("unknown or incomplete option '%s'\n%s", s, data_usage);
        } else if (a->n_names < (int)HQ_ARRAY_LEN(a->names)) {
            a->names[a->n_names++] = s;
        } else {
            return hq_cli_usage("too many dataset names");
        }
    }
    return HQ_EXIT_OK;
}

static int cmd_list(const data_args *a) {
    printf("%-15s %-27s %3s %3s %8s %7s %7s  %s\n", "name", "task", "cls", "ch", "train", "val",
           "test", "local file");
    for (int i = 0; i < hq_medmnist_count(); i++) {
        const hq_medmnist_info *m = hq_medmnist_at(i);
        char path[4096];
        hq_status st = hq_medmnist_locate(m->name, a->size, a->data_dir, path, sizeof path);
        printf("%-15s %-27s %3d %3d %8lld %7lld %7lld  %s\n", m->name, hq_task_str(m->task),
               m->n_classes, m->n_channels, (long long)m->n_samples[0], (long long)m->n_samples[1],
               (long long)m->n_samples[2], st == HQ_OK ? path : "-");
    }
    hq_clear_error();
    return HQ_EXIT_OK;
}

static int cmd_info(const data_args *a) {
    if (a->n_names != 1) return hq_cli_usage("hqcnn data info NAME [--size N] [--data-dir DIR]");
    const hq_medmnist_info *m;
    hq_status st = hq_medmnist_find(a->names[0], &m);
    if (st != HQ_OK) return hq_cli_fail(st);
    char file[128], url[2048], path[4096];
    hq_medmnist_filename(m, a->size, file, sizeof file);
    hq_medmnist_url(m, a->size, url, sizeof url);
    const char *md5 = m->md5[hq_medmnist_size_index(a->size)];
    printf("%s (%s)\n", m->title, m->name);
    printf("  task       %s\n", hq_task_str(m->task));
    printf("  channels   %d\n", m->n_channels);
    printf("  %-10s %d\n", m->task == HQ_TASK_MULTILABEL ? "labels" : "classes", m->n_classes);
    for (int k = 0; k < m->n_classes; k++) printf("    %2d  %s\n", k, m->label_names[k]);
    printf("  samples    train %lld, val %lld, test %lld\n", (long long)m->n_samples[0],
           (long long)m->n_samples[1], (long long)m->n_samples[2]);
    printf("  file       %s (%dx%d)\n", file, a->size, a->size);
    printf("  md5        %s\n", md5);
    printf("  url        %s\n", url);
    printf("  license    %s (cite Yang et al., \"MedMNIST v2\", Scientific Data 10:41, 2023)\n",
           m->license);
    st = hq_medmnist_locate(m->name, a->size, a->data_dir, path, sizeof path);
    if (st != HQ_OK) {
        printf("  local      not present: %s\n", hq_last_error());
        hq_clear_error();
        return HQ_EXIT_OK;
    }
    char got[33];
    if ((st = hq_md5_file_hex(path, got)) != HQ_OK) return hq_cli_fail(st);
    bool ok = !strcmp(got, md5);
    printf("  local      %s (md5 %s)\n", path, ok ? "ok" : "MISMATCH");
    if (!ok)
        return hq_cli_error("%s has md5 %s, expected %s: delete it and run 'hqcnn data fetch %s'",
                            path, got, md5, m->name);
    return HQ_EXIT_OK;
}

static int cmd_fetch(const data_args *a) {
    if (a->n_names < 1)
        return hq_cli_usage("hqcnn data fetch NAME...|all [--size N] [--data-dir DIR] [--force]");
    const char *all[64];
    const char *const *names = a->names;
    int n = a->n_names;
    if (n == 1 && !strcmp(a->names[0], "all")) {
        n = hq_medmnist_count();
        for (int i = 0; i < n; i++) all[i] = hq_medmnist_at(i)->name;
        names = all;
    }
    for (int i = 0; i < n; i++) { /* validate every name before downloading anything */
        const hq_medmnist_info *m;
        hq_status st = hq_medmnist_find(names[i], &m);
        if (st != HQ_OK) return hq_cli_fail(st);
    }
    hq_fetch_opts o = {0};
    o.data_dir = a->data_dir;
    o.size = a->size;
    o.force = a->force;
    o.progress = true;
    for (int i = 0; i < n; i++) {
        char path[4096];
        hq_status st = hq_medmnist_fetch(names[i], &o, path, sizeof path);
        if (st != HQ_OK) return hq_cli_fail(st);
        printf("%s\n", path);
    }
    return HQ_EXIT_OK;
}

int hq_cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc < 2) return hq_cli_usage("%s", data_usage);
        printf("usage: %s\n", data_usage);
        return HQ_EXIT_OK;
    }
    data_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != HQ_EXIT_OK) return rc;
    if (!strcmp(argv[1], "list")) return cmd_list(&a);
    if (!strcmp(argv[1], "info")) return cmd_info(&a);
    if (!strcmp(argv[1], "fetch")) return cmd_fetch(&a);
    return hq_cli_usage("unknown subcommand 'data %s'\n%s", argv[1], data_usage);
}
