/*
 * core/fs.c — whole-file read, atomic write, mkdir -p, path helpers, clocks and strict
 * number parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

hq_status hq_file_read(const char *path, size_t max_bytes, char **data, size_t *len) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hq_failf(NULL, errno == ENOENT ? HQ_ERR_NOT_FOUND : HQ_ERR_IO,
                        "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return hq_failf(NULL, HQ_ERR_IO, "'%s' is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    if (max_bytes && n > max_bytes) {
        fclose(f);
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "'%s' is %zu bytes, more than the limit of %zu",
                        path, n, max_bytes);
    }
    char *buf = hq_malloc(n + 1);
    if (!buf) {
        fclose(f);
        return hq_failf(NULL, HQ_ERR_NOMEM, "cannot allocate %zu bytes to read '%s'", n + 1, path);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        hq_free(buf);
        return hq_failf(NULL, HQ_ERR_IO, "short read on '%s' (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return HQ_OK;
}

hq_status hq_file_write_atomic(const char *path, const void *data, size_t len) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "path too long: '%s'", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return hq_failf(NULL, HQ_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return hq_failf(NULL, HQ_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return hq_failf(NULL, HQ_ERR_IO, "cannot flush '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return hq_failf(NULL, HQ_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
    }
    return HQ_OK;
}

bool hq_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool hq_is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

hq_status hq_mkdir_p(const char *path, unsigned mode) {
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
                return hq_failf(NULL, HQ_ERR_IO, "cannot create directory '%s': %s", buf,
                                strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return hq_failf(NULL, HQ_ERR_IO, "'%s' exists and is not a directory", path);
    return HQ_OK;
}

hq_status hq_path_join(char *out, size_t cap, const char *dir, const char *name) {
    int n;
    if (!dir || !*dir || name[0] == '/')
        n = snprintf(out, cap, "%s", name);
    else if (dir[strlen(dir) - 1] == '/')
        n = snprintf(out, cap, "%s%s", dir, name);
    else
        n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "path too long: '%s/%s'", dir ? dir : "", name);
    return HQ_OK;
}

void hq_path_dirname(char *out, size_t cap, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(out, cap, ".");
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1; /* "/x" -> "/" */
    if (n >= cap) n = cap - 1;
    memcpy(out, path, n);
    out[n] = '\0';
}

double hq_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double hq_time_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void hq_sleep_ms(long ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

hq_status hq_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "expected an integer, got an empty string");
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || end == s)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "'%s' is not an integer", s);
    if (errno == ERANGE || v < lo || v > hi)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s is out of range [%lld, %lld]", s,
                        (long long)lo, (long long)hi);
    *out = v;
    return HQ_OK;
}

hq_status hq_parse_double(const char *s, double *out) {
    if (!s || !*s)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "expected a number, got an empty string");
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(v))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "'%s' is not a finite number", s);
    *out = v;
    return HQ_OK;
}
