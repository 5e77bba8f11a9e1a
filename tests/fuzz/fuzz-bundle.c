/*
 * Signed-metadata fuzz target: the input as a signed envelope (root,
 * manifest or statement) and as a usage receipt. Checks the parsers'
 * promises: a rejected input leaves nothing allocated and names a cause; an
 * accepted manifest only holds safe relative paths and valid expert names;
 * an accepted root has 1 <= threshold <= keys; nothing unsigned verifies.
 */
#include "errors.h"
#include "fuzz.h"
#include "ledger_impl.h"
#include "update_impl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Report a broken promise as a crash libFuzzer records. */
static void require(bool cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sign_envelope env;
    if (sign_init() != PLMM_OK)
        return 0;
    if (sign_envelope_parse((const char *)data, size, "<fuzz>", &env) != PLMM_OK) {
        require(plmm_last_errmsg()[0] != '\0');
    } else {
        update_manifest m;
        sign_root root;
        if (update_manifest_parse(&env, "<fuzz>", &m) == PLMM_OK) {
            require(update_valid_name(m.expert) && m.version >= 1);
            for (uint32_t i = 0; i < m.n_files; i++)
                require(update_valid_path(m.files[i].path) &&
                        strstr(m.files[i].path, "..") == NULL);
            update_manifest_free(&m);
        }
        if (sign_root_parse(&env, "<fuzz>", &root) == PLMM_OK) {
            require(root.threshold >= 1 && root.threshold <= root.n_keys);
            /* a root's signatures count only for its own distinct keys */
            require(sign_envelope_count(&env, root.keys, root.n_keys) <= root.n_keys);
            sign_root_free(&root);
        }
        sign_envelope_free(&env);
    }
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t in = -1, out = -1;
    if (ledger_receipt_check(text, NULL, &in, &out, NULL, NULL, NULL) == PLMM_OK)
        require(in >= 0 && out >= 0);
    free(text);
    return 0;
}
