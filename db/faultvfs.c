/*
 * db/faultvfs.c — "hqfault", a SQLite VFS shim over the default VFS that fails writes,
 * syncs or reads on command (disk full after N bytes, the n-th write returns an I/O
 * error, ...), so tests can check that every such failure leaves the last committed
 * state intact and gives a clear error. Everything else passes straight through, including
 * the WAL shared-memory calls (the wal-index is mmapped and never goes through xWrite).
 * Process-wide state behind a mutex; see hq_jobdb_fault in jobdb.h.
 */
#include <pthread.h>
#include <string.h>

#include "db/jobdb_impl.h"

typedef struct fault_file {
    sqlite3_file base;  /* pMethods = &fault_io once the real open succeeded */
    sqlite3_file *real; /* the wrapped file: allocated by SQLite right after this struct */
} fault_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_rc = SQLITE_ERROR;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static bool armed;
static hq_jobdb_fault cfg;
static hq_jobdb_fault_stats stats;
static bool write_fired, sync_fired, read_fired;
static pthread_t armer; /* the thread that armed the fault (cfg.other_threads) */

/* With fault_lock held: whether this call may be failed. */
static bool injectable(void) {
    return armed && !(cfg.other_threads && pthread_equal(pthread_self(), armer));
}

#define REAL(f) (((fault_file *)(f))->real)

/* ==== injected calls =================================================================== */

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    pthread_mutex_lock(&fault_lock);
    stats.writes++;
    int rc = SQLITE_OK;
    int partial = -1; /* bytes to write before failing, -1 = none */
    if (injectable()) {
        if (write_fired) {
            if (cfg.sticky) rc = 1;
        } else if (cfg.write_calls > 0 && stats.writes >= cfg.write_calls) {
            rc = 1;
        } else if (cfg.write_bytes >= 0 && stats.bytes_written + amt > cfg.write_bytes) {
            rc = 1;
            partial = (int)(cfg.write_bytes - stats.bytes_written); /* fill the disk */
        }
        if (rc) {
            write_fired = true;
            stats.failures++;
            rc = cfg.kind == HQ_JOBDB_FAULT_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
        }
    }
    pthread_mutex_unlock(&fault_lock);
    if (rc) {
        if (partial > 0 && partial < amt) {
            REAL(f)->pMethods->xWrite(REAL(f), buf, partial, off);
            pthread_mutex_lock(&fault_lock);
            stats.bytes_written += partial;
            pthread_mutex_unlock(&fault_lock);
        }
        return rc;
    }
    rc = REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
    if (rc == SQLITE_OK) {
        pthread_mutex_lock(&fault_lock);
        stats.bytes_written += amt;
        pthread_mutex_unlock(&fault_lock);
    }
    return rc;
}

static int f_sync(sqlite3_file *f, int flags) {
    pthread_mutex_lock(&fault_lock);
    stats.syncs++;
    bool fail = false;
    if (injectable()) {
        if (sync_fired)
            fail = cfg.sticky;
        else
            fail = cfg.sync_calls > 0 && stats.syncs >= cfg.sync_calls;
        if (fail) sync_fired = true, stats.failures++;
    }
    pthread_mutex_unlock(&fault_lock);
    if (fail) return SQLITE_IOERR_FSYNC;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
    pthread_mutex_lock(&fault_lock);
    stats.reads++;
    bool fail = false;
    if (injectable()) {
        if (read_fired)
            fail = cfg.sticky;
        else
            fail = cfg.read_calls > 0 && stats.reads >= cfg.read_calls;
        if (fail) read_fired = true, stats.failures++;
    }
    pthread_mutex_unlock(&fault_lock);
    if (fail) return SQLITE_IOERR_READ;
    return REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
}

/* ==== pass-through ===================================================================== */

static int f_close(sqlite3_file *f) {
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    f->pMethods = NULL;
    return rc;
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int lk) { return REAL(f)->pMethods->xLock(REAL(f), lk); }
static int f_unlock(sqlite3_file *f, int lk) { return REAL(f)->pMethods->xUnlock(REAL(f), lk); }
static int f_check_reserved(sqlite3_file *f, int *out) {
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_file_control(sqlite3_file *f, int op, void *arg) {
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_device_chars(sqlite3_file *f) {
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp) {
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags) {
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int f_shm_unmap(sqlite3_file *f, int del) {
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) {
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                  int *out_flags) {
    (void)vfs;
    fault_file *ff = (fault_file *)file;
    ff->real = (sqlite3_file *)(ff + 1);
    memset(ff->real, 0, (size_t)real_vfs->szOsFile);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    const sqlite3_io_methods *m = ff->real->pMethods;
    /* only the methods this file really has: an iVersion-1 file gets no shm/mmap calls */
    file->pMethods = m ? &fault_io : NULL;
    if (m && m->iVersion < 3) {
        /* the unix VFS always gives version 3; refuse anything we would misroute */
        m->xClose(ff->real);
        file->pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    return rc;
}
static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
    (void)v;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
    (void)v;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
    (void)v;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static void *v_dlopen(sqlite3_vfs *v, const char *name) {
    (void)v;
    return real_vfs->xDlOpen(real_vfs, name);
}
static void v_dlerror(sqlite3_vfs *v, int n, char *msg) {
    (void)v;
    real_vfs->xDlError(real_vfs, n, msg);
}
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
    (void)v;
    return real_vfs->xDlSym(real_vfs, h, sym);
}
static void v_dlclose(sqlite3_vfs *v, void *h) {
    (void)v;
    real_vfs->xDlClose(real_vfs, h);
}
static int v_randomness(sqlite3_vfs *v, int n, char *out) {
    (void)v;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int v_sleep(sqlite3_vfs *v, int us) {
    (void)v;
    return real_vfs->xSleep(real_vfs, us);
}
static int v_current_time(sqlite3_vfs *v, double *t) {
    (void)v;
    return real_vfs->xCurrentTime(real_vfs, t);
}
static int v_get_last_error(sqlite3_vfs *v, int n, char *msg) {
    (void)v;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}
static int v_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *t) {
    (void)v;
    return real_vfs->xCurrentTimeInt64(real_vfs, t);
}

/* ==== registration and control ========================================================= */

static void do_register(void) {
    if (sqlite3_initialize() != SQLITE_OK) return;
    real_vfs = sqlite3_vfs_find(NULL);
    if (!real_vfs || real_vfs->iVersion < 2) return;
    fault_io = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = f_close,
        .xRead = f_read,
        .xWrite = f_write,
        .xTruncate = f_truncate,
        .xSync = f_sync,
        .xFileSize = f_file_size,
        .xLock = f_lock,
        .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_reserved,
        .xFileControl = f_file_control,
        .xSectorSize = f_sector_size,
        .xDeviceCharacteristics = f_device_chars,
        .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock,
        .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap,
        .xFetch = f_fetch,
        .xUnfetch = f_unfetch,
    };
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "hqfault",
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_get_last_error,
        .xCurrentTimeInt64 = v_current_time_int64,
    };
    reg_rc = sqlite3_vfs_register(&fault_vfs, 0);
}

hq_status hq_jobdb_fault_register(void) {
    pthread_once(&reg_once, do_register);
    if (reg_rc != SQLITE_OK)
        return hq_failf(NULL, HQ_ERR_DB,
                        "hq_jobdb_fault_register: cannot register the hqfault VFS (%s)",
                        sqlite3_errstr(reg_rc));
    return HQ_OK;
}

void hq_jobdb_fault_set(const hq_jobdb_fault *f) {
    pthread_mutex_lock(&fault_lock);
    armed = f != NULL;
    if (f) cfg = *f;
    armer = pthread_self();
    memset(&stats, 0, sizeof stats);
    write_fired = sync_fired = read_fired = false;
    pthread_mutex_unlock(&fault_lock);
}

void hq_jobdb_fault_get_stats(hq_jobdb_fault_stats *out) {
    if (!out) return;
    pthread_mutex_lock(&fault_lock);
    *out = stats;
    pthread_mutex_unlock(&fault_lock);
}
