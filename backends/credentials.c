/*
 * backends/credentials.c — loading provider credentials from the environment or a private
 * INI-like file (permission and owner checks, line-numbered parse errors that never echo
 * a line), registering every secret for redaction, zeroing them on free.
 */
#include "backends/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HQ_MAGIC_CRED 0x43524544u /* "CRED" */
#define MAX_FIELDS    4
#define MAX_FILE      (64 * 1024)

typedef struct field_spec {
    const char *name;     /* field / file key */
    const char *env[2];   /* environment variables, first wins */
    bool required;        /* loading fails without it */
    bool secret;          /* register for redaction */
    const char *fallback; /* default value if absent */
} field_spec;

typedef struct provider_spec {
    const char *section; /* file section and provider name */
    const char *label;   /* for messages */
    field_spec f[MAX_FIELDS];
    int n;
} provider_spec;

static const provider_spec specs[HQ_CRED_PROVIDER_COUNT] = {
    [HQ_CRED_IONQ] = {"ionq", "IonQ", {{"api_key", {"IONQ_API_KEY", NULL}, true, true, NULL}}, 1},
    [HQ_CRED_IBM] = {"ibm",
                     "IBM Quantum",
                     {{"api_key", {"IBM_QUANTUM_API_KEY", "IBM_CLOUD_API_KEY"}, true, true, NULL},
                      {"crn", {"IBM_QUANTUM_CRN", NULL}, true, false, NULL}},
                     2},
    [HQ_CRED_AWS] = {"aws",
                     "AWS",
                     {{"access_key_id", {"AWS_ACCESS_KEY_ID", NULL}, true, true, NULL},
                      {"secret_access_key", {"AWS_SECRET_ACCESS_KEY", NULL}, true, true, NULL},
                      {"session_token", {"AWS_SESSION_TOKEN", NULL}, false, true, NULL},
                      {"region", {"AWS_REGION", "AWS_DEFAULT_REGION"}, false, false, "us-east-1"}},
                     4},
};

struct hq_credentials {
    hq_handle h;
    hq_cred_provider p;
    char *val[MAX_FIELDS]; /* owned values, NULL if absent */
    char *source;          /* owned description of the source */
};

const char *hq_cred_provider_name(hq_cred_provider p) {
    return (unsigned)p < HQ_CRED_PROVIDER_COUNT ? specs[p].section : "?";
}

static void scrub_free_n(char *s, size_t n) {
    if (!s) return;
    volatile char *v = s;
    for (size_t i = 0; i < n; i++) v[i] = 0;
    hq_free(s);
}

static void scrub_free(char *s) { scrub_free_n(s, s ? strlen(s) : 0); }

void hq_credentials_free(hq_credentials *c) {
    if (!c || c->h.magic != HQ_MAGIC_CRED) return;
    for (int i = 0; i < MAX_FIELDS; i++) scrub_free(c->val[i]);
    hq_free(c->source);
    c->h.magic = HQ_MAGIC_DEAD;
    hq_free(c);
}

const char *hq_credentials_get(const hq_credentials *c, const char *field) {
    if (!hq_handle_ok(c, HQ_MAGIC_CRED) || !field) return NULL;
    const provider_spec *ps = &specs[c->p];
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->f[i].name, field)) return c->val[i];
    return NULL;
}

const char *hq_credentials_source(const hq_credentials *c) {
    return hq_handle_ok(c, HQ_MAGIC_CRED) && c->source ? c->source : "";
}

hq_status hq_credentials_default_path(char *buf, size_t cap) {
    const char *e = getenv("HQCNN_CREDENTIALS");
    int n;
    if (e && *e) {
        n = snprintf(buf, cap, "%s", e);
    } else if ((e = getenv("XDG_CONFIG_HOME")) && *e) {
        n = snprintf(buf, cap, "%s/hqcnn/credentials", e);
    } else if ((e = getenv("HOME")) && *e) {
        n = snprintf(buf, cap, "%s/.config/hqcnn/credentials", e);
    } else {
        if (cap) buf[0] = '\0';
        return hq_failf(NULL, HQ_ERR_NOT_FOUND,
                        "hq_credentials_default_path: none of HQCNN_CREDENTIALS, "
                        "XDG_CONFIG_HOME, HOME is set");
    }
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "hq_credentials_default_path: path too long");
    return HQ_OK;
}

/* ==== file ============================================================================= */

/* Read the file after checking type, owner and mode on the opened descriptor. *data is
 * NULL (HQ_OK) if the file does not exist and missing_ok. */
static hq_status read_private_file(const char *path, bool missing_ok, char **data,
                                   size_t *data_len) {
    *data = NULL;
    *data_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) return HQ_OK;
        return hq_failf(NULL, HQ_ERR_IO, "hq_credentials_load: cannot open %s: %s", path,
                        strerror(errno));
    }
    struct stat st;
    hq_status rc = HQ_OK;
    if (fstat(fd, &st) != 0) {
        rc = hq_failf(NULL, HQ_ERR_IO, "hq_credentials_load: cannot stat %s: %s", path,
                      strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = hq_failf(NULL, HQ_ERR_AUTH, "hq_credentials_load: %s is not a regular file", path);
    } else if (st.st_uid != geteuid()) {
        rc = hq_failf(NULL, HQ_ERR_AUTH,
                      "hq_credentials_load: %s is owned by uid %u, not by you (uid %u); "
                      "refusing to use it ---> HINT: create your own credentials file",
                      path, (unsigned)st.st_uid, (unsigned)geteuid());
    } else if (st.st_mode & 077) {
        rc = hq_failf(NULL, HQ_ERR_AUTH,
                      "hq_credentials_load: %s is readable or writable by group/others (mode "
                      "%04o); refusing to use it ---> HINT: chmod 600 %s",
                      path, (unsigned)(st.st_mode & 07777), path);
    } else if (st.st_size > MAX_FILE) {
        rc = hq_failf(NULL, HQ_ERR_INVALID_ARG,
                      "hq_credentials_load: %s is %lld bytes, more than the %d a credentials "
                      "file may have",
                      path, (long long)st.st_size, MAX_FILE);
    }
    if (rc != HQ_OK) {
        close(fd);
        return rc;
    }
    char *buf = hq_malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return hq_failf(NULL, HQ_ERR_NOMEM, "hq_credentials_load: out of memory");
    }
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    *data = buf;
    *data_len = len;
    return HQ_OK;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* Fill from_file[i] for every field of provider ps found in its section. */
static hq_status parse_file(const char *path, char *text, const provider_spec *ps,
                            char *from_file[MAX_FIELDS]) {
    int lineno = 0;
    bool in_section = false;
    char *save = text;
    while (save && *save) {
        char *line = save;
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
            save = nl + 1;
        } else {
            save = NULL;
        }
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#' || *l == ';') continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (!end || *trim(end + 1))
                return hq_failf(NULL, HQ_ERR_PARSE,
                                "hq_credentials_load: %s:%d: malformed section header (expected "
                                "[ionq], [ibm] or [aws])",
                                path, lineno);
            *end = '\0';
            in_section = !strcmp(trim(l + 1), ps->section);
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq)
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "hq_credentials_load: %s:%d: expected 'key = value' (the line is "
                            "not shown: it may hold a secret)",
                            path, lineno);
        *eq = '\0';
        char *key = trim(l);
        char *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        if (!in_section) continue;
        int fi = -1;
        for (int i = 0; i < ps->n; i++)
            if (!strcmp(ps->f[i].name, key)) fi = i;
        if (fi < 0) {
            char keys[128] = "";
            for (int i = 0; i < ps->n; i++) {
                strncat(keys, i ? ", " : "", sizeof keys - strlen(keys) - 1);
                strncat(keys, ps->f[i].name, sizeof keys - strlen(keys) - 1);
            }
            return hq_failf(NULL, HQ_ERR_PARSE,
                            "hq_credentials_load: %s:%d: unknown key in [%s] (known: %s)", path,
                            lineno, ps->section, keys);
        }
        if (!*val) continue;
        scrub_free(from_file[fi]);
        from_file[fi] = hq_strdup(val);
        if (!from_file[fi])
            return hq_failf(NULL, HQ_ERR_NOMEM, "hq_credentials_load: out of memory");
    }
    return HQ_OK;
}

/* ==== load ============================================================================= */

static const char *env_value(const field_spec *f, const char **which) {
    for (int k = 0; k < 2; k++) {
        if (!f->env[k]) continue;
        const char *v = getenv(f->env[k]);
        if (v && *v) {
            *which = f->env[k];
            return v;
        }
    }
    return NULL;
}

hq_status hq_credentials_load(hq_cred_provider p, const char *file, hq_credentials **out) {
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", __func__);
    *out = NULL;
    if ((unsigned)p >= HQ_CRED_PROVIDER_COUNT)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: provider %d out of range [0, %d)", __func__,
                        (int)p, HQ_CRED_PROVIDER_COUNT);
    const provider_spec *ps = &specs[p];
    hq_credentials *c = hq_calloc(1, sizeof *c);
    if (!c) return hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
    c->h.magic = HQ_MAGIC_CRED;
    c->p = p;
    hq_status st = HQ_OK;
    char *from_file[MAX_FIELDS] = {0};
    char *text = NULL;
    size_t text_len = 0;
    char path[1024] = "";
    bool used_env = false, used_file = false, need_file = false;

    for (int i = 0; i < ps->n; i++) {
        const char *which = NULL;
        const char *v = env_value(&ps->f[i], &which);
        if (v) {
            c->val[i] = hq_strdup(v);
            if (!c->val[i]) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
                goto fail;
            }
            used_env = true;
        } else if (ps->f[i].required) {
            need_file = true;
        }
    }
    if (need_file || file) {
        if (file) {
            if (snprintf(path, sizeof path, "%s", file) >= (int)sizeof path) {
                st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: file path too long", __func__);
                goto fail;
            }
        } else if (hq_credentials_default_path(path, sizeof path) != HQ_OK) {
            path[0] = '\0';
        }
        if (path[0]) {
            st = read_private_file(path, file == NULL, &text, &text_len);
            if (st != HQ_OK) goto fail;
            if (text) {
                st = parse_file(path, text, ps, from_file);
                if (st != HQ_OK) goto fail;
            }
        }
    }
    for (int i = 0; i < ps->n; i++) {
        if (!c->val[i] && from_file[i]) {
            c->val[i] = from_file[i];
            from_file[i] = NULL;
            used_file = true;
        }
        if (!c->val[i] && ps->f[i].fallback) {
            c->val[i] = hq_strdup(ps->f[i].fallback);
            if (!c->val[i]) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
                goto fail;
            }
        }
        if (!c->val[i] && ps->f[i].required) {
            const field_spec *f = &ps->f[i];
            char envs[96];
            snprintf(envs, sizeof envs, "%s%s%s", f->env[0], f->env[1] ? " or " : "",
                     f->env[1] ? f->env[1] : "");
            st = hq_failf(NULL, HQ_ERR_AUTH,
                          "%s: no %s %s: set %s, or add '%s = ...' under [%s] in %s (mode 0600)",
                          __func__, ps->label, f->name, envs, f->name, ps->section,
                          path[0] ? path : "~/.config/hqcnn/credentials");
            goto fail;
        }
    }
    for (int i = 0; i < ps->n; i++)
        if (c->val[i] && ps->f[i].secret) hq_secret_register(c->val[i]);
    {
        char src[1100];
        if (used_env && used_file)
            snprintf(src, sizeof src, "environment + %s", path);
        else if (used_file)
            snprintf(src, sizeof src, "%s", path);
        else
            snprintf(src, sizeof src, "environment");
        c->source = hq_strdup(src);
        if (!c->source) {
            st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__);
            goto fail;
        }
    }
    for (int i = 0; i < MAX_FIELDS; i++) scrub_free(from_file[i]);
    scrub_free_n(text, text_len);
    *out = c;
    return HQ_OK;
fail:
    for (int i = 0; i < MAX_FIELDS; i++) scrub_free(from_file[i]);
    scrub_free_n(text, text_len);
    hq_credentials_free(c);
    return st;
}
