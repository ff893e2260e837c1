// A pool of decoding threads over numbered items, each thread with its own BeamDecoder (the
// weights are shared, read-only). Items are handed out in order; the caller can wait for
// item i while later ones are decoded, so results stream out in input order (tap decode), or
// just finish (validation). One implementation for every caller that decodes many inputs.
#ifndef TAP_MODEL_BEAM_POOL_H
#define TAP_MODEL_BEAM_POOL_H

#include "beam.h"

// The models of the search, as beam_init_ensemble takes them.
typedef struct {
    int n_models;
    const TapConfig *cfgs[BEAM_MAX_MODELS];
    const ParamTable *tables[BEAM_MAX_MODELS];
    float *ws[BEAM_MAX_MODELS];
    int beam, max_len;
} BeamSpec;

// Decodes item i with the worker's decoder d. Runs on a pool thread; it must only write what
// belongs to item i (or lock its own state).
typedef void (*BeamWork)(void *ctx, BeamDecoder *d, int i);

typedef struct BeamPool BeamPool;

// Starts min(threads, n_items) threads (at least one) and returns at once. threads 1..256.
// The calling thread takes no items: it waits, emits or finishes.
int beam_pool_start(BeamPool **pool, const BeamSpec *spec, int threads, int n_items,
                    BeamWork work, void *ctx, TapError *err);
// Blocks until item i has run (returns 1) or will not run (0): the pool was stopped, or no
// decoder could be built (beam_pool_finish says why).
int beam_pool_wait(BeamPool *pool, int i);
// No new items are handed out; running ones finish.
void beam_pool_stop(BeamPool *pool);
// Joins the threads and frees the pool. TAP_OK, or the first decoder set-up failure in err.
int beam_pool_finish(BeamPool *pool, TapError *err);

#endif
