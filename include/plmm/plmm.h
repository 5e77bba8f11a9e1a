/*
 * plmm — application API.
 *
 * Errors: every fallible call returns plmm_status (PLMM_OK = 0, errors < 0).
 * plmm_status_str() gives static text for a code; the detail of the last
 * failure on this thread is read with plmm_last_errmsg().
 */
#ifndef PLMM_PLMM_H
#define PLMM_PLMM_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Static, lowercase description of a status code ("out of memory"). */
PLMM_EXPORT const char *plmm_status_str(plmm_status status);

/* Detail of the most recent error on the calling thread ("" when none).
 * Valid until the next plmm call on this thread. */
PLMM_EXPORT const char *plmm_last_errmsg(void);

/* Library version string, "MAJOR.MINOR.PATCH". */
PLMM_EXPORT const char *plmm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PLMM_PLMM_H */
