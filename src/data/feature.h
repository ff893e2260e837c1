// TAP's 9 point features of an online expression, as in the released .ascii files
// (recipe: /work/shared/crohme/TAP_FEATURES.md): thin each stroke with T = max(W,H)/200,
// normalise with a length-weighted mean and x spread, then per point
//   x, y, dx1, dy1, dx2, dy2, |dy2|/(1+dy1^2)^1.5, pen-down, pen-up   (F = 9).
// Named feature.h, not features.h: with -I src/data it would shadow glibc's <features.h>.
#ifndef TAP_DATA_FEATURE_H
#define TAP_DATA_FEATURE_H

#include "inkml.h"
#include "tap.h"

#define TAP_FEATURE_DIM 9

typedef struct {
    int n_rows;  // N, points after thinning (a one-point stroke gives 2 rows)
    float *f;    // (N, 9)
    int *stroke; // (N) trace index (document order) of each row
} Features;

// Features of strokes given as points [trace_start[i], trace_start[i+1]) of x, y.
// Fails with TAP_ERR_NUMERIC on degenerate ink (zero total stroke length or zero x spread),
// TAP_ERR_ARG on empty input. The message does not name the file: callers prefix it.
int feature_compute_traces(int n_traces, const int *trace_start, const double *x, const double *y,
                           Features *out, TapError *err);
// Same for a parsed document.
int feature_compute(const InkmlDoc *doc, Features *out, TapError *err);
void feature_free(Features *f);

#endif
