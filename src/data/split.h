// A seeded, order-independent hold-out rule for making a validation set out of training data.
// Expressions are grouped by writer (the InkML <annotation type="writer">, blanks trimmed) where
// the file names one, else each expression is its own group, so no writer of the held-out part
// also writes in the rest. A group is held out when a 64-bit hash of (seed, key) falls in the
// first `percent` of the hash range (README: "Selection without the test set").
#ifndef TAP_DATA_SPLIT_H
#define TAP_DATA_SPLIT_H

#include <stdint.h>

// The group key of an expression: "writer:NAME" or "uid:UID", written into out (truncated to len).
void split_group_key(const char *uid, const char *writer, char *out, int len);
// Position of a key in [0, 1): splitmix64(fnv1a64(key) ^ seed) >> 11 times 2^-53.
double split_position(const char *key, uint64_t seed);
// 1 when the expression belongs to the held-out part of `percent` (0..100) percent.
int split_held_out(const char *uid, const char *writer, double percent, uint64_t seed);

#endif
