/*
 * tests/test_qpu.c — shared QPU client pieces (backends/qpu): job state names and the
 * backend-state mapping, and the replay of the fuzz_qpu_json corpus through every parser.
 */
#include <dirent.h>
#include <string.h>

#include "backends/qpu.h"
#include "tests/hq_test.h"

int hq_fuzz_qpu_json(const uint8_t *data, size_t size); /* tests/fuzz/fuzz_qpu_json.c */

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        char *buf = NULL;
        size_t len = 0;
        if (hq_file_read(path, 0, &buf, &len) != HQ_OK) continue;
        hq_fuzz_qpu_json((const uint8_t *)buf, len);
        hq_free(buf);
        n++;
    }
    closedir(d);
    return n;
}

HQ_TEST(qpu_fuzz_corpus_replay) {
    /* every saved input runs cleanly through every parser (crashes and leaks fail under
     * make check) */
    int n = replay_dir("tests/fuzz/seeds/fuzz_qpu_json") +
            replay_dir("tests/fuzz/corpus/fuzz_qpu_json") +
            replay_dir("tests/fuzz/regress/fuzz_qpu_json");
    HQ_CHECKF(n >= 60, "only %d fuzz inputs found (run from the repository root)", n);
}

HQ_TEST(qpu_states) {
    HQ_CHECK_STR(hq_qpu_state_name(HQ_QPU_CANCELLING), "cancelling");
    HQ_CHECK_STR(hq_qpu_state_name(HQ_QPU_STATE_COUNT), "?");
    int terminal = 0;
    for (int s = 0; s < HQ_QPU_STATE_COUNT; s++) {
        terminal += hq_qpu_state_terminal((hq_qpu_state)s);
        /* terminal provider states map to terminal backend states and back */
        HQ_CHECK(hq_qpu_state_terminal((hq_qpu_state)s) ==
                 hq_job_state_terminal(hq_qpu_state_to_job((hq_qpu_state)s)));
    }
    HQ_CHECK_EQ_INT(terminal, 3);
}
