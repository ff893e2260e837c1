// Bump arena of floats: one block allocated up front, carved into buffers per batch and
// reset afterwards, so nothing is malloc'd inside a training or decoding step.
#ifndef TAP_ARENA_H
#define TAP_ARENA_H

#include <stddef.h>

typedef struct {
    float *base;
    size_t cap;  // floats
    size_t used; // floats
    size_t peak; // high-water mark, for sizing
} TapArena;

int arena_init(TapArena *a, size_t n_floats); // TAP_OK or TAP_ERR_NOMEM
// Returns n floats aligned to 64 bytes, or NULL when the arena is exhausted (never aborts).
float *arena_alloc(TapArena *a, size_t n);
// Same, zero-filled.
float *arena_calloc(TapArena *a, size_t n);
void arena_reset(TapArena *a);
void arena_free(TapArena *a);

#endif
