/*
 * plmm plugin SDK: small helpers every plugin (and the engine) links.
 * Static library; nothing here keeps state.
 */
#ifndef PLMM_SDK_H
#define PLMM_SDK_H

#include "plmm/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* IEEE half <-> float, round to nearest even; exact for every half value. */
float plmm_fp16_to_fp32(uint16_t h);
uint16_t plmm_fp32_to_fp16(float f);
/* bfloat16 <-> float, round to nearest even (NaN stays NaN). */
float plmm_bf16_to_fp32(uint16_t h);
uint16_t plmm_fp32_to_bf16(float f);

/* Format a message, pass it to host->set_error and return status. */
plmm_status plmm_sdk_error(const plmm_host_api *host, plmm_status status, const char *fmt, ...)
    PLMM_PRINTF(3, 4);
/* Format a message and log it through host->log. */
void plmm_sdk_log(const plmm_host_api *host, int level, const char *fmt, ...) PLMM_PRINTF(3, 4);

/* Find an option by key in the values handed to init; NULL if absent. */
const plmm_option_value *plmm_sdk_option(const plmm_option_value *opts, uint32_t n,
                                         const char *key);

/* Number of elements of a tensor (product of ne). */
int64_t plmm_tensor_nelements(const plmm_tensor *t);
/* True when the tensor's rows are densely packed (nb follow from ne and dtype). */
bool plmm_tensor_is_contiguous(const plmm_tensor *t);
/* Set nb[] for a dense layout of t->dtype and t->ne; false if ne[0] is not
 * a whole number of blocks or the dtype is unknown. */
bool plmm_tensor_set_dense_strides(plmm_tensor *t);
/* Bytes spanned by a tensor with its strides (0 for an empty tensor). */
uint64_t plmm_tensor_nbytes(const plmm_tensor *t);
/* Static name of a dtype ("F32", "Q4_K", ...) or "?" */
const char *plmm_dtype_name(uint32_t dtype);
/* Static name of an op ("MUL_MAT", ...) or "?" */
const char *plmm_op_name(uint32_t op);

/* ---- capability tables ---- */

/* Every weight type a backend may dequantize (GET_ROWS, MUL_MAT). */
#define PLMM_SDK_WEIGHT_DTYPES                                                                     \
    (PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |                             \
     PLMM_DTYPE_BIT(PLMM_DTYPE_BF16) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q8_0) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_0) | PLMM_DTYPE_BIT(PLMM_DTYPE_Q4_K) |                           \
     PLMM_DTYPE_BIT(PLMM_DTYPE_Q6_K))

/*
 * Initialisers of a plmm_op_caps table declaring every op of backend.h with
 * strided views (and in-place use where the contract allows it); weights:
 * the dtype mask of GET_ROWS and MUL_MAT. Usage:
 *     static const plmm_op_caps caps[] = {PLMM_SDK_CAPS_ALL_OPS(PLMM_SDK_WEIGHT_DTYPES)};
 */
#define PLMM_SDK_CAPS_ALL_OPS(weights)                                                             \
    {.op = PLMM_OP_GET_ROWS, .flags = PLMM_CAP_NONCONTIG, .dtypes = (weights)},                    \
        {.op = PLMM_OP_RMS_NORM, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                \
        {.op = PLMM_OP_ADD, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                     \
        {.op = PLMM_OP_MUL, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                     \
        {.op = PLMM_OP_MUL_MAT, .flags = PLMM_CAP_NONCONTIG, .dtypes = (weights)},                 \
        {.op = PLMM_OP_ROPE, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                    \
        {.op = PLMM_OP_SOFTMAX, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                 \
        {.op = PLMM_OP_ATTENTION,                                                                  \
         .flags = PLMM_CAP_NONCONTIG,                                                              \
         .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16)},               \
        {.op = PLMM_OP_SILU, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                    \
        {.op = PLMM_OP_SWIGLU, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32},                  \
        {.op = PLMM_OP_CPY,                                                                        \
         .flags = PLMM_CAP_NONCONTIG,                                                              \
         .dtypes = PLMM_DTYPE_BIT(PLMM_DTYPE_F32) | PLMM_DTYPE_BIT(PLMM_DTYPE_F16) |               \
                   PLMM_DTYPE_BIT(PLMM_DTYPE_BF16)},                                               \
    {                                                                                              \
        .op = PLMM_OP_SCALE, .flags = PLMM_SDK_CAP_IP, .dtypes = PLMM_SDK_F32                      \
    }
#define PLMM_SDK_F32 PLMM_DTYPE_BIT(PLMM_DTYPE_F32)
#define PLMM_SDK_CAP_IP (PLMM_CAP_NONCONTIG | PLMM_CAP_INPLACE)

#ifdef __cplusplus
}
#endif

#endif /* PLMM_SDK_H */
