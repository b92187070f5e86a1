/*
 * tests/test_credentials.c — backends/credentials: environment variables, the private
 * credentials file (format, precedence, permission and owner checks, parse errors that
 * never echo a line), and a planted fake key that must not appear in anything the HTTP
 * layer or the loader can print (error messages, logs, libcurl debug output).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/credentials.h"
#include "backends/http.h"
#include "tests/hq_test.h"
#include "tests/hq_test_server.h"

#define FAKE_KEY "hqFAKEKEY-7c1e0d2b9a5f4e3d"

static void clear_env(void) {
    const char *vars[] = {"IONQ_API_KEY",      "IBM_QUANTUM_API_KEY", "IBM_CLOUD_API_KEY",
                          "IBM_QUANTUM_CRN",   "AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY",
                          "AWS_SESSION_TOKEN", "AWS_REGION",          "AWS_DEFAULT_REGION",
                          "HQCNN_CREDENTIALS", "XDG_CONFIG_HOME"};
    for (size_t i = 0; i < HQ_ARRAY_LEN(vars); i++) unsetenv(vars[i]);
    setenv("HOME", hq_test_tmpdir(), 1); /* no real user file is ever read */
}

static const char *write_private(const char *name, const char *text, unsigned mode) {
    const char *p = hq_test_write_file(name, text, strlen(text));
    chmod(p, mode);
    return p;
}

HQ_TEST(credentials_from_environment) {
    clear_env();
    setenv("IONQ_API_KEY", "ionq-env-key-1234", 1);
    hq_credentials *c = NULL;
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IONQ, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ionq-env-key-1234");
    HQ_CHECK_STR(hq_credentials_source(c), "environment");
    HQ_CHECK(hq_credentials_get(c, "nope") == NULL);
    hq_credentials_free(c);

    setenv("IBM_CLOUD_API_KEY", "ibm-cloud-key-9999", 1);
    setenv("IBM_QUANTUM_CRN", "crn:v1:bluemix:public:quantum-computing:us-east:a/acct:inst::", 1);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IBM, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ibm-cloud-key-9999");
    setenv("IBM_QUANTUM_API_KEY", "ibm-quantum-key-1", 1); /* the first name wins */
    hq_credentials_free(c);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IBM, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ibm-quantum-key-1");
    HQ_CHECK_STR(hq_credentials_get(c, "crn"),
                 "crn:v1:bluemix:public:quantum-computing:us-east:a/acct:inst::");
    hq_credentials_free(c);

    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_AWS, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "region"), "us-west-1");
    HQ_CHECK(hq_credentials_get(c, "session_token") == NULL);
    hq_credentials_free(c);
    setenv("AWS_REGION", "eu-north-1", 1);
    setenv("AWS_SESSION_TOKEN", "tok-abcdef", 1);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_AWS, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "region"), "eu-north-1");
    HQ_CHECK_STR(hq_credentials_get(c, "session_token"), "tok-abcdef");
    hq_credentials_free(c);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_AWS, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "region"), "us-east-1");
    hq_credentials_free(c);
    hq_credentials_free(NULL);
}

HQ_TEST(credentials_file_and_precedence) {
    clear_env();
    const char *text = "# hqcnn credentials\n"
                       "[ionq]\n"
                       "api_key = \"ionq-file-key-42\"\n"
                       "\n"
                       "; IBM\n"
                       "[ibm]\r\n"
                       "  api_key=ibm-file-key-77  \r\n"
                       "crn = crn:v1:x::\n"
                       "[aws]\n"
                       "access_key_id = AKIAFILE\n"
                       "secret_access_key = s3cr3t/file+key\n"
                       "region = ap-southeast-2\n";
    const char *p = write_private("credentials", text, 0600);
    hq_credentials *c = NULL;
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IONQ, p, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ionq-file-key-42");
    HQ_CHECK_STR(hq_credentials_source(c), p);
    hq_credentials_free(c);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IBM, p, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ibm-file-key-77");
    HQ_CHECK_STR(hq_credentials_get(c, "crn"), "crn:v1:x::");
    hq_credentials_free(c);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_AWS, p, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "secret_access_key"), "s3cr3t/file+key");
    HQ_CHECK_STR(hq_credentials_get(c, "region"), "ap-southeast-2");
    hq_credentials_free(c);
    /* the environment wins per field; the file fills the rest */
    setenv("IBM_QUANTUM_API_KEY", "ibm-env-key-1", 1);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IBM, p, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ibm-env-key-1");
    HQ_CHECK_STR(hq_credentials_get(c, "crn"), "crn:v1:x::");
    HQ_CHECK(strstr(hq_credentials_source(c), "environment + ") == hq_credentials_source(c));
    hq_credentials_free(c);
    /* default search: $HQCNN_CREDENTIALS */
    setenv("HQCNN_CREDENTIALS", p, 1);
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IONQ, NULL, &c));
    HQ_CHECK_STR(hq_credentials_get(c, "api_key"), "ionq-file-key-42");
    hq_credentials_free(c);
    char path[512];
    HQ_CHECK_OK(hq_credentials_default_path(path, sizeof path));
    HQ_CHECK_STR(path, p);
    unsetenv("HQCNN_CREDENTIALS");
    setenv("XDG_CONFIG_HOME", "/cfg", 1);
    HQ_CHECK_OK(hq_credentials_default_path(path, sizeof path));
    HQ_CHECK_STR(path, "/cfg/hqcnn/credentials");
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/u", 1);
    HQ_CHECK_OK(hq_credentials_default_path(path, sizeof path));
    HQ_CHECK_STR(path, "/home/u/.config/hqcnn/credentials");
}

HQ_TEST(credentials_errors) {
    clear_env();
    hq_credentials *c = NULL;
    /* nothing anywhere: the message names the variable, the key and the file */
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, NULL, &c), HQ_ERR_AUTH,
                   "no IonQ api_key: set IONQ_API_KEY, or add 'api_key = ...' under [ionq]");
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IBM, NULL, &c), HQ_ERR_AUTH,
                   "set IBM_QUANTUM_API_KEY or IBM_CLOUD_API_KEY");
    setenv("AWS_ACCESS_KEY_ID", "AKIDONLY", 1);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_AWS, NULL, &c), HQ_ERR_AUTH,
                   "no AWS secret_access_key: set AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_ACCESS_KEY_ID");
    HQ_CHECK(c == NULL);
    /* group/other-readable file */
    const char *p = write_private("loose", "[ionq]\napi_key = k-1234567\n", 0644);
    static char wantbuf[700];
    const char *want = wantbuf;
    snprintf(wantbuf, sizeof wantbuf, "(mode 0644); refusing to use it ---> HINT: chmod 600 %s", p);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, p, &c), HQ_ERR_AUTH, want);
    chmod(p, 0640);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, p, &c), HQ_ERR_AUTH, "chmod 600");
    chmod(p, 0602);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, p, &c), HQ_ERR_AUTH, "mode 0602");
    chmod(p, 0400);
    HQ_CHECK_OK(hq_credentials_load(HQ_CRED_IONQ, p, &c));
    hq_credentials_free(c);
    /* a file the default search finds is checked the same way */
    setenv("HQCNN_CREDENTIALS", p, 1);
    chmod(p, 0604);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, NULL, &c), HQ_ERR_AUTH, "chmod 600");
    unsetenv("HQCNN_CREDENTIALS");
    /* owned by someone else (can only be arranged as root) */
    if (geteuid() == 0) {
        const char *o = write_private("other", "[ionq]\napi_key = k-1234567\n", 0600);
        if (chown(o, 65534, 65534) == 0)
            HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, o, &c), HQ_ERR_AUTH,
                           "is owned by uid 65534, not by you");
    }
    /* not a regular file; missing explicit file */
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, hq_test_tmpdir(), &c), HQ_ERR_AUTH,
                   "is not a regular file");
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, hq_test_tmpfile("absent"), &c), HQ_ERR_IO,
                   "cannot open");
    /* malformed lines: line number, never the text */
    const char *bad = write_private("bad1", "[ionq]\nk-SECRETLINE-99\n", 0600);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, bad, &c), HQ_ERR_PARSE,
                   ":2: expected 'key = value'");
    HQ_CHECK(strstr(hq_last_error(), "SECRETLINE") == NULL);
    bad = write_private("bad2", "[ionq\napi_key = x\n", 0600);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, bad, &c), HQ_ERR_PARSE,
                   ":1: malformed section header");
    bad = write_private("bad3", "[aws]\nsecret_key = zzzz\n", 0600);
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_AWS, bad, &c), HQ_ERR_PARSE,
                   ":2: unknown key in [aws] (known: access_key_id, secret_access_key, "
                   "session_token, region)");
    /* other sections' unknown keys are not our business */
    const char *ok = write_private("ok", "[other]\nwhatever = 1\n[ionq]\napi_key = k-5555\n", 0600);
    HQ_CHECK_OK(hq_credentials_load(HQ_CRED_IONQ, ok, &c));
    hq_credentials_free(c);
    HQ_CHECK_FAILS(hq_credentials_load((hq_cred_provider)7, NULL, &c), HQ_ERR_INVALID_ARG,
                   "provider 7 out of range");
    HQ_CHECK_FAILS(hq_credentials_load(HQ_CRED_IONQ, NULL, NULL), HQ_ERR_INVALID_ARG,
                   "out is NULL");
    HQ_CHECK_STR(hq_cred_provider_name(HQ_CRED_AWS), "aws");
}

/* Everything the client can print, with a planted key: errors, logs, debug output. */
HQ_TEST(credentials_fake_key_never_printed) {
    clear_env();
    setenv("IONQ_API_KEY", FAKE_KEY, 1);
    hq_credentials *c = NULL;
    HQ_REQUIRE_OK(hq_credentials_load(HQ_CRED_IONQ, NULL, &c));
    const char *logpath = hq_test_tmpfile("log.txt");
    FILE *lf = fopen(logpath, "w+");
    HQ_REQUIRE(lf);
    hq_log_set_file(lf);
    hq_log_set_level(HQ_LOG_DEBUG); /* libcurl verbose output goes to the log */

    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    char auth[128];
    snprintf(auth, sizeof auth, "apiKey %s", hq_credentials_get(c, "api_key"));
    /* the server echoes the key back in an error body and in a plain-text page */
    char echo[256];
    snprintf(echo, sizeof echo, "{\"error\":\"Unauthorized\",\"message\":\"key %s is not valid\"}",
             FAKE_KEY);
    char echo2[256];
    snprintf(echo2, sizeof echo2, "bad key %s", FAKE_KEY);
    hq_ts_action a[] = {{.status = 200, .body = "{}"},
                        {.status = 401, .body = echo},
                        {.status = 503, .body = echo2, .content_type = "text/plain"},
                        {.status = 400, .body = echo2, .content_type = "text/plain"}};
    hq_ts_script(s, a, 4);
    hq_http_options o = {0};
    o.policy.max_tries = 2;
    o.policy.base_delay_s = 0.001;
    hq_http *h = NULL;
    HQ_REQUIRE_OK(hq_http_create(&o, &h));
    hq_http_header hd[] = {{"Authorization", auth}, {"Content-Type", "application/json"}};
    hq_http_request rq = {.method = HQ_HTTP_POST,
                          .url = hq_ts_url(s, "/v0.3/jobs"),
                          .headers = hd,
                          .n_headers = 2,
                          .body = "{\"name\":\"x\"}",
                          .body_len = 12,
                          .idempotent = true};
    hq_http_response rs;
    char msgs[4][HQ_ERRMSG_MAX];
    for (int i = 0; i < 3; i++) {
        hq_clear_error();
        hq_http_perform(h, &rq, &rs);
        hq_http_response_free(&rs);
        snprintf(msgs[i], sizeof msgs[i], "%s", hq_errmsg(h));
    }
    /* the server did receive the key (so the test is not vacuous) */
    HQ_CHECK(strstr(hq_ts_get_request(s, 0).authorization, FAKE_KEY) != NULL);
    HQ_CHECK(strstr(msgs[1], "HTTP 401") != NULL);
    HQ_CHECK(strstr(msgs[1], "key *** is not valid") != NULL);
    /* a loader error that would print the file's line does not either */
    const char *bad = write_private("bad", "[ionq]\n" FAKE_KEY "\n", 0600);
    hq_credentials *c2 = NULL;
    hq_credentials_load(HQ_CRED_IONQ, bad, &c2);
    snprintf(msgs[3], sizeof msgs[3], "%s", hq_last_error());
    hq_http_free(h);
    hq_ts_stop(s);
    hq_log_set_file(NULL);
    fflush(lf);
    fseek(lf, 0, SEEK_SET);
    static char logbuf[1 << 20];
    size_t n = fread(logbuf, 1, sizeof logbuf - 1, lf);
    logbuf[n] = 0;
    fclose(lf);
    HQ_CHECK(n > 0);
    HQ_CHECK(strstr(logbuf, "Authorization: [redacted]") != NULL); /* debug output ran */
    HQ_CHECK(strstr(logbuf, FAKE_KEY) == NULL);
    for (int i = 0; i < 4; i++) HQ_CHECKF(!strstr(msgs[i], FAKE_KEY), "message %d leaks", i);
    /* registration is what masks it when a server echoes it */
    hq_credentials_free(c);
}
