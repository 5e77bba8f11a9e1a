/*
 * plmm backend plugin ABI, version 1.
 *
 * A backend is a shared object that ships a manifest (NAME.plugin, INI) and
 * exports exactly one symbol:
 *
 *     PLMM_EXPORT const void *plmm_plugin_entry(void);
 *
 * which returns a pointer to a static const plmm_backend_desc and does no
 * other work (no driver calls, no allocation). The engine reads the first
 * three fields (struct_size, abi_major, abi_minor), refuses another major,
 * accepts an older minor and then reads only the fields its struct_size
 * covers. Device work starts in vtbl->init and ends in vtbl->shutdown,
 * which must release everything: the engine dlcloses the library after it.
 *
 * Two execution contracts exist:
 *  - graph (CPU/GPU): the engine hands over a graph of nodes whose tensors
 *    live in this backend's buffers; graph_compute runs them (possibly
 *    asynchronously) and synchronize waits for completion.
 *  - partition (NPU): the backend claims the nodes it can run, compiles a
 *    partition for a static shape bucket into a blob (the engine caches blobs
 *    on disk under a compatibility key), loads a blob and executes it.
 *
 * Errors: every call returns plmm_status; before returning an error the
 * backend describes it with host->set_error(host->host_ctx, "message").
 * A backend never aborts or exits the process and never writes to stderr.
 *
 * Layouts are frozen with _Static_assert below and recorded in
 * tests/unit/test-abi-layout.c; change them only by appending fields.
 */
#ifndef PLMM_BACKEND_H
#define PLMM_BACKEND_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PLMM_BACKEND_ABI_MAJOR 1
#define PLMM_BACKEND_ABI_MINOR 0

/* Name of the single exported symbol of every plugin (backend or expert). */
#define PLMM_PLUGIN_ENTRY_SYMBOL "plmm_plugin_entry"

typedef enum plmm_plugin_kind {
    PLMM_PLUGIN_BACKEND = 1,
    PLMM_PLUGIN_EXPERT = 2,
} plmm_plugin_kind;

/* The prefix shared by every plugin descriptor. */
typedef struct plmm_plugin_header {
    uint32_t struct_size; /* sizeof the full descriptor as the plugin knows it */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t kind; /* plmm_plugin_kind */
    uint32_t reserved;
} plmm_plugin_header;

typedef const void *(*plmm_plugin_entry_fn)(void);

/* ---- device taxonomy ---- */

typedef enum plmm_device_type {
    PLMM_DEVICE_CPU = 1,
    PLMM_DEVICE_GPU = 2,   /* integrated or discrete GPU */
    PLMM_DEVICE_NPU = 3,   /* neural / tensor accelerator with a compile step */
    PLMM_DEVICE_ACCEL = 4, /* any other accelerator (DSP, FPGA, remote) */
} plmm_device_type;

/* plmm_device_props.flags */
#define PLMM_DEVICE_UNIFIED_MEMORY 0x1u /* device memory is host memory */
#define PLMM_DEVICE_FP16 0x2u          /* native fp16 arithmetic */
#define PLMM_DEVICE_INT8 0x4u          /* native int8 dot products */
#define PLMM_DEVICE_SOFTWARE 0x8u      /* emulated device (lavapipe, PoCL on CPU) */

typedef struct plmm_device_props {
    uint32_t struct_size; /* set by the caller to sizeof(plmm_device_props) */
    uint32_t type;        /* plmm_device_type */
    char name[128];
    char driver[64];       /* driver name and version */
    uint64_t memory_total; /* bytes usable by this backend, 0 = unknown */
    uint64_t memory_free;  /* bytes, 0 = unknown */
    uint32_t flags;        /* PLMM_DEVICE_* */
    uint32_t subgroup_size;
    uint32_t compute_units;
    uint32_t reserved;
    /* fields above: ABI 1.0 */
} plmm_device_props;

/* ---- capabilities and tolerances ---- */

/* plmm_op_caps.flags */
#define PLMM_CAP_NONCONTIG 0x1u /* accepts strided (non-contiguous) views */
#define PLMM_CAP_INPLACE 0x2u   /* dst may alias src0 */

/*
 * One supported op: src0 dtypes (weights for GET_ROWS and MUL_MAT, the
 * cache type for ATTENTION, the destination type for CPY, F32 otherwise) and
 * shape limits (max_ne[i] = 0: no limit).
 */
typedef struct plmm_op_caps {
    uint32_t op;    /* plmm_op */
    uint32_t flags; /* PLMM_CAP_* */
    uint64_t dtypes; /* mask of PLMM_DTYPE_BIT() */
    int64_t max_ne[PLMM_MAX_DIMS];
} plmm_op_caps;

/*
 * A tolerance the backend declares for one op and dtype, looser than the
 * conformance default (capped by the suite). dtype = PLMM_DTYPE_COUNT means
 * every dtype of the op.
 */
typedef struct plmm_tolerance {
    uint32_t op;
    uint32_t dtype;
    double nmse;    /* normalised mean squared error bound */
    double max_abs; /* max absolute error bound, <= 0: not checked */
} plmm_tolerance;

/* ---- buffers ---- */

/* Buffer usage (buffer_alloc, buffer_reqs, buffer_import_host) */
#define PLMM_BUFFER_WEIGHTS 0x1u      /* written once, read by kernels */
#define PLMM_BUFFER_ACTIVATIONS 0x2u  /* scratch written and read by kernels */
#define PLMM_BUFFER_STATE 0x4u        /* persistent state (KV cache) */
#define PLMM_BUFFER_HOST_VISIBLE 0x8u /* request: must be mappable */

/* plmm_buffer_reqs.flags */
#define PLMM_BUFREQ_HOST_VISIBLE 0x1u /* buffers of this usage can be mapped */
#define PLMM_BUFREQ_IMPORT_HOST 0x2u  /* buffer_import_host is zero-copy */

/* Copy flags (buffer_write, buffer_read) */
#define PLMM_COPY_ASYNC 0x1u /* may return before the copy is done; host memory stays untouched until synchronize */

typedef struct plmm_buffer_reqs {
    uint32_t struct_size; /* set by the caller */
    uint32_t flags;       /* PLMM_BUFREQ_* */
    uint64_t alignment;   /* offsets of tensors inside a buffer must be multiples */
    uint64_t max_size;    /* largest single buffer, 0 = no limit */
    /* fields above: ABI 1.0 */
} plmm_buffer_reqs;

/* ---- partition contract (NPU) ---- */

/*
 * How the engine drives a PLMM_CONTRACT_PARTITION backend:
 *
 *  1. Buckets. A batch is split into chunks of a fixed token count (the
 *     bucket): 256, 64, 16 and 1 for prompts, 1 for decoding. Each chunk is
 *     one graph; partitions are compiled per bucket.
 *  2. Claim. For every graph it runs (each evaluation) the engine calls
 *     partition_claim; keep it cheap and deterministic. A claim counts only for nodes the descriptor's caps cover (claiming
 *     an undeclared op has no effect). Nodes go to the first backend of
 *     [engine] backends that claims (partition) or runs (graph) them;
 *     unclaimed nodes run on the graph backends, or on the CPU under
 *     fallback = observable (reported), or fail under fallback = strict.
 *  3. Partitions are the maximal runs of consecutive nodes assigned to the
 *     backend. Inside one partition every tensor is one plmm_tensor object:
 *     two nodes that use the same tensor hold the same pointer.
 *     inputs: tensors read but produced outside the partition (not
 *     weights), in order of first use; outputs: tensors written in it and
 *     read after it (or read by the host), in node order; weights carry
 *     PLMM_TENSOR_WEIGHT with data pointing at host memory (the mapped
 *     model) and buffer NULL; every other tensor is internal: its storage
 *     is the backend's business (the engine's pointers for it are scratch).
 *  4. Compile and cache. The engine looks the partition up in its blob
 *     cache under "model hash + backend name/version + compat_key +
 *     bucket + partition signature" (the signature covers ops, params,
 *     dtypes, shapes, strides, roles and which model weights are used). On
 *     a miss it calls partition_compile, stores the blob on disk and calls
 *     blob_load; on a hit it calls blob_load on the cached bytes. A blob
 *     that blob_load rejects (PLMM_ERR_FORMAT) is recompiled.
 *  5. Execute. compiled_execute gets a partition with the same nodes,
 *     inputs and outputs in the same order, pointing at the live tensors:
 *     in this backend's buffers, or host memory (data != NULL) when the
 *     backend reports PLMM_DEVICE_UNIFIED_MEMORY. Weights need not be read
 *     again. Results are valid after synchronize.
 *  6. Tolerances. A lossy backend (e.g. int8 arithmetic) declares its op
 *     tolerances, and its end-to-end logits tolerance as a plmm_tolerance
 *     with op = PLMM_OP_NONE (NMSE of the logits against the CPU backend).
 */

/*
 * A partition: a run of graph nodes the backend claimed, compiled for one
 * static shape bucket (bucket = number of tokens it processes). inputs are
 * the activations flowing in from outside the partition, outputs the ones
 * read after it; weights are reached through the nodes' sources and are
 * host-visible during compile. For execute, the engine passes a partition
 * with the same structure whose inputs/outputs point at the live tensors.
 */
typedef struct plmm_partition {
    uint32_t struct_size;
    uint32_t bucket; /* tokens per execution (static shape) */
    uint32_t n_nodes;
    uint32_t n_inputs;
    uint32_t n_outputs;
    uint32_t reserved;
    const plmm_node *nodes;      /* borrowed */
    plmm_tensor *const *inputs;  /* borrowed, n_inputs entries */
    plmm_tensor *const *outputs; /* borrowed, n_outputs entries */
} plmm_partition;

/* ---- the vtable ---- */

/*
 * Functions marked (optional) may be NULL; the engine calls through
 * plmm_backend_has() first and treats a missing function as
 * PLMM_ERR_UNSUPPORTED. All others are required for the contracts the
 * descriptor declares.
 */
typedef struct plmm_backend_vtbl {
    uint32_t struct_size; /* sizeof(plmm_backend_vtbl) as the plugin was built */
    uint32_t abi_version; /* PLMM_ABI_VERSION(1, minor) */

    /* ---- lifecycle ---- */

    /* Create a backend context. host: borrowed, valid until shutdown.
     * opts: validated values of the keys in desc->options (borrowed, only for
     * this call); keys absent from the INI carry their schema default.
     * out: set to the new context on success. */
    plmm_status (*init)(const plmm_host_api *host, const plmm_option_value *opts, uint32_t n_opts,
                        plmm_backend_ctx **out);
    /* Release everything the context owns (buffers, threads, compiled blobs).
     * NULL is ignored. After it returns no plugin code runs for this context. */
    void (*shutdown)(plmm_backend_ctx *ctx);

    /* ---- devices ---- */

    /* Number of devices this context can use (>= 1 after a successful init). */
    plmm_status (*device_count)(plmm_backend_ctx *ctx, uint32_t *out);
    /* Properties of device index (0-based). out->struct_size is set by the
     * caller; the backend fills only fields inside it. */
    plmm_status (*device_props)(plmm_backend_ctx *ctx, uint32_t index, plmm_device_props *out);

    /* ---- buffers ---- */

    /* Alignment, size limit and mappability for buffers of this usage. */
    plmm_status (*buffer_reqs)(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out);
    /* Allocate size bytes of device memory (size > 0). usage: PLMM_BUFFER_*.
     * Contents are undefined. out: owned, free with buffer_free. */
    plmm_status (*buffer_alloc)(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                                plmm_buffer **out);
    /* Free a buffer; NULL is ignored. Pending work on it completes first. */
    void (*buffer_free)(plmm_backend_ctx *ctx, plmm_buffer *buf);
    /* Host address of a host-visible buffer's first byte, valid until
     * buffer_free. PLMM_ERR_UNSUPPORTED if the buffer is not host visible. */
    plmm_status (*buffer_map)(plmm_backend_ctx *ctx, plmm_buffer *buf, void **out);
    /* Copy size bytes from host src into buf at offset. With PLMM_COPY_ASYNC
     * the copy may complete at the next synchronize. */
    plmm_status (*buffer_write)(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                const void *src, uint64_t size, uint32_t flags);
    /* Copy size bytes of buf at offset to host dst, after all work queued on
     * the context. With PLMM_COPY_ASYNC dst is valid after synchronize. */
    plmm_status (*buffer_read)(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset, void *dst,
                               uint64_t size, uint32_t flags);
    /* (optional) Wrap read-only host memory (e.g. the mmapped model file)
     * as a weights buffer. Zero-copy when buffer_reqs reports
     * PLMM_BUFREQ_IMPORT_HOST, otherwise an upload. ptr stays valid and
     * unchanged until buffer_free. */
    plmm_status (*buffer_import_host)(plmm_backend_ctx *ctx, const void *ptr, uint64_t size,
                                      uint32_t usage, plmm_buffer **out);
    /* Wait until every queued copy and compute on the context has finished. */
    plmm_status (*synchronize)(plmm_backend_ctx *ctx);

    /* ---- graph contract (CPU/GPU) ---- */

    /* (optional) Refine the declared capabilities for one concrete node
     * (e.g. a device limit); false = the scheduler places it elsewhere. */
    bool (*supports_node)(plmm_backend_ctx *ctx, const plmm_node *node);
    /* Run the nodes in order. Every tensor is either in a buffer of this
     * context or host memory with data != NULL (inputs the backend reads).
     * May return before completion; results are valid after synchronize. */
    plmm_status (*graph_compute)(plmm_backend_ctx *ctx, const plmm_graph *graph);

    /* ---- partition contract (NPU) ---- */

    /* (optional) Mark in claim[i] (n_nodes entries, zeroed by the caller)
     * the nodes this backend will run; claimed runs become partitions. */
    plmm_status (*partition_claim)(plmm_backend_ctx *ctx, const plmm_graph *graph, uint8_t *claim);
    /* (optional) Write a NUL-terminated compatibility string (backend
     * version, device, options) for blob caching; the engine adds the model
     * hash. Blobs cached under another key are recompiled. */
    plmm_status (*compat_key)(plmm_backend_ctx *ctx, char *buf, size_t size);
    /* (optional) Compile a partition into a blob. *blob is allocated with
     * host->alloc (owned by the caller, freed with host->free). */
    plmm_status (*partition_compile)(plmm_backend_ctx *ctx, const plmm_partition *part,
                                     void **blob, uint64_t *blob_size);
    /* (optional) Load a blob produced by partition_compile for the same
     * partition structure. A blob that fails validation returns
     * PLMM_ERR_FORMAT so the engine recompiles. out: free with compiled_free. */
    plmm_status (*blob_load)(plmm_backend_ctx *ctx, const plmm_partition *part, const void *blob,
                             uint64_t blob_size, plmm_compiled **out);
    /* (optional) Execute a loaded blob on the bound inputs/outputs. */
    plmm_status (*compiled_execute)(plmm_backend_ctx *ctx, plmm_compiled *compiled,
                                    const plmm_partition *bind);
    /* (optional) Free a loaded blob; NULL is ignored. */
    void (*compiled_free)(plmm_backend_ctx *ctx, plmm_compiled *compiled);
    /* fields above: ABI 1.0 */
} plmm_backend_vtbl;

/* plmm_backend_desc.contracts */
#define PLMM_CONTRACT_GRAPH 0x1u
#define PLMM_CONTRACT_PARTITION 0x2u

/* The descriptor returned by plmm_plugin_entry() of a backend plugin. */
typedef struct plmm_backend_desc {
    uint32_t struct_size; /* sizeof(plmm_backend_desc) as the plugin was built */
    uint16_t abi_major;   /* PLMM_BACKEND_ABI_MAJOR */
    uint16_t abi_minor;   /* PLMM_BACKEND_ABI_MINOR */
    uint32_t kind;        /* PLMM_PLUGIN_BACKEND */
    uint32_t device_type; /* plmm_device_type */
    const char *name;     /* equals the manifest's name */
    const char *version;  /* plugin version, "MAJOR.MINOR.PATCH" */
    const char *description;
    uint32_t contracts; /* PLMM_CONTRACT_* */
    uint32_t n_options;
    const plmm_option_schema *options; /* INI keys of [backend.NAME] */
    uint32_t n_caps;
    uint32_t n_tolerances;
    const plmm_op_caps *caps;
    const plmm_tolerance *tolerances;
    /* (optional) 0 = cannot run on this machine, higher = better fit. Must
     * not touch devices; may inspect host->cpu_features. */
    int (*score)(const plmm_host_api *host);
    const plmm_backend_vtbl *vtbl;
    /* fields above: ABI 1.0 */
} plmm_backend_desc;

/* True when an ABI struct `s` of type T, as built by the plugin, holds field f. */
#define PLMM_ABI_HAS(T, s, f) \
    ((s) != NULL && (uint64_t)(s)->struct_size >= offsetof(T, f) + sizeof(((T *)0)->f))

/* True when the vtable holds a non-NULL function f. */
#define plmm_backend_has(vt, f) (PLMM_ABI_HAS(plmm_backend_vtbl, vt, f) && (vt)->f != NULL)

/*
 * Op contracts (dst and activations are F32 and contiguous unless stated;
 * "rows" are ne[0]-long vectors):
 *
 * GET_ROWS   src0 table (n_embd, n_rows) any weight dtype; src1 I32 ids (n);
 *            dst (n_embd, n). dst[i] = dequant(src0[src1[i]]). An id outside
 *            [0, n_rows) is PLMM_ERR_RANGE.
 * RMS_NORM   src0 (n, ...); src1 optional weight (n). fp[0] = eps.
 *            dst = src0 / sqrt(mean(src0^2) + eps) * src1, per row.
 * ADD, MUL   src0 (n0,n1,n2,n3); src1 broadcastable (each ne is src0's or 1).
 *            dst (same shape as src0, may alias src0) = src0 op src1.
 * MUL_MAT    src0 W (K, N) any weight dtype; src1 X (K, M), rows may be
 *            strided; dst Y (N, M). Y[m][n] = sum_k W[n][k] * X[m][k].
 * ROPE       src0 (head_dim, n_heads, n_tokens); src1 I32 positions
 *            (n_tokens); src2 optional freq factors (n_rot / 2). dst same
 *            shape (may alias src0). ip[0] = n_rot (even, <= head_dim; dims
 *            past n_rot are copied), ip[1] = mode (0: rotate pairs (2i,2i+1);
 *            2: NeoX, pairs (i, i + n_rot/2)), ip[2] = n_ctx_orig.
 *            fp[0] = freq_base, fp[1] = freq_scale, fp[2] = ext_factor,
 *            fp[3] = attn_factor, fp[4] = beta_fast, fp[5] = beta_slow
 *            (YaRN; ext_factor = 0 gives plain linear scaling).
 * SOFTMAX    src0 (n, rows); src1 optional mask (n, >= rows) added after
 *            scaling; fp[0] = scale. dst = softmax(src0 * scale + mask).
 * ATTENTION  src0 Q (head_dim, n_head, n_tokens); src1 K and src2 V caches
 *            (head_dim, n_head_kv, n_ctx) F32 or F16, strided views allowed;
 *            dst (head_dim, n_head, n_tokens). ip[0] = n_kv (cache positions
 *            in use), ip[1] = pos0 (position of query token 0), ip[2] = 1 for
 *            causal (token t sees positions <= pos0 + t), 0 for all n_kv.
 *            fp[0] = scale. Head h reads kv head h / (n_head / n_head_kv).
 * SILU       dst = src0 * sigmoid(src0).
 * SWIGLU     dst = silu(src0) * src1 (same shapes).
 * CPY        dst (F32, F16 or BF16, any strides, e.g. a view into the KV
 *            cache) = convert(src0) elementwise over the same ne.
 * SCALE      dst = src0 * fp[0].
 */

/* ---- ABI freeze (LP64) ---- */
#if UINTPTR_MAX == 0xffffffffffffffffu
PLMM_STATIC_ASSERT(sizeof(plmm_plugin_header) == 16, "ABI: plmm_plugin_header");
PLMM_STATIC_ASSERT(offsetof(plmm_backend_desc, name) == 16, "ABI: plmm_backend_desc.name");
PLMM_STATIC_ASSERT(offsetof(plmm_backend_desc, vtbl) == 88, "ABI: plmm_backend_desc.vtbl");
PLMM_STATIC_ASSERT(sizeof(plmm_backend_desc) == 96, "ABI: plmm_backend_desc");
PLMM_STATIC_ASSERT(offsetof(plmm_backend_vtbl, init) == 8, "ABI: vtbl.init");
PLMM_STATIC_ASSERT(offsetof(plmm_backend_vtbl, graph_compute) == 8 + 13 * sizeof(void *), "ABI: vtbl.graph_compute");
PLMM_STATIC_ASSERT(sizeof(plmm_backend_vtbl) == 8 + 20 * sizeof(void *), "ABI: plmm_backend_vtbl");
PLMM_STATIC_ASSERT(sizeof(plmm_tensor) == 112, "ABI: plmm_tensor");
PLMM_STATIC_ASSERT(sizeof(plmm_node) == 112, "ABI: plmm_node");
PLMM_STATIC_ASSERT(sizeof(plmm_op_caps) == 48, "ABI: plmm_op_caps");
PLMM_STATIC_ASSERT(sizeof(plmm_device_props) == 232, "ABI: plmm_device_props");
PLMM_STATIC_ASSERT(sizeof(plmm_host_api) == 72, "ABI: plmm_host_api");
PLMM_STATIC_ASSERT(sizeof(plmm_partition) == 48, "ABI: plmm_partition");
#endif

#ifdef __cplusplus
}
#endif

#endif /* PLMM_BACKEND_H */
