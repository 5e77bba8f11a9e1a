/*
 * Internals of the Vulkan backend plugin shared by backend_vulkan.c (ABI
 * glue: instance, device, buffers, copies) and vk_graph.c (node checks,
 * parameter records, command recording).
 */
#ifndef PLMM_VK_INTERNAL_H
#define PLMM_VK_INTERNAL_H

#include "plmm/backend.h"
#include "plmm_sdk.h"

#include <pthread.h>
#include <vulkan/vulkan.h>

#define VK_BUFFER_MAGIC 0x504c4d56u /* "PLMV" */

/* One pipeline per shader module (see meson.build and vk_graph.c). */
typedef enum vk_pipe_id {
    VKP_GET_ROWS_F32,
    VKP_GET_ROWS_F16,
    VKP_GET_ROWS_Q4_0,
    VKP_GET_ROWS_Q8_0,
    VKP_GET_ROWS_Q4_K,
    VKP_GET_ROWS_Q6_K,
    VKP_MUL_MAT_F32,
    VKP_MUL_MAT_F16,
    VKP_MUL_MAT_Q4_0,
    VKP_MUL_MAT_Q8_0,
    VKP_MUL_MAT_Q4_K,
    VKP_MUL_MAT_Q6_K,
    VKP_RMS_NORM,
    VKP_ADD,
    VKP_MUL,
    VKP_ROPE,
    VKP_SOFTMAX,
    VKP_ATTENTION,
    VKP_SILU,
    VKP_SWIGLU,
    VKP_SCALE,
    VKP_CPY,
    VKP_COUNT
} vk_pipe_id;

/* Words of one parameter record (must match shaders/common.glsl). */
#define REC_T 12u
#define REC_IP 48u
#define REC_FP 56u
#define REC_XP 64u
#define REC_STATUS 76u
#define REC_WORDS 80u
#define REC_BYTES (REC_WORDS * 4u)

/* Shader status bits (the device's status word) */
#define VK_STATUS_RANGE 0x1u

/* A VkBuffer with its own memory. */
typedef struct vk_mem {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    VkDeviceAddress addr;
    void *map; /* host-visible buffers only */
} vk_mem;

struct plmm_buffer {
    uint32_t magic;
    uint32_t usage;
    plmm_backend_ctx *ctx;
    vk_mem m;
    plmm_buffer *prev, *next;
};

/* One recorded dispatch (the recording is reused while these stay equal). */
typedef struct vk_dispatch {
    uint32_t pipe;
    uint32_t gx, gy, gz;
} vk_dispatch;

struct plmm_backend_ctx {
    const plmm_host_api *host;
    pthread_mutex_t lock;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    uint32_t device_index, n_devices;
    uint32_t queue_family;
    VkDevice device;
    VkQueue queue;
    VkCommandPool pool;
    VkCommandBuffer cmd;  /* graph work */
    VkCommandBuffer xcmd; /* copies */
    VkFence fence, xfence;
    bool pending;        /* cmd submitted, fence not yet waited */
    plmm_status deferred; /* error found while waiting, returned by synchronize */
    char deferred_msg[256];
    bool validation;
    uint32_t validation_errors;
    char validation_msg[256];

    VkPipelineLayout layout;
    VkShaderModule modules[VKP_COUNT];
    VkPipeline pipes[VKP_COUNT];

    vk_mem staging; /* host-visible, for buffer_write / buffer_read */
    vk_mem params;  /* host-visible parameter records */
    vk_mem upload;  /* host-visible copies of host-memory inputs */
    vk_mem status;  /* host-visible status word written by shaders */

    vk_dispatch *rec; /* the dispatches recorded in cmd */
    uint32_t n_rec, cap_rec;
    bool recorded;
    VkDeviceAddress rec_params; /* params address the recording used */

    plmm_buffer *buffers;
};

/* backend_vulkan.c */
plmm_status vk_mem_create(plmm_backend_ctx *ctx, VkDeviceSize size, bool host_visible, vk_mem *out);
void vk_mem_destroy(plmm_backend_ctx *ctx, vk_mem *m);
plmm_status vk_wait_compute(plmm_backend_ctx *ctx);
plmm_status vk_check(plmm_backend_ctx *ctx, VkResult r, const char *what);
void *vk_host_alloc(plmm_backend_ctx *ctx, size_t size);
void vk_host_free(plmm_backend_ctx *ctx, void *p);
bool vk_our_buffer(const plmm_backend_ctx *ctx, const plmm_buffer *b);

/* vk_graph.c */
plmm_status vk_pipelines_create(plmm_backend_ctx *ctx);
void vk_pipelines_destroy(plmm_backend_ctx *ctx);
plmm_status vk_node_check(const plmm_node *nd, char *msg, size_t n);
bool vk_supports_node(plmm_backend_ctx *ctx, const plmm_node *node);
plmm_status vk_graph_compute(plmm_backend_ctx *ctx, const plmm_graph *graph);

#endif /* PLMM_VK_INTERNAL_H */
