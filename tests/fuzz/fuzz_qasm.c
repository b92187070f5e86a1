/*
 * tests/fuzz/fuzz_qasm.c — libFuzzer target for the OpenQASM reader and writers.
 *
 * The input is parsed as OpenQASM 2 and as OpenQASM 3 (forced versions, small limits so
 * one input stays fast). Whatever parses is written back as OpenQASM 2 (when it has no
 * symbols), OpenQASM 3 and OpenQASM 3 with physical qubits, and each text is read again.
 * Any failure of that round trip is a bug and aborts, as is a state that differs: small
 * unitary circuits are simulated before and after with the reference simulator.
 *
 * hq_fuzz_qasm is linked into the test runner too (tests/test_qasm.c replays the corpus
 * and the regression inputs); LLVMFuzzerTestOneInput exists only under HQ_FUZZ_MAIN.
 */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/qasm.h"
#include "backends/sv_ref.h"

int hq_fuzz_qasm(const uint8_t *data, size_t size);

static void fail(const char *what, const char *text) {
    fprintf(stderr, "fuzz_qasm: %s\n  last error: %s\n", what, hq_last_error());
    if (text) fprintf(stderr, "---- text ----\n%s\n--------------\n", text);
    abort();
}

/* Largest |constant| or |coefficient| of any angle (huge angles lose precision in the
 * written definitions, e.g. 2*pi*phi, so the state comparison skips them). */
static double max_angle(const hq_circuit *c) {
    double m = 0;
    for (int64_t i = 0; i < hq_circuit_n_angles(c); i++) {
        hq_angle a = hq_circuit_angle(c, i);
        m = fmax(m, fabs(a.c));
        for (int k = 0; k < a.n; k++) m = fmax(m, fabs(a.coef[k]));
    }
    return m;
}

static void compare_states(const hq_circuit *a, const hq_circuit *b, const char *text) {
    int n = hq_circuit_n_qubits(a);
    if (n > 8 || n != hq_circuit_n_qubits(b) || hq_circuit_n_ops(a) > 2000 ||
        hq_circuit_n_ops(b) > 40000 || hq_circuit_is_dynamic(a) || max_angle(a) > 1e3 ||
        hq_circuit_n_symbols(a) > 16)
        return;
    double sym[16];
    for (int i = 0; i < 16; i++) sym[i] = 0.3 * i - 0.7;
    size_t dim = (size_t)1 << n;
    hq_cplx *sa = hq_malloc(dim * sizeof *sa), *sb = hq_malloc(dim * sizeof *sb);
    if (!sa || !sb) abort();
    hq_status s1 = hq_ref_simulate(a, sym, true, sa), s2 = hq_ref_simulate(b, sym, true, sb);
    if (s1 != HQ_OK || s2 != HQ_OK) fail("simulation failed", text);
    size_t best = 0;
    for (size_t i = 1; i < dim; i++)
        if (cabs(sa[i]) > cabs(sa[best])) best = i;
    hq_cplx ph = cabs(sa[best]) > 0 && cabs(sb[best]) > 0 ? sb[best] / sa[best] : 1;
    ph /= cabs(ph);
    double e = 0;
    for (size_t i = 0; i < dim; i++) e = fmax(e, cabs(sb[i] - ph * sa[i]));
    hq_free(sa);
    hq_free(sb);
    if (!(e < 1e-6)) fail("the state changed in the round trip", text);
}

static void roundtrip(const hq_circuit *c, int version, unsigned flags) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_status st = hq_qasm_write(c, version, flags, &b);
    if (st == HQ_ERR_UNSUPPORTED) { /* e.g. a register named like a gate: a clear refusal */
        hq_sbuf_free(&b);
        return;
    }
    if (st != HQ_OK) fail("write failed", NULL);
    hq_qasm_options o = {0};
    o.max_ops = 64 * 20000; /* definitions expand (ecr: 11 operations) */
    hq_circuit *d = NULL;
    if (hq_qasm_parse(b.p, b.len, "roundtrip.qasm", &o, &d) != HQ_OK)
        fail("the written text does not parse", b.p);
    bool phys = flags & HQ_QASM_PHYSICAL;
    if ((!phys && hq_circuit_n_qubits(d) != hq_circuit_n_qubits(c)) ||
        hq_circuit_n_qubits(d) > hq_circuit_n_qubits(c) ||
        hq_circuit_n_clbits(d) != hq_circuit_n_clbits(c) ||
        hq_circuit_n_symbols(d) != hq_circuit_n_symbols(c))
        fail("registers or symbols changed in the round trip", b.p);
    if (!phys) compare_states(c, d, b.p);
    hq_circuit_free(d);
    hq_sbuf_free(&b);
}

int hq_fuzz_qasm(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    for (int v = 2; v <= 3; v++) {
        hq_qasm_options o = {0};
        o.version = v;
        o.max_qubits = 64;
        o.max_ops = 20000;
        o.include_dir = "/nonexistent/hqcnn-fuzz";
        hq_circuit *c = NULL;
        if (hq_qasm_parse((const char *)data, size, "fuzz.qasm", &o, &c) != HQ_OK) {
            if (c) fail("a failed parse returned a circuit", NULL);
            continue;
        }
        hq_sbuf canon = HQ_SBUF_INIT;
        if (hq_circuit_canonical(c, &canon) != HQ_OK) fail("canonical text failed", NULL);
        hq_sbuf_free(&canon);
        if (!hq_circuit_is_symbolic(c)) roundtrip(c, 2, 0);
        roundtrip(c, 3, 0);
        roundtrip(c, 3, HQ_QASM_PHYSICAL);
        hq_circuit_free(c);
    }
    hq_clear_error();
    return 0;
}

#ifdef HQ_FUZZ_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) {
        hq_log_set_level(HQ_LOG_ERROR);
        quiet = 1;
    }
    return hq_fuzz_qasm(data, size);
}
#endif
