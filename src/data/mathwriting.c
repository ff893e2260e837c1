// MathWriting labels and split tags (see mathwriting.h for the tokeniser's rules).
#include "mathwriting.h"

#include <string.h>

#define MW_MAX_NAME 31

static const char *const split_names[MW_SPLIT_COUNT] = {"train", "valid", "test", "synthetic"};

int mw_is_mathwriting(const InkmlDoc *doc) { return doc->normalized_label && !doc->truth; }

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int mw_split_parse(const char *s) {
    if (!s) return -1;
    while (is_blank(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1])) n--;
    for (int k = 0; k < MW_SPLIT_COUNT; k++)
        if (strlen(split_names[k]) == n && !strncmp(s, split_names[k], n)) return k;
    return -1;
}

const char *mw_split_name(int split) {
    return split >= 0 && split < MW_SPLIT_COUNT ? split_names[split] : "?";
}

static const char *const synonyms[][2] = {
    {"to", "\\rightarrow"}, {"le", "\\leq"}, {"ge", "\\geq"}, {"ne", "\\neq"},
    {"lt", "<"},            {"gt", ">"},     {"dots", "\\ldots"},
};
static const char *const dropped[] = {
    "quad", "qquad", "displaystyle", "textstyle", "scriptstyle",
};
static const char *const delims[] = {
    "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
    "biggl", "biggr", "Biggl", "Biggr",
};

static int in_list(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, list[i])) return 1;
    return 0;
}

typedef struct {
    const char *src;
    TokenList *out;
    TapError *err;
    // open groups, innermost last: 0 for a brace, else 1 + the index of the \begin token
    int stack[LATEX_MAX_DEPTH];
    int depth;
} Mw;

static int fail(Mw *m, size_t pos, const char *what) {
    size_t len = strlen(m->src), from = pos > 20 ? pos - 20 : 0;
    return tap_error_set(m->err, TAP_ERR_FORMAT, "%s at offset %zu (\"%s%.40s\") in \"%.200s%s\"",
                         what, pos, from > 0 ? "..." : "", m->src + from, m->src,
                         len > 200 ? "..." : "");
}

static int push_group(Mw *m, int kind, size_t pos) {
    if (m->depth >= LATEX_MAX_DEPTH) return fail(m, pos, "nesting too deep");
    m->stack[m->depth++] = kind;
    return TAP_OK;
}

// `{NAME}` at s[*i] (letters and `*`): copies NAME and moves *i past the `}`. 0 when absent.
static int env_name(const char *s, size_t *i, char *name) {
    size_t k = *i;
    if (s[k] != '{') return 0;
    size_t a = ++k;
    while (latex_is_letter(s[k]) || s[k] == '*') k++;
    if (s[k] != '}' || k == a || k - a > MW_MAX_NAME) return 0;
    memcpy(name, s + a, k - a);
    name[k - a] = '\0';
    *i = k + 1;
    return 1;
}

// \begin{NAME} / \end{NAME} at s[*i] (just past the command name).
static int environment(Mw *m, int begin, size_t cmd_pos, size_t *i) {
    const char *s = m->src;
    char name[MW_MAX_NAME + 1], tok[MW_MAX_NAME + 16];
    if (!env_name(s, i, name))
        return fail(m, cmd_pos, begin ? "\\begin without {name}" : "\\end without {name}");
    snprintf(tok, sizeof tok, "\\%s{%s}", begin ? "begin" : "end", name);
    if (begin) {
        if (!strcmp(name, "array")) { // the column spec is layout: dropped
            while (is_blank(s[*i])) (*i)++;
            size_t k = *i;
            if (s[k] == '{') {
                while (s[k] && s[k] != '}') k++;
                if (s[k] != '}') return fail(m, cmd_pos, "\\begin{array} column spec never closed");
                *i = k + 1;
            }
        }
        int rc = push_group(m, 1 + m->out->n, cmd_pos);
        return rc ? rc : token_list_push(m->out, tok, m->err);
    }
    if (m->depth == 0 || m->stack[m->depth - 1] == 0)
        return fail(m, cmd_pos, m->depth ? "\\end inside an open '{'" : "\\end without \\begin");
    const char *opened = m->out->tok[m->stack[m->depth - 1] - 1] + strlen("\\begin");
    if (strcmp(opened, tok + strlen("\\end")))
        return fail(m, cmd_pos, "\\end does not match its \\begin");
    m->depth--;
    return token_list_push(m->out, tok, m->err);
}

static int tokenize(Mw *m) {
    const char *s = m->src;
    size_t len = strlen(s);
    int drop_dot = 0; // after \left, \right ...: a following `.` is no delimiter
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t pos = i;
        if (is_blank((char)c) || c == '$') {
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) return fail(m, pos, "control character");
        int rc = TAP_OK, was_drop_dot = drop_dot;
        drop_dot = 0;
        if (c == '\\') {
            size_t k = i + 1;
            if (k >= len) return fail(m, pos, "lone backslash");
            if (latex_is_letter(s[k])) {
                while (k < len && latex_is_letter(s[k])) k++;
                size_t nl = k - i - 1;
                if (nl > MW_MAX_NAME) return fail(m, pos, "command name too long");
                char name[MW_MAX_NAME + 2];
                memcpy(name, s + i + 1, nl);
                name[nl] = '\0';
                i = k;
                if (!strcmp(name, "begin") || !strcmp(name, "end")) {
                    rc = environment(m, name[0] == 'b', pos, &i);
                } else if (in_list(name, dropped, sizeof dropped / sizeof *dropped)) {
                } else if (in_list(name, delims, sizeof delims / sizeof *delims)) {
                    drop_dot = 1;
                } else {
                    char tok[MW_MAX_NAME + 3] = "\\";
                    const char *spelled = tok;
                    memcpy(tok + 1, name, nl + 1);
                    for (size_t q = 0; q < sizeof synonyms / sizeof *synonyms; q++)
                        if (!strcmp(name, synonyms[q][0])) spelled = synonyms[q][1];
                    rc = token_list_push(m->out, spelled, m->err);
                }
            } else {
                int n = latex_utf8_len((const unsigned char *)s + k);
                i = k + (size_t)n;
                if (n == 1 && strchr(",;:! ", s[k])) continue; // spacing
                if ((unsigned char)s[k] < 0x20) return fail(m, pos, "control character");
                char tok[8] = "\\";
                memcpy(tok + 1, s + k, (size_t)n);
                tok[1 + n] = '\0';
                rc = token_list_push(m->out, tok, m->err);
            }
        } else if (c == '.' && was_drop_dot) {
            i++;
        } else {
            if (c == '{') rc = push_group(m, 0, pos);
            if (c == '}') {
                if (m->depth == 0) return fail(m, pos, "unbalanced braces: '}' without '{'");
                if (m->stack[m->depth - 1] != 0)
                    return fail(m, pos, "'}' closes nothing inside an environment");
                m->depth--;
            }
            int n = latex_utf8_len((const unsigned char *)s + i);
            char tok[8];
            memcpy(tok, s + i, (size_t)n);
            tok[n] = '\0';
            i += (size_t)n;
            if (!rc) rc = token_list_push(m->out, tok, m->err);
        }
        if (rc) return rc;
    }
    if (m->depth > 0)
        return fail(m, len, m->stack[m->depth - 1] ? "environment never closed by \\end"
                                                   : "unbalanced braces: '{' never closed");
    if (m->out->n == 0) return tap_error_set(m->err, TAP_ERR_FORMAT, "empty label");
    return TAP_OK;
}

int mw_tokenize(const char *label, TokenList *out, TapError *err) {
    out->n = 0;
    out->tok = NULL;
    if (!label) return tap_error_set(err, TAP_ERR_ARG, "no label");
    Mw m = {.src = label, .out = out, .err = err};
    int rc = tokenize(&m);
    if (rc) token_list_free(out);
    return rc;
}
