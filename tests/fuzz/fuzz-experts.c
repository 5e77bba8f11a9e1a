/*
 * Expert answer checks fuzz target (experts/finance, experts/it,
 * experts/art): answers come from remote E-models, so every check must
 * take any text. The input is a question, a NUL or newline, and the answer;
 * each check must return PLMM_OK with a known verdict and a NUL-terminated
 * message, and free everything it allocated through the host.
 */
#include "experts/fuzz_experts.h"
#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void require(bool cond)
{
    if (!cond)
        abort();
}

typedef struct counter {
    long live; /* host allocations not yet freed */
} counter;

static void *h_alloc(void *ctx, size_t size, size_t align)
{
    counter *c = ctx;
    void *p = NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        return NULL;
    c->live++;
    return p;
}

static void h_free(void *ctx, void *p)
{
    counter *c = ctx;
    if (p != NULL) {
        c->live--;
        free(p);
    }
}

static void h_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}

static void h_set_error(void *ctx, const char *msg)
{
    (void)ctx;
    require(msg != NULL);
}

static uint64_t h_now(void *ctx)
{
    (void)ctx;
    return 0;
}

typedef plmm_status (*check_fn)(const plmm_host_api *, const char *, const char *,
                                plmm_check_result *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* question up to the first newline (or NUL), answer after it */
    size_t q = strcspn(text, "\n");
    const char *answer = q < size ? text + q + 1 : "";
    text[q] = '\0';

    counter c = {0};
    plmm_host_api host = {.struct_size = sizeof(host),
                          .abi_version = PLMM_ABI_VERSION(1, 0),
                          .host_ctx = &c,
                          .log = h_log,
                          .set_error = h_set_error,
                          .alloc = h_alloc,
                          .free = h_free,
                          .now_ns = h_now};
    static const check_fn checks[] = {fuzz_finance_check, fuzz_it_check, fuzz_art_check};
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        plmm_check_result r;
        memset(&r, 0xa5, sizeof(r));
        r.struct_size = sizeof(r);
        require(checks[i](&host, text, answer, &r) == PLMM_OK);
        require(r.verdict <= PLMM_CHECK_FAIL);
        require(memchr(r.message, '\0', sizeof(r.message)) != NULL);
        require(c.live == 0);
    }
    free(text);
    return 0;
}
