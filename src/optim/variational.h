// Graves' family of variational training methods ("Practical Variational Inference for Neural
// Networks", NIPS 2011, Table 1), selectable by name, over one flat weight array of n floats.
// The object owns the posterior (mu, and ls2 when sigma is learned), both optimizer states,
// the fitted prior and the noise rng; everything a checkpoint needs is listed by
// variational_state. Nothing is allocated after variational_init.
//
// One training step (TAP's order, train() in v2/nmt_weightnoise.py):
//   variational_sample(v, w)           w = mu + sigma eps (fresh eps), or w = mu for delta Q
//   caller: forward + backward at w    g = dL/dw, the data cost per sequence, batch mean
//   variational_step(v, g, ...)        clip g (global norm), refit the prior to the current
//                                      posterior, g_mu = g + c/N dL^C/dmu (and g_ls2), one
//                                      optimizer step on mu and one on ls2
// Per-sequence noise (RNNLIB, the paper): cfg.per_sequence = 1, and for each sequence s of
// the batch: variational_sample, forward + backward on s alone into g_s, then
// variational_accumulate(v, g_s, 1/B); finally variational_step(v, NULL, ...), which uses the
// mean gradient and the mean of squared per-sequence gradients as curvature.
// Decoding and validation use mu (variational_mean).
#ifndef TAP_OPTIM_VARIATIONAL_H
#define TAP_OPTIM_VARIATIONAL_H

#include <stddef.h>
#include <stdint.h>

#include "optimizer.h"
#include "regularizer.h"
#include "rng.h"

struct TapError;

typedef enum {
    VAR_ML,                          // "ml"                          delta | uniform
    VAR_L1,                          // "l1"                          delta | Laplace(0, b)
    VAR_L2,                          // "l2"                          delta | Gauss(0, var)
    VAR_ADAPTIVE_L1,                 // "adaptive-l1"                 delta | Laplace, both fitted
    VAR_ADAPTIVE_L2,                 // "adaptive-l2"                 delta | Gauss, both fitted
    VAR_ADAPTIVE_MEAN_L1,            // "adaptive-mean-l1"            delta | Laplace, mean fitted
    VAR_ADAPTIVE_MEAN_L2,            // "adaptive-mean-l2"            delta | Gauss, mean fitted
    VAR_WEIGHT_NOISE,                // "weight-noise"                Gauss fixed | uniform
    VAR_ADAPTIVE_PRIOR_WEIGHT_NOISE, // "adaptive-prior-weight-noise" Gauss fixed | Gauss fitted
    VAR_ADAPTIVE_WEIGHT_NOISE,       // "adaptive-weight-noise"       Gauss learned | Gauss fitted
    VAR_COUNT
} VarKind;

typedef enum { VAR_POST_DELTA, VAR_POST_FIXED, VAR_POST_LEARNED } VarPosterior;

typedef struct {
    const char *name;
    VarPosterior posterior;
    PriorShape prior;
    int fit_mean, fit_scale; // which prior parameters are refitted each step
} VarKindInfo;

const VarKindInfo *variational_kind_info(VarKind kind);
const char *variational_kind_name(VarKind kind);
int variational_kind_parse(const char *name); // kind, or -1

typedef struct {
    VarKind kind;
    double coeff;     // c, model-cost coefficient (TAP 0.1); 0 switches the prior term off
    double n_train;   // N, training sequences the model cost is spread over (TAP 2 x 8835)
    float clip_c;     // global-norm clip of the data gradient (TAP 1000; <= 0: off)
    float prior_b;    // Laplace b for l1, adaptive-mean-l1
    float prior_var;  // Gauss variance for l2, adaptive-mean-l2
    float sigma;      // fixed posterior sigma for weight-noise, adaptive-prior-weight-noise
    float sigma_init; // initial sigma for adaptive-weight-noise (TAP 1e-12)
    int per_sequence; // 1: noise per sequence + curvature from per-sequence gradients
    uint64_t seed;    // noise rng
    OptimConfig opt_mu, opt_ls2;
} VarConfig;

// TAP's values (c 0.1, N 17670, clip 1000, sigma_init 1e-12, Adadelta for both), sigma 0.075
// (RNNLIB's mdlInitStdDev), prior std 0.1 for the fixed priors (var 0.01, b 0.1/sqrt 2).
void variational_config_default(VarConfig *c, VarKind kind);

typedef struct {
    double grad_norm;  // data gradient norm before clipping
    double clip_scale; // factor applied (1: not clipped)
    double prior_mean, prior_scale;
} VarStepInfo;

typedef struct {
    VarConfig cfg;
    const VarKindInfo *info;
    size_t n;
    float *mu;      // (n) posterior mean: the weights decoding uses
    float *ls2;     // (n) ln(sigma^2)/2048, adaptive-weight-noise only, else NULL
    float *g_mu;    // (n) gradient for mu, filled by variational_step
    float *g_ls2;   // (n) gradient for ls2, or NULL
    float *g_acc;   // (n) per-sequence: sum of weight * g_s, or NULL
    float *curv;    // (n) per-sequence: sum of weight * g_s^2, or NULL
    float *scratch; // (n) quickselect copy for a refitted Laplace location, or NULL
    RegPrior prior; // fixed, or as last fitted
    Optimizer opt_mu, opt_ls2;
    TapRng rng;
    uint64_t step;
} Variational;

// Copies the initial weights w0 (n) into mu. TAP_OK, TAP_ERR_ARG or TAP_ERR_NOMEM.
int variational_init(Variational *v, const VarConfig *cfg, const float *w0, size_t n,
                     struct TapError *err);
void variational_free(Variational *v);

const float *variational_mean(const Variational *v);
// w (n) = a posterior sample with fresh noise (= mu for a delta posterior; w may be mu then).
void variational_sample(Variational *v, float *w);
// Per-sequence mode: g_acc += weight g_s, curv += weight g_s^2 (weight = 1/B for a batch mean).
void variational_accumulate(Variational *v, const float *g_s, float weight);
// One update from the data gradient g (n; clipped in place), or from the accumulators when g
// is NULL (they are zeroed after). info may be NULL. TAP_ERR_NUMERIC (and no update) when
// the gradient or the fitted prior is not finite.
int variational_step(Variational *v, float *g, VarStepInfo *info, struct TapError *err);

// Refits the prior to the current posterior (what variational_step does first).
void variational_fit_prior(Variational *v);
// The unscaled model cost L^C in nats at the refitted prior: KL(Q || P) for a Gaussian Q and
// prior, -sum ln P(mu_i) for a delta Q, 0 for a uniform prior. Training weighs it by c/N.
double variational_model_cost(Variational *v);

// What the posterior's standard deviations look like (adaptive weight noise: sigma_i from ls2;
// fixed noise: the one sigma). The median comes from a histogram of log10 sigma in steps of
// 0.01 (within 2.3%), so nothing is allocated. snr_below_1: the fraction of weights whose
// sigma exceeds |mu| (Graves: the ones the description length would prune).
typedef struct {
    double mean_sigma, median_sigma, min_sigma, max_sigma;
    double snr_below_1;
    int has_sigma; // 0 for a delta posterior (no noise): the rest is zero
} VarSigmaStats;
void variational_sigma_stats(const Variational *v, VarSigmaStats *out);

// Lists everything an exact resume needs ("mu", "ls2", "opt_mu/rg2", ..., "prior_mean",
// "prior_scale", "rng", "step") into out and returns the count. Loading = writing into
// these pointers after variational_init with the same config.
#define VARIATIONAL_STATE_MAX 16
int variational_state(Variational *v, StateEntry *out);

#endif
