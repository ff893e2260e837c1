#include "parallel.h"

#include <cblas.h>
#include <pthread.h>

typedef struct {
    void (*fn)(void *);
    void *arg;
} PairJob;

static void *pair_main(void *arg) {
    PairJob *j = arg;
    j->fn(j->arg);
    return NULL;
}

void parallel_pair(void (*fn)(void *), void *a, void *b, int threads) {
    if (threads < 2) {
        fn(a);
        fn(b);
        return;
    }
    const int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    PairJob jb = {fn, b};
    pthread_t tid;
    int started = pthread_create(&tid, NULL, pair_main, &jb) == 0;
    fn(a);
    if (started)
        pthread_join(tid, NULL);
    else
        fn(b); // no thread to be had: same work, in turn
    openblas_set_num_threads(blas);
}
