/*
 * backends/backend_impl.h — the backend vtable. Included only by backend
 * implementations (backend_local.c, the REST clients, the emulator clients) and by
 * backend.c, which wraps every call with validation and fault injection.
 *
 * Adding a backend = one file defining a `static const hq_backend_ops` with designated
 * initializers (NULL for optional members) + one row in the registry of backend.c.
 */
#ifndef HQ_BACKEND_IMPL_H
#define HQ_BACKEND_IMPL_H

#include "backends/backend.h"

#define HQ_BACKEND_ABI_VERSION 1

typedef struct hq_backend_ops {
    int abi_version;         /* HQ_BACKEND_ABI_VERSION */
    const char *name;        /* registry name */
    const char *description; /* one line for `hqcnn backends` */
    /* Parse options (JSON text or NULL) and create the context. Fill id_extra with a
     * short string naming every result-changing option (hashed into the identity). */
    hq_status (*create)(const char *options_json, void **ctx, hq_sbuf *id_extra);
    void (*destroy)(void *ctx);
    void (*caps)(void *ctx, hq_backend_caps *out);
    hq_status (*submit)(void *ctx, const hq_job_spec *job, char remote_id[HQ_REMOTE_ID_MAX]);
    /* optional */
    hq_status (*find_by_token)(void *ctx, const char *token, char remote_id[HQ_REMOTE_ID_MAX],
                               bool *found);
    hq_status (*poll)(void *ctx, const char *remote_id, hq_job_state *state, char *reason,
                      size_t reason_cap);
    hq_status (*fetch)(void *ctx, const char *remote_id, int64_t n_results, hq_counts *counts);
    /* optional: default is a no-op success */
    hq_status (*cancel)(void *ctx, const char *remote_id);
    /* optional: default id "none" */
    hq_status (*calibration)(void *ctx, char calib_id[HQ_CALIB_ID_MAX], char **json);
    /* optional */
    hq_status (*submitted_count)(void *ctx, int64_t *n);
} hq_backend_ops;

/* The registry (backend.c) lists these; each is defined by its implementation file. */
extern const hq_backend_ops hq_backend_sv_shots_ops;
extern const hq_backend_ops hq_backend_dm_shots_ops;
extern const hq_backend_ops hq_backend_ionq_ops;          /* backend_ionq.c */
extern const hq_backend_ops hq_backend_emulator_ionq_ops; /* backend_ionq.c */
extern const hq_backend_ops hq_backend_ibm_ops;           /* backend_ibm.c */
extern const hq_backend_ops hq_backend_emulator_ibm_ops;  /* backend_ibm.c */
extern const hq_backend_ops hq_backend_braket_ops;        /* backend_braket.c */

/* The implementation context of a backend handle and (if ops is not NULL) its vtable, for
 * implementation-specific test and benchmark helpers. NULL for a bad handle. */
void *hq_backend_impl_ctx(hq_backend *b, const hq_backend_ops **ops);

#endif /* HQ_BACKEND_IMPL_H */
