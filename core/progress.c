/*
 * core/progress.c — in-place progress bar on a TTY, periodic plain lines otherwise.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "core/progress.h"

void hq_format_duration(double s, char *out, size_t cap) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(out, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

void hq_progress_begin(hq_progress *p, FILE *out, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->out = out ? out : stderr;
    const char *mode = getenv("HQCNN_PROGRESS");
    if (mode && !strcmp(mode, "off"))
        p->out = NULL;
    else if (mode && !strcmp(mode, "tty"))
        p->tty = true;
    else if (mode && !strcmp(mode, "plain"))
        p->tty = false;
    else
        p->tty = isatty(fileno(p->out)) != 0;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->t_start = p->t_last = hq_time_now();
    p->min_interval = 10.0;
}

static void draw(hq_progress *p, const char *extra, bool final) {
    if (!p->out) return;
    double el = hq_time_now() - p->t_start;
    char eta[32], elapsed[32];
    hq_format_duration(el, elapsed, sizeof elapsed);
    if (p->total > 0 && p->done > 0 && !final)
        hq_format_duration(el * (double)(p->total - p->done) / (double)p->done, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "%s", elapsed);
    char line[512];
    int n;
    if (p->total > 0) {
        char bar[21];
        int fill = (int)(20 * p->done / (p->total ? p->total : 1));
        if (fill > 20) fill = 20;
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        n = snprintf(line, sizeof line, "%s [%s] %lld/%lld %s %s %s", p->label, bar,
                     (long long)p->done, (long long)p->total, extra ? extra : "",
                     final ? "took" : "ETA", eta);
    } else {
        n = snprintf(line, sizeof line, "%s %lld %s %s", p->label, (long long)p->done,
                     extra ? extra : "", elapsed);
    }
    if (n < 0) return;
    if (p->tty) {
        int pad = p->last_len > n ? p->last_len - n : 0;
        fprintf(p->out, "\r%s%*s", line, pad, "");
        if (final) fputc('\n', p->out);
        p->last_len = n;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void hq_progress_update(hq_progress *p, int64_t done, const char *extra) {
    p->done = done;
    double now = hq_time_now();
    double interval = p->tty ? 0.1 : p->min_interval;
    if (now - p->t_last < interval) return;
    p->t_last = now;
    draw(p, extra, false);
}

void hq_progress_end(hq_progress *p, const char *extra) { draw(p, extra, true); }
