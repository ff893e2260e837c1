// CROHME InkML (2011-2019 variants) and MathWriting InkML -> traces, LaTeX and MathML truths and
// symbol segmentation (CROHME), or the normalised label and split tag (MathWriting).
// Parsed with expat (entity expansion off); latin-1 files are accepted.
#ifndef TAP_DATA_INKML_H
#define TAP_DATA_INKML_H

#include "tap.h"

// One traceGroup leaf of the symbol segmentation: a symbol label and the strokes forming it.
typedef struct {
    char *label;   // the symbol's annotation type="truth", e.g. "x", "\\sqrt", "-"
    char *href;    // annotationXML href (MathML xml:id), or NULL
    int n_traces;
    int *traces;   // indices into InkmlDoc's traces (document order, 0-based)
} InkmlSymbol;

// One element of the expression's MathML (<annotationXML type="truth"> directly under <ink>).
typedef struct {
    char *name;       // local element name: "math", "mrow", "mi", "mfrac", ...
    char *text;       // text of an element without child elements, blanks trimmed; else NULL
    char *id;         // xml:id (a symbol's href points to it), or NULL
    int first_child;  // node index, -1 for none
    int next_sibling; // node index, -1 for none
} MathmlNode;

typedef struct {
    char *uid;          // file name without directory and .inkml (TAP's uid)
    char *writer;       // <annotation type="writer"> of the expression, as written, or NULL
    char *truth;        // <annotation type="truth"> of the expression, as written (with $...$), or NULL
    // MathWriting (2024) files carry no "truth" but these (README: "MathWriting"), else NULL:
    char *normalized_label; // <annotation type="normalizedLabel">: unspaced LaTeX, entities decoded
    char *split_tag;        // <annotation type="splitTagOriginal">: train, valid, test, synthetic
    int n_traces;       // traces in document order; trace i = points [trace_start[i], trace_start[i+1])
    int *trace_start;   // (n_traces + 1)
    int n_points;
    double *x, *y;      // (n_points) first two channels of each point
    int n_symbols;
    InkmlSymbol *symbols; // in document order; 0 when the file has no segmentation
    int n_mathml;         // MathML elements in document order; 0 when the file has none
    MathmlNode *mathml;   // node 0 is the first element inside the annotationXML (usually <math>)
    char *mathml_encoding; // its encoding attribute ("Content-MathML", ...), or NULL
} InkmlDoc;

// Parses an InkML file. On failure returns TAP_ERR_IO / TAP_ERR_FORMAT with a one-line message
// (the reason and, for XML errors, the line), and leaves doc empty (safe to free).
int inkml_load(const char *path, InkmlDoc *doc, TapError *err);
// Same, from memory; `name` is used for the uid and messages.
int inkml_parse(const char *buf, size_t len, const char *name, InkmlDoc *doc, TapError *err);
void inkml_free(InkmlDoc *doc);
// The uid a file gets from its path (or name): the part after the last '/', without a final
// ".inkml". Returns its length; *start points into path.
size_t inkml_uid_of(const char *path, const char **start);

// Limits on input (beyond them a file is rejected as absurd, TAP_ERR_ARG).
#define INKML_MAX_POINTS 10000000
#define INKML_MAX_COORD 1e9
#define INKML_MAX_FILE_BYTES (1 << 30)

// Why a parse failed, for tallies of skipped files (the message says it in words).
typedef enum {
    INKML_FAIL_NONE = 0,
    INKML_FAIL_READ,      // the file could not be read
    INKML_FAIL_XML,       // malformed or truncated XML, DOCTYPE/entity declarations
    INKML_FAIL_NO_INK,    // no traces, or an empty trace
    INKML_FAIL_COORD,     // a non-numeric, NaN or infinite coordinate, a point with < 2 numbers
    INKML_FAIL_SIZE,      // > INKML_MAX_POINTS points, |coordinate| > INKML_MAX_COORD, huge file
    INKML_FAIL_STRUCTURE, // a traceView naming an unknown trace, duplicate trace ids
    INKML_FAIL_NOMEM,
    INKML_FAIL_COUNT
} InkmlFail;

// inkml_load / inkml_parse that also report the failure category (why may be NULL).
int inkml_load_why(const char *path, InkmlDoc *doc, InkmlFail *why, TapError *err);
int inkml_parse_why(const char *buf, size_t len, const char *name, InkmlDoc *doc, InkmlFail *why,
                    TapError *err);
// Short name of a category, e.g. "malformed XML".
const char *inkml_fail_str(InkmlFail why);

#endif
