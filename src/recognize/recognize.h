// Shared machinery of `tap decode` and `tap render`: collecting inputs (InkML files, directories
// of them, HDF5 datasets from `tap prep`), loading a model checkpoint, decoding every input with
// beam search on worker threads (each owns a BeamDecoder; the weights are shared read-only) and
// handing the results back in input order, plus the attention bookkeeping pictures need.
// Letters: N feature rows (points after thinning) of an expression, S pooled annotations,
// n output tokens, F = 9 features.
#ifndef TAP_TOOLS_RECOGNIZE_H
#define TAP_TOOLS_RECOGNIZE_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "dataset.h"
#include "outfile.h"
#include "params.h"
#include "tap.h"
#include "tsv.h"
#include "vocab.h"

// ---------------------------------------------------------------------------- inputs

typedef struct {
    char *uid;  // InkML file name without .inkml, or the dataset's uid
    char *path; // the InkML file, or the dataset file (for messages)
    int ds;     // index into RecInputs.ds, or -1 for an InkML file
    int index;  // expression index inside that dataset
} RecItem;

typedef struct {
    int n;
    RecItem *items; // (n) in input order
    int n_ds;
    Dataset *ds; // (n_ds) loaded datasets
} RecInputs;

// Expands paths in order: a directory gives its *.inkml files as walk_inkml (walk.h) finds them
// (sorted by path), an HDF5 file (by its signature) all of its expressions, any other path is
// taken as InkML. An unreadable dataset or directory is an error; a bad or missing InkML file is
// only found on loading.
int rec_inputs_collect(RecInputs *in, char *const *paths, int n_paths, TapError *err);
void rec_inputs_free(RecInputs *in);

// The ink of one expression as the model sees it.
typedef struct {
    int n_rows;  // N
    float *f;    // (N, 9) TAP features; columns 0 and 1 are the normalised x, y
    int *stroke; // (N) stroke of each row, non-decreasing
    int n_strokes;
    char *truth;  // the reference tokens joined by spaces (LaTeX truth, else MathML), or NULL
    int n_ref;    // reference tokens from a dataset, -1 when the input has none
    int32_t *ref; // (n_ref) ids in the dataset's vocabulary
} RecInk;

// Parses and featurises item i (InkML) or copies it out of its dataset. Errors name the file.
int rec_ink_load(const RecInputs *in, int i, RecInk *ink, TapError *err);
void rec_ink_free(RecInk *ink);

// ---------------------------------------------------------------------------- model

typedef struct {
    TapConfig cfg;
    ParamTable table;
    float *w; // (table.n) the /params role
} RecModel;

int rec_model_load(RecModel *m, const char *path, TapError *err);
void rec_model_free(RecModel *m);

// Loads the dictionary and checks it has the model's V tokens.
int rec_vocab_load(Vocab *v, const char *path, const TapConfig *cfg, TapError *err);

// TAP's dictionary, relative to the working directory (as the bundled models are): what a
// checkpoint saved without a vocabulary was trained with.
#define REC_DEFAULT_DICT "data/dictionary.txt"
// The vocabulary a model decodes with: dict when given (a --dict override), else the /vocab the
// checkpoint carries, else (checkpoints saved before vocabularies were stored) REC_DEFAULT_DICT.
// Each must have the model's V tokens.
int rec_model_vocab(Vocab *v, const char *model, const char *dict, const TapConfig *cfg,
                    TapError *err);

// ---------------------------------------------------------------------------- decoding

typedef struct {
    int beam;     // 1 = greedy
    int max_len;  // decoding steps at most
    int threads;  // workers (>= 1)
    int keep_ink; // 1: results keep the RecInk (pictures)
    const RecModel *extra; // (n_extra) more models decoded as an ensemble with the first
    int n_extra;
} RecOptions;

typedef struct {
    int status; // TAP_OK, or the failure (msg says why, naming the file)
    char msg[512];
    int n;           // tokens without <eol>
    int32_t *tokens; // (n)
    int n_att;       // attention rows: n, plus 1 when the hypothesis ended with <eol>
    int S;           // annotations
    float *alphas;   // (n_att, S) attention of each emitted token
    float cost, norm_cost;
    int finished;
    int n_rows;     // N of the decoded input (without TAP's padding row)
    RecInk ink;     // when RecOptions.keep_ink
    double seconds; // decode time of this expression (encoder + search)
} RecResult;

// Called on the calling thread for every item, in input order, as results become ready. The
// result is freed after the call unless the callback zeroes the fields it takes over.
// A nonzero return stops the run (rec_decode_all then returns it).
typedef int (*RecEmit)(void *ctx, int i, RecResult *r);

// Decodes every input with opt->threads workers, OpenBLAS kept to one thread per worker.
// Returns TAP_OK (per-item failures go to the callback), a negative TapStatus when the workers
// cannot start, or the callback's nonzero return.
int rec_decode_all(const RecModel *m, const RecInputs *in, const RecOptions *opt, RecEmit emit,
                   void *ctx, TapError *err);
void rec_result_free(RecResult *r);

// ---------------------------------------------------------------------------- command set-up

// What a decoding run is set up from (`tap decode` and `tap render` bind flags to it).
typedef struct {
    const char *dict;     // a dictionary overriding the model's own vocabulary, or NULL
    int beam;             // 1 = greedy
    int max_len;          // decoding steps at most
    int threads;          // 0 = one per core
    const char *ensemble; // comma list of more checkpoints decoded with the model, or NULL
} RecSettings;

enum { REC_MAX_EXTRA = 7 };

// Everything a command decodes with: the model, its vocabulary, the inputs, resolved options.
typedef struct {
    RecModel m;   // zeroed when opened without a model
    RecModel extra[REC_MAX_EXTRA]; // --ensemble models
    int n_extra;
    Vocab v;      // likewise
    RecInputs in; // never empty once opened
    RecOptions opt;
    int pool; // rec_pool_factor of the model
} RecSetup;

// Loads the model (NULL: none, as for pictures from saved attention) and its dictionary, then
// collects the inputs; no inputs at all is an error. On failure s is left zeroed.
int rec_setup_open(RecSetup *s, const char *model, const RecSettings *o, char *const *inputs,
                   int n_inputs, TapError *err);
void rec_setup_close(RecSetup *s);
// outfile_check of an output of the run against everything it reads: the model, the --ensemble
// checkpoints, the dictionary and every input file (model may be NULL).
int rec_output_check(const RecSetup *s, const char *model, const RecSettings *o,
                     const char *output, TapError *err);

// ---------------------------------------------------------------------------- attention

// 2^p for p pooling layers: annotation s covers feature rows [s·2^p, (s+1)·2^p).
int rec_pool_factor(const TapConfig *cfg);
// Attention of each feature row from one token's attention over annotations: the annotation's
// weight shared equally by the rows it covers. out (N).
void rec_row_attention(const float *alpha /* (S) */, int S, int pool, int n_rows, float *out);
// For every stroke, the token (index into the n_att rows of alphas) that attended to it most:
// the argmax over tokens of the summed row attention over the stroke's rows; -1 when no token
// gave it any attention. scratch: n_strokes floats.
void rec_stroke_tokens(const float *alphas /* (n_att, S) */, int n_att, int S, int pool,
                       const int *stroke /* (N) */, int n_rows, int n_strokes, float *scratch,
                       int *stroke_token /* (n_strokes) */);

// Attention side files (`tap decode --attention DIR`), DIR/<uid>.att, text:
//   tap-attention 1
//   uid <uid>
//   rows <N> annotations <S> pool <2^p> steps <n_att> finished <0|1>
//   tokens <tok> ... (n_att tokens, <eol> included when finished)
//   then n_att lines of S weights
int rec_attention_save(const char *dir, const char *uid, const RecResult *r, const Vocab *v,
                       int pool, TapError *err);
// Reads one back; tokens are strdup'd (n_att, <eol> last when finished), alphas malloc'd.
typedef struct {
    int n_rows, S, pool, n_att, finished;
    char **tokens; // (n_att)
    float *alphas; // (n_att, S)
} RecAttention;
// Every header field is range-checked before anything is allocated (rows 1..10^7, pool a power
// of two up to 256, annotations 1..(rows + pool) / pool, steps 0..BEAM_MAX_LEN + 1, finished 0
// or 1 and at most steps), then exactly steps tokens and steps rows of annotations weights in
// [0, 1], nothing after; any failure frees everything and names the file and the field.
int rec_attention_load(const char *path, RecAttention *a, TapError *err);
// The same on text in memory (len bytes, no NUL needed); name is for messages.
int rec_attention_parse(const char *text, size_t len, const char *name, RecAttention *a,
                        TapError *err);
void rec_attention_free(RecAttention *a);
// File name for a uid inside dir ('/' and other unsafe bytes replaced by '_'); malloc'd.
char *rec_uid_path(const char *dir, const char *uid, const char *suffix);

// ---------------------------------------------------------------------------- references

// References as a uid-sorted TsvTable, from a TSV (uid<TAB>tokens) or from an HDF5 dataset's
// tokens spelled through the dataset's own vocabulary.
int rec_refs_load(const char *path, TsvTable *t, TapError *err);
// Builds a table from parallel arrays (copied). tokens[i] has n_tok[i] strings.
int rec_refs_build(TsvTable *t, int n, char *const *uids, const int *n_tok,
                   const char *const *const *tokens, TapError *err);


// Creates dir when it does not exist yet (one level, as mkdir).
int rec_mkdir(const char *dir, TapError *err);
// requested, or one per online core when requested is 0.
int rec_threads(int requested);

// Joins tokens[0..n) with single spaces into a malloc'd string.
char *rec_join(const char *const *tokens, int n);

#endif
