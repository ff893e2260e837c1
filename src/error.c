#include "error.h"

#include <stdarg.h>
#include <string.h>

// Copies a message of len bytes into msg (cap bytes). One that does not fit keeps its start and
// its end with "..." between: paths come first and reasons last, so a long path never hides why.
static void put_message(char *msg, size_t cap, const char *s, size_t len) {
    if (len < cap) {
        memcpy(msg, s, len + 1);
        return;
    }
    size_t head = (cap - 4) / 3, tail = cap - 4 - head;
    memcpy(msg, s, head);
    memcpy(msg + head, "...", 3);
    memcpy(msg + head + 3, s + len - tail, tail);
    msg[cap - 1] = '\0';
}

static void set_message(TapError *err, const char *fmt, va_list ap) {
    char local[2048];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(local, sizeof local, fmt, ap);
    if (n < 0) {
        err->msg[0] = '\0';
    } else if ((size_t)n < sizeof local) {
        put_message(err->msg, sizeof err->msg, local, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big && vsnprintf(big, (size_t)n + 1, fmt, ap2) == n)
            put_message(err->msg, sizeof err->msg, big, (size_t)n);
        else
            put_message(err->msg, sizeof err->msg, local, sizeof local - 1);
        free(big);
    }
    va_end(ap2);
}

int tap_error_set(TapError *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        set_message(err, fmt, ap);
        va_end(ap);
    }
    return code;
}

int tap_error_prefix(TapError *err, const char *fmt, ...) {
    if (!err) return 0;
    char pre[sizeof err->msg], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    tap_error_set(err, err->code, "%s: %s", pre, old);
    return err->code;
}

void tap_error_clear(TapError *err) {
    if (err) {
        err->code = TAP_OK;
        err->msg[0] = '\0';
    }
}

const char *tap_status_str(int code) {
    switch (code) {
    case TAP_OK: return "ok";
    case TAP_ERR_IO: return "i/o error";
    case TAP_ERR_FORMAT: return "format error";
    case TAP_ERR_NOMEM: return "out of memory";
    case TAP_ERR_ARG: return "bad argument";
    case TAP_ERR_NUMERIC: return "non-finite number";
    default: return "unknown error";
    }
}
