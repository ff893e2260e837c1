// Helpers shared by the Criterion suites: seeded fills, finite-difference gradient checks,
// golden-file I/O, locating the optional ../shared data, temporary directories, and running
// `tap` commands on the bundled sample.
#ifndef TAP_TEST_UTIL_H
#define TAP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void tu_fill_normal(float *x, size_t n, float std, uint64_t seed);
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

// Scalar loss evaluated at the current contents of the perturbed array; accumulate in double.
typedef double (*TuLossFn)(void *ctx);

// Central differences of loss() with respect to x[0..n) against analytic[0..n).
// Checks at most max_checked elements (0 = all), spread evenly. Passes element i when
// |a - num| <= atol + rtol * |num|. Reports each failure (name, index, both values) through
// Criterion's log and returns the number of failures. x is restored.
int tu_gradcheck(const char *name, float *x, const float *analytic, size_t n, TuLossFn loss,
                 void *ctx, float eps, double atol, double rtol, size_t max_checked);

// Path helpers: the source tree, and ../shared beside it (NULL when absent, so tests that
// need CROHME skip instead of failing on a machine without it).
const char *tu_source_dir(void);
const char *tu_shared_dir(void);
// Reads a whole file into a malloc'd NUL-terminated buffer; NULL on failure.
char *tu_read_file(const char *path, size_t *len);
// A fresh temporary directory ($TMPDIR or /tmp, tap-test-XXXXXX) for one test, in a static
// buffer that the next call overwrites. Every directory made here is removed with its contents
// when the process that made it exits (TAP_KEEP_TMP=1 keeps them, for looking at a failure).
const char *tu_tmpdir(void);

// Calls fn(path, ctx) for each regular file directly in dir whose name ends with suffix (and is
// longer than it; NULL or "" takes every file), in strcmp order of the names so that failures
// are reproducible. path is "dir/name", valid during the call. A nonzero return from fn stops the
// walk. Returns the number of files visited (the stopping one included), or -1 when dir cannot
// be read.
int tu_for_each_file(const char *dir, const char *suffix, int (*fn)(const char *path, void *ctx),
                     void *ctx);

// Runs cmd through the shell. Its stdout goes to out (at most len - 1 bytes, NUL-terminated) and
// its stderr to errbuf likewise; either may be NULL to discard it. LeakSanitizer is told to
// ignore fontconfig, whose caches (under cairo's text) live until exit. Returns the exit status,
// or -1 when the command did not exit normally.
int tu_run(const char *cmd, char *out, size_t len, char *errbuf, size_t errlen);

// Forks with a pipe from the child to this process: returns 0 in the child, with *fd the pipe's
// write end, and the child's pid here, with *fd its read end (the test fails when either call
// does).
pid_t tu_fork_pipe(int *fd);
// Reads fd to its end into buf (at most len - 1 bytes, NUL-terminated), closes it and waits for
// pid: returns its wait status (WIFEXITED ...).
int tu_fork_collect(pid_t pid, int fd, char *buf, size_t len);
// Forks: returns 0 in the child, whose stdout and stderr then go to the file path (created or
// truncated; left as they were when it cannot be opened), and the child's pid here.
pid_t tu_fork_to(const char *path);
// Waits for pid: its exit status, or 128 + the signal that ended it.
int tu_wait_exit(pid_t pid);
// Copies the file from to the file to (the test fails when it cannot).
void tu_copy_file(const char *from, const char *to);

// Five files of data/sample/test that the command tests decode (uids, in sorted order).
enum { TU_N_SAMPLES = 5 };
extern const char *const tu_samples[TU_N_SAMPLES];
// Appends " PATH" to buf for each idx: data/sample/test/<tu_samples[idx[k]]>.inkml, or
// tests/bad_inkml/<broken> when idx[k] < 0.
void tu_sample_args(char *buf, size_t len, const int *idx, int n, const char *broken);

#ifdef TU_DATASET_HELPERS
// Only suites linked to tapdata compile this (they define TU_DATASET_HELPERS first).
#include <criterion/criterion.h>
#include <stdio.h>

#include "dataset.h"
#include "rng.h"

// n random expressions on the vocabulary <eol> a b c + x: 6..20 rows of N(0, 1) features in 1..3
// strokes, 1..4 tokens; with `aligned`, token k is written with stroke k mod strokes (else no
// alignment). Uids e<i>_<seed>.
static inline void tu_write_dataset(const char *path, int n, uint64_t seed, int aligned) {
    static const char *vocab[] = {"<eol>", "a", "b", "c", "+", "x"};
    TapRng r;
    rng_seed(&r, seed);
    DatasetWriter *w;
    TapError err;
    cr_assert_eq(dataset_writer_open(&w, path, vocab, 6, &err), TAP_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        int rows = 6 + (int)rng_below(&r, 15), strokes = 1 + (int)rng_below(&r, 3);
        int len = 1 + (int)rng_below(&r, 4);
        float f[20 * 9];
        int ps[20], tok[4];
        rng_fill_normal(&r, f, (size_t)rows * 9, 0.0f, 1.0f);
        for (int k = 0; k < rows; k++) ps[k] = k * strokes / rows;
        for (int k = 0; k < len; k++) tok[k] = 1 + (int)rng_below(&r, 5);
        char uid[32];
        snprintf(uid, sizeof uid, "e%02d_%llu", i, (unsigned long long)seed);
        int start[5], strk[4];
        for (int k = 0; k <= len; k++) start[k] = k;
        for (int k = 0; k < len; k++) strk[k] = k % strokes;
        DatasetEntry e = {uid, "generated", rows,  f, ps, strokes, len, tok, aligned ? start : NULL,
                          aligned ? strk : NULL};
        cr_assert_eq(dataset_writer_add(w, &e, &err), TAP_OK, "%s", err.msg);
    }
    cr_assert_eq(dataset_writer_close(w, &err), TAP_OK, "%s", err.msg);
}
#endif

#ifdef TU_MODEL_HELPERS
// Only the tools tests link tapmodel, and this library links tapcore alone: the model helper is
// compiled into the suites that define TU_MODEL_HELPERS before including this header.
#include <criterion/criterion.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "params.h"

// A tiny TAP-shaped config on the real vocabulary (V = 111) with two pooling layers.
static inline TapConfig tu_tiny_config(void) {
    return (TapConfig){.F = 9,
                       .n_layers = 2,
                       .H = {6, 5},
                       .pool = {1, 1},
                       .D = 7,
                       .E = 8,
                       .V = 111,
                       .K = 5,
                       .Q = 4,
                       .gate = 1,
                       .gamma = 0.1f};
}

// Writes the tiny model to path: TAP's init from seed 7, then weights 40 times larger and a push
// towards <eol>, so that distributions are peaked and the samples end at different lengths
// (9 9 4 9 0 tokens greedily with --max-len 9).
static inline void tu_tiny_model(const char *path) {
    TapConfig c = tu_tiny_config();
    ParamTable t;
    cr_assert_eq(params_layout(&c, &t, NULL), TAP_OK);
    float *w = malloc(t.n * sizeof *w);
    cr_assert_not_null(w);
    TapRng rng;
    rng_seed(&rng, 7);
    params_init(&t, w, &rng);
    for (size_t i = 0; i < t.n; i++) w[i] *= 40.0f;
    params_bind(&t, w, "ff_logit_b")[0] += 1.0f;
    CheckpointRole role = {"params", w, CHECKPOINT_F32};
    TapError err;
    cr_assert_eq(checkpoint_save(path, &c, &t, &role, 1, NULL, &err), TAP_OK, "%s", err.msg);
    free(w);
    params_free(&t);
}
#endif

#endif
