/*
 * core/log.c — leveled logging to stderr (or a chosen FILE), one line per call, with
 * registered secrets redacted and a wall-clock timestamp.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/core.h"

static hq_log_level level = HQ_LOG_INFO;
static bool level_from_env_done;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void level_from_env(void) {
    if (level_from_env_done) return;
    level_from_env_done = true;
    const char *e = getenv("HQCNN_LOG");
    if (!e) return;
    if (!strcasecmp(e, "error"))
        level = HQ_LOG_ERROR;
    else if (!strcasecmp(e, "warn"))
        level = HQ_LOG_WARN;
    else if (!strcasecmp(e, "info"))
        level = HQ_LOG_INFO;
    else if (!strcasecmp(e, "debug"))
        level = HQ_LOG_DEBUG;
}

void hq_log_set_level(hq_log_level lvl) {
    level_from_env_done = true;
    level = lvl;
}
hq_log_level hq_log_get_level(void) {
    level_from_env();
    return level;
}
void hq_log_set_file(FILE *f) { log_file = f; }

void hq_log(hq_log_level lvl, const char *fmt, ...) {
    level_from_env();
    if (lvl > level) return;
    static const char *const tag[] = {"error", "warn", "info", "debug"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hq_redact(msg);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&log_lock);
    FILE *f = log_file ? log_file : stderr;
    fprintf(f, "%s hqcnn %s: %s\n", ts, tag[lvl], msg);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}
