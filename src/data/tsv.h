// Token-sequence tables in TAP's text format: one expression per line, "uid<TAB>tok tok tok"
// (any whitespace separates, as TAP's compute-wer.py splits). Used for hypotheses, TAP
// captions and label overrides.
#ifndef TAP_DATA_TSV_H
#define TAP_DATA_TSV_H

#include "tap.h"

typedef struct {
    char *uid;
    int n;       // tokens
    char **tok;  // (n) pointers into the entry's own storage
} TsvEntry;

typedef struct {
    int n;
    TsvEntry *e;  // sorted by uid after tsv_load
    char *store;  // owns every string
    char **tok_store; // owns every entry's token array
} TsvTable;

// Loads and sorts by uid. A duplicate uid, an empty uid or an unreadable file is an error
// naming the file and line.
int tsv_load(const char *path, TsvTable *t, TapError *err);
// Entry for uid, or NULL.
const TsvEntry *tsv_find(const TsvTable *t, const char *uid);
// Rewrites every entry in canonical form (latex.h: sub- before superscript, no \\limits,
// "'" as "\\prime"); returns how many entries changed, or -1 when out of memory (t unchanged).
int tsv_canonicalize(TsvTable *t);
void tsv_free(TsvTable *t);
// Why uid cannot be a uid of these files, or NULL when it can: empty, or it holds a space, a
// tab, a line break or another control character (they would split or end the line). tap prep,
// tap decode and tap render refuse such uids (the file is skipped, naming this reason) rather
// than escape them, so every TSV tap writes reads back as it was written.
const char *tsv_uid_problem(const char *uid);

#endif
