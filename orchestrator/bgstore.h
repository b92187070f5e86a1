/*
 * orchestrator/bgstore.h — store a completed job's results on a second connection to the
 * job database, in a worker thread, while the calling thread goes on (the executor uses it
 * so that storing job k overlaps the simulation of job k + 1 by an in-process backend; see
 * docs/db.md, "Storing while the next job simulates").
 *
 *     hq_bgstore *s;
 *     hq_bgstore_create(db, &s);                 // opens the second connection, starts the thread
 *     hq_bgstore_start(s, job, calib, n, res);   // returns at once
 *     ... work that makes no write through db ...
 *     hq_bgstore_wait(s);                        // committed (or the error, in this thread)
 *     hq_bgstore_free(s);
 *
 * One task at a time. Between start and wait the caller keeps `results` and the histograms
 * they point to unchanged, and writes nothing through its own connection, so the two
 * connections never wait for each other's locks (a write would still be correct, only
 * slower: SQLite's WAL lock orders the two writers and the busy handler waits).
 * Thread safety: one calling thread per hq_bgstore.
 */
#ifndef HQ_BGSTORE_H
#define HQ_BGSTORE_H

#include "db/jobdb.h"

typedef struct hq_bgstore hq_bgstore;

/* A second connection to db's file (hq_jobdb_open_again) and its worker thread.
 * HQ_ERR_UNSUPPORTED for an in-memory or read-only db; HQ_ERR_NOMEM; open errors. */
hq_status hq_bgstore_create(const hq_jobdb *db, hq_bgstore **out);

/* Hand over hq_jobdb_job_complete(job, no response, calibration, n, results) to the
 * worker. calibration is copied (NULL = the job's own). HQ_ERR_MISUSE while a task is in
 * progress (call hq_bgstore_wait first). */
hq_status hq_bgstore_start(hq_bgstore *s, int64_t job, const char *calibration, int64_t n,
                           const hq_jobdb_result *results);

/* Wait until the task handed over (if any) is finished; its status, with the worker's
 * message as this thread's error. HQ_OK when nothing was handed over. */
hq_status hq_bgstore_wait(hq_bgstore *s);

/* Wait for a task in progress, stop the thread, close the connection. NULL is a no-op. */
void hq_bgstore_free(hq_bgstore *s);

#endif /* HQ_BGSTORE_H */
