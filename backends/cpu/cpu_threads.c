#include "cpu_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Busy-wait rounds before a waiting thread yields (barrier) or sleeps (between jobs). */
#define SPIN_BEFORE_YIELD 2000
#define SPIN_BEFORE_SLEEP 50000

typedef struct worker {
    cpu_pool *pool;
    int ith;
} worker;

struct cpu_pool {
    int n;
    int n_started; /* workers actually running */
    pthread_t *threads;
    worker *workers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;    /* bumped for every job (and for stop) */
    atomic_int pending; /* workers still in the current job */
    atomic_bool stop;
    cpu_job_fn fn;
    void *arg;
    atomic_int bar_count;
    atomic_uint bar_phase;
    void *(*alloc)(void *, size_t, size_t);
    void (*free_fn)(void *, void *);
    void *alloc_ctx;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    cpu_pool *p = wk->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_BEFORE_SLEEP) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            break;
        p->fn(p->arg, wk->ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

static void pool_stop(cpu_pool *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, true, memory_order_release);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
}

plmm_status cpu_pool_create(int n, void *(*alloc)(void *, size_t, size_t),
                            void (*free_fn)(void *, void *), void *alloc_ctx, cpu_pool **out)
{
    if (n < 1 || n > 4096)
        return PLMM_ERR_INVALID_ARG;
    cpu_pool *p = alloc(alloc_ctx, sizeof(*p), _Alignof(cpu_pool));
    if (p == NULL)
        return PLMM_ERR_NOMEM;
    *p = (cpu_pool){.n = n, .alloc = alloc, .free_fn = free_fn, .alloc_ctx = alloc_ctx};
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->bar_count, 0);
    atomic_init(&p->bar_phase, 0);
    plmm_status st = PLMM_ERR_NOMEM;
    if (n > 1) {
        p->threads = alloc(alloc_ctx, sizeof(*p->threads) * (size_t)(n - 1), _Alignof(pthread_t));
        p->workers = alloc(alloc_ctx, sizeof(*p->workers) * (size_t)(n - 1), _Alignof(worker));
        if (p->threads == NULL || p->workers == NULL)
            goto out_free;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        st = PLMM_ERR_BACKEND;
        goto out_free;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        st = PLMM_ERR_BACKEND;
        goto out_mutex;
    }
    for (int i = 0; i < n - 1; i++) {
        p->workers[i] = (worker){.pool = p, .ith = i + 1};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
            st = PLMM_ERR_BACKEND;
            goto out_threads;
        }
        p->n_started++;
    }
    *out = p;
    return PLMM_OK;

out_threads:
    pool_stop(p);
    pthread_cond_destroy(&p->cv);
out_mutex:
    pthread_mutex_destroy(&p->mu);
out_free:
    free_fn(alloc_ctx, p->workers);
    free_fn(alloc_ctx, p->threads);
    free_fn(alloc_ctx, p);
    return st;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (p == NULL)
        return;
    pool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    p->free_fn(p->alloc_ctx, p->workers);
    p->free_fn(p->alloc_ctx, p->threads);
    p->free_fn(p->alloc_ctx, p);
}

int cpu_pool_size(const cpu_pool *p)
{
    return p != NULL ? p->n : 1;
}

void cpu_pool_run(cpu_pool *p, cpu_job_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        if (++spins < SPIN_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}

void cpu_pool_barrier(cpu_pool *p)
{
    if (p == NULL || p->n == 1)
        return;
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) {
        if (++spins < SPIN_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}
