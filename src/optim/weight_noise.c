#include "weight_noise.h"

#include <math.h>
#include <string.h>

#include "tap.h"
#include "vmath.h"

// The loops below run 8 floats at a time with vmath.h; each is compiled twice, for AVX2+FMA
// and portable, and both builds give bit-identical results (no FMA contraction in C11), so a
// run resumes exactly on any x86-64. They read and write through memcpy (unaligned), and the
// last n % 8 (or % 16) weights go through zero-padded blocks or scalar code with the same
// vector exp, so every weight rounds alike wherever it sits.
#define AI inline __attribute__((always_inline))

// (GCC 12 converts a 16-byte float vector to doubles in two halves; this form, like
// v_load4d, compiles to one vcvtps2pd per 4 doubles.)
static AI void halves(vf8 v, vd4 *lo, vd4 *hi) { // (8) floats -> two (4) doubles
    typedef double vd8 __attribute__((vector_size(64)));
    vd8 d = __builtin_convertvector(v, vd8);
    memcpy(lo, &d, sizeof *lo);
    memcpy(hi, (const char *)&d + sizeof *lo, sizeof *hi);
}
static AI double hsum(vd4 a) { return (a[0] + a[1]) + (a[2] + a[3]); }
static AI float exp1(float x) { return v_exp(VSPLAT(x))[0]; } // the vector exp, one value

float weight_noise_ls2(float sigma) {
    return (float)(2.0 * log((double)sigma) / (double)WEIGHT_NOISE_LS2_SCALE);
}

// ---------------------------------------------------------------------------- sampling
enum { DRAWS = 512 }; // rng draws per refill: 8 per block of 16 weights

// Box-Muller for 8 pairs from 8 draws of 64 bits: u1 = 1 - (bits 63..40) / 2^24 in (0, 1] and
// u2 = (bits 39..16) / 2^24, so the log is finite and the tails end at sqrt(2 ln 2^24) = 5.8
// sigma, which noise on weights does not miss. z0 takes the cosines, z1 the sines.
static AI void normals16(const uint64_t *bits, vf8 *z0, vf8 *z1) {
    vu8 w0, w1; // the 16 32-bit halves of the draws: low half of draw k at 2k (little-endian)
    memcpy(&w0, bits, sizeof w0);
    memcpy(&w1, bits + 4, sizeof w1);
#ifdef __clang__ // the fuzzing build (tests/fuzz) compiles with clang: the same shuffle
    vu8 lo = __builtin_shufflevector(w0, w1, 0, 2, 4, 6, 8, 10, 12, 14);
    vu8 hi = __builtin_shufflevector(w0, w1, 1, 3, 5, 7, 9, 11, 13, 15);
#else
    vu8 lo = __builtin_shuffle(w0, w1, (vu8){0, 2, 4, 6, 8, 10, 12, 14});
    vu8 hi = __builtin_shuffle(w0, w1, (vu8){1, 3, 5, 7, 9, 11, 13, 15});
#endif
    vi8 a = (vi8)(hi >> 8);                           // bits 63..40
    vi8 b = (vi8)(((hi & 0xff) << 16) | (lo >> 16)); // bits 39..16
    vf8 u1 = VSPLAT(1.0f) - __builtin_convertvector(a, vf8) * VSPLAT(0x1.0p-24f);
    vf8 u2 = __builtin_convertvector(b, vf8) * VSPLAT(0x1.0p-24f);
    vf8 r = v_sqrt(VSPLAT(-2.0f) * v_log(u1)), s, c;
    v_sincos_2pi(u2, &s, &c);
    *z0 = r * c;
    *z1 = r * s;
}

// w (16) = mu + sigma_i z for one block.
static AI void sample16(float *w, const float *mu, const float *ls2, float sigma,
                        const uint64_t *bits) {
    const vf8 half = VSPLAT(0.5f * WEIGHT_NOISE_LS2_SCALE);
    vf8 z0, z1;
    normals16(bits, &z0, &z1);
    vf8 s0 = ls2 ? v_exp(v_load8(ls2) * half) : VSPLAT(sigma);
    vf8 s1 = ls2 ? v_exp(v_load8(ls2 + 8) * half) : VSPLAT(sigma);
    v_store8(w, v_load8(mu) + s0 * z0);
    v_store8(w + 8, v_load8(mu + 8) + s1 * z1);
}

static AI void sample_body(float *w, const float *mu, const float *ls2, float sigma, size_t n,
                           TapRng *rng) {
    uint64_t bits[DRAWS];
    size_t i = 0;
    while (i < n) {
        size_t blocks = (n - i + 15) / 16;
        if (blocks > DRAWS / 8) blocks = DRAWS / 8;
        rng_fill_u64(rng, bits, blocks * 8);
        for (size_t b = 0; b < blocks; b++, i += 16) {
            if (n - i >= 16) {
                sample16(w + i, mu + i, ls2 ? ls2 + i : NULL, sigma, bits + 8 * b);
            } else { // the last n % 16 weights, zero-padded
                float m[16] = {0}, l[16] = {0}, o[16];
                size_t k = n - i;
                memcpy(m, mu + i, k * sizeof *m);
                if (ls2) memcpy(l, ls2 + i, k * sizeof *l);
                sample16(o, m, ls2 ? l : NULL, sigma, bits + 8 * b);
                memcpy(w + i, o, k * sizeof *o);
            }
        }
    }
}

VMATH_BUILDS(sample,
         (float *w, const float *mu, const float *ls2, float sigma, size_t n, TapRng *rng),
         (w, mu, ls2, sigma, n, rng))

void weight_noise_sample(float *w, const float *mu, const float *ls2, float sigma, size_t n,
                         TapRng *rng) {
    (vmath_avx2() ? sample_avx2 : sample_generic)(w, mu, ls2, sigma, n, rng);
}

// ---------------------------------------------------------------------------- prior fit, KL
// Sums in double over four (or two) vector accumulators of 4 lanes: they differ from the
// sequential sum only by rounding (below 1e-15 relative for these sums of 6 M terms).

static AI double sum_mu(const float *mu, size_t n) {
    vd4 a0 = VSPLAT_D(0.0), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 += v_load4d(mu + i);
        a1 += v_load4d(mu + i + 4);
        a2 += v_load4d(mu + i + 8);
        a3 += v_load4d(mu + i + 12);
    }
    double s = hsum((a0 + a1) + (a2 + a3));
    for (; i < n; i++) s += (double)mu[i];
    return s;
}

static AI void fit_prior_body(const float *mu, const float *ls2, float sigma, size_t n,
                              double *mean, double *var) {
    const vf8 scale = VSPLAT(WEIGHT_NOISE_LS2_SCALE);
    const float s2 = sigma * sigma;
    double m = n ? sum_mu(mu, n) / (double)n : 0.0;
    const vd4 md = VSPLAT_D(m);
    vd4 a0 = VSPLAT_D(0.0), a1 = a0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { // sigma_i^2 (in float, as TAP) + (mu_i - mean)^2
        vd4 v0, v1;
        halves(ls2 ? v_exp(v_load8(ls2 + i) * scale) : VSPLAT(s2), &v0, &v1);
        vd4 d0 = v_load4d(mu + i) - md, d1 = v_load4d(mu + i + 4) - md;
        a0 += v0 + d0 * d0;
        a1 += v1 + d1 * d1;
    }
    double v = hsum(a0 + a1);
    for (; i < n; i++) {
        double d = (double)mu[i] - m;
        v += (double)(ls2 ? exp1(ls2[i] * WEIGHT_NOISE_LS2_SCALE) : s2) + d * d;
    }
    *mean = m;
    *var = n ? v / (double)n : 0.0;
}

VMATH_BUILDS(fit_prior,
         (const float *mu, const float *ls2, float sigma, size_t n, double *mean, double *var),
         (mu, ls2, sigma, n, mean, var))

void weight_noise_fit_prior(const float *mu, const float *ls2, float sigma, size_t n, double *mean,
                            double *var) {
    (vmath_avx2() ? fit_prior_avx2 : fit_prior_generic)(mu, ls2, sigma, n, mean, var);
}

// One term of the KL, for the scalar tail.
static AI double kl_term(float mu, const float *ls2, float sigma, double mean, double var,
                         double ln_s, double ln_sigma) {
    double d = (double)mu - mean;
    double l = ls2 ? (double)*ls2 * (double)WEIGHT_NOISE_LS2_SCALE : 0.0;
    double vi = ls2 ? v_exp_d(VSPLAT_D(l))[0] : (double)sigma * (double)sigma;
    double ln_si = ls2 ? 0.5 * l : ln_sigma;
    return ln_s - ln_si + (d * d + vi - var) / (2.0 * var);
}

static AI double kl_body(const float *mu, const float *ls2, float sigma, size_t n, double mean,
                         double var) {
    // ln sigma_i = 1024 ls2_i exactly, so no log of a tiny variance is taken; sigma_i^2 comes
    // from the double exp of vmath.h (within 2 ulp of libm's).
    const double ln_s = 0.5 * log(var), ln_sigma = log((double)sigma);
    const vd4 scale = VSPLAT_D((double)WEIGHT_NOISE_LS2_SCALE), md = VSPLAT_D(mean);
    const vd4 vs = VSPLAT_D(var), two_var = VSPLAT_D(2.0 * var), lns = VSPLAT_D(ln_s);
    const vd4 fixed = VSPLAT_D((double)sigma * (double)sigma), lnsig = VSPLAT_D(ln_sigma);
    vd4 a0 = VSPLAT_D(0.0), a1 = a0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vd4 d0 = v_load4d(mu + i) - md, d1 = v_load4d(mu + i + 4) - md;
        vd4 vi0 = fixed, vi1 = fixed, ln0 = lnsig, ln1 = lnsig;
        if (ls2) {
            vd4 l0 = v_load4d(ls2 + i) * scale, l1 = v_load4d(ls2 + i + 4) * scale;
            vi0 = v_exp_d(l0), vi1 = v_exp_d(l1);
            ln0 = VSPLAT_D(0.5) * l0, ln1 = VSPLAT_D(0.5) * l1;
        }
        a0 += lns - ln0 + (d0 * d0 + vi0 - vs) / two_var;
        a1 += lns - ln1 + (d1 * d1 + vi1 - vs) / two_var;
    }
    double kl = hsum(a0 + a1);
    for (; i < n; i++) kl += kl_term(mu[i], ls2 ? ls2 + i : NULL, sigma, mean, var, ln_s, ln_sigma);
    return kl;
}

VMATH_BUILDS_RET(double, kl,
                 (const float *mu, const float *ls2, float sigma, size_t n, double mean,
                  double var),
                 (mu, ls2, sigma, n, mean, var))

double weight_noise_kl(const float *mu, const float *ls2, float sigma, size_t n, double mean,
                       double var) {
    return (vmath_avx2() ? kl_avx2 : kl_generic)(mu, ls2, sigma, n, mean, var);
}

// ---------------------------------------------------------------------------- gradients
typedef struct {
    float m, a_mu, inv_var, a_ls2, half_scale, s2;
} GradConst;

// Eight weights; g, curv, ls2 may be NULL, g_ls2 too (then ls2 is not read).
static AI void grad8(const GradConst *c, const float *mu, const float *ls2, const float *g,
                     const float *curv, float *g_mu, float *g_ls2) {
    vf8 gi = g ? v_load8(g) : VSPLAT(0.0f);
    v_store8(g_mu, VSPLAT(c->a_mu) * (v_load8(mu) - VSPLAT(c->m)) + gi);
    if (g_ls2) {
        vf8 s2 = ls2 ? v_exp(v_load8(ls2) * VSPLAT(WEIGHT_NOISE_LS2_SCALE)) : VSPLAT(c->s2);
        vf8 h = curv ? v_load8(curv) : gi * gi;
        v_store8(g_ls2, VSPLAT(c->a_ls2) * (s2 * VSPLAT(c->inv_var) - VSPLAT(1.0f)) +
                          VSPLAT(c->half_scale) * s2 * h);
    }
}

static AI void grad_body(const GradConst *c, const float *mu, const float *ls2, const float *g,
                         const float *curv, size_t n, float *g_mu, float *g_ls2) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        grad8(c, mu + i, ls2 ? ls2 + i : NULL, g ? g + i : NULL, curv ? curv + i : NULL, g_mu + i,
              g_ls2 ? g_ls2 + i : NULL);
    if (i < n) { // zero-padded last block
        size_t k = (n - i) * sizeof(float);
        float m[8] = {0}, l[8] = {0}, gg[8] = {0}, cv[8] = {0}, om[8], ol[8];
        memcpy(m, mu + i, k);
        if (ls2) memcpy(l, ls2 + i, k);
        if (g) memcpy(gg, g + i, k);
        if (curv) memcpy(cv, curv + i, k);
        grad8(c, m, ls2 ? l : NULL, g ? gg : NULL, curv ? cv : NULL, om, g_ls2 ? ol : NULL);
        memcpy(g_mu + i, om, k);
        if (g_ls2) memcpy(g_ls2 + i, ol, k);
    }
}

VMATH_BUILDS(grad,
         (const GradConst *c, const float *mu, const float *ls2, const float *g,
          const float *curv, size_t n, float *g_mu, float *g_ls2),
         (c, mu, ls2, g, curv, n, g_mu, g_ls2))

void weight_noise_grad(const float *mu, const float *ls2, float sigma, const float *g,
                       const float *curv, size_t n, double mean, double var, double coeff,
                       float *g_mu, float *g_ls2) {
    const GradConst c = {
        .m = (float)mean,
        .a_mu = (float)(coeff / var),
        .inv_var = (float)(1.0 / var),
        .a_ls2 = (float)(coeff * 0.5 * (double)WEIGHT_NOISE_LS2_SCALE),
        .half_scale = 0.5f * WEIGHT_NOISE_LS2_SCALE,
        .s2 = sigma * sigma,
    };
    (vmath_avx2() ? grad_avx2 : grad_generic)(&c, mu, ls2, g, curv, n, g_mu, g_ls2);
}
