// TAP point features (see feature.h and TAP_FEATURES.md). Thinning is done in double on the raw
// coordinates; the normalisation (segment lengths, sums accumulated sequentially, mean, sigma)
// and the features are float32, which is what reproduces TAP's released numbers best
// (all 20 sample files within 3.7e-6, 10 of them identical at 6 decimals).
#include "feature.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void feature_free(Features *f) {
    if (!f) return;
    free(f->f);
    free(f->stroke);
    memset(f, 0, sizeof *f);
}

int feature_compute(const InkmlDoc *doc, Features *out, TapError *err) {
    return feature_compute_traces(doc->n_traces, doc->trace_start, doc->x, doc->y, out, err);
}

int feature_compute_traces(int n_traces, const int *trace_start, const double *x, const double *y,
                           Features *out, TapError *err) {
    memset(out, 0, sizeof *out);
    if (n_traces <= 0 || trace_start[n_traces] <= trace_start[0])
        return tap_error_set(err, TAP_ERR_ARG, "no points");
    int n_raw = trace_start[n_traces] - trace_start[0];

    // Threshold from the bounding box of all raw points.
    double x0 = x[trace_start[0]], x1 = x0, y0 = y[trace_start[0]], y1 = y0;
    for (int i = trace_start[0]; i < trace_start[n_traces]; i++) {
        if (x[i] < x0) x0 = x[i];
        if (x[i] > x1) x1 = x[i];
        if (y[i] < y0) y0 = y[i];
        if (y[i] > y1) y1 = y[i];
    }
    double w = x1 - x0, h = y1 - y0;
    double thr = 0.005 * (w > h ? w : h);

    // Kept points: at most every raw point plus one extra row per one-point stroke.
    size_t cap = (size_t)n_raw + (size_t)n_traces;
    double *px = malloc(cap * sizeof *px), *py = malloc(cap * sizeof *py); // (N)
    int *ps = malloc(cap * sizeof *ps);                                    // (N)
    if (!px || !py || !ps) {
        free(px), free(py), free(ps);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    for (int s = 0; s < n_traces; s++) {
        int a = trace_start[s], b = trace_start[s + 1];
        if (b <= a) continue;
        // Deduplicate consecutive points first; the last deduplicated point is always kept.
        int last_raw = b - 1;
        int first = n;
        px[n] = x[a], py[n] = y[a], ps[n] = s, n++;
        double prev_x = x[a], prev_y = y[a];
        double kx = x[a], ky = y[a];
        // Index of the last point after deduplication: skip trailing repeats.
        while (last_raw > a && x[last_raw] == x[last_raw - 1] && y[last_raw] == y[last_raw - 1])
            last_raw--;
        for (int j = a + 1; j < last_raw; j++) {
            if (x[j] == prev_x && y[j] == prev_y) continue;
            prev_x = x[j], prev_y = y[j];
            if (hypot(x[j] - kx, y[j] - ky) >= thr) {
                px[n] = x[j], py[n] = y[j], ps[n] = s, n++;
                kx = x[j], ky = y[j];
            }
        }
        if (last_raw > a) {
            px[n] = x[last_raw], py[n] = y[last_raw], ps[n] = s, n++;
        } else {
            px[n] = px[first], py[n] = py[first], ps[n] = s, n++; // one-point stroke: 2 rows
        }
    }

    // Length-weighted mean and x spread over segments inside strokes, in float32 like TAP.
    float sl = 0.0f, smx = 0.0f, smy = 0.0f;
    for (int i = 0; i + 1 < n; i++) {
        if (ps[i] != ps[i + 1]) continue;
        float ax = (float)px[i], bx = (float)px[i + 1], ay = (float)py[i], by = (float)py[i + 1];
        float dx = (float)(px[i + 1] - px[i]), dy = (float)(py[i + 1] - py[i]);
        float l = sqrtf(dx * dx + dy * dy);
        sl += l;
        smx += l * (ax + bx) / 2.0f;
        smy += l * (ay + by) / 2.0f;
    }
    if (!(sl > 0.0f)) {
        free(px), free(py), free(ps);
        return tap_error_set(err, TAP_ERR_NUMERIC, "degenerate ink: total stroke length is zero");
    }
    float mux = smx / sl, muy = smy / sl, sv = 0.0f;
    for (int i = 0; i + 1 < n; i++) {
        if (ps[i] != ps[i + 1]) continue;
        float dx = (float)(px[i + 1] - px[i]), dy = (float)(py[i + 1] - py[i]);
        float l = sqrtf(dx * dx + dy * dy);
        float da = (float)px[i] - mux, db = (float)px[i + 1] - mux;
        sv += l * (da * da + db * db + da * db) / 3.0f;
    }
    float sigma = sqrtf(sv / sl);
    if (!(sigma > 0.0f) || !isfinite(sigma) || !isfinite(mux) || !isfinite(muy)) {
        free(px), free(py), free(ps);
        return tap_error_set(err, TAP_ERR_NUMERIC,
                             "degenerate ink: zero horizontal spread (sigma = 0)");
    }

    float *f = malloc((size_t)n * TAP_FEATURE_DIM * sizeof *f); // (N, 9)
    float *nx = malloc((size_t)n * 2 * sizeof *nx);             // (N, 2) normalised x, y
    if (!f || !nx) {
        free(f), free(nx), free(px), free(py), free(ps);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        nx[2 * i] = ((float)px[i] - mux) / sigma;
        nx[2 * i + 1] = ((float)py[i] - muy) / sigma;
    }
    for (int i = 0; i < n; i++) {
        int n1 = i + 1 < n ? i + 1 : n - 1, n2 = i + 2 < n ? i + 2 : n - 1;
        float *r = f + (size_t)i * TAP_FEATURE_DIM;
        float dy1 = nx[2 * n1 + 1] - nx[2 * i + 1], dy2 = nx[2 * n2 + 1] - nx[2 * i + 1];
        int down = i + 1 < n && ps[i + 1] == ps[i];
        r[0] = nx[2 * i];
        r[1] = nx[2 * i + 1];
        r[2] = nx[2 * n1] - nx[2 * i];
        r[3] = dy1;
        r[4] = nx[2 * n2] - nx[2 * i];
        r[5] = dy2;
        r[6] = (float)(fabs((double)dy2) / pow(1.0 + (double)dy1 * (double)dy1, 1.5));
        r[7] = down ? 1.0f : 0.0f;
        r[8] = down ? 0.0f : 1.0f;
    }
    free(nx);
    free(px), free(py);
    out->n_rows = n;
    out->f = f;
    out->stroke = ps;
    return TAP_OK;
}
