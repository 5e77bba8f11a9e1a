#include "gguf.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Layout (all integers little-endian):
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv x { string key, u32 type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 dtype, u64 offset }
 *   padding to the alignment, then the data section; tensor offsets are
 *   relative to its start.
 * A string is u64 length + bytes; an array is u32 type + u64 count + elements.
 */

#define DEFAULT_ALIGNMENT 32u
#define HEADER_BYTES 24u
#define MAX_NAME_BYTES 65535u /* GGUF's limit on key length; applied to tensor names too */
/* Smallest encodings: a key entry (key length, type, one-byte value) and a
 * tensor entry (name length, n_dims, one dim, dtype, offset). They bound the
 * counts in the header by the bytes left before anything is allocated. */
#define MIN_KV_BYTES (8u + 4u + 1u)
#define MIN_TENSOR_BYTES (8u + 4u + 8u + 4u + 8u)

typedef struct gguf_kv {
    char *key;         /* owned, NUL-terminated */
    uint32_t type;     /* plmm_gguf_type */
    uint32_t arr_type; /* element type of an ARRAY, else 0 */
    uint64_t arr_len;  /* elements of an ARRAY, else 0 */
    uint64_t off;      /* file offset of the scalar, string bytes or first element */
    uint64_t len;      /* STRING: byte length */
    uint64_t *str_off; /* owned; string ARRAY: file offset of each length prefix */
} gguf_kv;

struct plmm_gguf {
    const uint8_t *base; /* mapping or borrowed image */
    uint64_t size;
    bool mapped;
    char *name; /* owned: path or "<memory>" */
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    gguf_kv *kv;         /* owned, n_kv */
    gguf_kv **kv_sorted; /* owned, n_kv, by key */
    uint64_t n_tensors;
    plmm_gguf_tensor *tensors;         /* owned, n_tensors; names owned */
    plmm_gguf_tensor **tensors_sorted; /* owned, n_tensors, by name */
};

/* ---- little-endian decoding ---- */

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int64_t sign_extend(uint64_t v, unsigned bytes)
{
    if (bytes < 8 && (v >> (8 * bytes - 1)) & 1)
        v |= ~UINT64_C(0) << (8 * bytes);
    return (int64_t)v;
}

static float le_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)le(p, 4);
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static double le_f64(const uint8_t *p)
{
    uint64_t u = le(p, 8);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* ---- type tables ---- */

/* Raw type ids from the file stay uint32_t: an arbitrary value is never
 * converted to the enum. */
static uint32_t value_size(uint32_t t)
{
    switch (t) {
    case PLMM_GGUF_UINT8:
    case PLMM_GGUF_INT8:
    case PLMM_GGUF_BOOL:
        return 1;
    case PLMM_GGUF_UINT16:
    case PLMM_GGUF_INT16:
        return 2;
    case PLMM_GGUF_UINT32:
    case PLMM_GGUF_INT32:
    case PLMM_GGUF_FLOAT32:
        return 4;
    case PLMM_GGUF_UINT64:
    case PLMM_GGUF_INT64:
    case PLMM_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static const char *value_name(uint32_t t)
{
    static const char *const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

uint32_t plmm_gguf_type_size(plmm_gguf_type t)
{
    return (int)t < 0 ? 0 : value_size((uint32_t)t);
}

const char *plmm_gguf_type_name(plmm_gguf_type t)
{
    return (int)t < 0 ? "unknown" : value_name((uint32_t)t);
}

static bool type_signed(uint32_t t)
{
    return t == PLMM_GGUF_INT8 || t == PLMM_GGUF_INT16 || t == PLMM_GGUF_INT32 ||
           t == PLMM_GGUF_INT64;
}

static bool type_integer(uint32_t t)
{
    return type_signed(t) || t == PLMM_GGUF_UINT8 || t == PLMM_GGUF_UINT16 ||
           t == PLMM_GGUF_UINT32 || t == PLMM_GGUF_UINT64;
}

static const char *dtype_name(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32:
        return "f32";
    case PLMM_DTYPE_F16:
        return "f16";
    case PLMM_DTYPE_BF16:
        return "bf16";
    case PLMM_DTYPE_Q4_0:
        return "q4_0";
    case PLMM_DTYPE_Q4_1:
        return "q4_1";
    case PLMM_DTYPE_Q5_0:
        return "q5_0";
    case PLMM_DTYPE_Q5_1:
        return "q5_1";
    case PLMM_DTYPE_Q8_0:
        return "q8_0";
    case PLMM_DTYPE_Q8_1:
        return "q8_1";
    case PLMM_DTYPE_Q2_K:
        return "q2_k";
    case PLMM_DTYPE_Q3_K:
        return "q3_k";
    case PLMM_DTYPE_Q4_K:
        return "q4_k";
    case PLMM_DTYPE_Q5_K:
        return "q5_k";
    case PLMM_DTYPE_Q6_K:
        return "q6_k";
    case PLMM_DTYPE_Q8_K:
        return "q8_k";
    case PLMM_DTYPE_I8:
        return "i8";
    case PLMM_DTYPE_I16:
        return "i16";
    case PLMM_DTYPE_I32:
        return "i32";
    case PLMM_DTYPE_I64:
        return "i64";
    case PLMM_DTYPE_F64:
        return "f64";
    default:
        return "unknown";
    }
}

/* ---- parser ---- */

/* A cursor over the image. ctx names the entry being parsed ("key 'x'",
 * "tensor 'y'") for messages; empty while reading the header. */
typedef struct reader {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    const char *name;
    char ctx[128];
} reader;

static plmm_status fail(const reader *r, plmm_status status, const char *fmt, ...)
    PLMM_PRINTF(3, 4);

static plmm_status fail(const reader *r, plmm_status status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return plmm_err(status, "gguf '%s': %s%s%s", r->name, r->ctx, r->ctx[0] ? ": " : "", detail);
}

/* Set the message context to "<what> '<name>'", with control bytes shown as
 * '?' and long names cut, so hostile names cannot garble the message. */
static void set_ctx(reader *r, const char *what, const char *name)
{
    char clean[72];
    size_t n = 0;
    for (; name[n] != '\0' && n < 64; n++) {
        unsigned char c = (unsigned char)name[n];
        clean[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    clean[n] = '\0';
    snprintf(r->ctx, sizeof(r->ctx), "%s '%s%s'", what, clean, name[n] != '\0' ? "..." : "");
}

static uint64_t left(const reader *r)
{
    return r->size - r->pos;
}

static plmm_status need(const reader *r, uint64_t n, const char *what)
{
    if (n <= left(r))
        return PLMM_OK;
    return fail(r, PLMM_ERR_FORMAT,
                "truncated reading %s at offset %" PRIu64 " (needs %" PRIu64 " bytes, %" PRIu64
                " left)",
                what, r->pos, n, left(r));
}

static plmm_status read_u32(reader *r, const char *what, uint32_t *out)
{
    plmm_status s = need(r, 4, what);
    if (s != PLMM_OK)
        return s;
    *out = (uint32_t)le(r->p + r->pos, 4);
    r->pos += 4;
    return PLMM_OK;
}

static plmm_status read_u64(reader *r, const char *what, uint64_t *out)
{
    plmm_status s = need(r, 8, what);
    if (s != PLMM_OK)
        return s;
    *out = le(r->p + r->pos, 8);
    r->pos += 8;
    return PLMM_OK;
}

/* A string: length prefix then bytes, which must lie in the image. */
static plmm_status read_str(reader *r, const char *what, uint64_t *off, uint64_t *len)
{
    plmm_status s = read_u64(r, what, len);
    if (s != PLMM_OK)
        return s;
    if (*len > left(r))
        return fail(r, PLMM_ERR_FORMAT,
                    "%s length %" PRIu64 " at offset %" PRIu64 " exceeds the %" PRIu64
                    " bytes left",
                    what, *len, r->pos - 8, left(r));
    *off = r->pos;
    r->pos += *len;
    return PLMM_OK;
}

/* A key or tensor name, copied NUL-terminated: non-empty, no NUL bytes. */
static plmm_status read_name(reader *r, const char *what, char **out)
{
    uint64_t off = 0, len = 0;
    plmm_status s = read_str(r, what, &off, &len);
    if (s != PLMM_OK)
        return s;
    if (len == 0)
        return fail(r, PLMM_ERR_FORMAT, "empty %s at offset %" PRIu64, what, off);
    if (len > MAX_NAME_BYTES)
        return fail(r, PLMM_ERR_FORMAT,
                    "%s at offset %" PRIu64 " is %" PRIu64 " bytes long, limit %u", what, off, len,
                    MAX_NAME_BYTES);
    if (memchr(r->p + off, '\0', (size_t)len) != NULL)
        return fail(r, PLMM_ERR_FORMAT, "%s at offset %" PRIu64 " contains a NUL byte", what, off);
    char *name = malloc((size_t)len + 1);
    if (name == NULL)
        return fail(r, PLMM_ERR_NOMEM, "out of memory copying %s", what);
    memcpy(name, r->p + off, (size_t)len);
    name[len] = '\0';
    *out = name;
    return PLMM_OK;
}

static plmm_status check_bools(const reader *r, uint64_t off, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = r->p[off + i];
        if (b > 1) {
            if (n == 1)
                return fail(r, PLMM_ERR_FORMAT, "bool value %u at offset %" PRIu64 " is not 0 or 1",
                            b, off);
            return fail(r, PLMM_ERR_FORMAT,
                        "bool element %" PRIu64 " (value %u) at offset %" PRIu64 " is not 0 or 1",
                        i, b, off + i);
        }
    }
    return PLMM_OK;
}

static plmm_status parse_array(reader *r, gguf_kv *kv)
{
    uint32_t at;
    uint64_t n;
    plmm_status s = read_u32(r, "array element type", &at);
    if (s == PLMM_OK)
        s = read_u64(r, "array length", &n);
    if (s != PLMM_OK)
        return s;
    if (at == PLMM_GGUF_ARRAY)
        return fail(r, PLMM_ERR_FORMAT, "nested arrays are not supported");
    if (at != PLMM_GGUF_STRING && value_size(at) == 0)
        return fail(r, PLMM_ERR_FORMAT, "unknown array element type %" PRIu32, at);
    kv->arr_type = at;
    kv->off = r->pos;

    if (at != PLMM_GGUF_STRING) {
        uint32_t es = value_size(at);
        if (n > left(r) / es)
            return fail(r, PLMM_ERR_FORMAT,
                        "array of %" PRIu64 " %s at offset %" PRIu64 " exceeds the %" PRIu64
                        " bytes left",
                        n, value_name(at), r->pos, left(r));
        if (at == PLMM_GGUF_BOOL) {
            s = check_bools(r, r->pos, n);
            if (s != PLMM_OK)
                return s;
        }
        kv->arr_len = n;
        r->pos += n * es;
        return PLMM_OK;
    }

    /* Each string takes at least its 8-byte length, which bounds n. */
    if (n > left(r) / 8)
        return fail(r, PLMM_ERR_FORMAT,
                    "array of %" PRIu64 " strings at offset %" PRIu64 " exceeds the %" PRIu64
                    " bytes left",
                    n, r->pos, left(r));
    if (n > 0) {
        if (n > SIZE_MAX / sizeof(*kv->str_off))
            return fail(r, PLMM_ERR_NOMEM, "array of %" PRIu64 " strings is too large", n);
        kv->str_off = malloc((size_t)n * sizeof(*kv->str_off));
        if (kv->str_off == NULL)
            return fail(r, PLMM_ERR_NOMEM, "out of memory indexing %" PRIu64 " strings", n);
    }
    for (uint64_t j = 0; j < n; j++) {
        if (left(r) < 8)
            return fail(r, PLMM_ERR_FORMAT,
                        "truncated reading the length of string element %" PRIu64
                        " at offset %" PRIu64 " (%" PRIu64 " bytes left)",
                        j, r->pos, left(r));
        uint64_t len = le(r->p + r->pos, 8);
        if (len > left(r) - 8)
            return fail(r, PLMM_ERR_FORMAT,
                        "string element %" PRIu64 " length %" PRIu64 " at offset %" PRIu64
                        " exceeds the %" PRIu64 " bytes left",
                        j, len, r->pos, left(r) - 8);
        kv->str_off[j] = r->pos;
        r->pos += 8 + len;
    }
    kv->arr_len = n;
    return PLMM_OK;
}

static plmm_status parse_kv(reader *r, uint64_t i, gguf_kv *kv)
{
    snprintf(r->ctx, sizeof(r->ctx), "key #%" PRIu64, i);
    plmm_status s = read_name(r, "key", &kv->key);
    if (s != PLMM_OK)
        return s;
    set_ctx(r, "key", kv->key);
    s = read_u32(r, "value type", &kv->type);
    if (s != PLMM_OK)
        return s;
    switch (kv->type) {
    case PLMM_GGUF_STRING:
        return read_str(r, "string value", &kv->off, &kv->len);
    case PLMM_GGUF_ARRAY:
        return parse_array(r, kv);
    default:
        break;
    }
    uint32_t size = value_size(kv->type);
    if (size == 0)
        return fail(r, PLMM_ERR_FORMAT, "unknown value type %" PRIu32, kv->type);
    s = need(r, size, value_name(kv->type));
    if (s != PLMM_OK)
        return s;
    if (kv->type == PLMM_GGUF_BOOL) {
        s = check_bools(r, r->pos, 1);
        if (s != PLMM_OK)
            return s;
    }
    kv->off = r->pos;
    r->pos += size;
    return PLMM_OK;
}

static int cmp_kv_key(const void *a, const void *b)
{
    const gguf_kv *x = *(gguf_kv *const *)a, *y = *(gguf_kv *const *)b;
    return strcmp(x->key, y->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const plmm_gguf_tensor *x = *(plmm_gguf_tensor *const *)a;
    const plmm_gguf_tensor *y = *(plmm_gguf_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const plmm_gguf_tensor *x = *(plmm_gguf_tensor *const *)a;
    const plmm_gguf_tensor *y = *(plmm_gguf_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static plmm_status parse_kvs(plmm_gguf *g, reader *r)
{
    plmm_status s;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        s = parse_kv(r, i, &g->kv[i]);
        if (s != PLMM_OK)
            return s;
    }
    r->ctx[0] = '\0';

    for (uint64_t i = 0; i < g->n_kv; i++)
        g->kv_sorted[i] = &g->kv[i];
    if (g->n_kv > 1)
        qsort(g->kv_sorted, (size_t)g->n_kv, sizeof(*g->kv_sorted), cmp_kv_key);
    for (uint64_t i = 1; i < g->n_kv; i++) {
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0) {
            set_ctx(r, "key", g->kv_sorted[i]->key);
            return fail(r, PLMM_ERR_FORMAT, "duplicate key");
        }
    }

    g->alignment = DEFAULT_ALIGNMENT;
    int64_t ai = plmm_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        const gguf_kv *kv = &g->kv[ai];
        set_ctx(r, "key", kv->key);
        if (kv->type != PLMM_GGUF_UINT32)
            return fail(r, PLMM_ERR_FORMAT, "has type %s, expected u32", value_name(kv->type));
        uint32_t a = (uint32_t)le(g->base + kv->off, 4);
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(r, PLMM_ERR_FORMAT, "alignment %" PRIu32 " is not a power of two", a);
        g->alignment = a;
        r->ctx[0] = '\0';
    }
    return PLMM_OK;
}

/* One tensor-table entry: shape, dtype and size checks that need no other
 * entry; the placement in the data section is checked afterwards. */
static plmm_status parse_tensor(plmm_gguf *g, reader *r, uint64_t i, plmm_gguf_tensor *t)
{
    char *name = NULL;
    snprintf(r->ctx, sizeof(r->ctx), "tensor #%" PRIu64, i);
    plmm_status s = read_name(r, "tensor name", &name);
    if (s != PLMM_OK)
        return s;
    t->name = name;
    set_ctx(r, "tensor", name);

    s = read_u32(r, "n_dims", &t->n_dims);
    if (s != PLMM_OK)
        return s;
    if (t->n_dims < 1 || t->n_dims > PLMM_MAX_DIMS)
        return fail(r, PLMM_ERR_FORMAT, "n_dims %" PRIu32 " is not in 1..%d", t->n_dims,
                    PLMM_MAX_DIMS);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < PLMM_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims) {
            s = read_u64(r, "dimension", &ne);
            if (s != PLMM_OK)
                return s;
            if (ne == 0 || ne > (uint64_t)INT64_MAX)
                return fail(r, PLMM_ERR_FORMAT,
                            "dimension %" PRIu32 " is %" PRId64 ", must be positive", d,
                            (int64_t)ne);
            if (nelem > (uint64_t)INT64_MAX / ne)
                return fail(r, PLMM_ERR_FORMAT, "element count overflows at dimension %" PRIu32, d);
            nelem *= ne;
        }
        t->ne[d] = (int64_t)ne;
    }

    s = read_u32(r, "dtype", &t->dtype);
    if (s != PLMM_OK)
        return s;
    uint32_t be = plmm_dtype_block_elems(t->dtype);
    if (be == 0)
        return fail(r, PLMM_ERR_FORMAT, "unknown tensor type %" PRIu32, t->dtype);
    if ((uint64_t)t->ne[0] % be != 0)
        return fail(r, PLMM_ERR_FORMAT,
                    "row length %" PRId64 " is not a multiple of the %s block size %" PRIu32,
                    t->ne[0], dtype_name(t->dtype), be);
    /* bytes = (ne0 / block) * block_bytes * ne1 * ne2 * ne3, each step checked */
    uint64_t bytes = (uint64_t)t->ne[0] / be;
    uint64_t factors[PLMM_MAX_DIMS] = {plmm_dtype_block_bytes(t->dtype), (uint64_t)t->ne[1],
                                       (uint64_t)t->ne[2], (uint64_t)t->ne[3]};
    for (int k = 0; k < PLMM_MAX_DIMS; k++) {
        if (bytes > UINT64_MAX / factors[k])
            return fail(r, PLMM_ERR_FORMAT, "byte size overflows");
        bytes *= factors[k];
    }
    t->size = bytes;

    s = read_u64(r, "data offset", &t->offset);
    if (s != PLMM_OK)
        return s;
    if (t->offset % g->alignment != 0)
        return fail(r, PLMM_ERR_FORMAT,
                    "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                    t->offset, g->alignment);
    return PLMM_OK;
}

/* Every tensor's bytes inside the file, no two overlapping, names unique. */
static plmm_status place_tensors(plmm_gguf *g, reader *r)
{
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        plmm_gguf_tensor *t = &g->tensors[i];
        set_ctx(r, "tensor", t->name);
        if (t->offset > g->size - g->data_offset)
            return fail(r, PLMM_ERR_FORMAT,
                        "data offset %" PRIu64 " is past the end of the file (%" PRIu64
                        " bytes, data section at %" PRIu64 ")",
                        t->offset, g->size, g->data_offset);
        uint64_t start = g->data_offset + t->offset;
        if (t->size > g->size - start)
            return fail(r, PLMM_ERR_FORMAT,
                        "data [%" PRIu64 "..%" PRIu64 ") exceeds file size %" PRIu64, start,
                        start + t->size, g->size);
        t->data = g->base + start;
        g->tensors_sorted[i] = t;
    }
    r->ctx[0] = '\0';
    if (g->n_tensors < 2)
        return PLMM_OK;

    qsort(g->tensors_sorted, (size_t)g->n_tensors, sizeof(*g->tensors_sorted), cmp_tensor_offset);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const plmm_gguf_tensor *a = g->tensors_sorted[i - 1], *b = g->tensors_sorted[i];
        if (a->offset + a->size > b->offset) {
            set_ctx(r, "tensor", b->name);
            char other[128];
            memcpy(other, r->ctx, sizeof(other));
            set_ctx(r, "tensor", a->name);
            return fail(r, PLMM_ERR_FORMAT,
                        "data [%" PRIu64 "..%" PRIu64 ") overlaps %s at [%" PRIu64 "..%" PRIu64 ")",
                        g->data_offset + a->offset, g->data_offset + a->offset + a->size, other,
                        g->data_offset + b->offset, g->data_offset + b->offset + b->size);
        }
    }

    qsort(g->tensors_sorted, (size_t)g->n_tensors, sizeof(*g->tensors_sorted), cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        if (strcmp(g->tensors_sorted[i - 1]->name, g->tensors_sorted[i]->name) == 0) {
            set_ctx(r, "tensor", g->tensors_sorted[i]->name);
            return fail(r, PLMM_ERR_FORMAT, "duplicate tensor name");
        }
    }
    return PLMM_OK;
}

static plmm_status parse(plmm_gguf *g)
{
    reader r = {.p = g->base, .size = g->size, .pos = 0, .name = g->name, .ctx = ""};
    plmm_status s;

    s = need(&r, 4, "magic");
    if (s != PLMM_OK)
        return s;
    if (memcmp(g->base, "GGUF", 4) != 0)
        return fail(&r, PLMM_ERR_FORMAT, "bad magic %02x %02x %02x %02x, expected \"GGUF\"",
                    g->base[0], g->base[1], g->base[2], g->base[3]);
    r.pos = 4;
    s = read_u32(&r, "version", &g->version);
    if (s != PLMM_OK)
        return s;
    if (g->version != 2 && g->version != 3) {
        uint32_t swapped = (g->version >> 24) | ((g->version >> 8) & 0xff00u) |
                           ((g->version << 8) & 0xff0000u) | (g->version << 24);
        if (swapped == 2 || swapped == 3)
            return fail(&r, PLMM_ERR_FORMAT,
                        "big-endian file (version %" PRIu32 ") is not supported", swapped);
        return fail(&r, PLMM_ERR_FORMAT, "unsupported version %" PRIu32 " (expected 2 or 3)",
                    g->version);
    }
    s = read_u64(&r, "n_tensors", &g->n_tensors);
    if (s == PLMM_OK)
        s = read_u64(&r, "n_kv", &g->n_kv);
    if (s != PLMM_OK)
        return s;

    /* Bound both counts by the bytes left before allocating anything. */
    if (g->n_kv > left(&r) / MIN_KV_BYTES)
        return fail(&r, PLMM_ERR_FORMAT,
                    "n_kv %" PRIu64 " cannot fit in the %" PRIu64 " bytes left", g->n_kv, left(&r));
    if (g->n_tensors > (left(&r) - g->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return fail(&r, PLMM_ERR_FORMAT,
                    "n_tensors %" PRIu64 " cannot fit in the %" PRIu64 " bytes left with %" PRIu64
                    " keys",
                    g->n_tensors, left(&r), g->n_kv);
    /* Entry structs are a few times their smallest encoding, so these
     * allocations stay within a small multiple of the image size. */
    if (g->n_kv > SIZE_MAX / sizeof(*g->kv) || g->n_tensors > SIZE_MAX / sizeof(*g->tensors))
        return fail(&r, PLMM_ERR_NOMEM, "too many entries for this address space");
    if (g->n_kv > 0) {
        g->kv = calloc((size_t)g->n_kv, sizeof(*g->kv));
        g->kv_sorted = calloc((size_t)g->n_kv, sizeof(*g->kv_sorted));
        if (g->kv == NULL || g->kv_sorted == NULL)
            return fail(&r, PLMM_ERR_NOMEM, "out of memory for %" PRIu64 " keys", g->n_kv);
    }
    if (g->n_tensors > 0) {
        g->tensors = calloc((size_t)g->n_tensors, sizeof(*g->tensors));
        g->tensors_sorted = calloc((size_t)g->n_tensors, sizeof(*g->tensors_sorted));
        if (g->tensors == NULL || g->tensors_sorted == NULL)
            return fail(&r, PLMM_ERR_NOMEM, "out of memory for %" PRIu64 " tensors", g->n_tensors);
    }

    s = parse_kvs(g, &r);
    if (s != PLMM_OK)
        return s;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        s = parse_tensor(g, &r, i, &g->tensors[i]);
        if (s != PLMM_OK)
            return s;
    }
    r.ctx[0] = '\0';

    /* pos <= size and alignment <= 2^31, so this cannot wrap for any image
     * smaller than 2^63 bytes; check anyway. */
    uint64_t rem = r.pos % g->alignment;
    uint64_t pad = rem ? g->alignment - rem : 0;
    if (r.pos > UINT64_MAX - pad)
        return fail(&r, PLMM_ERR_FORMAT, "data section offset overflows");
    g->data_offset = r.pos + pad;
    if (g->data_offset > g->size) {
        if (g->n_tensors > 0)
            return fail(&r, PLMM_ERR_FORMAT,
                        "data section at offset %" PRIu64
                        " starts past the end of the file (%" PRIu64 " bytes)",
                        g->data_offset, g->size);
        g->data_offset = g->size; /* no tensors: the final padding may be omitted */
    }
    return place_tensors(g, &r);
}

/* ---- open / close ---- */

/* Base of an empty image, so that base is never NULL. */
static const uint8_t empty_image[1];

static plmm_status create(const char *name, plmm_gguf **out)
{
    plmm_gguf *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return plmm_err(PLMM_ERR_NOMEM, "gguf '%s': out of memory", name);
    size_t n = strlen(name);
    g->name = malloc(n + 1);
    if (g->name == NULL) {
        free(g);
        return plmm_err(PLMM_ERR_NOMEM, "gguf '%s': out of memory", name);
    }
    memcpy(g->name, name, n + 1);
    *out = g;
    return PLMM_OK;
}

plmm_status plmm_gguf_open_memory(const void *data, size_t size, plmm_gguf **out)
{
    if (out == NULL || (data == NULL && size > 0))
        return plmm_err(PLMM_ERR_INVALID_ARG, "gguf '<memory>': NULL argument");
    *out = NULL;
    plmm_gguf *g = NULL;
    plmm_status s = create("<memory>", &g);
    if (s != PLMM_OK)
        return s;
    g->base = size > 0 ? data : empty_image;
    g->size = size;
    s = parse(g);
    if (s != PLMM_OK) {
        plmm_gguf_close(g);
        return s;
    }
    *out = g;
    return PLMM_OK;
}

plmm_status plmm_gguf_open(const char *path, plmm_gguf **out)
{
    if (out == NULL || path == NULL)
        return plmm_err(PLMM_ERR_INVALID_ARG, "gguf: NULL argument");
    *out = NULL;
    plmm_gguf *g = NULL;
    plmm_status s = create(path, &g);
    if (s != PLMM_OK)
        return s;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s = plmm_err(PLMM_ERR_IO, "gguf '%s': cannot open: %s", path, strerror(errno));
        goto out_free;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        s = plmm_err(PLMM_ERR_IO, "gguf '%s': cannot stat: %s", path, strerror(errno));
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        s = plmm_err(PLMM_ERR_IO, "gguf '%s': not a regular file", path);
        goto out_close_fd;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        s = plmm_err(PLMM_ERR_IO, "gguf '%s': file of %" PRIu64 " bytes cannot be mapped", path,
                     (uint64_t)st.st_size);
        goto out_close_fd;
    }
    g->size = (uint64_t)st.st_size;
    if (g->size == 0) {
        /* mmap refuses length 0; parse reports the empty file. */
        g->base = empty_image;
    } else {
        void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = plmm_err(PLMM_ERR_IO, "gguf '%s': cannot map %" PRIu64 " bytes: %s", path, g->size,
                         strerror(errno));
            goto out_close_fd;
        }
        g->base = m;
        g->mapped = true;
    }
    close(fd);

    s = parse(g);
    if (s != PLMM_OK)
        goto out_free;
    *out = g;
    return PLMM_OK;

out_close_fd:
    close(fd);
out_free:
    plmm_gguf_close(g);
    return s;
}

void plmm_gguf_close(plmm_gguf *g)
{
    if (g == NULL)
        return;
    for (uint64_t i = 0; g->kv != NULL && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_off);
    }
    for (uint64_t i = 0; g->tensors != NULL && i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->tensors_sorted);
    if (g->mapped)
        munmap((void *)g->base, (size_t)g->size);
    free(g->name);
    free(g);
}

/* ---- accessors ---- */

const char *plmm_gguf_name(const plmm_gguf *g)
{
    return g->name;
}

uint32_t plmm_gguf_version(const plmm_gguf *g)
{
    return g->version;
}

uint64_t plmm_gguf_alignment(const plmm_gguf *g)
{
    return g->alignment;
}

const void *plmm_gguf_file_data(const plmm_gguf *g)
{
    return g->base;
}

uint64_t plmm_gguf_file_size(const plmm_gguf *g)
{
    return g->size;
}

uint64_t plmm_gguf_data_offset(const plmm_gguf *g)
{
    return g->data_offset;
}

uint64_t plmm_gguf_n_kv(const plmm_gguf *g)
{
    return g->n_kv;
}

static int cmp_key_entry(const void *key, const void *elem)
{
    return strcmp(key, (*(gguf_kv *const *)elem)->key);
}

int64_t plmm_gguf_find_key(const plmm_gguf *g, const char *key)
{
    if (g->n_kv == 0 || key == NULL)
        return -1;
    gguf_kv *const *hit =
        bsearch(key, g->kv_sorted, (size_t)g->n_kv, sizeof(*g->kv_sorted), cmp_key_entry);
    return hit ? (int64_t)(*hit - g->kv) : -1;
}

static const gguf_kv *kv_at(const plmm_gguf *g, uint64_t i)
{
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const char *plmm_gguf_key(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

plmm_gguf_type plmm_gguf_kv_type(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? (plmm_gguf_type)kv->type : PLMM_GGUF_INVALID;
}

plmm_gguf_type plmm_gguf_arr_type(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? (plmm_gguf_type)kv->arr_type : (plmm_gguf_type)0;
}

uint64_t plmm_gguf_arr_len(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->arr_len : 0;
}

const void *plmm_gguf_arr_data(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    if (kv == NULL || kv->type != PLMM_GGUF_ARRAY || kv->arr_type == PLMM_GGUF_STRING)
        return NULL;
    return g->base + kv->off;
}

plmm_gguf_str plmm_gguf_arr_str(const plmm_gguf *g, uint64_t i, uint64_t j)
{
    plmm_gguf_str str = {NULL, 0};
    const gguf_kv *kv = kv_at(g, i);
    if (kv == NULL || kv->type != PLMM_GGUF_ARRAY || kv->arr_type != PLMM_GGUF_STRING ||
        j >= kv->arr_len)
        return str;
    str.len = le(g->base + kv->str_off[j], 8);
    str.ptr = (const char *)g->base + kv->str_off[j] + 8;
    return str;
}

plmm_gguf_str plmm_gguf_get_str(const plmm_gguf *g, uint64_t i)
{
    plmm_gguf_str str = {NULL, 0};
    const gguf_kv *kv = kv_at(g, i);
    if (kv == NULL || kv->type != PLMM_GGUF_STRING)
        return str;
    str.ptr = (const char *)g->base + kv->off;
    str.len = kv->len;
    return str;
}

const void *plmm_gguf_kv_data(const plmm_gguf *g, uint64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    if (kv == NULL || value_size(kv->type) == 0)
        return NULL;
    return g->base + kv->off;
}

/* ---- typed lookups ---- */

static plmm_status lookup(const plmm_gguf *g, const char *key, const gguf_kv **out)
{
    int64_t i = plmm_gguf_find_key(g, key);
    if (i < 0)
        return plmm_err(PLMM_ERR_NOT_FOUND, "gguf '%s': key '%s' not found", g->name,
                        key ? key : "(null)");
    *out = &g->kv[i];
    return PLMM_OK;
}

static plmm_status wrong_type(const plmm_gguf *g, const gguf_kv *kv, const char *expected)
{
    return plmm_err(PLMM_ERR_FORMAT, "gguf '%s': key '%s' has type %s, expected %s", g->name,
                    kv->key, value_name(kv->type), expected);
}

/* An integer entry as a signed or unsigned 64-bit value. */
static plmm_status get_int(const plmm_gguf *g, const char *key, const gguf_kv **kvp,
                           bool *is_signed, uint64_t *u, int64_t *i)
{
    const gguf_kv *kv = NULL;
    plmm_status s = lookup(g, key, &kv);
    if (s != PLMM_OK)
        return s;
    if (!type_integer(kv->type))
        return wrong_type(g, kv, "an integer");
    unsigned n = value_size(kv->type);
    *u = le(g->base + kv->off, n);
    *is_signed = type_signed(kv->type);
    *i = *is_signed ? sign_extend(*u, n) : 0;
    *kvp = kv;
    return PLMM_OK;
}

plmm_status plmm_gguf_get_u32(const plmm_gguf *g, const char *key, uint32_t *out)
{
    const gguf_kv *kv = NULL;
    bool sg;
    uint64_t u;
    int64_t i;
    plmm_status s = get_int(g, key, &kv, &sg, &u, &i);
    if (s != PLMM_OK)
        return s;
    if (sg ? (i < 0 || i > (int64_t)UINT32_MAX) : u > UINT32_MAX) {
        if (sg)
            return plmm_err(PLMM_ERR_FORMAT,
                            "gguf '%s': key '%s' value %" PRId64 " does not fit in u32", g->name,
                            kv->key, i);
        return plmm_err(PLMM_ERR_FORMAT,
                        "gguf '%s': key '%s' value %" PRIu64 " does not fit in u32", g->name,
                        kv->key, u);
    }
    *out = sg ? (uint32_t)i : (uint32_t)u;
    return PLMM_OK;
}

plmm_status plmm_gguf_get_i64(const plmm_gguf *g, const char *key, int64_t *out)
{
    const gguf_kv *kv = NULL;
    bool sg;
    uint64_t u;
    int64_t i;
    plmm_status s = get_int(g, key, &kv, &sg, &u, &i);
    if (s != PLMM_OK)
        return s;
    if (!sg && u > (uint64_t)INT64_MAX)
        return plmm_err(PLMM_ERR_FORMAT,
                        "gguf '%s': key '%s' value %" PRIu64 " does not fit in i64", g->name,
                        kv->key, u);
    *out = sg ? i : (int64_t)u;
    return PLMM_OK;
}

plmm_status plmm_gguf_get_f32(const plmm_gguf *g, const char *key, float *out)
{
    const gguf_kv *kv = NULL;
    plmm_status s = lookup(g, key, &kv);
    if (s != PLMM_OK)
        return s;
    if (kv->type == PLMM_GGUF_FLOAT32) {
        *out = le_f32(g->base + kv->off);
        return PLMM_OK;
    }
    if (kv->type != PLMM_GGUF_FLOAT64)
        return wrong_type(g, kv, "f32 or f64");
    double d = le_f64(g->base + kv->off);
    /* Converting a finite double beyond the float range is undefined in C;
     * NaN and infinities pass through. */
    if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX))
        return plmm_err(PLMM_ERR_FORMAT, "gguf '%s': key '%s' value %g does not fit in f32",
                        g->name, kv->key, d);
    *out = (float)d;
    return PLMM_OK;
}

plmm_status plmm_gguf_get_bool(const plmm_gguf *g, const char *key, bool *out)
{
    const gguf_kv *kv = NULL;
    plmm_status s = lookup(g, key, &kv);
    if (s != PLMM_OK)
        return s;
    if (kv->type != PLMM_GGUF_BOOL)
        return wrong_type(g, kv, "bool");
    *out = g->base[kv->off] != 0;
    return PLMM_OK;
}

plmm_status plmm_gguf_get_string(const plmm_gguf *g, const char *key, char *buf, size_t size)
{
    const gguf_kv *kv = NULL;
    plmm_status s = lookup(g, key, &kv);
    if (s != PLMM_OK)
        return s;
    if (kv->type != PLMM_GGUF_STRING)
        return wrong_type(g, kv, "string");
    if (buf == NULL || kv->len >= size)
        return plmm_err(PLMM_ERR_RANGE,
                        "gguf '%s': key '%s' string of %" PRIu64
                        " bytes does not fit a %zu-byte buffer",
                        g->name, kv->key, kv->len, size);
    memcpy(buf, g->base + kv->off, (size_t)kv->len);
    buf[kv->len] = '\0';
    return PLMM_OK;
}

/* ---- tensors ---- */

uint64_t plmm_gguf_n_tensors(const plmm_gguf *g)
{
    return g->n_tensors;
}

const plmm_gguf_tensor *plmm_gguf_tensor_at(const plmm_gguf *g, uint64_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int cmp_name_entry(const void *key, const void *elem)
{
    return strcmp(key, (*(plmm_gguf_tensor *const *)elem)->name);
}

const plmm_gguf_tensor *plmm_gguf_find_tensor(const plmm_gguf *g, const char *name)
{
    if (g->n_tensors == 0 || name == NULL)
        return NULL;
    plmm_gguf_tensor *const *hit = bsearch(name, g->tensors_sorted, (size_t)g->n_tensors,
                                           sizeof(*g->tensors_sorted), cmp_name_entry);
    return hit ? *hit : NULL;
}
