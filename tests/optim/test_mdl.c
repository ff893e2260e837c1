#include <criterion/criterion.h>
#include <math.h>

#include "mdl.h"

Test(mdl, report_converts_nats_to_bits_and_compares_with_a_uniform_code) {
    MdlAccount a;
    mdl_reset(&a);
    mdl_add(&a, 100.0, 2, 10);
    mdl_add(&a, 50.0, 1, 5);
    MdlReport r;
    mdl_report(&a, 30.0, 111, 4, &r);
    // 150 nats = 216.40426 bits, 30 nats = 43.28085 bits, 15 tokens * log2 111 = 101.91624 bits
    cr_assert_float_eq(r.error_bits, 216.40425613, 1e-7);
    cr_assert_float_eq(r.model_bits, 43.28085123, 1e-7);
    cr_assert_float_eq(r.total_bits, 259.68510736, 1e-7);
    cr_assert_float_eq(r.uniform_bits, 101.91623800, 1e-7);
    cr_assert_float_eq(r.ratio, 2.54802485, 1e-8);
    cr_assert_float_eq(r.bits_per_token, 17.31234049, 1e-7);
    cr_assert_float_eq(r.bits_per_weight, 10.82021281, 1e-7);
    cr_assert_eq(a.n_sequences, 3.0);
}

Test(mdl, empty_account_reports_zero_ratio_not_a_division_by_zero) {
    MdlAccount a;
    mdl_reset(&a);
    MdlReport r;
    mdl_report(&a, 0.0, 111, 0, &r);
    cr_assert_eq(r.ratio, 0.0);
    cr_assert_eq(r.bits_per_token, 0.0);
    cr_assert(!isnan(r.bits_per_weight));
}
