// Times the stage-2 (adaptive weight noise) update at TAP's size, 6,349,669 weights, without
// the model: variational_sample, variational_fit_prior, variational_step (clip, prior refit,
// weight_noise_grad, two Adadelta steps) and variational_model_cost (the KL, once per epoch),
// and two parts of the step alone: clip_global_norm (clipping) and weight_noise_grad.
// Prints the median and min of REPS repetitions of each, in ms. Run it on one thread.
//   stage2_speed [REPS] [N]      (defaults 7, 6349669)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "clip.h"
#include "tap.h"
#include "variational.h"
#include "weight_noise.h"

enum { MAX_REPS = 101 };

static double median_ms(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return 1e3 * (n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]));
}

static void report(const char *name, double *t, int n) {
    double lo = t[0];
    for (int i = 1; i < n; i++)
        lo = t[i] < lo ? t[i] : lo;
    printf("%-12s median %8.2f ms   min %8.2f ms\n", name, median_ms(t, n), 1e3 * lo);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 6349669;
    if (reps < 1 || reps > MAX_REPS || n < 1) {
        fprintf(stderr, "usage: stage2_speed [REPS 1..%d] [N]\n", MAX_REPS);
        return 2;
    }
    float *w0 = malloc(n * sizeof *w0), *w = malloc(n * sizeof *w), *g = malloc(n * sizeof *g);
    float *g0 = malloc(n * sizeof *g0);
    if (!w0 || !w || !g || !g0)
        return 1;
    TapRng r;
    rng_seed(&r, 42);
    rng_fill_normal(&r, w0, n, 0.0f, 0.1f);
    rng_fill_normal(&r, g0, n, 0.0f, 1.0f); // norm ~2500: the clip scales it, as early in TAP
    VarConfig cfg;
    variational_config_default(&cfg, VAR_ADAPTIVE_WEIGHT_NOISE);
    Variational v;
    TapError err;
    if (variational_init(&v, &cfg, w0, n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    // sigma between 1e-12 (TAP's start) and 0.1, as after some annealing
    for (size_t i = 0; i < n; i++)
        v.ls2[i] = weight_noise_ls2(i % 3 ? 1e-12f : 0.01f + 0.09f * rng_uniformf(&r));
    double ts[MAX_REPS], tf[MAX_REPS], tst[MAX_REPS], tk[MAX_REPS], tc[MAX_REPS], tg[MAX_REPS];
    double kl = 0.0;
    for (int k = 0; k < reps; k++) {
        double t0 = clock_s(CLOCK_MONOTONIC);
        variational_sample(&v, w);
        double t1 = clock_s(CLOCK_MONOTONIC);
        variational_fit_prior(&v);
        double t2 = clock_s(CLOCK_MONOTONIC);
        memcpy(g, g0, n * sizeof *g);
        double t3 = clock_s(CLOCK_MONOTONIC);
        if (variational_step(&v, g, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double t4 = clock_s(CLOCK_MONOTONIC);
        kl = variational_model_cost(&v);
        double t5 = clock_s(CLOCK_MONOTONIC);
        memcpy(g, g0, n * sizeof *g);
        double t6 = clock_s(CLOCK_MONOTONIC);
        clip_global_norm(g, n, cfg.clip_c, NULL);
        double t7 = clock_s(CLOCK_MONOTONIC);
        weight_noise_grad(v.mu, v.ls2, 0.0f, g, NULL, n, v.prior.mean, v.prior.scale,
                          cfg.coeff / cfg.n_train, v.g_mu, v.g_ls2);
        double t8 = clock_s(CLOCK_MONOTONIC);
        ts[k] = t1 - t0, tf[k] = t2 - t1, tst[k] = t4 - t3, tk[k] = t5 - t4;
        tc[k] = t7 - t6, tg[k] = t8 - t7;
    }
    printf("n %zu, %d repetitions (KL %.6g nats, w[0] %.6g)\n", n, reps, kl, (double)w[0]);
    report("sample", ts, reps);
    report("fit_prior", tf, reps);
    report("step", tst, reps);
    report("model_cost", tk, reps);
    report("  clip", tc, reps);
    report("  grad", tg, reps);
    variational_free(&v);
    free(w0), free(w), free(g), free(g0);
    return 0;
}
