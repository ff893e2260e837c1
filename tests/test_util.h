// Helpers shared by the Criterion suites: seeded fills, finite-difference gradient checks,
// golden-file I/O and locating the optional ../shared data.
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
// A fresh temporary directory for one test (removed by the OS's tmp cleanup).
const char *tu_tmpdir(void);

#endif
