#include <criterion/criterion.h>

#include "adam.h"

Test(adam, first_step_moves_each_weight_by_the_learning_rate) {
    // t = 1: m = 0.1 g, v = 0.001 g^2, lr_t = lr sqrt(0.001)/0.1, so the step is
    // lr * g/(|g| + eps/sqrt(0.001)) = 0.01 * sgn g up to 3e-9.
    float x[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    const float g[2] = {0.5f, -3.0f};
    adam_step(x, g, m, v, 2, 0.01, 0.9, 0.999, 1e-8, 1);
    cr_assert_float_eq(x[0], 0.99f, 1e-7);
    cr_assert_float_eq(x[1], -1.99f, 1e-7);
    cr_assert_float_eq(m[0], 0.05f, 1e-8);
    cr_assert_float_eq(m[1], -0.3f, 1e-8);
    cr_assert_float_eq(v[0], 0.00025f, 1e-10);
    cr_assert_float_eq(v[1], 0.009f, 1e-10);
}

Test(adam, second_step_matches_hand_computed_values) {
    // t = 2, g = (-0.25, 1): m = (0.02, -0.17), v = (3.1225e-4, 9.991e-3),
    // lr_t = 0.01 sqrt(1 - 0.999^2)/(1 - 0.9^2) = 2.35316e-3;
    // x0 = 0.99 - lr_t * 0.02/sqrt(3.1225e-4) = 0.9873366
    float x[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    const float ga[2] = {0.5f, -3.0f}, gb[2] = {-0.25f, 1.0f};
    adam_step(x, ga, m, v, 2, 0.01, 0.9, 0.999, 1e-8, 1);
    adam_step(x, gb, m, v, 2, 0.01, 0.9, 0.999, 1e-8, 2);
    cr_assert_float_eq(x[0], 0.98733664f, 1e-6);
    cr_assert_float_eq(x[1], -1.98599782f, 1e-6);
    cr_assert_float_eq(v[0], 3.1225e-4f, 1e-10);
}
