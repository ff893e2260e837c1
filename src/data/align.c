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

// Index of the k-th (1-based) non-structure token equal to cls (or to cls2 when not NULL), or -1.
static int kth_token(const TokenList *t, const unsigned char *st, const char *cls,
                     const char *cls2, int k) {
    for (int i = 0; i < t->n; i++) {
        if (st[i]) continue;
        if (strcmp(t->tok[i], cls) == 0 || (cls2 && strcmp(t->tok[i], cls2) == 0))
            if (--k == 0) return i;
    }
    return -1;
}

// Numbered hrefs: symbol "name_k" -> the k-th token of its class.
static void match_numbered(const TokenList *t, const unsigned char *st, const InkmlDoc *doc,
                           int *owner) {
    // Files that name fraction bars "_k" or "\frac_k" number minus signs on their own; the
    // others number every `-` (bars and minus signs) together, in reading order.
    int frac_named = 0;
    for (int s = 0; s < doc->n_symbols; s++) {
        size_t nl;
        int k;
        const InkmlSymbol *y = &doc->symbols[s];
        if (y->label && strcmp(y->label, "-") == 0 && href_number(y->href, &nl, &k) &&
            (nl == 0 || name_is(y->href, nl, "\\frac") || name_is(y->href, nl, "frac")))
            frac_named = 1;
    }
    for (int s = 0; s < doc->n_symbols; s++) {
        const InkmlSymbol *y = &doc->symbols[s];
        size_t nl;
        int k;
        if (!y->label || !href_number(y->href, &nl, &k) || k < 1) continue;
        const char *cls = label_class(y->label);
        if (strcmp(cls, "-") == 0) {
            if (nl == 0 || name_is(y->href, nl, "\\frac") || name_is(y->href, nl, "frac")) {
                cls = "\\frac";
            } else if (!frac_named) {
                int i = kth_token(t, st, "-", "\\frac", k);
                if (i >= 0) cls = t->tok[i];
            }
        } else if (strcmp(cls, ".") == 0 &&
                   (name_is(y->href, nl, "\\cdot") || name_is(y->href, nl, "cdot"))) {
            cls = "\\cdot";
        }
        int i = kth_token(t, st, cls, NULL, k);
        if (i >= 0 && owner[i] < 0) owner[i] = s;
    }
}

// Bounding box of a symbol's ink; 0 when it has none.
static int symbol_box(const InkmlDoc *doc, const InkmlSymbol *y, double box[4]) {
    int any = 0;
    for (int j = 0; j < y->n_traces; j++) {
        int tr = y->traces[j];
        for (int p = doc->trace_start[tr]; p < doc->trace_start[tr + 1]; p++) {
            double x = doc->x[p], yy = doc->y[p];
            if (!any || x < box[0]) box[0] = x;
            if (!any || yy < box[1]) box[1] = yy;
            if (!any || x > box[2]) box[2] = x;
            if (!any || yy > box[3]) box[3] = yy;
            any = 1;
        }
    }
    return any;
}

// A `-` is a fraction bar when other symbols sit both above and below it within its width.
static int is_bar(const InkmlDoc *doc, int s) {
    double b[4], c[4];
    if (!symbol_box(doc, &doc->symbols[s], b)) return 0;
    double mid = 0.5 * (b[1] + b[3]);
    int above = 0, below = 0;
    for (int o = 0; o < doc->n_symbols; o++) {
        if (o == s || !symbol_box(doc, &doc->symbols[o], c)) continue;
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

// No usable numbers: classes matched in writing order. cls[s] holds each symbol's class.
static int match_ordered(const TokenList *t, const unsigned char *st, const InkmlDoc *doc,
                         int *owner, TapError *err) {
    int ns = doc->n_symbols;
    const char **cls = malloc((size_t)(ns ? ns : 1) * sizeof(char *));
    int *order = malloc((size_t)(ns ? ns : 1) * sizeof(int));
    if (!cls || !order) {
        free(cls);
        free(order);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory aligning %s", doc->uid ? doc->uid : "?");
    }
    int bars = 0, minus = 0;
    for (int s = 0; s < ns; s++) {
        cls[s] = doc->symbols[s].label ? label_class(doc->symbols[s].label) : "";
        if (strcmp(cls[s], "-") == 0) {
            if (is_bar(doc, s)) cls[s] = "\\frac", bars++;
            else minus++;
        }
        order[s] = s;
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
            if (strcmp(cls[s], "\\frac") == 0) cls[s] = "-";
    // insertion sort by first stroke (stable; symbols are few)
    for (int a = 1; a < ns; a++) {
        int v = order[a], b = a - 1;
        while (b >= 0 && first_trace(&doc->symbols[order[b]]) > first_trace(&doc->symbols[v])) {
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = v;
    }
    for (int i = 0; i < t->n; i++) {
        if (st[i]) continue;
        const char *c = t->tok[i];
        if (shared && strcmp(c, "\\frac") == 0) c = "-";
        int k = 0;  // occurrence of c among tokens 0..i
        for (int j = 0; j <= i; j++) {
            if (st[j]) continue;
            const char *cj = t->tok[j];
            if (shared && strcmp(cj, "\\frac") == 0) cj = "-";
            k += strcmp(cj, c) == 0;
        }
        for (int a = 0; a < ns; a++)
            if (strcmp(cls[order[a]], c) == 0 && --k == 0) {
                owner[i] = order[a];
                break;
            }
    }
    free(cls);
    free(order);
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
    out->start = calloc((size_t)n + 1, sizeof(int));
    int rc = TAP_OK;
    if (!st || !owner || !out->start) {
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
        match_numbered(tokens, st, doc, owner);
    else
        rc = match_ordered(tokens, st, doc, owner, err);
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
    if (rc) alignment_free(out);
    return rc;
}
