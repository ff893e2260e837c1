// Bidirectional pooled GRU encoder (TAP v2 build_model's encoder loop), forward and backward.
// Pooling h[0::2] is a copy of even steps; its backward scatters the gradient to even steps
// and leaves odd steps at zero.
#include "encoder.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "parallel.h"
#include "tap.h"

// One GRU's tensors, "<prefix>_W" ...; GruParams and GruGrads list the same six members.
#define GRU_FIELDS(View)                                                                        \
    {{offsetof(View, W), "_W"},   {offsetof(View, b), "_b"},   {offsetof(View, U), "_U"},      \
     {offsetof(View, Wx), "_Wx"}, {offsetof(View, bx), "_bx"}, {offsetof(View, Ux), "_Ux"}}
static const ParamField GRU_PARAM_FIELDS[] = GRU_FIELDS(GruParams);
static const ParamField GRU_GRAD_FIELDS[] = GRU_FIELDS(GruGrads);
#undef GRU_FIELDS
enum { GRU_N_FIELDS = (int)(sizeof GRU_PARAM_FIELDS / sizeof *GRU_PARAM_FIELDS) };

// Binds fwd[l] to encoder<l>_* and rev[l] to encoder_r<l>_* for every layer.
static void bind_layers(const ParamTable *t, float *base, const TapConfig *c, void *fwd, void *rev,
                        size_t stride, const ParamField *fields) {
    for (int l = 0; l < c->n_layers; l++) {
        char pf[32], pr[32];
        snprintf(pf, sizeof pf, "encoder%d", l);
        snprintf(pr, sizeof pr, "encoder_r%d", l);
        params_bind_fields_prefixed(t, base, pf, (char *)fwd + l * stride, fields, GRU_N_FIELDS);
        params_bind_fields_prefixed(t, base, pr, (char *)rev + l * stride, fields, GRU_N_FIELDS);
    }
}

void encoder_grads_bind(EncoderGrads *g, const ParamTable *t, float *grad, const TapConfig *c) {
    memset(g, 0, sizeof *g);
    bind_layers(t, grad, c, g->fwd, g->rev, sizeof g->fwd[0], GRU_GRAD_FIELDS);
}

void encoder_params_bind(EncoderParams *p, const ParamTable *t, const float *w,
                         const TapConfig *c) {
    // The weights are only read, through the views' const members.
    memset(p, 0, sizeof *p);
    bind_layers(t, (float *)w, c, p->fwd, p->rev, sizeof p->fwd[0], GRU_PARAM_FIELDS);
}

// Fills the per-layer dims; returns total floats and binds when mem != NULL.
static size_t layout(EncoderState *s, const TapConfig *c, float *mem, int T, int B) {
    memset(s, 0, sizeof *s);
    s->n_layers = c->n_layers;
    s->T = T;
    s->B = B;
    s->C = config_context_dim(c);
    s->threads = c->threads;
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

// Largest GRU scratch and largest (Tl, B, ·) gradient buffer over the layers of a bound (or
// laid out) state; the buffer holds a layer's dcat (2H wide) or its input gradient (Fl wide).
static void scratch_sizes(const EncoderState *s, size_t *gru, size_t *wide) {
    *gru = *wide = 0;
    for (int l = 0; l < s->n_layers; l++) {
        const int Tl = s->Tl[l], H = s->H[l], Fl = s->Fl[l];
        size_t g = gru_scratch_floats(Tl, s->B, H);
        size_t w = (size_t)Tl * s->B * (size_t)(Fl > 2 * H ? Fl : 2 * H);
        if (g > *gru) *gru = g;
        if (w > *wide) *wide = w;
    }
}

size_t encoder_scratch_floats(const TapConfig *c, int T, int B) {
    EncoderState s;
    layout(&s, c, NULL, T, B);
    size_t gru, wide;
    scratch_sizes(&s, &gru, &wide);
    return 2 * gru + 4 * wide;
}

// ---------------------------------------------------------------------------- two directions
// One direction of one layer, forward or backward. The two jobs of a layer write disjoint
// memory (own cache, own half of cat, own gradients, own scratch and input gradient).
typedef struct {
    const GruParams *p;
    GruCache *cache;        // forward fills it
    const GruCache *kept;   // backward reads it
    const float *in, *mask; // (Tl, B, Fl), (Tl, B) or NULL
    int T, B, F, H, reverse;
    float *cat;             // forward: (Tl, B, 2H) with this direction's half at column `half`
    int half;
    const float *dout;      // backward: (Tl, B, 2H) dcat, this direction's half at column `half`
    float *scratch;         // gru_scratch_floats
    GruGrads *g;            // or NULL
    float *dx;              // (Tl, B, Fl) zeroed, or NULL
    int backward;
} DirJob;

static void dir_run(void *arg) {
    const DirJob *j = arg;
    if (j->backward) {
        gru_backward(j->p, j->kept, j->in, j->mask, j->dout + j->half, 2 * j->H, j->T, j->B,
                     j->F, j->H, j->scratch, j->g, j->dx, NULL);
        return;
    }
    gru_forward(j->p, j->in, j->mask, NULL, j->T, j->B, j->F, j->H, j->reverse, j->cache);
    const float *h = gru_output(j->cache); // (Tl, B, H)
    const size_t H = (size_t)j->H;
    for (size_t i = 0; i < (size_t)j->T * j->B; i++)
        memcpy(j->cat + i * 2 * H + j->half, h + i * H, H * sizeof *h);
}

void encoder_forward(const EncoderParams *p, const float *x, const float *x_mask, EncoderState *s) {
    const int B = s->B;
    const float *in = x; // (Tl, B, Fl)
    s->mask[0] = x_mask;
    for (int l = 0; l < s->n_layers; l++) {
        const int Tl = s->Tl[l], H = s->H[l], Fl = s->Fl[l];
        const float *m = s->mask[l];
        float *cat = s->cat[l];
        DirJob f = {.p = &p->fwd[l], .cache = &s->fwd[l], .in = in, .mask = m, .T = Tl, .B = B,
                    .F = Fl, .H = H, .reverse = 0, .cat = cat, .half = 0};
        DirJob r = f;
        r.p = &p->rev[l];
        r.cache = &s->rev[l];
        r.reverse = 1;
        r.half = H;
        parallel_pair(dir_run, &f, &r, s->threads);
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
// even steps when pooled) → both GRUs' backward, each into its own input gradient, whose sum
// is the next layer down's dout.
void encoder_backward(const EncoderParams *p, const EncoderState *s, const float *x,
                      const float *dctx, float *scratch, EncoderGrads *g, float *dx) {
    const int B = s->B;
    size_t gru, wide;
    scratch_sizes(s, &gru, &wide);
    float *gs[2] = {scratch, scratch + gru};            // GRU backward scratch per direction
    float *dcat_buf = scratch + 2 * gru;                // (Tl, B, 2H)
    float *ping[2] = {dcat_buf + wide, dcat_buf + 2 * wide}; // (Tl, B, Fl) input gradients
    float *drev = dcat_buf + 3 * wide;                  // (Tl, B, Fl) reverse direction's part
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
        const size_t nin = (size_t)Tl * B * Fl;
        float *din = l > 0 ? ping[l & 1] : dx; // (Tl, B, Fl) or NULL
        if (l > 0) memset(din, 0, nin * sizeof *din);
        if (din) memset(drev, 0, nin * sizeof *drev);
        if (din || g) {
            DirJob f = {.p = &p->fwd[l], .kept = &s->fwd[l],
                        .in = l == 0 ? x : s->out[l - 1], .mask = s->mask[l], .T = Tl, .B = B,
                        .F = Fl, .H = H, .dout = dcat, .half = 0, .scratch = gs[0],
                        .g = g ? &g->fwd[l] : NULL, .dx = din, .backward = 1};
            DirJob r = f;
            r.p = &p->rev[l];
            r.kept = &s->rev[l];
            r.half = H;
            r.scratch = gs[1];
            r.g = g ? &g->rev[l] : NULL;
            r.dx = din ? drev : NULL;
            parallel_pair(dir_run, &f, &r, s->threads);
            if (din)
                for (size_t i = 0; i < nin; i++) din[i] += drev[i];
        }
        dout = din;
    }
}
