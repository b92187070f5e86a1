/*
 * tests/hq_test.h — the project's tiny test framework (Redis testhelp.h in spirit).
 *
 *   HQ_TEST(sv_bell) { ... HQ_CHECK(x == 1); HQ_CHECK_NEAR(p, 0.5, 1e-12); ... }
 *
 * Tests are found by the Makefile, which greps tests/ for HQ_TEST(name) and
 * HQ_TEST_SLOW(name) and generates the registry; there is no table to edit. Each test
 * runs in a forked child (a crash or a leak fails that test only). A check that fails
 * prints file:line and the expression, and the test keeps going; HQ_REQUIRE stops it.
 * Test names are <module>_<what>, so `build/hq_tests sv_` runs one module.
 *
 * Helpers: hq_test_shared(rel) is a path under the shared data folder ($HQCNN_SHARED,
 * default ../shared); hq_test_tmpdir() is a fresh directory removed after the test.
 */
#ifndef HQ_TEST_H
#define HQ_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "core/core.h"

#define HQ_TEST(name)          \
    void hq_test_##name(void); \
    void hq_test_##name(void)
#define HQ_TEST_SLOW(name) HQ_TEST(name)

extern int hq_test_checks;   /* checks run in the current test */
extern int hq_test_failures; /* checks failed in the current test */

void hq_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *hq_test_shared(const char *rel); /* static buffer, valid until next call */
const char *hq_test_tmpdir(void);            /* created on first call within a test */
/* Build a path inside the test's tmpdir (static rotating buffers, 8 deep). */
const char *hq_test_tmpfile(const char *name);
/* Write a whole file (for bad-input tests); returns the path. */
const char *hq_test_write_file(const char *name, const void *data, size_t len);
/* Run argv (argv[0] = the program, e.g. $HQCNN_BIN) in a child process with
 * $HQCNN_FAULT_KILL_AFTER_SUBMIT set to kill_after (NULL: unset); its stdout goes to out_path
 * and its stderr is appended to err_path (NULL: /dev/null for either). kill_ms >= 0: SIGKILL
 * the child after that many ms if it is still running. *running (if not NULL) holds the
 * child's pid while it runs and 0 afterwards. Returns the exit status, 128 + signal if it
 * was killed, -1 if it could not be started. */
int hq_test_run_child(char *const argv[], long kill_ms, const char *kill_after,
                      const char *out_path, const char *err_path, volatile pid_t *running);
/* The JSON document in the file at path (free with cJSON_Delete), or NULL if the file
 * cannot be read or does not parse. */
struct cJSON *hq_test_read_json(const char *path);
/* The "weights_sha256" of a run's metrics.json (or `hqcnn train --json` output) at path,
 * into sha; false unless the file says "finished": true and carries the digest. */
bool hq_test_read_run_sha(const char *path, char sha[65]);

#define HQ_CHECK(cond)                                                            \
    do {                                                                          \
        hq_test_checks++;                                                         \
        if (!(cond)) hq_test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)

#define HQ_CHECKF(cond, ...)                                        \
    do {                                                            \
        hq_test_checks++;                                           \
        if (!(cond)) hq_test_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* Stop the test (after recording a failure) if cond is false. */
#define HQ_REQUIRE(cond)                                                             \
    do {                                                                             \
        hq_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            hq_test_fail(__FILE__, __LINE__, "required: %s (last error: %s)", #cond, \
                         hq_last_error());                                           \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define HQ_CHECK_EQ_INT(a, b)                                                                     \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        hq_test_checks++;                                                                         \
        if (a_ != b_) hq_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define HQ_CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                          \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                            \
        hq_test_checks++;                                                                         \
        if (!(fabs(a_ - b_) <= t_))                                                               \
            hq_test_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g (|diff| %.3g > %.3g)", #a, \
                         #b, a_, b_, fabs(a_ - b_), t_);                                          \
    } while (0)

#define HQ_CHECK_STR(a, b)                                                         \
    do {                                                                           \
        const char *a_ = (a), *b_ = (b);                                           \
        hq_test_checks++;                                                          \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                     \
            hq_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
    } while (0)

/* expr must return status st, and the last error message must contain substr. */
#define HQ_CHECK_FAILS(expr, st, substr)                                                     \
    do {                                                                                     \
        hq_clear_error();                                                                    \
        hq_status s_ = (expr);                                                               \
        hq_test_checks++;                                                                    \
        if (s_ != (st))                                                                      \
            hq_test_fail(__FILE__, __LINE__, "%s returned %s, expected %s (msg: %s)", #expr, \
                         hq_status_name(s_), hq_status_name(st), hq_last_error());           \
        else if ((substr) && !strstr(hq_last_error(), (substr)))                             \
            hq_test_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"", #expr,       \
                         hq_last_error(), (const char *)(substr));                           \
    } while (0)

#define HQ_CHECK_OK(expr)                                                                     \
    do {                                                                                      \
        hq_status s_ = (expr);                                                                \
        hq_test_checks++;                                                                     \
        if (s_ != HQ_OK)                                                                      \
            hq_test_fail(__FILE__, __LINE__, "%s returned %s: %s", #expr, hq_status_name(s_), \
                         hq_last_error());                                                    \
    } while (0)

#define HQ_REQUIRE_OK(expr)                                                                   \
    do {                                                                                      \
        hq_status s_ = (expr);                                                                \
        hq_test_checks++;                                                                     \
        if (s_ != HQ_OK) {                                                                    \
            hq_test_fail(__FILE__, __LINE__, "%s returned %s: %s", #expr, hq_status_name(s_), \
                         hq_last_error());                                                    \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#endif /* HQ_TEST_H */
