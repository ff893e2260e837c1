// Two jobs on the machine's two cores. Layers split their own work into two independent halves
// (the directions of a bidirectional layer, the two halves of a batch in the decoder's time
// loop) rather than threading many tiny GEMMs: OpenBLAS drops to one thread while the halves
// run, since two threaded GEMM calls would fight over two cores.
#ifndef TAP_MODEL_PARALLEL_H
#define TAP_MODEL_PARALLEL_H

// Runs fn(a) and fn(b): concurrently when threads >= 2 (b on a new thread), else in turn.
// The jobs must write disjoint memory. Falls back to running them in turn when no thread can
// be started, so the result never depends on whether it could.
void parallel_pair(void (*fn)(void *), void *a, void *b, int threads);

#endif
