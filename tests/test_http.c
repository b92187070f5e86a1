/*
 * tests/test_http.c — backends/http: URL policy, Retry-After parsing, provider error
 * extraction, and end-to-end requests against a scripted loopback server (200, 429 with
 * Retry-After in seconds and as an HTTP-date, 5xx HTML pages, dropped connections, slow
 * responses past the timeout, truncated bodies, 4xx), with virtual sleeping so backoff
 * decisions are checked without waiting.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "backends/http.h"
#include "tests/hq_test.h"
#include "tests/hq_test_server.h"

/* ==== helpers ========================================================================== */

typedef struct rec {
    int n;                 /* attempts recorded */
    hq_http_attempt a[32]; /* their outcomes */
    int n_sleep;
    double slept[32]; /* virtual sleeps, seconds */
    double now;       /* virtual wall clock */
} rec;

static void rec_sleep(void *u, double s) {
    rec *r = u;
    if (r->n_sleep < 32) r->slept[r->n_sleep++] = s;
}
static double rec_now(void *u) { return ((rec *)u)->now; }
static void rec_attempt(void *u, const hq_http_attempt *a) {
    rec *r = u;
    if (r->n < 32) r->a[r->n++] = *a;
}

static hq_http *mk_client(rec *r, int max_tries, long timeout_ms) {
    hq_http_options o = {0};
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 2000;
    o.policy.max_tries = max_tries;
    o.policy.base_delay_s = 1;
    o.policy.max_delay_s = 60;
    o.hooks.sleep = rec_sleep;
    o.hooks.wall_now = rec_now;
    o.hooks.on_attempt = rec_attempt;
    o.hooks.user = r;
    hq_http *h = NULL;
    if (hq_http_create(&o, &h) != HQ_OK) return NULL;
    return h;
}

static hq_status do_req(hq_http *h, hq_http_method m, const char *url, const char *body, bool idem,
                        hq_http_response *rs) {
    hq_http_header hd[] = {{"Content-Type", "application/json"}, {"X-Test", "t1"}};
    hq_http_request rq = {.method = m,
                          .url = url,
                          .headers = hd,
                          .n_headers = 2,
                          .body = body,
                          .body_len = body ? strlen(body) : 0,
                          .idempotent = idem};
    return hq_http_perform(h, &rq, rs);
}

static const char *html503 =
    "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
    "<body><h1>Service Unavailable</h1><p>cloudflare ray id 8a1b</p></body></html>";

/* ==== pure helpers ===================================================================== */

HQ_TEST(http_retry_after_parse) {
    /* 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT (RFC 9110 example date) */
    double now = 1445412480.0;
    HQ_CHECK_NEAR(hq_http_parse_retry_after("120", now), 120, 0);
    HQ_CHECK_NEAR(hq_http_parse_retry_after(" 0", now), 0, 0);
    HQ_CHECK_NEAR(hq_http_parse_retry_after("Wed, 21 Oct 2015 07:28:07 GMT", now), 7, 0);
    /* obsolete RFC 850 and asctime forms of the same instant + 60 s */
    HQ_CHECK_NEAR(hq_http_parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now), 60, 0);
    HQ_CHECK_NEAR(hq_http_parse_retry_after("Wed Oct 21 07:29:00 2015", now), 60, 0);
    /* a date in the past means "now" */
    HQ_CHECK_NEAR(hq_http_parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now), 0, 0);
    HQ_CHECK(hq_http_parse_retry_after("soon", now) < 0);
    HQ_CHECK(hq_http_parse_retry_after("12abc", now) < 0);
    HQ_CHECK(hq_http_parse_retry_after("", now) < 0);
    HQ_CHECK(hq_http_parse_retry_after(NULL, now) < 0);
    HQ_CHECK(hq_http_parse_retry_after("99999999999999", now) < 0);
}

HQ_TEST(http_url_policy) {
    HQ_CHECK_OK(hq_http_check_url("https://api.ionq.co/v0.3/jobs"));
    HQ_CHECK_OK(hq_http_check_url("http://127.0.0.1:8080/v0.3/jobs"));
    HQ_CHECK_OK(hq_http_check_url("http://127.3.2.1/x"));
    HQ_CHECK_OK(hq_http_check_url("http://localhost:9/x"));
    HQ_CHECK_OK(hq_http_check_url("http://[::1]:9/x"));
    HQ_CHECK(hq_http_url_is_loopback("http://LOCALHOST/"));
    HQ_CHECK(!hq_http_url_is_loopback("https://api.ionq.co/"));
    HQ_CHECK_FAILS(hq_http_check_url("http://api.ionq.co/v0.3/jobs"), HQ_ERR_INVALID_ARG,
                   "refusing plain http:// to non-loopback host 'api.ionq.co'");
    HQ_CHECK_FAILS(hq_http_check_url("http://127.0.0.1.evil.example/x"), HQ_ERR_INVALID_ARG,
                   "non-loopback host");
    HQ_CHECK_FAILS(hq_http_check_url("http://10.0.0.1/x"), HQ_ERR_INVALID_ARG, "clear text");
    HQ_CHECK_FAILS(hq_http_check_url("ftp://127.0.0.1/x"), HQ_ERR_INVALID_ARG,
                   "unsupported URL scheme 'ftp'");
    HQ_CHECK_FAILS(hq_http_check_url("https://user:pw@api.ionq.co/"), HQ_ERR_INVALID_ARG,
                   "never in URLs");
    HQ_CHECK_FAILS(hq_http_check_url("not a url"), HQ_ERR_INVALID_ARG, "malformed URL");
    HQ_CHECK_FAILS(hq_http_check_url(NULL), HQ_ERR_INVALID_ARG, "URL is NULL");
}

HQ_TEST(http_url_encode) {
    hq_sbuf b = HQ_SBUF_INIT;
    hq_http_url_encode(&b, "arn:aws:braket:us-east-1:123456789012:quantum-task/ab-c_d.e~f", NULL);
    HQ_CHECK_STR(b.p, "arn%3Aaws%3Abraket%3Aus-east-1%3A123456789012%3Aquantum-task%2Fab-c_d.e~f");
    hq_sbuf_reset(&b);
    hq_http_url_encode(&b, "/a b/\xe1\x88\xb4", "/");
    HQ_CHECK_STR(b.p, "/a%20b/%E1%88%B4");
    hq_sbuf_free(&b);
}

HQ_TEST(http_error_message_shapes) {
    char m[400];
    /* IonQ documented shape */
    const char *b1 = "{\"error\":\"Bad Request\",\"message\":\"qubits must be <= 29\","
                     "\"statusCode\":400}";
    HQ_CHECK_STR(hq_http_error_message(b1, strlen(b1), "application/json", 400, m, sizeof m),
                 "Bad Request: qubits must be <= 29");
    const char *b2 = "{\"code\":401,\"message\":\"Invalid key\"}";
    HQ_CHECK_STR(hq_http_error_message(b2, strlen(b2), NULL, 401, m, sizeof m), "Invalid key");
    const char *b3 = "{\"error\":{\"type\":\"NotFoundError\",\"message\":\"job not found\"}}";
    HQ_CHECK_STR(hq_http_error_message(b3, strlen(b3), NULL, 404, m, sizeof m),
                 "NotFoundError: job not found");
    /* IBM errors[] */
    const char *b4 = "{\"errors\":[{\"code\":1002,\"message\":\"circuits do not match the "
                     "target definition\",\"more_info\":\"https://x\"}],\"trace\":\"abc\"}";
    HQ_CHECK_STR(hq_http_error_message(b4, strlen(b4), NULL, 400, m, sizeof m),
                 "circuits do not match the target definition (code 1002)");
    /* AWS */
    const char *b5 = "{\"__type\":\"com.amazonaws#ValidationException\",\"message\":\"shots "
                     "must be > 0\"}";
    HQ_CHECK_STR(hq_http_error_message(b5, strlen(b5), NULL, 400, m, sizeof m),
                 "ValidationException: shots must be > 0");
    const char *b6 = "{\"Message\":\"User is not authorized\"}";
    HQ_CHECK_STR(hq_http_error_message(b6, strlen(b6), NULL, 403, m, sizeof m),
                 "User is not authorized");
    /* HTML never dumped */
    HQ_CHECK_STR(hq_http_error_message(html503, strlen(html503), "text/html", 503, m, sizeof m),
                 "the server returned an HTML error page (status 503)");
    HQ_CHECK_STR(hq_http_error_message("  <html>", 8, NULL, 520, m, sizeof m),
                 "the server returned an HTML error page (status 520)");
    /* plain text: first line, control characters removed, truncated */
    const char *b7 = "upstream\tconnect error\nsecond line";
    HQ_CHECK_STR(hq_http_error_message(b7, strlen(b7), "text/plain", 502, m, sizeof m),
                 "upstream connect error");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    hq_http_error_message(big, strlen(big), NULL, 500, m, sizeof m);
    HQ_CHECK(strlen(m) <= 300);
    HQ_CHECK(strstr(m, "...") != NULL);
    HQ_CHECK_STR(hq_http_error_message("", 0, NULL, 500, m, sizeof m), "(empty body)");
}

HQ_TEST(http_bad_arguments) {
    hq_http *h = NULL;
    hq_http_options o = {0};
    o.policy.max_tries = 99;
    HQ_CHECK_FAILS(hq_http_create(&o, &h), HQ_ERR_INVALID_ARG, "max_tries 99 out of range");
    o.policy.max_tries = 0;
    o.policy.jitter = 2;
    HQ_CHECK_FAILS(hq_http_create(&o, &h), HQ_ERR_INVALID_ARG, "jitter 2 out of range");
    o.policy.jitter = 0;
    o.timeout_ms = -1;
    HQ_CHECK_FAILS(hq_http_create(&o, &h), HQ_ERR_INVALID_ARG, "timeouts must be >= 0");
    HQ_CHECK_FAILS(hq_http_create(NULL, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    HQ_REQUIRE_OK(hq_http_create(NULL, &h));
    hq_http_response rs;
    hq_http_request rq = {.method = HQ_HTTP_GET, .url = "http://127.0.0.1:1/"};
    hq_http_header bad[] = {{"X-Evil", "a\r\nInjected: 1"}};
    rq.headers = bad;
    rq.n_headers = 1;
    HQ_CHECK_FAILS(hq_http_perform(h, &rq, &rs), HQ_ERR_INVALID_ARG, "header 0 ('X-Evil')");
    hq_http_response_free(&rs);
    rq.n_headers = 0;
    rq.method = (hq_http_method)9;
    HQ_CHECK_FAILS(hq_http_perform(h, &rq, &rs), HQ_ERR_INVALID_ARG, "method 9 out of range");
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(hq_http_perform(NULL, &rq, &rs), HQ_ERR_MISUSE, "invalid handle");
    hq_http_free(h);
    hq_http_free(NULL);
}

HQ_TEST(http_create_oom) {
    for (long n = 1; n < 20; n++) {
        hq_http *h = NULL;
        hq_alloc_fail_after(n);
        hq_status st = hq_http_create(NULL, &h);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!fired) {
            HQ_CHECK_OK(st);
            hq_http_free(h);
            break;
        }
        HQ_CHECK_EQ_INT(st, HQ_ERR_NOMEM);
        HQ_CHECK(h == NULL);
    }
}

/* ==== end to end ======================================================================= */

HQ_TEST(http_e2e_ok_and_request_shape) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 5, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.status = 200, .body = "{\"id\":\"aa54\",\"status\":\"ready\"}"},
                        {.status = 201, .body = "{\"ok\":true}", .content_type = "text/x-odd"}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/v0.3/jobs/aa54"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.status, 200);
    HQ_CHECK_STR(rs.body, "{\"id\":\"aa54\",\"status\":\"ready\"}");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    char ct[64];
    HQ_CHECK(hq_http_response_header(&rs, "content-type", ct, sizeof ct));
    HQ_CHECK_STR(ct, "application/json");
    HQ_CHECK(!hq_http_response_header(&rs, "Retry-After", ct, sizeof ct));
    hq_http_response_free(&rs);
    const char *body = "{\"target\":\"simulator\",\"shots\":100}";
    HQ_CHECK_OK(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/v0.3/jobs"), body, false, &rs));
    HQ_CHECK_EQ_INT(rs.status, 201);
    HQ_CHECK(hq_http_response_header(&rs, "Content-Type", ct, sizeof ct));
    HQ_CHECK_STR(ct, "text/x-odd");
    hq_http_response_free(&rs);
    HQ_REQUIRE(hq_ts_count(s) == 2);
    hq_ts_request q0 = hq_ts_get_request(s, 0), q1 = hq_ts_get_request(s, 1);
    HQ_CHECK_STR(q0.method, "GET");
    HQ_CHECK_STR(q0.url, "/v0.3/jobs/aa54");
    HQ_CHECK_STR(q0.extra, "t1");
    HQ_CHECK_STR(q1.method, "POST");
    HQ_CHECK_STR(q1.content_type, "application/json");
    HQ_CHECK_STR(q1.body, body);
    /* PUT and DELETE and PATCH reach the server with their method */
    hq_ts_action b[] = {{.status = 200}, {.status = 204}, {.status = 200}};
    hq_ts_script(s, b, 3);
    HQ_CHECK_OK(
        do_req(h, HQ_HTTP_PUT, hq_ts_url(s, "/v0.3/jobs/x/status/cancel"), NULL, false, &rs));
    hq_http_response_free(&rs);
    HQ_CHECK_OK(do_req(h, HQ_HTTP_DELETE, hq_ts_url(s, "/v0.3/jobs/x"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.status, 204);
    HQ_CHECK_EQ_INT(rs.body_len, 0);
    HQ_CHECK_STR(rs.body, "");
    hq_http_response_free(&rs);
    HQ_CHECK_OK(do_req(h, HQ_HTTP_PATCH, hq_ts_url(s, "/api/v1/sessions/s1"),
                       "{\"accepting_jobs\":false}", false, &rs));
    hq_http_response_free(&rs);
    HQ_CHECK_STR(hq_ts_get_request(s, 0).method, "PUT");
    HQ_CHECK_STR(hq_ts_get_request(s, 1).method, "DELETE");
    HQ_CHECK_STR(hq_ts_get_request(s, 2).method, "PATCH");
    HQ_CHECK_STR(hq_ts_get_request(s, 2).body, "{\"accepting_jobs\":false}");
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_429_retry_after_seconds) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 5, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {
        {.status = 429, .body = "{\"error\":\"Too Many Requests\"}", .retry_after = "3"},
        {.status = 429, .body = "{}", .retry_after = "1"},
        {.status = 200, .body = "{\"id\":\"j1\"}"}};
    hq_ts_script(s, a, 3);
    hq_http_response rs;
    /* a 429 was not acted on: even a plain POST is retried */
    HQ_CHECK_OK(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/v0.3/jobs"), "{}", false, &rs));
    HQ_CHECK_EQ_INT(rs.status, 200);
    HQ_CHECK_EQ_INT(rs.attempts, 3);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n_sleep, 2);
    HQ_CHECK_NEAR(r.slept[0], 3, 0);
    HQ_CHECK_NEAR(r.slept[1], 1, 0);
    HQ_CHECK_EQ_INT(r.n, 3);
    HQ_CHECK(r.a[0].from_retry_after && r.a[0].will_retry && r.a[0].status == 429);
    HQ_CHECK(!r.a[2].will_retry && r.a[2].status == 200);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 3);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_429_retry_after_http_date) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {.now = 1445412480.0}; /* Wed, 21 Oct 2015 07:28:00 GMT */
    hq_http *h = mk_client(&r, 5, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.status = 429, .retry_after = "Wed, 21 Oct 2015 07:28:07 GMT"},
                        {.status = 200, .body = "{}"}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n_sleep, 1);
    HQ_CHECK_NEAR(r.slept[0], 7, 0);
    /* a Retry-After beyond the client's limit is not waited for */
    r = (rec){.now = 1445412480.0};
    hq_ts_action b[] = {{.status = 429,
                         .retry_after = "3600",
                         .body = "{\"message\":\"slow "
                                 "down\"}"}};
    hq_ts_script(s, b, 1);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "retry after 3600 s, more than the 120 s");
    HQ_CHECK_EQ_INT(rs.status, 429);
    HQ_CHECK_NEAR(rs.retry_after_s, 3600, 0);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n_sleep, 0);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_backoff_without_retry_after) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http_options o = {0};
    o.policy.max_tries = 8;
    o.policy.base_delay_s = 2;
    o.policy.max_delay_s = 10;
    o.policy.jitter = 0.5;
    o.hooks = (hq_http_hooks){.sleep = rec_sleep, .on_attempt = rec_attempt, .user = &r};
    hq_http *h = NULL;
    HQ_REQUIRE_OK(hq_http_create(&o, &h));
    hq_ts_action a[8];
    for (int i = 0; i < 8; i++) a[i] = (hq_ts_action){.status = 429, .body = "{}"};
    hq_ts_script(s, a, 8);
    hq_http_response rs;
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "HTTP 429");
    HQ_CHECK(strstr(hq_last_error(), "after 8 attempts") != NULL);
    HQ_CHECK_EQ_INT(rs.attempts, 8);
    hq_http_response_free(&rs);
    HQ_REQUIRE(r.n_sleep == 7);
    /* sleep k (k = 1..7) is in (d_k (1 - jitter), d_k] with d_k = min(10, 2 * 2^(k-1)) */
    bool varied = false;
    for (int k = 1; k <= 7; k++) {
        double dk = fmin(10.0, 2.0 * ldexp(1.0, k - 1));
        HQ_CHECKF(r.slept[k - 1] > dk * 0.5 - 1e-12 && r.slept[k - 1] <= dk,
                  "sleep %d = %g outside (%g, %g]", k, r.slept[k - 1], dk * 0.5, dk);
        HQ_CHECK(!r.a[k - 1].from_retry_after);
        if (fabs(r.slept[k - 1] - dk) > 1e-9) varied = true;
    }
    HQ_CHECK(varied); /* jitter is applied */
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_5xx_html) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 3, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.status = 503, .body = html503, .content_type = "text/html"},
                        {.status = 520, .body = html503, .content_type = "text/html"},
                        {.status = 200, .body = "{}"}};
    hq_ts_script(s, a, 3);
    hq_http_response rs;
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 3);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n_sleep, 2);
    /* exhausted: the message names the HTML page, never its text */
    hq_ts_action b[] = {{.status = 500, .body = html503, .content_type = "text/html"},
                        {.status = 502, .body = html503, .content_type = "text/html"},
                        {.status = 503, .body = html503, .content_type = "text/html"}};
    hq_ts_script(s, b, 3);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "HTTP 503: the server returned an HTML error page (status 503) (after 3 "
                   "attempts)");
    HQ_CHECK(strstr(hq_last_error(), "cloudflare") == NULL);
    HQ_CHECK(strstr(hq_errmsg(h), "HTML error page") != NULL);
    hq_http_response_free(&rs);
    /* 501 is not retried */
    hq_ts_action c[] = {{.status = 501, .body = "{\"message\":\"nope\"}"}};
    hq_ts_script(s, c, 1);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "HTTP 501: nope");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_post_not_retried_unless_idempotent) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 4, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.status = 503, .body = "{\"message\":\"overloaded\"}"},
                        {.status = 200, .body = "{}"}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/jobs"), "{}", false, &rs), HQ_ERR_HTTP,
                   "HTTP 503: overloaded; not retried: POST is not idempotent");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n_sleep, 0);
    /* marked idempotent (client token): retried */
    hq_ts_script(s, a, 2);
    HQ_CHECK_OK(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/jobs"), "{}", true, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 2);
    hq_http_response_free(&rs);
    /* PATCH likewise */
    hq_ts_script(s, a, 2);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_PATCH, hq_ts_url(s, "/s"), "{}", false, &rs), HQ_ERR_HTTP,
                   "PATCH is not idempotent");
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_dropped_connection) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 3, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.kind = HQ_TS_DROP}, {.status = 200, .body = "{\"ok\":1}"}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    HQ_CHECK_STR(rs.body, "{\"ok\":1}");
    hq_http_response_free(&rs);
    HQ_CHECK(r.a[0].transport == HQ_ERR_NETWORK && r.a[0].status == 0 && r.a[0].will_retry);
    /* a POST whose connection dropped after sending is not repeated */
    hq_ts_script(s, a, 2);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/jobs"), "{\"a\":1}", false, &rs),
                   HQ_ERR_NETWORK, "look the job up by its client token");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    HQ_CHECK_EQ_INT(rs.status, 0);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1); /* and libcurl did not re-send it either */
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_timeout) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 2, 300);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {{.kind = HQ_TS_SLOW, .delay_ms = 1500, .body = "{}"},
                        {.status = 200, .body = "{\"late\":false}"}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    double t0 = hq_time_now();
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs));
    HQ_CHECK(hq_time_now() - t0 < 1.4);
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    HQ_CHECK(r.a[0].transport == HQ_ERR_TIMEOUT);
    hq_http_response_free(&rs);
    hq_ts_action b[] = {{.kind = HQ_TS_SLOW, .delay_ms = 1500},
                        {.kind = HQ_TS_SLOW, .delay_ms = 1500}};
    hq_ts_script(s, b, 2);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_TIMEOUT,
                   "Timeout was reached");
    HQ_CHECK(strstr(hq_last_error(), "after 2 attempts") != NULL);
    hq_http_response_free(&rs);
    /* per-request timeout and max_tries overrides */
    hq_ts_script(s, b, 1);
    hq_http_request rq = {
        .method = HQ_HTTP_GET, .url = hq_ts_url(s, "/x"), .timeout_ms = 200, .max_tries = 1};
    HQ_CHECK_FAILS(hq_http_perform(h, &rq, &rs), HQ_ERR_TIMEOUT, "GET http://127.0.0.1");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_truncated_body) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 3, 5000);
    HQ_REQUIRE(h);
    const char *full = "{\"0\":0.25,\"1\":0.25,\"2\":0.25,\"3\":0.25,\"pad\":\"xxxxxxxxxxxx\"}";
    hq_ts_action a[] = {{.kind = HQ_TS_TRUNCATE, .status = 200, .body = full},
                        {.status = 200, .body = full}};
    hq_ts_script(s, a, 2);
    hq_http_response rs;
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/results"), NULL, false, &rs));
    HQ_CHECK_STR(rs.body, full);
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    hq_http_response_free(&rs);
    hq_ts_script(s, a, 1);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/jobs"), "{}", false, &rs), HQ_ERR_NETWORK,
                   "POST http://127.0.0.1");
    HQ_CHECK_EQ_INT(rs.attempts, 1);
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_4xx_final) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    rec r = {0};
    hq_http *h = mk_client(&r, 5, 5000);
    HQ_REQUIRE(h);
    hq_ts_action a[] = {
        {.status = 400,
         .body = "{\"error\":\"Bad Request\",\"message\":\"unknown gate 'foo'\",\"statusCode\":"
                 "400}"},
        {.status = 401, .body = "{\"error\":\"Unauthorized\",\"message\":\"invalid key\"}"},
        {.status = 403,
         .body = "{\"errors\":[{\"code\":1201,\"message\":\"Invalid "
                 "credentials\"}]}"},
        {.status = 404, .body = "{\"message\":\"job not found\"}"},
        {.status = 409, .body = "{\"message\":\"dns 1001\"}"}};
    hq_ts_script(s, a, 5);
    hq_http_response rs;
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_POST, hq_ts_url(s, "/v0.3/jobs"), "{}", true, &rs),
                   HQ_ERR_HTTP, "POST http://127.0.0.1");
    HQ_CHECK(strstr(hq_last_error(), "/v0.3/jobs: HTTP 400: Bad Request: unknown gate 'foo'"));
    HQ_CHECK_EQ_INT(rs.status, 400);
    HQ_CHECK(strstr(rs.body, "statusCode") != NULL); /* the raw body is still available */
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_AUTH,
                   "HTTP 401: Unauthorized: invalid key");
    HQ_CHECK(strstr(hq_last_error(), "HINT: check the API key") != NULL);
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_AUTH,
                   "HTTP 403: Invalid credentials (code 1201)");
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "HTTP 404: job not found");
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "HTTP 409: dns 1001");
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(hq_ts_count(s), 5); /* no retries */
    HQ_CHECK_EQ_INT(r.n_sleep, 0);
    hq_http_free(h);
    /* with retry_409_get, a 409 GET is retried (IonQ) */
    hq_http_options o = {0};
    o.policy.retry_409_get = true;
    o.hooks = (hq_http_hooks){.sleep = rec_sleep, .user = &r};
    HQ_REQUIRE_OK(hq_http_create(&o, &h));
    hq_ts_action b[] = {{.status = 409, .body = "{}"}, {.status = 200, .body = "{}"}};
    hq_ts_script(s, b, 2);
    HQ_CHECK_OK(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs));
    HQ_CHECK_EQ_INT(rs.attempts, 2);
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}

HQ_TEST(http_e2e_refuses_plain_http_remote) {
    rec r = {0};
    hq_http *h = mk_client(&r, 3, 1000);
    HQ_REQUIRE(h);
    hq_http_response rs;
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, "http://api.ionq.co/v0.3/jobs", NULL, false, &rs),
                   HQ_ERR_INVALID_ARG, "refusing plain http://");
    HQ_CHECK_EQ_INT(rs.attempts, 0);
    hq_http_response_free(&rs);
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, "http://192.168.1.10:8080/x", NULL, false, &rs),
                   HQ_ERR_INVALID_ARG, "non-loopback host '192.168.1.10'");
    hq_http_response_free(&rs);
    HQ_CHECK_EQ_INT(r.n, 0); /* nothing was attempted */
    hq_http_free(h);
}

HQ_TEST(http_e2e_connection_refused) {
    /* a port nobody listens on: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    HQ_REQUIRE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    HQ_REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    HQ_REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    int port = ntohs(sa.sin_port);
    close(fd);
    rec r = {0};
    hq_http *h = mk_client(&r, 3, 1000);
    HQ_REQUIRE(h);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/jobs", port);
    hq_http_response rs;
    /* nothing was sent: retried even for a POST */
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_POST, url, "{}", false, &rs), HQ_ERR_NETWORK,
                   "Couldn't connect to server");
    HQ_CHECK_EQ_INT(rs.attempts, 3);
    HQ_CHECK_EQ_INT(r.n_sleep, 2);
    HQ_CHECK(strstr(hq_last_error(), "client token") == NULL);
    hq_http_response_free(&rs);
    hq_http_free(h);
}

HQ_TEST(http_e2e_body_limit) {
    hq_ts_server *s = hq_ts_start();
    HQ_REQUIRE(s);
    hq_http_options o = {0};
    o.max_body_bytes = 100;
    hq_http *h = NULL;
    HQ_REQUIRE_OK(hq_http_create(&o, &h));
    char big[1001];
    memset(big, 'a', 1000);
    big[1000] = 0;
    hq_ts_action a[] = {{.status = 200, .body = big}};
    hq_ts_script(s, a, 1);
    hq_http_response rs;
    HQ_CHECK_FAILS(do_req(h, HQ_HTTP_GET, hq_ts_url(s, "/x"), NULL, false, &rs), HQ_ERR_HTTP,
                   "larger than the limit of 100 bytes");
    HQ_CHECK_EQ_INT(hq_ts_count(s), 1);
    hq_http_response_free(&rs);
    hq_http_free(h);
    hq_ts_stop(s);
}
