/* The answer checks of the expert plugins, called directly (without
 * dlopen) by the fuzz target fuzz-experts.c. */
#ifndef PLMM_FUZZ_EXPERTS_H
#define PLMM_FUZZ_EXPERTS_H

#include "plmm/expert.h"

plmm_status fuzz_finance_check(const plmm_host_api *host, const char *question, const char *answer,
                               plmm_check_result *out);
plmm_status fuzz_it_check(const plmm_host_api *host, const char *question, const char *answer,
                          plmm_check_result *out);
plmm_status fuzz_art_check(const plmm_host_api *host, const char *question, const char *answer,
                           plmm_check_result *out);

#endif
