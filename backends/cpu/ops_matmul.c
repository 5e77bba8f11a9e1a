/*
 * MUL_MAT driver: W (K, N) x X (K, M) -> Y (N, M), batched over dims 2, 3
 * (W broadcast when its batch dims are smaller).
 *
 * 1. Every activation row is converted once to the weight's vec-dot format
 *    (Q8_0 / Q8_K blocks, f16- or bf16-rounded floats) into shared scratch;
 *    F32 weights read X in place.
 * 2. The output is cut into chunks of RB weight rows x CB activation rows,
 *    handed out dynamically; inside a chunk the kernel's tile (up to
 *    max_nr x max_nc) walks the columns for each group of weight rows, so a
 *    group stays in L1 while the activations stream from L2.
 */
#include "cpu_ops.h"

#define ROW_ALIGN 64
#define MAX_RB 64 /* weight rows per chunk when M > 1 (L2 working set) */
#define MAX_CB 64 /* activation rows per chunk */
#define CHUNKS_PER_THREAD 4

static size_t padded_row_bytes(const plmm_tensor *w, int64_t k)
{
    size_t b = cpu_vec_dot_row_bytes(w->dtype, k);
    return (b + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
}

static bool reads_x_in_place(const plmm_tensor *w)
{
    return w->dtype == PLMM_DTYPE_F32;
}

size_t cpu_mul_mat_scratch(const cpu_task *t)
{
    const plmm_tensor *w = t->node->src[0], *x = t->node->src[1];
    if (reads_x_in_place(w))
        return 0;
    size_t rows = (size_t)x->ne[1], bytes;
    if (__builtin_mul_overflow(rows, (size_t)x->ne[2], &rows) ||
        __builtin_mul_overflow(rows, (size_t)x->ne[3], &rows) ||
        __builtin_mul_overflow(rows, padded_row_bytes(w, x->ne[0]), &bytes))
        return SIZE_MAX;
    return bytes;
}

void cpu_op_mul_mat(const cpu_exec *e, const cpu_task *t)
{
    const plmm_node *nd = t->node;
    const plmm_tensor *w = nd->src[0], *x = nd->src[1], *d = nd->dst;
    const int64_t K = x->ne[0], N = w->ne[1], M = x->ne[1];
    const int64_t nb2 = x->ne[2], nb3 = x->ne[3];
    const int64_t n_batch = nb2 * nb3;
    const cpu_gemm *g = &e->k->gemm[w->dtype];
    const bool in_place = reads_x_in_place(w);
    const size_t xrow = in_place ? 0 : padded_row_bytes(w, K);

    /* 1. activations -> vec-dot format */
    if (!in_place) {
        int64_t r0, r1;
        cpu_split(M * n_batch, e->ith, e->nth, &r0, &r1);
        for (int64_t r = r0; r < r1; r++) {
            const int64_t m = r % M, b2 = (r / M) % nb2, b3 = r / (M * nb2);
            const float *src = (const float *)(t->src[1] + (uint64_t)m * x->nb[1] +
                                               (uint64_t)b2 * x->nb[2] + (uint64_t)b3 * x->nb[3]);
            cpu_vec_dot_convert(e->k, w->dtype, src, e->scratch + (size_t)r * xrow, K);
        }
        cpu_pool_barrier(e->r->pool);
    }

    /* 2. chunked tiles */
    int nr = M == 1 ? g->m1_nr : g->max_nr;
    if (g->group_nr != 0 && N % g->group_nr != 0)
        nr = M == 1 ? 1 : 4;
    const int nc = g->max_nc;
    int64_t rb;
    if (M > 1) {
        rb = MAX_RB;
    } else {
        const int64_t target = (int64_t)e->nth * CHUNKS_PER_THREAD;
        rb = (N * n_batch + target - 1) / target;
    }
    rb = (rb + nr - 1) / nr * nr;
    const int64_t cb = M < MAX_CB ? M : MAX_CB;
    const int64_t n_rb = (N + rb - 1) / rb, n_cb = (M + cb - 1) / cb;
    const int64_t n_chunks = n_batch * n_rb * n_cb;
    const size_t ys = (size_t)(d->nb[1] / sizeof(float));
    const int64_t rw2 = nb2 / w->ne[2], rw3 = nb3 / w->ne[3];

    for (;;) {
        const int64_t c = atomic_fetch_add_explicit(e->chunk, 1, memory_order_relaxed);
        if (c >= n_chunks)
            break;
        const int64_t ib = c / (n_rb * n_cb), ir = (c / n_cb) % n_rb, ic = c % n_cb;
        const int64_t b2 = ib % nb2, b3 = ib / nb2;
        const char *wbase =
            t->src[0] + (uint64_t)(b2 / rw2) * w->nb[2] + (uint64_t)(b3 / rw3) * w->nb[3];
        const char *xbase;
        size_t xb;
        if (in_place) {
            xbase = t->src[1] + (uint64_t)b2 * x->nb[2] + (uint64_t)b3 * x->nb[3];
            xb = (size_t)x->nb[1];
        } else {
            xbase = e->scratch + (size_t)ib * (size_t)M * xrow;
            xb = xrow;
        }
        char *ybase = t->dst + (uint64_t)b2 * d->nb[2] + (uint64_t)b3 * d->nb[3];
        const int64_t n0 = ir * rb, n1 = n0 + rb < N ? n0 + rb : N;
        const int64_t m0 = ic * cb, m1 = m0 + cb < M ? m0 + cb : M;
        for (int64_t n = n0; n < n1; n += nr) {
            const int tr = (int)(n1 - n < nr ? n1 - n : nr);
            const char *wp = wbase + (uint64_t)n * w->nb[1];
            for (int64_t m = m0; m < m1; m += nc) {
                const int tc = (int)(m1 - m < nc ? m1 - m : nc);
                g->fn(K, wp, (size_t)w->nb[1], xbase + (size_t)m * xb, xb,
                      (float *)(ybase + (uint64_t)m * d->nb[1]) + n, ys, tr, tc);
            }
        }
    }
}
