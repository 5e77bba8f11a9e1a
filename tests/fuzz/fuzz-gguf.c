/*
 * GGUF reader fuzz target: open the input as a memory image and, when it is
 * accepted, read every key, value, array element and tensor byte range the
 * API exposes, checking the reader's promises (everything inside the image,
 * lookups consistent) so that ASan and UBSan see any stray access.
 */
#include "fuzz.h"
#include "gguf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Report a broken promise as a crash libFuzzer records. */
static void require(bool cond)
{
    if (!cond)
        abort();
}

static bool inside(const uint8_t *base, uint64_t size, const void *p, uint64_t n)
{
    const uint8_t *q = p;
    return q >= base && (uint64_t)(q - base) <= size && n <= size - (uint64_t)(q - base);
}

/* Fold bytes into a sum so the reads cannot be optimised away. */
static volatile uint8_t sink;

static void touch(const void *p, uint64_t n)
{
    const uint8_t *q = p;
    uint8_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc ^= q[i];
    sink = acc;
}

static void walk_kv(const plmm_gguf *g, const uint8_t *base, uint64_t size, uint64_t i)
{
    const char *key = plmm_gguf_key(g, i);
    require(key != NULL && key[0] != '\0');
    require(plmm_gguf_find_key(g, key) == (int64_t)i);
    plmm_gguf_type t = plmm_gguf_kv_type(g, i);
    uint32_t u32;
    int64_t i64;
    float f32;
    bool b;
    char buf[64];
    /* Every getter on every key: results vary, none may misbehave. */
    (void)!plmm_gguf_get_u32(g, key, &u32);
    (void)!plmm_gguf_get_i64(g, key, &i64);
    (void)!plmm_gguf_get_f32(g, key, &f32);
    (void)!plmm_gguf_get_bool(g, key, &b);
    (void)!plmm_gguf_get_string(g, key, buf, sizeof(buf));

    if (t == PLMM_GGUF_STRING) {
        plmm_gguf_str s = plmm_gguf_get_str(g, i);
        require(s.ptr != NULL && inside(base, size, s.ptr, s.len));
        touch(s.ptr, s.len);
    } else if (t == PLMM_GGUF_ARRAY) {
        plmm_gguf_type at = plmm_gguf_arr_type(g, i);
        uint64_t n = plmm_gguf_arr_len(g, i);
        if (at == PLMM_GGUF_STRING) {
            for (uint64_t j = 0; j < n; j++) {
                plmm_gguf_str s = plmm_gguf_arr_str(g, i, j);
                require(s.ptr != NULL && inside(base, size, s.ptr, s.len));
                touch(s.ptr, s.len);
            }
            require(plmm_gguf_arr_str(g, i, n).ptr == NULL);
        } else {
            uint32_t es = plmm_gguf_type_size(at);
            const void *d = plmm_gguf_arr_data(g, i);
            require(es > 0 && d != NULL && n <= size / es && inside(base, size, d, n * es));
            touch(d, n * es);
        }
    } else {
        uint32_t es = plmm_gguf_type_size(t);
        const void *d = plmm_gguf_kv_data(g, i);
        require(es > 0 && d != NULL && inside(base, size, d, es));
        touch(d, es);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plmm_gguf *g = NULL;
    if (plmm_gguf_open_memory(data, size, &g) != PLMM_OK) {
        require(g == NULL);
        return 0;
    }
    const uint8_t *base = plmm_gguf_file_data(g);
    uint64_t n_kv = plmm_gguf_n_kv(g), n_t = plmm_gguf_n_tensors(g);
    uint64_t align = plmm_gguf_alignment(g), doff = plmm_gguf_data_offset(g);
    require(plmm_gguf_file_size(g) == size);
    require(align > 0 && (align & (align - 1)) == 0);
    require(doff <= size);

    for (uint64_t i = 0; i < n_kv; i++)
        walk_kv(g, base, size, i);
    require(plmm_gguf_key(g, n_kv) == NULL);
    require(plmm_gguf_kv_type(g, n_kv) == PLMM_GGUF_INVALID);

    for (uint64_t i = 0; i < n_t; i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        require(t != NULL && plmm_gguf_find_tensor(g, t->name) == t);
        require(t->n_dims >= 1 && t->n_dims <= PLMM_MAX_DIMS);
        require(t->offset % align == 0 && t->size > 0);
        require((const uint8_t *)t->data == base + doff + t->offset);
        require(inside(base, size, t->data, t->size));
        const uint8_t *d = t->data;
        sink = d[0] ^ d[t->size - 1];
    }
    require(plmm_gguf_tensor_at(g, n_t) == NULL);
    plmm_gguf_close(g);
    return 0;
}
