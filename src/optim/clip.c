#include "clip.h"

#include <math.h>

double clip_sum_squares(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return s;
}

double clip_global_norm(float *g, size_t n, float c, double *scale) {
    double g2 = clip_sum_squares(g, n);
    double norm = sqrt(g2);
    if (scale) *scale = 1.0;
    if (!isfinite(g2) || c <= 0.0f || !(g2 > (double)c * (double)c)) return norm;
    double s = (double)c / norm;
    float sf = (float)s;
    for (size_t i = 0; i < n; i++) g[i] *= sf;
    if (scale) *scale = s;
    return norm;
}
