// Dictionary loading and an open-addressing hash from token to id.
#include "vocab.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

// Limits beyond which a dictionary file is garbage, not a vocabulary.
#define VOCAB_MAX_TOKENS 100000
#define VOCAB_MAX_LINE 4096

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

// Linear probing over slots (cap a power of two, -1 = empty) of indices into tokens: the slot
// holding token, or the empty slot where it belongs. One probe for the vocabulary's index and
// the token counter.
static uint32_t find_slot(const int *slots, int cap, char *const *tokens, const char *token) {
    uint32_t mask = (uint32_t)(cap - 1), h = hash_str(token) & mask;
    while (slots[h] >= 0 && strcmp(tokens[slots[h]], token) != 0) h = (h + 1) & mask;
    return h;
}

void vocab_free(Vocab *v) {
    if (!v) return;
    if (v->tokens)
        for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->slots);
    memset(v, 0, sizeof(*v));
}

// A line parsed into (token, id); the entries are kept in file order until ids are checked.
typedef struct {
    char *token;
    long id;
    int line;
} Entry;

static int parse_line(char *s, int lineno, const char *path, Entry *e, TapError *err) {
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = '\0';
    char *tab = strchr(s, '\t');
    if (!tab || tab == s)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s:%d: expected \"token<TAB>id\", got \"%.60s\"",
                             path, lineno, s);
    *tab = '\0';
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)  // UTF-8 bytes are fine
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s:%d: token \"%.60s\" contains whitespace or control bytes",
                                 path, lineno, s);
    char *end = NULL;
    errno = 0;
    long id = strtol(tab + 1, &end, 10);
    while (end && (*end == ' ' || *end == '\t')) end++;
    if (end == tab + 1 || *end != '\0' || errno != 0 || id < 0 || id >= VOCAB_MAX_TOKENS)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s:%d: bad id \"%.40s\" for token \"%.60s\"",
                             path, lineno, tab + 1, s);
    e->token = strdup(s);
    if (!e->token) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    e->id = id;
    e->line = lineno;
    return TAP_OK;
}

// Fills v from entries whose ids are a permutation of 0..n-1; takes ownership of the tokens.
static int build(Vocab *v, Entry *e, int n, const char *path, TapError *err) {
    v->tokens = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    v->cap = 16;
    while (v->cap < 2 * n) v->cap *= 2;
    v->slots = malloc((size_t)v->cap * sizeof(int));
    if (!v->tokens || !v->slots) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < v->cap; i++) v->slots[i] = -1;
    v->n = n;
    for (int i = 0; i < n; i++) {
        if (e[i].id >= n)
            return tap_error_set(err, TAP_ERR_FORMAT,
                                 "%s:%d: id %ld out of range: %d tokens need ids 0..%d", path,
                                 e[i].line, e[i].id, n, n - 1);
        if (v->tokens[e[i].id])
            return tap_error_set(err, TAP_ERR_FORMAT, "%s:%d: duplicate id %ld", path, e[i].line,
                                 e[i].id);
        v->tokens[e[i].id] = e[i].token;
        e[i].token = NULL;
    }
    for (int id = 0; id < n; id++) {
        uint32_t h = find_slot(v->slots, v->cap, v->tokens, v->tokens[id]);
        if (v->slots[h] >= 0)
            return tap_error_set(err, TAP_ERR_FORMAT, "%s: duplicate token \"%s\" (ids %d, %d)",
                                 path, v->tokens[id], v->slots[h], id);
        v->slots[h] = id;
    }
    return TAP_OK;
}

int vocab_load(const char *path, Vocab *v, TapError *err) {
    memset(v, 0, sizeof(*v));
    FILE *f = fopen(path, "rb");
    if (!f) return tap_error_set(err, TAP_ERR_IO, "%s: %s", path, strerror(errno));
    Entry *e = NULL;
    int n = 0, cap = 0, lineno = 0, rc = TAP_OK;
    char line[VOCAB_MAX_LINE];
    while (rc == TAP_OK && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = tap_error_set(err, TAP_ERR_FORMAT, "%s:%d: line too long", path, lineno);
            break;
        }
        if (line[strspn(line, " \t\r\n")] == '\0') continue;  // blank lines are harmless
        if (n == cap) {
            int ncap = cap ? 2 * cap : 128;
            Entry *ne = ncap <= VOCAB_MAX_TOKENS ? realloc(e, (size_t)ncap * sizeof(Entry)) : NULL;
            if (!ne) {
                rc = cap >= VOCAB_MAX_TOKENS
                         ? tap_error_set(err, TAP_ERR_FORMAT, "%s: more than %d tokens", path,
                                         VOCAB_MAX_TOKENS)
                         : tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            e = ne;
            cap = ncap;
        }
        rc = parse_line(line, lineno, path, &e[n], err);
        if (rc == TAP_OK) n++;
    }
    if (rc == TAP_OK && ferror(f)) rc = tap_error_set(err, TAP_ERR_IO, "%s: read error", path);
    fclose(f);
    if (rc == TAP_OK && n == 0) rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: no tokens", path);
    if (rc == TAP_OK) rc = build(v, e, n, path, err);
    for (int i = 0; i < n; i++) free(e[i].token);
    free(e);
    if (rc != TAP_OK) vocab_free(v);
    return rc;
}

int vocab_id(const Vocab *v, const char *token) {
    if (!v->slots || !token) return -1;
    return v->slots[find_slot(v->slots, v->cap, v->tokens, token)];
}

const char *vocab_token(const Vocab *v, int id) {
    return id >= 0 && id < v->n ? v->tokens[id] : NULL;
}

// ----------------------------------------------------------------------------- from tokens

static int token_ok(const char *s) {
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f) return 0;
    return 1;
}

int vocab_from_tokens(Vocab *v, const char *const *tokens, int n, const char *what,
                      TapError *err) {
    memset(v, 0, sizeof(*v));
    if (n <= 0) return tap_error_set(err, TAP_ERR_FORMAT, "%s: no tokens", what);
    if (n > VOCAB_MAX_TOKENS)
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: more than %d tokens", what,
                             VOCAB_MAX_TOKENS);
    Entry *e = calloc((size_t)n, sizeof *e);
    if (!e) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", what);
    int rc = TAP_OK;
    for (int i = 0; i < n && rc == TAP_OK; i++) {
        if (!tokens[i] || !token_ok(tokens[i]))
            rc = tap_error_set(err, TAP_ERR_FORMAT,
                               "%s: token %d is empty or contains whitespace or control bytes",
                               what, i);
        else if (!(e[i].token = strdup(tokens[i])))
            rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", what);
        e[i].id = i;
        e[i].line = i + 1;
    }
    if (rc == TAP_OK) rc = build(v, e, n, what, err);
    for (int i = 0; i < n; i++) free(e[i].token);
    free(e);
    if (rc != TAP_OK) vocab_free(v);
    return rc;
}

// ----------------------------------------------------------------------------- counting

void vocab_counter_free(VocabCounter *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->tokens[i]);
    free(c->tokens);
    free(c->count);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static int counter_grow(VocabCounter *c) {
    int cap = c->cap ? 2 * c->cap : 256;
    int *slots = malloc((size_t)cap * sizeof *slots);
    char **tokens = realloc(c->tokens, (size_t)(cap / 2) * sizeof *tokens);
    if (tokens) c->tokens = tokens;
    long long *count = realloc(c->count, (size_t)(cap / 2) * sizeof *count);
    if (count) c->count = count;
    if (!slots || !tokens || !count) {
        free(slots);
        return -1;
    }
    for (int i = 0; i < cap; i++) slots[i] = -1;
    for (int i = 0; i < c->n; i++) slots[find_slot(slots, cap, c->tokens, c->tokens[i])] = i;
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return 0;
}

int vocab_counter_add(VocabCounter *c, const char *token, TapError *err) {
    if (!token_ok(token))
        return tap_error_set(err, TAP_ERR_FORMAT,
                             "token \"%.60s\" is empty or contains whitespace or control bytes",
                             token);
    if (c->cap) {
        int at = c->slots[find_slot(c->slots, c->cap, c->tokens, token)];
        if (at >= 0) {
            c->count[at]++;
            return TAP_OK;
        }
    }
    if (2 * (c->n + 1) > c->cap) {
        if (c->n >= VOCAB_MAX_TOKENS)
            return tap_error_set(err, TAP_ERR_FORMAT, "more than %d distinct tokens",
                                 VOCAB_MAX_TOKENS);
        if (counter_grow(c)) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    char *s = strdup(token);
    if (!s) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    c->slots[find_slot(c->slots, c->cap, c->tokens, token)] = c->n;
    c->tokens[c->n] = s;
    c->count[c->n] = 1;
    c->n++;
    return TAP_OK;
}

static const VocabCounter *g_sort_counter; // qsort has no context argument

static int by_count(const void *a, const void *b) {
    const VocabCounter *c = g_sort_counter;
    int i = *(const int *)a, j = *(const int *)b;
    if (c->count[i] != c->count[j]) return c->count[i] > c->count[j] ? -1 : 1;
    return strcmp(c->tokens[i], c->tokens[j]);
}

int vocab_counter_write(const VocabCounter *c, const char *path, long long min_count,
                        int *n_tokens, int *n_dropped, TapError *err) {
    int *order = malloc(((size_t)c->n + 1) * sizeof *order);
    if (!order) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    int m = 0, dropped = 0, has_unk = 0;
    for (int i = 0; i < c->n; i++) {
        if (!strcmp(c->tokens[i], "<eol>")) continue; // always id 0
        if (c->count[i] >= min_count)
            order[m++] = i, has_unk |= !strcmp(c->tokens[i], "<unk>");
        else
            dropped++;
    }
    g_sort_counter = c;
    qsort(order, (size_t)m, sizeof *order, by_count);
    OutFile f;
    int rc = outfile_open(&f, path, err);
    if (rc == TAP_OK) {
        fprintf(f.f, "<eol>\t0\n");
        for (int k = 0; k < m; k++) fprintf(f.f, "%s\t%d\n", c->tokens[order[k]], k + 1);
        if (dropped && !has_unk) fprintf(f.f, "<unk>\t%d\n", m + 1);
        rc = outfile_commit(&f, err);
    }
    free(order);
    if (n_tokens) *n_tokens = 1 + m + (dropped && !has_unk);
    if (n_dropped) *n_dropped = dropped;
    return rc;
}
