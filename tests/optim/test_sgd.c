#include <criterion/criterion.h>

#include "sgd.h"

Test(sgd, momentum_carries_the_previous_step) {
    // lr 0.1, momentum 0.9: v = -0.1 * 2 = -0.2, x = 0.8; then v = 0.9 * -0.2 - 0.1 * 1 = -0.28,
    // x = 0.52.
    float x[1] = {1.0f}, v[1] = {0.0f};
    const float ga[1] = {2.0f}, gb[1] = {1.0f};
    sgd_step(x, ga, v, 1, 0.1, 0.9);
    cr_assert_float_eq(x[0], 0.8f, 1e-7);
    cr_assert_float_eq(v[0], -0.2f, 1e-7);
    sgd_step(x, gb, v, 1, 0.1, 0.9);
    cr_assert_float_eq(x[0], 0.52f, 1e-7);
    cr_assert_float_eq(v[0], -0.28f, 1e-7);
}

Test(sgd, zero_momentum_is_plain_gradient_descent) {
    float x[3] = {1.0f, -1.0f, 0.0f}, v[3] = {0};
    const float g[3] = {0.5f, -2.0f, 4.0f};
    sgd_step(x, g, v, 3, 0.25, 0.0);
    cr_assert_float_eq(x[0], 0.875f, 1e-7);
    cr_assert_float_eq(x[1], -0.5f, 1e-7);
    cr_assert_float_eq(x[2], -1.0f, 1e-7);
    sgd_step(x, g, v, 3, 0.25, 0.0);
    cr_assert_float_eq(x[2], -2.0f, 1e-7);
}
