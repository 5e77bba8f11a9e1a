/*
 * plmm — shared types: status codes, data types, tensors, graph nodes,
 * option schemas and the host-services table handed to every plugin.
 *
 * Everything in this header is part of the plugin ABI: enum values and
 * struct layouts are append-only (see tests/unit/test-abi-layout.c).
 */
#ifndef PLMM_TYPES_H
#define PLMM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PLMM_NODISCARD __attribute__((warn_unused_result))
#define PLMM_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define PLMM_EXPORT __attribute__((visibility("default")))
#define PLMM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PLMM_NODISCARD
#define PLMM_NONNULL(...)
#define PLMM_EXPORT
#define PLMM_PRINTF(fmt, args)
#endif

/* Compile-time layout checks that work in C11 and C++11 alike. */
#ifdef __cplusplus
#define PLMM_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define PLMM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* abi_version fields pack MAJOR.MINOR as major << 16 | minor. */
#define PLMM_ABI_VERSION(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define PLMM_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define PLMM_ABI_MINOR(v) ((uint32_t)(v)&0xffffu)

/* ---- status ---- */

/* Every fallible call returns one of these; PLMM_OK is 0, errors are < 0. */
typedef enum plmm_status {
    PLMM_OK = 0,
    PLMM_ERR_INVALID_ARG = -1,  /* NULL where not allowed, bad size, bad enum */
    PLMM_ERR_NOMEM = -2,        /* host or device allocation failed */
    PLMM_ERR_IO = -3,           /* open/read/write/mmap failed */
    PLMM_ERR_FORMAT = -4,       /* malformed or hostile file contents */
    PLMM_ERR_UNSUPPORTED = -5,  /* valid request this implementation cannot serve */
    PLMM_ERR_ABI = -6,          /* plugin ABI mismatch */
    PLMM_ERR_NOT_FOUND = -7,    /* named thing (plugin, key, tensor, file) absent */
    PLMM_ERR_CONFIG = -8,       /* invalid configuration */
    PLMM_ERR_BACKEND = -9,      /* device or driver failure */
    PLMM_ERR_RANGE = -10,       /* value out of range (context full, token id) */
    PLMM_ERR_PLUGIN = -11,      /* plugin failed to load or initialise */
    PLMM_ERR_INTERNAL = -12,    /* broken invariant: a bug */
    PLMM_ERR_TIMEOUT = -13,     /* operation took longer than allowed */
    PLMM_ERR_CANCELLED = -14,   /* stopped by the caller */
    PLMM_ERR_AUTH = -15,        /* wrong key, bad signature, failed MAC */
    PLMM_ERR_NETWORK = -16,     /* remote peer unreachable or misbehaving */
    PLMM_ERR_DENIED = -17,      /* refused by policy (privacy, budget) */
} plmm_status;

/* ---- data types ---- */

/* Values are GGUF's tensor type ids, so a GGUF type maps 1:1. */
typedef enum plmm_dtype {
    PLMM_DTYPE_F32 = 0,
    PLMM_DTYPE_F16 = 1,
    PLMM_DTYPE_Q4_0 = 2,
    PLMM_DTYPE_Q4_1 = 3,
    PLMM_DTYPE_Q5_0 = 6,
    PLMM_DTYPE_Q5_1 = 7,
    PLMM_DTYPE_Q8_0 = 8,
    PLMM_DTYPE_Q8_1 = 9,
    PLMM_DTYPE_Q2_K = 10,
    PLMM_DTYPE_Q3_K = 11,
    PLMM_DTYPE_Q4_K = 12,
    PLMM_DTYPE_Q5_K = 13,
    PLMM_DTYPE_Q6_K = 14,
    PLMM_DTYPE_Q8_K = 15,
    PLMM_DTYPE_I8 = 24,
    PLMM_DTYPE_I16 = 25,
    PLMM_DTYPE_I32 = 26,
    PLMM_DTYPE_I64 = 27,
    PLMM_DTYPE_F64 = 28,
    PLMM_DTYPE_BF16 = 30,
    PLMM_DTYPE_COUNT = 40 /* bound for masks and tables, not a type */
} plmm_dtype;

#define PLMM_DTYPE_BIT(t) (UINT64_C(1) << (unsigned)(t))

/* Elements per block (1 for plain types), 0 for ids plmm does not know. */
static inline uint32_t plmm_dtype_block_elems(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32: case PLMM_DTYPE_F16: case PLMM_DTYPE_BF16: case PLMM_DTYPE_I8:
    case PLMM_DTYPE_I16: case PLMM_DTYPE_I32: case PLMM_DTYPE_I64: case PLMM_DTYPE_F64:
        return 1;
    case PLMM_DTYPE_Q4_0: case PLMM_DTYPE_Q4_1: case PLMM_DTYPE_Q5_0: case PLMM_DTYPE_Q5_1:
    case PLMM_DTYPE_Q8_0: case PLMM_DTYPE_Q8_1:
        return 32;
    case PLMM_DTYPE_Q2_K: case PLMM_DTYPE_Q3_K: case PLMM_DTYPE_Q4_K: case PLMM_DTYPE_Q5_K:
    case PLMM_DTYPE_Q6_K: case PLMM_DTYPE_Q8_K:
        return 256;
    default:
        return 0;
    }
}

/* Bytes per block (GGUF's exact layouts), 0 for unknown ids. */
static inline uint32_t plmm_dtype_block_bytes(uint32_t t)
{
    switch (t) {
    case PLMM_DTYPE_F32: case PLMM_DTYPE_I32: return 4;
    case PLMM_DTYPE_F16: case PLMM_DTYPE_BF16: case PLMM_DTYPE_I16: return 2;
    case PLMM_DTYPE_I8: return 1;
    case PLMM_DTYPE_I64: case PLMM_DTYPE_F64: return 8;
    case PLMM_DTYPE_Q4_0: return 2 + 16;
    case PLMM_DTYPE_Q4_1: return 4 + 16;
    case PLMM_DTYPE_Q5_0: return 2 + 4 + 16;
    case PLMM_DTYPE_Q5_1: return 4 + 4 + 16;
    case PLMM_DTYPE_Q8_0: return 2 + 32;
    case PLMM_DTYPE_Q8_1: return 4 + 32;
    case PLMM_DTYPE_Q2_K: return 256 / 16 + 256 / 4 + 2 + 2;
    case PLMM_DTYPE_Q3_K: return 256 / 8 + 256 / 4 + 12 + 2;
    case PLMM_DTYPE_Q4_K: return 2 + 2 + 12 + 256 / 2;
    case PLMM_DTYPE_Q5_K: return 2 + 2 + 12 + 256 / 8 + 256 / 2;
    case PLMM_DTYPE_Q6_K: return 256 / 2 + 256 / 4 + 256 / 16 + 2;
    case PLMM_DTYPE_Q8_K: return 4 + 256 + 2 * 256 / 16;
    default: return 0;
    }
}

/* Bytes of a row of n elements; 0 if n is not a whole number of blocks or t unknown. */
static inline uint64_t plmm_dtype_row_bytes(uint32_t t, int64_t n)
{
    uint32_t be = plmm_dtype_block_elems(t);
    if (be == 0 || n < 0 || n % be != 0)
        return 0;
    return (uint64_t)(n / be) * plmm_dtype_block_bytes(t);
}

/* ---- tensors and graphs ---- */

#define PLMM_MAX_DIMS 4
#define PLMM_MAX_SRC 4
#define PLMM_MAX_PARAMS 8

/* Opaque backend objects. Each backend defines the bodies. */
typedef struct plmm_buffer plmm_buffer;
typedef struct plmm_backend_ctx plmm_backend_ctx;
typedef struct plmm_compiled plmm_compiled;

/* Tensor flags */
#define PLMM_TENSOR_WEIGHT 0x1u /* constant model weight */
#define PLMM_TENSOR_INPUT 0x2u  /* written by the host before compute */
#define PLMM_TENSOR_OUTPUT 0x4u /* read by the host after compute */
#define PLMM_TENSOR_VIEW 0x8u   /* aliases part of another tensor's storage */
#define PLMM_TENSOR_STATE 0x10u /* persists across computes (KV cache) */

/*
 * A tensor: up to 4 dims, ne[0] innermost. nb[] are byte strides; for
 * block-quantized types nb[0] is the block size in bytes and ne[0] must be a
 * whole number of blocks. Storage is (buffer, offset) on the backend that
 * owns it; data is the host address of element 0 when the storage is host
 * visible, else NULL.
 */
typedef struct plmm_tensor {
    uint32_t dtype; /* plmm_dtype */
    uint32_t flags; /* PLMM_TENSOR_* */
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t nb[PLMM_MAX_DIMS];
    plmm_buffer *buffer; /* borrowed; NULL when data is plain host memory */
    uint64_t offset;     /* byte offset of element 0 inside buffer */
    void *data;          /* borrowed host address, or NULL */
    const char *name;    /* borrowed, may be NULL */
    uint32_t id;         /* engine-assigned, unique within a graph */
    uint32_t reserved;
} plmm_tensor;

/*
 * Operations. The exact contract of each op (shapes, params) is documented
 * in backend.h next to the op list; the CPU backend's scalar kernels are the
 * reference implementation.
 */
typedef enum plmm_op {
    PLMM_OP_NONE = 0,
    PLMM_OP_GET_ROWS = 1,
    PLMM_OP_RMS_NORM = 2,
    PLMM_OP_ADD = 3,
    PLMM_OP_MUL = 4,
    PLMM_OP_MUL_MAT = 5,
    PLMM_OP_ROPE = 6,
    PLMM_OP_SOFTMAX = 7,
    PLMM_OP_ATTENTION = 8,
    PLMM_OP_SILU = 9,
    PLMM_OP_SWIGLU = 10,
    PLMM_OP_CPY = 11,
    PLMM_OP_SCALE = 12,
    PLMM_OP_COUNT = 13 /* bound, not an op */
} plmm_op;

/* One graph node: dst = op(src...). Unused src slots are NULL. */
typedef struct plmm_node {
    uint32_t op;    /* plmm_op */
    uint32_t flags; /* reserved, 0 */
    plmm_tensor *dst;
    plmm_tensor *src[PLMM_MAX_SRC];
    int32_t ip[PLMM_MAX_PARAMS]; /* integer params, per op */
    float fp[PLMM_MAX_PARAMS];   /* float params, per op */
} plmm_node;

/* A graph: nodes in execution order (every node's sources are ready when it runs). */
typedef struct plmm_graph {
    uint32_t struct_size;
    uint32_t n_nodes;
    const plmm_node *nodes; /* borrowed, n_nodes entries */
} plmm_graph;

/* ---- typed options ---- */

typedef enum plmm_option_type {
    PLMM_OPT_BOOL = 1,
    PLMM_OPT_INT = 2,
    PLMM_OPT_FLOAT = 3,
    PLMM_OPT_STRING = 4,
    PLMM_OPT_ENUM = 5, /* one of choices */
    PLMM_OPT_PATH = 6, /* string naming a file or directory */
} plmm_option_type;

/* One INI key a component accepts. */
typedef struct plmm_option_schema {
    const char *key;           /* INI key name */
    uint32_t type;             /* plmm_option_type */
    uint32_t flags;            /* reserved, 0 */
    const char *default_value; /* as it would be written in the INI; NULL = no default */
    double min, max;           /* INT/FLOAT inclusive range; ignored when min > max */
    const char *choices;       /* ENUM: "a|b|c" */
    const char *help;          /* one line for docs and --help */
} plmm_option_schema;

/* A validated option value, as handed to a plugin's init. */
typedef struct plmm_option_value {
    const char *key; /* borrowed, valid for the init call */
    uint32_t type;   /* plmm_option_type */
    uint32_t reserved;
    union {
        bool b;
        int64_t i;
        double f;
        const char *s; /* STRING, ENUM, PATH; borrowed */
    } v;
} plmm_option_value;

/* ---- host services ---- */

typedef enum plmm_log_level {
    PLMM_LOG_ERROR = 0,
    PLMM_LOG_WARN = 1,
    PLMM_LOG_INFO = 2,
    PLMM_LOG_DEBUG = 3,
} plmm_log_level;

/* CPU feature bits reported by the host (cpu_features). */
#define PLMM_CPU_SSE42 (UINT64_C(1) << 0)
#define PLMM_CPU_AVX (UINT64_C(1) << 1)
#define PLMM_CPU_AVX2 (UINT64_C(1) << 2)
#define PLMM_CPU_FMA (UINT64_C(1) << 3)
#define PLMM_CPU_F16C (UINT64_C(1) << 4)
#define PLMM_CPU_AVX512F (UINT64_C(1) << 5)
#define PLMM_CPU_AVX512BW (UINT64_C(1) << 6)
#define PLMM_CPU_AVX512VL (UINT64_C(1) << 7)
#define PLMM_CPU_AVX512VNNI (UINT64_C(1) << 8)
#define PLMM_CPU_NEON (UINT64_C(1) << 16)
#define PLMM_CPU_DOTPROD (UINT64_C(1) << 17)
#define PLMM_CPU_FP16 (UINT64_C(1) << 18)

/*
 * Services the engine gives each plugin instance at init. host_ctx is
 * passed back to every service; it identifies the plugin instance.
 * The table stays valid until the plugin's shutdown returns.
 */
typedef struct plmm_host_api {
    uint32_t struct_size;
    uint32_t abi_version; /* PLMM_ABI_VERSION of the host */
    void *host_ctx;
    /* Log one line (no trailing newline) at a plmm_log_level. */
    void (*log)(void *host_ctx, int level, const char *msg);
    /* Record the detail of the error the current call is about to return. */
    void (*set_error)(void *host_ctx, const char *msg);
    /* Allocate size bytes aligned to align (a power of two); NULL on failure. */
    void *(*alloc)(void *host_ctx, size_t size, size_t align);
    /* Free memory from alloc; NULL is ignored. */
    void (*free)(void *host_ctx, void *ptr);
    /* Monotonic clock in nanoseconds. */
    uint64_t (*now_ns)(void *host_ctx);
    uint64_t cpu_features; /* PLMM_CPU_* bits of the machine */
    uint32_t n_cpus;       /* online logical CPUs */
    uint32_t reserved;
    /* fields above: ABI 1.0 */
} plmm_host_api;

#ifdef __cplusplus
}
#endif

#endif /* PLMM_TYPES_H */
