#include "render.h"

#include <cairo.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

#define FONT "DejaVu Sans"

void render_token_color(int i, double rgb[3]) {
    // Tableau-like palette: distinct hues that stay readable on white.
    static const unsigned char pal[][3] = {
        {31, 119, 180}, {214, 39, 40},  {44, 160, 44},  {148, 103, 189}, {255, 127, 14},
        {23, 190, 207}, {227, 119, 194}, {140, 86, 75}, {188, 189, 34},  {0, 0, 128},
        {128, 0, 0},    {0, 128, 96},
    };
    const int n = (int)(sizeof pal / sizeof pal[0]);
    int k = ((i % n) + n) % n;
    for (int c = 0; c < 3; c++) rgb[c] = pal[k][c] / 255.0;
}

// Cairo keeps premultiplied native-endian ARGB; libpng's simplified API wants straight RGBA.
static int write_surface_png(cairo_surface_t *s, const char *path, TapError *err) {
    cairo_surface_flush(s);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *src = cairo_image_surface_get_data(s);
    unsigned char *rgba = malloc((size_t)w * (size_t)h * 4);
    if (!rgba) return tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    for (int yy = 0; yy < h; yy++) {
        const uint32_t *row = (const uint32_t *)(src + (size_t)yy * (size_t)stride);
        for (int xx = 0; xx < w; xx++) {
            uint32_t p = row[xx];
            unsigned a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
            unsigned char *o = rgba + ((size_t)yy * (size_t)w + (size_t)xx) * 4;
            if (a && a < 255) {
                r = (r * 255 + a / 2) / a;
                g = (g * 255 + a / 2) / a;
                b = (b * 255 + a / 2) / a;
            }
            o[0] = (unsigned char)r, o[1] = (unsigned char)g, o[2] = (unsigned char)b, o[3] = (unsigned char)a;
        }
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGBA;
    // Write to a temporary name and rename, so a crash never leaves a truncated picture.
    size_t plen = strlen(path) + 8;
    char *tmp = malloc(plen);
    int rc = TAP_OK;
    if (!tmp) rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: out of memory", path);
    else {
        snprintf(tmp, plen, "%s.tmp", path);
        if (!png_image_write_to_file(&img, tmp, 0, rgba, 0, NULL))
            rc = tap_error_set(err, TAP_ERR_IO, "%s: cannot write PNG (disk full?): %s", path,
                               img.message);
        else
            rc = outfile_publish(tmp, path, 0, err);
    }
    free(tmp);
    free(rgba);
    return rc;
}

static void heat_color(double v, double rgb[3]) {
    // Blue (cold) -> yellow -> red (hot).
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    if (v < 0.5) {
        rgb[0] = 2 * v, rgb[1] = 2 * v, rgb[2] = 1 - 2 * v;
    } else {
        rgb[0] = 1, rgb[1] = 1 - 2 * (v - 0.5), rgb[2] = 0;
    }
}

// Lays out the coloured token line; with cr == NULL only measures. Returns the rows used.
static int draw_tokens(cairo_t *cr, cairo_t *measure, const RenderInk *r, double x0, double y0,
                       double width, double size) {
    double x = x0, y = y0;
    int rows = 1;
    cairo_set_font_size(measure, size);
    if (cr) cairo_set_font_size(cr, size);
    for (int i = 0; i < r->n_tokens; i++) {
        cairo_text_extents_t ext;
        cairo_text_extents(measure, r->tokens[i], &ext);
        double adv = ext.x_advance + size * 0.45;
        if (x + adv > x0 + width && x > x0) {
            x = x0;
            y += size * 1.4;
            rows++;
        }
        if (cr) {
            double c[3];
            render_token_color(i, c);
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_move_to(cr, x, y);
            cairo_show_text(cr, r->tokens[i]);
            if (i == r->highlight) {
                cairo_set_line_width(cr, 1.5);
                cairo_rectangle(cr, x - 2, y - size, ext.x_advance + 4, size * 1.3);
                cairo_stroke(cr);
            }
        }
        x += adv;
    }
    return rows;
}

int render_ink_png(const RenderInk *r, int width, const char *path, TapError *err) {
    if (r->n_points < 1) return tap_error_set(err, TAP_ERR_ARG, "%s: nothing to draw", path);
    if (width < 64 || width > 8192) return tap_error_set(err, TAP_ERR_ARG, "%s: width %d out of range", path, width);
    float minx = r->x[0], maxx = r->x[0], miny = r->y[0], maxy = r->y[0];
    for (int i = 1; i < r->n_points; i++) {
        minx = fminf(minx, r->x[i]), maxx = fmaxf(maxx, r->x[i]);
        miny = fminf(miny, r->y[i]), maxy = fmaxf(maxy, r->y[i]);
    }
    if (!isfinite(minx) || !isfinite(maxx) || !isfinite(miny) || !isfinite(maxy))
        return tap_error_set(err, TAP_ERR_NUMERIC, "%s: non-finite ink coordinates", path);
    double margin = 20, inner = width - 2 * margin;
    double span_x = fmax((double)(maxx - minx), 1e-6), span_y = fmax((double)(maxy - miny), 1e-6);
    double scale = inner / span_x;
    if (span_y * scale > 2.0 * inner) scale = 2.0 * inner / span_y; // very tall ink: cap the height
    double ink_h = span_y * scale;
    double font = 18;

    // Measure the text block with a scratch context.
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *m = cairo_create(scratch);
    cairo_select_font_face(m, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    int token_rows = r->n_tokens ? draw_tokens(NULL, m, r, margin, 0, inner, font) : 0;
    int n_lines = 0;
    while (n_lines < 4 && r->lines[n_lines]) n_lines++;
    double text_h = (token_rows + n_lines) * font * 1.4 + (token_rows + n_lines ? margin : 0);
    int height = (int)ceil(2 * margin + ink_h + text_h);

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    cairo_t *cr = cairo_create(s);
    int rc = TAP_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        rc = tap_error_set(err, TAP_ERR_NOMEM, "%s: cannot create a %dx%d picture", path, width, height);
        goto done;
    }
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_BEST);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double ox = margin + (inner - span_x * scale) / 2, oy = margin;
#define PX(i) (ox + ((double)r->x[i] - (double)minx) * scale)
#define PY(i) (oy + ((double)r->y[i] - (double)miny) * scale)
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_width(cr, r->heat ? 2.0 : 3.0);
    for (int i = 0; i < r->n_points;) {
        int stroke = r->point_stroke[i], j = i;
        while (j < r->n_points && r->point_stroke[j] == stroke) j++;
        double c[3] = {0, 0, 0};
        if (r->heat) c[0] = c[1] = c[2] = 0.75;
        else if (r->stroke_token && stroke >= 0 && stroke < r->n_strokes) {
            int tok = r->stroke_token[stroke];
            if (tok >= 0) render_token_color(tok, c);
            else c[0] = c[1] = c[2] = 0.6;
        }
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_move_to(cr, PX(i), PY(i));
        if (j - i == 1) cairo_line_to(cr, PX(i) + 0.01, PY(i)); // a dot still shows
        for (int k = i + 1; k < j; k++) cairo_line_to(cr, PX(k), PY(k));
        cairo_stroke(cr);
        i = j;
    }
    if (r->heat)
        for (int i = 0; i < r->n_points; i++) {
            double c[3], v = r->heat[i];
            if (!(v > 0.02)) continue;
            heat_color(v, c);
            cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.35 + 0.65 * v);
            cairo_arc(cr, PX(i), PY(i), 2.5 + 5.0 * v, 0, 2 * TAP_PI);
            cairo_fill(cr);
        }
#undef PX
#undef PY
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double ty = 2 * margin + ink_h + font;
    if (r->n_tokens) {
        draw_tokens(cr, m, r, margin, ty, inner, font);
        ty += token_rows * font * 1.4;
    }
    cairo_set_font_size(cr, font);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    for (int i = 0; i < n_lines; i++, ty += font * 1.4) {
        cairo_move_to(cr, margin, ty);
        cairo_show_text(cr, r->lines[i]);
    }
    rc = write_surface_png(s, path, err);
done:
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    cairo_destroy(m);
    cairo_surface_destroy(scratch);
    return rc;
}

// 1, 2 or 5 times a power of ten, at least raw.
static double nice_step(double raw) {
    double p = pow(10, floor(log10(raw))), f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// A tick value with just the decimals its step needs ("25000", "0.5", "2.5e-05" when tiny).
static void tick_label(double v, double step, char *buf, size_t size) {
    if (fabs(v) < 1e-9 * step) v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) snprintf(buf, size, "%.2g", v);
    else snprintf(buf, size, "%.*f", dec, v);
}

int render_plot_png(const char *title, const char *xlabel, const char *ylabel,
                    const PlotSeries *series, int n_series, int width, int height, const char *path,
                    TapError *err) {
    if (width < 200 || height < 150 || width > 8192 || height > 8192)
        return tap_error_set(err, TAP_ERR_ARG, "%s: plot size %dx%d out of range", path, width, height);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) return tap_error_set(err, TAP_ERR_ARG, "%s: no finite points to plot", path);
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + 1, y0 -= 1;
    // Round ticks (1, 2 or 5 times a power of ten); the y range grows to whole ticks and never
    // below 0 for data that are not negative (rates, losses).
    double ystep = nice_step((y1 - y0) / 5), xstep = nice_step((x1 - x0) / 5);
    int nonneg = y0 >= 0;
    y0 = floor(y0 / ystep) * ystep, y1 = ceil(y1 / ystep) * ystep;
    if (nonneg && y0 < 0) y0 = 0;
    double L = 90, R = 20, T = 40, B = 55, pw = width - L - R, ph = height - T - B;

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    // Axes, ticks and grid.
    char buf[32];
    cairo_text_extents_t ext;
    for (double vy = y0; vy <= y1 + 1e-9 * ystep; vy += ystep) {
        double fy = T + ph - ph * (vy - y0) / (y1 - y0);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, L, fy), cairo_line_to(cr, L + pw, fy), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        tick_label(vy, ystep, buf, sizeof buf);
        cairo_text_extents(cr, buf, &ext);
        cairo_move_to(cr, L - 6 - ext.x_advance, fy + 4), cairo_show_text(cr, buf);
    }
    for (double vx = ceil(x0 / xstep) * xstep; vx <= x1 + 1e-9 * xstep; vx += xstep) {
        double fx = L + pw * (vx - x0) / (x1 - x0);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, fx, T), cairo_line_to(cr, fx, T + ph), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        tick_label(vx, xstep, buf, sizeof buf);
        cairo_text_extents(cr, buf, &ext);
        double tx = fmin(fx - ext.x_advance / 2, width - 2 - ext.x_advance);
        cairo_move_to(cr, tx, T + ph + 18), cairo_show_text(cr, buf);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L, T, pw, ph);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 14);
    if (title) cairo_move_to(cr, L, 24), cairo_show_text(cr, title);
    cairo_set_font_size(cr, 12);
    if (xlabel) cairo_move_to(cr, L + pw / 2 - 20, height - 12), cairo_show_text(cr, xlabel);
    if (ylabel) {
        cairo_save(cr);
        cairo_move_to(cr, 16, T + ph / 2 + 30);
        cairo_rotate(cr, -TAP_PI / 2);
        cairo_show_text(cr, ylabel);
        cairo_restore(cr);
    }
    cairo_set_line_width(cr, 2);
    for (int sidx = 0; sidx < n_series; sidx++) {
        double c[3];
        render_token_color(sidx, c);
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        int pen = 0;
        for (int i = 0; i < series[sidx].n; i++) {
            double x = series[sidx].x[i], y = series[sidx].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            double px = L + (x - x0) / (x1 - x0) * pw, py = T + ph - (y - y0) / (y1 - y0) * ph;
            if (pen) cairo_line_to(cr, px, py);
            else cairo_move_to(cr, px, py), pen = 1;
        }
        if (series[sidx].n == 1) cairo_rel_line_to(cr, 0.01, 0);
        cairo_stroke(cr);
        // Legend, top right.
        cairo_move_to(cr, L + pw - 160, T + 18 + 16 * sidx);
        cairo_rel_line_to(cr, 20, 0);
        cairo_stroke(cr);
        cairo_move_to(cr, L + pw - 134, T + 22 + 16 * sidx);
        cairo_show_text(cr, series[sidx].name ? series[sidx].name : "");
    }
    int rc = write_surface_png(s, path, err);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return rc;
}
