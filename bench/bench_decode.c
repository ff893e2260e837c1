// Times tap's beam_decode (encoder at batch 1, then the beam search) at TAP's full size with
// TAP's initialisers, like shared/bench/bench_decode.py: random point features, and <eol> made
// (practically) impossible through its logit bias so that every run decodes exactly STEPS steps,
// as the reference's never_stop. Also times the encoder alone on the same input.
//   bench_decode serve MAX_POINTS THREADS
//     reads lines "POINTS STEPS BEAM REPS" on stdin and answers each with
//     "decode MEDIAN_S MIN_S encoder MEDIAN_S steps N peak_rss_mb RSS cpu MEDIAN_S encoder_cpu
//     MEDIAN_S" (one warm-up run first; cpu: CPU seconds of the process, all threads).
// THREADS sets OpenBLAS and TapConfig.threads (the encoder's directions on two threads).
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "beam.h"
#include "bench_util.h"
#include "params.h"
#include "tap.h"

int main(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "serve")) {
        fprintf(stderr, "usage: bench_decode serve MAX_POINTS THREADS\n");
        return 2;
    }
    const int max_points = atoi(argv[2]), threads = atoi(argv[3]);
    TapConfig cfg;
    config_default(&cfg);
    cfg.threads = threads;
    openblas_set_num_threads(threads);
    ParamTable table;
    TapError err = {0};
    if (max_points < 1 || threads < 1 || params_layout(&cfg, &table, &err) != TAP_OK) {
        fprintf(stderr, "bench_decode: bad arguments %s\n", err.msg);
        return 2;
    }
    float *w = malloc(table.n * sizeof *w);
    float *x = malloc((size_t)(max_points + 1) * cfg.F * sizeof *x); // (T, F)
    const int Tmax = max_points + 1;
    float *enc_mem = malloc(encoder_floats(&cfg, Tmax, 1) * sizeof *enc_mem);
    if (!w || !x || !enc_mem) return 1;
    TapRng rng;
    rng_seed(&rng, 1234);
    params_init(&table, w, &rng);
    params_bind(&table, w, "ff_logit_b")[0] = -30.0f; // <eol> never among the best candidates
    EncoderParams ep;
    encoder_params_bind(&ep, &table, w, &cfg);
    char line[256];
    double ts[64], te[64], tc[64], tce[64];
    while (fgets(line, sizeof line, stdin)) {
        int points, steps, beam, reps;
        if (sscanf(line, "%d %d %d %d", &points, &steps, &beam, &reps) != 4 || points < 1 ||
            points > max_points || steps < 1 || beam < 1 || reps < 1 || reps > 64) {
            fprintf(stderr, "bench_decode: bad line: %s", line);
            return 2;
        }
        BeamDecoder d;
        if (beam_init(&d, &cfg, &table, w, beam, steps, &err) != TAP_OK) {
            fprintf(stderr, "bench_decode: %s\n", err.msg);
            return 1;
        }
        rng_seed(&rng, 3);
        rng_fill_normal(&rng, x, (size_t)points * cfg.F, 0.0f, 1.0f);
        BeamResult res;
        for (int r = -1; r < reps; r++) {
            double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if (beam_decode(&d, x, points, &res, &err) != TAP_OK) {
                fprintf(stderr, "bench_decode: %s\n", err.msg);
                return 1;
            }
            double t1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            // The encoder alone, as beam_decode runs it: the points plus TAP's zero frame.
            memset(x + (size_t)points * cfg.F, 0, (size_t)cfg.F * sizeof *x);
            EncoderState es;
            encoder_bind(&es, &cfg, enc_mem, points + 1, 1);
            encoder_forward(&ep, x, NULL, &es);
            double t2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if (r >= 0) ts[r] = t1 - t0, te[r] = t2 - t1, tc[r] = c1 - c0, tce[r] = c2 - c1;
        }
        qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
        qsort(te, (size_t)reps, sizeof *te, cmp_double);
        qsort(tc, (size_t)reps, sizeof *tc, cmp_double);
        qsort(tce, (size_t)reps, sizeof *tce, cmp_double);
        printf("decode %.6f %.6f encoder %.6f steps %d peak_rss_mb %.1f cpu %.6f encoder_cpu %.6f\n",
               ts[reps / 2], ts[0], te[reps / 2], res.n + res.finished, peak_rss_mb(),
               tc[reps / 2], tce[reps / 2]);
        fflush(stdout);
        beam_free(&d);
    }
    free(w), free(x), free(enc_mem);
    params_free(&table);
    return 0;
}
