// Data parallelism over Open MPI ranks (see train_mpi.h). Everything MPI is in this file; built
// without TAP_HAVE_MPI, every function is the one-process identity.
#include "train_mpi.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#ifdef TAP_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#endif

static int g_active; // MPI_Init was called
static int g_rank, g_size = 1;
static int g_quiet;          // another rank reports this run's error
static Trainer *g_trainer;   // for the line of a failed exchange
static double g_comm_s;      // seconds in the update allreduces
static double g_wait_s;      // of those, waiting for the slowest rank (TAP_MPI_TIMING=1)
static long g_updates;       // updates reduced
static double g_floats;      // floats summed per update (the last one)
static double *g_buf;        // (1 + nb) mean and NLLs of a batch
static size_t g_buf_cap;

int train_mpi_built(void) {
#ifdef TAP_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int train_mpi_rank(void) { return g_rank; }
int train_mpi_size(void) { return g_size; }

int train_mpi_local_size(void) {
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = s ? atoi(s) : 1;
    return g_size > 1 && n >= 1 ? n : 1;
}

void train_mpi_share(int nb, int *lo, int *hi) {
    *lo = (int)((long)g_rank * nb / g_size);
    *hi = (int)((long)(g_rank + 1) * nb / g_size);
}

static void quiet_line(void *ctx, const char *line) { (void)ctx, (void)line; }

void train_mpi_attach(Trainer *t) {
    g_trainer = t;
    if (g_rank != 0) {
        t->prog.on_line = quiet_line;
        t->prog.on_update = NULL;
    }
}

int train_mpi_log_open(TrainLog *l, const char *path, int64_t keep_bytes, TapError *err) {
    if (g_rank == 0) return train_log_open(l, path, keep_bytes, err);
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "/dev/null");
    l->f = fopen("/dev/null", "w");
    if (!l->f) return tap_error_set(err, TAP_ERR_IO, "/dev/null: cannot write");
    return TAP_OK;
}

void train_mpi_comm_stats(double *seconds, double *wait, long *updates,
                          double *floats_per_update) {
    *seconds = g_comm_s;
    *wait = g_wait_s;
    *updates = g_updates;
    *floats_per_update = g_floats;
}

#ifndef TAP_HAVE_MPI

int train_mpi_init(int *argc, char ***argv, char *msg, size_t len) {
    (void)argc, (void)argv, (void)msg, (void)len;
    return 0;
}
void train_mpi_finalize(void) {}
int train_mpi_reduce_update(Trainer *t, int per_seq, int lo, int hi, int nb, double *mean, int rc,
                            TapError *err) {
    (void)t, (void)per_seq, (void)lo, (void)hi, (void)nb, (void)mean, (void)err;
    return rc;
}
int train_mpi_agree(int rc, TapError *err) {
    (void)err;
    return rc;
}
int train_mpi_any(int flag) { return flag != 0; }
int train_mpi_root(int value) { return value; }
int train_mpi_same_weights(const float *w, size_t n, long long update, TapError *err) {
    (void)w, (void)n, (void)update, (void)err;
    return TAP_OK;
}
int train_mpi_valid_run(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt,
                        const ValidOptions *o, ValidResult *r, TapError *err) {
    return valid_run(m, ds, vb, bt, o, r, err);
}
void train_mpi_fail(int code, const char *msg) {
    (void)code;
    fprintf(stderr, "tap train: error: %s\n", msg);
}
void train_mpi_die(const char *what, int mpi_rc) {
    fprintf(stderr, "tap train: error: %s failed (%d)\n", what, mpi_rc);
    exit(1);
}

#else // TAP_HAVE_MPI

int train_mpi_init(int *argc, char ***argv, char *msg, size_t len) {
    // Only under mpirun: a plain `tap train` stays a plain process (no singleton MPI start).
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(msg, len, "MPI_Init_thread failed");
        return -1;
    }
    g_active = 1;
    // Errors come back to us (one clear line, then MPI_Abort) instead of MPI's default abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return 0;
}

void train_mpi_finalize(void) {
    free(g_buf);
    g_buf = NULL, g_buf_cap = 0;
    if (g_active) MPI_Finalize();
    g_active = 0;
}

void train_mpi_die(const char *what, int mpi_rc) {
    char es[MPI_MAX_ERROR_STRING] = "";
    int el = 0;
    MPI_Error_string(mpi_rc, es, &el);
    if (g_trainer)
        fprintf(stderr,
                "tap train: error: rank %d of %d: %s failed (%s): a rank died or the network "
                "failed; the job ends, %s holds the last complete state (update %lld)\n",
                g_rank, g_size, what, es, g_trainer->path_last, (long long)g_trainer->saved_step);
    else
        fprintf(stderr, "tap train: error: rank %d of %d: %s failed (%s); the job ends\n", g_rank,
                g_size, what, es);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

void train_mpi_fail(int code, const char *msg) {
    if (g_size <= 1) {
        fprintf(stderr, "tap train: error: %s\n", msg);
        if (!g_active) return;
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1); // -np 1: still end through MPI
        exit(1);
    }
    // A non-finite loss or gradient is found by every rank at once (the gradient is summed
    // first): rank 0 says it. Otherwise the rank that owns the error says it.
    int quiet = g_quiet || (code == TAP_ERR_NUMERIC && g_rank != 0);
    if (!quiet) {
        if (g_rank == 0)
            fprintf(stderr, "tap train: error: %s\n", msg);
        else
            fprintf(stderr, "tap train: error: rank %d of %d: %s\n", g_rank, g_size, msg);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
        exit(1);
    }
    // Wait for the reporting rank's MPI_Abort; end the job ourselves if it never comes.
    for (int i = 0; i < 30; i++) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

static void check(int mpi_rc, const char *what) {
    if (mpi_rc != MPI_SUCCESS) train_mpi_die(what, mpi_rc);
}

// In-place sum of n floats over the ranks (in pieces below INT_MAX).
static void sum_floats(float *x, size_t n, const char *what) {
    for (size_t off = 0; off < n;) {
        size_t c = n - off < (size_t)INT_MAX ? n - off : (size_t)INT_MAX;
        check(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              what);
        off += c;
    }
}

int train_mpi_agree(int rc, TapError *err) {
    if (g_size <= 1) return rc;
    int in[2] = {rc < 0 ? -rc : rc, g_rank}, out[2];
    check(MPI_Allreduce(in, out, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD), "MPI_Allreduce");
    if (out[0] == 0) return TAP_OK;
    int code = -out[0];
    int origin = code == TAP_ERR_NUMERIC ? 0 : out[1];
    if (g_rank != origin) {
        g_quiet = 1;
        if (rc == TAP_OK) tap_error_set(err, code, "rank %d failed", out[1]);
    }
    return code;
}

int train_mpi_any(int flag) {
    if (g_size <= 1) return flag != 0;
    int in = flag != 0, out = 0;
    check(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD), "MPI_Allreduce");
    return out;
}

// FNV-1a over the bytes: any changed bit changes it (up to 2^-64 collisions).
static uint64_t hash_floats(const float *w, size_t n) {
    const unsigned char *b = (const unsigned char *)w;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n * sizeof *w; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

int train_mpi_same_weights(const float *w, size_t n, long long update, TapError *err) {
    if (g_size <= 1) return TAP_OK;
    static int skewed;
    const char *skew = getenv("TAP_MPI_DEBUG_SKEW");
    if (skew && !strcmp(skew, "1") && g_rank == 1 && !skewed && n > 0) {
        float *x = (float *)w; // the test's deliberate drift of one rank
        x[n / 2] = nextafterf(x[n / 2], INFINITY);
        skewed = 1;
    }
    unsigned long long h = hash_floats(w, n), lo = 0, hi = 0;
    check(MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD),
          "MPI_Allreduce of the weight hashes");
    check(MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD),
          "MPI_Allreduce of the weight hashes");
    if (lo == hi) return TAP_OK;
    if (g_rank != 0) g_quiet = 1; // rank 0 reports it
    return tap_error_set(err, TAP_ERR_NUMERIC,
                         "the ranks' weights differ at update %lld (they must stay identical: "
                         "a reduction went wrong); last.h5 keeps the previous agreed state",
                         update);
}

int train_mpi_root(int value) {
    if (g_size <= 1) return value;
    check(MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return value;
}

int train_mpi_reduce_update(Trainer *t, int per_seq, int lo, int hi, int nb, double *mean, int rc,
                            TapError *err) {
    if (g_size <= 1) return rc;
    const size_t n = t->model.table.n;
    const int nl = hi - lo;
    if (!per_seq && nl == 0) { // a batch smaller than the ranks: nothing of it here
        memset(t->model.g, 0, n * sizeof *t->model.g);
        *mean = 0.0;
    }
    if ((rc = train_mpi_agree(rc, err))) return rc;
    if (g_buf_cap < (size_t)nb + 1) {
        free(g_buf);
        g_buf_cap = (size_t)nb + 1;
        g_buf = malloc(g_buf_cap * sizeof *g_buf);
        if (!g_buf) {
            g_buf_cap = 0;
            return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        }
    }
    double *buf = g_buf;
    memset(buf, 0, ((size_t)nb + 1) * sizeof *buf);
    if (per_seq) { // mean and the accumulators already weigh each sequence by 1/nb
        buf[0] = *mean;
        for (int i = lo; i < hi; i++) buf[1 + i] = t->nll[i];
    } else if (nl > 0) { // this rank's mean over its share -> its part of the batch mean
        float w = (float)nl / (float)nb;
        float *g = t->model.g;
        for (size_t i = 0; i < n; i++) g[i] *= w;
        buf[0] = *mean * nl / nb;
        for (int i = 0; i < nl; i++) buf[1 + lo + i] = t->nll[i];
    }
    double t0 = tap_now_seconds();
    static int timing = -1;
    if (timing < 0) timing = getenv("TAP_MPI_TIMING") && atoi(getenv("TAP_MPI_TIMING")) > 0;
    if (timing) {
        check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
        g_wait_s += tap_now_seconds() - t0;
    }
    if (per_seq) {
        sum_floats(t->var.g_acc, n, "MPI_Allreduce of the gradient");
        sum_floats(t->var.curv, n, "MPI_Allreduce of the squared per-sequence gradients");
    } else {
        sum_floats(t->model.g, n, "MPI_Allreduce of the gradient");
    }
    check(MPI_Allreduce(MPI_IN_PLACE, buf, nb + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce of the costs");
    g_comm_s += tap_now_seconds() - t0;
    g_updates++;
    g_floats = (double)n * (per_seq ? 2.0 : 1.0);
    *mean = buf[0];
    for (int i = 0; i < nb; i++) t->nll[i] = buf[1 + i];
    return TAP_OK;
}

int train_mpi_valid_run(TapModel *m, const Dataset *ds, Batcher *vb, Batch *bt,
                        const ValidOptions *o, ValidResult *r, TapError *err) {
    if (g_size <= 1) return valid_run(m, ds, vb, bt, o, r, err);
    double v[8] = {0};
    int rc = TAP_OK;
    if (g_rank == 0) {
        rc = valid_run(m, ds, vb, bt, o, r, err);
        v[0] = rc, v[1] = r->loss, v[2] = r->wer, v[3] = r->exprate, v[4] = (double)r->n;
        v[5] = (double)r->n_loss, v[6] = r->seconds, v[7] = r->interrupted;
    }
    check(MPI_Bcast(v, 8, MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast of the validation");
    if (g_rank == 0) return rc;
    memset(r, 0, sizeof *r);
    if ((rc = (int)v[0])) {
        g_quiet = 1;
        return tap_error_set(err, rc, "validation failed on rank 0");
    }
    r->loss = v[1], r->wer = v[2], r->exprate = v[3], r->n = (long)v[4];
    r->n_loss = (long)v[5], r->seconds = v[6], r->interrupted = (int)v[7];
    return TAP_OK;
}

#endif
