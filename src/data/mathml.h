// CROHME MathML truth -> TAP's label tokens: the second ground truth of an InkML file, used when
// its LaTeX truth is malformed, missing or has tokens outside the vocabulary.
//
// Every CROHME file (2011-2019) writes its MathML as presentation elements, whatever its
// encoding attribute says. Layout elements become TAP's LaTeX structure: mfrac -> \frac { } { },
// msqrt -> \sqrt { }, mroot -> \sqrt [ index ] { }, msub/munder -> base _ { }, msup/mover ->
// base ^ { }, msubsup/munderover -> base _ { } ^ { }; math, mrow, mstyle and the like only group.
// Leaves (mi, mn, mo, mtext) hold a symbol spelt in one of several ways: LaTeX (`\leq`, `\lt`),
// a bare command or MathML entity name (`sin`, `infty`, `rarr`, `hellip`), a Unicode character
// (`≤`, `·`) or plain characters (`12` -> 1 2, `{` -> \{). A leaf whose text is none of these
// (MfrDB writes `im` for \lim) takes the label of the symbol traceGroup that links to it.
#ifndef TAP_DATA_MATHML_H
#define TAP_DATA_MATHML_H

#include "inkml.h"
#include "latex.h"
#include "tap.h"
#include "vocab.h"

#define MATHML_MAX_DEPTH 1000

// Tokens of doc's MathML. TAP_ERR_FORMAT when the file has no MathML, an element we do not
// understand (a table, say), a layout element with the wrong number of children, an empty leaf
// or nesting deeper than MATHML_MAX_DEPTH; the message names the element. out is then empty.
// Tokens outside TAP's vocabulary are returned as spelt (checking them is the caller's).
int mathml_tokenize(const InkmlDoc *doc, TokenList *out, TapError *err);

// Checks tokens (usually mathml_tokenize's) against doc's symbol segmentation, as multisets of
// symbol classes: each symbol label (normalised, `\\lt` is `<`) must pair with a token that draws
// it (a `-` with `-` or `\\frac`), and each token that draws something (not `{ } _ ^ \\limits` nor
// the brackets of a \\sqrt index) with a symbol. Returns the number left unpaired on either side
// (0 = consistent, or no segmentation) and names the first few in msg (may be NULL), e.g.
// "symbol '\\sqrt', token '-'".
int mathml_check_symbols(const InkmlDoc *doc, const TokenList *tokens, char *msg, size_t size);

// Makes doc's symbol labels follow its MathML where a symbol's href is the xml:id of a MathML
// element: a fraction (mfrac) is drawn by a `-` bar, a root (msqrt, mroot) by `\\sqrt`, a leaf
// by its token (when it converts to exactly one). For aligning a label taken from the MathML
// with the strokes: CROHME 2014 test RIT_2014_309 labels a fraction bar `\\sqrt`. Returns the
// number of labels changed, the first few named in msg ("'47:' \\sqrt -> -"; may be NULL), or
// -1 when out of memory (labels then partly changed, all valid).
int mathml_relabel_symbols(InkmlDoc *doc, char *msg, size_t size);

// 1 when a and b are the same label up to what MathML cannot say: the order of a base's
// subscript and superscript (`x ^ { 2 } _ { 1 }` = `x _ { 1 } ^ { 2 }`) and `\\limits`.
// (For measuring how well the two truths of a file agree.)
int mathml_same_label(const TokenList *a, const TokenList *b);

// Which ground truth the label tokens came from.
typedef enum { TRUTH_LATEX, TRUTH_MATHML } TruthSource;

// The expression's label tokens. The LaTeX truth is used when it is present, well-formed and
// (vocab non-NULL) every token is in vocab. Otherwise the MathML truth is used if it converts and
// every token is in vocab; *src is then TRUTH_MATHML and note says why the LaTeX was refused and
// how the MathML compares with the symbol traceGroups (mathml_check_symbols), for a warning.
// When the MathML is no better, a well-formed LaTeX truth is still returned (TRUTH_LATEX, its
// tokens outside vocab for the caller to report or map) and note says what was wrong with the
// MathML. With neither truth usable the result is TAP_ERR_FORMAT (TAP_ERR_NOMEM on allocation)
// and err says what is wrong with each; out is then empty.
int mathml_choose_truth(const InkmlDoc *doc, const Vocab *vocab, TokenList *out,
                        TruthSource *src, char *note, size_t note_size, TapError *err);

#endif
