// The HTTP side of `tap serve` (serve.h) on libmicrohttpd: a pool of worker threads, each
// polling its share of the connections; a request's body is gathered up to max_body, then
// recognised with a TapDecoder taken from a pool (as many decoders as threads, so a worker never
// waits for one for long). Every answer, good or bad, is JSON, except the page and KaTeX.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "serve.h"

struct Server {
    const TapRecognizer *rec;
    ServeOptions o;
    struct MHD_Daemon *mhd;
    int port;
    // The decoder pool: free[0..n_free) are idle.
    pthread_mutex_t lock;
    pthread_cond_t cond;
    TapDecoder **dec, **free;
    int n_dec, n_free;
    int lock_ok;
};

ServeOptions serve_options_default(void) {
    return (ServeOptions){.host = "127.0.0.1",
                          .port = 8080,
                          .threads = 2,
                          .timeout = 10,
                          .max_clients = 64,
                          .max_body = 1 << 20,
                          .max_points = 20000,
                          .max_strokes = 1000,
                          .beam = 10,
                          .n_best = 5,
                          .max_len = 300,
                          .katex_dir = "/usr/share/javascript/katex"};
}

// One request in progress: its body so far.
typedef struct {
    char *body;
    size_t len, cap;
    int too_big; // the body passed max_body (the rest is dropped)
    double t0;
} Request;

// ---------------------------------------------------------------------------- answers

static enum MHD_Result send_buffer(struct MHD_Connection *c, int status, const char *type,
                                   void *buf, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, char *json) {
    if (!json) return MHD_NO;
    return send_buffer(c, status, "application/json", json, strlen(json), MHD_RESPMEM_MUST_FREE);
}

// {"error": msg} with msg escaped.
static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
    size_t n = strlen(msg);
    char *s = malloc(6 * n + 32);
    if (!s) return MHD_NO;
    char *p = s + sprintf(s, "{\"error\":\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch == '"' || ch == '\\') *p++ = '\\', *p++ = (char)ch;
        else if (ch < 0x20) p += sprintf(p, "\\u%04x", ch);
        else *p++ = (char)ch;
    }
    strcpy(p, "\"}");
    return send_json(c, status, s);
}

static const char *file_type(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")) return "text/javascript";
    if (!strcmp(dot, ".css")) return "text/css";
    if (!strcmp(dot, ".woff2")) return "font/woff2";
    if (!strcmp(dot, ".woff")) return "font/woff";
    if (!strcmp(dot, ".ttf")) return "font/ttf";
    return "application/octet-stream";
}

// GET /katex/REL: a regular file under katex_dir; REL is letters, digits and "._-/" without "..".
static enum MHD_Result send_katex(Server *s, struct MHD_Connection *c, const char *rel) {
    size_t n = strlen(rel);
    int ok = s->o.katex_dir && n > 0 && n < 200 && rel[0] != '/' && !strstr(rel, "..");
    for (size_t i = 0; ok && i < n; i++) {
        char ch = rel[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '_' || ch == '-' || ch == '/';
    }
    if (!ok) return send_error(c, 404, "no such file");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s->o.katex_dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return send_error(c, 404, "no such file");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return send_error(c, 404, "no such file");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, file_type(path));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=86400");
    enum MHD_Result res = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return res;
}

static enum MHD_Result send_health(Server *s, struct MHD_Connection *c) {
    char buf[1024], name[600];
    const char *m = s->o.model_name ? s->o.model_name : "";
    size_t k = 0;
    for (size_t i = 0; m[i] && k + 2 < sizeof name; i++) {
        if (m[i] == '"' || m[i] == '\\') name[k++] = '\\';
        if ((unsigned char)m[i] >= 0x20) name[k++] = m[i];
    }
    name[k] = '\0';
    snprintf(buf, sizeof buf,
             "{\"status\":\"ok\",\"model\":\"%s\",\"vocab\":%d,\"weights\":%zu,\"threads\":%d,"
             "\"beam\":%d,\"n_best\":%d,\"max_body\":%zu,\"max_points\":%d,\"katex\":%s}",
             name, tap_recognizer_vocab_size(s->rec), tap_recognizer_weights(s->rec),
             s->o.threads, s->o.beam, s->o.n_best, s->o.max_body, s->o.max_points,
             s->o.katex_dir ? "true" : "false");
    return send_json(c, 200, strdup(buf));
}

// ---------------------------------------------------------------------------- recognition

static TapDecoder *decoder_take(Server *s) {
    pthread_mutex_lock(&s->lock);
    while (s->n_free == 0) pthread_cond_wait(&s->cond, &s->lock);
    TapDecoder *d = s->free[--s->n_free];
    pthread_mutex_unlock(&s->lock);
    return d;
}

static void decoder_give(Server *s, TapDecoder *d) {
    pthread_mutex_lock(&s->lock);
    s->free[s->n_free++] = d;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static int status_of(int rc) {
    if (rc == TAP_API_ERR_NUMERIC) return 422;
    if (rc == TAP_API_ERR_NOMEM) return 503;
    return rc == TAP_API_ERR_IO ? 500 : 400;
}

// POST /recognize with the whole body in q. *points is set to the ink's raw points.
static enum MHD_Result recognize(Server *s, struct MHD_Connection *c, Request *q, int *points,
                                 int *status) {
    size_t i = 0;
    while (i < q->len && (q->body[i] == ' ' || q->body[i] == '\t' || q->body[i] == '\r' ||
                          q->body[i] == '\n'))
        i++;
    if (i == q->len) return send_error(c, *status = 400, "empty body: send JSON strokes or InkML");
    char first = q->body[i];
    TapRecognizeOptions opt = {.beam = s->o.beam, .max_len = s->o.max_len, .n_best = s->o.n_best,
                               .max_points = s->o.max_points};
    TapResult res;
    char err[512];
    int rc;
    if (first == '<') {
        // InkML: the library counts its points against max_points before decoding.
        TapDecoder *d = decoder_take(s);
        rc = tap_decoder_inkml_buffer(d, q->body, q->len, "request", &opt, &res, err, sizeof err);
        decoder_give(s, d);
        if (rc == TAP_API_OK && res.n_points > 0) *points = res.n_points;
    } else if (first == '[' || first == '{') {
        ServeStrokes st;
        TapError e = {0};
        if (serve_parse_strokes(q->body, q->len, s->o.max_strokes, s->o.max_points, &st, &e) !=
            TAP_OK)
            return send_error(c, *status = e.code == TAP_ERR_NOMEM ? 503 : 400, e.msg);
        if (st.beam) opt.beam = st.beam;
        if (st.n_best) opt.n_best = st.n_best;
        if (opt.n_best > opt.beam) opt.n_best = opt.beam;
        for (int k = 0; k < st.n; k++) *points += st.len[k];
        TapDecoder *d = decoder_take(s);
        rc = tap_decoder_strokes(d, st.n, st.len, (const double *const *)st.x,
                                 (const double *const *)st.y, &opt, &res, err, sizeof err);
        decoder_give(s, d);
        serve_strokes_free(&st);
    } else {
        return send_error(c, *status = 415, "the body is neither JSON strokes nor InkML");
    }
    if (rc != TAP_API_OK) return send_error(c, *status = status_of(rc), err);
    char *json = serve_result_json(&res);
    tap_result_free(&res);
    if (!json) return send_error(c, *status = 503, "out of memory");
    return send_json(c, *status = 200, json);
}

// ---------------------------------------------------------------------------- the handler

static void log_request(Server *s, const char *method, const char *url, int status, int points,
                        double t0) {
    if (s->o.log) s->o.log(s->o.log_ctx, method, url, status, points, 1e3 * (tap_now_seconds() - t0));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **req_cls) {
    (void)version;
    Server *s = cls;
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_post = !strcmp(method, "POST");
    Request *q = *req_cls;
    if (!q) {
        // First call: the headers are in, the body (if any) is not.
        double t0 = tap_now_seconds();
        int status = 0;
        enum MHD_Result r;
        if (!strcmp(url, "/recognize")) {
            if (!is_post) {
                r = send_error(c, status = 405, "POST a body to /recognize");
            } else {
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
                    char msg[128];
                    snprintf(msg, sizeof msg, "body over %zu bytes", s->o.max_body);
                    r = send_error(c, status = 413, msg);
                } else {
                    if (!(q = calloc(1, sizeof *q))) return MHD_NO;
                    q->t0 = t0;
                    *req_cls = q;
                    return MHD_YES;
                }
            }
        } else if (!is_get) {
            r = send_error(c, status = 405, "only GET here");
        } else if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
            r = send_buffer(c, status = 200, "text/html; charset=utf-8", (void *)serve_page_html,
                            serve_page_html_len, MHD_RESPMEM_PERSISTENT);
        } else if (!strcmp(url, "/health")) {
            r = send_health(s, c), status = 200;
        } else if (!strncmp(url, "/katex/", 7)) {
            r = send_katex(s, c, url + 7), status = 200;
        } else {
            r = send_error(c, status = 404, "unknown path");
        }
        log_request(s, method, url, status, 0, t0);
        return r;
    }
    if (*upload_size) {
        // A piece of the body.
        size_t n = *upload_size;
        *upload_size = 0;
        if (q->too_big) return MHD_YES;
        if (q->len + n > s->o.max_body) {
            q->too_big = 1;
            free(q->body);
            q->body = NULL;
            q->len = q->cap = 0;
            return MHD_YES;
        }
        if (q->len + n + 1 > q->cap) {
            size_t cap = q->cap ? q->cap : 4096;
            while (cap < q->len + n + 1) cap *= 2;
            char *b = realloc(q->body, cap);
            if (!b) return MHD_NO;
            q->body = b, q->cap = cap;
        }
        memcpy(q->body + q->len, upload_data, n);
        q->len += n;
        q->body[q->len] = '\0';
        return MHD_YES;
    }
    // The body is complete.
    int status = 0, points = 0;
    enum MHD_Result r;
    if (q->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "body over %zu bytes", s->o.max_body);
        r = send_error(c, status = 413, msg);
    } else {
        r = recognize(s, c, q, &points, &status);
    }
    log_request(s, method, url, status, points, q->t0);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    Request *q = *req_cls;
    if (q) free(q->body);
    free(q);
    *req_cls = NULL;
}

// ---------------------------------------------------------------------------- start, stop

int serve_start(const TapRecognizer *r, const ServeOptions *o, Server **out, TapError *err) {
    *out = NULL;
    if (!r || !o) return tap_error_set(err, TAP_ERR_ARG, "serve_start: NULL recognizer or options");
    if (o->threads < 1 || o->threads > 256)
        return tap_error_set(err, TAP_ERR_ARG, "threads %d out of range 1..256", o->threads);
    if (o->port < 0 || o->port > 65535)
        return tap_error_set(err, TAP_ERR_ARG, "port %d out of range 0..65535", o->port);
    if (o->timeout < 1 || o->max_clients < 1 || o->max_body < 1 || o->max_points < 1 ||
        o->max_strokes < 1 || o->n_best < 1 || o->n_best > o->beam)
        return tap_error_set(err, TAP_ERR_ARG,
                             "timeout, max clients, max body, max points and max strokes must be "
                             "positive, and 1 <= n_best <= beam");
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    const char *host = o->host ? o->host : "127.0.0.1";
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return tap_error_set(err, TAP_ERR_ARG, "'%s' is not a numeric IPv6 address", host);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return tap_error_set(err, TAP_ERR_ARG, "'%s' is not a numeric IPv4 address", host);
    }
    Server *s = calloc(1, sizeof *s);
    if (!s) return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    s->rec = r;
    s->o = *o;
    s->o.host = host;
    s->n_dec = o->threads;
    s->dec = calloc((size_t)s->n_dec, sizeof *s->dec);
    s->free = calloc((size_t)s->n_dec, sizeof *s->free);
    if (!s->dec || !s->free) {
        serve_stop(s);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->lock_ok = 1;
    for (int i = 0; i < s->n_dec; i++) {
        char msg[256];
        if (tap_decoder_open(r, &s->dec[i], msg, sizeof msg) != TAP_API_OK) {
            serve_stop(s);
            return tap_error_set(err, TAP_ERR_NOMEM, "%s", msg);
        }
        s->free[s->n_free++] = s->dec[i];
    }
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)o->max_clients, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        serve_stop(s);
        return tap_error_set(err, TAP_ERR_IO, "cannot listen on %s port %d: %s", host, o->port,
                             e ? strerror(e) : "libmicrohttpd refused to start");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    return TAP_OK;
}

int serve_port(const Server *s) { return s ? s->port : 0; }

void serve_stop(Server *s) {
    if (!s) return;
    if (s->mhd) MHD_stop_daemon(s->mhd);
    for (int i = 0; s->dec && i < s->n_dec; i++) tap_decoder_close(s->dec[i]);
    free(s->dec);
    free(s->free);
    if (s->lock_ok) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
    }
    free(s);
}
