#include <criterion/criterion.h>
#include <math.h>

#include "params.h"
#include "tap.h"

Test(params, tap_layout_has_tap_names_and_parameter_count) {
    TapConfig c;
    config_default(&c);
    ParamTable t;
    TapError err;
    cr_assert_eq(params_layout(&c, &t, &err), TAP_OK);
    cr_assert_eq(t.n, 6349669u, "TAP v2 has 6,349,669 parameters, got %zu", t.n);
    int q = params_find(&t, "decoder_conv_Q");
    cr_assert_geq(q, 0);
    cr_assert_eq(t.spec[q].ndim, 4);
    cr_assert_eq(t.spec[q].dims[0], 256);
    cr_assert_eq(t.spec[q].dims[2], 121);
    cr_assert_geq(params_find(&t, "encoder_r3_Ux"), 0);
    cr_assert_geq(params_find(&t, "decoder_U_when_att"), 0);
    cr_assert_eq(params_find(&t, "nope"), -1);
    params_free(&t);

    c.gate = 0;
    cr_assert_eq(params_layout(&c, &t, &err), TAP_OK);
    cr_assert_eq(params_find(&t, "decoder_Wyg"), -1, "the v1 model has no gate weights");
    params_free(&t);
}

Test(params, orthogonal_blocks_are_orthogonal_and_normal_init_has_tap_scale) {
    TapConfig c;
    config_default(&c);
    ParamTable t;
    cr_assert_eq(params_layout(&c, &t, NULL), TAP_OK);
    float *w = malloc(t.n * sizeof *w);
    TapRng r;
    rng_seed(&r, 1);
    params_init(&t, w, &r);
    const float *U = params_bind(&t, w, "decoder_U"); // (256, 512): two orthogonal blocks
    for (int blk = 0; blk < 2; blk++)
        for (int i = 0; i < 256; i += 37)
            for (int j = 0; j < 256; j += 29) {
                double dot = 0;
                for (int k = 0; k < 256; k++) dot += (double)U[i * 512 + blk * 256 + k] * (double)U[j * 512 + blk * 256 + k];
                cr_assert_lt(fabs(dot - (i == j)), 1e-5);
            }
    const ParamSpec *s = &t.spec[params_find(&t, "encoder1_W")]; // (500, 500): N(0, 0.01^2)
    double s2 = 0;
    for (size_t i = 0; i < s->size; i++) s2 += (double)w[s->offset + i] * (double)w[s->offset + i];
    cr_assert_lt(fabs(sqrt(s2 / (double)s->size) - 0.01), 0.0005);
    free(w);
    params_free(&t);
}

Test(params, bad_config_is_rejected_with_a_message) {
    TapConfig c;
    config_default(&c);
    c.K = 120;
    ParamTable t;
    TapError err;
    cr_assert_eq(params_layout(&c, &t, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "K=120") != NULL, "%s", err.msg);
}

Test(params, absurd_sizes_from_a_checkpoint_or_a_flag_are_rejected) {
    const struct {
        int E, K;
        const char *want;
    } cases[] = {{100000000, 121, "E=100000000"}, {256, 100001, "K=100001"}, {8194, 121, "E=8194"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TapConfig c;
        config_default(&c);
        c.E = cases[i].E, c.K = cases[i].K;
        ParamTable t;
        TapError err;
        cr_assert_eq(params_layout(&c, &t, &err), TAP_ERR_ARG, "E=%d K=%d accepted", c.E, c.K);
        cr_assert(strstr(err.msg, cases[i].want), "%s", err.msg);
    }
    TapConfig ok;
    config_default(&ok);
    ok.E = 8192, ok.K = 4095;
    TapError err;
    cr_assert_eq(config_check(&ok, &err), TAP_OK, "%s", err.msg);
}
