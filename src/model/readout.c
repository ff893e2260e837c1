// Readout: three affine maps summed, maxout over pairs, affine map to the vocabulary.
// Dims: D decoder hidden, E embedding, C context, V vocabulary, n rows.
#include "readout.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ops.h"
#include "tap.h"

#define RO(m, name) {offsetof(ReadoutGrads, m), name}
static const ParamField RO_FIELDS[] = {
    RO(lstm_W, "ff_logit_lstm_W"), RO(lstm_b, "ff_logit_lstm_b"), RO(prev_W, "ff_logit_prev_W"),
    RO(prev_b, "ff_logit_prev_b"), RO(ctx_W, "ff_logit_ctx_W"),   RO(ctx_b, "ff_logit_ctx_b"),
    RO(logit_W, "ff_logit_W"),     RO(logit_b, "ff_logit_b")};
#undef RO

void readout_grads_bind(ReadoutGrads *g, const ParamTable *t, float *base) {
    params_bind_fields(t, base, g, RO_FIELDS, (int)(sizeof RO_FIELDS / sizeof *RO_FIELDS));
}

// The const view has the grads' layout (pointers to float and to const float are alike).
_Static_assert(sizeof(ReadoutParams) == sizeof(ReadoutGrads), "one layout");

void readout_params_bind(ReadoutParams *p, const ParamTable *t, const float *base) {
    ReadoutGrads v;
    readout_grads_bind(&v, t, (float *)base);
    memcpy(p, &v, sizeof *p);
}

void readout_forward(const ReadoutParams *p, const TapConfig *cfg, const float *h, const float *emb,
                     const float *ctx, int n, float *pre, float *mo, float *logits) {
    const int D = cfg->D, E = cfg->E, C = config_context_dim(cfg), V = cfg->V, E2 = E / 2;
    for (int i = 0; i < n; i++)
        for (int e = 0; e < E; e++)
            pre[(size_t)i * E + e] = p->lstm_b[e] + p->prev_b[e] + p->ctx_b[e];
    mm_nn(n, E, D, h, D, p->lstm_W, E, pre, E, 1.0f);
    mm_nn(n, E, E, emb, E, p->prev_W, E, pre, E, 1.0f);
    mm_nn(n, E, C, ctx, C, p->ctx_W, E, pre, E, 1.0f);
    for (size_t i = 0; i < (size_t)n * E2; i++) {
        float a = pre[2 * i], b = pre[2 * i + 1];
        mo[i] = a >= b ? a : b;
    }
    for (int i = 0; i < n; i++)
        memcpy(logits + (size_t)i * V, p->logit_b, (size_t)V * sizeof *logits);
    mm_nn(n, V, E2, mo, E2, p->logit_W, V, logits, V, 1.0f);
}

void readout_softmax(const float *logits, int n, int V, float *probs) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * V;
        float *p = probs + (size_t)i * V;
        float m = z[0];
        for (int v = 1; v < V; v++) m = z[v] > m ? z[v] : m;
        for (int v = 0; v < V; v++) p[v] = z[v] - m;
        exp_inplace(p, (size_t)V);
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += (double)p[v];
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) p[v] *= inv;
    }
}

size_t readout_backward_floats(const TapConfig *cfg, int n) {
    return (size_t)n * (size_t)cfg->E + (size_t)n * (size_t)(cfg->E / 2);
}

// pre = h·W_lstm + emb·W_prev + ctx·W_ctx + biases, so dpre feeds all three maps alike;
// maxout passes dmo[i] to whichever of pre[2i], pre[2i+1] was selected in forward.
void readout_backward(const ReadoutParams *p, ReadoutGrads *g, const TapConfig *cfg,
                      const float *h, const float *emb, const float *ctx, const float *pre,
                      const float *mo, const float *dlogits, int n, float *work, float *dh,
                      float *demb, float *dctx) {
    const int D = cfg->D, E = cfg->E, C = config_context_dim(cfg), V = cfg->V, E2 = E / 2;
    float *dpre = work;                // (n, E)
    float *dmo = work + (size_t)n * E; // (n, E/2)
    if (g) {
        mm_tn(E2, V, n, mo, E2, dlogits, V, g->logit_W, V, 1.0f);
        sum_rows_add(g->logit_b, dlogits, n, V, V);
    }
    mm_nt(n, E2, V, dlogits, V, p->logit_W, V, dmo, E2, 0.0f);
    for (size_t i = 0; i < (size_t)n * E2; i++) {
        int first = pre[2 * i] >= pre[2 * i + 1];
        dpre[2 * i] = first ? dmo[i] : 0.0f;
        dpre[2 * i + 1] = first ? 0.0f : dmo[i];
    }
    if (g) {
        mm_tn(D, E, n, h, D, dpre, E, g->lstm_W, E, 1.0f);
        mm_tn(E, E, n, emb, E, dpre, E, g->prev_W, E, 1.0f);
        mm_tn(C, E, n, ctx, C, dpre, E, g->ctx_W, E, 1.0f);
        sum_rows_add(g->lstm_b, dpre, n, E, E);
        sum_rows_add(g->prev_b, dpre, n, E, E);
        sum_rows_add(g->ctx_b, dpre, n, E, E);
    }
    if (dh) mm_nt(n, D, E, dpre, E, p->lstm_W, E, dh, D, 1.0f);
    if (demb) mm_nt(n, E, E, dpre, E, p->prev_W, E, demb, E, 1.0f);
    if (dctx) mm_nt(n, C, E, dpre, E, p->ctx_W, E, dctx, C, 1.0f);
}
