#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tap.h"

Test(rng, same_seed_gives_same_sequence_and_state_restores_it) {
    TapRng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) cr_assert_eq(rng_next(&a), rng_next(&b));
    TapRng saved = a;
    uint64_t x = rng_next(&a);
    a = saved;
    cr_assert_eq(rng_next(&a), x);
}

Test(rng, normal_draws_have_unit_moments) {
    TapRng r;
    rng_seed(&r, 7);
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        s += z;
        s2 += z * z;
    }
    cr_assert_lt(fabs(s / n), 0.01);
    cr_assert_lt(fabs(s2 / n - 1.0), 0.01);
}

Test(rng, shuffle_is_a_permutation) {
    TapRng r;
    rng_seed(&r, 3);
    int a[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) a[i] = i;
    rng_shuffle_int(&r, a, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) cr_assert_eq(seen[i], 1);
    cr_assert_gt(moved, 10);
}

Test(arena, allocations_are_aligned_and_exhaustion_returns_null) {
    TapArena a;
    cr_assert_eq(arena_init(&a, 100), TAP_OK);
    float *p = arena_alloc(&a, 10);
    float *q = arena_alloc(&a, 10);
    cr_assert_not_null(p);
    cr_assert_eq(((uintptr_t)q) % 64, 0);
    cr_assert_null(arena_alloc(&a, 1000));
    arena_reset(&a);
    cr_assert_eq(arena_alloc(&a, 10), p);
    arena_free(&a);
}

Test(error, message_and_prefix) {
    TapError e;
    cr_assert_eq(tap_error_set(&e, TAP_ERR_FORMAT, "bad %d", 3), TAP_ERR_FORMAT);
    tap_error_prefix(&e, "file %s", "x.inkml");
    cr_assert_str_eq(e.msg, "file x.inkml: bad 3");
    cr_assert_str_eq(tap_status_str(TAP_ERR_IO), "i/o error");
}

Test(rng, fill_u64_repeats_rng_next_and_advances_the_state_alike) {
    TapRng a, b;
    rng_seed(&a, 9);
    rng_seed(&b, 9);
    uint64_t x[37];
    rng_fill_u64(&a, x, 37);
    for (int i = 0; i < 37; i++) cr_assert_eq(x[i], rng_next(&b), "draw %d", i);
    cr_assert(memcmp(&a, &b, sizeof a) == 0);
    rng_fill_u64(&a, x, 0);
    cr_assert(memcmp(&a, &b, sizeof a) == 0);
}
