/* Choosing and filling the kernel table for an instruction set. */
#include "cpu_kernels.h"

const char *cpu_isa_name(cpu_isa isa)
{
    switch (isa) {
    case CPU_ISA_SCALAR:
        return "scalar";
    case CPU_ISA_AVX2:
        return "avx2";
    case CPU_ISA_AVX512:
        return "avx512";
    case CPU_ISA_NEON:
        return "neon";
    case CPU_ISA_NEON_DOTPROD:
        return "neon+dotprod";
    default:
        return "?";
    }
}

bool cpu_isa_compiled(cpu_isa isa)
{
    switch (isa) {
    case CPU_ISA_SCALAR:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case CPU_ISA_AVX2:
    case CPU_ISA_AVX512:
        return true;
#endif
#if defined(__aarch64__)
    case CPU_ISA_NEON:
    case CPU_ISA_NEON_DOTPROD:
        return true;
#endif
    default:
        return false;
    }
}

uint64_t cpu_isa_required(cpu_isa isa)
{
    const uint64_t avx2 = PLMM_CPU_AVX | PLMM_CPU_AVX2 | PLMM_CPU_FMA | PLMM_CPU_F16C;
    switch (isa) {
    case CPU_ISA_AVX2:
        return avx2;
    case CPU_ISA_AVX512:
        return avx2 | PLMM_CPU_AVX512F | PLMM_CPU_AVX512BW | PLMM_CPU_AVX512VL;
    case CPU_ISA_NEON:
        return PLMM_CPU_NEON;
    case CPU_ISA_NEON_DOTPROD:
        return PLMM_CPU_NEON | PLMM_CPU_DOTPROD;
    default:
        return 0;
    }
}

cpu_isa cpu_isa_best(uint64_t features)
{
    static const cpu_isa order[] = {CPU_ISA_AVX512, CPU_ISA_AVX2, CPU_ISA_NEON_DOTPROD,
                                    CPU_ISA_NEON};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        uint64_t need = cpu_isa_required(order[i]);
        if (cpu_isa_compiled(order[i]) && (features & need) == need)
            return order[i];
    }
    return CPU_ISA_SCALAR;
}

bool cpu_kern_init(cpu_kern *k, cpu_isa isa)
{
    if (!cpu_isa_compiled(isa))
        return false;
    cpu_kern_fill_generic(k);
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case CPU_ISA_AVX2:
        cpu_kern_fill_avx2(k);
        break;
    case CPU_ISA_AVX512:
        cpu_kern_fill_avx2(k);
        cpu_kern_fill_avx512(k);
        break;
#endif
#if defined(__aarch64__)
    case CPU_ISA_NEON:
        cpu_kern_fill_neon(k);
        break;
    case CPU_ISA_NEON_DOTPROD:
        cpu_kern_fill_neon(k);
        cpu_kern_fill_neon_dotprod(k);
        break;
#endif
    default:
        break;
    }
    return true;
}
