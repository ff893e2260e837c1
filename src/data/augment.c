#include "augment.h"

#include <math.h>

#include "rng.h"

int augment_enabled(const AugmentConfig *cfg) {
    return cfg && (cfg->rotate_deg != 0 || cfg->shear != 0 || cfg->aspect != 0 || cfg->jitter != 0);
}

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void augment_draw(const AugmentConfig *cfg, uint64_t key, uint64_t expression, double m[4],
                  uint64_t *jitter_seed) {
    TapRng r;
    rng_seed(&r, mix64(mix64(cfg->seed ^ 0x61756730ull) ^ key) ^ mix64(expression));
    const double pi = 3.14159265358979323846;
    double th = (2 * rng_uniform(&r) - 1) * cfg->rotate_deg * pi / 180.0;
    double k = (2 * rng_uniform(&r) - 1) * cfg->shear;
    double la = log1p(fabs(cfg->aspect)), sy = exp((2 * rng_uniform(&r) - 1) * la);
    *jitter_seed = rng_next(&r);
    // rotation . stretch(1, sy) . shear(k)
    double c = cos(th), s = sin(th);
    m[0] = c, m[1] = c * k - s * sy;
    m[2] = s, m[3] = s * k + c * sy;
}

int augment_rows(float *f, size_t row_stride, int n, const AugmentConfig *cfg, uint64_t key,
                 uint64_t expression, double *p) {
    if (n < 1 || !augment_enabled(cfg)) return 0;
    double m[4];
    uint64_t js;
    augment_draw(cfg, key, expression, m, &js);
    TapRng jr;
    rng_seed(&jr, js);
    for (int i = 0; i < n; i++) {
        const float *row = f + (size_t)i * row_stride;
        double x = row[0], y = row[1];
        p[2 * i] = m[0] * x + m[1] * y;
        p[2 * i + 1] = m[2] * x + m[3] * y;
        if (cfg->jitter != 0) {
            p[2 * i] += cfg->jitter * rng_normal(&jr);
            p[2 * i + 1] += cfg->jitter * rng_normal(&jr);
        }
    }
    // feature.h's normalisation: length-weighted over segments inside strokes (pen down at i)
    double sl = 0, sx = 0, sy = 0;
    for (int i = 0; i + 1 < n; i++) {
        if (f[(size_t)i * row_stride + 7] < 0.5f) continue;
        double ax = p[2 * i], ay = p[2 * i + 1], bx = p[2 * i + 2], by = p[2 * i + 3];
        double l = hypot(bx - ax, by - ay);
        sl += l, sx += l * (ax + bx) / 2, sy += l * (ay + by) / 2;
    }
    if (!(sl > 0)) {
        return -1;
    }
    double mx = sx / sl, my = sy / sl, vx = 0;
    for (int i = 0; i + 1 < n; i++) {
        if (f[(size_t)i * row_stride + 7] < 0.5f) continue;
        double ax = p[2 * i], ay = p[2 * i + 1], bx = p[2 * i + 2], by = p[2 * i + 3];
        double l = hypot(bx - ax, by - ay), a = ax - mx, b = bx - mx;
        vx += l * (a * a + b * b + a * b) / 3;
    }
    double sigma = sqrt(vx / sl);
    if (!(sigma > 0) || !isfinite(sigma)) {
        return -1;
    }
    for (int i = 0; i < n; i++) p[2 * i] = (p[2 * i] - mx) / sigma, p[2 * i + 1] = (p[2 * i + 1] - my) / sigma;
    for (int i = 0; i < n; i++) {
        float *row = f + (size_t)i * row_stride;
        int n1 = i + 1 < n ? i + 1 : n - 1, n2 = i + 2 < n ? i + 2 : n - 1;
        float X = (float)p[2 * i], Y = (float)p[2 * i + 1];
        row[0] = X, row[1] = Y;
        row[2] = (float)p[2 * n1] - X, row[3] = (float)p[2 * n1 + 1] - Y;
        row[4] = (float)p[2 * n2] - X, row[5] = (float)p[2 * n2 + 1] - Y;
        row[6] = (float)(fabs((double)row[5]) / pow(1.0 + (double)row[3] * (double)row[3], 1.5));
    }
    return 0;
}
