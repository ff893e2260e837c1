// The named-tensor table: every weight of the model lives in one flat float array per role
// (weights, gradients, posterior mean, log-variance, optimizer state), and this table gives
// each tensor's TAP name, shape and offset. Names and order follow TAP v2's init_params, so a
// checkpoint compares name by name with TAP (or the PyTorch port). Shapes are TAP's: weights
// (in, out) used as x·W; conv_Q is (Q, 1, K, 1).
#ifndef TAP_MODEL_PARAMS_H
#define TAP_MODEL_PARAMS_H

#include <stddef.h>

#include "config.h"
#include "rng.h"

typedef enum {
    PARAM_INIT_ZERO,
    PARAM_INIT_NORMAL,  // N(0, 0.01^2)                           (TAP norm_weight, nin != nout)
    PARAM_INIT_ORTHO,   // one orthogonal block per `cols/rows`   (TAP ortho_weight; square blocks)
    PARAM_INIT_UNIFORM, // U(0, 0.01)                             (TAP conv_norm_weight)
} ParamInit;

typedef struct {
    char name[48];
    int ndim;
    int dims[4];
    size_t offset; // into every role array
    size_t size;   // product of dims
    ParamInit init;
} ParamSpec;

typedef struct {
    int n_tensors;
    ParamSpec *spec; // n_tensors entries
    size_t n;        // total floats
} ParamTable;

// Builds the table for a config (allocates spec). TAP_OK or TAP_ERR_NOMEM / TAP_ERR_ARG.
struct TapError;
int params_layout(const TapConfig *c, ParamTable *t, struct TapError *err);
void params_free(ParamTable *t);
// Index of a tensor by name, or -1.
int params_find(const ParamTable *t, const char *name);
// Pointer to tensor `name` inside role array `base`; aborts (programmer error) if absent.
float *params_bind(const ParamTable *t, float *base, const char *name);
// One pointer member of a view struct (AttnParams, DecoderParams, ...) and its tensor's name.
typedef struct {
    size_t offset; // offsetof(View, member); the member is a float *
    const char *name;
} ParamField;
// Points each listed member of *view at its tensor inside role array `base` (params_bind each).
void params_bind_fields(const ParamTable *t, float *base, void *view, const ParamField *f, int n);
// The same with every name prefixed (the GRU's fields "_W", ... under "encoder0", "encoder_r1").
void params_bind_fields_prefixed(const ParamTable *t, float *base, const char *prefix, void *view,
                                 const ParamField *f, int n);
// TAP's initialisers, drawn in table order from rng.
void params_init(const ParamTable *t, float *w, TapRng *rng);

#endif
