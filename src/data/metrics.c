#include "metrics.h"

#include <string.h>

int edit_distance(const char *const *ref, int nr, const char *const *hyp, int nh, int *d,
                  EditOp *ops, int *n_ops) {
    int w = nh + 1;
    for (int j = 0; j <= nh; j++) d[j] = j;
    for (int i = 1; i <= nr; i++) {
        d[i * w] = i;
        for (int j = 1; j <= nh; j++) {
            int sub = d[(i - 1) * w + j - 1] + (strcmp(ref[i - 1], hyp[j - 1]) != 0);
            int del = d[(i - 1) * w + j] + 1;
            int ins = d[i * w + j - 1] + 1;
            int best = sub < del ? sub : del;
            d[i * w + j] = best < ins ? best : ins;
        }
    }
    int dist = d[nr * w + nh];
    if (ops) {
        // Walk back from the corner, preferring the diagonal so substitutions read naturally.
        int i = nr, j = nh, k = 0;
        while (i > 0 || j > 0) {
            if (i > 0 && j > 0 &&
                d[i * w + j] == d[(i - 1) * w + j - 1] + (strcmp(ref[i - 1], hyp[j - 1]) != 0)) {
                int same = strcmp(ref[i - 1], hyp[j - 1]) == 0;
                ops[k++] = (EditOp){same ? EDIT_MATCH : EDIT_SUB, i - 1, j - 1};
                i--, j--;
            } else if (i > 0 && d[i * w + j] == d[(i - 1) * w + j] + 1) {
                ops[k++] = (EditOp){EDIT_DEL, i - 1, -1};
                i--;
            } else {
                ops[k++] = (EditOp){EDIT_INS, -1, j - 1};
                j--;
            }
        }
        for (int a = 0, b = k - 1; a < b; a++, b--) {
            EditOp t = ops[a];
            ops[a] = ops[b];
            ops[b] = t;
        }
        if (n_ops) *n_ops = k;
    }
    return dist;
}

void eval_add(EvalTotals *t, int dist, int ref_len, int missing) {
    t->n++;
    t->missing += missing != 0;
    // A missing hypothesis is wrong at every tolerance, whatever the reference length.
    for (int k = 0; k < 4; k++) t->within[k] += !missing && dist <= k;
    t->edits += dist;
    t->ref_tokens += ref_len;
}

double eval_exprate(const EvalTotals *t) { return eval_within(t, 0); }

double eval_within(const EvalTotals *t, int k) {
    return t->n ? 100.0 * (double)t->within[k] / (double)t->n : 0.0;
}

double eval_wer(const EvalTotals *t) {
    return t->ref_tokens ? 100.0 * (double)t->edits / (double)t->ref_tokens : 0.0;
}
