/*
 * backends/credentials.h — QPU provider credentials, from environment variables or a
 * private credentials file, never from anywhere else.
 *
 *     hq_credentials *c;
 *     if (hq_credentials_load(HQ_CRED_IONQ, NULL, &c) != HQ_OK) { ...hq_last_error()... }
 *     const char *key = hq_credentials_get(c, "api_key");    // borrowed
 *     hq_credentials_free(c);                                // zeroes the secrets
 *
 * Sources, per field (the environment wins over the file):
 *   provider  field               environment variable                      file key
 *   ionq      api_key             IONQ_API_KEY                              api_key
 *   ibm       api_key             IBM_QUANTUM_API_KEY, else IBM_CLOUD_API_KEY api_key
 *   ibm       crn                 IBM_QUANTUM_CRN                           crn
 *   aws       access_key_id       AWS_ACCESS_KEY_ID                         access_key_id
 *   aws       secret_access_key   AWS_SECRET_ACCESS_KEY                     secret_access_key
 *   aws       session_token       AWS_SESSION_TOKEN (optional)              session_token
 *   aws       region              AWS_REGION, else AWS_DEFAULT_REGION       region
 *                                 (default us-east-1)
 * Empty variables count as unset.
 *
 * The file (path: the `file` argument, else $HQCNN_CREDENTIALS, else
 * $XDG_CONFIG_HOME/hqcnn/credentials, else ~/.config/hqcnn/credentials) is read only if
 * a required field is missing from the environment. Format: INI-like sections named
 * after the provider, "key = value" lines, '#' or ';' comments, optional double quotes:
 *
 *     [ionq]
 *     api_key = abcd...
 *     [ibm]
 *     api_key = ...
 *     crn = crn:v1:bluemix:public:quantum-computing:us-east:a/...::
 *     [aws]
 *     access_key_id = AKIA...
 *     secret_access_key = ...
 *     region = us-east-1
 *
 * It must be a regular file owned by the current user and readable by nobody else
 * (mode 0600 or stricter); otherwise loading fails with a message saying `chmod 600 FILE`.
 * Every secret loaded (API keys, access key id, secret key, session token) is registered
 * with hq_secret_register, so it is masked in every error message and log line. Error
 * messages about the file name the line number, never the line's text.
 */
#ifndef HQ_CREDENTIALS_H
#define HQ_CREDENTIALS_H

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hq_cred_provider {
    HQ_CRED_IONQ = 0,
    HQ_CRED_IBM,
    HQ_CRED_AWS,
    HQ_CRED_PROVIDER_COUNT
} hq_cred_provider;

typedef struct hq_credentials hq_credentials;

/* "ionq", "ibm", "aws" (the file section names); "?" if out of range. */
const char *hq_cred_provider_name(hq_cred_provider p);

/*
 * Load the credentials of provider p. file: explicit credentials file (must then exist),
 * or NULL for the default search described above.
 * Returns HQ_OK; HQ_ERR_AUTH if a required field is found nowhere (the message names the
 * variables and the file key to set) or the file is not private (group/other-readable:
 * "chmod 600 FILE"; not owned by the user; not a regular file); HQ_ERR_IO if an explicit
 * file cannot be read; HQ_ERR_PARSE for a malformed file (FILE:LINE); HQ_ERR_INVALID_ARG,
 * HQ_ERR_NOMEM.
 */
hq_status hq_credentials_load(hq_cred_provider p, const char *file, hq_credentials **out);

/* Zeroes and frees; NULL is a no-op. */
void hq_credentials_free(hq_credentials *c);

/* Field value (names as in the table above), borrowed until hq_credentials_free; NULL if
 * the field is unknown or was not provided (only session_token is optional). */
const char *hq_credentials_get(const hq_credentials *c, const char *field);

/* Where the values came from: "environment", the file path, or "environment + FILE". */
const char *hq_credentials_source(const hq_credentials *c);

/* The default credentials file path (see above) into buf; HQ_ERR_NOT_FOUND if neither
 * HQCNN_CREDENTIALS, XDG_CONFIG_HOME nor HOME is set. */
hq_status hq_credentials_default_path(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_CREDENTIALS_H */
