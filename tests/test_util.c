// nftw and its FTW_* flags are XSI.
#define _XOPEN_SOURCE 700
#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rng.h"

void tu_fill_normal(float *x, size_t n, float std, uint64_t seed) {
    TapRng r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, x, n, 0.0f, std);
}

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    TapRng r;
    rng_seed(&r, seed);
    rng_fill_uniform(&r, x, n, lo, hi);
}

int tu_gradcheck(const char *name, float *x, const float *analytic, size_t n, TuLossFn loss,
                 void *ctx, float eps, double atol, double rtol, size_t max_checked) {
    size_t stride = 1;
    if (max_checked && n > max_checked) stride = (n + max_checked - 1) / max_checked;
    int failures = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        float keep = x[i];
        x[i] = keep + eps;
        double lp = loss(ctx);
        x[i] = keep - eps;
        double lm = loss(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * (double)eps);
        double a = analytic[i];
        double err = fabs(a - num);
        double tol = atol + rtol * fabs(num);
        if (err / tol > worst) worst = err / tol;
        if (!(err <= tol)) {
            if (failures < 10)
                cr_log_error("%s[%zu]: analytic %.8g numeric %.8g (|diff| %.3g > tol %.3g)", name, i,
                             a, num, err, tol);
            failures++;
        }
    }
    if (failures) cr_log_error("%s: %d failures, worst error/tolerance %.3g", name, failures, worst);
    return failures;
}

const char *tu_source_dir(void) {
#ifdef TAP_SOURCE_DIR
    return TAP_SOURCE_DIR;
#else
    return ".";
#endif
}

const char *tu_shared_dir(void) {
    static char path[4096];
    const char *env = getenv("TAP_SHARED_DIR");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared", tu_source_dir());
    struct stat st;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/crohme", path);
    if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return path;
}

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        if (len) *len = (size_t)size;
    }
    return buf;
}

// strcmp rather than alphasort's strcoll: the same order in every locale.
static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

int tu_for_each_file(const char *dir, const char *suffix, int (*fn)(const char *path, void *ctx),
                     void *ctx) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) return -1;
    size_t sl = suffix ? strlen(suffix) : 0;
    int visited = 0, stop = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (!stop && len > sl && (!sl || !strcmp(name + len - sl, suffix))) {
            char path[4096];
            int k = snprintf(path, sizeof path, "%s/%s", dir, name);
            cr_assert_lt((size_t)k, sizeof path, "path too long: %s/%s", dir, name);
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                visited++;
                stop = fn(path, ctx) != 0;
            }
        }
        free(names[i]);
    }
    free(names);
    return visited;
}

// Directories made by tu_tmpdir, with the process that made each: a forked child inherits the
// list and the exit handler, and must not remove its parent's directories when it exits.
typedef struct {
    char *path;
    pid_t owner;
} TmpDir;
static TmpDir *tmp_dirs;
static int n_tmp_dirs, cap_tmp_dirs, cleanup_registered;

// Pre-order pass: make every directory searchable and writable so that the removal pass can
// enter and empty it (a test may have taken permissions away).
static int unlock_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR) chmod(path, (st->st_mode & 07777) | S_IRWXU);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0; // keep going: remove as much as possible
}

static void remove_tmp_dirs(void) {
    const char *keep = getenv("TAP_KEEP_TMP");
    pid_t self = getpid();
    for (int i = 0; i < n_tmp_dirs; i++) {
        if (tmp_dirs[i].owner == self && !(keep && *keep && strcmp(keep, "0"))) {
            nftw(tmp_dirs[i].path, unlock_entry, 16, FTW_PHYS);
            nftw(tmp_dirs[i].path, remove_entry, 16, FTW_PHYS | FTW_DEPTH);
        }
        free(tmp_dirs[i].path);
    }
    free(tmp_dirs);
    tmp_dirs = NULL;
    n_tmp_dirs = cap_tmp_dirs = 0;
}

static void remember_tmp_dir(const char *path) {
    if (!cleanup_registered) cleanup_registered = atexit(remove_tmp_dirs) == 0;
    if (n_tmp_dirs == cap_tmp_dirs) {
        int cap = cap_tmp_dirs ? 2 * cap_tmp_dirs : 16;
        TmpDir *v = realloc(tmp_dirs, (size_t)cap * sizeof *v);
        if (!v) return; // left behind, as before
        tmp_dirs = v;
        cap_tmp_dirs = cap;
    }
    char *copy = strdup(path);
    if (copy) tmp_dirs[n_tmp_dirs++] = (TmpDir){copy, getpid()};
}

const char *tu_tmpdir(void) {
    static char path[256];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tap-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) return "/tmp";
    remember_tmp_dir(path);
    return path;
}

// A private directory of this process for tu_run's stderr file and suppressions.
static const char *run_dir(void) {
    static char dir[256];
    static pid_t owner;
    if (owner != getpid()) {
        snprintf(dir, sizeof dir, "%s", tu_tmpdir());
        owner = getpid();
        char supp[300];
        snprintf(supp, sizeof supp, "%s/lsan.supp", dir);
        FILE *f = fopen(supp, "w");
        if (f) fputs("leak:libfontconfig\n", f), fclose(f);
    }
    return dir;
}

int tu_run(const char *cmd, char *out, size_t len, char *errbuf, size_t errlen) {
    const char *dir = run_dir();
    char full[16384], errpath[300];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    // Exported, so that it reaches every command of a list such as "cd DIR && tap ...".
    int n = snprintf(full, sizeof full, "export LSAN_OPTIONS=suppressions=%s/lsan.supp; { %s; } 2>%s",
                     dir, cmd, errpath);
    cr_assert_lt((size_t)n, sizeof full, "command too long: %s", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    size_t got = out && len ? fread(out, 1, len - 1, p) : 0;
    if (out && len) out[got] = '\0';
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int st = pclose(p);
    if (errbuf && errlen) {
        char *e = tu_read_file(errpath, NULL);
        snprintf(errbuf, errlen, "%s", e ? e : "");
        free(e);
    }
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *const tu_samples[TU_N_SAMPLES] = {"18_em_0", "23_em_50", "27_em_101", "29_em_151",
                                              "32_em_204"};

void tu_sample_args(char *buf, size_t len, const int *idx, int n, const char *broken) {
    size_t k = strlen(buf);
    for (int i = 0; i < n && k < len; i++) {
        if (idx[i] < 0)
            k += (size_t)snprintf(buf + k, len - k, " %s/tests/bad_inkml/%s", tu_source_dir(),
                                  broken);
        else
            k += (size_t)snprintf(buf + k, len - k, " %s/data/sample/test/%s.inkml",
                                  tu_source_dir(), tu_samples[idx[i]]);
    }
    cr_assert_lt(k, len, "arguments do not fit");
}

pid_t tu_fork_pipe(int *fd) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    close(p[pid == 0 ? 0 : 1]);
    *fd = p[pid == 0 ? 1 : 0];
    return pid;
}

int tu_fork_collect(pid_t pid, int fd, char *buf, size_t len) {
    size_t got = 0;
    for (ssize_t k; got + 1 < len && (k = read(fd, buf + got, len - 1 - got)) > 0;)
        got += (size_t)k;
    buf[got] = '\0';
    close(fd);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

pid_t tu_fork_to(const char *path) {
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    }
    return pid;
}

int tu_wait_exit(pid_t pid) {
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_copy_file(const char *from, const char *to) {
    size_t len;
    char *s = tu_read_file(from, &len);
    cr_assert_not_null(s, "%s", from);
    FILE *f = fopen(to, "wb");
    cr_assert_not_null(f, "%s", to);
    cr_assert_eq(fwrite(s, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    free(s);
}
