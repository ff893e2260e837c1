// Dictionary loading and an open-addressing hash from token to id.
#include "vocab.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

// Limits beyond which a dictionary file is garbage, not a vocabulary.
#define VOCAB_MAX_TOKENS 100000
#define VOCAB_MAX_LINE 4096

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
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
        uint32_t h = hash_str(v->tokens[id]) & (uint32_t)(v->cap - 1);
        while (v->slots[h] >= 0) {
            if (strcmp(v->tokens[v->slots[h]], v->tokens[id]) == 0)
                return tap_error_set(err, TAP_ERR_FORMAT, "%s: duplicate token \"%s\" (ids %d, %d)",
                                     path, v->tokens[id], v->slots[h], id);
            h = (h + 1) & (uint32_t)(v->cap - 1);
        }
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
    uint32_t h = hash_str(token) & (uint32_t)(v->cap - 1);
    while (v->slots[h] >= 0) {
        if (strcmp(v->tokens[v->slots[h]], token) == 0) return v->slots[h];
        h = (h + 1) & (uint32_t)(v->cap - 1);
    }
    return -1;
}

const char *vocab_token(const Vocab *v, int id) {
    return id >= 0 && id < v->n ? v->tokens[id] : NULL;
}
