// Status codes and the caller-owned error message every library call that touches the
// outside world (files, parsing, allocation, dims read from files) fills on failure.
// The library never prints and never exits on bad input; tools print err.msg.
#ifndef TAP_ERROR_H
#define TAP_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum {
    TAP_OK = 0,
    TAP_ERR_IO = -1,       // a file could not be opened, read or written
    TAP_ERR_FORMAT = -2,   // the content is malformed
    TAP_ERR_NOMEM = -3,    // an allocation failed
    TAP_ERR_ARG = -4,      // an argument or a value read from a file is out of range
    TAP_ERR_NUMERIC = -5,  // a NaN or infinity where a finite number is needed
} TapStatus;

typedef struct TapError {
    int code;
    char msg[512];
} TapError;

// Sets err (if not NULL) to code and a printf-formatted message; returns code. A message longer
// than msg keeps its first third and its end, joined by "...": the reason (last) survives a
// long path (first).
int tap_error_set(TapError *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Prepends "prefix: " to an existing message (for adding a file name or a context).
int tap_error_prefix(TapError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_error_clear(TapError *err);
const char *tap_status_str(int code);

// Programmer errors only (a wrong shape passed by our own code): always on, never for input.
#define TAP_ASSERT(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif
