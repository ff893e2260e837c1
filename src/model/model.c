// Whole-model glue: binds the layer views once, carves each batch's buffers from the arena,
// and chains encoder → decoder → loss forward and loss → decoder → encoder backward.
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "rng.h"
#include "tap.h"

// Every arena_alloc may round up to a 64-byte boundary.
#define MODEL_ALIGN_SLACK 16

typedef struct {
    size_t es, dc, pool, dctx, bwd;
} Sizes;

// Backward scratch is one region: the decoder's (work, dlogits, dalphas) and then the encoder's
// scratch reuse the same floats, since they are never live together.
static Sizes sizes_of(const TapConfig *c, int T, int L, int B) {
    const int S = config_pooled_len(c, T), C = config_context_dim(c);
    Sizes z;
    z.es = encoder_floats(c, T, B);
    z.dc = decoder_cache_floats(c, S, L, B);
    z.pool = (size_t)S * B * L;
    z.dctx = (size_t)S * B * C;
    size_t dec = decoder_backward_floats(c, S, L, B) + (size_t)L * B * c->V + (size_t)L * B * S +
                 3 * MODEL_ALIGN_SLACK;
    size_t enc = encoder_scratch_floats(c, T, B);
    z.bwd = dec > enc ? dec : enc;
    return z;
}

size_t model_arena_floats(const TapConfig *cfg, int T, int L, int B) {
    Sizes z = sizes_of(cfg, T, L, B);
    return z.es + z.dc + 2 * z.pool + z.dctx + z.bwd + 8 * MODEL_ALIGN_SLACK;
}

int model_init(TapModel *m, const TapConfig *cfg, int max_T, int max_L, int max_B, uint64_t seed,
               TapError *err) {
    memset(m, 0, sizeof *m);
    if (max_T < 1 || max_L < 1 || max_B < 1)
        return tap_error_set(err, TAP_ERR_ARG, "model limits T=%d L=%d B=%d must be positive",
                             max_T, max_L, max_B);
    int rc = params_layout(cfg, &m->table, err);
    if (rc) return rc;
    m->cfg = *cfg;
    m->max_T = max_T;
    m->max_L = max_L;
    m->max_B = max_B;
    m->w = malloc(m->table.n * sizeof *m->w);
    m->g = calloc(m->table.n, sizeof *m->g);
    m->cost = calloc((size_t)max_B, sizeof *m->cost);
    m->nll = calloc((size_t)max_B, sizeof *m->nll);
    m->dcost = calloc((size_t)max_B, sizeof *m->dcost);
    if (!m->w || !m->g || !m->cost || !m->nll || !m->dcost ||
        arena_init(&m->arena, model_arena_floats(cfg, max_T, max_L, max_B)) != TAP_OK) {
        model_free(m);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for the model (T=%d L=%d B=%d)",
                             max_T, max_L, max_B);
    }
    TapRng rng;
    rng_seed(&rng, seed);
    params_init(&m->table, m->w, &rng);
    encoder_params_bind(&m->enc, &m->table, m->w, &m->cfg);
    encoder_grads_bind(&m->enc_g, &m->table, m->g, &m->cfg);
    decoder_params_bind(&m->dec, &m->table, m->w, &m->cfg);
    decoder_grads_bind(&m->dec_g, &m->table, m->g, &m->cfg);
    return TAP_OK;
}

void model_free(TapModel *m) {
    free(m->w);
    free(m->g);
    free(m->cost);
    free(m->nll);
    free(m->dcost);
    arena_free(&m->arena);
    params_free(&m->table);
    memset(m, 0, sizeof *m);
}

size_t model_memory_bytes(const TapModel *m) {
    return (2 * m->table.n + m->arena.cap) * sizeof(float) +
           (size_t)m->max_B * (sizeof(double) + sizeof(float));
}

static int check_batch(const TapModel *m, const ModelBatch *b, TapError *err) {
    if (b->T < 1 || b->L < 1 || b->B < 1 || b->T > m->max_T || b->L > m->max_L || b->B > m->max_B)
        return tap_error_set(err, TAP_ERR_ARG,
                             "batch T=%d L=%d B=%d outside the model's limits T<=%d L<=%d B<=%d",
                             b->T, b->L, b->B, m->max_T, m->max_L, m->max_B);
    if (!b->x || !b->x_mask || !b->y || !b->y_mask || (b->a && !b->a_mask))
        return tap_error_set(err, TAP_ERR_ARG, "batch is missing an array");
    for (int i = 0; i < b->B; i++) {
        int frames = 0;
        for (int t = 0; t < b->T; t++) frames += b->x_mask[(size_t)t * b->B + i] > 0.0f;
        if (!frames)
            return tap_error_set(err, TAP_ERR_ARG, "batch sequence %d has no valid frame", i);
    }
    for (size_t i = 0; i < (size_t)b->L * b->B; i++)
        if (b->y[i] < 0 || b->y[i] >= m->cfg.V)
            return tap_error_set(err, TAP_ERR_ARG,
                                 "batch token %d at (t=%zu, b=%zu) outside [0, %d)", b->y[i],
                                 i / (size_t)b->B, i % (size_t)b->B, m->cfg.V);
    return TAP_OK;
}

int model_loss(TapModel *m, const ModelBatch *b, double *cost_per_seq, double *mean_cost,
               TapError *err) {
    m->have_forward = 0;
    int rc = check_batch(m, b, err);
    if (rc) return rc;
    const TapConfig *c = &m->cfg;
    const int T = b->T, L = b->L, B = b->B, S = config_pooled_len(c, T);
    Sizes z = sizes_of(c, T, L, B);
    arena_reset(&m->arena);
    float *es_mem = arena_alloc(&m->arena, z.es);
    float *dc_mem = arena_alloc(&m->arena, z.dc);
    m->a_pool = arena_alloc(&m->arena, z.pool);
    m->mask_pool = arena_alloc(&m->arena, z.pool);
    m->dctx = arena_alloc(&m->arena, z.dctx);
    m->bwd = arena_alloc(&m->arena, z.bwd);
    // The arena was sized for the limits and every size grows with T, L and B.
    TAP_ASSERT(es_mem && dc_mem && m->a_pool && m->mask_pool && m->dctx && m->bwd);
    m->batch = *b;
    m->S = S;
    encoder_bind(&m->es, c, es_mem, T, B);
    encoder_forward(&m->enc, b->x, b->x_mask, &m->es);
    decoder_cache_bind(&m->dc, dc_mem, c, S, L, B);
    decoder_forward(&m->dec, c, m->es.ctx, m->es.ctx_mask, b->y, b->y_mask, S, L, B, &m->dc);
    if (b->a) loss_align_pool(c, b->a, b->a_mask, T, B, L, m->a_pool, m->mask_pool);
    loss_forward(c, m->dc.logits, b->y, b->y_mask, m->dc.alphas, b->a ? m->a_pool : NULL,
                 m->mask_pool, L, B, S, m->cost, m->nll, NULL);
    double sum = 0.0;
    for (int i = 0; i < B; i++) sum += m->cost[i];
    if (cost_per_seq) memcpy(cost_per_seq, m->cost, (size_t)B * sizeof *cost_per_seq);
    *mean_cost = sum / B;
    if (!isfinite(*mean_cost))
        return tap_error_set(err, TAP_ERR_NUMERIC, "cost is not finite (%g)", *mean_cost);
    m->have_forward = 1;
    return TAP_OK;
}

void model_backward(TapModel *m) {
    TAP_ASSERT(m->have_forward);
    const TapConfig *c = &m->cfg;
    const ModelBatch *b = &m->batch;
    const int L = b->L, B = b->B, S = m->S;
    memset(m->g, 0, m->table.n * sizeof *m->g);
    // Decoder phase of the shared backward region: dlogits, dalphas, then the decoder's work.
    TapArena r = {.base = m->bwd, .cap = sizes_of(c, b->T, L, B).bwd};
    float *dlogits = arena_calloc(&r, (size_t)L * B * c->V); // (L, B, V)
    float *dalphas = arena_calloc(&r, (size_t)L * B * S);    // (L, B, S)
    float *work = arena_alloc(&r, decoder_backward_floats(c, S, L, B));
    TAP_ASSERT(dlogits && dalphas && work);
    // d mean / d cost[b] = 1/B
    for (int i = 0; i < B; i++) m->dcost[i] = 1.0f / (float)B;
    loss_backward(c, m->dc.logits, b->y, b->y_mask, m->dc.alphas, b->a ? m->a_pool : NULL,
                  m->mask_pool, m->dcost, L, B, S, dlogits, b->a ? dalphas : NULL);
    memset(m->dctx, 0, (size_t)S * B * config_context_dim(c) * sizeof *m->dctx);
    decoder_backward(&m->dec, &m->dec_g, c, m->es.ctx, m->es.ctx_mask, b->y, b->y_mask, S, L, B,
                     &m->dc, dlogits, b->a ? dalphas : NULL, work, m->dctx);
    // Encoder phase: the decoder's scratch is dead now.
    encoder_backward(&m->enc, &m->es, b->x, m->dctx, m->bwd, &m->enc_g, NULL);
}

