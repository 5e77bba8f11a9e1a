/*
 * What the host tells plugins about the CPU: feature bits (PLMM_CPU_*),
 * the number of online CPUs and the architecture name used in manifests.
 * Features count only when the OS also enables them (x86: XSAVE state for
 * AVX and AVX-512 registers, read with xgetbv).
 */
#include "registry.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__) || defined(__arm__)
#include <sys/auxv.h>
#endif

#if defined(__x86_64__) || defined(__i386__)

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

uint64_t plmm_cpu_features_detect(void)
{
    unsigned a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    bool fma = (c >> 12) & 1, sse42 = (c >> 20) & 1, osxsave = (c >> 27) & 1;
    bool avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool ymm = (xcr0 & 0x6) == 0x6;   /* SSE and AVX state */
    bool zmm = (xcr0 & 0xe6) == 0xe6; /* plus opmask and upper ZMM state */
    if (sse42)
        f |= PLMM_CPU_SSE42;
    if (avx && ymm) {
        f |= PLMM_CPU_AVX;
        if (fma)
            f |= PLMM_CPU_FMA;
        if (f16c)
            f |= PLMM_CPU_F16C;
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (((b >> 5) & 1) && ymm)
            f |= PLMM_CPU_AVX2;
        if (zmm) {
            if ((b >> 16) & 1)
                f |= PLMM_CPU_AVX512F;
            if ((b >> 30) & 1)
                f |= PLMM_CPU_AVX512BW;
            if ((b >> 31) & 1)
                f |= PLMM_CPU_AVX512VL;
            if ((c >> 11) & 1)
                f |= PLMM_CPU_AVX512VNNI;
        }
    }
    return f;
}

#elif defined(__aarch64__)

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1UL << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

uint64_t plmm_cpu_features_detect(void)
{
    unsigned long hw = getauxval(AT_HWCAP);
    uint64_t f = 0;
    if (hw & HWCAP_ASIMD)
        f |= PLMM_CPU_NEON;
    if (hw & HWCAP_ASIMDDP)
        f |= PLMM_CPU_DOTPROD;
    if (hw & HWCAP_ASIMDHP)
        f |= PLMM_CPU_FP16;
    return f;
}

#elif defined(__arm__)

#ifndef HWCAP_NEON
#define HWCAP_NEON (1UL << 12)
#endif

uint64_t plmm_cpu_features_detect(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_NEON) ? PLMM_CPU_NEON : 0;
}

#else

uint64_t plmm_cpu_features_detect(void)
{
    return 0;
}

#endif

uint32_t plmm_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

const char *plmm_cpu_arch(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__i386__)
    return "x86";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__arm__)
    return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#elif defined(__powerpc64__)
    return "ppc64";
#elif defined(__s390x__)
    return "s390x";
#else
    return "unknown";
#endif
}

const char *plmm_cpu_features_str(uint64_t features, char *buf, size_t size)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } names[] = {
        {PLMM_CPU_SSE42, "sse4.2"},
        {PLMM_CPU_AVX, "avx"},
        {PLMM_CPU_AVX2, "avx2"},
        {PLMM_CPU_FMA, "fma"},
        {PLMM_CPU_F16C, "f16c"},
        {PLMM_CPU_AVX512F, "avx512f"},
        {PLMM_CPU_AVX512BW, "avx512bw"},
        {PLMM_CPU_AVX512VL, "avx512vl"},
        {PLMM_CPU_AVX512VNNI, "avx512vnni"},
        {PLMM_CPU_NEON, "neon"},
        {PLMM_CPU_DOTPROD, "dotprod"},
        {PLMM_CPU_FP16, "fp16"},
    };
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(features & names[i].bit))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0'; /* no partial names */
            break;
        }
        used += (size_t)n;
    }
    return buf;
}
