/*
 * npu-template: internal declarations shared by the files of this backend.
 *
 * Nothing here is ABI: the engine sees only the descriptor returned by
 * plmm_plugin_entry() (backend.c). Rename the "npu_template"/"nt_" prefixes
 * when you copy the template.
 *
 * Files:
 *   backend.c  descriptor, options, lifecycle, device properties, buffers
 *   claim.c    which graph nodes the device runs (partition_claim)
 *   compile.c  partition -> program + repacked weights -> blob
 *   dequant.c  GGUF weight rows to f32 (compile-time repacking)
 *   blob.c     blob validation and loading (blob_load, compiled_free)
 *   execute.c  running a loaded program (compiled_execute)
 *   kernels.c  the host kernels standing in for the device
 */
#ifndef NPU_TEMPLATE_H
#define NPU_TEMPLATE_H

#include "plmm/backend.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define NT_NAME "npu-template"
#define NT_VERSION "0.1.0"

/* Alignment of buffers, of the arena slots and of the weights inside a blob. */
#define NT_ALIGN 64u
/* Largest partition the template compiles (nodes, distinct tensors). */
#define NT_MAX_NODES 4096u
#define NT_MAX_TENSORS 8192u
/* Largest ne[0] the device accepts (declared as max_ne[0] for every op). */
#define NT_MAX_ROW 65536

/* How compile stores MUL_MAT weights other than Q8_0 (option
 * weight_format); Q8_0 weights stay int8 with their block scales. */
typedef enum nt_weight_format {
    NT_WEIGHTS_F32 = 0,
    NT_WEIGHTS_F16 = 1,
} nt_weight_format;

/* The backend context: one per engine instance (vtbl->init). */
struct plmm_backend_ctx {
    const plmm_host_api *host; /* borrowed until shutdown */
    nt_weight_format weight_format;
    char key[160]; /* compatibility key, fixed at init */
    /* What shutdown releases if the engine did not: live buffers and
     * programs. Two sessions of one engine may call a context from two
     * threads at once (on distinct buffers and programs), so the lists are
     * guarded; everything else a call touches is its own. */
    pthread_mutex_t lock;
    struct plmm_buffer *buffers;
    struct plmm_compiled *programs;
    /* TODO(vendor): driver/session handles of your NPU runtime. */
};

/* A buffer: host memory the device reaches directly (unified memory). */
struct plmm_buffer {
    uint8_t *ptr;                    /* host address of byte 0 */
    uint64_t size;                   /* bytes */
    bool owned;                      /* allocated here (false: imported host memory) */
    struct plmm_buffer *prev, *next; /* ctx->buffers */
    /* TODO(vendor): device allocation handle (dma-buf fd, ION handle, ...). */
};

/* ---- the blob: what partition_compile writes and blob_load reads ---- */

#define NT_BLOB_MAGIC "PLMMNPUT"
/* Bump whenever the layout below or the meaning of a field changes. */
#define NT_BLOB_FORMAT 1u

/* Where a tensor of the program lives at execute time. */
typedef enum nt_role {
    NT_ROLE_INPUT = 1,    /* bind->inputs[index] */
    NT_ROLE_OUTPUT = 2,   /* bind->outputs[index] */
    NT_ROLE_WEIGHT = 3,   /* inside the blob, at data_off */
    NT_ROLE_INTERNAL = 4, /* in the arena, at data_off */
} nt_role;

/* Layout of the blob: header, tensor table, instruction table, weights. All
 * integers little-endian as the host writes them (the blob never leaves
 * the machine that compiled it: the cache key names the device). */
typedef struct nt_blob_header {
    char magic[8];   /* NT_BLOB_MAGIC */
    uint32_t format; /* NT_BLOB_FORMAT */
    uint32_t bucket; /* tokens per execution */
    uint32_t n_tensors;
    uint32_t n_instrs;
    uint32_t n_inputs;
    uint32_t n_outputs;
    uint64_t key_hash;     /* nt_checksum of the compatibility key */
    uint64_t arena_size;   /* bytes of intermediates */
    uint64_t payload_size; /* bytes after this header */
    uint64_t checksum;     /* nt_checksum of the payload */
} nt_blob_header;

typedef struct nt_blob_tensor {
    uint32_t dtype; /* storage dtype at execute (weights: after repacking) */
    uint32_t role;  /* nt_role */
    uint32_t index; /* INPUT/OUTPUT: position in the binding */
    uint32_t reserved;
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t nb[PLMM_MAX_DIMS]; /* WEIGHT/INTERNAL: strides in the blob/arena */
    uint64_t data_off;          /* WEIGHT: payload offset; INTERNAL: arena offset */
    uint64_t data_size;         /* bytes */
} nt_blob_tensor;

/* One instruction: the node's op on tensor-table slots (-1 = unused). */
typedef struct nt_blob_instr {
    uint32_t op; /* plmm_op */
    int32_t dst;
    int32_t src[PLMM_MAX_SRC];
    int32_t ip[PLMM_MAX_PARAMS];
    float fp[PLMM_MAX_PARAMS];
} nt_blob_instr;

/* A loaded blob, ready to execute. */
struct plmm_compiled {
    nt_blob_header h;
    uint8_t *payload;                  /* owned copy of the payload (NT_ALIGN aligned) */
    const nt_blob_tensor *tensors;     /* into payload */
    const nt_blob_instr *instrs;       /* into payload */
    uint8_t *arena;                    /* owned, h.arena_size bytes */
    struct plmm_compiled *prev, *next; /* ctx->programs */
    /* TODO(vendor): the loaded network handle of your NPU runtime. */
};

/* A tensor as an execute step sees it: dtype, shape, strides and address. */
typedef struct nt_view {
    uint32_t dtype;
    int64_t ne[PLMM_MAX_DIMS];
    uint64_t nb[PLMM_MAX_DIMS];
    uint8_t *data;
} nt_view;

/* ---- helpers shared between the files ---- */

/* 64-bit checksum of n bytes (blob payloads, the compatibility key). */
uint64_t nt_checksum(const void *p, uint64_t n);
void *nt_alloc(plmm_backend_ctx *ctx, uint64_t size);
void nt_free(plmm_backend_ctx *ctx, void *p);
uint64_t nt_align_up(uint64_t v);
/* Host address of a tensor's element 0 (data, or this backend's buffer +
 * offset); NULL if none. */
uint8_t *nt_tensor_address(const plmm_tensor *t);
/* One weight row of n elements (whole blocks) in a GGUF dtype to f32;
 * false for a dtype it does not know (dequant.c). */
bool nt_dequant_row(uint32_t dtype, const uint8_t *row, int64_t n, float *out);
/* Add to / remove from the context's list of live programs (blob.c). */
void nt_link_program(plmm_backend_ctx *ctx, plmm_compiled *cp);
void nt_unlink_program(plmm_backend_ctx *ctx, plmm_compiled *cp);

/* ---- vtable entries (claim.c, compile.c, blob.c, execute.c) ---- */

plmm_status nt_partition_claim(plmm_backend_ctx *ctx, const plmm_graph *graph, uint8_t *claim);
/* True when the device runs this node (the rule partition_claim applies). */
bool nt_node_supported(const plmm_node *node);
plmm_status nt_partition_compile(plmm_backend_ctx *ctx, const plmm_partition *part, void **blob,
                                 uint64_t *blob_size);
plmm_status nt_blob_load(plmm_backend_ctx *ctx, const plmm_partition *part, const void *blob,
                         uint64_t blob_size, plmm_compiled **out);
void nt_compiled_free(plmm_backend_ctx *ctx, plmm_compiled *compiled);
plmm_status nt_compiled_execute(plmm_backend_ctx *ctx, plmm_compiled *compiled,
                                const plmm_partition *bind);
/* Run one instruction on resolved views; the kernels of execute.c. */
plmm_status nt_run_instr(plmm_backend_ctx *ctx, const nt_blob_instr *in, nt_view *dst,
                         nt_view *const src[PLMM_MAX_SRC]);

#endif /* NPU_TEMPLATE_H */
