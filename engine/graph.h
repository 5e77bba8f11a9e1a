/*
 * Graph builder: a fixed-capacity arena of tensors and nodes that the model
 * code fills for one evaluation. Tensor pointers stay valid for the
 * builder's life (no reallocation); plmm_graph_reset() reuses the arena.
 */
#ifndef PLMM_ENGINE_GRAPH_H
#define PLMM_ENGINE_GRAPH_H

#include "plmm/types.h"

/* Engine-side facts about each tensor, parallel to the tensor array. */
typedef struct plmm_tensor_info {
    int32_t view_src;  /* index of the tensor whose storage this one aliases, or -1 */
    int32_t producer;  /* node index that writes it, or -1 (weights, inputs, state) */
    int32_t last_use;  /* last node index that reads it (or its views), or -1 */
    int32_t weight;    /* index of the model weight it stands for, or -1 */
    int32_t state;     /* KV cache slot it views, or -1 */
} plmm_tensor_info;

typedef struct plmm_graph_builder {
    plmm_tensor *tensors; /* (cap_tensors) */
    plmm_tensor_info *info;
    plmm_node *nodes;     /* (cap_nodes) */
    uint32_t n_tensors, cap_tensors;
    uint32_t n_nodes, cap_nodes;
    bool overflow;        /* capacity exceeded: the graph is unusable */
} plmm_graph_builder;

PLMM_NODISCARD plmm_status plmm_graph_builder_init(plmm_graph_builder *b, uint32_t cap_tensors,
                                                   uint32_t cap_nodes);
void plmm_graph_builder_free(plmm_graph_builder *b);
void plmm_graph_reset(plmm_graph_builder *b);

/* New dense tensor (no storage yet). NULL on overflow. */
plmm_tensor *plmm_graph_tensor(plmm_graph_builder *b, uint32_t dtype, int64_t ne0, int64_t ne1,
                               int64_t ne2, int64_t ne3, const char *name);
/* View of src's storage with other dims/strides at a byte offset. */
plmm_tensor *plmm_graph_view(plmm_graph_builder *b, plmm_tensor *src, int64_t ne0, int64_t ne1,
                             int64_t ne2, int64_t ne3, uint64_t nb1, uint64_t nb2, uint64_t nb3,
                             uint64_t offset, const char *name);
/* Append node dst = op(src0, src1, src2, src3); returns the node or NULL. */
plmm_node *plmm_graph_node(plmm_graph_builder *b, uint32_t op, plmm_tensor *dst, plmm_tensor *s0,
                           plmm_tensor *s1, plmm_tensor *s2, plmm_tensor *s3);

/* Index of a tensor pointer inside the builder. */
static inline uint32_t plmm_graph_tensor_index(const plmm_graph_builder *b, const plmm_tensor *t)
{
    return (uint32_t)(t - b->tensors);
}

/* Root storage tensor of t (follows views). */
uint32_t plmm_graph_root(const plmm_graph_builder *b, uint32_t t);

/* Compute producer/last_use for every tensor (views extend their root's life). */
void plmm_graph_liveness(plmm_graph_builder *b);

#endif
