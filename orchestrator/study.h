/*
 * orchestrator/study.h — `hqcnn study`: one trained model's test split evaluated with its
 * quantum layer on several backends (ideal, noisy simulators built from device
 * calibrations, emulated or real QPUs), at several shot counts, with and without error
 * mitigation, written as one self-contained HTML report (orchestrator/report.h) plus CSV
 * and JSON.
 *
 * Backends (--backends, comma separated):
 *   sv              the exact statevector (the reference everything is compared with)
 *   dm:DEVICE       the density matrix with DEVICE's noise: DEVICE is manila, nairobi,
 *                   sherbrooke, fez (data/ibm_backends) or CONF.json+PROPS.json; the
 *                   circuit is transpiled for the device first (ISA, layout, routing) and
 *                   simulated on the physical qubits it uses, with their calibration
 *   dm:@NAME        the same, with the calibration backend NAME reports now (dm:@ibm,
 *                   dm:@emulator-ibm: configuration + properties as fetched over REST);
 *                   NAME is created with the --options given for "dm:@NAME"
 *   NAME            any shot-based backend of the registry (sv-shots, dm-shots,
 *                   emulator-ibm, emulator-ionq, ibm, ionq, braket), through the quantum
 *                   executor and the job database: cached, resumable, never paid twice
 * Shots (--shots): 0 means exact (sv and dm only); other values sample — locally from the
 * exact distribution with counter-based streams for sv and dm, as jobs for the others.
 * Mitigation (--mitigation): none, readout (tensored confusion from the two calibration
 * circuits, measured like everything else; inverted), zne (global unitary folding at
 * scales 1, 3, 5 with barriers, Richardson extrapolation), readout+zne. Each fold and
 * basis is laid out and routed on its own, so its bits may be read from other physical
 * qubits: every circuit gets the confusion of the qubits it is read from (dm: from the
 * study's own transpilation; ibm / emulator-ibm: from the backend's compiled circuits and
 * calibration circuits wide enough to cover those qubits; other remote backends keep
 * logical qubit i on qubit i and are calibrated on the logical qubits).
 * Noise sweep (--scales, dm backends): the noise model scaled by each factor, exact.
 *
 * Per configuration the study records ACC, AUC and F1 of the model's predictions, the
 * error of every expectation value against the exact one, total-variation distance and
 * Hellinger fidelity of every measured distribution against the ideal one, jobs, cost and
 * wall time; ROC curves for binary tasks (one per backend and mitigation, at the exact or
 * else the largest shot count); the transpiled circuit of the first device; and in "meta"
 * the whole study's jobs, circuits and shots submitted, cost and wall time. Rows of dm
 * backends carry the calibration id of their noise model ("calibration": the properties'
 * last_update_date). The exact
 * distributions of a local backend are simulated once and sampled for every shot count.
 */
#ifndef HQ_STUDY_H
#define HQ_STUDY_H

#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_STUDY_MAX_LIST 16

typedef struct hq_study_opts {
    const char *what;     /* run name / id, or a weight file */
    const char *dataset;  /* dataset (NULL = the run's; required for a weight file) */
    const char *data_dir; /* extra dataset directory, or NULL */
    const char *db_path;  /* job database (NULL = runs/hqcnn.db) */
    const char *out_dir;  /* report directory (NULL = runs/study-<run>) */
    const char *backends[HQ_STUDY_MAX_LIST]; /* backend specs (see above) */
    int n_backends;
    const char *backend_options[HQ_STUDY_MAX_LIST]; /* per backend JSON options or NULL */
    int64_t shots[HQ_STUDY_MAX_LIST];               /* shot counts (0 = exact) */
    int n_shots;
    const char *mitigation[HQ_STUDY_MAX_LIST]; /* none, readout, zne, readout+zne */
    int n_mitigation;
    double scales[HQ_STUDY_MAX_LIST]; /* noise-sweep factors */
    int n_scales;
    int64_t subset;  /* first N test images (0 = all) */
    const char *tta; /* "none" | "hflip" (scores averaged over each image and its mirror);
                        NULL = the run's train.tta (a weight file: its directory's
                        config.json), else none */
    uint64_t seed;   /* sampling seed */
    int threads;     /* model threads (0 = all CPUs) */
    bool quiet;      /* no progress lines */
} hq_study_opts;

/* Run the study and write the report. *report_path (cap bytes, may be NULL) receives the
 * HTML file's path. */
hq_status hq_study_run(const hq_study_opts *o, char *report_path, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_STUDY_H */
