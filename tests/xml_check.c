/*
 * tests/xml_check.c — a tiny XML well-formedness checker for tests of SVG / XHTML output.
 */
#include "tests/xml_check.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Checks: tags nest and close in order, attribute values quoted, no raw '<' or bare '&'
 * in text, exactly one root element. Returns NULL if fine, else a description. */
const char *hq_test_xml_check(const char *s) {
    static char err[256];
    char stack[64][48];
    int depth = 0, roots = 0;
    const char *p = s;
    while (*p) {
        if (*p == '<') {
            if (p[1] == '/') {
                const char *e = strchr(p, '>');
                if (!e || depth == 0) return "unbalanced closing tag";
                size_t n = (size_t)(e - p - 2);
                if (n != strlen(stack[depth - 1]) || strncmp(p + 2, stack[depth - 1], n)) {
                    snprintf(err, sizeof err, "closing </%.*s> for <%s>", (int)n, p + 2,
                             stack[depth - 1]);
                    return err;
                }
                depth--;
                p = e + 1;
                continue;
            }
            const char *q = p + 1;
            size_t n = 0;
            while (isalnum((unsigned char)q[n]) || q[n] == '-' || q[n] == ':') n++;
            if (n == 0 || n >= 48) return "bad tag name";
            if (depth == 0) roots++;
            char name[48];
            memcpy(name, q, n);
            name[n] = 0;
            q += n;
            /* attributes */
            for (;;) {
                while (isspace((unsigned char)*q)) q++;
                if (*q == '>' || (q[0] == '/' && q[1] == '>')) break;
                size_t an = 0;
                while (isalnum((unsigned char)q[an]) || q[an] == '-' || q[an] == ':') an++;
                if (an == 0 || q[an] != '=' || q[an + 1] != '"') {
                    snprintf(err, sizeof err, "bad attribute in <%s> near '%.20s'", name, q);
                    return err;
                }
                const char *v = strchr(q + an + 2, '"');
                if (!v) return "unterminated attribute";
                for (const char *t = q + an + 2; t < v; t++)
                    if (*t == '<') return "'<' in an attribute";
                q = v + 1;
            }
            if (*q == '/') {
                p = q + 2;
                continue;
            }
            if (depth >= 64) return "too deep";
            memcpy(stack[depth++], name, n + 1);
            p = q + 1;
            continue;
        }
        if (*p == '&') {
            const char *e = strchr(p, ';');
            if (!e || e - p > 8) return "bare '&'";
        }
        p++;
    }
    if (depth) return "unclosed element";
    if (roots != 1) return "not exactly one root element";
    return NULL;
}
