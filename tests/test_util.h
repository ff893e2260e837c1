// Helpers shared by the Criterion suites: seeded fills, finite-difference gradient checks,
// golden-file I/O, locating the optional ../shared data, temporary directories, and running
// `tap` commands on the bundled sample.
#ifndef TAP_TEST_UTIL_H
#define TAP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

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

// Five files of data/sample/test that the command tests decode (uids, in sorted order).
enum { TU_N_SAMPLES = 5 };
extern const char *const tu_samples[TU_N_SAMPLES];
// Appends " PATH" to buf for each idx: data/sample/test/<tu_samples[idx[k]]>.inkml, or
// tests/bad_inkml/<broken> when idx[k] < 0.
void tu_sample_args(char *buf, size_t len, const int *idx, int n, const char *broken);

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
