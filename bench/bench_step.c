// Times tap's training step (model_loss + model_backward + clip + Adadelta) at TAP's full size
// on one padded batch with the given real lengths; random features/tokens/alignment (shapes are
// what matters, as in shared/bench/bench_train.py). Prints one line per repetition and the
// median, plus peak RSS.  Usage: bench_step REPS WARMUP P1,P2,... T1,T2,...
//   (points and tokens per expression; Tx = max(points) + 1, Ty = max(tokens) + 1)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "adadelta.h"
#include "clip.h"
#include "model.h"
#include "tap.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        out[n++] = (int)strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s) return -1;
    }
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench_step REPS WARMUP P1,P2,... T1,T2,...\n");
        return 2;
    }
    int reps = atoi(argv[1]), warmup = atoi(argv[2]);
    int lx[64], ly[64];
    int B = parse_list(argv[3], lx, 64);
    if (B <= 0 || parse_list(argv[4], ly, 64) != B || reps < 1) {
        fprintf(stderr, "bench_step: bad arguments\n");
        return 2;
    }
    int T = 0, L = 0;
    for (int b = 0; b < B; b++) {
        if (lx[b] + 1 > T) T = lx[b] + 1;
        if (ly[b] + 1 > L) L = ly[b] + 1;
    }
    TapConfig cfg;
    config_default(&cfg);
    TapModel m;
    TapError err = {0};
    if (model_init(&m, &cfg, T, L, B, 1234, &err) != TAP_OK) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    int F = cfg.F, V = cfg.V;
    float *x = calloc((size_t)T * B * F, sizeof *x);          // (T, B, F)
    float *xm = calloc((size_t)T * B, sizeof *xm);            // (T, B)
    int32_t *y = calloc((size_t)L * B, sizeof *y);            // (L, B)
    float *ym = calloc((size_t)L * B, sizeof *ym);            // (L, B)
    float *a = calloc((size_t)T * B * L, sizeof *a);          // (T, B, L)
    float *am = calloc((size_t)T * B * L, sizeof *am);        // (T, B, L)
    float *rg2 = calloc(m.table.n, sizeof *rg2), *ru2 = calloc(m.table.n, sizeof *ru2);
    if (!x || !xm || !y || !ym || !a || !am || !rg2 || !ru2) return 1;
    TapRng rng;
    rng_seed(&rng, 7);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= lx[b] && t < T; t++) {
            xm[t * B + b] = 1.0f;
            for (int f = 0; f < F; f++) x[((size_t)t * B + b) * F + f] = (float)rng_normal(&rng);
            int tok = (int)rng_below(&rng, (uint64_t)(ly[b] > 0 ? ly[b] : 1));
            for (int l = 0; l <= ly[b]; l++) am[((size_t)t * B + b) * L + l] = 1.0f;
            a[((size_t)t * B + b) * L + tok] = 1.0f;
        }
        for (int l = 0; l <= ly[b] && l < L; l++) {
            ym[l * B + b] = 1.0f;
            y[l * B + b] = l == ly[b] ? 0 : 1 + (int32_t)rng_below(&rng, (uint64_t)(V - 1));
        }
    }
    ModelBatch batch = {T, L, B, x, xm, y, ym, a, am};
    double *ts = calloc((size_t)reps, sizeof *ts);
    for (int r = -warmup; r < reps; r++) {
        double t0 = now_s(), cost, scale;
        if (model_loss(&m, &batch, NULL, &cost, &err) != TAP_OK) {
            fprintf(stderr, "bench_step: %s\n", err.msg);
            return 1;
        }
        model_backward(&m);
        clip_global_norm(m.g, m.table.n, 100.0f, &scale);
        adadelta_step(m.w, m.g, rg2, ru2, m.table.n, ADADELTA_RHO, ADADELTA_EPS);
        double dt = now_s() - t0;
        if (r >= 0) ts[r] = dt;
        printf("rep %d %.4f s cost %.4f\n", r, dt, cost);
    }
    qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("B %d Tx %d Ty %d median %.4f s min %.4f s peak_rss_mb %.1f model_mb %.1f\n", B, T, L,
           ts[reps / 2], ts[0], (double)ru.ru_maxrss / 1024.0,
           (double)model_memory_bytes(&m) / 1048576.0);
    free(ts), free(x), free(xm), free(y), free(ym), free(a), free(am), free(rg2), free(ru2);
    model_free(&m);
    return 0;
}
