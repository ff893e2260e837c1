// Beam search over decoder_step, as TAP's gen_sample (v2/translate.py): at each step every live
// hypothesis is extended by every token, the k − dead best candidates by accumulated −log p are
// kept, hypotheses ending in <eol> (id 0) are finished, and the answer is the finished (or, at
// max_len, still live) hypothesis with the lowest cost / length. beam = 1 is greedy decoding.
// All n live hypotheses go through one decoder_step, sharing the expression's context and its
// projection (computed once). Memory comes from one arena that grows only between expressions.
#ifndef TAP_MODEL_BEAM_H
#define TAP_MODEL_BEAM_H

#include <stdint.h>

#include "tap.h"
#include "decoder.h"
#include "encoder.h"

typedef struct {
    int n;            // tokens, without the final <eol>
    int32_t *tokens;  // (n) owned by the BeamDecoder, valid until the next beam_decode
    float cost;       // accumulated −log p of the chosen hypothesis (including <eol> when finished)
    float norm_cost;  // cost / length, the selection criterion
    int finished;     // 1 when the hypothesis ended with <eol> before max_len
    int S;            // annotations (pooled input steps)
    float *alphas;    // (n + finished, S) attention of each emitted token, owned as tokens
} BeamResult;

// One model of the search: its parameter views and its packed step weights.
typedef struct {
    const TapConfig *cfg;
    EncoderParams enc;
    DecoderParams dec;
    float *packed;    // decoder_packed_floats: the step weights packed at init
    DecoderPacked pk; // views into packed
} BeamModel;

#define BEAM_MAX_MODELS 8
// Decoding steps at most: the history is max_len x beam x annotations floats (TAP used 1000).
#define BEAM_MAX_LEN 100000

typedef struct {
    const TapConfig *cfg; // the first model's (its attention is the one reported)
    int n_models;
    BeamModel models[BEAM_MAX_MODELS];
    int beam, max_len;
    TapArena arena;
    int arena_T; // the longest input the arena is sized for
    // The last search's endings, best first (for beam_hypothesis); they live in the arena.
    int n_ends, S;
    void *ends;
    float *ends_norm;
    int32_t *hist_tok, *res_tok;
    int *hist_parent;
    float *hist_alpha, *res_alpha;
} BeamDecoder;

// w: weights laid out by table; they must outlive the decoder and not change while it lives
// (the decoder's step weights are packed here). beam >= 1, max_len >= 1.
int beam_init(BeamDecoder *d, const TapConfig *cfg, const ParamTable *table, float *w, int beam,
              int max_len, TapError *err);
// An ensemble of n_models (1..BEAM_MAX_MODELS) models with one vocabulary: each step scores a
// candidate by the mean of the models' log-probabilities, so all hypotheses share one beam.
// Every model keeps its own encoder output, decoder state and coverage. With one model this is
// beam_init, and the search is the same to the bit.
int beam_init_ensemble(BeamDecoder *d, int n_models, const TapConfig *const *cfgs,
                       const ParamTable *const *tables, float *const *ws, int beam, int max_len,
                       TapError *err);
// x: (T, F) point features of one expression (without TAP's padding row, which is added here).
// out is the best hypothesis (beam_hypothesis rank 0).
int beam_decode(BeamDecoder *d, const float *x, int T, BeamResult *out, TapError *err);
// After beam_decode: the n_ends hypotheses that finished (or were alive at max_len), ranked by
// cost per token. Fills out with the rank-th (0 = best) and returns 1, or 0 when there is no
// such rank. out's arrays are the decoder's and valid until its next call.
int beam_hypothesis(BeamDecoder *d, int rank, BeamResult *out);
void beam_free(BeamDecoder *d);

#endif
