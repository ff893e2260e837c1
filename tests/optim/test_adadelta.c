#include <criterion/criterion.h>
#include <math.h>

#include "adadelta.h"

// Two steps on x = (1, -2) with gradients (0.5, -3) then (-0.25, 1), written out by hand.
static const float g1[2] = {0.5f, -3.0f}, g2[2] = {-0.25f, 1.0f};

Test(adadelta, two_steps_with_a_visible_epsilon_match_hand_computed_values) {
    // eps = 1e-2, element 0:
    //  step 1: rg2 = 0.05 * 0.25 = 0.0125; ud = -sqrt(0 + .01)/sqrt(.0125 + .01) * 0.5
    //          = -(0.1/0.15) * 0.5 = -1/3; ru2 = 0.05/9 = 0.0055556; x = 2/3
    //  step 2: rg2 = 0.95 * 0.0125 + 0.05 * 0.0625 = 0.015;
    //          ud = sqrt(0.0155556)/sqrt(0.025) * 0.25 = 0.1972027; x = 0.8638693
    // element 1:
    //  step 1: rg2 = 0.05 * 9 = 0.45; ud = 0.1/sqrt(0.46) * 3 = 0.4423259; x = -1.5576741;
    //          ru2 = 0.05 * 0.1956522 = 0.0097826
    //  step 2: rg2 = 0.4275 + 0.05 = 0.4775; ud = -sqrt(0.0197826)/sqrt(0.4875) = -0.2014441
    float x[2] = {1.0f, -2.0f}, rg2[2] = {0}, ru2[2] = {0};
    adadelta_step(x, g1, rg2, ru2, 2, 0.95, 1e-2);
    cr_assert_float_eq(x[0], 2.0f / 3.0f, 1e-6);
    cr_assert_float_eq(x[1], -1.5576741f, 1e-6);
    cr_assert_float_eq(rg2[0], 0.0125f, 1e-9);
    cr_assert_float_eq(rg2[1], 0.45f, 3e-8); // 0.05f * 9 (1 - 0.95f would miss by 1e-7)
    cr_assert_float_eq(ru2[0], 0.0055556f, 1e-7);
    cr_assert_float_eq(ru2[1], 0.0097826f, 1e-7);
    adadelta_step(x, g2, rg2, ru2, 2, 0.95, 1e-2);
    cr_assert_float_eq(x[0], 0.8638693f, 1e-6);
    cr_assert_float_eq(x[1], -1.7591182f, 1e-6);
    cr_assert_float_eq(rg2[0], 0.015f, 1e-9);
    cr_assert_float_eq(rg2[1], 0.4775f, 6e-8);
    cr_assert_float_eq(ru2[0], 0.0072222f, 1e-7);
    cr_assert_float_eq(ru2[1], 0.0113225f, 1e-7);
}

Test(adadelta, two_steps_with_taps_constants_match_hand_computed_values) {
    // rho 0.95, eps 1e-8 (TAP's lrate). Step 1: ud = -1e-4/sqrt(0.0125 + 1e-8) * 0.5
    // = -4.472132e-4 (the first step is ~ sqrt(eps / (1 - rho)) * sgn g); ru2 = 9.999992e-9.
    // Step 2: ud = sqrt(ru2 + 1e-8)/sqrt(0.015 + 1e-8) * 0.25 = 2.886744e-4.
    float x[2] = {1.0f, -2.0f}, rg2[2] = {0}, ru2[2] = {0};
    // Tolerances of one float ulp at |x| ~ 1 and ~ 2.
    adadelta_step(x, g1, rg2, ru2, 2, ADADELTA_RHO, ADADELTA_EPS);
    cr_assert_float_eq(x[0], 0.99955279f, 1.2e-7);
    cr_assert_float_eq(x[1], -1.99955279f, 2.4e-7);
    cr_assert_float_eq(ru2[0], 9.999992e-9f, 1e-13);
    adadelta_step(x, g2, rg2, ru2, 2, ADADELTA_RHO, ADADELTA_EPS);
    cr_assert_float_eq(x[0], 0.99984146f, 1.2e-7);
    cr_assert_float_eq(x[1], -1.99975744f, 2.4e-7);
    cr_assert_float_eq(ru2[0], 1.3666655e-8f, 1e-13);
    cr_assert_float_eq(ru2[1], 1.1594241e-8f, 1e-13);
}

Test(adadelta, zero_gradient_leaves_the_weight_and_update_average_alone_but_decays_rg2) {
    float x[1] = {0.3f}, rg2[1] = {0.2f}, ru2[1] = {0.1f}, g[1] = {0.0f};
    adadelta_step(x, g, rg2, ru2, 1, 0.95, 1e-8);
    cr_assert_eq(x[0], 0.3f);
    cr_assert_float_eq(rg2[0], 0.19f, 1e-8);
    cr_assert_float_eq(ru2[0], 0.095f, 1e-8);
}

// The update runs eight weights at a time where the CPU has AVX; it must equal TAP's formula
// in scalar float bit for bit, for every element, including the tail after the last eight.
Test(adadelta, vector_path_equals_the_scalar_formula_bit_for_bit) {
    enum { N = 1003 };
    static float x[N], rg2[N], ru2[N], g[N], xr[N], rr[N], ur[N];
    for (int i = 0; i < N; i++) {
        x[i] = xr[i] = 0.01f * (float)(i % 97) - 0.4f;
        rg2[i] = rr[i] = i % 5 ? 1e-4f * (float)(i % 13) : 0.0f;
        ru2[i] = ur[i] = 1e-9f * (float)(i % 7);
    }
    const float rho = 0.95f, a = 0.05f, eps = 1e-8f;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < N; i++) g[i] = 1e-3f * (float)((i * 7 + step * 3) % 31 - 15);
        adadelta_step(x, g, rg2, ru2, N, ADADELTA_RHO, ADADELTA_EPS);
        for (int i = 0; i < N; i++) {
            float r = rho * rr[i] + a * g[i] * g[i];
            float ud = -sqrtf(ur[i] + eps) / sqrtf(r + eps) * g[i];
            rr[i] = r;
            ur[i] = rho * ur[i] + a * ud * ud;
            xr[i] += ud;
        }
        for (int i = 0; i < N; i++) {
            cr_assert(x[i] == xr[i], "step %d x[%d] %.9g vs %.9g", step, i, (double)x[i],
                      (double)xr[i]);
            cr_assert(rg2[i] == rr[i] && ru2[i] == ur[i], "step %d state[%d] differs", step, i);
        }
    }
}
