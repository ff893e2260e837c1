#include "regularizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

double regularizer_mean(const float *w, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)w[i];
    return n ? s / (double)n : 0.0;
}

// Orders NaN after everything, so the fallback sort is well defined on any input.
static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return na - nb;
    return (a > b) - (a < b);
}

static float median3(float a, float b, float c) {
    if (a > b) {
        float t = a;
        a = b;
        b = t;
    }
    if (b > c) b = c;
    return a > b ? a : b;
}

// Puts the k-th smallest of a (n) at a[k], with a[0..k) <= a[k] (NaN counts as equal to
// the pivot, so the loop stays in bounds whatever the data).
static void select_kth(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    int rounds = 8;
    for (size_t m = n; m > 1; m >>= 1) rounds += 2;
    while (hi - lo > 1) {
        if (rounds-- == 0) {
            qsort(a + lo, hi - lo, sizeof *a, cmp_float);
            return;
        }
        float p = median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]);
        size_t lt = lo, i = lo, gt = hi; // [lo,lt) < p, [lt,i) == p, [gt,hi) > p
        while (i < gt) {
            float x = a[i];
            if (x < p) {
                a[i++] = a[lt];
                a[lt++] = x;
            } else if (x > p) {
                a[i] = a[--gt];
                a[gt] = x;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

double regularizer_median(const float *w, size_t n, float *scratch) {
    if (n == 0) return 0.0;
    memcpy(scratch, w, n * sizeof *w);
    size_t k = n / 2;
    select_kth(scratch, n, k);
    double hi = (double)scratch[k];
    if (n % 2) return hi;
    float lo = scratch[0]; // the lower middle is the largest of scratch[0..k)
    for (size_t i = 1; i < k; i++)
        if (scratch[i] > lo) lo = scratch[i];
    return 0.5 * ((double)lo + hi);
}

void regularizer_fit(RegPrior *p, const float *w, size_t n, int fit_mean, int fit_scale,
                     float *scratch) {
    if (p->shape == PRIOR_UNIFORM || n == 0) return;
    if (p->shape == PRIOR_GAUSS) {
        if (fit_mean) p->mean = regularizer_mean(w, n);
        if (fit_scale) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++) {
                double d = (double)w[i] - p->mean;
                s += d * d;
            }
            p->scale = s / (double)n;
        }
    } else {
        if (fit_mean) {
            TAP_ASSERT(scratch);
            p->mean = regularizer_median(w, n, scratch);
        }
        if (fit_scale) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++) s += fabs((double)w[i] - p->mean);
            p->scale = s / (double)n;
        }
    }
}

double regularizer_cost(const RegPrior *p, const float *w, size_t n) {
    double s = 0.0;
    if (p->shape == PRIOR_LAPLACE) {
        for (size_t i = 0; i < n; i++) s += fabs((double)w[i] - p->mean);
        return s / p->scale + (double)n * log(2.0 * p->scale);
    }
    if (p->shape == PRIOR_GAUSS) {
        for (size_t i = 0; i < n; i++) {
            double d = (double)w[i] - p->mean;
            s += d * d;
        }
        return s / (2.0 * p->scale) + 0.5 * (double)n * log(2.0 * TAP_PI * p->scale);
    }
    return 0.0;
}

void regularizer_grad(const RegPrior *p, const float *w, size_t n, float scale, float *g) {
    const float m = (float)p->mean;
    if (p->shape == PRIOR_LAPLACE) {
        // Compared in double: an even-n median halfway between two floats has no float.
        const float a = (float)((double)scale / p->scale);
        for (size_t i = 0; i < n; i++) {
            double d = (double)w[i] - p->mean;
            g[i] += d > 0.0 ? a : d < 0.0 ? -a : 0.0f;
        }
    } else if (p->shape == PRIOR_GAUSS) {
        const float a = (float)((double)scale / p->scale);
        for (size_t i = 0; i < n; i++) g[i] += a * (w[i] - m);
    }
}
