// MathWriting 2024 InkML (Gervais et al., Google Research; docs/data.md "MathWriting"): telling
// its files apart from CROHME's, its split tags, and the tokeniser of its unspaced labels.
//
// A MathWriting file has no <annotation type="truth">, no MathML and no traceGroups; its truth is
// <annotation type="normalizedLabel">, LaTeX without spaces ("\frac{dP}{d\tau}"), and
// <annotation type="splitTagOriginal"> says which split it belongs to (one of train, valid, test,
// synthetic; files of the synthetic split sit in the train/ folder of the release).
//
// mw_tokenize turns such a label into tokens (golden cases in tests/golden/mathwriting/):
//  - blanks only separate (`\rightarrow M`) and are dropped, as is a bare `$`;
//  - every character is one token, a UTF-8 sequence whole: letters and digits one by one
//    (`16` -> `1 6`, as TAP's labels), `{ } _ ^ & ( ) [ ] | ' + - = < > / , . ! :` ...;
//  - braces are kept as written: in a normalised label every brace is an argument's
//    (`x^{2}` -> `x ^ { 2 }`, `\frac{1}{2}` -> `\frac { 1 } { 2 }`, `\mathbb{S}` -> `\mathbb { S }`),
//    which is how TAP's labels brace scripts, fractions, roots and accents;
//  - `\name` (letters) is one token; a few synonyms take TAP's spelling (\to -> \rightarrow,
//    \le -> \leq, \ge -> \geq, \ne -> \neq, \lt -> <, \gt -> >, \dots -> \ldots);
//  - `\begin{NAME}` and `\end{NAME}` are one token each (`\begin{matrix}`); environments must
//    nest and match; the column spec of `\begin{array}{cc}` is layout and dropped;
//  - `\` and one other character is one token (`\\` the row break, `\{`, `\}`, `\#`, `\&`,
//    `\%`, `\_`, `\|`), except the spacing `\,` `\;` `\:` `\!` `\ ` (dropped, as `\quad`, `\qquad`);
//  - `\left`, `\right` and the `\big` family are dropped, and a `.` right after them too.
// The tokens joined by single spaces are LaTeX that reads as the label. Unbalanced braces,
// unmatched environments, a lone `\`, control characters, a command name over 31 bytes or
// nesting deeper than LATEX_MAX_DEPTH are TAP_ERR_FORMAT with a message quoting the label.
#ifndef TAP_DATA_MATHWRITING_H
#define TAP_DATA_MATHWRITING_H

#include "inkml.h"
#include "latex.h"
#include "tap.h"

typedef enum {
    MW_SPLIT_TRAIN,
    MW_SPLIT_VALID,
    MW_SPLIT_TEST,
    MW_SPLIT_SYNTHETIC,
    MW_SPLIT_COUNT
} MwSplit;

// 1 when doc is a MathWriting file: a normalizedLabel and no CROHME truth.
int mw_is_mathwriting(const InkmlDoc *doc);
// The split named by s ("train", "valid", "test", "synthetic"; blanks around ignored), or -1.
int mw_split_parse(const char *s);
// The name of a split ("train" ...), or "?" for anything else.
const char *mw_split_name(int split);

// Tokenises an unspaced MathWriting label (rules above). out is empty on failure.
int mw_tokenize(const char *label, TokenList *out, TapError *err);

#endif
