#include "weight_noise.h"

#include <math.h>

#include "tap.h"

float weight_noise_ls2(float sigma) {
    return (float)(2.0 * log((double)sigma) / (double)WEIGHT_NOISE_LS2_SCALE);
}

// sigma_i^2 as TAP computes it: exp(ls2 * 2048).
static float var_of(const float *ls2, float sigma, size_t i) {
    return ls2 ? expf(ls2[i] * WEIGHT_NOISE_LS2_SCALE) : sigma * sigma;
}

void weight_noise_sample(float *w, const float *mu, const float *ls2, float sigma, size_t n,
                         TapRng *rng) {
    const float half = 0.5f * WEIGHT_NOISE_LS2_SCALE;
    // Box-Muller, both outputs used: one log and one sincos per two weights. 24-bit uniforms
    // cut the tails at 5.8 sigma, which noise on weights does not miss.
    for (size_t i = 0; i < n; i += 2) {
        float u1 = 1.0f - rng_uniformf(rng), u2 = rng_uniformf(rng); // u1 in (0, 1]
        float r = sqrtf(-2.0f * logf(u1));
        float a = (float)(2.0 * TAP_PI) * u2;
        float z0 = r * cosf(a), z1 = r * sinf(a);
        w[i] = mu[i] + (ls2 ? expf(ls2[i] * half) : sigma) * z0;
        if (i + 1 < n) w[i + 1] = mu[i + 1] + (ls2 ? expf(ls2[i + 1] * half) : sigma) * z1;
    }
}

void weight_noise_fit_prior(const float *mu, const float *ls2, float sigma, size_t n, double *mean,
                            double *var) {
    double m = 0.0, v = 0.0;
    for (size_t i = 0; i < n; i++) m += (double)mu[i];
    m = n ? m / (double)n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)mu[i] - m;
        v += (double)var_of(ls2, sigma, i) + d * d;
    }
    *mean = m;
    *var = n ? v / (double)n : 0.0;
}

double weight_noise_kl(const float *mu, const float *ls2, float sigma, size_t n, double mean,
                       double var) {
    // ln sigma_i = 1024 ls2_i exactly, so no log of a tiny variance is taken.
    const double half_scale = 0.5 * (double)WEIGHT_NOISE_LS2_SCALE;
    const double ln_s = 0.5 * log(var);
    const double ln_sigma = log((double)sigma);
    double kl = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)mu[i] - mean;
        double vi = ls2 ? exp((double)ls2[i] * (double)WEIGHT_NOISE_LS2_SCALE)
                        : (double)sigma * (double)sigma;
        double ln_si = ls2 ? half_scale * (double)ls2[i] : ln_sigma;
        kl += ln_s - ln_si + (d * d + vi - var) / (2.0 * var);
    }
    return kl;
}

void weight_noise_grad(const float *mu, const float *ls2, float sigma, const float *g,
                       const float *curv, size_t n, double mean, double var, double coeff,
                       float *g_mu, float *g_ls2) {
    const float m = (float)mean;
    const float a_mu = (float)(coeff / var);
    const float inv_var = (float)(1.0 / var);
    const float a_ls2 = (float)(coeff * 0.5 * (double)WEIGHT_NOISE_LS2_SCALE);
    const float half_scale = 0.5f * WEIGHT_NOISE_LS2_SCALE;
    for (size_t i = 0; i < n; i++) {
        float gi = g ? g[i] : 0.0f;
        g_mu[i] = a_mu * (mu[i] - m) + gi;
        if (g_ls2) {
            float s2 = var_of(ls2, sigma, i);
            float h = curv ? curv[i] : gi * gi;
            g_ls2[i] = a_ls2 * (s2 * inv_var - 1.0f) + half_scale * s2 * h;
        }
    }
}
