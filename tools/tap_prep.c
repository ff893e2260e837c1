// tap prep: CROHME InkML files -> one HDF5 dataset (src/data/dataset.h) of TAP point features,
// label token ids and per-token stroke alignments. Files are parsed and featurised in parallel
// (pthreads) and written in input order by the main thread, so the output is deterministic.
// A bad input file costs one line on stderr and is skipped; the summary counts skips by reason.
// The label is the LaTeX truth or, when that is missing, malformed or outside the dictionary, the
// MathML truth (src/data/mathml.h), with a warning line naming the file, the reason and the result.
// MathWriting files (src/data/mathwriting.h) are told apart by their normalizedLabel: that is
// the label, --split selects by their splitTagOriginal, and having no symbol segmentation they
// get no stroke alignments. --build-vocab writes the dictionary of the labels' tokens instead
// of a dataset.
// Exit: 0 when something was converted and written, 1 when nothing was or the output failed,
// 2 on bad usage. The output appears under its name only when complete (PATH.tmp + rename).
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "align.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "dataset.h"
#include "feature.h"
#include "inkml.h"
#include "latex.h"
#include "mathml.h"
#include "mathwriting.h"
#include "outfile.h"
#include "prep_inputs.h"
#include "split.h"
#include "tsv.h"
#include "vocab.h"

typedef struct {
    const char *output, *list, *dict, *labels, *unknown, *map_token, *part;
    const char *split;       // MathWriting: only files of this splitTagOriginal, or NULL
    const char *build_vocab; // write a dictionary of the labels' tokens here (no dataset)
    int min_count;           // --build-vocab: tokens seen fewer times are left out
    int threads, quiet, check_truth, holdout_seed, canonical;
    int list_memory; // bytes of input paths and uids kept in memory before they spill
    double holdout;
} PrepOptions;

// Why a file was skipped; REASON_OK means converted.
enum {
    REASON_OK,
    REASON_READ,
    REASON_XML,
    REASON_NO_INK,
    REASON_COORD,
    REASON_SIZE,
    REASON_STRUCTURE,
    REASON_DEGENERATE,
    REASON_NO_TRUTH,
    REASON_LATEX,
    REASON_UNKNOWN_TOKEN,
    REASON_ALIGN,
    REASON_DUPLICATE,
    REASON_NOMEM,
    REASON_UID,
    REASON_COUNT
};

static const char *const reason_names[REASON_COUNT] = {
    "converted",     "unreadable",    "malformed XML",  "no ink",        "bad coordinates",
    "absurd size",   "bad structure", "degenerate ink", "missing truth", "bad LaTeX",
    "unknown token", "alignment",     "duplicate uid",  "out of memory", "bad uid",
};

// ----------------------------------------------------------------------------- one file

// --check-truth: how a file's LaTeX and MathML truths compare.
enum {
    CHECK_NONE,      // not checked (--check-truth off, or the InkML did not parse)
    CHECK_IDENTICAL, // the same tokens
    CHECK_SAME,      // the same up to script order and \limits (mathml_same_label)
    CHECK_DIFFER,
    CHECK_LATEX_ONLY, // the MathML is missing or does not convert
    CHECK_MATHML_ONLY,
    CHECK_NEITHER,
    CHECK_COUNT
};

typedef struct {
    int done, reason, mapped;
    int other_part; // --holdout: the file belongs to the part not written
    int other_split; // --split: the file has another split tag, or none
    int mathwriting; // a MathWriting file (label from normalizedLabel, no alignment)
    TokenList words; // --build-vocab: the label's tokens
    int canonical;  // the label was rewritten in canonical form
    int from_mathml; // the label came from the MathML truth (msg says why)
    int check;       // --check-truth: a TruthCheck
    char *check_msg; // --check-truth: the two labels when they differ
    char msg[2048];  // the skip line, or a warning for a converted file
    int fatal;       // the input list could not be read back (msg says why)
    char *path;      // the input
    char *uid;
    Features feat;
    int n_strokes, n_tokens;
    int *tokens; // (n_tokens)
    Alignment align;
} Result;

typedef struct {
    const PrepOptions *o;
    const Vocab *vocab;
    const TsvTable *labels; // or NULL
    int map_id;             // --map-token id, -1 for skip
    Spill *inputs; // read in order by the workers, under mu
    Result *res;
    pthread_mutex_t mu;
    pthread_cond_t ready, room;
    size_t next, written, window;
    volatile int stop;
} Prep;

static volatile sig_atomic_t g_interrupted = 0; // the signal number
static void on_signal(int sig) { g_interrupted = sig; }

static int inkml_reason(InkmlFail why) {
    switch (why) {
    case INKML_FAIL_READ: return REASON_READ;
    case INKML_FAIL_XML: return REASON_XML;
    case INKML_FAIL_NO_INK: return REASON_NO_INK;
    case INKML_FAIL_COORD: return REASON_COORD;
    case INKML_FAIL_SIZE: return REASON_SIZE;
    case INKML_FAIL_STRUCTURE: return REASON_STRUCTURE;
    default: return REASON_NOMEM;
    }
}

// Token list of the expression: the --labels entry when there is one, else the InkML truth.
static int label_tokens(const Prep *p, const InkmlDoc *doc, const char *path, TokenList *tl,
                        Result *r) {
    TapError err = {0};
    const TsvEntry *e = p->labels ? tsv_find(p->labels, doc->uid) : NULL;
    if (e) {
        for (int i = 0; i < e->n; i++)
            if (token_list_push(tl, e->tok[i], &err) != TAP_OK) {
                r->reason = REASON_NOMEM;
                snprintf(r->msg, sizeof r->msg, "%s: %s", path, err.msg);
                return -1;
            }
        return 0;
    }
    if (mw_is_mathwriting(doc)) { // MathWriting: the normalised label, no MathML to fall back on
        r->mathwriting = 1;
        if (mw_tokenize(doc->normalized_label, tl, &err) == TAP_OK) return 0;
        r->reason = err.code == TAP_ERR_NOMEM ? REASON_NOMEM : REASON_LATEX;
        snprintf(r->msg, sizeof r->msg, "%s: uid %s: normalizedLabel: %s", path, doc->uid,
                 err.msg);
        return -1;
    }
    // The LaTeX truth, or the MathML truth when the LaTeX is missing, malformed or out of
    // the dictionary (--unknown map applies only when neither is in the dictionary).
    TruthSource src;
    char note[900];
    if (mathml_choose_truth(doc, p->vocab, tl, &src, note, sizeof note, &err) != TAP_OK) {
        r->reason = err.code == TAP_ERR_NOMEM ? REASON_NOMEM
                    : doc->truth            ? REASON_LATEX
                                            : REASON_NO_TRUTH;
        if (!doc->truth && doc->n_mathml == 0)
            snprintf(r->msg, sizeof r->msg,
                     "%s: missing truth (no <annotation type=\"truth\">, no MathML%s)", path,
                     p->labels ? ", no --labels entry" : "");
        else
            snprintf(r->msg, sizeof r->msg, "%s: uid %s: %s", path, doc->uid, err.msg);
        return -1;
    }
    if (src == TRUTH_MATHML) {
        char toks[600];
        token_list_join(tl, toks, sizeof toks);
        r->from_mathml = 1;
        snprintf(r->msg, sizeof r->msg, "%s: uid %s: %s: %s", path, doc->uid, note, toks);
    } else if (note[0]) {
        snprintf(r->msg, sizeof r->msg, "%s", note); // appended to the unknown-token line
    }
    return 0;
}

// Token ids; unknown tokens are reported, then skip the file or map to --map-token.
static int token_ids(const Prep *p, const TokenList *tl, const char *path, Result *r) {
    r->n_tokens = tl->n;
    r->tokens = malloc(((size_t)tl->n + 1) * sizeof *r->tokens);
    if (!r->tokens) {
        r->reason = REASON_NOMEM;
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", path);
        return -1;
    }
    char unknown[400] = "", why_not_mathml[600];
    size_t used = 0;
    int n_unknown = 0;
    for (int i = 0; i < tl->n; i++) {
        r->tokens[i] = vocab_id(p->vocab, tl->tok[i]);
        if (r->tokens[i] >= 0) continue;
        n_unknown++;
        if (used < sizeof unknown - 1)
            used += (size_t)snprintf(unknown + used, sizeof unknown - used, "%s'%s'",
                                     n_unknown > 1 ? " " : "", tl->tok[i]);
        r->tokens[i] = p->map_id;
    }
    if (n_unknown == 0) return 0;
    // label_tokens left a note on why the MathML truth did not replace these tokens
    snprintf(why_not_mathml, sizeof why_not_mathml, "%s%.580s", r->msg[0] ? "; " : "", r->msg);
    if (p->map_id < 0) {
        r->reason = REASON_UNKNOWN_TOKEN;
        snprintf(
            r->msg, sizeof r->msg,
            "%s: uid %s: unknown token%s %s (not in %s; --unknown map --map-token T maps them)%s",
            path, r->uid, n_unknown > 1 ? "s" : "", unknown, p->o->dict, why_not_mathml);
        return -1;
    }
    r->mapped = n_unknown;
    snprintf(r->msg, sizeof r->msg, "%s: uid %s: unknown token%s %s mapped to '%s'%s", path,
             r->uid, n_unknown > 1 ? "s" : "", unknown, p->o->map_token, why_not_mathml);
    return 0;
}

// Rewrites r's tokens and alignment in canonical order (latex_canonical_index over the source
// tokens tl, from which both were built), so every token keeps its strokes.
static int canonical_apply(const Prep *p, const TokenList *tl, const char *path, Result *r) {
    int n = tl->n, *idx = malloc(((size_t)n + 1) * sizeof *idx);
    int *tokens = malloc(((size_t)n + 1) * sizeof *tokens);
    int *start = malloc(((size_t)n + 2) * sizeof *start);
    int *strokes = malloc(((size_t)r->align.start[n] + 1) * sizeof *strokes);
    int rc = -1;
    if (!idx || !tokens || !start || !strokes) {
        r->reason = REASON_NOMEM;
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", path);
        goto done;
    }
    int m = latex_canonical_index((const char *const *)tl->tok, n, idx), changed = m != n;
    start[0] = 0;
    for (int k = 0; k < m; k++) {
        int i = idx[k];
        const char *spelled = latex_canonical_spelling(tl->tok[i]);
        tokens[k] = spelled == tl->tok[i] ? r->tokens[i] : vocab_id(p->vocab, spelled);
        if (tokens[k] < 0) tokens[k] = r->tokens[i]; // a dictionary without the spelling
        changed |= i != k || tokens[k] != r->tokens[i];
        int a = r->align.start[i], b = r->align.start[i + 1];
        memcpy(strokes + start[k], r->align.strokes + a, (size_t)(b - a) * sizeof *strokes);
        start[k + 1] = start[k] + b - a;
    }
    if (changed) {
        memcpy(r->tokens, tokens, (size_t)m * sizeof *tokens);
        memcpy(r->align.start, start, ((size_t)m + 1) * sizeof *start);
        memcpy(r->align.strokes, strokes, (size_t)start[m] * sizeof *strokes);
        r->n_tokens = r->align.n_tokens = m;
        r->canonical = 1;
    }
    rc = 0;
done:
    free(idx);
    free(tokens);
    free(start);
    free(strokes);
    return rc;
}

// Converts both truths of doc and records how they compare.
static void check_truth(const InkmlDoc *doc, const char *path, Result *r) {
    TokenList a = {0}, b = {0};
    int la = doc->truth && latex_tokenize(doc->truth, &a, NULL) == TAP_OK;
    int mb = mathml_tokenize(doc, &b, NULL) == TAP_OK;
    if (la && mb) {
        char x[1024], y[1024];
        token_list_join(&a, x, sizeof x);
        token_list_join(&b, y, sizeof y);
        r->check = !strcmp(x, y) ? CHECK_IDENTICAL : mathml_same_label(&a, &b) ? CHECK_SAME
                                                                                : CHECK_DIFFER;
        if (r->check == CHECK_DIFFER) {
            size_t len = strlen(path) + strlen(x) + strlen(y) + 64;
            if ((r->check_msg = malloc(len)))
                snprintf(r->check_msg, len, "%s: LaTeX '%s', MathML '%s'", path, x, y);
        }
    } else {
        r->check = la ? CHECK_LATEX_ONLY : mb ? CHECK_MATHML_ONLY : CHECK_NEITHER;
    }
    token_list_free(&a);
    token_list_free(&b);
}

// --build-vocab: the label's tokens as tap prep would write them (the --labels entry, the
// MathWriting label, the LaTeX truth or else the MathML one; canonical unless --no-canonical).
static void vocab_label(const Prep *p, const InkmlDoc *doc, const char *path, Result *r) {
    TapError err = {0};
    TokenList *tl = &r->words;
    const TsvEntry *e = p->labels ? tsv_find(p->labels, doc->uid) : NULL;
    int rc = TAP_OK;
    if (e || mw_is_mathwriting(doc)) {
        if (label_tokens(p, doc, path, tl, r)) return;
    } else if (!doc->truth || (rc = latex_tokenize(doc->truth, tl, &err)) != TAP_OK) {
        token_list_free(tl);
        if (mathml_tokenize(doc, tl, NULL) != TAP_OK) {
            r->reason = rc == TAP_ERR_NOMEM ? REASON_NOMEM : doc->truth ? REASON_LATEX
                                                                       : REASON_NO_TRUTH;
            snprintf(r->msg, sizeof r->msg, "%s: uid %s: %s", path, doc->uid,
                     doc->truth ? err.msg : "missing truth (no LaTeX, no usable MathML)");
            return;
        }
    }
    if (!p->o->canonical) return;
    // Labels are checked against the dictionary before the canonical rewriting: the spellings
    // it removes (\limits, ') must be in the dictionary too, after the canonical tokens.
    TokenList source = *tl;
    *tl = (TokenList){0};
    int rc2 = TAP_OK;
    for (int k = 0; k < source.n && rc2 == TAP_OK; k++)
        rc2 = token_list_push(tl, source.tok[k], &err);
    if (rc2 == TAP_OK) rc2 = latex_canonicalize(tl, &r->canonical, &err);
    for (int k = 0; k < source.n && rc2 == TAP_OK; k++)
        if (!strcmp(source.tok[k], "\\limits") ||
            latex_canonical_spelling(source.tok[k]) != source.tok[k])
            rc2 = token_list_push(tl, source.tok[k], &err);
    token_list_free(&source);
    if (rc2 != TAP_OK) {
        r->reason = REASON_NOMEM;
        snprintf(r->msg, sizeof r->msg, "%s: %s", path, err.msg);
    }
}

static void process(const Prep *p, const char *path, Result *r) {
    InkmlDoc doc;
    InkmlFail why;
    TapError err = {0};
    TokenList tl = {0};
    if (inkml_load_why(path, &doc, &why, &err) != TAP_OK) {
        r->reason = inkml_reason(why);
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return;
    }
    r->n_strokes = doc.n_traces;
    if (p->o->holdout > 0) {
        int held = split_held_out(doc.uid, doc.writer, p->o->holdout, (uint64_t)p->o->holdout_seed);
        if (held != !strcmp(p->o->part, "holdout")) {
            r->other_part = 1;
            goto done;
        }
    }
    if (p->o->split && mw_split_parse(doc.split_tag) != mw_split_parse(p->o->split)) {
        r->other_split = 1;
        goto done;
    }
    if (p->o->check_truth) check_truth(&doc, path, r);
    if (!(r->uid = strdup(doc.uid))) {
        r->reason = REASON_NOMEM;
        snprintf(r->msg, sizeof r->msg, "%s: out of memory", path);
        goto done;
    }
    const char *bad_uid = tsv_uid_problem(doc.uid);
    if (bad_uid) { // a space, tab or newline would break every uid<TAB>tokens file
        r->reason = REASON_UID;
        snprintf(r->msg, sizeof r->msg, "%s: unusable uid: %s (rename the file)", path, bad_uid);
        goto done;
    }
    if (p->o->build_vocab) {
        vocab_label(p, &doc, path, r);
        goto done;
    }
    if (feature_compute(&doc, &r->feat, &err) != TAP_OK) {
        r->reason = err.code == TAP_ERR_NOMEM ? REASON_NOMEM : REASON_DEGENERATE;
        snprintf(r->msg, sizeof r->msg, "%s: %s", path, err.msg);
        goto done;
    }
    if (label_tokens(p, &doc, path, &tl, r) || token_ids(p, &tl, path, r)) goto done;
    if (r->from_mathml) {
        // symbols are matched to tokens by class: their labels follow the MathML too
        char changed[300];
        int n = mathml_relabel_symbols(&doc, changed, sizeof changed);
        size_t used = strlen(r->msg);
        if (n < 0) {
            r->reason = REASON_NOMEM;
            snprintf(r->msg, sizeof r->msg, "%s: out of memory", path);
            goto done;
        }
        if (n > 0 && used < sizeof r->msg)
            snprintf(r->msg + used, sizeof r->msg - used,
                     " (symbol label%s changed to follow the MathML: %s)", n > 1 ? "s" : "",
                     changed);
    }
    if (align_build(&tl, &doc, &r->align, &err) != TAP_OK) {
        r->reason = err.code == TAP_ERR_NOMEM ? REASON_NOMEM : REASON_ALIGN;
        snprintf(r->msg, sizeof r->msg, "%s: alignment: %s", path, err.msg);
        goto done;
    }
    if (p->o->canonical) canonical_apply(p, &tl, path, r);
done:
    token_list_free(&tl);
    inkml_free(&doc);
}

static void result_clear(Result *r) {
    free(r->path);
    free(r->uid);
    free(r->check_msg);
    free(r->tokens);
    token_list_free(&r->words);
    feature_free(&r->feat);
    alignment_free(&r->align);
    memset(r, 0, sizeof *r);
}

static void *worker(void *arg) {
    Prep *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->inputs->n && p->next >= p->written + p->window)
            pthread_cond_wait(&p->room, &p->mu);
        if (p->stop || p->next >= p->inputs->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        size_t i = p->next++;
        // input i is the list's next record: read it under the lock, in order
        Result r = {0};
        const unsigned char *rec;
        size_t len;
        TapError err = {0};
        int got = spill_next(p->inputs, &rec, &len, &err);
        if (got == 1 && !(r.path = strdup((const char *)rec)))
            got = tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        pthread_mutex_unlock(&p->mu);
        if (got == 1) {
            process(p, r.path, &r);
        } else {
            r.fatal = 1;
            snprintf(r.msg, sizeof r.msg, "%s",
                     got == 0 ? "the list of inputs ended early" : err.msg);
        }
        pthread_mutex_lock(&p->mu);
        p->res[i % p->window] = r;
        p->res[i % p->window].done = 1;
        pthread_cond_broadcast(&p->ready);
        pthread_mutex_unlock(&p->mu);
    }
}

// ----------------------------------------------------------------------------- main

// One run, stage by stage: what the stages share beside the workers' Prep.
typedef struct {
    const PrepOptions *o;
    Vocab vocab;
    TsvTable labels;
    // The input paths in order and the uid records, bounded by --list-memory (spill.h): a
    // quarter each for them, each directory's entries, and the duplicate check
    SpillBudget walk_mem, path_mem, uid_mem, repeat_mem;
    char tmp_dir[4096]; // where they spill when $TMPDIR is not set: the output's directory
    Spill inputs, uids;
    Repeats repeats;
    Prep p;
    DatasetWriter *w;
    pthread_t *th; // (started)
    int started;
    struct sigaction old_int, old_term;
    VocabCounter counter; // --build-vocab: token counts
    size_t n_other_split, n_mathwriting;
    // the tally of the write loop
    size_t counts[REASON_COUNT], checks[CHECK_COUNT];
    size_t mapped, from_mathml, n_other, n_canonical;
    int write_failed;
    double t0;
} PrepRun;

// The checks cli_parse cannot make. Returns 0, or 2 (usage) with msg set.
static int check_options(const PrepOptions *o, char *msg, size_t len) {
    if (o->build_vocab && o->output)
        snprintf(msg, len, "--build-vocab writes a dictionary, not a dataset: leave out -o, then "
                           "run tap prep again with --dict");
    else if (!o->build_vocab && (!o->output || !*o->output))
        snprintf(msg, len, "no output file (-o OUT.h5, or --build-vocab OUT.txt)");
    else if (o->split && mw_split_parse(o->split) < 0)
        snprintf(msg, len, "--split must be train, valid, test or synthetic, got '%s'", o->split);
    else if (o->min_count < 1)
        snprintf(msg, len, "--min-count must be >= 1");
    else if (strcmp(o->unknown, "skip") && strcmp(o->unknown, "map"))
        snprintf(msg, len, "--unknown must be skip or map, got '%s'", o->unknown);
    else if (!strcmp(o->unknown, "map") && !o->map_token)
        snprintf(msg, len, "--unknown map needs --map-token TOKEN");
    else if (!(o->holdout >= 0 && o->holdout <= 100))
        snprintf(msg, len, "--holdout must be a percentage in [0, 100]");
    else if (strcmp(o->part, "rest") && strcmp(o->part, "holdout"))
        snprintf(msg, len, "--part must be rest or holdout, got '%s'", o->part);
    else if (o->threads < 0)
        snprintf(msg, len, "--threads must be >= 0");
    else if (o->list_memory < 1)
        snprintf(msg, len, "--list-memory must be >= 1");
    else
        return 0;
    return 2;
}

// The positional inputs in order, then the --list ones, into run->inputs and run->uids
// (prep_inputs.h); then the output check: it may be none of the inputs (InkML, --list, --labels,
// --dict) and must be a regular file if it exists (outfile_check). Then the duplicate check's
// groups. Returns 0, or the exit status with msg.
static int collect_inputs(PrepRun *run, char **pos, int n_pos, char *msg, size_t len) {
    const PrepOptions *o = run->o;
    const char *out = o->output ? o->output : o->build_vocab;
    char *dir = run->tmp_dir; // the temporary files' directory: $TMPDIR, else the output's
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) outfile_dir_of(out, dir, sizeof run->tmp_dir);
    size_t quarter = (size_t)o->list_memory / 4 ? (size_t)o->list_memory / 4 : 1;
    SpillBudget *b[] = {&run->walk_mem, &run->path_mem, &run->uid_mem, &run->repeat_mem};
    for (int k = 0; k < 4; k++) *b[k] = (SpillBudget){quarter, 0, tmp && *tmp ? NULL : dir};
    spill_init(&run->inputs, &run->path_mem, 0);
    spill_init(&run->uids, &run->uid_mem, 1);
    PrepInputs c;
    prep_inputs_init(&c, &run->inputs, &run->uids, &run->walk_mem, out);
    int status = prep_inputs_collect(&c, pos, n_pos, o->list, msg, len);
    if (status == 0 && run->inputs.n == 0) {
        snprintf(msg, len, "no input files (give InkML files, directories or --list FILE)");
        status = 2;
    }
    // c.out_is (NULL unless an input is the output) goes through the same check, and message
    const char *files[] = {o->list, o->labels, o->dict, c.out_is};
    TapError err = {0};
    if (status == 0 && outfile_check(out, files, 4, &err) != TAP_OK) {
        snprintf(msg, len, "%s", err.msg);
        status = 1;
    }
    free(c.out_is);
    if (status == 0 && (spill_finish(&run->inputs, &err) != TAP_OK ||
                        repeats_build(&run->repeats, &run->uids, &run->repeat_mem, &err) != TAP_OK)) {
        snprintf(msg, len, "%s", err.msg);
        status = 1;
    }
    return status;
}

// The dictionary, the --map-token id and the --labels table. Returns 0 or the exit status
// (messages printed).
static int load_dictionary_and_labels(PrepRun *run) {
    const PrepOptions *o = run->o;
    TapError err = {0};
    if (o->build_vocab) { // no dictionary yet: this run makes one
    } else if (vocab_load(o->dict, &run->vocab, &err) != TAP_OK) {
        fprintf(stderr,
                "tap prep: error: dictionary: %s (use --dict FILE; TAP's is data/dictionary.txt)\n",
                err.msg);
        return 1;
    }
    if (o->map_token && !strcmp(o->unknown, "map") &&
        (run->p.map_id = vocab_id(&run->vocab, o->map_token)) < 0) {
        fprintf(stderr, "tap prep: error: --map-token '%s' is not in %s\n", o->map_token, o->dict);
        return 2;
    }
    if (o->labels) {
        if (tsv_load(o->labels, &run->labels, &err) != TAP_OK) {
            fprintf(stderr, "tap prep: error: labels: %s\n", err.msg);
            return 1;
        }
        run->p.labels = &run->labels;
    }
    return 0;
}

static void restore_signals(const PrepRun *run) {
    sigaction(SIGINT, &run->old_int, NULL);
    sigaction(SIGTERM, &run->old_term, NULL);
}

// Opens the output and starts the workers. Returns 0, or 1 (messages printed). No thread
// started at all is reported here and fails the write loop, which then writes nothing.
static int start_workers(PrepRun *run) {
    Prep *p = &run->p;
    int n_threads = run->o->threads ? run->o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1) n_threads = 1;
    if ((size_t)n_threads > run->inputs.n) n_threads = (int)run->inputs.n;
    p->o = run->o;
    p->vocab = &run->vocab;
    p->inputs = &run->inputs;
    p->window = (size_t)n_threads * 64; // results waiting to be written, bounded for memory
    p->res = calloc(p->window, sizeof *p->res);
    run->th = calloc((size_t)n_threads, sizeof *run->th);
    if (!p->res || !run->th) {
        fprintf(stderr, "tap prep: error: out of memory\n");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &run->old_int);
    sigaction(SIGTERM, &sa, &run->old_term);
    TapError err = {0};
    // The writer deflates on as many threads again as parse (most of the work of writing).
    if (!run->o->build_vocab &&
        (dataset_writer_open(&run->w, run->o->output, (const char *const *)run->vocab.tokens,
                             run->vocab.n, &err) != TAP_OK ||
         dataset_writer_set_threads(run->w, n_threads, &err) != TAP_OK)) {
        fprintf(stderr, "tap prep: error: %s\n", err.msg);
        restore_signals(run);
        return 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->room, NULL);
    for (; run->started < n_threads; run->started++)
        if (pthread_create(&run->th[run->started], NULL, worker, p)) break;
    run->write_failed = run->started == 0;
    if (run->started == 0) fprintf(stderr, "tap prep: error: cannot start threads\n");
    return 0;
}

// Waits for the result in r. Returns 0 when interrupted instead.
static int wait_result(Prep *p, const Result *r) {
    pthread_mutex_lock(&p->mu);
    while (!r->done && !g_interrupted) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p->ready, &p->mu, &until);
    }
    pthread_mutex_unlock(&p->mu);
    return !g_interrupted;
}

// Writes converted input i and, when its uid repeats (group >= 0), marks the uid converted.
static void write_result(PrepRun *run, int64_t group, Result *r) {
    if (r->mapped || r->from_mathml) fprintf(stderr, "tap prep: warning: %s\n", r->msg);
    run->mapped += (size_t)r->mapped;
    run->from_mathml += (size_t)r->from_mathml;
    run->n_canonical += (size_t)r->canonical;
    TapError err = {0};
    if (run->o->build_vocab) {
        for (int k = 0; k < r->words.n && !run->write_failed; k++)
            if (vocab_counter_add(&run->counter, r->words.tok[k], &err) != TAP_OK) {
                fprintf(stderr, "tap prep: error: %s: %s\n", r->path, err.msg);
                run->write_failed = 1;
            }
    } else {
        DatasetEntry e = {.uid = r->uid,
                          .source = r->path,
                          .n_rows = r->feat.n_rows,
                          .features = r->feat.f,
                          .point_stroke = r->feat.stroke,
                          .n_strokes = r->n_strokes,
                          .n_tokens = r->n_tokens,
                          .tokens = r->tokens,
                          .align_start = r->align.start,
                          .align_strokes = r->align.strokes};
        if (dataset_writer_add(run->w, &e, &err) != TAP_OK) {
            fprintf(stderr, "tap prep: error: %s\n", err.msg);
            run->write_failed = 1;
            return;
        }
    }
    run->n_mathwriting += (size_t)r->mathwriting;
    if (group >= 0 && spill_bits_set(&run->repeats.converted, (size_t)group, &err) != TAP_OK) {
        fprintf(stderr, "tap prep: error: %s\n", err.msg);
        run->write_failed = 1;
    }
}

// Reports input i's result, writes it when converted, and counts it.
static void take_result(PrepRun *run, size_t i, Result *r) {
    TapError err = {0};
    uint64_t g = 0;
    int repeats = r->fatal ? 0 : repeats_group(&run->repeats, i, &g, &err), seen = 0;
    if (repeats == 1 && r->reason == REASON_OK && !r->other_part && !r->other_split)
        seen = spill_bits_get(&run->repeats.converted, (size_t)g, &err);
    if (r->fatal || repeats < 0 || seen < 0) {
        fprintf(stderr, "tap prep: error: %s\n", r->fatal ? r->msg : err.msg);
        run->write_failed = 1;
        return;
    }
    if (r->other_part) {
        run->n_other++;
    } else if (r->other_split) {
        run->n_other_split++;
    } else {
        if (r->reason == REASON_OK && seen == 1) {
            r->reason = REASON_DUPLICATE;
            snprintf(r->msg, sizeof r->msg, "%s: uid %s was already converted from an earlier file",
                     r->path, r->uid);
        }
        if (r->reason != REASON_OK)
            fprintf(stderr, "tap prep: skipping %s\n", r->msg);
        else
            write_result(run, repeats == 1 ? (int64_t)g : -1, r);
        run->counts[r->reason]++;
    }
    run->checks[r->check]++;
    if (r->check_msg) fprintf(stderr, "tap prep: truths differ: %s\n", r->check_msg);
}

// Takes the results in input order. An interrupt ends the process here.
static void write_loop(PrepRun *run) {
    Prep *p = &run->p;
    double last_report = run->t0 = tap_now_seconds();
    for (size_t i = 0; i < run->inputs.n && !run->write_failed; i++) {
        Result *r = &p->res[i % p->window];
        if (!wait_result(p, r)) break;
        take_result(run, i, r);
        pthread_mutex_lock(&p->mu);
        result_clear(r);
        p->written = i + 1;
        pthread_cond_broadcast(&p->room);
        pthread_mutex_unlock(&p->mu);
        double t = tap_now_seconds();
        if (!run->o->quiet && t - last_report > 2.0) {
            fprintf(stderr, "tap prep: %zu / %zu files\n", i + 1, run->inputs.n);
            last_report = t;
        }
    }
    if (g_interrupted) {
        // A worker may be blocked in a read (a FIFO, a stalled network file): remove the
        // temporary output and leave without waiting for it.
        dataset_writer_abort(run->w);
        fprintf(stderr, "tap prep: interrupted; %s was not written\n", run->o->output);
        fflush(stdout);
        fflush(stderr);
        _exit(128 + g_interrupted);
    }
}

static void stop_workers(PrepRun *run) {
    Prep *p = &run->p;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < run->started; t++) pthread_join(run->th[t], NULL);
    for (size_t k = 0; k < p->window; k++) result_clear(&p->res[k]);
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->mu);
}

static size_t n_skipped(const PrepRun *run) {
    size_t skipped = 0;
    for (int k = 1; k < REASON_COUNT; k++) skipped += run->counts[k];
    return skipped;
}

// Commits the output, or removes it when a write failed or nothing was converted. Returns the
// exit status.
static int finish_output(PrepRun *run) {
    if (run->o->build_vocab) {
        if (run->write_failed || run->counts[REASON_OK] == 0) {
            if (!run->write_failed)
                fprintf(stderr,
                        "tap prep: error: no label read (%zu files skipped); %s was not "
                        "written\n",
                        n_skipped(run), run->o->build_vocab);
            return 1;
        }
        TapError err = {0};
        int n_tok = 0, n_drop = 0;
        if (vocab_counter_write(&run->counter, run->o->build_vocab, run->o->min_count, &n_tok,
                                &n_drop, &err) != TAP_OK) {
            fprintf(stderr, "tap prep: error: %s\n", err.msg);
            return 1;
        }
        printf("tap prep: wrote %s: %d tokens (<eol> first, then by count) from %zu labels in "
               "%.2f s",
               run->o->build_vocab, n_tok, run->counts[REASON_OK], tap_now_seconds() - run->t0);
        if (n_drop)
            printf("; %d token%s seen fewer than %d times left out, '<unk>' added", n_drop,
                   n_drop > 1 ? "s" : "", run->o->min_count);
        printf("\n");
        return 0;
    }
    DatasetWriter *w = run->w;
    run->w = NULL;
    if (run->write_failed || run->counts[REASON_OK] == 0) {
        dataset_writer_abort(w);
        if (!run->write_failed)
            fprintf(stderr,
                    "tap prep: error: nothing converted (%zu files skipped); %s was not written\n",
                    n_skipped(run), run->o->output);
        return 1;
    }
    int n_expr = dataset_writer_count(w);
    TapError err = {0};
    if (dataset_writer_close(w, &err) != TAP_OK) {
        fprintf(stderr, "tap prep: error: %s\n", err.msg);
        return 1;
    }
    printf("tap prep: wrote %s: %d expressions in %.2f s\n", run->o->output, n_expr,
           tap_now_seconds() - run->t0);
    return 0;
}

static void print_truth_check(const size_t *checks /* (CHECK_COUNT) */) {
    size_t both = checks[CHECK_IDENTICAL] + checks[CHECK_SAME] + checks[CHECK_DIFFER];
    double d = both ? 100.0 / (double)both : 0.0;
    printf("tap prep: truth check: %zu files with a LaTeX and a MathML truth that convert: "
           "%zu identical (%.2f%%), %zu more the same up to script order and \\limits "
           "(%.2f%% in all), %zu differ; %zu LaTeX only, %zu MathML only, %zu neither\n",
           both, checks[CHECK_IDENTICAL], d * (double)checks[CHECK_IDENTICAL], checks[CHECK_SAME],
           d * (double)(checks[CHECK_IDENTICAL] + checks[CHECK_SAME]), checks[CHECK_DIFFER],
           checks[CHECK_LATEX_ONLY], checks[CHECK_MATHML_ONLY], checks[CHECK_NEITHER]);
}

static void print_summary(const PrepRun *run) {
    const PrepOptions *o = run->o;
    size_t skipped = n_skipped(run);
    printf("tap prep: %zu files: %zu converted, %zu skipped",
           run->inputs.n - run->n_other - run->n_other_split,
           run->counts[REASON_OK], skipped);
    const char *sep = " (";
    for (int k = 1; k < REASON_COUNT; k++)
        if (run->counts[k]) {
            printf("%s%zu %s", sep, run->counts[k], reason_names[k]);
            sep = ", ";
        }
    printf("%s\n", skipped ? ")" : "");
    if (o->canonical)
        printf("tap prep: %zu label%s written in canonical form (--no-canonical keeps them as "
               "written)\n",
               run->n_canonical, run->n_canonical == 1 ? "" : "s");
    if (o->holdout > 0)
        printf("tap prep: --holdout %g --holdout-seed %d: wrote the %s part; %zu files belong to "
               "the %s part\n",
               o->holdout, o->holdout_seed, o->part, run->n_other,
               strcmp(o->part, "rest") ? "rest" : "holdout");
    if (run->mapped)
        printf("tap prep: %zu unknown tokens mapped to '%s'\n", run->mapped, o->map_token);
    if (run->from_mathml)
        printf("tap prep: %zu label%s taken from the MathML truth (LaTeX truth missing, malformed "
               "or outside the dictionary; see the warnings)\n",
               run->from_mathml, run->from_mathml > 1 ? "s" : "");
    if (o->split)
        printf("tap prep: --split %s: %zu files of other splits (or without a splitTagOriginal) "
               "left out\n",
               o->split, run->n_other_split);
    if (run->n_mathwriting && !o->build_vocab)
        printf("tap prep: %zu MathWriting file%s (label from normalizedLabel; no symbol "
               "segmentation, so no stroke alignments: training skips the attention guidance)\n",
               run->n_mathwriting, run->n_mathwriting > 1 ? "s" : "");
    if (o->check_truth) print_truth_check(run->checks);
    fflush(stdout);
}

// Converts every input and writes the output. Returns the exit status.
static int convert_all(PrepRun *run) {
    if (start_workers(run)) return 1;
    write_loop(run);
    stop_workers(run);
    int status = finish_output(run);
    restore_signals(run);
    print_summary(run);
    return status;
}

static void prep_run_free(PrepRun *run) {
    if (run->w) dataset_writer_abort(run->w);
    repeats_free(&run->repeats);
    spill_free(&run->uids);
    spill_free(&run->inputs);
    vocab_counter_free(&run->counter);
    free(run->th);
    free(run->p.res);
    tsv_free(&run->labels);
    vocab_free(&run->vocab);
}

// Accepts -o as a short form of --output (the shared parser takes long options only).
int tap_prep_main(int argc, char **argv) {
    PrepOptions o = {.dict = "data/dictionary.txt", .unknown = "skip", .part = "rest",
                     .holdout_seed = 1, .canonical = 1, .min_count = 1,
                     .list_memory = 4 << 20};
    const CliOption opts[] = {
        {"output", CLI_STRING, &o.output, "output HDF5 file (-o)"},
        {"list", CLI_STRING, &o.list, "file with one InkML path (or directory) per line"},
        {"dict", CLI_STRING, &o.dict, "TAP dictionary, token<TAB>id lines"},
        {"labels", CLI_STRING, &o.labels, "uid<TAB>tokens file overriding the InkML truth"},
        {"unknown", CLI_STRING, &o.unknown,
         "token outside the dictionary: skip the file, or map it"},
        {"map-token", CLI_STRING, &o.map_token,
         "token that unknown tokens become with --unknown map"},
        {"threads", CLI_INT, &o.threads, "worker threads, 0 = all cores"},
        {"list-memory", CLI_INT, &o.list_memory,
         "bytes of input paths and uids kept in memory; beyond, they are sorted and kept in "
         "temporary files in $TMPDIR (else beside the output)"},
        {"quiet", CLI_FLAG, &o.quiet, "no configuration echo or progress"},
        {"check-truth", CLI_FLAG, &o.check_truth,
         "also compare every file's LaTeX and MathML truths: a line per difference, a tally"},
        {"canonical", CLI_FLAG, &o.canonical,
         "canonical labels: sub- before superscript, no \\limits, ' as \\prime (--no-canonical: "
         "as written)"},
        {"holdout", CLI_DOUBLE, &o.holdout,
         "hold out this percent of the writers (files without a writer: of the expressions)"},
        {"holdout-seed", CLI_INT, &o.holdout_seed, "seed of the --holdout rule"},
        {"part", CLI_STRING, &o.part, "with --holdout: write the rest or the holdout part"},
        {"split", CLI_STRING, &o.split,
         "only MathWriting files whose splitTagOriginal is train, valid, test or synthetic"},
        {"build-vocab", CLI_STRING, &o.build_vocab,
         "instead of a dataset, write the dictionary of the labels' tokens (token<TAB>id, "
         "<eol> = 0, most frequent first) to this file"},
        {"min-count", CLI_INT, &o.min_count,
         "with --build-vocab: leave out tokens seen fewer times (then '<unk>' is added)"},
    };
    const CliSpec spec = {
        "prep", "[options] INPUT... -o OUT.h5",
        "Convert InkML files and directories (searched for *.inkml) to an HDF5 dataset. Labels are "
        "the LaTeX truth, or the MathML truth when the LaTeX is missing, malformed or outside the "
        "dictionary (one warning line per such file). MathWriting files are recognised by their "
        "normalizedLabel; --build-vocab OUT.txt writes a dictionary of the corpus instead.",
        opts,
        (int)(sizeof opts / sizeof opts[0])};
    char **args = cli_short_o(argc, argv), **pos = NULL, msg[1024] = "";
    int n_pos = 0;
    PrepRun run = {.o = &o, .p = {.map_id = -1}};
    if (!args) {
        fprintf(stderr, "tap prep: error: out of memory\n");
        return 1;
    }
    int rc = cli_parse(&spec, argc, args, &pos, &n_pos, msg, sizeof msg, stdout);
    if (rc == CLI_HELP) {
        free(pos);
        free(args);
        return 0;
    }
    int status = rc != CLI_OK ? 2 : check_options(&o, msg, sizeof msg);
    if (status == 0) status = collect_inputs(&run, pos, n_pos, msg, sizeof msg);
    if (status) {
        fprintf(stderr, "tap prep: error: %s\n", msg);
        if (status == 2) cli_print_help(&spec, stderr);
    } else if ((status = load_dictionary_and_labels(&run)) == 0) {
        if (!o.quiet) cli_print_config(&spec, stderr, "tap prep: ");
        status = convert_all(&run);
    }
    prep_run_free(&run);
    free(pos);
    free(args);
    return status;
}
