#include "tsv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latex.h"

static int by_uid(const void *a, const void *b) {
    return strcmp(((const TsvEntry *)a)->uid, ((const TsvEntry *)b)->uid);
}

const char *tsv_uid_problem(const char *uid) {
    if (!uid || !*uid) return "it is empty";
    for (const unsigned char *c = (const unsigned char *)uid; *c; c++) {
        if (*c == ' ') return "it holds a space";
        if (*c == '\t') return "it holds a tab";
        if (*c == '\n' || *c == '\r') return "it holds a line break";
        if (*c < 0x20 || *c == 0x7f) return "it holds a control character";
    }
    return NULL;
}

int tsv_load(const char *path, TsvTable *t, TapError *err) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return tap_error_set(err, TAP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int read_error = ferror(f);
    fclose(f);
    if (!buf) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    if (read_error) {
        free(buf);
        return tap_error_set(err, TAP_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return tap_error_set(err, TAP_ERR_FORMAT, "%s: binary data (NUL byte) in a text file", path);
    }
    // Count lines and tokens to size the arrays once.
    size_t n_lines = 1, n_words = 0;
    for (size_t i = 0; i < len; i++) {
        n_lines += buf[i] == '\n';
        n_words += !isspace((unsigned char)buf[i]) && (i == 0 || isspace((unsigned char)buf[i - 1]));
    }
    t->e = calloc(n_lines, sizeof *t->e);
    char **toks = malloc((n_words + 1) * sizeof *toks);
    if (!t->e || !toks) {
        free(buf);
        free(t->e);
        free(toks);
        t->e = NULL;
        return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    }
    t->store = buf;
    t->tok_store = toks;
    size_t w = 0;
    char *line = buf;
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *p = line;
        while (*p && isspace((unsigned char)*p)) p++;
        if (*p) {
            TsvEntry *e = &t->e[t->n++];
            e->uid = p;
            while (*p && !isspace((unsigned char)*p)) p++;
            e->tok = toks + w;
            while (*p) {
                *p++ = '\0';
                while (*p && isspace((unsigned char)*p)) p++;
                if (!*p) break;
                toks[w++] = p;
                e->n++;
                while (*p && !isspace((unsigned char)*p)) p++;
            }
        }
        line = next;
    }
    qsort(t->e, (size_t)t->n, sizeof *t->e, by_uid);
    for (int i = 1; i < t->n; i++)
        if (!strcmp(t->e[i].uid, t->e[i - 1].uid)) {
            int rc = tap_error_set(err, TAP_ERR_FORMAT, "%s: uid '%s' appears more than once", path,
                                   t->e[i].uid);
            tsv_free(t);
            return rc;
        }
    return TAP_OK;
}

const TsvEntry *tsv_find(const TsvTable *t, const char *uid) {
    TsvEntry key = {.uid = (char *)uid};
    return t->n ? bsearch(&key, t->e, (size_t)t->n, sizeof *t->e, by_uid) : NULL;
}

void tsv_free(TsvTable *t) {
    free(t->tok_store);
    free(t->e);
    free(t->store);
    memset(t, 0, sizeof *t);
}

int tsv_canonicalize(TsvTable *t) {
    int max = 0, changed = 0;
    for (int i = 0; i < t->n; i++) max = t->e[i].n > max ? t->e[i].n : max;
    int *idx = malloc(((size_t)max + 1) * sizeof *idx);
    char **tok = malloc(((size_t)max + 1) * sizeof *tok);
    if (!idx || !tok) {
        free(idx);
        free(tok);
        return -1;
    }
    for (int i = 0; i < t->n; i++) {
        TsvEntry *e = &t->e[i];
        int m = latex_canonical_index((const char *const *)e->tok, e->n, idx), diff = m != e->n;
        for (int k = 0; k < m; k++) {
            // the spelling is a string literal or the entry's own token: both outlive t
            tok[k] = (char *)latex_canonical_spelling(e->tok[idx[k]]);
            diff |= tok[k] != e->tok[k];
        }
        if (!diff) continue;
        memcpy(e->tok, tok, (size_t)m * sizeof *tok);
        e->n = m;
        changed++;
    }
    free(idx);
    free(tok);
    return changed;
}
