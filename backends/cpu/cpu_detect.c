#include "cpu_detect.h"

#include "plmm/types.h"

#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

uint64_t cpu_detect_features(void)
{
    uint64_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f |= __builtin_cpu_supports("sse4.2") ? PLMM_CPU_SSE42 : 0;
    f |= __builtin_cpu_supports("avx") ? PLMM_CPU_AVX : 0;
    f |= __builtin_cpu_supports("avx2") ? PLMM_CPU_AVX2 : 0;
    f |= __builtin_cpu_supports("fma") ? PLMM_CPU_FMA : 0;
    f |= __builtin_cpu_supports("avx512f") ? PLMM_CPU_AVX512F : 0;
    f |= __builtin_cpu_supports("avx512bw") ? PLMM_CPU_AVX512BW : 0;
    f |= __builtin_cpu_supports("avx512vl") ? PLMM_CPU_AVX512VL : 0;
    /* F16C has no __builtin_cpu_supports name in every compiler: CPUID.1:ECX bit 29 */
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) && (f & PLMM_CPU_AVX))
        f |= PLMM_CPU_F16C;
#elif defined(__aarch64__) && defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP);
    f |= PLMM_CPU_NEON; /* Advanced SIMD is mandatory on AArch64 */
#ifdef HWCAP_ASIMDDP
    f |= (hw & HWCAP_ASIMDDP) ? PLMM_CPU_DOTPROD : 0;
#endif
#ifdef HWCAP_FPHP
    f |= (hw & HWCAP_FPHP) ? PLMM_CPU_FP16 : 0;
#endif
    (void)hw;
#elif defined(__aarch64__)
    f |= PLMM_CPU_NEON;
#endif
    return f;
}

uint32_t cpu_detect_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}
