// GRU layer over a time-major batch with a float mask, as TAP's gru_layer (v2/nmt.py):
//   [r | u] = sigmoid(h_prev·U + x·W + b)            r, u (B, H)
//   hc      = tanh((h_prev·Ux) ⊙ r + x·Wx + bx)      note: bx sits outside the reset gate
//   h_new   = u ⊙ h_prev + (1 − u) ⊙ hc
//   h       = m ⊙ h_new + (1 − m) ⊙ h_prev            (masked step keeps the state)
// reverse = 1 runs t = T−1 … 0, which equals TAP's encoder_r* (time-flipped input and mask,
// output flipped back): the output at t is the state after reading x[T−1 … t].
// Letters: T steps, B batch, F input features, H units.
#ifndef TAP_MODEL_GRU_H
#define TAP_MODEL_GRU_H

#include <stddef.h>

typedef struct {
    const float *W;  // (F, 2H) [r | u]
    const float *b;  // (2H)
    const float *U;  // (H, 2H)
    const float *Wx; // (F, H)
    const float *bx; // (H)
    const float *Ux; // (H, H)
} GruParams;

// Same shapes; backward ADDS into every non-NULL member.
typedef struct {
    float *W, *b, *U, *Wx, *bx, *Ux;
} GruGrads;

// What forward keeps for backward. hs holds the T outputs plus h0 in one (T+1, B, H) block:
// forward direction hs[0] = h0 and output t at hs[t+1]; reverse direction hs[T] = h0 and
// output t at hs[t]. Either way the previous states of all steps are one contiguous
// (T, B, H) block, so dU and dUx are single GEMMs over all steps.
typedef struct {
    float *hs;    // (T+1, B, H)
    float *gates; // (T, B, 3H) [r | u | hc] after the nonlinearities
    float *uxh;   // (T, B, H)  h_prev·Ux, needed for dr
    float *u_packed, *ux_packed; // U and Ux packed for panel_mm (panel.h), filled by forward
    int T, B, H;
    int reverse;
} GruCache;

size_t gru_cache_floats(int T, int B, int H);
void gru_cache_bind(GruCache *c, float *mem, int T, int B, int H);
// The outputs (T, B, H) inside the cache, at original time order.
const float *gru_output(const GruCache *c);
// Backward scratch: (T, B, 3H) input-projection grads + (T, B, H) for Ux + 2 (B, H) carries
// + Uᵀ and Uxᵀ packed for panel_mm.
size_t gru_scratch_floats(int T, int B, int H);

// x (T, B, F); mask (T, B) or NULL (all ones); h0 (B, H) or NULL (zeros).
// c is bound (per batch) for exactly T, B, H.
void gru_forward(const GruParams *p, const float *x, const float *mask, const float *h0, int T,
                 int B, int F, int H, int reverse, GruCache *c);

// dout (T, B, ·) with row stride ld_dout >= H (so a [fwd | bwd] concatenation's half can be
// passed in place). Adds into g (or NULL), dx (T, B, F) (or NULL) and dh0 (B, H) (or NULL).
// scratch: gru_scratch_floats(T, B, H) floats.
void gru_backward(const GruParams *p, const GruCache *c, const float *x, const float *mask,
                  const float *dout, int ld_dout, int T, int B, int F, int H, float *scratch,
                  GruGrads *g, float *dx, float *dh0);

#endif
