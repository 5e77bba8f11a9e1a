/*
 * Fuzz the privacy layer with arbitrary text (model answers and user input
 * are untrusted): the first line is a known value (a person), the rest is
 * pseudonymized, restored whole and streamed in pieces — the two restores
 * must agree — and scanned as a request body.
 */
#include "fuzz.h"
#include "plmm/plmm.h"
#include "plmm/privacy.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plmm_privacy *p = NULL;
    if (size > 1 << 16 || plmm_privacy_create(&p) != PLMM_OK)
        return 0;
    const char *text = (const char *)data;
    const char *nl = memchr(data, '\n', size);
    if (nl != NULL && nl - text < 200) {
        char known[200];
        memcpy(known, text, (size_t)(nl - text));
        known[nl - text] = '\0';
        if (strlen(known) > 0 && plmm_privacy_add_known(p, PLMM_PII_PERSON, known) != PLMM_OK)
            known[0] = '\0'; /* an unusable value is not an error here */
        size -= (size_t)(nl - text) + 1;
        text = nl + 1;
    }
    char *pseudo = NULL, *whole = NULL;
    plmm_pii_counts c;
    if (plmm_privacy_pseudonymize(p, text, size, &pseudo, &c) == PLMM_OK) {
        size_t n = strlen(pseudo);
        if (plmm_privacy_restore(p, pseudo, n, &whole) == PLMM_OK) {
            plmm_restorer *r = NULL;
            if (plmm_restorer_create(p, &r) == PLMM_OK) {
                char *got = malloc(2 * n + 64 + strlen(whole));
                size_t gl = 0, step = 1 + (n % 7);
                const char *o;
                size_t ol;
                for (size_t at = 0; got != NULL && at < n; at += step) {
                    size_t len = at + step <= n ? step : n - at;
                    if (plmm_restorer_feed(r, pseudo + at, len, &o, &ol) != PLMM_OK)
                        abort();
                    memcpy(got + gl, o, ol);
                    gl += ol;
                }
                if (got != NULL && plmm_restorer_finish(r, &o, &ol) == PLMM_OK) {
                    memcpy(got + gl, o, ol);
                    gl += ol;
                    if (gl != strlen(whole) || memcmp(got, whole, gl) != 0)
                        abort(); /* streamed restore must equal the whole restore */
                }
                free(got);
                plmm_restorer_destroy(r);
            }
        }
        plmm_status scan = plmm_privacy_scan(p, text, size, NULL);
        if (scan != PLMM_OK && scan != PLMM_ERR_DENIED)
            abort();
    }
    free(pseudo); /* plmm_free is free(); engine.c is not in the fuzz build */
    free(whole);
    plmm_privacy_destroy(p);
    return 0;
}
