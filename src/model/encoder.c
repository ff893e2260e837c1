// Bidirectional pooled GRU encoder (TAP v2 build_model's encoder loop), forward and backward.
// Pooling h[0::2] is a copy of even steps; its backward scatters the gradient to even steps
// and leaves odd steps at zero.
#include "encoder.h"

#include <stdio.h>
#include <string.h>

#include "tap.h"

static void bind_gru(const ParamTable *t, float *base, const char *prefix, float **W, float **b,
                     float **U, float **Wx, float **bx, float **Ux) {
    char name[64];
    snprintf(name, sizeof name, "%s_W", prefix);
    *W = params_bind(t, base, name);
    snprintf(name, sizeof name, "%s_b", prefix);
    *b = params_bind(t, base, name);
    snprintf(name, sizeof name, "%s_U", prefix);
    *U = params_bind(t, base, name);
    snprintf(name, sizeof name, "%s_Wx", prefix);
    *Wx = params_bind(t, base, name);
    snprintf(name, sizeof name, "%s_bx", prefix);
    *bx = params_bind(t, base, name);
    snprintf(name, sizeof name, "%s_Ux", prefix);
    *Ux = params_bind(t, base, name);
}

void encoder_grads_bind(EncoderGrads *g, const TapConfig *c, const ParamTable *t, float *grad) {
    memset(g, 0, sizeof *g);
    for (int l = 0; l < c->n_layers; l++) {
        char pf[32], pr[32];
        snprintf(pf, sizeof pf, "encoder%d", l);
        snprintf(pr, sizeof pr, "encoder_r%d", l);
        GruGrads *f = &g->fwd[l], *r = &g->rev[l];
        bind_gru(t, grad, pf, &f->W, &f->b, &f->U, &f->Wx, &f->bx, &f->Ux);
        bind_gru(t, grad, pr, &r->W, &r->b, &r->U, &r->Wx, &r->bx, &r->Ux);
    }
}

void encoder_params_bind(EncoderParams *p, const TapConfig *c, const ParamTable *t,
                         const float *w) {
    // Same walk as the gradients; the weights are only read through the const views.
    EncoderGrads v;
    encoder_grads_bind(&v, c, t, (float *)w);
    memset(p, 0, sizeof *p);
    for (int l = 0; l < c->n_layers; l++) {
        const GruGrads *f = &v.fwd[l], *r = &v.rev[l];
        p->fwd[l] = (GruParams){f->W, f->b, f->U, f->Wx, f->bx, f->Ux};
        p->rev[l] = (GruParams){r->W, r->b, r->U, r->Wx, r->bx, r->Ux};
    }
}

// Fills the per-layer dims; returns total floats and binds when mem != NULL.
static size_t layout(EncoderState *s, const TapConfig *c, float *mem, int T, int B) {
    memset(s, 0, sizeof *s);
    s->n_layers = c->n_layers;
    s->T = T;
    s->B = B;
    s->C = config_context_dim(c);
    size_t n = 0;
    int Tl = T, Fl = c->F;
    for (int l = 0; l < c->n_layers; l++) {
        int H = c->H[l];
        s->Tl[l] = Tl;
        s->Fl[l] = Fl;
        s->H[l] = H;
        s->pool[l] = c->pool[l];
        size_t gc = gru_cache_floats(Tl, B, H);
        if (mem) gru_cache_bind(&s->fwd[l], mem + n, Tl, B, H);
        n += gc;
        if (mem) gru_cache_bind(&s->rev[l], mem + n, Tl, B, H);
        n += gc;
        if (mem) s->cat[l] = mem + n;
        n += (size_t)Tl * B * 2 * H;
        int Tn = c->pool[l] ? (Tl + 1) / 2 : Tl;
        if (c->pool[l]) {
            if (mem) s->out[l] = mem + n;
            n += (size_t)Tn * B * 2 * H;
            if (mem) s->pmask[l + 1] = mem + n;
            n += (size_t)Tn * B;
        } else if (mem) {
            s->out[l] = s->cat[l];
        }
        Tl = Tn;
        Fl = 2 * H;
    }
    s->Tl[c->n_layers] = Tl;
    s->S = Tl;
    return n;
}

size_t encoder_floats(const TapConfig *c, int T, int B) {
    EncoderState s;
    return layout(&s, c, NULL, T, B);
}

void encoder_bind(EncoderState *s, const TapConfig *c, float *mem, int T, int B) {
    layout(s, c, mem, T, B);
}

size_t encoder_scratch_floats(const TapConfig *c, int T, int B) {
    size_t gru = 0, wide = 0;
    int Tl = T;
    for (int l = 0; l < c->n_layers; l++) {
        size_t g = gru_scratch_floats(Tl, B, c->H[l]);
        size_t w = (size_t)Tl * B * 2 * c->H[l]; // dcat of this layer and dx of the next
        if (g > gru) gru = g;
        if (w > wide) wide = w;
        if (c->pool[l]) Tl = (Tl + 1) / 2;
    }
    return gru + 3 * wide;
}

void encoder_forward(const EncoderParams *p, const float *x, const float *x_mask, EncoderState *s) {
    const int B = s->B;
    const float *in = x; // (Tl, B, Fl)
    s->mask[0] = x_mask;
    for (int l = 0; l < s->n_layers; l++) {
        const int Tl = s->Tl[l], H = s->H[l], Fl = s->Fl[l];
        const float *m = s->mask[l];
        gru_forward(&p->fwd[l], in, m, NULL, Tl, B, Fl, H, 0, &s->fwd[l]);
        gru_forward(&p->rev[l], in, m, NULL, Tl, B, Fl, H, 1, &s->rev[l]);
        const float *hf = gru_output(&s->fwd[l]), *hr = gru_output(&s->rev[l]); // (Tl, B, H)
        float *cat = s->cat[l];
        for (size_t i = 0; i < (size_t)Tl * B; i++) {
            memcpy(cat + i * 2 * H, hf + i * H, (size_t)H * sizeof *cat);
            memcpy(cat + i * 2 * H + H, hr + i * H, (size_t)H * sizeof *cat);
        }
        if (s->pool[l]) {
            const int Tn = s->Tl[l + 1];
            const size_t row = (size_t)B * 2 * H;
            for (int t = 0; t < Tn; t++)
                memcpy(s->out[l] + (size_t)t * row, cat + (size_t)2 * t * row, row * sizeof *cat);
            if (m) {
                for (int t = 0; t < Tn; t++)
                    memcpy(s->pmask[l + 1] + (size_t)t * B, m + (size_t)2 * t * B,
                           (size_t)B * sizeof *m);
                s->mask[l + 1] = s->pmask[l + 1];
            } else {
                s->mask[l + 1] = NULL;
            }
        } else {
            s->mask[l + 1] = m;
        }
        in = s->out[l];
    }
    s->ctx = s->out[s->n_layers - 1];
    s->ctx_mask = s->mask[s->n_layers];
}

// Backward, layer by layer from the top: dout (gradient of the layer output) → dcat (scatter to
// even steps when pooled) → both GRUs' backward, which add into din, the next layer down's dout.
void encoder_backward(const EncoderParams *p, const EncoderState *s, const float *x,
                      const float *dctx, float *scratch, EncoderGrads *g, float *dx) {
    const int B = s->B;
    size_t gru = 0, wide = 0;
    for (int l = 0; l < s->n_layers; l++) {
        size_t gs = gru_scratch_floats(s->Tl[l], B, s->H[l]);
        size_t w = (size_t)s->Tl[l] * B * 2 * s->H[l];
        if (gs > gru) gru = gs;
        if (w > wide) wide = w;
    }
    float *gs = scratch;                                     // GRU backward scratch
    float *dcat_buf = gs + gru;                              // (Tl, B, 2H)
    float *ping[2] = {dcat_buf + wide, dcat_buf + 2 * wide}; // (Tl, B, Fl) input gradients
    const float *dout = dctx;
    for (int l = s->n_layers - 1; l >= 0; l--) {
        const int Tl = s->Tl[l], H = s->H[l], Fl = s->Fl[l];
        const float *dcat = dout; // (Tl, B, 2H)
        if (s->pool[l]) {
            const size_t row = (size_t)B * 2 * H;
            memset(dcat_buf, 0, (size_t)Tl * row * sizeof *dcat_buf);
            for (int t = 0; t < s->Tl[l + 1]; t++)
                memcpy(dcat_buf + (size_t)2 * t * row, dout + (size_t)t * row,
                       row * sizeof *dcat_buf);
            dcat = dcat_buf;
        }
        float *din = NULL;
        if (l > 0) {
            din = ping[l & 1];
            memset(din, 0, (size_t)Tl * B * Fl * sizeof *din);
        } else {
            din = dx;
        }
        if (l > 0 || dx || g) {
            const float *in = l == 0 ? x : s->out[l - 1];
            gru_backward(&p->fwd[l], &s->fwd[l], in, s->mask[l], dcat, 2 * H, Tl, B, Fl, H, gs,
                         g ? &g->fwd[l] : NULL, din, NULL);
            gru_backward(&p->rev[l], &s->rev[l], in, s->mask[l], dcat + H, 2 * H, Tl, B, Fl, H, gs,
                         g ? &g->rev[l] : NULL, din, NULL);
        }
        dout = din;
    }
}
