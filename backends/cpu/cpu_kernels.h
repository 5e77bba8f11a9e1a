/*
 * CPU kernel table: every numeric routine the CPU backend's ops use, filled
 * once per context for one instruction set. The scalar functions in
 * kernels_generic.c are the reference; the SIMD tables (arch/x86, arch/arm)
 * start from them and replace the hot paths.
 */
#ifndef PLMM_CPU_KERNELS_H
#define PLMM_CPU_KERNELS_H

#include "cpu_blocks.h"
#include "plmm/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Instruction sets a kernel table can be built for. */
typedef enum cpu_isa {
    CPU_ISA_SCALAR = 0,
    CPU_ISA_AVX2,         /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512,       /* AVX-512 F/BW/VL on top of AVX2 */
    CPU_ISA_NEON,         /* AArch64 Advanced SIMD */
    CPU_ISA_NEON_DOTPROD, /* NEON + SDOT (ARMv8.2 dotprod) */
    CPU_ISA_COUNT
} cpu_isa;

/*
 * Tile kernel of MUL_MAT: for r < nr, c < nc
 *     y[c * ys + r] = dot(W row r, X row c)
 * where W row r starts at (const char *)w + r * wb (k elements of the weight
 * dtype) and X row c at (const char *)x + c * xb in the weight's vec-dot
 * format (cpu_vec_dot_type). nr <= max_nr, nc <= max_nc of the entry.
 */
typedef void (*cpu_gemm_fn)(int64_t k, const void *w, size_t wb, const void *x, size_t xb, float *y,
                            size_t ys, int nr, int nc);

typedef struct cpu_gemm {
    cpu_gemm_fn fn; /* NULL: dtype not supported as a weight */
    int max_nr;
    int max_nc;
    int m1_nr; /* weight rows per call when there is one activation row (decode) */
    /* nonzero: rows come in groups of group_nr (an 8-row kernel) only when
     * N % group_nr == 0, as the reference runtime interleaves such matrices
     * only; otherwise at most 4 rows per call (1 for decode), whose numerics
     * are those of its plain layout */
    int group_nr;
} cpu_gemm;

typedef struct cpu_kern {
    cpu_isa isa;
    const char *name; /* "scalar", "avx2", ... */

    /* ---- MUL_MAT ---- */
    cpu_gemm gemm[PLMM_DTYPE_COUNT];
    /* x (k) -> k/32 Q8_0 blocks; k % 32 == 0 */
    void (*quant_q8_0)(const float *x, block_q8_0 *y, int64_t k);
    /* x (k) -> k/256 Q8_K blocks; k % 256 == 0 */
    void (*quant_q8_k)(const float *x, block_q8_K *y, int64_t k);
    /* y = x rounded through f16 / bf16 precision (y may alias x) */
    void (*round_f16)(const float *x, float *y, int64_t n);
    void (*round_bf16)(const float *x, float *y, int64_t n);

    /* ---- conversions ---- */
    /* one row of k elements of a weight dtype -> f32 */
    void (*dequant[PLMM_DTYPE_COUNT])(const void *x, float *y, int64_t k);
    void (*f16_to_f32)(const uint16_t *x, float *y, int64_t n);
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    void (*bf16_to_f32)(const uint16_t *x, float *y, int64_t n);
    void (*f32_to_bf16)(const float *x, uint16_t *y, int64_t n);

    /* ---- vector primitives (F32) ---- */
    /* sum of x[i]*x[i], each product rounded to float, summed in double */
    double (*sum_sq)(const float *x, int64_t n);
    /* y = x * s, or y = (x * s) * w when w != NULL (y may alias x) */
    void (*scale)(float *y, const float *x, float s, const float *w, int64_t n);
    float (*max)(const float *x, int64_t n);
    /* y = exp(x - m), returns the sum of y (double) (y may alias x) */
    double (*exp_sum)(float *y, const float *x, float m, int64_t n);
    /* y = x * sigmoid(x); y = silu(x) * g (y may alias x) */
    void (*silu)(float *y, const float *x, int64_t n);
    void (*swiglu)(float *y, const float *x, const float *g, int64_t n);
    /* dot(a, b) with b in f32 / f16 */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const float *a, const uint16_t *b, int64_t n);
    /* y += a * x with x in f32 / f16 */
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);
} cpu_kern;

/* Name of an ISA ("scalar", "avx2", "avx512", "neon", "neon+dotprod"). */
const char *cpu_isa_name(cpu_isa isa);
/* True when this build has kernels for isa. */
bool cpu_isa_compiled(cpu_isa isa);
/* PLMM_CPU_* bits a CPU needs for isa. */
uint64_t cpu_isa_required(cpu_isa isa);
/* Best compiled ISA the features allow. */
cpu_isa cpu_isa_best(uint64_t features);
/* Fill k for isa; false if the ISA is not compiled in. */
bool cpu_kern_init(cpu_kern *k, cpu_isa isa);

/* The format activations take for a weight dtype's dot product. */
uint32_t cpu_vec_dot_type(uint32_t wtype);
/*
 * Bytes of one activation row of k elements in the vec-dot format of wtype.
 * Q8_0 rows hold k/32 blocks, then (at cpu_q8_0_offsets_at(k), 4-aligned)
 * one int32 per block: 8 * the sum of its quants, which the Q4_0 kernels
 * subtract instead of removing the +8 offset of every 4-bit quant; then
 * one float per block: its scale d as a float.
 */
size_t cpu_q8_0_offsets_at(int64_t k);
size_t cpu_vec_dot_row_bytes(uint32_t wtype, int64_t k);
/* Convert one activation row (k floats) to the vec-dot format of wtype. */
void cpu_vec_dot_convert(const cpu_kern *kern, uint32_t wtype, const float *x, void *y, int64_t k);
/* True when wtype is a weight dtype MUL_MAT and GET_ROWS accept. */
bool cpu_weight_type_ok(uint32_t wtype);

/* ---- reference (scalar) kernels, also used by the tests ---- */

void cpu_ref_quant_q8_0(const float *x, block_q8_0 *y, int64_t k);
void cpu_ref_quant_q8_k(const float *x, block_q8_K *y, int64_t k);
void cpu_ref_dequant_q8_0(const void *x, float *y, int64_t k);
void cpu_ref_dequant_q4_0(const void *x, float *y, int64_t k);
void cpu_ref_dequant_q4_k(const void *x, float *y, int64_t k);
void cpu_ref_dequant_q6_k(const void *x, float *y, int64_t k);
void cpu_ref_dequant_q8_k(const void *x, float *y, int64_t k);
void cpu_ref_dequant_f32(const void *x, float *y, int64_t k);
void cpu_ref_dequant_f16(const void *x, float *y, int64_t k);
void cpu_ref_dequant_bf16(const void *x, float *y, int64_t k);
/* one dot product of a weight row with an activation row in vec-dot format */
float cpu_ref_vec_dot(uint32_t wtype, int64_t k, const void *w, const void *x);
float cpu_ref_expf(float x);

/* ---- per-ISA table fillers (each overrides what it implements) ---- */

void cpu_kern_fill_generic(cpu_kern *k);
#if defined(__x86_64__) || defined(__i386__)
void cpu_kern_fill_avx2(cpu_kern *k);
void cpu_kern_fill_avx512(cpu_kern *k);
#endif
#if defined(__aarch64__)
void cpu_kern_fill_neon(cpu_kern *k);
void cpu_kern_fill_neon_dotprod(cpu_kern *k);
#endif

#ifdef __cplusplus
}
#endif

#endif /* PLMM_CPU_KERNELS_H */
