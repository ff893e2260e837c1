// tap plot LOG.tsv -o curves.png: the learning curves of a `tap train` log (train.tsv) as one
// PNG of two panels drawn with render_plot_png: the training loss (per logged window and per
// epoch) with the validation loss, and the validation WER and ExpRate, against updates.
// Works on a log that is still being written (an incomplete last line is ignored).
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "render.h"

typedef struct {
    int n, cap;
    double *x, *y;
} Series;

static int series_add(Series *s, double x, double y) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, (size_t)cap * sizeof *ny);
        if (!ny) return -1;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
    return 0;
}

enum { S_TRAIN, S_EPOCH, S_VLOSS, S_WER, S_EXPRATE, S_COUNT };

// Splits a line in place at tabs; returns the field count.
static int split_tabs(char *line, char **f, int cap) {
    int n = 0;
    for (char *p = line; n < cap;) {
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static int column(char **names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

static int load_log(const char *path, Series *s, char *msg, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(msg, len, "%s: cannot open", path), -1;
    char header[1024], line[1024], *h[32], *v[32];
    if (!fgets(header, sizeof header, f)) {
        fclose(f);
        return snprintf(msg, len, "%s: empty file", path), -1;
    }
    header[strcspn(header, "\r\n")] = '\0';
    int nh = split_tabs(header, h, 32);
    int c_kind = column(h, nh, "kind"), c_step = column(h, nh, "step"),
        c_loss = column(h, nh, "loss");
    int c_vloss = column(h, nh, "valid_loss"), c_wer = column(h, nh, "wer");
    int c_exp = column(h, nh, "exprate");
    if (c_kind < 0 || c_step < 0 || c_loss < 0 || c_vloss < 0 || c_wer < 0 || c_exp < 0) {
        fclose(f);
        return snprintf(msg, len,
                        "%s: not a train.tsv (columns kind, step, loss, valid_loss, wer, "
                        "exprate expected)",
                        path),
               -1;
    }
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) break; // being written
        line[strcspn(line, "\r\n")] = '\0';
        if (split_tabs(line, v, 32) != nh) continue;
        double step = strtod(v[c_step], NULL);
        if (!strcmp(v[c_kind], "train"))
            rc = series_add(&s[S_TRAIN], step, strtod(v[c_loss], NULL));
        else if (!strcmp(v[c_kind], "epoch"))
            rc = series_add(&s[S_EPOCH], step, strtod(v[c_loss], NULL));
        else if (!strcmp(v[c_kind], "valid"))
            rc = series_add(&s[S_VLOSS], step, strtod(v[c_vloss], NULL)) ||
                 series_add(&s[S_WER], step, strtod(v[c_wer], NULL)) ||
                 series_add(&s[S_EXPRATE], step, strtod(v[c_exp], NULL));
    }
    fclose(f);
    if (rc) return snprintf(msg, len, "out of memory"), -1;
    return 0;
}

// Stacks PNG files a (top) and b into out (same width).
static int stack_png(const char *a, const char *b, const char *out, char *msg, size_t len) {
    png_image img[2];
    png_bytep buf[2] = {NULL, NULL};
    const char *in[2] = {a, b};
    int rc = -1;
    for (int i = 0; i < 2; i++) {
        memset(&img[i], 0, sizeof img[i]);
        img[i].version = PNG_IMAGE_VERSION;
        if (!png_image_begin_read_from_file(&img[i], in[i])) {
            snprintf(msg, len, "%s: %s", in[i], img[i].message);
            goto done;
        }
        img[i].format = PNG_FORMAT_RGBA;
        buf[i] = malloc(PNG_IMAGE_SIZE(img[i]));
        if (!buf[i] || !png_image_finish_read(&img[i], NULL, buf[i], 0, NULL)) {
            snprintf(msg, len, "%s: cannot read back", in[i]);
            goto done;
        }
    }
    if (img[0].width != img[1].width) {
        snprintf(msg, len, "panels differ in width");
        goto done;
    }
    size_t s0 = PNG_IMAGE_SIZE(img[0]), s1 = PNG_IMAGE_SIZE(img[1]);
    png_bytep all = malloc(s0 + s1);
    if (!all) {
        snprintf(msg, len, "out of memory");
        goto done;
    }
    memcpy(all, buf[0], s0);
    memcpy(all + s0, buf[1], s1);
    png_image o;
    memset(&o, 0, sizeof o);
    o.version = PNG_IMAGE_VERSION;
    o.width = img[0].width;
    o.height = img[0].height + img[1].height;
    o.format = PNG_FORMAT_RGBA;
    if (png_image_write_to_file(&o, out, 0, all, 0, NULL))
        rc = 0;
    else
        snprintf(msg, len, "%s: %s", out, o.message);
    free(all);
done:
    for (int i = 0; i < 2; i++) {
        png_image_free(&img[i]);
        free(buf[i]);
    }
    return rc;
}

int tap_plot_main(int argc, char **argv) {
    const char *out = "curves.png";
    int width = 900, height = 800;
    const CliOption opts[] = {
        {"output", CLI_STRING, &out, "output PNG (also -o)"},
        {"width", CLI_INT, &width, "picture width in pixels"},
        {"height", CLI_INT, &height, "picture height in pixels (two panels)"},
    };
    const CliSpec spec = {"plot", "[options] LOG.tsv [-o curves.png]",
                          "Learning curves of a `tap train` log: loss, validation WER and ExpRate.",
                          opts, (int)(sizeof opts / sizeof opts[0])};
    // "-o FILE" is the documented spelling; the option parser knows long options only.
    char msg[1024];
    CliArgs a;
    int rc = cli_args_parse(&a, &spec, argc, argv, 1, msg, sizeof msg);
    if (rc == CLI_OK && a.n_pos != 1)
        snprintf(msg, sizeof msg, "expected one LOG.tsv"), rc = CLI_USAGE;
    if (rc == CLI_OK && (width < 200 || height < 300 || width > 8192 || height > 8192))
        snprintf(msg, sizeof msg, "--width must be 200..8192 and --height 300..8192"),
            rc = CLI_USAGE;
    if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
    char **pos = a.pos;
    int status = 1;
    Series s[S_COUNT];
    memset(s, 0, sizeof s);
    char tmp[2][4200] = {"", ""};
    if (load_log(pos[0], s, msg, sizeof msg)) {
        fprintf(stderr, "tap plot: error: %s\n", msg);
        goto done;
    }
    if (!s[S_TRAIN].n && !s[S_EPOCH].n && !s[S_VLOSS].n) {
        fprintf(stderr, "tap plot: error: %s: no rows to plot yet\n", pos[0]);
        goto done;
    }
    PlotSeries loss[3] = {{"training loss", s[S_TRAIN].n, s[S_TRAIN].x, s[S_TRAIN].y},
                          {"epoch mean loss", s[S_EPOCH].n, s[S_EPOCH].x, s[S_EPOCH].y},
                          {"validation loss", s[S_VLOSS].n, s[S_VLOSS].x, s[S_VLOSS].y}};
    PlotSeries rates[2] = {{"validation WER", s[S_WER].n, s[S_WER].x, s[S_WER].y},
                           {"validation ExpRate", s[S_EXPRATE].n, s[S_EXPRATE].x, s[S_EXPRATE].y}};
    TapError err;
    if (!s[S_WER].n) {
        if (render_plot_png("loss", "update", "cost per expression", loss, 3, width, height, out,
                            &err)) {
            fprintf(stderr, "tap plot: error: %s\n", err.msg);
            goto done;
        }
    } else {
        snprintf(tmp[0], sizeof tmp[0], "%s.loss.tmp", out);
        snprintf(tmp[1], sizeof tmp[1], "%s.rates.tmp", out);
        if (render_plot_png("loss", "update", "cost per expression", loss, 3, width, height / 2,
                            tmp[0], &err) ||
            render_plot_png("validation", "update", "percent", rates, 2, width, height - height / 2,
                            tmp[1], &err)) {
            fprintf(stderr, "tap plot: error: %s\n", err.msg);
            goto done;
        }
        if (stack_png(tmp[0], tmp[1], out, msg, sizeof msg)) {
            fprintf(stderr, "tap plot: error: %s\n", msg);
            goto done;
        }
    }
    printf("%s: %d training rows, %d epochs, %d validations\n", out, s[S_TRAIN].n, s[S_EPOCH].n,
           s[S_WER].n);
    status = 0;
done:
    for (int i = 0; i < 2; i++)
        if (tmp[i][0]) remove(tmp[i]);
    for (int i = 0; i < S_COUNT; i++) free(s[i].x), free(s[i].y);
    cli_args_free(&a);
    return status;
}
