/*
 * orchestrator/cmd_qasm_run.c — `hqcnn qasm run` (simulate an OpenQASM file on the
 * statevector or the noisy density-matrix simulator: exact probabilities or sampled
 * counts) and `hqcnn qasm transpile` (compile it for an IBM device or IonQ).
 * Parsing, simulation and transpilation live in backends/; this file is the front end.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/densitymatrix.h"
#include "backends/device.h"
#include "backends/noise.h"
#include "backends/qasm.h"
#include "backends/statevector.h"
#include "backends/transpile.h"
#include "orchestrator/orchestrator.h"

const char hq_qasm_run_usage[] =
    "hqcnn qasm run FILE [--backend sv|dm] [--noise FILE | --device CONF.json[,PROPS.json]]\n"
    "                    [--layout P0,P1,...] [--scale X] [--shots N] [--seed S] [--top K] "
    "[--json]\n"
    "\n"
    "Simulate an OpenQASM 2.0 / 3 circuit. Without --shots: the exact distribution of the\n"
    "outcomes (the classical register; all qubits when the circuit measures nothing; bit k\n"
    "of an outcome is classical bit k, printed as a bitstring with bit 0 on the right).\n"
    "With --shots: seeded sampled counts. Circuits with mid-circuit measurement, reset or\n"
    "if() are exact on dm and sampled (1024 shots unless --shots) on sv.\n"
    "\n"
    "  --backend sv|dm   exact statevector (default), or the density-matrix simulator\n"
    "  --noise FILE      noise model JSON (docs/noise.md); implies dm\n"
    "  --device C[,P]    noise model from an IBM backend configuration (+ properties) pair;\n"
    "                    given only a props_*.json file, conf_*.json beside it is used; implies "
    "dm\n"
    "  --layout P,...    physical qubit of each circuit qubit for the noise model (default "
    "0,1,..)\n"
    "  --scale X         multiply every error of the noise model by X (0 = ideal)\n"
    "  --shots N         sample N shots instead of the exact distribution\n"
    "  --seed S          sampling seed (default 1)\n"
    "  --top K           print the K most likely outcomes (default 32; 0 = all)\n"
    "  --json            JSON output: {\"probabilities\": {bits: p}} or {\"counts\": {bits: n}}";

const char hq_qasm_transpile_usage[] =
    "hqcnn qasm transpile FILE (--device CONF.json[,PROPS.json] | --target ionq|ionq-qis)\n"
    "                          [--layout P0,P1,...] [--seed S] [-o OUT] [--stats]\n"
    "\n"
    "Compile a circuit for a device: IBM ISA (rz, sx, x and the device's ecr / cz / cx on its\n"
    "coupling map, calibration-aware layout, SWAP routing) written as OpenQASM 3 with physical\n"
    "qubits, or IonQ native gates (gpi, gpi2, ms) / IonQ QIS gates written as OpenQASM 3.\n"
    "--stats prints gate counts, depth, swaps and the layouts on standard error.";

/* ==== helpers ========================================================================= */

static hq_status load_device(const char *spec, hq_device **out) {
    char conf[2048] = "", props[2048] = "";
    const char *comma = strchr(spec, ',');
    if (comma) {
        snprintf(conf, sizeof conf, "%.*s", (int)(comma - spec), spec);
        snprintf(props, sizeof props, "%s", comma + 1);
    } else {
        const char *base = strrchr(spec, '/');
        base = base ? base + 1 : spec;
        if (!strncmp(base, "props_", 6)) {
            snprintf(props, sizeof props, "%s", spec);
            snprintf(conf, sizeof conf, "%.*sconf_%s", (int)(base - spec), spec, base + 6);
            if (!hq_file_exists(conf))
                return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                                "--device %s: the configuration %s is missing; pass --device "
                                "CONF.json,PROPS.json",
                                spec, conf);
        } else {
            snprintf(conf, sizeof conf, "%s", spec); /* configuration only: no calibration */
        }
    }
    return hq_device_load_ibm(conf, props[0] ? props : NULL, out);
}

static hq_status parse_layout(const char *s, int n, int *layout) {
    int k = 0;
    const char *p = s;
    while (*p && k < n) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 100000)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "--layout: '%s' is not a list of qubit numbers", s);
        for (int j = 0; j < k; j++)
            if (layout[j] == v)
                return hq_failf(NULL, HQ_ERR_INVALID_ARG, "--layout: qubit %ld appears twice", v);
        layout[k++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "--layout: unexpected '%c'", *end);
    }
    if (k != n || *p)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "--layout needs exactly %d physical qubits (one per circuit qubit)", n);
    return HQ_OK;
}

typedef struct outcome {
    uint64_t o;
    double v; /* probability or count */
} outcome;

static int by_value_desc(const void *a, const void *b) {
    const outcome *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->o < y->o ? -1 : x->o > y->o;
}
static int by_outcome(const void *a, const void *b) {
    const outcome *x = a, *y = b;
    return x->o < y->o ? -1 : x->o > y->o;
}

static void bits(uint64_t o, int n, char *buf) {
    for (int b = 0; b < n; b++) buf[b] = (o >> (n - 1 - b)) & 1 ? '1' : '0';
    buf[n] = '\0';
}

static void print_outcomes(outcome *v, int64_t n, int nbits, bool counts, int64_t shots,
                           int64_t top, bool json, const char *file, const char *what) {
    char b[65];
    if (json) {
        qsort(v, (size_t)n, sizeof *v, by_outcome);
        printf("{\"file\":");
        hq_sbuf s = HQ_SBUF_INIT;
        hq_sbuf_put_json_str(&s, file);
        printf("%s,\"backend\":\"%s\",\"bits\":%d,", s.p ? s.p : "\"\"", what, nbits);
        hq_sbuf_free(&s);
        if (counts)
            printf("\"shots\":%" PRId64 ",\"counts\":{", shots);
        else
            printf("\"probabilities\":{");
        for (int64_t i = 0; i < n; i++) {
            bits(v[i].o, nbits, b);
            if (counts)
                printf("%s\"%s\":%.0f", i ? "," : "", b, v[i].v);
            else
                printf("%s\"%s\":%.17g", i ? "," : "", b, v[i].v);
        }
        printf("}}\n");
        return;
    }
    qsort(v, (size_t)n, sizeof *v, by_value_desc);
    int64_t shown = top > 0 && top < n ? top : n;
    for (int64_t i = 0; i < shown; i++) {
        bits(v[i].o, nbits, b);
        if (counts)
            printf("%s  %8.0f  %.4f\n", b, v[i].v, v[i].v / (double)shots);
        else
            printf("%s  %.10f\n", b, v[i].v);
    }
    if (shown < n) {
        double rest = 0;
        for (int64_t i = shown; i < n; i++) rest += v[i].v;
        if (counts)
            printf("... %" PRId64 " more outcomes (%.0f shots); --top 0 shows all\n", n - shown,
                   rest);
        else
            printf("... %" PRId64 " more outcomes (total probability %.3g); --top 0 shows all\n",
                   n - shown, rest);
    }
}

/* The final measurement map: clbit <- qubit for a static circuit (last measure wins); -1
 * where nothing is measured. Returns false if the circuit has no measurement at all. */
static bool measure_map(const hq_circuit *c, int *cmap) {
    int m = hq_circuit_n_clbits(c);
    bool any = false;
    for (int i = 0; i < m; i++) cmap[i] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++)
        if (ops[k].gate == HQ_GATE_MEASURE) {
            cmap[ops[k].clbit] = ops[k].q[0];
            any = true;
        }
    return any;
}

/* ==== run ============================================================================= */

int hq_cmd_qasm_run(int argc, char **argv) {
    const char *backend = NULL, *noise_path = NULL, *device = NULL, *layout_s = NULL,
               *scale_s = NULL, *shots_s = NULL, *seed_s = NULL, *top_s = NULL;
    bool json = false, lenient = false;
    const hq_cli_opt opts[] = {{"--backend", &backend, NULL}, {"--noise", &noise_path, NULL},
                               {"--device", &device, NULL},   {"--layout", &layout_s, NULL},
                               {"--scale", &scale_s, NULL},   {"--shots", &shots_s, NULL},
                               {"--seed", &seed_s, NULL},     {"--top", &top_s, NULL},
                               {"--json", NULL, &json},       {"--lenient", NULL, &lenient}};
    const char *pos[1];
    int n_pos, rc = hq_cli_parse(argc, argv, 2, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos,
                                 hq_qasm_run_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos != 1) return hq_cli_usage("which file?\n%s", hq_qasm_run_usage);
    bool dm = noise_path || device || (backend && !strcmp(backend, "dm"));
    if (backend && strcmp(backend, "sv") && strcmp(backend, "dm"))
        return hq_cli_usage("--backend must be sv or dm (got '%s')", backend);
    if (backend && !strcmp(backend, "sv") && (noise_path || device))
        return hq_cli_usage("a noise model needs --backend dm");
    if (noise_path && device) return hq_cli_usage("give --noise or --device, not both");
    int64_t shots = 0, seed = 1, top = 32;
    if ((rc = hq_cli_int("--shots", shots_s, 1, (int64_t)1 << 40, &shots)) ||
        (rc = hq_cli_int("--seed", seed_s, 0, INT64_MAX, &seed)) ||
        (rc = hq_cli_int("--top", top_s, 0, INT64_MAX, &top)))
        return rc;
    double scale = 1.0;
    if (scale_s && (hq_parse_double(scale_s, &scale) != HQ_OK || scale < 0))
        return hq_cli_usage("--scale must be a number >= 0 (got '%s')", scale_s);
    hq_qasm_options qo = {0};
    qo.lenient = lenient;
    hq_circuit *c = NULL;
    hq_status st = hq_qasm_parse_file_opt(pos[0], &qo, &c);
    if (st) return hq_cli_fail(st);
    if (hq_circuit_is_symbolic(c)) {
        hq_circuit_free(c);
        return hq_cli_error(
            "%s has unbound parameters (input float[64] ...); bind them before running it", pos[0]);
    }
    int n = hq_circuit_n_qubits(c), m = hq_circuit_n_clbits(c);
    hq_noise_model *noise = NULL;
    hq_device *dev = NULL;
    int *layout = NULL;
    if (noise_path)
        st = hq_noise_load_json(noise_path, &noise);
    else if (device) {
        st = load_device(device, &dev);
        if (st == HQ_OK) st = hq_noise_from_device(dev, &noise);
    }
    if (st == HQ_OK && noise && scale != 1.0) st = hq_noise_set_scale(noise, scale);
    if (st == HQ_OK && layout_s) {
        layout = hq_malloc((size_t)n * sizeof *layout);
        st = layout ? parse_layout(layout_s, n, layout)
                    : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
    }
    outcome *v = NULL;
    int64_t nv = 0;
    int nbits = 0;
    bool counts_mode = shots > 0;
    const char *what = dm ? (noise ? "dm+noise" : "dm") : "sv";
    if (st == HQ_OK && !dm && !counts_mode && hq_circuit_is_dynamic(c)) {
        shots = 1024;
        counts_mode = true;
        if (!json)
            fprintf(stderr, "note: the circuit is dynamic (mid-circuit measurement, reset or if); "
                            "sampling 1024 shots (--backend dm gives the exact distribution)\n");
    }
    if (st == HQ_OK && counts_mode) {
        hq_counts cn;
        st = dm ? hq_dm_run(c, NULL, noise, layout, shots, (uint64_t)seed, 0, &cn)
                : hq_sv_run(c, NULL, shots, (uint64_t)seed, 0, &cn);
        if (st == HQ_OK) {
            hq_counts_sort(&cn);
            nbits = cn.n_bits;
            v = hq_malloc((size_t)(cn.n ? cn.n : 1) * sizeof *v);
            if (!v) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; v && i < cn.n; i++)
                v[nv++] = (outcome){cn.outcome[i], (double)cn.count[i]};
        }
        hq_counts_free(&cn);
    } else if (st == HQ_OK && dm) {
        hq_dm_dist d;
        st = hq_dm_run_probs(c, NULL, noise, layout, &d);
        if (st == HQ_OK) {
            nbits = d.n_bits;
            v = hq_malloc((size_t)(d.n ? d.n : 1) * sizeof *v);
            if (!v) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; v && i < d.n; i++) v[nv++] = (outcome){d.outcome[i], d.prob[i]};
            hq_dm_dist_free(&d);
        }
    } else if (st == HQ_OK) {
        hq_sv *sv = NULL;
        st = hq_sv_simulate(c, NULL, &sv);
        int64_t dim = (int64_t)1 << n;
        double *p = st ? NULL : hq_malloc((size_t)dim * sizeof *p);
        int *cmap = m ? hq_malloc((size_t)m * sizeof *cmap) : NULL;
        if (st == HQ_OK && (!p || (m && !cmap))) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        if (st == HQ_OK) st = hq_sv_probabilities(sv, p);
        bool measured = st == HQ_OK && m && measure_map(c, cmap);
        if (measured && m > 64)
            st = hq_failf(NULL, HQ_ERR_UNSUPPORTED, "more than 64 classical bits");
        if (st == HQ_OK && !measured) {
            nbits = n;
            v = hq_malloc((size_t)dim * sizeof *v);
            if (!v) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; v && i < dim; i++)
                if (p[i] > 1e-15) v[nv++] = (outcome){(uint64_t)i, p[i]};
        } else if (st == HQ_OK) {
            /* fold the qubit distribution onto the classical register */
            nbits = m;
            v = hq_malloc((size_t)dim * sizeof *v);
            if (!v) st = hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
            for (int64_t i = 0; v && i < dim; i++) {
                if (p[i] <= 1e-15) continue;
                uint64_t o = 0;
                for (int b = 0; b < m; b++)
                    if (cmap[b] >= 0 && ((i >> cmap[b]) & 1)) o |= 1ull << b;
                v[nv++] = (outcome){o, p[i]};
            }
            if (v) { /* merge equal outcomes */
                qsort(v, (size_t)nv, sizeof *v, by_outcome);
                int64_t w = 0;
                for (int64_t i = 0; i < nv; i++) {
                    if (w && v[w - 1].o == v[i].o)
                        v[w - 1].v += v[i].v;
                    else
                        v[w++] = v[i];
                }
                nv = w;
            }
        }
        hq_free(p);
        hq_free(cmap);
        hq_sv_free(sv);
    }
    if (st == HQ_OK) print_outcomes(v, nv, nbits, counts_mode, shots, top, json, pos[0], what);
    hq_free(v);
    hq_free(layout);
    hq_noise_free(noise);
    hq_device_free(dev);
    hq_circuit_free(c);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

/* ==== transpile ======================================================================= */

int hq_cmd_qasm_transpile(int argc, char **argv) {
    const char *device = NULL, *target = NULL, *layout_s = NULL, *seed_s = NULL, *out = NULL;
    bool stats = false, lenient = false;
    const hq_cli_opt opts[] = {
        {"--device", &device, NULL},  {"--target", &target, NULL}, {"--layout", &layout_s, NULL},
        {"--seed", &seed_s, NULL},    {"-o", &out, NULL},          {"--stats", NULL, &stats},
        {"--lenient", NULL, &lenient}};
    const char *pos[1];
    int n_pos, rc = hq_cli_parse(argc, argv, 2, opts, HQ_ARRAY_LEN(opts), pos, 1, &n_pos,
                                 hq_qasm_transpile_usage);
    if (rc) return rc == HQ_EXIT_HELP ? HQ_EXIT_OK : rc;
    if (n_pos != 1) return hq_cli_usage("which file?\n%s", hq_qasm_transpile_usage);
    if (!device == !target)
        return hq_cli_usage("give --device CONF[,PROPS] or --target ionq|ionq-qis\n%s",
                            hq_qasm_transpile_usage);
    if (target && strcmp(target, "ionq") && strcmp(target, "ionq-qis"))
        return hq_cli_usage("--target must be ionq or ionq-qis (got '%s')", target);
    int64_t seed = 0;
    if ((rc = hq_cli_int("--seed", seed_s, 0, INT64_MAX, &seed))) return rc;
    hq_qasm_options qo = {0};
    qo.lenient = lenient;
    hq_circuit *c = NULL;
    hq_status st = hq_qasm_parse_file_opt(pos[0], &qo, &c);
    if (st) return hq_cli_fail(st);
    hq_device *dev = NULL;
    int *layout = NULL;
    hq_transpile_result r;
    memset(&r, 0, sizeof r);
    hq_transpile_options to = hq_transpile_default_options();
    to.seed = (uint64_t)seed;
    if (layout_s) {
        layout = hq_malloc((size_t)hq_circuit_n_qubits(c) * sizeof *layout);
        st = layout ? parse_layout(layout_s, hq_circuit_n_qubits(c), layout)
                    : hq_failf(NULL, HQ_ERR_NOMEM, "out of memory");
        to.initial_layout = layout;
    }
    if (st == HQ_OK && device) {
        st = load_device(device, &dev);
        if (st == HQ_OK) st = hq_transpile_ibm(c, dev, &to, &r);
    } else if (st == HQ_OK) {
        st = hq_transpile_ionq(c, !strcmp(target, "ionq") ? HQ_IONQ_NATIVE : HQ_IONQ_QIS, 0, &to,
                               &r);
    }
    hq_sbuf b = HQ_SBUF_INIT;
    if (st == HQ_OK) st = hq_qasm_write(r.circuit, 3, device ? HQ_QASM_PHYSICAL : 0, &b);
    if (st == HQ_OK) {
        if (out)
            st = hq_file_write_atomic(out, b.p, b.len);
        else if (fwrite(b.p, 1, b.len, stdout) != b.len)
            st = hq_failf(NULL, HQ_ERR_IO, "cannot write to standard output");
    }
    if (st == HQ_OK && stats) {
        const hq_transpile_stats *s = &r.stats;
        fprintf(stderr,
                "ops %" PRId64 " -> %" PRId64 ", depth %" PRId64 " -> %" PRId64
                ", 2-qubit gates %" PRId64 " -> %" PRId64 ", 1-qubit %" PRId64 ", swaps %" PRId64
                ", est. fidelity %.4f, %.1f ms\n",
                s->ops_in, s->ops_out, s->depth_in, s->depth_out, s->twoq_in, s->twoq_out,
                s->oneq_out, s->swaps, s->est_fidelity, 1000 * s->seconds);
        if (device && r.initial_layout) {
            fprintf(stderr, "layout (logical -> physical):");
            for (int i = 0; i < r.n_logical; i++)
                fprintf(stderr, " %d->%d", i, r.initial_layout[i]);
            fprintf(stderr, "\nfinal layout:                ");
            for (int i = 0; i < r.n_logical; i++) fprintf(stderr, " %d->%d", i, r.final_layout[i]);
            fprintf(stderr, "\n");
        }
    }
    hq_sbuf_free(&b);
    hq_transpile_result_free(&r);
    hq_free(layout);
    hq_device_free(dev);
    hq_circuit_free(c);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}
