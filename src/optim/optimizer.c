#include "optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adadelta.h"
#include "adam.h"
#include "sgd.h"
#include "tap.h"

static const char *const kind_names[OPTIM_COUNT] = {"adadelta", "sgd", "adam"};

void optimizer_config_default(OptimConfig *c, OptimKind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->rho = ADADELTA_RHO;
    c->eps = ADADELTA_EPS;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->momentum = 0.9;
    c->lr = kind == OPTIM_ADAM ? 2e-4 : 1e-4;
}

const char *optimizer_kind_name(OptimKind kind) {
    return (unsigned)kind < OPTIM_COUNT ? kind_names[kind] : "?";
}

int optimizer_kind_parse(const char *name) {
    for (int k = 0; k < OPTIM_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

static int check_config(const OptimConfig *c, struct TapError *err) {
    if ((unsigned)c->kind >= OPTIM_COUNT)
        return tap_error_set(err, TAP_ERR_ARG, "unknown optimizer kind %d", (int)c->kind);
    const char *bad = NULL;
    switch (c->kind) {
    case OPTIM_ADADELTA:
        if (!(c->rho > 0.0 && c->rho < 1.0))
            bad = "rho must lie in (0, 1)";
        else if (!(c->eps > 0.0 && isfinite(c->eps)))
            bad = "eps must be > 0";
        break;
    case OPTIM_SGD:
        if (!(c->lr > 0.0 && isfinite(c->lr)))
            bad = "lr must be > 0";
        else if (!(c->momentum >= 0.0 && c->momentum < 1.0))
            bad = "momentum must lie in [0, 1)";
        break;
    case OPTIM_ADAM:
        if (!(c->lr > 0.0 && isfinite(c->lr)))
            bad = "lr must be > 0";
        else if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            bad = "beta1 must lie in [0, 1)";
        else if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            bad = "beta2 must lie in [0, 1)";
        else if (!(c->eps > 0.0 && isfinite(c->eps)))
            bad = "eps must be > 0";
        break;
    default: break;
    }
    if (bad) return tap_error_set(err, TAP_ERR_ARG, "%s: %s", kind_names[c->kind], bad);
    return TAP_OK;
}

int optimizer_init(Optimizer *o, const OptimConfig *cfg, size_t n, struct TapError *err) {
    memset(o, 0, sizeof *o);
    int rc = check_config(cfg, err);
    if (rc) return rc;
    o->cfg = *cfg;
    o->n = n;
    o->s0 = calloc(n ? n : 1, sizeof(float));
    if (cfg->kind != OPTIM_SGD) o->s1 = calloc(n ? n : 1, sizeof(float));
    if (!o->s0 || (cfg->kind != OPTIM_SGD && !o->s1)) {
        optimizer_free(o);
        return tap_error_set(err, TAP_ERR_NOMEM, "optimizer state: %zu floats", 2 * n);
    }
    return TAP_OK;
}

void optimizer_free(Optimizer *o) {
    free(o->s0);
    free(o->s1);
    o->s0 = o->s1 = NULL;
}

void optimizer_step(Optimizer *o, float *x, const float *g) {
    const OptimConfig *c = &o->cfg;
    o->step++;
    switch (c->kind) {
    case OPTIM_ADADELTA: adadelta_step(x, g, o->s0, o->s1, o->n, c->rho, c->eps); break;
    case OPTIM_SGD: sgd_step(x, g, o->s0, o->n, c->lr, c->momentum); break;
    case OPTIM_ADAM:
        adam_step(x, g, o->s0, o->s1, o->n, c->lr, c->beta1, c->beta2, c->eps, o->step);
        break;
    default: TAP_ASSERT(!"unknown optimizer kind");
    }
}

static void entry(StateEntry *e, const char *prefix, const char *name, StateType type, void *data,
                  size_t len) {
    snprintf(e->name, sizeof e->name, "%s/%s", prefix, name);
    e->type = type;
    e->data = data;
    e->len = len;
}

int optimizer_state(Optimizer *o, const char *prefix, StateEntry *out) {
    int k = 0;
    switch (o->cfg.kind) {
    case OPTIM_ADADELTA:
        entry(&out[k++], prefix, "rg2", STATE_F32, o->s0, o->n);
        entry(&out[k++], prefix, "ru2", STATE_F32, o->s1, o->n);
        break;
    case OPTIM_SGD: entry(&out[k++], prefix, "velocity", STATE_F32, o->s0, o->n); break;
    case OPTIM_ADAM:
        entry(&out[k++], prefix, "m", STATE_F32, o->s0, o->n);
        entry(&out[k++], prefix, "v", STATE_F32, o->s1, o->n);
        break;
    default: break;
    }
    entry(&out[k++], prefix, "step", STATE_U64, &o->step, 1);
    return k;
}
