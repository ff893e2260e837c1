// LaTeX normaliser: a lexer into braces, scripts, commands and single characters, then a
// recursive-descent pass that writes TAP's token sequence directly (no tree is needed).
#include "latex.h"

#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Token lists

int token_list_push(TokenList *t, const char *tok, TapError *err) {
    // Capacity is implied by n (8, then doubling), so TokenList stays {n, tok}.
    if (t->n == 0 || (t->n >= 8 && (t->n & (t->n - 1)) == 0)) {
        size_t cap = t->n == 0 ? 8 : 2 * (size_t)t->n;
        char **nt = realloc(t->tok, cap * sizeof(char *));
        if (!nt) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for tokens");
        t->tok = nt;
    }
    char *s = strdup(tok);
    if (!s) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory for tokens");
    t->tok[t->n++] = s;
    return TAP_OK;
}

size_t token_list_join(const TokenList *t, char *buf, size_t size) {
    size_t need = 0;
    for (int i = 0; i < t->n; i++) {
        size_t len = strlen(t->tok[i]);
        for (size_t k = 0; k < len + (i > 0); k++) {
            char c = (i > 0 && k == 0) ? ' ' : t->tok[i][k - (i > 0)];
            if (need + 1 < size) buf[need] = c;
            need++;
        }
    }
    if (size > 0) buf[need < size ? need : size - 1] = '\0';
    return need;
}

void token_list_free(TokenList *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->tok[i]);
    free(t->tok);
    t->n = 0;
    t->tok = NULL;
}

// ---------------------------------------------------------------------------------------------
// Lexer

typedef enum { LX_END, LX_LBRACE, LX_RBRACE, LX_SUB, LX_SUP, LX_CMD, LX_CHAR } LexKind;

typedef struct {
    LexKind kind;
    int pos;       // byte offset in the source, for messages
    char text[32]; // command name without '\' (LX_CMD) or the character (one UTF-8 sequence)
} Lex;

// What a command does to the output.
typedef enum {
    CMD_SYMBOL,  // emits `out` (its own spelling when out is NULL)
    CMD_DROP,    // spacing, size and style switches: nothing
    CMD_DELIM,   // \left, \right, \big...: nothing, and a following `.` is dropped too
    CMD_FRAC,    // two braced arguments
    CMD_SQRT,    // optional [index], one braced argument
    CMD_TEXT,    // \mbox{...}: the argument's tokens without braces
    CMD_ACCENT,  // \hat{x}: the command and its braced argument
    CMD_DOUBLE,  // \parallel, \|: two `|` tokens, as the ink has two bar symbols
} CmdKind;

typedef struct {
    const char *name;
    CmdKind kind;
    const char *out;
} Cmd;

// Every command we understand; anything else is an error (TeX would stop on it too).
static const Cmd CMDS[] = {
    {"frac", CMD_FRAC, NULL}, {"dfrac", CMD_FRAC, "\\frac"}, {"tfrac", CMD_FRAC, "\\frac"},
    {"sqrt", CMD_SQRT, NULL},
    {"mbox", CMD_TEXT, NULL}, {"mathrm", CMD_TEXT, NULL}, {"text", CMD_TEXT, NULL},
    {"textrm", CMD_TEXT, NULL}, {"mathit", CMD_TEXT, NULL}, {"mathbf", CMD_TEXT, NULL},
    {"mathnormal", CMD_TEXT, NULL}, {"operatorname", CMD_TEXT, NULL}, {"hbox", CMD_TEXT, NULL},
    {"textit", CMD_TEXT, NULL}, {"textbf", CMD_TEXT, NULL},
    {"left", CMD_DELIM, NULL}, {"right", CMD_DELIM, NULL}, {"big", CMD_DELIM, NULL},
    {"Big", CMD_DELIM, NULL}, {"bigg", CMD_DELIM, NULL}, {"Bigg", CMD_DELIM, NULL},
    {"bigl", CMD_DELIM, NULL}, {"bigr", CMD_DELIM, NULL}, {"Bigl", CMD_DELIM, NULL},
    {"Bigr", CMD_DELIM, NULL}, {"biggl", CMD_DELIM, NULL}, {"biggr", CMD_DELIM, NULL},
    {"Biggl", CMD_DELIM, NULL}, {"Biggr", CMD_DELIM, NULL}, {"middle", CMD_DELIM, NULL},
    {" ", CMD_DROP, NULL}, {",", CMD_DROP, NULL}, {";", CMD_DROP, NULL}, {":", CMD_DROP, NULL},
    {"!", CMD_DROP, NULL}, {"quad", CMD_DROP, NULL}, {"qquad", CMD_DROP, NULL},
    {"displaystyle", CMD_DROP, NULL}, {"textstyle", CMD_DROP, NULL},
    {"scriptstyle", CMD_DROP, NULL}, {"nonumber", CMD_DROP, NULL},
    {"hat", CMD_ACCENT, NULL}, {"bar", CMD_ACCENT, NULL}, {"vec", CMD_ACCENT, NULL},
    {"dot", CMD_ACCENT, NULL}, {"ddot", CMD_ACCENT, NULL}, {"tilde", CMD_ACCENT, NULL},
    {"overline", CMD_ACCENT, NULL}, {"underline", CMD_ACCENT, NULL},
    {"widehat", CMD_ACCENT, NULL}, {"widetilde", CMD_ACCENT, NULL},
    // synonyms spelled as TAP's vocabulary spells them
    {"to", CMD_SYMBOL, "\\rightarrow"}, {"lt", CMD_SYMBOL, "<"}, {"gt", CMD_SYMBOL, ">"},
    {"le", CMD_SYMBOL, "\\leq"}, {"ge", CMD_SYMBOL, "\\geq"}, {"ne", CMD_SYMBOL, "\\neq"},
    {"leqslant", CMD_SYMBOL, "\\leq"}, {"geqslant", CMD_SYMBOL, "\\geq"},
    {"lbrack", CMD_SYMBOL, "["}, {"rbrack", CMD_SYMBOL, "]"}, {"lbrace", CMD_SYMBOL, "\\{"},
    {"rbrace", CMD_SYMBOL, "\\}"}, {"vert", CMD_SYMBOL, "|"}, {"mid", CMD_SYMBOL, "|"},
    {"dots", CMD_SYMBOL, "\\ldots"}, {"dotsc", CMD_SYMBOL, "\\ldots"},
    {"dotsb", CMD_SYMBOL, "\\cdots"}, {"ast", CMD_SYMBOL, "*"}, {"colon", CMD_SYMBOL, ":"},
    {"lparen", CMD_SYMBOL, "("}, {"rparen", CMD_SYMBOL, ")"}, {"gets", CMD_SYMBOL, "\\leftarrow"},
    {"{", CMD_SYMBOL, NULL}, {"}", CMD_SYMBOL, NULL}, {"|", CMD_DOUBLE, NULL},
    {"Vert", CMD_DOUBLE, NULL},
    {"%", CMD_SYMBOL, NULL}, {"&", CMD_SYMBOL, NULL}, {"#", CMD_SYMBOL, NULL},
    {"_", CMD_SYMBOL, NULL}, {"$", CMD_SYMBOL, NULL},
    // symbols kept as written (those outside TAP's 111 tokens are the caller's to report)
    {"sin", CMD_SYMBOL, NULL}, {"cos", CMD_SYMBOL, NULL}, {"tan", CMD_SYMBOL, NULL},
    {"log", CMD_SYMBOL, NULL}, {"lim", CMD_SYMBOL, NULL}, {"limits", CMD_SYMBOL, NULL},
    {"nolimits", CMD_SYMBOL, NULL}, {"ln", CMD_SYMBOL, NULL}, {"exp", CMD_SYMBOL, NULL},
    {"sec", CMD_SYMBOL, NULL}, {"csc", CMD_SYMBOL, NULL}, {"cot", CMD_SYMBOL, NULL},
    {"arcsin", CMD_SYMBOL, NULL}, {"arccos", CMD_SYMBOL, NULL}, {"arctan", CMD_SYMBOL, NULL},
    {"sinh", CMD_SYMBOL, NULL}, {"cosh", CMD_SYMBOL, NULL}, {"tanh", CMD_SYMBOL, NULL},
    {"max", CMD_SYMBOL, NULL}, {"min", CMD_SYMBOL, NULL}, {"sup", CMD_SYMBOL, NULL},
    {"inf", CMD_SYMBOL, NULL}, {"det", CMD_SYMBOL, NULL}, {"mod", CMD_SYMBOL, NULL},
    {"sum", CMD_SYMBOL, NULL}, {"prod", CMD_SYMBOL, NULL}, {"int", CMD_SYMBOL, NULL},
    {"iint", CMD_SYMBOL, NULL}, {"oint", CMD_SYMBOL, NULL}, {"infty", CMD_SYMBOL, NULL},
    {"times", CMD_SYMBOL, NULL}, {"div", CMD_SYMBOL, NULL}, {"cdot", CMD_SYMBOL, NULL},
    {"pm", CMD_SYMBOL, NULL}, {"mp", CMD_SYMBOL, NULL}, {"leq", CMD_SYMBOL, NULL},
    {"geq", CMD_SYMBOL, NULL}, {"neq", CMD_SYMBOL, NULL}, {"approx", CMD_SYMBOL, NULL},
    {"equiv", CMD_SYMBOL, NULL}, {"sim", CMD_SYMBOL, NULL}, {"simeq", CMD_SYMBOL, NULL},
    {"cong", CMD_SYMBOL, NULL}, {"propto", CMD_SYMBOL, NULL}, {"ll", CMD_SYMBOL, NULL},
    {"gg", CMD_SYMBOL, NULL}, {"in", CMD_SYMBOL, NULL}, {"notin", CMD_SYMBOL, NULL},
    {"ni", CMD_SYMBOL, NULL}, {"subset", CMD_SYMBOL, NULL}, {"subseteq", CMD_SYMBOL, NULL},
    {"supset", CMD_SYMBOL, NULL}, {"supseteq", CMD_SYMBOL, NULL}, {"cup", CMD_SYMBOL, NULL},
    {"cap", CMD_SYMBOL, NULL}, {"setminus", CMD_SYMBOL, NULL}, {"emptyset", CMD_SYMBOL, NULL},
    {"forall", CMD_SYMBOL, NULL}, {"exists", CMD_SYMBOL, NULL}, {"neg", CMD_SYMBOL, NULL},
    {"wedge", CMD_SYMBOL, NULL}, {"vee", CMD_SYMBOL, NULL}, {"partial", CMD_SYMBOL, NULL},
    {"nabla", CMD_SYMBOL, NULL}, {"prime", CMD_SYMBOL, NULL}, {"ldots", CMD_SYMBOL, NULL},
    {"cdots", CMD_SYMBOL, NULL}, {"vdots", CMD_SYMBOL, NULL}, {"ddots", CMD_SYMBOL, NULL},
    {"rightarrow", CMD_SYMBOL, NULL}, {"leftarrow", CMD_SYMBOL, NULL},
    {"Rightarrow", CMD_SYMBOL, NULL}, {"Leftarrow", CMD_SYMBOL, NULL},
    {"leftrightarrow", CMD_SYMBOL, NULL}, {"Leftrightarrow", CMD_SYMBOL, NULL},
    {"longrightarrow", CMD_SYMBOL, NULL}, {"mapsto", CMD_SYMBOL, NULL},
    {"implies", CMD_SYMBOL, NULL}, {"iff", CMD_SYMBOL, NULL}, {"uparrow", CMD_SYMBOL, NULL},
    {"downarrow", CMD_SYMBOL, NULL}, {"parallel", CMD_DOUBLE, NULL}, {"perp", CMD_SYMBOL, NULL},
    {"angle", CMD_SYMBOL, NULL}, {"circ", CMD_SYMBOL, NULL}, {"bullet", CMD_SYMBOL, NULL},
    {"star", CMD_SYMBOL, NULL}, {"hbar", CMD_SYMBOL, NULL}, {"ell", CMD_SYMBOL, NULL},
    {"Re", CMD_SYMBOL, NULL}, {"Im", CMD_SYMBOL, NULL}, {"aleph", CMD_SYMBOL, NULL},
    {"langle", CMD_SYMBOL, NULL}, {"rangle", CMD_SYMBOL, NULL}, {"lfloor", CMD_SYMBOL, NULL},
    {"rfloor", CMD_SYMBOL, NULL}, {"lceil", CMD_SYMBOL, NULL}, {"rceil", CMD_SYMBOL, NULL},
    {"alpha", CMD_SYMBOL, NULL}, {"beta", CMD_SYMBOL, NULL}, {"gamma", CMD_SYMBOL, NULL},
    {"delta", CMD_SYMBOL, NULL}, {"epsilon", CMD_SYMBOL, NULL}, {"varepsilon", CMD_SYMBOL, NULL},
    {"zeta", CMD_SYMBOL, NULL}, {"eta", CMD_SYMBOL, NULL}, {"theta", CMD_SYMBOL, NULL},
    {"vartheta", CMD_SYMBOL, NULL}, {"iota", CMD_SYMBOL, NULL}, {"kappa", CMD_SYMBOL, NULL},
    {"lambda", CMD_SYMBOL, NULL}, {"mu", CMD_SYMBOL, NULL}, {"nu", CMD_SYMBOL, NULL},
    {"xi", CMD_SYMBOL, NULL}, {"pi", CMD_SYMBOL, NULL}, {"varpi", CMD_SYMBOL, NULL},
    {"rho", CMD_SYMBOL, NULL}, {"varrho", CMD_SYMBOL, NULL}, {"sigma", CMD_SYMBOL, NULL},
    {"varsigma", CMD_SYMBOL, NULL}, {"tau", CMD_SYMBOL, NULL}, {"upsilon", CMD_SYMBOL, NULL},
    {"phi", CMD_SYMBOL, NULL}, {"varphi", CMD_SYMBOL, NULL}, {"chi", CMD_SYMBOL, NULL},
    {"psi", CMD_SYMBOL, NULL}, {"omega", CMD_SYMBOL, NULL}, {"Gamma", CMD_SYMBOL, NULL},
    {"Delta", CMD_SYMBOL, NULL}, {"Theta", CMD_SYMBOL, NULL}, {"Lambda", CMD_SYMBOL, NULL},
    {"Xi", CMD_SYMBOL, NULL}, {"Pi", CMD_SYMBOL, NULL}, {"Sigma", CMD_SYMBOL, NULL},
    {"Upsilon", CMD_SYMBOL, NULL}, {"Phi", CMD_SYMBOL, NULL}, {"Psi", CMD_SYMBOL, NULL},
    {"Omega", CMD_SYMBOL, NULL},
};

static const Cmd *cmd_find(const char *name) {
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strcmp(CMDS[i].name, name) == 0) return &CMDS[i];
    return NULL;
}

int latex_is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int latex_utf8_len(const unsigned char *s) {
    int n = *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC0 ? 2 : 1;
    for (int k = 1; k < n; k++)
        if ((s[k] & 0xC0) != 0x80) return 1;
    return n;
}

typedef struct {
    const char *src;
    LatexOptions opt;
    Lex *lex;
    int n_lex, at;
    TokenList out;
    int depth;
    TapError *err;
} Parser;

// Quotes the source around byte offset pos into a message: `... at "<text>" in "<truth>"`.
static int fail(Parser *p, int pos, const char *what) {
    int len = (int)strlen(p->src);
    int from = pos > 20 ? pos - 20 : 0;
    return tap_error_set(p->err, TAP_ERR_FORMAT, "%s at offset %d (\"%s%.40s\") in \"%.200s%s\"",
                         what, pos, from > 0 ? "..." : "", p->src + from, p->src,
                         len > 200 ? "..." : "");
}

// "l o g" (single letters, one blank between, no letter around) at s[i]: copies "log" to name.
static int spaced_function(const char *s, size_t i, size_t len, char *name) {
    static const char *const names[] = {"log", "lim", "sin", "cos", "tan"};
    if (i + 5 > len || (i > 0 && latex_is_letter(s[i - 1])) ||
        (i + 5 < len && latex_is_letter(s[i + 5])))
        return 0;
    if (s[i + 1] != ' ' || s[i + 3] != ' ') return 0;
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++)
        if (s[i] == names[f][0] && s[i + 2] == names[f][1] && s[i + 4] == names[f][2]) {
            memcpy(name, names[f], 4);
            return 1;
        }
    return 0;
}

static int lex_all(Parser *p) {
    const char *s = p->src;
    size_t len = strlen(s);
    p->lex = malloc((len + 1) * sizeof(Lex));  // at most one lexeme per byte, plus LX_END
    if (!p->lex) return tap_error_set(p->err, TAP_ERR_NOMEM, "out of memory lexing LaTeX");
    int n = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        Lex *x = &p->lex[n];
        x->pos = (int)i;
        x->text[0] = '\0';
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '$' || c == '~') {
            i++;  // `$` delimits math; `~` is a space
            continue;
        }
        if (c == '\\') {
            size_t k = i + 1;
            if (k < len && latex_is_letter(s[k]))
                while (k < len && latex_is_letter(s[k])) k++;
            else if (k < len)
                k += (size_t)latex_utf8_len((const unsigned char *)s + k);
            else
                return fail(p, (int)i, "lone backslash");
            size_t nl = k - i - 1;
            if (nl >= sizeof x->text) return fail(p, (int)i, "command name too long");
            memcpy(x->text, s + i + 1, nl);
            x->text[nl] = '\0';
            x->kind = LX_CMD;
            i = k;
        } else if (c == '{' || c == '}' || c == '_' || c == '^') {
            x->kind = c == '{' ? LX_LBRACE : c == '}' ? LX_RBRACE : c == '_' ? LX_SUB : LX_SUP;
            x->text[0] = c;
            x->text[1] = '\0';
            i++;
        } else if (p->opt.spaced_function_names && spaced_function(s, i, len, x->text)) {
            x->kind = LX_CMD;
            i += 5;  // "l o g"
        } else {
            int k = latex_utf8_len((const unsigned char *)s + i);
            memcpy(x->text, s + i, (size_t)k);
            x->text[k] = '\0';
            x->kind = LX_CHAR;
            i += (size_t)k;
        }
        n++;
    }
    p->lex[n].kind = LX_END;
    p->lex[n].pos = (int)len;
    p->lex[n].text[0] = '\0';
    p->n_lex = n;
    return TAP_OK;
}

// ---------------------------------------------------------------------------------------------
// Parser: each function consumes lexemes from p->at and appends output tokens.

typedef enum { STOP_END, STOP_BRACE, STOP_BRACKET } Stop;

static int emit(Parser *p, const char *tok) { return token_list_push(&p->out, tok, p->err); }

static int parse_seq(Parser *p, Stop stop);
static int parse_atom(Parser *p);

static int enter(Parser *p, int pos) {
    if (++p->depth > LATEX_MAX_DEPTH) return fail(p, pos, "nesting too deep");
    return TAP_OK;
}

// A `{...}` group's content, without its braces.
static int parse_group(Parser *p) {
    const Lex *open = &p->lex[p->at++];
    int rc = enter(p, open->pos);
    if (!rc) rc = parse_seq(p, STOP_BRACE);
    p->depth--;
    if (rc) return rc;
    if (p->lex[p->at].kind != LX_RBRACE) return fail(p, open->pos, "unbalanced braces: '{' never closed");
    p->at++;
    return TAP_OK;
}

// A macro argument: a group's content, or one atom (`\frac12`, `^\prime`, `_\mbox{a}`).
static int parse_arg(Parser *p, const char *owner, int owner_pos) {
    const Lex *x = &p->lex[p->at];
    char what[96];
    switch (x->kind) {
    case LX_LBRACE: return parse_group(p);
    case LX_CHAR:
    case LX_CMD: {
        int rc = enter(p, x->pos);
        if (!rc) rc = parse_atom(p);
        p->depth--;
        return rc;
    }
    default:
        snprintf(what, sizeof what, "missing argument for '%s'", owner);
        return fail(p, owner_pos, what);
    }
}

// emits "{ arg }"
static int parse_braced_arg(Parser *p, const char *owner, int owner_pos) {
    int rc = emit(p, "{");
    if (!rc) rc = parse_arg(p, owner, owner_pos);
    if (!rc) rc = emit(p, "}");
    return rc;
}

// True when the next lexemes spell `word` as adjacent single letters (the LaTeX of the CROHME
// 2014 RIT test files writes an n-th root as "\sqrt {x} ABOVE {n}").
static int at_word(const Parser *p, const char *word) {
    int n = (int)strlen(word);
    if (p->at + n > p->n_lex) return 0;
    for (int k = 0; k < n; k++) {
        const Lex *x = &p->lex[p->at + k];
        if (x->kind != LX_CHAR || x->text[0] != word[k] || x->text[1] != '\0') return 0;
        if (k > 0 && x->pos != p->lex[p->at + k - 1].pos + 1) return 0;
    }
    const Lex *after = &p->lex[p->at + n];
    return !(after->kind == LX_CHAR && latex_is_letter(after->text[0]) &&
             after->pos == p->lex[p->at + n - 1].pos + 1);
}

// "\sqrt {A} ABOVE {n}" -> "\sqrt [ n ] { A }": parses the index after the radicand (which starts
// at output token `radicand`), then rotates it in front.
static int parse_above_index(Parser *p, int radicand, int sqrt_pos) {
    if (radicand > 0 && strcmp(p->out.tok[radicand - 1], "]") == 0)
        return fail(p, p->lex[p->at].pos, "\\sqrt with both [index] and ABOVE");
    p->at += 5;
    int index = p->out.n;
    int rc = emit(p, "[");
    if (!rc) rc = parse_arg(p, "ABOVE", sqrt_pos);
    if (!rc) rc = emit(p, "]");
    if (rc) return rc;
    // rotate [radicand, index) and [index, n) by reversing each part, then the whole
    char **t = p->out.tok;
    int parts[3][2] = {{radicand, index - 1}, {index, p->out.n - 1}, {radicand, p->out.n - 1}};
    for (int q = 0; q < 3; q++)
        for (int a = parts[q][0], b = parts[q][1]; a < b; a++, b--) {
            char *tmp = t[a];
            t[a] = t[b];
            t[b] = tmp;
        }
    return TAP_OK;
}

static int parse_command(Parser *p) {
    const Lex *x = &p->lex[p->at++];
    const Cmd *c = cmd_find(x->text);
    char name[40];
    snprintf(name, sizeof name, "\\%s", x->text);
    if (!c) {
        char what[80];
        snprintf(what, sizeof what, "unknown command '%s'", name);
        return fail(p, x->pos, what);
    }
    int rc = TAP_OK;
    switch (c->kind) {
    case CMD_SYMBOL: return emit(p, c->out ? c->out : name);
    case CMD_DROP: return TAP_OK;
    case CMD_DOUBLE:
        rc = emit(p, "|");
        if (!rc) rc = emit(p, "|");
        return rc;
    case CMD_DELIM:
        if (p->lex[p->at].kind == LX_CHAR && strcmp(p->lex[p->at].text, ".") == 0) p->at++;
        return TAP_OK;
    case CMD_TEXT: return parse_arg(p, name, x->pos);
    case CMD_FRAC:
        rc = emit(p, c->out ? c->out : name);
        if (!rc) rc = parse_braced_arg(p, name, x->pos);
        if (!rc) rc = parse_braced_arg(p, name, x->pos);
        return rc;
    case CMD_ACCENT:
        rc = emit(p, name);
        if (!rc) rc = parse_braced_arg(p, name, x->pos);
        return rc;
    case CMD_SQRT:
        rc = emit(p, name);
        if (!rc && p->lex[p->at].kind == LX_CHAR && strcmp(p->lex[p->at].text, "[") == 0) {
            const Lex *open = &p->lex[p->at++];
            rc = emit(p, "[");
            if (!rc) rc = enter(p, open->pos);
            if (!rc) rc = parse_seq(p, STOP_BRACKET);
            p->depth--;
            if (!rc && strcmp(p->lex[p->at].text, "]") != 0)
                rc = fail(p, open->pos, "unbalanced brackets: '\\sqrt[' never closed");
            if (!rc) {
                p->at++;
                rc = emit(p, "]");
            }
        }
        int radicand = p->out.n;
        if (!rc) rc = parse_braced_arg(p, name, x->pos);
        if (!rc && at_word(p, "ABOVE")) rc = parse_above_index(p, radicand, x->pos);
        return rc;
    }
    return TAP_OK;
}

static int parse_atom(Parser *p) {
    const Lex *x = &p->lex[p->at];
    switch (x->kind) {
    case LX_LBRACE: return parse_group(p);
    case LX_RBRACE: return fail(p, x->pos, "unbalanced braces: '}' without '{'");
    case LX_SUB:
    case LX_SUP: {
        p->at++;
        int rc = emit(p, x->text);
        if (!rc) rc = parse_braced_arg(p, x->text, x->pos);
        return rc;
    }
    case LX_CMD: return parse_command(p);
    case LX_CHAR: p->at++; return emit(p, x->text);
    case LX_END: break;
    }
    return TAP_OK;
}

static int parse_seq(Parser *p, Stop stop) {
    for (;;) {
        const Lex *x = &p->lex[p->at];
        if (x->kind == LX_END) return TAP_OK;
        if (x->kind == LX_RBRACE && stop == STOP_BRACE) return TAP_OK;
        if (stop == STOP_BRACKET && x->kind == LX_CHAR && strcmp(x->text, "]") == 0) return TAP_OK;
        int rc = parse_atom(p);
        if (rc) return rc;
    }
}

LatexOptions latex_options_default(void) {
    return (LatexOptions){.bare_number_canonical = 0, .spaced_function_names = 1};
}

// A truth that is only a decimal number ("02", "1.40"; blanks and `$` around) in TAP's
// canonical spelling: no leading zeros, no trailing fractional zeros. 0 when not a bare number.
static int bare_number(const char *s, TokenList *out, TapError *err) {
    while (*s == ' ' || *s == '$' || *s == '\t') s++;
    const char *a = s;
    while (*s >= '0' && *s <= '9') s++;
    const char *dot = s, *b = s;
    if (*s == '.') {
        b = ++s;
        while (*s >= '0' && *s <= '9') s++;
        if (s == b) return 0;
    }
    const char *e = s;
    while (*s == ' ' || *s == '$' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s || dot == a) return 0;
    while (a + 1 < dot && *a == '0') a++;
    const char *f = e;
    if (b != dot)
        while (f > b && f[-1] == '0') f--;
    char c[2] = {0, 0};
    for (const char *q = a; q < dot; q++) {
        c[0] = *q;
        if (token_list_push(out, c, err)) return -1;
    }
    if (f > b) {
        if (token_list_push(out, ".", err)) return -1;
        for (const char *q = b; q < f; q++) {
            c[0] = *q;
            if (token_list_push(out, c, err)) return -1;
        }
    }
    return 1;
}

int latex_tokenize(const char *truth, TokenList *out, TapError *err) {
    return latex_tokenize_with(truth, NULL, out, err);
}

int latex_tokenize_with(const char *truth, const LatexOptions *opt, TokenList *out,
                        TapError *err) {
    out->n = 0;
    out->tok = NULL;
    if (!truth) return tap_error_set(err, TAP_ERR_ARG, "no LaTeX truth");
    Parser p = {.src = truth, .err = err, .opt = opt ? *opt : latex_options_default()};
    if (p.opt.bare_number_canonical) {
        int r = bare_number(truth, &p.out, err);
        if (r < 0) token_list_free(&p.out);
        if (r < 0) return TAP_ERR_NOMEM;
        if (r > 0) {
            *out = p.out;
            return TAP_OK;
        }
    }
    int rc = lex_all(&p);
    if (!rc) rc = parse_seq(&p, STOP_END);
    free(p.lex);
    if (rc) {
        token_list_free(&p.out);
        return rc;
    }
    *out = p.out;
    return TAP_OK;
}

// ----------------------------------------------------------------------------- canonical labels

// Index just past the group opening at t[i] ("{"), or -1 when it is never closed.
static int group_end(const char *const *t, int i, int n) {
    int depth = 0;
    for (int j = i; j < n; j++) {
        if (!strcmp(t[j], "{")) depth++;
        if (!strcmp(t[j], "}") && --depth == 0) return j + 1;
    }
    return -1;
}

static void canonical_range(const char *const *t, int lo, int hi, int *idx, int *n) {
    for (int i = lo; i < hi;) {
        if (!strcmp(t[i], "\\limits")) {
            i++;
            continue;
        }
        if (!strcmp(t[i], "^") && i + 1 < hi && !strcmp(t[i + 1], "{")) {
            int e = group_end(t, i + 1, hi);
            int e2 = e > 0 && e + 1 < hi && !strcmp(t[e], "_") && !strcmp(t[e + 1], "{")
                         ? group_end(t, e + 1, hi)
                         : -1;
            if (e2 > 0) { // "^ { A } _ { B }" -> "_ { B } ^ { A }", each script canonical too
                idx[(*n)++] = e;
                idx[(*n)++] = e + 1;
                canonical_range(t, e + 2, e2 - 1, idx, n);
                idx[(*n)++] = e2 - 1;
                idx[(*n)++] = i;
                idx[(*n)++] = i + 1;
                canonical_range(t, i + 2, e - 1, idx, n);
                idx[(*n)++] = e - 1;
                i = e2;
                continue;
            }
        }
        idx[(*n)++] = i++;
    }
}

int latex_canonical_index(const char *const *tok, int n, int *idx) {
    int m = 0;
    canonical_range(tok, 0, n, idx, &m);
    return m;
}

const char *latex_canonical_spelling(const char *tok) {
    return !strcmp(tok, "'") ? "\\prime" : tok;
}

int latex_canonicalize(TokenList *t, int *changed, TapError *err) {
    if (changed) *changed = 0;
    if (t->n == 0) return TAP_OK;
    int *idx = malloc((size_t)t->n * sizeof *idx);
    char **tok = malloc((size_t)t->n * sizeof *tok);
    if (!idx || !tok) {
        free(idx);
        free(tok);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    int m = latex_canonical_index((const char *const *)t->tok, t->n, idx), diff = m != t->n;
    for (int k = 0; k < m; k++) {
        const char *s = latex_canonical_spelling(t->tok[idx[k]]);
        diff |= idx[k] != k || s != t->tok[idx[k]];
        if (s != t->tok[idx[k]]) {
            char *c = strdup(s);
            if (!c) {
                free(idx);
                free(tok);
                return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
            }
            free(t->tok[idx[k]]);
            t->tok[idx[k]] = c;
        }
        tok[k] = t->tok[idx[k]];
        t->tok[idx[k]] = NULL;
    }
    for (int k = 0; k < t->n; k++) free(t->tok[k]); // the dropped \limits
    memcpy(t->tok, tok, (size_t)m * sizeof *tok);
    t->n = m;
    free(tok);
    free(idx);
    if (changed) *changed = diff;
    return TAP_OK;
}
