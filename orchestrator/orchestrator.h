/*
 * orchestrator/orchestrator.h — the hqcnn command line and the pieces it drives.
 *
 * hq_cli_main dispatches `hqcnn <command> ...` through one table of commands (cli.c);
 * each command lives in its own orchestrator/cmd_<name>.c and has the signature of
 * hq_cli_cmd_fn. Commands print results on stdout, errors on stderr as
 * "hqcnn: error: <message>", and return a process exit status:
 *   0 success, 1 runtime failure, 2 usage error.
 */
#ifndef HQ_ORCHESTRATOR_H
#define HQ_ORCHESTRATOR_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses of commands (HQ_EXIT_HELP is internal: --help was printed). */
enum {
    HQ_EXIT_OK = 0,
    HQ_EXIT_FAIL = 1,
    HQ_EXIT_USAGE = 2,
    HQ_EXIT_INTERRUPTED = 130,
    HQ_EXIT_HELP = -1
};

typedef int (*hq_cli_cmd_fn)(int argc, char **argv); /* argv[0] is the command name */

int hq_cli_main(int argc, char **argv);

/* Print "hqcnn: error: <fmt>" to stderr (secrets redacted) and return HQ_EXIT_FAIL. */
int hq_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "hqcnn: usage: <fmt>" to stderr and return HQ_EXIT_USAGE. */
int hq_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the status's last error and return HQ_EXIT_FAIL (or HQ_EXIT_USAGE for
 * HQ_ERR_INVALID_ARG raised by argument parsing). */
int hq_cli_fail(hq_status st);

/* One option of a command: a value option ("--seed S": value != NULL) or a flag
 * ("--quiet": flag != NULL). */
typedef struct hq_cli_opt {
    const char *name;   /* "--seed" */
    const char **value; /* receives the option's argument, or NULL for a flag */
    bool *flag;         /* set to true by a flag, or NULL */
} hq_cli_opt;

/* Parse argv[first..argc): options anywhere ("--k v" or "--k=v"), the rest positional
 * (at most max_pos, into pos). Prints usage and returns HQ_EXIT_HELP on --help,
 * HQ_EXIT_USAGE on a mistake (with the usage text), HQ_EXIT_OK otherwise. */
int hq_cli_parse(int argc, char **argv, int first, const hq_cli_opt *opts, int n_opts,
                 const char **pos, int max_pos, int *n_pos, const char *usage);
/* Parse an integer option (text may be NULL: *out unchanged). HQ_EXIT_USAGE on error. */
int hq_cli_int(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out);

/* Per-command entry points (orchestrator/cmd_*.c). */
int hq_cmd_qasm(int argc, char **argv);
int hq_cmd_qasm_run(int argc, char **argv);       /* argv[1] == "run" */
int hq_cmd_qasm_transpile(int argc, char **argv); /* argv[1] == "transpile" */
int hq_cmd_data(int argc, char **argv);
int hq_cmd_train(int argc, char **argv);
int hq_cmd_resume(int argc, char **argv);
int hq_cmd_eval(int argc, char **argv);
int hq_cmd_plan(int argc, char **argv);
int hq_cmd_runs(int argc, char **argv);
int hq_cmd_jobs(int argc, char **argv);
int hq_cmd_show(int argc, char **argv);
int hq_cmd_backends(int argc, char **argv);
int hq_cmd_study(int argc, char **argv);
int hq_cmd_emulator(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* HQ_ORCHESTRATOR_H */
