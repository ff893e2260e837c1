// The Gaussian-posterior half of Graves' family: adaptive weight noise as TAP's
// apply_adative_noise (v2/nmt_weightnoise.py) and adadelta_weightnoise (v1/optimizers.py).
// Posterior Q = N(mu_i, sigma_i^2) per weight, with sigma_i either one fixed value or stored
// as ls2_i = ln(sigma_i^2) / 2048 (TAP's log_sigma_scale: ls2 stays near 0, so Adadelta's
// steps on it are small relative changes of sigma). Prior P = N(mean, var) over all weights,
// fitted as TAP: mean = mean(mu), var = mean(sigma_i^2 + (mu_i - mean)^2).
//
// Where TAP and the paper (Graves 2011, eqs. 13-18) differ:
//  - The paper optimises sigma_i; TAP (and we) optimise ls2, so by the chain rule
//    d sigma^2 / d ls2 = 2048 sigma^2 multiplies both sigma gradients below.
//  - The paper's error gradient dL^E/dsigma_i^2 ~ 1/2 sum over sequences of (dL/dw_i)^2;
//    TAP squares the minibatch gradient, exact only at batch size 1 (TAP's own "Warning"
//    comment). Pass per-sequence curvature (the mean of squared per-sequence gradients) to
//    get the paper's form; pass NULL to get TAP's g^2.
//  - The paper weighs L^C by 1 against the data cost summed over the training set; TAP
//    scales it by c/N per step (c = 0.1, N = 2 x 8835, twice the training set), i.e. the
//    prior is weighed 1/20 of the MDL cost. coeff below is that c/N.
//  - TAP samples one noise draw per minibatch; RNNLIB (the paper) one per sequence.
#ifndef TAP_OPTIM_WEIGHT_NOISE_H
#define TAP_OPTIM_WEIGHT_NOISE_H

#include <stddef.h>

#include "rng.h"

#define WEIGHT_NOISE_LS2_SCALE 2048.0f // TAP log_sigma_scale
#define WEIGHT_NOISE_SIGMA_INIT 1e-12f // TAP init_sigma

// ln(sigma^2) / 2048.
float weight_noise_ls2(float sigma);

// w (n) = mu + sigma_i eps_i with fresh eps ~ N(0, 1) from rng; sigma_i = exp(1024 ls2_i),
// or the fixed `sigma` when ls2 is NULL. Deterministic given the rng state, and the same on
// every x86-64 (AVX2 or not). Box-Muller on 24-bit uniforms, 8 pairs at a time from 8 rng
// draws of 64 bits per 16 weights (ceil(n / 16) blocks), with vmath.h's log, sin and cos
// (within 1.5e-7 of libm's): the tails end at 5.8 sigma.
void weight_noise_sample(float *w, const float *mu, const float *ls2, float sigma, size_t n,
                         TapRng *rng);

// Fits the prior to the posterior: *mean = mean(mu), *var = mean(sigma_i^2 + (mu_i - mean)^2).
void weight_noise_fit_prior(const float *mu, const float *ls2, float sigma, size_t n, double *mean,
                            double *var);

// L^C = KL(Q || P) in nats = sum_i ln(s/sigma_i) + ((mu_i - mean)^2 + sigma_i^2 - s^2)/(2 s^2)
// with s^2 = var.
double weight_noise_kl(const float *mu, const float *ls2, float sigma, size_t n, double mean,
                       double var);

// Sets the posterior gradients (TAP's formulas, c/N = coeff):
//   g_mu  = coeff (mu - mean)/var + g
//   g_ls2 = coeff 0.5 * 2048 (sigma^2/var - 1) + 0.5 * 2048 sigma^2 h,   h = curv or g^2
// The coeff terms are coeff * dKL/dmu and coeff * dKL/dls2; the last is the paper's
// dL^E/dsigma^2 ~ 1/2 h through the chain rule. g (dL/dw at the sampled w) may be NULL
// (prior terms only); curv may be NULL (use g^2); g_ls2 may be NULL (sigma fixed).
void weight_noise_grad(const float *mu, const float *ls2, float sigma, const float *g,
                       const float *curv, size_t n, double mean, double var, double coeff,
                       float *g_mu, float *g_ls2);

#endif
