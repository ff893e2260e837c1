// TAP's encoder (v2/nmt.py build_model): a stack of bidirectional GRU layers over the point
// features. Layer l runs encoder<l> forward and encoder_r<l> on the time-reversed input and
// mask, concatenates [fwd | bwd] to 2·H[l], and when pool[l] = 1 keeps steps 0, 2, 4, …
// (h[0::2]) of the concatenation and of the mask. The last layer's output is the annotation
// sequence ctx (S, B, C) with its mask ctx_mask (S, B), C = 2·H[last].
// Letters: T input steps, S annotations, B batch, F features, H units per direction.
#ifndef TAP_MODEL_ENCODER_H
#define TAP_MODEL_ENCODER_H

#include <stddef.h>

#include "config.h"
#include "gru.h"
#include "params.h"

// Views of the encoder weights (or gradients) inside a role array, bound once by TAP name.
typedef struct {
    GruParams fwd[TAP_MAX_LAYERS]; // encoder<l>_*
    GruParams rev[TAP_MAX_LAYERS]; // encoder_r<l>_*
} EncoderParams;

typedef struct {
    GruGrads fwd[TAP_MAX_LAYERS];
    GruGrads rev[TAP_MAX_LAYERS];
} EncoderGrads;

// Every *_params_bind takes (view, table, role array, config), as decoder_params_bind does.
void encoder_params_bind(EncoderParams *p, const ParamTable *t, const float *w, const TapConfig *c);
void encoder_grads_bind(EncoderGrads *g, const ParamTable *t, float *grad, const TapConfig *c);

// Activations of one batch, bound per batch from a caller buffer of encoder_floats(c, T, B).
typedef struct {
    int n_layers, T, B, S, C;
    int threads; // TapConfig.threads at bind time: >= 2 runs the two directions concurrently
    int Tl[TAP_MAX_LAYERS + 1]; // steps entering layer l; Tl[n_layers] = S
    int Fl[TAP_MAX_LAYERS];     // input width of layer l (F, then 2·H[l−1])
    int H[TAP_MAX_LAYERS], pool[TAP_MAX_LAYERS];
    GruCache fwd[TAP_MAX_LAYERS], rev[TAP_MAX_LAYERS];
    float *cat[TAP_MAX_LAYERS];            // (Tl[l], B, 2H) [fwd | bwd]
    float *out[TAP_MAX_LAYERS];            // (Tl[l+1], B, 2H) pooled cat, or cat itself
    float *pmask[TAP_MAX_LAYERS + 1];      // (Tl[l], B) pooled masks for l >= 1 (storage)
    const float *mask[TAP_MAX_LAYERS + 1]; // mask entering layer l; NULL = all ones
    const float *ctx;                      // (S, B, C) = out[last]
    const float *ctx_mask;                 // (S, B) or NULL when forward got no mask
} EncoderState;

size_t encoder_floats(const TapConfig *c, int T, int B);
void encoder_bind(EncoderState *s, const TapConfig *c, float *mem, int T, int B);
// Backward scratch for encoder_backward: a GRU scratch and an input-gradient buffer per
// direction (the directions may run concurrently, so they share no writable memory).
size_t encoder_scratch_floats(const TapConfig *c, int T, int B);

// x (T, B, F), x_mask (T, B) or NULL. Fills s (bound for this T, B); s->ctx, s->ctx_mask.
// x_mask must stay alive until backward (it is the first layer's mask).
void encoder_forward(const EncoderParams *p, const float *x, const float *x_mask, EncoderState *s);

// dctx (S, B, C). Adds into g (NULL: no weight gradients) and dx (T, B, F) (or NULL).
// scratch: encoder_scratch_floats(c, T, B) floats. Each layer's input gradient is the forward
// direction's plus the reverse direction's, summed in that order after both finish, so the
// result does not depend on s->threads.
void encoder_backward(const EncoderParams *p, const EncoderState *s, const float *x,
                      const float *dctx, float *scratch, EncoderGrads *g, float *dx);

#endif
