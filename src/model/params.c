#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

typedef struct {
    ParamTable *t;
    int cap;
    int failed;
} Builder;

static void add(Builder *b, const char *name, ParamInit init, int ndim, int d0, int d1, int d2, int d3) {
    if (b->failed) return;
    if (b->t->n_tensors == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        ParamSpec *s = realloc(b->t->spec, (size_t)cap * sizeof *s);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->t->spec = s;
        b->cap = cap;
    }
    ParamSpec *p = &b->t->spec[b->t->n_tensors++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    int d[4] = {d0, d1, d2, d3};
    p->size = 1;
    for (int i = 0; i < ndim; i++) {
        p->dims[i] = d[i];
        p->size *= (size_t)d[i];
    }
    p->offset = b->t->n;
    p->init = init;
    b->t->n += p->size;
}

static void add2(Builder *b, const char *prefix, const char *name, ParamInit init, int rows, int cols) {
    char full[48];
    snprintf(full, sizeof full, "%s_%s", prefix, name);
    add(b, full, init, 2, rows, cols, 0, 0);
}

static void add1(Builder *b, const char *prefix, const char *name, int n) {
    char full[48];
    snprintf(full, sizeof full, "%s_%s", prefix, name);
    add(b, full, PARAM_INIT_ZERO, 1, n, 0, 0, 0);
}

// norm_weight(nin, nout): orthogonal when square, else N(0, 0.01^2).
static ParamInit norm(int nin, int nout) { return nin == nout ? PARAM_INIT_ORTHO : PARAM_INIT_NORMAL; }

static void gru(Builder *b, const char *prefix, int nin, int dim) {
    add2(b, prefix, "W", norm(nin, dim), nin, 2 * dim);
    add1(b, prefix, "b", 2 * dim);
    add2(b, prefix, "U", PARAM_INIT_ORTHO, dim, 2 * dim);
    add2(b, prefix, "Wx", norm(nin, dim), nin, dim);
    add1(b, prefix, "bx", dim);
    add2(b, prefix, "Ux", PARAM_INIT_ORTHO, dim, dim);
}

static void ff(Builder *b, const char *prefix, int nin, int nout, int ortho) {
    add2(b, prefix, "W", ortho ? norm(nin, nout) : PARAM_INIT_NORMAL, nin, nout);
    add1(b, prefix, "b", nout);
}

int params_layout(const TapConfig *c, ParamTable *t, TapError *err) {
    int rc = config_check(c, err);
    if (rc) return rc;
    memset(t, 0, sizeof *t);
    Builder b = {t, 0, 0};
    int C = config_context_dim(c), D = c->D, E = c->E;
    add(&b, "Wemb_dec", norm(c->V, E), 2, c->V, E, 0, 0);
    int nin = c->F;
    for (int i = 0; i < c->n_layers; i++) {
        char f[32], r[32];
        snprintf(f, sizeof f, "encoder%d", i);
        snprintf(r, sizeof r, "encoder_r%d", i);
        gru(&b, f, nin, c->H[i]);
        gru(&b, r, nin, c->H[i]);
        nin = 2 * c->H[i];
    }
    ff(&b, "ff_state", C, D, 1);
    const char *d = "decoder";
    add2(&b, d, "W", norm(E, D), E, 2 * D);
    add1(&b, d, "b", 2 * D);
    add2(&b, d, "U", PARAM_INIT_ORTHO, D, 2 * D);
    add2(&b, d, "Wx", norm(E, D), E, D);
    add2(&b, d, "Ux", PARAM_INIT_ORTHO, D, D);
    add1(&b, d, "bx", D);
    add2(&b, d, "U_nl", PARAM_INIT_ORTHO, D, 2 * D);
    add1(&b, d, "b_nl", 2 * D);
    add2(&b, d, "Ux_nl", PARAM_INIT_ORTHO, D, D);
    add1(&b, d, "bx_nl", D);
    add2(&b, d, "Wc", norm(C, 2 * D), C, 2 * D);
    add2(&b, d, "Wcx", norm(C, D), C, D);
    add2(&b, d, "W_comb_att", norm(D, C), D, C);
    add2(&b, d, "Wc_att", PARAM_INIT_ORTHO, C, C);
    add1(&b, d, "b_att", C);
    add2(&b, d, "U_att", norm(C, 1), C, 1);
    add1(&b, d, "c_tt", 1);
    add(&b, "decoder_conv_Q", PARAM_INIT_UNIFORM, 4, c->Q, 1, c->K, 1);
    add2(&b, d, "conv_Uf", norm(c->Q, C), c->Q, C);
    add1(&b, d, "conv_b", C);
    if (c->gate) {
        add2(&b, d, "Wyg", norm(E, C), E, C);
        add1(&b, d, "byg", C);
        add2(&b, d, "Whg", norm(D, C), D, C);
        add1(&b, d, "bhg", C);
        add2(&b, d, "Umg", norm(D, C), D, C);
        add2(&b, d, "W_m_att", norm(C, C), C, C);
        add2(&b, d, "U_when_att", norm(C, 1), C, 1);
        add1(&b, d, "c_when_att", 1);
    }
    ff(&b, "ff_logit_lstm", D, E, 0);
    ff(&b, "ff_logit_prev", E, E, 0);
    ff(&b, "ff_logit_ctx", C, E, 0);
    ff(&b, "ff_logit", E / 2, c->V, 1);
    if (b.failed) {
        params_free(t);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory building the parameter table");
    }
    return TAP_OK;
}

void params_free(ParamTable *t) {
    free(t->spec);
    memset(t, 0, sizeof *t);
}

int params_find(const ParamTable *t, const char *name) {
    for (int i = 0; i < t->n_tensors; i++)
        if (!strcmp(t->spec[i].name, name)) return i;
    return -1;
}

float *params_bind(const ParamTable *t, float *base, const char *name) {
    int i = params_find(t, name);
    if (i < 0) {
        fprintf(stderr, "params_bind: no tensor '%s'\n", name);
        TAP_ASSERT(i >= 0);
    }
    return base + t->spec[i].offset;
}

void params_bind_fields_prefixed(const ParamTable *t, float *base, const char *prefix, void *view,
                                 const ParamField *f, int n) {
    for (int i = 0; i < n; i++) {
        char name[sizeof t->spec[0].name + 16];
        snprintf(name, sizeof name, "%s%s", prefix, f[i].name);
        float *at = params_bind(t, base, name);
        memcpy((char *)view + f[i].offset, &at, sizeof at);
    }
}

void params_bind_fields(const ParamTable *t, float *base, void *view, const ParamField *f, int n) {
    params_bind_fields_prefixed(t, base, "", view, f, n);
}

// An n x n orthogonal matrix (rows of a Gram-Schmidt-orthonormalised Gaussian matrix), written
// into columns [col0, col0 + n) of a row-major matrix with `ld` columns.
static void ortho_block(float *w, int n, int ld, int col0, TapRng *rng, double *tmp) {
    for (int i = 0; i < n * n; i++) tmp[i] = rng_normal(rng);
    for (int i = 0; i < n; i++) {
        double *v = tmp + (size_t)i * n;
        for (int pass = 0; pass < 2; pass++) // re-orthogonalise for accuracy
            for (int j = 0; j < i; j++) {
                double *u = tmp + (size_t)j * n, dot = 0;
                for (int k = 0; k < n; k++) dot += u[k] * v[k];
                for (int k = 0; k < n; k++) v[k] -= dot * u[k];
            }
        double norm2 = 0;
        for (int k = 0; k < n; k++) norm2 += v[k] * v[k];
        double inv = 1.0 / sqrt(norm2);
        for (int k = 0; k < n; k++) v[k] *= inv;
    }
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) w[(size_t)r * ld + col0 + c] = (float)tmp[(size_t)r * n + c];
}

void params_init(const ParamTable *t, float *w, TapRng *rng) {
    size_t tmp_n = 0;
    for (int i = 0; i < t->n_tensors; i++)
        if (t->spec[i].init == PARAM_INIT_ORTHO)
            tmp_n = tmp_n > (size_t)t->spec[i].dims[0] * (size_t)t->spec[i].dims[0]
                        ? tmp_n
                        : (size_t)t->spec[i].dims[0] * (size_t)t->spec[i].dims[0];
    double *tmp = tmp_n ? malloc(tmp_n * sizeof *tmp) : NULL;
    TAP_ASSERT(tmp_n == 0 || tmp);
    for (int i = 0; i < t->n_tensors; i++) {
        const ParamSpec *p = &t->spec[i];
        float *x = w + p->offset;
        switch (p->init) {
        case PARAM_INIT_ZERO: memset(x, 0, p->size * sizeof *x); break;
        case PARAM_INIT_NORMAL: rng_fill_normal(rng, x, p->size, 0.0f, 0.01f); break;
        case PARAM_INIT_UNIFORM: rng_fill_uniform(rng, x, p->size, 0.0f, 0.01f); break;
        case PARAM_INIT_ORTHO: {
            int rows = p->dims[0], cols = p->dims[1];
            TAP_ASSERT(p->ndim == 2 && cols % rows == 0);
            for (int c0 = 0; c0 < cols; c0 += rows) ortho_block(x, rows, cols, c0, rng, tmp);
            break;
        }
        }
    }
    free(tmp);
}
