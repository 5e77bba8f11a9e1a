/*
 * Int8 MUL_MAT tiles with the ARMv8.2 dot-product instruction (SDOT).
 * Built with -march=armv8.2-a+dotprod; everything else comes from neon.c.
 */
#include "cpu_kernels.h"

#include <arm_neon.h>

/* acc + the 16 products a[i] * b[i], four per lane */
static inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    return vdotq_s32(acc, a, b);
}

#define NEON_SUFFIX _sdot
#include "neon_int8.h"

void cpu_kern_fill_neon_dotprod(cpu_kern *k)
{
    k->isa = CPU_ISA_NEON_DOTPROD;
    k->name = "neon+dotprod";
    ni8_fill_sdot(k);
}
