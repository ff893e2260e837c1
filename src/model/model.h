// The whole TAP v2 model (v2/nmt.py build_model): encoder (encoder.h) → decoder with coverage
// attention and the "when to attend" gate (decoder.h) → readout → TAP's objective (loss.h):
//   cost[b] = Σ_t y_mask·NLL(y[t,b]) + gamma·Σ attention-guidance CE(a, alphas),  mean over b.
// A TapModel owns the config, the parameter table, the weights w and their gradient g (one flat
// array each, indexed by the table), and one activation arena sized at init for the largest
// batch allowed; each batch binds its buffers from it (nothing is allocated per step).
// Letters: T input steps, S annotations, B batch, F features, L target steps, V vocabulary.
#ifndef TAP_MODEL_MODEL_H
#define TAP_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "decoder.h"
#include "encoder.h"
#include "params.h"

// One padded batch as TAP's prepare_data builds it (time-major, float masks).
typedef struct {
    int T, L, B;
    const float *x;      // (T, B, F) point features; x_mask covers len+1 frames
    const float *x_mask; // (T, B)
    const int32_t *y;    // (L, B) token ids in [0, V), <eol> = 0 at position len
    const float *y_mask; // (L, B) covers len+1 tokens
    const float *a;      // (T, B, L) stroke alignment, or NULL: no attention-guidance term
    const float *a_mask; // (T, B, L) (with a)
} ModelBatch;

typedef struct {
    TapConfig cfg;
    ParamTable table;
    float *w; // (n) weights the forward pass reads (weight noise: the trainer writes its sample here)
    float *g; // (n) gradient of the batch-mean cost, filled by model_backward
    int max_T, max_L, max_B;
    TapArena arena; // activations and scratch of one batch
    EncoderParams enc;
    EncoderGrads enc_g;
    DecoderParams dec;
    DecoderGrads dec_g;
    // the batch of the last model_loss (kept for model_backward)
    ModelBatch batch;
    int S, have_forward;
    EncoderState es;
    DecoderCache dc;
    float *a_pool, *mask_pool; // (S, B, L)
    float *bwd;                // backward scratch, bound by model_backward
    float *dctx;               // (S, B, C)
    double *cost;              // (max_B) per-sequence costs of the last batch
    double *nll;               // (max_B) their label NLL parts (the cost without guidance)
    float *dcost;              // (max_B) d mean / d cost = 1/B
} TapModel;

// Floats of the activation arena for batches up to (T, L, B) (alignment slack included).
size_t model_arena_floats(const TapConfig *cfg, int T, int L, int B);

// Builds the table, allocates w, g and the arena, and initialises w with TAP's initialisers
// from a TapRng seeded with `seed`. TAP_OK, or TAP_ERR_ARG (bad config or limits) / NOMEM.
struct TapError;
int model_init(TapModel *m, const TapConfig *cfg, int max_T, int max_L, int max_B, uint64_t seed,
               struct TapError *err);
void model_free(TapModel *m);
// Bytes held by the model: weights, gradients and the arena.
size_t model_memory_bytes(const TapModel *m);

// Forward pass and cost. cost_per_seq (B) may be NULL (m->cost and m->nll, the label NLL part
// without the guidance term, always get them); *mean_cost gets the batch mean (TAP's
// training objective). TAP_ERR_ARG when the batch exceeds the limits or is malformed (a token
// id outside [0, V), a sequence without any valid frame); err says which.
int model_loss(TapModel *m, const ModelBatch *b, double *cost_per_seq, double *mean_cost,
               struct TapError *err);
// Gradient of the mean cost of the last model_loss batch into m->g (zeroed first).
void model_backward(TapModel *m);

#endif
