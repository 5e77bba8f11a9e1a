/*
 * MUL_MAT throughput of the CPU backend's kernels, per weight dtype:
 * GFLOP/s (2 N M K per product) and, for M = 1, GB/s of weights streamed.
 *
 *   bench-matmul [-t threads] [-k K] [-n N] [-m M[,M...]] [-i isa] [-d dtype[,...]] [-s seconds]
 * [-c 1]
 *
 * Defaults: 2 threads, K = N = 4096, M = 1,64, the best ISA of this CPU,
 * every weight dtype, 1 s per case. Reports the best of repeated runs (the
 * least disturbed by other load on the machine).
 */
#include "cpu_detect.h"
#include "cpu_kernels.h"
#include "cpu_ops.h"
#include "plmm_sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -c: time by process CPU time instead of the wall clock (with -t 1 this
 * removes the time other processes take on a busy machine) */
static int use_cpu_time;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *balloc(void *ctx, size_t size, size_t align)
{
    void *p = NULL;
    (void)ctx;
    return posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) == 0 ? p
                                                                                          : NULL;
}

static void bfree(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* plausible random weights: small block scales, random quants */
static void fill_weights(uint32_t t, uint8_t *p, size_t bytes, int64_t k, int64_t n)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rnd();
    const size_t bb = plmm_dtype_block_bytes(t);
    const size_t nblk = (size_t)(k / plmm_dtype_block_elems(t)) * (size_t)n;
    const uint16_t scale = plmm_fp32_to_fp16(0.01f);
    for (size_t b = 0; b < nblk; b++) {
        uint8_t *blk = p + b * bb;
        switch (t) {
        case PLMM_DTYPE_F32:
            for (int j = 0; j < 4; j++)
                blk[j] = 0;
            blk[3] = 0x3c; /* values near 0.01 */
            break;
        case PLMM_DTYPE_F16:
        case PLMM_DTYPE_BF16:
            blk[1] &= 0x3f; /* finite, small */
            break;
        case PLMM_DTYPE_Q8_0:
        case PLMM_DTYPE_Q4_0:
        case PLMM_DTYPE_Q4_K:
            memcpy(blk, &scale, 2);
            if (t == PLMM_DTYPE_Q4_K)
                memcpy(blk + 2, &scale, 2);
            break;
        case PLMM_DTYPE_Q6_K:
            memcpy(blk + 208, &scale, 2);
            break;
        default:
            break;
        }
    }
}

static uint32_t parse_dtype(const char *s)
{
    static const uint32_t all[] = {PLMM_DTYPE_F32,  PLMM_DTYPE_F16,  PLMM_DTYPE_BF16,
                                   PLMM_DTYPE_Q8_0, PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K,
                                   PLMM_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcasecmp(s, plmm_dtype_name(all[i])) == 0)
            return all[i];
    return PLMM_DTYPE_COUNT;
}

int main(int argc, char **argv)
{
    int threads = 2;
    int64_t K = 4096, N = 4096;
    int64_t ms[16] = {1, 64};
    int n_ms = 2;
    double secs = 1.0;
    cpu_isa isa = cpu_isa_best(cpu_detect_features());
    uint32_t dtypes[16] = {PLMM_DTYPE_F32,  PLMM_DTYPE_F16,  PLMM_DTYPE_BF16, PLMM_DTYPE_Q8_0,
                           PLMM_DTYPE_Q4_0, PLMM_DTYPE_Q4_K, PLMM_DTYPE_Q6_K};
    int n_dt = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "-t") == 0) {
            threads = atoi(v);
        } else if (strcmp(o, "-k") == 0) {
            K = atoll(v);
        } else if (strcmp(o, "-n") == 0) {
            N = atoll(v);
        } else if (strcmp(o, "-c") == 0) {
            use_cpu_time = atoi(v);
        } else if (strcmp(o, "-s") == 0) {
            secs = atof(v);
        } else if (strcmp(o, "-m") == 0) {
            n_ms = 0;
            for (char *tok = strtok((char *)v, ","); tok != NULL && n_ms < 16;
                 tok = strtok(NULL, ","))
                ms[n_ms++] = atoll(tok);
        } else if (strcmp(o, "-d") == 0) {
            n_dt = 0;
            for (char *tok = strtok((char *)v, ","); tok != NULL && n_dt < 16;
                 tok = strtok(NULL, ",")) {
                uint32_t t = parse_dtype(tok);
                if (t == PLMM_DTYPE_COUNT) {
                    fprintf(stderr, "unknown dtype '%s'\n", tok);
                    return 2;
                }
                dtypes[n_dt++] = t;
            }
        } else if (strcmp(o, "-i") == 0) {
            int found = 0;
            for (int j = 0; j < CPU_ISA_COUNT; j++)
                if (strcmp(v, cpu_isa_name((cpu_isa)j)) == 0) {
                    isa = (cpu_isa)j;
                    found = 1;
                }
            if (!found) {
                fprintf(stderr, "unknown isa '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s [-t threads] [-k K] [-n N] [-m M,...] [-i isa] [-d dtype,...] [-s "
                    "seconds] [-c 1]\n",
                    argv[0]);
            return 2;
        }
    }
    if (threads < 1 || K < 256 || K % 256 != 0 || N < 1) {
        fprintf(stderr, "need threads >= 1, K a multiple of 256, N >= 1\n");
        return 2;
    }
    cpu_kern kern;
    if (!cpu_kern_init(&kern, isa)) {
        fprintf(stderr, "isa %s not built\n", cpu_isa_name(isa));
        return 2;
    }
    cpu_pool *pool = NULL;
    if (threads > 1 && cpu_pool_create(threads, balloc, bfree, NULL, &pool) != PLMM_OK)
        return 2;
    cpu_runner runner;
    cpu_runner_init(&runner, &kern, pool, balloc, bfree, NULL);
    printf("isa %s, %d threads, K=%lld N=%lld\n", cpu_isa_name(isa), threads, (long long)K,
           (long long)N);
    printf("%-6s %5s %10s %10s %10s\n", "dtype", "M", "ms/run", "GFLOP/s", "GB/s(W)");
    int64_t mmax = 1;
    for (int i = 0; i < n_ms; i++)
        mmax = ms[i] > mmax ? ms[i] : mmax;
    float *x = balloc(NULL, (size_t)(K * mmax) * sizeof(float), 64);
    float *y = balloc(NULL, (size_t)(N * mmax) * sizeof(float), 64);
    for (int64_t i = 0; i < K * mmax; i++)
        x[i] = (float)((double)(rnd() >> 11) * 0x1p-53 - 0.5);
    for (int di = 0; di < n_dt; di++) {
        const uint32_t t = dtypes[di];
        const size_t wbytes = (size_t)plmm_dtype_row_bytes(t, K) * (size_t)N;
        uint8_t *w = balloc(NULL, wbytes, 64);
        fill_weights(t, w, wbytes, K, N);
        for (int mi = 0; mi < n_ms; mi++) {
            const int64_t M = ms[mi];
            plmm_tensor tw = {.dtype = t, .ne = {K, N, 1, 1}, .data = w};
            plmm_tensor tx = {.dtype = PLMM_DTYPE_F32, .ne = {K, M, 1, 1}, .data = x};
            plmm_tensor ty = {.dtype = PLMM_DTYPE_F32, .ne = {N, M, 1, 1}, .data = y};
            plmm_tensor_set_dense_strides(&tw);
            plmm_tensor_set_dense_strides(&tx);
            plmm_tensor_set_dense_strides(&ty);
            plmm_node nd = {.op = PLMM_OP_MUL_MAT, .dst = &ty, .src = {&tw, &tx}};
            cpu_task task = {
                .node = &nd, .dst = (char *)y, .src = {(const char *)w, (const char *)x}};
            char msg[256];
            if (cpu_node_check(&nd, msg, sizeof(msg)) != PLMM_OK) {
                fprintf(stderr, "%s\n", msg);
                return 1;
            }
            double best = 1e30, start = now_s();
            int runs = 0;
            while (runs < 3 || now_s() - start < secs) {
                double t0 = now_s();
                if (cpu_runner_run(&runner, &task, 1, msg, sizeof(msg)) != PLMM_OK) {
                    fprintf(stderr, "%s\n", msg);
                    return 1;
                }
                double dt = now_s() - t0;
                best = dt < best ? dt : best;
                runs++;
            }
            const double gflops = 2.0 * (double)N * (double)M * (double)K / best * 1e-9;
            printf("%-6s %5lld %10.3f %10.1f %10.2f\n", plmm_dtype_name(t), (long long)M,
                   best * 1e3, gflops, (double)wbytes / best * 1e-9);
            fflush(stdout);
        }
        free(w);
    }
    free(x);
    free(y);
    cpu_runner_release(&runner);
    cpu_pool_destroy(pool);
    return 0;
}
