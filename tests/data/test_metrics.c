#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test_util.h"

static int split(char *s, const char **out) {
    int n = 0;
    for (char *t = strtok(s, " "); t; t = strtok(NULL, " ")) out[n++] = t;
    return n;
}

static int dist_of(const char *r, const char *h, EditOp *ops, int *n_ops) {
    static char rb[256], hb[256];
    const char *rt[64], *ht[64];
    snprintf(rb, sizeof rb, "%s", r);
    snprintf(hb, sizeof hb, "%s", h);
    int nr = split(rb, rt), nh = split(hb, ht);
    int scratch[65 * 65];
    return edit_distance(rt, nr, ht, nh, scratch, ops, n_ops);
}

Test(metrics, edit_distance_matches_hand_counted_cases) {
    cr_assert_eq(dist_of("x ^ { 2 }", "x ^ { 2 }", NULL, NULL), 0);
    cr_assert_eq(dist_of("x ^ { 2 }", "x _ { 2 }", NULL, NULL), 1);
    cr_assert_eq(dist_of("a + b", "a b", NULL, NULL), 1);
    cr_assert_eq(dist_of("a b", "a + b", NULL, NULL), 1);
    cr_assert_eq(dist_of("", "a b c", NULL, NULL), 3);
    cr_assert_eq(dist_of("k i t t e n", "s i t t i n g", NULL, NULL), 3);
}

Test(metrics, operations_account_for_the_distance_and_name_the_tokens) {
    EditOp ops[32];
    int n = 0;
    int d = dist_of("\\frac { a } { b }", "\\frac { a } b }", ops, &n);
    cr_assert_eq(d, 1);
    int edits = 0, dels = 0;
    for (int i = 0; i < n; i++) {
        edits += ops[i].kind != EDIT_MATCH;
        if (ops[i].kind == EDIT_DEL) {
            dels++;
            cr_assert_eq(ops[i].ref, 4, "the deleted token is the second '{'");
        }
    }
    cr_assert_eq(edits, 1);
    cr_assert_eq(dels, 1);
    cr_assert_eq(n, 7);
}

Test(metrics, totals_give_exprate_within_k_and_wer) {
    EvalTotals t = {0};
    eval_add(&t, 0, 5, 0);
    eval_add(&t, 1, 5, 0);
    eval_add(&t, 3, 10, 0);
    eval_add(&t, 4, 4, 1); // a missing hypothesis: every reference token deleted
    eval_add(&t, 1, 1, 1); // missing, and wrong at every tolerance even though distance is 1
    cr_assert_eq(t.n, 5);
    cr_assert_float_eq(eval_exprate(&t), 20.0, 1e-9);
    cr_assert_float_eq(eval_within(&t, 1), 40.0, 1e-9);
    cr_assert_float_eq(eval_within(&t, 2), 40.0, 1e-9);
    cr_assert_float_eq(eval_within(&t, 3), 60.0, 1e-9);
    cr_assert_float_eq(eval_wer(&t), 100.0 * 9 / 25, 1e-9);
    cr_assert_eq(t.missing, 2);
}

#include "tsv.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    return path;
}

Test(tsv, loads_tab_or_space_separated_lines_and_finds_by_uid) {
    const char *p = write_tmp("h.txt", "b\tx ^ { 2 }\n\na  y\nc\n");
    TsvTable t;
    TapError err;
    cr_assert_eq(tsv_load(p, &t, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(t.n, 3);
    const TsvEntry *b = tsv_find(&t, "b");
    cr_assert_not_null(b);
    cr_assert_eq(b->n, 5);
    cr_assert_str_eq(b->tok[1], "^");
    cr_assert_eq(tsv_find(&t, "c")->n, 0, "a uid alone is an empty sequence");
    cr_assert_str_eq(tsv_find(&t, "a")->tok[0], "y");
    cr_assert_null(tsv_find(&t, "zz"));
    tsv_free(&t);
}

Test(tsv, duplicate_uid_and_missing_file_fail_cleanly) {
    TsvTable t;
    TapError err;
    cr_assert_eq(tsv_load(write_tmp("d.txt", "a x\na y\n"), &t, &err), TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "'a' appears more than once"), "%s", err.msg);
    cr_assert_eq(tsv_load("/nonexistent/file.txt", &t, &err), TAP_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/file.txt"), "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/bin.txt", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    fwrite("a x\0y\n", 1, 6, f);
    fclose(f);
    cr_assert_eq(tsv_load(path, &t, &err), TAP_ERR_FORMAT);
    cr_assert(strstr(err.msg, "NUL"), "%s", err.msg);
}
