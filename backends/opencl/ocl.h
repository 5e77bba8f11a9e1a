/*
 * Internals of the OpenCL backend plugin: the context, buffers, the
 * program (built once per device, binary-cached on disk) and the ops.
 * Nothing here crosses the plugin boundary.
 */
#ifndef PLMM_OCL_H
#define PLMM_OCL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "plmm/backend.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

enum ocl_kernel_id {
    OK_GET_ROWS,
    OK_RMS_NORM,
    OK_BINARY,
    OK_UNARY,
    OK_SOFTMAX,
    OK_ROPE,
    OK_CPY,
    OK_ATTENTION,
    OK_QUANT_Q8_0,
    OK_QUANT_Q8_K,
    OK_ROUND_X,
    OK_MUL_MAT,
    OK_COUNT
};

struct plmm_buffer {
    uint32_t magic;
    uint32_t usage;
    plmm_backend_ctx *ctx;
    cl_mem mem;
    uint64_t size;
    bool imported; /* weights uploaded from host memory: read-only for kernels */
    plmm_buffer *prev, *next;
};

/* A device scratch buffer that grows on demand. */
typedef struct ocl_scratch {
    cl_mem mem;
    size_t size;
} ocl_scratch;

struct plmm_backend_ctx {
    const plmm_host_api *host; /* borrowed until shutdown */
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernels[OK_COUNT];
    pthread_mutex_t lock; /* one graph_compute / synchronize at a time */
    plmm_buffer *buffers; /* live buffers, freed at shutdown */
    ocl_scratch sc_qs, sc_ds, sc_att;
    cl_mem err;         /* one int: GET_ROWS saw an id out of range */
    bool check_err;     /* a GET_ROWS ran since the last synchronize */
    cl_mem *temps;      /* host inputs uploaded for the current graph */
    uint32_t n_temps, cap_temps;
    /* device facts */
    char dev_name[128];
    char driver[64];
    uint64_t mem_total;
    uint64_t max_alloc;
    uint32_t compute_units;
    bool is_cpu, fp64, fp16;
};

/* ocl_program.c: build (or load from the binary cache) the program and its
 * kernels; on failure the message holds the compiler log. */
plmm_status ocl_program_init(plmm_backend_ctx *ctx, const char *cache_dir);
void ocl_program_release(plmm_backend_ctx *ctx);

/* ocl_ops.c */
plmm_status ocl_node_check(const plmm_backend_ctx *ctx, const plmm_node *nd, char *msg, size_t n);
plmm_status ocl_graph_run(plmm_backend_ctx *ctx, const plmm_graph *g, char *msg, size_t n);
void ocl_scratch_release(ocl_scratch *s);
const char *ocl_err_name(cl_int e);

#endif /* PLMM_OCL_H */
