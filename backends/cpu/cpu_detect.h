/*
 * CPU feature detection for the backend's own tests and benchmarks. The
 * plugin never calls it: it takes the features the host reports
 * (plmm_host_api.cpu_features).
 */
#ifndef PLMM_CPU_DETECT_H
#define PLMM_CPU_DETECT_H

#include <stdint.h>

/* PLMM_CPU_* bits of the running machine. */
uint64_t cpu_detect_features(void);
/* Online logical CPUs (>= 1). */
uint32_t cpu_detect_count(void);

#endif /* PLMM_CPU_DETECT_H */
