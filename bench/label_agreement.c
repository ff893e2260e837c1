// Measures how closely latex_tokenize and align_build reproduce TAP's CROHME 2014 labels
// (train_caption.txt) and stroke alignments (on-align-train/*.align), and counts
// out-of-vocabulary tokens on a split without TAP labels. Mismatches are grouped by diff hunk
// ("ours -> TAP's") so the residual classes can be read off the top of the list.
//
//   label_agreement captions CAPTIONS INKML_DIR [--show N] [--examples N]
//   label_agreement align ALIGN_DIR CAPTIONS INKML_DIR [--show N]
//   label_agreement oov DICTIONARY INKML_DIR
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "inkml.h"
#include "latex.h"
#include "tsv.h"
#include "vocab.h"

// ---------------------------------------------------------------------------------------------
// Hunk tally: a tiny string -> (count, example) table.

typedef struct {
    char *key;
    char *example;
    int count;
} Hunk;

typedef struct {
    Hunk *h;
    int n, cap;
} Tally;

static void tally_add(Tally *t, const char *key, const char *example) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->h[i].key, key) == 0) {
            t->h[i].count++;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->h = realloc(t->h, (size_t)t->cap * sizeof(Hunk));
        if (!t->h) abort();
    }
    t->h[t->n++] = (Hunk){strdup(key), strdup(example), 1};
}

static int hunk_cmp(const void *a, const void *b) {
    return ((const Hunk *)b)->count - ((const Hunk *)a)->count;
}

static void tally_print(Tally *t, int show) {
    qsort(t->h, (size_t)t->n, sizeof(Hunk), hunk_cmp);
    for (int i = 0; i < t->n && i < show; i++)
        printf("%5d  %-60s  e.g. %s\n", t->h[i].count, t->h[i].key, t->h[i].example);
    for (int i = 0; i < t->n; i++) {
        free(t->h[i].key);
        free(t->h[i].example);
    }
    free(t->h);
}

// Diff hunks of a vs b by LCS; each hunk becomes "a-part -> b-part".
static void diff_hunks(char **a, int na, char **b, int nb, Tally *t, const char *uid) {
    int *L = calloc((size_t)(na + 1) * (size_t)(nb + 1), sizeof(int));
    if (!L) abort();
#define LL(i, j) L[(size_t)(i) * (size_t)(nb + 1) + (size_t)(j)]
    for (int i = na - 1; i >= 0; i--)
        for (int j = nb - 1; j >= 0; j--)
            LL(i, j) = strcmp(a[i], b[j]) == 0 ? LL(i + 1, j + 1) + 1
                       : LL(i + 1, j) > LL(i, j + 1) ? LL(i + 1, j) : LL(i, j + 1);
    int i = 0, j = 0;
    char key[512];
    while (i < na || j < nb) {
        if (i < na && j < nb && strcmp(a[i], b[j]) == 0) {
            i++, j++;
            continue;
        }
        size_t k = 0;
        key[0] = '\0';
        int i0 = i, j0 = j;
        while ((i < na || j < nb) && !(i < na && j < nb && strcmp(a[i], b[j]) == 0)) {
            if (j >= nb || (i < na && LL(i + 1, j) >= LL(i, j + 1)))
                i++;
            else
                j++;
        }
        for (int q = i0; q < i && k < 200; q++) k += (size_t)snprintf(key + k, sizeof key - k, "%s ", a[q]);
        k += (size_t)snprintf(key + k, sizeof key - k, "-> ");
        for (int q = j0; q < j && k < 400; q++) k += (size_t)snprintf(key + k, sizeof key - k, "%s ", b[q]);
        tally_add(t, key, uid);
    }
#undef LL
    free(L);
}

static int load_doc(const char *dir, const char *uid, InkmlDoc *doc) {
    char path[4096];
    TapError err = {0};
    snprintf(path, sizeof path, "%s/%s.inkml", dir, uid);
    if (inkml_load(path, doc, &err)) {
        printf("LOAD FAIL %s: %s\n", uid, err.msg);
        return -1;
    }
    return 0;
}

static int cmd_captions(const char *captions, const char *dir, int show, int examples) {
    TsvTable cap;
    TapError err = {0};
    if (tsv_load(captions, &cap, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    Tally t = {0};
    int same = 0, fails = 0, shown = 0;
    for (int e = 0; e < cap.n; e++) {
        InkmlDoc doc;
        if (load_doc(dir, cap.e[e].uid, &doc)) continue;
        TokenList tl;
        if (latex_tokenize(doc.truth ? doc.truth : "", &tl, &err)) {
            fails++;
            printf("TOKENIZE FAIL %s: %s\n", cap.e[e].uid, err.msg);
            tally_add(&t, "(tokenize failure)", cap.e[e].uid);
        } else {
            int eq = tl.n == cap.e[e].n;
            for (int i = 0; eq && i < tl.n; i++) eq = strcmp(tl.tok[i], cap.e[e].tok[i]) == 0;
            if (eq) {
                same++;
            } else {
                diff_hunks(tl.tok, tl.n, cap.e[e].tok, cap.e[e].n, &t, cap.e[e].uid);
                if (shown++ < examples) {
                    char buf[2048];
                    token_list_join(&tl, buf, sizeof buf);
                    printf("%s\n  truth %s\n  ours  %s\n  tap  ", cap.e[e].uid, doc.truth, buf);
                    for (int i = 0; i < cap.e[e].n; i++) printf(" %s", cap.e[e].tok[i]);
                    printf("\n");
                }
            }
            token_list_free(&tl);
        }
        inkml_free(&doc);
    }
    printf("\nidentical token sequences: %d / %d = %.2f%% (tokenize failures %d)\n", same, cap.n,
           100.0 * same / (cap.n ? cap.n : 1), fails);
    printf("mismatch hunks (ours -> TAP), most frequent first:\n");
    tally_print(&t, show);
    tsv_free(&cap);
    return 0;
}

static int cmd_oov(const char *dict, const char *dir) {
    Vocab v;
    TapError err = {0};
    if (vocab_load(dict, &v, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    struct dirent *de;
    int files = 0, oov_files = 0, fails = 0;
    Tally t = {0};
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 7 || strcmp(de->d_name + len - 6, ".inkml") != 0) continue;
        char uid[1024];
        snprintf(uid, sizeof uid, "%.*s", (int)(len - 6), de->d_name);
        InkmlDoc doc;
        if (load_doc(dir, uid, &doc)) continue;
        files++;
        TokenList tl;
        if (latex_tokenize(doc.truth ? doc.truth : "", &tl, &err)) {
            fails++;
            printf("TOKENIZE FAIL %s: %s\n", uid, err.msg);
        } else {
            int bad = 0;
            for (int i = 0; i < tl.n; i++)
                if (vocab_id(&v, tl.tok[i]) < 0) {
                    bad = 1;
                    tally_add(&t, tl.tok[i], uid);
                }
            if (bad) {
                char buf[2048];
                token_list_join(&tl, buf, sizeof buf);
                printf("OOV %s: %s\n    %s\n", uid, doc.truth, buf);
            }
            oov_files += bad;
            token_list_free(&tl);
        }
        inkml_free(&doc);
    }
    closedir(d);
    printf("\n%d files: %d tokenize failures, %d with a token outside the vocabulary\n", files,
           fails, oov_files);
    printf("out-of-vocabulary tokens (occurrences):\n");
    tally_print(&t, 100);
    vocab_free(&v);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Alignments: TAP's <uid>.align is "token idx idx ..." per line, -1 for none.

typedef struct {
    int n;
    char tok[512][32];
    char strokes[512][256];
} AlignFile;

static int read_align(const char *dir, const char *uid, AlignFile *a) {
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/%s.align", dir, uid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    a->n = 0;
    while (fgets(line, sizeof line, f) && a->n < 512) {
        line[strcspn(line, "\r\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (sp) *sp = '\0';
        snprintf(a->tok[a->n], sizeof a->tok[0], "%.31s", line);
        // TAP writes -1 for structure tokens and nothing for symbols it could not place:
        // both mean "no strokes".
        snprintf(a->strokes[a->n], sizeof a->strokes[0], "%.255s", sp && sp[1] ? sp + 1 : "-1");
        a->n++;
    }
    fclose(f);
    return 0;
}

static void format_strokes(const Alignment *al, int i, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    if (al->start[i] == al->start[i + 1]) {
        snprintf(buf, size, "-1");
        return;
    }
    for (int s = al->start[i]; s < al->start[i + 1] && k < size; s++)
        k += (size_t)snprintf(buf + k, size - k, s > al->start[i] ? " %d" : "%d", al->strokes[s]);
}

static int cmd_align(const char *adir, const char *captions, const char *dir, int show) {
    TsvTable cap;
    TapError err = {0};
    if (tsv_load(captions, &cap, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static AlignFile a;
    Tally t = {0};
    int files = 0, files_same = 0, toks = 0, toks_same = 0, fails = 0;
    for (int e = 0; e < cap.n; e++) {
        const char *uid = cap.e[e].uid;
        if (read_align(adir, uid, &a)) continue;
        InkmlDoc doc;
        if (load_doc(dir, uid, &doc)) continue;
        // Align TAP's own tokens, so that label differences do not count against the alignment.
        TokenList tl = {0};
        for (int i = 0; i < a.n; i++) token_list_push(&tl, a.tok[i], &err);
        Alignment al;
        files++;
        toks += a.n;
        if (align_build(&tl, &doc, &al, &err)) {
            fails++;
            printf("ALIGN FAIL %s: %s\n", uid, err.msg);
        } else {
            int all = 1;
            for (int i = 0; i < a.n; i++) {
                char buf[256];
                format_strokes(&al, i, buf, sizeof buf);
                if (strcmp(buf, a.strokes[i]) == 0) {
                    toks_same++;
                } else {
                    char key[700];
                    all = 0;
                    // group by token and shape of the disagreement
                    snprintf(key, sizeof key, "%s: ours %s, tap %s", a.tok[i],
                             strcmp(buf, "-1") == 0 ? "none" : "strokes",
                             strcmp(a.strokes[i], "-1") == 0 ? "none" : "strokes");
                    tally_add(&t, key, uid);
                }
            }
            files_same += all;
            alignment_free(&al);
        }
        token_list_free(&tl);
        inkml_free(&doc);
    }
    printf("\nfiles identical: %d / %d = %.2f%%; tokens identical: %d / %d = %.2f%% (failures %d)\n",
           files_same, files, 100.0 * files_same / (files ? files : 1), toks_same, toks,
           100.0 * toks_same / (toks ? toks : 1), fails);
    tally_print(&t, show);
    tsv_free(&cap);
    return 0;
}

int main(int argc, char **argv) {
    int show = 40, examples = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--show") == 0) show = atoi(argv[i + 1]);
        if (strcmp(argv[i], "--examples") == 0) examples = atoi(argv[i + 1]);
    }
    if (argc >= 4 && strcmp(argv[1], "captions") == 0) return cmd_captions(argv[2], argv[3], show, examples);
    if (argc >= 4 && strcmp(argv[1], "oov") == 0) return cmd_oov(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "align") == 0) return cmd_align(argv[2], argv[3], argv[4], show);
    fprintf(stderr,
            "usage: label_agreement captions CAPTIONS INKML_DIR [--show N] [--examples N]\n"
            "       label_agreement align ALIGN_DIR CAPTIONS INKML_DIR [--show N]\n"
            "       label_agreement oov DICTIONARY INKML_DIR\n");
    return 2;
}
