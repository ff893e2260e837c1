// align_build: golden InkML cases, hand-built documents for the edge cases, and agreement with
// TAP's stroke alignments of the CROHME 2014 training set.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "inkml.h"
#include "latex.h"
#include "test_util.h"
#include "tsv.h"

// The alignment in TAP's .align text: "token s s ..." or "token -1" per line.
static char *format_align(const TokenList *t, const Alignment *a) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (int i = 0; i < t->n; i++) {
        char line[1024];
        int k = snprintf(line, sizeof line, "%s", t->tok[i]);
        if (a->start[i] == a->start[i + 1]) k += snprintf(line + k, sizeof line - (size_t)k, " -1");
        for (int j = a->start[i]; j < a->start[i + 1] && k < 1000; j++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %d", a->strokes[j]);
        while (len + (size_t)k + 2 > cap) s = realloc(s, cap *= 2);
        len += (size_t)sprintf(s + len, "%s\n", line);
    }
    return s;
}

static void check_golden(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/align/%s.align", tu_source_dir(), name);
    char *want = tu_read_file(path, NULL);
    cr_assert_not_null(want, "cannot read %s", path);
    snprintf(path, sizeof path, "%s/tests/golden/align/%s.inkml", tu_source_dir(), name);
    InkmlDoc doc;
    TokenList t;
    Alignment a;
    TapError err = {0};
    cr_assert_eq(inkml_load(path, &doc, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(latex_tokenize(doc.truth, &t, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(align_build(&t, &doc, &a, &err), TAP_OK, "%s", err.msg);
    cr_assert_eq(a.n_tokens, t.n);
    char *got = format_align(&t, &a);
    cr_expect_str_eq(got, want, "%s", name);
    free(got);
    free(want);
    alignment_free(&a);
    token_list_free(&t);
    inkml_free(&doc);
}

Test(align, numbered_hrefs_pick_the_kth_token_of_the_class) { check_golden("numbered"); }
Test(align, bars_and_minus_signs_numbered_together) { check_golden("shared_minus_numbering"); }
Test(align, stroke_id_hrefs_use_writing_order_and_bar_geometry) { check_golden("stroke_ids"); }
Test(align, tokens_no_symbol_draws_get_no_strokes) { check_golden("undrawn_tokens"); }
Test(align, a_file_without_segmentation_gives_no_strokes) { check_golden("no_segmentation"); }

Test(align, structure_tokens_are_known) {
    const char *yes[] = {"{", "}", "_", "^", "\\limits"};
    const char *no[] = {"x", "[", "]", "\\frac", "\\sqrt", "-", "\\{", "(", "\\cdots"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) cr_expect(align_is_structure(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) cr_expect(!align_is_structure(no[i]), "%s", no[i]);
}

// A two-trace document with one symbol per trace, built by hand.
typedef struct {
    InkmlDoc doc;
    InkmlSymbol sym[2];
    int start[3], tr[2];
    double x[4], y[4];
} SmallDoc;

static void small_doc(SmallDoc *s, const char *l0, const char *h0, const char *l1, const char *h1) {
    memset(s, 0, sizeof *s);
    s->start[0] = 0, s->start[1] = 2, s->start[2] = 4;
    double xs[4] = {0, 1, 5, 6}, ys[4] = {0, 1, 0, 1};
    memcpy(s->x, xs, sizeof xs);
    memcpy(s->y, ys, sizeof ys);
    s->tr[0] = 0, s->tr[1] = 1;
    s->sym[0] = (InkmlSymbol){.label = (char *)l0, .href = (char *)h0, .n_traces = 1, .traces = &s->tr[0]};
    s->sym[1] = (InkmlSymbol){.label = (char *)l1, .href = (char *)h1, .n_traces = 1, .traces = &s->tr[1]};
    s->doc = (InkmlDoc){.uid = "small", .n_traces = 2, .trace_start = s->start, .n_points = 4,
                        .x = s->x, .y = s->y, .n_symbols = 2, .symbols = s->sym};
}

Test(align, a_symbol_naming_a_missing_trace_fails_cleanly) {
    SmallDoc s;
    small_doc(&s, "x", "x_1", "y", "y_1");
    s.tr[1] = 7;
    TokenList t;
    cr_assert_eq(latex_tokenize("x y", &t, NULL), TAP_OK);
    Alignment a;
    TapError err = {0};
    cr_expect_eq(align_build(&t, &s.doc, &a, &err), TAP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "trace 7") != NULL, "%s", err.msg);
    cr_expect(a.start == NULL && a.strokes == NULL && a.n_tokens == 0);
    s.tr[1] = -1;
    cr_expect_eq(align_build(&t, &s.doc, &a, &err), TAP_ERR_FORMAT);
    token_list_free(&t);
}

Test(align, extra_symbols_missing_symbols_and_odd_hrefs_are_harmless) {
    SmallDoc s;
    Alignment a;
    TokenList t;
    TapError err = {0};
    // symbols that match no token, and an empty token list
    small_doc(&s, "z", "z_1", "w", "w_9");
    cr_assert_eq(latex_tokenize("x", &t, NULL), TAP_OK);
    cr_assert_eq(align_build(&t, &s.doc, &a, &err), TAP_OK, "%s", err.msg);
    cr_expect_eq(a.start[1], 0);
    alignment_free(&a);
    token_list_free(&t);
    TokenList empty = {0};
    cr_assert_eq(align_build(&empty, &s.doc, &a, &err), TAP_OK);
    cr_expect_eq(a.n_tokens, 0);
    cr_expect_eq(a.start[0], 0);
    alignment_free(&a);
    // hrefs that look numbered but are not, a NULL label, huge and zero numbers
    const char *hrefs[][2] = {{"x_", "y_"}, {"_", "__"}, {"x_0", "y_99999999999"}, {NULL, NULL},
                              {"x_1", NULL}, {"0:1:", "x_1"}};
    for (size_t i = 0; i < sizeof hrefs / sizeof *hrefs; i++) {
        small_doc(&s, "x", hrefs[i][0], i == 3 ? NULL : "y", hrefs[i][1]);
        cr_assert_eq(latex_tokenize("x y x", &t, NULL), TAP_OK);
        cr_assert_eq(align_build(&t, &s.doc, &a, &err), TAP_OK, "%s", err.msg);
        cr_expect_eq(a.n_tokens, 3);
        cr_expect_leq(a.start[3], 2, "each trace is used at most once here");
        alignment_free(&a);
        token_list_free(&t);
    }
}

// Random documents (labels, hrefs in every style, shared traces, empty symbols) against random
// token lists: always OK, every stroke a real trace of a symbol drawing that token's class.
Test(align, random_documents_align_without_crashing) {
    static const char *const labels[] = {"x", "-", ".", "\\lt", "\\sqrt", "1", "\\frac", "("};
    static const char *const hrefs[] = {"x_1", "-_2", "_1", "\\frac_1", "\\cdot_1", "0:1:", "_",
                                        NULL, "1_3", "&lt;_1", "x_0"};
    static const char *const toks[] = {"x", "-", "\\frac", "{", "}", "\\sqrt", "[", "]", "1",
                                       "<", ".", "\\cdot", "_", "^", "("};
    TapRng rng;
    rng_seed(&rng, 99);
    for (int it = 0; it < 3000; it++) {
        int nt = 1 + (int)rng_below(&rng, 6), ns = (int)rng_below(&rng, 8), np = 2 * nt;
        int start[8], traces[8 * 3];
        double x[12], y[12];
        InkmlSymbol sym[8];
        for (int i = 0; i <= nt; i++) start[i] = 2 * i;
        for (int i = 0; i < np; i++) x[i] = rng_uniform(&rng) * 10, y[i] = rng_uniform(&rng) * 10;
        for (int s = 0; s < ns; s++) {
            int n = (int)rng_below(&rng, 3);
            for (int j = 0; j < n; j++) traces[3 * s + j] = (int)rng_below(&rng, (uint32_t)nt);
            sym[s] = (InkmlSymbol){.label = (char *)labels[rng_below(&rng, 8)],
                                   .href = (char *)hrefs[rng_below(&rng, 11)],
                                   .n_traces = n, .traces = traces + 3 * s};
        }
        InkmlDoc doc = {.uid = "random", .n_traces = nt, .trace_start = start, .n_points = np,
                        .x = x, .y = y, .n_symbols = ns, .symbols = sym};
        TokenList t = {0};
        int n = (int)rng_below(&rng, 12);
        for (int i = 0; i < n; i++) cr_assert_eq(token_list_push(&t, toks[rng_below(&rng, 15)], NULL), TAP_OK);
        Alignment a;
        TapError err = {0};
        cr_assert_eq(align_build(&t, &doc, &a, &err), TAP_OK, "%s", err.msg);
        cr_assert_eq(a.n_tokens, n);
        cr_assert_eq(a.start[0], 0);
        for (int i = 0; i < n; i++) {
            cr_assert_leq(a.start[i], a.start[i + 1]);
            if (align_is_structure(t.tok[i])) cr_assert_eq(a.start[i], a.start[i + 1]);
            for (int j = a.start[i]; j < a.start[i + 1]; j++)
                cr_assert(a.strokes[j] >= 0 && a.strokes[j] < nt);
        }
        alignment_free(&a);
        token_list_free(&t);
    }
}

// Runs align_build on TAP's own tokens for every training file and compares with its .align
// files (TAP's "-1" and empty lines both mean no strokes).
Test(align, agrees_with_tap_alignments_on_crohme_2014_train, .timeout = 120) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("no ../shared/crohme");
    const char *tmp = tu_tmpdir();
    char cmd[8192], path[4096];
    snprintf(cmd, sizeof cmd, "tar -xzf '%s/crohme/tap/on-align-train.tar.gz' -C '%s'", shared, tmp);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/crohme/tap/train_caption.txt", shared);
    TsvTable cap;
    TapError err = {0};
    cr_assert_eq(tsv_load(path, &cap, &err), TAP_OK, "%s", err.msg);
    int files = 0, files_same = 0;
    long toks = 0, toks_same = 0;
    for (int e = 0; e < cap.n; e++) {
        snprintf(path, sizeof path, "%s/on-align-train/%s.align", tmp, cap.e[e].uid);
        char *want = tu_read_file(path, NULL);
        if (!want) continue;
        InkmlDoc doc;
        snprintf(path, sizeof path, "%s/crohme/2014/train/%s.inkml", shared, cap.e[e].uid);
        if (inkml_load(path, &doc, &err)) {
            free(want);
            continue;
        }
        TokenList t = {0};
        int same = 1;
        char *line = want;
        for (char *next; *line; line = next) {  // TAP's tokens, and its strokes per line
            next = strchr(line, '\n');
            next = next ? (*next = '\0', next + 1) : line + strlen(line);
            char *sp = strchr(line, ' ');
            if (sp) *sp = '\0';
            cr_assert_eq(token_list_push(&t, line, NULL), TAP_OK);
            if (sp) *sp = ' ';
        }
        Alignment a;
        cr_assert_eq(align_build(&t, &doc, &a, &err), TAP_OK, "%s", err.msg);
        char *got = format_align(&t, &a);
        // compare line by line, TAP's empty stroke lists read as -1
        char *g = got, *w = want;
        for (int i = 0; i < t.n; i++) {
            size_t gl = strcspn(g, "\n"), wl = strlen(w);
            size_t tl = strlen(t.tok[i]);
            int eq = wl == tl ? gl == tl + 3 && strncmp(g + tl, " -1", 3) == 0
                              : gl == wl && strncmp(g, w, gl) == 0;
            toks_same += eq;
            same &= eq;
            g += gl + 1;
            w += wl + 1;
        }
        toks += t.n;
        files++;
        files_same += same;
        free(got);
        free(want);
        alignment_free(&a);
        token_list_free(&t);
        inkml_free(&doc);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s/on-align-train'", tmp);
    cr_expect_eq(system(cmd), 0);
    cr_log_info("files identical %d / %d = %.2f%%, tokens %ld / %ld = %.2f%%", files_same, files,
                100.0 * files_same / files, toks_same, toks, 100.0 * toks_same / toks);
    cr_expect_eq(files, 8835);
    cr_expect_geq((double)files_same / files, 0.99);
    cr_expect_geq((double)toks_same / toks, 0.995);
    tsv_free(&cap);
}
