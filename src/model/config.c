#include "config.h"

#include "tap.h"

void config_default(TapConfig *c) {
    *c = (TapConfig){.F = 9, .n_layers = 4, .D = 256, .E = 256, .V = 111, .K = 121, .Q = 256,
                     .gate = 1, .gamma = 0.1f};
    for (int i = 0; i < 4; i++) c->H[i] = 250;
    c->pool[2] = c->pool[3] = 1;
}

int config_context_dim(const TapConfig *c) { return 2 * c->H[c->n_layers - 1]; }

int config_pooled_len(const TapConfig *c, int T) {
    for (int i = 0; i < c->n_layers; i++)
        if (c->pool[i]) T = (T + 1) / 2;
    return T;
}

int config_check(const TapConfig *c, TapError *err) {
    if (c->F < 1 || c->F > 1024) return tap_error_set(err, TAP_ERR_ARG, "config: F=%d out of range", c->F);
    if (c->n_layers < 1 || c->n_layers > TAP_MAX_LAYERS)
        return tap_error_set(err, TAP_ERR_ARG, "config: n_layers=%d out of range 1..%d", c->n_layers,
                             TAP_MAX_LAYERS);
    for (int i = 0; i < c->n_layers; i++) {
        if (c->H[i] < 1 || c->H[i] > 8192)
            return tap_error_set(err, TAP_ERR_ARG, "config: H[%d]=%d out of range", i, c->H[i]);
        if (c->pool[i] != 0 && c->pool[i] != 1)
            return tap_error_set(err, TAP_ERR_ARG, "config: pool[%d]=%d is not 0 or 1", i, c->pool[i]);
    }
    if (c->D < 1 || c->D > 8192) return tap_error_set(err, TAP_ERR_ARG, "config: D=%d out of range", c->D);
    if (c->E < 2 || c->E % 2 || c->E > 8192)
        return tap_error_set(err, TAP_ERR_ARG, "config: E=%d must be even, at most 8192", c->E);
    if (c->V < 2 || c->V > 100000) return tap_error_set(err, TAP_ERR_ARG, "config: V=%d out of range", c->V);
    if (c->K < 1 || c->K % 2 == 0 || c->K > 4095)
        return tap_error_set(err, TAP_ERR_ARG, "config: K=%d must be odd, at most 4095", c->K);
    if (c->Q < 1 || c->Q > 8192) return tap_error_set(err, TAP_ERR_ARG, "config: Q=%d out of range", c->Q);
    if (c->gate != 0 && c->gate != 1) return tap_error_set(err, TAP_ERR_ARG, "config: gate=%d", c->gate);
    if (!(c->gamma >= 0.0f)) return tap_error_set(err, TAP_ERR_ARG, "config: gamma must be >= 0");
    if (c->threads < 0) return tap_error_set(err, TAP_ERR_ARG, "config: threads=%d", c->threads);
    return TAP_OK;
}
