// tap eval HYP REF: expression recognition rate (ExpRate), <=1/<=2/<=3 error rates and WER of
// a hypothesis file against references, as TAP's compute-wer.py but stricter: every reference
// is scored, and a missing hypothesis counts as an error (TAP silently drops it). References are
// a TSV like the hypotheses or an HDF5 dataset from `tap prep` (its labels, spelled through the
// vocabulary stored in it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "metrics.h"
#include "outfile.h"
#include "recognize.h"
#include "tsv.h"

typedef struct {
    const char *details, *seen;
    int top, canonical;
} EvalOptions;

// One edit, as "kind\tref\thyp" for counting by sorting.
typedef struct {
    char **items;
    size_t n, cap;
} EditLog;

static int log_edit(EditLog *l, const char *kind, const char *ref, const char *hyp) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    size_t len = strlen(kind) + strlen(ref) + strlen(hyp) + 3;
    char *s = malloc(len);
    if (!s) return -1;
    snprintf(s, len, "%s\t%s\t%s", kind, ref, hyp);
    l->items[l->n++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    const char *key;
    size_t count;
} Count;

static int by_count(const void *a, const void *b) {
    const Count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->key, y->key);
}

// Prints the `top` most frequent edits of one kind ("sub", "del", "ins").
static void print_top(const EditLog *l, const char *kind, const char *title, int top) {
    Count *c = malloc((l->n + 1) * sizeof *c);
    if (!c) return;
    size_t nc = 0, klen = strlen(kind);
    for (size_t i = 0; i < l->n;) {
        size_t j = i;
        while (j < l->n && !strcmp(l->items[j], l->items[i])) j++;
        if (!strncmp(l->items[i], kind, klen) && l->items[i][klen] == '\t')
            c[nc++] = (Count){l->items[i] + klen + 1, j - i};
        i = j;
    }
    qsort(c, nc, sizeof *c, by_count);
    printf("\nmost frequent %s:\n", title);
    if (nc == 0) printf("  (none)\n");
    for (size_t i = 0; i < nc && (int)i < top; i++) {
        const char *ref = c[i].key, *tab = strchr(ref, '\t');
        int rlen = (int)(tab - ref);
        if (!strcmp(kind, "sub")) printf("  %6zu  %.*s -> %s\n", c[i].count, rlen, ref, tab + 1);
        else if (!strcmp(kind, "del")) printf("  %6zu  %.*s\n", c[i].count, rlen, ref);
        else printf("  %6zu  %s\n", c[i].count, tab + 1);
    }
    free(c);
}

static void fprint_tokens(FILE *f, const TsvEntry *e) {
    for (int i = 0; e && i < e->n; i++) fprintf(f, "%s%s", i ? " " : "", e->tok[i]);
}

int tap_eval_main(int argc, char **argv) {
    EvalOptions o = {.details = NULL, .top = 10};
    const CliOption opts[] = {
        {"details", CLI_STRING, &o.details,
         "write a per-expression TSV (uid, distance, ref_len, hyp_len, missing, ref, hyp)"},
        {"top", CLI_INT, &o.top, "how many of the most frequent edits to list"},
        {"canonical", CLI_FLAG, &o.canonical,
         "write both sides in canonical form first (sub- before superscript, no \\limits, ' as "
         "\\prime), as tap prep does by default"},
        {"seen", CLI_STRING, &o.seen,
         "training labels (TSV or dataset): also score the references whose label occurs there "
         "verbatim and those whose label does not, apart"},
    };
    const CliSpec spec = {"eval", "[options] HYPOTHESES REFERENCES",
                          "Score hypotheses (uid<TAB>tokens) against references (the same format, "
                          "or an HDF5 dataset).",
                          opts, (int)(sizeof opts / sizeof opts[0])};
    char msg[512];
    CliArgs a;
    int rc = cli_args_parse(&a, &spec, argc, argv, 0, msg, sizeof msg);
    if (rc == CLI_OK && a.n_pos != 2) {
        snprintf(msg, sizeof msg, "expected HYPOTHESES and REFERENCES, got %d file(s)", a.n_pos);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && o.top < 0) {
        snprintf(msg, sizeof msg, "--top must be >= 0");
        rc = CLI_USAGE;
    }
    if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
    char **pos = a.pos;
    TsvTable hyp = {0}, ref = {0}, train = {0};
    char **train_labels = NULL;
    TapError err;
    int status = 1;
    OutFile dout = {0};
    FILE *details = NULL;
    EditLog log = {0};
    int *scratch = NULL;
    EditOp *ops = NULL;
    if (tsv_load(pos[0], &hyp, &err) || rec_refs_load(pos[1], &ref, &err)) {
        fprintf(stderr, "tap eval: error: %s\n", err.msg);
        goto done;
    }
    if (ref.n == 0) {
        fprintf(stderr, "tap eval: error: %s: no references\n", pos[1]);
        goto done;
    }
    if (o.seen && rec_refs_load(o.seen, &train, &err)) {
        fprintf(stderr, "tap eval: error: --seen: %s\n", err.msg);
        goto done;
    }
    int canon_ref = 0, canon_hyp = 0;
    if (o.canonical &&
        ((canon_ref = tsv_canonicalize(&ref)) < 0 || (canon_hyp = tsv_canonicalize(&hyp)) < 0 ||
         tsv_canonicalize(&train) < 0)) {
        fprintf(stderr, "tap eval: error: out of memory\n");
        goto done;
    }
    if (train.n > 0) {
        if (!(train_labels = calloc((size_t)train.n, sizeof *train_labels))) {
            fprintf(stderr, "tap eval: error: out of memory\n");
            goto done;
        }
        for (int i = 0; i < train.n; i++) {
            const TsvEntry *t = &train.e[i];
            if (!(train_labels[i] = rec_join((const char *const *)t->tok, t->n))) {
                fprintf(stderr, "tap eval: error: out of memory\n");
                goto done;
            }
        }
        qsort(train_labels, (size_t)train.n, sizeof *train_labels, cmp_str);
    }
    if (o.details) {
        if (outfile_check(o.details, (const char *const *)pos, 2, &err) != TAP_OK ||
            outfile_open(&dout, o.details, &err) != TAP_OK) {
            fprintf(stderr, "tap eval: error: %s\n", err.msg);
            goto done;
        }
        details = dout.f;
    }
    if (details) fprintf(details, "uid\tdistance\tref_len\thyp_len\tmissing\tref\thyp\n");
    int max_r = 0, max_h = 0;
    for (int i = 0; i < ref.n; i++) max_r = ref.e[i].n > max_r ? ref.e[i].n : max_r;
    for (int i = 0; i < hyp.n; i++) max_h = hyp.e[i].n > max_h ? hyp.e[i].n : max_h;
    scratch = malloc((size_t)(max_r + 1) * (size_t)(max_h + 1) * sizeof *scratch);
    ops = malloc((size_t)(max_r + max_h + 1) * sizeof *ops);
    if (!scratch || !ops) {
        fprintf(stderr, "tap eval: error: out of memory\n");
        goto done;
    }
    EvalTotals tot = {0}, part[2] = {{0}}; // part: unseen, seen (--seen)
    for (int i = 0; i < ref.n; i++) {
        const TsvEntry *r = &ref.e[i], *h = tsv_find(&hyp, r->uid);
        int n_ops = 0;
        int dist = edit_distance((const char *const *)r->tok, r->n,
                                 h ? (const char *const *)h->tok : NULL, h ? h->n : 0, scratch, ops,
                                 &n_ops);
        eval_add(&tot, dist, r->n, h == NULL);
        if (o.seen) {
            char *label = rec_join((const char *const *)r->tok, r->n);
            if (!label) {
                fprintf(stderr, "tap eval: error: out of memory\n");
                goto done;
            }
            int seen = train_labels && bsearch(&label, train_labels, (size_t)train.n,
                                               sizeof *train_labels, cmp_str) != NULL;
            free(label);
            eval_add(&part[seen], dist, r->n, h == NULL);
        }
        for (int k = 0; k < n_ops; k++) {
            int bad = 0;
            if (ops[k].kind == EDIT_SUB) bad = log_edit(&log, "sub", r->tok[ops[k].ref], h->tok[ops[k].hyp]);
            else if (ops[k].kind == EDIT_DEL) bad = log_edit(&log, "del", r->tok[ops[k].ref], "");
            else if (ops[k].kind == EDIT_INS) bad = log_edit(&log, "ins", "", h->tok[ops[k].hyp]);
            if (bad) {
                fprintf(stderr, "tap eval: error: out of memory\n");
                goto done;
            }
        }
        if (details) {
            fprintf(details, "%s\t%d\t%d\t%d\t%d\t", r->uid, dist, r->n, h ? h->n : 0, h == NULL);
            fprint_tokens(details, r);
            fputc('\t', details);
            fprint_tokens(details, h);
            fputc('\n', details);
        }
    }
    int extra = 0;
    for (int i = 0; i < hyp.n; i++) extra += tsv_find(&ref, hyp.e[i].uid) == NULL;
    printf("expressions   %ld\n", tot.n);
    printf("ExpRate       %6.2f%%  (%ld exact)\n", eval_exprate(&tot), tot.within[0]);
    for (int k = 1; k <= 3; k++)
        printf("<=%d error%s   %6.2f%%  (%ld)\n", k, k > 1 ? "s" : " ", eval_within(&tot, k), tot.within[k]);
    printf("WER           %6.2f%%  (%ld edits / %ld reference tokens)\n", eval_wer(&tot), tot.edits,
           tot.ref_tokens);
    printf("missing       %ld  (hypotheses absent: scored as errors)\n", tot.missing);
    if (extra) printf("ignored       %d  (hypotheses with no reference)\n", extra);
    const char *part_name[2] = {"unseen", "seen"};
    for (int k = 0; o.seen && k < 2; k++)
        printf("%-13s %ld expressions, ExpRate %6.2f%%  (%ld exact), WER %6.2f%%  (labels %s %s)\n",
               part_name[k], part[k].n, part[k].n ? eval_exprate(&part[k]) : 0.0,
               part[k].within[0], part[k].ref_tokens ? eval_wer(&part[k]) : 0.0,
               k ? "that occur in" : "absent from", o.seen);
    if (o.canonical)
        printf("canonical     %d references and %d hypotheses rewritten\n", canon_ref, canon_hyp);
    if (o.top > 0) {
        qsort(log.items, log.n, sizeof *log.items, cmp_str);
        print_top(&log, "sub", "substitutions (reference -> hypothesis)", o.top);
        print_top(&log, "del", "deletions", o.top);
        print_top(&log, "ins", "insertions", o.top);
    }
    status = 0;
    if (details && outfile_commit(&dout, &err) != TAP_OK) {
        fprintf(stderr, "tap eval: error: %s\n", err.msg);
        status = 1;
    }
done:
    outfile_abort(&dout);
    for (size_t i = 0; i < log.n; i++) free(log.items[i]);
    free(log.items);
    free(scratch);
    free(ops);
    for (int i = 0; train_labels && i < train.n; i++) free(train_labels[i]);
    free(train_labels);
    tsv_free(&hyp);
    tsv_free(&ref);
    tsv_free(&train);
    cli_args_free(&a);
    return status;
}
