#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

#define ARENA_ALIGN_FLOATS 16 // 64 bytes

int arena_init(TapArena *a, size_t n_floats) {
    memset(a, 0, sizeof *a);
    size_t bytes = (n_floats * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    a->base = aligned_alloc(64, bytes);
    if (!a->base) return TAP_ERR_NOMEM;
    a->cap = bytes / sizeof(float);
    return TAP_OK;
}

float *arena_alloc(TapArena *a, size_t n) {
    size_t start = (a->used + ARENA_ALIGN_FLOATS - 1) / ARENA_ALIGN_FLOATS * ARENA_ALIGN_FLOATS;
    if (start > a->cap || n > a->cap - start) return NULL;
    a->used = start + n;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + start;
}

float *arena_calloc(TapArena *a, size_t n) {
    float *p = arena_alloc(a, n);
    if (p) memset(p, 0, n * sizeof *p);
    return p;
}

void arena_reset(TapArena *a) { a->used = 0; }

void arena_free(TapArena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}
