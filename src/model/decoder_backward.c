// Backward of the teacher-forced decoder: the readout over all rows at once, then the steps in
// reverse on the two batch blocks, then every step-wise weight gradient as one GEMM over all
// L·B rows. Dims as decoder.h.
#include <stddef.h>
#include <string.h>

#include "decoder.h"
#include "decoder_blocks.h"
#include "ops.h"
#include "panel.h"
#include "parallel.h"
#include "tap.h"

// The stacked per-step gradients of the backward pass, (L, B, ·) like the cache.
typedef struct {
    DecProj dproj;                     // d x_, d xx_, d yg
    float *dhux, *dpre2, *dhx2, *dpx2; // d(h_prev·Ux), d GRU2 gate pre-activations, d hx2, d cand.
    AttnStepGrad ga;
} StepGrads;

static void step_grads_at(const StepGrads *all, const TapConfig *cfg, int S, int B, int t, int b0,
                          StepGrads *v) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D;
    const size_t r = (size_t)t * B + (size_t)b0; // row b0 of step t
    const int g = cfg->gate;
    v->dproj.x = all->dproj.x + r * 2 * D;
    v->dproj.xx = all->dproj.xx + r * D;
    v->dproj.yg = g ? all->dproj.yg + r * C : NULL;
    v->dhux = all->dhux + r * D;
    v->dpre2 = all->dpre2 + r * 2 * D;
    v->dhx2 = all->dhx2 + r * D;
    v->dpx2 = all->dpx2 + r * D;
    v->ga.dgpre = g ? all->ga.dgpre + r * C : NULL;
    v->ga.dtmpre = g ? all->ga.dtmpre + r * C : NULL;
    v->ga.dpw = g ? all->ga.dpw + r * C : NULL;
    v->ga.da = g ? all->ga.da + r : NULL;
    v->ga.dpstate = all->ga.dpstate + r * C;
    v->ga.de = all->ga.de + r * (size_t)S;
}

// Backward of one decoder_step (without the readout). dh (n, D) is the gradient of st->h,
// dalpha (n, S) of st->a.alpha (coverage carry included), dctx_out (n, C) of st->a.ctx (GRU2's
// own contribution is added here). Writes the step gradients sg; adds into dh_prev,
// dalpha_past, dpctx, dkern and dctx. dh1 (n, D) is scratch.
//   GRU (h = m·(u·h_in + (1-u)·hc) + (1-m)·h_in, hc = tanh(pre_x)):
//   du = m·dh·(h_in - hc);  dhc = m·dh·(1 - u);  d pre_x = dhc·(1 - hc²);  dh_in += (1-m)·dh + m·dh·u
static void step_backward(const DecoderParams *p, const TapConfig *cfg, const AttnContext *cx,
                          const float *h_prev, const float *alpha_past, const float *mask, int n,
                          const DecStep *st, const float *dh, const float *dalpha, float *dctx_out,
                          StepGrads *sg, float *dh1, float *attw, float *dh_prev,
                          float *dalpha_past, float *dpctx, float *dkern, float *dctx,
                          const DecoderPacked *pt) {
    const int D = cfg->D, C = config_context_dim(cfg);
    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *r = st->r2u2 + (size_t)b * 2 * D, *u = r + D;
        float *dpr = sg->dpre2 + (size_t)b * 2 * D, *dpu = dpr + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float dhm = m * dh[i], hc = st->hc2[i];
            float du = dhm * (st->h1[i] - hc);
            dh1[i] = (1.0f - m) * dh[i] + dhm * u[d];
            float dpx = dhm * (1.0f - u[d]) * (1.0f - hc * hc);
            sg->dpx2[i] = dpx;
            sg->dhx2[i] = dpx * r[d];
            float dr = dpx * st->hx2[i];
            dpr[d] = dr * r[d] * (1.0f - r[d]);
            dpu[d] = du * u[d] * (1.0f - u[d]);
        }
    }
    panel_mm_or_blas(n, C, 2 * D, sg->dpre2, 2 * D, pt->Wc, p->Wc, 2 * D, 1, dctx_out, C, 1.0f);
    panel_mm_or_blas(n, C, D, sg->dpx2, D, pt->Wcx, p->Wcx, D, 1, dctx_out, C, 1.0f);
    panel_mm_or_blas(n, D, 2 * D, sg->dpre2, 2 * D, pt->U_nl, p->U_nl, 2 * D, 1, dh1, D, 1.0f);
    panel_mm_or_blas(n, D, D, sg->dhx2, D, pt->Ux_nl, p->Ux_nl, D, 1, dh1, D, 1.0f);

    if (cfg->gate) memset(sg->dproj.yg, 0, (size_t)n * C * sizeof *sg->dproj.yg);
    attention_backward(&p->att, cfg, cx, alpha_past, n, &st->a, dalpha, dctx_out, &sg->ga, attw,
                       dh_prev, sg->dproj.yg, dh1, dalpha_past, dpctx, dkern, dctx);

    for (int b = 0; b < n; b++) {
        const float m = mask ? mask[b] : 1.0f;
        const float *r = st->r1u1 + (size_t)b * 2 * D, *u = r + D;
        float *dpr = sg->dproj.x + (size_t)b * 2 * D, *dpu = dpr + D;
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)b * D + d;
            float dhm = m * dh1[i], hc = st->hc1[i];
            float du = dhm * (h_prev[i] - hc);
            dh_prev[i] += (1.0f - m) * dh1[i] + dhm * u[d];
            float dpx = dhm * (1.0f - u[d]) * (1.0f - hc * hc);
            sg->dproj.xx[i] = dpx;
            sg->dhux[i] = dpx * r[d];
            float dr = dpx * st->hux[i];
            dpr[d] = dr * r[d] * (1.0f - r[d]);
            dpu[d] = du * u[d] * (1.0f - u[d]);
        }
    }
    panel_mm_or_blas(n, D, 2 * D, sg->dproj.x, 2 * D, pt->U, p->U, 2 * D, 1, dh_prev, D, 1.0f);
    panel_mm_or_blas(n, D, D, sg->dhux, D, pt->Ux, p->Ux, D, 1, dh_prev, D, 1.0f);
}

size_t decoder_backward_floats(const TapConfig *cfg, int S, int L, int B) {
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, E = (size_t)cfg->E;
    const size_t R = (size_t)L * B, G = (size_t)gate_dim(cfg), N = (size_t)B;
    size_t f = R * (D + E + C)                          // readout: dh, demb, dctx
               + R * (3 * D + G)                        // dproj
               + R * 5 * D                              // dhux, dpre2, dhx2, dpx2
               + R * C + R * (size_t)S                  // dpstate, de
               + (size_t)S * N * C + (size_t)cfg->K * C // dpctx, dkern
               + N * (4 * D + 3 * (size_t)S + 2 * C)    // step carries and scratch
               + attention_backward_floats(cfg, S, B) + readout_backward_floats(cfg, L * B)
               + (size_t)cfg->K * C + 1 // a second block's dkern and attention scratch
               + decoder_packed_floats(cfg);
    if (cfg->gate) f += R * 3 * C + R; // dgpre, dtmpre, dpw, da
    return f;
}

// One block of rows through all steps, last to first: the carries dh (state) and dap (coverage)
// are the block's rows of (B, ·) buffers; dpctx and dctx columns belong to one block each, and
// dkern is the block's own.
typedef struct {
    const DecoderParams *p;
    const TapConfig *cfg;
    AttnContext cx; // col0 = b0
    const float *y_mask;
    const DecoderCache *c;
    const float *dalphas, *dh_ro, *dctx_ro; // (L, B, S) or NULL, (L, B, D), (L, B, C)
    const StepGrads *all;
    int b0, nb;
    float *dh, *dh_prev, *dh1;      // (nb, D) each
    float *dap, *dap_prev, *dal;    // (nb, S) each
    float *dcs;                     // (nb, C)
    float *attw;                    // attention_backward_floats(cfg, S, nb)
    float *dkern, *dpctx, *dctx;    // (K, C), (S, B, C), (S, B, C) or NULL
    float *dpre0;                   // (nb, D) out: d pre-activation of h0
    const DecoderPacked *pt;        // the step weights packed transposed
} BwdBlock;

static void backward_block(void *arg) {
    const BwdBlock *j = arg;
    const DecoderCache *c = j->c;
    const TapConfig *cfg = j->cfg;
    const size_t C = (size_t)config_context_dim(cfg), D = (size_t)cfg->D, S = (size_t)c->S;
    const size_t nb = (size_t)j->nb;
    float *dh = j->dh, *dh_prev = j->dh_prev, *dap = j->dap, *dap_prev = j->dap_prev;
    memset(dh, 0, nb * D * sizeof *dh);
    memset(dap, 0, nb * S * sizeof *dap);
    for (int t = c->L - 1; t >= 0; t--) {
        const size_t r = (size_t)t * c->B + (size_t)j->b0;
        DecStep st;
        StepGrads sg;
        decoder_cache_step(c, cfg, t, j->b0, &st);
        step_grads_at(j->all, cfg, c->S, c->B, t, j->b0, &sg);
        for (size_t i = 0; i < nb * D; i++) dh[i] += j->dh_ro[r * D + i];
        for (size_t i = 0; i < nb * S; i++)
            j->dal[i] = dap[i] + (j->dalphas ? j->dalphas[r * S + i] : 0.0f);
        memcpy(dap_prev, dap, nb * S * sizeof *dap);
        memcpy(j->dcs, j->dctx_ro + r * C, nb * C * sizeof *j->dcs);
        memset(dh_prev, 0, nb * D * sizeof *dh_prev);
        step_backward(j->p, cfg, &j->cx, c->h + r * D, c->alpha_past + r * S, j->y_mask + r,
                      j->nb, &st, dh, j->dal, j->dcs, &sg, j->dh1, j->attw, dh_prev, dap_prev,
                      j->dpctx, j->dkern, j->dctx, j->pt);
        float *tmp = dh;
        dh = dh_prev;
        dh_prev = tmp;
        tmp = dap;
        dap = dap_prev;
        dap_prev = tmp;
    }
    // dh is now d h0: h0 = tanh(pre0)
    const float *h0 = c->h + (size_t)j->b0 * D;
    for (size_t i = 0; i < nb * D; i++) j->dpre0[i] = dh[i] * (1.0f - h0[i] * h0[i]);
}

// Backward through time. The readout runs once over all L·B rows; then steps L-1..0 pass back
// dh (the state) and d alpha_past (the coverage: alpha_past[t+1] = alpha_past[t] + alpha[t], so
// the carry feeds both alpha[t] and alpha_past[t]). Weight gradients of the step-wise maps are
// formed afterwards by one GEMM each over all L·B rows of the stacked step gradients.
void decoder_backward(const DecoderParams *p, DecoderGrads *g, const TapConfig *cfg,
                      const float *ctx, const float *ctx_mask, const int32_t *y,
                      const float *y_mask, int S, int L, int B, const DecoderCache *c,
                      const float *dlogits, const float *dalphas, float *work, float *dctx) {
    const int C = config_context_dim(cfg), D = cfg->D, E = cfg->E, G = gate_dim(cfg), R = L * B;
    const size_t NB = (size_t)B;
    TAP_ASSERT(c->S == S && c->L == L && c->B == B);
    float *dh_ro = take(&work, (size_t)R * D);   // (L, B, D)
    float *demb = take(&work, (size_t)R * E);    // (L, B, E)
    float *dctx_ro = take(&work, (size_t)R * C); // (L, B, C)
    StepGrads all;
    all.dproj.x = take(&work, (size_t)R * 2 * D);
    all.dproj.xx = take(&work, (size_t)R * D);
    all.dproj.yg = G ? take(&work, (size_t)R * G) : NULL;
    all.dhux = take(&work, (size_t)R * D);
    all.dpre2 = take(&work, (size_t)R * 2 * D);
    all.dhx2 = take(&work, (size_t)R * D);
    all.dpx2 = take(&work, (size_t)R * D);
    all.ga.dgpre = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.dtmpre = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.dpw = G ? take(&work, (size_t)R * C) : NULL;
    all.ga.da = G ? take(&work, (size_t)R) : NULL;
    all.ga.dpstate = take(&work, (size_t)R * C);
    all.ga.de = take(&work, (size_t)R * S);
    float *dpctx = take(&work, (size_t)S * NB * C); // (S, B, C)
    float *dkern = take(&work, (size_t)cfg->K * C); // (K, C)
    float *dh = take(&work, NB * D), *dh_prev = take(&work, NB * D), *dh1 = take(&work, NB * D);
    float *dap = take(&work, NB * S), *dap_prev = take(&work, NB * S), *dal = take(&work, NB * S);
    float *dcs = take(&work, NB * C), *dmean = take(&work, NB * C), *dpre0 = take(&work, NB * D);
    float *attw = take(&work, attention_backward_floats(cfg, S, B) + 1);
    float *dkern2 = take(&work, (size_t)cfg->K * C); // (K, C) the second block's
    float *row = take(&work, readout_backward_floats(cfg, R));
    DecoderPacked pt; // the step weights transposed, packed once for all steps
    decoder_pack(p, cfg, 1, take(&work, decoder_packed_floats(cfg)), &pt);

    memset(dh_ro, 0, (size_t)R * D * sizeof *dh_ro);
    memset(demb, 0, (size_t)R * E * sizeof *demb);
    memset(dctx_ro, 0, (size_t)R * C * sizeof *dctx_ro);
    memset(dpctx, 0, (size_t)S * NB * C * sizeof *dpctx);
    memset(dkern, 0, (size_t)cfg->K * C * sizeof *dkern);

    readout_backward(&p->ro, &g->ro, cfg, c->h + NB * D, c->emb, c->ctxs, c->pre, c->mo, dlogits, R,
                     row, dh_ro, demb, dctx_ro);

    const int blocks = block_count(B);
    BwdBlock job[2];
    for (int k = 0; k < blocks; k++) {
        int b0, nb;
        block_rows(B, blocks, k, &b0, &nb);
        const size_t o = (size_t)b0;
        const AttnContext cx = {ctx, c->pctx, c->kern, ctx_mask, NULL, S, B, b0, NULL, &pt.att};
        job[k] = (BwdBlock){.p = p, .cfg = cfg, .cx = cx, .y_mask = y_mask, .c = c,
                            .dalphas = dalphas, .dh_ro = dh_ro, .dctx_ro = dctx_ro, .all = &all,
                            .b0 = b0, .nb = nb, .dh = dh + o * D, .dh_prev = dh_prev + o * D,
                            .dh1 = dh1 + o * D, .dap = dap + o * S, .dap_prev = dap_prev + o * S,
                            .dal = dal + o * S, .dcs = dcs + o * C, .attw = attw,
                            .dkern = k ? dkern2 : dkern, .dpctx = dpctx, .dctx = dctx,
                            .dpre0 = dpre0 + o * D, .pt = &pt};
        attw += attention_backward_floats(cfg, S, nb);
    }
    if (blocks == 2) {
        memset(dkern2, 0, (size_t)cfg->K * C * sizeof *dkern2);
        parallel_pair(backward_block, &job[0], &job[1], cfg->threads);
        for (size_t i = 0; i < (size_t)cfg->K * C; i++) dkern[i] += dkern2[i];
    } else {
        backward_block(&job[0]);
    }
    // dpre0 is now d(pre-activation of h0); d alpha_past[0] is dropped (a constant zero)

    // step-wise weights, one GEMM each over all L·B rows
    const float *Hp = c->h, *H1 = c->h1, *EMB = c->emb, *CTX = c->ctxs;
    mm_tn(D, 2 * D, R, Hp, D, all.dproj.x, 2 * D, g->U, 2 * D, 1.0f);
    mm_tn(D, D, R, Hp, D, all.dhux, D, g->Ux, D, 1.0f);
    mm_tn(E, 2 * D, R, EMB, E, all.dproj.x, 2 * D, g->W, 2 * D, 1.0f);
    sum_rows_add(g->b, all.dproj.x, R, 2 * D, 2 * D);
    mm_tn(E, D, R, EMB, E, all.dproj.xx, D, g->Wx, D, 1.0f);
    sum_rows_add(g->bx, all.dproj.xx, R, D, D);
    mm_tn(D, 2 * D, R, H1, D, all.dpre2, 2 * D, g->U_nl, 2 * D, 1.0f);
    sum_rows_add(g->b_nl, all.dpre2, R, 2 * D, 2 * D);
    mm_tn(C, 2 * D, R, CTX, C, all.dpre2, 2 * D, g->Wc, 2 * D, 1.0f);
    mm_tn(D, D, R, H1, D, all.dhx2, D, g->Ux_nl, D, 1.0f);
    sum_rows_add(g->bx_nl, all.dhx2, R, D, D);
    mm_tn(C, D, R, CTX, C, all.dpx2, D, g->Wcx, D, 1.0f);
    mm_nt(R, E, 2 * D, all.dproj.x, 2 * D, p->W, 2 * D, demb, E, 1.0f);
    mm_nt(R, E, D, all.dproj.xx, D, p->Wx, D, demb, E, 1.0f);
    if (G) {
        mm_tn(E, G, R, EMB, E, all.dproj.yg, G, g->Wyg, G, 1.0f);
        sum_rows_add(g->byg, all.dproj.yg, R, G, G);
        mm_nt(R, E, G, all.dproj.yg, G, p->Wyg, G, demb, E, 1.0f);
    }
    AttnStep sa = {c->gm, c->tm, c->mt, c->pw, c->beta, c->att, c->alphas, c->ctx_att, c->ctxs};
    attention_backward_weights(&g->att, cfg, S, R, Hp, H1, &sa, &all.ga);

    // embeddings: row t of emb is Wemb[y[t - 1]] (row 0 is the constant zero start)
    for (int t = 1; t < L; t++)
        for (int b = 0; b < B; b++) {
            const float *de = demb + ((size_t)t * B + b) * E;
            float *gw = g->Wemb + (size_t)y[(size_t)(t - 1) * B + b] * E;
            for (int e = 0; e < E; e++) gw[e] += de[e];
        }

    attention_prepare_backward(&p->att, &g->att, cfg, ctx, dpctx, dkern, S, B, dctx);

    // h0 = tanh(ctx_mean·W_ff_state + b), ctx_mean = Σ_s ctx·mask / Σ_s mask
    mm_tn(C, D, B, c->ctx_mean, C, dpre0, D, g->state_W, D, 1.0f);
    sum_rows_add(g->state_b, dpre0, B, D, D);
    if (dctx) {
        mm_nt(B, C, D, dpre0, D, p->state_W, D, dmean, C, 0.0f);
        for (int b = 0; b < B; b++) {
            double N = 0.0;
            for (int s = 0; s < S; s++) N += ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0;
            for (int s = 0; s < S; s++) {
                float w = (float)((ctx_mask ? (double)ctx_mask[(size_t)s * B + b] : 1.0) / N);
                if (w == 0.0f) continue;
                float *dc = dctx + ((size_t)s * B + b) * C;
                for (int k = 0; k < C; k++) dc[k] += w * dmean[(size_t)b * C + k];
            }
        }
    }
}
