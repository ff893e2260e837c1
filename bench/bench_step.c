// Times tap's training step (model_loss + model_backward + clip + Adadelta) at TAP's full size
// on padded batches with the given real lengths; random features/tokens/alignment (shapes are
// what matters, as in shared/bench/bench_train.py). THREADS (default 1) sets OpenBLAS and
// TapConfig.threads (the encoder's two directions on two threads); BENCH_BLAS_THREADS in the
// environment overrides the OpenBLAS part.
//   bench_step REPS WARMUP P1,P2,... T1,T2,... [THREADS]
//     one batch (points and tokens per expression; Tx = max(points) + 1, Ty = max(tokens) + 1):
//     one line per repetition, then the median, min, peak RSS and the model's own memory.
//   bench_step serve MAX_T MAX_L MAX_B THREADS
//     one model for batches up to the limits; reads lines "P1,P2,... T1,T2,... REPS WARMUP" on
//     stdin and answers each with "step MEDIAN_S MIN_S peak_rss_mb RSS" (WARMUP untimed steps
//     first), so that a driver can interleave tap and torch on the same batches.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "adadelta.h"
#include "bench_util.h"
#include "clip.h"
#include "model.h"
#include "tap.h"

enum { MAX_B = 64 };

static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s && n < cap) {
        char *end;
        out[n++] = (int)strtol(s, &end, 10);
        if (end == s) return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

// Host buffers for batches up to the limits, and the Adadelta state.
typedef struct {
    TapModel m;
    float *x, *xm, *ym, *a, *am, *rg2, *ru2; // (T,B,F) (T,B) (L,B) (T,B,L) (T,B,L) (n) (n)
    int32_t *y;                              // (L, B)
} Bench;

static int bench_init(Bench *s, int T, int L, int B, int threads) {
    TapConfig cfg;
    config_default(&cfg);
    cfg.threads = threads;
    // BENCH_BLAS_THREADS overrides OpenBLAS's count (e.g. 1 with THREADS 2: only the encoder's
    // directions run in parallel, the small decoder GEMMs stay single-threaded).
    const char *blas = getenv("BENCH_BLAS_THREADS");
    openblas_set_num_threads(blas && atoi(blas) > 0 ? atoi(blas) : threads);
    TapError err = {0};
    if (model_init(&s->m, &cfg, T, L, B, 1234, &err) != TAP_OK) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    size_t tb = (size_t)T * B, n = s->m.table.n;
    s->x = calloc(tb * (size_t)cfg.F, sizeof *s->x);
    s->xm = calloc(tb, sizeof *s->xm);
    s->y = calloc((size_t)L * B, sizeof *s->y);
    s->ym = calloc((size_t)L * B, sizeof *s->ym);
    s->a = calloc(tb * (size_t)L, sizeof *s->a);
    s->am = calloc(tb * (size_t)L, sizeof *s->am);
    s->rg2 = calloc(n, sizeof *s->rg2);
    s->ru2 = calloc(n, sizeof *s->ru2);
    return !s->x || !s->xm || !s->y || !s->ym || !s->a || !s->am || !s->rg2 || !s->ru2;
}

// Fills a (T, L, B) batch for the lengths lx, ly: valid frames and tokens under the masks.
static ModelBatch bench_batch(Bench *s, const int *lx, const int *ly, int B) {
    const int F = s->m.cfg.F, V = s->m.cfg.V;
    int T = 0, L = 0;
    for (int b = 0; b < B; b++) {
        if (lx[b] + 1 > T) T = lx[b] + 1;
        if (ly[b] + 1 > L) L = ly[b] + 1;
    }
    memset(s->xm, 0, (size_t)T * B * sizeof *s->xm);
    memset(s->ym, 0, (size_t)L * B * sizeof *s->ym);
    memset(s->a, 0, (size_t)T * B * L * sizeof *s->a);
    memset(s->am, 0, (size_t)T * B * L * sizeof *s->am);
    TapRng rng;
    rng_seed(&rng, 7);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= lx[b] && t < T; t++) {
            s->xm[t * B + b] = 1.0f;
            for (int f = 0; f < F; f++)
                s->x[((size_t)t * B + b) * F + f] = (float)rng_normal(&rng);
            int tok = (int)rng_below(&rng, (uint64_t)(ly[b] > 0 ? ly[b] : 1));
            for (int l = 0; l <= ly[b]; l++) s->am[((size_t)t * B + b) * L + l] = 1.0f;
            s->a[((size_t)t * B + b) * L + tok] = 1.0f;
        }
        for (int l = 0; l < L; l++) {
            s->ym[l * B + b] = l <= ly[b] ? 1.0f : 0.0f;
            s->y[l * B + b] = l >= ly[b] ? 0 : 1 + (int32_t)rng_below(&rng, (uint64_t)(V - 1));
        }
    }
    return (ModelBatch){T, L, B, s->x, s->xm, s->y, s->ym, s->a, s->am};
}

// One timed step; returns wall seconds (and *cpu: CPU seconds of the process, all threads), or
// -1 on a model error.
static double bench_run(Bench *s, const ModelBatch *batch, double *cost, double *cpu) {
    TapError err = {0};
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), scale;
    if (model_loss(&s->m, batch, NULL, cost, &err) != TAP_OK) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return -1.0;
    }
    model_backward(&s->m);
    clip_global_norm(s->m.g, s->m.table.n, 100.0f, &scale);
    adadelta_step(s->m.w, s->m.g, s->rg2, s->ru2, s->m.table.n, ADADELTA_RHO, ADADELTA_EPS);
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return clock_s(CLOCK_MONOTONIC) - t0;
}

static void bench_free(Bench *s) {
    free(s->x), free(s->xm), free(s->y), free(s->ym), free(s->a), free(s->am);
    free(s->rg2), free(s->ru2);
    model_free(&s->m);
}

// REPS timed steps (after WARMUP) of one batch; ts and tc get the sorted wall and CPU times.
static int time_batch(Bench *s, const int *lx, const int *ly, int B, int reps, int warmup,
                      double *ts, double *tc, int verbose) {
    ModelBatch batch = bench_batch(s, lx, ly, B);
    for (int r = -warmup; r < reps; r++) {
        double cost, cpu, dt = bench_run(s, &batch, &cost, &cpu);
        if (dt < 0) return 1;
        if (r >= 0) ts[r] = dt, tc[r] = cpu;
        if (verbose) printf("rep %d %.4f s cpu %.4f s cost %.4f\n", r, dt, cpu, cost);
    }
    qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
    qsort(tc, (size_t)reps, sizeof *tc, cmp_double);
    return 0;
}

static int serve(int T, int L, int B, int threads) {
    Bench s;
    if (bench_init(&s, T, L, B, threads)) return 1;
    char line[4096], px[2048], py[2048];
    int reps, warmup;
    double ts[64], tc[64];
    while (fgets(line, sizeof line, stdin)) {
        int lx[MAX_B], ly[MAX_B], nb;
        if (sscanf(line, "%2047s %2047s %d %d", px, py, &reps, &warmup) != 4 || reps < 1 ||
            reps > 64 || warmup < 0 ||
            (nb = parse_list(px, lx, MAX_B)) <= 0 || parse_list(py, ly, MAX_B) != nb || nb > B) {
            fprintf(stderr, "bench_step serve: bad line: %s", line);
            return 2;
        }
        if (time_batch(&s, lx, ly, nb, reps, warmup, ts, tc, 0)) return 1;
        printf("step %.6f %.6f peak_rss_mb %.1f cpu %.6f\n", ts[reps / 2], ts[0], peak_rss_mb(),
               tc[reps / 2]);
        fflush(stdout);
    }
    bench_free(&s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: bench_step REPS WARMUP P1,P2,... T1,T2,... [THREADS]\n"
                        "       bench_step serve MAX_T MAX_L MAX_B THREADS\n");
        return 2;
    }
    int reps = atoi(argv[1]), warmup = atoi(argv[2]), threads = argc == 6 ? atoi(argv[5]) : 1;
    int lx[MAX_B], ly[MAX_B];
    int B = parse_list(argv[3], lx, MAX_B);
    if (B <= 0 || parse_list(argv[4], ly, MAX_B) != B || reps < 1 || threads < 1) {
        fprintf(stderr, "bench_step: bad arguments\n");
        return 2;
    }
    int T = 0, L = 0;
    for (int b = 0; b < B; b++) {
        if (lx[b] + 1 > T) T = lx[b] + 1;
        if (ly[b] + 1 > L) L = ly[b] + 1;
    }
    Bench s;
    double *ts = calloc((size_t)reps, sizeof *ts), *tc = calloc((size_t)reps, sizeof *tc);
    if (!ts || !tc || bench_init(&s, T, L, B, threads)) return 1;
    if (time_batch(&s, lx, ly, B, reps, warmup, ts, tc, 1)) return 1;
    printf("B %d Tx %d Ty %d threads %d median %.4f s min %.4f s peak_rss_mb %.1f model_mb %.1f "
           "cpu_median %.4f s\n",
           B, T, L, threads, ts[reps / 2], ts[0], peak_rss_mb(),
           (double)model_memory_bytes(&s.m) / 1048576.0, tc[reps / 2]);
    free(ts), free(tc);
    bench_free(&s);
    return 0;
}
