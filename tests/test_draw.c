/*
 * tests/test_draw.c — circuit drawings (backends/draw.h) and `hqcnn qasm draw`.
 *
 * The expected drawings below were written by hand from the layout rules in
 * docs/study.md (columns, centring, connectors), not captured from the program.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "backends/draw.h"
#include "backends/qasm.h"
#include "tests/hq_test.h"
#include "tests/xml_check.h"

static hq_circuit *parse_in(const char *src, const char *include_dir) {
    hq_circuit *c = NULL;
    if (hq_qasm_parse_string(src, strlen(src), "test.qasm", include_dir, &c) != HQ_OK) {
        fprintf(stderr, "    parse: %s\n", hq_last_error());
        return NULL;
    }
    return c;
}

static hq_circuit *parse(const char *src) { return parse_in(src, NULL); }

static void check_text(const hq_circuit *c, int width, const char *want) {
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_draw_text(c, width, &b));
    HQ_CHECKF(b.p && strcmp(b.p, want) == 0, "drawing differs:\n--- got\n%s--- want\n%s",
              b.p ? b.p : "(null)", want);
    hq_sbuf_free(&b);
}

HQ_TEST(draw_text_bell_measure) {
    hq_circuit *c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[2];"
                          "h q[0]; cx q[0],q[1]; measure q[0] -> c[0]; measure q[1] -> c[1];");
    HQ_REQUIRE(c);
    check_text(c, 0,
               "q_0: ─[H]──●──[M]──────\n"
               "           │   ║\n"
               "q_1: ──────⊕───╫───[M]─\n"
               "               ║    ║\n"
               "  c: ══════════╩════╩══\n"
               "               0    1\n");
    /* stable: the same bytes again, and for a copy */
    hq_circuit *d;
    HQ_REQUIRE_OK(hq_circuit_copy(c, &d));
    hq_sbuf a = HQ_SBUF_INIT, b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_draw_text(c, 0, &a));
    HQ_CHECK_OK(hq_draw_text(d, 0, &b));
    HQ_CHECK_STR(a.p, b.p);
    hq_sbuf_free(&a);
    hq_sbuf_free(&b);
    hq_circuit_free(d);
    hq_circuit_free(c);
}

HQ_TEST(draw_text_controlled_swap_barrier) {
    /* crz with its control below the target, a swap, a barrier; t fills a free column */
    hq_circuit *c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3];"
                          "crz(pi/4) q[2],q[0]; swap q[0],q[1]; barrier q[0],q[1]; t q[2];");
    HQ_REQUIRE(c);
    check_text(c, 0,
               "q_0: ─[RZ(π/4)]───×───░─\n"
               "          │       │   ░\n"
               "q_1: ─────┼───────×───░─\n"
               "          │\n"
               "q_2: ─────●──────[T]────\n");
    hq_circuit_free(c);
}

HQ_TEST(draw_text_condition_symbols_registers) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int x;
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "a", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "b", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "m", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "x", HQ_SYM_WEIGHT, &x));
    HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0},
                                          (hq_angle[]){hq_angle_sym(x, 0.5, M_PI)}));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 0, 0));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){1, 2}, NULL));
    HQ_REQUIRE_OK(hq_circuit_set_condition(c, 0, 1));
    check_text(c, 0,
               "  a: ─[RY(0.5*x+π)]──[M]─────\n"
               "                      ║\n"
               "b_0: ─────────────────╫───●──\n"
               "                      ║   │\n"
               "b_1: ─────────────────╫───⊕──\n"
               "                      ║   ║\n"
               "  m: ═════════════════╩═══■══\n"
               "                      0   =1\n");
    hq_circuit_free(c);
}

HQ_TEST(draw_text_wrapping) {
    hq_circuit *c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[1];"
                          "h q; h q; h q; h q; h q; h q; h q; h q; h q; h q;");
    HQ_REQUIRE(c);
    /* width 20: 20 - "q: " - 2 markers = 15 columns of text = three 5-wide [H] columns */
    check_text(c, 20,
               "q: ─[H]──[H]──[H]─»\n"
               "\n"
               "q: «─[H]──[H]──[H]─»\n"
               "\n"
               "q: «─[H]──[H]──[H]─»\n"
               "\n"
               "q: «─[H]─\n");
    /* every line within the width, for several widths and a wide circuit */
    hq_circuit *w;
    const char *qft = hq_test_shared("data/openqasm2_examples/generic/qft.qasm");
    HQ_REQUIRE_OK(hq_qasm_parse_file(qft, &w));
    for (int width = 20; width <= 120; width += 25) {
        hq_sbuf b = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_draw_text(w, width, &b));
        int cols = 0, maxc = 0;
        for (const char *p = b.p; *p; p++) {
            if (*p == '\n')
                maxc = HQ_MAX(maxc, cols), cols = 0;
            else if (((unsigned char)*p & 0xC0) != 0x80)
                cols++;
        }
        HQ_CHECKF(maxc <= width, "width %d: a line of %d columns", width, maxc);
        hq_sbuf_free(&b);
    }
    hq_circuit_free(w);
    hq_circuit_free(c);
}

HQ_TEST(draw_labels) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, (double[]){-3 * M_PI / 4}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RX, (int[]){0}, (double[]){0.1234567}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_U3, (int[]){0}, (double[]){M_PI / 2, 0, M_PI}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_SDG, (int[]){0}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_SX, (int[]){1}, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_CP, (int[]){0, 1}, (double[]){2 * M_PI / 3}));
    HQ_REQUIRE_OK(hq_circuit_add_reset(c, 1));
    HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_P, (int[]){0}, (double[]){-0.0}));
    const char *want[] = {"RZ(-3π/4)", "RX(0.1235)", "U3(π/2,0,π)", "S†",
                          "√X",        "P(2π/3)",    "|0>",         "P(0)"};
    for (int i = 0; i < 8; i++) {
        char buf[64];
        HQ_REQUIRE_OK(hq_draw_op_label(c, i, buf, sizeof buf));
        HQ_CHECK_STR(buf, want[i]);
    }
    char small[12];
    HQ_REQUIRE_OK(hq_draw_op_label(c, 2, small, sizeof small));
    HQ_CHECK_STR(small, "U3(π/2,…"); /* 11 bytes + NUL, cut on a code point boundary */
    HQ_CHECK_FAILS(hq_draw_op_label(c, 8, small, sizeof small), HQ_ERR_INVALID_ARG, "op 8");
    hq_circuit_free(c);
    /* IonQ gates in turns, a negated symbol */
    hq_circuit *d;
    HQ_REQUIRE_OK(hq_circuit_create(&d));
    int s;
    HQ_REQUIRE_OK(hq_circuit_add_qreg(d, "q", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(d, "th", HQ_SYM_WEIGHT, &s));
    HQ_REQUIRE_OK(hq_circuit_add_gate(d, HQ_GATE_GPI, (int[]){0}, (double[]){0.25}));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(d, HQ_GATE_RZ, (int[]){0}, (hq_angle[]){hq_angle_sym(s, -1, 0)}));
    HQ_REQUIRE_OK(hq_circuit_add_gate(d, HQ_GATE_MS, (int[]){0, 1}, (double[]){0, 0.5, 0.25}));
    char buf[64];
    HQ_REQUIRE_OK(hq_draw_op_label(d, 0, buf, sizeof buf));
    HQ_CHECK_STR(buf, "GPI(0.25)");
    HQ_REQUIRE_OK(hq_draw_op_label(d, 1, buf, sizeof buf));
    HQ_CHECK_STR(buf, "RZ(-th)");
    check_text(d, 0,
               "q_0: ─[GPI(0.25)]──[RZ(-th)]──[MS(0,0.5,0.25)₀]─\n"
               "                                      │\n"
               "q_1: ─────────────────────────[MS(0,0.5,0.25)₁]─\n");
    hq_circuit_free(d);
}

HQ_TEST(draw_errors) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_draw_text(c, 0, &b));
    HQ_CHECK_STR(b.p, "(empty circuit)\n");
    HQ_CHECK_FAILS(hq_draw_text(c, 5, &b), HQ_ERR_INVALID_ARG, "width 5");
    HQ_CHECK_FAILS(hq_draw_text(c, -1, &b), HQ_ERR_INVALID_ARG, "width -1");
    HQ_CHECK_FAILS(hq_draw_text(c, 80, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_draw_text(NULL, 80, &b), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_draw_svg(NULL, &b), HQ_ERR_MISUSE, "invalid handle");
    HQ_CHECK_FAILS(hq_draw_svg(c, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    /* qubits without operations: bare wires */
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 2, NULL));
    hq_sbuf_reset(&b);
    HQ_CHECK_OK(hq_draw_text(c, 0, &b));
    HQ_CHECK_STR(b.p, "q_0: ─\n\nq_1: ─\n");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}

HQ_TEST(draw_svg_well_formed) {
    const char *files[] = {"data/openqasm2_examples/generic/qft.qasm",
                           "data/openqasm2_examples/generic/adder.qasm",
                           "data/openqasm2_examples/generic/teleport.qasm"};
    for (size_t f = 0; f < HQ_ARRAY_LEN(files); f++) {
        hq_circuit *c;
        HQ_REQUIRE_OK(hq_qasm_parse_file(hq_test_shared(files[f]), &c));
        hq_sbuf b = HQ_SBUF_INIT, b2 = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_draw_svg(c, &b));
        HQ_REQUIRE_OK(hq_draw_svg(c, &b2));
        HQ_CHECK_STR(b.p, b2.p);
        const char *e = hq_test_xml_check(b.p);
        HQ_CHECKF(e == NULL, "%s: %s", files[f], e);
        HQ_CHECK(strncmp(b.p, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
        /* one <g class="op"> per operation */
        int64_t n = 0;
        for (const char *p = b.p; (p = strstr(p, "<g class=\"op\"")); p++) n++;
        HQ_CHECK_EQ_INT(n, hq_circuit_n_ops(c));
        HQ_CHECK(!strstr(b.p, "href") && !strstr(b.p, "<script"));
        hq_sbuf_free(&b);
        hq_sbuf_free(&b2);
        hq_circuit_free(c);
    }
    /* the checker itself rejects broken documents */
    HQ_CHECK(hq_test_xml_check("<svg><g></svg>") != NULL);
    HQ_CHECK(hq_test_xml_check("<svg a=1></svg>") != NULL);
    HQ_CHECK(hq_test_xml_check("<svg>a & b</svg>") != NULL);
    HQ_CHECK(hq_test_xml_check("<svg/><svg/>") != NULL);
    HQ_CHECK(hq_test_xml_check("<svg a=\"1\"><g/>&amp;</svg>") == NULL);
}

/* ==== command line ===================================================================== */

static int run_cli(const char *args, char *out, size_t cap) {
    char cmd[8192];
    if ((size_t)snprintf(cmd, sizeof cmd, "%.4000s %.4000s 2>&1", getenv("HQCNN_BIN"), args) >=
        sizeof cmd)
        return -1;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

HQ_TEST(draw_cli) {
    if (!getenv("HQCNN_BIN")) {
        fprintf(stderr, "    (HQCNN_BIN not set: run through make test)\n");
        return;
    }
    static char out[1 << 16];
    char args[4096];
    const char *src = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n"
                      "h q[0];\ncx q[0],q[1];\nmeasure q[0] -> c[0];\nmeasure q[1] -> c[1];\n";
    const char *in = hq_test_write_file("bell.qasm", src, strlen(src));
    const char *svg = hq_test_tmpfile("bell.svg");
    snprintf(args, sizeof args, "qasm draw '%s' --width 0 --svg '%s'", in, svg);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    HQ_CHECK_STR(out, "q_0: ─[H]──●──[M]──────\n"
                      "           │   ║\n"
                      "q_1: ──────⊕───╫───[M]─\n"
                      "               ║    ║\n"
                      "  c: ══════════╩════╩══\n"
                      "               0    1\n");
    char *data;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(svg, 0, &data, &len));
    HQ_CHECK(hq_test_xml_check(data) == NULL);
    hq_free(data);
    snprintf(args, sizeof args, "qasm draw '%s' --width 10", in);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 2);
    HQ_CHECK(strstr(out, "--width must be 0"));
    snprintf(args, sizeof args, "qasm draw '%s' --bogus", in);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 2);
    HQ_CHECK_EQ_INT(run_cli("qasm draw /nonexistent/x.qasm", out, sizeof out), 1);
}

/* Every allocation failure is HQ_ERR_NOMEM, and nothing leaks (ASan). */
HQ_TEST(draw_out_of_memory) {
    hq_circuit *c;
    HQ_REQUIRE_OK(
        hq_qasm_parse_file(hq_test_shared("data/openqasm2_examples/generic/teleport.qasm"), &c));
    for (int svg = 0; svg < 2; svg++) {
        int done = 0;
        for (long n = 1; n < 10000 && !done; n++) {
            hq_sbuf b = HQ_SBUF_INIT;
            hq_alloc_fail_after(n);
            hq_status st = svg ? hq_draw_svg(c, &b) : hq_draw_text(c, 40, &b);
            bool injected = hq_alloc_injected();
            hq_alloc_fail_after(0);
            if (st == HQ_OK)
                done = !injected;
            else
                HQ_CHECKF(st == HQ_ERR_NOMEM, "n = %ld: %s", n, hq_status_name(st));
            hq_sbuf_free(&b);
        }
        HQ_CHECK(done);
    }
    hq_circuit_free(c);
}
