/*
 * tests/test_cli.c — the hqcnn command line, run as a separate process: `qasm run` against
 * the exactly known outputs of ../shared/data/README.md, `qasm transpile` output that
 * parses back into an ISA circuit, exit statuses and messages of every usage and input
 * error, and the run-inspection commands.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/device.h"
#include "backends/qasm.h"
#include "backends/transpile.h"
#include "tests/hq_test.h"

typedef struct cli_out {
    int status;
    char *out; /* stdout (owned) */
    char *err; /* stderr (owned) */
} cli_out;

/* Run the hqcnn binary with a NULL-terminated argument list. */
static bool cli(cli_out *r, ...) {
    memset(r, 0, sizeof *r);
    const char *bin = getenv("HQCNN_BIN");
    if (!bin) return false;
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)bin;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char op[4096], ep[4096];
    snprintf(op, sizeof op, "%s", hq_test_tmpfile("cli.out"));
    snprintf(ep, sizeof ep, "%s", hq_test_tmpfile("cli.err"));
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (!freopen(op, "w", stdout) || !freopen(ep, "w", stderr)) _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    size_t len;
    if (hq_file_read(op, 0, &r->out, &len)) r->out = hq_strdup("");
    if (hq_file_read(ep, 0, &r->err, &len)) r->err = hq_strdup("");
    return true;
}

static void cli_free(cli_out *r) {
    hq_free(r->out);
    hq_free(r->err);
}

static double prob_of(const char *json, const char *key, const char *bits) {
    cJSON *j = cJSON_Parse(json);
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, bits) : NULL;
    double d = v && cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(j);
    return d;
}

#define DATA(p) hq_test_shared("data/" p)

HQ_TEST(cli_qasm_run_known_outputs) {
    cli_out r;
    HQ_REQUIRE(
        cli(&r, "qasm", "run", DATA("openqasm2_examples/generic/adder.qasm"), "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", "10000"), 1.0, 1e-12); /* ans = 16 */
    cli_free(&r);
    HQ_REQUIRE(
        cli(&r, "qasm", "run", DATA("openqasm2_examples/generic/W-state.qasm"), "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    int nb = j ? cJSON_GetObjectItemCaseSensitive(j, "bits")->valueint : 0;
    cJSON_Delete(j);
    char b1[8], b2[8], b4[8];
    for (int k = 0; k < nb; k++) b1[k] = b2[k] = b4[k] = '0';
    b1[nb] = b2[nb] = b4[nb] = '\0';
    b1[nb - 1] = '1', b2[nb - 2] = '1', b4[nb - 3] = '1';
    /* the example writes its angles with 5-6 digits: 1/3 to about 1e-6 */
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", b1), 1.0 / 3, 1e-5);
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", b2), 1.0 / 3, 1e-5);
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", b4), 1.0 / 3, 1e-5);
    cli_free(&r);
    /* pea_3_pi_8 -> c = 3 with certainty; rb -> |00> */
    HQ_REQUIRE(cli(&r, "qasm", "run", DATA("openqasm2_examples/generic/pea_3_pi_8.qasm"),
                   "--backend", "dm", "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    j = cJSON_Parse(r.out);
    const cJSON *pm = j ? cJSON_GetObjectItemCaseSensitive(j, "probabilities") : NULL;
    double p3 = 0;
    for (const cJSON *e = pm ? pm->child : NULL; e; e = e->next)
        if (strtoull(e->string, NULL, 2) == 3) p3 = e->valuedouble;
    HQ_CHECK_NEAR(p3, 1.0, 1e-9);
    cJSON_Delete(j);
    cli_free(&r);
    /* Bernstein-Vazirani: the answer in bv/ref */
    HQ_REQUIRE(cli(&r, "qasm", "run", DATA("openqasm2_examples/bv/bv_n10.qasm"), "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    char *ref;
    size_t len;
    HQ_REQUIRE_OK(hq_file_read(DATA("openqasm2_examples/bv/ref/bv_n10.qasm.ref"), 0, &ref, &len));
    cJSON *rj = cJSON_Parse(ref);
    hq_free(ref);
    HQ_REQUIRE(rj && rj->child);
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", rj->child->string), 1.0, 1e-9);
    cJSON_Delete(rj);
    cli_free(&r);
    /* sampling is seeded: equal seeds give equal counts, text mode prints counts */
    cli_out a, b;
    HQ_REQUIRE(cli(&a, "qasm", "run", DATA("openqasm2_examples/generic/qft.qasm"), "--shots",
                   "4000", "--seed", "3", NULL));
    HQ_REQUIRE(cli(&b, "qasm", "run", DATA("openqasm2_examples/generic/qft.qasm"), "--shots",
                   "4000", "--seed", "3", NULL));
    HQ_CHECK_EQ_INT(a.status, 0);
    HQ_CHECK_STR(a.out, b.out);
    HQ_CHECK(strstr(a.out, "more outcomes") == NULL || strlen(a.out) > 100);
    cli_free(&a);
    cli_free(&b);
    /* noise: the Bell-like W state loses probability outside the ideal support */
    HQ_REQUIRE(cli(&r, "qasm", "run", DATA("openqasm2_examples/generic/W-state.qasm"), "--device",
                   DATA("ibm_backends/props_manila.json"), "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK(prob_of(r.out, "probabilities", b1) < 1.0 / 3 - 1e-3);
    cli_free(&r);
    HQ_REQUIRE(cli(&r, "qasm", "run", DATA("openqasm2_examples/generic/W-state.qasm"), "--device",
                   DATA("ibm_backends/props_manila.json"), "--scale", "0", "--json", NULL));
    HQ_CHECK_NEAR(prob_of(r.out, "probabilities", b1), 1.0 / 3, 1e-5);
    cli_free(&r);
}

HQ_TEST(cli_qasm_transpile_is_isa) {
    cli_out r;
    const char *out = hq_test_tmpfile("qft_isa.qasm");
    char dev[8192];
    snprintf(dev, sizeof dev, "%s,%s", DATA("ibm_backends/conf_nairobi.json"),
             DATA("ibm_backends/props_nairobi.json"));
    HQ_REQUIRE(cli(&r, "qasm", "transpile", DATA("openqasm2_examples/generic/qft.qasm"), "--device",
                   dev, "-o", out, "--stats", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK(strstr(r.err, "2-qubit gates") != NULL);
    cli_free(&r);
    hq_circuit *c;
    HQ_REQUIRE_OK(hq_qasm_parse_file(out, &c));
    hq_device *d;
    HQ_REQUIRE_OK(hq_device_load_ibm(DATA("ibm_backends/conf_nairobi.json"),
                                     DATA("ibm_backends/props_nairobi.json"), &d));
    HQ_CHECK_OK(hq_transpile_check_isa(c, d));
    hq_device_free(d);
    hq_circuit_free(c);
    HQ_REQUIRE(cli(&r, "qasm", "transpile", DATA("openqasm2_examples/generic/qft.qasm"), "--target",
                   "ionq", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK(strstr(r.out, "gpi2") != NULL);
    cli_free(&r);
}

HQ_TEST(cli_errors_and_exit_statuses) {
    cli_out r;
    struct {
        const char *args[8];
        int status;
        const char *msg;
    } cases[] = {
        {{"nope", NULL}, 2, "unknown command 'nope'"},
        {{"qasm", "run", NULL}, 2, "which file?"},
        {{"qasm", "run", "/nonexistent.qasm", NULL}, 1, "/nonexistent.qasm"},
        {{"qasm", "run", "x.qasm", "--bogus", NULL}, 2, "unknown option '--bogus'"},
        {{"qasm", "run", "x.qasm", "--backend", "gpu", NULL}, 2, "--backend must be sv or dm"},
        {{"qasm", "run", "x.qasm", "--backend", "sv", "--noise", "n.json", NULL},
         2,
         "needs --backend dm"},
        {{"qasm", "run", "x.qasm", "--shots", "0", NULL}, 2, "--shots"},
        {{"qasm", "transpile", "x.qasm", NULL}, 2, "--device"},
        {{"train", NULL}, 2, "--config FILE is required"},
        {{"train", "--config", "/nonexistent.json", NULL}, 1, "/nonexistent.json"},
        {{"resume", NULL}, 2, "which run?"},
        {{"show", "r", "--db", "/nonexistent/x.db", NULL}, 1, "no job database"},
        {{"jobs", "--state", "done", NULL}, 2, "unknown job state 'done'"},
        {{"eval", "nothing-here", "--db", "/nonexistent/x.db", NULL},
         1,
         "neither a weight file nor a run"},
        {{"eval", "r", "--tta", "vflip", NULL}, 2, "unknown tta 'vflip' (none, hflip)"},
        {{"eval", "r", "--prior-correction", "yes", NULL}, 2, "'yes' must be on or off"},
        {{"plan", NULL}, 2, "--config FILE is required"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(cases); i++) {
        const char *const *a = cases[i].args;
        HQ_REQUIRE(cli(&r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
        HQ_CHECKF(r.status == cases[i].status,
                  "case %zu (%s %s): status %d, expected %d (stderr: %s)", i, a[0],
                  a[1] ? a[1] : "", r.status, cases[i].status, r.err);
        HQ_CHECKF(strstr(r.err, cases[i].msg) != NULL, "case %zu: stderr lacks \"%s\": %s", i,
                  cases[i].msg, r.err);
        cli_free(&r);
    }
    /* a malformed circuit: file:line:column */
    const char *bad_src = "OPENQASM 2.0;\nqreg q[2];\ncx q[0], q[5];\n";
    const char *bad = hq_test_write_file("bad.qasm", bad_src, strlen(bad_src));
    HQ_REQUIRE(cli(&r, "qasm", "run", bad, NULL));
    HQ_CHECK_EQ_INT(r.status, 1);
    HQ_CHECK(strstr(r.err, "bad.qasm:3:") != NULL);
    cli_free(&r);
    HQ_REQUIRE(
        cli(&r, "qasm", "run", DATA("openqasm2_examples/invalid/missing_semicolon.qasm"), NULL));
    HQ_CHECK_EQ_INT(r.status, 1);
    HQ_CHECK(strstr(r.err, "missing_semicolon.qasm:") != NULL);
    cli_free(&r);
    /* --help prints usage and succeeds */
    HQ_REQUIRE(cli(&r, "qasm", "run", "--help", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK(strstr(r.out, "--shots N") != NULL);
    cli_free(&r);
    HQ_REQUIRE(cli(&r, "backends", NULL));
    HQ_CHECK(strstr(r.out, "sv-shots") != NULL);
    cli_free(&r);
}

HQ_TEST(cli_plan_runs_show) {
    cli_out r;
    HQ_REQUIRE(cli(&r, "plan", "--config", "configs/breastmnist-sv.json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    HQ_CHECK(strstr(r.out, "nothing is submitted") != NULL);
    cli_free(&r);
    /* shot-based plan: 546 images x 2 x (1 + 80) circuits per epoch of training */
    HQ_REQUIRE(cli(&r, "plan", "--config", "configs/breastmnist-sv.json", "--backend", "sv-shots",
                   "--epochs", "1", "--json", NULL));
    HQ_CHECK_EQ_INT(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "train") : NULL;
    HQ_CHECK(t && cJSON_GetObjectItemCaseSensitive(t, "circuits")->valuedouble == 546.0 * 162);
    HQ_CHECK(j && cJSON_GetObjectItemCaseSensitive(j, "circuits_per_sample")->valuedouble == 162);
    cJSON_Delete(j);
    cli_free(&r);
}

/* `qasm convert --to 2|3|qasm2|qasm3`: each output runs to the original's distribution. */
HQ_TEST(cli_qasm_convert_versions_round_trip) {
    const char *src = DATA("openqasm2_examples/generic/qft.qasm");
    cli_out ref;
    HQ_REQUIRE(cli(&ref, "qasm", "run", src, "--json", NULL));
    HQ_REQUIRE(ref.status == 0);
    const char *to[] = {"2", "3", "qasm2", "qasm3", "3.0"};
    for (size_t k = 0; k < sizeof to / sizeof *to; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s", hq_test_tmpfile("conv.qasm"));
        cli_out r;
        HQ_REQUIRE(cli(&r, "qasm", "convert", src, "--to", to[k], "-o", path, NULL));
        HQ_CHECK_EQ_INT(r.status, 0);
        cli_free(&r);
        char *text = NULL;
        size_t len;
        HQ_REQUIRE_OK(hq_file_read(path, 0, &text, &len));
        bool three = strchr(to[k], '3') != NULL;
        HQ_CHECKF(!strncmp(text, three ? "OPENQASM 3" : "OPENQASM 2.0", three ? 10 : 12),
                  "--to %s wrote: %.40s", to[k], text);
        hq_free(text);
        HQ_REQUIRE(cli(&r, "qasm", "run", path, "--json", NULL));
        HQ_CHECK_EQ_INT(r.status, 0);
        double total = 0;
        for (int v = 0; v < 16; v++) {
            char bits[5];
            for (int b = 0; b < 4; b++) bits[b] = (char)('0' + (v >> (3 - b) & 1));
            bits[4] = '\0';
            HQ_CHECK_NEAR(prob_of(r.out, "probabilities", bits),
                          prob_of(ref.out, "probabilities", bits), 1e-12);
            total += prob_of(r.out, "probabilities", bits);
        }
        HQ_CHECK_NEAR(total, 1.0, 1e-12); /* every outcome printed, none missing */
        cli_free(&r);
    }
    cli_free(&ref);
    cli_out r;
    HQ_REQUIRE(cli(&r, "qasm", "convert", src, "--to", "qasm4", NULL));
    HQ_CHECK(r.status != 0);
    HQ_CHECK(strstr(r.err, "--to must be 2, 3, qasm2 or qasm3") != NULL);
    cli_free(&r);
}
