#include "errors.h"

#include "test.h"

int main(void)
{
    CHECK(strcmp(plmm_status_str(PLMM_OK), "ok") == 0);
    CHECK(strcmp(plmm_status_str(PLMM_ERR_NOMEM), "out of memory") == 0);
    CHECK(strcmp(plmm_status_str((plmm_status)-999), "unknown status") == 0);
    CHECK(plmm_err(PLMM_ERR_IO, "cannot open '%s'", "x.gguf") == PLMM_ERR_IO);
    CHECK(strcmp(plmm_last_errmsg(), "cannot open 'x.gguf'") == 0);
    CHECK(plmm_err_prefix(PLMM_ERR_IO, "loading model") == PLMM_ERR_IO);
    CHECK(strcmp(plmm_last_errmsg(), "loading model: cannot open 'x.gguf'") == 0);
    plmm_err_clear();
    CHECK(plmm_last_errmsg()[0] == '\0');
    return test_summary("errors");
}
