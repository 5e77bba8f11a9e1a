/*
 * GGUF reader tests: real files from $PLMM_SHARED_DIR/models (skipped when
 * absent), a small in-memory writer whose output is mutated one field at a
 * time into every hostile case the reader must reject, and truncation of a
 * valid file at every length.
 *
 * `test-gguf --write-corpus DIR` writes the fuzz seed corpus
 * (tests/fuzz/corpus/gguf) from the same writer and mutations.
 */
#include "errors.h"
#include "gguf.h"
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- in-memory writer ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf;

static void put(wbuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL) {
            fprintf(stderr, "test-gguf: out of memory\n");
            exit(1);
        }
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_le(wbuf *b, uint64_t v, unsigned n)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, n);
}

static void put_str(wbuf *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

static void patch_le(uint8_t *p, size_t off, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* The metadata table the writer draws from; KV_* index it. */
enum {
    KV_ARCH,
    KV_ALIGN,
    KV_BLOCKS,
    KV_U8,
    KV_I8,
    KV_U16,
    KV_I16,
    KV_I32,
    KV_F32,
    KV_BOOL,
    KV_U64,
    KV_I64,
    KV_F64,
    KV_F64_BIG,
    KV_I64_SMALL,
    KV_ARR_I32,
    KV_ARR_STR,
    KV_ARR_BOOL,
    KV_ARR_EMPTY,
    KV_COUNT
};

#define KV_ALL ((1u << KV_COUNT) - 1)
#define KV_BIT(i) (1u << (i))
/* The smaller file used for the fuzz seeds. */
#define KV_MINIMAL                                                                                 \
    (KV_BIT(KV_ARCH) | KV_BIT(KV_ALIGN) | KV_BIT(KV_U8) | KV_BIT(KV_I8) | KV_BIT(KV_BOOL) |        \
     KV_BIT(KV_ARR_STR) | KV_BIT(KV_ARR_BOOL))

static const char *const tokens[] = {"<unk>", "a", "bc", ""};
#define N_TOKENS 4

static const char *const kv_keys[KV_COUNT] = {
    [KV_ARCH] = "general.architecture",
    [KV_ALIGN] = "general.alignment",
    [KV_BLOCKS] = "llama.block_count",
    [KV_U8] = "test.u8",
    [KV_I8] = "test.i8",
    [KV_U16] = "test.u16",
    [KV_I16] = "test.i16",
    [KV_I32] = "test.i32",
    [KV_F32] = "test.f32",
    [KV_BOOL] = "test.bool",
    [KV_U64] = "test.u64",
    [KV_I64] = "test.i64",
    [KV_F64] = "test.f64",
    [KV_F64_BIG] = "test.f64_big",
    [KV_I64_SMALL] = "test.i64_small",
    [KV_ARR_I32] = "test.arr_i32",
    [KV_ARR_STR] = "tokenizer.ggml.tokens",
    [KV_ARR_BOOL] = "test.arr_bool",
    [KV_ARR_EMPTY] = "test.arr_empty",
};

/* The tensor table: names of equal length so a one-byte patch duplicates one. */
typedef struct tspec {
    const char *name;
    uint32_t dtype;
    uint32_t n_dims;
    uint64_t ne[4];
} tspec;

#define N_TENSORS 3
static const tspec tensor_table[N_TENSORS] = {
    {"blk.0.attn_q.weight", PLMM_DTYPE_F32, 2, {4, 2, 1, 1}},   /* 32 bytes */
    {"blk.0.attn_k.weight", PLMM_DTYPE_Q8_0, 2, {32, 2, 1, 1}}, /* 68 bytes */
    {"output_norm.weight", PLMM_DTYPE_F16, 1, {3, 1, 1, 1}},    /* 6 bytes */
};

typedef struct build_opts {
    uint32_t version;
    uint32_t kv_mask;   /* KV_BIT()s to include, in table order */
    uint32_t alignment; /* value of general.alignment (when included) */
    unsigned n_tensors; /* first n of tensor_table */
    bool tail_pad;      /* with no tensors: pad the end to the alignment */
} build_opts;

/* Byte offsets of every field the mutations patch (0 = not written). */
typedef struct layout {
    size_t kv_key[KV_COUNT];     /* key length prefix */
    size_t kv_type[KV_COUNT];    /* value type */
    size_t kv_val[KV_COUNT];     /* value; arrays: element type */
    size_t kv_elem[KV_COUNT][4]; /* arrays: first elements (strings: their length prefix) */
    size_t t_name[N_TENSORS];
    size_t t_ndims[N_TENSORS];
    size_t t_ne[N_TENSORS];
    size_t t_type[N_TENSORS];
    size_t t_offset[N_TENSORS];
    size_t data;
    uint64_t t_rel[N_TENSORS]; /* tensor offsets inside the data section */
} layout;

static uint64_t tensor_bytes(const tspec *t)
{
    uint64_t n = plmm_dtype_row_bytes(t->dtype, (int64_t)t->ne[0]);
    for (int d = 1; d < 4; d++)
        n *= t->ne[d];
    return n;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static void put_array(wbuf *b, layout *L, int i, uint32_t type, uint64_t n, const uint64_t *v,
                      unsigned width)
{
    put_le(b, type, 4);
    put_le(b, n, 8);
    for (uint64_t j = 0; j < n; j++) {
        if (j < 4)
            L->kv_elem[i][j] = b->len;
        put_le(b, v[j], width);
    }
}

static void put_kv(wbuf *b, layout *L, int i, const build_opts *o)
{
    static const uint64_t arr_i32[] = {1, 2, 0xfffffffd}; /* 1, 2, -3 */
    static const uint64_t arr_bool[] = {0, 1, 1};
    L->kv_key[i] = b->len;
    put_str(b, kv_keys[i]);
    L->kv_type[i] = b->len;
    uint32_t type = PLMM_GGUF_UINT32;
    switch (i) {
    case KV_ARCH:
        type = PLMM_GGUF_STRING;
        break;
    case KV_ALIGN:
    case KV_BLOCKS:
        type = PLMM_GGUF_UINT32;
        break;
    case KV_U8:
        type = PLMM_GGUF_UINT8;
        break;
    case KV_I8:
        type = PLMM_GGUF_INT8;
        break;
    case KV_U16:
        type = PLMM_GGUF_UINT16;
        break;
    case KV_I16:
        type = PLMM_GGUF_INT16;
        break;
    case KV_I32:
        type = PLMM_GGUF_INT32;
        break;
    case KV_F32:
        type = PLMM_GGUF_FLOAT32;
        break;
    case KV_BOOL:
        type = PLMM_GGUF_BOOL;
        break;
    case KV_U64:
        type = PLMM_GGUF_UINT64;
        break;
    case KV_I64:
    case KV_I64_SMALL:
        type = PLMM_GGUF_INT64;
        break;
    case KV_F64:
    case KV_F64_BIG:
        type = PLMM_GGUF_FLOAT64;
        break;
    default:
        type = PLMM_GGUF_ARRAY;
        break;
    }
    put_le(b, type, 4);
    L->kv_val[i] = b->len;
    switch (i) {
    case KV_ARCH:
        put_str(b, "llama");
        break;
    case KV_ALIGN:
        put_le(b, o->alignment, 4);
        break;
    case KV_BLOCKS:
        put_le(b, 5, 4);
        break;
    case KV_U8:
        put_le(b, 200, 1);
        break;
    case KV_I8:
        put_le(b, (uint64_t)-5, 1);
        break;
    case KV_U16:
        put_le(b, 60000, 2);
        break;
    case KV_I16:
        put_le(b, (uint64_t)-30000, 2);
        break;
    case KV_I32:
        put_le(b, (uint64_t)-7, 4);
        break;
    case KV_F32:
        put_le(b, f32_bits(1.5f), 4);
        break;
    case KV_BOOL:
        put_le(b, 1, 1);
        break;
    case KV_U64:
        put_le(b, UINT64_C(5000000000), 8);
        break;
    case KV_I64:
        put_le(b, (uint64_t)INT64_C(-5000000000), 8);
        break;
    case KV_F64:
        put_le(b, f64_bits(0.25), 8);
        break;
    case KV_F64_BIG:
        put_le(b, f64_bits(1e300), 8);
        break;
    case KV_I64_SMALL:
        put_le(b, 123, 8);
        break;
    case KV_ARR_I32:
        put_array(b, L, i, PLMM_GGUF_INT32, 3, arr_i32, 4);
        break;
    case KV_ARR_BOOL:
        put_array(b, L, i, PLMM_GGUF_BOOL, 3, arr_bool, 1);
        break;
    case KV_ARR_EMPTY:
        put_array(b, L, i, PLMM_GGUF_UINT8, 0, NULL, 1);
        break;
    case KV_ARR_STR:
        put_le(b, PLMM_GGUF_STRING, 4);
        put_le(b, N_TOKENS, 8);
        for (int j = 0; j < N_TOKENS; j++) {
            L->kv_elem[i][j] = b->len;
            put_str(b, tokens[j]);
        }
        break;
    }
}

/* Write a valid file described by o into b (reset first). */
static void build(wbuf *b, layout *L, const build_opts *o)
{
    memset(L, 0, sizeof(*L));
    b->len = 0;
    uint32_t align = (o->kv_mask & KV_BIT(KV_ALIGN)) ? o->alignment : 32;
    uint64_t n_kv = 0;
    for (int i = 0; i < KV_COUNT; i++)
        n_kv += (o->kv_mask >> i) & 1;

    put(b, "GGUF", 4);
    put_le(b, o->version, 4);
    put_le(b, o->n_tensors, 8);
    put_le(b, n_kv, 8);
    for (int i = 0; i < KV_COUNT; i++)
        if (o->kv_mask & KV_BIT(i))
            put_kv(b, L, i, o);

    uint64_t rel = 0;
    for (unsigned t = 0; t < o->n_tensors; t++) {
        const tspec *ts = &tensor_table[t];
        L->t_name[t] = b->len;
        put_str(b, ts->name);
        L->t_ndims[t] = b->len;
        put_le(b, ts->n_dims, 4);
        L->t_ne[t] = b->len;
        for (uint32_t d = 0; d < ts->n_dims; d++)
            put_le(b, ts->ne[d], 8);
        L->t_type[t] = b->len;
        put_le(b, ts->dtype, 4);
        L->t_offset[t] = b->len;
        rel = align_up(rel, align);
        L->t_rel[t] = rel;
        put_le(b, rel, 8);
        rel += tensor_bytes(ts);
    }

    if (o->n_tensors > 0 || o->tail_pad) {
        static const uint8_t zeros[64];
        put(b, zeros, (size_t)(align_up(b->len, align) - b->len));
    }
    L->data = b->len;
    /* Data: a byte pattern per tensor; the last tensor ends the file exactly,
     * so every truncation cuts tensor data. */
    for (unsigned t = 0; t < o->n_tensors; t++) {
        while (b->len < L->data + L->t_rel[t]) {
            uint8_t z = 0;
            put(b, &z, 1);
        }
        uint64_t n = tensor_bytes(&tensor_table[t]);
        for (uint64_t k = 0; k < n; k++) {
            uint8_t v = (uint8_t)(t * 31 + k * 7 + 1);
            put(b, &v, 1);
        }
    }
}

static const build_opts full_opts = {3, KV_ALL, 32, N_TENSORS, false};
static const build_opts minimal_opts = {3, KV_MINIMAL, 32, N_TENSORS, false};

/* Open an exact-size heap copy, so ASan sees any read past the end. */
static plmm_status open_copy(const uint8_t *p, size_t n, plmm_gguf **g, uint8_t **copy)
{
    *copy = malloc(n ? n : 1);
    if (*copy == NULL)
        return PLMM_ERR_NOMEM;
    if (n)
        memcpy(*copy, p, n);
    return plmm_gguf_open_memory(*copy, n, g);
}

/* ---- valid files ---- */

static void check_full_file(const plmm_gguf *g, const layout *L, const wbuf *b, const char *name)
{
    CHECK(plmm_gguf_version(g) == 3);
    CHECK(plmm_gguf_alignment(g) == 32);
    CHECK(plmm_gguf_file_size(g) == b->len);
    CHECK(plmm_gguf_data_offset(g) == L->data);
    CHECK(plmm_gguf_n_kv(g) == KV_COUNT);
    CHECK(strcmp(plmm_gguf_name(g), name) == 0);
    for (int i = 0; i < KV_COUNT; i++) {
        CHECK(strcmp(plmm_gguf_key(g, (uint64_t)i), kv_keys[i]) == 0);
        CHECK(plmm_gguf_find_key(g, kv_keys[i]) == i);
    }
    CHECK(plmm_gguf_find_key(g, "nope") == -1);
    CHECK(plmm_gguf_find_key(g, "") == -1);
    CHECK(plmm_gguf_key(g, KV_COUNT) == NULL);
    CHECK(plmm_gguf_kv_type(g, KV_COUNT) == PLMM_GGUF_INVALID);
    CHECK(plmm_gguf_kv_type(g, KV_ARCH) == PLMM_GGUF_STRING);
    CHECK(plmm_gguf_kv_type(g, KV_ARR_STR) == PLMM_GGUF_ARRAY);
    CHECK(plmm_gguf_arr_type(g, KV_ARR_STR) == PLMM_GGUF_STRING);
    CHECK(plmm_gguf_arr_len(g, KV_ARR_STR) == N_TOKENS);
    CHECK(plmm_gguf_arr_len(g, KV_ARCH) == 0);
    CHECK(plmm_gguf_arr_data(g, KV_ARR_STR) == NULL);
    for (uint64_t j = 0; j < N_TOKENS; j++) {
        plmm_gguf_str s = plmm_gguf_arr_str(g, KV_ARR_STR, j);
        CHECK(s.len == strlen(tokens[j]) && memcmp(s.ptr, tokens[j], s.len) == 0);
    }
    CHECK(plmm_gguf_arr_str(g, KV_ARR_STR, N_TOKENS).ptr == NULL);
    CHECK(plmm_gguf_arr_str(g, KV_ARR_I32, 0).ptr == NULL);
    CHECK(plmm_gguf_arr_type(g, KV_ARR_I32) == PLMM_GGUF_INT32);
    const uint8_t *a = plmm_gguf_arr_data(g, KV_ARR_I32);
    int32_t v[3];
    memcpy(v, a, sizeof(v));
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == -3);
    const uint8_t *bools = plmm_gguf_arr_data(g, KV_ARR_BOOL);
    CHECK(bools[0] == 0 && bools[1] == 1 && bools[2] == 1);
    CHECK(plmm_gguf_arr_len(g, KV_ARR_EMPTY) == 0 && plmm_gguf_arr_type(g, KV_ARR_EMPTY) == 0);
    plmm_gguf_str arch = plmm_gguf_get_str(g, KV_ARCH);
    CHECK(arch.len == 5 && memcmp(arch.ptr, "llama", 5) == 0);
    CHECK(plmm_gguf_get_str(g, KV_U8).ptr == NULL);
    CHECK(plmm_gguf_kv_data(g, KV_ARCH) == NULL);
    const uint8_t *u16 = plmm_gguf_kv_data(g, KV_U16);
    CHECK(u16 != NULL && (u16[0] | u16[1] << 8) == 60000);

    /* typed getters with width conversion */
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f = 0;
    bool bo = false;
    char buf[16];
    CHECK(plmm_gguf_get_u32(g, "llama.block_count", &u32) == PLMM_OK && u32 == 5);
    CHECK(plmm_gguf_get_u32(g, "test.u8", &u32) == PLMM_OK && u32 == 200);
    CHECK(plmm_gguf_get_u32(g, "test.u16", &u32) == PLMM_OK && u32 == 60000);
    CHECK(plmm_gguf_get_u32(g, "test.i64_small", &u32) == PLMM_OK && u32 == 123);
    CHECK(plmm_gguf_get_u32(g, "test.i8", &u32) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "key 'test.i8' value -5 does not fit in u32");
    CHECK(plmm_gguf_get_u32(g, "test.u64", &u32) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "5000000000 does not fit in u32");
    CHECK(plmm_gguf_get_u32(g, "general.architecture", &u32) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "has type string, expected an integer");
    CHECK(plmm_gguf_get_u32(g, "test.f32", &u32) == PLMM_ERR_FORMAT);
    CHECK(plmm_gguf_get_u32(g, "missing.key", &u32) == PLMM_ERR_NOT_FOUND);
    CHECK_CONTAINS(plmm_last_errmsg(), "key 'missing.key' not found");
    CHECK(plmm_gguf_get_i64(g, "test.i8", &i64) == PLMM_OK && i64 == -5);
    CHECK(plmm_gguf_get_i64(g, "test.i16", &i64) == PLMM_OK && i64 == -30000);
    CHECK(plmm_gguf_get_i64(g, "test.i32", &i64) == PLMM_OK && i64 == -7);
    CHECK(plmm_gguf_get_i64(g, "test.i64", &i64) == PLMM_OK && i64 == INT64_C(-5000000000));
    CHECK(plmm_gguf_get_i64(g, "test.u64", &i64) == PLMM_OK && i64 == INT64_C(5000000000));
    CHECK(plmm_gguf_get_i64(g, "test.u8", &i64) == PLMM_OK && i64 == 200);
    CHECK(plmm_gguf_get_i64(g, "test.bool", &i64) == PLMM_ERR_FORMAT);
    CHECK(plmm_gguf_get_i64(g, "test.arr_i32", &i64) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "has type array");
    CHECK(plmm_gguf_get_f32(g, "test.f32", &f) == PLMM_OK && f == 1.5f);
    CHECK(plmm_gguf_get_f32(g, "test.f64", &f) == PLMM_OK && f == 0.25f);
    CHECK(plmm_gguf_get_f32(g, "test.f64_big", &f) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "does not fit in f32");
    CHECK(plmm_gguf_get_f32(g, "test.u8", &f) == PLMM_ERR_FORMAT);
    CHECK(plmm_gguf_get_bool(g, "test.bool", &bo) == PLMM_OK && bo);
    CHECK(plmm_gguf_get_bool(g, "test.u8", &bo) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "key 'test.u8' has type u8, expected bool");
    CHECK(plmm_gguf_get_string(g, "general.architecture", buf, sizeof(buf)) == PLMM_OK);
    CHECK(strcmp(buf, "llama") == 0);
    CHECK(plmm_gguf_get_string(g, "general.architecture", buf, 6) == PLMM_OK);
    CHECK(plmm_gguf_get_string(g, "general.architecture", buf, 5) == PLMM_ERR_RANGE);
    CHECK(plmm_gguf_get_string(g, "test.u8", buf, sizeof(buf)) == PLMM_ERR_FORMAT);
    CHECK(plmm_gguf_get_string(g, "nope", buf, sizeof(buf)) == PLMM_ERR_NOT_FOUND);

    /* tensors */
    CHECK(plmm_gguf_n_tensors(g) == N_TENSORS);
    CHECK(plmm_gguf_tensor_at(g, N_TENSORS) == NULL);
    CHECK(plmm_gguf_find_tensor(g, "nope") == NULL);
    const uint8_t *base = plmm_gguf_file_data(g);
    for (unsigned t = 0; t < N_TENSORS; t++) {
        const tspec *ts = &tensor_table[t];
        const plmm_gguf_tensor *gt = plmm_gguf_tensor_at(g, t);
        CHECK(gt != NULL && plmm_gguf_find_tensor(g, ts->name) == gt);
        CHECK(strcmp(gt->name, ts->name) == 0);
        CHECK(gt->dtype == ts->dtype && gt->n_dims == ts->n_dims);
        for (int d = 0; d < 4; d++)
            CHECK(gt->ne[d] == (int64_t)ts->ne[d]);
        CHECK(gt->offset == L->t_rel[t]);
        CHECK(gt->size == tensor_bytes(ts));
        CHECK((const uint8_t *)gt->data == base + L->data + L->t_rel[t]);
        CHECK(((const uint8_t *)gt->data)[1] == (uint8_t)(t * 31 + 7 + 1));
    }
}

static void test_valid(void)
{
    wbuf b = {0};
    layout L;
    plmm_gguf *g = NULL;
    uint8_t *copy = NULL;

    build(&b, &L, &full_opts);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    if (g != NULL)
        check_full_file(g, &L, &b, "<memory>");
    plmm_gguf_close(g);
    free(copy);

    /* version 2, a 64-byte alignment */
    build_opts o = full_opts;
    o.version = 2;
    o.alignment = 64;
    build(&b, &L, &o);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    if (g != NULL) {
        CHECK(plmm_gguf_version(g) == 2);
        CHECK(plmm_gguf_alignment(g) == 64);
        CHECK(plmm_gguf_data_offset(g) % 64 == 0 && plmm_gguf_data_offset(g) == L.data);
        CHECK(plmm_gguf_tensor_at(g, 1)->offset == 64);
    }
    plmm_gguf_close(g);
    free(copy);

    /* no general.alignment: default 32 */
    o = full_opts;
    o.kv_mask &= ~KV_BIT(KV_ALIGN);
    build(&b, &L, &o);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    if (g != NULL)
        CHECK(plmm_gguf_alignment(g) == 32 && plmm_gguf_n_kv(g) == KV_COUNT - 1);
    plmm_gguf_close(g);
    free(copy);

    /* vocab-only: no tensors and no final padding; data offset is the size */
    o = full_opts;
    o.n_tensors = 0;
    build(&b, &L, &o);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    if (g != NULL) {
        CHECK(plmm_gguf_n_tensors(g) == 0 && plmm_gguf_tensor_at(g, 0) == NULL);
        CHECK(plmm_gguf_find_tensor(g, "blk.0.attn_q.weight") == NULL);
        CHECK(plmm_gguf_data_offset(g) == b.len);
    }
    plmm_gguf_close(g);
    free(copy);

    /* no keys, no tensors: the 24-byte header alone */
    o = full_opts;
    o.n_tensors = 0;
    o.kv_mask = 0;
    build(&b, &L, &o);
    CHECK(b.len == 24);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    if (g != NULL) {
        CHECK(plmm_gguf_n_kv(g) == 0 && plmm_gguf_find_key(g, "x") == -1);
        CHECK(plmm_gguf_key(g, 0) == NULL);
    }
    plmm_gguf_close(g);
    free(copy);

    /* trailing bytes after the data are allowed */
    build(&b, &L, &full_opts);
    put(&b, "tail", 4);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_OK);
    plmm_gguf_close(g);
    free(copy);

    plmm_gguf_close(NULL);
    free(b.p);
}

/* ---- hostile files: one field mutated at a time ---- */

typedef enum field {
    F_MAGIC,
    F_VERSION,
    F_N_TENSORS,
    F_N_KV,
    F_KEY_LEN,  /* idx: KV_*; extra: byte offset when >0 for F_KEY_BYTE */
    F_KEY_BYTE, /* extra: index inside the key */
    F_KV_TYPE,
    F_KV_VAL,   /* scalar value, string length prefix, or array element type */
    F_ARR_LEN,  /* array element count */
    F_ARR_ELEM, /* extra: element index (strings: its length prefix) */
    F_T_NAME_LEN,
    F_T_NAME_BYTE,
    F_T_NDIMS,
    F_T_NE, /* extra: dimension */
    F_T_TYPE,
    F_T_OFFSET,
} field;

typedef struct mut_case {
    const char *label; /* also the corpus file name */
    field field;
    int idx;
    unsigned extra;
    unsigned width;
    uint64_t value;
    const char *needle; /* expected substring of the message */
} mut_case;

static const mut_case mut_cases[] = {
    {"magic", F_MAGIC, 0, 0, 4, 0x58554747, "bad magic 47 47 55 58, expected \"GGUF\""},
    {"version-1", F_VERSION, 0, 0, 4, 1, "unsupported version 1 (expected 2 or 3)"},
    {"version-4", F_VERSION, 0, 0, 4, 4, "unsupported version 4"},
    {"big-endian", F_VERSION, 0, 0, 4, 0x03000000, "big-endian file (version 3) is not supported"},
    {"n-kv-huge", F_N_KV, 0, 0, 8, UINT64_MAX, "n_kv 18446744073709551615 cannot fit"},
    {"n-kv-large", F_N_KV, 0, 0, 8, UINT64_C(1) << 32, "n_kv 4294967296 cannot fit"},
    {"n-tensors-huge", F_N_TENSORS, 0, 0, 8, UINT64_MAX, "n_tensors 18446744073709551615"},
    {"n-tensors-large", F_N_TENSORS, 0, 0, 8, 1000, "n_tensors 1000 cannot fit"},
    {"key-len-huge", F_KEY_LEN, KV_BLOCKS, 0, 8, UINT64_MAX,
     "key #2: key length 18446744073709551615 at offset"},
    {"key-len-past-end", F_KEY_LEN, KV_U8, 0, 8, 100000, "key length 100000"},
    {"key-empty", F_KEY_LEN, KV_BLOCKS, 0, 8, 0, "key #2: empty key"},
    {"key-nul", F_KEY_BYTE, KV_BLOCKS, 3, 1, 0, "key #2: key at offset"},
    {"dup-key", F_KEY_BYTE, KV_I8, 5, 1, 'u', "key 'test.u8': duplicate key"},
    {"kv-type-unknown", F_KV_TYPE, KV_U8, 0, 4, 13, "key 'test.u8': unknown value type 13"},
    {"kv-type-max", F_KV_TYPE, KV_BLOCKS, 0, 4, UINT32_MAX, "unknown value type 4294967295"},
    {"string-len-huge", F_KV_VAL, KV_ARCH, 0, 8, UINT64_C(1) << 60,
     "key 'general.architecture': string value length 1152921504606846976"},
    {"bool-2", F_KV_VAL, KV_BOOL, 0, 1, 2, "key 'test.bool': bool value 2 at offset"},
    {"bool-255", F_KV_VAL, KV_BOOL, 0, 1, 255, "bool value 255"},
    {"nested-array", F_KV_VAL, KV_ARR_BOOL, 0, 4, PLMM_GGUF_ARRAY,
     "key 'test.arr_bool': nested arrays are not supported"},
    {"array-type-unknown", F_KV_VAL, KV_ARR_I32, 0, 4, 77, "unknown array element type 77"},
    {"array-len-huge", F_ARR_LEN, KV_ARR_I32, 0, 8, UINT64_MAX / 2,
     "array of 9223372036854775807 i32"},
    {"array-len-past-end", F_ARR_LEN, KV_ARR_BOOL, 0, 8, 5000, "array of 5000 bool"},
    {"str-array-len-huge", F_ARR_LEN, KV_ARR_STR, 0, 8, UINT64_C(1) << 62,
     "array of 4611686018427387904 strings"},
    {"str-elem-len-huge", F_ARR_ELEM, KV_ARR_STR, 1, 8, UINT64_MAX - 3,
     "key 'tokenizer.ggml.tokens': string element 1 length 18446744073709551612"},
    {"bool-array-2", F_ARR_ELEM, KV_ARR_BOOL, 1, 1, 2, "bool element 1 (value 2)"},
    {"alignment-48", F_KV_VAL, KV_ALIGN, 0, 4, 48,
     "key 'general.alignment': alignment 48 is not a power of two"},
    {"alignment-0", F_KV_VAL, KV_ALIGN, 0, 4, 0, "alignment 0 is not a power of two"},
    {"alignment-type", F_KV_TYPE, KV_ALIGN, 0, 4, PLMM_GGUF_INT32,
     "key 'general.alignment': has type i32, expected u32"},
    {"tensor-name-len-huge", F_T_NAME_LEN, 1, 0, 8, UINT64_MAX, "tensor #1: tensor name length"},
    {"tensor-name-empty", F_T_NAME_LEN, 0, 0, 8, 0, "tensor #0: empty tensor name"},
    {"tensor-name-nul", F_T_NAME_BYTE, 2, 0, 1, 0, "tensor #2: tensor name at offset"},
    {"n-dims-0", F_T_NDIMS, 0, 0, 4, 0, "tensor 'blk.0.attn_q.weight': n_dims 0 is not in 1..4"},
    {"n-dims-5", F_T_NDIMS, 1, 0, 4, 5, "tensor 'blk.0.attn_k.weight': n_dims 5 is not in 1..4"},
    {"n-dims-huge", F_T_NDIMS, 2, 0, 4, UINT32_MAX, "n_dims 4294967295"},
    {"dim-0", F_T_NE, 0, 1, 8, 0, "dimension 1 is 0, must be positive"},
    {"dim-negative", F_T_NE, 0, 0, 8, UINT64_C(1) << 63, "dimension 0 is -9223372036854775808"},
    {"elements-overflow", F_T_NE, 0, 0, 8, UINT64_C(1) << 62,
     "tensor 'blk.0.attn_q.weight': element count overflows at dimension 1"},
    {"bytes-overflow", F_T_NE, 0, 0, 8, UINT64_C(1) << 61, "byte size overflows"},
    {"dim-large", F_T_NE, 2, 0, 8, UINT64_C(1) << 40, "tensor 'output_norm.weight': data ["},
    {"dtype-unknown", F_T_TYPE, 0, 0, 4, 4, "tensor 'blk.0.attn_q.weight': unknown tensor type 4"},
    {"dtype-huge", F_T_TYPE, 1, 0, 4, 1000, "unknown tensor type 1000"},
    {"row-not-blocks", F_T_NE, 1, 0, 8, 48,
     "row length 48 is not a multiple of the q8_0 block size 32"},
    {"offset-unaligned", F_T_OFFSET, 1, 0, 8, 33,
     "tensor 'blk.0.attn_k.weight': data offset 33 is not a multiple of the alignment 32"},
    {"offset-past-end", F_T_OFFSET, 2, 0, 8, UINT64_C(1) << 40,
     "data offset 1099511627776 is past"},
    {"offset-max", F_T_OFFSET, 2, 0, 8, UINT64_MAX & ~UINT64_C(31), "is past the end of the file"},
    {"data-past-end", F_T_OFFSET, 1, 0, 8, 96, "tensor 'blk.0.attn_k.weight': data ["},
    {"overlap", F_T_OFFSET, 1, 0, 8, 0, "overlaps tensor 'blk.0.attn_k.weight' at ["},
    {"overlap-tail", F_T_OFFSET, 2, 0, 8, 96, "overlaps tensor 'output_norm.weight'"},
    {"dup-tensor", F_T_NAME_BYTE, 1, 11, 1, 'q',
     "tensor 'blk.0.attn_q.weight': duplicate tensor name"},
};
#define N_MUT_CASES (sizeof(mut_cases) / sizeof(mut_cases[0]))

/* Offset of the field a case patches, or 0 when the file lacks it. */
static size_t field_offset(const layout *L, const mut_case *c)
{
    switch (c->field) {
    case F_MAGIC:
        return 0;
    case F_VERSION:
        return 4;
    case F_N_TENSORS:
        return 8;
    case F_N_KV:
        return 16;
    case F_KEY_LEN:
        return L->kv_key[c->idx];
    case F_KEY_BYTE:
        return L->kv_key[c->idx] ? L->kv_key[c->idx] + 8 + c->extra : 0;
    case F_KV_TYPE:
        return L->kv_type[c->idx];
    case F_KV_VAL:
        return L->kv_val[c->idx];
    case F_ARR_LEN:
        return L->kv_val[c->idx] ? L->kv_val[c->idx] + 4 : 0;
    case F_ARR_ELEM:
        return L->kv_elem[c->idx][c->extra];
    case F_T_NAME_LEN:
        return L->t_name[c->idx];
    case F_T_NAME_BYTE:
        return L->t_name[c->idx] ? L->t_name[c->idx] + 8 + c->extra : 0;
    case F_T_NDIMS:
        return L->t_ndims[c->idx];
    case F_T_NE:
        return L->t_ne[c->idx] ? L->t_ne[c->idx] + 8 * c->extra : 0;
    case F_T_TYPE:
        return L->t_type[c->idx];
    case F_T_OFFSET:
        return L->t_offset[c->idx];
    }
    return 0;
}

static bool apply_case(wbuf *b, const layout *L, const mut_case *c)
{
    size_t off = field_offset(L, c);
    if (off == 0 && c->field != F_MAGIC)
        return false;
    patch_le(b->p, off, c->value, c->width);
    return true;
}

static void test_hostile(void)
{
    wbuf b = {0};
    layout L;
    for (size_t k = 0; k < N_MUT_CASES; k++) {
        const mut_case *c = &mut_cases[k];
        build(&b, &L, &full_opts);
        CHECK_MSG(apply_case(&b, &L, c), "%s: field not in file", c->label);
        plmm_gguf *g = (plmm_gguf *)&b; /* must be reset to NULL on failure */
        uint8_t *copy = NULL;
        plmm_err_clear();
        plmm_status s = open_copy(b.p, b.len, &g, &copy);
        CHECK_MSG(s == PLMM_ERR_FORMAT, "%s: status %d (%s)", c->label, (int)s, plmm_last_errmsg());
        CHECK_MSG(g == NULL, "%s: out not NULL", c->label);
        CHECK_CONTAINS(plmm_last_errmsg(), "gguf '<memory>': ");
        CHECK_CONTAINS(plmm_last_errmsg(), c->needle);
        if (getenv("PLMM_TEST_VERBOSE") != NULL)
            printf("%-22s %s\n", c->label, plmm_last_errmsg());
        if (s == PLMM_OK)
            plmm_gguf_close(g);
        free(copy);
    }

    /* names with control bytes are shown as '?' in messages */
    build(&b, &L, &full_opts);
    b.p[L.t_name[0] + 8] = 0x1b;
    patch_le(b.p, L.t_ndims[0], 0, 4);
    plmm_gguf *g = NULL;
    uint8_t *copy = NULL;
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "tensor '?lk.0.attn_q.weight': n_dims 0");
    free(copy);

    /* n_kv one too many: the first tensor entry is read as a key */
    build(&b, &L, &full_opts);
    patch_le(b.p, 16, KV_COUNT + 1, 8);
    CHECK(open_copy(b.p, b.len, &g, &copy) == PLMM_ERR_FORMAT && g == NULL);
    free(copy);

    /* bad arguments */
    CHECK(plmm_gguf_open_memory(NULL, 10, &g) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_gguf_open_memory(b.p, b.len, NULL) == PLMM_ERR_INVALID_ARG);
    CHECK(plmm_gguf_open_memory(NULL, 0, &g) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "gguf '<memory>': truncated reading magic at offset 0");
    CHECK(plmm_gguf_open(NULL, &g) == PLMM_ERR_INVALID_ARG);
    free(b.p);
}

/* ---- truncation at every length ---- */

static void truncate_all(const build_opts *o, const char *label)
{
    wbuf b = {0};
    layout L;
    build(&b, &L, o);
    int bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        plmm_gguf *g = NULL;
        uint8_t *copy = NULL;
        plmm_status s = open_copy(b.p, n, &g, &copy);
        if (s != PLMM_ERR_FORMAT || g != NULL ||
            strncmp(plmm_last_errmsg(), "gguf '<memory>': ", 17) != 0) {
            if (bad++ < 5)
                fprintf(stderr, "%s: truncated at %zu: status %d '%s'\n", label, n, (int)s,
                        plmm_last_errmsg());
        }
        if (s == PLMM_OK)
            plmm_gguf_close(g);
        free(copy);
    }
    CHECK_MSG(bad == 0, "%s: %d of %zu truncations not rejected", label, bad, b.len);
    free(b.p);
}

static void test_truncation(void)
{
    truncate_all(&full_opts, "full");
    build_opts o = full_opts;
    o.version = 2;
    o.alignment = 64;
    truncate_all(&o, "v2-align64");
    o = full_opts;
    o.n_tensors = 0;
    truncate_all(&o, "no-tensors");

    /* a few messages at known places */
    wbuf b = {0};
    layout L;
    build(&b, &L, &full_opts);
    plmm_gguf *g = NULL;
    uint8_t *copy = NULL;
    CHECK(open_copy(b.p, 10, &g, &copy) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(),
                   "gguf '<memory>': truncated reading n_tensors at offset 8 (needs 8 bytes, 2 "
                   "left)");
    free(copy);
    CHECK(open_copy(b.p, b.len - 1, &g, &copy) == PLMM_ERR_FORMAT);
    CHECK_CONTAINS(plmm_last_errmsg(), "tensor 'output_norm.weight': data [");
    CHECK_CONTAINS(plmm_last_errmsg(), "exceeds file size");
    free(copy);
    free(b.p);
}

/* ---- files on disk ---- */

static bool write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void test_files(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/test-gguf-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        CHECK_MSG(false, "mkdtemp %s: %s", dir, strerror(errno));
        return;
    }
    wbuf b = {0};
    layout L;
    build(&b, &L, &full_opts);
    plmm_gguf *g = NULL;

    snprintf(path, sizeof(path), "%s/ok.gguf", dir);
    CHECK(write_file(path, b.p, b.len));
    CHECK(plmm_gguf_open(path, &g) == PLMM_OK);
    if (g != NULL)
        check_full_file(g, &L, &b, path);
    plmm_gguf_close(g);

    snprintf(path, sizeof(path), "%s/trunc.gguf", dir);
    CHECK(write_file(path, b.p, b.len - 3));
    CHECK(plmm_gguf_open(path, &g) == PLMM_ERR_FORMAT && g == NULL);
    char want[4400];
    snprintf(want, sizeof(want), "gguf '%s': tensor 'output_norm.weight': data [", path);
    CHECK_CONTAINS(plmm_last_errmsg(), want);
    unlink(path);

    snprintf(path, sizeof(path), "%s/empty.gguf", dir);
    CHECK(write_file(path, "", 0));
    CHECK(plmm_gguf_open(path, &g) == PLMM_ERR_FORMAT && g == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "truncated reading magic at offset 0");
    unlink(path);

    snprintf(path, sizeof(path), "%s/missing.gguf", dir);
    CHECK(plmm_gguf_open(path, &g) == PLMM_ERR_IO && g == NULL);
    snprintf(want, sizeof(want), "gguf '%s': cannot open: ", path);
    CHECK_CONTAINS(plmm_last_errmsg(), want);

    CHECK(plmm_gguf_open(dir, &g) == PLMM_ERR_IO && g == NULL);
    CHECK_CONTAINS(plmm_last_errmsg(), "not a regular file");

    snprintf(path, sizeof(path), "%s/ok.gguf", dir);
    unlink(path);
    rmdir(dir);
    free(b.p);
}

/* ---- real files ---- */

/* Header facts taken with an independent reader (n_tensors, n_kv). */
static const struct {
    const char *file;
    uint64_t n_tensors, n_kv;
} known_files[] = {
    {"stories260K-F32.gguf", 48, 19},    {"stories260K-F16.gguf", 48, 21},
    {"stories260K-Q4_0.gguf", 48, 21},   {"stories260K-Q8_0.gguf", 48, 21},
    {"synth-bpe-7M-Q8_0.gguf", 38, 21},  {"synth-kq-20M-Q4_K_M.gguf", 39, 24},
    {"synth-spm-15M-Q4_0.gguf", 56, 24}, {"ggml-vocab-llama-spm.gguf", 0, 22},
    {"ggml-vocab-gpt-2.gguf", 0, 16},
};

static void check_real_file(const char *path, const char *file, bool vocab_dir)
{
    plmm_gguf *g = NULL;
    plmm_status s = plmm_gguf_open(path, &g);
    CHECK_MSG(s == PLMM_OK, "%s: %s", path, plmm_last_errmsg());
    if (s != PLMM_OK)
        return;
    uint64_t size = plmm_gguf_file_size(g), doff = plmm_gguf_data_offset(g);
    uint64_t align = plmm_gguf_alignment(g);
    const uint8_t *base = plmm_gguf_file_data(g);
    CHECK(plmm_gguf_version(g) == 2 || plmm_gguf_version(g) == 3);
    CHECK(align > 0 && (align & (align - 1)) == 0);
    CHECK(doff <= size);
    CHECK(vocab_dir ? plmm_gguf_n_tensors(g) == 0 : plmm_gguf_n_tensors(g) > 0);
    for (size_t k = 0; k < sizeof(known_files) / sizeof(known_files[0]); k++) {
        if (strcmp(known_files[k].file, file) == 0) {
            CHECK_MSG(plmm_gguf_n_tensors(g) == known_files[k].n_tensors, "%s", file);
            CHECK_MSG(plmm_gguf_n_kv(g) == known_files[k].n_kv, "%s", file);
        }
    }

    int bad = 0;
    for (uint64_t i = 0; i < plmm_gguf_n_kv(g); i++) {
        const char *key = plmm_gguf_key(g, i);
        bad += plmm_gguf_find_key(g, key) != (int64_t)i;
        if (plmm_gguf_kv_type(g, i) == PLMM_GGUF_ARRAY &&
            plmm_gguf_arr_type(g, i) == PLMM_GGUF_STRING) {
            for (uint64_t j = 0; j < plmm_gguf_arr_len(g, i); j++) {
                plmm_gguf_str str = plmm_gguf_arr_str(g, i, j);
                bad += str.ptr == NULL || (const uint8_t *)str.ptr < base ||
                       (const uint8_t *)str.ptr + str.len > base + size;
            }
        }
    }
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < plmm_gguf_n_tensors(g); i++) {
        const plmm_gguf_tensor *t = plmm_gguf_tensor_at(g, i);
        uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        bad += plmm_gguf_find_tensor(g, t->name) != t;
        bad += (const uint8_t *)t->data != base + doff + t->offset;
        bad += t->offset % align != 0;
        bad += t->size != plmm_dtype_row_bytes(t->dtype, t->ne[0]) * rows;
        bad += t->offset > size - doff || t->size > size - doff - t->offset;
        /* writers lay tensors out in table order */
        bad += t->offset < prev_end;
        prev_end = t->offset + t->size;
    }
    CHECK_MSG(bad == 0, "%s: %d inconsistencies", path, bad);

    if (strcmp(file, "stories260K-F32.gguf") == 0) {
        char arch[32];
        uint32_t u = 0;
        float eps = 0;
        CHECK(plmm_gguf_version(g) == 3 && align == 32);
        CHECK(plmm_gguf_get_string(g, "general.architecture", arch, sizeof(arch)) == PLMM_OK);
        CHECK(strcmp(arch, "llama") == 0);
        CHECK(plmm_gguf_get_u32(g, "llama.block_count", &u) == PLMM_OK && u == 5);
        CHECK(plmm_gguf_get_u32(g, "llama.context_length", &u) == PLMM_OK && u == 2048);
        CHECK(plmm_gguf_get_u32(g, "llama.embedding_length", &u) == PLMM_OK && u == 64);
        CHECK(plmm_gguf_get_u32(g, "llama.feed_forward_length", &u) == PLMM_OK && u == 172);
        CHECK(plmm_gguf_get_u32(g, "llama.attention.head_count", &u) == PLMM_OK && u == 8);
        CHECK(plmm_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == PLMM_OK && u == 4);
        CHECK(plmm_gguf_get_u32(g, "llama.rope.dimension_count", &u) == PLMM_OK && u == 8);
        CHECK(plmm_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u) == PLMM_OK && u == 1);
        CHECK(plmm_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) == PLMM_OK && u == 2);
        CHECK(plmm_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps) == PLMM_OK);
        CHECK(fabsf(eps - 1e-5f) < 1e-9f);
        CHECK(plmm_gguf_find_key(g, "llama.rope.freq_base") == -1);
        int64_t ti = plmm_gguf_find_key(g, "tokenizer.ggml.tokens");
        CHECK(ti >= 0 && plmm_gguf_kv_type(g, (uint64_t)ti) == PLMM_GGUF_ARRAY);
        CHECK(plmm_gguf_arr_type(g, (uint64_t)ti) == PLMM_GGUF_STRING);
        CHECK(plmm_gguf_arr_len(g, (uint64_t)ti) == 512);
        plmm_gguf_str s3 = plmm_gguf_arr_str(g, (uint64_t)ti, 3);
        CHECK(s3.len == 6 && memcmp(s3.ptr, "<0x00>", 6) == 0);
        int64_t si = plmm_gguf_find_key(g, "tokenizer.ggml.scores");
        CHECK(si >= 0 && plmm_gguf_arr_type(g, (uint64_t)si) == PLMM_GGUF_FLOAT32 &&
              plmm_gguf_arr_len(g, (uint64_t)si) == 512);
        const plmm_gguf_tensor *emb = plmm_gguf_find_tensor(g, "token_embd.weight");
        CHECK(emb != NULL && emb->dtype == PLMM_DTYPE_F32 && emb->n_dims == 2);
        CHECK(emb != NULL && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->size == 64 * 512 * 4);
        const plmm_gguf_tensor *down = plmm_gguf_find_tensor(g, "blk.4.ffn_down.weight");
        CHECK(down != NULL && down->ne[0] == 172 && down->ne[1] == 64);
        CHECK(plmm_gguf_find_tensor(g, "output.weight") != NULL);
    }
    if (strcmp(file, "stories260K-Q4_0.gguf") == 0) {
        const plmm_gguf_tensor *q = plmm_gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(q != NULL && q->dtype == PLMM_DTYPE_Q4_0 && q->size == 64 * 64 / 32 * 18);
        const plmm_gguf_tensor *down = plmm_gguf_find_tensor(g, "blk.0.ffn_down.weight");
        CHECK(down != NULL && down->dtype == PLMM_DTYPE_F16);
    }
    if (strcmp(file, "synth-kq-20M-Q4_K_M.gguf") == 0) {
        unsigned n_q4k = 0, n_q6k = 0, n_f32 = 0;
        for (uint64_t i = 0; i < plmm_gguf_n_tensors(g); i++) {
            uint32_t t = plmm_gguf_tensor_at(g, i)->dtype;
            n_q4k += t == PLMM_DTYPE_Q4_K;
            n_q6k += t == PLMM_DTYPE_Q6_K;
            n_f32 += t == PLMM_DTYPE_F32;
        }
        CHECK(n_q4k == 25 && n_q6k == 5 && n_f32 == 9);
    }
    plmm_gguf_close(g);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open every .gguf in dir; returns how many. */
static unsigned check_real_dir(const char *dir, bool vocab_dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char *names[256];
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (unsigned i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        check_real_file(path, names[i], vocab_dir);
        free(names[i]);
    }
    return n;
}

static void test_real_files(void)
{
    const char *shared = test_shared_dir();
    if (shared == NULL) {
        printf("SKIP: real GGUF files: PLMM_SHARED_DIR unset or without models/\n");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/models", shared);
    unsigned n = check_real_dir(dir, false);
    snprintf(dir, sizeof(dir), "%s/models/vocab", shared);
    unsigned nv = check_real_dir(dir, true);
    printf("real GGUF files: %u models, %u vocab files\n", n, nv);
    CHECK(n > 0);
}

/* The committed fuzz seeds keep their meaning: valid-* open, the rest fail. */
static void test_seed_corpus(void)
{
    const char *src = getenv("PLMM_SOURCE_DIR");
    char dir[4096];
    if (src == NULL) {
        printf("SKIP: seed corpus: PLMM_SOURCE_DIR unset\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/gguf", src);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (d == NULL)
        return;
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        plmm_gguf *g = NULL;
        plmm_status s = plmm_gguf_open(path, &g);
        if (strncmp(e->d_name, "valid-", 6) == 0)
            CHECK_MSG(s == PLMM_OK, "%s: %s", e->d_name, plmm_last_errmsg());
        else
            CHECK_MSG(s == PLMM_ERR_FORMAT, "%s: status %d", e->d_name, (int)s);
        plmm_gguf_close(g);
        n++;
    }
    closedir(d);
    CHECK(n > 0);
}

/* ---- corpus writer ---- */

static int write_corpus(const char *dir)
{
    static const char *const picks[] = {
        "magic",          "big-endian",        "n-kv-huge",    "dup-key",      "kv-type-unknown",
        "nested-array",   "str-elem-len-huge", "bool-array-2", "alignment-48", "elements-overflow",
        "row-not-blocks", "overlap",           "dup-tensor",
    };
    wbuf b = {0};
    layout L;
    char path[4096];
    int rc = 0;

    build_opts o = minimal_opts;
    build(&b, &L, &o);
    snprintf(path, sizeof(path), "%s/valid-v3.gguf", dir);
    rc |= !write_file(path, b.p, b.len);
    snprintf(path, sizeof(path), "%s/trunc-tensors.gguf", dir);
    rc |= !write_file(path, b.p, L.t_name[1] + 5);
    o.version = 2;
    o.alignment = 64;
    build(&b, &L, &o);
    snprintf(path, sizeof(path), "%s/valid-v2-align64.gguf", dir);
    rc |= !write_file(path, b.p, b.len);
    o = minimal_opts;
    o.n_tensors = 0;
    build(&b, &L, &o);
    snprintf(path, sizeof(path), "%s/valid-no-tensors.gguf", dir);
    rc |= !write_file(path, b.p, b.len);

    for (size_t p = 0; p < sizeof(picks) / sizeof(picks[0]); p++) {
        for (size_t k = 0; k < N_MUT_CASES; k++) {
            if (strcmp(mut_cases[k].label, picks[p]) != 0)
                continue;
            build(&b, &L, &minimal_opts);
            if (!apply_case(&b, &L, &mut_cases[k])) {
                fprintf(stderr, "corpus: %s does not apply to the minimal file\n", picks[p]);
                rc = 1;
                continue;
            }
            snprintf(path, sizeof(path), "%s/bad-%s.gguf", dir, picks[p]);
            rc |= !write_file(path, b.p, b.len);
        }
    }
    free(b.p);
    if (rc)
        fprintf(stderr, "corpus: cannot write into %s\n", dir);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    test_valid();
    test_hostile();
    test_truncation();
    test_files();
    test_seed_corpus();
    test_real_files();
    return test_summary("gguf");
}
