// MathML -> TAP tokens: a recursive walk of InkmlDoc's MathML nodes (see mathml.h for the rules).
#include "mathml.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const InkmlDoc *doc;
    TokenList out;
    TapError *err;
} Walk;

static int emit(Walk *w, const char *tok) { return token_list_push(&w->out, tok, w->err); }

static int fail(Walk *w, const MathmlNode *m, const char *what) {
    return tap_error_set(w->err, TAP_ERR_FORMAT, "MathML: %s <%.40s%s%.40s%s>", what, m->name,
                         m->id ? " xml:id=\"" : "", m->id ? m->id : "", m->id ? "\"" : "");
}

// ----------------------------------------------------------------------------- leaves

// MathML/HTML entity names that CROHME files write as text, and the token each spells.
static const char *const ENTITY_NAMES[][2] = {
    {"infin", "\\infty"}, {"rarr", "\\rightarrow"}, {"larr", "\\leftarrow"},
    {"hellip", "\\ldots"}, {"ctdot", "\\cdots"},    {"cdots", "\\cdots"},
    {"exist", "\\exists"}, {"sdot", "\\cdot"},      {"middot", "\\cdot"},
    {"minus", "-"},        {"plusmn", "\\pm"},      {"isin", "\\in"},
    {"part", "\\partial"}, {"lbrace", "\\{"},       {"rbrace", "\\}"},
};

// Unicode characters CROHME MathML uses, as TAP's tokens (or LaTeX names outside the vocabulary,
// which the caller then reports).
static const struct {
    unsigned cp;
    const char *tok;
} UNICODE[] = {
    {0x00B7, "\\cdot"},   {0x22C5, "\\cdot"},      {0x2219, "\\cdot"},     {0x00D7, "\\times"},
    {0x00F7, "\\div"},    {0x00B1, "\\pm"},        {0x2212, "-"},          {0x2013, "-"},
    {0x221E, "\\infty"},  {0x2264, "\\leq"},       {0x2265, "\\geq"},      {0x2260, "\\neq"},
    {0x2192, "\\rightarrow"}, {0x2190, "\\leftarrow"}, {0x2211, "\\sum"},  {0x222B, "\\int"},
    {0x221A, "\\sqrt"},   {0x2032, "\\prime"},     {0x2026, "\\ldots"},    {0x22EF, "\\cdots"},
    {0x2208, "\\in"},     {0x2203, "\\exists"},    {0x2200, "\\forall"},   {0x2206, "\\Delta"},
    {0x2202, "\\partial"}, {0x2248, "\\approx"},   {0x2261, "\\equiv"},    {0x2329, "\\langle"},
    {0x232A, "\\rangle"}, {0x0391, "A"},          {0x0392, "B"},          {0x0393, "\\Gamma"},
    {0x0394, "\\Delta"},  {0x0398, "\\Theta"},     {0x039B, "\\Lambda"},   {0x039E, "\\Xi"},
    {0x03A0, "\\Pi"},     {0x03A3, "\\Sigma"},     {0x03A6, "\\Phi"},      {0x03A8, "\\Psi"},
    {0x03A9, "\\Omega"},  {0x03B1, "\\alpha"},     {0x03B2, "\\beta"},     {0x03B3, "\\gamma"},
    {0x03B4, "\\delta"},  {0x03B5, "\\epsilon"},   {0x03B6, "\\zeta"},     {0x03B7, "\\eta"},
    {0x03B8, "\\theta"},  {0x03B9, "\\iota"},      {0x03BA, "\\kappa"},    {0x03BB, "\\lambda"},
    {0x03BC, "\\mu"},     {0x03BD, "\\nu"},        {0x03BE, "\\xi"},       {0x03C0, "\\pi"},
    {0x03C1, "\\rho"},    {0x03C3, "\\sigma"},     {0x03C4, "\\tau"},      {0x03C5, "\\upsilon"},
    {0x03C6, "\\phi"},    {0x03D5, "\\phi"},       {0x03C7, "\\chi"},      {0x03C8, "\\psi"},
    {0x03C9, "\\omega"},
};

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// One UTF-8 code point at s (its length in *len; invalid bytes count as one).
static unsigned utf8_decode(const unsigned char *s, int *len) {
    int n = *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC0 ? 2 : 1;
    unsigned cp = n == 1 ? *s : (unsigned)(*s & (0x3F >> (n - 1)));
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *len = 1;
            return *s;
        }
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    *len = n;
    return cp;
}

// The single token LaTeX `text` normalises to (e.g. "\\lt" -> "<"), copied to tok; 0 when it
// is not exactly one token.
static int latex_one(const char *text, char *tok, size_t size) {
    TokenList t = {0};
    TapError e = {0};
    int ok = latex_tokenize(text, &t, &e) == TAP_OK && t.n == 1 && strlen(t.tok[0]) < size;
    if (ok) strcpy(tok, t.tok[0]);
    token_list_free(&t);
    return ok;
}

// The label of the symbol traceGroup linked to MathML id, normalised to one token; 0 if none.
static int symbol_label(const InkmlDoc *doc, const char *id, char *tok, size_t size) {
    if (!id) return 0;
    for (int s = 0; s < doc->n_symbols; s++)
        if (doc->symbols[s].href && !strcmp(doc->symbols[s].href, id))
            return latex_one(doc->symbols[s].label, tok, size);
    return 0;
}

// A word of ASCII letters: a command (`sin`, `infty`, `le`), an entity name, the linked
// symbol's label when the word is neither (MfrDB's `im`), else its letters.
static int leaf_word(Walk *w, const MathmlNode *m, const char *word) {
    char tok[64], cmd[64];
    snprintf(cmd, sizeof cmd, "\\%s", word);
    if (latex_one(cmd, tok, sizeof tok)) return emit(w, tok);
    for (size_t i = 0; i < sizeof ENTITY_NAMES / sizeof ENTITY_NAMES[0]; i++)
        if (!strcmp(word, ENTITY_NAMES[i][0])) return emit(w, ENTITY_NAMES[i][1]);
    if (symbol_label(w->doc, m->id, tok, sizeof tok) && tok[0] == '\\') return emit(w, tok);
    char c[2] = {0, 0};
    for (const char *p = word; *p; p++) {
        c[0] = *p;
        if (emit(w, c)) return w->err->code;
    }
    return TAP_OK;
}

static int leaf(Walk *w, const MathmlNode *m) {
    const char *s = m->text ? m->text : "";
    if (!*s) return fail(w, m, "empty");
    if (s[0] == '\\') {
        // LaTeX spelling: the normaliser knows its synonyms (\lt, \le, \lbrack ...)
        TokenList t = {0};
        TapError e = {0};
        if (latex_tokenize(s, &t, &e) == TAP_OK && t.n > 0) {
            int rc = TAP_OK;
            for (int i = 0; i < t.n && !rc; i++) rc = emit(w, t.tok[i]);
            token_list_free(&t);
            return rc;
        }
        token_list_free(&t);
        char tok[64];
        if (symbol_label(w->doc, m->id, tok, sizeof tok)) return emit(w, tok);
        char what[160];
        snprintf(what, sizeof what, "unknown symbol '%.60s' in", s);
        return fail(w, m, what);
    }
    size_t n = strlen(s), k = 0;
    while (k < n && is_alpha(s[k])) k++;
    if (k == n && n >= 2) return leaf_word(w, m, s);
    // characters one by one: digits of a number, brackets, operators, Unicode symbols
    for (const char *p = s; *p;) {
        int len;
        unsigned cp = utf8_decode((const unsigned char *)p, &len);
        char tok[8] = {0};
        const char *t = tok;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0) {
            p += len;
            continue;
        }
        if (cp == '{') t = "\\{";
        else if (cp == '}') t = "\\}";
        else {
            memcpy(tok, p, (size_t)len);
            for (size_t i = 0; i < sizeof UNICODE / sizeof UNICODE[0]; i++)
                if (UNICODE[i].cp == cp) t = UNICODE[i].tok;
        }
        if (emit(w, t)) return w->err->code;
        p += len;
    }
    return TAP_OK;
}

// ----------------------------------------------------------------------------- layout

static int node(Walk *w, int i, int depth);

// Children of node i in order, each converted.
static int children(Walk *w, int i, int depth) {
    for (int c = w->doc->mathml[i].first_child; c >= 0; c = w->doc->mathml[c].next_sibling) {
        int rc = node(w, c, depth + 1);
        if (rc) return rc;
    }
    return TAP_OK;
}

// "{ child }"
static int braced(Walk *w, int c, int depth) {
    int rc = emit(w, "{");
    if (!rc) rc = node(w, c, depth + 1);
    if (!rc) rc = emit(w, "}");
    return rc;
}

static int is(const MathmlNode *m, const char *name) { return !strcmp(m->name, name); }

static int node(Walk *w, int i, int depth) {
    const MathmlNode *m = &w->doc->mathml[i];
    if (depth > MATHML_MAX_DEPTH) return fail(w, m, "nesting too deep at");
    int kid[4], nk = 0;
    for (int c = m->first_child; c >= 0; c = w->doc->mathml[c].next_sibling) {
        if (nk < 4) kid[nk] = c;
        nk++;
    }
    if (is(m, "math") || is(m, "mrow") || is(m, "mstyle") || is(m, "mpadded") ||
        is(m, "mphantom") || is(m, "menclose") || is(m, "merror"))
        return children(w, i, depth);
    if (is(m, "semantics")) return nk ? node(w, kid[0], depth + 1) : TAP_OK;
    if (is(m, "mspace") || is(m, "none")) return TAP_OK;
    if (is(m, "mi") || is(m, "mn") || is(m, "mo") || is(m, "mtext") || is(m, "ms")) {
        if (nk) return fail(w, m, "child elements in");
        return leaf(w, m);
    }
    if (is(m, "msqrt")) {
        int rc = emit(w, "\\sqrt");
        if (!rc) rc = emit(w, "{");
        if (!rc) rc = children(w, i, depth);
        if (!rc) rc = emit(w, "}");
        return rc;
    }
    int want = is(m, "mfrac") || is(m, "mroot") || is(m, "msub") || is(m, "msup") ||
                       is(m, "munder") || is(m, "mover")
                   ? 2
               : is(m, "msubsup") || is(m, "munderover") ? 3
                                                         : 0;
    if (want == 0) return fail(w, m, "unsupported element");
    if (nk != want) {
        char what[64];
        snprintf(what, sizeof what, "%d child elements instead of %d in", nk, want);
        return fail(w, m, what);
    }
    int rc;
    if (is(m, "mfrac")) {
        rc = emit(w, "\\frac");
        if (!rc) rc = braced(w, kid[0], depth);
        if (!rc) rc = braced(w, kid[1], depth);
        return rc;
    }
    if (is(m, "mroot")) {
        rc = emit(w, "\\sqrt");
        if (!rc) rc = emit(w, "[");
        if (!rc) rc = node(w, kid[1], depth + 1);
        if (!rc) rc = emit(w, "]");
        if (!rc) rc = braced(w, kid[0], depth);
        return rc;
    }
    rc = node(w, kid[0], depth + 1);
    int sub = is(m, "msub") || is(m, "munder") || want == 3;
    if (!rc && sub) rc = emit(w, "_");
    if (!rc && sub) rc = braced(w, kid[1], depth);
    if (!rc && !sub) rc = emit(w, "^");
    if (!rc && !sub) rc = braced(w, kid[1], depth);
    if (!rc && want == 3) rc = emit(w, "^");
    if (!rc && want == 3) rc = braced(w, kid[2], depth);
    return rc;
}

int mathml_tokenize(const InkmlDoc *doc, TokenList *out, TapError *err) {
    out->n = 0;
    out->tok = NULL;
    if (doc->n_mathml == 0) return tap_error_set(err, TAP_ERR_FORMAT, "no MathML truth");
    Walk w = {.doc = doc, .err = err};
    int rc = TAP_OK;
    for (int i = 0; i >= 0 && !rc; i = doc->mathml[i].next_sibling) rc = node(&w, i, 0);
    if (!rc && w.out.n == 0) rc = tap_error_set(err, TAP_ERR_FORMAT, "MathML: no symbols");
    if (rc) {
        token_list_free(&w.out);
        return rc;
    }
    *out = w.out;
    return TAP_OK;
}

// ----------------------------------------------------------------------------- cross-check

// The class a token or a normalised symbol label counts in: a fraction's bar is a `-` symbol.
static const char *draw_class(const char *t) { return !strcmp(t, "\\frac") ? "-" : t; }

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Tokens that draw nothing: TAP's structure tokens and the brackets around a \sqrt index.
static void drawn_tokens(const TokenList *t, const char **tk, int *n) {
    int open = 0; // \sqrt index brackets still open
    *n = 0;
    for (int i = 0; i < t->n; i++) {
        const char *s = t->tok[i];
        if (!strcmp(s, "{") || !strcmp(s, "}") || !strcmp(s, "_") || !strcmp(s, "^") ||
            !strcmp(s, "\\limits") || !strcmp(s, "\\nolimits"))
            continue;
        if (!strcmp(s, "[") && i > 0 && !strcmp(t->tok[i - 1], "\\sqrt")) {
            open++;
            continue;
        }
        if (!strcmp(s, "]") && open) {
            open--;
            continue;
        }
        tk[(*n)++] = draw_class(s);
    }
}

// Appends 'item' to a list of at most 4 names in msg.
static void name_item(char *msg, size_t size, size_t *used, int k, const char *what,
                      const char *item) {
    if (!msg || *used >= size || k >= 4) return;
    *used += (size_t)snprintf(msg + *used, size - *used, "%s%s '%s'", *used ? ", " : "", what,
                              item);
}

int mathml_check_symbols(const InkmlDoc *doc, const TokenList *tokens, char *msg, size_t size) {
    if (msg && size) msg[0] = '\0';
    if (doc->n_symbols == 0) return 0;
    const char **tk = malloc(((size_t)tokens->n + 1) * sizeof *tk);
    char(*lab)[64] = malloc(((size_t)doc->n_symbols + 1) * sizeof *lab);
    const char **sy = malloc(((size_t)doc->n_symbols + 1) * sizeof *sy);
    if (!tk || !lab || !sy) {
        free(tk);
        free(lab);
        free(sy);
        if (msg && size) snprintf(msg, size, "out of memory");
        return doc->n_symbols;
    }
    int nt = 0, ns = doc->n_symbols;
    drawn_tokens(tokens, tk, &nt);
    for (int s = 0; s < ns; s++) {
        if (!latex_one(doc->symbols[s].label, lab[s], sizeof lab[s]))
            snprintf(lab[s], sizeof lab[s], "%.60s", doc->symbols[s].label);
        sy[s] = draw_class(lab[s]);
    }
    qsort(tk, (size_t)nt, sizeof *tk, cmp_str);
    qsort(sy, (size_t)ns, sizeof *sy, cmp_str);
    // merge the two sorted multisets; what is left over on either side is a mismatch
    int bad = 0, a = 0, b = 0;
    size_t used = 0;
    while (a < nt || b < ns) {
        int c = a == nt ? 1 : b == ns ? -1 : strcmp(tk[a], sy[b]);
        if (c == 0) {
            a++, b++;
            continue;
        }
        if (c < 0)
            name_item(msg, size, &used, bad, "token", tk[a++]);
        else
            name_item(msg, size, &used, bad, "symbol", sy[b++]);
        bad++;
    }
    if (msg && bad > 4 && used < size) snprintf(msg + used, size - used, " and %d more", bad - 4);
    free(tk);
    free(lab);
    free(sy);
    return bad;
}

// ----------------------------------------------------------------------------- relabelling

// The one token MathML node m draws, into tok; 0 when it is not a single symbol.
static int node_symbol(const InkmlDoc *doc, const MathmlNode *m, char *tok, size_t size) {
    const char *t = NULL;
    if (is(m, "mfrac")) t = "-";
    if (is(m, "msqrt") || is(m, "mroot")) t = "\\sqrt";
    if (t) {
        snprintf(tok, size, "%s", t);
        return 1;
    }
    if (m->first_child >= 0 || !(is(m, "mi") || is(m, "mn") || is(m, "mo") || is(m, "mtext")))
        return 0;
    TapError e = {0};
    Walk w = {.doc = doc, .err = &e};
    int ok = leaf(&w, m) == TAP_OK && w.out.n == 1 && strlen(w.out.tok[0]) < size;
    if (ok) snprintf(tok, size, "%s", w.out.tok[0]);
    token_list_free(&w.out);
    return ok;
}

int mathml_relabel_symbols(InkmlDoc *doc, char *msg, size_t size) {
    if (msg && size) msg[0] = '\0';
    int changed = 0;
    size_t used = 0;
    for (int s = 0; s < doc->n_symbols; s++) {
        InkmlSymbol *y = &doc->symbols[s];
        if (!y->href) continue;
        const MathmlNode *m = NULL;
        for (int i = 0; i < doc->n_mathml && !m; i++)
            if (doc->mathml[i].id && !strcmp(doc->mathml[i].id, y->href)) m = &doc->mathml[i];
        char want[64], have[64];
        if (!m || !node_symbol(doc, m, want, sizeof want)) continue;
        if (!latex_one(y->label, have, sizeof have)) snprintf(have, sizeof have, "%s", y->label);
        if (!strcmp(have, want)) continue;
        char *label = strdup(want);
        if (!label) return -1;
        if (msg && used < size && changed < 4)
            used += (size_t)snprintf(msg + used, size - used, "%s'%.40s' %s -> %s",
                                     changed ? ", " : "", y->href, y->label, want);
        free(y->label);
        y->label = label;
        changed++;
    }
    if (msg && changed > 4 && used < size)
        snprintf(msg + used, size - used, " and %d more", changed - 4);
    return changed;
}

// ----------------------------------------------------------------------------- comparison

int mathml_same_label(const TokenList *a, const TokenList *b) {
    int *ca = malloc(((size_t)a->n + 1) * sizeof *ca);
    int *cb = malloc(((size_t)b->n + 1) * sizeof *cb);
    int same = 0;
    if (ca && cb) {
        int na = latex_canonical_index((const char *const *)a->tok, a->n, ca);
        int nb = latex_canonical_index((const char *const *)b->tok, b->n, cb);
        same = na == nb;
        for (int i = 0; same && i < na; i++)
            same = !strcmp(a->tok[ca[i]], b->tok[cb[i]]);
    }
    free(ca);
    free(cb);
    return same;
}

// ----------------------------------------------------------------------------- choice

// The tokens of t outside vocab, quoted, into buf; returns their count.
static int out_of_vocab(const TokenList *t, const Vocab *vocab, char *buf, size_t size) {
    int n = 0;
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; vocab && i < t->n; i++) {
        if (vocab_id(vocab, t->tok[i]) >= 0) continue;
        if (used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s'%s'", n ? " " : "", t->tok[i]);
        n++;
    }
    return n;
}

int mathml_choose_truth(const InkmlDoc *doc, const Vocab *vocab, TokenList *out,
                        TruthSource *src, char *note, size_t note_size, TapError *err) {
    char why[400] = "", oov[200];
    if (note && note_size) note[0] = '\0';
    *src = TRUTH_LATEX;
    TokenList lt = {0}, mt = {0};
    TapError le = {0}, me = {0};
    int lrc = doc->truth ? latex_tokenize(doc->truth, &lt, &le)
                         : tap_error_set(&le, TAP_ERR_FORMAT, "no <annotation type=\"truth\">");
    if (lrc == TAP_ERR_NOMEM) return tap_error_set(err, TAP_ERR_NOMEM, "%s", le.msg);
    // An empty truth ("", "$$") is no label: it would score every hypothesis against nothing.
    if (lrc == TAP_OK && lt.n == 0) {
        token_list_free(&lt);
        lrc = tap_error_set(&le, TAP_ERR_FORMAT, "empty LaTeX truth");
    }
    int n_oov = 0;
    if (lrc == TAP_OK) {
        n_oov = out_of_vocab(&lt, vocab, oov, sizeof oov);
        if (n_oov == 0) {
            *out = lt;
            return TAP_OK;
        }
        snprintf(why, sizeof why, "LaTeX truth has token%s outside the dictionary (%s)",
                 n_oov > 1 ? "s" : "", oov);
    } else if (!doc->truth) {
        snprintf(why, sizeof why, "no LaTeX truth");
    } else {
        snprintf(why, sizeof why, "bad LaTeX truth: %.360s", le.msg);
    }
    int mrc = mathml_tokenize(doc, &mt, &me);
    if (mrc == TAP_ERR_NOMEM) {
        token_list_free(&lt);
        return tap_error_set(err, TAP_ERR_NOMEM, "%s", me.msg);
    }
    if (mrc == TAP_OK && mt.n == 0) {
        tap_error_set(&me, TAP_ERR_FORMAT, "the MathML truth is empty too");
        mrc = TAP_ERR_FORMAT;
        token_list_free(&mt);
    }
    if (mrc == TAP_OK && out_of_vocab(&mt, vocab, oov, sizeof oov) > 0) {
        tap_error_set(&me, TAP_ERR_FORMAT,
                      "the MathML truth has tokens outside the dictionary too (%s)", oov);
        mrc = TAP_ERR_FORMAT;
        token_list_free(&mt);
    }
    if (mrc == TAP_OK) {
        token_list_free(&lt);
        char sym[300];
        int bad = mathml_check_symbols(doc, &mt, sym, sizeof sym);
        if (note && note_size) {
            if (doc->n_symbols == 0)
                snprintf(note, note_size, "%s; truth taken from the MathML annotation (no symbol "
                         "traceGroups to check it against)", why);
            else if (bad == 0)
                snprintf(note, note_size, "%s; truth taken from the MathML annotation (all %d "
                         "symbol traceGroups agree with it)", why, doc->n_symbols);
            else
                snprintf(note, note_size, "%s; truth taken from the MathML annotation (it and the "
                         "%d symbol traceGroups differ by %d: %s)", why, doc->n_symbols, bad, sym);
        }
        *src = TRUTH_MATHML;
        *out = mt;
        return TAP_OK;
    }
    if (lrc == TAP_OK) {
        // well-formed but out-of-vocabulary LaTeX: the caller reports or maps those tokens
        if (note && note_size)
            snprintf(note, note_size, "no usable MathML truth either: %s", me.msg);
        *out = lt;
        return TAP_OK;
    }
    return tap_error_set(err, TAP_ERR_FORMAT, "%s; no usable MathML truth either: %s", why, me.msg);
}
