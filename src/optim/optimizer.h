// One optimizer over a flat float array, chosen by name: "adadelta" (TAP), "sgd" (momentum),
// "adam". It owns its state arrays (allocated by optimizer_init, never inside a step) and
// lists them, with its step counter, as named entries a checkpoint can save and load.
#ifndef TAP_OPTIM_OPTIMIZER_H
#define TAP_OPTIM_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

struct TapError;

typedef enum { OPTIM_ADADELTA, OPTIM_SGD, OPTIM_ADAM, OPTIM_COUNT } OptimKind;

typedef struct {
    OptimKind kind;
    // Double, so that derived constants (1 - rho) round to the float32 literals TAP used.
    double lr;       // sgd, adam (unused by adadelta)
    double momentum; // sgd
    double rho;      // adadelta decay (TAP 0.95)
    double beta1;    // adam
    double beta2;    // adam
    double eps;      // adadelta (TAP 1e-8, its "lrate"), adam
} OptimConfig;

// One piece of resumable state: `len` elements of `type` at `data`.
typedef enum { STATE_F32, STATE_F64, STATE_U64 } StateType;
typedef struct {
    char name[48];
    StateType type;
    void *data;
    size_t len;
} StateEntry;

typedef struct {
    OptimConfig cfg;
    size_t n;
    float *s0;     // (n) adadelta rg2 | sgd velocity | adam m
    float *s1;     // (n) adadelta ru2 | adam v | NULL for sgd
    uint64_t step; // updates done (adam's t)
} Optimizer;

// Defaults: adadelta rho 0.95 eps 1e-8 (TAP); sgd lr 1e-4 momentum 0.9 (RNNLIB);
// adam lr 2e-4 beta1 0.9 beta2 0.999 eps 1e-8 (TAP's adam).
void optimizer_config_default(OptimConfig *c, OptimKind kind);
const char *optimizer_kind_name(OptimKind kind);
// Kind by name, or -1.
int optimizer_kind_parse(const char *name);

// TAP_OK, TAP_ERR_ARG (a hyper-parameter out of range) or TAP_ERR_NOMEM.
int optimizer_init(Optimizer *o, const OptimConfig *cfg, size_t n, struct TapError *err);
void optimizer_free(Optimizer *o);
// x (n) -= step from g (n).
void optimizer_step(Optimizer *o, float *x, const float *g);
// Fills out[0..k) with this optimizer's state, names prefixed "prefix/" ("opt_mu/rg2", ...),
// and returns k (at most OPTIMIZER_STATE_MAX).
#define OPTIMIZER_STATE_MAX 3
int optimizer_state(Optimizer *o, const char *prefix, StateEntry *out);

#endif
