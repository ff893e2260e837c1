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

typedef struct {
    const TapConfig *cfg;
    EncoderParams enc;
    DecoderParams dec;
    float *packed;    // decoder_packed_floats: the step weights packed at init
    DecoderPacked pk; // views into packed
    int beam, max_len;
    TapArena arena;
    int arena_T;      // the longest input the arena is sized for
} BeamDecoder;

// w: weights laid out by table; they must outlive the decoder and not change while it lives
// (the decoder's step weights are packed here). beam >= 1, max_len >= 1.
int beam_init(BeamDecoder *d, const TapConfig *cfg, const ParamTable *table, float *w, int beam,
              int max_len, TapError *err);
// x: (T, F) point features of one expression (without TAP's padding row, which is added here).
int beam_decode(BeamDecoder *d, const float *x, int T, BeamResult *out, TapError *err);
void beam_free(BeamDecoder *d);

#endif
