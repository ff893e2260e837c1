// Recognising handwriting through tap's public interface alone (src/tap_api.h):
//
//   tap_example MODEL.h5 DICT.txt FILE.inkml [N]   the N best readings of an InkML file
//   tap_example MODEL.h5 DICT.txt --strokes        a "1 + 1" written here as four strokes
//
// prints "rank<TAB>score<TAB>LaTeX" lines, best first, then which token each stroke went to.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap_api.h"

static void print_result(const TapResult *res) {
    for (int h = 0; h < res->n_hyp; h++)
        printf("%d\t%.4f\t%s\n", h + 1, res->hyp[h].score, res->hyp[h].latex);
    const TapHypothesis *best = &res->hyp[0];
    for (int s = 0; s < res->n_strokes; s++) {
        int t = res->stroke_token[s];
        printf("stroke %d -> %s\n", s, t >= 0 && t < best->n_tokens ? best->tokens[t] : "(none)");
    }
    printf("%d points, %.1f ms\n", res->n_points, 1e3 * res->seconds);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.h5 DICT.txt FILE.inkml [N] | --strokes\n", argv[0]);
        return 2;
    }
    char err[512];
    TapRecognizer *rec;
    if (tap_recognizer_open(argv[1], argv[2], &rec, err, sizeof err) != TAP_API_OK) {
        fprintf(stderr, "tap_example: %s\n", err);
        return 1;
    }
    TapRecognizeOptions opt = {.beam = 10, .n_best = argc > 4 ? atoi(argv[4]) : 3};
    TapResult res;
    int rc;
    if (!strcmp(argv[3], "--strokes")) {
        // "1 + 1": a down stroke, a cross of two strokes, a down stroke (y grows downwards).
        const double x0[] = {10, 10, 10, 10}, y0[] = {0, 10, 20, 30};
        const double x1[] = {22, 30, 38}, y1[] = {15, 15, 15};
        const double x2[] = {30, 30, 30}, y2[] = {7, 15, 23};
        const double x3[] = {50, 50, 50, 50}, y3[] = {0, 10, 20, 30};
        const double *xs[] = {x0, x1, x2, x3}, *ys[] = {y0, y1, y2, y3};
        const int n[] = {4, 3, 3, 4};
        rc = tap_recognize_strokes(rec, 4, n, xs, ys, &opt, &res, err, sizeof err);
    } else {
        rc = tap_recognize_inkml(rec, argv[3], &opt, &res, err, sizeof err);
    }
    if (rc != TAP_API_OK) {
        fprintf(stderr, "tap_example: %s\n", err);
        tap_recognizer_close(rec);
        return 1;
    }
    print_result(&res);
    tap_result_free(&res);
    tap_recognizer_close(rec);
    return 0;
}
