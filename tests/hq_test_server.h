/*
 * tests/hq_test_server.h — a scripted HTTP server for client tests (libmicrohttpd, bound to
 * 127.0.0.1 on an ephemeral port, one thread per connection).
 *
 *     hq_ts_server *s = hq_ts_start();
 *     hq_ts_action a[] = {{.status = 429, .retry_after = "2"},
 *                         {.status = 200, .body = "{\"id\":\"x\"}"}};
 *     hq_ts_script(s, a, 2);                       // answers in order, then 599 "unscripted"
 *     ... client calls hq_ts_url(s, "/v0.3/jobs") ...
 *     hq_ts_request r = hq_ts_get_request(s, 0);    // what the client sent
 *     hq_ts_stop(s);
 *
 * Actions: a normal response, a dropped connection (no reply), a response delayed past
 * the client's timeout, or a body cut short of its Content-Length.
 */
#ifndef HQ_TEST_SERVER_H
#define HQ_TEST_SERVER_H

#include <stddef.h>

typedef enum hq_ts_kind {
    HQ_TS_RESPOND = 0, /* send status + body */
    HQ_TS_DROP,        /* close the connection without a reply */
    HQ_TS_SLOW,        /* wait delay_ms, then respond */
    HQ_TS_TRUNCATE,    /* announce the full body length, send half, close */
} hq_ts_kind;

typedef struct hq_ts_action {
    hq_ts_kind kind;
    int status;               /* HTTP status (0 = 200) */
    const char *body;         /* response body ("" if NULL); copied by hq_ts_script */
    const char *content_type; /* default application/json */
    const char *retry_after;  /* Retry-After header value, NULL = none */
    long delay_ms;            /* HQ_TS_SLOW */
} hq_ts_action;

#define HQ_TS_MAX_REQUESTS 64

typedef struct hq_ts_request {
    char method[16];
    char url[512];           /* path and query as received */
    char authorization[512]; /* Authorization header ("" if none) */
    char content_type[128];  /* Content-Type header */
    char extra[256];         /* X-Test header */
    char host[128];          /* Host header */
    char amz_date[32];       /* X-Amz-Date header (SigV4 checks) */
    char *body;              /* request body (owned by the server, NUL-terminated) */
    size_t body_len;
} hq_ts_request;

typedef struct hq_ts_server hq_ts_server;

/* Start on 127.0.0.1:0; NULL if the server cannot start (the reason is printed). */
hq_ts_server *hq_ts_start(void);
void hq_ts_stop(hq_ts_server *s);
int hq_ts_port(const hq_ts_server *s);
/* "http://127.0.0.1:PORT" + path, in a rotating static buffer (8 deep). */
const char *hq_ts_url(const hq_ts_server *s, const char *path);
/* Replace the script (actions are copied) and forget recorded requests. */
void hq_ts_script(hq_ts_server *s, const hq_ts_action *a, int n);
/* Requests received so far. */
int hq_ts_count(hq_ts_server *s);
/* Copy of request i (body pointer stays owned by the server until the next script/stop). */
hq_ts_request hq_ts_get_request(hq_ts_server *s, int i);

#endif /* HQ_TEST_SERVER_H */
