// `tap serve` (src/serve) with a client on plain sockets: JSON strokes give the features of the
// InkML file holding them and the same answer as its InkML body; the page, /health and KaTeX
// are served; bad requests (malformed JSON, NaN, a body over the limit, too many points, empty
// strokes, unknown paths, ...) get a 4xx JSON error and the server goes on; a slow client is cut
// off while others are served; many clients at once are all answered; connections over the limit
// wait for idle ones to time out; `tap serve` prints its address and stops on SIGTERM.
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "feature.h"
#include "http_client.h"
#include "inkml.h"
#include "serve.h"
#include "test_util.h"

#define MODEL TAP_SOURCE_DIR "/data/model/small.h5"
#define DICT TAP_SOURCE_DIR "/data/dictionary.txt"

static char *inkml_path(int i) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/sample/test/%s.inkml", TAP_SOURCE_DIR, tu_samples[i]);
    return path;
}

// The strokes of an InkML document as the JSON body a canvas would send, every coordinate
// printed exactly (%.17g); extra adds a third number (a time) to each point.
static char *strokes_json(const InkmlDoc *doc, int object, int extra) {
    size_t cap = 64 + (size_t)doc->n_points * 64, n = 0;
    char *s = malloc(cap);
    n += (size_t)sprintf(s + n, object ? "{\"n_best\": 5, \"strokes\": [" : "[");
    for (int i = 0; i < doc->n_traces; i++) {
        n += (size_t)sprintf(s + n, i ? ",[" : "[");
        for (int k = doc->trace_start[i]; k < doc->trace_start[i + 1]; k++) {
            n += (size_t)sprintf(s + n, "%s[%.17g, %.17g", k > doc->trace_start[i] ? "," : "",
                                 doc->x[k], doc->y[k]);
            n += (size_t)sprintf(s + n, extra ? ", %d]" : "]", k);
        }
        n += (size_t)sprintf(s + n, "]");
    }
    sprintf(s + n, object ? "]}" : "]");
    return s;
}

Test(serve, json_strokes_give_the_features_of_the_inkml_file_holding_them) {
    for (int i = 0; i < TU_N_SAMPLES; i++) {
        InkmlDoc doc;
        TapError e = {0};
        cr_assert_eq(inkml_load(inkml_path(i), &doc, &e), TAP_OK, "%s", e.msg);
        Features want;
        cr_assert_eq(feature_compute(&doc, &want, &e), TAP_OK, "%s", e.msg);
        for (int form = 0; form < 3; form++) {
            char *json = strokes_json(&doc, form == 1, form == 2);
            ServeStrokes st;
            cr_assert_eq(serve_parse_strokes(json, strlen(json), 1000, 100000, &st, &e), TAP_OK,
                         "%s", e.msg);
            cr_assert_eq(st.n, doc.n_traces);
            cr_assert_eq(st.n_best, form == 1 ? 5 : 0);
            // The arrays tap_recognize_strokes gets, laid out as feature_compute_traces takes them.
            int *start = malloc(((size_t)st.n + 1) * sizeof *start);
            double *x = malloc((size_t)doc.n_points * sizeof *x);
            double *y = malloc((size_t)doc.n_points * sizeof *y);
            start[0] = 0;
            for (int k = 0; k < st.n; k++) {
                start[k + 1] = start[k] + st.len[k];
                memcpy(x + start[k], st.x[k], (size_t)st.len[k] * sizeof *x);
                memcpy(y + start[k], st.y[k], (size_t)st.len[k] * sizeof *y);
            }
            cr_assert_eq(start[st.n], doc.n_points);
            Features got;
            cr_assert_eq(feature_compute_traces(st.n, start, x, y, &got, &e), TAP_OK, "%s", e.msg);
            cr_assert_eq(got.n_rows, want.n_rows, "%s", inkml_path(i));
            cr_assert_eq(memcmp(got.f, want.f, (size_t)want.n_rows * TAP_FEATURE_DIM * sizeof(float)),
                         0, "%s: features differ", inkml_path(i));
            cr_assert_eq(memcmp(got.stroke, want.stroke, (size_t)want.n_rows * sizeof(int)), 0);
            feature_free(&got);
            free(start), free(x), free(y);
            serve_strokes_free(&st);
            free(json);
        }
        feature_free(&want);
        inkml_free(&doc);
    }
}

// ---------------------------------------------------------------------------- a live server

static TapRecognizer *rec;
static Server *srv;
static int port;

static void start_with(ServeOptions o) {
    char err[512];
    cr_assert_eq(tap_recognizer_open(MODEL, DICT, &rec, err, sizeof err), TAP_API_OK, "%s", err);
    o.port = 0;
    o.model_name = "small.h5";
    TapError e = {0};
    cr_assert_eq(serve_start(rec, &o, &srv, &e), TAP_OK, "%s", e.msg);
    port = serve_port(srv);
    cr_assert_gt(port, 0);
}

static void start(void) { start_with(serve_options_default()); }

static void stop(void) {
    serve_stop(srv);
    tap_recognizer_close(rec);
    srv = NULL, rec = NULL;
}

static json_t *body_json(const HcResponse *r) {
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, 0, &je);
    cr_assert(j, "not JSON (%s): %.300s", je.text, r->raw);
    return j;
}

// Asserts a JSON error answer with this status whose message contains want.
static void expect_error(HcResponse r, int status, const char *want, const char *what) {
    cr_expect_eq(r.status, status, "%s: status %d, answer %.300s", what, r.status, r.raw);
    if (r.status) {
        json_t *j = body_json(&r);
        const char *msg = json_string_value(json_object_get(j, "error"));
        cr_expect(msg && strstr(msg, want), "%s: error '%s' lacks '%s'", what, msg ? msg : "(none)",
                  want);
        cr_expect(strstr(r.raw, "Content-Type: application/json"), "%s: not JSON", what);
        json_decref(j);
    }
    hc_free(&r);
}

static void expect_healthy(void) {
    HcResponse r = hc_get(port, "/health");
    cr_assert_eq(r.status, 200, "%.300s", r.raw);
    json_t *j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    hc_free(&r);
}

static char *file_text(const char *path, size_t *len) {
    char *s = tu_read_file(path, len);
    cr_assert(s, "cannot read %s", path);
    return s;
}

Test(serve, json_strokes_and_the_inkml_body_get_the_answer_of_the_library, .init = start,
     .fini = stop) {
    for (int i = 0; i < 3; i++) {
        size_t len;
        char *ink = file_text(inkml_path(i), &len);
        HcResponse a = hc_request(port, "POST", "/recognize", "application/inkml+xml", ink, len);
        cr_assert_eq(a.status, 200, "%.300s", a.raw);
        InkmlDoc doc;
        TapError e = {0};
        cr_assert_eq(inkml_load(inkml_path(i), &doc, &e), TAP_OK);
        char *json = strokes_json(&doc, 0, 0);
        HcResponse b = hc_post(port, "/recognize", json, strlen(json));
        cr_assert_eq(b.status, 200, "%.300s", b.raw);
        json_t *ja = body_json(&a), *jb = body_json(&b);
        json_object_del(ja, "ms"), json_object_del(jb, "ms");
        cr_assert(json_equal(ja, jb), "%s: the InkML and JSON answers differ", inkml_path(i));
        // ... and both are the library's answer for the file.
        TapRecognizeOptions o = {.beam = 10, .n_best = 5};
        TapResult res;
        char err[256];
        cr_assert_eq(tap_recognize_inkml(rec, inkml_path(i), &o, &res, err, sizeof err), TAP_API_OK);
        json_t *hyps = json_object_get(ja, "hypotheses");
        cr_assert_eq((int)json_array_size(hyps), res.n_hyp);
        cr_assert_eq(json_integer_value(json_object_get(ja, "n_strokes")), doc.n_traces);
        cr_assert_eq(json_integer_value(json_object_get(ja, "n_points")), res.n_points);
        for (int h = 0; h < res.n_hyp; h++) {
            json_t *y = json_array_get(hyps, (size_t)h);
            cr_assert_str_eq(json_string_value(json_object_get(y, "latex")), res.hyp[h].latex);
            cr_assert_float_eq(json_real_value(json_object_get(y, "score")), res.hyp[h].score,
                               1e-6 * (1 + res.hyp[h].score));
            json_t *att = json_object_get(y, "attention"), *toks = json_object_get(y, "tokens");
            cr_assert_eq((int)json_array_size(att), res.hyp[h].n_tokens);
            cr_assert_eq((int)json_array_size(toks), res.hyp[h].n_tokens);
            cr_assert_eq((int)json_array_size(json_object_get(y, "colors")), res.hyp[h].n_tokens);
            for (int t = 0; t < res.hyp[h].n_tokens; t++) {
                json_t *row = json_array_get(att, (size_t)t);
                cr_assert_eq((int)json_array_size(row), res.n_strokes);
                for (int k = 0; k < res.n_strokes; k++)
                    cr_assert_float_eq(json_number_value(json_array_get(row, (size_t)k)),
                                       res.hyp[h].stroke_attention[t * res.n_strokes + k], 1e-4);
            }
        }
        json_t *st = json_object_get(ja, "stroke_token");
        for (int k = 0; k < res.n_strokes; k++)
            cr_assert_eq(json_integer_value(json_array_get(st, (size_t)k)), res.stroke_token[k]);
        // The colours are tap render's: the first is render_token_color(0).
        unsigned char c[3];
        char hex[8];
        tap_token_color(0, c);
        snprintf(hex, sizeof hex, "#%02x%02x%02x", c[0], c[1], c[2]);
        cr_assert_str_eq(hex, "#1f77b4");
        cr_assert_str_eq(
            json_string_value(json_array_get(json_object_get(json_array_get(hyps, 0), "colors"), 0)),
            hex);
        tap_result_free(&res);
        json_decref(ja), json_decref(jb);
        hc_free(&a), hc_free(&b);
        inkml_free(&doc);
        free(json), free(ink);
    }
    // A request may ask for fewer hypotheses.
    const char *one = "{\"n_best\": 1, \"strokes\": [[[0,0],[0,10],[0,20]],[[10,5],[20,5]]]}";
    HcResponse r = hc_post(port, "/recognize", one, strlen(one));
    cr_assert_eq(r.status, 200, "%.300s", r.raw);
    json_t *j = body_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "hypotheses")), 1);
    json_decref(j);
    hc_free(&r);
}

Test(serve, the_page_health_and_katex_are_served_and_unknown_paths_are_404, .init = start,
     .fini = stop) {
    expect_healthy();
    HcResponse r = hc_get(port, "/");
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.raw, "Content-Type: text/html"));
    cr_assert(strstr(r.body, "<canvas") && strstr(r.body, "/recognize") &&
              strstr(r.body, "/katex/katex.min.js"));
    cr_assert_eq(r.body_len, serve_page_html_len);
    hc_free(&r);
    if (access("/usr/share/javascript/katex/katex.min.js", R_OK) == 0) {
        r = hc_get(port, "/katex/katex.min.js");
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.raw, "Content-Type: text/javascript"));
        cr_assert_gt(r.body_len, 10000);
        hc_free(&r);
        r = hc_get(port, "/katex/fonts/KaTeX_Main-Regular.woff2");
        cr_assert_eq(r.status, 200);
        hc_free(&r);
    } else {
        cr_log_warn("libjs-katex is not installed: /katex/ not checked");
    }
    expect_error(hc_get(port, "/katex/../../../etc/passwd"), 404, "no such file", "dot-dot");
    expect_error(hc_get(port, "/katex/%2e%2e/%2e%2e/etc/passwd"), 404, "no such file", "escaped");
    expect_error(hc_get(port, "/katex/"), 404, "no such file", "katex dir");
    expect_error(hc_get(port, "/nope"), 404, "unknown path", "unknown path");
    expect_error(hc_get(port, "/recognize"), 405, "POST", "GET /recognize");
    expect_error(hc_request(port, "DELETE", "/health", NULL, "", 0), 405, "GET", "DELETE");
    expect_error(hc_request(port, "POST", "/", NULL, "x", 1), 405, "GET", "POST /");
    // Not HTTP at all: the server drops it and goes on.
    HcResponse junk = hc_raw(port, "\x01\x02garbage\r\n\r\n", 13, 10);
    cr_expect(junk.status == 0 || (junk.status >= 400 && junk.status < 500), "%d", junk.status);
    hc_free(&junk);
    expect_healthy();
}

static void post_error(const char *body, size_t len, int status, const char *want) {
    expect_error(hc_post(port, "/recognize", body, len), status, want, body);
}
#define POST_ERROR(body, status, want) post_error(body, strlen(body), status, want)

static void start_small_limits(void) {
    ServeOptions o = serve_options_default();
    o.max_points = 1000;
    o.max_strokes = 50;
    o.max_body = 1 << 20;
    start_with(o);
}

Test(serve, bad_requests_get_4xx_json_errors_and_the_server_goes_on, .init = start_small_limits,
     .fini = stop) {
    POST_ERROR("", 400, "empty body");
    POST_ERROR("  \n", 400, "empty body");
    POST_ERROR("[[[0,0],[1,2]]", 400, "malformed JSON");
    POST_ERROR("[[[0,0],[1,2]]]]", 400, "malformed JSON");
    POST_ERROR("{\"strokes\": [[[0,0]]], \"strokes\": []}", 400, "malformed JSON");
    POST_ERROR("[[[0,0],[1,NaN]]]", 400, "malformed JSON");
    POST_ERROR("[[[0,0],[1,Infinity]]]", 400, "malformed JSON");
    POST_ERROR("[[[0,0],[1,1e999]]]", 400, "malformed JSON");
    POST_ERROR("[[[0,0],[1,2e9]]]", 400, "beyond 1e9");
    POST_ERROR("[[[0,0],[1,\"2\"]]]", 400, "not [x, y] numbers");
    POST_ERROR("[[[0,0],[1]]]", 400, "not [x, y] numbers");
    POST_ERROR("[[[0,0],5]]", 400, "not [x, y] numbers");
    POST_ERROR("[[0,0]]", 400, "stroke 0 point 0 is not [x, y]");
    POST_ERROR("[5]", 400, "stroke 0 is not an array");
    POST_ERROR("[]", 400, "no strokes");
    POST_ERROR("[[]]", 400, "stroke 0 is empty");
    POST_ERROR("[[[0,0],[5,5]],[]]", 400, "stroke 1 is empty");
    POST_ERROR("{\"points\": []}", 400, "no \"strokes\"");
    POST_ERROR("{\"strokes\": 3}", 400, "array of strokes");
    POST_ERROR("{\"strokes\": [[[0,0],[5,5]]], \"n_best\": 0}", 400, "n_best");
    POST_ERROR("{\"strokes\": [[[0,0],[5,5]]], \"beam\": 1.5}", 400, "beam");
    POST_ERROR("{\"strokes\": [[[0,0],[5,5]]], \"beam\": 2000}", 400, "beam");
    POST_ERROR("[[[3,3]]]", 422, "degenerate");
    POST_ERROR("[[[3,3],[3,3],[3,3]]]", 422, "degenerate");
    POST_ERROR("hello", 415, "neither JSON");
    POST_ERROR("<ink><trace>0 0, 1 1</trace", 400, "request");
    POST_ERROR("<not-ink/>", 400, "request");
    {
        // A NUL byte inside the JSON.
        const char nul[] = "[[[0,0],[1,\0 2]]]";
        post_error(nul, sizeof nul - 1, 400, "malformed JSON");
    }
    {
        // Nesting deeper than any stroke list.
        size_t n = 200000;
        char *deep = malloc(2 * n + 1);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = '\0';
        post_error(deep, 2 * n, 400, "");
        free(deep);
    }
    {
        // Too many points (the limit is 1000 here) and too many strokes (50).
        char *many = malloc(64 * 2000);
        size_t n = (size_t)sprintf(many, "[[");
        for (int k = 0; k < 1001; k++) n += (size_t)sprintf(many + n, "%s[%d,%d]", k ? "," : "", k, k % 7);
        strcpy(many + n, "]]");
        POST_ERROR(many, 400, "too many points");
        n = (size_t)sprintf(many, "[");
        for (int k = 0; k < 51; k++) n += (size_t)sprintf(many + n, "%s[[%d,0],[%d,9]]", k ? "," : "", k, k);
        strcpy(many + n, "]");
        POST_ERROR(many, 400, "too many strokes");
        // An InkML body is held to the same limit.
        n = (size_t)sprintf(many, "<ink xmlns=\"http://www.w3.org/2003/InkML\"><trace>");
        for (int k = 0; k < 1001; k++) n += (size_t)sprintf(many + n, "%s%d %d", k ? ", " : "", k, k % 7);
        strcpy(many + n, "</trace></ink>");
        POST_ERROR(many, 400, "too many points");
        many[n - 20] = '\0'; // fewer points: recognised
        strcpy(many + strlen(many) - strlen(strrchr(many, ',')), "</trace></ink>");
        HcResponse fine = hc_request(port, "POST", "/recognize", "application/xml", many, strlen(many));
        cr_expect_eq(fine.status, 200, "%.300s", fine.raw);
        hc_free(&fine);
        free(many);
    }
    {
        // A body over 1 MB: said by Content-Length (refused before it is read), and sent in chunks
        // without a length.
        size_t n = (1 << 20) + 10;
        char *big = malloc(n);
        memset(big, ' ', n);
        big[0] = '[';
        HcResponse r = hc_post(port, "/recognize", big, n);
        expect_error(r, 413, "body over", "Content-Length over the limit");
        char head[256];
        int h = snprintf(head, sizeof head,
                         "POST /recognize HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
        size_t chunk = 1 << 16, cap = (size_t)h + n + 4096;
        char *req = malloc(cap), *p = req + h;
        memcpy(req, head, (size_t)h);
        for (size_t done = 0; done < n; done += chunk) {
            size_t k = n - done < chunk ? n - done : chunk;
            p += sprintf(p, "%zx\r\n", k);
            memcpy(p, big + done, k);
            p += k;
            p += sprintf(p, "\r\n");
        }
        p += sprintf(p, "0\r\n\r\n");
        expect_error(hc_raw(port, req, (size_t)(p - req), 30), 413, "body over", "chunked");
        free(req), free(big);
    }
    expect_healthy();
    // And it still recognises.
    const char *ok = "[[[0,0],[0,10],[0,20]],[[10,5],[20,5]]]";
    HcResponse r = hc_post(port, "/recognize", ok, strlen(ok));
    cr_assert_eq(r.status, 200, "%.300s", r.raw);
    hc_free(&r);
}

static void start_short_timeout(void) {
    ServeOptions o = serve_options_default();
    o.timeout = 1;
    o.max_clients = 8;
    o.threads = 1; // libmicrohttpd splits the limit between its threads
    start_with(o);
}

Test(serve, a_slow_client_is_cut_off_while_others_are_served, .init = start_short_timeout,
     .fini = stop) {
    int fd = hc_connect(port);
    cr_assert_geq(fd, 0);
    const char *part = "POST /recognize HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[[[0,";
    cr_assert_eq(hc_send_all(fd, part, strlen(part)), 0);
    double t0 = hc_now();
    // Others are answered meanwhile, at once.
    HcResponse r = hc_get(port, "/health");
    cr_assert_eq(r.status, 200);
    cr_assert_lt(r.seconds, 0.9, "a health check took %.2f s beside a stalled client", r.seconds);
    hc_free(&r);
    // The stalled connection is closed after the 1 s timeout, well before 10 s.
    char *junk;
    long n = hc_read_all(fd, &junk, 10);
    double waited = hc_now() - t0;
    cr_assert_geq(n, 0, "the stalled connection was still open after 10 s");
    cr_assert_lt(waited, 5.0, "closed after %.1f s", waited);
    free(junk);
    close(fd);
    // A client that connects and says nothing is cut off too.
    fd = hc_connect(port);
    t0 = hc_now();
    n = hc_read_all(fd, &junk, 10);
    cr_assert_geq(n, 0);
    cr_assert_lt(hc_now() - t0, 5.0);
    free(junk);
    close(fd);
    expect_healthy();
}

Test(serve, connections_over_the_limit_wait_for_idle_ones_to_time_out,
     .init = start_short_timeout, .fini = stop) {
    // max_clients is 8: 8 idle connections fill it.
    int fds[8];
    for (int i = 0; i < 8; i++) cr_assert_geq(fds[i] = hc_connect(port), 0);
    hc_sleep(0.2);
    // A ninth waits in the kernel's queue until the idle ones are cut off (timeout 1 s), then
    // it is answered: late, but never stalled for good.
    HcResponse r = hc_get(port, "/health");
    cr_assert_eq(r.status, 200, "%.200s", r.raw);
    cr_assert_lt(r.seconds, 5.0, "answered after %.1f s", r.seconds);
    hc_free(&r);
    for (int i = 0; i < 8; i++) {
        char *junk;
        cr_assert_geq(hc_read_all(fds[i], &junk, 5), 0, "idle connection %d still open", i);
        free(junk);
        close(fds[i]);
    }
    expect_healthy();
}

typedef struct {
    int port, rounds, ok;
    const char *body;
    const char *want; // the expected best LaTeX
} Client;

static void *client(void *arg) {
    Client *c = arg;
    for (int k = 0; k < c->rounds; k++) {
        HcResponse r = k % 2 ? hc_get(c->port, "/health")
                             : hc_post(c->port, "/recognize", c->body, strlen(c->body));
        if (r.status == 200 && (k % 2 || strstr(r.body, c->want))) c->ok++;
        hc_free(&r);
    }
    return NULL;
}

Test(serve, many_clients_at_once_are_all_answered_alike, .init = start, .fini = stop) {
    InkmlDoc doc;
    TapError e = {0};
    cr_assert_eq(inkml_load(inkml_path(1), &doc, &e), TAP_OK);
    char *json = strokes_json(&doc, 0, 0);
    inkml_free(&doc);
    HcResponse one = hc_post(port, "/recognize", json, strlen(json));
    cr_assert_eq(one.status, 200);
    json_t *j = body_json(&one);
    char want[512];
    snprintf(want, sizeof want, "\"latex\":\"%s\"",
             json_string_value(json_object_get(json_array_get(json_object_get(j, "hypotheses"), 0),
                                               "latex")));
    json_decref(j);
    hc_free(&one);
    enum { N = 16, ROUNDS = 4 };
    Client cs[N];
    pthread_t th[N];
    // Idle connections beside them do not block anyone (the limit is 64).
    int idle[20];
    for (int i = 0; i < 20; i++) idle[i] = hc_connect(port);
    for (int i = 0; i < N; i++) {
        cs[i] = (Client){.port = port, .rounds = ROUNDS, .body = json, .want = want};
        pthread_create(&th[i], NULL, client, &cs[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(cs[i].ok, ROUNDS, "client %d: %d of %d answered alike", i, cs[i].ok, ROUNDS);
    }
    for (int i = 0; i < 20; i++) close(idle[i]);
    free(json);
    expect_healthy();
}

Test(serve, tap_serve_prints_its_address_answers_and_stops_on_sigterm) {
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(TAP_BINARY_DIR "/tap", "tap", "serve", "--port", "0", "--threads", "1", "--quiet",
              "--dict", DICT, MODEL, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256] = "";
    FILE *f = fdopen(out[0], "r");
    cr_assert(fgets(line, sizeof line, f), "tap serve printed no address");
    int p = 0;
    cr_assert_eq(sscanf(line, "http://127.0.0.1:%d/", &p), 1, "%s", line);
    port = p;
    expect_healthy();
    const char *ok = "[[[0,0],[0,10],[0,20]],[[10,5],[20,5]]]";
    HcResponse r = hc_post(port, "/recognize", ok, strlen(ok));
    cr_assert_eq(r.status, 200, "%.300s", r.raw);
    hc_free(&r);
    kill(pid, SIGTERM);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    fclose(f);
    char cmd[1024], err[1024];
    snprintf(cmd, sizeof cmd, "%s/tap serve --port 70000 %s", TAP_BINARY_DIR, MODEL);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 2);
    cr_assert(strstr(err, "--port"), "%s", err);
    snprintf(cmd, sizeof cmd, "%s/tap serve --port 0 /nonexistent.h5", TAP_BINARY_DIR);
    cr_assert_eq(tu_run(cmd, NULL, 0, err, sizeof err), 1);
}
