/*
 * orchestrator/cliargs.c — one small option parser shared by the commands: long options
 * with or without a value ("--seed 3" or "--seed=3"), flags, positional arguments, and
 * the command's usage text on --help or a mistake.
 */
#include <string.h>

#include "orchestrator/orchestrator.h"

int hq_cli_parse(int argc, char **argv, int first, const hq_cli_opt *opts, int n_opts,
                 const char **pos, int max_pos, int *n_pos, const char *usage) {
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s\n", usage);
            return HQ_EXIT_HELP;
        }
        if (a[0] == '-' && ((a[1] == '-' && a[2]) || (a[1] >= 'a' && a[1] <= 'z'))) {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const hq_cli_opt *o = NULL;
            for (int k = 0; k < n_opts; k++)
                if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len)) o = &opts[k];
            if (!o) return hq_cli_usage("unknown option '%.*s'\n%s", (int)len, a, usage);
            if (o->value) {
                if (eq)
                    *o->value = eq + 1;
                else if (i + 1 < argc)
                    *o->value = argv[++i];
                else
                    return hq_cli_usage("option %s needs a value\n%s", o->name, usage);
            } else {
                if (eq) return hq_cli_usage("option %s takes no value\n%s", o->name, usage);
                if (o->flag) *o->flag = true;
            }
        } else if (*n_pos < max_pos) {
            pos[(*n_pos)++] = a;
        } else {
            return hq_cli_usage("unexpected argument '%s'\n%s", a, usage);
        }
    }
    return HQ_EXIT_OK;
}

int hq_cli_int(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out) {
    if (!text) return HQ_EXIT_OK;
    if (hq_parse_i64(text, lo, hi, out) != HQ_OK)
        return hq_cli_usage("%s: %s", name, hq_last_error());
    return HQ_EXIT_OK;
}
