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
// call decodes with its own state, or with the caller's TapDecoder, one per thread); close it
// after the last call returned. tap_train runs on
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

// Opens a checkpoint (best.h5, data/model/small.h5, ...) and its dictionary. dict_path NULL:
// the vocabulary the checkpoint carries (saved by tap train), or for older checkpoints without
// one data/dictionary.txt (relative to the working directory). Given, a `token<TAB>id` file
// with the model's vocabulary size, used instead.
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
    int max_points; // inputs with more points (as given, before thinning) are refused with
                    // TAP_API_ERR_ARG before decoding (a server's bound on work); 0: no limit
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
// The same for InkML held in memory (len bytes at buf, e.g. a request body); name is used in
// messages (NULL: "inkml").
int tap_recognize_inkml_buffer(const TapRecognizer *r, const char *buf, size_t len,
                               const char *name, const TapRecognizeOptions *opt, TapResult *out,
                               char *err, size_t err_len);
void tap_result_free(TapResult *res);

// ---------------------------------------------------------------------------- reusable decoders

// Each tap_recognize_* call above builds a beam decoder (the decoder's step weights packed, its
// memory sized) and frees it. A TapDecoder keeps one between calls: its memory grows to the
// longest input seen, and it is rebuilt only when a call asks for another beam or max_len. The
// answers are those of tap_recognize_* to the bit.
// Threads: a decoder holds mutable state and is not locked, so use it from one thread at a time
// (one per worker thread). Any number of decoders may share one recognizer and run at the same
// time; close every decoder before its recognizer.
typedef struct TapDecoder TapDecoder;

int tap_decoder_open(const TapRecognizer *r, TapDecoder **out, char *err, size_t err_len);
void tap_decoder_close(TapDecoder *d);
int tap_decoder_strokes(TapDecoder *d, int n_strokes, const int *n_points,
                        const double *const *x, const double *const *y,
                        const TapRecognizeOptions *opt, TapResult *out, char *err,
                        size_t err_len);
int tap_decoder_inkml(TapDecoder *d, const char *path, const TapRecognizeOptions *opt,
                      TapResult *out, char *err, size_t err_len);
int tap_decoder_inkml_buffer(TapDecoder *d, const char *buf, size_t len, const char *name,
                             const TapRecognizeOptions *opt, TapResult *out, char *err,
                             size_t err_len);

// The colour `tap render` gives token i of a hypothesis (and the strokes that went to it), as
// 8-bit RGB; the palette repeats.
void tap_token_color(int i, unsigned char rgb[3]);

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
