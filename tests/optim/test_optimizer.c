#include <criterion/criterion.h>
#include <string.h>

#include "adadelta.h"
#include "adam.h"
#include "optimizer.h"
#include "sgd.h"
#include "tap.h"
#include "test_util.h"

Test(optimizer, names_round_trip_and_unknown_names_are_rejected) {
    for (int k = 0; k < OPTIM_COUNT; k++)
        cr_assert_eq(optimizer_kind_parse(optimizer_kind_name((OptimKind)k)), k);
    cr_assert_eq(optimizer_kind_parse("adadelta"), OPTIM_ADADELTA);
    cr_assert_eq(optimizer_kind_parse("rmsprop"), -1);
    cr_assert_eq(optimizer_kind_parse(NULL), -1);
}

Test(optimizer, each_kind_steps_exactly_like_its_kernel) {
    enum { N = 37 };
    float g[N], x0[N];
    tu_fill_normal(g, N, 1.0f, 1);
    tu_fill_normal(x0, N, 0.1f, 2);
    for (int k = 0; k < OPTIM_COUNT; k++) {
        OptimConfig c;
        optimizer_config_default(&c, (OptimKind)k);
        Optimizer o;
        TapError err = {0};
        cr_assert_eq(optimizer_init(&o, &c, N, &err), TAP_OK, "%s", err.msg);
        float x[N], y[N], a[N] = {0}, b[N] = {0};
        memcpy(x, x0, sizeof x);
        memcpy(y, x0, sizeof y);
        for (uint64_t t = 1; t <= 3; t++) {
            optimizer_step(&o, x, g);
            if (k == OPTIM_ADADELTA) adadelta_step(y, g, a, b, N, c.rho, c.eps);
            if (k == OPTIM_SGD) sgd_step(y, g, a, N, c.lr, c.momentum);
            if (k == OPTIM_ADAM) adam_step(y, g, a, b, N, c.lr, c.beta1, c.beta2, c.eps, t);
        }
        cr_assert(memcmp(x, y, sizeof x) == 0, "%s", optimizer_kind_name((OptimKind)k));
        cr_assert_eq(o.step, 3);
        optimizer_free(&o);
    }
}

Test(optimizer, state_lists_named_arrays_and_the_step_counter) {
    OptimConfig c;
    optimizer_config_default(&c, OPTIM_ADADELTA);
    Optimizer o;
    cr_assert_eq(optimizer_init(&o, &c, 10, NULL), TAP_OK);
    StateEntry e[OPTIMIZER_STATE_MAX];
    int k = optimizer_state(&o, "opt_mu", e);
    cr_assert_eq(k, 3);
    cr_assert_str_eq(e[0].name, "opt_mu/rg2");
    cr_assert_str_eq(e[1].name, "opt_mu/ru2");
    cr_assert_str_eq(e[2].name, "opt_mu/step");
    cr_assert_eq(e[0].data, o.s0);
    cr_assert_eq(e[0].len, 10);
    cr_assert_eq(e[2].type, STATE_U64);
    optimizer_free(&o);
    optimizer_config_default(&c, OPTIM_SGD);
    cr_assert_eq(optimizer_init(&o, &c, 4, NULL), TAP_OK);
    cr_assert_eq(optimizer_state(&o, "x", e), 2);
    cr_assert_str_eq(e[0].name, "x/velocity");
    optimizer_free(&o);
}

Test(optimizer, out_of_range_hyper_parameters_are_rejected_with_a_message) {
    OptimConfig c;
    optimizer_config_default(&c, OPTIM_ADADELTA);
    c.rho = 1.0f;
    Optimizer o;
    TapError err = {0};
    cr_assert_eq(optimizer_init(&o, &c, 4, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "rho") != NULL, "%s", err.msg);
    optimizer_config_default(&c, OPTIM_SGD);
    c.lr = -1.0f;
    cr_assert_eq(optimizer_init(&o, &c, 4, &err), TAP_ERR_ARG);
    cr_assert(strstr(err.msg, "sgd") != NULL, "%s", err.msg);
}
