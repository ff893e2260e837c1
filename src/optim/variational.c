#include "variational.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "tap.h"
#include "weight_noise.h"

static const VarKindInfo kinds[VAR_COUNT] = {
    [VAR_ML] = {"ml", VAR_POST_DELTA, PRIOR_UNIFORM, 0, 0},
    [VAR_L1] = {"l1", VAR_POST_DELTA, PRIOR_LAPLACE, 0, 0},
    [VAR_L2] = {"l2", VAR_POST_DELTA, PRIOR_GAUSS, 0, 0},
    [VAR_ADAPTIVE_L1] = {"adaptive-l1", VAR_POST_DELTA, PRIOR_LAPLACE, 1, 1},
    [VAR_ADAPTIVE_L2] = {"adaptive-l2", VAR_POST_DELTA, PRIOR_GAUSS, 1, 1},
    [VAR_ADAPTIVE_MEAN_L1] = {"adaptive-mean-l1", VAR_POST_DELTA, PRIOR_LAPLACE, 1, 0},
    [VAR_ADAPTIVE_MEAN_L2] = {"adaptive-mean-l2", VAR_POST_DELTA, PRIOR_GAUSS, 1, 0},
    [VAR_WEIGHT_NOISE] = {"weight-noise", VAR_POST_FIXED, PRIOR_UNIFORM, 0, 0},
    [VAR_ADAPTIVE_PRIOR_WEIGHT_NOISE] = {"adaptive-prior-weight-noise", VAR_POST_FIXED, PRIOR_GAUSS,
                                         1, 1},
    [VAR_ADAPTIVE_WEIGHT_NOISE] = {"adaptive-weight-noise", VAR_POST_LEARNED, PRIOR_GAUSS, 1, 1},
};

const VarKindInfo *variational_kind_info(VarKind kind) {
    return (unsigned)kind < VAR_COUNT ? &kinds[kind] : NULL;
}

const char *variational_kind_name(VarKind kind) {
    return (unsigned)kind < VAR_COUNT ? kinds[kind].name : "?";
}

int variational_kind_parse(const char *name) {
    for (int k = 0; k < VAR_COUNT; k++)
        if (name && strcmp(name, kinds[k].name) == 0) return k;
    return -1;
}

void variational_config_default(VarConfig *c, VarKind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->coeff = 0.1;
    c->n_train = 2.0 * 8835.0;
    c->clip_c = CLIP_TAP;
    c->prior_var = 0.01f;
    c->prior_b = 0.0707107f;
    c->sigma = 0.075f;
    c->sigma_init = WEIGHT_NOISE_SIGMA_INIT;
    c->seed = 1234;
    optimizer_config_default(&c->opt_mu, OPTIM_ADADELTA);
    optimizer_config_default(&c->opt_ls2, OPTIM_ADADELTA);
}

static int positive(float x) { return x > 0.0f && isfinite(x); }

static int check_config(const VarConfig *c, struct TapError *err) {
    const VarKindInfo *k = variational_kind_info(c->kind);
    if (!k) return tap_error_set(err, TAP_ERR_ARG, "unknown variational kind %d", (int)c->kind);
    const char *bad = NULL;
    if (!(c->coeff >= 0.0 && isfinite(c->coeff)))
        bad = "model-cost coefficient must be finite and >= 0";
    else if (!(c->n_train > 0.0 && isfinite(c->n_train)))
        bad = "number of training sequences must be > 0";
    else if (isnan(c->clip_c))
        bad = "clip threshold is NaN";
    else if (!k->fit_scale && k->prior == PRIOR_LAPLACE && !positive(c->prior_b))
        bad = "Laplace prior b must be > 0";
    else if (!k->fit_scale && k->prior == PRIOR_GAUSS && k->posterior == VAR_POST_DELTA &&
             !positive(c->prior_var))
        bad = "Gauss prior variance must be > 0";
    else if (k->posterior == VAR_POST_FIXED && !positive(c->sigma))
        bad = "posterior sigma must be > 0";
    else if (k->posterior == VAR_POST_LEARNED && !positive(c->sigma_init))
        bad = "initial posterior sigma must be > 0";
    if (bad) return tap_error_set(err, TAP_ERR_ARG, "%s: %s", k->name, bad);
    return TAP_OK;
}

static float *alloc_floats(size_t n, int zero) {
    return zero ? calloc(n ? n : 1, sizeof(float)) : malloc((n ? n : 1) * sizeof(float));
}

int variational_init(Variational *v, const VarConfig *cfg, const float *w0, size_t n,
                     struct TapError *err) {
    memset(v, 0, sizeof *v);
    int rc = check_config(cfg, err);
    if (rc) return rc;
    v->cfg = *cfg;
    v->info = variational_kind_info(cfg->kind);
    v->n = n;
    const int learned = v->info->posterior == VAR_POST_LEARNED;
    int nomem = !(v->mu = alloc_floats(n, 0)) || !(v->g_mu = alloc_floats(n, 1));
    if (!nomem && learned)
        nomem = !(v->ls2 = alloc_floats(n, 0)) || !(v->g_ls2 = alloc_floats(n, 1));
    if (!nomem && cfg->per_sequence)
        nomem = !(v->g_acc = alloc_floats(n, 1)) || !(v->curv = alloc_floats(n, 1));
    if (!nomem && v->info->prior == PRIOR_LAPLACE && v->info->fit_mean)
        nomem = !(v->scratch = alloc_floats(n, 0));
    if (nomem) {
        variational_free(v);
        return tap_error_set(err, TAP_ERR_NOMEM, "%s: posterior state for %zu weights",
                             v->info->name, n);
    }
    rc = optimizer_init(&v->opt_mu, &cfg->opt_mu, n, err);
    if (!rc && learned) rc = optimizer_init(&v->opt_ls2, &cfg->opt_ls2, n, err);
    if (rc) {
        variational_free(v);
        return tap_error_prefix(err, "%s", kinds[cfg->kind].name);
    }
    memcpy(v->mu, w0, n * sizeof *w0);
    if (learned) {
        float l = weight_noise_ls2(cfg->sigma_init);
        for (size_t i = 0; i < n; i++) v->ls2[i] = l;
    }
    v->prior.shape = v->info->prior;
    v->prior.mean = 0.0;
    v->prior.scale = v->info->prior == PRIOR_LAPLACE        ? (double)cfg->prior_b
                     : v->info->posterior == VAR_POST_DELTA ? (double)cfg->prior_var
                                                            : 0.0;
    rng_seed(&v->rng, cfg->seed);
    return TAP_OK;
}

void variational_free(Variational *v) {
    free(v->mu);
    free(v->ls2);
    free(v->g_mu);
    free(v->g_ls2);
    free(v->g_acc);
    free(v->curv);
    free(v->scratch);
    optimizer_free(&v->opt_mu);
    optimizer_free(&v->opt_ls2);
    v->mu = v->ls2 = v->g_mu = v->g_ls2 = v->g_acc = v->curv = v->scratch = NULL;
}

const float *variational_mean(const Variational *v) { return v->mu; }

void variational_sample(Variational *v, float *w) {
    if (v->info->posterior == VAR_POST_DELTA) {
        if (w != v->mu) memcpy(w, v->mu, v->n * sizeof *w);
        return;
    }
    weight_noise_sample(w, v->mu, v->ls2, v->cfg.sigma, v->n, &v->rng);
}

void variational_accumulate(Variational *v, const float *g_s, float weight) {
    TAP_ASSERT(v->g_acc && v->curv);
    for (size_t i = 0; i < v->n; i++) {
        float gi = g_s[i];
        v->g_acc[i] += weight * gi;
        v->curv[i] += weight * gi * gi;
    }
}

void variational_fit_prior(Variational *v) {
    const VarKindInfo *k = v->info;
    if (k->prior == PRIOR_UNIFORM) return;
    if (k->posterior == VAR_POST_DELTA) {
        regularizer_fit(&v->prior, v->mu, v->n, k->fit_mean, k->fit_scale, v->scratch);
    } else {
        weight_noise_fit_prior(v->mu, v->ls2, v->cfg.sigma, v->n, &v->prior.mean, &v->prior.scale);
    }
}

double variational_model_cost(Variational *v) {
    variational_fit_prior(v);
    if (v->info->prior == PRIOR_UNIFORM) return 0.0;
    if (v->info->posterior == VAR_POST_DELTA) return regularizer_cost(&v->prior, v->mu, v->n);
    return weight_noise_kl(v->mu, v->ls2, v->cfg.sigma, v->n, v->prior.mean, v->prior.scale);
}

int variational_step(Variational *v, float *g, VarStepInfo *info, struct TapError *err) {
    const VarKindInfo *k = v->info;
    const size_t n = v->n;
    float *gd = g;
    const float *curv = NULL;
    if (!g) {
        TAP_ASSERT(v->g_acc);
        gd = v->g_acc;
        curv = v->curv;
    }
    double scale = 1.0;
    double norm = clip_global_norm(gd, n, v->cfg.clip_c, &scale);
    if (!isfinite(norm))
        return tap_error_set(err, TAP_ERR_NUMERIC, "step %llu: gradient norm is %g",
                             (unsigned long long)v->step, norm);
    if (curv && scale != 1.0) { // the curvature of the clipped gradient, as TAP's g^2
        float s2 = (float)(scale * scale);
        for (size_t i = 0; i < n; i++) v->curv[i] *= s2;
    }
    variational_fit_prior(v);
    if (k->prior != PRIOR_UNIFORM &&
        !(isfinite(v->prior.mean) && isfinite(v->prior.scale) && v->prior.scale > 0.0))
        return tap_error_set(err, TAP_ERR_NUMERIC, "step %llu: %s prior has mean %g and scale %g",
                             (unsigned long long)v->step, k->name, v->prior.mean, v->prior.scale);

    const double coeff = v->cfg.coeff / v->cfg.n_train; // c/N
    if (k->posterior == VAR_POST_DELTA || k->prior == PRIOR_UNIFORM) {
        memcpy(v->g_mu, gd, n * sizeof *gd);
        if (k->posterior == VAR_POST_DELTA)
            regularizer_grad(&v->prior, v->mu, n, (float)coeff, v->g_mu);
    } else {
        weight_noise_grad(v->mu, v->ls2, v->cfg.sigma, gd, curv, n, v->prior.mean, v->prior.scale,
                          coeff, v->g_mu, v->g_ls2);
    }
    optimizer_step(&v->opt_mu, v->mu, v->g_mu);
    if (v->ls2) optimizer_step(&v->opt_ls2, v->ls2, v->g_ls2);
    if (!g) {
        memset(v->g_acc, 0, n * sizeof *v->g_acc);
        memset(v->curv, 0, n * sizeof *v->curv);
    }
    v->step++;
    if (info) {
        info->grad_norm = norm;
        info->clip_scale = scale;
        info->prior_mean = v->prior.mean;
        info->prior_scale = v->prior.scale;
    }
    return TAP_OK;
}

static void entry(StateEntry *e, const char *name, StateType type, void *data, size_t len) {
    snprintf(e->name, sizeof e->name, "%s", name);
    e->type = type;
    e->data = data;
    e->len = len;
}

int variational_state(Variational *v, StateEntry *out) {
    int k = 0;
    entry(&out[k++], "mu", STATE_F32, v->mu, v->n);
    if (v->ls2) entry(&out[k++], "ls2", STATE_F32, v->ls2, v->n);
    k += optimizer_state(&v->opt_mu, "opt_mu", out + k);
    if (v->ls2) k += optimizer_state(&v->opt_ls2, "opt_ls2", out + k);
    entry(&out[k++], "prior_mean", STATE_F64, &v->prior.mean, 1);
    entry(&out[k++], "prior_scale", STATE_F64, &v->prior.scale, 1);
    entry(&out[k++], "rng", STATE_U64, v->rng.s, 4);
    entry(&out[k++], "step", STATE_U64, &v->step, 1);
    TAP_ASSERT(k <= VARIATIONAL_STATE_MAX);
    return k;
}

void variational_sigma_stats(const Variational *v, VarSigmaStats *out) {
    memset(out, 0, sizeof *out);
    if (v->n == 0 || v->info->posterior == VAR_POST_DELTA) return;
    enum { LO = -1500, HI = 300, BINS = HI - LO }; // log10 sigma in [-15, 3), 0.01 wide
    static _Thread_local unsigned hist[BINS];
    memset(hist, 0, sizeof hist);
    double sum = 0.0, lo = INFINITY, hi = 0.0;
    size_t below = 0;
    const float half = 0.5f * WEIGHT_NOISE_LS2_SCALE;
    for (size_t i = 0; i < v->n; i++) {
        double sigma = v->ls2 ? exp((double)(v->ls2[i] * half)) : (double)v->cfg.sigma;
        sum += sigma;
        lo = sigma < lo ? sigma : lo;
        hi = sigma > hi ? sigma : hi;
        below += sigma > fabs((double)v->mu[i]);
        int b = sigma > 0.0 ? (int)floor(100.0 * log10(sigma)) - LO : 0;
        hist[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
    size_t half_n = (v->n + 1) / 2, seen = 0;
    int b = 0;
    while (b < BINS - 1 && (seen += hist[b]) < half_n) b++;
    out->has_sigma = 1;
    out->mean_sigma = sum / (double)v->n;
    out->median_sigma = pow(10.0, (b + LO + 0.5) / 100.0);
    out->min_sigma = lo, out->max_sigma = hi;
    out->snr_below_1 = (double)below / (double)v->n;
}
