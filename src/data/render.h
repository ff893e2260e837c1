// Pictures of ink: an expression's strokes drawn with cairo (antialiased), each stroke coloured
// by the output token that attended to it most, an optional attention heat map over the
// points, and text lines (LaTeX) set in DejaVu through cairo's FreeType backend. PNG files are
// written with libpng's simplified API. Also learning-curve plots.
#ifndef TAP_DATA_RENDER_H
#define TAP_DATA_RENDER_H

#include "tap.h"

typedef struct {
    int n_points;
    const float *x, *y;        // (n_points) ink coordinates, y pointing down (InkML convention)
    const int *point_stroke;   // (n_points) stroke index of each point, non-decreasing
    const int *stroke_token;   // (n_strokes) index into tokens of the token drawn in that colour, -1 = grey; NULL = all black
    int n_strokes;
    const char *const *tokens; // (n_tokens) predicted tokens, shown coloured below the ink
    int n_tokens;
    const float *heat;         // (n_points) attention in [0, 1] drawn as a heat map, or NULL
    int highlight;             // token index drawn boxed (the current decoding step), or -1
    const char *lines[4];      // extra text lines below (e.g. "ref: ..."), NULL-terminated
} RenderInk;

// Colour of token index i (a fixed palette of distinguishable colours, cycling).
void render_token_color(int i, double rgb[3]);
// Draws r into a PNG of the given width (height follows the ink's aspect ratio + text).
int render_ink_png(const RenderInk *r, int width, const char *path, TapError *err);

typedef struct {
    const char *name;
    int n;
    const double *x, *y;
} PlotSeries;

// Line plot of one or more series sharing axes; NaN y values are skipped.
int render_plot_png(const char *title, const char *xlabel, const char *ylabel,
                    const PlotSeries *series, int n_series, int width, int height, const char *path,
                    TapError *err);

#endif
