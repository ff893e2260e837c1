// Private to decoder.c and decoder_backward.c: carving buffers and the batch blocks of the
// decoder's time loop.
#ifndef TAP_MODEL_DECODER_BLOCKS_H
#define TAP_MODEL_DECODER_BLOCKS_H

#include <stddef.h>

#include "config.h"

// Carves n floats off *mem.
static inline float *take(float **mem, size_t n) {
    float *p = *mem;
    *mem += n;
    return p;
}

static inline int gate_dim(const TapConfig *cfg) {
    return cfg->gate ? config_context_dim(cfg) : 0;
}

// The time loop's rows are independent, so it runs in two blocks of the batch (halves), on two
// threads when cfg->threads >= 2 and in turn otherwise. The blocks are the same whatever the
// thread count, so the result is too (bit for bit); in turn they cost what one block of the
// whole batch did (decoder forward 0.053 s, backward 0.092 s either way at TAP's size, B = 8).
// Each block keeps the (S, n, C) attention layout within its step (att and de of step t hold
// block 0's rows, then block 1's), so that every per-step view is a contiguous slice.
static inline int block_count(int B) { return B >= 2 ? 2 : 1; }

static inline void block_rows(int B, int blocks, int k, int *b0, int *nb) {
    const int half = blocks == 1 ? B : (B + 1) / 2;
    *b0 = k ? half : 0;
    *nb = k ? B - half : half;
}

#endif
