/* Thread-local error detail shared by every engine module. */
#ifndef PLMM_ENGINE_ERRORS_H
#define PLMM_ENGINE_ERRORS_H

#include "plmm/plmm.h"

/* Record a formatted detail message for this thread and return status.
 * Usage: return plmm_err(PLMM_ERR_FORMAT, "bad magic in '%s'", path); */
plmm_status plmm_err(plmm_status status, const char *fmt, ...) PLMM_PRINTF(2, 3);
/* Prefix the current detail with a context: "ctx: old detail". Returns status. */
plmm_status plmm_err_prefix(plmm_status status, const char *fmt, ...) PLMM_PRINTF(2, 3);
/* Clear the detail. */
void plmm_err_clear(void);

#endif
