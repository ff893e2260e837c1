// Quick OpenBLAS sgemm peak for the benchmark drivers: the best median GFLOP/s of square NN
// products (256 … 2048, as shared/bench/sgemm_bench.c's "square" rows) at THREADS threads,
// in a few seconds, so every benchmark run can print the peak of its own moment.
//   sgemm_peak THREADS [cpu]  → "sgemm_peak THREADS GFLOPS N" (the size that reached it);
//   cpu: per CPU second of the process instead of per wall second (1 thread, shared cores)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench_util.h"

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now_s(void) { return clock_s(clock_id); }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1) return 2;
    if (argc > 2 && argv[2][0] == 'c') clock_id = CLOCK_PROCESS_CPUTIME_ID;
    openblas_set_num_threads(threads);
    const int sizes[] = {256, 512, 1024, 2048};
    double best = 0.0;
    int best_n = 0;
    for (int i = 0; i < 4; i++) {
        const int n = sizes[i], reps = n >= 2048 ? 5 : 9;
        float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
        float *c = malloc((size_t)n * n * sizeof *c);
        if (!a || !b || !c) return 1;
        for (size_t k = 0; k < (size_t)n * n; k++) a[k] = b[k] = (float)(k % 7) * 0.1f, c[k] = 0;
        double g[9];
        for (int r = -1; r < reps; r++) {
            double t0 = now_s();
            int calls = n <= 256 ? 32 : n <= 512 ? 4 : 1;
            for (int k = 0; k < calls; k++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                            0.0f, c, n);
            double dt = (now_s() - t0) / calls;
            if (r >= 0) g[r] = 2.0 * n * n * (double)n / dt / 1e9;
        }
        qsort(g, (size_t)reps, sizeof *g, cmp_double);
        if (g[reps / 2] > best) best = g[reps / 2], best_n = n;
        free(a), free(b), free(c);
    }
    printf("sgemm_peak %d %.1f %d\n", threads, best, best_n);
    return 0;
}
