/*
 * core/progress.h — a progress bar for long work.
 *
 * On a TTY it redraws one line in place ("epoch 3/10 [#####.....] 47/97 loss 0.412
 * 1830 img/s ETA 0:12"); otherwise it prints a plain log line at most every
 * `min_interval` seconds and at the end, so logs of CI runs stay readable.
 */
#ifndef HQ_PROGRESS_H
#define HQ_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hq_progress {
    FILE *out;           /* stream written to (stderr by default) */
    bool tty;            /* redraw in place */
    char label[64];      /* e.g. "epoch 3/10" */
    int64_t total;       /* units of work (0 = unknown) */
    int64_t done;        /* units finished */
    double t_start;      /* hq_time_now() at begin */
    double t_last;       /* time of the last draw */
    double min_interval; /* seconds between non-TTY lines (default 10) */
    int last_len;        /* length of the last TTY line, to blank it */
} hq_progress;

/* out == NULL means stderr; TTY detection with isatty(), overridable by
 * $HQCNN_PROGRESS = tty|plain|off. */
void hq_progress_begin(hq_progress *p, FILE *out, const char *label, int64_t total);
/* Set progress to `done` units; `extra` (may be NULL) is appended, e.g. "loss 0.41". */
void hq_progress_update(hq_progress *p, int64_t done, const char *extra);
/* Final draw and newline. */
void hq_progress_end(hq_progress *p, const char *extra);
/* Format seconds as H:MM:SS or M:SS into out. */
void hq_format_duration(double seconds, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_PROGRESS_H */
