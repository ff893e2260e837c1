#include "beam_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

struct BeamPool {
    const BeamSpec *spec;
    BeamWork work;
    void *ctx;
    int n_items, next, stop, live; // live: threads whose decoder was built and still run
    unsigned char *done;           // (n_items) 1 once the item has run
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n_threads;
    pthread_t tid[256];
    int failed;
    TapError err; // the first decoder set-up failure
};

static void *pool_thread(void *arg) {
    BeamPool *p = arg;
    BeamDecoder d;
    TapError err = {0};
    const BeamSpec *s = p->spec;
    int ok = beam_init_ensemble(&d, s->n_models, s->cfgs, s->tables, s->ws, s->beam, s->max_len,
                                &err) == TAP_OK;
    pthread_mutex_lock(&p->mu);
    if (!ok) {
        if (!p->failed) p->failed = 1, p->err = err;
        // Without any decoder the remaining items never run: wake the waiters.
        if (--p->live == 0) pthread_cond_broadcast(&p->cv);
    }
    while (ok) {
        int i = p->stop ? p->n_items : p->next++;
        if (i >= p->n_items) break;
        pthread_mutex_unlock(&p->mu);
        p->work(p->ctx, &d, i);
        pthread_mutex_lock(&p->mu);
        p->done[i] = 1;
        pthread_cond_broadcast(&p->cv);
    }
    if (ok && --p->live == 0) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (ok) beam_free(&d);
    return NULL;
}

int beam_pool_start(BeamPool **pool, const BeamSpec *spec, int threads, int n_items,
                    BeamWork work, void *ctx, TapError *err) {
    *pool = NULL;
    if (threads < 1 || threads > 256)
        return tap_error_set(err, TAP_ERR_ARG, "%d decoding threads; 1..256", threads);
    if (n_items < 0) return tap_error_set(err, TAP_ERR_ARG, "a negative number of items");
    BeamPool *p = calloc(1, sizeof *p);
    if (!p || !(p->done = calloc((size_t)n_items + 1, 1))) {
        free(p);
        return tap_error_set(err, TAP_ERR_NOMEM, "out of memory");
    }
    p->spec = spec, p->work = work, p->ctx = ctx, p->n_items = n_items;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int want = threads < n_items ? threads : (n_items > 0 ? n_items : 1);
    pthread_mutex_lock(&p->mu); // threads count themselves out under the lock
    for (; p->n_threads < want; p->n_threads++, p->live++)
        if (pthread_create(&p->tid[p->n_threads], NULL, pool_thread, p) != 0) break;
    pthread_mutex_unlock(&p->mu);
    if (p->n_threads == 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->done), free(p);
        return tap_error_set(err, TAP_ERR_NOMEM, "cannot start a decoding thread");
    }
    *pool = p;
    return TAP_OK;
}

int beam_pool_wait(BeamPool *p, int i) {
    pthread_mutex_lock(&p->mu);
    // An item not yet handed out never runs once the pool is stopped or has no thread left.
    while (!p->done[i] && !((p->stop || p->live == 0) && i >= p->next))
        pthread_cond_wait(&p->cv, &p->mu);
    int ran = p->done[i];
    pthread_mutex_unlock(&p->mu);
    return ran;
}

void beam_pool_stop(BeamPool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int beam_pool_finish(BeamPool *p, TapError *err) {
    for (int t = 0; t < p->n_threads; t++) pthread_join(p->tid[t], NULL);
    int rc = TAP_OK;
    if (p->failed) {
        *err = p->err;
        rc = p->err.code ? p->err.code : TAP_ERR_ARG;
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->done), free(p);
    return rc;
}
