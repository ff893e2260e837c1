// Batcher and padding against TAP's dataIterator / prepare_data: sorting by points, batch cuts,
// the two-stage maxlen filter, padded time-major arrays and masks, stroke alignment, shuffling.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "test_util.h"

// A Dataset built in memory. Expression i has lx[i] points (feature value 100*i + t + col/10,
// strokes of 2 points each) and ly[i] tokens (id 1 + (i + j) % 5); token j owns stroke j when
// that stroke exists, except every third token, which owns none (a structure token).
static void make(Dataset *ds, int n, const int *lx, const int *ly) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->V = 6;
    size_t P = 0, K = 0;
    for (int i = 0; i < n; i++) P += (size_t)lx[i], K += (size_t)ly[i];
    ds->n_points = P;
    ds->n_tokens = K;
    ds->features = calloc(P * 9 + 1, sizeof *ds->features);
    ds->point_stroke = calloc(P + 1, sizeof *ds->point_stroke);
    ds->feature_offsets = calloc((size_t)n + 1, sizeof *ds->feature_offsets);
    ds->token_offsets = calloc((size_t)n + 1, sizeof *ds->token_offsets);
    ds->n_strokes = calloc((size_t)n + 1, sizeof *ds->n_strokes);
    ds->tokens = calloc(K + 1, sizeof *ds->tokens);
    ds->align_offsets = calloc(K + 1, sizeof *ds->align_offsets);
    ds->align_strokes = calloc(K + 1, sizeof *ds->align_strokes);
    size_t p = 0, k = 0, a = 0;
    for (int i = 0; i < n; i++) {
        ds->n_strokes[i] = (lx[i] + 1) / 2;
        for (int t = 0; t < lx[i]; t++, p++) {
            for (int c = 0; c < 9; c++)
                ds->features[p * 9 + c] = (float)(100 * i + t) + (float)c / 10.0f;
            ds->point_stroke[p] = t / 2;
        }
        for (int j = 0; j < ly[i]; j++, k++) {
            ds->tokens[k] = 1 + (i + j) % 5;
            if (j % 3 != 2 && j < ds->n_strokes[i]) ds->align_strokes[a++] = j;
            ds->align_offsets[k + 1] = (int64_t)a;
        }
        ds->feature_offsets[i + 1] = (int64_t)p;
        ds->token_offsets[i + 1] = (int64_t)k;
    }
    ds->n_align = a;
}

static void free_ds(Dataset *ds) {
    free(ds->features);
    free(ds->point_stroke);
    free(ds->feature_offsets);
    free(ds->token_offsets);
    free(ds->n_strokes);
    free(ds->tokens);
    free(ds->align_offsets);
    free(ds->align_strokes);
}

static void expect_batch(const Batcher *b, int i, const int *want, int n) {
    int got_n;
    const int *got = batcher_batch(b, i, &got_n);
    cr_assert_eq(got_n, n, "batch %d has %d members, expected %d", i, got_n, n);
    for (int k = 0; k < n; k++) cr_expect_eq(got[k], want[k], "batch %d member %d", i, k);
}

Test(batch, batches_are_cut_every_B_in_order_of_points) {
    int lx[] = {5, 3, 9, 3, 7, 1, 8}, ly[] = {2, 2, 2, 2, 2, 2, 2};
    Dataset ds;
    make(&ds, 7, lx, ly);
    Batcher b;
    TapError err = {0};
    cr_assert_eq(batcher_init(&b, &ds, 3, 100, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(b.n_batches, 3);
    expect_batch(&b, 0, (int[]){5, 1, 3}, 3); // ties (1 and 3, both 3 points) keep dataset order
    expect_batch(&b, 1, (int[]){0, 4, 6}, 3);
    expect_batch(&b, 2, (int[]){2}, 1);
    cr_expect_eq(b.max_B, 3);
    cr_expect_eq(b.max_Tx, 10);
    cr_expect_eq(b.max_Ty, 3);
    cr_expect_eq(b.n_kept, 7);
    cr_expect_eq(b.n_dropped, 0);
    batcher_free(&b);
    free_ds(&ds);
}

Test(batch, maxlen_drops_long_labels_before_cutting_and_equal_ones_after) {
    // Points order the expressions 0..4. Label lengths 4, 4, 2, 5, 1 with maxlen 4:
    // dataIterator drops 3 (5 > 4) and cuts [0 1] [2 4]; prepare_data then drops 0 and 1
    // (4 is not < 4), leaving the first batch empty, which is skipped.
    int lx[] = {1, 2, 3, 4, 5}, ly[] = {4, 4, 2, 5, 1};
    Dataset ds;
    make(&ds, 5, lx, ly);
    Batcher b;
    TapError err = {0};
    cr_assert_eq(batcher_init(&b, &ds, 2, 4, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(b.n_batches, 1);
    expect_batch(&b, 0, (int[]){2, 4}, 2);
    cr_expect_eq(b.n_kept, 2);
    cr_expect_eq(b.n_dropped, 3);
    batcher_free(&b);
    // Without a limit everything is kept.
    cr_assert_eq(batcher_init(&b, &ds, 2, 0, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(b.n_batches, 3);
    cr_expect_eq(b.n_kept, 5);
    batcher_free(&b);
    cr_expect_eq(batcher_init(&b, &ds, 0, 0, &err), TAP_ERR_ARG);
    free_ds(&ds);
}

Test(batch, padding_and_masks_follow_prepare_data) {
    int lx[] = {4, 6}, ly[] = {3, 1};
    Dataset ds;
    make(&ds, 2, lx, ly);
    Batch bt;
    TapError err = {0};
    cr_assert_eq(batch_init(&bt, 2, 7, 4, &err), TAP_OK, "%s", err.msg);
    int idx[] = {1, 0};
    batch_fill(&bt, &ds, idx, 2);
    const int B = 2, Tx = 7, Ty = 4;
    cr_assert_eq(bt.B, B);
    cr_assert_eq(bt.Tx, Tx); // max points + 1
    cr_assert_eq(bt.Ty, Ty); // max tokens + 1
    for (int b = 0; b < B; b++) {
        int e = idx[b];
        cr_expect_eq(bt.index[b], e);
        for (int t = 0; t < Tx; t++) {
            for (int c = 0; c < 9; c++) {
                float want = t < lx[e] ? (float)(100 * e + t) + (float)c / 10.0f : 0.0f;
                cr_expect_eq(bt.x[(t * B + b) * 9 + c], want, "x[%d,%d,%d]", t, b, c);
            }
            cr_expect_eq(bt.x_mask[t * B + b], t <= lx[e] ? 1.0f : 0.0f, "x_mask[%d,%d]", t, b);
            for (int j = 0; j < Ty; j++)
                cr_expect_eq(bt.a_mask[(t * B + b) * Ty + j],
                             (t <= lx[e] && j <= ly[e]) ? 1.0f : 0.0f, "a_mask[%d,%d,%d]", t, b, j);
        }
        for (int j = 0; j < Ty; j++) {
            int want = j < ly[e] ? 1 + (e + j) % 5 : 0; // 0 = <eol> after the label
            cr_expect_eq(bt.y[j * B + b], want, "y[%d,%d]", j, b);
            cr_expect_eq(bt.y_mask[j * B + b], j <= ly[e] ? 1.0f : 0.0f, "y_mask[%d,%d]", j, b);
        }
    }
    batch_free(&bt);
    free_ds(&ds);
}

Test(batch, augmentation_moves_each_column_as_its_expression_alone_and_keeps_the_padding) {
    int lx[] = {4, 6, 5}, ly[] = {3, 1, 2};
    Dataset ds;
    make(&ds, 3, lx, ly);
    Batch bt, plain;
    TapError err = {0};
    cr_assert_eq(batch_init(&bt, 3, 7, 4, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(batch_init(&plain, 3, 7, 4, &err), TAP_OK, "%s", err.msg);
    int idx[] = {1, 0, 2};
    const AugmentConfig aug = {8.0, 0.15, 0.2, 0.003, 11};
    batch_fill(&bt, &ds, idx, 3);
    batch_fill(&plain, &ds, idx, 3);
    cr_assert_eq(batch_augment(&bt, &ds, &aug, 42), 0);
    const int B = 3, Tx = bt.Tx, Ty = bt.Ty;
    size_t nx = (size_t)Tx * B;
    cr_assert(!memcmp(bt.x_mask, plain.x_mask, nx * sizeof *bt.x_mask));
    cr_assert(!memcmp(bt.a, plain.a, nx * Ty * sizeof *bt.a));
    cr_assert(!memcmp(bt.y, plain.y, (size_t)Ty * B * sizeof *bt.y));
    for (int b = 0; b < B; b++) {
        int e = idx[b];
        float rows[6 * 9];
        double scratch[12];
        memcpy(rows, ds.features + ds.feature_offsets[e] * 9, (size_t)lx[e] * 9 * sizeof *rows);
        cr_assert_eq(augment_rows(rows, 9, lx[e], &aug, 42, (uint64_t)e, scratch), 0);
        for (int t = 0; t < Tx; t++)
            for (int c = 0; c < 9; c++) {
                float want = t < lx[e] ? rows[t * 9 + c] : 0.0f;
                cr_assert_eq(bt.x[(t * B + b) * 9 + c], want, "x[%d,%d,%d]", t, b, c);
            }
        cr_assert(bt.x[b * 9] != plain.x[b * 9], "column %d not moved", b);
    }
    batch_free(&bt);
    batch_free(&plain);
    free_ds(&ds);
}

Test(batch, alignment_marks_the_points_of_each_token_strokes) {
    // Expression 0: 6 points in strokes 0,0,1,1,2,2; tokens 0 and 1 own strokes 0 and 1,
    // token 2 owns nothing (structure). Expression 1 shares the batch with a longer label.
    int lx[] = {6, 3}, ly[] = {3, 4};
    Dataset ds;
    make(&ds, 2, lx, ly);
    Batch bt;
    TapError err = {0};
    cr_assert_eq(batch_init(&bt, 2, 7, 5, &err), TAP_OK, "%s", err.msg);
    batch_fill(&bt, &ds, (int[]){0, 1}, 2);
    const int B = 2, Ty = 5;
    for (int t = 0; t < bt.Tx; t++)
        for (int j = 0; j < Ty; j++) {
            int stroke = t / 2;
            float want0 = (t < 6 && j < 3 && j != 2 && stroke == j) ? 1.0f : 0.0f;
            // Expression 1: 3 points, strokes 0,0,1; tokens 0,1 own strokes 0,1; token 3 is past
            // n_strokes.
            float want1 = (t < 3 && j < 2 && stroke == j) ? 1.0f : 0.0f;
            cr_expect_eq(bt.a[(t * B + 0) * Ty + j], want0, "a[%d,0,%d]", t, j);
            cr_expect_eq(bt.a[(t * B + 1) * Ty + j], want1, "a[%d,1,%d]", t, j);
        }
    // Refilling with a smaller batch shrinks the shapes and clears what it uses.
    batch_fill(&bt, &ds, (int[]){1}, 1);
    cr_expect_eq(bt.B, 1);
    cr_expect_eq(bt.Tx, 4);
    cr_expect_eq(bt.Ty, 5);
    cr_expect_eq(bt.a[(0 * 1 + 0) * 5 + 0], 1.0f);
    cr_expect_eq(bt.a[(3 * 1 + 0) * 5 + 0], 0.0f);
    batch_free(&bt);
    free_ds(&ds);
}

Test(batch, shuffling_is_deterministic_per_seed_and_visits_every_batch_once) {
    enum { N = 40 };
    int lx[N], ly[N];
    for (int i = 0; i < N; i++) lx[i] = 1 + (i * 7) % 23, ly[i] = 1 + i % 4;
    Dataset ds;
    make(&ds, N, lx, ly);
    Batcher b1, b2;
    TapError err = {0};
    cr_assert_eq(batcher_init(&b1, &ds, 4, 0, &err), TAP_OK);
    cr_assert_eq(batcher_init(&b2, &ds, 4, 0, &err), TAP_OK);
    cr_assert_eq(b1.n_batches, 10);
    for (int k = 0; k < b1.n_batches; k++)
        cr_expect_eq(b1.order[k], k, "unshuffled order is the sorted order");
    TapRng r1, r2;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    int differs_from_sorted = 0, differs_between_epochs = 0, prev[10];
    for (int epoch = 0; epoch < 3; epoch++) {
        batcher_shuffle(&b1, &r1);
        batcher_shuffle(&b2, &r2);
        int seen[10] = {0};
        for (int k = 0; k < 10; k++) {
            cr_expect_eq(b1.order[k], b2.order[k], "same seed, same order");
            seen[b1.order[k]]++;
            differs_from_sorted += b1.order[k] != k;
            if (epoch) differs_between_epochs += b1.order[k] != prev[k];
            prev[k] = b1.order[k];
        }
        for (int k = 0; k < 10; k++)
            cr_expect_eq(seen[k], 1, "batch %d visited %d times", k, seen[k]);
    }
    cr_expect_gt(differs_from_sorted, 0);
    cr_expect_gt(differs_between_epochs, 0);
    // Batches keep their members whatever the order: every expression appears once per epoch.
    int count[N] = {0};
    for (int k = 0; k < b1.n_batches; k++) {
        int n;
        const int *m = batcher_batch(&b1, k, &n);
        for (int i = 0; i < n; i++) count[m[i]]++;
    }
    for (int i = 0; i < N; i++) cr_expect_eq(count[i], 1);
    rng_seed(&r2, 43);
    batcher_shuffle(&b2, &r2);
    int same = 1;
    for (int k = 0; k < 10; k++) same &= b1.order[k] == b2.order[k];
    cr_expect(!same, "another seed gives another order");
    batcher_free(&b1);
    batcher_free(&b2);
    free_ds(&ds);
}

Test(batch, batch_init_rejects_empty_shapes) {
    Batch bt;
    TapError err = {0};
    cr_expect_eq(batch_init(&bt, 0, 5, 5, &err), TAP_ERR_ARG);
    cr_expect_null(bt.x);
}
