// GRU forward and backward (TAP v2 gru_layer). Input projections for all steps are two big
// GEMMs; each step then does h_prev·U and h_prev·Ux, against U and Ux packed once per pass
// (panel.h: sgemm would re-pack them at every step). Backward stores the per-step gradients
// of the input projections and of h_prev·Ux so that dW, dWx, dU, dUx and dx are GEMMs over
// all T steps at once; only dh_prev is sequential.
#include "gru.h"

#include <string.h>

#include "ops.h"
#include "panel.h"
#include "tap.h"

size_t gru_cache_floats(int T, int B, int H) {
    return (size_t)(T + 1) * B * H + (size_t)T * B * 3 * H + (size_t)T * B * H +
           panel_floats(H, 2 * H) + panel_floats(H, H);
}

void gru_cache_bind(GruCache *c, float *mem, int T, int B, int H) {
    c->hs = mem;
    c->gates = c->hs + (size_t)(T + 1) * B * H;
    c->uxh = c->gates + (size_t)T * B * 3 * H;
    c->u_packed = c->uxh + (size_t)T * B * H;
    c->ux_packed = c->u_packed + panel_floats(H, 2 * H);
    c->T = T;
    c->B = B;
    c->H = H;
    c->reverse = 0;
}

const float *gru_output(const GruCache *c) {
    return c->reverse ? c->hs : c->hs + (size_t)c->B * c->H;
}

size_t gru_scratch_floats(int T, int B, int H) {
    return (size_t)T * B * 4 * H + (size_t)2 * B * H + panel_floats(2 * H, H) + panel_floats(H, H);
}

// Index of step t's previous state and output inside hs.
static inline size_t prev_row(int t, int reverse) { return reverse ? (size_t)t + 1 : (size_t)t; }
static inline size_t out_row(int t, int reverse) { return reverse ? (size_t)t : (size_t)t + 1; }

void gru_forward(const GruParams *p, const float *x, const float *mask, const float *h0, int T,
                 int B, int F, int H, int reverse, GruCache *c) {
    TAP_ASSERT(T == c->T && B == c->B && H == c->H);
    c->reverse = reverse;
    const size_t BH = (size_t)B * H, G = 3 * (size_t)H;
    float *hinit = c->hs + (reverse ? (size_t)T * BH : 0); // (B, H)
    if (h0)
        memcpy(hinit, h0, BH * sizeof *hinit);
    else
        memset(hinit, 0, BH * sizeof *hinit);

    // gates (T·B, 3H) = [x·W + b | x·Wx + bx]
    mm_nn(T * B, 2 * H, F, x, F, p->W, 2 * H, c->gates, (int)G, 0.0f);
    mm_nn(T * B, H, F, x, F, p->Wx, H, c->gates + 2 * H, (int)G, 0.0f);
    add_bias_rows(c->gates, T * B, 2 * H, (int)G, p->b);
    add_bias_rows(c->gates + 2 * H, T * B, H, (int)G, p->bx);

    // the recurrent weights, packed once for the T products with B rows each
    panel_pack(H, 2 * H, p->U, 2 * H, 0, c->u_packed);
    panel_pack(H, H, p->Ux, H, 0, c->ux_packed);
    for (int s = 0; s < T; s++) {
        int t = reverse ? T - 1 - s : s;
        const float *hp = c->hs + prev_row(t, reverse) * BH; // (B, H)
        float *ho = c->hs + out_row(t, reverse) * BH;        // (B, H)
        float *gt = c->gates + (size_t)t * B * G;            // (B, 3H)
        float *ux = c->uxh + (size_t)t * BH;                 // (B, H)
        panel_mm(B, 2 * H, H, hp, H, c->u_packed, gt, (int)G, 1.0f);
        panel_mm(B, H, H, hp, H, c->ux_packed, ux, H, 0.0f);
        for (int b = 0; b < B; b++) {
            float *g = gt + (size_t)b * G, *r = g, *u = g + H, *hc = g + 2 * H;
            const float *hpb = hp + (size_t)b * H, *uxb = ux + (size_t)b * H;
            float *hob = ho + (size_t)b * H;
            float m = mask ? mask[(size_t)t * B + b] : 1.0f;
            sigmoid_inplace(g, 2 * (size_t)H);
            for (int j = 0; j < H; j++) hc[j] = uxb[j] * r[j] + hc[j];
            tanh_inplace(hc, (size_t)H);
            for (int j = 0; j < H; j++) {
                float hn = u[j] * hpb[j] + (1.0f - u[j]) * hc[j];
                hob[j] = m * hn + (1.0f - m) * hpb[j];
            }
        }
    }
}

// Backward, per step t with dh = dL/dh_t (output gradient + carry from the following step):
//   dhn = m·dh                        dh_prev  = (1 − m)·dh + u·dhn
//   du  = dhn·(h_prev − hc)           dpx      = dhn·(1 − u)·(1 − hc²)   (px = uxh·r + xx)
//   dr  = dpx·uxh                     duxh     = dpx·r
//   dpre = [dr·r(1−r) | du·u(1−u)]    dh_prev += dpre·Uᵀ + duxh·Uxᵀ
// Stored per step: dproj = [dpre | dpx] (T, B, 3H) and duxh (T, B, H); afterwards
//   dW = xᵀ·dpre, dWx = xᵀ·dpx, db/dbx = column sums, dx = dpre·Wᵀ + dpx·Wxᵀ,
//   dU = Hprevᵀ·dpre, dUx = Hprevᵀ·duxh with Hprev the (T·B, H) block of previous states.
void gru_backward(const GruParams *p, const GruCache *c, const float *x, const float *mask,
                  const float *dout, int ld_dout, int T, int B, int F, int H, float *scratch,
                  GruGrads *g, float *dx, float *dh0) {
    TAP_ASSERT(T == c->T && B == c->B && H == c->H && ld_dout >= H);
    const int reverse = c->reverse;
    const size_t BH = (size_t)B * H, G = 3 * (size_t)H;
    float *dproj = scratch;                  // (T, B, 3H)
    float *duxh = dproj + (size_t)T * B * G; // (T, B, H)
    float *dh = duxh + (size_t)T * BH;       // (B, H) gradient of the current state
    float *dhp = dh + BH;                    // (B, H) gradient of the previous state
    float *ut_packed = dhp + BH;             // Uᵀ (2H, H) packed
    float *uxt_packed = ut_packed + panel_floats(2 * H, H); // Uxᵀ (H, H) packed
    memset(dh, 0, BH * sizeof *dh);
    panel_pack(2 * H, H, p->U, 2 * H, 1, ut_packed);
    panel_pack(H, H, p->Ux, H, 1, uxt_packed);

    for (int s = 0; s < T; s++) {
        int t = reverse ? s : T - 1 - s; // reverse processing order
        const float *hp = c->hs + prev_row(t, reverse) * BH;
        const float *gt = c->gates + (size_t)t * B * G;
        const float *ux = c->uxh + (size_t)t * BH;
        float *dp = dproj + (size_t)t * B * G;
        float *du = duxh + (size_t)t * BH;
        for (int b = 0; b < B; b++) {
            const float *r = gt + (size_t)b * G, *u = r + H, *hc = r + 2 * H;
            const float *hpb = hp + (size_t)b * H, *uxb = ux + (size_t)b * H;
            const float *dob = dout + ((size_t)t * B + b) * (size_t)ld_dout;
            float *dhb = dh + (size_t)b * H, *dhpb = dhp + (size_t)b * H;
            float *dpb = dp + (size_t)b * G, *dub = du + (size_t)b * H;
            float m = mask ? mask[(size_t)t * B + b] : 1.0f;
            for (int j = 0; j < H; j++) {
                float d = dhb[j] + dob[j];
                float dhn = m * d;
                float dpx = dhn * (1.0f - u[j]) * (1.0f - hc[j] * hc[j]);
                float ddu = dhn * (hpb[j] - hc[j]);
                float dr = dpx * uxb[j];
                dpb[j] = dr * r[j] * (1.0f - r[j]);
                dpb[H + j] = ddu * u[j] * (1.0f - u[j]);
                dpb[2 * H + j] = dpx;
                dub[j] = dpx * r[j];
                dhpb[j] = (1.0f - m) * d + u[j] * dhn;
            }
        }
        panel_mm(B, H, 2 * H, dp, (int)G, ut_packed, dhp, H, 1.0f);
        panel_mm(B, H, H, du, H, uxt_packed, dhp, H, 1.0f);
        float *tmp = dh;
        dh = dhp;
        dhp = tmp;
    }
    if (dh0)
        for (size_t i = 0; i < BH; i++) dh0[i] += dh[i];

    const int TB = T * B;
    const float *hprev = c->hs + (reverse ? BH : 0); // (T, B, H) previous states, step order
    if (g) {
        if (g->W) mm_tn(F, 2 * H, TB, x, F, dproj, (int)G, g->W, 2 * H, 1.0f);
        if (g->Wx) mm_tn(F, H, TB, x, F, dproj + 2 * H, (int)G, g->Wx, H, 1.0f);
        if (g->b) sum_rows_add(g->b, dproj, TB, 2 * H, (int)G);
        if (g->bx) sum_rows_add(g->bx, dproj + 2 * H, TB, H, (int)G);
        if (g->U) mm_tn(H, 2 * H, TB, hprev, H, dproj, (int)G, g->U, 2 * H, 1.0f);
        if (g->Ux) mm_tn(H, H, TB, hprev, H, duxh, H, g->Ux, H, 1.0f);
    }
    if (dx) {
        mm_nt(TB, F, 2 * H, dproj, (int)G, p->W, 2 * H, dx, F, 1.0f);
        mm_nt(TB, F, H, dproj + 2 * H, (int)G, p->Wx, H, dx, F, 1.0f);
    }
}
