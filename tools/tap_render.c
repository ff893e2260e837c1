// tap render MODEL.h5 INPUT... -o DIR: decode each expression and draw its ink with every stroke
// coloured by the output token that attended to it most (attention summed over the stroke's
// points; annotation s covers points [s·2^p, (s+1)·2^p) for p pooling layers), the predicted
// tokens in the same colours and the reference below; --frames adds one picture per decoding
// step with the attention heat map over the points. DIR/index.html shows the gallery, errors
// first (largest edit distance first). With --attention ADIR (from `tap decode --attention`)
// the saved attention is drawn instead of decoding, and no model is given.
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "latex.h"
#include "metrics.h"
#include "rec_cli.h"
#include "recognize.h"
#include "render.h"

typedef struct {
    const char *out, *ref, *attention;
    int width, frames;
    RecSettings rec;
} RenderOptions;

typedef struct {
    int order;        // input position
    char *uid, *png;  // png: file name inside the output directory
    char *pred, *ref; // joined tokens; ref NULL when unknown
    int dist;         // edit distance, -1 without a reference
    int n_frames;
    char *failed; // the reason when the expression could not be drawn
} Card;

typedef struct {
    const RenderOptions *o;
    const RecInputs *in;
    const Vocab *v;       // decode mode
    const TsvTable *refs; // --ref, or NULL
    int pool;             // of the model (decode mode)
    Card *cards;          // (in->n)
    int n_drawn, n_failed;
} RenderRun;

// The reference tokens of item i: --ref, else the dataset's labels, else the InkML truth (as
// tap prep labels it).
// Returns the count (tokens in *tok, to free with free_ref), or -1 when there is none.
static int reference_of(const RenderRun *r, int i, const RecInk *ink, char ***tok, TokenList *own) {
    const char *uid = r->in->items[i].uid;
    memset(own, 0, sizeof *own);
    *tok = NULL;
    if (r->refs) {
        const TsvEntry *e = tsv_find(r->refs, uid);
        if (!e) return -1;
        *tok = e->tok;
        return e->n;
    }
    if (ink->n_ref >= 0) {
        const Dataset *ds = &r->in->ds[r->in->items[i].ds];
        for (int k = 0; k < ink->n_ref; k++)
            if (token_list_push(own, ds->vocab[ink->ref[k]], NULL) != TAP_OK) return -1;
        *tok = own->tok;
        return own->n;
    }
    if (ink->truth && latex_tokenize(ink->truth, own, NULL) == TAP_OK) {
        *tok = own->tok;
        return own->n;
    }
    return -1;
}

// Splits text at spaces into at most max_lines lines that fit `width` pixels in render.c's text
// font (DejaVu Sans, 18 px); the last line takes whatever is left. Returns the lines (malloc'd).
static int wrap(cairo_t *m, const char *text, double width, char **lines, int max_lines) {
    int n = 0;
    const char *p = text;
    while (*p && n < max_lines) {
        int len = (int)strlen(p), cut = len;
        char buf[1024];
        if (n < max_lines - 1) {
            for (int k = 1; k <= len && k < (int)sizeof buf; k++) {
                if (p[k] != ' ' && p[k] != '\0') continue;
                memcpy(buf, p, (size_t)k);
                buf[k] = '\0';
                cairo_text_extents_t ext;
                cairo_text_extents(m, buf, &ext);
                if (ext.x_advance > width && cut != len) break;
                cut = k;
                if (ext.x_advance > width) break; // a single word wider than the line
            }
        }
        lines[n] = malloc((size_t)cut + 1);
        if (!lines[n]) break;
        memcpy(lines[n], p, (size_t)cut);
        lines[n++][cut] = '\0';
        p += cut;
        while (*p == ' ') p++;
    }
    return n;
}

// Draws one expression: the summary picture and, with --frames, one per step.
static int draw(RenderRun *r, int i, const RecInk *ink, const char *const *toks, int n, int n_att,
                int S, int pool, const float *alphas, Card *card) {
    const RenderOptions *o = r->o;
    const char *uid = r->in->items[i].uid;
    TapError err;
    int N = ink->n_rows, rc = TAP_OK;
    char **ref = NULL;
    TokenList own;
    int n_ref = reference_of(r, i, ink, &ref, &own);
    card->pred = rec_join(toks, n);
    card->ref = n_ref >= 0 ? rec_join((const char *const *)ref, n_ref) : NULL;
    card->dist = -1;
    if (n_ref >= 0) {
        int *scratch = malloc((size_t)(n_ref + 1) * (size_t)(n + 1) * sizeof *scratch);
        if (scratch)
            card->dist =
                edit_distance((const char *const *)ref, n_ref, toks, n, scratch, NULL, NULL);
        free(scratch);
    }
    token_list_free(&own);
    float *x = malloc((size_t)N * sizeof *x), *y = malloc((size_t)N * sizeof *y);
    float *heat = malloc((size_t)N * sizeof *heat),
          *scratch = malloc(((size_t)ink->n_strokes + 1) * sizeof *scratch);
    int *stroke_token = malloc(((size_t)ink->n_strokes + 1) * sizeof *stroke_token);
    char *png = rec_uid_path(o->out, uid, ".png");
    if (!x || !y || !heat || !scratch || !stroke_token || !png || !card->pred) {
        rc = tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < N; j++) x[j] = ink->f[(size_t)j * 9], y[j] = ink->f[(size_t)j * 9 + 1];
    // <eol>'s attention is left out: strokes take the colours of the printed tokens.
    rec_stroke_tokens(alphas, n, S, pool, ink->stroke, N, ink->n_strokes, scratch, stroke_token);

    char info[256];
    if (card->dist >= 0)
        snprintf(info, sizeof info, "%s   %d token%s   edit distance %d", uid, n, n == 1 ? "" : "s",
                 card->dist);
    else
        snprintf(info, sizeof info, "%s   %d token%s   no reference", uid, n, n == 1 ? "" : "s");
    // The reference and the info line, wrapped to the picture (render.c draws 20 px margins).
    char *lines[4] = {0}, *reftext = malloc((card->ref ? strlen(card->ref) : 0) + 8);
    int n_lines = 0;
    cairo_surface_t *ms = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *m = cairo_create(ms);
    cairo_select_font_face(m, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(m, 18);
    if (card->ref && reftext) {
        sprintf(reftext, "ref: %s", card->ref);
        n_lines = wrap(m, reftext, o->width - 40.0, lines, 3);
    }
    n_lines += wrap(m, info, o->width - 40.0, lines + n_lines, 4 - n_lines);
    cairo_destroy(m);
    cairo_surface_destroy(ms);
    free(reftext);
    RenderInk ri = {.n_points = N,
                    .x = x,
                    .y = y,
                    .point_stroke = ink->stroke,
                    .stroke_token = stroke_token,
                    .n_strokes = ink->n_strokes,
                    .tokens = toks,
                    .n_tokens = n,
                    .heat = NULL,
                    .highlight = -1};
    memcpy(ri.lines, lines, sizeof lines);
    rc = render_ink_png(&ri, o->width, png, &err);
    for (int t = 0; rc == TAP_OK && o->frames && t < n_att; t++) {
        rec_row_attention(alphas + (size_t)t * S, S, pool, N, heat);
        float mx = 0.0f;
        for (int j = 0; j < N; j++) mx = heat[j] > mx ? heat[j] : mx;
        for (int j = 0; mx > 0.0f && j < N; j++) heat[j] /= mx;
        char step[64], name[32];
        snprintf(step, sizeof step, "%s   step %d of %d: %s", uid, t + 1, n_att,
                 t < n ? toks[t] : "<eol>");
        snprintf(name, sizeof name, ".%03d.png", t + 1);
        RenderInk fr = ri;
        fr.heat = heat;
        fr.highlight = t < n ? t : -1;
        memset(fr.lines, 0, sizeof fr.lines);
        fr.lines[0] = step;
        char *sub = rec_uid_path(o->out, "frames", ""),
             *path = sub ? rec_uid_path(sub, uid, name) : NULL;
        if (!path)
            rc = tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
        else
            rc = render_ink_png(&fr, o->width, path, &err);
        free(sub), free(path);
        card->n_frames = t + 1;
    }
    for (int k = 0; k < n_lines; k++) free(lines[k]);
done:
    if (rc == TAP_OK) {
        const char *slash = strrchr(png, '/');
        card->png = strdup(slash ? slash + 1 : png);
        r->n_drawn++;
    } else {
        fprintf(stderr, "tap render: error: %s\n", err.msg);
    }
    free(x), free(y), free(heat), free(scratch), free(stroke_token), free(png);
    return rc;
}

static void card_fail(RenderRun *r, Card *c, const char *msg) {
    fprintf(stderr, "tap render: skipped: %s\n", msg);
    c->failed = strdup(msg);
    r->n_failed++;
}

static int emit_picture(void *ctx, int i, RecResult *res) {
    RenderRun *r = ctx;
    Card *c = &r->cards[i];
    if (res->status != TAP_OK) {
        card_fail(r, c, res->msg);
        return 0;
    }
    const char **toks = malloc(((size_t)res->n + 1) * sizeof *toks);
    if (!toks) return 1;
    for (int t = 0; t < res->n; t++) toks[t] = vocab_token(r->v, res->tokens[t]);
    int rc = draw(r, i, &res->ink, toks, res->n, res->n_att, res->S, r->pool, res->alphas, c);
    free(toks);
    return rc != TAP_OK; // an unwritable picture stops the run
}

// --attention mode: the saved attention of item i drawn over its ink.
static int draw_saved(RenderRun *r, int i) {
    Card *c = &r->cards[i];
    TapError err;
    RecInk ink;
    if (rec_ink_load(r->in, i, &ink, &err) != TAP_OK) {
        card_fail(r, c, err.msg);
        return TAP_OK;
    }
    char *path = rec_uid_path(r->o->attention, r->in->items[i].uid, ".att");
    RecAttention a = {0};
    int rc = path ? rec_attention_load(path, &a, &err)
                  : tap_error_set(&err, TAP_ERR_NOMEM, "out of memory");
    if (rc == TAP_OK && (a.n_rows != ink.n_rows || (a.n_rows + a.pool) / a.pool < a.S))
        rc = tap_error_set(&err, TAP_ERR_FORMAT,
                           "%s: made for %d points and %d annotations, the input has %d points",
                           path, a.n_rows, a.S, ink.n_rows);
    if (rc != TAP_OK) {
        rec_attention_free(&a); // zeroed after a failed load; loaded when the sizes disagree
        card_fail(r, c, err.msg), rc = TAP_OK;
    } else {
        rc = draw(r, i, &ink, (const char *const *)a.tokens, a.n_att - a.finished, a.n_att, a.S,
                  a.pool, a.alphas, c);
        rec_attention_free(&a);
    }
    free(path);
    rec_ink_free(&ink);
    return rc;
}

// DIR/index.html may be no input (a picture that is a FIFO or a device is refused when written).
static int check_index(const RecSetup *rs, const char *model, const RenderOptions *o,
                       TapError *err) {
    char *index = rec_uid_path(o->out, "index", ".html");
    if (!index) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    const char *refs[] = {o->ref};
    int rc = rec_output_check(rs, model, &o->rec, index, err);
    if (rc == TAP_OK) rc = outfile_check(index, refs, 1, err);
    free(index);
    return rc;
}

static void html_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

// Errors first, largest distance first; then exact ones; then those without a reference.
static int card_order(const void *a, const void *b) {
    const Card *x = a, *y = b;
    int kx = x->dist > 0 ? 0 : x->dist == 0 ? 1 : 2, ky = y->dist > 0 ? 0 : y->dist == 0 ? 1 : 2;
    if (kx != ky) return kx - ky;
    if (x->dist != y->dist) return y->dist - x->dist;
    return x->order - y->order;
}

static int write_index(const RenderRun *r, TapError *err) {
    int n = r->in->n, n_ref = 0, exact = 0;
    Card *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (r->cards[i].png) {
            sorted[m++] = r->cards[i];
            n_ref += r->cards[i].dist >= 0;
            exact += r->cards[i].dist == 0;
        }
    qsort(sorted, (size_t)m, sizeof *sorted, card_order);
    char *path = rec_uid_path(r->o->out, "index", ".html");
    OutFile o;
    int rc =
        path ? outfile_open(&o, path, err) : tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    free(path);
    if (rc != TAP_OK) {
        free(sorted);
        return rc;
    }
    FILE *f = o.f;
    fputs(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tap render</title>\n<style>\n"
        "body{font-family:'DejaVu Sans',sans-serif;margin:1.5em;background:#f4f4f4}\n"
        ".card{display:inline-block;vertical-align:top;width:420px;margin:6px;padding:8px;"
        "background:#fff;"
        "border:1px solid #ccc;border-left:6px solid #888}\n"
        ".card.err{border-left-color:#d62728}.card.ok{border-left-color:#2ca02c}\n"
        ".card img{width:100%}\n.uid{font-weight:bold}.d{float:right}\n"
        "code{display:block;font-size:90%;white-space:pre-wrap;word-break:break-all}\n"
        "</style></head><body>\n",
        f);
    fprintf(f, "<h1>%d expression%s</h1>\n<p>", m, m == 1 ? "" : "s");
    if (n_ref)
        fprintf(f, "%d with a reference: %d exact (%.2f%%), %d with errors, shown first. ", n_ref,
                exact, 100.0 * exact / n_ref, n_ref - exact);
    fprintf(f, "Strokes take the colour of the token that attended to them most.</p>\n");
    for (int k = 0; k < m; k++) {
        const Card *c = &sorted[k];
        fprintf(f, "<div class=\"card %s\" id=\"", c->dist > 0 ? "err" : c->dist == 0 ? "ok" : "");
        html_escape(f, c->uid);
        fputs("\"><span class=\"uid\">", f);
        html_escape(f, c->uid);
        if (c->dist >= 0)
            fprintf(f, "</span><span class=\"d\">distance %d</span>\n", c->dist);
        else
            fputs("</span><span class=\"d\">no reference</span>\n", f);
        fputs("<a href=\"", f);
        html_escape(f, c->png);
        fputs("\"><img loading=\"lazy\" src=\"", f);
        html_escape(f, c->png);
        fputs("\" alt=\"", f);
        html_escape(f, c->uid);
        fputs("\"></a>\n<code>pred: ", f);
        html_escape(f, c->pred);
        fputs("</code>\n", f);
        if (c->ref) {
            fputs("<code>ref:  ", f);
            html_escape(f, c->ref);
            fputs("</code>\n", f);
        }
        if (c->n_frames) {
            fputs("steps:", f);
            for (int t = 1; t <= c->n_frames; t++) {
                char name[32];
                snprintf(name, sizeof name, ".%03d.png", t);
                char *fp = rec_uid_path("frames", c->uid, name);
                fputs(" <a href=\"", f);
                html_escape(f, fp);
                fprintf(f, "\">%d</a>", t);
                free(fp);
            }
            fputc('\n', f);
        }
        fputs("</div>\n", f);
    }
    int n_failed = 0;
    for (int i = 0; i < n; i++) n_failed += r->cards[i].failed != NULL;
    if (n_failed) {
        fprintf(f, "<h2>%d input%s skipped</h2>\n<ul>\n", n_failed, n_failed == 1 ? "" : "s");
        for (int i = 0; i < n; i++)
            if (r->cards[i].failed) {
                fputs("<li>", f);
                html_escape(f, r->cards[i].failed);
                fputs("</li>\n", f);
            }
        fputs("</ul>\n", f);
    }
    fputs("</body></html>\n", f);
    free(sorted);
    return outfile_commit(&o, err);
}

int tap_render_main(int argc, char **argv) {
    RenderOptions o = {.out = "render", .width = 800, .rec = rec_cli_defaults()};
    CliOption opts[5 + REC_CLI_N_OPTS] = {
        {"output", CLI_STRING, &o.out, "directory for the pictures and index.html (also -o)"},
        {"ref", CLI_STRING, &o.ref,
         "references: TSV (uid<TAB>tokens) or HDF5 dataset (default: the dataset's labels or the "
         "InkML truth)"},
        {"frames", CLI_FLAG, &o.frames,
         "also one picture per decoding step (DIR/frames/<uid>.NNN.png) with the attention heat "
         "map"},
        {"attention", CLI_STRING, &o.attention,
         "draw the attention saved by tap decode --attention DIR instead of decoding (no MODEL)"},
        {"width", CLI_INT, &o.width, "picture width in pixels"},
    };
    rec_cli_options(&o.rec, opts + 5);
    const CliSpec spec = {"render", "[options] MODEL.h5 INPUT...   |   --attention DIR INPUT...",
                          "Draw expressions with strokes coloured by the token attending to them; "
                          "DIR/index.html lists errors first.",
                          opts, (int)(sizeof opts / sizeof opts[0])};
    char msg[512];
    CliArgs a;
    int rc = cli_args_parse(&a, &spec, argc, argv, 1, msg, sizeof msg);
    char **pos = a.pos;
    int n_pos = a.n_pos;
    int need = o.attention ? 1 : 2;
    if (rc == CLI_OK && n_pos < need)
        snprintf(msg, sizeof msg,
                 o.attention ? "expected INPUT..." : "expected MODEL.h5 and at least one INPUT"),
            rc = CLI_USAGE;
    if (rc == CLI_OK && (o.width < 64 || o.width > 8192))
        snprintf(msg, sizeof msg, "--width must be in 64..8192"), rc = CLI_USAGE;
    if (rc == CLI_OK && rec_cli_check(&o.rec, msg, sizeof msg)) rc = CLI_USAGE;
    if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
    RecSetup rs = {0};
    TsvTable refs = {0};
    RenderRun run = {.o = &o, .in = &rs.in, .v = &rs.v};
    TapError err;
    int status = 1;
    char *frames = NULL;
    const char *model = o.attention ? NULL : pos[0];
    if (rec_setup_open(&rs, model, &o.rec, pos + (need - 1), n_pos - (need - 1), &err) ||
        (o.ref && rec_refs_load(o.ref, &refs, &err)) || check_index(&rs, model, &o, &err) ||
        rec_mkdir(o.out, &err)) {
        fprintf(stderr, "tap render: error: %s\n", err.msg);
        goto done;
    }
    if (o.frames && (!(frames = rec_uid_path(o.out, "frames", "")) || rec_mkdir(frames, &err))) {
        fprintf(stderr, "tap render: error: %s\n", frames ? err.msg : "out of memory");
        goto done;
    }
    if (o.ref) run.refs = &refs;
    if (!(run.cards = calloc((size_t)rs.in.n + 1, sizeof *run.cards))) goto done;
    for (int i = 0; i < rs.in.n; i++) run.cards[i].order = i, run.cards[i].uid = rs.in.items[i].uid;
    if (o.attention) {
        rc = TAP_OK;
        for (int i = 0; i < rs.in.n && rc == TAP_OK; i++) rc = draw_saved(&run, i);
    } else {
        run.pool = rs.pool;
        RecOptions ro = rs.opt;
        ro.keep_ink = 1;
        rc = rec_decode_all(&rs.m, &rs.in, &ro, emit_picture, &run, &err);
        if (rc < 0) fprintf(stderr, "tap render: error: %s\n", err.msg);
    }
    if (rc != 0) goto done;
    if (write_index(&run, &err) != TAP_OK) {
        fprintf(stderr, "tap render: error: %s\n", err.msg);
        goto done;
    }
    fprintf(stderr, "tap render: %d picture%s in %s/ (%d skipped), gallery %s/index.html\n",
            run.n_drawn, run.n_drawn == 1 ? "" : "s", o.out, run.n_failed, o.out);
    status = run.n_drawn > 0 ? 0 : 1;
done:
    for (int i = 0; run.cards && i < rs.in.n; i++) {
        free(run.cards[i].png), free(run.cards[i].pred), free(run.cards[i].ref),
            free(run.cards[i].failed);
    }
    free(run.cards);
    free(frames);
    tsv_free(&refs);
    rec_setup_close(&rs);
    cli_args_free(&a);
    return status;
}
