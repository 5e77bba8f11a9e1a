/*
 * Thread pool of the CPU backend: n - 1 worker threads plus the calling
 * thread run one job at a time; a job may synchronise its threads with
 * cpu_pool_barrier. Workers spin briefly between jobs (decode issues many
 * small jobs) and then sleep on a condition variable.
 */
#ifndef PLMM_CPU_THREADS_H
#define PLMM_CPU_THREADS_H

#include "plmm/types.h"

typedef struct cpu_pool cpu_pool;

/* fn runs once on every thread: ith in [0, nth), ith 0 is the caller. */
typedef void (*cpu_job_fn)(void *arg, int ith, int nth);

/* Start n - 1 workers (n >= 1). alloc/free: the host allocator. */
PLMM_NODISCARD plmm_status cpu_pool_create(int n, void *(*alloc)(void *, size_t, size_t),
                                           void (*free_fn)(void *, void *), void *alloc_ctx,
                                           cpu_pool **out);
/* Join the workers and free the pool; NULL is ignored. */
void cpu_pool_destroy(cpu_pool *pool);
int cpu_pool_size(const cpu_pool *pool);
/* Run fn on all threads and return when every thread has finished. */
void cpu_pool_run(cpu_pool *pool, cpu_job_fn fn, void *arg);
/* Wait until all nth threads of the running job reach the barrier.
 * pool may be NULL (single thread: returns at once). */
void cpu_pool_barrier(cpu_pool *pool);

#endif /* PLMM_CPU_THREADS_H */
