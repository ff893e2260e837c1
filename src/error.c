#include "error.h"

#include <stdarg.h>
#include <string.h>

int tap_error_set(TapError *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int tap_error_prefix(TapError *err, const char *fmt, ...) {
    if (!err) return 0;
    char out[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    size_t used = strlen(out), room = sizeof out - 1 - used;
    const char *tail[2] = {": ", err->msg};
    for (int i = 0; i < 2 && room > 0; i++) {
        size_t n = strlen(tail[i]);
        if (n > room) n = room;
        memcpy(out + used, tail[i], n);
        used += n;
        room -= n;
    }
    out[used] = '\0';
    memcpy(err->msg, out, used + 1);
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
