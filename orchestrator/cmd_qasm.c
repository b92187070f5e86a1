/*
 * orchestrator/cmd_qasm.c — `hqcnn qasm run|convert|draw FILE`.
 *
 * `convert` reads OpenQASM 2 or 3 (backends/qasm.h) and writes OpenQASM 2 or 3; `draw`
 * prints a text drawing (backends/draw.h) and optionally writes an SVG; `run` and
 * `transpile` are in cmd_qasm_run.c.
 */
#include <stdio.h>
#include <string.h>

#include "backends/draw.h"
#include "backends/qasm.h"
#include "orchestrator/orchestrator.h"

static const char qasm_usage[] =
    "hqcnn qasm convert FILE [--to 2|3] [--physical] [--lenient] [-o OUT]\n"
    "       hqcnn qasm draw FILE [--width N] [--svg OUT.svg] [--lenient]\n"
    "       hqcnn qasm run FILE [--backend sv|dm] [--noise F|--device C[,P]] [--shots N] [--json]\n"
    "       hqcnn qasm transpile FILE --device CONF[,PROPS] | --target ionq|ionq-qis\n"
    "(hqcnn qasm run --help and hqcnn qasm transpile --help describe them)\n"
    "\n"
    "  convert   read OpenQASM 2.0 or 3 (the version comes from the OPENQASM line) and write\n"
    "            OpenQASM --to 2 or 3 (default 3) to OUT (default: standard output)\n"
    "\n"
    "  --to 2|3      output version (also qasm2, qasm3)\n"
    "  --physical    OpenQASM 3 ISA output: physical qubits $k, no definitions of IBM native\n"
    "                gates (for transpiled circuits sent to IBM Runtime)\n"
    "  --lenient     drop `measure` statements that name undeclared registers (a defect of\n"
    "                some QASMBench files) instead of rejecting the file\n"
    "  -o OUT        write OUT (atomically) instead of standard output\n"
    "\n"
    "  draw      print the circuit as text (UTF-8 box drawing) on standard output\n"
    "  --width N     wrap lines at N columns (default 80; 0 = no wrapping)\n"
    "  --svg OUT     also write an SVG drawing to OUT (atomically)";

static int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int version = 3;
    unsigned flags = 0;
    hq_qasm_options opt = {0};
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--to") && i + 1 < argc) {
            const char *v = argv[++i];
            /* 2, 2.0, qasm2 (and 3 likewise) */
            const char *d = strncmp(v, "qasm", 4) ? v : v + 4;
            if (strcmp(d, "2") && strcmp(d, "3") && strcmp(d, "2.0") && strcmp(d, "3.0"))
                return hq_cli_usage("--to must be 2, 3, qasm2 or qasm3 (got '%s')", v);
            version = d[0] - '0';
        } else if (!strcmp(s, "--physical")) {
            flags |= HQ_QASM_PHYSICAL;
        } else if (!strcmp(s, "--lenient")) {
            opt.lenient = true;
        } else if (!strcmp(s, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf("usage: %s\n", qasm_usage);
            return HQ_EXIT_OK;
        } else if (s[0] == '-' && s[1]) {
            return hq_cli_usage("unknown or incomplete option '%s'\n%s", s, qasm_usage);
        } else if (!in) {
            in = s;
        } else {
            return hq_cli_usage("one input file only ('%s' and '%s')", in, s);
        }
    }
    if (!in) return hq_cli_usage("%s", qasm_usage);
    if ((flags & HQ_QASM_PHYSICAL) && version != 3)
        return hq_cli_usage("--physical needs OpenQASM 3 output (--to 3)");
    hq_circuit *c;
    hq_status st = hq_qasm_parse_file_opt(in, &opt, &c);
    if (st) return hq_cli_fail(st);
    hq_sbuf b = HQ_SBUF_INIT;
    st = hq_qasm_write(c, version, flags, &b);
    hq_circuit_free(c);
    if (!st) {
        if (out) {
            st = hq_file_write_atomic(out, b.p, b.len);
        } else if (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
            st = hq_failf(NULL, HQ_ERR_IO, "cannot write to standard output");
        }
    }
    hq_sbuf_free(&b);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

static int cmd_draw(int argc, char **argv) {
    const char *in = NULL, *svg = NULL;
    int64_t width = 80;
    hq_qasm_options opt = {0};
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--width") && i + 1 < argc) {
            const char *v = argv[++i];
            if (hq_parse_i64(v, 0, 1000000, &width) != HQ_OK ||
                (width != 0 && width < HQ_DRAW_MIN_WIDTH))
                return hq_cli_usage("--width must be 0 (no wrapping) or an integer in [%d, "
                                    "1000000] (got '%s')",
                                    HQ_DRAW_MIN_WIDTH, v);
        } else if (!strcmp(s, "--svg") && i + 1 < argc) {
            svg = argv[++i];
        } else if (!strcmp(s, "--lenient")) {
            opt.lenient = true;
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            printf("usage: %s\n", qasm_usage);
            return HQ_EXIT_OK;
        } else if (s[0] == '-' && s[1]) {
            return hq_cli_usage("unknown or incomplete option '%s'\n%s", s, qasm_usage);
        } else if (!in) {
            in = s;
        } else {
            return hq_cli_usage("one input file only ('%s' and '%s')", in, s);
        }
    }
    if (!in) return hq_cli_usage("%s", qasm_usage);
    hq_circuit *c;
    hq_status st = hq_qasm_parse_file_opt(in, &opt, &c);
    if (st) return hq_cli_fail(st);
    hq_sbuf b = HQ_SBUF_INIT;
    st = hq_draw_text(c, (int)width, &b);
    if (!st && (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout) != 0))
        st = hq_failf(NULL, HQ_ERR_IO, "cannot write to standard output");
    if (!st && svg) {
        hq_sbuf_reset(&b);
        st = hq_draw_svg(c, &b);
        if (!st) st = hq_file_write_atomic(svg, b.p, b.len);
    }
    hq_sbuf_free(&b);
    hq_circuit_free(c);
    return st ? hq_cli_fail(st) : HQ_EXIT_OK;
}

int hq_cmd_qasm(int argc, char **argv) {
    if (argc < 2) return hq_cli_usage("%s", qasm_usage);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        printf("usage: %s\n", qasm_usage);
        return HQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "convert")) return cmd_convert(argc, argv);
    if (!strcmp(argv[1], "draw")) return cmd_draw(argc, argv);
    if (!strcmp(argv[1], "run")) return hq_cmd_qasm_run(argc, argv);
    if (!strcmp(argv[1], "transpile")) return hq_cmd_qasm_transpile(argc, argv);
    return hq_cli_usage("unknown qasm command '%s'\n%s", argv[1], qasm_usage);
}
