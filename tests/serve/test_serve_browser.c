// The page of `tap serve` in a real browser: Debian's chromium, headless, driven through
// chromium-driver (WebDriver over HTTP), opens the page, writes the strokes of a CROHME
// expression on the canvas with pen pointer actions, waits for the answer after the last stroke,
// and checks the typeset n-best list (KaTeX, this LaTeX, the server's answer for the strokes the
// page sent, the library's answer for the InkML file), the attention view, undo, and a
// screenshot (TAP_BINARY_DIR/serve_browser.png, ink on the canvas). Skipped, with a message,
// when chromium or chromedriver is not installed.
#include <criterion/criterion.h>
#include <jansson.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "inkml.h"
#include "serve.h"

#define MODEL TAP_SOURCE_DIR "/data/model/small.h5"
#define DICT TAP_SOURCE_DIR "/data/dictionary.txt"
#define INK TAP_SOURCE_DIR "/data/sample/test/504_em_41.inkml"
#define CHROMIUM "/usr/bin/chromium"
#define CHROMEDRIVER "/usr/bin/chromedriver"
#define WIDTH 820
#define HEIGHT 960

static TapRecognizer *rec;
static Server *srv;
static int port, wd_port;
static pid_t driver = -1;
static char session[128];
static FILE *driver_out;

// A WebDriver command: method, path under the session ("" for none) and a JSON body (or NULL);
// returns the "value" of the answer (a new reference) and asserts success.
static json_t *wd(const char *method, const char *path, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s%s", session[0] ? "/session/" : "", session, path);
    // 30 s at most, well inside the test's timeout, so that a stuck browser fails an assertion
    // and teardown still closes it (a test killed at its timeout would leave chromium behind).
    HcResponse r = hc_request_within(wd_port, method, url, "application/json; charset=utf-8",
                                     body ? body : "", body ? strlen(body) : 0, 30);
    cr_assert_eq(r.status, 200, "WebDriver %s %s: %d %.500s", method, url, r.status, r.raw);
    json_error_t je;
    json_t *j = json_loadb(r.body, r.body_len, 0, &je);
    cr_assert(j, "WebDriver answer not JSON: %.300s", r.raw);
    json_t *v = json_incref(json_object_get(j, "value"));
    json_decref(j);
    hc_free(&r);
    return v;
}

// Runs a script in the page and returns its value.
static json_t *script(const char *js) {
    json_t *b = json_pack("{s:s, s:[]}", "script", js, "args");
    char *s = json_dumps(b, JSON_COMPACT);
    json_t *v = wd("POST", "/execute/sync", s);
    free(s);
    json_decref(b);
    return v;
}

static void setup(void) {
    if (access(CHROMIUM, X_OK) != 0 || access(CHROMEDRIVER, X_OK) != 0) return;
    char err[512];
    cr_assert_eq(tap_recognizer_open(MODEL, DICT, &rec, err, sizeof err), TAP_API_OK, "%s", err);
    ServeOptions o = serve_options_default();
    o.port = 0;
    TapError e = {0};
    cr_assert_eq(serve_start(rec, &o, &srv, &e), TAP_OK, "%s", e.msg);
    port = serve_port(srv);
    // chromedriver --port=0 picks a free port and says which on stdout.
    int out[2];
    cr_assert_eq(pipe(out), 0);
    driver = fork();
    if (driver == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); // no orphan when the test is killed (timeout)
        dup2(out[1], 1);
        close(out[0]);
        execl(CHROMEDRIVER, "chromedriver", "--port=0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    // Kept open until teardown: chromedriver dies of SIGPIPE when its stdout is closed.
    driver_out = fdopen(out[0], "r");
    char line[512];
    while (fgets(line, sizeof line, driver_out)) {
        char *p = strstr(line, "successfully on port ");
        if (p && sscanf(p, "successfully on port %d", &wd_port) == 1) break;
    }
    cr_assert_gt(wd_port, 0, "chromedriver did not say its port");
    char caps[1024];
    snprintf(caps, sizeof caps,
             "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\","
             "\"goog:chromeOptions\":{\"binary\":\"%s\",\"args\":[\"--headless=new\","
             "\"--no-sandbox\",\"--disable-gpu\",\"--disable-dev-shm-usage\","
             "\"--hide-scrollbars\",\"--window-size=%d,%d\"]}}}}",
             CHROMIUM, WIDTH, HEIGHT);
    json_t *v = wd("POST", "/session", caps);
    const char *id = json_string_value(json_object_get(v, "sessionId"));
    cr_assert(id, "no session");
    snprintf(session, sizeof session, "%s", id);
    json_decref(v);
}

static void teardown(void) {
    if (session[0]) {
        char url[256];
        snprintf(url, sizeof url, "/session/%s", session);
        HcResponse r = hc_request_within(wd_port, "DELETE", url, NULL, "", 0, 30);
        hc_free(&r);
        session[0] = '\0';
    }
    if (driver > 0) {
        kill(driver, SIGTERM);
        waitpid(driver, NULL, 0);
        driver = -1;
    }
    if (driver_out) fclose(driver_out);
    driver_out = NULL;
    serve_stop(srv);
    tap_recognizer_close(rec);
    srv = NULL, rec = NULL;
}

// Waits until the page shows the answer for n strokes; returns its state as JSON.
static json_t *wait_answer(int n) {
    double end = hc_now() + 30;
    char js[1024];
    snprintf(js, sizeof js,
             "const li = document.querySelector('#nbest li');"
             "const ann = li && li.querySelector('.katex-mathml annotation');"
             "return {state: document.body.dataset.state, recognized: +document.body.dataset.recognized,"
             " n: document.querySelectorAll('#nbest li').length, latex: li ? li.dataset.latex : null,"
             " katex: !!(li && li.querySelector('.katex-html')), tex: ann ? ann.textContent : null,"
             " errors: document.querySelectorAll('.katex-error').length,"
             " status: document.getElementById('status').textContent, body: window.tapLastBody || null,"
             " strokes: %d};",
             n);
    for (;;) {
        json_t *v = script(js);
        if (!strcmp(json_string_value(json_object_get(v, "state")), "idle") &&
            json_integer_value(json_object_get(v, "recognized")) == n &&
            json_integer_value(json_object_get(v, "n")) > 0)
            return v;
        cr_assert_lt(hc_now(), end, "no answer for %d strokes in 30 s: %s", n,
                     json_dumps(v, JSON_COMPACT));
        json_decref(v);
        hc_sleep(0.1);
    }
}

// Pen actions for stroke i of doc, mapped into the canvas at (left, top) by scale and offset.
static char *stroke_actions(const InkmlDoc *doc, int i, double left, double top, double scale,
                            double ox, double oy, double x0, double y0) {
    json_t *acts = json_array();
    for (int k = doc->trace_start[i]; k < doc->trace_start[i + 1]; k++) {
        int x = (int)(left + ox + (doc->x[k] - x0) * scale + 0.5);
        int y = (int)(top + oy + (doc->y[k] - y0) * scale + 0.5);
        json_array_append_new(acts, json_pack("{s:s, s:i, s:i, s:i, s:s}", "type", "pointerMove",
                                              "duration", 0, "x", x, "y", y, "origin", "viewport"));
        if (k == doc->trace_start[i])
            json_array_append_new(acts, json_pack("{s:s, s:i}", "type", "pointerDown", "button", 0));
    }
    json_array_append_new(acts, json_pack("{s:s, s:i}", "type", "pointerUp", "button", 0));
    json_t *all = json_pack("{s:[{s:s, s:s, s:{s:s}, s:o}]}", "actions", "type", "pointer", "id",
                            "pen", "parameters", "pointerType", "pen", "actions", acts);
    char *s = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    return s;
}

Test(serve_browser, chromium_writes_an_expression_on_the_page_and_sees_it_typeset,
     .init = setup, .fini = teardown, .timeout = 240) {
    if (access(CHROMIUM, X_OK) != 0 || access(CHROMEDRIVER, X_OK) != 0)
        cr_skip_test("chromium or chromedriver is not installed (apt-get install chromium "
                     "chromium-driver, or scripts/install-deps.sh): the browser test is skipped");
    double t0 = hc_now();
    char url[256];
    snprintf(url, sizeof url, "{\"url\":\"http://127.0.0.1:%d/\"}", port);
    json_decref(wd("POST", "/url", url));
    json_t *rect = script("const r = document.getElementById('pad').getBoundingClientRect();"
                          "return [r.left, r.top, r.width, r.height, !!window.katex];");
    double left = json_number_value(json_array_get(rect, 0)), top = json_number_value(json_array_get(rect, 1));
    double w = json_number_value(json_array_get(rect, 2)), h = json_number_value(json_array_get(rect, 3));
    int katex = json_is_true(json_array_get(rect, 4));
    json_decref(rect);
    cr_assert_gt(w, 300);
    cr_assert_gt(h, 200);
    if (access("/usr/share/javascript/katex/katex.min.js", R_OK) == 0)
        cr_assert(katex, "KaTeX did not load from the server");

    InkmlDoc doc;
    TapError e = {0};
    cr_assert_eq(inkml_load(INK, &doc, &e), TAP_OK, "%s", e.msg);
    double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
    for (int k = 0; k < doc.n_points; k++) {
        x0 = doc.x[k] < x0 ? doc.x[k] : x0, x1 = doc.x[k] > x1 ? doc.x[k] : x1;
        y0 = doc.y[k] < y0 ? doc.y[k] : y0, y1 = doc.y[k] > y1 ? doc.y[k] : y1;
    }
    double sx = (w - 80) / (x1 - x0 + 1e-9), sy = (h - 60) / (y1 - y0 + 1e-9);
    double scale = sx < sy ? sx : sy;
    double ox = (w - (x1 - x0) * scale) / 2, oy = (h - (y1 - y0) * scale) / 2;
    for (int i = 0; i < doc.n_traces; i++) {
        char *acts = stroke_actions(&doc, i, left, top, scale, ox, oy, x0, y0);
        json_decref(wd("POST", "/actions", acts));
        free(acts);
    }
    json_t *v = wait_answer(doc.n_traces);
    const char *latex = json_string_value(json_object_get(v, "latex"));
    cr_log_info("the page reads \"%s\" (%s) after %.1f s", latex,
                json_string_value(json_object_get(v, "status")), hc_now() - t0);
    cr_assert_eq(json_integer_value(json_object_get(v, "n")), 5, "an n-best list of 5");
    if (katex) {
        cr_assert(json_is_true(json_object_get(v, "katex")), "not typeset");
        cr_assert_eq(json_integer_value(json_object_get(v, "errors")), 0, "KaTeX errors");
        cr_assert_str_eq(json_string_value(json_object_get(v, "tex")), latex,
                         "KaTeX typeset another formula");
    }
    // The answer shown is the server's for the strokes the page sent ...
    const char *body = json_string_value(json_object_get(v, "body"));
    cr_assert(body);
    HcResponse r = hc_post(port, "/recognize", body, strlen(body));
    cr_assert_eq(r.status, 200);
    json_t *ans = json_loadb(r.body, r.body_len, 0, NULL);
    json_t *best = json_array_get(json_object_get(ans, "hypotheses"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(best, "latex")), latex);
    cr_assert_eq(json_integer_value(json_object_get(ans, "n_strokes")), doc.n_traces);
    // ... and, written on a canvas, the expression still reads as its InkML file does.
    TapRecognizeOptions o = {.beam = 10};
    TapResult res;
    char err[256];
    cr_assert_eq(tap_recognize_inkml(rec, INK, &o, &res, err, sizeof err), TAP_API_OK, "%s", err);
    cr_assert_str_eq(latex, res.hyp[0].latex, "the canvas and the file read differently");
    cr_assert_str_eq(latex, "- j = \\sqrt { - 1 }"); // the bundled small.h5's reading (session 8's model)
    tap_result_free(&res);

    // The attention view: tokens in tap render's colours, strokes coloured alike.
    json_t *tok = script("document.getElementById('attn').click();"
                         "return [...document.querySelectorAll('#tokens span')].map("
                         "s => [s.textContent, getComputedStyle(s).backgroundColor]);");
    json_t *toks = json_object_get(best, "tokens");
    cr_assert_eq(json_array_size(tok), json_array_size(toks));
    for (size_t t = 0; t < json_array_size(tok); t++) {
        json_t *pair = json_array_get(tok, t);
        cr_assert_str_eq(json_string_value(json_array_get(pair, 0)),
                         json_string_value(json_array_get(toks, t)));
        unsigned char c[3];
        char want[64];
        tap_token_color((int)t, c);
        snprintf(want, sizeof want, "rgb(%d, %d, %d)", c[0], c[1], c[2]);
        cr_assert_str_eq(json_string_value(json_array_get(pair, 1)), want, "token %zu", t);
    }
    json_decref(tok);

    // A screenshot: the page with ink on the canvas.
    json_t *shot = wd("GET", "/screenshot", NULL);
    const char *b64 = json_string_value(shot);
    cr_assert(b64 && strlen(b64) > 1000);
    unsigned char *pngbuf = malloc(strlen(b64));
    size_t n = hc_base64_decode(b64, pngbuf);
    json_decref(shot);
    FILE *f = fopen(TAP_BINARY_DIR "/serve_browser.png", "wb");
    cr_assert(f);
    fwrite(pngbuf, 1, n, f);
    fclose(f);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_memory(&img, pngbuf, n), "the screenshot is no PNG");
    img.format = PNG_FORMAT_RGB;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    cr_assert(png_image_finish_read(&img, NULL, px, 0, NULL));
    cr_assert_gt(img.width, 400);
    cr_assert_gt(img.height, 300);
    // Inside the canvas: pixels of the strokes' colours (coloured, not grey) over white.
    long coloured = 0, white = 0;
    for (int yy = (int)top + 2; yy < (int)(top + h) - 2 && yy < (int)img.height; yy++)
        for (int xx = (int)left + 2; xx < (int)(left + w) - 2 && xx < (int)img.width; xx++) {
            const unsigned char *p = px + ((size_t)yy * img.width + (size_t)xx) * 3;
            int mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
            int mn = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
            if (mn > 245) white++;
            else if (mx - mn > 60) coloured++;
        }
    cr_assert_gt(coloured, 500, "no coloured ink on the canvas (%ld pixels)", coloured);
    cr_assert_gt(white, coloured, "the canvas is not mostly white");
    free(px), free(pngbuf);

    // Undo takes the last stroke away and the answer follows.
    json_decref(script("document.getElementById('undo').click(); return 0;"));
    json_t *u = wait_answer(doc.n_traces - 1);
    cr_assert_str_neq(json_string_value(json_object_get(u, "latex")), latex);
    json_decref(u);
    json_decref(script("document.getElementById('clear').click(); return 0;"));
    json_t *c = script("return document.querySelectorAll('#nbest li').length;");
    cr_assert_eq(json_integer_value(c), 0);
    json_decref(c);
    cr_log_info("browser test done in %.1f s", hc_now() - t0);
    json_decref(ans), json_decref(v);
    hc_free(&r);
    inkml_free(&doc);
}
