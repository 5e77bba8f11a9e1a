/*
 * Reference NPU backend: internal types shared by its files.
 *
 * The device it models computes like a mobile NPU:
 *  - weights of MUL_MAT are int8 with one scale per output channel,
 *    requantized at compile time from the GGUF weights (any dtype the
 *    backend declares); the scale is kept as a fixed-point multiplier
 *    (int32 mantissa in [2^30, 2^31) and a right shift);
 *  - activations entering a matrix product are quantized per token to int8
 *    (or int16, option `activations`), products accumulate in int32, and
 *    the accumulator is requantized with the fixed-point multiplier;
 *  - tensors between ops are stored as fp16, and the vector ops (RMS_NORM,
 *    ADD, MUL, SCALE, SILU, SWIGLU) compute in fp32 on fp16 storage;
 *    norm weights and biases are fp16.
 * Memory is host memory (unified), so the engine hands it host pointers;
 * option memory = device hides it from the host (no buffer_map), as on a
 * discrete device, so the engine copies tensors in and out.
 */
#ifndef PLMM_NPU_H
#define PLMM_NPU_H

#include "plmm/backend.h"

#define NPU_VERSION "1.0.0"
#define NPU_BLOB_MAGIC "PLMMNPUB"
#define NPU_BLOB_VERSION 2u
#define NPU_ALIGN 64
#define NPU_MAX_TENSORS 4096u
#define NPU_MAX_NODES 4096u

/* Tensor roles inside a blob. */
enum {
    NPU_IN = 1,      /* bound to part->inputs[index] at execute */
    NPU_OUT = 2,     /* bound to part->outputs[index] */
    NPU_WMAT = 3,    /* int8 matrix + per-channel multipliers (src0 of MUL_MAT) */
    NPU_WVEC = 4,    /* fp16 weight used by a vector op (norm weight, bias) */
    NPU_SCRATCH = 5, /* internal: fp16 storage owned by the compiled blob */
};

typedef struct npu_blob_header {
    char magic[8];
    uint32_t version;
    uint32_t bucket;
    uint32_t n_nodes;
    uint32_t n_tensors;
    uint32_t n_inputs;
    uint32_t n_outputs;
    uint32_t act_bits; /* 8 or 16 */
    uint32_t reserved;
    uint64_t key_hash;     /* npu_fnv of the compat key it was compiled under */
    uint64_t payload_size; /* bytes after this header */
    uint64_t checksum;     /* npu_fnv of the payload */
} npu_blob_header;

typedef struct npu_blob_tensor {
    uint32_t dtype; /* the graph's dtype (F32 activations, weight dtype) */
    uint32_t role;  /* NPU_* */
    int32_t index;  /* input/output index, else -1 */
    uint32_t reserved;
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t data_off; /* payload offset of weight data (WMAT: int8 rows, then int32 m, int32 sh) */
    uint64_t data_size; /* bytes of weight data */
} npu_blob_tensor;

typedef struct npu_blob_node {
    uint32_t op;
    int32_t dst;
    int32_t src[PLMM_MAX_SRC];
    int32_t ip[PLMM_MAX_PARAMS];
    float fp[PLMM_MAX_PARAMS];
} npu_blob_node;

/* Membership of a live object in its context's list. */
typedef struct npu_node {
    struct npu_node *prev, *next;
} npu_node;

void npu_list_add(npu_node **head, npu_node *n);
void npu_list_remove(npu_node **head, npu_node *n);

struct plmm_buffer {
    npu_node link; /* first: the list node is the buffer */
    uint8_t *base;
    uint64_t size;
    bool owned; /* false: imported host memory (read-only) */
};

struct plmm_backend_ctx {
    const plmm_host_api *host;
    bool device_memory; /* emulate memory the host cannot map (option memory = device) */
    /* live objects, released by shutdown */
    struct npu_node *buffers, *compiled;
    uint32_t act_bits;
    char key[96];
    uint64_t key_hash;
};

/* A loaded blob. */
struct plmm_compiled {
    npu_node link; /* first: the list node is the blob */
    npu_blob_header h;
    uint8_t *payload; /* NPU_ALIGN-aligned copy */
    const npu_blob_tensor *bt;
    const npu_blob_node *bn;
    float **act; /* per tensor: values of activations (IN, OUT, SCRATCH; SCRATCH holds
                    fp16-rounded values) and of NPU_WVEC weights (fp16 values) */
    int8_t *xq;  /* per-token quantized activation row (largest K), int8 or int16 */
    int32_t *acc;
};

/* ---- npu_weights.c ---- */

/* Does the backend read weights of this dtype? */
bool npu_weight_dtype_ok(uint32_t dtype);
/* Dequantize n elements (a whole number of blocks) of row src to dst. */
void npu_dequant_row(uint32_t dtype, const void *src, float *dst, int64_t n);
/* Requantize a (K, N) weight to int8 rows (N * K bytes) and per-channel
 * fixed-point multipliers m[N], sh[N]; tmp holds K floats. */
void npu_quantize_matrix(uint32_t dtype, const uint8_t *w, uint64_t row_bytes, int64_t K, int64_t N,
                         int8_t *q, int32_t *m, int32_t *sh, float *tmp);

/* ---- npu_compile.c ---- */

/* The claim rule: an op and form this NPU runs. */
bool npu_node_supported(const plmm_node *n);
uint64_t npu_fnv(const void *p, uint64_t n, uint64_t h);
plmm_status npu_compile(plmm_backend_ctx *c, const plmm_partition *part, void **blob,
                        uint64_t *blob_size);
plmm_status npu_blob_load(plmm_backend_ctx *c, const plmm_partition *part, const void *blob,
                          uint64_t size, plmm_compiled **out);
void npu_compiled_free(plmm_backend_ctx *c, plmm_compiled *cp);
void *npu_alloc(plmm_backend_ctx *c, uint64_t size);
void npu_free(plmm_backend_ctx *c, void *p);

/* ---- npu_exec.c ---- */

plmm_status npu_execute(plmm_backend_ctx *c, plmm_compiled *cp, const plmm_partition *bind);

#endif
