/*
 * orchestrator/cli.c — `hqcnn` command dispatch: one table row per command.
 * The commands themselves are in orchestrator/cmd_*.c.
 */
#include <stdarg.h>
#include <string.h>

#include "orchestrator/orchestrator.h"

#define HQ_VERSION "0.1.0"

typedef struct cli_cmd {
    const char *name;  /* first argument */
    hq_cli_cmd_fn fn;  /* entry point */
    const char *usage; /* one-line synopsis */
} cli_cmd;

static const cli_cmd commands[] = {
    {"qasm", hq_cmd_qasm,
     "qasm run|convert|draw|transpile FILE   simulate, convert, draw or compile OpenQASM"},
    {"train", hq_cmd_train, "train --config FILE ...     train and evaluate a model (a new run)"},
    {"resume", hq_cmd_resume,
     "resume RUN                  continue an interrupted run from its last checkpoint"},
    {"eval", hq_cmd_eval, "eval WEIGHTS|RUN ...        evaluate weights on a dataset split"},
    {"plan", hq_cmd_plan,
     "plan --config FILE          circuits, jobs, shots, cost and time of a run (submits nothing)"},
    {"runs", hq_cmd_runs, "runs                        list the runs of the job database"},
    {"jobs", hq_cmd_jobs, "jobs [RUN] [--state S]      list quantum jobs"},
    {"show", hq_cmd_show,
     "show RUN                    a run's progress, jobs, shots, cache hits, plan vs actual"},
    {"study", hq_cmd_study,
     "study RUN --backends ...      noise study: backends x shots x mitigation, HTML report"},
    {"backends", hq_cmd_backends,
     "backends                    the quantum backends and their capabilities"},
    {"data", hq_cmd_data, "data list|info|fetch ...    MedMNIST datasets: registry, download"},
    {"emulator", hq_cmd_emulator,
     "emulator --profile ionq|ibm local IonQ / IBM QPU emulator over HTTP (tests)"},
};

static void print_help(FILE *f) {
    fprintf(f,
            "hqcnn %s — hybrid quantum-classical neural networks on simulators and QPUs\n\n"
            "usage: hqcnn <command> [options]\n\ncommands:\n",
            HQ_VERSION);
    for (size_t i = 0; i < HQ_ARRAY_LEN(commands); i++) fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "  version                     print the version\n"
               "\n`hqcnn <command> --help` describes a command's options.\n");
}

int hq_cli_error(const char *fmt, ...) {
    char buf[HQ_ERRMSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hq_redact(buf);
    fprintf(stderr, "hqcnn: error: %s\n", buf);
    return HQ_EXIT_FAIL;
}

int hq_cli_usage(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "hqcnn: usage: %s\n", buf);
    return HQ_EXIT_USAGE;
}

int hq_cli_fail(hq_status st) {
    hq_cli_error("%s", hq_last_error());
    return st == HQ_ERR_INVALID_ARG ? HQ_EXIT_USAGE : HQ_EXIT_FAIL;
}

int hq_cli_main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? HQ_EXIT_USAGE : HQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("hqcnn %s\n", HQ_VERSION);
        return HQ_EXIT_OK;
    }
    for (size_t i = 0; i < HQ_ARRAY_LEN(commands); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hqcnn: error: unknown command '%s'\n", argv[1]);
    print_help(stderr);
    return HQ_EXIT_USAGE;
}
