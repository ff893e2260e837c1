// Label token -> strokes, from the InkML symbol segmentation (traceGroups), reproducing how TAP
// built its on-align-train files.
//
// Structure tokens (`{ } _ ^ \limits`, the `[ ]` around a \sqrt index) never get strokes. Other
// tokens are matched to symbols of the same class: the symbol's label (`\lt` is `<`, a `-` may
// be a fraction bar and then draws `\frac`, a `.` named `\cdot` draws `\cdot`). Which occurrence:
//  - CROHME hrefs of the form `name_k` (most files) say the symbol is the k-th of its class in
//    the expression: it goes to the k-th token of that class (or to nothing if there is none).
//  - Otherwise (hrefs made of stroke ids, or none) symbols of a class are taken in writing order
//    (first stroke) against the tokens in reading order; `-` symbols with ink both above and
//    below them inside their width are fraction bars.
// Tokens no symbol matched (e.g. `\cdots`, or a `'` written as a \prime symbol) get no strokes.
#ifndef TAP_DATA_ALIGN_H
#define TAP_DATA_ALIGN_H

#include "inkml.h"
#include "latex.h"
#include "tap.h"

typedef struct {
    int n_tokens;
    int *start;    // (n_tokens + 1) offsets into strokes; token i owns [start[i], start[i+1])
    int *strokes;  // (start[n_tokens]) trace indices (document order, 0-based), in traceGroup order
} Alignment;

// Aligns tokens (usually latex_tokenize of doc->truth) with doc's symbols. A document without
// a segmentation gives every token no strokes. Fails only on allocation (TAP_ERR_NOMEM) or a
// symbol naming a trace outside the document (TAP_ERR_FORMAT); out is then empty.
int align_build(const TokenList *tokens, const InkmlDoc *doc, Alignment *out, TapError *err);
// 1 for tokens that never carry strokes whatever their context (`{ } _ ^ \limits`).
int align_is_structure(const char *token);
void alignment_free(Alignment *a);

#endif
