#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "test_util.h"

typedef struct {
    int w, h;
    unsigned char *px; // RGBA
} Picture;

static Picture read_png(const char *path) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&img, path), "%s: %s", path, img.message);
    img.format = PNG_FORMAT_RGBA;
    Picture p = {(int)img.width, (int)img.height, malloc(PNG_IMAGE_SIZE(img))};
    cr_assert(png_image_finish_read(&img, NULL, p.px, 0, NULL), "%s", img.message);
    return p;
}

// Pixels within `tol` of an RGB colour, in rows [y0, y1).
static int count_color(const Picture *p, const double rgb[3], int tol, int y0, int y1) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < p->w; x++) {
            const unsigned char *q = p->px + ((size_t)y * p->w + x) * 4;
            int ok = 1;
            for (int c = 0; c < 3; c++) ok &= abs(q[c] - (int)lround(rgb[c] * 255)) <= tol;
            n += ok;
        }
    return n;
}

// Two strokes: a horizontal bar and a vertical bar, with their own token colours.
static float xs[] = {0, 10, 20, 30, 40, 20, 20, 20, 20};
static float ys[] = {0, 0, 0, 0, 0, -20, -10, 10, 20};
static int strokes[] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
static int stroke_token[] = {0, 1};
static const char *tokens[] = {"-", "|"};

Test(render, strokes_take_their_token_colour_and_text_is_drawn_below) {
    char path[512];
    snprintf(path, sizeof path, "%s/ink.png", tu_tmpdir());
    RenderInk r = {.n_points = 9, .x = xs, .y = ys, .point_stroke = strokes, .stroke_token = stroke_token,
                   .n_strokes = 2, .tokens = tokens, .n_tokens = 2, .highlight = -1,
                   .lines = {"ref: - |", NULL}};
    TapError err;
    cr_assert_eq(render_ink_png(&r, 300, path, &err), TAP_OK, "%s", err.msg);
    Picture p = read_png(path);
    cr_assert_eq(p.w, 300);
    double c0[3], c1[3], white[3] = {1, 1, 1}, dark[3] = {0.1, 0.1, 0.1};
    render_token_color(0, c0);
    render_token_color(1, c1);
    int ink_bottom = 20 + 260 + 20; // margin + ink height (aspect 1:1 of a 40x40 box) + margin
    cr_assert_gt(count_color(&p, c0, 10, 0, ink_bottom), 200, "the bar stroke is drawn in token 0's colour");
    cr_assert_gt(count_color(&p, c1, 10, 0, ink_bottom), 200, "the vertical stroke in token 1's colour");
    cr_assert_gt(count_color(&p, white, 0, 0, p.h), p.w * p.h / 2, "white background");
    cr_assert_gt(count_color(&p, dark, 60, ink_bottom, p.h), 20, "the reference line is set in text");
    cr_assert_gt(count_color(&p, c1, 60, ink_bottom, p.h), 5, "the tokens are set in their colours");
    free(p.px);
}

Test(render, heat_map_marks_attended_points) {
    char path[512];
    snprintf(path, sizeof path, "%s/heat.png", tu_tmpdir());
    float heat[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
    RenderInk r = {.n_points = 9, .x = xs, .y = ys, .point_stroke = strokes, .n_strokes = 2,
                   .tokens = tokens, .n_tokens = 2, .heat = heat, .highlight = 1};
    cr_assert_eq(render_ink_png(&r, 200, path, NULL), TAP_OK);
    Picture p = read_png(path);
    double red[3] = {1, 0, 0};
    cr_assert_gt(count_color(&p, red, 40, 0, p.h / 2 + 40), 10, "the attended end of the bar is hot");
    free(p.px);
}

Test(render, unwritable_path_and_empty_ink_fail_with_a_message) {
    RenderInk r = {.n_points = 9, .x = xs, .y = ys, .point_stroke = strokes, .n_strokes = 2, .highlight = -1};
    TapError err;
    cr_assert_eq(render_ink_png(&r, 200, "/nonexistent/dir/x.png", &err), TAP_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/dir/x.png"), "%s", err.msg);
    r.n_points = 0;
    cr_assert_eq(render_ink_png(&r, 200, "/tmp/never.png", &err), TAP_ERR_ARG);
}

Test(render, plot_draws_each_series_in_its_colour) {
    char path[512];
    snprintf(path, sizeof path, "%s/plot.png", tu_tmpdir());
    double x[50], y1[50], y2[50];
    for (int i = 0; i < 50; i++) x[i] = i, y1[i] = exp(-i / 10.0), y2[i] = i % 7 ? (double)NAN : 0.5;
    PlotSeries s[2] = {{"train loss", 50, x, y1}, {"valid", 50, x, y2}};
    TapError err;
    cr_assert_eq(render_plot_png("curves", "step", "loss", s, 2, 640, 400, path, &err), TAP_OK, "%s", err.msg);
    Picture p = read_png(path);
    cr_assert_eq(p.w, 640);
    cr_assert_eq(p.h, 400);
    double c0[3], c1[3];
    render_token_color(0, c0);
    render_token_color(1, c1);
    cr_assert_gt(count_color(&p, c0, 30, 0, p.h), 200);
    cr_assert_gt(count_color(&p, c1, 30, 0, p.h), 100);
    free(p.px);
    double nan[1] = {NAN};
    PlotSeries empty = {"e", 1, nan, nan};
    cr_assert_eq(render_plot_png("t", "x", "y", &empty, 1, 640, 400, path, &err), TAP_ERR_ARG);
}
