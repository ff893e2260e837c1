// HDF5 dataset of prepared expressions (written by `tap prep`, read by training and decoding).
// Ragged arrays: every per-point, per-token and per-alignment array is concatenated over the
// expressions and indexed by an offsets array of n+1 entries (README: "Data: `tap prep`").
//   /features (P, 9) float32      /feature_offsets (n+1) int64   /point_stroke (P) int32
//   /tokens (K) int32             /token_offsets (n+1) int64
//   /align_strokes (A) int32      /align_offsets (K+1) int64     (strokes of each token)
//   /n_strokes (n) int32          /uids (n), /sources (n), /vocab (V) variable-length strings
//   attributes on /: format_version, feature_dim
#ifndef TAP_DATA_DATASET_H
#define TAP_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "tap.h"

#define TAP_DATASET_VERSION 1
#define TAP_DATASET_FEATURE_DIM 9

// One expression to append. Shapes use N = n_rows, L = n_tokens.
typedef struct {
    const char *uid;
    const char *source;      // the InkML path it came from
    int n_rows;              // N >= 1
    const float *features;   // (N, 9)
    const int *point_stroke; // (N) stroke (trace) index of each row, in [0, n_strokes)
    int n_strokes;
    int n_tokens;             // L
    const int *tokens;        // (L) ids < V
    const int *align_start;   // (L+1) offsets into align_strokes, or NULL: no strokes for any token
    const int *align_strokes; // (align_start[L]) stroke indices in [0, n_strokes)
} DatasetEntry;

typedef struct DatasetWriter DatasetWriter;

// Creates PATH.tmp (chunked datasets, the numeric ones shuffled and deflated); the final name
// appears only when dataset_writer_close succeeds. vocab: (V) id -> token.
int dataset_writer_open(DatasetWriter **w, const char *path, const char *const *vocab, int V,
                        TapError *err);
// Compresses the chunks of the numeric datasets on n_threads threads of the writer's own
// instead of the calling thread (0, the default); the file is the same either way. Call it
// before the first dataset_writer_add. Fewer threads than asked (none started) is no error.
int dataset_writer_set_threads(DatasetWriter *w, int n_threads, TapError *err);
// Appends one expression (validated: shapes, ids < V, stroke indices, finite features). A
// validation error leaves the writer usable; after any other error, abort it.
int dataset_writer_add(DatasetWriter *w, const DatasetEntry *e, TapError *err);
// Flushes, closes and renames PATH.tmp to PATH. On failure the temporary file is removed.
// Frees w either way.
int dataset_writer_close(DatasetWriter *w, TapError *err);
// Closes and removes the temporary file (interrupted runs, errors). Frees w.
void dataset_writer_abort(DatasetWriter *w);
// Number of expressions added so far.
int dataset_writer_count(const DatasetWriter *w);

// A whole dataset in memory, validated on load.
typedef struct {
    int n;                    // expressions
    int V;                    // vocabulary size
    size_t n_points;          // P
    size_t n_tokens;          // K
    size_t n_align;           // A
    char **vocab;             // (V)
    char **uids;              // (n)
    char **sources;           // (n)
    float *features;          // (P, 9)
    int64_t *feature_offsets; // (n+1)
    int32_t *point_stroke;    // (P)
    int32_t *n_strokes;       // (n)
    int32_t *tokens;          // (K)
    int64_t *token_offsets;   // (n+1)
    int32_t *align_strokes;   // (A)
    int64_t *align_offsets;   // (K+1)
} Dataset;

// Loads and validates (version, feature dim 9, monotone offsets ending at the array lengths,
// token ids < V, stroke indices < n_strokes, finite features). Errors name the file and dataset.
int dataset_load(const char *path, Dataset *ds, TapError *err);
void dataset_free(Dataset *ds);

// Points (rows) and tokens of expression i.
static inline int dataset_len_x(const Dataset *ds, int i) {
    return (int)(ds->feature_offsets[i + 1] - ds->feature_offsets[i]);
}
static inline int dataset_len_y(const Dataset *ds, int i) {
    return (int)(ds->token_offsets[i + 1] - ds->token_offsets[i]);
}
// 1 when some token of expression i has strokes aligned to it (a symbol segmentation).
static inline int dataset_has_align(const Dataset *ds, int i) {
    return ds->align_offsets[ds->token_offsets[i + 1]] > ds->align_offsets[ds->token_offsets[i]];
}

#endif
