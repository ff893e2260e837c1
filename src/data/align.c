// Token-to-symbol matching: see align.h for the rules and bench/label_agreement.c for how
// closely they reproduce TAP's alignments.
#include "align.h"

#include <string.h>

int align_is_structure(const char *t) {
    return strcmp(t, "{") == 0 || strcmp(t, "}") == 0 || strcmp(t, "_") == 0 ||
           strcmp(t, "^") == 0 || strcmp(t, "\\limits") == 0 || strcmp(t, "\\nolimits") == 0;
}

void alignment_free(Alignment *a) {
    if (!a) return;
    free(a->start);
    free(a->strokes);
    memset(a, 0, sizeof(*a));
}

// Marks structure tokens, including the brackets of \sqrt[...] (matched, so that a real `]`
// inside the index stays a symbol only if it has its own `[`).
static void mark_structure(const TokenList *t, unsigned char *st) {
    int open = 0;       // \sqrt index brackets still open
    int inner = 0;      // plain `[` opened inside the current index
    for (int i = 0; i < t->n; i++) {
        const char *s = t->tok[i];
        st[i] = (unsigned char)align_is_structure(s);
        if (strcmp(s, "[") == 0) {
            if (i > 0 && strcmp(t->tok[i - 1], "\\sqrt") == 0) {
                st[i] = 1;
                open++;
            } else if (open) {
                inner++;
            }
        } else if (strcmp(s, "]") == 0 && open) {
            if (inner) {
                inner--;
            } else {
                st[i] = 1;
                open--;
            }
        }
    }
}

// Splits a CROHME href "name_k" into name length and k; 0 when it has no such form
// (stroke-id hrefs like "0:1:").
static int href_number(const char *href, size_t *name_len, int *k) {
    if (!href) return 0;
    const char *us = strrchr(href, '_');
    if (!us || us[1] == '\0') return 0;
    long v = 0;
    for (const char *p = us + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > 1000000) return 0;
        v = v * 10 + (*p - '0');
    }
    *name_len = (size_t)(us - href);
    *k = (int)v;
    return 1;
}

static int name_is(const char *href, size_t len, const char *a) {
    return strlen(a) == len && strncmp(href, a, len) == 0;
}

// The token class a symbol label draws, before the `-` and `.` decisions.
static const char *label_class(const char *label) {
    if (strcmp(label, "\\lt") == 0) return "<";
    if (strcmp(label, "\\gt") == 0) return ">";
    return label;
}

// Tokens or symbols sorted by class, then by reading/writing order, so that "the k-th of a
// class" is a binary search and whole classes pair up in one merge.
typedef struct {
    const char *cls;
    int key;  // token position, or a symbol's first stroke
    int idx;  // token or symbol index
} Item;

static int item_cmp(const void *a, const void *b) {
    const Item *x = a, *y = b;
    int c = strcmp(x->cls, y->cls);
    if (c) return c;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

// idx of the k-th (1-based) item of class cls, or -1.
static int class_kth(const Item *it, int n, const char *cls, int k) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(it[mid].cls, cls) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (k < 1 || k > n - lo || strcmp(it[lo + k - 1].cls, cls) != 0) return -1;
    return it[lo + k - 1].idx;
}

// The non-structure tokens as items; `\frac` counts as `-` when frac_is_dash. Returns the count.
static int token_items(const TokenList *t, const unsigned char *st, int frac_is_dash, Item *it) {
    int n = 0;
    for (int i = 0; i < t->n; i++) {
        if (st[i]) continue;
        const char *c = t->tok[i];
        if (frac_is_dash && strcmp(c, "\\frac") == 0) c = "-";
        it[n++] = (Item){c, i, i};
    }
    qsort(it, (size_t)n, sizeof(Item), item_cmp);
    return n;
}

static int is_frac_name(const char *href, size_t nl) {
    return nl == 0 || name_is(href, nl, "\\frac") || name_is(href, nl, "frac");
}

// Numbered hrefs: symbol "name_k" -> the k-th token of its class.
static void match_numbered(const TokenList *t, const unsigned char *st, const InkmlDoc *doc,
                           Item *it, int *owner) {
    // Files that name fraction bars "_k" or "\frac_k" number minus signs on their own; the
    // others number every `-` (bars and minus signs) together, in reading order, so there
    // "-_k" is whichever of `-`/`\frac` comes k-th (looked up in the dash pool).
    int frac_named = 0;
    for (int s = 0; s < doc->n_symbols; s++) {
        size_t nl;
        int k;
        const InkmlSymbol *y = &doc->symbols[s];
        if (y->label && strcmp(y->label, "-") == 0 && href_number(y->href, &nl, &k) &&
            is_frac_name(y->href, nl))
            frac_named = 1;
    }
    int n_dash = token_items(t, st, 1, it);
    Item *own = it + n_dash;
    int n_own = token_items(t, st, 0, own);
    for (int s = 0; s < doc->n_symbols; s++) {
        const InkmlSymbol *y = &doc->symbols[s];
        size_t nl;
        int k;
        if (!y->label || !href_number(y->href, &nl, &k) || k < 1) continue;
        const char *cls = label_class(y->label);
        if (strcmp(cls, "-") == 0) {
            if (is_frac_name(y->href, nl)) {
                cls = "\\frac";
            } else if (!frac_named) {
                int i = class_kth(it, n_dash, "-", k);
                if (i >= 0) cls = t->tok[i];
            }
        } else if (strcmp(cls, ".") == 0 &&
                   (name_is(y->href, nl, "\\cdot") || name_is(y->href, nl, "cdot"))) {
            cls = "\\cdot";
        }
        int i = class_kth(own, n_own, cls, k);
        if (i >= 0 && owner[i] < 0) owner[i] = s;
    }
}

// A `-` is a fraction bar when other symbols sit both above and below it within its width.
static int is_bar(int s, int ns, const double *box, const unsigned char *has) {
    if (!has[s]) return 0;
    const double *b = box + 4 * s;
    double mid = 0.5 * (b[1] + b[3]);
    int above = 0, below = 0;
    for (int o = 0; o < ns; o++) {
        if (o == s || !has[o]) continue;
        const double *c = box + 4 * o;
        double cx = 0.5 * (c[0] + c[2]), cy = 0.5 * (c[1] + c[3]);
        if (cx < b[0] || cx > b[2]) continue;
        if (cy < mid) above = 1;
        else below = 1;
    }
    return above && below;
}

static int first_trace(const InkmlSymbol *y) {
    int m = y->n_traces > 0 ? y->traces[0] : 1 << 30;
    for (int j = 1; j < y->n_traces; j++)
        if (y->traces[j] < m) m = y->traces[j];
    return m;
}

// No usable numbers: each class's symbols in writing order against its tokens in reading order.
static int match_ordered(const TokenList *t, const unsigned char *st, const InkmlDoc *doc,
                         Item *it, int *owner, TapError *err) {
    int ns = doc->n_symbols;
    size_t m = (size_t)(ns ? ns : 1);
    Item *sym = malloc(m * sizeof(Item));
    double *box = malloc(4 * m * sizeof(double));  // (ns, 4) x0 y0 x1 y1
    unsigned char *has = calloc(m, 1);
    if (!sym || !box || !has) {
        free(sym);
        free(box);
        free(has);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory aligning %s", doc->uid ? doc->uid : "?");
    }
    for (int s = 0; s < ns; s++) {
        const InkmlSymbol *y = &doc->symbols[s];
        double *b = box + 4 * s;
        for (int j = 0; j < y->n_traces; j++)
            for (int p = doc->trace_start[y->traces[j]]; p < doc->trace_start[y->traces[j] + 1]; p++) {
                double x = doc->x[p], yy = doc->y[p];
                if (!has[s] || x < b[0]) b[0] = x;
                if (!has[s] || yy < b[1]) b[1] = yy;
                if (!has[s] || x > b[2]) b[2] = x;
                if (!has[s] || yy > b[3]) b[3] = yy;
                has[s] = 1;
            }
    }
    int bars = 0, minus = 0;
    for (int s = 0; s < ns; s++) {
        const char *c = doc->symbols[s].label ? label_class(doc->symbols[s].label) : "";
        if (strcmp(c, "-") == 0) {
            if (is_bar(s, ns, box, has)) c = "\\frac", bars++;
            else minus++;
        }
        sym[s] = (Item){c, first_trace(&doc->symbols[s]), s};
    }
    // When the geometry disagrees with the label, bars and minus signs share one pool.
    int nf = 0, nm = 0;
    for (int i = 0; i < t->n; i++) {
        if (st[i]) continue;
        nf += strcmp(t->tok[i], "\\frac") == 0;
        nm += strcmp(t->tok[i], "-") == 0;
    }
    int shared = nf != bars || nm != minus;
    if (shared)
        for (int s = 0; s < ns; s++)
            if (strcmp(sym[s].cls, "\\frac") == 0) sym[s].cls = "-";
    qsort(sym, (size_t)ns, sizeof(Item), item_cmp);
    int n_tok = token_items(t, st, shared, it);
    // merge: the k-th token of a class takes the k-th symbol of that class
    for (int a = 0, b = 0; a < n_tok && b < ns;) {
        int c = strcmp(it[a].cls, sym[b].cls);
        if (c < 0) a++;
        else if (c > 0) b++;
        else owner[it[a++].idx] = sym[b++].idx;
    }
    free(sym);
    free(box);
    free(has);
    return TAP_OK;
}

int align_build(const TokenList *tokens, const InkmlDoc *doc, Alignment *out, TapError *err) {
    memset(out, 0, sizeof(*out));
    int n = tokens->n, ns = doc->n_symbols;
    for (int s = 0; s < ns; s++)
        for (int j = 0; j < doc->symbols[s].n_traces; j++) {
            int tr = doc->symbols[s].traces[j];
            if (tr < 0 || tr >= doc->n_traces)
                return tap_error_set(err, TAP_ERR_FORMAT, "%s: symbol %d names trace %d of %d",
                                     doc->uid ? doc->uid : "?", s, tr, doc->n_traces);
        }
    unsigned char *st = calloc((size_t)n + 1, 1);
    int *owner = malloc(((size_t)n + 1) * sizeof(int));
    Item *items = malloc((2 * (size_t)n + 1) * sizeof(Item));  // two token views at most
    out->start = calloc((size_t)n + 1, sizeof(int));
    int rc = TAP_OK;
    if (!st || !owner || !items || !out->start) {
        rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory aligning %s", doc->uid ? doc->uid : "?");
        goto done;
    }
    for (int i = 0; i < n; i++) owner[i] = -1;
    mark_structure(tokens, st);
    int numbered = 0, plain = 0;
    for (int s = 0; s < ns; s++) {
        size_t nl;
        int k;
        if (!doc->symbols[s].href) continue;
        if (href_number(doc->symbols[s].href, &nl, &k)) numbered++;
        else plain++;
    }
    if (numbered > 0 && plain == 0)
        match_numbered(tokens, st, doc, items, owner);
    else
        rc = match_ordered(tokens, st, doc, items, owner, err);
    if (rc) goto done;
    int total = 0;
    for (int i = 0; i < n; i++) {
        out->start[i] = total;
        if (owner[i] >= 0) total += doc->symbols[owner[i]].n_traces;
    }
    out->start[n] = total;
    out->strokes = malloc((size_t)(total ? total : 1) * sizeof(int));
    if (!out->strokes) {
        rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory aligning %s", doc->uid ? doc->uid : "?");
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (owner[i] >= 0)
            memcpy(out->strokes + out->start[i], doc->symbols[owner[i]].traces,
                   (size_t)doc->symbols[owner[i]].n_traces * sizeof(int));
    out->n_tokens = n;
done:
    free(st);
    free(owner);
    free(items);
    if (rc) alignment_free(out);
    return rc;
}
