#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beam.h"
#include "test_util.h"

// A tiny random model whose distributions are far from uniform, so the search has real choices.
typedef struct {
    TapConfig cfg;
    ParamTable t;
    float *w;
} Tiny;

static void tiny_init(Tiny *m, int V, float gain, uint64_t seed) {
    config_default(&m->cfg);
    m->cfg = (TapConfig){.F = 3, .n_layers = 2, .H = {4, 3}, .pool = {1, 0}, .D = 5, .E = 6, .V = V,
                         .K = 3, .Q = 4, .gate = 1, .gamma = 0.1f};
    cr_assert_eq(params_layout(&m->cfg, &m->t, NULL), TAP_OK);
    m->w = malloc(m->t.n * sizeof *m->w);
    tu_fill_normal(m->w, m->t.n, gain, seed);
}

static void tiny_free(Tiny *m) {
    free(m->w);
    params_free(&m->t);
}

// Cost −Σ log p of a token sequence (ending in <eol> when eol) under teacher forcing, using
// decoder_forward on the encoder's output with an all-ones mask: an independent path from beam's.
static double teacher_cost(Tiny *m, const float *x, int T, const int32_t *tok, int n, int eol) {
    const TapConfig *c = &m->cfg;
    int Tp = T + 1, L = n + eol;
    float *xp = calloc((size_t)Tp * c->F, sizeof *xp), *xm = malloc((size_t)Tp * sizeof *xm);
    memcpy(xp, x, (size_t)T * c->F * sizeof *xp);
    for (int i = 0; i < Tp; i++) xm[i] = 1;
    EncoderParams ep;
    encoder_params_bind(&ep, &m->t, m->w, c);
    EncoderState es;
    float *emem = malloc(encoder_floats(c, Tp, 1) * sizeof(float));
    encoder_bind(&es, c, emem, Tp, 1);
    encoder_forward(&ep, xp, xm, &es);
    DecoderParams dp;
    decoder_params_bind(&dp, &m->t, m->w, c);
    int32_t *y = malloc((size_t)L * sizeof *y);
    float *ym = malloc((size_t)L * sizeof *ym);
    for (int i = 0; i < L; i++) y[i] = i < n ? tok[i] : 0, ym[i] = 1;
    DecoderCache dc;
    float *dmem = malloc(decoder_cache_floats(c, es.S, L, 1) * sizeof(float));
    decoder_cache_bind(&dc, dmem, c, es.S, L, 1);
    decoder_forward(&dp, c, es.ctx, es.ctx_mask, y, ym, es.S, L, 1, &dc);
    double cost = 0;
    for (int i = 0; i < L; i++) cost -= log((double)dc.probs[(size_t)i * c->V + y[i]]);
    free(xp), free(xm), free(emem), free(y), free(ym), free(dmem);
    return cost;
}

Test(beam, greedy_picks_the_argmax_chain_and_reports_its_cost) {
    Tiny m;
    tiny_init(&m, 7, 0.8f, 11);
    float x[9 * 3];
    tu_fill_normal(x, 27, 1.0f, 5);
    BeamDecoder d;
    TapError err;
    cr_assert_eq(beam_init(&d, &m.cfg, &m.t, m.w, 1, 12, &err), TAP_OK, "%s", err.msg);
    BeamResult r;
    cr_assert_eq(beam_decode(&d, x, 9, &r, &err), TAP_OK, "%s", err.msg);
    cr_assert_gt(r.n + r.finished, 0);
    double c = teacher_cost(&m, x, 9, r.tokens, r.n, r.finished);
    cr_assert_lt(fabs(c - (double)r.cost), 1e-4 * (1 + fabs(c)), "beam %g teacher %g", (double)r.cost, c);
    // Each greedy token is the most likely one given the previous ones: any single change costs more.
    for (int i = 0; i < r.n; i++) {
        int32_t alt[16];
        memcpy(alt, r.tokens, (size_t)r.n * sizeof *alt);
        alt[i] = (alt[i] % (m.cfg.V - 1)) + 1; // another non-<eol> token
        if (alt[i] == r.tokens[i]) continue;
        double prefix_only = teacher_cost(&m, x, 9, alt, i + 1, 0);
        double greedy_prefix = teacher_cost(&m, x, 9, r.tokens, i + 1, 0);
        cr_assert_geq(prefix_only, greedy_prefix - 1e-5);
    }
    for (int i = 0; i < (r.n + r.finished) * r.S; i++) cr_assert(r.alphas[i] >= 0 && r.alphas[i] <= 1);
    beam_free(&d);
    tiny_free(&m);
}

// Lowest length-normalised cost over every sequence up to L tokens: finished ones (n tokens,
// then <eol>) and unfinished ones of exactly L tokens.
static double exhaustive_best(Tiny *m, const float *x, int T, int V, int L) {
    double best = INFINITY;
    int32_t seq[8];
    for (int n = 0; n <= L; n++) {
        int total = 1;
        for (int i = 0; i < n; i++) total *= V - 1;
        for (int code = 0; code < total; code++) {
            int cc = code;
            for (int i = 0; i < n; i++) seq[i] = 1 + cc % (V - 1), cc /= V - 1;
            int eol = n < L;
            double cost = teacher_cost(m, x, T, seq, n, eol) / (n + eol);
            if (cost < best) best = cost;
        }
    }
    return best;
}

// With a beam as wide as the hypothesis space, beam search is exhaustive and must return the
// optimum; greedy search must miss it on some of the same models (or this test proves nothing).
Test(beam, wide_beam_finds_the_exhaustive_optimum_that_greedy_misses) {
    const int V = 4, L = 4, k = 128; // k covers every live and finished hypothesis
    int greedy_misses = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        Tiny m;
        tiny_init(&m, V, 0.3f, seed);
        float x[6 * 3];
        tu_fill_normal(x, 18, 1.0f, 100 + seed);
        double best = exhaustive_best(&m, x, 6, V, L);
        BeamDecoder wide, greedy;
        BeamResult r;
        cr_assert_eq(beam_init(&wide, &m.cfg, &m.t, m.w, k, L, NULL), TAP_OK);
        cr_assert_eq(beam_decode(&wide, x, 6, &r, NULL), TAP_OK);
        cr_assert_lt(fabs((double)r.norm_cost - best), 1e-4, "seed %d: beam %g exhaustive %g", (int)seed,
                     (double)r.norm_cost, best);
        // The tokens returned are the hypothesis that was scored, not a splice of several.
        double own = teacher_cost(&m, x, 6, r.tokens, r.n, r.finished) / (r.n + r.finished);
        cr_assert_lt(fabs(own - best), 1e-4, "seed %d: returned tokens cost %g, beam score %g",
                     (int)seed, own, best);
        cr_assert_eq(beam_init(&greedy, &m.cfg, &m.t, m.w, 1, L, NULL), TAP_OK);
        cr_assert_eq(beam_decode(&greedy, x, 6, &r, NULL), TAP_OK);
        cr_assert_geq((double)r.norm_cost, best - 1e-4);
        greedy_misses += (double)r.norm_cost > best + 1e-4;
        beam_free(&wide);
        beam_free(&greedy);
        tiny_free(&m);
    }
    cr_assert_gt(greedy_misses, 0, "greedy found the optimum on every model: the test has no power");
}

// Beams narrower than the hypothesis space reorder and drop hypotheses every step: the returned
// tokens must still cost what the search says they cost.
Test(beam, returned_tokens_cost_what_the_search_scored) {
    for (uint64_t seed = 1; seed <= 8; seed++) {
        Tiny m;
        tiny_init(&m, 9, 0.8f, 40 + seed);
        float x[8 * 3];
        tu_fill_normal(x, 24, 1.0f, 200 + seed);
        for (int k = 2; k <= 5; k++) {
            BeamDecoder d;
            BeamResult r;
            cr_assert_eq(beam_init(&d, &m.cfg, &m.t, m.w, k, 10, NULL), TAP_OK);
            cr_assert_eq(beam_decode(&d, x, 8, &r, NULL), TAP_OK);
            double c = teacher_cost(&m, x, 8, r.tokens, r.n, r.finished);
            cr_assert_lt(fabs(c - (double)r.cost), 1e-4 * (1 + fabs(c)),
                         "seed %d beam %d: tokens cost %g, search scored %g", (int)seed, k, c,
                         (double)r.cost);
            beam_free(&d);
        }
        tiny_free(&m);
    }
}

Test(beam, bad_arguments_fail_cleanly) {
    Tiny m;
    tiny_init(&m, 5, 0.1f, 1);
    BeamDecoder d;
    TapError err;
    cr_assert_eq(beam_init(&d, &m.cfg, &m.t, m.w, 0, 10, &err), TAP_ERR_ARG);
    cr_assert_eq(beam_init(&d, &m.cfg, &m.t, m.w, 3, 10, &err), TAP_OK);
    BeamResult r;
    cr_assert_eq(beam_decode(&d, NULL, 0, &r, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    beam_free(&d);
    tiny_free(&m);
}

// Every ranked hypothesis is consistent: sorted by cost per token, each costing what teacher
// forcing says (for an ensemble: the mean over the models of their teacher costs).
static void check_ranked(BeamDecoder *d, Tiny *const *models, int n_models, const float *x, int T) {
    BeamResult r;
    float last = -INFINITY;
    int rank = 0;
    for (; beam_hypothesis(d, rank, &r); rank++) {
        cr_assert_geq(r.norm_cost, last, "rank %d is cheaper per token than rank %d", rank, rank - 1);
        last = r.norm_cost;
        double c = 0;
        for (int i = 0; i < n_models; i++) c += teacher_cost(models[i], x, T, r.tokens, r.n, r.finished);
        c /= n_models;
        cr_assert_lt(fabs(c - (double)r.cost), 1e-4 * (1 + fabs(c)), "rank %d: beam %g teacher %g",
                     rank, (double)r.cost, c);
        cr_assert(fabsf(r.norm_cost - r.cost / (float)(r.n + r.finished)) < 1e-6f * (1 + fabsf(r.cost)));
    }
    cr_assert_gt(rank, 1, "only %d hypotheses ranked", rank);
    cr_assert_eq(beam_hypothesis(d, rank, &r), 0);
    cr_assert_eq(beam_hypothesis(d, -1, &r), 0);
}

Test(beam, an_ensemble_of_one_model_or_of_two_copies_is_that_model_to_the_bit) {
    Tiny m;
    tiny_init(&m, 7, 0.8f, 21);
    float x[11 * 3];
    tu_fill_normal(x, 33, 1.0f, 8);
    const TapConfig *cfgs[2] = {&m.cfg, &m.cfg};
    const ParamTable *tables[2] = {&m.t, &m.t};
    float *ws[2] = {m.w, m.w};
    BeamDecoder one, two;
    cr_assert_eq(beam_init(&one, &m.cfg, &m.t, m.w, 5, 12, NULL), TAP_OK);
    cr_assert_eq(beam_init_ensemble(&two, 2, cfgs, tables, ws, 5, 12, NULL), TAP_OK);
    BeamResult a, b;
    cr_assert_eq(beam_decode(&one, x, 11, &a, NULL), TAP_OK);
    cr_assert_eq(beam_decode(&two, x, 11, &b, NULL), TAP_OK);
    for (int rank = 0;; rank++) {
        int ha = beam_hypothesis(&one, rank, &a), hb = beam_hypothesis(&two, rank, &b);
        cr_assert_eq(ha, hb);
        if (!ha) break;
        cr_assert_eq(a.n, b.n);
        cr_assert_eq(a.finished, b.finished);
        cr_assert(!memcmp(a.tokens, b.tokens, (size_t)a.n * sizeof *a.tokens));
        cr_assert_eq(a.cost, b.cost, "rank %d: %.9g vs %.9g", rank, (double)a.cost, (double)b.cost);
        cr_assert(!memcmp(a.alphas, b.alphas, (size_t)(a.n + a.finished) * a.S * sizeof(float)));
    }
    Tiny *models[1] = {&m};
    check_ranked(&one, models, 1, x, 11);
    beam_free(&one);
    beam_free(&two);
    tiny_free(&m);
}

Test(beam, an_ensemble_scores_by_the_mean_log_probability_of_its_models) {
    Tiny m1, m2;
    tiny_init(&m1, 7, 0.8f, 31);
    tiny_init(&m2, 7, 0.8f, 32);
    m2.cfg.pool[0] = 0; // another pooling: the models see different numbers of annotations
    params_free(&m2.t);
    cr_assert_eq(params_layout(&m2.cfg, &m2.t, NULL), TAP_OK);
    float x[11 * 3];
    tu_fill_normal(x, 33, 1.0f, 9);
    const TapConfig *cfgs[2] = {&m1.cfg, &m2.cfg};
    const ParamTable *tables[2] = {&m1.t, &m2.t};
    float *ws[2] = {m1.w, m2.w};
    BeamDecoder d;
    TapError err = {0};
    cr_assert_eq(beam_init_ensemble(&d, 2, cfgs, tables, ws, 6, 12, &err), TAP_OK, "%s", err.msg);
    BeamResult r;
    cr_assert_eq(beam_decode(&d, x, 11, &r, &err), TAP_OK, "%s", err.msg);
    Tiny *models[2] = {&m1, &m2};
    check_ranked(&d, models, 2, x, 11);
    beam_free(&d);
    // One vocabulary only.
    Tiny m3;
    tiny_init(&m3, 8, 0.8f, 33);
    const TapConfig *bad[2] = {&m1.cfg, &m3.cfg};
    const ParamTable *bt[2] = {&m1.t, &m3.t};
    float *bw[2] = {m1.w, m3.w};
    cr_assert_eq(beam_init_ensemble(&d, 2, bad, bt, bw, 6, 12, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "one vocabulary"), "%s", err.msg);
    cr_assert_eq(beam_init_ensemble(&d, 0, bad, bt, bw, 6, 12, &err), TAP_ERR_ARG);
    tiny_free(&m1);
    tiny_free(&m2);
    tiny_free(&m3);
}

// ---------------------------------------------------------------------------- the pool

#include "beam_pool.h"

typedef struct {
    const float *x;
    int n_items, T;
    int32_t tok[64][40];
    int len[64];
    float cost[64];
} PoolJob;

static void pool_item(void *ctx, BeamDecoder *d, int i) {
    PoolJob *j = ctx;
    BeamResult r;
    cr_assert_eq(beam_decode(d, j->x + (size_t)i * 3, j->T - (i % 5), &r, NULL), TAP_OK);
    j->len[i] = r.n;
    j->cost[i] = r.cost;
    memcpy(j->tok[i], r.tokens, (size_t)r.n * sizeof *r.tokens);
}

Test(beam_pool, threads_decode_every_item_as_one_decoder_does_in_order) {
    Tiny m;
    tiny_init(&m, 9, 1.5f, 77);
    enum { N = 40, T = 12 };
    float *x = malloc((size_t)(N * 3 + T * 3) * sizeof *x);
    tu_fill_normal(x, (size_t)(N * 3 + T * 3), 1.0f, 5);
    static PoolJob seq, par;
    seq = (PoolJob){.x = x, .n_items = N, .T = T};
    par = seq;
    BeamDecoder d;
    cr_assert_eq(beam_init(&d, &m.cfg, &m.t, m.w, 4, 30, NULL), TAP_OK);
    for (int i = 0; i < N; i++) pool_item(&seq, &d, i);
    beam_free(&d);
    BeamSpec spec = {.n_models = 1, .beam = 4, .max_len = 30};
    spec.cfgs[0] = &m.cfg, spec.tables[0] = &m.t, spec.ws[0] = m.w;
    for (int threads = 1; threads <= 3; threads++) {
        memset(par.len, 0, sizeof par.len);
        BeamPool *p;
        TapError err = {0};
        cr_assert_eq(beam_pool_start(&p, &spec, threads, N, pool_item, &par, &err), TAP_OK);
        for (int i = 0; i < N; i++) {
            cr_assert_eq(beam_pool_wait(p, i), 1);
            // once item i is reported done, its result is complete
            cr_assert_eq(par.len[i], seq.len[i], "item %d, %d threads", i, threads);
            cr_assert_eq(par.cost[i], seq.cost[i]);
            cr_assert(!memcmp(par.tok[i], seq.tok[i], (size_t)seq.len[i] * sizeof(int32_t)));
        }
        cr_assert_eq(beam_pool_finish(p, &err), TAP_OK);
    }
    free(x);
    tiny_free(&m);
}

static void slow_item(void *ctx, BeamDecoder *d, int i) {
    (void)d;
    int *ran = ctx;
    __atomic_add_fetch(&ran[i], 1, __ATOMIC_SEQ_CST);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

Test(beam_pool, stop_ends_the_handing_out_and_a_bad_decoder_fails_cleanly) {
    Tiny m;
    tiny_init(&m, 9, 1.5f, 77);
    BeamSpec spec = {.n_models = 1, .beam = 2, .max_len = 10};
    spec.cfgs[0] = &m.cfg, spec.tables[0] = &m.t, spec.ws[0] = m.w;
    static int ran[1000];
    BeamPool *p;
    TapError err = {0};
    cr_assert_eq(beam_pool_start(&p, &spec, 2, 1000, slow_item, ran, &err), TAP_OK);
    cr_assert_eq(beam_pool_wait(p, 3), 1);
    beam_pool_stop(p);
    cr_assert_eq(beam_pool_wait(p, 999), 0, "an item after the stop never runs");
    cr_assert_eq(beam_pool_finish(p, &err), TAP_OK);
    int total = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert(ran[i] <= 1);
        total += ran[i];
    }
    cr_assert(total >= 4 && total < 1000, "%d items ran", total);
    // Every decoder fails to build (beam 0): no item runs, waiting ends, finish says why.
    spec.beam = 0;
    memset(ran, 0, sizeof ran);
    cr_assert_eq(beam_pool_start(&p, &spec, 2, 10, slow_item, ran, &err), TAP_OK);
    cr_assert_eq(beam_pool_wait(p, 0), 0);
    cr_assert_eq(beam_pool_finish(p, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "beam size 0"), "%s", err.msg);
    cr_assert_eq(ran[0], 0);
    cr_assert_eq(beam_pool_start(&p, &spec, 0, 10, slow_item, ran, &err), TAP_ERR_ARG);
    tiny_free(&m);
}
