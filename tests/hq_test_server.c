/*
 * tests/hq_test_server.c — the scripted loopback HTTP server of hq_test_server.h.
 * Test-only code: it binds 127.0.0.1 only and serves what the test scripted.
 */
#include "tests/hq_test_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

#define MAX_ACTIONS 64

struct hq_ts_server {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t lock;
    hq_ts_action act[MAX_ACTIONS]; /* body/content_type/retry_after owned copies */
    int n_act, next_act;
    hq_ts_request req[HQ_TS_MAX_REQUESTS];
    int n_req;
    volatile int stopping;
};

typedef struct conn_ctx {
    hq_sbuf body;
} conn_ctx;

static void free_actions(hq_ts_server *s) {
    for (int i = 0; i < s->n_act; i++) {
        hq_free((char *)s->act[i].body);
        hq_free((char *)s->act[i].content_type);
        hq_free((char *)s->act[i].retry_after);
    }
    s->n_act = s->next_act = 0;
}

static void free_requests(hq_ts_server *s) {
    for (int i = 0; i < s->n_req; i++) HQ_FREE(s->req[i].body);
    s->n_req = 0;
}

static void copy_header(struct MHD_Connection *c, const char *name, char *dst, size_t cap) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(dst, cap, "%s", v ? v : "");
}

typedef struct trunc_state {
    char *body;
    size_t len;
    size_t sent;
} trunc_state;

static ssize_t trunc_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    trunc_state *t = cls;
    size_t half = t->len / 2;
    if (pos >= half) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = half - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls) {
    trunc_state *t = cls;
    hq_free(t->body);
    hq_free(t);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    hq_ts_server *s = cls;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        cc = hq_calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        hq_sbuf_append(&cc->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    /* the whole request is in: record it and pick the next action */
    hq_ts_action a = {.status = 599, .body = "{\"error\":\"unscripted request\"}"};
    pthread_mutex_lock(&s->lock);
    if (s->n_req < HQ_TS_MAX_REQUESTS) {
        hq_ts_request *r = &s->req[s->n_req++];
        memset(r, 0, sizeof *r);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        copy_header(c, "Authorization", r->authorization, sizeof r->authorization);
        copy_header(c, "Content-Type", r->content_type, sizeof r->content_type);
        copy_header(c, "X-Test", r->extra, sizeof r->extra);
        copy_header(c, "Host", r->host, sizeof r->host);
        copy_header(c, "X-Amz-Date", r->amz_date, sizeof r->amz_date);
        r->body_len = cc->body.len;
        r->body = hq_strndup(cc->body.p ? cc->body.p : "", cc->body.len);
    }
    if (s->next_act < s->n_act) a = s->act[s->next_act++];
    /* private copies: the script may be replaced while a slow reply is pending */
    char *own_body = hq_strdup(a.body ? a.body : "");
    char *own_ct = hq_strdup(a.content_type ? a.content_type : "application/json");
    char *own_ra = a.retry_after ? hq_strdup(a.retry_after) : NULL;
    pthread_mutex_unlock(&s->lock);
    enum MHD_Result rc = MHD_NO;
    if (!own_body || !own_ct) goto out;
    a.body = own_body;
    a.content_type = own_ct;
    a.retry_after = own_ra;

    if (a.kind == HQ_TS_DROP) goto out;
    if (a.kind == HQ_TS_SLOW) {
        for (long waited = 0; waited < a.delay_ms && !s->stopping; waited += 10) usleep(10000);
    }
    const char *body = a.body ? a.body : "";
    size_t blen = strlen(body);
    struct MHD_Response *resp;
    if (a.kind == HQ_TS_TRUNCATE) {
        trunc_state *t = hq_calloc(1, sizeof *t);
        if (!t) goto out;
        t->body = hq_strdup(body);
        t->len = blen;
        resp = MHD_create_response_from_callback(blen, 1024, trunc_reader, t, trunc_free);
    } else {
        resp = MHD_create_response_from_buffer(blen, (void *)body, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp) goto out;
    MHD_add_response_header(resp, "Content-Type", a.content_type);
    if (a.retry_after) MHD_add_response_header(resp, "Retry-After", a.retry_after);
    rc = MHD_queue_response(c, (unsigned)(a.status ? a.status : 200), resp);
    MHD_destroy_response(resp);
out:
    hq_free(own_body);
    hq_free(own_ct);
    hq_free(own_ra);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    conn_ctx *cc = *con_cls;
    if (cc) {
        hq_sbuf_free(&cc->body);
        hq_free(cc);
        *con_cls = NULL;
    }
}

hq_ts_server *hq_ts_start(void) {
    hq_ts_server *s = hq_calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "hq_ts_start: cannot start the test HTTP server on 127.0.0.1\n");
        pthread_mutex_destroy(&s->lock);
        hq_free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return s;
}

void hq_ts_stop(hq_ts_server *s) {
    if (!s) return;
    s->stopping = 1;
    MHD_stop_daemon(s->d);
    free_actions(s);
    free_requests(s);
    pthread_mutex_destroy(&s->lock);
    hq_free(s);
}

int hq_ts_port(const hq_ts_server *s) { return s ? s->port : 0; }

const char *hq_ts_url(const hq_ts_server *s, const char *path) {
    static char buf[8][600];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "http://127.0.0.1:%d%s", s->port, path ? path : "");
    return b;
}

void hq_ts_script(hq_ts_server *s, const hq_ts_action *a, int n) {
    pthread_mutex_lock(&s->lock);
    free_actions(s);
    free_requests(s);
    if (n > MAX_ACTIONS) n = MAX_ACTIONS;
    for (int i = 0; i < n; i++) {
        s->act[i] = a[i];
        s->act[i].body = hq_strdup(a[i].body ? a[i].body : "");
        s->act[i].content_type = a[i].content_type ? hq_strdup(a[i].content_type) : NULL;
        s->act[i].retry_after = a[i].retry_after ? hq_strdup(a[i].retry_after) : NULL;
    }
    s->n_act = n;
    pthread_mutex_unlock(&s->lock);
}

int hq_ts_count(hq_ts_server *s) {
    pthread_mutex_lock(&s->lock);
    int n = s->n_req;
    pthread_mutex_unlock(&s->lock);
    return n;
}

hq_ts_request hq_ts_get_request(hq_ts_server *s, int i) {
    hq_ts_request r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&s->lock);
    if (i >= 0 && i < s->n_req) r = s->req[i];
    pthread_mutex_unlock(&s->lock);
    return r;
}
