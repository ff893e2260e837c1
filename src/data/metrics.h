// Recognition metrics over token sequences: edit distance with its operations, and the
// aggregate rates TAP reports (ExpRate, WER) plus the <=1/<=2/<=3 error rates.
#ifndef TAP_DATA_METRICS_H
#define TAP_DATA_METRICS_H

#include <stddef.h>

typedef enum { EDIT_MATCH, EDIT_SUB, EDIT_DEL, EDIT_INS } EditKind;

typedef struct {
    EditKind kind;
    int ref; // index into ref, or -1 (insertion)
    int hyp; // index into hyp, or -1 (deletion)
} EditOp;

// Levenshtein distance between token sequences (unit costs, as TAP's compute-wer.py).
// scratch holds (nr + 1) * (nh + 1) ints. When ops is not NULL it receives one optimal
// alignment, in order (at most nr + nh entries), and *n_ops its length.
int edit_distance(const char *const *ref, int nr, const char *const *hyp, int nh, int *scratch,
                  EditOp *ops, int *n_ops);

typedef struct {
    long n;          // expressions scored (every reference)
    long missing;    // references with no hypothesis (scored as all deletions)
    long within[4];  // expressions with distance 0, <=1, <=2, <=3 (never a missing one)
    long edits;      // total edit distance
    long ref_tokens; // total reference tokens
} EvalTotals;

void eval_add(EvalTotals *t, int dist, int ref_len, int missing);
double eval_exprate(const EvalTotals *t);       // percent exact
double eval_within(const EvalTotals *t, int k); // percent with distance <= k (k = 0..3)
double eval_wer(const EvalTotals *t);           // percent: edits / reference tokens

#endif
