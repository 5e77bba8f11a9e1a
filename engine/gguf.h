/*
 * GGUF v2/v3 reader: mmaps a file (or reads a memory image), validates the
 * whole header, metadata and tensor table up front (bounds, counts,
 * alignment, overlap) and then gives read-only, bounds-safe access.
 * Strings point into the mapping and are NOT NUL-terminated unless noted.
 *
 * Accepted files, beyond the format itself: little-endian; keys and tensor
 * names non-empty, at most 65535 bytes, without NUL bytes, unique; no arrays
 * of arrays; bool values 0 or 1; general.alignment (if present) a u32 power
 * of two; tensors with 1..4 dims each >= 1, a known dtype, whole blocks per
 * row, offsets multiple of the alignment, data inside the file and not
 * overlapping. A handle is read-only after open: safe to share across threads.
 */
#ifndef PLMM_ENGINE_GGUF_H
#define PLMM_ENGINE_GGUF_H

#include "plmm/types.h"

typedef struct plmm_gguf plmm_gguf;

/* Metadata value types, GGUF ids. */
typedef enum plmm_gguf_type {
    PLMM_GGUF_UINT8 = 0,
    PLMM_GGUF_INT8 = 1,
    PLMM_GGUF_UINT16 = 2,
    PLMM_GGUF_INT16 = 3,
    PLMM_GGUF_UINT32 = 4,
    PLMM_GGUF_INT32 = 5,
    PLMM_GGUF_FLOAT32 = 6,
    PLMM_GGUF_BOOL = 7,
    PLMM_GGUF_STRING = 8,
    PLMM_GGUF_ARRAY = 9,
    PLMM_GGUF_UINT64 = 10,
    PLMM_GGUF_INT64 = 11,
    PLMM_GGUF_FLOAT64 = 12,
    PLMM_GGUF_INVALID = -1, /* not a GGUF id: returned for an out-of-range index */
} plmm_gguf_type;

typedef struct plmm_gguf_str {
    const char *ptr; /* into the mapping, not NUL-terminated */
    uint64_t len;
} plmm_gguf_str;

typedef struct plmm_gguf_tensor {
    const char *name;          /* NUL-terminated copy */
    uint32_t dtype;            /* plmm_dtype */
    uint32_t n_dims;           /* 1..4 */
    int64_t ne[PLMM_MAX_DIMS]; /* unused dims are 1 */
    uint64_t offset;           /* byte offset inside the data section */
    uint64_t size;             /* bytes */
    const void *data;          /* into the mapping */
} plmm_gguf_tensor;

/* Open and validate a file. Errors (message via plmm_last_errmsg) name the
 * file and the problem: PLMM_ERR_IO, PLMM_ERR_FORMAT, PLMM_ERR_NOMEM. */
PLMM_NODISCARD plmm_status plmm_gguf_open(const char *path, plmm_gguf **out);
/* Same on a memory image (borrowed: must outlive the handle). */
PLMM_NODISCARD plmm_status plmm_gguf_open_memory(const void *data, size_t size, plmm_gguf **out);
/* NULL is ignored. */
void plmm_gguf_close(plmm_gguf *g);

/* Display name used in messages: the path as given, or "<memory>". */
const char *plmm_gguf_name(const plmm_gguf *g);
uint32_t plmm_gguf_version(const plmm_gguf *g);
uint64_t plmm_gguf_alignment(const plmm_gguf *g);
/* Whole file/image and its size (for hashing and zero-copy weight buffers). */
const void *plmm_gguf_file_data(const plmm_gguf *g);
uint64_t plmm_gguf_file_size(const plmm_gguf *g);
/* Start of the tensor data section inside the file: the end of the tensor
 * table rounded up to the alignment. Never past the file size (a file with no
 * tensors may omit the final padding; then this is the file size). */
uint64_t plmm_gguf_data_offset(const plmm_gguf *g);

/* ---- metadata ---- */
uint64_t plmm_gguf_n_kv(const plmm_gguf *g);
/* Index of key, or -1. */
int64_t plmm_gguf_find_key(const plmm_gguf *g, const char *key);
/* NUL-terminated key of entry i. */
const char *plmm_gguf_key(const plmm_gguf *g, uint64_t i);
/* PLMM_GGUF_INVALID when i is out of range. */
plmm_gguf_type plmm_gguf_kv_type(const plmm_gguf *g, uint64_t i);
/* Element type and length of an ARRAY entry (0 for non-arrays). */
plmm_gguf_type plmm_gguf_arr_type(const plmm_gguf *g, uint64_t i);
uint64_t plmm_gguf_arr_len(const plmm_gguf *g, uint64_t i);
/* Raw little-endian elements of a numeric array (may be unaligned: memcpy);
 * NULL for string arrays and non-arrays. BOOL elements are 0 or 1. */
const void *plmm_gguf_arr_data(const plmm_gguf *g, uint64_t i);
/* j-th string of a string array; {NULL, 0} when i or j is out of range. */
plmm_gguf_str plmm_gguf_arr_str(const plmm_gguf *g, uint64_t i, uint64_t j);
/* String value of a STRING entry; {NULL, 0} for other entries. */
plmm_gguf_str plmm_gguf_get_str(const plmm_gguf *g, uint64_t i);
/* Raw little-endian bytes of a scalar entry (plmm_gguf_type_size(type) of
 * them, may be unaligned); NULL for STRING, ARRAY and out-of-range i. */
const void *plmm_gguf_kv_data(const plmm_gguf *g, uint64_t i);
/* Bytes of one scalar value of type t; 0 for STRING, ARRAY and unknown ids. */
uint32_t plmm_gguf_type_size(plmm_gguf_type t);
/* Short static name of a value type ("u32", "string"); "unknown" otherwise. */
const char *plmm_gguf_type_name(plmm_gguf_type t);

/* Typed lookups by key. PLMM_ERR_NOT_FOUND when absent, PLMM_ERR_FORMAT when
 * the stored type cannot represent the request (integers convert between
 * widths when the value fits; floats accept F32/F64). */
PLMM_NODISCARD plmm_status plmm_gguf_get_u32(const plmm_gguf *g, const char *key, uint32_t *out);
PLMM_NODISCARD plmm_status plmm_gguf_get_i64(const plmm_gguf *g, const char *key, int64_t *out);
PLMM_NODISCARD plmm_status plmm_gguf_get_f32(const plmm_gguf *g, const char *key, float *out);
PLMM_NODISCARD plmm_status plmm_gguf_get_bool(const plmm_gguf *g, const char *key, bool *out);
/* Copy a STRING value into buf as a NUL-terminated string (PLMM_ERR_RANGE if
 * it does not fit). */
PLMM_NODISCARD plmm_status plmm_gguf_get_string(const plmm_gguf *g, const char *key, char *buf,
                                                size_t size);

/* ---- tensors ---- */
uint64_t plmm_gguf_n_tensors(const plmm_gguf *g);
/* NULL when i is out of range. */
const plmm_gguf_tensor *plmm_gguf_tensor_at(const plmm_gguf *g, uint64_t i);
/* NULL when absent. */
const plmm_gguf_tensor *plmm_gguf_find_tensor(const plmm_gguf *g, const char *name);

#endif
