// `tap serve`: a local HTTP server (libmicrohttpd) over the public recognition API (tap_api.h).
//   GET  /                 the page: a canvas to write on, the n-best list typeset with KaTeX
//   GET  /katex/...        KaTeX from Debian's libjs-katex (ServeOptions.katex_dir)
//   GET  /health           {"status":"ok", ...}
//   POST /recognize        JSON strokes [[[x,y],...],...] (or {"strokes": ..., "n_best": k}) or
//                          an InkML document -> JSON n-best LaTeX, scores, per-token attention
// The answer: {"n_strokes", "n_points" (after TAP's thinning), "ms" (the library's time),
// "hypotheses": [{"latex", "tokens", "score" (-log p per token), "cost", "finished", "colors"
// (tap render's, one per token), "attention" (per token, its attention summed over each
// stroke)}, ...] best first, "stroke_token" (per stroke, the best reading's token that attended
// to it most, -1: none)}.
// One recognizer (the model, loaded once) is shared by the worker threads; each worker takes a
// TapDecoder of its own from a pool for a request. Bad requests get a 4xx JSON error
// {"error": "..."}: 400 for malformed or invalid input, 404/405 for unknown paths and methods,
// 413 for a body over max_body, 415 for a body that is neither JSON nor InkML, 422 for ink too
// degenerate to recognise. Idle or slow connections are closed after timeout seconds.
#ifndef TAP_SERVE_SERVE_H
#define TAP_SERVE_SERVE_H

#include <stddef.h>

#include "tap.h"
#include "tap_api.h"

typedef struct {
    const char *host;      // numeric address to bind, "127.0.0.1" (IPv4) or "::1" (IPv6)
    int port;              // 0: a free port (serve_port tells which)
    int threads;           // worker threads, each with its decoder (>= 1)
    int timeout;           // seconds a connection may stay idle (slow clients are cut)
    int max_clients;       // connections at once; more wait (in the kernel's queue) for one to close
    size_t max_body;       // bytes of a request body at most
    int max_points;        // points of one request at most
    int max_strokes;       // strokes of one request at most
    int beam, n_best;      // the search and the default hypotheses per answer
    int max_len;           // decoding steps at most
    const char *katex_dir; // served under /katex/ (NULL: none; the page shows LaTeX source)
    const char *model_name; // reported by /health
    // Called on a worker thread after each request (may be NULL): method, url, status, points
    // of the ink (0 when none), milliseconds spent. Calls may come from several threads at once.
    void (*log)(void *ctx, const char *method, const char *url, int status, int points, double ms);
    void *log_ctx;
} ServeOptions;

// The defaults above: 127.0.0.1:8080, 2 threads, 10 s, 64 clients, 1 MB, 20000 points,
// 1000 strokes, beam 10, 5 best, max_len 300, /usr/share/javascript/katex.
ServeOptions serve_options_default(void);

typedef struct Server Server;

// Starts the server on its own threads; r must outlive it.
int serve_start(const TapRecognizer *r, const ServeOptions *o, Server **out, TapError *err);
int serve_port(const Server *s);
// Stops accepting, finishes the requests in progress, frees everything.
void serve_stop(Server *s);

// ---------------------------------------------------------------------------- request bodies

// Strokes of a JSON body: stroke i has len[i] points x[i][k], y[i][k].
typedef struct {
    int n;
    int *len;      // (n)
    double **x, **y; // (n) views into one block
    double *block;
    int n_best, beam; // from an object body ({"strokes": ..., "n_best": k, "beam": b}); 0: unset
} ServeStrokes;

// Parses a JSON body ([[[x, y], ...], ...] or {"strokes": [...], ...}); points may carry more
// numbers (time, pressure), which are ignored. Fails (TAP_ERR_ARG, message for the client) on
// malformed JSON, a wrong shape, an empty stroke, a non-number or non-finite coordinate, and
// more than max_strokes strokes or max_points points.
int serve_parse_strokes(const char *body, size_t len, int max_strokes, int max_points,
                        ServeStrokes *out, TapError *err);
void serve_strokes_free(ServeStrokes *s);

// The JSON answer for a result (a malloc'd NUL-terminated string), or NULL when out of memory.
char *serve_result_json(const TapResult *res);

// The page, embedded at build time from src/serve/page.html.
extern const unsigned char serve_page_html[];
extern const size_t serve_page_html_len;

#endif
