// MathML truth: conversion of every layout element and leaf spelling, clean failures on broken
// MathML, the cross-check with the symbol traceGroups, the choice between the LaTeX and the
// MathML truth on golden files (tests/golden/mathml/expected.tsv), and, when ../shared is
// present, a usable truth for every CROHME 2014 test file.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inkml.h"
#include "mathml.h"
#include "test_util.h"
#include "vocab.h"

// An InkML document with the given LaTeX truth (NULL: none), MathML (inside <math>) and symbol
// traceGroups (inside the segmentation group), over two traces.
static void parse_doc(const char *latex, const char *mathml, const char *groups, InkmlDoc *d) {
    char buf[1 << 16];
    int n = snprintf(buf, sizeof buf,
                     "<ink xmlns=\"http://www.w3.org/2003/InkML\">\n%s%s%s"
                     "<annotationXML type=\"truth\" encoding=\"Content-MathML\">"
                     "<math xmlns=\"http://www.w3.org/1998/Math/MathML\">%s</math>"
                     "</annotationXML>\n"
                     "<trace id=\"0\">0 0, 5 5</trace><trace id=\"1\">6 0, 9 9</trace>\n"
                     "<traceGroup><annotation type=\"truth\">Segmentation</annotation>%s"
                     "</traceGroup></ink>\n",
                     latex ? "<annotation type=\"truth\">" : "", latex ? latex : "",
                     latex ? "</annotation>\n" : "", mathml, groups ? groups : "");
    cr_assert(n > 0 && (size_t)n < sizeof buf);
    TapError err = {0};
    cr_assert_eq(inkml_parse(buf, (size_t)n, "t.inkml", d, &err), TAP_OK, "%s", err.msg);
}

// The MathML's tokens joined by blanks, or "ERROR: message".
static char *convert(const char *mathml, const char *groups) {
    InkmlDoc d;
    parse_doc("$x$", mathml, groups, &d);
    TokenList t;
    TapError err = {0};
    static char out[4096];
    if (mathml_tokenize(&d, &t, &err) == TAP_OK) {
        token_list_join(&t, out, sizeof out);
        token_list_free(&t);
    } else {
        cr_expect_eq(t.n, 0);
        snprintf(out, sizeof out, "ERROR: %s", err.msg);
    }
    inkml_free(&d);
    return out;
}

Test(mathml, the_parser_keeps_the_tree_ids_and_trimmed_leaf_text) {
    InkmlDoc d;
    parse_doc(NULL, "<mrow><msup><mi xml:id=\"x_1\"> x </mi><mn>2</mn></msup><mo>+</mo></mrow>",
              NULL, &d);
    cr_assert_eq(d.n_mathml, 6);
    cr_expect_str_eq(d.mathml_encoding, "Content-MathML");
    const char *names[] = {"math", "mrow", "msup", "mi", "mn", "mo"};
    for (int i = 0; i < 6; i++) cr_expect_str_eq(d.mathml[i].name, names[i]);
    cr_expect_eq(d.mathml[0].first_child, 1);
    cr_expect_eq(d.mathml[1].first_child, 2);
    cr_expect_eq(d.mathml[2].next_sibling, 5);
    cr_expect_eq(d.mathml[3].next_sibling, 4);
    cr_expect_eq(d.mathml[4].next_sibling, -1);
    cr_expect_str_eq(d.mathml[3].text, "x");
    cr_expect_str_eq(d.mathml[3].id, "x_1");
    cr_expect_null(d.mathml[2].text, "an element with children keeps no text");
    cr_expect_null(d.truth);
    inkml_free(&d);
}

Test(mathml, layout_elements_become_taps_latex_structure) {
    struct {
        const char *ml, *want;
    } cases[] = {
        {"<mfrac><mn>1</mn><mrow><mi>x</mi><mo>+</mo><mn>1</mn></mrow></mfrac>",
         "\\frac { 1 } { x + 1 }"},
        {"<msqrt><mi>x</mi><mo>+</mo><mn>1</mn></msqrt>", "\\sqrt { x + 1 }"},
        {"<mroot><mi>x</mi><mn>3</mn></mroot>", "\\sqrt [ 3 ] { x }"},
        {"<msub><mi>a</mi><mi>n</mi></msub>", "a _ { n }"},
        {"<msup><mrow><mo>(</mo><mi>a</mi><mo>)</mo></mrow><mn>2</mn></msup>",
         "( a ) ^ { 2 }"},
        {"<msubsup><mi>x</mi><mn>1</mn><mn>2</mn></msubsup>", "x _ { 1 } ^ { 2 }"},
        {"<munderover><mo>\\sum</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi>"
         "</munderover>",
         "\\sum _ { i = 1 } ^ { n }"},
        {"<munder><mo>lim</mo><mi>x</mi></munder>", "\\lim _ { x }"},
        {"<mover><mi>x</mi><mo>\\prime</mo></mover>", "x ^ { \\prime }"},
        {"<mstyle><mrow><mi>a</mi><mspace/><mi>b</mi></mrow></mstyle>", "a b"},
        {"<semantics><mi>a</mi><annotation>b</annotation></semantics>", "a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_str_eq(convert(cases[i].ml, NULL), cases[i].want, "%s", cases[i].ml);
}

Test(mathml, leaves_in_every_spelling_become_vocabulary_tokens) {
    struct {
        const char *ml, *want;
    } cases[] = {
        {"<mn>12.5</mn>", "1 2 . 5"},
        {"<mo>\\lt</mo><mo>\\gt</mo><mo>\\le</mo><mo>\\lbrack</mo>", "< > \\leq ["},
        {"<mi>sin</mi><mi>infty</mi><mo>rightarrow</mo><mo>times</mo><mo>le</mo>",
         "\\sin \\infty \\rightarrow \\times \\leq"},
        {"<mi>infin</mi><mo>rarr</mo><mo>hellip</mo><mo>ctdot</mo><mo>exist</mo>",
         "\\infty \\rightarrow \\ldots \\cdots \\exists"},
        {"<mo>&#x2264;</mo><mo>&#xB7;</mo><mo>&#x2212;</mo><mi>&#x3C0;</mi><mo>&#x221E;</mo>",
         "\\leq \\cdot - \\pi \\infty"},
        {"<mo>{</mo><mi>x</mi><mo>}</mo><mo>\\{</mo>", "\\{ x \\} \\{"},
        {"<mi>ab</mi>", "a b"},
        {"<mo>&lt;</mo><mo>'</mo>", "< '"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_str_eq(convert(cases[i].ml, NULL), cases[i].want, "%s", cases[i].ml);
}

Test(mathml, an_unknown_word_takes_the_label_of_the_symbol_linked_to_it) {
    const char *g = "<traceGroup><annotation type=\"truth\">\\lim</annotation>"
                    "<traceView traceDataRef=\"0\"/><annotationXML href=\"\\lim_1\"/></traceGroup>";
    cr_expect_str_eq(convert("<mo xml:id=\"\\lim_1\">im</mo><mi>x</mi>", g), "\\lim x");
    // without the link the word is its letters
    cr_expect_str_eq(convert("<mo xml:id=\"other\">im</mo>", g), "i m");
}

Test(mathml, broken_mathml_fails_with_a_message_naming_the_element) {
    struct {
        const char *ml, *msg;
    } cases[] = {
        {"<msub xml:id=\"s\"><mi>x</mi></msub>",
         "MathML: 1 child elements instead of 2 in <msub xml:id=\"s\">"},
        {"<mfrac><mn>1</mn><mn>2</mn><mn>3</mn></mfrac>", "3 child elements instead of 2"},
        {"<mtable><mtr><mtd><mn>1</mn></mtd></mtr></mtable>", "unsupported element <mtable>"},
        {"<mi xml:id=\"e\"> </mi>", "MathML: empty <mi xml:id=\"e\">"},
        {"<mo>\\foo</mo>", "unknown symbol '\\foo' in <mo>"},
        {"<mi><mn>1</mn></mi>", "child elements in <mi>"},
        {"<mrow/>", "MathML: no symbols"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = convert(cases[i].ml, NULL);
        cr_expect(strstr(got, "ERROR: ") && strstr(got, cases[i].msg), "%s -> %s", cases[i].ml,
                  got);
    }
}

Test(mathml, nesting_deeper_than_the_limit_fails_cleanly) {
    size_t depth = MATHML_MAX_DEPTH + 50, len = depth * 13 + 64;
    char *ml = malloc(len);
    cr_assert_not_null(ml);
    size_t at = 0;
    for (size_t i = 0; i < depth; i++) at += (size_t)sprintf(ml + at, "<mrow>");
    at += (size_t)sprintf(ml + at, "<mi>x</mi>");
    for (size_t i = 0; i < depth; i++) at += (size_t)sprintf(ml + at, "</mrow>");
    cr_expect(strstr(convert(ml, NULL), "ERROR: MathML: nesting too deep"));
    free(ml);
}

Test(mathml, no_mathml_is_an_error_not_an_empty_label) {
    InkmlDoc d = {0};
    TokenList t;
    TapError err = {0};
    cr_expect_eq(mathml_tokenize(&d, &t, &err), TAP_ERR_FORMAT);
    cr_expect_str_eq(err.msg, "no MathML truth");
    cr_expect_eq(t.n, 0);
}

Test(mathml, the_symbol_check_names_what_is_left_unpaired_on_each_side) {
    const char *g =
        "<traceGroup><annotation type=\"truth\">\\sqrt</annotation><traceView traceDataRef=\"0\"/>"
        "</traceGroup><traceGroup><annotation type=\"truth\">\\lt</annotation>"
        "<traceView traceDataRef=\"1\"/></traceGroup>";
    InkmlDoc d;
    parse_doc(NULL, "<mi>x</mi>", g, &d);
    TokenList t = {0};
    TapError err = {0};
    char msg[200];
    // a bar drawing \frac, `<` for \lt; the [ ] of the index draw nothing
    const char *ok[] = {"\\sqrt", "[", "x", "]", "{", "<", "}"};
    for (int i = 0; i < 7; i++) token_list_push(&t, ok[i], &err);
    cr_expect_eq(mathml_check_symbols(&d, &t, msg, sizeof msg), 1, "%s", msg);
    cr_expect_str_eq(msg, "token 'x'");
    token_list_free(&t);
    const char *bar[] = {"\\frac", "{", "1", "}", "{", "2", "}"};
    for (int i = 0; i < 7; i++) token_list_push(&t, bar[i], &err);
    cr_expect_eq(mathml_check_symbols(&d, &t, msg, sizeof msg), 5);
    cr_expect_str_eq(msg, "token '-', token '1', token '2', symbol '<' and 1 more");
    token_list_free(&t);
    inkml_free(&d);
    InkmlDoc none = {0};
    cr_expect_eq(mathml_check_symbols(&none, &t, msg, sizeof msg), 0, "no segmentation");
}

static Vocab *dict(void) {
    static Vocab v;
    static int loaded;
    if (!loaded) {
        char path[1024];
        snprintf(path, sizeof path, "%s/data/dictionary.txt", tu_source_dir());
        TapError err = {0};
        cr_assert_eq(vocab_load(path, &v, &err), TAP_OK, "%s", err.msg);
        loaded = 1;
    }
    return &v;
}

Test(mathml, a_good_latex_truth_is_used_as_it_is) {
    InkmlDoc d;
    parse_doc("$\\Pi$", "<mi>\\Pi</mi>", NULL, &d);
    TokenList t;
    TruthSource src = TRUTH_MATHML;
    char note[300];
    TapError err = {0};
    // no vocabulary check: \Pi is fine
    cr_assert_eq(mathml_choose_truth(&d, NULL, &t, &src, note, sizeof note, &err), TAP_OK);
    cr_expect_eq(src, TRUTH_LATEX);
    cr_expect_str_eq(note, "");
    cr_expect_str_eq(t.tok[0], "\\Pi");
    token_list_free(&t);
    // outside the vocabulary in both truths: the LaTeX tokens, for the caller to report
    cr_assert_eq(mathml_choose_truth(&d, dict(), &t, &src, note, sizeof note, &err), TAP_OK);
    cr_expect_eq(src, TRUTH_LATEX);
    cr_expect_str_eq(t.tok[0], "\\Pi");
    cr_expect(strstr(note, "MathML truth has tokens outside the dictionary too ('\\Pi')"), "%s",
              note);
    token_list_free(&t);
    inkml_free(&d);
}

Test(mathml, an_empty_truth_is_no_label) {
    const char *empties[] = {"", "$$", "$$$$", " $ $ "};
    for (int i = 0; i < 4; i++) {
        InkmlDoc d;
        TokenList t;
        TruthSource src;
        char note[300];
        TapError err = {0};
        // with a usable MathML truth, that is taken
        parse_doc(empties[i], "<mi>x</mi>", NULL, &d);
        cr_assert_eq(mathml_choose_truth(&d, dict(), &t, &src, note, sizeof note, &err), TAP_OK);
        cr_expect_eq(src, TRUTH_MATHML);
        cr_expect(strstr(note, "empty LaTeX truth"), "'%s': %s", empties[i], note);
        cr_expect_eq(t.n, 1);
        token_list_free(&t);
        inkml_free(&d);
        // with an empty MathML too, the file has no truth
        parse_doc(empties[i], "", NULL, &d);
        cr_expect_eq(mathml_choose_truth(&d, dict(), &t, &src, note, sizeof note, &err),
                     TAP_ERR_FORMAT, "'%s' gave a label", empties[i]);
        cr_expect(strstr(err.msg, "empty LaTeX truth"), "%s", err.msg);
        inkml_free(&d);
    }
}

Test(mathml, golden_files_take_the_truth_from_the_right_source) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/mathml/expected.tsv", tu_source_dir());
    char *tsv = tu_read_file(path, NULL);
    cr_assert_not_null(tsv, "%s", path);
    int n = 0;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *src = strchr(line, '\t');
        cr_assert_not_null(src);
        *src++ = '\0';
        char *want = strchr(src, '\t');
        cr_assert_not_null(want);
        *want++ = '\0';
        char file[1200];
        snprintf(file, sizeof file, "%s/tests/golden/mathml/%s", tu_source_dir(), line);
        InkmlDoc d;
        TapError err = {0};
        cr_assert_eq(inkml_load(file, &d, &err), TAP_OK, "%s", err.msg);
        TokenList t;
        TruthSource got;
        char note[1000], toks[1000];
        int rc = mathml_choose_truth(&d, dict(), &t, &got, note, sizeof note, &err);
        if (!strcmp(src, "skip")) {
            cr_expect_eq(rc, TAP_ERR_FORMAT, "%s", line);
            cr_expect(strstr(err.msg, want), "%s: '%s' lacks '%s'", line, err.msg, want);
        } else {
            cr_assert_eq(rc, TAP_OK, "%s: %s", line, err.msg);
            token_list_join(&t, toks, sizeof toks);
            cr_expect_str_eq(toks, want, "%s", line);
            cr_expect_eq(got, !strcmp(src, "mathml") ? TRUTH_MATHML : TRUTH_LATEX, "%s", line);
            if (got == TRUTH_MATHML)
                cr_expect(strstr(note, "truth taken from the MathML annotation"), "%s", note);
            token_list_free(&t);
        }
        inkml_free(&d);
        n++;
    }
    cr_expect_eq(n, 5);
    free(tsv);
}

Test(mathml, the_notes_say_why_and_how_well_the_symbols_agree) {
    char file[1200], note[1000];
    const char *names[] = {"unknown_token", "fraction_bar_mislabelled"};
    const char *want[] = {
        "LaTeX truth has token outside the dictionary ('\\Pi'); truth taken from the MathML "
        "annotation (all 2 symbol traceGroups agree with it)",
        "bad LaTeX truth: missing argument for '\\sqrt'",
    };
    for (int i = 0; i < 2; i++) {
        snprintf(file, sizeof file, "%s/tests/golden/mathml/%s.inkml", tu_source_dir(), names[i]);
        InkmlDoc d;
        TapError err = {0};
        cr_assert_eq(inkml_load(file, &d, &err), TAP_OK, "%s", err.msg);
        TokenList t;
        TruthSource src;
        cr_assert_eq(mathml_choose_truth(&d, dict(), &t, &src, note, sizeof note, &err), TAP_OK);
        cr_expect(strstr(note, want[i]), "%s", note);
        if (i == 1)
            cr_expect(strstr(note, "(it and the 4 symbol traceGroups differ by 2: token '-', "
                                   "symbol '\\sqrt')"),
                      "%s", note);
        token_list_free(&t);
        inkml_free(&d);
    }
}

// Checks one file's truth; ctx counts the files whose truth is the MathML.
static int check_truth(const char *path, void *ctx) {
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_load(path, &d, &err), TAP_OK, "%s", err.msg);
    TokenList t;
    TruthSource src;
    char note[1000];
    cr_expect_eq(mathml_choose_truth(&d, dict(), &t, &src, note, sizeof note, &err), TAP_OK,
                 "%s: %s", path, err.msg);
    for (int i = 0; i < t.n; i++)
        cr_expect_geq(vocab_id(dict(), t.tok[i]), 0, "%s: '%s'", path, t.tok[i]);
    *(int *)ctx += src == TRUTH_MATHML;
    token_list_free(&t);
    inkml_free(&d);
    return 0;
}

// Every CROHME 2014 test file has a truth within TAP's dictionary (skipped without ../shared).
Test(mathml, every_crohme_2014_test_file_has_a_usable_truth) {
    const char *shared = tu_shared_dir();
    if (!shared) cr_skip_test("../shared is absent");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/crohme/2014/test", shared);
    int from_mathml = 0;
    int n = tu_for_each_file(dir, ".inkml", check_truth, &from_mathml);
    if (n < 0) cr_skip_test("%s is absent", dir);
    cr_expect_eq(n, 986);
    cr_expect_eq(from_mathml, 4, "RIT_2014_133, 191, 216 and 309");
}

static int same(const char *a, const char *b) {
    TokenList x = {0}, y = {0};
    TapError err = {0};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", a);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " ")) token_list_push(&x, t, &err);
    snprintf(buf, sizeof buf, "%s", b);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " ")) token_list_push(&y, t, &err);
    int r = mathml_same_label(&x, &y);
    token_list_free(&x);
    token_list_free(&y);
    return r;
}

Test(mathml, labels_are_the_same_up_to_script_order_and_limits_only) {
    cr_expect(same("x ^ { 2 } _ { 1 }", "x _ { 1 } ^ { 2 }"));
    cr_expect(same("\\sum \\limits ^ { n } _ { i = 1 } a ^ { b ^ { c } _ { d } } _ { e }",
                   "\\sum _ { i = 1 } ^ { n } a _ { e } ^ { b _ { d } ^ { c } }"));
    cr_expect(same("a b", "a b"));
    cr_expect_not(same("x ^ { 1 } _ { 2 }", "x _ { 1 } ^ { 2 }"));
    cr_expect_not(same("x ^ { 2 }", "x _ { 2 }"));
    cr_expect_not(same("a b", "a b c"));
    cr_expect_not(same("\\cdot", "."));
    cr_expect_not(same("x ^ { 2 } _", "x _ ^ { 2 }"), "an unclosed script is left as it is");
}

Test(mathml, symbol_labels_follow_the_mathml_elements_their_hrefs_name) {
    char file[1200], msg[200];
    snprintf(file, sizeof file, "%s/tests/golden/mathml/fraction_bar_mislabelled.inkml",
             tu_source_dir());
    InkmlDoc d;
    TapError err = {0};
    cr_assert_eq(inkml_load(file, &d, &err), TAP_OK, "%s", err.msg);
    cr_expect_str_eq(d.symbols[2].label, "\\sqrt");
    cr_expect_eq(mathml_relabel_symbols(&d, msg, sizeof msg), 1);
    cr_expect_str_eq(msg, "'47:' \\sqrt -> -");
    cr_expect_str_eq(d.symbols[2].label, "-", "the fraction's bar");
    cr_expect_str_eq(d.symbols[0].label, "\\sqrt");
    cr_expect_str_eq(d.symbols[3].label, "2");
    cr_expect_eq(mathml_relabel_symbols(&d, msg, sizeof msg), 0, "nothing left to change");
    inkml_free(&d);
    // leaves: the linked MathML token wins (\Pi -> \pi); symbols without a link keep theirs
    const char *g = "<traceGroup><annotation type=\"truth\">\\Pi</annotation>"
                    "<traceView traceDataRef=\"0\"/><annotationXML href=\"p\"/></traceGroup>"
                    "<traceGroup><annotation type=\"truth\">\\lt</annotation>"
                    "<traceView traceDataRef=\"1\"/><annotationXML href=\"l\"/></traceGroup>";
    parse_doc(NULL, "<mi xml:id=\"p\">&#x3C0;</mi><mo xml:id=\"l\">&lt;</mo>", g, &d);
    cr_expect_eq(mathml_relabel_symbols(&d, msg, sizeof msg), 1, "%s", msg);
    cr_expect_str_eq(d.symbols[0].label, "\\pi");
    cr_expect_str_eq(d.symbols[1].label, "\\lt", "\\lt already draws <");
    inkml_free(&d);
}

// Appends a random MathML element (random names, child counts and texts) at depth d.
static void random_element(TapRng *rng, char *buf, size_t size, size_t *at, int d) {
    static const char *names[] = {"mrow", "mi", "mn", "mo", "mfrac", "msqrt", "mroot", "msub",
                                  "msup", "msubsup", "munder", "munderover", "mstyle", "mtable",
                                  "mspace", "semantics", "mtext"};
    static const char *texts[] = {"x", "12", "\\lt", "rarr", "&#x2264;", "", "im", "\\foo",
                                  "{", "sin", "\\frac", "&#xB7;", "ab", "\\sqrt{x"};
    const char *n = names[rng_below(rng, 17)];
    if (*at + 200 > size) return;
    *at += (size_t)snprintf(buf + *at, size - *at, "<%s xml:id=\"i%d\">", n, (int)rng_below(rng, 4));
    int kids = d > 6 ? 0 : (int)rng_below(rng, 4);
    if (kids == 0)
        *at += (size_t)snprintf(buf + *at, size - *at, "%s", texts[rng_below(rng, 14)]);
    for (int k = 0; k < kids; k++) random_element(rng, buf, size, at, d + 1);
    if (*at + 20 < size) *at += (size_t)snprintf(buf + *at, size - *at, "</%s>", n);
}

Test(mathml, random_mathml_either_converts_or_fails_cleanly) {
    TapRng rng;
    rng_seed(&rng, 7);
    int ok = 0, failed = 0;
    static char ml[1 << 15];
    for (int trial = 0; trial < 300; trial++) {
        size_t at = 0;
        random_element(&rng, ml, sizeof ml - 64, &at, 0);
        ml[at] = '\0';
        if (at + 32 >= sizeof ml - 64) continue; // cut short: not well-formed XML
        const char *g = "<traceGroup><annotation type=\"truth\">\\lim</annotation>"
                        "<traceView traceDataRef=\"0\"/><annotationXML href=\"i1\"/></traceGroup>";
        const char *got = convert(ml, g);
        if (!strncmp(got, "ERROR: ", 7))
            failed++;
        else
            ok++;
        InkmlDoc d;
        parse_doc(NULL, ml, g, &d);
        char msg[200];
        cr_expect_geq(mathml_relabel_symbols(&d, msg, sizeof msg), 0);
        inkml_free(&d);
    }
    cr_expect(ok > 10 && failed > 10, "ok %d failed %d", ok, failed);
}
