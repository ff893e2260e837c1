// `tap train` and `tap plot` end to end on a tiny model and tiny generated datasets: exact
// resume (straight run vs stopped + resumed, stage 1 and stage 2 with weight noise), signals,
// a NaN in the data, an unwritable output and a full disk, stage changes, options, plots.
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_DATASET_HELPERS
#include "batch.h"
#include "checkpoint.h"
#include "dataset.h"
#include "model.h"
#include "params.h"
#include "rng.h"
#include "test_util.h"

// ---------------------------------------------------------------------------- fixtures

static void write_dataset(const char *path, int n, uint64_t seed) {
    tu_write_dataset(path, n, seed, 0);
}

// A test's directory and the paths most tests use: the datasets, the run directory, the file
// that takes the command's output, and the run's last checkpoint and training log.
typedef struct {
    char dir[256], train[300], valid[300], run[300], out[300], last[400], log[400];
} Fixture;

// Points run, last and log at the run directory `name` in the test's directory (a test with
// several runs keeps a copy of the fixture for each).
static void fixture_run(Fixture *fx, const char *name) {
    snprintf(fx->run, sizeof fx->run, "%s/%s", fx->dir, name);
    snprintf(fx->last, sizeof fx->last, "%s/last.h5", fx->run);
    snprintf(fx->log, sizeof fx->log, "%s/train.tsv", fx->run);
}

// The paths in a fresh directory, without datasets.
static void fixture_paths(Fixture *fx) {
    snprintf(fx->dir, sizeof fx->dir, "%s", tu_tmpdir());
    chmod(fx->dir, 0755); // readable by the unprivileged child of the permission test
    snprintf(fx->train, sizeof fx->train, "%s/train.h5", fx->dir);
    snprintf(fx->valid, sizeof fx->valid, "%s/valid.h5", fx->dir);
    snprintf(fx->out, sizeof fx->out, "%s/out.txt", fx->dir);
    fixture_run(fx, "run");
}

static void fixture(Fixture *fx) {
    fixture_paths(fx);
    write_dataset(fx->train, 24, 1);
    write_dataset(fx->valid, 6, 2);
}

// The tiny model every run uses, then the caller's options.
#define TINY                                                                                   \
    "--enc-layers", "2", "--enc-units", "6,6", "--pool", "0,1", "--dec-units", "8", "--embed", \
        "4", "--coverage", "3", "--kernel", "3", "--valid-beam", "1", "--valid-maxlen", "12",  \
        "--threads", "1", "--log-every", "1"

enum { CHILD_PLAIN, CHILD_NOBODY, CHILD_SMALL_FILES };

// Starts `tap train|plot ARGS...` with stdout and stderr into err_path.
static pid_t spawn(const char *const *args, const char *err_path, int mode) {
    char tap[512];
    snprintf(tap, sizeof tap, "%s/tap", TAP_BINARY_DIR);
    pid_t pid = tu_fork_to(err_path);
    if (pid == 0) {
        // fontconfig keeps its caches until exit (cairo's text): not a leak of ours
        if (!strcmp(args[0], "plot")) setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        if (mode == CHILD_NOBODY && geteuid() == 0) {
            // root ignores permissions: drop to nobody so that they apply
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
        }
        if (mode == CHILD_SMALL_FILES) {
            // a "full disk": no file may grow past 64 kB (EFBIG instead of SIGXFSZ)
            struct rlimit rl = {64 * 1024, 64 * 1024};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        const char *argv[80];
        int n = 0;
        argv[n++] = tap;
        for (int i = 0; args[i] && n < 79; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(tap, (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static int run_tap(const char *const *args, const char *err_path, int mode) {
    return tu_wait_exit(spawn(args, err_path, mode));
}

// Runs and asserts the exit code, showing the command's output when it differs.
static void expect_exit(const char *const *args, const char *err_path, int mode, int want) {
    int rc = run_tap(args, err_path, mode);
    if (rc != want) {
        static char shown[16384];
        char *o = tu_read_file(err_path, NULL);
        snprintf(shown, sizeof shown, "%s", o ? o : "");
        free(o);
        cr_assert_fail("exit %d, expected %d:\n%s", rc, want, shown);
    }
}

static char *slurp(const char *path) {
    char *s = tu_read_file(path, NULL);
    cr_assert_not_null(s, "cannot read %s", path);
    return s;
}

// train.tsv without its last column (elapsed seconds differ between runs).
static char *log_without_time(const char *path) {
    char *s = slurp(path), *out = malloc(strlen(s) + 1), *o = out;
    for (char *line = s; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *last_tab = line + len;
        while (last_tab > line && *last_tab != '\t') last_tab--;
        memcpy(o, line, (size_t)(last_tab - line));
        o += last_tab - line;
        *o++ = '\n';
        line += len + (end ? 1 : 0);
    }
    *o = '\0';
    free(s);
    return out;
}

static int count_lines(const char *path) {
    char *s = tu_read_file(path, NULL);
    int n = 0;
    for (char *p = s; p && *p; p++) n += *p == '\n';
    free(s);
    return n;
}

// Loads the listed role arrays of a checkpoint (config from the file itself).
static float **load_roles(const char *path, const char *const *groups, int n, size_t *len,
                          CheckpointScalars *sc) {
    TapConfig cfg;
    ParamTable t;
    TapError err;
    cr_assert_eq(checkpoint_read_config(path, &cfg, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(params_layout(&cfg, &t, &err), TAP_OK, "%s", err.msg);
    float **data = calloc((size_t)n, sizeof *data);
    CheckpointRole roles[8];
    for (int i = 0; i < n; i++) {
        data[i] = malloc(t.n * sizeof **data);
        roles[i] = (CheckpointRole){groups[i], data[i], CHECKPOINT_F32};
    }
    cr_assert_eq(checkpoint_load(path, &cfg, &t, roles, n, sc, &err), TAP_OK, "%s", err.msg);
    *len = t.n;
    params_free(&t);
    return data;
}

static void assert_same_roles(const char *a, const char *b, const char *const *groups, int n) {
    size_t na, nb;
    float **x = load_roles(a, groups, n, &na, NULL), **y = load_roles(b, groups, n, &nb, NULL);
    cr_assert_eq(na, nb);
    for (int i = 0; i < n; i++) {
        cr_assert(memcmp(x[i], y[i], na * sizeof(float)) == 0, "/%s differs between %s and %s",
                  groups[i], a, b);
        free(x[i]), free(y[i]);
    }
    free(x), free(y);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// ---------------------------------------------------------------------------- options

Test(train, help_lists_every_option_with_its_default) {
    Fixture fx;
    fixture_paths(&fx);
    const char *args[] = {"train", "--help", NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    char *h = slurp(fx.out);
    const char *want[] = {
        "--preset S",     "[tap]",      "--eps N",   "[1e-08]",         "--patience N",
        "[15]",           "--clip N",   "[1000]",    "--variational S", "[adaptive-weight-noise]",
        "--valid-beam N", "[10]",       "--stage S", "[both]",          "--threads N",
        "--resume",       "--maxlen N", "[200]",     "--batch-size N",  "[8]",
        "--config FILE",  "Exit codes"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(h, want[i]), "help lacks '%s':\n%s", want[i], h);
    free(h);
}

Test(train, bad_usage_exits_2_with_one_error_line) {
    Fixture fx;
    fixture(&fx);
    const char *cases[][10] = {
        {"train", fx.train, fx.valid, NULL},
        {"train", "--stage", "3", fx.train, fx.valid, fx.run, NULL},
        {"train", "--variational", "bogus", fx.train, fx.valid, fx.run, NULL},
        {"train", "--enc-units", "4,4", fx.train, fx.valid, fx.run, NULL},
        {"train", "--stage", "2", fx.train, fx.valid, fx.run, NULL},
        {"train", "--preset", "huge", fx.train, fx.valid, fx.run, NULL},
        {"train", "--scratch", fx.train, fx.valid, fx.run, NULL},
        {"train", "--stage", "2", "--scratch", "--init", fx.train, fx.train, fx.valid, fx.run,
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(run_tap(cases[i], fx.out, CHILD_PLAIN), 2, "case %zu", i);
        char *e = slurp(fx.out);
        cr_assert(!strncmp(e, "tap train: error: ", 18) && strchr(e, '\n') == e + strlen(e) - 1,
                  "case %zu: %s", i, e);
        free(e);
    }
    // A missing input is a runtime error, and an existing run is never overwritten.
    const char *missing[] = {"train", TINY, "/nonexistent.h5", fx.valid, fx.run, NULL};
    expect_exit(missing, fx.out, CHILD_PLAIN, 1);
    const char *once[] = {"train", TINY, "--max-steps", "1", fx.train, fx.valid, fx.run, NULL};
    expect_exit(once, fx.out, CHILD_PLAIN, 0);
    expect_exit(once, fx.out, CHILD_PLAIN, 2);
    char *e = slurp(fx.out);
    cr_assert(strstr(e, "exists: add --resume"), "%s", e);
    free(e);
}

// The update count in "stopping at update N" of a run's stderr, or -1.
static long stopped_at(const char *err_path) {
    char *e = slurp(err_path);
    const char *p = strstr(e, "stopping at update ");
    long n = p ? strtol(p + 19, NULL, 10) : -1;
    cr_assert(strstr(e, "(--max-minutes)"), "%s", e);
    free(e);
    return n;
}

Test(train, max_minutes_stops_the_run_and_counts_time_across_resumes) {
    Fixture fx;
    fixture(&fx);
    // 6 ms: over within the first updates (the set-up may already spend it), checkpoint written,
    // a normal exit; without the budget the run would end by --max-epochs at update 60.
    const char *first[] = {"train", TINY,     "--max-minutes", "0.0001", "--max-epochs",
                           "20",    fx.train, fx.valid,        fx.run,   NULL};
    expect_exit(first, fx.out, CHILD_PLAIN, 0);
    long n1 = stopped_at(fx.out);
    cr_assert(n1 >= 0 && n1 < 30, "stopped at update %ld", n1);
    // The budget is spent: a resume with the same budget does no further update.
    const char *again[] = {"train", "--resume", fx.train, fx.valid, fx.run, NULL};
    expect_exit(again, fx.out, CHILD_PLAIN, 0);
    cr_assert_eq(stopped_at(fx.out), n1);
}

Test(train, config_file_and_preset_resolve_and_are_stored_in_checkpoints) {
    Fixture fx;
    fixture(&fx);
    char conf[400];
    snprintf(conf, sizeof conf, "%s/train.conf", fx.dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "# tiny\nmix-wer = 0.7\npatience = 3\n");
    fclose(f);
    // The flag wins over the file; the preset gives what neither sets.
    const char *args[] = {"train",  "--preset", "small", TINY,          "--patience",
                          "4",      "--config", conf,    "--max-steps", "2",
                          fx.train, fx.valid,   fx.run,  NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "preset = small\n") && strstr(o, "mix-wer = 0.7\n") &&
                  strstr(o, "patience = 4\n") && strstr(o, "valid-beam = 1\n") &&
                  strstr(o, "coverage = 3\n") && strstr(o, "kernel = 3\n") &&
                  strstr(o, "n-train = 0\n"),
              "%s", o);
    free(o);
    const char *g[] = {"params"};
    static CheckpointScalars sc;
    size_t n;
    float **w = load_roles(fx.last, g, 1, &n, &sc);
    free(w[0]), free(w);
    cr_assert(strstr(sc.text, "mix-wer = 0.7\n") && strstr(sc.text, "patience = 4\n"), "%s",
              sc.text);
    cr_assert_eq(sc.step, 2);
}

// ---------------------------------------------------------------------------- exact resume

// Trains `total` updates straight (run "straight"), and `first` then --resume to `total` (run
// "resumed"): the same log, and the same arrays in last.h5 for each of the n listed groups.
static void check_resume(const Fixture *fx, const char *const *extra, int first, int total,
                         const char *const *groups, int n) {
    Fixture a = *fx, b = *fx;
    fixture_run(&a, "straight");
    fixture_run(&b, "resumed");
    char n1[16], n2[16];
    snprintf(n1, sizeof n1, "%d", first);
    snprintf(n2, sizeof n2, "%d", total);
    const char *args[64] = {"train", TINY, "--valid-every", "3"};
    int k = 0;
    while (args[k]) k++;
    for (int i = 0; extra[i]; i++) args[k++] = extra[i];
    int base = k;
    const char *tail1[] = {"--max-steps", n2, fx->train, fx->valid, a.run, NULL};
    for (int i = 0; i < 6; i++) args[base + i] = tail1[i];
    expect_exit(args, fx->out, CHILD_PLAIN, 0);
    const char *tail2[] = {"--max-steps", n1, fx->train, fx->valid, b.run, NULL};
    for (int i = 0; i < 6; i++) args[base + i] = tail2[i];
    expect_exit(args, fx->out, CHILD_PLAIN, 0);
    // The stored configuration is the base of a resumed run: no model flags needed.
    const char *resume[] = {"train",   "--resume", "--max-steps", n2,
                            fx->train, fx->valid,  b.run,         NULL};
    expect_exit(resume, fx->out, CHILD_PLAIN, 0);
    char *x = log_without_time(a.log), *y = log_without_time(b.log);
    cr_assert_str_eq(x, y);
    cr_assert_geq(count_lines(a.log), total + 2, "one row per update, plus epochs and validations");
    free(x), free(y);
    assert_same_roles(a.last, b.last, groups, n);
}

Test(train, resumed_stage_one_repeats_the_uninterrupted_run_bit_for_bit) {
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {NULL};
    const char *g[] = {"params", "best_params", "opt_mu_rg2", "opt_mu_ru2"};
    check_resume(&fx, extra, 5, 13, g, 4); // crosses an epoch end (3 batches) and validations
}

Test(train, resumed_stage_two_with_weight_noise_repeats_the_run_bit_for_bit) {
    Fixture fx;
    fixture(&fx);
    // A stage-1 model to start from.
    const char *pre[] = {"train", TINY, "--max-steps", "3", fx.train, fx.valid, fx.run, NULL};
    expect_exit(pre, fx.out, CHILD_PLAIN, 0);
    const char *extra[] = {"--stage", "2", "--init", fx.last, NULL};
    const char *g[] = {"params", "ls2", "opt_mu_rg2", "opt_mu_ru2", "opt_ls2_rg2", "opt_ls2_ru2"};
    check_resume(&fx, extra, 4, 10, g, 6);
    // Stage 2 logs the description length.
    Fixture straight = fx;
    fixture_run(&straight, "straight");
    char *s = slurp(straight.log);
    cr_assert(strstr(s, "\nepoch\t2\t"), "%s", s);
    free(s);
}

// The loss column of every train row of a log, into out (at most cap); returns the count.
static int train_losses(const char *path, double *out, int cap) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char row[512];
    int n = 0;
    while (fgets(row, sizeof row, f) && n < cap) {
        if (strncmp(row, "train\t", 6)) continue;
        const char *c = row;
        for (int i = 0; i < 4; i++) c = strchr(c, '\t') + 1;
        out[n++] = atof(c);
    }
    fclose(f);
    return n;
}

Test(train, per_sequence_weight_noise_resumes_bit_for_bit_whatever_the_replicas) {
    Fixture fx;
    fixture(&fx);
    const char *pre[] = {"train", TINY, "--max-steps", "3", fx.train, fx.valid, fx.run, NULL};
    expect_exit(pre, fx.out, CHILD_PLAIN, 0);
    char init[600];
    snprintf(init, sizeof init, "%s/init.h5", fx.dir);
    cr_assert_eq(rename(fx.last, init), 0);
    // sigma 0.05 from the start: at TAP's 1e-12 the curvature term does not move ls2 yet.
    const char *extra[] = {"--stage",        "2", "--init",    init, "--sigma-init", "0.05",
                           "--per-sequence", "--threads", "2", NULL};
    const char *g[] = {"params", "ls2", "opt_mu_rg2", "opt_ls2_rg2"};
    check_resume(&fx, extra, 4, 8, g, 4);
    // Sequences are drawn in order whatever the replicas: one thread gives the same losses; the
    // batch form (one draw, squared batch gradient) gives other weights.
    Fixture straight = fx, one = fx, batch = fx;
    fixture_run(&straight, "straight");
    fixture_run(&one, "one");
    fixture_run(&batch, "batch");
    const char *a1[] = {"train",   TINY,      "--valid-every", "3",      "--max-steps", "8",
                        "--stage", "2",       "--init",        init,     "--per-sequence",
                        "--sigma-init", "0.05", one.train, one.valid, one.run, NULL};
    expect_exit(a1, fx.out, CHILD_PLAIN, 0);
    const char *a0[] = {"train", TINY,        "--valid-every", "3",       "--max-steps", "8",
                        "--stage", "2",       "--init",        init,      "--sigma-init",
                        "0.05", batch.train, batch.valid, batch.run, NULL};
    expect_exit(a0, fx.out, CHILD_PLAIN, 0);
    double x[16], y[16];
    cr_assert_eq(train_losses(straight.log, x, 16), 8);
    cr_assert_eq(train_losses(one.log, y, 16), 8);
    for (int i = 0; i < 8; i++)
        cr_assert(fabs(x[i] - y[i]) <= 1e-5 * fabs(y[i]), "update %d: loss %.9g (2 threads) vs "
                  "%.9g (1 thread)", i + 1, x[i], y[i]);
    const char *gl[] = {"ls2"};
    static CheckpointScalars sc;
    size_t n1, n0;
    float **w1 = load_roles(one.last, gl, 1, &n1, &sc), **w0 = load_roles(batch.last, gl, 1, &n0, &sc);
    size_t differ = 0;
    for (size_t i = 0; i < n1; i++) differ += w1[0][i] != w0[0][i];
    cr_assert_gt(differ, n1 / 2, "the per-sequence curvature changed %zu of %zu log-variances",
                 differ, n1);
    free(w1[0]), free(w1), free(w0[0]), free(w0);
}

Test(train, two_threads_split_each_batch_and_resume_bit_for_bit) {
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {"--threads", "2", NULL};
    const char *g[] = {"params", "opt_mu_rg2", "opt_mu_ru2"};
    check_resume(&fx, extra, 4, 9, g, 3);
    // The shares' averaged gradient is the whole batch's: one thread logs the same losses.
    const char *args[] = {"train", TINY,     "--valid-every", "3",    "--max-steps",
                          "9",     fx.train, fx.valid,        fx.run, NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    Fixture straight = fx;
    fixture_run(&straight, "straight");
    FILE *fa = fopen(straight.log, "r"), *fb = fopen(fx.log, "r");
    char ra[512], rb[512];
    int rows = 0;
    while (fgets(ra, sizeof ra, fa) && fgets(rb, sizeof rb, fb)) {
        if (strncmp(ra, "train\t", 6)) continue;
        double x = atof(strchr(strchr(strchr(strchr(ra, '\t') + 1, '\t') + 1, '\t') + 1, '\t') + 1);
        double y = atof(strchr(strchr(strchr(strchr(rb, '\t') + 1, '\t') + 1, '\t') + 1, '\t') + 1);
        cr_assert(fabs(x - y) <= 1e-5 * fabs(y), "loss %.9g (2 threads) vs %.9g (1 thread)", x, y);
        rows++;
    }
    cr_assert_eq(rows, 9);
    fclose(fa), fclose(fb);
}

Test(train, augmented_ink_resumes_bit_for_bit_whatever_the_replicas) {
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {"--augment", "--aug-jitter", "0.01", "--threads", "2", NULL};
    const char *g[] = {"params", "opt_mu_rg2", "opt_mu_ru2"};
    check_resume(&fx, extra, 4, 9, g, 3);
    // Each expression's draw depends on the update and the expression, not on the shares: one
    // thread logs the same losses; without --augment they differ.
    Fixture straight = fx, one = fx, plain = fx;
    fixture_run(&straight, "straight");
    fixture_run(&one, "one");
    fixture_run(&plain, "plain");
    const char *a1[] = {"train",   TINY,    "--valid-every", "3",     "--max-steps", "9",
                        "--augment", "--aug-jitter", "0.01", one.train, one.valid,  one.run, NULL};
    expect_exit(a1, fx.out, CHILD_PLAIN, 0);
    const char *a0[] = {"train",     TINY,        "--valid-every", "3",      "--max-steps",
                        "9",         plain.train, plain.valid,     plain.run, NULL};
    expect_exit(a0, fx.out, CHILD_PLAIN, 0);
    double x[16], y[16], z[16];
    int nx = train_losses(straight.log, x, 16), ny = train_losses(one.log, y, 16),
        nz = train_losses(plain.log, z, 16);
    cr_assert_eq(nx, 9);
    cr_assert_eq(ny, 9);
    cr_assert_eq(nz, 9);
    for (int i = 0; i < 9; i++)
        cr_assert(fabs(x[i] - y[i]) <= 1e-5 * fabs(y[i]), "update %d: loss %.9g (2 threads) vs "
                  "%.9g (1 thread)", i + 1, x[i], y[i]);
    // A tiny model at its initialisation hardly reads the ink, so the losses move little; the
    // weights of two single-thread runs differ only through the ink they saw.
    const char *g1[] = {"params"};
    static CheckpointScalars sc;
    size_t n1, n0;
    float **w1 = load_roles(one.last, g1, 1, &n1, &sc), **w0 = load_roles(plain.last, g1, 1, &n0, &sc);
    cr_assert_eq(n1, n0);
    size_t differ = 0;
    for (size_t i = 0; i < n1; i++) differ += w1[0][i] != w0[0][i];
    cr_assert_gt(differ, n1 / 4, "augmentation changed %zu of %zu weights", differ, n1);
    free(w1[0]), free(w1), free(w0[0]), free(w0);
}

Test(train, keep_valid_keeps_the_last_validated_weights_and_tap_average_means_them) {
    Fixture fx;
    fixture(&fx);
    const char *args[] = {"train", TINY, "--valid-every", "3", "--keep-valid", "2", "--max-steps",
                          "9", fx.train, fx.valid, fx.run, NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    char v6[600], v9[600], v3[600], avg[600];
    snprintf(v3, sizeof v3, "%s/valid/s1-u0000000003.h5", fx.run);
    snprintf(v6, sizeof v6, "%s/valid/s1-u0000000006.h5", fx.run);
    snprintf(v9, sizeof v9, "%s/valid/s1-u0000000009.h5", fx.run);
    snprintf(avg, sizeof avg, "%s/avg.h5", fx.dir);
    cr_assert(access(v3, F_OK) != 0, "the oldest validation was kept");
    const char *g[] = {"params"};
    static CheckpointScalars sc;
    size_t n6, n9, na, nl;
    float **w6 = load_roles(v6, g, 1, &n6, &sc);
    cr_assert(strstr(sc.text, "# validated: stage 1, update 6, "), "%s", sc.text);
    float **w9 = load_roles(v9, g, 1, &n9, &sc);
    float **wl = load_roles(fx.last, g, 1, &nl, &sc);
    cr_assert(!memcmp(w9[0], wl[0], n9 * sizeof(float)), "the last validation is last.h5's mu");
    const char *av[] = {"average", v6, v9, "-o", avg, NULL};
    expect_exit(av, fx.out, CHILD_PLAIN, 0);
    float **wa = load_roles(avg, g, 1, &na, &sc);
    cr_assert_eq(na, n6);
    int moved = 0;
    for (size_t i = 0; i < na; i++) {
        float want = (float)(((double)w6[0][i] + (double)w9[0][i]) / 2);
        cr_assert_eq(wa[0][i], want, "weight %zu: %.9g, expected %.9g", i, (double)wa[0][i],
                     (double)want);
        moved += w6[0][i] != w9[0][i];
    }
    cr_assert_gt(moved, 0);
    // Another configuration, a missing file or the output among the inputs: refused.
    char small[600];
    snprintf(small, sizeof small, "%s/data/model/small.h5", TAP_SOURCE_DIR);
    const char *mix[] = {"average", v6, small, "-o", avg, NULL};
    expect_exit(mix, fx.out, CHILD_PLAIN, 1);
    const char *self[] = {"average", v6, avg, "-o", avg, NULL};
    expect_exit(self, fx.out, CHILD_PLAIN, 2);
    // tap export: last.h5's weights rounded to halves, in a smaller file; --float32 exactly.
    char half[600], full[600];
    snprintf(half, sizeof half, "%s/half.h5", fx.dir);
    snprintf(full, sizeof full, "%s/full.h5", fx.dir);
    const char *ex[] = {"export", fx.last, "-o", half, NULL};
    expect_exit(ex, fx.out, CHILD_PLAIN, 0);
    const char *ex32[] = {"export", fx.last, "--float32", "-o", full, NULL};
    expect_exit(ex32, fx.out, CHILD_PLAIN, 0);
    size_t nh, nf;
    float **wh = load_roles(half, g, 1, &nh, &sc);
    // The training options stay, followed by what export did.
    cr_assert(strstr(sc.text, "batch-size = ") && strstr(sc.text, "\n# export of 1 checkpoint(s), float16: "),
              "%s", sc.text);
    float **wf = load_roles(full, g, 1, &nf, &sc);
    cr_assert(nh == nl && nf == nl);
    cr_assert(!memcmp(wf[0], wl[0], nl * sizeof(float)));
    for (size_t i = 0; i < nl; i++) {
        float w = wl[0][i], err = fabsf(wh[0][i] - w);
        cr_assert(err <= fabsf(w) * 0x1p-11f + 0x1p-25f, "weight %zu: %a for %a", i,
                  (double)wh[0][i], (double)w);
    }
    // At a real size (the bundled small model) the file is about half as large.
    char small_half[600];
    snprintf(small_half, sizeof small_half, "%s/small_half.h5", fx.dir);
    const char *ex_small[] = {"export", small, "-o", small_half, NULL};
    expect_exit(ex_small, fx.out, CHILD_PLAIN, 0);
    struct stat st_half, st_full;
    cr_assert(stat(small_half, &st_half) == 0 && stat(small, &st_full) == 0);
    cr_assert_lt(st_half.st_size, st_full.st_size * 6 / 10, "%lld vs %lld bytes",
                 (long long)st_half.st_size, (long long)st_full.st_size);
    // The weights keep the vocabulary they were trained with.
    char **va = NULL, **vb = NULL;
    int na_v = 0, nb_v = 0;
    cr_assert(checkpoint_read_vocab(fx.last, &va, &na_v, NULL) == TAP_OK);
    cr_assert(checkpoint_read_vocab(half, &vb, &nb_v, NULL) == TAP_OK);
    cr_assert(na_v > 0 && nb_v == na_v, "%d vs %d tokens", nb_v, na_v);
    for (int k = 0; k < na_v; k++) cr_assert_str_eq(vb[k], va[k]);
    checkpoint_vocab_free(va, na_v), checkpoint_vocab_free(vb, nb_v);
    const char *two[] = {"export", v6, v9, "-o", half, NULL};
    expect_exit(two, fx.out, CHILD_PLAIN, 2);
    free(wh[0]), free(wh), free(wf[0]), free(wf);
    free(w6[0]), free(w6), free(w9[0]), free(w9), free(wl[0]), free(wl), free(wa[0]), free(wa);
}

Test(train, sgd_and_adam_are_selectable_resume_exactly_and_decay_their_learning_rate) {
    Fixture fx;
    fixture(&fx);
    const char *extra[] = {"--optimizer", "adam", "--lr", "0.003", NULL};
    const char *g[] = {"params", "opt_mu_m", "opt_mu_v"};
    check_resume(&fx, extra, 4, 9, g, 3);
    Fixture straight = fx;
    fixture_run(&straight, "straight");
    char *s = slurp(straight.log);
    cr_assert(strstr(s, "\t0.003\t"), "the rate column shows adam's learning rate:\n%s", s);
    free(s);
    // sgd: a patience of 0 and a jumpy loss criterion decay its learning rate by 10.
    Fixture sgd = fx;
    fixture_run(&sgd, "sgd");
    const char *a[] = {"train",     TINY,         "--optimizer",   "sgd",        "--lr",
                       "0.05",      "--patience", "0",             "--criterion1", "loss",
                       "--valid-every", "1",      "--stage",       "1",          "--max-steps",
                       "30",        sgd.train,    sgd.valid,       sgd.run,      NULL};
    expect_exit(a, fx.out, CHILD_PLAIN, 0);
    s = slurp(sgd.log);
    cr_assert(strstr(s, "\t0.005\t"), "sgd's learning rate was never divided by 10:\n%s", s);
    free(s);
    const char *bad[] = {"train", TINY, "--optimizer", "rmsprop", fx.train, fx.valid, fx.run, NULL};
    expect_exit(bad, fx.out, CHILD_PLAIN, 2);
}

Test(train, resume_refuses_settings_that_would_silently_not_apply) {
    Fixture fx;
    fixture(&fx);
    const char *args[] = {"train", TINY, "--max-steps", "2", fx.train, fx.valid, fx.run, NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    const char *seed[] = {"train", "--resume", "--seed", "99", fx.train, fx.valid, fx.run, NULL};
    expect_exit(seed, fx.out, CHILD_PLAIN, 2);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "'seed' was '1234' and cannot change"), "%s", o);
    free(o);
    const char *preset[] = {"train", "--resume", "--preset", "small", fx.train, fx.valid, fx.run,
                            NULL};
    expect_exit(preset, fx.out, CHILD_PLAIN, 2);
    // The same value, budgets and threads are fine.
    const char *ok[] = {"train",       "--resume", "--seed", "1234",   "--max-steps", "4",
                        "--threads",   "2",        "--keep-valid", "1", fx.train, fx.valid,
                        fx.run,        NULL};
    expect_exit(ok, fx.out, CHILD_PLAIN, 0);
}

// ---------------------------------------------------------------------------- stages

Test(train, exhausted_patience_decays_eps_then_hands_the_best_weights_to_stage_two) {
    Fixture fx;
    fixture(&fx);
    // A large eps makes the validation loss jump about, so the patience of 0 runs out fast.
    const char *args[] = {"train",         TINY,          "--eps",         "0.05",
                          "--patience",    "0",           "--criterion1",  "loss",
                          "--criterion2",  "loss",        "--valid-every", "1",
                          "--variational", "adaptive-l2", "--max-steps",   "60",
                          fx.train,        fx.valid,      fx.run,          NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    char *s = slurp(fx.log);
    cr_assert(strstr(s, "\t0.005\t"), "eps was never divided by 10:\n%s", s);
    cr_assert(strstr(s, "\ntrain\t2\t"), "stage 2 never started:\n%s", s);
    free(s);
    char path[500];
    snprintf(path, sizeof path, "%s/best_stage1.h5", fx.run);
    const char *g[] = {"params"};
    static CheckpointScalars sc;
    size_t n;
    float **w = load_roles(path, g, 1, &n, &sc);
    cr_assert(strstr(sc.text, "# best of stage 1: stage 1, update "), "%s", sc.text);
    free(w[0]), free(w);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "stage 2 (adaptive-l2) starts from those weights"), "%s", o);
    free(o);
}

// Column col (0 = kind) of the first row of train.tsv whose kind is `kind`.
static double log_field(const char *path, const char *kind, int col) {
    char *s = slurp(path), *line = s;
    size_t kl = strlen(kind);
    while (line && !(strncmp(line, kind, kl) == 0 && line[kl] == '\t')) {
        line = strchr(line, '\n');
        if (line) line++;
    }
    cr_assert_not_null(line, "no %s row in %s", kind, path);
    for (int i = 0; i < col; i++) line = strchr(line, '\t') + 1;
    double v = atof(line);
    free(s);
    return v;
}

Test(train, stage_two_from_scratch_starts_at_the_seeded_initialisation_and_logs_its_model_cost) {
    Fixture fx;
    fixture(&fx);
    Fixture two = fx, l2 = fx;
    fixture_run(&two, "two");
    fixture_run(&l2, "l2");
    // Stage 2 with ml from scratch is stage 1: same initial weights, data order and updates.
    const char *s1[] = {"train", TINY, "--max-steps", "5", fx.train, fx.valid, fx.run, NULL};
    expect_exit(s1, fx.out, CHILD_PLAIN, 0);
    const char *s2[] = {"train", TINY,          "--stage", "2",      "--scratch", "--variational",
                        "ml",    "--max-steps", "5",       fx.train, fx.valid,    two.run,
                        NULL};
    expect_exit(s2, fx.out, CHILD_PLAIN, 0);
    const char *g[] = {"params", "opt_mu_rg2", "opt_mu_ru2"};
    assert_same_roles(fx.last, two.last, g, 3);
    cr_assert_eq(log_field(two.log, "train", 1), 2.0, "logged as stage 2");
    cr_assert_eq(log_field(two.log, "epoch", 6), 0.0, "ml has no model cost");
    // l2 from scratch, stopped right after its first epoch (3 batches): the logged L^C is the
    // negative log Gauss(0, 0.01) density of the weights in last.h5, in bits.
    const char *s3[] = {"train",       TINY,   "--stage",     "2", "--scratch", "--variational",
                        "l2",          "--prior-var", "0.01", "--max-steps", "3", fx.train,
                        fx.valid,      l2.run, NULL};
    expect_exit(s3, fx.out, CHILD_PLAIN, 0);
    size_t n;
    float **w = load_roles(l2.last, g, 1, &n, NULL);
    double nats = 0.5 * (double)n * log(2.0 * acos(-1.0) * 0.01);
    for (size_t i = 0; i < n; i++) nats += (double)w[0][i] * (double)w[0][i] / (2.0 * 0.01);
    free(w[0]), free(w);
    double lc = log_field(l2.log, "epoch", 6), want = nats / log(2.0);
    cr_assert(fabs(lc - want) <= 1e-4 * fabs(want), "L^C %.9g bits, expected %.9g", lc, want);
    cr_assert_gt(log_field(l2.log, "epoch", 5), 0.0, "L^E is logged");
}

Test(train, eps_ls2_sets_the_first_step_of_the_learned_log_variance) {
    Fixture fx;
    fixture(&fx);
    const char *args[] = {"train",     TINY,          "--stage",
                          "2",         "--scratch",   "--variational",
                          "adaptive-weight-noise",    "--eps",
                          "1e-6",      "--eps-ls2",   "1e-8",
                          "--max-steps", "1",         fx.train,
                          fx.valid,    fx.run,        NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    // At sigma 1e-12 the ls2 gradient is -(c/N)·1024 (c 0.1, N 2 x 24) for every weight, and
    // Adadelta's first step is sqrt(eps)·|g|/sqrt((1 - rho) g^2 + eps) with eps = --eps-ls2.
    double g = 0.1 / 48.0 * 1024.0, eps = 1e-8;
    double want = log(1e-24) / 2048.0 + sqrt(eps) * g / sqrt(0.05 * g * g + eps);
    const char *roles[] = {"ls2"};
    size_t n;
    float **l = load_roles(fx.last, roles, 1, &n, NULL);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)l[0][i] - want) <= 1e-6, "ls2[%zu] = %.9g, expected %.9g", i,
                  (double)l[0][i], want);
    free(l[0]), free(l);
}

// Summed label NLL (no guidance) of every expression of a dataset, one at a time, at the
// weights of a checkpoint.
static double dataset_nll(const char *data, const char *ckpt) {
    TapConfig cfg;
    TapError err;
    Dataset ds;
    Batch bt;
    TapModel m;
    cr_assert_eq(checkpoint_read_config(ckpt, &cfg, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(dataset_load(data, &ds, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(batch_init(&bt, 1, 32, 8, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(model_init(&m, &cfg, 32, 8, 1, 1, &err), TAP_OK, "%s", err.msg);
    const char *g[] = {"params"};
    size_t n;
    float **w = load_roles(ckpt, g, 1, &n, NULL);
    cr_assert_eq(n, m.table.n);
    memcpy(m.w, w[0], n * sizeof *m.w);
    free(w[0]), free(w);
    double sum = 0.0;
    for (int i = 0; i < ds.n; i++) {
        batch_fill(&bt, &ds, &i, 1);
        ModelBatch b = {bt.Tx, bt.Ty, bt.B, bt.x, bt.x_mask, bt.y, bt.y_mask, NULL, NULL};
        double cost, mean;
        cr_assert_eq(model_loss(&m, &b, &cost, &mean, &err), TAP_OK, "%s", err.msg);
        sum += cost;
    }
    model_free(&m);
    batch_free(&bt);
    dataset_free(&ds);
    return sum;
}

Test(train, description_length_and_validation_line_count_the_label_nll_without_the_guidance) {
    Fixture fx;
    fixture_paths(&fx);
    tu_write_dataset(fx.train, 24, 3, 1);
    tu_write_dataset(fx.valid, 6, 4, 1);
    // eps 1e-30 makes Adadelta's steps ~1e-15: the epoch's weights are those of last.h5.
    const char *args[] = {"train",       TINY, "--gamma", "1",      "--eps", "1e-30",
                          "--max-steps", "3",  fx.train,  fx.valid, fx.run,  NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    double le = log_field(fx.log, "epoch", 5);
    double cost_bits = 24.0 * log_field(fx.log, "epoch", 4) / log(2.0);
    double want = dataset_nll(fx.train, fx.last) / log(2.0);
    cr_assert(fabs(le - want) <= 1e-4 * want, "L^E %.9g bits, label NLL %.9g bits", le, want);
    cr_assert_gt(cost_bits, 1.05 * le, "the guidance term is in the training cost, not in L^E");
    // The validation line gives the mean cost and its label-NLL part apart.
    char *e = slurp(fx.out);
    const char *at = strstr(e, "validation 1 of stage 1 at update 3: loss ");
    cr_assert(at, "no validation line in: %s", e);
    double loss, nll;
    cr_assert_eq(sscanf(at, "validation 1 of stage 1 at update 3: loss %lf (label NLL %lf)", &loss,
                        &nll), 2, "%s", at);
    double want_nll = dataset_nll(fx.valid, fx.last) / 6.0;
    cr_assert(fabs(nll - want_nll) <= 1e-4 * want_nll + 1e-4, "label NLL %.6g, expected %.6g", nll,
              want_nll);
    cr_assert_gt(loss, 1.05 * nll, "loss %.6g: the guidance term is missing", loss);
    free(e);
}

// ---------------------------------------------------------------------------- failures

Test(train, non_finite_loss_stops_naming_the_update_and_uids_and_keeps_the_last_checkpoint) {
    Fixture fx;
    fixture(&fx);
    const char *args[] = {"train", TINY,     "--valid-every", "2",    "--debug-nan-step",
                          "5",     fx.train, fx.valid,        fx.run, NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 1);
    char *o = slurp(fx.out);
    cr_assert(strstr(o,
                     "tap train: error: non-finite loss at update 5 (stage 1, epoch 1, batch 2/3; "
                     "uids: e"),
              "%s", o);
    cr_assert(strstr(o, "last.h5 holds the last good state (update 4)"), "%s", o);
    free(o);
    const char *g[] = {"params"};
    static CheckpointScalars sc;
    size_t n;
    float **w = load_roles(fx.last, g, 1, &n, &sc); // all finite, or the load fails
    cr_assert_eq(sc.step, 4);
    free(w[0]), free(w);
}

// A short run to have a checkpoint, then its directory (or disk) made unusable.
static void make_run(const Fixture *fx) {
    const char *args[] = {"train", TINY, "--max-steps", "2", fx->train, fx->valid, fx->run, NULL};
    expect_exit(args, fx->out, CHILD_PLAIN, 0);
}

Test(train, unwritable_output_is_reported_and_the_old_checkpoint_survives) {
    Fixture fx;
    fixture(&fx);
    make_run(&fx);
    size_t len0, len1;
    char *before = tu_read_file(fx.last, &len0);
    chmod(fx.out, 0666);
    chmod(fx.log, 0666); // the log stays writable: the checkpoint write is what fails
    chmod(fx.last, 0444);
    chmod(fx.run, 0555);
    // Update 3 ends the epoch; no validation (and best.h5) comes first with --valid-every 100.
    const char *args[] = {"train", "--resume", "--max-steps", "3",    "--valid-every",
                          "100",   fx.train,   fx.valid,      fx.run, NULL};
    int rc = run_tap(args, fx.out, CHILD_NOBODY);
    chmod(fx.run, 0755);
    cr_assert_eq(rc, 1);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "tap train: error: saving the training state: ") &&
                  strstr(o, "cannot create"),
              "%s", o);
    free(o);
    char *after = tu_read_file(fx.last, &len1);
    cr_assert(len0 == len1 && !memcmp(before, after, len0), "last.h5 changed");
    free(before), free(after);
    // A new run whose output directory cannot be created fails at once, clearly.
    char sub[500];
    snprintf(sub, sizeof sub, "%s/sub/run", fx.run);
    chmod(fx.run, 0555);
    const char *args2[] = {"train", TINY, fx.train, fx.valid, sub, NULL};
    rc = run_tap(args2, fx.out, CHILD_NOBODY);
    chmod(fx.run, 0755);
    cr_assert_eq(rc, 1);
    o = slurp(fx.out);
    cr_assert(strstr(o, "tap train: error: ") && strstr(o, "cannot create the output directory"),
              "%s", o);
    free(o);
}

Test(train, full_disk_is_reported_and_the_old_checkpoint_survives) {
    Fixture fx;
    fixture(&fx);
    make_run(&fx);
    size_t len0, len1;
    char *before = tu_read_file(fx.last, &len0);
    cr_assert_gt(len0, 64 * 1024, "the checkpoint must exceed the file-size limit");
    const char *args[] = {"train", "--resume", "--max-steps", "3",    "--valid-every",
                          "100",   fx.train,   fx.valid,      fx.run, NULL};
    expect_exit(args, fx.out, CHILD_SMALL_FILES, 1);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "tap train: error: saving the training state: "), "%s", o);
    free(o);
    char *after = tu_read_file(fx.last, &len1);
    cr_assert(len0 == len1 && !memcmp(before, after, len0), "last.h5 changed");
    free(before), free(after);
    char leftover[600];
    snprintf(leftover, sizeof leftover, "%s/last.h5.new", fx.run);
    cr_assert_neq(access(leftover, F_OK), 0, "a partial checkpoint was left behind");
    // With room again, the same run continues.
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
}

// ---------------------------------------------------------------------------- signals

// Waits until path has at least `lines` lines (the run is under way).
static void wait_lines(const char *path, int lines, pid_t pid) {
    for (int i = 0; i < 3000; i++) {
        if (count_lines(path) >= lines) return;
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "the run ended early");
        sleep_ms(10);
    }
    cr_assert_fail("timed out waiting for %s", path);
}

Test(train, sigint_saves_a_checkpoint_that_resumes_exactly_and_exits_3) {
    Fixture fx;
    fixture(&fx);
    Fixture ref = fx;
    fixture_run(&ref, "ref");
    const char *args[] = {"train",  TINY,     "--valid-every", "4",    "--max-steps",
                          "100000", fx.train, fx.valid,        fx.run, NULL};
    pid_t pid = spawn(args, fx.out, CHILD_PLAIN);
    wait_lines(fx.log, 6, pid);
    kill(pid, SIGINT);
    int rc = tu_wait_exit(pid);
    char *o = slurp(fx.out);
    cr_assert_eq(rc, 3, "%s", o);
    char *at = strstr(o, "saved at update ");
    cr_assert_not_null(at, "%s", o);
    int stopped = atoi(at + strlen("saved at update "));
    free(o);
    // Resume to a few updates further; the uninterrupted run to there logs the same.
    char n[16];
    snprintf(n, sizeof n, "%d", stopped + 5);
    const char *resume[] = {"train",  "--resume", "--max-steps", n,
                            fx.train, fx.valid,   fx.run,        NULL};
    expect_exit(resume, fx.out, CHILD_PLAIN, 0);
    const char *straight[] = {"train", TINY,     "--valid-every", "4",     "--max-steps",
                              n,       fx.train, fx.valid,        ref.run, NULL};
    expect_exit(straight, fx.out, CHILD_PLAIN, 0);
    char *x = log_without_time(fx.log), *y = log_without_time(ref.log);
    cr_assert_str_eq(x, y);
    free(x), free(y);
}

Test(train, second_signal_exits_at_once_and_the_last_checkpoint_stays_whole) {
    Fixture fx;
    fixture(&fx);
    // Every last.h5 write pauses 2 s half-way: the second signal lands inside one.
    const char *args[] = {
        "train", TINY, "--debug-save-delay-ms", "2000", "--max-steps", "100000", fx.train, fx.valid,
        fx.run,  NULL};
    pid_t pid = spawn(args, fx.out, CHILD_PLAIN);
    for (int i = 0; i < 1000 && access(fx.last, F_OK) != 0; i++) sleep_ms(10); // first save done
    cr_assert_eq(access(fx.last, F_OK), 0);
    sleep_ms(100);
    kill(pid, SIGTERM);
    sleep_ms(300);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(pid, SIGTERM);
    int rc = tu_wait_exit(pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char *o = slurp(fx.out);
    cr_assert_eq(rc, 128 + SIGTERM, "%s", o);
    free(o);
    cr_assert_lt(waited, 1.0, "the second signal took %.2f s", waited);
    // The checkpoint is whole and continues.
    const char *resume[] = {
        "train", "--resume", "--debug-save-delay-ms", "0", "--max-steps", "3", fx.train, fx.valid,
        fx.run,  NULL};
    expect_exit(resume, fx.out, CHILD_PLAIN, 0);
}

// ---------------------------------------------------------------------------- plot

Test(plot, draws_the_learning_curves_of_a_training_log) {
    Fixture fx;
    fixture(&fx);
    char png[500];
    snprintf(png, sizeof png, "%s/curves.png", fx.dir);
    const char *args[] = {"train", TINY,     "--valid-every", "2",    "--max-steps",
                          "8",     fx.train, fx.valid,        fx.run, NULL};
    expect_exit(args, fx.out, CHILD_PLAIN, 0);
    const char *plot[] = {"plot", fx.log, "-o", png, "--width", "640", "--height", "600", NULL};
    expect_exit(plot, fx.out, CHILD_PLAIN, 0);
    char *o = slurp(fx.out);
    cr_assert(strstr(o, "8 training rows, 2 epochs, 4 validations"), "%s", o);
    free(o);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&img, png), "%s", img.message);
    cr_assert_eq(img.width, 640);
    cr_assert_eq(img.height, 600);
    png_image_free(&img);
    const char *bad[] = {"plot", fx.train, "-o", png, NULL};
    expect_exit(bad, fx.out, CHILD_PLAIN, 1);
    const char *usage[] = {"plot", NULL, CHECKPOINT_F32};
    expect_exit(usage, fx.out, CHILD_PLAIN, 2);
}
