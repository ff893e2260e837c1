// parallel_pair: both jobs run, on two threads or in turn, and OpenBLAS gets its caller's thread
// count back.
#include <cblas.h>
#include <criterion/criterion.h>
#include <pthread.h>

#include "parallel.h"

typedef struct {
    int ran, blas_inside;
    pthread_t self;
} Job;

static void job_run(void *arg) {
    Job *j = arg;
    j->ran++;
    j->blas_inside = openblas_get_num_threads();
    j->self = pthread_self();
}

Test(parallel, one_thread_runs_both_jobs_in_turn_on_the_caller) {
    Job a = {0}, b = {0};
    parallel_pair(job_run, &a, &b, 1);
    cr_assert(a.ran == 1 && b.ran == 1);
    cr_assert(pthread_equal(a.self, pthread_self()) && pthread_equal(b.self, pthread_self()));
}

Test(parallel, two_threads_run_the_second_job_elsewhere_with_blas_at_one_thread) {
    openblas_set_num_threads(2);
    const int caller = openblas_get_num_threads(); // 2, or fewer where OpenBLAS caps it
    Job a = {0}, b = {0};
    parallel_pair(job_run, &a, &b, 2);
    cr_assert(a.ran == 1 && b.ran == 1);
    cr_assert(pthread_equal(a.self, pthread_self()));
    cr_assert(!pthread_equal(b.self, pthread_self()), "the second job ran on the caller");
    cr_assert_eq(a.blas_inside, 1, "two threaded GEMMs would fight over two cores");
    cr_assert_eq(openblas_get_num_threads(), caller, "the caller's OpenBLAS threads are restored");
}
