#include "clip.h"

#include <math.h>

#include "vmath.h"

// Eight (sixteen) floats at a time with vmath.h, an AVX2 build chosen at run time; both builds
// give the same bits. The sum uses four accumulators of 4 doubles, so it differs from the
// sequential sum only by rounding.
static inline __attribute__((always_inline)) double sum_squares_body(const float *g, size_t n) {
    vd4 a[4] = {{0}, {0}, {0}, {0}};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            vd4 d = v_load4d(g + i + 4 * k);
            a[k] += d * d;
        }
    vd4 t = (a[0] + a[1]) + (a[2] + a[3]);
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

static inline __attribute__((always_inline)) void scale_body(float *g, size_t n, float s) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) v_store8(g + i, v_load8(g + i) * VSPLAT(s));
    for (; i < n; i++) g[i] *= s;
}

VMATH_BUILDS_RET(double, sum_squares, (const float *g, size_t n), (g, n))
VMATH_BUILDS(scale, (float *g, size_t n, float s), (g, n, s))

double clip_sum_squares(const float *g, size_t n) {
    return (vmath_avx2() ? sum_squares_avx2 : sum_squares_generic)(g, n);
}

double clip_global_norm(float *g, size_t n, float c, double *scale) {
    double g2 = clip_sum_squares(g, n);
    double norm = sqrt(g2);
    if (scale) *scale = 1.0;
    if (!isfinite(g2) || c <= 0.0f || !(g2 > (double)c * (double)c)) return norm;
    double s = (double)c / norm;
    (vmath_avx2() ? scale_avx2 : scale_generic)(g, n, (float)s);
    if (scale) *scale = s;
    return norm;
}
