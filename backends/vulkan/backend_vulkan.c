/*
 * The Vulkan backend plugin: descriptor, options, instance and device,
 * buffers (device-local memory reached through buffer device addresses,
 * host-visible staging for copies) and synchronisation. Graph execution
 * lives in vk_graph.c, the kernels in shaders/.
 *
 * Nothing touches Vulkan before init; a machine without the loader or
 * without a device makes init fail with a message, never crash.
 */
#include "vk_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PLMM_VERSION
#define PLMM_VERSION "0.0.0"
#endif

#define STAGING_BYTES (UINT64_C(8) << 20)
#define BUFFER_ALIGN 256
#define MAX_DEVICES 64

PLMM_EXPORT const void *plmm_plugin_entry(void);

/* ---- small helpers ---- */

void *vk_host_alloc(plmm_backend_ctx *ctx, size_t size)
{
    return ctx->host->alloc(ctx->host->host_ctx, size, 16);
}

void vk_host_free(plmm_backend_ctx *ctx, void *p)
{
    ctx->host->free(ctx->host->host_ctx, p);
}

static const char *vk_result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS:
        return "VK_SUCCESS";
    case VK_NOT_READY:
        return "VK_NOT_READY";
    case VK_TIMEOUT:
        return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
        return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
        return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT:
        return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
        return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
        return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
        return "VK_ERROR_TOO_MANY_OBJECTS";
    default:
        return "VkResult error";
    }
}

plmm_status vk_check(plmm_backend_ctx *ctx, VkResult r, const char *what)
{
    if (r == VK_SUCCESS)
        return PLMM_OK;
    plmm_status st = r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY
                         ? PLMM_ERR_NOMEM
                         : PLMM_ERR_BACKEND;
    return plmm_sdk_error(ctx->host, st, "%s failed: %s (%d)", what, vk_result_name(r), (int)r);
}

bool vk_our_buffer(const plmm_backend_ctx *ctx, const plmm_buffer *b)
{
    return b != NULL && b->magic == VK_BUFFER_MAGIC && b->ctx == ctx;
}

/* ---- validation layer messages ---- */

static VKAPI_ATTR VkBool32 VKAPI_CALL
on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT sev, VkDebugUtilsMessageTypeFlagsEXT type,
              const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)type;
    plmm_backend_ctx *ctx = user;
    const char *msg = data != NULL && data->pMessage != NULL ? data->pMessage : "?";
    if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        if (ctx->validation_errors++ == 0)
            snprintf(ctx->validation_msg, sizeof(ctx->validation_msg), "%s", msg);
        plmm_sdk_log(ctx->host, PLMM_LOG_ERROR, "vulkan validation: %s", msg);
    } else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        plmm_sdk_log(ctx->host, PLMM_LOG_WARN, "vulkan validation: %s", msg);
    }
    return VK_FALSE;
}

/* A validation error since the last call becomes this call's error. */
static plmm_status validation_status(plmm_backend_ctx *ctx)
{
    if (ctx->validation_errors == 0)
        return PLMM_OK;
    uint32_t n = ctx->validation_errors;
    ctx->validation_errors = 0;
    return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "%u Vulkan validation error(s), first: %s",
                          n, ctx->validation_msg);
}

/* ---- memory ---- */

static int find_memory_type(const plmm_backend_ctx *ctx, uint32_t bits, bool host_visible)
{
    const VkMemoryPropertyFlags want =
        host_visible ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                     : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    for (uint32_t i = 0; i < ctx->memprops.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (ctx->memprops.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    if (!host_visible) /* no device-local type: any type will do */
        for (uint32_t i = 0; i < ctx->memprops.memoryTypeCount; i++)
            if (bits & (1u << i))
                return (int)i;
    return -1;
}

static VkDeviceSize max_alloc_size(const plmm_backend_ctx *ctx)
{
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &m3};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    VkDeviceSize lim = m3.maxMemoryAllocationSize;
    /* byte offsets inside a tensor are 32-bit in the shaders */
    if (lim == 0 || lim > UINT32_MAX)
        lim = UINT32_MAX;
    return lim;
}

plmm_status vk_mem_create(plmm_backend_ctx *ctx, VkDeviceSize size, bool host_visible, vk_mem *out)
{
    memset(out, 0, sizeof(*out));
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &out->buf);
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, out->buf, &req);
    int type = find_memory_type(ctx, req.memoryTypeBits, host_visible);
    if (type < 0) {
        vkDestroyBuffer(ctx->device, out->buf, NULL);
        out->buf = VK_NULL_HANDLE;
        return plmm_sdk_error(ctx->host, PLMM_ERR_BACKEND, "no suitable Vulkan memory type");
    }
    VkMemoryAllocateFlagsInfo fi = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
                                    .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .pNext = &fi,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    r = vkAllocateMemory(ctx->device, &ai, NULL, &out->mem);
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(ctx->device, out->buf, out->mem, 0);
    if (r == VK_SUCCESS && host_visible)
        r = vkMapMemory(ctx->device, out->mem, 0, VK_WHOLE_SIZE, 0, &out->map);
    if (r != VK_SUCCESS) {
        plmm_status st = vk_check(ctx, r, "allocating Vulkan memory");
        vk_mem_destroy(ctx, out);
        return st;
    }
    VkBufferDeviceAddressInfo dai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO,
                                     .buffer = out->buf};
    out->addr = vkGetBufferDeviceAddress(ctx->device, &dai);
    out->size = size;
    return PLMM_OK;
}

void vk_mem_destroy(plmm_backend_ctx *ctx, vk_mem *m)
{
    if (m->map != NULL)
        vkUnmapMemory(ctx->device, m->mem);
    if (m->buf != VK_NULL_HANDLE)
        vkDestroyBuffer(ctx->device, m->buf, NULL);
    if (m->mem != VK_NULL_HANDLE)
        vkFreeMemory(ctx->device, m->mem, NULL);
    memset(m, 0, sizeof(*m));
}

/* ---- synchronisation ---- */

/* Wait for the submitted graph work; record a device-side error for synchronize. */
plmm_status vk_wait_compute(plmm_backend_ctx *ctx)
{
    if (!ctx->pending)
        return PLMM_OK;
    VkResult r = vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, UINT64_MAX);
    ctx->pending = false;
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkWaitForFences");
    uint32_t *status = ctx->status.map;
    if (*status != 0) {
        if (ctx->deferred == PLMM_OK) {
            ctx->deferred = PLMM_ERR_RANGE;
            snprintf(ctx->deferred_msg, sizeof(ctx->deferred_msg),
                     "GET_ROWS: a row id is outside the table (the rows were not written)");
        }
        *status = 0;
    }
    return PLMM_OK;
}

/* Run the copy recorded by fn in xcmd and wait for it. */
static plmm_status run_copy(plmm_backend_ctx *ctx, VkBuffer src, VkDeviceSize so, VkBuffer dst,
                            VkDeviceSize dso, VkDeviceSize size)
{
    VkResult r = vkResetCommandBuffer(ctx->xcmd, 0);
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if ((r = vkBeginCommandBuffer(ctx->xcmd, &bi)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkBeginCommandBuffer");
    /* earlier shader writes -> this transfer */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(ctx->xcmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkBufferCopy region = {.srcOffset = so, .dstOffset = dso, .size = size};
    vkCmdCopyBuffer(ctx->xcmd, src, dst, 1, &region);
    VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(ctx->xcmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0,
                         1, &hb, 0, NULL, 0, NULL);
    if ((r = vkEndCommandBuffer(ctx->xcmd)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkEndCommandBuffer");
    if ((r = vkResetFences(ctx->device, 1, &ctx->xfence)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkResetFences");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &ctx->xcmd};
    if ((r = vkQueueSubmit(ctx->queue, 1, &si, ctx->xfence)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkQueueSubmit");
    if ((r = vkWaitForFences(ctx->device, 1, &ctx->xfence, VK_TRUE, UINT64_MAX)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkWaitForFences");
    return PLMM_OK;
}

/* ---- init / shutdown ---- */

static plmm_status parse_options(const plmm_host_api *host, const plmm_option_value *opts,
                                 uint32_t n_opts, int64_t *device, bool *validation)
{
    *device = -1;
    *validation = false;
    const char *env = getenv("PLMM_VULKAN_VALIDATION");
    if (env != NULL && env[0] == '1')
        *validation = true;
    if (n_opts > 0 && opts == NULL)
        return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "options are NULL");
    for (uint32_t i = 0; i < n_opts; i++) {
        const plmm_option_value *o = &opts[i];
        if (o->key == NULL)
            return plmm_sdk_error(host, PLMM_ERR_INVALID_ARG, "option %u has no key", i);
        if (strcmp(o->key, "device") == 0) {
            if (o->type != PLMM_OPT_INT)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "option 'device' must be an integer");
            if (o->v.i < -1 || o->v.i >= MAX_DEVICES)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG, "device %lld outside [-1, %d]",
                                      (long long)o->v.i, MAX_DEVICES - 1);
            *device = o->v.i;
        } else if (strcmp(o->key, "validation") == 0) {
            if (o->type != PLMM_OPT_BOOL)
                return plmm_sdk_error(host, PLMM_ERR_CONFIG,
                                      "option 'validation' must be a boolean");
            *validation = *validation || o->v.b;
        } else {
            return plmm_sdk_error(host, PLMM_ERR_CONFIG, "unknown option '%s'", o->key);
        }
    }
    return PLMM_OK;
}

static bool layer_available(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *lp = calloc(n, sizeof(*lp));
    bool found = false;
    if (lp != NULL && vkEnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(lp[i].layerName, name) == 0;
    free(lp);
    return found;
}

/*
 * Keep Mesa's Vulkan drivers (libvulkan_*.so) loaded for the life of the
 * process: the loader unloads a driver when its last instance goes, and
 * Mesa's drivers leave allocations that their globals still reference,
 * which LeakSanitizer then reports from an unmapped module. Pinning also
 * makes the next init cheaper. The driver itself stays the loader's.
 */
typedef struct pin_list {
    char names[8][256];
    int n;
} pin_list;

static int collect_drivers(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    pin_list *l = data;
    const char *name = info->dlpi_name;
    if (name != NULL && strstr(name, "/libvulkan_") != NULL && l->n < 8)
        snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", name);
    return 0;
}

static void pin_drivers(void)
{
    pin_list l;
    l.n = 0;
    dl_iterate_phdr(collect_drivers, &l);
    for (int i = 0; i < l.n; i++)
        (void)dlopen(l.names[i], RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE); /* never closed */
}

static plmm_status create_instance(plmm_backend_ctx *ctx)
{
    uint32_t api = 0;
    if (vkEnumerateInstanceVersion(&api) != VK_SUCCESS || api < VK_API_VERSION_1_2)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "the Vulkan loader supports only Vulkan %u.%u (1.2 needed)",
                              VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "plmm",
                             .pEngineName = "plmm",
                             .apiVersion = VK_API_VERSION_1_2};
    const char *layers[1] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    bool val = ctx->validation && layer_available(layers[0]);
    if (ctx->validation && !val)
        plmm_sdk_log(
            ctx->host, PLMM_LOG_WARN,
            "vulkan: validation requested but VK_LAYER_KHRONOS_validation is not installed");
    VkDebugUtilsMessengerCreateInfoEXT dci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = ctx};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = val ? &dci : NULL,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = val ? 1u : 0u,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = val ? 1u : 0u,
                               .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateInstance(&ci, NULL, &ctx->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        ctx->instance = VK_NULL_HANDLE;
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "no Vulkan 1.2 driver found (for a CPU device install "
                              "mesa-vulkan-drivers: lavapipe)");
    }
    if (r != VK_SUCCESS) {
        ctx->instance = VK_NULL_HANDLE;
        return vk_check(ctx, r, "vkCreateInstance");
    }
    pin_drivers();
    if (val) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                ctx->instance, "vkCreateDebugUtilsMessengerEXT");
        if (create != NULL)
            create(ctx->instance, &dci, NULL, &ctx->messenger);
        plmm_sdk_log(ctx->host, PLMM_LOG_INFO, "vulkan: validation layer enabled");
    }
    return PLMM_OK;
}

/* Preference of a device type for `device = -1`: a discrete GPU first, a
 * CPU implementation (lavapipe, SwiftShader) last. */
static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 4;
    default:
        return 3;
    }
}

/* want < 0: the first device of the most preferred type with Vulkan 1.2. */
static plmm_status pick_device(plmm_backend_ctx *ctx, int64_t want_opt)
{
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(ctx->instance, &n, NULL);
    if (r != VK_SUCCESS)
        return vk_check(ctx, r, "vkEnumeratePhysicalDevices");
    if (n == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED, "no Vulkan device found");
    if (n > MAX_DEVICES)
        n = MAX_DEVICES;
    VkPhysicalDevice devs[MAX_DEVICES];
    r = vkEnumeratePhysicalDevices(ctx->instance, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return vk_check(ctx, r, "vkEnumeratePhysicalDevices");
    ctx->n_devices = n;
    uint32_t want = 0;
    if (want_opt < 0) {
        int best = 1 << 30;
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(devs[i], &p);
            const int rank = type_rank(p.deviceType) + (p.apiVersion < VK_API_VERSION_1_2 ? 8 : 0);
            if (rank < best) {
                best = rank;
                want = i;
            }
        }
    } else {
        want = (uint32_t)want_opt;
    }
    if (want >= n)
        return plmm_sdk_error(ctx->host, PLMM_ERR_CONFIG,
                              "device = %u, but only %u Vulkan device(s)", want, n);
    ctx->phys = devs[want];
    ctx->device_index = want;
    vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->memprops);
    if (ctx->props.apiVersion < VK_API_VERSION_1_2)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "device '%s' supports Vulkan %u.%u (1.2 needed)",
                              ctx->props.deviceName, VK_API_VERSION_MAJOR(ctx->props.apiVersion),
                              VK_API_VERSION_MINOR(ctx->props.apiVersion));
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f12};
    vkGetPhysicalDeviceFeatures2(ctx->phys, &f2);
    if (!f12.bufferDeviceAddress)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "device '%s' lacks bufferDeviceAddress", ctx->props.deviceName);
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
    VkQueueFamilyProperties qp[32];
    if (nq > 32)
        nq = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, qp);
    for (uint32_t i = 0; i < nq; i++)
        if (qp[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            ctx->queue_family = i;
            return PLMM_OK;
        }
    return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED, "device '%s' has no compute queue",
                          ctx->props.deviceName);
}

static plmm_status create_device(plmm_backend_ctx *ctx)
{
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = ctx->queue_family,
                                  .queueCount = 1,
                                  .pQueuePriorities = &prio};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .bufferDeviceAddress = VK_TRUE};
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = &f12,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    VkResult r = vkCreateDevice(ctx->phys, &ci, NULL, &ctx->device);
    if (r != VK_SUCCESS) {
        ctx->device = VK_NULL_HANDLE;
        return vk_check(ctx, r, "vkCreateDevice");
    }
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    if ((r = vkCreateCommandPool(ctx->device, &pi, NULL, &ctx->pool)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkCreateCommandPool");
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 2};
    if ((r = vkAllocateCommandBuffers(ctx->device, &ai, cbs)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkAllocateCommandBuffers");
    ctx->cmd = cbs[0];
    ctx->xcmd = cbs[1];
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(ctx->device, &fi, NULL, &ctx->fence)) != VK_SUCCESS ||
        (r = vkCreateFence(ctx->device, &fi, NULL, &ctx->xfence)) != VK_SUCCESS)
        return vk_check(ctx, r, "vkCreateFence");
    plmm_status st;
    if ((st = vk_mem_create(ctx, STAGING_BYTES, true, &ctx->staging)) != PLMM_OK ||
        (st = vk_mem_create(ctx, 64, true, &ctx->status)) != PLMM_OK)
        return st;
    memset(ctx->status.map, 0, 64);
    return vk_pipelines_create(ctx);
}

static void release_buffer(plmm_backend_ctx *ctx, plmm_buffer *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        ctx->buffers = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    vk_mem_destroy(ctx, &b->m);
    b->magic = 0;
    vk_host_free(ctx, b);
}

static void vk_shutdown(plmm_backend_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->device != VK_NULL_HANDLE) {
        vkDeviceWaitIdle(ctx->device);
        while (ctx->buffers != NULL)
            release_buffer(ctx, ctx->buffers);
        vk_pipelines_destroy(ctx);
        vk_mem_destroy(ctx, &ctx->staging);
        vk_mem_destroy(ctx, &ctx->params);
        vk_mem_destroy(ctx, &ctx->upload);
        vk_mem_destroy(ctx, &ctx->status);
        if (ctx->fence != VK_NULL_HANDLE)
            vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->xfence != VK_NULL_HANDLE)
            vkDestroyFence(ctx->device, ctx->xfence, NULL);
        if (ctx->pool != VK_NULL_HANDLE)
            vkDestroyCommandPool(ctx->device, ctx->pool, NULL);
        vkDestroyDevice(ctx->device, NULL);
    }
    if (ctx->instance != VK_NULL_HANDLE) {
        if (ctx->messenger != VK_NULL_HANDLE) {
            PFN_vkDestroyDebugUtilsMessengerEXT destroy =
                (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                    ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
            if (destroy != NULL)
                destroy(ctx->instance, ctx->messenger, NULL);
        }
        vkDestroyInstance(ctx->instance, NULL);
    }
    vk_host_free(ctx, ctx->rec);
    pthread_mutex_destroy(&ctx->lock);
    ctx->host->free(ctx->host->host_ctx, ctx);
}

static plmm_status vk_init(const plmm_host_api *host, const plmm_option_value *opts,
                           uint32_t n_opts, plmm_backend_ctx **out)
{
    if (host == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!PLMM_ABI_HAS(plmm_host_api, host, n_cpus) || host->alloc == NULL || host->free == NULL)
        return plmm_sdk_error(host, PLMM_ERR_ABI, "host services table too old or incomplete");
    int64_t device;
    bool validation;
    plmm_status st = parse_options(host, opts, n_opts, &device, &validation);
    if (st != PLMM_OK)
        return st;
    plmm_backend_ctx *ctx = host->alloc(host->host_ctx, sizeof(*ctx), _Alignof(plmm_backend_ctx));
    if (ctx == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "cannot allocate the vulkan backend context");
    memset(ctx, 0, sizeof(*ctx));
    ctx->host = host;
    ctx->validation = validation;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        host->free(host->host_ctx, ctx);
        return plmm_sdk_error(host, PLMM_ERR_BACKEND, "cannot create a mutex");
    }
    if ((st = create_instance(ctx)) != PLMM_OK || (st = pick_device(ctx, device)) != PLMM_OK ||
        (st = create_device(ctx)) != PLMM_OK || (st = validation_status(ctx)) != PLMM_OK) {
        vk_shutdown(ctx);
        return st;
    }
    plmm_sdk_log(host, PLMM_LOG_INFO, "vulkan backend: device %u '%s'", ctx->device_index,
                 ctx->props.deviceName);
    *out = ctx;
    return PLMM_OK;
}

/* ---- devices ---- */

static plmm_status vk_device_count(plmm_backend_ctx *ctx, uint32_t *out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    *out = ctx->n_devices;
    return PLMM_OK;
}

static plmm_status vk_device_props(plmm_backend_ctx *ctx, uint32_t index, plmm_device_props *out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (index >= ctx->n_devices)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE, "device %u: there are %u Vulkan device(s)",
                              index, ctx->n_devices);
    if (out->struct_size < offsetof(plmm_device_props, name))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "device props struct_size %u too small", out->struct_size);
    uint32_t n = MAX_DEVICES;
    VkPhysicalDevice devs[MAX_DEVICES];
    VkResult r = vkEnumeratePhysicalDevices(ctx->instance, &n, devs);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || index >= n)
        return vk_check(ctx, r != VK_SUCCESS ? r : VK_ERROR_INITIALIZATION_FAILED,
                        "vkEnumeratePhysicalDevices");
    VkPhysicalDevice pd = devs[index];
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &drv};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f12};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);

    plmm_device_props p;
    memset(&p, 0, sizeof(p));
    p.struct_size = out->struct_size;
    const VkPhysicalDeviceProperties *dp = &p2.properties;
    p.type = PLMM_DEVICE_GPU;
    snprintf(p.name, sizeof(p.name), "%.127s", dp->deviceName);
    snprintf(p.driver, sizeof(p.driver), "%.16s %.16s (Vulkan %u.%u.%u)", drv.driverName,
             drv.driverInfo, VK_API_VERSION_MAJOR(dp->apiVersion),
             VK_API_VERSION_MINOR(dp->apiVersion), VK_API_VERSION_PATCH(dp->apiVersion));
    bool all_host_visible = true;
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            p.memory_total += mp.memoryHeaps[i].size;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        if (!(mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            all_host_visible = false;
    if (dp->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU)
        p.flags |= PLMM_DEVICE_SOFTWARE;
    (void)all_host_visible; /* buffers are never mapped: memory is not reported as unified */
    if (f12.shaderFloat16)
        p.flags |= PLMM_DEVICE_FP16;
    if (f12.shaderInt8)
        p.flags |= PLMM_DEVICE_INT8;
    p.subgroup_size = sg.subgroupSize;
    p.compute_units = 0;
    size_t nc = out->struct_size < sizeof(p) ? out->struct_size : sizeof(p);
    memcpy(out, &p, nc);
    return PLMM_OK;
}

/* ---- buffers ---- */

static plmm_status vk_buffer_reqs(plmm_backend_ctx *ctx, uint32_t usage, plmm_buffer_reqs *out)
{
    (void)usage;
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (out->struct_size < offsetof(plmm_buffer_reqs, alignment))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer reqs struct_size %u too small", out->struct_size);
    plmm_buffer_reqs r = {.struct_size = out->struct_size,
                          .flags = 0,
                          .alignment = BUFFER_ALIGN,
                          .max_size = max_alloc_size(ctx)};
    size_t n = out->struct_size < sizeof(r) ? out->struct_size : sizeof(r);
    memcpy(out, &r, n);
    return PLMM_OK;
}

static const uint32_t known_usage =
    PLMM_BUFFER_WEIGHTS | PLMM_BUFFER_ACTIVATIONS | PLMM_BUFFER_STATE | PLMM_BUFFER_HOST_VISIBLE;

static plmm_status new_buffer(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                              plmm_buffer **out)
{
    if (size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "buffer size is 0");
    if (usage & ~known_usage)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown buffer usage 0x%x", usage);
    if (usage & PLMM_BUFFER_HOST_VISIBLE)
        return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED,
                              "vulkan buffers are device-local and cannot be mapped");
    if (size > max_alloc_size(ctx))
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM,
                              "buffer of %llu bytes exceeds the device limit of %llu",
                              (unsigned long long)size, (unsigned long long)max_alloc_size(ctx));
    plmm_buffer *b = vk_host_alloc(ctx, sizeof(*b));
    if (b == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_NOMEM, "cannot allocate a buffer handle");
    memset(b, 0, sizeof(*b));
    plmm_status st = vk_mem_create(ctx, size, false, &b->m);
    if (st != PLMM_OK) {
        vk_host_free(ctx, b);
        return st;
    }
    b->magic = VK_BUFFER_MAGIC;
    b->usage = usage;
    b->ctx = ctx;
    b->next = ctx->buffers;
    if (ctx->buffers != NULL)
        ctx->buffers->prev = b;
    ctx->buffers = b;
    *out = b;
    return PLMM_OK;
}

static plmm_status vk_buffer_alloc(plmm_backend_ctx *ctx, uint64_t size, uint32_t usage,
                                   plmm_buffer **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = new_buffer(ctx, size, usage, out);
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

static void vk_buffer_free(plmm_backend_ctx *ctx, plmm_buffer *buf)
{
    if (ctx == NULL || buf == NULL)
        return;
    pthread_mutex_lock(&ctx->lock);
    if (vk_our_buffer(ctx, buf)) {
        (void)vk_wait_compute(ctx); /* pending work on it completes first */
        ctx->recorded = false;
        release_buffer(ctx, buf);
    }
    pthread_mutex_unlock(&ctx->lock);
}

static plmm_status vk_buffer_map(plmm_backend_ctx *ctx, plmm_buffer *buf, void **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (!vk_our_buffer(ctx, buf))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer does not belong to this context");
    return plmm_sdk_error(ctx->host, PLMM_ERR_UNSUPPORTED, "vulkan buffers are not host visible");
}

static plmm_status check_range(plmm_backend_ctx *ctx, const plmm_buffer *b, uint64_t offset,
                               uint64_t size, const void *host_ptr, uint32_t flags)
{
    if (!vk_our_buffer(ctx, b))
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "buffer does not belong to this context");
    if (flags & ~PLMM_COPY_ASYNC)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "unknown copy flags 0x%x", flags);
    if (size > 0 && host_ptr == NULL)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG, "host pointer is NULL");
    if (offset > b->m.size || size > b->m.size - offset)
        return plmm_sdk_error(ctx->host, PLMM_ERR_RANGE,
                              "copy of %llu bytes at offset %llu exceeds the buffer (%llu bytes)",
                              (unsigned long long)size, (unsigned long long)offset,
                              (unsigned long long)b->m.size);
    return PLMM_OK;
}

/* host -> device through the staging buffer, in chunks; synchronous */
static plmm_status upload(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset, const void *src,
                          uint64_t size)
{
    plmm_status st = vk_wait_compute(ctx);
    for (uint64_t done = 0; st == PLMM_OK && done < size;) {
        uint64_t n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
        memcpy(ctx->staging.map, (const char *)src + done, (size_t)n);
        st = run_copy(ctx, ctx->staging.buf, 0, buf->m.buf, offset + done, n);
        done += n;
    }
    return st;
}

static plmm_status vk_buffer_write(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                   const void *src, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = check_range(ctx, buf, offset, size, src, flags);
    if (st == PLMM_OK)
        st = upload(ctx, buf, offset, src, size);
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

static plmm_status vk_buffer_read(plmm_backend_ctx *ctx, plmm_buffer *buf, uint64_t offset,
                                  void *dst, uint64_t size, uint32_t flags)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = check_range(ctx, buf, offset, size, dst, flags);
    if (st == PLMM_OK)
        st = vk_wait_compute(ctx);
    for (uint64_t done = 0; st == PLMM_OK && done < size;) {
        uint64_t n = size - done < STAGING_BYTES ? size - done : STAGING_BYTES;
        st = run_copy(ctx, buf->m.buf, offset + done, ctx->staging.buf, 0, n);
        if (st == PLMM_OK)
            memcpy((char *)dst + done, ctx->staging.map, (size_t)n);
        done += n;
    }
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

static plmm_status vk_buffer_import_host(plmm_backend_ctx *ctx, const void *ptr, uint64_t size,
                                         uint32_t usage, plmm_buffer **out)
{
    if (ctx == NULL || out == NULL)
        return PLMM_ERR_INVALID_ARG;
    if (ptr == NULL || size == 0)
        return plmm_sdk_error(ctx->host, PLMM_ERR_INVALID_ARG,
                              "import of NULL or empty host memory");
    pthread_mutex_lock(&ctx->lock);
    plmm_buffer *b = NULL;
    /* not zero-copy: the weights are uploaded once to device-local memory */
    plmm_status st = new_buffer(ctx, size, usage & ~PLMM_BUFFER_HOST_VISIBLE, &b);
    if (st == PLMM_OK && (st = upload(ctx, b, 0, ptr, size)) != PLMM_OK)
        release_buffer(ctx, b);
    if (st == PLMM_OK)
        *out = b;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

static plmm_status vk_synchronize(plmm_backend_ctx *ctx)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = vk_wait_compute(ctx);
    if (st == PLMM_OK && ctx->deferred != PLMM_OK) {
        st = plmm_sdk_error(ctx->host, ctx->deferred, "%s", ctx->deferred_msg);
        ctx->deferred = PLMM_OK;
    }
    if (st == PLMM_OK)
        st = validation_status(ctx);
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

static bool vk_supports_node_locked(plmm_backend_ctx *ctx, const plmm_node *node)
{
    return ctx != NULL && vk_supports_node(ctx, node);
}

static plmm_status vk_graph_compute_locked(plmm_backend_ctx *ctx, const plmm_graph *graph)
{
    if (ctx == NULL)
        return PLMM_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    plmm_status st = vk_graph_compute(ctx, graph);
    if (st == PLMM_OK)
        st = validation_status(ctx);
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

/* ---- descriptor ---- */

static int vk_score(const plmm_host_api *host)
{
    (void)host;
    return 1; /* unknown without touching the devices */
}

static const plmm_option_schema vk_options[] = {
    {.key = "device",
     .type = PLMM_OPT_INT,
     .default_value = "-1",
     .min = -1,
     .max = MAX_DEVICES - 1,
     .help = "index of the Vulkan physical device to use (plmm backends lists them); "
             "-1 = the first discrete GPU, else integrated, virtual, other, CPU"},
    {.key = "validation",
     .type = PLMM_OPT_BOOL,
     .default_value = "false",
     .min = 1,
     .max = 0,
     .help = "enable VK_LAYER_KHRONOS_validation when installed; its errors fail the call "
             "(also PLMM_VULKAN_VALIDATION=1)"},
};

/* no BF16 weights in the shaders */
#define VK_WEIGHT_DTYPES (PLMM_SDK_WEIGHT_DTYPES & ~PLMM_DTYPE_BIT(PLMM_DTYPE_BF16))
static const plmm_op_caps vk_caps[] = {PLMM_SDK_CAPS_ALL_OPS(VK_WEIGHT_DTYPES)};

static const plmm_backend_vtbl vk_vtbl = {
    .struct_size = sizeof(plmm_backend_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_BACKEND_ABI_MAJOR, PLMM_BACKEND_ABI_MINOR),
    .init = vk_init,
    .shutdown = vk_shutdown,
    .device_count = vk_device_count,
    .device_props = vk_device_props,
    .buffer_reqs = vk_buffer_reqs,
    .buffer_alloc = vk_buffer_alloc,
    .buffer_free = vk_buffer_free,
    .buffer_map = vk_buffer_map,
    .buffer_write = vk_buffer_write,
    .buffer_read = vk_buffer_read,
    .buffer_import_host = vk_buffer_import_host,
    .synchronize = vk_synchronize,
    .supports_node = vk_supports_node_locked,
    .graph_compute = vk_graph_compute_locked,
};

static const plmm_backend_desc vk_desc = {
    .struct_size = sizeof(plmm_backend_desc),
    .abi_major = PLMM_BACKEND_ABI_MAJOR,
    .abi_minor = PLMM_BACKEND_ABI_MINOR,
    .kind = PLMM_PLUGIN_BACKEND,
    .device_type = PLMM_DEVICE_GPU,
    .name = "vulkan",
    .version = PLMM_VERSION,
    .description = "Vulkan 1.2 compute shaders (SPIR-V embedded), any device incl. lavapipe",
    .contracts = PLMM_CONTRACT_GRAPH,
    .n_options = sizeof(vk_options) / sizeof(vk_options[0]),
    .options = vk_options,
    .n_caps = sizeof(vk_caps) / sizeof(vk_caps[0]),
    .n_tolerances = 0,
    .caps = vk_caps,
    .tolerances = NULL,
    .score = vk_score,
    .vtbl = &vk_vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &vk_desc;
}
