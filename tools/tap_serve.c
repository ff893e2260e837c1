// tap serve [MODEL.h5]: a local web server (src/serve) with a page to write math on and
// POST /recognize for programs. The model is loaded once and shared by the worker threads.
// Prints the address ("http://HOST:PORT/") on stdout once listening, a line per request on
// stderr (unless --quiet), and stops on SIGINT or SIGTERM.
#include <cblas.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "serve.h"

// Relative to the working directory, as in tap decode.
#define BUNDLED_TAP "data/model/tap.h5"
#define BUNDLED_SMALL "data/model/small.h5"

typedef struct {
    const char *dict, *host, *katex;
    int port, threads, beam, n_best, max_len, timeout, max_clients, max_body, max_points,
        max_strokes, quiet;
} ServeCliOptions;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_line(void *ctx, const char *method, const char *url, int status, int points,
                     double ms) {
    (void)ctx;
    pthread_mutex_lock(&log_lock);
    if (points > 0)
        fprintf(stderr, "tap serve: %s %s %d, %d points, %.1f ms\n", method, url, status, points, ms);
    else
        fprintf(stderr, "tap serve: %s %s %d, %.1f ms\n", method, url, status, ms);
    pthread_mutex_unlock(&log_lock);
}

int tap_serve_main(int argc, char **argv) {
    ServeOptions d = serve_options_default();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ServeCliOptions o = {.dict = NULL,
                         .host = d.host,
                         .katex = d.katex_dir,
                         .port = d.port,
                         .threads = cores > 0 && cores < 256 ? (int)cores : d.threads,
                         .beam = d.beam,
                         .n_best = d.n_best,
                         .max_len = d.max_len,
                         .timeout = d.timeout,
                         .max_clients = d.max_clients,
                         .max_body = (int)d.max_body,
                         .max_points = d.max_points,
                         .max_strokes = d.max_strokes};
    CliOption opts[] = {
        {"dict", CLI_STRING, &o.dict, "dictionary (token<TAB>id) instead of the model's own vocabulary"},
        {"host", CLI_STRING, &o.host, "numeric address to listen on (0.0.0.0 or :: opens it to the network)"},
        {"port", CLI_INT, &o.port, "TCP port (0: any free port; the address is printed)"},
        {"threads", CLI_INT, &o.threads, "worker threads, each decoding one request at a time (default: one per core)"},
        {"beam", CLI_INT, &o.beam, "beam width (1: greedy)"},
        {"n-best", CLI_INT, &o.n_best, "hypotheses per answer (a request may ask for up to --beam)"},
        {"max-len", CLI_INT, &o.max_len, "decoding steps at most"},
        {"timeout", CLI_INT, &o.timeout, "seconds a connection may stay idle before it is closed"},
        {"max-clients", CLI_INT, &o.max_clients, "connections at once; more wait for one to close (idle ones time out)"},
        {"max-body", CLI_INT, &o.max_body, "request body bytes at most (413 beyond)"},
        {"max-points", CLI_INT, &o.max_points, "points of one request at most"},
        {"max-strokes", CLI_INT, &o.max_strokes, "strokes of one request at most"},
        {"katex", CLI_STRING, &o.katex, "KaTeX directory served under /katex/ (Debian's libjs-katex)"},
        {"quiet", CLI_FLAG, &o.quiet, "no line per request on stderr"},
    };
    const CliSpec spec = {"serve", "[options] [MODEL.h5]",
                          "A local web server: a page to write math on (the n-best LaTeX typeset "
                          "as you write) and POST /recognize (JSON strokes or InkML). Without "
                          "MODEL.h5: " BUNDLED_TAP " when present, else " BUNDLED_SMALL ".",
                          opts, (int)(sizeof opts / sizeof opts[0])};
    char msg[512];
    CliArgs a;
    int rc = cli_args_parse(&a, &spec, argc, argv, 0, msg, sizeof msg);
    if (rc == CLI_OK && a.n_pos > 1)
        snprintf(msg, sizeof msg, "expected one MODEL.h5 at most"), rc = CLI_USAGE;
    if (rc == CLI_OK && (o.port < 0 || o.port > 65535))
        snprintf(msg, sizeof msg, "--port must be 0..65535"), rc = CLI_USAGE;
    if (rc == CLI_OK && (o.threads < 1 || o.threads > 256))
        snprintf(msg, sizeof msg, "--threads must be 1..256"), rc = CLI_USAGE;
    if (rc == CLI_OK && (o.beam < 1 || o.beam > 1000 || o.n_best < 1 || o.n_best > o.beam ||
                         o.max_len < 1 || o.max_len > 100000))
        snprintf(msg, sizeof msg, "--beam 1..1000, --n-best 1..beam, --max-len 1..100000"),
            rc = CLI_USAGE;
    if (rc == CLI_OK && (o.timeout < 1 || o.max_clients < 1 || o.max_body < 1 ||
                         o.max_points < 1 || o.max_strokes < 1))
        snprintf(msg, sizeof msg, "--timeout, --max-clients, --max-body, --max-points and "
                                  "--max-strokes must be positive"),
            rc = CLI_USAGE;
    if (rc != CLI_OK) return cli_args_exit(&a, &spec, rc, msg);
    const char *model = a.n_pos ? a.pos[0]
                              : (access(BUNDLED_TAP, R_OK) == 0 ? BUNDLED_TAP : BUNDLED_SMALL);
    // Parallelism comes from concurrent requests: one OpenBLAS thread per worker.
    openblas_set_num_threads(1);
    TapRecognizer *rec = NULL;
    if (tap_recognizer_open(model, o.dict, &rec, msg, sizeof msg) != TAP_API_OK) {
        fprintf(stderr, "tap serve: error: %s\n", msg);
        cli_args_free(&a);
        return 1;
    }
    // The workers inherit this mask, so the signals reach sigwait below only.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    ServeOptions so = d;
    so.host = o.host;
    so.port = o.port;
    so.threads = o.threads;
    so.beam = o.beam;
    so.n_best = o.n_best;
    so.max_len = o.max_len;
    so.timeout = o.timeout;
    so.max_clients = o.max_clients;
    so.max_body = (size_t)o.max_body;
    so.max_points = o.max_points;
    so.max_strokes = o.max_strokes;
    so.katex_dir = o.katex && *o.katex ? o.katex : NULL;
    so.model_name = model;
    so.log = o.quiet ? NULL : log_line;
    if (so.katex_dir && access(so.katex_dir, R_OK) != 0) {
        fprintf(stderr, "tap serve: warning: %s is missing (apt-get install libjs-katex); the "
                        "page shows LaTeX source only\n", so.katex_dir);
    }
    Server *srv = NULL;
    TapError err = {0};
    if (serve_start(rec, &so, &srv, &err) != TAP_OK) {
        fprintf(stderr, "tap serve: error: %s\n", err.msg);
        tap_recognizer_close(rec);
        cli_args_free(&a);
        return 1;
    }
    int ipv6 = strchr(o.host, ':') != NULL;
    fprintf(stderr, "tap serve: model %s (%zu weights), %d threads, beam %d; Ctrl-C stops\n",
            model, tap_recognizer_weights(rec), o.threads, o.beam);
    printf("http://%s%s%s:%d/\n", ipv6 ? "[" : "", o.host, ipv6 ? "]" : "", serve_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "tap serve: %s, stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    serve_stop(srv);
    tap_recognizer_close(rec);
    cli_args_free(&a);
    return 0;
}
