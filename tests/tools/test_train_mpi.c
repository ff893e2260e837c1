// `mpirun -np 2 tap train` (train_mpi.h) on a tiny model: two ranks give one process's numbers
// with the same global batch (losses to 1e-5, stage 1 and both stage-2 forms, threads inside
// the ranks), --resume continues with another number of ranks, a NaN ends the job with one
// line, and a rank killed mid-run ends the whole job with last.h5 still resumable. Skipped
// when tap was built without MPI or no mpirun is installed.
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_DATASET_HELPERS
#include "test_util.h"

typedef struct {
    char dir[256], train[300], valid[300], out[300];
} Fixture;

static void fixture(Fixture *fx) {
    snprintf(fx->dir, sizeof fx->dir, "%s", tu_tmpdir());
    snprintf(fx->train, sizeof fx->train, "%s/train.h5", fx->dir);
    snprintf(fx->valid, sizeof fx->valid, "%s/valid.h5", fx->dir);
    snprintf(fx->out, sizeof fx->out, "%s/out.txt", fx->dir);
    tu_write_dataset(fx->train, 26, 1, 1); // 4 batches of 8, 8, 8, 2: the last is cut 1 + 1
    tu_write_dataset(fx->valid, 6, 2, 1);
}

static void run_dir(const Fixture *fx, const char *name, char *out, size_t len) {
    snprintf(out, len, "%s/%s", fx->dir, name);
}

static void need_mpi(void) {
    if (!TAP_MPIRUN[0]) cr_skip_test("tap was built without MPI or no mpirun was found: skipped");
}

#define TINY                                                                                   \
    "--enc-layers", "2", "--enc-units", "6,6", "--pool", "0,1", "--dec-units", "8", "--embed", \
        "4", "--coverage", "3", "--kernel", "3", "--valid-beam", "1", "--valid-maxlen", "12",  \
        "--log-every", "1"

// Starts `[mpirun -np ranks ...] tap train ARGS` (ranks 0: a plain process), output to out.
static pid_t spawn(int ranks, const char *const *args, const char *out) {
    char tap[512], np[16];
    snprintf(tap, sizeof tap, "%s/tap", TAP_BINARY_DIR);
    snprintf(np, sizeof np, "%d", ranks);
    pid_t pid = tu_fork_to(out);
    if (pid == 0) {
        setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1); // containers
        setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
        // In an ASan build: Open MPI itself leaks at exit (its unloaded plugins and libmpi's op
        // tables), which is not tap's to fix; ranks are checked for everything else.
        if (ranks > 0) setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        const char *argv[96];
        int n = 0;
        if (ranks > 0) {
            argv[n++] = TAP_MPIRUN;
            argv[n++] = "-np";
            argv[n++] = np;
            argv[n++] = "--oversubscribe";
            if (geteuid() == 0) argv[n++] = "--allow-run-as-root";
        }
        argv[n++] = tap;
        argv[n++] = "train";
        for (int i = 0; args[i] && n < 95; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static void expect(int ranks, const char *const *args, const char *out, int want) {
    int rc = tu_wait_exit(spawn(ranks, args, out));
    if (rc != want) {
        char *o = tu_read_file(out, NULL);
        static char shown[8192];
        snprintf(shown, sizeof shown, "%s", o ? o : "");
        free(o);
        cr_assert_fail("exit %d, expected %d (%d ranks):\n%s", rc, want, ranks, shown);
    }
}

// Column col (0-based) of every row of kind in run/train.tsv, into v; returns the count.
static int column(const char *run, const char *kind, int col, double *v, int cap) {
    char path[512], row[1024];
    snprintf(path, sizeof path, "%s/train.tsv", run);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    int n = 0;
    size_t kl = strlen(kind);
    while (fgets(row, sizeof row, f) && n < cap) {
        if (strncmp(row, kind, kl) || row[kl] != '\t') continue;
        const char *c = row;
        for (int i = 0; i < col; i++) c = strchr(c, '\t') + 1;
        v[n++] = atof(c);
    }
    fclose(f);
    return n;
}

// Same rows of kind, with column col within rel (train: loss 4, epoch: L^E 5, valid: loss 8).
static void same_column(const char *a, const char *b, const char *kind, int col, int want,
                        double rel) {
    double x[64], y[64];
    int nx = column(a, kind, col, x, 64), ny = column(b, kind, col, y, 64);
    cr_assert_eq(nx, ny, "%s rows: %d vs %d", kind, nx, ny);
    if (want >= 0) cr_assert_eq(nx, want, "%s rows: %d, expected %d", kind, nx, want);
    for (int i = 0; i < nx; i++)
        cr_assert(fabs(x[i] - y[i]) <= rel * fabs(y[i]) + 1e-12,
                  "%s row %d column %d: %.9g (%s) vs %.9g (%s)", kind, i + 1, col, x[i], a, y[i],
                  b);
}

// Straight runs of `steps` updates as one process and as 2 ranks with extra options.
static void compare(const Fixture *fx, const char *const *extra, const char *ranks_threads,
                    int steps) {
    char one[400], two[400], n[16];
    run_dir(fx, "one", one, sizeof one);
    run_dir(fx, "two", two, sizeof two);
    snprintf(n, sizeof n, "%d", steps);
    const char *args[64] = {TINY, "--valid-every", "3", "--max-steps", n};
    int k = 0;
    while (args[k]) k++;
    for (int i = 0; extra[i]; i++) args[k++] = extra[i];
    int base = k;
    const char *t1[] = {"--threads", "1", fx->train, fx->valid, one, NULL};
    for (int i = 0; i < 6; i++) args[base + i] = t1[i];
    expect(0, args, fx->out, 0);
    const char *t2[] = {"--threads", ranks_threads, fx->train, fx->valid, two, NULL};
    for (int i = 0; i < 6; i++) args[base + i] = t2[i];
    expect(2, args, fx->out, 0);
    same_column(two, one, "train", 4, steps, 1e-5);
    same_column(two, one, "epoch", 4, -1, 1e-5);
    same_column(two, one, "epoch", 5, -1, 1e-5); // L^E bits: the summed per-sequence NLLs
    same_column(two, one, "valid", 8, steps / 3, 1e-5);
    // Only rank 0 prints: one configuration, one summary.
    char *o = tu_read_file(fx->out, NULL);
    cr_assert_not_null(o);
    const char *p = strstr(o, "resolved configuration");
    cr_assert(p && !strstr(p + 1, "resolved configuration"), "%s", o);
    cr_assert(strstr(o, "tap train: MPI: 2 ranks"), "%s", o);
    free(o);
}

Test(train_mpi, two_ranks_log_what_one_process_logs) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {NULL};
    compare(&fx, extra, "1", 10); // crosses an epoch end and its batch of 2 (one per rank)
}

Test(train_mpi, two_ranks_of_two_threads_log_what_one_thread_logs) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {NULL};
    compare(&fx, extra, "2", 6);
}

// A stage-1 run of 2 updates as one process, to start stage 2 from: its last.h5 into last.
static void stage_one(const Fixture *fx, char *last, size_t len) {
    char init[400];
    run_dir(fx, "init", init, sizeof init);
    const char *pre[] = {TINY,      "--threads", "1",  "--max-steps", "2",
                         fx->train, fx->valid,   init, NULL};
    expect(0, pre, fx->out, 0);
    snprintf(last, len, "%s/last.h5", init);
}

Test(train_mpi, stage_two_weight_noise_over_two_ranks_matches_one_process) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char last[500];
    stage_one(&fx, last, sizeof last);
    const char *extra[] = {"--stage", "2", "--init", last, "--sigma-init", "0.05", NULL};
    compare(&fx, extra, "1", 6);
}

Test(train_mpi, per_sequence_noise_over_two_ranks_matches_one_process) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char last[500];
    stage_one(&fx, last, sizeof last);
    const char *extra[] = {"--stage",        "2", "--init", last, "--sigma-init", "0.05",
                           "--per-sequence", NULL};
    compare(&fx, extra, "2", 6);
}

Test(train_mpi, resume_continues_with_another_number_of_ranks) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char one[400], mixed[400];
    run_dir(&fx, "one", one, sizeof one);
    run_dir(&fx, "mixed", mixed, sizeof mixed);
    const char *a[] = {TINY,     "--threads", "1", "--valid-every", "3", "--max-steps", "10",
                       fx.train, fx.valid,    one, NULL};
    expect(0, a, fx.out, 0);
    // 4 updates on 2 ranks, then 3 more on 1 process, then the rest on 2 ranks again.
    const char *b[] = {TINY,     "--threads", "1",   "--valid-every", "3", "--max-steps", "4",
                       fx.train, fx.valid,    mixed, NULL};
    expect(2, b, fx.out, 0);
    const char *c[] = {"--resume", "--max-steps", "7", fx.train, fx.valid, mixed, NULL};
    expect(0, c, fx.out, 0);
    const char *d[] = {"--resume", "--max-steps", "10", fx.train, fx.valid, mixed, NULL};
    expect(2, d, fx.out, 0);
    same_column(mixed, one, "train", 4, 10, 1e-5);
    same_column(mixed, one, "valid", 8, 3, 1e-5);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++) n++;
    return n;
}

Test(train_mpi, a_nan_ends_the_job_with_one_line_and_keeps_last_h5) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char run[400];
    run_dir(&fx, "run", run, sizeof run);
    const char *a[] = {TINY,     "--threads", "1", "--valid-every", "2", "--debug-nan-step", "4",
                       fx.train, fx.valid,    run, NULL};
    int rc = tu_wait_exit(spawn(2, a, fx.out));
    char *o = tu_read_file(fx.out, NULL);
    cr_assert_neq(rc, 0, "%s", o);
    cr_assert_eq(count(o, "tap train: error:"), 1, "%s", o);
    cr_assert(strstr(o, "tap train: error: non-finite loss at update 4"), "%s", o);
    free(o);
    const char *b[] = {"--resume", "--debug-nan-step", "0", "--max-steps", "5",
                       fx.train,   fx.valid,           run, NULL};
    expect(0, b, fx.out, 0);
}

// The pids of the `tap` processes whose parent is pid.
static int children(pid_t parent, pid_t *out, int cap) {
    DIR *d = opendir("/proc");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < cap;) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        if (!rp || !strstr(buf, "(tap)")) continue;
        int ppid = 0;
        char state;
        if (sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == parent)
            out[n++] = (pid_t)atoi(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

Test(train_mpi, a_killed_rank_ends_the_job_and_last_h5_resumes) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char run[400], log[500];
    run_dir(&fx, "run", run, sizeof run);
    snprintf(log, sizeof log, "%s/train.tsv", run);
    const char *a[] = {TINY,     "--threads", "1", "--valid-every", "2", "--max-steps", "100000",
                       fx.train, fx.valid,    run, NULL};
    pid_t pid = spawn(2, a, fx.out);
    // Wait until a few updates are logged, then kill one rank.
    pid_t kids[8];
    int nk = 0;
    for (int i = 0; i < 600; i++) {
        char *s = tu_read_file(log, NULL);
        int lines = s ? count(s, "\n") : 0;
        free(s);
        if (lines >= 8 && (nk = children(pid, kids, 8)) == 2) break;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(nk, 2, "two ranks under mpirun");
    double t0 = now();
    kill(kids[1], SIGKILL);
    int rc = -1, st;
    while (now() - t0 < 60.0) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    char *o = tu_read_file(fx.out, NULL);
    cr_assert_geq(rc, 1, "mpirun still running 60 s after a rank was killed:\n%s", o);
    cr_log_info("a rank killed: mpirun exited %d after %.1f s", rc, now() - t0);
    free(o);
    // last.h5 is a complete state: one process continues from it.
    const char *b[] = {"--resume", "--max-steps", "100", fx.train, fx.valid, run, NULL};
    expect(0, b, fx.out, 0);
}

Test(train_mpi, ranks_whose_weights_drift_apart_end_the_job_with_one_line) {
    need_mpi();
    Fixture fx;
    fixture(&fx);
    char run[400];
    run_dir(&fx, "run", run, sizeof run);
    const char *a[] = {TINY, "--threads", "1", "--max-steps", "4", fx.train, fx.valid, run, NULL};
    setenv("TAP_MPI_DEBUG_SKEW", "1", 1); // rank 1 changes one weight before the first save
    int rc = tu_wait_exit(spawn(2, a, fx.out));
    unsetenv("TAP_MPI_DEBUG_SKEW");
    char *o = tu_read_file(fx.out, NULL);
    cr_assert_neq(rc, 0, "%s", o);
    cr_assert_eq(count(o, "tap train: error:"), 1, "%s", o);
    cr_assert(strstr(o, "the ranks' weights differ at update"), "%s", o);
    free(o);
}
