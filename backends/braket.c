/*
 * backends/braket.c — Amazon Braket bodies (CreateQuantumTask with a double-encoded
 * OpenQASM action, CancelQuantumTask), task paths with the ARN encoded, GetQuantumTask
 * parsing, the S3 location of results.json and its parser. See braket.h.
 */
#include "backends/braket.h"

#include <string.h>

#include "backends/http.h"
#include "backends/qpu_impl.h"

#define TOKEN_MAX 64

hq_status hq_braket_build_create_task(const hq_braket_task_spec *sp, hq_sbuf *out) {
    static const char *fn = "hq_braket_build_create_task";
    if (!sp || !out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    struct {
        const char *v, *name;
    } req[] = {{sp->device_arn, "device_arn"},
               {sp->qasm3, "qasm3"},
               {sp->client_token, "client_token"},
               {sp->s3_bucket, "s3_bucket"},
               {sp->s3_prefix, "s3_prefix"}};
    for (size_t i = 0; i < HQ_ARRAY_LEN(req); i++)
        if (!req[i].v || !*req[i].v)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %s is missing", fn, req[i].name);
    if (strlen(sp->client_token) > TOKEN_MAX)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: client token is %zu characters, Braket allows at most %d", fn,
                        strlen(sp->client_token), TOKEN_MAX);
    if (sp->shots < 0)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: shots %lld must be >= 0", fn,
                        (long long)sp->shots);
    cJSON *dp = NULL;
    if (sp->device_parameters_json) {
        dp = cJSON_Parse(sp->device_parameters_json);
        bool ok = cJSON_IsObject(dp);
        cJSON_Delete(dp);
        if (!ok)
            return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                            "%s: device_parameters_json is not a JSON object", fn);
    }
    /* the action: a JSON document sent as a string */
    hq_sbuf act = HQ_SBUF_INIT, b = HQ_SBUF_INIT;
    hq_sbuf_puts(&act, "{\"braketSchemaHeader\":{\"name\":\"braket.ir.openqasm.program\","
                       "\"version\":\"1\"},\"source\":");
    hq_sbuf_put_json_str(&act, sp->qasm3);
    hq_sbuf_puts(&act, ",\"inputs\":{}}");
    hq_sbuf_puts(&b, "{\"action\":");
    hq_sbuf_put_json_str(&b, act.p ? act.p : "");
    hq_sbuf_puts(&b, ",\"clientToken\":");
    hq_sbuf_put_json_str(&b, sp->client_token);
    hq_sbuf_puts(&b, ",\"deviceArn\":");
    hq_sbuf_put_json_str(&b, sp->device_arn);
    if (sp->device_parameters_json) {
        hq_sbuf_puts(&b, ",\"deviceParameters\":");
        hq_sbuf_put_json_str(&b, sp->device_parameters_json);
    }
    hq_sbuf_puts(&b, ",\"outputS3Bucket\":");
    hq_sbuf_put_json_str(&b, sp->s3_bucket);
    hq_sbuf_puts(&b, ",\"outputS3KeyPrefix\":");
    hq_sbuf_put_json_str(&b, sp->s3_prefix);
    hq_sbuf_printf(&b, ",\"shots\":%lld}", (long long)sp->shots);
    hq_status st = HQ_OK;
    if (act.oom || b.oom)
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    else {
        hq_sbuf_append(out, b.p, b.len);
        if (out->oom) st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
    }
    hq_sbuf_free(&act);
    hq_sbuf_free(&b);
    return st;
}

hq_status hq_braket_build_cancel(const char *client_token, hq_sbuf *out) {
    if (!client_token || !*client_token || strlen(client_token) > TOKEN_MAX || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: client token must be 1..%d characters",
                        __func__, TOKEN_MAX);
    hq_sbuf_puts(out, "{\"clientToken\":");
    hq_sbuf_put_json_str(out, client_token);
    hq_sbuf_putc(out, '}');
    return out->oom ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__) : HQ_OK;
}

hq_status hq_braket_task_path(const char *task_arn, const char *suffix, hq_sbuf *out) {
    if (!task_arn || !*task_arn || !out)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: no task ARN", __func__);
    hq_sbuf_puts(out, "/quantum-task/");
    hq_http_url_encode(out, task_arn, NULL);
    if (suffix) hq_sbuf_puts(out, suffix);
    return out->oom ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__) : HQ_OK;
}

static bool valid_region(const char *r) {
    if (!r || !*r || strlen(r) > 32) return false;
    for (const char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return false;
    return true;
}

hq_status hq_braket_endpoint(const char *region, char *host, size_t cap) {
    if (!valid_region(region))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: region '%s' is not a region name like us-east-1", __func__,
                        region ? region : "(null)");
    int n = snprintf(host, cap, "braket.%s.amazonaws.com", region);
    if (n < 0 || (size_t)n >= cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: buffer too small", __func__);
    return HQ_OK;
}

hq_status hq_braket_parse_create(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_braket_parse_create";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "CreateQuantumTask response", body, len, &st);
    if (!j) return st;
    if (!qpu_get_str(j, "quantumTaskArn", out->id, sizeof out->id) || !out->id[0])
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"quantumTaskArn\" is %s, expected a string", fn,
                      qpu_type_name(qpu_get(j, "quantumTaskArn")));
    cJSON_Delete(j);
    return st;
}

hq_status hq_braket_parse_task(const char *body, size_t len, hq_qpu_job_status *out) {
    static const char *fn = "hq_braket_parse_task";
    if (!out) return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: out is NULL", fn);
    qpu_status_init(out);
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "GetQuantumTask response", body, len, &st);
    if (!j) return st;
    if (!qpu_get_str(j, "quantumTaskArn", out->id, sizeof out->id) || !out->id[0]) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"quantumTaskArn\" is %s, expected a string", fn,
                      qpu_type_name(qpu_get(j, "quantumTaskArn")));
        goto done;
    }
    const cJSON *s = qpu_get(j, "status");
    if (!cJSON_IsString(s)) {
        st = hq_failf(NULL, HQ_ERR_PARSE, "%s: \"status\" of task %s is %s, expected a string", fn,
                      out->id, qpu_type_name(s));
        goto done;
    }
    snprintf(out->raw_status, sizeof out->raw_status, "%s", s->valuestring);
    static const struct {
        const char *name;
        hq_qpu_state st;
    } map[] = {{"CREATED", HQ_QPU_PENDING},    {"QUEUED", HQ_QPU_QUEUED},
               {"RUNNING", HQ_QPU_RUNNING},    {"COMPLETED", HQ_QPU_COMPLETED},
               {"FAILED", HQ_QPU_FAILED},      {"CANCELLING", HQ_QPU_CANCELLING},
               {"CANCELLED", HQ_QPU_CANCELLED}};
    out->unknown_status = true;
    out->state = HQ_QPU_PENDING;
    for (size_t i = 0; i < HQ_ARRAY_LEN(map); i++)
        if (qpu_streq_ci(s->valuestring, map[i].name)) {
            out->state = map[i].st;
            out->unknown_status = false;
        }
    if (out->unknown_status)
        HQ_LOGW("braket: task %s has unknown status '%s'; treating it as pending", out->id,
                out->raw_status);
    qpu_get_str(j, "failureReason", out->failure_msg, sizeof out->failure_msg);
    if (out->state == HQ_QPU_FAILED && !out->failure_msg[0])
        snprintf(out->failure_msg, sizeof out->failure_msg, "(Braket gave no failure reason)");
    qpu_get_str(j, "deviceArn", out->backend, sizeof out->backend);
    qpu_get_str(j, "outputS3Bucket", out->s3_bucket, sizeof out->s3_bucket);
    qpu_get_str(j, "outputS3Directory", out->s3_directory, sizeof out->s3_directory);
    qpu_get_i64(j, "shots", 0, INT64_MAX / 2, &out->shots);
    st = HQ_OK;
done:
    cJSON_Delete(j);
    return st;
}

hq_status hq_braket_results_location(const hq_qpu_job_status *t, const char *region, char *host,
                                     size_t host_cap, hq_sbuf *path) {
    if (!t || !t->s3_bucket[0] || !t->s3_directory[0] || !host || !path)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG,
                        "%s: the task has no output S3 bucket/directory (is it completed?)",
                        __func__);
    if (!valid_region(region))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: region '%s' is not a region name", __func__,
                        region ? region : "(null)");
    int n = snprintf(host, host_cap, "%s.s3.%s.amazonaws.com", t->s3_bucket, region);
    if (n < 0 || (size_t)n >= host_cap)
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: host buffer too small", __func__);
    const char *d = t->s3_directory;
    while (*d == '/') d++;
    hq_sbuf_putc(path, '/');
    hq_http_url_encode(path, d, "/");
    if (path->len && path->p[path->len - 1] != '/') hq_sbuf_putc(path, '/');
    hq_sbuf_puts(path, "results.json");
    return path->oom ? hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", __func__) : HQ_OK;
}

hq_status hq_braket_parse_results(const char *body, size_t len, int64_t shots_expected,
                                  hq_qpu_results *out, int *mq, int cap, int *n_measured) {
    static const char *fn = "hq_braket_parse_results";
    if (!out || !n_measured || (cap > 0 && !mq))
        return hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: NULL argument", fn);
    memset(out, 0, sizeof *out);
    *n_measured = 0;
    hq_status st;
    cJSON *j = qpu_json_parse(fn, "results.json", body, len, &st);
    if (!j) return st;
    char hdr[96];
    if (!qpu_get_str(qpu_get(j, "braketSchemaHeader"), "name", hdr, sizeof hdr) ||
        strcmp(hdr, "braket.task_result.gate_model_task_result")) {
        st = hq_failf(NULL, HQ_ERR_PARSE,
                      "%s: braketSchemaHeader.name is \"%s\", expected "
                      "\"braket.task_result.gate_model_task_result\"",
                      fn, hdr);
        goto done;
    }
    const cJSON *mqs = qpu_get(j, "measuredQubits");
    if (!cJSON_IsArray(mqs) || cJSON_GetArraySize(mqs) < 1 || cJSON_GetArraySize(mqs) > 64) {
        st = hq_failf(NULL, HQ_ERR_PARSE,
                      "%s: measuredQubits is %s, expected an array of 1..64 qubit indices", fn,
                      qpu_type_name(mqs));
        goto done;
    }
    int ncol = cJSON_GetArraySize(mqs);
    if (ncol > cap) {
        st = hq_failf(NULL, HQ_ERR_INVALID_ARG, "%s: %d measured qubits, cap is %d", fn, ncol, cap);
        goto done;
    }
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, mqs) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e6 ||
            e->valuedouble != (double)(int)e->valuedouble) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: measuredQubits[%d] is not a qubit index", fn, k);
            goto done;
        }
        mq[k++] = (int)e->valuedouble;
    }
    if (qpu_results_alloc(out, 1) != HQ_OK) {
        st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
        goto done;
    }
    hq_qpu_circuit_result *r = &out->r[0];
    hq_counts_free(&r->counts);
    hq_counts_init(&r->counts, ncol);
    const cJSON *meas = qpu_get(j, "measurements");
    const cJSON *probs = qpu_get(j, "measurementProbabilities");
    if (cJSON_IsArray(meas)) {
        int64_t shot = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, meas) {
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != ncol) {
                st = hq_failf(NULL, HQ_ERR_PARSE,
                              "%s: measurement row %lld has %d entries, expected %d (one per "
                              "measured qubit)",
                              fn, (long long)shot,
                              cJSON_IsArray(row) ? cJSON_GetArraySize(row) : -1, ncol);
                goto done;
            }
            uint64_t v = 0;
            int c = 0;
            const cJSON *bit;
            cJSON_ArrayForEach(bit, row) {
                if (!cJSON_IsNumber(bit) || (bit->valuedouble != 0 && bit->valuedouble != 1)) {
                    st = hq_failf(NULL, HQ_ERR_PARSE,
                                  "%s: measurement row %lld column %d is not 0 or 1", fn,
                                  (long long)shot, c);
                    goto done;
                }
                if (bit->valuedouble == 1) v |= (uint64_t)1 << c;
                c++;
            }
            if (hq_counts_add(&r->counts, v, 1) != HQ_OK) {
                st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
                goto done;
            }
            if ((shot & 4095) == 4095) hq_counts_sort(&r->counts);
            shot++;
        }
        hq_counts_sort(&r->counts);
        if (shot == 0) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: no measurements", fn);
            goto done;
        }
        if (shots_expected > 0 && shot != shots_expected) {
            st = hq_failf(NULL, HQ_ERR_PARSE, "%s: %lld measurement rows for %lld shots", fn,
                          (long long)shot, (long long)shots_expected);
            goto done;
        }
    } else if (cJSON_IsObject(probs)) {
        int n = cJSON_GetArraySize(probs);
        uint64_t *o = hq_malloc((size_t)(n > 0 ? n : 1) * sizeof *o);
        double *p = hq_malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
        if (!o || !p) {
            hq_free(o);
            hq_free(p);
            st = hq_failf(NULL, HQ_ERR_NOMEM, "%s: out of memory", fn);
            goto done;
        }
        int i = 0;
        cJSON_ArrayForEach(e, probs) {
            const char *key = e->string ? e->string : "";
            uint64_t v = 0;
            bool ok = (int)strlen(key) == ncol && cJSON_IsNumber(e);
            for (int c = 0; ok && c < ncol; c++) {
                if (key[c] != '0' && key[c] != '1') ok = false;
                if (key[c] == '1') v |= (uint64_t)1 << c;
            }
            if (!ok) {
                hq_free(o);
                hq_free(p);
                st = hq_failf(NULL, HQ_ERR_PARSE,
                              "%s: measurementProbabilities entry \"%.40s\" is not a %d-bit "
                              "bitstring with a number",
                              fn, key, ncol);
                goto done;
            }
            o[i] = v;
            p[i] = e->valuedouble;
            i++;
        }
        int64_t shots = shots_expected > 0 ? shots_expected : 1000;
        hq_counts_free(&r->counts);
        st = hq_qpu_probs_to_counts(o, p, i, shots, ncol, &r->counts);
        hq_free(o);
        hq_free(p);
        if (st != HQ_OK) goto done;
    } else {
        st = hq_failf(NULL, HQ_ERR_PARSE,
                      "%s: neither \"measurements\" nor \"measurementProbabilities\" is present",
                      fn);
        goto done;
    }
    r->status = HQ_OK;
    r->error[0] = '\0';
    qpu_get_str(qpu_get(j, "taskMetadata"), "id", r->id, sizeof r->id);
    *n_measured = ncol;
    st = HQ_OK;
done:
    cJSON_Delete(j);
    if (st != HQ_OK) hq_qpu_results_free(out);
    return st;
}
