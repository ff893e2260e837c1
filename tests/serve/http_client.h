// A small HTTP/1.1 client on plain sockets for the serve tests: one request per connection
// (Connection: close), read to the end with a deadline, so that a stalled server fails the test
// instead of hanging it. Also base64 decoding (WebDriver screenshots).
#ifndef TAP_TESTS_HTTP_CLIENT_H
#define TAP_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int status;   // HTTP status, 0 when there was no answer
    char *raw;    // the whole answer, NUL-terminated
    size_t len;
    char *body;   // into raw
    size_t body_len;
    double seconds;
} HcResponse;

static inline double hc_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline void hc_sleep(double s) {
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

// A connected socket to 127.0.0.1:port, or -1.
static inline int hc_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int hc_send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

// Reads until the peer closes or timeout seconds pass; returns bytes read, -1 on timeout.
static inline long hc_read_all(int fd, char **out, double timeout) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    double end = hc_now() + timeout;
    for (;;) {
        double left = end - hc_now();
        if (left <= 0) {
            buf[len] = '\0';
            *out = buf;
            return -1;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        if (len == cap) buf = realloc(buf, (cap *= 2) + 1);
        ssize_t k = recv(fd, buf + len, cap - len, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break; // closed (or reset)
        len += (size_t)k;
        // A complete answer with a Content-Length ends here, even if the peer keeps the
        // connection open (chromedriver does).
        buf[len] = '\0';
        char *e = strstr(buf, "\r\n\r\n");
        if (e) {
            const char *cl = NULL;
            for (char *q = buf; q && q < e; q = strstr(q, "\r\n"), q = q ? q + 2 : NULL)
                if (!strncasecmp(q, "Content-Length:", 15)) cl = q + 15;
            if (cl && len >= (size_t)(e + 4 - buf) + strtoull(cl, NULL, 10)) break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    return (long)len;
}

static inline void hc_parse(HcResponse *r) {
    r->status = 0;
    r->body = r->raw + r->len;
    r->body_len = 0;
    if (r->len >= 12 && !strncmp(r->raw, "HTTP/1.", 7)) r->status = atoi(r->raw + 9);
    char *e = strstr(r->raw, "\r\n\r\n");
    if (e) {
        r->body = e + 4;
        r->body_len = r->len - (size_t)(r->body - r->raw);
    }
}

// Sends raw bytes as one request and reads the answer.
static inline HcResponse hc_raw(int port, const char *req, size_t len, double timeout) {
    HcResponse r = {0};
    double t0 = hc_now();
    int fd = hc_connect(port);
    if (fd < 0) {
        r.raw = calloc(1, 1);
        return r;
    }
    hc_send_all(fd, req, len);
    long n = hc_read_all(fd, &r.raw, timeout);
    close(fd);
    r.len = n > 0 ? (size_t)n : strlen(r.raw);
    hc_parse(&r);
    r.seconds = hc_now() - t0;
    return r;
}

static inline HcResponse hc_request_within(int port, const char *method, const char *path,
                                           const char *type, const char *body, size_t body_len,
                                           double timeout) {
    size_t cap = body_len + 512;
    char *req = malloc(cap);
    int h = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     method, path, port, type ? type : "application/json", body_len);
    if (body_len) memcpy(req + h, body, body_len);
    HcResponse r = hc_raw(port, req, (size_t)h + body_len, timeout);
    free(req);
    return r;
}

static inline HcResponse hc_request(int port, const char *method, const char *path,
                                    const char *type, const char *body, size_t body_len) {
    return hc_request_within(port, method, path, type, body, body_len, 60);
}

static inline HcResponse hc_get(int port, const char *path) {
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
                     port);
    return hc_raw(port, req, (size_t)n, 60);
}

static inline HcResponse hc_post(int port, const char *path, const char *body, size_t len) {
    return hc_request(port, "POST", path, "application/json", body, len);
}

static inline void hc_free(HcResponse *r) {
    free(r->raw);
    memset(r, 0, sizeof *r);
}

// Decodes base64 (RFC 4648, padding optional); returns the byte count.
static inline size_t hc_base64_decode(const char *in, unsigned char *out) {
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p; p++) {
        int v;
        char c = *p;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    return n;
}

#endif
