// Ink augmentation for training, applied to the stored features. TAP's features are the thinned
// points normalised by a length-weighted mean and x spread (feature.h), so the points of an
// expression can be moved without going back to the InkML: rotate, shear (slant) and stretch
// them, jitter each point, then normalise again and recompute the difference and curvature
// columns as feature.h does. The row count, pen flags and strokes stay, so batches keep their
// shapes and alignments. Overall scale is not a parameter: the normalisation removes it.
// Every draw is a function of (seed, key, expression): training passes the update number as the
// key, so a resumed run and any number of replicas see the same ink.
#ifndef TAP_DATA_AUGMENT_H
#define TAP_DATA_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double rotate_deg; // rotation uniform in [-r, r] degrees
    double shear;      // x += k * y with k uniform in [-s, s] (slant)
    double aspect;     // y scaled by a factor log-uniform in [1/(1+a), 1+a]
    double jitter;     // N(0, j^2) added to each coordinate, in units of the normalised x spread
    uint64_t seed;
} AugmentConfig;

// 1 when some magnitude is non-zero.
int augment_enabled(const AugmentConfig *cfg);
// The transform drawn for (key, expression): 2x2 matrix m (x' = m0 x + m1 y, y' = m2 x + m3 y)
// and the seed of its jitter.
void augment_draw(const AugmentConfig *cfg, uint64_t key, uint64_t expression, double m[4],
                  uint64_t *jitter_seed);
// Rewrites n feature rows in place (row i at f + i * row_stride floats, 9 columns) as the
// transformed ink's features. Returns 0, or -1 (rows untouched) when the transformed ink is
// degenerate (no length or no x spread). scratch: 2n doubles.
int augment_rows(float *f, size_t row_stride, int n, const AugmentConfig *cfg, uint64_t key,
                 uint64_t expression, double *scratch);

#endif
