/*
 * tests/fuzz/fuzz_emulator.c — fuzz target for everything the QPU emulator parses from a
 * client: IonQ job bodies (JSON gate lists -> circuits), IBM Sampler job bodies (pubs of
 * OpenQASM 3, parameter values, the ISA check, compaction), fault specs (text and JSON)
 * and the X-Emu-Delay-Ms header.
 *
 * The first input byte picks the parser (mod 4), the rest is the text (an exact-size,
 * unterminated copy for the JSON parsers, so reads past the end are caught). One emulator
 * (no state directory, ephemeral port) is started on first use and serves as the context.
 * Built with -DHQ_FUZZ_MAIN it is a libFuzzer target (`make fuzz`); without, the test
 * suite replays tests/fuzz/seeds/fuzz_emulator through it (emulator_fuzz_replay).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backends/emulator/emu_impl.h"

int hq_fuzz_emulator(const uint8_t *data, size_t size);
/* Stop the shared emulator (the test-suite replay calls it so nothing leaks). */
void hq_fuzz_emulator_done(void);

static hq_emulator *shared;

void hq_fuzz_emulator_done(void) {
    hq_emulator_stop(shared);
    shared = NULL;
}

static hq_emulator *ctx(void) {
    hq_emulator *e = shared;
    if (!e) {
        hq_emulator_options o = hq_emulator_default_options(HQ_EMU_PROFILE_IBM);
        o.ionq_api_key = o.ibm_api_key = "fuzz-key";
        o.max_qubits_noisy = 6;
        o.max_qubits_exact = 8;
        if (hq_emulator_start(&o, &e) != HQ_OK) e = NULL;
        shared = e;
    }
    return e;
}

static void job_body(hq_emulator *e, const char *b, size_t n, emu_family fam) {
    cJSON *doc = cJSON_ParseWithLength(b, n);
    if (!doc) return;
    emu_job *j = emu_job_new(fam);
    if (!j) {
        cJSON_Delete(doc);
        return;
    }
    j->req = doc;
    int http = 0, code = 0;
    hq_status st = fam == EMU_IONQ ? emu_ionq_prepare(e, j) : emu_ibm_prepare(e, j, &http, &code);
    if (st == HQ_OK) {
        /* walk what was built */
        for (int i = 0; i < j->n_units; i++) {
            const emu_unit *u = &j->units[i];
            if (!u->circ) continue;
            hq_sbuf t = HQ_SBUF_INIT;
            (void)hq_circuit_canonical(u->circ, &t);
            hq_sbuf_free(&t);
        }
    }
    emu_job_free(j);
}

int hq_fuzz_emulator(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1u << 20)) return 0;
    hq_emulator *e = ctx();
    if (!e) return 0;
    hq_log_level lvl = hq_log_get_level();
    hq_log_set_level(HQ_LOG_ERROR);
    size_t n = size - 1;
    char *b = hq_malloc(n + 1);
    if (!b) return 0;
    memcpy(b, data + 1, n);
    switch (data[0] & 3) {
    case 0: job_body(e, b, n, EMU_IONQ); break;
    case 1: job_body(e, b, n, EMU_IBM); break;
    case 2: {
        b[n] = '\0'; /* specs and headers are C strings */
        emu_fault *items = NULL;
        int k = 0;
        if (emu_faults_parse(b, &items, &k) == HQ_OK) {
            emu_faults f;
            memset(&f, 0, sizeof f);
            emu_req_faults rf;
            char *err = NULL;
            if (emu_faults_arm(&f, items, k) == HQ_OK) {
                emu_faults_select(&f, "POST", "/v0.3/jobs", true, b, &rf, &err);
                hq_free(err);
                emu_faults_take_job(&f, "POST", "/v0.3/jobs", NULL, &rf);
                hq_sbuf t = HQ_SBUF_INIT;
                emu_faults_to_json(&f, &t);
                hq_sbuf_free(&t);
            }
            emu_faults_free(&f);
            hq_free(items);
        }
        break;
    }
    default: {
        b[n] = '\0';
        double q, r;
        bool has;
        (void)emu_parse_delay_header(b, &q, &r, &has);
    }
    }
    hq_free(b);
    hq_log_set_level(lvl);
    hq_clear_error();
    return 0;
}

#ifdef HQ_FUZZ_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return hq_fuzz_emulator(data, size);
}
#endif
