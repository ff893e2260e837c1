// The public C interface of tap: open a trained model, recognise handwritten expressions given
// as pen strokes or as InkML files (n-best LaTeX with scores and per-token stroke attention),
// and train a model from datasets made by `tap prep`. This header includes nothing of tap's
// own; link with the taprecognize and taptrain libraries (CMake targets `tapapi`).
//
// Errors: every function returns 0 (TAP_API_OK) or a negative code and, when err is not NULL,
// writes one line into err (err_len bytes, NUL-terminated) saying what was wrong. Nothing is
// printed and nothing exits, whatever the input.
//
// Threads: a TapRecognizer is read-only once opened. Any number of threads may call
// tap_recognize_strokes and tap_recognize_inkml on the same recognizer at the same time (each
// call decodes with its own state); close it after the last call returned. tap_train runs on
// the calling thread and starts its own workers; it sets OpenBLAS's thread count, which is
// process-wide, so run one tap_train per process at a time (and never two on one OUT_DIR).
#ifndef TAP_API_H
#define TAP_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAP_API_VERSION 1

enum {
    TAP_API_OK = 0,
    TAP_API_ERR_ARG = -1,     // a bad argument or input (empty strokes, NaN, absurd sizes)
    TAP_API_ERR_IO = -2,      // a file could not be read or written
    TAP_API_ERR_FORMAT = -3,  // a file is not what it should be (a checkpoint, InkML, dataset)
    TAP_API_ERR_NOMEM = -4,   // out of memory
    TAP_API_ERR_NUMERIC = -5, // non-finite numbers (a diverged model, degenerate ink)
    TAP_API_ERR_STOPPED = -6  // tap_train: stopped by the progress callback (state saved)
};

// ---------------------------------------------------------------------------- recognition

typedef struct TapRecognizer TapRecognizer;

// Opens a checkpoint (best.h5, data/model/small.h5, ...) and its dictionary (TAP's
// `token<TAB>id` file, e.g. data/dictionary.txt; it must have the model's vocabulary size).
int tap_recognizer_open(const char *model_path, const char *dict_path, TapRecognizer **out,
                        char *err, size_t err_len);
void tap_recognizer_close(TapRecognizer *r);
// The vocabulary size and the number of weights of the model.
int tap_recognizer_vocab_size(const TapRecognizer *r);
size_t tap_recognizer_weights(const TapRecognizer *r);

typedef struct {
    int beam;    // beam width; 0: 10 (TAP); 1 is greedy decoding
    int max_len; // decoding steps at most; 0: 300
    int n_best;  // hypotheses to return, best first; 0: 1; at most the beam width
} TapRecognizeOptions;

typedef struct {
    char *latex;     // the tokens joined by single spaces (TAP's caption format)
    int n_tokens;
    char **tokens;   // (n_tokens)
    double score;    // -log p per token, <eol> counted: the ranking criterion (lower is better)
    double cost;     // -log p of the whole hypothesis
    int finished;    // 1 when the hypothesis ended with <eol> before max_len
    // For each token (n_tokens rows) its attention summed over the points of each stroke
    // (n_strokes columns); a row sums to about 1.
    float *stroke_attention;
} TapHypothesis;

typedef struct {
    int n_hyp;
    TapHypothesis *hyp; // (n_hyp) best first
    int n_strokes;      // strokes of the input
    int n_points;       // points the model saw (after TAP's thinning)
    // For each stroke, the token of the best hypothesis that attended to it most (-1: none).
    int *stroke_token;  // (n_strokes)
    double seconds;     // time spent in this call
} TapResult;

// Recognises one expression given as strokes: stroke i has n_points[i] points (x[i][k],
// y[i][k]), in writing order, as a pen or a canvas gives them (any units; y down or up as the
// device has it, InkML's convention being y down). The features are those `tap prep` computes
// for an InkML file holding the same strokes. opt may be NULL.
int tap_recognize_strokes(const TapRecognizer *r, int n_strokes, const int *n_points,
                          const double *const *x, const double *const *y,
                          const TapRecognizeOptions *opt, TapResult *out, char *err,
                          size_t err_len);
// The same for an InkML file (CROHME 2011-2019).
int tap_recognize_inkml(const TapRecognizer *r, const char *path, const TapRecognizeOptions *opt,
                        TapResult *out, char *err, size_t err_len);
void tap_result_free(TapResult *res);

// ---------------------------------------------------------------------------- training

typedef struct {
    int stage;        // 1 (Adadelta) or 2 (variational)
    long long update; // updates so far
    long long epoch;
    double loss;      // recent mean training cost
    double eps;       // Adadelta epsilon in force
    const char *line; // the progress or event line `tap train` would print, or NULL
} TapTrainProgress;

// Called on the training thread after every update and for every event line (validations,
// epoch ends). Return nonzero to stop: the state is saved to OUT_DIR/last.h5 first.
typedef int (*TapTrainCallback)(void *ctx, const TapTrainProgress *p);

// Trains as `tap train TRAIN.h5 VALID.h5 OUT_DIR` with the options of `tap train --help`, given
// as "--name=value" strings (n_options of them; flags without a value: "--augment"), e.g.
// {"--preset=small", "--max-minutes=60"} or {"--resume"}. Returns 0 when the run finished, or
// TAP_API_ERR_STOPPED when the callback stopped it (continue with "--resume").
int tap_train(const char *train_h5, const char *valid_h5, const char *out_dir,
              const char *const *options, int n_options, TapTrainCallback cb, void *ctx,
              char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
