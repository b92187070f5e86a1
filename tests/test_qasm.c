/*
 * tests/test_qasm.c — OpenQASM import/export (backends/qasm.h).
 *
 * References, none of them produced by this code:
 *   - qasmbench_small_ref/ and openqasm2_examples/ref_probs/: probabilities computed with
 *     QuTiP and cross-checked with a second simulator; our circuits are simulated with the
 *     naive reference simulator (backends/sv_ref.h) and compared in total variation;
 *   - the exactly known outputs listed in shared/data/README.md (Bernstein-Vazirani
 *     answers, adder, pea, rb, W state, qft, Deutsch);
 *   - the gate definitions of the reference qelib1.inc files (included from disk, honoured
 *     as written) against our built-in fast path, and explicit multi-controlled matrices
 *     against our c3x / c3sqrtx / c4x definitions;
 *   - round trips (write, read back) compared by simulation against the original circuit;
 *   - independently computed values of parameter expressions (C math).
 * Error paths check the status, a message substring and the reported line.
 */
#include <complex.h>
#include <dirent.h>
#include <sys/wait.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm.h"
#include "backends/sv_ref.h"
#include "core/rng.h"
#include "tests/hq_test.h"

int hq_fuzz_qasm(const uint8_t *data, size_t size);

/* ==== helpers ========================================================================== */

static hq_status parse_str(const char *src, hq_circuit **c) {
    return hq_qasm_parse_string(src, strlen(src), "t.qasm", NULL, c);
}

static hq_status parse_shared(const char *rel, bool lenient, hq_circuit **c) {
    hq_qasm_options o = {0};
    o.lenient = lenient;
    hq_log_level lv = hq_log_get_level();
    hq_log_set_level(HQ_LOG_ERROR); /* lenient-mode warnings are expected here */
    hq_status st = hq_qasm_parse_file_opt(hq_test_shared(rel), &o, c);
    hq_log_set_level(lv);
    return st;
}

/* State of the unitary part (measure and barrier ignored); caller frees. */
static hq_cplx *sim_state(const hq_circuit *c, const double *sym) {
    int n = hq_circuit_n_qubits(c);
    hq_cplx *s = hq_malloc(((size_t)1 << n) * sizeof *s);
    if (!s) return NULL;
    if (hq_ref_simulate(c, sym, true, s) != HQ_OK) {
        hq_free(s);
        return NULL;
    }
    return s;
}

/* max_i |a_i - e^{i phi} b_i| with the phase taken from the largest entry of b. */
__attribute__((unused)) static double dist_phase(const hq_cplx *a, const hq_cplx *b, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (cabs(b[i]) > cabs(b[best])) best = i;
    hq_cplx ph = cabs(b[best]) > 0 && cabs(a[best]) > 0 ? a[best] / b[best] : 1;
    ph /= cabs(ph);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, cabs(a[i] - ph * b[i]));
    return m;
}

/* Read a .probs reference file (format in shared/data/README.md) into a dense vector. */
static double *read_probs(const char *path, int *nq) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[512];
    double *p = NULL;
    *nq = -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!strncmp(line, "qubits ", 7)) {
            *nq = (int)strtol(line + 7, NULL, 10);
            if (*nq < 0 || *nq > 24) break;
            p = hq_calloc((size_t)1 << *nq, sizeof *p);
            if (!p) break;
            continue;
        }
        char *end;
        long long idx = strtoll(line, &end, 10);
        double v = strtod(end, NULL);
        if (p && idx >= 0 && idx < (1ll << *nq)) p[idx] = v;
    }
    fclose(f);
    return p;
}

static double tvd_state(const hq_cplx *s, const double *p, int nq) {
    double d = 0;
    for (int64_t i = 0; i < (1ll << nq); i++) d += fabs(creal(s[i] * conj(s[i])) - p[i]);
    return d / 2;
}

/* Distribution of the value of creg `reg` after measuring: the circuit's measure ops map
 * qubits to clbits (the last measurement of a clbit wins); returns P(value == v). */
static double creg_prob(const hq_circuit *c, const hq_cplx *s, int reg, uint64_t v) {
    int nq = hq_circuit_n_qubits(c), nc = hq_circuit_n_clbits(c);
    int *src = hq_malloc((size_t)(nc + 1) * sizeof *src);
    for (int k = 0; k < nc; k++) src[k] = -1;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++)
        if (ops[k].gate == HQ_GATE_MEASURE) src[ops[k].clbit] = ops[k].q[0];
    hq_reg r = hq_circuit_creg(c, reg);
    double p = 0;
    for (int64_t i = 0; i < (1ll << nq); i++) {
        uint64_t val = 0;
        for (int b = 0; b < r.size; b++) {
            int q = src[r.offset + b];
            if (q >= 0 && (i >> q & 1)) val |= 1ull << b;
        }
        if (val == v) p += creal(s[i] * conj(s[i]));
    }
    hq_free(src);
    return p;
}

static int list_dir(const char *dir, const char *suffix, char names[][256], int max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > sl && l < 256 && !strcmp(e->d_name + l - sl, suffix))
            snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    /* stable order */
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* ==== reference probabilities ========================================================== */

HQ_TEST(qasm_qasmbench_refs) {
    static char names[128][256];
    int n = list_dir(hq_test_shared("data/qasmbench_small_ref"), ".probs", names, 128);
    HQ_REQUIRE(n == 75);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        char rel[512], base[256];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(names[i]) - 6), names[i]);
        snprintf(rel, sizeof rel, "data/qasmbench_small/%s.qasm", base);
        hq_circuit *c;
        hq_status st = parse_shared(rel, true, &c);
        HQ_CHECKF(st == HQ_OK, "%s: %s", base, hq_last_error());
        if (st) continue;
        int nq;
        snprintf(rel, sizeof rel, "data/qasmbench_small_ref/%s", names[i]);
        double *p = read_probs(hq_test_shared(rel), &nq);
        HQ_CHECKF(p && nq == hq_circuit_n_qubits(c), "%s: %d qubits vs reference %d", base,
                  hq_circuit_n_qubits(c), nq);
        hq_cplx *s = p && nq == hq_circuit_n_qubits(c) ? sim_state(c, NULL) : NULL;
        if (s) {
            double d = tvd_state(s, p, nq);
            worst = fmax(worst, d);
            HQ_CHECKF(d <= 1e-10, "%s: total variation %.3g from the reference", base, d);
        } else {
            HQ_CHECKF(false, "%s: no simulation (%s)", base, hq_last_error());
        }
        hq_free(s);
        hq_free(p);
        hq_circuit_free(c);
    }
    HQ_CHECK(worst <= 1e-10);
}

HQ_TEST(qasm_openqasm2_refs) {
    static char names[32][256];
    int n = list_dir(hq_test_shared("data/openqasm2_examples/ref_probs"), ".probs", names, 32);
    HQ_REQUIRE(n == 13);
    for (int i = 0; i < n; i++) {
        char rel[600], base[256];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(names[i]) - 6), names[i]);
        char *sep = strstr(base, "__");
        HQ_REQUIRE(sep);
        *sep = '\0';
        snprintf(rel, sizeof rel, "data/openqasm2_examples/%s/%s.qasm", base, sep + 2);
        hq_circuit *c;
        hq_status st = parse_shared(rel, false, &c);
        HQ_CHECKF(st == HQ_OK, "%s: %s", rel, hq_last_error());
        if (st) continue;
        int nq;
        snprintf(rel, sizeof rel, "data/openqasm2_examples/ref_probs/%s", names[i]);
        double *p = read_probs(hq_test_shared(rel), &nq);
        hq_cplx *s = p && nq == hq_circuit_n_qubits(c) ? sim_state(c, NULL) : NULL;
        HQ_CHECKF(s != NULL, "%s: qubit count or simulation failed", names[i]);
        if (s) {
            double d = tvd_state(s, p, nq);
            HQ_CHECKF(d <= 1e-10, "%s: total variation %.3g from the reference", names[i], d);
        }
        hq_free(s);
        hq_free(p);
        hq_circuit_free(c);
    }
}

/* Every circuit of both data sets parses; QASMBench names carry the qubit count (_nN). */
HQ_TEST(qasm_parse_every_file) {
    static char names[128][256];
    int n = list_dir(hq_test_shared("data/qasmbench_small"), ".qasm", names, 128);
    HQ_REQUIRE(n >= 85);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "data/qasmbench_small/%.255s", names[i]);
        hq_circuit *c;
        hq_status st = parse_shared(rel, true, &c);
        HQ_CHECKF(st == HQ_OK, "%s: %s", names[i], hq_last_error());
        if (st) continue;
        const char *nn = strstr(names[i], "_n");
        if (nn) {
            int want = (int)strtol(nn + 2, NULL, 10);
            HQ_CHECKF(hq_circuit_n_qubits(c) == want, "%s: %d qubits", names[i],
                      hq_circuit_n_qubits(c));
            checked++;
        }
        HQ_CHECK(hq_circuit_n_ops(c) > 0);
        hq_circuit_free(c);
    }
    HQ_CHECK(checked >= 85);
    static const char *const dirs[] = {"generic", "ibmqx2", "sat",           "qft",
                                       "cc",      "bv",     "quantum_volume"};
    int total = 0;
    for (size_t d = 0; d < HQ_ARRAY_LEN(dirs); d++) {
        char dir[256];
        snprintf(dir, sizeof dir, "data/openqasm2_examples/%s", dirs[d]);
        int m = list_dir(hq_test_shared(dir), ".qasm", names, 128);
        HQ_CHECKF(m > 0, "no files in %s", dir);
        for (int i = 0; i < m; i++) {
            char rel[1024];
            snprintf(rel, sizeof rel, "%.255s/%.255s", dir, names[i]);
            hq_circuit *c;
            hq_status st = parse_shared(rel, false, &c);
            HQ_CHECKF(st == HQ_OK, "%s: %s", rel, hq_last_error());
            if (st) continue;
            /* qft/cc/bv/quantum_volume names carry the qubit count too */
            const char *nn = strstr(names[i], "_n");
            if (nn && d >= 3) {
                int want = (int)strtol(nn + 2, NULL, 10);
                HQ_CHECKF(hq_circuit_n_qubits(c) == want, "%s: %d qubits", rel,
                          hq_circuit_n_qubits(c));
            }
            total++;
            hq_circuit_free(c);
        }
    }
    HQ_CHECK(total >= 50);
}

HQ_TEST(qasm_invalid_examples) {
    hq_circuit *c = (hq_circuit *)1;
    HQ_CHECK_FAILS(parse_shared("data/openqasm2_examples/invalid/gate_no_found.qasm", false, &c),
                   HQ_ERR_PARSE, "gate_no_found.qasm:5:1: unknown gate 'w'");
    HQ_CHECK(c == NULL);
    HQ_CHECK_FAILS(
        parse_shared("data/openqasm2_examples/invalid/missing_semicolon.qasm", false, &c),
        HQ_ERR_PARSE, "missing_semicolon.qasm:3:13: expected ';' after 'OPENQASM 2.0'");
    /* the same files are invalid in lenient mode too */
    HQ_CHECK_FAILS(parse_shared("data/openqasm2_examples/invalid/gate_no_found.qasm", true, &c),
                   HQ_ERR_PARSE, ":5:1: unknown gate 'w'");
    /* the QASMBench defect, strict: a clear message with the way out */
    HQ_CHECK_FAILS(parse_shared("data/qasmbench_small/vqe_uccsd_n6.qasm", false, &c), HQ_ERR_PARSE,
                   "vqe_uccsd_n6.qasm:2286:9: undeclared register 'q' in measure");
    HQ_CHECK(strstr(hq_last_error(), "lenient") != NULL);
}

/* ==== exactly known outputs ============================================================ */

static hq_circuit *load(const char *rel) {
    hq_circuit *c = NULL;
    if (parse_shared(rel, false, &c) != HQ_OK) return NULL;
    return c;
}

HQ_TEST(qasm_bernstein_vazirani) {
    for (int n = 10; n <= 19; n++) {
        char rel[256], ref[256];
        snprintf(rel, sizeof rel, "data/openqasm2_examples/bv/bv_n%d.qasm", n);
        snprintf(ref, sizeof ref, "data/openqasm2_examples/bv/ref/bv_n%d.qasm.ref", n);
        hq_circuit *c = load(rel);
        HQ_REQUIRE(c);
        char *txt;
        size_t len;
        HQ_REQUIRE_OK(hq_file_read(hq_test_shared(ref), 0, &txt, &len));
        /* {"111111111": 1}: the answer string, creg bit 0 rightmost */
        char *q1 = strchr(txt, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
        HQ_REQUIRE(q1 && q2);
        uint64_t v = 0;
        int bits = (int)(q2 - q1 - 1);
        for (int b = 0; b < bits; b++)
            if (q1[1 + b] == '1') v |= 1ull << (bits - 1 - b);
        HQ_CHECK_EQ_INT(hq_circuit_creg(c, 0).size, bits);
        hq_cplx *s = sim_state(c, NULL);
        HQ_REQUIRE(s);
        HQ_CHECK_NEAR(creg_prob(c, s, 0, v), 1.0, 1e-9);
        hq_free(s);
        hq_free(txt);
        hq_circuit_free(c);
    }
}

HQ_TEST(qasm_known_outputs) {
    /* adder: a = 0001 + b = 1111 -> ans = 10000 (16), basis state 514 */
    hq_circuit *c = load("data/openqasm2_examples/generic/adder.qasm");
    HQ_REQUIRE(c);
    hq_cplx *s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    HQ_CHECK_NEAR(creg_prob(c, s, 0, 16), 1.0, 1e-12);
    HQ_CHECK_NEAR(cabs(s[514]), 1.0, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
    /* pea_3_pi_8: c = 3 with certainty */
    c = load("data/openqasm2_examples/generic/pea_3_pi_8.qasm");
    HQ_REQUIRE(c);
    s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    HQ_CHECK_NEAR(creg_prob(c, s, 0, 3), 1.0, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
    /* rb: back to |00> */
    c = load("data/openqasm2_examples/generic/rb.qasm");
    HQ_REQUIRE(c);
    s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    HQ_CHECK_NEAR(cabs(s[0]), 1.0, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
    /* W states: 1/3 on |001>, |010>, |100> (angles are rounded in the files) */
    static const char *const w[] = {"data/openqasm2_examples/generic/W-state.qasm",
                                    "data/openqasm2_examples/ibmqx2/W3test.qasm"};
    for (int k = 0; k < 2; k++) {
        c = load(w[k]);
        HQ_REQUIRE(c);
        s = sim_state(c, NULL);
        HQ_REQUIRE(s);
        for (int i = 1; i <= 4; i *= 2) HQ_CHECK_NEAR(creal(s[i] * conj(s[i])), 1.0 / 3, 1e-5);
        hq_free(s);
        hq_circuit_free(c);
    }
    /* qft: uniform over the 16 outcomes */
    c = load("data/openqasm2_examples/generic/qft.qasm");
    HQ_REQUIRE(c);
    s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    for (int i = 0; i < 16; i++) HQ_CHECK_NEAR(creal(s[i] * conj(s[i])), 1.0 / 16, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
    /* Deutsch: 0.5 / 0.5 on basis states 8 and 24 */
    c = load("data/openqasm2_examples/ibmqx2/Deutsch_Algorithm.qasm");
    HQ_REQUIRE(c);
    s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    HQ_CHECK_NEAR(creal(s[8] * conj(s[8])), 0.5, 1e-12);
    HQ_CHECK_NEAR(creal(s[24] * conj(s[24])), 0.5, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
}

/* Circuits with if/reset (no reference probabilities) parse, with their dynamic parts. */
HQ_TEST(qasm_dynamic_circuits) {
    static const char *const files[] = {"data/qasmbench_small/inverseqft_n4.qasm",
                                        "data/qasmbench_small/qec_sm_n5.qasm",
                                        "data/qasmbench_small/ipea_n2.qasm",
                                        "data/qasmbench_small/shor_n5.qasm",
                                        "data/openqasm2_examples/generic/ipea_3_pi_8.qasm",
                                        "data/openqasm2_examples/generic/teleport.qasm"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(files); i++) {
        hq_circuit *c;
        HQ_CHECK_OK(parse_shared(files[i], true, &c));
        if (!c) continue;
        HQ_CHECKF(hq_circuit_is_dynamic(c), "%s is not dynamic", files[i]);
        hq_circuit_free(c);
    }
    /* ipea_n2: the two resets and conditional phases are where the file has them */
    hq_circuit *c;
    HQ_REQUIRE_OK(parse_shared("data/qasmbench_small/ipea_n2.qasm", false, &c));
    int64_t conds = 0;
    const hq_op *ops = hq_circuit_ops(c);
    for (int64_t k = 0; k < hq_circuit_n_ops(c); k++) conds += ops[k].cond_creg >= 0;
    HQ_CHECK(hq_circuit_count_gate(c, HQ_GATE_RESET) >= 1);
    HQ_CHECK(conds >= 1);
    hq_circuit_free(c);
}

/* ==== error paths ====================================================================== */

typedef struct err_case {
    const char *src; /* whole source */
    int line;        /* expected line of the report */
    const char *msg; /* expected message substring */
    hq_status st;    /* expected status (0 = HQ_ERR_PARSE) */
} err_case;

#define H2 "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n" /* statements start on line 3 */
#define H3 "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"

static const err_case errors2[] = {
    {H2 "qreg q[1];\nfoo q[0];\n", 4, "4:1: unknown gate 'foo'", 0},
    {"OPENQASM 2.0;\nqreg q[1];\nh q[0];\n", 3,
     "unknown gate 'h' ---> HINT: add 'include \"qelib1.inc\";'", 0},
    {H2 "qreg q[2];\ncx q[0];\n", 4, "gate 'cx' acts on 2 qubits, 1 given", 0},
    {H2 "qreg q[2];\nccx q[0], q[1];\n", 4, "acts on 3 qubits, 2 given", 0},
    {H2 "qreg q[1];\nrz q[0];\n", 4, "gate 'rz' takes 1 parameter, 0 given", 0},
    {H2 "qreg q[1];\nh(0.1) q[0];\n", 4, "gate 'h' takes 0 parameters, 1 given", 0},
    {H2 "qreg q[1];\nrz() q[0];\n", 4, "takes 1 parameter, 0 given", 0},
    {H2 "qreg q[1];\nrz(1 2) q[0];\n", 4, "4:6: expected ',' or ')' in the parameter list", 0},
    {H2 "qreg q[1];\nh;\n", 4, "needs 1 qubit operand", 0},
    {H2 "qreg q[2];\nh q[2];\n", 4, "index 2 out of range for register 'q' of size 2", 0},
    {H2 "qreg q[2];\nh q[99999999999999999999];\n", 4, "out of range for register 'q'", 0},
    {H2 "qreg q[2];\nh r[0];\n", 4, "4:3: undeclared quantum register 'r'", 0},
    {H2 "qreg q[1];\nqreg q[2];\n", 4, "'q' is already declared (at t.qasm:3:6)", 0},
    {H2 "qreg q[1];\ncreg q[1];\n", 4, "'q' is already declared", 0},
    {H2 "qreg q[1]\nh q[0];\n", 3, "3:10: expected ';' after the register declaration", 0},
    {H2 "qreg q[1];\nh q[0]\nh q[0];\n", 4, "4:7: expected ';' after the gate call", 0},
    {"OPENQASM 4.0;\n", 1, "unsupported OpenQASM version 4.0", 0},
    {"OPENQASM 2.5;\n", 1, "unsupported OpenQASM version 2.5", 0},
    {"OPENQASM x;\n", 1, "expected a version number after OPENQASM", 0},
    {H2 "qreg q[1];\nOPENQASM 2.0;\n", 4, "must be the first statement", 0},
    {H2 "qreg a[2];\nqreg b[3];\ncx a, b;\n", 5, "5:7: registers of different sizes", 0},
    {H2 "qreg a[2];\ncreg c[3];\nmeasure a -> c;\n", 5,
     "measure: 'a' is 2 qubits but 'c' is 3 bits", 0},
    {H2 "qreg a[2];\ncreg c[3];\nmeasure a[0] -> c;\n", 5, "is 1 qubit but 'c' is 3 bits", 0},
    {H2 "qreg q[2];\nmeasure q[0] -> q[1];\n", 4, "'q' is a quantum register, not a classical", 0},
    {H2 "qreg q[2];\ncreg c[1];\nmeasure q[0] c[0];\n", 5, "expected '->' after the measured qubit",
     0},
    {H2 "qreg q[1];\ncreg c[1];\nh c[0];\n", 5,
     "'c' is a classical register, not a quantum register", 0},
    {H2 "qreg q[2];\ncx q[0], q[0];\n", 4, "4:10: qubit q[0] is used twice in one call of 'cx'", 0},
    {H2 "qreg q[2];\ncx q, q;\n", 4, "qubit q[0] is used twice", 0},
    {H2 "/* a comment\nthat never ends\n", 3, "3:1: unterminated /* comment", 0},
    {H2 "include \"qelib1.inc;\n", 3, "3:9: unterminated string", 0},
    {H2 "include \"nope.inc\";\n", 3, "include file 'nope.inc' not found", 0},
    {H2 "include \"\";\n", 3, "empty include file name", 0},
    {H2 "include qelib1;\n", 3, "expected a file name in double quotes", 0},
    {H2 "gate g a { g a; }\n", 3, "gate 'g' calls itself", 0},
    {H2 "gate g a { x a; }\ngate g a { y a; }\n", 4, "gate 'g' is already defined (at t.qasm:3:6)",
     0},
    {H2 "gate U(a, b, c) q { }\n", 3, "'U' is a reserved word", 0},
    {H2 "gate g(t) a { rz(s) a; }\n", 3, "unknown parameter 's' in the gate definition", 0},
    {H2 "gate g(t) a { rz(a) a; }\n", 3, "'a' is a qubit argument of the gate, not a parameter", 0},
    {H2 "gate g a { x b; }\n", 3, "'b' is not a qubit argument of this gate", 0},
    {H2 "gate g(t) a { x t; }\n", 3, "'t' is a parameter of the gate, not a qubit argument", 0},
    {H2 "gate g a { x a[0]; }\n", 3, "indexed qubits are not allowed inside a gate definition", 0},
    {H2 "gate g a, b { cx a, a; }\n", 3, "qubit argument 'a' used twice in one call", 0},
    {H2 "gate g a { measure a -> c[0]; }\n", 3, "'measure' is not allowed inside a gate definition",
     0},
    {H2 "gate g a { w a; }\n", 3, "unknown gate 'w' (gates must be defined before", 0},
    {H2 "gate g(t) { }\n", 3, "expected the gate's qubit arguments", 0},
    {H2 "gate g(a, a) q { }\n", 3, "'a' appears twice in the gate's parameters", 0},
    {H2 "gate g(a) a { }\n", 3, "'a' is used both as a parameter and as a qubit argument", 0},
    {H2 "gate g a {\n x a;\n", 3, "gate 'g': the body is not closed", 0},
    {H2 "gate g a { cx a; }\n", 3, "gate 'cx' acts on 2 qubits, 1 given", 0},
    {H2 "opaque o a;\nqreg q[1];\no q[0];\n", 5, "gate 'o' is opaque", 0},
    {H2 "opaque o a;\ngate g a { o a; }\n", 4, "gate 'o' is opaque", 0},
    {H2 "qreg q[1];\nif(d==1) x q[0];\n", 4, "if: undeclared classical register 'd'", 0},
    {H2 "qreg q[1];\nif(q==1) x q[0];\n", 4, "if: 'q' is not a classical register", 0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c==4) x q[0];\n", 5,
     "the value 4 does not fit in the 2-bit register 'c' (max 3)", 0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c=1) x q[0];\n", 5, "expected '==' in the condition", 0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c==1) barrier q;\n", 5, "a barrier cannot be conditional", 0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c==1) qreg r[1];\n", 5, "'qreg' cannot be the body of an if",
     0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c==1) if(c==1) x q[0];\n", 5,
     "'if' cannot be the body of an if", 0},
    {H2 "qreg q[1];\ncreg c[2];\nif(c[0]==1) x q[0];\n", 5,
     "conditions on single bits are not supported", 0},
    {H2 "qreg q[1];\nrz(theta) q[0];\n", 4, "4:4: unknown identifier 'theta' in the expression", 0},
    {H2 "qreg q[1];\nrz(1/0) q[0];\n", 4, "4:5: division by zero", 0},
    {H2 "qreg q[1];\nrz(sqrt(-1)) q[0];\n", 4, "sqrt() of the negative number", 0},
    {H2 "qreg q[1];\nrz(ln(0)) q[0];\n", 4, "ln() of 0, which is not positive", 0},
    {H2 "qreg q[1];\nrz(exp(1000)) q[0];\n", 4, "not finite", 0},
    {H2 "qreg q[1];\nrz(1e999) q[0];\n", 4, "number 1e999 is too large", 0},
    {H2 "qreg q[1];\nrz(q) q[0];\n", 4, "'q' is a register and cannot be used in an expression", 0},
    {H2 "qreg q[1];\nrz(sin 1) q[0];\n", 4, "expected '(' after the function 'sin'", 0},
    {H2 "qreg q[1];\nrz(+1) q[0];\n", 4, "expected a number, 'pi', a parameter or '('", 0},
    {H2 "qreg q[1];\nrz(arcsin(1)) q[0];\n", 4, "unknown identifier 'arcsin'", 0},
    {H2 "gate g(t) a { rz(1/(t-t)) a; }\nqreg q[1];\ng(1) q[0];\n", 5,
     "5:1: division by zero, in the parameters of a call inside gate 'g' (t.qasm:3:19)", 0},
    {H2 "qreg q[0];\n", 3, "register 'q' must have at least 1 bit", 0},
    {H2 "qreg pi[1];\n", 3, "'pi' is a reserved word", 0},
    {H2 "creg measure[1];\n", 3, "'measure' is a reserved word", 0},
    {H2 "qreg q[1];\nh $0;\n", 4, "physical qubits such as $0 are OpenQASM 3 only", 0},
    {H2 "qreg q[1];\nh q[0]; !\n", 4, "4:9: expected a statement, found '!'", 0},
    {H2 "qreg q[1];\nh q[0]; \xc3\xa9\n", 4, "4:9: invalid character", 0},
    {H2 "qreg q[1];\n;\n", 4, "expected a statement, found ';'", 0},
    {H2 "qreg q[1];\nh q[0];\n}\n", 5, "expected a statement, found '}'", 0},
    {H2 "qreg q[1];\nbarrier;\n", 4, "expected a qubit (NAME or NAME[i])", 0},
    {H2 "qreg q[2];\nreset q[0], q[1];\n", 4, "4:13: too many operands: reset takes 1", 0},
    {H2 "qreg q[3];\ncx q[0], q[1], q[2];\n", 4, "4:16: too many operands: gate 'cx' takes 2", 0},
    {H2 "opaque o a;\nopaque o a;\n", 4, "gate 'o' is already defined", 0},
    {H2 "qreg q[$1];\n", 3, "expected the register size", 0},
    {H2 "qreg q[1];\nmeasure q[0];\n", 4, "expected '->' after the measured qubit", 0},
};

static const err_case errors3[] = {
    {H3 "qubit[2] q;\nfor i in [0:1] { }\n", 4, "'for' is not supported by this OpenQASM 3 reader",
     0},
    {H3 "qubit[2] q;\nctrl @ x q[0], q[1];\n", 4, "gate modifiers ('ctrl @') are not supported", 0},
    {H3 "qubit[2] q;\ninv @ h q[0];\n", 4, "gate modifiers ('inv @')", 0},
    {H3 "qubit[2] q;\nmeasure q[0];\n", 4, "the result of measure must be stored", 0},
    {H3 "qubit[2] q;\nbit[2] c;\nc[0] = h q[0];\n", 5, "only measurement results can be assigned",
     0},
    {H3 "qubit[2] q;\nbit[2] c;\nc = measure q[0];\n", 5, "is 1 qubit but 'c' is 2 bits", 0},
    {H3 "qubit[2] q;\nbit[2] c;\nif (c[0] == 1) x q[0];\n", 5,
     "conditions on single bits are not supported", 0},
    {H3 "qubit[2] q;\nbit[2] c;\nif (c == 1) { x q[0];\n", 6, "expected '}' to close the if block",
     0},
    {H3 "qubit[2] q;\nbit[2] c;\nif (c == 1) { qubit r; }\n", 5,
     "'qubit' cannot be the body of an if", 0},
    {H3 "qubit[2] q;\nx $0;\n", 3,
     "qubit registers cannot be declared in a program that uses physical qubits (first $ at 4:3)",
     0},
    {H3 "x $0;\nx q[0];\n", 4, "undeclared quantum register 'q'", 0},
    {H3 "input float[64] a;\nqubit q;\nrz(a*a) q;\n", 5,
     "the product of two input parameters ('a' and 'a')", 0},
    {H3 "input float[64] a;\nqubit q;\nrz(sin(a)) q;\n", 5,
     "sin() of the input parameter 'a' is not an affine angle", 0},
    {H3 "input float[64] a;\nqubit q;\nrz(1/a) q;\n", 5,
     "division by an expression of the input parameter 'a'", 0},
    {H3 "input float[64] a;\nqubit q;\nrz(a**2) q;\n", 5, "a power of the input parameter 'a'", 0},
    {H3 "input int[32] n;\n", 3, "only 'input float[64] NAME;'", 0},
    {H3 "input float[64] a;\ninput float[64] a;\n", 4, "'a' is already declared", 0},
    {H3 "input float[64] a;\nqubit[1] a;\n", 4, "'a' is already declared", 0},
    {H3 "input float[64] a;\ngate g q { rz(a) q; }\n", 4,
     "unknown parameter 'a' in the gate definition", 0},
    {H3 "opaque o a;\n", 3, "'opaque' is OpenQASM 2 only", 0},
    {H3 "qubit q;\nc3x q, q, q, q;\n", 4,
     "unknown gate 'c3x' ---> HINT: add 'include \"qelib1.inc\";'", 0},
    {H3 "input float[64] a0;\ninput float[64] a1;\ninput float[64] a2;\ninput float[64] a3;\n"
        "input float[64] a4;\ninput float[64] a5;\ninput float[64] a6;\ninput float[64] a7;\n"
        "input float[64] a8;\nqubit q;\nrz(a0+a1+a2+a3+a4+a5+a6+a7+a8) q;\n",
     13, "an angle may depend on at most 8 input parameters", 0},
    {H3 "qubit q;\nx $1;\n", 3, "cannot be declared in a program that uses physical qubits", 0},
    {H3 "bit[2] c;\nx $;\n", 4, "expected a physical qubit number after '$'", 0},
    {H3 "const float x = 1;\n", 3, "'const' is not supported", 0},
    {H3 "qubit[2] q;\ndelay[100ns] q;\n", 4, "'delay' is not supported", 0},
    {H3 "qubit[1] input;\n", 3, "'input' is a reserved word", 0},
};

static void check_errors(const err_case *cases, size_t n, int version) {
    for (size_t i = 0; i < n; i++) {
        hq_qasm_options o = {0};
        o.version = version;
        hq_circuit *c = (hq_circuit *)1;
        hq_clear_error();
        hq_status st = hq_qasm_parse(cases[i].src, strlen(cases[i].src), "t.qasm", &o, &c);
        hq_status want = cases[i].st ? cases[i].st : HQ_ERR_PARSE;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t.qasm:%d:", cases[i].line);
        const char *m = hq_last_error();
        HQ_CHECKF(st == want, "case %zu (v%d): status %s, expected %s (%s)", i, version,
                  hq_status_name(st), hq_status_name(want), m);
        HQ_CHECKF(strncmp(m, prefix, strlen(prefix)) == 0, "case %zu (v%d): '%s' is not at %s", i,
                  version, m, prefix);
        HQ_CHECKF(strstr(m, cases[i].msg) != NULL, "case %zu (v%d): '%s' lacks '%s'", i, version, m,
                  cases[i].msg);
        HQ_CHECK(c == NULL);
    }
}

HQ_TEST(qasm_errors_v2) { check_errors(errors2, HQ_ARRAY_LEN(errors2), 2); }
HQ_TEST(qasm_errors_v3) { check_errors(errors3, HQ_ARRAY_LEN(errors3), 3); }

HQ_TEST(qasm_error_details) {
    hq_circuit *c;
    /* forced version against the header */
    hq_qasm_options o = {0};
    o.version = 2;
    const char *v3 = "OPENQASM 3.0;\nqubit q;\n";
    HQ_CHECK_FAILS(hq_qasm_parse(v3, strlen(v3), "t.qasm", &o, &c), HQ_ERR_PARSE,
                   "t.qasm:1:10: the file declares OpenQASM 3.0 but OpenQASM 2 was requested");
    /* NUL byte in the source */
    const char nul[] = "OPENQASM 2.0;\nqreg q[1];\0h q[0];\n";
    HQ_CHECK_FAILS(hq_qasm_parse_string(nul, sizeof nul - 1, "n.qasm", NULL, &c), HQ_ERR_PARSE,
                   "n.qasm:2:11: invalid character");
    /* an over-long numeric literal */
    char big[1200];
    int k = snprintf(big, sizeof big, H2 "qreg q[1];\nrz(");
    memset(big + k, '1', 600);
    snprintf(big + k + 600, sizeof big - (size_t)k - 600, ") q[0];\n");
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_PARSE, "t.qasm:4:4: numeric literal too long");
    /* errors inside an include name the include chain */
    const char *inc = hq_test_write_file("bad.inc", "gate g a {\n  foo a;\n}\n", 22);
    HQ_REQUIRE(inc);
    char src[256];
    snprintf(src, sizeof src, H2 "include \"bad.inc\";\n");
    HQ_CHECK_FAILS(hq_qasm_parse_string(src, strlen(src), "main.qasm", hq_test_tmpdir(), &c),
                   HQ_ERR_PARSE, "bad.inc:2:3: unknown gate 'foo'");
    HQ_CHECK(strstr(hq_last_error(), "(included from main.qasm:3)") != NULL);
    /* missing main file */
    HQ_CHECK_FAILS(hq_qasm_parse_file(hq_test_tmpfile("absent.qasm"), &c), HQ_ERR_NOT_FOUND,
                   "absent.qasm");
    HQ_CHECK(c == NULL);
}

HQ_TEST(qasm_api_errors) {
    hq_circuit *c;
    HQ_CHECK_FAILS(hq_qasm_parse_string("", 0, NULL, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "out is NULL");
    HQ_CHECK_FAILS(hq_qasm_parse_string(NULL, 3, NULL, NULL, &c), HQ_ERR_INVALID_ARG,
                   "src is NULL");
    HQ_CHECK_FAILS(hq_qasm_parse_file(NULL, &c), HQ_ERR_INVALID_ARG, "path is NULL");
    HQ_CHECK_FAILS(hq_qasm_parse_file("x", NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_qasm_options o = {0};
    o.version = 4;
    HQ_CHECK_FAILS(hq_qasm_parse("", 0, NULL, &o, &c), HQ_ERR_INVALID_ARG,
                   "options.version 4 is not 0 (detect), 2 or 3");
    o.version = 0;
    o.max_ops = -1;
    HQ_CHECK_FAILS(hq_qasm_parse("", 0, NULL, &o, &c), HQ_ERR_INVALID_ARG, "negative limit");
    HQ_CHECK_FAILS(hq_qasm_parse_file_opt("x", &o, &c), HQ_ERR_INVALID_ARG, "negative limit");
    /* an empty source is a valid (OpenQASM 3) program with nothing in it */
    HQ_REQUIRE_OK(hq_qasm_parse_string("", 0, NULL, NULL, &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_qubits(c), 0);
    hq_circuit_free(c);
    /* the writer */
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_FAILS(hq_qasm_write(NULL, 2, 0, &b), HQ_ERR_MISUSE, "invalid handle");
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_CHECK_FAILS(hq_qasm_write(c, 2, 0, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_CHECK_FAILS(hq_qasm_write(c, 4, 0, &b), HQ_ERR_INVALID_ARG, "version 4 is not supported");
    HQ_CHECK_FAILS(hq_qasm_write(c, 3, 0x80, &b), HQ_ERR_INVALID_ARG, "unknown flags 0x80");
    HQ_CHECK_FAILS(hq_qasm_write(c, 2, HQ_QASM_PHYSICAL, &b), HQ_ERR_INVALID_ARG,
                   "needs OpenQASM 3");
    int s;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "theta", HQ_SYM_WEIGHT, &s));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 1, NULL));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, (hq_angle[]){hq_angle_sym(s, 1, 0)}));
    HQ_CHECK_FAILS(hq_qasm_write(c, 2, 0, &b), HQ_ERR_UNSUPPORTED, "HINT: bind them first");
    HQ_CHECK(b.len == 0);
    hq_circuit_free(c);
    /* a declared symbol that no angle uses still makes a template (found by fuzzing: the
     * OpenQASM 2 text carried an 'input' line) */
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "unused", HQ_SYM_INPUT, NULL));
    HQ_CHECK_FAILS(hq_qasm_write(c, 2, 0, &b), HQ_ERR_UNSUPPORTED, "has 1 symbol(s)");
    HQ_CHECK_OK(hq_qasm_write(c, 3, 0, &b));
    HQ_CHECK(strstr(b.p, "input float[64] unused;") != NULL);
    hq_sbuf_reset(&b);
    hq_circuit_free(c);
    /* names the output cannot carry */
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "measure", 1, NULL));
    HQ_CHECK_FAILS(hq_qasm_write(c, 3, 0, &b), HQ_ERR_UNSUPPORTED,
                   "classical register 'measure' is named like an OpenQASM keyword");
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 1, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "c", HQ_SYM_INPUT, NULL));
    HQ_CHECK_FAILS(hq_qasm_write(c, 3, 0, &b), HQ_ERR_UNSUPPORTED, "symbol 'c' collides");
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "rx", HQ_SYM_INPUT, NULL));
    HQ_CHECK_FAILS(hq_qasm_write(c, 3, 0, &b), HQ_ERR_UNSUPPORTED, "symbol 'rx' collides");
    hq_circuit_free(c);
    hq_sbuf_free(&b);
}

/* ==== built-in libraries =============================================================== */

/* Unitary (2^n x 2^n) of a source; NULL on failure. */
static hq_cplx *src_unitary(const char *src, int *n) {
    hq_circuit *c;
    if (hq_qasm_parse_string(src, strlen(src), "u.qasm", NULL, &c) != HQ_OK) return NULL;
    *n = hq_circuit_n_qubits(c);
    int64_t d = 1ll << *n;
    hq_cplx *u = hq_malloc((size_t)(d * d) * sizeof *u);
    if (u && hq_ref_unitary(c, NULL, u) != HQ_OK) HQ_FREE(u);
    hq_circuit_free(c);
    return u;
}

typedef struct libgate {
    const char *name;
    int np, nq;
} libgate;

static const libgate qelib1_gates[] = {
    {"u3", 3, 1},      {"u2", 2, 1},    {"u1", 1, 1},   {"cx", 0, 2},   {"id", 0, 1},
    {"u0", 1, 1},      {"u", 3, 1},     {"p", 1, 1},    {"x", 0, 1},    {"y", 0, 1},
    {"z", 0, 1},       {"h", 0, 1},     {"s", 0, 1},    {"sdg", 0, 1},  {"t", 0, 1},
    {"tdg", 0, 1},     {"rx", 1, 1},    {"ry", 1, 1},   {"rz", 1, 1},   {"sx", 0, 1},
    {"sxdg", 0, 1},    {"cz", 0, 2},    {"cy", 0, 2},   {"swap", 0, 2}, {"ch", 0, 2},
    {"ccx", 0, 3},     {"cswap", 0, 3}, {"crx", 1, 2},  {"cry", 1, 2},  {"crz", 1, 2},
    {"cu1", 1, 2},     {"cp", 1, 2},    {"cu3", 3, 2},  {"csx", 0, 2},  {"cu", 4, 2},
    {"rxx", 1, 2},     {"rzz", 1, 2},   {"rccx", 0, 3}, {"rc3x", 0, 4}, {"c3x", 0, 4},
    {"c3sqrtx", 0, 4}, {"c4x", 0, 5},
};

/* "G(p...) q[n-1],...,q[0];" with fixed pseudo-random parameters. */
static void gate_call(char *buf, size_t cap, const libgate *g) {
    static const double pv[4] = {0.7312, -1.2345, 2.0571, 0.4117};
    size_t k = (size_t)snprintf(buf, cap, "qreg q[%d];\n%s", g->nq, g->name);
    for (int i = 0; i < g->np; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%.17g", i ? ", " : "(", pv[i]);
    if (g->np) k += (size_t)snprintf(buf + k, cap - k, ")");
    for (int i = 0; i < g->nq; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%sq[%d]", i ? ", " : " ", g->nq - 1 - i);
    snprintf(buf + k, cap - k, ";\n");
}

static bool file_defines(const char *text, const char *name) {
    char pat[64];
    snprintf(pat, sizeof pat, "gate %s", name);
    for (const char *p = strstr(text, pat); p; p = strstr(p + 1, pat)) {
        char nx = p[strlen(pat)];
        if (nx == ' ' || nx == '(' || nx == '\n') return true;
    }
    return false;
}

/* Our built-in qelib1 (fast path and definitions) against the definitions of the reference
 * include files, read from disk and honoured as written. */
HQ_TEST(qasm_builtin_qelib1_matches_files) {
    static const char *const files[] = {"data/qasmbench_small/qelib1.inc",
                                        "data/qasmbench_small/qiskit_qelib1.inc",
                                        "data/openqasm2_examples/generic/qelib1.inc"};
    for (size_t f = 0; f < HQ_ARRAY_LEN(files); f++) {
        char *text;
        size_t len;
        char path[1024];
        HQ_REQUIRE(realpath(hq_test_shared(files[f]), path));
        HQ_REQUIRE_OK(hq_file_read(path, 0, &text, &len));
        int compared = 0;
        for (size_t i = 0; i < HQ_ARRAY_LEN(qelib1_gates); i++) {
            const libgate *g = &qelib1_gates[i];
            if (!file_defines(text, g->name)) continue;
            /* Known defects of the distributed files (see qasm_multicontrolled_exact and
             * docs/qasm.md): their c3sqrtx is C3-SXdg and their c4x no 4-controlled X; the
             * original OpenQASM 2.0 qelib1 has the older cu3 without the control phase. */
            if (!strcmp(g->name, "c4x") || !strcmp(g->name, "c3sqrtx")) continue;
            if (!strcmp(g->name, "cu3") && strstr(files[f], "openqasm2_examples")) continue;
            char call[256], a[2048], b[2048];
            gate_call(call, sizeof call, g);
            snprintf(a, sizeof a, "OPENQASM 2.0;\ninclude \"%s\";\n%s", path, call);
            snprintf(b, sizeof b, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n%s", call);
            int na = 0, nb = 0;
            hq_cplx *ua = src_unitary(a, &na), *ub = src_unitary(b, &nb);
            HQ_CHECKF(ua && ub && na == nb, "%s / %s: %s", files[f], g->name, hq_last_error());
            if (ua && ub && na == nb) {
                double d = dist_phase(ua, ub, (1ll << na) * (1ll << na));
                HQ_CHECKF(d < 1e-12, "%s: gate %s differs from the built-in by %.3g", files[f],
                          g->name, d);
            }
            hq_free(ua);
            hq_free(ub);
            compared++;
        }
        HQ_CHECKF(compared >= 20, "%s: only %d gates compared", files[f], compared);
        hq_free(text);
    }
}

/* Explicit multi-controlled matrices (operand j = bit j; controls first). */
static void mcx_matrix(int nctrl, const hq_cplx *u2, hq_cplx *m) {
    int n = nctrl + 1;
    int64_t d = 1ll << n, cm = (1ll << nctrl) - 1;
    memset(m, 0, (size_t)(d * d) * sizeof *m);
    for (int64_t col = 0; col < d; col++) {
        if ((col & cm) != cm) {
            m[col * d + col] = 1;
            continue;
        }
        int tb = (int)(col >> nctrl & 1);
        for (int r = 0; r < 2; r++) m[(cm | ((int64_t)r << nctrl)) * d + col] = u2[r * 2 + tb];
    }
}

HQ_TEST(qasm_multicontrolled_exact) {
    static const hq_cplx X[4] = {0, 1, 1, 0};
    static const hq_cplx SX[4] = {0.5 + 0.5 * I, 0.5 - 0.5 * I, 0.5 - 0.5 * I, 0.5 + 0.5 * I};
    static const struct {
        const char *src;
        int nctrl;
        const hq_cplx *u;
    } cases[] = {
        {H2 "qreg q[3];\nccx q[0], q[1], q[2];\n", 2, X},
        {H2 "qreg q[4];\nc3x q[0], q[1], q[2], q[3];\n", 3, X},
        {H2 "qreg q[4];\nc3sqrtx q[0], q[1], q[2], q[3];\n", 3, SX},
        {H2 "qreg q[5];\nc4x q[0], q[1], q[2], q[3], q[4];\n", 4, X},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        int n;
        hq_cplx *u = src_unitary(cases[i].src, &n);
        HQ_REQUIRE(u);
        int64_t d = 1ll << n;
        hq_cplx *m = hq_malloc((size_t)(d * d) * sizeof *m);
        mcx_matrix(cases[i].nctrl, cases[i].u, m);
        HQ_CHECKF(dist_phase(u, m, d * d) < 1e-12, "case %zu: not the multi-controlled gate", i);
        hq_free(m);
        hq_free(u);
    }
    /* rccx equals ccx up to relative phases: same |entries| */
    int n;
    hq_cplx *u = src_unitary(H2 "qreg q[3];\nrccx q[0], q[1], q[2];\n", &n);
    HQ_REQUIRE(u);
    hq_cplx m[64];
    mcx_matrix(2, X, m);
    double e = 0;
    for (int i = 0; i < 64; i++) e = fmax(e, fabs(cabs(u[i]) - cabs(m[i])));
    HQ_CHECK(e < 1e-12);
    hq_free(u);
    /* the distributed qelib1.inc files define c3sqrtx as C3-SXdg and a c4x that is no
     * 4-controlled X; included from disk they are honoured as written */
    static const hq_cplx SXDG[4] = {0.5 - 0.5 * I, 0.5 + 0.5 * I, 0.5 + 0.5 * I, 0.5 - 0.5 * I};
    char path[1024], src[1400];
    HQ_REQUIRE(realpath(hq_test_shared("data/qasmbench_small/qelib1.inc"), path));
    snprintf(src, sizeof src,
             "OPENQASM 2.0;\ninclude \"%s\";\nqreg q[4];\nc3sqrtx q[0], q[1], q[2], q[3];\n", path);
    u = src_unitary(src, &n);
    HQ_REQUIRE(u);
    hq_cplx m4[256];
    mcx_matrix(3, SXDG, m4);
    HQ_CHECK(dist_phase(u, m4, 256) < 1e-12);
    hq_free(u);
    snprintf(src, sizeof src,
             "OPENQASM 2.0;\ninclude \"%s\";\nqreg q[5];\nc4x q[0], q[1], q[2], q[3], q[4];\n",
             path);
    u = src_unitary(src, &n);
    HQ_REQUIRE(u);
    hq_cplx *m5 = hq_malloc(1024 * sizeof *m5);
    mcx_matrix(4, X, m5);
    HQ_CHECK(dist_phase(u, m5, 1024) > 0.1);
    hq_free(m5);
    hq_free(u);
}

/* small_qelib1.inc defines cu3 without the control phase: the file is honoured. */
HQ_TEST(qasm_small_qelib1_honoured) {
    char path[1024], a[1600];
    HQ_REQUIRE(realpath(hq_test_shared("data/qasmbench_small/small_qelib1.inc"), path));
    snprintf(a, sizeof a,
             "OPENQASM 2.0;\ninclude \"%s\";\nqreg q[2];\ncu3(0.3, 0.9, -0.4) q[0], q[1];\n", path);
    const char *b = H2 "qreg q[2];\ncu3(0.3, 0.9, -0.4) q[0], q[1];\n";
    const char *inl = H2 "qreg q[2];\nu1((-0.4-0.9)/2) q[1];\ncx q[0],q[1];\n"
                         "u3(-0.3/2,0,-(0.9+-0.4)/2) q[1];\ncx q[0],q[1];\nu3(0.3/2,0.9,0) q[1];\n";
    int n1, n2, n3;
    hq_cplx *ua = src_unitary(a, &n1), *ub = src_unitary(b, &n2), *ui = src_unitary(inl, &n3);
    HQ_REQUIRE(ua && ub && ui);
    HQ_CHECK(dist_phase(ua, ui, 16) < 1e-12);
    HQ_CHECK(dist_phase(ua, ub, 16) > 1e-3);
    hq_free(ua);
    hq_free(ub);
    hq_free(ui);
    /* it lacks swap: using it is an error that points at the call */
    snprintf(a, sizeof a, "OPENQASM 2.0;\ninclude \"%s\";\nqreg q[2];\nswap q[0], q[1];\n", path);
    hq_circuit *c;
    HQ_CHECK_FAILS(parse_str(a, &c), HQ_ERR_PARSE, "t.qasm:4:1: unknown gate 'swap'");
}

/* ==== language features ================================================================ */

static double angle0(const char *expr) {
    char src[512];
    snprintf(src, sizeof src, H2 "qreg q[1];\nrz(%s) q[0];\n", expr);
    hq_circuit *c;
    if (parse_str(src, &c) != HQ_OK) return NAN;
    double v = hq_circuit_angle(c, hq_circuit_ops(c)[0].p[0]).c;
    hq_circuit_free(c);
    return v;
}

HQ_TEST(qasm_expressions) {
    static const struct {
        const char *e;
        double v;
    } cases[] = {
        {"pi/2", M_PI / 2}, {"-pi", -M_PI},           {"2^3^2", 512},    {"-2^2", -4},
        {"2^-1", 0.5},      {"1e-3", 1e-3},           {".5", 0.5},       {"5.", 5},
        {"1.5E+2", 150},    {"2*sin(pi/6)", 1.0},     {"cos(0)", 1},     {"tan(pi/4)", 1},
        {"exp(1)", M_E},    {"ln(exp(2))", 2},        {"sqrt(2)^2", 2},  {"((1+2)*3-4)/5", 1},
        {"pi*-1", -M_PI},   {"3*pi/4", 3 * M_PI / 4}, {"1 - 2 - 3", -4}, {"8/2/2", 2},
        {"--1", 1},         {"0.1+0.2", 0.1 + 0.2},   {"10", 10},        {"7e0", 7},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        double v = angle0(cases[i].e);
        HQ_CHECKF(fabs(v - cases[i].v) <= 1e-14 * fmax(1, fabs(cases[i].v)),
                  "%s = %.17g, want %.17g", cases[i].e, v, cases[i].v);
    }
    /* OpenQASM 3: ** power, unary plus, tau, euler, unicode constants, arc functions */
    const char *src = H3 "qubit q;\nrz(2**3) q;\nrz(+1) q;\nrz(tau) q;\nrz(euler) q;\n"
                         "rz(\xcf\x80/2) q;\nrz(\xcf\x84) q;\nrz(arcsin(1)) q;\nrz(arccos(1)) q;\n"
                         "rz(arctan(1)) q;\nrz(\xe2\x84\xaf) q;\n";
    hq_circuit *c;
    HQ_REQUIRE_OK(parse_str(src, &c));
    const double want[] = {8, 1, 2 * M_PI, M_E, M_PI / 2, 2 * M_PI, M_PI / 2, 0, M_PI / 4, M_E};
    HQ_REQUIRE(hq_circuit_n_ops(c) == (int64_t)HQ_ARRAY_LEN(want));
    for (size_t i = 0; i < HQ_ARRAY_LEN(want); i++)
        HQ_CHECK_NEAR(hq_circuit_angle(c, hq_circuit_ops(c)[i].p[0]).c, want[i], 1e-15);
    hq_circuit_free(c);
}

/* User gates with parameters, nested, compared with the same circuit built by hand. */
HQ_TEST(qasm_user_gates) {
    const char *src =
        H2 "gate rot(a, b) q { rz(a) q; ry(b / 2) q; }\n"
           "gate two(t) q, r { rot(t, 2*t) q; cx q, r; rot(-t, t^2) r; barrier q, r; }\n"
           "gate outer(t, s) a, b, c { two(t + s) c, a; U(t, s, 0) b; CX b, a; }\n"
           "qreg x[2];\nqreg y[1];\nouter(0.3, -0.7) x[1], y[0], x[0];\n";
    hq_circuit *c, *ref;
    HQ_REQUIRE_OK(parse_str(src, &c));
    HQ_REQUIRE_OK(hq_circuit_create(&ref));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(ref, "x", 2, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(ref, "y", 1, NULL));
    double t = 0.3 + -0.7;
    /* outer: a = x[1] (1), b = y[0] (2), c = x[0] (0); two(t+s) c, a -> q = 0, r = 1 */
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_RZ, (int[]){0}, (double[]){t}));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_RY, (int[]){0}, (double[]){2 * t / 2}));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_CX, (int[]){0, 1}, NULL));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_RZ, (int[]){1}, (double[]){-t}));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_RY, (int[]){1}, (double[]){pow(t, 2) / 2}));
    HQ_CHECK_OK(hq_circuit_add_barrier(ref, (int[]){0, 1}, 2));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_U, (int[]){2}, (double[]){0.3, -0.7, 0}));
    HQ_CHECK_OK(hq_circuit_add_gate(ref, HQ_GATE_CX, (int[]){2, 1}, NULL));
    hq_sbuf a = HQ_SBUF_INIT, b = HQ_SBUF_INIT;
    HQ_CHECK_OK(hq_circuit_canonical(c, &a));
    HQ_CHECK_OK(hq_circuit_canonical(ref, &b));
    HQ_CHECK_STR(a.p, b.p);
    hq_sbuf_free(&a);
    hq_sbuf_free(&b);
    hq_circuit_free(c);
    hq_circuit_free(ref);
    /* a user definition replaces a built-in qelib1 name (pea_3_pi_8 redefines cu) */
    HQ_REQUIRE_OK(parse_str(H2 "gate cu c, t { cx c, t; }\nqreg q[2];\ncu q[0], q[1];\n", &c));
    HQ_CHECK_EQ_INT(hq_circuit_ops(c)[0].gate, HQ_GATE_CX);
    hq_circuit_free(c);
    /* ... also before the include; qelib1 twice is harmless; opaque declarations are fine */
    HQ_REQUIRE_OK(
        parse_str("OPENQASM 2.0;\ngate h a { U(0, 0, 0) a; }\ninclude \"qelib1.inc\";\n"
                  "include \"qelib1.inc\";\nopaque mystery(t) a, b;\nqreg q[1];\nh q[0];\n",
                  &c));
    HQ_CHECK_EQ_INT(hq_circuit_ops(c)[0].gate, HQ_GATE_U);
    hq_circuit_free(c);
}

HQ_TEST(qasm_broadcast) {
    const char *src = H2 "qreg a[3];\nqreg b[3];\ncreg c[3];\nh a;\ncx a, b;\ncx a[0], b;\n"
                         "measure b -> c;\nreset a;\nbarrier a, b[1], a[0];\nif(c==5) x a;\n"
                         "measure a[2] -> c[0];\n";
    hq_circuit *c;
    HQ_REQUIRE_OK(parse_str(src, &c));
    const hq_op *o = hq_circuit_ops(c);
    HQ_REQUIRE(hq_circuit_n_ops(c) == 3 + 3 + 3 + 3 + 3 + 1 + 3 + 1);
    for (int i = 0; i < 3; i++) {
        HQ_CHECK(o[i].gate == HQ_GATE_H && o[i].q[0] == i);
        HQ_CHECK(o[3 + i].gate == HQ_GATE_CX && o[3 + i].q[0] == i && o[3 + i].q[1] == 3 + i);
        HQ_CHECK(o[6 + i].gate == HQ_GATE_CX && o[6 + i].q[0] == 0 && o[6 + i].q[1] == 3 + i);
        HQ_CHECK(o[9 + i].gate == HQ_GATE_MEASURE && o[9 + i].q[0] == 3 + i && o[9 + i].clbit == i);
        HQ_CHECK(o[12 + i].gate == HQ_GATE_RESET && o[12 + i].q[0] == i);
        HQ_CHECK(o[16 + i].gate == HQ_GATE_X && o[16 + i].cond_creg == 0 &&
                 o[16 + i].cond_val == 5);
    }
    /* barrier: the listed qubits once each, in order */
    HQ_CHECK(o[15].gate == HQ_GATE_BARRIER && o[15].nq == 4);
    int want[4] = {0, 1, 2, 4};
    for (int i = 0; i < 4; i++) HQ_CHECK_EQ_INT(hq_op_qubit(c, &o[15], i), want[i]);
    HQ_CHECK(o[19].gate == HQ_GATE_MEASURE && o[19].q[0] == 2 && o[19].clbit == 0);
    hq_circuit_free(c);
}

/* The OpenQASM 3 subset: what IBM Runtime and the local emulator exchange. */
HQ_TEST(qasm_qasm3_import) {
    /* QPU_APIS.md 2.2: an ISA pub (physical qubits, ecr/cz natives, measurements) */
    const char *isa = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nbit[4] c;\n"
                      "rz(1.5707963267948966) $0;\nsx $0;\ncz $0, $1;\necr $2, $3;\nx $1;\n"
                      "barrier $0, $1;\nc[0] = measure $0;\nc[1] = measure $1;\n"
                      "c[2] = measure $2;\nc[3] = measure $3;\n";
    hq_circuit *c;
    HQ_REQUIRE_OK(parse_str(isa, &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_qubits(c), 4);
    HQ_CHECK_EQ_INT(hq_circuit_n_clbits(c), 4);
    HQ_CHECK_EQ_INT(hq_circuit_count_gate(c, HQ_GATE_ECR), 1);
    HQ_CHECK_EQ_INT(hq_circuit_count_gate(c, HQ_GATE_MEASURE), 4);
    hq_circuit_free(c);
    /* parameters, declarations with initialisers, blocks, aliases, annotations, pragmas */
    const char *p = "// header comment\nOPENQASM 3.0;\ninclude \"stdgates.inc\";\n"
                    "#pragma braket verbatim\ninput float[64] theta;\ninput angle[32] phi;\n"
                    "input float beta;\nqubit[2] q;\nqubit r;\nbit[2] c;\n"
                    "gate mine(a) x, y { cphase(a / 2) x, y; gphase(a); phase(-a) y; }\n"
                    "@an annotation\nh q[0];\nmine(2*theta + 1) q[0], r;\nrx(theta - phi/2) q[1];\n"
                    "CX q[0], q[1];\nU(beta, 0, pi) r;\ngphase(0.1);\nc = measure q;\n"
                    "if (c == 2) { x r; reset q[0]; c[0] = measure r; }\nif (c == 1) z r;\n"
                    "bit b = measure r;\nmeasure q[1] -> c[1];\nbarrier;\n";
    HQ_REQUIRE_OK(parse_str(p, &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_symbols(c), 3);
    HQ_CHECK_STR(hq_circuit_symbol_name(c, 0), "theta");
    HQ_CHECK(hq_circuit_symbol_kind(c, 0) == HQ_SYM_INPUT);
    HQ_CHECK_EQ_INT(hq_circuit_n_qubits(c), 3);
    HQ_CHECK_EQ_INT(hq_circuit_n_clbits(c), 3);
    const hq_op *o = hq_circuit_ops(c);
    /* mine(2*theta + 1): cp((2 theta + 1)/2) then p(-(2 theta + 1)) */
    HQ_REQUIRE(o[1].gate == HQ_GATE_CP && o[2].gate == HQ_GATE_P);
    hq_angle a1 = hq_circuit_angle(c, o[1].p[0]), a2 = hq_circuit_angle(c, o[2].p[0]);
    HQ_CHECK(a1.n == 1 && a1.sym[0] == 0 && a1.coef[0] == 1 && a1.c == 0.5);
    HQ_CHECK(a2.n == 1 && a2.coef[0] == -2 && a2.c == -1);
    hq_angle a3 = hq_circuit_angle(c, o[3].p[0]); /* theta - phi/2 */
    HQ_CHECK(a3.n == 2 && a3.coef[0] == 1 && a3.coef[1] == -0.5 && a3.c == 0);
    HQ_CHECK(o[4].gate == HQ_GATE_CX && o[5].gate == HQ_GATE_U);
    HQ_CHECK(o[6].gate == HQ_GATE_MEASURE && o[7].gate == HQ_GATE_MEASURE);
    HQ_CHECK(o[8].gate == HQ_GATE_X && o[8].cond_val == 2 && o[9].gate == HQ_GATE_RESET &&
             o[9].cond_creg == 0 && o[10].gate == HQ_GATE_MEASURE && o[10].cond_creg == 0);
    HQ_CHECK(o[11].gate == HQ_GATE_Z && o[11].cond_val == 1);
    HQ_CHECK(o[12].gate == HQ_GATE_MEASURE && o[12].clbit == 2);
    HQ_CHECK(o[14].gate == HQ_GATE_BARRIER && o[14].nq == 3);
    hq_circuit_free(c);
    /* a native gate first met inside a definition (found by fuzzing: it once took the
     * definition's own slot and the expansion recursed forever) */
    HQ_REQUIRE_OK(parse_str("OPENQASM 3.0;\ngate g a { x a; ecr a, a2; }\n", &c) == HQ_ERR_PARSE
                      ? HQ_OK
                      : HQ_ERR_INTERNAL);
    HQ_REQUIRE_OK(parse_str("OPENQASM 3.0;\ngate g a, b { x a; ecr a, b; }\nqubit[2] q;\n"
                            "g q[0], q[1];\n",
                            &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(c), 2);
    HQ_CHECK(hq_circuit_ops(c)[0].gate == HQ_GATE_X && hq_circuit_ops(c)[1].gate == HQ_GATE_ECR);
    hq_circuit_free(c);
    /* a file without a version statement is OpenQASM 3 */
    HQ_REQUIRE_OK(parse_str("qubit q;\nh q;\n", &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(c), 1);
    hq_circuit_free(c);
}

HQ_TEST(qasm_includes) {
    /* a relative include is read from the including file's directory */
    const char *dir = hq_test_tmpdir();
    char sub[1024], path[1100];
    snprintf(sub, sizeof sub, "%s/lib", dir);
    HQ_REQUIRE_OK(hq_mkdir_p(sub, 0755));
    snprintf(path, sizeof path, "%s/lib/a.inc", dir);
    const char *a = "include \"b.inc\";\ngate ga q { gb q; x q; }\n";
    HQ_REQUIRE_OK(hq_file_write_atomic(path, a, strlen(a)));
    snprintf(path, sizeof path, "%s/lib/b.inc", dir);
    const char *b = "gate gb q { h q; }\n";
    HQ_REQUIRE_OK(hq_file_write_atomic(path, b, strlen(b)));
    const char *m = H2 "include \"lib/a.inc\";\nqreg q[1];\nga q[0];\n";
    const char *mp = hq_test_write_file("main.qasm", m, strlen(m));
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_qasm_parse_file(mp, &c));
    HQ_CHECK_EQ_INT(hq_circuit_n_ops(c), 2);
    HQ_CHECK_EQ_INT(hq_circuit_ops(c)[0].gate, HQ_GATE_H);
    hq_circuit_free(c);
    /* the same through parse_string with include_dir */
    HQ_REQUIRE_OK(hq_qasm_parse_string(m, strlen(m), "m.qasm", dir, &c));
    hq_circuit_free(c);
    /* a cycle */
    snprintf(path, sizeof path, "%s/lib/b.inc", dir);
    const char *cyc = "include \"a.inc\";\n";
    HQ_REQUIRE_OK(hq_file_write_atomic(path, cyc, strlen(cyc)));
    HQ_CHECK_FAILS(hq_qasm_parse_file(mp, &c), HQ_ERR_PARSE,
                   "b.inc:1:9: include cycle: 'a.inc' is already being included");
    HQ_CHECK(strstr(hq_last_error(), "(included from") != NULL);
    /* a directory is not an include file */
    const char *d = H2 "include \"lib\";\n";
    HQ_CHECK_FAILS(hq_qasm_parse_string(d, strlen(d), "m.qasm", dir, &c), HQ_ERR_PARSE,
                   "cannot read include file 'lib'");
}

/* ==== export =========================================================================== */

static hq_circuit *demo_circuit(void) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    hq_circuit_add_qreg(c, "q", 2, NULL);
    hq_circuit_add_qreg(c, "r", 1, NULL);
    hq_circuit_add_creg(c, "c", 2, NULL);
    hq_circuit_add_gate(c, HQ_GATE_H, (int[]){0}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CX, (int[]){0, 2}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){1}, (double[]){M_PI / 2});
    hq_circuit_add_gate(c, HQ_GATE_U3, (int[]){2}, (double[]){0.1, -M_PI, 3 * M_PI / 4});
    hq_circuit_add_measure(c, 0, 0);
    hq_circuit_add_reset(c, 1);
    hq_circuit_add_barrier(c, (int[]){0, 1, 2}, 3);
    hq_circuit_add_gate(c, HQ_GATE_X, (int[]){1}, NULL);
    hq_circuit_set_condition(c, 0, 1);
    hq_circuit_add_gate(c, HQ_GATE_ECR, (int[]){0, 1}, NULL);
    hq_circuit_add_gate(c, HQ_GATE_CU1, (int[]){1, 0}, (double[]){-1e-7});
    return c;
}

HQ_TEST(qasm_write_format) {
    hq_circuit *c = demo_circuit();
    HQ_REQUIRE(c && hq_circuit_n_ops(c) == 10);
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_qasm_write(c, 2, 0, &b));
    HQ_CHECK_STR(b.p, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n"
                      "gate ecr a, b { h b; cx a, b; rz(pi/4) b; cx a, b; h b; x a; h b; cx a, b; "
                      "rz(-pi/4) b; cx a, b; h b; }\n"
                      "qreg q[2];\nqreg r[1];\ncreg c[2];\nh q[0];\ncx q[0],r[0];\nrz(pi/2) q[1];\n"
                      "u3(0.1, -pi, 3*pi/4) r[0];\nmeasure q[0] -> c[0];\nreset q[1];\n"
                      "barrier q[0],q[1],r[0];\nif(c==1) x q[1];\necr q[0],q[1];\n"
                      "cu1(-1.0e-07) q[1],q[0];\n");
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_qasm_write(c, 3, 0, &b));
    HQ_CHECK_STR(b.p,
                 "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"
                 "gate ecr _a, _b { h _b; cx _a, _b; rz(pi/4) _b; cx _a, _b; h _b; x _a; h _b; "
                 "cx _a, _b; rz(-pi/4) _b; cx _a, _b; h _b; }\n"
                 "qubit[2] q;\nqubit[1] r;\nbit[2] c;\nh q[0];\ncx q[0], r[0];\n"
                 "rz(pi/2) q[1];\nu3(0.1, -pi, 3*pi/4) r[0];\nc[0] = measure q[0];\n"
                 "reset q[1];\nbarrier q[0], q[1], r[0];\nif (c == 1) { x q[1]; }\n"
                 "ecr q[0], q[1];\ncp(-1.0e-07) q[1], q[0];\n");
    hq_sbuf_reset(&b);
    HQ_REQUIRE_OK(hq_qasm_write(c, 3, HQ_QASM_PHYSICAL, &b));
    HQ_CHECK_STR(b.p,
                 "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nbit[2] c;\nh $0;\ncx $0, $2;\n"
                 "rz(pi/2) $1;\nu3(0.1, -pi, 3*pi/4) $2;\nc[0] = measure $0;\nreset $1;\n"
                 "barrier $0, $1, $2;\nif (c == 1) { x $1; }\necr $0, $1;\ncp(-1.0e-07) $1, $0;\n");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}

HQ_TEST(qasm_write_symbolic) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    int th, x0;
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "theta", HQ_SYM_WEIGHT, &th));
    HQ_REQUIRE_OK(hq_circuit_add_symbol(c, "x0", HQ_SYM_INPUT, &x0));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 1, NULL));
    HQ_REQUIRE_OK(
        hq_circuit_add_gate_sym(c, HQ_GATE_RX, (int[]){0}, (hq_angle[]){hq_angle_sym(th, 1, 0)}));
    HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, HQ_GATE_RY, (int[]){0},
                                          (hq_angle[]){hq_angle_sym(x0, 0.5, M_PI / 2)}));
    hq_angle a = hq_angle_sym(th, -1, 0);
    a.n = 2;
    a.sym[1] = x0;
    a.coef[1] = -2.5;
    HQ_REQUIRE_OK(hq_circuit_add_gate_sym(c, HQ_GATE_RZ, (int[]){0}, &a));
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_REQUIRE_OK(hq_qasm_write(c, 3, 0, &b));
    HQ_CHECK_STR(b.p, "OPENQASM 3.0;\ninclude \"stdgates.inc\";\ninput float[64] theta;\n"
                      "input float[64] x0;\nqubit[1] q;\nrx(theta) q[0];\nry(pi/2 + 0.5*x0) q[0];\n"
                      "rz(-theta - 2.5*x0) q[0];\n");
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}

/* Operation-by-operation equality, exact angles, modulo the version-3 aliases
 * (cu1 -> cp, cu3 -> cu(.., 0)). */
static bool same_angle(const hq_circuit *a, const hq_angle *x, const hq_circuit *b,
                       const hq_angle *y) {
    if (x->c != y->c || x->n != y->n) return false;
    for (int k = 0; k < x->n; k++)
        if (x->coef[k] != y->coef[k] ||
            strcmp(hq_circuit_symbol_name(a, x->sym[k]), hq_circuit_symbol_name(b, y->sym[k])))
            return false;
    return true;
}

static bool same_ops(const hq_circuit *a, const hq_circuit *b) {
    if (hq_circuit_n_ops(a) != hq_circuit_n_ops(b)) return false;
    const hq_op *oa = hq_circuit_ops(a), *ob = hq_circuit_ops(b);
    for (int64_t k = 0; k < hq_circuit_n_ops(a); k++) {
        int ga = oa[k].gate, gb = ob[k].gate;
        if (ga == HQ_GATE_CU1) ga = HQ_GATE_CP;
        if (ga == HQ_GATE_CU3) ga = HQ_GATE_CU;
        if (gb == HQ_GATE_CU1) gb = HQ_GATE_CP;
        if (gb == HQ_GATE_CU3) gb = HQ_GATE_CU;
        if (ga != gb || oa[k].nq != ob[k].nq || oa[k].clbit != ob[k].clbit ||
            oa[k].cond_creg != ob[k].cond_creg || oa[k].cond_val != ob[k].cond_val)
            return false;
        for (int i = 0; i < oa[k].nq; i++)
            if (hq_op_qubit(a, &oa[k], i) != hq_op_qubit(b, &ob[k], i)) return false;
        for (int i = 0; i < ob[k].np; i++) {
            hq_angle x = i < oa[k].np ? hq_circuit_angle(a, oa[k].p[i]) : hq_angle_const(0);
            hq_angle y = hq_circuit_angle(b, ob[k].p[i]);
            if (!same_angle(a, &x, b, &y)) return false;
        }
    }
    return true;
}

/* Write c, read it back, and check the result is the same circuit: the same operations
 * (modulo aliases) or, where definitions were expanded, the same state. *exact says which. */
static void check_roundtrip(const hq_circuit *c, int version, unsigned flags, const char *what,
                            bool *exact) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_status st = hq_qasm_write(c, version, flags, &b);
    HQ_CHECKF(st == HQ_OK, "%s v%d: write: %s", what, version, hq_last_error());
    hq_circuit *d = NULL;
    if (!st) {
        hq_qasm_options o = {0};
        o.max_ops = 40 * HQ_QASM_DEFAULT_MAX_OPS;
        st = hq_qasm_parse(b.p, b.len, "roundtrip.qasm", &o, &d);
        HQ_CHECKF(st == HQ_OK, "%s v%d: read back: %s", what, version, hq_last_error());
    }
    if (d) {
        bool phys = flags & HQ_QASM_PHYSICAL;
        HQ_CHECKF(phys || hq_circuit_n_qubits(d) == hq_circuit_n_qubits(c), "%s v%d: %d qubits",
                  what, version, hq_circuit_n_qubits(d));
        HQ_CHECK_EQ_INT(hq_circuit_n_clbits(d), hq_circuit_n_clbits(c));
        HQ_CHECK_EQ_INT(hq_circuit_n_cregs(d), hq_circuit_n_cregs(c));
        for (int i = 0; i < hq_circuit_n_cregs(c) && i < hq_circuit_n_cregs(d); i++)
            HQ_CHECK_STR(hq_circuit_creg(d, i).name, hq_circuit_creg(c, i).name);
        HQ_CHECK_EQ_INT(hq_circuit_n_symbols(d), hq_circuit_n_symbols(c));
        bool same = same_ops(c, d);
        if (exact) *exact = same;
        if (!same) {
            HQ_CHECKF(!hq_circuit_is_dynamic(c), "%s v%d: dynamic circuit changed", what, version);
            int n = hq_circuit_n_qubits(c);
            if (!hq_circuit_is_dynamic(c) && n <= 14 && hq_circuit_n_qubits(d) == n) {
                double sym[64];
                for (int i = 0; i < 64; i++) sym[i] = 0.37 * (i + 1) - 1.1;
                hq_cplx *sa = sim_state(c, sym), *sb = sim_state(d, sym);
                HQ_CHECKF(sa && sb, "%s v%d: simulation failed: %s", what, version,
                          hq_last_error());
                if (sa && sb) {
                    double e = dist_phase(sb, sa, 1ll << n);
                    HQ_CHECKF(e < 1e-9, "%s v%d: states differ by %.3g after the round trip", what,
                              version, e);
                }
                hq_free(sa);
                hq_free(sb);
            }
        }
    }
    hq_circuit_free(d);
    hq_sbuf_free(&b);
}

/* Every reference circuit survives OpenQASM 2 and 3 round trips. */
HQ_TEST(qasm_roundtrip_references) {
    static char names[128][256];
    int n = list_dir(hq_test_shared("data/qasmbench_small"), ".qasm", names, 128);
    HQ_REQUIRE(n > 0);
    int exact2 = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "data/qasmbench_small/%.255s", names[i]);
        /* the two 3.3 MB hhl_n10 files (rz/ry/cx only) cost seconds under the sanitizers and
         * add nothing the others do not cover; bench_qasm times them */
        if (!strncmp(names[i], "hhl_n10", 7)) {
            skipped++;
            continue;
        }
        hq_circuit *c;
        if (parse_shared(rel, true, &c) != HQ_OK) continue;
        bool ex = false;
        check_roundtrip(c, 2, 0, names[i], &ex);
        exact2 += ex;
        check_roundtrip(c, 3, 0, names[i], NULL);
        hq_circuit_free(c);
    }
    HQ_CHECKF(exact2 == n - skipped, "%d of %d circuits round-trip exactly through OpenQASM 2",
              exact2, n - skipped);
    static const char *const dirs[] = {"generic", "ibmqx2",         "qft", "cc",
                                       "sat",     "quantum_volume", "bv"};
    for (size_t k = 0; k < HQ_ARRAY_LEN(dirs); k++) {
        char dir[256];
        snprintf(dir, sizeof dir, "data/openqasm2_examples/%s", dirs[k]);
        int m = list_dir(hq_test_shared(dir), ".qasm", names, 128);
        for (int i = 0; i < m; i++) {
            char rel[1024];
            snprintf(rel, sizeof rel, "%.255s/%.255s", dir, names[i]);
            hq_circuit *c;
            if (parse_shared(rel, false, &c) != HQ_OK) continue;
            check_roundtrip(c, 2, 0, rel, NULL);
            check_roundtrip(c, 3, 0, rel, NULL);
            hq_circuit_free(c);
        }
    }
}

/* Every table gate written alone (operands reversed, random parameters), read back: the
 * same unitary. Exercises every definition the writers emit. */
HQ_TEST(qasm_roundtrip_every_gate) {
    hq_rng r;
    hq_rng_init(&r, 11, 0, 0);
    for (int g = 0; g < HQ_GATE_COUNT; g++) {
        const hq_gate_info *gi = hq_gate_get_info((hq_gate)g);
        if (gi->kind != HQ_KIND_UNITARY) continue;
        for (int trial = 0; trial < 3; trial++) {
            hq_circuit *c;
            HQ_REQUIRE_OK(hq_circuit_create(&c));
            HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 3, NULL));
            double p[4];
            for (int i = 0; i < 4; i++) p[i] = (hq_rng_uniform(&r) * 2 - 1) * 3.5;
            int q[3] = {2, 0, 1};
            HQ_REQUIRE_OK(hq_circuit_add_gate(c, (hq_gate)g, q, p));
            for (int v = 2; v <= 3; v++) {
                char what[64];
                snprintf(what, sizeof what, "gate %s", gi->name);
                check_roundtrip(c, v, 0, what, NULL);
                if (v == 3) check_roundtrip(c, 3, HQ_QASM_PHYSICAL, what, NULL);
            }
            hq_circuit_free(c);
        }
    }
}

static hq_circuit *random_circuit(hq_rng *r, bool symbolic, bool dynamic) {
    hq_circuit *c;
    if (hq_circuit_create(&c)) return NULL;
    int nregs = 1 + (int)hq_rng_below(r, 3), n = 0;
    for (int i = 0; i < nregs; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", i);
        int sz = 1 + (int)hq_rng_below(r, 2);
        hq_circuit_add_qreg(c, name, sz, NULL);
        n += sz;
    }
    hq_circuit_add_creg(c, "m", n, NULL);
    hq_circuit_add_creg(c, "flag", 2, NULL);
    int ns = symbolic ? 3 : 0;
    for (int i = 0; i < ns; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        hq_circuit_add_symbol(c, name, i ? HQ_SYM_WEIGHT : HQ_SYM_INPUT, NULL);
    }
    for (int q = 0; q < n; q++) hq_circuit_add_gate(c, HQ_GATE_H, &q, NULL);
    int nops = 5 + (int)hq_rng_below(r, 25);
    for (int k = 0; k < nops; k++) {
        if (dynamic && hq_rng_below(r, 6) == 0) {
            int q = (int)hq_rng_below(r, (uint64_t)n);
            switch (hq_rng_below(r, 3)) {
            case 0: hq_circuit_add_measure(c, q, (int)hq_rng_below(r, (uint64_t)n + 2)); break;
            case 1: hq_circuit_add_reset(c, q); break;
            default:
                hq_circuit_add_gate(c, HQ_GATE_X, &q, NULL);
                hq_circuit_set_condition(c, 1, hq_rng_below(r, 4));
            }
            continue;
        }
        hq_gate g = (hq_gate)hq_rng_below(r, HQ_GATE_COUNT);
        const hq_gate_info *gi = hq_gate_get_info(g);
        /* dynamic circuits are compared operation by operation: no expanded definitions */
        static const hq_gate defined[] = {HQ_GATE_ECR,  HQ_GATE_ISWAP, HQ_GATE_RYY,  HQ_GATE_GPI,
                                          HQ_GATE_GPI2, HQ_GATE_MS,    HQ_GATE_SXDG, HQ_GATE_CSX,
                                          HQ_GATE_RXX,  HQ_GATE_RZZ};
        bool def = false;
        for (size_t i = 0; i < HQ_ARRAY_LEN(defined); i++) def |= g == defined[i];
        if (dynamic && def) continue;
        if (gi->kind != HQ_KIND_UNITARY || gi->nq > n) {
            if (gi->kind == HQ_KIND_BARRIER) {
                int all[8];
                for (int i = 0; i < n; i++) all[i] = i;
                hq_circuit_add_barrier(c, all, n);
            }
            continue;
        }
        int q[3], used = 0;
        while (used < gi->nq) {
            int x = (int)hq_rng_below(r, (uint64_t)n), dup = 0;
            for (int i = 0; i < used; i++) dup |= q[i] == x;
            if (!dup) q[used++] = x;
        }
        hq_angle a[4];
        for (int i = 0; i < gi->np; i++) {
            double v = hq_rng_below(r, 4) == 0 ? M_PI * (double)((int)hq_rng_below(r, 17) - 8) / 4
                                               : (hq_rng_uniform(r) * 2 - 1) * 4;
            a[i] = hq_angle_const(v);
            if (ns && hq_rng_below(r, 2)) {
                a[i] = hq_angle_sym((int)hq_rng_below(r, (uint64_t)ns), hq_rng_normal(r), v);
                if (hq_rng_below(r, 2)) {
                    a[i].n = 2;
                    a[i].sym[1] = (a[i].sym[0] + 1) % ns;
                    a[i].coef[1] = -1;
                }
            }
        }
        hq_circuit_add_gate_sym(c, g, q, a);
    }
    for (int q = 0; q < n; q++) hq_circuit_add_measure(c, q, q);
    return c;
}

HQ_TEST(qasm_roundtrip_random) {
    hq_rng r;
    hq_rng_init(&r, 2024, 0, 0);
    for (int t = 0; t < 300; t++) {
        bool sym = t % 3 == 1, dyn = t % 3 == 2;
        hq_circuit *c = random_circuit(&r, sym, dyn);
        HQ_REQUIRE(c);
        char what[64];
        snprintf(what, sizeof what, "random circuit %d", t);
        if (!sym) check_roundtrip(c, 2, 0, what, NULL);
        check_roundtrip(c, 3, 0, what, NULL);
        check_roundtrip(c, 3, HQ_QASM_PHYSICAL, what, NULL);
        hq_circuit_free(c);
    }
}

/* Angles come back bit for bit; exact multiples of pi are written as such. */
HQ_TEST(qasm_angles_exact) {
    hq_rng r;
    hq_rng_init(&r, 5, 0, 0);
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "q", 1, NULL));
    static const int dens[] = {1, 2, 3, 4, 6, 8, 16, 7};
    int n = 0;
    for (size_t i = 0; i < HQ_ARRAY_LEN(dens); i++)
        for (int k = -20; k <= 20; k++, n++)
            HQ_REQUIRE_OK(
                hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, (double[]){k * M_PI / dens[i]}));
    static const double odd[] = {
        1e-300,        5e-324, -5e-324, 1e300,       -1.7976931348623157e308, 0.1, 1.0 / 3,
        123456789.125, -0.0,   2.5e-8,  M_PI + 1e-15};
    for (size_t i = 0; i < HQ_ARRAY_LEN(odd); i++, n++)
        HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, (double[]){odd[i]}));
    for (int i = 0; i < 200; i++, n++) {
        uint64_t bits = hq_rng_u64(&r);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v)) v = hq_rng_normal(&r);
        HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_RZ, (int[]){0}, &v));
    }
    for (int v = 2; v <= 3; v++) {
        hq_sbuf b = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_qasm_write(c, v, 0, &b));
        HQ_CHECK(strstr(b.p, "rz(3*pi/4) q[0];") && strstr(b.p, "rz(-pi/16) q[0];") &&
                 strstr(b.p, "rz(-20*pi/3) q[0];") && strstr(b.p, "rz(0) q[0];") &&
                 strstr(b.p, "rz(1.0e-300) q[0];"));
        hq_circuit *d;
        HQ_REQUIRE_OK(hq_qasm_parse_string(b.p, b.len, "a.qasm", NULL, &d));
        HQ_REQUIRE(hq_circuit_n_ops(d) == n);
        int bad = 0;
        for (int k = 0; k < n; k++) {
            double x = hq_circuit_angle(c, hq_circuit_ops(c)[k].p[0]).c;
            double y = hq_circuit_angle(d, hq_circuit_ops(d)[k].p[0]).c;
            if (x != y) {
                if (bad++ < 5) HQ_CHECKF(false, "angle %d: %.17g came back as %.17g", k, x, y);
            }
        }
        HQ_CHECK(bad == 0);
        hq_circuit_free(d);
        hq_sbuf_free(&b);
    }
    hq_circuit_free(c);
}

/* ==== fuzz corpus ====================================================================== */

/* Replays the committed fuzz inputs (seeds, minimised corpus, fixed crashes) through the
 * fuzz target: a crash, an abort from its round-trip oracle or a leak fails the test. */
HQ_TEST(qasm_fuzz_corpus) {
    static const char *const dirs[] = {"tests/fuzz/seeds/fuzz_qasm", "tests/fuzz/corpus/fuzz_qasm",
                                       "tests/fuzz/regress/fuzz_qasm"};
    int total = 0;
    for (size_t k = 0; k < HQ_ARRAY_LEN(dirs); k++) {
        DIR *d = opendir(dirs[k]);
        HQ_CHECKF(d != NULL, "%s is missing (run the tests from the repository root)", dirs[k]);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%.255s", dirs[k], e->d_name);
            char *data;
            size_t len;
            if (hq_file_read(path, 1 << 20, &data, &len) != HQ_OK) continue;
            hq_fuzz_qasm((const uint8_t *)data, len);
            hq_free(data);
            total++;
        }
        closedir(d);
    }
    HQ_CHECK(total > 10);
}

/* ==== resource limits ================================================================== */

HQ_TEST(qasm_limits) {
    hq_circuit *c;
    hq_qasm_options o = {0};
    /* qubits and classical bits */
    o.max_qubits = 4;
    const char *s1 = H2 "qreg a[3];\nqreg b[2];\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s1, strlen(s1), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:4:6: register 'b' of 2 qubits would exceed the limit of 4 qubits");
    const char *s1b = H2 "creg a[5];\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s1b, strlen(s1b), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "limit of 4 classical bits");
    const char *s1c = "OPENQASM 3.0;\nbit[1] c;\nx $4;\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s1c, strlen(s1c), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:3:3: physical qubit $4 is beyond the limit of 4 qubits");
    const char *s1d = H2 "qreg q[99999999999];\n";
    HQ_CHECK_FAILS(parse_str(s1d, &c), HQ_ERR_BUDGET, "max_qubits");
    /* expansion work: an exponential chain of definitions is refused before expanding */
    char big[8192];
    size_t k = (size_t)snprintf(big, sizeof big, H2 "gate g0 a { x a; }\n");
    for (int i = 1; i <= 60; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "gate g%d a { g%d a; g%d a; }\n", i, i - 1,
                              i - 1);
    snprintf(big + k, sizeof big - k, "qreg q[1];\ng60 q[0];\n");
    double t0 = hq_time_now();
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET,
                   "t.qasm:65:1: the circuit expands to more than 4000000 operations");
    HQ_CHECK(hq_time_now() - t0 < 5); /* generous: it must not expand anything */
    /* ... also with empty bodies (no operation emitted, the calls still count) */
    k = (size_t)snprintf(big, sizeof big, H2 "gate g0 a { }\n");
    for (int i = 1; i <= 60; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "gate g%d a { g%d a; g%d a; }\n", i, i - 1,
                              i - 1);
    snprintf(big + k, sizeof big - k, "qreg q[1];\ng60 q[0];\n");
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET, "max_ops");
    /* a plain count */
    o.max_qubits = 0;
    o.max_ops = 10;
    const char *s2 = H2 "qreg q[4];\nh q;\nh q;\nh q;\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s2, strlen(s2), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:6:1: the circuit expands to more than 10 operations");
    o.max_ops = 12;
    HQ_CHECK_OK(hq_qasm_parse(s2, strlen(s2), "t.qasm", &o, &c));
    hq_circuit_free(c);
    o.max_ops = 0;
    /* nesting of gate definitions */
    o.max_gate_depth = 5;
    k = (size_t)snprintf(big, sizeof big, H2 "gate g0 a { x a; }\n");
    for (int i = 1; i <= 6; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "gate g%d a { g%d a; }\n", i, i - 1);
    HQ_CHECK_FAILS(hq_qasm_parse(big, strlen(big), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:8:6: gate 'g5' nests gate definitions 6 deep, more than 5");
    o.max_gate_depth = 0;
    /* the default gate depth keeps the recursion shallow: 100 nested definitions */
    k = (size_t)snprintf(big, sizeof big, H2 "gate g0 a { x a; }\n");
    for (int i = 1; i <= 100; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "gate g%d a { g%d a; }\n", i, i - 1);
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET,
                   "more than 64 (hq_qasm_options.max_gate_depth)");
    /* expression nesting */
    k = (size_t)snprintf(big, sizeof big, H2 "qreg q[1];\nrz(");
    for (int i = 0; i < 100; i++) big[k++] = '(';
    big[k++] = '1';
    for (int i = 0; i < 100; i++) big[k++] = ')';
    snprintf(big + k, sizeof big - k, ") q[0];\n");
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET,
                   "expression nested more than 64 levels deep (hq_qasm_options.max_expr_depth)");
    o.max_expr_depth = 200;
    HQ_CHECK_OK(hq_qasm_parse(big, strlen(big), "t.qasm", &o, &c));
    hq_circuit_free(c);
    o.max_expr_depth = 0;
    k = (size_t)snprintf(big, sizeof big, H2 "qreg q[1];\nrz(");
    for (int i = 0; i < 100; i++) big[k++] = '-';
    snprintf(big + k, sizeof big - k, "1) q[0];\n");
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET, "max_expr_depth");
    /* include depth: a chain of distinct files */
    for (int i = 0; i < 20; i++) {
        char name[32], body[64];
        snprintf(name, sizeof name, "inc%d.inc", i);
        snprintf(body, sizeof body, "include \"inc%d.inc\";\n", i + 1);
        HQ_REQUIRE(hq_test_write_file(name, body, strlen(body)));
    }
    HQ_REQUIRE(hq_test_write_file("inc20.inc", "", 0));
    const char *s3 = H2 "include \"inc0.inc\";\n";
    HQ_CHECK_FAILS(hq_qasm_parse_string(s3, strlen(s3), "m.qasm", hq_test_tmpdir(), &c),
                   HQ_ERR_BUDGET, "includes nested more than 16 deep");
    o.max_include_depth = 25;
    o.include_dir = hq_test_tmpdir();
    HQ_CHECK_OK(hq_qasm_parse(s3, strlen(s3), "m.qasm", &o, &c));
    hq_circuit_free(c);
    o.max_include_depth = 0;
    /* bytes of one source file */
    o.max_bytes = 20;
    const char *s4 = H2 "qreg q[1];\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s4, strlen(s4), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:1:1: the source is 47 bytes, more than 20 (hq_qasm_options.max_bytes)");
    const char *p = hq_test_write_file("big.qasm", s4, strlen(s4));
    HQ_CHECK_FAILS(hq_qasm_parse_file_opt(p, &o, &c), HQ_ERR_BUDGET, "larger than 20 bytes");
    o.max_bytes = 30;
    const char *s5 = "include \"big.qasm\";\n";
    HQ_CHECK_FAILS(hq_qasm_parse(s5, strlen(s5), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:1:9: include file 'big.qasm' is larger than 30 bytes");
    /* barriers count one per listed qubit: a long list over a big register is refused
     * before it is stored */
    o.max_bytes = 0;
    o.max_qubits = 4096;
    size_t cap = 1 << 20;
    char *huge = hq_malloc(cap);
    HQ_REQUIRE(huge);
    k = (size_t)snprintf(huge, cap, H2 "qreg q[4096];\nbarrier q");
    while (k < cap - 16) k += (size_t)snprintf(huge + k, cap - k, ",q");
    snprintf(huge + k, cap - k, ";\n");
    t0 = hq_time_now();
    HQ_CHECK_FAILS(hq_qasm_parse(huge, strlen(huge), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "the circuit expands to more than 4000000 operations");
    HQ_CHECK(hq_time_now() - t0 < 5);
    /* input parameters are bounded like qubits */
    o.max_qubits = 3;
    k = (size_t)snprintf(huge, cap, "OPENQASM 3.0;\n");
    for (int i = 0; i < 4; i++)
        k += (size_t)snprintf(huge + k, cap - k, "input float[64] p%d;\n", i);
    HQ_CHECK_FAILS(hq_qasm_parse(huge, strlen(huge), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "t.qasm:5:17: more than 3 input parameters");
    /* options beyond the caps are lowered: 1100 nested definitions stop at 1000 */
    o.max_qubits = 0;
    o.max_gate_depth = 1000000000;
    k = (size_t)snprintf(huge, cap, H2 "gate g0 a { x a; }\n");
    for (int i = 1; i <= 1100; i++)
        k += (size_t)snprintf(huge + k, cap - k, "gate g%d a { g%d a; }\n", i, i - 1);
    snprintf(huge + k, cap - k, "qreg q[1];\ng1100 q[0];\n");
    HQ_CHECK_FAILS(hq_qasm_parse(huge, strlen(huge), "t.qasm", &o, &c), HQ_ERR_BUDGET,
                   "nests gate definitions 1001 deep, more than 1000");
    o.max_gate_depth = 0;
    hq_free(huge);
    /* gate parameter and argument counts */
    k = (size_t)snprintf(big, sizeof big, H2 "gate g(");
    for (int i = 0; i < 70; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%sp%d", i ? "," : "", i);
    snprintf(big + k, sizeof big - k, ") a { }\n");
    HQ_CHECK_FAILS(parse_str(big, &c), HQ_ERR_BUDGET, "a gate may have at most 64 parameters");
}

/* Every allocation of a parse (and of a write) can fail: a clean HQ_ERR_NOMEM, no leak
 * (the sanitizer build checks), and the next attempt succeeds. */
HQ_TEST(qasm_alloc_failures) {
    const char *ok =
        H2 "gate rot(a) q, r { rz(a) q; cx q, r; }\n"
           "qreg q[4];\ncreg c[4];\nh q;\nrot(pi/3) q[0], q[1];\nc3x q[0], q[1], q[2], q[3];\n"
           "barrier q;\nmeasure q -> c;\nif(c==1) x q[2];\n";
    int fails = 0;
    for (long n = 1; n < 2000; n++) {
        hq_circuit *c = (hq_circuit *)1;
        hq_alloc_fail_after(n);
        hq_status st = parse_str(ok, &c);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!injected) {
            HQ_CHECK_OK(st);
            hq_circuit_free(c);
            break;
        }
        fails++;
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s (%s)", n, hq_status_name(st),
                  hq_last_error());
        HQ_CHECK(c == NULL);
    }
    HQ_CHECK(fails > 20);
    /* from a file, through a user include */
    HQ_REQUIRE(hq_test_write_file("lib.inc", "gate ga q { h q; }\n", 19));
    const char *main_src = H2 "include \"lib.inc\";\nqreg q[1];\nga q[0];\n";
    const char *mp = hq_test_write_file("main.qasm", main_src, strlen(main_src));
    HQ_REQUIRE(mp);
    fails = 0;
    for (long n = 1; n < 2000; n++) {
        hq_circuit *c = (hq_circuit *)1;
        hq_alloc_fail_after(n);
        hq_status st = hq_qasm_parse_file(mp, &c);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!injected) {
            HQ_CHECK_OK(st);
            hq_circuit_free(c);
            break;
        }
        fails++;
        HQ_CHECKF(st == HQ_ERR_NOMEM, "file, allocation %ld: %s (%s)", n, hq_status_name(st),
                  hq_last_error());
        HQ_CHECK(c == NULL);
    }
    HQ_CHECK(fails > 10);
    /* the writer */
    hq_circuit *c;
    HQ_REQUIRE_OK(parse_str(ok, &c));
    hq_circuit *e = demo_circuit();
    for (long n = 1; n < 200; n++) {
        hq_sbuf b = HQ_SBUF_INIT;
        hq_alloc_fail_after(n);
        hq_status st = hq_qasm_write(n % 2 ? c : e, 3, 0, &b);
        bool injected = hq_alloc_injected();
        hq_alloc_fail_after(0);
        hq_sbuf_free(&b);
        if (!injected) {
            HQ_CHECK_OK(st);
            if (n > 2) break;
            continue;
        }
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s", n, hq_status_name(st));
    }
    hq_circuit_free(e);
    hq_circuit_free(c);
}

/* ==== command line ===================================================================== */

/* Run "$HQCNN_BIN args" through the shell; stdout + stderr into out; the exit status. */
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

HQ_TEST(qasm_cli_convert) {
    if (!getenv("HQCNN_BIN")) {
        fprintf(stderr, "    (HQCNN_BIN not set: run through make test)\n");
        return;
    }
    static char out[1 << 16];
    char args[4096];
    const char *adder = hq_test_shared("data/openqasm2_examples/generic/adder.qasm");
    const char *o3 = hq_test_tmpfile("adder3.qasm"), *o2 = hq_test_tmpfile("adder2.qasm");
    snprintf(args, sizeof args, "qasm convert '%s' -o '%s'", adder, o3);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "qasm convert '%s' --to 2 -o '%s'", o3, o2);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    /* adder -> 3 -> 2 is still the adder: ans = 16 */
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_qasm_parse_file(o2, &c));
    hq_cplx *s = sim_state(c, NULL);
    HQ_REQUIRE(s);
    HQ_CHECK_NEAR(creg_prob(c, s, 0, 16), 1.0, 1e-12);
    hq_free(s);
    hq_circuit_free(c);
    /* standard output, physical */
    snprintf(args, sizeof args, "qasm convert '%s' --physical", adder);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    HQ_CHECK(strstr(out, "OPENQASM 3.0;") && strstr(out, "ans[4] = measure $9;"));
    /* errors */
    const char *bad = hq_test_shared("data/openqasm2_examples/invalid/gate_no_found.qasm");
    snprintf(args, sizeof args, "qasm convert '%s'", bad);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    HQ_CHECK(strstr(out, "gate_no_found.qasm:5:1: unknown gate 'w'") != NULL);
    const char *hhl = hq_test_shared("data/qasmbench_small/vqe_uccsd_n4.qasm");
    snprintf(args, sizeof args, "qasm convert '%s' --to 2 -o '%s'", hhl, o2);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 1);
    HQ_CHECK(strstr(out, "HINT") != NULL);
    snprintf(args, sizeof args, "qasm convert '%s' --lenient -o '%s'", hhl, o2);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "qasm convert '%s' --to 4", adder);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 2);
    HQ_CHECK(strstr(out, "--to must be 2, 3, qasm2 or qasm3") != NULL);
    snprintf(args, sizeof args, "qasm convert '%s' --to 2 --physical", adder);
    HQ_CHECK_EQ_INT(run_cli(args, out, sizeof out), 2);
    HQ_CHECK_EQ_INT(run_cli("qasm convert", out, sizeof out), 2);
    HQ_CHECK_EQ_INT(run_cli("qasm convert /nonexistent/x.qasm", out, sizeof out), 1);
    HQ_CHECK(strstr(out, "cannot open") != NULL);
    HQ_CHECK_EQ_INT(run_cli("qasm frobnicate x", out, sizeof out), 2);
    HQ_CHECK_EQ_INT(run_cli("qasm --help", out, sizeof out), 0);
    HQ_CHECK(strstr(out, "hqcnn qasm convert FILE") != NULL);
}

/* Register names the output cannot carry as they are. */
HQ_TEST(qasm_write_names) {
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "c", 1, NULL));   /* clashes with the creg */
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "h", 1, NULL));   /* a gate name */
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "Q", 1, NULL));   /* not an OpenQASM 2 name */
    HQ_REQUIRE_OK(hq_circuit_add_qreg(c, "h_1", 1, NULL)); /* what h would become */
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "c", 2, NULL));
    for (int q = 0; q < 4; q++) HQ_REQUIRE_OK(hq_circuit_add_gate(c, HQ_GATE_X, &q, NULL));
    HQ_REQUIRE_OK(hq_circuit_add_measure(c, 2, 1));
    for (int v = 2; v <= 3; v++) {
        hq_sbuf b = HQ_SBUF_INIT;
        HQ_REQUIRE_OK(hq_qasm_write(c, v, 0, &b));
        HQ_CHECK(strstr(b.p, v == 2 ? "qreg c_1[1];" : "qubit[1] c_1;") != NULL);
        HQ_CHECK(strstr(b.p, v == 2 ? "qreg h_2[1];" : "qubit[1] h_2;") != NULL);
        HQ_CHECK(strstr(b.p, v == 2 ? "qreg qQ[1];" : "qubit[1] Q;") != NULL);
        HQ_CHECK(strstr(b.p, v == 2 ? "qreg h_1[1];" : "qubit[1] h_1;") != NULL);
        bool exact = false;
        check_roundtrip(c, v, 0, "renamed registers", &exact);
        HQ_CHECK(exact);
        hq_sbuf_free(&b);
    }
    hq_circuit_free(c);
    HQ_REQUIRE_OK(hq_circuit_create(&c));
    HQ_REQUIRE_OK(hq_circuit_add_creg(c, "Meas", 1, NULL));
    hq_sbuf b = HQ_SBUF_INIT;
    HQ_CHECK_FAILS(hq_qasm_write(c, 2, 0, &b), HQ_ERR_UNSUPPORTED,
                   "classical register 'Meas' is not an OpenQASM 2 name");
    HQ_CHECK_OK(hq_qasm_write(c, 3, 0, &b));
    hq_sbuf_free(&b);
    hq_circuit_free(c);
}
