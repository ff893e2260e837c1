#include "test_util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

const char *tu_tmpdir(void) {
    static char path[256];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tap-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) return "/tmp";
    return path;
}
