// CROHME InkML -> InkmlDoc with expat. Element and attribute names are matched on their local
// part (namespaces are resolved by expat and the URI ignored), trace ids are mapped to
// document order, and DOCTYPE / entity declarations stop the parse (no entity expansion at all).
// A file that is not valid UTF-8 and fails with an invalid-token error is parsed once more as
// ISO-8859-1 (one MfrDB file in CROHME 2014 train has a stray latin-1 byte).
#include "inkml.h"

#include <errno.h>
#include <expat.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_SEP '|'

typedef enum {
    EL_OTHER,
    EL_INK,
    EL_TRACE,
    EL_GROUP,
    EL_VIEW,
    EL_ANN_TRUTH,
    EL_ANN_WRITER, // the expression's <annotation type="writer">
    EL_ANN_NORMALIZED, // MathWriting: the expression's <annotation type="normalizedLabel">
    EL_ANN_SPLIT,      // MathWriting: the expression's <annotation type="splitTagOriginal">
    EL_ANN_XML,
    EL_MATHML_ROOT, // the expression's <annotationXML type="truth">
    EL_MATHML,      // an element inside it
} ElKind;

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

typedef struct {
    char *label, *href;
    char **refs; // traceDataRef values, resolved when the document ends
    int n_refs, cap_refs;
    int has_child; // contains another traceGroup: not a symbol leaf
    int level;     // 1 for the outermost traceGroup
} Group;

typedef struct {
    XML_Parser xp;
    const char *name;
    TapError *err;
    InkmlFail why;
    int failed;
    // element kinds of the open elements (index = depth - 1)
    unsigned char *kinds;
    int depth, cap_kinds;
    // text being captured for the innermost trace / truth annotation
    int capturing; // depth of the element whose text is captured, 0 when none
    Buf text;
    // the document being built
    InkmlDoc *doc;
    int cap_points, cap_traces, cap_symbols;
    char **trace_ids; // (n_ids) id attribute of each trace or NULL; n_ids = n_traces + open trace
    int n_ids, cap_ids, cap_starts;
    Group *groups; // open traceGroups, innermost last
    int n_groups, cap_groups;
    // raw refs per emitted symbol, resolved at the end
    char ***sym_refs; // (n_symbols)
    int *sym_nrefs;   // (n_symbols)
    int cap_sym_refs, cap_sym_nrefs;
    int truth_done;
    // MathML being captured: open nodes (innermost last) and the last child of each
    int *ml_open, *ml_last;
    int n_ml_open, cap_ml_open, cap_ml_last, cap_mathml;
    Buf ml_text; // text of the innermost open node
    int ml_done;
} Ctx;

static const char *fail_names[INKML_FAIL_COUNT] = {
    "ok",          "unreadable file", "malformed XML", "no ink", "bad coordinates",
    "absurd size", "bad structure",   "out of memory",
};

const char *inkml_fail_str(InkmlFail why) {
    return (why >= 0 && why < INKML_FAIL_COUNT) ? fail_names[why] : "unknown";
}

// ----------------------------------------------------------------------------- small helpers

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 16;
    while (c < need) c = c > INT32_MAX / 2 ? need : 2 * c;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int buf_append(Buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return -1;
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *local_name(const char *n) {
    const char *s = strrchr(n, NS_SEP);
    return s ? s + 1 : n;
}

static const char *attr(const char **atts, const char *name) {
    for (int i = 0; atts[i]; i += 2)
        if (!strcmp(local_name(atts[i]), name)) return atts[i + 1];
    return NULL;
}

static void text_reset(Buf *b) {
    b->n = 0;
    if (b->p) b->p[0] = '\0';
}

// Records the first failure and stops expat; later callbacks are ignored.
static void fail(Ctx *c, InkmlFail why, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(Ctx *c, InkmlFail why, int code, const char *fmt, ...) {
    if (c->failed) return;
    c->failed = 1;
    c->why = why;
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    tap_error_set(c->err, code, "%s: line %lu: %s", c->name,
                  (unsigned long)XML_GetCurrentLineNumber(c->xp), reason);
    XML_StopParser(c->xp, XML_FALSE);
}

static void fail_nomem(Ctx *c) { fail(c, INKML_FAIL_NOMEM, TAP_ERR_NOMEM, "out of memory"); }

// ----------------------------------------------------------------------------- trace points

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static const double pow10_tab[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// Parses one decimal number at s. Up to 15 digits without exponent the value is exact:
// an integer < 2^53 divided by an exact power of ten rounds once, exactly as strtod does.
// Anything else goes through strtod. Returns the end, or NULL when s is not a number.
static const char *parse_number(const char *s, double *out) {
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    uint64_t m = 0;
    int digits = 0, frac = 0;
    while (*p >= '0' && *p <= '9') m = m * 10 + (uint64_t)(*p++ - '0'), digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') m = m * 10 + (uint64_t)(*p++ - '0'), digits++, frac++;
    }
    if (digits == 0) return NULL;
    if (*p == 'e' || *p == 'E' || digits > 15) {
        const char *q = p;
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q == '-' || *q == '+') q++;
            if (!(*q >= '0' && *q <= '9')) return NULL;
            while (*q >= '0' && *q <= '9') q++;
        }
        // s..q is a validated decimal number, which strtod reads to the same end, however long
        // (a copy into a fixed buffer once cut long coordinates short).
        *out = strtod(s, NULL);
        return q;
    }
    double v = (double)m / pow10_tab[frac];
    *out = neg ? -v : v;
    return p;
}

static int add_point(Ctx *c, double x, double y) {
    InkmlDoc *d = c->doc;
    if (d->n_points >= INKML_MAX_POINTS) {
        fail(c, INKML_FAIL_SIZE, TAP_ERR_ARG, "absurd size: more than %d points", INKML_MAX_POINTS);
        return -1;
    }
    if (d->n_points == c->cap_points) {
        int cap = c->cap_points ? 2 * c->cap_points : 1024;
        double *nx = realloc(d->x, (size_t)cap * sizeof *nx);
        if (nx) d->x = nx;
        double *ny = nx ? realloc(d->y, (size_t)cap * sizeof *ny) : NULL;
        if (!nx || !ny) {
            fail_nomem(c);
            return -1;
        }
        d->y = ny;
        c->cap_points = cap;
    }
    d->x[d->n_points] = x;
    d->y[d->n_points] = y;
    d->n_points++;
    return 0;
}

// The word at s (up to whitespace or a comma), for messages.
static void word_at(const char *s, char *w, size_t len) {
    size_t i = 0;
    while (s[i] && !is_space(s[i]) && s[i] != ',' && i + 1 < len) {
        w[i] = s[i];
        i++;
    }
    w[i] = '\0';
}

static int is_nonfinite_word(const char *w) {
    const char *p = w + (*w == '-' || *w == '+');
    return !strncmp(p, "nan", 3) || !strncmp(p, "NaN", 3) || !strncmp(p, "NAN", 3) ||
           !strncmp(p, "inf", 3) || !strncmp(p, "Inf", 3) || !strncmp(p, "INF", 3);
}

// Points are "x y [more channels], x y ...": keep the first two numbers of each.
static void parse_trace_text(Ctx *c, const char *id) {
    const char *p = c->text.p ? c->text.p : "";
    int n = 0;
    char idq[80];
    snprintf(idq, sizeof idq, "%s", id ? id : "(no id)");
    // Refuse absurd traces before allocating for them: points <= commas + 1.
    size_t commas = 0;
    for (const char *q = p; *q; q++) commas += *q == ',';
    if (commas >= (size_t)(INKML_MAX_POINTS - c->doc->n_points)) {
        fail(c, INKML_FAIL_SIZE, TAP_ERR_ARG, "absurd size: more than %d points", INKML_MAX_POINTS);
        return;
    }
    for (;;) {
        while (is_space(*p)) p++;
        if (!*p) break;
        double v[2];
        for (int k = 0; k < 2; k++) {
            while (is_space(*p)) p++;
            char w[40];
            word_at(p, w, sizeof w);
            const char *e = (*p == ',' || !*p) ? NULL : parse_number(p, &v[k]);
            if (!*p || *p == ',') {
                fail(c, INKML_FAIL_COORD, TAP_ERR_FORMAT,
                     "trace '%s': a point with fewer than two coordinates", idq);
                return;
            }
            if (!e || (*e && !is_space(*e) && *e != ',')) {
                if (is_nonfinite_word(w))
                    fail(c, INKML_FAIL_COORD, TAP_ERR_NUMERIC,
                         "trace '%s': non-finite coordinate '%s'", idq, w);
                else
                    fail(c, INKML_FAIL_COORD, TAP_ERR_FORMAT,
                         "trace '%s': non-numeric coordinate '%s'", idq, w);
                return;
            }
            if (!isfinite(v[k])) {
                fail(c, INKML_FAIL_COORD, TAP_ERR_NUMERIC, "trace '%s': non-finite coordinate '%s'",
                     idq, w);
                return;
            }
            if (fabs(v[k]) > INKML_MAX_COORD) {
                fail(c, INKML_FAIL_SIZE, TAP_ERR_ARG,
                     "trace '%s': absurd coordinate '%s' (|value| > 1e9)", idq, w);
                return;
            }
            p = e;
        }
        // Further channels (T, F, ...) are skipped unread.
        while (*p && *p != ',') p++;
        if (add_point(c, v[0], v[1])) return;
        n++;
        if (*p == ',') p++;
    }
    if (n == 0) fail(c, INKML_FAIL_NO_INK, TAP_ERR_FORMAT, "trace '%s' is empty", idq);
}

// ----------------------------------------------------------------------------- MathML

// A new element inside the MathML: linked as the last child of the innermost open one (or as
// the last top-level node), and opened.
static void mathml_open(Ctx *c, const char *name, const char *id) {
    InkmlDoc *d = c->doc;
    if (grow((void **)&d->mathml, &c->cap_mathml, d->n_mathml + 1, sizeof *d->mathml) ||
        grow((void **)&c->ml_open, &c->cap_ml_open, c->n_ml_open + 1, sizeof *c->ml_open) ||
        grow((void **)&c->ml_last, &c->cap_ml_last, c->n_ml_open + 2, sizeof *c->ml_last)) {
        fail_nomem(c);
        return;
    }
    int k = d->n_mathml;
    MathmlNode *m = &d->mathml[k];
    *m = (MathmlNode){.first_child = -1, .next_sibling = -1};
    d->n_mathml++;
    if (!(m->name = dup_str(name)) || (id && !(m->id = dup_str(id)))) {
        fail_nomem(c);
        return;
    }
    // ml_last[0] is the last top-level node, ml_last[i + 1] the last child of ml_open[i]
    if (c->n_ml_open == 0 && k == 0) c->ml_last[0] = -1;
    int prev = c->ml_last[c->n_ml_open];
    if (prev >= 0)
        d->mathml[prev].next_sibling = k;
    else if (c->n_ml_open > 0)
        d->mathml[c->ml_open[c->n_ml_open - 1]].first_child = k;
    c->ml_last[c->n_ml_open] = k;
    c->ml_open[c->n_ml_open++] = k;
    c->ml_last[c->n_ml_open] = -1;
    text_reset(&c->ml_text);
}

// Closes the innermost MathML element; a leaf keeps its text without surrounding blanks.
static void mathml_close(Ctx *c) {
    if (c->n_ml_open == 0) return;
    MathmlNode *m = &c->doc->mathml[c->ml_open[--c->n_ml_open]];
    if (m->first_child < 0) {
        const char *s = c->ml_text.p ? c->ml_text.p : "";
        size_t n = c->ml_text.n;
        while (n > 0 && is_space(*s)) s++, n--;
        while (n > 0 && is_space(s[n - 1])) n--;
        if (!(m->text = malloc(n + 1))) {
            fail_nomem(c);
            return;
        }
        memcpy(m->text, s, n);
        m->text[n] = '\0';
    }
    text_reset(&c->ml_text);
}

// ----------------------------------------------------------------------------- expat callbacks

static void XMLCALL on_start(void *ud, const char *name, const char **atts) {
    Ctx *c = ud;
    if (c->failed) return;
    const char *ln = local_name(name);
    ElKind parent = c->depth ? (ElKind)c->kinds[c->depth - 1] : EL_OTHER;
    ElKind k = EL_OTHER;
    if (parent == EL_MATHML_ROOT || parent == EL_MATHML)
        k = EL_MATHML;
    else if (c->depth == 0 && !strcmp(ln, "ink"))
        k = EL_INK;
    else if (!strcmp(ln, "trace"))
        k = EL_TRACE;
    else if (!strcmp(ln, "traceGroup"))
        k = EL_GROUP;
    else if (!strcmp(ln, "traceView"))
        k = EL_VIEW;
    else if (!strcmp(ln, "annotationXML")) {
        const char *type = attr(atts, "type");
        k = parent == EL_INK && type && !strcmp(type, "truth") && !c->ml_done ? EL_MATHML_ROOT
                                                                               : EL_ANN_XML;
    }
    else if (!strcmp(ln, "annotation")) {
        const char *type = attr(atts, "type");
        if (type && !strcmp(type, "truth") && (parent == EL_INK || parent == EL_GROUP))
            k = EL_ANN_TRUTH;
        else if (type && !strcmp(type, "writer") && parent == EL_INK && !c->doc->writer)
            k = EL_ANN_WRITER;
        else if (type && !strcmp(type, "normalizedLabel") && parent == EL_INK &&
                 !c->doc->normalized_label)
            k = EL_ANN_NORMALIZED;
        else if (type && !strcmp(type, "splitTagOriginal") && parent == EL_INK &&
                 !c->doc->split_tag)
            k = EL_ANN_SPLIT;
    }
    if (grow((void **)&c->kinds, &c->cap_kinds, c->depth + 1, 1)) {
        fail_nomem(c);
        return;
    }
    c->kinds[c->depth++] = (unsigned char)k;

    Group *g = c->n_groups ? &c->groups[c->n_groups - 1] : NULL;
    switch (k) {
    case EL_TRACE: {
        if (c->capturing) {
            fail(c, INKML_FAIL_STRUCTURE, TAP_ERR_FORMAT,
                 "a trace inside a trace or an annotation");
            return;
        }
        if (grow((void **)&c->trace_ids, &c->cap_ids, c->n_ids + 1, sizeof *c->trace_ids)) {
            fail_nomem(c);
            return;
        }
        const char *id = attr(atts, "id");
        c->trace_ids[c->n_ids] = id ? dup_str(id) : NULL;
        if (id && !c->trace_ids[c->n_ids]) {
            fail_nomem(c);
            return;
        }
        c->n_ids++;
        text_reset(&c->text);
        c->capturing = c->depth;
        break;
    }
    case EL_ANN_TRUTH:
    case EL_ANN_WRITER:
    case EL_ANN_NORMALIZED:
    case EL_ANN_SPLIT:
        if (c->capturing) break; // nested in a captured element: its text is part of that one
        text_reset(&c->text);
        c->capturing = c->depth;
        break;
    case EL_GROUP:
        if (g) g->has_child = 1;
        if (grow((void **)&c->groups, &c->cap_groups, c->n_groups + 1, sizeof *c->groups)) {
            fail_nomem(c);
            return;
        }
        c->groups[c->n_groups] = (Group){.level = c->n_groups + 1};
        c->n_groups++;
        break;
    case EL_VIEW: {
        const char *ref = attr(atts, "traceDataRef");
        if (!g || !ref) break;
        if (*ref == '#') ref++;
        if (grow((void **)&g->refs, &g->cap_refs, g->n_refs + 1, sizeof *g->refs)) {
            fail_nomem(c);
            return;
        }
        if (!(g->refs[g->n_refs] = dup_str(ref))) {
            fail_nomem(c);
            return;
        }
        g->n_refs++;
        break;
    }
    case EL_MATHML_ROOT: {
        const char *enc = attr(atts, "encoding");
        if (enc && !(c->doc->mathml_encoding = dup_str(enc))) fail_nomem(c);
        break;
    }
    case EL_MATHML: mathml_open(c, ln, attr(atts, "id")); break;
    case EL_ANN_XML: {
        const char *href = attr(atts, "href");
        if (g && parent == EL_GROUP && href && !g->href && !(g->href = dup_str(href))) {
            fail_nomem(c);
            return;
        }
        break;
    }
    default: break;
    }
}

static void group_clear(Group *g) {
    free(g->label);
    free(g->href);
    for (int i = 0; i < g->n_refs; i++) free(g->refs[i]);
    free(g->refs);
    memset(g, 0, sizeof *g);
}

// A leaf traceGroup inside the segmentation (or any group naming traces) is a symbol.
static void emit_symbol(Ctx *c, Group *g) {
    InkmlDoc *d = c->doc;
    if (grow((void **)&d->symbols, &c->cap_symbols, d->n_symbols + 1, sizeof *d->symbols)) {
        fail_nomem(c);
        return;
    }
    if (grow((void **)&c->sym_refs, &c->cap_sym_refs, d->n_symbols + 1, sizeof *c->sym_refs) ||
        grow((void **)&c->sym_nrefs, &c->cap_sym_nrefs, d->n_symbols + 1, sizeof *c->sym_nrefs)) {
        fail_nomem(c);
        return;
    }
    InkmlSymbol *s = &d->symbols[d->n_symbols];
    *s = (InkmlSymbol){0};
    s->label = g->label ? g->label : dup_str("");
    if (!s->label) {
        fail_nomem(c);
        return;
    }
    s->href = g->href;
    c->sym_refs[d->n_symbols] = g->refs;
    c->sym_nrefs[d->n_symbols] = g->n_refs;
    d->n_symbols++;
    g->label = g->href = NULL;
    g->refs = NULL;
    g->n_refs = 0;
}

static void XMLCALL on_end(void *ud, const char *name) {
    (void)name;
    Ctx *c = ud;
    if (c->failed || c->depth == 0) return;
    ElKind k = (ElKind)c->kinds[--c->depth];
    InkmlDoc *d = c->doc;
    int was_capturing = c->capturing == c->depth + 1;
    if (was_capturing) c->capturing = 0;
    switch (k) {
    case EL_TRACE:
        if (!was_capturing) break;
        if (grow((void **)&d->trace_start, &c->cap_starts, d->n_traces + 2,
                 sizeof *d->trace_start)) {
            fail_nomem(c);
            return;
        }
        d->trace_start[d->n_traces] = d->n_points;
        parse_trace_text(c, c->trace_ids[d->n_traces]);
        if (c->failed) return;
        d->n_traces++;
        d->trace_start[d->n_traces] = d->n_points;
        break;
    case EL_ANN_TRUTH: {
        if (!was_capturing) break;
        ElKind parent = c->depth ? (ElKind)c->kinds[c->depth - 1] : EL_OTHER;
        const char *t = c->text.p ? c->text.p : "";
        if (parent == EL_INK && !c->truth_done) {
            if (!(d->truth = dup_str(t))) {
                fail_nomem(c);
                return;
            }
            c->truth_done = 1;
        } else if (parent == EL_GROUP && c->n_groups) {
            Group *g = &c->groups[c->n_groups - 1];
            if (!g->label && !(g->label = dup_str(t))) {
                fail_nomem(c);
                return;
            }
        }
        break;
    }
    case EL_ANN_WRITER:
        if (was_capturing && !d->writer && !(d->writer = dup_str(c->text.p ? c->text.p : ""))) {
            fail_nomem(c);
            return;
        }
        break;
    case EL_ANN_NORMALIZED:
    case EL_ANN_SPLIT: {
        char **dst = k == EL_ANN_SPLIT ? &d->split_tag : &d->normalized_label;
        if (was_capturing && !*dst && !(*dst = dup_str(c->text.p ? c->text.p : ""))) {
            fail_nomem(c);
            return;
        }
        break;
    }
    case EL_MATHML: mathml_close(c); break;
    case EL_MATHML_ROOT: c->ml_done = 1; break;
    case EL_GROUP: {
        Group *g = &c->groups[c->n_groups - 1];
        if (!g->has_child && (g->level >= 2 || g->n_refs > 0)) emit_symbol(c, g);
        group_clear(g);
        c->n_groups--;
        break;
    }
    default: break;
    }
}

static void XMLCALL on_text(void *ud, const char *s, int len) {
    Ctx *c = ud;
    if (c->failed) return;
    if (c->n_ml_open && c->depth && c->kinds[c->depth - 1] == EL_MATHML) {
        if (buf_append(&c->ml_text, s, (size_t)len)) fail_nomem(c);
        return;
    }
    if (!c->capturing) return;
    // Only the direct text of the captured element (and of unknown children) is kept.
    if (buf_append(&c->text, s, (size_t)len)) fail_nomem(c);
}

static void XMLCALL on_doctype(void *ud, const char *name, const char *sysid, const char *pubid,
                               int has_internal) {
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    Ctx *c = ud;
    fail(c, INKML_FAIL_XML, TAP_ERR_FORMAT, "DOCTYPE declarations are not allowed");
}

static void XMLCALL on_entity(void *ud, const char *name, int is_param, const char *value, int vlen,
                              const char *base, const char *sysid, const char *pubid,
                              const char *notation) {
    (void)name, (void)is_param, (void)value, (void)vlen, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    Ctx *c = ud;
    fail(c, INKML_FAIL_XML, TAP_ERR_FORMAT, "entity declarations are not allowed");
}

// ----------------------------------------------------------------------------- driver

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        int extra = b < 0x80             ? 0
                    : (b & 0xE0) == 0xC0 ? 1
                    : (b & 0xF0) == 0xE0 ? 2
                    : (b & 0xF8) == 0xF0 ? 3
                                         : -1;
        if (extra < 0 || i + (size_t)extra >= n + (extra == 0)) return 0;
        for (int k = 1; k <= extra; k++)
            if ((s[i + (size_t)k] & 0xC0) != 0x80) return 0;
        i += (size_t)extra + 1;
    }
    return 1;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

size_t inkml_uid_of(const char *path, const char **start) {
    const char *b = base_name(path);
    size_t n = strlen(b);
    if (n > 6 && !strcmp(b + n - 6, ".inkml")) n -= 6;
    *start = b;
    return n;
}

static void ctx_free_temp(Ctx *c) {
    free(c->kinds);
    free(c->text.p);
    for (int i = 0; i < c->n_ids; i++) free(c->trace_ids[i]);
    free(c->trace_ids);
    for (int i = 0; i < c->n_groups; i++) group_clear(&c->groups[i]);
    free(c->groups);
    if (c->sym_refs)
        for (int i = 0; i < c->doc->n_symbols; i++) {
            for (int j = 0; j < c->sym_nrefs[i]; j++) free(c->sym_refs[i][j]);
            free(c->sym_refs[i]);
        }
    free(c->sym_refs);
    free(c->sym_nrefs);
    free(c->ml_open);
    free(c->ml_last);
    free(c->ml_text.p);
}

typedef struct {
    const char *id;
    int index;
} IdIndex;

static int cmp_id(const void *a, const void *b) {
    return strcmp(((const IdIndex *)a)->id, ((const IdIndex *)b)->id);
}

// Maps every symbol's traceDataRefs to document-order trace indices.
static int resolve_refs(Ctx *c) {
    InkmlDoc *d = c->doc;
    IdIndex *ix = malloc(((size_t)d->n_traces + 1) * sizeof *ix);
    if (!ix) return tap_error_set(c->err, TAP_ERR_NOMEM, "%s: out of memory", c->name);
    int n = 0;
    for (int i = 0; i < d->n_traces; i++)
        if (c->trace_ids[i]) ix[n++] = (IdIndex){c->trace_ids[i], i};
    qsort(ix, (size_t)n, sizeof *ix, cmp_id);
    int rc = TAP_OK;
    for (int i = 1; i < n && rc == TAP_OK; i++)
        if (!strcmp(ix[i].id, ix[i - 1].id)) {
            c->why = INKML_FAIL_STRUCTURE;
            rc = tap_error_set(c->err, TAP_ERR_FORMAT, "%s: duplicate trace id '%.80s'", c->name,
                               ix[i].id);
        }
    for (int s = 0; s < d->n_symbols && rc == TAP_OK; s++) {
        InkmlSymbol *sym = &d->symbols[s];
        int nr = c->sym_nrefs[s];
        sym->traces = malloc(((size_t)nr + 1) * sizeof *sym->traces);
        if (!sym->traces) {
            rc = tap_error_set(c->err, TAP_ERR_NOMEM, "%s: out of memory", c->name);
            break;
        }
        for (int j = 0; j < nr; j++) {
            IdIndex key = {c->sym_refs[s][j], 0};
            IdIndex *hit = bsearch(&key, ix, (size_t)n, sizeof *ix, cmp_id);
            if (!hit) {
                c->why = INKML_FAIL_STRUCTURE;
                rc = tap_error_set(c->err, TAP_ERR_FORMAT,
                                   "%s: symbol '%.40s' refers to unknown trace '%.80s'", c->name,
                                   sym->label, key.id);
                break;
            }
            sym->traces[sym->n_traces++] = hit->index;
        }
    }
    free(ix);
    return rc;
}

static int parse_once(const char *buf, size_t len, const char *name, const char *encoding,
                      InkmlDoc *doc, InkmlFail *why, TapError *err, int *retry_latin1) {
    *retry_latin1 = 0;
    Ctx c = {.name = name, .err = err, .doc = doc};
    c.xp = XML_ParserCreateNS(encoding, NS_SEP);
    if (!c.xp) {
        *why = INKML_FAIL_NOMEM;
        return tap_error_set(err, TAP_ERR_NOMEM, "%s: cannot create the XML parser", name);
    }
    XML_SetUserData(c.xp, &c);
    XML_SetElementHandler(c.xp, on_start, on_end);
    XML_SetCharacterDataHandler(c.xp, on_text);
    XML_SetStartDoctypeDeclHandler(c.xp, on_doctype);
    XML_SetEntityDeclHandler(c.xp, on_entity);
    XML_SetParamEntityParsing(c.xp, XML_PARAM_ENTITY_PARSING_NEVER);
    int rc = TAP_OK;
    if (XML_Parse(c.xp, buf, (int)len, XML_TRUE) != XML_STATUS_OK && !c.failed) {
        enum XML_Error e = XML_GetErrorCode(c.xp);
        if (encoding == NULL && e == XML_ERROR_INVALID_TOKEN &&
            !utf8_valid((const unsigned char *)buf, len))
            *retry_latin1 = 1;
        int truncated = e == XML_ERROR_NO_ELEMENTS || e == XML_ERROR_UNCLOSED_TOKEN ||
                        e == XML_ERROR_PARTIAL_CHAR || e == XML_ERROR_UNCLOSED_CDATA_SECTION;
        c.failed = 1;
        c.why = INKML_FAIL_XML;
        tap_error_set(err, TAP_ERR_FORMAT, "%s: line %lu: malformed XML: %s%s", name,
                      (unsigned long)XML_GetCurrentLineNumber(c.xp), XML_ErrorString(e),
                      truncated ? " (truncated file?)" : "");
    }
    if (!c.failed && c.depth != 0) {
        c.failed = 1;
        c.why = INKML_FAIL_XML;
        tap_error_set(err, TAP_ERR_FORMAT, "%s: malformed XML: unclosed elements (truncated file?)",
                      name);
    }
    if (c.failed) {
        rc = err ? err->code : TAP_ERR_FORMAT;
        if (rc == TAP_OK) rc = TAP_ERR_FORMAT;
    } else if (doc->n_traces == 0) {
        c.why = INKML_FAIL_NO_INK;
        rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: no traces", name);
    } else {
        rc = resolve_refs(&c);
        if (rc == TAP_ERR_NOMEM) c.why = INKML_FAIL_NOMEM;
    }
    *why = rc == TAP_OK ? INKML_FAIL_NONE : c.why;
    ctx_free_temp(&c);
    XML_ParserFree(c.xp);
    return rc;
}

int inkml_parse_why(const char *buf, size_t len, const char *name, InkmlDoc *doc, InkmlFail *why,
                    TapError *err) {
    InkmlFail w_local;
    if (!why) why = &w_local;
    memset(doc, 0, sizeof *doc);
    if (!name) name = "(memory)";
    if (len > INKML_MAX_FILE_BYTES) {
        *why = INKML_FAIL_SIZE;
        return tap_error_set(err, TAP_ERR_ARG, "%s: absurd size: %zu bytes", name, len);
    }
    const char *b;
    size_t ulen = inkml_uid_of(name, &b);
    int retry = 0;
    int rc = parse_once(buf, len, name, NULL, doc, why, err, &retry);
    if (rc != TAP_OK && retry) {
        inkml_free(doc);
        rc = parse_once(buf, len, name, "ISO-8859-1", doc, why, err, &retry);
    }
    if (rc == TAP_OK) {
        doc->uid = malloc(ulen + 1);
        if (!doc->uid) {
            *why = INKML_FAIL_NOMEM;
            rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", name);
        } else {
            memcpy(doc->uid, b, ulen);
            doc->uid[ulen] = '\0';
        }
    }
    if (rc != TAP_OK) inkml_free(doc);
    return rc;
}

int inkml_parse(const char *buf, size_t len, const char *name, InkmlDoc *doc, TapError *err) {
    return inkml_parse_why(buf, len, name, doc, NULL, err);
}

int inkml_load_why(const char *path, InkmlDoc *doc, InkmlFail *why, TapError *err) {
    InkmlFail w_local;
    if (!why) why = &w_local;
    memset(doc, 0, sizeof *doc);
    *why = INKML_FAIL_READ;
    FILE *f = fopen(path, "rb");
    if (!f) return tap_error_set(err, TAP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = TAP_OK;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)INKML_MAX_FILE_BYTES) {
                *why = INKML_FAIL_SIZE;
                rc = tap_error_set(err, TAP_ERR_ARG, "%s: absurd size: more than %d bytes", path,
                                   INKML_MAX_FILE_BYTES);
                break;
            }
            cap = cap ? 2 * cap : 1 << 16;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                *why = INKML_FAIL_NOMEM;
                rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == TAP_OK) rc = inkml_parse_why(buf ? buf : "", len, path, doc, why, err);
    free(buf);
    return rc;
}

int inkml_load(const char *path, InkmlDoc *doc, TapError *err) {
    return inkml_load_why(path, doc, NULL, err);
}

void inkml_free(InkmlDoc *doc) {
    if (!doc) return;
    free(doc->uid);
    free(doc->truth);
    free(doc->writer);
    free(doc->normalized_label);
    free(doc->split_tag);
    free(doc->trace_start);
    free(doc->x);
    free(doc->y);
    for (int i = 0; i < doc->n_symbols; i++) {
        free(doc->symbols[i].label);
        free(doc->symbols[i].href);
        free(doc->symbols[i].traces);
    }
    free(doc->symbols);
    for (int i = 0; i < doc->n_mathml; i++) {
        free(doc->mathml[i].name);
        free(doc->mathml[i].text);
        free(doc->mathml[i].id);
    }
    free(doc->mathml);
    free(doc->mathml_encoding);
    memset(doc, 0, sizeof *doc);
}
