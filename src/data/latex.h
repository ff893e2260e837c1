// CROHME LaTeX truth -> TAP's normalised label tokens.
//
// TAP's labels (train_caption.txt) are the truth with: `$` stripped; every letter and digit a token;
// grouping braces dropped; `_`/`^` arguments, \frac arguments and \sqrt's radicand always braced
// (`a_n` -> `a _ { n }`, `\frac12` -> `\frac { 1 } { 2 }`); \sqrt's index kept as `[ ... ]`;
// \left, \right, \Big... and spacing commands dropped (their delimiters kept, `.` dropped);
// \mbox{...}/\mathrm{...} replaced by their content; synonyms renamed to the vocabulary's
// spelling (\to -> \rightarrow, \lt -> <, \gt -> >, \lbrack -> [, \le -> \leq, \dots -> \ldots).
// Tokens outside the vocabulary (e.g. \Pi) are returned as written: checking them is the caller's.
// Two rules follow TAP's captions rather than TeX (see LatexOptions).
#ifndef TAP_DATA_LATEX_H
#define TAP_DATA_LATEX_H

#include "tap.h"

typedef struct {
    int n;
    char **tok;  // (n) owned NUL-terminated tokens
} TokenList;

typedef struct {
    // A truth that is nothing but a decimal number is written canonically, as TAP's captions do
    // (all 19 such CROHME 2014 training labels): "02" -> 2, "1.40" -> 1 . 4, "37.0" -> 3 7.
    // Off by default: in every one of those files the ink has the zeros (symbols "0 2"), so
    // TAP's label contradicts what was written. On only to reproduce TAP's captions exactly.
    int bare_number_canonical;
    // Function names typed as spaced single letters ("l o g", "l i m", "s i n", "c o s",
    // "t a n", as some MfrDB truths do) are the function token (\log ...), as in TAP's captions
    // and in the files' own symbol segmentation. Unspaced letters ("a_{tan}") stay letters.
    int spaced_function_names;
} LatexOptions;

// spaced_function_names on, bare_number_canonical off (labels follow the ink).
LatexOptions latex_options_default(void);

// Normalises and tokenises one truth string (with or without `$`). Malformed LaTeX (unbalanced
// braces or brackets, an unknown command, a missing argument, nesting deeper than
// LATEX_MAX_DEPTH) is TAP_ERR_FORMAT with a message quoting the offending text; out is then
// empty. Never crashes on any input.
int latex_tokenize(const char *truth, TokenList *out, TapError *err);
// Same with explicit options (opt NULL = latex_options_default()).
int latex_tokenize_with(const char *truth, const LatexOptions *opt, TokenList *out,
                        TapError *err);
// Appends a copy of tok to t (for building lists by hand, e.g. in tests). TAP_ERR_NOMEM on failure.
int token_list_push(TokenList *t, const char *tok, TapError *err);
// The tokens joined by single spaces into buf (TAP's caption format); returns the length needed
// excluding the NUL, like snprintf.
size_t token_list_join(const TokenList *t, char *buf, size_t size);
void token_list_free(TokenList *t);
// An ASCII letter (a command name's characters).
int latex_is_letter(char c);
// Length of the UTF-8 sequence starting at s (1 for ASCII and for invalid bytes): one token.
int latex_utf8_len(const unsigned char *s);

// Canonical labels (README: "Canonical labels"): what the ink cannot show is written one way.
// "^ { A } _ { B }" becomes "_ { B } ^ { A }" (scripts inside A and B too), \limits is dropped,
// and "'" is spelled "\prime". latex_canonical_index writes into idx (room for n) the source
// positions of the canonical tokens, in canonical order, and returns their count (<= n), so a
// caller can carry per-token data (alignments) along.
int latex_canonical_index(const char *const *tok, int n, int *idx);
// The canonical spelling of one token ("'" -> "\prime"; others unchanged, the same pointer).
const char *latex_canonical_spelling(const char *tok);
// Rewrites t in canonical form; *changed (may be NULL) says whether anything changed.
int latex_canonicalize(TokenList *t, int *changed, TapError *err);

#define LATEX_MAX_DEPTH 200

#endif
