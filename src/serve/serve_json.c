// Request and answer bodies of `tap serve` (serve.h), with jansson: strokes from JSON, and the
// n-best answer as JSON.
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

void serve_strokes_free(ServeStrokes *s) {
    if (!s) return;
    free(s->len);
    free(s->x);
    free(s->y);
    free(s->block);
    memset(s, 0, sizeof *s);
}

// An optional small positive integer member of an object body.
static int int_member(const json_t *root, const char *name, int max, int *out, TapError *err) {
    const json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) return TAP_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
        return tap_error_set(err, TAP_ERR_ARG, "\"%s\" must be an integer 1..%d", name, max);
    *out = (int)json_integer_value(v);
    return TAP_OK;
}

int serve_parse_strokes(const char *body, size_t len, int max_strokes, int max_points,
                        ServeStrokes *out, TapError *err) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    // JSON_ALLOW_NUL is off: a NUL byte inside is malformed. Numbers beyond double range and
    // NaN/Infinity literals are parse errors in jansson, so every number read is finite.
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tap_error_set(err, TAP_ERR_ARG, "malformed JSON: %s (line %d, column %d)", je.text,
                             je.line, je.column);
    const json_t *strokes = root;
    int rc = TAP_OK;
    if (json_is_object(root)) {
        strokes = json_object_get(root, "strokes");
        if ((rc = int_member(root, "n_best", 1000, &out->n_best, err)) != TAP_OK ||
            (rc = int_member(root, "beam", 1000, &out->beam, err)) != TAP_OK)
            goto fail;
        if (!strokes) {
            rc = tap_error_set(err, TAP_ERR_ARG, "the object has no \"strokes\" member");
            goto fail;
        }
    }
    if (!json_is_array(strokes)) {
        rc = tap_error_set(err, TAP_ERR_ARG,
                           "strokes must be an array of strokes, each an array of [x, y] points");
        goto fail;
    }
    size_t n = json_array_size(strokes);
    if (n == 0) {
        rc = tap_error_set(err, TAP_ERR_ARG, "no strokes");
        goto fail;
    }
    if (n > (size_t)max_strokes) {
        rc = tap_error_set(err, TAP_ERR_ARG, "too many strokes: %zu (at most %d)", n, max_strokes);
        goto fail;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(strokes, i);
        if (!json_is_array(s)) {
            rc = tap_error_set(err, TAP_ERR_ARG, "stroke %zu is not an array of points", i);
            goto fail;
        }
        if (json_array_size(s) == 0) {
            rc = tap_error_set(err, TAP_ERR_ARG, "stroke %zu is empty", i);
            goto fail;
        }
        total += json_array_size(s);
        if (total > (size_t)max_points) {
            rc = tap_error_set(err, TAP_ERR_ARG, "too many points: more than %d", max_points);
            goto fail;
        }
    }
    out->n = (int)n;
    out->len = malloc(n * sizeof *out->len);
    out->x = malloc(n * sizeof *out->x);
    out->y = malloc(n * sizeof *out->y);
    out->block = malloc(2 * total * sizeof *out->block);
    if (!out->len || !out->x || !out->y || !out->block) {
        rc = tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
        goto fail;
    }
    double *p = out->block;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(strokes, i);
        size_t m = json_array_size(s);
        out->len[i] = (int)m;
        out->x[i] = p;
        out->y[i] = p + m;
        for (size_t k = 0; k < m; k++) {
            const json_t *pt = json_array_get(s, k);
            const json_t *jx = json_array_get(pt, 0), *jy = json_array_get(pt, 1);
            if (!json_is_array(pt) || !json_is_number(jx) || !json_is_number(jy)) {
                rc = tap_error_set(err, TAP_ERR_ARG, "stroke %zu point %zu is not [x, y] numbers",
                                   i, k);
                goto fail;
            }
            double x = json_number_value(jx), y = json_number_value(jy);
            if (!isfinite(x) || !isfinite(y) || fabs(x) > 1e9 || fabs(y) > 1e9) {
                rc = tap_error_set(err, TAP_ERR_ARG,
                                   "stroke %zu point %zu: coordinate not finite or beyond 1e9", i,
                                   k);
                goto fail;
            }
            out->x[i][k] = x;
            out->y[i][k] = y;
        }
        p += 2 * m;
    }
    json_decref(root);
    return TAP_OK;
fail:
    json_decref(root);
    int n_best = out->n_best, beam = out->beam;
    serve_strokes_free(out);
    out->n_best = n_best, out->beam = beam;
    return rc;
}

// A float rounded to 4 decimals: attention needs no more, and the answer stays small.
static json_t *real4(double v) { return json_real(round(v * 1e4) / 1e4); }

char *serve_result_json(const TapResult *res) {
    json_t *root = json_object(), *hyps = json_array(), *st = json_array();
    if (!root || !hyps || !st) goto oom;
    json_object_set_new(root, "n_strokes", json_integer(res->n_strokes));
    json_object_set_new(root, "n_points", json_integer(res->n_points));
    json_object_set_new(root, "ms", json_real(round(res->seconds * 1e4) / 10.0));
    for (int h = 0; h < res->n_hyp; h++) {
        const TapHypothesis *y = &res->hyp[h];
        json_t *o = json_object(), *toks = json_array(), *cols = json_array(), *att = json_array();
        if (!o || !toks || !cols || !att) {
            json_decref(o), json_decref(toks), json_decref(cols), json_decref(att);
            goto oom;
        }
        json_object_set_new(o, "latex", json_string(y->latex));
        json_object_set_new(o, "score", json_real(y->score));
        json_object_set_new(o, "cost", json_real(y->cost));
        json_object_set_new(o, "finished", json_boolean(y->finished));
        for (int t = 0; t < y->n_tokens; t++) {
            json_array_append_new(toks, json_string(y->tokens[t]));
            unsigned char c[3];
            char hex[8];
            tap_token_color(t, c);
            snprintf(hex, sizeof hex, "#%02x%02x%02x", c[0], c[1], c[2]);
            json_array_append_new(cols, json_string(hex));
            json_t *row = json_array();
            for (int k = 0; k < res->n_strokes && row; k++)
                json_array_append_new(row, real4(y->stroke_attention[(size_t)t * res->n_strokes + k]));
            json_array_append_new(att, row);
        }
        json_object_set_new(o, "tokens", toks);
        json_object_set_new(o, "colors", cols);
        json_object_set_new(o, "attention", att);
        json_array_append_new(hyps, o);
    }
    for (int k = 0; k < res->n_strokes; k++)
        json_array_append_new(st, json_integer(res->stroke_token ? res->stroke_token[k] : -1));
    json_object_set_new(root, "hypotheses", hyps);
    json_object_set_new(root, "stroke_token", st);
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(root);
    return s;
oom:
    json_decref(root), json_decref(hyps), json_decref(st);
    return NULL;
}
